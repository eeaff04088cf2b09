//! The API over TLS: required when the server listens beyond loopback.
//!
//! The certificate is the user's (`--api-tls-cert`/`--api-tls-key`, PEM), or one berth
//! makes: a CA of the data directory (`api-ca.pem`, its key `api-ca.key`, mode 0600,
//! made once and kept, so clients keep trusting it) signs a server certificate at each
//! start for `localhost`, the loopback addresses, the address listened on (when it is
//! one address) and the names asked for (`--api-tls-name`). Clients trust the CA:
//! `aws --ca-bundle <data>/api-ca.pem` (or `AWS_CA_BUNDLE`), `berth agent --server-ca`.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_pki::{
    make_csr, parse_csr, self_sign, sign, KeyAlgorithm, Names, PrivateKey, Signer, Subject,
    Template, Usage,
};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Where the API's certificate comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ApiTls {
    /// Plain HTTP (loopback only).
    #[default]
    Off,
    /// A certificate berth makes, signed by the data directory's API CA, valid for
    /// these extra names (DNS names or IP addresses).
    Generated {
        /// Names beyond localhost, the loopback addresses and the listening address.
        names: Vec<String>,
    },
    /// The user's certificate chain and key (PEM files).
    Files {
        /// The certificate chain, leaf first.
        chain: PathBuf,
        /// Its private key.
        key: PathBuf,
    },
}

/// The API CA's certificate in a data directory (what clients trust).
pub fn ca_path(data_dir: &Path) -> PathBuf {
    data_dir.join("api-ca.pem")
}

const VALIDITY_SECS: i64 = 398 * 86_400;
const CA_VALIDITY_SECS: i64 = 10 * 365 * 86_400;

fn io_err(what: &str, path: &Path, e: impl std::fmt::Display) -> String {
    format!("{what} {}: {e}", path.display())
}

/// The TLS configuration of the API, or why it cannot be made.
pub fn server_config(
    tls: &ApiTls,
    data_dir: &Path,
    listen: SocketAddr,
    now: i64,
) -> Result<Option<Arc<rustls::ServerConfig>>, String> {
    let (chain, key) = match tls {
        ApiTls::Off => return Ok(None),
        ApiTls::Files { chain, key } => (
            std::fs::read_to_string(chain).map_err(|e| io_err("reading", chain, e))?,
            std::fs::read_to_string(key).map_err(|e| io_err("reading", key, e))?,
        ),
        ApiTls::Generated { names } => generate(data_dir, listen, names, now)?,
    };
    let certs = CertificateDer::pem_slice_iter(chain.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the API's certificate chain: {e}"))?;
    if certs.is_empty() {
        return Err("the API's certificate chain holds no certificate".into());
    }
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes())
        .map_err(|e| format!("the API's private key: {e}"))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("the API's certificate and key: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(Arc::new(config)))
}

/// The data directory's API CA (made if absent), and a server certificate it signs now.
fn generate(
    data_dir: &Path,
    listen: SocketAddr,
    extra: &[String],
    now: i64,
) -> Result<(String, String), String> {
    let (ca_key, ca_pem) = api_ca(data_dir, now)?;
    let key = PrivateKey::generate(KeyAlgorithm::EcPrime256v1).map_err(|e| e.to_string())?;
    let csr = make_csr(&key, &Subject::common_name("berth API")).map_err(|e| e.to_string())?;
    let csr = parse_csr(csr.as_bytes()).map_err(|e| e.to_string())?;
    let template = Template {
        not_before: now - 300,
        not_after: now + VALIDITY_SECS,
        usage: Usage::EndEntity {
            server_auth: true,
            client_auth: false,
        },
        subject: Subject::common_name("berth API"),
        names: names_for(listen, extra),
        signing: KeyAlgorithm::EcPrime256v1.default_signing(),
    };
    let signer = Signer {
        key: &ca_key,
        certificate_pem: &ca_pem,
    };
    let leaf = sign(&csr, &signer, &template).map_err(|e| e.to_string())?;
    Ok((berth_pki::pem_bundle(&[&leaf.pem, &ca_pem]), key.to_pem()))
}

/// What the server certificate is valid for.
fn names_for(listen: SocketAddr, extra: &[String]) -> Names {
    let mut names = Names {
        dns_names: vec!["localhost".into()],
        uris: Vec::new(),
        ip_addresses: vec![Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()],
    };
    if !listen.ip().is_unspecified() && !names.ip_addresses.contains(&listen.ip()) {
        names.ip_addresses.push(listen.ip());
    }
    for n in extra {
        match n.parse::<IpAddr>() {
            Ok(ip) if !names.ip_addresses.contains(&ip) => names.ip_addresses.push(ip),
            Ok(_) => {}
            Err(_) => names.dns_names.push(n.clone()),
        }
    }
    names
}

/// The API CA of a data directory: read, or made and kept.
fn api_ca(data_dir: &Path, now: i64) -> Result<(PrivateKey, String), String> {
    let (cert_path, key_path) = (ca_path(data_dir), data_dir.join("api-ca.key"));
    if let (Ok(pem), Ok(key)) = (
        std::fs::read_to_string(&cert_path),
        std::fs::read_to_string(&key_path),
    ) {
        let key = PrivateKey::from_pem(&key).map_err(|e| io_err("reading", &key_path, e))?;
        return Ok((key, pem));
    }
    let key = PrivateKey::generate(KeyAlgorithm::EcPrime256v1).map_err(|e| e.to_string())?;
    let subject = Subject::common_name("berth API CA");
    let csr = make_csr(&key, &subject).map_err(|e| e.to_string())?;
    let csr = parse_csr(csr.as_bytes()).map_err(|e| e.to_string())?;
    let template = Template {
        not_before: now - 300,
        not_after: now + CA_VALIDITY_SECS,
        usage: Usage::Ca { path_len: Some(0) },
        subject,
        names: Names::default(),
        signing: KeyAlgorithm::EcPrime256v1.default_signing(),
    };
    let cert = self_sign(&csr, &key, &template).map_err(|e| e.to_string())?;
    write_private(&key_path, key.to_pem().as_bytes())?;
    std::fs::write(&cert_path, &cert.pem).map_err(|e| io_err("writing", &cert_path, e))?;
    Ok((key, cert.pem))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(bytes).and_then(|_| f.sync_all()))
        .map_err(|e| io_err("writing", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_certificate_names_the_address_and_the_ca_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let listen = "10.1.2.3:4566".parse().unwrap();
        let tls = ApiTls::Generated {
            names: vec!["berth.example".into(), "192.0.2.7".into()],
        };
        let now = 1_800_000_000;
        assert!(server_config(&tls, dir.path(), listen, now)
            .unwrap()
            .is_some());
        let ca = std::fs::read_to_string(ca_path(dir.path())).unwrap();
        server_config(&tls, dir.path(), listen, now).unwrap();
        assert_eq!(std::fs::read_to_string(ca_path(dir.path())).unwrap(), ca);
        let names = names_for(listen, &["berth.example".into(), "192.0.2.7".into()]);
        assert_eq!(names.dns_names, ["localhost", "berth.example"]);
        assert!(names.ip_addresses.contains(&"10.1.2.3".parse().unwrap()));
        assert!(names.ip_addresses.contains(&"192.0.2.7".parse().unwrap()));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("api-ca.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0);
    }

    #[test]
    fn missing_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let tls = ApiTls::Files {
            chain: dir.path().join("nope.pem"),
            key: dir.path().join("nope.key"),
        };
        let e = server_config(&tls, dir.path(), "0.0.0.0:1".parse().unwrap(), 0).unwrap_err();
        assert!(e.contains("nope.pem"), "{e}");
    }
}
