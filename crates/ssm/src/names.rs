//! Parameter names as AWS constrains them, their ARNs, and the references readers
//! give: a name or a full ARN, optionally followed by a selector (`:3`, `:prod`).

use berth_awsproto::{ApiError, Context};

use crate::errors::{check, err, invalid, length, Check, ACCESS_DENIED, HIERARCHY_LIMIT};

/// The most levels a hierarchical name may have.
pub(crate) const MAX_LEVELS: usize = 15;
/// The longest a parameter's ARN may be.
const MAX_ARN: usize = 1011;

/// What AWS says of a name with characters or sub-paths it does not take.
pub(crate) const NAME_RULES: &str = "Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). \
If formed as a path, it can consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix \
of letters, numbers and the following 3 symbols .-_";

fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_.-/".contains(c)
}

/// The name without its leading slash, as its ARN and reserved-prefix check read it.
fn bare(name: &str) -> &str {
    name.strip_prefix('/').unwrap_or(name)
}

/// The shape every name has, reader's or writer's: (what is wrong, test).
const SHAPE: &[Check<str>] = &[
    ("letters, numbers, .-_ and /", |n| n.chars().all(name_char)),
    ("no empty sub-path", |n| {
        !bare(n).is_empty() && bare(n).split('/').all(|s| !s.is_empty())
    }),
];

/// The shape of a name (any operation): its length, characters and sub-paths, a
/// `ValidationException` naming `member` otherwise; a name with `/` must start with
/// one; at most [`MAX_LEVELS`] levels.
pub(crate) fn check_shape(name: &str, member: &str) -> Result<(), ApiError> {
    length(name, member, 1, 2048)?;
    check(SHAPE, name, |_| invalid(NAME_RULES))?;
    if name.contains('/') && !name.starts_with('/') {
        return Err(invalid(format!(
            "Parameter name must be a fully qualified name: '{name}' contains '/' and so must begin with '/'."
        )));
    }
    if levels(name) > MAX_LEVELS {
        return Err(err(
            HIERARCHY_LIMIT,
            format!(
                "A hierarchy can have a maximum of {MAX_LEVELS} levels: '{name}' has {}.",
                levels(name)
            ),
        ));
    }
    Ok(())
}

/// A new parameter's name: [`check_shape`], not reserved (`aws`, `ssm` prefixes: a
/// path under `/aws` is access denied, as on AWS), its ARN no longer than 1011.
pub(crate) fn check_new(ctx: &Context, name: &str) -> Result<(), ApiError> {
    check_shape(name, "name")?;
    let first = bare(name).to_ascii_lowercase();
    if first.starts_with("aws") || first.starts_with("ssm") {
        if name.to_ascii_lowercase().starts_with("/aws/") {
            let message = format!("No access to reserved parameter name: {name}.");
            return Err(err(ACCESS_DENIED, message));
        }
        return Err(invalid(NAME_RULES));
    }
    let arn = parameter_arn(ctx, name);
    if arn.len() > MAX_ARN {
        return Err(invalid(format!(
            "Parameter name: the ARN of '{name}' would have {} characters; at most {MAX_ARN} are allowed.",
            arn.len()
        )));
    }
    Ok(())
}

/// How many levels a name has (`/a/b` and `a` have 2 and 1).
pub(crate) fn levels(name: &str) -> usize {
    bare(name).split('/').count()
}

/// A parameter's ARN: `arn:aws:ssm:<region>:<account>:parameter/<name without its
/// leading slash>`.
pub fn parameter_arn(ctx: &Context, name: &str) -> String {
    ctx.arn("ssm", &format!("parameter/{}", bare(name)))
}

/// A version or a label after the name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Selector {
    /// `:3`.
    Version(u64),
    /// `:prod`.
    Label(String),
}

impl Selector {
    /// As the `Selector` member shows it.
    pub(crate) fn text(&self) -> String {
        match self {
            Selector::Version(n) => format!(":{n}"),
            Selector::Label(l) => format!(":{l}"),
        }
    }
}

/// What a reader names: the parameter (the names it may be stored under: an ARN
/// `parameter/x` may be `x` or `/x`) and which version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reference {
    /// The names to look up, in order.
    pub candidates: Vec<String>,
    /// The version asked for; the latest without one.
    pub selector: Option<Selector>,
    /// Whether it is another account's or region's ARN (never found: nothing is shared).
    pub foreign: bool,
}

/// Reads a reference (`member` names it in errors). A name of the wrong shape is a
/// `ValidationException`; `selectors` says whether a `:version` or `:label` may follow.
pub(crate) fn reference(
    ctx: &Context,
    given: &str,
    member: &str,
    selectors: bool,
) -> Result<Reference, ApiError> {
    length(given, member, 1, 2048)?;
    let (name, foreign) = match given.strip_prefix("arn:") {
        Some(rest) => from_arn(ctx, given, rest)?,
        None => (given.to_string(), false),
    };
    let (name, selector) = match name.split_once(':') {
        Some((n, s)) if selectors => (n.to_string(), Some(selector(s, given)?)),
        _ => (name, None),
    };
    check_shape(&name, member)?;
    let candidates = if given.starts_with("arn:") && !name.contains('/') {
        vec![name.clone(), format!("/{name}")]
    } else {
        vec![name]
    };
    Ok(Reference {
        candidates,
        selector,
        foreign,
    })
}

/// The name in `arn:<partition>:ssm:<region>:<account>:parameter/<name>` (with a
/// leading slash when hierarchical), and whether the ARN is of another account or
/// region.
fn from_arn(ctx: &Context, given: &str, rest: &str) -> Result<(String, bool), ApiError> {
    let parts: Vec<&str> = rest.splitn(5, ':').collect();
    let bad = || {
        invalid(format!("'{given}' is not the ARN of a parameter: arn:aws:ssm:<region>:<account>:parameter/<name>"))
    };
    let [_partition, service, region, account, resource] = parts[..] else {
        return Err(bad());
    };
    let name = resource.strip_prefix("parameter/").ok_or_else(bad)?;
    if service != "ssm" || name.is_empty() || name.starts_with('/') {
        return Err(bad());
    }
    let foreign = region != ctx.region || account != ctx.account;
    let path = name.split(':').next().unwrap_or_default();
    let name = if path.contains('/') {
        format!("/{name}")
    } else {
        name.to_string()
    };
    Ok((name, foreign))
}

fn selector(s: &str, given: &str) -> Result<Selector, ApiError> {
    let bad = || {
        invalid(format!("Invalid selector in '{given}': a version number or a label may follow the name after one ':'."))
    };
    if s.is_empty() || s.contains(':') || s.len() > 100 {
        return Err(bad());
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().map(Selector::Version).map_err(|_| bad());
    }
    Ok(Selector::Label(s.to_string()))
}

/// A path (`/a/b`, or `/`) as GetParametersByPath and the Path filter take it,
/// without a trailing slash (but `/` itself).
pub(crate) fn check_path(path: &str, member: &str) -> Result<String, ApiError> {
    length(path, member, 1, 2048)?;
    let trimmed = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    let ok = trimmed.starts_with('/')
        && trimmed.chars().all(name_char)
        && (trimmed == "/" || trimmed[1..].split('/').all(|s| !s.is_empty()));
    if !ok {
        return Err(invalid(format!(
            "The parameter doesn't meet the parameter name requirements: the path '{path}' at '{member}' must begin with \
             a forward slash \"/\" and use only letters, numbers, . - _ and \"/\" between sub-paths."
        )));
    }
    if trimmed != "/" && levels(trimmed) > MAX_LEVELS {
        return Err(err(
            HIERARCHY_LIMIT,
            format!("A hierarchy can have a maximum of {MAX_LEVELS} levels: the path '{path}' has more."),
        ));
    }
    Ok(trimmed.to_string())
}

/// Whether `name` is under `path` (as [`check_path`] returns it): directly, or at any
/// depth when `recursive`. A name without a leading slash is at the root.
pub(crate) fn in_path(name: &str, path: &str, recursive: bool) -> bool {
    let rel = if path == "/" {
        Some(bare(name))
    } else {
        name.strip_prefix(path).and_then(|r| r.strip_prefix('/'))
    };
    match rel {
        Some(r) if !r.is_empty() => recursive || !r.contains('/'),
        _ => false,
    }
}

/// The store-key prefix (after the parameters' prefix) every name under `path` has.
pub(crate) fn path_prefix(path: &str) -> String {
    if path == "/" {
        String::new()
    } else {
        format!("{path}/")
    }
}

/// A name with a leading slash, as the Name filter compares names.
pub(crate) fn rooted(name: &str) -> String {
    format!("/{}", bare(name.trim_end_matches('/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context::new("123456789012", "eu-west-1")
    }

    #[test]
    fn new_names_table() {
        let deep = format!("/{}", vec!["l"; 16].join("/"));
        let fifteen = format!("/{}", vec!["l"; 15].join("/"));
        let long = "x".repeat(2049);
        let rows: &[(&str, Option<&str>)] = &[
            ("plain", None),
            ("/app/db-host_1.x", None),
            (&fifteen, None),
            ("/awsome/x", Some("ValidationException")),
            ("ssm-thing", Some("ValidationException")),
            ("/aws/service/x", Some("AccessDeniedException")),
            ("AWS", Some("ValidationException")),
            ("a b", Some("ValidationException")),
            ("/a//b", Some("ValidationException")),
            ("/a/", Some("ValidationException")),
            ("/", Some("ValidationException")),
            ("a/b", Some("ValidationException")),
            ("", Some("ValidationException")),
            (&long, Some("ValidationException")),
            (&deep, Some("HierarchyLevelLimitExceededException")),
            ("x:1", Some("ValidationException")),
        ];
        for (name, want) in rows {
            let got = check_new(&ctx(), name).err().map(|e| e.code);
            assert_eq!(got.as_deref(), *want, "{name}");
        }
        let near = "n".repeat(1011 - parameter_arn(&ctx(), "").len());
        assert!(check_new(&ctx(), &near).is_ok());
        assert!(check_new(&ctx(), &format!("{near}n")).is_err());
    }

    #[test]
    fn arns_drop_the_leading_slash() {
        assert_eq!(
            parameter_arn(&ctx(), "/a/b"),
            "arn:aws:ssm:eu-west-1:123456789012:parameter/a/b"
        );
        assert_eq!(
            parameter_arn(&ctx(), "plain"),
            "arn:aws:ssm:eu-west-1:123456789012:parameter/plain"
        );
    }

    #[test]
    fn references_table() {
        let arn = "arn:aws:ssm:eu-west-1:123456789012:parameter";
        let rows: Vec<(String, Vec<&str>, Option<Selector>, bool)> = vec![
            ("x".into(), vec!["x"], None, false),
            (
                "/a/b:3".into(),
                vec!["/a/b"],
                Some(Selector::Version(3)),
                false,
            ),
            (
                "x:prod".into(),
                vec!["x"],
                Some(Selector::Label("prod".into())),
                false,
            ),
            (format!("{arn}/a/b"), vec!["/a/b"], None, false),
            (
                format!("{arn}/a/b:2"),
                vec!["/a/b"],
                Some(Selector::Version(2)),
                false,
            ),
            (format!("{arn}/x"), vec!["x", "/x"], None, false),
            (
                "arn:aws:ssm:us-east-1:123456789012:parameter/x".into(),
                vec!["x", "/x"],
                None,
                true,
            ),
        ];
        for (given, names, sel, foreign) in rows {
            let r = reference(&ctx(), &given, "name", true).unwrap();
            assert_eq!(r.candidates, names, "{given}");
            assert_eq!(r.selector, sel, "{given}");
            assert_eq!(r.foreign, foreign, "{given}");
        }
        for bad in [
            "x:",
            "x:1:2",
            "arn:aws:s3:::b",
            "arn:aws:ssm:r:a:parameter/",
            "a b",
            "x:1",
        ] {
            let selectors = bad != "x:1";
            let e = reference(&ctx(), bad, "name", selectors).unwrap_err();
            assert_eq!(e.code, "ValidationException", "{bad}");
        }
        assert_eq!(Selector::Version(4).text(), ":4");
    }

    #[test]
    fn paths_table() {
        let rows: &[(&str, &str, bool, bool)] = &[
            ("/a/b", "/a", false, true),
            ("/a/b/c", "/a", false, false),
            ("/a/b/c", "/a", true, true),
            ("/ab", "/a", true, false),
            ("/a", "/a", true, false),
            ("x", "/", false, true),
            ("/x", "/", false, true),
            ("/x/y", "/", false, false),
            ("/x/y", "/", true, true),
        ];
        for (name, path, recursive, want) in rows {
            assert_eq!(
                in_path(name, path, *recursive),
                *want,
                "{name} in {path} {recursive}"
            );
        }
        assert_eq!(check_path("/a/b/", "path").unwrap(), "/a/b");
        assert_eq!(check_path("/", "path").unwrap(), "/");
        assert!(check_path("a", "path").is_err());
        assert!(check_path("/a//b", "path").is_err());
        assert_eq!(path_prefix("/"), "");
        assert_eq!(path_prefix("/a"), "/a/");
        assert_eq!(rooted("x"), "/x");
        assert_eq!(rooted("/x"), "/x");
    }
}
