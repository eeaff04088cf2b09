//! EC2 instances as berth knows them: its container instances (the hosts its agents
//! run on). No API operation reads or writes them yet; other crates keep them with
//! [`put_instance_in`] and [`delete_instance_in`] (an ECS container instance when it
//! registers and deregisters) and read them with [`instance_in`] (ELBv2's `instance`
//! targets, resolved to their private address).

use std::net::Ipv4Addr;

use berth_awsproto::{wire_enum, ApiError, Context};
use berth_store::{Read, Writer};
use serde::{Deserialize, Serialize};

use crate::records::{delete, get, put, Keys};

wire_enum! {
    /// An instance's state, as EC2 names it.
    pub enum InstanceState {
        /// Starting.
        Pending = "pending",
        /// Running.
        Running = "running",
        /// Being terminated.
        ShuttingDown = "shutting-down",
        /// Gone.
        Terminated = "terminated",
        /// Being stopped.
        Stopping = "stopping",
        /// Stopped.
        Stopped = "stopped",
    }
}

/// An instance: its id, where it is and its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    /// `i-…`.
    pub instance_id: String,
    /// Its primary private address.
    #[serde(rename = "privateIpAddress")]
    pub private_ip: Ipv4Addr,
    /// Its subnet.
    pub subnet_id: String,
    /// Its subnet's VPC.
    pub vpc_id: String,
    /// Its state.
    pub state: InstanceState,
}

/// The instance `instance_id`, if berth knows it.
pub fn instance_in(
    r: &impl Read,
    ctx: &Context,
    instance_id: &str,
) -> Result<Option<Instance>, ApiError> {
    get(r, &Keys::new(ctx).instance(instance_id))
}

/// Writes (or replaces) `instance`.
pub fn put_instance_in(
    w: &mut Writer<'_>,
    ctx: &Context,
    instance: &Instance,
) -> Result<(), ApiError> {
    put(w, &Keys::new(ctx).instance(&instance.instance_id), instance)
}

/// Forgets the instance `instance_id`; true when it was known.
pub fn delete_instance_in(
    w: &mut Writer<'_>,
    ctx: &Context,
    instance_id: &str,
) -> Result<bool, ApiError> {
    let key = Keys::new(ctx).instance(instance_id);
    let known = w.get(&key)?.is_some();
    delete(w, &key)?;
    Ok(known)
}

#[cfg(test)]
mod tests {
    use berth_store::Store;

    use super::*;

    #[test]
    fn instances_are_kept_per_account_and_region() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let ctx = Context::default();
        let other = Context::new("111122223333", "eu-west-1");
        let i = Instance {
            instance_id: "i-0123456789abcdef0".into(),
            private_ip: Ipv4Addr::new(172, 31, 3, 4),
            subnet_id: "subnet-1".into(),
            vpc_id: "vpc-1".into(),
            state: InstanceState::Running,
        };
        store.write(|w| put_instance_in(w, &ctx, &i)).unwrap();
        let got = store
            .read(|r| instance_in(r, &ctx, &i.instance_id))
            .unwrap();
        assert_eq!(got, Some(i.clone()));
        let elsewhere = store
            .read(|r| instance_in(r, &other, &i.instance_id))
            .unwrap();
        assert_eq!(elsewhere, None);
        let (gone, _) = store
            .write(|w| delete_instance_in(w, &ctx, &i.instance_id))
            .unwrap();
        assert!(gone);
        let (again, _) = store
            .write(|w| delete_instance_in(w, &ctx, &i.instance_id))
            .unwrap();
        assert!(!again);
        assert_eq!(
            store
                .read(|r| instance_in(r, &ctx, &i.instance_id))
                .unwrap(),
            None
        );
    }
}
