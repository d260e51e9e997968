//! `acco`: the circumstances under which an access control rule applies
//! (TS-0001 §9.6.2, TS-0004 `m2m:accessControlContexts`).
//!
//! A rule with contexts applies when at least one of its contexts holds. A
//! context holds when every condition it sets holds; a condition that lists
//! alternatives holds when one of them does:
//! - `actw`: the current time (UTC) falls in one of the windows;
//! - `acip`: the request came from one of the `ipv4` / `ipv6` addresses or
//!   CIDR ranges. A request whose address the binding cannot know (MQTT,
//!   where requests arrive through the broker) or that the CSE makes itself
//!   matches no range.
//! - `aclr` (location), `acui`, `acec`, `acl`: not evaluated by this CSE,
//!   so a context that sets one of them does not hold (closed rather than
//!   open).

use std::net::IpAddr;

use jiff::Zoned;
use serde_json::Value;

/// Whether the rule's `acco` lets it apply to a request from `address` at `now`.
pub(super) fn hold(acco: Option<&Value>, address: Option<IpAddr>, now: &Zoned) -> bool {
    let Some(contexts) = acco.and_then(Value::as_array) else {
        return true;
    };
    contexts.is_empty()
        || contexts
            .iter()
            .any(|context| context_holds(context, address, now))
}

fn context_holds(context: &Value, address: Option<IpAddr>, now: &Zoned) -> bool {
    let Some(conditions) = context.as_object() else {
        return false;
    };
    conditions
        .iter()
        .all(|(name, condition)| match name.as_str() {
            "actw" => condition
                .as_array()
                .is_some_and(|windows| in_window(windows, now)),
            "acip" => address.is_some_and(|address| from_range(condition, address)),
            _ => false,
        })
}

fn in_window(windows: &[Value], now: &Zoned) -> bool {
    windows
        .iter()
        .filter_map(Value::as_str)
        .any(|window| crate::cron::matches(window, now))
}

/// `acip` `{ipv4: [...], ipv6: [...]}` against the request's address. An
/// IPv4 client seen through an IPv6 socket (`::ffff:a.b.c.d`) is the IPv4
/// client it is.
fn from_range(acip: &Value, address: IpAddr) -> bool {
    let address = address.to_canonical();
    let family = if address.is_ipv4() { "ipv4" } else { "ipv6" };
    acip.get(family)
        .and_then(Value::as_array)
        .is_some_and(|ranges| {
            ranges
                .iter()
                .filter_map(Value::as_str)
                .filter_map(|text| IpRange::parse(text, family))
                .any(|range| range.contains(address))
        })
}

/// One `acip` entry: an address, or a CIDR range `address/prefix`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct IpRange {
    network: IpAddr,
    prefix: u8,
}

impl IpRange {
    /// `family` is `ipv4` or `ipv6`, the list the entry is in.
    fn parse(text: &str, family: &str) -> Option<IpRange> {
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text.trim(), None),
        };
        let network: IpAddr = address.parse().ok()?;
        let bits = match (network, family) {
            (IpAddr::V4(_), "ipv4") => 32,
            (IpAddr::V6(_), "ipv6") => 128,
            _ => return None,
        };
        let prefix = match prefix {
            // digits only: `u8::from_str` would also take `+24`
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok()?,
            Some(_) => return None,
            None => bits,
        };
        (prefix <= bits).then_some(IpRange { network, prefix })
    }

    fn contains(&self, address: IpAddr) -> bool {
        match (self.network, address) {
            (IpAddr::V4(network), IpAddr::V4(address)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(network) & mask == u32::from(address) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(address)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(network) & mask == u128::from(address) & mask
            }
            _ => false,
        }
    }
}

/// Check the structure of one rule's `acco`; the reason when it is wrong.
pub(super) fn validate(acco: &Value) -> Result<(), String> {
    let contexts = acco.as_array().ok_or("acco must be a list")?;
    for context in contexts {
        let conditions = context.as_object().ok_or("acco entries must be objects")?;
        for (name, condition) in conditions {
            match name.as_str() {
                "actw" => validate_windows(condition)?,
                "acip" => validate_ranges(condition)?,
                "aclr" => {
                    if !condition.is_object() {
                        return Err("aclr must be an object".into());
                    }
                }
                // defined by the standard; accepted, never satisfied (see above)
                "acui" | "acec" | "acl" => {}
                other => return Err(format!("unknown access control context {other}")),
            }
        }
    }
    Ok(())
}

fn validate_windows(windows: &Value) -> Result<(), String> {
    let windows = windows.as_array().ok_or("actw must be a list")?;
    if windows
        .iter()
        .all(|w| w.as_str().is_some_and(crate::cron::is_valid))
    {
        Ok(())
    } else {
        Err("actw entries must be 7-field schedule strings".into())
    }
}

fn validate_ranges(acip: &Value) -> Result<(), String> {
    let families = acip
        .as_object()
        .ok_or("acip must be an object with ipv4 and/or ipv6")?;
    for (family, ranges) in families {
        if family != "ipv4" && family != "ipv6" {
            return Err(format!("acip has no member {family} (ipv4, ipv6)"));
        }
        let ranges = ranges
            .as_array()
            .ok_or_else(|| format!("acip/{family} must be a list"))?;
        for range in ranges {
            let valid = range
                .as_str()
                .is_some_and(|text| IpRange::parse(text, family).is_some());
            if !valid {
                return Err(format!(
                    "acip/{family} entries must be {family} addresses or CIDR ranges, got {range}"
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Zoned {
        jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC)
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn cidr_ranges() {
        let range = IpRange::parse("192.168.1.0/24", "ipv4").unwrap();
        assert!(range.contains("192.168.1.77".parse().unwrap()));
        assert!(!range.contains("192.168.2.1".parse().unwrap()));
        let everything = IpRange::parse("0.0.0.0/0", "ipv4").unwrap();
        assert!(everything.contains("8.8.8.8".parse().unwrap()));
        let one = IpRange::parse("10.0.0.1", "ipv4").unwrap();
        assert!(one.contains("10.0.0.1".parse().unwrap()));
        assert!(!one.contains("10.0.0.2".parse().unwrap()));
        let v6 = IpRange::parse("2001:db8::/32", "ipv6").unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!v6.contains("2001:db9::5".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        for bad in ["10.0.0.0/33", "10.0.0.0/", "10.0.0.0/+8", "10.0.0", "::1"] {
            assert_eq!(IpRange::parse(bad, "ipv4"), None, "{bad}");
        }
        assert_eq!(IpRange::parse("10.0.0.1", "ipv6"), None);
    }

    #[test]
    fn ip_contexts() {
        let acco = json!([{"acip": {"ipv4": ["127.0.0.0/8"], "ipv6": ["::1"]}}]);
        assert!(hold(Some(&acco), ip("127.0.0.1"), &now()));
        assert!(hold(Some(&acco), ip("::1"), &now()));
        assert!(
            hold(Some(&acco), ip("::ffff:127.0.0.9"), &now()),
            "IPv4-mapped"
        );
        assert!(!hold(Some(&acco), ip("10.1.1.1"), &now()));
        assert!(!hold(Some(&acco), None, &now()), "no address, no match");
    }

    #[test]
    fn conditions_of_one_context_all_hold() {
        let both = json!([{"actw": ["* * * * * * *"], "acip": {"ipv4": ["10.0.0.0/8"]}}]);
        assert!(hold(Some(&both), ip("10.2.3.4"), &now()));
        assert!(!hold(Some(&both), ip("11.2.3.4"), &now()));
        let closed_window =
            json!([{"actw": ["* * * * * * 1984"], "acip": {"ipv4": ["10.0.0.0/8"]}}]);
        assert!(!hold(Some(&closed_window), ip("10.2.3.4"), &now()));
        let either = json!([{"actw": ["* * * * * * 1984"]}, {"acip": {"ipv4": ["10.0.0.0/8"]}}]);
        assert!(hold(Some(&either), ip("10.2.3.4"), &now()));
    }

    #[test]
    fn unevaluated_contexts_do_not_hold() {
        let region = json!([{"aclr": {"accc": ["FR"]}}]);
        assert!(!hold(Some(&region), ip("10.0.0.1"), &now()));
        let users = json!([{"acui": ["alice"]}]);
        assert!(!hold(Some(&users), ip("10.0.0.1"), &now()));
        assert!(hold(Some(&json!([])), None, &now()));
        assert!(hold(None, None, &now()));
    }

    #[test]
    fn validation() {
        assert!(
            validate(&json!([{"acip": {"ipv4": ["10.0.0.0/8"], "ipv6": ["fe80::/10"]}}])).is_ok()
        );
        assert!(validate(&json!([{"acip": {"ipv4": ["fe80::1"]}}])).is_err());
        assert!(validate(&json!([{"acip": {"ipv5": []}}])).is_err());
        assert!(validate(&json!([{"acip": ["10.0.0.1"]}])).is_err());
        assert!(validate(&json!([{"aclr": {"accr": [1.0, 2.0, 3.0]}}])).is_ok());
        assert!(validate(&json!([{"actw": ["bogus"]}])).is_err());
        assert!(validate(&json!([{"color": "red"}])).is_err());
        assert!(validate(&json!({"actw": []})).is_err());
    }
}
