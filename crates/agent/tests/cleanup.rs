//! Root test of the agent's crash cleanup against the process runtime: what a crashed
//! agent leaves of a task (its containers, a daemon that left their process group, the
//! task's init holding its PID namespace) is all found in the task's network namespace
//! and killed by `cleanup::kill_all_in`.
//!
//! It needs root and fails, never skips, without it. Its bridge is `bc<run>` with subnet
//! `10.213.240.0/24`, removed however the test ends.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_agent::cleanup::{kill_all_in, processes_in};
use berth_runtime::{ContainerSpec, ImageMap, ProcessRuntime, ResolvedSecrets, TaskRuntimeConfig};
use berth_tasknet::{
    cleanup_except, Bridge, BridgeConfig, FirewallMode, Ipv4Subnet, TaskNetConfig, TaskNetwork,
    INIT_NAME,
};
use libtest_mimic::{Arguments, Failed, Trial};

fn run_tag() -> String {
    format!("{:04x}", rand::random::<u16>())
}

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let trials = vec![Trial::test(
        "a_crashed_agents_task_is_killed_init_and_all",
        a_crashed_agents_task_is_killed_init_and_all,
    )];
    if libtest_mimic::run(&args, trials).has_failed() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn cmdline(pid: i32) -> Vec<u8> {
    std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default()
}

/// Live (not zombie) processes among `pids`.
fn alive(pids: &[i32]) -> Vec<i32> {
    pids.iter()
        .copied()
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|s| {
                s.rfind(')')
                    .is_some_and(|i| !matches!(s.as_bytes().get(i + 2), Some(b'Z' | b'X')))
            })
        })
        .collect()
}

fn a_crashed_agents_task_is_killed_init_and_all() -> Result<(), Failed> {
    if !nix::unistd::geteuid().is_root() {
        return Err(
            "the cleanup test needs root (a bridge, a task namespace, a task's init): \
                    run it as root, e.g. `sudo -E cargo test -p berth-agent --test cleanup`"
                .into(),
        );
    }
    let tag = run_tag();
    let dir = std::env::temp_dir().join(format!("berth-cleanup-test-{tag}"));
    let config = BridgeConfig {
        name: format!("bc{tag}"),
        subnet: Ipv4Subnet::new(std::net::Ipv4Addr::new(10, 213, 240, 0), 24).unwrap(),
        state_dir: dir.join("net"),
        firewall: FirewallMode::Auto,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let result = rt.block_on(async {
        let bridge = Bridge::ensure(&config).await.unwrap();
        let outcome = tokio::spawn(crash_and_clean(bridge.clone(), dir.clone())).await;
        cleanup_except(&bridge, [] as [&str; 0]).await.unwrap();
        bridge.remove().await.unwrap();
        outcome
    });
    let _ = std::fs::remove_dir_all(&dir);
    result.map_err(|e| Failed::from(e.to_string()))
}

async fn crash_and_clean(bridge: Bridge, dir: std::path::PathBuf) {
    let net = Arc::new(
        TaskNetwork::create(&bridge, "cleanup-test-task", &TaskNetConfig::default())
            .await
            .unwrap(),
    );
    let config = TaskRuntimeConfig {
        log_dir: dir.join("logs"),
        image_map: Arc::new(ImageMap::builtin()),
        secrets: Arc::new(ResolvedSecrets::default()),
        extra_env: vec![],
        hidden_paths: vec![],
    };
    let mut app = ContainerSpec::new("app", "busybox");
    app.command = Some(vec![
        "/bin/sh".into(),
        "-c".into(),
        "setsid sleep 3604 & echo ready; exec sleep 3605".into(),
    ]);
    let task = ProcessRuntime::start(net.clone(), vec![app], &config).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(dir.join("logs/app.log")).is_ok_and(|l| l.contains("ready")) {
        assert!(Instant::now() < deadline, "the task never got ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The agent crashes: nothing of the task is stopped or killed.
    std::mem::forget(task);
    let netns: &Path = net.netns_path();
    let found = processes_in(netns);
    let names: Vec<Vec<u8>> = found.iter().map(|p| cmdline(*p)).collect();
    let has = |prefix: &[u8]| names.iter().any(|c| c.starts_with(prefix));
    assert!(
        has(INIT_NAME.as_bytes()),
        "the task's init is in its network namespace: {names:?}"
    );
    assert!(has(b"sleep\x003604"), "the daemon: {names:?}");
    assert!(has(b"sleep\x003605"), "the container: {names:?}");
    // What a restarted agent does for its earlier tasks.
    kill_all_in(netns).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !alive(&found).is_empty() {
        assert!(Instant::now() < deadline, "left alive: {:?}", alive(&found));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    net.destroy().await.unwrap();
}
