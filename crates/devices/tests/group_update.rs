//! A firmware update fanned out to a group of 50 devices through the group's
//! `fopt`, one of them offline: 49 confirmed, one failed, none pretended.
//! Also: an action the device accepts but never reports times out to
//! failure, and only the device may report while an action is in process.

mod common;

use std::time::Duration;

use axum::http::HeaderMap;
use common::*;
use serde_json::{json, Value};
use urbis_devices::agent::firmware::sha256_hex;

const DEVICES: usize = 50;
const OFFLINE: usize = 17;

#[tokio::test]
async fn group_firmware_update_reports_each_member_and_the_offline_one_as_failed() {
    let image = b"urbis firmware 3.1.0".to_vec();
    let images = image_server(vec![("fw-3.1.0.bin", image.clone())]).await;
    let cse = start_cse(20_000).await;
    let mut agents = Vec::new();
    for i in 0..DEVICES {
        let dir = tempfile::tempdir().unwrap();
        let mut options = options(&cse.url, &format!("urn:dev:lamp-{i:03}"), &dir);
        options.report_interval = Duration::from_secs(600);
        agents.push(Some(spawn_agent(options, dir)));
    }
    let firmware_of = |i: usize| format!("cse-in/nod-urn-dev-lamp-{i:03}/firmware");
    let mut members = Vec::new();
    for i in 0..DEVICES {
        let fwr = eventually(Duration::from_secs(30), "registration", || async {
            attrs(&cse.admin, &firmware_of(i)).await
        })
        .await;
        members.push(fwr["ri"].as_str().unwrap().to_owned());
    }
    // one device goes offline after registering
    agents[OFFLINE].take().unwrap().stop().await;

    cse.admin
        .create(
            "cse-in",
            9,
            &json!({"m2m:grp": {"rn": "lamps-fw", "mt": 13, "mnm": 100, "mid": members}}),
        )
        .await
        .unwrap()
        .expect("group")
        .unwrap();
    let url = format!(
        "{images}/fw-3.1.0.bin#sha256={}&vr=3.1.0",
        sha256_hex(&image)
    );
    let fanned = cse
        .admin
        .update(
            "cse-in/lamps-fw/fopt",
            &json!({"m2m:fwr": {"url": url, "ud": true}}),
        )
        .await
        .unwrap()
        .expect("fan-out")
        .unwrap();
    let answers = fanned.body.pointer("/m2m:agr/m2m:rsp").unwrap();
    assert_eq!(answers.as_array().unwrap().len(), DEVICES);

    // every member reaches an outcome; read them all through the group
    let outcomes: Vec<(String, u64, String)> = eventually(
        Duration::from_secs(30),
        "every member's outcome",
        || async {
            let answer = cse.admin.retrieve("cse-in/lamps-fw/fopt").await.ok()?;
            let outcomes: Vec<(String, u64, String)> = answer
                .body
                .pointer("/m2m:agr/m2m:rsp")?
                .as_array()?
                .iter()
                .filter_map(|rsp| {
                    let fwr = rsp.pointer("/pc/m2m:fwr")?;
                    Some((
                        fwr["pi"].as_str()?.to_owned(),
                        fwr.pointer("/uds/sus")?.as_u64()?,
                        fwr.pointer("/uds/acn")?.as_str()?.to_owned(),
                    ))
                })
                .collect();
            (outcomes.len() == DEVICES && outcomes.iter().all(|(_, s, _)| matches!(s, 1 | 2)))
                .then_some(outcomes)
        },
    )
    .await;
    let failed: Vec<&(String, u64, String)> = outcomes.iter().filter(|o| o.1 == 2).collect();
    assert_eq!(
        failed.len(),
        1,
        "only the offline device failed: {failed:?}"
    );
    assert!(failed[0].2.contains("not reached"), "{}", failed[0].2);
    let offline_fwr = attrs(&cse.admin, &firmware_of(OFFLINE)).await.unwrap();
    assert_eq!(offline_fwr["uds"]["sus"], 2);
    assert_eq!(offline_fwr["vr"], "1.0.0");
    for i in (0..DEVICES).filter(|i| *i != OFFLINE) {
        assert_eq!(
            attrs(&cse.admin, &firmware_of(i)).await.unwrap()["vr"],
            "3.1.0"
        );
    }
    for agent in agents.into_iter().flatten() {
        agent.stop().await;
    }
}

/// A management client that accepts every action and never reports: the
/// CSE must not wait forever, nor call it a success.
async fn silent_management_client() -> String {
    let router = axum::Router::new().fallback(|headers: HeaderMap| async move {
        let rqi = headers
            .get("x-m2m-ri")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        ([("X-M2M-RSC", "1000".to_owned()), ("X-M2M-RI", rqi)], "")
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mgmt", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

async fn node_with_firmware(cse: &TestCse, mgca: &str) -> String {
    cse.admin
        .create(
            "cse-in",
            14,
            &json!({"m2m:nod": {"rn": "quiet", "ni": "urn:dev:quiet", "mgca": [mgca]}}),
        )
        .await
        .unwrap()
        .expect("node")
        .unwrap();
    cse.admin
        .create(
            "cse-in/quiet",
            13,
            &json!({"m2m:fwr": {"mgd": 1001, "rn": "fw", "vr": "1", "fwn": "f", "url": "u", "ud": false}}),
        )
        .await
        .unwrap()
        .expect("firmware")
        .unwrap();
    "cse-in/quiet/fw".to_owned()
}

#[tokio::test]
async fn an_action_never_reported_times_out_to_failure() {
    let cse = start_cse(800).await;
    let fwr = node_with_firmware(&cse, &silent_management_client().await).await;
    let answer = cse
        .admin
        .update(&fwr, &json!({"m2m:fwr": {"ud": true}}))
        .await
        .unwrap();
    assert_eq!(answer.body.pointer("/m2m:fwr/uds/sus"), Some(&json!(3)));
    let again = cse
        .admin
        .update(&fwr, &json!({"m2m:fwr": {"ud": true}}))
        .await
        .unwrap();
    assert_eq!(again.rsc, 4005, "one action at a time");
    let uds: Value = eventually(Duration::from_secs(10), "the timeout", || async {
        let uds = attrs(&cse.admin, &fwr).await?["uds"].clone();
        (uds["sus"] == 2).then_some(uds)
    })
    .await;
    assert!(
        uds["acn"].as_str().unwrap().contains("no outcome reported"),
        "{uds}"
    );
    assert_eq!(attrs(&cse.admin, &fwr).await.unwrap()["ud"], false);
}

#[tokio::test]
async fn only_the_device_reports_an_action_in_process() {
    let cse = start_cse(60_000).await;
    let fwr = node_with_firmware(&cse, &silent_management_client().await).await;
    cse.admin
        .update(&fwr, &json!({"m2m:fwr": {"ud": true}}))
        .await
        .unwrap()
        .expect("trigger")
        .unwrap();
    // some other application, given update rights on the firmware, tries
    // to declare success
    let acp = json!({"m2m:acp": {"rn": "open", "pv": {"acr": [{"acor": ["all"], "acop": 63}]},
        "pvs": {"acr": [{"acor": ["CAdmin"], "acop": 63}]}}});
    cse.admin
        .create("cse-in", 1, &acp)
        .await
        .unwrap()
        .expect("acp")
        .unwrap();
    cse.admin
        .update(&fwr, &json!({"m2m:fwr": {"acpi": ["cse-in/open"]}}))
        .await
        .unwrap()
        .expect("acpi")
        .unwrap();
    let intruder = cse.admin.as_originator("Cintruder");
    let claim = intruder
        .update(&fwr, &json!({"m2m:fwr": {"uds": {"acn": "ud", "sus": 1}}}))
        .await
        .unwrap();
    assert_eq!(claim.rsc, 4103, "{:?}", claim.body);
    assert!(
        claim.body["m2m:dbg"]
            .as_str()
            .is_some_and(|m| m.contains("management client")),
        "refused for not being the device, not by access control: {:?}",
        claim.body
    );
    let other = intruder
        .update(&fwr, &json!({"m2m:fwr": {"dc": "allowed"}}))
        .await
        .unwrap();
    assert_eq!(other.rsc, 2004, "the policy does grant updates");
    assert_eq!(attrs(&cse.admin, &fwr).await.unwrap()["uds"]["sus"], 3);
}

/// An action in process when the CSE stops still ends at its deadline after
/// a restart: the first CSE's runtime, timers included, is gone.
#[test]
fn an_action_in_process_survives_a_restart_and_still_times_out() {
    use std::sync::Arc;
    use urbis_core::{Cse, CseConfig};
    use urbis_http::client::HttpTransport;
    use urbis_store::sqlite::SqliteStore;

    let data = tempfile::tempdir().unwrap();
    let config = CseConfig {
        mgmt_action_timeout_ms: 1500,
        ..CseConfig::default()
    };
    let open = |config: &CseConfig| {
        let store = Arc::new(SqliteStore::open(data.path()).expect("store"));
        let cse = Cse::open(config.clone(), store).expect("CSE");
        cse.add_transport(Arc::new(
            HttpTransport::new(Duration::from_secs(2)).expect("client"),
        ));
        cse
    };
    let runtime = || tokio::runtime::Runtime::new().unwrap();
    let request = |cse: &Cse, op, to: &str, pc: Option<Value>, ty: Option<u32>| {
        let mut request = urbis_model::Request::new(op, to);
        request.fr = Some(ADMIN.into());
        request.rqi = "r".into();
        request.rvi = Some("4".into());
        request.pc = pc;
        request.ty = ty;
        let cse = cse.clone();
        async move { cse.handle(request).await }
    };
    use urbis_model::Operation::{Create, Retrieve, Update};

    let first = runtime();
    first.block_on(async {
        let cse = open(&config);
        cse.start_background();
        let client = silent_management_client().await;
        let node = json!({"m2m:nod": {"rn": "quiet", "ni": "urn:dev:quiet", "mgca": [client]}});
        request(&cse, Create, "cse-in", Some(node), Some(14)).await;
        let fwr = json!({"m2m:fwr": {"mgd": 1001, "rn": "fw", "vr": "1", "fwn": "f", "url": "u", "ud": false}});
        request(&cse, Create, "cse-in/quiet", Some(fwr), Some(13)).await;
        let answer = request(&cse, Update, "cse-in/quiet/fw", Some(json!({"m2m:fwr": {"ud": true}})), None).await;
        assert_eq!(answer.pc.unwrap().pointer("/m2m:fwr/uds/sus"), Some(&json!(3)));
    });
    drop(first);

    runtime().block_on(async {
        let cse = open(&config);
        cse.start_background();
        let status = || async {
            let answer = request(&cse, Retrieve, "cse-in/quiet/fw", None, None).await;
            answer.pc.unwrap().pointer("/m2m:fwr/uds").cloned().unwrap()
        };
        assert_eq!(
            status().await["sus"],
            3,
            "still in process after the restart"
        );
        let uds = eventually(
            Duration::from_secs(10),
            "the timeout after restart",
            || async {
                let uds = status().await;
                (uds["sus"] == 2).then_some(uds)
            },
        )
        .await;
        assert!(
            uds["acn"].as_str().unwrap().contains("no outcome reported"),
            "{uds}"
        );
    });
}
