//! berth-pki's certificates as OpenSSL sees them: `openssl verify` accepts the chains
//! it makes, and it signs CSRs `openssl req` makes. /usr/bin/openssl must exist.

use std::path::Path;
use std::process::Command;

use berth_pki::*;

const T0: i64 = 1_700_000_000;
const YEAR: i64 = 365 * 86_400;

fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running openssl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "openssl {args:?}: {text}{err}");
    text
}

fn template(cn: &str, usage: Usage, signing: SigningAlgorithm, names: Names) -> Template {
    Template {
        not_before: T0,
        not_after: T0 + 10 * YEAR,
        usage,
        subject: Subject::common_name(cn),
        names,
        signing,
    }
}

fn root(dir: &Path, alg: KeyAlgorithm) -> (PrivateKey, String) {
    let key = PrivateKey::generate(alg).unwrap();
    let csr = parse_csr(
        make_csr(&key, &Subject::common_name("Root"))
            .unwrap()
            .as_bytes(),
    )
    .unwrap();
    let t = template(
        "Root",
        Usage::Ca { path_len: None },
        alg.default_signing(),
        Names::default(),
    );
    let pem = self_sign(&csr, &key, &t).unwrap().pem;
    std::fs::write(dir.join("root.pem"), &pem).unwrap();
    std::fs::write(dir.join("root.key"), key.to_pem()).unwrap();
    (key, pem)
}

#[test]
fn openssl_verifies_a_root_subordinate_and_leaf() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (root_key, root_pem) = root(d, KeyAlgorithm::Rsa2048);
    openssl(d, &["pkey", "-in", "root.key", "-noout"]);
    let sub_key = PrivateKey::generate(KeyAlgorithm::EcPrime256v1).unwrap();
    let sub_csr = parse_csr(
        make_csr(&sub_key, &Subject::common_name("Sub"))
            .unwrap()
            .as_bytes(),
    )
    .unwrap();
    let root_signer = Signer {
        key: &root_key,
        certificate_pem: &root_pem,
    };
    let usage = Usage::Ca { path_len: Some(0) };
    let t = template(
        "Sub",
        usage,
        SigningAlgorithm::Sha256WithRsa,
        Names::default(),
    );
    let sub = sign(&sub_csr, &root_signer, &t).unwrap().pem;
    std::fs::write(d.join("sub.pem"), &sub).unwrap();
    let leaf_key = PrivateKey::generate(KeyAlgorithm::EcPrime256v1).unwrap();
    let leaf_csr = parse_csr(make_csr(&leaf_key, &Subject::default()).unwrap().as_bytes()).unwrap();
    let names = Names {
        dns_names: vec!["svc.local".into()],
        uris: vec!["spiffe://x/y".into()],
        ..Names::default()
    };
    let usage = Usage::EndEntity {
        server_auth: true,
        client_auth: true,
    };
    let t = template("svc", usage, SigningAlgorithm::Sha256WithEcdsa, names);
    let sub_signer = Signer {
        key: &sub_key,
        certificate_pem: &sub,
    };
    let leaf = sign(&leaf_csr, &sub_signer, &t).unwrap().pem;
    std::fs::write(d.join("leaf.pem"), &leaf).unwrap();
    let at = (T0 + YEAR).to_string();
    let ok = openssl(
        d,
        &[
            "verify",
            "-attime",
            &at,
            "-CAfile",
            "root.pem",
            "-untrusted",
            "sub.pem",
            "leaf.pem",
        ],
    );
    assert!(ok.contains("leaf.pem: OK"), "{ok}");
    let text = openssl(d, &["x509", "-in", "leaf.pem", "-noout", "-text"]);
    for want in [
        "TLS Web Server Authentication, TLS Web Client Authentication",
        "Digital Signature, Key Encipherment",
        "DNS:svc.local",
        "URI:spiffe://x/y",
        "CA:FALSE",
        "Authority Key Identifier",
        "Subject Key Identifier",
    ] {
        assert!(text.contains(want), "{want} not in {text}");
    }
    let text = openssl(d, &["x509", "-in", "sub.pem", "-noout", "-text"]);
    assert!(text.contains("CA:TRUE, pathlen:0"), "{text}");
    assert!(text.contains("sha256WithRSAEncryption"), "{text}");
}

#[test]
fn csrs_made_by_openssl_req_are_signed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (root_key, root_pem) = root(d, KeyAlgorithm::EcSecp384r1);
    let root_signer = Signer {
        key: &root_key,
        certificate_pem: &root_pem,
    };
    for (newkey, alg) in [
        ("ec", KeyAlgorithm::EcPrime256v1),
        ("rsa:2048", KeyAlgorithm::Rsa2048),
    ] {
        let mut args = vec!["req", "-new", "-nodes", "-newkey", newkey];
        if newkey == "ec" {
            args.extend(["-pkeyopt", "ec_paramgen_curve:prime256v1"]);
        }
        args.extend([
            "-keyout",
            "k.pem",
            "-out",
            "r.csr",
            "-subj",
            "/C=US/O=Example/CN=app.example.com",
        ]);
        args.extend(["-addext", "subjectAltName=DNS:app.example.com"]);
        openssl(d, &args);
        let csr = parse_csr(&std::fs::read(d.join("r.csr")).unwrap()).unwrap();
        assert_eq!(csr.key_algorithm, alg);
        assert_eq!(csr.subject.common_name.as_deref(), Some("app.example.com"));
        assert_eq!(csr.names.dns_names, ["app.example.com"]);
        let usage = Usage::EndEntity {
            server_auth: true,
            client_auth: true,
        };
        let mut t = template(
            "x",
            usage,
            SigningAlgorithm::Sha384WithEcdsa,
            csr.names.clone(),
        );
        t.subject = csr.subject.clone();
        let leaf = sign(&csr, &root_signer, &t).unwrap().pem;
        std::fs::write(d.join("leaf.pem"), &leaf).unwrap();
        let at = (T0 + YEAR).to_string();
        let ok = openssl(
            d,
            &["verify", "-attime", &at, "-CAfile", "root.pem", "leaf.pem"],
        );
        assert!(ok.contains("OK"), "{ok}");
        let key = openssl(d, &["x509", "-in", "leaf.pem", "-noout", "-pubkey"]);
        let want = openssl(d, &["pkey", "-in", "k.pem", "-pubout"]);
        assert_eq!(key, want);
    }
}
