//! The enrolment endpoint, beside the oneM2M API: `POST
//! /.well-known/urbis-enrolment` with `{"device": "...", "secret": "..."}`,
//! over HTTPS only. A device redeems its one-time secret here and receives
//! its AE-ID and a token (docs/security.md, "Enrolment").

use axum::body::Body;
use axum::extract::State;
use axum::http::{Request as HttpRequest, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};
use urbis_security::enrolment::{self, EnrolmentFailure};

use crate::tls::TlsPeer;
use crate::AppState;

pub const PATH: &str = "/.well-known/urbis-enrolment";
/// A redemption is two short strings.
const MAX_BODY: usize = 4096;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Redemption {
    device: String,
    secret: String,
}

fn answer(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn refuse(status: StatusCode, why: impl std::fmt::Display) -> Response {
    answer(status, &json!({ "error": why.to_string() }))
}

pub(crate) async fn handle(State(state): State<AppState>, request: HttpRequest<Body>) -> Response {
    let tls = request.extensions().get::<TlsPeer>().is_some();
    let address = crate::connections::peer_of(&request).map(|peer| peer.ip());
    let Some(verifier) = &state.door.verifier else {
        return refuse(StatusCode::NOT_FOUND, "enrolment is not enabled");
    };
    if !tls {
        return refuse(
            StatusCode::FORBIDDEN,
            "enrolment only over HTTPS: the secret and the token must not travel in clear",
        );
    }
    let body = match axum::body::to_bytes(request.into_body(), MAX_BODY).await {
        Ok(body) => body,
        Err(_) => return refuse(StatusCode::PAYLOAD_TOO_LARGE, "request too large"),
    };
    let redemption: Redemption = match serde_json::from_slice(&body) {
        Ok(redemption) => redemption,
        Err(err) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                format!("expected {{\"device\": ..., \"secret\": ...}}: {err}"),
            )
        }
    };
    match enrolment::redeem(verifier.store(), &redemption.device, &redemption.secret).await {
        Ok(enrolled) => {
            urbis_core::audit::enrolment(&enrolled.device, "enrolled", address, "");
            let by = format!("enrolment of {}", enrolled.device);
            urbis_core::audit::credential_changed(&enrolled.originator, "issued", &by);
            let config = state.cse.config();
            let enrolled_answer = json!({
                "device": enrolled.device,
                "originator": enrolled.originator,
                "credential_id": enrolled.credential_id,
                "token": enrolled.token,
                "cse_id": config.cse_id,
                "cse_name": config.cse_name,
                "point_of_access": config.point_of_access,
            });
            answer(StatusCode::CREATED, &enrolled_answer)
        }
        Err(EnrolmentFailure::Internal(err)) => {
            tracing::error!(%err, "enrolment failed");
            refuse(StatusCode::INTERNAL_SERVER_ERROR, "enrolment failed")
        }
        Err(failure) => {
            let reason = failure.to_string();
            urbis_core::audit::enrolment(&redemption.device, "refused", address, &reason);
            refuse(StatusCode::FORBIDDEN, failure)
        }
    }
}
