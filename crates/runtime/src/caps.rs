//! Linux capabilities of a container: Docker's default set, changed by a definition's
//! `linuxParameters.capabilities` (`add`, `drop`) by Docker's rules.

use std::fmt;

/// Linux capability names, by capability number (`CAP_CHOWN` is 0).
const NAMES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// One capability, or `ALL` of them, as named in `linuxParameters.capabilities`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapabilityName {
    All,
    /// The capability of this number.
    One(u8),
}

impl CapabilityName {
    /// Parses `ALL` or a capability name (`NET_ADMIN`; Docker's `CAP_NET_ADMIN` too).
    pub fn parse(s: &str) -> Option<CapabilityName> {
        if s == "ALL" {
            return Some(CapabilityName::All);
        }
        let bare = s.strip_prefix("CAP_").unwrap_or(s);
        NAMES
            .iter()
            .position(|n| *n == bare)
            .map(|i| CapabilityName::One(i as u8))
    }
}

impl fmt::Display for CapabilityName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CapabilityName::All => f.write_str("ALL"),
            CapabilityName::One(i) => f.write_str(NAMES[*i as usize]),
        }
    }
}

/// A set of capabilities, as the bit mask `/proc/<pid>/status` shows (`CapEff`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CapabilitySet(pub u64);

impl CapabilitySet {
    /// Every capability this crate knows.
    pub const ALL: CapabilitySet = CapabilitySet((1 << NAMES.len()) - 1);

    /// Docker's default set: CHOWN, DAC_OVERRIDE, FSETID, FOWNER, MKNOD, NET_RAW,
    /// SETGID, SETUID, SETFCAP, SETPCAP, NET_BIND_SERVICE, SYS_CHROOT, KILL,
    /// AUDIT_WRITE.
    pub const DOCKER_DEFAULT: CapabilitySet = CapabilitySet(0xa80425fb);

    fn with(self, c: CapabilityName) -> CapabilitySet {
        match c {
            CapabilityName::All => CapabilitySet::ALL,
            CapabilityName::One(i) => CapabilitySet(self.0 | 1 << i),
        }
    }

    fn without(self, c: CapabilityName) -> CapabilitySet {
        match c {
            CapabilityName::All => CapabilitySet(0),
            CapabilityName::One(i) => CapabilitySet(self.0 & !(1 << i)),
        }
    }

    /// The names of the capabilities in the set, lowercase, by number (`chown`, …):
    /// how `setpriv` takes them.
    pub fn setpriv_names(self) -> Vec<String> {
        (0..NAMES.len())
            .filter(|i| self.0 & (1 << i) != 0)
            .map(|i| NAMES[i].to_lowercase())
            .collect()
    }
}

/// `linuxParameters.capabilities` of a container definition.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CapabilityChanges {
    pub add: Vec<CapabilityName>,
    pub drop: Vec<CapabilityName>,
}

impl CapabilityChanges {
    /// Parses the names of `add` or `drop`; `field` names the list in the error.
    pub fn parse_list(field: &str, names: &[String]) -> Result<Vec<CapabilityName>, String> {
        names
            .iter()
            .map(|n| {
                CapabilityName::parse(n)
                    .ok_or_else(|| format!("{field}: {n:?} is not a Linux capability (nor ALL)"))
            })
            .collect()
    }

    /// The container's capability set, by Docker's rules: `ALL` in `add` gives every
    /// capability but those dropped; else `ALL` in `drop` gives only those added; else
    /// the default set without those dropped, with those added.
    pub fn resolve(&self) -> CapabilitySet {
        let fold = |start: CapabilitySet, list: &[CapabilityName], add: bool| {
            list.iter()
                .fold(start, |s, c| if add { s.with(*c) } else { s.without(*c) })
        };
        if self.add.contains(&CapabilityName::All) {
            fold(CapabilitySet::ALL, &self.drop, false)
        } else if self.drop.contains(&CapabilityName::All) {
            fold(CapabilitySet(0), &self.add, true)
        } else {
            let dropped = fold(CapabilitySet::DOCKER_DEFAULT, &self.drop, false);
            fold(dropped, &self.add, true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<CapabilityName> {
        let v: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        CapabilityChanges::parse_list("add", &v).unwrap()
    }

    #[test]
    fn docker_default_set() {
        let d = CapabilitySet::DOCKER_DEFAULT.setpriv_names();
        assert_eq!(
            d,
            [
                "chown",
                "dac_override",
                "fowner",
                "fsetid",
                "kill",
                "setgid",
                "setuid",
                "setpcap",
                "net_bind_service",
                "net_raw",
                "sys_chroot",
                "mknod",
                "audit_write",
                "setfcap"
            ]
        );
        assert_eq!(
            CapabilityChanges::default().resolve(),
            CapabilitySet::DOCKER_DEFAULT
        );
        assert_eq!(CapabilitySet::ALL.0, 0x1ff_ffff_ffff);
    }

    #[test]
    fn add_and_drop_by_dockers_rules() {
        let c = CapabilityChanges {
            add: names(&["NET_ADMIN", "CAP_SYS_PTRACE"]),
            drop: names(&["MKNOD", "NET_ADMIN"]),
        };
        let s = c.resolve();
        // added wins over dropped
        assert!(s.setpriv_names().contains(&"net_admin".to_string()));
        assert!(s.setpriv_names().contains(&"sys_ptrace".to_string()));
        assert!(!s.setpriv_names().contains(&"mknod".to_string()));
        let only = CapabilityChanges {
            add: names(&["NET_BIND_SERVICE"]),
            drop: names(&["ALL"]),
        };
        assert_eq!(only.resolve().setpriv_names(), ["net_bind_service"]);
        let all_but = CapabilityChanges {
            add: names(&["ALL"]),
            drop: names(&["SYS_ADMIN"]),
        };
        assert_eq!(all_but.resolve().0, CapabilitySet::ALL.0 & !(1 << 21));
        let e = CapabilityChanges::parse_list(
            "linuxParameters.capabilities.drop",
            &["NET_ADMN".into()],
        )
        .unwrap_err();
        assert_eq!(
            e,
            "linuxParameters.capabilities.drop: \"NET_ADMN\" is not a Linux capability (nor ALL)"
        );
        assert_eq!(
            CapabilityName::parse("net_admin"),
            None,
            "names are upper case"
        );
        assert_eq!(CapabilityName::One(12).to_string(), "NET_ADMIN");
    }
}
