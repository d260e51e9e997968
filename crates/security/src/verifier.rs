//! Credential → originator. Every check reads the credential from the store,
//! so a revocation (even by `urbis credentials` in another process) counts
//! from the next request on. What is cached is only that a presented secret
//! matched a given stored hash: argon2 runs once per secret and hash, not per
//! request, and a changed or revoked credential never matches the cache.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use urbis_store::credentials::{Credential, CredentialKind, CredentialStore};
use urbis_store::StoreError;

use crate::authorization::{self, Presented};
use crate::secret;

/// Secrets proven before; beyond this many the cache starts over.
const PROVEN_CAPACITY: usize = 10_000;

/// A credential the sender proved it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub originator: String,
    pub credential_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthFailure {
    #[error("malformed credentials: {0}")]
    Malformed(&'static str),
    #[error("unknown or revoked credential")]
    Unknown,
    #[error("wrong secret")]
    WrongSecret,
    #[error("credential store: {0}")]
    Store(#[from] StoreError),
}

pub struct Verifier {
    store: Arc<dyn CredentialStore>,
    /// credential ID → (stored hash, SHA-256 of the secret that matched it)
    proven: Mutex<HashMap<String, (String, [u8; 32])>>,
}

impl Verifier {
    pub fn new(store: Arc<dyn CredentialStore>) -> Verifier {
        Verifier {
            store,
            proven: Mutex::new(HashMap::new()),
        }
    }

    pub fn store(&self) -> &dyn CredentialStore {
        self.store.as_ref()
    }

    /// Check the value of an `Authorization` header.
    pub async fn authorization(&self, header: &str) -> Result<Verified, AuthFailure> {
        match authorization::parse(header)? {
            Presented::Basic { user, password } => self.basic(&user, &password).await,
            Presented::Bearer(token) => self.bearer(&token).await,
        }
    }

    /// HTTP Basic: the user name is the originator; the password must match
    /// one of its active password credentials.
    pub async fn basic(&self, originator: &str, password: &str) -> Result<Verified, AuthFailure> {
        for credential in self.store.credentials_of(originator)? {
            if credential.kind == CredentialKind::Password
                && credential.is_active()
                && self.proves(&credential, password).await
            {
                return Ok(verified(credential));
            }
        }
        Err(AuthFailure::WrongSecret)
    }

    /// Bearer: `<credential ID>.<secret>`.
    pub async fn bearer(&self, token: &str) -> Result<Verified, AuthFailure> {
        let (id, secret) = token.split_once('.').ok_or(AuthFailure::Malformed(
            "a token is <credential ID>.<secret>",
        ))?;
        let credential = self.active(id, CredentialKind::Token)?;
        if self.proves(&credential, secret).await {
            Ok(verified(credential))
        } else {
            Err(AuthFailure::WrongSecret)
        }
    }

    /// A client certificate the TLS layer verified against the client CA:
    /// registered to an originator by its fingerprint.
    pub fn certificate(&self, der: &[u8]) -> Result<Verified, AuthFailure> {
        let fingerprint = crate::tls::fingerprint(der);
        self.active(&fingerprint, CredentialKind::Certificate)
            .map(verified)
    }

    /// Whether a credential verified earlier is still active (long-lived
    /// connections check it on every request).
    pub fn still_active(&self, credential_id: &str) -> Result<bool, AuthFailure> {
        Ok(self
            .store
            .credential(credential_id)?
            .is_some_and(|c| c.is_active()))
    }

    fn active(&self, id: &str, kind: CredentialKind) -> Result<Credential, AuthFailure> {
        match self.store.credential(id)? {
            Some(credential) if credential.kind == kind && credential.is_active() => Ok(credential),
            _ => Err(AuthFailure::Unknown),
        }
    }

    async fn proves(&self, credential: &Credential, presented: &str) -> bool {
        let digest = secret::sha256(presented.as_bytes());
        if let Some((hash, proven)) = self.proven.lock().get(&credential.id) {
            if *hash == credential.secret_hash && secret::same(proven, &digest) {
                return true;
            }
        }
        // argon2 is slow on purpose: off the async workers
        let (presented, hash) = (presented.to_owned(), credential.secret_hash.clone());
        let matched = tokio::task::spawn_blocking(move || secret::matches(&presented, &hash))
            .await
            .unwrap_or(false);
        if matched {
            let mut proven = self.proven.lock();
            if proven.len() >= PROVEN_CAPACITY {
                proven.clear();
            }
            proven.insert(
                credential.id.clone(),
                (credential.secret_hash.clone(), digest),
            );
        }
        matched
    }
}

fn verified(credential: Credential) -> Verified {
    Verified {
        originator: credential.originator,
        credential_id: credential.id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::issue;
    use urbis_store::credentials::SqliteCredentials;

    fn verifier() -> Verifier {
        Verifier::new(Arc::new(SqliteCredentials::in_memory().unwrap()))
    }

    #[tokio::test]
    async fn passwords_and_tokens_bind_their_originator() {
        let verifier = verifier();
        issue::password(verifier.store(), "Cmeter", "s3cret", "").unwrap();
        let (_, token) = issue::token(verifier.store(), "Clamp", "").unwrap();
        for _ in 0..2 {
            // the second round is answered from the cache
            let by_password = verifier.basic("Cmeter", "s3cret").await.unwrap();
            assert_eq!(by_password.originator, "Cmeter");
            let by_token = verifier.bearer(&token).await.unwrap();
            assert_eq!(by_token.originator, "Clamp");
        }
        assert!(matches!(
            verifier.basic("Cmeter", "wrong").await,
            Err(AuthFailure::WrongSecret)
        ));
        assert!(matches!(
            verifier.basic("Clamp", "s3cret").await,
            Err(AuthFailure::WrongSecret)
        ));
        let (id, _) = token.split_once('.').unwrap();
        assert!(matches!(
            verifier.bearer(&format!("{id}.00")).await,
            Err(AuthFailure::WrongSecret)
        ));
        assert!(matches!(
            verifier.bearer("nodot").await,
            Err(AuthFailure::Malformed(_))
        ));
    }

    #[tokio::test]
    async fn revocation_beats_the_cache() {
        let verifier = verifier();
        let (credential, token) = issue::token(verifier.store(), "Clamp", "").unwrap();
        verifier.bearer(&token).await.unwrap();
        assert!(verifier.still_active(&credential.id).unwrap());
        verifier
            .store()
            .revoke_credential(&credential.id, crate::now_secs())
            .unwrap();
        assert!(matches!(
            verifier.bearer(&token).await,
            Err(AuthFailure::Unknown)
        ));
        assert!(!verifier.still_active(&credential.id).unwrap());
    }
}
