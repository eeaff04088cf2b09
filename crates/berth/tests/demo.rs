//! `berth demo`: the real binary runs a demo application (port from `--listen` or
//! `PORT`, servedBy from `ECS_TASK_ARN`, one log line per request, a clean exit on
//! SIGTERM), prints its image map, and builds the demo images for Docker, which run and
//! answer the seeds' health checks (`curl` inside the container).
//!
//! `demo_images_run_in_docker` needs a Docker Engine (and the `docker` CLI) and fails,
//! never skips, without one; it builds `berth/proxy:local` and the demo images from
//! this binary, as `berth agent --runtime docker` does.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One GET with `Connection: close`: (status, served-by header, body).
fn get(addr: SocketAddr, path: &str) -> Option<(u16, String, String)> {
    use std::io::Write;
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let (head, body) = buf.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let served_by = head
        .lines()
        .find_map(|l| l.strip_prefix("x-demo-served-by: "))
        .unwrap_or_default()
        .to_string();
    Some((status, served_by, body.to_string()))
}

fn wait_for_get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let start = Instant::now();
    loop {
        if let Some(a) = get(addr, path) {
            return a;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{addr} never answered"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// SIGTERM, then the exit within 10 s.
fn terminate(mut child: Child) -> Output {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("berth demo did not exit on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn demo_app_answers_and_exits_on_sigterm() {
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let child = Command::new(BERTH)
        .args(["demo", "retail-catalog", "--listen", &addr.to_string()])
        .env(
            "ECS_TASK_ARN",
            "arn:aws:ecs:us-east-1:123456789012:task/retail/7f3a",
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (status, served_by, body) = wait_for_get(addr, "/health");
    assert_eq!((status, body.trim()), (200, "OK"));
    assert_eq!(served_by, "retail-catalog/7f3a");
    let (status, _, body) = get(addr, "/catalogue").unwrap();
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["servedBy"], "retail-catalog/7f3a");
    assert!(!v["products"].as_array().unwrap().is_empty());
    let out = terminate(child);
    assert!(out.status.success(), "exit: {:?}", out.status);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("retail-catalog/7f3a") && stdout.contains("\"GET /catalogue\" 200"),
        "one line per request on stdout: {stdout}"
    );
}

#[test]
fn demo_port_comes_from_port() {
    let port = free_port();
    let child = Command::new(BERTH)
        .args(["demo", "cats"])
        .env("PORT", port.to_string())
        .env_remove("ECS_TASK_ARN")
        .env("HOSTNAME", "host-9")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let (status, served_by, _) = wait_for_get(addr, "/");
    assert_eq!((status, served_by.as_str()), (200, "cats/host-9"));
    let (status, _, body) = get(addr, "/cats/").unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("\"animal\":\"cat\""), "{body}");
    assert!(terminate(child).status.success());
}

#[test]
fn demo_image_map_is_printed() {
    let out = Command::new(BERTH)
        .args(["demo", "--print-image-map"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let images = v["images"].as_array().unwrap();
    assert_eq!(images.len(), 7);
    let ui = images
        .iter()
        .find(|e| e["match"] == "public.ecr.aws/aws-containers/retail-store-sample-ui")
        .unwrap();
    let exe = std::fs::canonicalize(BERTH).unwrap();
    let got = std::fs::canonicalize(ui["entryPoint"][0].as_str().unwrap()).unwrap();
    assert_eq!(got, exe);
    assert_eq!(ui["entryPoint"][1], "demo");
    assert_eq!(ui["entryPoint"][2], "retail-ui");
    assert!(images.iter().any(|e| e["match"] == "*/cats"));
}

fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("docker {args:?}: {e} (this test needs the docker CLI and a Docker Engine)")
        })
}

/// Removes the container however the test ends.
struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", &self.0])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

#[test]
fn demo_images_run_in_docker() {
    let out = Command::new(BERTH)
        .args(["demo", "--build-images"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "berth demo --build-images: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = String::from_utf8_lossy(&out.stdout);
    for name in [
        "public.ecr.aws/aws-containers/retail-store-sample-ui:1.2.3",
        "public.ecr.aws/aws-containers/retail-store-sample-catalog:1.2.3",
        "public.ecr.aws/aws-containers/retail-store-sample-orders:1.2.3",
        "public.ecr.aws/aws-containers/retail-store-sample-checkout:1.2.3",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/cats:latest",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/dogs:latest",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:latest",
    ] {
        assert!(listed.contains(name), "{name} not in {listed}");
    }
    // A second run builds nothing.
    let again = Command::new(BERTH)
        .args(["demo", "--build-images"])
        .output()
        .unwrap();
    assert!(again.status.success());
    let again = String::from_utf8_lossy(&again.stdout);
    assert!(!again.contains("(built)"), "{again}");

    for (image, app, health) in [
        (
            "public.ecr.aws/aws-containers/retail-store-sample-catalog:1.2.3",
            "retail-catalog",
            "http://localhost:8080/health",
        ),
        (
            "public.ecr.aws/aws-containers/retail-store-sample-orders:1.2.3",
            "retail-orders",
            "http://localhost:8080/actuator/health",
        ),
        (
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/cats:latest",
            "cats",
            "http://localhost:80/cats/",
        ),
    ] {
        let name = format!("berth-demo-test-{}-{app}", std::process::id());
        let run = docker(&[
            "run",
            "-d",
            "--name",
            &name,
            "-e",
            "ECS_TASK_ARN=arn:aws:ecs:us-east-1:123456789012:task/demo/d0c4",
            image,
        ]);
        assert!(
            run.status.success(),
            "docker run {image}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        let container = Container(name.clone());
        // The seeds' health check, as berth runs it: CMD-SHELL in the container.
        let check = format!("curl -fsS {health} || exit 1");
        let start = Instant::now();
        let answer = loop {
            let out = docker(&["exec", &name, "/bin/sh", "-c", &check]);
            if out.status.success() {
                break String::from_utf8_lossy(&out.stdout).into_owned();
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "{image}: health check never passed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(200));
        };
        if app == "cats" {
            assert!(answer.contains("\"servedBy\":\"cats/d0c4\""), "{answer}");
        }
        // SIGTERM (docker stop): a clean exit, and the request lines in its log.
        let stop = docker(&["stop", "-t", "10", &name]);
        assert!(stop.status.success());
        let code = docker(&["inspect", "-f", "{{.State.ExitCode}}", &name]);
        assert_eq!(String::from_utf8_lossy(&code.stdout).trim(), "0", "{image}");
        let logs = docker(&["logs", &name]);
        let logs = String::from_utf8_lossy(&logs.stdout);
        assert!(
            logs.contains(&format!("{app}/d0c4")) && logs.contains(" 200 "),
            "{image} logs: {logs}"
        );
        drop(container);
    }
}
