//! Metric math: the expression language of `GetMetricData`'s `Expression`, parsed
//! into a tree and evaluated over time series, the time grid passed in.
//!
//! Values are a number (a scalar), a time series, or an array of them. Arithmetic
//! (`+ - * / ^`, unary `-`) applies per timestamp: a series with a scalar at each of
//! its points, two series where both have a point, an array element by element.
//! `SUM`, `AVG`, `MIN`, `MAX` of one series are a scalar over all its points; of an
//! array (`[m1, m2]`, `METRICS()`), a series over every timestamp any of them has.
//! `FILL(x, value | REPEAT | LINEAR)` fills the grid's timestamps `x` lacks; `ABS`
//! applies per point; `METRICS("text")` is the metrics whose label holds the text.

use std::collections::BTreeMap;

/// A time series: values by timestamp (seconds since the epoch).
pub type Points = BTreeMap<i64, f64>;

/// A series with its label.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Its label (a metric's name, or a query's label).
    pub label: String,
    /// Its points.
    pub points: Points,
}

/// What an expression evaluates to.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// One number.
    Scalar(f64),
    /// One time series.
    Series(Series),
    /// Several.
    Array(Vec<Series>),
}

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `^`
    Pow,
}

impl Op {
    fn apply(self, a: f64, b: f64) -> f64 {
        match self {
            Op::Add => a + b,
            Op::Sub => a - b,
            Op::Mul => a * b,
            Op::Div => a / b,
            Op::Pow => a.powf(b),
        }
    }
}

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A number.
    Num(f64),
    /// A string (`METRICS`' filter).
    Str(String),
    /// Another query's id, or a bare word (`REPEAT`, `LINEAR`).
    Ref(String),
    /// A function call.
    Call(String, Vec<Expr>),
    /// `[a, b, ...]`
    List(Vec<Expr>),
    /// `-x`
    Neg(Box<Expr>),
    /// `a op b`
    Bin(Op, Box<Expr>, Box<Expr>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Str(String),
    Word(String),
    Punct(char),
}

fn lex(text: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let s: String = chars[start..i].iter().collect();
            out.push(Tok::Num(
                s.parse().map_err(|_| format!("invalid number '{s}'"))?,
            ));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Tok::Word(chars[start..i].iter().collect()));
        } else if c == '"' || c == '\'' {
            let end = chars[i + 1..].iter().position(|&d| d == c);
            let end = end.ok_or("unterminated string")? + i + 1;
            out.push(Tok::Str(chars[i + 1..end].iter().collect()));
            i = end + 1;
        } else if "+-*/^()[],".contains(c) {
            out.push(Tok::Punct(c));
            i += 1;
        } else {
            return Err(format!("unexpected character '{c}'"));
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(&Tok::Punct(c)) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected '{c}'"))
        }
    }

    fn binary(
        &mut self,
        ops: &[(char, Op)],
        next: fn(&mut Parser) -> Result<Expr, String>,
    ) -> Result<Expr, String> {
        let mut left = next(self)?;
        'outer: loop {
            for (c, op) in ops {
                if self.eat(*c) {
                    left = Expr::Bin(*op, Box::new(left), Box::new(next(self)?));
                    continue 'outer;
                }
            }
            return Ok(left);
        }
    }

    fn sum(&mut self) -> Result<Expr, String> {
        self.binary(&[('+', Op::Add), ('-', Op::Sub)], Parser::product)
    }

    fn product(&mut self) -> Result<Expr, String> {
        self.binary(&[('*', Op::Mul), ('/', Op::Div)], Parser::unary)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.eat('-') {
            return Ok(Expr::Neg(Box::new(self.unary()?)));
        }
        let base = self.primary()?;
        if self.eat('^') {
            return Ok(Expr::Bin(Op::Pow, Box::new(base), Box::new(self.unary()?)));
        }
        Ok(base)
    }

    fn list(&mut self, close: char) -> Result<Vec<Expr>, String> {
        let mut items = Vec::new();
        if self.eat(close) {
            return Ok(items);
        }
        loop {
            items.push(self.sum()?);
            if self.eat(close) {
                return Ok(items);
            }
            self.expect(',')?;
        }
    }

    fn primary(&mut self) -> Result<Expr, String> {
        let tok = self.peek().cloned().ok_or("unexpected end of expression")?;
        self.at += 1;
        match tok {
            Tok::Num(n) => Ok(Expr::Num(n)),
            Tok::Str(s) => Ok(Expr::Str(s)),
            Tok::Word(w) if self.eat('(') => {
                Ok(Expr::Call(w.to_ascii_uppercase(), self.list(')')?))
            }
            Tok::Word(w) => Ok(Expr::Ref(w)),
            Tok::Punct('(') => {
                let e = self.sum()?;
                self.expect(')')?;
                Ok(e)
            }
            Tok::Punct('[') => Ok(Expr::List(self.list(']')?)),
            Tok::Punct(c) => Err(format!("unexpected '{c}'")),
        }
    }
}

/// Parses an expression; the error says what is wrong.
pub fn parse(text: &str) -> Result<Expr, String> {
    let mut p = Parser {
        toks: lex(text)?,
        at: 0,
    };
    let e = p.sum()?;
    match p.peek() {
        None => Ok(e),
        Some(t) => Err(format!("unexpected {t:?} after the expression")),
    }
}

/// Words the functions take as arguments, which are no query ids.
const KEYWORDS: &[&str] = &["REPEAT", "LINEAR"];

/// The query ids an expression names.
pub fn refs(e: &Expr, out: &mut Vec<String>) {
    match e {
        Expr::Ref(id) if !KEYWORDS.contains(&id.as_str()) => out.push(id.clone()),
        Expr::Call(_, args) | Expr::List(args) => args.iter().for_each(|a| refs(a, out)),
        Expr::Neg(x) => refs(x, out),
        Expr::Bin(_, a, b) => {
            refs(a, out);
            refs(b, out);
        }
        _ => {}
    }
}

/// Whether an expression calls `METRICS()`.
pub fn uses_metrics(e: &Expr) -> bool {
    match e {
        Expr::Call(f, args) => f == "METRICS" || args.iter().any(uses_metrics),
        Expr::List(args) => args.iter().any(uses_metrics),
        Expr::Neg(x) => uses_metrics(x),
        Expr::Bin(_, a, b) => uses_metrics(a) || uses_metrics(b),
        _ => false,
    }
}

/// What an expression is evaluated against.
pub trait Env {
    /// The value of query `id`.
    fn lookup(&mut self, id: &str) -> Result<Val, String>;
    /// The series of every metric query, those whose label contains `filter` when
    /// given.
    fn metrics(&mut self, filter: Option<&str>) -> Result<Vec<Series>, String>;
    /// The timestamps of the expression's periods.
    fn grid(&self) -> &[i64];
}

/// Evaluates `e`.
pub fn eval(e: &Expr, env: &mut dyn Env) -> Result<Val, String> {
    match e {
        Expr::Num(n) => Ok(Val::Scalar(*n)),
        Expr::Str(s) => Err(format!("a string (\"{s}\") is only an argument of METRICS")),
        Expr::Ref(id) if KEYWORDS.contains(&id.as_str()) => {
            Err(format!("{id} is only an argument of FILL"))
        }
        Expr::Ref(id) => env.lookup(id),
        Expr::Neg(x) => Ok(map_points(eval(x, env)?, |v| -v)),
        Expr::Bin(op, a, b) => binary(*op, eval(a, env)?, eval(b, env)?),
        Expr::List(items) => array(items, env),
        Expr::Call(f, args) => call(f, args, env),
    }
}

fn map_points(v: Val, f: impl Fn(f64) -> f64 + Copy) -> Val {
    let map = |s: Series| Series {
        label: s.label,
        points: s.points.into_iter().map(|(t, v)| (t, f(v))).collect(),
    };
    match v {
        Val::Scalar(x) => Val::Scalar(f(x)),
        Val::Series(s) => Val::Series(map(s)),
        Val::Array(a) => Val::Array(a.into_iter().map(map).collect()),
    }
}

fn series_op(op: Op, a: &Series, b: &Series) -> Series {
    let points = a
        .points
        .iter()
        .filter_map(|(t, x)| b.points.get(t).map(|y| (*t, op.apply(*x, *y))))
        .collect();
    Series {
        label: a.label.clone(),
        points,
    }
}

fn binary(op: Op, a: Val, b: Val) -> Result<Val, String> {
    use Val::*;
    Ok(match (a, b) {
        (Scalar(x), Scalar(y)) => Scalar(op.apply(x, y)),
        (Scalar(x), v) => map_points(v, move |y| op.apply(x, y)),
        (v, Scalar(y)) => map_points(v, move |x| op.apply(x, y)),
        (Series(a), Series(b)) => Series(series_op(op, &a, &b)),
        (Array(xs), Series(b)) => Array(xs.iter().map(|a| series_op(op, a, &b)).collect()),
        (Series(a), Array(ys)) => Array(ys.iter().map(|b| series_op(op, &a, b)).collect()),
        (Array(_), Array(_)) => return Err("two arrays of time series cannot be combined".into()),
    })
}

fn array(items: &[Expr], env: &mut dyn Env) -> Result<Val, String> {
    let mut out = Vec::new();
    for item in items {
        match eval(item, env)? {
            Val::Series(s) => out.push(s),
            Val::Array(a) => out.extend(a),
            Val::Scalar(_) => return Err("an array holds time series, not numbers".into()),
        }
    }
    Ok(Val::Array(out))
}

fn arity(f: &str, args: &[Expr], min: usize, max: usize) -> Result<(), String> {
    if args.len() < min || args.len() > max {
        return Err(format!(
            "{f} takes {min} to {max} arguments, not {}",
            args.len()
        ));
    }
    Ok(())
}

fn call(f: &str, args: &[Expr], env: &mut dyn Env) -> Result<Val, String> {
    match f {
        "SUM" | "AVG" | "MIN" | "MAX" => {
            let arg = match args {
                [] => return Err(format!("{f} takes a time series or an array of them")),
                [one] => eval(one, env)?,
                many => array(many, env)?,
            };
            Ok(aggregate(f, arg))
        }
        "ABS" => {
            arity(f, args, 1, 1)?;
            Ok(map_points(eval(&args[0], env)?, f64::abs))
        }
        "METRICS" => {
            arity(f, args, 0, 1)?;
            let filter = match args.first() {
                None => None,
                Some(Expr::Str(s)) => Some(s.as_str()),
                Some(_) => return Err("METRICS takes a string".into()),
            };
            Ok(Val::Array(env.metrics(filter)?))
        }
        "FILL" => {
            arity(f, args, 2, 2)?;
            fill(eval(&args[0], env)?, &args[1], env)
        }
        _ => Err(format!("unknown function {f}")),
    }
}

fn reduce(f: &str, values: impl Iterator<Item = f64>) -> Option<f64> {
    let (mut n, mut sum, mut min, mut max) = (0.0, 0.0, f64::INFINITY, f64::NEG_INFINITY);
    for v in values {
        n += 1.0;
        sum += v;
        min = min.min(v);
        max = max.max(v);
    }
    (n > 0.0).then(|| match f {
        "SUM" => sum,
        "AVG" => sum / n,
        "MIN" => min,
        _ => max,
    })
}

fn aggregate(f: &str, v: Val) -> Val {
    match v {
        Val::Scalar(x) => Val::Scalar(x),
        Val::Series(s) => match reduce(f, s.points.values().copied()) {
            Some(x) => Val::Scalar(x),
            None => Val::Series(s),
        },
        Val::Array(a) => {
            let mut by_time: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
            for s in &a {
                for (t, v) in &s.points {
                    by_time.entry(*t).or_default().push(*v);
                }
            }
            let points = by_time
                .into_iter()
                .filter_map(|(t, vs)| reduce(f, vs.into_iter()).map(|x| (t, x)))
                .collect();
            Val::Series(Series {
                label: f.to_string(),
                points,
            })
        }
    }
}

/// How FILL fills a gap.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Filler {
    Value(f64),
    Repeat,
    Linear,
}

fn fill(v: Val, how: &Expr, env: &mut dyn Env) -> Result<Val, String> {
    let filler = match how {
        Expr::Ref(w) if w == "REPEAT" => Filler::Repeat,
        Expr::Ref(w) if w == "LINEAR" => Filler::Linear,
        e => match eval(e, env)? {
            Val::Scalar(x) => Filler::Value(x),
            _ => return Err("FILL's second argument is a number, REPEAT or LINEAR".into()),
        },
    };
    let grid = env.grid().to_vec();
    Ok(match v {
        Val::Scalar(_) => return Err("FILL's first argument is a time series".into()),
        Val::Series(s) => Val::Series(fill_series(s, &grid, filler)),
        Val::Array(a) => Val::Array(
            a.into_iter()
                .map(|s| fill_series(s, &grid, filler))
                .collect(),
        ),
    })
}

/// The value at `t` by a filler, from the nearest points before and after.
fn filled(
    t: i64,
    before: Option<(i64, f64)>,
    after: Option<(i64, f64)>,
    how: Filler,
) -> Option<f64> {
    match (how, before, after) {
        (Filler::Value(x), _, _) => Some(x),
        (Filler::Repeat, Some((_, v)), _) | (Filler::Repeat, None, Some((_, v))) => Some(v),
        (Filler::Linear, Some((t0, v0)), Some((t1, v1))) => {
            Some(v0 + (v1 - v0) * (t - t0) as f64 / (t1 - t0) as f64)
        }
        (Filler::Linear, Some((_, v)), None) | (Filler::Linear, None, Some((_, v))) => Some(v),
        _ => None,
    }
}

fn fill_series(s: Series, grid: &[i64], how: Filler) -> Series {
    let mut points = s.points.clone();
    for &t in grid {
        if s.points.contains_key(&t) {
            continue;
        }
        let before = s.points.range(..t).next_back().map(|(a, b)| (*a, *b));
        let after = s.points.range(t..).next().map(|(a, b)| (*a, *b));
        if let Some(v) = filled(t, before, after, how) {
            points.insert(t, v);
        }
    }
    Series {
        label: s.label,
        points,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed {
        series: BTreeMap<String, Series>,
        grid: Vec<i64>,
    }

    impl Env for Fixed {
        fn lookup(&mut self, id: &str) -> Result<Val, String> {
            self.series
                .get(id)
                .cloned()
                .map(Val::Series)
                .ok_or_else(|| format!("no query {id}"))
        }
        fn metrics(&mut self, filter: Option<&str>) -> Result<Vec<Series>, String> {
            let keep = |s: &&Series| filter.is_none_or(|f| s.label.contains(f));
            Ok(self.series.values().filter(keep).cloned().collect())
        }
        fn grid(&self) -> &[i64] {
            &self.grid
        }
    }

    fn series(label: &str, pts: &[(i64, f64)]) -> Series {
        Series {
            label: label.into(),
            points: pts.iter().copied().collect(),
        }
    }

    fn env() -> Fixed {
        let m1 = series("Requests", &[(0, 10.0), (60, 20.0), (180, 40.0)]);
        let m2 = series("Errors", &[(0, 1.0), (60, 4.0), (120, 2.0)]);
        Fixed {
            series: BTreeMap::from([("m1".into(), m1), ("m2".into(), m2)]),
            grid: vec![0, 60, 120, 180],
        }
    }

    fn run(text: &str) -> Result<Val, String> {
        eval(&parse(text)?, &mut env())
    }

    fn pts(v: &Val) -> Vec<(i64, f64)> {
        match v {
            Val::Series(s) => s.points.iter().map(|(a, b)| (*a, *b)).collect(),
            other => panic!("not a series: {other:?}"),
        }
    }

    #[test]
    fn arithmetic_is_per_timestamp() {
        let cases: &[(&str, &[(i64, f64)])] = &[
            ("m2 / m1 * 100", &[(0, 10.0), (60, 20.0)]),
            ("m1 + m2", &[(0, 11.0), (60, 24.0)]),
            ("m1 - 10", &[(0, 0.0), (60, 10.0), (180, 30.0)]),
            ("-m2 + 1", &[(0, 0.0), (60, -3.0), (120, -1.0)]),
            ("2 * (m1 + 0)", &[(0, 20.0), (60, 40.0), (180, 80.0)]),
            ("m2 ^ 2", &[(0, 1.0), (60, 16.0), (120, 4.0)]),
            (
                "SUM([m1, m2])",
                &[(0, 11.0), (60, 24.0), (120, 2.0), (180, 40.0)],
            ),
            (
                "MAX(METRICS())",
                &[(0, 10.0), (60, 20.0), (120, 2.0), (180, 40.0)],
            ),
            (
                "AVG([m1, m2])",
                &[(0, 5.5), (60, 12.0), (120, 2.0), (180, 40.0)],
            ),
            (
                "m1 / SUM(m1)",
                &[(0, 10.0 / 70.0), (60, 20.0 / 70.0), (180, 40.0 / 70.0)],
            ),
            ("ABS(m2 - 3)", &[(0, 2.0), (60, 1.0), (120, 1.0)]),
        ];
        for (text, want) in cases {
            assert_eq!(pts(&run(text).unwrap()), *want, "{text}");
        }
    }

    #[test]
    fn aggregates_of_one_series_are_scalars() {
        let cases = [
            ("SUM(m1)", 70.0),
            ("AVG(m2)", 7.0 / 3.0),
            ("MIN(m1)", 10.0),
            ("MAX(m2)", 4.0),
            ("1 + 2 * 3", 7.0),
            ("(1 + 2) * 3", 9.0),
            ("10 / 4 - 1", 1.5),
            ("2 ^ 3 ^ 2", 512.0),
        ];
        for (text, want) in cases {
            assert_eq!(run(text).unwrap(), Val::Scalar(want), "{text}");
        }
    }

    #[test]
    fn fill_fills_the_grid() {
        let cases: &[(&str, &[(i64, f64)])] = &[
            (
                "FILL(m1, 0)",
                &[(0, 10.0), (60, 20.0), (120, 0.0), (180, 40.0)],
            ),
            (
                "FILL(m1, REPEAT)",
                &[(0, 10.0), (60, 20.0), (120, 20.0), (180, 40.0)],
            ),
            (
                "FILL(m1, LINEAR)",
                &[(0, 10.0), (60, 20.0), (120, 30.0), (180, 40.0)],
            ),
            (
                "FILL(m2, LINEAR)",
                &[(0, 1.0), (60, 4.0), (120, 2.0), (180, 2.0)],
            ),
            (
                "FILL(m1, 1 + 1) / 2",
                &[(0, 5.0), (60, 10.0), (120, 1.0), (180, 20.0)],
            ),
        ];
        for (text, want) in cases {
            assert_eq!(pts(&run(text).unwrap()), *want, "{text}");
        }
        match run("FILL(METRICS(), 0)").unwrap() {
            Val::Array(a) => assert!(a.iter().all(|s| s.points.len() == 4)),
            other => panic!("{other:?}"),
        }
        match run("METRICS('Err')").unwrap() {
            Val::Array(a) => assert_eq!(a.len(), 1),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_expressions_say_why() {
        let cases = [
            ("m1 +", "unexpected end"),
            ("m1 m2", "after the expression"),
            ("SUM(m1", "expected"),
            ("FOO(m1)", "unknown function FOO"),
            ("m3 * 2", "no query m3"),
            ("FILL(m1)", "takes 2 to 2 arguments"),
            ("FILL(m1, m2)", "second argument"),
            ("METRICS() + METRICS()", "two arrays"),
            ("[m1, 2]", "not numbers"),
            ("m1 $ 2", "unexpected character"),
            ("'open", "unterminated"),
            ("1.2.3", "invalid number"),
            ("REPEAT", "only an argument of FILL"),
        ];
        for (text, want) in cases {
            let e = run(text).unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn references_are_found() {
        let mut out = Vec::new();
        refs(
            &parse("FILL(m1, REPEAT) + SUM([e2, m1]) * METRICS()").unwrap(),
            &mut out,
        );
        assert_eq!(out, ["m1", "e2", "m1"]);
        assert!(uses_metrics(&parse("-SUM(METRICS())").unwrap()));
        assert!(!uses_metrics(&parse("m1").unwrap()));
    }
}
