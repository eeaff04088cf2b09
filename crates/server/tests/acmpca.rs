//! AWS Private CA through the front: AWS JSON 1.1 as botocore and the SDKs write it,
//! RPCv2-CBOR as newer botocore prefers, and every operation's bad input answered
//! with ACM PCA's codes, naming the member.

mod common;

use std::net::SocketAddr;

use base64::Engine;
use common::{post, Raw, TestServer};
use serde_json::{json, Value};

const TARGET: &str = "ACMPrivateCA";
const MISSING_CA: &str =
    "arn:aws:acm-pca:us-west-2:123456789012:certificate-authority/00000000-0000-4000-8000-000000000000";
const AUTH: &str = "AWS4-HMAC-SHA256 Credential=test/20260101/us-west-2/acm-pca/aws4_request, SignedHeaders=host, Signature=0";

fn pca(addr: SocketAddr, op: &str, body: &Value) -> Raw {
    let target = format!("{TARGET}.{op}");
    let headers = [
        ("X-Amz-Target", target.as_str()),
        ("Content-Type", "application/x-amz-json-1.1"),
        ("Authorization", AUTH),
    ];
    post(addr, "/", &headers, body.to_string().as_bytes())
}

fn ok(addr: SocketAddr, op: &str, body: Value) -> Value {
    let r = pca(addr, op, &body);
    assert_eq!(r.status, 200, "{op}: {}", String::from_utf8_lossy(&r.body));
    r.json()
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn create_root(addr: SocketAddr) -> String {
    let out = ok(
        addr,
        "CreateCertificateAuthority",
        json!({
            "CertificateAuthorityType": "ROOT",
            "CertificateAuthorityConfiguration": {
                "KeyAlgorithm": "EC_prime256v1", "SigningAlgorithm": "SHA256WITHECDSA",
                "Subject": {"CommonName": "Root", "Organization": "Example"},
            },
        }),
    );
    out["CertificateAuthorityArn"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_root_ca_over_json() {
    let s = TestServer::start().await;
    let addr = s.addr();
    tokio::task::spawn_blocking(move || {
        let ca = create_root(addr);
        assert!(ca.starts_with("arn:aws:acm-pca:us-west-2:123456789012:certificate-authority/"));
        let arn = json!({"CertificateAuthorityArn": ca});
        let csr = ok(addr, "GetCertificateAuthorityCsr", arn.clone())["Csr"].as_str().unwrap().to_string();
        let issued = ok(addr, "IssueCertificate", json!({
            "CertificateAuthorityArn": ca, "Csr": b64(&csr), "SigningAlgorithm": "SHA256WITHECDSA",
            "TemplateArn": "arn:aws:acm-pca:::template/RootCACertificate/V1",
            "Validity": {"Value": 10, "Type": "YEARS"},
        }));
        let cert = ok(addr, "GetCertificate", json!({"CertificateAuthorityArn": ca, "CertificateArn": issued["CertificateArn"]}));
        let pem = cert["Certificate"].as_str().unwrap();
        ok(addr, "ImportCertificateAuthorityCertificate", json!({"CertificateAuthorityArn": ca, "Certificate": b64(pem)}));
        let d = ok(addr, "DescribeCertificateAuthority", arn.clone());
        let a = &d["CertificateAuthority"];
        assert_eq!(a["Status"], "ACTIVE");
        assert!(a["CreatedAt"].is_f64() || a["CreatedAt"].is_u64(), "{a}");
        assert!(a["NotAfter"].as_f64().unwrap() > a["NotBefore"].as_f64().unwrap());
        let got = ok(addr, "GetCertificateAuthorityCertificate", arn);
        assert_eq!(got["Certificate"].as_str().unwrap(), pem);
        let listed = ok(addr, "ListCertificateAuthorities", json!({}));
        assert_eq!(listed["CertificateAuthorities"][0]["Arn"], json!(ca));
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_v2_cbor_creates_and_describes() {
    let s = TestServer::start().await;
    let addr = s.addr();
    tokio::task::spawn_blocking(move || {
        let headers = [
            ("Content-Type", "application/cbor"),
            ("smithy-protocol", "rpc-v2-cbor"),
            ("Accept", "application/cbor"),
            ("Authorization", AUTH),
        ];
        let call = |op: &str, v: Value| {
            let path = format!("/service/{TARGET}/operation/{op}");
            let r = post(addr, &path, &headers, &berth_awsproto::json_to_cbor(&v, &[]));
            (r.status, berth_awsproto::cbor_to_json(&r.body).unwrap())
        };
        let (status, out) = call("CreateCertificateAuthority", json!({
            "CertificateAuthorityType": "ROOT",
            "CertificateAuthorityConfiguration": {
                "KeyAlgorithm": "RSA_2048", "SigningAlgorithm": "SHA256WITHRSA", "Subject": {"CommonName": "C"},
            },
        }));
        assert_eq!(status, 200, "{out}");
        let (status, d) = call("DescribeCertificateAuthority", json!({"CertificateAuthorityArn": out["CertificateAuthorityArn"]}));
        assert_eq!(status, 200, "{d}");
        assert_eq!(d["CertificateAuthority"]["Status"], "PENDING_CERTIFICATE");
        assert!(d["CertificateAuthority"]["CreatedAt"].as_f64().is_some(), "{d}");
        let (status, e) = call("DescribeCertificateAuthority", json!({"CertificateAuthorityArn": "nope"}));
        assert_eq!((status, e["__type"].as_str()), (400, Some("InvalidArnException")), "{e}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_names_the_bad_member() {
    let s = TestServer::start().await;
    let addr = s.addr();
    tokio::task::spawn_blocking(move || {
        let ca = create_root(addr);
        let cfg = |k: &str, sa: &str, subject: Value| json!({"CertificateAuthorityType": "ROOT", "CertificateAuthorityConfiguration": {"KeyAlgorithm": k, "SigningAlgorithm": sa, "Subject": subject}});
        let cn = json!({"CommonName": "x"});
        let issue = |extra: Value| {
            let mut v = json!({"CertificateAuthorityArn": ca, "Csr": b64("junk"), "SigningAlgorithm": "SHA256WITHECDSA", "Validity": {"Value": 1, "Type": "DAYS"}});
            v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            v
        };
        let table: Vec<(&str, Value, &str, &str)> = vec![
            ("CreateCertificateAuthority", json!({}), "ValidationException", "CertificateAuthorityConfiguration"),
            ("CreateCertificateAuthority", json!({"CertificateAuthorityType": "ROOT"}), "ValidationException", "CertificateAuthorityConfiguration"),
            ("CreateCertificateAuthority", json!({"CertificateAuthorityType": "INTERMEDIATE", "CertificateAuthorityConfiguration": {}}), "ValidationException", "CertificateAuthorityType"),
            ("CreateCertificateAuthority", cfg("EC_prime256v1", "SHA256WITHRSA", cn.clone()), "InvalidArgsException", "SigningAlgorithm"),
            ("CreateCertificateAuthority", cfg("SM2", "SM3WITHSM2", cn.clone()), "InvalidArgsException", "KeyAlgorithm SM2"),
            ("CreateCertificateAuthority", cfg("EC_prime256v1", "SHA256WITHECDSA", json!({})), "InvalidArgsException", "Subject"),
            ("CreateCertificateAuthority", cfg("EC_prime256v1", "SHA256WITHECDSA", json!({"Country": "USA"})), "ValidationException", "Subject.Country"),
            ("CreateCertificateAuthority", cfg("EC_prime256v1", "SHA256WITHECDSA", json!({"CommonName": "x".repeat(65)})), "ValidationException", "Subject.CommonName"),
            ("CreateCertificateAuthority", {let mut v = cfg("EC_prime256v1", "SHA256WITHECDSA", cn.clone()); v["Tags"] = json!([{"Key": "aws:x"}]); v}, "InvalidTagException", "Tags.1"),
            ("CreateCertificateAuthority", {let mut v = cfg("EC_prime256v1", "SHA256WITHECDSA", cn.clone()); v["IdempotencyToken"] = json!("x".repeat(37)); v}, "ValidationException", "IdempotencyToken"),
            ("CreateCertificateAuthority", {let mut v = cfg("EC_prime256v1", "SHA256WITHECDSA", cn.clone()); v["UsageMode"] = json!("SOMETIMES"); v}, "ValidationException", "UsageMode"),
            ("DescribeCertificateAuthority", json!({}), "ValidationException", "CertificateAuthorityArn"),
            ("DescribeCertificateAuthority", json!({"CertificateAuthorityArn": "arn:aws:acm-pca:us-west-2:123456789012:certificate-authority/x"}), "InvalidArnException", "is not valid"),
            ("DescribeCertificateAuthority", json!({"CertificateAuthorityArn": MISSING_CA}), "ResourceNotFoundException", MISSING_CA),
            ("ListCertificateAuthorities", json!({"MaxResults": 1001}), "ValidationException", "MaxResults"),
            ("ListCertificateAuthorities", json!({"NextToken": "%%%"}), "InvalidNextTokenException", "NextToken"),
            ("ListCertificateAuthorities", json!({"ResourceOwner": "EVERYONE"}), "ValidationException", "ResourceOwner"),
            ("GetCertificateAuthorityCsr", json!({"CertificateAuthorityArn": MISSING_CA}), "ResourceNotFoundException", MISSING_CA),
            ("GetCertificateAuthorityCertificate", json!({"CertificateAuthorityArn": ca}), "InvalidStateException", "PENDING_CERTIFICATE"),
            ("ImportCertificateAuthorityCertificate", json!({"CertificateAuthorityArn": ca}), "ValidationException", "Certificate"),
            ("ImportCertificateAuthorityCertificate", json!({"CertificateAuthorityArn": ca, "Certificate": b64("junk")}), "MalformedCertificateException", "Certificate"),
            ("ImportCertificateAuthorityCertificate", json!({"CertificateAuthorityArn": ca, "Certificate": "!!not base64"}), "SerializationException", "Certificate"),
            ("IssueCertificate", json!({"CertificateAuthorityArn": ca}), "ValidationException", "Csr"),
            ("IssueCertificate", issue(json!({"Validity": {"Value": 1}})), "ValidationException", "Validity.Type"),
            ("IssueCertificate", issue(json!({"Validity": {"Value": 0, "Type": "DAYS"}})), "ValidationException", "Validity.Value"),
            ("IssueCertificate", issue(json!({"ValidityNotBefore": {"Value": 1, "Type": "DAYS"}})), "InvalidArgsException", "ValidityNotBefore.Type"),
            ("IssueCertificate", issue(json!({"TemplateArn": "arn:aws:acm-pca:::template/CodeSigningCertificate/V1"})), "InvalidArgsException", "TemplateArn"),
            ("IssueCertificate", issue(json!({"TemplateArn": "template"})), "InvalidArnException", "template"),
            ("IssueCertificate", issue(json!({"ApiPassthrough": {}})), "InvalidArgsException", "ApiPassthrough"),
            ("IssueCertificate", issue(json!({})), "InvalidStateException", "PENDING_CERTIFICATE"),
            ("IssueCertificate", issue(json!({"SigningAlgorithm": "SHA256WITHRSA"})), "InvalidArgsException", "SigningAlgorithm"),
            ("GetCertificate", json!({"CertificateAuthorityArn": ca}), "ValidationException", "CertificateArn"),
            ("GetCertificate", json!({"CertificateAuthorityArn": ca, "CertificateArn": "x"}), "InvalidArnException", "x"),
            ("GetCertificate", json!({"CertificateAuthorityArn": ca, "CertificateArn": format!("{ca}/certificate/0123456789abcdef0123456789abcdef")}), "ResourceNotFoundException", "certificate/"),
            ("UpdateCertificateAuthority", json!({"CertificateAuthorityArn": ca, "Status": "ACTIVE"}), "InvalidStateException", "PENDING_CERTIFICATE"),
            ("UpdateCertificateAuthority", json!({"CertificateAuthorityArn": ca, "Status": "EXPIRED"}), "InvalidArgsException", "Status"),
            ("UpdateCertificateAuthority", json!({"CertificateAuthorityArn": ca, "RevocationConfiguration": {"CrlConfiguration": {}}}), "ValidationException", "Enabled"),
            ("DeleteCertificateAuthority", json!({"CertificateAuthorityArn": ca, "PermanentDeletionTimeInDays": 31}), "ValidationException", "PermanentDeletionTimeInDays"),
            ("RestoreCertificateAuthority", json!({"CertificateAuthorityArn": ca}), "InvalidStateException", "only a deleted CA"),
            ("TagCertificateAuthority", json!({"CertificateAuthorityArn": ca}), "ValidationException", "Tags"),
            ("TagCertificateAuthority", json!({"CertificateAuthorityArn": ca, "Tags": []}), "ValidationException", "Tags"),
            ("TagCertificateAuthority", json!({"CertificateAuthorityArn": ca, "Tags": [{"Key": "a#b"}]}), "InvalidTagException", "Tags.1"),
            ("TagCertificateAuthority", json!({"CertificateAuthorityArn": ca, "Tags": [{"Value": "v"}]}), "ValidationException", "Tags.1.Key"),
            ("UntagCertificateAuthority", json!({"CertificateAuthorityArn": MISSING_CA, "Tags": [{"Key": "a"}]}), "ResourceNotFoundException", MISSING_CA),
            ("ListTags", json!({"CertificateAuthorityArn": ca, "MaxResults": 0}), "ValidationException", "MaxResults"),
            ("ListTags", json!({"CertificateAuthorityArn": "arn:aws:acm-pca:eu-west-1:123456789012:certificate-authority/00000000-0000-4000-8000-000000000000"}), "ResourceNotFoundException", "eu-west-1"),
            ("RevokeCertificate", json!({}), "UnknownOperationException", "RevokeCertificate"),
        ];
        for (op, body, code, needle) in table {
            let r = pca(addr, op, &body);
            let e = r.json();
            assert_eq!(r.status, 400, "{op} {body}: {e}");
            assert_eq!(e["__type"], code, "{op} {body}: {e}");
            let message = e["message"].as_str().unwrap_or_default();
            assert!(message.contains(needle), "{op} {body}: {message:?} lacks {needle:?}");
        }
        // Nothing of that was written: the CA is still pending.
        let d = ok(addr, "DescribeCertificateAuthority", json!({"CertificateAuthorityArn": ca}));
        assert_eq!(d["CertificateAuthority"]["Status"], "PENDING_CERTIFICATE");
    })
    .await
    .unwrap();
}
