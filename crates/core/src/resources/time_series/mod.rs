//! `<timeSeries>` (ty 29) and `<timeSeriesInstance>` (ty 30): like container and
//! contentInstance, for periodic data with a data generation time (`dgt`).
//! Missing-data detection (`mdd`) runs in [`monitor`].

pub mod monitor;

use serde_json::Value;
use urbis_model::{Attrs, CseError, CseResult, Resource, ResourceType, Rsc};

use crate::attr;
use crate::attributes::{AttrDef, ACPI, ANNOUNCE, CREATOR, UNIVERSAL};
use crate::registry::{Hooks, Kind, ReadCtx, WriteCtx};
use crate::resources::{container, content_instance};
use crate::Cse;

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

/// Settings of missing-data detection: fixed while detection runs, and not
/// changed in the request that switches it (TS-0004 §7.4.37).
const DETECTION_SETTINGS: &[&str] = &["mdt", "mdn", "pei", "peid"];

fn flag(attrs: &Attrs, sn: &str) -> Option<bool> {
    attrs.get(sn).and_then(Value::as_bool)
}

/// `peid` may be at most half of `pei` (a tolerance larger than half the
/// period could not tell a late instance from a missing one).
fn check_period_tolerance(pei: Option<u64>, peid: Option<u64>) -> CseResult<()> {
    match (pei, peid) {
        (Some(pei), Some(peid)) if peid.saturating_mul(2) > pei => Err(CseError::bad_request(
            format!("peid ({peid}) must not exceed half of pei ({pei})"),
        )),
        _ => Ok(()),
    }
}

impl Hooks for SeriesHooks {
    fn validate_create(
        &self,
        _ctx: &ReadCtx<'_>,
        _parent: &Resource,
        resource: &mut Resource,
    ) -> CseResult<()> {
        if let Some(cnf) = resource.str_attr("cnf") {
            content_instance::check_content_info(cnf)?;
        }
        let pei = resource.u64_attr("pei");
        if let (Some(pei), None) = (pei, resource.u64_attr("peid")) {
            resource.set("peid", pei / 2);
        }
        check_period_tolerance(pei, resource.u64_attr("peid"))?;
        let detecting = flag(&resource.attrs, "mdd").unwrap_or(false);
        if detecting && resource.u64_attr("mdt").is_none() {
            return Err(CseError::bad_request(
                "missing-data detection (mdd) needs a detection time (mdt)",
            ));
        }
        resource.set("mdd", detecting);
        Ok(())
    }

    fn validate_update(
        &self,
        _ctx: &ReadCtx<'_>,
        current: &Resource,
        changes: &Attrs,
    ) -> CseResult<()> {
        let touches_settings = DETECTION_SETTINGS
            .iter()
            .any(|sn| changes.contains_key(*sn));
        if touches_settings && changes.contains_key("mdd") {
            return Err(CseError::bad_request(
                "mdd cannot change in the same request as mdt, mdn, pei or peid",
            ));
        }
        if touches_settings && flag(&current.attrs, "mdd") == Some(true) {
            return Err(CseError::bad_request(
                "mdt, mdn, pei and peid are fixed while missing-data detection runs",
            ));
        }
        let after = |sn: &str| match changes.get(sn) {
            Some(value) => value.as_u64(),
            None => current.u64_attr(sn),
        };
        // a new pei without peid resets peid to its default (checked in on_update)
        let peid = if changes.contains_key("pei") && !changes.contains_key("peid") {
            after("pei").map(|pei| pei / 2)
        } else {
            after("peid")
        };
        check_period_tolerance(after("pei"), peid)?;
        if flag(changes, "mdd") == Some(true) && after("mdt").is_none() {
            return Err(CseError::bad_request(
                "missing-data detection (mdd) needs a detection time (mdt)",
            ));
        }
        Ok(())
    }

    fn on_create(
        &self,
        _ctx: &mut WriteCtx<'_>,
        _parent: &mut Resource,
        resource: &mut Resource,
    ) -> CseResult<bool> {
        resource.set("cni", 0);
        resource.set("cbs", 0);
        resource.set("st", 0);
        // the count exists from the start; the list appears with its first entry
        resource.set("mdc", 0);
        Ok(false)
    }

    fn on_update(
        &self,
        ctx: &mut WriteCtx<'_>,
        previous: &Resource,
        resource: &mut Resource,
    ) -> CseResult<()> {
        let pei_changed = resource.u64_attr("pei") != previous.u64_attr("pei");
        let peid_given = ctx.changes.is_some_and(|c| c.contains_key("peid"));
        if pei_changed && !peid_given {
            match resource.u64_attr("pei") {
                Some(pei) => resource.set("peid", pei / 2),
                None => {
                    resource.attrs.remove("peid");
                }
            }
        }
        // switching detection on (again) starts a fresh list
        let restart = ctx.changes.and_then(|c| flag(c, "mdd")) == Some(true);
        if restart {
            resource.attrs.remove("mdlt");
            resource.set("mdc", 0);
        }
        monitor::series_updated(previous, resource, restart);
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

/// The `dgt` of an instance is unique within its series (TS-0004: 4105
/// CONFLICT); an indexed lookup, not a scan of the series.
fn refuse_taken_dgt(
    reader: &dyn urbis_store::ReadTxn,
    series: &Resource,
    instance: &Resource,
) -> CseResult<()> {
    let dgt = instance.str_attr("dgt").unwrap_or_default();
    if reader.instance_with_dgt(series.ri(), dgt)?.is_some() {
        return Err(CseError::new(
            Rsc::Conflict,
            format!("an instance with dgt {dgt} already exists"),
        ));
    }
    Ok(())
}

impl Hooks for InstanceHooks {
    fn validate_create(
        &self,
        _ctx: &ReadCtx<'_>,
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
        Ok(())
    }

    fn on_create(
        &self,
        ctx: &mut WriteCtx<'_>,
        parent: &mut Resource,
        resource: &mut Resource,
    ) -> CseResult<bool> {
        // in the write job, so that no concurrent create can take it meanwhile
        refuse_taken_dgt(&*ctx.txn, parent, resource)?;
        container::instance_added(parent, resource.u64_attr("cs").unwrap_or(0));
        if let Some(dgt) = resource.str_attr("dgt") {
            monitor::record_arrival(parent, dgt);
        }
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

    fn created(&self, cse: &Cse, resource: &Resource) {
        cse.missing_data().time(cse, resource.pi());
    }
}
