//! Who gets in: every service refuses requests that are unsigned, signed with unknown
//! keys, signed wrongly or 20 minutes off, with its own protocol's AWS error code; keys
//! from the credential store work from the AWS SDK; agents join with tokens and act for
//! their own container instance only.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use berth_credentials::{CredentialStore, Principal};
use berth_server::{AuthMode, ServerConfig, ServerError};
use common::{post, post_unsigned, sign_as, Raw, TestServer};

use serde_json::{json, Value};

const ECS: &str = "AmazonEC2ContainerServiceV20141113";

/// A request: (service signing name, path, headers, body).
type Probe = (&'static str, String, Vec<(&'static str, String)>, Vec<u8>);

/// One request of each service berth serves, in its own protocol.
fn one_of_each() -> Vec<Probe> {
    let json = |target: &str, version: &str| {
        vec![
            ("X-Amz-Target", target.to_string()),
            ("Content-Type", format!("application/x-amz-json-{version}")),
        ]
    };
    let form = vec![(
        "Content-Type",
        "application/x-www-form-urlencoded; charset=utf-8".to_string(),
    )];
    let cbor = vec![
        ("Content-Type", "application/cbor".to_string()),
        ("smithy-protocol", "rpc-v2-cbor".to_string()),
    ];
    vec![
        (
            "ecs",
            "/".into(),
            json(&format!("{ECS}.ListClusters"), "1.1"),
            b"{}".to_vec(),
        ),
        (
            "servicediscovery",
            "/".into(),
            json("Route53AutoNaming_v20170314.ListNamespaces", "1.1"),
            b"{}".to_vec(),
        ),
        (
            "servicediscovery",
            "/service/Route53AutoNaming_v20170314/operation/ListNamespaces".into(),
            cbor.clone(),
            berth_awsproto::json_to_cbor(&json!({}), &[]),
        ),
        (
            "acm-pca",
            "/".into(),
            json("ACMPrivateCA.ListCertificateAuthorities", "1.1"),
            b"{}".to_vec(),
        ),
        (
            "ec2",
            "/".into(),
            form.clone(),
            b"Action=DescribeVpcs&Version=2016-11-15".to_vec(),
        ),
        (
            "sts",
            "/".into(),
            form,
            b"Action=GetCallerIdentity&Version=2011-06-15".to_vec(),
        ),
    ]
}

/// The error code of an answer in any protocol.
fn code_of(r: &Raw) -> String {
    let ct = r.header("content-type").unwrap_or_default();
    if ct.contains("cbor") {
        let v = berth_awsproto::cbor_to_json(&r.body).unwrap();
        return v["__type"].as_str().unwrap_or_default().to_string();
    }
    if ct.contains("json") {
        return r.json()["__type"].as_str().unwrap_or_default().to_string();
    }
    let text = r.text();
    let start = text.find("<Code>").map(|i| i + 6).unwrap_or(0);
    let end = text.find("</Code>").unwrap_or(start);
    text[start..end].to_string()
}

#[allow(clippy::too_many_arguments)]
fn send_signed(
    addr: SocketAddr,
    service: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
    key: &str,
    secret: &str,
    at: SystemTime,
) -> Raw {
    let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let signed = sign_at(addr, path, &h, body, key, secret, service, at);
    let signed: Vec<(&str, &str)> = signed
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    post_unsigned(addr, path, &signed, body)
}

#[allow(clippy::too_many_arguments)]
fn sign_at(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    key: &str,
    secret: &str,
    service: &str,
    at: SystemTime,
) -> Vec<(String, String)> {
    let mut map = http::HeaderMap::new();
    map.insert("host", addr.to_string().parse().unwrap());
    for (k, v) in headers {
        map.append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    let req = berth_sigv4::Request {
        method: "POST",
        path,
        query: "",
        headers: &map,
        body,
    };
    let creds = berth_sigv4::Credentials {
        access_key_id: key.into(),
        secret_access_key: secret.into(),
    };
    let added = berth_sigv4::sign(&req, &creds, "us-west-2", service, at);
    headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain(added.into_iter().map(|(k, v)| (k.to_string(), v)))
        .collect()
}

/// Every service, four ways wrong: each refused with its protocol's code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_refuses_bad_signatures_with_its_own_code() {
    let s = TestServer::start().await;
    let addr = s.addr();
    let key = CredentialStore::open(s.dir.path())
        .unwrap()
        .create_key("123456789012", Principal::Root, SystemTime::now())
        .unwrap();
    tokio::task::spawn_blocking(move || {
        let off = SystemTime::now() - Duration::from_secs(20 * 60);
        let ahead = SystemTime::now() + Duration::from_secs(20 * 60);
        for (service, path, headers, body) in one_of_each() {
            let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let query = service == "ec2" || service == "sts";
            let (missing, unknown, mismatch, skewed) = match (service, query) {
                ("ec2", _) => (
                    "MissingAuthenticationToken",
                    "AuthFailure",
                    "SignatureDoesNotMatch",
                    "RequestExpired",
                ),
                (_, true) => (
                    "MissingAuthenticationToken",
                    "InvalidClientTokenId",
                    "SignatureDoesNotMatch",
                    "SignatureDoesNotMatch",
                ),
                _ => (
                    "MissingAuthenticationTokenException",
                    "UnrecognizedClientException",
                    "InvalidSignatureException",
                    "InvalidSignatureException",
                ),
            };
            let cases: Vec<(&str, Raw, &str)> = vec![
                ("unsigned", post_unsigned(addr, &path, &h, &body), missing),
                (
                    "unknown key",
                    send_signed(
                        addr,
                        service,
                        &path,
                        &headers,
                        &body,
                        "AKIAUNKNOWNKEY000000",
                        "x",
                        SystemTime::now(),
                    ),
                    unknown,
                ),
                (
                    "wrong secret",
                    send_signed(
                        addr,
                        service,
                        &path,
                        &headers,
                        &body,
                        &key.access_key_id,
                        "not the secret",
                        SystemTime::now(),
                    ),
                    mismatch,
                ),
                (
                    "20 minutes behind",
                    send_signed(
                        addr,
                        service,
                        &path,
                        &headers,
                        &body,
                        &key.access_key_id,
                        &key.secret_access_key,
                        off,
                    ),
                    skewed,
                ),
                (
                    "20 minutes ahead",
                    send_signed(
                        addr,
                        service,
                        &path,
                        &headers,
                        &body,
                        &key.access_key_id,
                        &key.secret_access_key,
                        ahead,
                    ),
                    skewed,
                ),
                (
                    "a garbage header",
                    post_unsigned(
                        addr,
                        &path,
                        &[
                            h.clone(),
                            vec![("Authorization", "AWS4-HMAC-SHA256 garbage")],
                        ]
                        .concat(),
                        &body,
                    ),
                    if query {
                        "IncompleteSignature"
                    } else {
                        "IncompleteSignatureException"
                    },
                ),
            ];
            for (case, r, want) in cases {
                assert!(
                    r.status == 400 || r.status == 401 || r.status == 403,
                    "{service} {path} {case}: {} {}",
                    r.status,
                    r.text()
                );
                assert_eq!(code_of(&r), want, "{service} {path} {case}: {}", r.text());
            }
            // The right key, now: accepted.
            let r = send_signed(
                addr,
                service,
                &path,
                &headers,
                &body,
                &key.access_key_id,
                &key.secret_access_key,
                SystemTime::now(),
            );
            assert_eq!(r.status, 200, "{service} {path}: {}", r.text());
        }
    })
    .await
    .unwrap();
}

/// A changed body or a request signed for another service is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_body_or_another_services_scope_is_refused() {
    let s = TestServer::start().await;
    let addr = s.addr();
    tokio::task::spawn_blocking(move || {
        let target = format!("{ECS}.CreateCluster");
        let h = [
            ("X-Amz-Target", target.as_str()),
            ("Content-Type", "application/x-amz-json-1.1"),
        ];
        let signed = sign_as(
            addr,
            "POST",
            "/",
            &h,
            br#"{"clusterName":"a"}"#,
            "test",
            "test",
            "us-west-2",
            "ecs",
        );
        let signed: Vec<(&str, &str)> = signed
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let r = post_unsigned(addr, "/", &signed, br#"{"clusterName":"b"}"#);
        assert_eq!(
            (r.status, code_of(&r)),
            (403, "InvalidSignatureException".into()),
            "{}",
            r.text()
        );
        let signed = sign_as(
            addr,
            "POST",
            "/",
            &h,
            b"{}",
            "test",
            "test",
            "us-west-2",
            "servicediscovery",
        );
        let signed: Vec<(&str, &str)> = signed
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let r = post_unsigned(addr, "/", &signed, b"{}");
        assert_eq!(code_of(&r), "InvalidSignatureException");
        assert!(r.text().contains("correct service: 'ecs'"), "{}", r.text());
        // Nothing was made.
        let r = post(
            addr,
            "/",
            &[
                ("X-Amz-Target", &format!("{ECS}.ListClusters")),
                ("Content-Type", "application/x-amz-json-1.1"),
            ],
            b"{}",
        );
        assert_eq!(r.json()["clusterArns"], json!([]));
    })
    .await
    .unwrap();
}

/// The AWS SDK for Rust with keys of the store: accepted, as their account; a deleted
/// key stops working; the test credential only where the mode allows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_keys_work_from_the_sdk_and_the_test_key_only_when_allowed() {
    let s = TestServer::start_with(|c| c.auth = AuthMode::Verified).await;
    let store = CredentialStore::open(s.dir.path()).unwrap();
    let key = store
        .create_key("210987654321", Principal::Root, SystemTime::now())
        .unwrap();
    let ecs = common::ecs_client_as(
        &s.endpoint(),
        "us-west-2",
        &key.access_key_id,
        &key.secret_access_key,
    );
    let out = ecs
        .create_cluster()
        .cluster_name("mine")
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.cluster().unwrap().cluster_arn(),
        Some("arn:aws:ecs:us-west-2:210987654321:cluster/mine")
    );
    // The test credential is refused in this mode.
    let e = s.ecs().list_clusters().send().await.unwrap_err();
    assert_eq!(common::code(&e), "UnrecognizedClientException");
    store.delete_key(&key.access_key_id).unwrap();
    tokio::time::sleep(berth_server::CACHE_TTL + Duration::from_millis(200)).await;
    let e = ecs.list_clusters().send().await.unwrap_err();
    assert_eq!(common::code(&e), "UnrecognizedClientException");
}

/// Beyond loopback: only verified keys, and only once there is one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_loopback_a_server_needs_verified_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let config = |auth| ServerConfig {
        listen: "0.0.0.0:0".parse().unwrap(),
        data_dir: dir.path().to_path_buf(),
        auth,
        api_tls: berth_server::ApiTls::Generated { names: vec![] },
        ..ServerConfig::default()
    };
    for mode in [
        AuthMode::VerifiedWithTestKeys,
        AuthMode::Unchecked,
        AuthMode::Verified,
    ] {
        match berth_server::start(config(mode)).await {
            Err(ServerError::Refused(why)) => assert!(why.contains("0.0.0.0"), "{why}"),
            Err(e) => panic!("{mode:?}: {e}"),
            Ok(_) => panic!("{mode:?}: started beyond loopback"),
        }
    }
    CredentialStore::open(dir.path())
        .unwrap()
        .create_key("123456789012", Principal::Root, SystemTime::now())
        .unwrap();
    let s = berth_server::start(config(AuthMode::Verified))
        .await
        .unwrap();
    s.shutdown().await;
}

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

fn denied(case: &str, r: &Raw) {
    assert_eq!(r.status, 403, "{case}: {}", r.text());
    assert_eq!(code_of(r), "AccessDeniedException", "{case}: {}", r.text());
}

const ROOT: &str = "AWS4-HMAC-SHA256 Credential=test/20260101/us-west-2/ecs/aws4_request, SignedHeaders=host, Signature=0";

fn register(addr: SocketAddr, auth: &str, cluster: &str) -> Raw {
    ecs_as(
        addr,
        auth,
        "RegisterContainerInstance",
        json!({"cluster": cluster, "totalResources": [
            {"name": "CPU", "type": "INTEGER", "integerValue": 4096},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": 8192}]}),
    )
}

/// Rogue agents: no token, a bad token, the account's own keys, another cluster's
/// agent, another instance's agent: none gets to register or report, and a stolen
/// report leaves Cloud Map as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_are_authenticated_and_confined() {
    let s = TestServer::start_with(|c| c.network_files.push(common::seed002_network())).await;
    let (addr, dir) = (s.addr(), s.dir.path().to_path_buf());
    tokio::task::spawn_blocking(move || {
        for c in ["a", "b"] {
            ok(ecs_as(
                addr,
                ROOT,
                "CreateCluster",
                json!({"clusterName": c, "serviceConnectDefaults": {"namespace": "sc"}}),
            ));
        }
        // No credentials, a bad token, the account's root user: no registration.
        let h = [
            ("X-Amz-Target", format!("{ECS}.RegisterContainerInstance")),
            ("Content-Type", "application/x-amz-json-1.1".into()),
        ];
        let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = post_unsigned(addr, "/", &h, br#"{"cluster":"a"}"#);
        assert_eq!(code_of(&r), "MissingAuthenticationTokenException");
        for token in ["berth-join.0011223344556677.wrong", "garbage"] {
            let bearer = format!("Bearer {token}");
            let r = post_unsigned(
                addr,
                "/berth/agent/v1/join",
                &[("Authorization", &bearer)],
                b"",
            );
            assert_eq!(r.status, 401, "{}", r.text());
            assert_eq!(code_of(&r), "UnrecognizedClientException");
        }
        denied("root registers", &register(addr, ROOT, "a"));
        let expired = {
            let store = CredentialStore::open(&dir).unwrap();
            let grant = berth_credentials::JoinGrant {
                account: "123456789012".into(),
                region: "us-west-2".into(),
                cluster: "a".into(),
            };
            store
                .create_token(
                    &grant,
                    Duration::from_secs(1),
                    SystemTime::now() - Duration::from_secs(5),
                )
                .unwrap()
        };
        let r = post_unsigned(
            addr,
            "/berth/agent/v1/join",
            &[("Authorization", &format!("Bearer {expired}"))],
            b"",
        );
        assert!(r.text().contains("expired"), "{}", r.text());

        // Agents of cluster a (two hosts) and of cluster b.
        let a1 = common::join_agent(addr, &dir, "us-west-2", "a");
        let a2 = common::join_agent(addr, &dir, "us-west-2", "a");
        let b1 = common::join_agent(addr, &dir, "us-west-2", "b");
        denied("an agent of b registers in a", &register(addr, &b1, "a"));
        let i1 = ok(register(addr, &a1, "a"))["containerInstance"]["containerInstanceArn"]
            .as_str()
            .unwrap()
            .to_string();
        let i2 = ok(register(addr, &a2, "a"))["containerInstance"]["containerInstanceArn"]
            .as_str()
            .unwrap()
            .to_string();
        // Re-registering another agent's instance.
        let r = ecs_as(
            addr,
            &a2,
            "RegisterContainerInstance",
            json!({"cluster": "a", "containerInstanceArn": i1}),
        );
        denied("re-registering another's instance", &r);
        // An agent's key serves the agents' operations only.
        denied(
            "an agent lists clusters",
            &ecs_as(addr, &a1, "ListClusters", json!({})),
        );

        // A task placed on i1 or i2.
        ok(ecs_as(
            addr,
            ROOT,
            "RegisterTaskDefinition",
            json!({
            "family": "web", "networkMode": "awsvpc", "cpu": "256", "memory": "512",
            "containerDefinitions": [{"name": "web", "image": "nginx", "essential": true,
                "portMappings": [{"name": "web", "containerPort": 80, "appProtocol": "http"}]}]}),
        ));
        ok(ecs_as(
            addr,
            ROOT,
            "CreateService",
            json!({
            "cluster": "a", "serviceName": "web", "taskDefinition": "web", "desiredCount": 1,
            "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-EXAMPLE"]}},
            "serviceConnectConfiguration": {"enabled": true, "services": [
                {"portName": "web", "clientAliases": [{"port": 80}]}]}}),
        ));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let (task, on) = loop {
            let l = ok(ecs_as(addr, ROOT, "ListTasks", json!({"cluster": "a"})));
            if let Some(t) = l["taskArns"][0].as_str() {
                let d = ok(ecs_as(
                    addr,
                    ROOT,
                    "DescribeTasks",
                    json!({"cluster": "a", "tasks": [t]}),
                ));
                if let Some(ci) = d["tasks"][0]["containerInstanceArn"].as_str() {
                    break (t.to_string(), ci.to_string());
                }
            }
            assert!(std::time::Instant::now() < deadline, "no placed task");
            std::thread::sleep(Duration::from_millis(50));
        };
        let (owner, thief) = if on == i1 { (&a1, &a2) } else { (&a2, &a1) };
        let _ = i2;
        let report = |auth: &str, cluster: &str| {
            ecs_as(
                addr,
                auth,
                "SubmitTaskStateChange",
                json!({"cluster": cluster, "task": task, "status": "RUNNING",
                "attachments": [], "containers": [{"containerName": "web", "status": "RUNNING"}]}),
            )
        };
        let address = |auth: &str| {
            let eni = ok(ecs_as(
                addr,
                ROOT,
                "DescribeTasks",
                json!({"cluster": "a", "tasks": [task]}),
            ))["tasks"][0]["attachments"][0]["id"]
                .as_str()
                .unwrap()
                .to_string();
            ecs_as(
                addr,
                auth,
                "SubmitTaskStateChange",
                json!({"cluster": "a", "task": task, "status": "PENDING",
                "attachments": [{"attachmentArn": eni, "status": "ATTACHED",
                    "details": [{"name": "privateIPv4Address", "value": "203.0.113.66"}]}]}),
            )
        };
        denied("another instance's agent sets the address", &address(thief));
        denied("another instance's agent reports", &report(thief, "a"));
        denied("another cluster's agent reports", &report(&b1, "a"));
        denied("the root user reports", &report(ROOT, "a"));
        let sd = common::auth_naming("test", "us-west-2", "servicediscovery");
        let discover = || {
            let r = post(
                addr,
                "/",
                &[
                    (
                        "X-Amz-Target",
                        "Route53AutoNaming_v20170314.DiscoverInstances",
                    ),
                    ("Content-Type", "application/x-amz-json-1.1"),
                    ("Authorization", &sd),
                ],
                json!({"NamespaceName": "sc", "ServiceName": "web"})
                    .to_string()
                    .as_bytes(),
            );
            ok(r)["Instances"].as_array().cloned().unwrap_or_default()
        };
        assert!(discover().is_empty(), "a refused report published nothing");
        let d = ok(ecs_as(
            addr,
            ROOT,
            "DescribeTasks",
            json!({"cluster": "a", "tasks": [task]}),
        ));
        assert_eq!(
            d["tasks"][0]["lastStatus"], "PROVISIONING",
            "refused reports changed nothing"
        );
        // The owner's reports go through.
        ok(address(owner));
        ok(report(owner, "a"));
        assert_eq!(discover().len(), 1);
        // Its push stream: only for its own instance.
        let other = if on == i1 { &i2 } else { &i1 };
        let path = format!(
            "/berth/agent/v1/watch?cluster=a&containerInstance={}",
            other.replace('/', "%2F")
        );
        let req = common::signed_get(addr, &path, owner);
        let r = common::raw(
            addr,
            req.replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        denied("another instance's push stream", &r);
    })
    .await
    .unwrap();
}
