//! AWS Cloud Map (`servicediscovery`, API version 2017-03-14) on berth's store.
//!
//! [`CloudMap`] implements [`berth_awsproto::Api`]: every operation of the botocore model
//! that Service Connect and its users need, JSON value in, JSON value out. The `*_in`
//! free functions run inside another crate's store transaction, so `berth-ecs` can create
//! a cluster and its namespace (or a service and its discovery service) atomically.
//!
//! # Store key layout
//!
//! Everything lives under `sd/{account}/{region}/` (below: `P`). Values are JSON.
//!
//! | key | value |
//! |---|---|
//! | `P ns/{ns-id}` | [`NamespaceRec`]: a namespace, its tags and the id of its create operation |
//! | `P nsname/{name}` | the namespace id (index: names are unique per account and region, and the `HttpName` equals the `Name`) |
//! | `P nsreq/{creator-request-id}` | the id of the namespace that `CreatorRequestId` created (idempotency, `DuplicateRequest`) |
//! | `P svc/{srv-id}` | [`ServiceRec`]: a service, its tags and its service attributes |
//! | `P svcname/{ns-id}/{name}` | the service id (index: by-name lookup, `ServiceCount`, `ListServices` by namespace) |
//! | `P inst/{srv-id}/{instance-id}` | [`InstanceRec`]: attributes, health, creator request id |
//! | `P rev/{srv-id}` | the service's `InstancesRevision`: the store revision of the write transaction that last changed the service's instances or their health |
//! | `P op/{operation-id}` | [`OperationRec`]: an operation, always `SUCCESS` (berth applies every change synchronously) |
//!
//! Every lookup the hot paths make is a point read: `RegisterInstance` reads the service
//! and writes the instance, the revision key and an operation; `DiscoverInstances` reads
//! two index keys, the service, the revision key and scans only that service's instances.

use std::collections::BTreeMap;
use std::sync::Arc;

use berth_awsproto::{ApiError, Context, LOWER_ALNUM};
use berth_store::{Read, Store, Writer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

mod api;
mod validate;

#[cfg(test)]
mod tests;

/// The service name in ARNs.
pub const ARN_SERVICE: &str = "servicediscovery";

/// The Cloud Map API on berth's store.
#[derive(Debug, Clone)]
pub struct CloudMap {
    store: Arc<Store>,
}

impl CloudMap {
    /// Cloud Map over `store`.
    pub fn new(store: Arc<Store>) -> CloudMap {
        CloudMap { store }
    }

    /// The store it works on.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }
}

/// What other crates need to know about a namespace.
#[derive(Debug, Clone, PartialEq)]
pub struct NamespaceRef {
    /// `ns-…`.
    pub id: String,
    /// `arn:aws:servicediscovery:{region}:{account}:namespace/ns-…`.
    pub arn: String,
    /// The name (also the `HttpName`).
    pub name: String,
    /// `HTTP`, `DNS_PRIVATE` or `DNS_PUBLIC`.
    pub kind: String,
}

/// What other crates need to know about a service.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRef {
    /// `srv-…`.
    pub id: String,
    /// `arn:aws:servicediscovery:{region}:{account}:service/srv-…`.
    pub arn: String,
    /// The name (the Service Connect discovery name).
    pub name: String,
    /// The namespace it belongs to.
    pub namespace_id: String,
}

/// A stored namespace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamespaceRec {
    /// `ns-…`.
    pub id: String,
    /// Its ARN.
    pub arn: String,
    /// Its name.
    pub name: String,
    /// `HTTP`, `DNS_PRIVATE` or `DNS_PUBLIC`.
    pub kind: String,
    /// Description, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The `CreatorRequestId` of the create call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator_request_id: Option<String>,
    /// Epoch seconds.
    pub create_date: f64,
    /// The `Properties` member as returned (`DnsProperties`, `HttpProperties`).
    pub properties: Value,
    /// The VPC of a private DNS namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc: Option<String>,
    /// Tags, in insertion order.
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    /// The `CREATE_NAMESPACE` operation, returned again on an idempotent retry.
    pub create_operation_id: String,
}

impl NamespaceRec {
    fn to_ref(&self) -> NamespaceRef {
        NamespaceRef {
            id: self.id.clone(),
            arn: self.arn.clone(),
            name: self.name.clone(),
            kind: self.kind.clone(),
        }
    }
}

/// A stored service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceRec {
    /// `srv-…`.
    pub id: String,
    /// Its ARN.
    pub arn: String,
    /// Its name.
    pub name: String,
    /// Its namespace.
    pub namespace_id: String,
    /// Description, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `HTTP`, `DNS_HTTP` or `DNS`.
    pub kind: String,
    /// The `DnsConfig` member as returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_config: Option<Value>,
    /// The `HealthCheckConfig` member as returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_config: Option<Value>,
    /// The `HealthCheckCustomConfig` member as returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_custom_config: Option<Value>,
    /// Epoch seconds.
    pub create_date: f64,
    /// The `CreatorRequestId` of the create call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator_request_id: Option<String>,
    /// Tags, in insertion order.
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    /// Service attributes (`UpdateServiceAttributes`).
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

impl ServiceRec {
    fn to_ref(&self) -> ServiceRef {
        ServiceRef {
            id: self.id.clone(),
            arn: self.arn.clone(),
            name: self.name.clone(),
            namespace_id: self.namespace_id.clone(),
        }
    }

    /// True when the service has a Route 53 or a custom health check.
    pub fn has_health_check(&self) -> bool {
        self.health_check_config.is_some() || self.health_check_custom_config.is_some()
    }
}

/// A stored instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceRec {
    /// The instance id the caller chose.
    pub id: String,
    /// The `CreatorRequestId` of the register call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator_request_id: Option<String>,
    /// Its attributes.
    pub attributes: BTreeMap<String, String>,
    /// `HEALTHY`, `UNHEALTHY` or `UNKNOWN`.
    pub health: String,
}

/// A stored operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationRec {
    /// The operation id.
    pub id: String,
    /// `CREATE_NAMESPACE`, `REGISTER_INSTANCE`, ….
    pub kind: String,
    /// Always `SUCCESS`.
    pub status: String,
    /// Epoch seconds.
    pub create_date: f64,
    /// Epoch seconds.
    pub update_date: f64,
    /// `NAMESPACE` / `SERVICE` / `INSTANCE` → id.
    pub targets: BTreeMap<String, String>,
}

/// Key helpers.
pub(crate) mod keys {
    use berth_awsproto::Context;

    /// `sd/{account}/{region}/`.
    pub fn base(ctx: &Context) -> String {
        format!("sd/{}/{}/", ctx.account, ctx.region)
    }
    pub fn ns(ctx: &Context, id: &str) -> String {
        format!("{}ns/{id}", base(ctx))
    }
    pub fn ns_prefix(ctx: &Context) -> String {
        format!("{}ns/", base(ctx))
    }
    pub fn ns_name(ctx: &Context, name: &str) -> String {
        format!("{}nsname/{name}", base(ctx))
    }
    pub fn ns_req(ctx: &Context, creator_request_id: &str) -> String {
        format!("{}nsreq/{creator_request_id}", base(ctx))
    }
    pub fn svc(ctx: &Context, id: &str) -> String {
        format!("{}svc/{id}", base(ctx))
    }
    pub fn svc_prefix(ctx: &Context) -> String {
        format!("{}svc/", base(ctx))
    }
    pub fn svc_name(ctx: &Context, ns_id: &str, name: &str) -> String {
        format!("{}svcname/{ns_id}/{name}", base(ctx))
    }
    pub fn svc_name_prefix(ctx: &Context, ns_id: &str) -> String {
        format!("{}svcname/{ns_id}/", base(ctx))
    }
    pub fn inst(ctx: &Context, srv_id: &str, id: &str) -> String {
        format!("{}inst/{srv_id}/{id}", base(ctx))
    }
    pub fn inst_prefix(ctx: &Context, srv_id: &str) -> String {
        format!("{}inst/{srv_id}/", base(ctx))
    }
    pub fn rev(ctx: &Context, srv_id: &str) -> String {
        format!("{}rev/{srv_id}", base(ctx))
    }
    pub fn op(ctx: &Context, id: &str) -> String {
        format!("{}op/{id}", base(ctx))
    }
    pub fn op_prefix(ctx: &Context) -> String {
        format!("{}op/", base(ctx))
    }
}

// ----- errors -----

pub(crate) fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError::new(400, "InvalidInput", msg)
}
pub(crate) fn ns_not_found(id: &str) -> ApiError {
    ApiError::new(
        404,
        "NamespaceNotFound",
        format!("Namespace not found: {id}"),
    )
}
pub(crate) fn svc_not_found(id: &str) -> ApiError {
    ApiError::new(404, "ServiceNotFound", format!("Service not found: {id}"))
}
pub(crate) fn inst_not_found(srv: &str, id: &str) -> ApiError {
    ApiError::new(
        404,
        "InstanceNotFound",
        format!("Instance not found: {id} in service {srv}"),
    )
}

// ----- ids -----

pub(crate) fn new_ns_id() -> String {
    format!("ns-{}", berth_awsproto::random_string(16, LOWER_ALNUM))
}
pub(crate) fn new_srv_id() -> String {
    format!("srv-{}", berth_awsproto::random_string(16, LOWER_ALNUM))
}
/// AWS's format: 32 lowercase alphanumerics, `-`, 8 more.
pub(crate) fn new_op_id() -> String {
    format!(
        "{}-{}",
        berth_awsproto::random_string(32, LOWER_ALNUM),
        berth_awsproto::random_string(8, LOWER_ALNUM)
    )
}

/// The id in an id-or-ARN argument: `ns-x`, `arn:…:namespace/ns-x` → `ns-x`.
pub(crate) fn id_from_arn<'a>(value: &'a str, resource: &str) -> &'a str {
    if value.starts_with("arn:") {
        let marker = format!(":{resource}/");
        match value.rfind(&marker) {
            Some(i) => &value[i + marker.len()..],
            None => value,
        }
    } else {
        value
    }
}

// ----- reads -----

pub(crate) fn get_ns(
    r: &impl Read,
    ctx: &Context,
    id: &str,
) -> Result<Option<NamespaceRec>, ApiError> {
    if id.is_empty() || id.contains('/') {
        return Ok(None);
    }
    r.get_json(&keys::ns(ctx, id)).map_err(ApiError::from)
}

pub(crate) fn get_svc(
    r: &impl Read,
    ctx: &Context,
    id: &str,
) -> Result<Option<ServiceRec>, ApiError> {
    if id.is_empty() || id.contains('/') {
        return Ok(None);
    }
    r.get_json(&keys::svc(ctx, id)).map_err(ApiError::from)
}

/// The service named by an id or ARN, or `ServiceNotFound`.
pub(crate) fn require_svc(
    r: &impl Read,
    ctx: &Context,
    id_or_arn: &str,
) -> Result<ServiceRec, ApiError> {
    let id = id_from_arn(id_or_arn, "service");
    get_svc(r, ctx, id)?.ok_or_else(|| svc_not_found(id_or_arn))
}

/// The namespace named by an id or ARN, or `NamespaceNotFound`.
pub(crate) fn require_ns(
    r: &impl Read,
    ctx: &Context,
    id_or_arn: &str,
) -> Result<NamespaceRec, ApiError> {
    let id = id_from_arn(id_or_arn, "namespace");
    get_ns(r, ctx, id)?.ok_or_else(|| ns_not_found(id_or_arn))
}

pub(crate) fn ns_by_name(
    r: &impl Read,
    ctx: &Context,
    name: &str,
) -> Result<Option<NamespaceRec>, ApiError> {
    let Some(id) = r.get_json::<String>(&keys::ns_name(ctx, name))? else {
        return Ok(None);
    };
    get_ns(r, ctx, &id)
}

pub(crate) fn svc_by_name(
    r: &impl Read,
    ctx: &Context,
    ns_id: &str,
    name: &str,
) -> Result<Option<ServiceRec>, ApiError> {
    let Some(id) = r.get_json::<String>(&keys::svc_name(ctx, ns_id, name))? else {
        return Ok(None);
    };
    get_svc(r, ctx, &id)
}

/// The service's `InstancesRevision`.
pub(crate) fn instances_revision(
    r: &impl Read,
    ctx: &Context,
    srv_id: &str,
) -> Result<i64, ApiError> {
    Ok(r.get_json::<i64>(&keys::rev(ctx, srv_id))?.unwrap_or(0))
}

// ----- writes -----

/// Records that the service's instances (or their health) changed in this transaction.
pub(crate) fn bump_revision(
    w: &mut Writer<'_>,
    ctx: &Context,
    srv_id: &str,
) -> Result<(), ApiError> {
    let rev = w.revision() as i64;
    w.put_json(&keys::rev(ctx, srv_id), &rev)
        .map_err(ApiError::from)
}

/// Records a finished operation and returns its id.
pub(crate) fn record_operation(
    w: &mut Writer<'_>,
    ctx: &Context,
    kind: &str,
    targets: &[(&str, &str)],
) -> Result<String, ApiError> {
    let now = berth_awsproto::now();
    let op = OperationRec {
        id: new_op_id(),
        kind: kind.to_string(),
        status: "SUCCESS".to_string(),
        create_date: now,
        update_date: now,
        targets: targets
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    w.put_json(&keys::op(ctx, &op.id), &op)?;
    Ok(op.id)
}

/// Parameters of a namespace to create.
pub(crate) struct NewNamespace<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub creator_request_id: Option<&'a str>,
    pub description: Option<&'a str>,
    pub tags: &'a [(String, String)],
    pub vpc: Option<&'a str>,
    pub soa_ttl: Option<i64>,
}

/// Creates a namespace; on an idempotent retry (same name and `CreatorRequestId`)
/// returns the existing one. Returns the record and its create operation id.
pub(crate) fn create_namespace(
    w: &mut Writer<'_>,
    ctx: &Context,
    n: &NewNamespace<'_>,
) -> Result<NamespaceRec, ApiError> {
    if let Some(token) = n.creator_request_id {
        let owner: Option<String> = w.get_json(&keys::ns_req(ctx, token))?;
        if let Some(other) = owner.and_then(|id| get_ns(w, ctx, &id).transpose()) {
            let other = other?;
            if other.name != n.name || other.kind != n.kind {
                return Err(ApiError::new(
                    409,
                    "DuplicateRequest",
                    format!(
                        "CreatorRequestId {token} was already used to create namespace {}",
                        other.id
                    ),
                )
                .with("DuplicateOperationId", other.create_operation_id));
            }
        }
    }
    if let Some(existing) = ns_by_name(w, ctx, n.name)? {
        if n.creator_request_id.is_some()
            && existing.creator_request_id.as_deref() == n.creator_request_id
            && existing.kind == n.kind
        {
            return Ok(existing);
        }
        let mut e = ApiError::new(
            400,
            "NamespaceAlreadyExists",
            format!("Namespace with name {} already exists", n.name),
        )
        .with("NamespaceId", existing.id.clone());
        if let Some(c) = &existing.creator_request_id {
            e = e.with("CreatorRequestId", c.clone());
        }
        return Err(e);
    }
    let id = new_ns_id();
    let dns = match n.kind {
        "HTTP" => serde_json::json!({"SOA": {}}),
        _ => {
            let zone = format!(
                "Z{}",
                berth_awsproto::random_string(20, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
            );
            serde_json::json!({"HostedZoneId": zone, "SOA": {"TTL": n.soa_ttl.unwrap_or(15)}})
        }
    };
    let op_id = record_operation(w, ctx, "CREATE_NAMESPACE", &[("NAMESPACE", &id)])?;
    let rec = NamespaceRec {
        arn: ctx.arn(ARN_SERVICE, &format!("namespace/{id}")),
        id,
        name: n.name.to_string(),
        kind: n.kind.to_string(),
        description: n.description.map(str::to_string),
        creator_request_id: n.creator_request_id.map(str::to_string),
        create_date: berth_awsproto::now(),
        properties: serde_json::json!({
            "DnsProperties": dns,
            "HttpProperties": {"HttpName": n.name},
        }),
        vpc: n.vpc.map(str::to_string),
        tags: n.tags.to_vec(),
        create_operation_id: op_id,
    };
    w.put_json(&keys::ns(ctx, &rec.id), &rec)?;
    w.put_json(&keys::ns_name(ctx, &rec.name), &rec.id)?;
    if let Some(token) = &rec.creator_request_id {
        w.put_json(&keys::ns_req(ctx, token), &rec.id)?;
    }
    tracing::info!(namespace = %rec.id, name = %rec.name, kind = %rec.kind, "namespace created");
    Ok(rec)
}

/// Parameters of a service to create.
pub(crate) struct NewService<'a> {
    pub name: &'a str,
    pub creator_request_id: Option<&'a str>,
    pub description: Option<&'a str>,
    pub tags: &'a [(String, String)],
    pub kind: &'a str,
    pub dns_config: Option<Value>,
    pub health_check_config: Option<Value>,
    pub health_check_custom_config: Option<Value>,
}

/// Creates a service in `ns`; on an idempotent retry (same name and
/// `CreatorRequestId`) returns the existing one.
pub(crate) fn create_service(
    w: &mut Writer<'_>,
    ctx: &Context,
    ns: &NamespaceRec,
    s: NewService<'_>,
) -> Result<ServiceRec, ApiError> {
    if let Some(existing) = svc_by_name(w, ctx, &ns.id, s.name)? {
        if s.creator_request_id.is_some()
            && existing.creator_request_id.as_deref() == s.creator_request_id
        {
            return Ok(existing);
        }
        let mut e = ApiError::new(
            400,
            "ServiceAlreadyExists",
            format!(
                "Service with name {} already exists in namespace {}",
                s.name, ns.id
            ),
        )
        .with("ServiceId", existing.id.clone())
        .with("ServiceArn", existing.arn.clone());
        if let Some(c) = &existing.creator_request_id {
            e = e.with("CreatorRequestId", c.clone());
        }
        return Err(e);
    }
    let id = new_srv_id();
    let rec = ServiceRec {
        arn: ctx.arn(ARN_SERVICE, &format!("service/{id}")),
        id,
        name: s.name.to_string(),
        namespace_id: ns.id.clone(),
        description: s.description.map(str::to_string),
        kind: s.kind.to_string(),
        dns_config: s.dns_config,
        health_check_config: s.health_check_config,
        health_check_custom_config: s.health_check_custom_config,
        create_date: berth_awsproto::now(),
        creator_request_id: s.creator_request_id.map(str::to_string),
        tags: s.tags.to_vec(),
        attributes: BTreeMap::new(),
    };
    w.put_json(&keys::svc(ctx, &rec.id), &rec)?;
    w.put_json(&keys::svc_name(ctx, &ns.id, &rec.name), &rec.id)?;
    bump_revision(w, ctx, &rec.id)?;
    tracing::info!(service = %rec.id, name = %rec.name, namespace = %ns.id, "service created");
    Ok(rec)
}

/// Deletes a service that has no instances.
pub(crate) fn delete_service(
    w: &mut Writer<'_>,
    ctx: &Context,
    svc: &ServiceRec,
) -> Result<(), ApiError> {
    let n = w.count(&keys::inst_prefix(ctx, &svc.id))?;
    if n > 0 {
        return Err(ApiError::new(
            409,
            "ResourceInUse",
            format!("Service {} has {n} registered instances", svc.id),
        ));
    }
    w.delete(&keys::svc(ctx, &svc.id))?;
    w.delete(&keys::svc_name(ctx, &svc.namespace_id, &svc.name))?;
    w.delete(&keys::rev(ctx, &svc.id))?;
    tracing::info!(service = %svc.id, "service deleted");
    Ok(())
}

/// Registers (or re-registers, replacing the attributes) an instance; attributes must
/// already be validated. Returns the operation id.
pub(crate) fn register_instance(
    w: &mut Writer<'_>,
    ctx: &Context,
    svc: &ServiceRec,
    instance_id: &str,
    creator_request_id: Option<&str>,
    attributes: &BTreeMap<String, String>,
) -> Result<String, ApiError> {
    let key = keys::inst(ctx, &svc.id, instance_id);
    let previous: Option<InstanceRec> = w.get_json(&key)?;
    let init = attributes.get("AWS_INIT_HEALTH_STATUS").cloned();
    let health = match (&svc.health_check_custom_config, init, previous) {
        (Some(_), Some(init), _) => init,
        (_, _, Some(prev)) => prev.health,
        _ => "HEALTHY".to_string(),
    };
    let rec = InstanceRec {
        id: instance_id.to_string(),
        creator_request_id: creator_request_id.map(str::to_string),
        attributes: attributes.clone(),
        health,
    };
    w.put_json(&key, &rec)?;
    bump_revision(w, ctx, &svc.id)?;
    record_operation(
        w,
        ctx,
        "REGISTER_INSTANCE",
        &[
            ("NAMESPACE", &svc.namespace_id),
            ("SERVICE", &svc.id),
            ("INSTANCE", instance_id),
        ],
    )
}

/// Deregisters an instance. Returns the operation id.
pub(crate) fn deregister_instance(
    w: &mut Writer<'_>,
    ctx: &Context,
    svc: &ServiceRec,
    instance_id: &str,
) -> Result<String, ApiError> {
    if !w.delete(&keys::inst(ctx, &svc.id, instance_id))? {
        return Err(inst_not_found(&svc.id, instance_id));
    }
    bump_revision(w, ctx, &svc.id)?;
    record_operation(
        w,
        ctx,
        "DEREGISTER_INSTANCE",
        &[
            ("NAMESPACE", &svc.namespace_id),
            ("SERVICE", &svc.id),
            ("INSTANCE", instance_id),
        ],
    )
}

// ----- the public free functions -----

/// Finds a namespace by id (`ns-…`), ARN, or name.
pub fn find_namespace(
    r: &impl Read,
    ctx: &Context,
    id_arn_or_name: &str,
) -> Result<Option<NamespaceRef>, ApiError> {
    if id_arn_or_name.starts_with("arn:") {
        let id = id_from_arn(id_arn_or_name, "namespace");
        return Ok(get_ns(r, ctx, id)?
            .filter(|ns| ns.arn == id_arn_or_name)
            .map(|ns| ns.to_ref()));
    }
    if id_arn_or_name.starts_with("ns-") {
        if let Some(ns) = get_ns(r, ctx, id_arn_or_name)? {
            return Ok(Some(ns.to_ref()));
        }
    }
    Ok(ns_by_name(r, ctx, id_arn_or_name)?.map(|ns| ns.to_ref()))
}

/// Creates an HTTP namespace inside the caller's transaction (also records a
/// `CREATE_NAMESPACE` operation). `NamespaceAlreadyExists` if the name is taken, unless
/// the same `creator_request_id` created it (then the existing namespace is returned).
pub fn create_http_namespace_in(
    w: &mut Writer<'_>,
    ctx: &Context,
    name: &str,
    creator_request_id: Option<&str>,
    description: Option<&str>,
    tags: &[(String, String)],
) -> Result<NamespaceRef, ApiError> {
    validate::namespace_name_http(name)?;
    // No 64-character limit on `creator_request_id` here: ECS passes the namespace name.
    if let Some(d) = description {
        validate::max_len("Description", d, 1024)?;
    }
    validate::tags(tags)?;
    let rec = create_namespace(
        w,
        ctx,
        &NewNamespace {
            name,
            kind: "HTTP",
            creator_request_id,
            description,
            tags,
            vpc: None,
            soa_ttl: None,
        },
    )?;
    Ok(rec.to_ref())
}

/// Finds a service by name in a namespace (given by id).
pub fn find_service(
    r: &impl Read,
    ctx: &Context,
    namespace_id: &str,
    name: &str,
) -> Result<Option<ServiceRef>, ApiError> {
    let ns_id = id_from_arn(namespace_id, "namespace");
    Ok(svc_by_name(r, ctx, ns_id, name)?.map(|s| s.to_ref()))
}

/// Creates an HTTP-type service (as ECS Service Connect does) inside the caller's
/// transaction. `NamespaceNotFound`, `ServiceAlreadyExists`.
pub fn create_service_in(
    w: &mut Writer<'_>,
    ctx: &Context,
    namespace_id: &str,
    name: &str,
    description: Option<&str>,
    tags: &[(String, String)],
) -> Result<ServiceRef, ApiError> {
    validate::service_name(name)?;
    if let Some(d) = description {
        validate::max_len("Description", d, 1024)?;
    }
    validate::tags(tags)?;
    let ns = require_ns(w, ctx, namespace_id)?;
    let rec = create_service(
        w,
        ctx,
        &ns,
        NewService {
            name,
            creator_request_id: None,
            description,
            tags,
            kind: "HTTP",
            dns_config: None,
            health_check_config: None,
            health_check_custom_config: None,
        },
    )?;
    Ok(rec.to_ref())
}

/// Deletes a service (by id or ARN) inside the caller's transaction. `ServiceNotFound`;
/// `ResourceInUse` if it still has instances.
pub fn delete_service_in(
    w: &mut Writer<'_>,
    ctx: &Context,
    service_id: &str,
) -> Result<(), ApiError> {
    let svc = require_svc(w, ctx, service_id)?;
    delete_service(w, ctx, &svc)
}

/// Registers (or re-registers, replacing its attributes) an instance inside the
/// caller's transaction; bumps the service's `InstancesRevision`. Returns the operation id.
pub fn register_instance_in(
    w: &mut Writer<'_>,
    ctx: &Context,
    service_id: &str,
    instance_id: &str,
    attributes: &BTreeMap<String, String>,
) -> Result<String, ApiError> {
    validate::instance_id(instance_id)?;
    let svc = require_svc(w, ctx, service_id)?;
    validate::instance_attributes(&svc, attributes)?;
    register_instance(w, ctx, &svc, instance_id, None, attributes)
}

/// Deregisters an instance inside the caller's transaction; `InstanceNotFound` if absent.
/// Returns the operation id.
pub fn deregister_instance_in(
    w: &mut Writer<'_>,
    ctx: &Context,
    service_id: &str,
    instance_id: &str,
) -> Result<String, ApiError> {
    let svc = require_svc(w, ctx, service_id)?;
    deregister_instance(w, ctx, &svc, instance_id)
}

/// The instances of a service (by id or ARN), in id order; empty if the service is gone.
pub fn list_instances(
    r: &impl Read,
    ctx: &Context,
    service_id: &str,
) -> Result<Vec<InstanceRec>, ApiError> {
    let id = id_from_arn(service_id, "service");
    Ok(
        r.scan_json::<InstanceRec>(&keys::inst_prefix(ctx, id), None, usize::MAX)?
            .into_iter()
            .map(|(_, i)| i)
            .collect(),
    )
}

/// One instance of a service (by id or ARN), if both exist.
pub fn get_instance(
    r: &impl Read,
    ctx: &Context,
    service_id: &str,
    instance_id: &str,
) -> Result<Option<InstanceRec>, ApiError> {
    let id = id_from_arn(service_id, "service");
    Ok(r.get_json::<InstanceRec>(&keys::inst(ctx, id, instance_id))?)
}

/// How clients reach Cloud Map: RPCv2-CBOR (the newest botocore) and AWS JSON 1.1
/// (the AWS SDK for Rust), under the same name.
pub static SERVICE: berth_awsproto::Service = berth_awsproto::Service {
    signing_name: ARN_SERVICE,
    protocols: &[
        berth_awsproto::Protocol::Json {
            target_prefix: TARGET_PREFIX,
            version: berth_awsproto::JsonVersion::V1_1,
        },
        berth_awsproto::Protocol::Cbor {
            service: TARGET_PREFIX,
            // Cloud Map's model has no blob member.
            blobs: &[],
        },
    ],
    error_message_key: "Message",
    query_compatible: false,
    output: berth_awsproto::OutputShape {
        timestamps: &["CreateDate", "UpdateDate"],
        ..berth_awsproto::OutputShape::PLAIN
    },
};

/// The `X-Amz-Target` prefix and RPCv2-CBOR service name.
pub const TARGET_PREFIX: &str = "Route53AutoNaming_v20170314";

impl berth_awsproto::Api for CloudMap {
    fn service(&self) -> &'static berth_awsproto::Service {
        &SERVICE
    }

    fn invoke(
        &self,
        ctx: &Context,
        op: &str,
        input: berth_awsproto::Input,
    ) -> Result<Value, ApiError> {
        api::call(self, ctx, op, input.into_value())
    }
}
