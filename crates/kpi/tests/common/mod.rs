//! A real CSE with the HTTP binding on 127.0.0.1:0 over an in-memory store.

use std::sync::Arc;

use tokio::net::TcpListener;
use urbis_core::{Cse, CseConfig};
use urbis_store::sqlite::SqliteStore;

/// `discovery_limit` caps every page the CSE returns, to exercise paging.
pub async fn start_with_store(discovery_limit: u64) -> (String, Arc<SqliteStore>) {
    let store = Arc::new(SqliteStore::in_memory().expect("in-memory store"));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let config = CseConfig {
        discovery_limit,
        ..CseConfig::default()
    };
    let cse = Cse::open(config, store.clone()).expect("open CSE");
    cse.start_background();
    tokio::spawn(async move {
        urbis_http::serve(
            listener,
            cse,
            urbis_http::HttpOptions::default(),
            std::future::pending(),
        )
        .await
        .expect("serve");
    });
    (format!("http://{addr}"), store)
}
