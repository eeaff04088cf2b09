//! ListSecrets.

use std::collections::BTreeMap;

use berth_awsproto::{decode_token, encode_token, ApiError};
use berth_store::Read;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::access::Env;
use crate::errors::{err, max_results, INVALID_NEXT_TOKEN};
use crate::filters::{check_filters, matches_all, page, sort_key, Filter, SortBy, SortOrder};
use crate::records::SecretRec;
use crate::secrets::{view, SecretView};

/// ListSecrets' input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct ListIn {
    include_planned_deletion: Option<bool>,
    max_results: Option<i64>,
    next_token: Option<String>,
    filters: Option<Vec<Filter>>,
    sort_order: Option<SortOrder>,
    sort_by: Option<SortBy>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListEntry<'a> {
    #[serde(flatten)]
    view: SecretView<'a>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    secret_versions_to_stages: BTreeMap<&'a str, &'a [String]>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListOut<'a> {
    secret_list: Vec<ListEntry<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

/// The caller's secrets that pass `filters` (those scheduled for deletion only when
/// `planned` says so).
pub(crate) fn matching(
    r: &impl Read,
    env: &Env<'_>,
    filters: &[Filter],
    planned: bool,
) -> Result<Vec<SecretRec>, ApiError> {
    Ok(
        r.scan_json::<SecretRec>(env.keys().secrets(), None, usize::MAX)?
            .into_iter()
            .map(|(_, rec)| rec)
            .filter(|rec| planned || rec.deleted_date.is_none())
            .filter(|rec| matches_all(filters, rec))
            .collect(),
    )
}

/// The NextToken of a cursor.
pub(crate) fn encode_cursor((key, name): &(String, String)) -> String {
    encode_token(&format!("{key}\n{name}"))
}

/// The cursor a NextToken carries: the last entry's sort key and name.
pub(crate) fn decode_cursor(token: &str) -> Result<(String, String), ApiError> {
    let text = decode_token(token, "NextToken", INVALID_NEXT_TOKEN)?;
    text.split_once('\n')
        .map(|(k, n)| (k.to_string(), n.to_string()))
        .ok_or_else(|| {
            err(
                INVALID_NEXT_TOKEN,
                "NextToken is not a valid pagination token",
            )
        })
}

/// ListSecrets: the caller's secrets (those scheduled for deletion only when asked),
/// filtered, sorted (by creation, oldest first, unless asked otherwise), a page at a
/// time (100 by default).
pub(crate) fn list(r: &impl Read, env: &Env<'_>, i: ListIn) -> Result<Value, ApiError> {
    let max = max_results(i.max_results, 100, 100)?;
    let filters = i.filters.unwrap_or_default();
    check_filters(&filters)?;
    let after = i.next_token.as_deref().map(decode_cursor).transpose()?;
    let recs = matching(
        r,
        env,
        &filters,
        i.include_planned_deletion.unwrap_or(false),
    )?;
    let by = i.sort_by.unwrap_or(SortBy::CreatedDate);
    let items = recs.iter().map(|rec| (sort_key(by, rec), rec)).collect();
    let order = i.sort_order.unwrap_or(SortOrder::Asc);
    let (shown, next) = page(items, order, after.as_ref(), max);
    let secret_list = shown
        .into_iter()
        .map(|rec| {
            let (view, secret_versions_to_stages) = view(rec);
            ListEntry {
                view,
                secret_versions_to_stages,
            }
        })
        .collect();
    berth_awsproto::output(&ListOut {
        secret_list,
        next_token: next.map(|c| encode_cursor(&c)),
    })
}
