//! Sub-protocol negotiation (TS-0020 §6.2). The sub-protocol fixes the
//! serialization of every message on the connection. A client that offers none
//! we speak is refused with HTTP 400 before the upgrade, as the reference CSE
//! does: without a serialization no primitive could be read or answered.

use urbis_model::Serialization;

pub const JSON: &str = "oneM2M.json";
pub const CBOR: &str = "oneM2M.cbor";
pub const XML: &str = "oneM2M.xml";

/// The sub-protocol name of a serialization.
pub fn subprotocol(serialization: Serialization) -> &'static str {
    match serialization {
        Serialization::Json => JSON,
        Serialization::Cbor => CBOR,
        Serialization::Xml => XML,
    }
}

/// The serialization a sub-protocol name selects, if it is one we serve.
pub fn serialization(name: &str) -> Option<Serialization> {
    match name.trim() {
        n if n.eq_ignore_ascii_case(JSON) => Some(Serialization::Json),
        n if n.eq_ignore_ascii_case(CBOR) => Some(Serialization::Cbor),
        n if n.eq_ignore_ascii_case(XML) => Some(Serialization::Xml),
        _ => None,
    }
}

/// The first sub-protocol the client offers that we serve. `offered` are the
/// values of its `Sec-WebSocket-Protocol` headers (each may be a list).
pub fn choose<'a>(offered: impl Iterator<Item = &'a str>) -> Option<Serialization> {
    offered
        .flat_map(|value| value.split(','))
        .find_map(serialization)
}

/// The reason given to a client whose handshake is refused.
pub fn refusal() -> String {
    format!(
        "no supported oneM2M sub-protocol offered in Sec-WebSocket-Protocol; use one of {JSON}, {CBOR}, {XML}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_served_offer_wins() {
        assert_eq!(
            choose(["oneM2M.json"].into_iter()),
            Some(Serialization::Json)
        );
        assert_eq!(
            choose(["chat, oneM2M.cbor", "oneM2M.json"].into_iter()),
            Some(Serialization::Cbor)
        );
        assert_eq!(
            choose(["ONEM2M.JSON"].into_iter()),
            Some(Serialization::Json)
        );
        assert_eq!(choose(["chat", "mqtt"].into_iter()), None);
        assert_eq!(choose(std::iter::empty()), None);
    }

    #[test]
    fn xml_is_served_too() {
        assert_eq!(serialization("oneM2M.xml"), Some(Serialization::Xml));
        assert!(refusal().contains(XML));
    }
}
