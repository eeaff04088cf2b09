use super::*;

fn at(s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(s)
}

fn grant() -> JoinGrant {
    JoinGrant {
        account: "123456789012".into(),
        region: "us-east-1".into(),
        cluster: "default".into(),
    }
}

#[test]
fn a_key_is_found_with_its_secret_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let key = {
        let store = CredentialStore::open(dir.path()).unwrap();
        store
            .create_key("123456789012", Principal::Root, at(1))
            .unwrap()
    };
    assert!(key.access_key_id.starts_with("AKIA") && key.access_key_id.len() == 20);
    assert_eq!(key.secret_access_key.len(), 40);
    let store = CredentialStore::open(dir.path()).unwrap();
    assert_eq!(store.key(&key.access_key_id).unwrap(), Some(key.clone()));
    assert_eq!(store.key("AKIAUNKNOWN").unwrap(), None);
    assert!(store.has_root_keys().unwrap());
    assert!(store.delete_key(&key.access_key_id).unwrap());
    assert_eq!(store.key(&key.access_key_id).unwrap(), None);
}

#[test]
fn secrets_are_not_stored_in_clear_and_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let store = CredentialStore::open(dir.path()).unwrap();
    let key = store
        .create_key("123456789012", Principal::Root, at(1))
        .unwrap();
    drop(store);
    let raw = std::fs::read(dir.path().join(DB_FILE)).unwrap();
    let wal = std::fs::read(dir.path().join("credentials.db-wal")).unwrap_or_default();
    for bytes in [raw, wal] {
        let hay = String::from_utf8_lossy(&bytes);
        assert!(!hay.contains(&key.secret_access_key));
    }
    for f in [DB_FILE, KEY_FILE] {
        let mode = std::fs::metadata(dir.path().join(f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{f}: {mode:o}");
    }
}

#[test]
fn another_data_dirs_key_does_not_open_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let store = CredentialStore::open(dir.path()).unwrap();
    let key = store
        .create_key("123456789012", Principal::Root, at(1))
        .unwrap();
    drop(store);
    std::fs::write(dir.path().join(KEY_FILE), [7u8; 32]).unwrap();
    let store = CredentialStore::open(dir.path()).unwrap();
    assert!(matches!(
        store.key(&key.access_key_id),
        Err(CredentialError::Unseal(_))
    ));
}

#[test]
fn bad_accounts_and_grants_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = CredentialStore::open(dir.path()).unwrap();
    for account in ["12345", "12345678901a", ""] {
        assert!(store.create_key(account, Principal::Root, at(1)).is_err());
    }
    let bad = [
        JoinGrant {
            cluster: "a b".into(),
            ..grant()
        },
        JoinGrant {
            cluster: "".into(),
            ..grant()
        },
        JoinGrant {
            region: "moon".into(),
            ..grant()
        },
        JoinGrant {
            account: "1".into(),
            ..grant()
        },
    ];
    for g in bad {
        let e = store
            .create_token(&g, Duration::from_secs(60), at(1))
            .unwrap_err();
        assert!(matches!(e, CredentialError::Invalid(_)), "{g:?}");
    }
}

#[test]
fn tokens_grant_until_they_expire_or_are_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let store = CredentialStore::open(dir.path()).unwrap();
    let token = store
        .create_token(&grant(), Duration::from_secs(60), at(100))
        .unwrap();
    assert!(token.starts_with("berth-join."));
    assert_eq!(store.redeem_token(&token, at(159)).unwrap(), grant());
    // A token is reusable until it expires (several hosts may join with one).
    assert_eq!(store.redeem_token(&token, at(120)).unwrap(), grant());
    let refused = |t: &str, now| match store.redeem_token(t, at(now)) {
        Err(CredentialError::Token(why)) => why,
        other => panic!("{other:?}"),
    };
    assert_eq!(refused(&token, 160), "the token expired");
    let (id, _) = names::split_token(&token).unwrap();
    assert_eq!(
        refused(&format!("berth-join.{id}.wrong"), 120),
        "unknown token"
    );
    assert_eq!(refused("berth-join.nope.x", 120), "unknown token");
    assert!(refused("garbage", 120).starts_with("not a berth join token"));
    assert!(store.revoke_token(id).unwrap());
    assert_eq!(refused(&token, 120), "the token was revoked");
    let listed = store.list_tokens().unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].revoked && listed[0].expires == 160);
    let raw = std::fs::read(dir.path().join(DB_FILE)).unwrap();
    let secret = token.rsplit('.').next().unwrap();
    assert!(!String::from_utf8_lossy(&raw).contains(secret));
}

#[test]
fn access_key_ids_are_aws_shaped() {
    assert_eq!(names::access_key_id([0; 10]), "AKIAAAAAAAAAAAAAAAAA");
    assert_eq!(names::access_key_id([255; 10]), "AKIA7777777777777777");
}

#[test]
fn a_session_is_found_with_its_token_check_until_it_expires() {
    let dir = tempfile::tempdir().unwrap();
    let store = CredentialStore::open(dir.path()).unwrap();
    let role = Principal::Task {
        task_arn: "arn:aws:ecs:us-east-1:123456789012:task/c/abc".into(),
        role_arn: "arn:aws:iam::123456789012:role/app".into(),
    };
    let s = store
        .create_session("123456789012", &role, Duration::from_secs(3600), at(100))
        .unwrap();
    assert!(s.access_key_id.starts_with("ASIA") && s.access_key_id.len() == 20);
    assert_eq!(s.expiration, 3700);
    let key = store.key(&s.access_key_id).unwrap().unwrap();
    assert_eq!(key.secret_access_key, s.secret_access_key);
    assert_eq!(key.principal, role);
    let check = key.session.unwrap();
    assert!(check.token_matches(&s.session_token));
    assert!(!check.token_matches("another token"));
    assert!(!check.expired(at(3699)) && check.expired(at(3700)));
    // The token is not stored: only its hash.
    let raw = std::fs::read(dir.path().join("credentials.db")).unwrap();
    assert!(!raw
        .windows(s.session_token.len())
        .any(|w| w == s.session_token.as_bytes()));
    // A later session sweeps expired ones; deleting a task's sessions ends them.
    let later = store
        .create_session("123456789012", &role, Duration::from_secs(60), at(5000))
        .unwrap();
    assert_eq!(store.key(&s.access_key_id).unwrap(), None);
    assert_eq!(store.delete_sessions_of(&role).unwrap(), 1);
    assert_eq!(store.key(&later.access_key_id).unwrap(), None);
    assert!(store
        .create_session("12", &role, Duration::from_secs(1), at(1))
        .is_err());
}
