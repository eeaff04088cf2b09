//! The agent ⇄ server protocol against a real server, without an agent: the push
//! stream (`GET /berth/agent/v1/watch`), placement by the scheduler, state reports
//! that publish a task in Cloud Map and StopTask that withdraws it in the same write,
//! `agentConnected`, and a restarted server that no longer trusts old connections.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use berth_server::ServerConfig;
use common::{post, TestServer};
use serde_json::{json, Value};

const AUTH: &str = "AWS4-HMAC-SHA256 Credential=test/20260101/us-west-2/ecs/aws4_request, SignedHeaders=host, Signature=0";

fn call(addr: SocketAddr, target: &str, op: &str, body: Value) -> (u16, Value) {
    call_as(addr, AUTH, target, op, body)
}

fn call_as(addr: SocketAddr, auth: &str, target: &str, op: &str, body: Value) -> (u16, Value) {
    let t = format!("{target}.{op}");
    let r = post(
        addr,
        "/",
        &[
            ("X-Amz-Target", &t),
            ("Content-Type", "application/x-amz-json-1.1"),
            ("Authorization", auth),
        ],
        body.to_string().as_bytes(),
    );
    (r.status, r.json())
}

fn ecs(addr: SocketAddr, op: &str, body: Value) -> Value {
    let (status, v) = call(addr, "AmazonEC2ContainerServiceV20141113", op, body);
    assert_eq!(status, 200, "{op}: {v}");
    v
}

/// An ECS call signed by an agent (`agent`: from [`common::join_agent`]).
fn agent_ecs(addr: SocketAddr, agent: &str, op: &str, body: Value) -> Value {
    let (status, v) = call_as(addr, agent, "AmazonEC2ContainerServiceV20141113", op, body);
    assert_eq!(status, 200, "{op}: {v}");
    v
}

fn discover(addr: SocketAddr) -> Vec<Value> {
    let auth = common::auth_naming("test", "us-west-2", "servicediscovery");
    let (status, v) = call_as(
        addr,
        &auth,
        "Route53AutoNaming_v20170314",
        "DiscoverInstances",
        json!({"NamespaceName": "sc", "ServiceName": "web"}),
    );
    assert_eq!(status, 200, "{v}");
    v["Instances"].as_array().cloned().unwrap_or_default()
}

/// A push stream: the lines of its chunked body, one view each.
struct Watch {
    reader: BufReader<TcpStream>,
}

impl Watch {
    fn open(addr: SocketAddr, agent: &str, query: &str) -> (u16, Option<Watch>) {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let path = format!("/berth/agent/v1/watch?{query}");
        write!(s, "{}", common::signed_get(addr, &path, agent)).unwrap();
        let mut reader = BufReader::new(s);
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        let code: u16 = status.split_whitespace().nth(1).unwrap().parse().unwrap();
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).unwrap();
            if h == "\r\n" {
                break;
            }
        }
        (code, (code == 200).then_some(Watch { reader }))
    }

    /// The next view (skipping heartbeats and chunk framing).
    fn next(&mut self) -> Value {
        loop {
            let mut line = String::new();
            self.reader
                .read_line(&mut line)
                .expect("a line of the stream");
            let t = line.trim();
            if t.starts_with('{') {
                return serde_json::from_str(t).unwrap();
            }
        }
    }

    /// Views until one satisfies `f`.
    fn until(&mut self, what: &str, f: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            assert!(Instant::now() < deadline, "no view with {what}");
            let v = self.next();
            if f(&v) {
                return v;
            }
        }
    }
}

fn instance(addr: SocketAddr, arn: &str) -> Value {
    ecs(
        addr,
        "DescribeContainerInstances",
        json!({"cluster": "c", "containerInstances": [arn]}),
    )["containerInstances"][0]
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_stream_placement_reports_and_endpoints() {
    let s = TestServer::start_with(|c| c.network_files.push(common::seed002_network())).await;
    let addr = s.addr();
    let dir = s.dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        ecs(
            addr,
            "CreateCluster",
            json!({"clusterName": "c", "serviceConnectDefaults": {"namespace": "sc"}}),
        );
        let agent = common::join_agent(addr, &dir, "us-west-2", "c");
        let arn = agent_ecs(
            addr,
            &agent,
            "RegisterContainerInstance",
            json!({"cluster": "c", "totalResources": [
                {"name": "CPU", "type": "INTEGER", "integerValue": 2048},
                {"name": "MEMORY", "type": "INTEGER", "integerValue": 4096}]}),
        )["containerInstance"]["containerInstanceArn"]
            .as_str()
            .unwrap()
            .to_string();
        // Bad input first: a clear error, nothing else happens.
        let (code, _) = Watch::open(addr, &agent, "cluster=c");
        assert_eq!(code, 400);
        let (code, _) = Watch::open(addr, &agent, "cluster=c&containerInstance=nope");
        assert_eq!(code, 403, "not this agent's instance");

        let q = format!("cluster=c&containerInstance={}", arn.replace('/', "%2F"));
        let (code, w) = Watch::open(addr, &agent, &q);
        assert_eq!(code, 200);
        let mut w = w.unwrap();
        let first = w.next();
        assert_eq!(first["instance"], arn.as_str());
        assert_eq!(first["tasks"], json!([]));
        assert!(first["revision"].as_u64().unwrap() > 0);
        assert_eq!(instance(addr, &arn)["agentConnected"], true);

        ecs(
            addr,
            "RegisterTaskDefinition",
            json!({
            "family": "web", "networkMode": "awsvpc", "cpu": "256", "memory": "512",
            "containerDefinitions": [{"name": "web", "image": "nginx", "essential": true,
                "portMappings": [{"name": "web", "containerPort": 80, "appProtocol": "http"}]}]}),
        );
        ecs(
            addr,
            "CreateService",
            json!({
            "cluster": "c", "serviceName": "web", "taskDefinition": "web", "desiredCount": 1,
            "launchType": "FARGATE",
            "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-EXAMPLE"]}},
            "serviceConnectConfiguration": {"enabled": true, "services": [
                {"portName": "web", "clientAliases": [{"port": 80}]}]}}),
        );
        // Pushed: the scheduler's task, placed on this instance, with what its proxy needs.
        let v = w.until("a task", |v| {
            v["tasks"].as_array().is_some_and(|t| !t.is_empty())
        });
        let t = &v["tasks"][0];
        assert_eq!(t["desiredStatus"], "RUNNING");
        assert_eq!(t["lastStatus"], "PROVISIONING");
        assert_eq!(t["taskDefinition"]["family"], "web");
        let sc = &t["serviceConnect"];
        assert_eq!(sc["ingress"][0]["containerPort"], 80);
        assert_eq!(sc["ingress"][0]["protocol"], "http");
        assert_eq!(sc["egress"][0]["dnsName"], "web.sc");
        assert_eq!(sc["egress"][0]["shortName"], "web");
        assert_eq!(sc["upstreams"]["web"]["endpoints"], json!([]));
        let task = t["taskArn"].as_str().unwrap().to_string();
        let eni = t["attachments"][0]["id"].as_str().unwrap().to_string();

        // The agent's reports: an address, then RUNNING: published.
        agent_ecs(
            addr,
            &agent,
            "SubmitTaskStateChange",
            json!({"cluster": "c", "task": task, "status": "PENDING",
            "attachments": [{"attachmentArn": eni, "status": "ATTACHED",
                "details": [{"name": "privateIPv4Address", "value": "10.9.0.7"}]}]}),
        );
        assert!(discover(addr).is_empty(), "not published before it runs");
        let d = ecs(
            addr,
            "DescribeTasks",
            json!({"cluster": "c", "tasks": [task]}),
        );
        let ni = &d["tasks"][0]["containers"][0]["networkInterfaces"][0];
        assert_eq!(ni["privateIpv4Address"], "10.9.0.7");
        assert_eq!(ni["attachmentId"], eni.as_str());
        agent_ecs(
            addr,
            &agent,
            "SubmitTaskStateChange",
            json!({"cluster": "c", "task": task, "status": "RUNNING",
            "containers": [{"containerName": "web", "status": "RUNNING"}]}),
        );
        let inst = discover(addr);
        assert_eq!(inst.len(), 1);
        assert_eq!(inst[0]["Attributes"]["AWS_INSTANCE_IPV4"], "10.9.0.7");
        assert_eq!(inst[0]["Attributes"]["AWS_INSTANCE_PORT"], "80");
        assert_eq!(inst[0]["Attributes"]["ECS_SERVICE_NAME"], "web");
        let v = w.until("the endpoint", |v| {
            v["tasks"][0]["serviceConnect"]["upstreams"]["web"]["endpoints"][0]["address"]
                == "10.9.0.7:80"
        });
        assert_eq!(v["tasks"][0]["lastStatus"], "RUNNING");
        // The scheduler counts it on its pass after the report's commit.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let svc = ecs(
                addr,
                "DescribeServices",
                json!({"cluster": "c", "services": ["web"]}),
            );
            if svc["services"][0]["runningCount"] == 1 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "runningCount: {}",
                svc["services"][0]
            );
            std::thread::sleep(Duration::from_millis(20));
        }

        // StopTask withdraws it in the same write; the next view says STOPPED.
        ecs(addr, "StopTask", json!({"cluster": "c", "task": task}));
        assert!(discover(addr).is_empty());
        w.until("the stop", |v| {
            v["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t["taskArn"] == task.as_str() && t["desiredStatus"] == "STOPPED")
        });

        // The stream closed: disconnected.
        drop(w);
        let deadline = Instant::now() + Duration::from_secs(10);
        while instance(addr, &arn)["agentConnected"] != false {
            assert!(Instant::now() < deadline, "still connected");
            std::thread::sleep(Duration::from_millis(20));
        }
        (arn, dir)
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_counts_no_agent_as_connected() {
    let s = TestServer::start_with(|c| c.network_files.push(common::seed002_network())).await;
    let addr = s.addr();
    let dir = s.dir.path().to_path_buf();
    let arn = tokio::task::spawn_blocking(move || {
        ecs(addr, "CreateCluster", json!({"clusterName": "c"}));
        let agent = common::join_agent(addr, &dir, "us-west-2", "c");
        let arn = agent_ecs(
            addr,
            &agent,
            "RegisterContainerInstance",
            json!({"cluster": "c"}),
        )["containerInstance"]["containerInstanceArn"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(instance(addr, &arn)["agentConnected"], true);
        arn
    })
    .await
    .unwrap();
    let TestServer { server, dir } = s;
    server.shutdown().await;
    let again = berth_server::start(ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_path_buf(),
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let addr = again.addr;
    tokio::task::spawn_blocking(move || {
        assert_eq!(instance(addr, &arn)["agentConnected"], false);
    })
    .await
    .unwrap();
    again.shutdown().await;
}
