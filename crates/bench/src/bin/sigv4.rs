//! What checking signatures costs: the same load against two berth servers, one that
//! verifies every request's SigV4 signature (`--checked`) and one started with
//! `--unchecked-signatures` (`--unchecked`), in interleaved rounds (the order flips
//! each round), reporting the median of the rounds. Every request is signed by the
//! client either way, so only the server's work differs.
//!
//! The load: `--connections` keep-alive connections, each calling DescribeClusters
//! (one cluster) back to back for `--seconds`.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use berth_bench::{ms, Conn, Stats, ECS};
use serde_json::json;

struct Args {
    checked: String,
    unchecked: String,
    rounds: usize,
    seconds: f64,
    connections: usize,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args {
        checked: String::new(),
        unchecked: String::new(),
        rounds: 5,
        seconds: 3.0,
        connections: 4,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        let host = || {
            value
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_string()
        };
        match flag.as_str() {
            "--checked" => a.checked = host(),
            "--unchecked" => a.unchecked = host(),
            "--rounds" => a.rounds = value.parse()?,
            "--seconds" => a.seconds = value.parse()?,
            "--connections" => a.connections = value.parse()?,
            _ => anyhow::bail!("unknown flag {flag}"),
        }
    }
    anyhow::ensure!(
        !a.checked.is_empty() && !a.unchecked.is_empty(),
        "--checked URL and --unchecked URL are required"
    );
    Ok(a)
}

/// One round against one server: every connection's latencies, over the wall time.
async fn round(host: &str, seconds: f64, connections: usize) -> anyhow::Result<Stats> {
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let host = host.to_string();
        tasks.push(tokio::spawn(async move {
            let mut c = Conn::connect(&host).await?;
            let body = serde_json::to_vec(&json!({"clusters": ["bench"]}))?;
            let target = format!("{ECS}.DescribeClusters");
            let mut lat = Vec::new();
            while Instant::now() < until {
                let t = Instant::now();
                let r = c.call(&target, &body).await?;
                anyhow::ensure!(r.status == 200, "{}", String::from_utf8_lossy(&r.body));
                lat.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    Ok(Stats::of(all, started.elapsed()))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let a = parse_args()?;
    for host in [&a.checked, &a.unchecked] {
        let mut c = Conn::connect(host).await?;
        c.ok(ECS, "CreateCluster", &json!({"clusterName": "bench"}))
            .await?;
        round(host, 0.5, a.connections).await.context("warm-up")?;
    }
    let mut rows: [Vec<Stats>; 2] = [Vec::new(), Vec::new()];
    for r in 0..a.rounds {
        let order = if r % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let host = if i == 0 { &a.checked } else { &a.unchecked };
            let s = round(host, a.seconds, a.connections).await?;
            eprintln!(
                "round {r}: {} {:.0} req/s",
                ["checked", "unchecked"][i],
                s.ops_per_sec
            );
            rows[i].push(s);
        }
    }
    let summary = |v: &Vec<Stats>| {
        (
            median(v.iter().map(|s| s.ops_per_sec).collect()),
            median(v.iter().map(|s| s.p50.as_secs_f64()).collect()),
            median(v.iter().map(|s| s.p99.as_secs_f64()).collect()),
        )
    };
    let (c, u) = (summary(&rows[0]), summary(&rows[1]));
    println!("## What checking SigV4 signatures costs\n");
    println!(
        "DescribeClusters, {} keep-alive connections, {} rounds of {} s per server, interleaved; medians of the rounds.\n",
        a.connections, a.rounds, a.seconds
    );
    println!("| server | req/s | p50 ms | p99 ms |");
    println!("|---|---:|---:|---:|");
    let secs = Duration::from_secs_f64;
    println!(
        "| signatures checked | {:.0} | {} | {} |",
        c.0,
        ms(secs(c.1)),
        ms(secs(c.2))
    );
    println!(
        "| unchecked | {:.0} | {} | {} |",
        u.0,
        ms(secs(u.1)),
        ms(secs(u.2))
    );
    println!(
        "\nchecking costs {:.1} % of throughput (target: under 5 %)",
        (1.0 - c.0 / u.0) * 100.0
    );
    Ok(())
}
