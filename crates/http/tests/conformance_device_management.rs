//! <node> and <mgmtObj> (TS-0001 §9.6.18-9.6.19 and Annex D, TS-0004
//! §7.4.15-7.4.16, TS-0022): the specializations and their rules, node
//! identity, and the links between AEs and the node they run on.

mod common;

use common::{TestCse, ADMIN};
use serde_json::{json, Value};

const NODE: u32 = 14;
const MGMT_OBJ: u32 = 13;

/// A node `name` with nodeID `ni`; returns its resource ID.
async fn node(cse: &TestCse, name: &str, ni: &str) -> String {
    let answer = cse
        .create(
            "/cse-in",
            ADMIN,
            NODE,
            json!({"m2m:nod": {"rn": name, "ni": ni}}),
        )
        .await;
    assert_eq!(answer.rsc, 2001, "{}", answer.body);
    answer.at("/m2m:nod/ri").as_str().expect("ri").to_owned()
}

/// Create a mgmtObj under the node `dev` from `{root: {...}}`.
async fn mgmt(cse: &TestCse, root: &str, attrs: Value) -> common::Answer {
    cse.create("/cse-in/dev", ADMIN, MGMT_OBJ, json!({ root: attrs }))
        .await
}

async fn mgmt_ok(cse: &TestCse, root: &str, attrs: Value) -> Value {
    let answer = mgmt(cse, root, attrs).await;
    assert_eq!(answer.rsc, 2001, "{root}: {}", answer.body);
    answer.body[root].clone()
}

async fn mgmt_refused(cse: &TestCse, root: &str, attrs: Value, why: &str) {
    let answer = mgmt(cse, root, attrs).await;
    assert_eq!(answer.rsc, 4000, "{why}: {}", answer.body);
}

async fn update(cse: &TestCse, path: &str, root: &str, attrs: Value) -> common::Answer {
    cse.update(path, ADMIN, json!({ root: attrs })).await
}

async fn device() -> TestCse {
    let cse = common::start().await;
    node(&cse, "dev", "urn:dev:1").await;
    cse
}

#[tokio::test]
async fn configuration_specializations_round_trip() {
    let cse = device().await;
    let cases = [
        (
            "dcfg:datc",
            1021,
            json!({"rn": "datc", "cntp": "cse-in/app/readings", "rpsc": [{"sce": ["0 0 * * * * *"]}], "meil": 60}),
            ("cntp", json!("cse-in/app/other")),
        ),
        (
            "dcfg:nycfc",
            1023,
            json!({"rn": "nycfc", "suids": [42], "mcff": "application/pkcs7mime", "mcfc": "MIIB..."}),
            ("suids", json!([41, 42])),
        ),
        (
            "dcfg:wific",
            1028,
            json!({"rn": "wific", "ssid": "city-iot", "wcrds": {"enct": 4, "wpap": "secret"}, "scan": false, "cons": 1}),
            ("ssid", json!("city-iot-2")),
        ),
        (
            "dcfg:crds",
            1029,
            json!({"rn": "crds", "pur": "broker", "crid": "id", "crse": "secret", "crtk": "token"}),
            ("crtk", json!("token2")),
        ),
        (
            "dcfg:sim",
            1030,
            json!({"rn": "sim", "imsi": "262011234567890", "icid": "89490200001234567890", "sist": 1, "sity": 2, "spn": "CityTel"}),
            ("sist", json!(0)),
        ),
        (
            "dcfg:mnwk",
            1031,
            json!({"rn": "mnwk", "cnb": 7, "rss": -97, "liqu": 20, "ipad": [{"ip4": "10.0.0.7"}, {"ip6": "2001:db8::7"}], "ripa": [{"ip4": "10.0.0.1"}], "apna": "iot.example", "ceid": 12345, "smnc": 1, "smcc": 262, "lac": 2305, "coel": 2}),
            ("rss", json!(-80)),
        ),
    ];
    for (root, mgd, mut attrs, (changed, value)) in cases {
        attrs["mgd"] = json!(mgd);
        let rn = attrs["rn"].as_str().expect("rn").to_owned();
        let created = mgmt_ok(&cse, root, attrs.clone()).await;
        assert_eq!(created["ty"], json!(13), "{root}");
        let path = format!("/cse-in/dev/{rn}");
        let got = cse.retrieve(&path, ADMIN).await;
        assert_eq!(got.rsc, 2000, "{}", got.body);
        for (sn, expected) in attrs.as_object().expect("object") {
            assert_eq!(&got.body[root][sn], expected, "{root}/{sn}");
        }
        let answer = update(&cse, &path, root, json!({ changed: value })).await;
        assert_eq!(answer.rsc, 2004, "{root}: {}", answer.body);
        assert_eq!(answer.body[root][changed], value, "{root}/{changed}");
        assert_eq!(cse.delete(&path, ADMIN).await.rsc, 2002, "{root}");
    }
}

#[tokio::test]
async fn status_attributes_start_uninitialized() {
    let cse = device().await;
    let uninitialized = json!({"acn": "", "sus": 0});
    let fwr = mgmt_ok(
        &cse,
        "m2m:fwr",
        json!({"mgd": 1001, "vr": "1.0", "fwn": "fw", "url": "http://fw.example/1.0", "ud": false}),
    )
    .await;
    assert_eq!(fwr["uds"], uninitialized);
    let swr = mgmt_ok(
        &cse,
        "m2m:swr",
        json!({"mgd": 1002, "vr": "1.0", "swn": "sw", "url": "http://sw.example/1.0"}),
    )
    .await;
    assert_eq!(swr["ins"], uninitialized);
    assert_eq!(swr["acts"], uninitialized);
    for trigger in ["in", "un", "act", "dea"] {
        assert_eq!(swr[trigger], json!(false), "{trigger}");
    }
    let wific = mgmt_ok(
        &cse,
        "dcfg:wific",
        json!({"mgd": 1028, "ssid": "open", "scan": false}),
    )
    .await;
    assert_eq!(wific["uds"], uninitialized);
    assert_eq!(wific["scanr"], json!([]));
    for flag in ["ud", "trdst", "rdst"] {
        assert_eq!(wific[flag], json!(false), "{flag}");
    }
    let evl = mgmt_ok(
        &cse,
        "m2m:evl",
        json!({"mgd": 1010, "lgt": 1, "lgd": "log", "lgst": 2}),
    )
    .await;
    assert_eq!((&evl["lga"], &evl["lgo"]), (&json!(true), &json!(true)));
    // a status is the device's to report, not the client's to invent at creation
    mgmt_refused(
        &cse,
        "m2m:fwr",
        json!({"mgd": 1001, "vr": "1", "fwn": "fw", "url": "u", "ud": false, "uds": uninitialized}),
        "uds is not permitted on CREATE",
    )
    .await;
    let path = format!("/cse-in/dev/{}", fwr["rn"].as_str().expect("rn"));
    let reported = update(
        &cse,
        &path,
        "m2m:fwr",
        json!({"uds": {"acn": "ud", "sus": 1}}),
    )
    .await;
    assert_eq!(reported.rsc, 2004, "{}", reported.body);
    let wrong = update(
        &cse,
        &path,
        "m2m:fwr",
        json!({"uds": {"acn": "ud", "sus": 7}}),
    )
    .await;
    assert_eq!(wrong.rsc, 4000, "unknown m2m:status: {}", wrong.body);
}

#[tokio::test]
async fn triggers_rest_and_exclude_each_other() {
    let cse = device().await;
    mgmt_ok(&cse, "m2m:rbo", json!({"mgd": 1009, "rn": "rbo"})).await;
    let path = "/cse-in/dev/rbo";
    for change in [
        json!({"rbo": true}),
        json!({"far": true}),
        json!({"rbo": false, "far": false}),
    ] {
        let answer = update(&cse, path, "m2m:rbo", change.clone()).await;
        assert_eq!(answer.rsc, 2004, "{change}: {}", answer.body);
        assert_eq!(answer.at("/m2m:rbo/rbo"), &json!(false), "{change}");
        assert_eq!(answer.at("/m2m:rbo/far"), &json!(false), "{change}");
    }
    let both = update(&cse, path, "m2m:rbo", json!({"rbo": true, "far": true})).await;
    assert_eq!(
        both.rsc, 4000,
        "reboot and factory reset at once: {}",
        both.body
    );

    let dvc = mgmt_ok(
        &cse,
        "m2m:dvc",
        json!({"mgd": 1008, "rn": "dvc", "can": "camera", "att": true, "cas": {"acn": "enable", "sus": 1}, "cus": true}),
    )
    .await;
    assert_eq!((&dvc["ena"], &dvc["dis"]), (&json!(true), &json!(true)));
    let answer = update(&cse, "/cse-in/dev/dvc", "m2m:dvc", json!({"ena": false})).await;
    assert_eq!(answer.rsc, 2004, "{}", answer.body);
    assert_eq!(answer.at("/m2m:dvc/ena"), &json!(true));
    let both = update(
        &cse,
        "/cse-in/dev/dvc",
        "m2m:dvc",
        json!({"ena": true, "dis": true}),
    )
    .await;
    assert_eq!(both.rsc, 4000, "{}", both.body);

    mgmt_ok(
        &cse,
        "m2m:swr",
        json!({"mgd": 1002, "rn": "swr", "vr": "1", "swn": "sw", "url": "u"}),
    )
    .await;
    let both = update(
        &cse,
        "/cse-in/dev/swr",
        "m2m:swr",
        json!({"in": true, "un": true}),
    )
    .await;
    assert_eq!(
        both.rsc, 4000,
        "install and uninstall at once: {}",
        both.body
    );
    let install = update(&cse, "/cse-in/dev/swr", "m2m:swr", json!({"in": true})).await;
    assert_eq!(install.rsc, 2004, "{}", install.body);
}

#[tokio::test]
async fn enumerations_are_checked() {
    let cse = device().await;
    let refused = [
        ("m2m:bat", json!({"mgd": 1006, "btl": 23, "bts": 99})),
        (
            "m2m:evl",
            json!({"mgd": 1010, "lgt": 0, "lgd": "x", "lgst": 1}),
        ),
        (
            "dcfg:nycfc",
            json!({"mgd": 1023, "suids": [99], "mcff": "f", "mcfc": "c"}),
        ),
        (
            "dcfg:nycfc",
            json!({"mgd": 1023, "suids": [], "mcff": "f", "mcfc": "c"}),
        ),
        (
            "dcfg:sim",
            json!({"mgd": 1030, "icid": "89490200001234567890", "sist": 2}),
        ),
        (
            "dcfg:sim",
            json!({"mgd": 1030, "icid": "89490200001234567890", "sity": 4}),
        ),
        ("dcfg:mnwk", json!({"mgd": 1031, "cnb": 8})),
        ("dcfg:mnwk", json!({"mgd": 1031, "cnb": 7, "coel": 5})),
        (
            "dcfg:wific",
            json!({"mgd": 1028, "ssid": "s", "scan": false, "cons": 7}),
        ),
    ];
    for (root, attrs) in refused {
        mgmt_refused(&cse, root, attrs.clone(), &format!("{root} {attrs}")).await;
    }
    mgmt_ok(
        &cse,
        "m2m:bat",
        json!({"mgd": 1006, "rn": "bat", "btl": 23, "bts": 5}),
    )
    .await;
    let answer = update(&cse, "/cse-in/dev/bat", "m2m:bat", json!({"bts": 0})).await;
    assert_eq!(answer.rsc, 4000, "{}", answer.body);
}

#[tokio::test]
async fn wifi_secrets_follow_the_encryption_type() {
    let cse = device().await;
    let wific = |wcrds: Value| json!({"mgd": 1028, "ssid": "s", "scan": false, "wcrds": wcrds});
    for wcrds in [
        json!({"enct": 2, "unm": "user", "pwd": "pwd"}),
        json!({"enct": 4, "wepk": "key"}),
        json!({"enct": 8, "wpap": "psk"}),
        json!({"enct": 8, "unm": "user"}),
        json!({"enct": 2}),
        json!({"enct": 1, "wpap": "psk"}),
        json!({"unm": "user", "pwd": "pwd"}),
    ] {
        mgmt_refused(&cse, "dcfg:wific", wific(wcrds.clone()), &wcrds.to_string()).await;
    }
    let mut first = wific(json!({"enct": 8, "unm": "user", "pwd": "pwd"}));
    first["rn"] = json!("wifi");
    mgmt_ok(&cse, "dcfg:wific", first).await;
    // credentials are replaced as a whole, and checked as a whole
    let path = "/cse-in/dev/wifi";
    let partial = update(&cse, path, "dcfg:wific", json!({"wcrds": {"enct": 3}})).await;
    assert_eq!(partial.rsc, 4000, "{}", partial.body);
    let switched = update(
        &cse,
        path,
        "dcfg:wific",
        json!({"wcrds": {"enct": 3, "wpap": "psk"}, "trdst": true}),
    )
    .await;
    assert_eq!(switched.rsc, 2004, "{}", switched.body);
    assert_eq!(
        switched.at("/dcfg:wific/wcrds"),
        &json!({"enct": 3, "wpap": "psk"})
    );
    assert_eq!(
        switched.at("/dcfg:wific/trdst"),
        &json!(false),
        "toggle rests"
    );
}

#[tokio::test]
async fn data_collection_schedules() {
    let cse = device().await;
    mgmt_refused(
        &cse,
        "dcfg:datc",
        json!({"mgd": 1021, "cntp": "cse-in/a/c", "mesc": [{"sce": ["* * * * * * *"]}], "meil": 60}),
        "measurement schedule and interval at once",
    )
    .await;
    mgmt_refused(&cse, "dcfg:datc", json!({"mgd": 1021}), "cntp is mandatory").await;
    mgmt_ok(
        &cse,
        "dcfg:datc",
        json!({"mgd": 1021, "rn": "datc", "cntp": "cse-in/a/c"}),
    )
    .await;
    let path = "/cse-in/dev/datc";
    for bad in [
        json!({"rpsc": 10000}),
        json!({"rpsc": [10]}),
        json!({"rpsc": [{"sce": ["10 * * * *"]}]}),
        json!({"mesc": [{"sce": "10 * * * * * *"}]}),
        json!({"meil": 0}),
    ] {
        let answer = update(&cse, path, "dcfg:datc", bad.clone()).await;
        assert_eq!(answer.rsc, 4000, "{bad}: {}", answer.body);
    }
    let schedule = json!([{"sce": ["0 */15 * * * * *"]}]);
    let answer = update(&cse, path, "dcfg:datc", json!({"mesc": schedule})).await;
    assert_eq!(answer.rsc, 2004, "{}", answer.body);
    let answer = update(&cse, path, "dcfg:datc", json!({"meil": 900})).await;
    assert_eq!(answer.rsc, 4000, "meil while mesc is set: {}", answer.body);
    let answer = update(&cse, path, "dcfg:datc", json!({"mesc": null, "meil": 900})).await;
    assert_eq!(answer.rsc, 2004, "{}", answer.body);
    assert!(answer.at("/dcfg:datc/mesc").is_null());
    assert_eq!(answer.at("/dcfg:datc/meil"), &json!(900));
}

#[tokio::test]
async fn identities_and_addresses_are_validated() {
    let cse = device().await;
    let icid = "89490200001234567890";
    for (root, attrs) in [
        ("dcfg:sim", json!({"mgd": 1030, "icid": "8949"})),
        (
            "dcfg:sim",
            json!({"mgd": 1030, "icid": icid, "imsi": "26201abc"}),
        ),
        ("dcfg:sim", json!({"mgd": 1030})),
        (
            "dcfg:mnwk",
            json!({"mgd": 1031, "cnb": 7, "ipad": [{"ip4": "10.0.0.300"}]}),
        ),
        (
            "dcfg:mnwk",
            json!({"mgd": 1031, "cnb": 7, "ripa": [{"ip6": "10.0.0.1"}]}),
        ),
        (
            "dcfg:mnwk",
            json!({"mgd": 1031, "cnb": 7, "ipad": ["10.0.0.1"]}),
        ),
        ("dcfg:mnwk", json!({"mgd": 1031, "cnb": 7, "ceid": -1})),
        ("dcfg:mnwk", json!({"mgd": 1031, "cnb": 7, "rss": "-70"})),
    ] {
        mgmt_refused(&cse, root, attrs.clone(), &attrs.to_string()).await;
    }
}

#[tokio::test]
async fn specializations_keep_to_their_own_attributes() {
    let cse = device().await;
    // an attribute of another specialization
    mgmt_refused(
        &cse,
        "dcfg:sim",
        json!({"mgd": 1030, "icid": "89490200001234567890", "ssid": "s"}),
        "ssid is not a SIM attribute",
    )
    .await;
    // mgd must match the root key
    mgmt_refused(
        &cse,
        "dcfg:sim",
        json!({"mgd": 1031, "icid": "89490200001234567890"}),
        "mgd of another specialization",
    )
    .await;
    mgmt_refused(
        &cse,
        "dcfg:xyz",
        json!({"mgd": 1030}),
        "unknown specialization",
    )
    .await;
    mgmt_refused(&cse, "dcfg:crds", json!({"mgd": "1029"}), "mgd is a number").await;
    mgmt_refused(
        &cse,
        "dcfg:crds",
        json!({"mgd": 1029, "cmlk": [{"nm": "no link"}]}),
        "mgmtLinkRef without val",
    )
    .await;
    // write-once attributes
    mgmt_ok(
        &cse,
        "dcfg:nycfc",
        json!({"mgd": 1023, "rn": "cert", "suids": [40], "mcff": "application/pkix-cert", "mcfc": "MII..."}),
    )
    .await;
    let answer = update(
        &cse,
        "/cse-in/dev/cert",
        "dcfg:nycfc",
        json!({"mcfc": "other"}),
    )
    .await;
    assert_eq!(answer.rsc, 4000, "{}", answer.body);
    let answer = update(&cse, "/cse-in/dev/cert", "dcfg:nycfc", json!({"mgd": 1029})).await;
    assert_eq!(answer.rsc, 4000, "{}", answer.body);
    let answer = update(&cse, "/cse-in/dev/cert", "dcfg:crds", json!({"pur": "x"})).await;
    assert_eq!(
        answer.rsc, 4000,
        "root key of another specialization: {}",
        answer.body
    );
    // a mgmtObj lives under a node only
    let answer = cse
        .create(
            "/cse-in",
            ADMIN,
            MGMT_OBJ,
            json!({"dcfg:crds": {"mgd": 1029}}),
        )
        .await;
    assert_eq!(answer.rsc, 4108, "{}", answer.body);
}

#[tokio::test]
async fn specialization_attributes_filter_discovery() {
    let cse = device().await;
    mgmt_ok(
        &cse,
        "dcfg:mnwk",
        json!({"mgd": 1031, "rn": "lte", "cnb": 6}),
    )
    .await;
    mgmt_ok(
        &cse,
        "dcfg:mnwk",
        json!({"mgd": 1031, "rn": "nbiot", "cnb": 7}),
    )
    .await;
    let found = cse.retrieve("/cse-in?fu=1&ty=13&cnb=7", ADMIN).await;
    assert_eq!(found.rsc, 2000, "{}", found.body);
    assert_eq!(found.at("/m2m:uril"), &json!(["cse-in/dev/nbiot"]));
}

#[tokio::test]
async fn node_ids_are_unique() {
    let cse = common::start().await;
    node(&cse, "lamp1", "urn:dev:lamp-1").await;
    let other = node(&cse, "lamp2", "urn:dev:lamp-2").await;
    // addressed by resource ID, unstructured
    let twin = cse
        .create(
            "/cse-in",
            ADMIN,
            NODE,
            json!({"m2m:nod": {"rn": "lamp1b", "ni": "urn:dev:lamp-1"}}),
        )
        .await;
    assert_eq!(twin.rsc, 4105, "{}", twin.body);
    let taken = cse
        .update(
            &format!("/~/id-in/{other}"),
            ADMIN,
            json!({"m2m:nod": {"ni": "urn:dev:lamp-1"}}),
        )
        .await;
    assert_eq!(taken.rsc, 4105, "{}", taken.body);
    // a node may keep (restate) its own nodeID, and a freed one may be reused
    let same = cse
        .update(
            "/cse-in/lamp1",
            ADMIN,
            json!({"m2m:nod": {"ni": "urn:dev:lamp-1", "lbl": ["street:main"]}}),
        )
        .await;
    assert_eq!(same.rsc, 2004, "{}", same.body);
    assert_eq!(cse.delete("/cse-in/lamp1", ADMIN).await.rsc, 2002);
    node(&cse, "lamp1b", "urn:dev:lamp-1").await;
}

/// Registrations racing for one nodeID: the writer checks each against the
/// others of its write group (uncommitted yet), so exactly one wins.
#[tokio::test]
async fn racing_registrations_of_one_node_id_admit_one() {
    let cse = common::start().await;
    let register = |name: &'static str| {
        cse.create(
            "/cse-in",
            ADMIN,
            NODE,
            json!({"m2m:nod": {"rn": name, "ni": "urn:dev:race"}}),
        )
    };
    let (a, b, c, d, e, f) = tokio::join!(
        register("race1"),
        register("race2"),
        register("race3"),
        register("race4"),
        register("race5"),
        register("race6"),
    );
    let mut rscs: Vec<u16> = [a, b, c, d, e, f].iter().map(|x| x.rsc).collect();
    rscs.sort_unstable();
    assert_eq!(rscs, [2001, 4105, 4105, 4105, 4105, 4105]);
}

#[tokio::test]
async fn node_attributes_are_checked() {
    let cse = common::start().await;
    for (attrs, why) in [
        (json!({"ni": "n", "hael": []}), "hael may not be empty"),
        (json!({"hael": ["Cx"]}), "ni is mandatory"),
        (json!({"ni": "n", "nid": "net"}), "networkID is the CSE's"),
        (
            json!({"ni": "n", "rms": false}),
            "roamingStatus is the CSE's",
        ),
        (json!({"ni": "n", "mgca": "coap://dev"}), "mgca is a list"),
        (json!({"ni": 1}), "ni is a string"),
    ] {
        let answer = cse
            .create("/cse-in", ADMIN, NODE, json!({ "m2m:nod": attrs }))
            .await;
        assert_eq!(answer.rsc, 4000, "{why}: {}", answer.body);
    }
    let answer = cse
        .create(
            "/cse-in",
            ADMIN,
            NODE,
            json!({"m2m:nod": {"rn": "gw", "ni": "urn:gw", "mgca": ["coap://10.0.0.2:5683"], "hsl": ["lighting"]}}),
        )
        .await;
    assert_eq!(answer.rsc, 2001, "{}", answer.body);
    let answer = cse
        .update("/cse-in/gw", ADMIN, json!({"m2m:nod": {"ni": null}}))
        .await;
    assert_eq!(answer.rsc, 4000, "ni cannot be removed: {}", answer.body);
}

#[tokio::test]
async fn deleting_a_node_deletes_its_mgmt_objs() {
    let cse = device().await;
    mgmt_ok(&cse, "dcfg:crds", json!({"mgd": 1029, "rn": "crds"})).await;
    assert_eq!(cse.delete("/cse-in/dev", ADMIN).await.rsc, 2002);
    assert_eq!(cse.retrieve("/cse-in/dev/crds", ADMIN).await.rsc, 4004);
    // the name and the nodeID are free again
    node(&cse, "dev", "urn:dev:1").await;
    assert_eq!(cse.retrieve("/cse-in/dev/crds", ADMIN).await.rsc, 4004);
}

async fn hael(cse: &TestCse, node: &str) -> Value {
    let answer = cse.retrieve(&format!("/cse-in/{node}"), ADMIN).await;
    assert_eq!(answer.rsc, 2000, "{}", answer.body);
    answer.at("/m2m:nod/hael").clone()
}

async fn register_on(cse: &TestCse, name: &str, nl: &str) -> common::Answer {
    cse.create(
        "/cse-in",
        &format!("C{name}"),
        2,
        json!({"m2m:ae": {"rn": name, "api": "Nlamp", "rr": false, "srv": ["4"], "nl": nl}}),
    )
    .await
}

#[tokio::test]
async fn an_ae_and_its_node_link_each_other() {
    let cse = common::start().await;
    let first = node(&cse, "pole1", "urn:pole:1").await;
    let second = node(&cse, "pole2", "urn:pole:2").await;

    let ae = register_on(&cse, "lamp", &first).await;
    assert_eq!(ae.rsc, 2001, "{}", ae.body);
    assert_eq!(ae.at("/m2m:ae/nl"), &json!(first));
    assert_eq!(hael(&cse, "pole1").await, json!(["Clamp"]));

    // a structured address is kept as the node's resource ID
    let other = register_on(&cse, "meter", "cse-in/pole1").await;
    assert_eq!(other.rsc, 2001, "{}", other.body);
    assert_eq!(other.at("/m2m:ae/nl"), &json!(first));
    assert_eq!(hael(&cse, "pole1").await, json!(["Clamp", "Cmeter"]));

    // moving the AE moves its entry
    let moved = cse
        .update("/cse-in/lamp", "Clamp", json!({"m2m:ae": {"nl": second}}))
        .await;
    assert_eq!(moved.rsc, 2004, "{}", moved.body);
    assert_eq!(hael(&cse, "pole1").await, json!(["Cmeter"]));
    assert_eq!(hael(&cse, "pole2").await, json!(["Clamp"]));

    // deregistering removes it; an emptied list goes away
    assert_eq!(cse.delete("/cse-in/meter", ADMIN).await.rsc, 2002);
    assert_eq!(hael(&cse, "pole1").await, Value::Null);

    // deleting the node removes the AE's link
    assert_eq!(cse.delete("/cse-in/pole2", ADMIN).await.rsc, 2002);
    let lamp = cse.retrieve("/cse-in/lamp", ADMIN).await;
    assert_eq!(lamp.rsc, 2000, "{}", lamp.body);
    assert!(lamp.at("/m2m:ae/nl").is_null(), "{}", lamp.body);

    // removing the link by UPDATE
    let relinked = cse
        .update("/cse-in/lamp", "Clamp", json!({"m2m:ae": {"nl": first}}))
        .await;
    assert_eq!(relinked.rsc, 2004, "{}", relinked.body);
    assert_eq!(hael(&cse, "pole1").await, json!(["Clamp"]));
    let unlinked = cse
        .update("/cse-in/lamp", "Clamp", json!({"m2m:ae": {"nl": null}}))
        .await;
    assert_eq!(unlinked.rsc, 2004, "{}", unlinked.body);
    assert_eq!(hael(&cse, "pole1").await, Value::Null);
}

#[tokio::test]
async fn a_node_listing_an_ae_in_advance_gets_no_duplicate() {
    let cse = common::start().await;
    let answer = cse
        .create(
            "/cse-in",
            ADMIN,
            NODE,
            json!({"m2m:nod": {"rn": "gw", "ni": "urn:gw", "hael": ["Csensor"]}}),
        )
        .await;
    assert_eq!(answer.rsc, 2001, "{}", answer.body);
    let gw = answer.at("/m2m:nod/ri").as_str().expect("ri").to_owned();
    assert_eq!(register_on(&cse, "sensor", &gw).await.rsc, 2001);
    assert_eq!(hael(&cse, "gw").await, json!(["Csensor"]));
}

#[tokio::test]
async fn a_node_link_must_name_a_node() {
    let cse = common::start().await;
    node(&cse, "pole", "urn:pole").await;
    let acp = cse
        .create(
            "/cse-in",
            ADMIN,
            1,
            json!({"m2m:acp": {"rn": "acp", "pv": {"acr": [{"acor": ["all"], "acop": 2}]}, "pvs": {"acr": [{"acor": [ADMIN], "acop": 63}]}}}),
        )
        .await;
    assert_eq!(acp.rsc, 2001, "{}", acp.body);
    for nl in ["nod-missing", "cse-in/acp", "cse-in", "cse-in/pole/nothing"] {
        let answer = register_on(&cse, "lamp", nl).await;
        assert_eq!(answer.rsc, 4000, "{nl}: {}", answer.body);
    }
    assert_eq!(hael(&cse, "pole").await, Value::Null);
    // a node of another CSE is taken as given
    let remote = register_on(&cse, "lamp", "/id-mn/nod123").await;
    assert_eq!(remote.rsc, 2001, "{}", remote.body);
    assert_eq!(remote.at("/m2m:ae/nl"), &json!("/id-mn/nod123"));
    let wrong = cse
        .update(
            "/cse-in/lamp",
            "Clamp",
            json!({"m2m:ae": {"nl": "cse-in/acp"}}),
        )
        .await;
    assert_eq!(wrong.rsc, 4000, "{}", wrong.body);
}
