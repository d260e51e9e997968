//! Hardening of the HTTP door (docs/security-hardening.md): per-originator
//! rate limits (RSC 4141, HTTP 429, and recovery once the bucket refills),
//! connection limits, request head and body timeouts against slow clients,
//! size limits on heads and bodies, and the audit events for them.

mod audit_capture;
mod common;

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use urbis_core::CseConfig;
use urbis_http::HttpOptions;

fn config() -> CseConfig {
    CseConfig {
        sp_id: "test.example.com".into(),
        ..CseConfig::default()
    }
}

/// Read until the server closes the connection (or `patience` runs out);
/// what it sent, and whether it closed.
async fn read_until_closed(stream: &mut TcpStream, patience: Duration) -> (String, bool) {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = Instant::now() + patience;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&received).into(), true),
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
            Err(_) => return (String::from_utf8_lossy(&received).into(), false),
        }
    }
}

fn address_of(cse: &common::TestCse) -> String {
    cse.base.trim_start_matches("http://").to_owned()
}

#[tokio::test]
async fn rate_limit_answers_429_with_4141_and_recovers_after_refill() {
    audit_capture::install();
    let cse = common::start_with(
        CseConfig {
            rate_limit_per_second: 2,
            rate_limit_burst: 3,
            ..config()
        },
        HttpOptions::default(),
    )
    .await;
    let aei = cse.register_ae("hasty", None).await;
    // the registration (from Chasty) took the first of the 3 tokens
    for _ in 0..2 {
        assert_eq!(cse.retrieve("/cse-in", &aei).await.rsc, 2000);
    }
    let refused = cse.retrieve("/cse-in", &aei).await;
    assert_eq!(refused.rsc, 4141, "{}", refused.body);
    assert_eq!(refused.status, 429);
    assert!(
        refused
            .at("/m2m:dbg")
            .as_str()
            .unwrap_or_default()
            .contains("rate limit"),
        "{}",
        refused.body
    );
    let events = audit_capture::events("rate_limited", "key", &aei);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["address"], "127.0.0.1");
    // another originator has its own bucket
    assert_eq!(cse.retrieve("/cse-in", "CAdmin").await.rsc, 2000);
    // 2 per second: one token is back after 500 ms (slow enough for a busy machine)
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(cse.retrieve("/cse-in", &aei).await.rsc, 2000);
    assert_eq!(cse.retrieve("/cse-in", &aei).await.rsc, 4141);
}

#[tokio::test]
async fn connections_beyond_the_limit_are_closed_at_once() {
    audit_capture::install();
    let cse = common::start_with(
        config(),
        HttpOptions {
            max_connections: 2,
            ..HttpOptions::default()
        },
    )
    .await;
    let address = address_of(&cse);
    let first = TcpStream::connect(&address).await.expect("first");
    let second = TcpStream::connect(&address).await.expect("second");
    let mut third = TcpStream::connect(&address).await.expect("third");
    let (_, closed) = read_until_closed(&mut third, Duration::from_secs(2)).await;
    assert!(closed, "the third connection is closed");
    assert!(!audit_capture::events("connection_refused", "reason", "max_connections").is_empty());
    drop((first, second));
    // the slots come back when the connections go
    let mut answer = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut stream = TcpStream::connect(&address).await.expect("again");
        let request = "GET /cse-in HTTP/1.1\r\nHost: x\r\nX-M2M-Origin: CAdmin\r\nX-M2M-RI: 1\r\nX-M2M-RVI: 4\r\nConnection: close\r\n\r\n";
        stream.write_all(request.as_bytes()).await.expect("write");
        let (text, _) = read_until_closed(&mut stream, Duration::from_secs(2)).await;
        if !text.is_empty() {
            answer = Some(text);
            break;
        }
    }
    let answer = answer.expect("served again once connections closed");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_request_head_sent_too_slowly_closes_the_connection() {
    let cse = common::start_with(
        config(),
        HttpOptions {
            header_read_timeout_ms: 300,
            ..HttpOptions::default()
        },
    )
    .await;
    let mut stream = TcpStream::connect(address_of(&cse)).await.expect("connect");
    stream
        .write_all(b"GET /cse-in HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let started = Instant::now();
    let (text, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(closed, "closed; got {text:?}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    assert!(!text.contains(" 200 "), "{text}");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_head_timeout() {
    let cse = common::start_with(
        config(),
        HttpOptions {
            header_read_timeout_ms: 300,
            ..HttpOptions::default()
        },
    )
    .await;
    let mut stream = TcpStream::connect(address_of(&cse)).await.expect("connect");
    let request = "GET /cse-in HTTP/1.1\r\nHost: x\r\nX-M2M-Origin: CAdmin\r\nX-M2M-RI: 1\r\nX-M2M-RVI: 4\r\n\r\n";
    stream.write_all(request.as_bytes()).await.expect("write");
    let (text, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(closed, "an idle keep-alive connection does not stay open");
}

#[tokio::test]
async fn a_body_sent_too_slowly_is_answered_with_4008() {
    let cse = common::start_with(
        config(),
        HttpOptions {
            body_read_timeout_ms: 300,
            ..HttpOptions::default()
        },
    )
    .await;
    let mut stream = TcpStream::connect(address_of(&cse)).await.expect("connect");
    let head = "POST /cse-in HTTP/1.1\r\nHost: x\r\nX-M2M-Origin: CAdmin\r\nX-M2M-RI: slow\r\nX-M2M-RVI: 4\r\nContent-Type: application/json;ty=3\r\nContent-Length: 100\r\n\r\n{\"m2m:cnt\"";
    stream.write_all(head.as_bytes()).await.expect("write");
    let (text, _) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("x-m2m-rsc: 4008"),
        "{text}"
    );
    assert!(
        text.to_ascii_lowercase().contains("x-m2m-ri: slow"),
        "{text}"
    );
}

#[tokio::test]
async fn oversized_bodies_and_heads_get_413_and_431() {
    audit_capture::install();
    let cse = common::start_with(
        config(),
        HttpOptions {
            max_body_bytes: 1000,
            max_header_bytes: 8192,
            ..HttpOptions::default()
        },
    )
    .await;
    let aei = cse.register_ae("bulky", None).await;
    let big = json!({"m2m:cnt": {"rn": "big", "lbl": ["x".repeat(2000)]}});
    // announced by Content-Length
    let answer = cse.create("/cse-in/bulky", &aei, 3, big.clone()).await;
    assert_eq!((answer.status, answer.rsc), (413, 4000), "{}", answer.body);
    // streamed without a length (chunked): cut off at the limit
    let mut stream = TcpStream::connect(address_of(&cse)).await.expect("connect");
    let head = format!(
        "POST /cse-in/bulky HTTP/1.1\r\nHost: x\r\nX-M2M-Origin: {aei}\r\nX-M2M-RI: chunked\r\nX-M2M-RVI: 4\r\nContent-Type: application/json;ty=3\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("write head");
    for chunk in big.to_string().as_bytes().chunks(100) {
        let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
        if stream.write_all(&framed).await.is_err() {
            break; // the server may stop reading once it has refused
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let (text, _) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("x-m2m-rsc: 4000"),
        "{text}"
    );
    let missing = cse.retrieve("/cse-in/bulky/big", &aei).await;
    assert_eq!(missing.rsc, 4004, "nothing was created");
    assert!(!audit_capture::events("request_too_large", "door", "http").is_empty());
    // a head above max_header_bytes
    let mut stream = TcpStream::connect(address_of(&cse)).await.expect("connect");
    let head = format!(
        "GET /cse-in HTTP/1.1\r\nHost: x\r\nX-Padding: {}\r\n\r\n",
        "p".repeat(20_000)
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let (text, _) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(text.starts_with("HTTP/1.1 431"), "{text}");
}
