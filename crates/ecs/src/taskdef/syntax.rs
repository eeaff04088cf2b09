//! The syntax of what a task definition names and sizes: names, task CPU and memory,
//! Fargate's sizes, ECR images and port ranges.

/// Letters, digits, hyphens and underscores, 1 to 255 of them (families, container and
/// volume names).
pub(super) fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A port mapping name: up to 64 lowercase letters, digits, underscores and hyphens, not
/// starting with a hyphen.
pub(super) fn valid_port_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && !s.starts_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// A decimal number followed (after optional spaces) by `unit`, case-insensitive.
fn number_with_unit(s: &str, unit: &str) -> Option<f64> {
    let lower = s.trim().to_ascii_lowercase();
    let num = lower.strip_suffix(unit)?.trim_end();
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    num.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0)
}

/// Whole multiples of 1/1024 only: "0.25 vCPU" is 256 units, "0.3 vCPU" is not a unit count.
fn scaled(v: f64) -> Option<u64> {
    let x = v * 1024.0;
    ((x - x.round()).abs() < 1e-6).then_some(x.round() as u64)
}

/// Task `cpu`: CPU units ("1024") or vCPUs ("1 vCPU", "0.5 vcpu").
pub(crate) fn parse_task_cpu(s: &str) -> Option<u64> {
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse().ok();
    }
    scaled(number_with_unit(t, "vcpu")?)
}

/// Task `memory`: MiB ("2048") or GB ("2 GB", "0.5GB"; 1 GB = 1024 MiB).
pub(crate) fn parse_task_memory(s: &str) -> Option<u64> {
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse().ok();
    }
    scaled(number_with_unit(t, "gb")?)
}

/// Whether Fargate offers `cpu` units with `memory` MiB.
pub(super) fn fargate_size_ok(cpu: u64, memory: u64) -> bool {
    let (min, max, step) = match cpu {
        256 => return [512, 1024, 2048].contains(&memory),
        512 => (1024, 4096, 1024),
        1024 => (2048, 8192, 1024),
        2048 => (4096, 16384, 1024),
        4096 => (8192, 30720, 1024),
        8192 => (16384, 61440, 4096),
        16384 => (32768, 122_880, 8192),
        _ => return false,
    };
    (min..=max).contains(&memory) && (memory - min) % step == 0
}

/// A private ECR image: `<account>.dkr.ecr.<region>.amazonaws.com/...`.
pub(super) fn is_ecr_image(image: &str) -> bool {
    let host = image.split('/').next().unwrap_or_default();
    image.contains('/') && host.contains(".dkr.ecr.") && host.contains(".amazonaws.com")
}

/// `containerPortRange` "first-last", 1 to 65535, first < last.
pub(super) fn parse_port_range(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once('-')?;
    let a: u32 = a.trim().parse().ok()?;
    let b: u32 = b.trim().parse().ok()?;
    (a >= 1 && b <= 65535 && a < b).then_some((a, b))
}
