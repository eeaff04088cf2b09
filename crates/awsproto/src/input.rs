//! An operation's input as the front hands it over, whichever protocol carried it.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::form::{FormError, FormParams, Node};
use crate::{ApiError, QueryFlavour};

/// The code of a query parameter whose value does not fit the operation's input.
pub const INVALID_PARAMETER_VALUE: &str = "InvalidParameterValue";
/// The code of a query parameter the operation does not have (for input types that
/// deny unknown fields), as EC2 answers it.
pub const UNKNOWN_PARAMETER: &str = "UnknownParameter";

/// An operation's input.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// What AWS JSON and RPCv2-CBOR carry (CBOR bridged to JSON): members as the
    /// model names them, timestamps as epoch seconds.
    Json(Value),
    /// An AWS query form (without `Action` and `Version`), in the service's flavour.
    Form(FormParams, QueryFlavour),
}

impl From<Value> for Input {
    fn from(v: Value) -> Input {
        Input::Json(v)
    }
}

impl Input {
    /// Decodes the input into `T`, naming the field on a mismatch: JSON's
    /// `SerializationException`, or `InvalidParameterValue` with the form's parameter
    /// name (`Tags.member.2.Key`, `Filter.1.Value.3`). A form parameter that a type
    /// with `#[serde(deny_unknown_fields)]` does not have is `UnknownParameter`, named
    /// in full (`IpPermissions.1.Colour`).
    pub fn parse<T: DeserializeOwned>(self) -> Result<T, ApiError> {
        match self {
            Input::Json(v) => crate::parse_input(v),
            Input::Form(FormParams(node), flavour) => parse_form(node, flavour),
        }
    }

    /// The input as JSON, for operations written against JSON values. A form becomes
    /// text values with its numbered parameters as arrays: no numbers or booleans.
    pub fn into_value(self) -> Value {
        match self {
            Input::Json(v) => v,
            Input::Form(FormParams(node), _) => node.into_value(),
        }
    }
}

fn parse_form<T: DeserializeOwned>(node: Node, flavour: QueryFlavour) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(node).map_err(|e| {
        let name = parameter_name(e.path(), flavour);
        match e.into_inner() {
            FormError::Unknown(field) => {
                // The path already ends with the unknown name.
                let full = if name.is_empty() { field } else { name };
                let message = format!("The parameter {full} is not recognized");
                ApiError::new(400, UNKNOWN_PARAMETER, message)
            }
            FormError::Invalid(why) if name.is_empty() => ApiError::new(
                400,
                INVALID_PARAMETER_VALUE,
                format!("The request parameters do not fit the operation: {why}"),
            ),
            FormError::Invalid(why) => ApiError::new(
                400,
                INVALID_PARAMETER_VALUE,
                format!("Invalid value for parameter {name}: {why}"),
            ),
        }
    })
}

/// A deserialization path as the form names it: list items counted from 1, behind
/// `member.` in the query flavour.
fn parameter_name(path: &serde_path_to_error::Path, flavour: QueryFlavour) -> String {
    use serde_path_to_error::Segment;
    let mut parts = Vec::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => {
                if flavour == QueryFlavour::Query {
                    parts.push("member".to_string());
                }
                parts.push((index + 1).to_string());
            }
            Segment::Map { key } => parts.push(key.clone()),
            Segment::Enum { variant } => parts.push(variant.clone()),
            Segment::Unknown => parts.push("?".to_string()),
        }
    }
    parts.join(".")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;
    use crate::form::decode_form;

    fn form(body: &str, flavour: QueryFlavour) -> Input {
        Input::Form(decode_form(body.as_bytes()).unwrap().params, flavour)
    }

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(rename_all = "PascalCase")]
    struct Tag {
        key: String,
        value: Option<String>,
    }

    #[derive(Deserialize, Debug, PartialEq)]
    enum Statistic {
        Average,
        Sum,
    }

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(rename_all = "PascalCase")]
    struct QueryIn {
        duration_seconds: Option<u32>,
        enabled: Option<bool>,
        value: Option<f64>,
        start_time: Option<f64>,
        tags: Option<Vec<Tag>>,
        names: Option<Vec<String>>,
        statistics: Option<Vec<Statistic>>,
        attributes: Option<BTreeMap<String, String>>,
    }

    #[test]
    fn query_flavour_decodes_typed_input() {
        let input = form(
            "DurationSeconds=900&Enabled=true&Value=-1.5e3&StartTime=2022-08-29T05%3A10%3A52.500Z\
             &Tags.member.2.Key=b&Tags.member.1.Key=a&Tags.member.1.Value=1\
             &Names=&Statistics.member.1=Sum&Statistics.member.2=Average\
             &Attributes.entry.1.key=k1&Attributes.entry.1.value=v1\
             &Attributes.entry.2.key=k2&Attributes.entry.2.value=v2",
            QueryFlavour::Query,
        );
        let got: QueryIn = input.parse().unwrap();
        assert_eq!(
            got,
            QueryIn {
                duration_seconds: Some(900),
                enabled: Some(true),
                value: Some(-1500.0),
                start_time: Some(1661749852.5),
                tags: Some(vec![
                    Tag {
                        key: "a".into(),
                        value: Some("1".into())
                    },
                    Tag {
                        key: "b".into(),
                        value: None
                    },
                ]),
                names: Some(vec![]),
                statistics: Some(vec![Statistic::Sum, Statistic::Average]),
                attributes: Some(BTreeMap::from([
                    ("k1".into(), "v1".into()),
                    ("k2".into(), "v2".into())
                ])),
            }
        );
    }

    /// DescribeVpcs as botocore's EC2 serializer writes it: the list members take
    /// their (capitalized) location names, and lists are `Name.N`.
    #[derive(Deserialize, Debug, PartialEq)]
    struct Filter {
        #[serde(rename = "Name")]
        name: String,
        #[serde(rename = "Value", default)]
        values: Vec<String>,
    }

    #[derive(Deserialize, Debug, PartialEq)]
    struct DescribeVpcsIn {
        #[serde(rename = "Filter", default)]
        filters: Vec<Filter>,
        #[serde(rename = "VpcId", default)]
        vpc_ids: Vec<String>,
        #[serde(rename = "MaxResults")]
        max_results: Option<i32>,
        #[serde(rename = "DryRun")]
        dry_run: Option<bool>,
    }

    #[test]
    fn ec2_flavour_decodes_typed_input() {
        let input = form(
            "Filter.1.Name=tag%3AName&Filter.1.Value.1=web&Filter.1.Value.2=api\
             &Filter.2.Name=is-default&Filter.2.Value.1=false\
             &VpcId.1=vpc-1a2b3c4d&MaxResults=5&DryRun=false",
            QueryFlavour::Ec2,
        );
        let got: DescribeVpcsIn = input.parse().unwrap();
        assert_eq!(got.filters.len(), 2);
        assert_eq!(got.filters[0].name, "tag:Name");
        assert_eq!(got.filters[0].values, ["web", "api"]);
        assert_eq!(got.filters[1].values, ["false"]);
        assert_eq!(got.vpc_ids, ["vpc-1a2b3c4d"]);
        assert_eq!(got.max_results, Some(5));
        assert_eq!(got.dry_run, Some(false));
    }

    #[test]
    fn a_bad_value_names_the_parameter_as_the_form_does() {
        let e = form(
            "Filter.1.Name=x&Filter.2.Name=y&MaxResults=lots",
            QueryFlavour::Ec2,
        )
        .parse::<DescribeVpcsIn>()
        .unwrap_err();
        assert_eq!(e.code, INVALID_PARAMETER_VALUE);
        assert_eq!(e.status, 400);
        assert!(e.message.contains("MaxResults"), "{}", e.message);
        assert!(e.message.contains("'lots'"), "{}", e.message);
        let e = form(
            "Tags.member.1.Key=a&Tags.member.2.Value=b",
            QueryFlavour::Query,
        )
        .parse::<QueryIn>()
        .unwrap_err();
        assert!(
            e.message.contains("Tags.member.2"),
            "missing key names the item: {}",
            e.message
        );
        let e = form("Enabled=yes", QueryFlavour::Query)
            .parse::<QueryIn>()
            .unwrap_err();
        assert!(e.message.contains("Enabled"), "{}", e.message);
        let e = form("Statistics.member.1=Median", QueryFlavour::Query)
            .parse::<QueryIn>()
            .unwrap_err();
        assert!(e.message.contains("Statistics.member.1"), "{}", e.message);
        let e = form("Tags.member.x.Key=a", QueryFlavour::Query)
            .parse::<QueryIn>()
            .unwrap_err();
        assert!(e.message.contains("list item number"), "{}", e.message);
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Permission {
        #[serde(rename = "IpProtocol")]
        ip_protocol: Option<String>,
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct AuthorizeIn {
        #[serde(rename = "GroupId")]
        group_id: Option<String>,
        #[serde(rename = "IpPermissions", default)]
        ip_permissions: Vec<Permission>,
    }

    #[test]
    fn an_unknown_parameter_is_named_in_full() {
        let e = form("GroupId=sg-1&Colour=red", QueryFlavour::Ec2)
            .parse::<AuthorizeIn>()
            .unwrap_err();
        assert_eq!(e.code, UNKNOWN_PARAMETER);
        assert_eq!(e.status, 400);
        assert_eq!(e.message, "The parameter Colour is not recognized");
        let e = form(
            "IpPermissions.1.IpProtocol=tcp&IpPermissions.2.Port=80",
            QueryFlavour::Ec2,
        )
        .parse::<AuthorizeIn>()
        .unwrap_err();
        assert_eq!(e.code, UNKNOWN_PARAMETER);
        assert_eq!(
            e.message,
            "The parameter IpPermissions.2.Port is not recognized"
        );
        // Types that do not deny unknown fields still ignore them.
        let ok: DescribeVpcsIn = form("Colour=red", QueryFlavour::Ec2).parse().unwrap();
        assert!(ok.filters.is_empty());
    }

    #[test]
    fn json_input_keeps_its_errors() {
        let e = Input::Json(serde_json::json!({"DurationSeconds": "900"}))
            .parse::<QueryIn>()
            .unwrap_err();
        assert_eq!(e.code, "SerializationException");
        assert!(e.message.contains("DurationSeconds"), "{}", e.message);
    }
}
