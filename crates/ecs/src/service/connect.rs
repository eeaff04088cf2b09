//! Service Connect resolution: a `serviceConnectConfiguration` checked against its
//! rules (`rules::SC_SWITCH`, `rules::ScAt::RULES`: the task definition, each entry,
//! the logs), with its defaults filled in (`discoveryName` from `portName`, `dnsName` as
//! `discoveryName.namespace`, the cluster's default namespace), as the typed
//! configuration a deployment stores. An empty `dnsName` is read as not given (it
//! answers to `discoveryName.namespace`) but echoed as given.

use std::collections::BTreeMap;

use berth_awsproto::{ApiError, Context};
use berth_cloudmap::NamespaceRef;
use berth_store::Read;
use serde::Serialize;
use serde_json::Value;

use super::input::{ScConfigInput, TlsInput};
use super::rules::{EntryAt, ScAt, SC_SWITCH};
use crate::common::{invalid, namespace_not_found, R};
use crate::records::{
    ClientAlias, Cluster, Rest, ScConfiguration, ScService, ScTimeout, ScTls, ScTlsAuthority,
};
use crate::resource::to_json;
use crate::rules::check_all;
use crate::taskdef::TaskDefinition;

/// A Service Connect configuration, checked, with defaults filled in.
pub(super) struct ResolvedSc {
    /// The configuration as deployments show it.
    pub config: ScConfiguration,
    /// The namespace it joins.
    pub namespace: NamespaceRef,
}

/// Resolves the configuration `input` of a request for a service of `cluster` running
/// `td`; `None` when Service Connect is disabled.
pub(super) fn resolve(
    r: &impl Read,
    ctx: &Context,
    input: &ScConfigInput,
    cluster: &Cluster,
    td: &TaskDefinition,
) -> R<Option<ResolvedSc>> {
    check_all(SC_SWITCH, input)?;
    if input.enabled != Some(true) {
        return Ok(None);
    }
    let (named, namespace) = namespace_of(r, ctx, input, cluster)?;
    let sc = ScAt {
        input,
        td,
        namespace: &namespace.name,
    };
    check_all(ScAt::RULES, &sc)?;
    check_authorities(r, ctx, &sc)?;
    let services = EntryAt::all(&sc).iter().map(resolve_entry).collect();
    Ok(Some(ResolvedSc {
        config: configuration(input, named, services)?,
        namespace,
    }))
}

/// The CA of each entry with `tls` exists, in the caller's account and region, ACTIVE.
fn check_authorities(r: &impl Read, ctx: &Context, sc: &ScAt<'_>) -> R<()> {
    for e in EntryAt::all(sc) {
        let arn = (e.input.tls.as_ref())
            .and_then(|t| t.issuer_certificate_authority.as_ref())
            .and_then(|ca| ca.aws_pca_authority_arn.as_deref());
        if let Some(arn) = arn {
            let field = e.field("tls.issuerCertificateAuthority.awsPcaAuthorityArn");
            crate::tls::check_authority(r, ctx, &field, arn)?;
        }
    }
    Ok(())
}

/// Resolves a deployment's stored configuration again (for a new task definition).
pub(super) fn resolve_stored(
    r: &impl Read,
    ctx: &Context,
    stored: &ScConfiguration,
    cluster: &Cluster,
    td: &TaskDefinition,
) -> R<Option<ResolvedSc>> {
    let input: ScConfigInput = serde_json::from_value(to_json(stored)?)
        .map_err(|e| ApiError::internal(format!("stored Service Connect configuration: {e}")))?;
    resolve(r, ctx, &input, cluster, td)
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

/// An entry with its defaults filled in (once its rules hold).
fn resolve_entry(e: &EntryAt<'_>) -> ScService {
    let input = e.input;
    ScService {
        port_name: e.port_name().to_string(),
        discovery_name: e.discovery().to_string(),
        client_aliases: (e.aliases().iter())
            .map(|a| ClientAlias {
                port: a.port.unwrap_or_default(),
                // An empty `dnsName` is echoed as given (it answers to the default).
                dns_name: a.dns_name.clone().unwrap_or_else(|| e.dns_name(a)),
                rest: a.rest.clone(),
            })
            .collect(),
        ingress_port_override: input.ingress_port_override,
        timeout: input.timeout.as_ref().map(|t| ScTimeout {
            idle_timeout_seconds: t.idle_timeout_seconds,
            per_request_timeout_seconds: t.per_request_timeout_seconds,
        }),
        tls: input.tls.as_ref().map(tls),
        rest: Rest::new(),
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
