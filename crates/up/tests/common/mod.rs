//! A real berth server on a free port for the tests, and a client of it.

use berth_agent::ServerClient;

/// The server, the client, and the directory the store lives in (dropped last).
pub struct Running {
    pub server: berth_server::RunningServer,
    pub client: ServerClient,
    pub _data: tempfile::TempDir,
}

pub async fn start() -> Running {
    let data = tempfile::tempdir().unwrap();
    let server = berth_server::start(berth_server::ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data.path().to_path_buf(),
        ..Default::default()
    })
    .await
    .unwrap();
    let url = format!("http://{}", server.addr);
    // The test credential, which a server on loopback accepts.
    let test = berth_agent::client::Credentials {
        access_key_id: "123456789012".into(),
        secret_access_key: "test".into(),
    };
    let client = ServerClient::new(&url, test, "us-east-1").unwrap();
    Running {
        server,
        client,
        _data: data,
    }
}
