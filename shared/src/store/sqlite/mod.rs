//! The embedded store for local runs: SQLite in a data folder, one file per port with the
//! port's tables beside it.
//!
//! It honours the same contract as the DynamoDB adapter (conditional creates and updates,
//! exact capped counters, expired items invisible), so the local server behaves like the
//! deployed one. One connection behind a mutex is plenty for a laptop and makes every
//! operation a serialised transaction. Calls run on the calling thread: each is a few
//! statements on a page-cached file in WAL mode (no fsync per commit), tens of
//! microseconds, which is less than handing the call to another thread and waking the task
//! again would cost (measured with `scripts/bench.sh gateway`).

mod assistants;
mod counters;
mod knowledge;
mod links;
mod memory;
mod responses;
mod sessions;
mod threads;
mod usage;

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

use crate::clock::Clock;
use crate::ports::StoreError;

/// SQLite-backed implementation of every store port.
#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

pub(super) fn unavailable(err: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(err.to_string())
}

pub(super) fn corrupt(err: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(err.to_string())
}

impl SqliteStore {
    /// Opens (creating if needed) the database file `dir/agentgate.sqlite3`, shared with
    /// other processes (several functions under `cargo lambda watch` may use one folder).
    pub fn open(dir: &Path, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        Self::open_with(dir, clock, false)
    }

    /// Opens the database for this process alone (the local server): the file lock is
    /// taken once instead of at every transaction, and WAL's index lives in memory. A
    /// second server on the same folder is refused at start.
    pub fn open_exclusive(dir: &Path, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        Self::open_with(dir, clock, true)
    }

    fn open_with(dir: &Path, clock: Arc<dyn Clock>, exclusive: bool) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(unavailable)?;
        let db = dir.join("agentgate.sqlite3");
        // Conversations, memories and digests are nobody else's business on a shared
        // machine: the folder and the database are the owner's alone.
        private(dir, 0o700)?;
        if !db.exists() {
            std::fs::File::create(&db).map_err(unavailable)?;
        }
        private(&db, 0o600)?;
        let conn = Connection::open(&db).map_err(unavailable)?;
        if exclusive {
            conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
                .map_err(unavailable)?;
            // Another server holding the folder answers at once, not after a wait.
            conn.busy_timeout(std::time::Duration::from_millis(200))
                .map_err(unavailable)?;
        }
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| match exclusive {
                true => unavailable(format!(
                    "{} is in use by another agentgate process ({e})",
                    dir.display()
                )),
                false => unavailable(e),
            })?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(unavailable)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(unavailable)?;
        // Every statement the ports run stays compiled.
        conn.set_prepared_statement_cache_capacity(96);
        // Counters and threads rewrite the same few pages all the time: a larger WAL
        // (up to ~16 MB) folds many versions of a page into one write at checkpoint.
        conn.pragma_update(None, "wal_autocheckpoint", 4000)
            .map_err(unavailable)?;
        // A laptop's conversations fit in a 1 MiB page cache; the OS caches the rest.
        conn.pragma_update(None, "cache_size", -1024)
            .map_err(unavailable)?;
        for schema in [
            assistants::SCHEMA,
            threads::SCHEMA,
            counters::SCHEMA,
            usage::SCHEMA,
            memory::SCHEMA,
            links::SCHEMA,
            sessions::SCHEMA,
            responses::SCHEMA,
            knowledge::SCHEMA,
        ] {
            conn.execute_batch(schema).map_err(unavailable)?;
        }
        assistants::migrate(&conn)?;
        memory::migrate(&conn)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            clock,
        })
    }

    /// Runs `f` inside an immediate (write-locked) transaction, on the calling thread. The
    /// transaction's own statements are compiled once like the others.
    pub(super) async fn tx<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Tx, i64) -> Result<T, StoreError> + Send + 'static,
    {
        let now = self.clock.now_secs();
        let conn = self
            .conn
            .lock()
            .map_err(|_| unavailable("store lock poisoned"))?;
        let run = |sql: &str| conn.prepare_cached(sql).and_then(|mut s| s.execute([]));
        run("BEGIN IMMEDIATE").map_err(unavailable)?;
        let out = f(&conn, now).and_then(|out| {
            run("COMMIT").map_err(unavailable)?;
            Ok(out)
        });
        if out.is_err() && !conn.is_autocommit() {
            // Nothing of a failed call stays half-written.
            if let Err(e) = run("ROLLBACK") {
                tracing::error!(error = %e, "rollback failed");
            }
        }
        out
    }
}

/// Restricts `path` to its owner (`mode`); other platforms keep their defaults.
fn private(path: &Path, mode: u32) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(unavailable)?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// The transaction every port's statements run in.
pub(super) type Tx = rusqlite::Connection;

/// The first column of the row `sql` selects, or `None` when there is none.
pub(super) fn one<T: rusqlite::types::FromSql>(
    tx: &Tx,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Option<T>, StoreError> {
    row(tx, sql, params, |r| r.get(0))
}

/// The row `sql` selects, mapped by `f`, or `None` when there is none.
pub(super) fn row<T, P, F>(tx: &Tx, sql: &str, params: P, f: F) -> Result<Option<T>, StoreError>
where
    P: rusqlite::Params,
    F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
{
    use rusqlite::OptionalExtension;
    tx.prepare_cached(sql)
        .and_then(|mut stmt| stmt.query_row(params, f).optional())
        .map_err(unavailable)
}

/// Runs one statement, compiled once per connection and kept (SQLite's parser and
/// planner cost more than most of these statements' work).
pub(super) fn exec(tx: &Tx, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize> {
    tx.prepare_cached(sql)?.execute(params)
}

impl SqliteStore {
    /// Runs one statement in its own transaction; the number of rows it changed.
    pub(super) async fn run(
        &self,
        sql: String,
        values: Vec<rusqlite::types::Value>,
    ) -> Result<usize, StoreError> {
        self.tx(move |tx, _| {
            exec(tx, &sql, rusqlite::params_from_iter(values)).map_err(unavailable)
        })
        .await
    }
}

/// SQLite integers are signed; counts beyond `i64::MAX` saturate.
pub(super) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(all(test, unix))]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_data_folder_and_database_are_the_owners_alone() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("data");
        let clock: Arc<dyn Clock> = Arc::new(crate::clock::ManualClock::new(0));
        SqliteStore::open(&dir, clock).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("agentgate.sqlite3")), 0o600);
    }
}
