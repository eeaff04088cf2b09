//! A task's temporary credentials: the agent of the instance a task is placed on gets
//! sessions of its task role and execution role; nobody else does. A session works
//! only with its token, until it expires, and never for the agents' operations.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use berth_credentials::{CredentialStore, Principal};
use common::{post, post_unsigned, sign_as, Raw, TestServer};
use serde_json::{json, Value};

const ECS: &str = "AmazonEC2ContainerServiceV20141113";
const ROOT: &str = "AWS4-HMAC-SHA256 Credential=test/20260101/us-west-2/ecs/aws4_request, SignedHeaders=host, Signature=0";

fn ecs_as(addr: SocketAddr, auth: &str, op: &str, body: Value) -> Raw {
    let target = format!("{ECS}.{op}");
    post(
        addr,
        "/",
        &[
            ("X-Amz-Target", &target),
            ("Content-Type", "application/x-amz-json-1.1"),
            ("Authorization", auth),
        ],
        body.to_string().as_bytes(),
    )
}

fn ok(r: Raw) -> Value {
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

/// An ECS call signed with temporary credentials, the token sent as `token` says.
fn ecs_with_session(
    addr: SocketAddr,
    key: &str,
    secret: &str,
    token: Option<&str>,
    op: &str,
) -> Raw {
    let target = format!("{ECS}.{op}");
    let mut headers = vec![
        ("X-Amz-Target", target.as_str()),
        ("Content-Type", "application/x-amz-json-1.1"),
    ];
    if let Some(t) = token {
        headers.push(("X-Amz-Security-Token", t));
    }
    let body = b"{\"cluster\": \"a\", \"task\": \"x\", \"status\": \"RUNNING\"}";
    let signed = sign_as(
        addr,
        "POST",
        "/",
        &headers,
        body,
        key,
        secret,
        "us-west-2",
        "ecs",
    );
    let signed: Vec<(&str, &str)> = signed
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    post_unsigned(addr, "/", &signed, body)
}

fn sts_with_session(addr: SocketAddr, key: &str, secret: &str, token: &str) -> Raw {
    let headers = [
        (
            "Content-Type",
            "application/x-www-form-urlencoded; charset=utf-8",
        ),
        ("X-Amz-Security-Token", token),
    ];
    let body = b"Action=GetCallerIdentity&Version=2011-06-15";
    let signed = sign_as(
        addr,
        "POST",
        "/",
        &headers,
        body,
        key,
        secret,
        "us-west-2",
        "sts",
    );
    let signed: Vec<(&str, &str)> = signed
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    post_unsigned(addr, "/", &signed, body)
}

fn code(r: &Raw) -> String {
    let text = r.text();
    if let Ok(v) = serde_json::from_str::<Value>(&text) {
        return v["__type"].as_str().unwrap_or_default().to_string();
    }
    let start = text.find("<Code>").map_or(0, |i| i + 6);
    let end = text.find("</Code>").unwrap_or(start);
    text[start..end].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_needs_its_token_and_ends_when_it_expires() {
    let s = TestServer::start().await;
    let (addr, dir) = (s.addr(), s.dir.path().to_path_buf());
    tokio::task::spawn_blocking(move || {
        let store = CredentialStore::open(&dir).unwrap();
        let role = Principal::Task {
            task_arn: "arn:aws:ecs:us-west-2:210987654321:task/a/0123".into(),
            role_arn: "arn:aws:iam::210987654321:role/app".into(),
        };
        let live = store
            .create_session(
                "210987654321",
                &role,
                Duration::from_secs(600),
                SystemTime::now(),
            )
            .unwrap();
        let (k, sk, t) = (
            &live.access_key_id,
            &live.secret_access_key,
            &live.session_token,
        );
        assert_eq!(
            ok(ecs_with_session(addr, k, sk, Some(t), "ListClusters"))["clusterArns"],
            json!([])
        );
        let who = sts_with_session(addr, k, sk, t);
        assert_eq!(who.status, 200, "{}", who.text());
        assert!(
            who.text().contains("<Account>210987654321</Account>"),
            "{}",
            who.text()
        );
        for (case, token) in [
            ("no token", None),
            ("another token", Some("AQoDYXdzEJr...")),
        ] {
            let r = ecs_with_session(addr, k, sk, token, "ListClusters");
            assert_eq!(
                (r.status, code(&r)),
                (403, "UnrecognizedClientException".into()),
                "{case}"
            );
        }
        // A task's role is not an agent: the agents' operations stay closed.
        let r = ecs_with_session(addr, k, sk, Some(t), "SubmitTaskStateChange");
        assert_eq!((r.status, code(&r)), (403, "AccessDeniedException".into()));
        let old = store
            .create_session(
                "210987654321",
                &role,
                Duration::from_secs(60),
                SystemTime::now() - Duration::from_secs(120),
            )
            .unwrap();
        let r = ecs_with_session(
            addr,
            &old.access_key_id,
            &old.secret_access_key,
            Some(&old.session_token),
            "ListClusters",
        );
        assert_eq!(
            (r.status, code(&r)),
            (403, "ExpiredTokenException".into()),
            "{}",
            r.text()
        );
    })
    .await
    .unwrap();
}

/// Waits for the service's task to be placed: (task ARN, instance ARN).
fn placed_task(addr: SocketAddr) -> (String, String) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let l = ok(ecs_as(addr, ROOT, "ListTasks", json!({"cluster": "a"})));
        if let Some(t) = l["taskArns"][0].as_str() {
            let d = ok(ecs_as(
                addr,
                ROOT,
                "DescribeTasks",
                json!({"cluster": "a", "tasks": [t]}),
            ));
            if let Some(ci) = d["tasks"][0]["containerInstanceArn"].as_str() {
                return (t.to_string(), ci.to_string());
            }
        }
        assert!(std::time::Instant::now() < deadline, "no placed task");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn ask(addr: SocketAddr, auth: &str, instance: &str, task: &str) -> Raw {
    let path = format!(
        "/berth/agent/v1/task-credentials?cluster=a&containerInstance={}",
        instance.replace('/', "%2F").replace(':', "%3A")
    );
    post(
        addr,
        &path,
        &[
            ("Content-Type", "application/json"),
            ("Authorization", auth),
        ],
        json!({"taskArn": task}).to_string().as_bytes(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_tasks_own_agent_gets_its_roles() {
    let s = TestServer::start_with(|c| c.network_files.push(common::seed002_network())).await;
    let (addr, dir) = (s.addr(), s.dir.path().to_path_buf());
    tokio::task::spawn_blocking(move || {
        ok(ecs_as(
            addr,
            ROOT,
            "CreateCluster",
            json!({"clusterName": "a"}),
        ));
        let a1 = common::join_agent(addr, &dir, "us-west-2", "a");
        let a2 = common::join_agent(addr, &dir, "us-west-2", "a");
        let mut instances = Vec::new();
        for agent in [&a1, &a2] {
            let r = ok(ecs_as(
                addr,
                agent,
                "RegisterContainerInstance",
                json!({"cluster": "a"}),
            ));
            instances.push(
                r["containerInstance"]["containerInstanceArn"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
        ok(ecs_as(
            addr,
            ROOT,
            "RegisterTaskDefinition",
            json!({
            "family": "web", "networkMode": "awsvpc", "cpu": "256", "memory": "512",
            "taskRoleArn": "arn:aws:iam::123456789012:role/ecsTaskRole",
            "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
            "containerDefinitions": [{"name": "web", "image": "nginx", "essential": true}]}),
        ));
        ok(ecs_as(
            addr,
            ROOT,
            "CreateService",
            json!({
            "cluster": "a", "serviceName": "web", "taskDefinition": "web", "desiredCount": 1,
            "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-EXAMPLE"]}}}),
        ));
        let (task, on) = placed_task(addr);
        let (owner, thief) = if on == instances[0] {
            (&a1, &a2)
        } else {
            (&a2, &a1)
        };
        // Another instance's agent, or the root user: refused.
        let r = ask(addr, thief, &on, &task);
        assert!(
            r.status >= 400 && r.text().contains("AccessDenied"),
            "{}",
            r.text()
        );
        let other = if on == instances[0] {
            &instances[1]
        } else {
            &instances[0]
        };
        let r = ask(addr, thief, other, &task);
        assert!(
            r.status >= 400 && r.text().contains("AccessDenied"),
            "{}",
            r.text()
        );
        assert!(ask(addr, ROOT, &on, &task).status >= 400);
        // The owner gets both roles.
        let v = ok(ask(addr, owner, &on, &task));
        let role = &v["taskRole"];
        assert_eq!(
            role["RoleArn"],
            "arn:aws:iam::123456789012:role/ecsTaskRole"
        );
        assert_eq!(
            v["executionRole"]["RoleArn"],
            "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"
        );
        let key = role["AccessKeyId"].as_str().unwrap();
        assert!(key.starts_with("ASIA"), "{key}");
        assert!(role["Expiration"].as_str().unwrap().ends_with('Z'));
        let (sk, t) = (
            role["SecretAccessKey"].as_str().unwrap(),
            role["Token"].as_str().unwrap(),
        );
        let l = ok(ecs_with_session(addr, key, sk, Some(t), "ListClusters"));
        assert_eq!(
            l["clusterArns"],
            json!(["arn:aws:ecs:us-west-2:123456789012:cluster/a"])
        );
    })
    .await
    .unwrap();
}
