//! BatchGetSecretValue: the AWSCURRENT values of the secrets a list of ids names, or of
//! those filters select, a page at a time.

use berth_awsproto::ApiError;
use berth_store::Writer;
use serde::{Deserialize, Serialize};

use crate::access::{require_live, Env};
use crate::errors::{invalid_parameter, max_results, validation};
use crate::filters::{check_filters, page, sort_key, Filter, SortBy, SortOrder};
use crate::list::{decode_cursor, encode_cursor, matching};
use crate::versions::{read_value, GetOut};

/// At most this many secrets per call.
const MAX_BATCH: usize = 20;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct BatchIn {
    secret_id_list: Option<Vec<String>>,
    filters: Option<Vec<Filter>>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

/// A secret whose value could not be read, as BatchGetSecretValue reports it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorEntry {
    secret_id: String,
    error_code: String,
    message: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct BatchOut {
    secret_values: Vec<GetOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
    errors: Vec<ErrorEntry>,
}

/// BatchGetSecretValue: by SecretIdList or by Filters, not both. A secret that cannot
/// be read (missing, scheduled for deletion, without AWSCURRENT) is an entry of
/// `Errors`, not a failure of the call.
pub(crate) fn batch_get(
    w: &mut Writer<'_>,
    env: &Env<'_>,
    i: BatchIn,
) -> Result<BatchOut, ApiError> {
    match (i.secret_id_list, i.filters) {
        (Some(ids), None) => by_ids(w, env, ids),
        (None, Some(filters)) => by_filters(w, env, &filters, i.max_results, i.next_token),
        _ => Err(invalid_parameter(
            "Specify either SecretIdList or Filters, but not both.",
        )),
    }
}

/// Each value read, or its error; berth's own failures fail the call.
fn collect(
    out: &mut BatchOut,
    secret_id: String,
    got: Result<GetOut, ApiError>,
) -> Result<(), ApiError> {
    match got {
        Ok(v) => out.secret_values.push(v),
        Err(e) if e.status >= 500 => return Err(e),
        Err(e) => out.errors.push(ErrorEntry {
            secret_id,
            error_code: e.code,
            message: e.message,
        }),
    }
    Ok(())
}

fn by_ids(w: &mut Writer<'_>, env: &Env<'_>, ids: Vec<String>) -> Result<BatchOut, ApiError> {
    if !(1..=MAX_BATCH).contains(&ids.len()) {
        return Err(validation(
            "SecretIdList",
            "Member must have length between 1 and 20",
        ));
    }
    let mut out = BatchOut {
        secret_values: vec![],
        next_token: None,
        errors: vec![],
    };
    for id in ids {
        let got = require_live(w, env.ctx, &id).and_then(|rec| read_value(w, env, rec, None, None));
        collect(&mut out, id, got)?;
    }
    Ok(out)
}

fn by_filters(
    w: &mut Writer<'_>,
    env: &Env<'_>,
    filters: &[Filter],
    max: Option<i64>,
    token: Option<String>,
) -> Result<BatchOut, ApiError> {
    let max = max_results(max, MAX_BATCH as i64, MAX_BATCH)?;
    check_filters(filters)?;
    let after = token.as_deref().map(decode_cursor).transpose()?;
    let recs = matching(w, env, filters, false)?;
    let items = recs
        .into_iter()
        .map(|rec| (sort_key(SortBy::CreatedDate, &rec), rec))
        .collect();
    let (shown, next) = page(items, SortOrder::Asc, after.as_ref(), max);
    let mut out = BatchOut {
        secret_values: vec![],
        next_token: next.map(|c| encode_cursor(&c)),
        errors: vec![],
    };
    for rec in shown {
        let arn = rec.arn.clone();
        let got = read_value(w, env, rec, None, None);
        collect(&mut out, arn, got)?;
    }
    Ok(out)
}
