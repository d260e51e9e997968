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
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use urbis_core::{audit, Cse};
use urbis_security::Door;

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
    /// wss: PEM certificate chain; empty = plain ws.
    pub tls_cert_file: String,
    /// wss: PEM private key of the certificate.
    pub tls_key_file: String,
    /// wss: PEM CA of client certificates; empty = none asked for.
    pub tls_client_ca_file: String,
}

impl WsOptions {
    pub fn tls_files(&self) -> urbis_security::tls::TlsFiles {
        urbis_security::tls::TlsFiles {
            cert_file: self.tls_cert_file.clone(),
            key_file: self.tls_key_file.clone(),
            client_ca_file: self.tls_client_ca_file.clone(),
        }
    }
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
            tls_cert_file: String::new(),
            tls_key_file: String::new(),
            tls_client_ca_file: String::new(),
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
    serve_door(listener, cse, transport, Door::default(), shutdown).await
}

/// [`serve`] behind `door`: wss when it has TLS; credentials (an
/// `Authorization` header on the handshake, or a client certificate) checked
/// when it has a verifier.
pub async fn serve_door(
    listener: TcpListener,
    cse: Cse,
    transport: Arc<WsTransport>,
    door: Door,
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
                    let (cse, transport, door) = (cse.clone(), transport.clone(), door.clone());
                    tokio::spawn(async move {
                        accept(stream, peer, cse, transport, door).await;
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
    /// `Authorization` of the handshake.
    authorization: Option<String>,
}

async fn accept(
    stream: TcpStream,
    peer: SocketAddr,
    cse: Cse,
    transport: Arc<WsTransport>,
    door: Door,
) {
    let _ = stream.set_nodelay(true);
    let Some(acceptor) = door.tls.clone() else {
        return upgrade(stream, peer, None, cse, transport, door).await;
    };
    let handshake_timeout = Duration::from_millis(transport.options().handshake_timeout_ms.max(1));
    match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => {
            let certificate = urbis_security::tls::peer_certificate(&tls);
            upgrade(tls, peer, certificate, cse, transport, door).await
        }
        Ok(Err(err)) => tracing::info!(%peer, %err, "TLS handshake failed"),
        Err(_) => tracing::info!(%peer, "TLS handshake timed out"),
    }
}

/// The WebSocket handshake, then the connection until it closes.
async fn upgrade<S>(
    stream: S,
    peer: SocketAddr,
    certificate: Option<Vec<u8>>,
    cse: Cse,
    transport: Arc<WsTransport>,
    door: Door,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
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
        let authorization = request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        upgrade = Some(Upgrade {
            serialization,
            origin,
            authorization,
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
    // Verified after the upgrade (argon2 must not run inside tungstenite's
    // synchronous callback); a refusal closes the connection with 1008.
    let sender = match door
        .authenticate(upgrade.authorization.as_deref(), certificate.as_deref())
        .await
    {
        Ok(sender) => sender,
        Err(err) => {
            let claimed = upgrade.origin.as_deref().unwrap_or("-");
            audit::authentication_failed("ws", claimed, Some(peer.ip()), &err.message);
            return session::refuse(ws, &err.message).await;
        }
    };
    tracing::debug!(%peer, serialization = ?upgrade.serialization, origin = ?upgrade.origin, "WebSocket connected");
    let access = session::Access {
        sender,
        verifier: door.verifier.clone(),
    };
    transport
        .run_inbound(
            ws,
            upgrade.serialization,
            upgrade.origin,
            peer.ip(),
            access,
            cse,
        )
        .await;
    tracing::debug!(%peer, "WebSocket closed");
}

fn refuse(why: &str) -> ErrorResponse {
    let mut response = ErrorResponse::new(Some(why.to_owned()));
    *response.status_mut() = StatusCode::BAD_REQUEST;
    response
}
