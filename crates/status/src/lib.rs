//! `berth status`: what runs and how its traffic is, in one terminal table.
//!
//! [`gather`] reads clusters, services (with their deployments), tasks and their
//! addresses through the ECS API, traffic health (ECS's "incoming" and "outgoing"
//! traffic health: requests/s, 5xx, p99 response time over the last minute) from
//! CloudWatch's Service Connect metrics, which the agents report ([`traffic`]), and each
//! task's TLS certificates from its proxy's admin socket (the agents of this machine
//! keep them under `/run/berth/proxy/`). [`render`] prints them. A service with
//! Service Connect TLS shows how long its tasks' certificates have left (the earliest
//! `notAfter` of their ingress certificates). After the clusters come the Application
//! Load Balancers, their target groups and their targets' health ([`balancers`]); a
//! service with `loadBalancers` names its target groups.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use berth_agent::{AdminClient, ServerClient};
use serde_json::{json, Value};

pub mod balancers;
pub mod traffic;
pub use balancers::Balancers;
pub use traffic::Health;

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Api(#[from] berth_agent::Error),
    /// An answer that does not read as its operation's.
    #[error("unreadable answer to {0}")]
    Answer(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A task as `berth status` shows it.

#[derive(Clone, Debug, PartialEq)]
pub struct TaskStatus {
    pub id: String,
    pub last_status: String,
    pub desired_status: String,
    pub health: String,
    pub address: Option<String>,
    /// The ports its Service Connect services take, `name=port`.
    pub ports: Vec<String>,
    /// When its proxy's first ingress certificate to expire does (Unix seconds), when
    /// its admin socket answered and it has one.
    pub tls_not_after: Option<i64>,
}

/// A deployment of a service.
#[derive(Clone, Debug, PartialEq)]
pub struct DeploymentStatus {
    pub status: String,
    pub rollout: String,
    pub task_definition: String,
    pub desired: i64,
    pub running: i64,
    pub failed: i64,
}

/// A target group a service's tasks are registered in (its `loadBalancers`).
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceTarget {
    pub target_group_arn: String,
    pub container: String,
    pub port: i64,
}

impl ServiceTarget {
    /// The group's name, from its ARN (`...:targetgroup/<name>/<id>`).
    pub fn target_group_name(&self) -> &str {
        let resource = self.target_group_arn.rsplit(':').next().unwrap_or_default();
        resource.split('/').nth(1).unwrap_or(resource)
    }
}

/// A service as `berth status` shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceStatus {
    pub name: String,
    pub status: String,
    pub desired: i64,
    pub running: i64,
    pub pending: i64,
    pub deployments: Vec<DeploymentStatus>,
    /// Its Service Connect names clients use (`dnsName:port`), or `client only`.
    pub endpoints: Vec<String>,
    /// Its tasks' security groups (awsvpc; empty: its VPC's default group; `None`:
    /// another network mode, judged by its instances' groups).
    pub groups: Option<Vec<String>>,
    /// Whether a Service Connect entry of its primary deployment has TLS.
    pub tls: bool,
    /// The target groups its tasks are registered in.
    pub target_groups: Vec<ServiceTarget>,
    /// Its traffic in and out over the last minute, when the agents reported any.
    pub incoming: Option<Health>,
    pub outgoing: Option<Health>,
    pub tasks: Vec<TaskStatus>,
}

/// A cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterStatus {
    pub name: String,
    pub status: String,
    pub namespace: Option<String>,
    pub services: Vec<ServiceStatus>,
    /// Tasks of no service (RunTask).
    pub standalone: Vec<TaskStatus>,
}

/// Everything at one moment.
#[derive(Clone, Debug)]
pub struct Status {
    pub at: Instant,
    /// The same moment, Unix seconds (certificates' validity is shown against it).
    pub unix: i64,
    pub clusters: Vec<ClusterStatus>,
    /// The load balancers and their target groups.
    pub balancers: Balancers,
}

/// The proxies' admin sockets by task id: `<dir>/<task id>/admin.sock`, where `dir` is
/// [`berth_agent::task::PROXY_SOCKET_DIR`] for every agent of the machine.
pub fn admin_sockets(dir: &Path) -> HashMap<String, PathBuf> {
    let mut out = HashMap::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let sock = e.path().join("admin.sock");
        if sock.exists() {
            out.insert(e.file_name().to_string_lossy().to_string(), sock);
        }
    }
    out
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn last(arn: &str) -> String {
    arn.rsplit('/').next().unwrap_or_default().to_string()
}

/// Every ARN a List* call gives, following `nextToken`.
async fn list_all(
    client: &ServerClient,
    op: &str,
    input: Value,
    field: &str,
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut input = input;
    loop {
        let page = client.ecs(op, &input).await?;
        out.extend(page[field].as_array().into_iter().flatten().map(s));
        match page["nextToken"].as_str() {
            Some(t) if !t.is_empty() => input["nextToken"] = json!(t),
            _ => return Ok(out),
        }
    }
}

/// Reads everything through the API, and the metrics of the proxies of this machine
/// (their admin sockets under `socket_dir`, normally
/// [`berth_agent::task::PROXY_SOCKET_DIR`]).
pub async fn gather(client: &ServerClient, socket_dir: &Path) -> Result<Status> {
    let mut look = Look {
        client,
        sockets: admin_sockets(socket_dir),
        ports_of: HashMap::new(),
    };
    let at = Instant::now();
    let unix = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let arns = list_all(client, "ListClusters", json!({}), "clusterArns").await?;
    let mut clusters = Vec::new();
    for chunk in arns.chunks(100) {
        let d = client
            .ecs(
                "DescribeClusters",
                &json!({"clusters": chunk, "include": ["SETTINGS"]}),
            )
            .await?;
        for c in d["clusters"].as_array().into_iter().flatten() {
            let mut cluster = look.cluster(c).await?;
            // No CloudWatch data (or no CloudWatch): no traffic figures.
            let health = traffic::cluster_health(client, &cluster.name, unix_now())
                .await
                .unwrap_or_default();
            for sv in &mut cluster.services {
                if let Some((i, o)) = health.get(&sv.name) {
                    (sv.incoming, sv.outgoing) = (i.clone(), o.clone());
                }
            }
            clusters.push(cluster);
        }
    }
    clusters.sort_by(|a, b| a.name.cmp(&b.name));
    let balancers = balancers::gather(client, None).await?;
    Ok(Status {
        at,
        unix,
        clusters,
        balancers,
    })
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// What one look reads through: the API, the proxies' admin sockets, and the Service
/// Connect ports of each task definition seen so far.
struct Look<'a> {
    client: &'a ServerClient,
    sockets: HashMap<String, PathBuf>,
    ports_of: HashMap<String, Vec<String>>,
}

impl Look<'_> {
    /// A cluster (as DescribeClusters shows it), its services and their tasks.
    async fn cluster(&mut self, c: &Value) -> Result<ClusterStatus> {
        let client = self.client;
        let name = s(&c["clusterName"]);
        let service_arns = list_all(
            client,
            "ListServices",
            json!({"cluster": name}),
            "serviceArns",
        )
        .await?;
        let mut services = Vec::new();
        for chunk in service_arns.chunks(10) {
            let d = client
                .ecs(
                    "DescribeServices",
                    &json!({"cluster": name, "services": chunk}),
                )
                .await?;
            for sv in d["services"].as_array().into_iter().flatten() {
                services.push(service_of(sv));
            }
        }
        let standalone = self.tasks(&name, &mut services).await?;
        let namespace = match c["serviceConnectDefaults"]["namespace"].as_str() {
            Some(arn) => Some(namespace_name(client, arn).await),
            None => None,
        };
        Ok(ClusterStatus {
            status: s(&c["status"]),
            namespace,
            name,
            services,
            standalone,
        })
    }

    /// The cluster's tasks, each put with its service; returns those of no service.
    async fn tasks(
        &mut self,
        cluster: &str,
        services: &mut [ServiceStatus],
    ) -> Result<Vec<TaskStatus>> {
        let client = self.client;
        let task_arns =
            list_all(client, "ListTasks", json!({"cluster": cluster}), "taskArns").await?;
        let mut standalone = Vec::new();
        for chunk in task_arns.chunks(100) {
            let d = client
                .ecs(
                    "DescribeTasks",
                    &json!({"cluster": cluster, "tasks": chunk}),
                )
                .await?;
            for t in d["tasks"].as_array().into_iter().flatten() {
                let task = self.task(t).await;
                let group = s(&t["group"]);
                match group
                    .strip_prefix("service:")
                    .and_then(|g| services.iter_mut().find(|sv| sv.name == g))
                {
                    Some(sv) => sv.tasks.push(task),
                    None => standalone.push(task),
                }
            }
        }
        Ok(standalone)
    }

    /// A task (as DescribeTasks shows it), with its proxy's traffic if it runs here.
    async fn task(&mut self, t: &Value) -> TaskStatus {
        let td = s(&t["taskDefinitionArn"]);
        if !self.ports_of.contains_key(&td) {
            let ports = sc_ports(self.client, &td).await;
            self.ports_of.insert(td.clone(), ports);
        }
        let id = last(&s(&t["taskArn"]));
        let tls_not_after = match self.sockets.get(&id) {
            Some(sock) => certificates(sock).await,
            None => None,
        };
        TaskStatus {
            id,
            last_status: s(&t["lastStatus"]),
            desired_status: s(&t["desiredStatus"]),
            health: s(&t["healthStatus"]),
            address: berth_ecs::agent::task_ip(t).map(str::to_string),
            ports: self.ports_of.get(&td).cloned().unwrap_or_default(),
            tls_not_after,
        }
    }
}

/// A namespace's name from its ARN (its id when Cloud Map does not answer).
async fn namespace_name(client: &ServerClient, arn: &str) -> String {
    let id = last(arn);
    match client
        .servicediscovery("GetNamespace", &json!({"Id": id}))
        .await
    {
        Ok(v) => v["Namespace"]["Name"].as_str().map_or(id, str::to_string),
        Err(_) => id,
    }
}

fn service_of(sv: &Value) -> ServiceStatus {
    let deployments = sv["deployments"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| DeploymentStatus {
            status: s(&d["status"]),
            rollout: s(&d["rolloutState"]),
            task_definition: last(&s(&d["taskDefinition"])),
            desired: d["desiredCount"].as_i64().unwrap_or(0),
            running: d["runningCount"].as_i64().unwrap_or(0),
            failed: d["failedTasks"].as_i64().unwrap_or(0),
        })
        .collect();
    let sc = sv["deployments"][0]["serviceConnectConfiguration"].clone();
    let mut endpoints: Vec<String> = sc["services"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|e| {
            e["clientAliases"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| format!("{}:{}", s(&a["dnsName"]), a["port"]))
                .collect::<Vec<_>>()
        })
        .collect();
    if endpoints.is_empty() && sc["enabled"] == true {
        endpoints.push("client only".into());
    }
    let tls = (sc["services"].as_array().into_iter().flatten())
        .any(|e| e["tls"]["issuerCertificateAuthority"].is_object());
    let target_groups = (sv["loadBalancers"].as_array().into_iter().flatten())
        .filter(|lb| lb["targetGroupArn"].is_string())
        .map(|lb| ServiceTarget {
            target_group_arn: s(&lb["targetGroupArn"]),
            container: s(&lb["containerName"]),
            port: lb["containerPort"].as_i64().unwrap_or(0),
        })
        .collect();
    let groups = sv["networkConfiguration"]["awsvpcConfiguration"]
        .as_object()
        .map(|a| {
            a.get("securityGroups")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(s)
                .collect()
        });
    ServiceStatus {
        name: s(&sv["serviceName"]),
        groups,
        tls,
        target_groups,
        status: s(&sv["status"]),
        desired: sv["desiredCount"].as_i64().unwrap_or(0),
        running: sv["runningCount"].as_i64().unwrap_or(0),
        pending: sv["pendingCount"].as_i64().unwrap_or(0),
        deployments,
        endpoints,
        tasks: Vec::new(),
        incoming: None,
        outgoing: None,
    }
}

/// `name=containerPort` of a task definition's named ports.
async fn sc_ports(client: &ServerClient, td: &str) -> Vec<String> {
    let Ok(d) = client
        .ecs("DescribeTaskDefinition", &json!({"taskDefinition": td}))
        .await
    else {
        return Vec::new();
    };
    d["taskDefinition"]["containerDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["portMappings"].as_array().cloned().unwrap_or_default())
        .filter_map(|p| Some(format!("{}", p["containerPort"].as_i64()?)))
        .collect()
}

/// The earliest `notAfter` of the ingress certificates a proxy's `GET /certificates`
/// answers (`{"certificates": [{"use": "ingress", "notAfter": ...}, ...]}`).
pub fn earliest_ingress_expiry(answer: &Value) -> Option<i64> {
    (answer["certificates"].as_array().into_iter().flatten())
        .filter(|c| c["use"] == "ingress")
        .filter_map(|c| c["notAfter"].as_i64())
        .min()
}

async fn certificates(sock: &Path) -> Option<i64> {
    let (status, body) = AdminClient::new(sock)
        .request(http::Method::GET, "/certificates", bytes::Bytes::new())
        .await
        .ok()?;
    let answer: Value = serde_json::from_slice(&body).ok()?;
    status
        .is_success()
        .then(|| earliest_ingress_expiry(&answer))?
}

/// Time left until `not_after` as `6d23h`, `4h5m`, `3m20s` or `59s`; `expired` when
/// none is.
pub fn time_left(not_after: i64, now: i64) -> String {
    let left = not_after - now;
    if left <= 0 {
        return "expired".into();
    }
    let (d, h, m, sec) = (
        left / 86_400,
        left % 86_400 / 3600,
        left % 3600 / 60,
        left % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{sec}s"),
        (0, 0, _) => format!("{m}m{sec}s"),
        (0, _, _) => format!("{h}h{m}m"),
        _ => format!("{d}d{h}h"),
    }
}

/// A service's TLS cell: `-` without TLS, else the time its tasks' certificates have
/// left (the earliest), or `on` when no proxy of this machine showed one.
fn tls_cell(sv: &ServiceStatus, now: i64) -> String {
    if !sv.tls {
        return "-".into();
    }
    match sv.tasks.iter().filter_map(|t| t.tls_not_after).min() {
        Some(t) => time_left(t, now),
        None => "on".into(),
    }
}

/// `rows` as lines of aligned columns, each line starting with `indent`.
fn aligned(rows: &[Vec<String>], indent: &str) -> Vec<String> {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |r: &Vec<String>| {
        let mut line = String::from(indent);
        for (i, c) in r.iter().enumerate() {
            line.push_str(c);
            if i + 1 < r.len() {
                line.push_str(&" ".repeat(widths[i] - c.chars().count() + 2));
            }
        }
        line.trim_end().to_string()
    };
    rows.iter().map(line).collect()
}

fn table(rows: &[Vec<String>], indent: &str, out: &mut String) {
    for line in aligned(rows, indent) {
        let _ = writeln!(out, "{line}");
    }
}

fn task_rows(tasks: &[TaskStatus], now: i64, rows: &mut Vec<Vec<String>>) {
    for t in tasks {
        let addr = t.address.clone().unwrap_or_else(|| "-".into());
        let endpoints = if t.address.is_some() && !t.ports.is_empty() {
            t.ports
                .iter()
                .map(|p| format!("{addr}:{p}"))
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            "-".into()
        };
        rows.push(vec![
            format!("  task {}", t.id),
            if t.last_status == t.desired_status {
                t.last_status.clone()
            } else {
                format!("{}→{}", t.last_status, t.desired_status)
            },
            t.health.clone(),
            endpoints,
            String::new(),
            String::new(),
            t.tls_not_after
                .map(|n| time_left(n, now))
                .unwrap_or_default(),
        ]);
    }
}

/// A service's deployments: `PRIMARY web:2 1/2 IN_PROGRESS; ACTIVE web:1 ...`.
fn deployments_cell(sv: &ServiceStatus) -> String {
    sv.deployments
        .iter()
        .map(|d| {
            let failed = if d.failed > 0 {
                format!(" {} failed", d.failed)
            } else {
                String::new()
            };
            format!(
                "{} {} {}/{} {}{failed}",
                d.status, d.task_definition, d.running, d.desired, d.rollout
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A service's row; `now` is the look's Unix time.
fn service_row(sv: &ServiceStatus, now: i64) -> Vec<String> {
    let cell = |h: &Option<Health>| h.as_ref().map_or_else(|| "-".to_string(), Health::cell);
    let (inc, outg) = (cell(&sv.incoming), cell(&sv.outgoing));
    let endpoints = if sv.endpoints.is_empty() {
        "-".to_string()
    } else {
        sv.endpoints.join(" ")
    };
    let incoming = if sv.endpoints.iter().any(|e| e == "client only") {
        "(client only)".to_string()
    } else {
        inc
    };
    vec![
        format!("{} ({})", sv.name, sv.status),
        format!("{}/{} ({} pending)", sv.running, sv.desired, sv.pending),
        deployments_cell(sv),
        endpoints,
        target_groups_cell(&sv.target_groups),
        groups_cell(sv.groups.as_deref()),
        tls_cell(sv, now),
        incoming,
        outg,
    ]
}

/// A service's target groups: `web-tg (web:80)`, or `-`.
fn target_groups_cell(groups: &[ServiceTarget]) -> String {
    if groups.is_empty() {
        return "-".into();
    }
    let cell =
        |t: &ServiceTarget| format!("{} ({}:{})", t.target_group_name(), t.container, t.port);
    groups.iter().map(cell).collect::<Vec<_>>().join(" ")
}

/// A service's security groups as `berth status` shows them.
fn groups_cell(groups: Option<&[String]>) -> String {
    match groups {
        None => "(instance's)".into(),
        Some([]) => "(VPC default)".into(),
        Some(g) => g.join(" "),
    }
}

/// The table of `now`.
pub fn render(now: &Status) -> String {
    let mut out = String::new();
    if now.clusters.is_empty() {
        out.push_str("no clusters (create one: aws ecs create-cluster --cluster-name NAME)\n");
    }
    for c in &now.clusters {
        cluster_table(c, now.unix, &mut out);
    }
    let services = services_by_target_group(&now.clusters);
    let services_of = |arn: &str| services.get(arn).cloned().unwrap_or_default();
    balancers::render(&now.balancers, &services_of, &mut out);
    out
}

/// The ECS services (`cluster/service`) whose tasks each target group (by ARN) holds.
fn services_by_target_group(clusters: &[ClusterStatus]) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for c in clusters {
        for sv in &c.services {
            for t in &sv.target_groups {
                let name = format!("{}/{}", c.name, sv.name);
                let users = out.entry(t.target_group_arn.clone()).or_default();
                if !users.contains(&name) {
                    users.push(name);
                }
            }
        }
    }
    out
}

/// A cluster's line and its table of services and tasks; `now` is the look's Unix time.
fn cluster_table(c: &ClusterStatus, now: i64, out: &mut String) {
    let _ = writeln!(
        out,
        "cluster {} ({}), namespace {}: {} services, {} tasks",
        c.name,
        c.status,
        c.namespace.as_deref().unwrap_or("-"),
        c.services.len(),
        c.services.iter().map(|s| s.tasks.len()).sum::<usize>() + c.standalone.len()
    );
    let mut rows = vec![[
        "SERVICE",
        "TASKS",
        "DEPLOYMENTS",
        "ENDPOINTS",
        "LOAD BALANCER",
        "GROUPS",
        "TLS",
        "INCOMING",
        "OUTGOING",
    ]
    .map(String::from)
    .to_vec()];
    for sv in &c.services {
        rows.push(service_row(sv, now));
        task_rows(&sv.tasks, now, &mut rows);
    }
    if !c.standalone.is_empty() {
        rows.push(vec!["(no service)".to_string()]);
        task_rows(&c.standalone, now, &mut rows);
    }
    table(&rows, "  ", out);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str) -> TaskStatus {
        TaskStatus {
            id: id.into(),
            last_status: "RUNNING".into(),
            desired_status: "RUNNING".into(),
            health: "HEALTHY".into(),
            address: Some("10.213.0.5".into()),
            ports: vec!["8080".into()],
            tls_not_after: None,
        }
    }

    fn status(at: Instant, tasks: Vec<TaskStatus>) -> Status {
        Status {
            at,
            unix: 1_767_225_600,
            clusters: vec![ClusterStatus {
                name: "retail".into(),
                status: "ACTIVE".into(),
                namespace: Some("retailstore.local".into()),
                services: vec![ServiceStatus {
                    name: "catalog".into(),
                    status: "ACTIVE".into(),
                    desired: 2,
                    running: 2,
                    pending: 0,
                    deployments: vec![DeploymentStatus {
                        status: "PRIMARY".into(),
                        rollout: "COMPLETED".into(),
                        task_definition: "retail-store-ecs-catalog:1".into(),
                        desired: 2,
                        running: 2,
                        failed: 0,
                    }],
                    endpoints: vec!["catalog:80".into()],
                    groups: Some(vec!["sg-0c1e6fd4e2a6a1f7b".into()]),
                    tls: false,
                    target_groups: vec![],
                    tasks,
                    incoming: None,
                    outgoing: None,
                }],
                standalone: vec![],
            }],
            balancers: Balancers::default(),
        }
    }

    #[test]
    fn traffic_health_comes_from_the_services_metrics() {
        let mut now = status(Instant::now(), vec![task("a"), task("b")]);
        let text = render(&now);
        // No data yet: no traffic figures, the rest as ever.
        assert!(!text.contains("/s 5xx"), "{text}");
        assert!(text.contains("catalog (ACTIVE)"), "{text}");
        assert!(text.contains("sg-0c1e6fd4e2a6a1f7b"), "{text}");
        assert!(
            text.contains("PRIMARY retail-store-ecs-catalog:1 2/2 COMPLETED"),
            "{text}"
        );
        assert!(text.contains("10.213.0.5:8080"), "{text}");
        assert!(text.contains("namespace retailstore.local"), "{text}");
        let sv = &mut now.clusters[0].services[0];
        sv.incoming = Some(Health {
            requests: 1200.0,
            errors_5xx: 0.0,
            p99_ms: Some(1.0),
            secs: 60.0,
        });
        let text = render(&now);
        assert!(text.contains("20.0/s 5xx 0 p99 1.0ms"), "{text}");
    }

    #[test]
    fn a_service_names_its_target_groups() {
        let arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-tg/73e2d6bc24d8a067";
        let mut now = status(Instant::now(), vec![task("a")]);
        let text = render(&now);
        let header = text.lines().nth(1).unwrap();
        let col = header
            .find("LOAD BALANCER")
            .expect("a LOAD BALANCER column");
        let cell = |text: &str, line: usize| {
            let l = text.lines().nth(line).unwrap();
            l.get(col..)
                .unwrap_or("")
                .split("  ")
                .next()
                .unwrap()
                .to_string()
        };
        assert_eq!(cell(&text, 2), "-", "{text}");
        now.clusters[0].services[0].target_groups = vec![ServiceTarget {
            target_group_arn: arn.into(),
            container: "web".into(),
            port: 8080,
        }];
        let text = render(&now);
        assert_eq!(cell(&text, 2), "web-tg (web:8080)", "{text}");
        // No load balancer: no section.
        assert!(!text.contains("load balancer "), "{text}");
    }

    #[test]
    fn load_balancers_show_without_clusters() {
        let mut now = status(Instant::now(), vec![]);
        now.clusters.clear();
        now.balancers
            .load_balancers
            .push(balancers::LoadBalancerStatus {
                arn: "arn:lb".into(),
                name: "web".into(),
                dns_name: "web-1.us-east-1.elb.localhost".into(),
                state: balancers::LoadBalancerState::Provisioning,
                state_reason: None,
                target_groups: vec![],
            });
        assert_eq!(
            render(&now),
            "no clusters (create one: aws ecs create-cluster --cluster-name NAME)\n\
             load balancer web (provisioning) web-1.us-east-1.elb.localhost\n  no target groups\n\n"
        );
    }

    #[test]
    fn time_left_is_in_two_units() {
        let now = 1_000_000;
        let table = [
            (now + 7 * 86_400 - 1, "6d23h"),
            (now + 86_400, "1d0h"),
            (now + 3 * 3600 + 5 * 60 + 9, "3h5m"),
            (now + 200, "3m20s"),
            (now + 59, "59s"),
            (now + 1, "1s"),
            (now, "expired"),
            (now - 10, "expired"),
        ];
        for (not_after, want) in table {
            assert_eq!(time_left(not_after, now), want, "{}", not_after - now);
        }
    }

    #[test]
    fn the_earliest_ingress_certificate_counts() {
        let answer = json!({"certificates": [
            {"use": "ingress", "listener": "a", "notAfter": 300},
            {"use": "client", "listener": "", "notAfter": 100},
            {"use": "ingress", "listener": "b", "notAfter": 200},
        ]});
        assert_eq!(earliest_ingress_expiry(&answer), Some(200));
        assert_eq!(
            earliest_ingress_expiry(&json!({"certificates": [{"use": "client", "notAfter": 1}]})),
            None
        );
        assert_eq!(earliest_ingress_expiry(&json!({"certificates": []})), None);
    }

    #[test]
    fn the_tls_column_shows_the_certificates_time_left() {
        let now = 1_767_225_600;
        let with = |tls: bool, expiries: &[Option<i64>]| {
            let tasks = (expiries.iter().enumerate())
                .map(|(i, e)| TaskStatus {
                    tls_not_after: *e,
                    ..task(&format!("t{i}"))
                })
                .collect();
            let mut st = status(Instant::now(), tasks);
            st.clusters[0].services[0].tls = tls;
            st
        };
        // (TLS, the tasks' earliest ingress notAfter, the service's cell, the tasks' cells)
        type Row<'a> = (bool, Vec<Option<i64>>, &'a str, Vec<&'a str>);
        let table: [Row; 5] = [
            (false, vec![None], "-", vec![""]),
            (true, vec![None, None], "on", vec!["", ""]),
            (
                true,
                vec![Some(now + 7 * 86_400 - 1), Some(now + 59)],
                "59s",
                vec!["6d23h", "59s"],
            ),
            (
                true,
                vec![Some(now + 86_400 + 3600), None],
                "1d1h",
                vec!["1d1h", ""],
            ),
            (true, vec![Some(now - 1)], "expired", vec!["expired"]),
        ];
        for (tls, expiries, service, tasks) in table {
            let st = with(tls, &expiries);
            let text = render(&st);
            let lines: Vec<&str> = text.lines().collect();
            // The header, then the service, then its tasks.
            let col = lines[1].find("TLS").expect("a TLS column");
            let cell = |line: &str| {
                line.get(col..)
                    .and_then(|r| r.split_whitespace().next())
                    .unwrap_or("")
                    .to_string()
            };
            assert_eq!(cell(lines[2]), service, "{text}");
            for (i, want) in tasks.iter().enumerate() {
                assert_eq!(cell(lines[3 + i]), *want, "{text}");
            }
        }
    }

    #[test]
    fn sockets_are_found_by_task() {
        let d = tempfile::tempdir().unwrap();
        for t in ["t1", "t2", "t3"] {
            std::fs::create_dir_all(d.path().join(t)).unwrap();
        }
        std::fs::write(d.path().join("t1/admin.sock"), "").unwrap();
        std::fs::write(d.path().join("t2/admin.sock"), "").unwrap();
        let s = admin_sockets(d.path());
        assert_eq!(s.len(), 2);
        assert!(s["t1"].ends_with("t1/admin.sock"));
        assert!(s["t2"].ends_with("t2/admin.sock"));
        assert!(admin_sockets(&d.path().join("missing")).is_empty());
    }
}
