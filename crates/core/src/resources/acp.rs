//! `<accessControlPolicy>` (ty 1): who may do what (`pv`), and who may manage
//! the policy itself (`pvs`).

use urbis_model::{Attrs, CseError, CseResult, Resource, ResourceType};

use crate::access::validate_rules;
use crate::attr;
use crate::attributes::{AttrDef, ANNOUNCE, UNIVERSAL};
use crate::registry::{Hooks, Kind, ReadCtx};

const OWN: &[AttrDef] = &[
    attr!("pv", Object, M, O),
    attr!("pvs", Object, M, O),
    attr!("adri", StrList, O, O),
    attr!("apri", StrList, O, O),
    attr!("airi", StrList, O, O),
];

pub static KIND: Kind = Kind {
    ty: ResourceType::AccessControlPolicy,
    attrs: &[UNIVERSAL, ANNOUNCE, OWN],
    parents: &[
        ResourceType::CseBase,
        ResourceType::Ae,
        ResourceType::RemoteCse,
    ],
    own_acpi: true,
    id_prefix: "acp",
    hooks: &AcpHooks,
};

struct AcpHooks;

impl Hooks for AcpHooks {
    fn validate_create(
        &self,
        _ctx: &ReadCtx<'_>,
        _parent: &Resource,
        resource: &mut Resource,
    ) -> CseResult<()> {
        check(&resource.attrs)
    }

    fn validate_update(
        &self,
        _ctx: &ReadCtx<'_>,
        _current: &Resource,
        changes: &Attrs,
    ) -> CseResult<()> {
        if changes.get("pvs").is_some_and(|v| v.is_null()) {
            return Err(CseError::bad_request("pvs cannot be removed"));
        }
        check(changes)
    }
}

fn check(attrs: &Attrs) -> CseResult<()> {
    if let Some(pv) = attrs.get("pv").filter(|v| !v.is_null()) {
        validate_rules("pv", pv, true)?;
    }
    if let Some(pvs) = attrs.get("pvs").filter(|v| !v.is_null()) {
        validate_rules("pvs", pvs, false)?;
    }
    Ok(())
}
