//! The API front: finds the protocol, the service and the operation of a request,
//! reads its body into an [`Input`], runs the operation on a blocking thread and
//! answers in the request's own protocol.
//!
//! - AWS JSON 1.0/1.1: `POST /` with `X-Amz-Target: <prefix>.<Operation>`.
//! - RPCv2-CBOR: `POST /service/<service>/operation/<Operation>`.
//! - AWS query: `POST /` with a form body; `Version` (and, where several services
//!   share it, the SigV4 signing name) picks the service, `Action` the operation.
//!
//! The front knows protocols and the registry's routing keys, never an operation's
//! input or output.

use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_awsproto::{
    cbor_input, decode_form, Api, ApiError, Context, Input, JsonVersion, QueryFlavour, Reply,
    Service, Wire,
};
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Body;
use serde_json::Value;
use tracing::{debug, warn};

use crate::auth::{auth_error, signing_name, AuthMode, Authenticator};
use crate::registry::Registry;

/// The services and the limits of the API, and who may call it.
pub(crate) struct Front {
    registry: Registry,
    max_body: usize,
    auth: Authenticator,
    mode: AuthMode,
    body_deadline: Duration,
}

/// A request the front could not take to an operation: the error, and how to say it.
struct Refusal {
    wire: Wire,
    service: Option<&'static Service>,
    error: Box<ApiError>,
}

impl Refusal {
    /// Refused before any service is known.
    fn new(wire: Wire, error: ApiError) -> Refusal {
        Refusal::by(wire, None, error)
    }

    fn by(wire: Wire, service: Option<&'static Service>, error: ApiError) -> Refusal {
        Refusal {
            wire,
            service,
            error: Box::new(error),
        }
    }
}

/// A request on its way to an operation.
struct Call {
    api: Arc<dyn Api>,
    wire: Wire,
    op: String,
    input: Input,
    ctx: Context,
}

/// The protocol a request speaks, by its path and headers.
enum Kind {
    Json(Option<String>),
    Cbor(String),
    Query,
}

const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";
const MISSING_TARGET: &str = "missing X-Amz-Target header (expected e.g. \
    AmazonEC2ContainerServiceV20141113.ListClusters), and the body is not an AWS query form \
    (Content-Type: application/x-www-form-urlencoded)";
const JSON_ANSWER: Wire = Wire::Json(JsonVersion::V1_1);

impl Front {
    pub(crate) fn new(
        registry: Registry,
        max_body: usize,
        auth: Authenticator,
        mode: AuthMode,
    ) -> Front {
        Front {
            registry,
            max_body,
            auth,
            mode,
            body_deadline: crate::Limits::default().body_deadline,
        }
    }

    /// How long a body may take to arrive (408 after).
    pub(crate) fn with_body_deadline(self, body_deadline: Duration) -> Front {
        Front {
            body_deadline,
            ..self
        }
    }

    /// The caller of a request whose body was read, signed for `service`.
    fn authenticate(
        &self,
        parts: &Parts,
        body: &[u8],
        wire: Wire,
        service: &'static Service,
    ) -> Result<Context, Refusal> {
        self.auth
            .authenticate(
                &signed(parts, body),
                service.signing_name,
                std::time::SystemTime::now(),
            )
            .map_err(|e| {
                debug!(error = %e, "signature refused");
                Refusal::by(wire, Some(service), auth_error(wire, &e))
            })
    }

    /// The caller of a request outside the AWS protocols (the agents' endpoints), signed
    /// for `signing_name`; refusals as AWS JSON.
    pub(crate) fn authenticate_raw(
        &self,
        parts: &Parts,
        body: &[u8],
        signing_name: &str,
    ) -> Result<Context, ApiError> {
        self.auth
            .authenticate(
                &signed(parts, body),
                signing_name,
                std::time::SystemTime::now(),
            )
            .map_err(|e| auth_error(JSON_ANSWER, &e))
    }

    /// Agents call the agents' operations, and only those.
    fn check_caller(&self, call: &Call) -> Result<(), Refusal> {
        let agents_op = call.api.agent_operation(&call.op);
        let service = call.api.service();
        let refuse = |message: String| {
            let code = match call.wire {
                Wire::Query(_) => "AccessDenied",
                _ => "AccessDeniedException",
            };
            warn!(op = %call.op, caller = ?call.ctx.caller, "refused: {message}");
            Refusal::by(call.wire, Some(service), ApiError::new(403, code, message))
        };
        match call.ctx.agent() {
            Some((key, _)) if !agents_op => Err(refuse(format!(
                "agent {key} is not allowed to perform {}:{}: agents' credentials serve the agents' operations only",
                service.signing_name, call.op
            ))),
            None if agents_op && self.mode != AuthMode::Unchecked => Err(refuse(format!(
                "{} is called by berth agents only: a host joins a cluster with `berth agent --token` (tokens from `berth token create`)",
                call.op
            ))),
            _ => Ok(()),
        }
    }

    /// Answers one API request.
    pub(crate) async fn handle<B>(&self, req: http::Request<B>) -> Response<Full<Bytes>>
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let started = Instant::now();
        let request_id = berth_awsproto::uuid_v4();
        let (parts, body) = req.into_parts();
        let prepared = match self.prepare(&parts, body).await {
            Ok(call) => self.check_caller(&call).map(|()| call),
            Err(r) => Err(r),
        };
        let (reply, op) = match prepared {
            Ok(call) => {
                let op = call.op.clone();
                (run(call, &request_id).await, Some(op))
            }
            Err(r) => (r.wire.error(r.service, &r.error, &request_id), None),
        };
        debug!(
            op = op.as_deref().unwrap_or("-"),
            status = reply.status,
            micros = started.elapsed().as_micros() as u64,
            "request"
        );
        to_http(reply)
    }

    /// Finds the service and operation and reads the input.
    async fn prepare<B>(&self, parts: &Parts, body: B) -> Result<Call, Refusal>
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let kind = kind_of(parts);
        if parts.method != Method::POST {
            let wire = match kind {
                Kind::Query => Wire::query_unrouted(QueryFlavour::Query),
                Kind::Cbor(_) => Wire::Cbor,
                Kind::Json(_) => JSON_ANSWER,
            };
            let message = format!(
                "{} is not supported: AWS JSON, RPCv2-CBOR and query requests are POST",
                parts.method
            );
            let error = ApiError::new(405, "MethodNotAllowedException", message);
            return Err(Refusal::new(wire, error));
        }
        match kind {
            Kind::Json(target) => self.prepare_json(parts, target.as_deref(), body).await,
            Kind::Cbor(rest) => self.prepare_cbor(parts, &rest, body).await,
            Kind::Query => self.prepare_query(parts, body).await,
        }
    }

    async fn prepare_json<B>(
        &self,
        parts: &Parts,
        target: Option<&str>,
        body: B,
    ) -> Result<Call, Refusal>
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (api, version, op) = self.route_json(parts.uri.path(), target)?;
        let wire = Wire::Json(version);
        let fail = |error| Refusal::by(wire, Some(api.service()), error);
        check_content_type(&parts.headers, wire).map_err(fail)?;
        let bytes = read_body(body, &parts.headers, self.max_body, self.body_deadline)
            .await
            .map_err(fail)?;
        let ctx = self.authenticate(parts, &bytes, wire, api.service())?;
        let bytes = inflated(&parts.headers, bytes, self.max_body).map_err(fail)?;
        let input = json_input(&bytes).map_err(fail)?;
        Ok(Call {
            api,
            wire,
            op,
            input,
            ctx,
        })
    }

    async fn prepare_cbor<B>(&self, parts: &Parts, rest: &str, body: B) -> Result<Call, Refusal>
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (api, op) = self.route_cbor(rest)?;
        let fail = |error| Refusal::by(Wire::Cbor, Some(api.service()), error);
        check_content_type(&parts.headers, Wire::Cbor).map_err(fail)?;
        let bytes = read_body(body, &parts.headers, self.max_body, self.body_deadline)
            .await
            .map_err(fail)?;
        let ctx = self.authenticate(parts, &bytes, Wire::Cbor, api.service())?;
        let bytes = inflated(&parts.headers, bytes, self.max_body).map_err(fail)?;
        let blobs = api.service().cbor_blobs();
        let value = cbor_input(&bytes, &op, blobs)
            .and_then(object)
            .map_err(fail)?;
        Ok(Call {
            api,
            wire: Wire::Cbor,
            op,
            input: Input::Json(value),
            ctx,
        })
    }

    fn route_json(
        &self,
        path: &str,
        target: Option<&str>,
    ) -> Result<(Arc<dyn Api>, JsonVersion, String), Refusal> {
        let refuse = |status, message: String| {
            Refusal::new(
                JSON_ANSWER,
                ApiError::new(status, berth_awsproto::UNKNOWN_OPERATION, message),
            )
        };
        if path != "/" {
            return Err(refuse(
                404,
                format!("no resource at {path}: POST to / with an X-Amz-Target header"),
            ));
        }
        let target = target.ok_or_else(|| refuse(400, MISSING_TARGET.to_string()))?;
        let (prefix, op) = target.split_once('.').ok_or_else(|| {
            refuse(
                400,
                format!("X-Amz-Target '{target}' is not of the form <service>.<operation>"),
            )
        })?;
        let (api, version) = self
            .registry
            .by_json_target(prefix)
            .ok_or_else(|| refuse(400, format!("unknown service '{prefix}' in X-Amz-Target")))?;
        if !is_operation_name(op) {
            return Err(Refusal::new(
                Wire::Json(version),
                ApiError::unknown_operation(op),
            ));
        }
        Ok((api.clone(), version, op.to_string()))
    }

    fn route_cbor(&self, rest: &str) -> Result<(Arc<dyn Api>, String), Refusal> {
        let refuse = |message: String| {
            Refusal::new(
                Wire::Cbor,
                ApiError::new(400, berth_awsproto::UNKNOWN_OPERATION, message),
            )
        };
        let (service, op) = rest.split_once("/operation/").ok_or_else(|| {
            refuse(format!(
                "'/service/{rest}' is not of the form /service/<service>/operation/<operation>"
            ))
        })?;
        let api = self
            .registry
            .by_cbor_service(service)
            .ok_or_else(|| refuse(format!("unknown service '{service}' in the path")))?;
        if !is_operation_name(op) {
            return Err(Refusal::new(Wire::Cbor, ApiError::unknown_operation(op)));
        }
        Ok((api.clone(), op.to_string()))
    }

    /// A query request: the body first, since `Action` and `Version` are in it.
    async fn prepare_query<B>(&self, parts: &Parts, body: B) -> Result<Call, Refusal>
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let signing_name = signing_name(authorization(&parts.headers));
        let signing_name = signing_name.as_deref();
        // Until Version names the service, errors take the shape of the service the
        // signature names, if any.
        let (wire, service) =
            match signing_name.and_then(|s| self.registry.query_by_signing_name(s)) {
                Some((api, q)) => (Wire::Query(q), Some(api.service())),
                None => (Wire::query_unrouted(QueryFlavour::Query), None),
            };
        let fail = |error| Refusal::by(wire, service, error);
        if parts.uri.path() != "/" {
            let path = parts.uri.path();
            return Err(fail(ApiError::new(
                404,
                berth_awsproto::UNKNOWN_OPERATION,
                format!("no resource at {path}: query requests POST to /"),
            )));
        }
        let bytes = read_body(body, &parts.headers, self.max_body, self.body_deadline)
            .await
            .map_err(fail)?;
        let form = inflated(&parts.headers, bytes.clone(), self.max_body).map_err(fail)?;
        let request = decode_form(&form).map_err(fail)?;
        let version = request.version.ok_or_else(|| {
            fail(ApiError::new(
                400,
                "MissingParameter",
                "The request has no Version parameter",
            ))
        })?;
        let (api, q) = self
            .registry
            .by_query_version(&version, signing_name)
            .ok_or_else(|| {
                fail(ApiError::new(
                    400,
                    "NoSuchVersion",
                    format!("Version '{version}' names no service berth serves"),
                ))
            })?;
        let wire = Wire::Query(q);
        let ctx = self.authenticate(parts, &bytes, wire, api.service())?;
        let fail = |error| Refusal::by(wire, Some(api.service()), error);
        let op = request.action.ok_or_else(|| {
            fail(ApiError::new(
                400,
                "MissingAction",
                "The request has no Action parameter",
            ))
        })?;
        if !is_operation_name(&op) {
            return Err(fail(ApiError::unknown_operation(&op)));
        }
        let input = Input::Form(request.params, q.flavour);
        Ok(Call {
            api: api.clone(),
            wire,
            op,
            input,
            ctx,
        })
    }
}

/// What a request's signature covers.
fn signed<'a>(parts: &'a Parts, body: &'a [u8]) -> berth_sigv4::Request<'a> {
    berth_sigv4::Request {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
        body,
    }
}

/// Runs the operation on a blocking thread (the store is synchronous SQLite) and
/// encodes its answer.
async fn run(call: Call, request_id: &str) -> Reply {
    let Call {
        api,
        wire,
        op,
        input,
        ctx,
    } = call;
    let (api2, op2) = (api.clone(), op.clone());
    let ctx_agent = ctx.agent().is_some();
    let result = tokio::task::spawn_blocking(move || api2.invoke(&ctx, &op2, input))
        .await
        .unwrap_or_else(|e| Err(ApiError::internal(format!("operation failed: {e}"))));
    let service = api.service();
    match result {
        Ok(v) => wire.output(service, &op, &v, request_id),
        Err(e) => {
            if e.status >= 500 {
                warn!(op, code = %e.code, message = %e.message, "operation failed");
            } else if e.status == 403 && ctx_agent {
                warn!(op, code = %e.code, message = %e.message, "an agent was refused");
            }
            wire.error(Some(service), &e, request_id)
        }
    }
}

fn kind_of(parts: &Parts) -> Kind {
    if let Some(rest) = parts.uri.path().strip_prefix("/service/") {
        return Kind::Cbor(rest.to_string());
    }
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok());
    if target.is_none() && content_type(&parts.headers).as_deref() == Some(FORM_CONTENT_TYPE) {
        return Kind::Query;
    }
    Kind::Json(target.map(str::to_string))
}

fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

fn is_operation_name(op: &str) -> bool {
    !op.is_empty() && op.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The media type of the request, lowercased, without parameters.
fn content_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
}

fn check_content_type(headers: &HeaderMap, wire: Wire) -> Result<(), ApiError> {
    let ct = content_type(headers);
    let (ok, expected) = match wire {
        Wire::Cbor => (
            matches!(ct.as_deref(), Some("application/cbor") | None),
            "application/cbor",
        ),
        Wire::Json(version) => (
            matches!(
                ct.as_deref(),
                Some("application/x-amz-json-1.1" | "application/x-amz-json-1.0")
            ),
            version.content_type(),
        ),
        Wire::Query(_) => (ct.as_deref() == Some(FORM_CONTENT_TYPE), FORM_CONTENT_TYPE),
    };
    if ok {
        return Ok(());
    }
    Err(ApiError::new(
        415,
        "UnsupportedMediaTypeException",
        format!(
            "Content-Type '{}' is not supported: expected {expected}",
            ct.unwrap_or_default()
        ),
    ))
}

/// The body, within the limit: 413 over it, declared or not; 408 when it takes longer
/// than `deadline` to arrive.
async fn read_body<B>(
    body: B,
    headers: &HeaderMap,
    limit: usize,
    deadline: Duration,
) -> Result<Bytes, ApiError>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let too_large = || {
        ApiError::new(
            413,
            "RequestEntityTooLargeException",
            format!("request body is larger than the limit of {limit} bytes"),
        )
    };
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large());
    }
    let reading = Limited::new(body, limit).collect();
    let Ok(read) = tokio::time::timeout(deadline, reading).await else {
        return Err(body_timeout(deadline));
    };
    match read {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(e) => Err(ApiError::new(
            400,
            "SerializationException",
            format!("could not read the request body: {e}"),
        )),
    }
}

/// A body sent with `Content-Encoding: gzip` (botocore and the SDKs compress large
/// requests of operations that allow it, e.g. CloudWatch's `PutMetricData`), inflated
/// within the body limit (413 past it); the signature covers the body as sent, so it
/// is checked before. Other bodies as they came.
fn inflated(headers: &HeaderMap, body: Bytes, limit: usize) -> Result<Bytes, ApiError> {
    use std::io::Read as _;
    let gzip = headers
        .get(http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().eq_ignore_ascii_case("gzip")));
    if !gzip {
        return Ok(body);
    }
    let mut out = Vec::new();
    let mut reader = flate2::read::GzDecoder::new(&body[..]).take(limit as u64 + 1);
    reader.read_to_end(&mut out).map_err(|e| {
        ApiError::new(
            400,
            "SerializationException",
            format!("the gzip request body could not be inflated: {e}"),
        )
    })?;
    if out.len() > limit {
        return Err(ApiError::new(
            413,
            "RequestEntityTooLargeException",
            format!("the inflated request body is larger than the limit of {limit} bytes"),
        ));
    }
    Ok(Bytes::from(out))
}

/// A body that did not arrive within `deadline` (its connection is then closed).
pub(crate) fn body_timeout(deadline: Duration) -> ApiError {
    ApiError::new(
        408,
        berth_awsproto::REQUEST_TIMEOUT,
        format!(
            "the request body did not arrive within {} ms",
            deadline.as_millis()
        ),
    )
}

/// An AWS JSON body: an object, or nothing (an empty input).
fn json_input(bytes: &[u8]) -> Result<Input, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Input::Json(Value::Object(Default::default())));
    }
    let value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::serialization(format!("request body is not valid JSON: {e}")))?;
    Ok(Input::Json(object(value)?))
}

fn object(value: Value) -> Result<Value, ApiError> {
    if value.is_object() {
        Ok(value)
    } else {
        Err(ApiError::serialization(
            "request body must be a JSON object",
        ))
    }
}

/// An error before any service is known, as AWS JSON 1.1 (the agents' stream).
pub(crate) fn json_error(e: &ApiError, request_id: &str) -> Response<Full<Bytes>> {
    to_http(JSON_ANSWER.error(None, e, request_id))
}

fn to_http(reply: Reply) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(reply.body)));
    *resp.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(reply.content_type),
    );
    for (name, value) in reply.headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.append(name, v);
        }
    }
    // The rest of a body that stalled is not waited for.
    if reply.status == StatusCode::REQUEST_TIMEOUT.as_u16() {
        h.insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

#[cfg(test)]
mod tests {
    use berth_awsproto::{OutputShape, Protocol, QueryApi};
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    /// A service on AWS JSON 1.0 and RPCv2-CBOR that says what it got, as CloudWatch
    /// is reached (query-compatible).
    struct Echo;

    static ECHO: Service = Service {
        signing_name: "echo",
        protocols: &[
            Protocol::Json {
                target_prefix: "Echo_20200101",
                version: JsonVersion::V1_0,
            },
            Protocol::Cbor {
                service: "Echo_20200101",
                blobs: &[],
            },
        ],
        error_message_key: "message",
        query_compatible: true,
        output: OutputShape::PLAIN,
    };

    impl Api for Echo {
        fn service(&self) -> &'static Service {
            &ECHO
        }
        fn invoke(&self, _: &Context, op: &str, input: Input) -> Result<Value, ApiError> {
            match op {
                "Echo" => Ok(json!({"Got": input.into_value()})),
                "Fail" => Err(ApiError::new(404, "ResourceNotFound", "nothing here")),
                _ => Err(ApiError::unknown_operation(op)),
            }
        }
    }

    /// An EC2-flavoured query service with DescribeVpcs's input and output names.
    struct Vpcs;

    static VPCS: Service = Service {
        signing_name: "ec2",
        protocols: &[Protocol::Query(QueryApi {
            version: "2016-11-15",
            xml_namespace: "http://ec2.amazonaws.com/doc/2016-11-15/",
            flavour: QueryFlavour::Ec2,
        })],
        error_message_key: "Message",
        query_compatible: false,
        output: OutputShape::PLAIN,
    };

    #[derive(Deserialize)]
    struct Filter {
        #[serde(rename = "Name")]
        name: String,
        #[serde(rename = "Value", default)]
        values: Vec<String>,
    }

    #[derive(Deserialize)]
    struct DescribeVpcsIn {
        #[serde(rename = "Filter", default)]
        filters: Vec<Filter>,
        #[serde(rename = "MaxResults")]
        _max_results: Option<u32>,
    }

    impl Api for Vpcs {
        fn service(&self) -> &'static Service {
            &VPCS
        }
        fn invoke(&self, _: &Context, op: &str, input: Input) -> Result<Value, ApiError> {
            if op != "DescribeVpcs" {
                return Err(ApiError::unknown_operation(op));
            }
            let input: DescribeVpcsIn = input.parse()?;
            let ids: Vec<String> = input
                .filters
                .into_iter()
                .filter(|f| f.name == "vpc-id")
                .flat_map(|f| f.values)
                .collect();
            if ids.iter().any(|id| id == "vpc-missing") {
                return Err(ApiError::new(
                    400,
                    "InvalidVpcID.NotFound",
                    "The vpc ID 'vpc-missing' does not exist",
                ));
            }
            let vpcs: Vec<Value> = ids.iter().map(|id| json!({"vpcId": id})).collect();
            Ok(json!({"vpcSet": vpcs}))
        }
    }

    fn front() -> Front {
        let mut r = Registry::default();
        r.register(Arc::new(Echo)).unwrap();
        r.register(Arc::new(Vpcs)).unwrap();
        // Routing and encoding only: signatures are the integration tests' (tests/auth.rs).
        let dir = tempfile::tempdir().unwrap().keep();
        let store = Arc::new(berth_credentials::CredentialStore::open(&dir).unwrap());
        let auth = Authenticator::new(store, AuthMode::Unchecked);
        Front::new(r, 4096, auth, AuthMode::Unchecked)
    }

    const EC2_AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0";

    struct Answer {
        status: u16,
        headers: HeaderMap,
        body: String,
    }

    impl Answer {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers.get(name).and_then(|v| v.to_str().ok())
        }
    }

    async fn send(
        front: &Front,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Answer {
        let mut req = http::Request::builder().method(method).uri(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(Bytes::copy_from_slice(body))).unwrap();
        let resp = front.handle(req).await;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let body = if headers[http::header::CONTENT_TYPE] == "application/cbor" {
            berth_awsproto::cbor_to_json(&bytes).unwrap().to_string()
        } else {
            String::from_utf8(bytes.to_vec()).unwrap()
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn ec2(front: &Front, form: &str) -> Answer {
        let headers = [
            (
                "Content-Type",
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
            ("Authorization", EC2_AUTH),
        ];
        send(front, "POST", "/", &headers, form.as_bytes()).await
    }

    #[tokio::test]
    async fn json_1_0_and_cbor_reach_the_same_service() {
        let f = front();
        let json10 = [
            ("X-Amz-Target", "Echo_20200101.Echo"),
            ("Content-Type", "application/x-amz-json-1.0"),
        ];
        let a = send(&f, "POST", "/", &json10, br#"{"A": 1}"#).await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.header("content-type"), Some("application/x-amz-json-1.0"));
        assert_eq!(a.body, r#"{"Got":{"A":1}}"#);
        let body = berth_awsproto::json_to_cbor(&json!({"A": 1}), &[]);
        let cbor = [
            ("Content-Type", "application/cbor"),
            ("x-amzn-query-mode", "true"),
        ];
        let a = send(
            &f,
            "POST",
            "/service/Echo_20200101/operation/Echo",
            &cbor,
            &body,
        )
        .await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.body, r#"{"Got":{"A":1}}"#);
        let fail = [
            ("X-Amz-Target", "Echo_20200101.Fail"),
            ("Content-Type", "application/x-amz-json-1.0"),
        ];
        let a = send(&f, "POST", "/", &fail, b"{}").await;
        assert_eq!(a.status, 404);
        assert_eq!(
            a.header("x-amzn-query-error"),
            Some("ResourceNotFound;Sender")
        );
        assert_eq!(
            a.body,
            r#"{"__type":"ResourceNotFound","message":"nothing here"}"#
        );
    }

    #[tokio::test]
    async fn ec2_flavour_end_to_end() {
        let f = front();
        let a = ec2(
            &f,
            "Action=DescribeVpcs&Version=2016-11-15&Filter.1.Name=vpc-id\
             &Filter.1.Value.1=vpc-1a2b3c4d&Filter.1.Value.2=vpc-2&MaxResults=5",
        )
        .await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.header("content-type"), Some("text/xml"));
        let rid = a.header("x-amzn-requestid").unwrap().to_string();
        assert_eq!(
            a.body,
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
                 <DescribeVpcsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
                 <requestId>{rid}</requestId><vpcSet><item><vpcId>vpc-1a2b3c4d</vpcId></item>\
                 <item><vpcId>vpc-2</vpcId></item></vpcSet></DescribeVpcsResponse>"
            )
        );
    }

    #[tokio::test]
    async fn ec2_flavour_errors_are_response_errors() {
        let f = front();
        for (form, status, code, says) in [
            ("Action=DescribeVpcs&Version=2016-11-15&Filter.1.Name=vpc-id&Filter.1.Value.1=vpc-missing",
             400, "InvalidVpcID.NotFound", "vpc-missing"),
            ("Action=DescribeVpcz&Version=2016-11-15", 400, "InvalidAction", "DescribeVpcz"),
            ("Action=DescribeVpcs&Version=2016-11-15&MaxResults=many", 400, "InvalidParameterValue", "MaxResults"),
            ("Action=DescribeVpcs&Version=2016-11-15&Filter.1.Value.1=x", 400, "InvalidParameterValue", "Filter.1"),
            ("Action=DescribeVpcs", 400, "MissingParameter", "Version"),
            ("Version=2016-11-15", 400, "MissingAction", "Action"),
            ("Action=DescribeVpcs&Version=2099-01-01", 400, "NoSuchVersion", "2099-01-01"),
            ("Action=DescribeVpcs&Version=2016-11-15&Filter.1.Name=%zz", 400, "MalformedQueryString", "percent"),
            ("Action=DescribeVpcs&Version=2016-11-15&Filter=a&Filter.1.Name=b", 400, "MalformedQueryString", "Filter.1.Name"),
        ] {
            let a = ec2(&f, form).await;
            assert_eq!(a.status, status, "{form}: {}", a.body);
            let rid = a.header("x-amzn-requestid").unwrap().to_string();
            assert!(
                a.body.starts_with(&format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code><Message>"
                )),
                "{form}: {}",
                a.body
            );
            assert!(a.body.ends_with(&format!("</Error></Errors><RequestID>{rid}</RequestID></Response>")), "{}", a.body);
            assert!(a.body.contains(says), "{form}: {}", a.body);
        }
    }

    #[tokio::test]
    async fn unsigned_query_errors_take_the_query_shape() {
        let f = front();
        let form = [("Content-Type", "application/x-www-form-urlencoded")];
        let a = send(&f, "POST", "/", &form, b"Action=X&Version=1999-01-01").await;
        assert_eq!(a.status, 400);
        assert!(
            a.body
                .starts_with("<ErrorResponse><Error><Type>Sender</Type><Code>NoSuchVersion</Code>"),
            "{}",
            a.body
        );
        let big = format!(
            "Action=DescribeVpcs&Version=2016-11-15&Pad={}",
            "x".repeat(5000)
        );
        let a = send(&f, "POST", "/", &form, big.as_bytes()).await;
        assert_eq!(a.status, 413);
        assert!(
            a.body
                .contains("<Code>RequestEntityTooLargeException</Code>"),
            "{}",
            a.body
        );
        let a = send(
            &f,
            "POST",
            "/elsewhere",
            &form,
            b"Action=DescribeVpcs&Version=2016-11-15",
        )
        .await;
        assert_eq!(a.status, 404);
        assert!(a.body.contains("<Code>InvalidAction</Code>"), "{}", a.body);
        let a = send(&f, "PUT", "/", &form, b"").await;
        assert_eq!(a.status, 405);
        assert!(a.body.starts_with("<ErrorResponse>"), "{}", a.body);
    }

    #[test]
    fn gzip_bodies_are_inflated_within_the_limit() {
        use std::io::Write as _;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&[b'a'; 1000]).unwrap();
        let packed = Bytes::from(gz.finish().unwrap());
        let mut headers = HeaderMap::new();
        let plain = inflated(&headers, packed.clone(), 10).unwrap();
        assert_eq!(
            plain, packed,
            "without Content-Encoding the body is as it came"
        );
        headers.insert("content-encoding", HeaderValue::from_static("gzip"));
        assert_eq!(
            inflated(&headers, packed.clone(), 1000).unwrap().len(),
            1000
        );
        assert_eq!(inflated(&headers, packed, 999).unwrap_err().status, 413);
        let e = inflated(&headers, Bytes::from_static(b"not gzip"), 1000).unwrap_err();
        assert_eq!(e.code, "SerializationException");
    }
}
