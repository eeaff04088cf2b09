//! Root tests of berth-tasknet: real bridges, namespaces, veths, mounts and processes.
//!
//! They need root (CAP_NET_ADMIN, CAP_SYS_ADMIN) and fail, never skip, without it. Each
//! test has its own bridge `bt<run><n>` with subnet `10.213.<n>.0/24` and its own state
//! directory, so tests run in parallel; a guard tears everything down when a test ends,
//! however it ends. After the tests, the harness checks (with `ip`, the file system and
//! `iptables`) that nothing this run created is left.
//!
//! Traffic goes only to addresses on the bridges and in the namespaces made here, and
//! to loopback. Only names that are in the tasks' hosts files are ever looked up, and
//! only for IPv4 (`getent ahostsv4`, `gethostbyname`): a name or address family missing
//! from the hosts file would fall through to DNS (`hosts: files dns`); `getent hosts`
//! asks for IPv6 first and so would query DNS for every alias.

use std::collections::BTreeSet;
use std::future::Future;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use berth_tasknet::{
    chain_name, cleanup_except, netns_name, port_in_use, scan, veth_name, Bridge, BridgeConfig,
    Error, FirewallMode, InstanceNetwork, Ipv4Subnet, Leftover, PortForward, Protocol,
    SandboxConfig, TaskNetConfig, TaskNetwork, VipAllocator, ETC_NETNS_DIR, NETNS_RUN_DIR,
};
use libtest_mimic::{Arguments, Failed, Trial};

// ---------------------------------------------------------------------------------------
// Harness

/// 4 hex digits naming this run's bridges and tasks.
fn run_tag() -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| format!("{:04x}", rand::random::<u16>()))
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

/// The state directory of every bridge of this run, as an agent has one for all its
/// bridges: each test's scan then knows the other tests' tasks for another bridge's,
/// not for strays. Removed at the end (every bridge removes its state file).
fn state_dir() -> &'static Path {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    DIR.get_or_init(|| std::env::temp_dir().join(format!("berth-tasknet-test-{}", run_tag())))
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

const NOT_ROOT: &str =
    "berth-tasknet tests need root (they create bridges, network namespaces, veths and \
                        mounts): run them as root, e.g. `sudo -E cargo test -p berth-tasknet`";

fn main() -> ExitCode {
    let args = Arguments::from_args();
    type TestFn = fn() -> Result<(), Failed>;
    let tests: Vec<(&str, TestFn)> = vec![
        ("bridge_ensure_is_idempotent", bridge_ensure_is_idempotent),
        (
            "bridge_refuses_non_bridges_and_overlaps",
            bridge_refuses_non_bridges_and_overlaps,
        ),
        ("tasks_get_distinct_addresses", tasks_get_distinct_addresses),
        (
            "tcp_between_tasks_and_from_host",
            tcp_between_tasks_and_from_host,
        ),
        (
            "hosts_file_resolves_aliases_to_vips",
            hosts_file_resolves_aliases_to_vips,
        ),
        (
            "loopback_vip_listener_is_task_local",
            loopback_vip_listener_is_task_local,
        ),
        ("destroy_removes_everything", destroy_removes_everything),
        (
            "allocations_survive_restart_and_create_adopts",
            allocations_survive_restart_and_create_adopts,
        ),
        (
            "cleanup_except_removes_crash_leftovers",
            cleanup_except_removes_crash_leftovers,
        ),
        (
            "create_with_netns_adopts_a_held_namespace",
            create_with_netns_adopts_a_held_namespace,
        ),
        (
            "sandbox_namespaces_and_file_system",
            sandbox_namespaces_and_file_system,
        ),
        ("host_ports_forward_to_tasks", host_ports_forward_to_tasks),
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
        let mut leftovers = leftovers_of_this_run();
        // Every bridge removed its state file, so the directory must be empty.
        match std::fs::remove_dir(state_dir()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => leftovers.push(format!("state directory {}: {e}", state_dir().display())),
        }
        if !leftovers.is_empty() {
            eprintln!("FAIL: the tests left behind:");
            for l in &leftovers {
                eprintln!("  {l}");
            }
            return ExitCode::FAILURE;
        }
        let c = created().lock().unwrap();
        println!(
            "leftovers check: none of the {} links and {} task networks of this run is left",
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

/// What of this run exists still.
fn leftovers_of_this_run() -> Vec<String> {
    let c = created().lock().unwrap();
    let mut out = Vec::new();
    let tag = format!("bt{}", run_tag());
    let (_, links) = ip(&["-o", "link", "show"]);
    for line in links.lines() {
        if line.contains(&tag) {
            out.push(format!("link: {line}"));
        }
    }
    for b in &c.bridges {
        if ip(&["link", "show", b]).0 {
            out.push(format!("bridge {b}"));
        }
    }
    let (_, netns_list) = ip(&["netns", "list"]);
    for t in &c.tasks {
        let name = netns_name(t);
        if netns_list
            .lines()
            .any(|l| l.split_whitespace().next() == Some(name.as_str()))
        {
            out.push(format!("`ip netns list` shows {name} (task {t})"));
        }
        for p in [
            Path::new(NETNS_RUN_DIR).join(&name),
            Path::new(ETC_NETNS_DIR).join(&name),
        ] {
            if p.exists() {
                out.push(format!("{} (task {t})", p.display()));
            }
        }
        if ip(&["link", "show", &veth_name(t)]).0 {
            out.push(format!("veth {} (task {t})", veth_name(t)));
        }
    }
    // The host ports test's instances (10.213.113.x): their nat chains and jumps.
    if let Ok(o) = Command::new("iptables")
        .args(["-w", "-t", "nat", "-S"])
        .output()
    {
        for line in String::from_utf8_lossy(&o.stdout).lines() {
            if line.contains("BERTH-HP-0AD571") {
                out.push(format!("iptables -t nat: {line}"));
            }
        }
    }
    if let Ok(o) = Command::new("iptables")
        .args(["-w", "-S", "FORWARD"])
        .output()
    {
        for line in String::from_utf8_lossy(&o.stdout).lines() {
            if line.contains(&format!("berth bridge {tag}")) {
                out.push(format!("iptables: {line}"));
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Fixtures

/// A test's bridge: `bt<run><n>`, `10.213.<n>.0/24`, state in the run's state
/// directory. Dropping it removes every task network of the bridge and the bridge.
struct Env {
    bridge: Bridge,
    config: BridgeConfig,
}

impl Env {
    async fn new(n: u8) -> Env {
        let config = BridgeConfig {
            name: format!("bt{}{n:02x}", run_tag()),
            subnet: subnet(n),
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
            Err(Error::SubnetConflict { interface, .. }) if interface.starts_with("bt") => {
                eprintln!("removing {interface}, left by an earlier run");
                ip(&["link", "del", &interface]);
                Bridge::ensure(&config).await.unwrap()
            }
            r => r.unwrap(),
        };
        Env { bridge, config }
    }

    fn task_id(&self, label: &str) -> String {
        let id = format!("test-{}-{}-{label}", run_tag(), self.bridge.name());
        created().lock().unwrap().tasks.insert(id.clone());
        id
    }

    async fn task(&self, label: &str) -> TaskNetwork {
        TaskNetwork::create(
            &self.bridge,
            &self.task_id(label),
            &TaskNetConfig::default(),
        )
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

fn subnet(n: u8) -> Ipv4Subnet {
    Ipv4Subnet::new(Ipv4Addr::new(10, 213, n, 0), 24).unwrap()
}

/// A child process killed when the test ends.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `program args…` inside the task; (success, stdout, stderr).
fn run_in_task(t: &TaskNetwork, program: &str, args: &[&str]) -> (bool, String, String) {
    let out = t
        .command(program)
        .args(args)
        .output()
        .expect("spawn in task");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Connects to `addr` (from the calling thread's namespace), retrying for up to 10 s
/// while nothing listens yet.
fn connect_retry(addr: SocketAddr) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(s) => return s,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("connect to {addr}: {e}"),
        }
    }
}

fn read_all(mut s: TcpStream) -> String {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// Serves `reply` to every connection on `listener` from a thread, until dropped (which
/// closes the listener).
struct Server {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn serve(listener: TcpListener, reply: String) -> Server {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    listener.set_nonblocking(true).unwrap();
    let thread = std::thread::spawn(move || {
        while !flag.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((mut c, _)) => {
                    let _ = c.set_nonblocking(false);
                    let _ = c.write_all(reply.as_bytes());
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    });
    Server {
        stop,
        thread: Some(thread),
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------------------
// Tests

fn bridge_ensure_is_idempotent() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(101).await;
        let again = Bridge::ensure(&env.config).await.unwrap();
        assert_eq!(again.index(), env.bridge.index());
        assert_eq!(again.gateway(), Ipv4Addr::new(10, 213, 101, 1));
        let name = env.bridge.name();
        let (ok, out) = ip(&["-d", "-o", "link", "show", name]);
        assert!(ok, "bridge {name} exists");
        assert!(out.contains(" bridge "), "{name} is a bridge: {out}");
        assert!(
            out.contains("<BROADCAST,MULTICAST,UP") || out.contains(",UP"),
            "{name} is up: {out}"
        );
        let (_, addrs) = ip(&["-4", "-o", "addr", "show", "dev", name]);
        let inet: Vec<_> = addrs.lines().collect();
        assert_eq!(inet.len(), 1, "one address: {addrs}");
        assert!(inet[0].contains("inet 10.213.101.1/24"), "{addrs}");
        let out = Command::new("iptables")
            .args(["-w", "-S", "FORWARD"])
            .output()
            .unwrap();
        let rules = String::from_utf8_lossy(&out.stdout);
        let ours: Vec<&str> = rules
            .lines()
            .filter(|l| l.contains(&format!("berth bridge {name}\"")))
            .collect();
        let drops = ours
            .iter()
            .filter(|l| l.contains("! -o") && l.ends_with("-j DROP"))
            .count();
        assert_eq!(drops, 1, "one isolation rule for {name}: {rules}");
        let accepts = ours.iter().filter(|l| l.ends_with("-j ACCEPT")).count();
        let nf = std::fs::read_to_string("/proc/sys/net/bridge/bridge-nf-call-iptables")
            .is_ok_and(|s| s.trim() == "1");
        assert_eq!(
            accepts,
            usize::from(nf),
            "accept rule only with br_netfilter: {rules}"
        );
    })
}

fn bridge_refuses_non_bridges_and_overlaps() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(102).await;
        // a subnet overlapping the first bridge's
        let overlapping = BridgeConfig {
            name: format!("bt{}ov", run_tag()),
            subnet: "10.213.102.128/25".parse().unwrap(),
            ..env.config.clone()
        };
        created()
            .lock()
            .unwrap()
            .bridges
            .insert(overlapping.name.clone());
        match Bridge::ensure(&overlapping).await {
            Err(Error::SubnetConflict { interface, .. }) => {
                assert_eq!(interface, env.bridge.name())
            }
            other => panic!("expected a subnet conflict, got {other:?}"),
        }
        assert!(
            !ip(&["link", "show", &overlapping.name]).0,
            "nothing was created"
        );
        // a link of the name that is not a bridge
        let veth = format!("bt{}nb", run_tag());
        created().lock().unwrap().bridges.insert(veth.clone());
        assert!(
            ip(&[
                "link",
                "add",
                &veth,
                "type",
                "veth",
                "peer",
                "name",
                &format!("bt{}np", run_tag())
            ])
            .0
        );
        let res = Bridge::ensure(&BridgeConfig {
            name: veth.clone(),
            subnet: subnet(112),
            ..env.config.clone()
        })
        .await;
        ip(&["link", "del", &veth]);
        assert!(matches!(res, Err(Error::NotABridge { .. })), "{res:?}");
    })
}

fn tasks_get_distinct_addresses() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(103).await;
        let a = env.task("a").await;
        let b = env.task("b").await;
        let s = subnet(103);
        assert_ne!(a.ip(), b.ip());
        for t in [&a, &b] {
            assert!(
                s.contains(t.ip()) && t.ip() != s.gateway() && t.ip() != s.broadcast(),
                "{}",
                t.ip()
            );
            assert_eq!(t.gateway(), s.gateway());
            assert_eq!(t.prefix(), 24);
            assert!(t.veth_name().len() <= 15);
            let (_, list) = ip(&["netns", "list"]);
            assert!(
                list.lines().any(|l| l.starts_with(t.netns_name())),
                "ip netns list shows {}",
                t.netns_name()
            );
            let (ok, addr) = ip(&[
                "-n",
                t.netns_name(),
                "-4",
                "-o",
                "addr",
                "show",
                "dev",
                "eth0",
            ]);
            assert!(
                ok && addr.contains(&format!("inet {}/24", t.ip())),
                "{addr}"
            );
            let (_, route) = ip(&["-n", t.netns_name(), "route", "show", "default"]);
            assert!(
                route.contains(&format!("default via {}", s.gateway())),
                "{route}"
            );
            let (_, lo) = ip(&["-n", t.netns_name(), "-o", "link", "show", "lo"]);
            assert!(lo.contains(",UP"), "lo up: {lo}");
            let (_, ports) = ip(&["-o", "link", "show", "master", env.bridge.name()]);
            assert!(
                ports.contains(t.veth_name()),
                "{} on the bridge: {ports}",
                t.veth_name()
            );
        }
    })
}

fn tcp_between_tasks_and_from_host() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(104).await;
        let a = env.task("a").await;
        let b = env.task("b").await;

        // A server started as a process in task A (no name lookups: addresses only).
        let script = format!(
            "import socket\n\
             s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
             s.bind(('{}', 8080)); s.listen(16)\n\
             while True:\n    c, _ = s.accept(); c.sendall(b'hello from task a'); c.close()\n",
            a.ip()
        );
        let _server = Proc(a.command("python3").args(["-c", &script]).spawn().unwrap());
        let a_addr = SocketAddr::from((a.ip(), 8080));
        // host -> task A, via the bridge
        assert_eq!(read_all(connect_retry(a_addr)), "hello from task a");
        // task B -> task A, through both veths and the bridge: a process in B ...
        let client = format!(
            "import socket\ns = socket.create_connection(('{}', 8080), timeout=5)\nprint(s.recv(100).decode())",
            a.ip()
        );
        let (ok, out, err) = run_in_task(&b, "python3", &["-c", &client]);
        assert!(ok, "client in task B: {err}");
        assert_eq!(out.trim(), "hello from task a");
        // ... and a socket made on a thread in B's namespace.
        let got = b.run_in_netns(|| read_all(connect_retry(a_addr))).unwrap();
        assert_eq!(got, "hello from task a");

        // A Rust listener bound inside task B with run_in_netns stays in B.
        let listener = b
            .run_in_netns(|| TcpListener::bind((b.ip(), 9000)).unwrap())
            .unwrap();
        let _server_guard = serve(listener, "hello from task b".into());
        let b_addr = SocketAddr::from((b.ip(), 9000));
        assert_eq!(read_all(connect_retry(b_addr)), "hello from task b");
        assert_eq!(
            a.run_in_netns(|| read_all(connect_retry(b_addr))).unwrap(),
            "hello from task b"
        );
        // the tasks reach the host through their gateway
        let host_listener = TcpListener::bind((env.bridge.gateway(), 0)).unwrap();
        let gw_addr = host_listener.local_addr().unwrap();
        let _server_guard = serve(host_listener, "hello from the host".into());
        assert_eq!(
            a.run_in_netns(|| read_all(connect_retry(gw_addr))).unwrap(),
            "hello from the host"
        );
    })
}

fn hosts_file_resolves_aliases_to_vips() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(105).await;
        let t = TaskNetwork::create(
            &env.bridge,
            &env.task_id("web"),
            &TaskNetConfig {
                hostname: Some("web-task".into()),
            },
        )
        .await
        .unwrap();
        let mut vips = VipAllocator::new();
        let orders = vips.vip("orders").unwrap();
        let payments = vips.vip("payments.internal").unwrap();
        assert_eq!(orders, Ipv4Addr::new(127, 255, 0, 2));
        assert_eq!(payments, Ipv4Addr::new(127, 255, 0, 3));
        let path = t.write_hosts(&vips.entries()).unwrap();
        assert_eq!(
            path,
            Path::new(ETC_NETNS_DIR).join(t.netns_name()).join("hosts")
        );
        let inode = std::fs::metadata(&path).unwrap().ino();

        let getent = |name: &str| {
            // ahostsv4 (getaddrinfo, AF_INET): `getent hosts` would first ask for an IPv6
            // address, miss in the hosts file and ask DNS.
            let (ok, out, err) = run_in_task(&t, "getent", &["ahostsv4", name]);
            assert!(ok, "getent ahostsv4 {name} in the task: {err}");
            out.split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string()
        };
        assert_eq!(getent("orders"), "127.255.0.2");
        assert_eq!(getent("payments.internal"), "127.255.0.3");
        assert_eq!(getent("web-task"), t.ip().to_string());
        let (_, localhost, _) = run_in_task(&t, "getent", &["ahostsv4", "localhost"]);
        assert!(localhost.starts_with("127.0.0.1 "), "{localhost}");
        // the task's hostname, from its UTS namespace and its /etc/hostname
        let (_, uname, _) = run_in_task(&t, "uname", &["-n"]);
        assert_eq!(uname.trim(), "web-task");
        if Path::new("/etc/hostname").exists() {
            let (_, hostname, _) = run_in_task(&t, "cat", &["/etc/hostname"]);
            assert_eq!(hostname.trim(), "web-task");
        }
        // the host's /etc/hosts is untouched
        assert!(!std::fs::read_to_string("/etc/hosts")
            .unwrap()
            .contains("orders"));

        // A process already running in the task, resolving on request.
        let resolver = "import socket, sys\n\
                        for line in sys.stdin:\n    print(socket.gethostbyname(line.strip()), flush=True)\n";
        let mut child = Proc(
            t.command("python3")
                .args(["-c", resolver])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let mut stdin = child.0.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.0.stdout.take().unwrap());
        let mut ask = |name: &str| {
            writeln!(stdin, "{name}").unwrap();
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            line.trim().to_string()
        };
        assert_eq!(ask("orders"), "127.255.0.2");

        // Rewrite: orders moves (a new allocator, as after a change of plan), and the
        // text gets shorter, which exercises the padding path.
        let mut next =
            VipAllocator::from_entries([("orders", Ipv4Addr::new(127, 255, 0, 9))]).unwrap();
        assert_eq!(next.vip("orders").unwrap(), Ipv4Addr::new(127, 255, 0, 9));
        t.write_hosts(&next.entries()).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().ino(),
            inode,
            "rewritten in place"
        );
        assert_eq!(
            ask("orders"),
            "127.255.0.9",
            "the running process sees the new VIP"
        );
        assert_eq!(
            getent("orders"),
            "127.255.0.9",
            "a new process sees the new VIP"
        );
        // (Checked by reading the file the task sees, not by a lookup: a name missing
        // from the hosts file would be asked of DNS.)
        let (_, seen, _) = run_in_task(&t, "cat", &["/etc/hosts"]);
        assert!(seen.contains("127.255.0.9\torders\n"), "{seen}");
        assert!(
            !seen.contains("payments.internal"),
            "payments.internal is gone: {seen}"
        );
        // and longer again
        let aliases: Vec<(String, Ipv4Addr)> = (0..20)
            .map(|i| (format!("svc{i}"), Ipv4Addr::new(127, 255, 1, i as u8)))
            .collect();
        t.write_hosts(&aliases).unwrap();
        assert_eq!(ask("svc19"), "127.255.1.19");
        assert_eq!(t.aliases().unwrap(), aliases);

        // The iproute2 convention: `ip netns exec` bind-mounts the same file.
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                t.netns_name(),
                "getent",
                "ahostsv4",
                "svc3",
            ])
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&out.stdout).starts_with("127.255.1.3"),
            "{out:?}"
        );
        drop(stdin);
    })
}

fn loopback_vip_listener_is_task_local() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(106).await;
        let t = env.task("proxy").await;
        let token = format!("vip listener of {}", t.task_id());
        let vip = SocketAddr::from((Ipv4Addr::new(127, 255, 0, 2), 80));
        // 127.255.0.2 is local in the task without any address added: lo has only
        // 127.0.0.1/8.
        let (_, lo) = ip(&[
            "-n",
            t.netns_name(),
            "-4",
            "-o",
            "addr",
            "show",
            "dev",
            "lo",
        ]);
        assert_eq!(lo.lines().count(), 1, "{lo}");
        assert!(lo.contains("inet 127.0.0.1/8"), "{lo}");
        let listener = t.run_in_netns(|| TcpListener::bind(vip)).unwrap().unwrap();
        let _server_guard = serve(listener, token.clone());
        // inside: a socket on a thread in the namespace, and a process in the task
        assert_eq!(
            t.run_in_netns(|| read_all(connect_retry(vip))).unwrap(),
            token
        );
        let client = "import socket\ns = socket.create_connection(('127.255.0.2', 80), timeout=5)\nprint(s.recv(200).decode())";
        let (ok, out, err) = run_in_task(&t, "python3", &["-c", client]);
        assert!(ok, "{err}");
        assert_eq!(out.trim(), token);
        // from the host: 127.255.0.2 is the host's own loopback, where our listener is not
        match TcpStream::connect_timeout(&vip, Duration::from_secs(2)) {
            Err(_) => {}
            Ok(s) => assert_ne!(
                read_all(s),
                token,
                "the task's VIP listener must not be visible from the host"
            ),
        }
        // nor from another task
        let other = env.task("other").await;
        match other
            .run_in_netns(|| TcpStream::connect_timeout(&vip, Duration::from_secs(2)))
            .unwrap()
        {
            Err(_) => {}
            Ok(s) => assert_ne!(read_all(s), token),
        }
    })
}

fn destroy_removes_everything() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(107).await;
        let t = env.task("gone").await;
        let keep = env.task("stays").await;
        t.write_hosts(&[("orders", Ipv4Addr::new(127, 255, 0, 2))])
            .unwrap();
        let ipam = env.bridge.ipam().unwrap();
        assert_eq!(ipam.get(t.task_id()).unwrap(), Some(t.ip()));
        // A process still running in the task: destroy kills nothing and is not
        // hindered by it.
        let mut sleeper = Proc(t.command("sleep").arg("30").spawn().unwrap());
        t.destroy().await.unwrap();
        assert!(
            sleeper.0.try_wait().unwrap().is_none(),
            "the process still runs"
        );
        drop(sleeper);
        let (_, list) = ip(&["netns", "list"]);
        assert!(!list.contains(t.netns_name()), "{list}");
        assert!(!t.netns_path().exists());
        assert!(!t.etc_dir().exists());
        assert!(!ip(&["link", "show", t.veth_name()]).0, "veth gone");
        assert_eq!(ipam.get(t.task_id()).unwrap(), None, "address released");
        // idempotent
        t.destroy().await.unwrap();
        // a process can no longer be started in it
        assert!(t.command("true").status().is_err());
        // the other task is untouched
        assert!(keep.netns_path().exists() && ip(&["link", "show", keep.veth_name()]).0);
        assert_eq!(ipam.get(keep.task_id()).unwrap(), Some(keep.ip()));
        let (ok, _, err) = run_in_task(&keep, "true", &[]);
        assert!(ok, "{err}");
    })
}

fn allocations_survive_restart_and_create_adopts() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(108).await;
        let a = env.task("a").await;
        let b = env.task("b").await;
        a.write_hosts(&[("orders", Ipv4Addr::new(127, 255, 0, 2))])
            .unwrap();
        let listener = a
            .run_in_netns(|| TcpListener::bind((a.ip(), 7000)).unwrap())
            .unwrap();
        let _server_guard = serve(listener, "still here".into());
        let (a_ip, b_ip) = (a.ip(), b.ip());
        drop((a, b));

        // "Restart": a new Bridge and IPAM from the same config and state directory.
        let bridge = Bridge::ensure(&env.config).await.unwrap();
        let ipam = bridge.ipam().unwrap();
        assert_eq!(ipam.get(&env.task_id("a")).unwrap(), Some(a_ip));
        assert_eq!(ipam.allocate(&env.task_id("b")).unwrap(), b_ip);
        // a crash had taken B's veth with it: create repairs it
        assert!(ip(&["link", "del", &veth_name(&env.task_id("b"))]).0);
        let a = TaskNetwork::create(&bridge, &env.task_id("a"), &TaskNetConfig::default())
            .await
            .unwrap();
        let b = TaskNetwork::create(&bridge, &env.task_id("b"), &TaskNetConfig::default())
            .await
            .unwrap();
        assert_eq!((a.ip(), b.ip()), (a_ip, b_ip));
        // A's namespace, socket and aliases were kept
        assert_eq!(
            a.aliases().unwrap(),
            vec![("orders".to_string(), Ipv4Addr::new(127, 255, 0, 2))]
        );
        let a_addr = SocketAddr::from((a_ip, 7000));
        assert_eq!(read_all(connect_retry(a_addr)), "still here");
        // B's network works again
        assert_eq!(
            b.run_in_netns(|| read_all(connect_retry(a_addr))).unwrap(),
            "still here"
        );
        let c = env.task("c").await;
        assert!(![a_ip, b_ip].contains(&c.ip()));
    })
}

fn cleanup_except_removes_crash_leftovers() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(109).await;
        let keep = env.task("keep").await;
        let lost = env.task("lost").await;
        lost.write_hosts(&[("orders", Ipv4Addr::new(127, 255, 0, 2))])
            .unwrap();
        let lost_id = lost.task_id().to_string();
        let lost_names = (
            lost.netns_name().to_string(),
            lost.veth_name().to_string(),
            lost.etc_dir().to_path_buf(),
        );
        // The agent crashes: it forgets `lost` without destroying it ...
        drop(lost);
        // ... and had just recorded a third task when it died.
        let partial = env.task_id("partial");
        env.bridge.ipam().unwrap().allocate(&partial).unwrap();
        // A veth someone attached to the bridge.
        let stray = format!("bt{}sv", run_tag());
        assert!(
            ip(&[
                "link",
                "add",
                &stray,
                "type",
                "veth",
                "peer",
                "name",
                &format!("bt{}sp", run_tag())
            ])
            .0
        );
        assert!(ip(&["link", "set", &stray, "master", env.bridge.name()]).0);

        let listener = keep
            .run_in_netns(|| TcpListener::bind((keep.ip(), 7000)).unwrap())
            .unwrap();
        let _server_guard = serve(listener, "kept".into());

        let found = scan(&env.bridge).await.unwrap();
        let has = |l: &Leftover| found.contains(l);
        assert!(has(&Leftover::Netns {
            name: lost_names.0.clone(),
            task_id: Some(lost_id.clone())
        }));
        assert!(has(&Leftover::Veth {
            name: lost_names.1.clone(),
            task_id: Some(lost_id.clone())
        }));
        assert!(has(&Leftover::EtcDir {
            path: lost_names.2.clone(),
            task_id: Some(lost_id.clone())
        }));
        assert!(found
            .iter()
            .any(|l| matches!(l, Leftover::Allocation { task_id, .. } if *task_id == partial)));
        assert!(has(&Leftover::Veth {
            name: stray.clone(),
            task_id: None
        }));
        assert!(found.iter().any(|l| l.task_id() == Some(keep.task_id())));

        let removed = cleanup_except(&env.bridge, [keep.task_id()]).await.unwrap();
        assert!(
            removed.iter().all(|l| l.task_id() != Some(keep.task_id())),
            "{removed:?}"
        );
        assert!(!Path::new(NETNS_RUN_DIR).join(&lost_names.0).exists());
        assert!(!lost_names.2.exists());
        assert!(!ip(&["link", "show", &lost_names.1]).0);
        assert!(!ip(&["link", "show", &stray]).0);
        let ipam = env.bridge.ipam().unwrap();
        assert_eq!(
            ipam.allocations().unwrap().keys().collect::<Vec<_>>(),
            vec![keep.task_id()]
        );
        // Only the known task is left (namespaces and directories of tasks of other
        // bridges, which tests running in other processes make, may show up as strays).
        let after = scan(&env.bridge).await.unwrap();
        for l in &after {
            match l.task_id() {
                Some(id) => assert_eq!(id, keep.task_id(), "{after:?}"),
                None => assert!(
                    match l {
                        Leftover::Netns { name, .. } => *name != lost_names.0,
                        Leftover::EtcDir { path, .. } => *path != lost_names.2,
                        _ => false,
                    },
                    "{after:?}"
                ),
            }
        }
        assert_eq!(
            read_all(connect_retry(SocketAddr::from((keep.ip(), 7000)))),
            "kept"
        );
        // and the agent adopts it
        let adopted = TaskNetwork::create(&env.bridge, keep.task_id(), &TaskNetConfig::default())
            .await
            .unwrap();
        assert_eq!(adopted.ip(), keep.ip());
        // a second cleanup finds nothing more to do
        assert!(cleanup_except(&env.bridge, [keep.task_id()])
            .await
            .unwrap()
            .is_empty());
    })
}

/// A process in a network namespace of its own (`unshare -n sleep`), as a Docker
/// holder container is; its namespace file.
fn holder() -> (Proc, std::path::PathBuf) {
    let child = Command::new("unshare")
        .args(["--net", "sleep", "60"])
        .spawn()
        .expect("spawn unshare (util-linux)");
    let pid = child.id();
    let own = std::fs::metadata("/proc/self/ns/net").unwrap().ino();
    let ns = std::path::PathBuf::from(format!("/proc/{pid}/ns/net"));
    // unshare execs sleep once the namespace is made
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::metadata(&ns).map_or(true, |m| m.ino() == own) {
        assert!(Instant::now() < deadline, "unshare made no namespace");
        std::thread::sleep(Duration::from_millis(10));
    }
    (Proc(child), ns)
}

fn create_with_netns_adopts_a_held_namespace() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(110).await;
        let id = env.task_id("held");
        let (first, ns) = holder();
        let config = TaskNetConfig::default();
        let t = TaskNetwork::create_with_netns(&env.bridge, &id, &config, &ns)
            .await
            .unwrap();
        let ino = |p: &Path| std::fs::metadata(p).unwrap().ino();
        assert_eq!(ino(t.netns_path()), ino(&ns), "the holder's namespace");
        assert!(t.hosts_path().is_file());
        let listener = t
            .run_in_netns(|| TcpListener::bind((t.ip(), 7100)).unwrap())
            .unwrap();
        let server = serve(listener, "held".into());
        let addr = SocketAddr::from((t.ip(), 7100));
        assert_eq!(read_all(connect_retry(addr)), "held");
        // again: the same namespace, address and working network
        let again = TaskNetwork::create_with_netns(&env.bridge, &id, &config, &ns)
            .await
            .unwrap();
        assert_eq!((again.ip(), ino(again.netns_path())), (t.ip(), ino(&ns)));
        assert_eq!(read_all(connect_retry(addr)), "held");
        drop(server);

        // A new holder (the old one died): its namespace replaces the mount, and the
        // veth moves into it.
        drop(first);
        let (_second, ns2) = holder();
        let t2 = TaskNetwork::create_with_netns(&env.bridge, &id, &config, &ns2)
            .await
            .unwrap();
        assert_eq!(t2.ip(), t.ip(), "the address is kept");
        assert_eq!(ino(t2.netns_path()), ino(&ns2));
        let listener = t2
            .run_in_netns(|| TcpListener::bind((t2.ip(), 7101)).unwrap())
            .unwrap();
        let _server = serve(listener, "second".into());
        assert_eq!(
            read_all(connect_retry(SocketAddr::from((t2.ip(), 7101)))),
            "second"
        );

        // Not a namespace file: refused, nothing mounted.
        let bad = env.task_id("bad");
        let err =
            TaskNetwork::create_with_netns(&env.bridge, &bad, &config, Path::new("/etc/hostname"))
                .await
                .unwrap_err();
        assert!(err.to_string().contains("not a namespace file"), "{err}");
        assert!(!Path::new(NETNS_RUN_DIR).join(netns_name(&bad)).exists());

        t2.destroy().await.unwrap();
        assert!(!t2.netns_path().exists());
        assert!(!ip(&["link", "show", t2.veth_name()]).0, "veth gone");
    })
}

/// Runs `script` with `/bin/sh -c` in the sandbox; (success, stdout + stderr).
fn sh_in(sb: &berth_tasknet::Sandbox, cwd: &Path, read_only: bool, script: &str) -> (bool, String) {
    let mut cmd = sb.command("/bin/sh", cwd, read_only).unwrap();
    cmd.args(["-c", script]);
    let out = sb
        .spawn(move || cmd.output())
        .expect("spawn in the sandbox");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn sandbox_namespaces_and_file_system() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(111).await;
        let t = env.task("sandbox").await;
        let other = env.task("other").await;
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        let share = secret.join("share");
        std::fs::create_dir_all(&secret).unwrap();
        std::fs::write(secret.join("key"), "do not read").unwrap();
        let config = SandboxConfig {
            hidden: vec![secret.clone()],
            host_dirs: vec![share.clone()],
        };
        let sb = t.sandbox(&config).unwrap();
        std::fs::write(share.join("mine"), "shared\n").unwrap();
        let init = sb.init_pid();
        let status = std::fs::read_to_string(format!("/proc/{init}/status")).unwrap();
        for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            assert!(
                status.contains(&format!("{set}:\t0000000000000000")),
                "the init has no capability: {status}"
            );
        }
        let ino = |p: &str| std::fs::metadata(p).unwrap().ino();
        assert_eq!(
            ino(&format!("/proc/{init}/ns/net")),
            ino(t.netns_path().to_str().unwrap()),
            "the init is in the task's network namespace"
        );

        // PID 1 is the init; only the task's processes are in /proc.
        let (ok, out) = sh_in(
            &sb,
            Path::new("/"),
            false,
            "cat /proc/1/cmdline | tr '\\0' ' '; echo; ls -d /proc/[0-9]* | wc -l; echo self=$$",
        );
        assert!(ok, "{out}");
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("berth-init -c "), "{out}");
        let count: usize = lines[1].trim().parse().unwrap();
        assert!(
            count <= 5,
            "init, its sleep, this shell and its pipeline: {out}"
        );
        assert!(lines[2] != "self=1", "{out}");
        // Hostname, hosts file, hidden and shared directories, IPC namespace.
        let (ok, out) = sh_in(&sb, &share, false, "hostname; grep -c . /etc/hosts >/dev/null && echo hosts; pwd; cat mine; ls -A ..; ls -A /etc/netns | wc -l");
        assert!(ok, "{out}");
        assert_eq!(
            out,
            format!(
                "{}\nhosts\n{}\nshared\nshare\n0\n",
                t.hostname(),
                share.display()
            )
        );
        let ipc = |pid: u32| ino(&format!("/proc/{pid}/ns/ipc"));
        assert_ne!(
            ipc(init),
            ipc(std::process::id()),
            "an IPC namespace of its own"
        );
        // Kernel settings are read-only (writing back the value they have), masked
        // paths are empty.
        let p = "/sys/module/printk/parameters/time";
        let (ok, out) = sh_in(&sb, Path::new("/"), false, &format!("cat /proc/sys/kernel/hostname > /proc/sys/kernel/hostname; v=$(cat {p}); echo $v > {p}; wc -c < /proc/timer_list; ls /sys/firmware | wc -l"));
        assert!(ok, "{out}");
        assert_eq!(out.matches("Read-only file system").count(), 2, "{out}");
        assert!(out.starts_with("0\n0\n"), "masked (stdout first): {out}");
        // A read-only root file system: writes fail but for the writable mounts.
        let probe = dir.path().join("probe");
        let (_, out) = sh_in(
            &sb,
            Path::new("/"),
            true,
            &format!(
                "touch {} 2>&1; touch {}/w && echo shared-ok; touch /dev/shm/w && echo shm-ok",
                probe.display(),
                share.display()
            ),
        );
        assert!(out.contains("Read-only file system"), "{out}");
        assert!(out.contains("shared-ok") && out.contains("shm-ok"), "{out}");
        assert!(!probe.exists());
        let (ok, _) = sh_in(
            &sb,
            Path::new("/"),
            false,
            &format!("touch {}", probe.display()),
        );
        assert!(
            ok && probe.exists(),
            "the root is writable without read_only"
        );

        // kill -9 1 inside does nothing to the init.
        let (ok, out) = sh_in(
            &sb,
            Path::new("/"),
            false,
            "kill -9 1; sleep 0.2; kill -0 1 && echo alive",
        );
        assert!(ok && out.contains("alive"), "{out}");
        assert!(sb.is_alive());

        // A command spawned outside Sandbox::spawn does not run.
        let err = sb
            .command("/bin/true", Path::new("/"), false)
            .unwrap()
            .status()
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(nix::libc::EINVAL), "{err}");

        // Killing the init ends every process of the task, even one in a group and
        // session of its own.
        let mut cmd = sb
            .command("/usr/bin/setsid", Path::new("/"), false)
            .unwrap();
        cmd.args(["sleep", "60"]);
        let mut child = sb.spawn(move || cmd.spawn()).unwrap();
        let other_sb = other.sandbox(&SandboxConfig::default()).unwrap();
        sb.kill();
        let deadline = Instant::now() + Duration::from_secs(5);
        while child.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "the task's process outlived its init"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!sb.is_alive());
        assert!(other_sb.is_alive(), "another task is untouched");
        let (ok, _) = sh_in(&other_sb, Path::new("/"), false, "true");
        assert!(ok);
    })
}

/// A container instance's host ports: its own address on the bridge, DNAT from there
/// to a task's port, reached from the host and (through the host and back) from
/// another task of the bridge; a second instance on the same bridge gives out the same
/// port number to a task of its own; emptied, the port leads nowhere; removed, nothing
/// of it is left.
fn host_ports_forward_to_tasks() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(113).await;
        let name = |n: &str| format!("test-{}-instance-{n}", run_tag());
        let inst = InstanceNetwork::ensure(&env.bridge, &name("one"))
            .await
            .unwrap();
        let again = InstanceNetwork::ensure(&env.bridge, &name("one"))
            .await
            .unwrap();
        assert_eq!(again.ip(), inst.ip(), "an instance keeps its address");
        assert!(env.bridge.subnet().contains(inst.ip()));
        let (_, addrs) = ip(&["-4", "-o", "addr", "show", "dev", env.bridge.name()]);
        assert!(addrs.contains(&format!("inet {}/32", inst.ip())), "{addrs}");
        let a = env.task("a").await;
        let b = env.task("b").await;
        let serve_in = |t: &TaskNetwork, reply: &str| {
            let ip = t.ip();
            let l = t
                .run_in_netns(move || TcpListener::bind((ip, 80)).unwrap())
                .unwrap();
            serve(l, reply.to_string())
        };
        let _b80 = serve_in(&b, "hello from task b");
        let _a80 = serve_in(&a, "hello from task a");
        let port = (49153..u16::MAX)
            .find(|p| !port_in_use(Protocol::Tcp, *p))
            .unwrap();
        let forward = |t: &TaskNetwork| PortForward {
            protocol: Protocol::Tcp,
            host_port: port,
            to: std::net::SocketAddrV4::new(t.ip(), 80),
            task_id: t.task_id().to_string(),
        };
        inst.forward(&[forward(&b)]).unwrap();
        let addr = SocketAddr::from((inst.ip(), port));
        assert_eq!(
            read_all(connect_retry(addr)),
            "hello from task b",
            "from the host"
        );
        assert_eq!(
            a.run_in_netns(move || read_all(connect_retry(addr)))
                .unwrap(),
            "hello from task b",
            "from another task of the bridge"
        );
        let other = InstanceNetwork::ensure(&env.bridge, &name("two"))
            .await
            .unwrap();
        assert_ne!(other.ip(), inst.ip());
        other.forward(&[forward(&a)]).unwrap();
        let other_addr = SocketAddr::from((other.ip(), port));
        assert_eq!(read_all(connect_retry(other_addr)), "hello from task a");
        assert_eq!(read_all(connect_retry(addr)), "hello from task b");
        inst.forward(&[]).unwrap();
        assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err());
        for i in [&inst, &other] {
            i.remove().await.unwrap();
            i.remove().await.unwrap();
        }
        let (_, addrs) = ip(&["-4", "-o", "addr", "show", "dev", env.bridge.name()]);
        assert!(!addrs.contains(&format!("{}/32", inst.ip())), "{addrs}");
        let nat = Command::new("iptables")
            .args(["-w", "-t", "nat", "-S"])
            .output()
            .unwrap();
        let nat = String::from_utf8_lossy(&nat.stdout);
        assert!(!nat.contains(&chain_name(inst.ip())), "{nat}");
    })
}
