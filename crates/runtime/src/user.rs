//! Resolving a container definition's `user`.

use nix::unistd::{Group, Uid, User};

/// A resolved user: ids, whether it is in the passwd database (then it gets its
/// supplementary groups), and its home directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    /// Set when the user is in `/etc/passwd`: used for `HOME` and for supplementary
    /// groups (`initgroups`).
    pub name: Option<String>,
    pub home: String,
}

/// Resolves `uid`, `uid:gid`, `name`, `name:group`, `uid:group`, `name:gid` (Docker's
/// `--user` forms) against the host's passwd and group databases. A numeric uid need
/// not exist (its gid is then the uid's primary group if known, else 0, like Docker's
/// root group default); a name must.
pub fn resolve_user(user: &str) -> Result<ResolvedUser, String> {
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let entry = if let Ok(uid) = u.parse::<u32>() {
        User::from_uid(Uid::from_raw(uid))
            .map_err(|e| format!("look up uid {uid}: {e}"))?
            .map(Ok)
            .unwrap_or(Err(uid))
    } else {
        match User::from_name(u).map_err(|e| format!("look up user {u:?}: {e}"))? {
            Some(e) => Ok(e),
            None => {
                return Err(format!(
                    "unable to find user {u}: no matching entries in passwd file"
                ))
            }
        }
    };
    let (uid, primary_gid, name, home) = match entry {
        Ok(e) => (
            e.uid.as_raw(),
            e.gid.as_raw(),
            Some(e.name),
            e.dir.display().to_string(),
        ),
        Err(uid) => (uid, 0, None, "/".to_string()),
    };
    let gid = match g {
        None => primary_gid,
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => Group::from_name(g)
                .map_err(|e| format!("look up group {g:?}: {e}"))?
                .map(|gr| gr.gid.as_raw())
                .ok_or_else(|| {
                    format!("unable to find group {g}: no matching entries in group file")
                })?,
        },
    };
    Ok(ResolvedUser {
        uid,
        gid,
        name,
        home,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let root = resolve_user("root").unwrap();
        assert_eq!((root.uid, root.gid), (0, 0));
        assert_eq!(root.home, "/root");
        let n = resolve_user("nobody").unwrap();
        assert_eq!(n.uid, 65534);
        assert_eq!(n.name.as_deref(), Some("nobody"));
        let x = resolve_user("4321:8765").unwrap();
        assert_eq!((x.uid, x.gid, x.name.as_deref()), (4321, 8765, None));
        let y = resolve_user("4321").unwrap();
        assert_eq!((y.uid, y.gid, y.home.as_str()), (4321, 0, "/"));
        assert_eq!(resolve_user("0:root").unwrap().gid, 0);
        assert!(resolve_user("no-such-user-berth")
            .unwrap_err()
            .contains("no matching entries"));
        assert!(resolve_user("0:no-such-group-berth").is_err());
    }
}
