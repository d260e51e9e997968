//! A stored resource: type, structured path, creator and attributes.

use serde_json::{Map, Value};

/// Attributes by short name, exactly as they are represented on the wire.
pub type Attrs = Map<String, Value>;

#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    /// `ty`, kept outside `attrs` too because every layer branches on it.
    pub ty: u32,
    /// Structured CSE-relative ID, e.g. `cse-in/myAE/cnt1`. Never changes: `rn` is
    /// not updatable.
    pub path: String,
    /// The originator that created the resource; governs default access when the
    /// resource has no `acpi`. Not an attribute, never serialized to clients.
    pub creator: String,
    pub attrs: Attrs,
}

impl Resource {
    pub fn str_attr(&self, sn: &str) -> Option<&str> {
        self.attrs.get(sn).and_then(Value::as_str)
    }
    pub fn ri(&self) -> &str {
        self.str_attr("ri").unwrap_or_default()
    }
    pub fn pi(&self) -> &str {
        self.str_attr("pi").unwrap_or_default()
    }
    pub fn rn(&self) -> &str {
        self.str_attr("rn").unwrap_or_default()
    }
    pub fn et(&self) -> Option<&str> {
        self.str_attr("et")
    }
    pub fn u64_attr(&self, sn: &str) -> Option<u64> {
        self.attrs.get(sn).and_then(Value::as_u64)
    }
    /// A list attribute of strings (`lbl`, `acpi`, `nu`, ...); missing gives empty.
    pub fn str_list(&self, sn: &str) -> Vec<&str> {
        match self.attrs.get(sn) {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }
    pub fn labels(&self) -> Vec<&str> {
        self.str_list("lbl")
    }
    pub fn set(&mut self, sn: &str, value: impl Into<Value>) {
        self.attrs.insert(sn.to_owned(), value.into());
    }
}
