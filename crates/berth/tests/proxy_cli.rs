//! The real `berth proxy` binary: started from a snapshot file, serving through its
//! egress listener, answering on its admin endpoint, taking a new snapshot on stdin, and
//! exiting cleanly on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A tiny HTTP/1.1 upstream that answers every request with `body`, keep-alive.
fn upstream(body: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut stream = stream;
                loop {
                    let mut line = String::new();
                    // Read one request head (these tests send no bodies).
                    loop {
                        line.clear();
                        match reader.read_line(&mut line) {
                            Ok(0) | Err(_) => return,
                            Ok(_) if line == "\r\n" => break,
                            Ok(_) => {}
                        }
                    }
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nServer: upstream\r\n\r\n{body}",
                        body.len()
                    );
                    if stream.write_all(resp.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One GET with `Connection: close`; returns (status, body).
fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let (head, body) = buf.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

fn snapshot(version: u64, listen: SocketAddr, endpoint: SocketAddr) -> String {
    format!(
        r#"{{"version":{version},"clusterName":"c","serviceName":"client","egress":[{{"alias":"orders:80","listen":"{listen}","upstream":"orders"}}],"upstreams":{{"orders":{{"protocol":"http","endpoints":[{{"address":"{endpoint}"}}]}}}}}}"#
    )
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn berth_proxy_binary_serves_reconfigures_and_stops() {
    let one = upstream("one");
    let two = upstream("two");
    let listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("snapshot.json");
    std::fs::write(&file, snapshot(1, listen, one)).unwrap();

    let child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["proxy", "--config"])
        .arg(&file)
        .args([
            "--admin",
            &admin.to_string(),
            "--snapshots-stdin",
            "--drain-seconds",
            "2",
        ])
        .env("BERTH_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("berth proxy starts");
    let mut child = Killed(child);

    wait_for("ready", || {
        get(admin, "/ready").is_some_and(|(s, _)| s == 200)
    });
    assert_eq!(get(listen, "/").unwrap(), (200, "one".to_string()));
    let (_, version) = get(admin, "/version").unwrap();
    assert!(version.contains("\"version\":1"), "{version}");
    let (_, metrics) = get(admin, "/metrics").unwrap();
    assert!(
        metrics.lines().any(|l| l.starts_with("RequestCount{")
            && l.contains("TargetDiscoveryName=\"orders\"")
            && !l.ends_with(" 0")),
        "{metrics}"
    );

    // A new snapshot on stdin moves the alias to another endpoint, at once.
    let stdin = child.0.stdin.as_mut().unwrap();
    writeln!(stdin, "{}", snapshot(2, listen, two)).unwrap();
    stdin.flush().unwrap();
    wait_for("version 2", || {
        get(admin, "/version").is_some_and(|(_, b)| b.contains("\"version\":2"))
    });
    assert_eq!(get(listen, "/").unwrap(), (200, "two".to_string()));

    // An invalid line is skipped; the proxy keeps serving the last good snapshot.
    writeln!(stdin, "{{not json").unwrap();
    stdin.flush().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(get(listen, "/").unwrap(), (200, "two".to_string()));

    // SIGTERM: drain, then exit successfully.
    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let start = Instant::now();
    let exit = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "berth proxy did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "{exit:?}");
    assert!(
        get(listen, "/").is_none(),
        "the listener is closed after exit"
    );
}
