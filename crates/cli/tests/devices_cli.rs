//! The binaries end to end: `urbis serve`, `urbis agent`, and the operator's
//! `urbis devices list|show|update-firmware|reboot`.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use urbis_devices::agent::firmware::sha256_hex;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn urbis() -> Command {
    Command::new(env!("CARGO_BIN_EXE_urbis"))
}

fn serve() -> (common::Server, String) {
    let mut command = urbis();
    command
        .args(["serve", "--in-memory", "--http-addr", "127.0.0.1:0"])
        .stderr(Stdio::inherit());
    let server = common::start(command);
    let base = server.base.clone();
    (server, base)
}

/// A minimal HTTP server for one firmware image, on a thread.
fn image_server(image: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/image.bin", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut byte = [0u8; 1];
            while !request.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                request.push(byte[0]);
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                image.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&image);
        }
    });
    url
}

fn devices(base: &str, args: &[&str]) -> Output {
    urbis()
        .arg("devices")
        .arg(args[0])
        .args(["--url", base])
        .args(&args[1..])
        .output()
        .expect("run urbis devices")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn agent_and_fleet_commands_against_urbis_serve() {
    let (_server, base) = serve();
    let state = tempfile::tempdir().expect("tempdir");
    let _agent = Killed(
        urbis()
            .args(["agent", "--url", &base, "--node-id", "urn:dev:cli-1"])
            .args([
                "--serial",
                "SN-CLI-1",
                "--model",
                "LAMP-7",
                "--interval",
                "1",
            ])
            .arg("--state-dir")
            .arg(state.path())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start urbis agent"),
    );

    let start = Instant::now();
    let listed: Vec<Value> = loop {
        let output = devices(&base, &["list", "--json", "--model", "LAMP-7"]);
        if output.status.success() {
            let listed: Vec<Value> = serde_json::from_slice(&output.stdout).expect("JSON list");
            if listed
                .first()
                .is_some_and(|d| d["battery_level"].is_number())
            {
                break listed;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "agent never registered"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(listed[0]["node_id"], "urn:dev:cli-1");
    assert_eq!(listed[0]["firmware"], "1.0.0");
    assert_eq!(listed[0]["connectivity"], "online");

    let image = b"urbis firmware 2.0 for LAMP-7".to_vec();
    let url = image_server(image.clone());
    let good = devices(
        &base,
        &[
            "update-firmware",
            "--image-url",
            &url,
            "--sha256",
            &sha256_hex(&image),
        ]
        .into_iter()
        .chain(["--version", "2.0", "--wait", "30", "SN-CLI-1"])
        .collect::<Vec<_>>(),
    );
    assert!(good.status.success(), "{}", text(&good));
    assert!(text(&good).starts_with("ok"), "{}", text(&good));

    let bad = devices(
        &base,
        &[
            "update-firmware",
            "--image-url",
            &url,
            "--sha256",
            &"0".repeat(64),
        ]
        .into_iter()
        .chain(["--version", "3.0", "--wait", "30", "urn:dev:cli-1"])
        .collect::<Vec<_>>(),
    );
    assert!(!bad.status.success(), "a failed update fails the command");
    assert!(text(&bad).contains("checksum mismatch"), "{}", text(&bad));

    let reboot = devices(&base, &["reboot", "--wait", "30", "Curn-dev-cli-1"]);
    assert!(reboot.status.success(), "{}", text(&reboot));
    assert!(
        text(&reboot).contains("boot 2: firmware 2.0"),
        "{}",
        text(&reboot)
    );

    let show = devices(&base, &["show", "urn:dev:cli-1"]);
    assert!(show.status.success(), "{}", text(&show));
    let shown = text(&show);
    assert!(shown.contains("\"firmware\": \"2.0\""), "{shown}");
    assert!(
        shown.contains("firmware update failed, kept 2.0"),
        "{shown}"
    );
}
