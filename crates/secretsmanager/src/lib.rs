//! AWS Secrets Manager (`secretsmanager`, API version 2017-10-17, AWS JSON 1.1, target
//! prefix `secretsmanager`): secrets, their versions and staging labels.
//!
//! [`SecretsManager`] implements [`berth_awsproto::Api`]: CreateSecret, GetSecretValue
//! (by name, full ARN or partial ARN; by version id or staging label),
//! BatchGetSecretValue, PutSecretValue, UpdateSecret, UpdateSecretVersionStage, DescribeSecret,
//! ListSecrets (filters, sort, pages), ListSecretVersionIds, DeleteSecret (a recovery
//! window, or forced), RestoreSecret, TagResource, UntagResource and
//! GetRandomPassword.
//!
//! Values are kept only sealed (`berth_credentials::Sealer`, AES-256-GCM under the
//! data directory's `values.key`), bound to the secret's ARN and the version's id; no
//! answer but GetSecretValue's holds one, and nothing logs one.
//!
//! What berth does differently from AWS: KmsKeyId is recorded and echoed, but values
//! are sealed under berth's own key; secrets are not replicated (`AddReplicaRegions`
//! is refused) nor rotated (RotationEnabled is always false); a secret past its
//! recovery window goes at the next [`sweep`] (the server runs one a minute).
//!
//! # Store key layout
//!
//! See [`Keys`]: a record per secret under `secretsmanager/{account}/{region}/secret/`
//! ([`SecretRec`]: what DescribeSecret shows, and each version's id, labels, dates and
//! kind), and each version's sealed value under `secretsmanager-value/`.

use std::sync::Arc;

use berth_awsproto::{
    output, Api, ApiError, Context, Input, JsonVersion, OutputShape, Protocol, Service,
};
use berth_credentials::Sealer;
use berth_store::{Reader, Store, StoreError, Writer};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

mod access;
mod batch;
mod errors;
mod filters;
mod list;
mod names;
mod password;
mod records;
mod secrets;
mod stages;
mod sweep;
mod tags;
mod versions;

#[cfg(test)]
mod tests;

use access::Env;
pub use filters::{FilterKey, SortBy, SortOrder};
pub use names::{parse_secret_id, valid_name, SecretId};
pub use records::{
    Keys, SecretRec, Tag, ValueKind, VersionRec, AWSCURRENT, AWSPENDING, AWSPREVIOUS,
    DEFAULT_KMS_KEY,
};
pub use sweep::{due_deletions, sweep};

/// The `X-Amz-Target` prefix.
pub const TARGET_PREFIX: &str = "secretsmanager";

/// How clients reach Secrets Manager: AWS JSON 1.1.
pub static SERVICE: Service = Service {
    signing_name: "secretsmanager",
    protocols: &[Protocol::Json {
        target_prefix: TARGET_PREFIX,
        version: JsonVersion::V1_1,
    }],
    error_message_key: "Message",
    query_compatible: false,
    output: OutputShape {
        timestamps: &[
            "CreatedDate",
            "LastChangedDate",
            "LastAccessedDate",
            "DeletedDate",
            "DeletionDate",
        ],
        maps: &["VersionIdsToStages", "SecretVersionsToStages"],
        ..OutputShape::PLAIN
    },
};

/// AWS Secrets Manager on berth's store.
#[derive(Debug, Clone)]
pub struct SecretsManager {
    store: Arc<Store>,
    sealer: Arc<Sealer>,
}

impl SecretsManager {
    /// Secrets Manager over `store`, its values sealed by `sealer`.
    pub fn new(store: Arc<Store>, sealer: Arc<Sealer>) -> SecretsManager {
        SecretsManager { store, sealer }
    }

    /// Removes the secrets whose recovery window ended by `now`; how many went.
    pub fn sweep(&self, now: f64) -> Result<usize, StoreError> {
        sweep::sweep(&self.store, now)
    }

    /// Runs a reading operation on a snapshot, at the time of the call.
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

    /// Runs a writing operation in one transaction, at the time of the call.
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

/// An operation's input: a value outside an enum or a missing required member is a
/// `ValidationException`, as AWS answers them; other mismatches (types, members the
/// operation does not have) are `SerializationException`s naming the field.
fn parse<T: DeserializeOwned>(input: Input) -> Result<T, ApiError> {
    input.parse().map_err(|mut e| {
        if e.message.contains("unknown variant") || e.message.contains("missing field") {
            e.code = errors::VALIDATION.to_string();
        }
        e
    })
}

impl Api for SecretsManager {
    fn service(&self) -> &'static Service {
        &SERVICE
    }

    fn invoke(&self, ctx: &Context, op: &str, input: Input) -> Result<Value, ApiError> {
        match op {
            "CreateSecret" => self.write(ctx, input, secrets::create),
            "GetSecretValue" => self.write(ctx, input, versions::get),
            "PutSecretValue" => self.write(ctx, input, versions::put),
            "UpdateSecret" => self.write(ctx, input, secrets::update),
            "UpdateSecretVersionStage" => self.write(ctx, input, versions::update_stage),
            "DescribeSecret" => self.read(ctx, input, |r, e, i| secrets::describe(r, e, i)),
            "ListSecrets" => self.read(ctx, input, |r, e, i| list::list(r, e, i)),
            "ListSecretVersionIds" => {
                self.read(ctx, input, |r, e, i| versions::list_version_ids(r, e, i))
            }
            "DeleteSecret" => self.write(ctx, input, secrets::delete),
            "RestoreSecret" => self.write(ctx, input, secrets::restore),
            "TagResource" => self.write(ctx, input, tags::tag),
            "UntagResource" => self.write(ctx, input, tags::untag),
            "BatchGetSecretValue" => self.write(ctx, input, batch::batch_get),
            "GetRandomPassword" => output(&password::random_password(parse(input)?)?),
            _ => Err(ApiError::unknown_operation(op)),
        }
    }
}
