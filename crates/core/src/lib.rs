//! The Urbis oneM2M CSE core. It receives request primitives from any binding and
//! answers with response primitives; it never knows which door a request came in by.
//!
//! # Layout
//! - [`Cse`]: the entry point ([`Cse::handle`]) and start-up (CSEBase, sweeper).
//! - [`pipeline`]: checks every request goes through, then dispatch by operation.
//! - [`ops`]: CREATE, RETRIEVE, UPDATE, DELETE, NOTIFY, discovery and group fan-out.
//! - [`address`]: `to` → resource, originator normalisation.
//! - [`access`]: access control policy evaluation.
//! - [`authentication`]: authenticated originators (the door verifies, this decides).
//! - [`attributes`]: attribute definitions and request validation.
//! - [`registry`] and [`resources`]: one module per resource type.
//! - [`content`]: result content (`rcn`) shaping of responses.
//! - [`notify`]: subscription matching and notification delivery.
//! - [`outbox`]: notifications recorded with their event, re-delivered after a crash.
//! - [`expiry`]: the background sweeper for expired resources.
//! - [`polling`]: mailboxes of pollingChannels for entities the CSE cannot reach.

pub mod access;
pub mod address;
pub mod attributes;
pub mod audit;
pub mod authentication;
pub mod batch;
pub mod config;
pub mod content;
pub mod cron;
pub mod expiry;
pub mod ids;
pub mod notify;
pub mod ops;
pub mod outbox;
pub mod pipeline;
pub mod polling;
pub mod rate_limit;
pub mod registry;
pub mod resources;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub use config::CseConfig;
pub use notify::Transport;
use urbis_model::{CseResult, Request, Response};
use urbis_store::Store;

/// A running CSE. Cheap to clone; every clone is the same CSE.
#[derive(Clone)]
pub struct Cse {
    inner: Arc<Inner>,
}

struct Inner {
    config: CseConfig,
    store: Arc<dyn Store>,
    notifier: notify::Notifier,
    outbox: outbox::Outbox,
    mailboxes: Arc<polling::Mailboxes>,
    missing_data: resources::time_series::monitor::Monitor,
    rate_limiter: rate_limit::RateLimiter,
    /// Run-time adjustable (the upper tester shortens them for test suites).
    max_expiration_secs: AtomicU64,
    expiration_check_ms: AtomicU64,
    long_poll_ms: AtomicU64,
}

impl Cse {
    /// Open the CSE on a store: creates the CSEBase on first start. Call
    /// [`Cse::start_background`] from inside a Tokio runtime to run the sweeper.
    pub fn open(config: CseConfig, store: Arc<dyn Store>) -> CseResult<Cse> {
        config.validate().map_err(urbis_model::CseError::internal)?;
        // Nodes sharing the store share the mailboxes too: an entity may poll
        // any of them.
        let shared_mailboxes = match store.shared_by_nodes() {
            true => store.mailboxes(),
            false => None,
        };
        let mailboxes = Arc::new(match shared_mailboxes {
            Some(shared) => polling::Mailboxes::shared(config.notification_timeout_ms, shared),
            None => polling::Mailboxes::new(config.notification_timeout_ms),
        });
        let cse = Cse {
            inner: Arc::new(Inner {
                long_poll_ms: AtomicU64::new(config.long_poll_ms),
                mailboxes: mailboxes.clone(),
                missing_data: Default::default(),
                max_expiration_secs: AtomicU64::new(config.max_expiration_secs),
                expiration_check_ms: AtomicU64::new(config.expiration_check_ms),
                notifier: notify::Notifier::new(config.notification_timeout_ms),
                outbox: Default::default(),
                rate_limiter: rate_limit::RateLimiter::new(
                    config.rate_limit_per_second,
                    config.rate_limit_burst,
                ),
                config,
                store,
            }),
        };
        cse.add_transport(Arc::new(polling::PollingTransport { mailboxes }));
        resources::cse_base::ensure(&cse)?;
        Ok(cse)
    }

    /// Start background work (expiry sweeper). Needs a Tokio runtime.
    pub fn start_background(&self) {
        expiry::spawn_sweeper(self.clone());
        outbox::spawn_recovery(self.clone());
        batch::spawn_sweep(self.clone());
        resources::time_series::monitor::spawn_adoption(self.clone());
        resources::mgmt_obj::actions::resume(self);
    }

    /// Register an outgoing transport (e.g. the HTTP client) for notifications.
    pub fn add_transport(&self, transport: Arc<dyn Transport>) {
        self.inner.notifier.add_transport(transport);
    }

    /// Process one request primitive from a binding (counted against its
    /// originator's rate limit). Never fails: errors become error responses.
    pub async fn handle(&self, request: Request) -> Response {
        pipeline::handle_inbound(self, request).await
    }

    pub(crate) fn rate_limiter(&self) -> &rate_limit::RateLimiter {
        &self.inner.rate_limiter
    }

    pub fn config(&self) -> &CseConfig {
        &self.inner.config
    }

    pub fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    pub(crate) fn notifier(&self) -> &notify::Notifier {
        &self.inner.notifier
    }

    pub(crate) fn outbox(&self) -> &outbox::Outbox {
        &self.inner.outbox
    }

    pub(crate) fn mailboxes(&self) -> &polling::Mailboxes {
        &self.inner.mailboxes
    }

    /// How long a `pcu` RETRIEVE without `rqet` waits for requests.
    pub fn long_poll_ms(&self) -> u64 {
        self.inner.long_poll_ms.load(Ordering::Relaxed)
    }

    /// Change [`Cse::long_poll_ms`] at run time; returns the previous value.
    pub fn set_long_poll_ms(&self, ms: u64) -> u64 {
        self.inner.long_poll_ms.swap(ms.max(1), Ordering::Relaxed)
    }

    pub(crate) fn missing_data(&self) -> &resources::time_series::monitor::Monitor {
        &self.inner.missing_data
    }

    pub fn max_expiration_secs(&self) -> u64 {
        self.inner.max_expiration_secs.load(Ordering::Relaxed)
    }

    pub fn expiration_check_ms(&self) -> u64 {
        self.inner.expiration_check_ms.load(Ordering::Relaxed)
    }

    /// Change expiration limits at run time; returns the previous values
    /// `(check interval ms, max expiration s)`.
    pub fn set_expiration_limits(&self, check_ms: u64, max_secs: u64) -> (u64, u64) {
        let old_check = self
            .inner
            .expiration_check_ms
            .swap(check_ms.max(10), Ordering::Relaxed);
        let old_max = self
            .inner
            .max_expiration_secs
            .swap(max_secs.max(1), Ordering::Relaxed);
        (old_check, old_max)
    }

    /// The SP-relative ID of a local resource ID (`/id-in/<ri>`).
    pub fn sp_relative(&self, ri: &str) -> String {
        format!("{}/{}", self.inner.config.cse_id, ri)
    }
}
