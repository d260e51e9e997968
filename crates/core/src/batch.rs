//! Batched notifications (`bn`, TS-0004 §7.5.1.2.x): events of a subscription
//! are collected and sent as one `m2m:agn` when `num` are pending or `dur` has
//! passed since the first; with `ln` only the latest is sent (event category 4).
//! Pending events go out when the subscription is deleted.
//!
//! The pending events are kept in the store (`batch_items`), added by the
//! write job of each event on whichever node took it. So a batch fills across
//! the nodes of a shared database exactly as on one node, and what it holds
//! survives a restart or the death of a node. The job whose event fills the
//! batch takes it and turns it into one notification, recorded in the outbox
//! and delivered like any other. `dur` is timed by the node that added the
//! first event; the node that leads background work also sweeps the batches
//! that are due, in case that node is gone.

use std::time::Duration;

use serde_json::{json, Value};
use urbis_model::{time, CseResult, Resource};
use urbis_store::WriteTxn;

use crate::notify::Notification;
use crate::Cse;

/// How often the leader looks for batches whose `dur` has passed.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// `dur` when `bn` gives none.
const DEFAULT_DURATION_MS: u64 = 60_000;

/// How a subscription batches.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchRule {
    pub subscription: String,
    pub num: Option<u64>,
    pub dur: Duration,
    pub latest_only: bool,
}

impl BatchRule {
    /// The rule of a subscription with `bn`, if it has one.
    pub fn of(sub: &Resource) -> Option<BatchRule> {
        let bn = sub.attrs.get("bn")?;
        let num = bn.get("num").and_then(Value::as_u64).filter(|n| *n > 0);
        let dur_ms = match bn.get("dur") {
            Some(Value::Number(seconds)) => seconds.as_u64().map(|s| s.saturating_mul(1000)),
            Some(Value::String(text)) => {
                urbis_model::time::parse_duration_ms(text).map(|ms| ms.max(0) as u64)
            }
            _ => None,
        }
        .unwrap_or(DEFAULT_DURATION_MS);
        Some(BatchRule {
            subscription: sub.ri().to_owned(),
            num,
            dur: Duration::from_millis(dur_ms),
            latest_only: latest_only(sub),
        })
    }
}

fn latest_only(sub: &Resource) -> bool {
    sub.attrs
        .get("ln")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

fn now_ms() -> i64 {
    time::now().as_millisecond()
}

/// In the job of an event: put a batched notification's event into its
/// subscription's batch. The notification is then sent by no one on its
/// own. Returns the batch as one notification when this event filled it.
pub(crate) fn hold(
    txn: &mut dyn WriteTxn,
    notification: &mut Notification,
) -> CseResult<Option<Notification>> {
    let Some(rule) = notification.batch.take() else {
        return Ok(None);
    };
    let targets = std::mem::take(&mut notification.targets);
    let sgn = notification
        .body
        .get("m2m:sgn")
        .unwrap_or(&notification.body)
        .to_string();
    // Where nodes share the database, the subscription's row is locked:
    // events of one subscription on two nodes count their batch in turn.
    if txn.lock(&rule.subscription)?.is_none() {
        // The same job deleted the subscription (with its subject, say) and
        // sent what was pending: this last event goes after it, on its own.
        return Ok(Some(aggregated(
            targets,
            vec![sgn],
            rule.latest_only,
            notification.stats_of.clone(),
        )));
    }
    let held = txn.batch_add(&rule.subscription, &sgn, now_ms())?;
    if rule.num.is_some_and(|num| held >= num) {
        let items = txn.batch_take(&rule.subscription)?;
        return Ok(Some(aggregated(
            targets,
            items,
            rule.latest_only,
            notification.stats_of.clone(),
        )));
    }
    if held == 1 {
        notification.batch_timer = Some((rule.subscription, rule.dur));
    }
    Ok(None)
}

/// In the job that deletes `sub`: its pending events, as one notification.
pub(crate) fn take_for_deletion(
    txn: &mut dyn WriteTxn,
    sub: &Resource,
) -> CseResult<Option<Notification>> {
    if !sub.attrs.contains_key("bn") {
        return Ok(None);
    }
    let items = txn.batch_take(sub.ri())?;
    Ok((!items.is_empty()).then(|| for_subscription(sub, items)))
}

/// The batch of `sub` made of `items`, to its current targets.
fn for_subscription(sub: &Resource, items: Vec<String>) -> Notification {
    let targets = sub.str_list("nu").into_iter().map(str::to_owned).collect();
    let stats_of =
        crate::resources::subscription::statistics_enabled(sub).then(|| sub.ri().to_owned());
    aggregated(targets, items, latest_only(sub), stats_of)
}

/// One `m2m:agn` notification of the stored events `items` (oldest first).
fn aggregated(
    targets: Vec<String>,
    items: Vec<String>,
    latest_only: bool,
    stats_of: Option<String>,
) -> Notification {
    let events = items.len() as u64;
    let mut parsed: Vec<Value> = items
        .iter()
        .filter_map(|item| match serde_json::from_str(item) {
            Ok(sgn) => Some(sgn),
            Err(err) => {
                tracing::warn!(%err, "unreadable batched event dropped");
                None
            }
        })
        .collect();
    if latest_only {
        parsed = parsed.pop().into_iter().collect();
    }
    let mut notification = Notification::new(targets, json!({"m2m:agn": {"m2m:sgn": parsed}}));
    notification.events = events;
    notification.event_category = latest_only.then_some(4);
    notification.stats_of = stats_of;
    notification
}

/// Send the batches that are due: those of `only`, or all of them. A batch
/// whose subscription is gone is dropped; one whose subscription no longer
/// batches goes out at once.
async fn flush_due(cse: &Cse, only: Option<String>) -> CseResult<()> {
    crate::outbox::write_notifying(cse, move |txn, notifications| {
        let now = now_ms();
        for (subscription, oldest) in txn.batches_pending(only.as_deref())? {
            let Some(sub) = txn.lock(&subscription)? else {
                let dropped = txn.batch_take(&subscription)?.len();
                tracing::debug!(%subscription, dropped, "batched events of a deleted subscription dropped");
                continue;
            };
            let due = BatchRule::of(&sub).is_none_or(|rule| {
                now.saturating_sub(oldest) >= i64::try_from(rule.dur.as_millis()).unwrap_or(i64::MAX)
            });
            if due {
                let items = txn.batch_take(&subscription)?;
                if !items.is_empty() {
                    notifications.push(for_subscription(&sub, items));
                }
            }
        }
        Ok(())
    })
    .await
}

impl Cse {
    /// After the commit of an event that started a batch: send the batch
    /// once its `dur` has passed (unless it filled up before).
    pub(crate) fn time_batch(&self, subscription: String, dur: Duration) {
        let cse = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(dur).await;
            if let Err(err) = flush_due(&cse, Some(subscription)).await {
                tracing::warn!(%err, "a due notification batch was not sent; the sweep retries");
            }
        });
    }
}

/// While this node leads background work, send the batches that are due
/// (the node that timed one may have stopped, or restarted).
pub fn spawn_sweep(cse: Cse) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(SWEEP_EVERY).await;
            if !cse.store().leads_background_work() {
                continue;
            }
            if let Err(err) = flush_due(&cse, None).await {
                tracing::warn!(%err, "sweep of due notification batches failed");
            }
        }
    });
}
