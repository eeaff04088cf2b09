//! A secret's versions: PutSecretValue, GetSecretValue, ListSecretVersionIds,
//! UpdateSecretVersionStage, and the new version CreateSecret and UpdateSecret make.

use berth_awsproto::{decode_token, encode_token, uuid_v4, ApiError};
use berth_store::Writer;
use serde::{Deserialize, Serialize};

use crate::access::{open_value, require, require_live, save, seal_value, Env, SecretValue};
use crate::errors::{
    check_lengths, invalid_request, max_results, validation, version_exists, Length,
    INVALID_NEXT_TOKEN,
};
use crate::records::{Keys, SecretRec, VersionRec, AWSCURRENT};
use crate::stages::{self, StageMove};

/// What the version a call asks for is: its id (the ClientRequestToken, or a new
/// UUID), its value and its labels.
pub(crate) struct NewVersion {
    pub id: String,
    pub value: SecretValue,
    pub stages: Vec<String>,
}

impl NewVersion {
    /// A version with `value`, under `token` or a new id, labelled `stages` (AWSCURRENT
    /// by default).
    pub fn new(
        token: Option<String>,
        value: SecretValue,
        stages: Option<Vec<String>>,
    ) -> NewVersion {
        NewVersion {
            id: token.unwrap_or_else(uuid_v4),
            value,
            stages: stages.unwrap_or_else(|| vec![AWSCURRENT.to_string()]),
        }
    }
}

/// Adds `new` to `rec` (its value sealed, its labels moved to it, versions beyond the
/// limit pruned), or, when a version with its id exists, checks that it holds the same
/// value (the call is then a repeat and changes nothing). True when a version was made.
pub(crate) fn add_version(
    w: &mut Writer<'_>,
    env: &Env<'_>,
    keys: &Keys,
    rec: &mut SecretRec,
    new: &NewVersion,
) -> Result<bool, ApiError> {
    if let Some(v) = rec.version(&new.id) {
        return match open_value(w, env.sealer, keys, rec, v)? == new.value {
            true => Ok(false),
            false => Err(version_exists()),
        };
    }
    seal_value(w, env, keys, rec, &new.id, &new.value)?;
    rec.versions.push(VersionRec {
        version_id: new.id.clone(),
        version_stages: vec![],
        last_accessed_date: None,
        created_date: env.now,
        kms_key_ids: vec![rec.current_kms_key()],
        kind: new.value.kind(),
    });
    stages::attach(&mut rec.versions, &new.id, &new.stages)?;
    let pruned = stages::prune(&rec.versions);
    for id in &pruned {
        w.delete(&keys.value(&rec.name, id))?;
    }
    rec.versions.retain(|v| !pruned.contains(&v.version_id));
    rec.last_changed_date = env.now;
    Ok(true)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct PutIn {
    secret_id: String,
    client_request_token: Option<String>,
    secret_binary: Option<String>,
    secret_string: Option<String>,
    version_stages: Option<Vec<String>>,
    rotation_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PutOut {
    #[serde(rename = "ARN")]
    arn: String,
    name: String,
    version_id: String,
    version_stages: Vec<String>,
}

const PUT_RULES: &[Length<PutIn>] = &[
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
        member: "RotationToken",
        get: |i| i.rotation_token.as_deref(),
        min: 36,
        max: 256,
    },
];

/// Labels as the model allows them: 1 to 20, each 1 to 256 characters.
pub(crate) fn check_stages(stages: Option<&[String]>) -> Result<(), ApiError> {
    let Some(stages) = stages else { return Ok(()) };
    if !(1..=stages::MAX_STAGES).contains(&stages.len()) {
        return Err(validation(
            "VersionStages",
            "Member must have length between 1 and 20",
        ));
    }
    match stages
        .iter()
        .position(|s| !(1..=256).contains(&s.chars().count()))
    {
        Some(i) => Err(validation(
            &format!("VersionStages.{}", i + 1),
            "Member must have length between 1 and 256",
        )),
        None => Ok(()),
    }
}

/// PutSecretValue: a new version, AWSCURRENT unless other labels are given.
pub(crate) fn put(w: &mut Writer<'_>, env: &Env<'_>, i: PutIn) -> Result<PutOut, ApiError> {
    check_lengths(PUT_RULES, &i)?;
    check_stages(i.version_stages.as_deref())?;
    let value = SecretValue::from_input(i.secret_string, i.secret_binary)?
        .ok_or_else(|| invalid_request("You must provide either SecretString or SecretBinary."))?;
    let mut rec = require_live(w, env.ctx, &i.secret_id)?;
    let keys = env.keys();
    let new = NewVersion::new(i.client_request_token, value, i.version_stages);
    if add_version(w, env, &keys, &mut rec, &new)? {
        save(w, &keys, &rec)?;
    }
    let stages = rec
        .version(&new.id)
        .map(|v| v.version_stages.clone())
        .unwrap_or_default();
    Ok(PutOut {
        arn: rec.arn,
        name: rec.name,
        version_id: new.id,
        version_stages: stages,
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct GetIn {
    secret_id: String,
    version_id: Option<String>,
    version_stage: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GetOut {
    #[serde(rename = "ARN")]
    arn: String,
    name: String,
    version_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_binary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret_string: Option<String>,
    version_stages: Vec<String>,
    created_date: f64,
}

const GET_RULES: &[Length<GetIn>] = &[
    Length {
        member: "SecretId",
        get: |i| Some(i.secret_id.as_str()),
        min: 1,
        max: 2048,
    },
    Length {
        member: "VersionId",
        get: |i| i.version_id.as_deref(),
        min: 32,
        max: 64,
    },
    Length {
        member: "VersionStage",
        get: |i| i.version_stage.as_deref(),
        min: 1,
        max: 256,
    },
];

/// The day (midnight UTC) of `now`, as LastAccessedDate shows it.
fn day(now: f64) -> f64 {
    (now / 86400.0).floor() * 86400.0
}

/// GetSecretValue: the value of a version, noting the day it was read.
pub(crate) fn get(w: &mut Writer<'_>, env: &Env<'_>, i: GetIn) -> Result<GetOut, ApiError> {
    check_lengths(GET_RULES, &i)?;
    let rec = require_live(w, env.ctx, &i.secret_id)?;
    read_value(
        w,
        env,
        rec,
        i.version_id.as_deref(),
        i.version_stage.as_deref(),
    )
}

/// The value of a version of `rec` (by id or label, AWSCURRENT by default), noting
/// the day it was read (the secret and the version).
pub(crate) fn read_value(
    w: &mut Writer<'_>,
    env: &Env<'_>,
    mut rec: SecretRec,
    version_id: Option<&str>,
    stage: Option<&str>,
) -> Result<GetOut, ApiError> {
    let keys = env.keys();
    let v = stages::select(&rec.versions, version_id, stage)?.clone();
    let (secret_string, secret_binary) = open_value(w, env.sealer, &keys, &rec, &v)?.into_members();
    let today = Some(day(env.now));
    if rec.last_accessed_date != today || v.last_accessed_date != today {
        rec.last_accessed_date = today;
        for x in rec
            .versions
            .iter_mut()
            .filter(|x| x.version_id == v.version_id)
        {
            x.last_accessed_date = today;
        }
        save(w, &keys, &rec)?;
    }
    Ok(GetOut {
        arn: rec.arn,
        name: rec.name,
        version_id: v.version_id,
        secret_binary,
        secret_string,
        version_stages: v.version_stages,
        created_date: v.created_date,
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct ListVersionsIn {
    secret_id: String,
    max_results: Option<i64>,
    next_token: Option<String>,
    include_deprecated: Option<bool>,
}

/// A version as ListSecretVersionIds lists it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct VersionEntry {
    version_id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    version_stages: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_accessed_date: Option<f64>,
    created_date: f64,
    kms_key_ids: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListVersionsOut {
    versions: Vec<VersionEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
    #[serde(rename = "ARN")]
    arn: String,
    name: String,
}

/// ListSecretVersionIds: the labelled versions (and the deprecated ones when asked),
/// oldest first; a page token names the last version shown.
pub(crate) fn list_version_ids(
    r: &impl berth_store::Read,
    env: &Env<'_>,
    i: ListVersionsIn,
) -> Result<ListVersionsOut, ApiError> {
    let max = max_results(i.max_results, 100, 100)?;
    let rec = require(r, env.ctx, &i.secret_id)?;
    let shown: Vec<&VersionRec> = rec
        .versions
        .iter()
        .filter(|v| i.include_deprecated.unwrap_or(false) || !v.version_stages.is_empty())
        .collect();
    let start = match &i.next_token {
        None => 0,
        Some(t) => {
            let last = decode_token(t, "NextToken", INVALID_NEXT_TOKEN)?;
            shown
                .iter()
                .position(|v| v.version_id == last)
                .map(|p| p + 1)
                .ok_or_else(|| {
                    crate::errors::err(
                        INVALID_NEXT_TOKEN,
                        "NextToken names no version of the secret",
                    )
                })?
        }
    };
    let page: Vec<&VersionRec> = shown.iter().skip(start).take(max).copied().collect();
    let next_token = (start + page.len() < shown.len())
        .then(|| page.last().map(|v| encode_token(&v.version_id)))
        .flatten();
    Ok(ListVersionsOut {
        versions: page.into_iter().map(entry).collect(),
        next_token,
        arn: rec.arn.clone(),
        name: rec.name.clone(),
    })
}

fn entry(v: &VersionRec) -> VersionEntry {
    VersionEntry {
        version_id: v.version_id.clone(),
        version_stages: v.version_stages.clone(),
        last_accessed_date: v.last_accessed_date,
        created_date: v.created_date,
        kms_key_ids: v.kms_key_ids.clone(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct UpdateStageIn {
    secret_id: String,
    version_stage: String,
    remove_from_version_id: Option<String>,
    move_to_version_id: Option<String>,
}

/// An answer naming the secret: ARN and Name.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Named {
    #[serde(rename = "ARN")]
    pub arn: String,
    pub name: String,
}

const STAGE_RULES: &[Length<UpdateStageIn>] = &[
    Length {
        member: "SecretId",
        get: |i| Some(i.secret_id.as_str()),
        min: 1,
        max: 2048,
    },
    Length {
        member: "VersionStage",
        get: |i| Some(i.version_stage.as_str()),
        min: 1,
        max: 256,
    },
    Length {
        member: "RemoveFromVersionId",
        get: |i| i.remove_from_version_id.as_deref(),
        min: 32,
        max: 64,
    },
    Length {
        member: "MoveToVersionId",
        get: |i| i.move_to_version_id.as_deref(),
        min: 32,
        max: 64,
    },
];

/// UpdateSecretVersionStage: moves or removes one label.
pub(crate) fn update_stage(
    w: &mut Writer<'_>,
    env: &Env<'_>,
    i: UpdateStageIn,
) -> Result<Named, ApiError> {
    check_lengths(STAGE_RULES, &i)?;
    let mut rec = require_live(w, env.ctx, &i.secret_id)?;
    let before = rec.versions.clone();
    let m = StageMove {
        stage: &i.version_stage,
        remove_from: i.remove_from_version_id.as_deref(),
        move_to: i.move_to_version_id.as_deref(),
    };
    stages::update_stage(&mut rec.versions, m)?;
    if rec.versions != before {
        rec.last_changed_date = env.now;
        save(w, &env.keys(), &rec)?;
    }
    Ok(Named {
        arn: rec.arn,
        name: rec.name,
    })
}
