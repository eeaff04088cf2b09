//! Secrets as a whole: CreateSecret, UpdateSecret, DescribeSecret, DeleteSecret,
//! RestoreSecret.

use std::collections::BTreeMap;

use berth_awsproto::ApiError;
use berth_store::{Read, Writer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::access::{find, open_value, remove, require, require_live, save, Env, SecretValue};
use crate::errors::{
    check_lengths, exists, invalid_parameter, invalid_request, validation, Length,
};
use crate::names::{new_arn, parse_secret_id, valid_name, SecretId};
use crate::records::{SecretRec, Tag};
use crate::tags::check_tags;
use crate::versions::{add_version, Named, NewVersion};

/// CreateSecret's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct CreateIn {
    name: String,
    client_request_token: Option<String>,
    description: Option<String>,
    kms_key_id: Option<String>,
    secret_binary: Option<String>,
    secret_string: Option<String>,
    tags: Option<Vec<Tag>>,
    add_replica_regions: Option<Vec<Value>>,
    // Accepted as the model has it; there are no replicas to overwrite.
    #[allow(dead_code)]
    force_overwrite_replica_secret: Option<bool>,
    #[serde(rename = "Type")]
    secret_type: Option<String>,
}

/// CreateSecret's and UpdateSecret's output.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ChangeOut {
    #[serde(rename = "ARN")]
    arn: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version_id: Option<String>,
}

const CREATE_RULES: &[Length<CreateIn>] = &[
    Length {
        member: "Name",
        get: |i| Some(i.name.as_str()),
        min: 1,
        max: 512,
    },
    Length {
        member: "ClientRequestToken",
        get: |i| i.client_request_token.as_deref(),
        min: 32,
        max: 64,
    },
    Length {
        member: "Description",
        get: |i| i.description.as_deref(),
        min: 0,
        max: 2048,
    },
    Length {
        member: "KmsKeyId",
        get: |i| i.kms_key_id.as_deref(),
        min: 0,
        max: 2048,
    },
    Length {
        member: "Type",
        get: |i| i.secret_type.as_deref(),
        min: 0,
        max: 256,
    },
];

/// A new secret as checked: everything but what the store decides.
struct NewSecret {
    rec_parts: CreateIn,
    tags: Vec<Tag>,
    version: Option<NewVersion>,
}

/// CreateSecret's input checked: lengths, the name's characters, one value at most,
/// the tags, and no replicas (berth serves one region per secret).
fn check_create(mut i: CreateIn) -> Result<NewSecret, ApiError> {
    check_lengths(CREATE_RULES, &i)?;
    if !valid_name(&i.name) {
        return Err(invalid_parameter(
            "Name: Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@",
        ));
    }
    if i.add_replica_regions
        .as_ref()
        .is_some_and(|r| !r.is_empty())
    {
        return Err(invalid_parameter(
            "AddReplicaRegions: berth does not replicate secrets to other Regions.",
        ));
    }
    let tags = check_tags(i.tags.take().unwrap_or_default(), "Tags")?;
    let value = SecretValue::from_input(i.secret_string.take(), i.secret_binary.take())?;
    let version = value.map(|v| NewVersion::new(i.client_request_token.clone(), v, None));
    Ok(NewSecret {
        rec_parts: i,
        tags,
        version,
    })
}

/// CreateSecret: a new secret, with a first version (AWSCURRENT) when a value is
/// given. Repeating a call (same name, token and value) answers as the first did.
pub(crate) fn create(
    w: &mut Writer<'_>,
    env: &Env<'_>,
    i: CreateIn,
) -> Result<ChangeOut, ApiError> {
    let new = check_create(i)?;
    let keys = env.keys();
    let name = new.rec_parts.name.clone();
    if let Some(rec) = w.get_json::<SecretRec>(&keys.secret(&name))? {
        return repeated_create(w, env, &rec, &new);
    }
    let parts = new.rec_parts;
    let mut rec = SecretRec {
        arn: new_arn(env.ctx, &name),
        name,
        secret_type: parts.secret_type,
        description: parts.description,
        kms_key_id: parts.kms_key_id.filter(|k| !k.is_empty()),
        created_date: env.now,
        last_changed_date: env.now,
        last_accessed_date: None,
        deleted_date: None,
        tags: new.tags,
        versions: vec![],
    };
    if let Some(v) = &new.version {
        add_version(w, env, &keys, &mut rec, v)?;
    }
    save(w, &keys, &rec)?;
    Ok(ChangeOut {
        arn: rec.arn,
        name: rec.name,
        version_id: new.version.map(|v| v.id),
    })
}

/// A CreateSecret for a name that exists: a repeat of the call that made it (its
/// token names a version with the same value) answers the same; anything else is
/// refused.
fn repeated_create(
    r: &impl Read,
    env: &Env<'_>,
    rec: &SecretRec,
    new: &NewSecret,
) -> Result<ChangeOut, ApiError> {
    if rec.deleted_date.is_some() {
        return Err(invalid_request(
            "You can't create this secret because a secret with this name is already scheduled for deletion.",
        ));
    }
    let repeat = match &new.version {
        Some(n) => match rec.version(&n.id) {
            Some(v) => open_value(r, env.sealer, &env.keys(), rec, v)? == n.value,
            None => false,
        },
        None => false,
    };
    match repeat {
        true => Ok(ChangeOut {
            arn: rec.arn.clone(),
            name: rec.name.clone(),
            version_id: new.version.as_ref().map(|v| v.id.clone()),
        }),
        false => Err(exists(&rec.name)),
    }
}

/// UpdateSecret's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct UpdateIn {
    secret_id: String,
    client_request_token: Option<String>,
    description: Option<String>,
    kms_key_id: Option<String>,
    secret_binary: Option<String>,
    secret_string: Option<String>,
    #[serde(rename = "Type")]
    secret_type: Option<String>,
}

const UPDATE_RULES: &[Length<UpdateIn>] = &[
    Length {
        member: "SecretId",
        get: |i| Some(i.secret_id.as_str()),
        min: 1,
        max: 2048,
    },
    Length {
        member: "ClientRequestToken",
        get: |i| i.client_request_token.as_deref(),
        min: 32,
        max: 64,
    },
    Length {
        member: "Description",
        get: |i| i.description.as_deref(),
        min: 0,
        max: 2048,
    },
    Length {
        member: "KmsKeyId",
        get: |i| i.kms_key_id.as_deref(),
        min: 0,
        max: 2048,
    },
    Length {
        member: "Type",
        get: |i| i.secret_type.as_deref(),
        min: 0,
        max: 256,
    },
];

/// UpdateSecret: the description, the key (empty: the default key) and the type as
/// given; a value makes a new AWSCURRENT version.
pub(crate) fn update(
    w: &mut Writer<'_>,
    env: &Env<'_>,
    i: UpdateIn,
) -> Result<ChangeOut, ApiError> {
    check_lengths(UPDATE_RULES, &i)?;
    let value = SecretValue::from_input(i.secret_string, i.secret_binary)?;
    let mut rec = require_live(w, env.ctx, &i.secret_id)?;
    let before = rec.clone();
    if let Some(d) = i.description {
        rec.description = Some(d);
    }
    if let Some(k) = i.kms_key_id {
        rec.kms_key_id = Some(k).filter(|k| !k.is_empty());
    }
    if let Some(t) = i.secret_type {
        rec.secret_type = Some(t);
    }
    let keys = env.keys();
    let version = value.map(|v| NewVersion::new(i.client_request_token, v, None));
    if let Some(v) = &version {
        add_version(w, env, &keys, &mut rec, v)?;
    }
    if rec != before {
        rec.last_changed_date = env.now;
        save(w, &keys, &rec)?;
    }
    Ok(ChangeOut {
        arn: rec.arn,
        name: rec.name,
        version_id: version.map(|v| v.id),
    })
}

/// A secret id alone: DescribeSecret's and RestoreSecret's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct SecretIdIn {
    secret_id: String,
}

/// What DescribeSecret and ListSecrets show of a secret, besides its versions.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SecretView<'a> {
    #[serde(rename = "ARN")]
    arn: &'a str,
    name: &'a str,
    #[serde(rename = "Type", skip_serializing_if = "Option::is_none")]
    secret_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kms_key_id: Option<&'a str>,
    rotation_enabled: bool,
    last_changed_date: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_accessed_date: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deleted_date: Option<f64>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    tags: &'a [Tag],
    created_date: f64,
}

/// A secret's view, and its labelled versions' labels.
pub(crate) fn view(rec: &SecretRec) -> (SecretView<'_>, BTreeMap<&str, &[String]>) {
    let stages = rec
        .versions
        .iter()
        .filter(|v| !v.version_stages.is_empty())
        .map(|v| (v.version_id.as_str(), v.version_stages.as_slice()))
        .collect();
    let view = SecretView {
        arn: &rec.arn,
        name: &rec.name,
        secret_type: rec.secret_type.as_deref(),
        description: rec.description.as_deref(),
        kms_key_id: rec.kms_key_id.as_deref(),
        rotation_enabled: false,
        last_changed_date: rec.last_changed_date,
        last_accessed_date: rec.last_accessed_date,
        deleted_date: rec.deleted_date,
        tags: &rec.tags,
        created_date: rec.created_date,
    };
    (view, stages)
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeOut<'a> {
    #[serde(flatten)]
    view: SecretView<'a>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    version_ids_to_stages: BTreeMap<&'a str, &'a [String]>,
}

/// DescribeSecret: everything but the values, also while scheduled for deletion.
pub(crate) fn describe(r: &impl Read, env: &Env<'_>, i: SecretIdIn) -> Result<Value, ApiError> {
    let rec = require(r, env.ctx, &i.secret_id)?;
    let (view, version_ids_to_stages) = view(&rec);
    berth_awsproto::output(&DescribeOut {
        view,
        version_ids_to_stages,
    })
}

/// DeleteSecret's input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct DeleteIn {
    secret_id: String,
    recovery_window_in_days: Option<i64>,
    force_delete_without_recovery: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DeleteOut {
    #[serde(rename = "ARN")]
    arn: String,
    name: String,
    deletion_date: f64,
}

/// How long a deletion waits: the recovery window in days (7 to 30, 30 by default),
/// or none when forced; not both.
fn recovery_days(i: &DeleteIn) -> Result<Option<i64>, ApiError> {
    match (i.recovery_window_in_days, i.force_delete_without_recovery) {
        (Some(_), Some(true)) => Err(invalid_parameter(
            "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.",
        )),
        (_, Some(true)) => Ok(None),
        (Some(d), _) if !(7..=30).contains(&d) => Err(invalid_parameter(
            "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).",
        )),
        (d, _) => Ok(Some(d.unwrap_or(30))),
    }
}

/// DeleteSecret: scheduled for deletion after the recovery window, or removed now
/// when forced (a forced deletion of a secret that does not exist succeeds, as on
/// AWS).
pub(crate) fn delete(
    w: &mut Writer<'_>,
    env: &Env<'_>,
    i: DeleteIn,
) -> Result<DeleteOut, ApiError> {
    if i.secret_id.is_empty() {
        return Err(validation(
            "SecretId",
            "Member must have length greater than or equal to 1",
        ));
    }
    let days = recovery_days(&i)?;
    let keys = env.keys();
    let (mut rec, days) = match (find(w, env.ctx, &i.secret_id)?, days) {
        (None, Some(_)) => return Err(crate::errors::not_found()),
        (None, None) => return Ok(absent_deletion(env, &i.secret_id)),
        (Some(rec), None) => {
            remove(w, &keys, &rec)?;
            tracing::info!(secret = %rec.arn, "secret deleted without recovery");
            return Ok(DeleteOut {
                arn: rec.arn,
                name: rec.name,
                deletion_date: env.now,
            });
        }
        (Some(rec), Some(days)) => (rec, days),
    };
    if rec.deleted_date.is_some() {
        return Err(crate::errors::marked_for_deletion());
    }
    let when = env.now + days as f64 * 86400.0;
    rec.deleted_date = Some(when);
    save(w, &keys, &rec)?;
    Ok(DeleteOut {
        arn: rec.arn,
        name: rec.name,
        deletion_date: when,
    })
}

/// What a forced deletion of a secret that does not exist answers.
fn absent_deletion(env: &Env<'_>, id: &str) -> DeleteOut {
    let (arn, name) = match parse_secret_id(env.ctx, id) {
        SecretId::Name(name) => (new_arn(env.ctx, name), name.to_string()),
        _ => (
            id.to_string(),
            id.rsplit(':').next().unwrap_or(id).to_string(),
        ),
    };
    DeleteOut {
        arn,
        name,
        deletion_date: env.now,
    }
}

/// RestoreSecret: cancels a scheduled deletion.
pub(crate) fn restore(w: &mut Writer<'_>, env: &Env<'_>, i: SecretIdIn) -> Result<Named, ApiError> {
    let mut rec = require(w, env.ctx, &i.secret_id)?;
    if rec.deleted_date.take().is_some() {
        save(w, &env.keys(), &rec)?;
    }
    Ok(Named {
        arn: rec.arn,
        name: rec.name,
    })
}
