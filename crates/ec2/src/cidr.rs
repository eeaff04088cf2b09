//! CIDR blocks: IPv4 for VPCs, subnets and rules, IPv6 for rules.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// An IPv4 CIDR block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ipv4Cidr {
    /// The address as written (host bits may be set).
    pub addr: Ipv4Addr,
    /// The prefix length, 0 to 32.
    pub len: u8,
}

/// Splits `a/len` and reads the length (digits only, at most `max`).
fn split(text: &str, max: u8) -> Option<(&str, u8)> {
    let (addr, len) = text.split_once('/')?;
    if len.is_empty() || len.len() > 3 || !len.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let len: u8 = len.parse().ok()?;
    (len <= max).then_some((addr, len))
}

impl Ipv4Cidr {
    /// Reads `a.b.c.d/len`.
    pub fn parse(text: &str) -> Option<Ipv4Cidr> {
        let (addr, len) = split(text, 32)?;
        Some(Ipv4Cidr {
            addr: addr.parse().ok()?,
            len,
        })
    }

    fn mask(&self) -> u32 {
        if self.len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.len))
        }
    }

    /// The block with its host bits cleared.
    pub fn network(&self) -> Ipv4Cidr {
        Ipv4Cidr {
            addr: Ipv4Addr::from(u32::from(self.addr) & self.mask()),
            len: self.len,
        }
    }

    /// True when no host bit is set.
    pub fn is_network(&self) -> bool {
        self.network() == *self
    }

    /// How many addresses the block holds.
    pub fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.len))
    }

    /// True when `ip` is in the block.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network().addr)
    }

    /// True when `other` lies wholly inside this block.
    pub fn covers(&self, other: &Ipv4Cidr) -> bool {
        other.len >= self.len && self.contains(other.network().addr)
    }

    /// True when the two blocks share an address.
    pub fn overlaps(&self, other: &Ipv4Cidr) -> bool {
        self.covers(other) || other.covers(self)
    }

    /// The `n`th block of length `len` inside this one (`172.31.0.0/16`, 20, 1 →
    /// `172.31.16.0/20`).
    pub fn subnet(&self, len: u8, n: u32) -> Ipv4Cidr {
        let step = 1u32 << (32 - u32::from(len));
        let base = u32::from(self.network().addr);
        Ipv4Cidr {
            addr: Ipv4Addr::from(base.wrapping_add(step.wrapping_mul(n))),
            len,
        }
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// Reads an IPv6 CIDR block and writes it canonically, host bits cleared.
pub(crate) fn ipv6_network(text: &str) -> Option<String> {
    let (addr, len) = split(text, 128)?;
    let addr: Ipv6Addr = addr.parse().ok()?;
    let mask = if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len))
    };
    Some(format!("{}/{len}", Ipv6Addr::from(u128::from(addr) & mask)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Ipv4Cidr {
        Ipv4Cidr::parse(s).unwrap()
    }

    #[test]
    fn parses_only_cidr_blocks() {
        for bad in [
            "10.0.0.0",
            "10.0.0.0/",
            "10.0.0.0/33",
            "10.0.0/8",
            "10.0.0.0/+8",
            "x/8",
            "10.0.0.256/8",
            "10.0.0.0/0008",
        ] {
            assert_eq!(Ipv4Cidr::parse(bad), None, "{bad}");
        }
        assert_eq!(c("10.1.2.3/8").network().to_string(), "10.0.0.0/8");
        assert!(!c("10.1.2.3/8").is_network());
        assert!(c("0.0.0.0/0").is_network());
        assert_eq!(c("10.0.0.0/16").size(), 65536);
    }

    #[test]
    fn containment_and_overlap() {
        let vpc = c("10.0.0.0/16");
        assert!(vpc.covers(&c("10.0.1.0/24")));
        assert!(!vpc.covers(&c("10.1.0.0/24")));
        assert!(!vpc.covers(&c("10.0.0.0/8")));
        assert!(c("10.0.0.0/24").overlaps(&c("10.0.0.128/25")));
        assert!(c("10.0.0.128/25").overlaps(&c("10.0.0.0/24")));
        assert!(!c("10.0.0.0/25").overlaps(&c("10.0.0.128/25")));
        assert!(vpc.contains("10.0.255.255".parse().unwrap()));
        assert_eq!(
            c("172.31.0.0/16").subnet(20, 2).to_string(),
            "172.31.32.0/20"
        );
    }

    #[test]
    fn ipv6_blocks_are_canonical() {
        assert_eq!(
            ipv6_network("2001:DB8::1/32").as_deref(),
            Some("2001:db8::/32")
        );
        assert_eq!(ipv6_network("::/0").as_deref(), Some("::/0"));
        assert_eq!(ipv6_network("2001:db8::/129"), None);
        assert_eq!(ipv6_network("10.0.0.0/8"), None);
    }
}
