//! berth's embedded store: a durable, ordered key-value map with revisions.
//!
//! One SQLite file in WAL mode with `synchronous=FULL`: a write transaction returns only
//! after its commit is on disk, so every acknowledged write survives `kill -9` and power
//! loss. Keys are `/`-separated paths, scanned in order by prefix, the way etcd is used;
//! the etcd backend planned for several hosts keeps the same shape.
//!
//! Every committed write transaction that changed something gets the next revision
//! (a `u64` that only grows); each entry remembers the revision that created it and the
//! one that last changed it, and a change log lets watchers catch up from a revision.
//! In-process watchers subscribe to [`Store::subscribe`].

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::watch;

/// The file name of the database inside the data directory.
pub const DB_FILE: &str = "berth.db";

/// How many change-log rows are kept behind the newest revision.
const CHANGE_LOG_KEEP: u64 = 100_000;

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// SQLite reported an error.
    #[error("store error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored value did not decode as the expected type.
    #[error("stored value at {key} does not decode: {source}")]
    Decode {
        /// The key.
        key: String,
        /// The cause.
        source: serde_json::Error,
    },
    /// A value could not be encoded.
    #[error("value for {key} does not encode: {source}")]
    Encode {
        /// The key.
        key: String,
        /// The cause.
        source: serde_json::Error,
    },
}

/// A change recorded in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The revision of the transaction that made it.
    pub revision: u64,
    /// The key changed.
    pub key: String,
    /// True when the key was deleted, false when it was written.
    pub deleted: bool,
}

/// The durable store. Cheap to share behind an `Arc`.
pub struct Store {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    revision: watch::Sender<u64>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

fn open_conn(path: &Path) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: the WAL is synced on every commit, so a returned commit is durable.
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

impl Store {
    /// Opens (creating if needed) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(DB_FILE);
        let conn = open_conn(&path)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS kv (
                key TEXT PRIMARY KEY NOT NULL,
                value BLOB NOT NULL,
                create_rev INTEGER NOT NULL,
                mod_rev INTEGER NOT NULL
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS meta (
                name TEXT PRIMARY KEY NOT NULL,
                value INTEGER NOT NULL
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS changes (
                rev INTEGER NOT NULL,
                key TEXT NOT NULL,
                deleted INTEGER NOT NULL
            );
            CREATE INDEX IF NOT EXISTS changes_rev ON changes(rev);
            INSERT OR IGNORE INTO meta(name, value) VALUES ('revision', 0);",
        )?;
        let rev: i64 =
            conn.query_row("SELECT value FROM meta WHERE name = 'revision'", [], |r| {
                r.get(0)
            })?;
        let (tx, _) = watch::channel(rev as u64);
        Ok(Store {
            path,
            writer: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
            revision: tx,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The newest committed revision.
    pub fn revision(&self) -> u64 {
        *self.revision.borrow()
    }

    /// A receiver that sees every new revision after it is committed.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.revision.subscribe()
    }

    /// Runs `f` on a consistent read snapshot.
    pub fn read<R, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&Reader<'_>) -> Result<R, E>,
    ) -> Result<R, E> {
        let conn = match self.readers.lock().expect("reader pool").pop() {
            Some(c) => c,
            None => open_conn(&self.path).map_err(StoreError::from)?,
        };
        let result = (|| {
            let tx = conn.unchecked_transaction().map_err(StoreError::from)?;
            let out = f(&Reader { conn: &tx });
            drop(tx);
            out
        })();
        self.readers.lock().expect("reader pool").push(conn);
        result
    }

    /// Runs `f` in one write transaction. When `f` returns `Ok` the transaction commits
    /// durably before this returns; when it returns `Err` nothing is written.
    /// Returns `f`'s value and the revision of the commit (the current revision when
    /// `f` changed nothing).
    pub fn write<R, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&mut Writer<'_>) -> Result<R, E>,
    ) -> Result<(R, u64), E> {
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::from)?;
        let current: i64 = tx
            .query_row("SELECT value FROM meta WHERE name = 'revision'", [], |r| {
                r.get(0)
            })
            .map_err(StoreError::from)?;
        let mut w = Writer {
            tx,
            revision: current as u64 + 1,
            changed: false,
        };
        let out = f(&mut w)?;
        let Writer {
            tx,
            revision,
            changed,
        } = w;
        if !changed {
            tx.rollback().map_err(StoreError::from)?;
            return Ok((out, current as u64));
        }
        tx.execute(
            "UPDATE meta SET value = ?1 WHERE name = 'revision'",
            params![revision as i64],
        )
        .map_err(StoreError::from)?;
        if revision % 1000 == 0 && revision > CHANGE_LOG_KEEP {
            tx.execute(
                "DELETE FROM changes WHERE rev < ?1",
                params![(revision - CHANGE_LOG_KEEP) as i64],
            )
            .map_err(StoreError::from)?;
        }
        tx.commit().map_err(StoreError::from)?;
        self.revision.send_replace(revision);
        Ok((out, revision))
    }

    /// The changes after `revision`, oldest first, at most `limit`. When the log no
    /// longer reaches back that far, returns `None`: the watcher must re-read everything.
    pub fn changes_since(
        &self,
        revision: u64,
        limit: usize,
    ) -> Result<Option<Vec<Change>>, StoreError> {
        self.read(|r| {
            let oldest: Option<i64> =
                r.conn
                    .query_row("SELECT MIN(rev) FROM changes", [], |row| row.get(0))?;
            if let Some(oldest) = oldest {
                if (oldest as u64) > revision + 1 {
                    return Ok(None);
                }
            }
            let mut stmt = r.conn.prepare_cached(
                "SELECT rev, key, deleted FROM changes WHERE rev > ?1 ORDER BY rev, rowid LIMIT ?2",
            )?;
            let rows = stmt
                .query_map(params![revision as i64, limit as i64], |row| {
                    Ok(Change {
                        revision: row.get::<_, i64>(0)? as u64,
                        key: row.get(1)?,
                        deleted: row.get::<_, i64>(2)? != 0,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Some(rows))
        })
    }
}

/// The first key after every key that starts with `prefix`.
fn prefix_end(prefix: &str) -> String {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        if let Some(next) = char::from_u32(last as u32 + 1) {
            chars.push(next);
            return chars.into_iter().collect();
        }
    }
    "\u{10FFFF}".to_string()
}

/// Read access, shared by [`Reader`] and [`Writer`].
pub trait Read {
    /// The connection reads go through.
    fn conn(&self) -> &Connection;

    /// The value at `key`.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT value FROM kv WHERE key = ?1")?;
        Ok(stmt.query_row(params![key], |r| r.get(0)).optional()?)
    }

    /// The value at `key`, decoded from JSON.
    fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        match self.get(key)? {
            None => Ok(None),
            Some(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|source| StoreError::Decode {
                        key: key.to_string(),
                        source,
                    })
            }
        }
    }

    /// Up to `limit` entries whose key starts with `prefix`, in key order, starting
    /// after `start_after` when given.
    fn scan(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let end = prefix_end(prefix);
        let mut stmt = self.conn().prepare_cached(
            "SELECT key, value FROM kv WHERE key >= ?1 AND key < ?2 AND key > ?3 ORDER BY key LIMIT ?4",
        )?;
        let after = start_after.unwrap_or("");
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt
            .query_map(params![prefix, end, after, limit], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Like [`Read::scan`], decoding each value from JSON.
    fn scan_json<T: DeserializeOwned>(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, T)>, StoreError> {
        self.scan(prefix, start_after, limit)?
            .into_iter()
            .map(|(key, bytes)| match serde_json::from_slice(&bytes) {
                Ok(v) => Ok((key, v)),
                Err(source) => Err(StoreError::Decode { key, source }),
            })
            .collect()
    }

    /// How many keys start with `prefix`.
    fn count(&self, prefix: &str) -> Result<u64, StoreError> {
        let end = prefix_end(prefix);
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT COUNT(*) FROM kv WHERE key >= ?1 AND key < ?2")?;
        let n: i64 = stmt.query_row(params![prefix, end], |r| r.get(0))?;
        Ok(n as u64)
    }

    /// The revision that last changed `key`.
    fn mod_revision(&self, key: &str) -> Result<Option<u64>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT mod_rev FROM kv WHERE key = ?1")?;
        Ok(stmt
            .query_row(params![key], |r| r.get::<_, i64>(0))
            .optional()?
            .map(|v| v as u64))
    }
}

/// A read snapshot.
pub struct Reader<'a> {
    conn: &'a Connection,
}

impl Read for Reader<'_> {
    fn conn(&self) -> &Connection {
        self.conn
    }
}

/// A write transaction: reads see its own writes.
pub struct Writer<'a> {
    tx: rusqlite::Transaction<'a>,
    revision: u64,
    changed: bool,
}

impl Read for Writer<'_> {
    fn conn(&self) -> &Connection {
        &self.tx
    }
}

impl Writer<'_> {
    /// The revision this transaction commits as.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    fn log(&mut self, key: &str, deleted: bool) -> Result<(), StoreError> {
        self.changed = true;
        let mut stmt = self
            .tx
            .prepare_cached("INSERT INTO changes(rev, key, deleted) VALUES (?1, ?2, ?3)")?;
        stmt.execute(params![self.revision as i64, key, deleted as i64])?;
        Ok(())
    }

    /// Writes `value` at `key`.
    pub fn put(&mut self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let rev = self.revision as i64;
        let mut stmt = self.tx.prepare_cached(
            "INSERT INTO kv(key, value, create_rev, mod_rev) VALUES (?1, ?2, ?3, ?3)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value, mod_rev = excluded.mod_rev",
        )?;
        stmt.execute(params![key, value, rev])?;
        drop(stmt);
        self.log(key, false)
    }

    /// Writes `value` as JSON at `key`.
    pub fn put_json<T: Serialize + ?Sized>(
        &mut self,
        key: &str,
        value: &T,
    ) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(value).map_err(|source| StoreError::Encode {
            key: key.to_string(),
            source,
        })?;
        self.put(key, &bytes)
    }

    /// Deletes `key`; true when it existed.
    pub fn delete(&mut self, key: &str) -> Result<bool, StoreError> {
        let mut stmt = self.tx.prepare_cached("DELETE FROM kv WHERE key = ?1")?;
        let n = stmt.execute(params![key])?;
        drop(stmt);
        if n > 0 {
            self.log(key, true)?;
        }
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        (dir, s)
    }

    #[test]
    fn put_get_scan_in_order() {
        let (_d, s) = store();
        let (_, rev) = s
            .write(|w| {
                w.put("a/2", b"two")?;
                w.put("a/1", b"one")?;
                w.put("b/1", b"other")?;
                Ok::<_, StoreError>(())
            })
            .unwrap();
        assert_eq!(rev, 1);
        s.read(|r| {
            assert_eq!(r.get("a/1")?.as_deref(), Some(&b"one"[..]));
            let keys: Vec<_> = r.scan("a/", None, 10)?.into_iter().map(|e| e.0).collect();
            assert_eq!(keys, vec!["a/1", "a/2"]);
            let keys: Vec<_> = r
                .scan("a/", Some("a/1"), 10)?
                .into_iter()
                .map(|e| e.0)
                .collect();
            assert_eq!(keys, vec!["a/2"]);
            assert_eq!(r.count("a/")?, 2);
            Ok::<_, StoreError>(())
        })
        .unwrap();
    }

    #[test]
    fn revisions_grow_only_on_change_and_failed_writes_leave_nothing() {
        let (_d, s) = store();
        let (_, r1) = s.write(|w| w.put("k", b"1")).unwrap();
        let (_, r2) = s.write(|_| Ok::<_, StoreError>(())).unwrap();
        assert_eq!(r1, r2, "a write that changes nothing keeps the revision");
        let err: Result<((), u64), StoreError> = s.write(|w| {
            w.put("k", b"2")?;
            w.put("other", b"x")?;
            Err(StoreError::Sqlite(rusqlite::Error::InvalidQuery))
        });
        assert!(err.is_err());
        s.read(|r| {
            assert_eq!(r.get("k")?.as_deref(), Some(&b"1"[..]));
            assert_eq!(r.get("other")?, None);
            Ok::<_, StoreError>(())
        })
        .unwrap();
        let (_, r3) = s.write(|w| w.delete("k")).unwrap();
        assert_eq!(r3, r1 + 1);
        let changes = s.changes_since(0, 10).unwrap().unwrap();
        assert_eq!(
            changes,
            vec![
                Change {
                    revision: 1,
                    key: "k".into(),
                    deleted: false
                },
                Change {
                    revision: 2,
                    key: "k".into(),
                    deleted: true
                },
            ]
        );
    }

    #[test]
    fn reopen_keeps_everything() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Store::open(dir.path()).unwrap();
            s.write(|w| w.put_json("x/1", &serde_json::json!({"a": 1})))
                .unwrap();
        }
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.revision(), 1);
        let v: serde_json::Value = s.read(|r| r.get_json("x/1")).unwrap().unwrap();
        assert_eq!(v["a"], 1);
    }

    #[test]
    fn subscribers_see_new_revisions() {
        let (_d, s) = store();
        let mut rx = s.subscribe();
        s.write(|w| w.put("k", b"v")).unwrap();
        assert!(rx.has_changed().unwrap());
        assert_eq!(*rx.borrow_and_update(), 1);
    }

    #[test]
    fn prefix_end_is_exclusive_upper_bound() {
        assert_eq!(prefix_end("a/"), "a0");
        assert!("a/zzz" < prefix_end("a/").as_str());
    }
}
