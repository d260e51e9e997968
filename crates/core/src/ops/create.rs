//! CREATE (TS-0004 §7.3.3.x).

use serde_json::{json, Value};
use urbis_model::{
    time, CseError, CseResult, Operation, Request, Resource, ResourceType, Response, Rsc,
};

use super::Landing;
use crate::access::{self, Grant, Requester};
use crate::address::Virtual;
use crate::attributes::{self, check_resource_name, Phase};
use crate::notify::{self, net, Event};
use crate::registry::{self, ReadCtx, WriteCtx};
use crate::{content, ids, Cse};

pub async fn create(cse: &Cse, request: Request, originator: String) -> CseResult<Response> {
    let ty = request
        .ty
        .ok_or_else(|| CseError::bad_request("resource type (ty) is missing"))?;
    let rcn = content::result_content(&request)?;
    let located = match super::land(cse, &request, &originator).await? {
        Landing::At(located) => located,
        Landing::FannedOut(answer) => return Ok(answer),
    };
    let (kind, parent, resource, grant) = {
        let reader = cse.store().reader()?;
        match located.virtual_child {
            Some(Virtual::FanOut(_)) => {
                return Err(CseError::internal("fan-out is handled before this point"))
            }
            Some(_) => {
                return Err(CseError::new(
                    Rsc::OperationNotAllowed,
                    "cannot create under a virtual resource",
                ))
            }
            None => {}
        }
        let parent = located.resource;
        let requester = Requester::of(&request, &originator);
        let permission = Operation::Create.permission_bit();
        let grant = create_grant(cse, reader.as_ref(), &requester, &parent, ty)?;
        grant.require(&requester, &parent, permission, [])?;
        let kind = match registry::kind(ty) {
            Some(kind) => kind,
            None if ResourceType::from_ty(ty).is_some() => {
                return Err(CseError::new(
                    Rsc::NotImplemented,
                    format!("resource type {ty} is not hosted here"),
                ))
            }
            None => return Err(CseError::bad_request(format!("unknown resource type {ty}"))),
        };
        if !kind.parents.iter().any(|p| p.ty() == parent.ty) {
            return Err(CseError::new(
                Rsc::InvalidChildResourceType,
                format!("type {ty} cannot be created here"),
            ));
        }
        let (root_key, attrs) = super::single_root(&request)?;
        let sets = registry::attrs_for_create(kind, root_key).ok_or_else(|| {
            CseError::bad_request(format!("{root_key} does not match resource type {ty}"))
        })?;
        // rules limited to attributes (`aca`) must cover everything the request sets
        grant.require(
            &requester,
            &parent,
            permission,
            attrs.keys().map(String::as_str),
        )?;
        attributes::validate(&sets, attrs, Phase::Create)?;
        if kind.ty == ResourceType::MgmtObj
            && attrs.get("mgd").and_then(Value::as_u64)
                != crate::resources::mgmt_obj::mgd_for(root_key)
        {
            return Err(CseError::bad_request(
                "mgd does not match the specialization",
            ));
        }
        let mut resource = build(cse, kind, &parent, attrs, &originator)?;
        let ctx = ReadCtx {
            config: cse.config(),
            reader: reader.as_ref(),
            request: &request,
            originator: &originator,
        };
        kind.hooks.validate_create(&ctx, &parent, &mut resource)?;
        // A generated name is unique by construction (and the store's unique
        // index stands behind it); only requested names are checked up front, so
        // a clash is refused before any verification request goes out.
        let named_by_request =
            attrs.get("rn").is_some_and(|rn| !rn.is_null()) || kind.ty == ResourceType::Ae;
        if named_by_request && reader.get_by_path(&resource.path)?.is_some() {
            return Err(CseError::new(
                Rsc::Conflict,
                format!("a resource named {} already exists here", resource.rn()),
            ));
        }
        (kind, parent, resource, grant)
    };
    if let Some(verification) = kind.hooks.verify_create(cse, &resource) {
        verification.await?;
    }
    let requested: Vec<String> = super::single_root(&request)?.1.keys().cloned().collect();
    let job_cse = cse.clone();
    let parent_ri = parent.ri().to_owned();
    let resource = crate::outbox::write_notifying(cse, move |txn, notifications| {
        let mut resource = resource;
        // locked: creates under one parent (its counters, its subscriptions)
        // take turns across nodes
        let mut parent = txn
            .lock(&parent_ri)?
            .ok_or_else(|| CseError::not_found("the parent resource is gone"))?;
        let now = time::now_string();
        let creator = resource.creator.clone();
        let mut ctx = WriteCtx {
            config: job_cse.config(),
            txn,
            originator: &creator,
            now: &now,
            notifications,
            changes: None,
        };
        let parent_changed = kind.hooks.on_create(&mut ctx, &mut parent, &mut resource)?;
        ctx.txn.insert(&resource)?;
        if parent_changed {
            ctx.txn.update(&parent, false)?;
        }
        notify::collect(
            &mut ctx,
            parent.ri(),
            &Event {
                net: net::CREATE_CHILD,
                resource: &resource,
                modified: None,
                originator: &creator,
            },
        )?;
        Ok(resource)
    })
    .await?;
    kind.hooks.created(cse, &resource);

    let mut shown = resource;
    kind.hooks.on_retrieve(cse.config(), &mut shown);
    if let Grant::Attributes(visible) = &grant {
        // the originator sees only the attributes its rules cover
        shown.attrs.retain(|k, _| visible.contains(k));
    }
    let created_uri = shown.path.clone();
    let pc = match rcn {
        content::NOTHING => None,
        content::HIERARCHICAL_ADDRESS => Some(json!({"m2m:uri": shown.path})),
        content::HIERARCHICAL_ADDRESS_ATTRIBUTES => Some(content::resource_and_address(&shown)),
        content::MODIFIED_ATTRIBUTES => {
            let keys: Vec<String> = shown
                .attrs
                .keys()
                .filter(|k| !requested.contains(k))
                .cloned()
                .collect();
            Some(content::wrap_selected(&shown, &keys))
        }
        _ => Some(content::into_wrapped(shown)),
    };
    let mut response = Response::new(Rsc::Created, pc);
    response.created_uri = Some(created_uri);
    Ok(response)
}

/// AE registration is open (the registration rules decide); an ACP may be
/// created under the CSEBase by any registered AE; otherwise CREATE rights on
/// the parent are needed.
fn create_grant(
    cse: &Cse,
    reader: &dyn urbis_store::ReadTxn,
    requester: &Requester<'_>,
    parent: &Resource,
    ty: u32,
) -> CseResult<Grant> {
    if ty == ResourceType::Ae.ty() {
        return Ok(Grant::All);
    }
    if ty == ResourceType::AccessControlPolicy.ty()
        && parent.ty == ResourceType::CseBase.ty()
        && reader
            .get(requester.originator)?
            .is_some_and(|r| r.ty == ResourceType::Ae.ty())
    {
        return Ok(Grant::All);
    }
    access::grant(
        cse.config(),
        reader,
        requester,
        parent,
        Operation::Create.permission_bit(),
        Some(ty),
    )
}

/// The new resource from the request's attributes plus what the CSE assigns.
fn build(
    cse: &Cse,
    kind: &'static registry::Kind,
    parent: &Resource,
    requested: &serde_json::Map<String, Value>,
    originator: &str,
) -> CseResult<Resource> {
    let mut attrs = serde_json::Map::with_capacity(requested.len() + 8);
    for (k, v) in requested {
        if k == "cr" {
            if !v.is_null() {
                return Err(CseError::bad_request("cr must be null in a CREATE request"));
            }
            attrs.insert("cr".into(), Value::String(originator.to_owned()));
        } else if !v.is_null() {
            attrs.insert(k.clone(), v.clone());
        }
    }
    let ri = ids::resource_id(kind.id_prefix);
    let rn = match requested.get("rn").and_then(Value::as_str) {
        Some(rn) => {
            check_resource_name(rn)?;
            rn.to_owned()
        }
        None => ri.clone(),
    };
    let now = time::now_string();
    let et = super::settle_expiration(cse, requested.get("et"), Some(parent))?;
    attrs.insert("ty".into(), json!(kind.ty.ty()));
    attrs.insert("ri".into(), json!(ri));
    attrs.insert("rn".into(), json!(rn));
    attrs.insert("pi".into(), json!(parent.ri()));
    attrs.insert("ct".into(), json!(now));
    attrs.insert("lt".into(), json!(now));
    attrs.insert("et".into(), json!(et));
    Ok(Resource {
        ty: kind.ty.ty(),
        path: format!("{}/{}", parent.path, rn),
        creator: originator.to_owned(),
        attrs,
    })
}
