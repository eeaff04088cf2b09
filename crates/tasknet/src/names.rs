//! Names of a task's kernel objects, derived from its task id.
//!
//! Task ids are free-form (ECS uses 32 hex digits, tests use anything), and interface
//! names are at most 15 bytes, so the names carry a short hash of the task id instead
//! of the id itself. The hash is FNV-1a 64 written out here, not `std`'s hasher, because
//! it must not change between builds: an agent restarted on a new binary must find the
//! objects the old one made.

use crate::error::{Error, Result};

/// Prefix of every network namespace berth creates: `/run/netns/berth-<12 hex>`.
pub const NETNS_PREFIX: &str = "berth-";

/// Prefix of the host side of every task veth: `bv<12 hex>` (14 bytes, within
/// `IFNAMSIZ`).
pub const VETH_PREFIX: &str = "bv";

/// Longest task id accepted.
const MAX_TASK_ID: usize = 255;

/// The 12 hex digits that name a task's objects.
pub(crate) fn short_id(task_id: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in task_id.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")[..12].to_string()
}

/// Name of the task's network namespace: `berth-` and 12 hex digits of a hash of the task
/// id; the namespace is `/run/netns/<name>`, so `ip netns exec <name> …` works.
pub fn netns_name(task_id: &str) -> String {
    format!("{NETNS_PREFIX}{}", short_id(task_id))
}

/// Name of the host side of the task's veth pair: `bv` and the same 12 hex digits.
pub fn veth_name(task_id: &str) -> String {
    format!("{VETH_PREFIX}{}", short_id(task_id))
}

/// Whether `name` has the shape of a berth namespace name.
pub(crate) fn is_netns_name(name: &str) -> bool {
    name.strip_prefix(NETNS_PREFIX)
        .is_some_and(|h| h.len() == 12 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Task ids end up in file names' hashes, the state file and a comment of the hosts
/// file: printable ASCII without whitespace, 1 to 255 bytes.
pub(crate) fn validate_task_id(task_id: &str) -> Result<()> {
    if task_id.is_empty() || task_id.len() > MAX_TASK_ID {
        return Err(Error::invalid("task id", task_id, "must be 1 to 255 bytes"));
    }
    if !task_id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::invalid(
            "task id",
            task_id,
            "must be printable ASCII without spaces",
        ));
    }
    Ok(())
}

/// An interface name: 1 to 15 bytes of `[A-Za-z0-9_.-]`, not `.` or `..`.
pub(crate) fn validate_ifname(what: &'static str, name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 15 {
        return Err(Error::invalid(what, name, "must be 1 to 15 bytes"));
    }
    if name == "." || name == ".." {
        return Err(Error::invalid(what, name, "is reserved"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    {
        return Err(Error::invalid(
            what,
            name,
            "may hold only letters, digits, '_', '.' and '-'",
        ));
    }
    Ok(())
}

/// A DNS name for the hosts file (a client alias or the task's hostname): 1 to 253
/// bytes, dot-separated labels of 1 to 63 bytes of `[A-Za-z0-9_-]`.
pub(crate) fn validate_dns_name(what: &'static str, name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 253 {
        return Err(Error::invalid(what, name, "must be 1 to 253 bytes"));
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(Error::invalid(what, name, "labels must be 1 to 63 bytes"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(Error::invalid(
                what,
                name,
                "may hold only letters, digits, '-', '_' and dots",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_and_short() {
        // Pinned: changing the hash would orphan every namespace of a running agent.
        assert_eq!(short_id("a"), "af63dc4c8601");
        assert_eq!(netns_name("a"), "berth-af63dc4c8601");
        assert_eq!(veth_name("a"), "bvaf63dc4c8601");
        let long = "f".repeat(255);
        assert!(veth_name(&long).len() <= 15);
        assert!(is_netns_name(&netns_name(&long)));
        assert!(!is_netns_name("berth-xyz"));
        assert_ne!(short_id("task-1"), short_id("task-2"));
    }

    #[test]
    fn validation() {
        assert!(validate_task_id("0123456789abcdef0123456789abcdef").is_ok());
        assert!(validate_task_id("arn:aws:ecs:us-east-1:1:task/c/abc").is_ok());
        assert!(validate_task_id("").is_err());
        assert!(validate_task_id("a b").is_err());
        assert!(validate_task_id("a\nb").is_err());
        assert!(validate_ifname("bridge", "berth0").is_ok());
        assert!(validate_ifname("bridge", "a-very-long-name0").is_err());
        assert!(validate_ifname("bridge", "a/b").is_err());
        assert!(validate_dns_name("alias", "orders").is_ok());
        assert!(validate_dns_name("alias", "orders.svc_1.internal").is_ok());
        assert!(validate_dns_name("alias", "orders..x").is_err());
        assert!(validate_dns_name("alias", "orders x").is_err());
        assert!(validate_dns_name("alias", "#orders").is_err());
    }
}
