//! 3,000 connections that each declare a body and send one byte of it: every one is
//! answered 408 at the body deadline, and the server's file descriptors and memory are
//! back where they started soon after. The server runs in a process of its own (this
//! test binary again, running `measured_server`), so what is measured is the server's
//! alone.
//!
//! Memory is the process's resident memory. glibc's malloc keeps the pages a burst
//! freed (in per-thread arenas, fragmented) rather than giving them back, so its
//! resident memory would tell the allocator's policy, not what the server holds: the
//! measured process allocates with jemalloc, told to hand freed pages back at once
//! (no decay), so what stays resident is what the server still holds.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_server::{Limits, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Set for the child process: `<body deadline ms>,<max connections>`.
const CHILD: &str = "BERTH_MEASURED_SERVER";
const CONNECTIONS: usize = 3000;
const DEADLINE: Duration = Duration::from_secs(6);

/// The measured server itself: runs only in the child process the test below starts.
#[test]
#[ignore = "the server process measured by three_thousand_stalled_bodies_leave_nothing_behind"]
fn measured_server() {
    let spec = std::env::var(CHILD).expect("started by the stalled-bodies test");
    let (deadline_ms, max) = spec.split_once(',').expect("<ms>,<connections>");
    let limits = Limits {
        body_deadline: Duration::from_millis(deadline_ms.parse().unwrap()),
        max_connections: max.parse().unwrap(),
        ..Limits::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let server = berth_server::start(ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().to_path_buf(),
            limits,
            ..ServerConfig::default()
        })
        .await
        .unwrap();
        println!("listening {}", server.addr);
        // Serves until the test closes this process's stdin.
        let _ =
            tokio::task::spawn_blocking(|| std::io::stdin().read_line(&mut String::new())).await;
    });
}

struct Measured {
    child: Child,
    addr: SocketAddr,
}

impl Measured {
    fn start() -> Measured {
        let spec = format!("{},{}", DEADLINE.as_millis(), CONNECTIONS + 1000);
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["measured_server", "--exact", "--ignored", "--nocapture"])
            .env(CHILD, spec)
            .env("BERTH_LOG", "warn")
            .env("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the measured server starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let addr = loop {
            let line = lines.next().expect("the server's address").unwrap();
            if let Some(a) = line.strip_prefix("listening ") {
                break a.parse().unwrap();
            }
        };
        Measured { child, addr }
    }

    fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .unwrap()
            .count()
    }

    /// Resident memory, in KiB.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}

impl Drop for Measured {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// This process holds the clients' 3,000 sockets.
fn raise_open_files() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).unwrap();
    let (soft, _) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    assert!(
        soft >= 2 * CONNECTIONS as u64,
        "open files limited to {soft}"
    );
}

type Outcome = (u16, String, Duration);

/// One stalled body: the answer's status and body, and when it came after the byte.
/// `pace` bounds the connects in progress; `sent` is told when the byte is out.
async fn stall(
    addr: SocketAddr,
    pace: Arc<tokio::sync::Semaphore>,
    sent: tokio::sync::mpsc::Sender<()>,
) -> Outcome {
    let mut s = {
        let _connecting = pace.acquire().await.unwrap();
        tokio::net::TcpStream::connect(addr).await.unwrap()
    };
    let head = "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: AmazonEC2ContainerServiceV20141113.CreateCluster\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: 100\r\n\r\n{";
    s.write_all(head.as_bytes()).await.unwrap();
    let at = Instant::now();
    let _ = sent.send(()).await;
    let mut buf = Vec::new();
    let read = tokio::time::timeout(DEADLINE * 4, s.read_to_end(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(_))), "no answer and close: {read:?}");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body, at.elapsed())
}

/// Opens `n` stalled bodies, at most 200 connecting at a time, and returns once each
/// has sent its byte.
async fn flood(addr: SocketAddr, n: usize) -> Vec<tokio::task::JoinHandle<Outcome>> {
    let pace = Arc::new(tokio::sync::Semaphore::new(200));
    let (tx, mut rx) = tokio::sync::mpsc::channel(n);
    let all = (0..n)
        .map(|_| tokio::spawn(stall(addr, pace.clone(), tx.clone())))
        .collect();
    for _ in 0..n {
        rx.recv().await.expect("every connection sends its byte");
    }
    all
}

/// Polls `f` until it holds or `within` passed; how long it took.
fn until(within: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < within {
        if f() {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

#[test]
fn three_thousand_stalled_bodies_leave_nothing_behind() {
    raise_open_files();
    let server = Measured::start();
    let addr = server.addr;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // A first, small burst: what the server allocates once is not counted.
    rt.block_on(async {
        for h in flood(addr, 200).await {
            assert_eq!(h.await.unwrap().0, 408);
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    let (fds_before, rss_before) = (server.fds(), server.rss_kib());

    // The most file descriptors the server holds while the burst arrives.
    let watching = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let peak = {
        let watching = watching.clone();
        let fd_dir = format!("/proc/{}/fd", server.child.id());
        std::thread::spawn(move || {
            let mut peak = 0;
            while watching.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(std::fs::read_dir(&fd_dir).unwrap().count());
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        })
    };
    let started = Instant::now();
    let handles = rt.block_on(flood(addr, CONNECTIONS));
    let flooded = started.elapsed();
    let rss_during = server.rss_kib();
    let outcomes = rt.block_on(async {
        let mut all = Vec::new();
        for h in handles {
            all.push(h.await.unwrap());
        }
        all
    });
    watching.store(false, std::sync::atomic::Ordering::Relaxed);
    let fds_peak = peak.join().unwrap();
    eprintln!(
        "before: {fds_before} fds, {rss_before} KiB; {CONNECTIONS} stalled bodies open in \
         {flooded:?}: at most {fds_peak} fds, {rss_during} KiB"
    );
    // The server held them at once (all, unless opening them took most of the deadline).
    assert!(fds_peak >= fds_before + CONNECTIONS / 2, "{fds_peak}");
    for (status, body, took) in &outcomes {
        assert_eq!(*status, 408, "{body}");
        assert!(
            body.contains("\"__type\":\"RequestTimeoutException\""),
            "{body}"
        );
        assert!(*took >= DEADLINE - Duration::from_millis(100), "{took:?}");
        assert!(*took < DEADLINE + Duration::from_secs(5), "{took:?}");
    }
    // The last one answered (a deadline after its byte), all is given back within a
    // margin.
    let margin = DEADLINE + Duration::from_secs(3);
    let fds_back = until(margin, || server.fds() <= fds_before + 8);
    assert!(
        fds_back.is_some(),
        "fds {} (from {fds_before})",
        server.fds()
    );
    let rss_back = until(margin, || server.rss_kib() <= rss_before + 4 * 1024);
    let (fds_after, rss_after) = (server.fds(), server.rss_kib());
    eprintln!("after: {fds_after} fds, {rss_after} KiB");
    assert!(
        rss_back.is_some(),
        "RSS {rss_after} KiB, from {rss_before} KiB ({rss_during} KiB at the peak)"
    );
    // And it serves.
    rt.block_on(async {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let headers = [
            (
                "X-Amz-Target",
                "AmazonEC2ContainerServiceV20141113.ListClusters",
            ),
            ("Content-Type", "application/x-amz-json-1.1"),
        ];
        let mut req = format!("POST / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
        for (k, v) in common::signed_headers(addr, "POST", "/", &headers, b"{}") {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("Content-Length: 2\r\n\r\n{}");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.unwrap();
        assert!(
            buf.starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&buf)
        );
    });
}
