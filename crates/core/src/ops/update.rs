//! UPDATE (TS-0004 §7.3.3.x).

use serde_json::Value;
use urbis_model::{
    time, Attrs, CseError, CseResult, Operation, Request, Resource, ResourceType, Response, Rsc,
};
use urbis_store::ReadTxn;

use super::Landing;
use crate::address::{self, Virtual};
use crate::attributes::{self, Phase};
use crate::notify::{self, net, Event};
use crate::registry::{self, ReadCtx, WriteCtx};
use crate::{access, content, Cse};

pub async fn update(cse: &Cse, request: Request, originator: String) -> CseResult<Response> {
    let rcn = content::result_content(&request)?;
    let located = match super::land(cse, &request, &originator).await? {
        Landing::At(located) => located,
        Landing::FannedOut(answer) => return Ok(answer),
    };
    let (kind, current, changes) = {
        let reader = cse.store().reader()?;
        match located.virtual_child {
            Some(Virtual::FanOut(_)) => {
                return Err(CseError::internal("fan-out is handled before this point"))
            }
            Some(_) => {
                return Err(CseError::new(
                    Rsc::OperationNotAllowed,
                    "a virtual resource cannot be updated",
                ))
            }
            None => {}
        }
        let current = located.resource;
        if current.ty == ResourceType::CseBase.ty()
            || current.ty == ResourceType::ContentInstance.ty()
            || current.ty == ResourceType::FlexContainerInstance.ty()
        {
            return Err(CseError::new(
                Rsc::OperationNotAllowed,
                "this resource cannot be updated",
            ));
        }
        let kind = registry::kind(current.ty)
            .ok_or_else(|| CseError::internal("stored resource of unknown type"))?;
        let (root_key, changes) = super::single_root(&request)?;
        let requester = crate::access::Requester::of(&request, &originator);
        check_update_access(cse, reader.as_ref(), &requester, &current, changes)?;
        if root_key != registry::root_key(&current) {
            return Err(CseError::bad_request(format!(
                "{root_key} does not match the target's type"
            )));
        }
        attributes::validate(&registry::attrs_of(kind, &current), changes, Phase::Update)?;
        let ctx = ReadCtx {
            config: cse.config(),
            reader: reader.as_ref(),
            request: &request,
            originator: &originator,
        };
        kind.hooks.validate_update(&ctx, &current, changes)?;
        (kind, current, changes.clone())
    };
    let parent_et = if changes.contains_key("et") {
        cse.store()
            .reader()?
            .get(current.pi())?
            .and_then(|p| p.et().map(str::to_owned))
    } else {
        None
    };
    let mut preview = current.clone();
    apply_changes(cse, &mut preview, &changes, parent_et.as_deref())?;
    if let Some(verification) = kind.hooks.verify_update(cse, &preview, &changes) {
        verification.await?;
    }
    // boxed, like every wait for a notification's answer (a large future)
    Box::pin(crate::notify::blocking_update(
        cse,
        &current,
        &changes,
        &originator,
    ))
    .await?;

    let job_cse = cse.clone();
    let ri = current.ri().to_owned();
    let job_changes = changes.clone();
    let job_originator = originator.clone();
    let updated = crate::outbox::write_notifying(cse, move |txn, notifications| {
        let mut resource = txn
            .lock(&ri)?
            .ok_or_else(|| CseError::not_found("the resource is gone"))?;
        let previous = resource.clone();
        apply_changes(&job_cse, &mut resource, &job_changes, parent_et.as_deref())?;
        let now = time::now_string();
        let mut ctx = WriteCtx {
            config: job_cse.config(),
            txn,
            originator: &job_originator,
            now: &now,
            notifications,
            changes: Some(&job_changes),
        };
        kind.hooks.on_update(&mut ctx, &previous, &mut resource)?;
        ctx.txn
            .update(&resource, previous.labels() != resource.labels())?;
        let event = Event {
            net: net::UPDATE,
            resource: &resource,
            modified: Some(&job_changes),
            originator: &job_originator,
        };
        notify::collect(&mut ctx, &ri, &event)?;
        Ok(resource)
    })
    .await?;
    kind.hooks.updated(cse, &updated, &changes);

    let mut shown = updated;
    kind.hooks.on_retrieve(cse.config(), &mut shown);
    let pc = match rcn {
        content::NOTHING => None,
        content::MODIFIED_ATTRIBUTES => {
            let keys: Vec<String> = shown
                .attrs
                .iter()
                .filter(|(k, v)| current.attrs.get(*k) != Some(*v) && !changes.contains_key(*k))
                .map(|(k, _)| k.clone())
                .collect();
            Some(content::wrap_selected(&shown, &keys))
        }
        _ => Some(content::into_wrapped(shown)),
    };
    Ok(Response::new(Rsc::Updated, pc))
}

/// Apply an UPDATE's attributes: null removes (and `et` falls back to the
/// default), values replace.
fn apply_changes(
    cse: &Cse,
    resource: &mut Resource,
    changes: &Attrs,
    parent_et: Option<&str>,
) -> CseResult<()> {
    for (sn, value) in changes {
        if sn == "et" {
            let parent = parent_et.map(|et| {
                let mut p = Resource {
                    ty: 0,
                    path: String::new(),
                    creator: String::new(),
                    attrs: Attrs::new(),
                };
                p.set("et", et.to_owned());
                p
            });
            let et = super::settle_expiration(
                cse,
                Some(value).filter(|v| !v.is_null()),
                parent.as_ref(),
            )?;
            resource.set("et", et);
        } else if value.is_null() {
            resource.attrs.remove(sn);
        } else {
            resource.attrs.insert(sn.clone(), value.clone());
        }
    }
    resource.set("lt", time::now_string());
    Ok(())
}

/// UPDATE rights; changing `acpi` is special (TS-0001 §9.6.2.x): it must be
/// the only change, may not empty the list, must name existing policies, and
/// needs UPDATE in the `pvs` of the policies currently in force.
fn check_update_access(
    cse: &Cse,
    reader: &dyn ReadTxn,
    requester: &crate::access::Requester<'_>,
    current: &Resource,
    changes: &serde_json::Map<String, Value>,
) -> CseResult<()> {
    let update = Operation::Update.permission_bit();
    let Some(acpi) = changes.get("acpi") else {
        return access::grant(cse.config(), reader, requester, current, update, None)?.require(
            requester,
            current,
            update,
            changes.keys().map(String::as_str),
        );
    };
    if changes.len() > 1 {
        return Err(CseError::bad_request("acpi must be updated on its own"));
    }
    match acpi {
        Value::Null => {}
        Value::Array(list) if list.is_empty() => {
            return Err(CseError::bad_request("acpi cannot be emptied; use null"))
        }
        Value::Array(list) => {
            for id in list {
                let id = id
                    .as_str()
                    .ok_or_else(|| CseError::bad_request("acpi entries must be strings"))?;
                let found = address::locate(reader, id, cse.config())
                    .ok()
                    .is_some_and(|l| l.resource.ty == ResourceType::AccessControlPolicy.ty());
                if !found {
                    return Err(CseError::bad_request(format!(
                        "access control policy {id} does not exist"
                    )));
                }
            }
        }
        _ => return Err(CseError::bad_request("acpi must be a list")),
    }
    if requester.originator == cse.config().admin_originator {
        return Ok(());
    }
    let current_policies = current.str_list("acpi");
    if current_policies.is_empty() {
        return access::require(cse.config(), reader, requester, current, update);
    }
    for id in current_policies {
        if let Ok(located) = address::locate(reader, id, cse.config()) {
            if access::allowed(cse.config(), reader, requester, &located.resource, update)? {
                return Ok(());
            }
        }
    }
    crate::audit::access_denied(
        requester.originator,
        requester.address,
        current.ri(),
        update,
        "changing acpi needs UPDATE in the pvs of a policy in force",
    );
    Err(CseError::no_privilege(
        "changing acpi needs UPDATE rights in the policies' pvs",
    ))
}
