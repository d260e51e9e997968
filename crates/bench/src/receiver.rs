//! A notification receiver on loopback: answers every NOTIFY with 2000 and
//! counts the event notifications (verification requests are answered, not
//! counted).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Notify;

#[derive(Default)]
struct Counts {
    events: AtomicU64,
    verifications: AtomicU64,
    /// The event count `waiter` is waiting for.
    awaited: AtomicU64,
    reached: Notify,
}

pub struct Receiver {
    pub addr: SocketAddr,
    counts: Arc<Counts>,
}

impl Receiver {
    pub async fn start() -> anyhow::Result<Receiver> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let counts = Arc::new(Counts::default());
        let serving = counts.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                let counts = serving.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| answer(counts.clone(), request));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Receiver { addr, counts })
    }

    /// The URL of subscriber `n` (each subscriber its own target URI).
    pub fn url(&self, n: u64) -> String {
        format!("http://{}/subscriber/{n}", self.addr)
    }

    pub fn events(&self) -> u64 {
        self.counts.events.load(Ordering::SeqCst)
    }

    pub fn verifications(&self) -> u64 {
        self.counts.verifications.load(Ordering::SeqCst)
    }

    /// Wait until `total` event notifications have arrived in all; the
    /// instant the last one did, or `None` after `timeout`.
    pub async fn wait_for(&self, total: u64, timeout: Duration) -> Option<Instant> {
        self.counts.awaited.store(total, Ordering::SeqCst);
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.counts.reached.notified();
            if self.events() >= total {
                return Some(Instant::now());
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            if tokio::time::timeout(left, notified).await.is_err() {
                return None;
            }
        }
    }
}

async fn answer(
    counts: Arc<Counts>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let rqi = request.headers().get("x-m2m-ri").cloned();
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if contains(&body, b"\"vrq\"") {
        counts.verifications.fetch_add(1, Ordering::SeqCst);
    } else if contains(&body, b"\"nev\"") {
        let now = counts.events.fetch_add(1, Ordering::SeqCst) + 1;
        if now >= counts.awaited.load(Ordering::SeqCst) {
            counts.reached.notify_waiters();
        }
    }
    let mut response = Response::builder()
        .status(200)
        .header("X-M2M-RSC", "2000")
        .header("Content-Length", "0");
    if let Some(rqi) = rqi {
        response = response.header("X-M2M-RI", rqi);
    }
    Ok(response
        .body(Full::new(Bytes::new()))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
