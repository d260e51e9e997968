//! <subscription> and notification (TS-0001 §9.6.8, TS-0004 §7.3.8 / §7.4.8 /
//! §7.5.1, TS-0018 TP/oneM2M/CSE/SUB): verification requests, event types,
//! content types, expiration counter, deletion notices and AE reachability.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{json, Value};

/// AE `app` (no poa) with container `box`; returns the AE-ID.
async fn setup(cse: &common::TestCse) -> String {
    let aei = cse.register_ae("app", None).await;
    let cnt = cse
        .create("/cse-in/app", &aei, 3, json!({"m2m:cnt": {"rn": "box"}}))
        .await;
    assert_eq!(cnt.rsc, 2001, "{}", cnt.body);
    aei
}

async fn subscribe(
    cse: &common::TestCse,
    parent: &str,
    originator: &str,
    sub: Value,
) -> common::Answer {
    cse.create(parent, originator, 23, json!({"m2m:sub": sub}))
        .await
}

async fn received_now(receiver: &common::Receiver) -> Vec<Value> {
    receiver
        .received
        .lock()
        .await
        .iter()
        .map(|(_, v)| v.clone())
        .collect()
}

fn sgn(notification: &Value) -> &Value {
    notification
        .get("m2m:sgn")
        .unwrap_or_else(|| panic!("m2m:sgn expected: {notification}"))
}

#[tokio::test]
async fn subscription_creation_sends_a_verification_request_before_answering() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    let receiver = common::receiver().await;
    let answer = subscribe(
        &cse,
        "/cse-in/app/box",
        &aei,
        json!({"rn": "sub", "nu": [receiver.url]}),
    )
    .await;
    assert_eq!(answer.rsc, 2001, "{}", answer.body);
    assert_eq!(answer.status, 201);
    let ri = answer.at("/m2m:sub/ri").as_str().expect("ri").to_owned();

    // Already there when the CREATE answered: no waiting.
    let got = received_now(&receiver).await;
    assert_eq!(got.len(), 1, "exactly one verification request: {got:?}");
    let vrq = sgn(&got[0]);
    assert_eq!(vrq["vrq"], json!(true));
    let sur = vrq["sur"].as_str().expect("sur");
    assert!(sur.ends_with(&ri), "sur {sur} names the subscription {ri}");
    assert_eq!(sur, format!("/id-in/{ri}"));
    assert_eq!(vrq["cr"], json!(aei));
    assert!(
        vrq.get("nev").is_none(),
        "a verification carries no event: {vrq}"
    );

    let headers = &receiver.received.lock().await[0].0;
    assert_eq!(
        headers.get("x-m2m-origin").and_then(|v| v.to_str().ok()),
        Some("/id-in")
    );
    assert!(headers.get("x-m2m-ri").is_some());
    assert!(headers.get("x-m2m-rvi").is_some());
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        !content_type.contains("ty="),
        "a NOTIFY is not a CREATE: {content_type}"
    );
}

#[tokio::test]
async fn subscription_defaults_are_filled_in() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    let receiver = common::receiver().await;
    let answer = subscribe(
        &cse,
        "/cse-in/app/box",
        &aei,
        json!({"rn": "sub", "nu": [receiver.url]}),
    )
    .await;
    assert_eq!(answer.rsc, 2001, "{}", answer.body);
    assert_eq!(answer.at("/m2m:sub/ty"), &json!(23));
    assert_eq!(answer.at("/m2m:sub/nu"), &json!([receiver.url]));
    assert_eq!(
        answer.at("/m2m:sub/nct"),
        &json!(1),
        "nct defaults to allAttributes"
    );
    assert_eq!(
        answer.at("/m2m:sub/enc/net"),
        &json!([1]),
        "net defaults to update"
    );
}

#[tokio::test]
async fn subscription_verification_refused_by_the_target_fails_with_5204_and_nothing_is_stored() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    let receiver = common::receiver().await;
    receiver.answer_rsc.store(4103, Ordering::Relaxed);
    let answer = subscribe(
        &cse,
        "/cse-in/app/box",
        &aei,
        json!({"rn": "sub", "nu": [receiver.url]}),
    )
    .await;
    assert_eq!(answer.rsc, 5204, "{}", answer.body);
    assert_eq!(answer.status, 500);
    assert!(answer.at("/m2m:sub").is_null());
    assert_eq!(
        received_now(&receiver).await.len(),
        1,
        "the verification request was sent"
    );
    assert_eq!(cse.retrieve("/cse-in/app/box/sub", &aei).await.rsc, 4004);
    let children = cse
        .send(
            reqwest::Method::GET,
            "/cse-in/app/box?rcn=6",
            Some(&aei),
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(children.at("/m2m:rrl/rrf"), &json!([]), "{}", children.body);
}

#[tokio::test]
async fn subscription_with_unreachable_notification_uri_fails_with_5204_and_nothing_is_stored() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    let answer = subscribe(
        &cse,
        "/cse-in/app/box",
        &aei,
        json!({"rn": "sub", "nu": ["http://127.0.0.1:9/nothing"]}),
    )
    .await;
    assert_eq!(answer.rsc, 5204, "{}", answer.body);
    assert_eq!(cse.retrieve("/cse-in/app/box/sub", &aei).await.rsc, 4004);
}

#[tokio::test]
async fn subscription_with_one_bad_target_among_several_fails_with_5204() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    let good = common::receiver().await;
    let nu = json!([good.url, "http://127.0.0.1:9/nothing"]);
    let answer = subscribe(
        &cse,
        "/cse-in/app/box",
        &aei,
        json!({"rn": "sub", "nu": nu}),
    )
    .await;
    assert_eq!(answer.rsc, 5204, "{}", answer.body);
    assert_eq!(cse.retrieve("/cse-in/app/box/sub", &aei).await.rsc, 4004);
}

#[tokio::test]
async fn creating_a_content_instance_notifies_event_type_3_with_the_instance() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    let receiver = common::receiver().await;
    let sub = subscribe(
        &cse,
        "/cse-in/app/box",
        &aei,
        json!({"rn": "sub", "nu": [receiver.url], "enc": {"net": [3]}}),
    )
    .await;
    assert_eq!(sub.rsc, 2001, "{}", sub.body);
    let sub_ri = sub.at("/m2m:sub/ri").as_str().unwrap().to_owned();

    let cin = cse
        .create(
            "/cse-in/app/box",
            &aei,
            4,
            json!({"m2m:cin": {"rn": "reading", "con": "21.5"}}),
        )
        .await;
    assert_eq!(cin.rsc, 2001);
    let got = receiver.wait_for(2).await;
    assert_eq!(got.len(), 2, "verification + one notification: {got:?}");
    let notification = sgn(&got[1]);
    assert_eq!(notification["nev"]["net"], json!(3));
    assert_eq!(notification["nev"]["rep"]["m2m:cin"]["con"], json!("21.5"));
    assert_eq!(
        notification["nev"]["rep"]["m2m:cin"]["rn"],
        json!("reading")
    );
    assert_eq!(
        notification["nev"]["rep"]["m2m:cin"]["ri"],
        *cin.at("/m2m:cin/ri")
    );
    assert_eq!(notification["sur"], json!(format!("/id-in/{sub_ri}")));
    assert!(notification.get("vrq").is_none());
    outbox_empties(&cse, "once the target answered").await;
}

/// Recorded notifications leave the store's outbox once their delivery is
/// settled (answered or given up).
async fn outbox_empties(cse: &common::TestCse, when: &str) {
    let mut left = Vec::new();
    for _ in 0..100 {
        left = urbis_store::write(cse.cse.store(), |txn| Ok(txn.outbox_list(100)?))
            .await
            .unwrap();
        if left.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the outbox still holds {left:?} {when}");
}

#[tokio::test]
async fn notifications_arrive_in_order() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    let receiver = common::receiver().await;
    assert_eq!(
        subscribe(
            &cse,
            "/cse-in/app/box",
            &aei,
            json!({"nu": [receiver.url], "enc": {"net": [3]}})
        )
        .await
        .rsc,
        2001
    );
    for i in 0..5 {
        assert_eq!(
            cse.create("/cse-in/app/box", &aei, 4, json!({"m2m:cin": {"con": i}}))
                .await
                .rsc,
            2001
        );
    }
    let got = receiver.wait_for(6).await;
    let cons: Vec<Value> = got[1..]
        .iter()
        .map(|n| sgn(n)["nev"]["rep"]["m2m:cin"]["con"].clone())
        .collect();
    assert_eq!(cons, vec![json!(0), json!(1), json!(2), json!(3), json!(4)]);
}

#[tokio::test]
async fn updating_the_subscribed_resource_notifies_event_type_1() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    let receiver = common::receiver().await;
    assert_eq!(
        subscribe(
            &cse,
            "/cse-in/app/box",
            &aei,
            json!({"rn": "sub", "nu": [receiver.url]})
        )
        .await
        .rsc,
        2001
    );

    // A child creation is not an update event.
    assert_eq!(
        cse.create("/cse-in/app/box", &aei, 4, json!({"m2m:cin": {"con": "x"}}))
            .await
            .rsc,
        2001
    );
    let updated = cse
        .update(
            "/cse-in/app/box",
            &aei,
            json!({"m2m:cnt": {"lbl": ["changed"]}}),
        )
        .await;
    assert_eq!(updated.rsc, 2004);
    let got = receiver.wait_for(2).await;
    assert_eq!(got.len(), 2, "{got:?}");
    let notification = sgn(&got[1]);
    assert_eq!(notification["nev"]["net"], json!(1));
    assert_eq!(
        notification["nev"]["rep"]["m2m:cnt"]["lbl"],
        json!(["changed"])
    );
    assert_eq!(notification["nev"]["rep"]["m2m:cnt"]["rn"], json!("box"));
    assert_eq!(notification["nev"]["rep"]["m2m:cnt"]["cni"], json!(1));
}

#[tokio::test]
async fn notification_content_type_3_sends_the_resource_id() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    let receiver = common::receiver().await;
    let sub = json!({"nu": [receiver.url], "enc": {"net": [3]}, "nct": 3});
    assert_eq!(
        subscribe(&cse, "/cse-in/app/box", &aei, sub).await.rsc,
        2001
    );
    let cin = cse
        .create("/cse-in/app/box", &aei, 4, json!({"m2m:cin": {"con": "x"}}))
        .await;
    let got = receiver.wait_for(2).await;
    assert_eq!(got.len(), 2);
    let rep = &sgn(&got[1])["nev"]["rep"];
    assert_eq!(rep, &json!({"m2m:uri": cin.at("/m2m:cin/ri")}));
}

#[tokio::test]
async fn notification_content_type_2_sends_the_modified_attributes() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    let receiver = common::receiver().await;
    assert_eq!(
        subscribe(
            &cse,
            "/cse-in/app/box",
            &aei,
            json!({"nu": [receiver.url], "nct": 2})
        )
        .await
        .rsc,
        2001
    );
    assert_eq!(
        cse.update("/cse-in/app/box", &aei, json!({"m2m:cnt": {"mni": 7}}))
            .await
            .rsc,
        2004
    );
    let got = receiver.wait_for(2).await;
    assert_eq!(got.len(), 2);
    assert_eq!(sgn(&got[1])["nev"]["rep"], json!({"m2m:cnt": {"mni": 7}}));
}

#[tokio::test]
async fn expiration_counter_1_removes_the_subscription_after_one_notification() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    let once = common::receiver().await;
    let control = common::receiver().await;
    // chty: the control subscription created next is a child too.
    let sub = json!({"rn": "once", "nu": [once.url], "enc": {"net": [3], "chty": [4]}, "exc": 1});
    assert_eq!(
        subscribe(&cse, "/cse-in/app/box", &aei, sub).await.rsc,
        2001
    );
    let ctl = json!({"rn": "control", "nu": [control.url], "enc": {"net": [3], "chty": [4]}});
    assert_eq!(
        subscribe(&cse, "/cse-in/app/box", &aei, ctl).await.rsc,
        2001
    );
    assert_eq!(
        cse.retrieve("/cse-in/app/box/once", &aei)
            .await
            .at("/m2m:sub/exc"),
        &json!(1)
    );

    assert_eq!(
        cse.create(
            "/cse-in/app/box",
            &aei,
            4,
            json!({"m2m:cin": {"con": "first"}})
        )
        .await
        .rsc,
        2001
    );
    assert_eq!(
        cse.retrieve("/cse-in/app/box/once", &aei).await.rsc,
        4004,
        "exhausted subscription is deleted"
    );
    assert_eq!(
        cse.create(
            "/cse-in/app/box",
            &aei,
            4,
            json!({"m2m:cin": {"con": "second"}})
        )
        .await
        .rsc,
        2001
    );

    assert_eq!(control.wait_for(3).await.len(), 3, "control got both");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let got = received_now(&once).await;
    assert_eq!(
        got.len(),
        2,
        "verification + exactly one notification: {got:?}"
    );
    assert_eq!(sgn(&got[1])["nev"]["rep"]["m2m:cin"]["con"], json!("first"));
}

#[tokio::test]
async fn expiration_counter_counts_down() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    let receiver = common::receiver().await;
    let sub = json!({"rn": "twice", "nu": [receiver.url], "enc": {"net": [3]}, "exc": 2});
    assert_eq!(
        subscribe(&cse, "/cse-in/app/box", &aei, sub).await.rsc,
        2001
    );
    cse.create("/cse-in/app/box", &aei, 4, json!({"m2m:cin": {"con": 1}}))
        .await;
    assert_eq!(
        cse.retrieve("/cse-in/app/box/twice", &aei)
            .await
            .at("/m2m:sub/exc"),
        &json!(1)
    );
    cse.create("/cse-in/app/box", &aei, 4, json!({"m2m:cin": {"con": 2}}))
        .await;
    assert_eq!(cse.retrieve("/cse-in/app/box/twice", &aei).await.rsc, 4004);
    assert_eq!(receiver.wait_for(3).await.len(), 3);
}

#[tokio::test]
async fn expiration_counter_deletion_notifies_the_subscriber() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    let target = common::receiver().await;
    let subscriber = common::receiver().await;
    let sub = json!({"rn": "once", "nu": [target.url], "su": subscriber.url, "enc": {"net": [3]}, "exc": 1});
    let created = subscribe(&cse, "/cse-in/app/box", &aei, sub).await;
    assert_eq!(created.rsc, 2001, "{}", created.body);
    cse.create("/cse-in/app/box", &aei, 4, json!({"m2m:cin": {"con": "x"}}))
        .await;
    let got = subscriber.wait_for(1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(sgn(&got[0])["sud"], json!(true));
    assert_eq!(
        sgn(&got[0])["sur"],
        json!(format!(
            "/id-in/{}",
            created.at("/m2m:sub/ri").as_str().unwrap()
        ))
    );
}

#[tokio::test]
async fn deleting_a_subscription_sends_the_deletion_notice_to_the_subscriber_before_answering() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    let target = common::receiver().await;
    let subscriber = common::receiver().await;
    let sub = json!({"rn": "sub", "nu": [target.url], "su": subscriber.url, "cr": null});
    let created = subscribe(&cse, "/cse-in/app/box", &aei, sub).await;
    assert_eq!(created.rsc, 2001, "{}", created.body);
    assert_eq!(created.at("/m2m:sub/su"), &json!(subscriber.url));
    let ri = created.at("/m2m:sub/ri").as_str().unwrap().to_owned();
    assert!(
        received_now(&subscriber).await.is_empty(),
        "su is not verified nor notified at creation"
    );

    let deleted = cse.delete("/cse-in/app/box/sub", &aei).await;
    assert_eq!(deleted.rsc, 2002, "{}", deleted.body);
    let got = received_now(&subscriber).await;
    assert_eq!(
        got.len(),
        1,
        "deletion notice delivered before the DELETE answered: {got:?}"
    );
    let notice = sgn(&got[0]);
    assert_eq!(notice["sud"], json!(true));
    assert_eq!(notice["sur"], json!(format!("/id-in/{ri}")));
    assert_eq!(notice["cr"], json!(aei));
    assert!(notice.get("nev").is_none());
    assert_eq!(cse.retrieve("/cse-in/app/box/sub", &aei).await.rsc, 4004);
    assert_eq!(
        received_now(&target).await.len(),
        1,
        "the nu only got its verification"
    );
}

#[tokio::test]
async fn deleting_the_subscribed_resource_notifies_event_type_2_and_removes_the_subscription() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    let receiver = common::receiver().await;
    let subscriber = common::receiver().await;
    let sub = json!({"rn": "sub", "nu": [receiver.url], "su": subscriber.url, "enc": {"net": [2]}});
    assert_eq!(
        subscribe(&cse, "/cse-in/app/box", &aei, sub).await.rsc,
        2001
    );
    assert_eq!(cse.delete("/cse-in/app/box", &aei).await.rsc, 2002);
    let got = receiver.wait_for(2).await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(sgn(&got[1])["nev"]["net"], json!(2));
    assert_eq!(sgn(&got[1])["nev"]["rep"]["m2m:cnt"]["rn"], json!("box"));
    let notices = subscriber.wait_for(1).await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(sgn(&notices[0])["sud"], json!(true));
}

#[tokio::test]
async fn deleting_a_child_notifies_event_type_4() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    let receiver = common::receiver().await;
    cse.create(
        "/cse-in/app/box",
        &aei,
        4,
        json!({"m2m:cin": {"rn": "item", "con": "x"}}),
    )
    .await;
    assert_eq!(
        subscribe(
            &cse,
            "/cse-in/app/box",
            &aei,
            json!({"nu": [receiver.url], "enc": {"net": [4]}})
        )
        .await
        .rsc,
        2001
    );
    assert_eq!(cse.delete("/cse-in/app/box/item", &aei).await.rsc, 2002);
    let got = receiver.wait_for(2).await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(sgn(&got[1])["nev"]["net"], json!(4));
    assert_eq!(sgn(&got[1])["nev"]["rep"]["m2m:cin"]["rn"], json!("item"));
}

#[tokio::test]
async fn notification_uri_of_the_originators_own_ae_id_resolves_through_its_point_of_access() {
    let cse = common::start().await;
    let receiver = common::receiver().await;
    let aei = cse.register_ae("reachable", Some(&receiver.url)).await;
    assert_eq!(
        cse.create(
            "/cse-in/reachable",
            &aei,
            3,
            json!({"m2m:cnt": {"rn": "box"}})
        )
        .await
        .rsc,
        2001
    );

    let sub = json!({"rn": "sub", "nu": [aei], "enc": {"net": [3]}});
    let created = subscribe(&cse, "/cse-in/reachable/box", &aei, sub).await;
    assert_eq!(created.rsc, 2001, "{}", created.body);
    assert!(
        received_now(&receiver).await.is_empty(),
        "no verification for the subscriber itself"
    );

    cse.create(
        "/cse-in/reachable/box",
        &aei,
        4,
        json!({"m2m:cin": {"con": "via poa"}}),
    )
    .await;
    let got = receiver.wait_for(1).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(sgn(&got[0])["nev"]["net"], json!(3));
    assert_eq!(
        sgn(&got[0])["nev"]["rep"]["m2m:cin"]["con"],
        json!("via poa")
    );
}

#[tokio::test]
async fn notification_uri_of_another_ae_is_verified_through_its_point_of_access() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    let receiver = common::receiver().await;
    let listener = cse.register_ae("listener", Some(&receiver.url)).await;
    let created = subscribe(
        &cse,
        "/cse-in/app/box",
        &aei,
        json!({"nu": [listener], "enc": {"net": [3]}}),
    )
    .await;
    assert_eq!(created.rsc, 2001, "{}", created.body);
    let got = received_now(&receiver).await;
    assert_eq!(got.len(), 1, "verification through the poa: {got:?}");
    assert_eq!(sgn(&got[0])["vrq"], json!(true));
}

#[tokio::test]
async fn ae_without_request_reachability_gets_no_notifications() {
    let cse = common::start().await;
    let silent_receiver = common::receiver().await;
    let control = common::receiver().await;
    let ae = json!({"m2m:ae": {"rn": "silent", "api": "Nx", "rr": false, "srv": ["4"], "poa": [silent_receiver.url]}});
    let registered = cse.create("/cse-in", "Csilent", 2, ae).await;
    assert_eq!(registered.rsc, 2001, "{}", registered.body);
    assert_eq!(
        cse.create(
            "/cse-in/silent",
            "Csilent",
            3,
            json!({"m2m:cnt": {"rn": "box"}})
        )
        .await
        .rsc,
        2001
    );
    let own = subscribe(
        &cse,
        "/cse-in/silent/box",
        "Csilent",
        json!({"nu": ["Csilent"], "enc": {"net": [3]}}),
    )
    .await;
    assert_eq!(own.rsc, 2001, "{}", own.body);
    let ctl = subscribe(
        &cse,
        "/cse-in/silent/box",
        "Csilent",
        json!({"nu": [control.url], "enc": {"net": [3]}}),
    )
    .await;
    assert_eq!(ctl.rsc, 2001, "{}", ctl.body);

    cse.create(
        "/cse-in/silent/box",
        "Csilent",
        4,
        json!({"m2m:cin": {"con": "x"}}),
    )
    .await;
    assert_eq!(
        control.wait_for(2).await.len(),
        2,
        "the control target got its notification"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        received_now(&silent_receiver).await.is_empty(),
        "rr=false: nothing sent to the poa"
    );
}

#[tokio::test]
async fn subscription_by_another_ae_without_rights_is_refused_with_4103() {
    let cse = common::start().await;
    setup(&cse).await;
    let other = cse.register_ae("other", None).await;
    let receiver = common::receiver().await;
    let answer = subscribe(
        &cse,
        "/cse-in/app/box",
        &other,
        json!({"rn": "spy", "nu": [receiver.url]}),
    )
    .await;
    assert_eq!(answer.rsc, 4103, "{}", answer.body);
    assert!(
        received_now(&receiver).await.is_empty(),
        "no verification for a refused subscription"
    );
}

#[tokio::test]
async fn subscription_under_a_content_instance_is_refused_with_4108() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    cse.create(
        "/cse-in/app/box",
        &aei,
        4,
        json!({"m2m:cin": {"rn": "item", "con": "x"}}),
    )
    .await;
    let receiver = common::receiver().await;
    let answer = subscribe(
        &cse,
        "/cse-in/app/box/item",
        &aei,
        json!({"nu": [receiver.url]}),
    )
    .await;
    assert_eq!(answer.rsc, 4108, "{}", answer.body);
}

#[tokio::test]
async fn subscription_without_notification_uri_is_refused_with_4000() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    for sub in [
        json!({"rn": "s"}),
        json!({"rn": "s", "nu": []}),
        json!({"rn": "s", "nu": "http://x"}),
    ] {
        let answer = subscribe(&cse, "/cse-in/app/box", &aei, sub.clone()).await;
        assert_eq!(answer.rsc, 4000, "{sub}: {}", answer.body);
    }
    assert_eq!(cse.retrieve("/cse-in/app/box/s", &aei).await.rsc, 4004);
}

#[tokio::test]
async fn subscription_with_invalid_event_criteria_or_content_type_is_refused_with_4000() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    let receiver = common::receiver().await;
    for extra in [
        json!({"nct": 9}),
        json!({"enc": {"net": [99]}}),
        json!({"enc": {"net": "3"}}),
        json!({"nct": 2, "enc": {"net": [3]}}),
        json!({"exc": 0}),
    ] {
        let mut sub = json!({"rn": "s", "nu": [receiver.url]});
        for (k, v) in extra.as_object().unwrap() {
            sub[k] = v.clone();
        }
        let answer = subscribe(&cse, "/cse-in/app/box", &aei, sub).await;
        assert_eq!(answer.rsc, 4000, "{extra}: {}", answer.body);
    }
    assert!(
        received_now(&receiver).await.is_empty(),
        "invalid subscriptions are not verified"
    );
}

#[tokio::test]

async fn subscription_by_an_originator_without_retrieve_rights_is_refused_with_4101() {
    let cse = common::start().await;
    let owner = cse.register_ae("owner", None).await;
    // Cmaker may CREATE children of the container but not RETRIEVE it.
    let pv = json!({"acr": [{"acor": [owner], "acop": 63}, {"acor": ["Cmaker"], "acop": 1}]});
    let pvs = json!({"acr": [{"acor": [owner], "acop": 63}]});
    let acp = cse
        .create(
            "/cse-in/owner",
            &owner,
            1,
            json!({"m2m:acp": {"rn": "p", "pv": pv, "pvs": pvs}}),
        )
        .await;
    assert_eq!(acp.rsc, 2001, "{}", acp.body);
    let acpi = json!([acp.at("/m2m:acp/ri")]);
    let cnt = cse
        .create(
            "/cse-in/owner",
            &owner,
            3,
            json!({"m2m:cnt": {"rn": "box", "acpi": acpi}}),
        )
        .await;
    assert_eq!(cnt.rsc, 2001, "{}", cnt.body);
    assert_eq!(cse.retrieve("/cse-in/owner/box", "Cmaker").await.rsc, 4103);

    let receiver = common::receiver().await;
    let answer = subscribe(
        &cse,
        "/cse-in/owner/box",
        "Cmaker",
        json!({"rn": "spy", "nu": [receiver.url]}),
    )
    .await;
    assert_eq!(answer.rsc, 4101, "{}", answer.body);
    assert_eq!(answer.status, 403);
    assert_eq!(
        cse.retrieve("/cse-in/owner/box/spy", common::ADMIN)
            .await
            .rsc,
        4004
    );
}

#[tokio::test]
async fn notification_statistics_count_events_and_reset_when_enabled_again() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    let receiver = common::receiver().await;
    let answer = subscribe(
        &cse,
        "/cse-in/app/box",
        &aei,
        json!({"rn": "stats", "nu": [receiver.url], "nse": true}),
    )
    .await;
    assert_eq!(answer.rsc, 2001, "{}", answer.body);
    assert!(
        answer.at("/m2m:sub/nsi").is_null(),
        "no statistics before any event"
    );

    for label in ["a", "b"] {
        let update = cse
            .update(
                "/cse-in/app/box",
                &aei,
                json!({"m2m:cnt": {"lbl": [label]}}),
            )
            .await;
        assert_eq!(update.rsc, 2004);
    }
    receiver.wait_for(3).await; // verification + 2 events
    let mut stats = Value::Null;
    for _ in 0..100 {
        let sub = cse.retrieve("/cse-in/app/box/stats", &aei).await;
        stats = sub.at("/m2m:sub/nsi/0").clone();
        if stats.get("rsr") == Some(&json!(2)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stats["tg"], json!(receiver.url), "{stats}");
    assert_eq!(
        stats["rqs"],
        json!(2),
        "the verification request is not counted: {stats}"
    );
    assert_eq!(stats["rsr"], json!(2), "{stats}");
    assert_eq!(stats["noec"], json!(2), "{stats}");

    let off = cse
        .update(
            "/cse-in/app/box/stats",
            &aei,
            json!({"m2m:sub": {"nse": false}}),
        )
        .await;
    assert_eq!(
        off.at("/m2m:sub/nsi/0/rqs"),
        &json!(2),
        "turning statistics off keeps them"
    );
    let on = cse
        .update(
            "/cse-in/app/box/stats",
            &aei,
            json!({"m2m:sub": {"nse": true}}),
        )
        .await;
    assert!(
        on.at("/m2m:sub/nsi").is_null(),
        "turning them on again starts afresh: {}",
        on.body
    );
}

/// A notification target that answers verification requests and then never
/// answers an event notification; returns its URL and how many it received.
async fn hanging_receiver() -> (String, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    let events = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let counted = events.clone();
    let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
        let counted = counted.clone();
        async move {
            let text = String::from_utf8_lossy(&body).into_owned();
            if !text.contains("\"vrq\"") {
                counted.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<()>().await;
            }
            ([("x-m2m-rsc", "2000")], "")
        }
    });
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("hanging receiver");
    });
    (url, events)
}

#[tokio::test]
async fn a_target_that_hangs_does_not_delay_notifications_to_another() {
    let cse = common::start().await;
    let aei = setup(&cse).await;
    let healthy = common::receiver().await;
    let (hanging, hung) = hanging_receiver().await;
    let sub = subscribe(
        &cse,
        "/cse-in/app/box",
        &aei,
        json!({"nu": [hanging, healthy.url], "enc": {"net": [3]}}),
    )
    .await;
    assert_eq!(sub.rsc, 2001, "{}", sub.body);
    let started = std::time::Instant::now();
    for i in 0..3 {
        let cin = cse
            .create("/cse-in/app/box", &aei, 4, json!({"m2m:cin": {"con": i}}))
            .await;
        assert_eq!(cin.rsc, 2001);
    }
    let got = healthy.wait_for(4).await;
    assert_eq!(got.len(), 4, "verification + three events: {got:?}");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "the healthy target waited for the hanging one: {:?}",
        started.elapsed()
    );
    assert_eq!(
        hung.load(Ordering::SeqCst),
        1,
        "the hanging target holds its own queue at the first event"
    );
}

#[tokio::test]
async fn notification_statistics_count_failed_attempts_of_an_unanswering_target() {
    let cse = common::start_with(
        urbis_core::CseConfig {
            notification_timeout_ms: 200,
            ..urbis_core::CseConfig::default()
        },
        urbis_http::HttpOptions::default(),
    )
    .await;
    let aei = setup(&cse).await;
    let (hanging, hung) = hanging_receiver().await;
    let sub = subscribe(
        &cse,
        "/cse-in/app/box",
        &aei,
        json!({"rn": "stats", "nu": [hanging], "enc": {"net": [3]}, "nse": true}),
    )
    .await;
    assert_eq!(sub.rsc, 2001, "{}", sub.body);
    let cin = cse
        .create("/cse-in/app/box", &aei, 4, json!({"m2m:cin": {"con": 1}}))
        .await;
    assert_eq!(cin.rsc, 2001);
    // three attempts of 200 ms with 250 ms and 500 ms between them
    let mut stats = Value::Null;
    for _ in 0..100 {
        let sub = cse.retrieve("/cse-in/app/box/stats", &aei).await;
        stats = sub.at("/m2m:sub/nsi/0").clone();
        if stats.get("rqs") == Some(&json!(3)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(stats["tg"], json!(hanging), "{stats}");
    assert_eq!(
        stats["rqs"],
        json!(3),
        "every attempt is a request: {stats}"
    );
    assert_eq!(stats["rsr"], json!(0), "none was answered: {stats}");
    assert_eq!(stats["noec"], json!(1), "one event: {stats}");
    assert_eq!(hung.load(Ordering::SeqCst), 3);
    outbox_empties(&cse, "once the target was given up").await;
}
