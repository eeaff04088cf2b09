//! Load balancer and target group attributes as tables: each key with how it reads
//! from and writes to the typed attributes. Keys berth honours take any valid value;
//! keys of features berth does not have take only the value that means "off" (so a
//! script that sets the defaults still runs) and refuse others by name.

use berth_awsproto::{wire_enum, ApiError};
use serde::{Deserialize, Serialize};

use crate::errors::{
    configuration, required, unsupported, validation, INVALID_CONFIGURATION_REQUEST,
};
use crate::model::Attribute;

/// How a key is written.
pub enum Setter<T> {
    /// Any value the function takes; its error says why a value is bad.
    Set(fn(&mut T, &str) -> Result<(), String>),
    /// Only the value the row reads: a feature berth does not have.
    Fixed,
}

/// One attribute key.
pub struct Row<T> {
    pub key: &'static str,
    pub get: fn(&T) -> String,
    pub set: Setter<T>,
}

fn number(v: &str, min: u32, max: u32) -> Result<u32, String> {
    v.parse::<u32>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| format!("must be an integer between '{min}' and '{max}'"))
}

fn flag(v: &str) -> Result<bool, String> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("must be 'true' or 'false'".into()),
    }
}

/// Applies `attrs` to `current` by `table`; the result, or the first error.
pub fn apply<T: Clone>(table: &[Row<T>], current: &T, attrs: &[Attribute]) -> Result<T, ApiError> {
    if attrs.is_empty() {
        return Err(validation("At least one attribute must be specified"));
    }
    if attrs.len() > 20 {
        return Err(validation("At most 20 attributes can be modified at once"));
    }
    let mut out = current.clone();
    for (i, a) in attrs.iter().enumerate() {
        let key = required(&a.key, &format!("Attributes.member.{}.Key", i + 1))?;
        let value = a.value.as_deref().unwrap_or("");
        let row = table
            .iter()
            .find(|r| r.key == key)
            .ok_or_else(|| validation(format!("Attribute key '{key}' is not recognized")))?;
        match &row.set {
            Setter::Set(set) => set(&mut out, value).map_err(|why| {
                configuration(format!(
                    "The value '{value}' of attribute '{key}' is not valid: it {why}"
                ))
            })?,
            Setter::Fixed if (row.get)(&out) == value => {}
            Setter::Fixed => {
                let fixed = (row.get)(&out);
                return Err(unsupported(
                    INVALID_CONFIGURATION_REQUEST,
                    &format!("attribute '{key}' with value '{value}' (only '{fixed}')"),
                ));
            }
        }
    }
    Ok(out)
}

/// Every attribute of `x`, in table order.
pub fn list<T>(table: &[Row<T>], x: &T) -> Vec<Attribute> {
    table
        .iter()
        .map(|r| Attribute::new(r.key, (r.get)(x)))
        .collect()
}

/// A load balancer's attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadBalancerAttributes {
    /// `idle_timeout.timeout_seconds`: 1 to 4000, 60 by default.
    pub idle_timeout_seconds: u32,
    /// `deletion_protection.enabled`: DeleteLoadBalancer is refused while set.
    pub deletion_protection: bool,
}

impl Default for LoadBalancerAttributes {
    fn default() -> Self {
        LoadBalancerAttributes {
            idle_timeout_seconds: 60,
            deletion_protection: false,
        }
    }
}

macro_rules! fixed {
    ($t:ty: $($key:literal => $value:literal,)*) => {
        [$(Row::<$t> { key: $key, get: |_| $value.to_string(), set: Setter::Fixed },)*]
    };
}

/// The load balancer's keys.
pub fn load_balancer_table() -> Vec<Row<LoadBalancerAttributes>> {
    type L = LoadBalancerAttributes;
    let mut rows = vec![
        Row::<L> {
            key: "idle_timeout.timeout_seconds",
            get: |a| a.idle_timeout_seconds.to_string(),
            set: Setter::Set(|a, v| {
                a.idle_timeout_seconds = number(v, 1, 4000)?;
                Ok(())
            }),
        },
        Row::<L> {
            key: "deletion_protection.enabled",
            get: |a| a.deletion_protection.to_string(),
            set: Setter::Set(|a, v| {
                a.deletion_protection = flag(v)?;
                Ok(())
            }),
        },
    ];
    rows.extend(fixed![L:
        "access_logs.s3.enabled" => "false",
        "access_logs.s3.bucket" => "",
        "access_logs.s3.prefix" => "",
        "connection_logs.s3.enabled" => "false",
        "routing.http2.enabled" => "true",
        "routing.http.drop_invalid_header_fields.enabled" => "false",
        "routing.http.preserve_host_header.enabled" => "false",
        "routing.http.x_amzn_tls_version_and_cipher_suite.enabled" => "false",
        "routing.http.xff_client_port.enabled" => "false",
        "routing.http.xff_header_processing.mode" => "append",
        "routing.http.desync_mitigation_mode" => "defensive",
        "waf.fail_open.enabled" => "false",
        "load_balancing.cross_zone.enabled" => "true",
        "client_keep_alive.seconds" => "3600",
        "zonal_shift.config.enabled" => "false",
    ]);
    rows
}

wire_enum! {
    /// `stickiness.type` of an application load balancer's group.
    #[derive(Default)]
    pub enum StickinessType {
        #[default]
        LbCookie = "lb_cookie",
        AppCookie = "app_cookie",
    }
}

wire_enum! {
    /// `load_balancing.algorithm.type`.
    #[derive(Default)]
    pub enum Algorithm {
        #[default]
        RoundRobin = "round_robin",
        LeastOutstandingRequests = "least_outstanding_requests",
    }
}

/// A target group's attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetGroupAttributes {
    /// `deregistration_delay.timeout_seconds`: how long a deregistered target drains,
    /// 0 to 3600, 300 by default.
    pub deregistration_delay_seconds: u32,
    /// `stickiness.enabled`.
    pub stickiness_enabled: bool,
    /// `stickiness.type`.
    pub stickiness_type: StickinessType,
    /// `stickiness.lb_cookie.duration_seconds`: 1 to 604800, 86400 by default.
    pub lb_cookie_duration_seconds: u32,
    /// `stickiness.app_cookie.cookie_name`: the application's cookie.
    pub app_cookie_name: String,
    /// `stickiness.app_cookie.duration_seconds`: 1 to 604800, 86400 by default.
    pub app_cookie_duration_seconds: u32,
    /// `load_balancing.algorithm.type`.
    pub algorithm: Algorithm,
}

impl Default for TargetGroupAttributes {
    fn default() -> Self {
        TargetGroupAttributes {
            deregistration_delay_seconds: 300,
            stickiness_enabled: false,
            stickiness_type: StickinessType::LbCookie,
            lb_cookie_duration_seconds: 86400,
            app_cookie_name: String::new(),
            app_cookie_duration_seconds: 86400,
            algorithm: Algorithm::RoundRobin,
        }
    }
}

fn cookie_name(v: &str) -> Result<String, String> {
    let reserved = ["AWSALB", "AWSALBAPP", "AWSALBTG"]
        .iter()
        .any(|p| v.starts_with(p));
    let token = v
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if v.len() > 1000 || !token || reserved {
        return Err(
            "must be a cookie name of at most 1000 characters, not starting with AWSALB".into(),
        );
    }
    Ok(v.to_string())
}

/// The target group's keys.
pub fn target_group_table() -> Vec<Row<TargetGroupAttributes>> {
    type G = TargetGroupAttributes;
    let mut rows = vec![
        Row::<G> {
            key: "deregistration_delay.timeout_seconds",
            get: |a| a.deregistration_delay_seconds.to_string(),
            set: Setter::Set(|a, v| {
                a.deregistration_delay_seconds = number(v, 0, 3600)?;
                Ok(())
            }),
        },
        Row::<G> {
            key: "stickiness.enabled",
            get: |a| a.stickiness_enabled.to_string(),
            // Berth's load balancers keep no client with a target.
            set: Setter::Fixed,
        },
        Row::<G> {
            key: "stickiness.type",
            get: |a| a.stickiness_type.to_string(),
            set: Setter::Set(|a, v| {
                a.stickiness_type = StickinessType::parse(v)
                    .ok_or("must be 'lb_cookie' or 'app_cookie' (berth's load balancers are application load balancers)")?;
                Ok(())
            }),
        },
        Row::<G> {
            key: "stickiness.lb_cookie.duration_seconds",
            get: |a| a.lb_cookie_duration_seconds.to_string(),
            set: Setter::Set(|a, v| {
                a.lb_cookie_duration_seconds = number(v, 1, 604_800)?;
                Ok(())
            }),
        },
        Row::<G> {
            key: "stickiness.app_cookie.cookie_name",
            get: |a| a.app_cookie_name.clone(),
            set: Setter::Set(|a, v| {
                a.app_cookie_name = cookie_name(v)?;
                Ok(())
            }),
        },
        Row::<G> {
            key: "stickiness.app_cookie.duration_seconds",
            get: |a| a.app_cookie_duration_seconds.to_string(),
            set: Setter::Set(|a, v| {
                a.app_cookie_duration_seconds = number(v, 1, 604_800)?;
                Ok(())
            }),
        },
        Row::<G> {
            key: "load_balancing.algorithm.type",
            get: |a| a.algorithm.to_string(),
            set: Setter::Set(|a, v| {
                a.algorithm = Algorithm::parse(v).ok_or(
                    "must be 'round_robin' or 'least_outstanding_requests' (berth does not support weighted_random)",
                )?;
                Ok(())
            }),
        },
    ];
    rows.extend(fixed![G:
        "load_balancing.algorithm.anomaly_mitigation" => "off",
        "slow_start.duration_seconds" => "0",
        "load_balancing.cross_zone.enabled" => "use_load_balancer_configuration",
        "target_group_health.dns_failover.minimum_healthy_targets.count" => "1",
        "target_group_health.dns_failover.minimum_healthy_targets.percentage" => "off",
        "target_group_health.unhealthy_state_routing.minimum_healthy_targets.count" => "1",
        "target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage" => "off",
    ]);
    rows
}

/// What the attributes together must say: app cookie stickiness names its cookie.
pub fn check_target_group(a: &TargetGroupAttributes) -> Result<(), ApiError> {
    if a.stickiness_enabled
        && a.stickiness_type == StickinessType::AppCookie
        && a.app_cookie_name.is_empty()
    {
        return Err(configuration(
            "The attribute 'stickiness.app_cookie.cookie_name' must be specified for app_cookie stickiness",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> Vec<Attribute> {
        pairs.iter().map(|(k, v)| Attribute::new(k, *v)).collect()
    }

    #[test]
    fn target_group_attributes_apply_by_table() {
        let t = target_group_table();
        let d = TargetGroupAttributes::default();
        let got = apply(
            &t,
            &d,
            &attrs(&[
                ("deregistration_delay.timeout_seconds", "0"),
                ("stickiness.enabled", "false"),
                ("stickiness.lb_cookie.duration_seconds", "60"),
                ("slow_start.duration_seconds", "0"),
            ]),
        )
        .unwrap();
        assert_eq!(got.deregistration_delay_seconds, 0);
        assert!(!got.stickiness_enabled);
        assert_eq!(got.lb_cookie_duration_seconds, 60);
        for (pairs, code, says) in [
            (
                &[("deregistration_delay.timeout_seconds", "3601")][..],
                "InvalidConfigurationRequest",
                "between '0' and '3600'",
            ),
            (
                &[("stickiness.enabled", "true")][..],
                "InvalidConfigurationRequest",
                "berth does not support",
            ),
            (
                &[("stickiness.type", "source_ip")][..],
                "InvalidConfigurationRequest",
                "lb_cookie",
            ),
            (
                &[("slow_start.duration_seconds", "30")][..],
                "InvalidConfigurationRequest",
                "berth does not support",
            ),
            (
                &[("load_balancing.algorithm.type", "weighted_random")][..],
                "InvalidConfigurationRequest",
                "weighted_random",
            ),
            (
                &[("colour", "red")][..],
                "ValidationError",
                "'colour' is not recognized",
            ),
            (&[][..], "ValidationError", "At least one"),
        ] {
            let e = apply(&t, &d, &attrs(pairs)).unwrap_err();
            assert_eq!(e.code, code, "{pairs:?}");
            assert!(e.message.contains(says), "{pairs:?}: {}", e.message);
        }
        let listed = list(&t, &d);
        assert_eq!(
            listed[0],
            Attribute::new("deregistration_delay.timeout_seconds", "300")
        );
        assert_eq!(listed.len(), t.len());
    }

    #[test]
    fn load_balancer_attributes_apply_by_table() {
        let t = load_balancer_table();
        let d = LoadBalancerAttributes::default();
        let got = apply(
            &t,
            &d,
            &attrs(&[
                ("idle_timeout.timeout_seconds", "120"),
                ("deletion_protection.enabled", "true"),
                ("access_logs.s3.enabled", "false"),
            ]),
        )
        .unwrap();
        assert_eq!(got.idle_timeout_seconds, 120);
        assert!(got.deletion_protection);
        let e = apply(&t, &d, &attrs(&[("access_logs.s3.enabled", "true")])).unwrap_err();
        assert_eq!(e.code, "InvalidConfigurationRequest");
        assert!(
            e.message.contains("berth does not support"),
            "{}",
            e.message
        );
        let e = apply(&t, &d, &attrs(&[("idle_timeout.timeout_seconds", "0")])).unwrap_err();
        assert!(
            e.message.contains("between '1' and '4000'"),
            "{}",
            e.message
        );
    }
}
