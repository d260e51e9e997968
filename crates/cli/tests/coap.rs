//! The binary with `--coap-addr`: CoAP is served, its address joins the
//! CSEBase's pointOfAccess, and SIGTERM still shuts down cleanly.

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::Duration;

use coap_lite::{CoapOption, MessageClass, MessageType, Packet, RequestType};
use serde_json::Value;

#[test]
fn coap_addr_flag_serves_coap() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_urbis"))
        .args(["serve", "--in-memory", "--http-addr", "127.0.0.1:0"])
        .args(["--coap-addr", "127.0.0.1:0"])
        .env("URBIS_LOG_LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start urbis");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the listening line");
    assert!(line.starts_with("urbis listening on "), "{line}");

    // the CoAP address is only known from the pointOfAccess; ask over CoAP on
    // every coap:// entry there, which must include a working one
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let base = line
        .trim()
        .trim_start_matches("urbis listening on ")
        .to_owned();
    let cse = http_get_cse(&base);
    let coap: Vec<&str> = cse["m2m:cb"]["poa"]
        .as_array()
        .expect("poa")
        .iter()
        .filter_map(Value::as_str)
        .filter_map(|p| p.strip_prefix("coap://"))
        .collect();
    assert_eq!(coap.len(), 1, "{cse}");
    let mut get = Packet::new();
    get.header.set_type(MessageType::Confirmable);
    get.header.code = MessageClass::Request(RequestType::Get);
    get.header.message_id = 1;
    get.set_token(vec![1]);
    get.add_option(CoapOption::UriPath, b"cse-in".to_vec());
    for (number, value) in [(279u16, "CAdmin"), (283, "r1"), (271, "4")] {
        get.add_option(CoapOption::Unknown(number), value.as_bytes().to_vec());
    }
    socket
        .send_to(&get.to_bytes().unwrap(), coap[0])
        .expect("send");
    let mut buffer = [0u8; 2048];
    let (len, _) = socket.recv_from(&mut buffer).expect("a CoAP answer");
    let answer = Packet::from_bytes(&buffer[..len]).unwrap();
    assert_eq!(u8::from(answer.header.code), 69, "2.05 Content");
    let body: Value = serde_json::from_slice(&answer.payload).unwrap();
    assert_eq!(body["m2m:cb"]["rn"], "cse-in");

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "urbis exited with {exit:?} on SIGTERM");
}

fn http_get_cse(base: &str) -> Value {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        reqwest::Client::new()
            .get(format!("{base}/cse-in"))
            .header("X-M2M-Origin", "CAdmin")
            .header("X-M2M-RI", "t")
            .header("X-M2M-RVI", "4")
            .send()
            .await
            .expect("HTTP GET")
            .json()
            .await
            .expect("JSON")
    })
}
