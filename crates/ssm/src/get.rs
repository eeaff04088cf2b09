//! GetParameter, GetParameters, GetParameterHistory, and the lookup and rendering every
//! reader shares.

use berth_awsproto::{decode_token, encode_token, ApiError, Context};
use berth_store::Read;
use serde::{Deserialize, Serialize};

use crate::errors::{
    bad_token, count, max_results, missing, not_found, version_not_found, INVALID_NEXT_TOKEN,
};
use crate::names::{parameter_arn, reference, Reference, Selector};
use crate::records::{DataType, Keys, ParamRec, ParameterTier, ParameterType, VersionRec};
use crate::{values, Env};

/// A parameter's record, by a reference's names (none for another account's ARN).
pub(crate) fn load(
    r: &impl Read,
    ctx: &Context,
    reference: &Reference,
) -> Result<Option<ParamRec>, ApiError> {
    if reference.foreign {
        return Ok(None);
    }
    let keys = Keys::new(&ctx.account, &ctx.region);
    for name in &reference.candidates {
        if let Some(rec) = r.get_json(&keys.param(name))? {
            return Ok(Some(rec));
        }
    }
    Ok(None)
}

/// What a reference finds.
#[derive(Debug)]
pub(crate) enum Lookup {
    /// The parameter and the index of the version selected.
    Found(ParamRec, usize),
    /// No such parameter (or no version with the label).
    NoParameter,
    /// The parameter, but not that version.
    NoVersion(String, u64),
}

/// The version a selector picks (the latest without one).
pub(crate) fn select(rec: ParamRec, selector: Option<&Selector>) -> Lookup {
    let index = match selector {
        None => Some(rec.versions.len() - 1),
        Some(Selector::Version(n)) => rec.versions.iter().position(|v| v.version == *n),
        Some(Selector::Label(l)) => rec.versions.iter().position(|v| v.labels.contains(l)),
    };
    match (index, selector) {
        (Some(i), _) => Lookup::Found(rec, i),
        (None, Some(Selector::Version(n))) => Lookup::NoVersion(rec.name, *n),
        (None, _) => Lookup::NoParameter,
    }
}

pub(crate) fn lookup(
    r: &impl Read,
    ctx: &Context,
    reference: &Reference,
) -> Result<Lookup, ApiError> {
    Ok(match load(r, ctx, reference)? {
        Some(rec) => select(rec, reference.selector.as_ref()),
        None => Lookup::NoParameter,
    })
}

/// A parameter as GetParameter(s) and GetParametersByPath answer it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ParameterOut {
    name: String,
    #[serde(rename = "Type")]
    kind: ParameterType,
    value: String,
    version: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    selector: Option<String>,
    last_modified_date: f64,
    #[serde(rename = "ARN")]
    arn: String,
    data_type: DataType,
}

/// `v` of `rec` as readers see it.
pub(crate) fn render(
    env: &Env<'_>,
    rec: &ParamRec,
    v: &VersionRec,
    selector: Option<&Selector>,
    decrypt: bool,
) -> Result<ParameterOut, ApiError> {
    let arn = parameter_arn(env.ctx, &rec.name);
    Ok(ParameterOut {
        name: rec.name.clone(),
        kind: v.kind,
        value: values::reveal(env, &arn, v.version, &v.value, decrypt)?,
        version: v.version,
        selector: selector.map(Selector::text),
        last_modified_date: v.last_modified_date,
        arn,
        data_type: v.data_type,
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct GetIn {
    name: Option<String>,
    with_decryption: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GetOut {
    parameter: ParameterOut,
}

pub(crate) fn get_one(r: &impl Read, env: &Env<'_>, i: GetIn) -> Result<GetOut, ApiError> {
    let name = i.name.ok_or_else(|| missing("name"))?;
    let reference = reference(env.ctx, &name, "name", true)?;
    match lookup(r, env.ctx, &reference)? {
        Lookup::Found(rec, idx) => {
            let decrypt = i.with_decryption.unwrap_or(false);
            let parameter = render(
                env,
                &rec,
                &rec.versions[idx],
                reference.selector.as_ref(),
                decrypt,
            )?;
            Ok(GetOut { parameter })
        }
        Lookup::NoParameter => Err(not_found(&name)),
        Lookup::NoVersion(name, n) => Err(version_not_found(&name, n)),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct GetManyIn {
    names: Option<Vec<String>>,
    with_decryption: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GetManyOut {
    parameters: Vec<ParameterOut>,
    invalid_parameters: Vec<String>,
}

/// Up to 10 parameters, in the order named; those not found (or not at the version
/// selected) are listed as given in `InvalidParameters`. A name twice is answered once.
pub(crate) fn get_many(r: &impl Read, env: &Env<'_>, i: GetManyIn) -> Result<GetManyOut, ApiError> {
    let mut names = i.names.ok_or_else(|| missing("names"))?;
    count(&names, "names", 1, 10)?;
    dedup(&mut names);
    let refs = names
        .iter()
        .enumerate()
        .map(|(n, name)| reference(env.ctx, name, &format!("names.{}.member", n + 1), true))
        .collect::<Result<Vec<_>, _>>()?;
    let decrypt = i.with_decryption.unwrap_or(false);
    let mut out = GetManyOut {
        parameters: Vec::new(),
        invalid_parameters: Vec::new(),
    };
    for (name, reference) in names.into_iter().zip(refs) {
        match lookup(r, env.ctx, &reference)? {
            Lookup::Found(rec, idx) => out.parameters.push(render(
                env,
                &rec,
                &rec.versions[idx],
                reference.selector.as_ref(),
                decrypt,
            )?),
            _ => out.invalid_parameters.push(name),
        }
    }
    Ok(out)
}

/// Removes later repeats, keeping the order.
fn dedup(names: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct HistoryIn {
    name: Option<String>,
    with_decryption: Option<bool>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

/// One version as GetParameterHistory answers it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct HistoryOut {
    name: String,
    #[serde(rename = "Type")]
    kind: ParameterType,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_id: Option<String>,
    last_modified_date: f64,
    last_modified_user: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_pattern: Option<String>,
    version: u64,
    labels: Vec<String>,
    tier: ParameterTier,
    policies: Vec<serde_json::Value>,
    data_type: DataType,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct HistoryPage {
    parameters: Vec<HistoryOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

/// A parameter's kept versions, oldest first, 50 a page unless asked for fewer; a page
/// token names the last version given.
pub(crate) fn history(r: &impl Read, env: &Env<'_>, i: HistoryIn) -> Result<HistoryPage, ApiError> {
    let name = i.name.ok_or_else(|| missing("name"))?;
    let reference = reference(env.ctx, &name, "name", false)?;
    let max = max_results(i.max_results, 50, 50)?;
    let after = match &i.next_token {
        None => 0,
        Some(t) => decode_token(t, "NextToken", INVALID_NEXT_TOKEN)?
            .strip_prefix("version/")
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(bad_token)?,
    };
    let rec = load(r, env.ctx, &reference)?.ok_or_else(|| not_found(&name))?;
    let decrypt = i.with_decryption.unwrap_or(false);
    let rest: Vec<&VersionRec> = rec.versions.iter().filter(|v| v.version > after).collect();
    let page = rest
        .iter()
        .take(max)
        .map(|v| history_item(env, &rec, v, decrypt))
        .collect::<Result<Vec<_>, _>>()?;
    let next_token =
        (rest.len() > max).then(|| encode_token(&format!("version/{}", rest[max - 1].version)));
    Ok(HistoryPage {
        parameters: page,
        next_token,
    })
}

fn history_item(
    env: &Env<'_>,
    rec: &ParamRec,
    v: &VersionRec,
    decrypt: bool,
) -> Result<HistoryOut, ApiError> {
    let arn = parameter_arn(env.ctx, &rec.name);
    Ok(HistoryOut {
        name: rec.name.clone(),
        kind: v.kind,
        key_id: v.key_id.clone(),
        last_modified_date: v.last_modified_date,
        last_modified_user: v.last_modified_user.clone(),
        description: v.description.clone(),
        value: values::reveal(env, &arn, v.version, &v.value, decrypt)?,
        allowed_pattern: v.allowed_pattern.clone(),
        version: v.version,
        labels: v.labels.clone(),
        tier: v.tier,
        policies: Vec::new(),
        data_type: v.data_type,
    })
}
