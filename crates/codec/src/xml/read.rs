//! XML → value: quick-xml reads the document into a small element tree
//! (bounded depth, no entity expansion), then the schema table gives each
//! element's text its JSON type.

use std::collections::HashMap;

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::{NsReader, XmlVersion};
use serde_json::{Map, Number, Value};
use urbis_model::{CseError, CseResult};

use super::schema::{self, Kind};
use super::{child_shape, global_shape, Shape, M2M_NS, MAX_DEPTH, XSI_NS};

fn bad(why: impl std::fmt::Display) -> CseError {
    CseError::bad_request(format!("malformed XML content: {why}"))
}

/// One element as read: its key (`m2m:cnt`, `rn`), attributes, text and children.
#[derive(Debug, Default)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub xsi_type: Option<String>,
    pub nil: bool,
    pub text: String,
    pub children: Vec<Element>,
}

/// Read a document into its root element.
pub fn parse(bytes: &[u8]) -> CseResult<Element> {
    let text = std::str::from_utf8(bytes).map_err(|e| bad(format!("not UTF-8 ({e})")))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = NsReader::from_str(text);
    reader.config_mut().trim_text(false);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| bad(format!("{e} (at byte {})", reader.error_position())))?;
        match event {
            Event::Start(start) => {
                let element = open(&reader, &start, &stack, &root)?;
                stack.push(element);
            }
            Event::Empty(start) => {
                let element = open(&reader, &start, &stack, &root)?;
                close(&mut stack, &mut root, element);
            }
            Event::End(_) => {
                // quick-xml has checked that the name matches the open element
                let element = stack.pop().ok_or_else(|| bad("unexpected end tag"))?;
                close(&mut stack, &mut root, element);
            }
            Event::Text(text) => add_text(&mut stack, &text.xml10_content())?,
            Event::CData(data) => add_text(&mut stack, &data.xml10_content())?,
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => resolve_predefined_entity(&reference)
                        .ok_or_else(|| {
                            bad(format!(
                                "unknown entity &{};  (entities are not expanded)",
                                &*reference
                            ))
                        })?
                        .to_owned(),
                    Err(e) => return Err(bad(e)),
                };
                add_text(&mut stack, &resolved)?;
            }
            Event::DocType(_) => return Err(bad("a DOCTYPE is not accepted")),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(bad("the document ends inside an element"));
    }
    root.ok_or_else(|| bad("no root element"))
}

/// Only XML white space (indentation between elements).
fn is_blank(text: &str) -> bool {
    text.chars().all(|c| matches!(c, ' ' | '\t' | '\n' | '\r'))
}

fn close(stack: &mut [Element], root: &mut Option<Element>, element: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None => *root = Some(element),
    }
}

fn add_text(stack: &mut [Element], text: &str) -> CseResult<()> {
    match stack.last_mut() {
        Some(element) => {
            element.text.push_str(text);
            Ok(())
        }
        None if is_blank(text) => Ok(()),
        None => Err(bad("text outside the root element")),
    }
}

/// An element's key and attributes. A prefix bound to the oneM2M namespace
/// reads as `m2m:` whatever it is called; other prefixes are kept as written.
fn open(
    reader: &NsReader<&[u8]>,
    start: &BytesStart<'_>,
    stack: &[Element],
    root: &Option<Element>,
) -> CseResult<Element> {
    if root.is_some() {
        return Err(bad("more than one root element"));
    }
    if stack.len() >= MAX_DEPTH {
        return Err(bad(format!("elements nested deeper than {MAX_DEPTH}")));
    }
    let is_root = stack.is_empty();
    let resolver = reader.resolver();
    let qname = start.name();
    let (ns, local) = resolver.resolve_element(qname);
    let in_m2m = matches!(ns, ResolveResult::Bound(Namespace(uri)) if uri == M2M_NS);
    let name = match qname.prefix() {
        Some(_) if in_m2m => format!("m2m:{}", local.as_ref()),
        Some(_) => qname.as_ref().to_owned(),
        None if is_root && in_m2m => format!("m2m:{}", local.as_ref()),
        None => local.as_ref().to_owned(),
    };
    let mut element = Element {
        name,
        ..Element::default()
    };
    for attr in start.attributes() {
        let attr = attr.map_err(bad)?;
        if attr.key.as_namespace_binding().is_some() {
            continue;
        }
        let value = attr
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(bad)?;
        let (ns, local) = resolver.resolve_attribute(attr.key);
        if matches!(ns, ResolveResult::Bound(Namespace(uri)) if uri == XSI_NS) {
            match local.as_ref() {
                "type" => element.xsi_type = Some(value.into_owned()),
                "nil" => element.nil = matches!(value.trim(), "true" | "1"),
                _ => {}
            }
            continue;
        }
        element
            .attrs
            .push((attr.key.as_ref().to_owned(), value.into_owned()));
    }
    Ok(element)
}

/// The value of a whole document: `{root key: value}`, or a bare primitive.
pub fn to_value(root: &Element) -> CseResult<Value> {
    let value = single(root, global_shape(&root.name))?;
    if root.name == "m2m:rqp" || root.name == "m2m:rsp" {
        return Ok(value);
    }
    let mut map = Map::with_capacity(1);
    map.insert(root.name.clone(), value);
    Ok(Value::Object(map))
}

/// The member key of a child: inside `m2m:rce` a resource goes by its bare
/// name (`cnt`), as in JSON.
fn member_key(parent_shape: Shape, name: &str) -> String {
    match (parent_shape, name.strip_prefix("m2m:")) {
        (Shape::Known(Kind::Wrapper), Some(bare)) => bare.to_owned(),
        _ => name.to_owned(),
    }
}

/// The members of an element: its attributes, then its children grouped by name.
fn members(element: &Element, shape: Shape) -> CseResult<Map<String, Value>> {
    if !element.children.is_empty() && !is_blank(&element.text) {
        return Err(bad(format!("<{}> mixes text and elements", element.name)));
    }
    let mut map = attributes(element, shape);
    // children grouped by name, in the order names first appear
    let mut groups: Vec<(&str, Vec<&Element>)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for child in &element.children {
        match index.get(child.name.as_str()) {
            Some(&at) => groups[at].1.push(child),
            None => {
                index.insert(&child.name, groups.len());
                groups.push((&child.name, vec![child]));
            }
        }
    }
    for (name, occurrences) in groups {
        let (child, repeated) = child_shape(&element.name, shape, name);
        let value = group(&occurrences, child, repeated)?;
        map.insert(member_key(shape, name), value);
    }
    Ok(map)
}

/// XML attributes as members, typed by the table (`typ` is a number).
fn attributes(element: &Element, shape: Shape) -> Map<String, Value> {
    let mut map = Map::new();
    for (name, text) in &element.attrs {
        let kind = match shape {
            Shape::Untyped | Shape::Known(Kind::Opaque) => None,
            _ => schema::kind_in(Some(&element.name), name),
        };
        let value = match kind {
            Some(Kind::Num) => number(text),
            Some(Kind::Bool) => boolean(text),
            _ => Value::String(text.clone()),
        };
        map.insert(name.clone(), value);
    }
    map
}

/// All occurrences of one child name as one member value.
fn group(elements: &[&Element], shape: Shape, repeated: bool) -> CseResult<Value> {
    let item = match shape {
        Shape::Known(Kind::StrList | Kind::NumList) => {
            // an xs:list given as repeated elements is still one list
            let mut items = Vec::new();
            let mut any = false;
            for element in elements {
                if let Value::Array(more) = single(element, shape)? {
                    items.extend(more);
                    any = true;
                }
            }
            return Ok(if any {
                Value::Array(items)
            } else {
                Value::Null
            });
        }
        Shape::Known(Kind::StrRepeated) => Shape::Known(Kind::Str),
        Shape::Known(Kind::NumRepeated) => Shape::Known(Kind::Num),
        Shape::Known(Kind::ObjectList) => Shape::Known(Kind::Object),
        Shape::Known(Kind::RefList) => Shape::Known(Kind::Ref),
        _ if repeated => shape,
        _ => {
            return match elements {
                [one] => single(one, shape),
                many => many
                    .iter()
                    .map(|e| single(e, shape))
                    .collect::<CseResult<Vec<_>>>()
                    .map(Value::Array),
            };
        }
    };
    elements
        .iter()
        .map(|e| single(e, item))
        .collect::<CseResult<Vec<_>>>()
        .map(Value::Array)
}

/// The value of one element.
fn single(element: &Element, shape: Shape) -> CseResult<Value> {
    if element.nil {
        return Ok(Value::Null);
    }
    let leaf = element.children.is_empty();
    let empty = leaf && element.text.is_empty() && element.attrs.is_empty();
    match shape {
        Shape::Resource => Ok(Value::Object(members(element, shape)?)),
        _ if empty => Ok(Value::Null),
        Shape::Known(Kind::Object | Kind::Content | Kind::Wrapper | Kind::Any) if !leaf => {
            Ok(Value::Object(members(element, shape)?))
        }
        Shape::Known(Kind::Object | Kind::Wrapper) if is_blank(&element.text) => {
            Ok(Value::Object(members(element, shape)?))
        }
        Shape::Known(Kind::Opaque) | Shape::Untyped if !leaf => {
            Ok(Value::Object(members(element, Shape::Untyped)?))
        }
        Shape::Known(Kind::Ref) => {
            let mut map = attributes(element, shape);
            map.insert("val".into(), Value::String(element.text.clone()));
            Ok(Value::Object(map))
        }
        _ if !leaf => Ok(Value::Object(members(element, Shape::Untyped)?)),
        // simple content with XML attributes: the attributes plus `val`
        _ if !element.attrs.is_empty() => {
            let mut map = attributes(element, shape);
            if !element.text.is_empty() {
                map.insert("val".into(), scalar(element, shape));
            }
            Ok(Value::Object(map))
        }
        _ => Ok(scalar(element, shape)),
    }
}

/// The text of a leaf element as its kind says; text that does not parse as
/// the kind stays text (the core's attribute check then names the problem).
fn scalar(element: &Element, shape: Shape) -> Value {
    let text = &element.text;
    match shape {
        Shape::Known(Kind::Num | Kind::NumRepeated) => number(text),
        Shape::Known(Kind::Bool) => boolean(text),
        Shape::Known(Kind::StrList) => Value::Array(
            text.split_ascii_whitespace()
                .map(|s| Value::String(s.to_owned()))
                .collect(),
        ),
        Shape::Known(Kind::NumList) => {
            Value::Array(text.split_ascii_whitespace().map(number).collect())
        }
        Shape::Known(Kind::Any | Kind::Opaque) | Shape::Untyped => match &element.xsi_type {
            Some(ty) => typed(text, ty),
            None => Value::String(text.clone()),
        },
        _ => Value::String(text.clone()),
    }
}

/// Text with an `xsi:type` (`xs:integer`, `xs:double`, `xs:boolean`, ...).
fn typed(text: &str, xsi_type: &str) -> Value {
    let local = xsi_type
        .rsplit_once(':')
        .map(|(_, l)| l)
        .unwrap_or(xsi_type);
    match local {
        "integer" | "int" | "long" | "short" | "byte" | "nonNegativeInteger"
        | "positiveInteger" | "negativeInteger" | "nonPositiveInteger" | "unsignedLong"
        | "unsignedInt" | "unsignedShort" | "unsignedByte" | "decimal" | "double" | "float" => {
            number(text)
        }
        "boolean" => boolean(text),
        _ => Value::String(text.to_owned()),
    }
}

fn number(text: &str) -> Value {
    let t = text.trim();
    if let Ok(n) = t.parse::<u64>() {
        return Value::Number(n.into());
    }
    if let Ok(n) = t.parse::<i64>() {
        return Value::Number(n.into());
    }
    t.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Value::Number)
        .unwrap_or_else(|| Value::String(text.to_owned()))
}

fn boolean(text: &str) -> Value {
    match text.trim() {
        "true" | "1" => Value::Bool(true),
        "false" | "0" => Value::Bool(false),
        _ => Value::String(text.to_owned()),
    }
}
