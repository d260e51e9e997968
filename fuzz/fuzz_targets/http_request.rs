//! The HTTP binding's request translation (TS-0009): method, path and query
//! (codec::uri), X-M2M headers and the body, without a socket. Input layout:
//! method selector, then `path?query`, a line feed, header lines
//! (`name: value`), an empty line, and the body.
#![no_main]

use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use libfuzzer_sys::fuzz_target;

const METHODS: [Method; 6] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
    Method::OPTIONS,
];

fuzz_target!(|data: &[u8]| {
    let Some((selector, rest)) = data.split_first() else {
        return;
    };
    let method = &METHODS[usize::from(*selector) % METHODS.len()];
    let (head, body) = match rest.windows(2).position(|w| w == b"\n\n") {
        Some(at) => (&rest[..at], &rest[at + 2..]),
        None => (rest, &[][..]),
    };
    let Ok(head) = std::str::from_utf8(head) else {
        return;
    };
    let mut lines = head.split('\n');
    let Some(Ok(uri)) = lines.next().map(|target| target.parse::<Uri>()) else {
        return;
    };
    let mut headers = HeaderMap::new();
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.trim().as_bytes()),
                HeaderValue::from_str(value.trim()),
            ) {
                headers.append(name, value);
            }
        }
    }
    let _ = urbis_http::inbound::accepted_serialization(&headers);
    let _ = urbis_http::inbound::to_request(method, &uri, &headers, body);
});
