//! `berth-bench-control-plane`: how berth's control-plane latency holds up as the store
//! grows.
//!
//! Against a running `berth server` (`--endpoint 127.0.0.1:PORT`), over HTTP/1.1
//! keep-alive with raw AWS JSON 1.1:
//!
//! 1. setup: a cluster with a default Service Connect namespace and a task definition
//!    with a named port;
//! 2. measures DescribeServices (10 services a call), CreateService (new Service Connect
//!    services), RegisterInstance and DiscoverInstances at an (almost) empty store;
//! 3. loads the store: 1,000 Service Connect services (each with its Cloud Map service)
//!    and 10,000 instances spread over those Cloud Map services;
//! 4. measures the same four again, and prints both side by side as a markdown table.
//!
//! Calls are measured one at a time on one connection (latency, not throughput under
//! contention); ops/s is the sequential rate.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use berth_bench::{ms, Conn, Rng, Stats, CLOUD_MAP, ECS};
use serde_json::{json, Value};
use tokio::task::JoinSet;

const CLUSTER: &str = "bench";
const NAMESPACE: &str = "bench.local";
const FAMILY: &str = "bench-web";
const TARGET_P99: Duration = Duration::from_millis(20);

struct Args {
    endpoint: String,
    services: usize,
    instances: usize,
    creates: usize,
    describes: usize,
    registers: usize,
    discovers: usize,
    load_connections: usize,
}

fn usage() -> ! {
    eprintln!(
        "usage: berth-bench-control-plane --endpoint HOST:PORT [--services 1000] [--instances 10000]\n\
         \x20      [--creates 200] [--describes 2000] [--registers 2000] [--discovers 5000] [--load-connections 4]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        endpoint: String::new(),
        services: 1000,
        instances: 10_000,
        creates: 200,
        describes: 2000,
        registers: 2000,
        discovers: 5000,
        load_connections: 4,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let Some(value) = it.next() else { usage() };
        let num = || value.parse::<usize>().unwrap_or_else(|_| usage());
        match flag.as_str() {
            "--endpoint" => {
                a.endpoint = value
                    .trim_start_matches("http://")
                    .trim_end_matches('/')
                    .to_string()
            }
            "--services" => a.services = num(),
            "--instances" => a.instances = num(),
            "--creates" => a.creates = num(),
            "--describes" => a.describes = num(),
            "--registers" => a.registers = num(),
            "--discovers" => a.discovers = num(),
            "--load-connections" => a.load_connections = num().max(1),
            _ => usage(),
        }
    }
    if a.endpoint.is_empty() || a.creates < 10 || a.services < 10 {
        usage()
    }
    a
}

/// A Service Connect service the benchmark created: its name and its Cloud Map service id.
#[derive(Clone)]
struct Svc {
    name: String,
    srv_id: String,
}

fn create_service_body(name: &str) -> Value {
    json!({
        "cluster": CLUSTER,
        "serviceName": name,
        "taskDefinition": FAMILY,
        "desiredCount": 1,
        "launchType": "FARGATE",
        "networkConfiguration": {"awsvpcConfiguration": {
            "subnets": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
            "securityGroups": ["sg-0123456789abcdef0"],
            "assignPublicIp": "DISABLED"
        }},
        "serviceConnectConfiguration": {
            "enabled": true,
            "services": [{"portName": "http", "discoveryName": name, "clientAliases": [{"port": 80}]}]
        }
    })
}

async fn create_service(c: &mut Conn, name: &str) -> anyhow::Result<Svc> {
    let out = c
        .ok(ECS, "CreateService", &create_service_body(name))
        .await?;
    svc_of(name, &out)
}

/// The service a CreateService answer describes.
fn svc_of(name: &str, out: &Value) -> anyhow::Result<Svc> {
    let arn = out["service"]["deployments"][0]["serviceConnectResources"][0]["discoveryArn"]
        .as_str()
        .with_context(|| format!("CreateService {name}: no serviceConnectResources in {out}"))?;
    Ok(Svc {
        name: name.to_string(),
        srv_id: arn.rsplit('/').next().unwrap_or_default().to_string(),
    })
}

fn register_body(srv_id: &str, instance: &str, k: usize) -> Value {
    json!({
        "ServiceId": srv_id,
        "InstanceId": instance,
        "Attributes": {
            "AWS_INSTANCE_IPV4": format!("10.{}.{}.{}", (k >> 16) & 255, (k >> 8) & 255, k & 255),
            "AWS_INSTANCE_PORT": "8080"
        }
    })
}

async fn setup(c: &mut Conn) -> anyhow::Result<()> {
    c.ok(
        ECS,
        "CreateCluster",
        &json!({"clusterName": CLUSTER, "serviceConnectDefaults": {"namespace": NAMESPACE}}),
    )
    .await?;
    c.ok(
        ECS,
        "RegisterTaskDefinition",
        &json!({
            "family": FAMILY,
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            "cpu": "256",
            "memory": "512",
            "containerDefinitions": [{
                "name": "web",
                "image": "public.ecr.aws/docker/library/nginx:latest",
                "essential": true,
                "portMappings": [{"name": "http", "containerPort": 8080, "protocol": "tcp", "appProtocol": "http"}]
            }]
        }),
    )
    .await?;
    // The cluster becomes ACTIVE once its namespace is provisioned.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = c
            .ok(ECS, "DescribeClusters", &json!({"clusters": [CLUSTER]}))
            .await?;
        if out["clusters"][0]["status"] == "ACTIVE" {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("cluster {CLUSTER} is not ACTIVE after 10 s: {out}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The four measurements of one phase.
struct Phase {
    describe: Stats,
    create: Stats,
    register: Stats,
    discover: Stats,
}

/// Calls `op` once per body, back to back on one connection, timing each call;
/// `check` vets each answer. Returns the statistics and the answers.
async fn timed(
    c: &mut Conn,
    prefix: &str,
    op: &str,
    bodies: &[Value],
    check: impl Fn(&Value) -> anyhow::Result<()>,
) -> anyhow::Result<(Stats, Vec<Value>)> {
    let mut lat = Vec::with_capacity(bodies.len());
    let mut answers = Vec::with_capacity(bodies.len());
    let start = Instant::now();
    for b in bodies {
        let t = Instant::now();
        let out = c.ok(prefix, op, b).await?;
        lat.push(t.elapsed());
        check(&out)?;
        answers.push(out);
    }
    Ok((Stats::of(lat, start.elapsed()), answers))
}

/// Calls `op` with each body, untimed (a warm-up).
async fn warm_up(c: &mut Conn, prefix: &str, op: &str, bodies: &[Value]) -> anyhow::Result<()> {
    for b in bodies {
        c.ok(prefix, op, b).await?;
    }
    Ok(())
}

/// Measures the four operations. `pool` is the set of existing services the reads and
/// registrations pick from; when empty, the services this phase's CreateService makes
/// are used.
async fn measure(
    c: &mut Conn,
    tag: &str,
    pool: &[Svc],
    args: &Args,
    rng: &mut Rng,
) -> anyhow::Result<Phase> {
    // CreateService: new Service Connect services.
    let names: Vec<String> = (0..args.creates)
        .map(|i| format!("{tag}-new-{i:05}"))
        .collect();
    let bodies: Vec<Value> = names.iter().map(|n| create_service_body(n)).collect();
    let (create, answers) = timed(c, ECS, "CreateService", &bodies, |_| Ok(())).await?;
    let pool: Vec<Svc> = if pool.is_empty() {
        names
            .iter()
            .zip(&answers)
            .map(|(n, out)| svc_of(n, out))
            .collect::<anyhow::Result<_>>()?
    } else {
        pool.to_vec()
    };
    let pick = |rng: &mut Rng| &pool[rng.below(pool.len())];

    // DescribeServices, 10 services a call.
    let bodies: Vec<Value> = (0..args.describes + 20)
        .map(|_| {
            let names: Vec<&str> = (0..10).map(|_| pick(rng).name.as_str()).collect();
            json!({"cluster": CLUSTER, "services": names})
        })
        .collect();
    warm_up(c, ECS, "DescribeServices", &bodies[..20]).await?;
    let (describe, _) = timed(c, ECS, "DescribeServices", &bodies[20..], |out| {
        match out["failures"].as_array() {
            Some(f) if !f.is_empty() => bail!("DescribeServices failures: {f:?}"),
            _ => Ok(()),
        }
    })
    .await?;

    // RegisterInstance: new instances into existing Cloud Map services.
    let bodies: Vec<Value> = (0..args.registers)
        .map(|i| {
            register_body(
                &pick(rng).srv_id,
                &format!("{tag}-inst-{i:06}"),
                200_000 + i,
            )
        })
        .collect();
    let (register, _) = timed(c, CLOUD_MAP, "RegisterInstance", &bodies, |_| Ok(())).await?;

    // DiscoverInstances.
    let bodies: Vec<Value> = (0..args.discovers + 20)
        .map(|_| json!({"NamespaceName": NAMESPACE, "ServiceName": pick(rng).name}))
        .collect();
    warm_up(c, CLOUD_MAP, "DiscoverInstances", &bodies[..20]).await?;
    let (discover, _) = timed(c, CLOUD_MAP, "DiscoverInstances", &bodies[20..], |out| {
        if out["Instances"].is_array() {
            Ok(())
        } else {
            bail!("DiscoverInstances without Instances: {out}")
        }
    })
    .await?;
    Ok(Phase {
        describe,
        create,
        register,
        discover,
    })
}

/// How fast the store was loaded.
struct LoadRates {
    services_per_sec: f64,
    instances_per_sec: f64,
}

/// The loaded CreateService rate the scheduler must not hold back.
const TARGET_LOAD_CREATES: f64 = 500.0;

/// Loads `args.services` services and `args.instances` instances over several
/// connections; returns the services and the rates.
async fn load(args: &Args) -> anyhow::Result<(Vec<Svc>, LoadRates)> {
    let conns = args.load_connections;
    let t = Instant::now();
    let mut set = JoinSet::new();
    for w in 0..conns {
        let host = args.endpoint.clone();
        let n = args.services;
        set.spawn(async move {
            let mut c = Conn::connect(&host).await?;
            let mut out = Vec::new();
            for i in (w..n).step_by(conns) {
                out.push((i, create_service(&mut c, &format!("svc-{i:05}")).await?));
            }
            anyhow::Ok(out)
        });
    }
    let mut services: Vec<(usize, Svc)> = Vec::with_capacity(args.services);
    while let Some(r) = set.join_next().await {
        services.extend(r??);
    }
    services.sort_by_key(|(i, _)| *i);
    let services: Vec<Svc> = services.into_iter().map(|(_, s)| s).collect();
    let took_services = t.elapsed();

    let t = Instant::now();
    let mut set = JoinSet::new();
    for w in 0..conns {
        let host = args.endpoint.clone();
        let n = args.instances;
        let ids: Vec<String> = services.iter().map(|s| s.srv_id.clone()).collect();
        set.spawn(async move {
            let mut c = Conn::connect(&host).await?;
            for k in (w..n).step_by(conns) {
                let body = register_body(&ids[k % ids.len()], &format!("inst-{k:06}"), k);
                c.ok(CLOUD_MAP, "RegisterInstance", &body).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    let took_instances = t.elapsed();
    let rates = LoadRates {
        services_per_sec: args.services as f64 / took_services.as_secs_f64(),
        instances_per_sec: args.instances as f64 / took_instances.as_secs_f64(),
    };
    eprintln!(
        "loaded {} services in {:.1} s ({:.0}/s) and {} instances in {:.1} s ({:.0}/s) over {conns} connections",
        args.services,
        took_services.as_secs_f64(),
        rates.services_per_sec,
        args.instances,
        took_instances.as_secs_f64(),
        rates.instances_per_sec,
    );
    Ok((services, rates))
}

fn row(name: &str, e: &Stats, l: &Stats) -> String {
    format!(
        "| {name} | {} | {} | {} | {} | {:.0} | {} | {} | {} | {} | {:.0} |",
        e.samples,
        ms(e.p50),
        ms(e.p99),
        ms(e.max),
        e.ops_per_sec,
        l.samples,
        ms(l.p50),
        ms(l.p99),
        ms(l.max),
        l.ops_per_sec
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = parse_args();
    let mut rng = Rng::new(0x00be_7700_5eed);
    let mut c = Conn::connect(&args.endpoint).await?;
    let started = Instant::now();
    setup(&mut c).await.context("setup")?;

    eprintln!("measuring at an empty store ...");
    let empty = measure(&mut c, "empty", &[], &args, &mut rng).await?;
    eprintln!(
        "loading {} services and {} instances ...",
        args.services, args.instances
    );
    let (pool, rates) = load(&args).await?;
    eprintln!("measuring at the loaded store ...");
    let loaded = measure(&mut c, "loaded", &pool, &args, &mut rng).await?;

    let total_services = 2 * args.creates + args.services;
    let total_instances = 2 * args.registers + args.instances;
    println!("## berth control plane: latency as the store grows\n");
    println!(
        "Empty = a cluster, a task definition and only what the measurement itself creates ({} services, {} instances); \
         loaded = after adding {} Service Connect services (each with its Cloud Map service) and {} instances \
         (at the end: {total_services} services, {total_instances} instances). \
         One keep-alive HTTP/1.1 connection, calls back to back; DescribeServices asks for 10 services a call.\n",
        args.creates, args.registers, args.services, args.instances
    );
    println!("| operation | empty: n | p50 ms | p99 ms | max ms | ops/s | loaded: n | p50 ms | p99 ms | max ms | ops/s |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let ops = [
        ("DescribeServices (10)", &empty.describe, &loaded.describe),
        (
            "CreateService (Service Connect)",
            &empty.create,
            &loaded.create,
        ),
        ("RegisterInstance", &empty.register, &loaded.register),
        ("DiscoverInstances", &empty.discover, &loaded.discover),
    ];
    for (name, e, l) in ops {
        println!("{}", row(name, e, l));
    }
    let missed: Vec<&str> = ops
        .iter()
        .filter(|(_, e, l)| e.p99 >= TARGET_P99 || l.p99 >= TARGET_P99)
        .map(|(n, _, _)| *n)
        .collect();
    println!(
        "\nLoading, over {} connections: CreateService (Service Connect) {:.0}/s, RegisterInstance {:.0}/s \
         (target: CreateService >= {TARGET_LOAD_CREATES:.0}/s: {}).",
        args.load_connections,
        rates.services_per_sec,
        rates.instances_per_sec,
        if rates.services_per_sec >= TARGET_LOAD_CREATES { "met" } else { "MISSED" }
    );
    println!();
    if missed.is_empty() {
        println!(
            "Target p99 < {} ms: met by all four, empty and loaded.",
            TARGET_P99.as_millis()
        );
    } else {
        println!(
            "Target p99 < {} ms: MISSED by {}.",
            TARGET_P99.as_millis(),
            missed.join(", ")
        );
    }
    println!("\n(total run {:.0} s)", started.elapsed().as_secs_f64());
    Ok(())
}
