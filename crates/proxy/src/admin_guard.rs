//! Who may do what on the admin endpoint ([`crate::admin`]).
//!
//! - **Unix socket**: its file mode (0600, the proxy's user) decides who connects; every
//!   endpoint is served, without a token (berth's agent talks to its proxies this way).
//! - **Loopback TCP** (standalone use): any local user, and any web page a local browser
//!   shows, can reach it. It answers only requests whose `host` is a loopback name or
//!   address (a page served from a rebound DNS name sends its own name), serves the
//!   read-only endpoints to anyone, and changes the proxy (`POST /snapshot`,
//!   `POST /drain`) only for a request with `authorization: Bearer <token>`, the token
//!   the proxy was started with ([`AdminToken`], compared in constant time). Without a
//!   token configured, changes over TCP are refused.
//! - **Every transport** refuses changes from browsers: a request with an `origin`
//!   header (403), or whose body is not `application/json` (415), which a page cannot
//!   send without the browser asking first.

use std::path::{Path, PathBuf};

use http::header::{self, HeaderMap, HeaderValue};
use http::StatusCode;

/// The shortest token accepted.
const MIN_TOKEN: usize = 16;
/// The longest token accepted (it travels in a header).
const MAX_TOKEN: usize = 4096;

/// The bearer token that lets a TCP admin client change the proxy. Printed as
/// `AdminToken(..)`: never in logs.
#[derive(Clone)]
pub struct AdminToken(Box<[u8]>);

/// Why a token is unusable.
#[derive(Debug, thiserror::Error)]
pub enum AdminTokenError {
    /// Fewer than 16 characters.
    #[error("the admin token has {0} characters; at least {MIN_TOKEN} are required")]
    TooShort(usize),
    /// More than 4096 characters.
    #[error("the admin token has {0} characters; at most {MAX_TOKEN} are accepted")]
    TooLong(usize),
    /// A character that is not visible ASCII (spaces included).
    #[error("the admin token may hold only visible ASCII characters (no spaces or controls)")]
    Charset,
    /// The token file could not be read.
    #[error("reading the admin token file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

impl AdminToken {
    /// A token from its text; whitespace around it (a file's final newline) is dropped.
    pub fn new(text: &str) -> Result<AdminToken, AdminTokenError> {
        let t = text.trim();
        if t.len() < MIN_TOKEN {
            return Err(AdminTokenError::TooShort(t.chars().count()));
        }
        if t.len() > MAX_TOKEN {
            return Err(AdminTokenError::TooLong(t.chars().count()));
        }
        if !t.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(AdminTokenError::Charset);
        }
        Ok(AdminToken(t.as_bytes().into()))
    }

    /// The token in the file at `path` (its whole content, whitespace around it dropped).
    pub fn from_file(path: &Path) -> Result<AdminToken, AdminTokenError> {
        let text = std::fs::read_to_string(path).map_err(|source| AdminTokenError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        AdminToken::new(&text)
    }

    /// Whether `presented` is the token, in a time that depends on `presented`'s length
    /// only (not on how much of it matches, nor on the token's length).
    fn matches(&self, presented: &[u8]) -> bool {
        let want = &self.0;
        let mut diff = want.len() ^ presented.len();
        for (i, b) in presented.iter().enumerate() {
            diff |= usize::from(b ^ want[i % want.len()]);
        }
        std::hint::black_box(diff) == 0
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(..)")
    }
}

/// The transport an admin connection came on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Tcp,
    Unix,
}

/// What an admin request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Reads (or an unknown path, answered 404).
    Read,
    /// Changes the proxy; its body is as `ChangeBody` says.
    Change(ChangeBody),
}

/// The body a changing request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChangeBody {
    /// JSON, declared as `content-type: application/json`.
    Json,
    /// None; a content type, if given, must still be `application/json`.
    Empty,
}

/// Why an admin request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Denied {
    /// TCP: `host` is not a loopback name or address.
    ForeignHost,
    /// A change with an `origin` header: a web page sent it.
    BrowserOrigin,
    /// A change over TCP, and the proxy has no token.
    NoToken,
    /// A change over TCP without the right bearer token.
    BadToken,
    /// A change whose content type is not `application/json`.
    ContentType,
}

impl Denied {
    /// The answer's status.
    pub(crate) fn status(self) -> StatusCode {
        match self {
            Denied::ContentType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Denied::ForeignHost | Denied::BrowserOrigin | Denied::NoToken | Denied::BadToken => {
                StatusCode::FORBIDDEN
            }
        }
    }

    /// What the answer's `error` says: why, and how to do it right.
    pub(crate) fn message(self) -> &'static str {
        match self {
            Denied::ForeignHost => {
                "the admin endpoint answers only requests addressed to a loopback host \
                 (localhost, 127.0.0.1, [::1])"
            }
            Denied::BrowserOrigin => {
                "requests with an Origin header (sent by web pages) may not change the proxy"
            }
            Denied::NoToken => {
                "changes over the TCP admin endpoint need a token: start the proxy with \
                 --admin-token-file PATH (or BERTH_PROXY_ADMIN_TOKEN) and send \
                 'Authorization: Bearer <token>', or use a Unix socket (--admin unix:/path)"
            }
            Denied::BadToken => {
                "changes over the TCP admin endpoint need 'Authorization: Bearer <token>' \
                 with the proxy's admin token"
            }
            Denied::ContentType => "the request's Content-Type must be application/json",
        }
    }
}

/// The admin endpoint's rules for one transport.
#[derive(Debug, Clone)]
pub(crate) struct AdminGuard {
    transport: Transport,
    token: Option<AdminToken>,
}

impl AdminGuard {
    /// The rules of `transport`; `token` counts on TCP only.
    pub(crate) fn new(transport: Transport, token: Option<AdminToken>) -> AdminGuard {
        AdminGuard { transport, token }
    }

    /// Whether a request with `headers` may do `access`.
    pub(crate) fn check(&self, headers: &HeaderMap, access: Access) -> Result<(), Denied> {
        let tcp = self.transport == Transport::Tcp;
        if tcp && !headers.get_all(header::HOST).iter().all(is_loopback_host) {
            return Err(Denied::ForeignHost);
        }
        let Access::Change(body) = access else {
            return Ok(());
        };
        if headers.contains_key(header::ORIGIN) {
            return Err(Denied::BrowserOrigin);
        }
        if tcp {
            let token = self.token.as_ref().ok_or(Denied::NoToken)?;
            let presented = bearer(headers).ok_or(Denied::BadToken)?;
            if !token.matches(presented) {
                return Err(Denied::BadToken);
            }
        }
        let mut types = headers.get_all(header::CONTENT_TYPE).iter();
        let json = match (types.next(), types.next()) {
            (None, _) => body == ChangeBody::Empty,
            (Some(t), None) => is_json(t),
            (Some(_), Some(_)) => false,
        };
        if json {
            Ok(())
        } else {
            Err(Denied::ContentType)
        }
    }
}

/// The token of the one `authorization: Bearer <token>` header.
fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    let mut all = headers.get_all(header::AUTHORIZATION).iter();
    let (Some(v), None) = (all.next(), all.next()) else {
        return None;
    };
    let v = v.as_bytes();
    let space = v.iter().position(|&b| b == b' ')?;
    let (scheme, rest) = v.split_at(space);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    let start = rest.iter().position(|&b| b != b' ')?;
    Some(rest[start..].trim_ascii_end())
}

/// `application/json`, with parameters or not.
fn is_json(v: &HeaderValue) -> bool {
    let v = v.as_bytes();
    let essence = v.split(|&b| b == b';').next().unwrap_or(v);
    essence
        .trim_ascii()
        .eq_ignore_ascii_case(b"application/json")
}

/// `localhost` (and its subdomains, which browsers resolve to loopback themselves) or a
/// loopback address, with a port or not.
fn is_loopback_host(v: &HeaderValue) -> bool {
    let Ok(a) = http::uri::Authority::try_from(v.as_bytes()) else {
        return false;
    };
    if a.as_str().contains('@') {
        return false;
    }
    let host = a.host();
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
        return ip.is_loopback();
    }
    let name = bare.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef-token";

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(*n, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn tcp(token: Option<&str>) -> AdminGuard {
        AdminGuard::new(Transport::Tcp, token.map(|t| AdminToken::new(t).unwrap()))
    }

    const SNAPSHOT: Access = Access::Change(ChangeBody::Json);
    const DRAIN: Access = Access::Change(ChangeBody::Empty);

    #[test]
    fn tokens_are_checked_when_made() {
        assert!(matches!(
            AdminToken::new("short"),
            Err(AdminTokenError::TooShort(5))
        ));
        assert!(matches!(
            AdminToken::new("0123456789 abcdef"),
            Err(AdminTokenError::Charset)
        ));
        assert!(matches!(
            AdminToken::new(&"x".repeat(5000)),
            Err(AdminTokenError::TooLong(5000))
        ));
        let t = AdminToken::new(&format!("  {TOKEN}\n")).unwrap();
        assert!(t.matches(TOKEN.as_bytes()));
        assert_eq!(format!("{t:?}"), "AdminToken(..)");
        let e = AdminToken::from_file(Path::new("/nonexistent/token")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/token"), "{e}");
    }

    #[test]
    fn token_comparison() {
        let t = AdminToken::new(TOKEN).unwrap();
        assert!(t.matches(TOKEN.as_bytes()));
        assert!(!t.matches(b""));
        assert!(!t.matches(&TOKEN.as_bytes()[..TOKEN.len() - 1]));
        assert!(!t.matches(format!("{TOKEN}x").as_bytes()));
        assert!(!t.matches(TOKEN.to_uppercase().as_bytes()));
        // Repeated, it matches where it wraps around; its length still differs.
        assert!(!t.matches(format!("{TOKEN}{TOKEN}").as_bytes()));
    }

    #[test]
    fn reads_pass_on_tcp_from_loopback_hosts_only() {
        let g = tcp(None);
        for host in [
            "127.0.0.1:9901",
            "127.0.0.1",
            "localhost",
            "LOCALHOST:9901",
            "[::1]:9901",
            "metrics.localhost",
        ] {
            assert_eq!(
                g.check(&headers(&[("host", host)]), Access::Read),
                Ok(()),
                "{host}"
            );
        }
        assert_eq!(g.check(&headers(&[]), Access::Read), Ok(()));
        for host in ["evil.example:9901", "10.0.0.1", "localhost.example", "a b"] {
            assert_eq!(
                g.check(&headers(&[("host", host)]), Access::Read),
                Err(Denied::ForeignHost),
                "{host}"
            );
        }
        // Unix sockets: no host rule.
        let u = AdminGuard::new(Transport::Unix, None);
        assert_eq!(
            u.check(&headers(&[("host", "proxy")]), Access::Read),
            Ok(())
        );
    }

    #[test]
    fn changes_on_tcp_need_the_token() {
        let json = ("content-type", "application/json");
        let auth = format!("Bearer {TOKEN}");
        let good = headers(&[json, ("authorization", &auth)]);
        assert_eq!(tcp(None).check(&good, SNAPSHOT), Err(Denied::NoToken));
        let g = tcp(Some(TOKEN));
        assert_eq!(g.check(&good, SNAPSHOT), Ok(()));
        assert_eq!(g.check(&good, DRAIN), Ok(()));
        let lower = format!("bearer  {TOKEN}");
        assert_eq!(
            g.check(&headers(&[json, ("authorization", &lower)]), SNAPSHOT),
            Ok(())
        );
        for bad in [
            "Bearer wrong-token-0123456789".to_string(),
            format!("Basic {TOKEN}"),
            TOKEN.to_string(),
            "Bearer".to_string(),
        ] {
            assert_eq!(
                g.check(&headers(&[json, ("authorization", &bad)]), SNAPSHOT),
                Err(Denied::BadToken),
                "{bad}"
            );
        }
        assert_eq!(g.check(&headers(&[json]), SNAPSHOT), Err(Denied::BadToken));
        let twice = headers(&[json, ("authorization", &auth), ("authorization", &auth)]);
        assert_eq!(g.check(&twice, SNAPSHOT), Err(Denied::BadToken));
    }

    #[test]
    fn browsers_may_not_change_anything() {
        let auth = format!("Bearer {TOKEN}");
        let g = tcp(Some(TOKEN));
        let u = AdminGuard::new(Transport::Unix, None);
        let origin = headers(&[
            ("content-type", "application/json"),
            ("authorization", &auth),
            ("origin", "http://localhost:3000"),
        ]);
        assert_eq!(g.check(&origin, SNAPSHOT), Err(Denied::BrowserOrigin));
        assert_eq!(u.check(&origin, DRAIN), Err(Denied::BrowserOrigin));
        assert_eq!(u.check(&origin, Access::Read), Ok(()));
        for ct in ["text/plain", "application/x-www-form-urlencoded", "json"] {
            let h = headers(&[("content-type", ct), ("authorization", &auth)]);
            assert_eq!(g.check(&h, SNAPSHOT), Err(Denied::ContentType), "{ct}");
            assert_eq!(u.check(&h, DRAIN), Err(Denied::ContentType), "{ct}");
        }
        let charset = headers(&[("content-type", "Application/JSON; charset=utf-8")]);
        assert_eq!(u.check(&charset, SNAPSHOT), Ok(()));
        assert_eq!(u.check(&headers(&[]), SNAPSHOT), Err(Denied::ContentType));
        assert_eq!(u.check(&headers(&[]), DRAIN), Ok(()));
        assert_eq!(
            Denied::ContentType.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        assert_eq!(Denied::NoToken.status(), StatusCode::FORBIDDEN);
        assert!(Denied::NoToken.message().contains("--admin-token-file"));
    }
}
