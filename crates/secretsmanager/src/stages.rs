//! Staging labels: which version a label picks, and how labels move between versions.
//! Pure functions of a secret's versions, tested as tables.

use berth_awsproto::ApiError;

use crate::errors::{err, invalid_parameter, value_not_found, LIMIT_EXCEEDED};
use crate::records::{VersionRec, AWSCURRENT, AWSPREVIOUS};

/// A version carries at most this many labels.
pub const MAX_STAGES: usize = 20;
/// A secret keeps at most this many versions; beyond, the oldest deprecated ones go.
pub const MAX_VERSIONS: usize = 100;

/// The version GetSecretValue returns: by id, by label, or AWSCURRENT. When both an id
/// and a label are given they must name the same version.
pub fn select<'a>(
    versions: &'a [VersionRec],
    version_id: Option<&str>,
    stage: Option<&str>,
) -> Result<&'a VersionRec, ApiError> {
    match (version_id, stage) {
        (Some(id), stage) => {
            let v = versions
                .iter()
                .find(|v| v.version_id == id)
                .ok_or_else(|| value_not_found(&format!("VersionId: {id}")))?;
            match stage {
                Some(s) if !v.has(s) => Err(value_not_found(&format!(
                    "VersionId: {id} and staging label: {s}"
                ))),
                _ => Ok(v),
            }
        }
        (None, stage) => {
            let s = stage.unwrap_or(AWSCURRENT);
            versions
                .iter()
                .find(|v| v.has(s))
                .ok_or_else(|| value_not_found(&format!("staging label: {s}")))
        }
    }
}

/// Attaches `stages` to version `to` (which exists), taking each from whichever
/// version had it. When AWSCURRENT leaves another version, that version gets
/// AWSPREVIOUS.
pub fn attach(versions: &mut [VersionRec], to: &str, stages: &[String]) -> Result<(), ApiError> {
    let old_current = versions
        .iter()
        .find(|v| v.has(AWSCURRENT) && v.version_id != to)
        .map(|v| v.version_id.clone());
    for stage in stages {
        move_label(versions, to, stage);
    }
    if let Some(old) = old_current.filter(|_| stages.iter().any(|s| s == AWSCURRENT)) {
        move_label(versions, &old, AWSPREVIOUS);
    }
    match versions
        .iter()
        .find(|v| v.version_stages.len() > MAX_STAGES)
    {
        Some(v) => Err(err(
            LIMIT_EXCEEDED,
            format!(
                "VersionStages: version {} would carry more than {MAX_STAGES} staging labels",
                v.version_id
            ),
        )),
        None => Ok(()),
    }
}

/// Moves `stage` to version `to`, from wherever it was.
fn move_label(versions: &mut [VersionRec], to: &str, stage: &str) {
    for v in versions.iter_mut() {
        if v.version_id == to {
            if !v.has(stage) {
                v.version_stages.push(stage.to_string());
            }
        } else {
            v.version_stages.retain(|s| s != stage);
        }
    }
}

/// What UpdateSecretVersionStage asks for.
#[derive(Debug, Clone, Copy)]
pub struct StageMove<'a> {
    /// The label.
    pub stage: &'a str,
    /// The version it is to leave.
    pub remove_from: Option<&'a str>,
    /// The version it is to go to.
    pub move_to: Option<&'a str>,
}

/// Carries out UpdateSecretVersionStage on `versions`, as AWS checks it: a label
/// attached elsewhere moves only when `remove_from` names its version; AWSCURRENT
/// can move but not be removed.
pub fn update_stage(versions: &mut [VersionRec], m: StageMove<'_>) -> Result<(), ApiError> {
    if m.move_to.is_none() && m.remove_from.is_none() {
        return Err(invalid_parameter(
            "Specify MoveToVersionId, RemoveFromVersionId, or both.",
        ));
    }
    for (member, id) in [
        ("RemoveFromVersionId", m.remove_from),
        ("MoveToVersionId", m.move_to),
    ] {
        if let Some(id) = id.filter(|id| !versions.iter().any(|v| v.version_id == *id)) {
            return Err(invalid_parameter(format!(
                "{member}: the secret has no version {id}"
            )));
        }
    }
    let holder = versions
        .iter()
        .find(|v| v.has(m.stage))
        .map(|v| v.version_id.clone());
    check_remove_from(holder.as_deref(), m)?;
    match (m.move_to, m.remove_from) {
        (Some(to), _) => attach(versions, to, &[m.stage.to_string()]),
        (None, Some(_)) if m.stage == AWSCURRENT => Err(invalid_parameter(
            "You can only move staging label AWSCURRENT to a different secret version. It can't be completely removed.",
        )),
        (None, Some(from)) => {
            for v in versions.iter_mut().filter(|v| v.version_id == from) {
                v.version_stages.retain(|s| s != m.stage);
            }
            Ok(())
        }
        (None, None) => Ok(()),
    }
}

/// The label's current version must be the one `remove_from` names, unless the label
/// stays where it is.
fn check_remove_from(holder: Option<&str>, m: StageMove<'_>) -> Result<(), ApiError> {
    match (holder, m.remove_from) {
        (Some(h), _) if m.move_to == Some(h) => Ok(()),
        (Some(h), None) => Err(invalid_parameter(format!(
            "The parameter RemoveFromVersionId can't be empty. Staging label {} is currently attached to version {h}, so you must explicitly reference that version in RemoveFromVersionId.",
            m.stage
        ))),
        (Some(h), Some(from)) if from != h => Err(invalid_parameter(format!(
            "RemoveFromVersionId: staging label {} is attached to version {h}, not to {from}",
            m.stage
        ))),
        (None, Some(from)) => Err(invalid_parameter(format!(
            "RemoveFromVersionId: staging label {} is not attached to version {from}",
            m.stage
        ))),
        _ => Ok(()),
    }
}

/// The versions to forget once a secret has more than [`MAX_VERSIONS`]: the oldest of
/// those without labels (deprecated).
pub fn prune(versions: &[VersionRec]) -> Vec<String> {
    let excess = versions.len().saturating_sub(MAX_VERSIONS);
    versions
        .iter()
        .filter(|v| v.version_stages.is_empty())
        .take(excess)
        .map(|v| v.version_id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{ValueKind, AWSPENDING};

    fn v(id: &str, stages: &[&str]) -> VersionRec {
        VersionRec {
            version_id: id.to_string(),
            version_stages: stages.iter().map(|s| s.to_string()).collect(),
            last_accessed_date: None,
            created_date: 1.0,
            kms_key_ids: vec![],
            kind: ValueKind::String,
        }
    }

    fn labels(vs: &[VersionRec]) -> Vec<(String, Vec<String>)> {
        vs.iter()
            .map(|v| (v.version_id.clone(), v.version_stages.clone()))
            .collect()
    }

    fn s(x: &[&str]) -> Vec<String> {
        x.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn attaching_moves_labels_and_current_leaves_previous() {
        // (versions before, version, labels, labels after as (a, b, c))
        type Case<'a> = (
            &'a [(&'a str, &'a [&'a str])],
            &'a str,
            &'a [&'a str],
            [&'a [&'a str]; 3],
        );
        let cases: &[Case] = &[
            // A new version made current: the old current becomes previous.
            (
                &[("a", &[AWSPREVIOUS]), ("b", &[AWSCURRENT]), ("c", &[])],
                "c",
                &[AWSCURRENT],
                [&[], &[AWSPREVIOUS], &[AWSCURRENT]],
            ),
            // A pending version: current does not move.
            (
                &[("a", &[]), ("b", &[AWSCURRENT]), ("c", &[])],
                "c",
                &[AWSPENDING],
                [&[], &[AWSCURRENT], &[AWSPENDING]],
            ),
            // A custom label moves from wherever it was.
            (
                &[("a", &["blue"]), ("b", &[AWSCURRENT]), ("c", &[])],
                "c",
                &["blue", AWSCURRENT],
                [&[], &[AWSPREVIOUS], &["blue", AWSCURRENT]],
            ),
            // Current on the version already: nothing becomes previous.
            (
                &[("a", &[AWSPREVIOUS]), ("b", &[AWSCURRENT]), ("c", &[])],
                "b",
                &[AWSCURRENT],
                [&[AWSPREVIOUS], &[AWSCURRENT], &[]],
            ),
        ];
        for (before, to, stages, after) in cases {
            let mut vs: Vec<VersionRec> = before.iter().map(|(id, st)| v(id, st)).collect();
            attach(&mut vs, to, &s(stages)).unwrap();
            let want: Vec<(String, Vec<String>)> = ["a", "b", "c"]
                .iter()
                .zip(after.iter())
                .map(|(id, st)| (id.to_string(), s(st)))
                .collect();
            assert_eq!(labels(&vs), want, "{before:?} + {to} {stages:?}");
        }
    }

    #[test]
    fn selecting_a_version() {
        let vs = vec![v("a", &[AWSPREVIOUS]), v("b", &[AWSCURRENT, "x"])];
        let pick = |id: Option<&str>, st: Option<&str>| {
            select(&vs, id, st)
                .map(|v| v.version_id.clone())
                .map_err(|e| e.message)
        };
        assert_eq!(pick(None, None).unwrap(), "b");
        assert_eq!(pick(None, Some(AWSPREVIOUS)).unwrap(), "a");
        assert_eq!(pick(None, Some("x")).unwrap(), "b");
        assert_eq!(pick(Some("a"), None).unwrap(), "a");
        assert_eq!(pick(Some("b"), Some("x")).unwrap(), "b");
        assert!(pick(Some("a"), Some(AWSCURRENT))
            .unwrap_err()
            .contains("staging label: AWSCURRENT"));
        assert!(pick(None, Some(AWSPENDING))
            .unwrap_err()
            .ends_with("staging label: AWSPENDING"));
        assert!(pick(Some("zz"), None)
            .unwrap_err()
            .ends_with("VersionId: zz"));
        assert!(select(&[], None, None).is_err());
    }

    #[test]
    fn updating_a_stage() {
        let base = || vec![v("a", &[AWSPREVIOUS]), v("b", &[AWSCURRENT]), v("c", &[])];
        let run = |stage: &str, from: Option<&str>, to: Option<&str>| {
            let mut vs = base();
            let m = StageMove {
                stage,
                remove_from: from,
                move_to: to,
            };
            update_stage(&mut vs, m)
                .map(|()| labels(&vs))
                .map_err(|e| e.message)
        };
        let ok = run(AWSCURRENT, Some("b"), Some("c")).unwrap();
        assert_eq!(ok[1].1, s(&[AWSPREVIOUS]));
        assert_eq!(ok[2].1, s(&[AWSCURRENT]));
        assert!(ok[0].1.is_empty());
        assert!(run(AWSCURRENT, None, Some("c"))
            .unwrap_err()
            .contains("currently attached to version b"));
        assert!(run(AWSCURRENT, Some("a"), Some("c")).is_err());
        assert!(run(AWSCURRENT, Some("b"), None)
            .unwrap_err()
            .contains("can't be completely removed"));
        let ok = run("blue", None, Some("a")).unwrap();
        assert_eq!(ok[0].1, s(&[AWSPREVIOUS, "blue"]));
        let ok = run(AWSPREVIOUS, Some("a"), None).unwrap();
        assert!(ok[0].1.is_empty());
        assert!(run("blue", Some("a"), None)
            .unwrap_err()
            .contains("not attached"));
        assert!(run("blue", None, Some("zz"))
            .unwrap_err()
            .contains("no version zz"));
        assert!(run("blue", None, None).is_err());
        // Moving a label onto the version that has it is no change.
        assert_eq!(run(AWSCURRENT, None, Some("b")).unwrap(), labels(&base()));
    }

    #[test]
    fn labels_per_version_are_limited() {
        let mut vs = vec![v("a", &[])];
        let many: Vec<String> = (0..=MAX_STAGES).map(|i| format!("l{i}")).collect();
        assert_eq!(
            attach(&mut vs, "a", &many).unwrap_err().code,
            LIMIT_EXCEEDED
        );
    }

    #[test]
    fn pruning_drops_the_oldest_deprecated_versions() {
        let mut vs: Vec<VersionRec> = (0..MAX_VERSIONS)
            .map(|i| v(&format!("d{i}"), &[]))
            .collect();
        assert!(prune(&vs).is_empty());
        vs.insert(0, v("cur", &[AWSCURRENT]));
        vs.push(v("new", &[]));
        assert_eq!(prune(&vs), ["d0", "d1"]);
    }
}
