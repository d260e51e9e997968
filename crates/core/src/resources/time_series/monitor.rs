//! Missing-data detection for `<timeSeries>` (TS-0001 §9.6.36, TS-0004
//! §7.4.37): with `mdd` on, an instance is expected every `pei` ms with a
//! `dgt` within `peid` of the expected time. When none has arrived `mdt` ms
//! after the expected time, that time is a missing data point: it is added to
//! the series' `mdlt` (the newest `mdn` kept, `mdc` their number) and
//! reported to subscriptions with event type 8 (`enc/md`: every `num`
//! points, or when `dur` has passed since the first unreported one).
//!
//! Watching starts with the first instance after `mdd` is switched on and
//! runs in one task per watched series; state is in memory (after a restart
//! it resumes with the next instance).

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{json, Value};
use urbis_model::{time, CseResult, Resource, ResourceType};

use crate::notify::Notification;
use crate::Cse;

/// Event type of subscriptions that want missing data reports.
const MISSING_DATA_EVENT: u64 = 8;

#[derive(Default)]
pub struct Monitor {
    watches: Mutex<HashMap<String, Watch>>,
    next_generation: Mutex<u64>,
}

struct Watch {
    generation: u64,
    /// Expected `dgt` of the next instance, ms since the epoch.
    expected: i64,
    pei: i64,
    peid: i64,
    mdt: i64,
    /// `dgt`s of instances that arrived and were not matched yet.
    arrived: BTreeSet<i64>,
    /// Per subscription: points not yet reported, and when the first came.
    pending: HashMap<String, (Vec<String>, i64)>,
}

/// The detection settings of a series, when detection is on.
fn settings(ts: &Resource) -> Option<(i64, i64, i64)> {
    if ts.attrs.get("mdd").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    let pei = i64::try_from(ts.u64_attr("pei")?).ok()?;
    let mdt = i64::try_from(ts.u64_attr("mdt")?).ok()?;
    let peid = ts.u64_attr("peid").and_then(|p| i64::try_from(p).ok());
    (pei > 0).then_some((pei, peid.unwrap_or(pei / 2), mdt))
}

fn now_ms() -> i64 {
    time::now().as_millisecond()
}

impl Monitor {
    /// An instance with data generation time `dgt` arrived in `ts`.
    pub fn instance_arrived(&self, cse: &Cse, ts: &Resource, dgt: &str) {
        let Some((pei, peid, mdt)) = settings(ts) else {
            return;
        };
        let Some(dgt) = time::parse(dgt).map(|t| t.as_millisecond()) else {
            return;
        };
        let mut watches = self.watches.lock();
        if let Some(watch) = watches.get_mut(ts.ri()) {
            watch.arrived.insert(dgt);
            return;
        }
        let generation = {
            let mut next = self.next_generation.lock();
            *next += 1;
            *next
        };
        watches.insert(
            ts.ri().to_owned(),
            Watch {
                generation,
                expected: dgt.saturating_add(pei),
                pei,
                peid,
                mdt,
                arrived: BTreeSet::new(),
                pending: HashMap::new(),
            },
        );
        let cse = cse.clone();
        let ri = ts.ri().to_owned();
        tokio::spawn(async move { watch(cse, ri, generation).await });
    }

    /// The series changed: detection stops when switched off, and restarts
    /// with the next instance when switched on again (`restart`).
    pub fn series_changed(&self, ts: &Resource, restart: bool) {
        let mut watches = self.watches.lock();
        let unchanged = watches
            .get(ts.ri())
            .is_some_and(|w| settings(ts) == Some((w.pei, w.peid, w.mdt)));
        if restart || !unchanged {
            watches.remove(ts.ri());
        }
    }

    /// One check at the detection time of the expected instance: `None`
    /// when this watch has ended, else the expected time if nothing came.
    fn check(&self, ri: &str, generation: u64) -> Option<Option<i64>> {
        let mut watches = self.watches.lock();
        let watch = watches.get_mut(ri).filter(|w| w.generation == generation)?;
        let expected = watch.expected;
        let window = (expected - watch.peid + 1)..=(expected + watch.peid);
        let hit = watch.arrived.range(window).next().is_some();
        // What arrived counts for this period only: an instance dated for a
        // later period does not fill that period in advance (as in the
        // reference implementation, whose suite checks exactly this).
        watch.arrived.clear();
        watch.expected = expected.saturating_add(watch.pei);
        Some((!hit).then_some(expected))
    }

    /// Add a missing point to each reporting subscription; return the
    /// reports that are due (by count, or by duration).
    fn reports_due(
        &self,
        ri: &str,
        point: Option<&str>,
        subscriptions: &[Resource],
        now: i64,
    ) -> Vec<(Resource, Vec<String>)> {
        let mut watches = self.watches.lock();
        let Some(watch) = watches.get_mut(ri) else {
            return Vec::new();
        };
        let mut due = Vec::new();
        for sub in subscriptions {
            let md = sub.attrs.get("enc").and_then(|enc| enc.get("md"));
            let num = md.and_then(|md| md.get("num")).and_then(Value::as_u64);
            let dur = md
                .and_then(|md| md.get("dur"))
                .and_then(Value::as_str)
                .and_then(time::parse_duration_ms);
            let entry = watch
                .pending
                .entry(sub.ri().to_owned())
                .or_insert_with(|| (Vec::new(), now));
            if let Some(point) = point {
                if entry.0.is_empty() {
                    entry.1 = now;
                }
                entry.0.push(point.to_owned());
            }
            let by_count = num.is_some_and(|num| entry.0.len() as u64 >= num.max(1));
            let by_time = dur.is_some_and(|dur| now - entry.1 >= dur);
            let unbounded = num.is_none() && dur.is_none();
            if !entry.0.is_empty() && (by_count || by_time || unbounded) {
                due.push((sub.clone(), std::mem::take(&mut entry.0)));
            }
        }
        due
    }
}

/// The task of one watched series.
async fn watch(cse: Cse, ri: String, generation: u64) {
    loop {
        let next_check = {
            let watches = cse.missing_data().watches.lock();
            match watches.get(&ri).filter(|w| w.generation == generation) {
                Some(w) => w.expected + w.mdt,
                None => return,
            }
        };
        let wait = u64::try_from(next_check - now_ms()).unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let Some(missing) = cse.missing_data().check(&ri, generation) else {
            return;
        };
        match record(&cse, &ri, missing).await {
            Ok(true) => {}
            Ok(false) => {
                // the series is gone or no longer detecting
                let mut watches = cse.missing_data().watches.lock();
                if watches.get(&ri).is_some_and(|w| w.generation == generation) {
                    watches.remove(&ri);
                }
                return;
            }
            Err(err) => tracing::warn!(ts = %ri, %err, "missing data not recorded"),
        }
    }
}

/// Record a missing point (if any) in the series and send due reports.
/// `Ok(false)` when the series no longer detects missing data.
async fn record(cse: &Cse, ri: &str, missing: Option<i64>) -> CseResult<bool> {
    let point = missing
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map(time::format);
    let detecting = {
        let job_ri = ri.to_owned();
        let job_point = point.clone();
        urbis_store::write(cse.store(), move |txn| {
            let Some(mut ts) = txn.get(&job_ri)? else {
                return Ok(false);
            };
            if settings(&ts).is_none() {
                return Ok(false);
            }
            if let Some(point) = job_point {
                let mut list: Vec<Value> = match ts.attrs.get("mdlt") {
                    Some(Value::Array(items)) => items.clone(),
                    _ => Vec::new(),
                };
                list.push(Value::String(point));
                if let Some(mdn) = ts.u64_attr("mdn").and_then(|n| usize::try_from(n).ok()) {
                    let excess = list.len().saturating_sub(mdn);
                    list.drain(..excess);
                }
                ts.set("mdc", list.len());
                ts.set("mdlt", Value::Array(list));
                txn.update(&ts, false)?;
            }
            Ok(true)
        })
        .await?
    };
    if !detecting {
        return Ok(false);
    }
    let subscriptions: Vec<Resource> = {
        let reader = cse.store().reader()?;
        reader
            .children(ri, Some(ResourceType::Subscription.ty()))?
            .into_iter()
            .filter(|sub| {
                crate::resources::subscription::event_types(sub).contains(&MISSING_DATA_EVENT)
            })
            .collect()
    };
    let due = cse
        .missing_data()
        .reports_due(ri, point.as_deref(), &subscriptions, now_ms());
    let notifications = due
        .into_iter()
        .map(|(sub, points)| {
            let targets = sub.str_list("nu").into_iter().map(str::to_owned).collect();
            let body = json!({"m2m:sgn": {
                "nev": {"net": MISSING_DATA_EVENT, "rep": {"m2m:tsn": {"mdc": points.len(), "mdlt": points}}},
                "sur": cse.sp_relative(sub.ri()),
            }});
            Notification::new(targets, body)
        })
        .collect();
    cse.dispatch(notifications);
    Ok(true)
}
