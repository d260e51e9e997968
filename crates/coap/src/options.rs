//! CoAP option and Content-Format numbers of the oneM2M binding (TS-0008
//! §6.2.2), and which options this binding understands (RFC 7252 §5.4.1: an
//! unknown critical option must be refused).

use coap_lite::option_value::{OptionValueString, OptionValueU32};
use coap_lite::{CoapOption, Packet};
use urbis_model::{CseError, CseResult, Serialization};

/// oneM2M options (TS-0008 Table 6.2.2.4.0-1, numbering of V3.7.0 and later).
pub mod onem2m {
    pub const OT: u16 = 259;
    pub const RTURI: u16 = 263;
    pub const TY: u16 = 267;
    pub const RVI: u16 = 271;
    pub const ASRI: u16 = 275;
    pub const FR: u16 = 279;
    pub const RQI: u16 = 283;
    pub const RQET: u16 = 291;
    pub const RSET: u16 = 295;
    pub const OET: u16 = 299;
    pub const EC: u16 = 303;
    pub const RSC: u16 = 307;
    pub const GID: u16 = 311;
    pub const CTO: u16 = 319;
    pub const CTS: u16 = 323;
    pub const ATI: u16 = 327;
    pub const VSI: u16 = 331;
    pub const GTM: u16 = 335;
    pub const AUS: u16 = 339;
    pub const OMR: u16 = 343;
    pub const PRPI: u16 = 347;
    pub const MSU: u16 = 351;

    /// Every oneM2M option; those this CSE has no use for are accepted and ignored.
    pub const ALL: &[u16] = &[
        OT, RTURI, TY, RVI, ASRI, FR, RQI, RQET, RSET, OET, EC, RSC, GID, CTO, CTS, ATI, VSI, GTM,
        AUS, OMR, PRPI, MSU,
    ];
}

/// RFC 7252 / RFC 7959 options this binding acts on (or may safely ignore).
pub mod coap {
    pub const URI_HOST: u16 = 3;
    pub const ETAG: u16 = 4;
    pub const URI_PORT: u16 = 7;
    pub const LOCATION_PATH: u16 = 8;
    pub const URI_PATH: u16 = 11;
    pub const CONTENT_FORMAT: u16 = 12;
    pub const MAX_AGE: u16 = 14;
    pub const URI_QUERY: u16 = 15;
    pub const ACCEPT: u16 = 17;
    pub const BLOCK2: u16 = 23;
    pub const BLOCK1: u16 = 27;
    pub const SIZE2: u16 = 28;
    pub const PROXY_URI: u16 = 35;
    pub const PROXY_SCHEME: u16 = 39;
    pub const SIZE1: u16 = 60;
}

/// RFC 7252 §5.4.6: odd option numbers are critical.
pub fn is_critical(number: u16) -> bool {
    number & 1 == 1
}

/// The first critical option of a request this binding does not understand.
/// Uri-Host and Uri-Port are understood: this server answers for every name
/// it is reached by. Proxy-Uri/-Scheme are refused separately (5.05).
pub fn unknown_critical(packet: &Packet) -> Option<u16> {
    const UNDERSTOOD: &[u16] = &[
        coap::URI_HOST,
        coap::URI_PORT,
        coap::URI_PATH,
        coap::URI_QUERY,
        coap::ACCEPT,
        coap::BLOCK2,
        coap::BLOCK1,
    ];
    packet
        .options()
        .map(|(number, _)| *number)
        .find(|n| is_critical(*n) && !UNDERSTOOD.contains(n) && !onem2m::ALL.contains(n))
}

/// Whether a request asks this server to act as a proxy.
pub fn asks_for_proxy(packet: &Packet) -> bool {
    packet.get_option(CoapOption::ProxyUri).is_some()
        || packet.get_option(CoapOption::ProxyScheme).is_some()
}

/// A string option; invalid UTF-8 is a bad request.
pub fn string(packet: &Packet, number: u16, name: &str) -> CseResult<Option<String>> {
    match packet.get_first_option_as::<OptionValueString>(CoapOption::from(number)) {
        None => Ok(None),
        Some(Ok(value)) => Ok(Some(value.0)),
        Some(Err(_)) => Err(CseError::bad_request(format!(
            "the {name} option is not valid UTF-8"
        ))),
    }
}

/// An unsigned integer option (at most 4 bytes, RFC 7252 §3.2).
pub fn uint(packet: &Packet, number: u16, name: &str) -> CseResult<Option<u32>> {
    match packet.get_first_option_as::<OptionValueU32>(CoapOption::from(number)) {
        None => Ok(None),
        Some(Ok(value)) => Ok(Some(value.0)),
        Some(Err(_)) => Err(CseError::bad_request(format!(
            "the {name} option is not an unsigned integer of at most 4 bytes"
        ))),
    }
}

pub fn put_string(packet: &mut Packet, number: u16, value: &str) {
    packet.add_option_as(
        CoapOption::from(number),
        OptionValueString(value.to_owned()),
    );
}

pub fn put_uint(packet: &mut Packet, number: u16, value: u32) {
    packet.add_option_as(CoapOption::from(number), OptionValueU32(value));
}

/// All values of a repeatable option, e.g. Uri-Path segments.
pub fn all(packet: &Packet, number: u16) -> Vec<&[u8]> {
    packet
        .get_option(CoapOption::from(number))
        .map(|values| values.iter().map(Vec::as_slice).collect())
        .unwrap_or_default()
}

/// Content-Format numbers (TS-0008 §6.2.2.2 and Table 6.2.2.2-1). The
/// oneM2M-specific numbers are not IANA-registered and implementations
/// disagree on a few (ACME also uses 10015 and 10016), so all known ones are
/// accepted on input.
pub fn serialization_of(format: u32) -> Option<Serialization> {
    match format {
        50 | 10001 | 10003 | 10007 | 10009 | 10015 => Some(Serialization::Json),
        60 | 10010..=10013 => Some(Serialization::Cbor),
        41 | 10002 | 10006 | 10008 | 10014 | 10016 => Some(Serialization::Xml),
        _ => None,
    }
}

/// The plain Content-Format this binding sends for a serialization.
pub fn content_format(serialization: Serialization) -> u32 {
    match serialization {
        Serialization::Json => 50,
        Serialization::Cbor => 60,
        Serialization::Xml => 41,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn onem2m_options_are_critical_and_understood() {
        for number in onem2m::ALL {
            assert!(is_critical(*number), "{number}");
        }
        let mut packet = Packet::new();
        put_string(&mut packet, onem2m::FR, "CAdmin");
        put_uint(&mut packet, onem2m::TY, 3);
        assert_eq!(unknown_critical(&packet), None);
        assert_eq!(uint(&packet, onem2m::TY, "ty").unwrap(), Some(3));
        assert_eq!(
            string(&packet, onem2m::FR, "fr").unwrap().as_deref(),
            Some("CAdmin")
        );
        // the pre-V3.7 number of oneM2M-RQI is an unknown critical option now
        packet.add_option(CoapOption::Unknown(257), b"x".to_vec());
        assert_eq!(unknown_critical(&packet), Some(257));
    }

    #[test]
    fn malformed_option_values() {
        let mut packet = Packet::new();
        packet.add_option(CoapOption::Unknown(onem2m::TY), vec![1, 2, 3, 4, 5]);
        packet.add_option(CoapOption::Unknown(onem2m::FR), vec![0xff, 0xfe]);
        assert!(uint(&packet, onem2m::TY, "ty").is_err());
        assert!(string(&packet, onem2m::FR, "fr").is_err());
    }

    #[test]
    fn content_formats() {
        assert_eq!(serialization_of(50), Some(Serialization::Json));
        assert_eq!(serialization_of(10010), Some(Serialization::Cbor));
        assert_eq!(serialization_of(10014), Some(Serialization::Xml));
        assert_eq!(serialization_of(0), None);
        for ser in [Serialization::Json, Serialization::Cbor, Serialization::Xml] {
            assert_eq!(serialization_of(content_format(ser)), Some(ser));
        }
    }
}
