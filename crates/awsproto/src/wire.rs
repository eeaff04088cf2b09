//! Answers on the wire: an operation's output or error, encoded the way the request
//! came (AWS JSON 1.0/1.1, RPCv2-CBOR, query XML in either flavour), as plain data the
//! server turns into an HTTP response.

use serde_json::Value;

use crate::service::{JsonVersion, Protocol, QueryApi, QueryFlavour, Service};
use crate::{json_to_cbor, xml, ApiError, UNKNOWN_OPERATION};

/// The code the query protocols answer an unknown `Action` with.
pub const INVALID_ACTION: &str = "InvalidAction";
/// The code of a request whose body did not arrive in time (JSON and CBOR).
pub const REQUEST_TIMEOUT: &str = "RequestTimeoutException";
/// The same in the query protocols, as S3 and the query services spell it.
pub const QUERY_REQUEST_TIMEOUT: &str = "RequestTimeout";

/// How a request came, and so how its answer goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// AWS JSON, answered with this version's content type.
    Json(JsonVersion),
    /// Smithy RPCv2-CBOR.
    Cbor,
    /// AWS query, answered in XML.
    Query(QueryApi),
}

impl From<Protocol> for Wire {
    fn from(p: Protocol) -> Wire {
        match p {
            Protocol::Json { version, .. } => Wire::Json(version),
            Protocol::Cbor { .. } => Wire::Cbor,
            Protocol::Query(q) => Wire::Query(q),
        }
    }
}

impl Wire {
    /// A query request whose service is not known yet: errors in the flavour's
    /// shape, without a namespace.
    pub fn query_unrouted(flavour: QueryFlavour) -> Wire {
        Wire::Query(QueryApi {
            version: "",
            xml_namespace: "",
            flavour,
        })
    }
}

/// An answer: status, content type, extra headers and body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// The `Content-Type`.
    pub content_type: &'static str,
    /// Further headers, in order.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
}

const XML_CONTENT_TYPE: &str = "text/xml";
const CBOR_CONTENT_TYPE: &str = "application/cbor";

impl Wire {
    /// The answer carrying `output`, the result of `op` on `service`.
    pub fn output(&self, service: &Service, op: &str, output: &Value, request_id: &str) -> Reply {
        let body = match self {
            Wire::Json(_) => serde_json::to_vec(output).expect("a JSON value always serializes"),
            Wire::Cbor => json_to_cbor(output, service.output.timestamps),
            Wire::Query(api) => xml::response(api, &service.output, op, output, request_id).into(),
        };
        self.reply(200, body, request_id)
    }

    /// The answer carrying `error`. `service` is `None` when the request named no
    /// service berth serves.
    pub fn error(&self, service: Option<&Service>, error: &ApiError, request_id: &str) -> Reply {
        let message_key = service.map_or("message", |s| s.error_message_key);
        let timestamps = service.map_or(&[][..], |s| s.output.timestamps);
        let mut reply = match self {
            Wire::Json(_) => {
                let body = serde_json::to_vec(&error.body(message_key))
                    .expect("a JSON value always serializes");
                self.reply(error.status, body, request_id)
            }
            Wire::Cbor => {
                let body = json_to_cbor(&error.body(message_key), timestamps);
                self.reply(error.status, body, request_id)
            }
            Wire::Query(api) => {
                let error = query_error(error);
                let body = xml::error(api.flavour, api.xml_namespace, &error, request_id);
                return self.reply(error.status, body.into(), request_id);
            }
        };
        reply.headers.push(("x-amzn-errortype", error.code.clone()));
        if service.is_some_and(|s| s.query_compatible) {
            let fault = if error.status >= 500 {
                "Receiver"
            } else {
                "Sender"
            };
            let value = format!("{};{fault}", error.code);
            reply.headers.push(("x-amzn-query-error", value));
        }
        reply
    }

    fn reply(&self, status: u16, body: Vec<u8>, request_id: &str) -> Reply {
        let (content_type, mut headers) = match self {
            Wire::Json(v) => (v.content_type(), Vec::new()),
            Wire::Cbor => (
                CBOR_CONTENT_TYPE,
                vec![("smithy-protocol", "rpc-v2-cbor".to_string())],
            ),
            Wire::Query(_) => (XML_CONTENT_TYPE, Vec::new()),
        };
        headers.push(("x-amzn-requestid", request_id.to_string()));
        Reply {
            status,
            content_type,
            headers,
            body,
        }
    }
}

/// The query protocols' own codes: for an operation the service does not have, and
/// for a body that did not arrive in time.
fn query_error(error: &ApiError) -> ApiError {
    let code = match error.code.as_str() {
        UNKNOWN_OPERATION => INVALID_ACTION,
        REQUEST_TIMEOUT => QUERY_REQUEST_TIMEOUT,
        _ => return error.clone(),
    };
    ApiError {
        code: code.to_string(),
        ..error.clone()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::service::OutputShape;

    static GRANITE: Service = Service {
        signing_name: "monitoring",
        protocols: &[
            Protocol::Cbor {
                service: "GraniteServiceVersion20100801",
                blobs: &[],
            },
            Protocol::Json {
                target_prefix: "GraniteServiceVersion20100801",
                version: JsonVersion::V1_0,
            },
        ],
        error_message_key: "message",
        query_compatible: true,
        output: OutputShape {
            timestamps: &["Timestamp"],
            ..OutputShape::PLAIN
        },
    };

    fn header<'a>(r: &'a Reply, name: &str) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn json_1_0_answers_in_its_own_content_type() {
        let r = Wire::Json(JsonVersion::V1_0).output(
            &GRANITE,
            "ListMetrics",
            &json!({"Metrics": []}),
            "rid",
        );
        assert_eq!(r.status, 200);
        assert_eq!(r.content_type, "application/x-amz-json-1.0");
        assert_eq!(r.body, br#"{"Metrics":[]}"#);
        assert_eq!(header(&r, "x-amzn-requestid"), Some("rid"));
    }

    #[test]
    fn query_compatible_errors_name_the_query_code() {
        let e = ApiError::new(404, "ResourceNotFound", "no such dashboard");
        let r = Wire::Json(JsonVersion::V1_0).error(Some(&GRANITE), &e, "rid");
        assert_eq!(r.status, 404);
        assert_eq!(header(&r, "x-amzn-errortype"), Some("ResourceNotFound"));
        assert_eq!(
            header(&r, "x-amzn-query-error"),
            Some("ResourceNotFound;Sender")
        );
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            body,
            json!({"__type": "ResourceNotFound", "message": "no such dashboard"})
        );
        let r = Wire::Cbor.error(Some(&GRANITE), &ApiError::internal("x"), "rid");
        assert_eq!(r.content_type, "application/cbor");
        assert_eq!(header(&r, "smithy-protocol"), Some("rpc-v2-cbor"));
        assert_eq!(
            header(&r, "x-amzn-query-error"),
            Some("InternalFailure;Receiver")
        );
    }

    #[test]
    fn an_unknown_action_is_invalid_action_in_xml() {
        let api = QueryApi {
            version: "2011-06-15",
            xml_namespace: "https://sts.amazonaws.com/doc/2011-06-15/",
            flavour: QueryFlavour::Query,
        };
        let r = Wire::Query(api).error(None, &ApiError::unknown_operation("Nope"), "rid");
        assert_eq!(r.status, 400);
        assert_eq!(r.content_type, "text/xml");
        let body = String::from_utf8(r.body.clone()).unwrap();
        assert!(body.contains("<Code>InvalidAction</Code>"), "{body}");
        assert!(body.contains("<RequestId>rid</RequestId>"), "{body}");
        assert_eq!(header(&r, "x-amzn-errortype"), None);
    }
}
