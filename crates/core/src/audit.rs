//! The audit log: security-relevant events as structured `tracing` events on
//! the target [`TARGET`] (`urbis::audit`), so that operators can route them
//! apart from the diagnostic log (e.g. `RUST_LOG`-style filter
//! `urbis::audit=info`, or a subscriber layer that filters on the target).
//!
//! Every event has a field `event` naming its kind, and only the fields listed
//! at its function; the names are stable. Events are emitted where the
//! decision is made (access control in [`crate::access`], rate limits in the
//! pipeline, connection and size limits in the bindings), never per door for
//! what the core decides.

use std::net::IpAddr;

/// The `tracing` target of every audit event.
pub const TARGET: &str = "urbis::audit";

/// The `address` field: the network address of the requester, or `-` when
/// unknown (MQTT, internal requests).
fn shown(address: Option<IpAddr>) -> String {
    address.map_or_else(|| "-".to_owned(), |a| a.to_canonical().to_string())
}

/// Name of an `acop` operation bit, for the `operation` field.
pub fn operation_name(permission: u32) -> &'static str {
    match permission {
        1 => "create",
        2 => "retrieve",
        4 => "update",
        8 => "delete",
        16 => "notify",
        32 => "discover",
        _ => "other",
    }
}

/// `event=access_denied`: access control refused `originator` the operation
/// on `resource` (its resource ID). Fields: originator, address, resource,
/// operation, reason.
pub fn access_denied(
    originator: &str,
    address: Option<IpAddr>,
    resource: &str,
    permission: u32,
    reason: &str,
) {
    tracing::info!(
        target: TARGET,
        event = "access_denied",
        originator,
        address = %shown(address),
        resource,
        operation = operation_name(permission),
        reason,
        "access denied"
    );
}

/// `event=rate_limited`: a request was refused because its originator (or
/// address, for anonymous registrations) exceeded its rate. Fields: key,
/// address.
pub fn rate_limited(key: &str, address: Option<IpAddr>) {
    tracing::warn!(
        target: TARGET,
        event = "rate_limited",
        key,
        address = %shown(address),
        "rate limit exceeded"
    );
}

/// `event=authentication_failed`: credentials were missing, wrong, or do not
/// belong to the claimed originator. Fields: door (http, mqtt, coap, ws),
/// originator (as claimed), address, reason.
pub fn authentication_failed(door: &str, originator: &str, address: Option<IpAddr>, reason: &str) {
    tracing::warn!(
        target: TARGET,
        event = "authentication_failed",
        door,
        originator,
        address = %shown(address),
        reason,
        "authentication failed"
    );
}

/// `event=enrolment`: a step of device enrolment. Fields: device (serial or
/// node ID), outcome (e.g. `registered`, `enrolled`, `refused`, `revoked`),
/// address, reason.
pub fn enrolment(device: &str, outcome: &str, address: Option<IpAddr>, reason: &str) {
    tracing::info!(
        target: TARGET,
        event = "enrolment",
        device,
        outcome,
        address = %shown(address),
        reason,
        "enrolment"
    );
}

/// `event=credential_changed`: a credential was issued, replaced or revoked.
/// Fields: entity (AE-ID / CSE-ID / device), change (`issued`, `rotated`,
/// `revoked`), by (who did it).
pub fn credential_changed(entity: &str, change: &str, by: &str) {
    tracing::info!(
        target: TARGET,
        event = "credential_changed",
        entity,
        change,
        by,
        "credential changed"
    );
}

/// `event=request_too_large`: a binding refused a request above its size
/// limit. Fields: door, address, size (bytes, or the limit + 1 when the body
/// was cut off unread), limit.
pub fn request_too_large(door: &str, address: Option<IpAddr>, size: usize, limit: usize) {
    tracing::info!(
        target: TARGET,
        event = "request_too_large",
        door,
        address = %shown(address),
        size,
        limit,
        "request too large"
    );
}

/// `event=connection_refused`: a binding dropped or closed a connection to
/// protect itself. Fields: door, address, reason (`max_connections`,
/// `header_timeout`, `handshake_timeout`, `idle_timeout`).
pub fn connection_refused(door: &str, address: Option<IpAddr>, reason: &str) {
    tracing::info!(
        target: TARGET,
        event = "connection_refused",
        door,
        address = %shown(address),
        reason,
        "connection refused"
    );
}
