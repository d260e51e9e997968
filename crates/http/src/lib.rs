//! The oneM2M HTTP binding (TS-0009). It only translates: HTTP request →
//! request primitive → [`Cse::handle`] → response primitive → HTTP response.
//!
//! # Layout
//! - [`inbound`]: HTTP request → [`urbis_model::Request`].
//! - [`outbound`]: [`urbis_model::Response`] → HTTP response.
//! - [`client`]: the HTTP [`urbis_core::Transport`] for notifications.
//! - [`connections`]: the accept loop with connection limits and timeouts.
//! - [`limits`]: request body size and read-time limits.
//! - [`upper_tester`]: the optional test-control endpoint (`/__ut__`) that
//!   conformance suites use.
//! - [`tls`]: HTTPS listener (handshakes, client certificates).
//! - [`enrolment`]: the device enrolment endpoint, beside the oneM2M API.

pub mod client;
pub mod connections;
pub mod enrolment;
pub mod inbound;
pub mod limits;
pub mod outbound;
pub mod tls;
pub mod upper_tester;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

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
use urbis_security::Door;

/// Settings of the HTTP binding.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpOptions {
    /// Address to listen on.
    pub addr: String,
    /// Largest request body accepted, in bytes; larger ones get HTTP 413
    /// (X-M2M-RSC 4000).
    pub max_body_bytes: usize,
    /// Largest request head (request line and headers), in bytes; larger
    /// ones get HTTP 431. At least 8192.
    pub max_header_bytes: usize,
    /// Connections served at once; more are closed on accept.
    pub max_connections: usize,
    /// Time a client has to send a complete request head, from the moment
    /// the connection waits for one (so also how long an idle keep-alive
    /// connection stays open), in milliseconds.
    pub header_read_timeout_ms: u64,
    /// Time a client has to send a whole request body, in milliseconds;
    /// slower uploads get HTTP 408 (X-M2M-RSC 4008).
    pub body_read_timeout_ms: u64,
    /// Serve `/__ut__`, the upper tester interface conformance suites use to
    /// reconfigure the CSE. Never enable in production.
    pub upper_tester: bool,
    /// Allow browser applications from any origin (CORS).
    pub cors: bool,
    /// HTTPS: PEM certificate chain; empty = plain HTTP.
    pub tls_cert_file: String,
    /// HTTPS: PEM private key of the certificate.
    pub tls_key_file: String,
    /// HTTPS: PEM CA of client certificates; empty = none asked for.
    pub tls_client_ca_file: String,
    /// PEM CA certificates trusted for `https://` notification targets,
    /// besides the operating system's; empty = those only.
    pub notification_ca_file: String,
}

impl HttpOptions {
    pub fn tls_files(&self) -> urbis_security::tls::TlsFiles {
        urbis_security::tls::TlsFiles {
            cert_file: self.tls_cert_file.clone(),
            key_file: self.tls_key_file.clone(),
            client_ca_file: self.tls_client_ca_file.clone(),
        }
    }
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            addr: "127.0.0.1:8080".into(),
            max_body_bytes: 1024 * 1024,
            max_header_bytes: 64 * 1024,
            max_connections: 1024,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 30_000,
            upper_tester: false,
            cors: true,
            tls_cert_file: String::new(),
            tls_key_file: String::new(),
            tls_client_ca_file: String::new(),
            notification_ca_file: String::new(),
        }
    }
}

#[derive(Clone)]
struct AppState {
    cse: Cse,
    options: Arc<HttpOptions>,
    /// `rt=5` requests handled after their answer; beyond this many at once
    /// they are handled before it, which slows the client that sends them.
    background: Arc<tokio::sync::Semaphore>,
    door: Door,
}

const MAX_BACKGROUND_REQUESTS: usize = 256;

/// The HTTP routes for a CSE, open to everyone (no authentication).
pub fn router(cse: Cse, options: HttpOptions) -> Router {
    router_for(cse, options, Door::default())
}

/// The HTTP routes for a CSE behind `door` (authentication, enrolment).
pub fn router_for(cse: Cse, options: HttpOptions, door: Door) -> Router {
    let cors = options.cors;
    let upper_tester = options.upper_tester;
    let enrolment = door.verifier.is_some();
    let state = AppState {
        cse,
        options: Arc::new(options),
        background: Arc::new(tokio::sync::Semaphore::new(MAX_BACKGROUND_REQUESTS)),
        door,
    };
    let mut router = Router::new();
    if upper_tester {
        router = router.route("/__ut__", post(upper_tester::handle));
    }
    if enrolment {
        router = router.route(enrolment::PATH, post(enrolment::handle));
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
    serve_door(listener, cse, options, Door::default(), shutdown).await
}

/// [`serve`] behind `door`: HTTPS when it has TLS, credentials checked when
/// it has a verifier.
pub async fn serve_door(
    listener: TcpListener,
    cse: Cse,
    options: HttpOptions,
    door: Door,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_door_with(listener, cse, options, door, Router::new(), shutdown).await
}

/// [`serve_door`] with `extra` routes beside the oneM2M API (e.g. the KPI
/// report), behind the same TLS and connection limits.
pub async fn serve_door_with(
    listener: TcpListener,
    cse: Cse,
    options: HttpOptions,
    door: Door,
    extra: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = connections::ConnectionLimits {
        max_connections: options.max_connections,
        header_read_timeout: Duration::from_millis(options.header_read_timeout_ms.max(1)),
        max_header_bytes: options.max_header_bytes,
    };
    let tls = door.tls.clone();
    let router = extra.merge(router_for(cse, options, door));
    connections::serve(listener, router, limits, tls, shutdown).await
}

async fn handle(State(state): State<AppState>, request: HttpRequest<Body>) -> HttpResponse {
    let no_response = request
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "rt=5"));
    let peer = connections::peer_of(&request);
    let (parts, body) = request.into_parts();
    let body = match limits::read_body(body, &parts.headers, &state.options, peer).await {
        Ok(bytes) => bytes,
        Err(refusal) => return refusal,
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
    let mut primitive = match inbound::to_request(&parts.method, &parts.uri, &parts.headers, &body)
    {
        Ok(primitive) => primitive,
        Err(err) => return outbound::error(&err, &parts.headers),
    };
    primitive.peer = peer.map(|peer| peer.ip());
    let authorization = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    let certificate = parts
        .extensions
        .get::<tls::TlsPeer>()
        .and_then(|peer| peer.certificate.clone());
    match state
        .door
        .authenticate(authorization, certificate.as_deref().map(Vec::as_slice))
        .await
    {
        Ok(sender) => primitive.authentication = sender.authentication,
        Err(err) => {
            let claimed = primitive.fr.as_deref().unwrap_or("-");
            urbis_core::audit::authentication_failed("http", claimed, primitive.peer, &err.message);
            return outbound::error(&err, &parts.headers);
        }
    }
    if no_response {
        // noResponse: the originator wants no answer, so do not make it wait.
        let accepted = urbis_model::Response {
            rqi: primitive.rqi.clone(),
            rvi: primitive.rvi.clone(),
            ..urbis_model::Response::new(Rsc::Accepted, None)
        };
        match state.background.clone().try_acquire_owned() {
            Ok(slot) => {
                let cse = state.cse.clone();
                tokio::spawn(async move {
                    cse.handle(primitive).await;
                    drop(slot);
                });
            }
            Err(_) => {
                state.cse.handle(primitive).await;
            }
        }
        return outbound::no_content(&accepted);
    }
    let response = state.cse.handle(primitive).await;
    outbound::to_http(&response, serialization)
}
