//! Round trips: make, sign, read back, verify.

use crate::*;

const DAY: i64 = 86_400;
const T0: i64 = 1_700_000_000;

fn subject(cn: &str) -> Subject {
    Subject {
        country: Some("US".into()),
        organization: Some("Example Corp".into()),
        organizational_unit: Some("Platform".into()),
        state: Some("Washington".into()),
        locality: Some("Seattle".into()),
        common_name: Some(cn.into()),
        ..Subject::default()
    }
}

fn ca_template(cn: &str, path_len: Option<u8>, signing: SigningAlgorithm) -> Template {
    Template {
        not_before: T0,
        not_after: T0 + 3650 * DAY,
        usage: Usage::Ca { path_len },
        subject: subject(cn),
        names: Names::default(),
        signing,
    }
}

/// A root CA: its key and certificate.
fn root(alg: KeyAlgorithm) -> (PrivateKey, CertInfo) {
    let key = PrivateKey::generate(alg).unwrap();
    let csr = parse_csr(make_csr(&key, &subject("Root")).unwrap().as_bytes()).unwrap();
    let t = ca_template("Root", None, alg.default_signing());
    let signed = self_sign(&csr, &key, &t).unwrap();
    (key, parse_certificate(signed.pem.as_bytes()).unwrap())
}

fn leaf_template(names: Names) -> Template {
    Template {
        not_before: T0,
        not_after: T0 + DAY,
        usage: Usage::EndEntity {
            server_auth: true,
            client_auth: true,
        },
        subject: Subject::common_name("svc"),
        names,
        signing: SigningAlgorithm::Sha256WithEcdsa,
    }
}

#[test]
fn a_csr_reads_back_as_made() {
    let key = PrivateKey::generate(KeyAlgorithm::EcPrime256v1).unwrap();
    let mut s = subject("Example CA");
    s.serial_number = Some("42".into());
    s.title = Some("Chief".into());
    s.custom = vec![("1.2.3.4".into(), "custom".into())];
    let pem = make_csr(&key, &s).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
    let csr = parse_csr(pem.as_bytes()).unwrap();
    assert_eq!(csr.subject, s);
    assert_eq!(csr.key_algorithm, KeyAlgorithm::EcPrime256v1);
    assert_eq!(csr.public_key_der, key.public_key_der());
}

#[test]
fn a_tampered_csr_is_refused() {
    let key = PrivateKey::generate(KeyAlgorithm::EcPrime256v1).unwrap();
    let pem = make_csr(&key, &subject("x")).unwrap();
    let mut der = crate::parse::der_of(pem.as_bytes()).unwrap();
    // A byte of the subject ("x" is near the end of the request info).
    let i = der.iter().rposition(|b| *b == b'x').unwrap();
    der[i] = b'y';
    assert_eq!(parse_csr(&der), Err(PkiError::CsrSignature));
}

#[test]
fn roots_are_self_signed_cas_for_every_key_kind() {
    for alg in [
        KeyAlgorithm::EcPrime256v1,
        KeyAlgorithm::EcSecp384r1,
        KeyAlgorithm::Rsa2048,
    ] {
        let (key, cert) = root(alg);
        assert!(cert.is_ca, "{alg:?}");
        assert_eq!(cert.path_len, None);
        assert_eq!(cert.subject, subject("Root"));
        assert_eq!(cert.issuer, cert.subject);
        assert_eq!((cert.not_before, cert.not_after), (T0, T0 + 3650 * DAY));
        assert_eq!(cert.key_algorithm, Some(alg));
        assert!(cert.matches_key(&key));
        verify_chain(std::slice::from_ref(&cert)).unwrap();
    }
}

#[test]
fn self_signing_someone_elses_csr_is_refused() {
    let key = PrivateKey::generate(KeyAlgorithm::EcPrime256v1).unwrap();
    let other = PrivateKey::generate(KeyAlgorithm::EcPrime256v1).unwrap();
    let csr = parse_csr(make_csr(&other, &subject("x")).unwrap().as_bytes()).unwrap();
    let t = ca_template("x", None, SigningAlgorithm::Sha256WithEcdsa);
    assert_eq!(self_sign(&csr, &key, &t), Err(PkiError::KeyMismatch));
}

#[test]
fn leaves_carry_the_callers_names_not_the_csrs() {
    let (ca_key, ca) = root(KeyAlgorithm::EcPrime256v1);
    let key = PrivateKey::generate(KeyAlgorithm::EcPrime256v1).unwrap();
    let csr = parse_csr(make_csr(&key, &subject("ignored")).unwrap().as_bytes()).unwrap();
    let names = Names {
        dns_names: vec!["svc.local".into()],
        uris: vec!["spiffe://berth/ns/svc".into()],
        ip_addresses: vec!["10.0.0.1".parse().unwrap()],
    };
    let ca_pem = ca.pem();
    let signer = Signer {
        key: &ca_key,
        certificate_pem: &ca_pem,
    };
    let signed = sign(&csr, &signer, &leaf_template(names.clone())).unwrap();
    let leaf = parse_certificate(signed.pem.as_bytes()).unwrap();
    assert_eq!(leaf.serial, signed.serial);
    assert_eq!(leaf.serial.len(), 16 * 3 - 1);
    assert!(!leaf.is_ca);
    assert_eq!(leaf.names, names);
    assert_eq!(leaf.subject, Subject::common_name("svc"));
    assert_eq!(leaf.issuer, ca.subject);
    assert!(leaf.matches_csr(&csr));
    assert!(leaf.matches_key(&key));
    verify_chain(&[leaf, ca]).unwrap();
}

#[test]
fn serials_differ() {
    let (ca_key, ca) = root(KeyAlgorithm::EcPrime256v1);
    let ca_pem = ca.pem();
    let signer = Signer {
        key: &ca_key,
        certificate_pem: &ca_pem,
    };
    let csr = parse_csr(make_csr(&ca_key, &subject("x")).unwrap().as_bytes()).unwrap();
    let a = sign(&csr, &signer, &leaf_template(Names::default())).unwrap();
    let b = sign(&csr, &signer, &leaf_template(Names::default())).unwrap();
    assert_ne!(a.serial, b.serial);
}

#[test]
fn a_three_level_chain_verifies_and_a_broken_one_does_not() {
    let (root_key, root_cert) = root(KeyAlgorithm::Rsa2048);
    let sub_key = PrivateKey::generate(KeyAlgorithm::EcPrime256v1).unwrap();
    let sub_csr = parse_csr(make_csr(&sub_key, &subject("Sub")).unwrap().as_bytes()).unwrap();
    let root_pem = root_cert.pem();
    let root_signer = Signer {
        key: &root_key,
        certificate_pem: &root_pem,
    };
    let t = ca_template("Sub", Some(0), SigningAlgorithm::Sha384WithRsa);
    let sub = sign(&sub_csr, &root_signer, &t).unwrap();
    let sub_cert = parse_certificate(sub.pem.as_bytes()).unwrap();
    assert_eq!((sub_cert.is_ca, sub_cert.path_len), (true, Some(0)));
    let sub_signer = Signer {
        key: &sub_key,
        certificate_pem: &sub.pem,
    };
    let leaf = sign(&sub_csr, &sub_signer, &leaf_template(Names::default())).unwrap();
    let bundle = pem_bundle(&[&leaf.pem, &sub.pem, &root_pem]);
    let chain = parse_bundle(bundle.as_bytes()).unwrap();
    assert_eq!(chain.len(), 3);
    verify_chain(&chain).unwrap();
    // Without its root, or with the wrong order, it does not.
    assert!(matches!(verify_chain(&chain[..2]), Err(PkiError::Chain(_))));
    let swapped = [chain[0].clone(), chain[2].clone(), chain[1].clone()];
    assert!(matches!(verify_chain(&swapped), Err(PkiError::Chain(_))));
    // A leaf is no issuer.
    assert!(verify_issued_by(&chain[0], &chain[0]).is_err());
}

#[test]
fn keys_sign_only_with_their_own_algorithms() {
    let (ca_key, ca) = root(KeyAlgorithm::EcPrime256v1);
    let ca_pem = ca.pem();
    let signer = Signer {
        key: &ca_key,
        certificate_pem: &ca_pem,
    };
    let csr = parse_csr(make_csr(&ca_key, &subject("x")).unwrap().as_bytes()).unwrap();
    let mut t = leaf_template(Names::default());
    t.signing = SigningAlgorithm::Sha256WithRsa;
    assert!(matches!(
        sign(&csr, &signer, &t),
        Err(PkiError::AlgorithmMismatch { .. })
    ));
}

#[test]
fn validity_must_be_a_forward_interval() {
    let (ca_key, _) = root(KeyAlgorithm::EcPrime256v1);
    let csr = parse_csr(make_csr(&ca_key, &subject("x")).unwrap().as_bytes()).unwrap();
    let mut t = ca_template("x", None, SigningAlgorithm::Sha256WithEcdsa);
    t.not_after = t.not_before;
    assert!(matches!(
        self_sign(&csr, &ca_key, &t),
        Err(PkiError::Validity(_))
    ));
}

#[test]
fn bundles_refuse_non_certificates() {
    let key = PrivateKey::generate(KeyAlgorithm::EcPrime256v1).unwrap();
    assert!(parse_bundle(key.to_pem().as_bytes()).is_err());
    assert!(parse_bundle(b"").is_err());
    assert_eq!(pem_bundle(&["a\n", "", "b"]), "a\nb\n");
}
