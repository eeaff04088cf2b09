//! Elastic Load Balancing v2 (`elasticloadbalancing`, API version 2015-12-01, AWS query
//! protocol): application load balancers, target groups, listeners, rules, targets and
//! their health, attributes and tags, answered in XML as ELB answers.
//!
//! berth runs what it accepts: HTTP listeners; forward (weighted, sticky),
//! fixed-response and redirect actions; path, host, header and query conditions; `ip`
//! and `instance` target groups with HTTP health checks. What it cannot run (HTTPS
//! listeners, authentication actions, network and gateway load balancers, lambda
//! targets, other protocols, attributes of features it lacks) is refused with ELB's
//! code and a message saying berth does not support it, never stored and ignored.
//!
//! Inputs deny members the model does not have (`UnknownParameter`, as EC2's query
//! inputs do); a value that does not fit its member is `ValidationError`.
//!
//! # For the rest of berth
//!
//! The data plane's controller finds load balancers with [`all_load_balancers`],
//! reads each with [`load_balancer_plan_in`], marks it with
//! [`set_load_balancer_state_in`] and reports health with [`set_target_health_in`];
//! the ECS integration keeps targets with [`register_targets_in`] and
//! [`deregister_targets_in`]. Deregistered targets drain for their group's
//! deregistration delay; [`sweep`] removes those whose delay ended (reads skip them
//! before that).
//!
//! # Store key layout
//!
//! Under `elbv2/{account}/{region}/` (below: `P`); values are JSON.
//!
//! | key | value |
//! |---|---|
//! | `P lb/{id}` | [`LoadBalancerRec`] |
//! | `P lbname/{name}` | its id |
//! | `P tg/{id}` | [`TargetGroupRec`] |
//! | `P tgname/{name}` | its id |
//! | `P listener/{lb id}/{id}` | [`ListenerRec`] |
//! | `P rule/{listener id}/{id}` | [`RuleRec`] (the default rule too) |
//! | `P tguse/{tg id}/{rule id}` | [`TargetGroupUse`]: where a group is used |
//! | `P target/{tg id}/{target id}/{port}` | [`TargetRec`] |
//! | `elbv2/address/{ip}` | [`LoadBalancerRef`]: every load balancer, by address |
//! | `elbv2/draining/{account}/{region}/{tg id}/{target id}/{port}` | when its draining ends |

use std::sync::Arc;

use berth_awsproto::{
    output, Api, ApiError, Context, Input, OutputShape, Protocol, QueryApi, QueryFlavour, Service,
};
use berth_store::{Reader, Store, Writer};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

mod actions;
pub mod attributes;
mod common;
mod errors;
mod interfaces;
mod listener;
mod loadbalancer;
pub mod model;
mod plan;
mod records;
mod rule;
mod tags;
mod targetgroup;
mod targets;

#[cfg(test)]
mod tests;

pub use common::find_target_group as target_group_in;
pub use interfaces::{set_load_balancer_sources_in, SourceInterface};
pub use loadbalancer::{all_load_balancers, set_load_balancer_state_in};
pub use plan::{
    load_balancer_plan_in, ActionPlan, ConditionPlan, HealthCheckPlan, ListenerPlan,
    LoadBalancerPlan, QueryPair, RulePlan, TargetGroupPlan, TargetPlan, WeightedGroup,
};
pub use records::{
    ListenerRec, LoadBalancerRec, LoadBalancerRef, RuleRec, TargetGroupRec, TargetGroupUse,
    TargetRec,
};
pub use targetgroup::load_balancers_of_in;
pub use targets::{
    deregister_targets_in, effective_health, reason_description, register_targets_in,
    set_target_health_in, sweep, sweep_in, Backing, Target,
};

/// The API version, the form's `Version`.
pub const API_VERSION: &str = "2015-12-01";

/// How clients reach ELBv2: the query protocol.
pub static SERVICE: Service = Service {
    signing_name: "elasticloadbalancing",
    protocols: &[Protocol::Query(QueryApi {
        version: API_VERSION,
        xml_namespace: "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/",
        flavour: QueryFlavour::Query,
    })],
    error_message_key: "Message",
    query_compatible: false,
    output: OutputShape {
        timestamps: &["CreatedTime"],
        ..OutputShape::PLAIN
    },
};

/// ELBv2 on berth's store.
#[derive(Debug, Clone)]
pub struct Elbv2 {
    store: Arc<Store>,
}

impl Elbv2 {
    /// ELBv2 over `store`.
    pub fn new(store: Arc<Store>) -> Elbv2 {
        Elbv2 { store }
    }

    /// The store it works on.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Removes the registrations whose draining ended by `now`; how many.
    pub fn sweep(&self, now: f64) -> Result<usize, ApiError> {
        sweep(&self.store, now)
    }

    fn read<I: DeserializeOwned, O: Serialize>(
        &self,
        input: Input,
        op: impl FnOnce(&Reader<'_>, I) -> Result<O, ApiError>,
    ) -> Result<Value, ApiError> {
        let input: I = input.parse().map_err(errors::as_elb)?;
        output(&self.store.read(|r| op(r, input))?)
    }

    fn write<I: DeserializeOwned, O: Serialize>(
        &self,
        input: Input,
        op: impl FnOnce(&mut Writer<'_>, I) -> Result<O, ApiError>,
    ) -> Result<Value, ApiError> {
        let input: I = input.parse().map_err(errors::as_elb)?;
        output(&self.store.write(|w| op(w, input))?.0)
    }
}

impl Api for Elbv2 {
    fn service(&self) -> &'static Service {
        &SERVICE
    }

    fn invoke(&self, ctx: &Context, op: &str, input: Input) -> Result<Value, ApiError> {
        let now = berth_awsproto::now();
        match op {
            "CreateLoadBalancer" => self.write(input, |w, i| loadbalancer::create(w, ctx, i, now)),
            "DescribeLoadBalancers" => self.read(input, |r, i| loadbalancer::describe(r, ctx, i)),
            "DeleteLoadBalancer" => self.write(input, |w, i| loadbalancer::delete_op(w, ctx, i)),
            "DescribeLoadBalancerAttributes" => {
                self.read(input, |r, i| loadbalancer::describe_attributes(r, ctx, i))
            }
            "ModifyLoadBalancerAttributes" => {
                self.write(input, |w, i| loadbalancer::modify_attributes(w, ctx, i))
            }
            "SetSecurityGroups" => {
                self.write(input, |w, i| loadbalancer::set_security_groups(w, ctx, i))
            }
            "SetSubnets" => self.write(input, |w, i| loadbalancer::set_subnets(w, ctx, i)),
            "CreateTargetGroup" => self.write(input, |w, i| targetgroup::create(w, ctx, i)),
            "DescribeTargetGroups" => self.read(input, |r, i| targetgroup::describe(r, ctx, i)),
            "ModifyTargetGroup" => self.write(input, |w, i| targetgroup::modify(w, ctx, i)),
            "DeleteTargetGroup" => self.write(input, |w, i| targetgroup::delete_op(w, ctx, i)),
            "DescribeTargetGroupAttributes" => {
                self.read(input, |r, i| targetgroup::describe_attributes(r, ctx, i))
            }
            "ModifyTargetGroupAttributes" => {
                self.write(input, |w, i| targetgroup::modify_attributes(w, ctx, i))
            }
            "RegisterTargets" => self.write(input, |w, i| targets::register(w, ctx, i, now)),
            "DeregisterTargets" => self.write(input, |w, i| targets::deregister(w, ctx, i, now)),
            "DescribeTargetHealth" => {
                self.read(input, |r, i| targets::describe_health(r, ctx, i, now))
            }
            "CreateListener" => self.write(input, |w, i| listener::create(w, ctx, i)),
            "DescribeListeners" => self.read(input, |r, i| listener::describe(r, ctx, i)),
            "ModifyListener" => self.write(input, |w, i| listener::modify(w, ctx, i)),
            "DeleteListener" => self.write(input, |w, i| listener::delete_op(w, ctx, i)),
            "CreateRule" => self.write(input, |w, i| rule::create(w, ctx, i)),
            "DescribeRules" => self.read(input, |r, i| rule::describe(r, ctx, i)),
            "ModifyRule" => self.write(input, |w, i| rule::modify(w, ctx, i)),
            "DeleteRule" => self.write(input, |w, i| rule::delete_op(w, ctx, i)),
            "SetRulePriorities" => self.write(input, |w, i| rule::set_priorities(w, ctx, i)),
            "AddTags" => self.write(input, |w, i| tags::add(w, ctx, i)),
            "RemoveTags" => self.write(input, |w, i| tags::remove(w, ctx, i)),
            "DescribeTags" => self.read(input, |r, i| tags::describe(r, ctx, i)),
            _ => Err(ApiError::unknown_operation(op)),
        }
    }
}
