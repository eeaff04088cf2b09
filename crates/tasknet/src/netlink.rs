//! A thin layer over `rtnetlink`: one connection per operation, bound to the network
//! namespace it was opened in, with the few requests berth needs, each made idempotent
//! (adding what exists, deleting what is gone, are successes).

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::path::Path;

use futures_util::TryStreamExt;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::{Handle, LinkBridge, LinkUnspec, LinkVeth, RouteMessageBuilder};

use crate::error::{Error, Result};
use crate::netns;

/// A link as berth looks at it.
#[derive(Clone, Debug)]
pub(crate) struct Link {
    pub index: u32,
    pub name: String,
    pub kind: Option<String>,
    pub controller: Option<u32>,
    pub up: bool,
}

impl Link {
    fn from_message(msg: &LinkMessage) -> Link {
        let mut link = Link {
            index: msg.header.index,
            name: String::new(),
            kind: None,
            controller: None,
            up: msg.header.flags.contains(LinkFlags::Up),
        };
        for attr in &msg.attributes {
            match attr {
                LinkAttribute::IfName(name) => link.name = name.clone(),
                LinkAttribute::Controller(c) if *c != 0 => link.controller = Some(*c),
                LinkAttribute::LinkInfo(infos) => {
                    for info in infos {
                        if let LinkInfo::Kind(kind) = info {
                            link.kind = Some(kind_name(kind));
                        }
                    }
                }
                _ => {}
            }
        }
        link
    }
}

fn kind_name(kind: &InfoKind) -> String {
    match kind {
        InfoKind::Bridge => "bridge".into(),
        InfoKind::Veth => "veth".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// An IPv4 address on an interface.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Addr {
    pub index: u32,
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

/// The positive errno of a netlink error answer, if it is one.
pub(crate) fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| -c.get()),
        _ => None,
    }
}

fn is_gone(e: &rtnetlink::Error) -> bool {
    matches!(
        errno(e),
        Some(libc_errno::ENODEV | libc_errno::ENOENT | libc_errno::ESRCH)
    )
}

fn is_exists(e: &rtnetlink::Error) -> bool {
    errno(e) == Some(libc_errno::EEXIST)
}

/// The errno values used here (nix re-exports them as an enum; we need the raw ints).
mod libc_errno {
    use nix::errno::Errno;
    pub const ENODEV: i32 = Errno::ENODEV as i32;
    pub const ENOENT: i32 = Errno::ENOENT as i32;
    pub const ESRCH: i32 = Errno::ESRCH as i32;
    pub const EEXIST: i32 = Errno::EEXIST as i32;
}

/// A netlink connection in one network namespace.
pub(crate) struct Netlink {
    handle: Handle,
}

impl Netlink {
    /// A connection in the calling thread's network namespace (the agent's: the host's).
    /// The connection task runs on the current tokio runtime and ends when this value
    /// is dropped.
    pub fn host() -> Result<Netlink> {
        let (conn, handle, _) = rtnetlink::new_connection()
            .map_err(|e| Error::io("open netlink socket", "in host namespace", e))?;
        tokio::spawn(conn);
        Ok(Netlink { handle })
    }

    /// A connection inside the network namespace at `path`: the socket is created on a
    /// short-lived thread that joined the namespace, and a socket stays in the namespace
    /// it was created in, whichever thread uses it later.
    pub fn in_netns(path: &Path) -> Result<Netlink> {
        let rt = tokio::runtime::Handle::current();
        let (conn, handle, _) = netns::run_in(path, move || {
            let _guard = rt.enter();
            rtnetlink::new_connection()
        })?
        .map_err(|e| Error::io("open netlink socket", format!("in {}", path.display()), e))?;
        tokio::spawn(conn);
        Ok(Netlink { handle })
    }

    /// All links.
    pub async fn links(&self) -> Result<Vec<Link>> {
        let mut stream = self.handle.link().get().execute();
        let mut out = Vec::new();
        while let Some(msg) = stream
            .try_next()
            .await
            .map_err(|e| Error::netlink("list", "links", e))?
        {
            out.push(Link::from_message(&msg));
        }
        Ok(out)
    }

    /// The link called `name`, if there is one.
    pub async fn link(&self, name: &str) -> Result<Option<Link>> {
        let mut stream = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match stream.try_next().await {
            Ok(Some(msg)) => Ok(Some(Link::from_message(&msg))),
            Ok(None) => Ok(None),
            Err(e) if is_gone(&e) => Ok(None),
            Err(e) => Err(Error::netlink("get link", name, e)),
        }
    }

    /// Creates the bridge `name`, up. `Ok(false)` if a link of that name already exists.
    pub async fn add_bridge(&self, name: &str) -> Result<bool> {
        match self
            .handle
            .link()
            .add(LinkBridge::new(name).build())
            .execute()
            .await
        {
            Ok(()) => Ok(true),
            Err(e) if is_exists(&e) => Ok(false),
            Err(e) => Err(Error::netlink("add bridge", name, e)),
        }
    }

    /// Creates a veth pair: `host` here and its peer, named `peer`, directly inside the
    /// namespace at `netns_path` (like `ip link add HOST type veth peer name PEER netns
    /// NS`), so no two tasks' `eth0` ever meet in the host namespace.
    pub async fn add_veth_into(&self, host: &str, peer: &str, netns_path: &Path) -> Result<()> {
        let ns = std::fs::File::open(netns_path)
            .map_err(|e| Error::io("open network namespace", netns_path.display(), e))?;
        let peer_msg = LinkUnspec::new_with_name(peer)
            .setns_by_fd(ns.as_raw_fd())
            .build();
        let msg = LinkVeth::new(host, peer)
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg)))
            .build();
        let res = self.handle.link().add(msg).execute().await;
        drop(ns);
        res.map_err(|e| {
            Error::netlink(
                "add veth",
                format!("{host} (peer {peer} in {})", netns_path.display()),
                e,
            )
        })
    }

    /// Deletes the link `name`. `Ok(false)` if there is none.
    pub async fn delete_link(&self, name: &str) -> Result<bool> {
        let Some(link) = self.link(name).await? else {
            return Ok(false);
        };
        match self.handle.link().del(link.index).execute().await {
            Ok(()) => Ok(true),
            Err(e) if is_gone(&e) => Ok(false),
            Err(e) => Err(Error::netlink("delete link", name, e)),
        }
    }

    /// Sets the link up and, with `controller`, attaches it to that bridge.
    pub async fn set_up(&self, link: &Link, controller: Option<u32>) -> Result<()> {
        let mut msg = LinkUnspec::new_with_index(link.index).up();
        if let Some(c) = controller {
            msg = msg.controller(c);
        }
        self.handle
            .link()
            .set(msg.build())
            .execute()
            .await
            .map_err(|e| Error::netlink("set up", &link.name, e))
    }

    /// All IPv4 addresses.
    pub async fn ipv4_addrs(&self) -> Result<Vec<Addr>> {
        let mut stream = self.handle.address().get().execute();
        let mut out = Vec::new();
        while let Some(msg) = stream
            .try_next()
            .await
            .map_err(|e| Error::netlink("list", "addresses", e))?
        {
            if let Some(a) = ipv4_of(&msg) {
                out.push(a);
            }
        }
        Ok(out)
    }

    /// Adds `addr/prefix` to the link; an address already there is a success.
    pub async fn ensure_addr(&self, link: &Link, addr: Ipv4Addr, prefix: u8) -> Result<()> {
        match self
            .handle
            .address()
            .add(link.index, IpAddr::V4(addr), prefix)
            .execute()
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if is_exists(&e) => Ok(()),
            Err(e) => Err(Error::netlink(
                "add address",
                format!("{addr}/{prefix} to {}", link.name),
                e,
            )),
        }
    }

    /// Removes `addr/prefix` from the link; an address not there is a success.
    pub async fn remove_addr(&self, link: &Link, addr: Ipv4Addr, prefix: u8) -> Result<()> {
        let mut stream = self
            .handle
            .address()
            .get()
            .set_link_index_filter(link.index)
            .execute();
        let object = || format!("{addr}/{prefix} from {}", link.name);
        while let Some(msg) = stream
            .try_next()
            .await
            .map_err(|e| Error::netlink("list addresses to remove", object(), e))?
        {
            let ours = ipv4_of(&msg).is_some_and(|a| a.addr == addr && a.prefix == prefix);
            if !ours {
                continue;
            }
            match self.handle.address().del(msg).execute().await {
                Ok(()) => {}
                Err(e) if is_gone(&e) => {}
                Err(e) => return Err(Error::netlink("remove address", object(), e)),
            }
        }
        Ok(())
    }

    /// Adds the default route via `gateway`; one already there is a success.
    pub async fn ensure_default_route(&self, gateway: Ipv4Addr) -> Result<()> {
        let route = RouteMessageBuilder::<Ipv4Addr>::new()
            .gateway(gateway)
            .build();
        match self.handle.route().add(route).execute().await {
            Ok(()) => Ok(()),
            Err(e) if is_exists(&e) => Ok(()),
            Err(e) => Err(Error::netlink(
                "add route",
                format!("default via {gateway}"),
                e,
            )),
        }
    }
}

fn ipv4_of(msg: &AddressMessage) -> Option<Addr> {
    if msg.header.family != AddressFamily::Inet {
        return None;
    }
    // IFA_LOCAL is the interface's own address; IFA_ADDRESS the peer's on
    // point-to-point links, the same otherwise.
    let mut local = None;
    let mut address = None;
    for attr in &msg.attributes {
        match attr {
            AddressAttribute::Local(IpAddr::V4(a)) => local = Some(*a),
            AddressAttribute::Address(IpAddr::V4(a)) => address = Some(*a),
            _ => {}
        }
    }
    Some(Addr {
        index: msg.header.index,
        addr: local.or(address)?,
        prefix: msg.header.prefix_len,
    })
}
