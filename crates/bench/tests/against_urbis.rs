//! Every phase of the harness against a real Urbis (HTTP binding, in-memory
//! SQLite store) on loopback, with short runs: the harness must measure
//! successful operations, and the fan-out must count each notification once.

use std::sync::Arc;
use std::time::Duration;

use urbis_bench::client::Target;
use urbis_bench::phases::{self, Plan};
use urbis_bench::receiver::Receiver;
use urbis_core::{Cse, CseConfig};
use urbis_http::client::HttpTransport;
use urbis_store::sqlite::SqliteStore;

async fn urbis() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let store = Arc::new(SqliteStore::in_memory().expect("store"));
    let cse = Cse::open(CseConfig::default(), store).expect("CSE");
    cse.add_transport(Arc::new(
        HttpTransport::new(Duration::from_secs(2)).expect("client"),
    ));
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
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_phase_measures_successful_operations() {
    let url = urbis().await;
    let target = Target::new(&url, "cse-in", "Cbench", "4", Duration::from_secs(5)).unwrap();
    let plan = Plan {
        target: Arc::new(target),
        ae: "Cbench".into(),
        concurrency: 4,
        duration: Duration::from_millis(300),
        runs: 2,
        content_size: 10,
    };
    let receiver = Receiver::start().await.unwrap();
    phases::register(&plan, Some(format!("http://{}", receiver.addr)))
        .await
        .unwrap();

    let create = phases::create(&plan).await.unwrap();
    assert_eq!(create.runs.len(), 2);
    assert!(
        create.median() > 0.0 && create.errors == 0,
        "{:?}",
        create.runs
    );
    assert!(create.p99_ms >= create.p50_ms);

    let retrieve = phases::retrieve(&plan).await.unwrap();
    assert!(retrieve.median() > 0.0 && retrieve.errors == 0);

    let discovery = phases::discovery(&plan, 200, 1).await.unwrap();
    assert!(discovery.median() > 0.0 && discovery.errors == 0);
    assert_eq!(discovery.extra["population"], 200);
    // a second run reuses the population instead of adding to it
    let again = phases::discovery(&plan, 200, 1).await.unwrap();
    assert!(!again.extra.contains_key("populate_per_s"));

    let fanout = phases::fanout(&plan, &receiver, 50).await.unwrap();
    assert_eq!(fanout.runs.len(), 2, "one event per run");
    assert_eq!(
        receiver.events(),
        100,
        "each subscriber told once per event"
    );
    assert_eq!(receiver.verifications(), 50);

    phases::unregister(&plan).await.unwrap();
}
