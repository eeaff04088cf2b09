//! Tags: checked on CreateSecret and TagResource, removed by UntagResource.

use berth_awsproto::ApiError;
use berth_store::Writer;
use serde::Deserialize;
use serde_json::Value;

use crate::access::{require_live, save, Env};
use crate::errors::{check, check_lengths, invalid_parameter, validation, Check, Length};
use crate::records::Tag;

/// A secret has at most this many tags.
pub const MAX_TAGS: usize = 50;

const TAG_LENGTHS: &[Length<Tag>] = &[
    Length {
        member: "Key",
        get: |t| Some(t.key.as_str()),
        min: 1,
        max: 128,
    },
    Length {
        member: "Value",
        get: |t| t.value.as_deref(),
        min: 0,
        max: 256,
    },
];

const TAG_RULES: &[Check<Tag>] = &[("keys starting with aws: are reserved", |t| {
    !t.key.to_ascii_lowercase().starts_with("aws:")
})];

/// Tags as a request at `member` gives them, checked (the model's lengths; AWS's
/// reserved prefix); a key given twice keeps its last value.
pub(crate) fn check_tags(tags: Vec<Tag>, member: &str) -> Result<Vec<Tag>, ApiError> {
    if tags.len() > MAX_TAGS {
        return Err(validation(
            member,
            "Member must have length less than or equal to 50",
        ));
    }
    let mut out: Vec<Tag> = Vec::with_capacity(tags.len());
    for (n, t) in tags.into_iter().enumerate() {
        check_lengths(TAG_LENGTHS, &t).map_err(|mut e| {
            e.message = e.message.replacen("'", &format!("'{member}.{}.", n + 1), 1);
            e
        })?;
        check(TAG_RULES, &t, |why| {
            invalid_parameter(format!("{member}.{} ({}): {why}", n + 1, t.key))
        })?;
        merge(&mut out, t);
    }
    Ok(out)
}

/// Adds `t`, replacing the value of a tag with its key.
fn merge(tags: &mut Vec<Tag>, t: Tag) {
    match tags.iter_mut().find(|o| o.key == t.key) {
        Some(o) => o.value = t.value,
        None => tags.push(t),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct TagIn {
    secret_id: String,
    tags: Vec<Tag>,
}

/// TagResource: adds tags, replacing the values of keys the secret has.
pub(crate) fn tag(w: &mut Writer<'_>, env: &Env<'_>, i: TagIn) -> Result<Value, ApiError> {
    let tags = check_tags(i.tags, "Tags")?;
    let mut rec = require_live(w, env.ctx, &i.secret_id)?;
    let before = rec.tags.clone();
    for t in tags {
        merge(&mut rec.tags, t);
    }
    if rec.tags.len() > MAX_TAGS {
        return Err(invalid_parameter(format!(
            "Tags: the secret would have more than {MAX_TAGS} tags"
        )));
    }
    if rec.tags != before {
        save(w, &env.keys(), &rec)?;
    }
    Ok(Value::Object(Default::default()))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct UntagIn {
    secret_id: String,
    tag_keys: Vec<String>,
}

/// UntagResource: removes the tags with the keys given (keys it lacks are ignored).
pub(crate) fn untag(w: &mut Writer<'_>, env: &Env<'_>, i: UntagIn) -> Result<Value, ApiError> {
    if let Some(n) = i
        .tag_keys
        .iter()
        .position(|k| !(1..=128).contains(&k.chars().count()))
    {
        return Err(validation(
            &format!("TagKeys.{}", n + 1),
            "Member must have length between 1 and 128",
        ));
    }
    let mut rec = require_live(w, env.ctx, &i.secret_id)?;
    let before = rec.tags.len();
    rec.tags.retain(|t| !i.tag_keys.contains(&t.key));
    if rec.tags.len() != before {
        save(w, &env.keys(), &rec)?;
    }
    Ok(Value::Object(Default::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(k: &str, v: Option<&str>) -> Tag {
        Tag {
            key: k.to_string(),
            value: v.map(String::from),
        }
    }

    #[test]
    fn tags_are_checked_and_merged() {
        let ok = check_tags(
            vec![t("a", Some("1")), t("b", None), t("a", Some("2"))],
            "Tags",
        )
        .unwrap();
        assert_eq!(ok, [t("a", Some("2")), t("b", None)]);
        let e = check_tags(vec![t("a", None), t("", None)], "Tags").unwrap_err();
        assert_eq!(e.code, "ValidationException");
        assert!(e.message.contains("'Tags.2.Key'"), "{}", e.message);
        let long = "v".repeat(257);
        let e = check_tags(vec![t("a", Some(&long))], "Tags").unwrap_err();
        assert!(e.message.contains("'Tags.1.Value'"), "{}", e.message);
        let e = check_tags(vec![t("AWS:x", None)], "Tags").unwrap_err();
        assert_eq!(e.code, "InvalidParameterException");
        let many: Vec<Tag> = (0..51).map(|i| t(&i.to_string(), None)).collect();
        assert_eq!(
            check_tags(many, "Tags").unwrap_err().code,
            "ValidationException"
        );
    }
}
