//! The `awslogs` log driver: a container's output (the file the runtime writes,
//! `<log dir>/<container>.log`) shipped to berth's CloudWatch Logs API, as ECS's
//! driver does, signed with the task's execution role.
//!
//! Before the task starts, each log stream is made (`prefix/container/task-id`), and its
//! group too with `awslogs-create-group`; a group that does not exist without it stops
//! the task with ECS's reason. While the task runs, a shipper per container reads new
//! complete lines, batches them (at most [`FLUSH_EVERY`] apart, within PutLogEvents'
//! limits) and puts them, retrying until the server takes them; at the task's end it
//! ships what is left. The files stay for `berth logs --file`.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use berth_runtime::ContainerSpec;
use serde::Deserialize;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::client::ServerClient;
use crate::error::{Error, Result};
use crate::roles::RoleSource;

const LOGS_TARGET: &str = "Logs_20140328";
/// The longest a line waits before it is put.
pub(crate) const FLUSH_EVERY: Duration = Duration::from_millis(250);
/// PutLogEvents' limits: events per call, bytes per call (each event counts 26 more),
/// bytes per event.
const MAX_EVENTS: usize = 10_000;
const MAX_BATCH_BYTES: usize = 1_048_576;
const EVENT_OVERHEAD: usize = 26;
const MAX_EVENT_BYTES: usize = 256 * 1024 - EVENT_OVERHEAD;
/// A partial line (no newline yet) is put as it is after this long.
const PARTIAL_AFTER: Duration = Duration::from_secs(2);
/// How long a stopping task's shippers may take to put what is left.
const FINAL_FLUSH: Duration = Duration::from_secs(10);

/// Where one container's output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogTarget {
    /// The container (its log file's name).
    pub container: String,
    pub group: String,
    pub stream: String,
    /// The region of the group (`awslogs-region`, else the task's).
    pub region: String,
    /// `awslogs-create-group`.
    pub create_group: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogConfiguration {
    log_driver: String,
    #[serde(default)]
    options: std::collections::BTreeMap<String, String>,
}

/// One container's output: its name (its log file's), the name ECS shows for it (the
/// proxy's stream is named after its ECS container name) and its `logConfiguration`.
pub(crate) struct Output<'a> {
    pub container: &'a str,
    pub shown: &'a str,
    pub log_configuration: Option<&'a serde_json::Value>,
}

impl<'a> From<&'a ContainerSpec> for Output<'a> {
    fn from(spec: &'a ContainerSpec) -> Output<'a> {
        Output {
            container: &spec.name,
            shown: &spec.name,
            log_configuration: spec.log_configuration.as_ref(),
        }
    }
}

/// The awslogs targets of a task's containers.
pub(crate) fn targets<'a>(
    containers: impl IntoIterator<Item = Output<'a>>,
    task_id: &str,
    region: &str,
) -> Result<Vec<LogTarget>> {
    let mut out = Vec::new();
    for c in containers {
        let Some(config) = c.log_configuration else {
            continue;
        };
        let config: LogConfiguration = serde_json::from_value(config.clone()).map_err(|e| {
            Error::Init(format!("container {}: logConfiguration: {e}", c.container))
        })?;
        if config.log_driver != "awslogs" {
            continue;
        }
        out.push(target(c.container, c.shown, task_id, region, &config)?);
    }
    Ok(out)
}

fn target(
    container: &str,
    shown: &str,
    task_id: &str,
    region: &str,
    config: &LogConfiguration,
) -> Result<LogTarget> {
    let opt = |k: &str| config.options.get(k).filter(|v| !v.is_empty());
    let group = opt("awslogs-group").ok_or_else(|| {
        Error::Init(format!(
            "failed to initialize logging driver: container {container}: awslogs-group is required"
        ))
    })?;
    let stream = match opt("awslogs-stream-prefix") {
        Some(prefix) => format!("{prefix}/{shown}/{task_id}"),
        None => format!("{shown}/{task_id}"),
    };
    let region = opt("awslogs-region")
        .filter(|r| region_shaped(r))
        .map_or(region, |r| r.as_str());
    Ok(LogTarget {
        container: container.to_string(),
        group: group.clone(),
        stream,
        region: region.to_string(),
        create_group: opt("awslogs-create-group").is_some_and(|v| v == "true"),
    })
}

/// A region's shape (`us-east-1`); anything else (an unexpanded `$AWS_REGION`) means
/// the task's region.
fn region_shaped(r: &str) -> bool {
    r.split('-').count() >= 3
        && r.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Makes each target's stream (and group, when asked to); a missing group is the
/// task's stoppedReason, as ECS words it.
pub(crate) async fn prepare(client: &ServerClient, targets: &[LogTarget]) -> Result<()> {
    for t in targets {
        let client = client.for_region(&t.region);
        if t.create_group {
            let input = json!({"logGroupName": t.group});
            ignore_exists(
                client
                    .call(LOGS_TARGET, "logs", "CreateLogGroup", &input)
                    .await,
            )
            .map_err(|e| logger_error("create group", &e))?;
        }
        let input = json!({"logGroupName": t.group, "logStreamName": t.stream});
        ignore_exists(
            client
                .call(LOGS_TARGET, "logs", "CreateLogStream", &input)
                .await,
        )
        .map_err(|e| logger_error("create stream", &e))?;
    }
    Ok(())
}

fn ignore_exists(r: Result<serde_json::Value>) -> Result<()> {
    match r {
        Ok(_) => Ok(()),
        Err(Error::Api { code, .. }) if code == "ResourceAlreadyExistsException" => Ok(()),
        Err(e) => Err(e),
    }
}

fn logger_error(what: &str, e: &Error) -> Error {
    let detail = match e {
        Error::Api { code, message } => format!("{code}: {message}"),
        other => other.to_string(),
    };
    let object = if what == "create group" {
        "failed to create Cloudwatch log group"
    } else {
        "failed to create Cloudwatch log stream"
    };
    Error::Init(format!(
        "failed to validate logger args: {what} has been retried 1 times: {object}: {detail} : exit status 1"
    ))
}

/// The file, in a task's log directory, that says where each awslogs container's
/// output went (for `berth logs`).
pub const SHIPPED_FILE: &str = "awslogs.json";

/// Where a container's output went.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct ShippedTo {
    /// The log group.
    pub group: String,
    /// The log stream.
    pub stream: String,
    /// The group's region.
    pub region: String,
}

/// Writes [`SHIPPED_FILE`] for `targets`.
fn record(log_dir: &Path, targets: &[LogTarget]) {
    let map: std::collections::BTreeMap<&str, ShippedTo> = targets
        .iter()
        .map(|t| {
            let to = ShippedTo {
                group: t.group.clone(),
                stream: t.stream.clone(),
                region: t.region.clone(),
            };
            (t.container.as_str(), to)
        })
        .collect();
    let text = serde_json::to_vec_pretty(&map).expect("a map serializes");
    if let Err(e) = std::fs::create_dir_all(log_dir)
        .and_then(|_| std::fs::write(log_dir.join(SHIPPED_FILE), text))
    {
        warn!(error = %e, "writing {SHIPPED_FILE}");
    }
}

/// The shippers of one task.
pub(crate) struct Shippers {
    stop: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
}

/// Starts a shipper per target, reading `<log_dir>/<container>.log`.
pub(crate) fn ship(roles: RoleSource, log_dir: &Path, targets: Vec<LogTarget>) -> Shippers {
    record(log_dir, &targets);
    let (stop, stopped) = watch::channel(false);
    let handles = targets
        .into_iter()
        .map(|t| {
            let file = log_dir.join(format!("{}.log", t.container));
            tokio::spawn(Shipper::new(roles.clone(), t, file, stopped.clone()).run())
        })
        .collect();
    Shippers { stop, handles }
}

impl Shippers {
    /// Ships what is left and ends (within [`FINAL_FLUSH`]).
    pub(crate) async fn finish(self) {
        let _ = self.stop.send(true);
        for h in self.handles {
            let abort = h.abort_handle();
            if tokio::time::timeout(FINAL_FLUSH, h).await.is_err() {
                abort.abort();
                warn!("a log shipper did not finish in time: its last lines were not put");
            }
        }
    }
}

/// One container's shipper.
struct Shipper {
    roles: RoleSource,
    target: LogTarget,
    file: PathBuf,
    stopped: watch::Receiver<bool>,
    /// Bytes of the file already put (or dropped).
    offset: u64,
    /// Read bytes not yet ending in a newline, and since when.
    partial: Vec<u8>,
    partial_since: Option<tokio::time::Instant>,
}

impl Shipper {
    fn new(
        roles: RoleSource,
        target: LogTarget,
        file: PathBuf,
        stopped: watch::Receiver<bool>,
    ) -> Shipper {
        Shipper {
            roles,
            target,
            file,
            stopped,
            offset: 0,
            partial: Vec::new(),
            partial_since: None,
        }
    }

    async fn run(mut self) {
        loop {
            let stopping = *self.stopped.borrow();
            let lines = self.read_lines(stopping).await;
            if !lines.is_empty() {
                self.put_all(lines).await;
            }
            if stopping {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(FLUSH_EVERY) => {}
                _ = self.stopped.changed() => {}
            }
        }
    }

    /// New complete lines of the file (and a partial one that waited long enough, or
    /// every byte when the task is stopping).
    async fn read_lines(&mut self, everything: bool) -> Vec<(i64, String)> {
        let mut buf = Vec::new();
        if let Ok(mut f) = tokio::fs::File::open(&self.file).await {
            if f.seek(std::io::SeekFrom::Start(self.offset)).await.is_ok() {
                let _ = f.read_to_end(&mut buf).await;
            }
        }
        self.offset += buf.len() as u64;
        if !buf.is_empty() && self.partial.is_empty() {
            self.partial_since = Some(tokio::time::Instant::now());
        }
        self.partial.extend_from_slice(&buf);
        let now = now_ms();
        let mut lines = Vec::new();
        while let Some(i) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=i).collect();
            lines.push((now, event_text(&line[..line.len() - 1])));
        }
        let waited = self
            .partial_since
            .is_some_and(|t| t.elapsed() >= PARTIAL_AFTER);
        if !self.partial.is_empty() && (everything || waited) {
            lines.push((now, event_text(&std::mem::take(&mut self.partial))));
        }
        if self.partial.is_empty() {
            self.partial_since = None;
        }
        lines
    }

    /// Puts `lines` in batches within PutLogEvents' limits, each retried until taken.
    async fn put_all(&self, lines: Vec<(i64, String)>) {
        for batch in batches(lines) {
            let mut wait = Duration::from_millis(200);
            loop {
                match self.put(&batch).await {
                    Ok(()) => break,
                    Err(e) => {
                        warn!(group = %self.target.group, stream = %self.target.stream, error = %e, "putting log events");
                        if *self.stopped.borrow() && wait > Duration::from_secs(3) {
                            return;
                        }
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(Duration::from_secs(5));
                    }
                }
            }
        }
    }

    async fn put(&self, batch: &[(i64, String)]) -> Result<()> {
        let events: Vec<_> = batch
            .iter()
            .map(|(t, m)| json!({"timestamp": t, "message": m}))
            .collect();
        let input = json!({
            "logGroupName": self.target.group,
            "logStreamName": self.target.stream,
            "logEvents": events,
        });
        let client = self
            .roles
            .execution_client()
            .for_region(&self.target.region);
        client
            .call(LOGS_TARGET, "logs", "PutLogEvents", &input)
            .await?;
        debug!(stream = %self.target.stream, events = batch.len(), "log events put");
        Ok(())
    }
}

/// A line as an event's message: valid UTF-8 (lossy), at most [`MAX_EVENT_BYTES`], no
/// trailing carriage return. An empty line is a single space (CloudWatch refuses
/// empty messages).
fn event_text(line: &[u8]) -> String {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut text = String::from_utf8_lossy(line).into_owned();
    if text.len() > MAX_EVENT_BYTES {
        let mut cut = MAX_EVENT_BYTES;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    if text.is_empty() {
        text.push(' ');
    }
    text
}

/// `lines` split into PutLogEvents calls.
fn batches(lines: Vec<(i64, String)>) -> Vec<Vec<(i64, String)>> {
    let mut out: Vec<Vec<(i64, String)>> = Vec::new();
    let mut bytes = 0;
    for line in lines {
        let size = line.1.len() + EVENT_OVERHEAD;
        let full = out
            .last()
            .is_none_or(|b| b.len() >= MAX_EVENTS || bytes + size > MAX_BATCH_BYTES);
        if full {
            out.push(Vec::new());
            bytes = 0;
        }
        bytes += size;
        out.last_mut().expect("a batch").push(line);
    }
    out
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, log: serde_json::Value) -> ContainerSpec {
        let mut s = ContainerSpec::new(name, "busybox");
        s.log_configuration = Some(log);
        s
    }

    #[test]
    fn streams_are_named_as_ecs_names_them() {
        let ui = spec(
            "ui",
            json!({"logDriver": "awslogs", "options": {"awslogs-group": "retail-store-ecs-tasks", "awslogs-region": "$AWS_REGION", "awslogs-stream-prefix": "ui-service"}}),
        );
        let cats = spec(
            "cats",
            json!({"logDriver": "awslogs", "options": {"awslogs-create-group": "true", "awslogs-group": "/ecs/catsdef", "awslogs-region": "ap-northeast-2", "awslogs-stream-prefix": "ecs"}}),
        );
        let plain = spec("plain", json!({"logDriver": "json-file"}));
        let bare = ContainerSpec::new("bare", "busybox");
        let proxy = spec(
            "ecs-service-connect",
            json!({"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/service-connect-proxy", "awslogs-stream-prefix": "proxy"}}),
        );
        let got = targets(
            [
                Output::from(&ui),
                Output::from(&cats),
                Output::from(&plain),
                Output::from(&bare),
                Output {
                    shown: "ecs-service-connect-Ab12Cd3",
                    ..Output::from(&proxy)
                },
            ],
            "0123abcd",
            "us-east-1",
        )
        .unwrap();
        let want = |c: &str, g: &str, s: &str, r: &str, create: bool| LogTarget {
            container: c.into(),
            group: g.into(),
            stream: s.into(),
            region: r.into(),
            create_group: create,
        };
        assert_eq!(
            got,
            vec![
                want(
                    "ui",
                    "retail-store-ecs-tasks",
                    "ui-service/ui/0123abcd",
                    "us-east-1",
                    false
                ),
                want(
                    "cats",
                    "/ecs/catsdef",
                    "ecs/cats/0123abcd",
                    "ap-northeast-2",
                    true
                ),
                want(
                    "ecs-service-connect",
                    "/ecs/service-connect-proxy",
                    "proxy/ecs-service-connect-Ab12Cd3/0123abcd",
                    "us-east-1",
                    false
                ),
            ]
        );
        let no_group = spec("x", json!({"logDriver": "awslogs", "options": {}}));
        assert!(targets([Output::from(&no_group)], "t", "us-east-1").is_err());
    }

    #[test]
    fn batches_keep_within_the_limits() {
        let lines: Vec<_> = (0..25_000).map(|i| (i, "x".repeat(10))).collect();
        let b = batches(lines);
        assert_eq!(
            b.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![10_000, 10_000, 5_000]
        );
        let big: Vec<_> = (0..10).map(|i| (i, "y".repeat(200_000))).collect();
        let b = batches(big);
        assert!(b
            .iter()
            .all(|b| b.iter().map(|l| l.1.len() + 26).sum::<usize>() <= MAX_BATCH_BYTES));
        assert_eq!(b.iter().map(Vec::len).sum::<usize>(), 10);
    }

    #[test]
    fn messages_are_text_within_an_events_size() {
        assert_eq!(event_text(b"hello\r"), "hello");
        assert_eq!(event_text(b""), " ");
        assert_eq!(event_text(&[0xff, b'a']), "\u{fffd}a");
        assert_eq!(event_text(&vec![b'z'; 300_000]).len(), MAX_EVENT_BYTES);
    }
}
