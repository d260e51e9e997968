//! <container> and <contentInstance> (TS-0001 §9.6.6-9.6.7, TS-0004 §7.4.6-7.4.7):
//! bookkeeping (cni, cbs, st), limits (mni, mbs), the virtual la/ol children,
//! immutability of instances and disableRetrieval.

mod common;

use serde_json::{json, Value};

fn cin(con: Value) -> Value {
    json!({"m2m:cin": {"con": con}})
}

/// An AE plus a container under it; returns (AE-ID, container path).
async fn setup(cse: &common::TestCse, cnt: Value) -> (String, String) {
    let aei = cse.register_ae("app", None).await;
    let answer = cse
        .create("/cse-in/app", &aei, 3, json!({"m2m:cnt": cnt}))
        .await;
    assert_eq!(answer.rsc, 2001, "container: {}", answer.body);
    let rn = answer.at("/m2m:cnt/rn").as_str().expect("rn").to_owned();
    (aei, format!("/cse-in/app/{rn}"))
}

async fn add(cse: &common::TestCse, path: &str, aei: &str, con: Value) -> common::Answer {
    let answer = cse.create(path, aei, 4, cin(con)).await;
    assert_eq!(answer.rsc, 2001, "instance: {}", answer.body);
    answer
}

/// (cni, cbs, st) of a container.
async fn counters(cse: &common::TestCse, path: &str) -> (u64, u64, u64) {
    let answer = cse.retrieve(path, common::ADMIN).await;
    assert_eq!(answer.rsc, 2000, "{}", answer.body);
    let n = |sn: &str| {
        answer
            .at(&format!("/m2m:cnt/{sn}"))
            .as_u64()
            .unwrap_or_else(|| panic!("{sn}: {}", answer.body))
    };
    (n("cni"), n("cbs"), n("st"))
}

#[tokio::test]
async fn container_creation_starts_with_zero_instances_and_state_tag() {
    let cse = common::start().await;
    let aei = cse.register_ae("app", None).await;
    let answer = cse
        .create(
            "/cse-in/app",
            &aei,
            3,
            json!({"m2m:cnt": {"rn": "box", "mni": 5, "lbl": ["a"]}}),
        )
        .await;
    assert_eq!(answer.rsc, 2001, "{}", answer.body);
    assert_eq!(answer.status, 201);
    assert_eq!(answer.at("/m2m:cnt/ty"), &json!(3));
    assert_eq!(answer.at("/m2m:cnt/rn"), &json!("box"));
    assert_eq!(answer.at("/m2m:cnt/pi"), &json!(aei));
    assert_eq!(answer.at("/m2m:cnt/cni"), &json!(0));
    assert_eq!(answer.at("/m2m:cnt/cbs"), &json!(0));
    assert_eq!(answer.at("/m2m:cnt/st"), &json!(0));
    assert_eq!(answer.at("/m2m:cnt/mni"), &json!(5));
    assert_eq!(answer.at("/m2m:cnt/lbl"), &json!(["a"]));
    assert!(
        answer.at("/m2m:cnt/cr").is_null(),
        "cr only when asked for: {}",
        answer.body
    );
}

#[tokio::test]
async fn content_instance_creation_maintains_cni_cbs_and_st() {
    let cse = common::start().await;
    let (aei, path) = setup(&cse, json!({"rn": "box"})).await;
    let first = add(&cse, &path, &aei, json!("hello")).await;
    assert_eq!(first.at("/m2m:cin/cs"), &json!(5));
    assert_eq!(first.at("/m2m:cin/con"), &json!("hello"));
    assert_eq!(first.at("/m2m:cin/ty"), &json!(4));
    assert_eq!(first.at("/m2m:cin/st"), &json!(1));
    assert_eq!(counters(&cse, &path).await, (1, 5, 1));

    let second = add(&cse, &path, &aei, json!("abc")).await;
    assert_eq!(second.at("/m2m:cin/st"), &json!(2));
    assert_eq!(counters(&cse, &path).await, (2, 8, 2));
}

#[tokio::test]
async fn container_with_mni_keeps_only_the_newest_instances() {
    let cse = common::start().await;
    let (aei, path) = setup(&cse, json!({"rn": "box", "mni": 2})).await;
    let first = add(&cse, &path, &aei, json!("one")).await;
    add(&cse, &path, &aei, json!("two")).await;
    add(&cse, &path, &aei, json!("three")).await;

    let (cni, cbs, _) = counters(&cse, &path).await;
    assert_eq!((cni, cbs), (2, 8), "two and three remain");
    let first_rn = first.at("/m2m:cin/rn").as_str().unwrap();
    assert_eq!(
        cse.retrieve(&format!("{path}/{first_rn}"), &aei).await.rsc,
        4004,
        "oldest was evicted"
    );
    assert_eq!(
        cse.retrieve(&format!("{path}/ol"), &aei)
            .await
            .at("/m2m:cin/con"),
        &json!("two")
    );
    assert_eq!(
        cse.retrieve(&format!("{path}/la"), &aei)
            .await
            .at("/m2m:cin/con"),
        &json!("three")
    );
}

#[tokio::test]
async fn latest_and_oldest_address_the_newest_and_the_first_instance() {
    let cse = common::start().await;
    let (aei, path) = setup(&cse, json!({"rn": "box"})).await;
    let a = add(&cse, &path, &aei, json!("a")).await;
    add(&cse, &path, &aei, json!("b")).await;
    let c = add(&cse, &path, &aei, json!("c")).await;

    let la = cse.retrieve(&format!("{path}/la"), &aei).await;
    assert_eq!(la.rsc, 2000, "{}", la.body);
    assert_eq!(la.at("/m2m:cin/con"), &json!("c"));
    assert_eq!(la.at("/m2m:cin/ri"), c.at("/m2m:cin/ri"));
    let ol = cse.retrieve(&format!("{path}/ol"), &aei).await;
    assert_eq!(ol.rsc, 2000);
    assert_eq!(ol.at("/m2m:cin/ri"), a.at("/m2m:cin/ri"));
}

#[tokio::test]
async fn latest_of_an_empty_container_is_not_found() {
    let cse = common::start().await;
    let (aei, path) = setup(&cse, json!({"rn": "box"})).await;
    let la = cse.retrieve(&format!("{path}/la"), &aei).await;
    assert_eq!(la.rsc, 4004, "{}", la.body);
    assert_eq!(la.status, 404);
    assert_eq!(cse.retrieve(&format!("{path}/ol"), &aei).await.rsc, 4004);
}

#[tokio::test]
async fn latest_of_a_container_is_only_readable_with_the_containers_rights() {
    let cse = common::start().await;
    let (aei, path) = setup(&cse, json!({"rn": "box"})).await;
    add(&cse, &path, &aei, json!("secret")).await;
    let other = cse.register_ae("other", None).await;
    let answer = cse.retrieve(&format!("{path}/la"), &other).await;
    assert_eq!(answer.rsc, 4103, "{}", answer.body);
    assert!(answer.at("/m2m:cin").is_null());
}

#[tokio::test]
async fn content_instance_larger_than_mbs_is_refused_with_5207_and_nothing_is_written() {
    let cse = common::start().await;
    let (aei, path) = setup(&cse, json!({"rn": "box", "mbs": 10})).await;
    add(&cse, &path, &aei, json!("12345")).await;
    let before = counters(&cse, &path).await;

    let answer = cse
        .create(
            &path,
            &aei,
            4,
            json!({"m2m:cin": {"rn": "big", "con": "12345678901"}}),
        )
        .await;
    assert_eq!(answer.rsc, 5207, "{}", answer.body);
    assert_eq!(answer.status, 406);
    assert_eq!(counters(&cse, &path).await, before, "cni/cbs/st unchanged");
    assert_eq!(cse.retrieve(&format!("{path}/big"), &aei).await.rsc, 4004);
    assert_eq!(
        cse.retrieve(&format!("{path}/la"), &aei)
            .await
            .at("/m2m:cin/con"),
        &json!("12345")
    );
}

#[tokio::test]
async fn container_with_mbs_drops_the_oldest_instances_to_make_room() {
    let cse = common::start().await;
    let (aei, path) = setup(&cse, json!({"rn": "box", "mbs": 10})).await;
    add(&cse, &path, &aei, json!("aaaaaa")).await;
    add(&cse, &path, &aei, json!("bbbbbb")).await;
    let (cni, cbs, _) = counters(&cse, &path).await;
    assert_eq!((cni, cbs), (1, 6));
    assert_eq!(
        cse.retrieve(&format!("{path}/ol"), &aei)
            .await
            .at("/m2m:cin/con"),
        &json!("bbbbbb")
    );

    add(&cse, &path, &aei, json!("cccc")).await;
    let (cni, cbs, _) = counters(&cse, &path).await;
    assert_eq!((cni, cbs), (2, 10), "exactly mbs fits");
}

#[tokio::test]
async fn content_instance_update_is_refused_with_4005() {
    let cse = common::start().await;
    let (aei, path) = setup(&cse, json!({"rn": "box"})).await;
    let created = add(&cse, &path, &aei, json!("original")).await;
    let cin_path = format!("{path}/{}", created.at("/m2m:cin/rn").as_str().unwrap());
    let answer = cse
        .update(&cin_path, &aei, json!({"m2m:cin": {"lbl": ["changed"]}}))
        .await;
    assert_eq!(answer.rsc, 4005, "{}", answer.body);
    assert_eq!(answer.status, 405);
    let read = cse.retrieve(&cin_path, &aei).await;
    assert_eq!(read.at("/m2m:cin/con"), &json!("original"));
    assert!(read.at("/m2m:cin/lbl").is_null());
    let via_la = cse
        .update(
            &format!("{path}/la"),
            &aei,
            json!({"m2m:cin": {"con": "x"}}),
        )
        .await;
    assert_eq!(via_la.rsc, 4005, "{}", via_la.body);
}

#[tokio::test]
async fn content_instance_under_an_ae_is_refused_with_4108() {
    let cse = common::start().await;
    let aei = cse.register_ae("app", None).await;
    let answer = cse
        .create(
            "/cse-in/app",
            &aei,
            4,
            json!({"m2m:cin": {"rn": "stray", "con": "x"}}),
        )
        .await;
    assert_eq!(answer.rsc, 4108, "{}", answer.body);
    assert_eq!(answer.status, 403);
    assert_eq!(cse.retrieve("/cse-in/app/stray", &aei).await.rsc, 4004);
}

#[tokio::test]
async fn content_instance_under_the_cse_base_is_refused_with_4108() {
    let cse = common::start().await;
    let answer = cse
        .create(
            "/cse-in",
            common::ADMIN,
            4,
            json!({"m2m:cin": {"rn": "stray", "con": "x"}}),
        )
        .await;
    assert_eq!(answer.rsc, 4108, "{}", answer.body);
}

#[tokio::test]
async fn content_instance_without_content_is_refused_with_4000() {
    let cse = common::start().await;
    let (aei, path) = setup(&cse, json!({"rn": "box"})).await;
    let answer = cse
        .create(
            &path,
            &aei,
            4,
            json!({"m2m:cin": {"rn": "empty", "cnf": "text/plain:0"}}),
        )
        .await;
    assert_eq!(answer.rsc, 4000, "{}", answer.body);
    assert_eq!(counters(&cse, &path).await, (0, 0, 0));
}

#[tokio::test]
async fn content_info_is_validated() {
    let cse = common::start().await;
    let (aei, path) = setup(&cse, json!({"rn": "box"})).await;
    for good in [
        "text/plain:0",
        "application/json:1",
        "application/octet-stream:2",
    ] {
        let answer = cse
            .create(
                &path,
                &aei,
                4,
                json!({"m2m:cin": {"cnf": good, "con": "x"}}),
            )
            .await;
        assert_eq!(answer.rsc, 2001, "cnf {good}: {}", answer.body);
        assert_eq!(answer.at("/m2m:cin/cnf"), &json!(good));
    }
    for bad in [
        "text/plain",
        "text:0",
        "text/plain:9",
        "/plain:0",
        "text/plain:0:0:0",
    ] {
        let answer = cse
            .create(&path, &aei, 4, json!({"m2m:cin": {"cnf": bad, "con": "x"}}))
            .await;
        assert_eq!(answer.rsc, 4000, "cnf {bad}: {}", answer.body);
    }
    for wrong_type in [json!(5), json!(["text/plain:0"])] {
        let answer = cse
            .create(
                &path,
                &aei,
                4,
                json!({"m2m:cin": {"cnf": wrong_type, "con": "x"}}),
            )
            .await;
        assert_eq!(answer.rsc, 4000, "cnf {wrong_type}: {}", answer.body);
    }
    assert_eq!(
        counters(&cse, &path).await.0,
        3,
        "only the valid ones were stored"
    );
}

#[tokio::test]
async fn creator_null_in_create_sets_the_creator_to_the_originator() {
    let cse = common::start().await;
    let aei = cse.register_ae("app", None).await;
    let cnt = cse
        .create(
            "/cse-in/app",
            &aei,
            3,
            json!({"m2m:cnt": {"rn": "box", "cr": null}}),
        )
        .await;
    assert_eq!(cnt.rsc, 2001, "{}", cnt.body);
    assert_eq!(cnt.at("/m2m:cnt/cr"), &json!(aei));
    let instance = cse
        .create(
            "/cse-in/app/box",
            &aei,
            4,
            json!({"m2m:cin": {"con": "x", "cr": null}}),
        )
        .await;
    assert_eq!(instance.rsc, 2001, "{}", instance.body);
    assert_eq!(instance.at("/m2m:cin/cr"), &json!(aei));
    assert_eq!(
        cse.retrieve("/cse-in/app/box", &aei)
            .await
            .at("/m2m:cnt/cr"),
        &json!(aei)
    );
}

#[tokio::test]
async fn creator_with_a_value_in_create_is_refused_with_4000() {
    let cse = common::start().await;
    let aei = cse.register_ae("app", None).await;
    let answer = cse
        .create(
            "/cse-in/app",
            &aei,
            3,
            json!({"m2m:cnt": {"rn": "box", "cr": "Csomeoneelse"}}),
        )
        .await;
    assert_eq!(answer.rsc, 4000, "{}", answer.body);
    assert_eq!(cse.retrieve("/cse-in/app/box", &aei).await.rsc, 4004);
}

#[tokio::test]
async fn creator_cannot_be_updated() {
    let cse = common::start().await;
    let (aei, path) = setup(&cse, json!({"rn": "box", "cr": null})).await;
    let answer = cse
        .update(&path, &aei, json!({"m2m:cnt": {"cr": "Cother"}}))
        .await;
    assert_eq!(answer.rsc, 4000, "{}", answer.body);
    assert_eq!(
        cse.retrieve(&path, &aei).await.at("/m2m:cnt/cr"),
        &json!(aei)
    );
}

#[tokio::test]
async fn content_of_every_json_type_round_trips() {
    let cse = common::start().await;
    let (aei, path) = setup(&cse, json!({"rn": "box"})).await;
    let values = [
        json!("text"),
        json!(42),
        json!(-3.5),
        json!(true),
        json!({"temperature": 21.5, "unit": "C", "nested": {"list": [1, 2, 3]}}),
        json!([1, "two", {"three": 3}]),
        json!(""),
    ];
    for (i, value) in values.iter().enumerate() {
        let rn = format!("v{i}");
        let created = cse
            .create(&path, &aei, 4, json!({"m2m:cin": {"rn": rn, "con": value}}))
            .await;
        assert_eq!(created.rsc, 2001, "{value}: {}", created.body);
        let read = cse.retrieve(&format!("{path}/{rn}"), &aei).await;
        assert_eq!(read.rsc, 2000);
        assert_eq!(read.at("/m2m:cin/con"), value, "{value} round-trips");
        let cs = read.at("/m2m:cin/cs").as_u64().expect("cs");
        let expected = match value {
            Value::String(s) => s.len() as u64,
            other => other.to_string().len() as u64,
        };
        assert_eq!(cs, expected, "cs of {value}");
    }
    assert_eq!(counters(&cse, &path).await.0, values.len() as u64);
}

#[tokio::test]
async fn deleting_the_latest_instance_updates_cni_and_cbs() {
    let cse = common::start().await;
    let (aei, path) = setup(&cse, json!({"rn": "box"})).await;
    add(&cse, &path, &aei, json!("first")).await;
    add(&cse, &path, &aei, json!("second!")).await;
    assert_eq!(&counters(&cse, &path).await, &(2, 12, 2));

    let deleted = cse.delete(&format!("{path}/la"), &aei).await;
    assert_eq!(deleted.rsc, 2002, "{}", deleted.body);
    let (cni, cbs, _) = counters(&cse, &path).await;
    assert_eq!((cni, cbs), (1, 5));
    assert_eq!(
        cse.retrieve(&format!("{path}/la"), &aei)
            .await
            .at("/m2m:cin/con"),
        &json!("first")
    );

    assert_eq!(cse.delete(&format!("{path}/ol"), &aei).await.rsc, 2002);
    let (cni, cbs, _) = counters(&cse, &path).await;
    assert_eq!((cni, cbs), (0, 0));
    assert_eq!(
        cse.delete(&format!("{path}/la"), &aei).await.rsc,
        4004,
        "nothing left to delete"
    );
}

#[tokio::test]
async fn deleting_an_instance_by_name_updates_cni_and_cbs() {
    let cse = common::start().await;
    let (aei, path) = setup(&cse, json!({"rn": "box"})).await;
    add(&cse, &path, &aei, json!("keep")).await;
    let gone = add(&cse, &path, &aei, json!("remove")).await;
    let gone_path = format!("{path}/{}", gone.at("/m2m:cin/rn").as_str().unwrap());
    assert_eq!(cse.delete(&gone_path, &aei).await.rsc, 2002);
    let (cni, cbs, _) = counters(&cse, &path).await;
    assert_eq!((cni, cbs), (1, 4));
    assert_eq!(cse.retrieve(&gone_path, &aei).await.rsc, 4004);
}

#[tokio::test]
async fn lowering_mni_by_update_evicts_old_instances_immediately() {
    let cse = common::start().await;
    let (aei, path) = setup(&cse, json!({"rn": "box"})).await;
    for con in ["1", "22", "333", "4444"] {
        add(&cse, &path, &aei, json!(con)).await;
    }
    let (cni, cbs, st) = counters(&cse, &path).await;
    assert_eq!((cni, cbs), (4, 10));

    let updated = cse
        .update(&path, &aei, json!({"m2m:cnt": {"mni": 1}}))
        .await;
    assert_eq!(updated.rsc, 2004, "{}", updated.body);
    assert_eq!(updated.at("/m2m:cnt/mni"), &json!(1));
    assert_eq!(updated.at("/m2m:cnt/cni"), &json!(1));
    assert_eq!(updated.at("/m2m:cnt/cbs"), &json!(4));
    assert_eq!(
        updated.at("/m2m:cnt/st"),
        &json!(st + 1),
        "st grows on update"
    );
    assert_eq!(
        cse.retrieve(&format!("{path}/ol"), &aei)
            .await
            .at("/m2m:cin/con"),
        &json!("4444")
    );
}

#[tokio::test]
async fn lowering_mbs_by_update_evicts_old_instances_immediately() {
    let cse = common::start().await;
    let (aei, path) = setup(&cse, json!({"rn": "box"})).await;
    for con in ["aaaa", "bbbb", "cccc"] {
        add(&cse, &path, &aei, json!(con)).await;
    }
    let updated = cse
        .update(&path, &aei, json!({"m2m:cnt": {"mbs": 8}}))
        .await;
    assert_eq!(updated.rsc, 2004, "{}", updated.body);
    assert_eq!(updated.at("/m2m:cnt/cni"), &json!(2));
    assert_eq!(updated.at("/m2m:cnt/cbs"), &json!(8));
    assert_eq!(
        cse.retrieve(&format!("{path}/ol"), &aei)
            .await
            .at("/m2m:cin/con"),
        &json!("bbbb")
    );
}

#[tokio::test]
async fn container_counters_cannot_be_written() {
    let cse = common::start().await;
    let (aei, path) = setup(&cse, json!({"rn": "box"})).await;
    for attrs in [json!({"cni": 5}), json!({"cbs": 5}), json!({"st": 9})] {
        let answer = cse.update(&path, &aei, json!({"m2m:cnt": attrs})).await;
        assert_eq!(answer.rsc, 4000, "{attrs}: {}", answer.body);
    }
    assert_eq!(counters(&cse, &path).await, (0, 0, 0));
}

#[tokio::test]
async fn disable_retrieval_blocks_instance_retrieval_with_4005() {
    let cse = common::start().await;
    let (aei, path) = setup(&cse, json!({"rn": "box", "disr": true})).await;
    let created = add(&cse, &path, &aei, json!("hidden")).await;
    let cin_path = format!("{path}/{}", created.at("/m2m:cin/rn").as_str().unwrap());
    assert_eq!(
        counters(&cse, &path).await.0,
        1,
        "instances are still stored"
    );

    for target in [format!("{path}/la"), format!("{path}/ol"), cin_path.clone()] {
        let answer = cse.retrieve(&target, &aei).await;
        assert_eq!(answer.rsc, 4005, "{target}: {}", answer.body);
        assert!(answer.at("/m2m:cin").is_null());
    }
    // The container itself stays readable.
    let container = cse.retrieve(&path, &aei).await;
    assert_eq!(container.rsc, 2000);
    assert_eq!(container.at("/m2m:cnt/disr"), &json!(true));
}

#[tokio::test]
async fn switching_disable_retrieval_off_deletes_the_withheld_instances_and_restores_access() {
    let cse = common::start().await;
    let (aei, path) = setup(&cse, json!({"rn": "box"})).await;
    add(&cse, &path, &aei, json!("old")).await;
    let on = cse
        .update(&path, &aei, json!({"m2m:cnt": {"disr": true}}))
        .await;
    assert_eq!(on.rsc, 2004, "{}", on.body);
    assert_eq!(on.at("/m2m:cnt/disr"), &json!(true));
    add(&cse, &path, &aei, json!("while disabled")).await;
    assert_eq!(
        cse.retrieve(&format!("{path}/la"), &aei).await.rsc,
        4005,
        "withheld while retrieval is disabled"
    );

    let off = cse
        .update(&path, &aei, json!({"m2m:cnt": {"disr": false}}))
        .await;
    assert_eq!(off.rsc, 2004, "{}", off.body);
    assert_eq!(off.at("/m2m:cnt/cni"), &json!(0), "{}", off.body);
    assert_eq!(off.at("/m2m:cnt/cbs"), &json!(0));
    assert_eq!(
        cse.retrieve(&format!("{path}/la"), &aei).await.rsc,
        4004,
        "withheld instances are never released"
    );
    add(&cse, &path, &aei, json!("new")).await;
    assert_eq!(
        cse.retrieve(&format!("{path}/la"), &aei)
            .await
            .at("/m2m:cin/con"),
        &json!("new")
    );
    assert_eq!(counters(&cse, &path).await.0, 1);
}

#[tokio::test]
async fn nested_containers_are_allowed_and_deleted_with_their_parent() {
    let cse = common::start().await;
    let (aei, path) = setup(&cse, json!({"rn": "outer"})).await;
    let inner = cse
        .create(&path, &aei, 3, json!({"m2m:cnt": {"rn": "inner"}}))
        .await;
    assert_eq!(inner.rsc, 2001, "{}", inner.body);
    add(&cse, &format!("{path}/inner"), &aei, json!("deep")).await;
    assert_eq!(cse.delete(&path, &aei).await.rsc, 2002);
    assert_eq!(cse.retrieve(&format!("{path}/inner"), &aei).await.rsc, 4004);
    assert_eq!(
        cse.retrieve(&format!("{path}/inner/la"), &aei).await.rsc,
        4004
    );
}

#[tokio::test]
async fn content_instance_name_clash_is_refused_with_4105_and_counters_stay() {
    let cse = common::start().await;
    let (aei, path) = setup(&cse, json!({"rn": "box"})).await;
    let first = cse
        .create(
            &path,
            &aei,
            4,
            json!({"m2m:cin": {"rn": "same", "con": "1"}}),
        )
        .await;
    assert_eq!(first.rsc, 2001);
    let again = cse
        .create(
            &path,
            &aei,
            4,
            json!({"m2m:cin": {"rn": "same", "con": "2"}}),
        )
        .await;
    assert_eq!(again.rsc, 4105, "{}", again.body);
    assert_eq!(counters(&cse, &path).await, (1, 1, 1));
    assert_eq!(
        cse.retrieve(&format!("{path}/same"), &aei)
            .await
            .at("/m2m:cin/con"),
        &json!("1")
    );
}

#[tokio::test]
async fn virtual_resource_names_cannot_be_used_for_real_resources() {
    let cse = common::start().await;
    let (aei, path) = setup(&cse, json!({"rn": "box"})).await;
    for rn in ["la", "ol"] {
        let answer = cse
            .create(&path, &aei, 4, json!({"m2m:cin": {"rn": rn, "con": "x"}}))
            .await;
        assert!(
            answer.rsc >= 4000,
            "rn {rn} must be refused: {}",
            answer.body
        );
    }
    assert_eq!(counters(&cse, &path).await.0, 0);
}
