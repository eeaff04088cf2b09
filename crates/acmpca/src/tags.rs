//! TagCertificateAuthority, UntagCertificateAuthority, ListTags.

use berth_awsproto::{encode_token, ApiError, Context};
use berth_store::{Read, Writer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ca::{page, require, save};
use crate::errors::{check, err, missing, validation, Check, INVALID_TAG, TOO_MANY_TAGS};
use crate::records::Tag;

/// A CA has at most this many tags.
const MAX_TAGS: usize = 50;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct TagIn {
    key: Option<String>,
    value: Option<String>,
}

fn tag_char(c: char) -> bool {
    c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c)
}

/// The checks every tag passes: (what is wrong, test).
const TAG_RULES: &[Check<Tag>] = &[
    ("the key must have between 1 and 128 characters", |t| {
        (1..=128).contains(&t.key.chars().count())
    }),
    ("the value must have at most 256 characters", |t| {
        t.value.as_deref().is_none_or(|v| v.chars().count() <= 256)
    }),
    (
        "keys and values may hold letters, digits, spaces and _.:/=+-@",
        |t| {
            t.key.chars().all(tag_char)
                && t.value.as_deref().is_none_or(|v| v.chars().all(tag_char))
        },
    ),
    ("keys starting with aws: are reserved", |t| {
        !t.key.to_ascii_lowercase().starts_with("aws:")
    }),
];

/// Request tags at `member`, checked (`InvalidTagException` naming the tag). An empty
/// list is refused as the model's minimum of one.
pub(crate) fn check_tags(
    tags: Option<&[TagIn]>,
    member: &str,
) -> Result<Option<Vec<Tag>>, ApiError> {
    let Some(tags) = tags else { return Ok(None) };
    if tags.is_empty() || tags.len() > MAX_TAGS {
        return Err(validation(
            member,
            "Member must have length between 1 and 50",
        ));
    }
    let mut out = Vec::with_capacity(tags.len());
    for (i, t) in tags.iter().enumerate() {
        let key = t
            .key
            .clone()
            .ok_or_else(|| missing(&format!("{member}.{}.Key", i + 1)))?;
        let tag = Tag {
            key,
            value: t.value.clone(),
        };
        check(TAG_RULES, &tag, |why| {
            err(
                INVALID_TAG,
                format!("{member}.{} ({}): {why}", i + 1, tag.key),
            )
        })?;
        out.push(tag);
    }
    Ok(Some(out))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct TagsIn {
    certificate_authority_arn: Option<String>,
    tags: Option<Vec<TagIn>>,
}

fn required_tags(i: &TagsIn) -> Result<Vec<Tag>, ApiError> {
    check_tags(i.tags.as_deref(), "Tags")?.ok_or_else(|| missing("Tags"))
}

pub(crate) fn tag(
    w: &mut Writer<'_>,
    ctx: &Context,
    i: TagsIn,
    now: f64,
) -> Result<Value, ApiError> {
    let tags = required_tags(&i)?;
    let (arn, mut rec) = require(w, ctx, &i.certificate_authority_arn, now)?;
    for t in tags {
        match rec.tags.iter_mut().find(|o| o.key == t.key) {
            Some(o) => o.value = t.value,
            None => rec.tags.push(t),
        }
    }
    if rec.tags.len() > MAX_TAGS {
        let message = format!("{} would have more than {MAX_TAGS} tags", arn.arn);
        return Err(err(TOO_MANY_TAGS, message));
    }
    save(w, &arn, &rec)?;
    Ok(Value::Object(Default::default()))
}

/// Removes the tags named: a tag given with a value goes only when its value matches.
pub(crate) fn untag(
    w: &mut Writer<'_>,
    ctx: &Context,
    i: TagsIn,
    now: f64,
) -> Result<Value, ApiError> {
    let tags = required_tags(&i)?;
    let (arn, mut rec) = require(w, ctx, &i.certificate_authority_arn, now)?;
    rec.tags.retain(|o| {
        !tags
            .iter()
            .any(|t| t.key == o.key && (t.value.is_none() || t.value == o.value))
    });
    save(w, &arn, &rec)?;
    Ok(Value::Object(Default::default()))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListTagsIn {
    certificate_authority_arn: Option<String>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListTagsOut {
    tags: Vec<Tag>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

/// A CA's tags, in the order they were added; a page token is the index to resume at.
pub(crate) fn list(
    r: &impl Read,
    ctx: &Context,
    i: ListTagsIn,
    now: f64,
) -> Result<ListTagsOut, ApiError> {
    let (_, rec) = require(r, ctx, &i.certificate_authority_arn, now)?;
    let (max, after) = page(i.max_results, &i.next_token, "tags/", MAX_TAGS)?;
    let start = after
        .and_then(|k| {
            k.strip_prefix("tags/")
                .and_then(|n| n.parse::<usize>().ok())
        })
        .unwrap_or(0);
    let tags: Vec<Tag> = rec.tags.iter().skip(start).take(max).cloned().collect();
    let end = start + tags.len();
    let next_token = (end < rec.tags.len()).then(|| encode_token(&format!("tags/{end}")));
    Ok(ListTagsOut { tags, next_token })
}
