//! A real CSE with the HTTP binding on 127.0.0.1:0, real agents against it,
//! and a firmware image server.

#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::get;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use urbis_core::{Cse, CseConfig};
use urbis_devices::agent::{self, AgentOptions};
use urbis_devices::client::Client;
use urbis_http::client::HttpTransport;
use urbis_http::HttpOptions;
use urbis_store::sqlite::SqliteStore;

pub const ADMIN: &str = "CAdmin";

pub struct TestCse {
    pub url: String,
    pub cse: Cse,
    pub admin: Client,
}

pub async fn start_cse(mgmt_action_timeout_ms: u64) -> TestCse {
    let config = CseConfig {
        mgmt_action_timeout_ms,
        ..CseConfig::default()
    };
    let store = Arc::new(SqliteStore::in_memory().expect("in-memory store"));
    let cse = Cse::open(config, store).expect("open CSE");
    cse.add_transport(Arc::new(
        HttpTransport::new(Duration::from_secs(2)).expect("client"),
    ));
    cse.start_background();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let served = cse.clone();
    tokio::spawn(async move {
        urbis_http::serve(
            listener,
            served,
            HttpOptions::default(),
            std::future::pending(),
        )
        .await
        .expect("serve");
    });
    TestCse {
        admin: Client::new(&url, ADMIN).expect("client"),
        url,
        cse,
    }
}

/// A running agent; dropping `stop` (or sending on it) shuts it down.
pub struct RunningAgent {
    pub name: String,
    pub state_dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<Result<(), urbis_devices::Error>>,
}

impl RunningAgent {
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.done.await.expect("agent task").expect("agent ran");
        self.state_dir
    }
}

pub fn options(url: &str, node_id: &str, dir: &tempfile::TempDir) -> AgentOptions {
    AgentOptions::new(url, node_id, dir.path().to_owned())
}

pub fn spawn_agent(options: AgentOptions, state_dir: tempfile::TempDir) -> RunningAgent {
    let (stop, stopped) = oneshot::channel::<()>();
    let name = options.name();
    let done = tokio::spawn(agent::run(options, async move {
        let _ = stopped.await;
    }));
    RunningAgent {
        name,
        state_dir,
        stop: Some(stop),
        done,
    }
}

/// Wait until `check` gives a value, or fail after `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The attributes of a resource, under its root key.
pub async fn attrs(client: &Client, path: &str) -> Option<Value> {
    let answer = client.retrieve(path).await.ok()?;
    if !answer.is_success() {
        return None;
    }
    answer.body.as_object()?.values().next().cloned()
}

/// Serve firmware images at `http://.../<name>`.
pub async fn image_server(images: Vec<(&'static str, Vec<u8>)>) -> String {
    let mut router = axum::Router::new();
    for (name, bytes) in images {
        router = router.route(
            &format!("/{name}"),
            get(move || async move { bytes.clone() }),
        );
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("image server");
    });
    url
}
