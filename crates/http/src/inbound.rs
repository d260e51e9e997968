//! HTTP request → request primitive (TS-0009 §6.x).

use axum::http::{HeaderMap, Method, Uri};
use serde_json::Value;
use urbis_codec::uri;
use urbis_model::primitive::ResponseTypeInfo;
use urbis_model::{CseError, CseResult, Operation, Request, Rsc, Serialization};

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn number<T: std::str::FromStr>(name: &str, value: &str) -> CseResult<T> {
    value
        .trim()
        .parse()
        .map_err(|_| CseError::bad_request(format!("invalid value for {name}: {value}")))
}

/// Translate the HTTP request; anything malformed becomes a oneM2M error.
pub fn to_request(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> CseResult<Request> {
    let content_type = header(headers, "content-type").unwrap_or_default();
    let ty = resource_type_parameter(content_type)?;
    let op = match *method {
        Method::GET => Operation::Retrieve,
        Method::POST if ty.is_some() => Operation::Create,
        Method::POST => Operation::Notify,
        Method::PUT => Operation::Update,
        Method::DELETE => Operation::Delete,
        _ => {
            return Err(CseError::new(
                Rsc::OperationNotAllowed,
                format!("method {method} is not supported"),
            ))
        }
    };
    let mut request = Request::new(op, uri::target_from_path(uri.path())?);
    request.ty = ty;
    let mut rqi = None;
    let mut ec = None;
    // One pass over the headers rather than a lookup (hash and name check)
    // per parameter; the first of repeated headers counts, as with `get`.
    for (name, value) in headers {
        let Ok(value) = value.to_str() else {
            continue;
        };
        let slot = match name.as_str() {
            "x-m2m-origin" => &mut request.fr,
            "x-m2m-ri" => &mut rqi,
            "x-m2m-rvi" => &mut request.rvi,
            "x-m2m-ret" => &mut request.rqet,
            "x-m2m-rst" => &mut request.rset,
            "x-m2m-oet" => &mut request.oet,
            "x-m2m-ot" => &mut request.ot,
            "x-m2m-vsi" => &mut request.vsi,
            "x-m2m-ec" => &mut ec,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(value.to_owned());
        }
    }
    request.rqi = rqi.unwrap_or_default();
    if let Some(ec) = ec {
        request.ec = Some(number("X-M2M-EC", &ec)?);
    }
    if let Some(query) = uri.query() {
        uri::apply_query(&mut request, query)?;
    }
    if let Some(rtu) = header(headers, "x-m2m-rtu") {
        let nu = rtu
            .split('&')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        request
            .rt
            .get_or_insert_with(|| ResponseTypeInfo {
                rtv: 3,
                nu: Vec::new(),
            })
            .nu = nu;
    }
    if !body.is_empty() {
        request.pc = Some(decode_body(content_type, body)?);
    }
    Ok(request)
}

/// The `ty` parameter of the Content-Type marks a CREATE (`application/json;ty=3`).
fn resource_type_parameter(content_type: &str) -> CseResult<Option<u32>> {
    for param in content_type.split(';').skip(1) {
        if let Some((name, value)) = param.split_once('=') {
            if name.trim().eq_ignore_ascii_case("ty") {
                return number("ty", value).map(Some);
            }
        }
    }
    Ok(None)
}

fn decode_body(content_type: &str, body: &[u8]) -> CseResult<Value> {
    let media = content_type.split(';').next().unwrap_or_default().trim();
    let serialization = if media.is_empty() {
        Serialization::Json
    } else {
        Serialization::from_name(media).ok_or_else(|| {
            CseError::new(
                Rsc::UnsupportedMediaType,
                format!("unsupported content type {media}"),
            )
        })?
    };
    urbis_codec::decode(body, serialization)
}

/// The serialization the client accepts: the first acceptable entry of
/// `Accept` (JSON, CBOR or XML, generic or `vnd.onem2m-*` media types); JSON
/// when absent or `*/*`.
pub fn accepted_serialization(headers: &HeaderMap) -> CseResult<Serialization> {
    let Some(accept) = header(headers, "accept") else {
        return Ok(Serialization::Json);
    };
    let mut any = accept.trim().is_empty();
    for entry in accept.split(',') {
        let media = entry.split(';').next().unwrap_or_default().trim();
        if media == "*/*" || media == "application/*" {
            any = true;
        } else if let Some(ser) = Serialization::from_name(media) {
            return Ok(ser);
        }
    }
    if any {
        Ok(Serialization::Json)
    } else {
        Err(CseError::new(
            Rsc::NotAcceptable,
            format!("cannot answer in any of: {accept}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_header_parameter_lands_in_its_field_and_the_first_of_repeats_counts() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("X-M2M-Origin", "Cae"),
            ("x-m2m-origin", "Cother"),
            ("X-M2M-RI", "r1"),
            ("X-M2M-RVI", "4"),
            ("X-M2M-RET", "20301231T000000"),
            ("X-M2M-RST", "20301231T000001"),
            ("X-M2M-OET", "20301230T000000"),
            ("X-M2M-OT", "20261201T000000"),
            ("X-M2M-VSI", "v1"),
            ("X-M2M-EC", "2"),
        ] {
            headers.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        let uri: Uri = "/cse-in".parse().unwrap();
        let request = to_request(&Method::GET, &uri, &headers, b"").unwrap();
        assert_eq!(request.fr.as_deref(), Some("Cae"));
        assert_eq!(request.rqi, "r1");
        assert_eq!(request.rvi.as_deref(), Some("4"));
        assert_eq!(request.rqet.as_deref(), Some("20301231T000000"));
        assert_eq!(request.rset.as_deref(), Some("20301231T000001"));
        assert_eq!(request.oet.as_deref(), Some("20301230T000000"));
        assert_eq!(request.ot.as_deref(), Some("20261201T000000"));
        assert_eq!(request.vsi.as_deref(), Some("v1"));
        assert_eq!(request.ec, Some(2));
        headers.insert("x-m2m-ec", "two".parse().unwrap());
        let err = to_request(&Method::GET, &uri, &headers, b"").unwrap_err();
        assert_eq!(err.rsc, Rsc::BadRequest);
    }

    #[test]
    fn create_is_post_with_ty() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", "application/json;ty=3".parse().unwrap());
        headers.insert("x-m2m-origin", "Cae".parse().unwrap());
        headers.insert("x-m2m-ri", "1".parse().unwrap());
        let uri: Uri = "/cse-in/ae?rcn=2&lbl=a+b".parse().unwrap();
        let request = to_request(&Method::POST, &uri, &headers, br#"{"m2m:cnt":{}}"#).unwrap();
        assert_eq!(request.op, Operation::Create);
        assert_eq!(request.ty, Some(3));
        assert_eq!(request.rcn, Some(2));
        assert_eq!(request.fc.lbl, vec!["a", "b"]);
    }

    #[test]
    fn xml_bodies_and_xml_answers() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "content-type",
            "application/vnd.onem2m-res+xml; ty=3".parse().unwrap(),
        );
        let uri: Uri = "/cse-in/ae".parse().unwrap();
        let body = br#"<m2m:cnt xmlns:m2m="http://www.onem2m.org/xml/protocols" rn="box"><mni>5</mni></m2m:cnt>"#;
        let request = to_request(&Method::POST, &uri, &headers, body).unwrap();
        assert_eq!(request.op, Operation::Create);
        assert_eq!(request.ty, Some(3));
        assert_eq!(
            request.pc,
            Some(serde_json::json!({"m2m:cnt": {"rn": "box", "mni": 5}}))
        );
        headers.insert("content-type", "application/xml;ty=3".parse().unwrap());
        assert_eq!(
            to_request(&Method::POST, &uri, &headers, b"<m2m:cnt")
                .unwrap_err()
                .rsc,
            Rsc::BadRequest
        );
        for accept in [
            "application/xml",
            "text/xml",
            "application/vnd.onem2m-res+xml, application/json",
        ] {
            headers.insert("accept", accept.parse().unwrap());
            assert_eq!(
                accepted_serialization(&headers).unwrap(),
                Serialization::Xml,
                "{accept}"
            );
        }
    }

    #[test]
    fn bad_input() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", "application/json;ty=x".parse().unwrap());
        let uri: Uri = "/cse-in".parse().unwrap();
        assert_eq!(
            to_request(&Method::POST, &uri, &headers, b"{}")
                .unwrap_err()
                .rsc,
            Rsc::BadRequest
        );
        headers.insert("content-type", "application/json;ty=3".parse().unwrap());
        assert_eq!(
            to_request(&Method::POST, &uri, &headers, b"{not json")
                .unwrap_err()
                .rsc,
            Rsc::BadRequest
        );
        headers.insert("content-type", "text/plain;ty=3".parse().unwrap());
        assert_eq!(
            to_request(&Method::POST, &uri, &headers, b"x")
                .unwrap_err()
                .rsc,
            Rsc::UnsupportedMediaType
        );
        assert_eq!(
            to_request(&Method::PATCH, &uri, &headers, b"")
                .unwrap_err()
                .rsc,
            Rsc::OperationNotAllowed
        );
    }
}
