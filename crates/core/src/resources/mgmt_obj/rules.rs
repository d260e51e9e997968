//! What a specialization adds to its attribute table: values the CSE fills
//! in on CREATE, triggers that exclude each other, attributes that depend on
//! each other, and triggers that read back at rest.
//!
//! Carrying triggers out is [`super::actions`]'s part.

use serde_json::{json, Value};
use urbis_model::{Attrs, CseError, CseResult, Resource};

use super::specializations::{by_mgd, mgd};
use super::values::idle_action_status;

/// Pairs of triggers one request may not both set to true.
const EXCLUSIVE_TRIGGERS: &[(u64, &str, &str)] = &[
    (mgd::REBOOT, "rbo", "far"),
    (mgd::DEVICE_CAPABILITY, "ena", "dis"),
    (mgd::EVENT_LOG, "lga", "lgo"),
    (mgd::SOFTWARE, "in", "un"),
    (mgd::SOFTWARE, "act", "dea"),
];

/// Triggers that always read back at rest, whatever a request wrote. The
/// specifications give them no value to read; these are the reference
/// implementation's (ACME), so clients written against it keep working.
const AT_REST: &[(u64, &str, bool)] = &[
    (mgd::REBOOT, "rbo", false),
    (mgd::REBOOT, "far", false),
    (mgd::DEVICE_CAPABILITY, "ena", true),
    (mgd::DEVICE_CAPABILITY, "dis", true),
    (mgd::WIFI_CLIENT, "trdst", false),
];

/// Fill in what the CSE sets on CREATE: status attributes start
/// uninitialized, triggers at rest.
pub fn complete_create(mgd: u64, resource: &mut Resource) {
    let defaults: Vec<(&str, Value)> = match mgd {
        mgd::FIRMWARE => vec![("uds", idle_action_status())],
        mgd::SOFTWARE => vec![
            ("ins", idle_action_status()),
            ("acts", idle_action_status()),
            ("in", json!(false)),
            ("un", json!(false)),
            ("act", json!(false)),
            ("dea", json!(false)),
        ],
        mgd::EVENT_LOG => vec![("lga", json!(true)), ("lgo", json!(true))],
        mgd::WIFI_CLIENT => vec![
            ("scanr", json!([])),
            ("ud", json!(false)),
            ("uds", idle_action_status()),
            ("rdst", json!(false)),
        ],
        _ => Vec::new(),
    };
    for (sn, value) in defaults {
        resource.attrs.entry(sn).or_insert(value);
    }
    rest_triggers(mgd, resource);
}

/// Put the triggers that read back at rest there (after CREATE and UPDATE).
pub fn rest_triggers(mgd: u64, resource: &mut Resource) {
    for (_, sn, value) in AT_REST.iter().filter(|(m, _, _)| *m == mgd) {
        resource.set(sn, *value);
    }
}

/// Rules on what one request sets.
pub fn check_request(mgd: u64, attrs: &Attrs) -> CseResult<()> {
    let is_true = |sn: &str| attrs.get(sn).and_then(Value::as_bool) == Some(true);
    for (_, a, b) in EXCLUSIVE_TRIGGERS.iter().filter(|(m, _, _)| *m == mgd) {
        if is_true(a) && is_true(b) {
            return Err(CseError::bad_request(format!(
                "[{}]: {a} and {b} cannot both be triggered",
                name(mgd)
            )));
        }
    }
    Ok(())
}

/// Rules on the resource a request would leave behind (the new resource on
/// CREATE, the current one with the changes applied on UPDATE).
pub fn check_state(mgd: u64, state: &Attrs) -> CseResult<()> {
    let present = |sn: &str| state.get(sn).is_some_and(|v| !v.is_null());
    match mgd {
        mgd::DATA_COLLECTION if present("mesc") && present("meil") => {
            Err(CseError::bad_request(
                "[dataCollection]: a measurement schedule (mesc) and a measurement interval (meil) exclude each other",
            ))
        }
        mgd::MY_CERT_FILE_CRED
            if state
                .get("suids")
                .and_then(Value::as_array)
                .is_some_and(Vec::is_empty) =>
        {
            Err(CseError::bad_request(
                "[myCertFileCred]: suids needs at least one value",
            ))
        }
        mgd::WIFI_CLIENT => match state.get("wcrds") {
            Some(wcrds) if !wcrds.is_null() => wifi_secrets(wcrds),
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}

/// Each WiFi encryption type takes exactly its own secrets: a WEP key, a WPA
/// pre-shared key, or an enterprise user name and password; none for an
/// open network.
fn wifi_secrets(wcrds: &Value) -> CseResult<()> {
    let enct = wcrds.get("enct").and_then(Value::as_u64).unwrap_or(0);
    let needed: &[&str] = match enct {
        2 => &["wepk"],
        3..=5 => &["wpap"],
        6..=8 => &["unm", "pwd"],
        _ => &[],
    };
    for secret in ["unm", "pwd", "wepk", "wpap"] {
        let given = wcrds.get(secret).is_some_and(|v| !v.is_null());
        match (needed.contains(&secret), given) {
            (true, false) => {
                return Err(CseError::bad_request(format!(
                    "[wifiClient]: encryption type {enct} needs wcrds/{secret}"
                )))
            }
            (false, true) => {
                return Err(CseError::bad_request(format!(
                    "[wifiClient]: wcrds/{secret} does not go with encryption type {enct}"
                )))
            }
            _ => {}
        }
    }
    Ok(())
}

fn name(mgd: u64) -> &'static str {
    by_mgd(mgd).map_or("mgmtObj", |s| s.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(value: Value) -> Attrs {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn exclusive_triggers() {
        let both = state(json!({"rbo": true, "far": true}));
        assert!(check_request(mgd::REBOOT, &both).is_err());
        assert!(check_request(mgd::REBOOT, &state(json!({"rbo": true, "far": false}))).is_ok());
        assert!(check_request(mgd::MEMORY, &both).is_ok(), "other types");
        assert!(check_request(mgd::SOFTWARE, &state(json!({"act": true, "dea": true}))).is_err());
    }

    #[test]
    fn wifi_secrets_follow_the_encryption_type() {
        let wific = |wcrds: Value| check_state(mgd::WIFI_CLIENT, &state(json!({"wcrds": wcrds})));
        assert!(wific(json!({"enct": 1})).is_ok());
        assert!(wific(json!({"enct": 2, "wepk": "k"})).is_ok());
        assert!(wific(json!({"enct": 4, "wpap": "k"})).is_ok());
        assert!(wific(json!({"enct": 8, "unm": "u", "pwd": "p"})).is_ok());
        assert!(wific(json!({"enct": 2, "unm": "u", "pwd": "p"})).is_err());
        assert!(wific(json!({"enct": 4, "wepk": "k"})).is_err());
        assert!(wific(json!({"enct": 8, "wpap": "k"})).is_err());
        assert!(
            wific(json!({"enct": 7, "unm": "u"})).is_err(),
            "password too"
        );
        assert!(
            wific(json!({"enct": 1, "pwd": "p"})).is_err(),
            "open network"
        );
    }

    #[test]
    fn measurement_schedule_or_interval() {
        let sched = json!([{"sce": ["* * * * * * *"]}]);
        let datc = |v: Value| check_state(mgd::DATA_COLLECTION, &state(v));
        assert!(datc(json!({"mesc": sched})).is_ok());
        assert!(datc(json!({"meil": 10})).is_ok());
        assert!(datc(json!({"mesc": sched, "meil": 10})).is_err());
        assert!(datc(json!({"mesc": null, "meil": 10})).is_ok());
    }

    #[test]
    fn create_defaults_and_triggers_at_rest() {
        let mut rbo = Resource {
            ty: 13,
            path: String::new(),
            creator: String::new(),
            attrs: state(json!({"mgd": 1009, "rbo": true})),
        };
        complete_create(mgd::REBOOT, &mut rbo);
        assert_eq!(rbo.attrs.get("rbo"), Some(&json!(false)));
        assert_eq!(rbo.attrs.get("far"), Some(&json!(false)));
        let mut swr = Resource {
            attrs: state(json!({"mgd": 1002})),
            ..rbo
        };
        complete_create(mgd::SOFTWARE, &mut swr);
        assert_eq!(swr.attrs.get("ins"), Some(&idle_action_status()));
        assert_eq!(swr.attrs.get("in"), Some(&json!(false)));
    }
}
