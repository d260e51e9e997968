//! Notifications to `coap://` targets through the CoAP transport, received by
//! a real UDP endpoint in the test; and a separate response from the server
//! when the CSE takes longer than the piggyback deadline.

mod common;

use std::time::{Duration, Instant};

use coap_lite::{CoapOption, MessageClass, MessageType, Packet, RequestType};
use common::*;
use serde_json::{json, Value};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use urbis_coap::blockwise::{self, Block};
use urbis_coap::options::{coap, onem2m};

/// A notification target: answers each request 2.04 with oneM2M-RSC 2000,
/// reassembles Block1 uploads, and ignores the first datagram it gets so that
/// the sender has to retransmit. Reports each complete request.
async fn target(socket: UdpSocket, seen: mpsc::UnboundedSender<(Packet, Value, Instant)>) {
    let mut buffer = vec![0u8; 65_536];
    let mut first = true;
    let mut upload = Vec::new();
    loop {
        let Ok((len, from)) = socket.recv_from(&mut buffer).await else {
            return;
        };
        let request = Packet::from_bytes(&buffer[..len]).expect("well-formed request");
        if first {
            first = false;
            continue;
        }
        assert_eq!(request.header.get_type(), MessageType::Confirmable);
        let mut reply = Packet::new();
        reply.header.set_type(MessageType::Acknowledgement);
        reply.header.message_id = request.header.message_id;
        reply.set_token(request.get_token().to_vec());
        let block1 = blockwise::block_option(&request, coap::BLOCK1).expect("Block1");
        upload.extend_from_slice(&request.payload);
        match block1 {
            Some(block) if block.more => {
                reply.header.code = MessageClass::from(code(2, 31));
                reply.add_option(CoapOption::Block1, block.encode());
            }
            _ => {
                reply.header.code = MessageClass::from(code(2, 4));
                put_uint(&mut reply, onem2m::RSC, 2000);
                if let Some(block) = block1 {
                    reply.add_option(CoapOption::Block1, block.encode());
                }
                let body = serde_json::from_slice(&upload).expect("a JSON notification");
                upload.clear();
                let _ = seen.send((request.clone(), body, Instant::now()));
            }
        }
        socket
            .send_to(&reply.to_bytes_with_limit(65_000).unwrap(), from)
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_reach_coap_targets() {
    let cse = start().await;
    let mut client = Client::new(cse.addr).await;
    let ae = register(&mut client, "watcher").await;
    client
        .exchange(create(
            "cse-in/watcher",
            &ae,
            3,
            &json!({"m2m:cnt": {"rn": "c"}}),
        ))
        .await;

    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let nu = format!("coap://{}/watcher/inbox", socket.local_addr().unwrap());
    let (tx, mut seen) = mpsc::unbounded_channel();
    tokio::spawn(target(socket, tx));

    // The verification request's first transmission is lost, so the CSE
    // needs a retransmission (2 to 3 s): longer than the piggyback deadline,
    // the answer to the CREATE comes as a separate response.
    let mut subscribe = create(
        "cse-in/watcher/c",
        &ae,
        23,
        &json!({"m2m:sub": {"rn": "s", "nu": [nu], "enc": {"net": [3]}}}),
    );
    let mid = client.stamp(&mut subscribe);
    client.send_packet(&subscribe).await;
    let ack = client.receive(Duration::from_secs(5)).await.expect("ACK");
    assert_eq!(ack.header.get_type(), MessageType::Acknowledgement);
    assert_eq!(ack.header.message_id, mid);
    assert_eq!(
        u8::from(ack.header.code),
        0,
        "an empty ACK first: {:?}",
        answer(ack.clone())
    );
    let separate = client
        .receive(Duration::from_secs(10))
        .await
        .expect("response");
    assert_eq!(separate.header.get_type(), MessageType::Confirmable);
    assert_eq!(separate.get_token(), subscribe.get_token());
    let ack = urbis_coap::server::empty(MessageType::Acknowledgement, separate.header.message_id);
    client.send_packet(&ack).await;
    let created = answer(separate);
    assert_eq!(created.rsc, Some(2001), "{:?}", created.body);
    // the retransmitted CREATE after the empty ACK gets the empty ACK again
    client.send_packet(&subscribe).await;
    let again = client
        .receive(Duration::from_secs(2))
        .await
        .expect("ACK again");
    assert_eq!(u8::from(again.header.code), 0);

    let (verification, body, _) = seen.recv().await.expect("verification request");
    assert_eq!(
        verification.header.code,
        MessageClass::Request(RequestType::Post)
    );
    assert!(
        verification
            .get_option(CoapOption::from(onem2m::TY))
            .is_none(),
        "NOTIFY is a POST without oneM2M-TY"
    );
    let path: Vec<_> = urbis_coap::options::all(&verification, coap::URI_PATH);
    assert_eq!(path, [&b"watcher"[..], &b"inbox"[..]]);
    assert!(verification
        .get_option(CoapOption::from(onem2m::FR))
        .is_some());
    assert!(verification
        .get_option(CoapOption::from(onem2m::RQI))
        .is_some());
    assert_eq!(body["m2m:sgn"]["vrq"], true);

    // a notification larger than a block goes out block-wise
    let con = "z".repeat(3000);
    let cin = client
        .exchange(create(
            "cse-in/watcher/c?rcn=0",
            &ae,
            4,
            &json!({"m2m:cin": {"con": con}}),
        ))
        .await;
    assert_eq!(cin.rsc, Some(2001));
    let (notification, body, _) = tokio::time::timeout(Duration::from_secs(10), seen.recv())
        .await
        .expect("a notification in time")
        .expect("a notification");
    assert!(blockwise::block_option(&notification, coap::BLOCK1)
        .unwrap()
        .is_some_and(|b: Block| b.num >= 2 && !b.more));
    assert_eq!(
        body["m2m:sgn"]["nev"]["rep"]["m2m:cin"]["con"]
            .as_str()
            .map(str::len),
        Some(3000)
    );
}

#[tokio::test]
async fn unreachable_coap_targets_fail_the_verification() {
    let cse = start_full(Default::default(), 2_500).await;
    let mut client = Client::new(cse.addr).await;
    let ae = register(&mut client, "lonely").await;
    // nobody listens there: the transport gets an ICMP error or no answer
    let vacant = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let nu = format!("coap://{}/x", vacant.local_addr().unwrap());
    drop(vacant);
    let started = Instant::now();
    let answer = client
        .exchange(create(
            "cse-in/lonely",
            &ae,
            23,
            &json!({"m2m:sub": {"nu": [nu]}}),
        ))
        .await;
    assert_eq!(answer.rsc, Some(5204), "{:?}", answer.body);
    assert!(started.elapsed() < Duration::from_secs(5));
}
