//! The table of supported specializations: `mgd`, the short name that is
//! the root key of their representation, and their own attributes.

use super::{annex_d, dcfg};
use crate::attr;
use crate::attributes::AttrDef;

/// `mgd` (m2m:mgmtDefinition) values of the supported specializations.
pub mod mgd {
    pub const FIRMWARE: u64 = 1001;
    pub const SOFTWARE: u64 = 1002;
    pub const MEMORY: u64 = 1003;
    pub const AREA_NWK_INFO: u64 = 1004;
    pub const AREA_NWK_DEVICE_INFO: u64 = 1005;
    pub const BATTERY: u64 = 1006;
    pub const DEVICE_INFO: u64 = 1007;
    pub const DEVICE_CAPABILITY: u64 = 1008;
    pub const REBOOT: u64 = 1009;
    pub const EVENT_LOG: u64 = 1010;
    pub const DATA_COLLECTION: u64 = 1021;
    pub const MY_CERT_FILE_CRED: u64 = 1023;
    pub const WIFI_CLIENT: u64 = 1028;
    pub const CREDENTIALS: u64 = 1029;
    pub const SIM: u64 = 1030;
    pub const MOBILE_NETWORK: u64 = 1031;
}

/// Attributes every specialization has (TS-0004 §7.4.15).
pub const COMMON: &[AttrDef] = &[
    attr!("mgd", NonNegInt, M, NP),
    attr!("obis", StrList, O, NP),
    attr!("obps", StrList, O, NP),
    attr!("dc", Str, O, O),
    attr!("mgs", Str, O, NP),
    attr!("cmlk", List, O, O),
];

pub struct Specialization {
    pub mgd: u64,
    /// Root key of the representation (`m2m:bat`, `dcfg:sim`).
    pub sn: &'static str,
    /// The name the specifications use (`battery`), for messages.
    pub name: &'static str,
    pub attrs: &'static [AttrDef],
}

const fn spec(
    mgd: u64,
    sn: &'static str,
    name: &'static str,
    attrs: &'static [AttrDef],
) -> Specialization {
    Specialization {
        mgd,
        sn,
        name,
        attrs,
    }
}

pub const SPECIALIZATIONS: &[Specialization] = &[
    spec(mgd::FIRMWARE, "m2m:fwr", "firmware", annex_d::FIRMWARE),
    spec(mgd::SOFTWARE, "m2m:swr", "software", annex_d::SOFTWARE),
    spec(mgd::MEMORY, "m2m:mem", "memory", annex_d::MEMORY),
    spec(
        mgd::AREA_NWK_INFO,
        "m2m:ani",
        "areaNwkInfo",
        annex_d::AREA_NWK_INFO,
    ),
    spec(
        mgd::AREA_NWK_DEVICE_INFO,
        "m2m:andi",
        "areaNwkDeviceInfo",
        annex_d::AREA_NWK_DEVICE_INFO,
    ),
    spec(mgd::BATTERY, "m2m:bat", "battery", annex_d::BATTERY),
    spec(
        mgd::DEVICE_INFO,
        "m2m:dvi",
        "deviceInfo",
        annex_d::DEVICE_INFO,
    ),
    spec(
        mgd::DEVICE_CAPABILITY,
        "m2m:dvc",
        "deviceCapability",
        annex_d::DEVICE_CAPABILITY,
    ),
    spec(mgd::REBOOT, "m2m:rbo", "reboot", annex_d::REBOOT),
    spec(mgd::EVENT_LOG, "m2m:evl", "eventLog", annex_d::EVENT_LOG),
    spec(
        mgd::DATA_COLLECTION,
        "dcfg:datc",
        "dataCollection",
        dcfg::DATA_COLLECTION,
    ),
    spec(
        mgd::MY_CERT_FILE_CRED,
        "dcfg:nycfc",
        "myCertFileCred",
        dcfg::MY_CERT_FILE_CRED,
    ),
    spec(
        mgd::WIFI_CLIENT,
        "dcfg:wific",
        "wifiClient",
        dcfg::WIFI_CLIENT,
    ),
    spec(
        mgd::CREDENTIALS,
        "dcfg:crds",
        "credentials",
        dcfg::CREDENTIALS,
    ),
    spec(mgd::SIM, "dcfg:sim", "SIM", dcfg::SIM),
    spec(
        mgd::MOBILE_NETWORK,
        "dcfg:mnwk",
        "mobileNetwork",
        dcfg::MOBILE_NETWORK,
    ),
];

pub fn by_mgd(mgd: u64) -> Option<&'static Specialization> {
    SPECIALIZATIONS.iter().find(|s| s.mgd == mgd)
}

pub fn by_short_name(sn: &str) -> Option<&'static Specialization> {
    SPECIALIZATIONS.iter().find(|s| s.sn == sn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_are_unique() {
        for (i, a) in SPECIALIZATIONS.iter().enumerate() {
            for b in &SPECIALIZATIONS[i + 1..] {
                assert_ne!(a.mgd, b.mgd);
                assert_ne!(a.sn, b.sn);
            }
            for def in a.attrs {
                assert!(
                    !COMMON.iter().any(|c| c.sn == def.sn),
                    "{} repeats a common attribute",
                    a.name
                );
            }
        }
    }
}
