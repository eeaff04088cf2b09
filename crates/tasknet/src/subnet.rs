//! An IPv4 subnet in CIDR notation (`10.213.0.0/16`).

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;

/// An IPv4 subnet: a network address (host bits zero) and a prefix length.
///
/// A berth subnet holds the gateway (the first host address, on the bridge) and the
/// task addresses (every other host address), so its prefix is at most 30.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv4Subnet {
    network: Ipv4Addr,
    prefix: u8,
}

impl Ipv4Subnet {
    /// The subnet `network/prefix`. Refuses host bits set in `network` and prefixes
    /// above 32.
    pub fn new(network: Ipv4Addr, prefix: u8) -> Result<Self, Error> {
        let text = || format!("{network}/{prefix}");
        if prefix > 32 {
            return Err(Error::invalid("subnet", text(), "prefix length above 32"));
        }
        let subnet = Ipv4Subnet { network, prefix };
        if u32::from(network) & !subnet.mask() != 0 {
            return Err(Error::invalid(
                "subnet",
                text(),
                format!(
                    "host bits set; the network is {}",
                    Ipv4Addr::from(u32::from(network) & subnet.mask())
                ),
            ));
        }
        Ok(subnet)
    }

    /// The subnet of which `addr/prefix` is an address (host bits cleared).
    pub fn containing(addr: Ipv4Addr, prefix: u8) -> Result<Self, Error> {
        let prefix = prefix.min(32);
        let mask = mask(prefix);
        Self::new(Ipv4Addr::from(u32::from(addr) & mask), prefix)
    }

    /// The network address.
    pub fn network(&self) -> Ipv4Addr {
        self.network
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// The broadcast address (the last address of the subnet).
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !self.mask())
    }

    /// The gateway berth puts on the bridge: the first host address.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network).wrapping_add(1))
    }

    /// Whether `addr` lies in the subnet.
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        u32::from(addr) & self.mask() == u32::from(self.network)
    }

    /// Whether the two subnets share any address.
    pub fn overlaps(&self, other: &Ipv4Subnet) -> bool {
        let shorter = self.prefix.min(other.prefix);
        let m = mask(shorter);
        u32::from(self.network) & m == u32::from(other.network) & m
    }

    /// The addresses berth may give to tasks: every host address but the gateway.
    pub fn task_addresses(&self) -> impl Iterator<Item = Ipv4Addr> {
        let first = u32::from(self.network).saturating_add(2);
        let last = u32::from(self.broadcast()).saturating_sub(1);
        (first..=last).map(Ipv4Addr::from)
    }

    /// Number of addresses [`task_addresses`](Self::task_addresses) yields.
    pub fn task_capacity(&self) -> u32 {
        let size = 1u64 << (32 - u32::from(self.prefix));
        // network, gateway and broadcast are not for tasks
        size.saturating_sub(3) as u32
    }

    fn mask(&self) -> u32 {
        mask(self.prefix)
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

impl fmt::Display for Ipv4Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl fmt::Debug for Ipv4Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Ipv4Subnet {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = |reason: &str| Error::invalid("subnet", s, reason);
        let (addr, prefix) = s
            .split_once('/')
            .ok_or_else(|| bad("expected ADDRESS/PREFIX"))?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad("not an IPv4 address"))?;
        let prefix: u8 = prefix.parse().map_err(|_| bad("not a prefix length"))?;
        Ipv4Subnet::new(addr, prefix)
    }
}

impl Serialize for Ipv4Subnet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Ipv4Subnet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_computes() {
        let s: Ipv4Subnet = "10.213.0.0/16".parse().unwrap();
        assert_eq!(s.to_string(), "10.213.0.0/16");
        assert_eq!(s.gateway(), Ipv4Addr::new(10, 213, 0, 1));
        assert_eq!(s.broadcast(), Ipv4Addr::new(10, 213, 255, 255));
        assert!(s.contains(Ipv4Addr::new(10, 213, 7, 9)));
        assert!(!s.contains(Ipv4Addr::new(10, 214, 0, 1)));
        assert_eq!(s.task_capacity(), 65533);
        let mut it = s.task_addresses();
        assert_eq!(it.next(), Some(Ipv4Addr::new(10, 213, 0, 2)));
        assert_eq!(it.last(), Some(Ipv4Addr::new(10, 213, 255, 254)));
    }

    #[test]
    fn refuses_bad_subnets() {
        assert!("10.213.0.1/16".parse::<Ipv4Subnet>().is_err());
        assert!("10.213.0.0/33".parse::<Ipv4Subnet>().is_err());
        assert!("10.213.0.0".parse::<Ipv4Subnet>().is_err());
        assert!("nope/8".parse::<Ipv4Subnet>().is_err());
    }

    #[test]
    fn overlaps() {
        let a: Ipv4Subnet = "10.213.0.0/16".parse().unwrap();
        let b: Ipv4Subnet = "10.213.4.0/24".parse().unwrap();
        let c: Ipv4Subnet = "10.214.0.0/24".parse().unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c) && !c.overlaps(&a));
        let tiny: Ipv4Subnet = "10.1.2.0/30".parse().unwrap();
        assert_eq!(
            tiny.task_addresses().collect::<Vec<_>>(),
            vec![Ipv4Addr::new(10, 1, 2, 2)]
        );
        assert_eq!(tiny.task_capacity(), 1);
        assert_eq!(
            Ipv4Subnet::containing(Ipv4Addr::new(10, 1, 2, 3), 24)
                .unwrap()
                .to_string(),
            "10.1.2.0/24"
        );
    }

    #[test]
    fn serde_as_string() {
        let s: Ipv4Subnet = serde_json::from_str("\"10.213.3.0/24\"").unwrap();
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"10.213.3.0/24\"");
    }
}
