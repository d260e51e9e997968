//! CBOR content decoder: never panics; what it accepts encodes and decodes
//! back to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use urbis_codec::{decode, encode};
use urbis_model::primitive::Serialization;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = decode(data, Serialization::Cbor) {
        let bytes = encode(&value, Serialization::Cbor).expect("a decoded value encodes");
        let again = decode(&bytes, Serialization::Cbor).expect("what we encode decodes");
        assert_eq!(value, again);
    }
});
