//! The UDP server: messages (RFC 7252 §4: CON/NON, ACK/RST, deduplication,
//! piggybacked and separate responses), block-wise transfers (RFC 7959), and
//! the hand-over of each request primitive to the CSE.

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use coap_lite::{CoapOption, MessageClass, MessageType, Packet, RequestType, ResponseType};
use parking_lot::Mutex;
use tokio::net::UdpSocket;
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};
use urbis_core::Cse;
use urbis_model::primitive::rtv;
use urbis_model::{CseError, Operation, Request, Rsc, Serialization};

use crate::blockwise::{self, Block, Block1, Stored, Transfers, MAX_BLOCK_SIZE};
use crate::exchanges::{Exchanges, Seen};
use crate::options::{self, coap};
use crate::{inbound, outbound};

/// How long the CSE may work on a Confirmable request before the server
/// acknowledges it with an empty ACK and answers later in a separate
/// response (RFC 7252 §5.2.2). Clients retransmit after ACK_TIMEOUT (2 s at
/// the least); answering inside 1.5 s stops retransmissions before the first
/// one, while almost every request is fast enough to get the cheaper
/// piggybacked answer.
pub const SEPARATE_RESPONSE_AFTER: Duration = Duration::from_millis(1500);

/// RFC 7252 §4.8 transmission parameters, for separate responses.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(2);
pub const MAX_RETRANSMIT: u32 = 4;

/// Larger than any UDP payload, so a datagram is never cut short.
pub const MAX_DATAGRAM: usize = 65_536;

/// Requests processed at once. A request beyond that is dropped unseen, so
/// that a confirmable one is processed when the client retransmits it.
pub const MAX_IN_FLIGHT: usize = 256;

pub struct Server {
    socket: UdpSocket,
    cse: Cse,
    max_payload: usize,
    exchanges: Mutex<Exchanges>,
    transfers: Mutex<Transfers>,
    /// Separate responses sent as CON, waiting for their ACK (or RST).
    awaiting_ack: Mutex<HashMap<(SocketAddr, u16), oneshot::Sender<()>>>,
    next_mid: AtomicU16,
    next_etag: AtomicU32,
    in_flight: Arc<Semaphore>,
}

/// What the checks before the CSE decided.
enum Step {
    /// Answer with this (an error, 2.31 Continue, a cached block).
    Reply(Packet),
    /// Reject the message (RST): a NON message the server cannot process.
    Reject,
    /// Hand this primitive to the CSE.
    Handle(Box<Request>, Plan),
}

/// How to answer once the CSE has.
struct Plan {
    op: Operation,
    serialization: Serialization,
    content_format: u32,
    fingerprint: Vec<u8>,
    block1: Option<Block>,
    block2: Option<Block>,
}

impl Server {
    pub fn new(socket: UdpSocket, cse: Cse, max_payload: usize) -> Server {
        Server {
            socket,
            cse,
            max_payload,
            exchanges: Mutex::new(Exchanges::default()),
            transfers: Mutex::new(Transfers::new(max_payload)),
            awaiting_ack: Mutex::new(HashMap::new()),
            next_mid: AtomicU16::new(fastrand::u16(..)),
            next_etag: AtomicU32::new(fastrand::u32(..)),
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        }
    }

    /// Receive until `shutdown` completes.
    pub async fn run(self: Arc<Self>, shutdown: impl Future<Output = ()>) {
        let mut buffer = vec![0u8; MAX_DATAGRAM];
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                received = self.socket.recv_from(&mut buffer) => match received {
                    Ok((len, peer)) => self.clone().datagram(&buffer[..len], peer),
                    // e.g. an ICMP port-unreachable for an earlier send, surfaced here on Linux
                    Err(err) => tracing::debug!(%err, "CoAP receive failed"),
                },
            }
        }
    }

    fn datagram(self: Arc<Self>, bytes: &[u8], peer: SocketAddr) {
        let packet = match Packet::from_bytes(bytes) {
            Ok(packet) if packet.header.get_version() == 1 => packet,
            Ok(_) => {
                tracing::debug!(%peer, "CoAP message of an unknown version dropped");
                return;
            }
            Err(err) => {
                // nothing to answer to: not even the message ID is trustworthy
                tracing::debug!(%peer, ?err, "malformed CoAP message dropped");
                return;
            }
        };
        let mid = packet.header.message_id;
        let kind = packet.header.get_type();
        let code = u8::from(packet.header.code);
        match kind {
            MessageType::Acknowledgement | MessageType::Reset => {
                if let Some(waiting) = self.awaiting_ack.lock().remove(&(peer, mid)) {
                    let _ = waiting.send(());
                }
            }
            // a request (class 0, not Empty): known method or not
            _ if code != 0 && code >> 5 == 0 => {
                let Ok(slot) = self.in_flight.clone().try_acquire_owned() else {
                    tracing::debug!(%peer, "CoAP server busy; request dropped");
                    return;
                };
                match self.exchanges.lock().begin(peer, mid) {
                    Seen::New => {}
                    Seen::Duplicate(Some(reply)) => {
                        self.send_now(&reply, peer);
                        return;
                    }
                    Seen::Duplicate(None) => return,
                }
                tokio::spawn(async move { self.process(packet, peer, slot).await });
            }
            // an Empty CON is a ping; a CON response or reserved code cannot
            // be processed: both get a Reset (RFC 7252 §4.2, §4.3)
            MessageType::Confirmable => self.reset(peer, mid),
            MessageType::NonConfirmable => {}
        }
    }

    /// `slot`: held until the request is done.
    async fn process(
        self: Arc<Self>,
        request: Packet,
        peer: SocketAddr,
        slot: OwnedSemaphorePermit,
    ) {
        let mid = request.header.message_id;
        let confirmable = request.header.get_type() == MessageType::Confirmable;
        let (reply, separate) = match self.prepare(&request, peer) {
            Step::Reply(reply) => (reply, false),
            Step::Reject => {
                self.reset(peer, mid);
                self.exchanges.lock().replied(peer, mid, None);
                return;
            }
            Step::Handle(primitive, _) if primitive.response_type() == rtv::NO_RESPONSE => {
                // noResponse: the message is acknowledged, nothing more is said
                let cse = self.cse.clone();
                tokio::spawn(async move {
                    cse.handle(*primitive).await;
                    drop(slot);
                });
                self.acknowledge(peer, mid, confirmable);
                return;
            }
            Step::Handle(primitive, plan) => {
                let handling = self.cse.handle(*primitive);
                tokio::pin!(handling);
                let (response, separate) = if confirmable {
                    match tokio::time::timeout(SEPARATE_RESPONSE_AFTER, &mut handling).await {
                        Ok(response) => (response, false),
                        Err(_) => {
                            self.acknowledge(peer, mid, true);
                            (handling.await, true)
                        }
                    }
                } else {
                    (handling.await, false)
                };
                (self.answer(&request, peer, &response, plan), separate)
            }
        };
        self.deliver(&request, peer, reply, separate).await;
    }

    /// Everything that can be decided before the CSE sees the request.
    fn prepare(&self, request: &Packet, peer: SocketAddr) -> Step {
        let confirmable = request.header.get_type() == MessageType::Confirmable;
        let fail = |err: CseError, code: Option<ResponseType>| {
            Step::Reply(outbound::error(&err, request, code, Serialization::Json).head_with_body())
        };
        if options::asks_for_proxy(request) {
            return fail(
                CseError::new(Rsc::NotImplemented, "this CSE is not a CoAP proxy"),
                Some(ResponseType::ProxyingNotSupported),
            );
        }
        if let Some(number) = options::unknown_critical(request) {
            // RFC 7252 §5.4.1: 4.02 for a CON request, rejection of a NON one
            if !confirmable {
                return Step::Reject;
            }
            return fail(
                CseError::bad_request(format!("unknown critical option {number}")),
                Some(ResponseType::BadOption),
            );
        }
        let blocks = blockwise::block_option(request, coap::BLOCK1)
            .and_then(|b1| Ok((b1, blockwise::block_option(request, coap::BLOCK2)?)));
        let (block1, block2) = match blocks {
            Ok(blocks) => blocks,
            Err(err) => return fail(err, None),
        };
        let fingerprint = blockwise::fingerprint(request);
        if let Some(block) = block2.filter(|b| b.num > 0) {
            let stored = self.transfers.lock().stored(peer, fingerprint.clone());
            if let Some(stored) = stored {
                return Step::Reply(self.block_of(&stored, block, peer, &fingerprint, request));
            }
            // a later block of a response no longer held: a RETRIEVE can be
            // run again; anything else must not be
            let repeatable = matches!(
                request.header.code,
                MessageClass::Request(RequestType::Get | RequestType::Fetch)
            );
            if !repeatable {
                return fail(
                    CseError::bad_request("no response in progress to continue"),
                    Some(ResponseType::RequestEntityIncomplete),
                );
            }
        }
        // `size`: what was seen of the payload (a Block1 upload's size so far)
        let too_large = |size: usize| {
            urbis_core::audit::request_too_large("coap", Some(peer.ip()), size, self.max_payload);
            let mut reply = outbound::error(
                &CseError::bad_request(format!(
                    "request payload larger than {} bytes",
                    self.max_payload
                )),
                request,
                Some(ResponseType::RequestEntityTooLarge),
                Serialization::Json,
            )
            .head_with_body();
            options::put_uint(&mut reply, coap::SIZE1, self.max_payload as u32);
            Step::Reply(reply)
        };
        let payload = match block1 {
            Some(block) => {
                let size1 = options::uint(request, coap::SIZE1, "Size1").ok().flatten();
                let outcome = self.transfers.lock().upload(
                    peer,
                    fingerprint.clone(),
                    block,
                    &request.payload,
                    size1,
                );
                match outcome {
                    Block1::Continue(block) => {
                        let mut reply = Packet::new();
                        reply.header.code = MessageClass::Response(ResponseType::Continue);
                        reply.add_option(CoapOption::Block1, block.encode());
                        return Step::Reply(reply);
                    }
                    Block1::Complete(body) => Cow::Owned(body),
                    Block1::TooLarge => {
                        let announced = size1.map_or(0, |s| s as usize);
                        return too_large(announced.max(self.max_payload + 1));
                    }
                    Block1::Incomplete => {
                        return fail(
                            CseError::bad_request("Block1 transfer out of order or unknown"),
                            Some(ResponseType::RequestEntityIncomplete),
                        )
                    }
                }
            }
            None if request.payload.len() > self.max_payload => {
                return too_large(request.payload.len())
            }
            None => Cow::Borrowed(request.payload.as_slice()),
        };
        let (serialization, content_format) = match inbound::answer_format(request) {
            Ok(format) => format,
            Err(err) => return fail(err, None),
        };
        let mut primitive = match inbound::to_request(request, &payload) {
            Ok(primitive) => primitive,
            Err(err) => {
                let encoded = outbound::error(&err, request, None, serialization);
                return Step::Reply(encoded.head_with_body());
            }
        };
        primitive.peer = Some(peer.ip());
        let op = primitive.op;
        Step::Handle(
            Box::new(primitive),
            Plan {
                op,
                serialization,
                content_format,
                fingerprint,
                block1,
                block2,
            },
        )
    }

    /// The CSE's response as a CoAP message: whole, or its first (or asked
    /// for) block with the rest kept for the client's next requests.
    fn answer(
        &self,
        request: &Packet,
        peer: SocketAddr,
        response: &urbis_model::Response,
        plan: Plan,
    ) -> Packet {
        let encoded = outbound::encode(
            response,
            Some(plan.op),
            plan.serialization,
            plan.content_format,
        )
        .unwrap_or_else(|err| outbound::error(&err, request, None, Serialization::Json));
        let mut head = encoded.head;
        if let Some(block) = plan.block1 {
            head.add_option(
                CoapOption::Block1,
                Block {
                    more: false,
                    ..block
                }
                .encode(),
            );
        }
        let size = plan
            .block2
            .map_or(MAX_BLOCK_SIZE, |b| b.size())
            .min(MAX_BLOCK_SIZE);
        let asked = plan.block2.map_or(0, |b| b.num);
        if encoded.body.len() <= size && asked == 0 {
            head.payload = encoded.body;
            return head;
        }
        // an ETag per response lets the client notice blocks of two versions
        let etag = self.next_etag.fetch_add(1, Ordering::Relaxed);
        head.add_option(CoapOption::ETag, etag.to_be_bytes().to_vec());
        let stored = Stored {
            head,
            body: Arc::new(encoded.body),
        };
        let first = Block::sized(asked, false, size);
        let reply = self.block_of(&stored, first, peer, &plan.fingerprint, request);
        let finished = blockwise::block_option(&reply, coap::BLOCK2)
            .ok()
            .flatten()
            .is_none_or(|b| !b.more);
        if !finished {
            self.transfers
                .lock()
                .store(peer, plan.fingerprint.clone(), stored);
        }
        reply
    }

    /// One block of a stored response; the transfer is forgotten after its last block.
    fn block_of(
        &self,
        stored: &Stored,
        block: Block,
        peer: SocketAddr,
        fingerprint: &[u8],
        request: &Packet,
    ) -> Packet {
        let Some((bytes, sent)) = blockwise::slice(&stored.body, block) else {
            return outbound::error(
                &CseError::bad_request(format!("block {} is past the end", block.num)),
                request,
                None,
                Serialization::Json,
            )
            .head_with_body();
        };
        let mut reply = stored.head.clone();
        reply.add_option(CoapOption::Block2, sent.encode());
        options::put_uint(&mut reply, coap::SIZE2, stored.body.len() as u32);
        reply.payload = bytes.to_vec();
        if !sent.more {
            self.transfers.lock().forget(peer, fingerprint.to_vec());
        }
        reply
    }

    /// Send the reply: piggybacked on the ACK of a CON request, as a new CON
    /// (retransmitted until acknowledged) after an empty ACK, or as a NON.
    async fn deliver(&self, request: &Packet, peer: SocketAddr, mut reply: Packet, separate: bool) {
        let mid = request.header.message_id;
        reply.set_token(request.get_token().to_vec());
        match (request.header.get_type(), separate) {
            (MessageType::Confirmable, false) => {
                reply.header.set_type(MessageType::Acknowledgement);
                reply.header.message_id = mid;
                if let Some(bytes) = encode(&reply) {
                    let bytes = Arc::new(bytes);
                    self.exchanges
                        .lock()
                        .replied(peer, mid, Some(bytes.clone()));
                    self.send_now(&bytes, peer);
                }
            }
            (MessageType::Confirmable, true) => {
                reply.header.set_type(MessageType::Confirmable);
                reply.header.message_id = self.next_mid();
                if let Some(bytes) = encode(&reply) {
                    self.send_confirmable(&bytes, peer, reply.header.message_id)
                        .await;
                }
            }
            _ => {
                reply.header.set_type(MessageType::NonConfirmable);
                reply.header.message_id = self.next_mid();
                self.exchanges.lock().replied(peer, mid, None);
                if let Some(bytes) = encode(&reply) {
                    self.send_now(&bytes, peer);
                }
            }
        }
    }

    /// Retransmit with exponential back-off until the peer acknowledges or
    /// rejects, or MAX_RETRANSMIT retransmissions went unanswered.
    async fn send_confirmable(&self, bytes: &[u8], peer: SocketAddr, mid: u16) {
        let (tx, mut rx) = oneshot::channel();
        self.awaiting_ack.lock().insert((peer, mid), tx);
        let mut wait = ACK_TIMEOUT.mul_f64(1.0 + fastrand::f64() * 0.5);
        for _ in 0..=MAX_RETRANSMIT {
            if let Err(err) = self.socket.send_to(bytes, peer).await {
                tracing::debug!(%peer, %err, "CoAP send failed");
            }
            match tokio::time::timeout(wait, &mut rx).await {
                Ok(_) => break,
                Err(_) => wait *= 2,
            }
        }
        self.awaiting_ack.lock().remove(&(peer, mid));
    }

    /// An empty ACK for a CON request (remembered as what its duplicates
    /// get); nothing for a NON one.
    fn acknowledge(&self, peer: SocketAddr, mid: u16, confirmable: bool) {
        if !confirmable {
            self.exchanges.lock().replied(peer, mid, None);
            return;
        }
        if let Some(bytes) = encode(&empty(MessageType::Acknowledgement, mid)) {
            let bytes = Arc::new(bytes);
            self.exchanges
                .lock()
                .replied(peer, mid, Some(bytes.clone()));
            self.send_now(&bytes, peer);
        }
    }

    fn reset(&self, peer: SocketAddr, mid: u16) {
        if let Some(bytes) = encode(&empty(MessageType::Reset, mid)) {
            self.send_now(&bytes, peer);
        }
    }

    /// Send without waiting: UDP sends do not block for long, and a lost
    /// datagram is what CoAP's retransmissions are for.
    fn send_now(&self, bytes: &[u8], peer: SocketAddr) {
        if let Err(err) = self.socket.try_send_to(bytes, peer) {
            tracing::debug!(%peer, %err, "CoAP send failed");
        }
    }

    fn next_mid(&self) -> u16 {
        self.next_mid.fetch_add(1, Ordering::Relaxed)
    }
}

/// An Empty message (code 0.00): an ACK, a Reset or a ping.
pub fn empty(kind: MessageType, mid: u16) -> Packet {
    let mut packet = Packet::new();
    packet.header.set_type(kind);
    packet.header.code = MessageClass::Empty;
    packet.header.message_id = mid;
    packet
}

fn encode(packet: &Packet) -> Option<Vec<u8>> {
    match packet.to_bytes_with_limit(MAX_DATAGRAM) {
        Ok(bytes) => Some(bytes),
        Err(err) => {
            tracing::warn!(?err, "CoAP message not encodable");
            None
        }
    }
}

impl outbound::Encoded {
    /// Head and body as one message (small error answers).
    pub fn head_with_body(self) -> Packet {
        let mut packet = self.head;
        packet.payload = self.body;
        packet
    }
}
