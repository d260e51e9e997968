//! The oneM2M CoAP binding (TS-0008). It only translates: CoAP request →
//! request primitive → [`Cse::handle`] → response primitive → CoAP response.
//! The CoAP message layer (RFC 7252: CON/NON, ACK/RST, deduplication,
//! separate responses) and block-wise transfers (RFC 7959) are handled here;
//! message encoding and decoding is coap-lite's.
//!
//! # Layout
//! - [`options`]: option and Content-Format numbers, option values.
//! - [`inbound`]: CoAP request → [`urbis_model::Request`].
//! - [`outbound`]: [`urbis_model::Response`] → CoAP response.
//! - [`server`]: the UDP server and the message layer.
//! - [`blockwise`]: Block1/Block2 transfers; [`exchanges`]: deduplication;
//!   [`cache`]: the bounded, expiring map both use.
//! - [`transport`]: the `coap://` [`urbis_core::Transport`] for notifications.

pub mod blockwise;
pub mod cache;
pub mod exchanges;
pub mod inbound;
pub mod options;
pub mod outbound;
pub mod server;
pub mod transport;

use std::future::Future;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::net::UdpSocket;
use urbis_core::Cse;

pub use transport::CoapTransport;

/// Settings of the CoAP binding.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CoapOptions {
    /// Serve CoAP at all.
    pub enabled: bool,
    /// UDP address to listen on.
    pub addr: String,
    /// Largest request payload accepted (also after Block1 reassembly), in bytes.
    pub max_payload_bytes: usize,
}

impl Default for CoapOptions {
    fn default() -> Self {
        CoapOptions {
            enabled: false,
            addr: "127.0.0.1:5683".into(),
            max_payload_bytes: 1024 * 1024,
        }
    }
}

/// Listen on `options.addr` and serve until `shutdown` completes.
pub async fn serve(
    cse: Cse,
    options: CoapOptions,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let socket = UdpSocket::bind(&options.addr).await?;
    serve_on(socket, cse, options, shutdown).await;
    Ok(())
}

/// Serve on a bound socket (port 0 lets the caller learn the real port first).
pub async fn serve_on(
    socket: UdpSocket,
    cse: Cse,
    options: CoapOptions,
    shutdown: impl Future<Output = ()>,
) {
    if let Ok(local) = socket.local_addr() {
        tracing::info!(addr = %local, "CoAP binding listening");
    }
    let server = Arc::new(server::Server::new(socket, cse, options.max_payload_bytes));
    server.run(shutdown).await;
}
