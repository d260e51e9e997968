//! Trust on the HTTP binding: HTTPS handshakes, Basic and Bearer credentials,
//! client certificates bound to originators, impersonation (4106), device
//! enrolment and revocation. Real TLS with certificates made at test time.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::net::TcpListener;
use urbis_core::{Cse, CseConfig};
use urbis_http::HttpOptions;
use urbis_security::test_pki::{ClientCert, TestPki};

use urbis_security::{enrolment, issue, Door, Verifier};
use urbis_store::credentials::{CredentialStore, SqliteCredentials};
use urbis_store::sqlite::SqliteStore;

const DAY: Duration = Duration::from_secs(86_400);

struct Secured {
    base: String,
    pki: TestPki,
    credentials: Arc<SqliteCredentials>,
    rqi: std::sync::atomic::AtomicU64,
}

struct Answer {
    status: u16,
    rsc: u16,
    body: Value,
}

/// A CSE whose HTTP door requires credentials; HTTPS unless `plain`.
async fn start(client_ca: bool, plain: bool) -> Secured {
    let pki = TestPki::new(client_ca);
    let credentials = Arc::new(SqliteCredentials::in_memory().unwrap());
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let cse = Cse::open(CseConfig::default(), store).unwrap();
    let tls = (!plain).then(|| urbis_security::tls::acceptor(&pki.server).unwrap());
    let door = Door {
        tls,
        verifier: Some(Arc::new(Verifier::new(credentials.clone()))),
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        urbis_http::serve_door(
            listener,
            cse,
            HttpOptions::default(),
            door,
            std::future::pending(),
        )
        .await
        .unwrap()
    });
    let scheme = if plain { "http" } else { "https" };
    Secured {
        base: format!("{scheme}://127.0.0.1:{}", addr.port()),
        pki,
        credentials,
        rqi: Default::default(),
    }
}

impl Secured {
    fn client(&self, cert: Option<&ClientCert>) -> reqwest::Client {
        reqwest::Client::builder()
            .use_preconfigured_tls(self.pki.client_config(cert))
            .build()
            .unwrap()
    }

    async fn send(
        &self,
        client: &reqwest::Client,
        method: reqwest::Method,
        path: &str,
        fr: &str,
        authorization: Option<&str>,
        body: Option<(u32, Value)>,
    ) -> Answer {
        let rqi = self
            .rqi
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .to_string();
        let mut request = client
            .request(method, format!("{}{path}", self.base))
            .header("X-M2M-Origin", fr)
            .header("X-M2M-RI", rqi)
            .header("X-M2M-RVI", "4")
            .header("Accept", "application/json");
        if let Some(authorization) = authorization {
            request = request.header("Authorization", authorization);
        }
        if let Some((ty, body)) = body {
            request = request
                .header("Content-Type", format!("application/json;ty={ty}"))
                .body(body.to_string());
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let rsc = response
            .headers()
            .get("x-m2m-rsc")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer { status, rsc, body }
    }

    async fn retrieve(&self, client: &reqwest::Client, fr: &str, auth: Option<&str>) -> Answer {
        self.send(client, reqwest::Method::GET, "/cse-in", fr, auth, None)
            .await
    }

    async fn register(&self, client: &reqwest::Client, fr: &str, auth: Option<&str>) -> Answer {
        let ae = json!({"m2m:ae": {"rn": format!("ae-{fr}"), "api": "Ntest", "rr": false, "srv": ["4"]}});
        self.send(
            client,
            reqwest::Method::POST,
            "/cse-in",
            fr,
            auth,
            Some((2, ae)),
        )
        .await
    }

    async fn enrol(&self, client: &reqwest::Client, device: &str, secret: &str) -> (u16, Value) {
        let response = client
            .post(format!("{}/.well-known/urbis-enrolment", self.base))
            .header("Content-Type", "application/json")
            .body(json!({"device": device, "secret": secret}).to_string())
            .send()
            .await
            .expect("enrolment request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[tokio::test]
async fn https_handshake_with_basic_credentials() {
    let cse = start(false, false).await;
    issue::password(cse.credentials.as_ref(), "CAdmin", "admin-secret", "").unwrap();
    let client = cse.client(None);
    let basic = urbis_security::authorization::basic("CAdmin", "admin-secret");
    let answer = cse.retrieve(&client, "CAdmin", Some(&basic)).await;
    assert_eq!(answer.rsc, 2000, "{}", answer.body);
    assert_eq!(answer.body["m2m:cb"]["csi"], "/id-in");
    // plain HTTP to the HTTPS port gets no HTTP answer
    let plain = reqwest::Client::new()
        .get(cse.base.replace("https://", "http://") + "/cse-in")
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP answered on the HTTPS port");
}

#[tokio::test]
async fn wrong_or_missing_credentials_are_refused() {
    let cse = start(false, false).await;
    issue::password(cse.credentials.as_ref(), "CAdmin", "admin-secret", "").unwrap();
    let client = cse.client(None);
    let wrong = urbis_security::authorization::basic("CAdmin", "guess");
    let answer = cse.retrieve(&client, "CAdmin", Some(&wrong)).await;
    assert_eq!((answer.status, answer.rsc), (403, 4107), "{}", answer.body);
    let answer = cse.retrieve(&client, "CAdmin", None).await;
    assert_eq!((answer.status, answer.rsc), (403, 4107), "{}", answer.body);
    let answer = cse
        .retrieve(&client, "CAdmin", Some("Bearer 0011.2233"))
        .await;
    assert_eq!(answer.rsc, 4107, "{}", answer.body);
    let answer = cse.retrieve(&client, "CAdmin", Some("Digest x=1")).await;
    assert_eq!(answer.rsc, 4107, "{}", answer.body);
}

#[tokio::test]
async fn bearer_token_registers_its_originator_and_impersonation_is_refused() {
    let cse = start(false, false).await;
    let (_, token) = issue::token(cse.credentials.as_ref(), "Cmeter", "").unwrap();
    let client = cse.client(None);
    let auth = bearer(&token);
    let answer = cse.register(&client, "Cmeter", Some(&auth)).await;
    assert_eq!(answer.rsc, 2001, "{}", answer.body);
    assert_eq!(answer.body["m2m:ae"]["aei"], "Cmeter");
    let answer = cse.retrieve(&client, "Cmeter", Some(&auth)).await;
    assert_eq!(answer.rsc, 2000, "{}", answer.body);
    // speaking as someone else with the meter's token
    let answer = cse.retrieve(&client, "CAdmin", Some(&auth)).await;
    assert_eq!((answer.status, answer.rsc), (403, 4106), "{}", answer.body);
    // a CSE-assigned AE-ID could not be bound to the credential
    let answer = cse.register(&client, "C", Some(&auth)).await;
    assert_eq!(answer.rsc, 4106, "{}", answer.body);
}

#[tokio::test]
async fn client_certificates_bind_their_originator() {
    let cse = start(true, false).await;
    let sensor = cse.pki.client("sensor");
    issue::certificate(cse.credentials.as_ref(), "Csensor", &sensor.der, "").unwrap();
    let client = cse.client(Some(&sensor));
    let answer = cse.register(&client, "Csensor", None).await;
    assert_eq!(answer.rsc, 2001, "{}", answer.body);
    let answer = cse.retrieve(&client, "CAdmin", None).await;
    assert_eq!(answer.rsc, 4106, "{}", answer.body);
    // signed by the CA but not registered to anyone
    let unknown = cse.pki.client("unknown");
    let answer = cse
        .retrieve(&cse.client(Some(&unknown)), "Cunknown", None)
        .await;
    assert_eq!(answer.rsc, 4107, "{}", answer.body);
    // from a CA the server does not trust: no handshake
    let stranger = TestPki::stranger("stranger");
    let refused = cse
        .client(Some(&stranger))
        .get(format!("{}/cse-in", cse.base))
        .send()
        .await;
    assert!(refused.is_err(), "handshake with an untrusted certificate");
}

#[tokio::test]
async fn enrolment_happy_path_and_reuse_refused() {
    let cse = start(false, false).await;
    let issued = enrolment::pre_register(cse.credentials.as_ref(), "SN-0042", None, DAY).unwrap();
    let client = cse.client(None);
    let (status, wrong) = cse.enrol(&client, "SN-0042", "not-the-secret").await;
    assert_eq!(status, 403, "{wrong}");
    let (status, enrolled) = cse.enrol(&client, "SN-0042", &issued.secret).await;
    assert_eq!(status, 201, "{enrolled}");
    assert_eq!(enrolled["originator"], "CSN-0042");
    assert_eq!(enrolled["cse_id"], "/id-in");
    let auth = bearer(enrolled["token"].as_str().unwrap());
    let answer = cse.register(&client, "CSN-0042", Some(&auth)).await;
    assert_eq!(answer.rsc, 2001, "{}", answer.body);
    let (status, reused) = cse.enrol(&client, "SN-0042", &issued.secret).await;
    assert_eq!(status, 403, "{reused}");
    assert!(reused["error"].as_str().unwrap().contains("used already"));
}

#[tokio::test]
async fn expired_enrolment_secret_is_refused() {
    let cse = start(false, false).await;
    let issued =
        enrolment::pre_register(cse.credentials.as_ref(), "SN-7", None, Duration::ZERO).unwrap();
    let (status, answer) = cse.enrol(&cse.client(None), "SN-7", &issued.secret).await;
    assert_eq!(status, 403, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("expired"));
}

#[tokio::test]
async fn revoked_device_is_cut_off_at_once() {
    let cse = start(false, false).await;
    let issued = enrolment::pre_register(cse.credentials.as_ref(), "SN-9", None, DAY).unwrap();
    let client = cse.client(None);
    let (_, enrolled) = cse.enrol(&client, "SN-9", &issued.secret).await;
    let auth = bearer(enrolled["token"].as_str().unwrap());
    assert_eq!(cse.register(&client, "CSN-9", Some(&auth)).await.rsc, 2001);
    assert_eq!(cse.retrieve(&client, "CSN-9", Some(&auth)).await.rsc, 2000);
    let revoked = cse
        .credentials
        .revoke_originator("CSN-9", urbis_security::now_secs())
        .unwrap();
    assert_eq!(revoked, 1);
    let answer = cse.retrieve(&client, "CSN-9", Some(&auth)).await;
    assert_eq!((answer.status, answer.rsc), (403, 4107), "{}", answer.body);
}

#[tokio::test]
async fn enrolment_needs_https() {
    let cse = start(false, true).await;
    let issued = enrolment::pre_register(cse.credentials.as_ref(), "SN-1", None, DAY).unwrap();
    let (status, answer) = cse
        .enrol(&reqwest::Client::new(), "SN-1", &issued.secret)
        .await;
    assert_eq!(status, 403, "{answer}");
    assert!(cse
        .credentials
        .enrolment("SN-1")
        .unwrap()
        .unwrap()
        .redeemed_at
        .is_none());
}

/// An HTTPS notification target: answers every request with 2000 and
/// counts them.
async fn https_receiver(pki: &TestPki) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use axum::response::IntoResponse;
    let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = seen.clone();
    let app = axum::Router::new().fallback(move || {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            ([("x-m2m-rsc", "2000")], "").into_response()
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = urbis_security::tls::acceptor(&pki.server).unwrap();
    let listener = urbis_http::tls::TlsListener::new(listener, acceptor).unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("https://localhost:{port}/"), seen)
}

/// An open CSE whose notifications trust `ca_file`; returns its base URL.
async fn open_cse(ca_file: &str) -> String {
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let cse = Cse::open(CseConfig::default(), store).unwrap();
    cse.add_transport(Arc::new(
        urbis_http::client::HttpTransport::trusting(Duration::from_secs(3), ca_file).unwrap(),
    ));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        urbis_http::serve(
            listener,
            cse,
            HttpOptions::default(),
            std::future::pending(),
        )
        .await
    });
    format!("http://{addr}")
}

async fn subscribe(base: &str, nu: &str) -> u16 {
    let client = reqwest::Client::new();
    let send = |path: &str, ty: u32, body: Value| {
        client
            .post(format!("{base}{path}"))
            .header("X-M2M-Origin", "Cnotified")
            .header("X-M2M-RI", "s")
            .header("X-M2M-RVI", "4")
            .header("Content-Type", format!("application/json;ty={ty}"))
            .body(body.to_string())
            .send()
    };
    let ae = json!({"m2m:ae": {"rn": "notified", "api": "Ntest", "rr": true, "srv": ["4"]}});
    let created = send("/cse-in", 2, ae).await.unwrap();
    assert_eq!(created.headers()["x-m2m-rsc"], "2001");
    let sub = json!({"m2m:sub": {"rn": "sub", "nu": [nu], "nct": 1}});
    let answer = send("/cse-in/notified", 23, sub).await.unwrap();
    answer.headers()["x-m2m-rsc"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn notifications_reach_https_targets_whose_certificate_is_trusted() {
    let pki = TestPki::new(false);
    let (target, seen) = https_receiver(&pki).await;
    let trusting = open_cse(&pki.ca_file).await;
    assert_eq!(subscribe(&trusting, &target).await, 2001);
    assert_eq!(
        seen.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "verification request"
    );
    // a CSE that does not trust the target's CA cannot verify the subscription
    let (target, seen) = https_receiver(&pki).await;
    let distrusting = open_cse("").await;
    assert_eq!(subscribe(&distrusting, &target).await, 5204);
    assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_gateway_credential_relays_for_any_originator() {
    let cse = start(false, false).await;
    let (_, token) = issue::token(cse.credentials.as_ref(), "*", "gateway").unwrap();
    let client = cse.client(None);
    let auth = bearer(&token);
    let answer = cse.register(&client, "C", Some(&auth)).await;
    assert_eq!(answer.rsc, 2001, "{}", answer.body);
    let answer = cse.register(&client, "Cbehind", Some(&auth)).await;
    assert_eq!(answer.rsc, 2001, "{}", answer.body);
    assert_eq!(cse.retrieve(&client, "CAdmin", Some(&auth)).await.rsc, 2000);
}
