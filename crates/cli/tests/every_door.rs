//! One CSE, several doors, one pipeline: the real `urbis` binary serves HTTP,
//! MQTT (a real broker), CoAP and WebSocket at once.
//! - An AE registers and subscribes over MQTT; another AE writes over CoAP in
//!   CBOR; the notification reaches the first AE over MQTT.
//! - An AE registers and subscribes over a WebSocket speaking XML; another AE
//!   writes over HTTP in XML; the notification comes over that WebSocket.
//!
//! The broker comes from URBIS_TEST_MQTT_URL (.ci/run).

use std::process::Stdio;
use std::time::Duration;

use coap_lite::{CoapOption, MessageClass, MessageType, Packet, RequestType};
use rumqttc::{AsyncClient, Event, EventLoop, Packet as MqttPacket, QoS};
use serde_json::{json, Value};
use tokio::net::UdpSocket;

mod common;
use common::Server;

fn broker_url() -> Option<String> {
    match std::env::var("URBIS_TEST_MQTT_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!(
                "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
                 !! URBIS_TEST_MQTT_URL is not set: the every-door test did NOT run. !!\n\
                 !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
            );
            None
        }
    }
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free UDP port")
}

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free TCP port")
}

/// The binary with every door open; its CSE-ID is unique on the shared broker.
/// Returns the server and its HTTP base URL.
fn start(mqtt_url: &str, cse_id: &str, coap_port: u16, ws_port: u16) -> (Server, String) {
    let mut command = common::urbis();
    command
        .args(["serve", "--in-memory", "--http-addr", "127.0.0.1:0"])
        .args(["--mqtt-url", mqtt_url])
        .args(["--coap-addr", &format!("127.0.0.1:{coap_port}")])
        .args(["--ws-addr", &format!("127.0.0.1:{ws_port}")])
        .env("URBIS_CSE_CSE_ID", cse_id)
        .stderr(Stdio::inherit());
    let server = common::start(command);
    let base = server.base.clone();
    (server, base)
}

/// An AE on the broker: sends requests, answers requests sent to it.
struct MqttAe {
    client: AsyncClient,
    events: EventLoop,
    name: String,
    cse: String,
}

impl MqttAe {
    async fn connect(url: &str, name: &str, cse: &str) -> MqttAe {
        let (host, port) = urbis_mqtt::parse_url(url).unwrap();
        let options = rumqttc::MqttOptions::new(format!("door-{name}-{cse}"), host, port);
        let (client, mut events) = AsyncClient::new(options, 16);
        for topic in [
            format!("/oneM2M/reg_resp/{name}/{cse}/+"),
            format!("/oneM2M/resp/{name}/{cse}/+"),
            format!("/oneM2M/req/{cse}/{name}/+"),
        ] {
            client.subscribe(topic, QoS::AtLeastOnce).await.unwrap();
        }
        let mut acks = 0;
        while acks < 3 {
            if let Event::Incoming(MqttPacket::SubAck(_)) = events.poll().await.unwrap() {
                acks += 1;
            }
        }
        MqttAe {
            client,
            events,
            name: name.to_owned(),
            cse: cse.to_owned(),
        }
    }

    /// Publish a request; answer requests for this AE meanwhile; return the response.
    async fn request(&mut self, channel: &str, primitive: Value) -> Value {
        let topic = format!("/oneM2M/{channel}/{}/{}/json", self.name, self.cse);
        self.client
            .publish(topic, QoS::AtLeastOnce, false, primitive.to_string())
            .await
            .unwrap();
        loop {
            let message = self.next_message(Duration::from_secs(10)).await;
            let (topic, body) = message.expect("a response over MQTT");
            if topic.contains("/resp/") || topic.contains("/reg_resp/") {
                return body;
            }
            self.answer(&body).await;
        }
    }

    /// The next request sent to this AE (answered with 2000), if any comes.
    async fn next_request(&mut self, within: Duration) -> Option<Value> {
        let (_, body) = self.next_message(within).await?;
        self.answer(&body).await;
        Some(body)
    }

    async fn answer(&self, request: &Value) {
        let response = json!({"rsc": 2000, "rqi": request["rqi"], "rvi": "4", "to": request["fr"], "fr": self.name});
        self.client
            .publish(
                format!("/oneM2M/resp/{}/{}/json", self.cse, self.name),
                QoS::AtLeastOnce,
                false,
                response.to_string(),
            )
            .await
            .unwrap();
    }

    async fn next_message(&mut self, within: Duration) -> Option<(String, Value)> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.events.poll()).await {
                Err(_) => return None,
                Ok(Ok(Event::Incoming(MqttPacket::Publish(p)))) => {
                    let body = serde_json::from_slice(&p.payload).expect("JSON primitive");
                    return Some((p.topic, body));
                }
                Ok(Ok(_)) => {}
                Ok(Err(err)) => panic!("broker lost: {err}"),
            }
        }
    }
}

/// One confirmable CoAP request with a CBOR body; the answer's code and CBOR body.
async fn coap_cbor(
    socket: &UdpSocket,
    id: u16,
    method: RequestType,
    path: &str,
    originator: &str,
    ty: Option<u8>,
    body: Option<Value>,
) -> (u8, Value) {
    let mut packet = Packet::new();
    packet.header.set_type(MessageType::Confirmable);
    packet.header.code = MessageClass::Request(method);
    packet.header.message_id = id;
    packet.set_token(id.to_be_bytes().to_vec());
    for segment in path.split('/') {
        packet.add_option(CoapOption::UriPath, segment.as_bytes().to_vec());
    }
    // CBOR content and answers (content format 60)
    packet.add_option(CoapOption::ContentFormat, vec![60]);
    packet.add_option(CoapOption::Accept, vec![60]);
    let fr = urbis_coap::options::onem2m::FR;
    let rqi = urbis_coap::options::onem2m::RQI;
    let rvi = urbis_coap::options::onem2m::RVI;
    packet.add_option(CoapOption::Unknown(fr), originator.as_bytes().to_vec());
    packet.add_option(CoapOption::Unknown(rqi), format!("c{id}").into_bytes());
    packet.add_option(CoapOption::Unknown(rvi), b"4".to_vec());
    if let Some(ty) = ty {
        packet.add_option(
            CoapOption::Unknown(urbis_coap::options::onem2m::TY),
            vec![ty],
        );
    }
    if let Some(body) = body {
        let mut bytes = Vec::new();
        ciborium::into_writer(&body, &mut bytes).unwrap();
        packet.payload = bytes;
    }
    socket.send(&packet.to_bytes().unwrap()).await.unwrap();
    let mut buffer = vec![0u8; 65_536];
    let len = tokio::time::timeout(Duration::from_secs(5), socket.recv(&mut buffer))
        .await
        .expect("a CoAP answer in time")
        .unwrap();
    let answer = Packet::from_bytes(&buffer[..len]).unwrap();
    let body = if answer.payload.is_empty() {
        Value::Null
    } else {
        ciborium::from_reader(answer.payload.as_slice()).expect("a CBOR answer")
    };
    (u8::from(answer.header.code), body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_subscriber_hears_a_coap_cbor_writer() {
    let Some(url) = broker_url() else { return };
    let cse_bare = format!("id-doors-{}", std::process::id());
    let coap_port = free_udp_port();
    let (_server, _) = start(&url, &format!("/{cse_bare}"), coap_port, free_tcp_port());
    tokio::time::sleep(Duration::from_millis(500)).await; // MQTT subscriptions

    // the subscriber registers over MQTT, with an mqtt:// point of access
    let mut subscriber = MqttAe::connect(&url, "Cdoorsub", &cse_bare).await;
    let registered = subscriber
        .request(
            "reg_req",
            json!({"op": 1, "to": "cse-in", "fr": "Cdoorsub", "rqi": "m1", "rvi": "4", "ty": 2,
                   "pc": {"m2m:ae": {"rn": "doorsub", "api": "Ndoor", "rr": true, "srv": ["4"],
                                     "poa": [url.clone()]}}}),
        )
        .await;
    assert_eq!(registered["rsc"], json!(2001), "{registered}");

    // the writer registers and creates a container over CoAP, in CBOR
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.connect(("127.0.0.1", coap_port)).await.unwrap();
    let ae = json!({"m2m:ae": {"rn": "doorwriter", "api": "Ndoor", "rr": false, "srv": ["4"]}});
    let (code, body) = coap_cbor(
        &socket,
        1,
        RequestType::Post,
        "cse-in",
        "Cdoorwriter",
        Some(2),
        Some(ae),
    )
    .await;
    assert_eq!(code, 65, "2.01 Created: {body}");
    let cnt = json!({"m2m:cnt": {"rn": "air"}});
    let (code, body) = coap_cbor(
        &socket,
        2,
        RequestType::Post,
        "cse-in/doorwriter",
        "Cdoorwriter",
        Some(3),
        Some(cnt),
    )
    .await;
    assert_eq!(code, 65, "{body}");
    // let the subscriber in
    let acp = json!({"m2m:acp": {"rn": "share",
        "pv": {"acr": [{"acor": ["Cdoorwriter", "Cdoorsub"], "acop": 63}]},
        "pvs": {"acr": [{"acor": ["Cdoorwriter"], "acop": 63}]}}});
    let (code, body) = coap_cbor(
        &socket,
        3,
        RequestType::Post,
        "cse-in/doorwriter",
        "Cdoorwriter",
        Some(1),
        Some(acp),
    )
    .await;
    assert_eq!(code, 65, "{body}");
    let acpi = body["m2m:acp"]["ri"].clone();
    let (code, body) = coap_cbor(
        &socket,
        4,
        RequestType::Put,
        "cse-in/doorwriter/air",
        "Cdoorwriter",
        None,
        Some(json!({"m2m:cnt": {"acpi": [acpi]}})),
    )
    .await;
    assert_eq!(code, 68, "2.04 Changed: {body}");

    // subscribe over MQTT; the verification request comes back over MQTT
    let sub = subscriber
        .request(
            "req",
            json!({"op": 1, "to": "cse-in/doorwriter/air", "fr": "Cdoorsub", "rqi": "m2", "rvi": "4", "ty": 23,
                   "pc": {"m2m:sub": {"rn": "watch", "nu": ["Cdoorsub"], "enc": {"net": [3]}}}}),
        )
        .await;
    assert_eq!(sub["rsc"], json!(2001), "{sub}");

    // a CBOR reading over CoAP ...
    let reading = json!({"m2m:cin": {"con": {"pm25": 12.5}, "cnf": "application/json:0"}});
    let (code, body) = coap_cbor(
        &socket,
        5,
        RequestType::Post,
        "cse-in/doorwriter/air",
        "Cdoorwriter",
        Some(4),
        Some(reading),
    )
    .await;
    assert_eq!(code, 65, "{body}");
    // ... reaches the subscriber over MQTT
    let notification = subscriber
        .next_request(Duration::from_secs(10))
        .await
        .expect("a notification over MQTT");
    assert_eq!(notification["op"], json!(5), "{notification}");
    assert_eq!(
        notification["pc"]["m2m:sgn"]["nev"]["rep"]["m2m:cin"]["con"]["pm25"],
        json!(12.5),
        "{notification}"
    );
}

fn xml(value: &Value) -> Vec<u8> {
    urbis_codec::encode(value, urbis_model::Serialization::Xml).expect("XML")
}

fn from_xml(bytes: &[u8]) -> Value {
    urbis_codec::decode(bytes, urbis_model::Serialization::Xml).expect("an XML document")
}

/// An HTTP request with an XML body and an XML answer.
async fn http_xml(
    client: &reqwest::Client,
    url: String,
    originator: &str,
    ty: u32,
    body: Value,
) -> (u16, Value) {
    let response = client
        .post(url)
        .header("X-M2M-Origin", originator)
        .header("X-M2M-RI", "h1")
        .header("X-M2M-RVI", "4")
        .header("Content-Type", format!("application/xml;ty={ty}"))
        .header("Accept", "application/xml")
        .body(xml(&body))
        .send()
        .await
        .expect("HTTP request");
    let rsc = response
        .headers()
        .get("x-m2m-rsc")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let bytes = response.bytes().await.unwrap();
    (rsc, from_xml(&bytes))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_xml_subscriber_hears_an_http_xml_writer() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;

    let Some(url) = broker_url() else { return };
    let ws_port = free_tcp_port();
    let cse_bare = format!("id-wsdoor-{}", std::process::id());
    let (_server, base) = start(&url, &format!("/{cse_bare}"), free_udp_port(), ws_port);

    // the subscriber opens a WebSocket in XML and registers over it (no poa:
    // its connection is how the CSE reaches it)
    let mut request = format!("ws://127.0.0.1:{ws_port}/")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "oneM2M.xml".parse().unwrap());
    let (mut ws, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("WebSocket handshake");
    assert_eq!(response.headers()["sec-websocket-protocol"], "oneM2M.xml");
    let send = |primitive: Value| Message::Text(String::from_utf8(xml(&primitive)).unwrap().into());
    ws.send(send(json!({"op": 1, "to": "cse-in", "fr": "Cwsdoor", "rqi": "w1", "rvi": "4", "ty": 2,
                        "pc": {"m2m:ae": {"rn": "wsdoor", "api": "Ndoor", "rr": true, "srv": ["4"]}}})))
        .await
        .unwrap();
    let next = |message: Option<Result<Message, _>>| -> Value {
        match message {
            Some(Ok(Message::Text(text))) => from_xml(text.as_bytes()),
            other => panic!("an XML text message, got {other:?}"),
        }
    };
    let registered = next(ws.next().await);
    assert_eq!(registered["rsc"], json!(2001), "{registered}");

    // the writer registers and makes a container over HTTP in XML, readable by both
    let client = reqwest::Client::new();
    let (rsc, body) = http_xml(
        &client,
        format!("{base}/cse-in"),
        "Chttpdoor",
        2,
        json!({"m2m:ae": {"rn": "httpdoor", "api": "Ndoor", "rr": false, "srv": ["4"]}}),
    )
    .await;
    assert_eq!(rsc, 2001, "{body}");
    let (rsc, body) = http_xml(
        &client,
        format!("{base}/cse-in/httpdoor"),
        "Chttpdoor",
        1,
        json!({"m2m:acp": {"rn": "share",
            "pv": {"acr": [{"acor": ["Chttpdoor", "Cwsdoor"], "acop": 63}]},
            "pvs": {"acr": [{"acor": ["Chttpdoor"], "acop": 63}]}}}),
    )
    .await;
    assert_eq!(rsc, 2001, "{body}");
    let acpi = body["m2m:acp"]["ri"].clone();
    let (rsc, body) = http_xml(
        &client,
        format!("{base}/cse-in/httpdoor"),
        "Chttpdoor",
        3,
        json!({"m2m:cnt": {"rn": "noise", "acpi": [acpi]}}),
    )
    .await;
    assert_eq!(rsc, 2001, "{body}");

    // subscribe over the WebSocket
    ws.send(send(json!({"op": 1, "to": "cse-in/httpdoor/noise", "fr": "Cwsdoor", "rqi": "w2", "rvi": "4", "ty": 23,
                        "pc": {"m2m:sub": {"rn": "listen", "nu": ["Cwsdoor"], "enc": {"net": [3]}}}})))
        .await
        .unwrap();
    let subscribed = next(ws.next().await);
    assert_eq!(subscribed["rsc"], json!(2001), "{subscribed}");

    // an XML reading over HTTP ...
    let (rsc, body) = http_xml(
        &client,
        format!("{base}/cse-in/httpdoor/noise"),
        "Chttpdoor",
        4,
        json!({"m2m:cin": {"con": "61 dB"}}),
    )
    .await;
    assert_eq!(rsc, 2001, "{body}");
    // ... arrives as an XML NOTIFY over the subscriber's own WebSocket
    let notification = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("a notification in time");
    let notification = next(notification);
    assert_eq!(notification["op"], json!(5), "{notification}");
    assert_eq!(
        notification["pc"]["m2m:sgn"]["nev"]["rep"]["m2m:cin"]["con"],
        json!("61 dB"),
        "{notification}"
    );
    ws.send(send(
        json!({"rsc": 2000, "rqi": notification["rqi"], "rvi": "4"}),
    ))
    .await
    .unwrap();
}
