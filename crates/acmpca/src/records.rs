//! The API's enums and the stored records, named as ACM PCA's answers name their
//! members, and the store keys.

use berth_awsproto::wire_enum;
use serde::{Deserialize, Serialize};
use serde_json::Value;

wire_enum! {
    /// A CA's status.
    pub enum CaStatus {
        /// Being made (berth's CAs skip it: they are PENDING_CERTIFICATE at once).
        Creating = "CREATING",
        /// Waiting for its certificate to be imported.
        PendingCertificate = "PENDING_CERTIFICATE",
        /// Issuing.
        Active = "ACTIVE",
        /// Deleted, restorable until `RestorableUntil`.
        Deleted = "DELETED",
        /// Turned off by its owner.
        Disabled = "DISABLED",
        /// Its certificate's NotAfter has passed.
        Expired = "EXPIRED",
        /// Creation failed (never, with berth).
        Failed = "FAILED",
    }
}

wire_enum! {
    /// Whether a CA is a root (self-signed) or signed by another CA.
    pub enum CaType {
        /// Self-signed.
        Root = "ROOT",
        /// Signed by a parent CA.
        Subordinate = "SUBORDINATE",
    }
}

wire_enum! {
    /// A CA's key algorithm, as the model lists them.
    pub enum KeyAlgorithm {
        /// RSA 2048.
        Rsa2048 = "RSA_2048",
        /// RSA 3072.
        Rsa3072 = "RSA_3072",
        /// RSA 4096.
        Rsa4096 = "RSA_4096",
        /// P-256.
        EcPrime256v1 = "EC_prime256v1",
        /// P-384.
        EcSecp384r1 = "EC_secp384r1",
        /// P-521 (not served by berth).
        EcSecp521r1 = "EC_secp521r1",
        /// ML-DSA-44 (not served by berth).
        MlDsa44 = "ML_DSA_44",
        /// ML-DSA-65 (not served by berth).
        MlDsa65 = "ML_DSA_65",
        /// ML-DSA-87 (not served by berth).
        MlDsa87 = "ML_DSA_87",
        /// SM2 (not served by berth).
        Sm2 = "SM2",
    }
}

wire_enum! {
    /// A signing algorithm, as the model lists them.
    pub enum SigningAlgorithm {
        /// ECDSA, SHA-256.
        Sha256WithEcdsa = "SHA256WITHECDSA",
        /// ECDSA, SHA-384.
        Sha384WithEcdsa = "SHA384WITHECDSA",
        /// ECDSA, SHA-512 (not served by berth).
        Sha512WithEcdsa = "SHA512WITHECDSA",
        /// RSA PKCS#1 v1.5, SHA-256.
        Sha256WithRsa = "SHA256WITHRSA",
        /// RSA PKCS#1 v1.5, SHA-384.
        Sha384WithRsa = "SHA384WITHRSA",
        /// RSA PKCS#1 v1.5, SHA-512.
        Sha512WithRsa = "SHA512WITHRSA",
        /// RSA-PSS, SHA-256 (not served by berth).
        Sha256WithRsaPss = "SHA256WITHRSA_PSS",
        /// RSA-PSS, SHA-384 (not served by berth).
        Sha384WithRsaPss = "SHA384WITHRSA_PSS",
        /// RSA-PSS, SHA-512 (not served by berth).
        Sha512WithRsaPss = "SHA512WITHRSA_PSS",
        /// SM2 (not served by berth).
        Sm3WithSm2 = "SM3WITHSM2",
        /// ML-DSA-44 (not served by berth).
        MlDsa44 = "ML_DSA_44",
        /// ML-DSA-65 (not served by berth).
        MlDsa65 = "ML_DSA_65",
        /// ML-DSA-87 (not served by berth).
        MlDsa87 = "ML_DSA_87",
    }
}

wire_enum! {
    /// What a CA's certificates are for.
    #[derive(Default)]
    pub enum UsageMode {
        /// Any validity.
        #[default]
        GeneralPurpose = "GENERAL_PURPOSE",
        /// At most seven days.
        ShortLivedCertificate = "SHORT_LIVED_CERTIFICATE",
    }
}

wire_enum! {
    /// Where AWS would keep the key (echoed: berth keeps it in its store).
    #[derive(Default)]
    pub enum KeyStorageSecurityStandard {
        /// FIPS 140-2 level 2.
        Fips140_2Level2OrHigher = "FIPS_140_2_LEVEL_2_OR_HIGHER",
        /// FIPS 140-2 level 3 (AWS's default).
        #[default]
        Fips140_2Level3OrHigher = "FIPS_140_2_LEVEL_3_OR_HIGHER",
        /// CCPC level 1.
        CcpcLevel1OrHigher = "CCPC_LEVEL_1_OR_HIGHER",
    }
}

wire_enum! {
    /// How a validity is counted.
    pub enum ValidityPeriodType {
        /// `Value` is a date, `YYYYMMDDHHMMSS`.
        EndDate = "END_DATE",
        /// `Value` is Unix seconds.
        Absolute = "ABSOLUTE",
        /// `Value` days from now.
        Days = "DAYS",
        /// `Value` months from now.
        Months = "MONTHS",
        /// `Value` years from now.
        Years = "YEARS",
    }
}

wire_enum! {
    /// Whose CAs ListCertificateAuthorities lists.
    #[derive(Default)]
    pub enum ResourceOwner {
        /// The caller's own.
        #[default]
        OwnSelf = "SELF",
        /// Shared with the caller by other accounts (none, with berth).
        OtherAccounts = "OTHER_ACCOUNTS",
    }
}

wire_enum! {
    /// Why a CA failed (never set by berth).
    pub enum FailureReason {
        /// Timed out.
        RequestTimedOut = "REQUEST_TIMED_OUT",
        /// Unsupported algorithm.
        UnsupportedAlgorithm = "UNSUPPORTED_ALGORITHM",
        /// Other.
        Other = "OTHER",
    }
}

/// An `ASN1Subject`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Asn1Subject {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organizational_unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinguished_name_qualifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub common_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initials: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pseudonym: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation_qualifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_attributes: Option<Vec<CustomAttribute>>,
}

/// A subject attribute named by its object identifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomAttribute {
    /// Dotted object identifier.
    pub object_identifier: String,
    /// Its value.
    pub value: String,
}

/// A CA's `CertificateAuthorityConfiguration`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CaConfiguration {
    /// Its key's algorithm.
    pub key_algorithm: KeyAlgorithm,
    /// How it signs.
    pub signing_algorithm: SigningAlgorithm,
    /// Its subject.
    pub subject: Asn1Subject,
    /// Echoed as given (berth's CSRs carry no extensions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csr_extensions: Option<Value>,
}

/// A CRL's or OCSP's configuration: `Enabled` read, the rest echoed as given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RevocationSwitch {
    /// Whether it is on (berth publishes no CRL and answers no OCSP either way).
    pub enabled: bool,
    /// Every other member, echoed.
    #[serde(flatten)]
    pub rest: serde_json::Map<String, Value>,
}

/// A CA's `RevocationConfiguration`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RevocationConfiguration {
    /// CRLs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crl_configuration: Option<RevocationSwitch>,
    /// OCSP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ocsp_configuration: Option<RevocationSwitch>,
}

impl RevocationConfiguration {
    /// What a CA created without one shows: both off.
    pub fn off() -> RevocationConfiguration {
        let off = || RevocationSwitch {
            enabled: false,
            rest: serde_json::Map::new(),
        };
        RevocationConfiguration {
            crl_configuration: Some(off()),
            ocsp_configuration: Some(off()),
        }
    }
}

/// A `CertificateAuthority` exactly as DescribeCertificateAuthority returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CertificateAuthority {
    pub arn: String,
    pub owner_account: String,
    pub created_at: f64,
    pub last_state_change_at: f64,
    #[serde(rename = "Type")]
    pub kind: CaType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    pub status: CaStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<FailureReason>,
    pub certificate_authority_configuration: CaConfiguration,
    pub revocation_configuration: RevocationConfiguration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restorable_until: Option<f64>,
    pub key_storage_security_standard: KeyStorageSecurityStandard,
    pub usage_mode: UsageMode,
}

/// A tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// A stored CA: what the API shows, its tags, CSR and certificates. Its private key is
/// stored apart ([`Keys::private_key`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaRec {
    pub authority: CertificateAuthority,
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// The CA's CSR, PEM.
    pub csr: String,
    /// The imported certificate, PEM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    /// The imported chain above it (none for a root), PEM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<String>,
    /// Its certificate's path length constraint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_len: Option<u32>,
}

/// A certificate IssueCertificate made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CertRec {
    pub arn: String,
    /// PEM.
    pub certificate: String,
    /// The issuing CA's certificate and its chain, PEM (none for a root's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<String>,
    pub serial: String,
    pub issued_at: f64,
}

/// What an idempotency token made, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenRec {
    pub arn: String,
    pub at: f64,
}

/// The store keys of one account and region.
pub(crate) struct Keys {
    prefix: String,
    secret: String,
}

impl Keys {
    pub(crate) fn new(account: &str, region: &str) -> Keys {
        Keys {
            prefix: format!("pca/{account}/{region}/"),
            secret: format!("pca-key/{account}/{region}/"),
        }
    }

    pub(crate) fn cas(&self) -> String {
        format!("{}ca/", self.prefix)
    }

    pub(crate) fn ca(&self, id: &str) -> String {
        format!("{}ca/{id}", self.prefix)
    }

    pub(crate) fn private_key(&self, id: &str) -> String {
        format!("{}{id}", self.secret)
    }

    pub(crate) fn certs(&self, ca_id: &str) -> String {
        format!("{}cert/{ca_id}/", self.prefix)
    }

    pub(crate) fn cert(&self, ca_id: &str, cert_id: &str) -> String {
        format!("{}cert/{ca_id}/{cert_id}", self.prefix)
    }

    pub(crate) fn create_token(&self, token: &str) -> String {
        format!("{}token/create/{token}", self.prefix)
    }

    pub(crate) fn issue_token(&self, ca_id: &str, token: &str) -> String {
        format!("{}token/issue/{ca_id}/{token}", self.prefix)
    }
}
