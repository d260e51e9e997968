//! The MQTT binding against a real broker (Mosquitto). The broker address
//! comes from URBIS_TEST_MQTT_URL, which .ci/run sets.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, Packet, QoS};
use serde_json::{json, Value};
use urbis_core::{Cse, CseConfig};
use urbis_mqtt::MqttOptions;
use urbis_store::sqlite::SqliteStore;

fn broker_url() -> Option<String> {
    match std::env::var("URBIS_TEST_MQTT_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!(
                "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
                 !! URBIS_TEST_MQTT_URL is not set: the MQTT broker tests did NOT run. !!\n\
                 !! Set it to a broker, e.g. mqtt://127.0.0.1:1883 (.ci/run does).    !!\n\
                 !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
            );
            None
        }
    }
}

/// A CSE with its own CSE-ID (tests share the broker) and the MQTT binding.
async fn start(url: &str) -> (Cse, String) {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let suffix = format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let cse_id = format!("/id-test-{suffix}");
    let config = CseConfig {
        cse_id: cse_id.clone(),
        ..CseConfig::default()
    };
    let cse = Cse::open(config, Arc::new(SqliteStore::in_memory().unwrap())).unwrap();
    let options = MqttOptions {
        enabled: true,
        url: url.to_owned(),
        client_id: format!("urbis-{suffix}"),
        ..Default::default()
    };
    let serving = cse.clone();
    tokio::spawn(async move {
        urbis_mqtt::serve(serving, options, std::future::pending())
            .await
            .unwrap()
    });
    tokio::time::sleep(Duration::from_millis(300)).await; // connect and subscribe
    (cse, cse_id.trim_start_matches('/').to_owned())
}

/// An application on the broker: publishes requests, reads responses.
struct App {
    client: AsyncClient,
    events: EventLoop,
    originator: String,
    receiver: String,
}

impl App {
    async fn connect(url: &str, originator: &str, receiver: &str) -> App {
        let (host, port) = urbis_mqtt::parse_url(url).unwrap();
        let mut options =
            rumqttc::MqttOptions::new(format!("app-{originator}-{receiver}"), host, port);
        options.set_max_packet_size(4 << 20, 4 << 20);
        let (client, mut events) = AsyncClient::new(options, 64);
        for kind in ["resp", "reg_resp"] {
            client
                .subscribe(
                    format!("/oneM2M/{kind}/{originator}/{receiver}/+"),
                    QoS::AtLeastOnce,
                )
                .await
                .unwrap();
        }
        // wait for the subscription to be acknowledged
        loop {
            if let Event::Incoming(Packet::SubAck(_)) = events.poll().await.unwrap() {
                break;
            }
        }
        App {
            client,
            events,
            originator: originator.to_owned(),
            receiver: receiver.to_owned(),
        }
    }

    async fn raw(
        &mut self,
        channel: &str,
        ser: &str,
        payload: Vec<u8>,
    ) -> Option<(String, Vec<u8>)> {
        let topic = format!(
            "/oneM2M/{channel}/{}/{}/{ser}",
            self.originator, self.receiver
        );
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        loop {
            match tokio::time::timeout_at(deadline, self.events.poll()).await {
                Err(_) => return None,
                Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                    return Some((p.topic, p.payload.to_vec()))
                }
                Ok(Ok(_)) => {}
                Ok(Err(err)) => panic!("test client lost the broker: {err}"),
            }
        }
    }

    async fn request(&mut self, channel: &str, primitive: Value) -> Value {
        let (topic, payload) = self
            .raw(channel, "json", primitive.to_string().into_bytes())
            .await
            .expect("a response");
        assert!(topic.ends_with("/json"), "{topic}");
        serde_json::from_slice(&payload).unwrap()
    }
}

#[tokio::test]
async fn ae_registers_and_stores_data_over_mqtt() {
    let Some(url) = broker_url() else { return };
    let (_cse, receiver) = start(&url).await;
    let mut app = App::connect(&url, "Cmeter", &receiver).await;
    let registered = app
        .request(
            "reg_req",
            json!({"op": 1, "to": "cse-in", "fr": "Cmeter", "rqi": "r1", "rvi": "4", "ty": 2,
                   "pc": {"m2m:ae": {"rn": "meter", "api": "Nmeter", "rr": false, "srv": ["4"]}}}),
        )
        .await;
    assert_eq!(registered["rsc"], json!(2001), "{registered}");
    assert_eq!(registered["rqi"], json!("r1"));
    assert_eq!(registered["pc"]["m2m:ae"]["aei"], json!("Cmeter"));

    let cnt = app
        .request(
            "req",
            json!({"op": 1, "to": "cse-in/meter", "fr": "Cmeter", "rqi": "r2", "rvi": "4", "ty": 3,
                               "pc": {"m2m:cnt": {"rn": "power"}}}),
        )
        .await;
    assert_eq!(cnt["rsc"], json!(2001), "{cnt}");
    let cin = app
        .request("req", json!({"op": 1, "to": "cse-in/meter/power", "fr": "Cmeter", "rqi": "r3", "rvi": "4", "ty": 4,
                               "pc": {"m2m:cin": {"con": "42"}}}))
        .await;
    assert_eq!(cin["rsc"], json!(2001), "{cin}");
    let latest = app
        .request("req", json!({"op": 2, "to": "cse-in/meter/power/la", "fr": "Cmeter", "rqi": "r4", "rvi": "4"}))
        .await;
    assert_eq!(latest["rsc"], json!(2000), "{latest}");
    assert_eq!(latest["pc"]["m2m:cin"]["con"], json!("42"));
}

#[tokio::test]
async fn bad_input_gets_an_error_response_and_the_binding_stays_up() {
    let Some(url) = broker_url() else { return };
    let (_cse, receiver) = start(&url).await;
    let mut app = App::connect(&url, "Cbad", &receiver).await;

    let (_, payload) = app
        .raw("req", "json", b"{not json".to_vec())
        .await
        .expect("an error response");
    let answer: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(answer["rsc"], json!(4000), "{answer}");

    let wrong_channel = app
        .request(
            "reg_req",
            json!({"op": 2, "to": "cse-in", "fr": "Cbad", "rqi": "x1", "rvi": "4"}),
        )
        .await;
    assert_eq!(
        wrong_channel["rsc"],
        json!(4000),
        "only registrations on reg_req: {wrong_channel}"
    );
    assert_eq!(wrong_channel["rqi"], json!("x1"));

    assert!(
        app.raw("req", "yaml", b"{}".to_vec()).await.is_none(),
        "unknown serialization: dropped"
    );

    // above max_message_bytes (1 MiB by default): refused, connection kept
    let huge = json!({"op": 1, "to": "cse-in", "fr": "Cbad", "rqi": "big", "rvi": "4", "ty": 3,
                      "pc": {"m2m:cnt": {"lbl": ["x".repeat(1_500_000)]}}});
    let (_, payload) = app
        .raw("req", "json", huge.to_string().into_bytes())
        .await
        .expect("an error response for an oversized message");
    let answer: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(answer["rsc"], json!(4000), "{answer}");

    let fine = app
        .request(
            "req",
            json!({"op": 2, "to": "cse-in", "fr": "CAdmin", "rqi": "x2", "rvi": "4"}),
        )
        .await;
    assert_eq!(fine["rsc"], json!(2000), "still serving: {fine}");
}

#[tokio::test]
async fn cbor_requests_get_cbor_responses() {
    let Some(url) = broker_url() else { return };
    let (_cse, receiver) = start(&url).await;
    let mut app = App::connect(&url, "CAdmin", &receiver).await;
    let mut payload = Vec::new();
    ciborium::into_writer(
        &json!({"op": 2, "to": "cse-in", "fr": "CAdmin", "rqi": "c1", "rvi": "4"}),
        &mut payload,
    )
    .unwrap();
    let (topic, answer) = app.raw("req", "cbor", payload).await.expect("a response");
    assert!(topic.ends_with("/cbor"), "{topic}");
    let answer: Value = ciborium::from_reader(answer.as_slice()).unwrap();
    assert_eq!(answer["rsc"], json!(2000));
    assert_eq!(answer["pc"]["m2m:cb"]["rn"], json!("cse-in"));
}

#[tokio::test]
async fn notifications_reach_an_ae_over_mqtt_through_its_point_of_access() {
    let Some(url) = broker_url() else { return };
    let (_cse, receiver) = start(&url).await;
    let mut app = App::connect(&url, "Cwatch", &receiver).await;
    // notifications for Cwatch arrive on /oneM2M/req/<CSE>/Cwatch/<ser>
    app.client
        .subscribe(format!("/oneM2M/req/{receiver}/Cwatch/+"), QoS::AtLeastOnce)
        .await
        .unwrap();
    loop {
        if let Event::Incoming(Packet::SubAck(_)) = app.events.poll().await.unwrap() {
            break;
        }
    }
    let ae = app
        .request("reg_req", json!({"op": 1, "to": "cse-in", "fr": "Cwatch", "rqi": "n1", "rvi": "4", "ty": 2,
                                   "pc": {"m2m:ae": {"rn": "watch", "api": "Nwatch", "rr": true, "srv": ["4"],
                                                     "poa": [url.clone()]}}}))
        .await;
    assert_eq!(ae["rsc"], json!(2001), "{ae}");
    let cnt = app
        .request(
            "req",
            json!({"op": 1, "to": "cse-in/watch", "fr": "Cwatch", "rqi": "n2", "rvi": "4", "ty": 3,
                               "pc": {"m2m:cnt": {"rn": "door"}}}),
        )
        .await;
    assert_eq!(cnt["rsc"], json!(2001), "{cnt}");
    let sub = app
        .request("req", json!({"op": 1, "to": "cse-in/watch/door", "fr": "Cwatch", "rqi": "n3", "rvi": "4", "ty": 23,
                               "pc": {"m2m:sub": {"rn": "s", "nu": ["Cwatch"], "enc": {"net": [3]}}}}))
        .await;
    assert_eq!(sub["rsc"], json!(2001), "{sub}");

    let create = json!({"op": 1, "to": "cse-in/watch/door", "fr": "Cwatch", "rqi": "n4", "rvi": "4", "ty": 4,
                        "pc": {"m2m:cin": {"con": "open"}}});
    let topic = format!("/oneM2M/req/Cwatch/{receiver}/json");
    app.client
        .publish(topic, QoS::AtLeastOnce, false, create.to_string())
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut notification = None;
    let mut created = false;
    while notification.is_none() || !created {
        let event = tokio::time::timeout_at(deadline, app.events.poll())
            .await
            .expect("notification in time")
            .unwrap();
        let Event::Incoming(Packet::Publish(message)) = event else {
            continue;
        };
        let value: Value = serde_json::from_slice(&message.payload).unwrap();
        if message.topic.starts_with("/oneM2M/req/") {
            // answer the notification as an AE does
            let answer = json!({"rsc": 2000, "rqi": value["rqi"], "rvi": "4"});
            let back = format!("/oneM2M/resp/{receiver}/Cwatch/json");
            app.client
                .publish(back, QoS::AtLeastOnce, false, answer.to_string())
                .await
                .unwrap();
            notification = Some(value);
        } else if value["rqi"] == json!("n4") {
            assert_eq!(value["rsc"], json!(2001), "{value}");
            created = true;
        }
    }
    let notification = notification.unwrap();
    assert_eq!(notification["op"], json!(5), "{notification}");
    assert_eq!(notification["to"], json!("Cwatch"));
    assert_eq!(notification["pc"]["m2m:sgn"]["nev"]["net"], json!(3));
    assert_eq!(
        notification["pc"]["m2m:sgn"]["nev"]["rep"]["m2m:cin"]["con"],
        json!("open")
    );
}

fn from_xml(payload: &[u8]) -> Value {
    urbis_codec::decode(payload, urbis_model::Serialization::Xml).unwrap_or_else(|e| {
        panic!(
            "not XML ({}): {}",
            e.message,
            String::from_utf8_lossy(payload)
        )
    })
}

#[tokio::test]
async fn xml_requests_get_xml_responses() {
    let Some(url) = broker_url() else { return };
    let (_cse, receiver) = start(&url).await;
    let mut app = App::connect(&url, "CAdmin", &receiver).await;
    let request = r#"<?xml version="1.0" encoding="UTF-8"?>
<m2m:rqp xmlns:m2m="http://www.onem2m.org/xml/protocols">
  <op>2</op><to>cse-in</to><fr>CAdmin</fr><rqi>x1</rqi><rvi>4</rvi>
</m2m:rqp>"#;
    let (topic, answer) = app
        .raw("req", "xml", request.as_bytes().to_vec())
        .await
        .expect("a response");
    assert!(topic.ends_with("/xml"), "{topic}");
    let text = String::from_utf8_lossy(&answer).into_owned();
    assert!(text.contains("<m2m:rsp "), "{text}");
    let answer = from_xml(text.as_bytes());
    assert_eq!(answer["rsc"], json!(2000), "{text}");
    assert_eq!(answer["rqi"], json!("x1"));
    assert_eq!(answer["pc"]["m2m:cb"]["rn"], json!("cse-in"), "{text}");

    let (_, broken) = app
        .raw("req", "xml", b"<m2m:rqp><op>2</op>".to_vec())
        .await
        .expect("an error response");
    let broken = from_xml(&broken);
    assert_eq!(broken["rsc"], json!(4000), "{broken}");
    assert!(broken["pc"]["m2m:dbg"]
        .as_str()
        .is_some_and(|m| m.contains("malformed XML")));
}

#[tokio::test]
async fn notifications_go_out_in_xml_to_an_ae_that_prefers_it() {
    let Some(url) = broker_url() else { return };
    let (_cse, receiver) = start(&url).await;
    let mut app = App::connect(&url, "Cxml", &receiver).await;
    app.client
        .subscribe(format!("/oneM2M/req/{receiver}/Cxml/+"), QoS::AtLeastOnce)
        .await
        .unwrap();
    loop {
        if let Event::Incoming(Packet::SubAck(_)) = app.events.poll().await.unwrap() {
            break;
        }
    }
    let register = format!(
        r#"<m2m:rqp xmlns:m2m="http://www.onem2m.org/xml/protocols"><op>1</op><to>cse-in</to><fr>Cxml</fr><rqi>r1</rqi><rvi>4</rvi><ty>2</ty>
<pc><m2m:ae rn="xmlwatch"><api>Nx</api><poa>{url}</poa><rr>true</rr><csz>application/xml</csz><srv>4</srv></m2m:ae></pc></m2m:rqp>"#
    );
    let (_, registered) = app
        .raw("reg_req", "xml", register.into_bytes())
        .await
        .expect("registered");
    assert_eq!(from_xml(&registered)["rsc"], json!(2001));
    for (rqi, ty, to, pc) in [
        (
            "r2",
            3,
            "cse-in/xmlwatch",
            json!({"m2m:cnt": {"rn": "door"}}),
        ),
        (
            "r3",
            23,
            "cse-in/xmlwatch/door",
            json!({"m2m:sub": {"rn": "s", "nu": ["Cxml"], "enc": {"net": [3]}}}),
        ),
    ] {
        let answer = app
            .request(
                "req",
                json!({"op": 1, "to": to, "fr": "Cxml", "rqi": rqi, "rvi": "4", "ty": ty, "pc": pc}),
            )
            .await;
        assert_eq!(answer["rsc"], json!(2001), "{answer}");
    }
    let create = json!({"op": 1, "to": "cse-in/xmlwatch/door", "fr": "Cxml", "rqi": "r4", "rvi": "4", "ty": 4,
                        "pc": {"m2m:cin": {"con": "open"}}});
    app.client
        .publish(
            format!("/oneM2M/req/Cxml/{receiver}/json"),
            QoS::AtLeastOnce,
            false,
            create.to_string(),
        )
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let notification = loop {
        let event = tokio::time::timeout_at(deadline, app.events.poll())
            .await
            .expect("notification in time")
            .unwrap();
        let Event::Incoming(Packet::Publish(message)) = event else {
            continue;
        };
        if message.topic.starts_with("/oneM2M/req/") {
            assert!(message.topic.ends_with("/xml"), "{}", message.topic);
            let value = from_xml(&message.payload);
            let answer = format!(
                r#"<m2m:rsp xmlns:m2m="http://www.onem2m.org/xml/protocols"><rsc>2000</rsc><rqi>{}</rqi><rvi>4</rvi></m2m:rsp>"#,
                value["rqi"].as_str().unwrap_or_default()
            );
            app.client
                .publish(
                    format!("/oneM2M/resp/{receiver}/Cxml/xml"),
                    QoS::AtLeastOnce,
                    false,
                    answer,
                )
                .await
                .unwrap();
            break value;
        }
    };
    assert_eq!(notification["op"], json!(5), "{notification}");
    assert_eq!(notification["pc"]["m2m:sgn"]["nev"]["net"], json!(3));
    assert_eq!(
        notification["pc"]["m2m:sgn"]["nev"]["rep"]["m2m:cin"]["con"],
        json!("open")
    );
}

#[tokio::test]
async fn ip_limited_rules_never_apply_to_requests_through_the_broker() {
    let Some(url) = broker_url() else { return };
    let (_cse, receiver) = start(&url).await;
    let mut app = App::connect(&url, "Cowner", &receiver).await;
    let registered = app
        .request(
            "reg_req",
            json!({"op": 1, "to": "cse-in", "fr": "Cowner", "rqi": "a1", "rvi": "4", "ty": 2,
                   "pc": {"m2m:ae": {"rn": "owner", "api": "Nowner", "rr": false, "srv": ["4"]}}}),
        )
        .await;
    assert_eq!(registered["rsc"], json!(2001), "{registered}");
    // everyone, from any IPv4 or IPv6 address, may read; the owner always
    let acp = app
        .request(
            "req",
            json!({"op": 1, "to": "cse-in/owner", "fr": "Cowner", "rqi": "a2", "rvi": "4", "ty": 1,
                   "pc": {"m2m:acp": {"rn": "anywhere",
                       "pv": {"acr": [
                           {"acor": ["all"], "acop": 2,
                            "acco": [{"acip": {"ipv4": ["0.0.0.0/0"], "ipv6": ["::/0"]}}]},
                           {"acor": ["Cowner"], "acop": 63}]},
                       "pvs": {"acr": [{"acor": ["Cowner"], "acop": 63}]}}}}),
        )
        .await;
    assert_eq!(acp["rsc"], json!(2001), "{acp}");
    let acpi = acp["pc"]["m2m:acp"]["ri"].clone();
    let cnt = app
        .request(
            "req",
            json!({"op": 1, "to": "cse-in/owner", "fr": "Cowner", "rqi": "a3", "rvi": "4", "ty": 3,
                   "pc": {"m2m:cnt": {"rn": "box", "acpi": [acpi]}}}),
        )
        .await;
    assert_eq!(cnt["rsc"], json!(2001), "{cnt}");
    let mut other = App::connect(&url, "Cother", &receiver).await;
    let read = other
        .request(
            "req",
            json!({"op": 2, "to": "cse-in/owner/box", "fr": "Cother", "rqi": "a4", "rvi": "4"}),
        )
        .await;
    assert_eq!(
        read["rsc"],
        json!(4103),
        "no address to match, so the rule does not apply: {read}"
    );
}
