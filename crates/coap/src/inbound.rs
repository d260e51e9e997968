//! CoAP request → request primitive (TS-0008 §6.2). Anything malformed
//! becomes a oneM2M error.

use std::sync::OnceLock;

use coap_lite::{MessageClass, Packet, RequestType};
use urbis_codec::uri;
use urbis_model::primitive::ResponseTypeInfo;
use urbis_model::{CseError, CseResult, Operation, Request, Rsc, Serialization};

use crate::options::{self, coap, onem2m};

/// The operation a request code stands for; `ty` tells CREATE from NOTIFY
/// (TS-0008 §6.2.1). FETCH is a RETRIEVE (later releases use it for that).
pub fn operation(code: MessageClass, ty: Option<u32>) -> CseResult<Operation> {
    Ok(match code {
        MessageClass::Request(RequestType::Get | RequestType::Fetch) => Operation::Retrieve,
        MessageClass::Request(RequestType::Post) if ty.is_some() => Operation::Create,
        MessageClass::Request(RequestType::Post) => Operation::Notify,
        MessageClass::Request(RequestType::Put) => Operation::Update,
        MessageClass::Request(RequestType::Delete) => Operation::Delete,
        other => {
            return Err(CseError::new(
                Rsc::OperationNotAllowed,
                format!("CoAP method {other} is not supported"),
            ))
        }
    })
}

/// Translate a request whose (reassembled) payload is `payload`.
pub fn to_request(packet: &Packet, payload: &[u8]) -> CseResult<Request> {
    let ty = options::uint(packet, onem2m::TY, "oneM2M-TY")?;
    let mut op = operation(packet.header.code, ty)?;
    let mut query = Vec::new();
    for value in options::all(packet, coap::URI_QUERY) {
        let pair = std::str::from_utf8(value)
            .map_err(|_| CseError::bad_request("a Uri-Query option is not valid UTF-8"))?;
        // TS-0008 §6.3.2: non-blocking requests are POSTs that name their
        // operation in the query
        if let Some(code) = pair.strip_prefix("op=") {
            let named = code
                .trim()
                .parse()
                .map_err(|_| CseError::bad_request(format!("invalid value for op: {code}")))
                .and_then(Operation::from_code)?;
            if packet.header.code == MessageClass::Request(RequestType::Post) {
                op = named;
            } else if named != op {
                return Err(CseError::bad_request(format!(
                    "op={code} contradicts the CoAP method"
                )));
            }
            continue;
        }
        // each option is one parameter: an `&` inside belongs to the value
        query.push(pair.replace('&', "%26"));
    }
    let mut request = Request::new(op, uri::target_from_path(&path(packet)?)?);
    request.ty = ty;
    request.fr = options::string(packet, onem2m::FR, "oneM2M-FR")?;
    request.rqi = options::string(packet, onem2m::RQI, "oneM2M-RQI")?.unwrap_or_default();
    request.rvi = options::string(packet, onem2m::RVI, "oneM2M-RVI")?;
    request.rqet = options::string(packet, onem2m::RQET, "oneM2M-RQET")?;
    request.rset = options::string(packet, onem2m::RSET, "oneM2M-RSET")?;
    request.oet = options::string(packet, onem2m::OET, "oneM2M-OET")?;
    request.ot = options::string(packet, onem2m::OT, "oneM2M-OT")?;
    request.vsi = options::string(packet, onem2m::VSI, "oneM2M-VSI")?;
    request.ec = options::uint(packet, onem2m::EC, "oneM2M-EC")?;
    uri::apply_query(&mut request, &query.join("&"))?;
    if let Some(rturi) = options::string(packet, onem2m::RTURI, "oneM2M-RTURI")? {
        let nu = rturi
            .split('&')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        request
            .rt
            .get_or_insert_with(|| ResponseTypeInfo {
                rtv: urbis_model::primitive::rtv::BLOCKING,
                nu: Vec::new(),
            })
            .nu = nu;
    }
    if !payload.is_empty() {
        request.pc = Some(urbis_codec::decode(
            payload,
            payload_serialization(packet)?,
        )?);
    }
    Ok(request)
}

/// Uri-Path segments as an HTTP-style path (`~` and `_` first segments mark
/// SP-relative and absolute targets, TS-0008 §6.2.2.3).
fn path(packet: &Packet) -> CseResult<String> {
    let mut path = String::new();
    for segment in options::all(packet, coap::URI_PATH) {
        let segment = std::str::from_utf8(segment)
            .map_err(|_| CseError::bad_request("a Uri-Path option is not valid UTF-8"))?;
        path.push('/');
        path.push_str(segment);
    }
    if path.is_empty() {
        path.push('/');
    }
    Ok(path)
}

/// The serialization of the payload: its Content-Format, JSON when absent.
fn payload_serialization(packet: &Packet) -> CseResult<Serialization> {
    match options::uint(packet, coap::CONTENT_FORMAT, "Content-Format")? {
        None => Ok(Serialization::Json),
        Some(format) => options::serialization_of(format).ok_or_else(|| {
            CseError::new(
                Rsc::UnsupportedMediaType,
                format!("unsupported Content-Format {format}"),
            )
        }),
    }
}

/// Whether `urbis_codec` can write XML (it is being added; until then an
/// XML Accept is not acceptable rather than a failure after the work is done).
fn xml_supported() -> bool {
    static SUPPORTED: OnceLock<bool> = OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        urbis_codec::encode(&serde_json::json!({"m2m:dbg": "probe"}), Serialization::Xml).is_ok()
    })
}

/// How to answer: the serialization and the Content-Format number to label
/// it with. The Accept option decides (TS-0008 §6.2.2.2: 4.06 when it cannot
/// be met); without it, the request's own Content-Format; else JSON.
pub fn answer_format(packet: &Packet) -> CseResult<(Serialization, u32)> {
    let usable = |ser: Serialization| ser != Serialization::Xml || xml_supported();
    if let Some(accept) = options::uint(packet, coap::ACCEPT, "Accept")? {
        return match options::serialization_of(accept) {
            Some(ser) if usable(ser) => Ok((ser, accept)),
            _ => Err(CseError::new(
                Rsc::NotAcceptable,
                format!("cannot answer in Content-Format {accept}"),
            )),
        };
    }
    let from_request = options::uint(packet, coap::CONTENT_FORMAT, "Content-Format")
        .ok()
        .flatten()
        .and_then(options::serialization_of)
        .filter(|ser| usable(*ser))
        .unwrap_or_default();
    Ok((from_request, options::content_format(from_request)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use coap_lite::CoapOption;

    fn get(path: &[&str]) -> Packet {
        let mut packet = Packet::new();
        packet.header.code = MessageClass::Request(RequestType::Get);
        for segment in path {
            packet.add_option(CoapOption::UriPath, segment.as_bytes().to_vec());
        }
        packet
    }

    #[test]
    fn targets_from_uri_path() {
        let request = to_request(&get(&["cse-in", "ae"]), b"").unwrap();
        assert_eq!(request.to, "cse-in/ae");
        let request = to_request(&get(&["~", "id-in", "cse-in"]), b"").unwrap();
        assert_eq!(request.to, "/id-in/cse-in");
        let request = to_request(&get(&["_", "sp.example", "id-in", "cse-in"]), b"").unwrap();
        assert_eq!(request.to, "//sp.example/id-in/cse-in");
        assert_eq!(to_request(&get(&[]), b"").unwrap_err().rsc, Rsc::NotFound);
    }

    #[test]
    fn options_and_query_become_parameters() {
        let mut packet = get(&["cse-in"]);
        packet.header.code = MessageClass::Request(RequestType::Post);
        options::put_uint(&mut packet, onem2m::TY, 2);
        options::put_string(&mut packet, onem2m::FR, "Cae");
        options::put_string(&mut packet, onem2m::RQI, "r1");
        options::put_string(&mut packet, onem2m::RVI, "4");
        options::put_string(&mut packet, onem2m::RTURI, "http://a&http://b");
        options::put_uint(&mut packet, coap::CONTENT_FORMAT, 50);
        packet.add_option(CoapOption::UriQuery, b"rcn=0".to_vec());
        packet.add_option(CoapOption::UriQuery, b"lbl=a+b".to_vec());
        let request = to_request(&packet, br#"{"m2m:ae":{}}"#).unwrap();
        assert_eq!(request.op, Operation::Create);
        assert_eq!(request.ty, Some(2));
        assert_eq!(request.fr.as_deref(), Some("Cae"));
        assert_eq!(request.rqi, "r1");
        assert_eq!(request.rcn, Some(0));
        assert_eq!(request.fc.lbl, vec!["a", "b"]);
        assert_eq!(request.rt.unwrap().nu, vec!["http://a", "http://b"]);
        assert!(request.pc.is_some());
    }

    #[test]
    fn post_without_ty_is_notify_and_op_overrides() {
        let mut packet = get(&["cse-in"]);
        packet.header.code = MessageClass::Request(RequestType::Post);
        assert_eq!(to_request(&packet, b"").unwrap().op, Operation::Notify);
        packet.add_option(CoapOption::UriQuery, b"op=2".to_vec());
        assert_eq!(to_request(&packet, b"").unwrap().op, Operation::Retrieve);
        let mut get = get(&["cse-in"]);
        get.add_option(CoapOption::UriQuery, b"op=4".to_vec());
        assert_eq!(to_request(&get, b"").unwrap_err().rsc, Rsc::BadRequest);
    }

    #[test]
    fn bad_input() {
        let mut packet = get(&["cse-in"]);
        packet.header.code = MessageClass::Request(RequestType::Patch);
        assert_eq!(
            to_request(&packet, b"").unwrap_err().rsc,
            Rsc::OperationNotAllowed
        );
        let mut packet = get(&["cse-in"]);
        packet.header.code = MessageClass::Request(RequestType::Post);
        options::put_uint(&mut packet, onem2m::TY, 3);
        assert_eq!(
            to_request(&packet, b"{nope").unwrap_err().rsc,
            Rsc::BadRequest
        );
        options::put_uint(&mut packet, coap::CONTENT_FORMAT, 0);
        assert_eq!(
            to_request(&packet, b"x").unwrap_err().rsc,
            Rsc::UnsupportedMediaType
        );
        let mut packet = get(&["cse-in"]);
        packet.add_option(CoapOption::UriPath, vec![0xff]);
        assert_eq!(to_request(&packet, b"").unwrap_err().rsc, Rsc::BadRequest);
        let mut packet = get(&["cse-in"]);
        packet.add_option(CoapOption::UriQuery, b"rcn=x".to_vec());
        assert_eq!(to_request(&packet, b"").unwrap_err().rsc, Rsc::BadRequest);
    }

    #[test]
    fn accept_decides_the_answer_format() {
        let mut packet = get(&["cse-in"]);
        assert_eq!(answer_format(&packet).unwrap(), (Serialization::Json, 50));
        options::put_uint(&mut packet, coap::CONTENT_FORMAT, 60);
        assert_eq!(answer_format(&packet).unwrap(), (Serialization::Cbor, 60));
        options::put_uint(&mut packet, coap::ACCEPT, 10001);
        assert_eq!(
            answer_format(&packet).unwrap(),
            (Serialization::Json, 10001)
        );
        let mut packet = get(&["cse-in"]);
        options::put_uint(&mut packet, coap::ACCEPT, 0);
        assert_eq!(answer_format(&packet).unwrap_err().rsc, Rsc::NotAcceptable);
    }
}
