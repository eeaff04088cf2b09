//! Actions and conditions of listeners and rules: checked and written as ELB shows
//! them (a forward to one group also shows its `ForwardConfig`; a redirect shows every
//! component; host and path conditions show both `Values` and their config).
//!
//! berth runs forward (weighted groups, group stickiness), redirect and fixed-response
//! actions, and path-pattern, host-header, http-header and query-string conditions;
//! authentication actions and other conditions are refused by name.

use berth_awsproto::{ApiError, Context};
use berth_store::Read;

use crate::common::find_target_group;
use crate::errors::{
    err, missing, required, unsupported, validation, INVALID_LOAD_BALANCER_ACTION,
    TARGET_GROUP_ASSOCIATION_LIMIT, TARGET_GROUP_NOT_FOUND,
};
use crate::model::{
    Action, ActionType, FixedResponseConfig, ForwardConfig, GroupStickiness, HttpHeaderConfig,
    KeyValue, QueryStringConfig, RedirectConfig, RuleCondition, TargetGroupTuple, ValuesConfig,
};
use crate::records::{Keys, LoadBalancerRec};
use crate::targetgroup::load_balancer_arns;

/// The most target groups one forward action names.
pub const MAX_FORWARD_GROUPS: usize = 5;
/// The most condition values a rule has, in all its conditions.
pub const MAX_CONDITION_VALUES: usize = 5;
/// The content types of a fixed response.
const CONTENT_TYPES: &[&str] = &[
    "text/plain",
    "text/css",
    "text/html",
    "application/javascript",
    "application/json",
];

/// The target groups an action list forwards to.
pub fn target_groups(actions: &[Action]) -> Vec<String> {
    let mut out: Vec<String> = actions
        .iter()
        .filter_map(|a| a.forward_config.as_ref())
        .flat_map(|f| {
            f.target_groups
                .iter()
                .filter_map(|t| t.target_group_arn.clone())
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Checks `actions` (`field`: `DefaultActions` or `Actions`) of a rule or listener of
/// `lb`, and writes them as ELB shows them.
pub fn normalize_actions(
    r: &impl Read,
    ctx: &Context,
    lb: &LoadBalancerRec,
    actions: &[Action],
    field: &str,
) -> Result<Vec<Action>, ApiError> {
    if actions.is_empty() {
        return Err(missing(field));
    }
    for (i, a) in actions.iter().enumerate() {
        let kind = required(&a.kind, &format!("{field}.member.{}.Type", i + 1))?;
        if matches!(
            kind,
            ActionType::AuthenticateOidc
                | ActionType::AuthenticateCognito
                | ActionType::JwtValidation
        ) {
            return Err(unsupported(
                INVALID_LOAD_BALANCER_ACTION,
                &format!("{kind} actions (they need HTTPS listeners)"),
            ));
        }
    }
    if actions.len() > 1 {
        return Err(err(
            INVALID_LOAD_BALANCER_ACTION,
            "A rule or listener can have only one forward, redirect or fixed-response action",
        ));
    }
    let a = &actions[0];
    let at = format!("{field}.member.1");
    if let Some(o) = a.order.filter(|o| !(1..=50_000).contains(o)) {
        return Err(validation(format!(
            "{at}.Order '{o}' must be between 1 and 50000"
        )));
    }
    check_configs_fit(a, &at)?;
    let mut out = match a.kind {
        Some(ActionType::Forward) => forward(r, ctx, lb, a, &at)?,
        Some(ActionType::Redirect) => redirect(
            required(&a.redirect_config, &format!("{at}.RedirectConfig"))?,
            &at,
        )?,
        _ => fixed_response(
            required(
                &a.fixed_response_config,
                &format!("{at}.FixedResponseConfig"),
            )?,
            &at,
        )?,
    };
    out.order = a.order;
    Ok(vec![out])
}

/// Each config only with its own type.
fn check_configs_fit(a: &Action, at: &str) -> Result<(), ApiError> {
    let kind = a.kind.unwrap_or(ActionType::Forward);
    let given = [
        (
            "TargetGroupArn",
            a.target_group_arn.is_some(),
            ActionType::Forward,
        ),
        (
            "ForwardConfig",
            a.forward_config.is_some(),
            ActionType::Forward,
        ),
        (
            "RedirectConfig",
            a.redirect_config.is_some(),
            ActionType::Redirect,
        ),
        (
            "FixedResponseConfig",
            a.fixed_response_config.is_some(),
            ActionType::FixedResponse,
        ),
        (
            "AuthenticateOidcConfig",
            a.authenticate_oidc_config.is_some(),
            ActionType::AuthenticateOidc,
        ),
        (
            "AuthenticateCognitoConfig",
            a.authenticate_cognito_config.is_some(),
            ActionType::AuthenticateCognito,
        ),
        (
            "JwtValidationConfig",
            a.jwt_validation_config.is_some(),
            ActionType::JwtValidation,
        ),
    ];
    for (name, set, owner) in given {
        if set && owner != kind {
            return Err(validation(format!(
                "{at}.{name} can be specified only for {owner} actions, not {kind}"
            )));
        }
    }
    Ok(())
}

/// A forward action's groups: each exists and is used by no other load balancer.
fn forward(
    r: &impl Read,
    ctx: &Context,
    lb: &LoadBalancerRec,
    a: &Action,
    at: &str,
) -> Result<Action, ApiError> {
    let mut tuples: Vec<TargetGroupTuple> = a
        .forward_config
        .as_ref()
        .map(|f| f.target_groups.clone())
        .unwrap_or_default();
    match (&a.target_group_arn, tuples.len()) {
        (None, 0) => return Err(validation(format!("{at}: a forward action must specify TargetGroupArn or ForwardConfig.TargetGroups"))),
        (Some(arn), 0) => tuples.push(TargetGroupTuple { target_group_arn: Some(arn.clone()), weight: None }),
        (Some(arn), 1) if tuples[0].target_group_arn.as_ref() == Some(arn) => {}
        (Some(_), _) => return Err(validation(format!(
            "{at}: with both TargetGroupArn and ForwardConfig, ForwardConfig must name that one target group only"
        ))),
        (None, _) => {}
    }
    if tuples.len() > MAX_FORWARD_GROUPS {
        return Err(validation(format!(
            "{at}.ForwardConfig can name at most {MAX_FORWARD_GROUPS} target groups"
        )));
    }
    let keys = Keys::new(ctx);
    let mut seen: Vec<String> = Vec::new();
    for (n, t) in tuples.iter_mut().enumerate() {
        let tat = format!("{at}.ForwardConfig.TargetGroups.member.{}", n + 1);
        let arn = required(&t.target_group_arn, &format!("{tat}.TargetGroupArn"))?.clone();
        let weight = t.weight.unwrap_or(1);
        if !(0..=999).contains(&weight) {
            return Err(validation(format!(
                "{tat}.Weight '{weight}' must be between 0 and 999"
            )));
        }
        t.weight = Some(weight);
        if seen.contains(&arn) {
            return Err(validation(format!(
                "{at}: target group '{arn}' is named more than once"
            )));
        }
        let tg = find_target_group(r, ctx, &arn)?.ok_or_else(|| {
            err(
                TARGET_GROUP_NOT_FOUND,
                format!("Target group '{arn}' not found"),
            )
        })?;
        let users = load_balancer_arns(r, &keys, &tg.id)?;
        if users
            .iter()
            .any(|u| *u != lb.load_balancer.load_balancer_arn)
        {
            return Err(err(TARGET_GROUP_ASSOCIATION_LIMIT, format!(
                "The following target groups cannot be associated with more than one load balancer: {arn}"
            )));
        }
        seen.push(arn);
    }
    let stickiness = stickiness(
        a.forward_config
            .as_ref()
            .and_then(|f| f.target_group_stickiness_config.as_ref()),
        at,
    )?;
    Ok(Action {
        kind: Some(ActionType::Forward),
        target_group_arn: (tuples.len() == 1).then(|| seen[0].clone()),
        order: None,
        forward_config: Some(ForwardConfig {
            target_groups: tuples,
            target_group_stickiness_config: Some(stickiness),
        }),
        redirect_config: None,
        fixed_response_config: None,
        authenticate_oidc_config: None,
        authenticate_cognito_config: None,
        jwt_validation_config: None,
    })
}

fn stickiness(s: Option<&GroupStickiness>, at: &str) -> Result<GroupStickiness, ApiError> {
    let enabled = s.and_then(|s| s.enabled).unwrap_or(false);
    let duration = s.and_then(|s| s.duration_seconds);
    let field = format!("{at}.ForwardConfig.TargetGroupStickinessConfig.DurationSeconds");
    match (enabled, duration) {
        (true, None) => Err(validation(format!(
            "{field} must be specified when stickiness is enabled"
        ))),
        (_, Some(d)) if !(1..=604_800).contains(&d) => Err(validation(format!(
            "{field} '{d}' must be between 1 and 604800"
        ))),
        (true, _) => Err(unsupported(
            INVALID_LOAD_BALANCER_ACTION,
            &format!("target group stickiness ({at}.ForwardConfig.TargetGroupStickinessConfig.Enabled true): its load balancers would not honour it"),
        )),
        (false, _) => Ok(GroupStickiness {
            enabled: Some(false),
            duration_seconds: None,
        }),
    }
}

fn empty_action(kind: ActionType) -> Action {
    Action {
        kind: Some(kind),
        target_group_arn: None,
        order: None,
        forward_config: None,
        redirect_config: None,
        fixed_response_config: None,
        authenticate_oidc_config: None,
        authenticate_cognito_config: None,
        jwt_validation_config: None,
    }
}

/// A redirect's components, each checked, the unchanged ones shown as `#{...}`.
fn redirect(c: &RedirectConfig, at: &str) -> Result<Action, ApiError> {
    let f = |m: &str| format!("{at}.RedirectConfig.{m}");
    let status = *required(&c.status_code, &f("StatusCode"))?;
    let protocol = c.protocol.clone().unwrap_or_else(|| "#{protocol}".into());
    if !["HTTP", "HTTPS", "#{protocol}"].contains(&protocol.as_str()) {
        return Err(validation(format!(
            "{} '{protocol}' must be HTTP, HTTPS or #{{protocol}}",
            f("Protocol")
        )));
    }
    let port = c.port.clone().unwrap_or_else(|| "#{port}".into());
    if port != "#{port}" && !port.parse::<u16>().is_ok_and(|p| p >= 1) {
        return Err(validation(format!(
            "{} '{port}' must be a port from 1 to 65535 or #{{port}}",
            f("Port")
        )));
    }
    let host = c.host.clone().unwrap_or_else(|| "#{host}".into());
    let path = c.path.clone().unwrap_or_else(|| "/#{path}".into());
    let query = c.query.clone().unwrap_or_else(|| "#{query}".into());
    for (name, v, min) in [("Host", &host, 1), ("Path", &path, 1), ("Query", &query, 0)] {
        if !(min..=128).contains(&v.chars().count()) {
            return Err(validation(format!(
                "{} must be between {min} and 128 characters long",
                f(name)
            )));
        }
    }
    if !path.starts_with('/') {
        return Err(validation(format!(
            "{} '{path}' must start with '/'",
            f("Path")
        )));
    }
    if protocol == "#{protocol}" && port == "#{port}" && host == "#{host}" && path == "/#{path}" {
        return Err(err(INVALID_LOAD_BALANCER_ACTION, format!(
            "{at}: a redirect must change at least one of protocol, port, host or path, to avoid a redirect loop"
        )));
    }
    let mut a = empty_action(ActionType::Redirect);
    a.redirect_config = Some(RedirectConfig {
        protocol: Some(protocol),
        port: Some(port),
        host: Some(host),
        path: Some(path),
        query: Some(query),
        status_code: Some(status),
    });
    Ok(a)
}

/// A fixed response: a 2XX, 4XX or 5XX code, a body of at most 1024 characters, one
/// of ELB's content types.
fn fixed_response(c: &FixedResponseConfig, at: &str) -> Result<Action, ApiError> {
    let f = |m: &str| format!("{at}.FixedResponseConfig.{m}");
    let code = required(&c.status_code, &f("StatusCode"))?;
    let b = code.as_bytes();
    if b.len() != 3 || !matches!(b[0], b'2' | b'4' | b'5') || !b.iter().all(u8::is_ascii_digit) {
        return Err(validation(format!(
            "{} '{code}' must be a 2XX, 4XX or 5XX code",
            f("StatusCode")
        )));
    }
    if c.message_body
        .as_ref()
        .is_some_and(|m| m.chars().count() > 1024)
    {
        return Err(validation(format!(
            "{} can be at most 1024 characters long",
            f("MessageBody")
        )));
    }
    if let Some(t) = c
        .content_type
        .as_deref()
        .filter(|t| !CONTENT_TYPES.contains(t))
    {
        return Err(validation(format!(
            "{} '{t}' must be one of {}",
            f("ContentType"),
            CONTENT_TYPES.join(", ")
        )));
    }
    let mut a = empty_action(ActionType::FixedResponse);
    a.fixed_response_config = Some(c.clone());
    Ok(a)
}

/// The condition fields berth runs.
const PATH: &str = "path-pattern";
const HOST: &str = "host-header";
const HEADER: &str = "http-header";
const QUERY: &str = "query-string";

fn host_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-.*?".contains(c)
}

fn path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_-.$/~\"'@:+&*?".contains(c)
}

fn check_values(values: &[String], allowed: fn(char) -> bool, at: &str) -> Result<(), ApiError> {
    if values.is_empty() {
        return Err(validation(format!(
            "{at}: a condition needs at least one value"
        )));
    }
    for v in values {
        if v.is_empty() || v.chars().count() > 128 || !v.chars().all(allowed) {
            return Err(validation(format!(
                "{at}: condition value '{v}' must be 1 to 128 allowed characters"
            )));
        }
    }
    Ok(())
}

/// The values of a host or path condition, from `Values` or its config (the same
/// when both, as ELB shows them).
fn values_of(
    c: &RuleCondition,
    config: Option<&ValuesConfig>,
    at: &str,
) -> Result<Vec<String>, ApiError> {
    let top = c.values.clone().filter(|v| !v.is_empty());
    let inner = config.map(|x| x.values.clone()).filter(|v| !v.is_empty());
    match (top, inner) {
        (Some(a), Some(b)) if a != b => Err(validation(format!(
            "{at}: specify Values or the condition's config, not both"
        ))),
        (Some(v), _) | (None, Some(v)) => Ok(v),
        (None, None) => Err(validation(format!(
            "{at}: a condition needs at least one value"
        ))),
    }
}

fn refuse_unsupported_condition(c: &RuleCondition, field: &str, at: &str) -> Result<(), ApiError> {
    let code = crate::errors::VALIDATION_ERROR;
    if matches!(field, "http-request-method" | "source-ip")
        || c.http_request_method_config.is_some()
        || c.source_ip_config.is_some()
    {
        return Err(unsupported(code, &format!("{field} conditions ({at})")));
    }
    let regex = c.regex_values.is_some()
        || [&c.host_header_config, &c.path_pattern_config]
            .iter()
            .any(|x| x.as_ref().is_some_and(|x| x.regex_values.is_some()))
        || c.http_header_config
            .as_ref()
            .is_some_and(|x| x.regex_values.is_some());
    if regex {
        return Err(unsupported(
            code,
            &format!("regular expression conditions ({at})"),
        ));
    }
    Ok(())
}

/// One condition, checked and written as ELB shows it; how many values it has.
fn condition(c: &RuleCondition, at: &str) -> Result<(RuleCondition, usize), ApiError> {
    let field = required(&c.field, &format!("{at}.Field"))?.as_str();
    refuse_unsupported_condition(c, field, at)?;
    let configs = [
        (HOST, c.host_header_config.is_some()),
        (PATH, c.path_pattern_config.is_some()),
        (HEADER, c.http_header_config.is_some()),
        (QUERY, c.query_string_config.is_some()),
    ];
    if let Some((owner, _)) = configs.iter().find(|(owner, set)| *set && *owner != field) {
        return Err(validation(format!(
            "{at}: the config of a {owner} condition cannot be given to a {field} condition"
        )));
    }
    let blank = RuleCondition {
        field: Some(field.to_string()),
        values: None,
        host_header_config: None,
        path_pattern_config: None,
        http_header_config: None,
        query_string_config: None,
        http_request_method_config: None,
        source_ip_config: None,
        regex_values: None,
    };
    match field {
        HOST | PATH => {
            let (config, allowed) = if field == HOST {
                (c.host_header_config.as_ref(), host_char as fn(char) -> bool)
            } else {
                (
                    c.path_pattern_config.as_ref(),
                    path_char as fn(char) -> bool,
                )
            };
            let values = values_of(c, config, at)?;
            check_values(&values, allowed, at)?;
            let n = values.len();
            let shown = ValuesConfig {
                values: values.clone(),
                regex_values: None,
            };
            let mut out = RuleCondition {
                values: Some(values),
                ..blank
            };
            if field == HOST {
                out.host_header_config = Some(shown);
            } else {
                out.path_pattern_config = Some(shown);
            }
            Ok((out, n))
        }
        HEADER => header_condition(c, blank, at),
        QUERY => query_condition(c, blank, at),
        other => Err(validation(format!(
            "{at}.Field '{other}' must be one of {PATH}, {HOST}, {HEADER}, {QUERY}"
        ))),
    }
}

fn header_condition(
    c: &RuleCondition,
    blank: RuleCondition,
    at: &str,
) -> Result<(RuleCondition, usize), ApiError> {
    if c.values.is_some() {
        return Err(validation(format!(
            "{at}: an http-header condition takes its values in HttpHeaderConfig"
        )));
    }
    let h = required(&c.http_header_config, &format!("{at}.HttpHeaderConfig"))?;
    let name = required(
        &h.http_header_name,
        &format!("{at}.HttpHeaderConfig.HttpHeaderName"),
    )?;
    let token = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if name.is_empty() || name.len() > 40 || !token {
        return Err(validation(format!("{at}.HttpHeaderConfig.HttpHeaderName '{name}' must be a header name of 1 to 40 characters")));
    }
    check_values(&h.values, |c| !c.is_control(), at)?;
    let n = h.values.len();
    let shown = HttpHeaderConfig {
        http_header_name: Some(name.clone()),
        values: h.values.clone(),
        regex_values: None,
    };
    Ok((
        RuleCondition {
            http_header_config: Some(shown),
            ..blank
        },
        n,
    ))
}

fn query_condition(
    c: &RuleCondition,
    blank: RuleCondition,
    at: &str,
) -> Result<(RuleCondition, usize), ApiError> {
    if c.values.is_some() {
        return Err(validation(format!(
            "{at}: a query-string condition takes its values in QueryStringConfig"
        )));
    }
    let q = required(&c.query_string_config, &format!("{at}.QueryStringConfig"))?;
    if q.values.is_empty() {
        return Err(validation(format!(
            "{at}: a condition needs at least one value"
        )));
    }
    let mut pairs = Vec::new();
    for (i, kv) in q.values.iter().enumerate() {
        let value = required(
            &kv.value,
            &format!("{at}.QueryStringConfig.Values.member.{}.Value", i + 1),
        )?;
        let fits = |s: &str| {
            !s.is_empty() && s.chars().count() <= 128 && !s.chars().any(|c| c.is_control())
        };
        if !fits(value) || kv.key.as_deref().is_some_and(|k| !fits(k)) {
            return Err(validation(format!(
                "{at}: query string keys and values must be 1 to 128 characters"
            )));
        }
        pairs.push(KeyValue {
            key: kv.key.clone(),
            value: Some(value.clone()),
        });
    }
    let n = pairs.len();
    Ok((
        RuleCondition {
            query_string_config: Some(QueryStringConfig { values: pairs }),
            ..blank
        },
        n,
    ))
}

/// A rule's conditions: at least one, at most one host-header and one path-pattern,
/// at most [`MAX_CONDITION_VALUES`] values in all.
pub fn normalize_conditions(conditions: &[RuleCondition]) -> Result<Vec<RuleCondition>, ApiError> {
    if conditions.is_empty() {
        return Err(validation("A rule must have at least one condition"));
    }
    let mut out = Vec::new();
    let mut total = 0;
    for (i, c) in conditions.iter().enumerate() {
        let (c, n) = condition(c, &format!("Conditions.member.{}", i + 1))?;
        let field = c.field.clone().unwrap_or_default();
        if (field == HOST || field == PATH)
            && out
                .iter()
                .any(|o: &RuleCondition| o.field.as_deref() == Some(field.as_str()))
        {
            return Err(validation(format!(
                "A rule can have only one '{field}' condition"
            )));
        }
        total += n;
        out.push(c);
    }
    if total > MAX_CONDITION_VALUES {
        return Err(validation(format!(
            "A rule can only have '{MAX_CONDITION_VALUES}' condition values, and this one has '{total}'"
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(field: &str) -> RuleCondition {
        RuleCondition {
            field: Some(field.into()),
            values: None,
            host_header_config: None,
            path_pattern_config: None,
            http_header_config: None,
            query_string_config: None,
            http_request_method_config: None,
            source_ip_config: None,
            regex_values: None,
        }
    }

    fn vals(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn conditions_are_checked_and_shown_as_elb_shows_them() {
        let path = RuleCondition {
            values: Some(vals(&["/img/*"])),
            ..cond("path-pattern")
        };
        let got = normalize_conditions(&[path]).unwrap();
        assert_eq!(got[0].values, Some(vals(&["/img/*"])));
        assert_eq!(
            got[0].path_pattern_config.as_ref().unwrap().values,
            vals(&["/img/*"])
        );
        let host = RuleCondition {
            host_header_config: Some(ValuesConfig {
                values: vals(&["*.example.com"]),
                regex_values: None,
            }),
            ..cond("host-header")
        };
        let header = RuleCondition {
            http_header_config: Some(HttpHeaderConfig {
                http_header_name: Some("X-Env".into()),
                values: vals(&["blue"]),
                regex_values: None,
            }),
            ..cond("http-header")
        };
        let query = RuleCondition {
            query_string_config: Some(QueryStringConfig {
                values: vec![KeyValue {
                    key: Some("v".into()),
                    value: Some("2".into()),
                }],
            }),
            ..cond("query-string")
        };
        let got = normalize_conditions(&[host.clone(), header.clone(), query.clone()]).unwrap();
        assert_eq!(got[0].values, Some(vals(&["*.example.com"])));
        assert_eq!(got.len(), 3);

        let six = RuleCondition {
            values: Some(vals(&["/a", "/b", "/c", "/d", "/e", "/f"])),
            ..cond("path-pattern")
        };
        let two_paths = RuleCondition {
            values: Some(vals(&["/x"])),
            ..cond("path-pattern")
        };
        let cases: Vec<(Vec<RuleCondition>, &str)> = vec![
            (vec![], "at least one condition"),
            (vec![six], "'5' condition values"),
            (
                vec![two_paths.clone(), two_paths],
                "only one 'path-pattern'",
            ),
            (vec![cond("path-pattern")], "at least one value"),
            (vec![cond("source-ip")], "berth does not support source-ip"),
            (vec![cond("http-request-method")], "berth does not support"),
            (
                vec![RuleCondition {
                    regex_values: Some(vals(&["^/a"])),
                    ..cond("path-pattern")
                }],
                "regular expression",
            ),
            (
                vec![RuleCondition {
                    values: Some(vals(&["a b"])),
                    ..cond("host-header")
                }],
                "allowed characters",
            ),
            (
                vec![RuleCondition {
                    host_header_config: host.host_header_config.clone(),
                    ..cond("path-pattern")
                }],
                "cannot be given",
            ),
            (vec![cond("colour")], "must be one of"),
            (
                vec![RuleCondition {
                    field: None,
                    ..cond("x")
                }],
                "Conditions.member.1.Field",
            ),
            (
                vec![RuleCondition {
                    http_header_config: Some(HttpHeaderConfig {
                        http_header_name: Some("bad name".into()),
                        values: vals(&["x"]),
                        regex_values: None,
                    }),
                    ..cond("http-header")
                }],
                "header name",
            ),
            (
                vec![RuleCondition {
                    query_string_config: Some(QueryStringConfig {
                        values: vec![KeyValue {
                            key: None,
                            value: None,
                        }],
                    }),
                    ..cond("query-string")
                }],
                "Value",
            ),
        ];
        for (conds, says) in cases {
            let e = normalize_conditions(&conds).unwrap_err();
            assert_eq!(e.code, "ValidationError", "{says}");
            assert!(e.message.contains(says), "{says}: {}", e.message);
        }
    }

    #[test]
    fn redirects_and_fixed_responses_are_checked() {
        let r = |p: Option<&str>, path: Option<&str>| RedirectConfig {
            protocol: p.map(String::from),
            port: None,
            host: None,
            path: path.map(String::from),
            query: None,
            status_code: Some(crate::model::RedirectStatusCode::Http301),
        };
        let a = redirect(&r(Some("HTTPS"), None), "A").unwrap();
        let c = a.redirect_config.unwrap();
        assert_eq!(
            (c.port.as_deref(), c.host.as_deref(), c.path.as_deref()),
            (Some("#{port}"), Some("#{host}"), Some("/#{path}"))
        );
        assert_eq!(
            redirect(&r(None, None), "A").unwrap_err().code,
            "InvalidLoadBalancerAction"
        );
        assert_eq!(
            redirect(&r(Some("FTP"), None), "A").unwrap_err().code,
            "ValidationError"
        );
        assert_eq!(
            redirect(&r(None, Some("new")), "A").unwrap_err().code,
            "ValidationError"
        );
        let f = |code: &str, ct: Option<&str>| FixedResponseConfig {
            message_body: None,
            status_code: Some(code.into()),
            content_type: ct.map(String::from),
        };
        fixed_response(&f("503", Some("text/plain")), "A").unwrap();
        for bad in [
            f("302", None),
            f("20", None),
            f("2x0", None),
            f("200", Some("image/png")),
        ] {
            assert_eq!(
                fixed_response(&bad, "A").unwrap_err().code,
                "ValidationError",
                "{bad:?}"
            );
        }
    }
}
