//! GetParametersByPath and DescribeParameters: a scan of the account's parameters in
//! name order, filtered, a page at a time; a page token names the last parameter given.

use berth_awsproto::{decode_token, encode_token, ApiError};
use berth_store::Read;
use serde::{Deserialize, Serialize};

use crate::errors::{bad_token, invalid, max_results, missing, INVALID_NEXT_TOKEN};
use crate::filters::{
    check_filters, check_old_filters, pick, Filter, OldFilterIn, StringFilterIn, Use,
};
use crate::get::{render, ParameterOut};
use crate::names::{check_path, in_path, parameter_arn, path_prefix};
use crate::records::{DataType, Keys, ParamRec, ParameterTier, ParameterType, VersionRec};
use crate::Env;

/// How many records a scan reads at a time.
const CHUNK: usize = 100;

/// One page of the parameters whose names start with `prefix` (after `token`'s), each
/// turned into an item by `item` or skipped (`None`).
fn page<T>(
    r: &impl Read,
    env: &Env<'_>,
    prefix: &str,
    token: Option<&str>,
    max: usize,
    mut item: impl FnMut(&ParamRec) -> Result<Option<T>, ApiError>,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let keys = Keys::new(&env.ctx.account, &env.ctx.region);
    let scan_prefix = format!("{}{prefix}", keys.params());
    let mut after = match token {
        Some(t) => Some(
            keys.param(&decode_token(t, "NextToken", INVALID_NEXT_TOKEN).map_err(|_| bad_token())?),
        ),
        None => None,
    };
    let mut out = Vec::new();
    let mut last: Option<String> = None;
    loop {
        let chunk = r.scan_json::<ParamRec>(&scan_prefix, after.as_deref(), CHUNK)?;
        let done = chunk.len() < CHUNK;
        for (key, rec) in chunk {
            after = Some(key);
            let Some(t) = item(&rec)? else { continue };
            if out.len() == max {
                return Ok((out, last.map(|n| encode_token(&n))));
            }
            out.push(t);
            last = Some(rec.name);
        }
        if done {
            return Ok((out, None));
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct ByPathIn {
    path: Option<String>,
    recursive: Option<bool>,
    parameter_filters: Option<Vec<StringFilterIn>>,
    with_decryption: Option<bool>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ByPathOut {
    parameters: Vec<ParameterOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

/// The parameters under a path (directly, or at any depth when `Recursive`), 10 a page
/// unless asked for fewer.
pub(crate) fn by_path(r: &impl Read, env: &Env<'_>, i: ByPathIn) -> Result<ByPathOut, ApiError> {
    let path = check_path(i.path.as_deref().ok_or_else(|| missing("path"))?, "path")?;
    let filters = check_filters(
        i.parameter_filters.as_deref().unwrap_or_default(),
        Use::ByPath,
    )?;
    let max = max_results(i.max_results, 10, 10)?;
    let recursive = i.recursive.unwrap_or(false);
    let decrypt = i.with_decryption.unwrap_or(false);
    let (parameters, next_token) = page(
        r,
        env,
        &path_prefix(&path),
        i.next_token.as_deref(),
        max,
        |rec| {
            if !in_path(&rec.name, &path, recursive) {
                return Ok(None);
            }
            pick(&filters, rec)
                .map(|v| render(env, rec, v, None, decrypt))
                .transpose()
        },
    )?;
    Ok(ByPathOut {
        parameters,
        next_token,
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct DescribeIn {
    filters: Option<Vec<OldFilterIn>>,
    parameter_filters: Option<Vec<StringFilterIn>>,
    max_results: Option<i64>,
    next_token: Option<String>,
    shared: Option<bool>,
}

/// A parameter as DescribeParameters answers it: its latest version, no value.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Metadata {
    name: String,
    #[serde(rename = "ARN")]
    arn: String,
    #[serde(rename = "Type")]
    kind: ParameterType,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_id: Option<String>,
    last_modified_date: f64,
    last_modified_user: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_pattern: Option<String>,
    version: u64,
    tier: ParameterTier,
    policies: Vec<serde_json::Value>,
    data_type: DataType,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DescribeOut {
    parameters: Vec<Metadata>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

fn metadata(env: &Env<'_>, rec: &ParamRec, v: &VersionRec) -> Metadata {
    Metadata {
        name: rec.name.clone(),
        arn: parameter_arn(env.ctx, &rec.name),
        kind: v.kind,
        key_id: v.key_id.clone(),
        last_modified_date: v.last_modified_date,
        last_modified_user: v.last_modified_user.clone(),
        description: v.description.clone(),
        allowed_pattern: v.allowed_pattern.clone(),
        version: v.version,
        tier: v.tier,
        policies: Vec::new(),
        data_type: v.data_type,
    }
}

/// Every parameter of the account and region that passes the filters, in name order,
/// 10 a page unless asked otherwise (at most 50). Shared parameters: none.
pub(crate) fn describe(
    r: &impl Read,
    env: &Env<'_>,
    i: DescribeIn,
) -> Result<DescribeOut, ApiError> {
    let filters: Vec<Filter> = match (&i.filters, &i.parameter_filters) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "You can use either Filters or ParameterFilters in a single request.",
            ))
        }
        (Some(old), None) => check_old_filters(old)?,
        (None, Some(new)) => check_filters(new, Use::Describe)?,
        (None, None) => Vec::new(),
    };
    let max = max_results(i.max_results, 50, 10)?;
    if i.shared == Some(true) {
        return Ok(DescribeOut {
            parameters: Vec::new(),
            next_token: None,
        });
    }
    let (parameters, next_token) = page(r, env, "", i.next_token.as_deref(), max, |rec| {
        Ok(pick(&filters, rec).map(|v| metadata(env, rec, v)))
    })?;
    Ok(DescribeOut {
        parameters,
        next_token,
    })
}
