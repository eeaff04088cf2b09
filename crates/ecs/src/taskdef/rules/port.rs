//! One port mapping's rules.

use berth_awsproto::ApiError;

use super::container::ContainerAt;
use crate::common::{client, invalid, R};
use crate::rules::{opt, Rule, Subject};
use crate::taskdef::record::{AppProtocol, NetworkMode, TransportProtocol};
use crate::taskdef::request::PortMapping;
use crate::taskdef::syntax::{parse_port_range, valid_port_name};

/// The `j`th port mapping of a container.
pub(super) struct PortAt<'a> {
    container: ContainerAt<'a>,
    j: usize,
    pm: &'a PortMapping,
}

impl Subject for PortAt<'_> {
    fn out_of_range(&self, field: &str, why: String) -> ApiError {
        self.container.out_of_range(field, why)
    }
}

impl<'a> PortAt<'a> {
    #[rustfmt::skip]
    pub(super) const RULES: &'a [Rule<'a, Self>] = &[
        Rule::one_of("containerDefinitions[].portMappings[].protocol", TransportProtocol::NAMES, |p| opt(p.pm.protocol.as_deref())),
        Rule::one_of("containerDefinitions[].portMappings[].appProtocol", AppProtocol::NAMES, |p| opt(p.pm.app_protocol.as_deref())),
        Rule::Check(port_range),
        Rule::Check(container_port),
        // With a range, port_range has refused any hostPort.
        Rule::range("hostPort", (0, 65535), |p| p.pm.host_port.map(i64::from), ""),
        Rule::Check(container_ports_unique),
        Rule::Check(host_port_matches),
        Rule::Check(port_name),
        Rule::Check(port_name_unique),
    ];

    /// A container's port mappings.
    pub(super) fn all(c: &ContainerAt<'a>) -> Vec<PortAt<'a>> {
        let container = *c;
        (c.port_mappings().enumerate())
            .map(|(j, pm)| PortAt { container, j, pm })
            .collect()
    }

    /// The container ports it maps: its range, or its one port.
    fn ports(pm: &PortMapping) -> Option<(u32, u32)> {
        match pm.container_port_range.as_deref() {
            Some(range) => parse_port_range(range),
            None => pm.container_port.map(|p| (p as u32, p as u32)),
        }
    }

    /// `containerDefinitions[i].portMappings[j]`.
    fn field(&self) -> String {
        format!(
            "containerDefinitions[{}].portMappings[{}]",
            self.container.i, self.j
        )
    }
}

/// A `containerPortRange`: alone, in bridge or awsvpc mode, and well formed.
fn port_range(p: &PortAt<'_>) -> R<()> {
    let Some(range) = p.pm.container_port_range.as_deref() else {
        return Ok(());
    };
    let c = p.container;
    if p.pm.container_port.is_some() {
        return Err(c.invalid_setting(
            "containerPortRange",
            "specify either containerPort or containerPortRange, not both.",
        ));
    }
    if p.pm.host_port.is_some() {
        return Err(c.invalid_setting("hostPort", "hostPort can't be set with containerPortRange."));
    }
    if !matches!(c.task.mode, NetworkMode::Bridge | NetworkMode::Awsvpc) {
        return Err(c.invalid_setting(
            "containerPortRange",
            "port ranges need networkMode bridge or awsvpc.",
        ));
    }
    if parse_port_range(range).is_none() {
        return Err(c.invalid_setting(
            "containerPortRange",
            &format!("'{range}' must be first-last, between 1 and 65535, first less than last."),
        ));
    }
    Ok(())
}

/// Without a range: a `containerPort` from 1 to 65535.
fn container_port(p: &PortAt<'_>) -> R<()> {
    if p.pm.container_port_range.is_none()
        && !p
            .pm
            .container_port
            .is_some_and(|cp| (1..=65535).contains(&cp))
    {
        return Err(p.container.invalid_setting("containerPort", ""));
    }
    Ok(())
}

/// No container port is mapped twice in one container; the answer names the lowest port
/// this mapping shares with an earlier one.
fn container_ports_unique(p: &PortAt<'_>) -> R<()> {
    let Some((first, last)) = PortAt::ports(p.pm) else {
        return Ok(());
    };
    let shared = (p.container.port_mappings().take(p.j))
        .filter_map(PortAt::ports)
        .filter(|(a, b)| *a <= last && first <= *b)
        .map(|(a, _)| a.max(first))
        .min();
    match shared {
        Some(port) => Err(invalid(format!(
            "Container port {port} is used in more than one port mapping for container {}",
            p.container.name
        ))),
        None => Ok(()),
    }
}

/// In awsvpc and host modes a given hostPort is the containerPort.
fn host_port_matches(p: &PortAt<'_>) -> R<()> {
    let mode = p.container.task.mode;
    let mismatch = matches!(mode, NetworkMode::Awsvpc | NetworkMode::Host)
        && p.pm.container_port_range.is_none()
        && p.pm
            .host_port
            .is_some_and(|hp| Some(hp) != p.pm.container_port);
    if mismatch {
        return Err(client(format!(
            "When networkMode={mode}, the host ports and container ports in port mappings must match."
        )));
    }
    Ok(())
}

fn port_name(p: &PortAt<'_>) -> R<()> {
    match p.pm.name.as_deref() {
        Some(pn) if !valid_port_name(pn) => Err(invalid(format!(
            "{}.name '{pn}' is invalid: up to 64 lowercase letters, numbers, underscores and hyphens are allowed, and it can't start with a hyphen.",
            p.field()
        ))),
        _ => Ok(()),
    }
}

/// Port mapping names are unique in the whole task definition.
fn port_name_unique(p: &PortAt<'_>) -> R<()> {
    let Some(pn) = p.pm.name.as_deref() else {
        return Ok(());
    };
    let task = p.container.task;
    let earlier_containers = task.containers()[..p.container.i].iter();
    let mut earlier = (earlier_containers.flat_map(|c| c.port_mappings.iter().flatten()))
        .chain(p.container.port_mappings().take(p.j));
    if earlier.any(|o| o.name.as_deref() == Some(pn)) {
        return Err(invalid(format!(
            "{}.name '{pn}' is used by more than one port mapping: port mapping names must be unique within a task definition.",
            p.field()
        )));
    }
    Ok(())
}
