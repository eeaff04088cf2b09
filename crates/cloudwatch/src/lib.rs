//! Amazon CloudWatch metrics (`monitoring`, API version 2010-08-01): `PutMetricData`,
//! `ListMetrics`, `GetMetricStatistics` and `GetMetricData` with metric math, served in
//! all three of CloudWatch's protocols (Smithy RPCv2-CBOR, which the newest botocore
//! speaks; AWS JSON 1.0; and the AWS query protocol, answered in XML), with
//! CloudWatch's query error codes (`awsQueryCompatible`).
//!
//! Metrics live in a store of their own ([`MetricStore`], `<data dir>/metrics.db`), not
//! the revisioned key-value store: statistics per metric per second (high-resolution
//! data, kept 3 hours) and per minute (kept 15 days unless configured: [`Retention`]),
//! swept by the server ([`MetricStore::sweep`] of [`Retention::plan`]).
//!
//! * `model`: the operations' inputs, outputs and enums.
//! * `rules`: the error codes and the validation tables.
//! * `put`, `list`, `data`: the operations; `stats` periods and statistics; `expr`
//!   the metric math language.
//! * [`service_connect`]: the agents' reports of their proxies, filed as ECS's Service
//!   Connect metrics in `AWS/ECS`.
//! * [`load_balancer`]: what the load balancers' data planes did, filed as ELB's metrics
//!   in `AWS/ApplicationELB`.

use std::sync::Arc;

use berth_awsproto::{
    output, Api, ApiError, Context, Input, JsonVersion, OutputShape, Protocol, QueryApi,
    QueryFlavour, Service,
};
use serde_json::{json, Value};

mod data;
mod db;
pub mod expr;
mod list;
pub mod load_balancer;
pub mod model;
mod put;
mod retention;
mod rules;
pub mod service_connect;
mod stats;

pub use db::{
    Agg, ListFilter, MetricKey, MetricStore, MetricsError, Point, Resolution, Swept, Write, DB_FILE,
};
pub use retention::{Retention, SweepPlan, DAY, HOUR, SWEEP_EVERY};
pub use rules::{
    INVALID_NEXT_TOKEN, INVALID_PARAMETER_COMBINATION, INVALID_PARAMETER_VALUE, MISSING_PARAMETER,
    VALIDATION_ERROR,
};

/// The JSON target prefix and the RPCv2-CBOR service name.
pub const TARGET_PREFIX: &str = "GraniteServiceVersion20100801";
/// The API version, the query form's `Version`.
pub const API_VERSION: &str = "2010-08-01";

/// How clients reach CloudWatch: RPCv2-CBOR, JSON 1.0 and query.
pub static SERVICE: Service = Service {
    signing_name: "monitoring",
    protocols: &[
        Protocol::Cbor {
            service: TARGET_PREFIX,
            blobs: &[],
        },
        Protocol::Json {
            target_prefix: TARGET_PREFIX,
            version: JsonVersion::V1_0,
        },
        Protocol::Query(QueryApi {
            version: API_VERSION,
            xml_namespace: "http://monitoring.amazonaws.com/doc/2010-08-01/",
            flavour: QueryFlavour::Query,
        }),
    ],
    error_message_key: "message",
    query_compatible: true,
    output: OutputShape {
        timestamps: &["Timestamp", "Timestamps"],
        maps: &["ExtendedStatistics"],
        list_items: &[],
        flattened: &[],
    },
};

/// CloudWatch on a [`MetricStore`].
#[derive(Debug, Clone)]
pub struct CloudWatch {
    store: Arc<MetricStore>,
}

impl CloudWatch {
    /// The service over `store`.
    pub fn new(store: Arc<MetricStore>) -> CloudWatch {
        CloudWatch { store }
    }

    /// The store it serves.
    pub fn store(&self) -> &Arc<MetricStore> {
        &self.store
    }
}

impl Api for CloudWatch {
    fn service(&self) -> &'static Service {
        &SERVICE
    }

    fn invoke(&self, ctx: &Context, op: &str, input: Input) -> Result<Value, ApiError> {
        let now = berth_awsproto::now();
        let store = &self.store;
        match op {
            "PutMetricData" => {
                put::put_metric_data(store, ctx, input.parse()?, now)?;
                Ok(json!({}))
            }
            "ListMetrics" => output(&list::list_metrics(store, ctx, input.parse()?, now)?),
            "GetMetricStatistics" => {
                output(&list::get_metric_statistics(store, ctx, input.parse()?)?)
            }
            "GetMetricData" => output(&data::get_metric_data(store, ctx, input.parse()?)?),
            _ => Err(ApiError::unknown_operation(op)),
        }
    }
}

#[cfg(test)]
mod tests;
