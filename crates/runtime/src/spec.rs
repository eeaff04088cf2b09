//! [`ContainerSpec`]: the parts of an ECS container definition the runtime uses.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::caps::CapabilityChanges;
use crate::error::{Error, Result};

/// Default `stopTimeout` (the ECS agent's `ECS_CONTAINER_STOP_TIMEOUT`).
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest `stopTimeout` ECS accepts.
pub const MAX_STOP_TIMEOUT_SECS: u64 = 120;

/// One container of a task, parsed from an ECS container definition.
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerSpec {
    /// `name`: letters, digits, `-` and `_`, up to 255 (the ECS rule). Also the log
    /// file's name.
    pub name: String,
    /// `image`, resolved to a local command through the [`ImageMap`](crate::ImageMap).
    pub image: String,
    /// `entryPoint`: replaces the image's entry point (and drops its command).
    pub entry_point: Option<Vec<String>>,
    /// `command`: replaces the image's command.
    pub command: Option<Vec<String>>,
    /// `environment`, in definition order (a later duplicate wins).
    pub environment: Vec<(String, String)>,
    /// `secrets`: (environment variable, `valueFrom`).
    pub secrets: Vec<(String, String)>,
    /// `repositoryCredentials.credentialsParameter`: the Secrets Manager secret holding
    /// the registry's credentials (resolved at start like `secrets`).
    pub repository_credentials: Option<String>,
    /// `workingDirectory`; default the image's, else `/`.
    pub working_directory: Option<String>,
    /// `user`: `uid`, `uid:gid`, `name`, `name:group`; resolved at start.
    pub user: Option<String>,
    /// `essential`, default true.
    pub essential: bool,
    /// `dependsOn`.
    pub depends_on: Vec<Dependency>,
    /// `healthCheck`, unless absent or `["NONE"]`.
    pub health_check: Option<HealthCheck>,
    /// `stopTimeout`, default [`DEFAULT_STOP_TIMEOUT`]: SIGTERM, then SIGKILL after it.
    pub stop_timeout: Duration,
    /// `portMappings`, kept as they are for the agent.
    pub port_mappings: Vec<Value>,
    /// `logConfiguration`, kept as it is for the agent.
    pub log_configuration: Option<Value>,
    /// `readonlyRootFilesystem`, default false.
    pub readonly_root_filesystem: bool,
    /// `privileged`, default false.
    pub privileged: bool,
    /// `linuxParameters.capabilities`: changes to Docker's default capability set.
    pub capabilities: CapabilityChanges,
    /// Host paths made visible in the container at the same path, writable (not from
    /// JSON: the agent sets them, e.g. the proxy's admin socket directory). Docker
    /// bind-mounts them into this container; the process runtime bind-mounts them into
    /// the mount namespace of the task (one `start_task`), which hides the agent's
    /// directories, so every container of that `start_task` sees them.
    pub host_dirs: Vec<std::path::PathBuf>,
}

/// One `dependsOn` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dependency {
    pub container: String,
    pub condition: Condition,
}

/// `ContainerCondition`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Condition {
    /// The dependency has been started.
    Start,
    /// The dependency has exited (any code).
    Complete,
    /// The dependency has exited with 0.
    Success,
    /// The dependency's health check passed.
    Healthy,
}

/// A container health check. The JSON parser enforces ECS's ranges (interval 5–300 s,
/// timeout 2–60 s, retries 1–10, startPeriod 0–300 s); code may build shorter ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthCheck {
    pub command: HealthCommand,
    /// Between the end of one check and the start of the next; the first check runs
    /// one interval after the container started (Docker). Default 30 s.
    pub interval: Duration,
    /// A check running longer fails (its process group is killed). Default 5 s.
    pub timeout: Duration,
    /// Consecutive failures (outside the start period) that make it UNHEALTHY.
    /// Default 3.
    pub retries: u32,
    /// Failures within this time after start do not count, until the first success.
    /// Default 0.
    pub start_period: Duration,
}

impl HealthCheck {
    /// A check with the ECS defaults.
    pub fn new(command: HealthCommand) -> HealthCheck {
        HealthCheck {
            command,
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            retries: 3,
            start_period: Duration::ZERO,
        }
    }
}

/// The check to run, inside the task, as the container's user, with its environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HealthCommand {
    /// `["CMD", argv…]`: run argv directly.
    Cmd(Vec<String>),
    /// `["CMD-SHELL", "text"]`: run `/bin/sh -c text`.
    Shell(String),
}

impl HealthCommand {
    /// The argv to run.
    pub fn argv(&self) -> Vec<String> {
        match self {
            HealthCommand::Cmd(v) => v.clone(),
            HealthCommand::Shell(s) => vec!["/bin/sh".into(), "-c".into(), s.clone()],
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawContainer {
    name: String,
    image: String,
    entry_point: Option<Vec<String>>,
    command: Option<Vec<String>>,
    #[serde(default)]
    environment: Vec<RawKeyValue>,
    #[serde(default)]
    secrets: Vec<RawSecret>,
    repository_credentials: Option<RawRepositoryCredentials>,
    working_directory: Option<String>,
    user: Option<String>,
    essential: Option<bool>,
    #[serde(default)]
    depends_on: Vec<RawDependency>,
    health_check: Option<RawHealthCheck>,
    stop_timeout: Option<i64>,
    #[serde(default)]
    port_mappings: Vec<Value>,
    log_configuration: Option<Value>,
    readonly_root_filesystem: Option<bool>,
    privileged: Option<bool>,
    linux_parameters: Option<RawLinuxParameters>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRepositoryCredentials {
    credentials_parameter: String,
}

/// `linuxParameters`: only `capabilities` is used (the other fields are ignored).
#[derive(Deserialize)]
struct RawLinuxParameters {
    capabilities: Option<RawCapabilities>,
}

#[derive(Deserialize)]
struct RawCapabilities {
    #[serde(default)]
    add: Vec<String>,
    #[serde(default)]
    drop: Vec<String>,
}

#[derive(Deserialize)]
struct RawKeyValue {
    name: Option<String>,
    value: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSecret {
    name: String,
    value_from: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDependency {
    container_name: String,
    condition: Condition,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawHealthCheck {
    command: Vec<String>,
    interval: Option<i64>,
    timeout: Option<i64>,
    retries: Option<i64>,
    start_period: Option<i64>,
}

/// `stopTimeout` in seconds, within ECS's bounds; absent: the default.
fn stop_timeout(secs: Option<i64>) -> std::result::Result<Duration, String> {
    match secs {
        None => Ok(DEFAULT_STOP_TIMEOUT),
        Some(s) if (0..=MAX_STOP_TIMEOUT_SECS as i64).contains(&s) => {
            Ok(Duration::from_secs(s as u64))
        }
        Some(s) => Err(format!(
            "stopTimeout: {s} is not between 0 and {MAX_STOP_TIMEOUT_SECS}"
        )),
    }
}

/// `linuxParameters.capabilities`' `add` and `drop`, each name checked.
fn capabilities(
    params: Option<RawLinuxParameters>,
) -> std::result::Result<CapabilityChanges, String> {
    let Some(c) = params.and_then(|l| l.capabilities) else {
        return Ok(CapabilityChanges::default());
    };
    let field = "linuxParameters.capabilities";
    Ok(CapabilityChanges {
        add: CapabilityChanges::parse_list(&format!("{field}.add"), &c.add)?,
        drop: CapabilityChanges::parse_list(&format!("{field}.drop"), &c.drop)?,
    })
}

impl ContainerSpec {
    /// Parses one element of a task definition's `containerDefinitions`. Fields the
    /// runtime does not use are ignored.
    pub fn from_json(def: &Value) -> Result<ContainerSpec> {
        let name_hint = def
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string();
        let raw: RawContainer = serde_path_to_error::deserialize(def).map_err(|e| Error::Spec {
            container: name_hint.clone(),
            message: e.to_string(),
        })?;
        let bad = |message: String| Error::Spec {
            container: raw.name.clone(),
            message,
        };
        validate_name(&raw.name).map_err(|m| Error::Spec {
            container: raw.name.clone(),
            message: m,
        })?;
        if raw.image.is_empty() {
            return Err(bad("image: empty".into()));
        }
        let mut environment = Vec::new();
        for kv in raw.environment {
            match kv.name {
                Some(n) if !n.is_empty() && !n.contains('=') && !n.contains('\0') => {
                    environment.push((n, kv.value.unwrap_or_default()))
                }
                other => return Err(bad(format!("environment: bad variable name {other:?}"))),
            }
        }
        let secrets = raw
            .secrets
            .into_iter()
            .map(|s| (s.name, s.value_from))
            .collect();
        let health_check = match raw.health_check {
            None => None,
            Some(h) => parse_health_check(h).map_err(&bad)?,
        };
        let stop_timeout = stop_timeout(raw.stop_timeout).map_err(&bad)?;
        if let Some(u) = &raw.user {
            if u.is_empty() {
                return Err(bad("user: empty".into()));
            }
        }
        let capabilities = capabilities(raw.linux_parameters).map_err(&bad)?;
        Ok(ContainerSpec {
            name: raw.name.clone(),
            image: raw.image,
            entry_point: raw.entry_point,
            command: raw.command,
            environment,
            secrets,
            repository_credentials: raw.repository_credentials.map(|r| r.credentials_parameter),
            working_directory: raw.working_directory,
            user: raw.user,
            essential: raw.essential.unwrap_or(true),
            depends_on: raw
                .depends_on
                .into_iter()
                .map(|d| Dependency {
                    container: d.container_name,
                    condition: d.condition,
                })
                .collect(),
            health_check,
            stop_timeout,
            port_mappings: raw.port_mappings,
            log_configuration: raw.log_configuration,
            readonly_root_filesystem: raw.readonly_root_filesystem.unwrap_or(false),
            privileged: raw.privileged.unwrap_or(false),
            capabilities,
            host_dirs: Vec::new(),
        })
    }

    /// Parses a task definition's `containerDefinitions` array.
    pub fn list_from_json(defs: &Value) -> Result<Vec<ContainerSpec>> {
        let arr = defs.as_array().ok_or_else(|| Error::Spec {
            container: "?".into(),
            message: "containerDefinitions: not an array".into(),
        })?;
        arr.iter().map(ContainerSpec::from_json).collect()
    }

    /// A minimal spec (for code and tests): essential, ECS defaults otherwise.
    pub fn new(name: impl Into<String>, image: impl Into<String>) -> ContainerSpec {
        ContainerSpec {
            name: name.into(),
            image: image.into(),
            entry_point: None,
            command: None,
            environment: Vec::new(),
            secrets: Vec::new(),
            repository_credentials: None,
            working_directory: None,
            user: None,
            essential: true,
            depends_on: Vec::new(),
            health_check: None,
            stop_timeout: DEFAULT_STOP_TIMEOUT,
            port_mappings: Vec::new(),
            log_configuration: None,
            readonly_root_filesystem: false,
            privileged: false,
            capabilities: CapabilityChanges::default(),
            host_dirs: Vec::new(),
        }
    }
}

pub(crate) fn validate_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() || name.len() > 255 {
        return Err(format!("name: {name:?} must be 1 to 255 characters"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(format!(
            "name: {name:?} may contain only letters, digits, hyphens and underscores"
        ));
    }
    Ok(())
}

fn parse_health_check(h: RawHealthCheck) -> std::result::Result<Option<HealthCheck>, String> {
    let command = match h.command.split_first() {
        Some((k, rest)) if k == "CMD" && !rest.is_empty() => HealthCommand::Cmd(rest.to_vec()),
        Some((k, rest)) if k == "CMD-SHELL" && !rest.is_empty() => {
            HealthCommand::Shell(rest.join(" "))
        }
        Some((k, _)) if k == "NONE" => return Ok(None),
        _ => {
            return Err(format!(
                "healthCheck.command: {:?} must start with CMD or CMD-SHELL and have a command",
                h.command
            ))
        }
    };
    let secs = |field: &str, v: Option<i64>, default: u64, min: i64, max: i64| match v {
        None => Ok(default),
        Some(v) if (min..=max).contains(&v) => Ok(v as u64),
        Some(v) => Err(format!(
            "healthCheck.{field}: {v} is not between {min} and {max}"
        )),
    };
    Ok(Some(HealthCheck {
        command,
        interval: Duration::from_secs(secs("interval", h.interval, 30, 5, 300)?),
        timeout: Duration::from_secs(secs("timeout", h.timeout, 5, 2, 60)?),
        retries: secs("retries", h.retries, 3, 1, 10)? as u32,
        start_period: Duration::from_secs(secs("startPeriod", h.start_period, 0, 0, 300)?),
    }))
}

/// Checks a task's containers as a whole: unique names, at least one essential,
/// dependencies that exist, are not the container itself, form no cycle, and name a
/// container with a health check for HEALTHY. Returns the start order (dependencies
/// first, otherwise definition order) as indexes.
pub fn validate_task(specs: &[ContainerSpec]) -> Result<Vec<usize>> {
    let task_err = |message: String| Error::Task(message);
    let mut index = BTreeMap::new();
    for (i, s) in specs.iter().enumerate() {
        if index.insert(s.name.as_str(), i).is_some() {
            return Err(task_err(format!(
                "container name {:?} is used twice",
                s.name
            )));
        }
    }
    if specs.is_empty() {
        return Err(task_err("a task needs at least one container".into()));
    }
    if !specs.iter().any(|s| s.essential) {
        return Err(task_err(
            "a task needs at least one essential container".into(),
        ));
    }
    for s in specs {
        for d in &s.depends_on {
            let Some(&j) = index.get(d.container.as_str()) else {
                return Err(task_err(format!(
                    "container {:?} depends on {:?}, which is not in the task",
                    s.name, d.container
                )));
            };
            if d.container == s.name {
                return Err(task_err(format!(
                    "container {:?} depends on itself",
                    s.name
                )));
            }
            if d.condition == Condition::Healthy && specs[j].health_check.is_none() {
                return Err(task_err(format!(
                    "container {:?} depends on {:?} being HEALTHY, but {:?} has no health check",
                    s.name, d.container, d.container
                )));
            }
        }
    }
    // Kahn's algorithm, picking the lowest index first to keep definition order.
    let n = specs.len();
    let deps: Vec<Vec<usize>> = specs
        .iter()
        .map(|s| {
            s.depends_on
                .iter()
                .map(|d| index[d.container.as_str()])
                .collect()
        })
        .collect();
    let mut done = vec![false; n];
    let mut order = Vec::with_capacity(n);
    while order.len() < n {
        let next = (0..n).find(|&i| !done[i] && deps[i].iter().all(|&j| done[j]));
        match next {
            Some(i) => {
                done[i] = true;
                order.push(i);
            }
            None => {
                let cycle: Vec<&str> = (0..n)
                    .filter(|&i| !done[i])
                    .map(|i| specs[i].name.as_str())
                    .collect();
                return Err(task_err(format!(
                    "dependsOn has a cycle among containers {cycle:?}"
                )));
            }
        }
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults() {
        let s = ContainerSpec::from_json(&json!({"name": "web", "image": "nginx"})).unwrap();
        assert!(s.essential);
        assert_eq!(s.stop_timeout, DEFAULT_STOP_TIMEOUT);
        assert!(s.health_check.is_none());
        assert!(s.entry_point.is_none() && s.command.is_none());
    }

    #[test]
    fn full_definition() {
        let s = ContainerSpec::from_json(&json!({
            "name": "orders", "image": "public.ecr.aws/aws-containers/retail-store-sample-orders:1.2.3",
            "cpu": 256, "essential": false, "user": "1000:1000", "workingDirectory": "/app",
            "entryPoint": ["/bin/sh", "-c"], "command": ["exec java -jar app.jar"],
            "portMappings": [{"name": "application", "containerPort": 8080, "protocol": "tcp", "appProtocol": "http"}],
            "environment": [{"name": "A", "value": "1"}, {"name": "B"}],
            "secrets": [{"name": "PW", "valueFrom": "arn:aws:secretsmanager:us-east-1:1:secret:db:password::"}],
            "dependsOn": [{"containerName": "init", "condition": "SUCCESS"}],
            "healthCheck": {"command": ["CMD-SHELL", "curl -f http://localhost:8080/health || exit 1"],
                            "interval": 10, "timeout": 5, "retries": 3, "startPeriod": 60},
            "stopTimeout": 2,
            "logConfiguration": {"logDriver": "awslogs", "options": {}},
            "linuxParameters": {"initProcessEnabled": true}
        }))
        .unwrap();
        assert!(!s.essential);
        assert_eq!(s.user.as_deref(), Some("1000:1000"));
        assert_eq!(
            s.environment,
            vec![("A".into(), "1".into()), ("B".into(), "".into())]
        );
        assert_eq!(s.secrets[0].0, "PW");
        assert_eq!(
            s.depends_on,
            vec![Dependency {
                container: "init".into(),
                condition: Condition::Success
            }]
        );
        let h = s.health_check.unwrap();
        assert_eq!(
            h.command,
            HealthCommand::Shell("curl -f http://localhost:8080/health || exit 1".into())
        );
        assert_eq!(h.interval, Duration::from_secs(10));
        assert_eq!(h.start_period, Duration::from_secs(60));
        assert_eq!(s.stop_timeout, Duration::from_secs(2));
        assert_eq!(s.port_mappings.len(), 1);
    }

    #[test]
    fn health_check_defaults_and_ranges() {
        let h = |hc: Value| {
            ContainerSpec::from_json(&json!({"name": "a", "image": "i", "healthCheck": hc}))
        };
        let d = h(json!({"command": ["CMD", "true"]}))
            .unwrap()
            .health_check
            .unwrap();
        assert_eq!(d, HealthCheck::new(HealthCommand::Cmd(vec!["true".into()])));
        assert!(h(json!({"command": ["NONE"]}))
            .unwrap()
            .health_check
            .is_none());
        let e = h(json!({"command": ["CMD", "true"], "interval": 1})).unwrap_err();
        assert!(
            e.to_string()
                .contains("healthCheck.interval: 1 is not between 5 and 300"),
            "{e}"
        );
        assert!(h(json!({"command": ["true"]})).is_err());
        assert!(h(json!({"command": ["CMD"]})).is_err());
    }

    #[test]
    fn isolation_fields() {
        let s = ContainerSpec::from_json(&json!({
            "name": "a", "image": "i", "readonlyRootFilesystem": true, "privileged": false,
            "linuxParameters": {"capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]},
                                "initProcessEnabled": true}
        }))
        .unwrap();
        assert!(s.readonly_root_filesystem && !s.privileged);
        assert_eq!(
            s.capabilities.resolve().setpriv_names(),
            ["net_admin"],
            "drop ALL, add NET_ADMIN"
        );
        let d = ContainerSpec::from_json(&json!({"name": "a", "image": "i"})).unwrap();
        assert!(!d.readonly_root_filesystem && !d.privileged);
        assert_eq!(d.capabilities, CapabilityChanges::default());
        let e = ContainerSpec::from_json(&json!({"name": "a", "image": "i",
            "linuxParameters": {"capabilities": {"add": ["SYS_ADMIM"]}}}))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "container a: linuxParameters.capabilities.add: \"SYS_ADMIM\" is not a Linux capability (nor ALL)"
        );
        let e = ContainerSpec::from_json(&json!({"name": "a", "image": "i", "privileged": "yes"}))
            .unwrap_err();
        assert!(e.to_string().contains("privileged"), "{e}");
    }

    #[test]
    fn bad_fields() {
        let e = ContainerSpec::from_json(&json!({"name": "a/b", "image": "i"})).unwrap_err();
        assert!(e.to_string().contains("letters, digits"), "{e}");
        let e = ContainerSpec::from_json(&json!({"name": "a", "image": "i", "essential": "yes"}))
            .unwrap_err();
        assert!(e.to_string().contains("essential"), "{e}");
        let e = ContainerSpec::from_json(&json!({"name": "a", "image": "i",
            "dependsOn": [{"containerName": "b", "condition": "RUNNING"}]}))
        .unwrap_err();
        assert!(e.to_string().contains("dependsOn"), "{e}");
    }

    #[test]
    fn task_validation_and_order() {
        let mut a = ContainerSpec::new("a", "i");
        let mut b = ContainerSpec::new("b", "i");
        let c = ContainerSpec::new("c", "i");
        a.depends_on.push(Dependency {
            container: "c".into(),
            condition: Condition::Start,
        });
        assert_eq!(
            validate_task(&[a.clone(), b.clone(), c.clone()]).unwrap(),
            vec![1, 2, 0]
        );
        b.depends_on.push(Dependency {
            container: "a".into(),
            condition: Condition::Healthy,
        });
        let e = validate_task(&[a.clone(), b.clone(), c.clone()]).unwrap_err();
        assert!(e.to_string().contains("no health check"), "{e}");
        b.depends_on[0].condition = Condition::Complete;
        let mut c2 = c.clone();
        c2.depends_on.push(Dependency {
            container: "b".into(),
            condition: Condition::Start,
        });
        let e = validate_task(&[a, b, c2]).unwrap_err();
        assert!(e.to_string().contains("cycle"), "{e}");
        let mut x = ContainerSpec::new("x", "i");
        x.essential = false;
        assert!(validate_task(&[x]).is_err());
    }
}
