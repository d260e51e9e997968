//! Test harness: a real CSE with the WebSocket binding on 127.0.0.1:0, and a
//! WebSocket client (tokio-tungstenite) that speaks primitives in JSON or CBOR.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use urbis_core::{Cse, CseConfig};
use urbis_store::sqlite::SqliteStore;
use urbis_ws::{WsOptions, WsTransport};

pub const ADMIN: &str = "CAdmin";
/// How long a test waits for anything it expects.
pub const PATIENCE: Duration = Duration::from_secs(5);

pub struct TestCse {
    pub addr: SocketAddr,
    pub cse: Cse,
    pub transport: Arc<WsTransport>,
}

pub async fn start() -> TestCse {
    start_with(WsOptions::default()).await
}

pub async fn start_with(options: WsOptions) -> TestCse {
    let config = CseConfig {
        sp_id: "test.example.com".into(),
        notification_timeout_ms: 2000,
        ..CseConfig::default()
    };
    let cse = Cse::open(config, Arc::new(SqliteStore::in_memory().expect("store"))).expect("CSE");
    let transport = WsTransport::new(options);
    cse.add_transport(transport.clone());
    cse.start_background();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (served, serving) = (cse.clone(), transport.clone());
    tokio::spawn(async move {
        urbis_ws::serve(listener, served, serving, std::future::pending())
            .await
            .expect("serve")
    });
    TestCse {
        addr,
        cse,
        transport,
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Ser {
    Json,
    Cbor,
}

impl Ser {
    pub fn subprotocol(self) -> &'static str {
        match self {
            Ser::Json => "oneM2M.json",
            Ser::Cbor => "oneM2M.cbor",
        }
    }
}

pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub ser: Ser,
    next: u64,
}

/// The raw handshake: the server's answer or its refusal.
pub async fn handshake(
    addr: SocketAddr,
    subprotocols: &[&str],
    origin: Option<&str>,
) -> Result<
    (
        WebSocketStream<MaybeTlsStream<TcpStream>>,
        tokio_tungstenite::tungstenite::handshake::client::Response,
    ),
    tokio_tungstenite::tungstenite::Error,
> {
    let mut request = format!("ws://{addr}/").into_client_request().unwrap();
    if !subprotocols.is_empty() {
        request.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_str(&subprotocols.join(", ")).unwrap(),
        );
    }
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("x-m2m-origin", HeaderValue::from_str(origin).unwrap());
    }
    tokio_tungstenite::connect_async(request).await
}

impl Client {
    pub async fn connect(addr: SocketAddr, ser: Ser) -> Client {
        Client::connect_as(addr, ser, None).await
    }

    pub async fn connect_as(addr: SocketAddr, ser: Ser, origin: Option<&str>) -> Client {
        let (ws, response) = handshake(addr, &[ser.subprotocol()], origin)
            .await
            .expect("handshake");
        assert_eq!(
            response.headers()["sec-websocket-protocol"],
            ser.subprotocol()
        );
        Client { ws, ser, next: 0 }
    }

    pub fn encode(&self, value: &Value) -> Message {
        match self.ser {
            Ser::Json => Message::text(value.to_string()),
            Ser::Cbor => {
                let mut bytes = Vec::new();
                ciborium::into_writer(value, &mut bytes).unwrap();
                Message::binary(bytes)
            }
        }
    }

    pub async fn send(&mut self, value: &Value) {
        let message = self.encode(value);
        self.ws.send(message).await.expect("send");
    }

    /// The next primitive, checking that JSON comes as text and CBOR as binary.
    /// `None` when the connection closed or nothing came in time.
    pub async fn receive_within(&mut self, patience: Duration) -> Option<Value> {
        loop {
            let message = tokio::time::timeout(patience, self.ws.next())
                .await
                .ok()??
                .ok()?;
            match (message, self.ser) {
                (Message::Text(text), Ser::Json) => {
                    return Some(serde_json::from_str(&text).expect("JSON"))
                }
                (Message::Binary(bytes), Ser::Cbor) => {
                    return Some(ciborium::from_reader(&bytes[..]).expect("CBOR"))
                }
                (Message::Ping(_) | Message::Pong(_), _) => continue,
                (Message::Close(_), _) => return None,
                (other, ser) => panic!("unexpected frame {other:?} on a {ser:?} connection"),
            }
        }
    }

    pub async fn receive(&mut self) -> Value {
        self.receive_within(PATIENCE).await.expect("a message")
    }

    pub fn rqi(&mut self) -> String {
        self.next += 1;
        format!("q{}", self.next)
    }

    /// Send a request and wait for its response.
    pub async fn request(&mut self, mut primitive: Value) -> Value {
        let rqi = self.rqi();
        primitive["rqi"] = json!(rqi);
        primitive
            .as_object_mut()
            .unwrap()
            .entry("rvi")
            .or_insert(json!("4"));
        self.send(&primitive).await;
        let answer = self.receive().await;
        assert_eq!(answer["rqi"], json!(rqi), "{answer}");
        answer
    }

    pub async fn create(&mut self, fr: &str, to: &str, ty: u32, pc: Value) -> Value {
        self.request(json!({"op": 1, "fr": fr, "to": to, "ty": ty, "pc": pc}))
            .await
    }

    pub async fn retrieve(&mut self, fr: &str, to: &str) -> Value {
        self.request(json!({"op": 2, "fr": fr, "to": to})).await
    }

    /// Register an AE; returns its AE-ID.
    pub async fn register(&mut self, fr: &str, rn: &str, poa: Option<&str>) -> String {
        let mut ae = json!({"rn": rn, "api": "Ntest", "rr": true, "srv": ["4"]});
        if let Some(poa) = poa {
            ae["poa"] = json!([poa]);
        }
        let answer = self.create(fr, "cse-in", 2, json!({"m2m:ae": ae})).await;
        assert_eq!(answer["rsc"], json!(2001), "{answer}");
        answer["pc"]["m2m:ae"]["aei"]
            .as_str()
            .expect("aei")
            .to_owned()
    }

    /// Answer a request the CSE sent us.
    pub async fn answer(&mut self, request: &Value, rsc: u16) {
        let response = json!({"rsc": rsc, "rqi": request["rqi"], "rvi": "4"});
        self.send(&response).await;
    }
}

/// Wait until `check` holds (polling), or fail.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
