//! Test harness: a real CSE with the HTTP binding on 127.0.0.1:0, an HTTP
//! client that speaks the binding, and a notification receiver.
//!
//! The CSE's store is SQLite in memory, or with `URBIS_TEST_STORE=postgres`
//! PostgreSQL at `URBIS_TEST_DATABASE_URL`, in a fresh schema per CSE (dropped
//! with it), so the tests run in parallel on one database.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::Mutex;
use urbis_core::{Cse, CseConfig};
use urbis_http::client::HttpTransport;
use urbis_http::HttpOptions;
use urbis_store::postgres::PostgresStore;
use urbis_store::sqlite::SqliteStore;
use urbis_store::Store;

pub const ADMIN: &str = "CAdmin";

pub struct TestCse {
    pub base: String,
    pub cse: Cse,
    client: reqwest::Client,
    next_rqi: AtomicU64,
}

pub struct Answer {
    pub rsc: u16,
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn at(&self, pointer: &str) -> &Value {
        self.body.pointer(pointer).unwrap_or(&Value::Null)
    }
}

pub async fn start() -> TestCse {
    start_with(
        CseConfig {
            sp_id: "test.example.com".into(),
            ..CseConfig::default()
        },
        HttpOptions::default(),
    )
    .await
}

pub async fn start_with(config: CseConfig, options: HttpOptions) -> TestCse {
    let store = test_store();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let cse = Cse::open(config, store).expect("open CSE");
    cse.add_transport(Arc::new(
        HttpTransport::new(Duration::from_secs(2)).expect("client"),
    ));
    cse.start_background();
    let served = cse.clone();
    tokio::spawn(async move {
        urbis_http::serve(listener, served, options, std::future::pending())
            .await
            .expect("serve");
    });
    TestCse {
        base: format!("http://{addr}"),
        cse,
        client: reqwest::Client::new(),
        next_rqi: AtomicU64::new(1),
    }
}

/// The store a test CSE runs on, chosen by `URBIS_TEST_STORE`.
pub fn test_store() -> Arc<dyn Store> {
    match std::env::var("URBIS_TEST_STORE").as_deref() {
        Err(_) | Ok("") | Ok("sqlite") => {
            Arc::new(SqliteStore::in_memory().expect("in-memory store"))
        }
        Ok("postgres") => {
            let url = std::env::var("URBIS_TEST_DATABASE_URL")
                .expect("URBIS_TEST_STORE=postgres needs URBIS_TEST_DATABASE_URL");
            Arc::new(PostgresStore::scratch(&url, 2).expect("PostgreSQL scratch store"))
        }
        Ok(other) => panic!("URBIS_TEST_STORE must be sqlite or postgres, not {other:?}"),
    }
}

impl TestCse {
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        originator: Option<&str>,
        ty: Option<u32>,
        body: Option<Value>,
        extra: &[(&str, &str)],
    ) -> Answer {
        let rqi = format!("rqi{}", self.next_rqi.fetch_add(1, Ordering::Relaxed));
        let mut builder = self
            .client
            .request(method, format!("{}{}", self.base, path))
            .header("X-M2M-RI", &rqi)
            .header("X-M2M-RVI", "4")
            .header("Accept", "application/json");
        if let Some(originator) = originator {
            builder = builder.header("X-M2M-Origin", originator);
        }
        let content_type = match ty {
            Some(ty) => format!("application/json;ty={ty}"),
            None => "application/json".to_owned(),
        };
        builder = builder.header("Content-Type", content_type);
        for (name, value) in extra {
            builder = builder.header(*name, *value);
        }
        if let Some(body) = body {
            builder = builder.body(body.to_string());
        }
        let response = builder.send().await.expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let rsc = headers
            .get("x-m2m-rsc")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        assert_eq!(
            headers.get("x-m2m-ri").and_then(|v| v.to_str().ok()),
            Some(rqi.as_str()),
            "X-M2M-RI echoed"
        );
        let bytes = response.bytes().await.expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("JSON body")
        };
        Answer {
            rsc,
            status,
            headers,
            body,
        }
    }

    pub async fn create(&self, path: &str, originator: &str, ty: u32, body: Value) -> Answer {
        self.send(
            reqwest::Method::POST,
            path,
            Some(originator),
            Some(ty),
            Some(body),
            &[],
        )
        .await
    }
    pub async fn retrieve(&self, path: &str, originator: &str) -> Answer {
        self.send(
            reqwest::Method::GET,
            path,
            Some(originator),
            None,
            None,
            &[],
        )
        .await
    }
    pub async fn update(&self, path: &str, originator: &str, body: Value) -> Answer {
        self.send(
            reqwest::Method::PUT,
            path,
            Some(originator),
            None,
            Some(body),
            &[],
        )
        .await
    }
    pub async fn delete(&self, path: &str, originator: &str) -> Answer {
        self.send(
            reqwest::Method::DELETE,
            path,
            Some(originator),
            None,
            None,
            &[],
        )
        .await
    }

    /// Owner AE `owner` with an ACP `policy` (`pv` as given; `pvs`: the owner
    /// may do everything) and a container `box` governed by it. Returns the
    /// owner's AE-ID and the ACP's ri.
    pub async fn protected_container(&self, pv: Value) -> (String, String) {
        let owner = self.register_ae("owner", None).await;
        let acp = serde_json::json!({"m2m:acp": {"rn": "policy", "pv": pv,
            "pvs": {"acr": [{"acor": [&owner], "acop": 63}]}}});
        let policy = self.create("/cse-in/owner", &owner, 1, acp).await;
        assert_eq!(policy.rsc, 2001, "acp: {}", policy.body);
        let acp_ri = policy.at("/m2m:acp/ri").as_str().expect("ri").to_owned();
        let cnt = serde_json::json!({"m2m:cnt": {"rn": "box", "acpi": [&acp_ri]}});
        let cnt = self.create("/cse-in/owner", &owner, 3, cnt).await;
        assert_eq!(cnt.rsc, 2001, "container: {}", cnt.body);
        (owner, acp_ri)
    }

    /// Register an AE named `name` with originator `C<name>`; returns its AE-ID.
    pub async fn register_ae(&self, name: &str, poa: Option<&str>) -> String {
        let mut ae = serde_json::json!({"m2m:ae": {"rn": name, "api": "Ntest", "rr": poa.is_some(), "srv": ["4"]}});
        if let Some(poa) = poa {
            ae["m2m:ae"]["poa"] = serde_json::json!([poa]);
        }
        let answer = self.create("/cse-in", &format!("C{name}"), 2, ae).await;
        assert_eq!(answer.rsc, 2001, "{:?}", answer.body);
        answer.at("/m2m:ae/aei").as_str().expect("aei").to_owned()
    }
}

/// A notification target that records what it receives and answers with a
/// configurable RSC.
pub struct Receiver {
    pub url: String,
    pub received: Arc<Mutex<Vec<(HeaderMap, Value)>>>,
    pub answer_rsc: Arc<AtomicU64>,
}

pub async fn receiver() -> Receiver {
    let received: Arc<Mutex<Vec<(HeaderMap, Value)>>> = Arc::default();
    let answer_rsc = Arc::new(AtomicU64::new(2000));
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind receiver");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let store = received.clone();
    let rsc = answer_rsc.clone();
    let app = axum::Router::new().fallback(move |headers: HeaderMap, body: axum::body::Bytes| {
        let store = store.clone();
        let rsc = rsc.clone();
        async move {
            let serialization = headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .and_then(urbis_model::Serialization::from_name)
                .unwrap_or_default();
            let value = urbis_codec::decode(&body, serialization).unwrap_or(Value::Null);
            store.lock().await.push((headers, value));
            let code = rsc.load(Ordering::Relaxed);
            ([("x-m2m-rsc", code.to_string())], "")
        }
    });
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("receiver");
    });
    Receiver {
        url,
        received,
        answer_rsc,
    }
}

impl Receiver {
    /// Wait up to 2 s until at least `count` notifications arrived.
    pub async fn wait_for(&self, count: usize) -> Vec<Value> {
        for _ in 0..200 {
            {
                let got = self.received.lock().await;
                if got.len() >= count {
                    return got.iter().map(|(_, v)| v.clone()).collect();
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.received
            .lock()
            .await
            .iter()
            .map(|(_, v)| v.clone())
            .collect()
    }
}
