//! Batched notifications (`bn`, TS-0004 §7.5.1.2.x): events of a subscription
//! are collected and sent as one `m2m:agn` when `num` are pending or `dur` has
//! passed since the first; with `ln` only the latest is sent (event category 4).
//! Pending events are flushed when the subscription is deleted.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{json, Value};
use urbis_model::Resource;

use crate::Cse;

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
        .unwrap_or(60_000);
        let latest_only = sub
            .attrs
            .get("ln")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        Some(BatchRule {
            subscription: sub.ri().to_owned(),
            num,
            dur: Duration::from_millis(dur_ms),
            latest_only,
        })
    }
}

struct Pending {
    targets: Vec<String>,
    stats_of: Option<String>,
    items: Vec<Value>,
    latest_only: bool,
    generation: u64,
}

#[derive(Default)]
pub struct Batches {
    pending: Mutex<HashMap<String, Pending>>,
    generations: Mutex<u64>,
}

impl Cse {
    /// Add one notification body (`m2m:sgn`) to its subscription's batch.
    pub(crate) fn batch(
        &self,
        rule: BatchRule,
        targets: Vec<String>,
        body: Value,
        stats_of: Option<String>,
    ) {
        let sgn = body.get("m2m:sgn").cloned().unwrap_or(body);
        let (full, start_timer) = {
            let mut pending = self.batches().pending.lock();
            let generation = {
                let mut counter = self.batches().generations.lock();
                *counter += 1;
                *counter
            };
            let entry = pending
                .entry(rule.subscription.clone())
                .or_insert_with(|| Pending {
                    targets: targets.clone(),
                    stats_of: stats_of.clone(),
                    items: Vec::new(),
                    latest_only: rule.latest_only,
                    generation,
                });
            entry.items.push(sgn);
            let first = entry.items.len() == 1;
            if first {
                entry.generation = generation;
            }
            (
                rule.num.is_some_and(|n| entry.items.len() as u64 >= n),
                first.then_some(entry.generation),
            )
        };
        if full {
            self.flush_batch(&rule.subscription);
        } else if let Some(generation) = start_timer {
            let cse = self.clone();
            let subscription = rule.subscription.clone();
            tokio::spawn(async move {
                tokio::time::sleep(rule.dur).await;
                cse.flush_batch_generation(&subscription, generation);
            });
        }
    }

    fn flush_batch_generation(&self, subscription: &str, generation: u64) {
        let current = self
            .batches()
            .pending
            .lock()
            .get(subscription)
            .map(|p| p.generation);
        if current == Some(generation) {
            self.flush_batch(subscription);
        }
    }

    /// Send what is pending for a subscription now.
    pub(crate) fn flush_batch(&self, subscription: &str) {
        let Some(pending) = self.batches().pending.lock().remove(subscription) else {
            return;
        };
        let events = pending.items.len() as u64;
        let items = if pending.latest_only {
            pending.items.into_iter().last().into_iter().collect()
        } else {
            pending.items
        };
        let body = json!({"m2m:agn": {"m2m:sgn": items}});
        let event_category = pending.latest_only.then_some(4);
        for target in &pending.targets {
            for resolved in self.resolve_targets(target) {
                let mut request = crate::notify::notify_request(self, &resolved, body.clone());
                request.ec = event_category;
                let delivered = pending
                    .stats_of
                    .as_ref()
                    .map(|sub| self.count_delivery(sub, target, events));
                self.notifier().enqueue(resolved, request, delivered);
            }
        }
    }
}
