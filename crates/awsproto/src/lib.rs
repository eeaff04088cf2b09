//! The AWS wire conventions berth speaks: the request context taken from a SigV4
//! `Authorization` header, AWS-style errors, ARNs and ids, pagination tokens, input
//! decoding that names the offending field, and every protocol the front serves: AWS
//! JSON 1.0/1.1, Smithy RPCv2-CBOR (bridged to the same JSON values), and AWS query in
//! its two flavours (form in, XML out).
//!
//! Operation crates (`berth-ecs`, `berth-cloudmap`, `berth-sts`) implement [`Api`]: a
//! static [`Service`] saying how clients reach them, and an [`Input`] in, a JSON value
//! out. The front decodes requests into [`Input`]s and encodes answers with [`Wire`];
//! operations never see HTTP or an encoding.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use rand::Rng;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

mod cbor;
pub mod fixed;
mod form;
mod input;
mod service;
mod time;
mod wire;
mod wire_enum;
mod xml;

pub use cbor::{cbor_input, cbor_to_json, json_to_cbor};
pub use form::{decode_form, FormParams, QueryRequest, MALFORMED_QUERY_STRING};
pub use input::{Input, INVALID_PARAMETER_VALUE, UNKNOWN_PARAMETER};
pub use service::{JsonVersion, OutputShape, Protocol, QueryApi, QueryFlavour, Service};
pub use time::{format_iso8601, parse_iso8601};
pub use wire::{Reply, Wire, INVALID_ACTION, QUERY_REQUEST_TIMEOUT, REQUEST_TIMEOUT};

/// The account id used when the access key id is not a 12-digit number.
pub const DEFAULT_ACCOUNT: &str = "123456789012";
/// The region used when the request carries no credential scope.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Who is calling and where: the account and region every resource is scoped to, and
/// which of the account's principals signed the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// The 12-digit account id.
    pub account: String,
    /// The region, from the SigV4 credential scope.
    pub region: String,
    /// Who signed: the account's root user or one of its berth agents.
    pub caller: Caller,
}

/// The principal a verified request was signed by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Caller {
    /// The account's root user: every operation of the account.
    #[default]
    Root,
    /// A berth agent that joined one cluster: only the operations its service marks as
    /// agents' ([`Api::agent_operation`]), for its own container instance.
    Agent {
        /// The agent's access key id (what ties it to its container instance).
        access_key_id: String,
        /// The cluster it joined (a name).
        cluster: String,
    },
    /// One of a task's roles, through the temporary credentials berth gave the task (or
    /// its agent, acting for it): what the root user may do, none of the agents'
    /// operations.
    Task {
        /// The task's ARN.
        task_arn: String,
    },
}

impl Default for Context {
    fn default() -> Self {
        Context::new(DEFAULT_ACCOUNT, DEFAULT_REGION)
    }
}

impl Context {
    /// The root user of `account` in `region`.
    pub fn new(account: &str, region: &str) -> Context {
        Context {
            account: account.to_string(),
            region: region.to_string(),
            caller: Caller::Root,
        }
    }

    /// The agent's identity, if an agent signed.
    pub fn agent(&self) -> Option<(&str, &str)> {
        match &self.caller {
            Caller::Agent {
                access_key_id,
                cluster,
            } => Some((access_key_id, cluster)),
            Caller::Root | Caller::Task { .. } => None,
        }
    }

    /// The service name of a SigV4 `Authorization` header's credential scope
    /// (`.../us-west-2/sts/aws4_request` → `sts`), if it has one.
    pub fn signing_name(header: Option<&str>) -> Option<&str> {
        let cred = header?
            .split([' ', ','])
            .find_map(|part| part.trim().strip_prefix("Credential="))?;
        cred.split('/').nth(3).filter(|s| !s.is_empty())
    }

    /// `arn:aws:<service>:<region>:<account>:<resource>`.
    pub fn arn(&self, service: &str, resource: &str) -> String {
        format!(
            "arn:aws:{service}:{}:{}:{resource}",
            self.region, self.account
        )
    }
}

/// A region name's shape: lowercase letters, digits and hyphens.
pub fn valid_region(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= 32
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The code of an operation the service does not have (JSON and CBOR).
pub const UNKNOWN_OPERATION: &str = "UnknownOperationException";

/// An error as AWS returns it: an HTTP status, a code (`__type`) and a message, plus
/// the extra members some error shapes carry.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// The error code, e.g. `ClientException` or `InvalidInput`.
    pub code: String,
    /// Human-readable text naming the field at fault.
    pub message: String,
    /// Extra members of the error shape (e.g. Cloud Map's `NamespaceId`).
    pub extra: Map<String, Value>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.status, self.message)
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    /// An error with the given status, code and message.
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: code.to_string(),
            message: message.into(),
            extra: Map::new(),
        }
    }

    /// Adds an extra member to the error body.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> ApiError {
        self.extra.insert(key.to_string(), value.into());
        self
    }

    /// A body that is not valid for the operation's input shape.
    pub fn serialization(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "SerializationException", message)
    }

    /// An internal failure; berth keeps serving.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(500, "InternalFailure", message)
    }

    /// The request names an operation the service does not have. The query
    /// protocols answer it as [`INVALID_ACTION`].
    pub fn unknown_operation(op: &str) -> ApiError {
        ApiError::new(
            400,
            UNKNOWN_OPERATION,
            format!("operation {op} is not supported"),
        )
    }

    /// The JSON body of this error, with the message under `message_key`
    /// (`message` for ECS, `Message` for Cloud Map).
    pub fn body(&self, message_key: &str) -> Value {
        let mut m = Map::new();
        m.insert("__type".into(), Value::String(self.code.clone()));
        m.insert(message_key.into(), Value::String(self.message.clone()));
        for (k, v) in &self.extra {
            m.insert(k.clone(), v.clone());
        }
        Value::Object(m)
    }
}

/// A store failure is berth's fault: `InternalFailure`, and the server keeps serving.
impl From<berth_store::StoreError> for ApiError {
    fn from(e: berth_store::StoreError) -> ApiError {
        ApiError::internal(format!("store: {e}"))
    }
}

/// One service: how clients reach it, and its operations.
///
/// A service crate declares a `static` [`Service`] and implements [`Api::invoke`]; the
/// server registers it with one line and routes to it by the protocols it declares.
pub trait Api: Send + Sync {
    /// How clients reach the service and what its outputs hold.
    fn service(&self) -> &'static Service;

    /// Runs operation `op` on `input` (typed inputs: [`Input::parse`]). An operation
    /// the service does not have is [`ApiError::unknown_operation`].
    fn invoke(&self, ctx: &Context, op: &str, input: Input) -> Result<Value, ApiError>;

    /// Whether `op` is one berth's agents call (and so the only kind they may call);
    /// such operations check that an agent acts only for its own container instance.
    fn agent_operation(&self, _op: &str) -> bool {
        false
    }

    /// Runs operation `op` on a JSON input, as JSON and CBOR clients send it (tests and
    /// in-process callers).
    fn call(&self, ctx: &Context, op: &str, input: Value) -> Result<Value, ApiError> {
        self.invoke(ctx, op, Input::Json(input))
    }
}

/// An operation's typed output as the JSON value the front encodes.
pub fn output<T: Serialize>(out: &T) -> Result<Value, ApiError> {
    serde_json::to_value(out).map_err(|e| ApiError::internal(format!("encoding the output: {e}")))
}

/// Decodes an operation's input into `T`, naming the field on a type mismatch the way
/// AWS reports it: `SerializationException`.
pub fn parse_input<T: DeserializeOwned>(input: Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(input).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        if path == "." || path.is_empty() {
            ApiError::serialization(format!(
                "Request body does not match the input shape: {inner}"
            ))
        } else {
            ApiError::serialization(format!("Invalid value for field '{path}': {inner}"))
        }
    })
}

/// Seconds since the Unix epoch, with millisecond precision, as AWS's JSON timestamps
/// (the thread's fixed clock under [`fixed::Fixed`]).
pub fn now() -> f64 {
    if let Some(t) = fixed::clock() {
        return t;
    }
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_millis() as f64) / 1000.0
}

/// A random string of `len` characters from `alphabet`.
pub fn random_string(len: usize, alphabet: &[u8]) -> String {
    (0..len)
        .map(|_| alphabet[random_below(alphabet.len() as u64) as usize] as char)
        .collect()
}

/// A random number in `0..n` (from the thread's seeded generator under [`fixed::Fixed`]).
pub fn random_below(n: u64) -> u64 {
    fixed::with_rng(|rng| rng.gen_range(0..n))
}

/// Lowercase letters and digits.
pub const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
/// Lowercase hexadecimal digits.
pub const HEX: &[u8] = b"0123456789abcdef";

/// A random RFC 4122 version-4 UUID.
pub fn uuid_v4() -> String {
    let mut b: [u8; 16] = fixed::with_rng(|rng| rng.gen());
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Turns the last key of a page into an opaque `nextToken`.
pub fn encode_token(last_key: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last_key.as_bytes())
}

/// Reads a `nextToken` back; `field` names the member in the error.
pub fn decode_token(token: &str, field: &str, code: &str) -> Result<String, ApiError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.as_bytes())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            ApiError::new(
                400,
                code,
                format!("{field} is not a valid pagination token"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_arns_and_callers() {
        let c = Context::new("111122223333", "us-west-2");
        assert_eq!(c.caller, Caller::Root);
        assert_eq!(c.agent(), None);
        assert_eq!(
            c.arn("ecs", "cluster/x"),
            "arn:aws:ecs:us-west-2:111122223333:cluster/x"
        );
        assert!(valid_region("ap-northeast-1"));
        assert!(!valid_region("Bad Region"));
    }

    #[test]
    fn parse_input_names_the_field() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Sc {
            namespace: Option<String>,
        }
        #[derive(serde::Deserialize, Debug)]
        #[serde(rename_all = "camelCase")]
        #[allow(dead_code)]
        struct In {
            service_connect_configuration: Option<Sc>,
        }
        let err = parse_input::<In>(
            serde_json::json!({"serviceConnectConfiguration": {"namespace": true}}),
        )
        .unwrap_err();
        assert_eq!(err.code, "SerializationException");
        assert!(
            err.message
                .contains("serviceConnectConfiguration.namespace"),
            "{}",
            err.message
        );
    }

    #[test]
    fn tokens_round_trip_and_reject_garbage() {
        let t = encode_token("ecs/x/y");
        assert_eq!(
            decode_token(&t, "nextToken", "InvalidParameterException").unwrap(),
            "ecs/x/y"
        );
        assert!(decode_token("!!", "nextToken", "InvalidParameterException").is_err());
    }

    #[test]
    fn uuid_shape() {
        let u = uuid_v4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }
}
