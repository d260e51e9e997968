//! The field-device configuration specializations (`dcfg:` names, TS-0022):
//! what a device should collect and report, its credentials, and its WiFi,
//! SIM and mobile-network settings.

use super::values::{
    CELLULAR_BEARER, COVERAGE_ENHANCEMENT, SIM_STATUS, SIM_TYPE, SUIDS, WIFI_CONNECTION_STATUS,
};
use crate::attr;
use crate::attributes::AttrDef;

pub const DATA_COLLECTION: &[AttrDef] = &[
    attr!("cntp", Str, M, O),
    attr!("rpsc", List, O, O),
    attr!("mesc", List, O, O),
    attr!("meil", PosInt, O, O),
];
pub const MY_CERT_FILE_CRED: &[AttrDef] = &[
    attr!("suids", EnumList(SUIDS), M, O),
    attr!("mcff", Str, M, NP),
    attr!("mcfc", Str, M, NP),
];
pub const WIFI_CLIENT: &[AttrDef] = &[
    attr!("ssid", Str, M, O),
    attr!("wcrds", Object, O, O),
    attr!("maca", Str, O, O),
    attr!("chanl", Str, O, O),
    attr!("cons", Enum(WIFI_CONNECTION_STATUS), O, O),
    attr!("scan", Bool, M, O),
    attr!("scanr", StrList, O, O),
    attr!("ud", Bool, O, O),
    attr!("uds", Object, NP, O),
    attr!("trdst", Bool, O, O),
    attr!("rdst", Bool, O, O),
];
pub const CREDENTIALS: &[AttrDef] = &[
    attr!("pur", Str, O, O),
    attr!("crid", Str, O, O),
    attr!("crse", Str, O, O),
    attr!("crtk", Str, O, O),
];
pub const SIM: &[AttrDef] = &[
    attr!("imsi", Str, O, O),
    attr!("icid", Str, M, O),
    attr!("sist", Enum(SIM_STATUS), O, O),
    attr!("sity", Enum(SIM_TYPE), O, O),
    attr!("spn", Str, O, O),
];
pub const MOBILE_NETWORK: &[AttrDef] = &[
    attr!("cnb", Enum(CELLULAR_BEARER), M, O),
    attr!("rss", Int, O, O),
    attr!("liqu", Int, O, O),
    attr!("ipad", List, O, O),
    attr!("ripa", List, O, O),
    attr!("apna", Str, O, O),
    attr!("ceid", NonNegInt, O, O),
    attr!("smnc", NonNegInt, O, O),
    attr!("smcc", NonNegInt, O, O),
    attr!("lac", NonNegInt, O, O),
    attr!("coel", Enum(COVERAGE_ENHANCEMENT), O, O),
];
