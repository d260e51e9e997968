//! The CoAP binding against a real, independent client: libcoap's
//! `coap-client` (Debian package libcoap3-bin, which .ci/run installs).
//!
//! libcoap follows RFC 7252 strictly and rejects a response that carries
//! critical options it does not know, which oneM2M's all are. With `-v 7` it
//! prints every message it receives before rejecting it, so the test reads
//! the response there: code, options (`307:` is oneM2M-RSC) and payload.

mod common;

use std::process::Command;

use common::*;
use serde_json::json;

/// The installed libcoap client without DTLS, if any.
fn libcoap_client() -> Option<&'static str> {
    ["coap-client-notls", "coap-client"]
        .into_iter()
        .find(|name| Command::new(name).arg("-h").output().is_ok())
}

fn banner() {
    eprintln!(
        "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
         !! coap-client-notls not installed; real-client CoAP test NOT RUN     !!\n\
         !! Install it with: apt-get install -y libcoap3-bin (.ci/run does).   !!\n\
         !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
    );
}

/// Run the client; returns the received messages libcoap printed (lines
/// starting with `v:1` that are not the request it sent).
async fn run(client: &'static str, args: Vec<String>) -> Vec<String> {
    tokio::task::spawn_blocking(move || {
        let output = Command::new(client)
            // -B: stop waiting 2 s after the request (libcoap keeps waiting
            // after it has rejected the response)
            .args(["-v", "7", "-B", "2"])
            .args(&args)
            .output()
            .expect("coap-client runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        text.lines()
            .filter(|l| l.starts_with("v:1 t:ACK") || l.starts_with("v:1 t:CON c:2"))
            .map(str::to_owned)
            .collect()
    })
    .await
    .expect("client thread")
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libcoap_client_retrieves_and_creates() {
    let Some(client) = libcoap_client() else {
        banner();
        return;
    };
    let cse = start().await;
    let uri = |path: &str| format!("coap://{}/{path}", cse.addr);

    let got = run(
        client,
        strings(&[
            "-m",
            "get",
            "-O",
            "279,CAdmin",
            "-O",
            "283,rqi1",
            "-O",
            "271,4",
            &uri("cse-in"),
        ]),
    )
    .await;
    let answer = got.first().expect("a response printed by libcoap");
    assert!(answer.contains("c:2.05"), "{answer}");
    assert!(
        answer.contains(r"307:\x07\xD0"),
        "oneM2M-RSC 2000: {answer}"
    );
    assert!(
        answer.contains(r"283:\x72\x71\x69\x31"),
        "oneM2M-RQI rqi1: {answer}"
    );
    assert!(answer.contains(r#""m2m:cb""#), "{answer}");

    let ae = json!({"m2m:ae": {"rn": "lib", "api": "Nlib", "rr": false, "srv": ["4"]}});
    let created = run(
        client,
        strings(&[
            "-m",
            "post",
            "-t",
            "50",
            "-O",
            "267,0x02",
            "-O",
            "279,Clib",
            "-O",
            "283,rqi2",
            "-O",
            "271,4",
            "-e",
            &ae.to_string(),
            &uri("cse-in"),
        ]),
    )
    .await;
    let answer = created.first().expect("a response printed by libcoap");
    assert!(answer.contains("c:2.01"), "{answer}");
    assert!(
        answer.contains(r"307:\x07\xD1"),
        "oneM2M-RSC 2001: {answer}"
    );
    assert!(
        answer.contains("Location-Path:cse-in, Location-Path:lib"),
        "{answer}"
    );

    // block-wise upload (Block1, 256-byte blocks) of a large contentInstance
    let mut own = Client::new(cse.addr).await;
    own.exchange(create(
        "cse-in/lib",
        "Clib",
        3,
        &json!({"m2m:cnt": {"rn": "c"}}),
    ))
    .await;
    let file = std::env::temp_dir().join(format!("urbis-coap-cin-{}.json", std::process::id()));
    let con = "w".repeat(2000);
    std::fs::write(
        &file,
        json!({"m2m:cin": {"rn": "big", "con": con}}).to_string(),
    )
    .unwrap();
    let uploaded = run(
        client,
        strings(&[
            "-m",
            "post",
            "-t",
            "50",
            "-b",
            "256",
            "-f",
            file.to_str().unwrap(),
            "-O",
            "267,0x04",
            "-O",
            "279,Clib",
            "-O",
            "283,rqi3",
            "-O",
            "271,4",
            &uri("cse-in/lib/c?rcn=0"),
        ]),
    )
    .await;
    let _ = std::fs::remove_file(&file);
    let last = uploaded.last().expect("responses printed by libcoap");
    assert!(last.contains("c:2.01"), "{uploaded:?}");
    assert!(
        uploaded.iter().any(|l| l.contains("c:2.31")),
        "{uploaded:?}"
    );
    let stored = own
        .exchange_all(request(
            coap_lite::RequestType::Get,
            "cse-in/lib/c/big",
            Some("Clib"),
        ))
        .await;
    assert_eq!(stored.at("/m2m:cin/con").as_str().map(str::len), Some(2000));
}
