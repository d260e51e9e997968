//! MQTT load generator for a oneM2M CSE (TS-0010 binding): registers an AE,
//! creates a container, then keeps `--inflight` contentInstance CREATE
//! requests outstanding for `--seconds`, and prints throughput and latency.
//! Works against any CSE that serves the MQTT binding.
//!
//! `cargo run --release -p urbis-mqtt --example mqtt_load -- --url mqtt://127.0.0.1:1883 --qos 1`

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{json, Value};

struct Args {
    url: String,
    cse: String,
    qos: QoS,
    inflight: usize,
    seconds: u64,
}

fn args() -> Args {
    let mut args = Args {
        url: "mqtt://127.0.0.1:1883".into(),
        cse: "id-in".into(),
        qos: QoS::AtLeastOnce,
        inflight: 32,
        seconds: 10,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_default();
        match flag.as_str() {
            "--url" => args.url = value,
            "--cse" => args.cse = value,
            "--qos" => {
                args.qos = if value == "0" {
                    QoS::AtMostOnce
                } else {
                    QoS::AtLeastOnce
                }
            }
            "--inflight" => args.inflight = value.parse().expect("--inflight N"),
            "--seconds" => args.seconds = value.parse().expect("--seconds N"),
            other => panic!("unknown flag {other} (--url --cse --qos --inflight --seconds)"),
        }
    }
    args
}

#[tokio::main]
async fn main() {
    let args = args();
    let (host, port) = urbis_mqtt::parse_url(&args.url).expect("mqtt://HOST:PORT");
    let originator = format!("Cload{}", std::process::id());
    let mut options = MqttOptions::new(originator.clone(), host, port);
    options.set_inflight(u16::try_from(args.inflight.max(10) * 2).unwrap_or(u16::MAX));
    let (client, mut events) = AsyncClient::new(options, args.inflight * 4);
    events.network_options.set_tcp_nodelay(true);
    for kind in ["resp", "reg_resp"] {
        client
            .subscribe(
                format!("/oneM2M/{kind}/{originator}/{}/json", args.cse),
                QoS::AtLeastOnce,
            )
            .await
            .unwrap();
    }
    let request_topic = format!("/oneM2M/req/{originator}/{}/json", args.cse);
    let mut next = 0u64;
    let send = |channel: &str, primitive: Value| {
        let topic = if channel == "reg_req" {
            request_topic.replace("/req/", "/reg_req/")
        } else {
            request_topic.clone()
        };
        (topic, primitive.to_string().into_bytes())
    };
    // setup: AE + container, one at a time
    let setup = [
        (
            "reg_req",
            json!({"op": 1, "to": "cse-in", "fr": originator, "rqi": "s1", "rvi": "4", "ty": 2,
                            "pc": {"m2m:ae": {"rn": originator, "api": "Nload", "rr": false, "srv": ["4"]}}}),
        ),
        (
            "req",
            json!({"op": 1, "to": format!("cse-in/{originator}"), "fr": originator, "rqi": "s2", "rvi": "4", "ty": 3,
                       "pc": {"m2m:cnt": {"rn": "load"}}}),
        ),
    ];
    for (channel, primitive) in setup {
        let (topic, payload) = send(channel, primitive);
        client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
        loop {
            if let Event::Incoming(Packet::Publish(p)) = events.poll().await.expect("broker") {
                let answer: Value = serde_json::from_slice(&p.payload).unwrap();
                assert_eq!(answer["rsc"], json!(2001), "setup failed: {answer}");
                break;
            }
        }
    }
    let body = json!({"m2m:cin": {"cnf": "text/plain:0", "con": "x".repeat(100)}});
    let target = format!("cse-in/{originator}/load");
    let mut outstanding: HashMap<String, Instant> = HashMap::new();
    let mut latencies = Vec::new();
    let mut errors = 0u64;
    let start = Instant::now();
    let stop = start + Duration::from_secs(args.seconds);
    loop {
        while outstanding.len() < args.inflight && Instant::now() < stop {
            next += 1;
            let rqi = format!("l{next}");
            let primitive = json!({"op": 1, "to": target, "fr": originator, "rqi": rqi, "rvi": "4", "ty": 4, "pc": body});
            client
                .publish(
                    request_topic.clone(),
                    args.qos,
                    false,
                    primitive.to_string().into_bytes(),
                )
                .await
                .unwrap();
            outstanding.insert(rqi, Instant::now());
        }
        if outstanding.is_empty() {
            break;
        }
        match tokio::time::timeout(Duration::from_secs(10), events.poll()).await {
            Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                let answer: Value = serde_json::from_slice(&p.payload).unwrap_or(Value::Null);
                let rqi = answer["rqi"].as_str().unwrap_or_default().to_owned();
                if let Some(sent) = outstanding.remove(&rqi) {
                    if answer["rsc"] == json!(2001) {
                        latencies.push(sent.elapsed());
                    } else {
                        errors += 1;
                    }
                }
            }
            Ok(Ok(_)) => {}
            Ok(Err(err)) => panic!("broker: {err}"),
            Err(_) => {
                errors += outstanding.len() as u64;
                eprintln!("{} requests got no answer in 10 s", outstanding.len());
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
        "mqtt-create qos={}: rps={:.0} p50={:.2}ms p99={:.2}ms ok={} errors={}",
        if args.qos == QoS::AtMostOnce { 0 } else { 1 },
        latencies.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        latencies.len(),
        errors
    );
}
