//! `<AE>` (ty 2): application entity registration (TS-0001 §10.2.2.2,
//! TS-0004 §7.3.5.2). The AE-ID is assigned here and doubles as the `ri`.

use urbis_model::{CseError, CseResult, Resource, ResourceType, Rsc};

use crate::attributes::{AttrDef, ACPI, ANNOUNCE, UNIVERSAL};
use crate::registry::{Hooks, Kind, ReadCtx, WriteCtx};
use crate::resources::node::{self, NodeLink};
use crate::{attr, ids};

const OWN: &[AttrDef] = &[
    attr!("apn", Str, O, O),
    attr!("api", Str, M, NP),
    attr!("aei", Str, NP, NP),
    attr!("poa", StrList, O, O),
    attr!("nl", Str, O, O),
    attr!("rr", Bool, M, O),
    attr!("csz", StrList, O, O),
    attr!("esi", Any, O, O),
    attr!("mei", Str, O, O),
    attr!("srv", NonEmptyStrList, M, O),
    attr!("regs", Str, O, O),
    attr!("trps", Bool, O, O),
    attr!("scp", StrList, O, O),
    attr!("tren", Bool, O, O),
    attr!("ape", List, O, O),
    attr!("or", Str, O, O),
    attr!("loc", Any, O, O),
];

pub static KIND: Kind = Kind {
    ty: ResourceType::Ae,
    attrs: &[UNIVERSAL, ACPI, ANNOUNCE, OWN],
    parents: &[ResourceType::CseBase],
    own_acpi: true,
    id_prefix: "C",
    hooks: &AeHooks,
};

/// Content serializations an AE may declare in `csz`.
const SERIALIZATIONS: &[&str] = &["application/json", "application/cbor", "application/xml"];

struct AeHooks;

impl Hooks for AeHooks {
    fn validate_create(
        &self,
        ctx: &ReadCtx<'_>,
        _parent: &Resource,
        resource: &mut Resource,
    ) -> CseResult<()> {
        check_app_id(
            resource.str_attr("api").unwrap_or_default(),
            ctx.request.rvi.as_deref(),
        )?;
        check_serializations(resource)?;
        check_release_versions(resource, &ctx.config.release_versions)?;
        let aei = assign_ae_id(ctx)?;
        if ctx.reader.get(&aei)?.is_some() {
            return Err(CseError::new(
                Rsc::OriginatorHasAlreadyRegistered,
                format!("an AE with AE-ID {aei} is already registered"),
            ));
        }
        let named_by_request = ctx
            .request
            .pc
            .as_ref()
            .and_then(|pc| pc.get(KIND.ty.short_name()))
            .and_then(|ae| ae.get("rn"))
            .is_some_and(|rn| !rn.is_null());
        if !named_by_request {
            let parent_path = resource
                .path
                .rsplit_once('/')
                .map(|(p, _)| p.to_owned())
                .unwrap_or_default();
            resource.set("rn", aei.clone());
            resource.path = format!("{parent_path}/{aei}");
        }
        resource.set("ri", aei.clone());
        resource.set("aei", aei.clone());
        resource.creator = aei;
        if let Some(nl) = resource.str_attr("nl") {
            if let NodeLink::Local(node_ri) = node::resolve_link(ctx.reader, ctx.config, nl)? {
                resource.set("nl", node_ri);
            }
        }
        Ok(())
    }

    fn on_create(
        &self,
        ctx: &mut WriteCtx<'_>,
        _parent: &mut Resource,
        resource: &mut Resource,
    ) -> CseResult<bool> {
        link_to_node(ctx, resource)?;
        Ok(false)
    }

    fn validate_update(
        &self,
        ctx: &ReadCtx<'_>,
        current: &Resource,
        changes: &urbis_model::Attrs,
    ) -> CseResult<()> {
        let mut probe = current.clone();
        for (k, v) in changes {
            probe.attrs.insert(k.clone(), v.clone());
        }
        check_serializations(&probe)?;
        if let Some(nl) = changes.get("nl").and_then(|v| v.as_str()) {
            node::resolve_link(ctx.reader, ctx.config, nl)?;
        }
        Ok(())
    }

    fn on_update(
        &self,
        ctx: &mut WriteCtx<'_>,
        previous: &Resource,
        resource: &mut Resource,
    ) -> CseResult<()> {
        if previous.str_attr("nl") == resource.str_attr("nl") {
            return Ok(());
        }
        if let Some(old) = previous.str_attr("nl") {
            node::unlink_ae(ctx, old, resource.ri())?;
        }
        link_to_node(ctx, resource)
    }

    fn on_delete(
        &self,
        ctx: &mut WriteCtx<'_>,
        resource: &Resource,
        _root_of_delete: bool,
    ) -> CseResult<()> {
        match resource.str_attr("nl") {
            Some(nl) => node::unlink_ae(ctx, nl, resource.ri()),
            None => Ok(()),
        }
    }
}

/// Keep `nl` (nodeLink) in the resource-ID form of a local `<node>` and the
/// AE in that node's `hael`. The node is looked up again on the writer: it
/// may have gone since the request was checked.
fn link_to_node(ctx: &mut WriteCtx<'_>, ae: &mut Resource) -> CseResult<()> {
    let Some(nl) = ae.str_attr("nl") else {
        return Ok(());
    };
    match node::resolve_link(&*ctx.txn, ctx.config, nl)? {
        NodeLink::Local(node_ri) => {
            node::link_ae(ctx, &node_ri, ae.ri())?;
            ae.set("nl", node_ri);
            Ok(())
        }
        NodeLink::Elsewhere => Ok(()),
    }
}

/// AE-IDs: `C`/empty → a new `C...`, `S` → a new `S...`, `C...`/`S...` as asked.
fn assign_ae_id(ctx: &ReadCtx<'_>) -> CseResult<String> {
    let fr = ctx.originator;
    if fr == ctx.config.cse_id || fr == ctx.config.cse_id_bare() {
        return Err(CseError::new(
            Rsc::SecurityAssociationRequired,
            "a CSE-ID cannot register as an AE",
        ));
    }
    match fr {
        "" | "C" => Ok(ids::resource_id("C")),
        "S" => Ok(ids::resource_id("S")),
        _ if (fr.starts_with('C') || fr.starts_with('S')) && !fr.contains('/') => Ok(fr.to_owned()),
        _ => Err(CseError::new(
            Rsc::AppRuleValidationFailed,
            format!("originator {fr} cannot register an AE (AE-IDs start with C or S)"),
        )),
    }
}

/// App-IDs start with `R` (registered) or `N` (non-registered); releases
/// before 4 also accepted a lower-case `r`.
fn check_app_id(api: &str, rvi: Option<&str>) -> CseResult<()> {
    let old_release = matches!(rvi, Some("1" | "2" | "2a" | "3"));
    let ok = api.len() > 1
        && (api.starts_with('R') || api.starts_with('N') || (old_release && api.starts_with('r')));
    if ok {
        Ok(())
    } else {
        Err(CseError::bad_request(format!(
            "invalid App-ID {api:?}: must start with R or N"
        )))
    }
}

fn check_serializations(resource: &Resource) -> CseResult<()> {
    for csz in resource.str_list("csz") {
        if !SERIALIZATIONS.contains(&csz) {
            return Err(CseError::bad_request(format!(
                "unsupported content serialization {csz:?}"
            )));
        }
    }
    Ok(())
}

fn check_release_versions(resource: &Resource, supported: &[String]) -> CseResult<()> {
    let declared = resource.str_list("srv");
    if declared.iter().any(|v| !supported.iter().any(|s| s == v)) {
        return Err(CseError::bad_request(format!(
            "srv lists an unsupported release version: {declared:?}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_ids() {
        assert!(check_app_id("NMyApp", Some("4")).is_ok());
        assert!(check_app_id("Rorg.example.app", Some("4")).is_ok());
        assert!(check_app_id("rorg.example.app", Some("3")).is_ok());
        assert!(check_app_id("rorg.example.app", Some("4")).is_err());
        assert!(check_app_id("Xwrong", Some("4")).is_err());
        assert!(check_app_id("", Some("4")).is_err());
    }
}
