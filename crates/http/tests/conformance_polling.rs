//! <pollingChannel> and its `pcu` (TS-0001 §10.2.22, TS-0004 §7.3.23/§7.3.24,
//! TS-0018 TP/oneM2M/CSE/PCH): an AE the CSE cannot reach long-polls for
//! the requests meant for it and answers them through `pcu`.

mod common;

use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// A request-unreachable AE `name` with a pollingChannel `pch`; returns its AE-ID.
async fn polled_ae(cse: &common::TestCse, name: &str) -> String {
    let aei = cse.register_ae(name, None).await;
    let pch = cse
        .create(
            &format!("/cse-in/{name}"),
            &aei,
            15,
            json!({"m2m:pch": {"rn": "pch"}}),
        )
        .await;
    assert_eq!(pch.rsc, 2001, "{}", pch.body);
    assert_eq!(pch.at("/m2m:pch/rqag"), &json!(false));
    aei
}

async fn poll(cse: &common::TestCse, name: &str, originator: &str, rqet_ms: u64) -> common::Answer {
    cse.send(
        reqwest::Method::GET,
        &format!("/cse-in/{name}/pch/pcu"),
        Some(originator),
        None,
        None,
        &[("X-M2M-RET", &rqet_ms.to_string())],
    )
    .await
}

async fn answer(
    cse: &common::TestCse,
    name: &str,
    originator: &str,
    body: Value,
) -> common::Answer {
    cse.send(
        reqwest::Method::POST,
        &format!("/cse-in/{name}/pch/pcu"),
        Some(originator),
        None,
        Some(body),
        &[],
    )
    .await
}

#[tokio::test]
async fn only_the_owner_creates_and_uses_its_one_polling_channel() {
    let cse = common::start().await;
    let aei = cse.register_ae("owner", None).await;
    let other = cse.register_ae("other", None).await;
    let body = json!({"m2m:pch": {"rn": "pch"}});
    // not even the admin may open another entity's mailbox
    for originator in [common::ADMIN, other.as_str()] {
        let refused = cse
            .create("/cse-in/owner", originator, 15, body.clone())
            .await;
        assert_eq!(refused.rsc, 4103, "{originator}: {}", refused.body);
    }
    assert_eq!(
        cse.create("/cse-in/owner", &aei, 15, body.clone())
            .await
            .rsc,
        2001
    );
    let second = cse
        .create(
            "/cse-in/owner",
            &aei,
            15,
            json!({"m2m:pch": {"rn": "pch2"}}),
        )
        .await;
    assert_eq!(second.rsc, 4000, "{}", second.body);
    let under_cse = cse.create("/cse-in", common::ADMIN, 15, body).await;
    assert_eq!(under_cse.rsc, 4108, "{}", under_cse.body);
    assert_eq!(cse.retrieve("/cse-in/owner/pch", &other).await.rsc, 4103);
    assert_eq!(poll(&cse, "owner", &other, 100).await.rsc, 4103);
    assert_eq!(cse.delete("/cse-in/owner/pch/pcu", &aei).await.rsc, 4005);
    let updated = cse
        .update(
            "/cse-in/owner/pch",
            &aei,
            json!({"m2m:pch": {"rqag": true}}),
        )
        .await;
    assert_eq!(updated.at("/m2m:pch/rqag"), &json!(true));
    assert_eq!(cse.delete("/cse-in/owner/pch", &aei).await.rsc, 2002);
    assert_eq!(poll(&cse, "owner", &aei, 100).await.rsc, 4004);
}

#[tokio::test]
async fn an_empty_poll_times_out_at_the_request_expiration() {
    let cse = common::start().await;
    let aei = polled_ae(&cse, "sleepy").await;
    let started = Instant::now();
    let answer = poll(&cse, "sleepy", &aei, 300).await;
    assert_eq!(answer.rsc, 4008, "{}", answer.body);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(2),
        "{waited:?}"
    );
}

#[tokio::test]
async fn verification_and_notifications_travel_through_the_polling_channel() {
    let cse = common::start().await;
    let subscriber = polled_ae(&cse, "polled").await;
    let writer = cse.register_ae("writer", None).await;
    let cnt = cse
        .create(
            "/cse-in/writer",
            &writer,
            3,
            json!({"m2m:cnt": {"rn": "box"}}),
        )
        .await;
    assert_eq!(cnt.rsc, 2001);

    // The subscriber polls while the writer subscribes it: the verification
    // request arrives at pcu and its answer completes the CREATE.
    let polling = {
        let base = cse.base.clone();
        let subscriber = subscriber.clone();
        tokio::spawn(async move { poll_and_answer(&base, &subscriber).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let sub = cse
        .create(
            "/cse-in/writer/box",
            &writer,
            23,
            json!({"m2m:sub": {"rn": "sub", "nu": [subscriber], "enc": {"net": [3]}}}),
        )
        .await;
    assert_eq!(sub.rsc, 2001, "{}", sub.body);
    let verification = polling.await.unwrap();
    assert_eq!(
        verification.pointer("/m2m:rqp/pc/m2m:sgn/vrq"),
        Some(&json!(true))
    );
    assert_eq!(verification.pointer("/m2m:rqp/op"), Some(&json!(5)));

    // A new instance: its notification waits in the mailbox until polled.
    let cin = cse
        .create(
            "/cse-in/writer/box",
            &writer,
            4,
            json!({"m2m:cin": {"con": "21.5"}}),
        )
        .await;
    assert_eq!(cin.rsc, 2001);
    let polled = poll(&cse, "polled", &subscriber, 2000).await;
    assert_eq!(polled.rsc, 2000, "{}", polled.body);
    assert_eq!(
        polled.at("/m2m:rqp/pc/m2m:sgn/nev/rep/m2m:cin/con"),
        &json!("21.5")
    );
    let rqi = polled.at("/m2m:rqp/rqi").as_str().unwrap().to_owned();
    let done = answer(
        &cse,
        "polled",
        &subscriber,
        json!({"m2m:rsp": {"rqi": rqi, "rsc": 2000, "rvi": "4"}}),
    )
    .await;
    assert_eq!(done.rsc, 2000, "{}", done.body);
}

#[tokio::test]
async fn an_answer_that_is_not_a_response_is_refused_and_the_subscription_fails() {
    let cse = common::start().await;
    let subscriber = polled_ae(&cse, "wrong").await;
    let writer = cse.register_ae("w2", None).await;
    let polling = {
        let base = cse.base.clone();
        let subscriber = subscriber.clone();
        tokio::spawn(async move {
            let client = Client::new(&base, &subscriber);
            let polled = client.get("/cse-in/wrong/pch/pcu").await;
            let rqi = polled.pointer("/m2m:rqp/rqi").cloned().unwrap();
            client
                .post(
                    "/cse-in/wrong/pch/pcu",
                    json!({"m2m:rqp": {"rqi": rqi, "rsc": 2000}}),
                )
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refused = cse
        .create(
            "/cse-in/w2",
            &writer,
            23,
            json!({"m2m:sub": {"rn": "s", "nu": [subscriber]}}),
        )
        .await;
    assert_eq!(refused.rsc, 5204, "{}", refused.body);
    let wrong_answer = polling.await.unwrap();
    assert!(wrong_answer.get("m2m:dbg").is_some(), "{wrong_answer}");
}

/// Long-poll once (up to 3 s), answer OK, return what was polled.
async fn poll_and_answer(base: &str, originator: &str) -> Value {
    let client = Client::new(base, originator);
    let polled = client.get("/cse-in/polled/pch/pcu").await;
    let rqi = polled
        .pointer("/m2m:rqp/rqi")
        .cloned()
        .unwrap_or_else(|| panic!("a request primitive: {polled}"));
    client
        .post(
            "/cse-in/polled/pch/pcu",
            json!({"m2m:rsp": {"rqi": rqi, "rsc": 2000, "rvi": "4"}}),
        )
        .await;
    polled
}

/// A bare client for tasks that outlive a borrowed harness.
struct Client {
    http: reqwest::Client,
    base: String,
    originator: String,
}

impl Client {
    fn new(base: &str, originator: &str) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: base.to_owned(),
            originator: originator.to_owned(),
        }
    }

    async fn get(&self, path: &str) -> Value {
        self.call(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("X-M2M-Origin", &self.originator)
            .header("X-M2M-RI", "poll")
            .header("X-M2M-RVI", "4")
            .header("X-M2M-RET", "3000")
            .header("Content-Type", "application/json");
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        let response = request.send().await.expect("request");
        let bytes = response.bytes().await.expect("body");
        if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("JSON")
        }
    }
}
