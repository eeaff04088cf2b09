//! Where a load balancer's traffic to its targets comes from: the host address the
//! kernel picks toward each target. The runner files them as the load balancer's
//! interfaces (`berth_elbv2::set_load_balancer_sources_in`), so targets' security
//! groups that admit the load balancer's groups admit its traffic.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};

use berth_elbv2::LoadBalancerPlan;

/// The source address of the host's connections to `to`: a UDP socket connected
/// there (which sends nothing) is bound to it by the routing table.
pub fn source_toward(to: Ipv4Addr) -> Option<Ipv4Addr> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    socket.connect((to, 9)).ok()?;
    match socket.local_addr().ok()? {
        SocketAddr::V4(a) if !a.ip().is_unspecified() => Some(*a.ip()),
        _ => None,
    }
}

/// The source addresses toward every target the plan forwards to.
pub fn sources(plan: &LoadBalancerPlan) -> BTreeSet<Ipv4Addr> {
    let targets: BTreeSet<Ipv4Addr> = (plan.target_groups.iter())
        .flat_map(|g| g.targets.iter())
        .filter_map(|t| t.address)
        .collect();
    targets.into_iter().filter_map(source_toward).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loopback_target_is_reached_from_loopback() {
        assert_eq!(
            source_toward(Ipv4Addr::new(127, 0, 0, 1)),
            Some(Ipv4Addr::new(127, 0, 0, 1))
        );
        assert_eq!(
            source_toward(Ipv4Addr::new(127, 9, 9, 9)),
            Some(Ipv4Addr::new(127, 0, 0, 1))
        );
    }
}
