//! Benchmark support for berth: a minimal AWS JSON 1.1 client over one HTTP/1.1
//! keep-alive connection (hand-written, so the client costs next to nothing next to the
//! server it measures) and latency statistics.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// The ECS target prefix.
pub const ECS: &str = "AmazonEC2ContainerServiceV20141113";
/// The Cloud Map target prefix.
pub const CLOUD_MAP: &str = "Route53AutoNaming_v20170314";

/// What requests are signed with: the test credential a server on loopback accepts
/// (its account: 123456789012), in us-east-1.
fn credentials() -> berth_sigv4::Credentials {
    berth_sigv4::Credentials {
        access_key_id: "test".into(),
        secret_access_key: "test".into(),
    }
}

/// One keep-alive HTTP/1.1 connection speaking AWS JSON 1.1.
pub struct Conn {
    host: String,
    io: BufReader<TcpStream>,
    buf: Vec<u8>,
    line: String,
    last_used: Instant,
}

/// How long a connection may sit idle before it is replaced: the server closes
/// connections that send no request head for 30 s.
const MAX_IDLE: Duration = Duration::from_secs(20);

/// A response: the HTTP status and the body.
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> anyhow::Result<Value> {
        serde_json::from_slice(&self.body).context("response body is not JSON")
    }
}

impl Conn {
    /// Connects to `host:port` (no scheme).
    pub async fn connect(host: &str) -> anyhow::Result<Conn> {
        let stream = TcpStream::connect(host)
            .await
            .with_context(|| format!("connecting to {host}"))?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            host: host.to_string(),
            io: BufReader::with_capacity(64 * 1024, stream),
            buf: Vec::with_capacity(4096),
            line: String::new(),
            last_used: Instant::now(),
        })
    }

    /// POSTs `body` with `X-Amz-Target: <target>` and reads the whole response. A
    /// connection idle for long is replaced first (the server closes idle ones), and
    /// one the server closed before answering is replaced and the call sent again.
    pub async fn call(&mut self, target: &str, body: &[u8]) -> anyhow::Result<Reply> {
        if self.last_used.elapsed() > MAX_IDLE {
            *self = Conn::connect(&self.host).await?;
        }
        let reply = match self.send(target, body).await? {
            Some(reply) => reply,
            None => {
                *self = Conn::connect(&self.host).await?;
                self.send(target, body)
                    .await?
                    .context("connection closed by the server")?
            }
        };
        self.last_used = Instant::now();
        Ok(reply)
    }

    /// One request on this connection; None when the server closed it before answering.
    async fn send(&mut self, target: &str, body: &[u8]) -> anyhow::Result<Option<Reply>> {
        self.buf.clear();
        let [(_, date), (_, authorization)] = self.sign(target, body)?;
        self.buf.extend_from_slice(
            format!(
                "POST / HTTP/1.1\r\nHost: {}\r\nX-Amz-Target: {target}\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Date: {date}\r\nAuthorization: {authorization}\r\nContent-Length: {}\r\n\r\n",
                self.host,
                body.len()
            )
            .as_bytes(),
        );
        self.buf.extend_from_slice(body);
        if self.io.get_mut().write_all(&self.buf).await.is_err() {
            return Ok(None);
        }

        // Status line.
        self.line.clear();
        if self.io.read_line(&mut self.line).await.unwrap_or(0) == 0 {
            return Ok(None);
        }
        let status: u16 = self
            .line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("bad status line {:?}", self.line))?;
        // Headers: only Content-Length matters (berth never chunks).
        let mut length = None;
        loop {
            self.line.clear();
            if self.io.read_line(&mut self.line).await? == 0 {
                bail!("connection closed in the headers");
            }
            let l = self.line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = Some(v.trim().parse::<usize>()?);
                }
            }
        }
        let length = length.context("response without Content-Length")?;
        let mut body = vec![0; length];
        self.io.read_exact(&mut body).await?;
        Ok(Some(Reply { status, body }))
    }

    /// The SigV4 headers of a request (as an SDK signs it: host, target, content type).
    fn sign(&self, target: &str, body: &[u8]) -> anyhow::Result<[(&'static str, String); 2]> {
        let mut headers = http::HeaderMap::new();
        headers.insert("host", self.host.parse()?);
        headers.insert("x-amz-target", target.parse()?);
        headers.insert("content-type", "application/x-amz-json-1.1".parse()?);
        let service = if target.starts_with(CLOUD_MAP) {
            "servicediscovery"
        } else {
            "ecs"
        };
        let req = berth_sigv4::Request {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body,
        };
        let now = std::time::SystemTime::now();
        Ok(berth_sigv4::sign(
            &req,
            &credentials(),
            "us-east-1",
            service,
            now,
        ))
    }

    /// Calls `<prefix>.<op>` with a JSON body; the response must be 200.
    pub async fn ok(&mut self, prefix: &str, op: &str, body: &Value) -> anyhow::Result<Value> {
        let target = format!("{prefix}.{op}");
        let reply = self.call(&target, &serde_json::to_vec(body)?).await?;
        if reply.status != 200 {
            bail!(
                "{op} answered {}: {}",
                reply.status,
                String::from_utf8_lossy(&reply.body)
            );
        }
        reply.json()
    }
}

/// Latency statistics of one measured operation.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    /// How many calls.
    pub samples: usize,
    /// Median latency.
    pub p50: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
    /// Slowest call.
    pub max: Duration,
    /// Calls per second over the whole (sequential) run.
    pub ops_per_sec: f64,
}

impl Stats {
    /// Statistics of `latencies`, measured back to back over `wall`.
    pub fn of(mut latencies: Vec<Duration>, wall: Duration) -> Stats {
        assert!(!latencies.is_empty(), "no samples");
        latencies.sort_unstable();
        let n = latencies.len();
        let pct = |p: f64| latencies[((n as f64 * p).ceil() as usize).clamp(1, n) - 1];
        Stats {
            samples: n,
            p50: pct(0.50),
            p99: pct(0.99),
            max: latencies[n - 1],
            ops_per_sec: n as f64 / wall.as_secs_f64(),
        }
    }
}

/// Milliseconds with two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// A small deterministic PRNG (xorshift64*), so runs pick the same services.
pub struct Rng(u64);

impl Rng {
    /// Seeded generator (a zero seed is replaced).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let s = Stats::of(v, Duration::from_secs(1));
        assert_eq!(s.p50, Duration::from_millis(50));
        assert_eq!(s.p99, Duration::from_millis(99));
        assert_eq!(s.max, Duration::from_millis(100));
        assert_eq!(s.samples, 100);
        let one = Stats::of(vec![Duration::from_millis(7)], Duration::from_secs(1));
        assert_eq!(one.p99, Duration::from_millis(7));
    }
}
