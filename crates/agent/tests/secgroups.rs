//! Root tests of the agent's packet filter (`berth_agent::secgroups`): real task
//! networks (berth-tasknet: a bridge, task namespaces, veths), real nftables, real TCP
//! connections between the tasks.
//!
//! They need root and fail, never skip, without it. Each test has its own bridge
//! `sg<run><n>` with subnet `10.213.<n>.0/24` (n from 220, clear of the other crates'
//! root tests) and tears its networks down however it ends; after all tests the harness
//! checks that no link or namespace of this run is left.
//!
//! A refused connection must time out (its SYN dropped), not be reset: every check of a
//! refusal tells a timeout from an RST, and each test also shows an RST where the
//! filter lets a SYN reach a port nobody listens on.

use std::collections::BTreeSet;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use berth_agent::secgroups::{FilterError, SecurityGroups};
use berth_agent_view::{FirewallView, Peer, PortRange, RuleView};
use berth_docker::{holder_name, DockerRuntime};
use berth_runtime::Runtime;
use berth_tasknet::{
    cleanup_except, netns_name, Bridge, BridgeConfig, Error, FirewallMode, Ipv4Subnet,
    TaskNetConfig, TaskNetwork, NETNS_RUN_DIR,
};
use libtest_mimic::{Arguments, Failed, Trial};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

// ---------------------------------------------------------------------------------------
// Harness

fn run_tag() -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| format!("{:04x}", rand::random::<u16>()))
}

fn state_dir() -> &'static Path {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    DIR.get_or_init(|| std::env::temp_dir().join(format!("berth-secgroups-test-{}", run_tag())))
}

/// The bridges and task ids of this run, for the leftovers check.
fn created() -> &'static Mutex<(BTreeSet<String>, BTreeSet<String>)> {
    static C: OnceLock<Mutex<(BTreeSet<String>, BTreeSet<String>)>> = OnceLock::new();
    C.get_or_init(Default::default)
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

const NOT_ROOT: &str = "the agent's packet filter tests need root (they create bridges, \
                        network namespaces and nftables tables): run them as root, e.g. \
                        `sudo -E cargo test -p berth-agent --test secgroups`";

fn main() -> ExitCode {
    let args = Arguments::from_args();
    type TestFn = fn() -> Result<(), Failed>;
    let tests: Vec<(&str, TestFn)> = vec![
        (
            "ingress_by_cidr_and_port_range",
            ingress_by_cidr_and_port_range,
        ),
        (
            "group_members_change_in_place",
            group_members_change_in_place,
        ),
        (
            "ingress_is_judged_on_the_dialled_port",
            ingress_is_judged_on_the_dialled_port,
        ),
        (
            "egress_is_denied_but_loopback",
            egress_is_denied_but_loopback,
        ),
        (
            "replacing_rules_keeps_established_connections",
            replacing_rules_keeps_established_connections,
        ),
        ("icmp_and_other_protocols", icmp_and_other_protocols),
        (
            "docker_holder_namespace_is_filtered",
            docker_holder_namespace_is_filtered,
        ),
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
        let _ = std::fs::remove_dir(state_dir());
    }
    if conclusion.has_failed() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn leftovers_of_this_run() -> Vec<String> {
    let (bridges, tasks) = &*created().lock().unwrap();
    let mut out = Vec::new();
    for b in bridges {
        if Command::new("ip")
            .args(["link", "show", b])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
        {
            out.push(format!("bridge {b}"));
        }
    }
    for t in tasks {
        let p = Path::new(NETNS_RUN_DIR).join(netns_name(t));
        if p.exists() {
            out.push(format!("{} (task {t})", p.display()));
        }
    }
    out
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

// ---------------------------------------------------------------------------------------
// Fixtures

/// A test's bridge and its tasks; dropping it removes them.
struct Env {
    bridge: Bridge,
}

impl Env {
    async fn new(n: u8) -> Env {
        let config = BridgeConfig {
            name: format!("sg{}{n:02x}", run_tag()),
            subnet: Ipv4Subnet::new(Ipv4Addr::new(10, 213, n, 0), 24).unwrap(),
            state_dir: state_dir().to_path_buf(),
            firewall: FirewallMode::Auto,
        };
        created().lock().unwrap().0.insert(config.name.clone());
        let bridge = match Bridge::ensure(&config).await {
            // A bridge of a crashed earlier run still holds the subnet: remove it.
            Err(Error::SubnetConflict { interface, .. }) if interface.starts_with("sg") => {
                eprintln!("removing {interface}, left by an earlier run");
                let _ = Command::new("ip")
                    .args(["link", "del", &interface])
                    .status();
                Bridge::ensure(&config).await.unwrap()
            }
            r => r.unwrap(),
        };
        Env { bridge }
    }

    /// A task id, `label` naming it.
    fn task_id(&self, label: &str) -> String {
        let id = format!("sgtest-{}-{}-{label}", run_tag(), self.bridge.name());
        created().lock().unwrap().1.insert(id.clone());
        id
    }

    /// A task network (the process runtime's kind).
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

/// Echo servers on `ports` of every address of the task (`0.0.0.0`), until the
/// test's runtime ends.
fn serve(net: &TaskNetwork, ports: &[u16]) {
    for &port in ports {
        let std_listener = net
            .run_in_netns(|| std::net::TcpListener::bind(("0.0.0.0", port)))
            .unwrap()
            .unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = conn.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
    }
}

/// How a connection attempt ended.
#[derive(Debug)]
enum Dial {
    Connected(TcpStream),
    /// No answer to the SYN within the time given: dropped.
    TimedOut,
    /// An error: `ConnectionRefused` is an RST.
    Failed(std::io::ErrorKind),
}

/// A TCP connection from inside `from` to `to`, given `wait` to succeed.
async fn dial_within(from: &TaskNetwork, to: SocketAddrV4, wait: Duration) -> Dial {
    let socket = from.run_in_netns(TcpSocket::new_v4).unwrap().unwrap();
    match tokio::time::timeout(wait, socket.connect(SocketAddr::V4(to))).await {
        Ok(Ok(s)) => Dial::Connected(s),
        Ok(Err(e)) => Dial::Failed(e.kind()),
        Err(_) => Dial::TimedOut,
    }
}

async fn dial(from: &TaskNetwork, to: SocketAddrV4) -> Dial {
    dial_within(from, to, Duration::from_millis(1500)).await
}

/// Asserts that `from` connects to `to`.
async fn connects(from: &TaskNetwork, to: SocketAddrV4) -> TcpStream {
    match dial(from, to).await {
        Dial::Connected(s) => s,
        other => panic!("{} → {to}: expected a connection, got {other:?}", from.ip()),
    }
}

/// Asserts that a connection from `from` to `to` times out (its SYN dropped).
async fn times_out(from: &TaskNetwork, to: SocketAddrV4) {
    match dial(from, to).await {
        Dial::TimedOut => {}
        other => panic!("{} → {to}: expected a timeout, got {other:?}", from.ip()),
    }
}

/// Asserts that `from` is reset by `to` (nothing listens, the filter let the SYN in).
async fn is_reset(from: &TaskNetwork, to: SocketAddrV4) {
    match dial(from, to).await {
        Dial::Failed(std::io::ErrorKind::ConnectionRefused) => {}
        other => panic!("{} → {to}: expected an RST, got {other:?}", from.ip()),
    }
}

/// Asserts that `conn` still carries data both ways.
async fn echoes(conn: &mut TcpStream, what: &str) {
    let msg = format!("ping {what}\n");
    conn.write_all(msg.as_bytes()).await.unwrap();
    let mut back = vec![0; msg.len()];
    tokio::time::timeout(Duration::from_secs(2), conn.read_exact(&mut back))
        .await
        .unwrap_or_else(|_| panic!("{what}: no echo within 2 s"))
        .unwrap();
    assert_eq!(back, msg.as_bytes(), "{what}");
}

fn at(net: &TaskNetwork, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(net.ip(), port)
}

fn tcp(from: u16, to: u16, peer: Peer) -> RuleView {
    RuleView {
        protocol: Some(6),
        ports: Some(PortRange { from, to }),
        icmp: None,
        peer,
    }
}

fn cidr(c: impl ToString) -> Peer {
    Peer::Cidr(c.to_string())
}

fn all_out() -> Vec<RuleView> {
    vec![RuleView {
        protocol: None,
        ports: None,
        icmp: None,
        peer: cidr("0.0.0.0/0"),
    }]
}

/// A filter with `ingress`, egress to anywhere, no groups.
fn firewall(ingress: Vec<RuleView>) -> FirewallView {
    FirewallView {
        groups: vec!["sg-test".into()],
        ingress,
        egress: all_out(),
        members: Default::default(),
    }
}

async fn apply(sg: &mut SecurityGroups, net: &TaskNetwork, fw: &FirewallView) -> bool {
    sg.apply(net, Some(fw)).await.unwrap()
}

/// `nft` inside the task: its output.
fn nft(net: &TaskNetwork, args: &[&str]) -> String {
    let out = net.command(sbin("nft")).args(args).output().unwrap();
    assert!(out.status.success(), "nft {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

// ---------------------------------------------------------------------------------------
// Tests

/// CIDR peers and port ranges; the allowed direction connects, the other times out.
fn ingress_by_cidr_and_port_range() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(220).await;
        let (a, b, c) = (
            env.task("a").await,
            env.task("b").await,
            env.task("c").await,
        );
        serve(&a, &[80]);
        serve(&b, &[80, 8000, 8100, 8101, 9000]);
        // Unfiltered, everything connects, and a port nobody listens on resets.
        for port in [80, 8000, 8101, 9000] {
            drop(connects(&c, at(&b, port)).await);
        }
        is_reset(&c, at(&b, 81)).await;

        let mut sg_a = SecurityGroups::default();
        let mut sg_b = SecurityGroups::default();
        assert!(apply(&mut sg_a, &a, &firewall(vec![])).await);
        let subnet = format!("{}/24", env.bridge.subnet().network());
        let fw_b = firewall(vec![
            tcp(80, 80, cidr(format!("{}/32", a.ip()))),
            tcp(8000, 8100, cidr(&subnet)),
        ]);
        assert!(apply(&mut sg_b, &b, &fw_b).await);
        // The same filter again: no nft run.
        assert!(!apply(&mut sg_b, &b, &fw_b).await);

        // Port 80 from a's /32 only.
        let mut conn = connects(&a, at(&b, 80)).await;
        echoes(&mut conn, "a → b:80").await;
        times_out(&c, at(&b, 80)).await;
        // The range, both ends included, from the whole subnet.
        drop(connects(&c, at(&b, 8000)).await);
        drop(connects(&c, at(&b, 8100)).await);
        drop(connects(&a, at(&b, 8100)).await);
        times_out(&c, at(&b, 8101)).await;
        times_out(&a, at(&b, 9000)).await;
        // Allowed and nobody listens: reset. Not allowed: dropped, not reset.
        is_reset(&c, at(&b, 8050)).await;
        times_out(&c, at(&b, 81)).await;
        // a lets nothing in: b → a times out, while a → b works (replies pass a's filter).
        times_out(&b, at(&a, 80)).await;
        echoes(&mut conn, "a → b:80 after the rest").await;
    })
}

/// A group peer allows exactly its members; members come and go in place, the rules
/// untouched; an established connection outlives its member's removal.
fn group_members_change_in_place() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(221).await;
        let (a, b, c) = (
            env.task("a").await,
            env.task("b").await,
            env.task("c").await,
        );
        serve(&b, &[80]);
        let mut fw = firewall(vec![tcp(80, 80, Peer::Group("sg-client".into()))]);
        fw.members
            .insert("sg-client".into(), [a.ip()].into_iter().collect());
        let mut sg = SecurityGroups::default();
        assert!(apply(&mut sg, &b, &fw).await);
        let rules_before = nft(&b, &["-a", "list", "chain", "inet", "berth_sg", "ingress"]);

        let mut held = connects(&a, at(&b, 80)).await;
        echoes(&mut held, "a, a member").await;
        times_out(&c, at(&b, 80)).await;

        // c joins: its next connection goes through at once.
        fw.members.get_mut("sg-client").unwrap().insert(c.ip());
        assert!(apply(&mut sg, &b, &fw).await);
        match dial_within(&c, at(&b, 80), Duration::from_secs(1)).await {
            Dial::Connected(mut s) => echoes(&mut s, "c, a member now").await,
            other => panic!("c joined the group: expected a connection within 1 s, got {other:?}"),
        }
        let set = nft(&b, &["list", "set", "inet", "berth_sg", "g_sg-client"]);
        assert!(
            set.contains(&a.ip().to_string()) && set.contains(&c.ip().to_string()),
            "{set}"
        );

        // a leaves: new connections time out, the established one goes on.
        fw.members.get_mut("sg-client").unwrap().remove(&a.ip());
        assert!(apply(&mut sg, &b, &fw).await);
        times_out(&a, at(&b, 80)).await;
        echoes(&mut held, "a's connection from before it left").await;
        drop(connects(&c, at(&b, 80)).await);

        // Membership changes never touched the rules (same rules, same handles).
        let rules_after = nft(&b, &["-a", "list", "chain", "inet", "berth_sg", "ingress"]);
        assert_eq!(rules_before, rules_after);
    })
}

/// The nat table redirects the container port to the proxy's port inside the task:
/// the filter judges the port the client dialled.
fn ingress_is_judged_on_the_dialled_port() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(222).await;
        let (a, b) = (env.task("a").await, env.task("b").await);
        // b's "proxy" listens on 15000; its nat table sends b:80 there, as the agent's does.
        serve(&b, &[15000]);
        let nat = format!(
            "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
             :POSTROUTING ACCEPT [0:0]\n-A PREROUTING -d {}/32 -p tcp -m tcp --dport 80 \
             -j REDIRECT --to-ports 15000\nCOMMIT\n",
            b.ip()
        );
        let mut restore = b
            .command(sbin("iptables-restore"))
            .args(["-w", "5"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        restore
            .stdin
            .take()
            .unwrap()
            .write_all(nat.as_bytes())
            .unwrap();
        assert!(restore.wait().unwrap().success());
        drop(connects(&a, at(&b, 80)).await);
        drop(connects(&a, at(&b, 15000)).await);

        let mut sg = SecurityGroups::default();
        apply(&mut sg, &b, &firewall(vec![tcp(80, 80, cidr("0.0.0.0/0"))])).await;
        let mut conn = connects(&a, at(&b, 80)).await;
        echoes(&mut conn, "a → b:80, redirected to 15000").await;
        times_out(&a, at(&b, 15000)).await;
        // The nat table is iptables' and was left alone.
        let nat_rules = nft(&b, &["list", "table", "ip", "nat"]);
        assert!(nat_rules.contains("redirect to :15000"), "{nat_rules}");
    })
}

/// Egress: only what a rule allows leaves the task; loopback stays open.
fn egress_is_denied_but_loopback() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(223).await;
        let (a, b, c) = (
            env.task("a").await,
            env.task("b").await,
            env.task("c").await,
        );
        serve(&a, &[7000]);
        serve(&b, &[80, 8080]);
        serve(&c, &[80]);
        let fw = FirewallView {
            egress: vec![tcp(80, 80, cidr(format!("{}/32", b.ip())))],
            ..firewall(vec![])
        };
        let mut sg = SecurityGroups::default();
        apply(&mut sg, &a, &fw).await;
        let mut conn = connects(&a, at(&b, 80)).await;
        echoes(&mut conn, "a → b:80").await;
        times_out(&a, at(&b, 8080)).await;
        times_out(&a, at(&c, 80)).await;
        // Inside the task, over lo: to 127.0.0.1 and to its own address.
        let mut local = connects(&a, SocketAddrV4::new(Ipv4Addr::LOCALHOST, 7000)).await;
        echoes(&mut local, "a → 127.0.0.1:7000").await;
        drop(connects(&a, at(&a, 7000)).await);

        // Without a filter (a view from an older server) everything goes again.
        assert!(sg.apply(&a, None).await.unwrap());
        assert!(!nft(&a, &["list", "tables"]).contains("berth_sg"));
        drop(connects(&a, at(&c, 80)).await);
    })
}

/// New rules replace the old in one transaction; established connections flow on;
/// a filter nft refuses leaves the one applied in place.
fn replacing_rules_keeps_established_connections() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(224).await;
        let (a, b) = (env.task("a").await, env.task("b").await);
        serve(&b, &[80, 8080]);
        let from_a = cidr(format!("{}/32", a.ip()));
        let mut sg = SecurityGroups::default();
        apply(&mut sg, &b, &firewall(vec![tcp(80, 80, from_a.clone())])).await;
        let mut held = connects(&a, at(&b, 80)).await;
        echoes(&mut held, "before the new rules").await;
        times_out(&a, at(&b, 8080)).await;

        let fw = firewall(vec![tcp(8080, 8080, from_a.clone())]);
        assert!(apply(&mut sg, &b, &fw).await);
        echoes(&mut held, "after the new rules").await;
        times_out(&a, at(&b, 80)).await;
        drop(connects(&a, at(&b, 8080)).await);

        // A filter that cannot be applied: an error, and the last one stays.
        let before = sg.applied().cloned();
        let bad = firewall(vec![tcp(1, 2, cidr("10.0.0.0/40"))]);
        assert!(matches!(
            sg.apply(&b, Some(&bad)).await,
            Err(FilterError::Cidr(_))
        ));
        assert_eq!(sg.applied(), before.as_ref());
        drop(connects(&a, at(&b, 8080)).await);
        // nft failing (the namespace is gone) is an error too.
        b.destroy().await.unwrap();
        let err = sg.apply(&b, Some(&firewall(vec![]))).await.unwrap_err();
        assert!(matches!(err, FilterError::Nft(_)), "{err}");
        assert_eq!(sg.applied(), before.as_ref());
    })
}

/// ICMP by type, and rules for every protocol.
fn icmp_and_other_protocols() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(225).await;
        let (a, b, c) = (
            env.task("a").await,
            env.task("b").await,
            env.task("c").await,
        );
        serve(&b, &[80]);
        let echo_request = RuleView {
            protocol: Some(1),
            ports: None,
            icmp: Some(berth_agent_view::IcmpMatch {
                icmp_type: 8,
                code: None,
            }),
            peer: cidr(format!("{}/32", a.ip())),
        };
        let everything_from_c = RuleView {
            protocol: None,
            ports: None,
            icmp: None,
            peer: cidr(format!("{}/32", c.ip())),
        };
        let mut sg = SecurityGroups::default();
        apply(
            &mut sg,
            &b,
            &firewall(vec![echo_request, everything_from_c]),
        )
        .await;
        assert!(ping(&a, b.ip()), "a may ping b");
        assert!(!ping(&c, Ipv4Addr::new(10, 213, 225, 200)), "nobody there");
        assert!(ping(&c, b.ip()), "c may do anything");
        drop(connects(&c, at(&b, 80)).await);
        times_out(&a, at(&b, 80)).await;
        // a pings nothing else: a second filter on b for TCP only.
        let tcp_only = firewall(vec![tcp(80, 80, cidr(format!("{}/32", a.ip())))]);
        apply(&mut sg, &b, &tcp_only).await;
        assert!(!ping(&a, b.ip()), "a's pings are dropped now");
        drop(connects(&a, at(&b, 80)).await);
    })
}

/// One ICMP echo request from inside `from` (a raw socket: the test runs as root),
/// answered within 1 s.
fn ping(from: &TaskNetwork, to: Ipv4Addr) -> bool {
    use nix::sys::socket::{
        recvfrom, sendto, setsockopt, socket, sockopt, AddressFamily, MsgFlags, SockFlag,
        SockProtocol, SockType, SockaddrIn,
    };
    use std::os::fd::AsRawFd;
    let sock = from
        .run_in_netns(|| {
            socket(
                AddressFamily::Inet,
                SockType::Raw,
                SockFlag::SOCK_CLOEXEC,
                SockProtocol::Icmp,
            )
        })
        .unwrap()
        .unwrap();
    let timeout = nix::sys::time::TimeVal::new(0, 200_000);
    setsockopt(&sock, sockopt::ReceiveTimeout, &timeout).unwrap();
    let id = rand::random::<u16>();
    let mut req = vec![8, 0, 0, 0, (id >> 8) as u8, id as u8, 0, 1];
    req.extend_from_slice(b"berth secgroups");
    let sum = icmp_checksum(&req);
    req[2..4].copy_from_slice(&sum.to_be_bytes());
    let dest = SockaddrIn::from(SocketAddrV4::new(to, 0));
    sendto(sock.as_raw_fd(), &req, &dest, MsgFlags::empty()).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    let mut buf = [0u8; 1500];
    while std::time::Instant::now() < deadline {
        let Ok((n, _)) = recvfrom::<SockaddrIn>(sock.as_raw_fd(), &mut buf) else {
            continue;
        };
        // An IPv4 header, then ICMP: an echo reply (type 0) with our id.
        let ihl = usize::from(buf[0] & 0x0f) * 4;
        let icmp = &buf[ihl.min(n)..n];
        if icmp.len() >= 8 && icmp[0] == 0 && icmp[4..6] == id.to_be_bytes() {
            return true;
        }
    }
    false
}

fn icmp_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A system program, found where root's are.
fn sbin(name: &str) -> std::path::PathBuf {
    ["/usr/sbin", "/sbin", "/usr/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| name.into())
}

/// The Docker runtime's task network: a holder container owns the namespace, which
/// berth-tasknet adopts; the filter applied through it holds for the container's
/// namespace (the one `/proc/<holder pid>/ns/net` names).
fn docker_holder_namespace_is_filtered() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(226).await;
        let a = env.task("a").await;
        let rt = DockerRuntime::connect().await.unwrap();
        berth_docker::ensure_berth_image(rt.docker(), Some(&berth_bin()), None)
            .await
            .unwrap();
        let id = env.task_id("holder");
        let _holder = Holder(id.clone());
        let net = rt
            .create_network(&env.bridge, &id, &TaskNetConfig::default())
            .await
            .unwrap();
        serve(&net, &[80]);
        drop(connects(&a, at(&net, 80)).await);
        is_reset(&a, at(&net, 81)).await;

        let mut sg = SecurityGroups::default();
        let from_a = cidr(format!("{}/32", a.ip()));
        apply(&mut sg, &net, &firewall(vec![tcp(80, 80, from_a)])).await;
        let mut conn = connects(&a, at(&net, 80)).await;
        echoes(&mut conn, "a → the holder's task:80").await;
        times_out(&a, at(&net, 81)).await;
        // The table is in the holder container's own namespace.
        let pid = Command::new("docker")
            .args(["inspect", "-f", "{{.State.Pid}}", &holder_name(&id)])
            .output()
            .unwrap();
        let pid = String::from_utf8_lossy(&pid.stdout).trim().to_string();
        let ns = format!("--net=/proc/{pid}/ns/net");
        let out = Command::new("nsenter")
            .args([ns.as_str(), "nft", "list", "table", "inet", "berth_sg"])
            .output()
            .unwrap();
        let table = String::from_utf8_lossy(&out.stdout);
        assert!(
            table.contains("tcp dport 80 accept"),
            "holder pid {pid}: {out:?}"
        );
        rt.destroy_network(&net).await.unwrap();
        assert!(rt.list_task(&id).await.unwrap().is_empty());
    })
}

/// Removes a task's containers however the test ends.
struct Holder(String);

impl Drop for Holder {
    fn drop(&mut self) {
        let id = self.0.clone();
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    let rt = DockerRuntime::connect().await?;
                    rt.remove_task_containers(&id).await
                })
        })
        .join();
    }
}

/// The berth binary the Docker runtime's image is made of: `BERTH_BIN`, or the one
/// cargo built beside this test (`cargo build -p berth`; scripts/test does).
fn berth_bin() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("BERTH_BIN") {
        return p.into();
    }
    // target/<profile>/deps/secgroups-<hash> → target/<profile>/berth
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().and_then(Path::parent).unwrap().join("berth");
    assert!(
        bin.is_file(),
        "{} is missing: build it first (`cargo build -p berth`) or set BERTH_BIN",
        bin.display()
    );
    bin
}
