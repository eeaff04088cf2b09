//! What every ECS operation shares: store keys, AWS error codes, name and ARN
//! resolution, pagination and tags.

use berth_awsproto::{ApiError, Context};
use berth_store::Read;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::records::{Cluster, ClusterStatus};

/// ECS's error for a bad parameter.
pub const INVALID_PARAMETER: &str = "InvalidParameterException";

/// The `X-Amz-Target` prefix of ECS.
pub const TARGET_PREFIX: &str = "AmazonEC2ContainerServiceV20141113";

/// The cluster used when a request names none.
pub const DEFAULT_CLUSTER: &str = "default";

// ---- keys -------------------------------------------------------------------------

pub fn root(ctx: &Context) -> String {
    format!("ecs/{}/{}/", ctx.account, ctx.region)
}
pub fn cluster_prefix(ctx: &Context) -> String {
    format!("{}cluster/", root(ctx))
}
pub fn cluster_key(ctx: &Context, name: &str) -> String {
    format!("{}{name}", cluster_prefix(ctx))
}
pub fn taskdef_prefix(ctx: &Context) -> String {
    format!("{}taskdef/", root(ctx))
}
pub fn taskdef_family_prefix(ctx: &Context, family: &str) -> String {
    format!("{}{family}/", taskdef_prefix(ctx))
}
pub fn taskdef_key(ctx: &Context, family: &str, revision: u64) -> String {
    format!("{}{revision:010}", taskdef_family_prefix(ctx, family))
}
pub fn service_prefix(ctx: &Context, cluster: &str) -> String {
    format!("{}service/{cluster}/", root(ctx))
}
pub fn service_key(ctx: &Context, cluster: &str, name: &str) -> String {
    format!("{}{name}", service_prefix(ctx, cluster))
}
pub fn task_prefix(ctx: &Context, cluster: &str) -> String {
    format!("{}task/{cluster}/", root(ctx))
}
pub fn task_key(ctx: &Context, cluster: &str, id: &str) -> String {
    format!("{}{id}", task_prefix(ctx, cluster))
}
pub fn instance_prefix(ctx: &Context, cluster: &str) -> String {
    format!("{}instance/{cluster}/", root(ctx))
}
pub fn instance_key(ctx: &Context, cluster: &str, id: &str) -> String {
    format!("{}{id}", instance_prefix(ctx, cluster))
}
pub fn token_key(ctx: &Context, kind: &str, token: &str) -> String {
    format!("{}token/{kind}/{token}", root(ctx))
}

/// Every (account, region) the store holds ECS records of, found by skipping from one
/// `ecs/<account>/<region>/` root to the next (a seek per root, not a scan of all keys).
pub fn roots(r: &impl Read) -> R<Vec<Context>> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    while let Some((key, _)) = r.scan("ecs/", after.as_deref(), 1)?.pop() {
        let mut parts = key.splitn(4, '/');
        let (Some(_), Some(account), Some(region)) = (parts.next(), parts.next(), parts.next())
        else {
            break;
        };
        let ctx = Context {
            account: account.to_string(),
            region: region.to_string(),
            caller: Default::default(),
        };
        // The first key after every key of this root.
        after = Some(format!("{}\u{10FFFF}", root(&ctx)));
        out.push(ctx);
    }
    Ok(out)
}

// ---- errors -----------------------------------------------------------------------

pub fn client(msg: impl Into<String>) -> ApiError {
    ApiError::new(400, "ClientException", msg)
}
pub fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError::new(400, INVALID_PARAMETER, msg)
}
pub fn cluster_not_found() -> ApiError {
    ApiError::new(400, "ClusterNotFoundException", "Cluster not found.")
}
pub fn service_not_found() -> ApiError {
    ApiError::new(400, "ServiceNotFoundException", "Service not found.")
}
pub fn service_not_active() -> ApiError {
    ApiError::new(400, "ServiceNotActiveException", "Service was not ACTIVE.")
}
pub fn namespace_not_found(ns: &str) -> ApiError {
    ApiError::new(
        400,
        "NamespaceNotFoundException",
        format!("The specified namespace '{ns}' was not found."),
    )
}
/// Every ECS operation's result; store errors convert with `?` (`InternalFailure`).
pub type R<T> = Result<T, ApiError>;

// ---- names and ARNs ---------------------------------------------------------------

/// The last path segment of an ARN of `kind` (`cluster`, `service`, ...) or the value
/// itself when it is a plain name.
pub fn name_from(value: &str, kind: &str) -> String {
    if value.starts_with("arn:") {
        let resource = value.splitn(6, ':').nth(5).unwrap_or_default();
        let rest = resource
            .strip_prefix(kind)
            .and_then(|r| r.strip_prefix('/'))
            .unwrap_or(resource);
        rest.rsplit('/').next().unwrap_or(rest).to_string()
    } else {
        value.to_string()
    }
}

/// The cluster a request names (name or ARN), `default` when it names none.
pub fn cluster_name(cluster: Option<&str>) -> String {
    match cluster {
        None | Some("") => DEFAULT_CLUSTER.to_string(),
        Some(c) => name_from(c, "cluster"),
    }
}

/// `arn:aws:ecs:<region>:<account>:cluster/<name>`.
pub fn cluster_arn(ctx: &Context, name: &str) -> String {
    ctx.arn("ecs", &format!("cluster/{name}"))
}

/// An ACTIVE (or PROVISIONING) cluster, or ClusterNotFoundException.
pub fn active_cluster(r: &impl Read, ctx: &Context, name: &str) -> R<Cluster> {
    match r.get_json::<Cluster>(&cluster_key(ctx, name))? {
        Some(c) if c.status != ClusterStatus::Inactive => Ok(c),
        Some(_) => Err(ApiError::new(
            400,
            "ClusterNotFoundException",
            "The referenced cluster was inactive.",
        )),
        None => Err(cluster_not_found()),
    }
}

/// Valid names: up to 255 letters, digits, hyphens and underscores.
pub fn check_name(value: &str, field: &str) -> R<()> {
    if value.is_empty()
        || value.len() > 255
        || !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(invalid(format!(
            "{field} '{value}' is invalid: up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed."
        )));
    }
    Ok(())
}

// ---- pagination -------------------------------------------------------------------

/// Validates `maxResults` against the operation's bounds and returns the page size.
pub fn page_size(max_results: Option<i64>, default: usize, max: usize) -> R<usize> {
    match max_results {
        None => Ok(default),
        Some(n) if n >= 1 && n as usize <= max => Ok(n as usize),
        Some(n) => Err(invalid(format!(
            "maxResults {n} is out of range: it must be between 1 and {max}."
        ))),
    }
}

/// A list operation's answer: `{<key>: items, "nextToken": ...}`.
pub fn page_json(key: &str, items: Vec<Value>, next: Option<String>) -> Value {
    let mut out = json!({ key: items });
    if let Some(n) = next {
        out["nextToken"] = json!(n);
    }
    out
}

// ---- tags -------------------------------------------------------------------------

/// A tag as the API shows it (absent members stay absent).
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
pub struct Tag {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// Validates ECS tags (at most 50; key 1-128, value 0-256; no `aws:` prefix).
pub fn check_tags(tags: &[Tag]) -> R<()> {
    if tags.len() > 50 {
        return Err(invalid("tags: a resource can have at most 50 tags."));
    }
    for t in tags {
        let key = t
            .key
            .as_deref()
            .ok_or_else(|| invalid("tags: every tag needs a key."))?;
        if key.is_empty() || key.chars().count() > 128 {
            return Err(invalid(format!(
                "tags: key '{key}' must be 1 to 128 characters."
            )));
        }
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(invalid(format!(
                "tags: key '{key}' uses the reserved prefix 'aws:'."
            )));
        }
        if t.value.as_deref().unwrap_or("").chars().count() > 256 {
            return Err(invalid(format!(
                "tags: the value of '{key}' must be at most 256 characters."
            )));
        }
    }
    Ok(())
}

/// Validates a string enum member.
pub fn check_enum(value: Option<&str>, field: &str, allowed: &[&str]) -> R<()> {
    if let Some(v) = value {
        if !allowed.contains(&v) {
            return Err(invalid(format!(
                "{field} '{v}' is invalid: it must be one of {}.",
                allowed.join(", ")
            )));
        }
    }
    Ok(())
}

/// Drops `null` members, recursively, so absent optional members stay absent.
pub fn prune_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(prune_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(prune_nulls),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_arns() {
        assert_eq!(
            name_from(
                "arn:aws:ecs:us-west-2:123456789012:cluster/tutorial",
                "cluster"
            ),
            "tutorial"
        );
        assert_eq!(name_from("tutorial", "cluster"), "tutorial");
        assert_eq!(
            name_from(
                "arn:aws:ecs:us-west-2:123456789012:service/tutorial/svc",
                "service"
            ),
            "svc"
        );
        assert_eq!(cluster_name(None), "default");
    }

    #[test]
    fn page_size_bounds() {
        assert_eq!(page_size(None, 100, 100).unwrap(), 100);
        assert!(page_size(Some(0), 100, 100).is_err());
        assert!(page_size(Some(101), 100, 100).is_err());
    }
}
