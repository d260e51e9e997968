//! Resource expiration (TS-0001 §9.6.1.3 expirationTime, TS-0004 §7.4.6 mia):
//! expired resources disappear, lifetimes are capped by the parent and by the
//! CSE's maximum, and maxInstanceAge expires instances.

mod common;

use std::time::{Duration, Instant};

use serde_json::json;
use urbis_core::CseConfig;
use urbis_http::HttpOptions;
use urbis_model::time;

async fn start() -> common::TestCse {
    let config = CseConfig {
        expiration_check_ms: 100,
        sp_id: "test.example.com".into(),
        ..CseConfig::default()
    };
    common::start_with(config, HttpOptions::default()).await
}

/// `now + ms` as a oneM2M timestamp.
fn in_ms(ms: i64) -> String {
    time::format(time::after_ms(time::now(), ms))
}

/// Poll until `path` answers 4004; returns how long it took, or panics after `limit`.
async fn wait_until_gone(cse: &common::TestCse, path: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let answer = cse.retrieve(path, common::ADMIN).await;
        if answer.rsc == 4004 {
            return start.elapsed();
        }
        assert_eq!(answer.rsc, 2000, "{}", answer.body);
        assert!(
            start.elapsed() < limit,
            "{path} still exists after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn resource_disappears_after_its_expiration_time() {
    let cse = start().await;
    let aei = cse.register_ae("app", None).await;
    let et = in_ms(1000);
    let created = cse
        .create(
            "/cse-in/app",
            &aei,
            3,
            json!({"m2m:cnt": {"rn": "short", "et": et}}),
        )
        .await;
    assert_eq!(created.rsc, 2001, "{}", created.body);
    assert_eq!(
        created.at("/m2m:cnt/et"),
        &json!(et),
        "the requested et is kept"
    );
    // Still there right away.
    assert_eq!(cse.retrieve("/cse-in/app/short", &aei).await.rsc, 2000);
    let took = wait_until_gone(&cse, "/cse-in/app/short", Duration::from_secs(5)).await;
    assert!(
        took >= Duration::from_millis(700),
        "gone too early: {took:?}"
    );
    // Its parent is untouched.
    assert_eq!(cse.retrieve("/cse-in/app", &aei).await.rsc, 2000);
}

#[tokio::test]
async fn expiry_removes_the_whole_subtree() {
    let cse = start().await;
    let aei = cse.register_ae("app", None).await;
    cse.create(
        "/cse-in/app",
        &aei,
        3,
        json!({"m2m:cnt": {"rn": "short", "et": in_ms(800)}}),
    )
    .await;
    let inner = cse
        .create(
            "/cse-in/app/short",
            &aei,
            3,
            json!({"m2m:cnt": {"rn": "inner"}}),
        )
        .await;
    assert_eq!(inner.rsc, 2001, "{}", inner.body);
    let inner_ri = inner.at("/m2m:cnt/ri").as_str().unwrap().to_owned();
    cse.create(
        "/cse-in/app/short/inner",
        &aei,
        4,
        json!({"m2m:cin": {"rn": "item", "con": "x"}}),
    )
    .await;
    wait_until_gone(&cse, "/cse-in/app/short", Duration::from_secs(5)).await;
    assert_eq!(
        cse.retrieve("/cse-in/app/short/inner/item", common::ADMIN)
            .await
            .rsc,
        4004
    );
    assert_eq!(
        cse.retrieve(&format!("/{inner_ri}"), common::ADMIN)
            .await
            .rsc,
        4004
    );
}

#[tokio::test]
async fn expiry_of_a_subscription_sends_the_deletion_notice() {
    let cse = start().await;
    let aei = cse.register_ae("app", None).await;
    cse.create("/cse-in/app", &aei, 3, json!({"m2m:cnt": {"rn": "box"}}))
        .await;
    let target = common::receiver().await;
    let subscriber = common::receiver().await;
    let sub = json!({"m2m:sub": {"rn": "sub", "nu": [target.url], "su": subscriber.url, "et": in_ms(800)}});
    assert_eq!(cse.create("/cse-in/app/box", &aei, 23, sub).await.rsc, 2001);
    wait_until_gone(&cse, "/cse-in/app/box/sub", Duration::from_secs(5)).await;
    let got = subscriber.wait_for(1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["m2m:sgn"]["sud"], json!(true));
}

#[tokio::test]
async fn child_expiration_is_capped_at_the_parents() {
    let cse = start().await;
    let aei = cse.register_ae("app", None).await;
    let parent_et = in_ms(60_000);
    let parent = cse
        .create(
            "/cse-in/app",
            &aei,
            3,
            json!({"m2m:cnt": {"rn": "parent", "et": parent_et}}),
        )
        .await;
    assert_eq!(parent.rsc, 2001, "{}", parent.body);

    let longer = cse
        .create(
            "/cse-in/app/parent",
            &aei,
            3,
            json!({"m2m:cnt": {"rn": "longer", "et": in_ms(3_600_000)}}),
        )
        .await;
    assert_eq!(longer.rsc, 2001, "{}", longer.body);
    assert_eq!(longer.at("/m2m:cnt/et"), &json!(parent_et));

    let unspecified = cse
        .create(
            "/cse-in/app/parent",
            &aei,
            3,
            json!({"m2m:cnt": {"rn": "unspecified"}}),
        )
        .await;
    assert_eq!(unspecified.at("/m2m:cnt/et"), &json!(parent_et));

    let shorter_et = in_ms(30_000);
    let shorter = cse
        .create(
            "/cse-in/app/parent",
            &aei,
            3,
            json!({"m2m:cnt": {"rn": "shorter", "et": shorter_et}}),
        )
        .await;
    assert_eq!(
        shorter.at("/m2m:cnt/et"),
        &json!(shorter_et),
        "a shorter lifetime is kept"
    );

    let cin = cse
        .create(
            "/cse-in/app/parent",
            &aei,
            4,
            json!({"m2m:cin": {"con": "x", "et": in_ms(3_600_000)}}),
        )
        .await;
    assert_eq!(cin.rsc, 2001, "{}", cin.body);
    assert_eq!(cin.at("/m2m:cin/et"), &json!(parent_et));
}

#[tokio::test]
async fn child_expiration_update_is_capped_at_the_parents() {
    let cse = start().await;
    let aei = cse.register_ae("app", None).await;
    let parent_et = in_ms(60_000);
    cse.create(
        "/cse-in/app",
        &aei,
        3,
        json!({"m2m:cnt": {"rn": "parent", "et": parent_et}}),
    )
    .await;
    cse.create(
        "/cse-in/app/parent",
        &aei,
        3,
        json!({"m2m:cnt": {"rn": "child", "et": in_ms(10_000)}}),
    )
    .await;
    let updated = cse
        .update(
            "/cse-in/app/parent/child",
            &aei,
            json!({"m2m:cnt": {"et": in_ms(3_600_000)}}),
        )
        .await;
    assert_eq!(updated.rsc, 2004, "{}", updated.body);
    assert_eq!(updated.at("/m2m:cnt/et"), &json!(parent_et));
}

#[tokio::test]
async fn expiration_far_in_the_future_is_capped() {
    let cse = start().await;
    let aei = cse.register_ae("app", None).await;
    let requested = "21001231T235959,000000";
    let created = cse
        .create(
            "/cse-in/app",
            &aei,
            3,
            json!({"m2m:cnt": {"rn": "forever", "et": requested}}),
        )
        .await;
    assert_eq!(created.rsc, 2001, "{}", created.body);
    let et = created.at("/m2m:cnt/et").as_str().expect("et").to_owned();
    assert!(
        et.as_str() < requested,
        "et {et} must be capped below {requested}"
    );
    assert!(et > in_ms(0), "et {et} is in the future");
    let max_secs = CseConfig::default().max_expiration_secs as i64;
    assert!(
        et <= in_ms(max_secs * 1000 + 1000),
        "et {et} is within the CSE's maximum lifetime"
    );
    // The AE got the same cap.
    let ae_et = cse
        .retrieve("/cse-in/app", &aei)
        .await
        .at("/m2m:ae/et")
        .as_str()
        .expect("et")
        .to_owned();
    assert!(ae_et <= in_ms(max_secs * 1000 + 1000), "{ae_et}");
}

#[tokio::test]
async fn expiration_is_capped_by_a_lowered_maximum() {
    let cse = start().await;
    cse.cse.set_expiration_limits(100, 60);
    let aei = cse.register_ae("app", None).await;
    let created = cse
        .create(
            "/cse-in/app",
            &aei,
            3,
            json!({"m2m:cnt": {"rn": "box", "et": in_ms(3_600_000)}}),
        )
        .await;
    assert_eq!(created.rsc, 2001, "{}", created.body);
    let et = created.at("/m2m:cnt/et").as_str().unwrap().to_owned();
    assert!(
        et <= in_ms(61_000) && et >= in_ms(50_000),
        "et {et} ≈ now + 60 s"
    );
}

#[tokio::test]
async fn extending_the_expiration_time_keeps_the_resource() {
    let cse = start().await;
    let aei = cse.register_ae("app", None).await;
    cse.create(
        "/cse-in/app",
        &aei,
        3,
        json!({"m2m:cnt": {"rn": "renewed", "et": in_ms(800)}}),
    )
    .await;
    let later = in_ms(60_000);
    let updated = cse
        .update(
            "/cse-in/app/renewed",
            &aei,
            json!({"m2m:cnt": {"et": later}}),
        )
        .await;
    assert_eq!(updated.rsc, 2004, "{}", updated.body);
    assert_eq!(updated.at("/m2m:cnt/et"), &json!(later));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        cse.retrieve("/cse-in/app/renewed", &aei).await.rsc,
        2000,
        "renewed resource survives its old et"
    );
}

#[tokio::test]
async fn max_instance_age_expires_instances_and_cni_drops_to_zero() {
    let cse = start().await;
    let aei = cse.register_ae("app", None).await;
    let cnt = cse
        .create(
            "/cse-in/app",
            &aei,
            3,
            json!({"m2m:cnt": {"rn": "box", "mia": 2}}),
        )
        .await;
    assert_eq!(cnt.rsc, 2001, "{}", cnt.body);
    assert_eq!(cnt.at("/m2m:cnt/mia"), &json!(2));
    for con in ["a", "bb"] {
        let cin = cse
            .create("/cse-in/app/box", &aei, 4, json!({"m2m:cin": {"con": con}}))
            .await;
        assert_eq!(cin.rsc, 2001);
        // The CSE's "now" at creation is before ours after the answer.
        let limit = in_ms(2000);
        let et = cin.at("/m2m:cin/et").as_str().expect("et").to_owned();
        assert!(et <= limit, "instance et {et} limited by mia (≤ {limit})");
        assert!(et >= in_ms(1000), "instance et {et} is about now + mia");
    }
    let box_now = cse.retrieve("/cse-in/app/box", &aei).await;
    assert_eq!(
        (box_now.at("/m2m:cnt/cni"), box_now.at("/m2m:cnt/cbs")),
        (&json!(2), &json!(3))
    );

    let start = Instant::now();
    loop {
        let container = cse.retrieve("/cse-in/app/box", &aei).await;
        assert_eq!(container.rsc, 2000, "the container itself does not expire");
        if container.at("/m2m:cnt/cni") == &json!(0) {
            assert_eq!(container.at("/m2m:cnt/cbs"), &json!(0));
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "instances did not expire: {}",
            container.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(cse.retrieve("/cse-in/app/box/la", &aei).await.rsc, 4004);
}

#[tokio::test]
async fn max_instance_age_keeps_a_shorter_instance_expiration() {
    let cse = start().await;
    let aei = cse.register_ae("app", None).await;
    cse.create(
        "/cse-in/app",
        &aei,
        3,
        json!({"m2m:cnt": {"rn": "box", "mia": 3600}}),
    )
    .await;
    let et = in_ms(60_000);
    let cin = cse
        .create(
            "/cse-in/app/box",
            &aei,
            4,
            json!({"m2m:cin": {"con": "x", "et": et}}),
        )
        .await;
    assert_eq!(cin.rsc, 2001, "{}", cin.body);
    assert_eq!(cin.at("/m2m:cin/et"), &json!(et));
}
