//! A small, fast hasher for the request path's maps, keyed by socket addresses the proxy's
//! own configuration chose (endpoints, pooled connections): no attacker picks these keys,
//! so SipHash's protection against flooding buys nothing there and costs a few hundred
//! instructions per request. FxHash's mixing (a rotate, a xor, a multiply per word).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` with [`FastHasher`].
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// FxHash-style hasher.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FastHasher(u64);

impl FastHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(SEED);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    #[test]
    fn distinct_addresses_stay_distinct() {
        let mut m: FastMap<(u64, SocketAddr), u32> = FastMap::default();
        for port in 1..=200u16 {
            let a: SocketAddr = format!("10.0.0.{}:{port}", port % 7).parse().unwrap();
            m.insert((u64::from(port % 3), a), u32::from(port));
        }
        assert_eq!(m.len(), 200);
        let a: SocketAddr = "10.0.0.3:10".parse().unwrap();
        assert_eq!(m[&(1, a)], 10);
        let v6: SocketAddr = "[fd00::1]:80".parse().unwrap();
        m.insert((0, v6), 7);
        assert_eq!(m[&(0, v6)], 7);
    }
}
