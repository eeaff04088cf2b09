//! HTTP/1.1 clients of the agent: the control plane's API (AWS JSON and AWS query
//! calls, signed with the agent's key or a task's role; the agents' endpoints and the
//! push stream) and a task proxy's admin endpoint on its Unix socket.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::{TcpStream, UnixStream};

use berth_agent_view::{
    CertificateRequest, IssuedCertificate, JoinAnswer, TaskCredentialsAnswer,
    TaskCredentialsRequest, AGENT_CERTIFICATE_PATH, AGENT_JOIN_PATH, AGENT_TASK_CREDENTIALS_PATH,
};
pub use berth_sigv4::Credentials;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

use crate::error::{Error, Result};

/// How long one API call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the server is: `host:port`, and the TLS the API speaks when its URL is
/// `https://` (verified against the CA the agent was given).
#[derive(Clone, Debug)]
pub struct Endpoint {
    authority: String,
    tls: Option<(Arc<rustls::ClientConfig>, ServerName<'static>)>,
}

impl Endpoint {
    /// `http://host:port`, or `https://host:port` with the PEM certificates of the CA
    /// that signed the server's certificate.
    pub fn new(url: &str, ca_pem: Option<&[u8]>) -> Result<Endpoint> {
        let (https, rest) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
            (Some(rest), _) => (true, rest),
            (None, Some(rest)) => (false, rest),
            _ => {
                return Err(Error::Config(format!(
                    "server URL '{url}' must start with http:// or https://"
                )))
            }
        };
        let authority = rest.trim_end_matches('/').to_string();
        if authority.is_empty() || authority.contains('/') {
            return Err(Error::Config(format!(
                "server URL '{url}' must be http(s)://host:port"
            )));
        }
        let tls = match (https, ca_pem) {
            (false, None) => None,
            (false, Some(_)) => {
                return Err(Error::Config(format!(
                    "a server CA is for an https:// server, and '{url}' is http://"
                )))
            }
            (true, None) => {
                return Err(Error::Config(format!(
                    "'{url}' is https://: give the CA that signed its certificate (--server-ca; berth server keeps it as <data dir>/api-ca.pem)"
                )))
            }
            (true, Some(pem)) => Some(tls_config(&authority, pem)?),
        };
        Ok(Endpoint { authority, tls })
    }
}

/// A TLS 1.3 client that trusts only `ca_pem`, for the host of `authority`.
fn tls_config(
    authority: &str,
    ca_pem: &[u8],
) -> Result<(Arc<rustls::ClientConfig>, ServerName<'static>)> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        let cert = cert.map_err(|e| Error::Config(format!("the server CA: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| Error::Config(format!("the server CA: {e}")))?;
    }
    if roots.is_empty() {
        return Err(Error::Config("the server CA holds no certificate".into()));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| Error::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']');
    let name = ServerName::try_from(host.to_string())
        .map_err(|e| Error::Config(format!("server host '{host}': {e}")))?;
    Ok((Arc::new(config), name))
}

/// The control plane, as the agent talks to it.
#[derive(Clone, Debug)]
pub struct ServerClient {
    endpoint: Endpoint,
    /// What requests are signed with (SigV4), and for which region.
    credentials: Credentials,
    /// The session token of temporary credentials (a task's roles), sent signed as
    /// `x-amz-security-token`.
    session_token: Option<String>,
    region: String,
}

impl ServerClient {
    /// A client of the server at `url` (`http://host:port`) signing with `credentials`
    /// for `region`.
    pub fn new(url: &str, credentials: Credentials, region: &str) -> Result<ServerClient> {
        Ok(ServerClient::at(
            Endpoint::new(url, None)?,
            credentials,
            region,
        ))
    }

    /// A client of the server at `endpoint`.
    pub fn at(endpoint: Endpoint, credentials: Credentials, region: &str) -> ServerClient {
        ServerClient {
            endpoint,
            credentials,
            session_token: None,
            region: region.to_string(),
        }
    }

    /// A client of the same server signing with a task role's temporary credentials.
    pub fn with_role(&self, role: &berth_agent_view::RoleCredentials) -> ServerClient {
        ServerClient {
            endpoint: self.endpoint.clone(),
            credentials: Credentials {
                access_key_id: role.access_key_id.clone(),
                secret_access_key: role.secret_access_key.clone(),
            },
            session_token: Some(role.token.clone()),
            region: self.region.clone(),
        }
    }

    /// The same client signing for `region`.
    pub fn for_region(&self, region: &str) -> ServerClient {
        ServerClient {
            region: region.to_string(),
            ..self.clone()
        }
    }

    /// The API's address as this host reaches it, for plain-HTTP servers (a task's
    /// relay carries bytes as they are, so it cannot reach a TLS server for them).
    pub async fn plain_api_addr(&self) -> Option<std::net::SocketAddr> {
        if self.endpoint.tls.is_some() {
            return None;
        }
        tokio::net::lookup_host(self.endpoint.authority.as_str())
            .await
            .ok()?
            .next()
    }

    /// The region requests are signed for.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Joins the cluster a join token names: the agent's own credential.
    pub async fn join(endpoint: &Endpoint, token: &str) -> Result<JoinAnswer> {
        let authority = &endpoint.authority;
        let req = Request::builder()
            .method(Method::POST)
            .uri(AGENT_JOIN_PATH)
            .header(http::header::HOST, authority)
            .header(
                http::header::AUTHORIZATION,
                format!("Bearer {}", token.trim()),
            )
            .body(Full::new(Bytes::new()))
            .expect("a valid request");
        let fut = async { json_answer(send(endpoint, req).await?).await };
        let v = tokio::time::timeout(CALL_TIMEOUT, fut)
            .await
            .map_err(|_| Error::Server("joining timed out".into()))??;
        serde_json::from_value(v).map_err(|e| Error::Server(format!("join answer: {e}")))
    }

    /// Adds the SigV4 headers to a request whose headers and body are final.
    fn signed(
        &self,
        mut req: Request<Full<Bytes>>,
        body: &[u8],
        service: &str,
    ) -> Request<Full<Bytes>> {
        if let Some(token) = &self.session_token {
            if let Ok(v) = http::HeaderValue::from_str(token) {
                req.headers_mut().insert("x-amz-security-token", v);
            }
        }
        let query = req.uri().query().unwrap_or("").to_string();
        let path = req.uri().path().to_string();
        let method = req.method().as_str().to_string();
        let parts = berth_sigv4::Request {
            method: &method,
            path: &path,
            query: &query,
            headers: req.headers(),
            body,
        };
        let added = berth_sigv4::sign(
            &parts,
            &self.credentials,
            &self.region,
            service,
            std::time::SystemTime::now(),
        );
        for (name, value) in added {
            if let Ok(v) = http::HeaderValue::from_str(&value) {
                req.headers_mut().insert(name, v);
            }
        }
        req
    }

    async fn send(&self, req: Request<Full<Bytes>>) -> Result<http::Response<Incoming>> {
        send(&self.endpoint, req).await
    }

    /// Calls an ECS operation; an API error comes back as [`Error::Api`].
    pub async fn ecs(&self, op: &str, input: &Value) -> Result<Value> {
        self.call("AmazonEC2ContainerServiceV20141113", "ecs", op, input)
            .await
    }

    /// Calls a Cloud Map operation (JSON 1.1); an API error comes back as [`Error::Api`].
    pub async fn servicediscovery(&self, op: &str, input: &Value) -> Result<Value> {
        self.call("Route53AutoNaming_v20170314", "servicediscovery", op, input)
            .await
    }

    /// Calls an AWS Private CA operation (JSON 1.1); an API error comes back as
    /// [`Error::Api`].
    pub async fn acmpca(&self, op: &str, input: &Value) -> Result<Value> {
        self.call("ACMPrivateCA", "acm-pca", op, input).await
    }

    /// Calls a CloudWatch operation (AWS JSON 1.0); an API error comes back as
    /// [`Error::Api`].
    pub async fn cloudwatch(&self, op: &str, input: &Value) -> Result<Value> {
        let target = "GraniteServiceVersion20100801";
        self.call_as(
            target,
            "monitoring",
            op,
            input,
            "application/x-amz-json-1.0",
        )
        .await
    }

    /// Calls an Elastic Load Balancing v2 action (AWS query, version 2015-12-01); its
    /// XML answer. An API error comes back as [`Error::Api`].
    pub async fn elbv2(&self, action: &str, params: &[(String, String)]) -> Result<String> {
        self.query("elasticloadbalancing", "2015-12-01", action, params)
            .await
    }

    /// Calls `action` of an AWS query service signing as `service`: a form of
    /// `Action`, `Version` and `params` (flattened as the query protocol names them,
    /// e.g. `Names.member.1`). Its XML answer; an API error (`<Error><Code>`) comes back
    /// as [`Error::Api`].
    pub async fn query(
        &self,
        service: &str,
        version: &str,
        action: &str,
        params: &[(String, String)],
    ) -> Result<String> {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("Action", action)
            .append_pair("Version", version)
            .extend_pairs(params)
            .finish()
            .into_bytes();
        let req = Request::builder()
            .method(Method::POST)
            .uri("/")
            .header(http::header::HOST, &self.endpoint.authority)
            .header(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .body(Full::new(Bytes::from(body.clone())))
            .expect("a valid request");
        let req = self.signed(req, &body, service);
        let fut = async { xml_answer(self.send(req).await?).await };
        tokio::time::timeout(CALL_TIMEOUT, fut)
            .await
            .map_err(|_| Error::Server(format!("{action} timed out")))?
    }

    /// Calls `target.op` of the service signing as `service`, with AWS JSON 1.1; an API
    /// error comes back as [`Error::Api`].
    pub async fn call(
        &self,
        target: &str,
        service: &str,
        op: &str,
        input: &Value,
    ) -> Result<Value> {
        self.call_as(target, service, op, input, "application/x-amz-json-1.1")
            .await
    }

    /// Calls `target.op` with AWS JSON of the given content type.
    async fn call_as(
        &self,
        target: &str,
        service: &str,
        op: &str,
        input: &Value,
        content_type: &str,
    ) -> Result<Value> {
        let body = input.to_string().into_bytes();
        let req = Request::builder()
            .method(Method::POST)
            .uri("/")
            .header(http::header::HOST, &self.endpoint.authority)
            .header("content-type", content_type)
            .header("x-amz-target", format!("{target}.{op}"))
            .body(Full::new(Bytes::from(body.clone())))
            .expect("a valid request");
        let req = self.signed(req, &body, service);
        let fut = async { json_answer(self.send(req).await?).await };
        tokio::time::timeout(CALL_TIMEOUT, fut)
            .await
            .map_err(|_| Error::Server(format!("{op} timed out")))?
    }

    /// Asks for the certificate of one TLS service of a task on `instance_arn`.
    pub async fn certificate(
        &self,
        cluster: &str,
        instance_arn: &str,
        request: &CertificateRequest,
    ) -> Result<IssuedCertificate> {
        let body = serde_json::to_vec(request).expect("a request serializes");
        let v = self
            .agent_post(AGENT_CERTIFICATE_PATH, cluster, instance_arn, body)
            .await?;
        serde_json::from_value(v).map_err(|e| Error::Server(format!("certificate answer: {e}")))
    }

    /// Asks for the temporary credentials of a task on `instance_arn`.
    pub async fn task_credentials(
        &self,
        cluster: &str,
        instance_arn: &str,
        task_arn: &str,
    ) -> Result<TaskCredentialsAnswer> {
        let request = TaskCredentialsRequest {
            task_arn: task_arn.to_string(),
        };
        let body = serde_json::to_vec(&request).expect("a request serializes");
        let v = self
            .agent_post(AGENT_TASK_CREDENTIALS_PATH, cluster, instance_arn, body)
            .await?;
        serde_json::from_value(v)
            .map_err(|e| Error::Server(format!("task credentials answer: {e}")))
    }

    /// POSTs a JSON `body` to the agents' endpoint `path` for `instance_arn` in
    /// `cluster` (e.g. `berth_agent_view::AGENT_METRICS_PATH`); the answer's document.
    pub async fn agent_post(
        &self,
        path: &str,
        cluster: &str,
        instance_arn: &str,
        body: Vec<u8>,
    ) -> Result<Value> {
        let uri = format!(
            "{path}?cluster={cluster}&containerInstance={}",
            instance_arn.replace('/', "%2F").replace(':', "%3A")
        );
        let req = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(http::header::HOST, &self.endpoint.authority)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.clone())))
            .expect("a valid request");
        let req = self.signed(req, &body, "ecs");
        let fut = async { json_answer(self.send(req).await?).await };
        tokio::time::timeout(CALL_TIMEOUT, fut)
            .await
            .map_err(|_| Error::Server(format!("POST {path} timed out")))?
    }

    /// Opens the push stream of `instance_arn` in `cluster` (see `berth-server`).
    pub async fn watch(&self, cluster: &str, instance_arn: &str) -> Result<Incoming> {
        let uri = format!(
            "/berth/agent/v1/watch?cluster={cluster}&containerInstance={}",
            instance_arn.replace('/', "%2F").replace(':', "%3A")
        );
        let req = Request::builder()
            .method(Method::GET)
            .uri(uri)
            .header(http::header::HOST, &self.endpoint.authority)
            .body(Full::new(Bytes::new()))
            .expect("a valid request");
        let req = self.signed(req, b"", "ecs");
        let resp = tokio::time::timeout(CALL_TIMEOUT, self.send(req))
            .await
            .map_err(|_| Error::Server("opening the push stream timed out".into()))??;
        if resp.status() != StatusCode::OK {
            let body = resp
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            return Err(Error::Server(format!(
                "push stream refused: {}",
                String::from_utf8_lossy(&body)
            )));
        }
        Ok(resp.into_body())
    }
}

async fn send(endpoint: &Endpoint, req: Request<Full<Bytes>>) -> Result<http::Response<Incoming>> {
    let authority = &endpoint.authority;
    let stream = TcpStream::connect(authority)
        .await
        .map_err(|e| Error::Server(format!("connect {authority}: {e}")))?;
    let _ = stream.set_nodelay(true);
    match &endpoint.tls {
        None => request_on(TokioIo::new(stream), req).await,
        Some((config, name)) => {
            let tls = tokio_rustls::TlsConnector::from(config.clone())
                .connect(name.clone(), stream)
                .await
                .map_err(|e| Error::Server(format!("TLS with {authority}: {e}")))?;
            request_on(TokioIo::new(tls), req).await
        }
    }
}

async fn request_on<I>(io: I, req: Request<Full<Bytes>>) -> Result<http::Response<Incoming>>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| Error::Server(format!("handshake: {e}")))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender
        .send_request(req)
        .await
        .map_err(|e| Error::Server(format!("request: {e}")))
}

/// An answer's status and whole body.
async fn read_answer(resp: http::Response<Incoming>) -> Result<(http::StatusCode, Bytes)> {
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| Error::Server(format!("reading the answer: {e}")))?
        .to_bytes();
    Ok((status, body))
}

/// A JSON answer: its document, or the API error it carries.
async fn json_answer(resp: http::Response<Incoming>) -> Result<Value> {
    let (status, body) = read_answer(resp).await?;
    if status.is_success() {
        return Ok(serde_json::from_slice(&body).unwrap_or(Value::Null));
    }
    let e: ErrorBody = serde_json::from_slice(&body).unwrap_or_default();
    Err(Error::Api {
        code: e.code.unwrap_or_else(|| format!("HTTP {status}")),
        message: e.message.unwrap_or_default(),
    })
}

/// A query protocol's answer: its XML, or the API error it carries.
async fn xml_answer(resp: http::Response<Incoming>) -> Result<String> {
    let (status, body) = read_answer(resp).await?;
    let text = String::from_utf8_lossy(&body).into_owned();
    if status.is_success() {
        return Ok(text);
    }
    let (code, message) = xml_error(&text).unwrap_or_default();
    Err(Error::Api {
        code: code.unwrap_or_else(|| format!("HTTP {status}")),
        message: message.unwrap_or_default(),
    })
}

/// The `Code` and `Message` of an XML error: `<ErrorResponse><Error>` (query) or
/// `<Response><Errors><Error>` (EC2).
fn xml_error(text: &str) -> Option<(Option<String>, Option<String>)> {
    let doc = roxmltree::Document::parse(text).ok()?;
    let error = doc.descendants().find(|n| n.has_tag_name("Error"))?;
    let field = |name: &str| {
        let n = error.children().find(|c| c.has_tag_name(name))?;
        Some(n.text().unwrap_or_default().to_string())
    };
    Some((field("Code"), field("Message")))
}

/// An API error's body (AWS JSON: `__type`, and `message` or `Message`).
#[derive(Default, serde::Deserialize)]
struct ErrorBody {
    #[serde(rename = "__type")]
    code: Option<String>,
    #[serde(alias = "Message")]
    message: Option<String>,
}

/// A task proxy's admin endpoint on its Unix socket.
#[derive(Clone, Debug)]
pub struct AdminClient {
    socket: PathBuf,
}

impl AdminClient {
    /// The admin endpoint listening on `socket`.
    pub fn new(socket: &Path) -> AdminClient {
        AdminClient {
            socket: socket.to_path_buf(),
        }
    }

    /// The socket's path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// One request; (status, body).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> Result<(StatusCode, Bytes)> {
        let fut = async {
            let stream = UnixStream::connect(&self.socket)
                .await
                .map_err(|e| Error::Proxy(format!("connect {}: {e}", self.socket.display())))?;
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| Error::Proxy(format!("admin handshake: {e}")))?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            let req = Request::builder()
                .method(method)
                .uri(path)
                .header(http::header::HOST, "proxy")
                .header("content-type", "application/json")
                .body(Full::new(body))
                .expect("a valid request");
            let resp = sender
                .send_request(req)
                .await
                .map_err(|e| Error::Proxy(format!("admin request: {e}")))?;
            let status = resp.status();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| Error::Proxy(format!("admin answer: {e}")))?
                .to_bytes();
            Ok((status, body))
        };
        tokio::time::timeout(CALL_TIMEOUT, fut)
            .await
            .map_err(|_| Error::Proxy(format!("admin {path} timed out")))?
    }

    /// Sends a snapshot; an error names why the proxy refused it.
    pub async fn apply(&self, snapshot: &berth_proxy_config::Snapshot) -> Result<()> {
        let body = serde_json::to_vec(snapshot).expect("snapshots serialize");
        let (status, answer) = self
            .request(Method::POST, "/snapshot", Bytes::from(body))
            .await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(Error::Proxy(format!(
                "snapshot {} refused ({status}): {}",
                snapshot.version,
                String::from_utf8_lossy(&answer)
            )))
        }
    }

    /// True once the proxy runs a snapshot.
    pub async fn ready(&self) -> bool {
        matches!(self.request(Method::GET, "/ready", Bytes::new()).await, Ok((s, _)) if s.is_success())
    }

    /// Waits until the admin socket answers at all, up to `timeout`.
    pub async fn wait_answering(&self, timeout: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self
                .request(Method::GET, "/version", Bytes::new())
                .await
                .is_ok()
            {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Proxy(format!(
                    "the proxy's admin socket {} did not answer within {timeout:?}",
                    self.socket.display()
                )));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Starts draining (ingress stops accepting; in-flight work finishes).
    pub async fn drain(&self) -> Result<()> {
        self.request(Method::POST, "/drain", Bytes::new())
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_errors_give_their_code_and_message() {
        let query = r#"<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><Error><Type>Sender</Type><Code>TargetGroupNotFound</Code><Message>One or more target groups not found &amp; more</Message></Error><RequestId>r</RequestId></ErrorResponse>"#;
        assert_eq!(
            xml_error(query),
            Some((
                Some("TargetGroupNotFound".into()),
                Some("One or more target groups not found & more".into())
            ))
        );
        let ec2 = r#"<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>InvalidVpcID.NotFound</Code><Message></Message></Error></Errors><RequestID>r</RequestID></Response>"#;
        assert_eq!(
            xml_error(ec2),
            Some((Some("InvalidVpcID.NotFound".into()), Some(String::new())))
        );
        assert_eq!(xml_error("<html>bad gateway</html>"), None);
        assert_eq!(xml_error("not xml"), None);
    }
}
