//! Values a mgmtObj attribute may take beyond its basic type: the
//! enumerations (TS-0004 §6.3.4, TS-0022) and the structure of the complex
//! types the attribute table only knows as "object" or "list".

use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::RangeInclusive;

use serde_json::{Map, Value};
use urbis_model::{Attrs, CseError, CseResult};

/// m2m:batteryStatus: normal, charging, charging complete, damaged, low,
/// not installed, unknown.
pub const BATTERY_STATUS: &[u64] = &[1, 2, 3, 4, 5, 6, 7];
/// m2m:logTypeId: system, security, event, trace, panic.
pub const LOG_TYPE: &[u64] = &[1, 2, 3, 4, 5];
/// m2m:logStatus: started, stopped, unknown, not present, error.
pub const LOG_STATUS: &[u64] = &[1, 2, 3, 4, 5];
/// m2m:status of an action: uninitialized, successful, failure, in process.
pub const ACTION_STATUS: &[u64] = &[0, 1, 2, 3];
/// m2m:suid: what a credential is for (pre-provisioned, RSPF- or
/// MAF-provisioned symmetric keys; certificates).
pub const SUIDS: &[u64] = &[
    10, 11, 12, 13, 14, 15, 21, 22, 23, 24, 25, 32, 33, 34, 35, 40, 41, 42, 43, 44, 45,
];
/// dcfg:wifiEncryptionType: none, WEP, WPA/WPA2/WPA3 Personal, WPA/WPA2/WPA3 Enterprise.
pub const WIFI_ENCRYPTION: &[u64] = &[1, 2, 3, 4, 5, 6, 7, 8];
/// dcfg:wifiConnectionStatus: disconnected, connected, idle, no SSID,
/// scan completed, failed, lost.
pub const WIFI_CONNECTION_STATUS: &[u64] = &[0, 1, 2, 3, 4, 5, 6];
/// dcfg:simStatus: inactive, active.
pub const SIM_STATUS: &[u64] = &[0, 1];
/// dcfg:simType: UICC, removable eUICC, soldered eUICC, iUICC.
pub const SIM_TYPE: &[u64] = &[0, 1, 2, 3];
/// dcfg:cellularNetworkBearer: GSM, TD-SCDMA, WCDMA, CDMA2000, WiMAX,
/// LTE-TDD, LTE-FDD, NB-IoT.
pub const CELLULAR_BEARER: &[u64] = &[0, 1, 2, 3, 4, 5, 6, 7];
/// dcfg:coverageEnhancementLevel: none, levels 0 to 3.
pub const COVERAGE_ENHANCEMENT: &[u64] = &[0, 1, 2, 3, 4];

/// An action status nobody has acted on yet (`sus` 0, uninitialized).
pub fn idle_action_status() -> Value {
    serde_json::json!({"acn": "", "sus": 0})
}

/// Check the complex-typed attributes of a request. Null (removal) passes.
pub fn check(attrs: &Attrs) -> CseResult<()> {
    for (sn, value) in attrs {
        if value.is_null() {
            continue;
        }
        let well_formed = match sn.as_str() {
            "uds" | "ins" | "acts" | "cas" => action_status(value),
            "rpsc" | "mesc" => schedule_entries(value),
            "ipad" | "ripa" => ip_addresses(value),
            "wcrds" => wifi_credentials(value),
            "cmlk" => mgmt_link_refs(value),
            "imsi" => digits(value, 6..=15),
            "icid" => digits(value, 18..=22),
            _ => true,
        };
        if !well_formed {
            return Err(CseError::bad_request(format!(
                "attribute {sn} is malformed: {value}"
            )));
        }
    }
    Ok(())
}

/// A member of a complex type and the check its value must pass.
type Member<'a> = (&'a str, fn(&Value) -> bool);

/// An object with only the named members, each of the right shape.
fn members<'v>(value: &'v Value, allowed: &[Member<'_>]) -> Option<&'v Map<String, Value>> {
    let object = value.as_object()?;
    object
        .iter()
        .all(|(k, v)| allowed.iter().any(|(name, ok)| name == k && ok(v)))
        .then_some(object)
}

fn is_str(v: &Value) -> bool {
    v.is_string()
}

fn is_u64(v: &Value) -> bool {
    v.is_u64()
}

/// m2m:actionStatus: `acn` (the action) and `sus` (its m2m:status).
fn action_status(value: &Value) -> bool {
    fn status(v: &Value) -> bool {
        v.as_u64().is_some_and(|n| ACTION_STATUS.contains(&n))
    }
    members(value, &[("acn", is_str), ("sus", status)]).is_some()
}

/// A list of m2m:scheduleEntries: each `{"sce": [schedule, ...]}` with at
/// least one schedule of seven cron-like fields.
fn schedule_entries(value: &Value) -> bool {
    fn entries(v: &Value) -> bool {
        v.as_array().is_some_and(|list| {
            !list.is_empty()
                && list
                    .iter()
                    .all(|s| s.as_str().is_some_and(crate::cron::is_valid))
        })
    }
    value.as_array().is_some_and(|list| {
        list.iter()
            .all(|entry| members(entry, &[("sce", entries)]).is_some_and(|m| m.contains_key("sce")))
    })
}

/// A list of m2m:ipAddress: `ip4` and/or `ip6`, at least one.
fn ip_addresses(value: &Value) -> bool {
    fn ip4(v: &Value) -> bool {
        v.as_str().is_some_and(|s| s.parse::<Ipv4Addr>().is_ok())
    }
    fn ip6(v: &Value) -> bool {
        v.as_str().is_some_and(|s| s.parse::<Ipv6Addr>().is_ok())
    }
    value.as_array().is_some_and(|list| {
        list.iter().all(|entry| {
            members(entry, &[("ip4", ip4), ("ip6", ip6)]).is_some_and(|m| !m.is_empty())
        })
    })
}

/// dcfg:wifiCredentials: the encryption type (`enct`) and the secrets it
/// needs; which secrets go with which type is a rule of [`super::rules`].
fn wifi_credentials(value: &Value) -> bool {
    fn enct(v: &Value) -> bool {
        v.as_u64().is_some_and(|n| WIFI_ENCRYPTION.contains(&n))
    }
    members(
        value,
        &[
            ("enct", enct),
            ("unm", is_str),
            ("pwd", is_str),
            ("wepk", is_str),
            ("wpap", is_str),
        ],
    )
    .is_some_and(|m| m.contains_key("enct"))
}

/// A list of m2m:mgmtLinkRef: a link (`val`) with an optional name and type.
fn mgmt_link_refs(value: &Value) -> bool {
    value.as_array().is_some_and(|list| {
        list.iter().all(|entry| {
            members(entry, &[("nm", is_str), ("val", is_str), ("typ", is_u64)])
                .is_some_and(|m| m.contains_key("val"))
        })
    })
}

/// A string of decimal digits (IMSI: E.212, ICCID: E.118).
fn digits(value: &Value, length: RangeInclusive<usize>) -> bool {
    value
        .as_str()
        .is_some_and(|s| length.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(attrs: Value) -> bool {
        check(attrs.as_object().unwrap()).is_ok()
    }

    #[test]
    fn action_statuses() {
        assert!(ok(json!({"uds": idle_action_status()})));
        assert!(ok(json!({"cas": {"acn": "anAction", "sus": 1}})));
        assert!(
            !ok(json!({"cas": {"acn": "x", "sus": 9}})),
            "unknown status"
        );
        assert!(
            !ok(json!({"uds": {"acn": "x", "extra": 1}})),
            "unknown member"
        );
        assert!(!ok(json!({"uds": [1]})));
    }

    #[test]
    fn schedules() {
        assert!(ok(json!({"rpsc": [{"sce": ["10 * * * * * *"]}]})));
        assert!(ok(json!({"mesc": []})));
        assert!(!ok(json!({"rpsc": [10]})), "entries are objects");
        assert!(
            !ok(json!({"rpsc": [{"sce": ["10 * * * *"]}]})),
            "seven fields"
        );
        assert!(
            !ok(json!({"mesc": [{"sce": "10 * * * * * *"}]})),
            "sce is a list"
        );
        assert!(!ok(json!({"mesc": [{"sce": []}]})), "at least one schedule");
        assert!(!ok(json!({"mesc": 10000})));
    }

    #[test]
    fn addresses_and_identities() {
        assert!(ok(
            json!({"ipad": [{"ip4": "192.168.1.10"}, {"ip6": "fe80::1"}]})
        ));
        assert!(!ok(json!({"ipad": [{"ip4": "300.1.1.1"}]})));
        assert!(!ok(json!({"ripa": [{}]})), "one address at least");
        assert!(ok(
            json!({"imsi": "123456789012345", "icid": "12345678901234567890"})
        ));
        assert!(
            !ok(json!({"imsi": "12345678901234567"})),
            "IMSI has at most 15 digits"
        );
        assert!(!ok(json!({"icid": "1234abcd"})));
    }

    #[test]
    fn wifi_credentials_and_links() {
        assert!(ok(json!({"wcrds": {"enct": 8, "unm": "u", "pwd": "p"}})));
        assert!(!ok(json!({"wcrds": {"unm": "u"}})), "enct is mandatory");
        assert!(!ok(json!({"wcrds": {"enct": 9}})));
        assert!(ok(
            json!({"cmlk": [{"nm": "fw", "val": "cse-in/nod/fw", "typ": 13}]})
        ));
        assert!(!ok(json!({"cmlk": [{"nm": "fw"}]})), "val is mandatory");
    }
}
