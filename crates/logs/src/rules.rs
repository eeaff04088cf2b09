//! The model's constraints on names, limits and tags, as tables of named checks.

use berth_awsproto::{ApiError, Context};

use crate::errors::{check, constraint, Check};
use crate::records::Tags;

fn group_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | '#')
}

fn tag_char(c: char) -> bool {
    c.is_alphanumeric()
        || c.is_whitespace()
        || matches!(c, '_' | '.' | ':' | '/' | '=' | '+' | '-' | '@')
}

const GROUP_NAME: &[Check<str>] = &[
    ("Member must have length greater than or equal to 1", |s| {
        !s.is_empty()
    }),
    ("Member must have length less than or equal to 512", |s| {
        s.chars().count() <= 512
    }),
    (
        "Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+",
        |s| s.chars().all(group_name_char),
    ),
];

const STREAM_NAME: &[Check<str>] = &[
    ("Member must have length greater than or equal to 1", |s| {
        !s.is_empty()
    }),
    ("Member must have length less than or equal to 512", |s| {
        s.chars().count() <= 512
    }),
    (
        "Member must satisfy regular expression pattern: [^:*]*",
        |s| !s.contains([':', '*']),
    ),
];

const GROUP_NAME_PATTERN_RULES: &[Check<str>] = &[
    ("Member must have length less than or equal to 512", |s| {
        s.chars().count() <= 512
    }),
    (
        "Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]*",
        |s| s.chars().all(group_name_char),
    ),
];

const TAG_KEY: &[Check<str>] = &[
    ("Member must have length greater than or equal to 1", |s| {
        !s.is_empty()
    }),
    ("Member must have length less than or equal to 128", |s| {
        s.chars().count() <= 128
    }),
    (
        "Member must satisfy regular expression pattern: ^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+)$",
        |s| s.chars().all(tag_char),
    ),
];

const TAG_VALUE: &[Check<str>] = &[
    ("Member must have length less than or equal to 256", |s| {
        s.chars().count() <= 256
    }),
    (
        "Member must satisfy regular expression pattern: ^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$",
        |s| s.chars().all(tag_char),
    ),
];

/// A log group name (`member` names the field in the error).
pub(crate) fn group_name(member: &str, name: &str) -> Result<(), ApiError> {
    check(GROUP_NAME, name, |why| constraint(name, member, why))
}

/// A log stream name.
pub(crate) fn stream_name(member: &str, name: &str) -> Result<(), ApiError> {
    check(STREAM_NAME, name, |why| constraint(name, member, why))
}

/// DescribeLogGroups' `logGroupNamePattern`.
pub(crate) fn group_name_pattern(member: &str, pattern: &str) -> Result<(), ApiError> {
    check(GROUP_NAME_PATTERN_RULES, pattern, |why| {
        constraint(pattern, member, why)
    })
}

/// A string no longer than `max` characters.
pub(crate) fn max_len(member: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.chars().count() > max {
        return Err(constraint(
            value,
            member,
            &format!("Member must have length less than or equal to {max}"),
        ));
    }
    Ok(())
}

/// An optional integer within `min..=max`, or `default`.
pub(crate) fn limit(
    member: &str,
    value: Option<i64>,
    max: i64,
    default: i64,
) -> Result<usize, ApiError> {
    let Some(v) = value else {
        return Ok(default as usize);
    };
    let why = if v < 1 {
        "Member must have value greater than or equal to 1".to_string()
    } else if v > max {
        format!("Member must have value less than or equal to {max}")
    } else {
        return Ok(v as usize);
    };
    Err(constraint(&v.to_string(), member, &why))
}

/// A timestamp member: not negative.
pub(crate) fn timestamp(member: &str, value: Option<i64>) -> Result<(), ApiError> {
    match value {
        Some(v) if v < 0 => Err(constraint(
            &v.to_string(),
            member,
            "Member must have value greater than or equal to 0",
        )),
        _ => Ok(()),
    }
}

/// A tag map: 1 to 50 entries (more: `TooManyTagsException`), keys and values as the
/// model says.
pub(crate) fn tags(member: &str, tags: &Tags) -> Result<(), ApiError> {
    if tags.is_empty() {
        return Err(constraint(
            "{}",
            member,
            "Member must have length greater than or equal to 1",
        ));
    }
    for (k, v) in tags {
        check(TAG_KEY, k.as_str(), |why| {
            constraint(k, &format!("{member}.key"), why)
        })?;
        check(TAG_VALUE, v.as_str(), |why| {
            constraint(v, &format!("{member}.{k}.member"), why)
        })?;
    }
    Ok(())
}

/// A tag key of a list of keys.
pub(crate) fn tag_key(member: &str, key: &str) -> Result<(), ApiError> {
    check(TAG_KEY, key, |why| constraint(key, member, why))
}

/// A log group's identifier (its name or ARN) as the group's name: an ARN must be of a
/// log group of the caller's account and region, else the group does not exist.
pub(crate) fn identifier_name(ctx: &Context, member: &str, id: &str) -> Result<String, ApiError> {
    if !id.starts_with("arn:") {
        group_name(member, id)?;
        return Ok(id.to_string());
    }
    let prefix = format!("arn:aws:logs:{}:{}:log-group:", ctx.region, ctx.account);
    let name = id
        .strip_prefix(&prefix)
        .map(|rest| rest.strip_suffix(":*").unwrap_or(rest))
        .ok_or_else(crate::errors::group_not_found)?;
    group_name(member, name)?;
    Ok(name.to_string())
}

/// The group a request names by `logGroupName` or `logGroupIdentifier`: one of them,
/// not both.
pub(crate) fn group_of(
    ctx: &Context,
    name: Option<&str>,
    identifier: Option<&str>,
) -> Result<String, ApiError> {
    match (name, identifier) {
        (Some(_), Some(_)) => Err(crate::errors::invalid(
            "LogGroup name and LogGroup ARN are mutually exclusive parameters.",
        )),
        (Some(n), None) => {
            group_name("logGroupName", n)?;
            Ok(n.to_string())
        }
        (None, Some(i)) => identifier_name(ctx, "logGroupIdentifier", i),
        (None, None) => Err(crate::errors::invalid(
            "Should provide either a log group name or a log group identifier.",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_model() {
        let ok = ["a", "/ecs/web", "x.y-z_#1", &"g".repeat(512)];
        for n in ok {
            assert!(group_name("logGroupName", n).is_ok(), "{n}");
        }
        let bad = [("", "length greater"), ("a b", "pattern"), ("é", "pattern")];
        for (n, why) in bad {
            let e = group_name("logGroupName", n).unwrap_err();
            assert_eq!(e.code, "InvalidParameterException");
            assert!(
                e.message.contains(why) && e.message.contains("logGroupName"),
                "{}",
                e.message
            );
        }
        assert!(group_name("logGroupName", &"g".repeat(513)).is_err());
        assert!(stream_name("logStreamName", "web/app/1234 x").is_ok());
        assert!(stream_name("logStreamName", "a:b").is_err());
        assert!(stream_name("logStreamName", "a*").is_err());
    }

    #[test]
    fn limits_and_tags() {
        assert_eq!(limit("limit", None, 50, 50).unwrap(), 50);
        assert_eq!(limit("limit", Some(7), 50, 50).unwrap(), 7);
        for bad in [0, 51, -3] {
            let e = limit("limit", Some(bad), 50, 50).unwrap_err();
            assert!(e.message.contains("'limit'"), "{}", e.message);
        }
        let mut t = Tags::new();
        assert!(tags("tags", &t).is_err());
        t.insert("team".into(), "a b".into());
        assert!(tags("tags", &t).is_ok());
        t.insert("bad!".into(), "x".into());
        assert!(tags("tags", &t).unwrap_err().message.contains("bad!"));
    }

    #[test]
    fn identifiers_are_names_or_arns_of_the_callers_groups() {
        let ctx = Context::new("111122223333", "eu-west-1");
        let arn = "arn:aws:logs:eu-west-1:111122223333:log-group:/ecs/web";
        assert_eq!(identifier_name(&ctx, "id", arn).unwrap(), "/ecs/web");
        assert_eq!(
            identifier_name(&ctx, "id", &format!("{arn}:*")).unwrap(),
            "/ecs/web"
        );
        assert_eq!(identifier_name(&ctx, "id", "/ecs/web").unwrap(), "/ecs/web");
        let other = "arn:aws:logs:us-east-1:111122223333:log-group:/ecs/web";
        assert_eq!(
            identifier_name(&ctx, "id", other).unwrap_err().code,
            "ResourceNotFoundException"
        );
        assert!(group_of(&ctx, Some("a"), Some("a")).is_err());
        assert!(group_of(&ctx, None, None).is_err());
    }
}
