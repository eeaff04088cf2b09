//! Stats of a process runtime container, read from `/proc`: the CPU time
//! (`utime + stime`) and resident memory (`VmRSS`, peak `VmHWM`) of its processes, the
//! host's CPU time (`/proc/stat`), and the interface counters of the task's network
//! namespace (`/proc/net/dev` as the namespace sees it). The parsers are pure; the
//! reading is [`sample_processes`].

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;
use std::time::SystemTime;

use nix::unistd::{sysconf, SysconfVar};

use crate::netns::run_in_netns;
use crate::stats::{CpuSample, MemorySample, NetworkSample, StatsSample};

/// What one process contributes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcessTimes {
    /// Its process group.
    pub pgrp: i32,
    /// User time, clock ticks.
    pub utime: u64,
    /// System time, clock ticks.
    pub stime: u64,
}

/// Resident memory of one process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcessMemory {
    /// `VmRSS`, bytes.
    pub rss: u64,
    /// `VmHWM`, bytes.
    pub hwm: u64,
    /// `Threads`.
    pub threads: u64,
}

/// The host's CPU time and CPUs, from `/proc/stat`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostCpu {
    /// user + nice + system + idle + iowait + irq + softirq + steal, clock ticks (what
    /// Docker counts as `system_cpu_usage`).
    pub total_ticks: u64,
    /// `cpuN` lines.
    pub online: u32,
}

/// Parses `/proc/<pid>/stat`. The command name may hold spaces and parentheses, so
/// the fields are counted from its last `)`.
pub fn parse_stat(text: &str) -> Option<ProcessTimes> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(3) ppid(4) pgrp(5) ... utime(14) stime(15).
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<i64>().ok());
    Some(ProcessTimes {
        pgrp: i32::try_from(field(5)?).ok()?,
        utime: u64::try_from(field(14)?).ok()?,
        stime: u64::try_from(field(15)?).ok()?,
    })
}

/// Parses `/proc/<pid>/status` for `VmRSS`, `VmHWM` (kB) and `Threads`; a kernel
/// thread has no `Vm*` lines (zeros).
pub fn parse_status(text: &str) -> ProcessMemory {
    let mut m = ProcessMemory::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let n = || {
            (value.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        match key {
            "VmRSS" => m.rss = n() * 1024,
            "VmHWM" => m.hwm = n() * 1024,
            "Threads" => m.threads = n(),
            _ => {}
        }
    }
    m
}

/// Parses `/proc/stat`.
pub fn parse_proc_stat(text: &str) -> HostCpu {
    let mut host = HostCpu::default();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("cpu") => {
                host.total_ticks = words.take(8).filter_map(|w| w.parse::<u64>().ok()).sum();
            }
            Some(w) if w.starts_with("cpu") && w[3..].bytes().all(|b| b.is_ascii_digit()) => {
                host.online += 1;
            }
            _ => {}
        }
    }
    host
}

/// Parses `/proc/net/dev`: every interface but `lo`.
pub fn parse_net_dev(text: &str) -> BTreeMap<String, NetworkSample> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some((name, counters)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        let n: Vec<u64> = counters
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        if name == "lo" || n.len() < 12 {
            continue;
        }
        out.insert(
            name.to_string(),
            NetworkSample {
                rx_bytes: n[0],
                rx_packets: n[1],
                rx_errors: n[2],
                rx_dropped: n[3],
                tx_bytes: n[8],
                tx_packets: n[9],
                tx_errors: n[10],
                tx_dropped: n[11],
            },
        );
    }
    out
}

/// Parses `MemTotal` (kB) of `/proc/meminfo`, in bytes.
pub fn parse_mem_total(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The processes whose process group is `pgid` (the process runtime starts each
/// container in a group of its own, led by its main process).
pub fn process_group_pids(pgid: i32) -> io::Result<Vec<i32>> {
    let mut pids = Vec::new();
    for entry in fs::read_dir("/proc")? {
        let Some(pid) = entry?
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        // A process that exits while we look is simply not counted.
        let Ok(text) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if parse_stat(&text).is_some_and(|t| t.pgrp == pgid) {
            pids.push(pid);
        }
    }
    pids.sort_unstable();
    Ok(pids)
}

/// What to sample: a container's processes.
#[derive(Clone, Debug, Default)]
pub struct ProcTarget<'a> {
    /// Its processes (e.g. [`process_group_pids`] of its group).
    pub pids: &'a [i32],
    /// Its memory limit in bytes; `None`: the host's memory.
    pub memory_limit: Option<u64>,
    /// The task's network namespace (`/run/netns/<name>`), whose interfaces are
    /// counted; `None`: the namespace of the first process.
    pub netns: Option<&'a Path>,
}

/// Samples `target` now (`read` is `now`). Processes that exited meanwhile are not
/// counted; with none left the sample is all zeros but the host's figures.
pub fn sample_processes(target: &ProcTarget<'_>, now: SystemTime) -> io::Result<StatsSample> {
    let tick_ns = 1_000_000_000 / clock_ticks();
    let (mut utime, mut stime) = (0u64, 0u64);
    let mut mem = ProcessMemory::default();
    for pid in target.pids {
        let Some(t) = read_optional(&format!("/proc/{pid}/stat"))?.and_then(|s| parse_stat(&s))
        else {
            continue;
        };
        let m = read_optional(&format!("/proc/{pid}/status"))?
            .map(|s| parse_status(&s))
            .unwrap_or_default();
        utime += t.utime;
        stime += t.stime;
        mem.rss += m.rss;
        mem.hwm += m.hwm;
        mem.threads += m.threads;
    }
    let host = parse_proc_stat(&fs::read_to_string("/proc/stat")?);
    let limit = match target.memory_limit {
        Some(l) => l,
        None => parse_mem_total(&fs::read_to_string("/proc/meminfo")?).unwrap_or(0),
    };
    Ok(StatsSample {
        read: Some(now),
        cpu: CpuSample {
            total_usage: (utime + stime) * tick_ns,
            usage_in_kernelmode: stime * tick_ns,
            usage_in_usermode: utime * tick_ns,
            percpu_usage: Vec::new(),
            system_cpu_usage: host.total_ticks * tick_ns,
            online_cpus: host.online,
        },
        memory: MemorySample {
            usage: mem.rss,
            max_usage: mem.hwm.max(mem.rss),
            limit,
            stats: [("rss".to_string(), mem.rss)].into(),
        },
        networks: read_networks(target)?,
        pids: Some(mem.threads),
    })
}

/// The interfaces of the target's namespace.
fn read_networks(target: &ProcTarget<'_>) -> io::Result<BTreeMap<String, NetworkSample>> {
    let text = match (target.netns, target.pids.first()) {
        (Some(ns), _) => run_in_netns(ns, || fs::read_to_string("/proc/thread-self/net/dev"))?,
        (None, Some(pid)) => match read_optional(&format!("/proc/{pid}/net/dev"))? {
            Some(t) => t,
            None => return Ok(BTreeMap::new()),
        },
        (None, None) => return Ok(BTreeMap::new()),
    };
    Ok(parse_net_dev(&text))
}

/// A file of a process that may be gone: `None` then.
fn read_optional(path: &str) -> io::Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        // ESRCH: the process died while being read.
        Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(3) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Clock ticks per second of `/proc` times (`USER_HZ`, 100 on Linux).
fn clock_ticks() -> u64 {
    match sysconf(SysconfVar::CLK_TCK) {
        Ok(Some(n)) if n > 0 => n as u64,
        _ => 100,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines() {
        let cases = [
            (
                "1234 (nginx) S 1 1234 1234 0 -1 4194560 100 0 0 0 25 7 0 0 20 0 1 0 99 1000 50",
                Some((1234, 25, 7)),
            ),
            // A name with spaces and parentheses.
            (
                "77 (a) b (c) R 5 70 70 0 -1 0 0 0 0 0 300 200 0 0 20 0 1 0 9 9 9",
                Some((70, 300, 200)),
            ),
            ("77 (cut) R 5 70", None),
            ("garbage", None),
        ];
        for (text, expected) in cases {
            let got = parse_stat(text).map(|t| (t.pgrp, t.utime, t.stime));
            assert_eq!(got, expected, "{text}");
        }
    }

    #[test]
    fn status_memory() {
        let text = "Name:\tnginx\nVmPeak:\t  9000 kB\nVmHWM:\t    4096 kB\nVmRSS:\t    2048 kB\nThreads:\t3\n";
        assert_eq!(
            parse_status(text),
            ProcessMemory {
                rss: 2048 * 1024,
                hwm: 4096 * 1024,
                threads: 3
            }
        );
        // A kernel thread: no Vm lines.
        assert_eq!(parse_status("Name:\tkworker\nThreads:\t1\n").rss, 0);
    }

    #[test]
    fn proc_stat_totals() {
        let text = "cpu  10 1 5 100 2 0 3 4 50 0\ncpu0 5 0 2 50 1 0 1 2 25 0\ncpu1 5 1 3 50 1 0 2 2 25 0\nintr 1 2\nctxt 99\ncpuset x\n";
        // guest and guest_nice (already in user) are not counted again.
        assert_eq!(
            parse_proc_stat(text),
            HostCpu {
                total_ticks: 125,
                online: 2
            }
        );
    }

    #[test]
    fn net_dev_without_lo() {
        let text = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:     500       5    0    0    0     0          0         0      500       5    0    0    0     0       0          0\n  eth0:    1296      16    1    2    0     0          0         0      796       8    3    4    0     0       0          0\n";
        let nets = parse_net_dev(text);
        assert_eq!(nets.len(), 1);
        assert_eq!(
            nets["eth0"],
            NetworkSample {
                rx_bytes: 1296,
                rx_packets: 16,
                rx_errors: 1,
                rx_dropped: 2,
                tx_bytes: 796,
                tx_packets: 8,
                tx_errors: 3,
                tx_dropped: 4,
            }
        );
    }

    #[test]
    fn mem_total() {
        assert_eq!(
            parse_mem_total("MemTotal:       16384 kB\nMemFree: 1 kB\n"),
            Some(16384 * 1024)
        );
        assert_eq!(parse_mem_total("MemFree: 1 kB\n"), None);
    }

    /// The test process itself, as a container of one process: real `/proc` reads.
    #[test]
    fn samples_this_process() {
        let me = std::process::id() as i32;
        let pgid = nix::unistd::getpgrp().as_raw();
        assert!(process_group_pids(pgid).unwrap().contains(&me));
        let pids = [me];
        let target = ProcTarget {
            pids: &pids,
            memory_limit: Some(1 << 30),
            netns: None,
        };
        // Burn a little CPU so the figure is not zero.
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let s = sample_processes(&target, SystemTime::now()).unwrap();
        assert!(s.cpu.total_usage > 0, "{s:?}");
        assert_eq!(
            s.cpu.total_usage,
            s.cpu.usage_in_kernelmode + s.cpu.usage_in_usermode
        );
        assert!(s.cpu.system_cpu_usage > s.cpu.total_usage);
        assert!(s.cpu.online_cpus >= 1);
        assert!(s.memory.usage > 0 && s.memory.max_usage >= s.memory.usage);
        assert_eq!(s.memory.limit, 1 << 30);
        assert!(s.pids.unwrap() >= 1);
        assert!(!s.networks.contains_key("lo"));
        // A process that is gone counts for nothing.
        let gone = [i32::MAX];
        let target = ProcTarget {
            pids: &gone,
            ..ProcTarget::default()
        };
        let s = sample_processes(&target, SystemTime::now()).unwrap();
        assert_eq!((s.cpu.total_usage, s.memory.usage), (0, 0));
        assert!(s.memory.limit > 0, "the host's memory");
    }
}
