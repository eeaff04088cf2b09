//! Checks more than one operation shares: names, ranges and lengths as tables, tags,
//! pages, and finding records by ARN.

use berth_awsproto::{decode_token, encode_token, ApiError, Context};
use berth_store::Read;

use crate::errors::{
    err, missing, validation, LISTENER_NOT_FOUND, LOAD_BALANCER_NOT_FOUND, RULE_NOT_FOUND,
    TARGET_GROUP_NOT_FOUND,
};
use crate::records::{
    get, parse, ArnKind, ArnRef, Keys, ListenerRec, LoadBalancerRec, RuleRec, TargetGroupRec,
};

/// One row of a validation table over `T`; fields are named as the form names them.
pub enum Check<T> {
    /// The member must be given.
    Required(&'static str, fn(&T) -> bool),
    /// A number member, when given, within bounds (inclusive).
    Range(&'static str, fn(&T) -> Option<i64>, i64, i64),
    /// A text member's length, when given, within bounds.
    Len(&'static str, fn(&T) -> Option<&str>, usize, usize),
    /// Anything else, by a named function.
    Named(fn(&T) -> Result<(), ApiError>),
}

/// Runs `table` over `x` in order: the first failure answers (`ValidationError`).
pub fn check<T>(table: &[Check<T>], x: &T) -> Result<(), ApiError> {
    for row in table {
        match row {
            Check::Required(f, given) if !given(x) => return Err(missing(f)),
            Check::Range(f, get, min, max) => {
                if let Some(v) = get(x).filter(|v| !(*min..=*max).contains(v)) {
                    return Err(validation(format!(
                        "1 validation error detected: Value '{v}' at '{f}' failed to satisfy constraint: Member must have value between {min} and {max}"
                    )));
                }
            }
            Check::Len(f, get, min, max) => {
                if let Some(v) = get(x).filter(|v| !(*min..=*max).contains(&v.chars().count())) {
                    return Err(validation(format!(
                        "1 validation error detected: Value '{v}' at '{f}' failed to satisfy constraint: Member must have length between {min} and {max}"
                    )));
                }
            }
            Check::Named(f) => f(x)?,
            Check::Required(..) => {}
        }
    }
    Ok(())
}

/// A load balancer's or target group's name (`what`: "Load balancer", "Target group"):
/// 1 to 32 letters, digits and hyphens, not starting or ending with a hyphen.
pub fn check_name(what: &str, name: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.len() > 32 {
        return Err(validation(format!(
            "{what} name '{name}' must be between 1 and 32 characters long"
        )));
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(validation(format!(
            "{what} name '{name}' can only contain characters that are alphanumeric characters or hyphens(-)"
        )));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err(validation(format!(
            "{what} name '{name}' cannot begin or end with '-'"
        )));
    }
    Ok(())
}

/// The largest page and the page when none is asked.
pub const MAX_PAGE: i64 = 400;

/// One page of `items` (sorted by their keys) after `marker`, at most `size` long, and
/// the marker of the next page.
pub fn page<T>(
    mut items: Vec<(String, T)>,
    marker: Option<&str>,
    size: Option<i64>,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    if let Some(n) = size.filter(|n| !(1..=MAX_PAGE).contains(n)) {
        return Err(validation(format!(
            "1 validation error detected: Value '{n}' at 'pageSize' failed to satisfy constraint: Member must have value between 1 and {MAX_PAGE}"
        )));
    }
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let after = marker
        .map(|m| decode_token(m, "Marker", crate::errors::VALIDATION_ERROR))
        .transpose()?;
    let size = size.unwrap_or(MAX_PAGE) as usize;
    let rest: Vec<(String, T)> = items
        .into_iter()
        .filter(|(k, _)| after.as_deref().is_none_or(|a| k.as_str() > a))
        .collect();
    let next = (rest.len() > size).then(|| encode_token(&rest[size - 1].0));
    Ok((rest.into_iter().take(size).map(|(_, v)| v).collect(), next))
}

fn lb_not_found(arn: &str) -> ApiError {
    err(
        LOAD_BALANCER_NOT_FOUND,
        format!("Load balancer '{arn}' not found"),
    )
}

fn tg_not_found(arn: &str) -> ApiError {
    err(
        TARGET_GROUP_NOT_FOUND,
        format!("Target group '{arn}' not found"),
    )
}

/// The load balancer `arn` names, if it exists.
pub fn find_load_balancer(
    r: &impl Read,
    ctx: &Context,
    arn: &str,
) -> Result<Option<LoadBalancerRec>, ApiError> {
    let Some(ArnRef::LoadBalancer { id }) = parse(ctx, arn, ArnKind::LoadBalancer)? else {
        return Ok(None);
    };
    let rec: Option<LoadBalancerRec> = get(r, &Keys::new(ctx).lb(&id))?;
    Ok(rec.filter(|l| l.load_balancer.load_balancer_arn == arn))
}

/// The load balancer `arn` names: `LoadBalancerNotFound` if none.
pub fn load_balancer(r: &impl Read, ctx: &Context, arn: &str) -> Result<LoadBalancerRec, ApiError> {
    find_load_balancer(r, ctx, arn)?.ok_or_else(|| lb_not_found(arn))
}

/// The target group `arn` names, if it exists.
pub fn find_target_group(
    r: &impl Read,
    ctx: &Context,
    arn: &str,
) -> Result<Option<TargetGroupRec>, ApiError> {
    let Some(ArnRef::TargetGroup { id }) = parse(ctx, arn, ArnKind::TargetGroup)? else {
        return Ok(None);
    };
    let rec: Option<TargetGroupRec> = get(r, &Keys::new(ctx).tg(&id))?;
    Ok(rec.filter(|t| t.target_group.target_group_arn == arn))
}

/// The target group `arn` names: `TargetGroupNotFound` if none.
pub fn target_group(r: &impl Read, ctx: &Context, arn: &str) -> Result<TargetGroupRec, ApiError> {
    find_target_group(r, ctx, arn)?.ok_or_else(|| tg_not_found(arn))
}

/// The listener `arn` names: `ListenerNotFound` if none.
pub fn listener(r: &impl Read, ctx: &Context, arn: &str) -> Result<ListenerRec, ApiError> {
    let not_found = || err(LISTENER_NOT_FOUND, format!("Listener '{arn}' not found"));
    let Some(ArnRef::Listener { lb_id, id }) = parse(ctx, arn, ArnKind::Listener)? else {
        return Err(not_found());
    };
    let rec: Option<ListenerRec> = get(r, &Keys::new(ctx).listener(&lb_id, &id))?;
    rec.filter(|l| l.listener.listener_arn == arn)
        .ok_or_else(not_found)
}

/// The rule `arn` names: `RuleNotFound` if none.
pub fn rule(r: &impl Read, ctx: &Context, arn: &str) -> Result<RuleRec, ApiError> {
    let not_found = || err(RULE_NOT_FOUND, format!("Rule '{arn}' not found"));
    let Some(ArnRef::Rule {
        listener_id, id, ..
    }) = parse(ctx, arn, ArnKind::Rule)?
    else {
        return Err(not_found());
    };
    let rec: Option<RuleRec> = get(r, &Keys::new(ctx).rule(&listener_id, &id))?;
    rec.filter(|x| x.rule.rule_arn == arn).ok_or_else(not_found)
}

/// At most one of the members given (`names` as the form names them).
pub fn at_most_one(given: &[(&str, bool)]) -> Result<(), ApiError> {
    let set: Vec<&str> = given.iter().filter(|(_, g)| *g).map(|(n, _)| *n).collect();
    if set.len() > 1 {
        return Err(validation(format!(
            "{} cannot be specified at the same time",
            set.join(" and ")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_elb_rules() {
        for ok in ["web", "a-b-1", "A2345678901234567890123456789012"] {
            check_name("Load balancer", ok).unwrap();
        }
        for (bad, says) in [
            ("", "between 1 and 32"),
            ("A23456789012345678901234567890123", "between 1 and 32"),
            ("a_b", "alphanumeric"),
            ("-ab", "begin or end"),
            ("ab-", "begin or end"),
        ] {
            let e = check_name("Target group", bad).unwrap_err();
            assert_eq!(e.code, "ValidationError");
            assert!(e.message.contains(says), "{bad}: {}", e.message);
        }
    }

    #[test]
    fn pages_follow_markers() {
        let items: Vec<(String, u32)> = (0..5).map(|i| (format!("k{i}"), i)).collect();
        let (p1, m1) = page(items.clone(), None, Some(2)).unwrap();
        assert_eq!(p1, [0, 1]);
        let (p2, m2) = page(items.clone(), m1.as_deref(), Some(2)).unwrap();
        assert_eq!(p2, [2, 3]);
        let (p3, m3) = page(items.clone(), m2.as_deref(), Some(2)).unwrap();
        assert_eq!((p3, m3), (vec![4], None));
        let (all, none) = page(items.clone(), None, None).unwrap();
        assert_eq!((all.len(), none), (5, None));
        assert_eq!(
            page(items.clone(), None, Some(0)).unwrap_err().code,
            "ValidationError"
        );
        assert_eq!(
            page(items, Some("!!"), None).unwrap_err().code,
            "ValidationError"
        );
    }
}
