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
        .credentials_provider(Credentials::new(access_key_id, "test", None, None, "test"))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    aws_sdk_sts::Client::from_conf(conf)
}

pub fn ecs_client(endpoint: &str, region: &str) -> aws_sdk_ecs::Client {
    ecs_client_as(endpoint, region, "test", "test")
}

/// An ECS client of an agent that joined `cluster` (us-west-2) of the test server.
pub async fn agent_ecs(s: &TestServer, cluster: &str) -> aws_sdk_ecs::Client {
    let (addr, dir, c) = (s.addr(), s.dir.path().to_path_buf(), cluster.to_string());
    let auth = tokio::task::spawn_blocking(move || join_agent(addr, &dir, "us-west-2", &c))
        .await
        .unwrap();
    let key = auth
        .split("Credential=")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    let secret = agent_secret(key).unwrap();
    ecs_client_as(&s.endpoint(), "us-west-2", key, &secret)
}

pub fn ecs_client_as(endpoint: &str, region: &str, key: &str, secret: &str) -> aws_sdk_ecs::Client {
    use aws_sdk_ecs::config::{BehaviorVersion, Credentials, Region};
    let conf = aws_sdk_ecs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region.to_string()))
        .credentials_provider(Credentials::new(key, secret, None, None, "test"))
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
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .interceptor(StripDataPrefix)
        .build();
    aws_sdk_servicediscovery::Client::from_conf(conf)
}

/// The SDK puts `data-` in front of the host for DiscoverInstances, as AWS serves it
/// from `data-servicediscovery.<region>.amazonaws.com`. Pointed at a local berth, the
/// host must stay as given: this interceptor takes the prefix off again, before the
/// request is signed (the signature covers the host).
#[derive(Debug)]
pub struct StripDataPrefix;

impl aws_sdk_servicediscovery::config::Intercept for StripDataPrefix {
    fn name(&self) -> &'static str {
        "StripDataPrefix"
    }

    fn modify_before_signing(
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

/// The secret of the test credential a server on loopback accepts.
pub const TEST_SECRET: &str = "test";

/// Who a test request signs as, from the `Authorization` it names (`Credential=<key
/// id>/<date>/<region>/<service>/...`, any signature), else the test credential in
/// us-east-1 for the service its target or path names.
fn signer_of(path: &str, headers: &[(&str, &str)]) -> (String, String, String) {
    let named = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .and_then(|(_, v)| v.split("Credential=").nth(1))
        .map(|c| {
            c.split([',', ' '])
                .next()
                .unwrap_or("")
                .split('/')
                .collect::<Vec<_>>()
        });
    if let Some(p) = named.filter(|p| p.len() >= 4) {
        return (p[0].to_string(), p[2].to_string(), p[3].to_string());
    }
    let target = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("x-amz-target"))
        .map(|(_, v)| *v)
        .unwrap_or(path);
    let service = if target.contains("Route53AutoNaming") {
        "servicediscovery"
    } else if target.contains("ACMPrivateCA") {
        "acm-pca"
    } else {
        "ecs"
    };
    ("test".into(), "us-east-1".into(), service.into())
}

/// The headers of a request, signed (SigV4, for real) with the test secret as
/// [`signer_of`] says: what a client holding that key sends.
pub fn signed_headers(
    addr: SocketAddr,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<(String, String)> {
    let (key, region, service) = signer_of(path_and_query, headers);
    let secret = agent_secret(&key).unwrap_or_else(|| TEST_SECRET.to_string());
    sign_as(
        addr,
        method,
        path_and_query,
        headers,
        body,
        &key,
        &secret,
        &region,
        &service,
    )
}

/// The secrets of the agents the tests joined, by access key id.
static AGENTS: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

fn agent_secret(key: &str) -> Option<String> {
    let agents = AGENTS.lock().unwrap();
    agents
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, s)| s.clone())
}

/// A join token for `cluster`, made in the server's credential store as `berth token
/// create` makes it.
pub fn join_token(dir: &std::path::Path, account: &str, region: &str, cluster: &str) -> String {
    let store = berth_credentials::CredentialStore::open(dir).unwrap();
    let grant = berth_credentials::JoinGrant {
        account: account.into(),
        region: region.into(),
        cluster: cluster.into(),
    };
    store
        .create_token(
            &grant,
            Duration::from_secs(600),
            std::time::SystemTime::now(),
        )
        .unwrap()
}

/// Joins `cluster` (account 123456789012) as an agent does; returns the
/// `Authorization` a test names to sign as that agent (any signature: [`post`] signs
/// it for real with the agent's secret).
pub fn join_agent(addr: SocketAddr, dir: &std::path::Path, region: &str, cluster: &str) -> String {
    let token = join_token(dir, "123456789012", region, cluster);
    let bearer = format!("Bearer {token}");
    let r = post_unsigned(
        addr,
        "/berth/agent/v1/join",
        &[("Authorization", &bearer)],
        b"",
    );
    assert_eq!(r.status, 200, "join: {}", r.text());
    let v = r.json();
    let key = v["accessKeyId"].as_str().unwrap().to_string();
    let secret = v["secretAccessKey"].as_str().unwrap().to_string();
    AGENTS.lock().unwrap().push((key.clone(), secret));
    auth_naming(&key, region, "ecs")
}

/// An `Authorization` naming who signs (the signature is made by [`post`]).
pub fn auth_naming(key: &str, region: &str, service: &str) -> String {
    format!("AWS4-HMAC-SHA256 Credential={key}/20260101/{region}/{service}/aws4_request, SignedHeaders=host, Signature=0")
}

/// The text of a GET request signed as `auth` names (for raw streams).
pub fn signed_get(addr: SocketAddr, path_and_query: &str, auth: &str) -> String {
    let headers = signed_headers(addr, "GET", path_and_query, &[("Authorization", auth)], b"");
    let mut req = format!("GET {path_and_query} HTTP/1.1\r\nHost: {addr}\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req
}

/// The headers of a request signed by `key`/`secret` for `region` and `service`.
#[allow(clippy::too_many_arguments)]
pub fn sign_as(
    addr: SocketAddr,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    key: &str,
    secret: &str,
    region: &str,
    service: &str,
) -> Vec<(String, String)> {
    let mut map = http::HeaderMap::new();
    map.insert("host", addr.to_string().parse().unwrap());
    for (k, v) in headers {
        if k.eq_ignore_ascii_case("authorization") {
            continue;
        }
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(k.as_bytes()),
            http::HeaderValue::from_bytes(v.as_bytes()),
        ) {
            map.append(name, value);
        }
    }
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let req = berth_sigv4::Request {
        method,
        path,
        query,
        headers: &map,
        body,
    };
    let creds = berth_sigv4::Credentials {
        access_key_id: key.to_string(),
        secret_access_key: secret.to_string(),
    };
    let added = berth_sigv4::sign(&req, &creds, region, service, std::time::SystemTime::now());
    headers
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("authorization"))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain(added.into_iter().map(|(k, v)| (k.to_string(), v)))
        .collect()
}

/// A POST with the given headers and body, `Connection: close`, signed as
/// [`signed_headers`] says.
pub fn post(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Raw {
    let signed = signed_headers(addr, "POST", path, headers, body);
    let signed: Vec<(&str, &str)> = signed
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    post_unsigned(addr, path, &signed, body)
}

/// A POST with exactly the given headers (and Host, Connection, Content-Length).
pub fn post_unsigned(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Raw {
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
