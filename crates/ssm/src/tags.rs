//! AddTagsToResource, RemoveTagsFromResource, ListTagsForResource (resource type
//! `Parameter`), and the tag rules PutParameter shares.

use berth_awsproto::ApiError;
use berth_store::{Read, Writer};
use serde::{Deserialize, Serialize};

use crate::errors::{
    check, count, err, invalid, length, missing, Check, INVALID_RESOURCE_ID, INVALID_RESOURCE_TYPE,
    TOO_MANY_TAGS,
};
use crate::get::load;
use crate::names::reference;
use crate::records::{ParamRec, ResourceType, Tag};
use crate::Env;

/// A parameter has at most this many tags.
pub(crate) const MAX_TAGS: usize = 50;

/// A tag as requests carry it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct TagIn {
    key: Option<String>,
    value: Option<String>,
}

/// The characters tag keys and values may hold: letters, spaces, digits, `_.:/=+-@`.
fn tag_char(c: char) -> bool {
    c.is_alphabetic() || c.is_whitespace() || c.is_numeric() || "_.:/=+-@".contains(c)
}

const KEY_RULES: &[Check<str>] = &[
    ("letters, numbers, spaces and _.:/=+-@ only", |k| {
        k.chars().all(tag_char)
    }),
    ("keys starting with aws: are reserved", |k| {
        !k.to_ascii_lowercase().starts_with("aws:")
    }),
];

/// One tag key at `member`, checked.
pub(crate) fn check_key(key: &str, member: &str) -> Result<(), ApiError> {
    length(key, member, 1, 128)?;
    check(KEY_RULES, key, |why| {
        invalid(format!("Tag key '{key}' at '{member}': {why}."))
    })
}

/// Request tags at `member` (at most 1000 by the model), checked; later duplicates of
/// a key win. Sorted by key.
pub(crate) fn check_tags(tags: &[TagIn], member: &str) -> Result<Vec<Tag>, ApiError> {
    count(tags, member, 0, 1000)?;
    let mut out: Vec<Tag> = Vec::with_capacity(tags.len());
    for (i, t) in tags.iter().enumerate() {
        let at = format!("{member}.{}.member", i + 1);
        let key = t.key.clone().ok_or_else(|| missing(&format!("{at}.key")))?;
        let value = t
            .value
            .clone()
            .ok_or_else(|| missing(&format!("{at}.value")))?;
        check_key(&key, &format!("{at}.key"))?;
        length(&value, &format!("{at}.value"), 0, 256)?;
        if !value.chars().all(tag_char) {
            return Err(invalid(format!(
                "Tag value '{value}' at '{at}.value': letters, numbers, spaces and _.:/=+-@ only."
            )));
        }
        merge(&mut out, vec![Tag { key, value }]);
    }
    Ok(out)
}

/// `new` tags added to `tags` (a key already there takes the new value), sorted by key.
pub(crate) fn merge(tags: &mut Vec<Tag>, new: Vec<Tag>) {
    for t in new {
        match tags.iter_mut().find(|o| o.key == t.key) {
            Some(o) => o.value = t.value,
            None => tags.push(t),
        }
    }
    tags.sort_by(|a, b| a.key.cmp(&b.key));
}

/// The parameter a tagging request names: `ResourceType` must be `Parameter`
/// (another of the model's types names nothing berth has: `InvalidResourceId`; a type
/// outside the model: `InvalidResourceType`), `ResourceId` its name or ARN.
fn resource(
    r: &impl Read,
    env: &Env<'_>,
    kind: &Option<String>,
    id: &Option<String>,
) -> Result<ParamRec, ApiError> {
    let kind = kind.as_deref().ok_or_else(|| missing("resourceType"))?;
    let id = id.as_deref().ok_or_else(|| missing("resourceId"))?;
    let no_id = || {
        err(
            INVALID_RESOURCE_ID,
            format!("The resource ID \"{id}\" is not valid. Verify the ID and try again."),
        )
    };
    match ResourceType::parse(kind) {
        Some(ResourceType::Parameter) => {}
        Some(_) => return Err(no_id()),
        None => {
            let message = format!("The resource type \"{kind}\" is not valid. berth tags resources of type Parameter.");
            return Err(err(INVALID_RESOURCE_TYPE, message));
        }
    }
    let reference = reference(env.ctx, id, "resourceId", false).map_err(|_| no_id())?;
    load(r, env.ctx, &reference)?.ok_or_else(no_id)
}

fn save(w: &mut Writer<'_>, env: &Env<'_>, rec: &ParamRec) -> Result<(), ApiError> {
    let keys = crate::records::Keys::new(&env.ctx.account, &env.ctx.region);
    w.put_json(&keys.param(&rec.name), rec)?;
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct AddIn {
    resource_type: Option<String>,
    resource_id: Option<String>,
    tags: Option<Vec<TagIn>>,
}

/// An empty answer.
#[derive(Debug, Serialize)]
pub(crate) struct Empty {}

pub(crate) fn add(w: &mut Writer<'_>, env: &Env<'_>, i: AddIn) -> Result<Empty, ApiError> {
    let tags = check_tags(i.tags.as_deref().ok_or_else(|| missing("tags"))?, "tags")?;
    let mut rec = resource(w, env, &i.resource_type, &i.resource_id)?;
    merge(&mut rec.tags, tags);
    if rec.tags.len() > MAX_TAGS {
        let message = format!("{} would have more than {MAX_TAGS} tags.", rec.name);
        return Err(err(TOO_MANY_TAGS, message));
    }
    save(w, env, &rec)?;
    Ok(Empty {})
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct RemoveIn {
    resource_type: Option<String>,
    resource_id: Option<String>,
    tag_keys: Option<Vec<String>>,
}

/// Removes the tags named; keys the parameter does not have are ignored.
pub(crate) fn remove(w: &mut Writer<'_>, env: &Env<'_>, i: RemoveIn) -> Result<Empty, ApiError> {
    let keys = i.tag_keys.as_deref().ok_or_else(|| missing("tagKeys"))?;
    for (n, k) in keys.iter().enumerate() {
        length(k, &format!("tagKeys.{}.member", n + 1), 1, 128)?;
    }
    let mut rec = resource(w, env, &i.resource_type, &i.resource_id)?;
    rec.tags.retain(|t| !keys.contains(&t.key));
    save(w, env, &rec)?;
    Ok(Empty {})
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct ListIn {
    resource_type: Option<String>,
    resource_id: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListOut {
    tag_list: Vec<Tag>,
}

pub(crate) fn list(r: &impl Read, env: &Env<'_>, i: ListIn) -> Result<ListOut, ApiError> {
    let rec = resource(r, env, &i.resource_type, &i.resource_id)?;
    Ok(ListOut { tag_list: rec.tags })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(k: &str, v: &str) -> TagIn {
        TagIn {
            key: Some(k.into()),
            value: Some(v.into()),
        }
    }

    #[test]
    fn tag_rules_table() {
        let rows: Vec<(TagIn, Option<&str>)> = vec![
            (t("env", "prod"), None),
            (t("a b:c/d=e+f-g@h_i.j", ""), None),
            (t("", "x"), Some("tags.1.member.key")),
            (t(&"k".repeat(129), "x"), Some("less than or equal to 128")),
            (t("k", &"v".repeat(257)), Some("less than or equal to 256")),
            (t("aws:x", "v"), Some("reserved")),
            (t("k!", "v"), Some("tags.1.member.key")),
            (t("k", "v#"), Some("tags.1.member.value")),
            (
                TagIn {
                    key: Some("k".into()),
                    value: None,
                },
                Some("Value null at 'tags.1.member.value'"),
            ),
        ];
        for (tag, want) in rows {
            let key = tag.key.clone();
            match (check_tags(&[tag], "tags"), want) {
                (Ok(_), None) => {}
                (Err(e), Some(w)) => {
                    assert_eq!(e.code, "ValidationException");
                    assert!(e.message.contains(w), "{key:?}: {}", e.message);
                }
                (got, _) => panic!("{key:?}: {got:?}"),
            }
        }
    }

    #[test]
    fn merging_replaces_values_and_sorts() {
        let mut tags = vec![Tag {
            key: "b".into(),
            value: "1".into(),
        }];
        merge(
            &mut tags,
            vec![
                Tag {
                    key: "a".into(),
                    value: "2".into(),
                },
                Tag {
                    key: "b".into(),
                    value: "3".into(),
                },
            ],
        );
        let keys: Vec<_> = tags
            .iter()
            .map(|t| (t.key.as_str(), t.value.as_str()))
            .collect();
        assert_eq!(keys, [("a", "2"), ("b", "3")]);
    }
}
