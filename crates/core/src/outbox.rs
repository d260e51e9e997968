//! Notifications that survive the node: each one a write job produces is
//! recorded in the store's outbox inside the job's transaction, so a
//! committed event always has its notifications on disk. The committing node
//! still delivers from memory at once (`notify.rs`); once a delivery is
//! settled (answered, or given up by the per-target rules) its entry is
//! removed, in batches that ride along with the writer's group commits.
//!
//! What is left in the outbox belongs to a node that died (or to this
//! store's previous run): it is taken over and delivered again, with the
//! same `rqi`, so that a receiver can drop a duplicate. A store of its own
//! does this once at start; on a database shared by several nodes, the node
//! that leads background work does it every [`RECOVERY_POLL`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::Value;
use urbis_model::CseResult;
use urbis_store::{Completion, OutboxEntry, WriteTxn};

use crate::notify::Notification;
use crate::{ids, Cse};

/// How often the leader of a shared database looks for entries of dead nodes.
pub const RECOVERY_POLL: Duration = Duration::from_secs(1);
/// Entries taken over per job.
const CLAIM_BATCH: usize = 1024;

/// Run a write job that may notify: `job` collects its notifications into
/// the list it is given; they are recorded in the outbox inside the job's
/// transaction, and delivered once it is committed. Every write that can
/// notify goes through here, so none can forget either step.
pub(crate) async fn write_notifying<T, F>(cse: &Cse, job: F) -> CseResult<T>
where
    T: Send + 'static,
    F: FnOnce(&mut dyn WriteTxn, &mut Vec<Notification>) -> CseResult<T> + Send + 'static,
{
    let (value, notifications) = urbis_store::write(cse.store(), move |txn| {
        let mut notifications = Vec::new();
        let value = job(txn, &mut notifications)?;
        record(txn, &mut notifications)?;
        Ok((value, notifications))
    })
    .await?;
    cse.deliver(notifications).await;
    Ok(value)
}

/// Record the notifications a job produced, in the job's transaction: one
/// entry per notification and target, each with the `rqi` it will be sent
/// with. A job without notifications sends nothing. Batched events go into
/// their subscription's batch (`batch.rs`); a batch they fill is recorded as
/// one notification. Blocking notifications (awaited before the request is
/// answered) are not recorded.
pub fn record(txn: &mut dyn WriteTxn, notifications: &mut Vec<Notification>) -> CseResult<()> {
    let mut filled = Vec::new();
    for notification in notifications.iter_mut() {
        filled.extend(crate::batch::hold(txn, notification)?);
    }
    notifications.append(&mut filled);
    let mut entries = Vec::new();
    for notification in notifications.iter_mut() {
        if notification.blocking {
            continue;
        }
        let body = notification.body.to_string();
        notification.rqis = notification
            .targets
            .iter()
            .map(|target| {
                let rqi = ids::request_id();
                entries.push(OutboxEntry {
                    rqi: rqi.clone(),
                    target: target.clone(),
                    body: body.clone(),
                    subscription: notification.stats_of.clone(),
                });
                rqi
            })
            .collect();
    }
    if !entries.is_empty() {
        txn.outbox_add(&entries)?;
    }
    Ok(())
}

/// Settled entries waiting to be removed, and whether a removal job is
/// already queued (it takes everything settled until it runs).
#[derive(Default)]
pub(crate) struct Outbox {
    settled: Arc<Mutex<Settled>>,
}

#[derive(Default)]
struct Settled {
    rqis: Vec<String>,
    queued: bool,
}

impl Outbox {
    fn settle(&self, store: &dyn urbis_store::Store, rqi: String) {
        let mut settled = self.settled.lock();
        settled.rqis.push(rqi);
        if settled.queued {
            return;
        }
        settled.queued = true;
        drop(settled);
        let shared = self.settled.clone();
        store.submit(Box::new(move |txn| {
            let rqis = {
                let mut settled = shared.lock();
                settled.queued = false;
                std::mem::take(&mut settled.rqis)
            };
            // Should it fail, the entries stay and are delivered again
            // after a restart: at least once, never lost.
            let removed = txn.outbox_remove(&rqis);
            if let Err(err) = &removed {
                tracing::warn!(%err, "settled notifications not removed from the outbox");
            }
            Completion {
                rollback: removed.is_err(),
                done: Box::new(|_| {}),
            }
        }));
    }
}

/// One outbox entry sent to each of the URIs its target resolved to; it is
/// settled when the last of them is.
pub(crate) struct Pending {
    cse: Cse,
    rqi: String,
    left: AtomicUsize,
}

impl Pending {
    pub(crate) fn new(cse: &Cse, rqi: String, sends: usize) -> Arc<Pending> {
        let pending = Arc::new(Pending {
            cse: cse.clone(),
            rqi,
            left: AtomicUsize::new(sends),
        });
        if sends == 0 {
            // nowhere to send it: nothing will ever settle it otherwise
            pending.cse.settle(pending.rqi.clone());
        }
        pending
    }

    pub(crate) fn one_settled(&self) {
        if self.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.cse.settle(self.rqi.clone());
        }
    }
}

impl Cse {
    fn settle(&self, rqi: String) {
        self.outbox().settle(self.store(), rqi);
    }

    /// Take over what dead owners left in the outbox and deliver it again;
    /// returns how many entries were taken.
    pub async fn recover_outbox(&self) -> CseResult<usize> {
        let mut taken = 0;
        loop {
            let claimed =
                urbis_store::write(self.store(), |txn| Ok(txn.outbox_claim(CLAIM_BATCH)?)).await?;
            let count = claimed.len();
            for entry in claimed {
                self.redeliver(entry);
            }
            taken += count;
            if count < CLAIM_BATCH {
                if taken > 0 {
                    tracing::info!(taken, "notifications taken over from the outbox");
                }
                return Ok(taken);
            }
        }
    }

    fn redeliver(&self, entry: OutboxEntry) {
        match serde_json::from_str::<Value>(&entry.body) {
            // a batch taken over counts as one event, and loses `ec`
            Ok(body) => self.send_notification(
                &entry.target,
                &body,
                Some(entry.rqi),
                crate::notify::Counting {
                    subscription: entry.subscription.as_deref(),
                    events: 1,
                },
                None,
            ),
            Err(err) => {
                tracing::warn!(rqi = %entry.rqi, %err, "unreadable outbox entry dropped");
                self.settle(entry.rqi);
            }
        }
    }
}

/// Recovery: once at start on a store of its own; on a shared database,
/// by whichever node leads, for as long as the node runs.
pub fn spawn_recovery(cse: Cse) {
    tokio::spawn(async move {
        if !cse.store().shared_by_nodes() {
            if let Err(err) = cse.recover_outbox().await {
                tracing::warn!(%err, "outbox recovery failed");
            }
            return;
        }
        loop {
            tokio::time::sleep(RECOVERY_POLL).await;
            if !cse.store().leads_background_work() {
                continue;
            }
            if let Err(err) = cse.recover_outbox().await {
                tracing::warn!(%err, "outbox recovery failed");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use urbis_store::sqlite::SqliteStore;

    #[tokio::test]
    async fn each_target_of_a_queued_notification_is_recorded_with_its_own_rqi() {
        let store = SqliteStore::in_memory().unwrap();
        let mut queued = Notification::new(
            vec!["http://a.example/n".into(), "CAE1".into()],
            json!({"m2m:sgn": {"sur": "/id-in/sub1"}}),
        );
        queued.stats_of = Some("sub1".into());
        let mut blocking = Notification::new(vec!["http://b.example/n".into()], json!({}));
        blocking.blocking = true;
        let mut batched = Notification::new(vec!["http://c.example/n".into()], json!({}));
        batched.batch = Some(crate::batch::BatchRule {
            subscription: "sub2".into(),
            num: Some(2),
            dur: Duration::from_secs(1),
            latest_only: false,
        });
        let (recorded, listed) = urbis_store::write(&store, move |txn| {
            // the batching subscription
            txn.insert(&urbis_model::Resource {
                ty: 23,
                path: "cse-in/sub2".into(),
                creator: "C".into(),
                attrs: json!({"ri": "sub2", "rn": "sub2", "pi": "cse-in"})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            })?;
            let mut notifications = vec![queued, blocking, batched];
            record(txn, &mut notifications)?;
            record(txn, &mut Vec::new())?;
            Ok((notifications, txn.outbox_list(10)?))
        })
        .await
        .unwrap();
        assert_eq!(recorded[0].rqis.len(), 2);
        assert_ne!(recorded[0].rqis[0], recorded[0].rqis[1]);
        assert!(
            recorded[1].rqis.is_empty(),
            "blocking: awaited, not recorded"
        );
        assert!(
            recorded[2].rqis.is_empty() && recorded[2].targets.is_empty(),
            "batched: held in the subscription's batch"
        );
        let expected: Vec<OutboxEntry> = recorded[0]
            .targets
            .iter()
            .zip(&recorded[0].rqis)
            .map(|(target, rqi)| OutboxEntry {
                rqi: rqi.clone(),
                target: target.clone(),
                body: r#"{"m2m:sgn":{"sur":"/id-in/sub1"}}"#.into(),
                subscription: Some("sub1".into()),
            })
            .collect();
        assert_eq!(listed, expected);
    }
}
