//! The upper tester interface: `POST /__ut__` with an `X-M2M-UTCMD` header,
//! answered in `X-M2M-UTRSP`. Conformance suites (e.g. the ACME test suite) use
//! it to shorten expiry checks for a test run. Enabled only by configuration.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// Expiry check interval while a suite asks for short expirations, in ms.
const SHORT_CHECK_MS: u64 = 500;

pub(crate) async fn handle(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let command = headers
        .get("x-m2m-utcmd")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .trim();
    let (name, args) = command.split_once(' ').unwrap_or((command, ""));
    let cse = &state.cse;
    let answer: Option<String> = match name {
        "Status" => Some("RUNNING".into()),
        "GetConfig" => Some(match args.trim() {
            "cse.type" => "1".into(),
            "cse.cseID" => cse.config().cse_id.clone(),
            "cse.resourceName" => cse.config().cse_name.clone(),
            _ => "nil".into(),
        }),
        "testCaseStart" | "testCaseEnd" => {
            tracing::info!(test = args, "{name}");
            Some(String::new())
        }
        "enableShortResourceExpiration" => {
            let seconds: u64 = args.trim().parse().unwrap_or(2);
            let max = cse.max_expiration_secs();
            let check_ms = (seconds * 1000).min(SHORT_CHECK_MS);
            let (old_check, _) = cse.set_expiration_limits(check_ms, max);
            Some(format!("{},{}", old_check.div_ceil(1000), max))
        }
        // pollingChannel long polls without rqet wait this long (seconds)
        "enableShortRequestExpiration" => {
            let seconds: f64 = args.trim().parse().unwrap_or(2.0);
            let old = cse.set_long_poll_ms((seconds * 1000.0) as u64);
            Some(format!("{}", old as f64 / 1000.0))
        }
        "disableShortRequestExpiration" => {
            cse.set_long_poll_ms(cse.config().long_poll_ms);
            Some(String::new())
        }
        "disableShortResourceExpiration" => {
            cse.set_expiration_limits(cse.config().expiration_check_ms, cse.max_expiration_secs());
            Some(String::new())
        }
        _ => None,
    };
    let mut response = match &answer {
        Some(_) => StatusCode::OK.into_response(),
        None => StatusCode::BAD_REQUEST.into_response(),
    };
    let rsc = if answer.is_some() { "2000" } else { "4000" };
    response
        .headers_mut()
        .insert("x-m2m-rsc", HeaderValue::from_static(rsc));
    if let Some(Ok(value)) = answer
        .filter(|a| !a.is_empty())
        .map(|a| HeaderValue::from_str(&a))
    {
        response.headers_mut().insert("x-m2m-utrsp", value);
    }
    response
}
