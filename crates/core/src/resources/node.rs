//! `<node>` (ty 14): a physical or virtual M2M node, parent of its mgmtObjs
//! (TS-0001 §9.6.18).
//!
//! An AE names the node it runs on in its `nl` (nodeLink); the node lists
//! the AEs it hosts in `hael` (hostedAELinks). Both sides are kept in step
//! here: registering, moving or deleting the AE updates `hael`, deleting the
//! node removes the AEs' `nl`. A node's `ni` (M2M-Node-ID) identifies one
//! M2M node, so two `<node>` resources of this CSE may not share it.

use serde_json::Value;
use urbis_model::{CseError, CseResult, Resource, ResourceType, Rsc};
use urbis_store::ReadTxn;

use crate::attr;
use crate::attributes::{AttrDef, ACPI, ANNOUNCE, CREATOR, UNIVERSAL};
use crate::config::CseConfig;
use crate::registry::{Hooks, Kind, WriteCtx};

const OWN: &[AttrDef] = &[
    attr!("ni", Str, M, O),
    attr!("hcl", Str, O, O),
    attr!("hael", NonEmptyStrList, O, O),
    attr!("hsl", StrList, O, O),
    attr!("mgca", StrList, O, O),
    attr!("rms", Bool, NP, NP),
    attr!("nid", Str, NP, NP),
    attr!("nty", NonNegInt, O, O),
    attr!("loc", Any, O, O),
];

pub static KIND: Kind = Kind {
    ty: ResourceType::Node,
    attrs: &[UNIVERSAL, ACPI, ANNOUNCE, CREATOR, OWN],
    parents: &[ResourceType::CseBase, ResourceType::RemoteCse],
    own_acpi: true,
    id_prefix: "nod",
    hooks: &NodeHooks,
};

struct NodeHooks;

impl Hooks for NodeHooks {
    // The uniqueness of `ni` is checked on the writer, where no other request
    // can slip a node in between the check and the insert.
    fn on_create(
        &self,
        ctx: &mut WriteCtx<'_>,
        _parent: &mut Resource,
        resource: &mut Resource,
    ) -> CseResult<bool> {
        check_node_id_unique(ctx, resource)?;
        Ok(false)
    }

    fn on_update(
        &self,
        ctx: &mut WriteCtx<'_>,
        previous: &Resource,
        resource: &mut Resource,
    ) -> CseResult<()> {
        if previous.str_attr("ni") != resource.str_attr("ni") {
            check_node_id_unique(ctx, resource)?;
        }
        Ok(())
    }

    fn on_delete(
        &self,
        ctx: &mut WriteCtx<'_>,
        resource: &Resource,
        _root_of_delete: bool,
    ) -> CseResult<()> {
        for ae_ri in resource.str_list("hael") {
            let Some(mut ae) = ctx.txn.get(ae_ri)? else {
                continue;
            };
            if ae.str_attr("nl") == Some(resource.ri()) {
                ae.attrs.remove("nl");
                ae.set("lt", ctx.now.to_owned());
                ctx.txn.update(&ae, false)?;
            }
        }
        Ok(())
    }
}

fn check_node_id_unique(ctx: &mut WriteCtx<'_>, node: &Resource) -> CseResult<()> {
    let Some(ni) = node.str_attr("ni") else {
        return Ok(());
    };
    // The rule is about the nodes under the CSEBase and its remoteCSEs, but
    // those are the only parents a <node> may have (`KIND.parents`), so every
    // type-14 resource is one of them: one indexed lookup by `ni` (which on
    // the writer also sees the nodes earlier jobs of this group created).
    let clash = ctx
        .txn
        .nodes_with_id(ni)?
        .iter()
        .any(|other| other.ri() != node.ri());
    if clash {
        return Err(CseError::new(
            Rsc::Conflict,
            format!("a <node> with nodeID {ni} already exists"),
        ));
    }
    Ok(())
}

/// Where an AE's `nl` points.
#[derive(Debug, PartialEq, Eq)]
pub enum NodeLink {
    /// A `<node>` of this CSE, by its resource ID.
    Local(String),
    /// A node hosted by another CSE: accepted as given, not followed.
    Elsewhere,
}

/// Resolve a `nl` value (any address form). A local target must exist and
/// be a `<node>`; anything else is a bad request.
pub fn resolve_link<R: ReadTxn + ?Sized>(
    reader: &R,
    config: &CseConfig,
    nl: &str,
) -> CseResult<NodeLink> {
    let Ok(relative) = crate::address::to_cse_relative(nl, config) else {
        return Ok(NodeLink::Elsewhere);
    };
    let structured = |rest: &str| format!("{}/{}", config.cse_name, rest);
    let found = if let Some(rest) = relative.strip_prefix("-/") {
        reader.get_by_path(&structured(rest))?
    } else if relative
        .strip_prefix(config.cse_name.as_str())
        .is_some_and(|rest| rest.starts_with('/'))
    {
        reader.get_by_path(relative)?
    } else {
        match relative.split_once('/') {
            None => reader.get(relative)?,
            Some((ri, rest)) => match reader.get(ri)? {
                Some(base) => reader.get_by_path(&format!("{}/{rest}", base.path))?,
                None => None,
            },
        }
    };
    match found {
        Some(node) if node.ty == ResourceType::Node.ty() => {
            Ok(NodeLink::Local(node.ri().to_owned()))
        }
        _ => Err(CseError::bad_request(format!(
            "nodeLink {nl} does not refer to a <node>"
        ))),
    }
}

/// Add an AE to the `hael` of the node it names.
pub fn link_ae(ctx: &mut WriteCtx<'_>, node_ri: &str, ae_ri: &str) -> CseResult<()> {
    let Some(mut node) = ctx.txn.get(node_ri)? else {
        return Err(CseError::bad_request(format!(
            "nodeLink {node_ri} does not refer to a <node>"
        )));
    };
    let mut hael = node.str_list("hael");
    if hael.contains(&ae_ri) {
        return Ok(());
    }
    hael.push(ae_ri);
    let hael: Vec<Value> = hael.into_iter().map(Value::from).collect();
    node.set("hael", hael);
    node.set("lt", ctx.now.to_owned());
    ctx.txn.update(&node, false)?;
    Ok(())
}

/// Take an AE out of a node's `hael`; an emptied list goes away (it may not
/// be empty).
pub fn unlink_ae(ctx: &mut WriteCtx<'_>, node_ri: &str, ae_ri: &str) -> CseResult<()> {
    let Some(mut node) = ctx.txn.get(node_ri)? else {
        return Ok(());
    };
    let hael = node.str_list("hael");
    if !hael.contains(&ae_ri) {
        return Ok(());
    }
    let rest: Vec<Value> = hael
        .into_iter()
        .filter(|ri| *ri != ae_ri)
        .map(Value::from)
        .collect();
    if rest.is_empty() {
        node.attrs.remove("hael");
    } else {
        node.set("hael", rest);
    }
    node.set("lt", ctx.now.to_owned());
    ctx.txn.update(&node, false)?;
    Ok(())
}
