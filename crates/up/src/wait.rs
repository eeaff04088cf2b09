//! Waiting until an example's services run: what `berth up` waits for before it says
//! "berth is up". A service runs when it has one deployment, its desired count of tasks
//! RUNNING, each with an address and, where its task definition has health checks,
//! HEALTHY. While it waits, every so often, it says which services it still waits for
//! and why.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use berth_agent::ServerClient;
use berth_ecs::records::{HealthStatus, Service, Task, TaskStatus};
use berth_ecs::taskdef::TaskDefinition;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{Error, Result};

/// How often [`until_running`] says what it still waits for, by default.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// How often a waiting service is asked about again.
const POLL: Duration = Duration::from_millis(500);

/// A service of a cluster.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServiceRef {
    pub cluster: String,
    pub service: String,
}

/// Why a service does not run as asked yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    /// DescribeServices does not find it.
    Missing,
    /// Fewer of its tasks run than it wants.
    Starting,
    /// A deployment is still replacing its tasks.
    Deploying,
    /// Its tasks run, but not all are HEALTHY yet.
    Unhealthy,
    /// A task has no address yet.
    NoAddress,
}

/// A service that does not run as asked yet, and how far it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiting {
    pub of: ServiceRef,
    /// Its `runningCount`.
    pub running: i64,
    /// Its `desiredCount`.
    pub desired: i64,
    pub why: Why,
}

impl fmt::Display for Waiting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ServiceRef { cluster, service } = &self.of;
        if self.why == Why::Missing {
            return write!(f, "{service} ({cluster}): not found");
        }
        write!(
            f,
            "{service} ({cluster}): {} of {} tasks running",
            self.running, self.desired
        )?;
        f.write_str(match self.why {
            Why::Missing | Why::Starting => "",
            Why::Deploying => ", a deployment in progress",
            Why::Unhealthy => ", waiting for health checks",
            Why::NoAddress => ", waiting for an address",
        })
    }
}

/// Where a service is: running (its tasks' addresses) or not yet.
enum State {
    Runs(Vec<String>),
    Waits(Waiting),
}

/// Waits until every one of `services` runs as asked, at most `timeout`; every `every`
/// of waiting, `progress` gets those it still waits for. Returns each service's task
/// addresses, sorted.
pub async fn until_running(
    client: &ServerClient,
    services: &[ServiceRef],
    timeout: Duration,
    every: Duration,
    mut progress: impl FnMut(&[Waiting]),
) -> Result<HashMap<ServiceRef, Vec<String>>> {
    let start = Instant::now();
    let mut next_report = start + every;
    let mut checks = HealthChecks::default();
    loop {
        let mut waiting = Vec::new();
        let mut ips = HashMap::new();
        for s in services {
            match service_state(client, s, &mut checks).await? {
                State::Runs(found) => {
                    ips.insert(s.clone(), found);
                }
                State::Waits(w) => waiting.push(w),
            }
        }
        if waiting.is_empty() {
            return Ok(ips);
        }
        let now = Instant::now();
        if now >= start + timeout {
            let what: Vec<String> = waiting.iter().map(ToString::to_string).collect();
            return Err(Error::Example(format!(
                "not running after {} s: {} (see `berth status` and `berth logs`)",
                timeout.as_secs(),
                what.join("; ")
            )));
        }
        if now >= next_report {
            progress(&waiting);
            next_report = now + every;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// An ECS call's answer, read as `T`.
async fn call<T: DeserializeOwned>(client: &ServerClient, op: &str, input: Value) -> Result<T> {
    let out = client.ecs(op, &input).await?;
    serde_json::from_value(out).map_err(|e| Error::Example(format!("{op}: {e}")))
}

#[derive(Deserialize)]
struct Services {
    services: Vec<Service>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TaskArns {
    task_arns: Vec<String>,
}

#[derive(Deserialize)]
struct Tasks {
    tasks: Vec<Task>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Described {
    task_definition: TaskDefinition,
}

/// Whether each task definition (by ARN) has health checks, as read.
#[derive(Default)]
struct HealthChecks(HashMap<String, bool>);

impl HealthChecks {
    async fn of(&mut self, client: &ServerClient, arn: &str) -> Result<bool> {
        if let Some(h) = self.0.get(arn) {
            return Ok(*h);
        }
        let d: Described = call(
            client,
            "DescribeTaskDefinition",
            json!({"taskDefinition": arn}),
        )
        .await?;
        let containers = &d.task_definition.container_definitions;
        let h = containers.iter().any(|c| c.health_check.is_some());
        self.0.insert(arn.to_string(), h);
        Ok(h)
    }
}

/// Where the service `of` is.
async fn service_state(
    client: &ServerClient,
    of: &ServiceRef,
    checks: &mut HealthChecks,
) -> Result<State> {
    let ServiceRef { cluster, service } = of;
    let input = json!({"cluster": cluster, "services": [service]});
    let found: Services = call(client, "DescribeServices", input).await?;
    let Some(s) = found.services.into_iter().next() else {
        return Ok(waits(of, None, Why::Missing));
    };
    if s.deployments.len() != 1 {
        return Ok(waits(of, Some(&s), Why::Deploying));
    }
    if s.running_count != s.desired_count {
        return Ok(waits(of, Some(&s), Why::Starting));
    }
    let input = json!({"cluster": cluster, "serviceName": service, "desiredStatus": "RUNNING"});
    let listed: TaskArns = call(client, "ListTasks", input).await?;
    if listed.task_arns.is_empty() {
        return Ok(match s.desired_count {
            0 => State::Runs(Vec::new()),
            _ => waits(of, Some(&s), Why::Starting),
        });
    }
    let input = json!({"cluster": cluster, "tasks": listed.task_arns});
    let tasks: Tasks = call(client, "DescribeTasks", input).await?;
    let mut ips = Vec::new();
    for t in &tasks.tasks {
        if t.last_status != TaskStatus::Running {
            return Ok(waits(of, Some(&s), Why::Starting));
        }
        let checked = checks.of(client, &t.task_definition_arn).await?;
        if checked && t.health_status != HealthStatus::Healthy {
            return Ok(waits(of, Some(&s), Why::Unhealthy));
        }
        match t.ip() {
            Some(ip) => ips.push(ip.to_string()),
            None => return Ok(waits(of, Some(&s), Why::NoAddress)),
        }
    }
    ips.sort();
    Ok(State::Runs(ips))
}

fn waits(of: &ServiceRef, s: Option<&Service>, why: Why) -> State {
    State::Waits(Waiting {
        of: of.clone(),
        running: s.map_or(0, |s| s.running_count),
        desired: s.map_or(0, |s| s.desired_count),
        why,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_says_which_service_and_why() {
        let of = ServiceRef {
            cluster: "retail".into(),
            service: "ui".into(),
        };
        let w = |running, why| Waiting {
            of: of.clone(),
            running,
            desired: 2,
            why,
        };
        for (waiting, says) in [
            (w(0, Why::Missing), "ui (retail): not found"),
            (w(1, Why::Starting), "ui (retail): 1 of 2 tasks running"),
            (
                w(2, Why::Deploying),
                "ui (retail): 2 of 2 tasks running, a deployment in progress",
            ),
            (
                w(2, Why::Unhealthy),
                "ui (retail): 2 of 2 tasks running, waiting for health checks",
            ),
            (
                w(2, Why::NoAddress),
                "ui (retail): 2 of 2 tasks running, waiting for an address",
            ),
        ] {
            assert_eq!(waiting.to_string(), says);
        }
    }
}
