//! Container statistics as ECS serves them (`${ECS_CONTAINER_METADATA_URI_V4}/stats` and
//! `/task/stats`): Docker's stats document (API 1.30 and later), plus ECS's
//! `network_rate_stats`. Built from [`StatsSample`]s, raw numbers a runtime measured:
//! the process runtime's come from `/proc` ([`crate::procstats`]), Docker's from its
//! stats API (fill a [`StatsSample`] from bollard's `Stats` field by field).

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::Serialize;

use crate::time::{rfc3339_nanos, ZERO_TIME};

/// One measurement of a container.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatsSample {
    /// When it was taken.
    pub read: Option<SystemTime>,
    /// CPU time.
    pub cpu: CpuSample,
    /// Memory.
    pub memory: MemorySample,
    /// Interface name → counters (without `lo`).
    pub networks: BTreeMap<String, NetworkSample>,
    /// Processes and threads.
    pub pids: Option<u64>,
}

/// CPU time in nanoseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CpuSample {
    /// Total CPU time of the container.
    pub total_usage: u64,
    /// Of it, in the kernel.
    pub usage_in_kernelmode: u64,
    /// Of it, in user space.
    pub usage_in_usermode: u64,
    /// Per CPU, when known (cgroup v1); empty otherwise.
    pub percpu_usage: Vec<u64>,
    /// CPU time of the whole host since boot, every CPU together (`/proc/stat`).
    pub system_cpu_usage: u64,
    /// CPUs online.
    pub online_cpus: u32,
}

/// Memory in bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemorySample {
    /// Used now.
    pub usage: u64,
    /// The most used so far.
    pub max_usage: u64,
    /// The limit (the container's, else the host's memory).
    pub limit: u64,
    /// The runtime's detailed counters (`rss`, `cache`, ...), as it names them.
    pub stats: BTreeMap<String, u64>,
}

/// One interface's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NetworkSample {
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Received packets dropped.
    pub rx_dropped: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Send errors.
    pub tx_errors: u64,
    /// Packets dropped on sending.
    pub tx_dropped: u64,
}

/// The stats document of one container.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StatsDocument {
    /// When this sample was taken.
    pub read: String,
    /// When the previous one was (Go's zero time without one).
    pub preread: String,
    /// Processes.
    pub pids_stats: PidsStats,
    /// Block I/O (not measured: Docker's empty shape).
    pub blkio_stats: BlkioStats,
    /// Windows only: 0.
    pub num_procs: u32,
    /// Windows only: empty.
    pub storage_stats: BTreeMap<String, u64>,
    /// CPU now.
    pub cpu_stats: CpuStats,
    /// CPU at the previous sample.
    pub precpu_stats: CpuStats,
    /// Memory.
    pub memory_stats: MemoryStats,
    /// `/` and the runtime's name.
    pub name: String,
    /// The runtime's id.
    pub id: String,
    /// Per interface.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, NetworkSample>,
    /// Bytes per second since the previous sample, over every interface.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_rate_stats: Option<NetworkRateStats>,
}

/// `pids_stats`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PidsStats {
    /// Processes and threads now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<u64>,
}

/// `blkio_stats`: every list `null`, as Docker writes what it does not measure.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BlkioStats {
    /// Bytes.
    pub io_service_bytes_recursive: Option<Vec<u64>>,
    /// Operations.
    pub io_serviced_recursive: Option<Vec<u64>>,
    /// Queued.
    pub io_queue_recursive: Option<Vec<u64>>,
    /// Service time.
    pub io_service_time_recursive: Option<Vec<u64>>,
    /// Wait time.
    pub io_wait_time_recursive: Option<Vec<u64>>,
    /// Merged.
    pub io_merged_recursive: Option<Vec<u64>>,
    /// Time.
    pub io_time_recursive: Option<Vec<u64>>,
    /// Sectors.
    pub sectors_recursive: Option<Vec<u64>>,
}

/// `cpu_stats` and `precpu_stats`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CpuStats {
    /// The container's CPU time.
    pub cpu_usage: CpuUsage,
    /// The host's.
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub system_cpu_usage: u64,
    /// CPUs online.
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub online_cpus: u32,
    /// Throttling (not measured: zeros).
    pub throttling_data: ThrottlingData,
}

/// `cpu_usage`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CpuUsage {
    /// Total, ns.
    pub total_usage: u64,
    /// Per CPU, ns.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_usage: Vec<u64>,
    /// In the kernel, ns.
    pub usage_in_kernelmode: u64,
    /// In user space, ns.
    pub usage_in_usermode: u64,
}

/// `throttling_data`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ThrottlingData {
    /// Periods.
    pub periods: u64,
    /// Throttled periods.
    pub throttled_periods: u64,
    /// Throttled time, ns.
    pub throttled_time: u64,
}

/// `memory_stats`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MemoryStats {
    /// Used, bytes.
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub usage: u64,
    /// Most used, bytes.
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub max_usage: u64,
    /// Detailed counters.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub stats: BTreeMap<String, u64>,
    /// Limit, bytes.
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub limit: u64,
}

/// ECS's `network_rate_stats`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct NetworkRateStats {
    /// Received bytes per second.
    pub rx_bytes_per_sec: f64,
    /// Sent bytes per second.
    pub tx_bytes_per_sec: f64,
}

/// The stats document of the container with runtime `id` and `docker_name` from its
/// latest sample and, when there is one, the one before (for `precpu_stats`,
/// `preread` and the network rates).
pub fn stats_document(
    id: &str,
    docker_name: &str,
    now: &StatsSample,
    previous: Option<&StatsSample>,
) -> StatsDocument {
    let read = |s: &StatsSample| s.read.map(rfc3339_nanos);
    StatsDocument {
        read: read(now).unwrap_or_else(|| ZERO_TIME.to_string()),
        preread: previous
            .and_then(read)
            .unwrap_or_else(|| ZERO_TIME.to_string()),
        pids_stats: PidsStats { current: now.pids },
        blkio_stats: BlkioStats::default(),
        num_procs: 0,
        storage_stats: BTreeMap::new(),
        cpu_stats: cpu_stats(&now.cpu),
        precpu_stats: previous.map(|p| cpu_stats(&p.cpu)).unwrap_or_default(),
        memory_stats: MemoryStats {
            usage: now.memory.usage,
            max_usage: now.memory.max_usage,
            stats: now.memory.stats.clone(),
            limit: now.memory.limit,
        },
        name: format!("/{}", docker_name.trim_start_matches('/')),
        id: id.to_string(),
        networks: now.networks.clone(),
        network_rate_stats: previous.and_then(|p| network_rate(now, p)),
    }
}

fn cpu_stats(c: &CpuSample) -> CpuStats {
    CpuStats {
        cpu_usage: CpuUsage {
            total_usage: c.total_usage,
            percpu_usage: c.percpu_usage.clone(),
            usage_in_kernelmode: c.usage_in_kernelmode,
            usage_in_usermode: c.usage_in_usermode,
        },
        system_cpu_usage: c.system_cpu_usage,
        online_cpus: c.online_cpus,
        throttling_data: ThrottlingData::default(),
    }
}

/// Bytes per second over every interface between two samples; `None` without both
/// times or when no time passed. Counters that went back (an interface made anew)
/// count as zero.
pub fn network_rate(now: &StatsSample, before: &StatsSample) -> Option<NetworkRateStats> {
    let secs = now.read?.duration_since(before.read?).ok()?.as_secs_f64();
    if secs <= 0.0 || now.networks.is_empty() {
        return None;
    }
    let sum =
        |s: &StatsSample, f: fn(&NetworkSample) -> u64| s.networks.values().map(f).sum::<u64>();
    let rate =
        |f: fn(&NetworkSample) -> u64| sum(now, f).saturating_sub(sum(before, f)) as f64 / secs;
    Some(NetworkRateStats {
        rx_bytes_per_sec: rate(|n| n.rx_bytes),
        tx_bytes_per_sec: rate(|n| n.tx_bytes),
    })
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testdata::at;

    fn sample(secs: u64, total: u64, rx: u64, tx: u64) -> StatsSample {
        StatsSample {
            read: Some(at(secs, 410_254_284)),
            cpu: CpuSample {
                total_usage: total,
                usage_in_kernelmode: total / 4,
                usage_in_usermode: total - total / 4,
                percpu_usage: vec![],
                system_cpu_usage: 1_000_000 * secs,
                online_cpus: 2,
            },
            memory: MemorySample {
                usage: 3_000_000,
                max_usage: 4_000_000,
                limit: 536_870_912,
                stats: [("rss".to_string(), 2_500_000)].into(),
            },
            networks: [(
                "eth0".to_string(),
                NetworkSample {
                    rx_bytes: rx,
                    rx_packets: 10,
                    tx_bytes: tx,
                    tx_packets: 12,
                    ..NetworkSample::default()
                },
            )]
            .into(),
            pids: Some(3),
        }
    }

    #[test]
    fn first_sample_is_docker_shaped() {
        let now = sample(1_700_000_000, 80_000_000, 1000, 2000);
        let doc = stats_document("abc123", "ecs-shop-7-web-1", &now, None);
        let v = serde_json::to_value(&doc).unwrap();
        let expected = json!({
            "read": "2023-11-14T22:13:20.410254284Z",
            "preread": "0001-01-01T00:00:00Z",
            "pids_stats": {"current": 3},
            "blkio_stats": {
                "io_service_bytes_recursive": null, "io_serviced_recursive": null,
                "io_queue_recursive": null, "io_service_time_recursive": null,
                "io_wait_time_recursive": null, "io_merged_recursive": null,
                "io_time_recursive": null, "sectors_recursive": null
            },
            "num_procs": 0,
            "storage_stats": {},
            "cpu_stats": {
                "cpu_usage": {"total_usage": 80_000_000u64, "usage_in_kernelmode": 20_000_000u64,
                              "usage_in_usermode": 60_000_000u64},
                "system_cpu_usage": 1_700_000_000_000_000u64,
                "online_cpus": 2,
                "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}
            },
            "precpu_stats": {
                "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}
            },
            "memory_stats": {"usage": 3_000_000, "max_usage": 4_000_000,
                             "stats": {"rss": 2_500_000}, "limit": 536_870_912},
            "name": "/ecs-shop-7-web-1",
            "id": "abc123",
            "networks": {"eth0": {"rx_bytes": 1000, "rx_packets": 10, "rx_errors": 0,
                                  "rx_dropped": 0, "tx_bytes": 2000, "tx_packets": 12,
                                  "tx_errors": 0, "tx_dropped": 0}}
        });
        assert_eq!(v, expected);
    }

    #[test]
    fn second_sample_has_precpu_and_rates() {
        let before = sample(1_700_000_000, 80_000_000, 1000, 2000);
        let now = sample(1_700_000_002, 90_000_000, 5000, 2600);
        let v = serde_json::to_value(stats_document("abc", "/n", &now, Some(&before))).unwrap();
        assert_eq!(v["preread"], "2023-11-14T22:13:20.410254284Z");
        assert_eq!(v["precpu_stats"]["cpu_usage"]["total_usage"], 80_000_000);
        assert_eq!(v["name"], "/n");
        assert_eq!(
            v["network_rate_stats"],
            json!({"rx_bytes_per_sec": 2000.0, "tx_bytes_per_sec": 300.0})
        );
    }

    #[test]
    fn network_rates() {
        let s = |secs, rx, tx| sample(secs, 0, rx, tx);
        let cases = [
            // (before, now, expected)
            (s(10, 0, 0), s(12, 100, 50), Some((50.0, 25.0))),
            // no time passed, or time went back
            (s(10, 0, 0), s(10, 100, 50), None),
            (s(12, 0, 0), s(10, 100, 50), None),
            // counters reset: zero, never negative
            (s(10, 500, 500), s(11, 100, 600), Some((0.0, 100.0))),
        ];
        for (before, now, expected) in cases {
            let got = network_rate(&now, &before).map(|r| (r.rx_bytes_per_sec, r.tx_bytes_per_sec));
            assert_eq!(got, expected);
        }
        let mut no_read = s(12, 1, 1);
        no_read.read = None;
        assert_eq!(network_rate(&no_read, &s(10, 0, 0)), None);
    }
}
