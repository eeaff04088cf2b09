//! Task placement, decided purely: each unplaced task goes to the connected ACTIVE
//! instance with room for it that runs the fewest tasks (spread), within the
//! instance's registered CPU and MEMORY, which FARGATE tasks do not use up.

use crate::records::{LaunchType, Task};

/// A container instance as placement sees it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Capacity {
    /// Registered CPU units (0: not limited).
    pub cpu: i64,
    /// Registered MiB (0: not limited).
    pub memory: i64,
    /// Tasks on it that are not STOPPED.
    pub tasks: usize,
    /// CPU units those tasks use up.
    pub cpu_used: i64,
    /// MiB those tasks use up.
    pub memory_used: i64,
}

impl Capacity {
    fn fits(&self, (cpu, memory): (i64, i64)) -> bool {
        (self.cpu == 0 || self.cpu_used + cpu <= self.cpu)
            && (self.memory == 0 || self.memory_used + memory <= self.memory)
    }

    fn take(&mut self, (cpu, memory): (i64, i64)) {
        self.tasks += 1;
        self.cpu_used += cpu;
        self.memory_used += memory;
    }
}

/// A task's CPU units and MiB (the task-level values) that count against its
/// instance. FARGATE tasks count nothing: on AWS their capacity is not any container
/// instance's, and on berth they share the host as they come.
pub fn demand(t: &Task) -> (i64, i64) {
    if t.launch_type == Some(LaunchType::Fargate) {
        return (0, 0);
    }
    let num = |v: &Option<String>| v.as_deref().and_then(|s| s.parse::<i64>().ok());
    (num(&t.cpu).unwrap_or(0), num(&t.memory).unwrap_or(0))
}

/// Where each task of `demands` goes (an index into `instances`), in order; None when
/// no instance has room. `instances` are charged with what is placed.
pub fn place(demands: &[(i64, i64)], instances: &mut [Capacity]) -> Vec<Option<usize>> {
    demands
        .iter()
        .map(|&d| {
            let best = (0..instances.len())
                .filter(|&k| instances[k].fits(d))
                .min_by_key(|&k| instances[k].tasks)?;
            instances[best].take(d);
            Some(best)
        })
        .collect()
}
