//! The device-management specializations of TS-0001 Annex D (`m2m:` names):
//! what a device is (deviceInfo, deviceCapability), what it runs (firmware,
//! software), what it has left (memory, battery), its area network, its log,
//! and the reboot trigger.

use super::values::{BATTERY_STATUS, LOG_STATUS, LOG_TYPE};
use crate::attr;
use crate::attributes::AttrDef;

pub const FIRMWARE: &[AttrDef] = &[
    attr!("vr", Str, M, O),
    attr!("fwn", Str, M, O),
    attr!("url", Str, M, O),
    attr!("uds", Object, NP, O),
    attr!("ud", Bool, M, O),
];
pub const SOFTWARE: &[AttrDef] = &[
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
pub const MEMORY: &[AttrDef] = &[attr!("mma", NonNegInt, M, O), attr!("mmt", NonNegInt, M, O)];
pub const AREA_NWK_INFO: &[AttrDef] = &[attr!("ant", Str, M, O), attr!("ldv", StrList, O, O)];
pub const AREA_NWK_DEVICE_INFO: &[AttrDef] = &[
    attr!("dvd", Str, M, O),
    attr!("dvt", Str, M, O),
    attr!("awi", Str, M, O),
    attr!("sli", NonNegInt, O, O),
    attr!("sld", NonNegInt, O, O),
    attr!("ss", Str, O, O),
    attr!("lnh", StrList, O, O),
];
pub const BATTERY: &[AttrDef] = &[
    attr!("btl", NonNegInt, M, O),
    attr!("bts", Enum(BATTERY_STATUS), M, O),
];
pub const DEVICE_INFO: &[AttrDef] = &[
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
pub const DEVICE_CAPABILITY: &[AttrDef] = &[
    attr!("can", Str, M, O),
    attr!("att", Bool, M, O),
    attr!("cas", Object, M, O),
    attr!("ena", Bool, O, O),
    attr!("dis", Bool, O, O),
    attr!("cus", Bool, M, O),
];
pub const REBOOT: &[AttrDef] = &[attr!("rbo", Bool, O, O), attr!("far", Bool, O, O)];
pub const EVENT_LOG: &[AttrDef] = &[
    attr!("lgt", Enum(LOG_TYPE), M, O),
    attr!("lgd", Str, M, O),
    attr!("lgst", Enum(LOG_STATUS), M, O),
    attr!("lga", Bool, O, O),
    attr!("lgo", Bool, O, O),
];
