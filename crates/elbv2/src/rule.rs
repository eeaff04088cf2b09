//! Listener rules: CreateRule, DescribeRules, ModifyRule, DeleteRule,
//! SetRulePriorities. Priorities are unique per listener; a load balancer has at most
//! 100 rules besides its listeners' default rules, which keep priority `default`.

use std::collections::BTreeMap;

use berth_awsproto::{ApiError, Context};
use berth_store::{Read, Writer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::actions::{normalize_actions, normalize_conditions};
use crate::common::{at_most_one, check, listener, load_balancer, page, rule, Check};
use crate::errors::{
    err, missing, required, unsupported, validation, OPERATION_NOT_PERMITTED, PRIORITY_IN_USE,
    TOO_MANY_RULES, VALIDATION_ERROR,
};
use crate::listener::{set_default_actions_in, set_uses_in};
use crate::model::{Action, Rule, RuleCondition, Tag};
use crate::records::{
    all, delete, get, new_id, put, Keys, ListenerRec, LoadBalancerRec, RuleRec, ARN_SERVICE,
};
use crate::tags::{merge, Empty};

/// The most rules a load balancer has, besides default rules.
pub const MAX_RULES: usize = 100;

/// How rules sort: by priority, the default rule last.
pub fn sort_key(r: &RuleRec) -> String {
    match r.priority() {
        Some(p) => format!("{}/{p:05}", r.listener_id),
        None => format!("{}/default", r.listener_id),
    }
}

fn priority_in_use(p: i64) -> ApiError {
    err(
        PRIORITY_IN_USE,
        format!("Priority '{p}' is currently in use"),
    )
}

/// The rules of one load balancer's listeners, besides default rules.
fn rule_count(r: &impl Read, keys: &Keys, lb_id: &str) -> Result<usize, ApiError> {
    let mut n = 0;
    for l in all::<ListenerRec>(r, &keys.listeners_of(lb_id))? {
        n += all::<RuleRec>(r, &keys.rules_of(&l.id))?
            .iter()
            .filter(|r| !r.rule.is_default)
            .count();
    }
    Ok(n)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateRuleIn {
    listener_arn: Option<String>,
    conditions: Option<Vec<RuleCondition>>,
    priority: Option<i64>,
    actions: Option<Vec<Action>>,
    tags: Option<Vec<Tag>>,
    transforms: Option<Vec<Value>>,
}

const CREATE: &[Check<CreateRuleIn>] = &[
    Check::Required("ListenerArn", |i| i.listener_arn.is_some()),
    Check::Required("Conditions", |i| i.conditions.is_some()),
    Check::Required("Priority", |i| i.priority.is_some()),
    Check::Required("Actions", |i| i.actions.is_some()),
    Check::Range("Priority", |i| i.priority, 1, 50_000),
    Check::Named(|i| match i.transforms {
        Some(_) => Err(unsupported(
            VALIDATION_ERROR,
            "rule transforms (host header and URL rewrites)",
        )),
        None => Ok(()),
    }),
];

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RulesOut {
    rules: Vec<Rule>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
}

pub fn create(w: &mut Writer<'_>, ctx: &Context, i: CreateRuleIn) -> Result<RulesOut, ApiError> {
    check(CREATE, &i)?;
    let l = listener(w, ctx, i.listener_arn.as_deref().unwrap_or_default())?;
    let lb = load_balancer(w, ctx, &l.listener.load_balancer_arn)?;
    let keys = Keys::new(ctx);
    let priority = i.priority.unwrap_or_default();
    let siblings: Vec<RuleRec> = all(w, &keys.rules_of(&l.id))?;
    if siblings
        .iter()
        .any(|r| r.priority() == Some(priority as u32))
    {
        return Err(priority_in_use(priority));
    }
    let conditions = normalize_conditions(i.conditions.as_deref().unwrap_or_default())?;
    let actions = normalize_actions(
        w,
        ctx,
        &lb,
        i.actions.as_deref().unwrap_or_default(),
        "Actions",
    )?;
    let tags = merge(&[], i.tags.as_deref().unwrap_or_default())?;
    if rule_count(w, &keys, &lb.id)? >= MAX_RULES {
        return Err(err(
            TOO_MANY_RULES,
            format!("A load balancer can have at most {MAX_RULES} rules"),
        ));
    }
    let id = new_id();
    let path = format!(
        "app/{}/{}/{}/{id}",
        lb.load_balancer.load_balancer_name, lb.id, l.id
    );
    let rec = RuleRec {
        rule: Rule {
            rule_arn: ctx.arn(ARN_SERVICE, &format!("listener-rule/{path}")),
            priority: priority.to_string(),
            conditions,
            actions: actions.clone(),
            is_default: false,
        },
        lb_id: lb.id.clone(),
        listener_id: l.id.clone(),
        id: id.clone(),
        tags,
    };
    put(w, &keys.rule(&l.id, &id), &rec)?;
    set_uses_in(w, &keys, &lb, &l.id, &id, &[], &actions)?;
    Ok(RulesOut {
        rules: vec![rec.rule],
        next_marker: None,
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DescribeRulesIn {
    listener_arn: Option<String>,
    rule_arns: Option<Vec<String>>,
    marker: Option<String>,
    page_size: Option<i64>,
}

pub fn describe(r: &impl Read, ctx: &Context, i: DescribeRulesIn) -> Result<RulesOut, ApiError> {
    at_most_one(&[
        ("ListenerArn", i.listener_arn.is_some()),
        ("RuleArns", i.rule_arns.is_some()),
    ])?;
    let found: Vec<RuleRec> = match (&i.listener_arn, &i.rule_arns) {
        (Some(arn), _) => all(r, &Keys::new(ctx).rules_of(&listener(r, ctx, arn)?.id))?,
        (None, Some(arns)) => arns
            .iter()
            .map(|a| rule(r, ctx, a))
            .collect::<Result<_, _>>()?,
        (None, None) => {
            return Err(validation(
                "You must specify either a listener ARN or rule ARNs",
            ))
        }
    };
    let items = found.into_iter().map(|r| (sort_key(&r), r.rule)).collect();
    let (rules, next_marker) = page(items, i.marker.as_deref(), i.page_size)?;
    Ok(RulesOut { rules, next_marker })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ModifyRuleIn {
    rule_arn: Option<String>,
    conditions: Option<Vec<RuleCondition>>,
    actions: Option<Vec<Action>>,
    transforms: Option<Vec<Value>>,
    reset_transforms: Option<bool>,
}

pub fn modify(w: &mut Writer<'_>, ctx: &Context, i: ModifyRuleIn) -> Result<RulesOut, ApiError> {
    let mut rec = rule(w, ctx, required(&i.rule_arn, "RuleArn")?)?;
    if i.transforms.is_some() || i.reset_transforms == Some(true) {
        return Err(unsupported(
            VALIDATION_ERROR,
            "rule transforms (host header and URL rewrites)",
        ));
    }
    let keys = Keys::new(ctx);
    let lb: LoadBalancerRec = get(w, &keys.lb(&rec.lb_id))?
        .ok_or_else(|| ApiError::internal("a rule without its load balancer"))?;
    if rec.rule.is_default && i.conditions.is_some() {
        return Err(err(
            OPERATION_NOT_PERMITTED,
            "The conditions of a default rule cannot be modified",
        ));
    }
    if let Some(c) = &i.conditions {
        rec.rule.conditions = normalize_conditions(c)?;
    }
    let actions = match &i.actions {
        Some(a) => normalize_actions(w, ctx, &lb, a, "Actions")?,
        None => rec.rule.actions.clone(),
    };
    if rec.rule.is_default {
        let mut l: ListenerRec = get(w, &keys.listener(&rec.lb_id, &rec.listener_id))?
            .ok_or_else(|| ApiError::internal("a default rule without its listener"))?;
        set_default_actions_in(w, &keys, &lb, &mut l, actions.clone())?;
    } else {
        set_uses_in(
            w,
            &keys,
            &lb,
            &rec.listener_id,
            &rec.id,
            &rec.rule.actions,
            &actions,
        )?;
    }
    rec.rule.actions = actions;
    put(w, &keys.rule(&rec.listener_id, &rec.id), &rec)?;
    Ok(RulesOut {
        rules: vec![rec.rule],
        next_marker: None,
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct RuleArnIn {
    rule_arn: Option<String>,
}

pub fn delete_op(w: &mut Writer<'_>, ctx: &Context, i: RuleArnIn) -> Result<Empty, ApiError> {
    let rec = rule(w, ctx, required(&i.rule_arn, "RuleArn")?)?;
    if rec.rule.is_default {
        return Err(err(
            OPERATION_NOT_PERMITTED,
            "A default rule cannot be deleted",
        ));
    }
    let keys = Keys::new(ctx);
    for arn in crate::actions::target_groups(&rec.rule.actions) {
        let id = arn.rsplit('/').next().unwrap_or_default();
        delete(w, &keys.tg_use(id, &rec.id))?;
    }
    delete(w, &keys.rule(&rec.listener_id, &rec.id))?;
    Ok(Empty {})
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PriorityPair {
    rule_arn: Option<String>,
    priority: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SetRulePrioritiesIn {
    rule_priorities: Option<Vec<PriorityPair>>,
}

/// The priorities each listener would have: `changes` applied over its rules, checked
/// for conflicts (pure).
pub fn plan_priorities(rules: &[RuleRec], changes: &[(String, i64)]) -> Result<(), ApiError> {
    let mut by_listener: BTreeMap<&str, BTreeMap<i64, &str>> = BTreeMap::new();
    for r in rules {
        let new = changes.iter().find(|(id, _)| *id == r.id).map(|(_, p)| *p);
        let Some(p) = new.or(r.priority().map(i64::from)) else {
            continue;
        };
        if by_listener
            .entry(&r.listener_id)
            .or_default()
            .insert(p, &r.id)
            .is_some()
        {
            return Err(priority_in_use(p));
        }
    }
    Ok(())
}

pub fn set_priorities(
    w: &mut Writer<'_>,
    ctx: &Context,
    i: SetRulePrioritiesIn,
) -> Result<RulesOut, ApiError> {
    let pairs = required(&i.rule_priorities, "RulePriorities")?;
    if pairs.is_empty() {
        return Err(missing("RulePriorities"));
    }
    let keys = Keys::new(ctx);
    let mut changes: Vec<(String, i64)> = Vec::new();
    let mut changed: Vec<RuleRec> = Vec::new();
    for (n, p) in pairs.iter().enumerate() {
        let at = format!("RulePriorities.member.{}", n + 1);
        let rec = rule(w, ctx, required(&p.rule_arn, &format!("{at}.RuleArn"))?)?;
        let priority = *required(&p.priority, &format!("{at}.Priority"))?;
        if !(1..=50_000).contains(&priority) {
            return Err(validation(format!(
                "{at}.Priority '{priority}' must be between 1 and 50000"
            )));
        }
        if rec.rule.is_default {
            return Err(err(
                OPERATION_NOT_PERMITTED,
                "The priority of a default rule cannot be changed",
            ));
        }
        if changes.iter().any(|(id, _)| *id == rec.id) {
            return Err(validation(format!(
                "{at}: rule '{}' is named more than once",
                rec.rule.rule_arn
            )));
        }
        changes.push((rec.id.clone(), priority));
        changed.push(rec);
    }
    let mut affected: Vec<RuleRec> = Vec::new();
    let mut listeners: Vec<String> = changed.iter().map(|r| r.listener_id.clone()).collect();
    listeners.sort();
    listeners.dedup();
    for l in &listeners {
        affected.extend(all::<RuleRec>(w, &keys.rules_of(l))?);
    }
    plan_priorities(&affected, &changes)?;
    let mut out = Vec::new();
    for (mut rec, (_, p)) in changed.into_iter().zip(changes) {
        rec.rule.priority = p.to_string();
        put(w, &keys.rule(&rec.listener_id, &rec.id), &rec)?;
        out.push(rec.rule);
    }
    Ok(RulesOut {
        rules: out,
        next_marker: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(listener: &str, id: &str, priority: &str) -> RuleRec {
        RuleRec {
            rule: Rule {
                rule_arn: format!("arn/{id}"),
                priority: priority.into(),
                conditions: Vec::new(),
                actions: Vec::new(),
                is_default: priority == "default",
            },
            lb_id: "lb".into(),
            listener_id: listener.into(),
            id: id.into(),
            tags: Vec::new(),
        }
    }

    #[test]
    fn priorities_conflict_only_within_a_listener() {
        let rules = [
            rec("l1", "a", "1"),
            rec("l1", "b", "2"),
            rec("l1", "d", "default"),
            rec("l2", "c", "1"),
        ];
        type Case<'a> = (&'a [(&'a str, i64)], Option<i64>);
        let cases: &[Case] = &[
            (&[("a", 3)], None),
            (&[("a", 2)], Some(2)),
            (&[("a", 2), ("b", 1)], None),
            (&[("c", 2)], None),
            (&[("a", 5), ("b", 5)], Some(5)),
        ];
        for (changes, conflict) in cases {
            let changes: Vec<(String, i64)> =
                changes.iter().map(|(id, p)| (id.to_string(), *p)).collect();
            match (plan_priorities(&rules, &changes), conflict) {
                (Ok(()), None) => {}
                (Err(e), Some(p)) => {
                    assert_eq!(e.code, "PriorityInUse");
                    assert!(e.message.contains(&format!("'{p}'")), "{}", e.message);
                }
                (got, want) => panic!("{changes:?}: got {got:?}, want conflict {want:?}"),
            }
        }
        let mut sorted: Vec<&RuleRec> = rules.iter().filter(|r| r.listener_id == "l1").collect();
        sorted.sort_by_key(|r| sort_key(r));
        assert_eq!(
            sorted.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
            ["a", "b", "d"]
        );
    }
}
