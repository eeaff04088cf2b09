//! One task's network: namespace, veth pair, address, route, hosts file.

use std::ffi::{CString, OsStr, OsString};
use std::fs;
use std::io;
use std::net::Ipv4Addr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use crate::bridge::Bridge;
use crate::error::{Error, Result};
use crate::exec::{enter_before_exec, Enter};
use crate::hosts;
use crate::ipam::Ipam;
use crate::names::{netns_name, validate_dns_name, validate_task_id, veth_name};
use crate::netlink::Netlink;
use crate::netns;
use crate::sandbox::{Sandbox, SandboxConfig};
use crate::subnet::Ipv4Subnet;

/// The task's interface inside its namespace.
pub const TASK_IFNAME: &str = "eth0";

/// Per-task settings.
#[derive(Clone, Debug, Default)]
pub struct TaskNetConfig {
    /// The task's hostname, mapped to its address in its hosts file and set as the
    /// hostname of processes started with [`TaskNetwork::command`]. Default: the EC2
    /// style `ip-10-213-0-2`.
    pub hostname: Option<String>,
}

/// One task's network: a named network namespace `/run/netns/berth-<id>` with `lo` up
/// and `eth0` carrying the task's address and a default route via the bridge's gateway;
/// the other end of `eth0`, `bv<id>`, attached to the bridge; and the task's `hosts`
/// and `hostname` files in `/etc/netns/berth-<id>/`.
///
/// Dropping the value removes nothing: call [`destroy`](Self::destroy). Everything is
/// found again by task id, so after a restart [`create`](Self::create) adopts it.
#[derive(Debug)]
pub struct TaskNetwork {
    task_id: String,
    ip: Ipv4Addr,
    subnet: Ipv4Subnet,
    hostname: String,
    netns_name: String,
    netns_path: PathBuf,
    veth: String,
    etc_dir: PathBuf,
    ipam: Ipam,
    bridge: String,
    /// Serializes rewrites of the hosts file by this process.
    hosts_lock: Mutex<()>,
}

impl TaskNetwork {
    /// Creates the network of `task_id` on `bridge`, or adopts and repairs the one that
    /// exists (after an agent restart): the address is the one the task already has in
    /// the bridge's IPAM, or the next free one; an existing namespace is kept (processes
    /// may run in it) and so are the aliases of an existing hosts file.
    ///
    /// If a new namespace cannot be set up completely, what was made is removed again.
    pub async fn create(
        bridge: &Bridge,
        task_id: &str,
        config: &TaskNetConfig,
    ) -> Result<TaskNetwork> {
        validate_task_id(task_id)?;
        if let Some(h) = &config.hostname {
            validate_dns_name("hostname", h)?;
            if h.len() > 64 {
                return Err(Error::invalid(
                    "hostname",
                    h.as_str(),
                    "longer than 64 bytes",
                ));
            }
        }
        let ipam = bridge.ipam()?;
        // Record first: a crash from here on leaves a record naming what to clean.
        let ip = ipam.allocate(task_id)?;
        let name = netns_name(task_id);
        let hostname = config
            .hostname
            .clone()
            .unwrap_or_else(|| default_hostname(ip));
        let tn = TaskNetwork {
            task_id: task_id.to_string(),
            ip,
            subnet: bridge.subnet(),
            hostname,
            netns_path: netns::netns_path(&name),
            etc_dir: netns::etc_dir(&name),
            netns_name: name,
            veth: veth_name(task_id),
            ipam,
            bridge: bridge.name().to_string(),
            hosts_lock: Mutex::new(()),
        };
        match tn.set_up(bridge).await {
            Ok(()) => Ok(tn),
            // An adopted namespace may have processes in it: leave it as it is.
            Err((err, false)) => Err(err),
            Err((err, true)) => {
                if let Err(cleanup) = tn.destroy().await {
                    tracing::warn!(task_id, error = %cleanup, "cleaning up a task network that failed to set up");
                }
                Err(err)
            }
        }
    }

    /// Like [`create`](Self::create), but the task's namespace is the existing one at
    /// `source`, a namespace file such as `/proc/<pid>/ns/net` of the process that
    /// holds it (the Docker runtime's holder container): it is bind-mounted on
    /// `/run/netns/berth-<id>` first (kept if that already is a mount of the same
    /// namespace, replaced if of another), and then set up as `create` sets up an
    /// adopted one. On error nothing is removed: the namespace is the holder's.
    pub async fn create_with_netns(
        bridge: &Bridge,
        task_id: &str,
        config: &TaskNetConfig,
        source: &Path,
    ) -> Result<TaskNetwork> {
        validate_task_id(task_id)?;
        netns::adopt(&netns_name(task_id), source)?;
        TaskNetwork::create(bridge, task_id, config).await
    }

    /// Everything after the allocation. On error, also tells whether the namespace was
    /// created by this call (and may be removed).
    async fn set_up(&self, bridge: &Bridge) -> Result<(), (Error, bool)> {
        let (path, fresh) = netns::ensure(&self.netns_name).map_err(|e| (e, false))?;
        let fail = |e| (e, fresh);
        // /etc/netns/<name>/: hosts (keeping the aliases a previous agent wrote) and
        // hostname.
        fs::create_dir_all(&self.etc_dir)
            .map_err(|e| fail(Error::io("create", self.etc_dir.display(), e)))?;
        let aliases = self.aliases().map_err(fail)?;
        self.write_hosts(&aliases).map_err(fail)?;
        let hostname_path = self.hostname_path();
        hosts::write_in_place(&hostname_path, &format!("{}\n", self.hostname))
            .map_err(|e| fail(Error::io("write", hostname_path.display(), e)))?;

        let host = Netlink::host().map_err(fail)?;
        let inside = Netlink::in_netns(&path).map_err(fail)?;
        let br = host
            .link(bridge.name())
            .await
            .map_err(fail)?
            .ok_or_else(|| {
                fail(Error::io(
                    "find",
                    format!("bridge {}", bridge.name()),
                    io::ErrorKind::NotFound.into(),
                ))
            })?;

        // The veth pair: adopt it if both ends are there, else make it anew.
        let mut outer = host.link(&self.veth).await.map_err(fail)?;
        let mut eth0 = inside.link(TASK_IFNAME).await.map_err(fail)?;
        if outer.is_none() || eth0.is_none() {
            host.delete_link(&self.veth).await.map_err(fail)?;
            inside.delete_link(TASK_IFNAME).await.map_err(fail)?;
            host.add_veth_into(&self.veth, TASK_IFNAME, &path)
                .await
                .map_err(fail)?;
            outer = host.link(&self.veth).await.map_err(fail)?;
            eth0 = inside.link(TASK_IFNAME).await.map_err(fail)?;
        }
        let missing = |what: String| fail(Error::io("find", what, io::ErrorKind::NotFound.into()));
        let outer = outer.ok_or_else(|| missing(format!("veth {}", self.veth)))?;
        let eth0 = eth0.ok_or_else(|| missing(format!("{TASK_IFNAME} in {}", self.netns_name)))?;
        if !outer.up || outer.controller != Some(br.index) {
            host.set_up(&outer, Some(br.index)).await.map_err(fail)?;
        }

        // Inside: lo up (it brings 127.0.0.1/8 and with it all of 127/8 as local),
        // eth0 with the task address, up, default route via the gateway.
        let lo = inside
            .link("lo")
            .await
            .map_err(fail)?
            .ok_or_else(|| missing(format!("lo in {}", self.netns_name)))?;
        if !lo.up {
            inside.set_up(&lo, None).await.map_err(fail)?;
        }
        inside
            .ensure_addr(&eth0, self.ip, self.subnet.prefix())
            .await
            .map_err(fail)?;
        if !eth0.up {
            inside.set_up(&eth0, None).await.map_err(fail)?;
        }
        inside
            .ensure_default_route(self.subnet.gateway())
            .await
            .map_err(fail)?;
        Ok(())
    }

    /// Removes the task's veth pair, namespace (unmount and remove `/run/netns/…`) and
    /// `/etc/netns/…` directory, then releases its address. Kills nothing: processes
    /// still in the namespace keep it alive, without a network, until they exit (ending
    /// them is the runtime's job). Idempotent, and what it removes is exactly what
    /// [`cleanup_except`](crate::cleanup_except) removes for a task.
    pub async fn destroy(&self) -> Result<()> {
        teardown(&self.ipam, &self.task_id).await
    }

    /// The task id.
    pub fn task_id(&self) -> &str {
        &self.task_id
    }

    /// The task's address.
    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }

    /// The prefix length of the task's address (the bridge subnet's).
    pub fn prefix(&self) -> u8 {
        self.subnet.prefix()
    }

    /// The task's default gateway: the bridge's address.
    pub fn gateway(&self) -> Ipv4Addr {
        self.subnet.gateway()
    }

    /// The task's hostname.
    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// The bridge's name.
    pub fn bridge_name(&self) -> &str {
        &self.bridge
    }

    /// The namespace's name (`berth-<id>`), as `ip netns` shows it.
    pub fn netns_name(&self) -> &str {
        &self.netns_name
    }

    /// The namespace file, `/run/netns/berth-<id>`: what `setns` or `nsenter --net=`
    /// take.
    pub fn netns_path(&self) -> &Path {
        &self.netns_path
    }

    /// The host side of the veth pair, `bv<id>`, attached to the bridge.
    pub fn veth_name(&self) -> &str {
        &self.veth
    }

    /// `/etc/netns/berth-<id>`: the task's files that replace those of `/etc`.
    pub fn etc_dir(&self) -> &Path {
        &self.etc_dir
    }

    /// The task's hosts file, `/etc/netns/berth-<id>/hosts`.
    pub fn hosts_path(&self) -> PathBuf {
        self.etc_dir.join("hosts")
    }

    /// The task's hostname file, `/etc/netns/berth-<id>/hostname`.
    pub fn hostname_path(&self) -> PathBuf {
        self.etc_dir.join("hostname")
    }

    /// Writes the task's hosts file: localhost, the task's hostname → its address, then
    /// each client alias → its VIP; returns its path. The file is rewritten in place
    /// (same inode), so processes already running in the task, which see it through a
    /// bind mount on `/etc/hosts`, resolve with the new text from their next lookup on
    /// (see [the crate docs](crate#the-hosts-file) for why not write-and-rename).
    pub fn write_hosts<S: AsRef<str>>(&self, aliases: &[(S, Ipv4Addr)]) -> Result<PathBuf> {
        let mut list = Vec::with_capacity(aliases.len());
        for (alias, vip) in aliases {
            let alias = alias.as_ref();
            validate_dns_name("client alias", alias)?;
            list.push((alias, *vip));
        }
        let text = hosts::render(&self.task_id, &self.hostname, self.ip, &list);
        let path = self.hosts_path();
        let _guard = self.hosts_lock.lock().unwrap_or_else(|p| p.into_inner());
        hosts::write_in_place(&path, &text).map_err(|e| Error::io("write", path.display(), e))?;
        Ok(path)
    }

    /// The (alias, VIP) pairs in the task's hosts file; none if there is no file yet.
    /// Feed them to [`VipAllocator::from_entries`](crate::VipAllocator::from_entries)
    /// to go on giving out VIPs after a restart.
    pub fn aliases(&self) -> Result<Vec<(String, Ipv4Addr)>> {
        let path = self.hosts_path();
        match fs::read_to_string(&path) {
            Ok(text) => Ok(hosts::parse_aliases(&text)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(Error::io("read", path.display(), e)),
        }
    }

    /// A [`Command`] whose child runs inside the task, as under `ip netns exec`: in the
    /// task's network namespace, in a mount namespace of its own where the task's
    /// `hosts` (and `hostname`, if the host has `/etc/hostname`) are bind-mounted over
    /// those of `/etc`, with mounts that are slaves of the host's (nothing mounted in
    /// the task leaks out), and in a UTS namespace with the task's hostname. Unlike `ip
    /// netns exec` it does not remount `/sys`.
    ///
    /// This is for the agent's own tools in a task (`iptables-restore`, `nft`), which
    /// run with every capability and the host's PID namespace; the task's processes run
    /// in its [`Sandbox`] instead.
    ///
    /// Entering happens in the child between `fork` and `exec`, so a failure (say the
    /// task was destroyed: `ENOENT`) is an error of `spawn`. Everything else about the command
    /// (arguments, environment, stdio) is the caller's to set.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let cstr =
            |p: &Path| CString::new(p.as_os_str().as_bytes()).expect("paths of berth have no NUL");
        let mut binds = vec![(cstr(&self.hosts_path()), cstr(Path::new("/etc/hosts")))];
        if Path::new("/etc/hostname").is_file() {
            binds.push((
                cstr(&self.hostname_path()),
                cstr(Path::new("/etc/hostname")),
            ));
        }
        let mut cmd = Command::new(program);
        enter_before_exec(
            &mut cmd,
            Enter {
                netns: cstr(&self.netns_path),
                binds,
                hostname: OsString::from(&self.hostname),
            },
        );
        cmd
    }

    /// Starts the init of a new [`Sandbox`] of this task: PID, mount, IPC and UTS
    /// namespaces of its own, in the task's network namespace, with the task's hosts
    /// file and hostname and the file system view that `config` and the
    /// [`sandbox`](crate::Sandbox) docs describe. Every container of the task then joins
    /// it with [`Sandbox::command`] and [`Sandbox::spawn`].
    pub fn sandbox(&self, config: &SandboxConfig) -> Result<Sandbox> {
        Sandbox::create(self, config)
    }

    /// Runs `f` on a short-lived thread that joined the task's network namespace (only
    /// that: the mount namespace, and so `/etc/hosts`, stay the host's), and returns
    /// what it returns. Sockets belong to the namespace they are created in, so a
    /// `std::net::TcpListener` bound in `f` keeps listening inside the task after `f`
    /// returned, and can be served from any thread (or handed to tokio with
    /// `tokio::net::TcpListener::from_std` after `set_nonblocking(true)`). A task's
    /// processes run in its [`Sandbox`]; this is for tests and small helpers.
    pub fn run_in_netns<F, R>(&self, f: F) -> Result<R>
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        netns::run_in(&self.netns_path, f)
    }
}

/// The hostname of a task whose [`TaskNetConfig`] gives none: EC2's style for its
/// address, `ip-10-213-0-2`.
pub fn default_hostname(ip: Ipv4Addr) -> String {
    let o = ip.octets();
    format!("ip-{}-{}-{}-{}", o[0], o[1], o[2], o[3])
}

/// Removes everything of `task_id` (see [`TaskNetwork::destroy`]); the IPAM record goes
/// last so a crash half-way leaves it for [`cleanup_except`](crate::cleanup_except).
pub(crate) async fn teardown(ipam: &Ipam, task_id: &str) -> Result<()> {
    let name = netns_name(task_id);
    // Deleting one end of a veth pair deletes both.
    Netlink::host()?.delete_link(&veth_name(task_id)).await?;
    netns::remove(&name)?;
    let dir = netns::etc_dir(&name);
    match fs::remove_dir_all(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("remove", dir.display(), e)),
    }
    ipam.release(task_id)?;
    Ok(())
}
