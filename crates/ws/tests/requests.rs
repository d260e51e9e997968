//! Requests over a WebSocket: the resource life cycle in JSON and CBOR,
//! discovery, concurrency on one connection, and noResponse.

mod common;

use std::collections::HashSet;

use common::*;
use serde_json::json;

async fn life_cycle(ser: Ser) {
    let cse = start().await;
    let mut app = Client::connect(cse.addr, ser).await;
    let ae = app.register("Cmeter", "meter", None).await;
    assert_eq!(ae, "Cmeter");

    let cnt = app
        .create(
            &ae,
            "cse-in/meter",
            3,
            json!({"m2m:cnt": {"rn": "power", "mni": 10}}),
        )
        .await;
    assert_eq!(cnt["rsc"], json!(2001), "{cnt}");
    let cin = app
        .create(
            &ae,
            "cse-in/meter/power",
            4,
            json!({"m2m:cin": {"con": "42.1", "rn": "r1"}}),
        )
        .await;
    assert_eq!(cin["rsc"], json!(2001), "{cin}");
    assert_eq!(cin["pc"]["m2m:cin"]["con"], json!("42.1"));

    let latest = app.retrieve(&ae, "cse-in/meter/power/la").await;
    assert_eq!(latest["rsc"], json!(2000), "{latest}");
    assert_eq!(latest["pc"]["m2m:cin"]["con"], json!("42.1"));
    let by_id = app
        .retrieve(&ae, cnt["pc"]["m2m:cnt"]["ri"].as_str().unwrap())
        .await;
    assert_eq!(by_id["pc"]["m2m:cnt"]["cni"], json!(1), "{by_id}");

    let updated = app
        .request(json!({"op": 3, "fr": ae, "to": "cse-in/meter/power",
                        "pc": {"m2m:cnt": {"lbl": ["tag:1"], "mni": 5}}}))
        .await;
    assert_eq!(updated["rsc"], json!(2004), "{updated}");
    assert_eq!(updated["pc"]["m2m:cnt"]["lbl"], json!(["tag:1"]));

    let deleted = app
        .request(json!({"op": 4, "fr": ae, "to": "cse-in/meter/power/r1"}))
        .await;
    assert_eq!(deleted["rsc"], json!(2002), "{deleted}");
    let gone = app.retrieve(&ae, "cse-in/meter/power/r1").await;
    assert_eq!(gone["rsc"], json!(4004), "{gone}");

    let deleted = app
        .request(json!({"op": 4, "fr": ae, "to": "cse-in/meter"}))
        .await;
    assert_eq!(deleted["rsc"], json!(2002), "{deleted}");
    assert_eq!(
        app.retrieve(ADMIN, "cse-in/meter").await["rsc"],
        json!(4004)
    );
}

#[tokio::test]
async fn resource_life_cycle_in_json() {
    life_cycle(Ser::Json).await;
}

#[tokio::test]
async fn resource_life_cycle_in_cbor() {
    life_cycle(Ser::Cbor).await;
}

#[tokio::test]
async fn discovery_with_filter_criteria() {
    let cse = start().await;
    let mut app = Client::connect(cse.addr, Ser::Json).await;
    let ae = app.register("Cdisc", "disc", None).await;
    for (rn, lbl) in [("a", "room:1"), ("b", "room:2"), ("c", "room:1")] {
        let made = app
            .create(
                &ae,
                "cse-in/disc",
                3,
                json!({"m2m:cnt": {"rn": rn, "lbl": [lbl]}}),
            )
            .await;
        assert_eq!(made["rsc"], json!(2001), "{made}");
    }
    let found = app
        .request(json!({"op": 2, "fr": ae, "to": "cse-in/disc",
                        "fc": {"fu": 1, "ty": [3], "lbl": ["room:1"]}}))
        .await;
    assert_eq!(found["rsc"], json!(2000), "{found}");
    let mut uris: Vec<_> = found["pc"]["m2m:uril"]
        .as_array()
        .expect("uril")
        .iter()
        .map(|u| u.as_str().unwrap().to_owned())
        .collect();
    uris.sort();
    assert_eq!(uris, vec!["cse-in/disc/a", "cse-in/disc/c"], "{found}");
}

#[tokio::test]
async fn concurrent_requests_on_one_connection_are_answered_by_rqi() {
    let cse = start().await;
    let mut app = Client::connect(cse.addr, Ser::Cbor).await;
    let ae = app.register("Cmany", "many", None).await;
    app.create(&ae, "cse-in/many", 3, json!({"m2m:cnt": {"rn": "c"}}))
        .await;
    // all requests out before any answer is read
    let count = 40;
    for i in 0..count {
        let primitive = json!({"op": 1, "fr": ae, "to": "cse-in/many/c", "ty": 4, "rvi": "4",
                               "rqi": format!("c{i}"), "pc": {"m2m:cin": {"con": format!("v{i}")}}});
        app.send(&primitive).await;
    }
    let mut seen = HashSet::new();
    for _ in 0..count {
        let answer = app.receive().await;
        assert_eq!(answer["rsc"], json!(2001), "{answer}");
        let rqi = answer["rqi"].as_str().unwrap().to_owned();
        let i = rqi.trim_start_matches('c');
        assert_eq!(
            answer["pc"]["m2m:cin"]["con"],
            json!(format!("v{i}")),
            "{answer}"
        );
        assert!(seen.insert(rqi), "answered twice");
    }
    let cnt = app.retrieve(&ae, "cse-in/many/c").await;
    assert_eq!(cnt["pc"]["m2m:cnt"]["cni"], json!(count), "{cnt}");
}

#[tokio::test]
async fn no_response_requests_get_no_answer() {
    let cse = start().await;
    let mut app = Client::connect(cse.addr, Ser::Json).await;
    let ae = app.register("Cquiet", "quiet", None).await;
    app.send(
        &json!({"op": 1, "fr": ae, "to": "cse-in/quiet", "ty": 3, "rvi": "4",
                     "rqi": "silent", "rt": {"rtv": 5}, "pc": {"m2m:cnt": {"rn": "c"}}}),
    )
    .await;
    // the next message is the answer to the next request, not to the silent one
    let answer = app.retrieve(&ae, "cse-in/quiet/c").await;
    assert_eq!(
        answer["rsc"],
        json!(2000),
        "the silent create happened: {answer}"
    );
}
