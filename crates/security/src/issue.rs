//! Credentials an operator creates for an originator (`urbis credentials add`).

use urbis_store::credentials::{Credential, CredentialKind, CredentialStore};

use crate::{now_secs, secret, SecurityError};

fn check_originator(originator: &str) -> Result<(), SecurityError> {
    if originator.is_empty() || originator.contains(char::is_whitespace) || originator.contains(':')
    {
        return Err(SecurityError::Invalid(format!(
            "{originator:?} cannot be an originator of a credential (empty, blank or ':')"
        )));
    }
    Ok(())
}

/// A password for HTTP Basic (user name = `originator`).
pub fn password(
    store: &dyn CredentialStore,
    originator: &str,
    password: &str,
    label: &str,
) -> Result<Credential, SecurityError> {
    check_originator(originator)?;
    if password.len() < 6 {
        return Err(SecurityError::Invalid(
            "a password needs at least 6 characters".into(),
        ));
    }
    let credential = Credential {
        id: secret::random_id()?,
        originator: originator.to_owned(),
        kind: CredentialKind::Password,
        secret_hash: secret::hash(password)?,
        label: label.to_owned(),
        created_at: now_secs(),
        revoked_at: None,
    };
    store.add_credential(&credential)?;
    Ok(credential)
}

/// A new token; returns the credential and the token (`<ID>.<secret>`),
/// which exists nowhere else afterwards.
pub fn token(
    store: &dyn CredentialStore,
    originator: &str,
    label: &str,
) -> Result<(Credential, String), SecurityError> {
    let (credential, token) = new_token(originator, label)?;
    store.add_credential(&credential)?;
    Ok((credential, token))
}

/// A token credential not yet stored (enrolment stores it with its redemption).
pub(crate) fn new_token(
    originator: &str,
    label: &str,
) -> Result<(Credential, String), SecurityError> {
    check_originator(originator)?;
    let id = secret::random_id()?;
    let secret = secret::random_secret()?;
    let credential = Credential {
        id: id.clone(),
        originator: originator.to_owned(),
        kind: CredentialKind::Token,
        secret_hash: secret::hash(&secret)?,
        label: label.to_owned(),
        created_at: now_secs(),
        revoked_at: None,
    };
    Ok((credential, format!("{id}.{secret}")))
}

/// Bind a client certificate (PEM or DER bytes of the end-entity
/// certificate) to `originator`. It must also chain to the configured client
/// CA to be accepted at all.
pub fn certificate(
    store: &dyn CredentialStore,
    originator: &str,
    der: &[u8],
    label: &str,
) -> Result<Credential, SecurityError> {
    check_originator(originator)?;
    let credential = Credential {
        id: crate::tls::fingerprint(der),
        originator: originator.to_owned(),
        kind: CredentialKind::Certificate,
        secret_hash: String::new(),
        label: label.to_owned(),
        created_at: now_secs(),
        revoked_at: None,
    };
    store.add_credential(&credential)?;
    Ok(credential)
}
