//! Result content (`rcn`, TS-0004 §6.3.4.2.x): which shape a response takes.

use serde_json::{json, Map, Value};
use urbis_model::{CseError, CseResult, Operation, Request, Resource};

use crate::attributes::is_internal;
use crate::registry::root_key;

pub const NOTHING: u8 = 0;
pub const ATTRIBUTES: u8 = 1;
pub const HIERARCHICAL_ADDRESS: u8 = 2;
pub const HIERARCHICAL_ADDRESS_ATTRIBUTES: u8 = 3;
pub const ATTRIBUTES_AND_CHILDREN: u8 = 4;
pub const ATTRIBUTES_AND_CHILD_REFERENCES: u8 = 5;
pub const CHILD_REFERENCES: u8 = 6;
pub const ORIGINAL_RESOURCE: u8 = 7;
pub const CHILDREN: u8 = 8;
pub const MODIFIED_ATTRIBUTES: u8 = 9;
pub const DISCOVERY_RESULT_REFERENCES: u8 = 11;

/// The effective `rcn` of a request, refusing values the operation does not allow.
pub fn result_content(request: &Request) -> CseResult<u8> {
    let (allowed, default): (&[u8], u8) = match request.op {
        _ if request.is_discovery() => (
            &[DISCOVERY_RESULT_REFERENCES, CHILD_REFERENCES],
            DISCOVERY_RESULT_REFERENCES,
        ),
        Operation::Retrieve => (
            &[
                ATTRIBUTES,
                ATTRIBUTES_AND_CHILDREN,
                ORIGINAL_RESOURCE,
                CHILDREN,
                ATTRIBUTES_AND_CHILD_REFERENCES,
                CHILD_REFERENCES,
            ],
            ATTRIBUTES,
        ),
        Operation::Create => (
            &[
                ATTRIBUTES,
                MODIFIED_ATTRIBUTES,
                HIERARCHICAL_ADDRESS,
                HIERARCHICAL_ADDRESS_ATTRIBUTES,
                NOTHING,
            ],
            ATTRIBUTES,
        ),
        Operation::Update => (&[ATTRIBUTES, MODIFIED_ATTRIBUTES, NOTHING], ATTRIBUTES),
        Operation::Delete => (
            &[
                ATTRIBUTES,
                NOTHING,
                ATTRIBUTES_AND_CHILDREN,
                CHILDREN,
                ATTRIBUTES_AND_CHILD_REFERENCES,
                CHILD_REFERENCES,
            ],
            NOTHING,
        ),
        Operation::Notify => (&[NOTHING], NOTHING),
    };
    match request.rcn {
        None => Ok(default),
        Some(rcn) if allowed.contains(&rcn) => Ok(rcn),
        Some(rcn) => Err(CseError::bad_request(format!(
            "result content {rcn} is not allowed for this operation"
        ))),
    }
}

/// The attributes a representation shows: all but the internal ones
/// (`attributes::is_internal`, e.g. a flexContainer's stored root key).
pub fn visible_attrs(resource: &Resource) -> Map<String, Value> {
    resource
        .attrs
        .iter()
        .filter(|(k, _)| !is_internal(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// `{"m2m:cnt": {...}}`
pub fn wrap(resource: &Resource) -> Value {
    let mut outer = Map::with_capacity(1);
    outer.insert(
        root_key(resource).to_owned(),
        Value::Object(visible_attrs(resource)),
    );
    Value::Object(outer)
}

/// [`wrap`] for a resource the caller is done with: its attributes move
/// into the answer instead of being copied.
pub fn into_wrapped(resource: Resource) -> Value {
    let root = root_key(&resource).to_owned();
    let mut attrs = resource.attrs;
    attrs.retain(|k, _| !is_internal(k));
    let mut outer = Map::with_capacity(1);
    outer.insert(root, Value::Object(attrs));
    Value::Object(outer)
}

/// `{"m2m:cnt": {only these attributes}}`
pub fn wrap_selected(resource: &Resource, keys: &[String]) -> Value {
    let attrs: Map<String, Value> = resource
        .attrs
        .iter()
        .filter(|(k, _)| keys.contains(k) && !is_internal(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut outer = Map::with_capacity(1);
    outer.insert(root_key(resource).to_owned(), Value::Object(attrs));
    Value::Object(outer)
}

/// The ID of a resource in the form the request asked for (`drt`).
pub fn identifier(resource: &Resource, drt: Option<u8>) -> String {
    if drt == Some(2) {
        resource.ri().to_owned()
    } else {
        resource.path.clone()
    }
}

/// `{nm, typ, val}` child resource reference.
pub fn child_reference(resource: &Resource, drt: Option<u8>) -> Value {
    json!({"nm": resource.rn(), "typ": resource.ty, "val": identifier(resource, drt)})
}

/// `m2m:rce` for rcn=3: the attributes plus the hierarchical address.
pub fn resource_and_address(resource: &Resource) -> Value {
    let bare = root_key(resource)
        .split_once(':')
        .map(|(_, b)| b)
        .unwrap_or(root_key(resource));
    json!({"m2m:rce": {bare: Value::Object(visible_attrs(resource)), "uri": resource.path}})
}

/// Nest `children` (a subtree in creation order, each with its path) under
/// `root`'s attributes: each child under its root key, in a list.
pub fn nest_children(root: &Resource, descendants: &[Resource], include_attributes: bool) -> Value {
    fn build(node: &Resource, all: &[Resource], include_attributes: bool) -> Map<String, Value> {
        let mut map = if include_attributes {
            visible_attrs(node)
        } else {
            Map::new()
        };
        for child in all.iter().filter(|c| c.pi() == node.ri()) {
            let nested = build(child, all, true);
            let entry = map
                .entry(root_key(child).to_owned())
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(list) = entry {
                list.push(Value::Object(nested));
            }
        }
        map
    }
    let mut outer = Map::with_capacity(1);
    outer.insert(
        root_key(root).to_owned(),
        Value::Object(build(root, descendants, include_attributes)),
    );
    Value::Object(outer)
}
