//! Filter patterns, as FilterLogEvents reads them:
//!
//! - terms: `ERROR` (the message contains it), `"exact phrase"`, several terms (all of
//!   them), `?A ?B` (any of them), `-term` (not it); case-sensitive;
//! - JSON: `{ $.field = value }` on messages that are JSON objects: `=` and `!=` on
//!   strings (`*` matches any run of characters) and numbers, `<`, `>`, `<=`, `>=` on
//!   numbers, `IS NULL`, `IS TRUE`, `IS FALSE`, `EXISTS`, `NOT EXISTS`, joined by `&&`
//!   and `||` and grouped by parentheses; selectors `$.a.b`, `$.list[0].c`;
//! - space-delimited: `[ip, user, ..., status = 404, size > 1000]`, fields separated
//!   by spaces (`"..."` and `[...]` are one field), `...` any number of fields.
//!
//! An empty pattern matches every event. Anything else is [`PatternError`].

use serde_json::Value;

/// A pattern that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid filter pattern: {0}")]
pub struct PatternError(String);

fn err<T>(why: impl Into<String>) -> Result<T, PatternError> {
    Err(PatternError(why.into()))
}

/// A parsed filter pattern.
#[derive(Debug, Clone, PartialEq)]
pub enum Pattern {
    /// Every event.
    All,
    /// Unstructured terms.
    Terms(Terms),
    /// A JSON expression.
    Json(Expr),
    /// Space-delimited fields.
    Fields(Vec<Field>),
}

/// Unstructured terms: every one of `all`, none of `none`, and one of `any` (when
/// there are any).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Terms {
    all: Vec<String>,
    any: Vec<String>,
    none: Vec<String>,
}

/// A JSON filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// Both.
    And(Box<Expr>, Box<Expr>),
    /// Either.
    Or(Box<Expr>, Box<Expr>),
    /// A test of one selector.
    Test(Selector, Test),
}

/// A path into a JSON document: members and list indices.
pub type Selector = Vec<Step>;

/// One step of a [`Selector`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// An object's member.
    Member(String),
    /// A list's item.
    Index(usize),
}

/// What a selected value is tested against.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// `=`/`!=` a string (with `*` wildcards) or number.
    Equals(Literal, bool),
    /// `<`, `<=`, `>`, `>=` a number.
    Compare(Cmp, f64),
    /// `IS NULL`.
    IsNull,
    /// `IS TRUE` / `IS FALSE`.
    IsBool(bool),
    /// `EXISTS` (true) / `NOT EXISTS` (false).
    Exists(bool),
}

/// A literal a value is compared with.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// A number (a bare word that reads as one).
    Number(f64),
    /// Text, possibly with `*` wildcards.
    Text(String),
}

/// A numeric comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// A field of a space-delimited pattern: a name (or `...`) and an optional test.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// `...`: any number of fields.
    rest: bool,
    test: Option<Test>,
}

/// Parses a filter pattern.
pub fn parse(text: &str) -> Result<Pattern, PatternError> {
    let t = text.trim();
    if t.is_empty() || t == "\"\"" {
        return Ok(Pattern::All);
    }
    if let Some(inner) = t.strip_prefix('{') {
        let inner = inner
            .strip_suffix('}')
            .ok_or_else(|| PatternError("a JSON pattern ends with '}'".into()))?;
        return Ok(Pattern::Json(parse_json(inner)?));
    }
    if let Some(inner) = t.strip_prefix('[') {
        let inner = inner
            .strip_suffix(']')
            .ok_or_else(|| PatternError("a space-delimited pattern ends with ']'".into()))?;
        return Ok(Pattern::Fields(parse_fields(inner)?));
    }
    parse_terms(t).map(Pattern::Terms)
}

impl Pattern {
    /// Whether `message` matches.
    pub fn matches(&self, message: &str) -> bool {
        match self {
            Pattern::All => true,
            Pattern::Terms(t) => t.matches(message),
            Pattern::Json(e) => match serde_json::from_str::<Value>(message) {
                Ok(doc @ Value::Object(_)) => e.eval(&doc),
                _ => false,
            },
            Pattern::Fields(f) => fields_match(f, &split_fields(message)),
        }
    }
}

// ---- terms --------------------------------------------------------------------

/// Reads a quoted string starting after its opening quote; returns it and the rest.
fn quoted(s: &str) -> Result<(String, &str), PatternError> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &s[i + 1..])),
            '\\' => match chars.next() {
                Some((_, e)) => out.push(e),
                None => break,
            },
            _ => out.push(c),
        }
    }
    err("a quoted string is not closed")
}

fn parse_terms(text: &str) -> Result<Terms, PatternError> {
    let mut terms = Terms::default();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let (list, body) = match rest.as_bytes()[0] {
            b'?' => (&mut terms.any, &rest[1..]),
            b'-' if rest.len() > 1 => (&mut terms.none, &rest[1..]),
            _ => (&mut terms.all, rest),
        };
        let (term, after) = if let Some(q) = body.strip_prefix('"') {
            quoted(q)?
        } else {
            let end = body.find(char::is_whitespace).unwrap_or(body.len());
            let word = &body[..end];
            if word.is_empty() || word.contains('"') {
                return err(format!("a term cannot be {word:?}"));
            }
            (word.to_string(), &body[end..])
        };
        if !after.is_empty() && !after.starts_with(char::is_whitespace) {
            return err("terms are separated by spaces");
        }
        list.push(term);
        rest = after.trim_start();
    }
    Ok(terms)
}

impl Terms {
    fn matches(&self, message: &str) -> bool {
        self.all.iter().all(|t| message.contains(t.as_str()))
            && !self.none.iter().any(|t| message.contains(t.as_str()))
            && (self.any.is_empty() || self.any.iter().any(|t| message.contains(t.as_str())))
    }
}

// ---- JSON expressions ---------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Open,
    Close,
    And,
    Or,
    Op(&'static str),
    Selector(Selector),
    Str(String),
    Word(String),
}

const OPS: &[&str] = &["!=", "<=", ">=", "=", "<", ">"];

fn word_char(c: char) -> bool {
    !c.is_whitespace() && !matches!(c, '(' | ')' | '=' | '!' | '<' | '>' | '&' | '|' | '"')
}

fn tokenize(text: &str) -> Result<Vec<Tok>, PatternError> {
    let mut toks = Vec::new();
    let mut rest = text.trim_start();
    while let Some(c) = rest.chars().next() {
        let (tok, len) = match c {
            '(' => (Tok::Open, 1),
            ')' => (Tok::Close, 1),
            '&' if rest.starts_with("&&") => (Tok::And, 2),
            '|' if rest.starts_with("||") => (Tok::Or, 2),
            '"' => {
                let (s, after) = quoted(&rest[1..])?;
                (Tok::Str(s), rest.len() - after.len())
            }
            _ => match OPS.iter().find(|op| rest.starts_with(**op)) {
                Some(op) => (Tok::Op(op), op.len()),
                None => {
                    let len = rest.find(|c| !word_char(c)).unwrap_or(rest.len());
                    if len == 0 {
                        return err(format!("unexpected {c:?}"));
                    }
                    let w = &rest[..len];
                    let tok = match w.strip_prefix('$') {
                        Some(path) => Tok::Selector(parse_selector(path)?),
                        None => Tok::Word(w.to_string()),
                    };
                    (tok, len)
                }
            },
        };
        toks.push(tok);
        rest = rest[len..].trim_start();
    }
    Ok(toks)
}

/// `.a.b[0].c` (after the `$`).
fn parse_selector(path: &str) -> Result<Selector, PatternError> {
    let mut steps = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let name = &r[..end];
            if name.is_empty() || name == "*" {
                return err(format!("bad selector ${path}"));
            }
            steps.push(Step::Member(name.to_string()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r
                .find(']')
                .ok_or_else(|| PatternError(format!("bad selector ${path}")))?;
            let index = r[..end]
                .parse()
                .map_err(|_| PatternError(format!("bad list index in ${path}")))?;
            steps.push(Step::Index(index));
            rest = &r[end + 1..];
        } else {
            return err(format!("bad selector ${path}"));
        }
    }
    if steps.is_empty() {
        return err("a selector names a member: $.name");
    }
    Ok(steps)
}

struct Parser {
    toks: Vec<Tok>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn word(&mut self, w: &str) -> bool {
        if self.peek() == Some(&Tok::Word(w.to_string())) {
            self.at += 1;
            return true;
        }
        false
    }

    fn or(&mut self) -> Result<Expr, PatternError> {
        let mut e = self.and()?;
        while self.peek() == Some(&Tok::Or) {
            self.at += 1;
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, PatternError> {
        let mut e = self.atom()?;
        while self.peek() == Some(&Tok::And) {
            self.at += 1;
            e = Expr::And(Box::new(e), Box::new(self.atom()?));
        }
        Ok(e)
    }

    fn atom(&mut self) -> Result<Expr, PatternError> {
        match self.next() {
            Some(Tok::Open) => {
                let e = self.or()?;
                match self.next() {
                    Some(Tok::Close) => Ok(e),
                    _ => err("a parenthesis is not closed"),
                }
            }
            Some(Tok::Selector(s)) => Ok(Expr::Test(s, self.test()?)),
            other => err(format!("expected a selector, found {other:?}")),
        }
    }

    fn test(&mut self) -> Result<Test, PatternError> {
        if self.word("IS") {
            return match self.next() {
                Some(Tok::Word(w)) if w == "NULL" => Ok(Test::IsNull),
                Some(Tok::Word(w)) if w == "TRUE" => Ok(Test::IsBool(true)),
                Some(Tok::Word(w)) if w == "FALSE" => Ok(Test::IsBool(false)),
                _ => err("IS takes NULL, TRUE or FALSE"),
            };
        }
        if self.word("EXISTS") {
            return Ok(Test::Exists(true));
        }
        if self.word("NOT") {
            return match self.word("EXISTS") {
                true => Ok(Test::Exists(false)),
                false => err("NOT takes EXISTS"),
            };
        }
        let op = match self.next() {
            Some(Tok::Op(op)) => op,
            other => return err(format!("expected an operator, found {other:?}")),
        };
        let value = match self.next() {
            Some(Tok::Str(s)) => Literal::Text(s),
            Some(Tok::Word(w)) => match w.parse::<f64>() {
                Ok(n) if n.is_finite() => Literal::Number(n),
                _ => Literal::Text(w),
            },
            other => return err(format!("expected a value, found {other:?}")),
        };
        operator_test(op, value)
    }
}

fn operator_test(op: &str, value: Literal) -> Result<Test, PatternError> {
    let cmp = match op {
        "=" => return Ok(Test::Equals(value, true)),
        "!=" => return Ok(Test::Equals(value, false)),
        "<" => Cmp::Lt,
        "<=" => Cmp::Le,
        ">" => Cmp::Gt,
        _ => Cmp::Ge,
    };
    match value {
        Literal::Number(n) => Ok(Test::Compare(cmp, n)),
        Literal::Text(t) => err(format!("{op} compares numbers, not {t:?}")),
    }
}

fn parse_json(inner: &str) -> Result<Expr, PatternError> {
    let mut p = Parser {
        toks: tokenize(inner)?,
        at: 0,
    };
    let e = p.or()?;
    if p.at != p.toks.len() {
        return err("unexpected text after the expression");
    }
    Ok(e)
}

/// `*` matches any run of characters; everything else itself.
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut middle = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match middle.find(part) {
            Some(i) => middle = &middle[i + part.len()..],
            None => return false,
        }
    }
    true
}

impl Test {
    /// Whether `value` (None: the selector selects nothing) passes.
    fn eval(&self, value: Option<&Value>) -> bool {
        match (self, value) {
            (Test::Exists(want), v) => v.is_some() == *want,
            (_, None) => false,
            (Test::IsNull, Some(v)) => v.is_null(),
            (Test::IsBool(b), Some(v)) => v.as_bool() == Some(*b),
            (Test::Compare(cmp, n), Some(v)) => v.as_f64().is_some_and(|x| compare(*cmp, x, *n)),
            (Test::Equals(lit, eq), Some(v)) => equals(lit, v) == *eq,
        }
    }
}

fn compare(cmp: Cmp, x: f64, n: f64) -> bool {
    match cmp {
        Cmp::Lt => x < n,
        Cmp::Le => x <= n,
        Cmp::Gt => x > n,
        Cmp::Ge => x >= n,
    }
}

fn equals(lit: &Literal, v: &Value) -> bool {
    match (lit, v) {
        (Literal::Number(n), Value::Number(x)) => x.as_f64() == Some(*n),
        (Literal::Number(_), Value::String(s)) | (Literal::Text(_), Value::String(s)) => {
            wildcard(&lit_text(lit), s)
        }
        (lit, Value::Number(x)) => wildcard(&lit_text(lit), &x.to_string()),
        (lit, Value::Bool(b)) => lit_text(lit) == b.to_string(),
        _ => false,
    }
}

fn lit_text(lit: &Literal) -> String {
    match lit {
        Literal::Text(t) => t.clone(),
        Literal::Number(n) => n.to_string(),
    }
}

fn select<'a>(doc: &'a Value, path: &[Step]) -> Option<&'a Value> {
    path.iter().try_fold(doc, |v, step| match step {
        Step::Member(m) => v.get(m),
        Step::Index(i) => v.get(*i),
    })
}

impl Expr {
    fn eval(&self, doc: &Value) -> bool {
        match self {
            Expr::And(a, b) => a.eval(doc) && b.eval(doc),
            Expr::Or(a, b) => a.eval(doc) || b.eval(doc),
            Expr::Test(sel, test) => test.eval(select(doc, sel)),
        }
    }
}

// ---- space-delimited ----------------------------------------------------------

fn parse_fields(inner: &str) -> Result<Vec<Field>, PatternError> {
    let mut fields = Vec::new();
    for raw in inner.split(',') {
        let raw = raw.trim();
        if raw.is_empty() {
            return err("an empty field");
        }
        if raw == "..." {
            fields.push(Field {
                rest: true,
                test: None,
            });
            continue;
        }
        let toks = tokenize(raw)?;
        let mut p = Parser { toks, at: 0 };
        match p.next() {
            Some(Tok::Word(_)) => {}
            other => return err(format!("a field is named, found {other:?}")),
        }
        let test = if p.at < p.toks.len() {
            Some(p.test()?)
        } else {
            None
        };
        if p.at != p.toks.len() {
            return err("unexpected text in a field");
        }
        fields.push(Field { rest: false, test });
    }
    Ok(fields)
}

/// A message's space-delimited fields: `"..."` and `[...]` are one field each.
fn split_fields(message: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = message.trim();
    while !rest.is_empty() {
        let close = match rest.as_bytes()[0] {
            b'"' => Some('"'),
            b'[' => Some(']'),
            _ => None,
        };
        let (field, after) = match close.and_then(|c| rest[1..].find(c).map(|i| i + 1)) {
            Some(end) => (&rest[1..end], &rest[end + 1..]),
            None => {
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                (&rest[..end], &rest[end..])
            }
        };
        out.push(field.to_string());
        rest = after.trim_start();
    }
    out
}

fn field_ok(f: &Field, value: &str) -> bool {
    let Some(test) = &f.test else { return true };
    let v = match value.parse::<f64>() {
        Ok(n) if n.is_finite() => serde_json::Number::from_f64(n).map(Value::Number),
        _ => None,
    }
    .unwrap_or_else(|| Value::String(value.to_string()));
    test.eval(Some(&v))
}

fn fields_match(pattern: &[Field], values: &[String]) -> bool {
    match pattern.split_first() {
        None => values.is_empty(),
        Some((f, rest)) if f.rest => {
            (0..=values.len()).any(|skip| fields_match(rest, &values[skip..]))
        }
        Some((f, rest)) => match values.split_first() {
            Some((v, vs)) => field_ok(f, v) && fields_match(rest, vs),
            None => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: &str = "2024-01-01 ERROR [main] Exiting: disk full";
    const JSON: &str = r#"{"level":"error","code":503,"latency":12.5,"user":{"id":7,"name":"Ann Lee"},
        "items":[{"sku":"a-1"}],"ok":false,"gone":null,"ip":"10.0.3.7"}"#;
    const ACCESS: &str =
        r#"127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /a.gif HTTP/1.0" 404 1534"#;

    #[test]
    fn pattern_table() {
        let table: &[(&str, &str, bool)] = &[
            ("", PLAIN, true),
            ("ERROR", PLAIN, true),
            ("error", PLAIN, false),
            ("ERROR main", PLAIN, true),
            ("ERROR WARN", PLAIN, false),
            ("\"disk full\"", PLAIN, true),
            ("\"full disk\"", PLAIN, false),
            ("?WARN ?ERROR", PLAIN, true),
            ("?WARN ?INFO", PLAIN, false),
            ("ERROR -Exiting", PLAIN, false),
            ("ERROR -Starting", PLAIN, true),
            ("-\"disk full\"", PLAIN, false),
            ("{ $.level = \"error\" }", JSON, true),
            ("{ $.level = error }", JSON, true),
            ("{ $.level = \"err*\" }", JSON, true),
            ("{ $.level = \"*ror\" }", JSON, true),
            ("{ $.level != \"error\" }", JSON, false),
            ("{ $.user.name = \"Ann*\" }", JSON, true),
            ("{ $.user.id = 7 }", JSON, true),
            ("{ $.user.id != 8 }", JSON, true),
            ("{ $.code > 500 }", JSON, true),
            ("{ $.code >= 503 && $.code <= 503 }", JSON, true),
            ("{ $.code < 500 }", JSON, false),
            ("{ $.latency > 12.4 }", JSON, true),
            ("{ $.code < 500 || $.level = \"error\" }", JSON, true),
            (
                "{ ($.code < 500 || $.code > 502) && $.user.id = 7 }",
                JSON,
                true,
            ),
            (
                "{ ($.code < 500 || $.code > 503) && $.user.id = 7 }",
                JSON,
                false,
            ),
            ("{ $.items[0].sku = \"a-1\" }", JSON, true),
            ("{ $.items[1].sku = \"a-1\" }", JSON, false),
            ("{ $.ip = 10.0.3.* }", JSON, true),
            ("{ $.ok IS FALSE }", JSON, true),
            ("{ $.ok IS TRUE }", JSON, false),
            ("{ $.gone IS NULL }", JSON, true),
            ("{ $.missing NOT EXISTS }", JSON, true),
            ("{ $.code EXISTS }", JSON, true),
            ("{ $.missing != \"x\" }", JSON, false),
            ("{ $.level = \"error\" }", PLAIN, false),
            ("[ip, id, user, ...]", ACCESS, true),
            ("[ip, id, user = frank, ...]", ACCESS, true),
            ("[ip, id, user = bob, ...]", ACCESS, false),
            ("[..., status = 404, size > 1000]", ACCESS, true),
            ("[..., status = 4*, size]", ACCESS, true),
            (
                "[ip, id, user, time, request, status != 404, size]",
                ACCESS,
                false,
            ),
            ("[a, b]", ACCESS, false),
        ];
        for (pattern, message, want) in table {
            let p = parse(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
            assert_eq!(p.matches(message), *want, "{pattern} on {message}");
        }
    }

    #[test]
    fn invalid_patterns() {
        let bad = [
            "\"open",
            "{ $.a = 1",
            "{ }",
            "{ $.a }",
            "{ $.a > \"x\" }",
            "{ $.a = 1 && }",
            "{ ($.a = 1 }",
            "{ a = 1 }",
            "{ $.a IS MAYBE }",
            "{ $.a NOT 1 }",
            "{ $. = 1 }",
            "{ $.a[x] = 1 }",
            "{ $.a = 1 } extra",
            "[a, , b]",
            "[a",
            "ab\"c",
            "\"x\"y",
        ];
        for p in bad {
            let e = parse(p).expect_err(p);
            assert!(e.to_string().starts_with("Invalid filter pattern"), "{p}");
        }
    }

    #[test]
    fn wildcards() {
        let table = [
            ("a*", "abc", true),
            ("*c", "abc", true),
            ("a*c", "abc", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "acb", false),
            ("*", "", true),
            ("ab", "abc", false),
            ("a*a", "a", false),
        ];
        for (p, t, want) in table {
            assert_eq!(wildcard(p, t), want, "{p} {t}");
        }
    }
}
