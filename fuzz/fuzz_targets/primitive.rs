//! Request and response primitives as MQTT and WebSocket carry them: the
//! first byte picks the serialization, the rest is decoded and translated.
//! A request that parses survives a round trip through its value form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use urbis_codec::decode;
use urbis_codec::primitive::{
    request_from_value, request_to_value, response_from_value, response_to_value,
};
use urbis_model::primitive::Serialization;

fuzz_target!(|data: &[u8]| {
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    let serialization = match first % 3 {
        0 => Serialization::Json,
        1 => Serialization::Cbor,
        _ => Serialization::Xml,
    };
    let Ok(value) = decode(rest, serialization) else {
        return;
    };
    if let Ok(request) = request_from_value(&value) {
        let again = request_from_value(&request_to_value(&request))
            .expect("a parsed request parses again from its own value form");
        assert_eq!(request_to_value(&request), request_to_value(&again));
    }
    if let Ok(response) = response_from_value(&value) {
        let _ = response_from_value(&response_to_value(&response));
    }
});
