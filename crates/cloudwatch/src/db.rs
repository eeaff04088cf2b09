//! The metric store: `<data dir>/metrics.db`, one SQLite file of its own (WAL,
//! `synchronous=FULL`: a write returns once its commit is on disk).
//!
//! `metrics` names each metric once per account and region (namespace, name and its
//! dimensions in canonical order, as JSON) with the time it last got data; `points`
//! holds the statistics (sum, count, min, max) of each metric per unit and per second
//! (high-resolution data, kept for hours) and per minute (all data, kept for days). A
//! minute's row is brought up to date by every write into that minute, so nothing
//! needs rolling up later: the sweep only drops what its retention has passed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use berth_awsproto::{ApiError, Context};
use rusqlite::{params, Connection, OptionalExtension};

use crate::model::StandardUnit;
use crate::retention::SweepPlan;

/// The file in the data directory.
pub const DB_FILE: &str = "metrics.db";

/// Errors of the metric store.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// SQLite failed.
    #[error("metric store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The data directory could not be made.
    #[error("creating {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A store failure is berth's fault: `InternalFailure`.
impl From<MetricsError> for ApiError {
    fn from(e: MetricsError) -> ApiError {
        ApiError::new(500, "InternalServiceError", e.to_string())
    }
}

/// A metric's identity within an account and region.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MetricKey {
    /// The namespace.
    pub namespace: String,
    /// The name.
    pub name: String,
    /// The dimensions, sorted by name (names are unique).
    pub dims: Vec<(String, String)>,
}

impl MetricKey {
    /// A key with its dimensions put in canonical order.
    pub fn new(namespace: &str, name: &str, mut dims: Vec<(String, String)>) -> MetricKey {
        dims.sort();
        MetricKey {
            namespace: namespace.to_string(),
            name: name.to_string(),
            dims,
        }
    }

    fn dims_text(&self) -> String {
        serde_json::to_string(&self.dims).expect("strings serialize")
    }
}

/// The statistics of some values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Agg {
    /// Their sum.
    pub sum: f64,
    /// How many.
    pub count: f64,
    /// The least.
    pub min: f64,
    /// The greatest.
    pub max: f64,
}

impl Agg {
    /// One value.
    pub fn one(v: f64) -> Agg {
        Agg {
            sum: v,
            count: 1.0,
            min: v,
            max: v,
        }
    }

    /// Both together.
    pub fn merge(self, o: Agg) -> Agg {
        Agg {
            sum: self.sum + o.sum,
            count: self.count + o.count,
            min: self.min.min(o.min),
            max: self.max.max(o.max),
        }
    }
}

/// How finely points are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Per second: high-resolution data, for periods under a minute.
    Second,
    /// Per minute: every datapoint.
    Minute,
}

impl Resolution {
    /// Seconds per row.
    pub fn seconds(self) -> i64 {
        match self {
            Resolution::Second => 1,
            Resolution::Minute => 60,
        }
    }

    /// The rows a period is read from: a whole number of minutes from minute rows.
    pub fn for_period(period: i64) -> Resolution {
        if period % 60 == 0 {
            Resolution::Minute
        } else {
            Resolution::Second
        }
    }
}

/// One datapoint to file.
#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    /// The metric.
    pub key: MetricKey,
    /// When, in seconds since the epoch.
    pub ts: i64,
    /// Its unit.
    pub unit: StandardUnit,
    /// Its statistics.
    pub agg: Agg,
    /// Kept per second too (storage resolution 1).
    pub high_res: bool,
}

/// A stored row: a second's or a minute's statistics of one unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// The start of its second or minute.
    pub ts: i64,
    /// The unit.
    pub unit: StandardUnit,
    /// The statistics.
    pub agg: Agg,
}

/// What a sweep removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    /// Second rows.
    pub seconds: usize,
    /// Minute rows.
    pub minutes: usize,
    /// Metrics with nothing left.
    pub metrics: usize,
}

/// The metric store. `Send + Sync`: share it in an `Arc`.
#[derive(Debug)]
pub struct MetricStore {
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    path: PathBuf,
}

fn open_conn(path: &Path) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: the WAL is synced on every commit, so an acknowledged write is durable.
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS metrics (
    id INTEGER PRIMARY KEY,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    dims TEXT NOT NULL,
    last_put INTEGER NOT NULL,
    UNIQUE (account, region, namespace, name, dims)
);
CREATE TABLE IF NOT EXISTS points (
    metric INTEGER NOT NULL,
    res INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    unit TEXT NOT NULL,
    sum REAL NOT NULL,
    count REAL NOT NULL,
    min REAL NOT NULL,
    max REAL NOT NULL,
    PRIMARY KEY (metric, res, ts, unit)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS points_age ON points(res, ts);
";

const UPSERT_METRIC: &str = "
INSERT INTO metrics (account, region, namespace, name, dims, last_put)
VALUES (?1, ?2, ?3, ?4, ?5, ?6)
ON CONFLICT (account, region, namespace, name, dims)
DO UPDATE SET last_put = max(last_put, excluded.last_put)
RETURNING id";

const UPSERT_POINT: &str = "
INSERT INTO points (metric, res, ts, unit, sum, count, min, max)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
ON CONFLICT (metric, res, ts, unit) DO UPDATE SET
    sum = sum + excluded.sum, count = count + excluded.count,
    min = min(min, excluded.min), max = max(max, excluded.max)";

impl MetricStore {
    /// Opens (creating if needed) `metrics.db` in `dir`.
    pub fn open(dir: &Path) -> Result<MetricStore, MetricsError> {
        std::fs::create_dir_all(dir).map_err(|source| MetricsError::DataDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(DB_FILE);
        let writer = open_conn(&path)?;
        writer.execute_batch(SCHEMA)?;
        let reader = open_conn(&path)?;
        Ok(MetricStore {
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            path,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Files `writes` for the caller's account and region in one transaction: all or
    /// none, on disk when this returns.
    pub fn put(&self, ctx: &Context, writes: &[Write]) -> Result<(), MetricsError> {
        let mut conn = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let tx = conn.transaction()?;
        {
            let mut metric = tx.prepare_cached(UPSERT_METRIC)?;
            let mut point = tx.prepare_cached(UPSERT_POINT)?;
            let mut ids: HashMap<&MetricKey, (i64, i64)> = HashMap::new();
            for w in writes {
                let id = match ids.get_mut(&w.key) {
                    Some((id, last)) if *last >= w.ts => *id,
                    _ => {
                        let (ns, name) = (&w.key.namespace, &w.key.name);
                        let args =
                            params![ctx.account, ctx.region, ns, name, w.key.dims_text(), w.ts];
                        let id: i64 = metric.query_row(args, |r| r.get(0))?;
                        ids.insert(&w.key, (id, w.ts));
                        id
                    }
                };
                let mut rows = vec![(Resolution::Minute, w.ts - w.ts.rem_euclid(60))];
                if w.high_res {
                    rows.push((Resolution::Second, w.ts));
                }
                for (res, ts) in rows {
                    let a = w.agg;
                    let unit = w.unit.as_str();
                    let args = params![id, res.seconds(), ts, unit, a.sum, a.count, a.min, a.max];
                    point.execute(args)?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The id of a metric of the caller's account and region, if it has one.
    pub fn find(&self, ctx: &Context, key: &MetricKey) -> Result<Option<i64>, MetricsError> {
        let conn = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        let mut q = conn.prepare_cached(
            "SELECT id FROM metrics WHERE account = ?1 AND region = ?2 AND namespace = ?3
             AND name = ?4 AND dims = ?5",
        )?;
        let args = params![
            ctx.account,
            ctx.region,
            key.namespace,
            key.name,
            key.dims_text()
        ];
        Ok(q.query_row(args, |r| r.get(0)).optional()?)
    }

    /// Up to `limit` metrics of the caller's account and region after id `after`, in id
    /// order, of `namespace` and `name` when given, with data since `active_since`, and
    /// that `keep` keeps.
    pub fn list(
        &self,
        ctx: &Context,
        filter: &ListFilter<'_>,
        keep: impl Fn(&MetricKey) -> bool,
        limit: usize,
    ) -> Result<Vec<(i64, MetricKey)>, MetricsError> {
        let conn = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        let mut q = conn.prepare_cached(
            "SELECT id, namespace, name, dims FROM metrics
             WHERE account = ?1 AND region = ?2 AND (?3 IS NULL OR namespace = ?3)
             AND (?4 IS NULL OR name = ?4) AND id > ?5 AND last_put >= ?6 ORDER BY id",
        )?;
        let args = params![
            ctx.account,
            ctx.region,
            filter.namespace,
            filter.name,
            filter.after,
            filter.active_since
        ];
        let mut rows = q.query(args)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let dims: String = r.get(3)?;
            let dims = serde_json::from_str(&dims).unwrap_or_default();
            let key = MetricKey {
                namespace: r.get(1)?,
                name: r.get(2)?,
                dims,
            };
            if keep(&key) {
                out.push((r.get(0)?, key));
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// The rows of metric `id` at `res` from `from` (inclusive) to `to` (exclusive), in
    /// time order, of `unit` only when given.
    pub fn points(
        &self,
        id: i64,
        res: Resolution,
        from: i64,
        to: i64,
        unit: Option<StandardUnit>,
    ) -> Result<Vec<Point>, MetricsError> {
        let conn = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        let mut q = conn.prepare_cached(
            "SELECT ts, unit, sum, count, min, max FROM points
             WHERE metric = ?1 AND res = ?2 AND ts >= ?3 AND ts < ?4
             AND (?5 IS NULL OR unit = ?5) ORDER BY ts",
        )?;
        let unit = unit.map(StandardUnit::as_str);
        let rows = q.query_map(params![id, res.seconds(), from, to, unit], |r| {
            let unit: String = r.get(1)?;
            Ok(Point {
                ts: r.get(0)?,
                unit: StandardUnit::parse(&unit).unwrap_or(StandardUnit::None),
                agg: Agg {
                    sum: r.get(2)?,
                    count: r.get(3)?,
                    min: r.get(4)?,
                    max: r.get(5)?,
                },
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Drops what `plan` says, in one transaction.
    pub fn sweep(&self, plan: &SweepPlan) -> Result<Swept, MetricsError> {
        let mut conn = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let tx = conn.transaction()?;
        let del = "DELETE FROM points WHERE res = ?1 AND ts < ?2";
        let seconds = tx.execute(del, params![1, plan.seconds_before])?;
        let minutes = tx.execute(del, params![60, plan.minutes_before])?;
        let metrics = tx.execute(
            "DELETE FROM metrics WHERE last_put < ?1
             AND NOT EXISTS (SELECT 1 FROM points WHERE points.metric = metrics.id)",
            params![plan.metrics_idle_before],
        )?;
        tx.commit()?;
        Ok(Swept {
            seconds,
            minutes,
            metrics,
        })
    }

    /// How many rows of each kind the store holds: (metrics, second rows, minute rows).
    pub fn counts(&self) -> Result<(u64, u64, u64), MetricsError> {
        let conn = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        let one = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0));
        Ok((
            one("SELECT count(*) FROM metrics")? as u64,
            one("SELECT count(*) FROM points WHERE res = 1")? as u64,
            one("SELECT count(*) FROM points WHERE res = 60")? as u64,
        ))
    }
}

/// What `list` narrows by in SQL.
#[derive(Debug, Clone, Default)]
pub struct ListFilter<'a> {
    /// Only this namespace.
    pub namespace: Option<&'a str>,
    /// Only this name.
    pub name: Option<&'a str>,
    /// Only ids above this.
    pub after: i64,
    /// Only metrics with data since this time (0: any).
    pub active_since: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, dims: &[(&str, &str)]) -> MetricKey {
        let dims = dims.iter().map(|(a, b)| (a.to_string(), b.to_string()));
        MetricKey::new("App", name, dims.collect())
    }

    fn write(k: &MetricKey, ts: i64, v: f64, high_res: bool) -> Write {
        Write {
            key: k.clone(),
            ts,
            unit: StandardUnit::Count,
            agg: Agg::one(v),
            high_res,
        }
    }

    #[test]
    fn points_add_up_per_second_and_minute_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = Context::default();
        let k = key("Hits", &[("b", "2"), ("a", "1")]);
        {
            let s = MetricStore::open(dir.path()).unwrap();
            let w = [
                write(&k, 120, 1.0, true),
                write(&k, 120, 3.0, true),
                write(&k, 150, 5.0, false),
            ];
            s.put(&ctx, &w).unwrap();
        }
        let s = MetricStore::open(dir.path()).unwrap();
        let id = s.find(&ctx, &k).unwrap().unwrap();
        let minute = s.points(id, Resolution::Minute, 0, 1000, None).unwrap();
        assert_eq!(minute.len(), 1);
        assert_eq!(
            minute[0].agg,
            Agg {
                sum: 9.0,
                count: 3.0,
                min: 1.0,
                max: 5.0
            }
        );
        let second = s.points(id, Resolution::Second, 0, 1000, None).unwrap();
        assert_eq!(
            second.len(),
            1,
            "standard resolution is kept per minute only"
        );
        assert_eq!(second[0].agg.sum, 4.0);
        assert!(s
            .points(id, Resolution::Minute, 0, 1000, Some(StandardUnit::Bytes))
            .unwrap()
            .is_empty());
        let other = Context::new("111122223333", "us-east-1");
        assert_eq!(s.find(&other, &k).unwrap(), None, "accounts are apart");
    }

    #[test]
    fn a_sweep_drops_what_retention_passed() {
        let dir = tempfile::tempdir().unwrap();
        let s = MetricStore::open(dir.path()).unwrap();
        let ctx = Context::default();
        let (old, new) = (key("Old", &[]), key("New", &[]));
        s.put(
            &ctx,
            &[write(&old, 60, 1.0, true), write(&new, 6000, 1.0, true)],
        )
        .unwrap();
        let plan = SweepPlan {
            seconds_before: 6000,
            minutes_before: 120,
            metrics_idle_before: 120,
        };
        let swept = s.sweep(&plan).unwrap();
        assert_eq!(
            swept,
            Swept {
                seconds: 1,
                minutes: 1,
                metrics: 1
            }
        );
        assert_eq!(s.find(&ctx, &old).unwrap(), None);
        assert_eq!(s.counts().unwrap(), (1, 1, 1));
    }
}
