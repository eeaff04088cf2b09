//! The API over TLS, as agents and `berth up` reach it: a certificate the data
//! directory's API CA signs, verified by the client; a host joins, registers and opens
//! its push stream over it; the wrong CA and plain HTTP get nowhere; beyond loopback
//! the API does not start without TLS.

use std::time::{Duration, SystemTime};

use berth_agent::client::{Credentials, Endpoint};
use berth_agent::ServerClient;
use berth_credentials::{CredentialStore, JoinGrant, Principal};
use berth_server::{ApiTls, ServerConfig, ServerError};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn tls_server(dir: &std::path::Path) -> berth_server::RunningServer {
    berth_server::start(ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        api_tls: ApiTls::Generated { names: vec![] },
        ..Default::default()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_join_and_work_over_verified_tls() {
    let dir = tempfile::tempdir().unwrap();
    let server = tls_server(dir.path()).await;
    let url = format!("https://{}", server.addr);
    let ca = std::fs::read(berth_server::api_ca_path(dir.path())).unwrap();
    let endpoint = Endpoint::new(&url, Some(&ca)).unwrap();
    let test = Credentials {
        access_key_id: "test".into(),
        secret_access_key: "test".into(),
    };
    let user = ServerClient::at(endpoint.clone(), test, "us-east-1");
    user.ecs("CreateCluster", &json!({"clusterName": "c"}))
        .await
        .unwrap();

    let grant = JoinGrant {
        account: "123456789012".into(),
        region: "us-east-1".into(),
        cluster: "c".into(),
    };
    let token = CredentialStore::open(dir.path())
        .unwrap()
        .create_token(&grant, Duration::from_secs(60), SystemTime::now())
        .unwrap();
    let joined = ServerClient::join(&endpoint, &token).await.unwrap();
    let agent = ServerClient::at(
        endpoint.clone(),
        Credentials {
            access_key_id: joined.access_key_id,
            secret_access_key: joined.secret_access_key,
        },
        "us-east-1",
    );
    let out = agent
        .ecs("RegisterContainerInstance", &json!({"cluster": "c"}))
        .await
        .unwrap();
    let arn = out["containerInstance"]["containerInstanceArn"]
        .as_str()
        .unwrap();
    let _stream = agent
        .watch("c", arn)
        .await
        .expect("the push stream opens over TLS");

    // Another CA: the handshake fails, nothing is sent.
    let other = tempfile::tempdir().unwrap();
    let other_server = tls_server(other.path()).await;
    let wrong = std::fs::read(berth_server::api_ca_path(other.path())).unwrap();
    let untrusting = ServerClient::at(
        Endpoint::new(&url, Some(&wrong)).unwrap(),
        Credentials {
            access_key_id: "test".into(),
            secret_access_key: "test".into(),
        },
        "us-east-1",
    );
    let e = untrusting
        .ecs("ListClusters", &json!({}))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("TLS"), "{e}");
    // https without a CA is a configuration error, said at once.
    assert!(Endpoint::new(&url, None).is_err());

    // Plain HTTP to the TLS port gets no HTTP answer.
    let mut s = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(15), s.read_to_end(&mut buf)).await;
    assert!(
        !buf.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&buf)
    );
    other_server.shutdown().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_loopback_the_api_needs_tls() {
    let dir = tempfile::tempdir().unwrap();
    CredentialStore::open(dir.path())
        .unwrap()
        .create_key("123456789012", Principal::Root, SystemTime::now())
        .unwrap();
    let config = |api_tls| ServerConfig {
        listen: "0.0.0.0:0".parse().unwrap(),
        data_dir: dir.path().to_path_buf(),
        auth: berth_server::AuthMode::Verified,
        api_tls,
        ..Default::default()
    };
    match berth_server::start(config(ApiTls::Off)).await {
        Err(ServerError::Refused(why)) => assert!(why.contains("needs TLS"), "{why}"),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("served plain HTTP beyond loopback"),
    }
    let s = berth_server::start(config(ApiTls::Generated { names: vec![] }))
        .await
        .unwrap();
    s.shutdown().await;
}
