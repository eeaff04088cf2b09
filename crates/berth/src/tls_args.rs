//! How long the certificates of Service Connect TLS live (`berth server`, `berth up`).

use berth_server::TlsSettings;

/// Task certificates for Service Connect TLS.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct TlsArgs {
    /// Seconds a task's TLS certificate is valid (AWS: 7 days).
    #[arg(long, value_name = "SECONDS", default_value_t = 7 * 86_400)]
    pub tls_certificate_validity: i64,
    /// Seconds after which an agent renews a task's TLS certificate (AWS: 5 days).
    #[arg(long, value_name = "SECONDS", default_value_t = 5 * 86_400)]
    pub tls_rotate_after: i64,
}

impl TlsArgs {
    /// The settings, once they make sense: renewal before expiry, both positive.
    pub fn settings(self) -> anyhow::Result<TlsSettings> {
        let (validity, rotate_after) = (self.tls_certificate_validity, self.tls_rotate_after);
        if rotate_after <= 0 || validity <= 0 {
            anyhow::bail!("--tls-certificate-validity and --tls-rotate-after must be positive");
        }
        if rotate_after >= validity {
            anyhow::bail!(
                "--tls-rotate-after ({rotate_after} s) must be shorter than --tls-certificate-validity ({validity} s)"
            );
        }
        Ok(TlsSettings {
            validity,
            rotate_after,
        })
    }
}
