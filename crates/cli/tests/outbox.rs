//! A notification survives the node that queued it: the event is
//! acknowledged, the node is killed with SIGKILL before the target answered,
//! and the restarted node delivers it, with the same `rqi`, once. So do the
//! events held in a notification batch. On the embedded store always, on
//! PostgreSQL when URBIS_TEST_DATABASE_URL names a database (.ci/run sets it).

use std::ffi::OsString;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use serde_json::{json, Value};
use urbis_store::postgres::ScratchSchema;

mod common;
use common::{admin_send, start_server};

/// A notification target that answers only while `answering`; otherwise it
/// holds every request unanswered. Every request for an instance is noted
/// (rqi, ri of the instance) when it arrives, and again when answered.
#[derive(Default)]
struct Target {
    answering: AtomicBool,
    arrived: Mutex<Vec<(String, String)>>,
    answered: Mutex<Vec<(String, String)>>,
}

async fn target() -> (String, Arc<Target>) {
    let state = Arc::new(Target::default());
    state.answering.store(true, Ordering::SeqCst);
    let shared = state.clone();
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let state = shared.clone();
            async move {
                let sgn: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                let ri = sgn["m2m:sgn"]["nev"]["rep"]["m2m:cin"]["ri"].as_str();
                let rqi = headers
                    .get("x-m2m-ri")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                if let Some(ri) = ri {
                    let seen = (rqi, ri.to_owned());
                    state.arrived.lock().unwrap().push(seen.clone());
                    if !state.answering.load(Ordering::SeqCst) {
                        std::future::pending::<()>().await;
                    }
                    state.answered.lock().unwrap().push(seen);
                }
                common::notification_ok()
            }
        }),
    );
    let url = common::serve_on_loopback(app).await;
    (url, state)
}

async fn wait_for(what: &str, timeout: Duration, check: impl Fn() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn redelivered_after_kill_9(store: &[OsString]) {
    let (url, target) = target().await;
    let mut server = start_server(store);
    let (rsc, _) = admin_send(
        &server.base,
        reqwest::Method::POST,
        "/cse-in",
        Some(3),
        Some(json!({"m2m:cnt": {"rn": "box"}})),
    )
    .await;
    assert_eq!(rsc, 2001);
    let sub = json!({"m2m:sub": {"rn": "watch", "nu": [url], "enc": {"net": [3]}}});
    let (rsc, body) = admin_send(
        &server.base,
        reqwest::Method::POST,
        "/cse-in/box",
        Some(23),
        Some(sub),
    )
    .await;
    assert_eq!(rsc, 2001, "{body}");

    // The target stops answering; the event is acknowledged, its
    // notification is on its way, and the node dies before an answer.
    target.answering.store(false, Ordering::SeqCst);
    let (rsc, body) = admin_send(
        &server.base,
        reqwest::Method::POST,
        "/cse-in/box",
        Some(4),
        Some(json!({"m2m:cin": {"con": "x"}})),
    )
    .await;
    assert_eq!(rsc, 2001, "{body}");
    let ri = body["m2m:cin"]["ri"].as_str().unwrap().to_owned();
    wait_for("the first attempt", Duration::from_secs(10), || {
        !target.arrived.lock().unwrap().is_empty()
    })
    .await;
    server.child.kill().unwrap(); // SIGKILL, while the attempt is unanswered
    let _ = server.child.wait();
    let first = target.arrived.lock().unwrap()[0].clone();
    assert_eq!(first.1, ri);
    assert!(target.answered.lock().unwrap().is_empty());

    // Back up: the restarted node delivers it, with the same rqi.
    target.answering.store(true, Ordering::SeqCst);
    let mut server = start_server(store);
    wait_for("the re-delivery", Duration::from_secs(15), || {
        !target.answered.lock().unwrap().is_empty()
    })
    .await;
    assert_eq!(
        target.answered.lock().unwrap().clone(),
        vec![first.clone()],
        "re-delivered with the rqi of the first attempt"
    );

    // Settled, it is gone from the outbox: another restart sends nothing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.child.kill().unwrap();
    let _ = server.child.wait();
    let mut server = start_server(store);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        target.answered.lock().unwrap().clone(),
        vec![first],
        "a delivered notification is not sent again"
    );
    server.child.kill().unwrap();
    let _ = server.child.wait();
}

#[tokio::test]
async fn a_notification_queued_by_a_killed_node_is_delivered_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    redelivered_after_kill_9(&["--data-dir".into(), dir.path().into()]).await;
}

#[tokio::test]
async fn postgres_a_notification_queued_by_a_killed_node_is_delivered_after_the_restart() {
    let Some(schema) = scratch_schema("outbox") else {
        return;
    };
    redelivered_after_kill_9(&["--database-url".into(), schema.url().into()]).await;
}

fn scratch_schema(test: &str) -> Option<ScratchSchema> {
    match std::env::var("URBIS_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(ScratchSchema::create(&url).expect("scratch schema")),
        _ => {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "\n!! URBIS_TEST_DATABASE_URL not set: the PostgreSQL {test} test did NOT run. !!\n"
            );
            None
        }
    }
}

/// Two events of a batch of three are acknowledged, the node is killed with
/// SIGKILL; the third event, after the restart, fills the batch with all
/// three.
async fn batch_survives_kill_9(store: &[OsString]) {
    let (url, batches) = common::batch_receiver().await;
    let mut server = start_server(store);
    common::batched_box(&server.base, &url, 3).await;
    common::add_to_box(&server.base, 0).await;
    common::add_to_box(&server.base, 1).await;
    server.child.kill().unwrap();
    let _ = server.child.wait();
    assert!(batches.lock().unwrap().is_empty(), "two of three are held");

    let server = start_server(store);
    common::add_to_box(&server.base, 2).await;
    common::expect_one_batch(
        &batches,
        &[0, 1, 2],
        "one batch with the events from before and after the kill",
    )
    .await;
}

#[tokio::test]
async fn a_pending_notification_batch_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    batch_survives_kill_9(&["--data-dir".into(), dir.path().into()]).await;
}

#[tokio::test]
async fn postgres_a_pending_notification_batch_survives_kill_9() {
    let Some(schema) = scratch_schema("batch") else {
        return;
    };
    batch_survives_kill_9(&["--database-url".into(), schema.url().into()]).await;
}
