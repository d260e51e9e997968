//! DELETE (TS-0004 §7.3.3.x): a resource and its whole subtree.

use std::collections::HashSet;
use urbis_model::{
    time, CseError, CseResult, Operation, Request, Resource, ResourceType, Response, Rsc,
};

use urbis_store::WriteTxn;

use super::Landing;
use crate::access::{self, Requester};
use crate::address::Virtual;
use crate::notify::{self, net, Event, Notification};
use crate::registry::{self, WriteCtx};
use crate::{content, Cse};

pub async fn delete(cse: &Cse, request: Request, originator: String) -> CseResult<Response> {
    let rcn = content::result_content(&request)?;
    let requester = Requester::of(&request, &originator);
    let located = match super::land(cse, &request, &originator).await? {
        Landing::At(located) => located,
        Landing::FannedOut(answer) => return Ok(answer),
    };
    let target = {
        let reader = cse.store().reader()?;
        match located.virtual_child {
            Some(Virtual::FanOut(_)) => {
                return Err(CseError::internal("fan-out is handled before this point"))
            }
            Some(Virtual::PollingUri) => {
                return Err(CseError::new(
                    Rsc::OperationNotAllowed,
                    "pcu cannot be deleted",
                ))
            }
            Some(edge @ (Virtual::Latest | Virtual::Oldest)) => {
                let parent = &located.resource;
                access::require(
                    cse.config(),
                    reader.as_ref(),
                    &requester,
                    parent,
                    Operation::Delete.permission_bit(),
                )?;
                super::retrieve::latest_or_oldest(
                    cse,
                    reader.as_ref(),
                    parent,
                    edge == Virtual::Latest,
                    &requester,
                )?
            }
            None => {
                let target = located.resource;
                if target.ty == ResourceType::CseBase.ty() {
                    return Err(CseError::new(
                        Rsc::OperationNotAllowed,
                        "the CSEBase cannot be deleted",
                    ));
                }
                let delete = Operation::Delete.permission_bit();
                access::grant(
                    cse.config(),
                    reader.as_ref(),
                    &requester,
                    &target,
                    delete,
                    None,
                )?
                .require(
                    &requester,
                    &target,
                    delete,
                    target.attrs.keys().map(String::as_str),
                )?;
                if target.ty == ResourceType::ContentInstance.ty() {
                    super::retrieve::check_instance_retrievable(reader.as_ref(), &target)?;
                }
                target
            }
        }
    };
    // The answer describes the resource as it was.
    let pc = if rcn == content::NOTHING {
        None
    } else {
        Some(super::retrieve::shape(
            cse,
            &request,
            &originator,
            target.clone(),
            rcn,
        )?)
    };
    remove(cse, target.ri(), &originator).await?;
    Ok(Response::new(Rsc::Deleted, pc))
}

/// Delete a resource and its subtree (no access checks: callers decide), then
/// deliver the notifications it causes.
pub async fn remove(cse: &Cse, ri: &str, originator: &str) -> CseResult<()> {
    let ri = ri.to_owned();
    let originator = originator.to_owned();
    let job_cse = cse.clone();
    crate::outbox::write_notifying(cse, move |txn, notifications| {
        // locked: of two deletes on different nodes, one finds it gone
        let resource = txn
            .lock(&ri)?
            .ok_or_else(|| CseError::not_found("the resource is already gone"))?;
        remove_in_txn(&job_cse, txn, &resource, &originator, notifications)
    })
    .await
}

/// The delete itself, inside a write job: hooks for every resource of the
/// subtree, subscription notifications, then the rows.
pub(crate) fn remove_in_txn(
    cse: &Cse,
    txn: &mut dyn WriteTxn,
    resource: &Resource,
    originator: &str,
    notifications: &mut Vec<Notification>,
) -> CseResult<()> {
    let now = time::now_string();
    // Instances have no hooks below the root of a delete, and a container may
    // hold millions of them: they are not loaded.
    let instances = [
        ResourceType::ContentInstance.ty(),
        ResourceType::TimeSeriesInstance.ty(),
        ResourceType::FlexContainerInstance.ty(),
    ];
    let descendants = txn.descendants_except(&resource.path, &instances)?;
    let mut ctx = WriteCtx {
        config: cse.config(),
        txn,
        originator,
        now: &now,
        notifications,
        changes: None,
    };
    notify::collect(
        &mut ctx,
        resource.ri(),
        &Event {
            net: net::DELETE,
            resource,
            modified: None,
            originator,
        },
    )?;
    notify::collect(
        &mut ctx,
        resource.pi(),
        &Event {
            net: net::DELETE_CHILD,
            resource,
            modified: None,
            originator,
        },
    )?;
    if let Some(kind) = registry::kind(resource.ty) {
        kind.hooks.on_delete(&mut ctx, resource, true)?;
    }
    for child in &descendants {
        if let Some(kind) = registry::kind(child.ty) {
            kind.hooks.on_delete(&mut ctx, child, false)?;
        }
    }
    // group members may name any deleted resource by its ID; most CSEs have
    // no groups, and then the IDs are not even read
    let groups = !ctx.txn.of_type(ResourceType::Group.ty())?.is_empty();
    let mut deleted_ids = if groups {
        ctx.txn.descendant_ids(&resource.path)?
    } else {
        Vec::new()
    };
    ctx.txn.delete_tree(&resource.path)?;
    if groups {
        deleted_ids.push(resource.ri().to_owned());
        let deleted: HashSet<&str> = deleted_ids.iter().map(String::as_str).collect();
        crate::resources::group::forget_members(
            ctx.txn,
            &cse.config().cse_id,
            &resource.path,
            &deleted,
        )?;
    }
    Ok(())
}
