//! `berth-bench-load`: an open-loop, fixed-rate HTTP/1.1 load generator for the proxy
//! benchmark (`bench/proxy.sh`), for latency at a given request rate (wrk measures
//! throughput at saturation; Debian has no wrk2, and h2load's `--rps` reports no
//! percentiles).
//!
//! ```text
//! berth-bench-load --target 127.0.0.1:PORT [--path /] [--rate 1000] [--duration 10]
//!                  [--warmup 1] [--connections 8] [--new-connection]
//! berth-bench-load --target 127.0.0.1:PORT --check     # one GET, exit 0 on 200
//! ```
//!
//! Request `i` is due at `start + i / rate`; connection `k` (keep-alive, blocking I/O on
//! its own thread, sleeping precisely between requests) sends requests `k`, `k + C`, ...
//! Latency runs from the due time when the connection was still busy with the previous
//! response at that time (so a slow server is not hidden: no coordinated omission), and
//! from the actual send otherwise (so the generator's own timer slack is not counted).
//! Requests due during the warm-up are sent but not recorded. With `--new-connection`
//! every request opens a connection of its own (closed after the response), and its
//! latency includes the TCP handshake. Prints one line:
//! `requests=N errors=E rate=R p50_us=.. p90_us=.. p99_us=.. p999_us=.. max_us=..`.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

struct Args {
    target: SocketAddr,
    path: String,
    rate: f64,
    duration: f64,
    warmup: f64,
    connections: usize,
    check: bool,
    new_connection: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: berth-bench-load --target HOST:PORT [--path /] [--rate 1000] [--duration 10]\n\
         \x20      [--warmup 1] [--connections 8] [--new-connection] [--check]"
    );
    std::process::exit(2)
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args {
        target: "127.0.0.1:80".parse()?,
        path: "/".into(),
        rate: 1000.0,
        duration: 10.0,
        warmup: 1.0,
        connections: 8,
        check: false,
        new_connection: false,
    };
    let mut target = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--check" {
            a.check = true;
            continue;
        }
        if flag == "--new-connection" {
            a.new_connection = true;
            continue;
        }
        let value = it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--target" => target = Some(value.parse().context("--target")?),
            "--path" => a.path = value,
            "--rate" => a.rate = value.parse().context("--rate")?,
            "--duration" => a.duration = value.parse().context("--duration")?,
            "--warmup" => a.warmup = value.parse().context("--warmup")?,
            "--connections" => a.connections = value.parse().context("--connections")?,
            _ => usage(),
        }
    }
    a.target = target.unwrap_or_else(|| usage());
    if a.rate <= 0.0 || a.duration <= 0.0 || a.warmup < 0.0 || a.connections == 0 {
        usage();
    }
    Ok(a)
}

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    stream: TcpStream,
    request: Vec<u8>,
    buf: Vec<u8>,
}

impl Conn {
    /// A connection for keep-alive requests, or (`close`) for one request that asks the
    /// server to close it (so that the TIME_WAIT is the server's, not the client's).
    fn connect(target: SocketAddr, path: &str, close: bool) -> anyhow::Result<Conn> {
        let stream = TcpStream::connect(target).with_context(|| format!("connect {target}"))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let connection = if close { "Connection: close\r\n" } else { "" };
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: berth-bench-load\r\n{connection}\r\n"
        )
        .into_bytes();
        Ok(Conn {
            stream,
            request,
            buf: Vec::with_capacity(4096),
        })
    }

    /// Reads more bytes into the buffer; fails on end of stream.
    fn fill(&mut self) -> anyhow::Result<()> {
        let mut chunk = [0u8; 8192];
        let n = self.stream.read(&mut chunk)?;
        if n == 0 {
            bail!("connection closed");
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// Reads through the next CRLF-terminated line, returning it without the CRLF.
    fn line(&mut self) -> anyhow::Result<String> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..i]).into_owned();
                self.buf.drain(..i + 2);
                return Ok(line);
            }
            self.fill()?;
        }
    }

    fn skip(&mut self, mut n: usize) -> anyhow::Result<()> {
        loop {
            let take = n.min(self.buf.len());
            self.buf.drain(..take);
            n -= take;
            if n == 0 {
                return Ok(());
            }
            self.fill()?;
        }
    }

    /// Sends one GET and reads the whole response; returns the status and whether the
    /// connection stays open.
    fn get(&mut self) -> anyhow::Result<(u16, bool)> {
        self.stream.write_all(&self.request)?;
        let status_line = self.line()?;
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("bad status line {status_line:?}"))?;
        let (mut length, mut chunked, mut close) = (None, false, false);
        loop {
            let line = self.line()?;
            if line.is_empty() {
                break;
            }
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse::<usize>().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.to_ascii_lowercase().contains("chunked");
            } else if name.eq_ignore_ascii_case("connection") {
                close = value.eq_ignore_ascii_case("close");
            }
        }
        if chunked {
            loop {
                let size = self.line()?;
                let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
                    .with_context(|| format!("bad chunk size {size:?}"))?;
                if size == 0 {
                    while !self.line()?.is_empty() {}
                    break;
                }
                self.skip(size + 2)?;
            }
        } else if let Some(n) = length {
            self.skip(n)?;
        } else if status >= 200 && status != 204 && status != 304 {
            bail!("response without length");
        }
        Ok((status, !close))
    }
}

struct Outcome {
    latencies: Vec<Duration>,
    requests: u64,
    errors: u64,
}

fn run_connection(a: &Args, k: usize, start: Instant, total: u64) -> Outcome {
    let period = 1.0 / a.rate;
    let mut out = Outcome {
        latencies: Vec::with_capacity((total / a.connections as u64 + 1) as usize),
        requests: 0,
        errors: 0,
    };
    let mut conn: Option<Conn> = None;
    let mut busy_until = start;
    let mut i = k as u64;
    while i < total {
        let due = start + Duration::from_secs_f64(i as f64 * period);
        let now = Instant::now();
        if now < due {
            std::thread::sleep(due - now);
        }
        let sent = Instant::now();
        let begin = if busy_until > due { due } else { sent };
        let result = (|| {
            if conn.is_none() {
                conn = Some(Conn::connect(a.target, &a.path, a.new_connection)?);
            }
            conn.as_mut().expect("connected").get()
        })();
        let done = Instant::now();
        busy_until = done;
        out.requests += 1;
        match result {
            Ok((status, keep)) => {
                if status != 200 {
                    out.errors += 1;
                }
                if !keep || a.new_connection {
                    conn = None;
                }
            }
            Err(_) => {
                out.errors += 1;
                conn = None;
            }
        }
        if due >= start + Duration::from_secs_f64(a.warmup) {
            out.latencies.push(done - begin);
        }
        i += a.connections as u64;
    }
    out
}

fn percentile(sorted: &[Duration], p: f64) -> u128 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_micros()
}

fn main() -> anyhow::Result<()> {
    let a = parse_args()?;
    if a.check {
        let (status, _) = Conn::connect(a.target, &a.path, false)?.get()?;
        println!("status={status}");
        if status != 200 {
            bail!("{} answered {status}", a.target);
        }
        return Ok(());
    }
    let total = ((a.warmup + a.duration) * a.rate).round() as u64;
    let start = Instant::now() + Duration::from_millis(50);
    let outcomes: Vec<Outcome> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..a.connections)
            .map(|k| {
                let a = &a;
                s.spawn(move || run_connection(a, k, start, total))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("load thread"))
            .collect()
    });
    let wall = start.elapsed().as_secs_f64();
    let mut latencies: Vec<Duration> = outcomes
        .iter()
        .flat_map(|o| o.latencies.iter().copied())
        .collect();
    latencies.sort_unstable();
    let requests: u64 = outcomes.iter().map(|o| o.requests).sum();
    let errors: u64 = outcomes.iter().map(|o| o.errors).sum();
    println!(
        "requests={requests} errors={errors} rate={:.0} p50_us={} p90_us={} p99_us={} p999_us={} max_us={}",
        requests as f64 / wall,
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.90),
        percentile(&latencies, 0.99),
        percentile(&latencies, 0.999),
        latencies.last().map_or(0, |d| d.as_micros()),
    );
    Ok(())
}
