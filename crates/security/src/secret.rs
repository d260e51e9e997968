//! Random secrets and IDs (from the operating system, through ring) and
//! argon2id hashes of secrets in PHC form (`$argon2id$v=19$m=...`).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use ring::rand::{SecureRandom, SystemRandom};

use crate::SecurityError;

fn random_hex(bytes: usize) -> Result<String, SecurityError> {
    let mut buf = vec![0u8; bytes];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| SecurityError::Random)?;
    Ok(hex(&buf))
}

/// A secret of 256 random bits, as 64 hex digits.
pub fn random_secret() -> Result<String, SecurityError> {
    random_hex(32)
}

/// A credential ID: 64 random bits, as 16 hex digits.
pub fn random_id() -> Result<String, SecurityError> {
    random_hex(8)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The argon2id hash of `secret` with a fresh salt, in PHC form.
pub fn hash(secret: &str) -> Result<String, SecurityError> {
    let mut salt = [0u8; 16];
    SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| SecurityError::Random)?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| SecurityError::Invalid(e.to_string()))?;
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| SecurityError::Invalid(format!("cannot hash a secret: {e}")))
}

/// Whether `secret` is the one `phc` was made from. A malformed `phc` never matches.
pub fn matches(secret: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(secret.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Equality that takes as long whatever the first difference.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_their_secret() {
        let secret = random_secret().unwrap();
        assert_eq!(secret.len(), 64);
        let phc = hash(&secret).unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(matches(&secret, &phc));
        assert!(!matches("wrong", &phc));
        assert!(!matches(&secret, "not a hash"));
        assert_ne!(hash(&secret).unwrap(), phc, "salted");
    }

    #[test]
    fn constant_time_equality() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"ab"));
    }
}
