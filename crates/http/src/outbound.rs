//! Response primitive → HTTP response (TS-0009 §6.x): status from the one
//! mapping table, oneM2M parameters as X-M2M-* headers, content in the
//! serialization the request accepts (JSON, CBOR or XML).

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response as HttpResponse;
use urbis_model::{time, CseError, Response, Serialization};

/// Headers browser applications may read (CORS).
pub const EXPOSED_HEADERS: &[&str] = &[
    "x-m2m-rsc",
    "x-m2m-ri",
    "x-m2m-rvi",
    "x-m2m-ot",
    "x-m2m-rst",
    "x-m2m-vsi",
    "content-location",
];

fn put(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

pub fn to_http(response: &Response, serialization: Serialization) -> HttpResponse {
    let body = match &response.pc {
        Some(pc) if !pc.is_null() => match urbis_codec::encode(pc, serialization) {
            Ok(body) => body,
            // content this serialization cannot carry (a key that is no XML name)
            Err(err) => return unencodable(response, &err, serialization),
        },
        _ => Vec::new(),
    };
    let status = StatusCode::from_u16(response.rsc.http_status())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut http = HttpResponse::new(Body::from(body));
    *http.status_mut() = status;
    let headers = http.headers_mut();
    headers.insert(
        "content-type",
        HeaderValue::from_static(serialization.media_type()),
    );
    put(headers, "x-m2m-rsc", &response.rsc.code().to_string());
    put(headers, "x-m2m-ri", &response.rqi);
    if let Some(rvi) = &response.rvi {
        put(headers, "x-m2m-rvi", rvi);
    }
    if let Some(ot) = &response.ot {
        put(headers, "x-m2m-ot", ot);
    }
    if let Some(vsi) = &response.vsi {
        put(headers, "x-m2m-vsi", vsi);
    }
    if let Some(rset) = &response.rset {
        put(headers, "x-m2m-rst", rset);
    }
    if let Some(uri) = &response.created_uri {
        put(headers, "content-location", uri);
    }
    http
}

/// The answer when the content cannot be encoded: the encoding error instead,
/// in the same serialization when possible.
fn unencodable(response: &Response, err: &CseError, serialization: Serialization) -> HttpResponse {
    tracing::warn!(rsc = ?response.rsc, %err, "response content not encodable");
    let mut answer = Response::error(err);
    answer.rqi = response.rqi.clone();
    answer.rvi = response.rvi.clone();
    answer.ot = response.ot.clone();
    let fits = answer
        .pc
        .as_ref()
        .is_none_or(|pc| urbis_codec::encode(pc, serialization).is_ok());
    to_http(
        &answer,
        if fits {
            serialization
        } else {
            Serialization::Json
        },
    )
}

/// An error found before the request reached the CSE (unparseable input),
/// in the serialization the request accepts (JSON if that is unclear).
pub fn error(err: &CseError, request_headers: &HeaderMap) -> HttpResponse {
    let mut response = Response::error(err);
    response.rqi = request_headers
        .get("x-m2m-ri")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    response.rvi = request_headers
        .get("x-m2m-rvi")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    response.ot = Some(time::now_string());
    let serialization = crate::inbound::accepted_serialization(request_headers).unwrap_or_default();
    to_http(&response, serialization)
}

/// `rt=5` (noResponse): 204 with the status headers but no content.
pub fn no_content(response: &Response) -> HttpResponse {
    let mut http = to_http(
        &Response {
            pc: None,
            ..response.clone()
        },
        Serialization::Json,
    );
    *http.status_mut() = StatusCode::NO_CONTENT;
    http
}
