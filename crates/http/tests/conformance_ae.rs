//! AE registration (TS-0001 §10.2.2.2, TS-0004 §7.3.5.2, TS-0018 test purposes
//! TP/oneM2M/CSE/RMM/...): AE-ID assignment, duplicate registrations, mandatory
//! attributes and the access rights of a registered AE.

mod common;

use reqwest::Method;
use serde_json::{json, Value};

fn ae(rn: &str) -> Value {
    json!({"m2m:ae": {"rn": rn, "api": "Nexample", "rr": false, "srv": ["4"]}})
}

/// Register with an explicit (or absent) originator header.
async fn register(cse: &common::TestCse, originator: Option<&str>, body: Value) -> common::Answer {
    cse.send(
        Method::POST,
        "/cse-in",
        originator,
        Some(2),
        Some(body),
        &[],
    )
    .await
}

#[tokio::test]
async fn ae_registration_with_originator_c_gets_a_cse_assigned_ae_id() {
    let cse = common::start().await;
    let answer = cse.create("/cse-in", "C", 2, ae("assigned")).await;
    assert_eq!(answer.rsc, 2001, "{}", answer.body);
    assert_eq!(answer.status, 201);
    let aei = answer.at("/m2m:ae/aei").as_str().expect("aei").to_owned();
    assert!(
        aei.starts_with('C') && aei.len() > 1,
        "assigned AE-ID {aei:?} must be C followed by more"
    );
    assert_eq!(answer.at("/m2m:ae/ri"), &json!(aei), "ri equals the AE-ID");
    assert_eq!(answer.at("/m2m:ae/rn"), &json!("assigned"));
    assert_eq!(answer.at("/m2m:ae/ty"), &json!(2));
    assert_eq!(answer.at("/m2m:ae/api"), &json!("Nexample"));
    assert_eq!(
        answer.at("/m2m:ae/pi"),
        &json!("id-in"),
        "parent is the CSEBase"
    );
    for attribute in ["ct", "lt", "et"] {
        assert!(
            answer.at(&format!("/m2m:ae/{attribute}")).is_string(),
            "{attribute} is set"
        );
    }

    // The new AE can use its assigned ID as originator.
    let read = cse.retrieve("/cse-in/assigned", &aei).await;
    assert_eq!(read.rsc, 2000, "{}", read.body);
    assert_eq!(read.at("/m2m:ae/aei"), &json!(aei));
}

#[tokio::test]
async fn two_registrations_with_originator_c_get_different_ae_ids() {
    let cse = common::start().await;
    let first = cse.create("/cse-in", "C", 2, ae("one")).await;
    let second = cse.create("/cse-in", "C", 2, ae("two")).await;
    assert_eq!((first.rsc, second.rsc), (2001, 2001));
    assert_ne!(first.at("/m2m:ae/aei"), second.at("/m2m:ae/aei"));
}

#[tokio::test]
async fn ae_registration_with_specific_originator_uses_it_as_ae_id_and_resource_id() {
    let cse = common::start().await;
    let answer = cse.create("/cse-in", "Cxyz", 2, ae("specific")).await;
    assert_eq!(answer.rsc, 2001, "{}", answer.body);
    assert_eq!(answer.at("/m2m:ae/aei"), &json!("Cxyz"));
    assert_eq!(answer.at("/m2m:ae/ri"), &json!("Cxyz"));

    // Addressable by its resource ID (unstructured) as well as by name.
    let by_ri = cse.retrieve("/Cxyz", "Cxyz").await;
    assert_eq!(by_ri.rsc, 2000, "{}", by_ri.body);
    assert_eq!(by_ri.at("/m2m:ae/rn"), &json!("specific"));
}

#[tokio::test]
async fn ae_registration_without_rn_gets_a_cse_assigned_resource_name() {
    let cse = common::start().await;
    let answer = cse
        .create(
            "/cse-in",
            "Cnoname",
            2,
            json!({"m2m:ae": {"api": "Nx", "rr": false, "srv": ["4"]}}),
        )
        .await;
    assert_eq!(answer.rsc, 2001, "{}", answer.body);
    assert_eq!(answer.at("/m2m:ae/aei"), &json!("Cnoname"));
    let rn = answer
        .at("/m2m:ae/rn")
        .as_str()
        .expect("rn assigned")
        .to_owned();
    assert!(!rn.is_empty());
    let by_name = cse.retrieve(&format!("/cse-in/{rn}"), "Cnoname").await;
    assert_eq!(by_name.rsc, 2000, "{}", by_name.body);
    assert_eq!(by_name.at("/m2m:ae/ri"), &json!("Cnoname"));
}

#[tokio::test]
async fn ae_registration_by_an_already_registered_originator_fails_with_4117() {
    let cse = common::start().await;
    assert_eq!(
        cse.create("/cse-in", "Cdup", 2, ae("first")).await.rsc,
        2001
    );
    let again = cse.create("/cse-in", "Cdup", 2, ae("second")).await;
    assert_eq!(again.rsc, 4117, "{}", again.body);
    assert_eq!(again.status, 403);
    // Nothing was written under the second name; the first AE is intact.
    assert_eq!(
        cse.retrieve("/cse-in/second", common::ADMIN).await.rsc,
        4004
    );
    let first = cse.retrieve("/cse-in/first", "Cdup").await;
    assert_eq!(first.rsc, 2000);
    assert_eq!(first.at("/m2m:ae/aei"), &json!("Cdup"));
}

#[tokio::test]
async fn ae_registration_with_an_existing_resource_name_fails_with_4105() {
    let cse = common::start().await;
    assert_eq!(
        cse.create("/cse-in", "Cone", 2, ae("taken")).await.rsc,
        2001
    );
    let clash = cse.create("/cse-in", "Ctwo", 2, ae("taken")).await;
    assert_eq!(clash.rsc, 4105, "{}", clash.body);
    assert_eq!(clash.status, 409);
    // The name still belongs to the first AE, and Ctwo was not registered.
    assert_eq!(
        cse.retrieve("/cse-in/taken", common::ADMIN)
            .await
            .at("/m2m:ae/aei"),
        &json!("Cone")
    );
    assert_eq!(cse.retrieve("/Ctwo", common::ADMIN).await.rsc, 4004);
}

#[tokio::test]
async fn ae_creation_under_an_ae_fails_with_4108() {
    let cse = common::start().await;
    let parent = cse.register_ae("parent", None).await;
    let nested = cse.create("/cse-in/parent", &parent, 2, ae("child")).await;
    assert_eq!(nested.rsc, 4108, "{}", nested.body);
    assert_eq!(nested.status, 403);
    assert_eq!(
        cse.retrieve("/cse-in/parent/child", common::ADMIN)
            .await
            .rsc,
        4004
    );
}

#[tokio::test]
async fn ae_creation_under_an_ae_by_admin_fails_with_4108() {
    let cse = common::start().await;
    cse.register_ae("parent", None).await;
    let nested = cse
        .create("/cse-in/parent", common::ADMIN, 2, ae("child"))
        .await;
    assert_eq!(nested.rsc, 4108, "{}", nested.body);
}

#[tokio::test]
async fn ae_registration_with_app_id_not_starting_with_r_or_n_fails_with_4000() {
    let cse = common::start().await;
    for api in ["Xbad", "app", "", "nlower"] {
        let body = json!({"m2m:ae": {"rn": "badapi", "api": api, "rr": false, "srv": ["4"]}});
        let answer = cse.create("/cse-in", "Cbadapi", 2, body).await;
        assert_ne!(answer.rsc, 2001, "api {api:?} must be refused");
        assert_eq!(answer.rsc, 4000, "api {api:?}: {}", answer.body);
        assert_eq!(answer.status, 400);
    }
    assert_eq!(
        cse.retrieve("/cse-in/badapi", common::ADMIN).await.rsc,
        4004
    );
    // The registered (R) form is accepted.
    let good =
        json!({"m2m:ae": {"rn": "goodapi", "api": "Rorg.example.app", "rr": false, "srv": ["4"]}});
    assert_eq!(cse.create("/cse-in", "Cgoodapi", 2, good).await.rsc, 2001);
}

#[tokio::test]
async fn ae_registration_without_request_reachability_fails_with_4000() {
    let cse = common::start().await;
    let answer = cse
        .create(
            "/cse-in",
            "Cnorr",
            2,
            json!({"m2m:ae": {"rn": "norr", "api": "Nx", "srv": ["4"]}}),
        )
        .await;
    assert_eq!(answer.rsc, 4000, "{}", answer.body);
    assert_eq!(answer.status, 400);
    assert_eq!(cse.retrieve("/cse-in/norr", common::ADMIN).await.rsc, 4004);
}

#[tokio::test]
async fn ae_registration_without_supported_release_versions_fails_with_4000() {
    let cse = common::start().await;
    let answer = cse
        .create(
            "/cse-in",
            "Cnosrv",
            2,
            json!({"m2m:ae": {"rn": "nosrv", "api": "Nx", "rr": true}}),
        )
        .await;
    assert_eq!(answer.rsc, 4000, "{}", answer.body);
    assert_eq!(cse.retrieve("/cse-in/nosrv", common::ADMIN).await.rsc, 4004);
    let empty = cse
        .create(
            "/cse-in",
            "Cnosrv",
            2,
            json!({"m2m:ae": {"rn": "nosrv", "api": "Nx", "rr": true, "srv": []}}),
        )
        .await;
    assert_eq!(empty.rsc, 4000, "empty srv: {}", empty.body);
}

#[tokio::test]
async fn ae_registration_without_app_id_fails_with_4000() {
    let cse = common::start().await;
    let answer = cse
        .create(
            "/cse-in",
            "Cnoapi",
            2,
            json!({"m2m:ae": {"rn": "noapi", "rr": true, "srv": ["4"]}}),
        )
        .await;
    assert_eq!(answer.rsc, 4000, "{}", answer.body);
    assert_eq!(cse.retrieve("/cse-in/noapi", common::ADMIN).await.rsc, 4004);
}

#[tokio::test]
async fn ae_registration_by_the_cse_id_fails_with_4107() {
    let cse = common::start().await;
    for originator in ["id-in", "/id-in"] {
        let answer = cse.create("/cse-in", originator, 2, ae("impostor")).await;
        assert_eq!(answer.rsc, 4107, "originator {originator}: {}", answer.body);
        assert_eq!(answer.status, 403);
    }
    assert_eq!(
        cse.retrieve("/cse-in/impostor", common::ADMIN).await.rsc,
        4004
    );
}

#[tokio::test]
async fn ae_registration_without_originator_header_gets_an_assigned_ae_id() {
    let cse = common::start().await;
    let answer = register(&cse, None, ae("anonymous")).await;
    assert_eq!(answer.rsc, 2001, "{}", answer.body);
    let aei = answer.at("/m2m:ae/aei").as_str().expect("aei");
    assert!(aei.starts_with('C') && aei.len() > 1, "{aei}");
}

#[tokio::test]
async fn ae_registration_with_empty_originator_gets_an_assigned_ae_id() {
    let cse = common::start().await;
    let answer = register(&cse, Some(""), ae("emptyorigin")).await;
    assert_eq!(answer.rsc, 2001, "{}", answer.body);
    let aei = answer.at("/m2m:ae/aei").as_str().expect("aei");
    assert!(aei.starts_with('C') && aei.len() > 1, "{aei}");
}

#[tokio::test]
async fn ae_retrieve_by_another_originator_fails_with_4103() {
    let cse = common::start().await;
    let owner = cse.register_ae("private", None).await;
    let other = cse.register_ae("stranger", None).await;
    let answer = cse.retrieve("/cse-in/private", &other).await;
    assert_eq!(answer.rsc, 4103, "{}", answer.body);
    assert_eq!(answer.status, 403);
    assert!(
        answer.at("/m2m:ae").is_null(),
        "no representation leaks: {}",
        answer.body
    );
    let unknown = cse.retrieve("/cse-in/private", "Cunregistered").await;
    assert_eq!(unknown.rsc, 4103);
    // The owner and the admin can read it.
    assert_eq!(cse.retrieve("/cse-in/private", &owner).await.rsc, 2000);
    assert_eq!(
        cse.retrieve("/cse-in/private", common::ADMIN).await.rsc,
        2000
    );
}

#[tokio::test]
async fn ae_update_by_another_originator_fails_with_4103() {
    let cse = common::start().await;
    cse.register_ae("guarded", None).await;
    let other = cse.register_ae("meddler", None).await;
    let answer = cse
        .update(
            "/cse-in/guarded",
            &other,
            json!({"m2m:ae": {"lbl": ["hacked"]}}),
        )
        .await;
    assert_eq!(answer.rsc, 4103, "{}", answer.body);
    let read = cse.retrieve("/cse-in/guarded", common::ADMIN).await;
    assert!(
        read.at("/m2m:ae/lbl").is_null(),
        "labels unchanged: {}",
        read.body
    );
}

#[tokio::test]
async fn ae_deregistration_by_its_own_originator_succeeds_with_2002() {
    let cse = common::start().await;
    let aei = cse.register_ae("leaving", None).await;
    let answer = cse.delete("/cse-in/leaving", &aei).await;
    assert_eq!(answer.rsc, 2002, "{}", answer.body);
    assert_eq!(answer.status, 200);
    assert_eq!(
        cse.retrieve("/cse-in/leaving", common::ADMIN).await.rsc,
        4004
    );
    // The AE-ID is free again.
    assert_eq!(
        cse.create("/cse-in", &aei, 2, ae("leaving")).await.rsc,
        2001
    );
}

#[tokio::test]
async fn ae_deregistration_by_another_originator_fails_with_4103() {
    let cse = common::start().await;
    cse.register_ae("staying", None).await;
    let other = cse.register_ae("evictor", None).await;
    assert_eq!(cse.delete("/cse-in/staying", &other).await.rsc, 4103);
    assert_eq!(
        cse.retrieve("/cse-in/staying", common::ADMIN).await.rsc,
        2000
    );
}

#[tokio::test]
async fn ae_deregistration_removes_its_children() {
    let cse = common::start().await;
    let aei = cse.register_ae("parentae", None).await;
    assert_eq!(
        cse.create(
            "/cse-in/parentae",
            &aei,
            3,
            json!({"m2m:cnt": {"rn": "data"}})
        )
        .await
        .rsc,
        2001
    );
    assert_eq!(cse.delete("/cse-in/parentae", &aei).await.rsc, 2002);
    assert_eq!(
        cse.retrieve("/cse-in/parentae/data", common::ADMIN)
            .await
            .rsc,
        4004
    );
}

#[tokio::test]
async fn ae_registration_with_invalid_resource_name_fails_with_4000() {
    let cse = common::start().await;
    for rn in ["a b", "x?", "a/b", ""] {
        let answer = cse.create("/cse-in", "Cbadname", 2, ae(rn)).await;
        assert_eq!(answer.rsc, 4000, "rn {rn:?}: {}", answer.body);
        assert_eq!(answer.status, 400);
    }
    assert_eq!(
        cse.retrieve("/Cbadname", common::ADMIN).await.rsc,
        4004,
        "nothing registered"
    );
}

#[tokio::test]
async fn ae_registration_with_creator_attribute_fails_with_4000() {
    let cse = common::start().await;
    let body =
        json!({"m2m:ae": {"rn": "withcr", "api": "Nx", "rr": false, "srv": ["4"], "cr": null}});
    let answer = cse.create("/cse-in", "Cwithcr", 2, body).await;
    assert_eq!(answer.rsc, 4000, "{}", answer.body);
    assert_eq!(
        cse.retrieve("/cse-in/withcr", common::ADMIN).await.rsc,
        4004
    );
}

#[tokio::test]
async fn ae_registration_with_read_only_ae_id_fails_with_4000() {
    let cse = common::start().await;
    let body = json!({"m2m:ae": {"rn": "withaei", "api": "Nx", "rr": false, "srv": ["4"], "aei": "Cchosen"}});
    let answer = cse.create("/cse-in", "Cwithaei", 2, body).await;
    assert_eq!(answer.rsc, 4000, "{}", answer.body);
    assert_eq!(
        cse.retrieve("/cse-in/withaei", common::ADMIN).await.rsc,
        4004
    );
}

#[tokio::test]
async fn ae_registration_with_unsupported_release_version_fails_with_4000() {
    let cse = common::start().await;
    let body = json!({"m2m:ae": {"rn": "oldsrv", "api": "Nx", "rr": false, "srv": ["1"]}});
    let answer = cse.create("/cse-in", "Coldsrv", 2, body).await;
    assert_eq!(answer.rsc, 4000, "{}", answer.body);
}

#[tokio::test]
async fn registered_ae_may_retrieve_the_cse_base() {
    let cse = common::start().await;
    let aei = cse.register_ae("reader", None).await;
    let answer = cse.retrieve("/cse-in", &aei).await;
    assert_eq!(answer.rsc, 2000, "{}", answer.body);
    assert_eq!(answer.at("/m2m:cb/csi"), &json!("/id-in"));
    assert_eq!(answer.at("/m2m:cb/rn"), &json!("cse-in"));
    // An unregistered originator may not.
    assert_eq!(cse.retrieve("/cse-in", "Cnobody").await.rsc, 4103);
}

#[tokio::test]
async fn ae_update_of_write_once_app_id_fails_with_4000() {
    let cse = common::start().await;
    let aei = cse.register_ae("fixedapi", None).await;
    let answer = cse
        .update(
            "/cse-in/fixedapi",
            &aei,
            json!({"m2m:ae": {"api": "Nother"}}),
        )
        .await;
    assert_eq!(answer.rsc, 4000, "{}", answer.body);
    assert_eq!(
        cse.retrieve("/cse-in/fixedapi", &aei)
            .await
            .at("/m2m:ae/api"),
        &json!("Ntest")
    );
    // An updatable attribute works.
    let ok = cse
        .update("/cse-in/fixedapi", &aei, json!({"m2m:ae": {"lbl": ["x"]}}))
        .await;
    assert_eq!(ok.rsc, 2004, "{}", ok.body);
    assert_eq!(ok.at("/m2m:ae/lbl"), &json!(["x"]));
}

#[tokio::test]
async fn ae_registration_with_originator_s_gets_an_sp_assigned_ae_id() {
    let cse = common::start().await;
    let answer = cse.create("/cse-in", "S", 2, ae("spwide")).await;
    assert_eq!(answer.rsc, 2001, "{}", answer.body);
    let aei = answer.at("/m2m:ae/aei").as_str().expect("aei");
    assert!(aei.starts_with('S') && aei.len() > 1, "{aei}");
}

#[tokio::test]
async fn ae_registration_with_an_originator_that_is_no_ae_id_is_refused() {
    let cse = common::start().await;
    let answer = cse.create("/cse-in", "Xabc", 2, ae("notanaeid")).await;
    assert_eq!(answer.rsc, 4126, "{}", answer.body);
    assert_eq!(answer.status, 403);
    assert_eq!(
        cse.retrieve("/cse-in/notanaeid", common::ADMIN).await.rsc,
        4004
    );
}
