//! Mailboxes of `<pollingChannel>`s kept in the database, for nodes that
//! share it: a request waiting for a polled entity is queued by the node that
//! generated it and taken by whichever node the entity polls; the entity's
//! answer is recorded by whichever node it reaches and picked up by the node
//! whose sender waits for it. A store of its own has no [`MailboxStore`]: the
//! core keeps its mailboxes in memory then.
//!
//! Requests and responses are stored as the JSON text of their primitives;
//! the store does not look inside. Times are the database's clock, so nodes
//! whose clocks differ agree on what has expired.

use crate::StoreResult;

/// One queued request, as [`MailboxStore::take`] hands it out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Posted {
    pub rqi: String,
    /// The request primitive as JSON text.
    pub request: String,
}

/// Shared mailboxes. Every method is one short statement on a connection of
/// its own, and blocks the calling thread for it: call them from a blocking
/// thread (`tokio::task::spawn_blocking`), not from a Tokio worker.
pub trait MailboxStore: Send + Sync + 'static {
    /// Queue a request (`rqi`, JSON text) for `entity`, deliverable for
    /// `lifetime_ms`. `false` (nothing queued) when `entity` already has
    /// `depth` requests waiting to be taken. A request with an `rqi` that is
    /// already queued replaces it (a re-delivery).
    fn post(
        &self,
        entity: &str,
        rqi: &str,
        request: &str,
        lifetime_ms: u64,
        depth: usize,
    ) -> StoreResult<bool>;

    /// Take up to `limit` live requests for `entity`, oldest first. Atomic
    /// across nodes: a request is taken once. A taken request stays recorded
    /// (not handed out again) until it is answered or withdrawn.
    fn take(&self, entity: &str, limit: usize) -> StoreResult<Vec<Posted>>;

    /// Record the answer (response primitive, JSON text) to `rqi`. `false`
    /// when no request `rqi` waits (never queued, withdrawn, answered before).
    fn answer(&self, rqi: &str, response: &str) -> StoreResult<bool>;

    /// Take the recorded answers to any of `rqis`: `(rqi, response)`.
    fn answers(&self, rqis: &[String]) -> StoreResult<Vec<(String, String)>>;

    /// Forget request `rqi` and any answer to it: its sender stopped waiting
    /// (answered, timed out, dropped).
    fn withdraw(&self, rqi: &str) -> StoreResult<()>;

    /// Remove expired requests and answers recorded more than `answers_ms`
    /// ago (their senders are gone); how many rows.
    fn sweep(&self, answers_ms: u64) -> StoreResult<u64>;
}
