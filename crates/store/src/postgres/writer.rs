//! The writer thread: owns the one connection that writes, migrates the
//! schema at start, then commits jobs in groups (`group.rs`).
//!
//! Round trips are what a PostgreSQL group costs, so the writer saves them:
//! - transaction control rides along with the next statement (`pipeline`),
//!   and a job's savepoint is only set if the job sends a statement;
//! - attribute updates (container counters: `cni`, `cbs`, `st`) are kept in
//!   the group's log and written at COMMIT, one statement for the group and
//!   one row version per resource, however many jobs changed it;
//! - reads of what the group wrote are answered from the log.
//!
//! On a database shared by several nodes (`shared`), a job's read for a
//! read-modify-write (`WriteTxn::lock`) takes the row lock (`FOR UPDATE`),
//! which serializes writers of one container across nodes.

use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use ::postgres::error::SqlState;
use ::postgres::types::ToSql;
use tokio_postgres::Config;
use urbis_model::Resource;

use super::conn::{body_of, insert_many, Raw, Sql, UPDATE_MANY};
use super::pipeline::Pipeline;
use super::{locks, schema};
use crate::cache::Cache;
use crate::group::{self, Step};
use crate::group_log::{named_by_cse, Entry, GroupLog, Savepoint, State};
use crate::{OutboxEntry, ReadTxn, StoreError, StoreResult, WriteJob, WriteTxn};

/// How long the writer waits after it could not reach the database before it
/// takes the next group (whose jobs then fail fast, or succeed).
const RECONNECT_PAUSE: Duration = Duration::from_millis(200);

const SUBSCRIPTION: u32 = 23;

/// How the writer shares the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Sharing {
    /// This node is the database's only writer (and makes sure of it).
    SingleNode,
    /// Other nodes write too: rows are locked for read-modify-writes.
    Shared,
}

/// Connect, migrate and learn which resources have subscriptions; then serve
/// jobs until the sender is dropped. Returns once the thread is ready (or
/// could not become so).
pub(super) fn start(
    config: Config,
    sharing: Sharing,
    cache: Arc<Cache>,
) -> StoreResult<(mpsc::Sender<WriteJob>, JoinHandle<()>)> {
    let (jobs, queue) = mpsc::channel::<WriteJob>();
    let (ready_tx, ready) = mpsc::channel::<StoreResult<()>>();
    let thread = std::thread::Builder::new()
        .name("urbis-pg-writer".into())
        .spawn(move || {
            let conn = match prepare(config, sharing, &cache) {
                Ok(conn) => conn,
                Err(err) => {
                    let _ = ready_tx.send(Err(err));
                    return;
                }
            };
            let _ = ready_tx.send(Ok(()));
            drop(ready_tx);
            let mut session = Session {
                conn,
                shared: sharing == Sharing::Shared,
                group: GroupLog::default(),
            };
            serve(&mut session, &cache, &queue);
        })
        .map_err(|e| StoreError::Open(format!("cannot start the writer thread: {e}")))?;
    match ready.recv() {
        Ok(Ok(())) => Ok((jobs, thread)),
        Ok(Err(err)) => {
            let _ = thread.join();
            Err(err)
        }
        Err(_) => {
            let _ = thread.join();
            Err(StoreError::Open(
                "the writer thread died while starting".into(),
            ))
        }
    }
}

fn prepare(config: Config, sharing: Sharing, cache: &Cache) -> StoreResult<Pipeline> {
    let mut conn = Pipeline::open(config)?;
    let schema_key = locks::schema_key(&mut conn)?;
    // One node at a time migrates; the others wait and then find it done.
    locks::with_migration_lock(&mut conn, schema_key, schema::migrate)?;
    conn.on_every_session(locks::node_lock_sql(sharing, schema_key))
        .map_err(|err| match err {
            StoreError::Open(_) => StoreError::Open(match sharing {
                Sharing::SingleNode => "another Urbis node uses this database; \
                     a single-node store needs it alone (leave single_node off to share it)"
                    .into(),
                Sharing::Shared => "a single-node Urbis uses this database; \
                     stop it (or turn its single_node off) before adding nodes"
                    .into(),
            }),
            other => other,
        })?;
    for ri in Raw::new(&mut conn).watched()? {
        cache.watch(&ri);
    }
    Ok(conn)
}

fn serve(session: &mut Session, cache: &Cache, queue: &mpsc::Receiver<WriteJob>) {
    while let Some(group) = group::next_group(queue) {
        if let Err(err) = session.conn.ready() {
            tracing::error!(%err, "the store writer cannot reach PostgreSQL");
            drop(group); // answers every caller with an internal error
            std::thread::sleep(RECONNECT_PAUSE);
            continue;
        }
        if group::run_group(session, cache, group).is_err() {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

struct Session {
    conn: Pipeline,
    shared: bool,
    group: GroupLog,
}

/// Send the group's pending inserts and updates, with `COMMIT`, in one
/// exchange.
fn commit(conn: &mut Pipeline, group: &mut GroupLog) -> StoreResult<()> {
    conn.usable()?;
    send_inserts(conn, group, |_| true)?;
    let deferred = group.deferred();
    if deferred.is_empty() {
        conn.send(None, Some("COMMIT"))?;
        return Ok(());
    }
    let ris: Vec<&str> = deferred.iter().map(|r| r.ri()).collect();
    let ets: Vec<Option<&str>> = deferred.iter().map(|r| r.et()).collect();
    let bodies: Vec<String> = deferred.iter().map(|r| body_of(r)).collect();
    let params: [&(dyn ToSql + Sync); 3] = [&ris, &ets, &bodies];
    conn.send(Some((UPDATE_MANY, &params)), Some("COMMIT"))?;
    Ok(())
}

impl group::Session for Session {
    type Txn<'a> = WriterTxn<'a>;
    const LAZY_SAVEPOINTS: bool = true;

    fn step(&mut self, step: Step) -> StoreResult<()> {
        let (conn, group) = (&mut self.conn, &mut self.group);
        match step {
            Step::Begin => {
                conn.failed = false;
                conn.doomed = false;
                conn.drop_queued();
                group.reset();
                conn.queue("BEGIN");
                Ok(())
            }
            Step::Savepoint => {
                group.start_job();
                Ok(())
            }
            Step::Release => {
                conn.usable()?;
                if group.savepoint == Savepoint::Set {
                    conn.queue("RELEASE SAVEPOINT job");
                }
                group.savepoint = Savepoint::None;
                Ok(())
            }
            Step::RollbackToSavepoint => {
                group.undo_job();
                if group.savepoint == Savepoint::Set {
                    // Goes out with the next statement; the server leaves the
                    // failed state there, before anything else runs.
                    conn.queue("ROLLBACK TO SAVEPOINT job");
                }
                conn.failed = false;
                Ok(())
            }
            Step::Commit => {
                // COMMIT of a failed transaction "succeeds" as a rollback:
                // refuse it here so that nobody is told their write is durable.
                conn.usable()?;
                let result = if !group.open && !group.has_pending() {
                    conn.drop_queued(); // the group sent nothing at all
                    Ok(())
                } else {
                    commit(conn, group)
                };
                group.reset();
                result
            }
            Step::Rollback => {
                conn.drop_queued();
                let result = if group.open {
                    conn.batch("ROLLBACK")
                } else {
                    Ok(())
                };
                conn.failed = false;
                conn.doomed = false;
                group.reset();
                result
            }
        }
    }

    fn txn(&mut self) -> WriterTxn<'_> {
        WriterTxn {
            shared: self.shared,
            inner: std::cell::RefCell::new((&mut self.conn, &mut self.group)),
        }
    }
}

/// A job's transaction on the writer: the group's log in front of the
/// database.
pub(super) struct WriterTxn<'a> {
    shared: bool,
    inner: std::cell::RefCell<(&'a mut Pipeline, &'a mut GroupLog)>,
}

impl WriterTxn<'_> {
    /// Run a statement for the running job: its savepoint goes first.
    fn statement<T>(
        &self,
        f: impl FnOnce(&mut Raw<'_, Pipeline>, &GroupLog) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let mut inner = self.inner.borrow_mut();
        let (conn, group) = &mut *inner;
        prepare_statement(conn, group)?;
        let mut raw = Raw::new(&mut **conn);
        f(&mut raw, group)
    }

    fn log(&self, entry: Entry) {
        let mut inner = self.inner.borrow_mut();
        let group = &mut inner.1;
        group.job_touched = true;
        if let Entry::Wrote { resource, .. } = &entry {
            if resource.ty == SUBSCRIPTION {
                group.subscriptions.remove(resource.pi());
            }
        }
        if matches!(entry, Entry::Deleted(_)) {
            group.subscriptions.clear();
        }
        group.push(entry);
    }

    /// Take the row lock on `ri` (shared databases only).
    fn take_lock(&self, ri: &str) -> StoreResult<Locked> {
        let (others_held, touched) = {
            let inner = self.inner.borrow();
            if inner.1.holds_lock(ri) {
                return Ok(Locked::AlreadyHeld);
            }
            (!inner.1.locked.is_empty(), inner.1.job_touched)
        };
        // Waiting while holding other rows' locks can deadlock with another
        // node's group. If this job has not touched anything yet, commit
        // what the group did so far instead, and then wait with no locks held.
        if others_held && !touched {
            match self.statement(|raw, _| raw.lock_row(ri, false)) {
                Ok(row) => return self.locked(ri, row),
                Err(StoreError::Postgres(err))
                    if err.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) =>
                {
                    self.commit_early()?;
                }
                Err(err) => return Err(err),
            }
        }
        let row = self.statement(|raw, _| raw.lock_row(ri, true))?;
        self.locked(ri, row)
    }

    fn locked(&self, ri: &str, row: Option<Resource>) -> StoreResult<Locked> {
        let mut inner = self.inner.borrow_mut();
        let group = &mut inner.1;
        let job = group.job;
        group.locked.push((job, ri.to_owned()));
        group.job_touched = true;
        Ok(Locked::Fresh(row.and_then(|r| group.patch(r))))
    }

    /// Commit the jobs before this one (which has done nothing yet) and open
    /// a new transaction for the rest of the group.
    fn commit_early(&self) -> StoreResult<()> {
        let mut inner = self.inner.borrow_mut();
        let (conn, group) = &mut *inner;
        conn.queue("ROLLBACK TO SAVEPOINT job");
        conn.queue("RELEASE SAVEPOINT job");
        conn.failed = false;
        let job = group.job;
        commit(conn, group)?;
        group.reset();
        group.job = job;
        group.savepoint = Savepoint::Wanted;
        conn.queue("BEGIN");
        Ok(())
    }
}

enum Locked {
    AlreadyHeld,
    /// Locked now; the row as this group sees it.
    Fresh(Option<Resource>),
}

/// Before any statement of a job, queued ahead of it: the earlier jobs'
/// pending inserts, the job's savepoint (a job that fails after a statement
/// is undone to it), the job's own pending inserts. The statement then sees
/// everything the group wrote but the deferred updates (which the log
/// patches in).
fn prepare_statement(conn: &mut Pipeline, group: &mut GroupLog) -> StoreResult<()> {
    group.open = true;
    let job = group.job;
    send_inserts(conn, group, |j| j != job)?;
    if group.savepoint == Savepoint::Wanted {
        conn.queue("SAVEPOINT job");
        group.savepoint = Savepoint::Set;
    }
    send_inserts(conn, group, |j| j == job)
}

/// Queue the pending inserts of the jobs `which` selects, many rows in one
/// statement.
fn send_inserts(
    conn: &mut Pipeline,
    group: &mut GroupLog,
    which: impl Fn(u32) -> bool,
) -> StoreResult<()> {
    let batch = group.take_inserts(which);
    if !batch.is_empty() {
        conn.queue_statement(insert_many(&batch)?);
    }
    Ok(())
}

impl ReadTxn for WriterTxn<'_> {
    fn get(&self, ri: &str) -> StoreResult<Option<Resource>> {
        if let Some(own) = self.inner.borrow().1.find(ri) {
            return Ok(own.map(|r| (**r).clone()));
        }
        self.statement(|raw, _| raw.get(ri))
    }
    fn get_by_path(&self, path: &str) -> StoreResult<Option<Resource>> {
        if let Some(own) = self.inner.borrow().1.find_path(path) {
            return Ok(Some((**own).clone()));
        }
        self.statement(|raw, group| Ok(raw.get_by_path(path)?.and_then(|r| group.patch(r))))
    }
    fn children(&self, pi: &str, ty: Option<u32>) -> StoreResult<Vec<Resource>> {
        if ty != Some(SUBSCRIPTION) {
            return self.statement(|raw, group| Ok(group.patch_all(raw.children(pi, ty)?)));
        }
        // Nobody else adds subscriptions to a parent whose row this group
        // holds locked (creates lock their parent); a lone node, to none.
        let stable = {
            let inner = self.inner.borrow();
            if let Some(known) = inner.1.subscriptions.get(pi) {
                return Ok(known.clone());
            }
            !self.shared || inner.1.holds_lock(pi)
        };
        let found = self.statement(|raw, group| Ok(group.patch_all(raw.children(pi, ty)?)))?;
        if stable {
            let mut inner = self.inner.borrow_mut();
            inner.1.subscriptions.insert(pi.to_owned(), found.clone());
        }
        Ok(found)
    }
    fn count_children(&self, pi: &str, ty: u32) -> StoreResult<u64> {
        self.statement(|raw, _| raw.count_children(pi, ty))
    }
    fn edge_child(&self, pi: &str, ty: u32, newest: bool) -> StoreResult<Option<Resource>> {
        self.statement(|raw, group| {
            Ok(raw.edge_child(pi, ty, newest)?.and_then(|r| group.patch(r)))
        })
    }
    fn descendants(&self, path: &str) -> StoreResult<Vec<Resource>> {
        self.statement(|raw, group| Ok(group.patch_all(raw.descendants(path)?)))
    }
    fn descendants_with_label(&self, path: &str, label: &str) -> StoreResult<Vec<Resource>> {
        // deferred updates never change labels (those are written at once)
        self.statement(|raw, group| Ok(group.patch_all(raw.descendants_with_label(path, label)?)))
    }
    fn of_type(&self, ty: u32) -> StoreResult<Vec<Resource>> {
        self.statement(|raw, group| Ok(group.patch_all(raw.of_type(ty)?)))
    }
    fn instance_with_dgt(&self, pi: &str, dgt: &str) -> StoreResult<Option<Resource>> {
        // the group's inserts are sent ahead of the statement, and instances
        // are never updated (`dgt` cannot change): patching drops the ones
        // the group deleted
        self.statement(|raw, group| {
            Ok(group
                .patch_all(raw.instance_with_dgt(pi, dgt)?.into_iter().collect())
                .pop())
        })
    }
    fn nodes_with_id(&self, ni: &str) -> StoreResult<Vec<Resource>> {
        self.statement(|raw, group| Ok(group.nodes_with_id(raw.nodes_with_id(ni)?, ni)))
    }
    fn expired(&self, now: &str, limit: usize) -> StoreResult<Vec<Resource>> {
        self.statement(|raw, group| Ok(group.still_expired(raw.expired(now, limit)?, now)))
    }
}

impl WriteTxn for WriterTxn<'_> {
    fn insert(&mut self, resource: &Resource) -> StoreResult<()> {
        self.insert_shared(&Arc::new(resource.clone()))
    }

    fn update(&mut self, resource: &Resource, labels_changed: bool) -> StoreResult<()> {
        self.update_shared(&Arc::new(resource.clone()), labels_changed)
    }

    fn insert_shared(&mut self, resource: &Arc<Resource>) -> StoreResult<()> {
        // A name the CSE generated (the resource ID) cannot clash unless
        // someone chose that very name before: such inserts wait for the
        // next statement or the COMMIT, many rows in one statement (and
        // should one clash after all, the whole group fails, never half).
        // A name the request chose is inserted now, so that a clash is that
        // job's alone (4105).
        let generated = named_by_cse(resource);
        if generated {
            self.inner.borrow().1.check_new(resource)?;
        } else {
            self.statement(|raw, _| raw.insert(resource))?;
        }
        self.log(Entry::Wrote {
            resource: Arc::clone(resource),
            state: match generated {
                true => State::PendingInsert,
                false => State::Applied,
            },
            inserted: true,
        });
        Ok(())
    }

    fn update_shared(&mut self, resource: &Arc<Resource>, labels_changed: bool) -> StoreResult<()> {
        let gone = || StoreError::Corrupt {
            ri: resource.ri().to_owned(),
            reason: "updated resource is gone".into(),
        };
        // The group's own delete; otherwise, on a shared database, the row
        // lock (never overwrite a row another node may be changing) tells.
        if let Some(None) = self.inner.borrow().1.find(resource.ri()) {
            return Err(gone());
        }
        if self.shared {
            if let Locked::Fresh(None) = self.take_lock(resource.ri())? {
                return Err(gone());
            }
        }
        if labels_changed {
            self.statement(|raw, _| raw.update(resource, true))?;
            self.touched();
        }
        self.log(Entry::Wrote {
            resource: Arc::clone(resource),
            state: match labels_changed {
                true => State::Applied,
                false => State::PendingUpdate,
            },
            inserted: false,
        });
        Ok(())
    }

    fn delete_tree(&mut self, path: &str) -> StoreResult<usize> {
        let deleted = self.statement(|raw, _| raw.delete_tree(path))?;
        self.touched();
        self.log(Entry::Deleted(path.to_owned()));
        Ok(deleted)
    }

    fn lock(&mut self, ri: &str) -> StoreResult<Option<Resource>> {
        if self.shared {
            if let Locked::Fresh(row) = self.take_lock(ri)? {
                return Ok(row);
            }
        }
        self.get(ri)
    }

    fn outbox_add(&mut self, entries: &[OutboxEntry]) -> StoreResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        self.outbox(|raw| raw.outbox_add(entries))
    }

    fn outbox_remove(&mut self, rqis: &[String]) -> StoreResult<usize> {
        if rqis.is_empty() {
            return Ok(0);
        }
        self.outbox(|raw| raw.outbox_remove(rqis))
    }

    fn outbox_claim(&mut self, limit: usize) -> StoreResult<Vec<OutboxEntry>> {
        self.outbox(|raw| raw.outbox_claim(limit))
    }

    fn outbox_list(&mut self, limit: usize) -> StoreResult<Vec<OutboxEntry>> {
        self.outbox(|raw| raw.outbox_list(limit))
    }

    fn batch_add(&mut self, subscription: &str, item: &str, added_ms: i64) -> StoreResult<u64> {
        self.outbox(|raw| raw.batch_add(subscription, item, added_ms))
    }

    fn batch_take(&mut self, subscription: &str) -> StoreResult<Vec<String>> {
        self.outbox(|raw| raw.batch_take(subscription))
    }

    fn batches_pending(&mut self, subscription: Option<&str>) -> StoreResult<Vec<(String, i64)>> {
        self.outbox(|raw| raw.batches_pending(subscription))
    }
}

impl WriterTxn<'_> {
    /// An outbox statement for the running job, sent now (with its
    /// savepoint and whatever is queued ahead of it).
    fn outbox<T>(&self, f: impl FnOnce(&Raw<'_, Pipeline>) -> StoreResult<T>) -> StoreResult<T> {
        let result = self.statement(|raw, _| f(raw))?;
        self.touched();
        Ok(result)
    }

    fn touched(&self) {
        self.inner.borrow_mut().1.job_touched = true;
    }
}
