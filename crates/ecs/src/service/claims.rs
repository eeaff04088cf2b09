//! Service Connect names are unique in a namespace. Index keys under
//! `sc/<namespace id>/` hold the ARN of the ECS service that owns each name:
//! `name/<discoveryName>`, `alias/<dnsName>:<port>`, and `service/<arn>` lists the
//! services in the namespace for ListServicesByNamespace.

use berth_awsproto::Context;
use berth_store::{Read, Writer};

use super::connect::ResolvedSc;
use crate::common::{invalid, root, R};
use crate::records::{ScConfiguration, ScResource, Service};

/// Where a namespace's index keys are.
pub(super) fn sc_root(ctx: &Context, ns_id: &str) -> String {
    format!("{}sc/{ns_id}/", root(ctx))
}

/// Each served entry of `config` (in the namespace called `namespace`): its
/// discoveryName and its client aliases as `dnsName:port`.
fn names<'a>(config: &'a ScConfiguration, namespace: &str) -> Vec<(&'a str, Vec<String>)> {
    config
        .services
        .iter()
        .flatten()
        .map(|s| {
            let aliases = (s.client_aliases.iter())
                .map(|a| format!("{}:{}", s.alias_dns_name(a, namespace), a.port))
                .collect();
            (s.discovery_name.as_str(), aliases)
        })
        .collect()
}

/// Claims the names of `sc` for the service `arn` in its namespace and creates (or
/// reuses) the Cloud Map service of each entry. Returns `serviceConnectResources`.
fn claim(w: &mut Writer<'_>, ctx: &Context, arn: &str, sc: &ResolvedSc) -> R<Vec<ScResource>> {
    let ns = &sc.namespace;
    let base = sc_root(ctx, &ns.id);
    let mut resources = Vec::new();
    for (discovery, aliases) in names(&sc.config, &ns.name) {
        let name_key = format!("{base}name/{discovery}");
        ensure_free(
            w,
            &name_key,
            arn,
            &format!("the discoveryName '{discovery}'"),
            &ns.name,
        )?;
        for a in aliases {
            let alias_key = format!("{base}alias/{a}");
            ensure_free(
                w,
                &alias_key,
                arn,
                &format!("the client alias {a}"),
                &ns.name,
            )?;
            w.put_json(&alias_key, arn)?;
        }
        w.put_json(&name_key, arn)?;
        let svc = match berth_cloudmap::find_service(w, ctx, &ns.id, discovery)? {
            Some(s) => s,
            None => berth_cloudmap::create_service_in(w, ctx, &ns.id, discovery, None, &[])?,
        };
        resources.push(ScResource {
            discovery_name: discovery.to_string(),
            discovery_arn: svc.arn,
        });
    }
    w.put_json(&format!("{base}service/{arn}"), arn)?;
    Ok(resources)
}

/// A new deployment's Service Connect: `sc` with its names claimed for `arn`, and its
/// `serviceConnectResources`.
pub(super) fn claim_for(
    w: &mut Writer<'_>,
    ctx: &Context,
    arn: &str,
    sc: Option<ResolvedSc>,
) -> R<Option<(ScConfiguration, Vec<ScResource>)>> {
    let Some(sc) = sc else {
        return Ok(None);
    };
    let resources = claim(w, ctx, arn, &sc)?;
    Ok(Some((sc.config, resources)))
}

/// An error if the name at `key` (`what`) belongs to a service other than `arn`.
fn ensure_free(w: &Writer<'_>, key: &str, arn: &str, what: &str, namespace: &str) -> R<()> {
    match w.get_json::<String>(key)? {
        Some(owner) if owner != arn => Err(invalid(format!(
            "serviceConnectConfiguration: {what} is already used in namespace '{namespace}' by {owner}."
        ))),
        _ => Ok(()),
    }
}

/// Releases every Service Connect name the service `arn` holds in the namespaces its
/// deployments use, except those `keep` still claims.
pub(super) fn release(
    w: &mut Writer<'_>,
    ctx: &Context,
    arn: &str,
    service: &Service,
    keep: Option<&ResolvedSc>,
) -> R<()> {
    for d in &service.deployments {
        let Some(config) = &d.service_connect_configuration else {
            continue;
        };
        // A namespace that cannot be found holds no names to release.
        let found = config
            .namespace
            .as_deref()
            .and_then(|n| berth_cloudmap::find_namespace(w, ctx, n).ok().flatten());
        let Some(ns) = found else {
            continue;
        };
        let base = sc_root(ctx, &ns.id);
        let kept = keep.filter(|k| k.namespace.id == ns.id);
        let kept_names = (kept.map(|k| names(&k.config, &ns.name))).unwrap_or_default();
        for (discovery, aliases) in names(config, &ns.name) {
            if !kept_names.iter().any(|(d, _)| *d == discovery) {
                release_key(w, &format!("{base}name/{discovery}"), arn)?;
            }
            for a in aliases {
                if !kept_names.iter().any(|(_, held)| held.contains(&a)) {
                    release_key(w, &format!("{base}alias/{a}"), arn)?;
                }
            }
        }
        if kept.is_none() {
            w.delete(&format!("{base}service/{arn}"))?;
        }
    }
    Ok(())
}

/// Deletes the index key `key` if `arn` owns it.
fn release_key(w: &mut Writer<'_>, key: &str, arn: &str) -> R<()> {
    if w.get_json::<String>(key)?.as_deref() == Some(arn) {
        w.delete(key)?;
    }
    Ok(())
}
