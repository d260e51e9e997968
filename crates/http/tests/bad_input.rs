//! Malformed and invalid requests (TS-0004 §6.6 status codes, TS-0009 header
//! rules): each must be refused with the right status code, and a refused
//! CREATE must leave nothing behind.

mod common;

use reqwest::Method;
use serde_json::{json, Value};
use urbis_core::CseConfig;
use urbis_http::HttpOptions;
use urbis_model::time;

/// A response to a hand-made request.
struct Raw {
    status: u16,
    rsc: u16,
    rqi: Option<String>,
    body: Value,
}

/// Send exactly the headers given (nothing added) and a raw body.
async fn raw(
    cse: &common::TestCse,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Raw {
    let mut builder = reqwest::Client::new().request(method, format!("{}{}", cse.base, path));
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    if !body.is_empty() {
        builder = builder.body(body.to_owned());
    }
    let response = builder.send().await.expect("request");
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let rsc = header("x-m2m-rsc")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let rqi = header("x-m2m-ri");
    let bytes = response.bytes().await.expect("body");
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Raw {
        status,
        rsc,
        rqi,
        body,
    }
}

/// The usual headers of a CREATE by `originator`.
fn create_headers<'a>(originator: &'a str, content_type: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("X-M2M-Origin", originator),
        ("X-M2M-RI", "bad-input"),
        ("X-M2M-RVI", "4"),
        ("Content-Type", content_type),
        ("Accept", "application/json"),
    ]
}

/// AE `app` with container `box`; returns the AE-ID.
async fn setup(cse: &common::TestCse) -> String {
    let aei = cse.register_ae("app", None).await;
    let answer = cse
        .create("/cse-in/app", &aei, 3, json!({"m2m:cnt": {"rn": "box"}}))
        .await;
    assert_eq!(answer.rsc, 2001, "{}", answer.body);
    aei
}

async fn assert_absent(cse: &common::TestCse, path: &str) {
    let answer = cse.retrieve(path, common::ADMIN).await;
    assert_eq!(answer.rsc, 4004, "{path} must not exist: {}", answer.body);
}

async fn cni(cse: &common::TestCse) -> Value {
    cse.retrieve("/cse-in/app/box", common::ADMIN)
        .await
        .at("/m2m:cnt/cni")
        .clone()
}

#[tokio::test]
async fn malformed_json_is_refused_with_4000() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    for body in [
        r#"{"m2m:cnt": {"rn": "broken""#,
        "not json at all",
        r#"{"m2m:cnt": {"rn": 'single'}}"#,
    ] {
        let answer = raw(
            &cse,
            Method::POST,
            "/cse-in/app",
            &create_headers(&aei, "application/json;ty=3"),
            body,
        )
        .await;
        assert_eq!(answer.rsc, 4000, "{body}: {}", answer.body);
        assert_eq!(answer.status, 400);
        assert_eq!(
            answer.rqi.as_deref(),
            Some("bad-input"),
            "rqi echoed even for unparseable requests"
        );
    }
    assert_absent(&cse, "/cse-in/app/broken").await;
}

#[tokio::test]
async fn content_that_is_not_a_single_resource_is_refused_with_4000() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    for body in [
        json!([{"m2m:cnt": {"rn": "x"}}]),
        json!({"m2m:cnt": {"rn": "x"}, "m2m:cin": {"con": "y"}}),
        json!({"m2m:cnt": "x"}),
        json!({}),
        json!("m2m:cnt"),
    ] {
        let answer = cse.create("/cse-in/app", &aei, 3, body.clone()).await;
        assert_eq!(answer.rsc, 4000, "{body}: {}", answer.body);
    }
    assert_absent(&cse, "/cse-in/app/x").await;
}

#[tokio::test]
async fn create_without_content_is_refused_with_4000() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    let answer = cse
        .send(
            Method::POST,
            "/cse-in/app/box",
            Some(&aei),
            Some(4),
            None,
            &[],
        )
        .await;
    assert_eq!(answer.rsc, 4000, "{}", answer.body);
    assert_eq!(cni(&cse).await, json!(0));
}

#[tokio::test]
async fn attribute_of_the_wrong_type_is_refused_with_4000() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    for (attribute, value) in [
        ("mni", json!("x")),
        ("mni", json!(-1)),
        ("mni", json!(1.5)),
        ("mbs", json!(true)),
        ("lbl", json!("single")),
        ("lbl", json!([1, 2])),
        ("disr", json!("yes")),
        ("et", json!("tomorrow")),
        ("et", json!(20300101)),
        ("rn", json!(5)),
        ("acpi", json!("acp1")),
    ] {
        let mut cnt = json!({"rn": "typed"});
        cnt[attribute] = value.clone();
        let answer = cse
            .create("/cse-in/app", &aei, 3, json!({"m2m:cnt": cnt}))
            .await;
        assert_eq!(answer.rsc, 4000, "{attribute}={value}: {}", answer.body);
        assert_eq!(answer.status, 400);
    }
    assert_absent(&cse, "/cse-in/app/typed").await;
}

#[tokio::test]
async fn attribute_of_the_wrong_type_in_update_is_refused_with_4000() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    let answer = cse
        .update("/cse-in/app/box", &aei, json!({"m2m:cnt": {"mni": "x"}}))
        .await;
    assert_eq!(answer.rsc, 4000, "{}", answer.body);
    assert!(cse
        .retrieve("/cse-in/app/box", &aei)
        .await
        .at("/m2m:cnt/mni")
        .is_null());
}

#[tokio::test]
async fn unknown_attribute_is_refused_with_4000() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    let answer = cse
        .create(
            "/cse-in/app",
            &aei,
            3,
            json!({"m2m:cnt": {"rn": "extra", "colour": "blue"}}),
        )
        .await;
    assert_eq!(answer.rsc, 4000, "{}", answer.body);
    assert_absent(&cse, "/cse-in/app/extra").await;
    // An attribute of another type is unknown here too.
    let answer = cse
        .create(
            "/cse-in/app",
            &aei,
            3,
            json!({"m2m:cnt": {"rn": "extra", "api": "Nx"}}),
        )
        .await;
    assert_eq!(answer.rsc, 4000, "{}", answer.body);
    assert_absent(&cse, "/cse-in/app/extra").await;
    let update = cse
        .update(
            "/cse-in/app/box",
            &aei,
            json!({"m2m:cnt": {"colour": "blue"}}),
        )
        .await;
    assert_eq!(update.rsc, 4000, "{}", update.body);
}

#[tokio::test]
async fn read_only_attributes_in_create_are_refused_with_4000() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    let now = time::format(time::now());
    for (attribute, value) in [
        ("ri", json!("myOwnId")),
        ("ct", json!(now)),
        ("lt", json!(now)),
        ("pi", json!("id-in")),
        ("ty", json!(3)),
        ("cni", json!(0)),
        ("cbs", json!(0)),
        ("st", json!(0)),
    ] {
        let mut cnt = json!({"rn": "readonly"});
        cnt[attribute] = value.clone();
        let answer = cse
            .create("/cse-in/app", &aei, 3, json!({"m2m:cnt": cnt}))
            .await;
        assert_eq!(answer.rsc, 4000, "{attribute}: {}", answer.body);
    }
    assert_absent(&cse, "/cse-in/app/readonly").await;
    assert_absent(&cse, "/myOwnId").await;
    let cin = cse
        .create(
            "/cse-in/app/box",
            &aei,
            4,
            json!({"m2m:cin": {"con": "x", "cs": 1}}),
        )
        .await;
    assert_eq!(cin.rsc, 4000, "cs is read-only: {}", cin.body);
    assert_eq!(cni(&cse).await, json!(0));
}

#[tokio::test]
async fn read_only_or_write_once_attributes_in_update_are_refused_with_4000() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    let before = cse.retrieve("/cse-in/app/box", &aei).await;
    for (attribute, value) in [
        ("ri", json!("x")),
        ("rn", json!("renamed")),
        ("ct", before.at("/m2m:cnt/ct").clone()),
        ("cni", json!(3)),
    ] {
        let mut changes = json!({});
        changes[attribute] = value;
        let answer = cse
            .update("/cse-in/app/box", &aei, json!({"m2m:cnt": changes}))
            .await;
        assert_eq!(answer.rsc, 4000, "{attribute}: {}", answer.body);
    }
    let after = cse.retrieve("/cse-in/app/box", &aei).await;
    assert_eq!(after.body, before.body, "nothing changed");
}

#[tokio::test]
async fn missing_mandatory_attribute_is_refused_with_4000() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    let acp = cse
        .create(
            "/cse-in/app",
            &aei,
            1,
            json!({"m2m:acp": {"rn": "nopv", "pvs": {"acr": [{"acor": ["all"], "acop": 63}]}}}),
        )
        .await;
    assert_eq!(acp.rsc, 4000, "{}", acp.body);
    assert_absent(&cse, "/cse-in/app/nopv").await;
    let grp = cse
        .create(
            "/cse-in/app",
            &aei,
            9,
            json!({"m2m:grp": {"rn": "nomid", "mnm": 2}}),
        )
        .await;
    assert_eq!(grp.rsc, 4000, "{}", grp.body);
    assert_absent(&cse, "/cse-in/app/nomid").await;
    let sub = cse
        .create(
            "/cse-in/app/box",
            &aei,
            23,
            json!({"m2m:sub": {"rn": "nonu"}}),
        )
        .await;
    assert_eq!(sub.rsc, 4000, "{}", sub.body);
    assert_absent(&cse, "/cse-in/app/box/nonu").await;
}

#[tokio::test]

async fn mandatory_attribute_cannot_be_removed_by_update() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    let answer = cse
        .update("/cse-in/app", &aei, json!({"m2m:ae": {"rr": null}}))
        .await;
    assert_eq!(answer.rsc, 4000, "{}", answer.body);
    assert_eq!(
        cse.retrieve("/cse-in/app", &aei).await.at("/m2m:ae/rr"),
        &json!(false)
    );
}

#[tokio::test]

async fn other_mandatory_attributes_cannot_be_removed_by_update() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    let srv = cse
        .update("/cse-in/app", &aei, json!({"m2m:ae": {"srv": null}}))
        .await;
    assert_eq!(srv.rsc, 4000, "AE srv: {}", srv.body);

    let grp = cse
        .create(
            "/cse-in/app",
            &aei,
            9,
            json!({"m2m:grp": {"rn": "grp", "mnm": 3, "mid": ["cse-in/app/box"]}}),
        )
        .await;
    assert_eq!(grp.rsc, 2001, "{}", grp.body);
    let mnm = cse
        .update("/cse-in/app/grp", &aei, json!({"m2m:grp": {"mnm": null}}))
        .await;
    assert_eq!(mnm.rsc, 4000, "group mnm: {}", mnm.body);

    let pvs = json!({"acr": [{"acor": [aei], "acop": 63}]});
    let acp = cse.create("/cse-in/app", &aei, 1, json!({"m2m:acp": {"rn": "acp", "pv": {"acr": [{"acor": ["all"], "acop": 2}]}, "pvs": pvs}})).await;
    assert_eq!(acp.rsc, 2001, "{}", acp.body);
    let pv = cse
        .update("/cse-in/app/acp", &aei, json!({"m2m:acp": {"pv": null}}))
        .await;
    assert_eq!(pv.rsc, 4000, "ACP pv: {}", pv.body);
}

#[tokio::test]
async fn root_key_not_matching_the_resource_type_is_refused_with_4000() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    let answer = cse
        .create(
            "/cse-in/app",
            &aei,
            3,
            json!({"m2m:cin": {"rn": "mismatch", "con": "x"}}),
        )
        .await;
    assert_eq!(answer.rsc, 4000, "{}", answer.body);
    assert_absent(&cse, "/cse-in/app/mismatch").await;
    let answer = cse
        .create(
            "/cse-in/app/box",
            &aei,
            4,
            json!({"m2m:cnt": {"rn": "mismatch"}}),
        )
        .await;
    assert_eq!(answer.rsc, 4000, "{}", answer.body);
    assert_absent(&cse, "/cse-in/app/box/mismatch").await;
    let answer = cse
        .create("/cse-in/app", &aei, 3, json!({"cnt": {"rn": "mismatch"}}))
        .await;
    assert_eq!(answer.rsc, 4000, "no namespace: {}", answer.body);
    assert_absent(&cse, "/cse-in/app/mismatch").await;
    let update = cse
        .update("/cse-in/app/box", &aei, json!({"m2m:ae": {"lbl": ["x"]}}))
        .await;
    assert_eq!(update.rsc, 4000, "{}", update.body);
}

#[tokio::test]
async fn unknown_resource_type_is_refused_with_4000() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    let answer = cse
        .create(
            "/cse-in/app",
            &aei,
            999,
            json!({"m2m:xyz": {"rn": "strange"}}),
        )
        .await;
    assert_eq!(answer.rsc, 4000, "{}", answer.body);
    assert_eq!(answer.status, 400);
    assert_absent(&cse, "/cse-in/app/strange").await;
}

#[tokio::test]
async fn non_numeric_resource_type_is_refused_with_4000() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    for content_type in [
        "application/json;ty=abc",
        "application/json;ty=",
        "application/json;ty=3.0",
        "application/json;ty=-3",
    ] {
        let answer = raw(
            &cse,
            Method::POST,
            "/cse-in/app",
            &create_headers(&aei, content_type),
            r#"{"m2m:cnt": {"rn": "nonnum"}}"#,
        )
        .await;
        assert_eq!(answer.rsc, 4000, "{content_type}: {}", answer.body);
        assert_eq!(answer.status, 400);
    }
    assert_absent(&cse, "/cse-in/app/nonnum").await;
}

#[tokio::test]
async fn resource_type_with_spaces_around_it_is_accepted() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    let answer = raw(
        &cse,
        Method::POST,
        "/cse-in/app",
        &create_headers(&aei, "application/json; ty=3"),
        r#"{"m2m:cnt": {"rn": "spaced"}}"#,
    )
    .await;
    assert_eq!(answer.rsc, 2001, "{}", answer.body);
    assert_eq!(answer.body["m2m:cnt"]["rn"], json!("spaced"));
}

#[tokio::test]
async fn onem2m_resource_media_type_is_accepted() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    let headers = create_headers(&aei, "application/vnd.onem2m-res+json;ty=3");
    let answer = raw(
        &cse,
        Method::POST,
        "/cse-in/app",
        &headers,
        r#"{"m2m:cnt": {"rn": "vnd"}}"#,
    )
    .await;
    assert_eq!(answer.rsc, 2001, "{}", answer.body);
}

#[tokio::test]
async fn unsupported_content_type_is_refused_with_4015() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    for content_type in ["text/plain;ty=3", "application/yaml;ty=3"] {
        let answer = raw(
            &cse,
            Method::POST,
            "/cse-in/app",
            &create_headers(&aei, content_type),
            r#"{"m2m:cnt": {"rn": "plain"}}"#,
        )
        .await;
        assert_eq!(answer.rsc, 4015, "{content_type}: {}", answer.body);
        assert_eq!(answer.status, 415);
    }
    // XML is supported: a JSON body declared as XML is malformed XML
    let answer = raw(
        &cse,
        Method::POST,
        "/cse-in/app",
        &create_headers(&aei, "application/xml;ty=3"),
        r#"{"m2m:cnt": {"rn": "plain"}}"#,
    )
    .await;
    assert_eq!(answer.rsc, 4000, "{}", answer.body);
    assert_absent(&cse, "/cse-in/app/plain").await;
}

#[tokio::test]
async fn body_larger_than_the_limit_is_refused_with_4000() {
    let options = HttpOptions {
        max_body_bytes: 1000,
        ..Default::default()
    };
    let cse = common::start_with(
        CseConfig {
            sp_id: "test.example.com".into(),
            ..CseConfig::default()
        },
        options,
    )
    .await;
    let aei = setup(&cse).await;
    let big = "x".repeat(2000);
    let answer = cse
        .create(
            "/cse-in/app/box",
            &aei,
            4,
            json!({"m2m:cin": {"rn": "big", "con": big}}),
        )
        .await;
    assert_eq!(answer.rsc, 4000, "{}", answer.body);
    // the transport's own answer for the case, as CoAP's 4.13
    assert_eq!(answer.status, 413);
    assert_absent(&cse, "/cse-in/app/box/big").await;
    assert_eq!(cni(&cse).await, json!(0));
    // Just under the limit is fine.
    let small = "y".repeat(900);
    let ok = cse
        .create(
            "/cse-in/app/box",
            &aei,
            4,
            json!({"m2m:cin": {"rn": "small", "con": small}}),
        )
        .await;
    assert_eq!(ok.rsc, 2001, "{}", ok.body);
}

#[tokio::test]
async fn missing_release_version_indicator_is_refused_with_4001() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    let headers = [
        ("X-M2M-Origin", aei.as_str()),
        ("X-M2M-RI", "no-rvi"),
        ("Content-Type", "application/json;ty=3"),
    ];
    let answer = raw(
        &cse,
        Method::POST,
        "/cse-in/app",
        &headers,
        r#"{"m2m:cnt": {"rn": "norvi"}}"#,
    )
    .await;
    assert_eq!(answer.rsc, 4001, "{}", answer.body);
    assert_eq!(answer.status, 501);
    assert_absent(&cse, "/cse-in/app/norvi").await;
    let get = raw(
        &cse,
        Method::GET,
        "/cse-in/app",
        &[("X-M2M-Origin", aei.as_str()), ("X-M2M-RI", "no-rvi")],
        "",
    )
    .await;
    assert_eq!(get.rsc, 4001, "{}", get.body);
    assert!(get.body.get("m2m:ae").is_none());
}

#[tokio::test]
async fn unsupported_release_version_is_refused_with_4001() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    for rvi in ["9", "1", "x"] {
        let headers = [
            ("X-M2M-Origin", aei.as_str()),
            ("X-M2M-RI", "rvi"),
            ("X-M2M-RVI", rvi),
            ("Content-Type", "application/json;ty=3"),
        ];
        let refused = raw(
            &cse,
            Method::POST,
            "/cse-in/app",
            &headers,
            r#"{"m2m:cnt": {"rn": "other"}}"#,
        )
        .await;
        assert_eq!(refused.rsc, 4001, "rvi {rvi}: {}", refused.body);
        assert_eq!(refused.status, 501);
    }
    assert_absent(&cse, "/cse-in/app/other").await;
}

#[tokio::test]
async fn missing_request_identifier_is_refused_with_4000() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    let headers = [
        ("X-M2M-Origin", aei.as_str()),
        ("X-M2M-RVI", "4"),
        ("Content-Type", "application/json;ty=3"),
    ];
    let answer = raw(
        &cse,
        Method::POST,
        "/cse-in/app",
        &headers,
        r#"{"m2m:cnt": {"rn": "nori"}}"#,
    )
    .await;
    assert_eq!(answer.rsc, 4000, "{}", answer.body);
    assert_eq!(answer.status, 400);
    assert_absent(&cse, "/cse-in/app/nori").await;
}

#[tokio::test]
async fn missing_originator_on_a_non_ae_create_is_refused_with_4000() {
    let cse = common::start().await;
    setup(&cse).await;
    let answer = cse
        .send(
            Method::POST,
            "/cse-in/app/box",
            None,
            Some(4),
            Some(json!({"m2m:cin": {"rn": "anon", "con": "x"}})),
            &[],
        )
        .await;
    assert_eq!(answer.rsc, 4000, "{}", answer.body);
    let empty = cse
        .send(
            Method::POST,
            "/cse-in/app/box",
            Some(""),
            Some(4),
            Some(json!({"m2m:cin": {"rn": "anon", "con": "x"}})),
            &[],
        )
        .await;
    assert_eq!(empty.rsc, 4000, "{}", empty.body);
    assert_absent(&cse, "/cse-in/app/box/anon").await;
    assert_eq!(cni(&cse).await, json!(0));
    let get = cse
        .send(Method::GET, "/cse-in/app/box", None, None, None, &[])
        .await;
    assert_eq!(get.rsc, 4000, "{}", get.body);
}

#[tokio::test]
async fn resource_type_on_a_retrieve_update_or_delete_is_refused_with_4000() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    let get = cse
        .send(
            Method::GET,
            "/cse-in/app/box",
            Some(&aei),
            Some(3),
            None,
            &[],
        )
        .await;
    assert_eq!(get.rsc, 4000, "{}", get.body);
    let put = cse
        .send(
            Method::PUT,
            "/cse-in/app/box",
            Some(&aei),
            Some(3),
            Some(json!({"m2m:cnt": {"lbl": ["x"]}})),
            &[],
        )
        .await;
    assert_eq!(put.rsc, 4000, "{}", put.body);
    let delete = cse
        .send(
            Method::DELETE,
            "/cse-in/app/box",
            Some(&aei),
            Some(3),
            None,
            &[],
        )
        .await;
    assert_eq!(delete.rsc, 4000, "{}", delete.body);
    let read = cse.retrieve("/cse-in/app/box", &aei).await;
    assert_eq!(read.rsc, 2000, "still there");
    assert!(read.at("/m2m:cnt/lbl").is_null(), "not updated");
}

#[tokio::test]
async fn expiration_time_in_the_past_is_refused_with_4000() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    let past = time::format(time::after_ms(time::now(), -60_000));
    let answer = cse
        .create(
            "/cse-in/app",
            &aei,
            3,
            json!({"m2m:cnt": {"rn": "expired", "et": past}}),
        )
        .await;
    assert_eq!(answer.rsc, 4000, "{}", answer.body);
    assert_absent(&cse, "/cse-in/app/expired").await;
    let update = cse
        .update("/cse-in/app/box", &aei, json!({"m2m:cnt": {"et": past}}))
        .await;
    assert_eq!(update.rsc, 4000, "{}", update.body);
    assert_eq!(cse.retrieve("/cse-in/app/box", &aei).await.rsc, 2000);
}

#[tokio::test]
async fn request_expiration_in_the_past_is_refused_with_4008() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    let past = time::format(time::after_ms(time::now(), -60_000));
    let answer = cse
        .send(
            Method::POST,
            "/cse-in/app",
            Some(&aei),
            Some(3),
            Some(json!({"m2m:cnt": {"rn": "late"}})),
            &[("X-M2M-RET", &past)],
        )
        .await;
    assert_eq!(answer.rsc, 4008, "{}", answer.body);
    assert!(
        matches!(answer.status, 408 | 504),
        "HTTP status {}",
        answer.status
    );
    assert_absent(&cse, "/cse-in/app/late").await;
    // In the future (absolute or relative) is fine.
    let future = time::format(time::after_ms(time::now(), 60_000));
    for rqet in [future.as_str(), "PT1M", "60000"] {
        let ok = cse
            .send(
                Method::GET,
                "/cse-in/app/box",
                Some(&aei),
                None,
                None,
                &[("X-M2M-RET", rqet)],
            )
            .await;
        assert_eq!(ok.rsc, 2000, "rqet {rqet}: {}", ok.body);
    }
}

#[tokio::test]
async fn malformed_request_expiration_is_refused_with_4000() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    let answer = cse
        .send(
            Method::GET,
            "/cse-in/app/box",
            Some(&aei),
            None,
            None,
            &[("X-M2M-RET", "soon")],
        )
        .await;
    assert_eq!(answer.rsc, 4000, "{}", answer.body);
}

#[tokio::test]
async fn http_method_patch_is_refused_with_4005() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    let answer = cse
        .send(
            Method::PATCH,
            "/cse-in/app/box",
            Some(&aei),
            None,
            Some(json!({"m2m:cnt": {"lbl": ["x"]}})),
            &[],
        )
        .await;
    assert_eq!(answer.rsc, 4005, "{}", answer.body);
    assert_eq!(answer.status, 405);
    let read = cse.retrieve("/cse-in/app/box", &aei).await;
    assert_eq!(read.rsc, 2000);
    assert!(read.at("/m2m:cnt/lbl").is_null());
}

#[tokio::test]
async fn non_numeric_query_parameters_are_refused_with_4000() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    for query in ["rcn=one", "drt=x", "lim=-1", "ty=container"] {
        let answer = cse
            .send(
                Method::GET,
                &format!("/cse-in/app/box?{query}"),
                Some(&aei),
                None,
                None,
                &[],
            )
            .await;
        assert_eq!(answer.rsc, 4000, "{query}: {}", answer.body);
    }
}

#[tokio::test]
async fn invalid_event_category_header_is_refused_with_4000() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    let answer = cse
        .send(
            Method::GET,
            "/cse-in/app/box",
            Some(&aei),
            None,
            None,
            &[("X-M2M-EC", "urgent")],
        )
        .await;
    assert_eq!(answer.rsc, 4000, "{}", answer.body);
}

#[tokio::test]
async fn invalid_resource_name_is_refused_with_4000() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    for rn in ["a b", "x?", "a/b", "ä", "a#b", ""] {
        let answer = cse
            .create("/cse-in/app", &aei, 3, json!({"m2m:cnt": {"rn": rn}}))
            .await;
        assert_eq!(answer.rsc, 4000, "rn {rn:?}: {}", answer.body);
    }
    let listing = cse
        .send(
            Method::GET,
            "/cse-in/app?rcn=6",
            Some(&aei),
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(
        listing.at("/m2m:rrl/rrf").as_array().map(Vec::len),
        Some(1),
        "only box: {}",
        listing.body
    );
}
