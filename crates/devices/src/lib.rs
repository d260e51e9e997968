//! Device management over oneM2M (ITU-T Y.4702): the device agent that is a
//! device's management client, and the fleet client operators use. Both
//! reach the CSE only through its HTTP binding, like any oneM2M application.
//!
//! # Layout
//! - [`client`]: a small oneM2M HTTP client.
//! - [`agent`]: `urbis agent`: registration, status reports, firmware
//!   updates, reboots, event log, and the listener the CSE sends actions to.
//! - [`fleet`]: `urbis devices ...`: the fleet view, lookups, firmware
//!   updates and reboots of one device or a group, alerts.
//! - [`simulate`]: `urbis devices simulate`: many light devices, to measure
//!   what one node holds.

pub mod agent;
pub mod client;
pub mod fleet;
pub mod simulate;

/// What can go wrong in the agent or the fleet client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("HTTP: {0}")]
    Http(String),
    #[error("{what} refused by the CSE ({rsc}): {message}")]
    Refused {
        what: String,
        rsc: u16,
        message: String,
    },
    #[error("agent state: {0}")]
    State(String),
    #[error("firmware: {0}")]
    Firmware(String),
    #[error("{0}")]
    Fleet(String),
}
