//! The writer's group commit, shared by the stores.
//!
//! The writer takes every queued job (up to [`MAX_GROUP`]), runs them in one
//! transaction, each in its own savepoint, commits once, publishes the group's
//! changes to the cache and only then answers the callers. A job that fails or
//! panics is rolled back to its savepoint alone. A group of one job needs no
//! savepoint: its failure rolls back the whole transaction.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;

use crate::cache::Cache;
use crate::cached::{GroupChanges, JobTxn};
use crate::{Completion, StoreError, StoreResult, WriteJob, WriteTxn};

/// Most jobs one group commit takes; bounds the latency of a group.
pub(crate) const MAX_GROUP: usize = 2048;

/// Transaction control, in the database's own words.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Step {
    Begin,
    Savepoint,
    /// Keep the job's work. Must fail if the job left the transaction unusable.
    Release,
    /// Undo the job's work and close its savepoint.
    RollbackToSavepoint,
    /// Make the group durable. Must fail if the transaction is unusable.
    Commit,
    Rollback,
}

/// The writer's connection, as the group commit sees it.
pub(crate) trait Session {
    type Txn<'a>: WriteTxn
    where
        Self: 'a;
    /// Savepoint steps cost nothing until the job sends a statement: issue
    /// them for every job, even a group's only one.
    const LAZY_SAVEPOINTS: bool = false;
    fn step(&mut self, step: Step) -> StoreResult<()>;
    /// Plain (uncached) queries inside the open transaction.
    fn txn(&mut self) -> Self::Txn<'_>;
}

/// Wait for a job, then take whatever else is queued. `None` once the store
/// is shut down.
pub(crate) fn next_group(jobs: &mpsc::Receiver<WriteJob>) -> Option<Vec<WriteJob>> {
    let first = jobs.recv().ok()?;
    let mut group = vec![first];
    while group.len() < MAX_GROUP {
        match jobs.try_recv() {
            Ok(job) => group.push(job),
            Err(_) => break,
        }
    }
    Some(group)
}

/// Run one group. An error means the transaction could not even begin; the
/// jobs were dropped, which answers their callers with an internal error.
pub(crate) fn run_group<S: Session>(
    session: &mut S,
    cache: &Cache,
    group: Vec<WriteJob>,
) -> StoreResult<()> {
    if let Err(err) = session.step(Step::Begin) {
        tracing::error!(%err, "cannot begin a write transaction");
        return Err(err);
    }
    let savepoints = S::LAZY_SAVEPOINTS || group.len() > 1;
    let mut changes = GroupChanges::default();
    // Each answer with the job's own failure, if its savepoint could not be kept.
    let mut answers: Vec<(Completion, Option<StoreError>)> = Vec::with_capacity(group.len());
    let mut broken: Option<StoreError> = None;
    let mut lone_rollback = false;
    for job in group {
        if savepoints {
            if let Err(err) = session.step(Step::Savepoint) {
                // the rest of the group is dropped with the iterator
                broken = Some(err);
                break;
            }
        }
        let (outcome, job_changes) = {
            let mut txn = JobTxn::new(session.txn(), cache, &mut changes);
            let outcome = catch_unwind(AssertUnwindSafe(|| job(&mut txn)));
            (outcome, txn.into_changes())
        };
        let rollback = !matches!(&outcome, Ok(completion) if !completion.rollback);
        let completion = match outcome {
            Ok(completion) => Some(completion),
            Err(_) => {
                tracing::error!("a write job panicked; it was rolled back");
                None
            }
        };
        if !savepoints {
            lone_rollback = rollback;
            if !rollback {
                changes.keep(job_changes);
            }
            answers.extend(completion.map(|c| (c, None)));
            continue;
        }
        // Keep the job, or undo it: when it failed, or when its savepoint
        // cannot be released (then it is answered with that failure).
        let own_failure = if rollback {
            None
        } else {
            match session.step(Step::Release) {
                Ok(()) => {
                    changes.keep(job_changes);
                    answers.extend(completion.map(|c| (c, None)));
                    continue;
                }
                Err(err) => {
                    tracing::error!(%err, "a write job cannot be kept; rolling it back");
                    Some(err)
                }
            }
        };
        let undone = session
            .step(Step::RollbackToSavepoint)
            .and_then(|()| session.step(Step::Release));
        if let Err(err) = undone {
            answers.extend(completion.map(|c| (c, own_failure)));
            broken = Some(err);
            break;
        }
        answers.extend(completion.map(|c| (c, own_failure)));
    }

    let committed = match broken {
        Some(err) => Err(err),
        None if lone_rollback => session.step(Step::Rollback).map(|()| changes.discard()),
        None => session.step(Step::Commit),
    };
    match &committed {
        Ok(()) => cache.publish(changes.changes),
        Err(err) => {
            tracing::error!(%err, "a write group failed; rolling it back");
            let _ = session.step(Step::Rollback);
            // The commit may have happened all the same (a connection lost
            // while committing): the cache must not keep older values.
            cache.reset();
        }
    }
    for (completion, own_failure) in answers {
        let outcome = match (&committed, own_failure) {
            (Ok(()), None) => Ok(()),
            (Ok(()), Some(err)) => Err(StoreError::Transaction(err.to_string())),
            (Err(err), _) => Err(StoreError::Transaction(format!("commit failed: {err}"))),
        };
        (completion.done)(outcome);
    }
    Ok(())
}
