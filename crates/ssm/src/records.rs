//! The API's enums, the stored record of a parameter (every version it keeps, its
//! tags) and the store keys.

use berth_awsproto::wire_enum;
use serde::{Deserialize, Serialize};

wire_enum! {
    /// A parameter's type.
    pub enum ParameterType {
        /// Plain text.
        String = "String",
        /// Comma-separated text.
        StringList = "StringList",
        /// Text kept sealed; readers see it only when they ask to decrypt.
        SecureString = "SecureString",
    }
}

wire_enum! {
    /// A parameter's storage tier. A stored version is Standard or Advanced;
    /// Intelligent-Tiering is a request for whichever fits the value.
    pub enum ParameterTier {
        /// Values up to 4 KB.
        Standard = "Standard",
        /// Values up to 8 KB.
        Advanced = "Advanced",
        /// Standard when the value fits, otherwise Advanced.
        IntelligentTiering = "Intelligent-Tiering",
    }
}

wire_enum! {
    /// What a parameter's value is: text, or an AMI id (kept as text by berth).
    pub enum DataType {
        /// Any text.
        Text = "text",
        /// An EC2 image id (AWS checks the image exists; berth keeps it as text).
        Ec2Image = "aws:ec2:image",
    }
}

wire_enum! {
    /// The resource types the tagging operations name.
    pub enum ResourceType {
        /// An SSM document (berth has none).
        Document = "Document",
        /// A managed node (berth has none).
        ManagedInstance = "ManagedInstance",
        /// A maintenance window (berth has none).
        MaintenanceWindow = "MaintenanceWindow",
        /// A Parameter Store parameter.
        Parameter = "Parameter",
        /// A patch baseline (berth has none).
        PatchBaseline = "PatchBaseline",
        /// An OpsItem (berth has none).
        OpsItem = "OpsItem",
        /// OpsMetadata (berth has none).
        OpsMetadata = "OpsMetadata",
        /// An automation (berth has none).
        Automation = "Automation",
        /// An association (berth has none).
        Association = "Association",
        /// A cloud connector (berth has none).
        CloudConnector = "CloudConnector",
    }
}

/// A tag, as the API writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
}

/// A version's value as stored: text, or sealed bytes (base64) for a SecureString.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoredValue {
    /// A String or StringList value.
    Plain(String),
    /// A SecureString value sealed under the data directory's values key, base64;
    /// the associated data is the parameter's ARN, `:` and the version.
    Sealed(String),
}

/// One version of a parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VersionRec {
    /// 1 for the first put, one more for each later one.
    pub version: u64,
    /// Its type.
    #[serde(rename = "Type")]
    pub kind: ParameterType,
    /// Its value.
    pub value: StoredValue,
    /// The KMS key a SecureString is "encrypted" with (echoed, as AWS shows it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Its description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The pattern its value matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_pattern: Option<String>,
    /// Standard or Advanced.
    pub tier: ParameterTier,
    /// Its data type.
    pub data_type: DataType,
    /// When it was put (epoch seconds).
    pub last_modified_date: f64,
    /// Who put it (an IAM ARN).
    pub last_modified_user: String,
    /// Its labels (a label is on one version of a parameter at most).
    #[serde(default)]
    pub labels: Vec<String>,
}

/// A parameter: its name, tags and the versions kept (oldest first, at most
/// [`MAX_VERSIONS`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ParamRec {
    /// Its name.
    pub name: String,
    /// Its tags, sorted by key.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Its versions, oldest first; never empty.
    pub versions: Vec<VersionRec>,
}

/// How many versions a parameter keeps.
pub const MAX_VERSIONS: usize = 100;

impl ParamRec {
    /// The newest version.
    pub fn latest(&self) -> &VersionRec {
        self.versions.last().expect("a parameter has a version")
    }

    /// Version `n`, if kept.
    pub fn version(&self, n: u64) -> Option<&VersionRec> {
        self.versions.iter().find(|v| v.version == n)
    }

    /// The version carrying `label`, if any.
    pub fn labelled(&self, label: &str) -> Option<&VersionRec> {
        self.versions
            .iter()
            .find(|v| v.labels.iter().any(|l| l == label))
    }
}

/// The store keys of one account and region: `ssm/<account>/<region>/`.
pub(crate) struct Keys {
    root: String,
}

impl Keys {
    pub(crate) fn new(account: &str, region: &str) -> Keys {
        Keys {
            root: format!("ssm/{account}/{region}/"),
        }
    }

    /// Where every parameter's record lives: this, then its name.
    pub(crate) fn params(&self) -> String {
        format!("{}parameter/", self.root)
    }

    /// A parameter's record.
    pub(crate) fn param(&self, name: &str) -> String {
        format!("{}parameter/{name}", self.root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_and_spells_the_api_enums() {
        let rec = ParamRec {
            name: "/a/b".into(),
            tags: vec![Tag {
                key: "k".into(),
                value: "v".into(),
            }],
            versions: vec![VersionRec {
                version: 1,
                kind: ParameterType::SecureString,
                value: StoredValue::Sealed("AAAA".into()),
                key_id: Some("alias/aws/ssm".into()),
                description: None,
                allowed_pattern: None,
                tier: ParameterTier::Standard,
                data_type: DataType::Text,
                last_modified_date: 1.5,
                last_modified_user: "arn:aws:iam::123456789012:root".into(),
                labels: vec!["prod".into()],
            }],
        };
        let v = serde_json::to_value(&rec).unwrap();
        assert_eq!(v["Versions"][0]["Type"], "SecureString");
        assert_eq!(v["Versions"][0]["DataType"], "text");
        assert_eq!(v["Versions"][0]["Value"]["Sealed"], "AAAA");
        assert!(v["Versions"][0].get("Description").is_none());
        let back: ParamRec = serde_json::from_value(v).unwrap();
        assert_eq!(back, rec);
        assert_eq!(back.labelled("prod").map(|v| v.version), Some(1));
        assert!(back.version(2).is_none());
        assert_eq!(
            ParameterTier::parse("Intelligent-Tiering"),
            Some(ParameterTier::IntelligentTiering)
        );
        let k = Keys::new("123456789012", "us-east-1");
        assert_eq!(k.param("/a/b"), "ssm/123456789012/us-east-1/parameter//a/b");
        assert!(k.param("x").starts_with(&k.params()));
    }
}
