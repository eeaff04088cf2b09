//! `GetMetricData`: metric queries and math expressions over one time range, checked
//! first (ids, one of metric or expression, periods, statistics, expressions that
//! parse and name queries that exist, no cycle), then evaluated lazily (a query is
//! read once, whatever names it), then paged by datapoints.

use std::collections::HashMap;

use berth_awsproto::{decode_token, encode_token, ApiError, Context};

use crate::db::{MetricKey, MetricStore, Resolution};
use crate::expr::{self, Env, Expr, Series, Val};
use crate::model::{
    GetMetricDataInput, GetMetricDataOutput, MessageData, MetricDataQuery, MetricDataResult,
    MetricStat, ScanBy, StandardUnit, StatusCode,
};
use crate::rules::{self, invalid, missing, validation, INVALID_NEXT_TOKEN};
use crate::stats::{buckets_any_unit, parse_stat, Stat, Window};

/// The most queries one call may carry.
pub const MAX_QUERIES: usize = 500;
/// The most datapoints a page holds unless `MaxDatapoints` says fewer.
pub const DEFAULT_MAX_DATAPOINTS: i64 = 100_800;
/// The longest expression.
const MAX_EXPRESSION: usize = 2048;
/// CloudWatch's message for dropped non-finite datapoints.
const ARITHMETIC: &str = "One or more data-points have been dropped due to non-numeric values (NaN, -Infinite, +Infinite)";

/// What a query computes.
#[derive(Debug, Clone)]
enum Kind {
    Stat {
        key: MetricKey,
        period: i64,
        stat: Stat,
        unit: Option<StandardUnit>,
    },
    Expr {
        expr: Expr,
        text: String,
        period: Option<i64>,
    },
}

#[derive(Debug, Clone)]
struct Query {
    id: String,
    label: Option<String>,
    return_data: bool,
    kind: Kind,
}

/// A checked request.
#[derive(Debug)]
struct Plan {
    queries: Vec<Query>,
    start: f64,
    end: f64,
    scan: ScanBy,
    max_points: usize,
    offset: usize,
}

/// A query id: a lowercase letter first, then letters, digits and underscores.
fn id_ok(id: &str) -> bool {
    let mut c = id.chars();
    c.next().is_some_and(|f| f.is_ascii_lowercase())
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
        && id.len() <= 255
}

fn metric_stat(ms: &MetricStat, f: &str) -> Result<Kind, ApiError> {
    let m = ms
        .metric
        .as_ref()
        .ok_or_else(|| missing(&format!("{f}.Metric")))?;
    let ns = rules::namespace(m.namespace.as_deref(), false)
        .map_err(|_| missing(&format!("{f}.Metric.Namespace")))?;
    let name = rules::metric_name(m.metric_name.as_deref(), &format!("{f}.Metric.MetricName"))?;
    let dims = rules::dimensions(
        m.dimensions.as_deref().unwrap_or_default(),
        &format!("{f}.Metric.Dimensions"),
    )?;
    let period = ms.period.ok_or_else(|| missing(&format!("{f}.Period")))?;
    if !rules::period_ok(period) {
        return Err(rules::bad_value(&format!("{f}.Period"), period));
    }
    let stat = ms
        .stat
        .as_deref()
        .ok_or_else(|| missing(&format!("{f}.Stat")))?;
    let stat = parse_stat(stat).ok_or_else(|| rules::bad_value(&format!("{f}.Stat"), stat))?;
    Ok(Kind::Stat {
        key: MetricKey::new(ns, name, dims),
        period,
        stat,
        unit: ms.unit,
    })
}

fn query(q: &MetricDataQuery, f: &str) -> Result<Query, ApiError> {
    let id = q.id.clone().ok_or_else(|| missing(&format!("{f}.Id")))?;
    if !id_ok(&id) {
        return Err(validation(format!(
            "The value {id} for parameter {f}.Id is invalid: it must start with a lowercase letter and hold only letters, numbers and underscores."
        )));
    }
    let kind = match (&q.metric_stat, &q.expression) {
        (Some(ms), None) => metric_stat(ms, &format!("{f}.MetricStat"))?,
        (None, Some(text)) => {
            if text.is_empty() || text.len() > MAX_EXPRESSION {
                return Err(validation(format!("The parameter {f}.Expression must be between 1 and {MAX_EXPRESSION} characters long.")));
            }
            let expr = expr::parse(text)
                .map_err(|why| validation(format!("Error in expression {id}: {why}")))?;
            if let Some(p) = q.period.filter(|p| !rules::period_ok(*p)) {
                return Err(rules::bad_value(&format!("{f}.Period"), p));
            }
            Kind::Expr {
                expr,
                text: text.clone(),
                period: q.period,
            }
        }
        _ => {
            return Err(validation(format!(
                "Exactly one of {f}.MetricStat and {f}.Expression must be specified."
            )))
        }
    };
    Ok(Query {
        id,
        label: q.label.clone(),
        return_data: q.return_data.unwrap_or(true),
        kind,
    })
}

/// Every name an expression uses is another query's id.
fn check_refs(queries: &[Query]) -> Result<(), ApiError> {
    for q in queries {
        let Kind::Expr { expr, .. } = &q.kind else {
            continue;
        };
        let mut names = Vec::new();
        expr::refs(expr, &mut names);
        for n in names {
            if n == q.id || !queries.iter().any(|o| o.id == n) {
                return Err(validation(format!(
                    "Error in expression {}: Unrecognized metric or expression {n}",
                    q.id
                )));
            }
        }
    }
    Ok(())
}

fn plan(input: GetMetricDataInput) -> Result<Plan, ApiError> {
    let raw = input
        .metric_data_queries
        .ok_or_else(|| missing("MetricDataQueries"))?;
    if raw.is_empty() || raw.len() > MAX_QUERIES {
        return Err(validation(format!(
            "The collection MetricDataQueries must have between 1 and {MAX_QUERIES} members."
        )));
    }
    let start = input.start_time.ok_or_else(|| missing("StartTime"))?;
    let end = input.end_time.ok_or_else(|| missing("EndTime"))?;
    if start >= end {
        return Err(validation(
            "The parameter StartTime must be less than the parameter EndTime.",
        ));
    }
    let mut queries: Vec<Query> = Vec::with_capacity(raw.len());
    for (i, q) in raw.iter().enumerate() {
        let q = query(q, &format!("MetricDataQueries.member.{}", i + 1))?;
        if queries.iter().any(|o| o.id == q.id) {
            return Err(validation(format!(
                "The value {} for parameter MetricDataQueries.member.{}.Id is not unique.",
                q.id,
                i + 1
            )));
        }
        queries.push(q);
    }
    check_refs(&queries)?;
    let max = input.max_datapoints.unwrap_or(DEFAULT_MAX_DATAPOINTS);
    if max < 1 {
        return Err(invalid(format!(
            "The value {max} for parameter MaxDatapoints is invalid."
        )));
    }
    let offset = match input.next_token.as_deref() {
        None => 0,
        Some(t) => page_offset(t)?,
    };
    Ok(Plan {
        queries,
        start,
        end,
        scan: input.scan_by.unwrap_or(ScanBy::TimestampDescending),
        max_points: max as usize,
        offset,
    })
}

fn page_offset(token: &str) -> Result<usize, ApiError> {
    decode_token(token, "NextToken", INVALID_NEXT_TOKEN)?
        .strip_prefix("datapoint:")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| {
            ApiError::new(
                400,
                INVALID_NEXT_TOKEN,
                "The NextToken is not a valid pagination token.",
            )
        })
}

/// Evaluates the plan's queries against the store.
struct Evaluator<'a> {
    store: &'a MetricStore,
    ctx: &'a Context,
    plan: &'a Plan,
    done: HashMap<String, Val>,
    visiting: Vec<String>,
    grid: Vec<i64>,
}

impl Evaluator<'_> {
    /// The smallest period of the request's metric queries (60 when it has none).
    fn default_period(&self) -> i64 {
        let periods = self.plan.queries.iter().filter_map(|q| match q.kind {
            Kind::Stat { period, .. } => Some(period),
            Kind::Expr { .. } => None,
        });
        periods.min().unwrap_or(60)
    }

    fn window(&self, period: i64) -> Window {
        Window::new(self.plan.start, self.plan.end, period)
    }

    fn fetch(&self, q: &Query) -> Result<Series, String> {
        let Kind::Stat {
            key,
            period,
            stat,
            unit,
        } = &q.kind
        else {
            unreachable!("only metric queries are fetched")
        };
        let label = q.label.clone().unwrap_or_else(|| key.name.clone());
        let mut series = Series {
            label,
            points: Default::default(),
        };
        let Some(id) = self.store.find(self.ctx, key).map_err(|e| e.to_string())? else {
            return Ok(series);
        };
        let w = self.window(*period);
        let res = Resolution::for_period(*period);
        let points = self
            .store
            .points(id, res, w.start, w.end, *unit)
            .map_err(|e| e.to_string())?;
        series.points = buckets_any_unit(&points, &w)
            .into_iter()
            .map(|(t, b)| (t, b.stat(*stat)))
            .collect();
        Ok(series)
    }

    fn evaluate(&mut self, q: &Query) -> Result<Val, String> {
        match &q.kind {
            Kind::Stat { .. } => self.fetch(q).map(Val::Series),
            Kind::Expr { expr, period, .. } => {
                let grid = self
                    .window(period.unwrap_or_else(|| self.default_period()))
                    .grid();
                let outer = std::mem::replace(&mut self.grid, grid);
                let v = expr::eval(expr, self);
                self.grid = outer;
                v
            }
        }
    }
}

impl Env for Evaluator<'_> {
    fn lookup(&mut self, id: &str) -> Result<Val, String> {
        if let Some(v) = self.done.get(id) {
            return Ok(v.clone());
        }
        if self.visiting.iter().any(|v| v == id) {
            return Err(format!("circular reference to {id}"));
        }
        let plan = self.plan;
        let q = plan
            .queries
            .iter()
            .find(|q| q.id == id)
            .ok_or_else(|| format!("Unrecognized metric or expression {id}"))?;
        self.visiting.push(id.to_string());
        let v = self.evaluate(q);
        self.visiting.pop();
        let v = v?;
        self.done.insert(id.to_string(), v.clone());
        Ok(v)
    }

    fn metrics(&mut self, filter: Option<&str>) -> Result<Vec<Series>, String> {
        let plan = self.plan;
        let mut out = Vec::new();
        for q in plan
            .queries
            .iter()
            .filter(|q| matches!(q.kind, Kind::Stat { .. }))
        {
            if let Val::Series(s) = self.lookup(&q.id)? {
                if filter.is_none_or(|f| s.label.contains(f)) {
                    out.push(s);
                }
            }
        }
        Ok(out)
    }

    fn grid(&self) -> &[i64] {
        &self.grid
    }
}

/// One returned series before paging.
struct Out {
    id: String,
    label: String,
    points: Vec<(i64, f64)>,
    messages: Vec<MessageData>,
}

fn outputs(q: &Query, v: Val, grid: &[i64]) -> Vec<Out> {
    // A metric's series is labelled by its name, an expression's by its id.
    let label = match (&q.label, &q.kind, &v) {
        (Some(l), _, _) => l.clone(),
        (None, Kind::Stat { key, .. }, _) => key.name.clone(),
        (None, Kind::Expr { .. }, _) => q.id.clone(),
    };
    let series = match v {
        Val::Series(s) => vec![Series {
            label,
            points: s.points,
        }],
        Val::Scalar(x) => vec![Series {
            label,
            points: grid.iter().map(|t| (*t, x)).collect(),
        }],
        Val::Array(a) => a
            .into_iter()
            .map(|s| Series {
                label: q
                    .label
                    .as_ref()
                    .map_or(s.label.clone(), |l| format!("{l} {}", s.label)),
                points: s.points,
            })
            .collect(),
    };
    series
        .into_iter()
        .map(|s| {
            let total = s.points.len();
            let points: Vec<(i64, f64)> = s
                .points
                .into_iter()
                .filter(|(_, v)| v.is_finite())
                .collect();
            let messages = if points.len() < total {
                vec![MessageData {
                    code: "ArithmeticError".into(),
                    value: ARITHMETIC.into(),
                }]
            } else {
                Vec::new()
            };
            Out {
                id: q.id.clone(),
                label: s.label,
                points,
                messages,
            }
        })
        .collect()
}

/// Every returned query's series, in request order, in the order asked for.
fn evaluate_all(store: &MetricStore, ctx: &Context, plan: &Plan) -> Result<Vec<Out>, ApiError> {
    let mut ev = Evaluator {
        store,
        ctx,
        plan,
        done: HashMap::new(),
        visiting: Vec::new(),
        grid: Vec::new(),
    };
    let mut out = Vec::new();
    for q in plan.queries.iter().filter(|q| q.return_data) {
        let v = ev.lookup(&q.id).map_err(|why| match &q.kind {
            Kind::Expr { text, .. } => {
                validation(format!("Error in expression {} ({text}): {why}", q.id))
            }
            Kind::Stat { .. } => ApiError::new(500, "InternalServiceError", why),
        })?;
        let period = match &q.kind {
            Kind::Stat { period, .. } => *period,
            Kind::Expr { period, .. } => period.unwrap_or_else(|| ev.default_period()),
        };
        out.extend(outputs(q, v, &ev.window(period).grid()));
    }
    if plan.scan == ScanBy::TimestampDescending {
        out.iter_mut().for_each(|o| o.points.reverse());
    }
    Ok(out)
}

/// The page of `outs` from `offset`, at most `max` datapoints.
fn page(outs: Vec<Out>, offset: usize, max: usize) -> GetMetricDataOutput {
    let mut before = 0;
    let mut results = Vec::new();
    let end = offset + max;
    let total: usize = outs.iter().map(|o| o.points.len()).sum();
    for o in outs {
        let (from, to) = (before, before + o.points.len());
        before = to;
        if to < offset || (to == offset && (offset > 0 || from < to)) {
            continue;
        }
        let slice = &o.points[offset.saturating_sub(from).min(o.points.len())
            ..(end.saturating_sub(from)).min(o.points.len())];
        results.push(MetricDataResult {
            id: o.id,
            label: o.label,
            timestamps: slice.iter().map(|(t, _)| *t as f64).collect(),
            values: slice.iter().map(|(_, v)| *v).collect(),
            status_code: if to <= end {
                StatusCode::Complete
            } else {
                StatusCode::PartialData
            },
            messages: o.messages,
        });
    }
    GetMetricDataOutput {
        metric_data_results: results,
        next_token: (total > end).then(|| encode_token(&format!("datapoint:{end}"))),
        messages: Vec::new(),
    }
}

/// `GetMetricData`.
pub fn get_metric_data(
    store: &MetricStore,
    ctx: &Context,
    input: GetMetricDataInput,
) -> Result<GetMetricDataOutput, ApiError> {
    let plan = plan(input)?;
    let outs = evaluate_all(store, ctx, &plan)?;
    Ok(page(outs, plan.offset, plan.max_points))
}
