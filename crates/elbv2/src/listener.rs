//! Listeners: CreateListener, DescribeListeners, ModifyListener, DeleteListener. A
//! listener's default actions are also its default rule (priority `default`), which
//! DescribeRules shows; both are written together.
//!
//! berth's listeners are HTTP: HTTPS (which needs ACM certificates) and the network
//! protocols are refused with `UnsupportedProtocol`.

use berth_awsproto::{ApiError, Context};
use berth_store::{Read, Writer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::actions::{normalize_actions, target_groups};
use crate::common::{at_most_one, check, listener, load_balancer, page, Check};
use crate::errors::{
    err, missing, required, unsupported, DUPLICATE_LISTENER, INVALID_CONFIGURATION_REQUEST,
    TOO_MANY_LISTENERS, UNSUPPORTED_PROTOCOL,
};
use crate::model::{Action, Listener, Protocol, Rule, Tag};
use crate::records::{
    all, delete, get, new_id, put, Keys, ListenerRec, LoadBalancerRec, RuleRec, TargetGroupRec,
    TargetGroupUse, ARN_SERVICE,
};
use crate::tags::{merge, Empty};

/// The most listeners a load balancer has.
const MAX_LISTENERS: usize = 50;

/// Records where the groups of a rule's actions are used: `old` out, `new` in.
pub fn set_uses_in(
    w: &mut Writer<'_>,
    keys: &Keys,
    lb: &LoadBalancerRec,
    listener_id: &str,
    rule_id: &str,
    old: &[Action],
    new: &[Action],
) -> Result<(), ApiError> {
    let tg_id = |w: &Writer<'_>, arn: &str| -> Result<Option<String>, ApiError> {
        let id = arn.rsplit('/').next().unwrap_or_default();
        let rec: Option<TargetGroupRec> = get(w, &keys.tg(id))?;
        Ok(rec.map(|r| r.id))
    };
    for arn in target_groups(old) {
        if let Some(id) = tg_id(w, &arn)? {
            delete(w, &keys.tg_use(&id, rule_id))?;
        }
    }
    let used = TargetGroupUse {
        load_balancer_arn: lb.load_balancer.load_balancer_arn.clone(),
        lb_id: lb.id.clone(),
        listener_id: listener_id.to_string(),
    };
    for arn in target_groups(new) {
        if let Some(id) = tg_id(w, &arn)? {
            put(w, &keys.tg_use(&id, rule_id), &used)?;
        }
    }
    Ok(())
}

/// Deletes a listener, its rules and where they use groups.
pub fn remove_in(w: &mut Writer<'_>, keys: &Keys, l: &ListenerRec) -> Result<(), ApiError> {
    for r in all::<RuleRec>(w, &keys.rules_of(&l.id))? {
        for arn in target_groups(&r.rule.actions) {
            let id = arn.rsplit('/').next().unwrap_or_default();
            delete(w, &keys.tg_use(id, &r.id))?;
        }
        delete(w, &keys.rule(&l.id, &r.id))?;
    }
    delete(w, &keys.listener(&l.lb_id, &l.id))
}

fn check_protocol(protocol: Option<Protocol>) -> Result<(), ApiError> {
    match protocol {
        None => Err(missing("Protocol")),
        Some(Protocol::Http) => Ok(()),
        Some(Protocol::Https) => Err(unsupported(UNSUPPORTED_PROTOCOL, "HTTPS listeners (they need ACM certificates)")),
        Some(p) => Err(err(UNSUPPORTED_PROTOCOL, format!(
            "Protocol '{p}' is not supported for application load balancers; berth supports HTTP listeners"
        ))),
    }
}

/// What only HTTPS listeners take.
fn refuse_tls(given: &[(&str, bool)]) -> Result<(), ApiError> {
    match given.iter().find(|(_, set)| *set) {
        Some((name, _)) => Err(err(
            INVALID_CONFIGURATION_REQUEST,
            format!(
                "{name} can be specified only for HTTPS listeners, which berth does not support"
            ),
        )),
        None => Ok(()),
    }
}

fn port_free(
    r: &impl Read,
    keys: &Keys,
    lb: &LoadBalancerRec,
    port: u16,
    except: Option<&str>,
) -> Result<(), ApiError> {
    let taken = all::<ListenerRec>(r, &keys.listeners_of(&lb.id))?
        .iter()
        .any(|l| l.listener.port == port && Some(l.id.as_str()) != except);
    if taken {
        return Err(err(
            DUPLICATE_LISTENER,
            format!(
                "A listener already exists on port {port} of load balancer '{}'",
                lb.load_balancer.load_balancer_arn
            ),
        ));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateListenerIn {
    load_balancer_arn: Option<String>,
    protocol: Option<Protocol>,
    port: Option<i64>,
    ssl_policy: Option<String>,
    certificates: Option<Vec<Value>>,
    default_actions: Option<Vec<Action>>,
    alpn_policy: Option<Vec<String>>,
    tags: Option<Vec<Tag>>,
    mutual_authentication: Option<Value>,
}

const CREATE: &[Check<CreateListenerIn>] = &[
    Check::Required("LoadBalancerArn", |i| i.load_balancer_arn.is_some()),
    Check::Required("DefaultActions", |i| i.default_actions.is_some()),
    Check::Named(|i| check_protocol(i.protocol)),
    Check::Required("Port", |i| i.port.is_some()),
    Check::Range("Port", |i| i.port, 1, 65535),
    Check::Named(|i| {
        refuse_tls(&[
            ("SslPolicy", i.ssl_policy.is_some()),
            ("Certificates", i.certificates.is_some()),
            ("AlpnPolicy", i.alpn_policy.is_some()),
            ("MutualAuthentication", i.mutual_authentication.is_some()),
        ])
    }),
];

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListenersOut {
    listeners: Vec<Listener>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
}

pub fn create(
    w: &mut Writer<'_>,
    ctx: &Context,
    i: CreateListenerIn,
) -> Result<ListenersOut, ApiError> {
    check(CREATE, &i)?;
    let lb = load_balancer(w, ctx, i.load_balancer_arn.as_deref().unwrap_or_default())?;
    let keys = Keys::new(ctx);
    let port = i.port.unwrap_or_default() as u16;
    port_free(w, &keys, &lb, port, None)?;
    if w.count(&keys.listeners_of(&lb.id))? as usize >= MAX_LISTENERS {
        return Err(err(
            TOO_MANY_LISTENERS,
            format!("A load balancer can have at most {MAX_LISTENERS} listeners"),
        ));
    }
    let actions = normalize_actions(
        w,
        ctx,
        &lb,
        i.default_actions.as_deref().unwrap_or_default(),
        "DefaultActions",
    )?;
    let tags = merge(&[], i.tags.as_deref().unwrap_or_default())?;
    let (id, rule_id) = (new_id(), new_id());
    let lb_path = format!("app/{}/{}", lb.load_balancer.load_balancer_name, lb.id);
    let rec = ListenerRec {
        listener: Listener {
            listener_arn: ctx.arn(ARN_SERVICE, &format!("listener/{lb_path}/{id}")),
            load_balancer_arn: lb.load_balancer.load_balancer_arn.clone(),
            port,
            protocol: Protocol::Http,
            default_actions: actions.clone(),
        },
        lb_id: lb.id.clone(),
        id: id.clone(),
        default_rule_id: rule_id.clone(),
        tags,
    };
    let default_rule = RuleRec {
        rule: Rule {
            rule_arn: ctx.arn(
                ARN_SERVICE,
                &format!("listener-rule/{lb_path}/{id}/{rule_id}"),
            ),
            priority: "default".to_string(),
            conditions: Vec::new(),
            actions: actions.clone(),
            is_default: true,
        },
        lb_id: lb.id.clone(),
        listener_id: id.clone(),
        id: rule_id.clone(),
        tags: Vec::new(),
    };
    put(w, &keys.listener(&lb.id, &id), &rec)?;
    put(w, &keys.rule(&id, &rule_id), &default_rule)?;
    set_uses_in(w, &keys, &lb, &id, &rule_id, &[], &actions)?;
    Ok(ListenersOut {
        listeners: vec![rec.listener],
        next_marker: None,
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DescribeListenersIn {
    load_balancer_arn: Option<String>,
    listener_arns: Option<Vec<String>>,
    marker: Option<String>,
    page_size: Option<i64>,
}

pub fn describe(
    r: &impl Read,
    ctx: &Context,
    i: DescribeListenersIn,
) -> Result<ListenersOut, ApiError> {
    at_most_one(&[
        ("LoadBalancerArn", i.load_balancer_arn.is_some()),
        ("ListenerArns", i.listener_arns.is_some()),
    ])?;
    let found: Vec<ListenerRec> = match (&i.load_balancer_arn, &i.listener_arns) {
        (Some(arn), _) => {
            let lb = load_balancer(r, ctx, arn)?;
            all(r, &Keys::new(ctx).listeners_of(&lb.id))?
        }
        (None, Some(arns)) => arns
            .iter()
            .map(|a| listener(r, ctx, a))
            .collect::<Result<_, _>>()?,
        (None, None) => {
            return Err(crate::errors::validation(
                "You must specify either a load balancer ARN or listener ARNs",
            ))
        }
    };
    let items = found
        .into_iter()
        .map(|l| {
            (
                format!("{}/{:05}/{}", l.lb_id, l.listener.port, l.id),
                l.listener,
            )
        })
        .collect();
    let (listeners, next_marker) = page(items, i.marker.as_deref(), i.page_size)?;
    Ok(ListenersOut {
        listeners,
        next_marker,
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ModifyListenerIn {
    listener_arn: Option<String>,
    port: Option<i64>,
    protocol: Option<Protocol>,
    ssl_policy: Option<String>,
    certificates: Option<Vec<Value>>,
    default_actions: Option<Vec<Action>>,
    alpn_policy: Option<Vec<String>>,
    mutual_authentication: Option<Value>,
}

const MODIFY: &[Check<ModifyListenerIn>] = &[
    Check::Required("ListenerArn", |i| i.listener_arn.is_some()),
    Check::Range("Port", |i| i.port, 1, 65535),
    Check::Named(|i| i.protocol.map_or(Ok(()), |p| check_protocol(Some(p)))),
    Check::Named(|i| {
        refuse_tls(&[
            ("SslPolicy", i.ssl_policy.is_some()),
            ("Certificates", i.certificates.is_some()),
            ("AlpnPolicy", i.alpn_policy.is_some()),
            ("MutualAuthentication", i.mutual_authentication.is_some()),
        ])
    }),
];

/// Sets a listener's default actions and its default rule's, and where they use groups.
pub fn set_default_actions_in(
    w: &mut Writer<'_>,
    keys: &Keys,
    lb: &LoadBalancerRec,
    l: &mut ListenerRec,
    actions: Vec<Action>,
) -> Result<(), ApiError> {
    let mut rule: RuleRec = get(w, &keys.rule(&l.id, &l.default_rule_id))?
        .ok_or_else(|| ApiError::internal(format!("listener {} has no default rule", l.id)))?;
    set_uses_in(w, keys, lb, &l.id, &rule.id, &rule.rule.actions, &actions)?;
    rule.rule.actions = actions.clone();
    l.listener.default_actions = actions;
    put(w, &keys.rule(&l.id, &rule.id), &rule)?;
    put(w, &keys.listener(&l.lb_id, &l.id), l)
}

pub fn modify(
    w: &mut Writer<'_>,
    ctx: &Context,
    i: ModifyListenerIn,
) -> Result<ListenersOut, ApiError> {
    check(MODIFY, &i)?;
    let mut l = listener(w, ctx, i.listener_arn.as_deref().unwrap_or_default())?;
    let lb = load_balancer(w, ctx, &l.listener.load_balancer_arn)?;
    let keys = Keys::new(ctx);
    if let Some(port) = i.port {
        port_free(w, &keys, &lb, port as u16, Some(&l.id))?;
        l.listener.port = port as u16;
    }
    let actions = match &i.default_actions {
        Some(a) => normalize_actions(w, ctx, &lb, a, "DefaultActions")?,
        None => l.listener.default_actions.clone(),
    };
    set_default_actions_in(w, &keys, &lb, &mut l, actions)?;
    Ok(ListenersOut {
        listeners: vec![l.listener],
        next_marker: None,
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ListenerArnIn {
    listener_arn: Option<String>,
}

pub fn delete_op(w: &mut Writer<'_>, ctx: &Context, i: ListenerArnIn) -> Result<Empty, ApiError> {
    let l = listener(w, ctx, required(&i.listener_arn, "ListenerArn")?)?;
    remove_in(w, &Keys::new(ctx), &l)?;
    Ok(Empty {})
}
