//! Trust for Urbis: what lets a CSE know who is talking to it. The bindings
//! use it at their edge; the core only sees the outcome
//! ([`urbis_model::Authentication`]) and decides (docs/security.md).
//!
//! # Layout
//! - [`tls`]: rustls server configuration from PEM files, optional client
//!   certificates, certificate fingerprints.
//! - [`secret`]: random secrets and their argon2 hashes.
//! - [`authorization`]: the `Authorization` header (Basic, Bearer).
//! - [`door`]: [`Door`], what one listener enforces, and its outcome for a request.
//! - [`verifier`]: [`Verifier`], credential → originator, with a cache that
//!   spares argon2 on every request but never outlives a revocation.
//! - [`issue`]: credentials an operator creates (`urbis credentials`).
//! - [`enrolment`]: one-time enrolment secrets for devices, and their redemption.

pub mod authorization;
pub mod door;
pub mod enrolment;
pub mod issue;
pub mod secret;
#[cfg(feature = "test-pki")]
pub mod test_pki;
pub mod tls;
pub mod verifier;

pub use door::{Door, Sender};
pub use verifier::{AuthFailure, Verified, Verifier};

use urbis_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error("TLS: {0}")]
    Tls(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Invalid(String),
    #[error("no randomness from the operating system")]
    Random,
}

/// Unix seconds now.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
