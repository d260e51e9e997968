//! CoAP load generator for a oneM2M CSE (TS-0008 binding): registers an AE,
//! creates a container, then keeps `--inflight` contentInstance CREATE
//! requests outstanding for `--seconds` from one UDP socket, and prints
//! throughput and latency. Works against any CSE that serves CoAP with the
//! TS-0008 option numbers.
//!
//! `cargo run --release -p urbis-coap --example coap_load -- --addr 127.0.0.1:5683 --type con`

use std::collections::HashMap;
use std::time::{Duration, Instant};

use coap_lite::{CoapOption, MessageClass, MessageType, Packet, RequestType};
use serde_json::{json, Value};
use tokio::net::UdpSocket;
use urbis_coap::options::onem2m;

struct Args {
    addr: String,
    confirmable: bool,
    inflight: usize,
    seconds: u64,
}

fn args() -> Args {
    let mut args = Args {
        addr: "127.0.0.1:5683".into(),
        confirmable: true,
        inflight: 32,
        seconds: 10,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_default();
        match flag.as_str() {
            "--addr" => args.addr = value,
            "--type" => args.confirmable = value != "non",
            "--inflight" => args.inflight = value.parse().expect("--inflight N"),
            "--seconds" => args.seconds = value.parse().expect("--seconds N"),
            other => panic!("unknown flag {other} (--addr --type con|non --inflight --seconds)"),
        }
    }
    args
}

/// A CREATE of type `ty` under `path` with a JSON body.
fn create(
    id: u16,
    confirmable: bool,
    path: &str,
    originator: &str,
    ty: u8,
    body: &Value,
) -> Vec<u8> {
    let mut packet = Packet::new();
    packet.header.set_type(if confirmable {
        MessageType::Confirmable
    } else {
        MessageType::NonConfirmable
    });
    packet.header.code = MessageClass::Request(RequestType::Post);
    packet.header.message_id = id;
    packet.set_token(id.to_be_bytes().to_vec());
    for segment in path.split('/') {
        packet.add_option(CoapOption::UriPath, segment.as_bytes().to_vec());
    }
    packet.add_option(CoapOption::ContentFormat, vec![50]);
    packet.add_option(
        CoapOption::Unknown(onem2m::FR),
        originator.as_bytes().to_vec(),
    );
    packet.add_option(
        CoapOption::Unknown(onem2m::RQI),
        format!("l{id}").into_bytes(),
    );
    packet.add_option(CoapOption::Unknown(onem2m::RVI), b"4".to_vec());
    packet.add_option(CoapOption::Unknown(onem2m::TY), vec![ty]);
    packet.payload = body.to_string().into_bytes();
    packet.to_bytes().expect("a CoAP message")
}

/// The token and response code of an answer, if it is one.
fn answer(bytes: &[u8]) -> Option<(u16, u8)> {
    let packet = Packet::from_bytes(bytes).ok()?;
    let token: [u8; 2] = packet.get_token().try_into().ok()?;
    let code = u8::from(packet.header.code);
    // an empty ACK announces a separate response; it is not the answer
    (code != 0).then_some((u16::from_be_bytes(token), code))
}

async fn one(socket: &UdpSocket, bytes: Vec<u8>) -> u8 {
    socket.send(&bytes).await.expect("send");
    let mut buffer = vec![0u8; 65_536];
    loop {
        let len = socket.recv(&mut buffer).await.expect("receive");
        if let Some((_, code)) = answer(&buffer[..len]) {
            return code;
        }
    }
}

#[tokio::main]
async fn main() {
    let args = args();
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    socket.connect(&args.addr).await.expect("connect");
    let originator = format!("Ccoapload{}", std::process::id());
    // setup: AE + container, one at a time, confirmable
    let ae = json!({"m2m:ae": {"rn": originator, "api": "Nload", "rr": false, "srv": ["4"]}});
    let code = one(&socket, create(1, true, "cse-in", &originator, 2, &ae)).await;
    assert_eq!(code, 65, "AE not created");
    let cnt = json!({"m2m:cnt": {"rn": "load"}});
    let path = format!("cse-in/{originator}");
    let code = one(&socket, create(2, true, &path, &originator, 3, &cnt)).await;
    assert_eq!(code, 65, "container not created");

    let target = format!("cse-in/{originator}/load");
    let body = json!({"m2m:cin": {"cnf": "text/plain:0", "con": "x".repeat(100)}});
    let mut outstanding: HashMap<u16, Instant> = HashMap::new();
    let mut latencies = Vec::new();
    let mut errors = 0u64;
    let mut next: u16 = 10;
    let mut buffer = vec![0u8; 65_536];
    let start = Instant::now();
    let stop = start + Duration::from_secs(args.seconds);
    loop {
        while outstanding.len() < args.inflight && Instant::now() < stop {
            next = next.wrapping_add(1).max(10);
            let bytes = create(next, args.confirmable, &target, &originator, 4, &body);
            socket.send(&bytes).await.expect("send");
            outstanding.insert(next, Instant::now());
        }
        if outstanding.is_empty() {
            break;
        }
        match tokio::time::timeout(Duration::from_secs(5), socket.recv(&mut buffer)).await {
            Ok(Ok(len)) => {
                if let Some((token, code)) = answer(&buffer[..len]) {
                    if let Some(sent) = outstanding.remove(&token) {
                        if code == 65 {
                            latencies.push(sent.elapsed());
                        } else {
                            errors += 1;
                        }
                    }
                }
            }
            Ok(Err(err)) => panic!("receive: {err}"),
            Err(_) => {
                // UDP: a lost datagram is never answered
                errors += outstanding.len() as u64;
                eprintln!("{} requests got no answer in 5 s", outstanding.len());
                break;
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64) * p) as usize)
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(f64::NAN)
    };
    println!(
        "coap-create type={}: rps={:.0} p50={:.2}ms p99={:.2}ms ok={} errors={}",
        if args.confirmable { "con" } else { "non" },
        latencies.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        latencies.len(),
        errors
    );
}
