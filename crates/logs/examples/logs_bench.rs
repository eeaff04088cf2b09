//! CloudWatch Logs benchmark against a running `berth server` (see `bench/logs.sh`):
//! ingestion (events/s) with batches of 1, 100 and 1,000 events from several
//! concurrent streams, the latency from sending a PutLogEvents to seeing its event in
//! GetLogEvents (a poller following the forward token), and the database's bytes per
//! event. Rounds are interleaved; the table shows medians over rounds.
//!
//! A minimal blocking HTTP/1.1 client over keep-alive connections, requests signed
//! with the test credential a server on loopback accepts.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _};
use serde_json::{json, Value};

const GROUP: &str = "/bench/logs";
const BATCHES: [usize; 3] = [1, 100, 1000];

struct Args {
    endpoint: String,
    db: PathBuf,
    rounds: usize,
    seconds: f64,
    streams: usize,
    message_bytes: usize,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        endpoint: String::new(),
        db: PathBuf::new(),
        rounds: 3,
        seconds: 3.0,
        streams: 4,
        message_bytes: 100,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--endpoint" => {
                a.endpoint = v.trim_start_matches("http://").trim_end_matches('/').into()
            }
            "--db" => a.db = v.into(),
            "--rounds" => a.rounds = v.parse()?,
            "--seconds" => a.seconds = v.parse()?,
            "--streams" => a.streams = v.parse()?,
            "--message-bytes" => a.message_bytes = v.parse()?,
            _ => bail!("unknown flag {flag}"),
        }
    }
    if a.endpoint.is_empty() || a.db.as_os_str().is_empty() {
        bail!("usage: logs-bench --endpoint HOST:PORT --db DATA_DIR/logs.db [--rounds N --seconds S --streams C --message-bytes B]");
    }
    Ok(a)
}

/// One keep-alive connection speaking CloudWatch Logs' JSON 1.1.
struct Conn {
    host: String,
    io: BufReader<TcpStream>,
}

impl Conn {
    fn connect(host: &str) -> anyhow::Result<Conn> {
        let s = TcpStream::connect(host).with_context(|| format!("connecting to {host}"))?;
        s.set_nodelay(true)?;
        Ok(Conn {
            host: host.into(),
            io: BufReader::new(s),
        })
    }

    fn call(&mut self, op: &str, body: &Value) -> anyhow::Result<Value> {
        let body = serde_json::to_vec(body)?;
        let target = format!("Logs_20140328.{op}");
        let mut headers = http::HeaderMap::new();
        headers.insert("host", self.host.parse()?);
        headers.insert("x-amz-target", target.parse()?);
        headers.insert("content-type", "application/x-amz-json-1.1".parse()?);
        let req = berth_sigv4::Request {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body: &body,
        };
        let creds = berth_sigv4::Credentials {
            access_key_id: "test".into(),
            secret_access_key: "test".into(),
        };
        let [(_, date), (_, auth)] =
            berth_sigv4::sign(&req, &creds, "us-east-1", "logs", SystemTime::now());
        let head = format!(
            "POST / HTTP/1.1\r\nHost: {}\r\nX-Amz-Target: {target}\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Date: {date}\r\nAuthorization: {auth}\r\nContent-Length: {}\r\n\r\n",
            self.host,
            body.len()
        );
        let s = self.io.get_mut();
        s.write_all(head.as_bytes())?;
        s.write_all(&body)?;
        let (status, reply) = self.read_reply()?;
        let value: Value = serde_json::from_slice(&reply).context("reply is not JSON")?;
        if status != 200 {
            bail!("{op} answered {status}: {value}");
        }
        Ok(value)
    }

    fn read_reply(&mut self) -> anyhow::Result<(u16, Vec<u8>)> {
        let mut line = String::new();
        self.io.read_line(&mut line)?;
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("bad status line {line:?}"))?;
        let mut length = 0;
        loop {
            line.clear();
            if self.io.read_line(&mut line)? == 0 {
                bail!("connection closed in the headers");
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse()?;
                }
            }
        }
        let mut body = vec![0; length];
        self.io.read_exact(&mut body)?;
        Ok((status, body))
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn create_stream(conn: &mut Conn, name: &str) -> anyhow::Result<()> {
    conn.call(
        "CreateLogStream",
        &json!({"logGroupName": GROUP, "logStreamName": name}),
    )?;
    Ok(())
}

/// Events per second: `streams` writers, each its own connection and stream, sending
/// batches of `batch` events for `seconds`.
fn ingest(a: &Args, round: usize, batch: usize) -> anyhow::Result<(f64, u64)> {
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let message = "x".repeat(a.message_bytes);
    let mut writers = Vec::new();
    for w in 0..a.streams {
        let mut conn = Conn::connect(&a.endpoint)?;
        let stream = format!("ingest/{batch}/{round}/{w}");
        create_stream(&mut conn, &stream)?;
        let (stop, sent, message) = (stop.clone(), sent.clone(), message.clone());
        writers.push(std::thread::spawn(move || -> anyhow::Result<()> {
            while !stop.load(Ordering::Relaxed) {
                let t = now_ms();
                let events: Vec<Value> = (0..batch)
                    .map(|_| json!({"timestamp": t, "message": message}))
                    .collect();
                conn.call(
                    "PutLogEvents",
                    &json!({"logGroupName": GROUP, "logStreamName": stream, "logEvents": events}),
                )?;
                sent.fetch_add(batch as u64, Ordering::Relaxed);
            }
            Ok(())
        }));
    }
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(a.seconds));
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join()
            .map_err(|_| anyhow::anyhow!("a writer panicked"))??;
    }
    let n = sent.load(Ordering::Relaxed);
    Ok((n as f64 / start.elapsed().as_secs_f64(), n))
}

/// Put-to-visible latencies: one event every 20 ms, a poller following GetLogEvents'
/// forward token as fast as it answers.
fn visibility(a: &Args, round: usize) -> anyhow::Result<Vec<Duration>> {
    let stream = format!("latency/{round}");
    let mut writer = Conn::connect(&a.endpoint)?;
    create_stream(&mut writer, &stream)?;
    let mut poller = Conn::connect(&a.endpoint)?;
    let (tx, rx) = mpsc::channel::<(usize, Instant)>();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let s2 = stream.clone();
    let poll = std::thread::spawn(move || -> anyhow::Result<Vec<(usize, Instant)>> {
        let mut token: Option<String> = None;
        let mut seen = Vec::new();
        while !stop2.load(Ordering::Relaxed) {
            let mut input =
                json!({"logGroupName": GROUP, "logStreamName": s2, "startFromHead": true});
            if let Some(t) = &token {
                input["nextToken"] = json!(t);
            }
            let out = poller.call("GetLogEvents", &input)?;
            let at = Instant::now();
            for e in out["events"].as_array().into_iter().flatten() {
                let n = e["message"]
                    .as_str()
                    .unwrap_or("")
                    .trim_start_matches("lat-");
                seen.push((n.parse().unwrap_or(usize::MAX), at));
            }
            token = out["nextForwardToken"].as_str().map(String::from);
        }
        Ok(seen)
    });
    let end = Instant::now() + Duration::from_secs_f64(a.seconds);
    let mut i = 0;
    while Instant::now() < end {
        let sent = Instant::now();
        writer.call(
            "PutLogEvents",
            &json!({"logGroupName": GROUP, "logStreamName": stream,
                    "logEvents": [{"timestamp": now_ms(), "message": format!("lat-{i}")}]}),
        )?;
        tx.send((i, sent))?;
        i += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    let seen = poll
        .join()
        .map_err(|_| anyhow::anyhow!("the poller panicked"))??;
    drop(tx);
    let sent: Vec<(usize, Instant)> = rx.iter().collect();
    let mut out = Vec::new();
    for (n, at) in seen {
        if let Some((_, s)) = sent.iter().find(|(m, _)| *m == n) {
            out.push(at.duration_since(*s));
        }
    }
    if out.len() != sent.len() {
        bail!("{} events sent, {} seen", sent.len(), out.len());
    }
    Ok(out)
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort_unstable();
    let n = v.len();
    v[((n as f64 * p).ceil() as usize).clamp(1, n) - 1]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn ms(d: f64) -> String {
    format!("{d:.2}")
}

fn file_size(p: &std::path::Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

fn main() -> anyhow::Result<()> {
    let a = args()?;
    let mut setup = Conn::connect(&a.endpoint)?;
    setup.call("CreateLogGroup", &json!({"logGroupName": GROUP}))?;
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); BATCHES.len()];
    let (mut p50s, mut p99s) = (Vec::new(), Vec::new());
    let mut events = 0;
    for round in 0..a.rounds {
        for (i, batch) in BATCHES.iter().enumerate() {
            let (rate, n) = ingest(&a, round, *batch)?;
            eprintln!("round {round}: batch {batch}: {rate:.0} events/s");
            rates[i].push(rate);
            events += n;
        }
        let mut lat = visibility(&a, round)?;
        events += lat.len() as u64;
        let (p50, p99) = (pct(&mut lat, 0.5), pct(&mut lat, 0.99));
        eprintln!("round {round}: visible after p50 {p50:?} p99 {p99:?}");
        p50s.push(p50.as_secs_f64() * 1000.0);
        p99s.push(p99.as_secs_f64() * 1000.0);
    }
    let wal = a.db.with_extension("db-wal");
    let bytes = file_size(&a.db) + file_size(&wal);
    println!(
        "CloudWatch Logs on berth: {} concurrent streams, {}-byte messages, {} s per measurement, median of {} interleaved rounds\n",
        a.streams, a.message_bytes, a.seconds, a.rounds
    );
    println!("| measurement | median |\n|---|---|");
    for (i, batch) in BATCHES.iter().enumerate() {
        println!(
            "| ingestion, batches of {batch} | {:.0} events/s |",
            median(rates[i].clone())
        );
    }
    println!(
        "| put → visible in GetLogEvents, p50 | {} ms |",
        ms(median(p50s))
    );
    println!(
        "| put → visible in GetLogEvents, p99 | {} ms |",
        ms(median(p99s))
    );
    println!(
        "| database bytes per event ({events} events, logs.db + WAL {:.1} MiB) | {:.0} |",
        bytes as f64 / 1048576.0,
        bytes as f64 / events.max(1) as f64
    );
    Ok(())
}
