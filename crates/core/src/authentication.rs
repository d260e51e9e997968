//! Authenticated originators: a request whose door verified a credential may
//! only speak as the originator that credential is bound to (docs/security.md).
//! Doors that do not authenticate leave requests [`Authentication::Unchecked`].

use urbis_model::primitive::ANY_ORIGINATOR;
use urbis_model::{Authentication, CseError, CseResult, Request, Rsc};

use crate::address::normalize_originator;
use crate::config::CseConfig;

/// Refuse a request that presented no credential on a door that requires one
/// (4107), or whose `fr` is not its authenticated originator (4106).
pub fn check(config: &CseConfig, request: &Request) -> CseResult<()> {
    let identity = match &request.authentication {
        Authentication::Unchecked => return Ok(()),
        Authentication::Missing => {
            return Err(CseError::new(
                Rsc::SecurityAssociationRequired,
                "this CSE requires authentication: present a password (HTTP Basic), a token \
                 (Bearer) or a client certificate",
            ))
        }
        // a gateway relays for the originators behind it
        Authentication::Verified(identity) if identity == ANY_ORIGINATOR => return Ok(()),
        Authentication::Verified(identity) => identity,
    };
    let claimed = request.fr.as_deref().unwrap_or_default();
    // A bare `C`/`S` (or no originator) asks the CSE to pick an AE-ID, which
    // no credential could be bound to: an authenticated AE registers as itself.
    if matches!(claimed, "" | "C" | "S") {
        return Err(not_authenticated(format!(
            "an authenticated originator registers with its own AE-ID: use {identity} as originator"
        )));
    }
    if normalize_originator(claimed, config) != normalize_originator(identity, config) {
        return Err(not_authenticated(format!(
            "originator {claimed} is not the authenticated originator {identity}"
        )));
    }
    Ok(())
}

/// 4106: TS-0004 names it ORIGINATOR_HAS_NOT_REGISTERED; here it means that
/// the claimed originator is not registered to the credential presented.
fn not_authenticated(message: String) -> CseError {
    CseError::new(Rsc::OriginatorHasNotRegistered, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use urbis_model::Operation;

    fn request(fr: Option<&str>, authentication: Authentication) -> Request {
        let mut request = Request::new(Operation::Retrieve, "cse-in");
        request.fr = fr.map(str::to_owned);
        request.authentication = authentication;
        request
    }

    fn rsc(fr: Option<&str>, authentication: Authentication) -> Option<u16> {
        check(&CseConfig::default(), &request(fr, authentication))
            .err()
            .map(|e| e.rsc.code())
    }

    #[test]
    fn unchecked_doors_take_the_originator_as_given() {
        assert_eq!(rsc(Some("Canyone"), Authentication::Unchecked), None);
        assert_eq!(rsc(None, Authentication::Unchecked), None);
    }

    #[test]
    fn a_missing_credential_needs_a_security_association() {
        assert_eq!(rsc(Some("Cmeter"), Authentication::Missing), Some(4107));
    }

    #[test]
    fn the_originator_must_be_the_authenticated_one() {
        let meter = || Authentication::Verified("Cmeter".into());
        assert_eq!(rsc(Some("Cmeter"), meter()), None);
        assert_eq!(rsc(Some("/id-in/Cmeter"), meter()), None);
        assert_eq!(rsc(Some("CAdmin"), meter()), Some(4106));
        assert_eq!(rsc(Some("C"), meter()), Some(4106));
        assert_eq!(rsc(None, meter()), Some(4106));
    }

    #[test]
    fn a_gateway_credential_speaks_for_anyone() {
        let gateway = || Authentication::Verified(ANY_ORIGINATOR.into());
        assert_eq!(rsc(Some("Cmeter"), gateway()), None);
        assert_eq!(rsc(Some("C"), gateway()), None);
        assert_eq!(rsc(None, gateway()), None);
    }
}
