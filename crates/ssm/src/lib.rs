//! AWS Systems Manager Parameter Store (`ssm`, API version 2014-11-06, AWS JSON 1.1,
//! target prefix `AmazonSSM`): named values, versioned, in a hierarchy of paths.
//!
//! [`Ssm`] implements [`berth_awsproto::Api`]: PutParameter (String, StringList and
//! SecureString; tiers, allowed patterns, data types, tags), GetParameter and
//! GetParameters (by name or full ARN, with `:version` or `:label` selectors),
//! GetParametersByPath, DescribeParameters (both kinds of filters), GetParameterHistory,
//! DeleteParameter(s), LabelParameterVersion, UnlabelParameterVersion and the tagging
//! operations for the `Parameter` resource type.
//!
//! SecureString values are kept only sealed ([`berth_credentials::Sealer`], the
//! associated data the parameter's ARN, `:` and the version): a reader that does not
//! ask to decrypt gets the sealed bytes, base64, as AWS gives the KMS ciphertext.
//! Values are never logged.
//!
//! What berth does differently from AWS: KMS keys are not checked (any well-formed
//! `KeyId` is echoed; the default is `alias/aws/ssm`), parameter policies are refused,
//! `aws:ec2:image` values are not checked against EC2, and no parameter is shared
//! across accounts (another account's ARN is not found).
//!
//! # Store key layout
//!
//! | key | value |
//! |---|---|
//! | `ssm/{account}/{region}/parameter/{name}` | [`ParamRec`]: the parameter's tags and its kept versions |

use std::sync::Arc;

use berth_awsproto::{
    output, Api, ApiError, Context, Input, JsonVersion, OutputShape, Protocol, Service,
};
use berth_credentials::Sealer;
use berth_store::{Reader, Store, Writer};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

mod delete;
mod errors;
mod filters;
mod find;
mod get;
mod labels;
mod names;
mod put;
mod records;
mod tags;
mod values;

#[cfg(test)]
mod tests;

pub use names::parameter_arn;
pub use records::{
    DataType, ParamRec, ParameterTier, ParameterType, ResourceType, StoredValue, Tag, VersionRec,
    MAX_VERSIONS,
};

/// The `X-Amz-Target` prefix.
pub const TARGET_PREFIX: &str = "AmazonSSM";

/// How clients reach SSM: AWS JSON 1.1.
pub static SERVICE: Service = Service {
    signing_name: "ssm",
    protocols: &[Protocol::Json {
        target_prefix: TARGET_PREFIX,
        version: JsonVersion::V1_1,
    }],
    error_message_key: "message",
    query_compatible: false,
    output: OutputShape {
        timestamps: &["LastModifiedDate"],
        ..OutputShape::PLAIN
    },
};

/// What an operation runs with: the caller, the values' sealer and the time of the
/// call (read once, at the edge).
pub(crate) struct Env<'a> {
    pub ctx: &'a Context,
    pub sealer: &'a Sealer,
    pub now: f64,
}

/// Parameter Store on berth's store.
#[derive(Debug, Clone)]
pub struct Ssm {
    store: Arc<Store>,
    sealer: Arc<Sealer>,
}

impl Ssm {
    /// Parameter Store over `store`, sealing SecureString values with `sealer`.
    pub fn new(store: Arc<Store>, sealer: Arc<Sealer>) -> Ssm {
        Ssm { store, sealer }
    }

    /// Runs a reading operation on a snapshot.
    fn read<I: DeserializeOwned, O: Serialize>(
        &self,
        ctx: &Context,
        input: Input,
        op: impl FnOnce(&Reader<'_>, &Env<'_>, I) -> Result<O, ApiError>,
    ) -> Result<Value, ApiError> {
        let input = parse(input)?;
        let env = self.env(ctx);
        output(&self.store.read(|r| op(r, &env, input))?)
    }

    /// Runs a writing operation in one transaction.
    fn write<I: DeserializeOwned, O: Serialize>(
        &self,
        ctx: &Context,
        input: Input,
        op: impl FnOnce(&mut Writer<'_>, &Env<'_>, I) -> Result<O, ApiError>,
    ) -> Result<Value, ApiError> {
        let input = parse(input)?;
        let env = self.env(ctx);
        output(&self.store.write(|w| op(w, &env, input))?.0)
    }

    fn env<'a>(&'a self, ctx: &'a Context) -> Env<'a> {
        Env {
            ctx,
            sealer: &self.sealer,
            now: berth_awsproto::now(),
        }
    }
}

/// An operation's input: a value outside an enum is a `ValidationException`, as AWS
/// answers it; other mismatches (a wrong JSON type, a member the model does not have)
/// are `SerializationException`s naming the member.
fn parse<T: DeserializeOwned>(input: Input) -> Result<T, ApiError> {
    input.parse().map_err(|mut e| {
        if e.message.contains("unknown variant") {
            e.code = errors::VALIDATION.to_string();
        }
        e
    })
}

impl Api for Ssm {
    fn service(&self) -> &'static Service {
        &SERVICE
    }

    fn invoke(&self, ctx: &Context, op: &str, input: Input) -> Result<Value, ApiError> {
        match op {
            "PutParameter" => self.write(ctx, input, put::put),
            "GetParameter" => self.read(ctx, input, |r, e, i| get::get_one(r, e, i)),
            "GetParameters" => self.read(ctx, input, |r, e, i| get::get_many(r, e, i)),
            "GetParameterHistory" => self.read(ctx, input, |r, e, i| get::history(r, e, i)),
            "GetParametersByPath" => self.read(ctx, input, |r, e, i| find::by_path(r, e, i)),
            "DescribeParameters" => self.read(ctx, input, |r, e, i| find::describe(r, e, i)),
            "DeleteParameter" => self.write(ctx, input, delete::delete_one),
            "DeleteParameters" => self.write(ctx, input, delete::delete_many),
            "LabelParameterVersion" => self.write(ctx, input, labels::label),
            "UnlabelParameterVersion" => self.write(ctx, input, labels::unlabel),
            "AddTagsToResource" => self.write(ctx, input, tags::add),
            "RemoveTagsFromResource" => self.write(ctx, input, tags::remove),
            "ListTagsForResource" => self.read(ctx, input, |r, e, i| tags::list(r, e, i)),
            _ => Err(ApiError::unknown_operation(op)),
        }
    }
}
