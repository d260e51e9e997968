//! Trust on the WebSocket binding: wss handshakes (real TLS, certificates made
//! at test time), credentials on the upgrade (Bearer, Basic, client
//! certificate), impersonation (4106), and revocation of an open connection.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rustls_pki_types::ServerName;
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use urbis_core::{Cse, CseConfig};
use urbis_security::test_pki::{ClientCert, TestPki};
use urbis_security::{issue, Door, Verifier};
use urbis_store::credentials::{CredentialStore, SqliteCredentials};
use urbis_store::sqlite::SqliteStore;
use urbis_ws::{WsOptions, WsTransport};

const PATIENCE: Duration = Duration::from_secs(5);

struct Secured {
    port: u16,
    pki: TestPki,
    credentials: Arc<SqliteCredentials>,
}

async fn start(client_ca: bool) -> Secured {
    let pki = TestPki::new(client_ca);
    let credentials = Arc::new(SqliteCredentials::in_memory().unwrap());
    let cse = Cse::open(
        CseConfig::default(),
        Arc::new(SqliteStore::in_memory().unwrap()),
    )
    .unwrap();
    let transport = WsTransport::new(WsOptions::default());
    cse.add_transport(transport.clone());
    let door = Door {
        tls: Some(urbis_security::tls::acceptor(&pki.server).unwrap()),
        verifier: Some(Arc::new(Verifier::new(credentials.clone()))),
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        urbis_ws::serve_door(listener, cse, transport, door, std::future::pending())
            .await
            .unwrap()
    });
    Secured {
        port,
        pki,
        credentials,
    }
}

type Wss = WebSocketStream<TlsStream<TcpStream>>;

impl Secured {
    async fn connect(&self, cert: Option<&ClientCert>, authorization: Option<&str>) -> Wss {
        let tcp = TcpStream::connect(("127.0.0.1", self.port)).await.unwrap();
        let connector = TlsConnector::from(Arc::new(self.pki.client_config(cert)));
        let name = ServerName::try_from("localhost").unwrap();
        let tls = connector.connect(name, tcp).await.expect("TLS handshake");
        let mut request = format!("wss://localhost:{}/", self.port)
            .into_client_request()
            .unwrap();
        let headers = request.headers_mut();
        headers.insert(
            "sec-websocket-protocol",
            HeaderValue::from_static("oneM2M.json"),
        );
        if let Some(authorization) = authorization {
            headers.insert(
                "authorization",
                HeaderValue::from_str(authorization).unwrap(),
            );
        }
        let (ws, _) = tokio_tungstenite::client_async(request, tls)
            .await
            .expect("WebSocket handshake");
        ws
    }
}

/// Send one request primitive; the answer, or the close frame's code.
async fn exchange(ws: &mut Wss, primitive: Value) -> Result<Value, Option<CloseCode>> {
    ws.send(Message::text(primitive.to_string())).await.ok();
    loop {
        match tokio::time::timeout(PATIENCE, ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => return Ok(serde_json::from_str(&text).unwrap()),
            Ok(Some(Ok(Message::Close(frame)))) => return Err(frame.map(|f| f.code)),
            Ok(Some(Ok(_))) => continue,
            _ => return Err(None),
        }
    }
}

fn retrieve(fr: &str, rqi: &str) -> Value {
    json!({"op": 2, "to": "cse-in", "fr": fr, "rqi": rqi, "rvi": "4"})
}

fn register(fr: &str, rqi: &str) -> Value {
    json!({"op": 1, "to": "cse-in", "fr": fr, "rqi": rqi, "rvi": "4", "ty": 2,
           "pc": {"m2m:ae": {"rn": format!("ae-{fr}"), "api": "Ntest", "rr": false, "srv": ["4"]}}})
}

#[tokio::test]
async fn wss_with_a_bearer_token_speaks_only_as_its_originator() {
    let cse = start(false).await;
    let (_, token) = issue::token(cse.credentials.as_ref(), "Cws", "").unwrap();
    let mut ws = cse.connect(None, Some(&format!("Bearer {token}"))).await;
    let answer = exchange(&mut ws, register("Cws", "1")).await.unwrap();
    assert_eq!(answer["rsc"], 2001, "{answer}");
    let answer = exchange(&mut ws, retrieve("Cws", "2")).await.unwrap();
    assert_eq!(answer["rsc"], 2000, "{answer}");
    let answer = exchange(&mut ws, retrieve("CAdmin", "3")).await.unwrap();
    assert_eq!(answer["rsc"], 4106, "{answer}");
}

#[tokio::test]
async fn wss_without_credentials_is_refused_per_request_and_wrong_ones_are_closed() {
    let cse = start(false).await;
    issue::password(cse.credentials.as_ref(), "CAdmin", "admin-secret", "").unwrap();
    let mut anonymous = cse.connect(None, None).await;
    let answer = exchange(&mut anonymous, retrieve("CAdmin", "1"))
        .await
        .unwrap();
    assert_eq!(answer["rsc"], 4107, "{answer}");
    let basic = urbis_security::authorization::basic("CAdmin", "admin-secret");
    let mut admin = cse.connect(None, Some(&basic)).await;
    let answer = exchange(&mut admin, retrieve("CAdmin", "2")).await.unwrap();
    assert_eq!(answer["rsc"], 2000, "{answer}");
    let wrong = urbis_security::authorization::basic("CAdmin", "guess");
    let mut refused = cse.connect(None, Some(&wrong)).await;
    let closed = exchange(&mut refused, retrieve("CAdmin", "3")).await;
    assert_eq!(closed, Err(Some(CloseCode::Policy)));
}

#[tokio::test]
async fn revocation_cuts_an_open_connection_off() {
    let cse = start(false).await;
    let (credential, token) = issue::token(cse.credentials.as_ref(), "Cdev", "").unwrap();
    let mut ws = cse.connect(None, Some(&format!("Bearer {token}"))).await;
    assert_eq!(
        exchange(&mut ws, register("Cdev", "1")).await.unwrap()["rsc"],
        2001
    );
    cse.credentials
        .revoke_credential(&credential.id, urbis_security::now_secs())
        .unwrap();
    let answer = exchange(&mut ws, retrieve("Cdev", "2")).await.unwrap();
    assert_eq!(answer["rsc"], 4107, "{answer}");
    let closed = exchange(&mut ws, retrieve("Cdev", "3")).await;
    assert_eq!(closed, Err(Some(CloseCode::Policy)));
}

#[tokio::test]
async fn a_client_certificate_on_wss_binds_its_originator() {
    let cse = start(true).await;
    let camera = cse.pki.client("camera");
    issue::certificate(
        cse.credentials.as_ref(),
        "Ccamera",
        camera.cert_pem.as_bytes(),
        "",
    )
    .unwrap();
    let mut ws = cse.connect(Some(&camera), None).await;
    let answer = exchange(&mut ws, register("Ccamera", "1")).await.unwrap();
    assert_eq!(answer["rsc"], 2001, "{answer}");
    let answer = exchange(&mut ws, retrieve("Clamp", "2")).await.unwrap();
    assert_eq!(answer["rsc"], 4106, "{answer}");
}
