//! Request and response primitives (TS-0004 §6.4) as every binding produces and
//! consumes them. Bindings translate wire formats into these; the core only sees these.

use serde_json::Value;

use crate::{CseError, CseResult, Operation, Rsc};

/// `rt`: how the originator wants the response (rtv) and, for asynchronous
/// non-blocking requests, where results go (nu).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResponseTypeInfo {
    pub rtv: u8,
    pub nu: Vec<String>,
}

/// Response type values (rtv).
pub mod rtv {
    pub const NON_BLOCKING_SYNCH: u8 = 1;
    pub const NON_BLOCKING_ASYNCH: u8 = 2;
    pub const BLOCKING: u8 = 3;
    pub const FLEX_BLOCKING: u8 = 4;
    pub const NO_RESPONSE: u8 = 5;
}

#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub op: Operation,
    pub to: String,
    pub fr: Option<String>,
    pub rqi: String,
    pub rvi: Option<String>,
    pub ty: Option<u32>,
    pub pc: Option<Value>,
    pub rcn: Option<u8>,
    pub rt: Option<ResponseTypeInfo>,
    pub rqet: Option<String>,
    pub rset: Option<String>,
    pub oet: Option<String>,
    pub ot: Option<String>,
    pub drt: Option<u8>,
    /// Boxed: most requests carry none, and a request is moved through every
    /// layer of the pipeline (its futures hold it by value).
    pub fc: Box<FilterCriteria>,
    pub vsi: Option<String>,
    pub ec: Option<u32>,
    /// Attribute list for a partial RETRIEVE (`atrl`).
    pub atrl: Vec<String>,
    /// Network address the request came from, as the binding saw it (the TCP
    /// or UDP peer). Not a primitive parameter: access control evaluates
    /// `acip` contexts against it. `None` when the binding cannot know the
    /// sender's address (MQTT: requests arrive via the broker) and for
    /// requests the CSE makes itself.
    pub peer: Option<std::net::IpAddr>,
    /// Who the door that carried the request established the sender to be.
    /// Not a oneM2M parameter: bindings set it, never the wire.
    pub authentication: Authentication,
}

/// What a binding knows about the sender of a request. Bindings only report
/// it; the core decides what it allows (`urbis_core::pipeline`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Authentication {
    /// The door does not authenticate (development on loopback, or a broker
    /// trusted to check originators): `fr` is taken as given.
    #[default]
    Unchecked,
    /// The door requires authentication and the sender presented nothing.
    Missing,
    /// A credential (password, token or client certificate) bound to this
    /// originator was verified; [`ANY_ORIGINATOR`] for a gateway's.
    Verified(String),
}

/// The originator of a gateway credential: its holder relays requests for
/// others and may use any originator (docs/security.md).
pub const ANY_ORIGINATOR: &str = "*";

impl Request {
    pub fn new(op: Operation, to: impl Into<String>) -> Request {
        Request {
            op,
            to: to.into(),
            fr: None,
            rqi: String::new(),
            rvi: None,
            ty: None,
            pc: None,
            rcn: None,
            rt: None,
            rqet: None,
            rset: None,
            oet: None,
            ot: None,
            drt: None,
            fc: Box::default(),
            vsi: None,
            ec: None,
            atrl: Vec::new(),
            peer: None,
            authentication: Authentication::Unchecked,
        }
    }
    pub fn response_type(&self) -> u8 {
        self.rt.as_ref().map(|rt| rt.rtv).unwrap_or(rtv::BLOCKING)
    }
    pub fn is_discovery(&self) -> bool {
        self.op == Operation::Retrieve && self.fc.fu == Some(1)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    pub rsc: Rsc,
    pub rqi: String,
    pub rvi: Option<String>,
    pub pc: Option<Value>,
    pub ot: Option<String>,
    pub vsi: Option<String>,
    pub rset: Option<String>,
    /// Address of the resource a CREATE made; HTTP sends it as Content-Location.
    pub created_uri: Option<String>,
}

impl Response {
    pub fn new(rsc: Rsc, pc: Option<Value>) -> Response {
        Response {
            rsc,
            rqi: String::new(),
            rvi: None,
            pc,
            ot: None,
            vsi: None,
            rset: None,
            created_uri: None,
        }
    }
    pub fn error(err: &CseError) -> Response {
        let mut dbg = serde_json::Map::new();
        dbg.insert("m2m:dbg".into(), Value::String(err.message.clone()));
        Response::new(err.rsc, Some(Value::Object(dbg)))
    }
}

/// filterCriteria (TS-0004 §6.3.5.8). Conditions that are absent do not filter.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FilterCriteria {
    pub fu: Option<u8>,
    pub fo: Option<u8>,
    pub crb: Option<String>,
    pub cra: Option<String>,
    pub ms: Option<String>,
    pub us: Option<String>,
    pub exb: Option<String>,
    pub exa: Option<String>,
    pub sts: Option<u64>,
    pub stb: Option<u64>,
    pub sza: Option<u64>,
    pub szb: Option<u64>,
    pub lbl: Vec<String>,
    pub clbl: Vec<String>,
    pub palb: Vec<String>,
    pub ty: Vec<u32>,
    pub chty: Vec<u32>,
    pub pty: Vec<u32>,
    pub cty: Vec<String>,
    /// Attribute conditions (`atr`, or any other query parameter).
    pub atr: Vec<(String, Value)>,
    pub lim: Option<u64>,
    pub lvl: Option<u64>,
    pub ofst: Option<u64>,
    pub arp: Option<String>,
}

fn number<T: std::str::FromStr>(key: &str, value: &str) -> CseResult<T> {
    value
        .trim()
        .parse()
        .map_err(|_| CseError::bad_request(format!("invalid value for {key}: {value}")))
}

fn words(value: &str) -> impl Iterator<Item = &str> {
    value.split([' ', '+']).filter(|w| !w.is_empty())
}

impl FilterCriteria {
    /// True when any condition (not just fu/fo/lim/lvl/ofst) is set.
    pub fn has_conditions(&self) -> bool {
        self.crb.is_some()
            || self.cra.is_some()
            || self.ms.is_some()
            || self.us.is_some()
            || self.exb.is_some()
            || self.exa.is_some()
            || self.sts.is_some()
            || self.stb.is_some()
            || self.sza.is_some()
            || self.szb.is_some()
            || !self.lbl.is_empty()
            || !self.clbl.is_empty()
            || !self.palb.is_empty()
            || !self.ty.is_empty()
            || !self.chty.is_empty()
            || !self.pty.is_empty()
            || !self.cty.is_empty()
            || !self.atr.is_empty()
    }

    /// Apply one filter parameter given as text (HTTP/CoAP query). Unknown keys
    /// become attribute conditions, as TS-0009 allows (`?rn=x`).
    pub fn set_text(&mut self, key: &str, value: &str) -> CseResult<()> {
        match key {
            "fu" => self.fu = Some(number(key, value)?),
            "fo" => self.fo = Some(number(key, value)?),
            "crb" => self.crb = Some(value.to_owned()),
            "cra" => self.cra = Some(value.to_owned()),
            "ms" => self.ms = Some(value.to_owned()),
            "us" => self.us = Some(value.to_owned()),
            "exb" => self.exb = Some(value.to_owned()),
            "exa" => self.exa = Some(value.to_owned()),
            "sts" => self.sts = Some(number(key, value)?),
            "stb" => self.stb = Some(number(key, value)?),
            "sza" => self.sza = Some(number(key, value)?),
            "szb" => self.szb = Some(number(key, value)?),
            "lim" => self.lim = Some(number(key, value)?),
            "lvl" => self.lvl = Some(number(key, value)?),
            "ofst" => self.ofst = Some(number(key, value)?),
            "arp" => self.arp = Some(value.to_owned()),
            "lbl" => self.lbl.extend(words(value).map(str::to_owned)),
            "clbl" => self.clbl.extend(words(value).map(str::to_owned)),
            "palb" => self.palb.extend(words(value).map(str::to_owned)),
            "cty" => self.cty.extend(words(value).map(str::to_owned)),
            "ty" | "chty" | "pty" => {
                let mut parsed = Vec::new();
                for word in words(value) {
                    parsed.push(number::<u32>(key, word)?);
                }
                match key {
                    "ty" => self.ty.extend(parsed),
                    "chty" => self.chty.extend(parsed),
                    _ => self.pty.extend(parsed),
                }
            }
            _ => self
                .atr
                .push((key.to_owned(), Value::String(value.to_owned()))),
        }
        Ok(())
    }

    /// Apply one filter parameter given as a structured value (`fc` in a
    /// serialized request primitive).
    pub fn set_value(&mut self, key: &str, value: &Value) -> CseResult<()> {
        match (key, value) {
            ("atr", Value::Array(items)) => {
                for item in items {
                    let name = item.get("nm").and_then(Value::as_str);
                    let val = item.get("val");
                    match (name, val) {
                        (Some(name), Some(val)) => self.atr.push((name.to_owned(), val.clone())),
                        _ => return Err(CseError::bad_request("atr entries need nm and val")),
                    }
                }
                Ok(())
            }
            (_, Value::Array(items)) => {
                for item in items {
                    self.set_value(key, item)?;
                }
                Ok(())
            }
            (_, Value::String(text)) => self.set_text(key, text),
            (_, Value::Number(n)) => self.set_text(key, &n.to_string()),
            (_, Value::Bool(b)) => self.set_text(key, &b.to_string()),
            _ => Err(CseError::bad_request(format!(
                "invalid filter criterion {key}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialization_names_and_media_types() {
        for (name, expected) in [
            ("json", Some(Serialization::Json)),
            ("application/json; charset=utf-8", Some(Serialization::Json)),
            (
                "application/vnd.onem2m-res+cbor;ty=3",
                Some(Serialization::Cbor),
            ),
            ("xml", Some(Serialization::Xml)),
            ("Application/XML", Some(Serialization::Xml)),
            ("text/xml", Some(Serialization::Xml)),
            (
                "application/vnd.onem2m-res+xml; ty=3",
                Some(Serialization::Xml),
            ),
            ("application/vnd.onem2m-ntfy+xml", Some(Serialization::Xml)),
            ("application/vnd.onem2m-preq+xml", Some(Serialization::Xml)),
            ("application/vnd.onem2m-prsp+xml", Some(Serialization::Xml)),
            ("application/vnd.onem2m-res+yaml", None),
            ("text/plain", None),
        ] {
            assert_eq!(Serialization::from_name(name), expected, "{name}");
        }
        assert_eq!(Serialization::Xml.media_type(), "application/xml");
    }

    #[test]
    fn query_parameters_fill_filter_criteria() {
        let mut fc = FilterCriteria::default();
        fc.set_text("fu", "1").unwrap();
        fc.set_text("ty", "3 4").unwrap();
        fc.set_text("lbl", "a+b").unwrap();
        fc.set_text("rn", "x").unwrap();
        assert_eq!(fc.fu, Some(1));
        assert_eq!(fc.ty, vec![3, 4]);
        assert_eq!(fc.lbl, vec!["a", "b"]);
        assert_eq!(fc.atr, vec![("rn".to_owned(), Value::String("x".into()))]);
        assert!(fc.has_conditions());
        assert!(fc.set_text("lim", "many").is_err());
    }

    #[test]
    fn structured_filter_values() {
        let mut fc = FilterCriteria::default();
        fc.set_value("ty", &serde_json::json!([3, 4])).unwrap();
        fc.set_value("atr", &serde_json::json!([{"nm": "rn", "val": "x"}]))
            .unwrap();
        assert_eq!(fc.ty, vec![3, 4]);
        assert_eq!(fc.atr.len(), 1);
    }
}

/// A content serialization (TS-0004 §8): how a primitive's content travels.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum Serialization {
    #[default]
    Json,
    Cbor,
    Xml,
}

impl Serialization {
    /// From a media type (`application/json`, `application/vnd.onem2m-res+cbor`,
    /// ...) or a short name (`json`, `cbor`, `xml`).
    pub fn from_name(name: &str) -> Option<Serialization> {
        let name = name
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match name.as_str() {
            "json" | "application/json" => Some(Serialization::Json),
            "cbor" | "application/cbor" => Some(Serialization::Cbor),
            "xml" | "application/xml" | "text/xml" => Some(Serialization::Xml),
            other if other.starts_with("application/vnd.onem2m-") => match other.rsplit_once('+') {
                Some((_, "json")) => Some(Serialization::Json),
                Some((_, "cbor")) => Some(Serialization::Cbor),
                Some((_, "xml")) => Some(Serialization::Xml),
                _ => None,
            },
            _ => None,
        }
    }

    pub fn media_type(self) -> &'static str {
        match self {
            Serialization::Json => "application/json",
            Serialization::Cbor => "application/cbor",
            Serialization::Xml => "application/xml",
        }
    }
}
