//! The bare HTTP stack Urbis is built on (tokio + axum), answering every
//! request with a fixed oneM2M-shaped reply and doing nothing else. Benchmarks
//! run it beside `urbis serve` to show how much of the time is the CSE's.
//!
//! `cargo run --release -p urbis-http --example fixed_reply -- 127.0.0.1:8090`

use axum::Router;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8090".into());
    let app = Router::new().fallback(|| async {
        (
            [("content-type", "application/json"), ("x-m2m-rsc", "2000")],
            r#"{"m2m:cin":{"con":"fixed"}}"#,
        )
    });
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("fixed reply on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
