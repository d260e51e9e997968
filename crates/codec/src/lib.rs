//! Content serializations (TS-0004 §8). Every binding decodes its payload into
//! a `serde_json::Value` with short names and encodes answers back; the core
//! never sees bytes. JSON and CBOR use the same map with the same short-name
//! keys (as the reference implementations do). XML gives the same value too:
//! its text has no types, so [`xml::schema`] says which short names are
//! numbers, booleans and lists (see `docs/serializations.md`).
//!
//! # Layout
//! - [`decode`] / [`encode`]: bytes ⇄ value for each [`Serialization`].
//! - [`xml`]: the XML serialization and its schema table.
//! - [`primitive`]: whole request and response primitives as values.
//! - [`uri`]: URI path and query ⇄ primitive parameters (HTTP, CoAP).

pub mod primitive;
pub mod uri;
pub mod xml;

use serde_json::Value;
use urbis_model::{CseError, CseResult, Serialization};

/// Decode a payload. Malformed input is BAD_REQUEST.
pub fn decode(bytes: &[u8], serialization: Serialization) -> CseResult<Value> {
    match serialization {
        Serialization::Json => serde_json::from_slice(bytes)
            .map_err(|e| CseError::bad_request(format!("malformed JSON content: {e}"))),
        Serialization::Cbor => ciborium::from_reader(bytes)
            .map_err(|e| CseError::bad_request(format!("malformed CBOR content: {e}"))),
        Serialization::Xml => xml::decode(bytes),
    }
}

/// Encode a value. Encoding a `Value` cannot fail for JSON or CBOR; XML
/// refuses (NOT_ACCEPTABLE) what it cannot carry, such as a key that is not
/// an XML name or a control character.
pub fn encode(value: &Value, serialization: Serialization) -> CseResult<Vec<u8>> {
    match serialization {
        Serialization::Json => {
            serde_json::to_vec(value).map_err(|e| CseError::internal(e.to_string()))
        }
        Serialization::Cbor => {
            let mut out = Vec::new();
            ciborium::into_writer(value, &mut out)
                .map_err(|e| CseError::internal(e.to_string()))?;
            Ok(out)
        }
        Serialization::Xml => xml::encode(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use urbis_model::Rsc;

    #[test]
    fn every_serialization_round_trips_the_same_value() {
        let value = json!({"m2m:cin": {"con": "x", "cs": 1, "lbl": ["a"], "rr": true, "f": 1.5, "n": null}});
        for ser in [Serialization::Json, Serialization::Cbor, Serialization::Xml] {
            let bytes = encode(&value, ser).unwrap();
            assert_eq!(decode(&bytes, ser).unwrap(), value, "{ser:?}");
        }
    }

    #[test]
    fn malformed_input_is_bad_request() {
        assert_eq!(
            decode(b"{", Serialization::Json).unwrap_err().rsc,
            Rsc::BadRequest
        );
        assert_eq!(
            decode(&[0xff, 0x00], Serialization::Cbor).unwrap_err().rsc,
            Rsc::BadRequest
        );
        assert_eq!(
            decode(b"<a>", Serialization::Xml).unwrap_err().rsc,
            Rsc::BadRequest
        );
    }
}
