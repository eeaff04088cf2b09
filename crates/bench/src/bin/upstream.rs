//! `berth-bench-upstream`: the upstream of the proxy benchmark (`bench/proxy.sh`), a
//! tiny fast HTTP/1.1 server (hyper 1, keep-alive) answering every request with 200 and
//! a small fixed body.
//!
//! ```text
//! berth-bench-upstream [--listen 127.0.0.1:0] [--threads 2] [--body-bytes 64]
//! ```
//!
//! Prints `listening on ADDR` on stdout once it accepts connections.

use std::convert::Infallible;
use std::io::Write as _;
use std::net::SocketAddr;

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

fn usage() -> ! {
    eprintln!("usage: berth-bench-upstream [--listen 127.0.0.1:0] [--threads 2] [--body-bytes 64]");
    std::process::exit(2)
}

fn main() -> anyhow::Result<()> {
    let mut listen: SocketAddr = "127.0.0.1:0".parse()?;
    let mut threads = 2usize;
    let mut body_bytes = 64usize;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--listen" => listen = value.parse().context("--listen")?,
            "--threads" => threads = value.parse().context("--threads")?,
            "--body-bytes" => body_bytes = value.parse().context("--body-bytes")?,
            _ => usage(),
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()?;
    rt.block_on(serve(listen, Bytes::from(vec![b'x'; body_bytes])))
}

async fn serve(listen: SocketAddr, body: Bytes) -> anyhow::Result<()> {
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    println!("listening on {}", listener.local_addr()?);
    std::io::stdout().flush()?;
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("accept: {e}");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        tokio::spawn(async move {
            let service = service_fn(move |_req: Request<Incoming>| {
                let body = body.clone();
                async move { Ok::<_, Infallible>(Response::new(Full::new(body))) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
