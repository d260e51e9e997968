//! Request body limits: a body larger than `max_body_bytes` is refused with
//! HTTP 413 Content Too Large (X-M2M-RSC 4000 BAD_REQUEST: oneM2M has no
//! code of its own for it); a body that does not arrive within
//! `body_read_timeout_ms` with HTTP 408 (X-M2M-RSC 4008 REQUEST_TIMEOUT), so
//! that a client trickling a body ("slow POST") does not hold a connection.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response as HttpResponse;
use urbis_core::audit;
use urbis_model::{CseError, Rsc};

use crate::{outbound, HttpOptions};

/// The whole body, or the answer that refuses it.
pub async fn read_body(
    body: Body,
    headers: &HeaderMap,
    options: &HttpOptions,
    peer: Option<SocketAddr>,
) -> Result<Bytes, HttpResponse> {
    let limit = options.max_body_bytes;
    let too_large = |size: usize| {
        audit::request_too_large("http", peer.map(|p| p.ip()), size, limit);
        let err = CseError::bad_request(format!("request body larger than {limit} bytes"));
        let mut answer = outbound::error(&err, headers);
        *answer.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
        answer
    };
    // refuse at once what announces itself as too large
    let announced = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    if let Some(size) = announced.filter(|size| *size > limit) {
        return Err(too_large(size));
    }
    let deadline = Duration::from_millis(options.body_read_timeout_ms.max(1));
    match tokio::time::timeout(deadline, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err(too_large(limit.saturating_add(1))),
        Err(_) => {
            let err = CseError::new(
                Rsc::RequestTimeout,
                format!(
                    "request body not received within {} ms",
                    deadline.as_millis()
                ),
            );
            Err(outbound::error(&err, headers))
        }
    }
}
