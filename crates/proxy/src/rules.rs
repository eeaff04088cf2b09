//! A load balancer listener's rules, compiled once per snapshot and evaluated per request
//! as ALB evaluates them: by priority, lowest number first; the first rule whose
//! conditions all match (AND across conditions, OR within a condition's values) gives
//! the action, and the listener's default action when none does. Pure: the request is
//! what [`RequestFacts`] shows of it, from hyper's head or the fast path's alike.
//!
//! Matching, per condition type:
//!
//! | field | matched against | case | wildcards |
//! | --- | --- | --- | --- |
//! | `path-pattern` | the path, without the query string | sensitive | `*`, `?` |
//! | `host-header` | `host` (or the `:authority`), without its port | insensitive | `*`, `?` |
//! | `http-header` | every value of the named header (name case-insensitive) | insensitive | `*`, `?` |
//! | `query-string` | each `key=value` pair, both URL-decoded (`%XX`, `+`) | insensitive | `*`, `?` |
//! | `http-request-method` | the method | exact | none |
//! | `source-ip` | the client's address (the connection's) | — | CIDR blocks |
//!
//! `*` matches any run of characters (none included), `?` exactly one; `\*`, `\?` and
//! `\\` match the character itself. A query-string pattern without a key matches any
//! parameter's value. A header given several times matches when any of its values does.

use std::net::IpAddr;

use berth_proxy_config::alb::{Cidr, Condition};

/// What the rules see of a request.
pub(crate) struct RequestFacts<'a> {
    pub method: &'a str,
    /// The path, without the query string.
    pub path: &'a str,
    /// The query string, without its `?`.
    pub query: Option<&'a str>,
    /// The `host` header (or the HTTP/2 `:authority`), with its port if any.
    pub host: Option<&'a [u8]>,
    pub headers: &'a dyn HeaderLookup,
    /// The client's address.
    pub source: IpAddr,
}

/// The request's headers, by name.
pub(crate) trait HeaderLookup {
    /// Whether `f` holds for one of the values of `name` (lowercase).
    fn any_value(&self, name: &str, f: &mut dyn FnMut(&[u8]) -> bool) -> bool;
}

impl HeaderLookup for http::HeaderMap {
    fn any_value(&self, name: &str, f: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        self.get_all(name).iter().any(|v| f(v.as_bytes()))
    }
}

/// The headers of a head `httparse` parsed (the fast path's).
pub(crate) struct H1Headers<'a, 'b>(pub &'a [httparse::Header<'b>]);

impl HeaderLookup for H1Headers<'_, '_> {
    fn any_value(&self, name: &str, f: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        self.0
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .any(|h| f(h.value))
    }
}

/// One piece of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// Bytes to match exactly (case folded when the pattern is case-insensitive).
    Lit(Vec<u8>),
    /// `?`: one byte.
    One,
    /// `*`: any run of bytes.
    Any,
}

/// A wildcard pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    pieces: Vec<Piece>,
    fold: bool,
}

impl Pattern {
    /// Compiles `p`; `fold`: match case-insensitively (ASCII).
    pub(crate) fn new(p: &str, fold: bool) -> Pattern {
        let mut pieces: Vec<Piece> = Vec::new();
        let mut lit = Vec::new();
        let mut bytes = p.bytes();
        let flush = |lit: &mut Vec<u8>, pieces: &mut Vec<Piece>| {
            if !lit.is_empty() {
                pieces.push(Piece::Lit(std::mem::take(lit)));
            }
        };
        while let Some(b) = bytes.next() {
            match b {
                b'\\' => match bytes.next() {
                    Some(n) => lit.push(n),
                    None => lit.push(b'\\'),
                },
                b'*' => {
                    flush(&mut lit, &mut pieces);
                    if pieces.last() != Some(&Piece::Any) {
                        pieces.push(Piece::Any);
                    }
                }
                b'?' => {
                    flush(&mut lit, &mut pieces);
                    pieces.push(Piece::One);
                }
                _ => lit.push(if fold { b.to_ascii_lowercase() } else { b }),
            }
        }
        flush(&mut lit, &mut pieces);
        Pattern { pieces, fold }
    }

    /// Whether the whole of `s` matches.
    pub(crate) fn matches(&self, s: &[u8]) -> bool {
        glob(&self.pieces, s, self.fold)
    }
}

fn lit_at(lit: &[u8], s: &[u8], fold: bool) -> bool {
    s.len() >= lit.len()
        && if fold {
            s[..lit.len()]
                .iter()
                .zip(lit)
                .all(|(a, b)| a.to_ascii_lowercase() == *b)
        } else {
            &s[..lit.len()] == lit
        }
}

/// Matches `pieces` against all of `s`: backtracking only to the latest `*`, so linear
/// in practice (at most `|pieces| × |s|`).
fn glob(pieces: &[Piece], s: &[u8], fold: bool) -> bool {
    let (mut p, mut i) = (0, 0);
    // Where to resume after the latest `*`: (piece after it, next start in s).
    let mut resume: Option<(usize, usize)> = None;
    loop {
        let step = match pieces.get(p) {
            None if i == s.len() => return true,
            None => None,
            Some(Piece::Any) => {
                resume = Some((p + 1, i));
                p += 1;
                continue;
            }
            Some(Piece::One) => (i < s.len()).then_some(1),
            Some(Piece::Lit(l)) => lit_at(l, &s[i..], fold).then_some(l.len()),
        };
        match (step, resume) {
            (Some(n), _) => {
                p += 1;
                i += n;
            }
            (None, Some((rp, ri))) if ri < s.len() => {
                resume = Some((rp, ri + 1));
                p = rp;
                i = ri + 1;
            }
            (None, _) => return false,
        }
    }
}

/// A compiled condition.
#[derive(Debug)]
enum Cond {
    Path(Vec<Pattern>),
    Host(Vec<Pattern>),
    Header(String, Vec<Pattern>),
    Query(Vec<(Option<Pattern>, Pattern)>),
    Method(Vec<String>),
    Source(Vec<Cidr>),
}

impl Cond {
    fn new(c: &Condition) -> Cond {
        let pats = |vs: &[String], fold| vs.iter().map(|v| Pattern::new(v, fold)).collect();
        match c {
            Condition::PathPattern { values } => Cond::Path(pats(values, false)),
            Condition::HostHeader { values } => Cond::Host(pats(values, true)),
            Condition::HttpHeader { name, values } => {
                Cond::Header(name.to_ascii_lowercase(), pats(values, true))
            }
            Condition::QueryString { values } => Cond::Query(
                values
                    .iter()
                    .map(|q| {
                        let key = q.key.as_deref().map(|k| Pattern::new(k, true));
                        (key, Pattern::new(&q.value, true))
                    })
                    .collect(),
            ),
            Condition::HttpRequestMethod { values } => Cond::Method(values.clone()),
            Condition::SourceIp { values } => Cond::Source(values.clone()),
        }
    }

    fn matches(&self, r: &RequestFacts<'_>) -> bool {
        match self {
            Cond::Path(ps) => ps.iter().any(|p| p.matches(r.path.as_bytes())),
            Cond::Host(ps) => {
                let Some(host) = r.host.map(strip_port) else {
                    return false;
                };
                ps.iter().any(|p| p.matches(host))
            }
            Cond::Header(name, ps) => r
                .headers
                .any_value(name, &mut |v| ps.iter().any(|p| p.matches(v))),
            Cond::Query(qs) => r.query.is_some_and(|q| query_matches(qs, q)),
            Cond::Method(ms) => ms.iter().any(|m| m == r.method),
            Cond::Source(cs) => cs.iter().any(|c| c.contains(r.source)),
        }
    }
}

/// `host` without its port (`[::1]:80` → `[::1]`).
pub(crate) fn strip_port(host: &[u8]) -> &[u8] {
    match host.iter().rposition(|&b| b == b':') {
        Some(i) if host[i + 1..].iter().all(u8::is_ascii_digit) && !host[..i].contains(&b':') => {
            &host[..i]
        }
        Some(i) if host.first() == Some(&b'[') && host[..i].ends_with(b"]") => &host[..i],
        _ => host,
    }
}

/// Whether one of the query's parameters matches one of the patterns.
fn query_matches(patterns: &[(Option<Pattern>, Pattern)], query: &str) -> bool {
    query.split('&').filter(|p| !p.is_empty()).any(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (url_decode(k), url_decode(v));
        patterns
            .iter()
            .any(|(kp, vp)| kp.as_ref().is_none_or(|kp| kp.matches(&k)) && vp.matches(&v))
    })
}

/// `%XX` escapes decoded and `+` as a space; malformed escapes kept as they are.
pub(crate) fn url_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// A listener's rules, each with its action (`A`: the runtime form of an action).
pub(crate) struct RuleSet<A> {
    /// By priority, lowest first.
    rules: Vec<(u32, Vec<Cond>, A)>,
    default: A,
}

/// The rule that matched: its priority (`None`: the default action) and action.
pub(crate) struct Matched<'a, A> {
    pub priority: Option<u32>,
    pub action: &'a A,
}

impl<A> RuleSet<A> {
    /// Compiles `rules` (priority, conditions, action), in any order.
    pub(crate) fn new(rules: Vec<(u32, &[Condition], A)>, default: A) -> RuleSet<A> {
        let mut rules: Vec<(u32, Vec<Cond>, A)> = rules
            .into_iter()
            .map(|(p, cs, a)| (p, cs.iter().map(Cond::new).collect(), a))
            .collect();
        rules.sort_by_key(|(p, ..)| *p);
        RuleSet { rules, default }
    }

    /// The action for `r`: the first rule (by priority) whose conditions all match, or
    /// the default.
    pub(crate) fn evaluate(&self, r: &RequestFacts<'_>) -> Matched<'_, A> {
        for (priority, conds, action) in &self.rules {
            if conds.iter().all(|c| c.matches(r)) {
                return Matched {
                    priority: Some(*priority),
                    action,
                };
            }
        }
        Matched {
            priority: None,
            action: &self.default,
        }
    }
}

#[cfg(test)]
mod tests;
