//! NOTIFY addressed to a resource of this CSE: forwarded to an AE through its
//! point of access; other targets cannot receive notifications.

use urbis_model::{CseError, CseResult, Request, ResourceType, Response, Rsc};

use crate::{address, Cse};

pub async fn notify(cse: &Cse, request: Request, _originator: String) -> CseResult<Response> {
    let target = {
        let reader = cse.store().reader()?;
        address::locate(reader.as_ref(), &request.to, cse.config())?.resource
    };
    if target.ty != ResourceType::Ae.ty() {
        return Err(CseError::new(
            Rsc::OperationNotAllowed,
            "only AEs receive notifications",
        ));
    }
    let body = request
        .pc
        .ok_or_else(|| CseError::bad_request("a notification needs content"))?;
    cse.notify_and_wait(target.ri(), body).await
}
