//! Every surface of the API bounded, against a real server: a body that stalls is
//! answered 408 in the request's protocol and its connection closed; the connection
//! cap answers 503 with a body and keeps seats for the agents' watch streams; idle
//! keep-alive connections and slow heads are closed, a watch stream is not.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{parse_response, Raw, TestServer};
use serde_json::{json, Value};

const AUTH: &str = "AWS4-HMAC-SHA256 Credential=test/20260101/us-west-2/ecs/aws4_request, SignedHeaders=host, Signature=0";
const ECS: &str = "AmazonEC2ContainerServiceV20141113";

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Reads one response whose body has a Content-Length, leaving the connection open.
fn read_one(s: &mut TcpStream) -> Raw {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut byte).expect("a response head");
        assert_eq!(
            n,
            1,
            "closed inside a head: {}",
            String::from_utf8_lossy(&buf)
        );
        buf.push(byte[0]);
    }
    let head = parse_response(&buf);
    let len: usize = head
        .header("content-length")
        .expect("a content-length")
        .parse()
        .unwrap();
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    Raw { body, ..head }
}

/// Waits for the server to close `s`; how long that took.
fn closed_after(s: &mut TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    s.set_read_timeout(Some(limit)).unwrap();
    let mut sink = [0u8; 256];
    loop {
        match s.read(&mut sink) {
            Ok(0) => return started.elapsed(),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return started.elapsed(),
            Err(e) => panic!("not closed within {limit:?}: {e}"),
        }
    }
}

fn ecs_request(addr: SocketAddr, op: &str, body: &str, keep_alive: bool) -> Vec<u8> {
    ecs_request_as(addr, AUTH, op, body, keep_alive)
}

/// An ECS request signed (for real) as `auth` names.
fn ecs_request_as(addr: SocketAddr, auth: &str, op: &str, body: &str, keep_alive: bool) -> Vec<u8> {
    let connection = if keep_alive {
        ""
    } else {
        "Connection: close\r\n"
    };
    let target = format!("{ECS}.{op}");
    let headers = [
        ("X-Amz-Target", target.as_str()),
        ("Content-Type", "application/x-amz-json-1.1"),
        ("Authorization", auth),
    ];
    let signed = common::signed_headers(addr, "POST", "/", &headers, body.as_bytes());
    let mut head = format!("POST / HTTP/1.1\r\nHost: {addr}\r\n{connection}");
    for (k, v) in signed {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    format!("{head}Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

fn ecs_ok(addr: SocketAddr, op: &str, body: Value) -> Value {
    ecs_ok_as(addr, AUTH, op, body)
}

fn ecs_ok_as(addr: SocketAddr, auth: &str, op: &str, body: Value) -> Value {
    let mut s = connect(addr);
    s.write_all(&ecs_request_as(addr, auth, op, &body.to_string(), false))
        .unwrap();
    let r = read_one(&mut s);
    assert_eq!(r.status, 200, "{op}: {}", r.text());
    r.json()
}

/// Sends a head declaring a 100-byte body and one byte of it; the answer and how long
/// it took.
fn stall(addr: SocketAddr, path: &str, headers: &str) -> (Raw, Duration) {
    let mut s = connect(addr);
    let started = Instant::now();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: x\r\n{headers}Content-Length: 100\r\n\r\n{{"
    )
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("the answer, then the close");
    (parse_response(&buf), started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_is_answered_408_in_its_protocol_and_closed() {
    let s = TestServer::start_with(|c| c.limits.body_deadline = Duration::from_millis(500)).await;
    let addr = s.addr();
    tokio::task::spawn_blocking(move || {
        let json = format!(
            "X-Amz-Target: {ECS}.CreateCluster\r\nContent-Type: application/x-amz-json-1.1\r\n"
        );
        let (r, took) = stall(addr, "/", &json);
        assert_eq!(r.status, 408, "{}", r.text());
        assert!(
            took >= Duration::from_millis(450) && took < Duration::from_secs(5),
            "{took:?}"
        );
        assert_eq!(r.header("connection"), Some("close"));
        let e = r.json();
        assert_eq!(e["__type"], "RequestTimeoutException");
        assert!(e["message"].as_str().unwrap().contains("500 ms"), "{e}");

        let form = format!(
            "Content-Type: application/x-www-form-urlencoded\r\nAuthorization: {}\r\n",
            AUTH.replace("/ecs/", "/sts/")
        );
        let (r, _) = stall(addr, "/", &form);
        assert_eq!(r.status, 408, "{}", r.text());
        assert!(
            r.text().contains("<Code>RequestTimeout</Code>"),
            "{}",
            r.text()
        );

        let cbor = "Content-Type: application/cbor\r\nsmithy-protocol: rpc-v2-cbor\r\n";
        let (r, _) = stall(
            addr,
            "/service/Route53AutoNaming_v20170314/operation/ListNamespaces",
            cbor,
        );
        assert_eq!(r.status, 408);
        let e = berth_awsproto::cbor_to_json(&r.body).unwrap();
        assert_eq!(e["__type"], "RequestTimeoutException");

        let agent = format!("Authorization: {AUTH}\r\n");
        let (r, _) = stall(
            addr,
            "/berth/agent/v1/certificate?cluster=c&containerInstance=i",
            &agent,
        );
        assert_eq!(r.status, 408, "{}", r.text());
        assert_eq!(r.json()["__type"], "RequestTimeoutException");

        // A body that arrives in time is served.
        ecs_ok(addr, "CreateCluster", json!({"clusterName": "in-time"}));
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_cap_answers_503_and_keeps_seats_for_agents() {
    let s = TestServer::start_with(|c| {
        c.limits.max_connections = 6;
        c.limits.agent_reserve = 2;
        c.limits.header_timeout = Duration::from_secs(30);
    })
    .await;
    let addr = s.addr();
    let dir = s.dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        ecs_ok(addr, "CreateCluster", json!({"clusterName": "c"}));
        let agent = common::join_agent(addr, &dir, "us-west-2", "c");
        let arn = ecs_ok_as(
            addr,
            &agent,
            "RegisterContainerInstance",
            json!({"cluster": "c"}),
        )["containerInstance"]["containerInstanceArn"]
            .as_str()
            .unwrap()
            .to_string();
        // Four keep-alive connections take every seat open to anyone.
        let mut held: Vec<TcpStream> = (0..4)
            .map(|_| {
                let mut c = connect(addr);
                c.write_all(&ecs_request(addr, "ListClusters", "{}", true))
                    .unwrap();
                assert_eq!(read_one(&mut c).status, 200);
                c
            })
            .collect();
        // The next one sits on an agents' seat: anything but a watch stream is 503.
        let mut c = connect(addr);
        c.write_all(&ecs_request(addr, "ListClusters", "{}", true))
            .unwrap();
        let r = read_one(&mut c);
        assert_eq!(r.status, 503, "{}", r.text());
        assert_eq!(r.header("connection"), Some("close"));
        let e = r.json();
        assert_eq!(e["__type"], "ServiceUnavailableException");
        assert!(
            e["message"].as_str().unwrap().contains("connection limit"),
            "{e}"
        );
        closed_after(&mut c, Duration::from_secs(5));
        // An agent's watch stream is served there.
        let mut watch = connect(addr);
        let query = format!("cluster=c&containerInstance={}", arn.replace('/', "%2F"));
        write!(
            watch,
            "{}",
            common::signed_get(addr, &format!("/berth/agent/v1/watch?{query}"), &agent)
        )
        .unwrap();
        let mut lines = BufReader::new(watch.try_clone().unwrap());
        let mut status = String::new();
        lines.read_line(&mut status).unwrap();
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
        // The last agents' seat, taken by a silent connection; past it, 503 at once.
        let silent = connect(addr);
        std::thread::sleep(Duration::from_millis(200));
        let mut over = connect(addr);
        over.write_all(&ecs_request(addr, "ListClusters", "{}", false))
            .unwrap();
        let mut buf = Vec::new();
        over.read_to_end(&mut buf).unwrap();
        let r = parse_response(&buf);
        assert_eq!(r.status, 503, "{}", r.text());
        assert_eq!(r.json()["__type"], "ServiceUnavailableException");
        // Seats come back when connections close.
        drop(silent);
        drop(held.pop());
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let mut c = connect(addr);
            c.write_all(&ecs_request(addr, "ListClusters", "{}", false))
                .unwrap();
            let mut buf = Vec::new();
            let _ = c.read_to_end(&mut buf);
            if parse_response(&buf).status == 200 {
                break;
            }
            assert!(Instant::now() < deadline, "no seat came back");
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(watch);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_and_slow_heads_are_closed_but_not_a_watch_stream() {
    let s = TestServer::start_with(|c| {
        c.limits.idle_timeout = Duration::from_millis(600);
        c.limits.header_timeout = Duration::from_millis(600);
    })
    .await;
    let addr = s.addr();
    let dir = s.dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        // A keep-alive connection is closed once idle for the idle timeout.
        let mut c = connect(addr);
        c.write_all(&ecs_request(
            addr,
            "CreateCluster",
            r#"{"clusterName": "c"}"#,
            true,
        ))
        .unwrap();
        assert_eq!(read_one(&mut c).status, 200);
        let idle = closed_after(&mut c, Duration::from_secs(5));
        assert!(
            idle >= Duration::from_millis(500) && idle < Duration::from_secs(3),
            "{idle:?}"
        );
        // A connection that never says anything.
        let mut c = connect(addr);
        let silent = closed_after(&mut c, Duration::from_secs(5));
        assert!(silent < Duration::from_secs(3), "{silent:?}");
        // A head sent a byte at a time is cut at the header timeout, busy as it is.
        let mut c = connect(addr);
        let mut writer = c.try_clone().unwrap();
        let trickle = std::thread::spawn(move || {
            let _ = writer.write_all(b"POST / HTTP/1.1\r\n");
            for _ in 0..100 {
                std::thread::sleep(Duration::from_millis(50));
                if writer.write_all(b"X").is_err() {
                    return;
                }
            }
        });
        let slow = closed_after(&mut c, Duration::from_secs(5));
        assert!(slow < Duration::from_secs(3), "{slow:?}");
        trickle.join().unwrap();

        // A watch stream lives on its heartbeats, far past the idle timeout.
        let agent = common::join_agent(addr, &dir, "us-west-2", "c");
        let arn = ecs_ok_as(
            addr,
            &agent,
            "RegisterContainerInstance",
            json!({"cluster": "c"}),
        )["containerInstance"]["containerInstanceArn"]
            .as_str()
            .unwrap()
            .to_string();
        let mut watch = connect(addr);
        let query = format!("cluster=c&containerInstance={}", arn.replace('/', "%2F"));
        write!(
            watch,
            "{}",
            common::signed_get(addr, &format!("/berth/agent/v1/watch?{query}"), &agent)
        )
        .unwrap();
        let mut lines = BufReader::new(watch);
        let started = Instant::now();
        let mut heartbeats = 0;
        while started.elapsed() < Duration::from_millis(4500) {
            let mut line = String::new();
            let n = lines.read_line(&mut line).expect("the stream goes on");
            assert!(
                n > 0,
                "the watch stream was closed after {:?}",
                started.elapsed()
            );
            if line == "\r\n" || line == "\n" {
                heartbeats += 1;
            }
        }
        assert!(heartbeats >= 2, "{heartbeats}");
    })
    .await
    .unwrap();
}
