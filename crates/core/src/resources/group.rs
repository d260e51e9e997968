//! `<group>` (ty 9): a set of member resources; requests to `<group>/fopt` fan
//! out to every member (see `ops::fanout`).

use serde_json::{json, Value};
use urbis_model::{Attrs, CseError, CseResult, Resource, ResourceType, Rsc};

use crate::attr;
use crate::attributes::{AttrDef, ACPI, ANNOUNCE, CREATOR, UNIVERSAL};
use crate::registry::{Hooks, Kind, ReadCtx, WriteCtx};

const OWN: &[AttrDef] = &[
    attr!("mt", NonNegInt, O, NP),
    attr!("spty", Any, O, NP),
    attr!("cnm", NonNegInt, NP, NP),
    attr!("mnm", PosInt, M, O),
    attr!("mid", StrList, M, O),
    attr!("macp", StrList, O, O),
    attr!("mtv", Bool, NP, NP),
    attr!("csy", NonNegInt, O, NP),
    attr!("gn", Str, O, O),
    attr!("ssi", Bool, NP, NP),
    attr!("nar", Object, O, O),
];

pub static KIND: Kind = Kind {
    ty: ResourceType::Group,
    attrs: &[UNIVERSAL, ACPI, ANNOUNCE, CREATOR, OWN],
    parents: &[
        ResourceType::CseBase,
        ResourceType::Ae,
        ResourceType::RemoteCse,
    ],
    own_acpi: true,
    id_prefix: "grp",
    hooks: &GroupHooks,
};

/// memberType 0 is "mixed" (any type).
const MIXED: u64 = 0;
/// consistencyStrategy values.
const ABANDON_MEMBER: u64 = 1;
const ABANDON_GROUP: u64 = 2;
const SET_MIXED: u64 = 3;

struct GroupHooks;

impl Hooks for GroupHooks {
    fn validate_create(
        &self,
        ctx: &ReadCtx<'_>,
        _parent: &Resource,
        resource: &mut Resource,
    ) -> CseResult<()> {
        if resource.attrs.get("mt").is_none() {
            resource.set("mt", MIXED);
        }
        let csy = resource.u64_attr("csy").unwrap_or(ABANDON_MEMBER);
        if !(ABANDON_MEMBER..=SET_MIXED).contains(&csy) {
            return Err(CseError::bad_request(format!(
                "invalid consistencyStrategy {csy}"
            )));
        }
        settle_members(ctx, resource)
    }

    fn validate_update(
        &self,
        ctx: &ReadCtx<'_>,
        current: &Resource,
        changes: &Attrs,
    ) -> CseResult<()> {
        let mut probe = current.clone();
        for (k, v) in changes {
            probe.attrs.insert(k.clone(), v.clone());
        }
        settle_members(ctx, &mut probe)
    }

    fn on_update(
        &self,
        _ctx: &mut WriteCtx<'_>,
        _previous: &Resource,
        resource: &mut Resource,
    ) -> CseResult<()> {
        let mut members: Vec<String> = Vec::new();
        for id in resource.str_list("mid") {
            if !members.iter().any(|m| m == id) {
                members.push(id.to_owned());
            }
        }
        resource.set("cnm", members.len());
        resource.set("mid", json!(members));
        Ok(())
    }
}

/// De-duplicate `mid`, check it against `mnm` and `mt`, and set `cnm`/`mtv`.
fn settle_members(ctx: &ReadCtx<'_>, group: &mut Resource) -> CseResult<()> {
    let mut members: Vec<String> = Vec::new();
    for id in group.str_list("mid") {
        if !members.iter().any(|m| m == id) {
            members.push(id.to_owned());
        }
    }
    let mnm = group.u64_attr("mnm").unwrap_or(u64::MAX);
    if members.len() as u64 > mnm {
        return Err(CseError::new(
            Rsc::MaxNumberOfMemberExceeded,
            "more members than maxNrOfMembers",
        ));
    }
    let mt = group.u64_attr("mt").unwrap_or(MIXED);
    let csy = group.u64_attr("csy").unwrap_or(ABANDON_MEMBER);
    let mut kept = Vec::with_capacity(members.len());
    for id in members {
        let member = crate::address::locate(ctx.reader, &id, ctx.config)
            .ok()
            .map(|l| l.resource);
        let type_ok = match &member {
            Some(m) => mt == MIXED || u64::from(m.ty) == mt,
            // members on other CSEs cannot be checked here; keep them
            None => true,
        };
        if type_ok {
            kept.push(id);
            continue;
        }
        match csy {
            ABANDON_GROUP => {
                return Err(CseError::new(
                    Rsc::GroupMemberTypeInconsistent,
                    format!("member {id} has the wrong type"),
                ))
            }
            SET_MIXED => {
                group.set("mt", MIXED);
                kept.push(id);
            }
            _ => {} // abandon the member
        }
    }
    group.set("cnm", kept.len());
    group.set("mid", Value::from(kept));
    group.set("mtv", true);
    Ok(())
}

/// Drop deleted resources (a subtree: its root's path and every deleted
/// resource ID) from every group that lists them.
pub fn forget_members(
    txn: &mut dyn urbis_store::WriteTxn,
    cse_id: &str,
    deleted_root_path: &str,
    deleted_ids: &std::collections::HashSet<&str>,
) -> CseResult<()> {
    let sp_prefix = format!("{cse_id}/");
    let below = format!("{deleted_root_path}/");
    for mut group in txn.of_type(ResourceType::Group.ty())? {
        let members = group.str_list("mid");
        let kept: Vec<String> = members
            .iter()
            .filter(|m| {
                let id = m.strip_prefix(sp_prefix.as_str()).unwrap_or(m);
                let gone =
                    id == deleted_root_path || id.starts_with(&below) || deleted_ids.contains(id);
                !gone
            })
            .map(|m| m.to_string())
            .collect();
        if kept.len() != members.len() {
            group.set("cnm", kept.len());
            group.set("mid", json!(kept));
            txn.update(&group, false)?;
        }
    }
    Ok(())
}
