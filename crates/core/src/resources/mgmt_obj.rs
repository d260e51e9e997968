//! `<mgmtObj>` (ty 13) and its specializations (TS-0001 Annex D): each
//! specialization (`mgd`) has its own short name and attributes.

use serde_json::Value;
use urbis_model::{CseError, CseResult, Resource, ResourceType};

use crate::attr;
use crate::attributes::{AttrDef, ACPI, ANNOUNCE, UNIVERSAL};
use crate::registry::{Hooks, Kind, ReadCtx};

/// Attributes every specialization has.
const COMMON: &[AttrDef] = &[
    attr!("mgd", NonNegInt, M, NP),
    attr!("obis", StrList, O, NP),
    attr!("obps", StrList, O, NP),
    attr!("dc", Str, O, O),
    attr!("mgs", Str, O, NP),
    attr!("cmlk", List, O, O),
];

const FIRMWARE: &[AttrDef] = &[
    attr!("vr", Str, M, O),
    attr!("fwn", Str, M, O),
    attr!("url", Str, M, O),
    attr!("uds", Object, NP, O),
    attr!("ud", Bool, M, O),
];
const SOFTWARE: &[AttrDef] = &[
    attr!("vr", Str, M, O),
    attr!("swn", Str, M, O),
    attr!("url", Str, M, O),
    attr!("ins", Object, NP, NP),
    attr!("acts", Object, NP, NP),
    attr!("in", Bool, NP, O),
    attr!("un", Bool, NP, O),
    attr!("act", Bool, NP, O),
    attr!("dea", Bool, NP, O),
];
const MEMORY: &[AttrDef] = &[attr!("mma", NonNegInt, M, O), attr!("mmt", NonNegInt, M, O)];
const AREA_NWK_INFO: &[AttrDef] = &[attr!("ant", Str, M, O), attr!("ldv", StrList, O, O)];
const AREA_NWK_DEVICE_INFO: &[AttrDef] = &[
    attr!("dvd", Str, M, O),
    attr!("dvt", Str, M, O),
    attr!("awi", Str, M, O),
    attr!("sli", NonNegInt, O, O),
    attr!("sld", NonNegInt, O, O),
    attr!("ss", Str, O, O),
    attr!("lnh", StrList, O, O),
];
const BATTERY: &[AttrDef] = &[attr!("btl", NonNegInt, M, O), attr!("bts", NonNegInt, M, O)];
const DEVICE_INFO: &[AttrDef] = &[
    attr!("dlb", Str, M, O),
    attr!("man", Str, M, O),
    attr!("mfdl", Str, O, O),
    attr!("mfd", Timestamp, O, O),
    attr!("mod", Str, M, O),
    attr!("smod", Str, O, O),
    attr!("dty", Str, M, O),
    attr!("dvnm", Str, O, O),
    attr!("fwv", Str, O, O),
    attr!("swv", Str, O, O),
    attr!("hwv", Str, O, NP),
    attr!("osv", Str, O, O),
    attr!("cnty", Str, O, NP),
    attr!("syst", Timestamp, O, O),
    attr!("spur", Str, O, O),
    attr!("purl", Str, O, O),
    attr!("ptl", StrList, O, O),
    attr!("loc", Any, O, O),
];
const DEVICE_CAPABILITY: &[AttrDef] = &[
    attr!("can", Str, M, O),
    attr!("att", Bool, M, O),
    attr!("cas", Object, M, O),
    attr!("ena", Bool, O, O),
    attr!("dis", Bool, O, O),
    attr!("cus", Bool, M, O),
];
const REBOOT: &[AttrDef] = &[attr!("rbo", Bool, O, O), attr!("far", Bool, O, O)];
const EVENT_LOG: &[AttrDef] = &[
    attr!("lgt", NonNegInt, M, O),
    attr!("lgd", Str, M, O),
    attr!("lgst", NonNegInt, M, O),
    attr!("lga", Bool, O, O),
    attr!("lgo", Bool, O, O),
];

/// (mgd, short name, attributes)
const SPECIALIZATIONS: &[(u64, &str, &[AttrDef])] = &[
    (1001, "m2m:fwr", FIRMWARE),
    (1002, "m2m:swr", SOFTWARE),
    (1003, "m2m:mem", MEMORY),
    (1004, "m2m:ani", AREA_NWK_INFO),
    (1005, "m2m:andi", AREA_NWK_DEVICE_INFO),
    (1006, "m2m:bat", BATTERY),
    (1007, "m2m:dvi", DEVICE_INFO),
    (1008, "m2m:dvc", DEVICE_CAPABILITY),
    (1009, "m2m:rbo", REBOOT),
    (1010, "m2m:evl", EVENT_LOG),
];

pub static KIND: Kind = Kind {
    ty: ResourceType::MgmtObj,
    attrs: &[UNIVERSAL, ACPI, ANNOUNCE, COMMON],
    parents: &[ResourceType::Node],
    own_acpi: true,
    id_prefix: "mgo",
    hooks: &MgmtObjHooks,
};

/// The short name of a specialization (`m2m:bat` for 1006).
pub fn short_name(mgd: u64) -> Option<&'static str> {
    SPECIALIZATIONS
        .iter()
        .find(|(m, _, _)| *m == mgd)
        .map(|(_, sn, _)| *sn)
}

/// The specialization's `mgd` for a root key.
pub fn mgd_for(root_key: &str) -> Option<u64> {
    SPECIALIZATIONS
        .iter()
        .find(|(_, sn, _)| *sn == root_key)
        .map(|(m, _, _)| *m)
}

/// Attribute sets of a specialization.
pub fn specialization_attrs(mgd: u64) -> Option<[&'static [AttrDef]; 5]> {
    let own = SPECIALIZATIONS.iter().find(|(m, _, _)| *m == mgd)?.2;
    Some([UNIVERSAL, ACPI, ANNOUNCE, COMMON, own])
}

struct MgmtObjHooks;

impl Hooks for MgmtObjHooks {
    fn validate_create(
        &self,
        _ctx: &ReadCtx<'_>,
        _parent: &Resource,
        resource: &mut Resource,
    ) -> CseResult<()> {
        match resource.attrs.get("mgd").and_then(Value::as_u64) {
            Some(mgd) if short_name(mgd).is_some() => Ok(()),
            other => Err(CseError::bad_request(format!(
                "unsupported mgmtDefinition {other:?}"
            ))),
        }
    }
}

pub fn is_specialization_attribute(sn: &str) -> bool {
    SPECIALIZATIONS
        .iter()
        .any(|(_, _, attrs)| attrs.iter().any(|d| d.sn == sn))
}
