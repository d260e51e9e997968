//! Operations and resource types (TS-0004 §6.3.4.2).

use crate::{CseError, CseResult};

/// The operation of a request primitive (`op`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    Create = 1,
    Retrieve = 2,
    Update = 3,
    Delete = 4,
    Notify = 5,
}

impl Operation {
    pub fn from_code(code: i64) -> CseResult<Operation> {
        Ok(match code {
            1 => Operation::Create,
            2 => Operation::Retrieve,
            3 => Operation::Update,
            4 => Operation::Delete,
            5 => Operation::Notify,
            _ => return Err(CseError::bad_request(format!("unknown operation {code}"))),
        })
    }
    pub fn code(self) -> u8 {
        self as u8
    }
    /// The `acop` bit an access control rule must grant for this operation.
    pub fn permission_bit(self) -> u32 {
        match self {
            Operation::Create => 1,
            Operation::Retrieve => 2,
            Operation::Update => 4,
            Operation::Delete => 8,
            Operation::Notify => 16,
        }
    }
}

/// `acop` bit for DISCOVERY (a RETRIEVE with `fu=1`).
pub const PERMISSION_DISCOVERY: u32 = 32;

macro_rules! resource_types {
    ($($variant:ident = $ty:literal, $sn:literal;)*) => {
        /// Resource types Urbis knows by number. Types it does not host are refused
        /// at CREATE by the registry in the core, not here.
        #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
        pub enum ResourceType { $($variant),* }

        impl ResourceType {
            pub const fn ty(self) -> u32 {
                match self { $(ResourceType::$variant => $ty),* }
            }
            /// The namespaced short name used as the root key (`m2m:cnt`).
            pub const fn short_name(self) -> &'static str {
                match self { $(ResourceType::$variant => $sn),* }
            }
            pub fn from_ty(ty: u32) -> Option<ResourceType> {
                match ty { $($ty => Some(ResourceType::$variant),)* _ => None }
            }
            pub fn from_short_name(sn: &str) -> Option<ResourceType> {
                match sn { $($sn => Some(ResourceType::$variant),)* _ => None }
            }
        }
    };
}

resource_types! {
    AccessControlPolicy = 1, "m2m:acp";
    Ae = 2, "m2m:ae";
    Container = 3, "m2m:cnt";
    ContentInstance = 4, "m2m:cin";
    CseBase = 5, "m2m:cb";
    Group = 9, "m2m:grp";
    LocationPolicy = 10, "m2m:lcp";
    MgmtObj = 13, "m2m:mgo";
    Node = 14, "m2m:nod";
    PollingChannel = 15, "m2m:pch";
    RemoteCse = 16, "m2m:csr";
    RequestResource = 17, "m2m:req";
    Schedule = 18, "m2m:sch";
    Subscription = 23, "m2m:sub";
    SemanticDescriptor = 24, "m2m:smd";
    FlexContainer = 28, "m2m:fcnt";
    TimeSeries = 29, "m2m:ts";
    TimeSeriesInstance = 30, "m2m:tsi";
    CrossResourceSubscription = 48, "m2m:crs";
    FlexContainerInstance = 58, "m2m:fci";
}

impl ResourceType {
    /// The short name without its namespace (`cnt`), as used inside `m2m:rce`
    /// and as child keys of rcn=4.
    pub fn bare_name(self) -> &'static str {
        let sn = self.short_name();
        sn.split_once(':').map(|(_, bare)| bare).unwrap_or(sn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_numbers_and_names() {
        assert_eq!(ResourceType::from_ty(3), Some(ResourceType::Container));
        assert_eq!(ResourceType::Container.short_name(), "m2m:cnt");
        assert_eq!(ResourceType::Container.bare_name(), "cnt");
        assert_eq!(
            ResourceType::from_short_name("m2m:ae"),
            Some(ResourceType::Ae)
        );
        assert_eq!(ResourceType::from_ty(999), None);
    }

    #[test]
    fn operations() {
        assert_eq!(Operation::from_code(2).unwrap(), Operation::Retrieve);
        assert!(Operation::from_code(9).is_err());
        assert_eq!(Operation::Delete.permission_bit(), 8);
    }
}
