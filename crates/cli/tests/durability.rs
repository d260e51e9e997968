//! The binary as a user runs it: data survives a clean restart and `kill -9`,
//! and SIGTERM shuts down cleanly; on the embedded store always, on
//! PostgreSQL when URBIS_TEST_DATABASE_URL names a database (.ci/run sets it).

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;
use std::process::Command;

use urbis_store::postgres::ScratchSchema;

mod common;
use common::{admin_send, start_server};

use serde_json::json;

/// Where a server keeps its data: `--data-dir DIR` or `--database-url URL`.
fn in_dir(dir: &Path) -> Vec<OsString> {
    vec!["--data-dir".into(), dir.into()]
}

fn in_database(schema: &ScratchSchema) -> Vec<OsString> {
    vec!["--database-url".into(), schema.url().into()]
}

/// A fresh schema of the test database, or a banner that cargo does not
/// swallow (it captures `eprintln!`, not the stderr handle).
fn scratch_schema() -> Option<ScratchSchema> {
    match std::env::var("URBIS_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(ScratchSchema::create(&url).expect("scratch schema")),
        _ => {
            let _ = writeln!(
                std::io::stderr(),
                "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
                 !! URBIS_TEST_DATABASE_URL not set: PostgreSQL durability tests did NOT run. !!\n\
                 !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
            );
            None
        }
    }
}

#[tokio::test]
async fn data_survives_clean_restart() {
    let dir = tempfile::tempdir().unwrap();
    clean_restart(&in_dir(dir.path())).await;
}

#[tokio::test]
async fn postgres_data_survives_clean_restart() {
    let Some(schema) = scratch_schema() else {
        return;
    };
    clean_restart(&in_database(&schema)).await;
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    kill_9(&in_dir(dir.path())).await;
}

#[tokio::test]
async fn postgres_acknowledged_writes_survive_kill_9() {
    let Some(schema) = scratch_schema() else {
        return;
    };
    kill_9(&in_database(&schema)).await;
}

async fn clean_restart(store: &[OsString]) {
    let mut server = start_server(store);
    let (rsc, _) = admin_send(
        &server.base,
        reqwest::Method::POST,
        "/cse-in",
        Some(3),
        Some(json!({"m2m:cnt": {"rn": "keep", "lbl": ["k"]}})),
    )
    .await;
    assert_eq!(rsc, 2001);
    // SIGTERM: a clean shutdown, exit status 0
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(server.child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let exit = server.child.wait().unwrap();
    assert!(exit.success(), "urbis exited with {exit:?} on SIGTERM");

    let mut server = start_server(store);
    let (rsc, body) = admin_send(
        &server.base,
        reqwest::Method::GET,
        "/cse-in/keep",
        None,
        None,
    )
    .await;
    assert_eq!(rsc, 2000);
    assert_eq!(body["m2m:cnt"]["lbl"], json!(["k"]));
    let (rsc, body) = admin_send(
        &server.base,
        reqwest::Method::GET,
        "/cse-in?fu=1&lbl=k",
        None,
        None,
    )
    .await;
    assert_eq!(rsc, 2000);
    assert_eq!(body["m2m:uril"], json!(["cse-in/keep"]));
    server.child.kill().unwrap();
    let _ = server.child.wait();
}

async fn kill_9(store: &[OsString]) {
    let mut server = start_server(store);
    let (rsc, _) = admin_send(
        &server.base,
        reqwest::Method::POST,
        "/cse-in",
        Some(3),
        Some(json!({"m2m:cnt": {"rn": "meter"}})),
    )
    .await;
    assert_eq!(rsc, 2001);
    // Concurrent writers, so acknowledgements come from group commits.
    let mut tasks = Vec::new();
    for writer in 0..8 {
        let base = server.base.clone();
        tasks.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for i in 0..25 {
                let rn = format!("r{writer}-{i}");
                let body = json!({"m2m:cin": {"rn": rn, "con": i}});
                let (rsc, _) = admin_send(
                    &base,
                    reqwest::Method::POST,
                    "/cse-in/meter",
                    Some(4),
                    Some(body),
                )
                .await;
                if rsc == 2001 {
                    acknowledged.push(rn);
                }
            }
            acknowledged
        }));
    }
    let mut acknowledged = Vec::new();
    for task in tasks {
        acknowledged.extend(task.await.unwrap());
    }
    assert_eq!(acknowledged.len(), 200);
    server.child.kill().unwrap(); // SIGKILL: no chance to flush anything
    let _ = server.child.wait();

    let mut server = start_server(store);
    for rn in &acknowledged {
        let (rsc, _) = admin_send(
            &server.base,
            reqwest::Method::GET,
            &format!("/cse-in/meter/{rn}"),
            None,
            None,
        )
        .await;
        assert_eq!(rsc, 2000, "acknowledged {rn} lost after kill -9");
    }
    let (_, container) = admin_send(
        &server.base,
        reqwest::Method::GET,
        "/cse-in/meter",
        None,
        None,
    )
    .await;
    assert_eq!(
        container["m2m:cnt"]["cni"],
        json!(200),
        "counters consistent with the stored instances"
    );
    server.child.kill().unwrap();
    let _ = server.child.wait();
}

#[test]
fn config_default_prints_a_valid_file() {
    let output = Command::new(env!("CARGO_BIN_EXE_urbis"))
        .args(["config", "default"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("[cse]") && text.contains("cse_id = \"/id-in\""));
}

#[test]
fn bad_configuration_fails_fast() {
    let output = Command::new(env!("CARGO_BIN_EXE_urbis"))
        .args(["serve", "--in-memory", "--http-addr", "not-an-address"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("http.addr"), "{err}");
}

#[test]
fn unreachable_database_fails_fast() {
    let output = Command::new(env!("CARGO_BIN_EXE_urbis"))
        .args(["serve", "--http-addr", "127.0.0.1:0"])
        .args([
            "--database-url",
            "postgres://urbis:s3cret@127.0.0.1:1/urbis",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("connect"), "{err}");
    assert!(!err.contains("s3cret"), "password in the error: {err}");
}
