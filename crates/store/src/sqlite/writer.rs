//! The writer thread: owns the write connection and commits jobs in groups
//! (`group.rs`), with the group's log (`group_log.rs`) in front of SQLite.
//!
//! What a group costs SQLite is mostly per page it changes and per
//! savepoint: a page first changed inside a savepoint is copied to the
//! savepoint's journal. So the writer, like PostgreSQL's, writes late:
//! - counter updates (a container's `cni`, `cbs`, `st`) wait for COMMIT, one
//!   row version per resource however many jobs of the group changed it;
//! - inserts of resources the CSE named wait for the next statement or COMMIT;
//! - a job's savepoint is set only before its first statement.
//!
//! A contentInstance create therefore runs no statement at all while it
//! runs: the group's COMMIT inserts its rows one after the other and updates
//! the container once.

use std::cell::RefCell;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use parking_lot::Mutex;
use rusqlite::Connection;
use urbis_model::Resource;

use super::SqlTxn;
use crate::cache::Cache;
use crate::group::{self, Step};
use crate::group_log::{named_by_cse, Entry, GroupLog, Savepoint, State};
use crate::{OutboxEntry, ReadTxn, StoreError, StoreResult, WriteJob, WriteTxn};

pub(super) fn spawn_writer(
    conn: Arc<Mutex<Connection>>,
    cache: Arc<Cache>,
) -> (mpsc::Sender<WriteJob>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel::<WriteJob>();
    let owner = run_id();
    let handle = std::thread::Builder::new()
        .name("urbis-store-writer".into())
        .spawn(move || {
            let mut writing = Writing::default();
            while let Some(group) = group::next_group(&rx) {
                let conn = conn.lock();
                let mut session = Session {
                    conn: &conn,
                    owner,
                    writing: &mut writing,
                };
                let began = group::run_group(&mut session, &cache, group);
                drop(conn);
                if began.is_err() {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
            }
        })
        .expect("spawning the store writer thread");
    (tx, handle)
}

/// This run of the store, as the owner of the outbox entries it writes:
/// whatever a previous run left there is this run's to take over.
fn run_id() -> i64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    (nanos as i64) ^ i64::from(std::process::id())
}

/// Transaction control statements, prepared once per connection.
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// The open group, kept across groups so its buffers are reused.
#[derive(Default)]
struct Writing {
    log: GroupLog,
    /// Why the transaction can no longer be committed: an insert of an
    /// earlier, kept job failed when it was sent. The group fails as a whole.
    failed: Option<String>,
}

impl Writing {
    fn usable(&self) -> StoreResult<()> {
        match &self.failed {
            None => Ok(()),
            Some(why) => Err(StoreError::Transaction(why.clone())),
        }
    }
}

/// The writer's connection for the group commit.
struct Session<'c> {
    conn: &'c Connection,
    owner: i64,
    writing: &'c mut Writing,
}

impl group::Session for Session<'_> {
    type Txn<'a>
        = WriterTxn<'a>
    where
        Self: 'a;
    const LAZY_SAVEPOINTS: bool = true;

    fn step(&mut self, step: Step) -> StoreResult<()> {
        let (conn, writing) = (self.conn, &mut *self.writing);
        match step {
            Step::Begin => {
                writing.log.reset();
                writing.failed = None;
                run_cached(conn, "BEGIN IMMEDIATE")?;
                writing.log.open = true;
            }
            Step::Savepoint => writing.log.start_job(),
            Step::Release => {
                writing.usable()?;
                if writing.log.savepoint == Savepoint::Set {
                    run_cached(conn, "RELEASE job")?;
                }
                writing.log.savepoint = Savepoint::None;
            }
            Step::RollbackToSavepoint => {
                writing.log.undo_job();
                if writing.log.savepoint == Savepoint::Set {
                    run_cached(conn, "ROLLBACK TO job")?;
                }
            }
            Step::Commit => {
                writing.usable()?;
                let txn = SqlTxn {
                    conn,
                    owner: self.owner,
                };
                commit(txn, &mut writing.log)?;
                writing.log.reset();
            }
            Step::Rollback => {
                writing.log.reset();
                writing.failed = None;
                run_cached(conn, "ROLLBACK")?;
            }
        }
        Ok(())
    }

    fn txn(&mut self) -> WriterTxn<'_> {
        WriterTxn {
            sql: SqlTxn {
                conn: self.conn,
                owner: self.owner,
            },
            writing: RefCell::new(&mut *self.writing),
        }
    }
}

/// Write what waited for the COMMIT, then commit.
fn commit(mut txn: SqlTxn<'_>, log: &mut GroupLog) -> StoreResult<()> {
    for resource in log.take_inserts(|_| true) {
        txn.insert(&resource)?;
    }
    for resource in log.deferred() {
        txn.update(resource, false)?;
    }
    Ok(run_cached(txn.conn, "COMMIT")?)
}

/// A job's transaction on the writer: the group's log in front of SQLite.
pub(super) struct WriterTxn<'a> {
    sql: SqlTxn<'a>,
    writing: RefCell<&'a mut Writing>,
}

impl WriterTxn<'_> {
    /// Before a statement of the running job: the earlier jobs' pending
    /// inserts go first (they are kept whatever this job does), then, if the
    /// job writes or has pending inserts of its own, its savepoint and those
    /// inserts. The statement then sees everything the group wrote but the
    /// deferred updates (which the log patches in).
    fn prepare(&self, writes: bool) -> StoreResult<()> {
        let mut writing = self.writing.borrow_mut();
        writing.usable()?;
        let job = writing.log.job;
        let mut sql = self.sql;
        for resource in writing.log.take_inserts(|j| j != job) {
            if let Err(err) = sql.insert(&resource) {
                writing.failed = Some(format!("a pending insert failed: {err}"));
                return Err(err);
            }
        }
        let own = writing.log.take_inserts(|j| j == job);
        if (writes || !own.is_empty()) && writing.log.savepoint == Savepoint::Wanted {
            run_cached(sql.conn, "SAVEPOINT job")?;
            writing.log.savepoint = Savepoint::Set;
        }
        for resource in own {
            sql.insert(&resource)?;
        }
        Ok(())
    }

    /// A read that the group's log cannot answer alone.
    fn read<T>(&self, f: impl FnOnce(&SqlTxn<'_>, &GroupLog) -> StoreResult<T>) -> StoreResult<T> {
        self.prepare(false)?;
        f(&self.sql, &self.writing.borrow().log)
    }

    /// A statement that writes, run at once.
    fn write<T>(&mut self, f: impl FnOnce(&mut SqlTxn<'_>) -> StoreResult<T>) -> StoreResult<T> {
        self.prepare(true)?;
        f(&mut self.sql)
    }

    fn log(&self, entry: Entry) {
        self.writing.borrow_mut().log.push(entry);
    }
}

impl ReadTxn for WriterTxn<'_> {
    // Point lookups need no statement of the job: the log answers for what
    // the group wrote, the database for the rest.
    fn get(&self, ri: &str) -> StoreResult<Option<Resource>> {
        if let Some(own) = self.writing.borrow().log.find(ri) {
            return Ok(own.map(|r| (**r).clone()));
        }
        self.sql.get(ri)
    }
    fn get_by_path(&self, path: &str) -> StoreResult<Option<Resource>> {
        let writing = self.writing.borrow();
        if let Some(own) = writing.log.find_path(path) {
            return Ok(Some((**own).clone()));
        }
        Ok(self
            .sql
            .get_by_path(path)?
            .and_then(|r| writing.log.patch(r)))
    }
    fn children(&self, pi: &str, ty: Option<u32>) -> StoreResult<Vec<Resource>> {
        self.read(|sql, log| Ok(log.patch_all(sql.children(pi, ty)?)))
    }
    fn count_children(&self, pi: &str, ty: u32) -> StoreResult<u64> {
        self.read(|sql, _| sql.count_children(pi, ty))
    }
    fn edge_child(&self, pi: &str, ty: u32, newest: bool) -> StoreResult<Option<Resource>> {
        self.read(|sql, log| Ok(sql.edge_child(pi, ty, newest)?.and_then(|r| log.patch(r))))
    }
    fn descendants(&self, path: &str) -> StoreResult<Vec<Resource>> {
        self.read(|sql, log| Ok(log.patch_all(sql.descendants(path)?)))
    }
    fn descendants_with_label(&self, path: &str, label: &str) -> StoreResult<Vec<Resource>> {
        // deferred updates never change labels (those are written at once)
        self.read(|sql, log| Ok(log.patch_all(sql.descendants_with_label(path, label)?)))
    }
    fn of_type(&self, ty: u32) -> StoreResult<Vec<Resource>> {
        self.read(|sql, log| Ok(log.patch_all(sql.of_type(ty)?)))
    }
    fn nodes_with_id(&self, ni: &str) -> StoreResult<Vec<Resource>> {
        self.read(|sql, log| Ok(log.nodes_with_id(sql.nodes_with_id(ni)?, ni)))
    }
    fn instance_with_dgt(&self, pi: &str, dgt: &str) -> StoreResult<Option<Resource>> {
        // instances are never updated (`dgt` cannot change): patching drops
        // the ones the group deleted
        self.read(|sql, log| Ok(sql.instance_with_dgt(pi, dgt)?.and_then(|r| log.patch(r))))
    }
    fn expired(&self, now: &str, limit: usize) -> StoreResult<Vec<Resource>> {
        self.read(|sql, log| Ok(log.still_expired(sql.expired(now, limit)?, now)))
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
        // A name the request chose is inserted now, so that a clash is that
        // job's alone (4105); one the CSE chose waits (group_log.rs).
        let pending = named_by_cse(resource);
        if pending {
            self.writing.borrow().log.check_new(resource)?;
        } else {
            self.write(|sql| sql.insert(resource))?;
        }
        self.log(Entry::Wrote {
            resource: Arc::clone(resource),
            state: match pending {
                true => State::PendingInsert,
                false => State::Applied,
            },
            inserted: true,
        });
        Ok(())
    }

    fn update_shared(&mut self, resource: &Arc<Resource>, labels_changed: bool) -> StoreResult<()> {
        // The group's own delete tells; a row that was never there fails the
        // group at COMMIT (an update must find its row).
        if let Some(None) = self.writing.borrow().log.find(resource.ri()) {
            return Err(StoreError::Corrupt {
                ri: resource.ri().to_owned(),
                reason: "updated resource is gone".into(),
            });
        }
        if labels_changed {
            self.write(|sql| sql.update(resource, true))?;
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
        let deleted = self.write(|sql| sql.delete_tree(path))?;
        self.log(Entry::Deleted(path.to_owned()));
        Ok(deleted)
    }

    fn outbox_add(&mut self, entries: &[OutboxEntry]) -> StoreResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        self.write(|sql| sql.outbox_add(entries))
    }

    fn outbox_remove(&mut self, rqis: &[String]) -> StoreResult<usize> {
        if rqis.is_empty() {
            return Ok(0);
        }
        self.write(|sql| sql.outbox_remove(rqis))
    }

    fn outbox_claim(&mut self, limit: usize) -> StoreResult<Vec<OutboxEntry>> {
        self.write(|sql| sql.outbox_claim(limit))
    }

    fn outbox_list(&mut self, limit: usize) -> StoreResult<Vec<OutboxEntry>> {
        self.write(|sql| sql.outbox_list(limit))
    }

    fn batch_add(&mut self, subscription: &str, item: &str, added_ms: i64) -> StoreResult<u64> {
        self.write(|sql| sql.batch_add(subscription, item, added_ms))
    }

    fn batch_take(&mut self, subscription: &str) -> StoreResult<Vec<String>> {
        self.write(|sql| sql.batch_take(subscription))
    }

    fn batches_pending(&mut self, subscription: Option<&str>) -> StoreResult<Vec<(String, i64)>> {
        // batch rows are never pending in the log: no need to send its inserts first
        self.writing.borrow().usable()?;
        self.sql.batches_pending(subscription)
    }
}
