//! `ListMetrics` and `GetMetricStatistics`: reading the store by metric.

use berth_awsproto::{decode_token, encode_token, ApiError, Context};

use crate::db::{ListFilter, MetricKey, MetricStore, Resolution};
use crate::model::{
    Datapoint, Dimension, DimensionFilter, GetMetricStatisticsInput, GetMetricStatisticsOutput,
    ListMetricsInput, ListMetricsOutput, Metric, Statistic,
};
use crate::rules::{
    self, bad_value, check, combination, invalid, missing, Rule, INVALID_PARAMETER_VALUE,
};
use crate::stats::{buckets, parse_percentile, Bucket, Stat, Window};

/// Metrics per `ListMetrics` page, as CloudWatch pages them.
pub const PAGE: usize = 500;
/// The most datapoints `GetMetricStatistics` answers.
pub const MAX_DATAPOINTS: i64 = 1440;
/// `RecentlyActive`'s window: three hours.
const RECENT: f64 = 3.0 * 3600.0;

const FILTER: &[Rule<DimensionFilter>] = &[
    Rule::Required("Name", |d| d.name.is_some()),
    Rule::Len("Name", |d| d.name.as_deref(), 1, 255),
    Rule::Len("Value", |d| d.value.as_deref(), 1, 1024),
];

/// A metric as the API shows it.
pub fn metric_of(k: &MetricKey) -> Metric {
    Metric {
        namespace: Some(k.namespace.clone()),
        metric_name: Some(k.name.clone()),
        dimensions: Some(
            k.dims
                .iter()
                .map(|(n, v)| Dimension {
                    name: Some(n.clone()),
                    value: Some(v.clone()),
                })
                .collect(),
        ),
    }
}

/// Whether a metric has every filtered dimension (with its value, when given).
fn matches(k: &MetricKey, filters: &[DimensionFilter]) -> bool {
    filters.iter().all(|f| {
        k.dims.iter().any(|(n, v)| {
            Some(n) == f.name.as_ref() && f.value.as_ref().is_none_or(|want| want == v)
        })
    })
}

fn page_after(token: Option<&str>) -> Result<i64, ApiError> {
    let Some(t) = token else { return Ok(0) };
    decode_token(t, "NextToken", INVALID_PARAMETER_VALUE)?
        .strip_prefix("metric:")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| invalid("The parameter NextToken is not a valid pagination token."))
}

/// `ListMetrics`: the caller's metrics, filtered, a page at a time.
pub fn list_metrics(
    store: &MetricStore,
    ctx: &Context,
    input: ListMetricsInput,
    now: f64,
) -> Result<ListMetricsOutput, ApiError> {
    let filters = input.dimensions.unwrap_or_default();
    if filters.len() > 10 {
        return Err(invalid(
            "The collection Dimensions must not have a size greater than 10.",
        ));
    }
    for (i, f) in filters.iter().enumerate() {
        check(FILTER, f, &format!("Dimensions.member.{}.", i + 1))?;
    }
    let ns = match input.namespace.as_deref() {
        Some(ns) => Some(rules::namespace(Some(ns), false)?),
        None => None,
    };
    let filter = ListFilter {
        namespace: ns,
        name: input.metric_name.as_deref(),
        after: page_after(input.next_token.as_deref())?,
        active_since: input.recently_active.map_or(0, |_| (now - RECENT) as i64),
    };
    let mut page = store.list(ctx, &filter, |k| matches(k, &filters), PAGE + 1)?;
    let more = page.len() > PAGE;
    page.truncate(PAGE);
    let next_token = match (more, page.last()) {
        (true, Some((id, _))) => Some(encode_token(&format!("metric:{id}"))),
        _ => None,
    };
    Ok(ListMetricsOutput {
        metrics: page.iter().map(|(_, k)| metric_of(k)).collect(),
        next_token,
    })
}

/// The statistics `GetMetricStatistics` asks for: plain ones or percentiles, not both.
fn wanted_stats(input: &GetMetricStatisticsInput) -> Result<Vec<(String, Stat)>, ApiError> {
    match (&input.statistics, &input.extended_statistics) {
        (Some(_), Some(_)) | (None, None) => Err(combination(
            "Must specify either Statistics or ExtendedStatistics, but not both.",
        )),
        (Some(s), None) => {
            if s.is_empty() || s.len() > 5 {
                return Err(invalid(
                    "The collection Statistics must have between 1 and 5 members.",
                ));
            }
            Ok(s.iter()
                .map(|x| (x.as_str().to_string(), Stat::Plain(*x)))
                .collect())
        }
        (None, Some(e)) => {
            if e.is_empty() || e.len() > 10 {
                return Err(invalid(
                    "The collection ExtendedStatistics must have between 1 and 10 members.",
                ));
            }
            e.iter()
                .enumerate()
                .map(|(i, x)| match parse_percentile(x) {
                    Some(p) => Ok((x.clone(), Stat::Percentile(p))),
                    None => Err(bad_value(
                        &format!("ExtendedStatistics.member.{}", i + 1),
                        x,
                    )),
                })
                .collect()
        }
    }
}

/// Checks `[start, end)` and `period` of a statistics request.
fn window(input: &GetMetricStatisticsInput) -> Result<Window, ApiError> {
    let start = input.start_time.ok_or_else(|| missing("StartTime"))?;
    let end = input.end_time.ok_or_else(|| missing("EndTime"))?;
    let period = input.period.ok_or_else(|| missing("Period"))?;
    if !rules::period_ok(period) {
        return Err(invalid(format!(
            "The parameter Period must be 1, 5, 10, 30 or a multiple of 60, not {period}."
        )));
    }
    if start >= end {
        return Err(invalid(
            "The parameter StartTime must be less than the parameter EndTime.",
        ));
    }
    let w = Window::new(start, end, period);
    if w.periods() > MAX_DATAPOINTS {
        return Err(combination(format!(
            "You have requested up to {} datapoints, which exceeds the limit of {MAX_DATAPOINTS}. \
             You may reduce the datapoints requested by increasing Period, or decreasing the time range.",
            w.periods()
        )));
    }
    Ok(w)
}

fn datapoint(
    ts: i64,
    unit: crate::model::StandardUnit,
    b: &Bucket,
    stats: &[(String, Stat)],
) -> Datapoint {
    let mut d = Datapoint {
        timestamp: ts as f64,
        unit,
        ..Default::default()
    };
    for (name, stat) in stats {
        let v = Some(b.stat(*stat));
        match stat {
            Stat::Plain(Statistic::SampleCount) => d.sample_count = v,
            Stat::Plain(Statistic::Average) => d.average = v,
            Stat::Plain(Statistic::Sum) => d.sum = v,
            Stat::Plain(Statistic::Minimum) => d.minimum = v,
            Stat::Plain(Statistic::Maximum) => d.maximum = v,
            Stat::Percentile(_) => {
                let map = d.extended_statistics.get_or_insert_with(Default::default);
                map.insert(name.clone(), b.stat(*stat));
            }
        }
    }
    d
}

/// `GetMetricStatistics`: one metric's statistics per period, a datapoint per period
/// and unit with data.
pub fn get_metric_statistics(
    store: &MetricStore,
    ctx: &Context,
    input: GetMetricStatisticsInput,
) -> Result<GetMetricStatisticsOutput, ApiError> {
    let ns = rules::namespace(input.namespace.as_deref(), false)?;
    let name = rules::metric_name(input.metric_name.as_deref(), "MetricName")?;
    let dims = rules::dimensions(
        input.dimensions.as_deref().unwrap_or_default(),
        "Dimensions",
    )?;
    let w = window(&input)?;
    let stats = wanted_stats(&input)?;
    let key = MetricKey::new(ns, name, dims);
    let mut out = GetMetricStatisticsOutput {
        label: name.to_string(),
        datapoints: Vec::new(),
    };
    let Some(id) = store.find(ctx, &key)? else {
        return Ok(out);
    };
    let points = store.points(
        id,
        Resolution::for_period(w.period),
        w.start,
        w.end,
        input.unit,
    )?;
    out.datapoints = buckets(&points, &w)
        .iter()
        .map(|((ts, unit), b)| datapoint(*ts, *unit, b, &stats))
        .collect();
    Ok(out)
}
