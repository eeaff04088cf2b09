//! The crate's own SQLite file, `<data_dir>/logs.db`: WAL with `synchronous=FULL` (a
//! committed PutLogEvents is on disk before it is answered), one writer and a pool of
//! readers (readers never wait for the writer in WAL mode).
//!
//! Every group row names its account and region; streams and events belong to a group
//! by its id, so nothing is reachable without going through a group of the caller's
//! account and region.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use berth_awsproto::ApiError;
use rusqlite::{Connection, Transaction};

use crate::errors::db;
use crate::LogsError;

/// The database's file name in the data directory.
pub const DB_FILE: &str = "logs.db";

/// The schema. `events.id` is the monotonic event id (AUTOINCREMENT: never reused, even
/// after the newest events are deleted).
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS groups (
    id INTEGER PRIMARY KEY,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    name TEXT NOT NULL,
    created INTEGER NOT NULL,
    retention INTEGER,
    kms_key_id TEXT,
    class TEXT NOT NULL,
    deletion_protection INTEGER NOT NULL DEFAULT 0,
    tags TEXT NOT NULL DEFAULT '{}',
    stored_bytes INTEGER NOT NULL DEFAULT 0,
    UNIQUE (account, region, name)
);
CREATE TABLE IF NOT EXISTS streams (
    id INTEGER PRIMARY KEY,
    group_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    created INTEGER NOT NULL,
    first_event INTEGER,
    last_event INTEGER,
    last_ingestion INTEGER,
    stored_bytes INTEGER NOT NULL DEFAULT 0,
    sequence INTEGER NOT NULL DEFAULT 0,
    UNIQUE (group_id, name)
);
CREATE INDEX IF NOT EXISTS streams_last_event ON streams (group_id, last_event, name);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id INTEGER NOT NULL,
    stream_id INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,
    ingestion INTEGER NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_stream_time ON events (stream_id, timestamp);
CREATE INDEX IF NOT EXISTS events_group_time ON events (group_id, timestamp);
";

/// The database: one writer, a pool of readers.
pub(crate) struct Db {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("path", &self.path).finish()
    }
}

fn open_conn(path: &Path) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: the WAL is synced on every commit, so an answered write is durable.
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

impl Db {
    /// Opens (creating if needed) `logs.db` in `dir`.
    pub(crate) fn open(dir: &Path) -> Result<Db, LogsError> {
        std::fs::create_dir_all(dir).map_err(|source| LogsError::DataDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(DB_FILE);
        let conn = open_conn(&path)?;
        conn.execute_batch(SCHEMA)?;
        Ok(Db {
            path,
            writer: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
        })
    }

    /// The database file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in one write transaction: committed (and synced) if it returns Ok,
    /// rolled back otherwise, so a failed call writes nothing.
    pub(crate) fn write<R>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<R, ApiError>,
    ) -> Result<R, ApiError> {
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db)?;
        let out = f(&tx)?;
        tx.commit().map_err(db)?;
        Ok(out)
    }

    /// Runs `f` in one read transaction (a consistent snapshot).
    pub(crate) fn read<R>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<R, ApiError>,
    ) -> Result<R, ApiError> {
        let pooled = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => open_conn(&self.path).map_err(db)?,
        };
        let out = match conn.transaction() {
            Ok(tx) => {
                let out = f(&tx);
                drop(tx);
                out
            }
            Err(e) => Err(db(e)),
        };
        self.readers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(conn);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_twice_and_rolls_back_failures() {
        let dir = tempfile::tempdir().unwrap();
        let d = Db::open(dir.path()).unwrap();
        let r: Result<(), ApiError> = d.write(|tx| {
            tx.execute(
                "INSERT INTO groups (account, region, name, created, class) VALUES ('a','r','g',0,'STANDARD')",
                [],
            )
            .map_err(db)?;
            Err(ApiError::internal("no"))
        });
        assert!(r.is_err());
        drop(d);
        let d = Db::open(dir.path()).unwrap();
        let n: i64 = d
            .read(|tx| {
                tx.query_row("SELECT count(*) FROM groups", [], |r| r.get(0))
                    .map_err(db)
            })
            .unwrap();
        assert_eq!(n, 0);
    }
}
