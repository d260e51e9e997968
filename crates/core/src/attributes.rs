//! Attribute definitions and the validation every CREATE and UPDATE goes through:
//! which attributes a resource type has, their value types, and whether a request
//! may (or must) set them (TS-0004 §7.4: M / O / NP per operation).

use serde_json::{Map, Value};
use urbis_model::{CseError, CseResult};

/// The value type of an attribute, checked on every write.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum AttrType {
    Str,
    Bool,
    NonNegInt,
    PosInt,
    /// any integer, negative too (signal strengths)
    Int,
    /// one of the listed values of an enumeration (`m2m:batteryStatus`)
    Enum(&'static [u64]),
    /// a list of values of an enumeration
    EnumList(&'static [u64]),
    Timestamp,
    /// list of strings, may be empty
    StrList,
    /// list of strings with at least one element
    NonEmptyStrList,
    /// list of non-negative integers
    IntList,
    /// a JSON object (complex type)
    Object,
    /// any list
    List,
    /// anything (`con`, `pv`, ...): checked by the resource type's hook
    Any,
}

/// May a request carry the attribute?
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Presence {
    Mandatory,
    Optional,
    NotPermitted,
}

#[derive(Copy, Clone, Debug)]
pub struct AttrDef {
    pub sn: &'static str,
    pub ty: AttrType,
    pub on_create: Presence,
    pub on_update: Presence,
}

/// `attr!("mni", NonNegInt, O, O)`, `attr!("bts", Enum(BATTERY_STATUS), M, O)`
#[macro_export]
macro_rules! attr {
    ($sn:literal, $ty:ident($values:expr), $c:ident, $u:ident) => {
        $crate::attributes::AttrDef {
            sn: $sn,
            ty: $crate::attributes::AttrType::$ty($values),
            on_create: $crate::attributes::presence!($c),
            on_update: $crate::attributes::presence!($u),
        }
    };
    ($sn:literal, $ty:ident, $c:ident, $u:ident) => {
        $crate::attributes::AttrDef {
            sn: $sn,
            ty: $crate::attributes::AttrType::$ty,
            on_create: $crate::attributes::presence!($c),
            on_update: $crate::attributes::presence!($u),
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __presence {
    (M) => {
        $crate::attributes::Presence::Mandatory
    };
    (O) => {
        $crate::attributes::Presence::Optional
    };
    (NP) => {
        $crate::attributes::Presence::NotPermitted
    };
}
pub use crate::__presence as presence;

/// Attributes every resource type has (universal) or nearly every type (common).
pub const UNIVERSAL: &[AttrDef] = &[
    attr!("ty", NonNegInt, NP, NP),
    attr!("ri", Str, NP, NP),
    attr!("rn", Str, O, NP),
    attr!("pi", Str, NP, NP),
    attr!("ct", Timestamp, NP, NP),
    attr!("lt", Timestamp, NP, NP),
    attr!("et", Timestamp, O, O),
    attr!("lbl", StrList, O, O),
    attr!("cstn", Str, O, O),
    attr!("daci", StrList, O, O),
];
/// For types that carry their own access control policy IDs.
pub const ACPI: &[AttrDef] = &[attr!("acpi", StrList, O, O)];
/// For announceable types.
pub const ANNOUNCE: &[AttrDef] = &[
    attr!("at", StrList, O, O),
    attr!("aa", StrList, O, O),
    attr!("ast", NonNegInt, O, O),
];
/// The creator attribute: a request may ask for it with `"cr": null`.
pub const CREATOR: &[AttrDef] = &[attr!("cr", Any, O, NP)];

/// The name of the catch-all entry: a type whose table lists it accepts any
/// attribute the table does not otherwise define, with the entry's value type
/// and presence (a flexContainer's custom attributes). Never matches an
/// internal attribute.
pub const ANY_OTHER: &str = "*";
/// Custom attributes: anything else, any value, optional on CREATE and UPDATE.
pub const CUSTOM: &[AttrDef] = &[attr!("*", Any, O, O)];

/// Attributes the CSE keeps for itself are named `__...`: stored with the
/// resource, never accepted from a request, never part of a representation.
pub fn is_internal(sn: &str) -> bool {
    sn.starts_with("__")
}

/// Whether `sn` has its own entry in `defs` (the catch-all does not count).
pub fn defines(defs: &[&[AttrDef]], sn: &str) -> bool {
    sn != ANY_OTHER && defs.iter().flat_map(|set| set.iter()).any(|d| d.sn == sn)
}

/// Which operation is validating.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Phase {
    Create,
    Update,
}

fn type_matches(ty: AttrType, value: &Value) -> bool {
    match ty {
        AttrType::Str => value.is_string(),
        AttrType::Bool => value.is_boolean(),
        AttrType::NonNegInt => value.as_u64().is_some(),
        AttrType::PosInt => value.as_u64().is_some_and(|n| n > 0),
        AttrType::Int => value.is_i64() || value.is_u64(),
        AttrType::Enum(allowed) => value.as_u64().is_some_and(|n| allowed.contains(&n)),
        AttrType::EnumList(allowed) => value.as_array().is_some_and(|a| {
            a.iter()
                .all(|v| v.as_u64().is_some_and(|n| allowed.contains(&n)))
        }),
        AttrType::Timestamp => value
            .as_str()
            .is_some_and(|s| urbis_model::time::parse(s).is_some()),
        AttrType::StrList => value
            .as_array()
            .is_some_and(|a| a.iter().all(Value::is_string)),
        AttrType::NonEmptyStrList => value
            .as_array()
            .is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_string)),
        AttrType::IntList => value
            .as_array()
            .is_some_and(|a| a.iter().all(|v| v.as_u64().is_some())),
        AttrType::Object => value.is_object(),
        AttrType::List => value.is_array(),
        AttrType::Any => true,
    }
}

/// Check a request's attributes against the definitions of a resource type.
/// `defs` is searched in order; a type lists its own attributes plus the shared sets.
pub fn validate(defs: &[&[AttrDef]], attrs: &Map<String, Value>, phase: Phase) -> CseResult<()> {
    let find = |sn: &str| {
        let own = |name: &str| {
            defs.iter()
                .flat_map(|set| set.iter())
                .find(|def| def.sn == name)
        };
        own(sn).or_else(|| (!is_internal(sn)).then(|| own(ANY_OTHER)).flatten())
    };
    for (sn, value) in attrs {
        let Some(def) = find(sn) else {
            return Err(CseError::bad_request(format!("unknown attribute: {sn}")));
        };
        let presence = match phase {
            Phase::Create => def.on_create,
            Phase::Update => def.on_update,
        };
        if presence == Presence::NotPermitted {
            return Err(CseError::bad_request(format!(
                "attribute {sn} is not allowed in this request"
            )));
        }
        // null deletes an optional attribute in UPDATE and means "not given" in CREATE
        if value.is_null() {
            // an attribute that must exist (mandatory at CREATE) cannot be removed later
            if phase == Phase::Update && def.on_create == Presence::Mandatory {
                return Err(CseError::bad_request(format!(
                    "mandatory attribute {sn} cannot be removed"
                )));
            }
            continue;
        }
        if !type_matches(def.ty, value) {
            return Err(CseError::bad_request(format!(
                "attribute {sn} has the wrong type: {value}"
            )));
        }
    }
    if phase == Phase::Create {
        for def in defs.iter().flat_map(|set| set.iter()) {
            if def.on_create == Presence::Mandatory && attrs.get(def.sn).is_none_or(Value::is_null)
            {
                return Err(CseError::bad_request(format!(
                    "mandatory attribute {} is missing",
                    def.sn
                )));
            }
        }
    }
    Ok(())
}

/// Resource names may hold only RFC 3986 unreserved characters and must not
/// collide with the virtual resource names.
pub fn check_resource_name(rn: &str) -> CseResult<()> {
    let valid = !rn.is_empty()
        && rn.len() <= 255
        && rn
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if !valid {
        return Err(CseError::bad_request(format!(
            "invalid resource name: {rn:?}"
        )));
    }
    if matches!(rn, "la" | "ol" | "fopt" | "pcu" | "ntsr") {
        return Err(CseError::new(
            urbis_model::Rsc::OperationNotAllowed,
            format!("{rn} is reserved for a virtual resource"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TEST_TYPE: &[AttrDef] = &[attr!("mni", NonNegInt, O, O), attr!("api", Str, M, NP)];
    const LEVELS: &[u64] = &[1, 2, 3];
    const VALUES: &[AttrDef] = &[
        attr!("lvl", Enum(LEVELS), O, O),
        attr!("lvls", EnumList(LEVELS), O, O),
        attr!("rss", Int, O, O),
    ];

    fn check(body: Value, phase: Phase) -> CseResult<()> {
        validate(&[UNIVERSAL, TEST_TYPE], body.as_object().unwrap(), phase)
    }

    #[test]
    fn create_rules() {
        assert!(check(json!({"api": "Nx", "mni": 3}), Phase::Create).is_ok());
        assert!(
            check(json!({"mni": 3}), Phase::Create).is_err(),
            "mandatory missing"
        );
        assert!(
            check(json!({"api": "Nx", "ri": "x"}), Phase::Create).is_err(),
            "read-only"
        );
        assert!(
            check(json!({"api": "Nx", "mni": -1}), Phase::Create).is_err(),
            "wrong type"
        );
        assert!(
            check(json!({"api": "Nx", "foo": 1}), Phase::Create).is_err(),
            "unknown"
        );
        assert!(
            check(json!({"api": "Nx", "lbl": ["a", 1]}), Phase::Create).is_err(),
            "list type"
        );
    }

    #[test]
    fn update_rules() {
        assert!(check(json!({"mni": 3}), Phase::Update).is_ok());
        assert!(check(json!({"mni": null}), Phase::Update).is_ok());
        assert!(
            check(json!({"api": "Ny"}), Phase::Update).is_err(),
            "write-once"
        );
        assert!(
            check(json!({"rn": "x"}), Phase::Update).is_err(),
            "rn is not updatable"
        );
    }

    #[test]
    fn custom_attributes_only_where_the_table_allows_them() {
        let with_custom = |body: Value, phase| {
            validate(
                &[UNIVERSAL, TEST_TYPE, CUSTOM],
                body.as_object().unwrap(),
                phase,
            )
        };
        assert!(with_custom(json!({"api": "Nx", "curT0": 23.5}), Phase::Create).is_ok());
        assert!(with_custom(json!({"tarTe": {"a": [1]}}), Phase::Update).is_ok());
        assert!(
            with_custom(json!({"api": "Nx", "ri": "x"}), Phase::Create).is_err(),
            "own entries still decide"
        );
        assert!(
            with_custom(json!({"api": "Nx", "mni": "x"}), Phase::Create).is_err(),
            "own types still checked"
        );
        assert!(
            with_custom(json!({"api": "Nx", "__tpe": "x"}), Phase::Create).is_err(),
            "internal attributes are never accepted"
        );
        assert!(
            check(json!({"api": "Nx", "curT0": 1}), Phase::Create).is_err(),
            "other types refuse unknown attributes"
        );
        assert!(defines(&[UNIVERSAL, CUSTOM], "lbl"));
        assert!(!defines(&[UNIVERSAL, CUSTOM], "curT0"));
        assert!(!defines(&[UNIVERSAL, CUSTOM], ANY_OTHER));
    }

    #[test]
    fn enumerations_and_signed_integers() {
        let check = |body: Value| validate(&[VALUES], body.as_object().unwrap(), Phase::Update);
        assert!(check(json!({"lvl": 2, "lvls": [1, 3], "rss": -70})).is_ok());
        assert!(check(json!({"lvls": []})).is_ok());
        assert!(check(json!({"lvl": 4})).is_err(), "not in the enumeration");
        assert!(
            check(json!({"lvl": "2"})).is_err(),
            "enumerations are numbers"
        );
        assert!(
            check(json!({"lvls": [1, 9]})).is_err(),
            "every element checked"
        );
        assert!(check(json!({"rss": 1.5})).is_err(), "integers only");
    }

    #[test]
    fn names() {
        assert!(check_resource_name("my-AE_1.x~").is_ok());
        assert!(check_resource_name("bad name").is_err());
        assert!(check_resource_name("a/b").is_err());
        assert!(check_resource_name("").is_err());
        assert!(check_resource_name("la").is_err());
    }
}
