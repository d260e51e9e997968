//! The agent's point of access: the CSE sends it management actions as
//! oneM2M UPDATE primitives over HTTP (TS-0009), with the mgmtObj's
//! representation as content and the trigger set. The HTTP binding's own
//! translation turns them into primitives, so the agent reads exactly what
//! the CSE meant.
//!
//! Answers: 1000 ACCEPTED for a firmware update (the outcome follows in
//! `uds`), 2004 UPDATED for a reboot (answered before restarting) and for
//! event log start/stop, an error for anything the device cannot do.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::Request as HttpRequest;
use axum::response::Response as HttpResponse;
use axum::Router;
use serde_json::{json, Value};
use urbis_model::{Operation, Request, Response, Rsc, Serialization};

use super::Device;

const MAX_BODY: usize = 256 * 1024;

pub(crate) fn router(device: Arc<Device>) -> Router {
    Router::new().fallback(handle).with_state(device)
}

async fn handle(State(device): State<Arc<Device>>, request: HttpRequest<Body>) -> HttpResponse {
    let (parts, body) = request.into_parts();
    let rqi = parts
        .headers
        .get("x-m2m-ri")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let answer = |rsc: Rsc, message: Option<String>| {
        let mut response = Response::new(rsc, message.map(|m| json!({ "m2m:dbg": m })));
        response.rqi = rqi.clone();
        urbis_http::outbound::to_http(&response, Serialization::Json)
    };
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return answer(Rsc::BadRequest, Some("request too large".into()));
    };
    let primitive =
        match urbis_http::inbound::to_request(&parts.method, &parts.uri, &parts.headers, &body) {
            Ok(primitive) => primitive,
            Err(err) => return answer(err.rsc, Some(err.message)),
        };
    let (rsc, message) = act(&device, primitive);
    answer(rsc, message)
}

/// Decide on one request from the CSE and start what it asks for.
fn act(device: &Arc<Device>, request: Request) -> (Rsc, Option<String>) {
    let cse_id = device.cse_id.lock().map(|c| c.clone()).unwrap_or_default();
    if request.fr.as_deref() != Some(cse_id.as_str()) {
        return (
            Rsc::OriginatorHasNoPrivilege,
            Some(format!("only {cse_id} may send management actions")),
        );
    }
    if request.op != Operation::Update {
        return (
            Rsc::OperationNotAllowed,
            Some("the agent takes management actions as UPDATE".into()),
        );
    }
    let Some((root, attrs)) = request
        .pc
        .as_ref()
        .and_then(Value::as_object)
        .and_then(|o| o.iter().next())
    else {
        return (Rsc::BadRequest, Some("no mgmtObj in the request".into()));
    };
    let set = |sn: &str| attrs.get(sn).and_then(Value::as_bool) == Some(true);
    match root.as_str() {
        "m2m:fwr" if set("ud") => {
            tokio::spawn(super::update_firmware(device.clone(), attrs.clone()));
            (Rsc::Accepted, None)
        }
        "m2m:rbo" if set("rbo") || set("far") => {
            let device = device.clone();
            let factory_reset = set("far");
            // Answer first, then restart: the CSE hears the device took it.
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                super::restart(&device, factory_reset);
            });
            (Rsc::Updated, None)
        }
        "m2m:evl" if set("lga") || set("lgo") => {
            let started = set("lga");
            let _ = device.log(if started {
                "event logging started"
            } else {
                "event logging stopped"
            });
            let device = device.clone();
            tokio::spawn(async move { super::report_event_log(&device).await });
            (Rsc::Updated, None)
        }
        other => (
            Rsc::OperationNotAllowed,
            Some(format!("this device cannot carry out {other} actions")),
        ),
    }
}
