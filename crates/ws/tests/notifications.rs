//! Requests from the CSE to an AE: over the WebSocket the AE opened (TS-0020),
//! or over a connection the CSE dials to a `ws://` point of access.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::handshake::server::{Request as Upgrade, Response as Accepted};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use urbis_core::Transport;
use urbis_model::{Operation, Request, Rsc, Serialization};

/// The admin creates a subscription for `aei` on `container`; the verification
/// request is expected (and answered) on `ae`.
async fn subscribe_verified(admin: &mut Client, ae: &mut Client, container: &str, aei: &str) {
    admin
        .send(
            &json!({"op": 1, "fr": ADMIN, "to": container, "ty": 23, "rqi": "sub", "rvi": "4",
                      "pc": {"m2m:sub": {"rn": "sub", "nu": [aei], "enc": {"net": [3]}}}}),
        )
        .await;
    let verification = ae.receive().await;
    assert_eq!(verification["op"], json!(5), "{verification}");
    assert_eq!(verification["to"], json!(aei), "{verification}");
    assert_eq!(
        verification["pc"]["m2m:sgn"]["vrq"],
        json!(true),
        "{verification}"
    );
    ae.answer(&verification, 2000).await;
    let created = admin.receive().await;
    assert_eq!(created["rsc"], json!(2001), "{created}");
}

#[tokio::test]
async fn verification_and_notification_come_over_the_aes_own_websocket() {
    for ser in [Ser::Json, Ser::Cbor] {
        let cse = start().await;
        let mut ae = Client::connect(cse.addr, ser).await;
        let aei = ae.register("Cnear", "near", None).await;
        assert!(
            cse.transport.connected(&aei).is_some(),
            "registration associates"
        );
        let made = ae
            .create(&aei, "cse-in/near", 3, json!({"m2m:cnt": {"rn": "data"}}))
            .await;
        assert_eq!(made["rsc"], json!(2001), "{made}");

        let mut admin = Client::connect_as(cse.addr, Ser::Json, Some(ADMIN)).await;
        subscribe_verified(&mut admin, &mut ae, "cse-in/near/data", &aei).await;

        let cin = admin
            .create(
                ADMIN,
                "cse-in/near/data",
                4,
                json!({"m2m:cin": {"con": "21.5"}}),
            )
            .await;
        assert_eq!(cin["rsc"], json!(2001), "{cin}");
        let notification = ae.receive().await;
        assert_eq!(notification["op"], json!(5), "{ser:?}: {notification}");
        assert_eq!(notification["fr"], json!("/id-in"));
        assert_eq!(
            notification["pc"]["m2m:sgn"]["nev"]["rep"]["m2m:cin"]["con"],
            json!("21.5"),
            "{notification}"
        );
        ae.answer(&notification, 2000).await;
        // nothing else arrives, and the admin's own connection got no notification
        assert!(ae
            .receive_within(Duration::from_millis(300))
            .await
            .is_none());
        assert!(admin
            .receive_within(Duration::from_millis(100))
            .await
            .is_none());
    }
}

#[tokio::test]
async fn a_reconnected_ae_is_reached_on_its_new_connection() {
    let cse = start().await;
    let mut first = Client::connect(cse.addr, Ser::Json).await;
    let aei = first.register("Cback", "back", None).await;
    drop(first);
    eventually("the old connection is forgotten", || {
        cse.transport.connected(&aei).is_none()
    })
    .await;
    // any successful request naming the AE as originator associates again
    let mut again = Client::connect(cse.addr, Ser::Json).await;
    let made = again
        .create(&aei, "cse-in/back", 3, json!({"m2m:cnt": {"rn": "data"}}))
        .await;
    assert_eq!(made["rsc"], json!(2001), "{made}");
    assert!(cse.transport.connected(&aei).is_some());
    let mut admin = Client::connect_as(cse.addr, Ser::Json, Some(ADMIN)).await;
    subscribe_verified(&mut admin, &mut again, "cse-in/back/data", &aei).await;
}

#[tokio::test]
async fn connection_loss_fails_pending_requests_and_nothing_hangs() {
    let cse = start().await;
    let mut ae = Client::connect(cse.addr, Ser::Json).await;
    let aei = ae.register("Cgone", "gone", None).await;
    ae.create(&aei, "cse-in/gone", 3, json!({"m2m:cnt": {"rn": "data"}}))
        .await;
    let mut admin = Client::connect_as(cse.addr, Ser::Json, Some(ADMIN)).await;
    subscribe_verified(&mut admin, &mut ae, "cse-in/gone/data", &aei).await;

    // a request is on its way to the AE when the AE goes away
    let uri = cse.transport.connected(&aei).expect("connected");
    let mut request = Request::new(Operation::Notify, aei.clone());
    request.fr = Some("/id-in".into());
    request.rqi = "direct".into();
    request.rvi = Some("4".into());
    request.pc = Some(json!({"m2m:sgn": {"sur": "x"}}));
    let sent = tokio::spawn(cse.transport.send(&uri, request, Serialization::Json));
    let arrived = ae.receive().await;
    assert_eq!(arrived["rqi"], json!("direct"));
    let started = Instant::now();
    drop(ae);
    let outcome = tokio::time::timeout(PATIENCE, sent)
        .await
        .expect("the pending request ends")
        .unwrap();
    assert_eq!(outcome.unwrap_err().rsc, Rsc::TargetNotReachable);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "failed on loss, not by timeout"
    );
    eventually("the association is dropped", || {
        cse.transport.connected(&aei).is_none()
    })
    .await;
    assert_eq!(
        cse.transport.counts(),
        (1, 0),
        "only the admin's connection is left"
    );

    // the CSE goes on without the AE, promptly
    let started = Instant::now();
    let cin = admin
        .create(
            ADMIN,
            "cse-in/gone/data",
            4,
            json!({"m2m:cin": {"con": "lost"}}),
        )
        .await;
    assert_eq!(cin["rsc"], json!(2001), "{cin}");
    let refused = admin
        .request(
            json!({"op": 1, "fr": ADMIN, "to": "cse-in/gone/data", "ty": 23,
                        "pc": {"m2m:sub": {"rn": "sub2", "nu": [aei]}}}),
        )
        .await;
    assert_ne!(
        refused["rsc"],
        json!(2001),
        "nobody to verify with: {refused}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    let stale = cse
        .transport
        .send(
            &uri,
            Request::new(Operation::Notify, aei.clone()),
            Serialization::Json,
        )
        .await;
    assert_eq!(stale.unwrap_err().rsc, Rsc::TargetNotReachable);
    assert!(admin
        .receive_within(Duration::from_millis(200))
        .await
        .is_none());
}

#[tokio::test]
async fn an_origin_header_pins_the_connection_to_that_originator() {
    let cse = start().await;
    // a provisioning tool registering an AE for someone else
    let mut tool = Client::connect_as(cse.addr, Ser::Json, Some("Ctool")).await;
    let aei = tool.register("Cother", "other", None).await;
    assert_eq!(cse.transport.connected(&aei), None);
    // the AE's own connection, announced on the handshake, reaches it at once
    let _own = Client::connect_as(cse.addr, Ser::Json, Some(&aei)).await;
    eventually("the announced AE is reached", || {
        cse.transport.connected(&aei).is_some()
    })
    .await;
}

/// A WebSocket server standing in for an AE with a `ws://` point of access:
/// answers every request with 2000 and records what it saw.
#[derive(Default)]
struct Seen {
    connections: usize,
    subprotocols: Vec<String>,
    origins: Vec<String>,
    requests: Vec<Value>,
}

async fn ws_receiver() -> (String, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri = format!("ws://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                #[allow(clippy::result_large_err)] // tungstenite's callback type
                let callback = |request: &Upgrade, mut response: Accepted| {
                    let header = |name| {
                        request
                            .headers()
                            .get(name)
                            .and_then(|v: &HeaderValue| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned()
                    };
                    let mut seen = record.lock();
                    seen.connections += 1;
                    seen.subprotocols.push(header("sec-websocket-protocol"));
                    seen.origins.push(header("x-m2m-origin"));
                    response.headers_mut().insert(
                        "sec-websocket-protocol",
                        HeaderValue::from_static("oneM2M.json"),
                    );
                    Ok(response)
                };
                let mut ws = tokio_tungstenite::accept_hdr_async(stream, callback)
                    .await
                    .unwrap();
                while let Some(Ok(message)) = ws.next().await {
                    let Message::Text(text) = message else {
                        continue;
                    };
                    let request: Value = serde_json::from_str(&text).unwrap();
                    let answer = json!({"rsc": 2000, "rqi": request["rqi"]});
                    record.lock().requests.push(request);
                    ws.send(Message::text(answer.to_string())).await.unwrap();
                }
            });
        }
    });
    (uri, seen)
}

#[tokio::test]
async fn ws_points_of_access_are_dialed_and_the_connection_reused() {
    let cse = start().await;
    let (poa, seen) = ws_receiver().await;
    let mut tool = Client::connect_as(cse.addr, Ser::Json, Some("Ctool")).await;
    let aei = tool.register("Cfar", "far", Some(&poa)).await;
    let made = tool
        .create(&aei, "cse-in/far", 3, json!({"m2m:cnt": {"rn": "data"}}))
        .await;
    assert_eq!(made["rsc"], json!(2001), "{made}");
    let sub = tool
        .request(
            json!({"op": 1, "fr": ADMIN, "to": "cse-in/far/data", "ty": 23,
                        "pc": {"m2m:sub": {"rn": "sub", "nu": [aei], "enc": {"net": [3]}}}}),
        )
        .await;
    assert_eq!(
        sub["rsc"],
        json!(2001),
        "verified over the dialed connection: {sub}"
    );
    for con in ["1", "2"] {
        let cin = tool
            .create(
                ADMIN,
                "cse-in/far/data",
                4,
                json!({"m2m:cin": {"con": con}}),
            )
            .await;
        assert_eq!(cin["rsc"], json!(2001), "{cin}");
    }
    eventually("both notifications arrive", || {
        seen.lock().requests.len() == 3
    })
    .await;
    let seen = seen.lock();
    assert_eq!(seen.connections, 1, "one connection for all three requests");
    assert_eq!(seen.subprotocols, vec!["oneM2M.json"]);
    assert_eq!(seen.origins, vec!["/id-in"]);
    assert_eq!(seen.requests[0]["pc"]["m2m:sgn"]["vrq"], json!(true));
    assert_eq!(
        seen.requests[2]["pc"]["m2m:sgn"]["nev"]["rep"]["m2m:cin"]["con"],
        json!("2")
    );
    assert!(seen.requests.iter().all(|r| r["to"] == json!(aei)));
}

#[tokio::test]
async fn a_ws_point_of_access_uses_the_aes_own_connection_when_there_is_one() {
    let cse = start().await;
    let mut ae = Client::connect(cse.addr, Ser::Json).await;
    // nothing listens on port 1: only the AE's own connection can reach it
    let aei = ae.register("Cself", "self", Some("ws://127.0.0.1:1")).await;
    ae.create(&aei, "cse-in/self", 3, json!({"m2m:cnt": {"rn": "data"}}))
        .await;
    let mut admin = Client::connect_as(cse.addr, Ser::Json, Some(ADMIN)).await;
    subscribe_verified(&mut admin, &mut ae, "cse-in/self/data", &aei).await;
}

#[tokio::test]
async fn an_unreachable_ws_point_of_access_fails_verification_promptly() {
    let cse = start().await;
    let mut tool = Client::connect_as(cse.addr, Ser::Json, Some("Ctool")).await;
    let aei = tool
        .register("Cnone", "none", Some("ws://127.0.0.1:1"))
        .await;
    tool.create(&aei, "cse-in/none", 3, json!({"m2m:cnt": {"rn": "data"}}))
        .await;
    let started = Instant::now();
    let sub = tool
        .request(
            json!({"op": 1, "fr": ADMIN, "to": "cse-in/none/data", "ty": 23,
                        "pc": {"m2m:sub": {"rn": "sub", "nu": [aei]}}}),
        )
        .await;
    assert_ne!(sub["rsc"], json!(2001), "{sub}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        cse.transport.counts().0,
        1,
        "no dialed connection left behind"
    );
}

#[tokio::test]
async fn a_declared_non_ws_point_of_access_is_not_bypassed() {
    let cse = start().await;
    let mut ae = Client::connect(cse.addr, Ser::Json).await;
    let aei = ae
        .register("Chttp", "http", Some("http://127.0.0.1:1/notify"))
        .await;
    assert!(
        cse.transport.connected(&aei).is_some(),
        "the connection reaches the AE"
    );
    ae.create(&aei, "cse-in/http", 3, json!({"m2m:cnt": {"rn": "data"}}))
        .await;
    let mut admin = Client::connect_as(cse.addr, Ser::Json, Some(ADMIN)).await;
    let sub = admin
        .request(
            json!({"op": 1, "fr": ADMIN, "to": "cse-in/http/data", "ty": 23,
                        "pc": {"m2m:sub": {"rn": "sub", "nu": [aei]}}}),
        )
        .await;
    // the AE asked to be reached over HTTP (which this CSE cannot do here)
    assert_ne!(sub["rsc"], json!(2001), "{sub}");
    assert!(ae
        .receive_within(Duration::from_millis(300))
        .await
        .is_none());
}
