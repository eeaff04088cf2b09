//! What services need of a task definition. Task definitions are still JSON documents
//! (`taskdef::resolve`); [`Definition::read`] is the one place services read them.

use berth_awsproto::Context;
use berth_store::Read;
use serde_json::Value;

use crate::common::{invalid, R};
use crate::taskdef;

/// A named port mapping of a task definition.
pub(super) struct NamedPort {
    pub name: String,
    pub container_port: i64,
    pub app_protocol: Option<String>,
}

/// A task definition, as services see it.
pub(super) struct Definition {
    pub arn: String,
    pub active: bool,
    /// `networkMode`, `bridge` when absent.
    pub network_mode: String,
    /// Whether it has a task-level `memory`.
    pub has_memory: bool,
    /// The first container that uses `links`.
    pub linked_container: Option<String>,
    /// The named port mappings of every container, in order.
    pub ports: Vec<NamedPort>,
}

impl Definition {
    /// The task definition `reference` (family, family:revision or ARN) names.
    pub fn resolve(r: &impl Read, ctx: &Context, reference: &str) -> R<Option<Definition>> {
        Ok(taskdef::resolve(r, ctx, reference)?.map(|td| Definition::read(&td)))
    }

    /// The ACTIVE task definition `reference` names, or why it cannot be used.
    pub fn active(r: &impl Read, ctx: &Context, reference: &str) -> R<Definition> {
        let td = Definition::resolve(r, ctx, reference)?.ok_or_else(|| {
            invalid(format!(
                "The specified task definition '{reference}' does not exist."
            ))
        })?;
        if !td.active {
            return Err(invalid(format!(
                "TaskDefinition '{reference}' is inactive."
            )));
        }
        Ok(td)
    }

    fn read(td: &Value) -> Definition {
        let containers = td["containerDefinitions"].as_array().into_iter().flatten();
        let linked_container = containers
            .clone()
            .find(|c| c["links"].as_array().is_some_and(|l| !l.is_empty()))
            .map(|c| c["name"].as_str().unwrap_or_default().to_string());
        let ports = containers
            .flat_map(|c| c["portMappings"].as_array().into_iter().flatten())
            .filter_map(|p| {
                Some(NamedPort {
                    name: p["name"].as_str()?.to_string(),
                    container_port: p["containerPort"].as_i64().unwrap_or(0),
                    app_protocol: p["appProtocol"].as_str().map(str::to_string),
                })
            })
            .collect();
        Definition {
            arn: td["taskDefinitionArn"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            active: td["status"] == "ACTIVE",
            network_mode: td["networkMode"].as_str().unwrap_or("bridge").to_string(),
            has_memory: td["memory"].as_str().is_some_and(|m| !m.is_empty()),
            linked_container,
            ports,
        }
    }

    /// Whether tasks get their own network interface (`awsvpc`).
    pub fn is_awsvpc(&self) -> bool {
        self.network_mode == "awsvpc"
    }

    /// Whether tasks share the host's bridge (`bridge`).
    pub fn is_bridge(&self) -> bool {
        self.network_mode == "bridge"
    }

    /// The port mapping named `name`.
    pub fn port(&self, name: &str) -> Option<&NamedPort> {
        self.ports.iter().find(|p| p.name == name)
    }
}
