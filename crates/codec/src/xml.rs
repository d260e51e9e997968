//! The XML serialization (TS-0004 §8.3): the same short-name values as JSON
//! and CBOR, as XML documents in the oneM2M namespace.
//!
//! # Layout
//! - [`schema`]: the one table of value kinds per short name, which XML
//!   needs because its text carries no types.
//! - `read`: bytes → element tree (quick-xml) → value.
//! - `write`: value → XML text.
//!
//! The mapping (details and known gaps in `docs/serializations.md`):
//! - the root element is the single key of the value (`m2m:cin`); a bare
//!   request or response primitive (keys `op` / `rsc`) becomes `m2m:rqp` /
//!   `m2m:rsp`, and decoding one gives the bare primitive back, as JSON has it
//!   (TS-0004 §8.4.2);
//! - a resource's `rn` is an XML attribute of its element, every other
//!   attribute a child element named by its short name;
//! - lists are space-separated text (xs:list) or repeated elements, as the
//!   schema table says; child resources and other prefixed elements inside a
//!   resource are repeated elements (JSON arrays);
//! - NULL is an empty element;
//! - values the table does not know are text; numbers and booleans among
//!   them carry `xsi:type` so they come back as numbers and booleans.
//!
//! Decoding never expands entities: a DOCTYPE is refused, only the five
//! predefined entities and character references are understood (quick-xml
//! has no DTD processing at all), and nesting deeper than [`MAX_DEPTH`] is
//! refused. Every malformed document is BAD_REQUEST.

mod read;
pub mod schema;
mod write;

use serde_json::Value;
use urbis_model::CseResult;

use schema::Kind;

/// The oneM2M protocol namespace, bound to the `m2m` prefix.
pub const M2M_NS: &str = "http://www.onem2m.org/xml/protocols";
/// The home-domain namespace of TS-0023 flexContainer specializations (`hd`).
pub const HD_NS: &str = "http://www.onem2m.org/xml/protocols/homedomain";
/// XML Schema instance attributes (`xsi:type`, `xsi:nil`).
pub const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// XML Schema built-in types (`xs:integer` in `xsi:type`).
pub const XS_NS: &str = "http://www.w3.org/2001/XMLSchema";

/// The deepest element nesting a document may have. A resource tree returned
/// with rcn=4 nests two levels per resource level, so this leaves room for
/// deep trees while keeping decoding (and its recursion) bounded.
pub const MAX_DEPTH: usize = 128;

/// Decode an XML document into the value JSON would give.
pub fn decode(bytes: &[u8]) -> CseResult<Value> {
    let root = read::parse(bytes)?;
    read::to_value(&root)
}

/// Encode a value as an XML document (UTF-8, with an XML declaration).
pub fn encode(value: &Value) -> CseResult<Vec<u8>> {
    write::document(value).map(String::into_bytes)
}

/// The namespace declared for a prefix the encoder writes. `m2m` and `hd`
/// are oneM2M's; any other prefix (a flexContainer specialization such as
/// `cod:tempe`) gets `http://www.onem2m.org/xml/protocols/<prefix>`, a
/// convention of Urbis. The decoder keys elements by the prefix as written,
/// so a peer need not know these names.
fn namespace_of(prefix: &str) -> String {
    match prefix {
        "m2m" => M2M_NS.to_owned(),
        "hd" => HD_NS.to_owned(),
        "xsi" => XSI_NS.to_owned(),
        "xs" => XS_NS.to_owned(),
        other => format!("{M2M_NS}/{other}"),
    }
}

/// Whether `name` can be an element or attribute name: an NCName,
/// optionally with one prefix (`m2m:cnt`).
fn is_name(name: &str) -> bool {
    let ncname = |part: &str| {
        let mut chars = part.chars();
        chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
            && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    match name.split_once(':') {
        Some((prefix, local)) => {
            ncname(prefix) && ncname(local) && !prefix.to_ascii_lowercase().starts_with("xml")
        }
        None => ncname(name),
    }
}

/// How an element's content is read and written.
#[derive(Copy, Clone, Debug, PartialEq)]
enum Shape {
    Known(Kind),
    /// A resource: object; `rn` arrives as an attribute; empty is `{}`.
    Resource,
    /// Not in the table (custom attributes, `con` content): text, numbers and
    /// booleans by `xsi:type`, children untyped.
    Untyped,
}

/// The shape of a global element (the root, or inside `pc` / `rep`).
fn global_shape(name: &str) -> Shape {
    match schema::kind_in(None, name) {
        Some(kind) => Shape::Known(kind),
        None if name.contains(':') => Shape::Resource,
        None => Shape::Untyped,
    }
}

/// The shape of a child of `parent` (read with `parent_shape`), and whether
/// it is a repeated element (a JSON array whatever its count).
fn child_shape(parent: &str, parent_shape: Shape, name: &str) -> (Shape, bool) {
    match parent_shape {
        Shape::Known(Kind::Opaque) | Shape::Untyped => (Shape::Untyped, false),
        Shape::Known(Kind::Content) => (global_shape(name), false),
        Shape::Known(Kind::Wrapper) if name == "uri" => (Shape::Known(Kind::Str), false),
        Shape::Known(Kind::Wrapper) => (Shape::Resource, false),
        // child resources, m2m:rsp in m2m:agr, m2m:sgn in m2m:agn
        _ if name.contains(':') => (global_shape(name), true),
        _ => match schema::kind_in(Some(parent), name) {
            Some(kind) => (Shape::Known(kind), false),
            None => (Shape::Untyped, false),
        },
    }
}

#[cfg(test)]
mod tests;
