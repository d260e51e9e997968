//! The checks every request passes before its operation runs, and the dispatch.

use urbis_model::{time, CseError, CseResult, Operation, Request, Response, Rsc};

use crate::{address, audit, authentication, content, ops, registry, Cse};

/// A request from a binding: refused when its originator is over its rate
/// limit, otherwise [`handle`]d. Requests the CSE derives from one (group
/// fan-out) are not counted again.
pub async fn handle_inbound(cse: &Cse, request: Request) -> Response {
    // Authenticated first: a sender claiming another originator must not
    // spend that originator's rate budget.
    match authentication::check(cse.config(), &request).and_then(|()| admit(cse, &request)) {
        Ok(()) => handle(cse, request).await,
        Err(err) => {
            let echo = Echo {
                rqi: request.rqi,
                rvi: request.rvi,
                vsi: request.vsi,
            };
            finish(Response::error(&err), echo)
        }
    }
}

pub async fn handle(cse: &Cse, request: Request) -> Response {
    let echo = Echo {
        rqi: request.rqi.clone(),
        rvi: request.rvi.clone(),
        vsi: request.vsi.clone(),
    };
    let response = process(cse, request).await.unwrap_or_else(|err| {
        tracing::debug!(rqi = %echo.rqi, rsc = err.rsc.code(), message = %err.message, "request failed");
        Response::error(&err)
    });
    finish(response, echo)
}

/// What an answer repeats of its request.
struct Echo {
    rqi: String,
    rvi: Option<String>,
    vsi: Option<String>,
}

/// The answer echoes the request's `rqi`, `rvi` and `vsi`, and is stamped `ot`.
fn finish(mut response: Response, echo: Echo) -> Response {
    response.rqi = echo.rqi;
    response.rvi = echo.rvi;
    response.vsi = echo.vsi;
    response.ot = Some(time::now_string());
    response
}

/// The rate limit: per originator; a registration without one counts
/// against the network address it came from.
fn admit(cse: &Cse, request: &Request) -> CseResult<()> {
    let limiter = cse.rate_limiter();
    if !limiter.enabled() {
        return Ok(());
    }
    let key = match request.fr.as_deref() {
        Some(fr) if !fr.is_empty() => address::normalize_originator(fr, cse.config()),
        _ => match request.peer {
            Some(address) => format!("address:{}", address.to_canonical()),
            None => "anonymous".to_owned(),
        },
    };
    limiter.admit(&key).map_err(|wait| {
        audit::rate_limited(&key, request.peer);
        CseError::new(
            Rsc::ServiceSubscriptionLimitsExceeded,
            format!(
                "rate limit exceeded for {key}; retry in {} ms",
                wait.as_millis().max(1)
            ),
        )
    })
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

#[cfg(test)]
mod tests {
    use std::mem::size_of_val;
    use std::sync::Arc;

    use urbis_model::{Operation, Request};

    /// Every request's future is moved (copied) as a whole into its task:
    /// each kilobyte costs every request. Rare waits (blocking notifications,
    /// `dcnt`, forwarded NOTIFYs) are boxed to keep it small; an unboxed one
    /// added to an operation shows up here. The limits leave room for
    /// compiler versions, not for another large future.
    #[test]
    fn request_futures_stay_small() {
        let store: Arc<dyn urbis_store::Store> =
            Arc::new(urbis_store::sqlite::SqliteStore::in_memory().unwrap());
        let cse = crate::Cse::open(crate::config::CseConfig::default(), store).unwrap();
        let request = || Request::new(Operation::Retrieve, "cse-in");
        let ops = [
            (
                "create",
                size_of_val(&crate::ops::create::create(&cse, request(), String::new())),
            ),
            (
                "retrieve",
                size_of_val(&crate::ops::retrieve::retrieve(
                    &cse,
                    request(),
                    String::new(),
                )),
            ),
            (
                "update",
                size_of_val(&crate::ops::update::update(&cse, request(), String::new())),
            ),
            (
                "delete",
                size_of_val(&crate::ops::delete::delete(&cse, request(), String::new())),
            ),
            (
                "notify",
                size_of_val(&crate::ops::notify::notify(&cse, request(), String::new())),
            ),
        ];
        for (op, size) in ops {
            assert!(size <= 2 * 1024, "the {op} future takes {size} bytes");
        }
        let whole = size_of_val(&super::process(&cse, request()));
        assert!(
            whole <= 3 * 1024,
            "the pipeline's future takes {whole} bytes"
        );
    }
}
