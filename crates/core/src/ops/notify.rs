//! NOTIFY addressed to a resource of this CSE: forwarded to an AE through its
//! point of access; at a pollingChannel's `pcu`, the polled entity's answer to
//! a request it picked up; other targets cannot receive notifications.

use urbis_model::{CseError, CseResult, Request, ResourceType, Response, Rsc};

use crate::address::{self, Virtual};
use crate::resources::polling_channel;
use crate::Cse;

pub async fn notify(cse: &Cse, request: Request, originator: String) -> CseResult<Response> {
    let located = {
        let reader = cse.store().reader()?;
        address::locate(reader.as_ref(), &request.to, cse.config())?
    };
    if located.virtual_child == Some(Virtual::PollingUri) {
        return polling_channel::take_answer(cse, &request, &located.resource, &originator).await;
    }
    let target = located.resource;
    if target.ty != ResourceType::Ae.ty() {
        return Err(CseError::new(
            Rsc::OperationNotAllowed,
            "only AEs receive notifications",
        ));
    }
    let body = request
        .pc
        .ok_or_else(|| CseError::bad_request("a notification needs content"))?;
    // boxed: sending takes a large future, which would otherwise weigh on
    // the future of every request the pipeline handles
    Box::pin(cse.notify_and_wait(target.ri(), body)).await
}
