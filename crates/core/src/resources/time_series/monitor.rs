//! Missing-data detection for `<timeSeries>` (TS-0001 §9.6.36, TS-0004
//! §7.4.37): with `mdd` on, an instance is expected every `pei` ms with a
//! `dgt` within `peid` of the expected time. When none has arrived `mdt` ms
//! after the expected time, that time is a missing data point: it is added to
//! the series' `mdlt` (the newest `mdn` kept, `mdc` their number) and
//! reported to subscriptions with event type 8 (`enc/md`: every `num`
//! points, or when `dur` has passed since the first unreported one).
//!
//! Watching starts with the first instance after `mdd` is switched on. The
//! watch is stored in the series itself, in the internal attribute `__mdw`,
//! so that every node of a shared database sees the same one and a restart
//! resumes it: the expected time of the next instance (`x`), the `dgt`s that
//! arrived for it (`a`, recorded by the write job that creates each instance,
//! on whichever node) and, per reporting subscription, the points not yet
//! reported and since when (`p`). A check is a write job that acts only if
//! the stored `x` is still the time it was timed for, and advances it: of
//! the nodes that time a series, exactly one records each point and sends
//! each report (through the outbox). A node times the series it received
//! instances for; the node that leads background work also times every
//! watched series it finds, so a watch outlives the node that started it.

use std::collections::HashSet;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{json, Map, Value};
use urbis_model::{time, CseResult, Resource, ResourceType};

use crate::notify::Notification;
use crate::Cse;

/// Event type of subscriptions that want missing data reports.
const MISSING_DATA_EVENT: u64 = 8;
/// The internal attribute that holds the watch.
const WATCH: &str = "__mdw";
/// Most arrivals a watch keeps for its current period (a flood of instances
/// within one period needs only one of them to count).
const MAX_ARRIVALS: usize = 64;
/// Most periods one check catches up on (after a long time unwatched); the
/// rest are skipped, not recorded.
const MAX_CATCH_UP: usize = 1000;
/// How often the leader looks for watched series that no node times.
const ADOPT_EVERY: Duration = Duration::from_secs(5);
/// Pause after a check that failed (the store is unreachable, say).
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Longest a timer sleeps before it reads the watch again: a watch that was
/// restarted with a shorter period meanwhile is timed within this.
const LONGEST_NAP_MS: u64 = 1000;

/// The series this node times (one task each).
#[derive(Default)]
pub struct Monitor {
    timed: Mutex<HashSet<String>>,
}

/// The detection settings of a series (`pei`, `peid`, `mdt`), when detection
/// is on.
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

/// The expected time of the series' watch, if it has one.
fn expected(ts: &Resource) -> Option<i64> {
    ts.attrs.get(WATCH)?.get("x")?.as_i64()
}

/// In the write job that creates an instance with data generation time
/// `dgt` in `ts` (which the job writes): start the watch, or record the
/// arrival for the current period.
pub(crate) fn record_arrival(ts: &mut Resource, dgt: &str) {
    let Some((pei, _, _)) = settings(ts) else {
        return;
    };
    let Some(dgt) = time::parse(dgt).map(|t| t.as_millisecond()) else {
        return;
    };
    let watch = ts.attrs.get_mut(WATCH).and_then(Value::as_object_mut);
    match watch
        .and_then(|w| w.get_mut("a"))
        .and_then(Value::as_array_mut)
    {
        Some(arrived) => {
            if arrived.len() >= MAX_ARRIVALS {
                arrived.remove(0);
            }
            arrived.push(json!(dgt));
        }
        None => ts.set(
            WATCH,
            json!({"x": dgt.saturating_add(pei), "a": [], "p": {}}),
        ),
    }
}

/// In the write job of an update of `ts`: detection switched on again
/// (`restart`) or its settings changed ends the watch; the next instance
/// starts a new one.
pub(crate) fn series_updated(previous: &Resource, ts: &mut Resource, restart: bool) {
    if restart || settings(previous) != settings(ts) {
        ts.attrs.remove(WATCH);
    }
}

impl Monitor {
    /// Time the series `ri` on this node, unless it already is.
    pub(crate) fn time(&self, cse: &Cse, ri: &str) {
        if !self.timed.lock().insert(ri.to_owned()) {
            return;
        }
        let cse = cse.clone();
        let ri = ri.to_owned();
        tokio::spawn(async move {
            timer(&cse, &ri).await;
            cse.missing_data().timed.lock().remove(&ri);
        });
    }
}

/// While this node leads background work, time every watched series (the
/// node that timed one may have stopped).
pub(crate) fn spawn_adoption(cse: Cse) {
    tokio::spawn(async move {
        loop {
            if cse.store().leads_background_work() {
                match cse
                    .store()
                    .reader()
                    .and_then(|r| r.of_type(ResourceType::TimeSeries.ty()))
                {
                    Ok(series) => {
                        for ts in series.iter().filter(|ts| expected(ts).is_some()) {
                            cse.missing_data().time(&cse, ts.ri());
                        }
                    }
                    Err(err) => tracing::warn!(%err, "cannot list the watched timeSeries"),
                }
            }
            tokio::time::sleep(ADOPT_EVERY).await;
        }
    });
}

/// The task that times one series on this node, until its watch ends.
async fn timer(cse: &Cse, ri: &str) {
    loop {
        let (timed_for, at) = match cse.store().reader().and_then(|r| r.get(ri)) {
            Ok(Some(ts)) => match (settings(&ts), expected(&ts)) {
                (Some((_, _, mdt)), Some(x)) => (x, x.saturating_add(mdt)),
                _ => return,
            },
            Ok(None) => return,
            Err(err) => {
                tracing::warn!(ts = %ri, %err, "cannot read the timeSeries");
                tokio::time::sleep(RETRY_AFTER).await;
                continue;
            }
        };
        let wait = u64::try_from(at - now_ms()).unwrap_or(0);
        if wait > LONGEST_NAP_MS {
            tokio::time::sleep(Duration::from_millis(LONGEST_NAP_MS)).await;
            continue;
        }
        tokio::time::sleep(Duration::from_millis(wait)).await;
        match check(cse, ri, timed_for).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(err) => {
                tracing::warn!(ts = %ri, %err, "missing data not recorded");
                tokio::time::sleep(RETRY_AFTER).await;
            }
        }
    }
}

/// Check the periods that are due, if the watch still expects `timed_for`
/// (else another node checked it, or the watch restarted: the caller reads
/// it again). `Ok(false)` once the series no longer watches.
async fn check(cse: &Cse, ri: &str, timed_for: i64) -> CseResult<bool> {
    let job_ri = ri.to_owned();
    let job_cse = cse.clone();
    crate::outbox::write_notifying(cse, move |txn, notifications| {
        let Some(mut ts) = txn.lock(&job_ri)? else {
            return Ok(false);
        };
        let (Some((pei, peid, mdt)), Some(x)) = (settings(&ts), expected(&ts)) else {
            return Ok(false);
        };
        let now = now_ms();
        if x != timed_for || now < x.saturating_add(mdt) {
            return Ok(true);
        }
        let mut watch = match ts.attrs.remove(WATCH) {
            Some(Value::Object(watch)) => watch,
            _ => Map::new(),
        };
        let mut arrived: Vec<i64> = match watch.remove("a") {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_i64).collect(),
            _ => Vec::new(),
        };
        let mut pending = match watch.remove("p") {
            Some(Value::Object(pending)) => pending,
            _ => Map::new(),
        };
        let subscriptions: Vec<Resource> = txn
            .children(&job_ri, Some(ResourceType::Subscription.ty()))?
            .into_iter()
            .filter(|sub| {
                crate::resources::subscription::event_types(sub).contains(&MISSING_DATA_EVENT)
            })
            .collect();
        let mut expected = x;
        let mut points = Vec::new();
        for _ in 0..MAX_CATCH_UP {
            if now < expected.saturating_add(mdt) {
                break;
            }
            let window = (expected - peid + 1)..=(expected + peid);
            // What arrived counts for this period only: an instance dated
            // for a later period does not fill that period in advance (as in
            // the reference implementation, whose suite checks exactly this).
            let hit = arrived.iter().any(|dgt| window.contains(dgt));
            arrived.clear();
            let point = (!hit)
                .then(|| jiff::Timestamp::from_millisecond(expected).ok())
                .flatten()
                .map(time::format);
            for (sub, missing) in reports_due(&mut pending, point.as_deref(), &subscriptions, now) {
                let targets = sub.str_list("nu").into_iter().map(str::to_owned).collect();
                let body = json!({"m2m:sgn": {
                    "nev": {"net": MISSING_DATA_EVENT, "rep": {"m2m:tsn": {"mdc": missing.len(), "mdlt": missing}}},
                    "sur": job_cse.sp_relative(sub.ri()),
                }});
                notifications.push(Notification::new(targets, body));
            }
            points.extend(point);
            expected = expected.saturating_add(pei);
        }
        if now >= expected.saturating_add(mdt) {
            let skipped = (now - mdt - expected) / pei + 1;
            tracing::warn!(ts = %job_ri, skipped, "missing-data watch far behind; periods skipped");
            expected = expected.saturating_add(skipped.saturating_mul(pei));
        }
        if !points.is_empty() {
            let mut list: Vec<Value> = match ts.attrs.get("mdlt") {
                Some(Value::Array(items)) => items.clone(),
                _ => Vec::new(),
            };
            list.extend(points.into_iter().map(Value::String));
            if let Some(mdn) = ts.u64_attr("mdn").and_then(|n| usize::try_from(n).ok()) {
                let excess = list.len().saturating_sub(mdn);
                list.drain(..excess);
            }
            ts.set("mdc", list.len());
            ts.set("mdlt", Value::Array(list));
        }
        ts.set(
            WATCH,
            json!({"x": expected, "a": arrived, "p": Value::Object(pending)}),
        );
        txn.update(&ts, false)?;
        Ok(true)
    })
    .await
}

/// Add a missing point (if any) to each reporting subscription's pending
/// points; return the reports that are due (by count, or by duration).
fn reports_due(
    pending: &mut Map<String, Value>,
    point: Option<&str>,
    subscriptions: &[Resource],
    now: i64,
) -> Vec<(Resource, Vec<String>)> {
    let mut due = Vec::new();
    for sub in subscriptions {
        let md = sub.attrs.get("enc").and_then(|enc| enc.get("md"));
        let num = md.and_then(|md| md.get("num")).and_then(Value::as_u64);
        let dur = md
            .and_then(|md| md.get("dur"))
            .and_then(Value::as_str)
            .and_then(time::parse_duration_ms);
        let entry = pending
            .entry(sub.ri().to_owned())
            .or_insert_with(|| json!({"pts": [], "since": now}));
        let mut points: Vec<String> = entry
            .get("pts")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|p| p.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let mut since = entry.get("since").and_then(Value::as_i64).unwrap_or(now);
        if let Some(point) = point {
            if points.is_empty() {
                since = now;
            }
            points.push(point.to_owned());
        }
        let by_count = num.is_some_and(|num| points.len() as u64 >= num.max(1));
        let by_time = dur.is_some_and(|dur| now - since >= dur);
        let unbounded = num.is_none() && dur.is_none();
        if !points.is_empty() && (by_count || by_time || unbounded) {
            due.push((sub.clone(), std::mem::take(&mut points)));
        }
        *entry = json!({"pts": points, "since": since});
    }
    // subscriptions that are gone leave nothing behind
    pending.retain(|ri, _| subscriptions.iter().any(|sub| sub.ri() == ri));
    due
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(extra: Value) -> Resource {
        let mut attrs = urbis_model::Attrs::new();
        attrs.insert("ri".into(), json!("ts1"));
        attrs.insert("mdd".into(), json!(true));
        attrs.insert("pei".into(), json!(1000));
        attrs.insert("mdt".into(), json!(200));
        if let Value::Object(extra) = extra {
            attrs.extend(extra);
        }
        Resource {
            ty: ResourceType::TimeSeries.ty(),
            path: "cse-in/ts1".into(),
            creator: "CAdmin".into(),
            attrs,
        }
    }

    #[test]
    fn the_first_instance_starts_the_watch_and_later_ones_are_recorded() {
        let mut ts = series(json!({}));
        record_arrival(&mut ts, "20261202T000000,000");
        let start = time::parse("20261202T000000,000").unwrap().as_millisecond();
        assert_eq!(expected(&ts), Some(start + 1000));
        record_arrival(&mut ts, "20261202T000001,000");
        assert_eq!(ts.attrs[WATCH]["a"], json!([start + 1000]));
        for _ in 0..2 * MAX_ARRIVALS {
            record_arrival(&mut ts, "20261202T000001,000");
        }
        assert_eq!(ts.attrs[WATCH]["a"].as_array().unwrap().len(), MAX_ARRIVALS);
    }

    #[test]
    fn without_detection_nothing_is_watched() {
        let mut ts = series(json!({"mdd": false}));
        record_arrival(&mut ts, "20261202T000000,000");
        assert!(ts.attrs.get(WATCH).is_none());
    }

    #[test]
    fn changed_settings_or_a_restart_end_the_watch() {
        let mut previous = series(json!({}));
        record_arrival(&mut previous, "20261202T000000,000");
        let mut same = previous.clone();
        series_updated(&previous, &mut same, false);
        assert!(same.attrs.get(WATCH).is_some(), "a label change keeps it");
        let mut restarted = previous.clone();
        series_updated(&previous, &mut restarted, true);
        assert!(restarted.attrs.get(WATCH).is_none());
        let mut faster = previous.clone();
        faster.set("pei", 500);
        series_updated(&previous, &mut faster, false);
        assert!(faster.attrs.get(WATCH).is_none());
    }

    #[test]
    fn reports_are_due_by_count_and_pending_points_are_kept_in_between() {
        let mut sub = series(json!({"enc": {"net": [8], "md": {"num": 2}}}));
        sub.set("ri", "sub1");
        let subs = [sub];
        let mut pending = Map::new();
        assert!(reports_due(&mut pending, Some("p1"), &subs, 0).is_empty());
        assert_eq!(pending["sub1"]["pts"], json!(["p1"]));
        let due = reports_due(&mut pending, Some("p2"), &subs, 10);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].1, ["p1", "p2"]);
        assert_eq!(pending["sub1"]["pts"], json!([]));
        // a subscription that is gone leaves nothing behind
        reports_due(&mut pending, Some("p3"), &[], 20);
        assert!(pending.is_empty());
    }
}
