//! <group> and its fan-out point (TS-0001 §9.6.13 / §10.2.7, TS-0004 §7.4.13-14,
//! TS-0018 TP/oneM2M/CSE/GMG): membership bookkeeping, limits, member types,
//! requests through `fopt` with aggregated responses.

mod common;

use reqwest::Method;
use serde_json::{json, Value};

/// AE `app` with containers `c1` and `c2`; returns (AE-ID, ri of c1, ri of c2).
async fn setup(cse: &common::TestCse) -> (String, String, String) {
    let aei = cse.register_ae("app", None).await;
    let mut ris = Vec::new();
    for rn in ["c1", "c2"] {
        let answer = cse
            .create("/cse-in/app", &aei, 3, json!({"m2m:cnt": {"rn": rn}}))
            .await;
        assert_eq!(answer.rsc, 2001, "{}", answer.body);
        ris.push(answer.at("/m2m:cnt/ri").as_str().unwrap().to_owned());
    }
    (aei, ris[0].clone(), ris[1].clone())
}

async fn group(cse: &common::TestCse, aei: &str, grp: Value) -> common::Answer {
    cse.create("/cse-in/app", aei, 9, json!({"m2m:grp": grp}))
        .await
}

/// The aggregated responses of a fan-out answer.
fn responses(answer: &common::Answer) -> Vec<Value> {
    assert_eq!(answer.rsc, 2000, "{}", answer.body);
    answer
        .at("/m2m:agr/m2m:rsp")
        .as_array()
        .unwrap_or_else(|| panic!("m2m:agr/m2m:rsp expected: {}", answer.body))
        .clone()
}

#[tokio::test]
async fn group_creation_with_two_container_members() {
    let cse = common::start().await;
    let (aei, c1, c2) = setup(&cse).await;
    let answer = group(
        &cse,
        &aei,
        json!({"rn": "grp", "mt": 3, "mnm": 10, "mid": [c1, c2]}),
    )
    .await;
    assert_eq!(answer.rsc, 2001, "{}", answer.body);
    assert_eq!(answer.status, 201);
    assert_eq!(answer.at("/m2m:grp/ty"), &json!(9));
    assert_eq!(answer.at("/m2m:grp/mid"), &json!([c1, c2]));
    assert_eq!(answer.at("/m2m:grp/cnm"), &json!(2));
    assert_eq!(answer.at("/m2m:grp/mnm"), &json!(10));
    assert_eq!(answer.at("/m2m:grp/mt"), &json!(3));
    assert_eq!(answer.at("/m2m:grp/mtv"), &json!(true));
    let read = cse.retrieve("/cse-in/app/grp", &aei).await;
    assert_eq!(read.rsc, 2000);
    assert_eq!(read.at("/m2m:grp/cnm"), &json!(2));
}

#[tokio::test]
async fn group_members_may_be_given_by_structured_address() {
    let cse = common::start().await;
    let (aei, _, _) = setup(&cse).await;
    let answer = group(
        &cse,
        &aei,
        json!({"rn": "grp", "mt": 3, "mnm": 10, "mid": ["cse-in/app/c1", "cse-in/app/c2"]}),
    )
    .await;
    assert_eq!(answer.rsc, 2001, "{}", answer.body);
    assert_eq!(answer.at("/m2m:grp/cnm"), &json!(2));
}

#[tokio::test]
async fn group_creation_removes_duplicate_members() {
    let cse = common::start().await;
    let (aei, c1, c2) = setup(&cse).await;
    let answer = group(
        &cse,
        &aei,
        json!({"rn": "grp", "mnm": 2, "mid": [c1, c2, c1, c2, c1]}),
    )
    .await;
    assert_eq!(
        answer.rsc, 2001,
        "duplicates do not count against mnm: {}",
        answer.body
    );
    assert_eq!(answer.at("/m2m:grp/mid"), &json!([c1, c2]));
    assert_eq!(answer.at("/m2m:grp/cnm"), &json!(2));
}

#[tokio::test]
async fn group_update_removes_duplicate_members() {
    let cse = common::start().await;
    let (aei, c1, c2) = setup(&cse).await;
    assert_eq!(
        group(&cse, &aei, json!({"rn": "grp", "mnm": 5, "mid": [c1]}))
            .await
            .rsc,
        2001
    );
    let updated = cse
        .update(
            "/cse-in/app/grp",
            &aei,
            json!({"m2m:grp": {"mid": [c2, c2, c1]}}),
        )
        .await;
    assert_eq!(updated.rsc, 2004, "{}", updated.body);
    assert_eq!(updated.at("/m2m:grp/mid"), &json!([c2, c1]));
    assert_eq!(updated.at("/m2m:grp/cnm"), &json!(2));
}

#[tokio::test]
async fn group_with_more_members_than_mnm_is_refused_with_6010() {
    let cse = common::start().await;
    let (aei, c1, c2) = setup(&cse).await;
    let answer = group(&cse, &aei, json!({"rn": "grp", "mnm": 1, "mid": [c1, c2]})).await;
    assert_eq!(answer.rsc, 6010, "{}", answer.body);
    assert_eq!(answer.status, 400);
    assert_eq!(cse.retrieve("/cse-in/app/grp", &aei).await.rsc, 4004);
}

#[tokio::test]
async fn group_update_exceeding_mnm_is_refused_with_6010() {
    let cse = common::start().await;
    let (aei, c1, c2) = setup(&cse).await;
    assert_eq!(
        group(&cse, &aei, json!({"rn": "grp", "mnm": 2, "mid": [c1, c2]}))
            .await
            .rsc,
        2001
    );
    let lower = cse
        .update("/cse-in/app/grp", &aei, json!({"m2m:grp": {"mnm": 1}}))
        .await;
    assert_eq!(lower.rsc, 6010, "{}", lower.body);
    let read = cse.retrieve("/cse-in/app/grp", &aei).await;
    assert_eq!(read.at("/m2m:grp/mnm"), &json!(2));
    assert_eq!(read.at("/m2m:grp/cnm"), &json!(2));
}

#[tokio::test]
async fn group_without_mandatory_attributes_is_refused_with_4000() {
    let cse = common::start().await;
    let (aei, c1, _) = setup(&cse).await;
    assert_eq!(
        group(&cse, &aei, json!({"rn": "g1", "mid": [c1]}))
            .await
            .rsc,
        4000,
        "mnm missing"
    );
    assert_eq!(
        group(&cse, &aei, json!({"rn": "g2", "mnm": 3})).await.rsc,
        4000,
        "mid missing"
    );
    assert_eq!(
        group(&cse, &aei, json!({"rn": "g3", "mnm": 0, "mid": [c1]}))
            .await
            .rsc,
        4000,
        "mnm must be positive"
    );
    assert_eq!(
        group(
            &cse,
            &aei,
            json!({"rn": "g4", "mnm": 3, "mid": [c1], "cnm": 1})
        )
        .await
        .rsc,
        4000,
        "cnm is read-only"
    );
}

#[tokio::test]
async fn group_member_of_the_wrong_type_is_dropped_by_default() {
    let cse = common::start().await;
    let (aei, c1, _) = setup(&cse).await;
    let answer = group(
        &cse,
        &aei,
        json!({"rn": "grp", "mt": 3, "mnm": 5, "mid": [c1, aei]}),
    )
    .await;
    assert_eq!(answer.rsc, 2001, "{}", answer.body);
    assert_eq!(
        answer.at("/m2m:grp/mid"),
        &json!([c1]),
        "the AE is not a container"
    );
    assert_eq!(answer.at("/m2m:grp/cnm"), &json!(1));
}

#[tokio::test]
async fn group_member_of_the_wrong_type_with_abandon_group_is_refused_with_4110() {
    let cse = common::start().await;
    let (aei, c1, _) = setup(&cse).await;
    let answer = group(
        &cse,
        &aei,
        json!({"rn": "grp", "mt": 3, "csy": 2, "mnm": 5, "mid": [c1, aei]}),
    )
    .await;
    assert_eq!(answer.rsc, 4110, "{}", answer.body);
    assert_eq!(cse.retrieve("/cse-in/app/grp", &aei).await.rsc, 4004);
}

#[tokio::test]
async fn group_member_of_the_wrong_type_with_set_mixed_makes_the_group_mixed() {
    let cse = common::start().await;
    let (aei, c1, _) = setup(&cse).await;
    let answer = group(
        &cse,
        &aei,
        json!({"rn": "grp", "mt": 3, "csy": 3, "mnm": 5, "mid": [c1, aei]}),
    )
    .await;
    assert_eq!(answer.rsc, 2001, "{}", answer.body);
    assert_eq!(answer.at("/m2m:grp/mt"), &json!(0));
    assert_eq!(answer.at("/m2m:grp/cnm"), &json!(2));
}

#[tokio::test]
async fn fan_out_create_of_a_content_instance_reaches_every_member() {
    let cse = common::start().await;
    let (aei, c1, c2) = setup(&cse).await;
    assert_eq!(
        group(
            &cse,
            &aei,
            json!({"rn": "grp", "mt": 3, "mnm": 10, "mid": [c1, c2]})
        )
        .await
        .rsc,
        2001
    );

    let answer = cse
        .create(
            "/cse-in/app/grp/fopt",
            &aei,
            4,
            json!({"m2m:cin": {"con": "broadcast"}}),
        )
        .await;
    let rsp = responses(&answer);
    assert_eq!(answer.status, 200);
    assert_eq!(rsp.len(), 2, "{rsp:?}");
    for entry in &rsp {
        assert_eq!(entry["rsc"], json!(2001), "{entry}");
        assert_eq!(entry["pc"]["m2m:cin"]["con"], json!("broadcast"), "{entry}");
    }
    let parents: Vec<&Value> = rsp.iter().map(|e| &e["pc"]["m2m:cin"]["pi"]).collect();
    assert_eq!(parents, vec![&json!(c1), &json!(c2)]);
    for path in ["/cse-in/app/c1", "/cse-in/app/c2"] {
        let cnt = cse.retrieve(path, &aei).await;
        assert_eq!(cnt.at("/m2m:cnt/cni"), &json!(1), "{path}");
        assert_eq!(
            cse.retrieve(&format!("{path}/la"), &aei)
                .await
                .at("/m2m:cin/con"),
            &json!("broadcast")
        );
    }
}

#[tokio::test]
async fn fan_out_retrieve_of_the_latest_instance_of_every_member() {
    let cse = common::start().await;
    let (aei, c1, c2) = setup(&cse).await;
    cse.create(
        "/cse-in/app/c1",
        &aei,
        4,
        json!({"m2m:cin": {"con": "from c1"}}),
    )
    .await;
    cse.create(
        "/cse-in/app/c2",
        &aei,
        4,
        json!({"m2m:cin": {"con": "old c2"}}),
    )
    .await;
    cse.create(
        "/cse-in/app/c2",
        &aei,
        4,
        json!({"m2m:cin": {"con": "from c2"}}),
    )
    .await;
    assert_eq!(
        group(&cse, &aei, json!({"rn": "grp", "mnm": 10, "mid": [c1, c2]}))
            .await
            .rsc,
        2001
    );

    let answer = cse.retrieve("/cse-in/app/grp/fopt/la", &aei).await;
    let rsp = responses(&answer);
    assert_eq!(rsp.len(), 2, "{rsp:?}");
    assert_eq!(rsp[0]["rsc"], json!(2000));
    assert_eq!(rsp[0]["pc"]["m2m:cin"]["con"], json!("from c1"));
    assert_eq!(rsp[1]["rsc"], json!(2000));
    assert_eq!(rsp[1]["pc"]["m2m:cin"]["con"], json!("from c2"));
}

#[tokio::test]
async fn fan_out_retrieve_of_the_members_themselves() {
    let cse = common::start().await;
    let (aei, c1, c2) = setup(&cse).await;
    assert_eq!(
        group(&cse, &aei, json!({"rn": "grp", "mnm": 10, "mid": [c1, c2]}))
            .await
            .rsc,
        2001
    );
    let rsp = responses(&cse.retrieve("/cse-in/app/grp/fopt", &aei).await);
    let names: Vec<&Value> = rsp.iter().map(|e| &e["pc"]["m2m:cnt"]["rn"]).collect();
    assert_eq!(names, vec![&json!("c1"), &json!("c2")]);
}

#[tokio::test]
async fn fan_out_reports_each_members_own_result() {
    let cse = common::start().await;
    let (aei, c1, c2) = setup(&cse).await;
    cse.create(
        "/cse-in/app/c1",
        &aei,
        4,
        json!({"m2m:cin": {"con": "only c1"}}),
    )
    .await;
    assert_eq!(
        group(&cse, &aei, json!({"rn": "grp", "mnm": 10, "mid": [c1, c2]}))
            .await
            .rsc,
        2001
    );
    let rsp = responses(&cse.retrieve("/cse-in/app/grp/fopt/la", &aei).await);
    assert_eq!(rsp.len(), 2);
    assert_eq!(rsp[0]["rsc"], json!(2000));
    assert_eq!(
        rsp[1]["rsc"],
        json!(4004),
        "c2 has no instances: {}",
        rsp[1]
    );
}

#[tokio::test]
async fn fan_out_update_reaches_every_member() {
    let cse = common::start().await;
    let (aei, c1, c2) = setup(&cse).await;
    assert_eq!(
        group(&cse, &aei, json!({"rn": "grp", "mnm": 10, "mid": [c1, c2]}))
            .await
            .rsc,
        2001
    );
    let rsp = responses(
        &cse.update(
            "/cse-in/app/grp/fopt",
            &aei,
            json!({"m2m:cnt": {"lbl": ["grouped"]}}),
        )
        .await,
    );
    assert_eq!(
        rsp.iter().map(|e| e["rsc"].clone()).collect::<Vec<_>>(),
        vec![json!(2004), json!(2004)]
    );
    for path in ["/cse-in/app/c1", "/cse-in/app/c2"] {
        assert_eq!(
            cse.retrieve(path, &aei).await.at("/m2m:cnt/lbl"),
            &json!(["grouped"]),
            "{path}"
        );
    }
}

#[tokio::test]
async fn fan_out_by_an_originator_without_rights_on_the_group_is_refused_with_4103() {
    let cse = common::start().await;
    let (aei, c1, c2) = setup(&cse).await;
    assert_eq!(
        group(&cse, &aei, json!({"rn": "grp", "mnm": 10, "mid": [c1, c2]}))
            .await
            .rsc,
        2001
    );
    let other = cse.register_ae("other", None).await;
    let answer = cse
        .create(
            "/cse-in/app/grp/fopt",
            &other,
            4,
            json!({"m2m:cin": {"con": "intruder"}}),
        )
        .await;
    assert_eq!(answer.rsc, 4103, "{}", answer.body);
    assert_eq!(
        cse.retrieve("/cse-in/app/c1", &aei)
            .await
            .at("/m2m:cnt/cni"),
        &json!(0)
    );
    assert_eq!(
        cse.retrieve("/cse-in/app/c2", &aei)
            .await
            .at("/m2m:cnt/cni"),
        &json!(0)
    );
}

#[tokio::test]
async fn deleting_a_member_removes_it_from_the_group() {
    let cse = common::start().await;
    let (aei, c1, c2) = setup(&cse).await;
    assert_eq!(
        group(&cse, &aei, json!({"rn": "grp", "mnm": 10, "mid": [c1, c2]}))
            .await
            .rsc,
        2001
    );
    assert_eq!(cse.delete("/cse-in/app/c1", &aei).await.rsc, 2002);
    let read = cse.retrieve("/cse-in/app/grp", &aei).await;
    assert_eq!(read.rsc, 2000);
    assert_eq!(read.at("/m2m:grp/mid"), &json!([c2]));
    assert_eq!(read.at("/m2m:grp/cnm"), &json!(1));
    let rsp = responses(&cse.retrieve("/cse-in/app/grp/fopt", &aei).await);
    assert_eq!(rsp.len(), 1);
}

#[tokio::test]
async fn deleting_a_member_given_by_structured_address_removes_it_from_the_group() {
    let cse = common::start().await;
    let (aei, _, _) = setup(&cse).await;
    let created = group(
        &cse,
        &aei,
        json!({"rn": "grp", "mnm": 10, "mid": ["cse-in/app/c1", "cse-in/app/c2"]}),
    )
    .await;
    assert_eq!(created.rsc, 2001, "{}", created.body);
    assert_eq!(cse.delete("/cse-in/app/c2", &aei).await.rsc, 2002);
    let read = cse.retrieve("/cse-in/app/grp", &aei).await;
    assert_eq!(read.at("/m2m:grp/mid"), &json!(["cse-in/app/c1"]));
    assert_eq!(read.at("/m2m:grp/cnm"), &json!(1));
}

#[tokio::test]

async fn deleting_the_parent_of_a_member_removes_the_member_from_the_group() {
    let cse = common::start().await;
    let (aei, c1, _) = setup(&cse).await;
    let other = cse.register_ae("other", None).await;
    let foreign = cse
        .create(
            "/cse-in/other",
            &other,
            3,
            json!({"m2m:cnt": {"rn": "theirs"}}),
        )
        .await;
    let foreign_ri = foreign.at("/m2m:cnt/ri").as_str().unwrap().to_owned();
    assert_eq!(
        group(
            &cse,
            &aei,
            json!({"rn": "grp", "mnm": 10, "mid": [c1, foreign_ri]})
        )
        .await
        .rsc,
        2001
    );
    assert_eq!(cse.delete("/cse-in/other", &other).await.rsc, 2002);
    let read = cse.retrieve("/cse-in/app/grp", &aei).await;
    assert_eq!(read.at("/m2m:grp/mid"), &json!([c1]), "{}", read.body);
    assert_eq!(read.at("/m2m:grp/cnm"), &json!(1));
}

#[tokio::test]
async fn fan_out_below_something_that_is_not_a_group_is_not_found() {
    let cse = common::start().await;
    let (aei, _, _) = setup(&cse).await;
    let answer = cse
        .send(
            Method::GET,
            "/cse-in/app/c1/fopt",
            Some(&aei),
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(answer.rsc, 4004, "{}", answer.body);
}
