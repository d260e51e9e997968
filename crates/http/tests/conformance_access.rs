//! Access control (TS-0001 §9.6.2, TS-0004 §7.3.1.3, TS-0018 TP/oneM2M/CSE/SEC/ACP):
//! <accessControlPolicy> creation and validation, acop bits, acor forms, the
//! self-privileges pvs, and the implicit rules (admin, creator).

mod common;

use serde_json::{json, Value};

const CREATE: u32 = 1;
const RETRIEVE: u32 = 2;
const UPDATE: u32 = 4;
const DELETE: u32 = 8;
const ALL: u32 = 63;

fn acp(rn: &str, pv: Value, pvs: Value) -> Value {
    json!({"m2m:acp": {"rn": rn, "pv": pv, "pvs": pvs}})
}

fn rules(entries: &[(&[&str], u32)]) -> Value {
    let acr: Vec<Value> = entries
        .iter()
        .map(|(acor, acop)| json!({"acor": acor, "acop": acop}))
        .collect();
    json!({"acr": acr})
}

#[tokio::test]
async fn acp_creation_with_privileges_and_self_privileges() {
    let cse = common::start().await;
    let owner = cse.register_ae("owner", None).await;
    let pv = rules(&[(&["Cfriend"], RETRIEVE)]);
    let pvs = rules(&[(&[owner.as_str()], ALL)]);
    let answer = cse
        .create(
            "/cse-in/owner",
            &owner,
            1,
            acp("policy", pv.clone(), pvs.clone()),
        )
        .await;
    assert_eq!(answer.rsc, 2001, "{}", answer.body);
    assert_eq!(answer.status, 201);
    assert_eq!(answer.at("/m2m:acp/ty"), &json!(1));
    assert_eq!(answer.at("/m2m:acp/pv"), &pv);
    assert_eq!(answer.at("/m2m:acp/pvs"), &pvs);
    assert!(answer
        .at("/m2m:acp/ri")
        .as_str()
        .is_some_and(|ri| !ri.is_empty()));

    let read = cse.retrieve("/cse-in/owner/policy", &owner).await;
    assert_eq!(read.rsc, 2000, "{}", read.body);
    assert_eq!(read.at("/m2m:acp/pv"), &pv);
}

#[tokio::test]
async fn acp_creation_under_the_cse_base_by_a_registered_ae() {
    let cse = common::start().await;
    let owner = cse.register_ae("owner", None).await;
    let answer = cse
        .create(
            "/cse-in",
            &owner,
            1,
            acp(
                "toplevel",
                rules(&[(&["all"], RETRIEVE)]),
                rules(&[(&[owner.as_str()], ALL)]),
            ),
        )
        .await;
    assert_eq!(answer.rsc, 2001, "{}", answer.body);
    // An unregistered originator may not.
    let stranger = cse
        .create(
            "/cse-in",
            "Cunknown",
            1,
            acp(
                "other",
                rules(&[(&["all"], RETRIEVE)]),
                rules(&[(&["Cunknown"], ALL)]),
            ),
        )
        .await;
    assert_eq!(stranger.rsc, 4103, "{}", stranger.body);
    assert_eq!(cse.retrieve("/cse-in/other", common::ADMIN).await.rsc, 4004);
}

#[tokio::test]
async fn acp_without_pv_or_pvs_is_refused_with_4000() {
    let cse = common::start().await;
    let owner = cse.register_ae("owner", None).await;
    let no_pvs = cse
        .create(
            "/cse-in/owner",
            &owner,
            1,
            json!({"m2m:acp": {"rn": "p1", "pv": rules(&[(&["all"], 2)])}}),
        )
        .await;
    assert_eq!(no_pvs.rsc, 4000, "{}", no_pvs.body);
    let no_pv = cse
        .create(
            "/cse-in/owner",
            &owner,
            1,
            json!({"m2m:acp": {"rn": "p2", "pvs": rules(&[(&["all"], 2)])}}),
        )
        .await;
    assert_eq!(no_pv.rsc, 4000, "{}", no_pv.body);
    assert_eq!(
        cse.retrieve("/cse-in/owner/p1", common::ADMIN).await.rsc,
        4004
    );
    assert_eq!(
        cse.retrieve("/cse-in/owner/p2", common::ADMIN).await.rsc,
        4004
    );
}

#[tokio::test]
async fn acp_with_invalid_access_control_operations_is_refused_with_4000() {
    let cse = common::start().await;
    let owner = cse.register_ae("owner", None).await;
    for acop in [json!(0), json!(64), json!(-1), json!("2"), json!(1.5)] {
        let pv = json!({"acr": [{"acor": ["all"], "acop": acop}]});
        let answer = cse
            .create(
                "/cse-in/owner",
                &owner,
                1,
                acp("bad", pv, rules(&[(&[owner.as_str()], ALL)])),
            )
            .await;
        assert_eq!(answer.rsc, 4000, "acop {acop}: {}", answer.body);
        assert_eq!(answer.status, 400);
        let pvs = json!({"acr": [{"acor": [owner], "acop": acop}]});
        let answer = cse
            .create(
                "/cse-in/owner",
                &owner,
                1,
                acp("bad", rules(&[(&["all"], 2)]), pvs),
            )
            .await;
        assert_eq!(answer.rsc, 4000, "pvs acop {acop}: {}", answer.body);
    }
    assert_eq!(
        cse.retrieve("/cse-in/owner/bad", common::ADMIN).await.rsc,
        4004
    );
}

#[tokio::test]
async fn acp_with_malformed_rules_is_refused_with_4000() {
    let cse = common::start().await;
    let owner = cse.register_ae("owner", None).await;
    let pvs = rules(&[(&[owner.as_str()], ALL)]);
    for pv in [
        json!({"acr": [{"acop": 2}]}),                            // no acor
        json!({"acr": [{"acor": "all", "acop": 2}]}),             // acor not a list
        json!({"acr": [{"acor": [1], "acop": 2}]}),               // acor entries not strings
        json!({"acr": [{"acor": ["all"]}]}),                      // no acop
        json!({"acr": {"acor": ["all"], "acop": 2}}),             // acr not a list
        json!({"acr": [{"acor": ["all"], "acop": 2, "zzz": 1}]}), // unknown rule attribute
        json!("all"),                                             // not a setOfAcrs
    ] {
        let answer = cse
            .create(
                "/cse-in/owner",
                &owner,
                1,
                acp("bad", pv.clone(), pvs.clone()),
            )
            .await;
        assert_eq!(answer.rsc, 4000, "pv {pv}: {}", answer.body);
    }
    assert_eq!(
        cse.retrieve("/cse-in/owner/bad", common::ADMIN).await.rsc,
        4004
    );
}

#[tokio::test]
async fn acp_with_empty_self_privileges_is_refused_with_4000() {
    let cse = common::start().await;
    let owner = cse.register_ae("owner", None).await;
    let answer = cse
        .create(
            "/cse-in/owner",
            &owner,
            1,
            acp("nopvs", rules(&[(&["all"], 2)]), json!({"acr": []})),
        )
        .await;
    assert_eq!(answer.rsc, 4000, "{}", answer.body);
    assert_eq!(
        cse.retrieve("/cse-in/owner/nopvs", common::ADMIN).await.rsc,
        4004
    );
    // An empty pv is allowed (it grants nothing).
    let empty_pv = cse
        .create(
            "/cse-in/owner",
            &owner,
            1,
            acp(
                "nopv",
                json!({"acr": []}),
                rules(&[(&[owner.as_str()], ALL)]),
            ),
        )
        .await;
    assert_eq!(empty_pv.rsc, 2001, "{}", empty_pv.body);
}

#[tokio::test]
async fn acp_self_privileges_cannot_be_removed_or_emptied() {
    let cse = common::start().await;
    let (owner, _) = cse
        .protected_container(rules(&[(&["all"], RETRIEVE)]))
        .await;
    let removed = cse
        .update(
            "/cse-in/owner/policy",
            &owner,
            json!({"m2m:acp": {"pvs": null}}),
        )
        .await;
    assert_eq!(removed.rsc, 4000, "{}", removed.body);
    let emptied = cse
        .update(
            "/cse-in/owner/policy",
            &owner,
            json!({"m2m:acp": {"pvs": {"acr": []}}}),
        )
        .await;
    assert_eq!(emptied.rsc, 4000, "{}", emptied.body);
    let read = cse.retrieve("/cse-in/owner/policy", &owner).await;
    assert_eq!(read.at("/m2m:acp/pvs/acr/0/acor"), &json!([owner]));
}

#[tokio::test]
async fn acop_retrieve_only_allows_retrieve_and_nothing_else() {
    let cse = common::start().await;
    let friend = cse.register_ae("friend", None).await;
    let (owner, _) = cse
        .protected_container(rules(&[(&["Cowner"], ALL), (&[friend.as_str()], RETRIEVE)]))
        .await;
    assert_eq!(owner, "Cowner");

    let read = cse.retrieve("/cse-in/owner/box", &friend).await;
    assert_eq!(read.rsc, 2000, "{}", read.body);
    assert_eq!(read.at("/m2m:cnt/rn"), &json!("box"));

    let update = cse
        .update(
            "/cse-in/owner/box",
            &friend,
            json!({"m2m:cnt": {"lbl": ["x"]}}),
        )
        .await;
    assert_eq!(update.rsc, 4103, "{}", update.body);
    assert_eq!(update.status, 403);
    let create = cse
        .create(
            "/cse-in/owner/box",
            &friend,
            4,
            json!({"m2m:cin": {"con": "x"}}),
        )
        .await;
    assert_eq!(create.rsc, 4103, "{}", create.body);
    let delete = cse.delete("/cse-in/owner/box", &friend).await;
    assert_eq!(delete.rsc, 4103, "{}", delete.body);

    // Nothing changed.
    let after = cse.retrieve("/cse-in/owner/box", &owner).await;
    assert_eq!(after.rsc, 2000);
    assert!(after.at("/m2m:cnt/lbl").is_null());
    assert_eq!(after.at("/m2m:cnt/cni"), &json!(0));
}

#[tokio::test]
async fn acop_bits_grant_exactly_their_operations() {
    let cse = common::start().await;
    let creator = cse.register_ae("creator", None).await;
    let updater = cse.register_ae("updater", None).await;
    let deleter = cse.register_ae("deleter", None).await;
    let pv = rules(&[
        (&["Cowner"], ALL),
        (&[creator.as_str()], CREATE),
        (&[updater.as_str()], UPDATE),
        (&[deleter.as_str()], DELETE),
    ]);
    cse.protected_container(pv).await;
    let path = "/cse-in/owner/box";

    assert_eq!(
        cse.create(
            path,
            &creator,
            4,
            json!({"m2m:cin": {"rn": "c1", "con": "x"}})
        )
        .await
        .rsc,
        2001
    );
    assert_eq!(cse.retrieve(path, &creator).await.rsc, 4103);
    assert_eq!(
        cse.update(path, &creator, json!({"m2m:cnt": {"lbl": ["c"]}}))
            .await
            .rsc,
        4103
    );

    assert_eq!(
        cse.update(path, &updater, json!({"m2m:cnt": {"lbl": ["u"]}}))
            .await
            .rsc,
        2004
    );
    assert_eq!(cse.retrieve(path, &updater).await.rsc, 4103);
    assert_eq!(
        cse.create(path, &updater, 4, json!({"m2m:cin": {"con": "x"}}))
            .await
            .rsc,
        4103
    );

    assert_eq!(cse.retrieve(path, &deleter).await.rsc, 4103);
    assert_eq!(cse.delete(path, &deleter).await.rsc, 2002);
    assert_eq!(cse.retrieve(path, common::ADMIN).await.rsc, 4004);
}

#[tokio::test]
async fn content_instances_follow_the_containers_policy() {
    let cse = common::start().await;
    let reader = cse.register_ae("reader", None).await;
    cse.protected_container(rules(&[(&["Cowner"], ALL), (&[reader.as_str()], RETRIEVE)]))
        .await;
    let created = cse
        .create(
            "/cse-in/owner/box",
            "Cowner",
            4,
            json!({"m2m:cin": {"rn": "item", "con": "data"}}),
        )
        .await;
    assert_eq!(created.rsc, 2001, "{}", created.body);

    let read = cse.retrieve("/cse-in/owner/box/item", &reader).await;
    assert_eq!(read.rsc, 2000, "{}", read.body);
    assert_eq!(read.at("/m2m:cin/con"), &json!("data"));
    assert_eq!(
        cse.retrieve("/cse-in/owner/box/la", &reader).await.rsc,
        2000
    );
    assert_eq!(
        cse.delete("/cse-in/owner/box/item", &reader).await.rsc,
        4103
    );
    let outsider = cse.register_ae("outsider", None).await;
    assert_eq!(
        cse.retrieve("/cse-in/owner/box/item", &outsider).await.rsc,
        4103
    );
}

#[tokio::test]
async fn acor_all_matches_any_originator() {
    let cse = common::start().await;
    cse.protected_container(rules(&[(&["Cowner"], ALL), (&["all"], RETRIEVE)]))
        .await;
    for originator in ["Canyone", "Cwhatever", "Sxyz"] {
        let answer = cse.retrieve("/cse-in/owner/box", originator).await;
        assert_eq!(answer.rsc, 2000, "{originator}: {}", answer.body);
    }
    let update = cse
        .update(
            "/cse-in/owner/box",
            "Canyone",
            json!({"m2m:cnt": {"lbl": ["x"]}}),
        )
        .await;
    assert_eq!(update.rsc, 4103, "all only has RETRIEVE");
}

#[tokio::test]
async fn acor_with_wildcard_matches_originators_by_prefix() {
    let cse = common::start().await;
    cse.protected_container(rules(&[(&["Cowner"], ALL), (&["Cabc*"], RETRIEVE)]))
        .await;
    for allowed in ["Cabc", "Cabc1", "CabcDEF"] {
        let answer = cse.retrieve("/cse-in/owner/box", allowed).await;
        assert_eq!(answer.rsc, 2000, "{allowed}: {}", answer.body);
    }
    for denied in ["Cab", "Cxabc", "CABC1"] {
        let answer = cse.retrieve("/cse-in/owner/box", denied).await;
        assert_eq!(answer.rsc, 4103, "{denied}: {}", answer.body);
    }
}

#[tokio::test]
async fn acor_in_sp_relative_form_matches_the_local_originator() {
    let cse = common::start().await;
    let friend = cse.register_ae("friend", None).await;
    let sp_relative = format!("/id-in/{friend}");
    cse.protected_container(rules(&[
        (&["Cowner"], ALL),
        (&[sp_relative.as_str()], RETRIEVE),
    ]))
    .await;
    assert_eq!(cse.retrieve("/cse-in/owner/box", &friend).await.rsc, 2000);
    // And the originator may present itself SP-relative or absolute too.
    assert_eq!(
        cse.retrieve("/cse-in/owner/box", &sp_relative).await.rsc,
        2000
    );
    assert_eq!(
        cse.retrieve(
            "/cse-in/owner/box",
            &format!("//test.example.com/id-in/{friend}")
        )
        .await
        .rsc,
        2000
    );
}

#[tokio::test]
async fn self_privileges_govern_access_to_the_acp_itself() {
    let cse = common::start().await;
    let owner = cse.register_ae("owner", None).await;
    let auditor = cse.register_ae("auditor", None).await;
    let user = cse.register_ae("user", None).await;
    // pv gives `user` everything on governed resources, but pvs only lets the
    // auditor read the policy and the owner manage it.
    let pv = rules(&[(&[user.as_str()], ALL)]);
    let pvs = rules(&[(&[owner.as_str()], ALL), (&[auditor.as_str()], RETRIEVE)]);
    assert_eq!(
        cse.create("/cse-in/owner", &owner, 1, acp("policy", pv, pvs))
            .await
            .rsc,
        2001
    );
    let path = "/cse-in/owner/policy";

    assert_eq!(cse.retrieve(path, &auditor).await.rsc, 2000);
    assert_eq!(
        cse.update(path, &auditor, json!({"m2m:acp": {"lbl": ["a"]}}))
            .await
            .rsc,
        4103
    );
    assert_eq!(
        cse.retrieve(path, &user).await.rsc,
        4103,
        "pv does not govern the ACP itself"
    );
    assert_eq!(cse.delete(path, &user).await.rsc, 4103);

    let grant = cse.update(path, &owner, json!({"m2m:acp": {"pvs": rules(&[(&[owner.as_str()], ALL), (&[auditor.as_str()], RETRIEVE | UPDATE)])}})).await;
    assert_eq!(grant.rsc, 2004, "{}", grant.body);
    let now_allowed = cse
        .update(path, &auditor, json!({"m2m:acp": {"lbl": ["audited"]}}))
        .await;
    assert_eq!(now_allowed.rsc, 2004, "{}", now_allowed.body);
    assert_eq!(now_allowed.at("/m2m:acp/lbl"), &json!(["audited"]));
    assert_eq!(cse.delete(path, &auditor).await.rsc, 4103);
    assert_eq!(cse.delete(path, &owner).await.rsc, 2002);
}

#[tokio::test]
async fn acp_creator_without_self_privileges_cannot_read_it() {
    let cse = common::start().await;
    let owner = cse.register_ae("owner", None).await;
    let answer = cse
        .create(
            "/cse-in/owner",
            &owner,
            1,
            acp(
                "foreign",
                rules(&[(&["all"], 2)]),
                rules(&[(&["Csomeoneelse"], ALL)]),
            ),
        )
        .await;
    assert_eq!(answer.rsc, 2001, "{}", answer.body);
    assert_eq!(
        cse.retrieve("/cse-in/owner/foreign", &owner).await.rsc,
        4103
    );
    assert_eq!(
        cse.retrieve("/cse-in/owner/foreign", "Csomeoneelse")
            .await
            .rsc,
        2000
    );
}

#[tokio::test]
async fn admin_originator_bypasses_access_control() {
    let cse = common::start().await;
    cse.protected_container(rules(&[(&["Cowner"], RETRIEVE)]))
        .await;
    let path = "/cse-in/owner/box";
    assert_eq!(cse.retrieve(path, common::ADMIN).await.rsc, 2000);
    assert_eq!(
        cse.update(path, common::ADMIN, json!({"m2m:cnt": {"lbl": ["admin"]}}))
            .await
            .rsc,
        2004
    );
    assert_eq!(
        cse.create(path, common::ADMIN, 4, json!({"m2m:cin": {"con": "x"}}))
            .await
            .rsc,
        2001
    );
    // The ACP itself, although the admin is not in its pvs.
    assert_eq!(
        cse.retrieve("/cse-in/owner/policy", common::ADMIN)
            .await
            .rsc,
        2000
    );
    assert_eq!(cse.delete(path, common::ADMIN).await.rsc, 2002);
}

#[tokio::test]
async fn resource_without_acpi_is_open_to_its_creator_only() {
    let cse = common::start().await;
    let owner = cse.register_ae("owner", None).await;
    let other = cse.register_ae("other", None).await;
    assert_eq!(
        cse.create(
            "/cse-in/owner",
            &owner,
            3,
            json!({"m2m:cnt": {"rn": "open"}})
        )
        .await
        .rsc,
        2001
    );
    let path = "/cse-in/owner/open";
    assert_eq!(cse.retrieve(path, &owner).await.rsc, 2000);
    assert_eq!(
        cse.update(path, &owner, json!({"m2m:cnt": {"lbl": ["o"]}}))
            .await
            .rsc,
        2004
    );
    assert_eq!(
        cse.create(path, &owner, 4, json!({"m2m:cin": {"con": "x"}}))
            .await
            .rsc,
        2001
    );

    assert_eq!(cse.retrieve(path, &other).await.rsc, 4103);
    assert_eq!(
        cse.update(path, &other, json!({"m2m:cnt": {"lbl": ["x"]}}))
            .await
            .rsc,
        4103
    );
    assert_eq!(
        cse.create(path, &other, 4, json!({"m2m:cin": {"con": "x"}}))
            .await
            .rsc,
        4103
    );
    assert_eq!(cse.delete(path, &other).await.rsc, 4103);
    assert_eq!(
        cse.retrieve(path, common::ADMIN).await.at("/m2m:cnt/cni"),
        &json!(1)
    );
}

#[tokio::test]
async fn resource_with_acpi_is_not_open_to_its_creator_without_a_rule() {
    let cse = common::start().await;
    let owner = cse.register_ae("owner", None).await;
    let policy = cse
        .create(
            "/cse-in/owner",
            &owner,
            1,
            acp(
                "policy",
                rules(&[(&["Cfriend"], ALL)]),
                rules(&[(&[owner.as_str()], ALL)]),
            ),
        )
        .await;
    let acp_ri = policy.at("/m2m:acp/ri").as_str().unwrap().to_owned();
    assert_eq!(
        cse.create(
            "/cse-in/owner",
            &owner,
            3,
            json!({"m2m:cnt": {"rn": "box", "acpi": [acp_ri]}})
        )
        .await
        .rsc,
        2001
    );
    assert_eq!(cse.retrieve("/cse-in/owner/box", &owner).await.rsc, 4103);
    assert_eq!(cse.retrieve("/cse-in/owner/box", "Cfriend").await.rsc, 2000);
}

#[tokio::test]
async fn several_policies_in_acpi_grant_the_union_of_their_rules() {
    let cse = common::start().await;
    let owner = cse.register_ae("owner", None).await;
    let pvs = rules(&[(&[owner.as_str()], ALL)]);
    let a = cse
        .create(
            "/cse-in/owner",
            &owner,
            1,
            acp("a", rules(&[(&["Creader"], RETRIEVE)]), pvs.clone()),
        )
        .await;
    let b = cse
        .create(
            "/cse-in/owner",
            &owner,
            1,
            acp("b", rules(&[(&["Cwriter"], UPDATE)]), pvs),
        )
        .await;
    let ids = [a.at("/m2m:acp/ri").clone(), b.at("/m2m:acp/ri").clone()];
    assert_eq!(
        cse.create(
            "/cse-in/owner",
            &owner,
            3,
            json!({"m2m:cnt": {"rn": "box", "acpi": ids}})
        )
        .await
        .rsc,
        2001
    );
    assert_eq!(cse.retrieve("/cse-in/owner/box", "Creader").await.rsc, 2000);
    assert_eq!(
        cse.update(
            "/cse-in/owner/box",
            "Creader",
            json!({"m2m:cnt": {"lbl": ["r"]}})
        )
        .await
        .rsc,
        4103
    );
    assert_eq!(
        cse.update(
            "/cse-in/owner/box",
            "Cwriter",
            json!({"m2m:cnt": {"lbl": ["w"]}})
        )
        .await
        .rsc,
        2004
    );
    assert_eq!(cse.retrieve("/cse-in/owner/box", "Cwriter").await.rsc, 4103);
}

#[tokio::test]
async fn acpi_may_name_the_policy_by_structured_address() {
    let cse = common::start().await;
    let owner = cse.register_ae("owner", None).await;
    cse.create(
        "/cse-in/owner",
        &owner,
        1,
        acp(
            "policy",
            rules(&[(&["Cfriend"], RETRIEVE)]),
            rules(&[(&[owner.as_str()], ALL)]),
        ),
    )
    .await;
    let cnt = cse
        .create(
            "/cse-in/owner",
            &owner,
            3,
            json!({"m2m:cnt": {"rn": "box", "acpi": ["cse-in/owner/policy"]}}),
        )
        .await;
    assert_eq!(cnt.rsc, 2001, "{}", cnt.body);
    assert_eq!(cse.retrieve("/cse-in/owner/box", "Cfriend").await.rsc, 2000);
}

#[tokio::test]
async fn changing_pv_takes_effect_immediately() {
    let cse = common::start().await;
    let (owner, _) = cse.protected_container(rules(&[(&["Cowner"], ALL)])).await;
    assert_eq!(cse.retrieve("/cse-in/owner/box", "Clater").await.rsc, 4103);
    let updated = cse
        .update(
            "/cse-in/owner/policy",
            &owner,
            json!({"m2m:acp": {"pv": rules(&[(&["Cowner"], ALL), (&["Clater"], RETRIEVE)])}}),
        )
        .await;
    assert_eq!(updated.rsc, 2004, "{}", updated.body);
    assert_eq!(cse.retrieve("/cse-in/owner/box", "Clater").await.rsc, 2000);
}

#[tokio::test]
async fn acpi_update_must_name_an_existing_policy() {
    let cse = common::start().await;
    let owner = cse.register_ae("owner", None).await;
    assert_eq!(
        cse.create(
            "/cse-in/owner",
            &owner,
            3,
            json!({"m2m:cnt": {"rn": "box"}})
        )
        .await
        .rsc,
        2001
    );
    let answer = cse
        .update(
            "/cse-in/owner/box",
            &owner,
            json!({"m2m:cnt": {"acpi": ["acpDoesNotExist"]}}),
        )
        .await;
    assert_eq!(answer.rsc, 4000, "{}", answer.body);
    let read = cse.retrieve("/cse-in/owner/box", &owner).await;
    assert_eq!(read.rsc, 2000, "still governed by the creator rule");
    assert!(read.at("/m2m:cnt/acpi").is_null());
}

#[tokio::test]
async fn acpi_update_needs_update_rights_in_the_current_policies_self_privileges() {
    let cse = common::start().await;
    let (owner, _) = cse
        .protected_container(rules(&[(&["Cowner"], ALL), (&["Cmallory"], ALL)]))
        .await;
    let other_policy = cse
        .create(
            "/cse-in/owner",
            &owner,
            1,
            acp(
                "mine",
                rules(&[(&["Cmallory"], ALL)]),
                rules(&[(&["Cmallory"], ALL)]),
            ),
        )
        .await;
    let other_ri = other_policy.at("/m2m:acp/ri").clone();
    // Mallory has ALL in pv but nothing in pvs: she may change labels but not acpi.
    assert_eq!(
        cse.update(
            "/cse-in/owner/box",
            "Cmallory",
            json!({"m2m:cnt": {"lbl": ["m"]}})
        )
        .await
        .rsc,
        2004
    );
    let takeover = cse
        .update(
            "/cse-in/owner/box",
            "Cmallory",
            json!({"m2m:cnt": {"acpi": [other_ri]}}),
        )
        .await;
    assert_eq!(takeover.rsc, 4103, "{}", takeover.body);
    // The owner is in the pvs and may.
    let moved = cse
        .update(
            "/cse-in/owner/box",
            &owner,
            json!({"m2m:cnt": {"acpi": [other_ri]}}),
        )
        .await;
    assert_eq!(moved.rsc, 2004, "{}", moved.body);
    assert_eq!(moved.at("/m2m:cnt/acpi"), &json!([other_ri]));
}

#[tokio::test]
async fn acop_discovery_only_allows_discovery_but_not_retrieve() {
    let cse = common::start().await;
    cse.protected_container(rules(&[(&["Cowner"], ALL), (&["Cfinder"], 32)]))
        .await;
    let found = cse
        .send(
            reqwest::Method::GET,
            "/cse-in/owner?fu=1&ty=3",
            Some("Cfinder"),
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(found.rsc, 2000, "{}", found.body);
    assert_eq!(found.at("/m2m:uril"), &json!(["cse-in/owner/box"]));
    assert_eq!(cse.retrieve("/cse-in/owner/box", "Cfinder").await.rsc, 4103);
    let nobody = cse
        .send(
            reqwest::Method::GET,
            "/cse-in/owner?fu=1&ty=3",
            Some("Cnobody"),
            None,
            None,
            &[],
        )
        .await;
    assert_eq!(nobody.at("/m2m:uril"), &json!([]), "{}", nobody.body);
}

#[tokio::test]
async fn rules_limited_to_attributes_grant_only_those_attributes() {
    let cse = common::start().await;
    let reader = "Creader";
    // RETRIEVE and UPDATE of `lbl` only; CREATE of children with lbl and rn only
    let pv = json!({"acr": [
        {"acor": [reader], "acop": 2 + 4, "aca": ["lbl"]},
        {"acor": [reader], "acop": 1, "aca": ["lbl", "rn"]}
    ]});
    let (_, _) = cse.protected_container(pv).await;

    let full = cse.retrieve("/cse-in/owner/box", reader).await;
    assert_eq!(
        full.rsc, 4103,
        "a full representation holds attributes outside aca"
    );
    let partial = cse.retrieve("/cse-in/owner/box?atrl=lbl", reader).await;
    assert_eq!(partial.rsc, 2000, "{}", partial.body);
    let other = cse.retrieve("/cse-in/owner/box?atrl=rn", reader).await;
    assert_eq!(other.rsc, 4103);

    let relabel = cse
        .update(
            "/cse-in/owner/box",
            reader,
            json!({"m2m:cnt": {"lbl": ["x"]}}),
        )
        .await;
    assert_eq!(relabel.rsc, 2004, "{}", relabel.body);
    let resize = cse
        .update("/cse-in/owner/box", reader, json!({"m2m:cnt": {"mni": 3}}))
        .await;
    assert_eq!(resize.rsc, 4103);

    let too_much = cse
        .create(
            "/cse-in/owner/box",
            reader,
            3,
            json!({"m2m:cnt": {"rn": "a", "mni": 2}}),
        )
        .await;
    assert_eq!(too_much.rsc, 4103);
    let allowed = cse
        .create(
            "/cse-in/owner/box",
            reader,
            3,
            json!({"m2m:cnt": {"rn": "b", "lbl": ["y"]}}),
        )
        .await;
    assert_eq!(allowed.rsc, 2001, "{}", allowed.body);
    let shown = allowed.at("/m2m:cnt").as_object().expect("representation");
    assert!(
        shown.keys().all(|k| k == "rn" || k == "lbl"),
        "only covered attributes are shown: {shown:?}"
    );

    let delete = cse.delete("/cse-in/owner/box", reader).await;
    assert_eq!(delete.rsc, 4103, "no DELETE right at all");
}
