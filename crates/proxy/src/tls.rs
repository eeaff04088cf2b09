//! TLS between proxies, as Service Connect speaks it: TLS 1.3 only, with the suites
//! TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384 and TLS_CHACHA20_POLY1305_SHA256
//! (rustls on aws-lc-rs).
//!
//! - [`ServerTls`]: an ingress listener's certificate, and optionally the CAs its
//!   clients' certificates are verified against (mutual TLS: optional, or required).
//! - [`ClientTls`]: how a client proxy reaches an upstream with `tls`: the CAs the
//!   endpoints' chains must lead to, the name their certificates must carry (SNI too),
//!   the certificate the proxy presents when asked, and the ALPN protocol. Its config
//!   keeps a session cache, so reconnecting resumes instead of paying a full handshake.
//! - [`Stream`]: a TCP socket, plain or with TLS, as the serving and client code read
//!   and write it.
//!
//! Both configs are built when a snapshot is applied (a bad certificate or key refuses
//! the snapshot) and compare equal by their source, so a snapshot that keeps them keeps
//! their session caches and the pools that use them.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use berth_proxy_config::{CertifiedKey, IngressTls, UpstreamTls};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Why TLS material in a snapshot cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct TlsConfigError {
    /// The snapshot field, e.g. `ingress[0].tls.certificateChain`.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

fn bad(field: &str, reason: impl std::fmt::Display) -> TlsConfigError {
    TlsConfigError {
        field: field.to_string(),
        reason: reason.to_string(),
    }
}

/// Session tickets/ids a server keeps for resumption.
const SERVER_SESSIONS: usize = 4096;
/// Sessions a client config keeps (per upstream).
const CLIENT_SESSIONS: usize = 1024;

/// The crypto provider: aws-lc-rs with the three TLS 1.3 suites only.
fn provider() -> Arc<CryptoProvider> {
    static P: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    Arc::clone(P.get_or_init(|| {
        use rustls::crypto::aws_lc_rs::{cipher_suite, default_provider};
        Arc::new(CryptoProvider {
            cipher_suites: vec![
                cipher_suite::TLS13_AES_128_GCM_SHA256,
                cipher_suite::TLS13_AES_256_GCM_SHA384,
                cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
            ],
            ..default_provider()
        })
    }))
}

fn certificates(pem: &str, field: &str) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(field, format!("not PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(bad(field, "no certificate in it"));
    }
    Ok(certs)
}

fn roots(pem: &str, field: &str) -> Result<Arc<RootCertStore>, TlsConfigError> {
    let mut store = RootCertStore::empty();
    for c in certificates(pem, field)? {
        store
            .add(c)
            .map_err(|e| bad(field, format!("not a usable CA certificate: {e}")))?;
    }
    Ok(Arc::new(store))
}

fn certified(
    k: &CertifiedKey,
    field: &str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsConfigError> {
    let chain = certificates(&k.certificate_chain, &format!("{field}.certificateChain"))?;
    let key = PrivateKeyDer::from_pem_slice(k.private_key.0.as_bytes())
        .map_err(|_| bad(&format!("{field}.privateKey"), "not a PEM private key"))?;
    Ok((chain, key))
}

fn alpn(http: bool, http2: bool) -> Vec<Vec<u8>> {
    match (http, http2) {
        (false, _) => Vec::new(),
        (true, true) => vec![b"h2".to_vec()],
        (true, false) => vec![b"http/1.1".to_vec()],
    }
}

/// An ingress listener's TLS.
pub(crate) struct ServerTls {
    pub config: Arc<ServerConfig>,
    source: (IngressTls, bool),
}

impl ServerTls {
    /// `field`: where `t` is in the snapshot (for errors); `http`: offer ALPN `h2` and
    /// `http/1.1` (hyper's server speaks both).
    pub(crate) fn build(t: &IngressTls, http: bool, field: &str) -> Result<Self, TlsConfigError> {
        let (chain, key) = certified(&t.certified, field)?;
        let builder = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| bad(field, e))?;
        let builder = match &t.client_trust {
            Some(pem) => {
                let f = format!("{field}.clientTrust");
                let v = WebPkiClientVerifier::builder_with_provider(roots(pem, &f)?, provider());
                let v = if t.require_client_certificate {
                    v
                } else {
                    v.allow_unauthenticated()
                };
                builder.with_client_cert_verifier(v.build().map_err(|e| bad(&f, e))?)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder.with_single_cert(chain, key).map_err(|e| {
            bad(
                field,
                format!("certificate and key do not go together: {e}"),
            )
        })?;
        config.session_storage = rustls::server::ServerSessionMemoryCache::new(SERVER_SESSIONS);
        if http {
            config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        }
        Ok(ServerTls {
            config: Arc::new(config),
            source: (t.clone(), http),
        })
    }

    /// Whether `t` would build the same config (it can then be kept).
    pub(crate) fn is_for(&self, t: &IngressTls, http: bool) -> bool {
        self.source.0 == *t && self.source.1 == http
    }

    /// Whether clients must present a certificate.
    pub(crate) fn requires_client_certificate(&self) -> bool {
        self.source.0.require_client_certificate
    }
}

/// How a client proxy speaks TLS to one upstream.
pub(crate) struct ClientTls {
    pub config: Arc<ClientConfig>,
    pub server_name: ServerName<'static>,
    source: ClientSource,
}

type ClientSource = (UpstreamTls, String, Option<CertifiedKey>, bool, bool);

impl ClientTls {
    /// `name`: the name to verify; `client`: the certificate to present when asked;
    /// `http`/`http2`: the ALPN protocol to offer.
    pub(crate) fn build(
        t: &UpstreamTls,
        name: &str,
        client: Option<&CertifiedKey>,
        (http, http2): (bool, bool),
        field: &str,
    ) -> Result<Self, TlsConfigError> {
        let server_name = ServerName::try_from(name.to_string()).map_err(|_| {
            bad(
                &format!("{field}.serverName"),
                format!("'{name}' is not a DNS name"),
            )
        })?;
        let builder = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| bad(field, e))?
            .with_root_certificates(roots(&t.trust, &format!("{field}.trust"))?);
        let mut config = match client {
            Some(k) => {
                let (chain, key) = certified(k, "clientCertificate")?;
                builder.with_client_auth_cert(chain, key).map_err(|e| {
                    bad(
                        "clientCertificate",
                        format!("certificate and key do not go together: {e}"),
                    )
                })?
            }
            None => builder.with_no_client_auth(),
        };
        config.resumption = rustls::client::Resumption::in_memory_sessions(CLIENT_SESSIONS);
        config.alpn_protocols = alpn(http, http2);
        Ok(ClientTls {
            config: Arc::new(config),
            server_name,
            source: (t.clone(), name.to_string(), client.cloned(), http, http2),
        })
    }

    /// Whether these settings would build the same config (it can then be kept).
    pub(crate) fn is_for(
        &self,
        t: &UpstreamTls,
        name: &str,
        client: Option<&CertifiedKey>,
        protocol: (bool, bool),
    ) -> bool {
        let s = &self.source;
        s.0 == *t && s.1 == name && s.2.as_ref() == client && (s.3, s.4) == protocol
    }

    /// Connects TLS over `s`, within `timeout`.
    pub(crate) async fn connect(
        &self,
        s: TcpStream,
        timeout: std::time::Duration,
    ) -> Result<Stream, HandshakeError> {
        let c = tokio_rustls::TlsConnector::from(Arc::clone(&self.config));
        match tokio::time::timeout(timeout, c.connect(self.server_name.clone(), s)).await {
            Ok(Ok(t)) => Ok(Stream::Tls(Box::new(tokio_rustls::TlsStream::Client(t)))),
            Ok(Err(e)) => Err(HandshakeError(e)),
            Err(_) => Err(HandshakeError(io::Error::new(
                io::ErrorKind::TimedOut,
                "handshake timed out",
            ))),
        }
    }
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

/// The TLS error behind `e`, if any: rustls reports some failures (a client
/// certificate the server refuses, in TLS 1.3) only after the handshake seemed done, as
/// an alert on the first read or write, wrapped in an `io::Error`.
pub(crate) fn tls_error_in<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a rustls::Error> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(t) = err.downcast_ref::<rustls::Error>() {
            return Some(t);
        }
        if let Some(t) = err
            .downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|i| i.downcast_ref::<rustls::Error>())
        {
            return Some(t);
        }
        cur = err.source();
    }
    None
}

/// A failed TLS handshake; its message says why in a few words (for access logs).
#[derive(Debug)]
pub(crate) struct HandshakeError(pub io::Error);

impl HandshakeError {
    /// The reason, short: the TLS alert or certificate error, or the socket error.
    pub(crate) fn reason(&self) -> String {
        tls_error_in(&self.0).map_or_else(|| self.0.to_string(), ToString::to_string)
    }
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TLS handshake failed: {}", self.reason())
    }
}

impl std::error::Error for HandshakeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// Accepts TLS on `s` with `tls`.
pub(crate) async fn accept(tls: &ServerTls, s: TcpStream) -> Result<Stream, HandshakeError> {
    let a = tokio_rustls::TlsAcceptor::from(Arc::clone(&tls.config));
    match a.accept(s).await {
        Ok(t) => Ok(Stream::Tls(Box::new(tokio_rustls::TlsStream::Server(t)))),
        Err(e) => Err(HandshakeError(e)),
    }
}

/// The identity of the peer of a TLS connection: the first URI in its certificate's
/// subject alternative names (`spiffe://...`), else its first DNS name.
pub(crate) fn peer_identity(s: &Stream) -> Option<String> {
    let Stream::Tls(t) = s else { return None };
    let der = t.get_ref().1.peer_certificates()?.first()?;
    identity_of(der)
}

fn identity_of(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let (uris, dns_names) = names_of(&cert);
    uris.into_iter().chain(dns_names).next()
}

/// A certificate's subject alternative names: its URIs and its DNS names.
fn names_of(cert: &x509_parser::certificate::X509Certificate<'_>) -> (Vec<String>, Vec<String>) {
    use x509_parser::extensions::GeneralName;
    let (mut uris, mut dns) = (Vec::new(), Vec::new());
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                GeneralName::URI(u) => uris.push(u.to_string()),
                GeneralName::DNSName(d) => dns.push(d.to_string()),
                _ => {}
            }
        }
    }
    (uris, dns)
}

/// What a certificate says, for the admin endpoint.
pub(crate) struct Described {
    pub identity: Option<String>,
    pub dns_names: Vec<String>,
    pub serial: String,
    /// Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
}

/// The first certificate of a PEM chain, described.
pub(crate) fn describe(chain_pem: &str) -> Option<Described> {
    let der = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .next()?
        .ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
    let (uris, dns_names) = names_of(&cert);
    let v = cert.validity();
    Some(Described {
        identity: uris.into_iter().chain(dns_names.iter().cloned()).next(),
        dns_names,
        serial: cert.raw_serial_as_string(),
        not_before: v.not_before.timestamp(),
        not_after: v.not_after.timestamp(),
    })
}

/// A downstream connection once accepted (and its TLS handshake done).
pub(crate) struct Accepted {
    pub stream: Stream,
    pub peer: std::net::SocketAddr,
    /// The identity in the client's verified certificate (mutual TLS).
    pub identity: Option<Arc<str>>,
}

/// A connection's socket: plain TCP or TLS over it.
pub(crate) enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS, either side.
    Tls(Box<tokio_rustls::TlsStream<TcpStream>>),
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stream::Plain(s) => f.debug_tuple("Plain").field(s).finish(),
            Stream::Tls(s) => f.debug_tuple("Tls").field(s.get_ref().0).finish(),
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(&mut **s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
        }
    }
}
