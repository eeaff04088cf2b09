//! Service Connect TLS against a real server, without an agent: CreateService and
//! UpdateService check the CA a service names; a task's certificate is issued through
//! the agent endpoint (`POST /berth/agent/v1/certificate`) with the server's names and
//! the CSR's key; the pushed views carry the CAs' certificates; bad requests are
//! refused with clear JSON errors; a CA disabled after the fact stops issuance and
//! leaves one service event.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use berth_agent_view::{IssuedCertificate, View, AGENT_CERTIFICATE_PATH};
use berth_pki::{CertInfo, KeyAlgorithm, PrivateKey, Subject};
use berth_server::TlsSettings;
use common::{post, Raw, TestServer};
use serde_json::{json, Value};

const ECS: &str = "AmazonEC2ContainerServiceV20141113";
const PCA: &str = "ACMPrivateCA";
const AUTH: &str = "AWS4-HMAC-SHA256 Credential=test/20260101/us-west-2/ecs/aws4_request, SignedHeaders=host, Signature=0";
const PCA_AUTH: &str = "AWS4-HMAC-SHA256 Credential=test/20260101/us-west-2/acm-pca/aws4_request, SignedHeaders=host, Signature=0";
/// The same account, another region.
const PCA_AUTH_EU: &str = "AWS4-HMAC-SHA256 Credential=test/20260101/eu-west-1/acm-pca/aws4_request, SignedHeaders=host, Signature=0";
/// Another account, the same region.
const PCA_AUTH_OTHER: &str = "AWS4-HMAC-SHA256 Credential=210987654321/20260101/us-west-2/acm-pca/aws4_request, SignedHeaders=host, Signature=0";
const MISSING_CA: &str = "arn:aws:acm-pca:us-west-2:123456789012:certificate-authority/00000000-0000-4000-8000-000000000000";
const FIELD: &str =
    "serviceConnectConfiguration.services[0].tls.issuerCertificateAuthority.awsPcaAuthorityArn";
/// The validity and renewal the servers of these tests give certificates.
const VALIDITY: i64 = 120;
const ROTATE_AFTER: i64 = 60;

// ---- calls ----------------------------------------------------------------------

fn call(addr: SocketAddr, target: &str, op: &str, auth: &str, body: &Value) -> Raw {
    let t = format!("{target}.{op}");
    post(
        addr,
        "/",
        &[
            ("X-Amz-Target", &t),
            ("Content-Type", "application/x-amz-json-1.1"),
            ("Authorization", auth),
        ],
        body.to_string().as_bytes(),
    )
}

/// The agent each test server's instances are registered by (joined in [`server`]).
static AGENTS: std::sync::Mutex<Vec<(SocketAddr, String)>> = std::sync::Mutex::new(Vec::new());

fn agent(addr: SocketAddr) -> String {
    let agents = AGENTS.lock().unwrap();
    agents
        .iter()
        .find(|(a, _)| *a == addr)
        .map(|(_, auth)| auth.clone())
        .expect("a joined agent")
}

fn ecs(addr: SocketAddr, op: &str, body: Value) -> Value {
    let auth = match op {
        "RegisterContainerInstance" | "SubmitTaskStateChange" => agent(addr),
        _ => AUTH.to_string(),
    };
    let r = call(addr, ECS, op, &auth, &body);
    assert_eq!(r.status, 200, "{op}: {}", r.text());
    r.json()
}

/// An ECS call that must fail: its status and JSON error.
fn ecs_fails(addr: SocketAddr, op: &str, body: &Value) -> (u16, Value) {
    let r = call(addr, ECS, op, AUTH, body);
    (r.status, r.json())
}

fn pca(addr: SocketAddr, auth: &str, op: &str, body: Value) -> Value {
    let r = call(addr, PCA, op, auth, &body);
    assert_eq!(r.status, 200, "{op}: {}", r.text());
    r.json()
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

// ---- certificate authorities ----------------------------------------------------

/// A root CA waiting for its certificate (PENDING_CERTIFICATE), made by `auth`'s
/// account in its region.
fn pending_ca(addr: SocketAddr, auth: &str, name: &str) -> String {
    let out = pca(
        addr,
        auth,
        "CreateCertificateAuthority",
        json!({
            "CertificateAuthorityType": "ROOT",
            "CertificateAuthorityConfiguration": {
                "KeyAlgorithm": "EC_prime256v1", "SigningAlgorithm": "SHA256WITHECDSA",
                "Subject": {"CommonName": name, "Organization": "Example"},
            },
        }),
    );
    out["CertificateAuthorityArn"].as_str().unwrap().to_string()
}

/// An ACTIVE root CA (the documented flow: its CSR, self-issued with the root
/// template, imported) and its certificate (PEM).
fn active_ca(addr: SocketAddr, auth: &str, name: &str) -> (String, String) {
    let ca = pending_ca(addr, auth, name);
    let arn = json!({"CertificateAuthorityArn": ca});
    let csr = pca(addr, auth, "GetCertificateAuthorityCsr", arn.clone())["Csr"]
        .as_str()
        .unwrap()
        .to_string();
    let issued = pca(
        addr,
        auth,
        "IssueCertificate",
        json!({
            "CertificateAuthorityArn": ca, "Csr": b64(&csr), "SigningAlgorithm": "SHA256WITHECDSA",
            "TemplateArn": "arn:aws:acm-pca:::template/RootCACertificate/V1",
            "Validity": {"Value": 10, "Type": "YEARS"},
        }),
    );
    let cert = pca(
        addr,
        auth,
        "GetCertificate",
        json!({"CertificateAuthorityArn": ca, "CertificateArn": issued["CertificateArn"]}),
    );
    let pem = cert["Certificate"].as_str().unwrap().to_string();
    pca(
        addr,
        auth,
        "ImportCertificateAuthorityCertificate",
        json!({"CertificateAuthorityArn": ca, "Certificate": b64(&pem)}),
    );
    let d = pca(addr, auth, "DescribeCertificateAuthority", arn);
    assert_eq!(d["CertificateAuthority"]["Status"], "ACTIVE", "{d}");
    (ca, pem)
}

fn set_status(addr: SocketAddr, ca: &str, status: &str) {
    pca(
        addr,
        PCA_AUTH,
        "UpdateCertificateAuthority",
        json!({"CertificateAuthorityArn": ca, "Status": status}),
    );
}

/// The DER of every certificate of a PEM bundle.
fn ders(pem: &str) -> Vec<Vec<u8>> {
    berth_pki::parse_bundle(pem.as_bytes())
        .unwrap_or_else(|e| panic!("not a certificate bundle ({e}): {pem}"))
        .into_iter()
        .map(|c| c.der)
        .collect()
}

// ---- ECS --------------------------------------------------------------------------

fn tls_block(ca: &str) -> Value {
    json!({
        "issuerCertificateAuthority": {"awsPcaAuthorityArn": ca},
        "kmsKey": "arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "roleArn": "arn:aws:iam::123456789012:role/ecs-service-connect-tls",
    })
}

/// The cluster `c` (default namespace `sc`) and the task definition `web`: the port
/// `web` (8080, HTTP) and the port `admin` (9090, HTTP).
fn cluster_and_task_definition(addr: SocketAddr) {
    ecs(
        addr,
        "CreateCluster",
        json!({"clusterName": "c", "serviceConnectDefaults": {"namespace": "sc"}}),
    );
    ecs(
        addr,
        "RegisterTaskDefinition",
        json!({
            "family": "web", "networkMode": "awsvpc", "cpu": "256", "memory": "512",
            "containerDefinitions": [{"name": "web", "image": "nginx", "essential": true,
                "portMappings": [
                    {"name": "web", "containerPort": 8080, "appProtocol": "http"},
                    {"name": "admin", "containerPort": 9090, "appProtocol": "http"}]}]}),
    );
}

/// CreateService's input for `name` (task definition `web`) with the Service Connect
/// entries `services`.
fn service_input(name: &str, services: Value) -> Value {
    json!({
        "cluster": "c", "serviceName": name, "taskDefinition": "web", "desiredCount": 1,
        "launchType": "FARGATE",
        "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-EXAMPLE"]}},
        "serviceConnectConfiguration": {"enabled": true, "services": services},
    })
}

/// The TLS service `web` of these tests: `web` (discovery `web-api`, alias
/// `frontend:80`) with TLS from `ca`, `admin` without TLS.
fn web_entries(ca: &str) -> Value {
    json!([
        {"portName": "web", "discoveryName": "web-api",
         "clientAliases": [{"port": 80, "dnsName": "frontend"}], "tls": tls_block(ca)},
        {"portName": "admin", "clientAliases": [{"port": 9090}]},
    ])
}

fn describe_service(addr: SocketAddr, name: &str) -> Value {
    ecs(
        addr,
        "DescribeServices",
        json!({"cluster": "c", "services": [name]}),
    )
}

// ---- the agent's side -------------------------------------------------------------

/// A push stream: the lines of its chunked body, one view each.
struct Watch {
    reader: BufReader<TcpStream>,
}

impl Watch {
    fn open(addr: SocketAddr, instance: &str) -> Watch {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let path = format!(
            "/berth/agent/v1/watch?cluster=c&containerInstance={}",
            instance.replace('/', "%2F")
        );
        write!(s, "{}", common::signed_get(addr, &path, &agent(addr))).unwrap();
        let mut reader = BufReader::new(s);
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        assert!(status.contains(" 200 "), "watch: {status}");
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).unwrap();
            if h == "\r\n" {
                break;
            }
        }
        Watch { reader }
    }

    /// Views until one satisfies `f` (heartbeats and chunk framing skipped), for at
    /// most 20 s.
    fn until(&mut self, what: &str, f: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            assert!(Instant::now() < deadline, "no view with {what}");
            let mut line = String::new();
            self.reader
                .read_line(&mut line)
                .expect("a line of the stream");
            let t = line.trim();
            if !t.starts_with('{') {
                continue;
            }
            let v: Value = serde_json::from_str(t).unwrap();
            // The one contract: what the server pushes, the agent reads.
            serde_json::from_value::<View>(v.clone())
                .unwrap_or_else(|e| panic!("not a View ({e}): {v}"));
            if f(&v) {
                return v;
            }
        }
    }

    /// The first view with a task of each of `services`, and those tasks, in order.
    fn tasks_of(&mut self, services: &[&str]) -> Vec<Value> {
        let find = |v: &Value, s: &str| {
            v["tasks"].as_array().and_then(|ts| {
                ts.iter()
                    .find(|t| {
                        t["serviceConnect"]["serviceName"] == s && t["desiredStatus"] == "RUNNING"
                    })
                    .cloned()
            })
        };
        let v = self.until(&format!("tasks of {services:?}"), |v| {
            services.iter().all(|s| find(v, s).is_some())
        });
        services.iter().map(|s| find(&v, s).unwrap()).collect()
    }
}

fn register_instance(addr: SocketAddr) -> String {
    ecs(
        addr,
        "RegisterContainerInstance",
        json!({"cluster": "c", "totalResources": [
            {"name": "CPU", "type": "INTEGER", "integerValue": 4096},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": 8192}]}),
    )["containerInstance"]["containerInstanceArn"]
        .as_str()
        .unwrap()
        .to_string()
}

/// POSTs `body` to the certificate endpoint with the query `query`.
fn certificate_raw(addr: SocketAddr, query: &str, body: &[u8]) -> Raw {
    post(
        addr,
        &format!("{AGENT_CERTIFICATE_PATH}?{query}"),
        &[
            ("Content-Type", "application/json"),
            ("Authorization", &agent(addr)),
        ],
        body,
    )
}

fn instance_query(instance: &str) -> String {
    format!(
        "cluster=c&containerInstance={}",
        instance.replace('/', "%2F")
    )
}

/// A CSR (PEM) for a new P-256 key that asks for a name the server must not give.
fn new_csr() -> (PrivateKey, String) {
    let key = PrivateKey::generate(KeyAlgorithm::EcPrime256v1).unwrap();
    let csr = berth_pki::make_csr(&key, &Subject::common_name("attacker.example")).unwrap();
    (key, csr)
}

/// `csr` (PEM) with the last byte of its signature changed.
fn forged_csr(csr: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let body: String = csr.lines().filter(|l| !l.starts_with("-----")).collect();
    let mut der = b64.decode(body).unwrap();
    *der.last_mut().unwrap() ^= 0x01;
    format!(
        "-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n",
        b64.encode(der)
    )
}

fn request(task: &str, discovery: &str, csr: &str) -> Vec<u8> {
    json!({"taskArn": task, "discoveryName": discovery, "csr": csr})
        .to_string()
        .into_bytes()
}

/// A request the server must refuse: its status, `__type` and message.
fn refused(case: &str, r: &Raw) -> (u16, String, String) {
    assert_ne!(r.status, 200, "{case}: not refused: {}", r.text());
    assert_eq!(
        r.header("content-type"),
        Some("application/x-amz-json-1.1"),
        "{case}: {}",
        r.text()
    );
    let e = r.json();
    let kind = e["__type"].as_str().unwrap_or_default().to_string();
    let message = e["message"].as_str().unwrap_or_default().to_string();
    (r.status, kind, message)
}

/// What tests 2 to 5 start from: a server with short-lived certificates, the cluster,
/// an instance whose push stream is open, an ACTIVE CA, and the TLS service `web`
/// whose task is placed on the instance.
struct World {
    instance: String,
    ca: String,
    ca_pem: String,
    task: String,
    watch: Watch,
}

fn world(addr: SocketAddr) -> World {
    cluster_and_task_definition(addr);
    let instance = register_instance(addr);
    let mut watch = Watch::open(addr, &instance);
    let (ca, ca_pem) = active_ca(addr, PCA_AUTH, "Root");
    ecs(
        addr,
        "CreateService",
        service_input("web", web_entries(&ca)),
    );
    let task = watch.tasks_of(&["web"]).remove(0);
    let task = task["taskArn"].as_str().unwrap().to_string();
    World {
        instance,
        ca,
        ca_pem,
        task,
        watch,
    }
}

async fn server() -> TestServer {
    let s = TestServer::start_with(|c| {
        c.network_files.push(common::seed002_network());
        c.tls = TlsSettings {
            validity: VALIDITY,
            rotate_after: ROTATE_AFTER,
        };
    })
    .await;
    let (addr, dir) = (s.addr(), s.dir.path().to_path_buf());
    let auth =
        tokio::task::spawn_blocking(move || common::join_agent(addr, &dir, "us-west-2", "c"))
            .await
            .unwrap();
    AGENTS.lock().unwrap().push((addr, auth));
    s
}

// ---- 1. CreateService and UpdateService check the tls block ------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_and_update_service_check_the_authority() {
    let s = server().await;
    let addr = s.addr();
    tokio::task::spawn_blocking(move || {
        cluster_and_task_definition(addr);
        let (active, _) = active_ca(addr, PCA_AUTH, "Root");
        let pending = pending_ca(addr, PCA_AUTH, "Pending");
        let (disabled, _) = active_ca(addr, PCA_AUTH, "Disabled");
        set_status(addr, &disabled, "DISABLED");
        let (elsewhere, _) = active_ca(addr, PCA_AUTH_EU, "Elsewhere");
        assert!(elsewhere.starts_with("arn:aws:acm-pca:eu-west-1:123456789012:"), "{elsewhere}");
        let (foreign, _) = active_ca(addr, PCA_AUTH_OTHER, "Foreign");
        assert!(foreign.starts_with("arn:aws:acm-pca:us-west-2:210987654321:"), "{foreign}");

        let entry = |tls: Value| json!([{"portName": "web", "tls": tls}]);
        let with_arn = |arn: &str| entry(json!({"issuerCertificateAuthority": {"awsPcaAuthorityArn": arn}}));
        let not_an_arn = "is not a valid AWS Private CA certificate authority ARN";
        let table: Vec<(&str, Value, String)> = vec![
            ("malformed ARN", with_arn("not-an-arn"), not_an_arn.into()),
            ("another service's ARN", with_arn("arn:aws:ecs:us-west-2:123456789012:cluster/c"), not_an_arn.into()),
            ("a CA ARN without a valid id", with_arn("arn:aws:acm-pca:us-west-2:123456789012:certificate-authority/x"), not_an_arn.into()),
            ("no such CA", with_arn(MISSING_CA), format!("the certificate authority {MISSING_CA} does not exist.")),
            ("a CA in another region", with_arn(&elsewhere), format!("the certificate authority {elsewhere} is in eu-west-1; the service is in us-west-2.")),
            ("a CA of another account", with_arn(&foreign), format!("the certificate authority {foreign} belongs to another account.")),
            ("a CA without its certificate", with_arn(&pending), format!("the certificate authority {pending} is PENDING_CERTIFICATE; Service Connect TLS needs an ACTIVE one.")),
            ("a disabled CA", with_arn(&disabled), format!("the certificate authority {disabled} is DISABLED; Service Connect TLS needs an ACTIVE one.")),
            ("no issuerCertificateAuthority", entry(json!({})), "is required.".into()),
            ("no awsPcaAuthorityArn", entry(json!({"issuerCertificateAuthority": {}})), "is required.".into()),
        ];

        // A service without TLS to update.
        ecs(addr, "CreateService", service_input("plain", json!([{"portName": "web"}])));
        // What an update would change: the deployments and their configuration (the
        // scheduler moves the counts meanwhile).
        let shape = |name: &str| -> Vec<Value> {
            let d = describe_service(addr, name);
            d["services"][0]["deployments"]
                .as_array()
                .unwrap_or_else(|| panic!("{d}"))
                .iter()
                .map(|x| json!([x["id"], x["status"], x["taskDefinition"], x["serviceConnectConfiguration"]]))
                .collect()
        };
        let before = shape("plain");
        assert_eq!(before.len(), 1, "{before:?}");

        for (case, services, needle) in &table {
            // CreateService: refused, nothing stored.
            let (status, e) = ecs_fails(addr, "CreateService", &service_input("svc", services.clone()));
            assert_eq!(status, 400, "CreateService, {case}: {e}");
            assert_eq!(e["__type"], "InvalidParameterException", "CreateService, {case}: {e}");
            let message = e["message"].as_str().unwrap_or_default();
            assert!(message.starts_with(FIELD), "CreateService, {case}: {message:?} does not name {FIELD}");
            assert!(message.contains(needle.as_str()), "CreateService, {case}: {message:?} lacks {needle:?}");
            let d = describe_service(addr, "svc");
            assert_eq!(d["services"], json!([]), "CreateService, {case} stored a service: {d}");
            assert_eq!(d["failures"][0]["reason"], "MISSING", "{case}: {d}");

            // UpdateService: refused, the service as it was.
            let update = json!({"cluster": "c", "service": "plain",
                "serviceConnectConfiguration": {"enabled": true, "services": services}});
            let (status, e) = ecs_fails(addr, "UpdateService", &update);
            assert_eq!(status, 400, "UpdateService, {case}: {e}");
            assert_eq!(e["__type"], "InvalidParameterException", "UpdateService, {case}: {e}");
            let message = e["message"].as_str().unwrap_or_default();
            assert!(message.starts_with(FIELD), "UpdateService, {case}: {message:?} does not name {FIELD}");
            assert!(message.contains(needle.as_str()), "UpdateService, {case}: {message:?} lacks {needle:?}");
            assert_eq!(shape("plain"), before, "UpdateService, {case} changed the service");
        }

        // An ACTIVE CA: created, and `tls` echoed as given.
        let good = json!([{"portName": "web", "discoveryName": "svc", "tls": tls_block(&active)}]);
        let out = ecs(addr, "CreateService", service_input("svc", good));
        assert_eq!(out["service"]["serviceName"], "svc");
        let d = describe_service(addr, "svc");
        let sc = &d["services"][0]["deployments"][0]["serviceConnectConfiguration"];
        assert_eq!(sc["services"][0]["tls"], tls_block(&active), "{sc}");

        // UpdateService to it: a new deployment with TLS.
        let update = json!({"cluster": "c", "service": "plain",
            "serviceConnectConfiguration": {"enabled": true,
                "services": [{"portName": "web", "tls": tls_block(&active)}]}});
        let out = ecs(addr, "UpdateService", update);
        let primary = out["service"]["deployments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["status"] == "PRIMARY")
            .cloned()
            .unwrap();
        assert_eq!(primary["serviceConnectConfiguration"]["services"][0]["tls"], tls_block(&active), "{primary}");
        assert_eq!(shape("plain").len(), 2);
    })
    .await
    .unwrap();
}

// ---- 2. Issuance through the agent endpoint ----------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_gets_its_certificate() {
    let s = server().await;
    let addr = s.addr();
    let dir = s.dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let w = world(addr);
        let (key, csr) = new_csr();
        let asked_at = now();
        let r = certificate_raw(
            addr,
            &instance_query(&w.instance),
            &request(&w.task, "web-api", &csr),
        );
        let answered_at = now();
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("content-type"), Some("application/json"));
        let issued: IssuedCertificate = serde_json::from_slice(&r.body)
            .unwrap_or_else(|e| panic!("not an IssuedCertificate ({e}): {}", r.text()));

        // The chain: the leaf, then the CA's certificate; it verifies to the CA.
        let chain = berth_pki::parse_bundle(issued.certificate_chain.as_bytes()).unwrap();
        assert_eq!(chain.len(), 2, "{}", issued.certificate_chain);
        let (leaf, ca) = (&chain[0], &chain[1]);
        assert_eq!(
            ders(&w.ca_pem),
            vec![ca.der.clone()],
            "the chain ends with another CA"
        );
        berth_pki::verify_chain(&chain).unwrap();
        assert!(!leaf.is_ca);
        openssl_verifies(&dir, &leaf.pem(), &w.ca_pem);

        // The names are the server's: the alias, the discovery name, and the
        // discovery name in the namespace; the identity is the service's.
        let dns: BTreeSet<&str> = leaf.names.dns_names.iter().map(String::as_str).collect();
        assert_eq!(
            dns,
            BTreeSet::from(["frontend", "web-api", "web-api.sc"]),
            "{:?}",
            leaf.names
        );
        assert_eq!(leaf.names.dns_names.len(), 3, "{:?}", leaf.names);
        assert_eq!(leaf.names.uris, ["spiffe://sc/c/web"]);
        assert!(leaf.names.ip_addresses.is_empty(), "{:?}", leaf.names);
        assert_ne!(
            leaf.subject.common_name.as_deref(),
            Some("attacker.example")
        );

        // The key is the CSR's.
        assert!(leaf.matches_key(&key), "the certificate is for another key");
        assert_eq!(leaf.public_key_der, key.public_key_der());

        // The times: as the answer says, valid for the server's validity from the
        // request (backdated at most a minute for clocks that differ), renewed after
        // rotate_after.
        assert_eq!(issued.serial, leaf.serial);
        assert_eq!(
            (issued.not_before, issued.not_after),
            (leaf.not_before, leaf.not_after)
        );
        assert!(
            (asked_at + VALIDITY..=answered_at + VALIDITY).contains(&issued.not_after),
            "notAfter {} is not {VALIDITY} s after the request ({asked_at}..{answered_at})",
            issued.not_after
        );
        assert!(
            (asked_at - 60..=answered_at).contains(&issued.not_before),
            "notBefore {} ({asked_at}..{answered_at})",
            issued.not_before
        );
        let lifetime = issued.not_after - issued.not_before;
        assert!(
            (VALIDITY..=VALIDITY + 60).contains(&lifetime),
            "lifetime {lifetime}"
        );
        assert!(
            (asked_at + ROTATE_AFTER..=answered_at + ROTATE_AFTER).contains(&issued.rotate_at),
            "rotateAt {} is not {ROTATE_AFTER} s after the request ({asked_at}..{answered_at})",
            issued.rotate_at
        );

        // A second request (a renewal): a new certificate, the same names.
        let (key2, csr2) = new_csr();
        let r = certificate_raw(
            addr,
            &instance_query(&w.instance),
            &request(&w.task, "web-api", &csr2),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        let again: IssuedCertificate = serde_json::from_slice(&r.body).unwrap();
        let leaf2 = berth_pki::parse_bundle(again.certificate_chain.as_bytes())
            .unwrap()
            .remove(0);
        assert_ne!(again.serial, issued.serial);
        assert!(leaf2.matches_key(&key2) && !leaf2.matches_key(&key));
        assert_eq!(leaf2.names, leaf.names);
    })
    .await
    .unwrap();
}

/// `openssl verify` agrees: the leaf verifies against the CA for both TLS ends.
fn openssl_verifies(dir: &std::path::Path, leaf: &str, ca: &str) {
    let (leaf_path, ca_path) = (dir.join("leaf.pem"), dir.join("ca.pem"));
    std::fs::write(&leaf_path, leaf).unwrap();
    std::fs::write(&ca_path, ca).unwrap();
    for purpose in ["sslserver", "sslclient"] {
        let out = std::process::Command::new("openssl")
            .args(["verify", "-purpose", purpose, "-CAfile"])
            .arg(&ca_path)
            .arg(&leaf_path)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl verify -purpose {purpose}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

// ---- 3. The view carries TLS -------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_carry_the_authorities() {
    let s = server().await;
    let addr = s.addr();
    tokio::task::spawn_blocking(move || {
        let mut w = world(addr);
        // A second TLS service with its own CA that requires client certificates, and
        // a client that serves nothing.
        let (ca2, ca2_pem) = active_ca(addr, PCA_AUTH, "Second");
        let mut secure = service_input(
            "secure",
            json!([{"portName": "web", "discoveryName": "secure", "clientAliases": [{"port": 443}],
                "tls": tls_block(&ca2)}]),
        );
        secure["tags"] = json!([{"key": "berth:mtls", "value": "required"}]);
        ecs(addr, "CreateService", secure);
        let mut client = service_input("client", json!([]));
        client["serviceConnectConfiguration"] = json!({"enabled": true});
        ecs(addr, "CreateService", client);

        // Every CA of the namespace's TLS services, once each.
        let both: BTreeSet<Vec<u8>> = ders(&w.ca_pem).into_iter().chain(ders(&ca2_pem)).collect();
        let v = w.watch.until("the three tasks, both CAs trusted", |v| {
            let ts = v["tasks"].as_array().unwrap();
            let has = |s: &str| ts.iter().any(|t| t["serviceConnect"]["serviceName"] == s);
            has("secure")
                && has("client")
                && ts.iter().any(|t| {
                    t["serviceConnect"]["serviceName"] == "web"
                        && t["serviceConnect"]["ingress"][0]["tls"]["clientTrust"]
                            .as_str()
                            .is_some_and(|p| ders(p).len() == 2)
                })
        });
        let task = |name: &str| {
            v["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["serviceConnect"]["serviceName"] == name)
                .unwrap_or_else(|| panic!("no task of {name}: {v}"))
                .clone()
        };
        let (web, secure, client) = (task("web"), task("secure"), task("client"));

        // web: TLS on `web-api` from its CA, clients' certificates optional; `admin`
        // is plain.
        let ingress = &web["serviceConnect"]["ingress"];
        assert_eq!(ingress[0]["discoveryName"], "web-api");
        let tls = &ingress[0]["tls"];
        assert_eq!(tls["authorityArn"], w.ca.as_str(), "{tls}");
        let trust: BTreeSet<Vec<u8>> = ders(tls["clientTrust"].as_str().unwrap())
            .into_iter()
            .collect();
        assert_eq!(trust, both, "clientTrust is not the namespace's CAs");
        assert_eq!(tls["requireClientCertificate"], false, "{tls}");
        assert_eq!(ingress[1]["discoveryName"], "admin");
        assert!(ingress[1].get("tls").is_none(), "{}", ingress[1]);

        // secure: its own CA, client certificates required (the tag).
        let tls = &secure["serviceConnect"]["ingress"][0]["tls"];
        assert_eq!(tls["authorityArn"], ca2.as_str(), "{tls}");
        assert_eq!(tls["requireClientCertificate"], true, "{tls}");
        let trust: BTreeSet<Vec<u8>> = ders(tls["clientTrust"].as_str().unwrap())
            .into_iter()
            .collect();
        assert_eq!(trust, both);

        // client: serves nothing, and reaches each TLS upstream verified by its CA.
        let sc = &client["serviceConnect"];
        assert_eq!(sc["ingress"], json!([]), "{sc}");
        let up = &sc["upstreams"];
        assert_eq!(up["web-api"]["tls"]["authorityArn"], w.ca.as_str(), "{up}");
        assert_eq!(
            ders(up["web-api"]["tls"]["trust"].as_str().unwrap()),
            ders(&w.ca_pem)
        );
        assert_eq!(up["secure"]["tls"]["authorityArn"], ca2.as_str(), "{up}");
        assert_eq!(
            ders(up["secure"]["tls"]["trust"].as_str().unwrap()),
            ders(&ca2_pem)
        );
        assert!(up["admin"].get("tls").is_none(), "{}", up["admin"]);
        // Every task sees the same upstreams.
        assert_eq!(web["serviceConnect"]["upstreams"], *up);
    })
    .await
    .unwrap();
}

// ---- 4. Refusals -------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_certificate_requests_are_refused() {
    let s = server().await;
    let addr = s.addr();
    tokio::task::spawn_blocking(move || {
        let w = world(addr);
        let other = register_instance(addr);
        let (_, good) = new_csr();
        let mine = instance_query(&w.instance);
        let unknown =
            w.task.rsplit_once('/').unwrap().0.to_string() + "/0123456789abcdef0123456789abcdef";
        let forged = forged_csr(&good);
        let cases: Vec<(&str, String, Vec<u8>, &str, String)> = vec![
            (
                "a task of another instance",
                instance_query(&other),
                request(&w.task, "web-api", &good),
                "ClientException",
                format!(
                    "the task {} is not placed on the container instance",
                    w.task
                ),
            ),
            (
                "an unknown task",
                mine.clone(),
                request(&unknown, "web-api", &good),
                "InvalidParameterException",
                format!("taskArn: the task {unknown} does not exist."),
            ),
            (
                "a service without TLS",
                mine.clone(),
                request(&w.task, "admin", &good),
                "InvalidParameterException",
                "discoveryName: the task".to_string()
                    + &format!(
                        " {} serves no Service Connect service 'admin' with TLS.",
                        w.task
                    ),
            ),
            (
                "no such service",
                mine.clone(),
                request(&w.task, "nope", &good),
                "InvalidParameterException",
                "serves no Service Connect service 'nope' with TLS.".into(),
            ),
            (
                "a CSR that is no CSR",
                mine.clone(),
                request(&w.task, "web-api", "junk"),
                "InvalidParameterException",
                "malformed CSR".into(),
            ),
            (
                "a CSR its key did not sign",
                mine.clone(),
                request(&w.task, "web-api", &forged),
                "InvalidParameterException",
                "malformed CSR: the CSR is not signed by the key it carries".into(),
            ),
            (
                "a body that is not JSON",
                mine.clone(),
                b"taskArn=x".to_vec(),
                "InvalidParameterException",
                "body: ".into(),
            ),
            (
                "a body without its CSR",
                mine.clone(),
                json!({"taskArn": w.task, "discoveryName": "web-api"})
                    .to_string()
                    .into_bytes(),
                "InvalidParameterException",
                "csr".into(),
            ),
            (
                "no container instance",
                "cluster=c".into(),
                request(&w.task, "web-api", &good),
                "InvalidParameterException",
                "containerInstance is required.".into(),
            ),
            (
                "another cluster",
                format!(
                    "cluster=other&containerInstance={}",
                    w.instance.replace('/', "%2F")
                ),
                request(&w.task, "web-api", &good),
                "AccessDeniedException",
                "it joined cluster 'c'".into(),
            ),
        ];
        for (case, query, body, kind, needle) in &cases {
            let r = certificate_raw(addr, query, body);
            let (status, got_kind, message) = refused(case, &r);
            let want = if *kind == "AccessDeniedException" {
                403
            } else {
                400
            };
            assert_eq!(status, want, "{case}: {}", r.text());
            assert_eq!(got_kind, *kind, "{case}: {}", r.text());
            assert!(
                message.contains(needle.as_str()),
                "{case}: {message:?} lacks {needle:?}"
            );
        }

        // The server still serves: the task gets its certificate.
        let r = certificate_raw(addr, &mine, &request(&w.task, "web-api", &good));
        assert_eq!(r.status, 200, "{}", r.text());

        // A stopping task gets nothing.
        let (_, csr2) = new_csr();
        ecs(addr, "StopTask", json!({"cluster": "c", "task": w.task}));
        let r = certificate_raw(addr, &mine, &request(&w.task, "web-api", &csr2));
        let (status, kind, message) = refused("a stopping task", &r);
        assert_eq!(
            (status, kind.as_str()),
            (400, "InvalidParameterException"),
            "{}",
            r.text()
        );
        assert!(
            message.contains(&format!("the task {} is stopping.", w.task)),
            "{message}"
        );

        // None of these was the CA's doing: no event of a failed certificate.
        let events = describe_service(addr, "web")["services"][0]["events"].clone();
        assert!(!events.to_string().contains("TLS certificate"), "{events}");
    })
    .await
    .unwrap();
}

// ---- 5. A CA disabled after the service was created --------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_authority_issues_nothing_and_says_so_once() {
    let s = server().await;
    let addr = s.addr();
    tokio::task::spawn_blocking(move || {
        let w = world(addr);
        let query = instance_query(&w.instance);
        let (_, csr) = new_csr();
        let body = request(&w.task, "web-api", &csr);
        let r = certificate_raw(addr, &query, &body);
        assert_eq!(r.status, 200, "{}", r.text());

        set_status(addr, &w.ca, "DISABLED");
        for attempt in 0..2 {
            let r = certificate_raw(addr, &query, &body);
            let (status, kind, message) = refused("a disabled CA", &r);
            assert_eq!(
                (status, kind.as_str()),
                (400, "InvalidParameterException"),
                "attempt {attempt}: {}",
                r.text()
            );
            assert!(
                message.contains(&w.ca),
                "attempt {attempt}: {message:?} does not name the CA"
            );
            assert!(
                message.contains("DISABLED"),
                "attempt {attempt}: {message:?}"
            );
        }
        let events = describe_service(addr, "web")["services"][0]["events"].clone();
        let about: Vec<&str> = events
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["message"].as_str())
            .filter(|m| m.contains("TLS certificate"))
            .collect();
        assert_eq!(about.len(), 1, "{events}");
        let expected = format!(
            "(service web) was unable to get a TLS certificate for task {}",
            w.task
        );
        assert!(about[0].starts_with(&expected), "{:?}", about[0]);
        assert!(
            about[0].contains(&w.ca) && about[0].contains("DISABLED"),
            "{:?}",
            about[0]
        );

        // Enabled again: issued again, and no new event.
        set_status(addr, &w.ca, "ACTIVE");
        let r = certificate_raw(addr, &query, &body);
        assert_eq!(r.status, 200, "{}", r.text());
        let issued: IssuedCertificate = serde_json::from_slice(&r.body).unwrap();
        let chain: Vec<CertInfo> =
            berth_pki::parse_bundle(issued.certificate_chain.as_bytes()).unwrap();
        berth_pki::verify_chain(&chain).unwrap();
        let after = describe_service(addr, "web")["services"][0]["events"].clone();
        assert_eq!(after, events);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tasks_asking_in_turn_make_one_event_each() {
    let s = server().await;
    let addr = s.addr();
    tokio::task::spawn_blocking(move || {
        let mut w = world(addr);
        ecs(
            addr,
            "UpdateService",
            json!({"cluster": "c", "service": "web", "desiredCount": 2}),
        );
        let v = w
            .watch
            .until("two tasks", |v| v["tasks"].as_array().unwrap().len() == 2);
        let tasks: Vec<String> = v["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["taskArn"].as_str().unwrap().to_string())
            .collect();
        let query = instance_query(&w.instance);
        let (_, csr) = new_csr();
        set_status(addr, &w.ca, "DISABLED");
        // Agents retry a failed renewal every few seconds, each task on its own: the
        // tasks' requests come in turn.
        for round in 0..3 {
            for task in &tasks {
                let r = certificate_raw(addr, &query, &request(task, "web-api", &csr));
                assert_eq!(r.status, 400, "round {round}: {}", r.text());
            }
        }
        let events = describe_service(addr, "web")["services"][0]["events"].clone();
        let about: Vec<&str> = events
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["message"].as_str())
            .filter(|m| m.contains("TLS certificate"))
            .collect();
        assert_eq!(about.len(), 2, "one event per task: {events:#}");
        for task in &tasks {
            assert!(
                about.iter().any(|m| m.contains(task.as_str())),
                "{task}: {about:?}"
            );
        }
    })
    .await
    .unwrap();
}
