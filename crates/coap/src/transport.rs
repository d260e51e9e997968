//! The CoAP notification transport: request primitives (NOTIFY, verification
//! requests) sent to `coap://host:port/path` targets as Confirmable requests
//! (TS-0008), retransmitted per RFC 7252 until answered, large payloads sent
//! and received block-wise (RFC 7959).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Weak};

use coap_lite::{CoapOption, MessageClass, MessageType, Packet, RequestType, ResponseType};
use parking_lot::Mutex;
use percent_encoding::percent_decode_str;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, OnceCell};
use urbis_core::registry::BoxFuture;
use urbis_core::Transport;
use urbis_model::{CseError, CseResult, Operation, Request, Response, Rsc, Serialization};

use crate::blockwise::{self, Block, MAX_BLOCK_SIZE};
use crate::options::{self, coap, onem2m};
use crate::server::{ACK_TIMEOUT, MAX_DATAGRAM, MAX_RETRANSMIT};

/// Largest response body fetched block-wise; a target answering a
/// notification with more is not behaving.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// Sends requests to `coap://` URIs from its own ephemeral UDP socket (one per
/// address family, bound on first use, so an unused transport holds no socket).
#[derive(Clone, Default)]
pub struct CoapTransport {
    client: Arc<Client>,
}

#[derive(Default)]
struct Client {
    v4: OnceCell<Arc<UdpSocket>>,
    v6: OnceCell<Arc<UdpSocket>>,
    /// Requests in flight, by token.
    waiting: Mutex<HashMap<Vec<u8>, Waiter>>,
    next_mid: AtomicU16,
}

struct Waiter {
    peer: SocketAddr,
    mid: u16,
    events: mpsc::UnboundedSender<Event>,
}

enum Event {
    /// Empty ACK: the answer will come as a separate response.
    Acknowledged,
    Answer(Packet),
    Reset,
}

impl CoapTransport {
    pub fn new() -> CoapTransport {
        CoapTransport::default()
    }
}

impl Transport for CoapTransport {
    fn handles(&self, uri: &str) -> bool {
        uri.starts_with("coap://")
    }

    fn send(
        &self,
        uri: &str,
        request: Request,
        serialization: Serialization,
    ) -> BoxFuture<'static, CseResult<Response>> {
        let client = self.client.clone();
        let uri = uri.to_owned();
        Box::pin(async move { client.request(&uri, request, serialization).await })
    }
}

fn unreachable(why: String) -> CseError {
    CseError::new(Rsc::TargetNotReachable, why)
}

/// The parts of a `coap://host[:port]/path?query` URI, path segments and
/// query parameters percent-decoded as RFC 7252 §6.4 decomposes them.
#[derive(Debug, PartialEq)]
struct Target {
    host: String,
    port: u16,
    path: Vec<String>,
    query: Vec<String>,
}

fn parse_uri(uri: &str) -> CseResult<Target> {
    let invalid = || CseError::bad_request(format!("invalid CoAP URI {uri}"));
    let rest = uri.strip_prefix("coap://").ok_or_else(invalid)?;
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(invalid)?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(invalid());
    }
    let port = match port {
        Some(port) => port.parse().map_err(|_| invalid())?,
        None => 5683,
    };
    let decode = |s: &str| {
        percent_decode_str(s)
            .decode_utf8()
            .map(|d| d.into_owned())
            .map_err(|_| invalid())
    };
    Ok(Target {
        host: host.to_owned(),
        port,
        path: path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(decode)
            .collect::<CseResult<_>>()?,
        query: query
            .split('&')
            .filter(|s| !s.is_empty())
            .map(decode)
            .collect::<CseResult<_>>()?,
    })
}

impl Client {
    async fn request(
        self: Arc<Self>,
        uri: &str,
        request: Request,
        serialization: Serialization,
    ) -> CseResult<Response> {
        let target = parse_uri(uri)?;
        let peer = tokio::net::lookup_host((target.host.as_str(), target.port))
            .await
            .map_err(|e| unreachable(format!("{uri}: {e}")))?
            .next()
            .ok_or_else(|| unreachable(format!("{uri}: host not found")))?;
        let socket = self.socket_for(peer).await?;
        let head = head(&target, &request, serialization);
        let body = match &request.pc {
            Some(pc) => urbis_codec::encode(pc, serialization)?,
            None => Vec::new(),
        };
        let mut answer = if body.len() <= MAX_BLOCK_SIZE {
            let mut packet = head.clone();
            packet.payload = body;
            self.exchange(&socket, peer, packet).await?
        } else {
            self.upload(&socket, peer, &head, &body).await?
        };
        // a large answer comes block-wise: ask for the rest
        let mut payload = std::mem::take(&mut answer.payload);
        while let Ok(Some(block)) = blockwise::block_option(&answer, coap::BLOCK2) {
            if !block.more || payload.len() > MAX_ANSWER_BYTES {
                break;
            }
            let mut next = head.clone();
            next.add_option(
                CoapOption::Block2,
                Block {
                    num: block.num + 1,
                    more: false,
                    ..block
                }
                .encode(),
            );
            answer = self.exchange(&socket, peer, next).await?;
            payload.append(&mut answer.payload);
        }
        Ok(to_response(&answer, payload, request.op))
    }

    /// Send a large payload in Block1 blocks, each acknowledged with 2.31
    /// Continue; the answer to the last block is the answer.
    async fn upload(
        &self,
        socket: &UdpSocket,
        peer: SocketAddr,
        head: &Packet,
        body: &[u8],
    ) -> CseResult<Packet> {
        let mut num = 0u32;
        loop {
            let block = Block::sized(num, false, MAX_BLOCK_SIZE);
            let Some((bytes, block)) = blockwise::slice(body, block) else {
                return Err(CseError::internal("Block1 upload ran past the payload"));
            };
            let mut packet = head.clone();
            packet.add_option(CoapOption::Block1, block.encode());
            if num == 0 {
                options::put_uint(&mut packet, coap::SIZE1, body.len() as u32);
            }
            packet.payload = bytes.to_vec();
            let answer = self.exchange(socket, peer, packet).await?;
            if !block.more || answer.header.code != MessageClass::Response(ResponseType::Continue) {
                return Ok(answer);
            }
            num += 1;
        }
    }

    /// One Confirmable request and its response, retransmitted with
    /// exponential back-off (RFC 7252 §4.2). The caller's timeout (the
    /// notifier's) bounds the whole wait.
    async fn exchange(
        &self,
        socket: &UdpSocket,
        peer: SocketAddr,
        mut packet: Packet,
    ) -> CseResult<Packet> {
        let token: Vec<u8> = (0..8).map(|_| fastrand::u8(..)).collect();
        let mid = self.next_mid.fetch_add(1, Ordering::Relaxed);
        packet.set_token(token.clone());
        packet.header.set_type(MessageType::Confirmable);
        packet.header.message_id = mid;
        let bytes = packet
            .to_bytes_with_limit(MAX_DATAGRAM)
            .map_err(|e| CseError::internal(format!("CoAP request not encodable: {e:?}")))?;
        let (tx, mut events) = mpsc::unbounded_channel();
        self.waiting.lock().insert(
            token.clone(),
            Waiter {
                peer,
                mid,
                events: tx,
            },
        );
        let _forget = Forget {
            client: self,
            token,
        };
        let mut wait = ACK_TIMEOUT.mul_f64(1.0 + fastrand::f64() * 0.5);
        let mut retransmissions = 0;
        let mut acknowledged = false;
        socket
            .send_to(&bytes, peer)
            .await
            .map_err(|e| unreachable(format!("{peer}: {e}")))?;
        loop {
            let event = if acknowledged {
                Ok(events.recv().await)
            } else {
                tokio::time::timeout(wait, events.recv()).await
            };
            match event {
                Ok(Some(Event::Answer(answer))) => return Ok(answer),
                Ok(Some(Event::Acknowledged)) => acknowledged = true,
                Ok(Some(Event::Reset)) => return Err(unreachable(format!("{peer} reset"))),
                Ok(None) => return Err(unreachable(format!("{peer}: receiver gone"))),
                Err(_) if retransmissions >= MAX_RETRANSMIT => {
                    return Err(unreachable(format!("{peer} did not answer")))
                }
                Err(_) => {
                    retransmissions += 1;
                    wait *= 2;
                    let _ = socket.send_to(&bytes, peer).await;
                }
            }
        }
    }

    async fn socket_for(self: &Arc<Self>, peer: SocketAddr) -> CseResult<Arc<UdpSocket>> {
        let (cell, local) = if peer.is_ipv4() {
            (&self.v4, "0.0.0.0:0")
        } else {
            (&self.v6, "[::]:0")
        };
        cell.get_or_try_init(|| async {
            let socket = Arc::new(
                UdpSocket::bind(local)
                    .await
                    .map_err(|e| unreachable(format!("cannot open a UDP socket: {e}")))?,
            );
            tokio::spawn(receive(Arc::downgrade(self), socket.clone()));
            Ok(socket)
        })
        .await
        .cloned()
    }

    /// Route one incoming message to the request it answers.
    fn dispatch(&self, socket: &UdpSocket, packet: Packet, from: SocketAddr) {
        let mid = packet.header.message_id;
        let code = u8::from(packet.header.code);
        let waiting = self.waiting.lock();
        let by_mid = |waiting: &HashMap<Vec<u8>, Waiter>| {
            waiting
                .values()
                .find(|w| w.mid == mid && w.peer == from)
                .map(|w| w.events.clone())
        };
        let by_token = waiting
            .get(packet.get_token())
            .filter(|w| w.peer == from)
            .map(|w| w.events.clone());
        match packet.header.get_type() {
            MessageType::Reset => {
                if let Some(events) = by_mid(&waiting) {
                    let _ = events.send(Event::Reset);
                }
            }
            MessageType::Acknowledgement if code == 0 => {
                if let Some(events) = by_mid(&waiting) {
                    let _ = events.send(Event::Acknowledged);
                }
            }
            _ if code >> 5 == 0 => {
                // requests to this client socket are not served
                drop(waiting);
                if packet.header.get_type() == MessageType::Confirmable {
                    send_empty(socket, MessageType::Reset, mid, from);
                }
            }
            kind => {
                drop(waiting);
                if kind == MessageType::Confirmable {
                    // a separate response: acknowledge it, duplicates too
                    send_empty(socket, MessageType::Acknowledgement, mid, from);
                }
                if let Some(events) = by_token {
                    let _ = events.send(Event::Answer(packet));
                }
            }
        }
    }
}

/// Removes a request's entry however its exchange ends (answer, error, or
/// the caller's timeout dropping the future).
struct Forget<'a> {
    client: &'a Client,
    token: Vec<u8>,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.client.waiting.lock().remove(&self.token);
    }
}

async fn receive(client: Weak<Client>, socket: Arc<UdpSocket>) {
    let mut buffer = vec![0u8; MAX_DATAGRAM];
    loop {
        let (len, from) = match socket.recv_from(&mut buffer).await {
            Ok(received) => received,
            Err(err) => {
                tracing::debug!(%err, "CoAP client receive failed");
                continue;
            }
        };
        let Some(client) = client.upgrade() else {
            return;
        };
        match Packet::from_bytes(&buffer[..len]) {
            Ok(packet) => client.dispatch(&socket, packet, from),
            Err(err) => tracing::debug!(%from, ?err, "malformed CoAP message dropped"),
        }
    }
}

fn send_empty(socket: &UdpSocket, kind: MessageType, mid: u16, to: SocketAddr) {
    if let Ok(bytes) = crate::server::empty(kind, mid).to_bytes() {
        let _ = socket.try_send_to(&bytes, to);
    }
}

/// Method, Uri-Path/-Query and oneM2M options of a request (TS-0008 §6.2).
fn head(target: &Target, request: &Request, serialization: Serialization) -> Packet {
    let mut packet = Packet::new();
    packet.header.code = MessageClass::Request(match request.op {
        Operation::Create | Operation::Notify => RequestType::Post,
        Operation::Retrieve => RequestType::Get,
        Operation::Update => RequestType::Put,
        Operation::Delete => RequestType::Delete,
    });
    for segment in &target.path {
        packet.add_option(CoapOption::UriPath, segment.clone().into_bytes());
    }
    for parameter in &target.query {
        packet.add_option(CoapOption::UriQuery, parameter.clone().into_bytes());
    }
    if let Some(rcn) = request.rcn {
        packet.add_option(CoapOption::UriQuery, format!("rcn={rcn}").into_bytes());
    }
    if let Some(fr) = &request.fr {
        options::put_string(&mut packet, onem2m::FR, fr);
    }
    options::put_string(&mut packet, onem2m::RQI, &request.rqi);
    if let Some(rvi) = &request.rvi {
        options::put_string(&mut packet, onem2m::RVI, rvi);
    }
    options::put_string(&mut packet, onem2m::OT, &urbis_model::time::now_string());
    if let Some(ty) = request.ty {
        options::put_uint(&mut packet, onem2m::TY, ty);
    }
    if let Some(ec) = request.ec {
        options::put_uint(&mut packet, onem2m::EC, ec);
    }
    if let Some(vsi) = &request.vsi {
        options::put_string(&mut packet, onem2m::VSI, vsi);
    }
    let format = options::content_format(serialization);
    if request.pc.is_some() {
        options::put_uint(&mut packet, coap::CONTENT_FORMAT, format);
    }
    options::put_uint(&mut packet, coap::ACCEPT, format);
    packet
}

/// The answer as a response primitive: oneM2M-RSC when present, else the
/// CoAP code read back through TS-0008 Table 6.2.4-1.
fn to_response(answer: &Packet, body: Vec<u8>, op: Operation) -> Response {
    let rsc = options::uint(answer, onem2m::RSC, "oneM2M-RSC")
        .ok()
        .flatten()
        .and_then(|code| u16::try_from(code).ok())
        .and_then(Rsc::from_code)
        .unwrap_or_else(|| rsc_of(u8::from(answer.header.code), op));
    let pc = if body.is_empty() {
        None
    } else {
        let serialization = options::uint(answer, coap::CONTENT_FORMAT, "Content-Format")
            .ok()
            .flatten()
            .and_then(options::serialization_of)
            .unwrap_or_default();
        urbis_codec::decode(&body, serialization).ok()
    };
    let mut response = Response::new(rsc, pc);
    response.rqi = options::string(answer, onem2m::RQI, "")
        .ok()
        .flatten()
        .unwrap_or_default();
    response.rvi = options::string(answer, onem2m::RVI, "").ok().flatten();
    response
}

fn rsc_of(code: u8, op: Operation) -> Rsc {
    match code {
        65 => Rsc::Created,
        66 => Rsc::Deleted,
        68 if op == Operation::Update => Rsc::Updated,
        67..=69 => Rsc::Ok,
        128 => Rsc::BadRequest,
        131 => Rsc::OriginatorHasNoPrivilege,
        132 => Rsc::NotFound,
        133 => Rsc::OperationNotAllowed,
        134 => Rsc::NotAcceptable,
        143 => Rsc::UnsupportedMediaType,
        161 => Rsc::NotImplemented,
        164 => Rsc::RequestTimeout,
        c if c >> 5 == 2 => Rsc::Ok,
        c if c >> 5 == 4 => Rsc::BadRequest,
        _ => Rsc::InternalServerError,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris() {
        assert_eq!(
            parse_uri("coap://127.0.0.1:5684/ae/notify?ct=cbor").unwrap(),
            Target {
                host: "127.0.0.1".into(),
                port: 5684,
                path: vec!["ae".into(), "notify".into()],
                query: vec!["ct=cbor".into()],
            }
        );
        let v6 = parse_uri("coap://[::1]/a%20b").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 5683));
        assert_eq!(v6.path, vec!["a b"]);
        for bad in [
            "http://x",
            "coap://",
            "coap://:1/x",
            "coap://h:port/x",
            "coap://[::1/x",
        ] {
            assert!(parse_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn codes_back_to_rsc() {
        assert_eq!(rsc_of(68, Operation::Notify), Rsc::Ok);
        assert_eq!(rsc_of(68, Operation::Update), Rsc::Updated);
        assert_eq!(rsc_of(132, Operation::Notify), Rsc::NotFound);
        assert_eq!(rsc_of(140, Operation::Notify), Rsc::BadRequest);
        assert_eq!(rsc_of(163, Operation::Notify), Rsc::InternalServerError);
    }
}
