//! The CSE's own settings (identity, limits, behaviour switches).

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CseConfig {
    /// CSE-ID, SP-relative (`/id-in`).
    pub cse_id: String,
    /// Resource name of the CSEBase (`cse-in`).
    pub cse_name: String,
    /// Service provider ID without the leading `//`.
    pub sp_id: String,
    /// Originator with full access to everything.
    pub admin_originator: String,
    /// Release versions accepted in `rvi` and listed in the CSEBase `srv`.
    pub release_versions: Vec<String>,
    /// Point of access advertised in the CSEBase `poa` (filled by the server from
    /// its bindings when empty).
    pub point_of_access: Vec<String>,
    /// Longest lifetime a resource may have, in seconds; requests asking for
    /// more are capped; resources without `et` get this lifetime.
    pub max_expiration_secs: u64,
    /// How often expired resources are swept, in milliseconds.
    pub expiration_check_ms: u64,
    /// Send verification requests when a subscription is created (TS-0004 §7.3.8.2.1).
    pub verify_subscriptions: bool,
    /// How long to wait for a notification target to answer, in milliseconds.
    pub notification_timeout_ms: u64,
    /// Most results a discovery returns when the request sets no `lim`.
    pub discovery_limit: u64,
    /// How long a RETRIEVE of a pollingChannel's `pcu` without `rqet` waits
    /// for a request, in milliseconds.
    pub long_poll_ms: u64,
    /// Requests per second each originator may send (a token bucket per
    /// originator; registrations without an originator count per network
    /// address). 0 = no limit.
    pub rate_limit_per_second: u32,
    /// Requests an originator may send at once after a quiet period (the
    /// bucket size); 0 = one second's worth.
    pub rate_limit_burst: u32,
    /// How long a device's management client has to report the outcome of a
    /// management action (firmware update, ...) before it counts as failed,
    /// in milliseconds.
    pub mgmt_action_timeout_ms: u64,
}

impl Default for CseConfig {
    fn default() -> Self {
        CseConfig {
            cse_id: "/id-in".into(),
            cse_name: "cse-in".into(),
            sp_id: "urbis.example.com".into(),
            admin_originator: "CAdmin".into(),
            release_versions: vec!["2a".into(), "3".into(), "4".into(), "5".into()],
            point_of_access: Vec::new(),
            max_expiration_secs: 5 * 365 * 24 * 3600,
            expiration_check_ms: 1000,
            verify_subscriptions: true,
            notification_timeout_ms: 3000,
            discovery_limit: 10_000,
            long_poll_ms: 30_000,
            rate_limit_per_second: 0,
            rate_limit_burst: 0,
            mgmt_action_timeout_ms: 300_000,
        }
    }
}

impl CseConfig {
    /// The CSE-ID without its leading slash (`id-in`); also the CSEBase `ri`.
    pub fn cse_id_bare(&self) -> &str {
        self.cse_id.trim_start_matches('/')
    }

    /// Fail fast on settings that cannot work.
    pub fn validate(&self) -> Result<(), String> {
        let bare = self.cse_id_bare();
        if !self.cse_id.starts_with('/') || bare.is_empty() || bare.contains('/') {
            return Err(format!(
                "cse_id must look like /id-in, got {:?}",
                self.cse_id
            ));
        }
        if self.cse_name.is_empty() || self.cse_name.contains('/') {
            return Err(format!(
                "cse_name must be a single name, got {:?}",
                self.cse_name
            ));
        }
        if self.sp_id.is_empty() || self.sp_id.contains('/') {
            return Err(format!(
                "sp_id must be a name without slashes, got {:?}",
                self.sp_id
            ));
        }
        if self.release_versions.is_empty() {
            return Err("release_versions must not be empty".into());
        }
        if self.admin_originator.is_empty() {
            return Err("admin_originator must not be empty".into());
        }
        Ok(())
    }
}
