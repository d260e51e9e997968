//! The binary's security as an operator meets it: public addresses need
//! authentication (or an explicit, loud override), the production
//! configuration turns TLS and authentication on, and a device enrols over
//! HTTPS with a secret from `urbis credentials enrol`, until it is revoked.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use urbis_security::test_pki::TestPki;

fn urbis(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_urbis"));
    command.args(args).env("URBIS_LOG_LEVEL", "warn");
    command
}

fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = urbis(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run urbis");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    child.wait_with_output().expect("urbis output")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Start `urbis serve`; its base URL from the listening line.
fn serve(args: &[&str]) -> (Child, String) {
    let mut child = urbis(&[&["serve"][..], args].concat())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start urbis");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("listening line");
    let base = line
        .trim()
        .strip_prefix("urbis listening on ")
        .unwrap_or_else(|| panic!("no listening line: {line:?}"))
        .to_owned();
    (child, base)
}

#[test]
fn a_public_address_without_authentication_is_refused() {
    let output = run(&["serve", "--in-memory", "--http-addr", "0.0.0.0:0"], None);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("refusing to listen on 0.0.0.0:0"),
        "{stderr}"
    );
}

#[test]
fn insecure_public_starts_and_says_so_loudly() {
    let (mut child, base) = serve(&[
        "--in-memory",
        "--http-addr",
        "0.0.0.0:0",
        "--insecure-public",
    ]);
    assert!(base.starts_with("http://0.0.0.0:"), "{base}");
    child.kill().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    child.wait().unwrap();
    assert!(stderr.contains("INSECURE"), "{stderr}");
    assert!(stderr.contains("WITHOUT AUTHENTICATION"), "{stderr}");
}

#[test]
fn the_production_configuration_turns_tls_and_authentication_on() {
    let output = run(&["config", "default", "--production"], None);
    assert!(output.status.success());
    let production = text(&output.stdout);
    assert!(production.contains("authentication = true"), "{production}");
    assert!(production.contains("tls_cert_file = \"/etc/urbis/tls/cert.pem\""));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("production.toml");
    std::fs::write(&file, &production).unwrap();
    let shown = run(
        &["config", "show", "--config", file.to_str().unwrap()],
        None,
    );
    assert!(shown.status.success(), "{}", text(&shown.stderr));
    assert!(text(&shown.stdout).contains("authentication = true"));
    // its certificate does not exist here: serve fails on it, not silently open
    let served = run(&["serve", "--config", file.to_str().unwrap()], None);
    assert!(!served.status.success());
    assert!(
        text(&served.stderr).contains("/etc/urbis/tls/cert.pem"),
        "{}",
        text(&served.stderr)
    );
}

fn secured_config(pki: &TestPki, dir: &Path) -> String {
    let file = dir.join("urbis.toml");
    let config = format!(
        "[http]\ntls_cert_file = {:?}\ntls_key_file = {:?}\n[security]\nauthentication = true\n",
        pki.server.cert_file, pki.server.key_file
    );
    std::fs::write(&file, config).unwrap();
    file.display().to_string()
}

async fn send(
    client: &reqwest::Client,
    base: &str,
    fr: &str,
    authorization: &str,
    ae: Option<Value>,
) -> u16 {
    let mut request = match &ae {
        Some(_) => client.post(format!("{base}/cse-in")),
        None => client.get(format!("{base}/cse-in")),
    }
    .header("X-M2M-Origin", fr)
    .header("X-M2M-RI", "r")
    .header("X-M2M-RVI", "4")
    .header("Authorization", authorization);
    if let Some(ae) = ae {
        request = request
            .header("Content-Type", "application/json;ty=2")
            .body(ae.to_string());
    }
    let response = request.send().await.expect("request");
    response.headers()["x-m2m-rsc"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_device_enrols_over_https_and_revocation_cuts_it_off() {
    let pki = TestPki::new(false);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let config = secured_config(&pki, dir.path());
    let added = run(
        &[
            "credentials",
            "--data-dir",
            data,
            "add",
            "--originator",
            "CAdmin",
            "--password-stdin",
        ],
        Some("admin-secret\n"),
    );
    assert!(added.status.success(), "{}", text(&added.stderr));
    let enrol = run(
        &[
            "credentials",
            "--data-dir",
            data,
            "enrol",
            "--device",
            "SN-5",
        ],
        None,
    );
    assert!(enrol.status.success(), "{}", text(&enrol.stderr));
    let secret = text(&enrol.stdout).trim().to_owned();
    assert_eq!(secret.len(), 64, "{secret}");

    let (mut server, base) = serve(&[
        "--config",
        &config,
        "--data-dir",
        data,
        "--http-addr",
        "127.0.0.1:0",
    ]);
    assert!(base.starts_with("https://"), "{base}");
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(pki.client_config(None))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let admin = urbis_security::authorization::basic("CAdmin", "admin-secret");
    assert_eq!(send(&client, &base, "CAdmin", &admin, None).await, 2000);

    let enrolled: Value = client
        .post(format!("{base}/.well-known/urbis-enrolment"))
        .body(json!({"device": "SN-5", "secret": secret}).to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(enrolled["originator"], "CSN-5", "{enrolled}");
    let device = format!("Bearer {}", enrolled["token"].as_str().unwrap());
    let ae = json!({"m2m:ae": {"rn": "sn5", "api": "Nmeter", "rr": false, "srv": ["4"]}});
    assert_eq!(send(&client, &base, "CSN-5", &device, Some(ae)).await, 2001);
    assert_eq!(send(&client, &base, "CSN-5", &device, None).await, 2000);

    let listed = run(&["credentials", "--data-dir", data, "enrolments"], None);
    assert!(
        text(&listed.stdout).contains("SN-5\tCSN-5\tenrolled"),
        "{}",
        text(&listed.stdout)
    );
    let revoked = run(
        &[
            "credentials",
            "--data-dir",
            data,
            "revoke",
            "--originator",
            "CSN-5",
        ],
        None,
    );
    assert!(revoked.status.success(), "{}", text(&revoked.stderr));
    assert_eq!(send(&client, &base, "CSN-5", &device, None).await, 4107);
    assert_eq!(send(&client, &base, "CAdmin", &admin, None).await, 2000);
    server.kill().unwrap();
    server.wait().unwrap();
}
