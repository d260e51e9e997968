//! The binary as a user runs it: data survives a clean restart and `kill -9`,
//! and SIGTERM shuts down cleanly.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

struct Server {
    child: Child,
    base: String,
}

fn start(data_dir: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_urbis"))
        .args(["serve", "--http-addr", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env("URBIS_LOG_LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start urbis");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the listening line");
    let base = line
        .trim()
        .strip_prefix("urbis listening on ")
        .expect("listening line")
        .to_owned();
    Server { child, base }
}

async fn send(
    base: &str,
    method: reqwest::Method,
    path: &str,
    ty: Option<u32>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .header("X-M2M-Origin", "CAdmin")
        .header("X-M2M-RI", "t")
        .header("X-M2M-RVI", "4")
        .header(
            "Content-Type",
            ty.map(|t| format!("application/json;ty={t}"))
                .unwrap_or_else(|| "application/json".into()),
        );
    if let Some(body) = body {
        request = request.body(body.to_string());
    }
    let response = request.send().await.expect("request");
    let rsc = response.headers()["x-m2m-rsc"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body = response.json().await.unwrap_or(Value::Null);
    (rsc, body)
}

#[tokio::test]
async fn data_survives_clean_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path());
    let (rsc, _) = send(
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

    let mut server = start(dir.path());
    let (rsc, body) = send(
        &server.base,
        reqwest::Method::GET,
        "/cse-in/keep",
        None,
        None,
    )
    .await;
    assert_eq!(rsc, 2000);
    assert_eq!(body["m2m:cnt"]["lbl"], json!(["k"]));
    let (rsc, body) = send(
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

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path());
    let (rsc, _) = send(
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
                let (rsc, _) = send(
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

    let mut server = start(dir.path());
    for rn in &acknowledged {
        let (rsc, _) = send(
            &server.base,
            reqwest::Method::GET,
            &format!("/cse-in/meter/{rn}"),
            None,
            None,
        )
        .await;
        assert_eq!(rsc, 2000, "acknowledged {rn} lost after kill -9");
    }
    let (_, container) = send(
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
