//! `<timeSeries>` (ty 29) and `<timeSeriesInstance>` (ty 30): like container and
//! contentInstance, for periodic data with a data generation time (`dgt`).
//! Missing-data detection (`mdd`) is accepted and stored but not yet acted on.

use urbis_model::{CseError, CseResult, Resource, ResourceType, Rsc};

use crate::attr;
use crate::attributes::{AttrDef, ACPI, ANNOUNCE, CREATOR, UNIVERSAL};
use crate::registry::{Hooks, Kind, ReadCtx, WriteCtx};
use crate::resources::{container, content_instance};

const SERIES: &[AttrDef] = &[
    attr!("mni", NonNegInt, O, O),
    attr!("mbs", NonNegInt, O, O),
    attr!("mia", NonNegInt, O, O),
    attr!("cni", NonNegInt, NP, NP),
    attr!("cbs", NonNegInt, NP, NP),
    attr!("pei", PosInt, O, O),
    attr!("peid", NonNegInt, O, O),
    attr!("mdd", Bool, O, O),
    attr!("mdn", PosInt, O, O),
    attr!("mdlt", List, NP, NP),
    attr!("mdc", NonNegInt, NP, NP),
    attr!("mdt", PosInt, O, O),
    attr!("cnf", Str, O, NP),
    attr!("or", Str, O, O),
    attr!("st", NonNegInt, NP, NP),
    attr!("loc", Any, O, O),
];

pub static SERIES_KIND: Kind = Kind {
    ty: ResourceType::TimeSeries,
    attrs: &[UNIVERSAL, ACPI, ANNOUNCE, CREATOR, SERIES],
    parents: &[
        ResourceType::CseBase,
        ResourceType::Ae,
        ResourceType::Container,
        ResourceType::FlexContainer,
        ResourceType::RemoteCse,
    ],
    own_acpi: true,
    id_prefix: "ts",
    hooks: &SeriesHooks,
};

struct SeriesHooks;

impl Hooks for SeriesHooks {
    fn on_create(
        &self,
        _ctx: &mut WriteCtx<'_>,
        _parent: &mut Resource,
        resource: &mut Resource,
    ) -> CseResult<bool> {
        resource.set("cni", 0);
        resource.set("cbs", 0);
        resource.set("st", 0);
        if resource
            .attrs
            .get("mdd")
            .and_then(serde_json::Value::as_bool)
            == Some(true)
        {
            resource.set("mdc", 0);
            resource.set("mdlt", serde_json::json!([]));
        }
        Ok(false)
    }

    fn on_update(
        &self,
        ctx: &mut WriteCtx<'_>,
        _previous: &Resource,
        resource: &mut Resource,
    ) -> CseResult<()> {
        let st = resource.u64_attr("st").unwrap_or(0);
        resource.set("st", st + 1);
        container::enforce_limits(ctx, resource)
    }
}

const INSTANCE: &[AttrDef] = &[
    attr!("ty", NonNegInt, NP, NP),
    attr!("ri", Str, NP, NP),
    attr!("rn", Str, O, NP),
    attr!("pi", Str, NP, NP),
    attr!("ct", Timestamp, NP, NP),
    attr!("lt", Timestamp, NP, NP),
    attr!("et", Timestamp, O, NP),
    attr!("lbl", StrList, O, NP),
    attr!("dgt", Timestamp, M, NP),
    attr!("con", Any, M, NP),
    attr!("cs", NonNegInt, NP, NP),
    attr!("snr", NonNegInt, O, NP),
];

pub static INSTANCE_KIND: Kind = Kind {
    ty: ResourceType::TimeSeriesInstance,
    attrs: &[INSTANCE, ANNOUNCE, CREATOR],
    parents: &[ResourceType::TimeSeries],
    own_acpi: false,
    id_prefix: "tsi",
    hooks: &InstanceHooks,
};

struct InstanceHooks;

impl Hooks for InstanceHooks {
    fn validate_create(
        &self,
        ctx: &ReadCtx<'_>,
        parent: &Resource,
        resource: &mut Resource,
    ) -> CseResult<()> {
        let size = content_instance::content_size(resource.attrs.get("con"));
        if parent.u64_attr("mbs").is_some_and(|mbs| size > mbs) {
            return Err(CseError::new(
                Rsc::NotAcceptable,
                format!("content of {size} bytes exceeds the series' mbs"),
            ));
        }
        resource.set("cs", size);
        let dgt = resource.str_attr("dgt").unwrap_or_default().to_owned();
        let duplicate = ctx
            .reader
            .children(parent.ri(), Some(ResourceType::TimeSeriesInstance.ty()))?
            .iter()
            .any(|sibling| sibling.str_attr("dgt") == Some(dgt.as_str()));
        if duplicate {
            return Err(CseError::new(
                Rsc::Conflict,
                format!("an instance with dgt {dgt} already exists"),
            ));
        }
        Ok(())
    }

    fn on_create(
        &self,
        ctx: &mut WriteCtx<'_>,
        parent: &mut Resource,
        resource: &mut Resource,
    ) -> CseResult<bool> {
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
