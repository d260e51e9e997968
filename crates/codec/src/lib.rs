//! Content serializations (TS-0004 §8). Every binding decodes its payload into
//! a `serde_json::Value` with short names and encodes answers back; the core
//! never sees bytes. JSON and CBOR use the same map with the same short-name
//! keys (as the reference implementations do). XML is not implemented yet and
//! answers UNSUPPORTED_MEDIA_TYPE.

pub mod primitive;
pub mod uri;

use serde_json::Value;
use urbis_model::{CseError, CseResult, Rsc, Serialization};

/// Decode a payload. Malformed input is BAD_REQUEST; an unsupported
/// serialization is UNSUPPORTED_MEDIA_TYPE.
pub fn decode(bytes: &[u8], serialization: Serialization) -> CseResult<Value> {
    match serialization {
        Serialization::Json => serde_json::from_slice(bytes)
            .map_err(|e| CseError::bad_request(format!("malformed JSON content: {e}"))),
        Serialization::Cbor => ciborium::from_reader(bytes)
            .map_err(|e| CseError::bad_request(format!("malformed CBOR content: {e}"))),
        Serialization::Xml => Err(CseError::new(
            Rsc::UnsupportedMediaType,
            "XML content is not supported yet",
        )),
    }
}

/// Encode a value. Encoding a `Value` cannot fail for JSON or CBOR.
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
        Serialization::Xml => Err(CseError::new(
            Rsc::UnsupportedMediaType,
            "XML content is not supported yet",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_and_cbor_round_trip_the_same_value() {
        let value = json!({"m2m:cin": {"con": "x", "cs": 1, "lbl": ["a"], "rr": true, "f": 1.5, "n": null}});
        for ser in [Serialization::Json, Serialization::Cbor] {
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
            decode(b"<a/>", Serialization::Xml).unwrap_err().rsc,
            Rsc::UnsupportedMediaType
        );
    }
}
