//! Discovery: RETRIEVE with `fu=1` (TS-0004 §7.3.3.17).

use serde_json::{json, Value};
use urbis_model::{CseError, CseResult, Request, Resource, ResourceType, Response, Rsc};
use urbis_store::ReadTxn;

use crate::access::{self, Requester};
use crate::address;
use crate::resources::container;
use crate::{content, Cse};
use urbis_model::types::PERMISSION_DISCOVERY as DISCOVERY;

pub fn discover(cse: &Cse, request: &Request, originator: &str) -> CseResult<Response> {
    let rcn = content::result_content(request)?;
    let reader = cse.store().reader()?;
    let located = address::locate(reader.as_ref(), &request.to, cse.config())?;
    if located.virtual_child.is_some() {
        return Err(CseError::new(
            Rsc::OperationNotAllowed,
            "discovery below a virtual resource",
        ));
    }
    let found = matching(cse, reader.as_ref(), request, originator, &located.resource)?;
    let pc = if rcn == content::CHILD_REFERENCES {
        let refs: Vec<Value> = found
            .iter()
            .map(|r| content::child_reference(r, request.drt))
            .collect();
        json!({"m2m:rrl": {"rrf": refs}})
    } else {
        let ids: Vec<String> = found
            .iter()
            .map(|r| content::identifier(r, request.drt))
            .collect();
        json!({"m2m:uril": ids})
    };
    Ok(Response::new(Rsc::Ok, Some(pc)))
}

/// The resources below `root` that match the request's filter criteria and
/// that the originator may discover, after `lvl`, `ofst`, `lim` and `arp`.
pub fn matching(
    cse: &Cse,
    reader: &dyn ReadTxn,
    request: &Request,
    originator: &str,
    root: &Resource,
) -> CseResult<Vec<Resource>> {
    let fc = &request.fc;
    let and_labels = fc.fo.unwrap_or(1) == 1 && fc.lbl.len() == 1;
    let candidates = if and_labels {
        reader.descendants_with_label(&root.path, &fc.lbl[0])?
    } else {
        reader.descendants(&root.path)?
    };
    let root_depth = root.path.matches('/').count();
    let limit = fc
        .lim
        .unwrap_or(cse.config().discovery_limit)
        .min(cse.config().discovery_limit) as usize;
    let mut skip = fc.ofst.unwrap_or(1).saturating_sub(1) as usize;
    let mut out = Vec::new();
    let mut hidden_parents: Vec<String> = Vec::new();
    let requester = Requester::of(request, originator);
    for candidate in candidates {
        if out.len() >= limit {
            break;
        }
        if let Some(lvl) = fc.lvl {
            if (candidate.path.matches('/').count() - root_depth) as u64 > lvl {
                continue;
            }
        }
        if candidate.ty == ResourceType::ContentInstance.ty()
            && instance_hidden(reader, &candidate, &mut hidden_parents)
        {
            continue;
        }
        if !super::filter::matches(fc, &candidate, reader) {
            continue;
        }
        if !access::allowed(cse.config(), reader, &requester, &candidate, DISCOVERY)? {
            continue;
        }
        if skip > 0 {
            skip -= 1;
            continue;
        }
        match &fc.arp {
            Some(arp) => {
                if let Some(target) =
                    reader.get_by_path(&format!("{}/{}", candidate.path, arp.trim_matches('/')))?
                {
                    out.push(target);
                }
            }
            None => out.push(candidate),
        }
    }
    Ok(out)
}

/// Instances of a container with `disr` are not discoverable.
fn instance_hidden(
    reader: &dyn ReadTxn,
    instance: &Resource,
    hidden_parents: &mut Vec<String>,
) -> bool {
    if hidden_parents.iter().any(|p| p == instance.pi()) {
        return true;
    }
    let hidden = reader
        .get(instance.pi())
        .ok()
        .flatten()
        .is_some_and(|p| container::retrieval_disabled(&p));
    if hidden {
        hidden_parents.push(instance.pi().to_owned());
    }
    hidden
}
