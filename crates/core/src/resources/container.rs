//! `<container>` (ty 3): holds contentInstances, keeps `cni`/`cbs` exact and
//! enforces `mni`, `mbs` (by dropping the oldest) and `mia` (through each
//! instance's `et`).

use serde_json::Value;
use urbis_model::{CseResult, Resource, ResourceType};

use crate::attr;
use crate::attributes::{AttrDef, ACPI, ANNOUNCE, CREATOR, UNIVERSAL};
use crate::registry::{Hooks, Kind, WriteCtx};

const OWN: &[AttrDef] = &[
    attr!("mni", NonNegInt, O, O),
    attr!("mbs", NonNegInt, O, O),
    attr!("mia", NonNegInt, O, O),
    attr!("cni", NonNegInt, NP, NP),
    attr!("cbs", NonNegInt, NP, NP),
    attr!("li", Str, NP, NP),
    attr!("or", Str, O, O),
    attr!("disr", Bool, O, O),
    attr!("st", NonNegInt, NP, NP),
    attr!("loc", Any, O, O),
];

pub static KIND: Kind = Kind {
    ty: ResourceType::Container,
    attrs: &[UNIVERSAL, ACPI, ANNOUNCE, CREATOR, OWN],
    parents: &[
        ResourceType::CseBase,
        ResourceType::Ae,
        ResourceType::Container,
        ResourceType::FlexContainer,
        ResourceType::RemoteCse,
    ],
    own_acpi: true,
    id_prefix: "cnt",
    hooks: &ContainerHooks,
};

struct ContainerHooks;

impl Hooks for ContainerHooks {
    fn on_create(
        &self,
        _ctx: &mut WriteCtx<'_>,
        _parent: &mut Resource,
        resource: &mut Resource,
    ) -> CseResult<bool> {
        resource.set("cni", 0);
        resource.set("cbs", 0);
        resource.set("st", 0);
        Ok(false)
    }

    fn on_update(
        &self,
        ctx: &mut WriteCtx<'_>,
        previous: &Resource,
        resource: &mut Resource,
    ) -> CseResult<()> {
        let st = resource.u64_attr("st").unwrap_or(0);
        resource.set("st", st + 1);
        if retrieval_disabled(previous) && !retrieval_disabled(resource) {
            // Instances stored while retrieval was disabled are never released.
            for instance in ctx
                .txn
                .children(resource.ri(), Some(ResourceType::ContentInstance.ty()))?
            {
                ctx.txn.delete_tree(&instance.path)?;
            }
            resource.set("cni", 0);
            resource.set("cbs", 0);
        }
        enforce_limits(ctx, resource)
    }
}

/// The instance type a holder keeps: contentInstance in a container,
/// timeSeriesInstance in a timeSeries, flexContainerInstance in a flexContainer.
pub fn instance_type(holder_ty: u32) -> Option<u32> {
    match ResourceType::from_ty(holder_ty)? {
        ResourceType::Container => Some(ResourceType::ContentInstance.ty()),
        ResourceType::TimeSeries => Some(ResourceType::TimeSeriesInstance.ty()),
        ResourceType::FlexContainer => Some(ResourceType::FlexContainerInstance.ty()),
        _ => None,
    }
}

/// `disr`: instances may not be retrieved or deleted one by one.
pub fn retrieval_disabled(container: &Resource) -> bool {
    container
        .attrs
        .get("disr")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// Drop the oldest instances until `cni <= mni` and `cbs <= mbs`.
pub fn enforce_limits(ctx: &mut WriteCtx<'_>, container: &mut Resource) -> CseResult<()> {
    let mni = container.u64_attr("mni");
    let mbs = container.u64_attr("mbs");
    if mni.is_none() && mbs.is_none() {
        return Ok(());
    }
    let mut cni = container.u64_attr("cni").unwrap_or(0);
    let mut cbs = container.u64_attr("cbs").unwrap_or(0);
    let Some(instance_ty) = instance_type(container.ty) else {
        return Ok(());
    };
    while mni.is_some_and(|m| cni > m) || mbs.is_some_and(|m| cbs > m) {
        let Some(oldest) = ctx.txn.edge_child(container.ri(), instance_ty, false)? else {
            break;
        };
        ctx.txn.delete_tree(&oldest.path)?;
        cni = cni.saturating_sub(1);
        cbs = cbs.saturating_sub(oldest.u64_attr("cs").unwrap_or(0));
    }
    container.set("cni", cni);
    container.set("cbs", cbs);
    Ok(())
}

/// Count a new instance of `size` bytes in its holder's `cni`/`cbs`.
pub fn instance_added(holder: &mut Resource, size: u64) {
    holder.set("cni", holder.u64_attr("cni").unwrap_or(0) + 1);
    holder.set("cbs", holder.u64_attr("cbs").unwrap_or(0) + size);
}

/// Account for an instance removed by DELETE or expiry in its holder's
/// `cni`/`cbs`. Nothing to do when the holder is being deleted with it.
pub fn instance_removed(
    ctx: &mut WriteCtx<'_>,
    instance: &Resource,
    root_of_delete: bool,
) -> CseResult<()> {
    if !root_of_delete {
        return Ok(());
    }
    if let Some(mut holder) = ctx.txn.lock(instance.pi())? {
        let size = instance.u64_attr("cs").unwrap_or(0);
        let cni = holder.u64_attr("cni").unwrap_or(0);
        let cbs = holder.u64_attr("cbs").unwrap_or(0);
        holder.set("cni", cni.saturating_sub(1));
        holder.set("cbs", cbs.saturating_sub(size));
        ctx.txn.update(&holder, false)?;
    }
    Ok(())
}
