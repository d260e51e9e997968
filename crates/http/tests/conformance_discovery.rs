//! Discovery (RETRIEVE with fu=1, TS-0004 §7.3.3.17 / §7.4.x, TS-0018
//! TP/oneM2M/CSE/DMR/RET): filter criteria, result content, identifiers,
//! lim/ofst/lvl, and result content of plain RETRIEVE with children.

mod common;

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use urbis_model::time;

/// The resource tree every discovery test runs on (creation order matters):
///
/// ```text
/// cse-in/app            AE  (originator Capp)
///   c1                  CNT lbl [red]
///     i1                CIN
///     i2                CIN lbl [red]
///     sub               CNT lbl [green]
///   c2                  CNT lbl [blue]
///     j1                CIN
/// ```
async fn tree(cse: &common::TestCse) -> String {
    let aei = cse.register_ae("app", None).await;
    let steps = [
        (
            "/cse-in/app",
            3,
            json!({"m2m:cnt": {"rn": "c1", "lbl": ["red"]}}),
        ),
        (
            "/cse-in/app/c1",
            4,
            json!({"m2m:cin": {"rn": "i1", "con": "one"}}),
        ),
        (
            "/cse-in/app/c1",
            4,
            json!({"m2m:cin": {"rn": "i2", "con": "two", "lbl": ["red"]}}),
        ),
        (
            "/cse-in/app/c1",
            3,
            json!({"m2m:cnt": {"rn": "sub", "lbl": ["green"]}}),
        ),
        (
            "/cse-in/app",
            3,
            json!({"m2m:cnt": {"rn": "c2", "lbl": ["blue"]}}),
        ),
        (
            "/cse-in/app/c2",
            4,
            json!({"m2m:cin": {"rn": "j1", "con": "three"}}),
        ),
    ];
    for (parent, ty, body) in steps {
        let answer = cse.create(parent, &aei, ty, body).await;
        assert_eq!(answer.rsc, 2001, "{parent}: {}", answer.body);
    }
    aei
}

async fn get(cse: &common::TestCse, path_and_query: &str, originator: &str) -> common::Answer {
    cse.send(
        Method::GET,
        path_and_query,
        Some(originator),
        None,
        None,
        &[],
    )
    .await
}

/// The `m2m:uril` list of a discovery answer (asserting success).
fn uril(answer: &common::Answer) -> Vec<String> {
    assert_eq!(answer.rsc, 2000, "{}", answer.body);
    assert_eq!(answer.status, 200);
    answer
        .at("/m2m:uril")
        .as_array()
        .unwrap_or_else(|| panic!("m2m:uril expected: {}", answer.body))
        .iter()
        .map(|v| v.as_str().expect("string").to_owned())
        .collect()
}

fn paths(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| format!("cse-in/app/{n}")).collect()
}

#[tokio::test]
async fn discovery_by_resource_type() {
    let cse = common::start().await;
    let aei = tree(&cse).await;
    assert_eq!(
        uril(&get(&cse, "/cse-in/app?fu=1&ty=3", &aei).await),
        paths(&["c1", "c1/sub", "c2"])
    );
    assert_eq!(
        uril(&get(&cse, "/cse-in/app?fu=1&ty=4", &aei).await),
        paths(&["c1/i1", "c1/i2", "c2/j1"])
    );
    assert_eq!(
        uril(&get(&cse, "/cse-in/app?fu=1&ty=9", &aei).await),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn discovery_with_several_resource_types_is_an_or() {
    let cse = common::start().await;
    let aei = tree(&cse).await;
    let all = paths(&["c1", "c1/i1", "c1/i2", "c1/sub", "c2", "c2/j1"]);
    assert_eq!(uril(&get(&cse, "/cse-in/app?fu=1&ty=3+4", &aei).await), all);
    assert_eq!(
        uril(&get(&cse, "/cse-in/app?fu=1&ty=3&ty=4", &aei).await),
        all
    );
}

#[tokio::test]
async fn discovery_without_conditions_returns_every_descendant_but_not_the_target() {
    let cse = common::start().await;
    let aei = tree(&cse).await;
    let found = uril(&get(&cse, "/cse-in/app?fu=1", &aei).await);
    assert_eq!(
        found,
        paths(&["c1", "c1/i1", "c1/i2", "c1/sub", "c2", "c2/j1"])
    );
    assert!(!found.contains(&"cse-in/app".to_owned()));
}

#[tokio::test]
async fn discovery_by_single_label() {
    let cse = common::start().await;
    let aei = tree(&cse).await;
    assert_eq!(
        uril(&get(&cse, "/cse-in/app?fu=1&lbl=red", &aei).await),
        paths(&["c1", "c1/i2"])
    );
    assert_eq!(
        uril(&get(&cse, "/cse-in/app?fu=1&lbl=green", &aei).await),
        paths(&["c1/sub"])
    );
    assert_eq!(
        uril(&get(&cse, "/cse-in/app?fu=1&lbl=purple", &aei).await),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn discovery_by_several_labels_matches_any_of_them() {
    let cse = common::start().await;
    let aei = tree(&cse).await;
    assert_eq!(
        uril(&get(&cse, "/cse-in/app?fu=1&lbl=red+blue", &aei).await),
        paths(&["c1", "c1/i2", "c2"])
    );
    assert_eq!(
        uril(&get(&cse, "/cse-in/app?fu=1&lbl=blue+purple", &aei).await),
        paths(&["c2"])
    );
}

#[tokio::test]
async fn discovery_combines_conditions_with_and_by_default_and_or_with_fo_2() {
    let cse = common::start().await;
    let aei = tree(&cse).await;
    assert_eq!(
        uril(&get(&cse, "/cse-in/app?fu=1&ty=3&lbl=red", &aei).await),
        paths(&["c1"])
    );
    assert_eq!(
        uril(&get(&cse, "/cse-in/app?fu=1&fo=1&ty=4&lbl=red", &aei).await),
        paths(&["c1/i2"])
    );
    assert_eq!(
        uril(&get(&cse, "/cse-in/app?fu=1&fo=2&ty=9&lbl=blue", &aei).await),
        paths(&["c2"])
    );
    assert_eq!(
        uril(&get(&cse, "/cse-in/app?fu=1&fo=2&ty=4&lbl=green", &aei).await),
        paths(&["c1/i1", "c1/i2", "c1/sub", "c2/j1"])
    );
}

#[tokio::test]
async fn discovery_result_content_11_lists_structured_addresses() {
    let cse = common::start().await;
    let aei = tree(&cse).await;
    let answer = get(&cse, "/cse-in/app?fu=1&ty=3&rcn=11", &aei).await;
    assert_eq!(uril(&answer), paths(&["c1", "c1/sub", "c2"]));
    // Every returned address can be retrieved.
    for path in uril(&answer) {
        let read = cse.retrieve(&format!("/{path}"), &aei).await;
        assert_eq!(read.rsc, 2000, "{path}");
        assert_eq!(read.at("/m2m:cnt/ty"), &json!(3));
    }
}

#[tokio::test]
async fn discovery_result_content_6_lists_child_resource_references() {
    let cse = common::start().await;
    let aei = tree(&cse).await;
    let answer = get(&cse, "/cse-in/app?fu=1&ty=3&rcn=6", &aei).await;
    assert_eq!(answer.rsc, 2000, "{}", answer.body);
    assert_eq!(
        answer.at("/m2m:rrl/rrf"),
        &json!([
            {"nm": "c1", "typ": 3, "val": "cse-in/app/c1"},
            {"nm": "sub", "typ": 3, "val": "cse-in/app/c1/sub"},
            {"nm": "c2", "typ": 3, "val": "cse-in/app/c2"},
        ])
    );
}

#[tokio::test]
async fn discovery_with_drt_2_returns_resource_ids() {
    let cse = common::start().await;
    let aei = tree(&cse).await;
    let c1 = cse
        .retrieve("/cse-in/app/c1", &aei)
        .await
        .at("/m2m:cnt/ri")
        .as_str()
        .unwrap()
        .to_owned();
    let c2 = cse
        .retrieve("/cse-in/app/c2", &aei)
        .await
        .at("/m2m:cnt/ri")
        .as_str()
        .unwrap()
        .to_owned();
    let sub = cse
        .retrieve("/cse-in/app/c1/sub", &aei)
        .await
        .at("/m2m:cnt/ri")
        .as_str()
        .unwrap()
        .to_owned();
    let found = uril(&get(&cse, "/cse-in/app?fu=1&ty=3&drt=2", &aei).await);
    assert_eq!(found, vec![c1.clone(), sub, c2]);
    for ri in &found {
        assert!(!ri.contains('/'), "unstructured: {ri}");
        assert_eq!(cse.retrieve(&format!("/{ri}"), &aei).await.rsc, 2000);
    }
    let refs = get(&cse, "/cse-in/app?fu=1&ty=3&drt=2&rcn=6", &aei).await;
    assert_eq!(
        refs.at("/m2m:rrl/rrf/0"),
        &json!({"nm": "c1", "typ": 3, "val": c1})
    );
}

#[tokio::test]
async fn discovery_with_invalid_drt_is_refused_with_4000() {
    let cse = common::start().await;
    let aei = tree(&cse).await;
    assert_eq!(get(&cse, "/cse-in/app?fu=1&drt=3", &aei).await.rsc, 4000);
}

#[tokio::test]
async fn discovery_limit_and_offset() {
    let cse = common::start().await;
    let aei = tree(&cse).await;
    assert_eq!(
        uril(&get(&cse, "/cse-in/app?fu=1&ty=3&lim=2", &aei).await),
        paths(&["c1", "c1/sub"])
    );
    assert_eq!(
        uril(&get(&cse, "/cse-in/app?fu=1&ty=3&lim=0", &aei).await),
        Vec::<String>::new()
    );
    assert_eq!(
        uril(&get(&cse, "/cse-in/app?fu=1&ty=3&ofst=2", &aei).await),
        paths(&["c1/sub", "c2"])
    );
    assert_eq!(
        uril(&get(&cse, "/cse-in/app?fu=1&ty=3&ofst=1", &aei).await),
        paths(&["c1", "c1/sub", "c2"])
    );
    assert_eq!(
        uril(&get(&cse, "/cse-in/app?fu=1&ty=3&ofst=2&lim=1", &aei).await),
        paths(&["c1/sub"])
    );
    assert_eq!(
        uril(&get(&cse, "/cse-in/app?fu=1&ty=3&ofst=10", &aei).await),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn discovery_with_non_numeric_limit_is_refused_with_4000() {
    let cse = common::start().await;
    let aei = tree(&cse).await;
    assert_eq!(get(&cse, "/cse-in/app?fu=1&lim=many", &aei).await.rsc, 4000);
}

#[tokio::test]
async fn discovery_level_limits_the_depth() {
    let cse = common::start().await;
    let aei = tree(&cse).await;
    assert_eq!(
        uril(&get(&cse, "/cse-in/app?fu=1&lvl=1", &aei).await),
        paths(&["c1", "c2"])
    );
    assert_eq!(
        uril(&get(&cse, "/cse-in/app?fu=1&ty=3&lvl=1", &aei).await),
        paths(&["c1", "c2"])
    );
    assert_eq!(
        uril(&get(&cse, "/cse-in/app?fu=1&ty=3&lvl=2", &aei).await),
        paths(&["c1", "c1/sub", "c2"])
    );
}

#[tokio::test]
async fn discovery_by_creation_time() {
    let cse = common::start().await;
    let aei = cse.register_ae("app", None).await;
    assert_eq!(
        cse.create("/cse-in/app", &aei, 3, json!({"m2m:cnt": {"rn": "early"}}))
            .await
            .rsc,
        2001
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    let between = time::format(time::now());
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        cse.create("/cse-in/app", &aei, 3, json!({"m2m:cnt": {"rn": "late"}}))
            .await
            .rsc,
        2001
    );

    assert_eq!(
        uril(&get(&cse, &format!("/cse-in/app?fu=1&cra={between}"), &aei).await),
        paths(&["late"])
    );
    assert_eq!(
        uril(&get(&cse, &format!("/cse-in/app?fu=1&crb={between}"), &aei).await),
        paths(&["early"])
    );
    let past = time::format(time::after_ms(time::now(), -3_600_000));
    let future = time::format(time::after_ms(time::now(), 3_600_000));
    assert_eq!(
        uril(
            &get(
                &cse,
                &format!("/cse-in/app?fu=1&cra={past}&crb={future}"),
                &aei
            )
            .await
        ),
        paths(&["early", "late"])
    );
    assert_eq!(
        uril(&get(&cse, &format!("/cse-in/app?fu=1&cra={future}"), &aei).await),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn discovery_by_attribute_value() {
    let cse = common::start().await;
    let aei = tree(&cse).await;
    assert_eq!(
        uril(&get(&cse, "/cse-in/app?fu=1&cni=2", &aei).await),
        paths(&["c1"])
    );
    assert_eq!(
        uril(&get(&cse, "/cse-in/app?fu=1&cni=1", &aei).await),
        paths(&["c2"])
    );
    assert_eq!(
        uril(&get(&cse, "/cse-in/app?fu=1&rn=sub", &aei).await),
        paths(&["c1/sub"])
    );
    assert_eq!(
        uril(&get(&cse, "/cse-in/app?fu=1&con=two", &aei).await),
        paths(&["c1/i2"])
    );
    assert_eq!(
        uril(&get(&cse, "/cse-in/app?fu=1&cni=7", &aei).await),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn discovery_with_an_unknown_query_parameter_is_refused_with_4000() {
    let cse = common::start().await;
    let aei = tree(&cse).await;
    let answer = get(&cse, "/cse-in/app?fu=1&notAnAttribute=1", &aei).await;
    assert_eq!(answer.rsc, 4000, "{}", answer.body);
    assert_eq!(answer.status, 400);
    assert!(answer.at("/m2m:uril").is_null());
}

#[tokio::test]
async fn discovery_with_invalid_filter_usage_or_operation_is_refused_with_4000() {
    let cse = common::start().await;
    let aei = tree(&cse).await;
    assert_eq!(get(&cse, "/cse-in/app?fu=7", &aei).await.rsc, 4000);
    assert_eq!(get(&cse, "/cse-in/app?fu=1&fo=4", &aei).await.rsc, 4000);
}

#[tokio::test]
async fn discovery_with_result_content_attributes_is_refused_with_4000() {
    let cse = common::start().await;
    let aei = tree(&cse).await;
    for rcn in [1, 4, 8] {
        let answer = get(&cse, &format!("/cse-in/app?fu=1&ty=3&rcn={rcn}"), &aei).await;
        assert_eq!(answer.rsc, 4000, "rcn {rcn}: {}", answer.body);
    }
}

#[tokio::test]
async fn discovery_only_returns_resources_the_originator_may_discover() {
    let cse = common::start().await;
    let aei = tree(&cse).await;
    let other = cse.register_ae("other", None).await;
    cse.create(
        "/cse-in/other",
        &other,
        3,
        json!({"m2m:cnt": {"rn": "private", "lbl": ["red"]}}),
    )
    .await;

    let mine = uril(&get(&cse, "/cse-in?fu=1&ty=2", &aei).await);
    assert_eq!(mine, vec!["cse-in/app".to_owned()]);
    let red = uril(&get(&cse, "/cse-in?fu=1&lbl=red", &aei).await);
    assert_eq!(
        red,
        paths(&["c1", "c1/i2"]),
        "the other AE's container is hidden"
    );
    let admin = uril(&get(&cse, "/cse-in?fu=1&lbl=red", common::ADMIN).await);
    assert_eq!(
        admin,
        vec![
            "cse-in/app/c1".to_owned(),
            "cse-in/app/c1/i2".to_owned(),
            "cse-in/other/private".to_owned()
        ]
    );

    let stranger = get(&cse, "/cse-in/app?fu=1", "Cstranger").await;
    if stranger.rsc == 2000 {
        assert_eq!(
            stranger.at("/m2m:uril"),
            &json!([]),
            "nothing leaks: {}",
            stranger.body
        );
    } else {
        assert_eq!(stranger.rsc, 4103, "{}", stranger.body);
    }
}

#[tokio::test]
async fn discovery_of_an_unknown_target_is_not_found() {
    let cse = common::start().await;
    let aei = tree(&cse).await;
    assert_eq!(get(&cse, "/cse-in/app/nothing?fu=1", &aei).await.rsc, 4004);
}

#[tokio::test]
async fn retrieve_with_result_content_4_returns_attributes_and_child_resources() {
    let cse = common::start().await;
    let aei = tree(&cse).await;
    let answer = get(&cse, "/cse-in/app/c1?rcn=4", &aei).await;
    assert_eq!(answer.rsc, 2000, "{}", answer.body);
    assert_eq!(answer.at("/m2m:cnt/rn"), &json!("c1"));
    assert_eq!(answer.at("/m2m:cnt/cni"), &json!(2));
    let instances = answer
        .at("/m2m:cnt/m2m:cin")
        .as_array()
        .unwrap_or_else(|| panic!("{}", answer.body));
    let cons: Vec<&Value> = instances.iter().map(|i| &i["con"]).collect();
    assert_eq!(cons, vec![&json!("one"), &json!("two")]);
    let containers = answer
        .at("/m2m:cnt/m2m:cnt")
        .as_array()
        .unwrap_or_else(|| panic!("{}", answer.body));
    assert_eq!(containers.len(), 1);
    assert_eq!(containers[0]["rn"], json!("sub"));
}

#[tokio::test]
async fn retrieve_with_result_content_8_returns_child_resources_only() {
    let cse = common::start().await;
    let aei = tree(&cse).await;
    let answer = get(&cse, "/cse-in/app/c1?rcn=8", &aei).await;
    assert_eq!(answer.rsc, 2000, "{}", answer.body);
    assert!(
        answer.at("/m2m:cnt/rn").is_null(),
        "no attributes of the target: {}",
        answer.body
    );
    assert!(answer.at("/m2m:cnt/cni").is_null());
    let instances = answer
        .at("/m2m:cnt/m2m:cin")
        .as_array()
        .unwrap_or_else(|| panic!("{}", answer.body));
    assert_eq!(instances.len(), 2);
    assert_eq!(instances[0]["rn"], json!("i1"));
}

#[tokio::test]
async fn retrieve_with_result_content_4_and_a_filter_returns_matching_children() {
    let cse = common::start().await;
    let aei = tree(&cse).await;
    let answer = get(&cse, "/cse-in/app/c1?rcn=4&ty=4", &aei).await;
    assert_eq!(answer.rsc, 2000, "{}", answer.body);
    assert_eq!(answer.at("/m2m:cnt/rn"), &json!("c1"));
    assert_eq!(
        answer.at("/m2m:cnt/m2m:cin").as_array().map(Vec::len),
        Some(2),
        "{}",
        answer.body
    );
    assert!(
        answer.at("/m2m:cnt/m2m:cnt").is_null(),
        "the sub-container is filtered out: {}",
        answer.body
    );
}

#[tokio::test]
async fn retrieve_with_result_content_5_returns_attributes_and_child_references() {
    let cse = common::start().await;
    let aei = tree(&cse).await;
    let answer = get(&cse, "/cse-in/app/c1?rcn=5", &aei).await;
    assert_eq!(answer.rsc, 2000, "{}", answer.body);
    assert_eq!(answer.at("/m2m:cnt/rn"), &json!("c1"));
    assert_eq!(
        answer.at("/m2m:cnt/ch"),
        &json!([
            {"nm": "i1", "typ": 4, "val": "cse-in/app/c1/i1"},
            {"nm": "i2", "typ": 4, "val": "cse-in/app/c1/i2"},
            {"nm": "sub", "typ": 3, "val": "cse-in/app/c1/sub"},
        ])
    );
}

#[tokio::test]
async fn retrieve_with_result_content_6_returns_child_references_only() {
    let cse = common::start().await;
    let aei = tree(&cse).await;
    let answer = get(&cse, "/cse-in/app?rcn=6", &aei).await;
    assert_eq!(answer.rsc, 2000, "{}", answer.body);
    assert!(answer.at("/m2m:ae").is_null());
    assert_eq!(
        answer.at("/m2m:rrl/rrf"),
        &json!([
            {"nm": "c1", "typ": 3, "val": "cse-in/app/c1"},
            {"nm": "c2", "typ": 3, "val": "cse-in/app/c2"},
        ])
    );
}

#[tokio::test]
async fn retrieve_with_result_content_not_allowed_for_retrieve_is_refused_with_4000() {
    let cse = common::start().await;
    let aei = tree(&cse).await;
    for rcn in [0, 2, 3, 9, 11, 42] {
        let answer = get(&cse, &format!("/cse-in/app/c1?rcn={rcn}"), &aei).await;
        assert_eq!(answer.rsc, 4000, "rcn {rcn}: {}", answer.body);
    }
}

#[tokio::test]
async fn retrieve_with_attribute_list_returns_only_those_attributes() {
    let cse = common::start().await;
    let aei = tree(&cse).await;
    let answer = get(&cse, "/cse-in/app/c1?atrl=cni+rn", &aei).await;
    assert_eq!(answer.rsc, 2000, "{}", answer.body);
    assert_eq!(answer.at("/m2m:cnt"), &json!({"cni": 2, "rn": "c1"}));
}

#[tokio::test]
async fn retrieve_original_resource_of_a_local_resource_is_the_resource() {
    let cse = common::start().await;
    let aei = tree(&cse).await;
    let plain = cse.retrieve("/cse-in/app/c1", &aei).await;
    let original = cse.retrieve("/cse-in/app/c1?rcn=7", &aei).await;
    assert_eq!(original.rsc, 2000, "{}", original.body);
    assert_eq!(original.at("/m2m:cnt/ri"), plain.at("/m2m:cnt/ri"));
    let on_update = cse
        .send(
            Method::PUT,
            "/cse-in/app/c1?rcn=7",
            Some(&aei),
            None,
            Some(json!({"m2m:cnt": {}})),
            &[],
        )
        .await;
    assert_eq!(on_update.rsc, 4000, "rcn 7 is for RETRIEVE only");
}
