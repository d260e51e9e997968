//! Addressing (TS-0001 §7.2, TS-0004 §6.2.3) and the HTTP binding's header
//! rules (TS-0009 §6): every form of target address, response headers.

mod common;

use reqwest::Method;
use serde_json::json;

/// AE `app` with container `box`; returns (AE-ID, container ri).
async fn setup(cse: &common::TestCse) -> (String, String) {
    let aei = cse.register_ae("app", None).await;
    let cnt = cse
        .create("/cse-in/app", &aei, 3, json!({"m2m:cnt": {"rn": "box"}}))
        .await;
    assert_eq!(cnt.rsc, 2001, "{}", cnt.body);
    (aei, cnt.at("/m2m:cnt/ri").as_str().expect("ri").to_owned())
}

#[tokio::test]
async fn retrieve_by_cse_relative_structured_address() {
    let cse = common::start().await;
    let (aei, ri) = setup(&cse).await;
    let answer = cse.retrieve("/cse-in/app/box", &aei).await;
    assert_eq!(answer.rsc, 2000, "{}", answer.body);
    assert_eq!(answer.status, 200);
    assert_eq!(answer.at("/m2m:cnt/ri"), &json!(ri));
    assert_eq!(answer.at("/m2m:cnt/rn"), &json!("box"));
}

#[tokio::test]
async fn retrieve_the_cse_base_by_its_name() {
    let cse = common::start().await;
    let answer = cse.retrieve("/cse-in", common::ADMIN).await;
    assert_eq!(answer.rsc, 2000, "{}", answer.body);
    assert_eq!(answer.at("/m2m:cb/ty"), &json!(5));
    assert_eq!(answer.at("/m2m:cb/ri"), &json!("id-in"));
    assert_eq!(answer.at("/m2m:cb/csi"), &json!("/id-in"));
    assert_eq!(answer.at("/m2m:cb/rn"), &json!("cse-in"));
    assert!(
        answer
            .at("/m2m:cb/srv")
            .as_array()
            .is_some_and(|v| v.contains(&json!("4"))),
        "{}",
        answer.body
    );
}

#[tokio::test]
async fn retrieve_by_the_hyphen_shortcut_for_the_cse_base() {
    let cse = common::start().await;
    let (aei, ri) = setup(&cse).await;
    let answer = cse.retrieve("/-/app/box", &aei).await;
    assert_eq!(answer.rsc, 2000, "{}", answer.body);
    assert_eq!(answer.at("/m2m:cnt/ri"), &json!(ri));
    let base = cse.retrieve("/-", common::ADMIN).await;
    assert_eq!(base.rsc, 2000, "{}", base.body);
    assert_eq!(base.at("/m2m:cb/ri"), &json!("id-in"));
}

#[tokio::test]
async fn retrieve_by_unstructured_resource_id() {
    let cse = common::start().await;
    let (aei, ri) = setup(&cse).await;
    let answer = cse.retrieve(&format!("/{ri}"), &aei).await;
    assert_eq!(answer.rsc, 2000, "{}", answer.body);
    assert_eq!(answer.at("/m2m:cnt/rn"), &json!("box"));
    // The AE by its resource ID (= AE-ID).
    let ae = cse.retrieve(&format!("/{aei}"), &aei).await;
    assert_eq!(ae.rsc, 2000);
    assert_eq!(ae.at("/m2m:ae/rn"), &json!("app"));
}

#[tokio::test]
async fn retrieve_by_sp_relative_structured_address() {
    let cse = common::start().await;
    let (aei, ri) = setup(&cse).await;
    let answer = cse.retrieve("/~/id-in/cse-in/app/box", &aei).await;
    assert_eq!(answer.rsc, 2000, "{}", answer.body);
    assert_eq!(answer.at("/m2m:cnt/ri"), &json!(ri));
}

#[tokio::test]
async fn retrieve_by_sp_relative_unstructured_address() {
    let cse = common::start().await;
    let (aei, ri) = setup(&cse).await;
    let answer = cse.retrieve(&format!("/~/id-in/{ri}"), &aei).await;
    assert_eq!(answer.rsc, 2000, "{}", answer.body);
    assert_eq!(answer.at("/m2m:cnt/rn"), &json!("box"));
    // `/~/id-in` alone is a CSE-ID, not a resource address.
    let bare = cse.retrieve("/~/id-in", common::ADMIN).await;
    assert_eq!(bare.rsc, 4000, "{}", bare.body);
    let bare = cse
        .retrieve("/_/test.example.com/id-in", common::ADMIN)
        .await;
    assert_eq!(bare.rsc, 4000, "{}", bare.body);
    // the CSEBase by its resource ID still works
    let base = cse.retrieve("/~/id-in/id-in", common::ADMIN).await;
    assert_eq!(base.at("/m2m:cb/ri"), &json!("id-in"));
}

#[tokio::test]
async fn retrieve_by_absolute_structured_address() {
    let cse = common::start().await;
    let (aei, ri) = setup(&cse).await;
    let answer = cse
        .retrieve("/_/test.example.com/id-in/cse-in/app/box", &aei)
        .await;
    assert_eq!(answer.rsc, 2000, "{}", answer.body);
    assert_eq!(answer.at("/m2m:cnt/ri"), &json!(ri));
    let unstructured = cse
        .retrieve(&format!("/_/test.example.com/id-in/{ri}"), &aei)
        .await;
    assert_eq!(unstructured.rsc, 2000, "{}", unstructured.body);
}

#[tokio::test]
async fn create_by_sp_relative_and_absolute_parent_addresses() {
    let cse = common::start().await;
    let (aei, ri) = setup(&cse).await;
    let sp = cse
        .create(
            "/~/id-in/cse-in/app/box",
            &aei,
            4,
            json!({"m2m:cin": {"rn": "one", "con": "1"}}),
        )
        .await;
    assert_eq!(sp.rsc, 2001, "{}", sp.body);
    assert_eq!(sp.at("/m2m:cin/pi"), &json!(ri));
    let abs = cse
        .create(
            &format!("/_/test.example.com/id-in/{ri}"),
            &aei,
            4,
            json!({"m2m:cin": {"rn": "two", "con": "2"}}),
        )
        .await;
    assert_eq!(abs.rsc, 2001, "{}", abs.body);
    let unstructured = cse
        .create(
            &format!("/{ri}"),
            &aei,
            4,
            json!({"m2m:cin": {"rn": "three", "con": "3"}}),
        )
        .await;
    assert_eq!(unstructured.rsc, 2001, "{}", unstructured.body);
    assert_eq!(
        cse.retrieve("/cse-in/app/box", &aei)
            .await
            .at("/m2m:cnt/cni"),
        &json!(3)
    );
}

#[tokio::test]
async fn unstructured_id_followed_by_names_addresses_a_descendant() {
    let cse = common::start().await;
    let (aei, _) = setup(&cse).await;
    cse.create(
        "/cse-in/app/box",
        &aei,
        4,
        json!({"m2m:cin": {"rn": "item", "con": "x"}}),
    )
    .await;
    let answer = cse.retrieve(&format!("/{aei}/box/item"), &aei).await;
    assert_eq!(answer.rsc, 2000, "{}", answer.body);
    assert_eq!(answer.at("/m2m:cin/con"), &json!("x"));
}

#[tokio::test]
async fn other_cse_or_service_provider_is_not_reachable() {
    let cse = common::start().await;
    let other_cse = cse.retrieve("/~/id-other/cse-in", common::ADMIN).await;
    assert_eq!(other_cse.rsc, 5103, "{}", other_cse.body);
    let other_sp = cse
        .retrieve("/_/other.example.com/id-in/cse-in", common::ADMIN)
        .await;
    // No route to another service provider is configured: the target does not exist here.
    assert_eq!(other_sp.rsc, 4004, "{}", other_sp.body);
}

#[tokio::test]
async fn address_with_a_trailing_slash_is_refused_with_4000() {
    let cse = common::start().await;
    let (aei, _) = setup(&cse).await;
    for path in ["/cse-in/app/box/", "/cse-in/"] {
        let answer = cse.retrieve(path, &aei).await;
        assert_eq!(answer.rsc, 4000, "{path}: {}", answer.body);
        assert_eq!(answer.status, 400);
    }
    let create = cse
        .create("/cse-in/app/", &aei, 3, json!({"m2m:cnt": {"rn": "slash"}}))
        .await;
    assert_eq!(create.rsc, 4000, "{}", create.body);
    assert_eq!(cse.retrieve("/cse-in/app/slash", &aei).await.rsc, 4004);
}

#[tokio::test]
async fn unknown_resource_is_not_found_with_4004() {
    let cse = common::start().await;
    let (aei, _) = setup(&cse).await;
    for path in [
        "/cse-in/app/nothing",
        "/cse-in/nothing/deeper",
        "/unknownri",
        "/~/id-in/unknownri",
        "/cse-in/app/box/nothing",
    ] {
        let answer = cse.retrieve(path, common::ADMIN).await;
        assert_eq!(answer.rsc, 4004, "{path}: {}", answer.body);
        assert_eq!(answer.status, 404);
    }
    assert_eq!(cse.delete("/cse-in/app/nothing", &aei).await.rsc, 4004);
    assert_eq!(
        cse.update(
            "/cse-in/app/nothing",
            &aei,
            json!({"m2m:cnt": {"lbl": ["x"]}})
        )
        .await
        .rsc,
        4004
    );
    assert_eq!(
        cse.create("/cse-in/app/nothing", &aei, 3, json!({"m2m:cnt": {}}))
            .await
            .rsc,
        4004
    );
}

#[tokio::test]
async fn request_identifier_and_release_version_are_echoed() {
    let cse = common::start().await;
    let response = reqwest::Client::new()
        .get(format!("{}/cse-in", cse.base))
        .header("X-M2M-Origin", common::ADMIN)
        .header("X-M2M-RI", "my-request-42")
        .header("X-M2M-RVI", "3")
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(header("x-m2m-ri").as_deref(), Some("my-request-42"));
    assert_eq!(header("x-m2m-rvi").as_deref(), Some("3"));
    assert_eq!(header("x-m2m-rsc").as_deref(), Some("2000"));
    assert!(
        header("content-type").is_some_and(|ct| ct.starts_with("application/json")),
        "{:?}",
        header("content-type")
    );
}

#[tokio::test]
async fn response_status_code_header_is_present_on_success_and_on_error() {
    let cse = common::start().await;
    let (aei, _) = setup(&cse).await;
    let answers = [
        (cse.retrieve("/cse-in/app/box", &aei).await, 2000),
        (
            cse.create("/cse-in/app/box", &aei, 4, json!({"m2m:cin": {"con": "x"}}))
                .await,
            2001,
        ),
        (
            cse.update("/cse-in/app/box", &aei, json!({"m2m:cnt": {"lbl": ["l"]}}))
                .await,
            2004,
        ),
        (cse.retrieve("/cse-in/missing", &aei).await, 4004),
        (cse.retrieve("/cse-in/app/box", "Cstranger").await, 4103),
        (
            cse.create("/cse-in/app/box", &aei, 3, json!({"m2m:cnt": {"bogus": 1}}))
                .await,
            4000,
        ),
        (cse.delete("/cse-in/app/box", &aei).await, 2002),
    ];
    for (answer, expected) in answers {
        let rsc = answer
            .headers
            .get("x-m2m-rsc")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        assert_eq!(rsc, Some(expected.to_string()), "{}", answer.body);
        assert_eq!(
            answer
                .headers
                .get("x-m2m-rvi")
                .and_then(|v| v.to_str().ok()),
            Some("4")
        );
    }
}

#[tokio::test]
async fn error_responses_carry_a_debug_message() {
    let cse = common::start().await;
    let answer = cse.retrieve("/cse-in/missing", common::ADMIN).await;
    assert_eq!(answer.rsc, 4004);
    assert!(
        answer
            .at("/m2m:dbg")
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{}",
        answer.body
    );
}

#[tokio::test]
async fn create_answers_with_content_location_of_the_new_resource() {
    let cse = common::start().await;
    let (aei, _) = setup(&cse).await;
    let answer = cse
        .create(
            "/cse-in/app/box",
            &aei,
            4,
            json!({"m2m:cin": {"rn": "item", "con": "x"}}),
        )
        .await;
    assert_eq!(answer.rsc, 2001);
    let location = answer
        .headers
        .get("content-location")
        .and_then(|v| v.to_str().ok())
        .expect("Content-Location");
    assert!(location.ends_with("cse-in/app/box/item"), "{location}");
    // The location addresses the new resource.
    let path = format!("/{}", location.trim_start_matches('/'));
    let read = cse.retrieve(&path, &aei).await;
    assert_eq!(read.rsc, 2000, "{path}: {}", read.body);
    assert_eq!(read.at("/m2m:cin/con"), &json!("x"));
    // Not on other operations.
    assert!(cse
        .retrieve("/cse-in/app/box", &aei)
        .await
        .headers
        .get("content-location")
        .is_none());
}

#[tokio::test]
async fn create_with_result_content_hierarchical_address_returns_the_uri() {
    let cse = common::start().await;
    let (aei, _) = setup(&cse).await;
    let answer = cse
        .send(
            Method::POST,
            "/cse-in/app/box?rcn=2",
            Some(&aei),
            Some(4),
            Some(json!({"m2m:cin": {"rn": "u", "con": "x"}})),
            &[],
        )
        .await;
    assert_eq!(answer.rsc, 2001, "{}", answer.body);
    assert_eq!(answer.at("/m2m:uri"), &json!("cse-in/app/box/u"));
    assert!(answer.at("/m2m:cin").is_null());
}

#[tokio::test]
async fn create_with_result_content_3_returns_address_and_attributes() {
    let cse = common::start().await;
    let (aei, _) = setup(&cse).await;
    let answer = cse
        .send(
            Method::POST,
            "/cse-in/app/box?rcn=3",
            Some(&aei),
            Some(4),
            Some(json!({"m2m:cin": {"rn": "u", "con": "x"}})),
            &[],
        )
        .await;
    assert_eq!(answer.rsc, 2001, "{}", answer.body);
    assert_eq!(answer.at("/m2m:rce/uri"), &json!("cse-in/app/box/u"));
    assert_eq!(answer.at("/m2m:rce/cin/con"), &json!("x"));
}

#[tokio::test]
async fn create_with_result_content_0_returns_no_content() {
    let cse = common::start().await;
    let (aei, _) = setup(&cse).await;
    let answer = cse
        .send(
            Method::POST,
            "/cse-in/app/box?rcn=0",
            Some(&aei),
            Some(4),
            Some(json!({"m2m:cin": {"rn": "u", "con": "x"}})),
            &[],
        )
        .await;
    assert_eq!(answer.rsc, 2001, "{}", answer.body);
    assert!(answer.body.is_null(), "{}", answer.body);
    assert_eq!(cse.retrieve("/cse-in/app/box/u", &aei).await.rsc, 2000);
}

#[tokio::test]
async fn delete_of_the_cse_base_is_not_allowed() {
    let cse = common::start().await;
    let answer = cse.delete("/cse-in", common::ADMIN).await;
    assert_eq!(answer.rsc, 4005, "{}", answer.body);
    assert_eq!(cse.retrieve("/cse-in", common::ADMIN).await.rsc, 2000);
}

#[tokio::test]
async fn percent_encoded_path_is_decoded() {
    let cse = common::start().await;
    let (aei, _) = setup(&cse).await;
    let answer = cse.retrieve("/cse-in/app/b%6Fx", &aei).await;
    assert_eq!(answer.rsc, 2000, "{}", answer.body);
    assert_eq!(answer.at("/m2m:cnt/rn"), &json!("box"));
}

#[tokio::test]
async fn latest_below_something_that_is_not_a_container_is_not_found() {
    let cse = common::start().await;
    let (aei, _) = setup(&cse).await;
    let answer = cse.retrieve("/cse-in/app/la", &aei).await;
    assert_eq!(answer.rsc, 4004, "{}", answer.body);
    assert_eq!(cse.retrieve("/cse-in/app/ol", &aei).await.rsc, 4004);
}
