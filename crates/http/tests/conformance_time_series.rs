//! <timeSeries> settings and missing-data detection (TS-0001 §9.6.36,
//! TS-0004 §7.4.37, TS-0018 TP/oneM2M/CSE/TS): `peid` defaults and limits,
//! the rules for changing detection settings, and detection itself with
//! short periods: missing points in `mdlt`/`mdc` and event type 8 reports.

mod common;

use std::time::Duration;

use serde_json::{json, Value};

async fn series(cse: &common::TestCse, aei: &str, rn: &str, attrs: Value) -> common::Answer {
    let mut body = attrs;
    body["rn"] = json!(rn);
    cse.create("/cse-in/app", aei, 29, json!({ "m2m:ts": body }))
        .await
}

async fn instance(cse: &common::TestCse, aei: &str, path: &str, dgt: &str) {
    let answer = cse
        .create(path, aei, 30, json!({"m2m:tsi": {"dgt": dgt, "con": "21"}}))
        .await;
    assert_eq!(answer.rsc, 2001, "{}", answer.body);
}

fn now() -> String {
    urbis_model::time::now_string()
}

#[tokio::test]
async fn period_tolerance_defaults_to_half_the_period_and_may_not_exceed_it() {
    let cse = common::start().await;
    let aei = cse.register_ae("app", None).await;
    let created = series(&cse, &aei, "a", json!({"pei": 1000})).await;
    assert_eq!(created.rsc, 2001, "{}", created.body);
    assert_eq!(created.at("/m2m:ts/peid"), &json!(500));
    assert_eq!(created.at("/m2m:ts/mdd"), &json!(false));
    assert_eq!(created.at("/m2m:ts/mdc"), &json!(0));
    assert_eq!(created.at("/m2m:ts/mdlt"), &Value::Null, "no empty list");
    let too_wide = series(&cse, &aei, "b", json!({"pei": 1000, "peid": 501})).await;
    assert_eq!(too_wide.rsc, 4000);
    let bad_cnf = series(&cse, &aei, "c", json!({"cnf": "wrong"})).await;
    assert_eq!(bad_cnf.rsc, 4000);
    let no_mdt = series(&cse, &aei, "d", json!({"pei": 1000, "mdd": true})).await;
    assert_eq!(no_mdt.rsc, 4000, "detection needs mdt");
    // a new period resets its tolerance
    let updated = cse
        .update("/cse-in/app/a", &aei, json!({"m2m:ts": {"pei": 3000}}))
        .await;
    assert_eq!(updated.at("/m2m:ts/peid"), &json!(1500));
    for read_only in [json!({"mdc": 1}), json!({"mdlt": []})] {
        let refused = cse
            .update("/cse-in/app/a", &aei, json!({ "m2m:ts": read_only }))
            .await;
        assert_eq!(refused.rsc, 4000, "{read_only}");
    }
}

#[tokio::test]
async fn detection_settings_are_fixed_while_detection_runs() {
    let cse = common::start().await;
    let aei = cse.register_ae("app", None).await;
    let created = series(
        &cse,
        &aei,
        "s",
        json!({"pei": 10000, "mdd": true, "mdt": 6000, "mdn": 3}),
    )
    .await;
    assert_eq!(created.rsc, 2001, "{}", created.body);
    for change in [
        json!({"pei": 20000}),
        json!({"mdn": 4}),
        json!({"mdt": 7000}),
        json!({"mdn": null}),
    ] {
        let refused = cse
            .update("/cse-in/app/s", &aei, json!({ "m2m:ts": change }))
            .await;
        assert_eq!(refused.rsc, 4000, "{change} while detecting");
    }
    let together = cse
        .update(
            "/cse-in/app/s",
            &aei,
            json!({"m2m:ts": {"mdd": false, "mdn": 4}}),
        )
        .await;
    assert_eq!(together.rsc, 4000, "mdd with a setting in one request");
    let off = cse
        .update("/cse-in/app/s", &aei, json!({"m2m:ts": {"mdd": false}}))
        .await;
    assert_eq!(off.rsc, 2004);
    let changed = cse
        .update("/cse-in/app/s", &aei, json!({"m2m:ts": {"mdn": 4}}))
        .await;
    assert_eq!(changed.rsc, 2004, "{}", changed.body);
}

#[tokio::test]
async fn missing_points_are_listed_and_reported_and_stop_when_detection_stops() {
    let cse = common::start().await;
    let aei = cse.register_ae("app", None).await;
    let receiver = common::receiver().await;
    // an instance every 200 ms, missing 160 ms after its expected time
    let created = series(
        &cse,
        &aei,
        "meter",
        json!({"pei": 200, "mdd": true, "mdt": 160, "mdn": 4}),
    )
    .await;
    assert_eq!(created.rsc, 2001, "{}", created.body);
    let sub = cse
        .create(
            "/cse-in/app/meter",
            &aei,
            23,
            json!({"m2m:sub": {"rn": "gaps", "nu": [receiver.url],
                               "enc": {"net": [8], "md": {"num": 2, "dur": "PT10S"}}}}),
        )
        .await;
    assert_eq!(sub.rsc, 2001, "{}", sub.body);

    // one instance starts detection; nothing follows, so every period misses
    instance(&cse, &aei, "/cse-in/app/meter", &now()).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let ts = cse.retrieve("/cse-in/app/meter", &aei).await;
    let mdlt = ts
        .at("/m2m:ts/mdlt")
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(mdlt.len(), 4, "the newest mdn points are kept: {}", ts.body);
    assert_eq!(ts.at("/m2m:ts/mdc"), &json!(4));
    assert!(
        mdlt.windows(2).all(|w| w[0].as_str() < w[1].as_str()),
        "in time order"
    );

    // the subscription hears of them in twos (md/num = 2)
    let received = receiver.wait_for(3).await;
    let reports: Vec<&Value> = received
        .iter()
        .filter_map(|n| n.pointer("/m2m:sgn/nev/rep/m2m:tsn"))
        .collect();
    assert!(!reports.is_empty(), "{received:?}");
    for report in &reports {
        assert_eq!(report["mdc"], json!(2), "{report}");
        assert_eq!(report["mdlt"].as_array().map(Vec::len), Some(2));
    }

    // switched off: the list stays and stops growing
    let off = cse
        .update("/cse-in/app/meter", &aei, json!({"m2m:ts": {"mdd": false}}))
        .await;
    assert_eq!(off.rsc, 2004);
    let before = off.at("/m2m:ts/mdlt").clone();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let after = cse.retrieve("/cse-in/app/meter", &aei).await;
    assert_eq!(after.at("/m2m:ts/mdlt"), &before);

    // switched on again: a fresh list
    let on = cse
        .update("/cse-in/app/meter", &aei, json!({"m2m:ts": {"mdd": true}}))
        .await;
    assert_eq!(on.at("/m2m:ts/mdc"), &json!(0));
    assert_eq!(on.at("/m2m:ts/mdlt"), &Value::Null);
}

#[tokio::test]
async fn instances_on_time_leave_no_gaps() {
    let cse = common::start().await;
    let aei = cse.register_ae("app", None).await;
    let created = series(
        &cse,
        &aei,
        "steady",
        json!({"pei": 500, "mdd": true, "mdt": 400}),
    )
    .await;
    assert_eq!(created.rsc, 2001);
    for _ in 0..4 {
        instance(&cse, &aei, "/cse-in/app/steady", &now()).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let ts = cse.retrieve("/cse-in/app/steady", &aei).await;
    assert_eq!(ts.at("/m2m:ts/mdc"), &json!(0), "{}", ts.body);
}

#[tokio::test]
async fn a_data_generation_time_is_taken_once_per_series() {
    let cse = common::start().await;
    let aei = cse.register_ae("app", None).await;
    for rn in ["a", "b"] {
        assert_eq!(series(&cse, &aei, rn, json!({})).await.rsc, 2001);
    }
    let dgt = "20261202T010203,000000";
    instance(&cse, &aei, "/cse-in/app/a", dgt).await;
    let again = cse
        .create(
            "/cse-in/app/a",
            &aei,
            30,
            json!({"m2m:tsi": {"dgt": dgt, "con": "22"}}),
        )
        .await;
    assert_eq!(again.rsc, 4105, "{}", again.body);
    instance(&cse, &aei, "/cse-in/app/b", dgt).await;
    let a = cse.retrieve("/cse-in/app/a", &aei).await;
    assert_eq!(
        a.at("/m2m:ts/cni"),
        &json!(1),
        "the refused one left nothing"
    );

    // once the instance is gone, its time is free again
    let first = cse.retrieve("/cse-in/app/a/ol", &aei).await;
    let ri = first.at("/m2m:tsi/ri").as_str().unwrap().to_owned();
    assert_eq!(cse.delete(&format!("/~/id-in/{ri}"), &aei).await.rsc, 2002);
    instance(&cse, &aei, "/cse-in/app/a", dgt).await;
}

#[tokio::test]
async fn a_watch_restarted_with_a_shorter_period_is_timed_at_once() {
    let cse = common::start().await;
    let aei = cse.register_ae("app", None).await;
    let slow = json!({"pei": 60000, "mdd": true, "mdt": 1000});
    assert_eq!(series(&cse, &aei, "s", slow).await.rsc, 2001);
    // the first watch expects its next instance in a minute
    instance(&cse, &aei, "/cse-in/app/s", &now()).await;
    for change in [
        json!({"mdd": false}),
        json!({"pei": 200, "mdt": 160}),
        json!({"mdd": true}),
    ] {
        let updated = cse
            .update("/cse-in/app/s", &aei, json!({ "m2m:ts": change }))
            .await;
        assert_eq!(updated.rsc, 2004, "{change}: {}", updated.body);
    }
    // a new watch with the new period; nothing follows its first instance
    tokio::time::sleep(Duration::from_millis(300)).await;
    instance(&cse, &aei, "/cse-in/app/s", &now()).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let ts = cse.retrieve("/cse-in/app/s", &aei).await;
    let missing = ts.at("/m2m:ts/mdc").as_u64().unwrap_or(0);
    assert!(
        missing >= 3,
        "the new watch waited for the old one's minute: {}",
        ts.body
    );
}
