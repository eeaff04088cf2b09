//! Service Connect resolution: a `serviceConnectConfiguration` checked against its
//! rules (`rules::SC_*`), the task definition and the cluster, with its defaults filled
//! in (`discoveryName` from `portName`, `dnsName` as `discoveryName.namespace`, the
//! cluster's default namespace), as the typed configuration a deployment stores.

use std::collections::BTreeMap;

use berth_awsproto::{ApiError, Context};
use berth_cloudmap::NamespaceRef;
use berth_store::Read;
use serde::Serialize;
use serde_json::Value;

use super::input::{ClientAliasInput, ScConfigInput, ScServiceInput, TlsInput};
use super::rules::{self, Alias, Checks, Entry, Sc, Scope};
use crate::common::{invalid, namespace_not_found, R};
use crate::records::{
    ClientAlias, Cluster, Rest, ScConfiguration, ScService, ScTimeout, ScTls, ScTlsAuthority,
};
use crate::resource::to_json;
use crate::taskdef::{NetworkMode, PortMapping, TaskDefinition};

/// A Service Connect configuration, checked, with defaults filled in.
pub(super) struct ResolvedSc {
    /// The configuration as deployments show it.
    pub config: ScConfiguration,
    /// The namespace it joins.
    pub namespace: NamespaceRef,
}

/// Resolves the configuration `input`, which the request has at `at`, for a service of
/// `cluster` running `td`; `None` when Service Connect is disabled.
pub(super) fn resolve(
    r: &impl Read,
    ctx: &Context,
    at: &Scope<'_>,
    input: &ScConfigInput,
    cluster: &Cluster,
    td: &TaskDefinition,
) -> R<Option<ResolvedSc>> {
    let cx = ScCx { input, td };
    rules::check(rules::SC_SWITCH, at, &cx)?;
    if input.enabled != Some(true) {
        return Ok(None);
    }
    let (named, namespace) = namespace_of(r, ctx, input, cluster)?;
    rules::check(rules::SC_TASK_DEFINITION, at, &cx)?;
    let services = resolve_services(at, input, td, &namespace.name)?;
    rules::check(rules::SC_LOGS, at, &cx)?;
    Ok(Some(ResolvedSc {
        config: configuration(input, named, services)?,
        namespace,
    }))
}

/// Resolves a deployment's stored configuration again (for a new task definition).
pub(super) fn resolve_stored(
    r: &impl Read,
    ctx: &Context,
    stored: &ScConfiguration,
    cluster: &Cluster,
    td: &TaskDefinition,
) -> R<Option<ResolvedSc>> {
    let doc = to_json(stored)?;
    let input: ScConfigInput = serde_json::from_value(doc.clone())
        .map_err(|e| ApiError::internal(format!("stored Service Connect configuration: {e}")))?;
    let at = Scope::named(&doc, "serviceConnectConfiguration");
    resolve(r, ctx, &at, &input, cluster, td)
}

/// The namespace a configuration joins: as given, else the cluster's default. Returns
/// it as the deployment names it, and as found.
fn namespace_of(
    r: &impl Read,
    ctx: &Context,
    input: &ScConfigInput,
    cluster: &Cluster,
) -> R<(String, NamespaceRef)> {
    let named = match input.namespace.as_deref().filter(|n| !n.is_empty()) {
        Some(n) => n.to_string(),
        None => cluster
            .service_connect_defaults
            .as_ref()
            .map(|d| d.namespace.clone())
            .ok_or_else(|| {
                invalid("serviceConnectConfiguration.namespace is required: the cluster has no Service Connect default namespace.")
            })?,
    };
    let found = berth_cloudmap::find_namespace(r, ctx, &named)?
        .ok_or_else(|| namespace_not_found(&named))?;
    Ok((named, found))
}

/// Each entry of `services`, checked in order against the rules and the entries before it.
fn resolve_services(
    at: &Scope<'_>,
    input: &ScConfigInput,
    td: &TaskDefinition,
    namespace: &str,
) -> R<Vec<ScService>> {
    let mut out = Vec::new();
    for (i, s) in input.services.iter().flatten().enumerate() {
        let scope = at
            .item("services", i)
            .ok_or_else(|| ApiError::internal("serviceConnectConfiguration.services"))?;
        let entry = EntryCx {
            input: s,
            td,
            namespace,
            earlier: &out,
        };
        rules::check(rules::SC_SERVICE, &scope, &entry)?;
        let resolved = entry.resolve();
        out.push(resolved);
    }
    Ok(out)
}

/// `logConfiguration` as deployments show it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LogConfiguration<'a> {
    log_driver: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    options: Option<&'a BTreeMap<String, String>>,
    secret_options: &'a [Value],
}

/// `accessLogConfiguration` as deployments show it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AccessLog<'a> {
    format: &'a str,
    include_query_parameters: &'a str,
}

/// The resolved configuration, from the checked input and its resolved entries.
fn configuration(
    input: &ScConfigInput,
    namespace: String,
    services: Vec<ScService>,
) -> R<ScConfiguration> {
    let mut rest = Rest::new();
    if let Some(l) = &input.log_configuration {
        let log = LogConfiguration {
            log_driver: l.log_driver.as_deref().unwrap_or_default(),
            options: l.options.as_ref(),
            secret_options: l.secret_options.as_deref().unwrap_or_default(),
        };
        rest.insert("logConfiguration".into(), to_json(&log)?);
    }
    if let Some(a) = &input.access_log_configuration {
        let access = AccessLog {
            format: a.format.as_deref().unwrap_or_default(),
            include_query_parameters: a.include_query_parameters.as_deref().unwrap_or("DISABLED"),
        };
        rest.insert("accessLogConfiguration".into(), to_json(&access)?);
    }
    if let Some(cc) = &input.container_configurations {
        rest.insert("containerConfigurations".into(), Value::from(cc.clone()));
    }
    let listed = !services.is_empty() || input.services.is_some();
    Ok(ScConfiguration {
        enabled: true,
        namespace: Some(namespace),
        services: listed.then_some(services),
        rest,
    })
}

// ---- checks of the configuration ----------------------------------------------------

/// What the configuration-wide checks see.
struct ScCx<'a> {
    input: &'a ScConfigInput,
    td: &'a TaskDefinition,
}

impl Checks<ScCx<'_>> for Sc {
    fn run(self, _: &Scope<'_>, cx: &ScCx<'_>) -> R<()> {
        match self {
            Sc::ServicesOnlyWhenEnabled => services_only_when_enabled(cx.input),
            Sc::SupportedNetworkMode => supported_network_mode(cx.td),
            Sc::TaskMemory => task_memory(cx.td),
            Sc::NoLinks => no_links(cx.td),
            Sc::AccessLogNeedsLogConfiguration => access_log_needs_log_configuration(cx.input),
        }
    }
}

fn services_only_when_enabled(sc: &ScConfigInput) -> R<()> {
    if sc.enabled == Some(false) && sc.services.as_ref().is_some_and(|s| !s.is_empty()) {
        return Err(invalid(
            "serviceConnectConfiguration.services can only be set when Service Connect is enabled.",
        ));
    }
    Ok(())
}

fn supported_network_mode(td: &TaskDefinition) -> R<()> {
    let mode = td.network_mode();
    if matches!(mode, NetworkMode::Awsvpc | NetworkMode::Bridge) {
        return Ok(());
    }
    Err(invalid(format!(
        "taskDefinition: Service Connect supports the awsvpc and bridge network modes, not '{mode}'."
    )))
}

fn task_memory(td: &TaskDefinition) -> R<()> {
    if td.memory.as_deref().is_some_and(|m| !m.is_empty()) {
        return Ok(());
    }
    Err(invalid(
        "taskDefinition: Service Connect requires a task-level memory limit (memory).",
    ))
}

fn no_links(td: &TaskDefinition) -> R<()> {
    let linked =
        (td.container_definitions.iter()).find(|c| c.links.as_ref().is_some_and(|l| !l.is_empty()));
    match linked {
        None => Ok(()),
        Some(c) => Err(invalid(format!(
            "taskDefinition: container '{}' uses links, which Service Connect does not support.",
            c.name
        ))),
    }
}

fn access_log_needs_log_configuration(sc: &ScConfigInput) -> R<()> {
    if sc.log_configuration.is_none() {
        return Err(invalid(
            "serviceConnectConfiguration.accessLogConfiguration requires serviceConnectConfiguration.logConfiguration.",
        ));
    }
    Ok(())
}

// ---- entries ------------------------------------------------------------------------

/// One entry of `services` and what its checks compare it with.
struct EntryCx<'a> {
    input: &'a ScServiceInput,
    td: &'a TaskDefinition,
    /// The namespace's name, for default DNS names.
    namespace: &'a str,
    /// The entries before it, resolved.
    earlier: &'a [ScService],
}

impl EntryCx<'_> {
    fn port_name(&self) -> &str {
        self.input.port_name.as_deref().unwrap_or_default()
    }

    /// Its port mapping (there is one once `PortNameIsMapped` holds).
    fn port(&self) -> Option<&PortMapping> {
        self.td.port_mapping(self.port_name())
    }

    /// `discoveryName`, `portName` unless given.
    fn discovery(&self) -> &str {
        self.input
            .discovery_name
            .as_deref()
            .unwrap_or(self.port_name())
    }

    /// A client alias's `dnsName`, `discoveryName.namespace` unless given.
    fn dns_name(&self, a: &ClientAliasInput) -> String {
        a.dns_name
            .clone()
            .unwrap_or_else(|| format!("{}.{}", self.discovery(), self.namespace))
    }

    /// A client alias as `dnsName:port`, the name it claims.
    fn alias_key(&self, a: &ClientAliasInput) -> String {
        format!("{}:{}", self.dns_name(a), a.port.unwrap_or_default())
    }

    fn aliases(&self) -> &[ClientAliasInput] {
        self.input.client_aliases.as_deref().unwrap_or_default()
    }

    /// The entry with its defaults filled in (once its rules hold).
    fn resolve(&self) -> ScService {
        ScService {
            port_name: self.port_name().to_string(),
            discovery_name: self.discovery().to_string(),
            client_aliases: self
                .aliases()
                .iter()
                .map(|a| ClientAlias {
                    port: a.port.unwrap_or_default(),
                    dns_name: self.dns_name(a),
                    rest: a.rest.clone(),
                })
                .collect(),
            ingress_port_override: self.input.ingress_port_override,
            timeout: self.input.timeout.as_ref().map(|t| ScTimeout {
                idle_timeout_seconds: t.idle_timeout_seconds,
                per_request_timeout_seconds: t.per_request_timeout_seconds,
            }),
            tls: self.input.tls.as_ref().map(tls),
            rest: Rest::new(),
        }
    }
}

fn tls(t: &TlsInput) -> ScTls {
    let arn = t
        .issuer_certificate_authority
        .as_ref()
        .and_then(|ca| ca.aws_pca_authority_arn.clone());
    ScTls {
        issuer_certificate_authority: ScTlsAuthority {
            aws_pca_authority_arn: arn.unwrap_or_default(),
        },
        kms_key: t.kms_key.clone(),
        role_arn: t.role_arn.clone(),
    }
}

impl Checks<EntryCx<'_>> for Entry {
    fn run(self, at: &Scope<'_>, e: &EntryCx<'_>) -> R<()> {
        match self {
            Entry::PortNameIsMapped => port_name_is_mapped(at, e),
            Entry::DiscoveryNameIsLabel => {
                check_dns_label(e.discovery(), &at.field("discoveryName"), 64, false)
            }
            Entry::DiscoveryNameIsUnique => discovery_name_is_unique(at, e),
            Entry::ClientAliases => client_aliases(at, e),
            Entry::IngressPortDiffers => ingress_port_differs(at, e),
            Entry::PerRequestTimeoutNeedsAppProtocol => per_request_needs_app_protocol(at, e),
        }
    }
}

fn port_name_is_mapped(at: &Scope<'_>, e: &EntryCx<'_>) -> R<()> {
    if e.port().is_some() {
        return Ok(());
    }
    Err(invalid(format!(
        "{} '{}' does not match the name of any port mapping in the task definition.",
        at.field("portName"),
        e.port_name()
    )))
}

fn discovery_name_is_unique(at: &Scope<'_>, e: &EntryCx<'_>) -> R<()> {
    let name = e.discovery();
    if e.earlier.iter().any(|s| s.discovery_name == name) {
        return Err(invalid(format!(
            "{} '{name}' is used more than once in this configuration.",
            at.field("discoveryName")
        )));
    }
    Ok(())
}

/// Each client alias against `rules::SC_ALIAS`.
fn client_aliases(at: &Scope<'_>, e: &EntryCx<'_>) -> R<()> {
    for (j, a) in e.aliases().iter().enumerate() {
        let scope = at
            .item("clientAliases", j)
            .ok_or_else(|| ApiError::internal("clientAliases"))?;
        let alias = AliasCx {
            entry: e,
            input: a,
            before: &e.aliases()[..j],
        };
        rules::check(rules::SC_ALIAS, &scope, &alias)?;
    }
    Ok(())
}

fn ingress_port_differs(at: &Scope<'_>, e: &EntryCx<'_>) -> R<()> {
    let (Some(p), Some(port)) = (e.input.ingress_port_override, e.port()) else {
        return Ok(());
    };
    if p == i64::from(port.container_port.unwrap_or(0)) {
        return Err(invalid(format!(
            "{} {p} must differ from the container port of '{}'.",
            at.field("ingressPortOverride"),
            e.port_name()
        )));
    }
    Ok(())
}

fn per_request_needs_app_protocol(at: &Scope<'_>, e: &EntryCx<'_>) -> R<()> {
    let per_request = e
        .input
        .timeout
        .as_ref()
        .and_then(|t| t.per_request_timeout_seconds);
    if per_request.is_some() && e.port().is_some_and(|p| p.app_protocol.is_none()) {
        return Err(invalid(format!(
            "{} can only be set when the port mapping '{}' has an appProtocol; TCP allows only idleTimeoutSeconds.",
            at.field("timeout.perRequestTimeoutSeconds"),
            e.port_name()
        )));
    }
    Ok(())
}

// ---- client aliases -----------------------------------------------------------------

/// One client alias of an entry.
struct AliasCx<'a> {
    entry: &'a EntryCx<'a>,
    input: &'a ClientAliasInput,
    /// The entry's aliases before it.
    before: &'a [ClientAliasInput],
}

impl Checks<AliasCx<'_>> for Alias {
    fn run(self, at: &Scope<'_>, a: &AliasCx<'_>) -> R<()> {
        match self {
            Alias::DnsNameIsLabel => {
                check_dns_label(&a.entry.dns_name(a.input), &at.field("dnsName"), 127, true)
            }
            Alias::IsUnique => alias_is_unique(at, a),
        }
    }
}

fn alias_is_unique(at: &Scope<'_>, a: &AliasCx<'_>) -> R<()> {
    let key = a.entry.alias_key(a.input);
    let mut earlier = a.entry.earlier.iter().flat_map(|s| {
        s.client_aliases
            .iter()
            .map(|c| format!("{}:{}", c.dns_name, c.port))
    });
    let mut before = a.before.iter().map(|b| a.entry.alias_key(b));
    if earlier.any(|k| k == key) || before.any(|k| k == key) {
        return Err(invalid(format!(
            "{}: the alias {key} is used more than once in this configuration.",
            at.path()
        )));
    }
    Ok(())
}

/// A DNS label (or name, with `dots`): up to `max` lowercase letters, digits,
/// underscores and hyphens, not starting with a hyphen.
pub(super) fn check_dns_label(value: &str, field: &str, max: usize, dots: bool) -> R<()> {
    let ok = !value.is_empty()
        && value.len() <= max
        && !value.starts_with('-')
        && value.bytes().all(|b| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || b == b'-'
                || b == b'_'
                || (dots && b == b'.')
        });
    if ok {
        return Ok(());
    }
    Err(invalid(format!(
        "{field} '{value}' is invalid: up to {max} lowercase letters, numbers, underscores{} and hyphens, not starting with a hyphen.",
        if dots { ", periods" } else { "" }
    )))
}
