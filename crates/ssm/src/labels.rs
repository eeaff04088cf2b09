//! LabelParameterVersion and UnlabelParameterVersion. A label names one version of a
//! parameter at a time (labelling another version moves it); a version has at most
//! ten.

use berth_awsproto::ApiError;
use berth_store::Writer;
use serde::{Deserialize, Serialize};

use crate::errors::{check, count, err, missing, not_found, version_not_found, Check, LABEL_LIMIT};
use crate::get::load;
use crate::names::reference;
use crate::records::{Keys, ParamRec};
use crate::Env;

/// The most labels one version has.
const MAX_LABELS: usize = 10;

/// What a label is: (what is wrong, test). A label that fails is returned in
/// `InvalidLabels`, not refused.
const LABEL_RULES: &[Check<str>] = &[
    ("1 to 100 characters", |l| {
        (1..=100).contains(&l.chars().count())
    }),
    ("letters, numbers, . - _", |l| {
        l.chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c))
    }),
    ("not beginning with a number", |l| {
        !l.starts_with(|c: char| c.is_ascii_digit())
    }),
    ("not beginning with aws or ssm", |l| {
        let lower = l.to_ascii_lowercase();
        !lower.starts_with("aws") && !lower.starts_with("ssm")
    }),
];

fn valid_label(l: &str) -> bool {
    check(LABEL_RULES, l, |_| ApiError::internal("")).is_ok()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub(crate) struct LabelIn {
    name: Option<String>,
    parameter_version: Option<u64>,
    labels: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct LabelOut {
    invalid_labels: Vec<String>,
    parameter_version: u64,
}

/// The parameter and the index of the version a request names (the latest by default).
fn target(
    w: &Writer<'_>,
    env: &Env<'_>,
    name: &Option<String>,
    version: Option<u64>,
) -> Result<(ParamRec, usize), ApiError> {
    let name = name.as_deref().ok_or_else(|| missing("name"))?;
    let reference = reference(env.ctx, name, "name", false)?;
    let rec = load(w, env.ctx, &reference)?.ok_or_else(|| not_found(name))?;
    let index = match version {
        None => rec.versions.len() - 1,
        Some(n) => rec
            .versions
            .iter()
            .position(|v| v.version == n)
            .ok_or_else(|| version_not_found(&rec.name, n))?,
    };
    Ok((rec, index))
}

fn labels_of(given: &Option<Vec<String>>) -> Result<&[String], ApiError> {
    let labels = given.as_deref().ok_or_else(|| missing("labels"))?;
    count(labels, "labels", 1, MAX_LABELS)?;
    Ok(labels)
}

fn save(w: &mut Writer<'_>, env: &Env<'_>, rec: &ParamRec) -> Result<(), ApiError> {
    let keys = Keys::new(&env.ctx.account, &env.ctx.region);
    w.put_json(&keys.param(&rec.name), rec)?;
    Ok(())
}

pub(crate) fn label(w: &mut Writer<'_>, env: &Env<'_>, i: LabelIn) -> Result<LabelOut, ApiError> {
    let labels = labels_of(&i.labels)?;
    let (mut rec, index) = target(w, env, &i.name, i.parameter_version)?;
    let (good, invalid_labels): (Vec<&String>, Vec<&String>) =
        labels.iter().partition(|l| valid_label(l));
    for (n, v) in rec.versions.iter_mut().enumerate() {
        if n != index {
            v.labels.retain(|l| !good.contains(&l));
        }
    }
    let v = &mut rec.versions[index];
    for l in good {
        if !v.labels.contains(l) {
            v.labels.push(l.clone());
        }
    }
    if v.labels.len() > MAX_LABELS {
        let message = format!("A parameter version can have maximum {MAX_LABELS} labels: version {} of {} would have {}.", v.version, rec.name, v.labels.len());
        return Err(err(LABEL_LIMIT, message));
    }
    let parameter_version = v.version;
    save(w, env, &rec)?;
    Ok(LabelOut {
        invalid_labels: invalid_labels.into_iter().cloned().collect(),
        parameter_version,
    })
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UnlabelOut {
    removed_labels: Vec<String>,
    invalid_labels: Vec<String>,
}

pub(crate) fn unlabel(
    w: &mut Writer<'_>,
    env: &Env<'_>,
    i: LabelIn,
) -> Result<UnlabelOut, ApiError> {
    let labels = labels_of(&i.labels)?;
    let version = i
        .parameter_version
        .ok_or_else(|| missing("parameterVersion"))?;
    let (mut rec, index) = target(w, env, &i.name, Some(version))?;
    let v = &mut rec.versions[index];
    let (removed_labels, invalid_labels): (Vec<String>, Vec<String>) =
        labels.iter().cloned().partition(|l| v.labels.contains(l));
    v.labels.retain(|l| !removed_labels.contains(l));
    save(w, env, &rec)?;
    Ok(UnlabelOut {
        removed_labels,
        invalid_labels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_rules_table() {
        let rows: &[(&str, bool)] = &[
            ("prod", true),
            ("Release-1.2_b", true),
            ("", false),
            ("1st", false),
            ("awsome", false),
            ("SSMx", false),
            ("a b", false),
            ("a/b", false),
            (&"l".repeat(100), true),
            (&"l".repeat(101), false),
        ];
        for (label, want) in rows {
            assert_eq!(valid_label(label), *want, "{label}");
        }
    }
}
