//! The HTTP/1.1 fast path's own edge cases: pipelining, chunked bodies both ways, bodies
//! delimited by the target closing, `connection: close`, responses without a body
//! (HEAD, 204, 304), `expect: 100-continue`, large bodies streamed both ways, a pooled
//! connection the target closed, and what goes to hyper instead (HTTP/1.0, upgrades).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// A proxy with one egress listener to `target`.
async fn through(
    target: std::net::SocketAddr,
) -> (berth_proxy::RunningProxy, std::net::SocketAddr) {
    let p = proxy().await;
    let l = egress(
        &p,
        1,
        json!({"protocol": "http", "endpoints": endpoints(&[target])}),
    )
    .await;
    (p, l)
}

/// An upstream answering with the request's method, path and body length.
async fn echo() -> Upstream {
    upstream(false, |r: Request<hyper::body::Incoming>| async move {
        let line = format!("{} {}", r.method(), r.uri());
        let n = r.into_body().collect().await.unwrap().to_bytes().len();
        text(StatusCode::OK, &format!("{line} {n}"))
    })
    .await
}

/// Reads one request head from a raw socket: its request line (empty at EOF).
async fn request_line(s: &mut TcpStream, buf: &mut Vec<u8>) -> String {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            buf.drain(..end + 4);
            return head.lines().next().unwrap_or("").to_string();
        }
        let mut b = [0u8; 4096];
        match s.read(&mut b).await {
            Ok(0) | Err(_) => return String::new(),
            Ok(n) => buf.extend_from_slice(&b[..n]),
        }
    }
}

/// A raw keep-alive upstream: `answer` gives the response bytes for each request line.
async fn scripted(answer: fn(&str) -> &'static [u8]) -> std::net::SocketAddr {
    raw(move |mut s| async move {
        let mut buf = Vec::new();
        loop {
            let line = request_line(&mut s, &mut buf).await;
            if line.is_empty() {
                return;
            }
            if s.write_all(answer(&line)).await.is_err() {
                return;
            }
        }
    })
    .await
}

/// Reads from `s` until what was read ends with `end` (5 s at most).
async fn read_until(s: &mut TcpStream, end: &[u8]) -> String {
    let mut out = Vec::new();
    let mut b = [0u8; 4096];
    while !out.ends_with(end) {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut b))
            .await
            .expect("an answer within 5 s")
            .unwrap();
        assert!(n > 0, "closed: {}", String::from_utf8_lossy(&out));
        out.extend_from_slice(&b[..n]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The status of every response in `out` (bodies need not end with a newline).
fn statuses(out: &str) -> Vec<&str> {
    out.match_indices("HTTP/1.1 ")
        .map(|(i, _)| &out[i + 9..i + 12])
        .collect()
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let up = echo().await;
    let (p, l) = through(up.addr).await;
    let out = raw_exchange(
        l,
        b"GET /a HTTP/1.1\r\nhost: orders\r\n\r\nPOST /b HTTP/1.1\r\nhost: orders\r\ncontent-length: 3\r\n\r\nxyzGET /c HTTP/1.1\r\nhost: orders\r\nconnection: close\r\n\r\n",
    )
    .await;
    let a = out.find("GET /a 0").expect(&out);
    let b = out.find("POST /b 3").expect(&out);
    let c = out.find("GET /c 0").expect(&out);
    assert!(a < b && b < c, "{out}");
    assert_eq!(statuses(&out), ["200", "200", "200"], "{out}");
    // The last asked to close: the proxy said so, and closed (read_all returned).
    assert!(out.contains("connection: close"), "{out}");
    p.shutdown().await;
}

#[tokio::test]
async fn chunked_bodies_both_ways() {
    // Request: chunked, with an extension and a trailer, in one go and split in two.
    let up = echo().await;
    let (p, l) = through(up.addr).await;
    let body = b"5;x=1\r\nhello\r\n6\r\n world\r\n0\r\nx-t: 1\r\n\r\n";
    let mut req =
        b"POST /up HTTP/1.1\r\nhost: orders\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
    req.extend_from_slice(body);
    let mut s = TcpStream::connect(l).await.unwrap();
    s.write_all(&req).await.unwrap();
    let out = read_until(&mut s, b"POST /up 11").await;
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
    // The same connection, the body arriving in pieces (streamed, not buffered).
    s.write_all(&req[..req.len() - 20]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    s.write_all(&req[req.len() - 20..]).await.unwrap();
    let out = read_until(&mut s, b"POST /up 11").await;
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
    p.shutdown().await;

    // Response: chunked, passed through; the client decodes it.
    let up = scripted(|_| {
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"
    })
    .await;
    let (p, l) = through(up).await;
    let c = client();
    for _ in 0..3 {
        assert_eq!(
            get(&c, l, "/").await,
            (StatusCode::OK, "abcdefg".to_string())
        );
    }
    p.shutdown().await;
}

#[tokio::test]
async fn a_body_ended_by_the_target_closing_is_rechunked() {
    let up = raw(|mut s| async move {
        read_head(&mut s).await;
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\n\r\nuntil the end").await;
        // Closing ends the body.
    })
    .await;
    let (p, l) = through(up).await;
    let mut s = TcpStream::connect(l).await.unwrap();
    for _ in 0..2 {
        s.write_all(b"GET / HTTP/1.1\r\nhost: orders\r\n\r\n")
            .await
            .unwrap();
        let out = read_until(&mut s, b"0\r\n\r\n").await;
        assert!(out.contains("transfer-encoding: chunked"), "{out}");
        assert!(out.contains("until the end"), "{out}");
    }
    p.shutdown().await;
}

#[tokio::test]
async fn responses_without_a_body_keep_the_connection_in_step() {
    let up = scripted(|line| {
        if line.starts_with("HEAD") {
            b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n"
        } else if line.contains("/204") {
            b"HTTP/1.1 204 No Content\r\n\r\n"
        } else if line.contains("/304") {
            b"HTTP/1.1 304 Not Modified\r\ncontent-length: 5\r\n\r\n"
        } else {
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
        }
    })
    .await;
    let (p, l) = through(up).await;
    let out = raw_exchange(
        l,
        b"HEAD / HTTP/1.1\r\nhost: o\r\n\r\nGET /204 HTTP/1.1\r\nhost: o\r\n\r\nGET /304 HTTP/1.1\r\nhost: o\r\n\r\nGET /ok HTTP/1.1\r\nhost: o\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(statuses(&out), ["200", "204", "304", "200"], "{out}");
    assert!(out.contains("content-length: 100"), "{out}");
    assert!(out.ends_with("\r\n\r\nok"), "{out}");
    p.shutdown().await;
}

#[tokio::test]
async fn connection_close_is_honoured_and_said() {
    let up = echo().await;
    let (p, l) = through(up.addr).await;
    let out = raw_exchange(
        l,
        b"GET /x HTTP/1.1\r\nhost: orders\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(statuses(&out), ["200"], "{out}");
    assert!(out.contains("connection: close\r\n"), "{out}");
    assert!(out.ends_with("GET /x 0"), "{out}");
    // A target that closes after its answer: the client keeps its connection, the
    // next request gets a new upstream connection.
    let closing =
        scripted(|_| b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok");
    let (p2, l2) = through(closing.await).await;
    let c = client();
    for _ in 0..3 {
        assert_eq!(get(&c, l2, "/").await, (StatusCode::OK, "ok".to_string()));
    }
    p.shutdown().await;
    p2.shutdown().await;
}

#[tokio::test]
async fn expect_100_continue_gets_continue_then_the_answer() {
    let up = echo().await;
    let (p, l) = through(up.addr).await;
    let mut s = TcpStream::connect(l).await.unwrap();
    s.write_all(
        b"PUT /e HTTP/1.1\r\nhost: orders\r\ncontent-length: 5\r\nexpect: 100-continue\r\n\r\n",
    )
    .await
    .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf))
        .await
        .expect("100 Continue before the body is sent")
        .unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 100 Continue\r\n\r\n"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    s.write_all(b"hello").await.unwrap();
    let out = read_until(&mut s, b"PUT /e 5").await;
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
    // A body too large to buffer: streamed after the 100 Continue.
    const BIG: usize = 1024 * 1024;
    s.write_all(
        format!("PUT /e HTTP/1.1\r\nhost: orders\r\ncontent-length: {BIG}\r\nexpect: 100-continue\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    read_until(&mut s, b"HTTP/1.1 100 Continue\r\n\r\n").await;
    s.write_all(&vec![b'e'; BIG]).await.unwrap();
    let out = read_until(&mut s, format!("PUT /e {BIG}").as_bytes()).await;
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
    p.shutdown().await;

    // A target that sends its own 100 Continue while the body streams: not an answer.
    let up = raw(|mut s| async move {
        let mut buf = Vec::new();
        request_line(&mut s, &mut buf).await;
        let _ = s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await;
        let mut total = buf.len();
        let mut b = vec![0u8; 64 * 1024];
        while total < BIG {
            match s.read(&mut b).await {
                Ok(0) | Err(_) => return,
                Ok(n) => total += n,
            }
        }
        let body = total.to_string();
        let _ = s
            .write_all(
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            )
            .await;
    })
    .await;
    let (p, l) = through(up).await;
    let mut s = TcpStream::connect(l).await.unwrap();
    s.write_all(format!("PUT / HTTP/1.1\r\nhost: o\r\ncontent-length: {BIG}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    for _ in 0..16 {
        s.write_all(&vec![b'f'; BIG / 16]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let out = read_until(&mut s, BIG.to_string().as_bytes()).await;
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
    p.shutdown().await;
}

#[tokio::test]
async fn large_bodies_stream_both_ways() {
    const BIG: usize = 8 * 1024 * 1024;
    const FIRST: usize = 1024 * 1024;
    // Request: the target has the first MiB while the client still holds the rest.
    let (seen_tx, mut seen) = mpsc::unbounded_channel::<()>();
    let up = raw(move |mut s| {
        let seen_tx = seen_tx.clone();
        async move {
            let mut buf = Vec::new();
            request_line(&mut s, &mut buf).await;
            let mut total = buf.len();
            let mut b = vec![0u8; 64 * 1024];
            let mut told = false;
            while total < BIG {
                let n = s.read(&mut b).await.unwrap();
                assert!(n > 0);
                total += n;
                if total >= FIRST && !told {
                    told = true;
                    let _ = seen_tx.send(());
                }
            }
            let body = total.to_string();
            let _ = s
                .write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                )
                .await;
        }
    })
    .await;
    let (p, l) = through(up).await;
    let mut s = TcpStream::connect(l).await.unwrap();
    s.write_all(format!("POST / HTTP/1.1\r\nhost: o\r\ncontent-length: {BIG}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let chunk = vec![b'x'; FIRST];
    s.write_all(&chunk).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), seen.recv())
        .await
        .expect("the target gets the body before it is all sent");
    for _ in 1..(BIG / FIRST) {
        s.write_all(&chunk).await.unwrap();
    }
    let out = read_until(&mut s, BIG.to_string().as_bytes()).await;
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
    p.shutdown().await;

    // Response: the client has the first MiB while the target still holds the rest.
    let release = Arc::new(tokio::sync::Notify::new());
    let r2 = Arc::clone(&release);
    let up = raw(move |mut s| {
        let release = Arc::clone(&r2);
        async move {
            read_head(&mut s).await;
            let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {BIG}\r\n\r\n");
            let chunk = vec![b'y'; FIRST];
            s.write_all(head.as_bytes()).await.unwrap();
            s.write_all(&chunk).await.unwrap();
            release.notified().await;
            for _ in 1..(BIG / FIRST) {
                if s.write_all(&chunk).await.is_err() {
                    return;
                }
            }
        }
    })
    .await;
    let (p, l) = through(up).await;
    let resp = client()
        .request(
            Request::get(format!("http://{l}/"))
                .body(http_body_util::Full::new(Bytes::new()))
                .unwrap(),
        )
        .await
        .unwrap();
    let mut body = resp.into_body();
    let mut got = 0usize;
    while got < FIRST {
        let f = tokio::time::timeout(Duration::from_secs(5), body.frame())
            .await
            .expect("the first MiB before the target sends the rest")
            .unwrap()
            .unwrap();
        got += f.data_ref().map_or(0, |d| d.len());
    }
    release.notify_one();
    while let Some(f) = body.frame().await {
        got += f.unwrap().data_ref().map_or(0, |d| d.len());
    }
    assert_eq!(got, BIG);
    p.shutdown().await;
}

#[tokio::test]
async fn a_pooled_connection_the_target_closed_is_replaced_silently() {
    let conns = Arc::new(AtomicUsize::new(0));
    let c2 = Arc::clone(&conns);
    // Answers one request per connection, then closes it without saying so.
    let up = raw(move |mut s| {
        c2.fetch_add(1, SeqCst);
        async move {
            read_head(&mut s).await;
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let (p, l) = through(up).await;
    let c = client();
    for _ in 0..4 {
        assert_eq!(get(&c, l, "/").await, (StatusCode::OK, "ok".to_string()));
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    assert_eq!(conns.load(SeqCst), 4);
    let (_, metrics) = admin(&p, "GET", "/metrics", "").await;
    assert!(
        !metrics
            .lines()
            .any(|l| l.starts_with("HTTPCode_Target_5XX_Count{") && !l.ends_with(" 0")),
        "{metrics}"
    );
    p.shutdown().await;
}

#[tokio::test]
async fn http10_and_upgrades_still_work_through_hyper() {
    let up = echo().await;
    let (p, l) = through(up.addr).await;
    let out = raw_exchange(l, b"GET /old HTTP/1.0\r\nhost: orders\r\n\r\n").await;
    assert!(
        out.starts_with("HTTP/1.0 200") || out.starts_with("HTTP/1.1 200"),
        "{out}"
    );
    assert!(out.ends_with("GET /old 0"), "{out}");
    // A fast-path request, then one hyper takes, on the same connection.
    let out = raw_exchange(
        l,
        b"GET /one HTTP/1.1\r\nhost: orders\r\n\r\nGET /two HTTP/1.0\r\nhost: orders\r\n\r\n",
    )
    .await;
    assert!(
        out.contains("GET /one 0") && out.ends_with("GET /two 0"),
        "{out}"
    );
    p.shutdown().await;
}

#[tokio::test]
async fn an_answer_before_the_whole_body_is_relayed_at_once() {
    // The target refuses a large upload after its head, without reading the body.
    let up = raw(|mut s| async move {
        read_head(&mut s).await;
        let _ = s
            .write_all(b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 3\r\n\r\nbig")
            .await;
        tokio::time::sleep(Duration::from_secs(10)).await;
    })
    .await;
    let (p, l) = through(up).await;
    let mut s = TcpStream::connect(l).await.unwrap();
    s.write_all(b"PUT / HTTP/1.1\r\nhost: o\r\ncontent-length: 67108864\r\n\r\n")
        .await
        .unwrap();
    let chunk = vec![b'z'; 256 * 1024];
    let send = async {
        for _ in 0..256 {
            if s.write_all(&chunk).await.is_err() {
                break;
            }
        }
    };
    // The client may be stuck sending: the answer must come anyway, well before the
    // per-request timeout.
    let _ = tokio::time::timeout(Duration::from_secs(2), send).await;
    let out = read_until(&mut s, b"big").await;
    assert!(out.starts_with("HTTP/1.1 413"), "{out}");
    assert!(out.contains("connection: close"), "{out}");
    p.shutdown().await;
}
