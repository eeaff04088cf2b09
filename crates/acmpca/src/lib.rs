//! AWS Private CA (`acm-pca`, API version 2017-08-22, AWS JSON 1.1 and Smithy
//! RPCv2-CBOR, target prefix `ACMPrivateCA`): private certificate authorities and the
//! certificates they issue.
//!
//! [`AcmPca`] implements [`berth_awsproto::Api`]: creating ROOT and SUBORDINATE CAs,
//! their CSRs, importing their certificates (checked: a CA certificate, for the CA's
//! key, the chain verified up to a root), issuing certificates by template, their
//! status (ACTIVE, DISABLED, DELETED and restored), and tags. Keys and certificates
//! are made by `berth-pki`.
//!
//! What berth does differently from AWS: a new CA is PENDING_CERTIFICATE at once (no
//! CREATING), certificates are issued synchronously (never RequestInProgressException),
//! keys are kept in berth's store (`KeyStorageSecurityStandard` is echoed), revocation
//! configurations are echoed (no CRL is published, no OCSP answered), and
//! `ApiPassthrough` is refused.
//!
//! Other crates use [`authority_in`] and [`issue_service_certificate_in`] inside their
//! own transaction; the certificates the latter makes (Service Connect tasks') are not
//! stored.
//!
//! # Store key layout
//!
//! CAs and certificates live under `pca/{account}/{region}/` (below: `P`); private
//! keys under a prefix of their own, `pca-key/{account}/{region}/`, which no API
//! reads back and nothing logs.
//!
//! | key | value |
//! |---|---|
//! | `P ca/{ca-id}` | [`CaRec`]: the `CertificateAuthority` as described, tags, CSR, certificate and chain |
//! | `P cert/{ca-id}/{cert-id}` | [`CertRec`]: a certificate IssueCertificate made, and its chain |
//! | `P token/create/{token}` | [`TokenRec`]: the CA an idempotency token made (5 minutes) |
//! | `P token/issue/{ca-id}/{token}` | [`TokenRec`]: the certificate an idempotency token made (1 minute) |
//! | `pca-key/{account}/{region}/{ca-id}` | the CA's private key, PKCS#8 PEM |

use std::sync::Arc;

use berth_awsproto::{
    output, Api, ApiError, Context, Input, JsonVersion, OutputShape, Protocol, Service,
};
use berth_store::{Reader, Store, Writer};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

mod algorithms;
mod arn;
mod ca;
mod certs;
mod errors;
mod issue;
mod records;
mod service;
mod subject;
mod tags;
mod templates;
mod validity;

#[cfg(test)]
mod tests;

pub use algorithms::default_signing;
pub use records::{
    Asn1Subject, CaConfiguration, CaRec, CaStatus, CaType, CertRec, CertificateAuthority,
    CustomAttribute, FailureReason, KeyAlgorithm, KeyStorageSecurityStandard, ResourceOwner,
    RevocationConfiguration, RevocationSwitch, SigningAlgorithm, Tag, TokenRec, UsageMode,
    ValidityPeriodType,
};
pub use service::{
    authority_in, issue_service_certificate_in, AuthorityInfo, IssueError, IssuedCertificate,
    ServiceNames,
};

/// The `X-Amz-Target` prefix and RPCv2-CBOR service name.
pub const TARGET_PREFIX: &str = "ACMPrivateCA";

/// How clients reach ACM PCA: JSON 1.1, and RPCv2-CBOR, which newer botocore prefers.
pub static SERVICE: Service = Service {
    signing_name: "acm-pca",
    protocols: &[
        Protocol::Json {
            target_prefix: TARGET_PREFIX,
            version: JsonVersion::V1_1,
        },
        Protocol::Cbor {
            service: TARGET_PREFIX,
            blobs: &[
                "IssueCertificate.Csr",
                "ImportCertificateAuthorityCertificate.Certificate",
                "ImportCertificateAuthorityCertificate.CertificateChain",
            ],
        },
    ],
    error_message_key: "message",
    query_compatible: false,
    output: OutputShape {
        timestamps: &[
            "CreatedAt",
            "LastStateChangeAt",
            "NotBefore",
            "NotAfter",
            "RestorableUntil",
        ],
        ..OutputShape::PLAIN
    },
};

/// AWS Private CA on berth's store.
#[derive(Debug, Clone)]
pub struct AcmPca {
    store: Arc<Store>,
}

impl AcmPca {
    /// ACM PCA over `store`.
    pub fn new(store: Arc<Store>) -> AcmPca {
        AcmPca { store }
    }

    /// Runs a reading operation on a snapshot, at the time of the call.
    fn read<I: DeserializeOwned, O: Serialize>(
        &self,
        ctx: &Context,
        input: Input,
        op: impl FnOnce(&Reader<'_>, &Context, I, f64) -> Result<O, ApiError>,
    ) -> Result<Value, ApiError> {
        let input = parse(input)?;
        let now = berth_awsproto::now();
        output(&self.store.read(|r| op(r, ctx, input, now))?)
    }

    /// Runs a writing operation in one transaction, at the time of the call.
    fn write<I: DeserializeOwned, O: Serialize>(
        &self,
        ctx: &Context,
        input: Input,
        op: impl FnOnce(&mut Writer<'_>, &Context, I, f64) -> Result<O, ApiError>,
    ) -> Result<Value, ApiError> {
        let input = parse(input)?;
        let now = berth_awsproto::now();
        output(&self.store.write(|w| op(w, ctx, input, now))?.0)
    }

    /// CreateCertificateAuthority: the key is made before the transaction.
    fn create(&self, ctx: &Context, input: Input) -> Result<Value, ApiError> {
        let new = ca::check_create(parse(input)?)?;
        let key = ca::make_key(&new)?;
        let now = berth_awsproto::now();
        output(
            &self
                .store
                .write(|w| ca::create_in(w, ctx, new, key, now))?
                .0,
        )
    }
}

/// An operation's input: a value outside an enum or a missing required member of a
/// structure is a `ValidationException`, as AWS answers them; other mismatches are
/// `SerializationException`s.
fn parse<T: DeserializeOwned>(input: Input) -> Result<T, ApiError> {
    input.parse().map_err(|mut e| {
        if e.message.contains("unknown variant") || e.message.contains("missing field") {
            e.code = errors::VALIDATION.to_string();
        }
        e
    })
}

impl Api for AcmPca {
    fn service(&self) -> &'static Service {
        &SERVICE
    }

    fn invoke(&self, ctx: &Context, op: &str, input: Input) -> Result<Value, ApiError> {
        match op {
            "CreateCertificateAuthority" => self.create(ctx, input),
            "DescribeCertificateAuthority" => {
                self.read(ctx, input, |r, c, i, t| ca::describe(r, c, i, t))
            }
            "ListCertificateAuthorities" => {
                self.read(ctx, input, |r, c, i, t| ca::list(r, c, i, t))
            }
            "UpdateCertificateAuthority" => self.write(ctx, input, ca::update),
            "DeleteCertificateAuthority" => self.write(ctx, input, ca::delete),
            "RestoreCertificateAuthority" => self.write(ctx, input, ca::restore),
            "GetCertificateAuthorityCsr" => {
                self.read(ctx, input, |r, c, i, t| certs::get_csr(r, c, i, t))
            }
            "ImportCertificateAuthorityCertificate" => self.write(ctx, input, certs::import),
            "GetCertificateAuthorityCertificate" => self.read(ctx, input, |r, c, i, t| {
                certs::get_ca_certificate(r, c, i, t)
            }),
            "IssueCertificate" => self.write(ctx, input, issue::issue),
            "GetCertificate" => self.read(ctx, input, |r, c, i, t| issue::get(r, c, i, t)),
            "TagCertificateAuthority" => self.write(ctx, input, tags::tag),
            "UntagCertificateAuthority" => self.write(ctx, input, tags::untag),
            "ListTags" => self.read(ctx, input, |r, c, i, t| tags::list(r, c, i, t)),
            _ => Err(ApiError::unknown_operation(op)),
        }
    }
}
