//! Test harness: a real CSE with the CoAP binding on 127.0.0.1:0 (in-memory
//! store), and a CoAP client on a real UDP socket that builds its messages
//! with coap-lite.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use coap_lite::option_value::{OptionValueString, OptionValueU32};
use coap_lite::{CoapOption, MessageClass, MessageType, Packet, RequestType};
use serde_json::Value;
use tokio::net::UdpSocket;
use urbis_coap::options::{coap, onem2m};
use urbis_coap::CoapOptions;
use urbis_core::{Cse, CseConfig};
use urbis_store::sqlite::SqliteStore;

pub const ADMIN: &str = "CAdmin";

pub struct TestCse {
    pub addr: SocketAddr,
    pub cse: Cse,
}

pub async fn start() -> TestCse {
    start_with(CoapOptions::default()).await
}

pub async fn start_with(options: CoapOptions) -> TestCse {
    // retransmissions to slow notification targets need some room
    start_full(options, 10_000).await
}

pub async fn start_full(options: CoapOptions, notification_timeout_ms: u64) -> TestCse {
    let config = CseConfig {
        sp_id: "test.example.com".into(),
        notification_timeout_ms,
        ..CseConfig::default()
    };
    let cse = Cse::open(config, Arc::new(SqliteStore::in_memory().expect("store"))).expect("CSE");
    cse.add_transport(Arc::new(urbis_coap::CoapTransport::new()));
    cse.start_background();
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let addr = socket.local_addr().expect("addr");
    let served = cse.clone();
    tokio::spawn(urbis_coap::serve_on(
        socket,
        served,
        options,
        std::future::pending(),
    ));
    TestCse { addr, cse }
}

/// A response as the tests look at it.
#[derive(Debug)]
pub struct Answer {
    pub packet: Packet,
    /// class * 32 + detail, e.g. 69 for 2.05.
    pub code: u8,
    pub rsc: Option<u32>,
    pub body: Value,
}

impl Answer {
    pub fn at(&self, pointer: &str) -> &Value {
        self.body.pointer(pointer).unwrap_or(&Value::Null)
    }
    pub fn option(&self, number: u16) -> Option<&Vec<u8>> {
        self.packet.get_first_option(CoapOption::from(number))
    }
}

pub fn code(class: u8, detail: u8) -> u8 {
    class * 32 + detail
}

/// A request: method, Uri-Path (and Uri-Query after `?`), oneM2M FR/RQI/RVI.
pub fn request(method: RequestType, target: &str, originator: Option<&str>) -> Packet {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let mut packet = Packet::new();
    packet.header.code = MessageClass::Request(method);
    packet.header.set_type(MessageType::Confirmable);
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    for segment in path.trim_start_matches('/').split('/') {
        packet.add_option(CoapOption::UriPath, segment.as_bytes().to_vec());
    }
    for parameter in query.split('&').filter(|p| !p.is_empty()) {
        packet.add_option(CoapOption::UriQuery, parameter.as_bytes().to_vec());
    }
    if let Some(originator) = originator {
        put_string(&mut packet, onem2m::FR, originator);
    }
    let rqi = format!("rqi-{}", NEXT.fetch_add(1, Ordering::Relaxed));
    put_string(&mut packet, onem2m::RQI, &rqi);
    put_string(&mut packet, onem2m::RVI, "4");
    packet
}

pub fn put_string(packet: &mut Packet, number: u16, value: &str) {
    packet.add_option_as(CoapOption::from(number), OptionValueString(value.into()));
}

pub fn put_uint(packet: &mut Packet, number: u16, value: u32) {
    packet.add_option_as(CoapOption::from(number), OptionValueU32(value));
}

/// A JSON CREATE of type `ty`.
pub fn create(target: &str, originator: &str, ty: u32, body: &Value) -> Packet {
    let mut packet = request(RequestType::Post, target, Some(originator));
    put_uint(&mut packet, onem2m::TY, ty);
    put_uint(&mut packet, coap::CONTENT_FORMAT, 50);
    packet.payload = serde_json::to_vec(body).unwrap();
    packet
}

pub struct Client {
    pub socket: UdpSocket,
    pub server: SocketAddr,
    next_mid: u16,
}

impl Client {
    pub async fn new(server: SocketAddr) -> Client {
        Client {
            socket: UdpSocket::bind("127.0.0.1:0").await.expect("bind"),
            server,
            next_mid: fastrand::u16(..),
        }
    }

    /// Give the packet a fresh message ID and token; returns the message ID.
    pub fn stamp(&mut self, packet: &mut Packet) -> u16 {
        self.next_mid = self.next_mid.wrapping_add(1);
        packet.header.message_id = self.next_mid;
        packet.set_token((0..4).map(|_| fastrand::u8(..)).collect());
        self.next_mid
    }

    pub async fn send_bytes(&self, bytes: &[u8]) {
        self.socket.send_to(bytes, self.server).await.expect("send");
    }

    pub async fn send_packet(&self, packet: &Packet) {
        self.send_bytes(&packet.to_bytes_with_limit(65_000).expect("encode"))
            .await;
    }

    /// The next message from the server, if one comes within `wait`.
    pub async fn receive(&self, wait: Duration) -> Option<Packet> {
        let mut buffer = vec![0u8; 65_536];
        let (len, _) = tokio::time::timeout(wait, self.socket.recv_from(&mut buffer))
            .await
            .ok()?
            .expect("receive");
        Some(Packet::from_bytes(&buffer[..len]).expect("a well-formed CoAP message"))
    }

    /// Send a stamped request and wait for its response (piggybacked, or
    /// separate after an empty ACK; a CON response is acknowledged).
    pub async fn exchange(&mut self, mut packet: Packet) -> Answer {
        self.stamp(&mut packet);
        self.exchange_stamped(packet).await
    }

    pub async fn exchange_stamped(&mut self, packet: Packet) -> Answer {
        self.send_packet(&packet).await;
        loop {
            let reply = self
                .receive(Duration::from_secs(10))
                .await
                .expect("an answer within 10 s");
            if u8::from(reply.header.code) == 0 {
                assert_eq!(reply.header.message_id, packet.header.message_id);
                continue; // empty ACK: a separate response follows
            }
            if reply.get_token() != packet.get_token() {
                continue;
            }
            if reply.header.get_type() == MessageType::Confirmable {
                let ack = urbis_coap::server::empty(
                    MessageType::Acknowledgement,
                    reply.header.message_id,
                );
                self.send_packet(&ack).await;
            }
            return answer(reply);
        }
    }

    /// Like [`exchange`], then fetch every further Block2 block with fresh
    /// tokens and message IDs, and decode the whole body.
    pub async fn exchange_all(&mut self, packet: Packet) -> Answer {
        let mut first = self.exchange(packet.clone()).await;
        let mut body = first.packet.payload.clone();
        let mut last = first.packet.clone();
        while let Some(block) = block2(&last).filter(|b| b.more) {
            let mut next = packet.clone();
            next.payload.clear();
            next.add_option(
                CoapOption::Block2,
                urbis_coap::blockwise::Block {
                    num: block.num + 1,
                    more: false,
                    ..block
                }
                .encode(),
            );
            last = self.exchange(next).await.packet;
            body.extend_from_slice(&last.payload);
        }
        first.packet.payload = body;
        answer(first.packet)
    }
}

pub fn block2(packet: &Packet) -> Option<urbis_coap::blockwise::Block> {
    urbis_coap::blockwise::block_option(packet, coap::BLOCK2).expect("well-formed Block2")
}

pub fn answer(packet: Packet) -> Answer {
    let rsc = packet
        .get_first_option_as::<OptionValueU32>(CoapOption::from(onem2m::RSC))
        .map(|v| v.expect("oneM2M-RSC is a uint").0);
    let format = packet
        .get_first_option_as::<OptionValueU32>(CoapOption::ContentFormat)
        .map(|v| v.expect("uint").0);
    let body = if packet.payload.is_empty() {
        Value::Null
    } else if format == Some(60) {
        ciborium::from_reader(packet.payload.as_slice()).expect("CBOR payload")
    } else {
        serde_json::from_slice(&packet.payload).unwrap_or(Value::Null)
    };
    Answer {
        code: u8::from(packet.header.code),
        rsc,
        body,
        packet,
    }
}

/// Register an AE named `name` with originator `C<name>`; returns the originator.
pub async fn register(client: &mut Client, name: &str) -> String {
    let originator = format!("C{name}");
    let answer = client
        .exchange(create(
            "cse-in",
            &originator,
            2,
            &serde_json::json!({"m2m:ae": {"rn": name, "api": "Ntest", "rr": true, "srv": ["4"]}}),
        ))
        .await;
    assert_eq!(answer.rsc, Some(2001), "{:?}", answer.body);
    originator
}
