//! The CoAP binding end to end: a real CSE behind a real UDP socket, a client
//! that speaks CoAP (messages built with coap-lite).

mod common;

use std::time::Duration;

use coap_lite::{CoapOption, MessageClass, MessageType, Packet, RequestType};
use common::*;
use serde_json::json;
use urbis_coap::blockwise::Block;
use urbis_coap::options::{coap, onem2m};
use urbis_coap::CoapOptions;

#[tokio::test]
async fn create_retrieve_update_delete() {
    let cse = start().await;
    let mut client = Client::new(cse.addr).await;
    let ae = register(&mut client, "crud").await;

    let created = client
        .exchange(create(
            "cse-in/crud",
            &ae,
            3,
            &json!({"m2m:cnt": {"rn": "box"}}),
        ))
        .await;
    assert_eq!(created.code, code(2, 1));
    assert_eq!(created.rsc, Some(2001));
    assert_eq!(created.at("/m2m:cnt/rn"), "box");
    let location: Vec<_> = urbis_coap::options::all(&created.packet, coap::LOCATION_PATH)
        .into_iter()
        .map(|s| String::from_utf8(s.to_vec()).unwrap())
        .collect();
    assert_eq!(location, ["cse-in", "crud", "box"]);

    let cin = client
        .exchange(create(
            "cse-in/crud/box",
            &ae,
            4,
            &json!({"m2m:cin": {"con": "21.5", "cnf": "text/plain:0"}}),
        ))
        .await;
    assert_eq!(cin.rsc, Some(2001));

    // SP-relative address form: ~ as the first segment
    let latest = client
        .exchange(request(
            RequestType::Get,
            "~/id-in/cse-in/crud/box/la",
            Some(&ae),
        ))
        .await;
    assert_eq!(latest.code, code(2, 5));
    assert_eq!(latest.at("/m2m:cin/con"), "21.5");
    assert!(latest.option(onem2m::OT).is_some());
    assert_eq!(
        latest.option(onem2m::RVI).map(Vec::as_slice),
        Some(&b"4"[..])
    );

    let mut update = request(RequestType::Put, "cse-in/crud/box", Some(&ae));
    put_uint(&mut update, coap::CONTENT_FORMAT, 50);
    update.payload = br#"{"m2m:cnt": {"lbl": ["kitchen"]}}"#.to_vec();
    let updated = client.exchange(update).await;
    assert_eq!(updated.code, code(2, 4));
    assert_eq!(updated.rsc, Some(2004));
    assert_eq!(updated.at("/m2m:cnt/lbl/0"), "kitchen");

    let deleted = client
        .exchange(request(RequestType::Delete, "cse-in/crud/box", Some(&ae)))
        .await;
    assert_eq!(deleted.code, code(2, 2));
    assert_eq!(deleted.rsc, Some(2002));
    let gone = client
        .exchange(request(RequestType::Get, "cse-in/crud/box", Some(&ae)))
        .await;
    assert_eq!(gone.code, code(4, 4));
    assert_eq!(gone.rsc, Some(4004));
    assert!(gone.at("/m2m:dbg").is_string());
}

#[tokio::test]
async fn cbor_content_and_accept() {
    let cse = start().await;
    let mut client = Client::new(cse.addr).await;
    let ae = register(&mut client, "cbor").await;
    client
        .exchange(create(
            "cse-in/cbor",
            &ae,
            3,
            &json!({"m2m:cnt": {"rn": "c"}}),
        ))
        .await;
    let mut cin = request(RequestType::Post, "cse-in/cbor/c", Some(&ae));
    put_uint(&mut cin, onem2m::TY, 4);
    put_uint(&mut cin, coap::CONTENT_FORMAT, 60);
    put_uint(&mut cin, coap::ACCEPT, 60);
    ciborium::into_writer(&json!({"m2m:cin": {"con": "from cbor"}}), &mut cin.payload).unwrap();
    let created = client.exchange(cin).await;
    assert_eq!(created.rsc, Some(2001));
    assert_eq!(
        created.option(coap::CONTENT_FORMAT).map(Vec::as_slice),
        Some(&[60u8][..])
    );
    assert_eq!(created.at("/m2m:cin/con"), "from cbor");

    // a oneM2M-specific Accept number is honoured and echoed
    let mut get = request(RequestType::Get, "cse-in/cbor/c/la", Some(&ae));
    put_uint(&mut get, coap::ACCEPT, 10010);
    let latest = client.exchange(get).await;
    assert_eq!(
        latest.option(coap::CONTENT_FORMAT).map(Vec::as_slice),
        Some(&10010u16.to_be_bytes()[..])
    );
    let value: serde_json::Value = ciborium::from_reader(latest.packet.payload.as_slice()).unwrap();
    assert_eq!(value["m2m:cin"]["con"], "from cbor");
}

#[tokio::test]
async fn discovery_with_query_options() {
    let cse = start().await;
    let mut client = Client::new(cse.addr).await;
    let ae = register(&mut client, "disc").await;
    for (name, label) in [("a", "red"), ("b", "blue"), ("c", "red")] {
        let answer = client
            .exchange(create(
                "cse-in/disc",
                &ae,
                3,
                &json!({"m2m:cnt": {"rn": name, "lbl": [label]}}),
            ))
            .await;
        assert_eq!(answer.rsc, Some(2001));
    }
    let found = client
        .exchange(request(
            RequestType::Get,
            "cse-in/disc?fu=1&lbl=red&ty=3",
            Some(&ae),
        ))
        .await;
    assert_eq!(found.rsc, Some(2000));
    let mut uris: Vec<String> = found
        .at("/m2m:uril")
        .as_array()
        .expect("a URI list")
        .iter()
        .map(|u| u.as_str().unwrap().to_owned())
        .collect();
    uris.sort();
    assert_eq!(uris, ["cse-in/disc/a", "cse-in/disc/c"]);
}

#[tokio::test]
async fn errors_have_codes_and_rsc() {
    let cse = start().await;
    let mut client = Client::new(cse.addr).await;

    let missing = client
        .exchange(request(RequestType::Get, "cse-in/nothing", Some(ADMIN)))
        .await;
    assert_eq!((missing.code, missing.rsc), (code(4, 4), Some(4004)));

    let mut bad_json = create("cse-in", ADMIN, 3, &json!({}));
    bad_json.payload = b"{not json".to_vec();
    let bad = client.exchange(bad_json).await;
    assert_eq!((bad.code, bad.rsc), (code(4, 0), Some(4000)));

    let mut text = create("cse-in", ADMIN, 3, &json!({}));
    text.clear_option(CoapOption::ContentFormat);
    put_uint(&mut text, coap::CONTENT_FORMAT, 0);
    let unsupported = client.exchange(text).await;
    assert_eq!(
        (unsupported.code, unsupported.rsc),
        (code(4, 15), Some(4015))
    );

    let patch = client
        .exchange(request(RequestType::Patch, "cse-in", Some(ADMIN)))
        .await;
    assert_eq!((patch.code, patch.rsc), (code(4, 5), Some(4005)));

    let mut accept = request(RequestType::Get, "cse-in", Some(ADMIN));
    put_uint(&mut accept, coap::ACCEPT, 0);
    let unacceptable = client.exchange(accept).await;
    assert_eq!(
        (unacceptable.code, unacceptable.rsc),
        (code(4, 6), Some(5207))
    );

    let mut bad_ty = create("cse-in", ADMIN, 3, &json!({"m2m:cnt": {}}));
    bad_ty.clear_option(CoapOption::from(onem2m::TY));
    bad_ty.add_option(CoapOption::from(onem2m::TY), vec![1, 2, 3, 4, 5]);
    let malformed = client.exchange(bad_ty).await;
    assert_eq!((malformed.code, malformed.rsc), (code(4, 0), Some(4000)));

    let no_rqi = {
        let mut packet = request(RequestType::Get, "cse-in", Some(ADMIN));
        packet.clear_option(CoapOption::from(onem2m::RQI));
        client.exchange(packet).await
    };
    assert_eq!(no_rqi.rsc, Some(4000));

    // an unknown critical option is refused (RFC 7252 §5.4.1) ...
    let mut critical = request(RequestType::Get, "cse-in", Some(ADMIN));
    critical.add_option(CoapOption::Unknown(65001), b"x".to_vec());
    let refused = client.exchange(critical).await;
    assert_eq!((refused.code, refused.rsc), (code(4, 2), Some(4000)));
    // ... an unknown elective one is ignored
    let mut elective = request(RequestType::Get, "cse-in", Some(ADMIN));
    elective.add_option(CoapOption::Unknown(65000), b"x".to_vec());
    assert_eq!(client.exchange(elective).await.rsc, Some(2000));

    let mut proxy = request(RequestType::Get, "cse-in", Some(ADMIN));
    proxy.add_option(CoapOption::ProxyUri, b"coap://elsewhere/x".to_vec());
    assert_eq!(client.exchange(proxy).await.code, code(5, 5));
}

#[tokio::test]
async fn retransmitted_create_is_answered_once() {
    let cse = start().await;
    let mut client = Client::new(cse.addr).await;
    let ae = register(&mut client, "dup").await;
    let mut packet = create("cse-in/dup", &ae, 3, &json!({"m2m:cnt": {}}));
    client.stamp(&mut packet);
    let first = client.exchange_stamped(packet.clone()).await;
    assert_eq!(first.rsc, Some(2001));
    // the same message again (same message ID): a retransmission
    let again = client.exchange_stamped(packet).await;
    assert_eq!(
        again.packet, first.packet,
        "the cached reply, byte for byte"
    );
    let children = client
        .exchange(request(RequestType::Get, "cse-in/dup?fu=1&ty=3", Some(&ae)))
        .await;
    assert_eq!(children.at("/m2m:uril").as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn non_confirmable_requests_get_non_responses_once() {
    let cse = start().await;
    let client = Client::new(cse.addr).await;
    let mut get = request(RequestType::Get, "cse-in", Some(ADMIN));
    get.header.set_type(MessageType::NonConfirmable);
    get.header.message_id = 4242;
    get.set_token(vec![9, 9]);
    client.send_packet(&get).await;
    let reply = client
        .receive(Duration::from_secs(5))
        .await
        .expect("an answer");
    assert_eq!(reply.header.get_type(), MessageType::NonConfirmable);
    assert_eq!(reply.get_token(), &[9, 9]);
    assert_eq!(answer(reply).rsc, Some(2000));
    client.send_packet(&get).await; // duplicate: ignored
    assert!(client.receive(Duration::from_millis(300)).await.is_none());
}

#[tokio::test]
async fn large_responses_go_block_wise() {
    let cse = start().await;
    let mut client = Client::new(cse.addr).await;
    let ae = register(&mut client, "big").await;
    client
        .exchange(create(
            "cse-in/big",
            &ae,
            3,
            &json!({"m2m:cnt": {"rn": "c"}}),
        ))
        .await;
    let con = "x".repeat(5000);
    // the CREATE answer (the whole resource) is itself too large for one message
    let create_cin = create("cse-in/big/c", &ae, 4, &json!({"m2m:cin": {"con": con}}));
    let created = client.exchange_all(create_cin.clone()).await;
    assert_eq!(created.rsc, Some(2001));
    assert_eq!(
        created.at("/m2m:cin/con").as_str().map(str::len),
        Some(5000)
    );

    let get = request(RequestType::Get, "cse-in/big/c/la", Some(&ae));
    let first = client.exchange(get.clone()).await;
    let block = block2(&first.packet).expect("Block2 on a large response");
    assert_eq!((block.num, block.more, block.size()), (0, true, 1024));
    assert_eq!(first.packet.payload.len(), 1024);
    assert!(first.option(coap::SIZE2).is_some());
    assert!(first.option(coap::ETAG).is_some());
    assert_eq!(
        first.rsc,
        Some(2000),
        "every block carries the oneM2M options"
    );
    let whole = client.exchange_all(get.clone()).await;
    assert_eq!(whole.at("/m2m:cin/con").as_str().map(str::len), Some(5000));

    // a client may ask for smaller blocks
    let mut small = get.clone();
    small.add_option(CoapOption::Block2, Block::sized(0, false, 256).encode());
    let first_small = client.exchange(small).await;
    assert_eq!(block2(&first_small.packet).map(|b| b.size()), Some(256));
    assert_eq!(first_small.packet.payload.len(), 256);

    // continuing a CREATE's answer must not create again
    let instances = client
        .exchange(request(RequestType::Get, "cse-in/big/c", Some(&ae)))
        .await;
    assert_eq!(instances.at("/m2m:cnt/cni"), 1);
}

#[tokio::test]
async fn large_requests_go_block_wise() {
    let cse = start().await;
    let mut client = Client::new(cse.addr).await;
    let ae = register(&mut client, "up").await;
    client
        .exchange(create(
            "cse-in/up",
            &ae,
            3,
            &json!({"m2m:cnt": {"rn": "c"}}),
        ))
        .await;
    let con = "y".repeat(3000);
    let body = serde_json::to_vec(&json!({"m2m:cin": {"rn": "large", "con": con}})).unwrap();
    let head = create("cse-in/up/c?rcn=0", &ae, 4, &json!(null));
    let blocks: Vec<&[u8]> = body.chunks(1024).collect();
    let mut last = None;
    for (num, chunk) in blocks.iter().enumerate() {
        let more = num + 1 < blocks.len();
        let mut packet = head.clone();
        packet.add_option(
            CoapOption::Block1,
            Block::sized(num as u32, more, 1024).encode(),
        );
        packet.payload = chunk.to_vec();
        let answer = client.exchange(packet).await;
        let echoed = urbis_coap::blockwise::block_option(&answer.packet, coap::BLOCK1)
            .unwrap()
            .expect("Block1 echoed");
        assert_eq!(echoed.num, num as u32);
        if more {
            assert_eq!(answer.code, code(2, 31));
        }
        last = Some(answer);
    }
    let last = last.unwrap();
    assert_eq!(last.rsc, Some(2001), "{:?}", last.body);
    let stored = client
        .exchange_all(request(RequestType::Get, "cse-in/up/c/large", Some(&ae)))
        .await;
    assert_eq!(stored.at("/m2m:cin/con").as_str().map(str::len), Some(3000));

    // a block that does not follow the last one
    let mut stray = head.clone();
    stray.add_option(CoapOption::Block1, Block::sized(5, true, 1024).encode());
    stray.payload = vec![b' '; 1024];
    assert_eq!(client.exchange(stray).await.code, code(4, 8));
}

#[tokio::test]
async fn payload_limit_is_enforced() {
    let cse = start_with(CoapOptions {
        max_payload_bytes: 2048,
        ..CoapOptions::default()
    })
    .await;
    let mut client = Client::new(cse.addr).await;
    let head = create("cse-in", ADMIN, 3, &json!(null));
    // announced too large
    let mut announced = head.clone();
    announced.add_option(CoapOption::Block1, Block::sized(0, true, 1024).encode());
    put_uint(&mut announced, coap::SIZE1, 10_000);
    announced.payload = vec![b' '; 1024];
    let refused = client.exchange(announced).await;
    assert_eq!(refused.code, code(4, 13));
    assert!(refused.option(coap::SIZE1).is_some());
    // growing too large
    for num in 0..3 {
        let mut packet = head.clone();
        packet.add_option(CoapOption::Block1, Block::sized(num, true, 1024).encode());
        packet.payload = vec![b' '; 1024];
        let answer = client.exchange(packet).await;
        let expected = if num < 2 { code(2, 31) } else { code(4, 13) };
        assert_eq!(answer.code, expected, "block {num}");
    }
    // one datagram over the limit
    let mut whole = head.clone();
    whole.payload = vec![b' '; 3000];
    assert_eq!(client.exchange(whole).await.code, code(4, 13));
}

#[tokio::test]
async fn malformed_datagrams_are_dropped_and_the_server_stays_healthy() {
    let cse = start().await;
    let mut client = Client::new(cse.addr).await;
    for garbage in [
        &[0xffu8, 0x00][..],                 // too short
        &[0x48, 0x01, 0x00, 0x01][..],       // token length 8, no token
        &[0x40, 0x01, 0x00, 0x02, 0xf0][..], // option delta 15
        &[0x80, 0x01, 0x00, 0x03][..],       // version 2
        &[][..],
    ] {
        client.send_bytes(garbage).await;
    }
    assert!(client.receive(Duration::from_millis(300)).await.is_none());
    // a CoAP ping (empty CON) is answered with a Reset
    let ping = urbis_coap::server::empty(MessageType::Confirmable, 77);
    client.send_packet(&ping).await;
    let pong = client.receive(Duration::from_secs(2)).await.expect("RST");
    assert_eq!(pong.header.get_type(), MessageType::Reset);
    assert_eq!(pong.header.message_id, 77);
    // a response where a request belongs: Reset too
    let mut stray = Packet::new();
    stray.header.set_type(MessageType::Confirmable);
    stray.header.code = MessageClass::from(69);
    stray.header.message_id = 78;
    client.send_packet(&stray).await;
    let reset = client.receive(Duration::from_secs(2)).await.expect("RST");
    assert_eq!(reset.header.get_type(), MessageType::Reset);

    // random datagrams from another peer, some of which parse as messages
    let noisy = Client::new(cse.addr).await;
    let mut rng = fastrand::Rng::with_seed(7252);
    for _ in 0..2000 {
        let len = rng.usize(0..48);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        if len > 0 && rng.bool() {
            bytes[0] = 0x40 | (bytes[0] & 0x3f); // version 1, so parsing goes further
        }
        noisy.send_bytes(&bytes).await;
    }

    let healthy = client
        .exchange(request(RequestType::Get, "cse-in", Some(ADMIN)))
        .await;
    assert_eq!(healthy.rsc, Some(2000));
    assert_eq!(healthy.at("/m2m:cb/rn"), "cse-in");
}

#[tokio::test]
async fn no_response_requests_are_only_acknowledged() {
    let cse = start().await;
    let mut client = Client::new(cse.addr).await;
    let ae = register(&mut client, "quiet").await;
    let mut packet = create(
        "cse-in/quiet?rt=5",
        &ae,
        3,
        &json!({"m2m:cnt": {"rn": "c"}}),
    );
    client.stamp(&mut packet);
    client.send_packet(&packet).await;
    let ack = client.receive(Duration::from_secs(2)).await.expect("ACK");
    assert_eq!(ack.header.get_type(), MessageType::Acknowledgement);
    assert_eq!(u8::from(ack.header.code), 0, "an empty ACK");
    assert!(client.receive(Duration::from_millis(300)).await.is_none());
    let made = client
        .exchange(request(RequestType::Get, "cse-in/quiet/c", Some(&ae)))
        .await;
    assert_eq!(made.rsc, Some(2000), "the request was still carried out");
}

#[tokio::test]
async fn ip_contexts_see_the_udp_peer() {
    let cse = start().await;
    let mut client = Client::new(cse.addr).await;
    let owner = register(&mut client, "owner").await;
    for (rn, range, expected) in [("near", "127.0.0.0/8", 2000), ("far", "10.0.0.0/8", 4103)] {
        let acp = client
            .exchange(create(
                "cse-in/owner",
                &owner,
                1,
                &json!({"m2m:acp": {"rn": format!("p-{rn}"),
                    "pv": {"acr": [{"acor": ["Cfriend"], "acop": 2,
                        "acco": [{"acip": {"ipv4": [range]}}]}]},
                    "pvs": {"acr": [{"acor": [owner], "acop": 63}]}}}),
            ))
            .await;
        assert_eq!(acp.rsc, Some(2001), "{:?}", acp.body);
        let acpi = acp.at("/m2m:acp/ri").clone();
        let cnt = client
            .exchange(create(
                "cse-in/owner",
                &owner,
                3,
                &json!({"m2m:cnt": {"rn": rn, "acpi": [acpi]}}),
            ))
            .await;
        assert_eq!(cnt.rsc, Some(2001), "{:?}", cnt.body);
        let read = client
            .exchange(request(
                RequestType::Get,
                &format!("cse-in/owner/{rn}"),
                Some("Cfriend"),
            ))
            .await;
        assert_eq!(read.rsc, Some(expected), "{rn}: {:?}", read.body);
    }
}
