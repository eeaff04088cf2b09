//! The operations of the `Route53AutoNaming_v20170314` target: input decoding and
//! validation, one store transaction per write, output shapes as in the model.

use std::collections::{BTreeMap, BTreeSet};

use berth_awsproto::{decode_token, encode_token, parse_input, ApiError, Context};
use berth_store::{Read, Reader, Writer};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::validate::{self, required};
use crate::{
    bump_revision, create_namespace, create_service, delete_service, deregister_instance, get_ns,
    get_svc, id_from_arn, inst_not_found, instances_revision, invalid, keys, record_operation,
    register_instance, require_ns, require_svc, svc_by_name, svc_not_found, CloudMap, InstanceRec,
    NamespaceRec, NewNamespace, NewService, OperationRec, ServiceRec,
};

/// Dispatches `op`.
pub(crate) fn call(
    cm: &CloudMap,
    ctx: &Context,
    op: &str,
    input: Value,
) -> Result<Value, ApiError> {
    let input = if input.is_null() { json!({}) } else { input };
    if !input.is_object() {
        return Err(ApiError::serialization(
            "Request body does not match the input shape: expected a JSON object",
        ));
    }
    let out = match op {
        "CreateHttpNamespace" => create_http_namespace(cm, ctx, parse_input(input)?),
        "CreatePrivateDnsNamespace" => create_private_dns_namespace(cm, ctx, parse_input(input)?),
        "CreatePublicDnsNamespace" => create_public_dns_namespace(cm, ctx, parse_input(input)?),
        "GetNamespace" => get_namespace(cm, ctx, parse_input(input)?),
        "ListNamespaces" => list_namespaces(cm, ctx, parse_input(input)?),
        "DeleteNamespace" => delete_namespace(cm, ctx, parse_input(input)?),
        "UpdateHttpNamespace" => update_namespace(cm, ctx, "HTTP", parse_input(input)?),
        "UpdatePrivateDnsNamespace" => {
            update_namespace(cm, ctx, "DNS_PRIVATE", parse_input(input)?)
        }
        "UpdatePublicDnsNamespace" => update_namespace(cm, ctx, "DNS_PUBLIC", parse_input(input)?),
        "GetOperation" => get_operation(cm, ctx, parse_input(input)?),
        "ListOperations" => list_operations(cm, ctx, parse_input(input)?),
        "CreateService" => create_service_op(cm, ctx, parse_input(input)?),
        "GetService" => get_service(cm, ctx, parse_input(input)?),
        "ListServices" => list_services(cm, ctx, parse_input(input)?),
        "UpdateService" => update_service(cm, ctx, parse_input(input)?),
        "DeleteService" => delete_service_op(cm, ctx, parse_input(input)?),
        "GetServiceAttributes" => get_service_attributes(cm, ctx, parse_input(input)?),
        "UpdateServiceAttributes" => update_service_attributes(cm, ctx, parse_input(input)?),
        "DeleteServiceAttributes" => delete_service_attributes(cm, ctx, parse_input(input)?),
        "RegisterInstance" => register_instance_op(cm, ctx, parse_input(input)?),
        "DeregisterInstance" => deregister_instance_op(cm, ctx, parse_input(input)?),
        "GetInstance" => get_instance(cm, ctx, parse_input(input)?),
        "ListInstances" => list_instances(cm, ctx, parse_input(input)?),
        "DiscoverInstances" => discover_instances(cm, ctx, parse_input(input)?),
        "DiscoverInstancesRevision" => discover_instances_revision(cm, ctx, parse_input(input)?),
        "GetInstancesHealthStatus" => get_instances_health_status(cm, ctx, parse_input(input)?),
        "UpdateInstanceCustomHealthStatus" => update_custom_health(cm, ctx, parse_input(input)?),
        "TagResource" => tag_resource(cm, ctx, parse_input(input)?),
        "UntagResource" => untag_resource(cm, ctx, parse_input(input)?),
        "ListTagsForResource" => list_tags(cm, ctx, parse_input(input)?),
        _ => Err(ApiError::unknown_operation(op)),
    };
    if let Err(e) = &out {
        tracing::debug!(op, code = %e.code, message = %e.message, "cloudmap error");
    }
    out
}

// ----- transactions -----

fn write<R>(
    cm: &CloudMap,
    f: impl FnOnce(&mut Writer<'_>) -> Result<R, ApiError>,
) -> Result<R, ApiError> {
    cm.store().write(f).map(|(r, _)| r)
}

fn read<R>(
    cm: &CloudMap,
    f: impl FnOnce(&Reader<'_>) -> Result<R, ApiError>,
) -> Result<R, ApiError> {
    cm.store().read(f)
}

// ----- shared input pieces -----

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagIn {
    key: Option<String>,
    value: Option<String>,
}

fn tags_in(tags: Option<Vec<TagIn>>) -> Result<Vec<(String, String)>, ApiError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for t in tags.unwrap_or_default() {
        let k = required("Tags.member.Key", t.key)?;
        let v = required("Tags.member.Value", t.value)?;
        match out.iter_mut().find(|(ok, _)| *ok == k) {
            Some(e) => e.1 = v,
            None => out.push((k, v)),
        }
    }
    validate::tags(&out)?;
    Ok(out)
}

fn tags_out(tags: &[(String, String)]) -> Value {
    Value::Array(
        tags.iter()
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect(),
    )
}

fn opt_len(field: &str, v: &Option<String>, max: usize) -> Result<(), ApiError> {
    if let Some(v) = v {
        validate::max_len(field, v, max)?;
    }
    Ok(())
}

fn max_results(v: Option<i64>, max: i64, default: usize) -> Result<usize, ApiError> {
    match v {
        None => Ok(default),
        Some(n) => {
            validate::range("MaxResults", n, 1, max)?;
            Ok(n as usize)
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FilterIn {
    name: Option<String>,
    values: Option<Vec<String>>,
    condition: Option<String>,
}

/// A validated filter.
struct Filter {
    name: String,
    values: Vec<String>,
    condition: String,
}

/// Validates filters: `names` the allowed filter names, `conditions(name)` the conditions
/// that filter allows.
fn filters_in(
    filters: Option<Vec<FilterIn>>,
    names: &[&str],
    conditions: impl Fn(&str) -> &'static [&'static str],
) -> Result<Vec<Filter>, ApiError> {
    let mut out = Vec::new();
    for f in filters.unwrap_or_default() {
        let name = required("Filters.member.Name", f.name)?;
        validate::one_of("Filters.member.Name", &name, names)?;
        let values = required("Filters.member.Values", f.values)?;
        for v in &values {
            validate::len_between("Filters.member.Values.member", v, 1, 255)?;
        }
        let condition = f.condition.unwrap_or_else(|| "EQ".to_string());
        validate::one_of(
            "Filters.member.Condition",
            &condition,
            &["EQ", "IN", "BETWEEN", "BEGINS_WITH"],
        )?;
        let allowed = conditions(&name);
        if !allowed.contains(&condition.as_str()) {
            return Err(invalid(format!(
                "Filters: condition {condition} is not supported for filter {name}; supported: {}",
                allowed.join(", ")
            )));
        }
        let count_ok = match condition.as_str() {
            "EQ" | "BEGINS_WITH" => values.len() == 1,
            "IN" => !values.is_empty(),
            "BETWEEN" => values.len() == 2,
            _ => false,
        };
        if !count_ok {
            return Err(invalid(format!(
                "Filters: filter {name} with condition {condition} takes {} value(s), got {}",
                match condition.as_str() {
                    "IN" => "one or more",
                    "BETWEEN" => "exactly two",
                    _ => "exactly one",
                },
                values.len()
            )));
        }
        out.push(Filter {
            name,
            values,
            condition,
        });
    }
    Ok(out)
}

impl Filter {
    fn matches(&self, v: &str) -> bool {
        match self.condition.as_str() {
            "BEGINS_WITH" => v.starts_with(self.values[0].as_str()),
            _ => self.values.iter().any(|x| x == v),
        }
    }
}

/// One page of the entries under `prefix` that `keep` maps to `Some`, after the key in
/// `token`; the next token when more matching entries follow.
fn paginate<T>(
    r: &impl Read,
    prefix: &str,
    token: Option<&str>,
    max: usize,
    mut keep: impl FnMut(&str, &[u8]) -> Result<Option<T>, ApiError>,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let mut after = match token {
        None => None,
        Some(t) => {
            let k = decode_token(t, "NextToken", "InvalidInput")?;
            if !k.starts_with(prefix) {
                return Err(invalid("NextToken is not valid for this request"));
            }
            Some(k)
        }
    };
    let mut out = Vec::new();
    let mut last_included: Option<String> = None;
    loop {
        let batch = r.scan(prefix, after.as_deref(), 256.max(max + 1))?;
        let done = batch.len() < 256.max(max + 1);
        for (k, v) in &batch {
            if let Some(item) = keep(k, v)? {
                if out.len() == max {
                    return Ok((out, last_included.map(|k| encode_token(&k))));
                }
                out.push(item);
                last_included = Some(k.clone());
            }
        }
        if done {
            return Ok((out, None));
        }
        after = batch.last().map(|(k, _)| k.clone());
    }
}

fn decode<T: serde::de::DeserializeOwned>(key: &str, v: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(v).map_err(|e| {
        ApiError::from(berth_store::StoreError::Decode {
            key: key.to_string(),
            source: e,
        })
    })
}

// ----- rendering -----

fn put_opt(m: &mut Map<String, Value>, k: &str, v: &Option<impl Into<Value> + Clone>) {
    if let Some(v) = v {
        m.insert(k.to_string(), v.clone().into());
    }
}

fn namespace_out(ctx: &Context, ns: &NamespaceRec, service_count: u64, full: bool) -> Value {
    let mut m = Map::new();
    m.insert("Id".into(), json!(ns.id));
    m.insert("Arn".into(), json!(ns.arn));
    m.insert("ResourceOwner".into(), json!(ctx.account));
    m.insert("Name".into(), json!(ns.name));
    m.insert("Type".into(), json!(ns.kind));
    put_opt(&mut m, "Description", &ns.description);
    m.insert("ServiceCount".into(), json!(service_count));
    m.insert("Properties".into(), ns.properties.clone());
    m.insert("CreateDate".into(), json!(ns.create_date));
    if full {
        put_opt(&mut m, "CreatorRequestId", &ns.creator_request_id);
    }
    Value::Object(m)
}

fn service_out(ctx: &Context, s: &ServiceRec, instance_count: u64, full: bool) -> Value {
    let mut m = Map::new();
    m.insert("Id".into(), json!(s.id));
    m.insert("Arn".into(), json!(s.arn));
    m.insert("ResourceOwner".into(), json!(ctx.account));
    m.insert("Name".into(), json!(s.name));
    if full {
        m.insert("NamespaceId".into(), json!(s.namespace_id));
    }
    m.insert("Type".into(), json!(s.kind));
    put_opt(&mut m, "Description", &s.description);
    m.insert("InstanceCount".into(), json!(instance_count));
    put_opt(&mut m, "DnsConfig", &s.dns_config);
    put_opt(&mut m, "HealthCheckConfig", &s.health_check_config);
    put_opt(
        &mut m,
        "HealthCheckCustomConfig",
        &s.health_check_custom_config,
    );
    m.insert("CreateDate".into(), json!(s.create_date));
    if full {
        put_opt(&mut m, "CreatorRequestId", &s.creator_request_id);
    }
    m.insert("CreatedByAccount".into(), json!(ctx.account));
    Value::Object(m)
}

fn operation_out(ctx: &Context, op: &OperationRec) -> Value {
    json!({
        "Id": op.id,
        "OwnerAccount": ctx.account,
        "Type": op.kind,
        "Status": op.status,
        "CreateDate": op.create_date,
        "UpdateDate": op.update_date,
        "Targets": op.targets,
    })
}

fn service_count(r: &impl Read, ctx: &Context, ns_id: &str) -> Result<u64, ApiError> {
    r.count(&keys::svc_name_prefix(ctx, ns_id))
        .map_err(ApiError::from)
}

fn instance_count(r: &impl Read, ctx: &Context, srv_id: &str) -> Result<u64, ApiError> {
    r.count(&keys::inst_prefix(ctx, srv_id))
        .map_err(ApiError::from)
}

// ----- namespaces -----

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateNamespaceIn {
    name: Option<String>,
    creator_request_id: Option<String>,
    description: Option<String>,
    tags: Option<Vec<TagIn>>,
    vpc: Option<String>,
    properties: Option<DnsNamespacePropertiesIn>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DnsNamespacePropertiesIn {
    dns_properties: Option<DnsPropertiesIn>,
}

#[derive(Deserialize)]
struct DnsPropertiesIn {
    #[serde(rename = "SOA")]
    soa: Option<SoaIn>,
}

#[derive(Deserialize)]
struct SoaIn {
    #[serde(rename = "TTL")]
    ttl: Option<i64>,
}

fn soa_ttl(p: Option<DnsNamespacePropertiesIn>, prefix: &str) -> Result<Option<i64>, ApiError> {
    let Some(p) = p else { return Ok(None) };
    let dns = required(&format!("{prefix}.DnsProperties"), p.dns_properties)?;
    let soa = required(&format!("{prefix}.DnsProperties.SOA"), dns.soa)?;
    let ttl = required(&format!("{prefix}.DnsProperties.SOA.TTL"), soa.ttl)?;
    validate::range(
        &format!("{prefix}.DnsProperties.SOA.TTL"),
        ttl,
        0,
        2_147_483_647,
    )?;
    Ok(Some(ttl))
}

fn create_ns_common(
    cm: &CloudMap,
    ctx: &Context,
    kind: &str,
    i: CreateNamespaceIn,
) -> Result<Value, ApiError> {
    let name = required("Name", i.name)?;
    match kind {
        "HTTP" => validate::namespace_name_http(&name)?,
        "DNS_PRIVATE" => validate::namespace_name_private(&name)?,
        _ => validate::namespace_name_public(&name)?,
    }
    opt_len("CreatorRequestId", &i.creator_request_id, 64)?;
    opt_len("Description", &i.description, 1024)?;
    let vpc = if kind == "DNS_PRIVATE" {
        let vpc = required("Vpc", i.vpc)?;
        validate::len_between("Vpc", &vpc, 1, 64)?;
        Some(vpc)
    } else {
        None
    };
    let soa = if kind == "HTTP" {
        None
    } else {
        soa_ttl(i.properties, "Properties")?
    };
    let tags = tags_in(i.tags)?;
    validate::tag_count(&name, tags.len())?;
    let ns = write(cm, |w| {
        create_namespace(
            w,
            ctx,
            &NewNamespace {
                name: &name,
                kind,
                creator_request_id: i.creator_request_id.as_deref(),
                description: i.description.as_deref(),
                tags: &tags,
                vpc: vpc.as_deref(),
                soa_ttl: soa,
            },
        )
    })?;
    Ok(json!({"OperationId": ns.create_operation_id}))
}

fn create_http_namespace(
    cm: &CloudMap,
    ctx: &Context,
    i: CreateNamespaceIn,
) -> Result<Value, ApiError> {
    create_ns_common(cm, ctx, "HTTP", i)
}

fn create_private_dns_namespace(
    cm: &CloudMap,
    ctx: &Context,
    i: CreateNamespaceIn,
) -> Result<Value, ApiError> {
    create_ns_common(cm, ctx, "DNS_PRIVATE", i)
}

fn create_public_dns_namespace(
    cm: &CloudMap,
    ctx: &Context,
    i: CreateNamespaceIn,
) -> Result<Value, ApiError> {
    create_ns_common(cm, ctx, "DNS_PUBLIC", i)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct IdIn {
    id: Option<String>,
}

fn get_namespace(cm: &CloudMap, ctx: &Context, i: IdIn) -> Result<Value, ApiError> {
    let id = required("Id", i.id)?;
    validate::max_len("Id", &id, 255)?;
    read(cm, |r| {
        let ns = require_ns(r, ctx, &id)?;
        let n = service_count(r, ctx, &ns.id)?;
        Ok(json!({"Namespace": namespace_out(ctx, &ns, n, true)}))
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListIn {
    next_token: Option<String>,
    max_results: Option<i64>,
    filters: Option<Vec<FilterIn>>,
}

const NAMESPACE_TYPES: &[&str] = &["DNS_PUBLIC", "DNS_PRIVATE", "HTTP"];

fn resource_owner_filter(f: &Filter, ctx: &Context) -> Result<bool, ApiError> {
    for v in &f.values {
        validate::one_of(
            "Filters.member.Values.member",
            v,
            &["SELF", "OTHER_ACCOUNTS"],
        )?;
    }
    // berth has no namespace sharing: every resource belongs to the caller.
    let _ = ctx;
    Ok(f.values.iter().any(|v| v == "SELF"))
}

fn list_namespaces(cm: &CloudMap, ctx: &Context, i: ListIn) -> Result<Value, ApiError> {
    let max = max_results(i.max_results, 100, 100)?;
    opt_len("NextToken", &i.next_token, 4096)?;
    let filters = filters_in(
        i.filters,
        &["TYPE", "NAME", "HTTP_NAME", "RESOURCE_OWNER"],
        |n| match n {
            "TYPE" => &["EQ", "IN"],
            "NAME" | "HTTP_NAME" => &["EQ", "BEGINS_WITH"],
            _ => &["EQ"],
        },
    )?;
    let mut owned = true;
    for f in &filters {
        match f.name.as_str() {
            "TYPE" => {
                for v in &f.values {
                    validate::one_of("Filters.member.Values.member", v, NAMESPACE_TYPES)?;
                }
            }
            "RESOURCE_OWNER" => owned &= resource_owner_filter(f, ctx)?,
            _ => {}
        }
    }
    read(cm, |r| {
        let (items, next) = if owned {
            paginate(
                r,
                &keys::ns_prefix(ctx),
                i.next_token.as_deref(),
                max,
                |k, v| {
                    let ns: NamespaceRec = decode(k, v)?;
                    let keep = filters.iter().all(|f| match f.name.as_str() {
                        "TYPE" => f.matches(&ns.kind),
                        "NAME" | "HTTP_NAME" => f.matches(&ns.name),
                        _ => true,
                    });
                    if !keep {
                        return Ok(None);
                    }
                    let n = service_count(r, ctx, &ns.id)?;
                    Ok(Some(namespace_out(ctx, &ns, n, false)))
                },
            )?
        } else {
            (Vec::new(), None)
        };
        let mut out = json!({"Namespaces": items});
        if let Some(t) = next {
            out["NextToken"] = json!(t);
        }
        Ok(out)
    })
}

fn delete_namespace(cm: &CloudMap, ctx: &Context, i: IdIn) -> Result<Value, ApiError> {
    let id = required("Id", i.id)?;
    validate::max_len("Id", &id, 255)?;
    write(cm, |w| {
        let ns = require_ns(w, ctx, &id)?;
        let n = service_count(w, ctx, &ns.id)?;
        if n > 0 {
            return Err(ApiError::new(
                409,
                "ResourceInUse",
                format!("Namespace {} has {n} associated services", ns.id),
            ));
        }
        w.delete(&keys::ns(ctx, &ns.id))?;
        w.delete(&keys::ns_name(ctx, &ns.name))?;
        if let Some(token) = &ns.creator_request_id {
            w.delete(&keys::ns_req(ctx, token))?;
        }
        let op = record_operation(w, ctx, "DELETE_NAMESPACE", &[("NAMESPACE", &ns.id)])?;
        tracing::info!(namespace = %ns.id, "namespace deleted");
        Ok(json!({"OperationId": op}))
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateNamespaceIn {
    id: Option<String>,
    updater_request_id: Option<String>,
    namespace: Option<NamespaceChangeIn>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NamespaceChangeIn {
    description: Option<String>,
    properties: Option<DnsNamespacePropertiesIn>,
}

fn update_namespace(
    cm: &CloudMap,
    ctx: &Context,
    kind: &str,
    i: UpdateNamespaceIn,
) -> Result<Value, ApiError> {
    let id = required("Id", i.id)?;
    validate::max_len("Id", &id, 255)?;
    opt_len("UpdaterRequestId", &i.updater_request_id, 64)?;
    let change = required("Namespace", i.namespace)?;
    let description = if kind == "HTTP" {
        Some(required("Namespace.Description", change.description)?)
    } else {
        change.description
    };
    opt_len("Namespace.Description", &description, 1024)?;
    let ttl = if kind == "HTTP" {
        None
    } else {
        soa_ttl(change.properties, "Namespace.Properties")?
    };
    write(cm, |w| {
        let mut ns = require_ns(w, ctx, &id)?;
        if ns.kind != kind {
            return Err(invalid(format!(
                "Namespace {} is of type {}, not {kind}",
                ns.id, ns.kind
            )));
        }
        if let Some(d) = description {
            ns.description = Some(d);
        }
        if let Some(ttl) = ttl {
            ns.properties["DnsProperties"]["SOA"] = json!({"TTL": ttl});
        }
        w.put_json(&keys::ns(ctx, &ns.id), &ns)?;
        let op = record_operation(w, ctx, "UPDATE_NAMESPACE", &[("NAMESPACE", &ns.id)])?;
        Ok(json!({"OperationId": op}))
    })
}

// ----- operations -----

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetOperationIn {
    operation_id: Option<String>,
    owner_account: Option<String>,
}

fn get_operation(cm: &CloudMap, ctx: &Context, i: GetOperationIn) -> Result<Value, ApiError> {
    let id = required("OperationId", i.operation_id)?;
    validate::max_len("OperationId", &id, 255)?;
    if let Some(o) = &i.owner_account {
        validate::len_between("OwnerAccount", o, 12, 12)?;
    }
    let not_found = || {
        ApiError::new(
            404,
            "OperationNotFound",
            format!("Operation not found: {id}"),
        )
    };
    if id.is_empty()
        || id.contains('/')
        || i.owner_account.as_deref().is_some_and(|o| o != ctx.account)
    {
        return Err(not_found());
    }
    read(cm, |r| {
        let op: OperationRec = r.get_json(&keys::op(ctx, &id))?.ok_or_else(not_found)?;
        Ok(json!({"Operation": operation_out(ctx, &op)}))
    })
}

const OPERATION_TYPES: &[&str] = &[
    "CREATE_NAMESPACE",
    "DELETE_NAMESPACE",
    "UPDATE_NAMESPACE",
    "UPDATE_SERVICE",
    "REGISTER_INSTANCE",
    "DEREGISTER_INSTANCE",
];

fn list_operations(cm: &CloudMap, ctx: &Context, i: ListIn) -> Result<Value, ApiError> {
    let max = max_results(i.max_results, 100, 100)?;
    opt_len("NextToken", &i.next_token, 4096)?;
    let filters = filters_in(
        i.filters,
        &[
            "NAMESPACE_ID",
            "SERVICE_ID",
            "STATUS",
            "TYPE",
            "UPDATE_DATE",
        ],
        |n| match n {
            "NAMESPACE_ID" | "SERVICE_ID" => &["EQ"],
            "STATUS" | "TYPE" => &["EQ", "IN"],
            _ => &["BETWEEN"],
        },
    )?;
    let mut between: Option<(f64, f64)> = None;
    for f in &filters {
        match f.name.as_str() {
            "STATUS" => {
                for v in &f.values {
                    validate::one_of(
                        "Filters.member.Values.member",
                        v,
                        &["SUBMITTED", "PENDING", "SUCCESS", "FAIL"],
                    )?;
                }
            }
            "TYPE" => {
                for v in &f.values {
                    validate::one_of("Filters.member.Values.member", v, OPERATION_TYPES)?;
                }
            }
            "UPDATE_DATE" => {
                let parse = |v: &str| {
                    v.trim().parse::<f64>().map_err(|_| {
                        invalid(format!(
                            "Filters: UPDATE_DATE value '{v}' is not a date in Unix format (seconds)"
                        ))
                    })
                };
                between = Some((parse(&f.values[0])?, parse(&f.values[1])?));
            }
            _ => {}
        }
    }
    read(cm, |r| {
        let (items, next) = paginate(
            r,
            &keys::op_prefix(ctx),
            i.next_token.as_deref(),
            max,
            |k, v| {
                let op: OperationRec = decode(k, v)?;
                let keep = filters.iter().all(|f| match f.name.as_str() {
                    "NAMESPACE_ID" => op.targets.get("NAMESPACE").is_some_and(|t| f.matches(t)),
                    "SERVICE_ID" => op.targets.get("SERVICE").is_some_and(|t| f.matches(t)),
                    "STATUS" => f.matches(&op.status),
                    "TYPE" => f.matches(&op.kind),
                    _ => between.is_none_or(|(a, b)| op.update_date >= a && op.update_date <= b),
                });
                Ok(keep.then(|| json!({"Id": op.id, "Status": op.status})))
            },
        )?;
        let mut out = json!({"Operations": items});
        if let Some(t) = next {
            out["NextToken"] = json!(t);
        }
        Ok(out)
    })
}

// ----- services -----

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DnsRecordIn {
    #[serde(rename = "Type")]
    kind: Option<String>,
    #[serde(rename = "TTL")]
    ttl: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DnsConfigIn {
    namespace_id: Option<String>,
    routing_policy: Option<String>,
    dns_records: Option<Vec<DnsRecordIn>>,
}

fn dns_records(field: &str, records: Option<Vec<DnsRecordIn>>) -> Result<Vec<Value>, ApiError> {
    let records = required(&format!("{field}.DnsRecords"), records)?;
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for r in records {
        let kind = required(&format!("{field}.DnsRecords.member.Type"), r.kind)?;
        validate::one_of(
            &format!("{field}.DnsRecords.member.Type"),
            &kind,
            &["SRV", "A", "AAAA", "CNAME"],
        )?;
        let ttl = required(&format!("{field}.DnsRecords.member.TTL"), r.ttl)?;
        validate::range(
            &format!("{field}.DnsRecords.member.TTL"),
            ttl,
            0,
            2_147_483_647,
        )?;
        if !seen.insert(kind.clone()) {
            return Err(invalid(format!(
                "{field}.DnsRecords: record type {kind} is specified more than once"
            )));
        }
        out.push(json!({"Type": kind, "TTL": ttl}));
    }
    if seen.contains("CNAME") && seen.len() > 1 {
        return Err(invalid(format!(
            "{field}.DnsRecords: a CNAME record can't be combined with other record types"
        )));
    }
    Ok(out)
}

fn dns_config(d: DnsConfigIn) -> Result<(Value, Option<String>), ApiError> {
    let records = dns_records("DnsConfig", d.dns_records)?;
    let policy = d.routing_policy.unwrap_or_else(|| "MULTIVALUE".to_string());
    validate::one_of(
        "DnsConfig.RoutingPolicy",
        &policy,
        &["MULTIVALUE", "WEIGHTED"],
    )?;
    let has_cname = records.iter().any(|r| r["Type"] == "CNAME");
    if has_cname && policy != "WEIGHTED" {
        return Err(invalid(
            "DnsConfig.RoutingPolicy must be WEIGHTED for a service with a CNAME record",
        ));
    }
    if let Some(n) = &d.namespace_id {
        validate::max_len("DnsConfig.NamespaceId", n, 64)?;
    }
    let mut v = Map::new();
    if let Some(n) = &d.namespace_id {
        v.insert("NamespaceId".into(), json!(n));
    }
    v.insert("RoutingPolicy".into(), json!(policy));
    v.insert("DnsRecords".into(), Value::Array(records));
    Ok((Value::Object(v), d.namespace_id))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HealthCheckConfigIn {
    #[serde(rename = "Type")]
    kind: Option<String>,
    resource_path: Option<String>,
    failure_threshold: Option<i64>,
}

fn health_check_config(field: &str, h: HealthCheckConfigIn) -> Result<Value, ApiError> {
    let kind = required(&format!("{field}.Type"), h.kind)?;
    validate::one_of(&format!("{field}.Type"), &kind, &["HTTP", "HTTPS", "TCP"])?;
    let mut v = Map::new();
    v.insert("Type".into(), json!(kind));
    if let Some(p) = h.resource_path {
        validate::max_len(&format!("{field}.ResourcePath"), &p, 255)?;
        if kind == "TCP" {
            return Err(invalid(format!(
                "{field}.ResourcePath can't be specified for a TCP health check"
            )));
        }
        v.insert("ResourcePath".into(), json!(p));
    } else if kind != "TCP" {
        v.insert("ResourcePath".into(), json!("/"));
    }
    if let Some(t) = h.failure_threshold {
        validate::range(&format!("{field}.FailureThreshold"), t, 1, 10)?;
        v.insert("FailureThreshold".into(), json!(t));
    }
    Ok(Value::Object(v))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HealthCheckCustomConfigIn {
    failure_threshold: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateServiceIn {
    name: Option<String>,
    namespace_id: Option<String>,
    creator_request_id: Option<String>,
    description: Option<String>,
    dns_config: Option<DnsConfigIn>,
    health_check_config: Option<HealthCheckConfigIn>,
    health_check_custom_config: Option<HealthCheckCustomConfigIn>,
    tags: Option<Vec<TagIn>>,
    #[serde(rename = "Type")]
    kind: Option<String>,
}

fn create_service_op(cm: &CloudMap, ctx: &Context, i: CreateServiceIn) -> Result<Value, ApiError> {
    let name = required("Name", i.name)?;
    validate::service_name(&name)?;
    opt_len("NamespaceId", &i.namespace_id, 255)?;
    opt_len("CreatorRequestId", &i.creator_request_id, 64)?;
    opt_len("Description", &i.description, 1024)?;
    if let Some(t) = &i.kind {
        validate::one_of("Type", t, &["HTTP"])?;
    }
    let (dns, dns_ns) = match i.dns_config {
        Some(d) => {
            let (v, n) = dns_config(d)?;
            (Some(v), n)
        }
        None => (None, None),
    };
    let namespace_id = i.namespace_id.or(dns_ns).ok_or_else(|| {
        invalid("1 validation error detected: Value null at 'NamespaceId' failed to satisfy constraint: Member must not be null")
    })?;
    let hc = i
        .health_check_config
        .map(|h| health_check_config("HealthCheckConfig", h))
        .transpose()?;
    let custom = match i.health_check_custom_config {
        Some(c) => {
            if let Some(t) = c.failure_threshold {
                validate::range("HealthCheckCustomConfig.FailureThreshold", t, 1, 10)?;
            }
            Some(json!({"FailureThreshold": 1}))
        }
        None => None,
    };
    if hc.is_some() && custom.is_some() {
        return Err(invalid(
            "HealthCheckConfig and HealthCheckCustomConfig can't both be specified",
        ));
    }
    let tags = tags_in(i.tags)?;
    validate::tag_count(&name, tags.len())?;
    write(cm, |w| {
        let ns = require_ns(w, ctx, &namespace_id)?;
        let kind = match (ns.kind.as_str(), &dns, i.kind.is_some()) {
            ("HTTP", Some(_), _) => {
                return Err(invalid(format!(
                    "DnsConfig can't be specified for a service in HTTP namespace {}",
                    ns.id
                )))
            }
            (_, Some(_), true) => {
                return Err(invalid(
                    "DnsConfig can't be specified for a service of Type HTTP",
                ))
            }
            (_, Some(_), false) => "DNS_HTTP",
            _ => "HTTP",
        };
        if hc.is_some() && ns.kind == "DNS_PRIVATE" {
            return Err(invalid(
                "HealthCheckConfig is supported only for public DNS and HTTP namespaces",
            ));
        }
        let svc = create_service(
            w,
            ctx,
            &ns,
            NewService {
                name: &name,
                creator_request_id: i.creator_request_id.as_deref(),
                description: i.description.as_deref(),
                tags: &tags,
                kind,
                dns_config: dns,
                health_check_config: hc,
                health_check_custom_config: custom,
            },
        )?;
        let n = instance_count(w, ctx, &svc.id)?;
        Ok(json!({"Service": service_out(ctx, &svc, n, true)}))
    })
}

fn get_service(cm: &CloudMap, ctx: &Context, i: IdIn) -> Result<Value, ApiError> {
    let id = required("Id", i.id)?;
    validate::max_len("Id", &id, 255)?;
    read(cm, |r| {
        let svc = require_svc(r, ctx, &id)?;
        let n = instance_count(r, ctx, &svc.id)?;
        Ok(json!({"Service": service_out(ctx, &svc, n, true)}))
    })
}

fn list_services(cm: &CloudMap, ctx: &Context, i: ListIn) -> Result<Value, ApiError> {
    let max = max_results(i.max_results, 100, 100)?;
    opt_len("NextToken", &i.next_token, 4096)?;
    let filters = filters_in(
        i.filters,
        &["NAMESPACE_ID", "RESOURCE_OWNER"],
        |n| match n {
            "NAMESPACE_ID" => &["EQ", "IN"],
            _ => &["EQ"],
        },
    )?;
    let mut owned = true;
    let mut namespaces: Option<BTreeSet<String>> = None;
    for f in &filters {
        if f.name == "RESOURCE_OWNER" {
            owned &= resource_owner_filter(f, ctx)?;
        } else {
            let set: BTreeSet<String> = f
                .values
                .iter()
                .map(|v| id_from_arn(v, "namespace").to_string())
                .collect();
            namespaces = Some(match namespaces {
                None => set,
                Some(prev) => prev.intersection(&set).cloned().collect(),
            });
        }
    }
    read(cm, |r| {
        let (items, next) = if !owned || namespaces.as_ref().is_some_and(|s| s.is_empty()) {
            (Vec::new(), None)
        } else if let Some(one) = namespaces.as_ref().filter(|s| s.len() == 1) {
            // One namespace: walk its by-name index.
            let ns_id = one.iter().next().cloned().unwrap_or_default();
            if ns_id.contains('/') {
                (Vec::new(), None)
            } else {
                paginate(
                    r,
                    &keys::svc_name_prefix(ctx, &ns_id),
                    i.next_token.as_deref(),
                    max,
                    |k, v| {
                        let id: String = decode(k, v)?;
                        let Some(svc) = get_svc(r, ctx, &id)? else {
                            return Ok(None);
                        };
                        let n = instance_count(r, ctx, &svc.id)?;
                        Ok(Some(service_out(ctx, &svc, n, false)))
                    },
                )?
            }
        } else {
            paginate(
                r,
                &keys::svc_prefix(ctx),
                i.next_token.as_deref(),
                max,
                |k, v| {
                    let svc: ServiceRec = decode(k, v)?;
                    if namespaces
                        .as_ref()
                        .is_some_and(|s| !s.contains(&svc.namespace_id))
                    {
                        return Ok(None);
                    }
                    let n = instance_count(r, ctx, &svc.id)?;
                    Ok(Some(service_out(ctx, &svc, n, false)))
                },
            )?
        };
        let mut out = json!({"Services": items});
        if let Some(t) = next {
            out["NextToken"] = json!(t);
        }
        Ok(out)
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DnsConfigChangeIn {
    dns_records: Option<Vec<DnsRecordIn>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ServiceChangeIn {
    description: Option<String>,
    dns_config: Option<DnsConfigChangeIn>,
    health_check_config: Option<HealthCheckConfigIn>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateServiceIn {
    id: Option<String>,
    service: Option<ServiceChangeIn>,
}

fn record_types(v: &Value) -> BTreeSet<String> {
    v["DnsRecords"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["Type"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn update_service(cm: &CloudMap, ctx: &Context, i: UpdateServiceIn) -> Result<Value, ApiError> {
    let id = required("Id", i.id)?;
    validate::max_len("Id", &id, 255)?;
    let change = required("Service", i.service)?;
    opt_len("Service.Description", &change.description, 1024)?;
    let records = change
        .dns_config
        .map(|d| dns_records("Service.DnsConfig", d.dns_records))
        .transpose()?;
    let hc = change
        .health_check_config
        .map(|h| health_check_config("Service.HealthCheckConfig", h))
        .transpose()?;
    write(cm, |w| {
        let mut svc = require_svc(w, ctx, &id)?;
        if let Some(records) = records {
            let Some(dns) = svc.dns_config.as_mut() else {
                return Err(invalid(format!(
                    "Service {} has no DnsConfig: Service.DnsConfig can't be specified",
                    svc.id
                )));
            };
            let new = json!({"DnsRecords": records});
            if record_types(&new) != record_types(dns) {
                return Err(invalid(
                    "Service.DnsConfig: the record types of a service can't be changed",
                ));
            }
            dns["DnsRecords"] = new["DnsRecords"].clone();
        }
        if let Some(hc) = hc {
            if svc.health_check_custom_config.is_some() {
                return Err(invalid(
                    "Service.HealthCheckConfig can't be specified for a service with HealthCheckCustomConfig",
                ));
            }
            svc.health_check_config = Some(hc);
        }
        if let Some(d) = change.description {
            svc.description = Some(d);
        }
        w.put_json(&keys::svc(ctx, &svc.id), &svc)?;
        let op = record_operation(
            w,
            ctx,
            "UPDATE_SERVICE",
            &[("NAMESPACE", &svc.namespace_id), ("SERVICE", &svc.id)],
        )?;
        Ok(json!({"OperationId": op}))
    })
}

fn delete_service_op(cm: &CloudMap, ctx: &Context, i: IdIn) -> Result<Value, ApiError> {
    let id = required("Id", i.id)?;
    validate::max_len("Id", &id, 255)?;
    write(cm, |w| {
        let svc = require_svc(w, ctx, &id)?;
        delete_service(w, ctx, &svc)?;
        Ok(json!({}))
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ServiceAttributesIn {
    service_id: Option<String>,
}

fn get_service_attributes(
    cm: &CloudMap,
    ctx: &Context,
    i: ServiceAttributesIn,
) -> Result<Value, ApiError> {
    let id = required("ServiceId", i.service_id)?;
    validate::max_len("ServiceId", &id, 255)?;
    read(cm, |r| {
        let svc = require_svc(r, ctx, &id)?;
        Ok(json!({"ServiceAttributes": {
            "ServiceArn": svc.arn,
            "ResourceOwner": ctx.account,
            "Attributes": svc.attributes,
        }}))
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateServiceAttributesIn {
    service_id: Option<String>,
    attributes: Option<BTreeMap<String, String>>,
}

fn update_service_attributes(
    cm: &CloudMap,
    ctx: &Context,
    i: UpdateServiceAttributesIn,
) -> Result<Value, ApiError> {
    let id = required("ServiceId", i.service_id)?;
    validate::max_len("ServiceId", &id, 255)?;
    let attrs = required("Attributes", i.attributes)?;
    if attrs.is_empty() || attrs.len() > 30 {
        return Err(invalid(format!(
            "1 validation error detected: Value at 'Attributes' failed to satisfy constraint: Member must have between 1 and 30 entries, got {}",
            attrs.len()
        )));
    }
    for (k, v) in &attrs {
        validate::max_len("Attributes.key", k, 255)?;
        validate::max_len(&format!("Attributes.{k}"), v, 1024)?;
    }
    write(cm, |w| {
        let mut svc = require_svc(w, ctx, &id)?;
        svc.attributes.extend(attrs);
        if svc.attributes.len() > 30 {
            return Err(ApiError::new(
                400,
                "ServiceAttributesLimitExceededException",
                format!(
                    "Service {} would have {} attributes; the limit is 30",
                    svc.id,
                    svc.attributes.len()
                ),
            ));
        }
        w.put_json(&keys::svc(ctx, &svc.id), &svc)?;
        Ok(json!({}))
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteServiceAttributesIn {
    service_id: Option<String>,
    attributes: Option<Vec<String>>,
}

fn delete_service_attributes(
    cm: &CloudMap,
    ctx: &Context,
    i: DeleteServiceAttributesIn,
) -> Result<Value, ApiError> {
    let id = required("ServiceId", i.service_id)?;
    validate::max_len("ServiceId", &id, 255)?;
    let keys_in = required("Attributes", i.attributes)?;
    if keys_in.is_empty() || keys_in.len() > 30 {
        return Err(invalid(format!(
            "1 validation error detected: Value at 'Attributes' failed to satisfy constraint: Member must have between 1 and 30 members, got {}",
            keys_in.len()
        )));
    }
    for k in &keys_in {
        validate::max_len("Attributes.member", k, 255)?;
    }
    write(cm, |w| {
        let mut svc = require_svc(w, ctx, &id)?;
        for k in &keys_in {
            svc.attributes.remove(k);
        }
        w.put_json(&keys::svc(ctx, &svc.id), &svc)?;
        Ok(json!({}))
    })
}

// ----- instances -----

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RegisterInstanceIn {
    service_id: Option<String>,
    instance_id: Option<String>,
    creator_request_id: Option<String>,
    attributes: Option<BTreeMap<String, String>>,
}

fn register_instance_op(
    cm: &CloudMap,
    ctx: &Context,
    i: RegisterInstanceIn,
) -> Result<Value, ApiError> {
    let service_id = required("ServiceId", i.service_id)?;
    validate::max_len("ServiceId", &service_id, 255)?;
    let instance_id = required("InstanceId", i.instance_id)?;
    validate::instance_id(&instance_id)?;
    opt_len("CreatorRequestId", &i.creator_request_id, 64)?;
    let attrs = required("Attributes", i.attributes)?;
    write(cm, |w| {
        let svc = require_svc(w, ctx, &service_id)?;
        validate::instance_attributes(&svc, &attrs)?;
        let op = register_instance(
            w,
            ctx,
            &svc,
            &instance_id,
            i.creator_request_id.as_deref(),
            &attrs,
        )?;
        Ok(json!({"OperationId": op}))
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InstanceRefIn {
    service_id: Option<String>,
    instance_id: Option<String>,
}

fn instance_ref(i: InstanceRefIn) -> Result<(String, String), ApiError> {
    let service_id = required("ServiceId", i.service_id)?;
    validate::max_len("ServiceId", &service_id, 255)?;
    let instance_id = required("InstanceId", i.instance_id)?;
    validate::max_len("InstanceId", &instance_id, 64)?;
    Ok((service_id, instance_id))
}

fn deregister_instance_op(
    cm: &CloudMap,
    ctx: &Context,
    i: InstanceRefIn,
) -> Result<Value, ApiError> {
    let (service_id, instance_id) = instance_ref(i)?;
    write(cm, |w| {
        let svc = require_svc(w, ctx, &service_id)?;
        let op = deregister_instance(w, ctx, &svc, &instance_id)?;
        Ok(json!({"OperationId": op}))
    })
}

fn get_inst(
    r: &impl Read,
    ctx: &Context,
    svc: &ServiceRec,
    id: &str,
) -> Result<InstanceRec, ApiError> {
    let rec: Option<InstanceRec> = if id.is_empty() {
        None
    } else {
        r.get_json(&keys::inst(ctx, &svc.id, id))?
    };
    rec.ok_or_else(|| inst_not_found(&svc.id, id))
}

fn get_instance(cm: &CloudMap, ctx: &Context, i: InstanceRefIn) -> Result<Value, ApiError> {
    let (service_id, instance_id) = instance_ref(i)?;
    read(cm, |r| {
        let svc = require_svc(r, ctx, &service_id)?;
        let inst = get_inst(r, ctx, &svc, &instance_id)?;
        let mut m = Map::new();
        m.insert("Id".into(), json!(inst.id));
        put_opt(&mut m, "CreatorRequestId", &inst.creator_request_id);
        m.insert("Attributes".into(), json!(inst.attributes));
        m.insert("CreatedByAccount".into(), json!(ctx.account));
        Ok(json!({"ResourceOwner": ctx.account, "Instance": Value::Object(m)}))
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListInstancesIn {
    service_id: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
}

fn list_instances(cm: &CloudMap, ctx: &Context, i: ListInstancesIn) -> Result<Value, ApiError> {
    let service_id = required("ServiceId", i.service_id)?;
    validate::max_len("ServiceId", &service_id, 255)?;
    let max = max_results(i.max_results, 100, 100)?;
    opt_len("NextToken", &i.next_token, 4096)?;
    read(cm, |r| {
        let svc = require_svc(r, ctx, &service_id)?;
        let (items, next) = paginate(
            r,
            &keys::inst_prefix(ctx, &svc.id),
            i.next_token.as_deref(),
            max,
            |k, v| {
                let inst: InstanceRec = decode(k, v)?;
                Ok(Some(json!({
                    "Id": inst.id,
                    "Attributes": inst.attributes,
                    "CreatedByAccount": ctx.account,
                })))
            },
        )?;
        let mut out = json!({"ResourceOwner": ctx.account, "Instances": items});
        if let Some(t) = next {
            out["NextToken"] = json!(t);
        }
        Ok(out)
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DiscoverIn {
    namespace_name: Option<String>,
    service_name: Option<String>,
    max_results: Option<i64>,
    query_parameters: Option<BTreeMap<String, String>>,
    optional_parameters: Option<BTreeMap<String, String>>,
    health_status: Option<String>,
    owner_account: Option<String>,
}

/// Resolves `NamespaceName` (the `HttpName`) and `ServiceName` to the service.
fn discover_target(
    r: &impl Read,
    ctx: &Context,
    namespace_name: &str,
    service_name: &str,
    owner_account: Option<&str>,
) -> Result<ServiceRec, ApiError> {
    let ns_missing = || {
        ApiError::new(
            404,
            "NamespaceNotFound",
            format!("Namespace not found: {namespace_name}"),
        )
    };
    if owner_account.is_some_and(|o| o != ctx.account) {
        return Err(ns_missing());
    }
    let ns_id: String = r
        .get_json(&keys::ns_name(ctx, namespace_name))?
        .ok_or_else(ns_missing)?;
    svc_by_name(r, ctx, &ns_id, service_name)?.ok_or_else(|| svc_not_found(service_name))
}

fn discover_names(
    namespace_name: Option<String>,
    service_name: Option<String>,
    owner_account: &Option<String>,
) -> Result<(String, String), ApiError> {
    let namespace_name = required("NamespaceName", namespace_name)?;
    validate::namespace_name("NamespaceName", &namespace_name)?;
    let service_name = required("ServiceName", service_name)?;
    validate::service_name_field("ServiceName", &service_name)?;
    if let Some(o) = owner_account {
        validate::len_between("OwnerAccount", o, 12, 12)?;
    }
    Ok((namespace_name, service_name))
}

fn matches_all(attrs: &BTreeMap<String, String>, params: &BTreeMap<String, String>) -> bool {
    params.iter().all(|(k, v)| attrs.get(k) == Some(v))
}

fn discover_instances(cm: &CloudMap, ctx: &Context, i: DiscoverIn) -> Result<Value, ApiError> {
    let (namespace_name, service_name) =
        discover_names(i.namespace_name, i.service_name, &i.owner_account)?;
    let max = max_results(i.max_results, 1000, 100)?;
    let health = i.health_status.unwrap_or_else(|| "HEALTHY".to_string());
    validate::one_of(
        "HealthStatus",
        &health,
        &["HEALTHY", "UNHEALTHY", "ALL", "HEALTHY_OR_ELSE_ALL"],
    )?;
    let query = i.query_parameters.unwrap_or_default();
    let optional = i.optional_parameters.unwrap_or_default();
    for (k, v) in query.iter().chain(optional.iter()) {
        validate::max_len("QueryParameters.key", k, 255)?;
        validate::max_len(&format!("QueryParameters.{k}"), v, 1024)?;
    }
    read(cm, |r| {
        let svc = discover_target(
            r,
            ctx,
            &namespace_name,
            &service_name,
            i.owner_account.as_deref(),
        )?;
        let revision = instances_revision(r, ctx, &svc.id)?;
        let mut instances: Vec<InstanceRec> = Vec::new();
        let prefix = keys::inst_prefix(ctx, &svc.id);
        let mut after: Option<String> = None;
        loop {
            let batch = r.scan(&prefix, after.as_deref(), 1000)?;
            let done = batch.len() < 1000;
            for (k, v) in &batch {
                let inst: InstanceRec = decode(k, v)?;
                if matches_all(&inst.attributes, &query) {
                    instances.push(inst);
                }
            }
            if done {
                break;
            }
            after = batch.last().map(|(k, _)| k.clone());
        }
        if svc.has_health_check() {
            match health.as_str() {
                "HEALTHY" => instances.retain(|x| x.health == "HEALTHY"),
                "UNHEALTHY" => instances.retain(|x| x.health == "UNHEALTHY"),
                "HEALTHY_OR_ELSE_ALL" if instances.iter().any(|x| x.health == "HEALTHY") => {
                    instances.retain(|x| x.health == "HEALTHY")
                }
                _ => {}
            }
        }
        if !optional.is_empty()
            && instances
                .iter()
                .any(|x| matches_all(&x.attributes, &optional))
        {
            instances.retain(|x| matches_all(&x.attributes, &optional));
        }
        instances.truncate(max);
        let items: Vec<Value> = instances
            .into_iter()
            .map(|x| {
                json!({
                    "InstanceId": x.id,
                    "NamespaceName": namespace_name,
                    "ServiceName": svc.name,
                    "HealthStatus": x.health,
                    "Attributes": x.attributes,
                })
            })
            .collect();
        Ok(json!({"Instances": items, "InstancesRevision": revision}))
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DiscoverRevisionIn {
    namespace_name: Option<String>,
    service_name: Option<String>,
    owner_account: Option<String>,
}

fn discover_instances_revision(
    cm: &CloudMap,
    ctx: &Context,
    i: DiscoverRevisionIn,
) -> Result<Value, ApiError> {
    let (namespace_name, service_name) =
        discover_names(i.namespace_name, i.service_name, &i.owner_account)?;
    read(cm, |r| {
        let svc = discover_target(
            r,
            ctx,
            &namespace_name,
            &service_name,
            i.owner_account.as_deref(),
        )?;
        let revision = instances_revision(r, ctx, &svc.id)?;
        Ok(json!({"InstancesRevision": revision}))
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HealthStatusIn {
    service_id: Option<String>,
    instances: Option<Vec<String>>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

fn get_instances_health_status(
    cm: &CloudMap,
    ctx: &Context,
    i: HealthStatusIn,
) -> Result<Value, ApiError> {
    let service_id = required("ServiceId", i.service_id)?;
    validate::max_len("ServiceId", &service_id, 255)?;
    let max = max_results(i.max_results, 100, 100)?;
    opt_len("NextToken", &i.next_token, 4096)?;
    if let Some(list) = &i.instances {
        if list.is_empty() {
            return Err(invalid(
                "1 validation error detected: Value at 'Instances' failed to satisfy constraint: Member must have length greater than or equal to 1",
            ));
        }
        for id in list {
            validate::max_len("Instances.member", id, 64)?;
        }
    }
    read(cm, |r| {
        let svc = require_svc(r, ctx, &service_id)?;
        let mut status = Map::new();
        let mut next = None;
        match &i.instances {
            Some(list) => {
                for id in list {
                    let inst = get_inst(r, ctx, &svc, id)?;
                    status.insert(inst.id, json!(inst.health));
                }
            }
            None => {
                let (items, n) = paginate(
                    r,
                    &keys::inst_prefix(ctx, &svc.id),
                    i.next_token.as_deref(),
                    max,
                    |k, v| {
                        let inst: InstanceRec = decode(k, v)?;
                        Ok(Some((inst.id, inst.health)))
                    },
                )?;
                for (id, h) in items {
                    status.insert(id, json!(h));
                }
                next = n;
            }
        }
        let mut out = json!({"Status": Value::Object(status)});
        if let Some(t) = next {
            out["NextToken"] = json!(t);
        }
        Ok(out)
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CustomHealthIn {
    service_id: Option<String>,
    instance_id: Option<String>,
    status: Option<String>,
}

fn update_custom_health(
    cm: &CloudMap,
    ctx: &Context,
    i: CustomHealthIn,
) -> Result<Value, ApiError> {
    let service_id = required("ServiceId", i.service_id)?;
    validate::max_len("ServiceId", &service_id, 255)?;
    let instance_id = required("InstanceId", i.instance_id)?;
    validate::max_len("InstanceId", &instance_id, 64)?;
    let status = required("Status", i.status)?;
    validate::one_of("Status", &status, &["HEALTHY", "UNHEALTHY"])?;
    write(cm, |w| {
        let svc = require_svc(w, ctx, &service_id)?;
        let mut inst = get_inst(w, ctx, &svc, &instance_id)?;
        if svc.health_check_custom_config.is_none() {
            return Err(ApiError::new(
                404,
                "CustomHealthNotFound",
                format!(
                    "Service {} has no HealthCheckCustomConfig: instance {instance_id} has no custom health check",
                    svc.id
                ),
            ));
        }
        if inst.health != status {
            inst.health = status;
            w.put_json(&keys::inst(ctx, &svc.id, &inst.id), &inst)?;
            bump_revision(w, ctx, &svc.id)?;
        }
        Ok(json!({}))
    })
}

// ----- tags -----

/// A taggable resource.
enum Tagged {
    Namespace(NamespaceRec),
    Service(ServiceRec),
}

impl Tagged {
    fn tags(&mut self) -> &mut Vec<(String, String)> {
        match self {
            Tagged::Namespace(n) => &mut n.tags,
            Tagged::Service(s) => &mut s.tags,
        }
    }

    fn save(&self, w: &mut Writer<'_>, ctx: &Context) -> Result<(), ApiError> {
        match self {
            Tagged::Namespace(n) => w.put_json(&keys::ns(ctx, &n.id), n),
            Tagged::Service(s) => w.put_json(&keys::svc(ctx, &s.id), s),
        }
        .map_err(ApiError::from)
    }
}

fn resource_arn(arn: Option<String>) -> Result<String, ApiError> {
    let arn = required("ResourceARN", arn)?;
    validate::len_between("ResourceARN", &arn, 1, 1011)?;
    if !arn.starts_with("arn:") {
        return Err(invalid(format!("ResourceARN '{arn}' is not a valid ARN")));
    }
    Ok(arn)
}

fn find_tagged(r: &impl Read, ctx: &Context, arn: &str) -> Result<Tagged, ApiError> {
    let not_found = || {
        ApiError::new(
            404,
            "ResourceNotFoundException",
            format!("Resource not found: {arn}"),
        )
    };
    let prefix = ctx.arn(crate::ARN_SERVICE, "");
    let Some(rest) = arn.strip_prefix(&prefix) else {
        return Err(not_found());
    };
    let found = if let Some(id) = rest.strip_prefix("namespace/") {
        get_ns(r, ctx, id)?.map(Tagged::Namespace)
    } else if let Some(id) = rest.strip_prefix("service/") {
        get_svc(r, ctx, id)?.map(Tagged::Service)
    } else {
        None
    };
    found.ok_or_else(not_found)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagResourceIn {
    #[serde(rename = "ResourceARN")]
    resource_arn: Option<String>,
    tags: Option<Vec<TagIn>>,
}

fn tag_resource(cm: &CloudMap, ctx: &Context, i: TagResourceIn) -> Result<Value, ApiError> {
    let arn = resource_arn(i.resource_arn)?;
    let tags = tags_in(Some(required("Tags", i.tags)?))?;
    write(cm, |w| {
        let mut res = find_tagged(w, ctx, &arn)?;
        let current = res.tags();
        for (k, v) in tags {
            match current.iter_mut().find(|(ok, _)| *ok == k) {
                Some(e) => e.1 = v,
                None => current.push((k, v)),
            }
        }
        validate::tag_count(&arn, current.len())?;
        res.save(w, ctx)?;
        Ok(json!({}))
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UntagResourceIn {
    #[serde(rename = "ResourceARN")]
    resource_arn: Option<String>,
    tag_keys: Option<Vec<String>>,
}

fn untag_resource(cm: &CloudMap, ctx: &Context, i: UntagResourceIn) -> Result<Value, ApiError> {
    let arn = resource_arn(i.resource_arn)?;
    let keys_in = required("TagKeys", i.tag_keys)?;
    if keys_in.len() > 200 {
        return Err(invalid(
            "1 validation error detected: Value at 'TagKeys' failed to satisfy constraint: Member must have length less than or equal to 200",
        ));
    }
    for k in &keys_in {
        validate::len_between("TagKeys.member", k, 1, 128)?;
    }
    write(cm, |w| {
        let mut res = find_tagged(w, ctx, &arn)?;
        res.tags().retain(|(k, _)| !keys_in.contains(k));
        res.save(w, ctx)?;
        Ok(json!({}))
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListTagsIn {
    #[serde(rename = "ResourceARN")]
    resource_arn: Option<String>,
}

fn list_tags(cm: &CloudMap, ctx: &Context, i: ListTagsIn) -> Result<Value, ApiError> {
    let arn = resource_arn(i.resource_arn)?;
    read(cm, |r| {
        let mut res = find_tagged(r, ctx, &arn)?;
        Ok(json!({"Tags": tags_out(res.tags())}))
    })
}
