//! The oneM2M WebSocket binding (TS-0020). AEs open a WebSocket to the CSE and
//! exchange whole request and response primitives over it, one per message, in
//! the serialization chosen by the sub-protocol (`oneM2M.json`, `oneM2M.cbor`).
//! The same connection carries requests the other way: notifications to an AE
//! that registered (or identified itself) over it. It only translates; the CSE
//! decides.
//!
//! # Layout
//! - [`handshake`]: sub-protocol negotiation (pure).
//! - [`session`]: one connection: reader, writer task, requests in both directions.
//! - [`registry`]: live connections and the entities they reach.
//! - [`transport`]: [`WsTransport`], the notification transport for
//!   connection URIs (`ws-session://<id>`) and `ws://` points of access.
//! - this file: options and the accept loop.

pub mod handshake;
mod registry;
mod session;
pub mod transport;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use urbis_core::{audit, Cse};

pub use transport::{WsTransport, SESSION_SCHEME};

/// Settings of the WebSocket binding.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WsOptions {
    /// Serve WebSocket connections at all.
    pub enabled: bool,
    /// Listening address, `HOST:PORT`.
    pub addr: String,
    /// Largest message accepted, in bytes; a larger one closes the connection
    /// with 1009 (message too big).
    pub max_message_bytes: usize,
    /// Connections served at once; more are closed on accept.
    pub max_connections: usize,
    /// Time a client has to complete the opening handshake, in milliseconds.
    pub handshake_timeout_ms: u64,
    /// Close a connection after this long without a message (pings count)
    /// from the client, in milliseconds; 0 = never. Connections are also
    /// notification channels, so clients that wait for notifications must
    /// ping within this time.
    pub idle_timeout_ms: u64,
}

impl Default for WsOptions {
    fn default() -> Self {
        WsOptions {
            enabled: false,
            addr: "127.0.0.1:8180".into(),
            max_message_bytes: 1024 * 1024,
            max_connections: 1024,
            handshake_timeout_ms: 10_000,
            idle_timeout_ms: 0,
        }
    }
}

/// Accept WebSocket connections on `listener` until `shutdown` completes, then
/// close the open ones with 1001 (going away). `transport` must be the one
/// registered with `cse` ([`Cse::add_transport`]) so that notifications reach
/// the connections accepted here.
pub async fn serve(
    listener: TcpListener,
    cse: Cse,
    transport: Arc<WsTransport>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(transport.options().max_connections.max(1)));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Ok(slot) = slots.clone().try_acquire_owned() else {
                        audit::connection_refused("ws", Some(peer.ip()), "max_connections");
                        continue;
                    };
                    let (cse, transport) = (cse.clone(), transport.clone());
                    tokio::spawn(async move {
                        accept(stream, peer, cse, transport).await;
                        drop(slot);
                    });
                }
                // e.g. too many open files: keep serving the connections we have
                Err(err) => {
                    tracing::warn!(%err, "WebSocket accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
    transport.close_all();
    Ok(())
}

/// What the client's handshake asked for.
struct Upgrade {
    serialization: urbis_model::Serialization,
    /// `X-M2M-Origin` of the handshake: pins the connection to this originator.
    origin: Option<String>,
}

async fn accept(stream: TcpStream, peer: SocketAddr, cse: Cse, transport: Arc<WsTransport>) {
    let _ = stream.set_nodelay(true);
    let mut upgrade = None;
    // the callback's error type is tungstenite's
    #[allow(clippy::result_large_err)]
    let negotiate = |request: &Request, mut response: Response| {
        let offered = request
            .headers()
            .get_all("sec-websocket-protocol")
            .iter()
            .filter_map(|v| v.to_str().ok());
        let Some(serialization) = handshake::choose(offered) else {
            return Err(refuse(&handshake::refusal()));
        };
        let name = handshake::subprotocol(serialization);
        response.headers_mut().insert(
            "sec-websocket-protocol",
            tokio_tungstenite::tungstenite::http::HeaderValue::from_static(name),
        );
        let origin = request
            .headers()
            .get("x-m2m-origin")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(str::to_owned);
        upgrade = Some(Upgrade {
            serialization,
            origin,
        });
        Ok(response)
    };
    let config = transport.websocket_config();
    let handshake =
        tokio_tungstenite::accept_hdr_async_with_config(stream, negotiate, Some(config));
    let handshake_timeout = Duration::from_millis(transport.options().handshake_timeout_ms.max(1));
    let ws = match tokio::time::timeout(handshake_timeout, handshake).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(err)) => {
            tracing::info!(%peer, %err, "WebSocket handshake refused or failed");
            return;
        }
        Err(_) => {
            audit::connection_refused("ws", Some(peer.ip()), "handshake_timeout");
            return;
        }
    };
    let Some(upgrade) = upgrade else {
        return;
    };
    tracing::debug!(%peer, serialization = ?upgrade.serialization, origin = ?upgrade.origin, "WebSocket connected");
    transport
        .run_inbound(ws, upgrade.serialization, upgrade.origin, peer.ip(), cse)
        .await;
    tracing::debug!(%peer, "WebSocket closed");
}

fn refuse(why: &str) -> ErrorResponse {
    let mut response = ErrorResponse::new(Some(why.to_owned()));
    *response.status_mut() = StatusCode::BAD_REQUEST;
    response
}
