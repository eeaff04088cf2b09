//! The query protocols' XML answers, written from an operation's JSON output and what
//! its service declares about that output ([`OutputShape`]).
//!
//! The query flavour wraps the output in `<OpResult>` beside `<ResponseMetadata>`; the
//! EC2 flavour puts `<requestId>` and the members straight under `<OpResponse>`.
//! Errors: `<ErrorResponse><Error><Type>..` (query) and `<Response><Errors><Error>..`
//! (EC2). Only what the writer puts together is escaped: element names come from
//! the service's own output members.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::service::{OutputShape, QueryApi, QueryFlavour};
use crate::time::format_iso8601;
use crate::ApiError;

const DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// The answer to `op`: `<OpResponse xmlns=..>` around the output.
pub(crate) fn response(
    api: &QueryApi,
    shape: &OutputShape,
    op: &str,
    output: &Value,
    request_id: &str,
) -> String {
    let mut w = XmlWriter::new(shape, api.flavour);
    let response = format!("{op}Response");
    if api.flavour == QueryFlavour::Ec2 {
        w.out.push_str(DECLARATION);
    }
    w.open_with_namespace(&response, api.xml_namespace);
    let members = output.as_object();
    match api.flavour {
        QueryFlavour::Query => {
            let result = format!("{op}Result");
            w.open(&result);
            if let Some(m) = members {
                w.members(m);
            }
            w.close(&result);
            w.open("ResponseMetadata");
            w.text_element("RequestId", request_id);
            w.close("ResponseMetadata");
        }
        QueryFlavour::Ec2 => {
            w.text_element("requestId", request_id);
            if let Some(m) = members {
                w.members(m);
            }
        }
    }
    w.close(&response);
    w.out
}

/// An error in the flavour's shape. `xml_namespace` may be empty (no service known).
pub(crate) fn error(
    flavour: QueryFlavour,
    xml_namespace: &str,
    e: &ApiError,
    request_id: &str,
) -> String {
    let shape = OutputShape::PLAIN;
    let mut w = XmlWriter::new(&shape, flavour);
    let error_body = |w: &mut XmlWriter<'_>| {
        w.open("Error");
        if flavour == QueryFlavour::Query {
            let kind = if e.status >= 500 {
                "Receiver"
            } else {
                "Sender"
            };
            w.text_element("Type", kind);
        }
        w.text_element("Code", &e.code);
        w.text_element("Message", &e.message);
        w.members(&e.extra);
        w.close("Error");
    };
    match flavour {
        QueryFlavour::Query => {
            w.open_with_namespace("ErrorResponse", xml_namespace);
            error_body(&mut w);
            w.text_element("RequestId", request_id);
            w.close("ErrorResponse");
        }
        QueryFlavour::Ec2 => {
            w.out.push_str(DECLARATION);
            w.open("Response");
            w.open("Errors");
            error_body(&mut w);
            w.close("Errors");
            w.text_element("RequestID", request_id);
            w.close("Response");
        }
    }
    w.out
}

struct XmlWriter<'a> {
    out: String,
    shape: &'a OutputShape,
    flavour: QueryFlavour,
}

impl<'a> XmlWriter<'a> {
    fn new(shape: &'a OutputShape, flavour: QueryFlavour) -> XmlWriter<'a> {
        XmlWriter {
            out: String::new(),
            shape,
            flavour,
        }
    }

    fn open(&mut self, name: &str) {
        let _ = write!(self.out, "<{name}>");
    }

    fn open_with_namespace(&mut self, name: &str, namespace: &str) {
        if namespace.is_empty() {
            return self.open(name);
        }
        let _ = write!(self.out, "<{name} xmlns=\"");
        escape_into(&mut self.out, namespace);
        self.out.push_str("\">");
    }

    fn close(&mut self, name: &str) {
        let _ = write!(self.out, "</{name}>");
    }

    fn text_element(&mut self, name: &str, text: &str) {
        self.open(name);
        escape_into(&mut self.out, text);
        self.close(name);
    }

    fn members(&mut self, members: &Map<String, Value>) {
        for (name, value) in members {
            self.member(name, name, value);
        }
    }

    /// Writes `value` as element `element`, by the rules the service declares for
    /// member `member` (a list's items and a map's values keep the list's member).
    fn member(&mut self, element: &str, member: &str, value: &Value) {
        match value {
            Value::Null => {}
            Value::Array(items) if self.shape.is_flattened(member) => {
                let element = self.shape.list_item_name(member).unwrap_or(element);
                for item in items {
                    self.member(element, member, item);
                }
            }
            Value::Array(items) => {
                let item_element = self.shape.list_item(member, self.flavour);
                self.open(element);
                for item in items {
                    self.member(item_element, member, item);
                }
                self.close(element);
            }
            Value::Object(entries) if self.shape.is_map(member) => {
                self.open(element);
                for (key, v) in entries {
                    self.open("entry");
                    self.text_element("key", key);
                    self.member("value", "", v);
                    self.close("entry");
                }
                self.close(element);
            }
            Value::Object(members) => {
                self.open(element);
                self.members(members);
                self.close(element);
            }
            Value::String(s) => self.text_element(element, s),
            Value::Bool(b) => self.text_element(element, if *b { "true" } else { "false" }),
            Value::Number(n) if self.shape.is_timestamp(member) => {
                let text = format_iso8601(n.as_f64().unwrap_or_default());
                self.text_element(element, &text)
            }
            Value::Number(n) => self.text_element(element, &n.to_string()),
        }
    }
}

/// Escapes text for XML content and attributes. Characters XML 1.0 cannot carry at
/// all (most control characters) become U+FFFD; a carriage return is kept as a
/// character reference, which parsers do not fold into a line feed.
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\r' => out.push_str("&#xD;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const STS: QueryApi = QueryApi {
        version: "2011-06-15",
        xml_namespace: "https://sts.amazonaws.com/doc/2011-06-15/",
        flavour: QueryFlavour::Query,
    };

    const EC2: QueryApi = QueryApi {
        version: "2016-11-15",
        xml_namespace: "http://ec2.amazonaws.com/doc/2016-11-15/",
        flavour: QueryFlavour::Ec2,
    };

    #[test]
    fn query_answer_is_wrapped_in_its_result() {
        let out = json!({"Account": "123456789012", "Arn": "arn:aws:iam::123456789012:root", "UserId": "123456789012"});
        let xml = response(
            &STS,
            &OutputShape::PLAIN,
            "GetCallerIdentity",
            &out,
            "rid-1",
        );
        assert_eq!(
            xml,
            "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
             <GetCallerIdentityResult><Account>123456789012</Account>\
             <Arn>arn:aws:iam::123456789012:root</Arn><UserId>123456789012</UserId>\
             </GetCallerIdentityResult>\
             <ResponseMetadata><RequestId>rid-1</RequestId></ResponseMetadata>\
             </GetCallerIdentityResponse>"
        );
    }

    /// CloudWatch's ListMetrics and GetMetricData as the query flavour writes them:
    /// `member` items, a map as entries, timestamps in ISO 8601.
    #[test]
    fn query_lists_maps_and_timestamps() {
        const SHAPE: OutputShape = OutputShape {
            timestamps: &["Timestamps", "Timestamp"],
            maps: &["ExtendedStatistics"],
            ..OutputShape::PLAIN
        };
        let api = QueryApi {
            version: "2010-08-01",
            xml_namespace: "http://monitoring.amazonaws.com/doc/2010-08-01/",
            flavour: QueryFlavour::Query,
        };
        let out = json!({
            "MetricDataResults": [{"Id": "m1", "Timestamps": [0.0, 60.5], "Values": [1, 2.5]}],
            "Datapoints": [{"Timestamp": 1661749852.422, "ExtendedStatistics": {"p99": 7.0}}],
            "NextToken": null,
            "Messages": [],
        });
        let xml = response(&api, &SHAPE, "GetMetricData", &out, "r");
        assert!(xml.contains(
            "<Datapoints><member><ExtendedStatistics><entry><key>p99</key><value>7.0</value></entry>\
             </ExtendedStatistics><Timestamp>2022-08-29T05:10:52.422Z</Timestamp></member></Datapoints>"
        ), "{xml}");
        assert!(xml.contains("<Messages></Messages>"), "{xml}");
        assert!(xml.contains(
            "<MetricDataResults><member><Id>m1</Id><Timestamps><member>1970-01-01T00:00:00.000Z</member>\
             <member>1970-01-01T00:01:00.500Z</member></Timestamps>\
             <Values><member>1</member><member>2.5</member></Values></member></MetricDataResults>"
        ), "{xml}");
        assert!(
            !xml.contains("NextToken"),
            "null members are left out: {xml}"
        );
    }

    /// DescribeVpcs as EC2 answers it: camelCase location names (the EC2 crate's
    /// output names them so), `<item>` list items, `requestId` first.
    #[test]
    fn ec2_answer_has_items_and_request_id() {
        const SHAPE: OutputShape = OutputShape {
            list_items: &[("groupSet", "groupId"), ("namedFlat", "oneName")],
            flattened: &["flatThing", "namedFlat"],
            ..OutputShape::PLAIN
        };
        let out = json!({"vpcSet": [{
            "vpcId": "vpc-1a2b3c4d", "state": "available", "cidrBlock": "10.0.0.0/16",
            "isDefault": false,
            "tagSet": [{"key": "Name", "value": "a<b & \"c\""}],
        }], "groupSet": ["sg-1"], "flatThing": ["x", "y"], "namedFlat": ["z"]});
        let xml = response(
            &EC2,
            &SHAPE,
            "DescribeVpcs",
            &out,
            "59dbff89-35bd-4eac-99ed-be587EXAMPLE",
        );
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <DescribeVpcsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
             <requestId>59dbff89-35bd-4eac-99ed-be587EXAMPLE</requestId>\
             <flatThing>x</flatThing><flatThing>y</flatThing>\
             <groupSet><groupId>sg-1</groupId></groupSet><oneName>z</oneName>\
             <vpcSet><item><cidrBlock>10.0.0.0/16</cidrBlock><isDefault>false</isDefault>\
             <state>available</state><tagSet><item><key>Name</key>\
             <value>a&lt;b &amp; &quot;c&quot;</value></item></tagSet>\
             <vpcId>vpc-1a2b3c4d</vpcId></item></vpcSet>\
             </DescribeVpcsResponse>"
        );
    }

    #[test]
    fn query_error_is_an_error_response() {
        let e = ApiError::new(400, "InvalidAction", "no <such> action");
        assert_eq!(
            error(QueryFlavour::Query, STS.xml_namespace, &e, "rid"),
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error>\
             <Type>Sender</Type><Code>InvalidAction</Code><Message>no &lt;such&gt; action</Message>\
             </Error><RequestId>rid</RequestId></ErrorResponse>"
        );
        let e = ApiError::internal("store: disk full");
        let xml = error(QueryFlavour::Query, "", &e, "rid");
        assert!(
            xml.starts_with("<ErrorResponse><Error><Type>Receiver</Type>"),
            "{xml}"
        );
    }

    #[test]
    fn ec2_error_is_a_response_with_errors() {
        let e = ApiError::new(
            400,
            "InvalidVpcID.NotFound",
            "The vpc ID 'vpc-1' does not exist",
        );
        assert_eq!(
            error(QueryFlavour::Ec2, EC2.xml_namespace, &e, "rid"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error>\
             <Code>InvalidVpcID.NotFound</Code><Message>The vpc ID 'vpc-1' does not exist</Message>\
             </Error></Errors><RequestID>rid</RequestID></Response>"
        );
    }

    #[test]
    fn text_that_xml_cannot_carry_is_replaced() {
        let mut s = String::new();
        escape_into(&mut s, "a\u{1}b\r\n\tc");
        assert_eq!(s, "a\u{FFFD}b&#xD;\n\tc");
    }
}
