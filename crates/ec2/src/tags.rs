//! Tags: `TagSpecification` on create calls, CreateTags, DeleteTags and DescribeTags
//! over every taggable resource (VPCs, subnets, security groups and their rules,
//! network interfaces).

use berth_awsproto::{ApiError, Context};
use berth_store::{Read, Writer};
use serde::{Deserialize, Serialize};

use crate::errors::{invalid, missing, Check, INVALID_ID, TAG_LIMIT_EXCEEDED};
use crate::filter::{one, FilterIn, Filterable, Filters, Getter, Page};
use crate::ids::{self, IdKind};
use crate::records::{
    all, get, put, Keys, NetworkInterface, SecurityGroup, SecurityGroupRule, Subnet, Tag, Vpc,
};
use crate::Return;

/// The most tags a resource carries.
const MAX_TAGS: usize = 50;

/// `Tag.N` of a request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(crate) struct TagIn {
    pub key: Option<String>,
    pub value: Option<String>,
}

/// `TagSpecification.N`: tags for the resource a create call makes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(crate) struct TagSpecIn {
    pub resource_type: Option<String>,
    #[serde(rename = "Tag", default)]
    pub tags: Vec<TagIn>,
}

/// The checks every tag passes: (what is wrong, test).
const TAG_RULES: &[Check<Tag>] = &[
    ("Tag keys must not be empty", |t| !t.key.is_empty()),
    ("Tag keys have at most 127 characters", |t| {
        t.key.chars().count() <= 127
    }),
    ("Tag values have at most 255 characters", |t| {
        t.value.chars().count() <= 255
    }),
    (
        "Tag keys starting with 'aws:' are reserved for internal use",
        |t| !t.key.to_ascii_lowercase().starts_with("aws:"),
    ),
];

/// Request tags, checked; `param` names them in errors (`Tag`, `TagSpecification.1.Tag`).
pub(crate) fn tags_of(tags: &[TagIn], param: &str) -> Result<Vec<Tag>, ApiError> {
    let mut out = Vec::with_capacity(tags.len());
    for (i, t) in tags.iter().enumerate() {
        let key = t
            .key
            .clone()
            .ok_or_else(|| missing(&format!("{param}.{}.Key", i + 1)))?;
        let tag = Tag {
            key,
            value: t.value.clone().unwrap_or_default(),
        };
        if let Some((why, _)) = TAG_RULES.iter().find(|(_, ok)| !ok(&tag)) {
            return Err(invalid(format!("{why}: {param}.{}", i + 1)));
        }
        out.push(tag);
    }
    Ok(out)
}

/// The tags `specs` give a new resource of `resource_type`.
pub(crate) fn tags_for(specs: &[TagSpecIn], resource_type: &str) -> Result<Vec<Tag>, ApiError> {
    let mut out = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let param = format!("TagSpecification.{}", i + 1);
        let kind = spec
            .resource_type
            .as_deref()
            .ok_or_else(|| missing(&format!("{param}.ResourceType")))?;
        if kind != resource_type {
            return Err(invalid(format!(
                "'{kind}' is not a valid taggable resource type for this operation."
            )));
        }
        merge(&mut out, tags_of(&spec.tags, &format!("{param}.Tag"))?)?;
    }
    Ok(out)
}

/// Adds `new` to `tags`, a key given again taking the new value.
pub(crate) fn merge(tags: &mut Vec<Tag>, new: Vec<Tag>) -> Result<(), ApiError> {
    for tag in new {
        match tags.iter_mut().find(|t| t.key == tag.key) {
            Some(t) => t.value = tag.value,
            None => tags.push(tag),
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(ApiError::new(
            400,
            TAG_LIMIT_EXCEEDED,
            "The maximum number of Tags for a resource has been reached.",
        ));
    }
    Ok(())
}

/// A resource that carries tags.
enum Tagged {
    Vpc(Vpc),
    Subnet(Subnet),
    Group(SecurityGroup),
    Rule(SecurityGroupRule),
    Interface(NetworkInterface),
}

impl Tagged {
    /// The resource `id` names: an unknown prefix is `InvalidID`, an unknown id its
    /// kind's not-found error.
    fn load(r: &impl Read, keys: &Keys, id: &str) -> Result<Tagged, ApiError> {
        let kind = IdKind::of(id)
            .ok_or_else(|| ApiError::new(400, INVALID_ID, format!("The ID '{id}' is not valid")))?;
        let found = match kind {
            ids::VPC => get(r, &keys.vpc(id))?.map(Tagged::Vpc),
            ids::SUBNET => get(r, &keys.subnet(id))?.map(Tagged::Subnet),
            ids::GROUP => get(r, &keys.group(id))?.map(Tagged::Group),
            ids::RULE => crate::rules::rule_by_id(r, keys, id)?.map(Tagged::Rule),
            _ => get(r, &keys.eni(id))?.map(Tagged::Interface),
        };
        found.ok_or_else(|| kind.not_found(id))
    }

    fn tags_mut(&mut self) -> &mut Vec<Tag> {
        match self {
            Tagged::Vpc(x) => &mut x.tags,
            Tagged::Subnet(x) => &mut x.tags,
            Tagged::Group(x) => &mut x.tags,
            Tagged::Rule(x) => &mut x.tags,
            Tagged::Interface(x) => &mut x.tags,
        }
    }

    fn save(&self, w: &mut Writer<'_>, keys: &Keys) -> Result<(), ApiError> {
        match self {
            Tagged::Vpc(x) => put(w, &keys.vpc(&x.vpc_id), x),
            Tagged::Subnet(x) => put(w, &keys.subnet(&x.subnet_id), x),
            Tagged::Group(x) => put(w, &keys.group(&x.group_id), x),
            Tagged::Rule(x) => put(w, &keys.rule(&x.group_id, &x.rule_id), x),
            Tagged::Interface(x) => put(w, &keys.eni(&x.network_interface_id), x),
        }
    }
}

/// CreateTags's input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(crate) struct CreateTagsIn {
    pub dry_run: Option<bool>,
    #[serde(rename = "ResourceId", default)]
    resources: Vec<String>,
    #[serde(rename = "Tag", default)]
    tags: Vec<TagIn>,
}

/// CreateTags: adds or overwrites tags on every resource, all or none.
pub(crate) fn create(
    w: &mut Writer<'_>,
    ctx: &Context,
    i: CreateTagsIn,
) -> Result<Return, ApiError> {
    if i.resources.is_empty() {
        return Err(missing("ResourceId"));
    }
    if i.tags.is_empty() {
        return Err(missing("Tag"));
    }
    let tags = tags_of(&i.tags, "Tag")?;
    let keys = Keys::new(ctx);
    for id in &i.resources {
        let mut res = Tagged::load(w, &keys, id)?;
        let mut changed = res.tags_mut().clone();
        merge(&mut changed, tags.clone())?;
        if changed != *res.tags_mut() {
            *res.tags_mut() = changed;
            res.save(w, &keys)?;
        }
    }
    Ok(Return::TRUE)
}

/// DeleteTags's input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(crate) struct DeleteTagsIn {
    pub dry_run: Option<bool>,
    #[serde(rename = "ResourceId", default)]
    resources: Vec<String>,
    #[serde(rename = "Tag", default)]
    tags: Vec<TagIn>,
}

/// DeleteTags: removes the named tags (a tag given with a value only when its value
/// is that), or every tag when none is named.
pub(crate) fn delete(
    w: &mut Writer<'_>,
    ctx: &Context,
    i: DeleteTagsIn,
) -> Result<Return, ApiError> {
    if i.resources.is_empty() {
        return Err(missing("ResourceId"));
    }
    let keys = Keys::new(ctx);
    let doomed = |t: &Tag| {
        i.tags.is_empty()
            || i.tags.iter().any(|d| {
                d.key.as_deref() == Some(t.key.as_str())
                    && d.value.as_ref().is_none_or(|v| *v == t.value)
            })
    };
    for id in &i.resources {
        let mut res = Tagged::load(w, &keys, id)?;
        let before = res.tags_mut().len();
        res.tags_mut().retain(|t| !doomed(t));
        if res.tags_mut().len() != before {
            res.save(w, &keys)?;
        }
    }
    Ok(Return::TRUE)
}

/// One tag of one resource, as DescribeTags answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TagDescription {
    resource_id: String,
    resource_type: &'static str,
    #[serde(flatten)]
    tag: Tag,
}

impl Filterable for TagDescription {
    const FIELDS: &'static [(&'static str, Getter<Self>)] = &[
        ("key", |t, _| one(&t.tag.key)),
        ("value", |t, _| one(&t.tag.value)),
        ("resource-id", |t, _| one(&t.resource_id)),
        ("resource-type", |t, _| one(t.resource_type)),
    ];
    fn tags(&self) -> &[Tag] {
        std::slice::from_ref(&self.tag)
    }
}

/// DescribeTags's input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
pub(crate) struct DescribeTagsIn {
    pub dry_run: Option<bool>,
    #[serde(rename = "Filter", default)]
    filters: Vec<FilterIn>,
    max_results: Option<i32>,
    next_token: Option<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct DescribeTagsOut {
    #[serde(rename = "tagSet")]
    tags: Vec<TagDescription>,
    #[serde(rename = "nextToken", skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

/// Every tag of the account and region, by resource id and key.
fn every_tag(r: &impl Read, keys: &Keys) -> Result<Vec<TagDescription>, ApiError> {
    let mut out = Vec::new();
    let mut add = |id: &str, kind: IdKind, tags: &[Tag]| {
        out.extend(tags.iter().map(|t| TagDescription {
            resource_id: id.to_string(),
            resource_type: kind.resource_type,
            tag: t.clone(),
        }))
    };
    for v in all::<Vpc>(r, &keys.vpcs())? {
        add(&v.vpc_id, ids::VPC, &v.tags);
    }
    for s in all::<Subnet>(r, &keys.subnets())? {
        add(&s.subnet_id, ids::SUBNET, &s.tags);
    }
    for g in all::<SecurityGroup>(r, &keys.groups())? {
        add(&g.group_id, ids::GROUP, &g.tags);
    }
    for x in all::<SecurityGroupRule>(r, &keys.rules())? {
        add(&x.rule_id, ids::RULE, &x.tags);
    }
    for n in all::<NetworkInterface>(r, &keys.enis())? {
        add(&n.network_interface_id, ids::ENI, &n.tags);
    }
    Ok(out)
}

fn tag_order(t: &TagDescription) -> String {
    serde_json::json!([t.resource_id, t.tag.key]).to_string()
}

/// DescribeTags: the tags the filters keep, by resource id and key.
pub(crate) fn describe(
    r: &impl Read,
    ctx: &Context,
    i: DescribeTagsIn,
) -> Result<DescribeTagsOut, ApiError> {
    let filters = Filters::<TagDescription>::new(&i.filters)?;
    let page = Page::new(
        i.max_results,
        i.next_token.as_deref(),
        crate::filter::MAX_RESULTS,
    )?;
    let mut tags = filters.keep(every_tag(r, &Keys::new(ctx))?, ctx);
    tags.sort_by_key(tag_order);
    let (tags, next_token) = page.take(tags, tag_order);
    Ok(DescribeTagsOut { tags, next_token })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(k: &str, v: Option<&str>) -> TagIn {
        TagIn {
            key: Some(k.into()),
            value: v.map(Into::into),
        }
    }

    #[test]
    fn tag_rules() {
        assert_eq!(tags_of(&[t("Name", None)], "Tag").unwrap()[0].value, "");
        for (bad, says) in [
            (t("", Some("x")), "empty"),
            (t(&"k".repeat(128), None), "127"),
            (t("k", Some(&"v".repeat(256))), "255"),
            (t("aws:cloudformation", None), "reserved"),
        ] {
            let e = tags_of(&[t("ok", None), bad], "Tag").unwrap_err();
            assert_eq!(e.code, "InvalidParameterValue");
            assert!(
                e.message.contains(says) && e.message.contains("Tag.2"),
                "{}",
                e.message
            );
        }
        let e = tags_of(&[TagIn::default()], "Tag").unwrap_err();
        assert_eq!(e.code, "MissingParameter");
    }

    #[test]
    fn tag_specifications_name_their_resource_type() {
        let spec = |kind: &str| TagSpecIn {
            resource_type: Some(kind.into()),
            tags: vec![t("Name", Some("web")), t("Name", Some("api"))],
        };
        let tags = tags_for(&[spec("security-group")], "security-group").unwrap();
        assert_eq!(
            tags,
            [Tag {
                key: "Name".into(),
                value: "api".into()
            }]
        );
        let e = tags_for(&[spec("vpc")], "security-group").unwrap_err();
        assert!(e.message.contains("'vpc'"), "{}", e.message);
        let mut many: Vec<Tag> = (0..50)
            .map(|i| Tag {
                key: i.to_string(),
                value: String::new(),
            })
            .collect();
        let e = merge(
            &mut many,
            vec![Tag {
                key: "x".into(),
                value: String::new(),
            }],
        )
        .unwrap_err();
        assert_eq!(e.code, "TagLimitExceeded");
    }
}
