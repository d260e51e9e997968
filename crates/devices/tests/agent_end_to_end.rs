//! The real agent against a real CSE: registration, periodic status,
//! firmware updates that succeed and fail, reboot.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use urbis_devices::agent::firmware::sha256_hex;

const WAIT: Duration = Duration::from_secs(15);

fn node(name: &str) -> String {
    format!("cse-in/nod-{name}")
}

async fn registered(cse: &TestCse, agent: &RunningAgent) -> Value {
    let path = format!("{}/eventLog", node(&agent.name));
    eventually(WAIT, "the agent's registration", || async {
        attrs(&cse.admin, &path).await?;
        attrs(&cse.admin, &node(&agent.name)).await
    })
    .await
}

async fn sus(cse: &TestCse, path: &str) -> Option<(u64, String)> {
    let fwr = attrs(&cse.admin, path).await?;
    Some((
        fwr.pointer("/uds/sus")?.as_u64()?,
        fwr.pointer("/uds/acn")?.as_str()?.to_owned(),
    ))
}

async fn terminal_status(cse: &TestCse, path: &str) -> (u64, String) {
    eventually(WAIT, "the firmware update's outcome", || async {
        sus(cse, path).await.filter(|(s, _)| matches!(s, 1 | 2))
    })
    .await
}

#[tokio::test]
async fn agent_registers_its_node_and_mgmt_objs_and_reports_periodically() {
    let cse = start_cse(10_000).await;
    let dir = tempfile::tempdir().unwrap();
    let mut options = options(&cse.url, "urn:dev:meter-0001", &dir);
    options.report_interval = Duration::from_millis(200);
    options.battery_level = 90;
    options.battery_drain = 1;
    options.model = "M-100".into();
    let agent = spawn_agent(options, dir);
    let nod = registered(&cse, &agent).await;
    assert_eq!(nod["ni"], "urn:dev:meter-0001");
    assert_eq!(
        nod["hael"],
        json!(["Curn-dev-meter-0001"]),
        "the AE is hosted"
    );
    let ae = attrs(&cse.admin, "cse-in/urn-dev-meter-0001")
        .await
        .unwrap();
    assert_eq!(ae["nl"], nod["ri"]);
    assert!(ae["poa"][0]
        .as_str()
        .unwrap()
        .starts_with("http://127.0.0.1:"));
    for rn in [
        "deviceInfo",
        "firmware",
        "battery",
        "memory",
        "reboot",
        "eventLog",
    ] {
        let path = format!("{}/{rn}", node(&agent.name));
        assert!(attrs(&cse.admin, &path).await.is_some(), "{rn} registered");
    }
    let dvi = attrs(&cse.admin, &format!("{}/deviceInfo", node(&agent.name)))
        .await
        .unwrap();
    assert_eq!(dvi["mod"], "M-100");
    assert_eq!(dvi["fwv"], "1.0.0");
    // the battery drains one percent per report
    let battery = format!("{}/battery", node(&agent.name));
    let level = eventually(WAIT, "two battery reports", || async {
        let btl = attrs(&cse.admin, &battery).await?["btl"].as_u64()?;
        (btl <= 88).then_some(btl)
    })
    .await;
    assert!(level < 90);
    let mem = attrs(&cse.admin, &format!("{}/memory", node(&agent.name)))
        .await
        .unwrap();
    assert!(
        mem["mmt"].as_u64().unwrap() > 0,
        "memory read from the kernel"
    );
    agent.stop().await;
}

#[tokio::test]
async fn firmware_update_downloads_verifies_swaps_and_reports_the_new_version() {
    let image = b"urbis firmware 2.0.0 for meters".to_vec();
    let images = image_server(vec![("meter-2.0.0.bin", image.clone())]).await;
    let cse = start_cse(10_000).await;
    let dir = tempfile::tempdir().unwrap();
    let agent = spawn_agent(options(&cse.url, "meter-0002", &dir), dir);
    registered(&cse, &agent).await;
    let fwr = format!("{}/firmware", node(&agent.name));
    let url = format!(
        "{images}/meter-2.0.0.bin#sha256={}&vr=2.0.0",
        sha256_hex(&image)
    );
    let answer = cse
        .admin
        .update(&fwr, &json!({"m2m:fwr": {"url": url, "ud": true}}))
        .await
        .unwrap();
    assert_eq!(answer.rsc, 2004);
    assert_eq!(
        answer.body.pointer("/m2m:fwr/uds/sus"),
        Some(&json!(3)),
        "in process until the device reports"
    );
    let (status, acn) = terminal_status(&cse, &fwr).await;
    assert_eq!((status, acn.as_str()), (1, "ud"), "confirmed by the device");
    let fwr_now = attrs(&cse.admin, &fwr).await.unwrap();
    assert_eq!(fwr_now["vr"], "2.0.0");
    assert_eq!(fwr_now["ud"], false, "the trigger is at rest again");
    let dvi = eventually(WAIT, "deviceInfo fwv", || async {
        let dvi = attrs(&cse.admin, &format!("{}/deviceInfo", node(&agent.name))).await?;
        (dvi["fwv"] == "2.0.0").then_some(dvi)
    })
    .await;
    assert_eq!(dvi["fwv"], "2.0.0");
    let dir = agent.stop().await;
    let installed = std::fs::read(dir.path().join("firmware/current")).unwrap();
    assert_eq!(installed, image, "the new image is in place");
    assert!(dir.path().join("firmware/previous").exists());
}

#[tokio::test]
async fn firmware_with_a_bad_checksum_is_refused_and_the_old_image_kept() {
    let image = b"a tampered image".to_vec();
    let images = image_server(vec![("bad.bin", image.clone())]).await;
    let cse = start_cse(10_000).await;
    let dir = tempfile::tempdir().unwrap();
    let agent = spawn_agent(options(&cse.url, "meter-0003", &dir), dir);
    registered(&cse, &agent).await;
    let before = std::fs::read(agent.state_dir.path().join("firmware/current")).unwrap();
    let fwr = format!("{}/firmware", node(&agent.name));
    let url = format!(
        "{images}/bad.bin#sha256={}&vr=6.6.6",
        sha256_hex(b"the image the vendor published")
    );
    cse.admin
        .update(&fwr, &json!({"m2m:fwr": {"url": url, "ud": true}}))
        .await
        .unwrap()
        .expect("update")
        .unwrap();
    let (status, acn) = terminal_status(&cse, &fwr).await;
    assert_eq!(status, 2, "failure");
    assert!(acn.contains("checksum mismatch"), "{acn}");
    let fwr_now = attrs(&cse.admin, &fwr).await.unwrap();
    assert_eq!(fwr_now["vr"], "1.0.0", "still the old version");
    let log = attrs(&cse.admin, &format!("{}/eventLog", node(&agent.name)))
        .await
        .unwrap();
    assert!(log["lgd"]
        .as_str()
        .unwrap()
        .contains("firmware update failed"));
    let dir = agent.stop().await;
    assert_eq!(
        std::fs::read(dir.path().join("firmware/current")).unwrap(),
        before,
        "the installed image is untouched"
    );
}

#[tokio::test]
async fn reboot_restarts_the_agent_which_registers_again() {
    let cse = start_cse(10_000).await;
    let dir = tempfile::tempdir().unwrap();
    let agent = spawn_agent(options(&cse.url, "meter-0004", &dir), dir);
    registered(&cse, &agent).await;
    let ae_path = format!("cse-in/{}", agent.name);
    let first_poa = attrs(&cse.admin, &ae_path).await.unwrap()["poa"].clone();
    let answer = cse
        .admin
        .update(
            &format!("{}/reboot", node(&agent.name)),
            &json!({"m2m:rbo": {"rbo": true}}),
        )
        .await
        .unwrap();
    assert_eq!(answer.rsc, 2004);
    let log_path = format!("{}/eventLog", node(&agent.name));
    let log = eventually(WAIT, "the second boot in the event log", || async {
        let lgd = attrs(&cse.admin, &log_path).await?["lgd"]
            .as_str()?
            .to_owned();
        lgd.contains("boot 2").then_some(lgd)
    })
    .await;
    assert!(log.contains("reboot requested"), "{log}");
    let poa = attrs(&cse.admin, &ae_path).await.unwrap()["poa"].clone();
    assert_ne!(poa, first_poa, "a new listener after the restart");
    agent.stop().await;
}

#[tokio::test]
async fn an_unreachable_device_fails_the_action_at_once() {
    let cse = start_cse(10_000).await;
    let dir = tempfile::tempdir().unwrap();
    let agent = spawn_agent(options(&cse.url, "meter-0005", &dir), dir);
    registered(&cse, &agent).await;
    agent.stop().await;
    let fwr = "cse-in/nod-meter-0005/firmware";
    let url = format!("http://127.0.0.1:9/x.bin#sha256={}", "0".repeat(64));
    cse.admin
        .update(fwr, &json!({"m2m:fwr": {"url": url, "ud": true}}))
        .await
        .unwrap()
        .expect("update")
        .unwrap();
    let (status, acn) = terminal_status(&cse, fwr).await;
    assert_eq!(status, 2);
    assert!(acn.contains("not reached"), "{acn}");
}
