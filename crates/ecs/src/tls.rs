//! Service Connect TLS, as ECS does it with AWS Private CA:
//!
//! - **The CA a service names** (`tls.issuerCertificateAuthority.awsPcaAuthorityArn`)
//!   is checked when the service is created or updated: a CA of the caller's account
//!   and region, ACTIVE.
//! - **Certificates for tasks**: an agent asks for one per TLS service of each of its
//!   tasks with a CSR for a key it made (the key never leaves its host); the names are
//!   the server's: every client alias's `dnsName`, the discovery name, and the URI
//!   `spiffe://<namespace>/<cluster>/<service>` (the service's identity). They are
//!   valid [`TlsSettings::validity`] (AWS: 7 days) and renewed after
//!   [`TlsSettings::rotate_after`] (AWS: 5 days). A CA that is no longer ACTIVE issues
//!   nothing: the request fails and the service gets an event saying why.
//! - **Trust**: the views carry each TLS upstream's CA certificate (clients verify the
//!   chain and the name they dialled) and, for a TLS service, the CAs of every TLS
//!   service of its namespace (client certificates are verified against them).
//! - **Mutual TLS** (berth's; AWS does not do it): a client proxy whose own service has
//!   TLS presents its certificate; a service tagged [`MTLS_TAG`]` = required` refuses
//!   clients without one.

use std::collections::BTreeMap;

use berth_acmpca::{AuthorityInfo, CaStatus, IssueError, ServiceNames};
use berth_agent_view::{CertificateRequest, IssuedCertificate, UpstreamView};
use berth_awsproto::{ApiError, Context};
use berth_store::Read;

use crate::common::{invalid, R};
use crate::records::{ScConfiguration, Service};
use crate::Ecs;

/// The service tag that makes client certificates required (value `required`).
pub const MTLS_TAG: &str = "berth:mtls";

/// How long task certificates live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsSettings {
    /// Seconds a certificate is valid (AWS: 7 days).
    pub validity: i64,
    /// Seconds after which it is renewed (AWS: 5 days).
    pub rotate_after: i64,
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            validity: 7 * 86_400,
            rotate_after: 5 * 86_400,
        }
    }
}

/// Checks the CA a Service Connect entry names at `field`, as CreateService and
/// UpdateService do.
pub(crate) fn check_authority(r: &impl Read, ctx: &Context, field: &str, arn: &str) -> R<()> {
    let info = match berth_acmpca::authority_in(r, arn) {
        Ok(Some(i)) => i,
        Ok(None) => {
            return Err(invalid(format!(
                "{field}: the certificate authority {arn} does not exist."
            )))
        }
        Err(IssueError::InvalidArn(_)) => {
            return Err(invalid(format!(
                "{field} '{arn}' is not a valid AWS Private CA certificate authority ARN \
                 (arn:aws:acm-pca:<region>:<account>:certificate-authority/<id>)."
            )))
        }
        Err(e) => return Err(ApiError::internal(e.to_string())),
    };
    check_usable(&info, ctx, field)
}

fn check_usable(info: &AuthorityInfo, ctx: &Context, field: &str) -> R<()> {
    let arn = &info.arn;
    if info.region != ctx.region {
        return Err(invalid(format!(
            "{field}: the certificate authority {arn} is in {}; the service is in {}.",
            info.region, ctx.region
        )));
    }
    if info.account != ctx.account {
        return Err(invalid(format!(
            "{field}: the certificate authority {arn} belongs to another account."
        )));
    }
    if info.status != CaStatus::Active {
        return Err(invalid(format!(
            "{field}: the certificate authority {arn} is {}; Service Connect TLS needs an ACTIVE one.",
            info.status.as_str()
        )));
    }
    Ok(())
}

/// The certificate and chain (PEM) of the CA `arn`, when it has one.
pub(crate) fn trust_of(r: &impl Read, arn: &str) -> Option<String> {
    berth_acmpca::authority_in(r, arn)
        .ok()
        .flatten()
        .and_then(|i| i.chain_pem)
}

/// The CA certificates of the namespace's TLS upstreams, once each, in the order of
/// their ARNs (PEM): what a TLS service's proxy verifies client certificates against.
pub(crate) fn bundle<'a>(upstreams: impl IntoIterator<Item = &'a UpstreamView>) -> Option<String> {
    let by_arn: BTreeMap<&str, &str> = upstreams
        .into_iter()
        .filter_map(|u| u.tls.as_ref())
        .filter_map(|t| Some((t.authority_arn.as_str(), t.trust.as_deref()?)))
        .collect();
    (!by_arn.is_empty()).then(|| by_arn.into_values().collect())
}

/// Whether `s` requires client certificates.
pub(crate) fn requires_client_certificate(s: &Service) -> bool {
    s.tags.iter().any(|t| {
        t.key.as_deref() == Some(MTLS_TAG)
            && t.value
                .as_deref()
                .is_some_and(|v| v.eq_ignore_ascii_case("required"))
    })
}

/// What a certificate for one TLS service of a task is for: its CA and names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CertificateFor {
    pub authority_arn: String,
    pub names: ServiceNames,
}

/// The CA and names of the certificate of `discovery` for a task of `service` in
/// `cluster`, deployed with `sc` in the namespace `namespace`; `None` when that entry
/// has no TLS.
pub(crate) fn certificate_for(
    sc: &ScConfiguration,
    namespace: &str,
    cluster: &str,
    service: &str,
    discovery: &str,
) -> Option<CertificateFor> {
    let entry = sc
        .services
        .iter()
        .flatten()
        .find(|e| e.discovery_name == discovery)?;
    let tls = entry.tls.as_ref()?;
    let mut dns_names: Vec<String> = Vec::new();
    let mut add = |n: String| {
        if !n.is_empty() && !dns_names.contains(&n) {
            dns_names.push(n);
        }
    };
    for a in &entry.client_aliases {
        add(entry.alias_dns_name(a, namespace));
    }
    add(discovery.to_string());
    add(format!("{discovery}.{namespace}"));
    Some(CertificateFor {
        authority_arn: tls
            .issuer_certificate_authority
            .aws_pca_authority_arn
            .clone(),
        names: ServiceNames {
            dns_names,
            uris: vec![identity(namespace, cluster, service)],
        },
    })
}

/// A service's identity, the URI in its tasks' certificates.
pub fn identity(namespace: &str, cluster: &str, service: &str) -> String {
    format!("spiffe://{namespace}/{cluster}/{service}")
}

/// Issues the certificate `req` asks for, valid from `now` for the settings' validity.
pub(crate) fn issue(
    r: &impl Read,
    want: &CertificateFor,
    req: &CertificateRequest,
    now: i64,
    settings: TlsSettings,
) -> Result<IssuedCertificate, IssueError> {
    let issued = berth_acmpca::issue_service_certificate_in(
        r,
        &want.authority_arn,
        &req.csr,
        &want.names,
        now - 60,
        now + settings.validity,
    )?;
    let rotate_at = (now + settings.rotate_after).min(issued.not_after);
    Ok(IssuedCertificate {
        certificate_chain: format!("{}{}", issued.certificate_pem, issued.chain_pem),
        serial: issued.serial,
        not_before: issued.not_before,
        not_after: issued.not_after,
        rotate_at,
    })
}

/// Why an agent's certificate request is refused, as ECS errors.
pub(crate) fn issue_error(e: IssueError) -> ApiError {
    match e {
        IssueError::NotActive { arn, status } => invalid(format!(
            "the certificate authority is {}, not ACTIVE: it issues no certificates ({arn})",
            status.as_str()
        )),
        IssueError::Store(e) => ApiError::internal(e.to_string()),
        IssueError::Signing(e) => ApiError::internal(format!("signing: {e}")),
        e => invalid(e.to_string()),
    }
}

/// Issues the certificate an agent asks for a task on its container instance
/// `instance_id`: the task must be placed there and not stopping, and have the TLS
/// service `req.discovery_name`. A CA that does not issue fails the request and adds
/// an event to the service (once per task, while the reason stays the same).
pub fn issue_task_certificate(
    ecs: &Ecs,
    ctx: &Context,
    cluster: &str,
    instance_id: &str,
    req: &CertificateRequest,
    now: f64,
    settings: TlsSettings,
) -> R<IssuedCertificate> {
    let outcome = ecs.store.read(|r| {
        let (service, want) = wanted(r, ctx, cluster, instance_id, req)?;
        Ok::<_, ApiError>((service, issue(r, &want, req, now as i64, settings)))
    })?;
    match outcome {
        (_, Ok(issued)) => Ok(issued),
        (service, Err(e @ IssueError::NotActive { .. })) => {
            let kind = format!("(service {service}) was unable to get a TLS certificate");
            let message = format!("{kind} for task {}: {e}", req.task_arn);
            tracing::warn!(%message);
            let same_kind = |m: &str| m.starts_with(&kind);
            crate::scheduler::service_event(ecs, ctx, cluster, &service, message, same_kind, now)?;
            Err(issue_error(e))
        }
        (_, Err(e)) => Err(issue_error(e)),
    }
}

/// The service of the task `req` names, and the certificate it wants.
fn wanted(
    r: &impl Read,
    ctx: &Context,
    cluster: &str,
    instance_id: &str,
    req: &CertificateRequest,
) -> R<(String, CertificateFor)> {
    let id = req.task_arn.rsplit('/').next().unwrap_or_default();
    let task = crate::taskstore::get(r, ctx, cluster, id)?.ok_or_else(|| {
        invalid(format!(
            "taskArn: the task {} does not exist.",
            req.task_arn
        ))
    })?;
    let placed = task
        .container_instance_arn
        .as_deref()
        .and_then(|a| a.rsplit('/').next());
    if placed != Some(instance_id) {
        return Err(crate::common::client(format!(
            "the task {} is not placed on the container instance {instance_id}.",
            req.task_arn
        )));
    }
    if task.desired_status == crate::records::DesiredStatus::Stopped {
        return Err(invalid(format!("the task {} is stopping.", req.task_arn)));
    }
    let no_tls = || {
        invalid(format!(
            "discoveryName: the task {} serves no Service Connect service '{}' with TLS.",
            req.task_arn, req.discovery_name
        ))
    };
    let (service, sc) = match crate::agent::deployment_sc(r, ctx, cluster, &task)? {
        Some(d) => (task.service_name().unwrap_or_default().to_string(), d.sc),
        None => return Err(no_tls()),
    };
    let namespace = sc
        .namespace
        .as_deref()
        .and_then(|n| berth_cloudmap::find_namespace(r, ctx, n).ok().flatten())
        .ok_or_else(no_tls)?;
    let want = certificate_for(&sc, &namespace.name, cluster, &service, &req.discovery_name)
        .ok_or_else(no_tls)?;
    Ok((service, want))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{ClientAlias, Rest, ScService, ScTls, ScTlsAuthority};

    fn entry(discovery: &str, aliases: &[(&str, i64)], tls: bool) -> ScService {
        ScService {
            port_name: discovery.into(),
            discovery_name: discovery.into(),
            client_aliases: aliases
                .iter()
                .map(|(d, p)| ClientAlias {
                    port: *p,
                    dns_name: d.to_string(),
                    rest: Rest::new(),
                })
                .collect(),
            ingress_port_override: None,
            timeout: None,
            tls: tls.then(|| ScTls {
                issuer_certificate_authority: ScTlsAuthority {
                    aws_pca_authority_arn:
                        "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/x".into(),
                },
                kms_key: None,
                role_arn: None,
            }),
            rest: Rest::new(),
        }
    }

    #[test]
    fn names_of_a_task_certificate() {
        let sc = ScConfiguration {
            enabled: true,
            namespace: Some("sc".into()),
            services: Some(vec![
                entry("nginx", &[("nginx", 80), ("", 8080)], true),
                entry("plain", &[("plain", 80)], false),
            ]),
            rest: Rest::new(),
        };
        let got = certificate_for(&sc, "sc", "tutorial", "web", "nginx").unwrap();
        assert_eq!(got.names.dns_names, ["nginx", "nginx.sc"]);
        assert_eq!(got.names.uris, ["spiffe://sc/tutorial/web"]);
        assert!(got.authority_arn.ends_with("certificate-authority/x"));
        // No TLS, or no such entry: nothing to issue.
        assert_eq!(certificate_for(&sc, "sc", "tutorial", "web", "plain"), None);
        assert_eq!(certificate_for(&sc, "sc", "tutorial", "web", "nope"), None);
    }
}
