//! `kill -9` under write load loses no acknowledged write: the real `berth server`
//! binary is killed while several clients write, restarted on the same data
//! directory, and every write it acknowledged must be there.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

fn spawn(dir: &std::path::Path) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["server", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("BERTH_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("berth starts");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .rsplit("http://")
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("unexpected first line: {line}"));
    (child, addr)
}

/// The SigV4 headers of a call, signed with the test credential (the server listens on
/// loopback).
fn sign(addr: SocketAddr, target: &str, body: &[u8]) -> [(&'static str, String); 2] {
    let mut headers = http::HeaderMap::new();
    headers.insert("host", addr.to_string().parse().unwrap());
    headers.insert("x-amz-target", target.parse().unwrap());
    headers.insert(
        "content-type",
        "application/x-amz-json-1.1".parse().unwrap(),
    );
    let service = if target.starts_with(SD) {
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
    let test = berth_sigv4::Credentials {
        access_key_id: "test".into(),
        secret_access_key: "test".into(),
    };
    berth_sigv4::sign(
        &req,
        &test,
        "us-east-1",
        service,
        std::time::SystemTime::now(),
    )
}

/// One AWS JSON 1.1 call; `None` when the connection failed or broke (not acknowledged).
fn call(addr: SocketAddr, target: &str, body: &Value) -> Option<(u16, Value)> {
    let body = body.to_string();
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let [(_, date), (_, auth)] = sign(addr, target, body.as_bytes());
    let req = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nX-Amz-Target: {target}\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Date: {date}\r\nAuthorization: {auth}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status: u16 = head.split(' ').nth(1)?.parse().ok()?;
    let v: Value = serde_json::from_str(body).ok()?;
    Some((status, v))
}

const ECS: &str = "AmazonEC2ContainerServiceV20141113";
const SD: &str = "Route53AutoNaming_v20170314";

#[test]
fn kill_9_under_write_load_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = spawn(dir.path());

    // A Cloud Map service to register instances in.
    let (st, op) = call(
        addr,
        &format!("{SD}.CreateHttpNamespace"),
        &json!({"Name": "dur"}),
    )
    .unwrap();
    assert_eq!(st, 200);
    let (_, op) = call(
        addr,
        &format!("{SD}.GetOperation"),
        &json!({"OperationId": op["OperationId"]}),
    )
    .unwrap();
    let ns = op["Operation"]["Targets"]["NAMESPACE"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, svc) = call(
        addr,
        &format!("{SD}.CreateService"),
        &json!({"Name": "s", "NamespaceId": ns}),
    )
    .unwrap();
    assert_eq!(st, 200, "{svc}");
    let service_id = svc["Service"]["Id"].as_str().unwrap().to_string();

    let stop = Arc::new(AtomicBool::new(false));
    let clusters = Arc::new(Mutex::new(Vec::<String>::new()));
    let instances = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (stop, clusters, instances, service_id) = (
            stop.clone(),
            clusters.clone(),
            instances.clone(),
            service_id.clone(),
        );
        writers.push(std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                if w % 2 == 0 {
                    let name = format!("c-{w}-{i}");
                    if let Some((200, _)) = call(addr, &format!("{ECS}.CreateCluster"), &json!({"clusterName": name})) {
                        clusters.lock().unwrap().push(name);
                    }
                } else {
                    let id = format!("i-{w}-{i}");
                    let body = json!({"ServiceId": service_id, "InstanceId": id,
                        "Attributes": {"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_PORT": "80"}});
                    if let Some((200, _)) = call(addr, &format!("{SD}.RegisterInstance"), &body) {
                        instances.lock().unwrap().push(id);
                    }
                }
            }
        }));
    }
    // Let the load build up, then kill -9 in the middle of it.
    let started = Instant::now();
    while clusters.lock().unwrap().len() < 50 && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    let clusters = clusters.lock().unwrap().clone();
    let instances = instances.lock().unwrap().clone();
    assert!(
        clusters.len() >= 50,
        "only {} acknowledged cluster writes",
        clusters.len()
    );
    assert!(!instances.is_empty());

    let (mut child, addr) = spawn(dir.path());
    for chunk in clusters.chunks(100) {
        let (st, out) = call(
            addr,
            &format!("{ECS}.DescribeClusters"),
            &json!({"clusters": chunk}),
        )
        .unwrap();
        assert_eq!(st, 200);
        assert_eq!(
            out["failures"],
            json!([]),
            "acknowledged clusters lost: {}",
            out["failures"]
        );
        assert_eq!(out["clusters"].as_array().unwrap().len(), chunk.len());
    }
    for id in &instances {
        let (st, out) = call(
            addr,
            &format!("{SD}.GetInstance"),
            &json!({"ServiceId": service_id, "InstanceId": id}),
        )
        .unwrap();
        assert_eq!(st, 200, "acknowledged instance {id} lost: {out}");
    }
    eprintln!(
        "after kill -9: {} acknowledged clusters and {} acknowledged instances all present",
        clusters.len(),
        instances.len()
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
