//! Root tests of berth-taskmeta: the endpoint in real task network namespaces (a berth
//! bridge and task networks from berth-tasknet), asked with `curl` run by `ip netns
//! exec`, as a container of the task would ask it.
//!
//! They need root (namespaces, links, addresses, routes, `setns`) and fail, never
//! skip, without it. Each test has its own bridge `bm<run><n>` with subnet
//! `10.213.<n>.0/24`; a guard tears everything down however a test ends, and after
//! the tests the harness checks that nothing of this run is left.
//!
//! Traffic stays on this machine: in the namespaces and on the bridges made here, and
//! on loopback. Nothing is ever sent towards `169.254.170.2` through the host's own
//! default route: the host reaches it only through a /32 route at a task, added for
//! the test, and other tasks through a route at that task in their own namespace.

use std::collections::BTreeSet;
use std::future::Future;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, ExitCode, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use berth_taskmeta::{
    bind_in_netns, run_in_netns, sample_processes, ContainerFacts, ContainerStatus, MetadataConfig,
    MetadataServer, MetadataSource, NetworkFacts, ProcTarget, StatsSample, TaskCredentials,
    TaskFacts, TaskStatus, DEFAULT_RELAY_PORT, METADATA_IP, METADATA_LISTEN_PORT,
};
use berth_tasknet::{
    cleanup_except, netns_name, Bridge, BridgeConfig, Error, FirewallMode, Ipv4Subnet,
    TaskNetConfig, TaskNetwork, NETNS_RUN_DIR,
};
use libtest_mimic::{Arguments, Failed, Trial};

// ---------------------------------------------------------------------------------------
// Harness

/// 4 hex digits naming this run's bridges and tasks.
fn run_tag() -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| format!("{:04x}", std::process::id() as u16))
}

/// Everything this run created, for the final leftovers check.
#[derive(Default)]
struct Created {
    bridges: BTreeSet<String>,
    tasks: BTreeSet<String>,
}

fn created() -> &'static Mutex<Created> {
    static C: OnceLock<Mutex<Created>> = OnceLock::new();
    C.get_or_init(Default::default)
}

fn state_dir() -> &'static Path {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    DIR.get_or_init(|| std::env::temp_dir().join(format!("berth-taskmeta-test-{}", run_tag())))
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

const NOT_ROOT: &str = "berth-taskmeta's namespace tests need root (they create bridges, \
    network namespaces, addresses and routes): run them as root";

fn main() -> ExitCode {
    let args = Arguments::from_args();
    type TestFn = fn() -> Result<(), Failed>;
    let tests: Vec<(&str, TestFn)> = vec![
        (
            "serves_the_task_and_no_one_else",
            serves_the_task_and_no_one_else,
        ),
        (
            "relay_reaches_the_api_on_the_host",
            relay_reaches_the_api_on_the_host,
        ),
        (
            "shutdown_stops_serving_inside",
            shutdown_stops_serving_inside,
        ),
        ("samples_a_task_process", samples_a_task_process),
    ];
    let trials = tests
        .into_iter()
        .map(|(name, f)| Trial::test(name, f))
        .collect();
    if !args.list && !is_root() {
        eprintln!("FAIL: {NOT_ROOT}");
    }
    let ran = !args.list;
    let conclusion = libtest_mimic::run(&args, trials);
    if ran && is_root() {
        let leftovers = leftovers_of_this_run();
        if !leftovers.is_empty() {
            eprintln!("FAIL: the tests left behind:");
            for l in &leftovers {
                eprintln!("  {l}");
            }
            return ExitCode::FAILURE;
        }
        let c = created().lock().unwrap();
        println!(
            "leftovers check: none of the {} bridges and {} task networks of this run is left",
            c.bridges.len(),
            c.tasks.len()
        );
    }
    if conclusion.has_failed() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Runs an async test body on its own runtime, after checking for root.
fn run_async(body: impl Future<Output = ()>) -> Result<(), Failed> {
    if !is_root() {
        return Err(NOT_ROOT.into());
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(body);
    Ok(())
}

/// `ip ARGS…`: (success, stdout).
fn ip(args: &[&str]) -> (bool, String) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("run ip (iproute2)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn leftovers_of_this_run() -> Vec<String> {
    let c = created().lock().unwrap();
    let mut out = Vec::new();
    for b in &c.bridges {
        if ip(&["link", "show", b]).0 {
            out.push(format!("bridge {b}"));
        }
    }
    for t in &c.tasks {
        let p = Path::new(NETNS_RUN_DIR).join(netns_name(t));
        if p.exists() {
            out.push(format!("{} (task {t})", p.display()));
        }
    }
    let (_, routes) = ip(&["-4", "route", "show", "table", "main"]);
    if routes.lines().any(|l| l.starts_with("169.254.170.2")) {
        out.push(format!("host route to 169.254.170.2: {routes}"));
    }
    if state_dir().exists() && std::fs::remove_dir(state_dir()).is_err() {
        out.push(format!("state directory {}", state_dir().display()));
    }
    out
}

// ---------------------------------------------------------------------------------------
// Fixtures

/// A test's bridge `bm<run><n>`, `10.213.<n>.0/24`. Dropping it removes every task
/// network of the bridge and the bridge.
struct Env {
    bridge: Bridge,
}

impl Env {
    async fn new(n: u8) -> Env {
        let config = BridgeConfig {
            name: format!("bm{}{n:02x}", run_tag()),
            subnet: Ipv4Subnet::new(Ipv4Addr::new(10, 213, n, 0), 24).unwrap(),
            state_dir: state_dir().to_path_buf(),
            firewall: FirewallMode::Auto,
        };
        created()
            .lock()
            .unwrap()
            .bridges
            .insert(config.name.clone());
        let bridge = match Bridge::ensure(&config).await {
            // A bridge of a crashed earlier run still holds the subnet: remove it.
            Err(Error::SubnetConflict { interface, .. }) if interface.starts_with("bm") => {
                ip(&["link", "del", &interface]);
                Bridge::ensure(&config).await.unwrap()
            }
            r => r.unwrap(),
        };
        Env { bridge }
    }

    async fn task(&self, label: &str) -> TaskNetwork {
        let id = format!("test-{}-{}-{label}", run_tag(), self.bridge.name());
        created().lock().unwrap().tasks.insert(id.clone());
        TaskNetwork::create(&self.bridge, &id, &TaskNetConfig::default())
            .await
            .unwrap()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let bridge = self.bridge.clone();
        // Drop runs inside the test's runtime: tear down on a thread with its own.
        let res = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    cleanup_except(&bridge, [] as [&str; 0]).await?;
                    bridge.remove().await
                })
        })
        .join()
        .expect("teardown thread");
        if let Err(e) = res {
            if std::thread::panicking() {
                eprintln!("teardown of {}: {e}", self.bridge.name());
            } else {
                panic!("teardown of {}: {e}", self.bridge.name());
            }
        }
    }
}

/// A host route `169.254.170.2/32 via <task>`, removed when dropped.
struct HostRoute;

impl HostRoute {
    fn via(task: &TaskNetwork) -> HostRoute {
        let (ok, _) = ip(&[
            "route",
            "add",
            "169.254.170.2/32",
            "via",
            &task.ip().to_string(),
            "dev",
            task.bridge_name(),
        ]);
        assert!(ok, "add the host route");
        HostRoute
    }
}

impl Drop for HostRoute {
    fn drop(&mut self) {
        ip(&["route", "del", "169.254.170.2/32"]);
    }
}

/// The agent's side in these tests: fixed facts and credentials.
struct Source {
    task: TaskFacts,
}

impl MetadataSource for Source {
    fn task(&self) -> TaskFacts {
        self.task.clone()
    }

    async fn stats(&self, _container: &str) -> Option<StatsSample> {
        None
    }

    async fn credentials(&self) -> Option<TaskCredentials> {
        Some(TaskCredentials {
            role_arn: "arn:aws:iam::000000000000:role/app".into(),
            access_key_id: "ASIATESTTESTTESTTEST".into(),
            secret_access_key: "secret".into(),
            session_token: "session".into(),
            expiration: SystemTime::now() + Duration::from_secs(3600),
        })
    }
}

fn source(net: &TaskNetwork) -> Arc<Source> {
    let container = |name: &str| ContainerFacts {
        name: name.into(),
        docker_id: format!("{name}-id"),
        docker_name: format!("ecs-app-1-{name}"),
        image: "busybox".into(),
        desired_status: ContainerStatus::Running,
        known_status: ContainerStatus::Running,
        ..ContainerFacts::default()
    };
    Arc::new(Source {
        task: TaskFacts {
            cluster: "default".into(),
            task_arn: format!(
                "arn:aws:ecs:us-east-1:000000000000:task/default/{}",
                net.task_id()
            ),
            family: "app".into(),
            revision: 1,
            desired_status: TaskStatus::Running,
            known_status: TaskStatus::Running,
            task_role_arn: Some("arn:aws:iam::000000000000:role/app".into()),
            network: Some(NetworkFacts {
                ipv4_addresses: vec![net.ip()],
                ..NetworkFacts::default()
            }),
            containers: vec![container("app"), container("sidecar")],
            ..TaskFacts::default()
        },
    })
}

/// Runs `program args…` off the runtime's threads.
async fn run(program: &str, args: &[&str], env: &[(String, String)]) -> Output {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .envs(env.iter().cloned())
        .stdin(Stdio::null());
    tokio::task::spawn_blocking(move || cmd.output().expect("spawn"))
        .await
        .unwrap()
}

/// `ip netns exec <ns> curl -sS -m 5 ARGS…` with `env`: (exit code, stdout).
async fn curl_in(net: &TaskNetwork, args: &[&str], env: &[(String, String)]) -> (i32, String) {
    let mut all = vec!["netns", "exec", net.netns_name(), "curl", "-sS", "-m", "5"];
    all.extend_from_slice(args);
    let out = run("ip", &all, env).await;
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// `curl` of a URL inside the task, its body as JSON.
async fn get_json(net: &TaskNetwork, url: &str) -> serde_json::Value {
    let (code, body) = curl_in(net, &["-f", url], &[]).await;
    assert_eq!(code, 0, "curl {url} in {}: {body}", net.netns_name());
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: {e}: {body}"))
}

fn value_of<'a>(env: &'a [(String, String)], name: &str) -> &'a str {
    &env.iter().find(|(k, _)| k == name).unwrap().1
}

/// Writes the task's nat table with `rules` in its OUTPUT chain, as the agent does
/// (`iptables-restore`, the whole table).
async fn apply_nat(net: &TaskNetwork, rules: Vec<String>) {
    let script = format!(
        "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n{}\nCOMMIT\n",
        rules.join("\n")
    );
    let ns = net.netns_name().to_string();
    let out = tokio::task::spawn_blocking(move || {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &ns, "iptables-restore", "-w", "5"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run iptables-restore");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "iptables-restore: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether a TCP connection to `addr` from the calling thread's namespace succeeds
/// within 3 s.
fn connects(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_secs(3)).is_ok()
}

// ---------------------------------------------------------------------------------------
// Tests

fn serves_the_task_and_no_one_else() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(230).await;
        let task = env.task("a").await;
        let other = env.task("b").await;
        let src = source(&task);
        let config = MetadataConfig {
            region: "us-east-1".into(),
            ..MetadataConfig::default()
        };
        let server = MetadataServer::start(task.netns_path(), config, Arc::clone(&src))
            .await
            .unwrap();
        let listen = SocketAddr::from((METADATA_IP, METADATA_LISTEN_PORT));
        assert_eq!(server.metadata_addr(), listen);
        let rules = server.nat_rules();
        assert_eq!(rules.len(), 1, "{rules:?}");
        apply_nat(&task, rules).await;

        // Inside: the documented URL of the container's own variables answers.
        let app_env = server.env("app");
        let out = run(
            "ip",
            &["netns", "exec", task.netns_name(), "sh", "-c",
              r#"curl -sS -f -m 5 "$ECS_CONTAINER_METADATA_URI_V4" && echo && curl -sS -f -m 5 "http://169.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI""#],
            &app_env,
        )
        .await;
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut lines = text.lines();
        let me: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
        assert_eq!(me["Name"], "app");
        assert_eq!(
            me["Labels"]["com.amazonaws.ecs.task-arn"],
            src.task.task_arn
        );
        let creds: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
        assert_eq!(creds["AccessKeyId"], "ASIATESTTESTTESTTEST");
        assert_eq!(creds["RoleArn"], "arn:aws:iam::000000000000:role/app");

        // The task document, by the other container's token too.
        let side = server.token("sidecar");
        let doc = get_json(&task, &format!("http://169.254.170.2/v4/{side}/task")).await;
        assert_eq!(doc["TaskARN"], src.task.task_arn);
        assert_eq!(doc["Containers"].as_array().unwrap().len(), 2);
        let me = get_json(
            &task,
            value_of(&server.env("sidecar"), "ECS_CONTAINER_METADATA_URI"),
        )
        .await;
        assert_eq!(me["Name"], "sidecar");

        // Refusals, as HTTP statuses.
        let t = server.token("app");
        let cases = [
            (
                vec!["http://169.254.170.2/v4/wrong/task".to_string()],
                "404",
            ),
            (vec!["http://169.254.170.2/nothing".to_string()], "404"),
            (
                vec![
                    "-X".into(),
                    "POST".into(),
                    format!("http://169.254.170.2/v4/{t}"),
                ],
                "405",
            ),
            (
                vec!["http://169.254.170.2/v2/credentials/wrong".to_string()],
                "400",
            ),
        ];
        for (args, status) in cases {
            let mut all = vec!["-o", "/dev/null", "-w", "%{http_code}"];
            all.extend(args.iter().map(String::as_str));
            let (code, got) = curl_in(&task, &all, &[]).await;
            assert_eq!((code, got.as_str()), (0, status), "{args:?}");
        }

        // From another task, even one that routes 169.254.170.2 straight at this task:
        // no connection.
        let (ok, _) = ip(&[
            "netns",
            "exec",
            other.netns_name(),
            "ip",
            "route",
            "add",
            "169.254.170.2/32",
            "via",
            &task.ip().to_string(),
        ]);
        assert!(ok, "route in the other task");
        let (code, _) = curl_in(
            &other,
            &["-m", "3", &format!("http://169.254.170.2/v4/{t}/task")],
            &[],
        )
        .await;
        assert_ne!(code, 0, "another task reached the endpoint");

        // From the host: 169.254.170.2 is not one of its addresses, the task's own
        // address has no listener on port 80, and a route at the task does not help:
        // the listener takes connections over the task's lo only.
        let (_, route) = ip(&["route", "get", "169.254.170.2"]);
        assert!(!route.starts_with("local"), "{route}");
        assert!(!connects(SocketAddr::from((task.ip(), 80))));
        assert!(!connects(SocketAddr::from((
            task.ip(),
            METADATA_LISTEN_PORT
        ))));
        let _route = HostRoute::via(&task);
        let (_, route) = ip(&["route", "get", "169.254.170.2"]);
        assert!(route.contains(env.bridge.name()), "{route}");
        // The route does carry connections to the task: a listener of its own on
        // another port, not bound to lo, answers through it.
        let plain = run_in_netns(task.netns_path(), || TcpListener::bind("0.0.0.0:81")).unwrap();
        let through =
            tokio::task::spawn_blocking(move || connects(SocketAddr::from((METADATA_IP, 81))));
        assert!(through.await.unwrap(), "the test route reaches the task");
        drop(plain);
        for port in [80, METADATA_LISTEN_PORT] {
            let refused = tokio::task::spawn_blocking(move || {
                connects(SocketAddr::from((METADATA_IP, port)))
            });
            assert!(
                !refused.await.unwrap(),
                "the host reached 169.254.170.2:{port}"
            );
        }
        drop(_route);

        // Port 80 stays the application's: it binds 0.0.0.0:80 in the task while the
        // endpoint runs, and the task's own requests to 169.254.170.2:80 still reach
        // the endpoint.
        let app = run_in_netns(task.netns_path(), || TcpListener::bind("0.0.0.0:80"))
            .expect("the application binds 0.0.0.0:80 beside the endpoint");
        let doc = get_json(&task, &format!("http://169.254.170.2/v4/{t}/task")).await;
        assert_eq!(doc["Family"], "app");
        drop(app);
        server.shutdown().await;
    })
}

/// A stand-in for berth's API on the host's loopback: answers each request with the
/// exact bytes it received as the body.
fn echo_api() -> (SocketAddr, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let thread = std::thread::spawn(move || {
        // Two requests: curl's, then the raw one.
        for _ in 0..2 {
            let (mut s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).unwrap();
                assert!(n > 0);
                got.extend_from_slice(&buf[..n]);
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                got.len()
            );
            s.write_all(head.as_bytes()).unwrap();
            s.write_all(&got).unwrap();
        }
    });
    (addr, thread)
}

fn relay_reaches_the_api_on_the_host() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(231).await;
        let task = env.task("a").await;
        let (api, api_thread) = echo_api();
        let config = MetadataConfig {
            api: Some(api),
            ..MetadataConfig::default()
        };
        let server = MetadataServer::start(task.netns_path(), config, source(&task))
            .await
            .unwrap();
        let relay = SocketAddr::from((METADATA_IP, DEFAULT_RELAY_PORT));
        assert_eq!(server.relay_addr(), Some(relay));
        let url = value_of(&server.env("app"), "AWS_ENDPOINT_URL").to_string();
        assert_eq!(url, "http://169.254.170.2:51680");

        // The API listens on the host's loopback: the task cannot reach it itself...
        let (code, _) = curl_in(&task, &["-m", "3", &format!("http://{api}/")], &[]).await;
        assert_ne!(code, 0, "the task reached the host's loopback");
        // ...but through the relay it can, and the API sees the Host the client used.
        let (code, body) = curl_in(
            &task,
            &["-H", "X-Test: 1", &format!("{url}/some/path?a=b")],
            &[],
        )
        .await;
        assert_eq!(code, 0, "{body}");
        assert!(
            body.starts_with("GET /some/path?a=b HTTP/1.1\r\n"),
            "{body}"
        );
        assert!(body.contains("\r\nHost: 169.254.170.2:51680\r\n"), "{body}");
        assert!(body.contains("\r\nX-Test: 1\r\n"), "{body}");

        // Byte for byte, both ways, from a socket made inside the task.
        let sent: &'static [u8] =
            b"GET /x HTTP/1.1\r\nhost: 169.254.170.2:51680\r\nX-Odd:  spaced \r\n\r\n";
        let path = task.netns_path().to_path_buf();
        let echoed = tokio::task::spawn_blocking(move || {
            let mut s = run_in_netns(&path, || TcpStream::connect(relay)).unwrap();
            s.write_all(sent).unwrap();
            let mut back = Vec::new();
            s.read_to_end(&mut back).unwrap();
            back
        });
        let back = echoed.await.unwrap();
        assert!(back.ends_with(sent), "{}", String::from_utf8_lossy(&back));
        api_thread.join().unwrap();
        server.shutdown().await;
    })
}

fn shutdown_stops_serving_inside() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(232).await;
        let task = env.task("a").await;
        let server =
            MetadataServer::start(task.netns_path(), MetadataConfig::default(), source(&task))
                .await
                .unwrap();
        apply_nat(&task, server.nat_rules()).await;
        let url = format!("http://169.254.170.2/v4/{}", server.token("app"));
        assert_eq!(get_json(&task, &url).await["Name"], "app");
        server.shutdown().await;
        // curl's "could not connect": nothing listens any more.
        let (code, _) = curl_in(&task, &[&url], &[]).await;
        assert_eq!(code, 7, "still served after shutdown");
        // The address stays: a new server binds again.
        let again =
            MetadataServer::start(task.netns_path(), MetadataConfig::default(), source(&task))
                .await
                .unwrap();
        let url = format!("http://169.254.170.2/v4/{}", again.token("app"));
        assert_eq!(get_json(&task, &url).await["Name"], "app");
        drop(again);
        // A listener bound with bind_in_netns is one of the task's.
        let l = bind_in_netns(task.netns_path(), SocketAddr::from((METADATA_IP, 8080))).unwrap();
        assert_eq!(
            l.local_addr().unwrap(),
            SocketAddr::from((METADATA_IP, 8080))
        );
    })
}

fn samples_a_task_process() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(233).await;
        let task = env.task("a").await;
        // A process of the task that sends a little traffic first.
        let mut child = Command::new("ip")
            .args([
                "netns",
                "exec",
                task.netns_name(),
                "sh",
                "-c",
                &format!(
                    "curl -s -m 1 http://{}:9/ >/dev/null 2>&1; exec sleep 30",
                    env.bridge.gateway()
                ),
            ])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(800)).await;
        let pids = [child.id() as i32];
        let sample = sample_processes(
            &ProcTarget {
                pids: &pids,
                memory_limit: None,
                netns: Some(task.netns_path()),
            },
            SystemTime::now(),
        )
        .unwrap();
        let _ = child.kill();
        let _ = child.wait();
        assert!(sample.memory.usage > 0, "{sample:?}");
        assert!(sample.memory.limit > 0, "{sample:?}");
        let eth0 = sample
            .networks
            .get("eth0")
            .unwrap_or_else(|| panic!("{sample:?}"));
        assert!(eth0.tx_packets > 0 && eth0.tx_bytes > 0, "{sample:?}");
        assert_eq!(sample.networks.len(), 1, "only eth0, no lo: {sample:?}");
    })
}
