//! The API end to end on a temporary store, and the state tables.

use std::sync::Arc;

use base64::Engine;
use berth_awsproto::{Api, ApiError, Context};
use berth_pki::{
    make_csr, parse_bundle, parse_certificate, verify_chain, KeyAlgorithm as K, PrivateKey, Subject,
};
use berth_store::{Read, Store};
use serde_json::{json, Value};

use crate::ca::{deletion, status_change, Deletion, Refusal};
use crate::*;

const ROOT_TEMPLATE: &str = "arn:aws:acm-pca:::template/RootCACertificate/V1";
const SUB_TEMPLATE: &str = "arn:aws:acm-pca:::template/SubordinateCACertificate_PathLen0/V1";

struct T {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
    pca: AcmPca,
    ctx: Context,
}

fn setup() -> T {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let pca = AcmPca::new(store.clone());
    T {
        _dir: dir,
        store,
        pca,
        ctx: Context::default(),
    }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

impl T {
    fn call(&self, op: &str, input: Value) -> Result<Value, ApiError> {
        let out = self.pca.call(&self.ctx, op, input);
        if let Ok(v) = &out {
            assert!(
                !v.to_string().contains("PRIVATE KEY"),
                "{op} showed a private key"
            );
        }
        out
    }

    fn ok(&self, op: &str, input: Value) -> Value {
        self.call(op, input).unwrap_or_else(|e| panic!("{op}: {e}"))
    }

    fn code(&self, op: &str, input: Value) -> String {
        match self.call(op, input) {
            Ok(v) => panic!("{op} succeeded: {v}"),
            Err(e) => e.code,
        }
    }

    fn create(&self, kind: &str, key: &str, signing: &str, cn: &str) -> String {
        let out = self.ok(
            "CreateCertificateAuthority",
            json!({
                "CertificateAuthorityType": kind,
                "CertificateAuthorityConfiguration": {
                    "KeyAlgorithm": key, "SigningAlgorithm": signing,
                    "Subject": {"Country": "US", "Organization": "Example", "CommonName": cn},
                },
                "Tags": [{"Key": "team", "Value": "platform"}],
            }),
        );
        out["CertificateAuthorityArn"].as_str().unwrap().to_string()
    }

    fn status(&self, arn: &str) -> String {
        let d = self.ok(
            "DescribeCertificateAuthority",
            json!({"CertificateAuthorityArn": arn}),
        );
        d["CertificateAuthority"]["Status"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn csr(&self, arn: &str) -> String {
        let out = self.ok(
            "GetCertificateAuthorityCsr",
            json!({"CertificateAuthorityArn": arn}),
        );
        out["Csr"].as_str().unwrap().to_string()
    }

    fn issue(&self, ca: &str, csr: &str, template: &str, days: i64) -> Result<Value, ApiError> {
        self.call("IssueCertificate", json!({
            "CertificateAuthorityArn": ca, "Csr": b64(csr), "SigningAlgorithm": self.signing(ca),
            "TemplateArn": template, "Validity": {"Value": days, "Type": "DAYS"},
        }))
    }

    fn signing(&self, ca: &str) -> String {
        let d = self.ok(
            "DescribeCertificateAuthority",
            json!({"CertificateAuthorityArn": ca}),
        );
        d["CertificateAuthority"]["CertificateAuthorityConfiguration"]["SigningAlgorithm"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn get(&self, ca: &str, cert_arn: &Value) -> Value {
        self.ok(
            "GetCertificate",
            json!({"CertificateAuthorityArn": ca, "CertificateArn": cert_arn}),
        )
    }

    /// An ACTIVE root CA.
    fn root(&self) -> String {
        let ca = self.create("ROOT", "EC_prime256v1", "SHA256WITHECDSA", "Root");
        let issued = self
            .issue(&ca, &self.csr(&ca), ROOT_TEMPLATE, 3650)
            .unwrap();
        let cert = self.get(&ca, &issued["CertificateArn"]);
        assert!(
            cert.get("CertificateChain").is_none(),
            "a root's own certificate has no chain"
        );
        self.ok("ImportCertificateAuthorityCertificate", json!({
            "CertificateAuthorityArn": ca, "Certificate": b64(cert["Certificate"].as_str().unwrap()),
        }));
        ca
    }

    /// An ACTIVE subordinate of `root`.
    fn subordinate(&self, root: &str) -> String {
        let ca = self.create("SUBORDINATE", "RSA_2048", "SHA256WITHRSA", "Sub");
        let issued = self.issue(root, &self.csr(&ca), SUB_TEMPLATE, 365).unwrap();
        let cert = self.get(root, &issued["CertificateArn"]);
        self.ok(
            "ImportCertificateAuthorityCertificate",
            json!({
                "CertificateAuthorityArn": ca,
                "Certificate": b64(cert["Certificate"].as_str().unwrap()),
                "CertificateChain": b64(cert["CertificateChain"].as_str().unwrap()),
            }),
        );
        ca
    }
}

fn leaf_csr() -> String {
    let key = PrivateKey::generate(K::EcPrime256v1).unwrap();
    make_csr(&key, &Subject::common_name("app.example.com")).unwrap()
}

#[test]
fn a_root_ca_is_created_signed_imported_and_issues() {
    let t = setup();
    let ca = t.create("ROOT", "EC_prime256v1", "SHA256WITHECDSA", "Root");
    assert!(ca.starts_with("arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/"));
    assert_eq!(t.status(&ca), "PENDING_CERTIFICATE");
    assert_eq!(t.code("IssueCertificate", json!({
        "CertificateAuthorityArn": ca, "Csr": b64(&leaf_csr()), "SigningAlgorithm": "SHA256WITHECDSA",
        "Validity": {"Value": 1, "Type": "DAYS"},
    })), "InvalidStateException");
    t.root();
    let root = t.root();
    let d = t.ok(
        "DescribeCertificateAuthority",
        json!({"CertificateAuthorityArn": root}),
    );
    let a = &d["CertificateAuthority"];
    assert_eq!(a["Status"], "ACTIVE");
    assert_eq!(a["Type"], "ROOT");
    assert!(a["Serial"].as_str().unwrap().contains(':'));
    assert!(a["NotAfter"].as_f64().unwrap() > a["NotBefore"].as_f64().unwrap());
    assert_eq!(
        a["RevocationConfiguration"]["CrlConfiguration"]["Enabled"],
        false
    );
    assert_eq!(
        a["KeyStorageSecurityStandard"],
        "FIPS_140_2_LEVEL_3_OR_HIGHER"
    );
    assert_eq!(a["UsageMode"], "GENERAL_PURPOSE");
    let issued = t
        .issue(
            &root,
            &leaf_csr(),
            "arn:aws:acm-pca:::template/EndEntityCertificate/V1",
            30,
        )
        .unwrap();
    let cert_arn = issued["CertificateArn"].as_str().unwrap();
    assert!(cert_arn.starts_with(&format!("{root}/certificate/")));
    assert_eq!(cert_arn.len(), root.len() + "/certificate/".len() + 32);
    let got = t.get(&root, &issued["CertificateArn"]);
    let leaf = parse_certificate(got["Certificate"].as_str().unwrap().as_bytes()).unwrap();
    let mut chain = vec![leaf.clone()];
    chain.extend(parse_bundle(got["CertificateChain"].as_str().unwrap().as_bytes()).unwrap());
    verify_chain(&chain).unwrap();
    assert_eq!(leaf.subject.common_name.as_deref(), Some("app.example.com"));
    assert!(!leaf.is_ca);
}

#[test]
fn a_subordinate_imports_with_its_chain_and_issues_below_it() {
    let t = setup();
    let root = t.root();
    let sub = t.subordinate(&root);
    assert_eq!(t.status(&sub), "ACTIVE");
    let out = t.ok(
        "GetCertificateAuthorityCertificate",
        json!({"CertificateAuthorityArn": sub}),
    );
    assert!(out["CertificateChain"]
        .as_str()
        .unwrap()
        .contains("BEGIN CERTIFICATE"));
    let issued = t
        .issue(
            &sub,
            &leaf_csr(),
            "arn:aws:acm-pca:::template/EndEntityServerAuthCertificate/V1",
            30,
        )
        .unwrap();
    let got = t.get(&sub, &issued["CertificateArn"]);
    let mut chain = parse_bundle(got["Certificate"].as_str().unwrap().as_bytes()).unwrap();
    chain.extend(parse_bundle(got["CertificateChain"].as_str().unwrap().as_bytes()).unwrap());
    assert_eq!(chain.len(), 3);
    verify_chain(&chain).unwrap();
    // PathLen0: the subordinate issues no CA.
    let e = t.issue(&sub, &leaf_csr(), SUB_TEMPLATE, 30).unwrap_err();
    assert_eq!(e.code, "InvalidArgsException");
    // Outliving the CA is refused.
    let e = t
        .issue(
            &sub,
            &leaf_csr(),
            "arn:aws:acm-pca:::template/EndEntityCertificate/V1",
            400,
        )
        .unwrap_err();
    assert!(e.message.contains("outlive"), "{}", e.message);
}

#[test]
fn imports_are_checked() {
    let t = setup();
    let root = t.root();
    let sub = t.create("SUBORDINATE", "EC_prime256v1", "SHA256WITHECDSA", "Sub");
    let other = t.create("SUBORDINATE", "EC_prime256v1", "SHA256WITHECDSA", "Other");
    let issued = t.issue(&root, &t.csr(&other), SUB_TEMPLATE, 30).unwrap();
    let cert = t.get(&root, &issued["CertificateArn"]);
    let (c, chain) = (
        cert["Certificate"].as_str().unwrap(),
        cert["CertificateChain"].as_str().unwrap(),
    );
    let import = |cert: &str, chain: Option<&str>| {
        let mut i = json!({"CertificateAuthorityArn": sub, "Certificate": b64(cert)});
        if let Some(ch) = chain {
            i["CertificateChain"] = json!(b64(ch));
        }
        t.code("ImportCertificateAuthorityCertificate", i)
    };
    assert_eq!(import(c, Some(chain)), "CertificateMismatchException");
    assert_eq!(
        import("not a certificate", None),
        "MalformedCertificateException"
    );
    let leaf = t.get(
        &root,
        &t.issue(
            &root,
            &leaf_csr(),
            "arn:aws:acm-pca:::template/EndEntityCertificate/V1",
            3,
        )
        .unwrap()["CertificateArn"],
    );
    assert_eq!(
        import(leaf["Certificate"].as_str().unwrap(), Some(chain)),
        "MalformedCertificateException"
    );
    let own = t.get(
        &root,
        &t.issue(&root, &t.csr(&sub), SUB_TEMPLATE, 30).unwrap()["CertificateArn"],
    );
    assert_eq!(
        import(own["Certificate"].as_str().unwrap(), None),
        "InvalidRequestException"
    );
    let unrelated = t.root();
    let unrelated_pem = t.ok(
        "GetCertificateAuthorityCertificate",
        json!({"CertificateAuthorityArn": unrelated}),
    );
    assert_eq!(
        import(
            own["Certificate"].as_str().unwrap(),
            unrelated_pem["Certificate"].as_str()
        ),
        "MalformedCertificateException"
    );
    assert_eq!(t.status(&sub), "PENDING_CERTIFICATE");
    // The root template signs only the CA's own CSR, and only a root's.
    let fresh = t.create("ROOT", "EC_prime256v1", "SHA256WITHECDSA", "Fresh");
    assert_eq!(
        t.issue(&fresh, &leaf_csr(), ROOT_TEMPLATE, 30)
            .unwrap_err()
            .code,
        "InvalidArgsException"
    );
    assert_eq!(
        t.issue(&sub, &t.csr(&sub), ROOT_TEMPLATE, 30)
            .unwrap_err()
            .code,
        "InvalidArgsException"
    );
}

#[test]
fn disable_delete_restore() {
    let t = setup();
    let root = t.root();
    let arn = json!({"CertificateAuthorityArn": root});
    assert_eq!(
        t.code("DeleteCertificateAuthority", arn.clone()),
        "InvalidStateException"
    );
    t.ok(
        "UpdateCertificateAuthority",
        json!({"CertificateAuthorityArn": root, "Status": "DISABLED"}),
    );
    let e = t
        .issue(
            &root,
            &leaf_csr(),
            "arn:aws:acm-pca:::template/EndEntityCertificate/V1",
            3,
        )
        .unwrap_err();
    assert_eq!(e.code, "InvalidStateException");
    assert!(e.message.contains("DISABLED"), "{}", e.message);
    t.ok(
        "DeleteCertificateAuthority",
        json!({"CertificateAuthorityArn": root, "PermanentDeletionTimeInDays": 7}),
    );
    let d = t.ok("DescribeCertificateAuthority", arn.clone());
    assert_eq!(d["CertificateAuthority"]["Status"], "DELETED");
    assert!(d["CertificateAuthority"]["RestorableUntil"]
        .as_f64()
        .is_some());
    assert_eq!(
        t.code("DeleteCertificateAuthority", arn.clone()),
        "InvalidStateException"
    );
    t.ok("RestoreCertificateAuthority", arn.clone());
    assert_eq!(t.status(&root), "DISABLED");
    assert_eq!(
        t.code("RestoreCertificateAuthority", arn.clone()),
        "InvalidStateException"
    );
    t.ok(
        "UpdateCertificateAuthority",
        json!({"CertificateAuthorityArn": root, "Status": "ACTIVE"}),
    );
    assert_eq!(t.status(&root), "ACTIVE");
    // A CA that never had a certificate is gone at once.
    let pending = t.create("ROOT", "EC_prime256v1", "SHA256WITHECDSA", "P");
    t.ok(
        "DeleteCertificateAuthority",
        json!({"CertificateAuthorityArn": pending}),
    );
    assert_eq!(
        t.code(
            "DescribeCertificateAuthority",
            json!({"CertificateAuthorityArn": pending})
        ),
        "ResourceNotFoundException"
    );
    let keys = t.store.read(|r| r.count("pca-key/")).unwrap();
    assert_eq!(keys, 1, "the deleted CA's key went with it");
}

#[test]
fn status_changes() {
    use CaStatus::*;
    let table = [
        (Active, Disabled, Ok(Disabled)),
        (Disabled, Active, Ok(Active)),
        (Active, Active, Ok(Active)),
        (
            PendingCertificate,
            Active,
            Err(Refusal::State("import its certificate first")),
        ),
        (
            Active,
            Deleted,
            Err(Refusal::Args(
                "Status can only be set to ACTIVE or DISABLED",
            )),
        ),
        (
            Active,
            PendingCertificate,
            Err(Refusal::Args(
                "Status can only be set to ACTIVE or DISABLED",
            )),
        ),
        (
            Expired,
            Active,
            Err(Refusal::State(
                "its certificate has expired; import a new one",
            )),
        ),
    ];
    for (from, to, want) in table {
        assert_eq!(status_change(from, to), want, "{from} -> {to}");
    }
    let deletions = [
        (PendingCertificate, Ok(Deletion::Now)),
        (Creating, Ok(Deletion::Now)),
        (Disabled, Ok(Deletion::Restorable)),
        (Expired, Ok(Deletion::Restorable)),
        (Active, Err("disable it before deleting it")),
        (Deleted, Err("it is already deleted")),
    ];
    for (from, want) in deletions {
        assert_eq!(deletion(from), want, "{from}");
    }
}

#[test]
fn service_certificates_use_the_callers_names_and_are_not_stored() {
    let t = setup();
    let pending = t.create("ROOT", "EC_prime256v1", "SHA256WITHECDSA", "P");
    let names = ServiceNames {
        dns_names: vec!["svc.ns".into()],
        uris: vec!["spiffe://berth/svc".into()],
    };
    let key = PrivateKey::generate(K::EcPrime256v1).unwrap();
    let csr = make_csr(&key, &Subject::common_name("ignored")).unwrap();
    let e = t
        .store
        .read(|r| {
            Ok::<_, ApiError>(issue_service_certificate_in(
                r, &pending, &csr, &names, 0, 10,
            ))
        })
        .unwrap();
    assert!(
        matches!(
            e,
            Err(IssueError::NotActive {
                status: CaStatus::PendingCertificate,
                ..
            })
        ),
        "{e:?}"
    );
    let root = t.root();
    let info = t
        .store
        .read(|r| Ok::<_, ApiError>(authority_in(r, &root).unwrap()))
        .unwrap()
        .unwrap();
    assert_eq!((info.status, info.kind), (CaStatus::Active, CaType::Root));
    let ca_end = info.not_after.unwrap();
    let before = t.store.revision();
    let now = berth_awsproto::now() as i64;
    let issued = t
        .store
        .read(|r| {
            Ok::<_, ApiError>(
                issue_service_certificate_in(r, &root, &csr, &names, now, ca_end + 1000).unwrap(),
            )
        })
        .unwrap();
    assert_eq!(t.store.revision(), before, "nothing was written");
    assert_eq!(issued.not_after, ca_end, "cut to the CA's NotAfter");
    let leaf = parse_certificate(issued.certificate_pem.as_bytes()).unwrap();
    assert_eq!(leaf.names.dns_names, names.dns_names);
    assert_eq!(leaf.names.uris, names.uris);
    assert_eq!(leaf.subject.common_name.as_deref(), Some("svc.ns"));
    assert_eq!(leaf.serial, issued.serial);
    let mut chain = vec![leaf];
    chain.extend(parse_bundle(issued.chain_pem.as_bytes()).unwrap());
    verify_chain(&chain).unwrap();
    let bad = t
        .store
        .read(|r| {
            Ok::<_, ApiError>(issue_service_certificate_in(
                r,
                &root,
                "junk",
                &names,
                now,
                now + 60,
            ))
        })
        .unwrap();
    assert!(matches!(bad, Err(IssueError::MalformedCsr(_))));
    let none = t
        .store
        .read(|r| Ok::<_, ApiError>(authority_in(r, "arn:nope")))
        .unwrap();
    assert!(matches!(none, Err(IssueError::InvalidArn(_))));
}

#[test]
fn tags_and_listing() {
    let t = setup();
    let a = t.create("ROOT", "EC_prime256v1", "SHA256WITHECDSA", "A");
    let b = t.create("ROOT", "RSA_2048", "SHA256WITHRSA", "B");
    let arn = |x: &str| json!({"CertificateAuthorityArn": x});
    t.ok("TagCertificateAuthority", json!({"CertificateAuthorityArn": a, "Tags": [{"Key": "env", "Value": "dev"}, {"Key": "team", "Value": "core"}]}));
    let tags = t.ok("ListTags", arn(&a));
    assert_eq!(
        tags["Tags"],
        json!([{"Key": "team", "Value": "core"}, {"Key": "env", "Value": "dev"}])
    );
    let page = t.ok(
        "ListTags",
        json!({"CertificateAuthorityArn": a, "MaxResults": 1}),
    );
    assert_eq!(page["Tags"].as_array().unwrap().len(), 1);
    let rest = t.ok(
        "ListTags",
        json!({"CertificateAuthorityArn": a, "NextToken": page["NextToken"]}),
    );
    assert_eq!(rest["Tags"], json!([{"Key": "env", "Value": "dev"}]));
    t.ok("UntagCertificateAuthority", json!({"CertificateAuthorityArn": a, "Tags": [{"Key": "team", "Value": "other"}, {"Key": "env"}]}));
    assert_eq!(
        t.ok("ListTags", arn(&a))["Tags"],
        json!([{"Key": "team", "Value": "core"}])
    );
    assert_eq!(
        t.code(
            "TagCertificateAuthority",
            json!({"CertificateAuthorityArn": a, "Tags": [{"Key": "aws:x", "Value": "1"}]})
        ),
        "InvalidTagException"
    );
    let many: Vec<Value> = (0..50).map(|i| json!({"Key": format!("k{i}")})).collect();
    assert_eq!(
        t.code(
            "TagCertificateAuthority",
            json!({"CertificateAuthorityArn": a, "Tags": many})
        ),
        "TooManyTagsException"
    );
    let all = t.ok("ListCertificateAuthorities", json!({}));
    assert_eq!(all["CertificateAuthorities"].as_array().unwrap().len(), 2);
    let p1 = t.ok("ListCertificateAuthorities", json!({"MaxResults": 1}));
    let p2 = t.ok(
        "ListCertificateAuthorities",
        json!({"MaxResults": 1, "NextToken": p1["NextToken"]}),
    );
    let mut seen = vec![
        p1["CertificateAuthorities"][0]["Arn"].clone(),
        p2["CertificateAuthorities"][0]["Arn"].clone(),
    ];
    seen.sort_by_key(|v| v.to_string());
    let mut want = vec![json!(a), json!(b)];
    want.sort_by_key(|v| v.to_string());
    assert_eq!(seen, want);
    assert!(p2.get("NextToken").is_none());
    let other = t.ok(
        "ListCertificateAuthorities",
        json!({"ResourceOwner": "OTHER_ACCOUNTS"}),
    );
    assert_eq!(other["CertificateAuthorities"], json!([]));
}

#[test]
fn idempotency_tokens_answer_the_same_resource() {
    let t = setup();
    let input = json!({
        "CertificateAuthorityType": "ROOT", "IdempotencyToken": "tok-1",
        "CertificateAuthorityConfiguration": {"KeyAlgorithm": "EC_prime256v1", "SigningAlgorithm": "SHA256WITHECDSA", "Subject": {"CommonName": "x"}},
    });
    let a = t.ok("CreateCertificateAuthority", input.clone());
    assert_eq!(t.ok("CreateCertificateAuthority", input), a);
    let root = t.root();
    let issue = json!({
        "CertificateAuthorityArn": root, "Csr": b64(&leaf_csr()), "SigningAlgorithm": "SHA256WITHECDSA",
        "Validity": {"Value": 1, "Type": "DAYS"}, "IdempotencyToken": "i-1",
    });
    assert_eq!(
        t.ok("IssueCertificate", issue.clone()),
        t.ok("IssueCertificate", issue)
    );
}

#[test]
fn bad_input_names_its_member() {
    let t = setup();
    let cfg = |k: &str, s: &str| json!({"CertificateAuthorityType": "ROOT", "CertificateAuthorityConfiguration": {"KeyAlgorithm": k, "SigningAlgorithm": s, "Subject": {"CommonName": "x"}}});
    let table = [
        (
            "CreateCertificateAuthority",
            json!({}),
            "ValidationException",
        ),
        (
            "CreateCertificateAuthority",
            cfg("EC_prime256v1", "SHA256WITHRSA"),
            "InvalidArgsException",
        ),
        (
            "CreateCertificateAuthority",
            cfg("EC_secp521r1", "SHA512WITHECDSA"),
            "InvalidArgsException",
        ),
        (
            "CreateCertificateAuthority",
            cfg("EC_nope", "SHA256WITHECDSA"),
            "ValidationException",
        ),
        (
            "DescribeCertificateAuthority",
            json!({}),
            "ValidationException",
        ),
        (
            "DescribeCertificateAuthority",
            json!({"CertificateAuthorityArn": "arn:aws:acm-pca:us-east-1:123456789012:nope"}),
            "InvalidArnException",
        ),
        (
            "DescribeCertificateAuthority",
            json!({"CertificateAuthorityArn": "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/00000000-0000-4000-8000-000000000000"}),
            "ResourceNotFoundException",
        ),
        (
            "ListCertificateAuthorities",
            json!({"MaxResults": 0}),
            "ValidationException",
        ),
        (
            "ListCertificateAuthorities",
            json!({"NextToken": "!!"}),
            "InvalidNextTokenException",
        ),
        (
            "DeleteCertificateAuthority",
            json!({"CertificateAuthorityArn": "x", "PermanentDeletionTimeInDays": 3}),
            "ValidationException",
        ),
        ("Nope", json!({}), "UnknownOperationException"),
    ];
    for (op, input, code) in table {
        assert_eq!(t.code(op, input.clone()), code, "{op} {input}");
    }
}
