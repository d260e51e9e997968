//! Storage for the resource tree, behind the [`Store`] trait.
//!
//! # Layout
//! - this file: the traits the core programs against ([`ReadTxn`], [`WriteTxn`],
//!   [`Store`]) and [`write`], the one way to run a write.
//! - [`sqlite`]: the embedded store (default): SQLite in WAL mode, one writer
//!   thread that commits jobs in groups, a pool of reader connections.
//! - [`postgres`]: the same model on a PostgreSQL server: one writer thread,
//!   a fixed pool of reader threads, each owning its connection.
//! - [`credentials`]: originators' credentials and device enrolments, beside
//!   the resource tree (SQLite file or PostgreSQL tables of their own).
//! - [`mailbox`]: pollingChannel mailboxes in the database, for nodes that
//!   share it (PostgreSQL only).
//! - `group` (the writer's group commit) and `cached` (the cache policy over
//!   a store's plain queries) are shared by both, so they behave alike.
//!
//! # Writes are jobs
//! A write is a closure that runs on the store's writer inside a transaction that
//! it shares with other jobs of the same group; each job sits in its own savepoint,
//! so a job that fails is rolled back alone and leaves nothing half-written. The
//! caller is answered only after the group's commit is durable (fsync), so an
//! acknowledged write survives `kill -9` and power loss, while one fsync serves
//! the whole group. Running the resource logic on the writer also makes
//! read-modify-write sequences (container counters, `mni` eviction) race-free.

mod cache;
mod cached;
pub mod credentials;
mod group;
mod group_log;
pub mod mailbox;
pub mod postgres;
pub mod sqlite;

use urbis_model::{CseError, CseResult, Resource};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("database error: {0}")]
    Postgres(#[from] ::postgres::Error),
    #[error("stored record {ri} is corrupt: {reason}")]
    Corrupt { ri: String, reason: String },
    #[error("a resource with this {what} already exists")]
    Duplicate { what: &'static str },
    #[error("the store is shut down")]
    Closed,
    #[error("cannot open store: {0}")]
    Open(String),
    #[error("write transaction failed: {0}")]
    Transaction(String),
}

impl From<StoreError> for CseError {
    fn from(err: StoreError) -> CseError {
        match err {
            StoreError::Duplicate { .. } => {
                CseError::new(urbis_model::Rsc::Conflict, err.to_string())
            }
            other => CseError::internal(other.to_string()),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Read access. Every method is a single indexed lookup or range scan.
pub trait ReadTxn {
    fn get(&self, ri: &str) -> StoreResult<Option<Resource>>;
    fn get_by_path(&self, path: &str) -> StoreResult<Option<Resource>>;
    /// Direct children in creation order, optionally of one type.
    fn children(&self, pi: &str, ty: Option<u32>) -> StoreResult<Vec<Resource>>;
    /// Number of direct children of one type.
    fn count_children(&self, pi: &str, ty: u32) -> StoreResult<u64>;
    /// The newest (`newest = true`) or oldest direct child of a type: `la` / `ol`.
    fn edge_child(&self, pi: &str, ty: u32, newest: bool) -> StoreResult<Option<Resource>>;
    /// All resources below `path` (not `path` itself), in creation order.
    fn descendants(&self, path: &str) -> StoreResult<Vec<Resource>>;
    /// The resources below `path` whose type is not in `skip`, in creation
    /// order: a subtree may hold millions of instances that a caller (DELETE)
    /// does not need to load.
    fn descendants_except(&self, path: &str, skip: &[u32]) -> StoreResult<Vec<Resource>> {
        let mut found = self.descendants(path)?;
        found.retain(|r| !skip.contains(&r.ty));
        Ok(found)
    }
    /// The resource IDs of everything below `path`, without the bodies.
    fn descendant_ids(&self, path: &str) -> StoreResult<Vec<String>> {
        Ok(self
            .descendants(path)?
            .into_iter()
            .map(|r| r.ri().to_owned())
            .collect())
    }
    /// Resources below `path` carrying `label`, in creation order.
    fn descendants_with_label(&self, path: &str, label: &str) -> StoreResult<Vec<Resource>>;
    /// Every resource of one type (for small sets such as groups).
    fn of_type(&self, ty: u32) -> StoreResult<Vec<Resource>>;
    /// The `<node>` resources (type 14) whose stored `ni` (nodeID) is `ni`,
    /// in no promised order: an indexed lookup (an expression index on the
    /// body's `ni`, for type 14 only), so that checking a nodeID is unique
    /// does not read every node. Resources of other types are never
    /// returned, whatever attributes they carry. On the writer, it sees the
    /// running group's uncommitted writes; it is never answered by the cache.
    fn nodes_with_id(&self, ni: &str) -> StoreResult<Vec<Resource>>;
    /// The `<timeSeriesInstance>` (type 30) below `pi` whose stored `dgt`
    /// is `dgt`: an indexed lookup (an expression index on the body's `dgt`,
    /// for type 30 only), so that checking a data generation time is unique
    /// does not read every instance of a series. On the writer, it sees the
    /// running group's uncommitted writes; it is never answered by the cache.
    fn instance_with_dgt(&self, pi: &str, dgt: &str) -> StoreResult<Option<Resource>>;
    /// Up to `limit` resources whose `et` is before `now`, soonest first.
    fn expired(&self, now: &str, limit: usize) -> StoreResult<Vec<Resource>>;
    /// The stored attributes of each direct child of one type, as JSON text,
    /// in no particular order and without decoding them into resources: for
    /// scans over millions of instances (the KPI engine's fast path). The
    /// default encodes what [`ReadTxn::children`] returns; a store that keeps
    /// JSON hands its text over as it is.
    fn scan_children_json(
        &self,
        pi: &str,
        ty: u32,
        visit: &mut dyn FnMut(&str),
    ) -> StoreResult<()> {
        for child in self.children(pi, Some(ty))? {
            let text = serde_json::to_string(&child.attrs).map_err(|e| StoreError::Corrupt {
                ri: child.ri().to_owned(),
                reason: e.to_string(),
            })?;
            visit(&text);
        }
        Ok(())
    }
}

/// Write access, only inside a job on the writer.
pub trait WriteTxn: ReadTxn {
    fn insert(&mut self, resource: &Resource) -> StoreResult<()>;
    /// Replace the attributes of an existing resource (found by `ri`). The
    /// label index is rewritten only when `labels_changed` (counter updates on
    /// the hot path leave it alone).
    fn update(&mut self, resource: &Resource, labels_changed: bool) -> StoreResult<()>;
    /// [`WriteTxn::insert`] of a resource the caller holds shared: a store
    /// that keeps what it writes (the group's log) keeps this one, not a copy.
    fn insert_shared(&mut self, resource: &std::sync::Arc<Resource>) -> StoreResult<()> {
        self.insert(resource)
    }
    /// [`WriteTxn::update`] of a resource the caller holds shared.
    fn update_shared(
        &mut self,
        resource: &std::sync::Arc<Resource>,
        labels_changed: bool,
    ) -> StoreResult<()> {
        self.update(resource, labels_changed)
    }
    /// Delete the resource at `path` and everything below it; returns how many.
    fn delete_tree(&mut self, path: &str) -> StoreResult<usize>;
    /// Read `ri` in order to change it (a read-modify-write such as a
    /// container's `cni`). Where several nodes write one database, the row
    /// stays locked until the job's group commits, so that writers of the
    /// same resource on other nodes wait for each other instead of
    /// overwriting each other.
    fn lock(&mut self, ri: &str) -> StoreResult<Option<Resource>> {
        self.get(ri)
    }
    /// Record notifications to deliver, owned by this node, in one statement.
    /// They are part of the job: a rolled-back job leaves none behind.
    fn outbox_add(&mut self, entries: &[OutboxEntry]) -> StoreResult<()>;
    /// Forget settled notifications (answered or given up), by `rqi`, in one
    /// statement; returns how many were there.
    fn outbox_remove(&mut self, rqis: &[String]) -> StoreResult<usize>;
    /// Take over up to `limit` notifications whose owner is gone (a node
    /// that died, or this store's previous run), oldest first: from now on
    /// this node owns them, so no other node takes them too.
    fn outbox_claim(&mut self, limit: usize) -> StoreResult<Vec<OutboxEntry>>;
    /// Up to `limit` recorded notifications, whoever owns them, oldest first
    /// (for tests and inspection).
    fn outbox_list(&mut self, limit: usize) -> StoreResult<Vec<OutboxEntry>>;
    /// Add one event (its notification body as JSON text) to the pending
    /// batch of `subscription`, added at `added_ms` (milliseconds since the
    /// epoch); returns how many events the batch holds now.
    fn batch_add(&mut self, subscription: &str, item: &str, added_ms: i64) -> StoreResult<u64>;
    /// Take the pending batch of `subscription`: its events, oldest first,
    /// none left behind.
    fn batch_take(&mut self, subscription: &str) -> StoreResult<Vec<String>>;
    /// The subscriptions with a pending batch (only `subscription`, when
    /// given), each with when its oldest event was added.
    fn batches_pending(&mut self, subscription: Option<&str>) -> StoreResult<Vec<(String, i64)>>;
}

/// A notification recorded in the outbox until its delivery is settled; one
/// per notification and target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxEntry {
    /// The request identifier the NOTIFY carries, on every (re)delivery, so
    /// that a receiver can drop a duplicate.
    pub rqi: String,
    /// The `nu` entry: a URI, or an AE or CSE ID resolved when sending.
    pub target: String,
    /// The content (`{"m2m:sgn": ...}`) as JSON text.
    pub body: String,
    /// The subscription whose `nsi` counts the delivery.
    pub subscription: Option<String>,
}

/// What a job hands back to the writer: whether to roll its savepoint back, and
/// what to run once the group's commit is known.
pub struct Completion {
    pub rollback: bool,
    pub done: Box<dyn FnOnce(StoreResult<()>) + Send>,
}

pub type WriteJob = Box<dyn FnOnce(&mut dyn WriteTxn) -> Completion + Send>;

pub trait Store: Send + Sync + 'static {
    /// A reader. Hold it only for synchronous work: it is not `Send`.
    fn reader(&self) -> StoreResult<Box<dyn ReadTxn + '_>>;
    /// Queue a job for the writer.
    fn submit(&self, job: WriteJob);
    /// A short description for logs (`sqlite:./urbis-data/urbis.db`).
    fn describe(&self) -> String;
    /// Whether this node runs the background work (expiry) now. Several
    /// nodes on one database elect one; a store of its own always does.
    fn leads_background_work(&self) -> bool {
        true
    }
    /// Whether other nodes may write the same database (and die while this
    /// one lives): then the leader keeps taking over their outbox.
    fn shared_by_nodes(&self) -> bool {
        false
    }
    /// The mailboxes of pollingChannels in the database, for a store that
    /// [`Store::shared_by_nodes`] (any node may take a request that another
    /// queued). `None` for a store of its own: mailboxes stay in memory.
    fn mailboxes(&self) -> Option<std::sync::Arc<dyn mailbox::MailboxStore>> {
        None
    }
}

/// Wrap `f` as a job whose outcome (after the commit) goes to `reply`.
fn job<T, F>(f: F, reply: impl FnOnce(CseResult<T>) + Send + 'static) -> WriteJob
where
    T: Send + 'static,
    F: FnOnce(&mut dyn WriteTxn) -> CseResult<T> + Send + 'static,
{
    Box::new(move |txn| {
        let result = f(txn);
        Completion {
            rollback: result.is_err(),
            done: Box::new(move |commit| {
                reply(match commit {
                    Ok(()) => result,
                    Err(err) => Err(err.into()),
                })
            }),
        }
    })
}

/// Run `f` on the writer and wait until it is durably committed (or rolled back
/// because it failed).
pub async fn write<T, F>(store: &dyn Store, f: F) -> CseResult<T>
where
    T: Send + 'static,
    F: FnOnce(&mut dyn WriteTxn) -> CseResult<T> + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    store.submit(job(f, move |outcome| {
        let _ = tx.send(outcome);
    }));
    rx.await.unwrap_or_else(|_| {
        Err(CseError::internal(
            "the store writer stopped before answering",
        ))
    })
}

/// Like [`write`], for callers outside async code (start-up). Blocks the thread.
pub fn write_blocking<T, F>(store: &dyn Store, f: F) -> CseResult<T>
where
    T: Send + 'static,
    F: FnOnce(&mut dyn WriteTxn) -> CseResult<T> + Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    store.submit(job(f, move |outcome| {
        let _ = tx.send(outcome);
    }));
    rx.recv().unwrap_or_else(|_| {
        Err(CseError::internal(
            "the store writer stopped before answering",
        ))
    })
}
