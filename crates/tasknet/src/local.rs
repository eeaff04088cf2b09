//! Addresses that only a task's own processes reach: on its namespace's `lo`.

use std::io;
use std::net::Ipv4Addr;
use std::path::Path;

use crate::error::{Error, Result};
use crate::netlink::Netlink;

/// Adds `addr/32` to `lo` in the network namespace at `netns_path` (bringing `lo` up if
/// it is not), so a listener bound there to `addr` answers the namespace's processes,
/// which reach it over `lo`, and nothing outside it: the host and other tasks route
/// the address elsewhere (the task metadata endpoint, `169.254.170.2`). An address
/// already there is a success. Must be called inside a tokio runtime.
pub async fn ensure_loopback_address(netns_path: &Path, addr: Ipv4Addr) -> Result<()> {
    let inside = Netlink::in_netns(netns_path)?;
    let lo = inside.link("lo").await?.ok_or_else(|| {
        Error::io(
            "find",
            format!("lo in {}", netns_path.display()),
            io::ErrorKind::NotFound.into(),
        )
    })?;
    if !lo.up {
        inside.set_up(&lo, None).await?;
    }
    inside.ensure_addr(&lo, addr, 32).await
}
