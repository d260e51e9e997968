//! Generated identifiers.
//!
//! Resource IDs are time-ordered: a fixed-width base-62 microsecond clock that
//! never goes backwards in this process, then random characters. New rows thus
//! land at the right edge of the store's ID and path indexes, so a group
//! commit dirties a few index pages instead of one random page per insert;
//! the random tail keeps IDs from different nodes apart.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// 62^9 microseconds is about 400 years: fixed width keeps string order = time order.
const CLOCK_DIGITS: usize = 9;
const RANDOM_DIGITS: usize = 4;

static LAST_TICK: AtomicU64 = AtomicU64::new(0);

/// Microseconds since the epoch, strictly increasing across calls.
fn next_tick() -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0);
    let mut last = LAST_TICK.load(Ordering::Relaxed);
    loop {
        let next = now.max(last + 1);
        match LAST_TICK.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

/// A random alphanumeric string of `len` characters.
pub fn random_suffix_of(len: usize) -> String {
    (0..len).map(|_| fastrand::alphanumeric()).collect()
}

/// A new resource ID with the type's prefix (`cin` + clock + random).
pub fn resource_id(prefix: &str) -> String {
    let mut tick = next_tick();
    let mut clock = [b'0'; CLOCK_DIGITS];
    for digit in clock.iter_mut().rev() {
        *digit = BASE62[(tick % 62) as usize];
        tick /= 62;
    }
    let mut out = String::with_capacity(prefix.len() + CLOCK_DIGITS + RANDOM_DIGITS);
    out.push_str(prefix);
    out.extend(clock.iter().map(|b| *b as char));
    out.push_str(&random_suffix_of(RANDOM_DIGITS));
    out
}

/// A request identifier for requests the CSE originates.
pub fn request_id() -> String {
    format!("urbis-{}", random_suffix_of(12))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_in_creation_order_and_are_unique() {
        let ids: Vec<String> = (0..10_000).map(|_| resource_id("cin")).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted, "string order is creation order");
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len());
        assert!(ids[0].starts_with("cin") && ids[0].len() == 3 + CLOCK_DIGITS + RANDOM_DIGITS);
    }
}
