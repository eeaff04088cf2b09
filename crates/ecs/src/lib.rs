//! Amazon ECS control-plane operations on berth's store.
//!
//! Resources are stored as the JSON documents the API returns (the records *are* the
//! API's resources, typed in [`records`] and `taskdef`), one key each, under
//! `ecs/<account>/<region>/`:
//!
//! | key | value |
//! |---|---|
//! | `cluster/<name>` | Cluster |
//! | `taskdef/<family>/<revision, 10 digits>` | `{"taskDefinition": TaskDefinition, "tags": [...]}` |
//! | `service/<cluster>/<name>` | Service |
//! | `task/<cluster>/<task id>` | Task |
//! | `instance/<cluster>/<container instance id>` | ContainerInstance |
//! | `token/<kind>/<client token>` | the ARN a clientToken created (idempotency) |
//! | `group/`, `unplaced/`, `placed/` | task indexes (see [`taskstore`]) |
//! | `agentgone/<cluster>/<instance id>` | when the instance's agent went away |
//! | `sc/<namespace id>/{name,alias,service}/` | Service Connect names claimed in a namespace |
//!
//! Every operation is one store transaction. Service Connect needs Cloud Map: a
//! cluster's default namespace and each Service Connect service's Cloud Map service are
//! created inside the same transaction through `berth-cloudmap`'s `*_in` functions.

use std::sync::Arc;

use berth_awsproto::{Api, ApiError, Context, Input, JsonVersion, OutputShape, Protocol, Service};
use berth_store::Store;
use serde_json::Value;

pub mod agent;
mod cluster;
mod common;
pub mod confine;
mod instance;
mod network;
pub mod records;
mod report;
mod resource;
pub mod roles;
mod rules;
pub mod scheduler;
mod service;
mod tags;
mod targets;
mod task;
pub mod taskdef;
pub mod taskstore;
pub mod tls;

pub use common::{Tag, TARGET_PREFIX};

/// The ECS API on a store.
pub struct Ecs {
    store: Arc<Store>,
    scheduler: scheduler::Shared,
}

impl Ecs {
    /// What ECS does when an ELB target's health changes (inside the transaction that
    /// files it): a service's task whose target turned unhealthy is replaced.
    pub fn target_health_in(
        &self,
        w: &mut berth_store::Writer<'_>,
        ctx: &Context,
        tg_arn: &str,
        target: &berth_elbv2::Target,
        health: &berth_elbv2::model::TargetHealth,
    ) -> Result<(), ApiError> {
        targets::target_health_in(w, ctx, tg_arn, target, health, berth_awsproto::now())
    }

    /// ECS on `store`.
    pub fn new(store: Arc<Store>) -> Ecs {
        Ecs {
            store,
            scheduler: Default::default(),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Moves resources that wait on the control plane along: clusters whose default
    /// namespace is provisioned become ACTIVE; services get their tasks, tasks their
    /// container instance (see [`scheduler`]). Level-triggered and idempotent.
    pub fn reconcile(&self) -> Result<(), ApiError> {
        cluster::reconcile(self)?;
        scheduler::reconcile(self)
    }
}

/// How clients reach ECS: AWS JSON 1.1.
pub static SERVICE: Service = Service {
    signing_name: "ecs",
    protocols: &[Protocol::Json {
        target_prefix: TARGET_PREFIX,
        version: JsonVersion::V1_1,
    }],
    error_message_key: "message",
    query_compatible: false,
    output: OutputShape {
        timestamps: &[
            "createdAt",
            "updatedAt",
            "registeredAt",
            "deregisteredAt",
            "startedAt",
            "stoppedAt",
            "stoppingAt",
            "executionStoppedAt",
            "pullStartedAt",
            "pullStoppedAt",
            "connectivityAt",
        ],
        ..OutputShape::PLAIN
    },
};

impl Api for Ecs {
    fn service(&self) -> &'static Service {
        &SERVICE
    }

    fn invoke(&self, ctx: &Context, op: &str, input: Input) -> Result<Value, ApiError> {
        let input = input.into_value();
        match op {
            "CreateCluster" => cluster::create(self, ctx, input),
            "DescribeClusters" => cluster::describe(self, ctx, input),
            "ListClusters" => cluster::list(self, ctx, input),
            "UpdateCluster" => cluster::update(self, ctx, input),
            "UpdateClusterSettings" => cluster::update_settings(self, ctx, input),
            "DeleteCluster" => cluster::delete(self, ctx, input),
            "RegisterTaskDefinition" => taskdef::register(self, ctx, input),
            "DescribeTaskDefinition" => taskdef::describe(self, ctx, input),
            "ListTaskDefinitions" => taskdef::list(self, ctx, input),
            "ListTaskDefinitionFamilies" => taskdef::list_families(self, ctx, input),
            "DeregisterTaskDefinition" => taskdef::deregister(self, ctx, input),
            "CreateService" => service::create(self, ctx, input),
            "UpdateService" => service::update(self, ctx, input),
            "DescribeServices" => service::describe(self, ctx, input),
            "ListServices" => service::list(self, ctx, input),
            "ListServicesByNamespace" => service::list_by_namespace(self, ctx, input),
            "DeleteService" => service::delete(self, ctx, input),
            "RunTask" => task::run(self, ctx, input),
            "StartTask" => task::start(self, ctx, input),
            "StopTask" => task::stop(self, ctx, input),
            "ListTasks" => task::list(self, ctx, input),
            "DescribeTasks" => task::describe(self, ctx, input),
            "RegisterContainerInstance" => instance::register(self, ctx, input),
            "DeregisterContainerInstance" => instance::deregister(self, ctx, input),
            "ListContainerInstances" => instance::list(self, ctx, input),
            "DescribeContainerInstances" => instance::describe(self, ctx, input),
            "SubmitTaskStateChange" => report::submit_task(self, ctx, input),
            "SubmitContainerStateChange" => report::submit_container(self, ctx, input),
            "TagResource" => tags::tag(self, ctx, input),
            "UntagResource" => tags::untag(self, ctx, input),
            "ListTagsForResource" => tags::list(self, ctx, input),
            _ => Err(ApiError::unknown_operation(op)),
        }
    }

    fn agent_operation(&self, op: &str) -> bool {
        confine::AGENT_OPERATIONS.contains(&op)
    }
}
