//! What a service tells the front about itself: the protocols clients reach it by, the
//! keys each protocol routes on, and what its outputs hold beyond their JSON values.
//!
//! A service crate declares one `static` [`Service`] and returns it from
//! [`Api::service`](crate::Api::service); the server routes on it and renders answers
//! from it, so the crate itself never sees HTTP or an encoding.

/// A service as clients reach it.
#[derive(Debug)]
pub struct Service {
    /// The SigV4 signing name (`ecs`, `servicediscovery`, `sts`): names the service in
    /// logs, and picks between query services that share an API version.
    pub signing_name: &'static str,
    /// Every protocol the service answers, with its routing keys.
    pub protocols: &'static [Protocol],
    /// The member JSON and CBOR errors put their message under (`message` for ECS,
    /// `Message` for Cloud Map). XML errors always use `<Message>`.
    pub error_message_key: &'static str,
    /// Smithy's `awsQueryCompatible`: a former query service answering JSON or CBOR
    /// also names its query error code in `x-amzn-query-error` (CloudWatch does).
    pub query_compatible: bool,
    /// What outputs hold that their JSON values do not show.
    pub output: OutputShape,
}

/// One protocol a service answers, with the keys the front routes it by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// AWS JSON: `POST /` with `X-Amz-Target: <target_prefix>.<Operation>`.
    Json {
        /// The `X-Amz-Target` prefix, e.g. `AmazonEC2ContainerServiceV20141113`.
        target_prefix: &'static str,
        /// 1.0 or 1.1: the content type of the answers.
        version: JsonVersion,
    },
    /// Smithy RPCv2-CBOR: `POST /service/<service>/operation/<Operation>`.
    Cbor {
        /// The service name in the path (the model's target prefix).
        service: &'static str,
        /// The input members the model types as blobs, as `Operation.Member` (nested:
        /// `Operation.Member.Member`; a list's items take its name): the only places a
        /// CBOR byte string is accepted.
        blobs: &'static [&'static str],
    },
    /// AWS query: a form with `Action` and `Version`, answered in XML.
    Query(QueryApi),
}

/// The AWS JSON protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonVersion {
    /// `application/x-amz-json-1.0`.
    V1_0,
    /// `application/x-amz-json-1.1`.
    V1_1,
}

impl JsonVersion {
    /// The content type of this version.
    pub fn content_type(self) -> &'static str {
        match self {
            JsonVersion::V1_0 => "application/x-amz-json-1.0",
            JsonVersion::V1_1 => "application/x-amz-json-1.1",
        }
    }
}

/// How a query service is addressed and how its XML looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryApi {
    /// The form's `Version`, e.g. `2011-06-15`.
    pub version: &'static str,
    /// The namespace of the answers' root element.
    pub xml_namespace: &'static str,
    /// Which of the two query dialects.
    pub flavour: QueryFlavour,
}

/// The two dialects of the AWS query protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryFlavour {
    /// STS, ELBv2, CloudWatch: lists as `Name.member.N`, answers wrapped in
    /// `<OpResult>` beside `<ResponseMetadata>`, errors as `<ErrorResponse>`.
    Query,
    /// EC2: lists as `Name.N`, list items as `<item>`, `<requestId>` in the answer,
    /// errors as `<Response><Errors>`.
    Ec2,
}

impl QueryFlavour {
    /// The element of a list item unless the service says otherwise.
    pub fn list_item(self) -> &'static str {
        match self {
            QueryFlavour::Query => "member",
            QueryFlavour::Ec2 => "item",
        }
    }
}

/// What a service's outputs hold beyond what their JSON values show, for the
/// encodings that need it (CBOR tags timestamps; XML writes timestamps as text and
/// needs list item and map entry elements). Members are named as they appear in the
/// output values, wherever they occur.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputShape {
    /// Members that are timestamps (epoch seconds in the value); a list member named
    /// here holds timestamps.
    pub timestamps: &'static [&'static str],
    /// Members that are maps (XML: `<entry><key>..</key><value>..</value></entry>`);
    /// every other JSON object is a structure.
    pub maps: &'static [&'static str],
    /// List members whose items are not named by the flavour's default: (member,
    /// item element).
    pub list_items: &'static [(&'static str, &'static str)],
    /// List members written flattened: one element per item, named as the member (or
    /// as its items, when `list_items` names them).
    pub flattened: &'static [&'static str],
}

impl OutputShape {
    /// Nothing beyond the JSON values.
    pub const PLAIN: OutputShape = OutputShape {
        timestamps: &[],
        maps: &[],
        list_items: &[],
        flattened: &[],
    };

    /// True when `member` holds timestamps.
    pub fn is_timestamp(&self, member: &str) -> bool {
        self.timestamps.contains(&member)
    }

    /// True when `member` is a map.
    pub fn is_map(&self, member: &str) -> bool {
        self.maps.contains(&member)
    }

    /// True when `member` is a flattened list.
    pub fn is_flattened(&self, member: &str) -> bool {
        self.flattened.contains(&member)
    }

    /// The element `list_items` gives `member`'s list items, if any.
    pub fn list_item_name(&self, member: &str) -> Option<&'static str> {
        self.list_items
            .iter()
            .find(|(m, _)| *m == member)
            .map(|(_, item)| *item)
    }

    /// The element of `member`'s list items.
    pub fn list_item(&self, member: &str, flavour: QueryFlavour) -> &'static str {
        self.list_item_name(member).unwrap_or(flavour.list_item())
    }
}

impl Service {
    /// The JSON protocol's keys, if the service speaks it.
    pub fn json(&self) -> Option<(&'static str, JsonVersion)> {
        self.protocols.iter().find_map(|p| match p {
            Protocol::Json {
                target_prefix,
                version,
            } => Some((*target_prefix, *version)),
            _ => None,
        })
    }

    /// The RPCv2-CBOR service name, if the service speaks it.
    pub fn cbor(&self) -> Option<&'static str> {
        self.protocols.iter().find_map(|p| match p {
            Protocol::Cbor { service, .. } => Some(*service),
            _ => None,
        })
    }

    /// The input members a CBOR request may carry as byte strings (see
    /// [`Protocol::Cbor`]).
    pub fn cbor_blobs(&self) -> &'static [&'static str] {
        self.protocols
            .iter()
            .find_map(|p| match p {
                Protocol::Cbor { blobs, .. } => Some(*blobs),
                _ => None,
            })
            .unwrap_or(&[])
    }

    /// The query protocol's keys, if the service speaks it.
    pub fn query(&self) -> Option<QueryApi> {
        self.protocols.iter().find_map(|p| match p {
            Protocol::Query(q) => Some(*q),
            _ => None,
        })
    }
}
