//! Root tests of berth-docker: a real Docker Engine, real task networks.
//!
//! They need root and a Docker Engine on `/var/run/docker.sock` (or `DOCKER_HOST`), and
//! fail, never skip, without them. They also need the berth binary, for the berth image
//! (the holder of every task's network runs `berth pause`): `$BERTH_BIN`, else
//! `target/<profile>/berth` beside this test's own executable — `scripts/test` runs
//! `cargo build -p berth` before `cargo test`; by hand, do the same first.
//!
//! The harness builds, once per run: the berth image (`berth/proxy:local`, only if the
//! binary changed), the nginx image of `images/nginx.json`
//! (`public.ecr.aws/docker/library/nginx:latest`, Debian's nginx), and a tools image
//! `berth-test/tools:<run>` (dash and a few coreutils) that it removes at the end.
//! Each test has its own bridge `dk<run><n>` with subnet `10.213.<n>.0/24` (n from 200,
//! clear of berth-tasknet's and berth-runtime's tests), task ids naming the run, and a
//! guard that destroys its task networks (containers, holders, namespaces, veths) and
//! bridge however it ends. After all tests the harness checks that no container,
//! namespace or veth of this run is left. Every test is bounded in time.
//!
//! Traffic goes only to task addresses on the bridges made here.

use std::future::Future;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use berth_docker::{DockerRuntime, ImageSpec, Role};
use berth_runtime::{
    Condition, ContainerSpec, ContainerStatus, Dependency, HealthCheck, HealthCommand,
    HealthStatus, ImageMap, ResolvedSecrets, Runtime, TaskRuntimeConfig, TaskState, TaskStatus,
    ESSENTIAL_EXITED, PROXY_IMAGE,
};
use berth_tasknet::{
    cleanup_except, netns_name, veth_name, Bridge, BridgeConfig, FirewallMode, Ipv4Subnet,
    TaskNetConfig, TaskNetwork, NETNS_RUN_DIR,
};
use bollard::exec::{CreateExecOptions, StartExecResults};
use futures_util::StreamExt;
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
    DIR.get_or_init(|| std::env::temp_dir().join(format!("berth-docker-test-{}", run_tag())))
}

fn tools_image() -> String {
    format!("berth-test/tools:{}", run_tag())
}

/// Every task id a test made.
fn task_ids() -> &'static Mutex<Vec<String>> {
    static IDS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    IDS.get_or_init(|| Mutex::new(Vec::new()))
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

const NOT_ROOT: &str = "berth-docker tests need root (network namespaces, mounts) and a \
                        Docker Engine: run them as root, e.g. `sudo -E cargo test -p berth-docker`";

const TEST_TIMEOUT: Duration = Duration::from_secs(150);

fn main() -> ExitCode {
    let args = Arguments::from_args();
    type TestFn = fn() -> Result<(), Failed>;
    let tests: Vec<(&str, TestFn)> = vec![
        (
            "nginx_seed_task_serves_port_80",
            nginx_seed_task_serves_port_80,
        ),
        (
            "proxy_container_admin_on_host_socket",
            proxy_container_admin_on_host_socket,
        ),
        (
            "environment_command_entry_point_user",
            environment_command_entry_point_user,
        ),
        ("hosts_file_and_host_dirs", hosts_file_and_host_dirs),
        ("health_checks", health_checks),
        ("depends_on_conditions", depends_on_conditions),
        ("essential_exit_stops_task", essential_exit_stops_task),
        ("sigkill_after_stop_timeout", sigkill_after_stop_timeout),
        ("missing_image_is_cannot_pull", missing_image_is_cannot_pull),
        (
            "dropped_handle_kills_containers",
            dropped_handle_kills_containers,
        ),
        (
            "destroy_and_cleanup_leave_nothing",
            destroy_and_cleanup_leave_nothing,
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
        let left = leftovers();
        let _ = std::fs::remove_dir_all(state_dir());
        if !left.is_empty() {
            eprintln!("FAIL: the tests left behind:");
            for l in &left {
                eprintln!("  {l}");
            }
            return ExitCode::FAILURE;
        }
        println!(
            "leftovers check: no container, namespace or veth of the {} tasks of this run is left",
            task_ids().lock().unwrap().len()
        );
    }
    if conclusion.has_failed() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Containers, namespaces and veths of this run still there; removes the tools image.
fn leftovers() -> Vec<String> {
    let ids = task_ids().lock().unwrap().clone();
    on_own_runtime(async move {
        let mut out = Vec::new();
        match DockerRuntime::connect().await {
            Ok(rt) => {
                match rt.list().await {
                    Ok(list) => {
                        for c in list.iter().filter(|c| c.task_id.contains(run_tag())) {
                            out.push(format!("container {} ({})", c.name, c.task_id));
                        }
                    }
                    Err(e) => out.push(format!("listing containers: {e}")),
                }
                let _ = rt
                    .docker()
                    .remove_image(
                        &tools_image(),
                        None::<bollard::query_parameters::RemoveImageOptions>,
                        None,
                    )
                    .await;
            }
            Err(e) => out.push(format!("connecting to Docker: {e}")),
        }
        for id in &ids {
            let ns = Path::new(NETNS_RUN_DIR).join(netns_name(id));
            if ns.exists() {
                out.push(format!("namespace {}", ns.display()));
            }
            let veth = Path::new("/sys/class/net").join(veth_name(id));
            if veth.exists() {
                out.push(format!("veth {}", veth_name(id)));
            }
        }
        out
    })
}

/// Runs `f` to completion on a runtime of its own, on a thread of its own (so it can be
/// called from inside another runtime).
fn on_own_runtime<T: Send + 'static>(f: impl Future<Output = T> + Send + 'static) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    })
    .join()
    .expect("helper thread")
}

fn run_async(body: impl Future<Output = ()>) -> Result<(), Failed> {
    if !is_root() {
        return Err(NOT_ROOT.into());
    }
    if let Err(e) = images() {
        return Err(e.clone().into());
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            tokio::time::timeout(TEST_TIMEOUT, body)
                .await
                .unwrap_or_else(|_| panic!("the test took longer than {TEST_TIMEOUT:?}"))
        });
    Ok(())
}

/// The berth binary the berth image is built from.
fn berth_bin() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("BERTH_BIN") {
        return Ok(PathBuf::from(p));
    }
    // target/<profile>/deps/docker-<hash> → target/<profile>/berth
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("berth"))
        .ok_or("no target directory")?;
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!(
            "{} is missing: build it first (`cargo build -p berth`; scripts/test does) or set BERTH_BIN",
            bin.display()
        ))
    }
}

/// Builds the images once per run.
fn images() -> &'static Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        on_own_runtime(async {
            let bin = berth_bin()?;
            let rt = DockerRuntime::connect().await.map_err(|e| e.to_string())?;
            let d = rt.docker();
            let v = d.client_version();
            let server = d.version().await.map_err(|e| e.to_string())?;
            eprintln!(
                "Docker {} (API {}), client speaks {}.{}",
                server.version.unwrap_or_default(),
                server.api_version.unwrap_or_default(),
                v.major_version,
                v.minor_version
            );
            let t = Instant::now();
            let (id, built) = berth_docker::ensure_berth_image(d, Some(&bin), None)
                .await
                .map_err(|e| e.to_string())?;
            eprintln!("berth image {id} (built now: {built}) in {:?}", t.elapsed());
            let nginx =
                ImageSpec::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("images/nginx.json"))
                    .map_err(|e| e.to_string())?;
            berth_docker::build_image(d, &nginx)
                .await
                .map_err(|e| e.to_string())?;
            let busybox =
                ImageSpec::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("images/busybox.json"))
                    .map_err(|e| e.to_string())?;
            berth_docker::build_image(d, &busybox)
                .await
                .map_err(|e| e.to_string())?;
            let tools = ImageSpec::from_json(
                &serde_json::json!({
                    "tag": tools_image(),
                    "binaries": ["/bin/sh", "/usr/bin/env", "/usr/bin/sleep", "/usr/bin/cat",
                                 "/usr/bin/touch", "/usr/bin/id", "/usr/bin/false",
                                 "/usr/bin/true", "/usr/bin/pwd", "/usr/bin/ls"],
                    "dirs": ["/work"],
                    "users": ["www-data"],
                    "entrypoint": ["/bin/sh", "-c"],
                    "cmd": ["echo image-cmd"],
                    "env": {
                        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                        "IMG_VAR": "from-image"
                    },
                    "workingDir": "/work"
                })
                .to_string(),
                "tools",
            )
            .map_err(|e| e.to_string())?;
            berth_docker::build_image(d, &tools)
                .await
                .map_err(|e| e.to_string())?;
            eprintln!("images built in {:?}", t.elapsed());
            Ok(())
        })
    })
}

// ---------------------------------------------------------------------------------------
// Fixtures

struct Env {
    rt: DockerRuntime,
    bridge: Bridge,
    dir: tempfile::TempDir,
    nets: Mutex<Vec<Arc<TaskNetwork>>>,
}

impl Env {
    async fn new(n: u8) -> Env {
        let config = BridgeConfig {
            name: format!("dk{}{n:02x}", run_tag()),
            subnet: Ipv4Subnet::new(Ipv4Addr::new(10, 213, n, 0), 24).unwrap(),
            state_dir: state_dir().to_path_buf(),
            firewall: FirewallMode::Auto,
        };
        let bridge = Bridge::ensure(&config).await.unwrap();
        Env {
            rt: DockerRuntime::connect().await.unwrap(),
            bridge,
            dir: tempfile::tempdir().unwrap(),
            nets: Mutex::new(Vec::new()),
        }
    }

    fn task_id(&self, label: &str) -> String {
        let id = format!("dtest-{}-{}-{label}", run_tag(), self.bridge.name());
        task_ids().lock().unwrap().push(id.clone());
        id
    }

    async fn net(&self, label: &str) -> Arc<TaskNetwork> {
        let id = self.task_id(label);
        let net = self
            .rt
            .create_network(&self.bridge, &id, &TaskNetConfig::default())
            .await
            .unwrap();
        self.nets.lock().unwrap().push(net.clone());
        net
    }

    fn log_dir(&self) -> PathBuf {
        self.dir.path().join("logs")
    }

    fn config(&self) -> TaskRuntimeConfig {
        TaskRuntimeConfig {
            log_dir: self.log_dir(),
            image_map: Arc::new(ImageMap::builtin()),
            secrets: Arc::new(ResolvedSecrets::default()),
            extra_env: vec![("BERTH_DK_TEST".into(), run_tag().into())],
            hidden_paths: Vec::new(),
        }
    }

    async fn start(
        &self,
        net: &Arc<TaskNetwork>,
        specs: Vec<ContainerSpec>,
    ) -> berth_runtime::TaskHandle {
        self.rt
            .start_task(net.clone(), specs, &self.config())
            .await
            .unwrap()
    }

    fn log(&self, container: &str) -> String {
        std::fs::read_to_string(self.log_dir().join(format!("{container}.log"))).unwrap_or_default()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let rt = self.rt.clone();
        let bridge = self.bridge.clone();
        let nets = std::mem::take(&mut *self.nets.lock().unwrap());
        let res = on_own_runtime(async move {
            for n in &nets {
                rt.destroy_network(n)
                    .await
                    .map_err(|e| format!("destroy {}: {e}", n.task_id()))?;
            }
            cleanup_except(&bridge, [] as [&str; 0])
                .await
                .map_err(|e| e.to_string())?;
            bridge.remove().await.map_err(|e| e.to_string())
        });
        if let Err(e) = res {
            if std::thread::panicking() {
                eprintln!("teardown of {}: {e}", self.bridge.name());
            } else {
                panic!("teardown of {}: {e}", self.bridge.name());
            }
        }
    }
}

/// A tools container running `/bin/sh -c script` (the image's entrypoint).
fn sh(name: &str, script: &str) -> ContainerSpec {
    let mut c = ContainerSpec::new(name, tools_image());
    c.command = Some(vec![script.into()]);
    c.stop_timeout = Duration::from_secs(2);
    c
}

/// A script that runs until SIGTERM, then exits with `code`.
fn until_term(code: i32) -> String {
    format!("trap 'exit {code}' TERM; while true; do sleep 0.1; done")
}

fn fast_check(command: HealthCommand, retries: u32) -> HealthCheck {
    HealthCheck {
        command,
        interval: Duration::from_millis(500),
        timeout: Duration::from_secs(2),
        retries,
        start_period: Duration::ZERO,
    }
}

async fn wait_for(
    rx: &mut watch::Receiver<TaskState>,
    what: &str,
    within: Duration,
    f: impl Fn(&TaskState) -> bool,
) -> TaskState {
    let got = tokio::time::timeout(within, rx.wait_for(|s| f(s)))
        .await
        .map(|r| r.map(|s| s.clone()));
    match got {
        Ok(Ok(s)) => s,
        _ => panic!("{what} within {within:?}; state: {:#?}", *rx.borrow()),
    }
}

/// Runs `argv` in the Docker container `id`; its stdout+stderr.
async fn exec(rt: &DockerRuntime, id: &str, argv: &[&str]) -> String {
    let d = rt.docker();
    let e = d
        .create_exec(
            id,
            CreateExecOptions {
                cmd: Some(argv.to_vec()),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..CreateExecOptions::default()
            },
        )
        .await
        .unwrap();
    let mut out = String::new();
    if let StartExecResults::Attached { mut output, .. } = d.start_exec(&e.id, None).await.unwrap()
    {
        while let Some(Ok(chunk)) = output.next().await {
            out.push_str(&chunk.to_string());
        }
    }
    out
}

fn curl(url: &str) -> (bool, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "5", url])
        .output()
        .expect("run curl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

// ---------------------------------------------------------------------------------------
// Tests

/// seed 002's container definition, verbatim.
const SEED_002_WEBSERVER: &str = r#"{ "name": "webserver", "image": "public.ecr.aws/docker/library/nginx:latest", "cpu": 100, "portMappings": [ { "name": "nginx", "containerPort": 80, "protocol": "tcp", "appProtocol": "http" } ], "essential": true, "logConfiguration": { "logDriver": "awslogs", "options": { "awslogs-group": "/ecs/service-connect-nginx", "awslogs-region": "region", "awslogs-stream-prefix": "nginx" } } }"#;

fn nginx_seed_task_serves_port_80() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(200).await;
        let net = env.net("nginx").await;
        let spec =
            ContainerSpec::from_json(&serde_json::from_str(SEED_002_WEBSERVER).unwrap()).unwrap();
        let task = env.start(&net, vec![spec]).await;
        let mut rx = task.state();
        wait_for(&mut rx, "webserver running", Duration::from_secs(20), |s| {
            s.status == TaskStatus::Running
        })
        .await;
        let url = format!("http://{}:80/", net.ip());
        let deadline = Instant::now() + Duration::from_secs(20);
        let body = loop {
            let (ok, out) = curl(&url);
            if ok {
                break out;
            }
            assert!(Instant::now() < deadline, "curl {url}: {out}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert!(body.contains("Welcome to nginx"), "{body}");
        // the container's pid is its init's, on the host
        let pid = task.state().borrow().containers[0].pid.expect("pid");
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
        assert_eq!(comm.trim(), "nginx");
        let end = task.stop("test over").await;
        assert_eq!(end.status, TaskStatus::Stopped);
        assert_eq!(end.stopped_reason.as_deref(), Some("test over"));
        // SIGTERM: nginx's fast shutdown, exit 0
        assert_eq!(end.containers[0].exit_code, Some(0), "{end:#?}");
        let log = env.log("webserver");
        assert!(
            log.contains("\"GET / HTTP/1.1\" 200"),
            "access log in {log:?}"
        );
    })
}

/// GET `path` on the HTTP server at the Unix socket `socket`: the response's text.
fn get_unix(socket: &Path, path: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(socket)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n"
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// The task's proxy as the agent runs it: the berth image, `proxy --admin unix:…` on a
/// socket in a host directory.
fn proxy_container_admin_on_host_socket() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(210).await;
        let net = env.net("proxy").await;
        let dir = env.dir.path().join("proxy");
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("admin.sock");
        let mut spec = ContainerSpec::new("proxy", PROXY_IMAGE);
        spec.command = Some(vec![
            "proxy".into(),
            "--admin".into(),
            format!("unix:{}", socket.display()),
            "--workers".into(),
            "1".into(),
            "--drain-seconds".into(),
            "1".into(),
        ]);
        spec.host_dirs = vec![dir.clone()];
        spec.stop_timeout = Duration::from_secs(5);
        let task = env.start(&net, vec![spec]).await;
        let deadline = Instant::now() + Duration::from_secs(20);
        let answer = loop {
            match get_unix(&socket, "/ready") {
                Ok(a) => break a,
                Err(e) => {
                    assert!(
                        Instant::now() < deadline,
                        "admin socket: {e}; log: {}",
                        env.log("proxy")
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        assert!(
            answer.starts_with("HTTP/1.1 503") && answer.contains("no snapshot yet"),
            "{answer}"
        );
        let end = task.stop("done").await;
        assert_eq!(end.containers[0].exit_code, Some(0), "{}", env.log("proxy"));
    })
}

fn environment_command_entry_point_user() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(201).await;
        let net = env.net("env").await;
        let image_default = {
            let mut c = ContainerSpec::new("image-default", tools_image());
            c.essential = false;
            c
        };
        let mut cmd = sh(
            "cmd",
            "echo \"$IMG_VAR $SPEC_VAR $BERTH_DK_TEST\"; pwd; id -u",
        );
        cmd.environment = vec![
            ("SPEC_VAR".into(), "first".into()),
            ("SPEC_VAR".into(), "from-spec".into()),
        ];
        // the essential one, last
        cmd.depends_on = ["image-default", "entry", "dir-user"]
            .into_iter()
            .map(|c| Dependency {
                container: c.into(),
                condition: Condition::Complete,
            })
            .collect();
        let mut entry = ContainerSpec::new("entry", tools_image());
        entry.entry_point = Some(vec!["/usr/bin/env".into()]);
        entry.environment = vec![
            ("IMG_VAR".into(), "overridden".into()),
            ("SPEC_VAR".into(), "x".into()),
        ];
        entry.essential = false;
        let mut dir_user = sh("dir-user", "pwd; id -un; echo $HOME");
        dir_user.working_directory = Some("/tmp".into());
        dir_user.user = Some("www-data".into());
        dir_user.essential = false;
        let task = env
            .start(&net, vec![image_default, cmd, entry, dir_user])
            .await;
        let end = tokio::time::timeout(Duration::from_secs(30), task.wait())
            .await
            .expect("all containers exit");
        for c in &end.containers {
            assert_eq!(c.exit_code, Some(0), "{c:?}: {}", env.log(&c.name));
        }
        assert_eq!(env.log("image-default"), "image-cmd\n");
        assert_eq!(
            env.log("cmd"),
            format!("from-image from-spec {}\n/work\n0\n", run_tag())
        );
        let e = env.log("entry");
        assert!(!e.contains("image-cmd"), "the image's cmd is dropped: {e}");
        for want in [
            "IMG_VAR=overridden".to_string(),
            "SPEC_VAR=x".to_string(),
            format!("BERTH_DK_TEST={}", run_tag()),
            format!("HOSTNAME={}", net.hostname()),
            "PATH=/usr/local/sbin:".to_string(),
        ] {
            assert!(e.lines().any(|l| l.starts_with(&want)), "{want} in {e}");
        }
        assert_eq!(env.log("dir-user"), "/tmp\nwww-data\n/var/www\n");

        // images/busybox.json: a shell and the usual tools
        let mut bb = ContainerSpec::new("bb", "public.ecr.aws/docker/library/busybox:latest");
        bb.command = Some(vec![
            "sh".into(),
            "-c".into(),
            "echo one two | tr ' ' '\\n' | grep -c o; hostname".into(),
        ]);
        let task = env.start(&net, vec![bb]).await;
        let end = tokio::time::timeout(Duration::from_secs(20), task.wait())
            .await
            .expect("bb exits");
        assert_eq!(end.containers[0].exit_code, Some(0), "{}", env.log("bb"));
        assert_eq!(env.log("bb"), format!("2\n{}\n", net.hostname()));
    })
}

fn hosts_file_and_host_dirs() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(202).await;
        let net = env.net("hosts").await;
        let shared = env.dir.path().join("shared");
        std::fs::create_dir_all(&shared).unwrap();
        let mut a = sh(
            "a",
            &format!(
                "echo from-container > {}/out; {}",
                shared.display(),
                until_term(0)
            ),
        );
        a.host_dirs = vec![shared.clone()];
        // Another container of the task (as an application beside the proxy): it does
        // not get a's host directory.
        let b = sh("b", &until_term(0));
        // The definition's isolation settings reach Docker.
        let mut c = sh("c", &until_term(0));
        c.essential = false;
        c.readonly_root_filesystem = true;
        c.capabilities.add = vec![berth_runtime::CapabilityName::parse("NET_ADMIN").unwrap()];
        c.capabilities.drop = vec![berth_runtime::CapabilityName::parse("MKNOD").unwrap()];
        let task = env.start(&net, vec![a, b, c]).await;
        let mut rx = task.state();
        wait_for(&mut rx, "a running", Duration::from_secs(20), |s| {
            s.status == TaskStatus::Running
        })
        .await;
        let id = env
            .rt
            .list_task(net.task_id())
            .await
            .unwrap()
            .into_iter()
            .find(|c| c.container == "a")
            .unwrap()
            .id;
        let hosts = exec(&env.rt, &id, &["cat", "/etc/hosts"]).await;
        assert!(
            hosts.contains(&net.ip().to_string()) && hosts.contains(net.hostname()),
            "{hosts}"
        );
        // The agent rewrites the file in place: the running container sees it.
        net.write_hosts(&[("orders", Ipv4Addr::new(127, 255, 0, 2))])
            .unwrap();
        let hosts = exec(&env.rt, &id, &["cat", "/etc/hosts"]).await;
        assert!(
            hosts.contains("127.255.0.2") && hosts.contains("orders"),
            "{hosts}"
        );
        // same hostname as the holder, the task's
        let name = exec(&env.rt, &id, &["cat", "/etc/hostname"]).await;
        assert_eq!(name.trim(), net.hostname());
        // a host directory at the same path
        let deadline = Instant::now() + Duration::from_secs(10);
        while !shared.join("out").exists() {
            assert!(
                Instant::now() < deadline,
                "the container wrote nothing to the host dir"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            std::fs::read_to_string(shared.join("out")).unwrap(),
            "from-container\n"
        );
        let id_b = env
            .rt
            .list_task(net.task_id())
            .await
            .unwrap()
            .into_iter()
            .find(|c| c.container == "b")
            .unwrap()
            .id;
        let seen = exec(
            &env.rt,
            &id_b,
            &[
                "sh",
                "-c",
                &format!(
                    "test -e {} && echo present || echo absent",
                    shared.display()
                ),
            ],
        )
        .await;
        assert_eq!(seen.trim(), "absent", "only a's own host directory is a's");
        // (shell builtins only: the tools image is small)
        let cap_eff = [
            "sh",
            "-c",
            "while read k v; do [ \"$k\" = CapEff: ] && echo $v; done < /proc/self/status",
        ];
        let caps = exec(&env.rt, &id_b, &cap_eff).await;
        assert!(
            caps.contains("00000000a80425fb"),
            "Docker's default set: {caps}"
        );
        let id_c = env
            .rt
            .list_task(net.task_id())
            .await
            .unwrap()
            .into_iter()
            .find(|c| c.container == "c")
            .unwrap()
            .id;
        let caps = exec(&env.rt, &id_c, &cap_eff).await;
        assert!(
            caps.contains("00000000a00435fb"),
            "+NET_ADMIN -MKNOD: {caps}"
        );
        let ro = exec(&env.rt, &id_c, &["sh", "-c", ": > /berth-ro-probe"]).await;
        assert!(ro.contains("Read-only file system"), "{ro}");
        let end = task.stop("done").await;
        assert_eq!(end.containers[0].exit_code, Some(0));
    })
}

fn health_checks() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(203).await;
        let net = env.net("health").await;
        let mut good = sh(
            "good",
            &format!("sleep 1; touch /tmp/ok; {}", until_term(0)),
        );
        good.health_check = Some(fast_check(
            HealthCommand::Shell("test -f /tmp/ok".into()),
            3,
        ));
        let mut bad = sh("bad", &until_term(0));
        bad.health_check = Some(fast_check(
            HealthCommand::Cmd(vec!["/usr/bin/false".into()]),
            2,
        ));
        bad.essential = false;
        let mut slow = sh("slow", &until_term(0));
        let mut check = fast_check(HealthCommand::Shell("sleep 30".into()), 1);
        check.timeout = Duration::from_secs(1);
        slow.health_check = Some(check);
        slow.essential = false;
        let task = env.start(&net, vec![good, bad, slow]).await;
        let mut rx = task.state();
        let s = wait_for(&mut rx, "good HEALTHY", Duration::from_secs(20), |s| {
            s.container("good").unwrap().health == HealthStatus::Healthy
        })
        .await;
        assert_eq!(
            s.task_health,
            HealthStatus::Healthy,
            "only essential containers count"
        );
        wait_for(&mut rx, "bad UNHEALTHY", Duration::from_secs(20), |s| {
            s.container("bad").unwrap().health == HealthStatus::Unhealthy
        })
        .await;
        // a check over its timeout fails (and its process is killed)
        wait_for(&mut rx, "slow UNHEALTHY", Duration::from_secs(20), |s| {
            s.container("slow").unwrap().health == HealthStatus::Unhealthy
        })
        .await;
        let end = task.stop("done").await;
        assert!(end
            .containers
            .iter()
            .all(|c| c.status == ContainerStatus::Stopped));
    })
}

fn depends_on_conditions() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(204).await;
        let net = env.net("deps").await;
        let shared = env.dir.path().join("order");
        std::fs::create_dir_all(&shared).unwrap();
        let file = shared.join("events");
        let log = |what: &str| format!("echo {what} >> {}", file.display());
        let dep = |c: &str, condition| Dependency {
            container: c.into(),
            condition,
        };
        let with_dir = |mut c: ContainerSpec| {
            c.host_dirs = vec![shared.clone()];
            c
        };
        let mut init = with_dir(sh("init", &format!("sleep 1; {}", log("init-done"))));
        init.essential = false;
        let mut db = with_dir(sh(
            "db",
            &format!(
                "{}; sleep 1; touch /tmp/up; {}",
                log("db-start"),
                until_term(0)
            ),
        ));
        db.health_check = Some(fast_check(
            HealthCommand::Shell("test -f /tmp/up".into()),
            3,
        ));
        db.essential = false;
        let mut failing = sh("failing", "exit 1");
        failing.essential = false;
        let mut app = with_dir(sh(
            "app",
            &format!("{}; {}", log("app-start"), until_term(0)),
        ));
        app.depends_on = vec![
            dep("init", Condition::Success),
            dep("db", Condition::Healthy),
        ];
        let mut never = sh("never", "echo should-not-run");
        never.depends_on = vec![dep("failing", Condition::Success)];
        never.essential = false;
        let mut after_start = with_dir(sh("after-start", &log("after-start")));
        after_start.depends_on = vec![dep("db", Condition::Start)];
        after_start.essential = false;
        let task = env
            .start(&net, vec![app, init, db, failing, never, after_start])
            .await;
        let mut rx = task.state();
        let s = wait_for(&mut rx, "app running", Duration::from_secs(30), |s| {
            s.container("app").unwrap().status == ContainerStatus::Running
        })
        .await;
        let never = s.container("never").unwrap();
        assert_eq!(never.status, ContainerStatus::Stopped);
        assert!(
            never
                .reason
                .as_deref()
                .unwrap_or("")
                .starts_with("DependencyError"),
            "{never:?}"
        );
        assert!(env.log("never").is_empty());
        let deadline = Instant::now() + Duration::from_secs(5);
        let events = loop {
            let t = std::fs::read_to_string(&file).unwrap_or_default();
            if t.contains("app-start") || Instant::now() > deadline {
                break t;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let pos = |w: &str| events.find(w).unwrap_or_else(|| panic!("{w} in {events}"));
        assert!(pos("init-done") < pos("app-start"), "{events}");
        assert!(pos("db-start") < pos("app-start"), "{events}");
        assert!(events.contains("after-start"), "{events}");
        // Stop: app (depends on db) gets SIGTERM first, db once app exited.
        let end = task.stop("done").await;
        assert_eq!(end.container("app").unwrap().exit_code, Some(0));
        assert_eq!(end.container("db").unwrap().exit_code, Some(0));
    })
}

fn essential_exit_stops_task() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(205).await;
        let net = env.net("essential").await;
        let main = sh("main", "sleep 1; exit 3");
        let mut side = sh("side", &until_term(7));
        side.essential = false;
        let task = env.start(&net, vec![main, side]).await;
        let end = tokio::time::timeout(Duration::from_secs(30), task.wait())
            .await
            .expect("the task stops by itself");
        assert_eq!(end.stopped_reason.as_deref(), Some(ESSENTIAL_EXITED));
        assert_eq!(end.container("main").unwrap().exit_code, Some(3));
        assert_eq!(
            end.container("side").unwrap().exit_code,
            Some(7),
            "{end:#?}"
        );
    })
}

fn sigkill_after_stop_timeout() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(206).await;
        let net = env.net("sigkill").await;
        let mut stubborn = sh("stubborn", "trap '' TERM; while true; do sleep 0.1; done");
        stubborn.stop_timeout = Duration::from_secs(2);
        let task = env.start(&net, vec![stubborn]).await;
        let mut rx = task.state();
        wait_for(&mut rx, "running", Duration::from_secs(20), |s| {
            s.status == TaskStatus::Running
        })
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let t = Instant::now();
        let end = task.stop("stop").await;
        let took = t.elapsed();
        assert!(
            took >= Duration::from_secs(2),
            "SIGKILL came after {took:?}"
        );
        assert!(took < Duration::from_secs(10), "stop took {took:?}");
        assert_eq!(end.containers[0].exit_code, Some(137));
    })
}

fn missing_image_is_cannot_pull() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(207).await;
        let net = env.net("missing").await;
        let ok = sh("ok", "true");
        let missing = ContainerSpec::new("missing", format!("berth-test/absent:{}", run_tag()));
        let err = env
            .rt
            .start_task(net.clone(), vec![ok, missing], &env.config())
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("CannotPullContainerError: "), "{text}");
        assert!(text.contains("berth-test/absent"), "{text}");
        // nothing was created but the holder
        let list = env.rt.list_task(net.task_id()).await.unwrap();
        assert!(list.iter().all(|c| c.role == Role::Holder), "{list:?}");

        // An image that is there but a program that is not: the container cannot
        // start, and (essential) stops the task with that reason.
        let mut broken = ContainerSpec::new("broken", tools_image());
        broken.entry_point = Some(vec!["/no/such/program".into()]);
        let task = env.start(&net, vec![broken]).await;
        let end = tokio::time::timeout(Duration::from_secs(20), task.wait())
            .await
            .expect("the task stops");
        let reason = end.stopped_reason.clone().unwrap_or_default();
        assert!(
            reason.starts_with("CannotStartContainerError: container broken: "),
            "{end:#?}"
        );
        assert_eq!(end.containers[0].reason.as_deref(), Some(reason.as_str()));
        assert_eq!(end.containers[0].pid, None);
    })
}

fn dropped_handle_kills_containers() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(208).await;
        let net = env.net("dropped").await;
        let mut a = sh("a", "trap '' TERM; while true; do sleep 0.1; done");
        a.stop_timeout = Duration::from_secs(60);
        let task = env.start(&net, vec![a]).await;
        let mut rx = task.state();
        wait_for(&mut rx, "running", Duration::from_secs(20), |s| {
            s.status == TaskStatus::Running
        })
        .await;
        drop(task);
        // SIGKILLed at once, not after the 60 s stop timeout
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let list = env.rt.list_task(net.task_id()).await.unwrap();
            if list.iter().all(|c| c.role == Role::Holder || !c.running) {
                break;
            }
            assert!(Instant::now() < deadline, "still running: {list:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

fn destroy_and_cleanup_leave_nothing() -> Result<(), Failed> {
    run_async(async {
        let env = Env::new(209).await;
        let net = env.net("destroy").await;
        let task = env.start(&net, vec![sh("a", &until_term(0))]).await;
        let mut rx = task.state();
        wait_for(&mut rx, "running", Duration::from_secs(20), |s| {
            s.status == TaskStatus::Running
        })
        .await;
        let list = env.rt.list_task(net.task_id()).await.unwrap();
        assert_eq!(list.len(), 2, "{list:?}");
        let holder = list.iter().find(|c| c.role == Role::Holder).unwrap();
        assert_eq!(holder.name, berth_docker::holder_name(net.task_id()));
        assert_eq!(holder.name, net.netns_name());
        let app = list.iter().find(|c| c.role == Role::Container).unwrap();
        assert_eq!(app.name, berth_docker::container_name(net.task_id(), "a"));
        // create_network again adopts the same holder and namespace
        let again = env
            .rt
            .create_network(&env.bridge, net.task_id(), &TaskNetConfig::default())
            .await
            .unwrap();
        assert_eq!((again.ip(), again.hostname()), (net.ip(), net.hostname()));
        let list2 = env.rt.list_task(net.task_id()).await.unwrap();
        assert!(
            list2.iter().any(|c| c.id == holder.id && c.running),
            "{list2:?}"
        );

        // destroy (with the task still running) removes everything; twice is fine
        env.rt.destroy_network(&net).await.unwrap();
        env.rt.destroy_network(&net).await.unwrap();
        let _ = tokio::time::timeout(Duration::from_secs(10), task.wait())
            .await
            .expect("the task ends when its containers are removed");
        assert!(env.rt.list_task(net.task_id()).await.unwrap().is_empty());
        assert!(!net.netns_path().exists());
        assert!(!Path::new("/sys/class/net").join(net.veth_name()).exists());

        // cleanup_except: a task the agent no longer knows loses its containers
        let lost = env.net("lost").await;
        let lost_task = env.start(&lost, vec![sh("b", &until_term(0))]).await;
        let mut rx = lost_task.state();
        wait_for(&mut rx, "running", Duration::from_secs(20), |s| {
            s.status == TaskStatus::Running
        })
        .await;
        let known: Vec<String> = env
            .rt
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.task_id)
            .filter(|t| t != lost.task_id())
            .collect();
        let removed = env.rt.cleanup_except(&known).await.unwrap();
        assert_eq!(removed.len(), 2, "{removed:?}");
        assert!(removed.iter().all(|c| c.task_id == lost.task_id()));
        assert_eq!(
            removed.last().unwrap().role,
            Role::Holder,
            "the holder goes last"
        );
        assert!(env.rt.list_task(lost.task_id()).await.unwrap().is_empty());
        drop(lost_task);
        let _ = PROXY_IMAGE;
    })
}
