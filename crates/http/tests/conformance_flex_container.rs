//! <flexContainer> and <flexContainerInstance> (TS-0001 §9.6.35-36, TS-0004
//! §7.4.37-38): specialization root keys, custom attributes, containerDefinition,
//! the instances kept with fcinEnabled (cni, cbs, st, mni, mia), la/ol, and the
//! immutability of instances.

mod common;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use urbis_core::CseConfig;
use urbis_http::HttpOptions;

const CND: &str = "org.onem2m.common.moduleclass.temperature";
const FCNT: u32 = 28;
const FCI: u32 = 58;

/// An AE plus a `cod:tempe` flexContainer `temp` under it with `extra`
/// attributes; returns (AE-ID, flexContainer path, the CREATE answer).
async fn setup(cse: &common::TestCse, extra: Value) -> (String, String, common::Answer) {
    let aei = cse.register_ae("app", None).await;
    let mut body = json!({"rn": "temp", "cnd": CND, "curT0": 23.0});
    for (k, v) in extra.as_object().expect("object") {
        body[k] = v.clone();
    }
    let answer = cse
        .create("/cse-in/app", &aei, FCNT, json!({"cod:tempe": body}))
        .await;
    assert_eq!(answer.rsc, 2001, "flexContainer: {}", answer.body);
    (aei, "/cse-in/app/temp".to_owned(), answer)
}

/// (cni, cbs, st) of a `cod:tempe` flexContainer.
async fn counters(cse: &common::TestCse, path: &str) -> (u64, u64, u64) {
    let answer = cse.retrieve(path, common::ADMIN).await;
    assert_eq!(answer.rsc, 2000, "{}", answer.body);
    let n = |sn: &str| {
        answer
            .at(&format!("/cod:tempe/{sn}"))
            .as_u64()
            .unwrap_or_else(|| panic!("{sn}: {}", answer.body))
    };
    (n("cni"), n("cbs"), n("st"))
}

async fn update_target(cse: &common::TestCse, path: &str, aei: &str, value: f64) {
    let answer = cse
        .update(path, aei, json!({"cod:tempe": {"tarTe": value}}))
        .await;
    assert_eq!(answer.rsc, 2004, "{}", answer.body);
}

#[tokio::test]
async fn specialization_is_created_and_represented_under_its_own_root_key() {
    let cse = common::start().await;
    let (aei, path, created) = setup(&cse, json!({"unit": 1, "minVe": -100.0})).await;
    assert_eq!(created.status, 201);
    let resource = created.at("/cod:tempe");
    assert!(resource.is_object(), "{}", created.body);
    assert_eq!(resource["ty"], json!(FCNT));
    assert_eq!(resource["rn"], json!("temp"));
    assert_eq!(resource["cnd"], json!(CND));
    assert_eq!(resource["st"], json!(0));
    assert!(
        resource["cs"].as_u64().is_some_and(|cs| cs > 0),
        "cs: {resource}"
    );
    assert!(
        resource
            .as_object()
            .unwrap()
            .keys()
            .all(|k| !k.starts_with("__")),
        "no internal attribute leaks: {resource}"
    );
    assert!(created.body.get("m2m:fcnt").is_none());

    let got = cse.retrieve(&path, &aei).await;
    assert_eq!(got.rsc, 2000, "{}", got.body);
    assert_eq!(got.at("/cod:tempe/curT0"), &json!(23.0));
    assert_eq!(got.at("/cod:tempe/unit"), &json!(1));
    assert_eq!(got.at("/cod:tempe/minVe"), &json!(-100.0));
    assert!(
        got.at("/cod:tempe/cni").is_null(),
        "no instances without fcied"
    );

    // The parent's children carry the same key.
    let children = cse
        .send(
            reqwest::Method::GET,
            "/cse-in/app?rcn=4",
            Some(&aei),
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(children.rsc, 2000, "{}", children.body);
    assert_eq!(children.at("/m2m:ae/cod:tempe/0/rn"), &json!("temp"));
    assert!(children.at("/m2m:ae/cod:tempe/0/__root").is_null());
}

#[tokio::test]
async fn generic_flex_container_uses_m2m_fcnt() {
    let cse = common::start().await;
    let aei = cse.register_ae("app", None).await;
    let answer = cse
        .create(
            "/cse-in/app",
            &aei,
            FCNT,
            json!({"m2m:fcnt": {"rn": "f", "cnd": "org.example.thing", "colour": "red"}}),
        )
        .await;
    assert_eq!(answer.rsc, 2001, "{}", answer.body);
    assert_eq!(answer.at("/m2m:fcnt/colour"), &json!("red"));
    let got = cse.retrieve("/cse-in/app/f", &aei).await;
    assert_eq!(got.at("/m2m:fcnt/cnd"), &json!("org.example.thing"));
}

#[tokio::test]
async fn custom_attributes_round_trip_through_update() {
    let cse = common::start().await;
    let (aei, path, created) = setup(&cse, json!({})).await;
    let cs_before = created.at("/cod:tempe/cs").as_u64().unwrap();
    let answer = cse
        .update(
            &path,
            &aei,
            json!({"cod:tempe": {"tarTe": 5.0, "curT0": 17.5, "desc": {"text": "hall"}}}),
        )
        .await;
    assert_eq!(answer.rsc, 2004, "{}", answer.body);
    assert_eq!(answer.at("/cod:tempe/st"), &json!(1));
    let got = cse.retrieve(&path, &aei).await;
    assert_eq!(got.at("/cod:tempe/tarTe"), &json!(5.0));
    assert_eq!(got.at("/cod:tempe/curT0"), &json!(17.5));
    assert_eq!(got.at("/cod:tempe/desc/text"), &json!("hall"));
    assert!(got.at("/cod:tempe/cs").as_u64().unwrap() > cs_before);

    // null removes a custom attribute
    let answer = cse
        .update(&path, &aei, json!({"cod:tempe": {"desc": null}}))
        .await;
    assert_eq!(answer.rsc, 2004, "{}", answer.body);
    assert!(answer.at("/cod:tempe/desc").is_null());

    // the UPDATE must use the resource's own root key
    let wrong = cse
        .update(&path, &aei, json!({"m2m:fcnt": {"tarTe": 1.0}}))
        .await;
    assert_eq!(wrong.rsc, 4000, "{}", wrong.body);
    // internal attributes cannot be written
    let internal = cse
        .update(&path, &aei, json!({"cod:tempe": {"__root": "x:y"}}))
        .await;
    assert_eq!(internal.rsc, 4000, "{}", internal.body);
}

#[tokio::test]
async fn container_definition_is_mandatory_and_not_updatable() {
    let cse = common::start().await;
    let aei = cse.register_ae("app", None).await;
    let missing = cse
        .create(
            "/cse-in/app",
            &aei,
            FCNT,
            json!({"cod:tempe": {"rn": "t", "curT0": 1.0}}),
        )
        .await;
    assert_eq!(missing.rsc, 4000, "{}", missing.body);

    let (aei2, path, _) = {
        let answer = cse
            .create(
                "/cse-in/app",
                &aei,
                FCNT,
                json!({"cod:tempe": {"rn": "temp", "cnd": CND}}),
            )
            .await;
        assert_eq!(answer.rsc, 2001, "{}", answer.body);
        (aei.clone(), "/cse-in/app/temp".to_owned(), answer)
    };
    let changed = cse
        .update(&path, &aei2, json!({"cod:tempe": {"cnd": "org.other"}}))
        .await;
    assert_eq!(changed.rsc, 4000, "{}", changed.body);
    let read_only = cse
        .update(&path, &aei2, json!({"cod:tempe": {"cni": 3}}))
        .await;
    assert_eq!(read_only.rsc, 4000, "{}", read_only.body);
}

#[tokio::test]
async fn root_key_must_fit_the_resource_type() {
    let cse = common::start().await;
    let aei = cse.register_ae("app", None).await;
    // a specialization name with another type
    let as_container = cse
        .create("/cse-in/app", &aei, 3, json!({"cod:tempe": {"cnd": CND}}))
        .await;
    assert_eq!(as_container.rsc, 4000, "{}", as_container.body);
    // another type's name with ty=28
    let as_fcnt = cse
        .create("/cse-in/app", &aei, FCNT, json!({"m2m:cnt": {"cnd": CND}}))
        .await;
    assert_eq!(as_fcnt.rsc, 4000, "{}", as_fcnt.body);
    // not a namespaced name
    let bare = cse
        .create("/cse-in/app", &aei, FCNT, json!({"tempe": {"cnd": CND}}))
        .await;
    assert_eq!(bare.rsc, 4000, "{}", bare.body);
}

#[tokio::test]
async fn limits_need_fcied_and_may_not_be_zero() {
    let cse = common::start().await;
    let aei = cse.register_ae("app", None).await;
    for (body, why) in [
        (json!({"mni": 10}), "mni without fcied"),
        (json!({"mia": 10}), "mia without fcied"),
        (json!({"fcied": false, "mbs": 0}), "mbs 0"),
        (json!({"fcied": true, "mbs": 2}), "mbs below cs"),
    ] {
        let mut fcnt = json!({"cnd": CND, "curT0": 23.0});
        for (k, v) in body.as_object().unwrap() {
            fcnt[k] = v.clone();
        }
        let answer = cse
            .create("/cse-in/app", &aei, FCNT, json!({"cod:tempe": fcnt}))
            .await;
        assert_eq!(answer.rsc, 4000, "{why}: {}", answer.body);
    }
}

#[tokio::test]
async fn fcied_creates_an_instance_on_create_and_on_each_update() {
    let cse = common::start().await;
    let (aei, path, created) = setup(&cse, json!({"fcied": true})).await;
    assert_eq!(created.at("/cod:tempe/cni"), &json!(1), "{}", created.body);
    let cs = created.at("/cod:tempe/cs").as_u64().unwrap();
    assert_eq!(created.at("/cod:tempe/cbs"), &json!(cs));

    let first = cse.retrieve(&format!("{path}/la"), &aei).await;
    assert_eq!(first.rsc, 2000, "{}", first.body);
    assert_eq!(first.at("/cod:tempe/ty"), &json!(FCI));
    assert_eq!(first.at("/cod:tempe/rn"), &json!("temp_0"));
    assert_eq!(first.at("/cod:tempe/st"), &json!(0));
    assert_eq!(first.at("/cod:tempe/cs"), &json!(cs));
    assert_eq!(first.at("/cod:tempe/org"), &json!(aei));
    assert_eq!(first.at("/cod:tempe/curT0"), &json!(23.0));
    assert!(first.at("/cod:tempe/cnd").is_null(), "{}", first.body);
    assert!(first.at("/cod:tempe/__root").is_null());

    for _ in 0..5 {
        update_target(&cse, &path, &aei, 5.0).await;
    }
    let (cni, cbs, st) = counters(&cse, &path).await;
    assert_eq!((cni, st), (6, 5));
    let cs_now = cse
        .retrieve(&path, &aei)
        .await
        .at("/cod:tempe/cs")
        .as_u64()
        .unwrap();
    assert_eq!(cbs, cs + 5 * cs_now);

    // An UPDATE without custom attributes adds none.
    let answer = cse
        .update(&path, &aei, json!({"cod:tempe": {"mni": 100}}))
        .await;
    assert_eq!(answer.rsc, 2004, "{}", answer.body);
    assert_eq!(answer.at("/cod:tempe/cni"), &json!(6));
    // lbl is part of the snapshot.
    let answer = cse
        .update(&path, &aei, json!({"cod:tempe": {"lbl": ["hall"]}}))
        .await;
    assert_eq!(answer.at("/cod:tempe/cni"), &json!(7));
    let latest = cse.retrieve(&format!("{path}/la"), &aei).await;
    assert_eq!(latest.at("/cod:tempe/lbl"), &json!(["hall"]));
    assert_eq!(latest.at("/cod:tempe/tarTe"), &json!(5.0));
    assert_eq!(latest.at("/cod:tempe/st"), &json!(7));
}

#[tokio::test]
async fn latest_and_oldest_name_the_newest_and_first_instance() {
    let cse = common::start().await;
    let (aei, path, _) = setup(&cse, json!({"fcied": true})).await;
    let answer = cse
        .update(&path, &aei, json!({"cod:tempe": {"curT0": 17.0}}))
        .await;
    assert_eq!(answer.rsc, 2004, "{}", answer.body);
    let la = cse.retrieve(&format!("{path}/la"), &aei).await;
    let ol = cse.retrieve(&format!("{path}/ol"), &aei).await;
    assert_eq!(la.at("/cod:tempe/curT0"), &json!(17.0));
    assert_eq!(ol.at("/cod:tempe/curT0"), &json!(23.0));
    // An instance is a child of the flexContainer under its own name.
    let by_name = cse.retrieve(&format!("{path}/temp_1"), &aei).await;
    assert_eq!(by_name.rsc, 2000, "{}", by_name.body);
    assert_eq!(by_name.at("/cod:tempe/ri"), la.at("/cod:tempe/ri"));
}

#[tokio::test]
async fn no_latest_without_fcied() {
    let cse = common::start().await;
    let (aei, path, _) = setup(&cse, json!({})).await;
    update_target(&cse, &path, &aei, 1.0).await;
    assert_eq!(cse.retrieve(&format!("{path}/la"), &aei).await.rsc, 4004);
}

#[tokio::test]
async fn mni_drops_the_oldest_instances() {
    let cse = common::start().await;
    let (aei, path, _) = setup(&cse, json!({"fcied": true, "mni": 2})).await;
    for value in [1.0, 2.0, 3.0] {
        update_target(&cse, &path, &aei, value).await;
    }
    let (cni, _, _) = counters(&cse, &path).await;
    assert_eq!(cni, 2);
    let ol = cse.retrieve(&format!("{path}/ol"), &aei).await;
    assert_eq!(ol.at("/cod:tempe/tarTe"), &json!(2.0));
    let la = cse.retrieve(&format!("{path}/la"), &aei).await;
    assert_eq!(la.at("/cod:tempe/tarTe"), &json!(3.0));

    // lowering mni trims at once
    let answer = cse
        .update(&path, &aei, json!({"cod:tempe": {"mni": 1}}))
        .await;
    assert_eq!(answer.rsc, 2004, "{}", answer.body);
    assert_eq!(answer.at("/cod:tempe/cni"), &json!(1));
    let ol = cse.retrieve(&format!("{path}/ol"), &aei).await;
    let la = cse.retrieve(&format!("{path}/la"), &aei).await;
    assert_eq!(ol.at("/cod:tempe/ri"), la.at("/cod:tempe/ri"));
    // cbs is exactly the remaining instance's size
    let (_, cbs, _) = counters(&cse, &path).await;
    assert_eq!(Some(cbs), la.at("/cod:tempe/cs").as_u64());
}

#[tokio::test]
async fn fcied_false_keeps_only_the_latest_and_removing_it_drops_all() {
    let cse = common::start().await;
    let (aei, path, created) = setup(&cse, json!({"fcied": false})).await;
    assert_eq!(created.at("/cod:tempe/cni"), &json!(1), "{}", created.body);
    update_target(&cse, &path, &aei, 4.0).await;
    let (cni, cbs, _) = counters(&cse, &path).await;
    assert_eq!(cni, 1);
    let la = cse.retrieve(&format!("{path}/la"), &aei).await;
    assert_eq!(la.at("/cod:tempe/tarTe"), &json!(4.0));
    assert_eq!(Some(cbs), la.at("/cod:tempe/cs").as_u64());

    // on: counting starts afresh with one new snapshot
    let answer = cse
        .update(&path, &aei, json!({"cod:tempe": {"fcied": true, "mni": 5}}))
        .await;
    assert_eq!(answer.rsc, 2004, "{}", answer.body);
    assert_eq!(answer.at("/cod:tempe/cni"), &json!(1));
    update_target(&cse, &path, &aei, 6.0).await;
    assert_eq!(counters(&cse, &path).await.0, 2);

    // removed: no instances, no counters, no limits
    let answer = cse
        .update(&path, &aei, json!({"cod:tempe": {"fcied": null}}))
        .await;
    assert_eq!(answer.rsc, 2004, "{}", answer.body);
    for sn in ["cni", "cbs", "mni"] {
        assert!(
            answer.at(&format!("/cod:tempe/{sn}")).is_null(),
            "{sn}: {}",
            answer.body
        );
    }
    assert_eq!(cse.retrieve(&format!("{path}/la"), &aei).await.rsc, 4004);
    let limits = cse
        .update(&path, &aei, json!({"cod:tempe": {"mni": 3}}))
        .await;
    assert_eq!(limits.rsc, 4000, "{}", limits.body);
}

#[tokio::test]
async fn instances_are_read_only_and_cannot_be_created_by_request() {
    let cse = common::start().await;
    let (aei, path, _) = setup(&cse, json!({"fcied": true})).await;
    let update = cse
        .update(
            &format!("{path}/temp_0"),
            &aei,
            json!({"cod:tempe": {"curT0": 5.0}}),
        )
        .await;
    assert_eq!(update.rsc, 4005, "{}", update.body);
    let labels = cse
        .update(
            &format!("{path}/temp_0"),
            &aei,
            json!({"cod:tempe": {"lbl": ["x"]}}),
        )
        .await;
    assert_eq!(labels.rsc, 4005, "{}", labels.body);
    let via_latest = cse
        .update(
            &format!("{path}/la"),
            &aei,
            json!({"cod:tempe": {"curT0": 5.0}}),
        )
        .await;
    assert_eq!(via_latest.rsc, 4005, "{}", via_latest.body);
    let create = cse
        .create(&path, &aei, FCI, json!({"cod:tempe": {"curT0": 5.0}}))
        .await;
    assert_eq!(create.rsc, 4005, "{}", create.body);
    // still one instance, unchanged
    let la = cse.retrieve(&format!("{path}/la"), &aei).await;
    assert_eq!(la.at("/cod:tempe/curT0"), &json!(23.0));
    assert_eq!(counters(&cse, &path).await.0, 1);
}

#[tokio::test]
async fn deleting_an_instance_updates_the_counters() {
    let cse = common::start().await;
    let (aei, path, created) = setup(&cse, json!({"fcied": true})).await;
    let cs0 = created.at("/cod:tempe/cs").as_u64().unwrap();
    update_target(&cse, &path, &aei, 5.0).await;
    let (cni, cbs, _) = counters(&cse, &path).await;
    assert_eq!(cni, 2);
    let deleted = cse.delete(&format!("{path}/temp_0"), &aei).await;
    assert_eq!(deleted.rsc, 2002, "{}", deleted.body);
    let (cni_after, cbs_after, _) = counters(&cse, &path).await;
    assert_eq!(cni_after, 1);
    assert_eq!(cbs_after, cbs - cs0);
    assert_eq!(
        cse.retrieve(&format!("{path}/ol"), &aei)
            .await
            .at("/cod:tempe/rn"),
        &json!("temp_1")
    );
    // deleting the flexContainer takes its instances along
    assert_eq!(cse.delete(&path, &aei).await.rsc, 2002);
    assert_eq!(
        cse.retrieve(&format!("{path}/temp_1"), &aei).await.rsc,
        4004
    );
}

#[tokio::test]
async fn containers_and_subscriptions_live_below_a_flex_container() {
    let cse = common::start().await;
    let (aei, path, _) = setup(&cse, json!({})).await;
    let cnt = cse
        .create(&path, &aei, 3, json!({"m2m:cnt": {"rn": "c"}}))
        .await;
    assert_eq!(cnt.rsc, 2001, "{}", cnt.body);
    let nested = cse
        .create(
            &path,
            &aei,
            FCNT,
            json!({"cod:tempe": {"rn": "inner", "cnd": CND}}),
        )
        .await;
    assert_eq!(nested.rsc, 2001, "{}", nested.body);
    let ae = cse
        .create(
            &path,
            &aei,
            2,
            json!({"m2m:ae": {"api": "Nx", "rr": false, "srv": ["4"]}}),
        )
        .await;
    assert_eq!(ae.rsc, 4108, "{}", ae.body);
}

#[tokio::test]
async fn max_instance_age_expires_instances() {
    let config = CseConfig {
        expiration_check_ms: 100,
        sp_id: "test.example.com".into(),
        ..CseConfig::default()
    };
    let cse = common::start_with(config, HttpOptions::default()).await;
    let (aei, path, created) = setup(&cse, json!({"fcied": true, "mia": 1})).await;
    assert_eq!(created.at("/cod:tempe/cni"), &json!(1));
    assert!(created.at("/cod:tempe/cbs").as_u64().unwrap() > 0);
    for _ in 0..5 {
        update_target(&cse, &path, &aei, 5.0).await;
    }
    assert_eq!(counters(&cse, &path).await.0, 6);
    let start = Instant::now();
    loop {
        let (cni, cbs, _) = counters(&cse, &path).await;
        if cni == 0 {
            assert_eq!(cbs, 0);
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "instances still there: cni {cni}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // the flexContainer itself stays
    assert_eq!(cse.retrieve(&path, &aei).await.rsc, 2000);
    assert_eq!(cse.retrieve(&format!("{path}/la"), &aei).await.rsc, 4004);
}

#[tokio::test]
async fn subscribers_see_updates_and_new_instances_under_the_specialization_key() {
    let cse = common::start().await;
    let (aei, path, _) = setup(&cse, json!({"fcied": true})).await;
    let receiver = common::receiver().await;
    let sub = cse
        .create(
            &path,
            &aei,
            23,
            json!({"m2m:sub": {"rn": "sub", "nu": [receiver.url], "enc": {"net": [1, 3]}}}),
        )
        .await;
    assert_eq!(sub.rsc, 2001, "{}", sub.body);
    update_target(&cse, &path, &aei, 5.0).await;
    let got = receiver.wait_for(3).await;
    assert_eq!(got.len(), 3, "verification, new instance, update: {got:?}");
    let events: Vec<&Value> = got[1..].iter().map(|n| &n["m2m:sgn"]["nev"]).collect();
    let created = events
        .iter()
        .find(|nev| nev["net"] == json!(3))
        .unwrap_or_else(|| panic!("child creation: {events:?}"));
    assert_eq!(created["rep"]["cod:tempe"]["ty"], json!(FCI));
    assert_eq!(created["rep"]["cod:tempe"]["tarTe"], json!(5.0));
    let updated = events
        .iter()
        .find(|nev| nev["net"] == json!(1))
        .unwrap_or_else(|| panic!("update: {events:?}"));
    assert_eq!(updated["rep"]["cod:tempe"]["ty"], json!(FCNT));
    assert!(updated["rep"]["cod:tempe"]["__root"].is_null());
}
