//! The rules of a `serviceConnectConfiguration`: [`SC_SWITCH`] first, then (enabled, its
//! namespace found) [`ScAt::RULES`]: what it needs of the task definition, each entry of
//! `services` ([`EntryAt::RULES`], each client alias through [`AliasAt::RULES`]), the
//! proxy's logs. An entry is checked against the entries before it as they resolve
//! (`discoveryName` from `portName`, `dnsName` as `discoveryName.namespace`).

use super::INT_MAX;
use crate::common::{invalid, R};
use crate::rules::{len, opt, Each, Rule, Subject, Within};
use crate::service::input::{
    AccessLogInput, ClientAliasInput, LogConfigurationInput, ScConfigInput, ScServiceInput,
    TlsInput,
};
use crate::taskdef::{LogDriver, NetworkMode, PortMapping, TaskDefinition};

const ACCESS_LOG_FORMATS: &[&str] = &["TEXT", "JSON"];
const DISABLED_ENABLED: &[&str] = &["DISABLED", "ENABLED"];
const PORT: &str = "{field} {value} must be between {min} and {max}.";
const OUT_OF_RANGE: &str = "{field} {value} is out of range.";

impl Subject for ScConfigInput {}
impl Subject for LogConfigurationInput {}
impl Subject for AccessLogInput {}
impl Subject for TlsInput {}

/// `serviceConnectConfiguration`, first.
pub(in crate::service) const SC_SWITCH: &[Rule<ScConfigInput>] = &[
    Rule::required("serviceConnectConfiguration.enabled", |s| {
        s.enabled.is_some()
    }),
    Rule::Check(services_only_when_enabled),
];

fn services_only_when_enabled(sc: &ScConfigInput) -> R<()> {
    if sc.enabled == Some(false) && sc.services.as_ref().is_some_and(|s| !s.is_empty()) {
        return Err(invalid(
            "serviceConnectConfiguration.services can only be set when Service Connect is enabled.",
        ));
    }
    Ok(())
}

// ---- an enabled configuration -------------------------------------------------------

/// An enabled configuration, with the task definition it runs and its namespace's name.
#[derive(Clone, Copy)]
pub(in crate::service) struct ScAt<'a> {
    pub input: &'a ScConfigInput,
    pub td: &'a TaskDefinition,
    /// For default DNS names.
    pub namespace: &'a str,
}

impl Subject for ScAt<'_> {}

impl<'a> ScAt<'a> {
    /// What it needs of the task definition, its entries, then the proxy's logs.
    pub(in crate::service) const RULES: &'a [Rule<'a, Self>] = &[
        Rule::Check(supported_network_mode),
        Rule::Check(task_memory),
        Rule::Check(no_links),
        Rule::Part(&Each::new(EntryAt::all, EntryAt::RULES)),
        Rule::Part(&Within::new(
            |sc: &Self| sc.input.log_configuration.as_ref(),
            LOG_CONFIGURATION,
        )),
        Rule::Part(&Within::new(
            |sc: &Self| sc.input.access_log_configuration.as_ref(),
            ACCESS_LOG,
        )),
        Rule::Check(access_log_needs_log_configuration),
    ];
}

#[rustfmt::skip]
const LOG_CONFIGURATION: &[Rule<LogConfigurationInput>] = &[
    Rule::required("serviceConnectConfiguration.logConfiguration.logDriver", |l| l.log_driver.is_some()),
    Rule::one_of("serviceConnectConfiguration.logConfiguration.logDriver", LogDriver::NAMES, |l| opt(l.log_driver.as_deref())),
];

#[rustfmt::skip]
const ACCESS_LOG: &[Rule<AccessLogInput>] = &[
    Rule::required("serviceConnectConfiguration.accessLogConfiguration.format", |a| a.format.is_some()),
    Rule::one_of("serviceConnectConfiguration.accessLogConfiguration.format", ACCESS_LOG_FORMATS, |a| opt(a.format.as_deref())),
    Rule::one_of("serviceConnectConfiguration.accessLogConfiguration.includeQueryParameters", DISABLED_ENABLED, |a| opt(a.include_query_parameters.as_deref())),
];

fn supported_network_mode(sc: &ScAt<'_>) -> R<()> {
    let mode = sc.td.network_mode();
    if matches!(mode, NetworkMode::Awsvpc | NetworkMode::Bridge) {
        return Ok(());
    }
    Err(invalid(format!(
        "taskDefinition: Service Connect supports the awsvpc and bridge network modes, not '{mode}'."
    )))
}

fn task_memory(sc: &ScAt<'_>) -> R<()> {
    if sc.td.memory.as_deref().is_some_and(|m| !m.is_empty()) {
        return Ok(());
    }
    Err(invalid(
        "taskDefinition: Service Connect requires a task-level memory limit (memory).",
    ))
}

fn no_links(sc: &ScAt<'_>) -> R<()> {
    let linked = (sc.td.container_definitions.iter())
        .find(|c| c.links.as_ref().is_some_and(|l| !l.is_empty()));
    match linked {
        None => Ok(()),
        Some(c) => Err(invalid(format!(
            "taskDefinition: container '{}' uses links, which Service Connect does not support.",
            c.name
        ))),
    }
}

fn access_log_needs_log_configuration(sc: &ScAt<'_>) -> R<()> {
    if sc.input.access_log_configuration.is_some() && sc.input.log_configuration.is_none() {
        return Err(invalid(
            "serviceConnectConfiguration.accessLogConfiguration requires serviceConnectConfiguration.logConfiguration.",
        ));
    }
    Ok(())
}

// ---- entries ------------------------------------------------------------------------

/// The `i`th entry of `services`.
#[derive(Clone, Copy)]
pub(in crate::service) struct EntryAt<'a> {
    pub sc: ScAt<'a>,
    pub i: usize,
    pub input: &'a ScServiceInput,
}

impl Subject for EntryAt<'_> {}

impl<'a> EntryAt<'a> {
    #[rustfmt::skip]
    const RULES: &'a [Rule<'a, Self>] = &[
        Rule::required("serviceConnectConfiguration.services[].portName", |e| e.input.port_name.is_some()),
        Rule::Check(port_name_is_mapped),
        Rule::Check(discovery_name_is_label),
        Rule::Check(discovery_name_is_unique),
        Rule::count("serviceConnectConfiguration.services[].clientAliases", (0, 1), |e| len(&e.input.client_aliases), "{field}: at most {max} client alias per service."),
        Rule::Part(&Each::new(AliasAt::all, AliasAt::RULES)),
        Rule::range("serviceConnectConfiguration.services[].ingressPortOverride", (1, 65535), |e| e.input.ingress_port_override, PORT),
        Rule::Check(ingress_port_differs),
        Rule::range("serviceConnectConfiguration.services[].timeout.idleTimeoutSeconds", (0, INT_MAX), |e| e.input.timeout.as_ref()?.idle_timeout_seconds, OUT_OF_RANGE),
        Rule::Check(per_request_needs_app_protocol),
        Rule::range("serviceConnectConfiguration.services[].timeout.perRequestTimeoutSeconds", (0, INT_MAX), |e| e.input.timeout.as_ref()?.per_request_timeout_seconds, OUT_OF_RANGE),
        Rule::Part(&Within::new(|e: &Self| e.input.tls.as_ref(), TLS)),
    ];

    /// The entries of a configuration, in order.
    pub(in crate::service) fn all(sc: &ScAt<'a>) -> Vec<EntryAt<'a>> {
        let sc = *sc;
        (sc.input.services.iter().flatten().enumerate())
            .map(|(i, input)| EntryAt { sc, i, input })
            .collect()
    }

    /// The entries before it.
    fn earlier(&self) -> impl Iterator<Item = EntryAt<'a>> {
        EntryAt::all(&self.sc).into_iter().take(self.i)
    }

    /// `serviceConnectConfiguration.services[i].<member>`.
    pub(in crate::service) fn field(&self, member: &str) -> String {
        format!("serviceConnectConfiguration.services[{}].{member}", self.i)
    }

    pub(in crate::service) fn port_name(&self) -> &'a str {
        self.input.port_name.as_deref().unwrap_or_default()
    }

    /// Its port mapping (there is one once `port_name_is_mapped` holds).
    pub(in crate::service) fn port(&self) -> Option<&'a PortMapping> {
        self.sc.td.port_mapping(self.port_name())
    }

    /// `discoveryName`, `portName` unless given.
    pub(in crate::service) fn discovery(&self) -> &'a str {
        self.input
            .discovery_name
            .as_deref()
            .unwrap_or(self.port_name())
    }

    /// The name a client alias answers to: its `dnsName`, `discoveryName.namespace`
    /// when it is not given or empty (AWS reads an empty `dnsName` as not given).
    pub(in crate::service) fn dns_name(&self, a: &ClientAliasInput) -> String {
        match a.dns_name.as_deref().filter(|n| !n.is_empty()) {
            Some(n) => n.to_string(),
            None => format!("{}.{}", self.discovery(), self.sc.namespace),
        }
    }

    /// A client alias as `dnsName:port`, the name it claims.
    fn alias_key(&self, a: &ClientAliasInput) -> String {
        format!("{}:{}", self.dns_name(a), a.port.unwrap_or_default())
    }

    pub(in crate::service) fn aliases(&self) -> &'a [ClientAliasInput] {
        self.input.client_aliases.as_deref().unwrap_or_default()
    }
}

#[rustfmt::skip]
const TLS: &[Rule<TlsInput>] = &[
    Rule::required("serviceConnectConfiguration.services[].tls.issuerCertificateAuthority.awsPcaAuthorityArn", |t| {
        t.issuer_certificate_authority.as_ref().is_some_and(|ca| ca.aws_pca_authority_arn.is_some())
    }),
];

fn port_name_is_mapped(e: &EntryAt<'_>) -> R<()> {
    if e.port().is_some() {
        return Ok(());
    }
    Err(invalid(format!(
        "{} '{}' does not match the name of any port mapping in the task definition.",
        e.field("portName"),
        e.port_name()
    )))
}

fn discovery_name_is_label(e: &EntryAt<'_>) -> R<()> {
    check_dns_label(e.discovery(), &e.field("discoveryName"), 64, false)
}

fn discovery_name_is_unique(e: &EntryAt<'_>) -> R<()> {
    let name = e.discovery();
    if e.earlier().any(|s| s.discovery() == name) {
        return Err(invalid(format!(
            "{} '{name}' is used more than once in this configuration.",
            e.field("discoveryName")
        )));
    }
    Ok(())
}

fn ingress_port_differs(e: &EntryAt<'_>) -> R<()> {
    let (Some(p), Some(port)) = (e.input.ingress_port_override, e.port()) else {
        return Ok(());
    };
    if p == i64::from(port.container_port.unwrap_or(0)) {
        return Err(invalid(format!(
            "{} {p} must differ from the container port of '{}'.",
            e.field("ingressPortOverride"),
            e.port_name()
        )));
    }
    Ok(())
}

fn per_request_needs_app_protocol(e: &EntryAt<'_>) -> R<()> {
    let per_request = (e.input.timeout.as_ref()).and_then(|t| t.per_request_timeout_seconds);
    if per_request.is_some() && e.port().is_some_and(|p| p.app_protocol.is_none()) {
        return Err(invalid(format!(
            "{} can only be set when the port mapping '{}' has an appProtocol; TCP allows only idleTimeoutSeconds.",
            e.field("timeout.perRequestTimeoutSeconds"),
            e.port_name()
        )));
    }
    Ok(())
}

// ---- client aliases -----------------------------------------------------------------

/// The `j`th client alias of an entry.
pub(in crate::service) struct AliasAt<'a> {
    entry: EntryAt<'a>,
    j: usize,
    input: &'a ClientAliasInput,
}

impl Subject for AliasAt<'_> {}

impl<'a> AliasAt<'a> {
    #[rustfmt::skip]
    const RULES: &'a [Rule<'a, Self>] = &[
        Rule::required("serviceConnectConfiguration.services[].clientAliases[].port", |a| a.input.port.is_some()),
        Rule::range("serviceConnectConfiguration.services[].clientAliases[].port", (1, 65535), |a| a.input.port, PORT),
        Rule::Check(dns_name_is_label),
        Rule::Check(alias_is_unique),
    ];

    /// An entry's client aliases.
    fn all(entry: &EntryAt<'a>) -> Vec<AliasAt<'a>> {
        let entry = *entry;
        (entry.aliases().iter().enumerate())
            .map(|(j, input)| AliasAt { entry, j, input })
            .collect()
    }

    /// `serviceConnectConfiguration.services[i].clientAliases[j]`.
    fn path(&self) -> String {
        format!("{}[{}]", self.entry.field("clientAliases"), self.j)
    }
}

fn dns_name_is_label(a: &AliasAt<'_>) -> R<()> {
    let field = format!("{}.dnsName", a.path());
    check_dns_label(&a.entry.dns_name(a.input), &field, 127, true)
}

/// Unique among the aliases of the entries before, and of its entry before it.
fn alias_is_unique(a: &AliasAt<'_>) -> R<()> {
    let key = a.entry.alias_key(a.input);
    let mut earlier = a.entry.earlier().flat_map(|e| {
        (e.aliases().iter())
            .map(|other| e.alias_key(other))
            .collect::<Vec<_>>()
    });
    let mut before = (a.entry.aliases()[..a.j].iter()).map(|b| a.entry.alias_key(b));
    if earlier.any(|k| k == key) || before.any(|k| k == key) {
        return Err(invalid(format!(
            "{}: the alias {key} is used more than once in this configuration.",
            a.path()
        )));
    }
    Ok(())
}

/// A DNS label (or name, with `dots`): up to `max` lowercase letters, digits,
/// underscores and hyphens, not starting with a hyphen.
pub(in crate::service) fn check_dns_label(
    value: &str,
    field: &str,
    max: usize,
    dots: bool,
) -> R<()> {
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
