//! Value → XML text. Element names are the value's keys, checked to be XML
//! names; namespaces are declared on the root for the prefixes used.

use std::collections::BTreeSet;

use serde_json::{Map, Value};
use urbis_model::{CseError, CseResult, Rsc};

use super::schema::Kind;
use super::{child_shape, global_shape, is_name, namespace_of, Shape, MAX_DEPTH};

/// Universal and common attributes come first in every resource's XSD
/// sequence (TS-0004 §6.3.6); the rest follow in key order, child resource
/// references (`ch`) and child resources last.
const LEADING: &[&str] = &[
    "ty", "ri", "pi", "ct", "lt", "lbl", "acpi", "et", "daci", "lnk", "at", "aa",
];

fn unrepresentable(why: impl std::fmt::Display) -> CseError {
    CseError::new(
        Rsc::NotAcceptable,
        format!("the content cannot be represented in XML: {why}"),
    )
}

/// The whole document for a value.
pub fn document(value: &Value) -> CseResult<String> {
    let (name, content) = root(value)?;
    let shape = global_shape(name);
    let single_element =
        !content.is_array() || matches!(shape, Shape::Known(Kind::StrList | Kind::NumList));
    if !single_element {
        return Err(unrepresentable(format!("{name} is a list, not one root")));
    }
    let mut writer = Writer::default();
    writer.element(name, shape, content, 0)?;
    let mut declarations = String::new();
    for prefix in &writer.prefixes {
        declarations.push_str(&format!(" xmlns:{prefix}=\"{}\"", namespace_of(prefix)));
    }
    let mut out = String::with_capacity(writer.out.len() + declarations.len() + 40);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    // the root start tag is `<name` followed by its attributes
    let (tag, rest) = writer.out.split_at(1 + name.len());
    out.push_str(tag);
    out.push_str(&declarations);
    out.push_str(rest);
    Ok(out)
}

/// The root element: the single namespaced key, or `m2m:rsp` / `m2m:rqp` for
/// a bare response or request primitive (TS-0004 §8.3).
fn root(value: &Value) -> CseResult<(&str, &Value)> {
    let map = value
        .as_object()
        .ok_or_else(|| unrepresentable("the content is not an object"))?;
    let only = (map.len() == 1)
        .then(|| map.iter().next())
        .flatten()
        .map(|(k, v)| (k.as_str(), v));
    match only {
        Some((key, inner)) if key.contains(':') => Ok((key, inner)),
        _ if map.contains_key("rsc") => Ok(("m2m:rsp", value)),
        _ if map.contains_key("op") => Ok(("m2m:rqp", value)),
        Some(one) => Ok(one),
        None => Err(unrepresentable("it has no single root element")),
    }
}

#[derive(Default)]
struct Writer {
    out: String,
    prefixes: BTreeSet<String>,
}

impl Writer {
    fn name(&mut self, name: &str) -> CseResult<()> {
        if !is_name(name) {
            return Err(unrepresentable(format!("{name:?} is not an XML name")));
        }
        if let Some((prefix, _)) = name.split_once(':') {
            if !self.prefixes.contains(prefix) {
                self.prefixes.insert(prefix.to_owned());
            }
        }
        self.out.push_str(name);
        Ok(())
    }

    /// One member: one element, or one per item for repeated forms.
    fn element(&mut self, name: &str, shape: Shape, value: &Value, depth: usize) -> CseResult<()> {
        if depth > MAX_DEPTH {
            return Err(unrepresentable(format!("nested deeper than {MAX_DEPTH}")));
        }
        if let Value::Array(items) = value {
            let item = match shape {
                Shape::Known(Kind::StrList | Kind::NumList) if items.iter().all(is_scalar) => {
                    let text: Vec<String> = items.iter().map(scalar_text).collect();
                    return self.leaf(name, &[], &text.join(" "), None);
                }
                Shape::Known(Kind::StrRepeated) => Shape::Known(Kind::Str),
                Shape::Known(Kind::NumRepeated) => Shape::Known(Kind::Num),
                Shape::Known(Kind::ObjectList) => Shape::Known(Kind::Object),
                Shape::Known(Kind::RefList) => Shape::Known(Kind::Ref),
                other => other,
            };
            for value in items {
                self.element(name, item, value, depth + 1)?;
            }
            return Ok(());
        }
        match value {
            Value::Null => self.leaf(name, &[], "", None),
            Value::Object(map) => self.object(name, shape, map, depth),
            scalar => {
                let untyped = matches!(
                    shape,
                    Shape::Untyped | Shape::Known(Kind::Any | Kind::Opaque)
                );
                let xsi_type = match scalar {
                    Value::Bool(_) if untyped => Some("xs:boolean"),
                    Value::Number(n) if untyped && (n.is_u64() || n.is_i64()) => Some("xs:integer"),
                    Value::Number(_) if untyped => Some("xs:double"),
                    _ => None,
                };
                self.leaf(name, &[], &scalar_text(scalar), xsi_type)
            }
        }
    }

    /// An element with only text (possibly empty).
    fn leaf(
        &mut self,
        name: &str,
        attrs: &[(&str, String)],
        text: &str,
        xsi_type: Option<&str>,
    ) -> CseResult<()> {
        self.start(name, attrs, xsi_type)?;
        if text.is_empty() {
            self.out.push_str("/>");
            return Ok(());
        }
        self.out.push('>');
        escape_into(&mut self.out, text, false)?;
        self.end(name);
        Ok(())
    }

    /// `<name attr="..."` (not closed).
    fn start(
        &mut self,
        name: &str,
        attrs: &[(&str, String)],
        xsi_type: Option<&str>,
    ) -> CseResult<()> {
        self.out.push('<');
        self.name(name)?;
        for (attr, value) in attrs {
            self.out.push(' ');
            self.name(attr)?;
            self.out.push_str("=\"");
            escape_into(&mut self.out, value, true)?;
            self.out.push('"');
        }
        if let Some(ty) = xsi_type {
            self.prefixes.insert("xsi".into());
            self.prefixes.insert("xs".into());
            self.out.push_str(" xsi:type=\"");
            self.out.push_str(ty);
            self.out.push('"');
        }
        Ok(())
    }

    fn end(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }

    fn object(
        &mut self,
        name: &str,
        shape: Shape,
        map: &Map<String, Value>,
        depth: usize,
    ) -> CseResult<()> {
        let mut attrs: Vec<(&str, String)> = Vec::new();
        let mut text = String::new();
        let mut children: Vec<(&str, &Value)> = Vec::new();
        for (key, value) in map {
            match shape {
                Shape::Resource if key == "rn" && value.is_string() => {
                    attrs.push((key, scalar_text(value)));
                }
                Shape::Known(Kind::Ref) if key == "val" && is_scalar(value) => {
                    text = scalar_text(value);
                }
                Shape::Known(Kind::Ref) if is_scalar(value) && !value.is_null() => {
                    attrs.push((key, scalar_text(value)));
                }
                _ => children.push((key, value)),
            }
        }
        if shape == Shape::Resource {
            order_resource_members(&mut children);
        }
        if children.is_empty() {
            return self.leaf(name, &attrs, &text, None);
        }
        self.start(name, &attrs, None)?;
        self.out.push('>');
        for (key, value) in children {
            let child_name = match (shape, key) {
                (Shape::Known(Kind::Wrapper), "uri") => key.to_owned(),
                (Shape::Known(Kind::Wrapper), _) if !key.contains(':') => format!("m2m:{key}"),
                _ => key.to_owned(),
            };
            let (child, _) = child_shape(name, shape, &child_name);
            self.element(&child_name, child, value, depth + 1)?;
        }
        self.end(name);
        Ok(())
    }
}

fn order_resource_members(children: &mut [(&str, &Value)]) {
    let rank = |key: &str| match LEADING.iter().position(|k| *k == key) {
        Some(at) => (0, at),
        None if key.contains(':') => (3, 0),
        None if key == "ch" => (2, 0),
        None => (1, 0),
    };
    // stable: keys of the same rank keep the value's order
    children.sort_by_key(|(key, _)| rank(key));
}

fn is_scalar(value: &Value) -> bool {
    !matches!(value, Value::Array(_) | Value::Object(_))
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Escape text or an attribute value. Carriage returns (and in attributes
/// tabs and newlines) become character references, so a reader's line-end
/// and attribute normalization gives back the same string. Characters XML
/// 1.0 cannot carry at all are refused.
fn escape_into(out: &mut String, text: &str, attribute: bool) -> CseResult<()> {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\r' => out.push_str("&#13;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\n' | '\t' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {
                return Err(unrepresentable(format!(
                    "character U+{:04X} is not allowed in XML 1.0",
                    c as u32
                )));
            }
            c => out.push(c),
        }
    }
    Ok(())
}
