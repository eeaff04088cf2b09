//! Root tests of berth-runtime: real task networks (berth-tasknet) and real processes.
//!
//! They need root and fail, never skip, without it. Each test has its own bridge
//! `rt<run><n>` with subnet `10.213.<n>.0/24` (n from 160, clear of berth-tasknet's
//! tests) and a guard that removes its task networks and bridge however it ends. Every
//! container gets `BERTH_RT_TEST=<run>` in its environment; after all tests the harness
//! checks `/proc` for a live process carrying it, and for a task init (`berth-init`)
//! this test process started that is still alive.
//!
//! Traffic goes only to loopback inside task namespaces made here.

use std::future::Future;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use berth_runtime::{
    Condition, ContainerSpec, ContainerStatus, Dependency, HealthCheck, HealthCommand,
    HealthStatus, ImageMap, ProcessRuntime, ResolvedSecrets, RunningTask, Runtime,
    TaskRuntimeConfig, TaskState, TaskStatus, ESSENTIAL_EXITED,
};
use berth_tasknet::{
    cleanup_except, Bridge, BridgeConfig, FirewallMode, Ipv4Subnet, TaskNetConfig, TaskNetwork,
};
use libtest_mimic::{Arguments, Failed, Trial};
use tokio::sync::watch;

// ---------------------------------------------------------------------------------------
// Harness

fn run_tag() -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| format!("{:04x}", rand::random::<u16>()))
}

fn state_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| std::env::temp_dir().join(format!("berth-runtime-test-{}", run_tag())))
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

const NOT_ROOT: &str = "berth-runtime tests need root (they create network namespaces, \
                        mount, and switch users): run them as root, e.g. `sudo -E cargo test -p berth-runtime`";

fn main() -> ExitCode {
    let args = Arguments::from_args();
    type TestFn = fn() -> Result<(), Failed>;
    let tests: Vec<(&str, TestFn)> = vec![
        ("environment_and_log_file", environment_and_log_file),
        (
            "entry_point_and_command_with_image_map",
            entry_point_and_command_with_image_map,
        ),
        ("working_directory_and_user", working_directory_and_user),
        (
            "resolved_secrets_in_environment",
            resolved_secrets_in_environment,
        ),
        (
            "unresolved_secret_fails_start",
            unresolved_secret_fails_start,
        ),
        ("health_checks", health_checks),
        ("health_check_start_period", health_check_start_period),
        ("depends_on_conditions", depends_on_conditions),
        ("essential_exit_stops_task", essential_exit_stops_task),
        ("sigkill_after_stop_timeout", sigkill_after_stop_timeout),
        (
            "dropped_handle_kills_everything",
            dropped_handle_kills_everything,
        ),
        (
            "nginx_image_runs_debian_nginx",
            nginx_image_runs_debian_nginx,
        ),
        ("tasks_are_isolated", tasks_are_isolated),
        (
            "escaped_processes_die_with_the_task",
            escaped_processes_die_with_the_task,
        ),
        (
            "users_capabilities_and_read_only_root",
            users_capabilities_and_read_only_root,
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
        let left = live_processes(|pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
                env.split(|b| *b == 0)
                    .any(|kv| kv == format!("BERTH_RT_TEST={}", run_tag()).as_bytes())
            })
        });
        let _ = std::fs::remove_dir_all(state_dir());
        let inits = task_inits_left();
        if !inits.is_empty() {
            eprintln!("FAIL: task inits of this run are left: {inits:?}");
            return ExitCode::FAILURE;
        }
        if !left.is_empty() {
            eprintln!("FAIL: processes of this run are left: {left:?}");
            return ExitCode::FAILURE;
        }
        println!("leftovers check: no process of this run is left");
    }
    if conclusion.has_failed() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

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

/// Live (not zombie) processes for which `pick(pid)` holds.
fn live_processes(pick: impl Fn(u32) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            continue;
        };
        if after.starts_with('Z') || after.starts_with('X') {
            continue;
        }
        if pick(pid) {
            out.push(stat.trim().to_string());
        }
    }
    out
}

/// Task inits (children of this process) still alive 3 s after the tests.
fn task_inits_left() -> Vec<String> {
    let me = std::process::id().to_string();
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let left = live_processes(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let ppid = stat
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().nth(1));
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            ppid == Some(me.as_str()) && cmd.starts_with(berth_tasknet::INIT_NAME.as_bytes())
        });
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The process group of `pid` from /proc.
fn pgrp_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    after.split_whitespace().nth(2)?.parse().ok()
}

/// Fails unless, within 3 s, no live process is in any of the groups `pgids`.
async fn assert_groups_gone(pgids: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let left = live_processes(|pid| pgrp_of(pid).is_some_and(|g| pgids.contains(&g)));
        if left.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            panic!("processes of groups {pgids:?} remain: {left:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn pids(s: &TaskState) -> Vec<u32> {
    s.containers.iter().filter_map(|c| c.pid).collect()
}

// ---------------------------------------------------------------------------------------
// Fixtures

struct Env {
    bridge: Bridge,
    dir: tempfile::TempDir,
}

impl Env {
    async fn new(n: u8) -> Env {
        let config = BridgeConfig {
            name: format!("rt{}{n:02x}", run_tag()),
            subnet: Ipv4Subnet::new(Ipv4Addr::new(10, 213, n, 0), 24).unwrap(),
            state_dir: state_dir().to_path_buf(),
            firewall: FirewallMode::Auto,
        };
        let bridge = Bridge::ensure(&config).await.unwrap();
        Env {
            bridge,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    async fn task(&self, label: &str) -> Arc<TaskNetwork> {
        let id = format!("rtest-{}-{}-{label}", run_tag(), self.bridge.name());
        Arc::new(
            TaskNetwork::create(&self.bridge, &id, &TaskNetConfig::default())
                .await
                .unwrap(),
        )
    }

    fn log_dir(&self) -> PathBuf {
        self.dir.path().join("logs")
    }

    /// A directory the tasks must not see, standing for the agent's.
    fn hidden_dir(&self) -> PathBuf {
        let d = self.dir.path().join("agent");
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn config(&self) -> TaskRuntimeConfig {
        TaskRuntimeConfig {
            log_dir: self.log_dir(),
            image_map: Arc::new(ImageMap::builtin()),
            secrets: Arc::new(ResolvedSecrets::default()),
            extra_env: vec![("BERTH_RT_TEST".into(), run_tag().into())],
            hidden_paths: vec![self.hidden_dir()],
        }
    }

    fn log(&self, container: &str) -> String {
        std::fs::read_to_string(self.log_dir().join(format!("{container}.log"))).unwrap_or_default()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let bridge = self.bridge.clone();
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

/// A busybox container running `/bin/sh -c script`.
fn sh(name: &str, script: &str) -> ContainerSpec {
    let mut c = ContainerSpec::new(name, "public.ecr.aws/docker/library/busybox:latest");
    c.command = Some(vec!["/bin/sh".into(), "-c".into(), script.into()]);
    c.stop_timeout = Duration::from_secs(2);
    c
}

fn fast_check(command: HealthCommand, retries: u32) -> HealthCheck {
    HealthCheck {
        command,
        interval: Duration::from_millis(500),
        timeout: Duration::from_secs(1),
        retries,
        start_period: Duration::ZERO,
    }
}

/// Waits up to `secs` for `pred`; panics with the last state otherwise.
async fn wait_for(
    rx: &mut watch::Receiver<TaskState>,
    secs: u64,
    what: &str,
    pred: impl Fn(&TaskState) -> bool,
) -> TaskState {
    let r = tokio::time::timeout(Duration::from_secs(secs), rx.wait_for(|s| pred(s)))
        .await
        .map(|r| r.map(|s| s.clone()));
    match r {
        Ok(Ok(s)) => s,
        _ => panic!("timed out waiting for {what}: {:#?}", *rx.borrow()),
    }
}

async fn wait_log(env: &Env, container: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = env.log(container);
        if log.contains(needle) {
            return log;
        }
        if Instant::now() > deadline {
            panic!("{container}.log never contained {needle:?}: {log:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn running(s: &TaskState, name: &str) -> bool {
    s.container(name).unwrap().status == ContainerStatus::Running
}

// ---------------------------------------------------------------------------------------
// Tests

fn environment_and_log_file() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(160).await;
        let net = env.task("env").await;
        // Parsed from JSON, started through the Runtime trait.
        let spec = ContainerSpec::from_json(&serde_json::json!({
            "name": "app", "image": "busybox",
            "command": ["/bin/sh", "-c", "echo \"$GREETING\"; echo \"host=$HOSTNAME\"; echo err >&2; grep -c . /etc/hosts; sleep 60"],
            "environment": [{"name": "GREETING", "value": "hello from berth"}],
            "stopTimeout": 2
        }))
        .unwrap();
        let task = ProcessRuntime
            .start_task(net.clone(), vec![spec], &env.config())
            .await
            .unwrap();
        let mut rx = RunningTask::state(&task);
        let s = wait_for(&mut rx, 10, "app running", |s| running(s, "app")).await;
        assert_eq!(s.status, TaskStatus::Running);
        let log = wait_log(&env, "app", "hello from berth\n").await;
        let log = wait_log(&env, "app", "err\n").await.to_string() + &log;
        assert!(log.contains(&format!("host={}", net.hostname())), "{log}");
        let pid = s.container("app").unwrap().pid.unwrap();
        assert_eq!(
            pgrp_of(pid),
            Some(pid),
            "the container leads its own process group"
        );
        // It runs in the task's network namespace.
        let ns = |p: &str| {
            std::fs::metadata(p)
                .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
                .unwrap()
        };
        assert_eq!(
            ns(&format!("/proc/{pid}/ns/net")),
            ns(net.netns_path().to_str().unwrap())
        );
        let s = RunningTask::stop(&task, "Task stopped by test").await;
        assert_eq!(s.status, TaskStatus::Stopped);
        assert_eq!(s.stopped_reason.as_deref(), Some("Task stopped by test"));
        let c = s.container("app").unwrap();
        assert_eq!(c.status, ContainerStatus::Stopped);
        assert_eq!(c.exit_code, Some(143), "killed by SIGTERM: {c:?}");
        assert_groups_gone(&pids(&s)).await;
    })
}

fn entry_point_and_command_with_image_map() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(161).await;
        let net = env.task("ep").await;
        let map = ImageMap::parse(
            r#"{"images": [
                {"match": "registry.example/tool:1", "entryPoint": ["/bin/sh", "-c"],
                 "command": ["echo image-cmd $IMG_VAR"], "env": {"IMG_VAR": "from-image"}},
                {"match": "registry.example/*", "command": ["/bin/false"]}
            ]}"#,
            "test map",
        )
        .unwrap()
        .then(ImageMap::builtin());
        let mut config = env.config();
        config.image_map = Arc::new(map);
        let img = "registry.example/tool:1";
        let mut keep = sh("keep", "sleep 60");
        keep.essential = true;
        let mk = |name: &str, ep: Option<&[&str]>, cmd: Option<&[&str]>| {
            let mut c = ContainerSpec::new(name, img);
            c.essential = false;
            let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
            c.entry_point = ep.map(v);
            c.command = cmd.map(v);
            c
        };
        let mut overridden = mk("env-override", None, None);
        overridden
            .environment
            .push(("IMG_VAR".into(), "from-definition".into()));
        let specs = vec![
            keep,
            mk("image-only", None, None),
            mk("command-only", None, Some(&["echo container-cmd"])),
            mk("entrypoint-only", Some(&["/bin/echo", "ep-only"]), None),
            mk("both", Some(&["/bin/echo", "ep"]), Some(&["x", "y"])),
            overridden,
        ];
        let task = ProcessRuntime::start(net, specs, &config).unwrap();
        let mut rx = task.state();
        let done = [
            "image-only",
            "command-only",
            "entrypoint-only",
            "both",
            "env-override",
        ];
        let s = wait_for(&mut rx, 10, "the one-shot containers exited", |s| {
            done.iter()
                .all(|n| s.container(n).unwrap().status == ContainerStatus::Stopped)
        })
        .await;
        for n in done {
            assert_eq!(s.container(n).unwrap().exit_code, Some(0), "{n}: {s:#?}");
        }
        assert!(
            running(&s, "keep"),
            "non-essential exits leave the task running"
        );
        assert_eq!(env.log("image-only"), "image-cmd from-image\n");
        assert_eq!(env.log("command-only"), "container-cmd\n");
        assert_eq!(
            env.log("entrypoint-only"),
            "ep-only\n",
            "the image command is dropped"
        );
        assert_eq!(env.log("both"), "ep x y\n");
        assert_eq!(env.log("env-override"), "image-cmd from-definition\n");
        let s = task.stop("done").await;
        assert_groups_gone(&pids(&s)).await;

        // An unmapped image names the image and the map.
        let net = env.task("ep2").await;
        let err = ProcessRuntime::start(
            net,
            vec![ContainerSpec::new("x", "quay.io/unknown/thing:2")],
            &env.config(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("CannotPullContainerError: image \"quay.io/unknown/thing:2\" is not in the image map (built-in image map"), "{err}");
    })
}

fn working_directory_and_user() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(162).await;
        let net = env.task("user").await;
        let mut keep = sh("keep", "sleep 60");
        keep.essential = true;
        let mut nobody = sh("nobody", "id -u; id -g; pwd; echo \"home=$HOME\"; sleep 60");
        nobody.user = Some("nobody".into());
        nobody.working_directory = Some("/tmp".into());
        nobody.essential = false;
        let mut numeric = sh("numeric", "id -u; id -g; id -G; pwd");
        numeric.user = Some("4321:8765".into());
        numeric.essential = false;
        let task = ProcessRuntime::start(net, vec![keep, nobody, numeric], &env.config()).unwrap();
        let mut rx = task.state();
        let s = wait_for(&mut rx, 10, "numeric exited", |s| {
            s.container("numeric").unwrap().status == ContainerStatus::Stopped
        })
        .await;
        assert_eq!(s.container("numeric").unwrap().exit_code, Some(0), "{s:#?}");
        assert_eq!(env.log("numeric"), "4321\n8765\n8765\n/\n");
        let log = wait_log(&env, "nobody", "home=").await;
        assert_eq!(log, "65534\n65534\n/tmp\nhome=/nonexistent\n");
        // The process itself (not only a wrapper) runs as nobody.
        let pid = s.container("nobody").unwrap().pid.unwrap();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        assert!(
            status.lines().any(|l| l.starts_with("Uid:\t65534\t65534")),
            "{status}"
        );
        let s = task.stop("done").await;
        assert_groups_gone(&pids(&s)).await;

        let net = env.task("user2").await;
        let mut bad = sh("bad", "true");
        bad.user = Some("no-such-user-berth".into());
        let err = ProcessRuntime::start(net, vec![bad], &env.config())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "CannotStartContainerError: container bad: unable to find user no-such-user-berth"
            ),
            "{err}"
        );
    })
}

fn resolved_secrets_in_environment() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(163).await;
        let net = env.task("secret").await;
        let user = "arn:aws:secretsmanager:us-east-1:123456789012:secret:retail-store-ecs-orders-db:username::";
        let pw = "arn:aws:secretsmanager:us-east-1:123456789012:secret:retail-store-ecs-orders-db:password::";
        let endpoint =
            "arn:aws:ssm:us-east-1:123456789012:parameter/retail-store-ecs/orders/db-endpoint-postgres";
        let mut config = env.config();
        config.secrets = Arc::new(ResolvedSecrets::new([
            (user.to_string(), "orders".to_string()),
            (pw.to_string(), "s3cr3t pw".to_string()),
            (endpoint.to_string(), "orders-db:5432".to_string()),
        ]));
        let spec = ContainerSpec::from_json(&serde_json::json!({
            "name": "orders", "image": "busybox",
            "command": ["/bin/sh", "-c", "echo \"$DB_USER/$DB_PASSWORD@$DB_ENDPOINT\"; sleep 60"],
            "secrets": [
                {"name": "DB_USER", "valueFrom": user},
                {"name": "DB_PASSWORD", "valueFrom": pw},
                {"name": "DB_ENDPOINT", "valueFrom": endpoint}
            ],
            "stopTimeout": 2
        }))
        .unwrap();
        let task = ProcessRuntime::start(net, vec![spec], &config).unwrap();
        wait_log(&env, "orders", "orders/s3cr3t pw@orders-db:5432\n").await;
        let s = task.stop("done").await;
        assert_groups_gone(&pids(&s)).await;
    })
}

fn unresolved_secret_fails_start() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(164).await;
        let net = env.task("nosecret").await;
        let mut config = env.config();
        config.secrets = Arc::new(ResolvedSecrets::new([(
            "other".to_string(),
            "x".to_string(),
        )]));
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:retail-store-ecs-catalog-db:password::";
        let first = sh("first", "sleep 60");
        let mut spec = sh("catalog", "sleep 60");
        spec.secrets.push(("DB_PASSWORD".into(), arn.into()));
        let err = ProcessRuntime::start(net, vec![first, spec], &config)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!(
                "ResourceInitializationError: unable to pull secrets or registry auth: secret \"{arn}\" was not resolved"
            )
        );
        assert!(!env.log_dir().join("first.log").exists(), "nothing started");
    })
}

fn health_checks() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(165).await;
        let net = env.task("health").await;
        // Passes only inside the task: its hosts file names the task's hostname.
        let mut good = sh("good", "sleep 60");
        good.health_check = Some(fast_check(
            HealthCommand::Shell(format!(
                "grep -qw {} /etc/hosts && test \"$BERTH_RT_TEST\" = {}",
                net.hostname(),
                run_tag()
            )),
            2,
        ));
        let mut cmd = sh("cmd", "sleep 60");
        cmd.essential = false;
        cmd.health_check = Some(fast_check(HealthCommand::Cmd(vec!["/bin/true".into()]), 2));
        let mut bad = sh("bad", "sleep 60");
        bad.essential = false;
        bad.health_check = Some(fast_check(HealthCommand::Shell("exit 1".into()), 3));
        let mut slow = sh("slow", "sleep 60");
        slow.essential = false;
        slow.health_check = Some(fast_check(HealthCommand::Shell("sleep 5".into()), 1));
        let task = ProcessRuntime::start(net, vec![good, cmd, bad, slow], &env.config()).unwrap();
        let mut rx = task.state();
        let t0 = Instant::now();
        let s = wait_for(&mut rx, 10, "good and cmd healthy", |s| {
            s.container("good").unwrap().health == HealthStatus::Healthy
                && s.container("cmd").unwrap().health == HealthStatus::Healthy
        })
        .await;
        assert_eq!(s.task_health, HealthStatus::Healthy);
        assert_ne!(s.container("bad").unwrap().health, HealthStatus::Healthy);
        let s = wait_for(&mut rx, 10, "bad unhealthy", |s| {
            s.container("bad").unwrap().health == HealthStatus::Unhealthy
        })
        .await;
        // Three failures, 0.5 s apart, the first 0.5 s after start.
        assert!(
            t0.elapsed() >= Duration::from_millis(1400),
            "{:?}",
            t0.elapsed()
        );
        assert_eq!(s.task_health, HealthStatus::Healthy, "bad is not essential");
        // A check that outlives its timeout fails (and is killed).
        let s = wait_for(&mut rx, 10, "slow unhealthy", |s| {
            s.container("slow").unwrap().health == HealthStatus::Unhealthy
        })
        .await;
        assert!(running(&s, "slow"), "unhealthy containers keep running");
        let s = task.stop("done").await;
        assert_groups_gone(&pids(&s)).await;
    })
}

fn health_check_start_period() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(166).await;
        let net = env.task("period").await;
        let marker = env.dir.path().join("ready");
        let mut app = sh(
            "app",
            &format!("sleep 2; touch {}; sleep 60", marker.display()),
        );
        let mut hc = fast_check(
            HealthCommand::Shell(format!("test -e {}", marker.display())),
            1,
        );
        hc.start_period = Duration::from_secs(10);
        app.health_check = Some(hc);
        let task = ProcessRuntime::start(net, vec![app], &env.config()).unwrap();
        let mut rx = task.state();
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let h = rx.borrow_and_update().container("app").unwrap().health;
            if seen.last() != Some(&h) {
                seen.push(h);
            }
            if h == HealthStatus::Healthy || Instant::now() > deadline {
                break;
            }
            let _ = tokio::time::timeout(Duration::from_millis(200), rx.changed()).await;
        }
        assert_eq!(
            seen,
            vec![HealthStatus::Unknown, HealthStatus::Healthy],
            "failures within the start period do not count (retries 1)"
        );
        let s = task.stop("done").await;
        assert_groups_gone(&pids(&s)).await;
    })
}

fn depends_on_conditions() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(167).await;
        let net = env.task("deps").await;
        let marker = env.dir.path().join("db-ready");
        let mut db = sh(
            "db",
            &format!("sleep 2; touch {}; sleep 60", marker.display()),
        );
        db.health_check = Some(fast_check(
            HealthCommand::Shell(format!("test -e {}", marker.display())),
            10,
        ));
        let dep = |c: &str, cond| Dependency {
            container: c.into(),
            condition: cond,
        };
        let mut app = sh("app", "sleep 60");
        app.depends_on.push(dep("db", Condition::Healthy));
        app.depends_on.push(dep("init", Condition::Success));
        app.depends_on.push(dep("side", Condition::Start));
        let mut init = sh("init", "echo init-done");
        init.essential = false;
        let mut side = sh("side", "sleep 60");
        side.essential = false;
        let mut failing = sh("failing", "exit 3");
        failing.essential = false;
        let mut after_fail = sh("after-fail", "echo should-not-run");
        after_fail.essential = false;
        after_fail
            .depends_on
            .push(dep("failing", Condition::Success));
        let mut after_complete = sh("after-complete", "echo ran-after-complete; sleep 60");
        after_complete.essential = false;
        after_complete
            .depends_on
            .push(dep("failing", Condition::Complete));
        let specs = vec![app, db, init, side, failing, after_fail, after_complete];
        let task = ProcessRuntime::start(net, specs, &env.config()).unwrap();
        let mut rx = task.state();
        // app waits for db to be healthy (~2.5 s); meanwhile the rest proceeds.
        let s = wait_for(
            &mut rx,
            10,
            "init, failing done; after-complete running",
            |s| {
                running(s, "after-complete")
                    && s.container("init").unwrap().status == ContainerStatus::Stopped
            },
        )
        .await;
        assert_eq!(
            s.container("app").unwrap().status,
            ContainerStatus::Pending,
            "{s:#?}"
        );
        let s = wait_for(&mut rx, 10, "after-fail given up", |s| {
            s.container("after-fail").unwrap().status == ContainerStatus::Stopped
        })
        .await;
        let c = s.container("after-fail").unwrap();
        assert_eq!(c.pid, None);
        let reason = c.reason.as_deref().unwrap();
        assert!(reason.starts_with("DependencyError: container after-fail cannot start: dependency failing (condition Success) exited with 3"), "{reason}");
        assert_eq!(
            s.status,
            TaskStatus::Running,
            "a non-essential container's failure does not stop the task"
        );
        let s = wait_for(&mut rx, 10, "app running", |s| running(s, "app")).await;
        assert_eq!(
            s.container("db").unwrap().health,
            HealthStatus::Healthy,
            "app started only after db was healthy"
        );
        assert!(marker.exists());
        assert_eq!(env.log("init"), "init-done\n");
        assert_eq!(env.log("after-fail"), "");
        wait_log(&env, "after-complete", "ran-after-complete").await;

        // Stop order: app (depends on db, side) is signalled first; db and side after
        // it exited. Record the order from the state stream.
        let mut rx2 = task.state();
        let watcher = tokio::spawn(async move {
            let mut order: Vec<String> = Vec::new();
            loop {
                {
                    let s = rx2.borrow_and_update();
                    for c in &s.containers {
                        if c.status == ContainerStatus::Stopped
                            && c.pid.is_some()
                            && !order.contains(&c.name)
                        {
                            order.push(c.name.clone());
                        }
                    }
                    if s.status == TaskStatus::Stopped {
                        return order;
                    }
                }
                if rx2.changed().await.is_err() {
                    return order;
                }
            }
        });
        let s = task.stop("done").await;
        let order = watcher.await.unwrap();
        let pos = |n: &str| order.iter().position(|x| x == n).unwrap();
        assert!(
            pos("app") < pos("db") && pos("app") < pos("side"),
            "{order:?}"
        );
        assert_groups_gone(&pids(&s)).await;
    })
}

fn essential_exit_stops_task() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(168).await;
        let net = env.task("essential").await;
        let main = sh("main", "sleep 1; exit 3");
        let mut helper = sh(
            "helper",
            "trap 'echo got-term; exit 0' TERM; echo ready; while :; do sleep 0.1; done",
        );
        helper.essential = false;
        let task = ProcessRuntime::start(net, vec![main, helper], &env.config()).unwrap();
        let s = tokio::time::timeout(Duration::from_secs(10), task.wait())
            .await
            .expect("the task stops by itself");
        assert_eq!(s.status, TaskStatus::Stopped);
        assert_eq!(s.stopped_reason.as_deref(), Some(ESSENTIAL_EXITED));
        assert_eq!(s.container("main").unwrap().exit_code, Some(3));
        assert_eq!(s.container("helper").unwrap().exit_code, Some(0), "{s:#?}");
        // (sh may also report its sleep child "Terminated": the group got SIGTERM.)
        let log = env.log("helper");
        assert!(
            log.starts_with("ready\n") && log.ends_with("got-term\n"),
            "{log:?}"
        );
        assert_groups_gone(&pids(&s)).await;
    })
}

fn sigkill_after_stop_timeout() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(169).await;
        let net = env.task("stubborn").await;
        let mut stubborn = sh(
            "stubborn",
            "trap '' TERM; echo ready; while :; do sleep 0.1; done",
        );
        stubborn.stop_timeout = Duration::from_secs(1);
        let task = ProcessRuntime::start(net, vec![stubborn], &env.config()).unwrap();
        wait_log(&env, "stubborn", "ready").await;
        let t0 = Instant::now();
        let s = task.stop("done").await;
        let took = t0.elapsed();
        assert!(
            took >= Duration::from_secs(1) && took < Duration::from_secs(4),
            "{took:?}"
        );
        assert_eq!(
            s.container("stubborn").unwrap().exit_code,
            Some(137),
            "{s:#?}"
        );
        assert_groups_gone(&pids(&s)).await;
    })
}

fn dropped_handle_kills_everything() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(170).await;
        let net = env.task("drop").await;
        let tree = sh(
            "tree",
            "trap '' TERM; sleep 100 & sleep 100 & echo ready; wait",
        );
        let task = ProcessRuntime::start(net, vec![tree], &env.config()).unwrap();
        let mut rx = task.state();
        let s = wait_for(&mut rx, 10, "tree running", |s| running(s, "tree")).await;
        wait_log(&env, "tree", "ready").await;
        let pgid = s.container("tree").unwrap().pid.unwrap();
        let members = live_processes(|pid| pgrp_of(pid) == Some(pgid));
        assert!(members.len() >= 3, "sh and two sleeps: {members:?}");
        drop(task);
        assert_groups_gone(&[pgid]).await;
    })
}

fn nginx_image_runs_debian_nginx() -> Result<(), Failed> {
    run_async(async {
        assert!(
            Command::new("sh")
                .args(["-c", "command -v nginx"])
                .status()
                .unwrap()
                .success(),
            "this test needs Debian's nginx (apt-get install -y nginx-light or nginx)"
        );
        let env = Env::new(171).await;
        let net = env.task("nginx").await;
        // The seed task definition (002), unchanged.
        let spec = ContainerSpec::from_json(&serde_json::json!({
            "name": "webserver", "image": "public.ecr.aws/docker/library/nginx:latest", "cpu": 100,
            "portMappings": [{"name": "nginx", "containerPort": 80, "protocol": "tcp", "appProtocol": "http"}],
            "essential": true,
            "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/service-connect-nginx", "awslogs-region": "region", "awslogs-stream-prefix": "nginx"}}
        }))
        .unwrap();
        let task = ProcessRuntime::start(net.clone(), vec![spec], &env.config()).unwrap();
        let mut rx = task.state();
        wait_for(&mut rx, 10, "webserver running", |s| {
            running(s, "webserver")
        })
        .await;
        let reply = net
            .run_in_netns(|| {
                let deadline = Instant::now() + Duration::from_secs(10);
                loop {
                    match TcpStream::connect(("127.0.0.1", 80)) {
                        Ok(mut s) => {
                            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                            s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
                                .unwrap();
                            let mut out = String::new();
                            let _ = s.read_to_string(&mut out);
                            return out;
                        }
                        Err(e) if Instant::now() > deadline => panic!("connect to nginx: {e}"),
                        Err(_) => std::thread::sleep(Duration::from_millis(100)),
                    }
                }
            })
            .unwrap();
        assert!(reply.starts_with("HTTP/1.1 "), "{reply}");
        assert!(reply.to_lowercase().contains("server: nginx"), "{reply}");
        let s = task.stop("done").await;
        assert_eq!(s.status, TaskStatus::Stopped);
        assert_groups_gone(&pids(&s)).await;
    })
}

/// Stands for a task's proxy: serves `admin` on the Unix socket `socket` (in a host
/// directory of its own), as the proxy serves its admin endpoint.
fn admin_server(socket: &Path) -> ContainerSpec {
    let mut c = ContainerSpec::new("proxy", "public.ecr.aws/docker/library/busybox:latest");
    c.entry_point = Some(vec![
        "python3".into(),
        "-c".into(),
        format!(
            "import socket\ns = socket.socket(socket.AF_UNIX)\ns.bind({:?})\ns.listen()\nprint('listening', flush=True)\nwhile True:\n    c, _ = s.accept()\n    c.sendall(b'admin\\n')\n    c.close()\n",
            socket.display().to_string()
        ),
    ]);
    c.host_dirs = vec![socket.parent().unwrap().to_path_buf()];
    c.stop_timeout = Duration::from_secs(2);
    c
}

fn ask_admin(socket: &Path) -> std::io::Result<String> {
    let mut s = std::os::unix::net::UnixStream::connect(socket)?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

fn ns_of(pid: u32, kind: &str) -> u64 {
    std::os::unix::fs::MetadataExt::ino(
        &std::fs::metadata(format!("/proc/{pid}/ns/{kind}")).unwrap(),
    )
}

/// The value of `key=` in a log.
fn field<'a>(log: &'a str, key: &str) -> &'a str {
    log.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in {log:?}"))
}

fn tasks_are_isolated() -> Result<(), Failed> {
    run_async(async {
        assert!(
            Command::new("python3")
                .arg("-V")
                .status()
                .unwrap()
                .success(),
            "this test needs python3 (the stand-in proxy)"
        );
        let env = Env::new(172).await;
        // The agent's directories: run (standing for /run/berth) with the proxies'
        // socket directories, and its state directory.
        let run = env.dir.path().join("run");
        let mut config = env.config();
        config.hidden_paths.push(run.clone());
        let sock = |t: &str| run.join("proxy").join(t).join("admin.sock");
        let net_a = env.task("iso-a").await;
        let net_b = env.task("iso-b").await;

        // Task A: its proxy (one start_task, as the agent does) and a long runner.
        let proxy_a =
            ProcessRuntime::start(net_a.clone(), vec![admin_server(&sock("a"))], &config).unwrap();
        wait_log(&env, "proxy", "listening").await;
        assert_eq!(
            ask_admin(&sock("a")).unwrap(),
            "admin\n",
            "the agent reaches the proxy"
        );
        let app_a = ProcessRuntime::start(
            net_a.clone(),
            vec![sh("runner-a", "echo started; exec sleep 3601")],
            &config,
        )
        .unwrap();
        wait_log(&env, "runner-a", "started").await;
        let mut rx = app_a.state();
        let a = wait_for(&mut rx, 10, "runner-a", |s| running(s, "runner-a")).await;
        let a_pid = a.container("runner-a").unwrap().pid.unwrap();
        let proxy_pid = proxy_a
            .state()
            .borrow()
            .container("proxy")
            .unwrap()
            .pid
            .unwrap();
        assert_ne!(
            ns_of(a_pid, "pid"),
            ns_of(proxy_pid, "pid"),
            "the proxy has a PID namespace of its own"
        );
        assert_eq!(
            ns_of(a_pid, "net"),
            ns_of(proxy_pid, "net"),
            "and shares the task's network"
        );
        assert_ne!(ns_of(a_pid, "pid"), ns_of(std::process::id(), "pid"));

        // Task B probes what it can see and reach.
        let script = format!(
            "echo pid=$$
             echo procs=$(ls /proc | grep -cE '^[0-9]+$')
             echo init=$(tr '\\0' ' ' < /proc/1/cmdline | cut -c1-10)
             echo others=$(cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' ' | grep -c 'sleep 360[1]')
             echo host=$(hostname)
             echo run=$(ls -A {run} 2>&1 | wc -l)
             echo agent=$(ls -A {agent} | wc -l)
             for t in a b; do [ -e {run}/proxy/$t/admin.sock ] && echo sock-$t=present || echo sock-$t=absent; done
             echo reach-a=$(python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); print(s.recv(9))' {sock_a} 2>/dev/null || echo no)
             kill -9 {a_pid} 2>/dev/null && echo kill-a=done || echo kill-a=refused
             grep CapEff /proc/self/status | sed 's/:\\t/=/'
             kill -9 1; sleep 0.3; kill -0 1 && echo init=alive
             echo done; exec sleep 3600",
            run = run.display(),
            agent = env.hidden_dir().display(),
            sock_a = sock("a").display(),
        );
        let app_b =
            ProcessRuntime::start(net_b.clone(), vec![sh("probe", &script)], &config).unwrap();
        let log = wait_log(&env, "probe", "done\n").await;
        assert_ne!(field(&log, "pid"), "1");
        let procs: usize = field(&log, "procs").parse().unwrap();
        assert!(
            procs <= 6,
            "the init, its sleep, the probe and its pipeline: {log}"
        );
        assert_eq!(field(&log, "init"), "berth-init", "{log}");
        assert_eq!(
            field(&log, "others"),
            "0",
            "no process of task A is visible: {log}"
        );
        assert_eq!(field(&log, "host"), net_b.hostname());
        assert_eq!(field(&log, "run"), "0", "{log}");
        assert_eq!(field(&log, "agent"), "0", "{log}");
        assert_eq!(field(&log, "sock-a"), "absent");
        assert_eq!(field(&log, "sock-b"), "absent");
        assert_eq!(field(&log, "reach-a"), "no");
        assert_eq!(
            field(&log, "kill-a"),
            "refused",
            "no such process in task B"
        );
        assert_eq!(
            field(&log, "CapEff"),
            "00000000a80425fb",
            "Docker's default set"
        );
        assert_eq!(field(&log, "init"), "berth-init");
        assert!(
            log.contains("init=alive\n"),
            "kill -9 1 leaves the init: {log}"
        );

        // A task killing every process it can (kill -9 -1) ends only its own.
        let net_c = env.task("iso-c").await;
        let killer = ProcessRuntime::start(
            net_c,
            vec![sh("killer", "sleep 0.2; kill -9 -1; echo killed-all")],
            &config,
        )
        .unwrap();
        let s = tokio::time::timeout(Duration::from_secs(10), killer.wait())
            .await
            .unwrap();
        assert_eq!(s.container("killer").unwrap().exit_code, Some(0), "{s:#?}");
        assert!(running(&app_a.state().borrow(), "runner-a"));
        assert!(running(&app_b.state().borrow(), "probe"));
        assert!(running(&proxy_a.state().borrow(), "proxy"));
        assert_eq!(ask_admin(&sock("a")).unwrap(), "admin\n");

        // Task A's application does not reach its own proxy's socket either, and its
        // health check runs inside the task like it.
        let mut own = sh(
            "own",
            &format!(
                "[ -e {} ] && echo own=present || echo own=absent; sleep 3600",
                sock("a").display()
            ),
        );
        own.health_check = Some(fast_check(
            HealthCommand::Shell(format!(
                "[ \"$(hostname)\" = {} ] && [ -z \"$(ls -A {})\" ] && grep -q 'CapEff:.*a80425fb' /proc/self/status && [ \"$(cut -c1-10 /proc/1/cmdline)\" = berth-init ]",
                net_a.hostname(),
                run.display()
            )),
            2,
        ));
        let own_task = ProcessRuntime::start(net_a.clone(), vec![own], &config).unwrap();
        let log = wait_log(&env, "own", "own=").await;
        assert_eq!(field(&log, "own"), "absent");
        let mut rx = own_task.state();
        wait_for(&mut rx, 10, "own healthy", |s| {
            s.container("own").unwrap().health == HealthStatus::Healthy
        })
        .await;

        for t in [&own_task, &app_b, &app_a, &proxy_a] {
            let s = t.stop("done").await;
            assert_groups_gone(&pids(&s)).await;
        }
        assert!(ask_admin(&sock("a")).is_err(), "the proxy stopped");
    })
}

fn users_capabilities_and_read_only_root() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(173).await;
        let net = env.task("caps").await;
        let status = "grep -E '^(Uid|CapInh|CapPrm|CapEff|CapBnd|CapAmb):' /proc/self/status | sed 's/:\\t/=/'";
        let mut keep = sh("keep", "sleep 3600");
        keep.essential = true;
        let mut nobody = sh("nobody", &format!("{status}; echo done"));
        nobody.user = Some("nobody".into());
        nobody.essential = false;
        let defs = serde_json::json!([
            {"name": "tuned", "image": "busybox", "essential": false,
             "command": ["/bin/sh", "-c", format!("{status}; echo done")],
             "linuxParameters": {"capabilities": {"add": ["NET_ADMIN"], "drop": ["MKNOD"]}}},
            {"name": "readonly", "image": "busybox", "essential": false, "readonlyRootFilesystem": true,
             "command": ["/bin/sh", "-c", format!("touch /berth-ro-probe; touch {}/ro-probe; echo x > /dev/shm/x && echo shm=ok; echo done", env.dir.path().display())]}
        ]);
        let mut specs = vec![keep, nobody];
        specs.extend(ContainerSpec::list_from_json(&defs).unwrap());
        let task = ProcessRuntime::start(net.clone(), specs, &env.config()).unwrap();
        let log = wait_log(&env, "nobody", "done").await;
        assert!(field(&log, "Uid").starts_with("65534\t65534"), "{log}");
        for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
            assert_eq!(field(&log, set), "0000000000000000", "{set}: {log}");
        }
        assert_eq!(field(&log, "CapBnd"), "00000000a80425fb", "{log}");
        let log = wait_log(&env, "tuned", "done").await;
        assert!(field(&log, "Uid").starts_with("0\t0"), "{log}");
        assert_eq!(
            field(&log, "CapEff"),
            "00000000a00435fb",
            "+NET_ADMIN -MKNOD: {log}"
        );
        assert_eq!(field(&log, "CapPrm"), "00000000a00435fb", "{log}");
        assert_eq!(field(&log, "CapInh"), "0000000000000000", "{log}");
        let log = wait_log(&env, "readonly", "done").await;
        assert_eq!(log.matches("Read-only file system").count(), 2, "{log}");
        assert!(log.contains("shm=ok"), "{log}");
        assert!(!env.dir.path().join("ro-probe").exists());
        let s = task.stop("done").await;
        assert_groups_gone(&pids(&s)).await;

        // Refused before anything runs: an image that writes its root, read-only; a
        // privileged container.
        let net = env.task("caps2").await;
        let nginx = ContainerSpec::from_json(&serde_json::json!({
            "name": "web", "image": "public.ecr.aws/docker/library/nginx:latest",
            "readonlyRootFilesystem": true}))
        .unwrap();
        let err = ProcessRuntime::start(net.clone(), vec![nginx], &env.config())
            .unwrap_err()
            .to_string();
        assert_eq!(err, "CannotStartContainerError: container web: readonlyRootFilesystem: image \"public.ecr.aws/docker/library/nginx:latest\" (map entry \"*/nginx\") writes to its root file system (writesRootFilesystem in the image map)");
        let mut privileged = sh("root", "true");
        privileged.privileged = true;
        let err = ProcessRuntime::start(net, vec![privileged], &env.config())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("CannotStartContainerError: container root: privileged is not supported by the process runtime"), "{err}");
    })
}

fn escaped_processes_die_with_the_task() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(174).await;
        let net = env.task("escape").await;
        // A daemon in a session (and process group) of its own, which the container's
        // group kill does not reach.
        let main = sh(
            "main",
            "setsid sleep 3603 & sleep 0.5; echo ready; sleep 1; exit 0",
        );
        let task = ProcessRuntime::start(net, vec![main], &env.config()).unwrap();
        let daemon = || {
            live_processes(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| c == b"sleep\x003603\x00")
            })
        };
        wait_log(&env, "main", "ready").await;
        assert_eq!(daemon().len(), 1, "the daemon runs");
        let s = tokio::time::timeout(Duration::from_secs(10), task.wait())
            .await
            .unwrap();
        assert_eq!(s.stopped_reason.as_deref(), Some(ESSENTIAL_EXITED));
        let deadline = Instant::now() + Duration::from_secs(3);
        while !daemon().is_empty() {
            assert!(Instant::now() < deadline, "the daemon outlived its task");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}
