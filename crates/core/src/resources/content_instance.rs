//! `<contentInstance>` (ty 4): an immutable data instance in a container.

use serde_json::Value;
use urbis_model::{time, CseError, CseResult, Resource, ResourceType, Rsc};

use crate::attr;
use crate::attributes::{AttrDef, ANNOUNCE, CREATOR};
use crate::registry::{Hooks, Kind, ReadCtx, WriteCtx};
use crate::resources::container;

const OWN: &[AttrDef] = &[
    attr!("ty", NonNegInt, NP, NP),
    attr!("ri", Str, NP, NP),
    attr!("rn", Str, O, NP),
    attr!("pi", Str, NP, NP),
    attr!("ct", Timestamp, NP, NP),
    attr!("lt", Timestamp, NP, NP),
    attr!("et", Timestamp, O, NP),
    attr!("lbl", StrList, O, NP),
    attr!("cstn", Str, O, NP),
    attr!("st", NonNegInt, NP, NP),
    attr!("cnf", Str, O, NP),
    attr!("cs", NonNegInt, NP, NP),
    attr!("conr", List, O, NP),
    attr!("con", Any, O, NP),
    attr!("or", Str, O, NP),
    attr!("dcnt", PosInt, O, NP),
    attr!("dgt", Timestamp, O, NP),
    attr!("loc", Any, O, NP),
];

pub static KIND: Kind = Kind {
    ty: ResourceType::ContentInstance,
    attrs: &[OWN, ANNOUNCE, CREATOR],
    parents: &[ResourceType::Container],
    own_acpi: false,
    id_prefix: "cin",
    hooks: &ContentInstanceHooks,
};

struct ContentInstanceHooks;

impl Hooks for ContentInstanceHooks {
    fn validate_create(
        &self,
        _ctx: &ReadCtx<'_>,
        parent: &Resource,
        resource: &mut Resource,
    ) -> CseResult<()> {
        if resource.attrs.get("con").is_none() && resource.attrs.get("conr").is_none() {
            return Err(CseError::bad_request(
                "a contentInstance needs con (or conr)",
            ));
        }
        if let Some(cnf) = resource.str_attr("cnf") {
            check_content_info(cnf)?;
        }
        let size = content_size(resource.attrs.get("con"));
        if parent.u64_attr("mbs").is_some_and(|mbs| size > mbs) {
            return Err(CseError::new(
                Rsc::NotAcceptable,
                format!("content of {size} bytes exceeds the container's mbs"),
            ));
        }
        resource.set("cs", size);
        // mia: an instance lives no longer than the container allows
        if let Some(mia) = parent.u64_attr("mia") {
            let limit = time::format(time::after_ms(
                time::now(),
                (mia as i64).saturating_mul(1000),
            ));
            if resource.et().is_none_or(|et| et > limit.as_str()) {
                resource.set("et", limit);
            }
        }
        Ok(())
    }

    fn on_create(
        &self,
        ctx: &mut WriteCtx<'_>,
        parent: &mut Resource,
        resource: &mut Resource,
    ) -> CseResult<bool> {
        let st = parent.u64_attr("st").unwrap_or(0) + 1;
        parent.set("st", st);
        resource.set("st", st);
        container::instance_added(parent, resource.u64_attr("cs").unwrap_or(0));
        container::enforce_limits(ctx, parent)?;
        Ok(true)
    }

    fn on_delete(
        &self,
        ctx: &mut WriteCtx<'_>,
        resource: &Resource,
        root_of_delete: bool,
    ) -> CseResult<()> {
        container::instance_removed(ctx, resource, root_of_delete)
    }
}

/// `cs`: bytes of `con` as it is represented (a string's own length).
pub fn content_size(con: Option<&Value>) -> u64 {
    match con {
        None | Some(Value::Null) => 0,
        Some(Value::String(text)) => text.len() as u64,
        Some(other) => other.to_string().len() as u64,
    }
}

/// `cnf`: `type/subtype:encoding[:security]`, encoding 0 (plain), 1 (base64
/// string) or 2 (base64 binary) (TS-0004 §6.3.5.x contentInfo).
pub(crate) fn check_content_info(cnf: &str) -> CseResult<()> {
    let bad = || CseError::bad_request(format!("invalid contentInfo {cnf:?}"));
    let parts: Vec<&str> = cnf.split(':').collect();
    if parts.len() < 2 || parts.len() > 3 {
        return Err(bad());
    }
    let (media, encoding) = (parts[0], parts[1]);
    let media_ok = media
        .split_once('/')
        .is_some_and(|(t, s)| !t.is_empty() && !s.is_empty());
    if !media_ok || !matches!(encoding, "0" | "1" | "2") {
        return Err(bad());
    }
    if let Some(security) = parts.get(2) {
        if !matches!(*security, "1" | "2" | "3" | "4") {
            return Err(bad());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn content_info() {
        assert!(check_content_info("text/plain:0").is_ok());
        assert!(check_content_info("application/json:1").is_ok());
        for bad in [
            "text",
            "text:0",
            "text/plain",
            "text/plain:0:0:0",
            "text/plain:9",
        ] {
            assert!(check_content_info(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(content_size(Some(&json!("abc"))), 3);
        assert_eq!(content_size(Some(&json!(12))), 2);
        assert_eq!(content_size(None), 0);
    }
}
