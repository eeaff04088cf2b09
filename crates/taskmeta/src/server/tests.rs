//! The server over real HTTP on loopback (no namespace needed: `serve` takes any
//! listener), with a fake source.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::stats::{CpuSample, NetworkSample};
use crate::testdata::{at, ec2_task};

#[derive(Default)]
struct Fake {
    task: Mutex<TaskFacts>,
    credentials: Mutex<Option<TaskCredentials>>,
    samples: AtomicU64,
}

impl MetadataSource for Fake {
    fn task(&self) -> TaskFacts {
        lock(&self.task).clone()
    }

    async fn stats(&self, container: &str) -> Option<StatsSample> {
        // Only the first container has stats; each sample one second after the last.
        if container != "web" {
            return None;
        }
        let n = self.samples.fetch_add(1, Ordering::SeqCst);
        Some(StatsSample {
            read: Some(at(1_700_000_000 + n, 0)),
            cpu: CpuSample {
                total_usage: 1000 * (n + 1),
                ..CpuSample::default()
            },
            networks: [(
                "eth0".to_string(),
                NetworkSample {
                    rx_bytes: 100 * n,
                    ..NetworkSample::default()
                },
            )]
            .into(),
            ..StatsSample::default()
        })
    }

    async fn credentials(&self) -> Option<TaskCredentials> {
        lock(&self.credentials).clone()
    }
}

fn creds() -> TaskCredentials {
    TaskCredentials {
        role_arn: "arn:aws:iam::000000000000:role/shop-task".into(),
        access_key_id: "ASIAEXAMPLE".into(),
        secret_access_key: "secret".into(),
        session_token: "token".into(),
        expiration: at(1_700_003_600, 0),
    }
}

fn loopback() -> std::net::TcpListener {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap()
}

fn start(fake: Fake, config: MetadataConfig) -> (MetadataServer<Fake>, Arc<Fake>) {
    let fake = Arc::new(fake);
    let server = MetadataServer::serve(loopback(), None, config, Arc::clone(&fake)).unwrap();
    (server, fake)
}

fn fake() -> Fake {
    Fake {
        task: Mutex::new(ec2_task()),
        credentials: Mutex::new(Some(creds())),
        ..Fake::default()
    }
}

/// One request on its own connection: (status, head, body as JSON).
async fn request(addr: SocketAddr, method: &str, path: &str) -> (u16, String, Value) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!("{method} {path} HTTP/1.1\r\nHost: 169.254.170.2\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    s.write_all(head.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head[9..12].parse().unwrap();
    let body = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
    (status, head.to_string(), body)
}

async fn get(addr: SocketAddr, path: &str) -> (u16, Value) {
    let (status, head, body) = request(addr, "GET", path).await;
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    (status, body)
}

/// The path of an env variable's URL.
fn env_path(env: &[(String, String)], name: &str) -> String {
    let url = &env.iter().find(|(k, _)| k == name).unwrap().1;
    let rest = url.strip_prefix("http://").unwrap();
    rest[rest.find('/').unwrap()..].to_string()
}

#[tokio::test]
async fn each_container_is_known_by_its_token() {
    let (server, fake) = start(fake(), MetadataConfig::default());
    let addr = server.metadata_addr();
    let task = fake.task();
    for c in &task.containers {
        let path = env_path(&server.env(&c.name), "ECS_CONTAINER_METADATA_URI_V4");
        let (status, body) = get(addr, &path).await;
        assert_eq!(status, 200);
        assert_eq!(
            body,
            serde_json::to_value(container_document(&task, c)).unwrap()
        );
        // v3 serves the same.
        let v3 = env_path(&server.env(&c.name), "ECS_CONTAINER_METADATA_URI");
        assert_eq!(get(addr, &v3).await, (200, body));
    }
    assert_ne!(server.token("web"), server.token("log"));
}

#[tokio::test]
async fn task_documents() {
    let (server, fake) = start(fake(), MetadataConfig::default());
    let (addr, t) = (server.metadata_addr(), server.token("web"));
    let task = fake.task();
    let cases = [
        (format!("/v4/{t}/task"), task_document(&task, false)),
        (format!("/v3/{t}/task"), task_document(&task, false)),
        (format!("/v4/{t}/taskWithTags"), task_document(&task, true)),
    ];
    for (path, doc) in cases {
        let (status, body) = get(addr, &path).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(body, serde_json::to_value(doc).unwrap(), "{path}");
    }
    let (_, with_tags) = get(addr, &format!("/v4/{t}/taskWithTags")).await;
    assert_eq!(with_tags["TaskTags"], json!({"team": "shop"}));
    // The documents follow the facts as they change.
    lock(&fake.task).known_status = crate::facts::TaskStatus::Stopped;
    let (_, body) = get(addr, &format!("/v4/{t}/task")).await;
    assert_eq!(body["KnownStatus"], "STOPPED");
}

#[tokio::test]
async fn refusals_are_json() {
    let (server, _) = start(fake(), MetadataConfig::default());
    let addr = server.metadata_addr();
    let t = server.token("web");
    // A token for a container the task does not have.
    let ghost = server.token("ghost");
    let cases: Vec<(&str, String, u16)> = vec![
        ("GET", "/v4/not-a-token".into(), 404),
        ("GET", "/v4/not-a-token/task".into(), 404),
        ("GET", format!("/v4/{ghost}"), 404),
        ("GET", "/".into(), 404),
        ("GET", "/latest/meta-data/".into(), 404),
        ("GET", format!("/v4/{t}/nothing"), 404),
        ("POST", format!("/v4/{t}"), 405),
        ("PUT", format!("/v4/{t}/task"), 405),
        ("DELETE", "/v2/credentials/x".into(), 405),
        ("HEAD", format!("/v4/{t}"), 405),
        // A path that is not here is 404 whatever the method.
        ("POST", "/nothing".into(), 404),
    ];
    for (method, path, status) in cases {
        if method == "HEAD" {
            // No body to a HEAD: check the status line only.
            let mut s = TcpStream::connect(addr).await.unwrap();
            let head = format!("HEAD {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            s.write_all(head.as_bytes()).await.unwrap();
            let mut raw = Vec::new();
            s.read_to_end(&mut raw).await.unwrap();
            assert!(String::from_utf8_lossy(&raw).starts_with("HTTP/1.1 405"));
            continue;
        }
        let (got, head, body) = request(addr, method, &path).await;
        assert_eq!(got, status, "{method} {path}");
        assert!(body.is_string(), "{method} {path}: {body}");
        if status == 405 {
            assert!(head.to_ascii_lowercase().contains("allow: get"), "{head}");
        }
    }
}

#[tokio::test]
async fn credentials() {
    let (server, fake) = start(fake(), MetadataConfig::default());
    let addr = server.metadata_addr();
    let env = server.env("web");
    let path = &env
        .iter()
        .find(|(k, _)| k == "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        .unwrap()
        .1;
    assert_eq!(
        *path,
        format!("/v2/credentials/{}", server.credentials_id())
    );
    let (status, body) = get(addr, path).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        serde_json::to_value(credentials_document(&creds())).unwrap()
    );

    let code = |v: &Value| v["code"].as_str().unwrap().to_string();
    let (status, body) = get(addr, "/v2/credentials/someone-else").await;
    assert_eq!((status, code(&body)), (400, "InvalidIdInRequest".into()));
    let (status, body) = get(addr, "/v2/credentials/").await;
    assert_eq!((status, code(&body)), (400, "NoIdInRequest".into()));
    // Not there yet: 503, as ECS answers before it has them.
    *lock(&fake.credentials) = None;
    let (status, body) = get(addr, path).await;
    assert_eq!(
        (status, code(&body)),
        (503, "CredentialsUninitialized".into())
    );
    // A task without a role has no credentials, whatever the id.
    *lock(&fake.credentials) = Some(creds());
    lock(&fake.task).task_role_arn = None;
    let (status, body) = get(addr, path).await;
    assert_eq!((status, code(&body)), (400, "InvalidIdInRequest".into()));
    assert!(!server
        .env("web")
        .iter()
        .any(|(k, _)| k == "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"));
}

#[tokio::test]
async fn stats_pair_each_sample_with_the_one_before() {
    let (server, _) = start(fake(), MetadataConfig::default());
    let (addr, t) = (server.metadata_addr(), server.token("web"));
    let (status, first) = get(addr, &format!("/v4/{t}/stats")).await;
    assert_eq!(status, 200);
    assert_eq!(first["preread"], "0001-01-01T00:00:00Z");
    assert_eq!(first["read"], "2023-11-14T22:13:20Z");
    assert_eq!(first["id"], ec2_task().containers[0].docker_id);
    assert_eq!(first["name"], "/ecs-shop-7-web-d2a1f0e9c8b7a6");
    assert!(first.get("network_rate_stats").is_none());
    let (_, second) = get(addr, &format!("/v4/{t}/stats")).await;
    assert_eq!(second["preread"], first["read"]);
    assert_eq!(second["precpu_stats"]["cpu_usage"]["total_usage"], 1000);
    assert_eq!(second["cpu_stats"]["cpu_usage"]["total_usage"], 2000);
    assert_eq!(second["network_rate_stats"]["rx_bytes_per_sec"], 100.0);
    // The task's: every container by runtime id, null without stats.
    let (status, all) = get(addr, &format!("/v4/{t}/task/stats")).await;
    assert_eq!(status, 200);
    let task = ec2_task();
    let obj = all.as_object().unwrap();
    assert_eq!(obj.len(), 2);
    assert_eq!(
        obj[&task.containers[0].docker_id]["read"],
        "2023-11-14T22:13:22Z"
    );
    assert_eq!(obj[&task.containers[1].docker_id], Value::Null);
    // A container without stats asked for its own: 404.
    let lt = server.token("log");
    assert_eq!(get(addr, &format!("/v4/{lt}/stats")).await.0, 404);
}

#[tokio::test]
async fn tokens_and_credentials_id_survive_a_restart() {
    let (server, _) = start(fake(), MetadataConfig::default());
    let env = server.env("web");
    let config = MetadataConfig {
        tokens: server.tokens(),
        credentials_id: Some(server.credentials_id().to_string()),
        ..MetadataConfig::default()
    };
    server.shutdown().await;
    let (again, _) = start(fake(), config);
    let addr = again.metadata_addr();
    let v4 = env_path(&env, "ECS_CONTAINER_METADATA_URI_V4");
    let (_, creds) = (env.iter())
        .find(|(k, _)| k == "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        .unwrap();
    for path in [&v4, creds] {
        assert_eq!(get(addr, path).await.0, 200, "{path}");
    }
}

#[tokio::test]
async fn env_names_the_endpoint_relay_and_region() {
    let fake = Arc::new(fake());
    let api = loopback();
    let config = MetadataConfig {
        region: "eu-west-1".into(),
        api: Some(api.local_addr().unwrap()),
        ..MetadataConfig::default()
    };
    let server = MetadataServer::serve(loopback(), Some(loopback()), config, fake).unwrap();
    let env: BTreeMap<String, String> = server.env("web").into_iter().collect();
    let t = server.token("web");
    let base = format!("http://{}", server.metadata_addr());
    assert_eq!(
        env["ECS_CONTAINER_METADATA_URI_V4"],
        format!("{base}/v4/{t}")
    );
    assert_eq!(env["ECS_CONTAINER_METADATA_URI"], format!("{base}/v3/{t}"));
    assert_eq!(
        env["AWS_ENDPOINT_URL"],
        format!("http://{}", server.relay_addr().unwrap())
    );
    assert_eq!(env["AWS_REGION"], "eu-west-1");
    assert_eq!(env["AWS_DEFAULT_REGION"], "eu-west-1");
    assert_eq!(
        url("169.254.170.2:80".parse().unwrap()),
        "http://169.254.170.2"
    );
    // Tokens look like ECS's: UUIDs.
    assert_eq!(t.len(), 36);
    assert_eq!(t.matches('-').count(), 4);
    assert_eq!(&t[14..15], "4");
}

#[test]
fn nat_rule_for_the_endpoint() {
    let rule = dnat_rule(
        SocketAddr::from((METADATA_IP, METADATA_PORT)),
        SocketAddr::from((METADATA_IP, METADATA_LISTEN_PORT)),
    );
    assert_eq!(
        rule,
        "-A OUTPUT -d 169.254.170.2/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 169.254.170.2:51679"
    );
}

#[tokio::test]
async fn served_where_it_listens_needs_no_nat() {
    let (server, _) = start(fake(), MetadataConfig::default());
    assert!(server.nat_rules().is_empty());
}

#[tokio::test]
async fn relay_needs_an_api() {
    let r = MetadataServer::serve(
        loopback(),
        Some(loopback()),
        MetadataConfig::default(),
        Arc::new(fake()),
    );
    assert!(matches!(r, Err(Error::RelayWithoutApi)));
}

#[tokio::test]
async fn relay_carries_bytes_unchanged() {
    // The "API": records what it receives, answers with fixed bytes, closes.
    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_addr = api.local_addr().unwrap();
    let received = tokio::spawn(async move {
        let (mut s, _) = api.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let mut got = Vec::new();
        while !got.ends_with(b"\r\n\r\nbody") {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed early: {got:?}");
            got.extend_from_slice(&buf[..n]);
        }
        s.write_all(b"HTTP/1.1 200 OK\r\nX-Odd:  two  spaces \r\nContent-Length: 2\r\n\r\nok")
            .await
            .unwrap();
        got
    });
    let config = MetadataConfig {
        api: Some(api_addr),
        ..MetadataConfig::default()
    };
    let server =
        MetadataServer::serve(loopback(), Some(loopback()), config, Arc::new(fake())).unwrap();
    let mut c = TcpStream::connect(server.relay_addr().unwrap())
        .await
        .unwrap();
    let sent: &[u8] = b"POST / HTTP/1.1\r\nHost: 169.254.170.2:51680\r\nAuthorization: AWS4-HMAC-SHA256 Credential=x\r\nX-Amz-Date: 20231114T221320Z\r\ncontent-length: 4\r\n\r\nbody";
    c.write_all(sent).await.unwrap();
    let mut answer = Vec::new();
    c.read_to_end(&mut answer).await.unwrap();
    assert_eq!(received.await.unwrap(), sent);
    assert_eq!(
        answer,
        b"HTTP/1.1 200 OK\r\nX-Odd:  two  spaces \r\nContent-Length: 2\r\n\r\nok"
    );
}

#[tokio::test]
async fn shutdown_closes_the_listeners() {
    let (server, _) = start(fake(), MetadataConfig::default());
    let addr = server.metadata_addr();
    // An idle keep-alive connection, open when the server stops.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 404"));
    server.shutdown().await;
    assert!(TcpStream::connect(addr).await.is_err(), "still listening");
    // The idle connection was closed too.
    let n = tokio::time::timeout(Duration::from_secs(5), idle.read(&mut buf))
        .await
        .expect("closed, not hanging")
        .unwrap_or(0);
    assert_eq!(n, 0);
}

#[tokio::test]
async fn dropping_the_server_stops_it() {
    let (server, _) = start(fake(), MetadataConfig::default());
    let addr = server.metadata_addr();
    drop(server);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(addr).await.is_ok() {
        assert!(tokio::time::Instant::now() < deadline, "still listening");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
