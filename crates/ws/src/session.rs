//! One WebSocket connection. A reader loop takes messages off the socket and
//! handles each in its own task (requests to the CSE run concurrently; answers
//! to our own requests are matched by `rqi`); one writer task owns the socket's
//! sending half and drains a bounded queue, so a slow peer slows its own
//! connection only.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Bytes, Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;
use urbis_codec::primitive;
use urbis_core::Cse;
use urbis_model::primitive::rtv;
use urbis_model::{
    CseError, CseResult, Operation, Request, ResourceType, Response, Rsc, Serialization,
};

use crate::registry::Registry;

/// Messages waiting for the writer; a full queue makes senders wait.
const OUTBOX: usize = 64;
/// Requests from one peer handled at once; the reader waits beyond that.
const IN_FLIGHT: usize = 64;
/// Our requests awaiting an answer on one connection.
const MAX_PENDING: usize = 1024;
/// How long a close frame we send may take to go out.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

pub(crate) struct Session {
    pub id: u64,
    /// Fixed by the sub-protocol for the whole connection.
    pub serialization: Serialization,
    outbox: mpsc::Sender<Message>,
    pending: Mutex<Pending>,
}

#[derive(Default)]
struct Pending {
    /// Set once the connection is gone: nothing may wait on it any more.
    closed: bool,
    waiting: HashMap<String, oneshot::Sender<Response>>,
}

/// Who the sender on an accepted connection proved to be at the handshake.
#[derive(Clone)]
pub(crate) struct Access {
    pub sender: urbis_security::Sender,
    /// To recheck the credential on every request: a revocation cuts an
    /// open connection off too.
    pub verifier: Option<Arc<urbis_security::Verifier>>,
}

impl Access {
    /// The authentication a request on this connection carries, unless the
    /// credential was revoked since the handshake.
    fn authentication(&self) -> CseResult<urbis_model::Authentication> {
        if let (Some(verifier), Some(id)) = (&self.verifier, &self.sender.credential_id) {
            match verifier.still_active(id) {
                Ok(true) => {}
                Ok(false) => {
                    return Err(CseError::new(
                        Rsc::SecurityAssociationRequired,
                        "the credential of this connection was revoked",
                    ))
                }
                Err(err) => return Err(CseError::internal(err.to_string())),
            }
        }
        Ok(self.sender.authentication.clone())
    }
}

/// Close a connection whose handshake presented credentials that failed.
pub(crate) async fn refuse<S>(mut ws: WebSocketStream<S>, why: &str)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let frame = close_frame(CloseCode::Policy, why);
    let _ = tokio::time::timeout(CLOSE_GRACE, ws.close(Some(frame))).await;
}

/// What the peer's requests are answered by.
#[derive(Clone)]
pub(crate) enum Role {
    /// A connection a client opened: its requests go to the CSE. `origin` is
    /// the handshake's `X-M2M-Origin`, which pins the connection to that
    /// originator; `access`, who the handshake proved the sender to be.
    /// `peer`: the client's address, for the requests' primitives.
    Accepted {
        cse: Cse,
        origin: Option<String>,
        peer: Option<std::net::IpAddr>,
        access: Access,
    },
    /// A connection this CSE opened to a `ws://` point of access: it carries
    /// our requests and their answers only.
    Dialed,
}

impl Session {
    pub fn new(id: u64, serialization: Serialization) -> (Arc<Session>, mpsc::Receiver<Message>) {
        let (outbox, rx) = mpsc::channel(OUTBOX);
        let session = Session {
            id,
            serialization,
            outbox,
            pending: Mutex::new(Pending::default()),
        };
        (Arc::new(session), rx)
    }

    /// A primitive as one message: text for JSON (and XML), binary for CBOR.
    fn message(&self, value: &Value) -> CseResult<Message> {
        let bytes = urbis_codec::encode(value, self.serialization)?;
        Ok(match self.serialization {
            Serialization::Cbor => Message::Binary(Bytes::from(bytes)),
            Serialization::Json | Serialization::Xml => Message::Text(
                String::from_utf8(bytes)
                    .map_err(|e| CseError::internal(e.to_string()))?
                    .into(),
            ),
        })
    }

    async fn respond(&self, response: &Response) {
        match self.message(&primitive::response_to_value(response)) {
            Ok(message) => {
                // a closed connection has no one left to answer
                let _ = self.outbox.send(message).await;
            }
            Err(err) => tracing::warn!(%err, "WebSocket response not encoded"),
        }
    }

    /// Send a request to the peer and wait for its response primitive, matched
    /// by request identifier. A closed connection, a full pending map or no
    /// answer within `timeout` is TARGET_NOT_REACHABLE.
    pub async fn exchange(&self, request: Request, timeout: Duration) -> CseResult<Response> {
        let unreachable = |why: &str| {
            CseError::new(
                Rsc::TargetNotReachable,
                format!("WebSocket connection {}: {why}", self.id),
            )
        };
        let message = self.message(&primitive::request_to_value(&request))?;
        let rqi = request.rqi;
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = self.pending.lock();
            if pending.closed {
                return Err(unreachable("closed"));
            }
            if pending.waiting.len() >= MAX_PENDING {
                return Err(unreachable("too many requests awaiting an answer"));
            }
            pending.waiting.insert(rqi.clone(), tx);
        }
        let outcome = tokio::time::timeout(timeout, async {
            self.outbox
                .send(message)
                .await
                .map_err(|_| unreachable("closed"))?;
            rx.await
                .map_err(|_| unreachable("closed before the answer came"))
        })
        .await;
        self.pending.lock().waiting.remove(&rqi);
        match outcome {
            Ok(answer) => answer,
            Err(_) => Err(unreachable("no answer in time")),
        }
    }

    /// Hand an answer to the request waiting for it; `false` if none waits.
    fn answer(&self, response: Response) -> bool {
        let waiting = self.pending.lock().waiting.remove(&response.rqi);
        match waiting {
            Some(waiting) => waiting.send(response).is_ok(),
            None => false,
        }
    }

    /// Ask the writer to close the connection with `code`.
    pub fn close_with(&self, code: CloseCode, reason: &str) {
        let _ = self
            .outbox
            .try_send(Message::Close(Some(close_frame(code, reason))));
    }

    /// The connection is gone: fail everyone waiting on it, now and later.
    fn closed(&self) {
        let mut pending = self.pending.lock();
        pending.closed = true;
        // dropping the senders wakes each waiter with an error
        pending.waiting.clear();
    }
}

/// Run a connection until it closes, then forget it in `registry` and fail
/// the requests still waiting on it. `idle`: close after that long without a
/// message from the peer (pings count).
pub(crate) async fn run<S>(
    ws: WebSocketStream<S>,
    session: Arc<Session>,
    outbox: mpsc::Receiver<Message>,
    role: Role,
    registry: Arc<Registry>,
    idle: Option<Duration>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sink, stream) = ws.split();
    let mut writer = tokio::spawn(write_all(sink, outbox));
    let closing = read_all(stream, &session, &role, &registry, idle).await;
    registry.remove(session.id);
    session.closed();
    if let Some(frame) = closing {
        let _ = session.outbox.try_send(Message::Close(Some(frame)));
        let _ = tokio::time::timeout(CLOSE_GRACE, &mut writer).await;
    }
    writer.abort();
}

async fn write_all<S>(
    mut sink: SplitSink<WebSocketStream<S>, Message>,
    mut outbox: mpsc::Receiver<Message>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    while let Some(message) = outbox.recv().await {
        let closing = matches!(message, Message::Close(_));
        // flush only when nothing else is queued: a burst goes out in few writes
        let sent = match sink.feed(message).await {
            Ok(()) if closing || outbox.is_empty() => sink.flush().await,
            other => other,
        };
        if let Err(err) = sent {
            tracing::debug!(%err, "WebSocket write failed");
            return;
        }
        if closing {
            return;
        }
    }
}

/// Read until the connection ends. `Some(frame)`: we must close it with that.
async fn read_all<S>(
    mut stream: SplitStream<WebSocketStream<S>>,
    session: &Arc<Session>,
    role: &Role,
    registry: &Arc<Registry>,
    idle: Option<Duration>,
) -> Option<CloseFrame>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    loop {
        let next = match idle {
            Some(idle) => match tokio::time::timeout(idle, stream.next()).await {
                Ok(next) => next,
                Err(_) => {
                    if let Role::Accepted { peer, .. } = role {
                        urbis_core::audit::connection_refused("ws", *peer, "idle_timeout");
                    }
                    return Some(close_frame(CloseCode::Normal, "idle"));
                }
            },
            None => stream.next().await,
        };
        let payload: Bytes = match next {
            None => return None,
            Some(Ok(Message::Text(text))) => text.into(),
            Some(Ok(Message::Binary(bytes))) => bytes,
            // tungstenite answers pings itself; a close completes on the next read
            Some(Ok(_)) => continue,
            Some(Err(WsError::Capacity(err))) => {
                return Some(close_frame(CloseCode::Size, &err.to_string()))
            }
            Some(Err(WsError::Utf8(_))) => {
                return Some(close_frame(CloseCode::Invalid, "text frame is not UTF-8"))
            }
            Some(Err(WsError::Protocol(err))) => {
                return Some(close_frame(CloseCode::Protocol, &err.to_string()))
            }
            Some(Err(err)) => {
                tracing::debug!(id = session.id, %err, "WebSocket read ended");
                return None;
            }
        };
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return None;
        };
        let (session, role, registry) = (session.clone(), role.clone(), registry.clone());
        tokio::spawn(async move {
            on_message(&session, &role, &registry, &payload).await;
            drop(permit);
        });
    }
}

/// One message: an answer to one of our requests, or a request to answer.
async fn on_message(session: &Session, role: &Role, registry: &Registry, payload: &[u8]) {
    let value = match urbis_codec::decode(payload, session.serialization) {
        Ok(value) => value,
        Err(err) => return session.respond(&Response::error(&err)).await,
    };
    if is_response(&value) {
        match primitive::response_from_value(&value) {
            Ok(response) => {
                if !session.answer(response) {
                    tracing::debug!(id = session.id, "answer to no pending request dropped");
                }
            }
            Err(err) => tracing::info!(id = session.id, %err, "unreadable response dropped"),
        }
        return;
    }
    let mut request = match primitive::request_from_value(&value) {
        Ok(request) => request,
        Err(err) => {
            let mut response = Response::error(&err);
            response.rqi = rqi_of(&value);
            return session.respond(&response).await;
        }
    };
    let no_response = request.response_type() == rtv::NO_RESPONSE;
    let response = match role {
        Role::Accepted {
            cse,
            origin,
            peer,
            access,
        } => {
            request.peer = *peer;
            match access.authentication() {
                Ok(authentication) => request.authentication = authentication,
                Err(err) => {
                    let mut response = Response::error(&err);
                    response.rqi = request.rqi;
                    session.respond(&response).await;
                    session.close_with(CloseCode::Policy, &err.message);
                    return;
                }
            }
            let fr = request.fr.clone();
            let registration =
                request.op == Operation::Create && request.ty == Some(ResourceType::Ae.ty());
            let response = cse.handle(request).await;
            let claim = Claim {
                origin: origin.as_deref(),
                fr: fr.as_deref(),
                registration,
            };
            associate(cse, registry, session.id, &claim, &response);
            response
        }
        Role::Dialed => {
            let mut response = Response::error(&CseError::new(
                Rsc::OperationNotAllowed,
                "this CSE accepts requests only on connections clients open to it",
            ));
            response.rqi = request.rqi;
            response
        }
    };
    if !no_response {
        session.respond(&response).await;
    }
}

/// Who a request on a connection says it comes from.
pub(crate) struct Claim<'a> {
    pub origin: Option<&'a str>,
    pub fr: Option<&'a str>,
    pub registration: bool,
}

/// After a successful request, the connection reaches the AE it came from: the
/// AE just registered (its `aei`), or the registered AE named by `fr`. With an
/// `X-M2M-Origin` on the handshake only that originator is associated, so a
/// client that registers AEs on others' behalf is not taken for them.
pub(crate) fn associate(
    cse: &Cse,
    registry: &Registry,
    id: u64,
    claim: &Claim,
    response: &Response,
) {
    if !(2000..3000).contains(&response.rsc.code()) {
        return;
    }
    let candidate = if claim.registration {
        response
            .pc
            .as_ref()
            .and_then(|pc| pc.pointer("/m2m:ae/aei"))
            .and_then(Value::as_str)
    } else {
        claim.fr
    };
    let Some(candidate) = candidate.filter(|c| !c.is_empty()) else {
        return;
    };
    let entity = urbis_core::address::normalize_originator(candidate, cse.config());
    if let Some(origin) = claim.origin {
        if urbis_core::address::normalize_originator(origin, cse.config()) != entity {
            return;
        }
    }
    if registry.is_associated(&entity, id) {
        return;
    }
    if claim.registration || is_registered_ae(cse, &entity) {
        tracing::debug!(id, %entity, "WebSocket connection reaches entity");
        registry.associate(&entity, id);
    }
}

pub(crate) fn is_registered_ae(cse: &Cse, entity: &str) -> bool {
    let Ok(reader) = cse.store().reader() else {
        return false;
    };
    matches!(reader.get(entity), Ok(Some(resource)) if resource.ty == ResourceType::Ae.ty())
}

fn is_response(value: &Value) -> bool {
    value
        .as_object()
        .is_some_and(|map| map.contains_key("rsc") || map.contains_key("m2m:rsp"))
}

/// The request identifier of an unusable request, to answer it all the same.
fn rqi_of(value: &Value) -> String {
    let map = value.get("m2m:rqp").unwrap_or(value);
    match map.get("rqi") {
        Some(Value::String(rqi)) => rqi.clone(),
        Some(Value::Number(rqi)) => rqi.to_string(),
        _ => String::new(),
    }
}

/// A close frame; the reason is cut to fit a control frame (123 bytes).
pub(crate) fn close_frame(code: CloseCode, reason: &str) -> CloseFrame {
    let mut end = reason.len().min(120);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    CloseFrame {
        code,
        reason: reason[..end].to_owned().into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn responses_are_told_from_requests() {
        assert!(is_response(&json!({"rsc": 2000, "rqi": "1"})));
        assert!(is_response(&json!({"m2m:rsp": {"rsc": 2000}})));
        assert!(!is_response(&json!({"op": 5, "to": "x"})));
        assert!(!is_response(&json!([1])));
    }

    #[test]
    fn rqi_is_read_where_it_can_be() {
        assert_eq!(rqi_of(&json!({"rqi": "a"})), "a");
        assert_eq!(rqi_of(&json!({"rqi": 7})), "7");
        assert_eq!(rqi_of(&json!({"m2m:rqp": {"rqi": "b"}})), "b");
        assert_eq!(rqi_of(&json!({"rqi": {}})), "");
        assert_eq!(rqi_of(&json!("x")), "");
    }

    #[test]
    fn close_reasons_fit_a_control_frame() {
        let long = "é".repeat(100);
        let frame = close_frame(CloseCode::Size, &long);
        assert!(frame.reason.len() <= 123);
        assert!(frame.reason.as_str().chars().all(|c| c == 'é'));
    }
}
