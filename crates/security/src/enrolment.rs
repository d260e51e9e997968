//! Enrolment of devices, in the spirit of TS-0003 remote security
//! provisioning: an operator pre-registers a device and hands it a one-time
//! secret out of band; the device presents the secret once, over TLS, and
//! receives its AE-ID and a long-lived token (docs/security.md, "Enrolment").

use std::time::Duration;

use urbis_store::credentials::{CredentialStore, Enrolment};

use crate::{issue, now_secs, secret, SecurityError};

/// What the operator hands to the device.
#[derive(Debug)]
pub struct EnrolmentSecret {
    pub device: String,
    pub originator: String,
    pub secret: String,
    pub expires_at: i64,
}

/// What the device receives when it redeems its secret.
#[derive(Debug)]
pub struct Enrolled {
    pub device: String,
    pub originator: String,
    pub credential_id: String,
    /// Bearer token, `<credential ID>.<secret>`: shown this once.
    pub token: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EnrolmentFailure {
    #[error("no such device is pre-registered, or the secret is wrong")]
    Refused,
    #[error("the enrolment secret has expired")]
    Expired,
    #[error("the enrolment secret was used already")]
    AlreadyUsed,
    #[error(transparent)]
    Internal(#[from] SecurityError),
}

/// The AE-ID a device gets unless the operator names one: `C` + its name,
/// when that name is usable in an ID.
fn default_originator(device: &str) -> Result<String, SecurityError> {
    let usable = !device.is_empty()
        && device
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if usable {
        Ok(format!("C{device}"))
    } else {
        Err(SecurityError::Invalid(format!(
            "device {device:?} has characters an AE-ID cannot carry: name its originator"
        )))
    }
}

/// Pre-register `device` (serial number or M2M-Node-ID); returns the one-time
/// secret, valid for `valid_for`. A device pre-registered before but not yet
/// enrolled gets a new secret; the old one is void.
pub fn pre_register(
    store: &dyn CredentialStore,
    device: &str,
    originator: Option<&str>,
    valid_for: Duration,
) -> Result<EnrolmentSecret, SecurityError> {
    let originator = match originator {
        Some(o) if o.starts_with('C') || o.starts_with('S') => o.to_owned(),
        Some(o) => {
            return Err(SecurityError::Invalid(format!(
                "{o} is not an AE-ID (it starts with C or S)"
            )))
        }
        None => default_originator(device)?,
    };
    let secret = secret::random_secret()?;
    let now = now_secs();
    let expires_at = now.saturating_add(valid_for.as_secs() as i64);
    store.add_enrolment(&Enrolment {
        device: device.to_owned(),
        originator: originator.clone(),
        secret_hash: secret::hash(&secret)?,
        created_at: now,
        expires_at,
        redeemed_at: None,
        credential_id: None,
    })?;
    Ok(EnrolmentSecret {
        device: device.to_owned(),
        originator,
        secret,
        expires_at,
    })
}

/// Redeem a device's secret: once, before it expires.
pub async fn redeem(
    store: &dyn CredentialStore,
    device: &str,
    presented: &str,
) -> Result<Enrolled, EnrolmentFailure> {
    let enrolment = store
        .enrolment(device)
        .map_err(SecurityError::from)?
        .ok_or(EnrolmentFailure::Refused)?;
    // the secret first: without it, nobody learns whether a device is used up
    let (presented, hash) = (presented.to_owned(), enrolment.secret_hash.clone());
    let matched = tokio::task::spawn_blocking(move || secret::matches(&presented, &hash))
        .await
        .unwrap_or(false);
    if !matched {
        return Err(EnrolmentFailure::Refused);
    }
    if enrolment.redeemed_at.is_some() {
        return Err(EnrolmentFailure::AlreadyUsed);
    }
    let now = now_secs();
    if enrolment.expires_at <= now {
        return Err(EnrolmentFailure::Expired);
    }
    let (credential, token) =
        issue::new_token(&enrolment.originator, &format!("enrolled device {device}"))?;
    if !store
        .redeem_enrolment(device, now, &credential)
        .map_err(SecurityError::from)?
    {
        // another request redeemed it (or it expired) in the meantime
        return Err(EnrolmentFailure::AlreadyUsed);
    }
    tracing::info!(device, originator = %enrolment.originator, credential = %credential.id, "device enrolled");
    Ok(Enrolled {
        device: device.to_owned(),
        originator: enrolment.originator,
        credential_id: credential.id,
        token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Verifier;
    use std::sync::Arc;
    use urbis_store::credentials::SqliteCredentials;

    const DAY: Duration = Duration::from_secs(86_400);

    #[tokio::test]
    async fn a_secret_is_redeemed_once() {
        let store = Arc::new(SqliteCredentials::in_memory().unwrap());
        let issued = pre_register(store.as_ref(), "SN-1", None, DAY).unwrap();
        assert_eq!(issued.originator, "CSN-1");
        assert!(matches!(
            redeem(store.as_ref(), "SN-1", "guess").await,
            Err(EnrolmentFailure::Refused)
        ));
        let enrolled = redeem(store.as_ref(), "SN-1", &issued.secret)
            .await
            .unwrap();
        assert_eq!(enrolled.originator, "CSN-1");
        let verifier = Verifier::new(store.clone());
        assert_eq!(
            verifier.bearer(&enrolled.token).await.unwrap().originator,
            "CSN-1"
        );
        assert!(matches!(
            redeem(store.as_ref(), "SN-1", &issued.secret).await,
            Err(EnrolmentFailure::AlreadyUsed)
        ));
        assert!(pre_register(store.as_ref(), "SN-1", None, DAY).is_err());
    }

    #[tokio::test]
    async fn expired_and_unknown_secrets_are_refused() {
        let store = SqliteCredentials::in_memory().unwrap();
        let issued = pre_register(&store, "node-7", Some("Cnode7"), Duration::ZERO).unwrap();
        assert!(matches!(
            redeem(&store, "node-7", &issued.secret).await,
            Err(EnrolmentFailure::Expired)
        ));
        assert!(matches!(
            redeem(&store, "node-8", &issued.secret).await,
            Err(EnrolmentFailure::Refused)
        ));
        assert!(pre_register(&store, "bad/serial", None, DAY).is_err());
        assert!(pre_register(&store, "x", Some("admin"), DAY).is_err());
    }
}
