//! The accept loop of the HTTP server, with the limits that keep slow or
//! greedy clients from exhausting it (docs/security-hardening.md):
//! - at most `max_connections` connections at once; one more is closed at
//!   once (and audited) instead of waiting in the listen backlog;
//! - a request head must arrive completely within `header_read_timeout`.
//!   The clock starts when the connection begins waiting for a request (on
//!   connect, and after each response), so it also ends idle keep-alive
//!   connections;
//! - each request carries its TCP peer as [`ConnectInfo`], so that the
//!   binding can put the peer address into the request primitive;
//! - with TLS, the handshake runs in the connection's own task (a slow client
//!   delays only itself) within the same header timeout, and each request
//!   carries the connection's [`TlsPeer`] (the client certificate).
//!
//! Graceful shutdown: stop accepting, let requests in progress finish.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::Service;
use urbis_core::audit;
use urbis_security::tls::{self as tls_config, TlsAcceptor};

use crate::tls::TlsPeer;

/// Limits per server (from [`crate::HttpOptions`]).
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    /// Largest request head (request line and headers), in bytes.
    pub max_header_bytes: usize,
}

/// Serve `router` on `listener` until `shutdown` completes; HTTPS when `tls`
/// is given.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        // hyper's minimum read buffer is 8 KiB
        .max_buf_size(limits.max_header_bytes.max(8192));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // e.g. too many open files: keep serving the connections we have
                Err(err) => {
                    tracing::warn!(%err, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            audit::connection_refused("http", Some(peer.ip()), "max_connections");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            let Some(acceptor) = tls else {
                let service = service_for(router, peer, None);
                let connection = builder.serve_connection(TokioIo::new(stream), service);
                log_end(watcher.watch(connection).await, peer);
                drop(slot);
                return;
            };
            let handshake =
                tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream));
            let stream = match handshake.await {
                Ok(Ok(stream)) => stream,
                Ok(Err(err)) => {
                    tracing::info!(%peer, %err, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::info!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let tls_peer = TlsPeer {
                addr: peer,
                certificate: tls_config::peer_certificate(&stream).map(Arc::new),
            };
            let service = service_for(router, peer, Some(tls_peer));
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            log_end(watcher.watch(connection).await, peer);
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// The router behind one connection: each request carries the TCP peer and,
/// over TLS, the connection's [`TlsPeer`].
fn service_for(
    router: Router,
    peer: SocketAddr,
    tls_peer: Option<TlsPeer>,
) -> impl hyper::service::Service<
    hyper::Request<Incoming>,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future: Send,
> + Clone {
    hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        if let Some(tls_peer) = &tls_peer {
            request.extensions_mut().insert(tls_peer.clone());
        }
        let mut router = router.clone();
        async move { router.call(request).await }
    })
}

fn log_end(ended: Result<(), hyper::Error>, peer: SocketAddr) {
    if let Err(err) = ended {
        if err.is_timeout() {
            tracing::debug!(%peer, "HTTP connection closed: no complete request head in time");
        } else {
            tracing::debug!(%peer, %err, "HTTP connection ended with an error");
        }
    }
}

/// The TCP peer of a request served by [`serve`]; `None` when the router is
/// called without a connection (tests with `oneshot`).
pub fn peer_of<B>(request: &axum::http::Request<B>) -> Option<SocketAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0)
}
