//! The checks every request passes before its operation runs, and the dispatch.

use urbis_model::{time, CseError, CseResult, Operation, Request, Response, Rsc};

use crate::{address, authentication, content, ops, registry, Cse};

pub async fn handle(cse: &Cse, request: Request) -> Response {
    let rqi = request.rqi.clone();
    let rvi = request.rvi.clone();
    let vsi = request.vsi.clone();
    let mut response = match process(cse, request).await {
        Ok(response) => response,
        Err(err) => {
            tracing::debug!(rqi = %rqi, rsc = err.rsc.code(), message = %err.message, "request failed");
            Response::error(&err)
        }
    };
    response.rqi = rqi;
    response.rvi = rvi;
    response.vsi = vsi;
    response.ot = Some(time::now_string());
    response
}

async fn process(cse: &Cse, request: Request) -> CseResult<Response> {
    // before anything else, so that an unauthenticated sender learns nothing
    authentication::check(cse.config(), &request)?;
    check_release_version(cse, &request)?;
    if request.rqi.is_empty() {
        return Err(CseError::bad_request("request identifier (rqi) is missing"));
    }
    if request.ty.is_some() && request.op != Operation::Create {
        return Err(CseError::bad_request("ty is only allowed in CREATE"));
    }
    check_times(&request)?;
    check_parameters(cse, &request)?;
    content::result_content(&request)?;
    let registering_ae = request.op == Operation::Create && request.ty == Some(2);
    let originator = match request.fr.as_deref() {
        Some(fr) if !fr.is_empty() => address::normalize_originator(fr, cse.config()),
        _ if registering_ae => String::new(),
        _ => return Err(CseError::bad_request("originator (fr) is missing")),
    };
    match request.op {
        Operation::Create => ops::create::create(cse, request, originator).await,
        Operation::Retrieve if request.is_discovery() => {
            ops::discovery::discover(cse, &request, &originator)
        }
        Operation::Retrieve => ops::retrieve::retrieve(cse, request, originator).await,
        Operation::Update => ops::update::update(cse, request, originator).await,
        Operation::Delete => ops::delete::delete(cse, request, originator).await,
        Operation::Notify => ops::notify::notify(cse, request, originator).await,
    }
}

fn check_release_version(cse: &Cse, request: &Request) -> CseResult<()> {
    match request.rvi.as_deref() {
        Some(rvi) if cse.config().release_versions.iter().any(|v| v == rvi) => Ok(()),
        Some(rvi) => Err(CseError::new(
            Rsc::ReleaseVersionNotSupported,
            format!("release version {rvi} is not supported"),
        )),
        None => Err(CseError::new(
            Rsc::ReleaseVersionNotSupported,
            "release version indicator (rvi) is missing; release 1 is not supported",
        )),
    }
}

/// `rqet` / `rset` in the past make a request pointless (4008); `oet` must come
/// before them.
fn check_times(request: &Request) -> CseResult<()> {
    let now = time::now();
    let parse = |name: &str, value: &Option<String>| -> CseResult<Option<jiff::Timestamp>> {
        match value {
            None => Ok(None),
            Some(text) => time::parse_abs_rel(text, now)
                .map(Some)
                .ok_or_else(|| CseError::bad_request(format!("invalid {name}: {text}"))),
        }
    };
    let rqet = parse("rqet", &request.rqet)?;
    let rset = parse("rset", &request.rset)?;
    let oet = parse("oet", &request.oet)?;
    for deadline in [rqet, rset].into_iter().flatten() {
        if deadline < now {
            return Err(CseError::new(
                Rsc::RequestTimeout,
                "the request expired before it was processed",
            ));
        }
        if oet.is_some_and(|oet| oet > deadline) {
            return Err(CseError::bad_request("oet must be before rqet and rset"));
        }
    }
    Ok(())
}

fn check_parameters(cse: &Cse, request: &Request) -> CseResult<()> {
    let fc = &request.fc;
    if fc.fu.is_some_and(|fu| !(1..=2).contains(&fu)) {
        return Err(CseError::bad_request("filterUsage must be 1 or 2"));
    }
    if fc.fo.is_some_and(|fo| !(1..=3).contains(&fo)) {
        return Err(CseError::bad_request("filterOperation must be 1, 2 or 3"));
    }
    if request.drt.is_some_and(|drt| !(1..=2).contains(&drt)) {
        return Err(CseError::bad_request(
            "desiredIdentifierResultType must be 1 or 2",
        ));
    }
    if request.op != Operation::Notify && address::is_bare_cse_id(&request.to, cse.config()) {
        return Err(CseError::bad_request(format!(
            "{} is a CSE-ID, not a resource address (use {}/{})",
            request.to,
            cse.config().cse_id,
            cse.config().cse_name
        )));
    }
    for (name, _) in &fc.atr {
        if !registry::is_known_attribute(name) {
            return Err(CseError::bad_request(format!(
                "unknown parameter or attribute: {name}"
            )));
        }
    }
    if let Some(rt) = &request.rt {
        if !(1..=5).contains(&rt.rtv) {
            return Err(CseError::bad_request(format!(
                "invalid response type {}",
                rt.rtv
            )));
        }
        if !rt.nu.is_empty() && rt.rtv != 2 {
            return Err(CseError::bad_request(
                "notification URIs in rt are only for nonBlockingRequestAsynch",
            ));
        }
    }
    Ok(())
}
