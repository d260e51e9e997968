//! The oneM2M HTTP binding (TS-0009). It only translates: HTTP request →
//! request primitive → [`Cse::handle`] → response primitive → HTTP response.
//!
//! # Layout
//! - [`inbound`]: HTTP request → [`urbis_model::Request`].
//! - [`outbound`]: [`urbis_model::Response`] → HTTP response.
//! - [`client`]: the HTTP [`urbis_core::Transport`] for notifications.
//! - [`upper_tester`]: the optional test-control endpoint (`/__ut__`) that
//!   conformance suites use.

pub mod client;
pub mod inbound;
pub mod outbound;
pub mod upper_tester;

use std::future::Future;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderName, Method, Request as HttpRequest};
use axum::response::Response as HttpResponse;
use axum::routing::post;
use axum::Router;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tower_http::cors::{Any, CorsLayer};
use urbis_core::Cse;
use urbis_model::{rsc::CseError, Rsc};

/// Settings of the HTTP binding.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpOptions {
    /// Address to listen on.
    pub addr: String,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Serve `/__ut__`, the upper tester interface conformance suites use to
    /// reconfigure the CSE. Never enable in production.
    pub upper_tester: bool,
    /// Allow browser applications from any origin (CORS).
    pub cors: bool,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            addr: "127.0.0.1:8080".into(),
            max_body_bytes: 1024 * 1024,
            upper_tester: false,
            cors: true,
        }
    }
}

#[derive(Clone)]
struct AppState {
    cse: Cse,
    options: Arc<HttpOptions>,
}

/// The HTTP routes for a CSE.
pub fn router(cse: Cse, options: HttpOptions) -> Router {
    let cors = options.cors;
    let upper_tester = options.upper_tester;
    let state = AppState {
        cse,
        options: Arc::new(options),
    };
    let mut router = Router::new();
    if upper_tester {
        router = router.route("/__ut__", post(upper_tester::handle));
    }
    let router = router.fallback(handle).with_state(state);
    if cors {
        let exposed: Vec<HeaderName> = outbound::EXPOSED_HEADERS
            .iter()
            .map(|h| HeaderName::from_static(h))
            .collect();
        router.layer(
            CorsLayer::new()
                .allow_origin(Any)
                .allow_methods(Any)
                .allow_headers(Any)
                .expose_headers(exposed),
        )
    } else {
        router
    }
}

/// Serve until `shutdown` completes; in-flight requests are finished first.
pub async fn serve(
    listener: TcpListener,
    cse: Cse,
    options: HttpOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(cse, options))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn handle(State(state): State<AppState>, request: HttpRequest<Body>) -> HttpResponse {
    let no_response = request
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "rt=5"));
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, state.options.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(_) => {
            let err = CseError::bad_request(format!(
                "request body larger than {} bytes",
                state.options.max_body_bytes
            ));
            return outbound::error(&err, &parts.headers);
        }
    };
    if parts.method == Method::OPTIONS {
        return outbound::error(
            &CseError::new(
                Rsc::OperationNotAllowed,
                "OPTIONS is not a oneM2M operation",
            ),
            &parts.headers,
        );
    }
    let serialization = match inbound::accepted_serialization(&parts.headers) {
        Ok(serialization) => serialization,
        Err(err) => return outbound::error(&err, &parts.headers),
    };
    let primitive = match inbound::to_request(&parts.method, &parts.uri, &parts.headers, &body) {
        Ok(primitive) => primitive,
        Err(err) => return outbound::error(&err, &parts.headers),
    };
    if no_response {
        // noResponse: the originator wants no answer, so do not make it wait.
        let accepted = urbis_model::Response {
            rqi: primitive.rqi.clone(),
            rvi: primitive.rvi.clone(),
            ..urbis_model::Response::new(Rsc::Accepted, None)
        };
        let cse = state.cse.clone();
        tokio::spawn(async move { cse.handle(primitive).await });
        return outbound::no_content(&accepted);
    }
    let response = state.cse.handle(primitive).await;
    outbound::to_http(&response, serialization)
}
