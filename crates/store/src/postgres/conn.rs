//! The queries, over any connection that runs statements ([`Sql`]), and the
//! readers' connection ([`Conn`]).
//!
//! A [`Conn`] belongs to one reader thread for its whole life: the `postgres`
//! client runs a runtime of its own and must not be used from inside Tokio,
//! so no async task ever touches it. The writer has a pipelining connection
//! of its own (`pipeline.rs`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use ::postgres::error::SqlState;
use ::postgres::types::ToSql;
use ::postgres::{Client, Config, NoTls, Row, Statement};
use urbis_model::{Attrs, Resource};

use super::pipeline::{Params, Queued};
use crate::{OutboxEntry, ReadTxn, StoreError, StoreResult, WriteTxn};

/// A connection that runs prepared statements.
pub(super) trait Sql {
    fn query(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<Vec<Row>>;
    fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<u64>;
    /// Simple-protocol statements (transaction control, DDL).
    fn batch(&mut self, sql: &str) -> StoreResult<()>;
}

pub(super) struct Conn {
    config: Config,
    read_only: bool,
    client: Option<Client>,
    /// Prepared statements by their text, for the life of the session.
    statements: HashMap<String, Statement>,
}

impl Conn {
    pub(super) fn open(config: &Config, read_only: bool) -> StoreResult<Conn> {
        let mut conn = Conn {
            config: config.clone(),
            read_only,
            client: None,
            statements: HashMap::new(),
        };
        conn.ready()?;
        Ok(conn)
    }

    /// Reconnect if the session is gone (server restart, network). Call only
    /// between transactions: a new session must never carry on half a job.
    pub(super) fn ready(&mut self) -> StoreResult<()> {
        if self.client.as_ref().is_some_and(|c| !c.is_closed()) {
            return Ok(());
        }
        self.client = None;
        self.statements.clear();
        let mut client = self.config.connect(NoTls)?;
        if self.read_only {
            client.batch_execute("SET default_transaction_read_only = on")?;
        }
        self.client = Some(client);
        Ok(())
    }

    fn client(&mut self) -> StoreResult<&mut Client> {
        self.client
            .as_mut()
            .ok_or_else(|| StoreError::Open("not connected to PostgreSQL".into()))
    }

    fn note<T>(&mut self, result: Result<T, ::postgres::Error>) -> StoreResult<T> {
        result.map_err(|err| {
            if session_ended(&err) {
                // reconnect at the next `ready`, rather than fail once more
                // on a session the server has already closed
                self.client = None;
            }
            classify(err)
        })
    }

    fn prepared(&mut self, sql: &str) -> StoreResult<Statement> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let result = self.client()?.prepare(sql);
        let statement = self.note(result)?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

impl Sql for Conn {
    fn query(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<Vec<Row>> {
        let statement = self.prepared(sql)?;
        let result = self.client()?.query(&statement, params);
        self.note(result)
    }

    fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<u64> {
        let statement = self.prepared(sql)?;
        let result = self.client()?.execute(&statement, params);
        self.note(result)
    }

    fn batch(&mut self, sql: &str) -> StoreResult<()> {
        let result = self.client()?.batch_execute(sql);
        self.note(result)
    }
}

/// Callers are told a write is done once COMMIT returns; that must mean it
/// is on disk. A server configured otherwise is overruled for this session
/// (`synchronous_commit`) or at least named in the log (`fsync`).
/// `synchronous_commit` and `fsync` as the server has them: a reason to turn
/// the first on for the writer's session, a reason to warn for the second.
pub(super) fn durability_advice(
    synchronous_commit: Option<&str>,
    fsync: Option<&str>,
) -> Option<&'static str> {
    if fsync == Some("off") {
        tracing::error!(
            "the PostgreSQL server runs with fsync = off: acknowledged writes can be lost on a crash"
        );
    }
    if synchronous_commit == Some("off") {
        tracing::warn!(
            "the server has synchronous_commit = off; the store turns it on for its writes"
        );
        return Some("SET synchronous_commit = on");
    }
    None
}

/// The server ended the session (FATAL, e.g. terminated by an administrator
/// or a shutdown), or the connection is gone.
pub(super) fn session_ended(err: &::postgres::Error) -> bool {
    use ::postgres::error::Severity;
    err.is_closed()
        || err.as_db_error().is_some_and(|db| {
            matches!(
                db.parsed_severity(),
                Some(Severity::Fatal | Severity::Panic)
            )
        })
}

/// A uniqueness clash is the caller's conflict, anything else the database's.
pub(super) fn classify(err: ::postgres::Error) -> StoreError {
    if err.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        let on_path = err
            .as_db_error()
            .and_then(|db| db.constraint())
            .is_some_and(|c| c.contains("path"));
        return StoreError::Duplicate {
            what: if on_path { "name" } else { "resource ID" },
        };
    }
    StoreError::Postgres(err)
}

macro_rules! select {
    ($rest:literal) => {
        concat!("SELECT ri, ty, path, creator, body FROM resources ", $rest)
    };
}

const GET: &str = select!("WHERE ri = $1");
const GET_BY_PATH: &str = select!("WHERE path = $1");
const CHILDREN: &str = select!("WHERE pi = $1 ORDER BY seq");
const CHILDREN_OF_TYPE: &str = select!("WHERE pi = $1 AND ty = $2 ORDER BY seq");
const COUNT_CHILDREN: &str = "SELECT count(*) FROM resources WHERE pi = $1 AND ty = $2";
const NEWEST_CHILD: &str = select!("WHERE pi = $1 AND ty = $2 ORDER BY seq DESC LIMIT 1");
const OLDEST_CHILD: &str = select!("WHERE pi = $1 AND ty = $2 ORDER BY seq LIMIT 1");
const DESCENDANTS: &str = select!("WHERE path > $1 AND path < $2 ORDER BY seq");
const DESCENDANTS_WITH_LABEL: &str =
    "SELECT r.ri, r.ty, r.path, r.creator, r.body FROM labels l JOIN resources r ON r.seq = l.seq
     WHERE l.lbl = $1 AND r.path > $2 AND r.path < $3 ORDER BY r.seq";
const EXPIRED: &str = select!("WHERE et IS NOT NULL AND et < $1 ORDER BY et LIMIT $2");
/// Nodes by their `ni`. `body` is text: the expression is the one the
/// `resources_node_ids` index (migration 3) is built on, and `ty = 14` its
/// predicate, both written out so that the planner matches them (see there
/// for the `replace`).
const NODES_WITH_ID: &str = select!(
    r"WHERE ty = 14 AND (replace(body, E'\\u0000', E'\\ufffd')::jsonb ->> 'ni') = $1 ORDER BY seq"
);
/// A series' instance by its `dgt`, on the expression and predicate of the
/// `resources_instance_times` index (migration 6), as `NODES_WITH_ID`.
const INSTANCE_WITH_DGT: &str = select!(
    r"WHERE ty = 30 AND pi = $1 AND (replace(body, E'\\u0000', E'\\ufffd')::jsonb ->> 'dgt') = $2"
);
const WATCHED: &str = "SELECT DISTINCT pi FROM resources WHERE ty = 23";
/// The row and its labels in one round trip. A clash returns no row rather
/// than an error, which would abort the whole transaction.
const INSERT: &str = "WITH r AS (
        INSERT INTO resources (ri, pi, ty, path, et, creator, body)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT DO NOTHING RETURNING seq),
    l AS (INSERT INTO labels (lbl, seq) SELECT DISTINCT x, r.seq FROM r, unnest($8::text[]) AS x)
    SELECT seq FROM r";
/// A read for a read-modify-write: the row stays locked until the
/// transaction ends, so writers on other nodes wait for it.
const LOCK: &str = select!("WHERE ri = $1 FOR UPDATE");
const LOCK_NOWAIT: &str = select!("WHERE ri = $1 FOR UPDATE NOWAIT");
/// Many new resources with their labels in one statement (`$8`/`$9`: the
/// labels as pairs of `ri` and label). Rows are numbered (`seq`) in array
/// order. Answers how many were inserted: fewer means a clash.
const INSERT_MANY: &str = r#"WITH r AS (
        INSERT INTO resources (ri, pi, ty, path, et, creator, body)
        SELECT * FROM unnest($1::text[], $2::text[], $3::int4[], $4::text[], $5::text[],
                             $6::text[], $7::text[])
        ON CONFLICT DO NOTHING RETURNING seq, ri),
    l AS (INSERT INTO labels (lbl, seq)
        SELECT DISTINCT x.lbl, r.seq FROM r JOIN unnest($8::text[], $9::text[]) AS x(ri, lbl)
        ON r.ri = x.ri COLLATE "C")
    SELECT count(*) FROM r"#;

/// Many attribute updates (the group's deferred ones) in one statement.
pub(super) const UPDATE_MANY: &str = r#"UPDATE resources AS r SET et = u.et, body = u.body
    FROM unnest($1::text[], $2::text[], $3::text[]) AS u(ri, et, body)
    WHERE r.ri = u.ri COLLATE "C""#;
const PATH_TAKEN: &str = "SELECT 1 FROM resources WHERE path = $1";
const UPDATE: &str = "UPDATE resources SET et = $2, body = $3 WHERE ri = $1";
const UPDATE_RETURNING_SEQ: &str =
    "UPDATE resources SET et = $2, body = $3 WHERE ri = $1 RETURNING seq";
/// Drops the labels no longer carried and adds the new ones; the two sets are
/// disjoint, so both halves can run in one statement.
const RELABEL: &str = "WITH gone AS (
        DELETE FROM labels WHERE seq = $1::bigint AND NOT (lbl = ANY($2::text[])))
    INSERT INTO labels (lbl, seq) SELECT DISTINCT x, $1::bigint FROM unnest($2::text[]) AS x
    ON CONFLICT DO NOTHING";
const DELETE_TREE: &str = "WITH gone AS (
        DELETE FROM resources WHERE path = $1 OR (path > $2 AND path < $3) RETURNING seq),
    l AS (DELETE FROM labels WHERE seq IN (SELECT seq FROM gone))
    SELECT count(*) FROM gone";

/// Entries in array order (`seq` keeps it), owned by this writer's session.
const OUTBOX_ADD: &str = "INSERT INTO outbox (rqi, owner, target, body, subscription)
    SELECT u.rqi, pg_backend_pid(), u.target, u.body, u.subscription
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
         WITH ORDINALITY AS u(rqi, target, body, subscription, n)
    ORDER BY u.n";
/// The new row is not yet visible to the count's snapshot: add it.
const BATCH_ADD: &str = "WITH added AS (
        INSERT INTO batch_items (subscription, added_ms, item) VALUES ($1, $2, $3) RETURNING 1)
    SELECT (SELECT count(*) FROM batch_items WHERE subscription = $1)
         + (SELECT count(*) FROM added)";
const BATCH_TAKE: &str = "DELETE FROM batch_items WHERE subscription = $1 RETURNING seq, item";
const BATCHES_PENDING: &str = "SELECT subscription, min(added_ms) FROM batch_items
    WHERE $1::text IS NULL OR subscription = $1 GROUP BY subscription";
const OUTBOX_REMOVE: &str = "DELETE FROM outbox WHERE rqi = ANY($1::text[])";
/// A node lives as long as the writer session that holds its `nodes`
/// advisory lock (`locks.rs`); the owner of an entry is that session's pid.
/// The live ones are the sessions holding the same lock as this one (same
/// database, same schema key). Entries of any other owner are taken over;
/// `SKIP LOCKED` and the owner check keep two claimers from both taking one.
const OUTBOX_CLAIM: &str = "WITH live AS (
        SELECT l.pid FROM pg_locks mine JOIN pg_locks l
          ON l.locktype = 'advisory' AND l.database = mine.database
         AND l.classid = mine.classid AND l.objid = mine.objid AND l.objsubid = mine.objsubid
        WHERE mine.pid = pg_backend_pid() AND mine.locktype = 'advisory'
          AND mine.classid = $1 AND mine.objsubid = 2 AND mine.granted
          AND l.granted AND l.pid IS NOT NULL)
    UPDATE outbox SET owner = pg_backend_pid() WHERE seq IN (
        SELECT seq FROM outbox
        WHERE owner <> pg_backend_pid() AND owner NOT IN (SELECT pid FROM live)
        ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED)
    RETURNING seq, rqi, target, body, subscription";
const OUTBOX_LIST: &str =
    "SELECT seq, rqi, target, body, subscription FROM outbox ORDER BY seq LIMIT $1";

fn outbox_entries(rows: Vec<Row>) -> StoreResult<Vec<OutboxEntry>> {
    let mut entries = rows
        .iter()
        .map(|row| {
            Ok((
                row.try_get::<_, i64>(0)?,
                OutboxEntry {
                    rqi: row.try_get(1)?,
                    target: row.try_get(2)?,
                    body: row.try_get(3)?,
                    subscription: row.try_get(4)?,
                },
            ))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    entries.sort_by_key(|(seq, _)| *seq);
    Ok(entries.into_iter().map(|(_, entry)| entry).collect())
}

/// `path/` and `path0` bound every path strictly below `path` ('0' follows
/// '/' in the "C" collation of the path column).
fn subtree_bounds(path: &str) -> (String, String) {
    (format!("{path}/"), format!("{path}0"))
}

fn decode(row: &Row) -> StoreResult<Resource> {
    let ri: String = row.try_get(0)?;
    let ty: i32 = row.try_get(1)?;
    let body: &str = row.try_get(4)?;
    let corrupt = |reason: String| StoreError::Corrupt {
        ri: ri.clone(),
        reason,
    };
    let ty = u32::try_from(ty).map_err(|_| corrupt(format!("negative type {ty}")))?;
    let attrs: Attrs = serde_json::from_str(body).map_err(|e| corrupt(e.to_string()))?;
    Ok(Resource {
        ty,
        path: row.try_get(2)?,
        creator: row.try_get(3)?,
        attrs,
    })
}

fn decode_all(rows: Vec<Row>) -> StoreResult<Vec<Resource>> {
    rows.iter().map(decode).collect()
}

fn first(rows: Vec<Row>) -> StoreResult<Option<Resource>> {
    rows.first().map(decode).transpose()
}

/// The statement that inserts `resources` (with their labels), to be
/// queued on the writer's pipeline; a clash fails the exchange.
pub(super) fn insert_many(resources: &[Arc<Resource>]) -> StoreResult<Queued> {
    let mut tys = Vec::with_capacity(resources.len());
    for resource in resources {
        tys.push(ty_param(resource.ty)?);
    }
    let owned = |f: &dyn Fn(&Resource) -> String| -> Vec<String> {
        resources.iter().map(|r| f(r)).collect()
    };
    let ets: Vec<Option<String>> = resources
        .iter()
        .map(|r| r.et().map(str::to_owned))
        .collect();
    let (mut label_ris, mut labels) = (Vec::new(), Vec::new());
    for resource in resources {
        for label in resource.labels() {
            label_ris.push(resource.ri().to_owned());
            labels.push(label.to_owned());
        }
    }
    let params: Params = vec![
        Box::new(owned(&|r| r.ri().to_owned())),
        Box::new(owned(&|r| r.pi().to_owned())),
        Box::new(tys),
        Box::new(owned(&|r| r.path.clone())),
        Box::new(ets),
        Box::new(owned(&|r| r.creator.clone())),
        Box::new(owned(&|r| body_of(r))),
        Box::new(label_ris),
        Box::new(labels),
    ];
    Ok(Queued::Counted {
        sql: INSERT_MANY,
        params,
        expect: resources.len() as i64,
        mismatch: || {
            StoreError::Transaction(
                "a generated resource name was taken meanwhile; the write group is rolled back"
                    .into(),
            )
        },
    })
}

pub(super) fn body_of(resource: &Resource) -> String {
    serde_json::Value::Object(resource.attrs.clone()).to_string()
}

fn ty_param(ty: u32) -> StoreResult<i32> {
    i32::try_from(ty).map_err(|_| StoreError::Open(format!("resource type {ty} out of range")))
}

/// Plain queries on a connection: what a reader thread runs for a caller, and
/// the writer's open transaction. The cache is added by `cached`.
pub(super) struct Raw<'c, C: Sql = Conn> {
    conn: RefCell<&'c mut C>,
}

impl<'c, C: Sql> Raw<'c, C> {
    pub(super) fn new(conn: &'c mut C) -> Self {
        Raw {
            conn: RefCell::new(conn),
        }
    }

    fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<Vec<Row>> {
        self.conn.borrow_mut().query(sql, params)
    }

    /// Read `ri` and lock its row until the transaction ends; without
    /// `wait`, fail at once (SQLSTATE 55P03) if another transaction holds it.
    pub(super) fn lock_row(&self, ri: &str, wait: bool) -> StoreResult<Option<Resource>> {
        let sql = if wait { LOCK } else { LOCK_NOWAIT };
        first(self.query(sql, &[&ri])?)
    }

    pub(super) fn outbox_add(&self, entries: &[OutboxEntry]) -> StoreResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let rqis: Vec<&str> = entries.iter().map(|e| e.rqi.as_str()).collect();
        let targets: Vec<&str> = entries.iter().map(|e| e.target.as_str()).collect();
        let bodies: Vec<&str> = entries.iter().map(|e| e.body.as_str()).collect();
        let subscriptions: Vec<Option<&str>> =
            entries.iter().map(|e| e.subscription.as_deref()).collect();
        self.conn
            .borrow_mut()
            .execute(OUTBOX_ADD, &[&rqis, &targets, &bodies, &subscriptions])?;
        Ok(())
    }

    /// One statement: the count includes the row it inserts.
    pub(super) fn batch_add(
        &self,
        subscription: &str,
        item: &str,
        added_ms: i64,
    ) -> StoreResult<u64> {
        let rows = self.query(BATCH_ADD, &[&subscription, &added_ms, &item])?;
        let held: i64 = match rows.first() {
            Some(row) => row.try_get(0)?,
            None => 0,
        };
        Ok(u64::try_from(held).unwrap_or(0))
    }

    pub(super) fn batch_take(&self, subscription: &str) -> StoreResult<Vec<String>> {
        let rows = self.query(BATCH_TAKE, &[&subscription])?;
        let mut taken = rows
            .iter()
            .map(|row| Ok((row.try_get::<_, i64>(0)?, row.try_get::<_, String>(1)?)))
            .collect::<StoreResult<Vec<_>>>()?;
        taken.sort_by_key(|(seq, _)| *seq);
        Ok(taken.into_iter().map(|(_, item)| item).collect())
    }

    pub(super) fn batches_pending(
        &self,
        subscription: Option<&str>,
    ) -> StoreResult<Vec<(String, i64)>> {
        let rows = self.query(BATCHES_PENDING, &[&subscription])?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect()
    }

    pub(super) fn outbox_remove(&self, rqis: &[String]) -> StoreResult<usize> {
        if rqis.is_empty() {
            return Ok(0);
        }
        let removed = self.conn.borrow_mut().execute(OUTBOX_REMOVE, &[&rqis])?;
        Ok(usize::try_from(removed).unwrap_or(usize::MAX))
    }

    pub(super) fn outbox_claim(&self, limit: usize) -> StoreResult<Vec<OutboxEntry>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let nodes = super::locks::NODES as u32;
        outbox_entries(self.query(OUTBOX_CLAIM, &[&nodes, &limit])?)
    }

    pub(super) fn outbox_list(&self, limit: usize) -> StoreResult<Vec<OutboxEntry>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        outbox_entries(self.query(OUTBOX_LIST, &[&limit])?)
    }

    /// Resources that have subscription children.
    pub(super) fn watched(&self) -> StoreResult<Vec<String>> {
        self.query(WATCHED, &[])?
            .iter()
            .map(|row| Ok(row.try_get(0)?))
            .collect()
    }
}

impl<C: Sql> ReadTxn for Raw<'_, C> {
    fn get(&self, ri: &str) -> StoreResult<Option<Resource>> {
        first(self.query(GET, &[&ri])?)
    }
    fn get_by_path(&self, path: &str) -> StoreResult<Option<Resource>> {
        first(self.query(GET_BY_PATH, &[&path])?)
    }
    fn children(&self, pi: &str, ty: Option<u32>) -> StoreResult<Vec<Resource>> {
        decode_all(match ty {
            Some(ty) => self.query(CHILDREN_OF_TYPE, &[&pi, &ty_param(ty)?])?,
            None => self.query(CHILDREN, &[&pi])?,
        })
    }
    fn count_children(&self, pi: &str, ty: u32) -> StoreResult<u64> {
        let rows = self.query(COUNT_CHILDREN, &[&pi, &ty_param(ty)?])?;
        let count: i64 = match rows.first() {
            Some(row) => row.try_get(0)?,
            None => 0,
        };
        Ok(count.max(0) as u64)
    }
    fn edge_child(&self, pi: &str, ty: u32, newest: bool) -> StoreResult<Option<Resource>> {
        let sql = if newest { NEWEST_CHILD } else { OLDEST_CHILD };
        first(self.query(sql, &[&pi, &ty_param(ty)?])?)
    }
    fn descendants(&self, path: &str) -> StoreResult<Vec<Resource>> {
        let (low, high) = subtree_bounds(path);
        decode_all(self.query(DESCENDANTS, &[&low, &high])?)
    }
    fn descendants_with_label(&self, path: &str, label: &str) -> StoreResult<Vec<Resource>> {
        let (low, high) = subtree_bounds(path);
        decode_all(self.query(DESCENDANTS_WITH_LABEL, &[&label, &low, &high])?)
    }
    fn of_type(&self, ty: u32) -> StoreResult<Vec<Resource>> {
        // A literal (ty is an integer, so this is safe) lets the planner use
        // the partial index that groups and timeSeries have; a parameter would not.
        let sql = format!(select!("WHERE ty = {} ORDER BY seq"), ty);
        decode_all(self.query(&sql, &[])?)
    }
    fn instance_with_dgt(&self, pi: &str, dgt: &str) -> StoreResult<Option<Resource>> {
        // as for `ni`: NUL is indexed as U+FFFD, the row is held to the exact `dgt`
        let indexed = dgt.replace('\0', "\u{fffd}");
        let mut found = decode_all(self.query(INSTANCE_WITH_DGT, &[&pi, &indexed])?)?;
        found.retain(|r| r.str_attr("dgt") == Some(dgt));
        Ok(found.pop())
    }
    fn nodes_with_id(&self, ni: &str) -> StoreResult<Vec<Resource>> {
        // The index holds NUL as U+FFFD (PostgreSQL text cannot hold NUL);
        // the rows are then held to the exact `ni`.
        let indexed = ni.replace('\0', "\u{fffd}");
        let mut found = decode_all(self.query(NODES_WITH_ID, &[&indexed])?)?;
        found.retain(|r| r.str_attr("ni") == Some(ni));
        Ok(found)
    }
    fn expired(&self, now: &str, limit: usize) -> StoreResult<Vec<Resource>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        decode_all(self.query(EXPIRED, &[&now, &limit])?)
    }
}

impl<C: Sql> WriteTxn for Raw<'_, C> {
    fn insert(&mut self, resource: &Resource) -> StoreResult<()> {
        let labels = resource.labels();
        let rows = self.query(
            INSERT,
            &[
                &resource.ri(),
                &resource.pi(),
                &ty_param(resource.ty)?,
                &resource.path,
                &resource.et(),
                &resource.creator,
                &body_of(resource),
                &labels,
            ],
        )?;
        if !rows.is_empty() {
            return Ok(());
        }
        let name_taken = !self.query(PATH_TAKEN, &[&resource.path])?.is_empty();
        Err(StoreError::Duplicate {
            what: if name_taken { "name" } else { "resource ID" },
        })
    }

    fn update(&mut self, resource: &Resource, labels_changed: bool) -> StoreResult<()> {
        let gone = || StoreError::Corrupt {
            ri: resource.ri().to_owned(),
            reason: "updated resource is gone".into(),
        };
        let params: [&(dyn ToSql + Sync); 3] = [&resource.ri(), &resource.et(), &body_of(resource)];
        let conn = self.conn.get_mut();
        if !labels_changed {
            return match conn.execute(UPDATE, &params)? {
                0 => Err(gone()),
                _ => Ok(()),
            };
        }
        let rows = conn.query(UPDATE_RETURNING_SEQ, &params)?;
        let seq: i64 = rows.first().ok_or_else(gone)?.try_get(0)?;
        conn.execute(RELABEL, &[&seq, &resource.labels()])?;
        Ok(())
    }

    fn delete_tree(&mut self, path: &str) -> StoreResult<usize> {
        let (low, high) = subtree_bounds(path);
        let rows = self.query(DELETE_TREE, &[&path, &low, &high])?;
        let deleted: i64 = match rows.first() {
            Some(row) => row.try_get(0)?,
            None => 0,
        };
        Ok(deleted.max(0) as usize)
    }

    fn outbox_add(&mut self, entries: &[OutboxEntry]) -> StoreResult<()> {
        Raw::outbox_add(self, entries)
    }

    fn outbox_remove(&mut self, rqis: &[String]) -> StoreResult<usize> {
        Raw::outbox_remove(self, rqis)
    }

    fn outbox_claim(&mut self, limit: usize) -> StoreResult<Vec<OutboxEntry>> {
        Raw::outbox_claim(self, limit)
    }

    fn outbox_list(&mut self, limit: usize) -> StoreResult<Vec<OutboxEntry>> {
        Raw::outbox_list(self, limit)
    }

    fn batch_add(&mut self, subscription: &str, item: &str, added_ms: i64) -> StoreResult<u64> {
        Raw::batch_add(self, subscription, item, added_ms)
    }

    fn batch_take(&mut self, subscription: &str) -> StoreResult<Vec<String>> {
        Raw::batch_take(self, subscription)
    }

    fn batches_pending(&mut self, subscription: Option<&str>) -> StoreResult<Vec<(String, i64)>> {
        Raw::batches_pending(self, subscription)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postgres::{PostgresStore, ScratchSchema};

    /// The node lookup's expression is the index's: with sequential scans
    /// off (a test table is too small to bother otherwise), the planner
    /// takes `resources_node_ids`.
    #[test]
    fn lookups_inside_the_body_use_their_indexes() {
        let Ok(url) = std::env::var("URBIS_TEST_DATABASE_URL") else {
            eprintln!("URBIS_TEST_DATABASE_URL not set: PostgreSQL plan not checked");
            return;
        };
        let schema = ScratchSchema::create(&url).unwrap();
        drop(PostgresStore::open(schema.url(), 1).unwrap()); // migrates
        let mut client = Client::connect(schema.url(), NoTls).unwrap();
        client.batch_execute("SET enable_seqscan = off").unwrap();
        let lookups: [(&str, &[&(dyn postgres::types::ToSql + Sync)], &str); 2] = [
            (NODES_WITH_ID, &[&"urn:dev:x"], "resources_node_ids"),
            (
                INSTANCE_WITH_DGT,
                &[&"ts1", &"20261202T000000"],
                "resources_instance_times",
            ),
        ];
        for (sql, params, index) in lookups {
            let plan: Vec<String> = client
                .query(&format!("EXPLAIN {sql}"), params)
                .unwrap()
                .iter()
                .map(|row| row.get(0))
                .collect();
            let plan = plan.join("\n");
            assert!(plan.contains(index), "{sql} scans: {plan}");
        }
    }
}
