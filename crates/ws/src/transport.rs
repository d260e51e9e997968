//! Requests this CSE sends over WebSockets (notifications, verification
//! requests): on the connection an AE opened itself, named
//! `ws-session://<connection-id>` (the core asks [`Transport::connected`] for
//! it), or to a `ws://` point of access. For a `ws://` point of access the
//! connection the target entity opened is used when there is one (as in the
//! reference CSE); otherwise this CSE dials the URI and keeps that connection
//! for reuse until it has been idle for a minute.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use urbis_core::registry::BoxFuture;
use urbis_core::{Cse, Transport};
use urbis_model::{CseError, CseResult, Request, Response, Rsc, Serialization};

use crate::registry::Registry;
use crate::session::{self, Claim, Role, Session};
use crate::{handshake, WsOptions};

/// URI scheme of a connection an entity opened to this CSE.
pub const SESSION_SCHEME: &str = "ws-session";

/// How long a peer may take to answer one of our requests. The notifier has
/// its own (usually shorter) limit; this one bounds direct use.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long dialing a `ws://` point of access may take.
const DIAL_TIMEOUT: Duration = Duration::from_secs(5);
/// A dialed connection closes after this long without a message from the peer.
const DIALED_IDLE: Duration = Duration::from_secs(60);

pub struct WsTransport {
    shared: Arc<Shared>,
}

/// What requests in flight need after `send` has returned their future.
struct Shared {
    registry: Arc<Registry>,
    options: WsOptions,
    /// One dial at a time, so concurrent notifications share one connection.
    dialing: tokio::sync::Mutex<()>,
}

impl WsTransport {
    pub fn new(options: WsOptions) -> Arc<WsTransport> {
        Arc::new(WsTransport {
            shared: Arc::new(Shared {
                registry: Arc::new(Registry::default()),
                options,
                dialing: tokio::sync::Mutex::new(()),
            }),
        })
    }

    pub(crate) fn options(&self) -> &WsOptions {
        &self.shared.options
    }

    pub(crate) fn websocket_config(&self) -> WebSocketConfig {
        self.shared.websocket_config()
    }

    /// Open connections and associated entities, for diagnostics and tests.
    pub fn counts(&self) -> (usize, usize) {
        self.shared.registry.counts()
    }

    /// Close every connection with 1001 (going away).
    pub fn close_all(&self) {
        for session in self.shared.registry.all() {
            session.close_with(CloseCode::Away, "CSE shutting down");
        }
    }

    /// Serve a connection a client opened, until it closes.
    pub(crate) async fn run_inbound<S>(
        &self,
        ws: WebSocketStream<S>,
        serialization: Serialization,
        origin: Option<String>,
        peer: IpAddr,
        access: session::Access,
        cse: Cse,
    ) where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let registry = &self.shared.registry;
        let id = registry.next_id();
        let (session, outbox) = Session::new(id, serialization);
        registry.insert(session.clone());
        if let Some(origin) = origin.as_deref() {
            // the handshake names a registered AE: reach it here from the start
            let claim = Claim {
                origin: Some(origin),
                fr: Some(origin),
                registration: false,
            };
            session::associate(&cse, registry, id, &claim, &Response::new(Rsc::Ok, None));
        }
        let role = Role::Accepted {
            cse,
            origin,
            peer: Some(peer),
            access,
        };
        let idle = match self.shared.options.idle_timeout_ms {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        };
        session::run(ws, session, outbox, role, registry.clone(), idle).await;
    }
}

impl Shared {
    fn websocket_config(&self) -> WebSocketConfig {
        let max = self.options.max_message_bytes.max(1);
        WebSocketConfig::default()
            .max_message_size(Some(max))
            .max_frame_size(Some(max))
    }

    /// The connection for a `ws://` URI: the target entity's own, a dialed one
    /// still open, or a new one.
    async fn connection_for(
        &self,
        uri: &str,
        entity: Option<&str>,
        serialization: Serialization,
        origin: Option<&str>,
    ) -> CseResult<Arc<Session>> {
        if let Some(session) = entity.and_then(|e| self.registry.for_entity(e)) {
            return Ok(session);
        }
        let key = format!("{uri} {}", handshake::subprotocol(serialization));
        if let Some(session) = self.registry.dialed(&key) {
            return Ok(session);
        }
        let _dialing = self.dialing.lock().await;
        if let Some(session) = self.registry.dialed(&key) {
            return Ok(session);
        }
        let ws = self.dial(uri, serialization, origin).await?;
        let id = self.registry.next_id();
        let (session, outbox) = Session::new(id, serialization);
        self.registry.insert(session.clone());
        self.registry.add_dialed(&key, id);
        let registry = self.registry.clone();
        let running = session.clone();
        tokio::spawn(async move {
            session::run(
                ws,
                running,
                outbox,
                Role::Dialed,
                registry,
                Some(DIALED_IDLE),
            )
            .await;
        });
        Ok(session)
    }

    async fn dial(
        &self,
        uri: &str,
        serialization: Serialization,
        origin: Option<&str>,
    ) -> CseResult<WebSocketStream<MaybeTlsStream<TcpStream>>> {
        let unreachable = |why: String| CseError::new(Rsc::TargetNotReachable, why);
        let mut request = uri
            .into_client_request()
            .map_err(|e| unreachable(format!("{uri}: {e}")))?;
        let headers = request.headers_mut();
        headers.insert(
            "sec-websocket-protocol",
            HeaderValue::from_static(handshake::subprotocol(serialization)),
        );
        if let Some(origin) = origin.and_then(|o| HeaderValue::from_str(o).ok()) {
            headers.insert("x-m2m-origin", origin);
        }
        let connect = tokio_tungstenite::connect_async_with_config(
            request,
            Some(self.websocket_config()),
            true,
        );
        match tokio::time::timeout(DIAL_TIMEOUT, connect).await {
            Ok(Ok((ws, _))) => Ok(ws),
            Ok(Err(err)) => Err(unreachable(format!("{uri}: {err}"))),
            Err(_) => Err(unreachable(format!("{uri}: connection timed out"))),
        }
    }
}

fn session_id(uri: &str) -> Option<u64> {
    uri.strip_prefix(SESSION_SCHEME)?
        .strip_prefix("://")?
        .parse()
        .ok()
}

impl Transport for WsTransport {
    fn handles(&self, uri: &str) -> bool {
        ["ws://", "wss://"].iter().any(|s| uri.starts_with(s)) || session_id(uri).is_some()
    }

    fn connected(&self, entity: &str) -> Option<String> {
        self.shared
            .registry
            .for_entity(entity)
            .map(|session| format!("{SESSION_SCHEME}://{}", session.id))
    }

    fn send(
        &self,
        uri: &str,
        request: Request,
        serialization: Serialization,
    ) -> BoxFuture<'static, CseResult<Response>> {
        let shared = self.shared.clone();
        let uri = uri.to_owned();
        Box::pin(async move {
            let session = match session_id(&uri) {
                Some(id) => shared.registry.get(id).ok_or_else(|| {
                    CseError::new(
                        Rsc::TargetNotReachable,
                        format!("{uri}: the connection is closed"),
                    )
                })?,
                None => {
                    // the notifier addresses the entity (its AE-ID) in `to`
                    let entity = (!request.to.contains("://")).then_some(request.to.as_str());
                    let serialization = match serialization {
                        Serialization::Xml
                            if handshake::serialization(handshake::XML).is_none() =>
                        {
                            Serialization::Json
                        }
                        other => other,
                    };
                    shared
                        .connection_for(&uri, entity, serialization, request.fr.as_deref())
                        .await?
                }
            };
            session.exchange(request, ANSWER_TIMEOUT).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_uris() {
        assert_eq!(session_id("ws-session://17"), Some(17));
        assert_eq!(session_id("ws-session://x"), None);
        assert_eq!(session_id("ws://17"), None);
        let transport = WsTransport::new(WsOptions::default());
        assert!(transport.handles("ws-session://3"));
        assert!(transport.handles("ws://host:1"));
        assert!(transport.handles("wss://host:1"));
        assert!(!transport.handles("http://host:1"));
        assert_eq!(transport.connected("Cae"), None);
    }
}
