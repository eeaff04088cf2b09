//! Tags of load balancers, target groups, listeners and rules: AddTags, RemoveTags,
//! DescribeTags, and the checks the create operations share.

use std::collections::BTreeSet;

use berth_awsproto::{ApiError, Context};
use berth_store::{Read, Writer};
use serde::{Deserialize, Serialize};

use crate::common::{listener, load_balancer, rule, target_group};
use crate::errors::{err, missing, required, validation, DUPLICATE_TAG_KEYS, TOO_MANY_TAGS};
use crate::model::Tag;
use crate::records::{
    parse_any, put, ArnRef, Keys, ListenerRec, LoadBalancerRec, RuleRec, TargetGroupRec,
};

/// The most tags a resource has.
pub const MAX_TAGS: usize = 50;
/// The most resources one call names.
const MAX_RESOURCES: usize = 20;

fn check_tag(t: &Tag, i: usize) -> Result<(String, String), ApiError> {
    let key = required(&t.key, &format!("Tags.member.{i}.Key"))?;
    let value = t.value.clone().unwrap_or_default();
    let allowed = |s: &str| {
        s.chars()
            .all(|c| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c))
    };
    if key.is_empty() || key.chars().count() > 128 || !allowed(key) {
        return Err(validation(format!(
            "Tag key '{key}' must be 1 to 128 letters, digits, spaces and _.:/=+-@"
        )));
    }
    if key.starts_with("aws:") {
        return Err(validation(format!(
            "Tag key '{key}' cannot start with 'aws:'"
        )));
    }
    if value.chars().count() > 256 || !allowed(&value) {
        return Err(validation(format!(
            "Tag value '{value}' must be at most 256 letters, digits, spaces and _.:/=+-@"
        )));
    }
    Ok((key.clone(), value))
}

/// `new` merged into `current`: each checked, no key twice in `new`, at most
/// [`MAX_TAGS`] in all.
pub fn merge(current: &[Tag], new: &[Tag]) -> Result<Vec<Tag>, ApiError> {
    let mut seen = BTreeSet::new();
    let mut out: Vec<Tag> = current.to_vec();
    for (i, t) in new.iter().enumerate() {
        let (key, value) = check_tag(t, i + 1)?;
        if !seen.insert(key.clone()) {
            return Err(err(
                DUPLICATE_TAG_KEYS,
                format!("Tag key '{key}' is duplicated"),
            ));
        }
        out.retain(|o| o.key.as_deref() != Some(&key));
        out.push(Tag {
            key: Some(key),
            value: Some(value),
        });
    }
    if out.len() > MAX_TAGS {
        return Err(err(
            TOO_MANY_TAGS,
            format!("A resource can have at most {MAX_TAGS} tags"),
        ));
    }
    Ok(out)
}

/// A resource's record, by its ARN.
enum Tagged {
    Lb(Box<LoadBalancerRec>),
    Tg(Box<TargetGroupRec>),
    Listener(Box<ListenerRec>),
    Rule(Box<RuleRec>),
}

impl Tagged {
    fn load(r: &impl Read, ctx: &Context, arn: &str) -> Result<Tagged, ApiError> {
        // An ARN of another account or region names nothing here: found by kind.
        let kind = parse_any(ctx, arn)?;
        Ok(match kind {
            Some(ArnRef::TargetGroup { .. }) => Tagged::Tg(Box::new(target_group(r, ctx, arn)?)),
            Some(ArnRef::Listener { .. }) => Tagged::Listener(Box::new(listener(r, ctx, arn)?)),
            Some(ArnRef::Rule { .. }) => Tagged::Rule(Box::new(rule(r, ctx, arn)?)),
            Some(ArnRef::LoadBalancer { .. }) | None => {
                Tagged::Lb(Box::new(load_balancer(r, ctx, arn)?))
            }
        })
    }

    fn tags(&mut self) -> &mut Vec<Tag> {
        match self {
            Tagged::Lb(x) => &mut x.tags,
            Tagged::Tg(x) => &mut x.tags,
            Tagged::Listener(x) => &mut x.tags,
            Tagged::Rule(x) => &mut x.tags,
        }
    }

    fn save(&self, w: &mut Writer<'_>, keys: &Keys) -> Result<(), ApiError> {
        match self {
            Tagged::Lb(x) => put(w, &keys.lb(&x.id), x),
            Tagged::Tg(x) => put(w, &keys.tg(&x.id), x),
            Tagged::Listener(x) => put(w, &keys.listener(&x.lb_id, &x.id), x),
            Tagged::Rule(x) => put(w, &keys.rule(&x.listener_id, &x.id), x),
        }
    }
}

fn resources(arns: &Option<Vec<String>>) -> Result<&Vec<String>, ApiError> {
    let arns = required(arns, "ResourceArns")?;
    if arns.is_empty() {
        return Err(missing("ResourceArns"));
    }
    if arns.len() > MAX_RESOURCES {
        return Err(validation(format!(
            "At most {MAX_RESOURCES} resource ARNs can be specified"
        )));
    }
    Ok(arns)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AddTagsIn {
    resource_arns: Option<Vec<String>>,
    tags: Option<Vec<Tag>>,
}

pub fn add(w: &mut Writer<'_>, ctx: &Context, i: AddTagsIn) -> Result<Empty, ApiError> {
    let arns = resources(&i.resource_arns)?;
    let tags = required(&i.tags, "Tags")?;
    let keys = Keys::new(ctx);
    for arn in arns {
        let mut res = Tagged::load(w, ctx, arn)?;
        let merged = merge(res.tags(), tags)?;
        *res.tags() = merged;
        res.save(w, &keys)?;
    }
    Ok(Empty {})
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct RemoveTagsIn {
    resource_arns: Option<Vec<String>>,
    tag_keys: Option<Vec<String>>,
}

pub fn remove(w: &mut Writer<'_>, ctx: &Context, i: RemoveTagsIn) -> Result<Empty, ApiError> {
    let arns = resources(&i.resource_arns)?;
    let remove = required(&i.tag_keys, "TagKeys")?;
    let keys = Keys::new(ctx);
    for arn in arns {
        let mut res = Tagged::load(w, ctx, arn)?;
        res.tags()
            .retain(|t| !remove.iter().any(|k| t.key.as_deref() == Some(k)));
        res.save(w, &keys)?;
    }
    Ok(Empty {})
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DescribeTagsIn {
    resource_arns: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagDescription {
    resource_arn: String,
    tags: Vec<Tag>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeTagsOut {
    tag_descriptions: Vec<TagDescription>,
}

pub fn describe(
    r: &impl Read,
    ctx: &Context,
    i: DescribeTagsIn,
) -> Result<DescribeTagsOut, ApiError> {
    let arns = resources(&i.resource_arns)?;
    let mut out = Vec::new();
    for arn in arns {
        let mut res = Tagged::load(r, ctx, arn)?;
        out.push(TagDescription {
            resource_arn: arn.clone(),
            tags: res.tags().clone(),
        });
    }
    Ok(DescribeTagsOut {
        tag_descriptions: out,
    })
}

/// An answer with no members.
#[derive(Debug, Serialize)]
pub struct Empty {}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(k: &str, v: &str) -> Tag {
        Tag {
            key: Some(k.into()),
            value: Some(v.into()),
        }
    }

    #[test]
    fn tags_merge_with_elb_limits() {
        let got = merge(
            &[tag("a", "1"), tag("b", "2")],
            &[tag("b", "3"), tag("c", "")],
        )
        .unwrap();
        assert_eq!(got, [tag("a", "1"), tag("b", "3"), tag("c", "")]);
        assert_eq!(
            merge(&[], &[tag("a", "1"), tag("a", "2")])
                .unwrap_err()
                .code,
            "DuplicateTagKeys"
        );
        let many: Vec<Tag> = (0..51).map(|i| tag(&format!("k{i}"), "v")).collect();
        assert_eq!(merge(&[], &many).unwrap_err().code, "TooManyTags");
        assert_eq!(
            merge(&[], &[tag("aws:x", "1")]).unwrap_err().code,
            "ValidationError"
        );
        assert_eq!(
            merge(&[], &[tag("", "1")]).unwrap_err().code,
            "ValidationError"
        );
        let no_key = Tag {
            key: None,
            value: Some("v".into()),
        };
        assert!(merge(&[], &[no_key])
            .unwrap_err()
            .message
            .contains("Tags.member.1.Key"));
    }
}
