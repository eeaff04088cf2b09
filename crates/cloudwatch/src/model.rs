//! The operations' inputs and outputs as the API names them, and its enums.
//!
//! Required members are `Option`s so that a missing one is answered as CloudWatch
//! answers it (`MissingParameter`, naming it) rather than as a decoding error.

use std::collections::BTreeMap;

use berth_awsproto::wire_enum;
use serde::{Deserialize, Serialize};

wire_enum! {
    /// A datapoint's unit (`None` unless given).
    #[derive(Default)]
    pub enum StandardUnit {
        Seconds = "Seconds",
        Microseconds = "Microseconds",
        Milliseconds = "Milliseconds",
        Bytes = "Bytes",
        Kilobytes = "Kilobytes",
        Megabytes = "Megabytes",
        Gigabytes = "Gigabytes",
        Terabytes = "Terabytes",
        Bits = "Bits",
        Kilobits = "Kilobits",
        Megabits = "Megabits",
        Gigabits = "Gigabits",
        Terabits = "Terabits",
        Percent = "Percent",
        Count = "Count",
        BytesPerSecond = "Bytes/Second",
        KilobytesPerSecond = "Kilobytes/Second",
        MegabytesPerSecond = "Megabytes/Second",
        GigabytesPerSecond = "Gigabytes/Second",
        TerabytesPerSecond = "Terabytes/Second",
        BitsPerSecond = "Bits/Second",
        KilobitsPerSecond = "Kilobits/Second",
        MegabitsPerSecond = "Megabits/Second",
        GigabitsPerSecond = "Gigabits/Second",
        TerabitsPerSecond = "Terabits/Second",
        CountPerSecond = "Count/Second",
        #[default]
        None = "None",
    }
}

wire_enum! {
    /// `GetMetricStatistics`' statistics.
    pub enum Statistic {
        SampleCount = "SampleCount",
        Average = "Average",
        Sum = "Sum",
        Minimum = "Minimum",
        Maximum = "Maximum",
    }
}

wire_enum! {
    /// The order of `GetMetricData`'s datapoints.
    pub enum ScanBy {
        TimestampDescending = "TimestampDescending",
        TimestampAscending = "TimestampAscending",
    }
}

wire_enum! {
    /// Whether a `GetMetricData` result is whole.
    pub enum StatusCode {
        Complete = "Complete",
        InternalError = "InternalError",
        PartialData = "PartialData",
        Forbidden = "Forbidden",
    }
}

wire_enum! {
    /// `ListMetrics`' `RecentlyActive`: the only window CloudWatch offers.
    pub enum RecentlyActive {
        Pt3h = "PT3H",
    }
}

/// A dimension: a name and its value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Dimension {
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// Its value.
    #[serde(default)]
    pub value: Option<String>,
}

/// A metric: its namespace, name and dimensions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Metric {
    /// The namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The metric's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_name: Option<String>,
    /// Its dimensions.
    #[serde(default)]
    pub dimensions: Option<Vec<Dimension>>,
}

/// A set of statistics given instead of values.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StatisticSet {
    /// How many values.
    pub sample_count: Option<f64>,
    /// Their sum.
    pub sum: Option<f64>,
    /// The least.
    pub minimum: Option<f64>,
    /// The greatest.
    pub maximum: Option<f64>,
}

/// One `MetricData` item of `PutMetricData`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricDatum {
    /// The metric's name.
    pub metric_name: Option<String>,
    /// Its dimensions.
    pub dimensions: Option<Vec<Dimension>>,
    /// When (epoch seconds); now if not given.
    pub timestamp: Option<f64>,
    /// One value.
    pub value: Option<f64>,
    /// Statistics of many values.
    pub statistic_values: Option<StatisticSet>,
    /// Many values ...
    pub values: Option<Vec<f64>>,
    /// ... each seen this many times.
    pub counts: Option<Vec<f64>>,
    /// The unit.
    pub unit: Option<StandardUnit>,
    /// 1 (high resolution) or 60.
    pub storage_resolution: Option<i64>,
}

/// `PutMetricData`'s input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutMetricDataInput {
    /// The namespace.
    pub namespace: Option<String>,
    /// The datapoints.
    pub metric_data: Option<Vec<MetricDatum>>,
    /// Datapoints with an entity (the entity itself is not kept).
    pub entity_metric_data: Option<Vec<EntityMetricData>>,
    /// Whether entity problems fail the call (berth keeps no entities).
    pub strict_entity_validation: Option<bool>,
}

/// Datapoints that name the entity they are about.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EntityMetricData {
    /// The entity (not kept).
    pub entity: Option<serde_json::Value>,
    /// The datapoints.
    pub metric_data: Option<Vec<MetricDatum>>,
}

/// `ListMetrics`' dimension filter: a name, and a value or any.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DimensionFilter {
    /// The dimension's name.
    pub name: Option<String>,
    /// Its value; any when not given.
    pub value: Option<String>,
}

/// `ListMetrics`' input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListMetricsInput {
    /// Only this namespace.
    pub namespace: Option<String>,
    /// Only metrics of this name.
    pub metric_name: Option<String>,
    /// Only metrics with these dimensions.
    pub dimensions: Option<Vec<DimensionFilter>>,
    /// The page after a previous one.
    pub next_token: Option<String>,
    /// Only metrics with data in the last three hours.
    pub recently_active: Option<RecentlyActive>,
    /// Monitoring accounts only: berth has no linked accounts.
    pub include_linked_accounts: Option<bool>,
    /// Monitoring accounts only.
    pub owning_account: Option<String>,
}

/// `ListMetrics`' output.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListMetricsOutput {
    /// The metrics of this page.
    pub metrics: Vec<Metric>,
    /// The next page, if there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// `GetMetricStatistics`' input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetMetricStatisticsInput {
    /// The namespace.
    pub namespace: Option<String>,
    /// The metric's name.
    pub metric_name: Option<String>,
    /// Its dimensions, exactly.
    pub dimensions: Option<Vec<Dimension>>,
    /// From (inclusive), epoch seconds.
    pub start_time: Option<f64>,
    /// To (exclusive).
    pub end_time: Option<f64>,
    /// Seconds per datapoint.
    pub period: Option<i64>,
    /// The statistics.
    pub statistics: Option<Vec<Statistic>>,
    /// Percentiles, `p0.0` to `p100`.
    pub extended_statistics: Option<Vec<String>>,
    /// Only datapoints of this unit.
    pub unit: Option<StandardUnit>,
}

/// One datapoint of `GetMetricStatistics`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Datapoint {
    /// The start of its period.
    pub timestamp: f64,
    /// How many values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_count: Option<f64>,
    /// Their average.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub average: Option<f64>,
    /// Their sum.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sum: Option<f64>,
    /// The least.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum: Option<f64>,
    /// The greatest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum: Option<f64>,
    /// Their unit.
    pub unit: StandardUnit,
    /// The percentiles asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extended_statistics: Option<BTreeMap<String, f64>>,
}

/// `GetMetricStatistics`' output.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetMetricStatisticsOutput {
    /// The metric's name.
    pub label: String,
    /// One per period with data.
    pub datapoints: Vec<Datapoint>,
}

/// A metric and the statistic of it a `GetMetricData` query wants.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricStat {
    /// The metric.
    pub metric: Option<Metric>,
    /// Seconds per datapoint.
    pub period: Option<i64>,
    /// `Sum`, `Average`, `p99`, ...
    pub stat: Option<String>,
    /// Only datapoints of this unit.
    pub unit: Option<StandardUnit>,
}

/// One query of `GetMetricData`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricDataQuery {
    /// What expressions call it, and its result's id.
    pub id: Option<String>,
    /// A metric's statistic ...
    pub metric_stat: Option<MetricStat>,
    /// ... or a math expression.
    pub expression: Option<String>,
    /// The result's label.
    pub label: Option<String>,
    /// Whether the result is returned (default true).
    pub return_data: Option<bool>,
    /// An expression's period.
    pub period: Option<i64>,
    /// Cross-account observability: only the caller's own account is served.
    pub account_id: Option<String>,
}

/// `GetMetricData`'s input.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetMetricDataInput {
    /// The queries.
    pub metric_data_queries: Option<Vec<MetricDataQuery>>,
    /// From (inclusive), epoch seconds.
    pub start_time: Option<f64>,
    /// To (exclusive).
    pub end_time: Option<f64>,
    /// The page after a previous one.
    pub next_token: Option<String>,
    /// Newest first (default) or oldest first.
    pub scan_by: Option<ScanBy>,
    /// How many datapoints a page holds at most (default 100,800).
    pub max_datapoints: Option<i64>,
    /// The labels' time zone (berth: UTC).
    pub label_options: Option<serde_json::Value>,
}

/// A message about a result or the whole call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MessageData {
    /// What kind (`ArithmeticError`, ...).
    pub code: String,
    /// What happened.
    pub value: String,
}

/// One result of `GetMetricData`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricDataResult {
    /// The query's id.
    pub id: String,
    /// Its label.
    pub label: String,
    /// The datapoints' times, in the order asked for.
    pub timestamps: Vec<f64>,
    /// Their values.
    pub values: Vec<f64>,
    /// Whether every datapoint is in (`PartialData`: more on the next page).
    pub status_code: StatusCode,
    /// What went wrong with it, if anything.
    pub messages: Vec<MessageData>,
}

/// `GetMetricData`'s output.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetMetricDataOutput {
    /// One per returned query (an expression giving many series: one per series).
    pub metric_data_results: Vec<MetricDataResult>,
    /// The next page, if there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    /// Messages about the whole call.
    pub messages: Vec<MessageData>,
}
