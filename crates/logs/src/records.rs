//! The documents CloudWatch Logs answers with, typed and spelled as the model spells
//! them, and its enums.

use std::collections::BTreeMap;

use serde::Serialize;

berth_awsproto::wire_enum! {
    /// A log group's class.
    #[derive(Default)]
    pub enum LogGroupClass {
        #[default]
        Standard = "STANDARD",
        InfrequentAccess = "INFREQUENT_ACCESS",
        Delivery = "DELIVERY",
    }
}

berth_awsproto::wire_enum! {
    /// How DescribeLogStreams orders its streams.
    #[derive(Default)]
    pub enum OrderBy {
        #[default]
        LogStreamName = "LogStreamName",
        LastEventTime = "LastEventTime",
    }
}

/// Tags: key to value.
pub type Tags = BTreeMap<String, String>;

/// A log group as DescribeLogGroups answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogGroup {
    /// Its name.
    pub log_group_name: String,
    /// When it was made, in ms since the epoch.
    pub creation_time: i64,
    /// How many days its events are kept (none: forever).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_in_days: Option<i32>,
    /// berth keeps no metric filters: always 0.
    pub metric_filter_count: i32,
    /// `arn:aws:logs:<region>:<account>:log-group:<name>:*`.
    pub arn: String,
    /// The bytes of its events' messages.
    pub stored_bytes: i64,
    /// The KMS key it was made with (echoed; berth encrypts nothing with it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    /// Its class.
    pub log_group_class: LogGroupClass,
    /// The ARN without the trailing `:*`.
    pub log_group_arn: String,
    /// Whether DeleteLogGroup is refused.
    pub deletion_protection_enabled: bool,
}

/// A log stream as DescribeLogStreams answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogStream {
    /// Its name.
    pub log_stream_name: String,
    /// When it was made, in ms since the epoch.
    pub creation_time: i64,
    /// The earliest event timestamp it holds (none before its first event).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_event_timestamp: Option<i64>,
    /// The latest event timestamp it holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_event_timestamp: Option<i64>,
    /// When its last batch was ingested.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_ingestion_time: Option<i64>,
    /// The token its last PutLogEvents answered (none before the first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload_sequence_token: Option<String>,
    /// `arn:aws:logs:<region>:<account>:log-group:<group>:log-stream:<name>`.
    pub arn: String,
    /// The bytes of its events' messages.
    pub stored_bytes: i64,
}

/// An event as GetLogEvents answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputLogEvent {
    /// When it happened, in ms since the epoch.
    pub timestamp: i64,
    /// Its text.
    pub message: String,
    /// When berth took it in, in ms since the epoch.
    pub ingestion_time: i64,
}

/// An event as FilterLogEvents answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FilteredLogEvent {
    /// The stream it is in.
    pub log_stream_name: String,
    /// When it happened, in ms since the epoch.
    pub timestamp: i64,
    /// Its text.
    pub message: String,
    /// When berth took it in, in ms since the epoch.
    pub ingestion_time: i64,
    /// Its id: unique, growing with ingestion.
    pub event_id: String,
}

/// The events of a PutLogEvents batch that were not stored, by index.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RejectedLogEventsInfo {
    /// Events from this index on are more than 2 hours in the future.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub too_new_log_event_start_index: Option<usize>,
    /// Events up to this index are older than 14 days.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub too_old_log_event_end_index: Option<usize>,
    /// Events up to this index are older than the group's retention.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expired_log_event_end_index: Option<usize>,
}

impl RejectedLogEventsInfo {
    /// True when every event was accepted.
    pub fn is_empty(&self) -> bool {
        *self == RejectedLogEventsInfo::default()
    }
}

/// The ARN of a log group, without the trailing `:*`.
pub fn group_arn(region: &str, account: &str, group: &str) -> String {
    format!("arn:aws:logs:{region}:{account}:log-group:{group}")
}
