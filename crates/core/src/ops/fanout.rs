//! Group fan-out: a request to `<group>/fopt[/path]` goes to every member, and
//! the answers come back aggregated (TS-0001 §10.2.7.x, `m2m:agr`).

use serde_json::{json, Value};
use urbis_model::{CseError, CseResult, Operation, Request, Resource, ResourceType, Response, Rsc};

use crate::registry::BoxFuture;
use crate::{access, pipeline, Cse};

pub fn fan_out<'a>(
    cse: &'a Cse,
    group: &'a Resource,
    rest: &'a str,
    request: Request,
    originator: &'a str,
) -> BoxFuture<'a, CseResult<Response>> {
    Box::pin(async move {
        if group.ty != ResourceType::Group.ty() {
            return Err(CseError::not_found("fopt exists only below groups"));
        }
        {
            let reader = cse.store().reader()?;
            access::require(
                cse.config(),
                reader.as_ref(),
                &access::Requester::of(&request, originator),
                group,
                Operation::Retrieve.permission_bit(),
            )?;
        }
        let members: Vec<String> = group
            .str_list("mid")
            .into_iter()
            .map(str::to_owned)
            .collect();
        let mut answers = Vec::with_capacity(members.len());
        for member in members {
            let mut sub = request.clone();
            sub.to = if rest.is_empty() {
                member.clone()
            } else {
                format!("{member}/{rest}")
            };
            let response = pipeline::handle(cse, sub).await;
            let mut entry = json!({"rsc": response.rsc.code(), "rqi": response.rqi, "fr": member});
            if let Some(pc) = response.pc {
                entry["pc"] = pc;
            }
            answers.push(entry);
        }
        Ok(Response::new(
            Rsc::Ok,
            Some(json!({"m2m:agr": {"m2m:rsp": Value::Array(answers)}})),
        ))
    })
}
