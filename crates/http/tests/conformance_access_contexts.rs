//! Access control contexts and dynamic checks (TS-0001 §9.6.2, TS-0004
//! m2m:accessControlRule): `acco` time windows (`actw`) and IP address
//! ranges (`acip`, against the request's real TCP peer, 127.0.0.1 here),
//! location (`aclr`, not evaluated: closed), `acod` child types, `pvs` with
//! contexts, discovery filtered by DISCOVER, group fan-out checked per
//! member, and ACP refusals in the audit log.

mod audit_capture;
mod common;

use serde_json::{json, Value};

const CREATE: u32 = 1;
const RETRIEVE: u32 = 2;
const DISCOVER: u32 = 32;
const ALL: u32 = 63;

/// An owner AE with an ACP whose `pv` has one rule for `friend` (`acop`,
/// plus the given rule attributes, e.g. `acco`), and a container `box`
/// governed by it. Returns the owner's AE-ID.
async fn guarded_box(cse: &common::TestCse, friend: &str, acop: u32, extra: Value) -> String {
    let mut rule = json!({"acor": [friend], "acop": acop});
    if let (Some(rule), Some(extra)) = (rule.as_object_mut(), extra.as_object()) {
        rule.extend(extra.clone());
    }
    cse.protected_container(json!({"acr": [rule]})).await.0
}

async fn friend_reads_box(acco: Value) -> u16 {
    let cse = common::start().await;
    guarded_box(&cse, "Cfriend", RETRIEVE, json!({ "acco": acco })).await;
    cse.retrieve("/cse-in/owner/box", "Cfriend").await.rsc
}

#[tokio::test]
async fn time_window_context_grants_only_inside_the_window() {
    assert_eq!(
        friend_reads_box(json!([{"actw": ["* * * * * * *"]}])).await,
        2000
    );
    assert_eq!(
        friend_reads_box(json!([{"actw": ["* * * * * * 1984"]}])).await,
        4103
    );
}

#[tokio::test]
async fn ipv4_context_matches_the_real_peer_address() {
    for range in ["127.0.0.1", "127.0.0.0/8", "0.0.0.0/0"] {
        assert_eq!(
            friend_reads_box(json!([{"acip": {"ipv4": [range]}}])).await,
            2000,
            "{range}"
        );
    }
    for range in ["10.0.0.0/8", "127.0.0.2", "128.0.0.0/1"] {
        assert_eq!(
            friend_reads_box(json!([{"acip": {"ipv4": [range]}}])).await,
            4103,
            "{range}"
        );
    }
}

#[tokio::test]
async fn ipv6_context_does_not_match_an_ipv4_client() {
    assert_eq!(
        friend_reads_box(json!([{"acip": {"ipv6": ["::/0"]}}])).await,
        4103
    );
    assert_eq!(
        friend_reads_box(json!([{"acip": {"ipv6": ["::/0"], "ipv4": ["127.0.0.0/8"]}}])).await,
        2000,
        "either family may match"
    );
}

#[tokio::test]
async fn conditions_of_one_context_must_all_hold() {
    assert_eq!(
        friend_reads_box(json!([{"actw": ["* * * * * * *"], "acip": {"ipv4": ["10.0.0.0/8"]}}]))
            .await,
        4103
    );
    assert_eq!(
        friend_reads_box(json!([
            {"actw": ["* * * * * * 1984"]},
            {"acip": {"ipv4": ["127.0.0.0/8"]}}
        ]))
        .await,
        2000,
        "one context of several is enough"
    );
}

#[tokio::test]
async fn location_context_is_accepted_but_never_satisfied() {
    assert_eq!(
        friend_reads_box(json!([{"aclr": {"accc": ["FR"]}}])).await,
        4103
    );
}

#[tokio::test]
async fn malformed_ip_contexts_are_refused_with_4000() {
    let cse = common::start().await;
    let owner = cse.register_ae("owner", None).await;
    for acip in [
        json!({"ipv4": ["fe80::1"]}),
        json!({"ipv4": ["10.0.0.0/33"]}),
        json!({"ipv6": ["10.0.0.1"]}),
        json!({"ipv7": ["10.0.0.1"]}),
        json!(["10.0.0.1"]),
    ] {
        let answer = cse
            .create(
                "/cse-in/owner",
                &owner,
                1,
                json!({"m2m:acp": {
                    "pv": {"acr": [{"acor": ["all"], "acop": 2, "acco": [{"acip": acip}]}]},
                    "pvs": {"acr": [{"acor": [owner], "acop": ALL}]}}}),
            )
            .await;
        assert_eq!(answer.rsc, 4000, "{acip}: {}", answer.body);
    }
}

#[tokio::test]
async fn object_details_limit_the_child_types_a_rule_creates() {
    let cse = common::start().await;
    guarded_box(
        &cse,
        "Cfriend",
        CREATE | RETRIEVE,
        json!({"acod": [{"chty": [3]}]}),
    )
    .await;
    let cnt = cse
        .create(
            "/cse-in/owner/box",
            "Cfriend",
            3,
            json!({"m2m:cnt": {"rn": "inner"}}),
        )
        .await;
    assert_eq!(cnt.rsc, 2001, "{}", cnt.body);
    let cin = cse
        .create(
            "/cse-in/owner/box",
            "Cfriend",
            4,
            json!({"m2m:cin": {"con": "x"}}),
        )
        .await;
    assert_eq!(cin.rsc, 4103, "{}", cin.body);
}

#[tokio::test]
async fn self_privileges_with_contexts_govern_the_acp_itself() {
    let cse = common::start().await;
    let owner = cse.register_ae("owner", None).await;
    for (rn, range, expected) in [("near", "127.0.0.0/8", 2000), ("far", "10.0.0.0/8", 4103)] {
        let answer = cse
            .create(
                "/cse-in/owner",
                &owner,
                1,
                json!({"m2m:acp": {"rn": rn,
                    "pv": {"acr": [{"acor": [owner], "acop": ALL}]},
                    "pvs": {"acr": [{"acor": [owner], "acop": ALL,
                        "acco": [{"acip": {"ipv4": [range]}}]}]}}}),
            )
            .await;
        assert_eq!(answer.rsc, 2001, "{}", answer.body);
        let read = cse.retrieve(&format!("/cse-in/owner/{rn}"), &owner).await;
        assert_eq!(read.rsc, expected, "{rn}: {}", read.body);
    }
}

#[tokio::test]
async fn discovery_returns_only_what_the_originator_may_discover() {
    let cse = common::start().await;
    let owner = cse.register_ae("owner", None).await;
    let policy = |rn: &str, acop: u32, acco: Value| {
        json!({"m2m:acp": {"rn": rn,
            "pv": {"acr": [{"acor": ["Cfriend"], "acop": acop, "acco": acco}]},
            "pvs": {"acr": [{"acor": [owner], "acop": ALL}]}}})
    };
    let here = json!([{"acip": {"ipv4": ["127.0.0.0/8"]}}]);
    let elsewhere = json!([{"acip": {"ipv4": ["10.0.0.0/8"]}}]);
    for (name, acop, acco) in [
        ("open", DISCOVER, here.clone()),
        ("readonly", RETRIEVE, here),
        ("remote", DISCOVER, elsewhere),
    ] {
        let acp = cse
            .create(
                "/cse-in/owner",
                &owner,
                1,
                policy(&format!("p-{name}"), acop, acco),
            )
            .await;
        assert_eq!(acp.rsc, 2001, "{}", acp.body);
        let ri = acp.at("/m2m:acp/ri").as_str().expect("ri").to_owned();
        let cnt = cse
            .create(
                "/cse-in/owner",
                &owner,
                3,
                json!({"m2m:cnt": {"rn": name, "acpi": [ri]}}),
            )
            .await;
        assert_eq!(cnt.rsc, 2001, "{}", cnt.body);
    }
    let found = cse
        .retrieve("/cse-in/owner?fu=1&ty=3&drt=1", "Cfriend")
        .await;
    assert_eq!(found.rsc, 2000, "{}", found.body);
    assert_eq!(found.at("/m2m:uril"), &json!(["cse-in/owner/open"]));
}

#[tokio::test]
async fn group_fan_out_checks_each_member_for_the_originator() {
    let cse = common::start().await;
    let owner = cse.register_ae("owner", None).await;
    let readable = cse
        .create(
            "/cse-in/owner",
            &owner,
            1,
            json!({"m2m:acp": {"rn": "readable",
                "pv": {"acr": [{"acor": ["Cfriend"], "acop": RETRIEVE}]},
                "pvs": {"acr": [{"acor": [owner], "acop": ALL}]}}}),
        )
        .await;
    let readable = readable.at("/m2m:acp/ri").as_str().expect("ri").to_owned();
    let open = cse
        .create(
            "/cse-in/owner",
            &owner,
            3,
            json!({"m2m:cnt": {"rn": "open", "acpi": [readable]}}),
        )
        .await;
    let open = open.at("/m2m:cnt/ri").as_str().expect("ri").to_owned();
    let closed = cse
        .create(
            "/cse-in/owner",
            &owner,
            3,
            json!({"m2m:cnt": {"rn": "closed"}}),
        )
        .await;
    let closed = closed.at("/m2m:cnt/ri").as_str().expect("ri").to_owned();
    let group = cse
        .create(
            "/cse-in/owner",
            &owner,
            9,
            json!({"m2m:grp": {"rn": "grp", "mt": 3, "mnm": 10, "mid": [open, closed], "acpi": [readable]}}),
        )
        .await;
    assert_eq!(group.rsc, 2001, "{}", group.body);
    let answer = cse.retrieve("/cse-in/owner/grp/fopt", "Cfriend").await;
    assert_eq!(answer.rsc, 2000, "{}", answer.body);
    let codes: Vec<Value> = answer
        .at("/m2m:agr/m2m:rsp")
        .as_array()
        .expect("aggregated responses")
        .iter()
        .map(|r| r["rsc"].clone())
        .collect();
    assert_eq!(codes, vec![json!(2000), json!(4103)]);
}

#[tokio::test]
async fn refusals_are_in_the_audit_log() {
    audit_capture::install();
    let cse = common::start().await;
    guarded_box(
        &cse,
        "Cauditee",
        RETRIEVE,
        json!({"acco": [{"acip": {"ipv4": ["10.0.0.0/8"]}}]}),
    )
    .await;
    let answer = cse.retrieve("/cse-in/owner/box", "Cauditee").await;
    assert_eq!(answer.rsc, 4103);
    let events = audit_capture::events("access_denied", "originator", "Cauditee");
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event["address"], "127.0.0.1");
    assert_eq!(event["operation"], "retrieve");
    assert!(event["resource"].starts_with("cnt"), "{event:?}");
    // a discovery that filters is not a refusal
    let found = cse.retrieve("/cse-in/owner?fu=1", "Cauditee").await;
    assert_eq!(found.rsc, 2000);
    assert_eq!(
        audit_capture::events("access_denied", "originator", "Cauditee").len(),
        1
    );
}
