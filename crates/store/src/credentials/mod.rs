//! Credentials of originators and enrolments of devices, beside the resource
//! tree: secrets never become resources (they would be discoverable and
//! retrievable), and they change rarely. Two implementations, like the
//! resource store: [`SqliteCredentials`] (its own file, `credentials.db`, in
//! the data directory) and [`PostgresCredentials`] (tables `urbis_credentials`
//! and `urbis_enrolments` in the same database).
//!
//! Only hashes of secrets are stored (argon2 PHC strings, made by
//! `urbis-security`); a client certificate's credential holds no secret, its
//! ID is the certificate's SHA-256 fingerprint.

mod postgres;
mod sqlite;

pub use postgres::PostgresCredentials;
pub use sqlite::SqliteCredentials;

use crate::StoreResult;

/// How a credential is presented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialKind {
    /// HTTP Basic: the originator as user name, and a password.
    Password,
    /// HTTP Bearer: `<credential ID>.<secret>`.
    Token,
    /// A TLS client certificate; the credential ID is its SHA-256 fingerprint.
    Certificate,
}

impl CredentialKind {
    pub fn name(self) -> &'static str {
        match self {
            CredentialKind::Password => "password",
            CredentialKind::Token => "token",
            CredentialKind::Certificate => "certificate",
        }
    }

    pub fn from_name(name: &str) -> Option<CredentialKind> {
        [
            CredentialKind::Password,
            CredentialKind::Token,
            CredentialKind::Certificate,
        ]
        .into_iter()
        .find(|kind| kind.name() == name)
    }
}

/// One credential, bound to one originator. Times are Unix seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credential {
    pub id: String,
    pub originator: String,
    pub kind: CredentialKind,
    /// argon2 PHC string of the secret; empty for certificates.
    pub secret_hash: String,
    /// What the operator called it (or the enrolled device).
    pub label: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

impl Credential {
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }
}

/// A device an operator pre-registered, with its one-time enrolment secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enrolment {
    /// Serial number or M2M-Node-ID, as the operator named the device.
    pub device: String,
    /// The AE-ID the device receives.
    pub originator: String,
    pub secret_hash: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub redeemed_at: Option<i64>,
    /// The credential issued when the secret was redeemed.
    pub credential_id: Option<String>,
}

/// Persistent credentials and enrolments. Methods block briefly (one indexed
/// statement); callers on Tokio workers may call them like store readers.
pub trait CredentialStore: Send + Sync + 'static {
    /// Add a credential; a clash of IDs is [`crate::StoreError::Duplicate`].
    fn add_credential(&self, credential: &Credential) -> StoreResult<()>;
    fn credential(&self, id: &str) -> StoreResult<Option<Credential>>;
    /// Active and revoked credentials of one originator, oldest first.
    fn credentials_of(&self, originator: &str) -> StoreResult<Vec<Credential>>;
    /// Every credential, oldest first.
    fn credentials(&self) -> StoreResult<Vec<Credential>>;
    /// Revoke one credential (if active); whether it was.
    fn revoke_credential(&self, id: &str, at: i64) -> StoreResult<bool>;
    /// Revoke every active credential of an originator; how many.
    fn revoke_originator(&self, originator: &str, at: i64) -> StoreResult<usize>;

    /// Pre-register a device. One that is already pre-registered and not yet
    /// redeemed gets the new secret (the old one is void); a redeemed one is
    /// [`crate::StoreError::Duplicate`].
    fn add_enrolment(&self, enrolment: &Enrolment) -> StoreResult<()>;
    fn enrolment(&self, device: &str) -> StoreResult<Option<Enrolment>>;
    fn enrolments(&self) -> StoreResult<Vec<Enrolment>>;
    /// Mark the device's enrolment redeemed and add its credential, in one
    /// transaction; `false` (nothing written) if it was redeemed already or
    /// expired by `at`.
    fn redeem_enrolment(&self, device: &str, at: i64, credential: &Credential)
        -> StoreResult<bool>;
    /// A short description for logs.
    fn describe(&self) -> String;
}

#[cfg(test)]
mod tests;
