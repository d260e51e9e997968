//! The MQTT binding's topic parser (TS-0010 §6.4): never panics, and a topic
//! it accepts gives a response topic that parses back to the same IDs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use urbis_mqtt::topics::{parse_request, response_topic, short_name};

fuzz_target!(|data: &[u8]| {
    let Ok(topic) = std::str::from_utf8(data) else {
        return;
    };
    let Some(request) = parse_request(topic) else {
        return;
    };
    let response = response_topic(&request);
    let expected_tail = format!(
        "/{}/{}/{}",
        request.originator,
        request.receiver,
        short_name(request.serialization)
    );
    assert!(response.starts_with("/oneM2M/"), "{response}");
    assert!(response.ends_with(&expected_tail), "{response}");
});
