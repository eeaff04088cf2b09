//! A task's TLS certificates, one per Service Connect service it serves with `tls`: the
//! agent makes the key (ECDSA P-256) on its host, sends the server a CSR for it, and
//! gets the certificate, which its proxy terminates TLS with (and presents to upstreams
//! that ask for one). The key goes to the proxy only, in its snapshot, over the proxy's
//! admin socket in a directory only root can enter; it is never written to disk.
//!
//! Renewal: each certificate comes with the time to renew it (AWS: after 5 of its 7
//! days); [`TaskCertificates::due`] says what is due, and [`TaskCertificates::refresh`]
//! gets new ones. What is decided is a pure function of the view, what is held and the
//! time ([`TaskCertificates::wanted`]); the requests are made after.

use std::collections::BTreeMap;

use berth_agent_view::{CertificateRequest, IssuedCertificate, ServiceConnectView};
use berth_pki::{KeyAlgorithm, PrivateKey, Subject};
use berth_proxy_config::{CertifiedKey, PrivateKeyPem};

use crate::client::ServerClient;
use crate::error::{Error, Result};

/// How long to wait before asking again after a renewal failed.
pub const RETRY_SECS: i64 = 10;

/// One certificate held for a service of the task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    /// The CA it came from.
    pub authority_arn: String,
    /// The certificate and its key, as the proxy takes them.
    pub certified: CertifiedKey,
    /// When to renew it (Unix seconds).
    pub rotate_at: i64,
}

/// Which certificates to get now.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Wanted {
    /// Discovery names whose certificate is missing, due, or from another CA now.
    pub get: Vec<String>,
    /// Discovery names no longer served with TLS: their certificates are dropped.
    pub drop: Vec<String>,
}

/// The certificates of one task, by discovery name.
#[derive(Debug, Default)]
pub struct TaskCertificates {
    held: BTreeMap<String, Held>,
    /// When a failed renewal may be tried again.
    retry_at: Option<i64>,
}

impl TaskCertificates {
    /// What `sc` needs at `now`, given what is held.
    pub fn wanted(&self, sc: &ServiceConnectView, now: i64) -> Wanted {
        let mut w = Wanted::default();
        for g in &sc.ingress {
            let Some(t) = &g.tls else { continue };
            match self.held.get(&g.discovery_name) {
                Some(h) if h.authority_arn == t.authority_arn && now < h.rotate_at => {}
                _ => w.get.push(g.discovery_name.clone()),
            }
        }
        for d in self.held.keys() {
            let served = sc
                .ingress
                .iter()
                .any(|g| g.discovery_name == *d && g.tls.is_some());
            if !served {
                w.drop.push(d.clone());
            }
        }
        w
    }

    /// When the next certificate is due (or a failed renewal may be retried).
    pub fn due(&self) -> Option<i64> {
        let next = self.held.values().map(|h| h.rotate_at).min();
        match (next, self.retry_at) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, _) => a,
        }
    }

    /// The certificate of `discovery`, when held.
    pub fn get(&self, discovery: &str) -> Option<&Held> {
        self.held.get(discovery)
    }

    /// The certificate the task's proxy presents to upstreams that ask for one: its
    /// first service's.
    pub fn client_certificate(&self) -> Option<CertifiedKey> {
        self.held.values().next().map(|h| h.certified.clone())
    }

    /// Gets what `sc` needs at `now`; true when something changed. A certificate that
    /// cannot be had is an error naming the service and the server's reason; what was
    /// held stays (until it expires) and the renewal is tried again after
    /// [`RETRY_SECS`].
    pub async fn refresh(
        &mut self,
        server: &ServerClient,
        task: (&str, &str, &str),
        sc: &ServiceConnectView,
        now: i64,
    ) -> Result<bool> {
        let w = self.wanted(sc, now);
        let mut changed = !w.drop.is_empty();
        for d in &w.drop {
            self.held.remove(d);
        }
        for d in &w.get {
            let Some(t) = sc
                .ingress
                .iter()
                .find(|g| g.discovery_name == *d)
                .and_then(|g| g.tls.as_ref())
            else {
                continue;
            };
            match issue(server, task, d).await {
                Ok((certified, issued)) => {
                    self.held
                        .insert(d.clone(), held(t.authority_arn.clone(), certified, &issued));
                    changed = true;
                }
                Err(e) => {
                    self.retry_at = Some(now + RETRY_SECS);
                    let why = match e {
                        Error::Api { message, .. } => message,
                        e => e.to_string(),
                    };
                    return Err(Error::Init(format!(
                        "unable to get a TLS certificate for {d}: {why}"
                    )));
                }
            }
        }
        self.retry_at = None;
        Ok(changed)
    }
}

fn held(authority_arn: String, certified: CertifiedKey, issued: &IssuedCertificate) -> Held {
    Held {
        authority_arn,
        certified,
        rotate_at: issued.rotate_at,
    }
}

/// A new key, and the certificate the server issues for it. `task`: (cluster,
/// container instance ARN, task ARN).
async fn issue(
    server: &ServerClient,
    (cluster, instance, task_arn): (&str, &str, &str),
    discovery: &str,
) -> Result<(CertifiedKey, IssuedCertificate)> {
    let key = PrivateKey::generate(KeyAlgorithm::EcPrime256v1)
        .map_err(|e| Error::Init(format!("making a key: {e}")))?;
    let csr = berth_pki::make_csr(&key, &Subject::common_name(discovery))
        .map_err(|e| Error::Init(format!("making a CSR: {e}")))?;
    let request = CertificateRequest {
        task_arn: task_arn.to_string(),
        discovery_name: discovery.to_string(),
        csr,
    };
    let issued = server.certificate(cluster, instance, &request).await?;
    let certified = CertifiedKey {
        certificate_chain: issued.certificate_chain.clone(),
        private_key: PrivateKeyPem(key.to_pem()),
    };
    Ok((certified, issued))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn view(tls: &[(&str, Option<&str>)]) -> ServiceConnectView {
        let ingress: Vec<_> = tls
            .iter()
            .enumerate()
            .map(|(i, (d, ca))| {
                json!({"discoveryName": d, "containerPort": 80 + i, "protocol": "http",
                       "tls": ca.map(|a| json!({"authorityArn": a}))})
            })
            .collect();
        serde_json::from_value(json!({"ingress": ingress})).unwrap()
    }

    fn holding(d: &str, ca: &str, rotate_at: i64) -> TaskCertificates {
        let mut c = TaskCertificates::default();
        c.held.insert(
            d.to_string(),
            Held {
                authority_arn: ca.to_string(),
                certified: CertifiedKey {
                    certificate_chain: String::new(),
                    private_key: PrivateKeyPem(String::new()),
                },
                rotate_at,
            },
        );
        c
    }

    #[test]
    fn what_is_wanted() {
        let w = |c: &TaskCertificates, v: &ServiceConnectView, now| {
            let w = c.wanted(v, now);
            (w.get, w.drop)
        };
        let none: Vec<String> = vec![];
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let v = view(&[("a", Some("ca1")), ("b", None)]);
        // Nothing held: the TLS service's certificate, not the plain one's.
        assert_eq!(
            w(&TaskCertificates::default(), &v, 0),
            (s(&["a"]), none.clone())
        );
        // Held and not due: nothing; due: again; another CA now: again.
        let c = holding("a", "ca1", 100);
        assert_eq!(w(&c, &v, 99), (none.clone(), none.clone()));
        assert_eq!(w(&c, &v, 100), (s(&["a"]), none.clone()));
        let other = view(&[("a", Some("ca2"))]);
        assert_eq!(w(&c, &other, 0), (s(&["a"]), none.clone()));
        // TLS turned off: dropped.
        let plain = view(&[("a", None)]);
        assert_eq!(w(&c, &plain, 0), (none.clone(), s(&["a"])));
        assert_eq!(c.due(), Some(100));
    }
}
