//! Examples: a directory with the JSON files of its README's aws CLI commands and an
//! `example.json` manifest saying which ECS calls make the example, in order, and
//! what to open once it runs.
//!
//! ```json
//! {
//!   "description": "seed 002: nginx behind Service Connect",
//!   "secrets": "secrets.json",
//!   "network": "network.json",
//!   "instance": {"securityGroups": ["sg-0ec2c0ffee0000001"], "subnet": "subnet-0a1b2c3d4e5f60718"},
//!   "steps": [
//!     {"ecs": "CreateCluster", "input": {"clusterName": "tutorial"}},
//!     {"ecs": "RegisterTaskDefinition", "file": "task-definition.json"},
//!     {"ecs": "CreateService", "file": "service.json", "input": {"cluster": "tutorial"}}
//!   ],
//!   "open": [{"cluster": "tutorial", "service": "nginx", "port": 80, "path": "/"}]
//! }
//! ```
//!
//! `network` is the VPCs, subnets and security groups the example's JSON names (the
//! format of `berth server --network`, made in `berth up`'s region when it names none),
//! imported before the steps; `instance` the container instances' subnet and groups
//! (they judge bridge-mode tasks; default: the default VPC's).
//!
//! A step's input is its `file` (the `--cli-input-json` file of the README) with
//! `input`'s members set over it. Applying is idempotent, so that `berth up` can apply
//! an example again after a restart: a cluster that exists, a task definition family
//! with a revision, or an ACTIVE service is left as it is.

use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_agent::ServerClient;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::wait::{self, ServiceRef, Waiting};
use crate::{Error, Result};

/// The manifest's file name in an example directory.
pub const MANIFEST: &str = "example.json";

/// The ECS calls an example may make.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum Action {
    CreateCluster,
    RegisterTaskDefinition,
    CreateService,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepFile {
    ecs: Action,
    #[serde(default)]
    file: Option<PathBuf>,
    #[serde(default)]
    input: Map<String, Value>,
}

/// Where to reach a service of the example.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Open {
    pub cluster: String,
    pub service: String,
    /// The port of the task to call (its containerPort: the proxy's ingress takes it).
    pub port: u16,
    #[serde(default = "slash")]
    pub path: String,
}

fn slash() -> String {
    "/".into()
}

/// The container instances' place in the example's network.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InstanceNetwork {
    /// Their security groups.
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// Their subnet.
    #[serde(default)]
    pub subnet: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestFile {
    description: String,
    #[serde(default)]
    secrets: Option<PathBuf>,
    #[serde(default)]
    network: Option<PathBuf>,
    #[serde(default)]
    instance: InstanceNetwork,
    steps: Vec<StepFile>,
    #[serde(default)]
    open: Vec<Open>,
}

/// One ECS call of an example, its input complete.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub action: Action,
    pub input: Value,
}

/// A loaded example.
#[derive(Clone, Debug)]
pub struct Example {
    /// Its directory.
    pub dir: PathBuf,
    pub description: String,
    /// Its secrets file, if it has one (absolute).
    pub secrets: Option<PathBuf>,
    /// Its network file, if it has one (absolute).
    pub network: Option<PathBuf>,
    /// Its container instances' subnet and groups.
    pub instance: InstanceNetwork,
    pub steps: Vec<Step>,
    pub open: Vec<Open>,
}

/// What applying a step did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// e.g. `CreateService orders (cluster retail-store-ecs-cluster)`.
    pub what: String,
    /// False when it was already there.
    pub created: bool,
}

/// A service of the example that runs, and the URLs of its tasks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reachable {
    pub open: Open,
    pub urls: Vec<String>,
}

fn bad(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::Example(format!("{}: {message}", path.display()))
}

fn str_of<'a>(input: &'a Value, field: &str) -> &'a str {
    input[field].as_str().unwrap_or_default()
}

/// Step `i` of the manifest at `path` (in `dir`): its file's input with `input` over it,
/// which must name what the action makes.
fn step(dir: &Path, path: &Path, i: usize, s: StepFile) -> Result<Step> {
    let mut input = match &s.file {
        None => Map::new(),
        Some(f) => {
            let text = std::fs::read_to_string(dir.join(f))
                .map_err(|e| bad(path, format!("steps[{i}].file: {}: {e}", f.display())))?;
            match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(o)) => o,
                Ok(_) => {
                    let what = format!("steps[{i}].file: {} is not a JSON object", f.display());
                    return Err(bad(path, what));
                }
                Err(e) => return Err(bad(path, format!("steps[{i}].file: {}: {e}", f.display()))),
            }
        }
    };
    input.extend(s.input);
    let input = Value::Object(input);
    let need = match s.ecs {
        Action::CreateCluster => "clusterName",
        Action::RegisterTaskDefinition => "family",
        Action::CreateService => "serviceName",
    };
    if str_of(&input, need).is_empty() {
        return Err(bad(path, format!("steps[{i}]: {:?} needs {need}", s.ecs)));
    }
    Ok(Step {
        action: s.ecs,
        input,
    })
}

impl Example {
    /// Loads the example in `dir` (its `example.json` and the files its steps name).
    pub fn load(dir: &Path) -> Result<Example> {
        let dir = std::path::absolute(dir).map_err(|e| bad(dir, e))?;
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            bad(
                &path,
                format!("{e} (an example is a directory with an {MANIFEST})"),
            )
        })?;
        let de = &mut serde_json::Deserializer::from_str(&text);
        let m: ManifestFile = serde_path_to_error::deserialize(de).map_err(|e| bad(&path, e))?;
        let steps = m
            .steps
            .into_iter()
            .enumerate()
            .map(|(i, s)| step(&dir, &path, i, s))
            .collect::<Result<Vec<_>>>()?;
        for (i, o) in m.open.iter().enumerate() {
            let known = steps.iter().any(|s| {
                s.action == Action::CreateService
                    && str_of(&s.input, "serviceName") == o.service
                    && cluster_of(&s.input) == o.cluster
            });
            if !known {
                return Err(bad(
                    &path,
                    format!(
                        "open[{i}]: no CreateService step makes service {} in cluster {}",
                        o.service, o.cluster
                    ),
                ));
            }
        }
        let file = |field: &str, name: Option<PathBuf>| match name {
            None => Ok(None),
            Some(s) => {
                let p = dir.join(s);
                if !p.is_file() {
                    return Err(bad(&path, format!("{field}: no file {}", p.display())));
                }
                Ok(Some(p))
            }
        };
        let secrets = file("secrets", m.secrets)?;
        let network = file("network", m.network)?;
        Ok(Example {
            dir,
            description: m.description,
            secrets,
            network,
            instance: m.instance,
            steps,
            open: m.open,
        })
    }

    /// The example's name (its directory's).
    pub fn name(&self) -> String {
        self.dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default()
    }

    /// Makes the example's calls that are not done yet, in order.
    pub async fn apply(&self, client: &ServerClient) -> Result<Vec<Applied>> {
        let mut out = Vec::with_capacity(self.steps.len());
        for step in &self.steps {
            out.push(apply_step(client, step).await?);
        }
        Ok(out)
    }

    /// The services the example creates.
    pub fn services(&self) -> Vec<ServiceRef> {
        (self.steps.iter())
            .filter(|s| s.action == Action::CreateService)
            .map(|s| ServiceRef {
                cluster: cluster_of(&s.input).to_string(),
                service: str_of(&s.input, "serviceName").to_string(),
            })
            .collect()
    }

    /// Waits until every service the example creates runs (see [`wait::until_running`]:
    /// `progress` gets those it still waits for, every `every`); then returns the URLs
    /// of the `open` services' tasks.
    pub async fn wait_running(
        &self,
        client: &ServerClient,
        timeout: Duration,
        every: Duration,
        progress: impl FnMut(&[Waiting]),
    ) -> Result<Vec<Reachable>> {
        let ips = wait::until_running(client, &self.services(), timeout, every, progress).await?;
        let urls = |o: &Open| {
            let of = ServiceRef {
                cluster: o.cluster.clone(),
                service: o.service.clone(),
            };
            (ips.get(&of).into_iter().flatten())
                .map(|ip| format!("http://{ip}:{}{}", o.port, o.path))
                .collect()
        };
        Ok((self.open.iter())
            .map(|o| Reachable {
                open: o.clone(),
                urls: urls(o),
            })
            .collect())
    }
}

/// The cluster a CreateService input names (ECS's default cluster when none).
fn cluster_of(input: &Value) -> &str {
    let c = str_of(input, "cluster");
    let c = c.rsplit('/').next().unwrap_or_default();
    if c.is_empty() {
        "default"
    } else {
        c
    }
}

async fn apply_step(client: &ServerClient, step: &Step) -> Result<Applied> {
    let input = &step.input;
    match step.action {
        Action::CreateCluster => {
            let name = str_of(input, "clusterName");
            let d = client
                .ecs("DescribeClusters", &json!({"clusters": [name]}))
                .await?;
            let exists = d["clusters"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["status"] != "INACTIVE");
            if !exists {
                client.ecs("CreateCluster", input).await?;
            }
            Ok(Applied {
                what: format!("CreateCluster {name}"),
                created: !exists,
            })
        }
        Action::RegisterTaskDefinition => {
            let family = str_of(input, "family");
            let d = client
                .ecs("DescribeTaskDefinition", &json!({"taskDefinition": family}))
                .await;
            match d {
                Ok(d) => Ok(Applied {
                    what: format!(
                        "RegisterTaskDefinition {family} (revision {} kept)",
                        d["taskDefinition"]["revision"]
                    ),
                    created: false,
                }),
                Err(berth_agent::Error::Api { code, .. }) if code == "ClientException" => {
                    let out = client.ecs("RegisterTaskDefinition", input).await?;
                    Ok(Applied {
                        what: format!(
                            "RegisterTaskDefinition {family}:{}",
                            out["taskDefinition"]["revision"]
                        ),
                        created: true,
                    })
                }
                Err(e) => Err(e.into()),
            }
        }
        Action::CreateService => {
            let name = str_of(input, "serviceName");
            let cluster = cluster_of(input);
            let d = client
                .ecs(
                    "DescribeServices",
                    &json!({"cluster": cluster, "services": [name]}),
                )
                .await?;
            let exists = d["services"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|s| s["status"] == "ACTIVE");
            if !exists {
                client.ecs("CreateService", input).await?;
            }
            Ok(Applied {
                what: format!("CreateService {name} (cluster {cluster})"),
                created: !exists,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn steps_merge_their_file_and_input() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "svc.json",
            r#"{"serviceName": "nginx", "desiredCount": 1}"#,
        );
        write(
            d.path(),
            MANIFEST,
            r#"{"description": "x", "steps": [
                {"ecs": "CreateCluster", "input": {"clusterName": "tutorial"}},
                {"ecs": "CreateService", "file": "svc.json", "input": {"cluster": "tutorial", "desiredCount": 2}}
            ], "open": [{"cluster": "tutorial", "service": "nginx", "port": 80}]}"#,
        );
        let e = Example::load(d.path()).unwrap();
        assert_eq!(e.steps.len(), 2);
        assert_eq!(
            e.steps[1].input,
            json!({"serviceName": "nginx", "desiredCount": 2, "cluster": "tutorial"})
        );
        assert_eq!(e.open[0].path, "/");
        assert_eq!(e.secrets, None);
    }

    #[test]
    fn bad_manifests_name_the_field() {
        let d = tempfile::tempdir().unwrap();
        let err = |text: &str| {
            write(d.path(), MANIFEST, text);
            Example::load(d.path()).unwrap_err().to_string()
        };
        let e = err(r#"{"description": "x", "steps": [{"ecs": "DeleteCluster"}]}"#);
        assert!(e.contains("steps[0].ecs"), "{e}");
        let e = err(
            r#"{"description": "x", "steps": [{"ecs": "CreateService", "file": "nope.json"}]}"#,
        );
        assert!(e.contains("steps[0].file: nope.json"), "{e}");
        let e = err(r#"{"description": "x", "steps": [{"ecs": "CreateCluster"}]}"#);
        assert!(e.contains("needs clusterName"), "{e}");
        let e = err(
            r#"{"description": "x", "steps": [], "open": [{"cluster": "c", "service": "s", "port": 1}]}"#,
        );
        assert!(e.contains("open[0]: no CreateService step"), "{e}");
        let e = err(r#"{"description": "x", "steps": [], "secrets": "s.json"}"#);
        assert!(e.contains("secrets: no file"), "{e}");
        let e = Example::load(&d.path().join("missing"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(MANIFEST), "{e}");
    }

    #[test]
    fn the_shipped_examples_load() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
        let mut n = 0;
        for entry in std::fs::read_dir(&root).unwrap() {
            let dir = entry.unwrap().path();
            if dir.join(MANIFEST).is_file() {
                let e = Example::load(&dir).unwrap_or_else(|e| panic!("{e}"));
                assert!(
                    !e.steps.is_empty() && !e.open.is_empty(),
                    "{}",
                    dir.display()
                );
                n += 1;
            }
        }
        assert!(
            n >= 3,
            "expected the nginx, retail-store and cats-dogs examples"
        );
    }
}
