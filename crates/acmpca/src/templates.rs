//! The certificate templates berth serves (`arn:aws:acm-pca:::template/<name>/V1`).

use berth_awsproto::ApiError;
use berth_pki::{CsrInfo, Names, Usage};

use crate::arn::CaArn;
use crate::errors::{invalid_args, invalid_arn, invalid_state};
use crate::records::{CaRec, CaStatus, CaType};

/// A template: what the certificates it makes are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Template {
    /// EndEntityCertificate (both), EndEntityServerAuthCertificate,
    /// EndEntityClientAuthCertificate: the CSR's subject and names.
    EndEntity {
        server_auth: bool,
        client_auth: bool,
    },
    /// RootCACertificate: a root CA's own certificate.
    RootCa,
    /// SubordinateCACertificate_PathLenN: a CA below this one.
    SubordinateCa { path_len: u8 },
}

/// The templates by name, for version V1.
const NAMES: &[(&str, Template)] = &[
    (
        "EndEntityCertificate",
        Template::EndEntity {
            server_auth: true,
            client_auth: true,
        },
    ),
    (
        "EndEntityServerAuthCertificate",
        Template::EndEntity {
            server_auth: true,
            client_auth: false,
        },
    ),
    (
        "EndEntityClientAuthCertificate",
        Template::EndEntity {
            server_auth: false,
            client_auth: true,
        },
    ),
    ("RootCACertificate", Template::RootCa),
    (
        "SubordinateCACertificate_PathLen0",
        Template::SubordinateCa { path_len: 0 },
    ),
    (
        "SubordinateCACertificate_PathLen1",
        Template::SubordinateCa { path_len: 1 },
    ),
    (
        "SubordinateCACertificate_PathLen2",
        Template::SubordinateCa { path_len: 2 },
    ),
    (
        "SubordinateCACertificate_PathLen3",
        Template::SubordinateCa { path_len: 3 },
    ),
];

impl Template {
    /// The template a `TemplateArn` names (EndEntityCertificate/V1 when none).
    pub(crate) fn parse(arn: Option<&str>) -> Result<Template, ApiError> {
        let Some(arn) = arn else {
            return Ok(NAMES[0].1);
        };
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let name = match parts[..] {
            ["arn", partition, "acm-pca", "", "", resource] if !partition.is_empty() => resource
                .strip_prefix("template/")
                .and_then(|r| r.split_once('/')),
            _ => None,
        };
        let Some((name, version)) = name else {
            return Err(invalid_arn(arn));
        };
        match NAMES.iter().find(|(n, _)| *n == name) {
            Some((_, t)) if version == "V1" => Ok(*t),
            _ => Err(invalid_args(format!(
                "TemplateArn: berth does not serve the template {name}/{version}; it serves {}",
                NAMES
                    .iter()
                    .map(|(n, _)| format!("{n}/V1"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// What certificates of this template are for.
    pub(crate) fn usage(self) -> Usage {
        match self {
            Template::EndEntity {
                server_auth,
                client_auth,
            } => Usage::EndEntity {
                server_auth,
                client_auth,
            },
            Template::RootCa => Usage::Ca { path_len: None },
            Template::SubordinateCa { path_len } => Usage::Ca {
                path_len: Some(path_len),
            },
        }
    }

    /// The subject alternative names: an end entity's come from its CSR.
    pub(crate) fn names(self, csr: &CsrInfo) -> Names {
        match self {
            Template::EndEntity { .. } => csr.names.clone(),
            _ => Names::default(),
        }
    }

    /// Whether a CA in `status` issues with this template.
    pub(crate) fn check_ca(
        self,
        arn: &CaArn,
        rec: &CaRec,
        status: CaStatus,
    ) -> Result<(), ApiError> {
        match self {
            Template::RootCa if rec.authority.kind != CaType::Root => Err(invalid_args(
                "TemplateArn: RootCACertificate/V1 is for a ROOT CA's own certificate",
            )),
            Template::RootCa if status != CaStatus::PendingCertificate => Err(invalid_state(
                &arn.arn,
                status,
                "RootCACertificate/V1 signs the CA's own CSR while it is PENDING_CERTIFICATE",
            )),
            Template::RootCa => Ok(()),
            _ if status != CaStatus::Active => Err(invalid_state(
                &arn.arn,
                status,
                "only an ACTIVE CA issues certificates",
            )),
            Template::SubordinateCa { path_len } => check_path_len(rec.path_len, path_len),
            Template::EndEntity { .. } => Ok(()),
        }
    }
}

/// A CA whose certificate limits the path length issues only CAs with a shorter one.
fn check_path_len(ca: Option<u32>, wanted: u8) -> Result<(), ApiError> {
    match ca {
        Some(limit) if u32::from(wanted) >= limit => Err(invalid_args(format!(
            "TemplateArn: the CA's path length is {limit}, so it issues CA certificates with a path length below it, not {wanted}"
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_arns() {
        let table: &[(&str, Result<Template, &str>)] = &[
            (
                "arn:aws:acm-pca:::template/EndEntityCertificate/V1",
                Ok(NAMES[0].1),
            ),
            (
                "arn:aws:acm-pca:::template/RootCACertificate/V1",
                Ok(Template::RootCa),
            ),
            (
                "arn:aws:acm-pca:::template/SubordinateCACertificate_PathLen2/V1",
                Ok(Template::SubordinateCa { path_len: 2 }),
            ),
            (
                "arn:aws-cn:acm-pca:::template/EndEntityClientAuthCertificate/V1",
                Ok(Template::EndEntity {
                    server_auth: false,
                    client_auth: true,
                }),
            ),
            (
                "arn:aws:acm-pca:::template/CodeSigningCertificate/V1",
                Err("InvalidArgsException"),
            ),
            (
                "arn:aws:acm-pca:::template/EndEntityCertificate/V2",
                Err("InvalidArgsException"),
            ),
            (
                "arn:aws:acm-pca:::template/EndEntityCertificate",
                Err("InvalidArnException"),
            ),
            (
                "arn:aws:acm:::template/EndEntityCertificate/V1",
                Err("InvalidArnException"),
            ),
            ("nope", Err("InvalidArnException")),
        ];
        for (arn, want) in table {
            let got = Template::parse(Some(arn)).map_err(|e| e.code);
            assert_eq!(got, want.map_err(String::from), "{arn}");
        }
        assert_eq!(Template::parse(None).unwrap(), NAMES[0].1);
    }

    #[test]
    fn path_lengths_shrink_down_the_chain() {
        let table = [
            (None, 3, true),
            (Some(1), 0, true),
            (Some(1), 1, false),
            (Some(0), 0, false),
        ];
        for (ca, wanted, ok) in table {
            assert_eq!(check_path_len(ca, wanted).is_ok(), ok, "{ca:?} {wanted}");
        }
    }
}
