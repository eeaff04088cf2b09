//! The rules of the service operations' inputs, as data.
//!
//! A table is a list of [`Rule`]s over the members of a request document, named by
//! their path (`deploymentConfiguration.maximumPercent`, relative to the table's
//! [`Scope`]). Tables are checked in order and the first rule that fails is the
//! answer, so a table's order is the API's order. A member on its own is checked by
//! the plain rules (required, one of, range, count, name); checks across fields, or
//! against the task definition, the namespace or earlier entries, are [`Rule::Check`]s
//! named by a variant of the table's small enum (`Create`, `Network`, `Sc`, `Entry`,
//! `Alias`), whose [`Checks::run`] calls a function of the file that has their context.
//! The tables are plain data; only the checks they name are code.

use serde_json::Value;

use crate::common::{check_enum, check_name, invalid, R};
use crate::records::{LaunchType, SchedulingStrategy};
use crate::taskdef::LogDriver;
use Rule::*;

/// One rule of a table; `K` names the table's cross-field checks.
pub(super) enum Rule<K: 'static> {
    /// The member must be present (and not null): "`<field>` is required."
    Required(&'static str),
    /// A string member (or each string of a list member), when present, is one of these.
    OneOf(&'static str, &'static [&'static str]),
    /// A number member, when present, is within bounds.
    Range(Bound),
    /// A list member has a number of items within bounds (absent is none).
    Count(Bound),
    /// A string member, when present, is a valid resource name.
    Name(&'static str),
    /// The rules of an object member, checked only when it is present.
    Within(&'static str, &'static [Rule<K>]),
    /// The rules of a shared table without checks of its own.
    Table(&'static [Rule<Plain>]),
    /// A named check across fields.
    Check(K),
}

/// Bounds of a [`Rule::Range`] or [`Rule::Count`], and what a value out of them says:
/// `{field}` and `{value}` in `says` are replaced by the member's path and value.
pub(super) struct Bound {
    pub path: &'static str,
    pub min: i64,
    pub max: i64,
    pub says: &'static str,
}

/// The cross-field checks of a table, run with the context `C` they need.
pub(super) trait Checks<C: ?Sized>: Copy {
    fn run(self, at: &Scope<'_>, cx: &C) -> R<()>;
}

/// The checks of a table that has none.
#[derive(Clone, Copy)]
pub(super) enum Plain {}

impl<C: ?Sized> Checks<C> for Plain {
    fn run(self, _: &Scope<'_>, _: &C) -> R<()> {
        match self {}
    }
}

/// Where a table applies: an object of the request document and its path.
pub(super) struct Scope<'a> {
    node: &'a Value,
    at: String,
}

impl<'a> Scope<'a> {
    /// The whole request.
    pub fn root(doc: &'a Value) -> Scope<'a> {
        Scope::named(doc, "")
    }

    /// `node`, whose path is `at`.
    pub fn named(node: &'a Value, at: &str) -> Scope<'a> {
        Scope {
            node,
            at: at.to_string(),
        }
    }

    /// The member at `path`, if present and not null.
    pub fn get(&self, path: &str) -> Option<&'a Value> {
        path.split('.')
            .try_fold(self.node, |v, segment| v.get(segment))
            .filter(|v| !v.is_null())
    }

    /// The member at `path` as messages name it.
    pub fn field(&self, path: &str) -> String {
        if self.at.is_empty() {
            path.to_string()
        } else {
            format!("{}.{path}", self.at)
        }
    }

    /// The scope of the member at `path`, if present.
    pub fn within(&self, path: &str) -> Option<Scope<'a>> {
        self.get(path).map(|node| Scope {
            node,
            at: self.field(path),
        })
    }

    /// The scope of item `i` of the list at `path`, if there is one.
    pub fn item(&self, path: &str, i: usize) -> Option<Scope<'a>> {
        self.get(path).and_then(|l| l.get(i)).map(|node| Scope {
            node,
            at: format!("{}[{i}]", self.field(path)),
        })
    }

    /// Its own path.
    pub fn path(&self) -> &str {
        &self.at
    }
}

/// Checks `rules` in order at `at`; the first that fails is the error.
pub(super) fn check<K: Checks<C>, C: ?Sized>(rules: &[Rule<K>], at: &Scope<'_>, cx: &C) -> R<()> {
    for rule in rules {
        match rule {
            Rule::Required(path) => {
                if at.get(path).is_none() {
                    return Err(invalid(format!("{} is required.", at.field(path))));
                }
            }
            Rule::OneOf(path, allowed) => one_of(at, path, allowed)?,
            Rule::Range(b) => {
                if let Some(n) = at.get(b.path).and_then(Value::as_i64) {
                    b.holds(at, n)?;
                }
            }
            Rule::Count(b) => {
                let n = at.get(b.path).and_then(Value::as_array).map_or(0, Vec::len);
                b.holds(at, n as i64)?;
            }
            Rule::Name(path) => {
                if let Some(name) = at.get(path).and_then(Value::as_str) {
                    check_name(name, &at.field(path))?;
                }
            }
            Rule::Within(path, inner) => {
                if let Some(sub) = at.within(path) {
                    check(inner, &sub, cx)?;
                }
            }
            Rule::Table(table) => check(table, at, cx)?,
            Rule::Check(k) => k.run(at, cx)?,
        }
    }
    Ok(())
}

fn one_of(at: &Scope<'_>, path: &str, allowed: &[&str]) -> R<()> {
    let field = at.field(path);
    match at.get(path) {
        Some(Value::String(s)) => check_enum(Some(s), &field, allowed),
        Some(Value::Array(items)) => items
            .iter()
            .try_for_each(|v| check_enum(v.as_str(), &field, allowed)),
        _ => Ok(()),
    }
}

impl Bound {
    fn holds(&self, at: &Scope<'_>, n: i64) -> R<()> {
        if (self.min..=self.max).contains(&n) {
            return Ok(());
        }
        Err(invalid(
            self.says
                .replace("{field}", &at.field(self.path))
                .replace("{value}", &n.to_string()),
        ))
    }
}

// ---- the tables ---------------------------------------------------------------------

/// The largest value of ECS's 32-bit integers.
const INT_MAX: i64 = i32::MAX as i64;
const NO_MAX: i64 = i64::MAX;

pub(super) const PROPAGATE_TAGS: &[&str] = &["TASK_DEFINITION", "SERVICE", "NONE"];
const DEPLOYMENT_CONTROLLERS: &[&str] = &["ECS", "CODE_DEPLOY", "EXTERNAL"];
const ENABLED_DISABLED: &[&str] = &["ENABLED", "DISABLED"];
const DISABLED_ENABLED: &[&str] = &["DISABLED", "ENABLED"];
const ACCESS_LOG_FORMATS: &[&str] = &["TEXT", "JSON"];
const DESCRIBE_INCLUDE: &[&str] = &["TAGS"];

const DESIRED_COUNT: Rule<Plain> = Range(Bound {
    path: "desiredCount",
    min: 0,
    max: NO_MAX,
    says: "{field} {value} must be 0 or more.",
});

/// The checks of CreateService across fields (see `mod.rs`).
#[derive(Clone, Copy)]
pub(super) enum Create {
    LaunchTypeOrCapacityProviders,
    DesiredCountForReplica,
    Tags,
}

/// CreateService, before anything is read from the store.
pub(super) const CREATE: &[Rule<Create>] = &[
    Required("serviceName"),
    Name("serviceName"),
    OneOf("launchType", LaunchType::NAMES),
    OneOf("schedulingStrategy", SchedulingStrategy::NAMES),
    OneOf("propagateTags", PROPAGATE_TAGS),
    OneOf("deploymentController.type", DEPLOYMENT_CONTROLLERS),
    Check(Create::LaunchTypeOrCapacityProviders),
    Check(Create::DesiredCountForReplica),
    Table(&[DESIRED_COUNT]),
    Required("taskDefinition"),
    Check(Create::Tags),
    Table(DEPLOYMENT_CONFIGURATION),
    Range(Bound {
        path: "healthCheckGracePeriodSeconds",
        min: 0,
        max: INT_MAX,
        says: "{field} is out of range.",
    }),
];

/// CreateService, last: `availabilityZoneRebalancing` has always been checked after the
/// task definition, Service Connect and its names.
pub(super) const CREATE_LAST: &[Rule<Plain>] =
    &[OneOf("availabilityZoneRebalancing", ENABLED_DISABLED)];

/// UpdateService, before anything is read from the store.
pub(super) const UPDATE: &[Rule<Plain>] = &[
    Required("service"),
    DESIRED_COUNT,
    OneOf("propagateTags", PROPAGATE_TAGS),
];

/// `deploymentConfiguration` of CreateService and UpdateService.
pub(super) const DEPLOYMENT_CONFIGURATION: &[Rule<Plain>] = &[
    Range(Bound {
        path: "deploymentConfiguration.minimumHealthyPercent",
        min: 0,
        max: 100,
        says: "{field} {value} must be between 0 and 100.",
    }),
    Range(Bound {
        path: "deploymentConfiguration.maximumPercent",
        min: 100,
        max: NO_MAX,
        says: "{field} {value} must be at least 100.",
    }),
];

/// The checks of a service's network configuration against its task definition.
#[derive(Clone, Copy)]
pub(super) enum Network {
    /// Required when the task definition's network mode is awsvpc.
    Required,
    /// Allowed only when it is awsvpc.
    Allowed,
    /// FARGATE needs awsvpc.
    Fargate,
}

/// `networkConfiguration` itself.
const AWSVPC: &[Rule<Network>] = &[
    Required("awsvpcConfiguration"),
    Count(Bound {
        path: "awsvpcConfiguration.subnets",
        min: 1,
        max: NO_MAX,
        says: "{field} can not be empty.",
    }),
    Count(Bound {
        path: "awsvpcConfiguration.subnets",
        min: 0,
        max: 16,
        says: "{field}: at most 16 subnets.",
    }),
    Count(Bound {
        path: "awsvpcConfiguration.securityGroups",
        min: 0,
        max: 5,
        says: "{field}: at most 5 security groups.",
    }),
    OneOf("awsvpcConfiguration.assignPublicIp", ENABLED_DISABLED),
];

/// CreateService's network, once the task definition is known.
pub(super) const CREATE_NETWORK: &[Rule<Network>] = &[
    Check(Network::Required),
    Within("networkConfiguration", AWSVPC),
    Check(Network::Allowed),
    Check(Network::Fargate),
];

/// UpdateService's network, once the task definition is known.
pub(super) const UPDATE_NETWORK: &[Rule<Network>] = &[
    Check(Network::Allowed),
    Within("networkConfiguration", AWSVPC),
    Check(Network::Required),
];

/// DescribeServices.
pub(super) const DESCRIBE: &[Rule<Plain>] = &[
    Required("services"),
    Count(Bound {
        path: "services",
        min: 1,
        max: 10,
        says: "{field}: between 1 and 10 services can be described at once.",
    }),
    OneOf("include", DESCRIBE_INCLUDE),
];

/// ListServices (after `maxResults`).
pub(super) const LIST: &[Rule<Plain>] = &[
    OneOf("launchType", LaunchType::NAMES),
    OneOf("schedulingStrategy", SchedulingStrategy::NAMES),
];

/// DeleteService.
pub(super) const DELETE: &[Rule<Plain>] = &[Required("service")];

// ---- Service Connect ----------------------------------------------------------------

/// The checks of a Service Connect configuration across fields (see `connect.rs`).
#[derive(Clone, Copy)]
pub(super) enum Sc {
    ServicesOnlyWhenEnabled,
    SupportedNetworkMode,
    TaskMemory,
    NoLinks,
    AccessLogNeedsLogConfiguration,
}

/// `serviceConnectConfiguration`, first.
pub(super) const SC_SWITCH: &[Rule<Sc>] =
    &[Required("enabled"), Check(Sc::ServicesOnlyWhenEnabled)];

/// What an enabled configuration needs of the task definition (after its namespace).
pub(super) const SC_TASK_DEFINITION: &[Rule<Sc>] = &[
    Check(Sc::SupportedNetworkMode),
    Check(Sc::TaskMemory),
    Check(Sc::NoLinks),
];

/// The checks of one entry of `services` across fields.
#[derive(Clone, Copy)]
pub(super) enum Entry {
    PortNameIsMapped,
    DiscoveryNameIsLabel,
    DiscoveryNameIsUnique,
    ClientAliases,
    IngressPortDiffers,
    PerRequestTimeoutNeedsAppProtocol,
}

const PORT: &str = "{field} {value} must be between 1 and 65535.";
const OUT_OF_RANGE: &str = "{field} {value} is out of range.";

/// Each entry of `services`, in order.
pub(super) const SC_SERVICE: &[Rule<Entry>] = &[
    Required("portName"),
    Check(Entry::PortNameIsMapped),
    Check(Entry::DiscoveryNameIsLabel),
    Check(Entry::DiscoveryNameIsUnique),
    Count(Bound {
        path: "clientAliases",
        min: 0,
        max: 1,
        says: "{field}: at most 1 client alias per service.",
    }),
    Check(Entry::ClientAliases),
    Range(Bound {
        path: "ingressPortOverride",
        min: 1,
        max: 65535,
        says: PORT,
    }),
    Check(Entry::IngressPortDiffers),
    Range(Bound {
        path: "timeout.idleTimeoutSeconds",
        min: 0,
        max: INT_MAX,
        says: OUT_OF_RANGE,
    }),
    Check(Entry::PerRequestTimeoutNeedsAppProtocol),
    Range(Bound {
        path: "timeout.perRequestTimeoutSeconds",
        min: 0,
        max: INT_MAX,
        says: OUT_OF_RANGE,
    }),
    Within(
        "tls",
        &[Required("issuerCertificateAuthority.awsPcaAuthorityArn")],
    ),
];

/// The checks of one client alias across fields.
#[derive(Clone, Copy)]
pub(super) enum Alias {
    DnsNameIsLabel,
    IsUnique,
}

/// Each client alias of an entry.
pub(super) const SC_ALIAS: &[Rule<Alias>] = &[
    Required("port"),
    Range(Bound {
        path: "port",
        min: 1,
        max: 65535,
        says: PORT,
    }),
    Check(Alias::DnsNameIsLabel),
    Check(Alias::IsUnique),
];

/// The proxy's logs, after the entries.
pub(super) const SC_LOGS: &[Rule<Sc>] = &[
    Within(
        "logConfiguration",
        &[Required("logDriver"), OneOf("logDriver", LogDriver::NAMES)],
    ),
    Within(
        "accessLogConfiguration",
        &[
            Required("format"),
            OneOf("format", ACCESS_LOG_FORMATS),
            OneOf("includeQueryParameters", DISABLED_ENABLED),
            Check(Sc::AccessLogNeedsLogConfiguration),
        ],
    ),
];

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const TABLE: &[Rule<Plain>] = &[
        Required("a.b"),
        Range(Bound {
            path: "n",
            min: 1,
            max: 3,
            says: "{field} {value} is not 1 to 3.",
        }),
        Count(Bound {
            path: "list",
            min: 1,
            max: 2,
            says: "{field} has 1 or 2 items.",
        }),
        OneOf("kind", &["X", "Y"]),
        Within("inner", &[Required("c"), OneOf("d", &["Z"])]),
    ];

    fn answer(doc: serde_json::Value) -> Result<(), String> {
        check(TABLE, &Scope::named(&doc, "top"), &()).map_err(|e| e.message)
    }

    #[test]
    fn the_first_rule_that_fails_answers_naming_the_field() {
        let ok = json!({"a": {"b": 1}, "n": 2, "list": [1], "kind": "X"});
        assert_eq!(answer(ok.clone()), Ok(()));
        let with = |k: &str, v: serde_json::Value| {
            let mut d = ok.clone();
            d[k] = v;
            d
        };
        assert_eq!(answer(json!({})), Err("top.a.b is required.".into()));
        assert_eq!(
            answer(with("a", json!({"b": null}))),
            Err("top.a.b is required.".into())
        );
        assert_eq!(
            answer(with("n", json!(4))),
            Err("top.n 4 is not 1 to 3.".into())
        );
        // A list that is absent has no items.
        let mut no_list = ok.clone();
        no_list.as_object_mut().unwrap().remove("list");
        assert_eq!(answer(no_list), Err("top.list has 1 or 2 items.".into()));
        assert!(answer(with("kind", json!("W")))
            .unwrap_err()
            .starts_with("top.kind 'W' is invalid"));
        // An object's rules apply only when it is there.
        assert_eq!(
            answer(with("inner", json!({}))),
            Err("top.inner.c is required.".into())
        );
        assert!(answer(with("inner", json!({"c": 1, "d": "Q"})))
            .unwrap_err()
            .starts_with("top.inner.d 'Q'"));
        // Ranges and enums leave absent members alone.
        assert_eq!(answer(json!({"a": {"b": 1}, "list": [1]})), Ok(()));
    }

    #[test]
    fn scopes_name_list_items() {
        let doc = json!({"services": [{"port": 1}, {"port": 2}]});
        let root = Scope::named(&doc, "sc");
        let second = root.item("services", 1).unwrap();
        assert_eq!(second.path(), "sc.services[1]");
        assert_eq!(second.field("port"), "sc.services[1].port");
        assert_eq!(second.get("port"), Some(&json!(2)));
        assert!(root.item("services", 2).is_none());
        assert_eq!(Scope::root(&doc).field("x"), "x");
    }
}
