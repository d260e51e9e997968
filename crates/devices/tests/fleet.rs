//! The fleet client against real agents: the fleet view, selection by
//! model / firmware / battery, lookups by every identifier, firmware update
//! and reboot through the fleet client, and alerts.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::Value;
use tokio::sync::Mutex;
use urbis_devices::agent::firmware::sha256_hex;
use urbis_devices::fleet::{self, FirmwareOrder, Fleet, Selection};

const WAIT: Duration = Duration::from_secs(15);

async fn start_agent(
    cse: &TestCse,
    node_id: &str,
    model: &str,
    battery: u64,
    interval: Duration,
) -> RunningAgent {
    let dir = tempfile::tempdir().unwrap();
    let mut options = options(&cse.url, node_id, &dir);
    options.model = model.into();
    options.serial = format!("SN-{node_id}");
    options.battery_level = battery;
    options.report_interval = interval;
    let agent = spawn_agent(options, dir);
    let log = format!("cse-in/nod-{}/eventLog", agent.name);
    eventually(WAIT, "registration", || async {
        attrs(&cse.admin, &log).await
    })
    .await;
    agent
}

#[tokio::test]
async fn fleet_view_selection_and_lookups() {
    let cse = start_cse(10_000).await;
    let fleet = Fleet::new(cse.admin.clone(), "cse-in");
    let second = Duration::from_secs(1);
    let a = start_agent(&cse, "urn:dev:a", "M-100", 80, second).await;
    let b = start_agent(&cse, "urn:dev:b", "M-200", 12, second).await;
    let c = start_agent(&cse, "urn:dev:c", "M-100", 55, second).await;

    let all = fleet.list(&Selection::default()).await.unwrap();
    let ids: Vec<&str> = all.iter().map(|v| v.node_id.as_str()).collect();
    assert_eq!(ids, ["urn:dev:a", "urn:dev:b", "urn:dev:c"]);
    let view = &all[0];
    assert_eq!(view.model.as_deref(), Some("M-100"));
    assert_eq!(view.serial.as_deref(), Some("SN-urn:dev:a"));
    assert_eq!(view.firmware.as_deref(), Some("1.0.0"));
    assert_eq!(view.battery_level, Some(80));
    assert!(view.memory_total.unwrap() > 0);
    assert_eq!(view.connectivity, "online");
    assert_eq!(view.expected_interval_secs, 1);
    assert_eq!(view.hosted_aes, ["Curn-dev-a"]);

    let select = |s: Selection| {
        let fleet = &fleet;
        async move {
            fleet
                .list(&s)
                .await
                .unwrap()
                .into_iter()
                .map(|v| v.node_id)
                .collect::<Vec<_>>()
        }
    };
    let m100 = select(Selection {
        model: Some("M-100".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(m100, ["urn:dev:a", "urn:dev:c"]);
    let low = select(Selection {
        battery_below: Some(20),
        ..Default::default()
    })
    .await;
    assert_eq!(low, ["urn:dev:b"]);
    let none = select(Selection {
        model: Some("M-100".into()),
        firmware: Some("9.9".into()),
        ..Default::default()
    })
    .await;
    assert!(none.is_empty());

    // every identifier leads to the same node
    let node = view.node.clone();
    let node_ri = node.clone();
    for key in [
        "urn:dev:a".to_owned(),
        "SN-urn:dev:a".to_owned(),
        "Curn-dev-a".to_owned(),
        node_ri.clone(),
        "cse-in/nod-urn-dev-a".to_owned(),
        format!("~/id-in/{node_ri}"),
        format!("_/urbis.example.com/id-in/{node_ri}"),
    ] {
        assert_eq!(fleet.find(&key).await.unwrap(), node, "lookup by {key}");
    }
    assert!(fleet.find("urn:dev:nobody").await.is_err());

    // and from the node back to the device's AE and deviceInfo
    let nod = attrs(&cse.admin, &node).await.unwrap();
    let ae = attrs(&cse.admin, nod["hael"][0].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(ae["nl"], Value::String(node));

    for agent in [a, b, c] {
        agent.stop().await;
    }
}

#[tokio::test]
async fn fleet_updates_firmware_and_reboots() {
    let image = b"urbis firmware 4.0".to_vec();
    let images = image_server(vec![("fw4.bin", image.clone())]).await;
    let cse = start_cse(10_000).await;
    let fleet = Fleet::new(cse.admin.clone(), "cse-in");
    let interval = Duration::from_secs(600);
    let a = start_agent(&cse, "urn:dev:f1", "M", 90, interval).await;
    let b = start_agent(&cse, "urn:dev:f2", "M", 90, interval).await;
    let order = FirmwareOrder {
        image_url: format!("{images}/fw4.bin"),
        sha256: sha256_hex(&image),
        version: "4.0".into(),
    };
    let one = fleet
        .update_firmware("urn:dev:f1", &order, WAIT)
        .await
        .unwrap();
    assert_eq!(one.succeeded, Some(true), "{one:?}");
    let both = fleet
        .update_firmware_of_group(
            &["SN-urn:dev:f1".into(), "Curn-dev-f2".into()],
            &order,
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(both.len(), 2);
    assert!(both.iter().all(|o| o.succeeded == Some(true)), "{both:?}");
    let firmware = fleet
        .list(&Selection {
            firmware: Some("4.0".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(firmware.len(), 2);

    let boot = fleet.reboot("urn:dev:f2", false, WAIT).await.unwrap();
    assert!(boot.contains("boot 2"), "{boot}");
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn watch_alerts_on_silent_devices_and_low_batteries() {
    let alerts: Arc<Mutex<Vec<Value>>> = Arc::default();
    let received = alerts.clone();
    let router = axum::Router::new().fallback(move |body: String| {
        let received = received.clone();
        async move {
            if let Ok(v) = serde_json::from_str::<Value>(&body) {
                received.lock().await.push(v);
            }
            [("X-M2M-RSC", "2000")]
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = format!("http://{}/alerts", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let cse = start_cse(10_000).await;
    let fleet = Fleet::new(cse.admin.clone(), "cse-in");
    let second = Duration::from_secs(1);
    let healthy = start_agent(&cse, "urn:dev:ok", "M", 90, second).await;
    let weak = start_agent(&cse, "urn:dev:weak", "M", 9, second).await;
    let gone = start_agent(&cse, "urn:dev:gone", "M", 90, second).await;
    gone.stop().await;
    // silent: more than twice its interval without a report
    tokio::time::sleep(Duration::from_millis(3200)).await;
    fleet::watch(&fleet, &target, 20, Duration::from_millis(100), 2)
        .await
        .unwrap();
    let alerts = alerts.lock().await.clone();
    let mut seen: Vec<(String, String)> = alerts
        .iter()
        .map(|a| {
            let alert = a.pointer("/m2m:sgn/nev/rep/urbis:alert").unwrap();
            (
                alert["ni"].as_str().unwrap().to_owned(),
                alert["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("urn:dev:gone".to_owned(), "silent".to_owned()),
            ("urn:dev:weak".to_owned(), "batteryLow".to_owned()),
        ],
        "each alert once, none for the healthy device"
    );
    healthy.stop().await;
    weak.stop().await;
}

#[tokio::test]
async fn simulated_devices_register_and_report_every_interval() {
    let cse = start_cse(10_000).await;
    let report = urbis_devices::simulate::run(urbis_devices::simulate::SimulationOptions {
        url: cse.url.clone(),
        cse_name: "cse-in".into(),
        provisioner: ADMIN.into(),
        count: 30,
        interval: Duration::from_millis(500),
        duration: Duration::from_millis(1600),
        concurrency: 16,
        prefix: "urn:sim:t-".into(),
        cse_pid: Some(std::process::id()),
    })
    .await
    .unwrap();
    assert_eq!(report.reports_failed, 0);
    // three or four reports each in 1.6 s at 0.5 s
    assert!(
        (90..=120).contains(&report.reports_sent),
        "{}",
        report.reports_sent
    );
    assert!(report.cse_rss_mib.unwrap() > 1.0);
    let fleet = Fleet::new(cse.admin.clone(), "cse-in");
    let views = fleet.list(&Selection::default()).await.unwrap();
    assert_eq!(views.len(), 30);
    assert!(views.iter().all(|v| v.battery_level.unwrap() < 100));
}
