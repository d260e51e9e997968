//! A real CSE with the HTTP binding on 127.0.0.1:0 over an in-memory store.

use std::sync::Arc;

use tokio::net::TcpListener;
use urbis_core::{Cse, CseConfig};
use urbis_store::sqlite::SqliteStore;

/// `discovery_limit` caps every page the CSE returns, to exercise paging.
pub async fn start_with_store(discovery_limit: u64) -> (String, Arc<SqliteStore>) {
    start_serving(discovery_limit, None).await
}

/// With `report`, the server also serves `GET /kpi/report` with these bindings.
#[allow(dead_code)] // not every test binary serves the report
pub async fn start_serving(
    discovery_limit: u64,
    report: Option<urbis_kpi::bindings::Bindings>,
) -> (String, Arc<SqliteStore>) {
    let store = Arc::new(SqliteStore::in_memory().expect("in-memory store"));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let config = CseConfig {
        discovery_limit,
        ..CseConfig::default()
    };
    let cse = Cse::open(config, store.clone()).expect("open CSE");
    cse.start_background();
    let mut router = urbis_http::router(cse, urbis_http::HttpOptions::default());
    if let Some(bindings) = report {
        router = urbis_kpi::endpoint::routes(
            store.clone(),
            "cse-in",
            bindings,
            urbis_kpi::stats::Statistics::default(),
        )
        .merge(router);
    }
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serve");
    });
    (format!("http://{addr}"), store)
}
