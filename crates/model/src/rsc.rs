//! Response status codes (TS-0004 §6.6) and the one table that maps each to its
//! HTTP status (TS-0009) and CoAP response code (TS-0008).

use std::fmt;

macro_rules! status_codes {
    ($($variant:ident = $code:literal, $http:literal, $coap:literal;)*) => {
        /// A oneM2M response status code.
        #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
        pub enum Rsc { $($variant),* }

        impl Rsc {
            /// The numeric value that travels on the wire (`rsc`, `X-M2M-RSC`).
            pub const fn code(self) -> u16 {
                match self { $(Rsc::$variant => $code),* }
            }
            /// HTTP status code for this RSC (TS-0009 mapping).
            pub const fn http_status(self) -> u16 {
                match self { $(Rsc::$variant => $http),* }
            }
            /// CoAP response code as `class * 32 + detail` (TS-0008 mapping).
            pub const fn coap_code(self) -> u8 {
                match self { $(Rsc::$variant => $coap),* }
            }
            /// Parse a numeric RSC; unknown codes give `None`.
            pub fn from_code(code: u16) -> Option<Rsc> {
                match code { $($code => Some(Rsc::$variant),)* _ => None }
            }
            /// Upper-case name as the specification spells it.
            pub fn name(self) -> &'static str {
                match self { $(Rsc::$variant => stringify!($variant)),* }
            }
        }
    };
}

// CoAP codes as class*32+detail (TS-0008 Table 6.2.4-1): 2.01=65 2.02=66 2.03=67 2.04=68 2.05=69 4.00=128
// 4.03=131 4.04=132 4.05=133 4.06=134 4.15=143 5.00=160 5.01=161 5.03=163 5.04=164
status_codes! {
    Accepted = 1000, 202, 67;
    AcceptedNonBlockingSynch = 1001, 202, 65;
    AcceptedNonBlockingAsynch = 1002, 202, 65;
    Ok = 2000, 200, 69;
    Created = 2001, 201, 65;
    Deleted = 2002, 200, 66;
    Updated = 2004, 200, 68;
    BadRequest = 4000, 400, 128;
    ReleaseVersionNotSupported = 4001, 501, 161;
    NotFound = 4004, 404, 132;
    OperationNotAllowed = 4005, 405, 133;
    RequestTimeout = 4008, 408, 164;
    UnsupportedMediaType = 4015, 415, 143;
    SubscriptionCreatorHasNoPrivilege = 4101, 403, 131;
    ContentsUnacceptable = 4102, 400, 128;
    OriginatorHasNoPrivilege = 4103, 403, 131;
    GroupRequestIdentifierExists = 4104, 409, 128;
    Conflict = 4105, 409, 131;
    OriginatorHasNotRegistered = 4106, 403, 131;
    SecurityAssociationRequired = 4107, 403, 131;
    InvalidChildResourceType = 4108, 403, 131;
    NoMembers = 4109, 403, 131;
    GroupMemberTypeInconsistent = 4110, 400, 128;
    OriginatorHasAlreadyRegistered = 4117, 403, 131;
    AppRuleValidationFailed = 4126, 403, 131;
    OperationDeniedByRemoteEntity = 4127, 403, 131;
    ServiceSubscriptionNotEstablished = 4128, 403, 131;
    DiscoveryLimitExceeded = 4130, 403, 131;
    // oneM2M defines no code for throttling; this is the originator error for
    // "the limits granted to you are exceeded". HTTP 429 (RFC 6585) and CoAP
    // 4.29 (RFC 8516) tell the transport the same (docs/security-hardening.md).
    ServiceSubscriptionLimitsExceeded = 4141, 429, 157;
    InternalServerError = 5000, 500, 160;
    NotImplemented = 5001, 501, 161;
    TargetNotReachable = 5103, 404, 132;
    ReceiverHasNoPrivileges = 5105, 403, 131;
    AlreadyExists = 5106, 409, 128;
    RemoteEntityNotReachable = 5107, 404, 132;
    TargetNotSubscribable = 5203, 403, 131;
    SubscriptionVerificationInitiationFailed = 5204, 500, 160;
    SubscriptionHostHasNoPrivilege = 5205, 403, 131;
    NotAcceptable = 5207, 406, 134;
    GroupMembersNotResponded = 5209, 500, 160;
    MaxNumberOfMemberExceeded = 6010, 400, 128;
    InvalidArguments = 6023, 400, 128;
    InsufficientArguments = 6024, 400, 128;
}

impl Rsc {
    /// True for 1xxx and 2xxx codes.
    pub const fn is_success(self) -> bool {
        self.code() < 3000
    }
}

impl fmt::Display for Rsc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code(), self.name())
    }
}

/// A failed request: the status code it answers with and a human-readable reason
/// (sent as `m2m:dbg`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{rsc}: {message}")]
pub struct CseError {
    pub rsc: Rsc,
    pub message: String,
}

pub type CseResult<T> = Result<T, CseError>;

impl CseError {
    pub fn new(rsc: Rsc, message: impl Into<String>) -> Self {
        CseError {
            rsc,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(Rsc::BadRequest, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Rsc::NotFound, message)
    }
    pub fn no_privilege(message: impl Into<String>) -> Self {
        Self::new(Rsc::OriginatorHasNoPrivilege, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Rsc::InternalServerError, message)
    }
}

/// `bail!(Rsc::X, "fmt", args)` returns early with a [`CseError`].
#[macro_export]
macro_rules! bail {
    ($rsc:expr, $($arg:tt)+) => {
        return Err($crate::CseError::new($rsc, format!($($arg)+)))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_round_trips() {
        for code in [
            1000u16, 2000, 2001, 2002, 2004, 4000, 4004, 4103, 4117, 5000, 5204, 6010,
        ] {
            let rsc = Rsc::from_code(code).expect("known code");
            assert_eq!(rsc.code(), code);
        }
        assert_eq!(Rsc::from_code(1234), None);
    }

    #[test]
    fn throttling_answers_too_many_requests_on_each_transport() {
        let rsc = Rsc::from_code(4141).expect("known code");
        assert_eq!(rsc.http_status(), 429);
        assert_eq!(rsc.coap_code(), 4 * 32 + 29);
    }

    #[test]
    fn http_mapping_matches_ts0009() {
        assert_eq!(Rsc::Created.http_status(), 201);
        assert_eq!(Rsc::Deleted.http_status(), 200);
        assert_eq!(Rsc::NotFound.http_status(), 404);
        assert_eq!(Rsc::OriginatorHasNoPrivilege.http_status(), 403);
        assert_eq!(Rsc::Conflict.http_status(), 409);
        assert_eq!(Rsc::InternalServerError.http_status(), 500);
        assert!(Rsc::Updated.is_success());
        assert!(!Rsc::BadRequest.is_success());
    }

    #[test]
    fn coap_mapping_matches_ts0008() {
        // TS-0008 Table 6.2.4-1 (V3.9.0)
        assert_eq!(Rsc::Created.coap_code(), 65); // 2.01
        assert_eq!(Rsc::Ok.coap_code(), 69); // 2.05
        assert_eq!(Rsc::NotFound.coap_code(), 132); // 4.04
        assert_eq!(Rsc::ReleaseVersionNotSupported.coap_code(), 161); // 5.01
        assert_eq!(Rsc::RequestTimeout.coap_code(), 164); // 5.04
        assert_eq!(Rsc::ContentsUnacceptable.coap_code(), 128); // 4.00
        assert_eq!(Rsc::GroupRequestIdentifierExists.coap_code(), 128); // 4.00
        assert_eq!(Rsc::AlreadyExists.coap_code(), 128); // 4.00
        assert_eq!(Rsc::Conflict.coap_code(), 131); // 4.03
        assert_eq!(Rsc::NotAcceptable.coap_code(), 134); // 4.06
    }
}
