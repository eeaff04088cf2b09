//! Test harness: a real berth server on a temp dir, real AWS SDK clients, and a raw
//! HTTP/1.1 client for what SDKs never send.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use berth_server::{RunningServer, ServerConfig};

/// A network file with seed 002's subnet and group (`subnet-EXAMPLE`, `sg-EXAMPLE`, in
/// us-west-2), for servers whose tests name them.
pub fn seed002_network() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/seed002-network.json")
}

pub struct TestServer {
    pub server: RunningServer,
    pub dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tune: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().to_path_buf(),
            ..ServerConfig::default()
        };
        tune(&mut config);
        let server = berth_server::start(config).await.expect("server starts");
        TestServer { server, dir }
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    pub fn ecs(&self) -> aws_sdk_ecs::Client {
        ecs_client(&self.endpoint(), "us-west-2")
    }

    pub fn sd(&self) -> aws_sdk_servicediscovery::Client {
        sd_client(&self.endpoint(), "us-west-2")
    }

    pub fn sts(&self, access_key_id: &str) -> aws_sdk_sts::Client {
        sts_client(&self.endpoint(), "us-west-2", access_key_id)
    }
}

pub fn sts_client(endpoint: &str, region: &str, access_key_id: &str) -> aws_sdk_sts::Client {
    use aws_sdk_sts::config::{BehaviorVersion, Credentials, Region};
    let conf = aws_sdk_sts::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region.to_string()))
        .credentials_provider(Credentials::new(
            access_key_id,
            "secret",
            None,
            None,
            "test",
        ))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    aws_sdk_sts::Client::from_conf(conf)
}

pub fn ecs_client(endpoint: &str, region: &str) -> aws_sdk_ecs::Client {
    use aws_sdk_ecs::config::{BehaviorVersion, Credentials, Region};
    let conf = aws_sdk_ecs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region.to_string()))
        .credentials_provider(Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            None,
            None,
            "test",
        ))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    aws_sdk_ecs::Client::from_conf(conf)
}

pub fn sd_client(endpoint: &str, region: &str) -> aws_sdk_servicediscovery::Client {
    use aws_sdk_servicediscovery::config::{BehaviorVersion, Credentials, Region};
    let conf = aws_sdk_servicediscovery::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region.to_string()))
        .credentials_provider(Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            None,
            None,
            "test",
        ))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .interceptor(StripDataPrefix)
        .build();
    aws_sdk_servicediscovery::Client::from_conf(conf)
}

/// The SDK puts `data-` in front of the host for DiscoverInstances, as AWS serves it
/// from `data-servicediscovery.<region>.amazonaws.com`. Pointed at a local berth, the
/// host must stay as given: this interceptor takes the prefix off again.
#[derive(Debug)]
pub struct StripDataPrefix;

impl aws_sdk_servicediscovery::config::Intercept for StripDataPrefix {
    fn name(&self) -> &'static str {
        "StripDataPrefix"
    }

    fn modify_before_transmit(
        &self,
        context: &mut aws_sdk_servicediscovery::config::interceptors::BeforeTransmitInterceptorContextMut<'_>,
        _components: &aws_sdk_servicediscovery::config::RuntimeComponents,
        _cfg: &mut aws_sdk_servicediscovery::config::ConfigBag,
    ) -> Result<(), aws_sdk_servicediscovery::error::BoxError> {
        let uri = context.request().uri().to_string();
        if let Some(rest) = uri.strip_prefix("http://data-") {
            context.request_mut().set_uri(format!("http://{rest}"))?;
        }
        Ok(())
    }
}

/// The error code of an SDK error, e.g. `ClusterNotFoundException`.
pub fn code<E, R>(e: &aws_sdk_ecs::error::SdkError<E, R>) -> String
where
    E: aws_sdk_ecs::error::ProvideErrorMetadata,
{
    match e {
        aws_sdk_ecs::error::SdkError::ServiceError(s) => s.err().code().unwrap_or("").to_string(),
        _ => "not a service error".to_string(),
    }
}

pub fn message<E, R>(e: &aws_sdk_ecs::error::SdkError<E, R>) -> String
where
    E: aws_sdk_ecs::error::ProvideErrorMetadata,
{
    match e {
        aws_sdk_ecs::error::SdkError::ServiceError(s) => {
            s.err().message().unwrap_or("").to_string()
        }
        _ => "not a service error".to_string(),
    }
}

/// A raw response: status, headers (lowercase names), body.
pub struct Raw {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Raw {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `request` bytes as they are and reads one response (Connection: close).
pub fn raw(addr: SocketAddr, request: &[u8]) -> Raw {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).expect("write");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    parse_response(&buf)
}

pub fn parse_response(buf: &[u8]) -> Raw {
    let text_end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete response: {:?}", String::from_utf8_lossy(buf)));
    let head = String::from_utf8_lossy(&buf[..text_end]).to_string();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let body = buf[text_end + 4..].to_vec();
    Raw {
        status,
        headers,
        body,
    }
}

/// A POST with the given headers and body, `Connection: close`.
pub fn post(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Raw {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    raw(addr, &bytes)
}

/// An AWS query form POSTed to `/`, signed (in name) for `signing_name` by account
/// `account`.
pub fn query_raw(addr: SocketAddr, signing_name: &str, account: &str, form: &str) -> Raw {
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={account}/20260101/eu-west-1/{signing_name}/aws4_request, SignedHeaders=host, Signature=0"
    );
    post(
        addr,
        "/",
        &[
            (
                "Content-Type",
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
            ("Authorization", &auth),
        ],
        form.as_bytes(),
    )
}

impl Raw {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// An ECS JSON 1.1 call with raw bytes.
pub fn ecs_raw(addr: SocketAddr, op: &str, body: &str) -> Raw {
    let target = format!("AmazonEC2ContainerServiceV20141113.{op}");
    post(
        addr,
        "/",
        &[
            ("X-Amz-Target", &target),
            ("Content-Type", "application/x-amz-json-1.1"),
        ],
        body.as_bytes(),
    )
}
