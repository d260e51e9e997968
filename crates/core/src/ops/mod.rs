//! The operations. Each runs a read phase (locate, access control, validation)
//! on a reader, optional asynchronous checks, then one write job on the store.

pub mod create;
pub mod delete;
pub mod discovery;
pub mod fanout;
pub mod filter;
pub mod notify;
pub mod retrieve;
pub mod update;

use serde_json::{Map, Value};
use urbis_model::{time, CseError, CseResult, Request, Resource};

use crate::address::{self, Located, Virtual};
use crate::Cse;

/// Where a request lands: at a resource (maybe a virtual `la`/`ol` below it),
/// or at a group's fan-out point, whose aggregated answer is already there.
pub(crate) enum Landing {
    At(Located),
    FannedOut(urbis_model::Response),
}

pub(crate) async fn land(cse: &Cse, request: &Request, originator: &str) -> CseResult<Landing> {
    let located = {
        let reader = cse.store().reader()?;
        address::locate(reader.as_ref(), &request.to, cse.config())?
    };
    match &located.virtual_child {
        Some(Virtual::FanOut(rest)) => {
            let answer =
                fanout::fan_out(cse, &located.resource, rest, request.clone(), originator).await?;
            Ok(Landing::FannedOut(answer))
        }
        _ => Ok(Landing::At(located)),
    }
}

/// The single `{"m2m:xyz": {...}}` entry of a CREATE/UPDATE body.
pub(crate) fn single_root(request: &Request) -> CseResult<(&str, &Map<String, Value>)> {
    let pc = request
        .pc
        .as_ref()
        .and_then(Value::as_object)
        .ok_or_else(|| CseError::bad_request("content is missing"))?;
    if pc.len() != 1 {
        return Err(CseError::bad_request(
            "content must hold exactly one resource",
        ));
    }
    let (key, value) = pc
        .iter()
        .next()
        .ok_or_else(|| CseError::bad_request("content is empty"))?;
    let attrs = value
        .as_object()
        .ok_or_else(|| CseError::bad_request("resource content must be an object"))?;
    Ok((key.as_str(), attrs))
}

/// Resolve a requested `et` (or none) into the one to store: in the future,
/// no later than the CSE's maximum, no later than the parent's.
pub(crate) fn settle_expiration(
    cse: &Cse,
    requested: Option<&Value>,
    parent: Option<&Resource>,
) -> CseResult<String> {
    let now = time::now();
    let max = time::format(time::after_ms(
        now,
        (cse.max_expiration_secs() as i64).saturating_mul(1000),
    ));
    let mut et = match requested.and_then(Value::as_str) {
        Some(text) => {
            let ts = time::parse(text)
                .ok_or_else(|| CseError::bad_request(format!("invalid expirationTime {text}")))?;
            if ts < now {
                return Err(CseError::bad_request("expirationTime is in the past"));
            }
            time::format(ts).min(max)
        }
        None => max,
    };
    if let Some(parent_et) = parent.and_then(Resource::et) {
        if parent_et < et.as_str() {
            et = parent_et.to_owned();
        }
    }
    Ok(et)
}
