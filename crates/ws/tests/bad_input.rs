//! Malformed input: an error primitive when there is someone to answer, a
//! close frame with a reason when the frame itself is unusable; the server
//! stays healthy either way.

mod common;

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Bytes, Message};
use urbis_ws::WsOptions;

#[tokio::test]
async fn malformed_json_gets_a_bad_request_primitive() {
    let cse = start().await;
    let mut client = Client::connect(cse.addr, Ser::Json).await;
    client.ws.send(Message::text("{\"op\": 2, ")).await.unwrap();
    let answer = client.receive().await;
    assert_eq!(answer["rsc"], json!(4000), "{answer}");
    assert_eq!(answer["rqi"], json!(""), "no readable rqi: {answer}");
    // the connection still serves
    assert_eq!(client.retrieve(ADMIN, "cse-in").await["rsc"], json!(2000));
}

#[tokio::test]
async fn malformed_cbor_gets_a_bad_request_primitive() {
    let cse = start().await;
    let mut client = Client::connect(cse.addr, Ser::Cbor).await;
    client
        .ws
        .send(Message::Binary(Bytes::from_static(&[0xff, 0x00, 0x13])))
        .await
        .unwrap();
    let answer = client.receive().await;
    assert_eq!(answer["rsc"], json!(4000), "{answer}");
    assert_eq!(client.retrieve(ADMIN, "cse-in").await["rsc"], json!(2000));
}

#[tokio::test]
async fn a_primitive_without_op_is_answered_with_its_rqi() {
    let cse = start().await;
    let mut client = Client::connect(cse.addr, Ser::Json).await;
    for (primitive, rqi) in [
        (
            json!({"to": "cse-in", "fr": ADMIN, "rqi": "no-op", "rvi": "4"}),
            "no-op",
        ),
        (
            json!({"op": 2, "fr": ADMIN, "rqi": "no-to", "rvi": "4"}),
            "no-to",
        ),
        (
            json!({"op": 42, "to": "cse-in", "fr": ADMIN, "rqi": "bad-op", "rvi": "4"}),
            "bad-op",
        ),
        (
            json!({"m2m:rqp": {"to": "cse-in", "rqi": "wrapped"}}),
            "wrapped",
        ),
        (json!(["not", "an", "object"]), ""),
    ] {
        client.send(&primitive).await;
        let answer = client.receive().await;
        assert_eq!(answer["rsc"], json!(4000), "{primitive}: {answer}");
        assert_eq!(answer["rqi"], json!(rqi), "{primitive}: {answer}");
    }
    // an answer nobody waits for is dropped without a reply
    client.send(&json!({"rsc": 2000, "rqi": "stray"})).await;
    assert_eq!(client.retrieve(ADMIN, "cse-in").await["rsc"], json!(2000));
}

#[tokio::test]
async fn too_large_messages_close_the_connection_with_1009() {
    let cse = start_with(WsOptions {
        max_message_bytes: 1024,
        ..WsOptions::default()
    })
    .await;
    let mut client = Client::connect(cse.addr, Ser::Json).await;
    let big = json!({"op": 1, "to": "cse-in", "fr": ADMIN, "rqi": "big", "rvi": "4", "ty": 3,
                     "pc": {"m2m:cnt": {"rn": "x".repeat(4096)}}});
    client.send(&big).await;
    let closed = tokio::time::timeout(PATIENCE, async {
        while let Some(message) = client.ws.next().await {
            if let Ok(Message::Close(frame)) = message {
                return frame;
            }
        }
        None
    })
    .await
    .expect("closed in time")
    .expect("a close frame with a reason");
    assert_eq!(closed.code, CloseCode::Size);
    assert!(!closed.reason.is_empty());
    eventually("the connection is forgotten", || {
        cse.transport.counts().0 == 0
    })
    .await;
    // others are served as before
    let mut next = Client::connect(cse.addr, Ser::Json).await;
    assert_eq!(next.retrieve(ADMIN, "cse-in").await["rsc"], json!(2000));
}

#[tokio::test]
async fn pings_are_answered() {
    let cse = start().await;
    let mut client = Client::connect(cse.addr, Ser::Json).await;
    client
        .ws
        .send(Message::Ping(Bytes::from_static(b"alive?")))
        .await
        .unwrap();
    let pong = tokio::time::timeout(PATIENCE, client.ws.next())
        .await
        .expect("in time")
        .expect("a frame")
        .expect("readable");
    assert_eq!(pong, Message::Pong(Bytes::from_static(b"alive?")));
}

#[tokio::test]
async fn a_client_that_vanishes_mid_request_leaves_nothing_behind() {
    let cse = start().await;
    for _ in 0..5 {
        let mut client = Client::connect(cse.addr, Ser::Json).await;
        client
            .send(&json!({"op": 2, "to": "cse-in", "fr": ADMIN, "rqi": "1", "rvi": "4"}))
            .await;
        drop(client); // no close handshake
    }
    eventually("all connections are forgotten", || {
        cse.transport.counts() == (0, 0)
    })
    .await;
    let mut client = Client::connect(cse.addr, Ser::Json).await;
    assert_eq!(client.retrieve(ADMIN, "cse-in").await["rsc"], json!(2000));
}
