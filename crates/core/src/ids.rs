//! Generated identifiers.

/// A random alphanumeric suffix; 12 characters give 62^12 ≈ 3·10^21 values, so
/// collisions are not a practical concern (the store refuses them anyway).
pub fn random_suffix() -> String {
    let mut out = String::with_capacity(12);
    for _ in 0..12 {
        out.push(fastrand::alphanumeric());
    }
    out
}

/// A new resource ID with the type's prefix (`cnt` + random).
pub fn resource_id(prefix: &str) -> String {
    format!("{prefix}{}", random_suffix())
}

/// A request identifier for requests the CSE originates.
pub fn request_id() -> String {
    format!("urbis-{}", random_suffix())
}
