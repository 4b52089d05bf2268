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
//!
//! The local server owns its database alone, so it groups its writes: each operation is a
//! savepoint inside one write transaction that is committed [`COMMIT_EVERY`] after it
//! opened (and when the store is dropped). A turn's three writes (caps, transcript, usage)
//! and those of the turns around it then reach the WAL as one set of pages instead of one
//! set each (committed one by one, they took about an eighth of a turn's CPU). Every
//! operation still sees all the earlier ones (same connection) and stays all-or-nothing
//! (its savepoint is rolled back on error); what a killed process loses is at most that
//! window of writes, as `synchronous = NORMAL` already allows for a power cut. Stores
//! shared between processes commit each operation at once.

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
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use rusqlite::Connection;
use rusqlite::config::DbConfig;

use crate::clock::Clock;
use crate::ports::StoreError;

/// How long the local server's write transaction stays open before it is committed.
pub const COMMIT_EVERY: Duration = Duration::from_millis(5);

/// SQLite-backed implementation of every store port.
#[derive(Clone)]
pub struct SqliteStore {
    db: Arc<Mutex<Db>>,
    clock: Arc<dyn Clock>,
}

/// The connection and, for a store the process owns alone, its open group of writes.
struct Db {
    conn: Connection,
    grouped: bool,
    /// A grouped transaction is open and a commit is due.
    open: bool,
}

impl Db {
    fn run(&self, sql: &str) -> rusqlite::Result<usize> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute([]))
    }

    /// Opens the group of writes of a store the process owns, unless one is open; whether
    /// this call opened it (and so must have it committed).
    fn open_group(&mut self) -> Result<bool, StoreError> {
        if !self.grouped || self.open {
            return Ok(false);
        }
        self.run("BEGIN IMMEDIATE").map_err(unavailable)?;
        self.open = true;
        Ok(true)
    }

    /// Commits the open group, if any. A failed commit has lost the group's writes: it is
    /// rolled back so the next operation starts clean, and said loudly.
    fn commit(&mut self) {
        if !std::mem::take(&mut self.open) {
            return;
        }
        if let Err(e) = self.run("COMMIT") {
            tracing::error!(error = %e, "the embedded store could not commit its last writes");
            self.rollback();
        }
    }

    /// Runs `f` in a transaction of its own opened by `begin`: committed when `f`
    /// succeeds, rolled back when it or the commit fails.
    fn transaction<T>(
        &self,
        begin: &str,
        now: i64,
        f: impl FnOnce(&Tx, i64) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.run(begin).map_err(unavailable)?;
        let out = f(&self.conn, now).and_then(|out| {
            self.run("COMMIT").map_err(unavailable)?;
            Ok(out)
        });
        if out.is_err() {
            self.rollback();
        }
        out
    }

    /// Ends a transaction still open after a failure, so nothing of it stays half-written.
    fn rollback(&self) {
        if !self.conn.is_autocommit()
            && let Err(e) = self.run("ROLLBACK")
        {
            tracing::error!(error = %e, "rollback failed");
        }
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        self.commit();
    }
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
        // ...and is not compiled again on each use. The bundled SQLite plans with the
        // values bound to some parameters (a `LIMIT ?`, with STAT4 a range), and recompiles
        // such a statement whenever those bindings change, which a cached statement's do on
        // every use since it is returned with them cleared: the history read was compiled
        // again on every turn. One plan per statement whatever the values.
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
            .map_err(unavailable)?;
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
            db: Arc::new(Mutex::new(Db {
                conn,
                grouped: exclusive,
                open: false,
            })),
            clock,
        })
    }

    /// Runs `f` as one all-or-nothing operation, on the calling thread: its own immediate
    /// (write-locked) transaction, or a savepoint in the open group of a store the process
    /// owns. The statements that frame it are compiled once like the others.
    pub(super) async fn tx<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Tx, i64) -> Result<T, StoreError> + Send + 'static,
    {
        let now = self.clock.now_secs();
        let mut db = self.lock()?;
        if db.grouped {
            return self.in_group(&mut db, |db| grouped(db, now, f))?;
        }
        db.transaction("BEGIN IMMEDIATE", now, f)
    }

    /// Runs one statement as one operation; the number of rows it changed. SQLite applies
    /// a statement all or nothing by itself, so it needs neither a savepoint in the open
    /// group nor a transaction of its own in a shared store: two statements fewer than
    /// [`Self::tx`] (a turn's usage row is one of these).
    pub(super) fn execute(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<usize, StoreError> {
        let mut db = self.lock()?;
        self.in_group(&mut db, |db| {
            exec(&db.conn, sql, params).map_err(unavailable)
        })?
    }

    /// Runs `op` in the open group of a store the process owns, opening it (and having it
    /// committed [`COMMIT_EVERY`] later) when none is; as it is in a shared store.
    fn in_group<T>(
        &self,
        db: &mut std::sync::MutexGuard<'_, Db>,
        op: impl FnOnce(&Db) -> T,
    ) -> Result<T, StoreError> {
        let opened = db.open_group()?;
        let out = op(db);
        if opened {
            self.commit_soon(db);
        }
        Ok(out)
    }

    /// Runs `f`, which only reads, on the calling thread. A store the process owns needs
    /// no savepoint for it (there is nothing to undo, and the one connection already sees
    /// every earlier operation); a shared store reads one snapshot in a deferred
    /// transaction, without taking the write lock other processes wait for.
    pub(super) async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Tx, i64) -> Result<T, StoreError>,
    {
        let now = self.clock.now_secs();
        let db = self.lock()?;
        let written = db.conn.total_changes();
        let out = if db.grouped {
            f(&db.conn, now)
        } else {
            db.transaction("BEGIN", now, f)
        };
        debug_assert_eq!(
            db.conn.total_changes(),
            written,
            "a read-only store operation wrote"
        );
        out
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Db>, StoreError> {
        self.db
            .lock()
            .map_err(|_| unavailable("store lock poisoned"))
    }

    /// Commits the group just opened [`COMMIT_EVERY`] from now, timed by the runtime the
    /// call runs on (at once outside one) and written on its blocking pool: a commit's WAL
    /// writes take a fifth of a millisecond or so, and every few thousand pages SQLite
    /// checkpoints in it (two `fsync`s, milliseconds), which on the serving thread would
    /// hold up the tokens of the streams in flight (their timer fires mid-stream, 5 ms after
    /// the turn's first write). A request that needs the store meanwhile waits for the
    /// lock, as it would have waited for the commit. The timer holds no strong reference: a
    /// store dropped first commits as it goes.
    fn commit_soon(&self, db: &mut Db) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            db.commit();
            return;
        };
        let weak: Weak<Mutex<Db>> = Arc::downgrade(&self.db);
        runtime.spawn(async move {
            tokio::time::sleep(COMMIT_EVERY).await;
            tokio::task::spawn_blocking(move || {
                if let Some(db) = weak.upgrade()
                    && let Ok(mut db) = db.lock()
                {
                    db.commit();
                }
            });
        });
    }
}

/// Runs `f` in a savepoint of the open group: kept on success, undone on error.
fn grouped<T>(
    db: &Db,
    now: i64,
    f: impl FnOnce(&Tx, i64) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    db.run("SAVEPOINT op").map_err(unavailable)?;
    let out = f(&db.conn, now);
    let end = match out {
        Ok(_) => db.run("RELEASE op"),
        Err(_) => db.run("ROLLBACK TO op").and_then(|_| db.run("RELEASE op")),
    };
    match (out, end) {
        (Ok(v), Ok(_)) => Ok(v),
        (Ok(_), Err(e)) => Err(unavailable(e)),
        (Err(e), Ok(_)) => Err(e),
        (Err(e), Err(undo)) => {
            tracing::error!(error = %undo, "rollback to savepoint failed");
            Err(e)
        }
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
        self.execute(&sql, rusqlite::params_from_iter(values))
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

    fn count(store: &SqliteStore) -> i64 {
        let db = store.db.lock().unwrap();
        db.conn
            .query_row("SELECT count(*) FROM scratch", [], |r| r.get(0))
            .unwrap()
    }

    async fn insert(store: &SqliteStore, x: i64) -> Result<(), StoreError> {
        store
            .tx(move |tx, _| {
                exec(tx, "INSERT INTO scratch (x) VALUES (?1)", [x]).map_err(unavailable)?;
                // The scratch table's rule: only even values, like a condition that fails
                // after the operation has written something.
                if x % 2 == 1 {
                    return Err(StoreError::Conflict);
                }
                Ok(())
            })
            .await
    }

    #[tokio::test(flavor = "current_thread")]
    async fn grouped_writes_are_all_or_nothing_each_and_committed_within_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let clock: Arc<dyn Clock> = Arc::new(crate::clock::ManualClock::new(0));
        let store = SqliteStore::open_exclusive(dir.path(), clock.clone()).unwrap();
        store
            .run("CREATE TABLE scratch (x INTEGER)".into(), vec![])
            .await
            .unwrap();
        insert(&store, 2).await.unwrap();
        assert!(matches!(insert(&store, 3).await, Err(StoreError::Conflict)));
        insert(&store, 4).await.unwrap();
        // The failed operation left nothing; the others are seen before any commit.
        assert_eq!(count(&store), 2);
        assert!(store.db.lock().unwrap().open, "the group is still open");
        // The timer's task runs on this runtime while the test waits (a loaded machine may
        // wake both in the same turn, so wait until it has run, within a bound).
        let committed = || {
            let db = store.db.lock().unwrap();
            !db.open && db.conn.is_autocommit()
        };
        for _ in 0..400 {
            if committed() {
                break;
            }
            tokio::time::sleep(COMMIT_EVERY).await;
        }
        assert!(committed(), "committed by the timer");
        // A group still open when the store goes is committed, not rolled back.
        insert(&store, 6).await.unwrap();
        drop(store);
        let reopened = SqliteStore::open_exclusive(dir.path(), clock).unwrap();
        assert_eq!(count(&reopened), 3);
    }
}
