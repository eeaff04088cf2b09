//! Secret names, ARNs, and finding a secret by the id a caller gives: its name, its
//! full ARN, or a partial ARN (the ARN without the six random characters AWS appends
//! to the name, as ECS task definitions often write it).

use berth_awsproto::{random_string, Context};

/// The characters AWS appends to a secret's name in its ARN.
const SUFFIX_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A name's characters: ASCII letters, digits and `/_+=.@-`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_+=.@-".contains(&b))
}

/// A new secret's ARN: its name, a hyphen and six random letters and digits.
pub fn new_arn(ctx: &Context, name: &str) -> String {
    let suffix = random_string(6, SUFFIX_ALPHABET);
    ctx.arn("secretsmanager", &format!("secret:{name}-{suffix}"))
}

/// What a `SecretId` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretId<'a> {
    /// A secret's name.
    Name(&'a str),
    /// A full or partial ARN: the name candidates to look up, most specific first
    /// (the part after `secret:` without a six-character suffix, then all of it).
    Arn {
        /// The ARN as given.
        arn: &'a str,
        /// Names it may belong to.
        names: Vec<&'a str>,
    },
    /// An ARN of another account or region, or of something that is no secret: it
    /// names nothing here.
    Elsewhere,
}

/// Reads a `SecretId` as the caller's account and region see it.
pub fn parse_secret_id<'a>(ctx: &Context, id: &'a str) -> SecretId<'a> {
    if !id.starts_with("arn:") {
        return SecretId::Name(id);
    }
    let prefix = ctx.arn("secretsmanager", "secret:");
    let Some(rest) = id.strip_prefix(prefix.as_str()) else {
        return SecretId::Elsewhere;
    };
    let mut names = Vec::with_capacity(2);
    if let Some(base) = without_suffix(rest) {
        names.push(base);
    }
    names.push(rest);
    SecretId::Arn { arn: id, names }
}

/// `name` without a trailing `-` and six letters or digits, if it has them.
fn without_suffix(name: &str) -> Option<&str> {
    let cut = name.len().checked_sub(7)?;
    let (base, tail) = name.split_at_checked(cut)?;
    let suffix = tail.strip_prefix('-')?;
    (!base.is_empty() && suffix.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(base)
}

/// Whether `arn`, as a caller gave it, names the secret whose ARN is `secret_arn`:
/// the same ARN, or it without the suffix.
pub fn arn_matches(arn: &str, secret_arn: &str) -> bool {
    secret_arn == arn
        || secret_arn
            .strip_prefix(arn)
            .and_then(|tail| tail.strip_prefix('-'))
            .is_some_and(|s| s.len() == 6 && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context::new("123456789012", "us-east-1")
    }

    #[test]
    fn names() {
        for ok in ["a", "prod/db-password", "x_+=.@-"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "a b", "é", "a!b", "a%2F", "a:b"] {
            assert!(!valid_name(bad), "{bad}");
        }
        let arn = new_arn(&ctx(), "prod/db");
        let suffix = arn
            .strip_prefix("arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-")
            .unwrap();
        assert_eq!(suffix.len(), 6);
        assert!(suffix.bytes().all(|b| b.is_ascii_alphanumeric()));
    }

    #[test]
    fn secret_ids() {
        let base = "arn:aws:secretsmanager:us-east-1:123456789012:secret:";
        let cases: &[(&str, SecretId)] = &[
            ("db", SecretId::Name("db")),
            (
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbC123",
                SecretId::Arn {
                    arn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbC123",
                    names: vec!["db", "db-AbC123"],
                },
            ),
            (
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:retail-store-ecs-orders-db",
                SecretId::Arn {
                    arn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:retail-store-ecs-orders-db",
                    names: vec!["retail-store-ecs-orders-db"],
                },
            ),
            (
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:retail-store-ecs-orders",
                SecretId::Arn {
                    arn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:retail-store-ecs-orders",
                    names: vec!["retail-store-ecs", "retail-store-ecs-orders"],
                },
            ),
            (
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:a/b",
                SecretId::Arn {
                    arn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:a/b",
                    names: vec!["a/b"],
                },
            ),
            (
                "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db",
                SecretId::Elsewhere,
            ),
            (
                "arn:aws:secretsmanager:us-east-1:210987654321:secret:db",
                SecretId::Elsewhere,
            ),
            ("arn:aws:ssm:us-east-1:123456789012:parameter/db", SecretId::Elsewhere),
        ];
        for (id, want) in cases {
            assert_eq!(&parse_secret_id(&ctx(), id), want, "{id}");
        }
        let full = format!("{base}db-AbC123");
        assert!(arn_matches(&full, &full));
        assert!(arn_matches(&format!("{base}db"), &full));
        assert!(!arn_matches(&format!("{base}d"), &full));
        assert!(!arn_matches(&format!("{base}db-AbC12"), &full));
        assert!(!arn_matches(&format!("{base}db-AbC999"), &full));
    }
}
