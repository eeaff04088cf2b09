//! TLS between proxies: a client proxy (egress, plain in, TLS out) and a server proxy
//! (ingress, TLS in, plain to the application), with real certificates from a test CA.
//! TLS 1.3 only; the chain and the name verified; failed handshakes counted on both
//! sides and logged with their reason; mutual TLS with the client's identity in the
//! server's log and metrics; HTTP/1.1, HTTP/2 and TCP; connections reused; certificates
//! rotated under load without a failed request.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use berth_proxy::{ProxyConfig, RunningProxy};
use common::*;
use http::StatusCode;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    SanType,
};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A test CA.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        let cert = p.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(p, key),
        }
    }

    /// A certificate for `dns` names and the URI `identity`: the snapshot's
    /// `{certificateChain, privateKey}`.
    fn issue(&self, dns: &[&str], identity: &str) -> Value {
        let key = KeyPair::generate().unwrap();
        let mut p =
            CertificateParams::new(dns.iter().map(|d| d.to_string()).collect::<Vec<_>>()).unwrap();
        p.subject_alt_names
            .push(SanType::URI(identity.try_into().unwrap()));
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        json!({"certificateChain": cert.pem(), "privateKey": key.serialize_pem()})
    }
}

const ID_B: &str = "spiffe://ns/c1/b";
const ID_A: &str = "spiffe://ns/c1/a";
const ANY: &str = "127.0.0.1:0";

fn logged() -> (ProxyConfig, Captured) {
    let captured = Captured::default();
    let w = captured.clone();
    let config = ProxyConfig {
        access_log_writer: Some(Arc::new(move || Box::new(w.clone()))),
        ..Default::default()
    };
    (config, captured)
}

/// The server proxy: ingress `b` with `tls` in front of `app`; its listener's address.
async fn server(
    p: &RunningProxy,
    version: u64,
    app: SocketAddr,
    protocol: &str,
    tls: Value,
) -> SocketAddr {
    p.apply(snapshot(json!({
        "version": version,
        "clusterName": "c1",
        "serviceName": "b",
        "ingress": [{"discoveryName": "b", "listen": ANY, "app": app, "protocol": protocol, "tls": tls}],
        "accessLog": {"format": "JSON", "includeQueryParameters": true},
    })))
    .await
    .unwrap();
    p.listener_addr(ANY.parse().unwrap()).await.unwrap()
}

/// The client proxy: egress `b:80` to `target` over TLS trusting `trust`; with
/// `client_cert`, presented when asked.
async fn client_proxy(
    p: &RunningProxy,
    version: u64,
    target: SocketAddr,
    protocol: &str,
    trust: &str,
    client_cert: Option<Value>,
) -> SocketAddr {
    let mut s = json!({
        "version": version,
        "clusterName": "c1",
        "serviceName": "a",
        "egress": [{"alias": "b:80", "listen": ANY, "upstream": "b"}],
        "upstreams": {"b": {"protocol": protocol, "endpoints": endpoints(&[target]), "tls": {"trust": trust}}},
        "accessLog": {"format": "JSON", "includeQueryParameters": true},
    });
    if let Some(c) = client_cert {
        s["clientCertificate"] = c;
    }
    p.apply(snapshot(s)).await.unwrap();
    p.listener_addr(ANY.parse().unwrap()).await.unwrap()
}

fn metric(p: &RunningProxy, name: &str) -> f64 {
    p.render_metrics()
        .lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn log_lines(c: &Captured) -> Vec<Value> {
    c.text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn http1_through_tls_reuses_connections() {
    let app = named("app").await;
    let ca = Ca::new("ca");
    let (b_cfg, b_log) = logged();
    let b = proxy_with(b_cfg).await;
    let b_addr = server(&b, 1, app.addr, "http", ca.issue(&["b"], ID_B)).await;
    let a = proxy().await;
    let l = client_proxy(&a, 1, b_addr, "http", &ca.pem, None).await;
    let c = client();
    for _ in 0..50 {
        assert_eq!(get(&c, l, "/x").await, (StatusCode::OK, "app".to_string()));
    }
    // One client connection, one upstream TLS connection (per worker at most).
    let accepted: u64 = b.workers().iter().map(|w| w.connections_accepted).sum();
    assert!(accepted <= 2, "{accepted} TLS connections for 50 requests");
    assert_eq!(metric(&a, "TargetTLSNegotiationErrorCount"), 0.0);
    assert_eq!(metric(&b, "ClientTLSNegotiationErrorCount"), 0.0);
    // The admin endpoint shows the certificate, never the key.
    let (_, certs) = admin(&b, "GET", "/certificates", "").await;
    let certs: Value = serde_json::from_str(&certs).unwrap();
    let c = &certs["certificates"][0];
    assert_eq!(
        (c["use"].as_str(), c["listener"].as_str()),
        (Some("ingress"), Some("b"))
    );
    assert_eq!(c["identity"], ID_B);
    assert_eq!(c["dnsNames"], json!(["b"]));
    assert!(c["notAfter"].as_i64().unwrap() > c["notBefore"].as_i64().unwrap());
    let (_, snap) = admin(&b, "GET", "/snapshot", "").await;
    assert!(
        snap.contains("BEGIN CERTIFICATE") && !snap.contains("PRIVATE KEY"),
        "{snap}"
    );
    b.shutdown().await;
    let lines = log_lines(&b_log);
    assert_eq!(lines.len(), 50);
    // No client certificate: no identity.
    assert!(
        lines[0].get("downstream_peer_identity").is_none(),
        "{}",
        lines[0]
    );
    a.shutdown().await;
}

#[tokio::test]
async fn the_ingress_speaks_tls13_only_with_the_three_suites() {
    let app = named("app").await;
    let ca = Ca::new("ca");
    let b = proxy().await;
    let b_addr = server(&b, 1, app.addr, "http", ca.issue(&["b"], ID_B)).await;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(ca.pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    // A client offering TLS 1.2 and 1.3 with every suite gets 1.3 and one of the three.
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(b_addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("b").unwrap();
    let mut t = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();
    let conn = t.get_ref().1;
    assert_eq!(
        conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    let suite = format!("{:?}", conn.negotiated_cipher_suite().unwrap().suite());
    assert!(
        [
            "TLS13_AES_128_GCM_SHA256",
            "TLS13_AES_256_GCM_SHA384",
            "TLS13_CHACHA20_POLY1305_SHA256"
        ]
        .contains(&suite.as_str()),
        "{suite}"
    );
    t.write_all(b"GET / HTTP/1.1\r\nhost: b\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    let _ = t.read_to_string(&mut out).await;
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    b.shutdown().await;
}

use rustls::pki_types::pem::PemObject as _;

#[tokio::test]
async fn an_unknown_ca_fails_the_handshake_counted_and_logged_on_both_sides() {
    let app = named("app").await;
    let (ca, other) = (Ca::new("ca"), Ca::new("other"));
    let b = proxy().await;
    let b_addr = server(&b, 1, app.addr, "http", ca.issue(&["b"], ID_B)).await;
    let (a_cfg, a_log) = logged();
    let a = proxy_with(a_cfg).await;
    let l = client_proxy(&a, 1, b_addr, "http", &other.pem, None).await;
    let (status, _) = get(&client(), l, "/").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(metric(&a, "TargetTLSNegotiationErrorCount") >= 1.0);
    // The server saw the client abort the handshake.
    for _ in 0..50 {
        if metric(&b, "ClientTLSNegotiationErrorCount") >= 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(metric(&b, "ClientTLSNegotiationErrorCount") >= 1.0);
    a.shutdown().await;
    let lines = log_lines(&a_log);
    let reason = lines[0]["upstream_transport_failure_reason"]
        .as_str()
        .unwrap();
    assert!(reason.contains("UnknownIssuer"), "{reason}");
    assert_eq!(lines[0]["response_flags"], "UF");
    b.shutdown().await;
}

#[tokio::test]
async fn a_wrong_name_fails_the_handshake() {
    let app = named("app").await;
    let ca = Ca::new("ca");
    let b = proxy().await;
    let b_addr = server(&b, 1, app.addr, "http", ca.issue(&["not-b"], ID_B)).await;
    let a = proxy().await;
    let l = client_proxy(&a, 1, b_addr, "http", &ca.pem, None).await;
    assert_eq!(
        get(&client(), l, "/").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert!(metric(&a, "TargetTLSNegotiationErrorCount") >= 1.0);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn mutual_tls_records_the_identity_and_can_be_required() {
    let app = named("app").await;
    let ca = Ca::new("ca");
    let mut tls = ca.issue(&["b"], ID_B);
    tls["clientTrust"] = json!(ca.pem);
    tls["requireClientCertificate"] = json!(true);
    let (b_cfg, b_log) = logged();
    let b = proxy_with(b_cfg).await;
    let b_addr = server(&b, 1, app.addr, "http", tls).await;
    // Without a certificate: refused.
    let a = proxy().await;
    let l = client_proxy(&a, 1, b_addr, "http", &ca.pem, None).await;
    assert_eq!(
        get(&client(), l, "/").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    a.shutdown().await;
    // With one: through, and the server knows who called.
    let a = proxy().await;
    let l = client_proxy(&a, 1, b_addr, "http", &ca.pem, Some(ca.issue(&["a"], ID_A))).await;
    assert_eq!(
        get(&client(), l, "/").await,
        (StatusCode::OK, "app".to_string())
    );
    let m = b.render_metrics();
    assert!(
        m.lines()
            .any(|l| l.starts_with("ClientIdentityConnectionCount")
                && l.contains(&format!("ClientIdentity=\"{ID_A}\""))),
        "{m}"
    );
    b.shutdown().await;
    let lines = log_lines(&b_log);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["downstream_peer_identity"], ID_A);
    a.shutdown().await;
}

#[tokio::test]
async fn http2_and_grpc_over_tls() {
    // A gRPC-shaped exchange: the trailers carry grpc-status, end to end over TLS.
    let app = upstream(true, |r: http::Request<hyper::body::Incoming>| async move {
        let grpc = r
            .headers()
            .get("content-type")
            .is_some_and(|v| v == "application/grpc");
        let mut resp = text(StatusCode::OK, &format!("{:?} grpc={grpc}", r.version()));
        if grpc {
            resp.headers_mut()
                .insert("grpc-status", "0".parse().unwrap());
        }
        resp
    })
    .await;
    let ca = Ca::new("ca");
    for protocol in ["http2", "grpc"] {
        let b = proxy().await;
        let b_addr = server(&b, 1, app.addr, protocol, ca.issue(&["b"], ID_B)).await;
        let a = proxy().await;
        let l = client_proxy(&a, 1, b_addr, protocol, &ca.pem, None).await;
        let c = h2_client();
        let grpc = protocol == "grpc";
        for _ in 0..10 {
            let mut req = http::Request::post(format!("http://{l}/pkg.Svc/Call"))
                .body(http_body_util::Full::new(bytes::Bytes::new()))
                .unwrap();
            if grpc {
                req.headers_mut()
                    .insert("content-type", "application/grpc".parse().unwrap());
            }
            let (status, body) = send(&c, req).await;
            assert_eq!(
                (status, body),
                (StatusCode::OK, format!("HTTP/2.0 grpc={grpc}"))
            );
        }
        let accepted: u64 = b.workers().iter().map(|w| w.connections_accepted).sum();
        assert!(accepted <= 2, "{protocol}: {accepted}");
        a.shutdown().await;
        b.shutdown().await;
    }
}

#[tokio::test]
async fn tcp_over_tls() {
    let echo = raw(|mut s| async move {
        let mut b = [0u8; 1024];
        while let Ok(n) = s.read(&mut b).await {
            if n == 0 || s.write_all(&b[..n]).await.is_err() {
                return;
            }
        }
    })
    .await;
    let ca = Ca::new("ca");
    let b = proxy().await;
    let b_addr = server(&b, 1, echo, "tcp", ca.issue(&["b"], ID_B)).await;
    let a = proxy().await;
    let l = client_proxy(&a, 1, b_addr, "tcp", &ca.pem, None).await;
    let mut s = tokio::net::TcpStream::connect(l).await.unwrap();
    s.write_all(b"ping over tls").await.unwrap();
    let mut got = [0u8; 13];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&got, b"ping over tls");
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn bad_tls_material_refuses_the_snapshot() {
    let b = proxy().await;
    let e = b
        .apply(snapshot(json!({
            "version": 1,
            "ingress": [{"discoveryName": "b", "listen": ANY, "app": "127.0.0.1:9", "protocol": "http",
                         "tls": {"certificateChain": "not pem", "privateKey": "nope"}}],
        })))
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("ingress[0].tls.certificateChain"),
        "{e}"
    );
    let ca = Ca::new("ca");
    let mut mismatched = ca.issue(&["b"], ID_B);
    mismatched["privateKey"] = ca.issue(&["b"], ID_B)["privateKey"].clone();
    let e = b
        .apply(snapshot(json!({
            "version": 2,
            "ingress": [{"discoveryName": "b", "listen": ANY, "app": "127.0.0.1:9", "protocol": "http", "tls": mismatched}],
        })))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("do not go together"), "{e}");
    assert!(b.version().is_none());
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_under_load_loses_no_request() {
    let app = named("app").await;
    let ca = Ca::new("ca");
    let b = proxy().await;
    let b_addr = server(&b, 1, app.addr, "http", ca.issue(&["b"], ID_B)).await;
    let a = proxy().await;
    let l = client_proxy(&a, 1, b_addr, "http", &ca.pem, Some(ca.issue(&["a"], ID_A))).await;
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (stop, ok, failed) = (Arc::clone(&stop), Arc::clone(&ok), Arc::clone(&failed));
        load.push(tokio::spawn(async move {
            let c = client();
            while !stop.load(SeqCst) {
                match get(&c, l, "/").await.0 {
                    StatusCode::OK => ok.fetch_add(1, SeqCst),
                    _ => failed.fetch_add(1, SeqCst),
                };
            }
        }));
    }
    // New certificates on both sides (server, and the client's own), five times.
    for v in 2..7 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        server(&b, v, app.addr, "http", ca.issue(&["b"], ID_B)).await;
        client_proxy(&a, v, b_addr, "http", &ca.pem, Some(ca.issue(&["a"], ID_A))).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.store(true, SeqCst);
    for t in load {
        t.await.unwrap();
    }
    assert!(ok.load(SeqCst) > 50, "{} requests", ok.load(SeqCst));
    assert_eq!(failed.load(SeqCst), 0);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn requiring_client_certificates_closes_connections_without_one() {
    let app = named("app").await;
    let ca = Ca::new("ca");
    let mut tls = ca.issue(&["b"], ID_B);
    tls["clientTrust"] = json!(ca.pem);
    let b = proxy().await;
    let b_addr = server(&b, 1, app.addr, "http", tls.clone()).await;
    let (a_cfg, a_log) = logged();
    let a = proxy_with(a_cfg).await;
    let l = client_proxy(&a, 1, b_addr, "http", &ca.pem, None).await;
    let c = client();
    assert_eq!(get(&c, l, "/").await.0, StatusCode::OK);
    // Now required: the pooled connection (made without a certificate) is refused and
    // closed; the next one fails its handshake.
    tls["requireClientCertificate"] = json!(true);
    server(&b, 2, app.addr, "http", tls).await;
    assert_eq!(get(&c, l, "/").await.0, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(get(&c, l, "/").await.0, StatusCode::SERVICE_UNAVAILABLE);
    assert!(metric(&b, "ClientTLSNegotiationErrorCount") >= 1.0);
    a.shutdown().await;
    let lines = log_lines(&a_log);
    let last = lines.last().unwrap();
    assert!(
        last["upstream_transport_failure_reason"].is_string(),
        "{last}"
    );
    b.shutdown().await;
}

/// An HTTP/1.1 endpoint over TLS that answers one request per connection and closes it,
/// counting the handshakes that resumed a session.
async fn closing_tls_endpoint(ca: &Ca) -> (SocketAddr, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let leaf = ca.issue(&["b"], ID_B);
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(leaf["certificateChain"].as_str().unwrap().as_bytes())
            .map(Result::unwrap)
            .collect();
    let key =
        PrivateKeyDer::from_pem_slice(leaf["privateKey"].as_str().unwrap().as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (full, resumed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (f, r) = (Arc::clone(&full), Arc::clone(&resumed));
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let Ok(mut t) = acceptor.accept(s).await else {
                continue;
            };
            match t.get_ref().1.handshake_kind() {
                Some(rustls::HandshakeKind::Resumed) => r.fetch_add(1, SeqCst),
                _ => f.fetch_add(1, SeqCst),
            };
            let mut head = Vec::new();
            let mut b = [0u8; 1024];
            while !head.ends_with(b"\r\n\r\n") {
                match t.read(&mut b).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&b[..n]),
                }
            }
            let _ = t
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                .await;
            let _ = t.shutdown().await;
        }
    });
    (addr, full, resumed)
}

#[tokio::test]
async fn new_connections_resume_their_tls_session() {
    let ca = Ca::new("ca");
    let (endpoint, full, resumed) = closing_tls_endpoint(&ca).await;
    let a = proxy_with(ProxyConfig {
        workers: 1,
        ..Default::default()
    })
    .await;
    let l = client_proxy(&a, 1, endpoint, "http", &ca.pem, None).await;
    let c = client();
    for _ in 0..5 {
        assert_eq!(get(&c, l, "/").await, (StatusCode::OK, "ok".to_string()));
    }
    // One full handshake; every later connection resumed the session it left.
    assert_eq!(full.load(SeqCst), 1);
    assert_eq!(resumed.load(SeqCst), 4);
    a.shutdown().await;
}
