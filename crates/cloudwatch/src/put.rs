//! `PutMetricData`: datapoints checked as CloudWatch checks them, then filed in one
//! transaction (all of them or, on any fault, none).

use berth_awsproto::{ApiError, Context};

use crate::db::{Agg, MetricKey, MetricStore, Write};
use crate::model::{MetricDatum, PutMetricDataInput, StandardUnit, StatisticSet};
use crate::rules::{self, bad_value, check, combination, invalid, missing, Rule};

/// The most datapoints one call may carry.
pub const MAX_DATUMS: usize = 1000;
/// The most `Values` one datapoint may carry.
pub const MAX_VALUES: usize = 150;
/// How far back a timestamp may be: two weeks.
pub const MAX_AGE: f64 = 14.0 * 86_400.0;
/// How far ahead: two hours.
pub const MAX_AHEAD: f64 = 2.0 * 3_600.0;
/// The smallest and largest magnitudes CloudWatch takes (and zero).
const MAGNITUDE: (f64, f64) = (8.515920e-109, 1.174271e+108);

const DATUM: &[Rule<MetricDatum>] = &[
    Rule::Required("MetricName", |d| d.metric_name.is_some()),
    Rule::Len("MetricName", |d| d.metric_name.as_deref(), 1, 255),
    Rule::Count("Values", |d| d.values.as_ref().map(Vec::len), MAX_VALUES),
    Rule::Count("Counts", |d| d.counts.as_ref().map(Vec::len), MAX_VALUES),
];

const STATISTIC_SET: &[Rule<StatisticSet>] = &[
    Rule::Required("SampleCount", |s| s.sample_count.is_some()),
    Rule::Required("Sum", |s| s.sum.is_some()),
    Rule::Required("Minimum", |s| s.minimum.is_some()),
    Rule::Required("Maximum", |s| s.maximum.is_some()),
];

/// Files `input`'s datapoints for the caller; `now` is the time (epoch seconds).
pub fn put_metric_data(
    store: &MetricStore,
    ctx: &Context,
    input: PutMetricDataInput,
    now: f64,
) -> Result<(), ApiError> {
    let ns = rules::namespace(input.namespace.as_deref(), true)?.to_string();
    let data = datums(input)?;
    let mut writes = Vec::with_capacity(data.len());
    for (field, d) in &data {
        if let Some(w) = datum_write(&ns, d, field, now)? {
            writes.push(w);
        }
    }
    store.put(ctx, &writes)?;
    Ok(())
}

/// Every datapoint with the name of its field.
fn datums(input: PutMetricDataInput) -> Result<Vec<(String, MetricDatum)>, ApiError> {
    let mut out = Vec::new();
    for (i, d) in input
        .metric_data
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        out.push((format!("MetricData.member.{}", i + 1), d));
    }
    for (i, e) in input
        .entity_metric_data
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        for (j, d) in e.metric_data.unwrap_or_default().into_iter().enumerate() {
            let field = format!(
                "EntityMetricData.member.{}.MetricData.member.{}",
                i + 1,
                j + 1
            );
            out.push((field, d));
        }
    }
    if out.is_empty() {
        return Err(missing("MetricData"));
    }
    if out.len() > MAX_DATUMS {
        return Err(invalid(format!(
            "The collection MetricData must not have a size greater than {MAX_DATUMS}."
        )));
    }
    Ok(out)
}

/// A value CloudWatch can keep: finite, zero or of a magnitude it takes.
fn value_ok(v: f64) -> bool {
    v == 0.0 || (v.is_finite() && (MAGNITUDE.0..=MAGNITUDE.1).contains(&v.abs()))
}

fn checked(v: f64, field: &str) -> Result<f64, ApiError> {
    if value_ok(v) {
        Ok(v)
    } else {
        Err(bad_value(field, v))
    }
}

/// The datapoint's statistics; `None` when its counts are all zero.
fn datum_agg(d: &MetricDatum, f: &str) -> Result<Option<Agg>, ApiError> {
    let given = [
        d.value.is_some(),
        d.values.is_some(),
        d.statistic_values.is_some(),
    ];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(combination(format!(
            "The parameters {f}.Value, {f}.Values and {f}.StatisticValues are mutually exclusive and you have specified more than one."
        )));
    }
    if let Some(v) = d.value {
        return Ok(Some(Agg::one(checked(v, &format!("{f}.Value"))?)));
    }
    if let Some(s) = &d.statistic_values {
        return statistic_set(s, &format!("{f}.StatisticValues")).map(Some);
    }
    match &d.values {
        Some(values) => values_agg(values, d.counts.as_deref(), f),
        None => Err(combination(format!(
            "One of the parameters {f}.Value, {f}.Values or {f}.StatisticValues must be specified."
        ))),
    }
}

fn statistic_set(s: &StatisticSet, f: &str) -> Result<Agg, ApiError> {
    check(STATISTIC_SET, s, &format!("{f}."))?;
    let n = checked(
        s.sample_count.unwrap_or_default(),
        &format!("{f}.SampleCount"),
    )?;
    let sum = checked(s.sum.unwrap_or_default(), &format!("{f}.Sum"))?;
    let min = checked(s.minimum.unwrap_or_default(), &format!("{f}.Minimum"))?;
    let max = checked(s.maximum.unwrap_or_default(), &format!("{f}.Maximum"))?;
    if n <= 0.0 {
        return Err(bad_value(&format!("{f}.SampleCount"), n));
    }
    if min > max {
        return Err(combination(format!(
            "The parameter {f}.Minimum must not be greater than {f}.Maximum."
        )));
    }
    Ok(Agg {
        sum,
        count: n,
        min,
        max,
    })
}

fn values_agg(values: &[f64], counts: Option<&[f64]>, f: &str) -> Result<Option<Agg>, ApiError> {
    if counts.is_some_and(|c| c.len() != values.len()) {
        return Err(combination(format!(
            "The parameters {f}.Values and {f}.Counts must be of the same size."
        )));
    }
    let mut agg: Option<Agg> = None;
    for (i, v) in values.iter().enumerate() {
        let v = checked(*v, &format!("{f}.Values.member.{}", i + 1))?;
        let n = counts.map_or(1.0, |c| c[i]);
        if !(n.is_finite() && n >= 0.0) {
            return Err(bad_value(&format!("{f}.Counts.member.{}", i + 1), n));
        }
        if n == 0.0 {
            continue;
        }
        let a = Agg {
            sum: v * n,
            count: n,
            min: v,
            max: v,
        };
        agg = Some(agg.map_or(a, |b| b.merge(a)));
    }
    Ok(agg)
}

fn timestamp(d: &MetricDatum, f: &str, now: f64) -> Result<i64, ApiError> {
    let ts = d.timestamp.unwrap_or(now);
    if ts > now + MAX_AHEAD {
        return Err(invalid(format!(
            "The parameter {f}.Timestamp must specify a time no more than two hours in the future."
        )));
    }
    if ts < now - MAX_AGE {
        return Err(invalid(format!(
            "The parameter {f}.Timestamp must specify a time within the past two weeks."
        )));
    }
    Ok(ts.floor() as i64)
}

fn datum_write(ns: &str, d: &MetricDatum, f: &str, now: f64) -> Result<Option<Write>, ApiError> {
    check(DATUM, d, &format!("{f}."))?;
    let dims = rules::dimensions(
        d.dimensions.as_deref().unwrap_or_default(),
        &format!("{f}.Dimensions"),
    )?;
    let high_res = match d.storage_resolution {
        None | Some(60) => false,
        Some(1) => true,
        Some(r) => return Err(bad_value(&format!("{f}.StorageResolution"), r)),
    };
    let ts = timestamp(d, f, now)?;
    let Some(agg) = datum_agg(d, f)? else {
        return Ok(None);
    };
    Ok(Some(Write {
        key: MetricKey::new(ns, d.metric_name.as_deref().unwrap_or_default(), dims),
        ts,
        unit: d.unit.unwrap_or(StandardUnit::None),
        agg,
        high_res,
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::rules::{INVALID_PARAMETER_COMBINATION, INVALID_PARAMETER_VALUE, MISSING_PARAMETER};

    const NOW: f64 = 1_700_000_000.0;

    fn put(input: serde_json::Value) -> Result<MetricStore, ApiError> {
        let dir = tempfile::tempdir().unwrap().keep();
        let store = MetricStore::open(&dir).unwrap();
        let input: PutMetricDataInput = serde_json::from_value(input).unwrap();
        put_metric_data(&store, &Context::default(), input, NOW).map(|_| store)
    }

    #[test]
    fn faults_name_their_field_and_write_nothing() {
        let d = |extra: serde_json::Value| {
            let mut m = json!({"MetricName": "m", "Value": 1.0});
            for (k, v) in extra.as_object().unwrap() {
                m[k] = v.clone();
            }
            json!({"Namespace": "App", "MetricData": [{"MetricName": "ok", "Value": 1}, m]})
        };
        let cases = [
            (
                json!({"MetricData": [{"MetricName": "m", "Value": 1}]}),
                MISSING_PARAMETER,
                "Namespace",
            ),
            (
                json!({"Namespace": "AWS/ECS", "MetricData": [{"MetricName": "m", "Value": 1}]}),
                INVALID_PARAMETER_VALUE,
                "AWS/ECS",
            ),
            (json!({"Namespace": "App"}), MISSING_PARAMETER, "MetricData"),
            (
                json!({"Namespace": "App", "MetricData": [{"Value": 1}]}),
                MISSING_PARAMETER,
                "MetricData.member.1.MetricName",
            ),
            (
                d(json!({"Values": [1.0]})),
                INVALID_PARAMETER_COMBINATION,
                "MetricData.member.2.Value",
            ),
            (
                d(json!({"StorageResolution": 5})),
                INVALID_PARAMETER_VALUE,
                "MetricData.member.2.StorageResolution",
            ),
            (
                d(json!({"Timestamp": NOW + 3.0 * 3600.0})),
                INVALID_PARAMETER_VALUE,
                "MetricData.member.2.Timestamp",
            ),
            (
                d(json!({"Timestamp": NOW - 15.0 * 86400.0})),
                INVALID_PARAMETER_VALUE,
                "past two weeks",
            ),
            (
                d(json!({"Value": 1e200})),
                INVALID_PARAMETER_VALUE,
                "MetricData.member.2.Value",
            ),
            (
                d(json!({"Value": null, "Values": [1.0, 2.0], "Counts": [1.0]})),
                INVALID_PARAMETER_COMBINATION,
                "same size",
            ),
            (
                d(
                    json!({"Value": null, "StatisticValues": {"SampleCount": 1, "Sum": 1, "Minimum": 1}}),
                ),
                MISSING_PARAMETER,
                "MetricData.member.2.StatisticValues.Maximum",
            ),
            (
                d(
                    json!({"Value": null, "StatisticValues": {"SampleCount": 2, "Sum": 1, "Minimum": 3, "Maximum": 1}}),
                ),
                INVALID_PARAMETER_COMBINATION,
                "Minimum",
            ),
            (
                d(json!({"Value": null})),
                INVALID_PARAMETER_COMBINATION,
                "must be specified",
            ),
            (
                d(json!({"Dimensions": [{"Name": "a", "Value": ""}]})),
                INVALID_PARAMETER_VALUE,
                "MetricData.member.2.Dimensions.member.1.Value",
            ),
            (
                d(json!({"Value": null, "Values": vec![1.0; 151]})),
                INVALID_PARAMETER_VALUE,
                "MetricData.member.2.Values",
            ),
        ];
        for (input, code, field) in cases {
            let e = put(input.clone())
                .err()
                .unwrap_or_else(|| panic!("accepted {input}"));
            assert_eq!(e.code, code, "{input}: {}", e.message);
            assert!(e.message.contains(field), "{input}: {}", e.message);
        }
    }

    #[test]
    fn every_kind_of_datapoint_is_filed() {
        let store = put(json!({"Namespace": "App", "MetricData": [
            {"MetricName": "a", "Value": 2.0, "Unit": "Count", "Timestamp": NOW - 10.0},
            {"MetricName": "a", "Values": [1.0, 5.0, 9.0], "Counts": [2.0, 1.0, 0.0], "Timestamp": NOW - 10.0, "Unit": "Count"},
            {"MetricName": "a", "StatisticValues": {"SampleCount": 4, "Sum": 20, "Minimum": 0.5, "Maximum": 10}, "Unit": "Count", "Timestamp": NOW - 10.0},
        ]}))
        .unwrap();
        let ctx = Context::default();
        let id = store
            .find(&ctx, &MetricKey::new("App", "a", vec![]))
            .unwrap()
            .unwrap();
        let pts = store
            .points(id, crate::db::Resolution::Minute, 0, i64::MAX, None)
            .unwrap();
        assert_eq!(pts.len(), 1);
        assert_eq!(
            pts[0].agg,
            Agg {
                sum: 29.0,
                count: 8.0,
                min: 0.5,
                max: 10.0
            }
        );
        assert_eq!(pts[0].unit, StandardUnit::Count);
    }
}
