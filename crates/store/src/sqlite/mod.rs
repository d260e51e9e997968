//! The embedded store: SQLite (bundled, so the binary stays self-contained).
//!
//! One writer thread owns the write connection and commits jobs in groups; readers
//! come from a pool of read-only connections (WAL lets them run beside the writer).
//! In-memory mode has a single connection shared by the writer and the readers.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::Mutex;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Row};
use urbis_model::{Attrs, Resource};

use crate::cache::Cache;
use crate::cached::CachedReader;
use crate::{OutboxEntry, ReadTxn, Store, StoreError, StoreResult, WriteJob, WriteTxn};
use writer::spawn_writer;

mod writer;

/// 2: the notification outbox. 3: pending notification batches.
const SCHEMA_VERSION: i64 = 3;
/// Most resources the cache holds before it starts over.
const CACHE_CAPACITY: usize = 200_000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS resources (
    seq     INTEGER PRIMARY KEY,
    ri      TEXT NOT NULL UNIQUE,
    pi      TEXT NOT NULL,
    ty      INTEGER NOT NULL,
    path    TEXT NOT NULL UNIQUE,
    et      TEXT,
    creator TEXT NOT NULL,
    body    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS resources_children ON resources (pi, ty, seq);
CREATE INDEX IF NOT EXISTS resources_groups ON resources (seq) WHERE ty = 9;
CREATE INDEX IF NOT EXISTS resources_time_series ON resources (seq) WHERE ty = 29;
CREATE INDEX IF NOT EXISTS resources_subscriptions ON resources (pi) WHERE ty = 23;
CREATE INDEX IF NOT EXISTS resources_expiry ON resources (et) WHERE et IS NOT NULL;
CREATE INDEX IF NOT EXISTS resources_node_ids ON resources (json_extract(body, '$.ni')) WHERE ty = 14;
CREATE INDEX IF NOT EXISTS resources_instance_times ON resources (pi, json_extract(body, '$.dgt')) WHERE ty = 30;
CREATE TABLE IF NOT EXISTS labels (
    lbl TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (lbl, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS labels_by_resource ON labels (seq);
CREATE TABLE IF NOT EXISTS outbox (
    seq          INTEGER PRIMARY KEY,
    rqi          TEXT NOT NULL UNIQUE,
    owner        INTEGER NOT NULL,
    target       TEXT NOT NULL,
    body         TEXT NOT NULL,
    subscription TEXT
);
CREATE TABLE IF NOT EXISTS batch_items (
    seq          INTEGER PRIMARY KEY,
    subscription TEXT NOT NULL,
    added_ms     INTEGER NOT NULL,
    item         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS batch_items_by_subscription ON batch_items (subscription, seq);
";

const COLUMNS: &str = "ri, ty, path, creator, body";
/// The tail of the node lookup by `ni` (after `SELECT columns FROM`).
const NODES_WITH_ID: &str =
    "resources WHERE ty = 14 AND json_extract(body, '$.ni') = ?1 ORDER BY seq";
/// The tail of the instance lookup by `dgt`; it matches the
/// `resources_instance_times` index as `NODES_WITH_ID` matches its own.
const INSTANCE_WITH_DGT: &str =
    "resources WHERE ty = 30 AND pi = ?1 AND json_extract(body, '$.dgt') = ?2 LIMIT 1";

enum Mode {
    File {
        path: PathBuf,
        readers: Mutex<Vec<Connection>>,
    },
    Memory {
        shared: Arc<Mutex<Connection>>,
    },
}

pub struct SqliteStore {
    mode: Mode,
    cache: Arc<Cache>,
    jobs: Mutex<Option<mpsc::Sender<WriteJob>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl SqliteStore {
    /// Open (or create) the store in `dir/urbis.db`.
    pub fn open(dir: &Path) -> StoreResult<SqliteStore> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Open(format!("{}: {e}", dir.display())))?;
        let path = dir.join("urbis.db");
        let conn = Connection::open(&path)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;
             PRAGMA cache_size = -8000; PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 8000;",
        )?;
        migrate(&conn)?;
        let cache = Arc::new(Cache::new(CACHE_CAPACITY, sql::watched(&conn)?));
        let conn = Arc::new(Mutex::new(conn));
        let (jobs, writer) = spawn_writer(conn, cache.clone());
        Ok(SqliteStore {
            mode: Mode::File {
                path,
                readers: Mutex::new(Vec::new()),
            },
            cache,
            jobs: Mutex::new(Some(jobs)),
            writer: Mutex::new(Some(writer)),
        })
    }

    /// A store that lives in memory only and is gone when dropped.
    pub fn in_memory() -> StoreResult<SqliteStore> {
        let conn = Connection::open_in_memory()?;
        migrate(&conn)?;
        let cache = Arc::new(Cache::new(CACHE_CAPACITY, HashSet::new()));
        let shared = Arc::new(Mutex::new(conn));
        let (jobs, writer) = spawn_writer(shared.clone(), cache.clone());
        Ok(SqliteStore {
            mode: Mode::Memory { shared },
            cache,
            jobs: Mutex::new(Some(jobs)),
            writer: Mutex::new(Some(writer)),
        })
    }

    fn open_reader(path: &Path) -> StoreResult<Connection> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        conn.execute_batch("PRAGMA busy_timeout = 5000; PRAGMA cache_size = -16000;")?;
        Ok(conn)
    }
}

fn migrate(conn: &Connection) -> StoreResult<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Open(format!(
            "store schema version {version} is newer than this binary understands ({SCHEMA_VERSION})"
        )));
    }
    conn.execute_batch(SCHEMA)?;
    conn.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
    Ok(())
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.jobs.lock().take();
        if let Some(handle) = self.writer.lock().take() {
            let _ = handle.join();
        }
    }
}

impl Store for SqliteStore {
    fn reader(&self) -> StoreResult<Box<dyn ReadTxn + '_>> {
        match &self.mode {
            Mode::Memory { shared } => Ok(Box::new(CachedReader {
                raw: SharedReader {
                    guard: shared.lock(),
                },
                cache: &self.cache,
            })),
            Mode::File { path, readers } => {
                let conn = match readers.lock().pop() {
                    Some(conn) => conn,
                    None => Self::open_reader(path)?,
                };
                Ok(Box::new(CachedReader {
                    raw: PooledReader {
                        conn: Some(conn),
                        pool: readers,
                    },
                    cache: &self.cache,
                }))
            }
        }
    }

    fn submit(&self, job: WriteJob) {
        if let Some(jobs) = self.jobs.lock().as_ref() {
            // A send error means the writer is gone; the job is dropped and its
            // caller sees the closed channel as an internal error.
            let _ = jobs.send(job);
        }
    }

    fn describe(&self) -> String {
        match &self.mode {
            Mode::File { path, .. } => format!("sqlite:{}", path.display()),
            Mode::Memory { .. } => "sqlite:memory".to_owned(),
        }
    }
}

struct PooledReader<'a> {
    conn: Option<Connection>,
    pool: &'a Mutex<Vec<Connection>>,
}

impl Drop for PooledReader<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.lock().push(conn);
        }
    }
}

struct SharedReader<'a> {
    guard: parking_lot::MutexGuard<'a, Connection>,
}

/// Plain SQL on the writer's open transaction; `writer::WriterTxn` puts the
/// group's log in front of it.
#[derive(Clone, Copy)]
struct SqlTxn<'a> {
    conn: &'a Connection,
    /// This run of the store, as the owner of the outbox entries it writes.
    owner: i64,
}

fn resource_from_row(row: &Row<'_>) -> rusqlite::Result<(String, u32, String, String, String)> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
    ))
}

fn decode(raw: (String, u32, String, String, String)) -> StoreResult<Resource> {
    let (ri, ty, path, creator, body) = raw;
    let attrs: Attrs = serde_json::from_str(&body).map_err(|e| StoreError::Corrupt {
        ri: ri.clone(),
        reason: e.to_string(),
    })?;
    Ok(Resource {
        ty,
        path,
        creator,
        attrs,
    })
}

fn query_one(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> StoreResult<Option<Resource>> {
    let mut stmt = conn.prepare_cached(sql)?;
    match stmt.query_row(params, resource_from_row).optional()? {
        Some(raw) => Ok(Some(decode(raw)?)),
        None => Ok(None),
    }
}

fn query_many(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> StoreResult<Vec<Resource>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, resource_from_row)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(decode(row?)?);
    }
    Ok(out)
}

/// `path/` and `path0` bound every path strictly below `path` ('0' follows '/').
fn subtree_bounds(path: &str) -> (String, String) {
    (format!("{path}/"), format!("{path}0"))
}

mod sql {
    //! The queries, one function each; callers decide about the cache.
    use super::*;

    pub(super) fn get(conn: &Connection, ri: &str) -> StoreResult<Option<Resource>> {
        query_one(
            conn,
            &format!("SELECT {COLUMNS} FROM resources WHERE ri = ?1"),
            [ri],
        )
    }
    pub(super) fn get_by_path(conn: &Connection, path: &str) -> StoreResult<Option<Resource>> {
        query_one(
            conn,
            &format!("SELECT {COLUMNS} FROM resources WHERE path = ?1"),
            [path],
        )
    }
    pub(super) fn children(
        conn: &Connection,
        pi: &str,
        ty: Option<u32>,
    ) -> StoreResult<Vec<Resource>> {
        match ty {
            Some(ty) => query_many(
                conn,
                &format!("SELECT {COLUMNS} FROM resources WHERE pi = ?1 AND ty = ?2 ORDER BY seq"),
                params![pi, ty],
            ),
            None => query_many(
                conn,
                &format!("SELECT {COLUMNS} FROM resources WHERE pi = ?1 ORDER BY seq"),
                [pi],
            ),
        }
    }
    pub(super) fn count_children(conn: &Connection, pi: &str, ty: u32) -> StoreResult<u64> {
        let mut stmt =
            conn.prepare_cached("SELECT count(*) FROM resources WHERE pi = ?1 AND ty = ?2")?;
        Ok(stmt.query_row(params![pi, ty], |row| row.get::<_, i64>(0))? as u64)
    }
    pub(super) fn edge_child(
        conn: &Connection,
        pi: &str,
        ty: u32,
        newest: bool,
    ) -> StoreResult<Option<Resource>> {
        let order = if newest { "DESC" } else { "ASC" };
        query_one(
            conn,
            &format!("SELECT {COLUMNS} FROM resources WHERE pi = ?1 AND ty = ?2 ORDER BY seq {order} LIMIT 1"),
            params![pi, ty],
        )
    }
    pub(super) fn descendants(conn: &Connection, path: &str) -> StoreResult<Vec<Resource>> {
        let (low, high) = subtree_bounds(path);
        query_many(
            conn,
            &format!("SELECT {COLUMNS} FROM resources WHERE path > ?1 AND path < ?2 ORDER BY seq"),
            params![low, high],
        )
    }
    pub(super) fn descendants_except(
        conn: &Connection,
        path: &str,
        skip: &[u32],
    ) -> StoreResult<Vec<Resource>> {
        let (low, high) = subtree_bounds(path);
        // types are integers, so listing them in the SQL is safe
        let skipped: Vec<String> = skip.iter().map(u32::to_string).collect();
        query_many(
            conn,
            &format!(
                "SELECT {COLUMNS} FROM resources WHERE path > ?1 AND path < ?2 AND ty NOT IN ({}) ORDER BY seq",
                skipped.join(",")
            ),
            params![low, high],
        )
    }
    pub(super) fn descendant_ids(conn: &Connection, path: &str) -> StoreResult<Vec<String>> {
        let (low, high) = subtree_bounds(path);
        let mut stmt =
            conn.prepare_cached("SELECT ri FROM resources WHERE path > ?1 AND path < ?2")?;
        let rows = stmt.query_map(params![low, high], |row| row.get::<_, String>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
    pub(super) fn descendants_with_label(
        conn: &Connection,
        path: &str,
        label: &str,
    ) -> StoreResult<Vec<Resource>> {
        let (low, high) = subtree_bounds(path);
        query_many(
            conn,
            "SELECT r.ri, r.ty, r.path, r.creator, r.body FROM labels l JOIN resources r ON r.seq = l.seq
             WHERE l.lbl = ?1 AND r.path > ?2 AND r.path < ?3 ORDER BY r.seq",
            params![label, low, high],
        )
    }
    pub(super) fn of_type(conn: &Connection, ty: u32) -> StoreResult<Vec<Resource>> {
        // ty is an integer, so formatting it into the SQL is safe; a literal lets
        // SQLite use the partial index that groups and timeSeries have.
        query_many(
            conn,
            &format!("SELECT {COLUMNS} FROM resources WHERE ty = {ty} ORDER BY seq"),
            [],
        )
    }
    /// Nodes by their `ni`: the expression and the `ty = 14` literal match
    /// the `resources_node_ids` index exactly, so SQLite uses it.
    pub(super) fn nodes_with_id(conn: &Connection, ni: &str) -> StoreResult<Vec<Resource>> {
        query_many(
            conn,
            &format!("SELECT {COLUMNS} FROM {NODES_WITH_ID}"),
            [ni],
        )
    }
    pub(super) fn instance_with_dgt(
        conn: &Connection,
        pi: &str,
        dgt: &str,
    ) -> StoreResult<Option<Resource>> {
        query_one(
            conn,
            &format!("SELECT {COLUMNS} FROM {INSTANCE_WITH_DGT}"),
            params![pi, dgt],
        )
    }
    pub(super) fn expired(
        conn: &Connection,
        now: &str,
        limit: usize,
    ) -> StoreResult<Vec<Resource>> {
        query_many(
            conn,
            &format!("SELECT {COLUMNS} FROM resources WHERE et IS NOT NULL AND et < ?1 ORDER BY et LIMIT ?2"),
            params![now, limit as i64],
        )
    }
    /// The `body` of each child, borrowed from SQLite's row buffer: no copy,
    /// no decoding.
    pub(super) fn scan_children_json(
        conn: &Connection,
        pi: &str,
        ty: u32,
        visit: &mut dyn FnMut(&str),
    ) -> StoreResult<()> {
        let mut stmt =
            conn.prepare_cached("SELECT ri, body FROM resources WHERE pi = ?1 AND ty = ?2")?;
        let mut rows = stmt.query(params![pi, ty])?;
        while let Some(row) = rows.next()? {
            let body = row.get_ref(1)?.as_str().map_err(|e| StoreError::Corrupt {
                ri: row.get::<_, String>(0).unwrap_or_default(),
                reason: e.to_string(),
            })?;
            visit(body);
        }
        Ok(())
    }
    /// Resources that have subscription children.
    pub(super) fn watched(conn: &Connection) -> StoreResult<HashSet<String>> {
        let mut stmt = conn.prepare("SELECT DISTINCT pi FROM resources WHERE ty = 23")?;
        let rows = stmt.query_map([], |row| row.get::<_, String>(0))?;
        let mut out = HashSet::new();
        for row in rows {
            out.insert(row?);
        }
        Ok(out)
    }
}

/// Plain queries on a connection; the cache is added by `CachedReader` and
/// `JobTxn`.
trait HasConn {
    fn conn(&self) -> &Connection;
}

impl<T: HasConn> ReadTxn for T {
    fn get(&self, ri: &str) -> StoreResult<Option<Resource>> {
        sql::get(self.conn(), ri)
    }
    fn get_by_path(&self, path: &str) -> StoreResult<Option<Resource>> {
        sql::get_by_path(self.conn(), path)
    }
    fn children(&self, pi: &str, ty: Option<u32>) -> StoreResult<Vec<Resource>> {
        sql::children(self.conn(), pi, ty)
    }
    fn count_children(&self, pi: &str, ty: u32) -> StoreResult<u64> {
        sql::count_children(self.conn(), pi, ty)
    }
    fn edge_child(&self, pi: &str, ty: u32, newest: bool) -> StoreResult<Option<Resource>> {
        sql::edge_child(self.conn(), pi, ty, newest)
    }
    fn descendants(&self, path: &str) -> StoreResult<Vec<Resource>> {
        sql::descendants(self.conn(), path)
    }
    fn descendants_except(&self, path: &str, skip: &[u32]) -> StoreResult<Vec<Resource>> {
        if skip.is_empty() {
            return sql::descendants(self.conn(), path);
        }
        sql::descendants_except(self.conn(), path, skip)
    }
    fn descendant_ids(&self, path: &str) -> StoreResult<Vec<String>> {
        sql::descendant_ids(self.conn(), path)
    }
    fn descendants_with_label(&self, path: &str, label: &str) -> StoreResult<Vec<Resource>> {
        sql::descendants_with_label(self.conn(), path, label)
    }
    fn of_type(&self, ty: u32) -> StoreResult<Vec<Resource>> {
        sql::of_type(self.conn(), ty)
    }
    fn nodes_with_id(&self, ni: &str) -> StoreResult<Vec<Resource>> {
        sql::nodes_with_id(self.conn(), ni)
    }
    fn instance_with_dgt(&self, pi: &str, dgt: &str) -> StoreResult<Option<Resource>> {
        sql::instance_with_dgt(self.conn(), pi, dgt)
    }
    fn expired(&self, now: &str, limit: usize) -> StoreResult<Vec<Resource>> {
        sql::expired(self.conn(), now, limit)
    }
    fn scan_children_json(
        &self,
        pi: &str,
        ty: u32,
        visit: &mut dyn FnMut(&str),
    ) -> StoreResult<()> {
        sql::scan_children_json(self.conn(), pi, ty, visit)
    }
}

impl HasConn for PooledReader<'_> {
    fn conn(&self) -> &Connection {
        self.conn
            .as_ref()
            .expect("pooled connection present until drop")
    }
}

impl HasConn for SharedReader<'_> {
    fn conn(&self) -> &Connection {
        &self.guard
    }
}

impl HasConn for SqlTxn<'_> {
    fn conn(&self) -> &Connection {
        self.conn
    }
}

/// The stored body, serialized in place (wrapping the map in a `Value`
/// would copy it first).
fn body_of(resource: &Resource) -> StoreResult<String> {
    serde_json::to_string(&resource.attrs).map_err(|e| StoreError::Corrupt {
        ri: resource.ri().to_owned(),
        reason: e.to_string(),
    })
}

fn map_unique(err: rusqlite::Error) -> StoreError {
    match &err {
        rusqlite::Error::SqliteFailure(e, Some(msg))
            if e.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            if msg.contains("path") {
                StoreError::Duplicate { what: "name" }
            } else {
                StoreError::Duplicate {
                    what: "resource ID",
                }
            }
        }
        _ => StoreError::Database(err),
    }
}

impl WriteTxn for SqlTxn<'_> {
    fn insert(&mut self, resource: &Resource) -> StoreResult<()> {
        let mut stmt = self.conn.prepare_cached(
            "INSERT INTO resources (ri, pi, ty, path, et, creator, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        stmt.execute(params![
            resource.ri(),
            resource.pi(),
            resource.ty,
            resource.path,
            resource.et(),
            resource.creator,
            body_of(resource)?
        ])
        .map_err(map_unique)?;
        let labels = resource.labels();
        if !labels.is_empty() {
            let seq = self.conn.last_insert_rowid();
            let mut stmt = self
                .conn
                .prepare_cached("INSERT OR IGNORE INTO labels (lbl, seq) VALUES (?1, ?2)")?;
            for label in labels {
                stmt.execute(params![label, seq])?;
            }
        }
        Ok(())
    }

    fn update(&mut self, resource: &Resource, labels_changed: bool) -> StoreResult<()> {
        if !labels_changed {
            let changed = self
                .conn
                .prepare_cached("UPDATE resources SET et = ?2, body = ?3 WHERE ri = ?1")?
                .execute(params![resource.ri(), resource.et(), body_of(resource)?])?;
            if changed == 0 {
                return Err(StoreError::Corrupt {
                    ri: resource.ri().to_owned(),
                    reason: "updated resource is gone".into(),
                });
            }
            return Ok(());
        }
        let mut stmt = self.conn.prepare_cached(
            "UPDATE resources SET et = ?2, body = ?3 WHERE ri = ?1 RETURNING seq",
        )?;
        let seq: Option<i64> = stmt
            .query_row(
                params![resource.ri(), resource.et(), body_of(resource)?],
                |row| row.get(0),
            )
            .optional()?;
        let Some(seq) = seq else {
            return Err(StoreError::Corrupt {
                ri: resource.ri().to_owned(),
                reason: "updated resource is gone".into(),
            });
        };
        self.conn
            .prepare_cached("DELETE FROM labels WHERE seq = ?1")?
            .execute([seq])?;
        let mut stmt = self
            .conn
            .prepare_cached("INSERT OR IGNORE INTO labels (lbl, seq) VALUES (?1, ?2)")?;
        for label in resource.labels() {
            stmt.execute(params![label, seq])?;
        }
        Ok(())
    }

    fn delete_tree(&mut self, path: &str) -> StoreResult<usize> {
        let (low, high) = subtree_bounds(path);
        self.conn
            .prepare_cached(
                "DELETE FROM labels WHERE seq IN
                 (SELECT seq FROM resources WHERE path = ?1 OR (path > ?2 AND path < ?3))",
            )?
            .execute(params![path, low, high])?;
        let deleted = self
            .conn
            .prepare_cached("DELETE FROM resources WHERE path = ?1 OR (path > ?2 AND path < ?3)")?
            .execute(params![path, low, high])?;
        Ok(deleted)
    }

    fn outbox_add(&mut self, entries: &[OutboxEntry]) -> StoreResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        // One statement for any number of rows: the entries travel as one
        // JSON array (a fan-out to 1,000 subscribers is one insert).
        let rows: Vec<(&str, &str, &str, Option<&str>)> = entries
            .iter()
            .map(|e| {
                (
                    e.rqi.as_str(),
                    e.target.as_str(),
                    e.body.as_str(),
                    e.subscription.as_deref(),
                )
            })
            .collect();
        let rows = serde_json::to_string(&rows).map_err(|e| StoreError::Corrupt {
            ri: "outbox".into(),
            reason: e.to_string(),
        })?;
        self.conn
            .prepare_cached(
                "INSERT INTO outbox (rqi, owner, target, body, subscription)
                 SELECT json_extract(value, '$[0]'), ?1, json_extract(value, '$[1]'),
                        json_extract(value, '$[2]'), json_extract(value, '$[3]')
                 FROM json_each(?2)",
            )?
            .execute(params![self.owner, rows])?;
        Ok(())
    }

    fn outbox_remove(&mut self, rqis: &[String]) -> StoreResult<usize> {
        if rqis.is_empty() {
            return Ok(0);
        }
        let rqis = serde_json::to_string(rqis).map_err(|e| StoreError::Corrupt {
            ri: "outbox".into(),
            reason: e.to_string(),
        })?;
        Ok(self
            .conn
            .prepare_cached("DELETE FROM outbox WHERE rqi IN (SELECT value FROM json_each(?1))")?
            .execute([rqis])?)
    }

    fn outbox_claim(&mut self, limit: usize) -> StoreResult<Vec<OutboxEntry>> {
        // One process writes an SQLite file: every owner but this run is gone.
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = self.conn.prepare_cached(
            "UPDATE outbox SET owner = ?1 WHERE seq IN
             (SELECT seq FROM outbox WHERE owner <> ?1 ORDER BY seq LIMIT ?2)
             RETURNING seq, rqi, target, body, subscription",
        )?;
        let rows = stmt.query_map(params![self.owner, limit], outbox_row)?;
        let mut claimed = rows.collect::<Result<Vec<_>, _>>()?;
        claimed.sort_by_key(|(seq, _)| *seq);
        Ok(claimed.into_iter().map(|(_, entry)| entry).collect())
    }

    fn outbox_list(&mut self, limit: usize) -> StoreResult<Vec<OutboxEntry>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, rqi, target, body, subscription FROM outbox ORDER BY seq LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit], outbox_row)?;
        let listed = rows.collect::<Result<Vec<_>, _>>()?;
        Ok(listed.into_iter().map(|(_, entry)| entry).collect())
    }

    fn batch_add(&mut self, subscription: &str, item: &str, added_ms: i64) -> StoreResult<u64> {
        self.conn
            .prepare_cached(
                "INSERT INTO batch_items (subscription, added_ms, item) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![subscription, added_ms, item])?;
        let held: i64 = self
            .conn
            .prepare_cached("SELECT count(*) FROM batch_items WHERE subscription = ?1")?
            .query_row([subscription], |row| row.get(0))?;
        Ok(u64::try_from(held).unwrap_or(0))
    }

    fn batch_take(&mut self, subscription: &str) -> StoreResult<Vec<String>> {
        let mut stmt = self.conn.prepare_cached(
            "DELETE FROM batch_items WHERE subscription = ?1 RETURNING seq, item",
        )?;
        let rows = stmt.query_map([subscription], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
        })?;
        let mut taken = rows.collect::<Result<Vec<_>, _>>()?;
        taken.sort_by_key(|(seq, _)| *seq);
        Ok(taken.into_iter().map(|(_, item)| item).collect())
    }

    fn batches_pending(&mut self, subscription: Option<&str>) -> StoreResult<Vec<(String, i64)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT subscription, min(added_ms) FROM batch_items
             WHERE ?1 IS NULL OR subscription = ?1 GROUP BY subscription",
        )?;
        let rows = stmt.query_map([subscription], |row| Ok((row.get(0)?, row.get(1)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

fn outbox_row(row: &Row<'_>) -> rusqlite::Result<(i64, OutboxEntry)> {
    Ok((
        row.get(0)?,
        OutboxEntry {
            rqi: row.get(1)?,
            target: row.get(2)?,
            body: row.get(3)?,
            subscription: row.get(4)?,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(conn: &Connection, sql: &str) -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let values = vec!["x"; stmt.parameter_count()];
        let rows = stmt
            .query_map(rusqlite::params_from_iter(values), |row| {
                row.get::<_, String>(3)
            })
            .unwrap();
        rows.collect::<Result<Vec<_>, _>>().unwrap().join("; ")
    }

    #[test]
    fn lookups_inside_the_body_use_their_indexes() {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn).unwrap();
        for (tail, index) in [
            (NODES_WITH_ID, "resources_node_ids"),
            (INSTANCE_WITH_DGT, "resources_instance_times"),
        ] {
            let plan = plan(&conn, &format!("SELECT {COLUMNS} FROM {tail}"));
            assert!(
                plan.contains(&format!("USING INDEX {index}")),
                "{tail} scans: {plan}"
            );
        }
    }

    #[test]
    fn an_existing_store_gains_the_node_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("urbis.db");
        {
            // a store of schema version 2, from before the index
            let conn = Connection::open(&path).unwrap();
            migrate(&conn).unwrap();
            conn.execute_batch("DROP INDEX resources_node_ids").unwrap();
        }
        let conn = Connection::open(&path).unwrap();
        migrate(&conn).unwrap();
        let found: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'resources_node_ids'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(found, 1);
    }
}
