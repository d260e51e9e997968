//! Connection limits of the WebSocket door (docs/security-hardening.md):
//! at most `max_connections`, a handshake deadline, an idle timeout; and the
//! connection's peer address reaches access control (`acip`).

mod common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use serde_json::json;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use urbis_ws::WsOptions;

#[tokio::test]
async fn connections_beyond_the_limit_are_refused_until_one_closes() {
    let cse = start_with(WsOptions {
        max_connections: 1,
        ..WsOptions::default()
    })
    .await;
    let first = Client::connect(cse.addr, Ser::Json).await;
    assert!(
        handshake(cse.addr, &["oneM2M.json"], None).await.is_err(),
        "a second connection is refused"
    );
    drop(first);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Ok((ws, _)) = handshake(cse.addr, &["oneM2M.json"], None).await {
            drop(ws);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never served again");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_handshake_not_completed_in_time_is_dropped() {
    let cse = start_with(WsOptions {
        handshake_timeout_ms: 300,
        ..WsOptions::default()
    })
    .await;
    let mut stream = TcpStream::connect(cse.addr).await.expect("connect");
    let mut buffer = [0u8; 256];
    let read = tokio::time::timeout(PATIENCE, stream.read(&mut buffer))
        .await
        .expect("closed before the test gave up");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
}

#[tokio::test]
async fn idle_connections_are_closed_and_pings_keep_them_open() {
    let cse = start_with(WsOptions {
        idle_timeout_ms: 400,
        ..WsOptions::default()
    })
    .await;
    let mut busy = Client::connect(cse.addr, Ser::Json).await;
    let mut idle = Client::connect(cse.addr, Ser::Json).await;
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        futures_util::SinkExt::send(&mut busy.ws, Message::Ping(Vec::new().into()))
            .await
            .expect("ping");
    }
    let frame = tokio::time::timeout(PATIENCE, async {
        while let Some(message) = idle.ws.next().await {
            if let Ok(Message::Close(frame)) = message {
                return frame;
            }
        }
        None
    })
    .await
    .expect("closed in time")
    .expect("a close frame");
    assert_eq!(frame.code, CloseCode::Normal);
    assert_eq!(frame.reason.as_str(), "idle");
    assert_eq!(busy.retrieve(ADMIN, "cse-in").await["rsc"], json!(2000));
}

#[tokio::test]
async fn ip_contexts_see_the_connection_peer() {
    let cse = start().await;
    let mut client = Client::connect(cse.addr, Ser::Json).await;
    let owner = client.register("Cowner", "owner", None).await;
    for (rn, range, expected) in [("near", "127.0.0.0/8", 2000), ("far", "10.0.0.0/8", 4103)] {
        let acp = client
            .create(
                &owner,
                "cse-in/owner",
                1,
                json!({"m2m:acp": {"rn": format!("p-{rn}"),
                    "pv": {"acr": [{"acor": ["Cfriend"], "acop": 2,
                        "acco": [{"acip": {"ipv4": [range]}}]}]},
                    "pvs": {"acr": [{"acor": [owner], "acop": 63}]}}}),
            )
            .await;
        assert_eq!(acp["rsc"], json!(2001), "{acp}");
        let acpi = acp["pc"]["m2m:acp"]["ri"].clone();
        let cnt = client
            .create(
                &owner,
                "cse-in/owner",
                3,
                json!({"m2m:cnt": {"rn": rn, "acpi": [acpi]}}),
            )
            .await;
        assert_eq!(cnt["rsc"], json!(2001), "{cnt}");
        let read = client
            .retrieve("Cfriend", &format!("cse-in/owner/{rn}"))
            .await;
        assert_eq!(read["rsc"], json!(expected), "{rn}: {read}");
    }
}
