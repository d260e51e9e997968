//! RETRIEVE (TS-0004 §7.3.3.x), including `la`/`ol` and conditional retrieval
//! of children (rcn 4, 5, 6, 8 with filter criteria).

use serde_json::{json, Value};
use urbis_model::{CseError, CseResult, Operation, Request, Resource, ResourceType, Response, Rsc};
use urbis_store::ReadTxn;

use super::Landing;
use crate::access::{self, Requester};
use crate::address::Virtual;
use crate::resources::{container, polling_channel};
use crate::{content, registry, Cse};

pub async fn retrieve(cse: &Cse, request: Request, originator: String) -> CseResult<Response> {
    let rcn = content::result_content(&request)?;
    let permission = Operation::Retrieve.permission_bit();
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
                drop(reader);
                return polling_channel::long_poll(cse, &request, &located.resource, &originator)
                    .await;
            }
            Some(edge @ (Virtual::Latest | Virtual::Oldest)) => latest_or_oldest(
                cse,
                reader.as_ref(),
                &located.resource,
                edge == Virtual::Latest,
                &requester,
            )?,
            None => {
                let resource = located.resource;
                let grant = access::grant(
                    cse.config(),
                    reader.as_ref(),
                    &requester,
                    &resource,
                    permission,
                    None,
                )?;
                // with rules limited to attributes (`aca`), everything returned must be covered
                let asked: Vec<&str> = if request.atrl.is_empty() {
                    resource.attrs.keys().map(String::as_str).collect()
                } else {
                    request.atrl.iter().map(String::as_str).collect()
                };
                grant.require(&requester, &resource, permission, asked)?;
                if resource.ty == ResourceType::ContentInstance.ty() {
                    check_instance_retrievable(reader.as_ref(), &resource)?;
                } else {
                    drop(reader);
                    crate::notify::on_retrieve(cse, &resource, &originator);
                }
                resource
            }
        }
    };
    let target = if target.attrs.contains_key("dcnt") {
        // rare, and its future (a write and a delivery) is large
        Box::pin(count_down(cse, target)).await?
    } else {
        target
    };
    let pc = shape(cse, &request, &originator, target, rcn)?;
    Ok(Response::new(Rsc::Ok, Some(pc)))
}

/// `la` / `ol` of a container (access follows the container's).
pub(crate) fn latest_or_oldest(
    cse: &Cse,
    reader: &dyn ReadTxn,
    parent: &Resource,
    newest: bool,
    requester: &Requester<'_>,
) -> CseResult<Resource> {
    let Some(instance_ty) = container::instance_type(parent.ty) else {
        return Err(CseError::not_found(
            "la/ol exist only below containers and time series",
        ));
    };
    access::require(
        cse.config(),
        reader,
        requester,
        parent,
        Operation::Retrieve.permission_bit(),
    )?;
    if container::retrieval_disabled(parent) {
        return Err(CseError::new(
            Rsc::OperationNotAllowed,
            "retrieval is disabled for this container",
        ));
    }
    reader
        .edge_child(parent.ri(), instance_ty, newest)?
        .ok_or_else(|| CseError::not_found("the container has no instances"))
}

pub(crate) fn check_instance_retrievable(
    reader: &dyn ReadTxn,
    instance: &Resource,
) -> CseResult<()> {
    if reader
        .get(instance.pi())?
        .is_some_and(|parent| container::retrieval_disabled(&parent))
    {
        return Err(CseError::new(
            Rsc::OperationNotAllowed,
            "retrieval is disabled for this container",
        ));
    }
    Ok(())
}

/// `dcnt`: each RETRIEVE consumes one; the last one deletes the instance.
async fn count_down(cse: &Cse, instance: Resource) -> CseResult<Resource> {
    let ri = instance.ri().to_owned();
    let cse_for_job = cse.clone();
    crate::outbox::write_notifying(cse, move |txn, notifications| {
        let mut current = txn
            .get(&ri)?
            .ok_or_else(|| CseError::not_found("the instance is gone"))?;
        let left = current.u64_attr("dcnt").unwrap_or(1);
        let shown = current.clone();
        if left <= 1 {
            let originator = cse_for_job.config().cse_id.clone();
            super::delete::remove_in_txn(&cse_for_job, txn, &current, &originator, notifications)?;
        } else {
            current.set("dcnt", left - 1);
            txn.update(&current, false)?;
        }
        Ok(shown)
    })
    .await
}

/// Shape a retrieved (or deleted) resource per `rcn`.
pub(crate) fn shape(
    cse: &Cse,
    request: &Request,
    originator: &str,
    target: Resource,
    rcn: u8,
) -> CseResult<Value> {
    let mut target = target;
    if let Some(kind) = registry::kind(target.ty) {
        kind.hooks.on_retrieve(cse.config(), &mut target);
    }
    if rcn == content::ATTRIBUTES && !request.atrl.is_empty() {
        return Ok(content::wrap_selected(&target, &request.atrl));
    }
    match rcn {
        content::NOTHING => Ok(Value::Null),
        // this CSE hosts no announced resources, so every resource is its own original
        content::ATTRIBUTES | content::ORIGINAL_RESOURCE => Ok(content::into_wrapped(target)),
        content::ATTRIBUTES_AND_CHILDREN | content::CHILDREN => {
            let with_attributes = rcn == content::ATTRIBUTES_AND_CHILDREN;
            let reader = cse.store().reader()?;
            if request.fc.has_conditions() {
                let matches =
                    super::discovery::matching(cse, reader.as_ref(), request, originator, &target)?;
                let mut flat = Vec::with_capacity(matches.len());
                for mut m in matches {
                    m.set("pi", target.ri().to_owned());
                    flat.push(m);
                }
                let mut tree = content::nest_children(&target, &[], with_attributes);
                if let Some(Value::Object(inner)) = tree.get_mut(registry::root_key(&target)) {
                    for m in flat {
                        let entry = inner
                            .entry(registry::root_key(&m).to_owned())
                            .or_insert_with(|| json!([]));
                        if let Value::Array(list) = entry {
                            list.push(Value::Object(content::visible_attrs(&m)));
                        }
                    }
                }
                Ok(tree)
            } else {
                let mut all = reader.descendants(&target.path)?;
                let requester = Requester::of(request, originator);
                all.retain(|r| {
                    access::allowed(cse.config(), reader.as_ref(), &requester, r, 2)
                        .unwrap_or(false)
                });
                Ok(content::nest_children(&target, &all, with_attributes))
            }
        }
        content::ATTRIBUTES_AND_CHILD_REFERENCES | content::CHILD_REFERENCES => {
            let reader = cse.store().reader()?;
            let children = if request.fc.has_conditions() {
                super::discovery::matching(cse, reader.as_ref(), request, originator, &target)?
            } else if target.ty == ResourceType::Container.ty()
                && container::retrieval_disabled(&target)
            {
                Vec::new()
            } else {
                reader.children(target.ri(), None)?
            };
            let refs: Vec<Value> = children
                .iter()
                .map(|c| content::child_reference(c, request.drt))
                .collect();
            if rcn == content::CHILD_REFERENCES {
                Ok(json!({"m2m:rrl": {"rrf": refs}}))
            } else {
                let mut wrapped = content::wrap(&target);
                if let Some(Value::Object(inner)) = wrapped.get_mut(registry::root_key(&target)) {
                    inner.insert("ch".into(), Value::Array(refs));
                }
                Ok(wrapped)
            }
        }
        _ => Err(CseError::bad_request(format!(
            "result content {rcn} is not supported here"
        ))),
    }
}
