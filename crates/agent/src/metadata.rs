//! A task's metadata and credentials endpoint (`berth-taskmeta`), fed by what the agent
//! knows: the task's view and definition (fixed at start), its containers' states (from
//! the runtime, as they change), their processes' statistics, and its task role's
//! current credentials.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::RwLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use berth_agent_view::TaskView;
use berth_runtime::{ContainerSpec, ContainerState, TaskState};
use berth_taskmeta::{
    process_group_pids, sample_processes, ContainerFacts, ContainerStatus, HealthFacts,
    HealthStatus, LaunchType, Limits, MetadataSource, NetworkFacts, ProcTarget, StatsSample,
    TaskCredentials, TaskFacts, TaskStatus,
};
use serde::Deserialize;
use tokio::sync::watch;

use crate::roles::RoleSource;

/// The members of a task definition the documents show.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Definition {
    #[serde(default)]
    family: String,
    #[serde(default)]
    revision: u32,
    cpu: Option<String>,
    memory: Option<String>,
    task_role_arn: Option<String>,
    #[serde(default)]
    requires_compatibilities: Vec<String>,
}

/// A container as started: its name, image and log driver.
struct Started {
    name: String,
    image: String,
    log_driver: Option<String>,
    log_options: BTreeMap<String, String>,
}

/// What the endpoint of one task reads.
pub(crate) struct TaskSource {
    /// Everything but the containers' states, fixed at start.
    base: TaskFacts,
    /// The containers as started, in order.
    containers: Vec<Started>,
    /// The runtime's view of the containers, once they run.
    state: RwLock<Option<watch::Receiver<TaskState>>>,
    roles: RoleSource,
    netns: PathBuf,
}

impl TaskSource {
    /// The source of `task` (cluster `cluster`, address `ip`) running `specs`.
    pub(crate) fn new(
        task: &TaskView,
        cluster: &str,
        ip: Ipv4Addr,
        specs: &[ContainerSpec],
        roles: RoleSource,
        netns: PathBuf,
    ) -> TaskSource {
        let def: Definition =
            serde_json::from_value(task.task_definition.clone()).unwrap_or_default();
        let fargate = def.requires_compatibilities.iter().any(|c| c == "FARGATE");
        let base = TaskFacts {
            cluster: cluster.to_string(),
            task_arn: task.task_arn.clone(),
            family: def.family.clone(),
            revision: def.revision,
            desired_status: TaskStatus::Running,
            known_status: TaskStatus::Pulled,
            limits: Limits {
                cpu: def
                    .cpu
                    .as_deref()
                    .and_then(|c| c.parse::<f64>().ok())
                    .map(|c| c / 1024.0),
                memory: def.memory.as_deref().and_then(|m| m.parse().ok()),
            },
            launch_type: Some(if fargate {
                LaunchType::Fargate
            } else {
                LaunchType::Ec2
            }),
            service_name: task
                .service_connect
                .as_ref()
                .map(|sc| sc.service_name.clone())
                .filter(|s| !s.is_empty()),
            task_role_arn: def.task_role_arn.clone(),
            network: Some(NetworkFacts {
                ipv4_addresses: vec![ip],
                ..Default::default()
            }),
            ..Default::default()
        };
        let containers = specs
            .iter()
            .map(|s| {
                let (log_driver, log_options) = log_driver(s);
                Started {
                    name: s.name.clone(),
                    image: s.image.clone(),
                    log_driver,
                    log_options,
                }
            })
            .collect();
        TaskSource {
            base,
            containers,
            state: RwLock::new(None),
            roles,
            netns,
        }
    }

    /// The application's containers now run: their states come from `state`.
    pub(crate) fn started(&self, state: watch::Receiver<TaskState>) {
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = Some(state);
    }

    fn current(&self) -> Option<TaskState> {
        let guard = self.state.read().unwrap_or_else(|e| e.into_inner());
        guard.as_ref().map(|rx| rx.borrow().clone())
    }
}

fn log_driver(s: &ContainerSpec) -> (Option<String>, BTreeMap<String, String>) {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Log {
        log_driver: String,
        #[serde(default)]
        options: BTreeMap<String, String>,
    }
    s.log_configuration
        .as_ref()
        .and_then(|l| serde_json::from_value::<Log>(l.clone()).ok())
        .map_or((None, BTreeMap::new()), |l| (Some(l.log_driver), l.options))
}

/// The facts of a task's containers in `state` (none started yet: each is created).
pub(crate) fn facts(source: &TaskSource, state: Option<&TaskState>) -> TaskFacts {
    let mut facts = source.base.clone();
    let running = state.is_some_and(|s| {
        s.containers
            .iter()
            .any(|c| c.status == berth_runtime::ContainerStatus::Running)
    });
    if running {
        facts.known_status = TaskStatus::Running;
    }
    facts.containers = source
        .containers
        .iter()
        .map(|started| {
            let c = state.and_then(|s| s.container(&started.name));
            container_facts(&facts, started, c)
        })
        .collect();
    facts
}

fn container_facts(
    task: &TaskFacts,
    started: &Started,
    c: Option<&ContainerState>,
) -> ContainerFacts {
    let name = &started.name;
    let id = format!(
        "{}-{name}",
        task.task_arn.rsplit('/').next().unwrap_or_default()
    );
    let known = match c.map(|c| c.status) {
        Some(berth_runtime::ContainerStatus::Running) => ContainerStatus::Running,
        Some(berth_runtime::ContainerStatus::Stopped) => ContainerStatus::Stopped,
        _ => ContainerStatus::Created,
    };
    let health = c.map(|c| HealthFacts {
        status: match c.health {
            berth_runtime::HealthStatus::Healthy => HealthStatus::Healthy,
            berth_runtime::HealthStatus::Unhealthy => HealthStatus::Unhealthy,
            berth_runtime::HealthStatus::Unknown => HealthStatus::Unknown,
        },
        since: None,
        exit_code: None,
        output: None,
    });
    ContainerFacts {
        name: name.to_string(),
        docker_id: id.clone(),
        docker_name: format!("ecs-{}-{name}", task.family),
        image: started.image.clone(),
        image_id: String::new(),
        desired_status: ContainerStatus::Running,
        known_status: known,
        exit_code: c.and_then(|c| c.exit_code),
        log_driver: started.log_driver.clone(),
        log_options: started.log_options.clone(),
        health,
        ..Default::default()
    }
}

impl MetadataSource for TaskSource {
    fn task(&self) -> TaskFacts {
        facts(self, self.current().as_ref())
    }

    fn stats(
        &self,
        container: &str,
    ) -> impl std::future::Future<Output = Option<StatsSample>> + Send {
        let pid = self
            .current()
            .and_then(|s| s.container(container).and_then(|c| c.pid));
        let netns = self.netns.clone();
        async move {
            let pid = pid? as i32;
            tokio::task::spawn_blocking(move || {
                let pids = process_group_pids(pid)
                    .ok()
                    .filter(|p| !p.is_empty())
                    .unwrap_or(vec![pid]);
                let target = ProcTarget {
                    pids: &pids,
                    memory_limit: None,
                    netns: Some(&netns),
                };
                sample_processes(&target, SystemTime::now()).ok()
            })
            .await
            .ok()
            .flatten()
        }
    }

    fn credentials(&self) -> impl std::future::Future<Output = Option<TaskCredentials>> + Send {
        let role = self.roles.task_role();
        async move {
            let (role, expires_at) = role?;
            Some(TaskCredentials {
                role_arn: role.role_arn,
                access_key_id: role.access_key_id,
                secret_access_key: role.secret_access_key,
                session_token: role.token,
                expiration: UNIX_EPOCH + Duration::from_secs(expires_at),
            })
        }
    }
}
