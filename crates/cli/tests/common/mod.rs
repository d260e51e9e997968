//! The `urbis` binary in tests: one place that starts `urbis serve` and reads
//! the line it prints once it listens.

#![allow(dead_code)]

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A running `urbis serve`, killed when dropped so that a failing test
/// leaves no process behind.
pub struct Server {
    pub child: Child,
    /// The HTTP base URL from the listening line, e.g. `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary with a quiet log, ready for arguments.
pub fn urbis() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_urbis"));
    command.env("URBIS_LOG_LEVEL", "warn");
    command
}

/// Spawn `command` (an `urbis serve ...`) and wait until it listens.
pub fn start(mut command: Command) -> Server {
    let mut child = command.stdout(Stdio::piped()).spawn().expect("start urbis");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read the listening line");
    let Some(base) = line.trim().strip_prefix("urbis listening on ") else {
        let _ = child.kill();
        panic!("urbis printed no listening line: {line:?}");
    };
    let base = base.to_owned();
    Server { child, base }
}

/// `urbis serve` on a free port with the given store arguments (none: the
/// default embedded store), its log on the test's stderr.
pub fn start_server(store: &[OsString]) -> Server {
    let mut command = urbis();
    command
        .args(["serve", "--http-addr", "127.0.0.1:0"])
        .args(store)
        .stderr(Stdio::inherit());
    start(command)
}

/// [`admin_request`] that must be answered.
pub async fn admin_send(
    base: &str,
    method: reqwest::Method,
    path: &str,
    ty: Option<u32>,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    admin_request(&reqwest::Client::new(), base, method, path, ty, body)
        .await
        .expect("an answer with X-M2M-RSC")
}

/// One request as the admin originator; `None` when no answer with an
/// `X-M2M-RSC` came (e.g. the server is gone).
pub async fn admin_request(
    client: &reqwest::Client,
    base: &str,
    method: reqwest::Method,
    path: &str,
    ty: Option<u32>,
    body: Option<serde_json::Value>,
) -> Option<(u16, serde_json::Value)> {
    request_as(client, base, method, path, "CAdmin", ty, body, &[]).await
}

/// One request as `originator`, with extra headers; `None` when no answer
/// with an `X-M2M-RSC` came.
#[allow(clippy::too_many_arguments)]
pub async fn request_as(
    client: &reqwest::Client,
    base: &str,
    method: reqwest::Method,
    path: &str,
    originator: &str,
    ty: Option<u32>,
    body: Option<serde_json::Value>,
    headers: &[(&str, &str)],
) -> Option<(u16, serde_json::Value)> {
    let mut request = client
        .request(method, format!("{base}{path}"))
        .header("X-M2M-Origin", originator)
        .header("X-M2M-RI", "t")
        .header("X-M2M-RVI", "4")
        .header(
            "Content-Type",
            ty.map(|t| format!("application/json;ty={t}"))
                .unwrap_or_else(|| "application/json".into()),
        );
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.body(body.to_string());
    }
    let response = request.send().await.ok()?;
    let rsc = response
        .headers()
        .get("x-m2m-rsc")?
        .to_str()
        .ok()?
        .parse()
        .ok()?;
    let body = response.json().await.unwrap_or(serde_json::Value::Null);
    Some((rsc, body))
}

/// What a notification receiver answers: 200 with `X-M2M-RSC: 2000`.
pub fn notification_ok() -> (axum::http::StatusCode, axum::http::HeaderMap) {
    let mut headers = axum::http::HeaderMap::new();
    headers.insert("X-M2M-RSC", axum::http::HeaderValue::from_static("2000"));
    (axum::http::StatusCode::OK, headers)
}

/// Serve `app` on a free loopback port for the rest of the test; returns
/// its base URL (`http://127.0.0.1:PORT/`).
pub async fn serve_on_loopback(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let url = format!("http://{}/", listener.local_addr().expect("its address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// The `con`s of the events in each aggregated notification (`m2m:agn`) a
/// receiver got, in arrival order.
pub type Batches = std::sync::Arc<std::sync::Mutex<Vec<Vec<serde_json::Value>>>>;

/// A notification receiver that keeps the batches it gets (and answers
/// everything else, verification requests included, with 2000).
pub async fn batch_receiver() -> (String, Batches) {
    let batches: Batches = Batches::default();
    let sink = batches.clone();
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(move |body: String| {
            let sink = sink.clone();
            async move {
                let value: serde_json::Value =
                    serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
                if let Some(events) = value.pointer("/m2m:agn/m2m:sgn").and_then(|v| v.as_array()) {
                    let cons = events
                        .iter()
                        .map(|sgn| sgn["nev"]["rep"]["m2m:cin"]["con"].clone())
                        .collect();
                    sink.lock().unwrap().push(cons);
                }
                notification_ok()
            }
        }),
    );
    (serve_on_loopback(app).await, batches)
}

/// A container `box` below the CSEBase with a subscription whose batches
/// go to `receiver` every `num` events (and after an hour otherwise).
pub async fn batched_box(base: &str, receiver: &str, num: u64) {
    let (rsc, body) = admin_send(
        base,
        reqwest::Method::POST,
        "/cse-in",
        Some(3),
        Some(serde_json::json!({"m2m:cnt": {"rn": "box"}})),
    )
    .await;
    assert_eq!(rsc, 2001, "{body}");
    let sub = serde_json::json!({"m2m:sub": {
        "rn": "batched", "nu": [receiver], "enc": {"net": [3]},
        "bn": {"num": num, "dur": "PT1H"}
    }});
    let (rsc, body) = admin_send(
        base,
        reqwest::Method::POST,
        "/cse-in/box",
        Some(23),
        Some(sub),
    )
    .await;
    assert_eq!(rsc, 2001, "{body}");
}

/// An acknowledged contentInstance with `con` in `box`.
pub async fn add_to_box(base: &str, con: u64) {
    let (rsc, body) = admin_send(
        base,
        reqwest::Method::POST,
        "/cse-in/box",
        Some(4),
        Some(serde_json::json!({"m2m:cin": {"con": con}})),
    )
    .await;
    assert_eq!(rsc, 2001, "{body}");
}

/// Wait up to 10 s for a batch, then a little longer for a duplicate: the
/// receiver must have got exactly one, with the `con`s `expected`.
pub async fn expect_one_batch(batches: &Batches, expected: &[u64], why: &str) {
    let start = std::time::Instant::now();
    while batches.lock().unwrap().is_empty() {
        assert!(start.elapsed().as_secs() < 10, "no batch came: {why}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let expected: Vec<serde_json::Value> = expected.iter().map(|c| serde_json::json!(c)).collect();
    assert_eq!(batches.lock().unwrap().clone(), vec![expected], "{why}");
}
