//! Response primitive → CoAP response (TS-0008 §6.2.3, §6.2.4): the code
//! from the one RSC table, the oneM2M parameters as options, the content as
//! payload. Message type, ID and token are the server's business.

use coap_lite::{CoapOption, MessageClass, Packet, ResponseType};
use urbis_model::{time, CseError, CseResult, Operation, Response, Rsc, Serialization};

use crate::options::{self, coap, onem2m};

/// The response without its payload, and the full encoded payload (the
/// server decides whether it goes in one message or block-wise).
pub struct Encoded {
    pub head: Packet,
    pub body: Vec<u8>,
}

/// Encode a response. `op` is the operation answered, when known: a
/// successful NOTIFY is 2.04 with an empty payload (TS-0008 Table 6.2.4-1).
pub fn encode(
    response: &Response,
    op: Option<Operation>,
    serialization: Serialization,
    content_format: u32,
) -> CseResult<Encoded> {
    let notify_ok = op == Some(Operation::Notify) && response.rsc == Rsc::Ok;
    let mut head = Packet::new();
    head.header.code = if notify_ok {
        MessageClass::Response(ResponseType::Changed)
    } else {
        MessageClass::from(response.rsc.coap_code())
    };
    options::put_uint(&mut head, onem2m::RSC, u32::from(response.rsc.code()));
    if !response.rqi.is_empty() {
        options::put_string(&mut head, onem2m::RQI, &response.rqi);
    }
    if let Some(rvi) = &response.rvi {
        options::put_string(&mut head, onem2m::RVI, rvi);
    }
    let ot = response.ot.clone().unwrap_or_else(time::now_string);
    options::put_string(&mut head, onem2m::OT, &ot);
    if let Some(vsi) = &response.vsi {
        options::put_string(&mut head, onem2m::VSI, vsi);
    }
    if let Some(rset) = &response.rset {
        options::put_string(&mut head, onem2m::RSET, rset);
    }
    if response.rsc == Rsc::Created {
        if let Some(uri) = &response.created_uri {
            for segment in location_path(uri) {
                head.add_option(CoapOption::LocationPath, segment.into_bytes());
            }
        }
    }
    // TS-0008 §6.4: Max-Age 0 keeps CoAP caches from answering in the CSE's place
    options::put_uint(&mut head, coap::MAX_AGE, 0);
    let body = match &response.pc {
        Some(pc) if !pc.is_null() && !notify_ok => urbis_codec::encode(pc, serialization)?,
        _ => Vec::new(),
    };
    if !body.is_empty() {
        options::put_uint(&mut head, coap::CONTENT_FORMAT, content_format);
    }
    Ok(Encoded { head, body })
}

/// An error found before (or after) the CSE: its RSC, the request's rqi/rvi
/// when readable, and optionally a CoAP code the RSC table does not have
/// (4.02, 4.08, 4.13, 5.05). Falls back to JSON when `serialization` cannot
/// be written.
pub fn error(
    err: &CseError,
    request: &Packet,
    code: Option<ResponseType>,
    serialization: Serialization,
) -> Encoded {
    let mut response = Response::error(err);
    response.rqi = options::string(request, onem2m::RQI, "")
        .ok()
        .flatten()
        .unwrap_or_default();
    response.rvi = options::string(request, onem2m::RVI, "").ok().flatten();
    let mut encoded = encode(
        &response,
        None,
        serialization,
        options::content_format(serialization),
    )
    .or_else(|_| encode(&response, None, Serialization::Json, 50))
    .unwrap_or_else(|_| Encoded {
        head: Packet::new(),
        body: Vec::new(),
    });
    encoded.head.header.code = match code {
        Some(code) => MessageClass::Response(code),
        None => MessageClass::from(err.rsc.coap_code()),
    };
    encoded
}

/// Location-Path segments of a created resource's address, with the `~` and
/// `_` markers of SP-relative and absolute addresses (TS-0008 §6.2.2.3).
fn location_path(uri: &str) -> Vec<String> {
    let (marker, rest) = if let Some(rest) = uri.strip_prefix("//") {
        (Some("_"), rest)
    } else if let Some(rest) = uri.strip_prefix('/') {
        (Some("~"), rest)
    } else {
        (None, uri)
    };
    marker
        .into_iter()
        .chain(rest.split('/'))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use coap_lite::option_value::OptionValueU32;
    use serde_json::json;

    #[test]
    fn codes_options_and_payload() {
        let mut response = Response::new(Rsc::Created, Some(json!({"m2m:cnt": {"rn": "c"}})));
        response.rqi = "r1".into();
        response.rvi = Some("4".into());
        response.created_uri = Some("cse-in/ae/c".into());
        let encoded = encode(&response, Some(Operation::Create), Serialization::Json, 50).unwrap();
        assert_eq!(
            encoded.head.header.code,
            MessageClass::Response(ResponseType::Created)
        );
        let rsc = encoded
            .head
            .get_first_option_as::<OptionValueU32>(CoapOption::Unknown(onem2m::RSC))
            .unwrap()
            .unwrap();
        assert_eq!(rsc.0, 2001);
        assert_eq!(options::all(&encoded.head, coap::LOCATION_PATH).len(), 3);
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&encoded.body).unwrap(),
            json!({"m2m:cnt": {"rn": "c"}})
        );
    }

    #[test]
    fn notify_ok_is_changed_without_payload() {
        let response = Response::new(Rsc::Ok, Some(json!({"x": 1})));
        let encoded = encode(&response, Some(Operation::Notify), Serialization::Json, 50).unwrap();
        assert_eq!(
            encoded.head.header.code,
            MessageClass::Response(ResponseType::Changed)
        );
        assert!(encoded.body.is_empty());
    }

    #[test]
    fn location_paths() {
        assert_eq!(location_path("cse-in/ae"), vec!["cse-in", "ae"]);
        assert_eq!(location_path("/id-in/cnt1"), vec!["~", "id-in", "cnt1"]);
        assert_eq!(location_path("//sp/id-in/x"), vec!["_", "sp", "id-in", "x"]);
    }
}
