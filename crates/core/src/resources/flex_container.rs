//! `<flexContainer>` (ty 28) and `<flexContainerInstance>` (ty 58).
//!
//! A flexContainer is a container whose data are its own *custom attributes*,
//! defined by a specialization (TS-0001 §9.6.35, TS-0004 §7.4.37): e.g.
//! `cod:tempe` with `cnd` `org.onem2m.common.moduleclass.temperature` and
//! attributes `curT0`, `tarTe`, ... .
//!
//! **Root keys.** A specialization is created and represented under its own
//! namespaced name (`{"cod:tempe": {...}}`, ty 28), the generic type under
//! `m2m:fcnt`. Any `<ns>:<name>` outside the `m2m` namespace is accepted. The
//! name the resource was created with is kept in the internal attribute
//! [`ROOT_KEY`] (`__root`; internal attributes are stored with the resource but
//! never accepted from a request nor represented, see
//! `attributes::is_internal`), and `registry::root_key` answers with it, so
//! every representation (and every UPDATE, which must use the same key) uses
//! the specialization's name. A flexContainerInstance is represented under its
//! flexContainer's name (`m2m:fci` for a generic `m2m:fcnt`).
//!
//! **Custom attributes.** Specialization definitions are not loaded: every
//! attribute the flexContainer table does not define is a custom attribute,
//! with any JSON value (the table's catch-all entry, `attributes::CUSTOM`).
//! Other types keep refusing unknown attributes. `cs` is the size of the
//! custom attributes (each measured like a contentInstance's `con`).
//!
//! **Instances.** With `fcied` present, the flexContainer keeps snapshots of
//! its custom attributes (plus `lbl`, `loc`) as flexContainerInstance
//! children, named `<rn>_<st>`, with `cs`, `st` and `org` (the originator):
//! - `fcied: true`: the CREATE, and every UPDATE that carries a custom
//!   attribute, `lbl` or `loc` (or that turns `fcied` on), adds one; `cni`,
//!   `cbs` count them; `mni`/`mbs` drop the oldest, `mia` caps each
//!   instance's `et` (the expiry sweeper removes it, and the removal is
//!   accounted like a deleted instance);
//! - `fcied: false`: only the latest snapshot is kept (the CREATE, turning
//!   `fcied` from absent to false, and UPDATEs of the snapshot attributes
//!   replace it);
//! - `fcied` absent (or removed): no instances; `mni`, `mbs`, `mia` are not
//!   allowed, and removing `fcied` removes them with `cni`, `cbs` and every
//!   instance. Turning `fcied` on starts counting afresh.
//!
//! `mni`, `mbs`, `mia` of 0 are refused, as is an `mbs` below `cs`.
//! Instances are written by the flexContainer only: CREATE and UPDATE of a
//! flexContainerInstance are refused with OPERATION_NOT_ALLOWED; DELETE is
//! allowed and updates the holder's `cni`/`cbs`. Access to an instance follows
//! its flexContainer. `la`/`ol` name the newest/oldest instance.

use serde_json::{json, Value};
use urbis_model::{time, Attrs, CseError, CseResult, Request, Resource, ResourceType, Rsc};

use crate::attr;
use crate::attributes::{self, AttrDef, ACPI, ANNOUNCE, CREATOR, CUSTOM, UNIVERSAL};
use crate::ids;
use crate::notify::{self, net, Event};
use crate::registry::{Hooks, Kind, ReadCtx, WriteCtx};
use crate::resources::{container, content_instance};

/// Internal attribute holding the root key a flexContainer was created with
/// (absent for the generic `m2m:fcnt`), copied to its instances.
pub const ROOT_KEY: &str = "__root";

const OWN: &[AttrDef] = &[
    attr!("cnd", Str, M, NP),
    attr!("or", Str, O, O),
    attr!("nl", Str, O, O),
    attr!("mni", NonNegInt, O, O),
    attr!("mbs", NonNegInt, O, O),
    attr!("mia", NonNegInt, O, O),
    attr!("cni", NonNegInt, NP, NP),
    attr!("cbs", NonNegInt, NP, NP),
    attr!("cs", NonNegInt, NP, NP),
    attr!("st", NonNegInt, NP, NP),
    attr!("fcied", Bool, O, O),
    attr!("loc", Any, O, O),
];

/// Everything but the catch-all: what is not listed here is a custom attribute.
const DEFINED: &[&[AttrDef]] = &[UNIVERSAL, ACPI, ANNOUNCE, CREATOR, OWN];

pub static KIND: Kind = Kind {
    ty: ResourceType::FlexContainer,
    attrs: &[UNIVERSAL, ACPI, ANNOUNCE, CREATOR, OWN, CUSTOM],
    parents: &[
        ResourceType::CseBase,
        ResourceType::Ae,
        ResourceType::Container,
        ResourceType::FlexContainer,
        ResourceType::Node,
        ResourceType::RemoteCse,
    ],
    own_acpi: true,
    id_prefix: "fcnt",
    hooks: &FlexContainerHooks,
};

/// The representation of an instance. Requests never write one (the hooks
/// refuse CREATE and UPDATE with 4005); the table only has to let such a
/// request through attribute validation so that it gets that answer.
const INSTANCE: &[AttrDef] = &[
    attr!("ty", NonNegInt, NP, NP),
    attr!("ri", Str, NP, NP),
    attr!("rn", Str, O, NP),
    attr!("pi", Str, NP, NP),
    attr!("ct", Timestamp, NP, NP),
    attr!("lt", Timestamp, NP, NP),
    attr!("et", Timestamp, O, O),
    attr!("lbl", StrList, O, O),
    attr!("cstn", Str, O, O),
    attr!("st", NonNegInt, NP, NP),
    attr!("cs", NonNegInt, NP, NP),
    attr!("org", Str, NP, NP),
    attr!("loc", Any, O, O),
];

pub static INSTANCE_KIND: Kind = Kind {
    ty: ResourceType::FlexContainerInstance,
    attrs: &[INSTANCE, ANNOUNCE, CUSTOM],
    parents: &[ResourceType::FlexContainer],
    own_acpi: false,
    id_prefix: "fci",
    hooks: &InstanceHooks,
};

/// Whether a type is one of the two kinds of this module.
pub fn is_flex_type(ty: ResourceType) -> bool {
    matches!(
        ty,
        ResourceType::FlexContainer | ResourceType::FlexContainerInstance
    )
}

/// Whether a CREATE of type `ty` may use `key` as its root key: the generic
/// name, or a specialization's `<ns>:<name>` outside the `m2m` namespace.
pub fn accepts_root_key(ty: ResourceType, key: &str) -> bool {
    is_flex_type(ty) && (key == ty.short_name() || is_specialization_name(key))
}

fn is_specialization_name(key: &str) -> bool {
    let valid = |part: &str| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    };
    key.split_once(':')
        .is_some_and(|(ns, name)| ns != "m2m" && valid(ns) && valid(name))
}

/// The specialization name a flexContainer (or instance) is represented under.
pub fn stored_root_key(resource: &Resource) -> Option<&str> {
    if resource.ty == ResourceType::FlexContainer.ty()
        || resource.ty == ResourceType::FlexContainerInstance.ty()
    {
        resource.str_attr(ROOT_KEY)
    } else {
        None
    }
}

/// A custom attribute of a flexContainer: not in its table, not internal.
fn is_custom(sn: &str) -> bool {
    !attributes::is_internal(sn) && !attributes::defines(DEFINED, sn)
}

/// `cs`: the size of the custom attributes.
fn custom_size(attrs: &Attrs) -> u64 {
    attrs
        .iter()
        .filter(|(sn, _)| is_custom(sn))
        .map(|(_, value)| content_instance::content_size(Some(value)))
        .sum()
}

/// `fcied` as stored (absent: no instances at all).
fn fcied(attrs: &Attrs) -> Option<bool> {
    attrs.get("fcied").and_then(Value::as_bool)
}

/// The root key of a CREATE request (the request has exactly one, checked
/// before the hooks run).
fn request_root_key(request: &Request) -> Option<&str> {
    request
        .pc
        .as_ref()?
        .as_object()?
        .keys()
        .next()
        .map(String::as_str)
}

const LIMITS: [&str; 3] = ["mni", "mbs", "mia"];

/// The rules on `mni`/`mbs`/`mia` against `fcied` and `cs`, for the values a
/// request sets (`requested`) and the resulting resource (`fcied`, `mbs`, `cs`).
fn check_limits(
    requested: &Attrs,
    fcied: Option<bool>,
    mbs: Option<u64>,
    cs: u64,
) -> CseResult<()> {
    let set: Vec<&str> = LIMITS
        .into_iter()
        .filter(|sn| requested.get(*sn).is_some_and(|v| !v.is_null()))
        .collect();
    if fcied.is_none() && !set.is_empty() {
        return Err(CseError::bad_request(format!(
            "{} need fcied (fcinEnabled)",
            set.join(", ")
        )));
    }
    if set
        .iter()
        .any(|sn| requested.get(*sn).and_then(Value::as_u64) == Some(0))
    {
        return Err(CseError::bad_request("mni, mbs and mia must not be 0"));
    }
    if fcied.is_some() && mbs.is_some_and(|mbs| mbs < cs) {
        return Err(CseError::bad_request(format!(
            "mbs is below the size of the custom attributes ({cs})"
        )));
    }
    Ok(())
}

struct FlexContainerHooks;

impl Hooks for FlexContainerHooks {
    fn validate_create(
        &self,
        ctx: &ReadCtx<'_>,
        _parent: &Resource,
        resource: &mut Resource,
    ) -> CseResult<()> {
        let cs = custom_size(&resource.attrs);
        check_limits(
            &resource.attrs,
            fcied(&resource.attrs),
            resource.u64_attr("mbs"),
            cs,
        )?;
        if let Some(key) = request_root_key(ctx.request) {
            if key != ResourceType::FlexContainer.short_name() {
                resource.set(ROOT_KEY, key.to_owned());
            }
        }
        resource.set("cs", cs);
        resource.set("st", 0);
        Ok(())
    }

    fn on_create(
        &self,
        ctx: &mut WriteCtx<'_>,
        _parent: &mut Resource,
        resource: &mut Resource,
    ) -> CseResult<bool> {
        if fcied(&resource.attrs).is_some() {
            resource.set("cni", 0);
            resource.set("cbs", 0);
            add_instance(ctx, resource)?;
        }
        Ok(false)
    }

    fn validate_update(
        &self,
        _ctx: &ReadCtx<'_>,
        current: &Resource,
        changes: &Attrs,
    ) -> CseResult<()> {
        let mut after = current.attrs.clone();
        for (sn, value) in changes {
            if value.is_null() {
                after.remove(sn);
            } else {
                after.insert(sn.clone(), value.clone());
            }
        }
        check_limits(
            changes,
            fcied(&after),
            after.get("mbs").and_then(Value::as_u64),
            custom_size(&after),
        )
    }

    fn on_update(
        &self,
        ctx: &mut WriteCtx<'_>,
        previous: &Resource,
        resource: &mut Resource,
    ) -> CseResult<()> {
        let st = resource.u64_attr("st").unwrap_or(0) + 1;
        resource.set("st", st);
        resource.set("cs", custom_size(&resource.attrs));
        let snapshot_touched = match ctx.changes {
            Some(changes) => changes
                .keys()
                .any(|sn| is_custom(sn) || sn == "lbl" || sn == "loc"),
            None => snapshot_differs(previous, resource),
        };
        let before = fcied(&previous.attrs);
        match fcied(&resource.attrs) {
            None => {
                if before.is_some() {
                    drop_instances(ctx, resource, false)?;
                    for sn in ["cni", "cbs", "mni", "mbs", "mia"] {
                        resource.attrs.remove(sn);
                    }
                }
            }
            Some(false) => {
                if before.is_none() || snapshot_touched {
                    add_instance(ctx, resource)?;
                }
                drop_instances(ctx, resource, true)?;
            }
            Some(true) => {
                let enabled_now = before != Some(true);
                if enabled_now {
                    drop_instances(ctx, resource, false)?;
                }
                if enabled_now || snapshot_touched {
                    add_instance(ctx, resource)?;
                }
                container::enforce_limits(ctx, resource)?;
            }
        }
        Ok(())
    }
}

/// Without the request's changes: whether the snapshot attributes differ.
fn snapshot_differs(previous: &Resource, current: &Resource) -> bool {
    let snapshot = |r: &Resource| -> Vec<(String, Value)> {
        r.attrs
            .iter()
            .filter(|(sn, _)| is_custom(sn) || *sn == "lbl" || *sn == "loc")
            .map(|(sn, v)| (sn.clone(), v.clone()))
            .collect()
    };
    snapshot(previous) != snapshot(current)
}

/// Write a flexContainerInstance holding `holder`'s current snapshot and
/// account for it in `cni`/`cbs` (limits are the caller's business).
fn add_instance(ctx: &mut WriteCtx<'_>, holder: &mut Resource) -> CseResult<()> {
    let st = holder.u64_attr("st").unwrap_or(0);
    let cs = holder.u64_attr("cs").unwrap_or(0);
    let ri = ids::resource_id(INSTANCE_KIND.id_prefix);
    let mut rn = format!("{}_{st}", holder.rn());
    if ctx
        .txn
        .get_by_path(&format!("{}/{rn}", holder.path))?
        .is_some()
    {
        rn = ri.clone();
    }
    // mia: an instance lives no longer than the holder allows (nor than the holder)
    let mut et = holder.et().map(str::to_owned);
    if let Some(mia) = holder.u64_attr("mia") {
        let limit = time::format(time::after_ms(
            time::now(),
            (mia as i64).saturating_mul(1000),
        ));
        if et.as_deref().is_none_or(|et| et > limit.as_str()) {
            et = Some(limit);
        }
    }
    let mut attrs = Attrs::new();
    attrs.insert("ty".into(), json!(ResourceType::FlexContainerInstance.ty()));
    attrs.insert("ri".into(), json!(ri));
    attrs.insert("rn".into(), json!(rn));
    attrs.insert("pi".into(), json!(holder.ri()));
    attrs.insert("ct".into(), json!(ctx.now));
    attrs.insert("lt".into(), json!(ctx.now));
    if let Some(et) = et {
        attrs.insert("et".into(), json!(et));
    }
    attrs.insert("st".into(), json!(st));
    attrs.insert("cs".into(), json!(cs));
    attrs.insert("org".into(), json!(ctx.originator));
    for (sn, value) in &holder.attrs {
        if is_custom(sn) || sn == "lbl" || sn == "loc" || sn == ROOT_KEY {
            attrs.insert(sn.clone(), value.clone());
        }
    }
    let instance = Resource {
        ty: ResourceType::FlexContainerInstance.ty(),
        path: format!("{}/{rn}", holder.path),
        creator: ctx.originator.to_owned(),
        attrs,
    };
    ctx.txn.insert(&instance)?;
    container::instance_added(holder, cs);
    let originator = ctx.originator;
    notify::collect(
        ctx,
        holder.ri(),
        &Event {
            net: net::CREATE_CHILD,
            resource: &instance,
            modified: None,
            originator,
        },
    )
}

/// Delete the holder's instances (all, or all but the newest) and set
/// `cni`/`cbs` to what remains.
fn drop_instances(
    ctx: &mut WriteCtx<'_>,
    holder: &mut Resource,
    keep_latest: bool,
) -> CseResult<()> {
    let mut instances = ctx
        .txn
        .children(holder.ri(), Some(ResourceType::FlexContainerInstance.ty()))?;
    let kept = if keep_latest { instances.pop() } else { None };
    for instance in &instances {
        ctx.txn.delete_tree(&instance.path)?;
    }
    holder.set("cni", u64::from(kept.is_some()));
    holder.set("cbs", kept.and_then(|k| k.u64_attr("cs")).unwrap_or(0));
    Ok(())
}

struct InstanceHooks;

impl Hooks for InstanceHooks {
    fn validate_create(
        &self,
        _ctx: &ReadCtx<'_>,
        _parent: &Resource,
        _resource: &mut Resource,
    ) -> CseResult<()> {
        Err(CseError::new(
            Rsc::OperationNotAllowed,
            "a flexContainerInstance is created by its flexContainer only",
        ))
    }

    fn validate_update(
        &self,
        _ctx: &ReadCtx<'_>,
        _current: &Resource,
        _changes: &Attrs,
    ) -> CseResult<()> {
        Err(CseError::new(
            Rsc::OperationNotAllowed,
            "a flexContainerInstance cannot be updated",
        ))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(value: Value) -> Attrs {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn root_keys() {
        let fcnt = ResourceType::FlexContainer;
        let fci = ResourceType::FlexContainerInstance;
        assert!(accepts_root_key(fcnt, "m2m:fcnt"));
        assert!(accepts_root_key(fcnt, "cod:tempe"));
        assert!(accepts_root_key(fci, "m2m:fci"));
        assert!(accepts_root_key(fci, "cod:tempe"));
        for bad in [
            "m2m:cnt",
            "m2m:tempe",
            "tempe",
            "cod:",
            ":tempe",
            "a:b:c",
            "cod:te mpe",
        ] {
            assert!(!accepts_root_key(fcnt, bad), "{bad}");
        }
        assert!(!accepts_root_key(fci, "m2m:fcnt"));
        assert!(!accepts_root_key(ResourceType::Container, "cod:tempe"));
    }

    #[test]
    fn custom_attributes_and_their_size() {
        assert!(is_custom("curT0"));
        assert!(!is_custom("cnd"));
        assert!(!is_custom("lbl"));
        assert!(!is_custom("acpi"));
        assert!(!is_custom(ROOT_KEY));
        let a = attrs(
            json!({"cnd": "x.y", "curT0": 23.5, "unit": "C", "lbl": ["a"], "__root": "cod:tempe"}),
        );
        assert_eq!(custom_size(&a), 4 + 1);
    }

    #[test]
    fn limits_need_fcied_and_may_not_be_zero() {
        let ok = |body: Value, fcied, mbs, cs| check_limits(&attrs(body), fcied, mbs, cs).is_ok();
        assert!(ok(json!({"mni": 3}), Some(true), None, 10));
        assert!(!ok(json!({"mni": 3}), None, None, 10), "needs fcied");
        assert!(ok(json!({"mni": null}), None, None, 10), "removal is fine");
        assert!(!ok(json!({"mia": 0}), Some(false), None, 10), "zero");
        assert!(!ok(json!({}), Some(true), Some(9), 10), "mbs below cs");
        assert!(ok(json!({}), Some(true), Some(10), 10));
    }

    #[test]
    fn stored_root_key_only_for_flex_types() {
        let mut r = Resource {
            ty: 28,
            path: "cse-in/f".into(),
            creator: "C".into(),
            attrs: attrs(json!({"__root": "cod:tempe"})),
        };
        assert_eq!(stored_root_key(&r), Some("cod:tempe"));
        r.ty = 3;
        assert_eq!(stored_root_key(&r), None);
    }
}
