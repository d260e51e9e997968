//! Batched notifications (`bn`, TS-0004 §7.5.1.2.x; TS-0001 §10.2.10.x):
//! events are held and sent as one `m2m:agn` when `num` are pending, when
//! `dur` has passed since the first, or when the subscription is deleted;
//! with `ln` only the latest goes out, with event category 4. The pending
//! events are kept in the store (`core/src/batch.rs`).

mod common;

use std::time::Duration;

use serde_json::{json, Value};

/// AE `app` with container `box` and a subscription `sub` on it with the
/// given extra attributes; returns the AE-ID and the receiver.
async fn subscribed(cse: &common::TestCse, extra: Value) -> (String, common::Receiver) {
    let aei = cse.register_ae("app", None).await;
    let cnt = cse
        .create("/cse-in/app", &aei, 3, json!({"m2m:cnt": {"rn": "box"}}))
        .await;
    assert_eq!(cnt.rsc, 2001, "{}", cnt.body);
    let receiver = common::receiver().await;
    let mut sub = json!({"rn": "sub", "nu": [receiver.url], "enc": {"net": [3]}});
    for (key, value) in extra.as_object().expect("attributes") {
        sub[key] = value.clone();
    }
    let answer = cse
        .create("/cse-in/app/box", &aei, 23, json!({"m2m:sub": sub}))
        .await;
    assert_eq!(answer.rsc, 2001, "{}", answer.body);
    assert_eq!(receiver.wait_for(1).await.len(), 1, "the verification");
    (aei, receiver)
}

async fn add_instances(cse: &common::TestCse, aei: &str, cons: std::ops::Range<u32>) {
    for con in cons {
        let cin = cse
            .create("/cse-in/app/box", aei, 4, json!({"m2m:cin": {"con": con}}))
            .await;
        assert_eq!(cin.rsc, 2001, "{}", cin.body);
    }
}

/// The `con`s of the instances an aggregated notification reports.
fn batched_cons(notification: &Value) -> Vec<Value> {
    notification
        .pointer("/m2m:agn/m2m:sgn")
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("m2m:agn expected: {notification}"))
        .iter()
        .map(|sgn| sgn["nev"]["rep"]["m2m:cin"]["con"].clone())
        .collect()
}

async fn pending_batches(cse: &common::TestCse) -> Vec<(String, i64)> {
    urbis_store::write(cse.cse.store(), |txn| Ok(txn.batches_pending(None)?))
        .await
        .expect("pending batches")
}

#[tokio::test]
async fn a_batch_goes_out_once_num_events_are_pending() {
    let cse = common::start().await;
    let (aei, receiver) = subscribed(&cse, json!({"bn": {"num": 3}})).await;
    add_instances(&cse, &aei, 0..2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.received.lock().await.len(),
        1,
        "two of three events are held"
    );
    let pending = pending_batches(&cse).await;
    assert_eq!(pending.len(), 1, "the held events are in the store");

    add_instances(&cse, &aei, 2..5).await;
    let got = receiver.wait_for(2).await;
    assert_eq!(got.len(), 2, "one batch for three events: {got:?}");
    assert_eq!(batched_cons(&got[1]), vec![json!(0), json!(1), json!(2)]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.received.lock().await.len(), 2, "3 and 4 are held");
    add_instances(&cse, &aei, 5..6).await;
    let got = receiver.wait_for(3).await;
    assert_eq!(batched_cons(&got[2]), vec![json!(3), json!(4), json!(5)]);
    assert!(pending_batches(&cse).await.is_empty());
}

#[tokio::test]
async fn a_batch_goes_out_when_its_duration_has_passed() {
    let cse = common::start().await;
    let (aei, receiver) = subscribed(&cse, json!({"bn": {"num": 10, "dur": "PT1S"}})).await;
    add_instances(&cse, &aei, 0..2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received.lock().await.len(), 1, "not yet due");
    let mut got = Vec::new();
    for _ in 0..40 {
        got = receiver.wait_for(2).await;
        if got.len() >= 2 {
            break;
        }
    }
    assert_eq!(got.len(), 2, "the batch after 1 s: {got:?}");
    assert_eq!(batched_cons(&got[1]), vec![json!(0), json!(1)]);
    assert!(pending_batches(&cse).await.is_empty());
}

#[tokio::test]
async fn a_latest_only_batch_sends_the_newest_event_with_event_category_4() {
    let cse = common::start().await;
    let (aei, receiver) = subscribed(&cse, json!({"bn": {"num": 3}, "ln": true})).await;
    add_instances(&cse, &aei, 0..3).await;
    let got = receiver.wait_for(2).await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(batched_cons(&got[1]), vec![json!(2)]);
    let received = receiver.received.lock().await;
    let ec = received[1].0.get("x-m2m-ec").and_then(|v| v.to_str().ok());
    assert_eq!(ec, Some("4"), "event category latest");
}

#[tokio::test]
async fn deleting_a_subscription_sends_its_pending_batch() {
    let cse = common::start().await;
    let (aei, receiver) = subscribed(&cse, json!({"bn": {"num": 10}})).await;
    add_instances(&cse, &aei, 0..2).await;
    let deleted = cse.delete("/cse-in/app/box/sub", &aei).await;
    assert_eq!(deleted.rsc, 2002, "{}", deleted.body);
    let got = receiver.wait_for(2).await;
    let batch = got
        .iter()
        .find(|n| n.get("m2m:agn").is_some())
        .unwrap_or_else(|| panic!("the pending batch: {got:?}"));
    assert_eq!(batched_cons(batch), vec![json!(0), json!(1)]);
    assert!(pending_batches(&cse).await.is_empty());
}

#[tokio::test]
async fn the_last_event_of_an_expiring_subscription_goes_out_with_its_batch() {
    let cse = common::start().await;
    let (aei, receiver) = subscribed(&cse, json!({"bn": {"num": 10}, "exc": 3})).await;
    add_instances(&cse, &aei, 0..3).await;
    let got = receiver.wait_for(2).await;
    let batch = got
        .iter()
        .find(|n| n.get("m2m:agn").is_some())
        .unwrap_or_else(|| panic!("the batch of the deleted subscription: {got:?}"));
    assert_eq!(batched_cons(batch), vec![json!(0), json!(1), json!(2)]);
    assert_eq!(cse.retrieve("/cse-in/app/box/sub", &aei).await.rsc, 4004);
    assert!(pending_batches(&cse).await.is_empty());
}

#[tokio::test]
async fn a_batch_is_one_request_for_several_events_in_the_statistics() {
    let cse = common::start().await;
    let (aei, receiver) = subscribed(&cse, json!({"bn": {"num": 3}, "nse": true})).await;
    add_instances(&cse, &aei, 0..3).await;
    receiver.wait_for(2).await;
    let mut stats = Value::Null;
    for _ in 0..100 {
        stats = cse
            .retrieve("/cse-in/app/box/sub", &aei)
            .await
            .at("/m2m:sub/nsi/0")
            .clone();
        if stats.get("rsr") == Some(&json!(1)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stats["rqs"], json!(1), "{stats}");
    assert_eq!(stats["rsr"], json!(1), "{stats}");
    assert_eq!(stats["noec"], json!(3), "{stats}");
}

#[tokio::test]
async fn deleting_the_subscribed_resource_sends_the_pending_batch_and_then_the_deletion_event() {
    let cse = common::start().await;
    let (aei, receiver) =
        subscribed(&cse, json!({"bn": {"num": 10}, "enc": {"net": [2, 3]}})).await;
    add_instances(&cse, &aei, 0..2).await;
    let deleted = cse.delete("/cse-in/app/box", &aei).await;
    assert_eq!(deleted.rsc, 2002, "{}", deleted.body);
    let mut got = Vec::new();
    for _ in 0..5 {
        got = receiver.wait_for(3).await;
        if got.len() >= 3 {
            break;
        }
    }
    let batches: Vec<&Value> = got.iter().filter(|n| n.get("m2m:agn").is_some()).collect();
    assert_eq!(
        batches.len(),
        2,
        "the pending batch, then the deletion: {got:?}"
    );
    assert_eq!(batched_cons(batches[0]), vec![json!(0), json!(1)]);
    let events = batches[1]
        .pointer("/m2m:agn/m2m:sgn")
        .and_then(Value::as_array)
        .expect("events");
    assert_eq!(events.len(), 1, "{got:?}");
    assert_eq!(events[0]["nev"]["net"], json!(2), "{got:?}");
    assert!(pending_batches(&cse).await.is_empty());
}

#[tokio::test]
async fn a_malformed_batch_rule_is_refused_with_4000_and_nothing_is_stored() {
    let cse = common::start().await;
    let aei = cse.register_ae("app", None).await;
    let cnt = cse
        .create("/cse-in/app", &aei, 3, json!({"m2m:cnt": {"rn": "box"}}))
        .await;
    assert_eq!(cnt.rsc, 2001, "{}", cnt.body);
    let receiver = common::receiver().await;
    for bn in [json!("five"), json!({"num": 0}), json!({"num": "5"})] {
        let sub = json!({"m2m:sub": {"rn": "sub", "nu": [receiver.url], "bn": bn}});
        let answer = cse.create("/cse-in/app/box", &aei, 23, sub).await;
        assert_eq!(answer.rsc, 4000, "bn {bn}: {}", answer.body);
        assert_eq!(
            cse.retrieve("/cse-in/app/box/sub", &aei).await.rsc,
            4004,
            "nothing stored for bn {bn}"
        );
    }
    assert!(pending_batches(&cse).await.is_empty());
}
