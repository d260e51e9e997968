//! Sub-protocol negotiation: the serialization of a connection is chosen on
//! the upgrade, and a client offering none we speak is refused.

mod common;

use common::*;
use serde_json::json;
use tokio_tungstenite::tungstenite::Error as WsError;

#[tokio::test]
async fn json_and_cbor_are_negotiated() {
    let cse = start().await;
    for ser in [Ser::Json, Ser::Cbor] {
        let mut client = Client::connect(cse.addr, ser).await;
        let answer = client.retrieve(ADMIN, "cse-in").await;
        assert_eq!(answer["rsc"], json!(2000), "{ser:?}: {answer}");
        assert_eq!(answer["pc"]["m2m:cb"]["csi"], json!("/id-in"), "{ser:?}");
    }
}

#[tokio::test]
async fn the_first_offer_the_server_speaks_is_chosen() {
    let cse = start().await;
    let (_, response) = handshake(cse.addr, &["chat", "oneM2M.cbor", "oneM2M.json"], None)
        .await
        .expect("handshake");
    assert_eq!(response.headers()["sec-websocket-protocol"], "oneM2M.cbor");
}

#[tokio::test]
async fn no_or_unknown_sub_protocol_is_refused_with_400() {
    let cse = start().await;
    for offered in [&[][..], &["chat"][..], &["oneM2M.yaml"][..]] {
        match handshake(cse.addr, offered, None).await {
            Err(WsError::Http(response)) => {
                assert_eq!(response.status(), 400, "{offered:?}");
                let body = String::from_utf8(response.body().clone().unwrap_or_default()).unwrap();
                assert!(body.contains("oneM2M.json"), "{body}");
            }
            other => panic!(
                "{offered:?}: expected a refusal, got {:?}",
                other.map(|(_, r)| r)
            ),
        }
    }
    // and the server is still there
    let mut client = Client::connect(cse.addr, Ser::Json).await;
    assert_eq!(client.retrieve(ADMIN, "cse-in").await["rsc"], json!(2000));
}
