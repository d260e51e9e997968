//! XML serialization over HTTP (TS-0004 §8.3, TS-0009 §6: `application/xml`,
//! `application/vnd.onem2m-res+xml;ty=N`): resources created with XML bodies,
//! representations, discovery results, errors and notifications in XML, and
//! the same resources seen in JSON.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{json, Value};
use urbis_model::Serialization;

const M2M: &str = r#"xmlns:m2m="http://www.onem2m.org/xml/protocols""#;

struct XmlAnswer {
    rsc: u16,
    status: u16,
    content_type: String,
    raw: String,
    value: Value,
}

static RQI: AtomicU64 = AtomicU64::new(1);

async fn send(
    cse: &common::TestCse,
    method: reqwest::Method,
    path: &str,
    originator: &str,
    content_type: Option<&str>,
    body: Option<&str>,
) -> XmlAnswer {
    let rqi = format!("x{}", RQI.fetch_add(1, Ordering::Relaxed));
    let mut builder = reqwest::Client::new()
        .request(method, format!("{}{}", cse.base, path))
        .header("X-M2M-Origin", originator)
        .header("X-M2M-RI", &rqi)
        .header("X-M2M-RVI", "4")
        .header("Accept", "application/xml");
    if let Some(content_type) = content_type {
        builder = builder.header("Content-Type", content_type);
    }
    if let Some(body) = body {
        builder = builder.body(body.to_owned());
    }
    let response = builder.send().await.expect("request");
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let rsc = header("x-m2m-rsc").parse().unwrap_or(0);
    assert_eq!(header("x-m2m-ri"), rqi, "X-M2M-RI echoed");
    let content_type = header("content-type");
    let raw = response.text().await.expect("body");
    let value = if raw.is_empty() {
        Value::Null
    } else {
        urbis_codec::decode(raw.as_bytes(), Serialization::Xml)
            .unwrap_or_else(|e| panic!("answer is not XML ({}): {raw}", e.message))
    };
    XmlAnswer {
        rsc,
        status,
        content_type,
        raw,
        value,
    }
}

async fn create(
    cse: &common::TestCse,
    path: &str,
    originator: &str,
    content_type: &str,
    body: &str,
) -> XmlAnswer {
    send(
        cse,
        reqwest::Method::POST,
        path,
        originator,
        Some(content_type),
        Some(body),
    )
    .await
}

async fn retrieve(cse: &common::TestCse, path: &str, originator: &str) -> XmlAnswer {
    send(cse, reqwest::Method::GET, path, originator, None, None).await
}

/// Register AE `name` with an XML body; returns its AE-ID.
async fn register(cse: &common::TestCse, name: &str, extra: &str) -> String {
    let body = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<m2m:ae {M2M} rn="{name}">
    <api>Nxml</api>
    <rr>{}</rr>
    <srv>3 4</srv>
    {extra}
</m2m:ae>"#,
        !extra.is_empty()
    );
    let answer = create(
        cse,
        "/cse-in",
        &format!("C{name}"),
        "application/xml;ty=2",
        &body,
    )
    .await;
    assert_eq!(answer.rsc, 2001, "{}", answer.raw);
    answer.value["m2m:ae"]["aei"]
        .as_str()
        .expect("aei")
        .to_owned()
}

#[tokio::test]
async fn ae_container_and_content_instance_created_and_retrieved_in_xml() {
    let cse = common::start().await;
    let aei = register(&cse, "meter", "").await;

    let container = create(
        &cse,
        "/cse-in/meter",
        &aei,
        "application/vnd.onem2m-res+xml; ty=3",
        &format!(r#"<m2m:cnt {M2M} rn="power"><lbl>kitchen floor-1</lbl><mni>5</mni><disr>false</disr></m2m:cnt>"#),
    )
    .await;
    assert_eq!(container.rsc, 2001, "{}", container.raw);
    assert_eq!(container.status, 201);
    assert_eq!(container.content_type, "application/xml");
    assert!(
        container.raw.starts_with("<?xml"),
        "an XML document: {}",
        container.raw
    );
    assert!(container.raw.contains(r#"rn="power""#), "{}", container.raw);
    assert!(container.raw.contains("<cni>0</cni>"), "{}", container.raw);

    let instance = create(
        &cse,
        "/cse-in/meter/power",
        &aei,
        "application/xml;ty=4",
        &format!(r#"<m2m:cin {M2M}><cnf>text/plain:0</cnf><con>42</con></m2m:cin>"#),
    )
    .await;
    assert_eq!(instance.rsc, 2001, "{}", instance.raw);
    assert_eq!(instance.value["m2m:cin"]["con"], json!("42"));
    assert_eq!(instance.value["m2m:cin"]["cs"], json!(2));

    let latest = retrieve(&cse, "/cse-in/meter/power/la", &aei).await;
    assert_eq!(latest.rsc, 2000, "{}", latest.raw);
    assert_eq!(latest.content_type, "application/xml");
    assert!(latest.raw.contains("<con>42</con>"), "{}", latest.raw);
    assert_eq!(latest.value["m2m:cin"]["ty"], json!(4));

    // what XML created is typed as JSON clients expect
    let seen = cse.retrieve("/cse-in/meter/power", &aei).await;
    assert_eq!(seen.rsc, 2000);
    assert_eq!(seen.at("/m2m:cnt/mni"), &json!(5));
    assert_eq!(seen.at("/m2m:cnt/lbl"), &json!(["kitchen", "floor-1"]));
    assert_eq!(seen.at("/m2m:cnt/disr"), &json!(false));
    assert_eq!(seen.at("/m2m:cnt/cni"), &json!(1));
    let ae = cse.retrieve("/cse-in/meter", &aei).await;
    assert_eq!(ae.at("/m2m:ae/srv"), &json!(["3", "4"]));
    assert_eq!(ae.at("/m2m:ae/rr"), &json!(false));
}

#[tokio::test]
async fn update_with_xml_and_null_removes_an_attribute() {
    let cse = common::start().await;
    let aei = register(&cse, "app", "").await;
    let made = create(
        &cse,
        "/cse-in/app",
        &aei,
        "application/xml;ty=3",
        &format!(r#"<m2m:cnt {M2M} rn="box"><mni>5</mni><mbs>100</mbs></m2m:cnt>"#),
    )
    .await;
    assert_eq!(made.rsc, 2001, "{}", made.raw);
    let updated = send(
        &cse,
        reqwest::Method::PUT,
        "/cse-in/app/box",
        &aei,
        Some("application/xml"),
        Some(&format!(
            r#"<m2m:cnt {M2M}><mni>7</mni><mbs></mbs></m2m:cnt>"#
        )),
    )
    .await;
    assert_eq!(updated.rsc, 2004, "{}", updated.raw);
    assert_eq!(updated.value["m2m:cnt"]["mni"], json!(7));
    let seen = cse.retrieve("/cse-in/app/box", &aei).await;
    assert_eq!(seen.at("/m2m:cnt/mni"), &json!(7));
    assert_eq!(seen.at("/m2m:cnt/mbs"), &Value::Null, "{}", seen.body);
}

#[tokio::test]
async fn discovery_result_is_a_uri_list_in_xml() {
    let cse = common::start().await;
    let aei = register(&cse, "app", "").await;
    for name in ["a", "b"] {
        let made = create(
            &cse,
            "/cse-in/app",
            &aei,
            "application/xml;ty=3",
            &format!(r#"<m2m:cnt {M2M} rn="{name}"><lbl>found</lbl></m2m:cnt>"#),
        )
        .await;
        assert_eq!(made.rsc, 2001, "{}", made.raw);
    }
    let found = retrieve(&cse, "/cse-in?fu=1&lbl=found", &aei).await;
    assert_eq!(found.rsc, 2000, "{}", found.raw);
    assert!(found.raw.contains("<m2m:uril "), "{}", found.raw);
    let mut uris: Vec<&str> = found.value["m2m:uril"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    uris.sort_unstable();
    assert_eq!(uris, ["cse-in/app/a", "cse-in/app/b"]);

    let references = retrieve(&cse, "/cse-in/app?rcn=6", &aei).await;
    assert_eq!(references.rsc, 2000, "{}", references.raw);
    assert!(
        references
            .raw
            .contains(r#"<rrf nm="a" typ="3">cse-in/app/a</rrf>"#),
        "{}",
        references.raw
    );
    assert_eq!(
        references.value["m2m:rrl"]["rrf"][1],
        json!({"nm": "b", "typ": 3, "val": "cse-in/app/b"})
    );
    let with_attributes = retrieve(&cse, "/cse-in/app?rcn=5", &aei).await;
    assert_eq!(with_attributes.rsc, 2000, "{}", with_attributes.raw);
    assert!(
        with_attributes
            .raw
            .contains(r#"<ch nm="a" typ="3">cse-in/app/a</ch>"#),
        "{}",
        with_attributes.raw
    );
    let with_children = retrieve(&cse, "/cse-in/app?rcn=4", &aei).await;
    assert_eq!(with_children.rsc, 2000, "{}", with_children.raw);
    assert_eq!(
        with_children.value["m2m:ae"]["m2m:cnt"][0]["lbl"],
        json!(["found"]),
        "{}",
        with_children.raw
    );
}

#[tokio::test]
async fn errors_are_debug_info_in_xml() {
    let cse = common::start().await;
    let aei = register(&cse, "app", "").await;
    let missing = retrieve(&cse, "/cse-in/app/nothing", &aei).await;
    assert_eq!(missing.rsc, 4004);
    assert_eq!(missing.status, 404);
    assert_eq!(missing.content_type, "application/xml");
    assert!(missing.raw.contains("<m2m:dbg "), "{}", missing.raw);
    assert!(missing.value["m2m:dbg"].is_string(), "{}", missing.raw);

    // a value of the wrong kind reaches the attribute check and is named there
    let wrong = create(
        &cse,
        "/cse-in/app",
        &aei,
        "application/xml;ty=3",
        &format!(r#"<m2m:cnt {M2M} rn="w"><mni>many</mni></m2m:cnt>"#),
    )
    .await;
    assert_eq!(wrong.rsc, 4000, "{}", wrong.raw);
    assert!(
        wrong.value["m2m:dbg"]
            .as_str()
            .is_some_and(|m| m.contains("mni")),
        "{}",
        wrong.raw
    );
}

#[tokio::test]
async fn malformed_xml_is_bad_request_and_creates_nothing() {
    let cse = common::start().await;
    let aei = register(&cse, "app", "").await;
    let bodies = [
        format!(r#"<m2m:cnt {M2M} rn="bad"><mni>1</mni>"#),
        format!(r#"<m2m:cnt {M2M} rn="bad"><mni>1</mbs></m2m:cnt>"#),
        format!(
            r#"<!DOCTYPE m [<!ENTITY big "xxxxxxxxxx">]><m2m:cnt {M2M} rn="bad"><lbl>&big;</lbl></m2m:cnt>"#
        ),
        format!(r#"<m2m:cnt {M2M} rn="bad"><lbl>&ext;</lbl></m2m:cnt>"#),
        format!(r#"<m2m:cnt {M2M} rn="bad"/><m2m:cnt {M2M} rn="bad2"/>"#),
    ];
    for body in &bodies {
        let answer = create(&cse, "/cse-in/app", &aei, "application/xml;ty=3", body).await;
        assert_eq!(answer.rsc, 4000, "{body}: {}", answer.raw);
        assert_eq!(answer.status, 400);
        assert!(
            answer.value["m2m:dbg"]
                .as_str()
                .is_some_and(|m| m.contains("malformed XML")),
            "{}",
            answer.raw
        );
    }
    let nothing = retrieve(&cse, "/cse-in/app/bad", &aei).await;
    assert_eq!(nothing.rsc, 4004, "{}", nothing.raw);
    let children = cse.retrieve("/cse-in/app?rcn=6", &aei).await;
    assert_eq!(children.at("/m2m:ae/ch"), &Value::Null, "{}", children.body);
    // and the server is still there
    let alive = retrieve(&cse, "/cse-in", &aei).await;
    assert_eq!(alive.rsc, 2000);
}

#[tokio::test]
async fn the_cse_base_offers_xml() {
    let cse = common::start().await;
    let base = retrieve(&cse, "/cse-in", common::ADMIN).await;
    assert_eq!(base.rsc, 2000, "{}", base.raw);
    assert!(
        base.raw
            .contains(r#"<m2m:cb xmlns:m2m="http://www.onem2m.org/xml/protocols" rn="cse-in">"#),
        "{}",
        base.raw
    );
    assert_eq!(
        base.value["m2m:cb"]["csz"],
        json!(["application/json", "application/cbor", "application/xml"])
    );
    assert!(base.value["m2m:cb"]["srt"]
        .as_array()
        .is_some_and(|types| types.contains(&json!(4))));
}

#[tokio::test]
async fn notifications_go_out_in_xml_when_the_target_prefers_it() {
    let cse = common::start().await;
    let receiver = common::receiver().await;
    let aei = register(
        &cse,
        "listener",
        &format!(
            "<poa>{}</poa><csz>application/xml application/json</csz>",
            receiver.url
        ),
    )
    .await;
    let made = create(
        &cse,
        "/cse-in/listener",
        &aei,
        "application/xml;ty=3",
        &format!(r#"<m2m:cnt {M2M} rn="box"/>"#),
    )
    .await;
    assert_eq!(made.rsc, 2001, "{}", made.raw);
    let sub = create(
        &cse,
        "/cse-in/listener/box",
        &aei,
        "application/xml;ty=23",
        &format!(
            r#"<m2m:sub {M2M} rn="sub"><enc><net>3</net></enc><nu>{aei}</nu><nct>1</nct></m2m:sub>"#
        ),
    )
    .await;
    assert_eq!(sub.rsc, 2001, "{}", sub.raw);
    assert_eq!(
        sub.value["m2m:sub"]["enc"]["net"],
        json!([3]),
        "{}",
        sub.raw
    );

    let cin = cse
        .create(
            "/cse-in/listener/box",
            &aei,
            4,
            json!({"m2m:cin": {"con": "hello & <bye>"}}),
        )
        .await;
    assert_eq!(cin.rsc, 2001, "{}", cin.body);

    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    let notification = loop {
        let found = receiver
            .received
            .lock()
            .await
            .iter()
            .find(|(_, body)| body.pointer("/m2m:sgn/nev").is_some())
            .cloned();
        if let Some(found) = found {
            break found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no notification arrived"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let (headers, body) = notification;
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert_eq!(content_type, "application/xml");
    assert_eq!(body["m2m:sgn"]["nev"]["net"], json!(3), "{body}");
    assert_eq!(
        body["m2m:sgn"]["nev"]["rep"]["m2m:cin"]["con"],
        json!("hello & <bye>"),
        "{body}"
    );
    assert!(body["m2m:sgn"]["sur"].is_string(), "{body}");
}

#[tokio::test]
async fn a_notification_uri_can_ask_for_xml() {
    let cse = common::start().await;
    let receiver = common::receiver().await;
    let aei = register(&cse, "app", "").await;
    let made = create(
        &cse,
        "/cse-in/app",
        &aei,
        "application/xml;ty=3",
        &format!(r#"<m2m:cnt {M2M} rn="box"/>"#),
    )
    .await;
    assert_eq!(made.rsc, 2001, "{}", made.raw);
    let target = format!("{}/n?ct=xml", receiver.url);
    let sub = create(
        &cse,
        "/cse-in/app/box",
        &aei,
        "application/xml;ty=23",
        &format!(
            r#"<m2m:sub {M2M} rn="sub"><nu>{}</nu></m2m:sub>"#,
            target.replace('&', "&amp;")
        ),
    )
    .await;
    assert_eq!(sub.rsc, 2001, "{}", sub.raw);
    // the verification request went out in XML and was understood
    let received = receiver.wait_for(1).await;
    let (headers, _) = receiver.received.lock().await[0].clone();
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/xml")
    );
    assert_eq!(received[0]["m2m:sgn"]["vrq"], json!(true), "{:?}", received);
}

#[tokio::test]
async fn flex_container_custom_attributes_keep_their_types_through_xml() {
    let cse = common::start().await;
    let aei = cse.register_ae("home", None).await;
    let made = cse
        .create(
            "/cse-in/home",
            &aei,
            28,
            json!({"cod:tempe": {"rn": "temp", "cnd": "org.onem2m.common.moduleclass.temperature",
                                 "curT0": 23.5, "unit": "C", "my attr": 1}}),
        )
        .await;
    assert_eq!(made.rsc, 2001, "{}", made.body);
    // a key that is no XML name cannot be answered in XML
    let refused = retrieve(&cse, "/cse-in/home/temp", &aei).await;
    assert_eq!(refused.rsc, 5207, "{}", refused.raw);
    assert_eq!(refused.status, 406);
    assert!(refused.value["m2m:dbg"].is_string(), "{}", refused.raw);

    let removed = cse
        .update(
            "/cse-in/home/temp",
            &aei,
            json!({"cod:tempe": {"my attr": null}}),
        )
        .await;
    assert_eq!(removed.rsc, 2004, "{}", removed.body);
    let seen = retrieve(&cse, "/cse-in/home/temp", &aei).await;
    assert_eq!(seen.rsc, 2000, "{}", seen.raw);
    assert!(
        seen.raw
            .starts_with(r#"<?xml version="1.0" encoding="UTF-8"?><cod:tempe "#),
        "{}",
        seen.raw
    );
    assert!(
        seen.raw
            .contains(r#"<curT0 xsi:type="xs:double">23.5</curT0>"#),
        "{}",
        seen.raw
    );
    assert_eq!(seen.value["cod:tempe"]["curT0"], json!(23.5));

    // an XML client updates a custom attribute with a type
    let updated = send(
        &cse,
        reqwest::Method::PUT,
        "/cse-in/home/temp",
        &aei,
        Some("application/xml"),
        Some(
            r#"<cod:tempe xmlns:cod="http://www.onem2m.org/xml/protocols/cod" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xs="http://www.w3.org/2001/XMLSchema"><curT0 xsi:type="xs:double">19</curT0><unit>K</unit></cod:tempe>"#,
        ),
    )
    .await;
    assert_eq!(updated.rsc, 2004, "{}", updated.raw);
    let json_view = cse.retrieve("/cse-in/home/temp", &aei).await;
    assert_eq!(json_view.at("/cod:tempe/curT0"), &json!(19));
    assert_eq!(json_view.at("/cod:tempe/unit"), &json!("K"));
}
