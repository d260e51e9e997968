//! `<pollingChannel>` (ty 15, TS-0001 §10.2.22): a mailbox for an AE that the
//! CSE cannot reach (`rr` false, behind NAT, asleep). Requests for it wait
//! in [`crate::polling`]; the AE long-polls the virtual `pcu` child for them
//! and answers with a NOTIFY to `pcu` carrying the response primitive.

use std::time::Duration;

use urbis_model::{time, CseError, CseResult, Request, Resource, ResourceType, Response, Rsc};

use crate::attributes::{AttrDef, UNIVERSAL};
use crate::registry::{Hooks, Kind, ReadCtx};
use crate::{attr, polling, Cse};

const OWN: &[AttrDef] = &[attr!("rqag", Bool, O, O)];

pub static KIND: Kind = Kind {
    ty: ResourceType::PollingChannel,
    attrs: &[UNIVERSAL, OWN],
    parents: &[ResourceType::Ae, ResourceType::RemoteCse],
    // no acpi of its own: only the entity it belongs to may use it
    own_acpi: false,
    id_prefix: "pch",
    hooks: &PollingChannelHooks,
};

struct PollingChannelHooks;

impl Hooks for PollingChannelHooks {
    fn validate_create(
        &self,
        ctx: &ReadCtx<'_>,
        parent: &Resource,
        resource: &mut Resource,
    ) -> CseResult<()> {
        // one mailbox per entity: a second would split its requests
        if ctx
            .reader
            .count_children(parent.ri(), ResourceType::PollingChannel.ty())?
            > 0
        {
            return Err(CseError::bad_request(format!(
                "{} already has a pollingChannel",
                parent.ri()
            )));
        }
        if !resource.attrs.contains_key("rqag") {
            resource.set("rqag", false);
        }
        Ok(())
    }
}

/// Whether requests for this channel's entity are handed out aggregated.
pub fn aggregates(pch: &Resource) -> bool {
    pch.attrs
        .get("rqag")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false)
}

/// Only the entity a channel belongs to may poll it or answer through it
/// (ACPs do not apply: the channel has none, and handing one entity's
/// requests to another would leak them).
fn require_owner(pch: &Resource, originator: &str) -> CseResult<()> {
    if polling::owner(pch) == originator {
        Ok(())
    } else {
        Err(CseError::no_privilege(format!(
            "only {} may use this pollingChannel",
            polling::owner(pch)
        )))
    }
}

/// RETRIEVE of `pcu`: wait for requests for the channel's entity until the
/// request expires (`rqet`) or the CSE's long-poll time passes.
pub async fn long_poll(
    cse: &Cse,
    request: &Request,
    pch: &Resource,
    originator: &str,
) -> CseResult<Response> {
    require_owner(pch, originator)?;
    let wait = match request.rqet.as_deref() {
        Some(rqet) => {
            let now = time::now();
            let deadline = time::parse_abs_rel(rqet, now)
                .ok_or_else(|| CseError::bad_request(format!("invalid rqet: {rqet}")))?;
            Duration::try_from(deadline.duration_since(now)).unwrap_or_default()
        }
        None => Duration::from_millis(cse.long_poll_ms()),
    };
    let aggregate = aggregates(pch);
    match cse
        .mailboxes()
        .poll(polling::owner(pch), aggregate, wait)
        .await
    {
        Some(requests) => Ok(Response::new(
            Rsc::Ok,
            Some(polling::polled_content(&requests, aggregate)),
        )),
        None => Err(CseError::new(
            Rsc::RequestTimeout,
            "no request arrived for this pollingChannel in time",
        )),
    }
}

/// NOTIFY to `pcu`: the entity's response to a request it polled.
pub async fn take_answer(
    cse: &Cse,
    request: &Request,
    pch: &Resource,
    originator: &str,
) -> CseResult<Response> {
    require_owner(pch, originator)?;
    let answer = polling::answered_response(request.pc.as_ref())?;
    if !cse.mailboxes().answer(answer).await {
        tracing::info!(
            pch = pch.ri(),
            "answer through pcu for a request nobody waits for"
        );
    }
    Ok(Response::new(Rsc::Ok, None))
}
