//! What the Describe* and List* operations of clusters, services, tasks and container
//! instances share: one record per key under a cluster's prefix, named by name, id or
//! ARN; described in order with a `MISSING` failure for each one not found; listed as
//! ARNs a page at a time.

use berth_awsproto::{decode_token, encode_token, ApiError, Context};
use berth_store::Read;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use crate::common::*;
use crate::records::{Cluster, ContainerInstance, Service, Task};

/// A record kind that Describe* and List* operations serve.
pub(crate) trait Resource: Serialize + DeserializeOwned {
    /// The resource type in its ARN (`cluster`, `service`, `task`, `container-instance`).
    const ARN_KIND: &'static str;
    /// Where the records of `cluster` are (every cluster, for clusters).
    fn prefix(ctx: &Context, cluster: &str) -> String;
    /// The ARN of the record named `id` in `cluster`.
    fn arn_of(ctx: &Context, cluster: &str, id: &str) -> String {
        ctx.arn("ecs", &format!("{}/{cluster}/{id}", Self::ARN_KIND))
    }
    /// Its own ARN.
    fn arn(&self) -> &str;
}

impl Resource for Cluster {
    const ARN_KIND: &'static str = "cluster";
    fn prefix(ctx: &Context, _: &str) -> String {
        cluster_prefix(ctx)
    }
    fn arn_of(ctx: &Context, _: &str, id: &str) -> String {
        cluster_arn(ctx, id)
    }
    fn arn(&self) -> &str {
        &self.cluster_arn
    }
}

impl Resource for Service {
    const ARN_KIND: &'static str = "service";
    fn prefix(ctx: &Context, cluster: &str) -> String {
        service_prefix(ctx, cluster)
    }
    fn arn(&self) -> &str {
        &self.service_arn
    }
}

impl Resource for Task {
    const ARN_KIND: &'static str = "task";
    fn prefix(ctx: &Context, cluster: &str) -> String {
        task_prefix(ctx, cluster)
    }
    fn arn(&self) -> &str {
        &self.task_arn
    }
}

impl Resource for ContainerInstance {
    const ARN_KIND: &'static str = "container-instance";
    fn prefix(ctx: &Context, cluster: &str) -> String {
        instance_prefix(ctx, cluster)
    }
    fn arn(&self) -> &str {
        &self.container_instance_arn
    }
}

/// The record `reference` (a name, id or ARN) names in `cluster`.
pub(crate) fn get<T: Resource>(
    r: &impl Read,
    ctx: &Context,
    cluster: &str,
    reference: &str,
) -> R<Option<T>> {
    let id = name_from(reference, T::ARN_KIND);
    Ok(r.get_json::<T>(&format!("{}{id}", T::prefix(ctx, cluster)))?)
}

/// Whether `reference` can name a record of `cluster` in the caller's account and
/// region: a name or id does; an ARN only when it is an ECS ARN of this account and
/// region, of the kind `T` and (when it names one) of this cluster.
fn names_ours<T: Resource>(ctx: &Context, cluster: &str, reference: &str) -> bool {
    if !reference.starts_with("arn:") {
        return true;
    }
    let parts: Vec<&str> = reference.splitn(6, ':').collect();
    let [_, _, service, region, account, resource] = parts[..] else {
        return false;
    };
    let Some(rest) = resource
        .strip_prefix(T::ARN_KIND)
        .and_then(|r| r.strip_prefix('/'))
    else {
        return false;
    };
    let in_cluster = match rest.split_once('/') {
        Some((c, _)) => c == cluster,
        None => true,
    };
    service == "ecs" && region == ctx.region && account == ctx.account && in_cluster
}

/// The `arn` of a `MISSING` failure: an ARN as given (another account's stays
/// another account's), a name or id as the ARN it would have here.
fn missing_arn<T: Resource>(ctx: &Context, cluster: &str, reference: &str) -> String {
    if reference.starts_with("arn:") {
        reference.to_string()
    } else {
        T::arn_of(ctx, cluster, reference)
    }
}

/// A Describe* answer: `{<key>: [view of each record found], "failures": [...]}`, in
/// the order asked, with a `MISSING` failure for each reference not found (an ARN
/// echoed as given).
pub(crate) fn describe_each<T: Resource, V: Serialize>(
    r: &impl Read,
    ctx: &Context,
    cluster: &str,
    references: &[String],
    mut view: impl FnMut(T) -> R<V>,
    key: &str,
) -> R<Value> {
    let mut found = Vec::new();
    let mut failures = Vec::new();
    for reference in references {
        let record = match names_ours::<T>(ctx, cluster, reference) {
            true => get::<T>(r, ctx, cluster, reference)?,
            false => None,
        };
        match record {
            Some(t) => found.push(to_json(&view(t)?)?),
            None => {
                let arn = missing_arn::<T>(ctx, cluster, reference);
                failures.push(json!({"arn": arn, "reason": "MISSING"}));
            }
        }
    }
    Ok(json!({ key: found, "failures": failures }))
}

/// A List* answer: `{<key>: [ARNs of the records `keep` accepts], "nextToken": ...}`,
/// one page of `size` after `next_token`.
pub(crate) fn list_arns<T: Resource>(
    r: &impl Read,
    ctx: &Context,
    cluster: &str,
    next_token: Option<&str>,
    size: usize,
    key: &str,
    keep: impl Fn(&T) -> bool,
) -> R<Value> {
    let (arns, next) = page(r, &T::prefix(ctx, cluster), next_token, size, |t: T| {
        keep(&t).then(|| Value::String(t.arn().to_string()))
    })?;
    Ok(page_json(key, arns, next))
}

/// One page of the records under `prefix` that `keep` maps to an item, after
/// `next_token`. Returns the page and the token for the next one.
pub(crate) fn page<T: DeserializeOwned, U>(
    r: &impl Read,
    prefix: &str,
    next_token: Option<&str>,
    size: usize,
    mut keep: impl FnMut(T) -> Option<U>,
) -> R<(Vec<U>, Option<String>)> {
    let mut after = match next_token {
        Some(t) => {
            let k = decode_token(t, "nextToken", "InvalidParameterException")?;
            if !k.starts_with(prefix) {
                return Err(invalid("nextToken does not belong to this request."));
            }
            Some(k)
        }
        None => None,
    };
    let batch = (size + 1).max(64);
    let mut out = Vec::new();
    loop {
        let chunk = r.scan_json::<T>(prefix, after.as_deref(), batch)?;
        let exhausted = chunk.len() < batch;
        for (key, record) in chunk {
            if let Some(item) = keep(record) {
                if out.len() == size {
                    // There is at least one more: the page ends at the previous key.
                    let last = after.expect("a full page has a last key");
                    return Ok((out, Some(encode_token(&last))));
                }
                out.push(item);
            }
            after = Some(key);
        }
        if exhausted {
            return Ok((out, None));
        }
    }
}

/// A record as the JSON value the API returns.
pub(crate) fn to_json(v: &impl Serialize) -> R<Value> {
    serde_json::to_value(v).map_err(|e| ApiError::internal(format!("record does not encode: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context::new("111122223333", "us-west-2")
    }

    #[test]
    fn only_this_account_and_region_arns_name_a_record() {
        let ctx = ctx();
        let ours = "arn:aws:ecs:us-west-2:111122223333:cluster/web";
        assert!(names_ours::<Cluster>(&ctx, "", ours));
        assert!(names_ours::<Cluster>(&ctx, "", "web"));
        for foreign in [
            "arn:aws:ecs:us-west-2:999988887777:cluster/web",
            "arn:aws:ecs:eu-west-1:111122223333:cluster/web",
            "arn:aws:ecs:us-west-2:111122223333:service/web/api",
            "arn:aws:sqs:us-west-2:111122223333:cluster/web",
            "arn:aws:ecs:us-west-2",
        ] {
            assert!(!names_ours::<Cluster>(&ctx, "", foreign), "{foreign}");
            assert_eq!(missing_arn::<Cluster>(&ctx, "", foreign), foreign);
        }
        assert_eq!(missing_arn::<Cluster>(&ctx, "", "web"), ours);
        // A task ARN of another cluster names nothing in this one.
        let task = "arn:aws:ecs:us-west-2:111122223333:task/other/0123";
        assert!(!names_ours::<Task>(&ctx, "web", task));
        assert!(names_ours::<Task>(&ctx, "other", task));
        assert_eq!(
            missing_arn::<Task>(&ctx, "web", "0123"),
            "arn:aws:ecs:us-west-2:111122223333:task/web/0123"
        );
    }
}
