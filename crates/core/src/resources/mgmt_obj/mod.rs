//! `<mgmtObj>` (ty 13): one management function of a `<node>`, as one of
//! the specializations of TS-0001 Annex D and TS-0022, told apart by `mgd`.
//!
//! # Layout
//! - [`specializations`]: the table (`mgd`, short name, attributes);
//!   `annex_d` and `dcfg` hold the attribute tables themselves.
//! - [`values`]: enumerations and the structure of complex-typed attributes.
//! - [`rules`]: defaults on CREATE, triggers, attributes that depend on each other.
//! - [`actions`]: triggers carried to the device's management client, and
//!   the status that follows its answers.

pub mod actions;
mod annex_d;
mod dcfg;
mod rules;
pub mod specializations;
mod values;

use urbis_model::{Attrs, CseError, CseResult, Resource, ResourceType};

use crate::attributes::{AttrDef, ACPI, ANNOUNCE, UNIVERSAL};
use crate::registry::{Hooks, Kind, ReadCtx, WriteCtx};
use specializations::{by_mgd, by_short_name, COMMON, SPECIALIZATIONS};

pub static KIND: Kind = Kind {
    ty: ResourceType::MgmtObj,
    attrs: &[UNIVERSAL, ACPI, ANNOUNCE, COMMON],
    parents: &[ResourceType::Node],
    own_acpi: true,
    id_prefix: "mgo",
    hooks: &MgmtObjHooks,
};

/// The short name of a specialization (`m2m:bat` for 1006).
pub fn short_name(mgd: u64) -> Option<&'static str> {
    by_mgd(mgd).map(|s| s.sn)
}

/// The specialization's `mgd` for a root key.
pub fn mgd_for(root_key: &str) -> Option<u64> {
    by_short_name(root_key).map(|s| s.mgd)
}

/// Attribute sets of a specialization.
pub fn specialization_attrs(mgd: u64) -> Option<[&'static [AttrDef]; 5]> {
    let own = by_mgd(mgd)?.attrs;
    Some([UNIVERSAL, ACPI, ANNOUNCE, COMMON, own])
}

pub fn is_specialization_attribute(sn: &str) -> bool {
    SPECIALIZATIONS
        .iter()
        .any(|s| s.attrs.iter().any(|d| d.sn == sn))
}

fn mgd_of(resource: &Resource) -> CseResult<u64> {
    match resource.u64_attr("mgd") {
        Some(mgd) if by_mgd(mgd).is_some() => Ok(mgd),
        other => Err(CseError::bad_request(format!(
            "unsupported mgmtDefinition {other:?}"
        ))),
    }
}

struct MgmtObjHooks;

impl Hooks for MgmtObjHooks {
    fn validate_create(
        &self,
        _ctx: &ReadCtx<'_>,
        _parent: &Resource,
        resource: &mut Resource,
    ) -> CseResult<()> {
        let mgd = mgd_of(resource)?;
        values::check(&resource.attrs)?;
        rules::check_request(mgd, &resource.attrs)?;
        rules::complete_create(mgd, resource);
        rules::check_state(mgd, &resource.attrs)
    }

    fn validate_update(
        &self,
        _ctx: &ReadCtx<'_>,
        current: &Resource,
        changes: &Attrs,
    ) -> CseResult<()> {
        let mgd = mgd_of(current)?;
        values::check(changes)?;
        rules::check_request(mgd, changes)?;
        let mut after = current.attrs.clone();
        for (sn, value) in changes {
            if value.is_null() {
                after.remove(sn);
            } else {
                after.insert(sn.clone(), value.clone());
            }
        }
        rules::check_state(mgd, &after)
    }

    fn on_update(
        &self,
        ctx: &mut WriteCtx<'_>,
        _previous: &Resource,
        resource: &mut Resource,
    ) -> CseResult<()> {
        let mgd = mgd_of(resource)?;
        actions::on_update(ctx, mgd, resource)?;
        rules::rest_triggers(mgd, resource);
        Ok(())
    }

    fn updated(&self, cse: &crate::Cse, resource: &Resource, changes: &Attrs) {
        actions::started(cse, resource, changes);
    }
}
