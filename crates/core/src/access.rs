//! Access control (TS-0001 §9.6.2, TS-0004 §7.3.1.3): may this originator do this
//! operation on this resource?
//!
//! Order of decisions:
//! 1. the admin originator and the CSE itself may do everything;
//! 2. an `<accessControlPolicy>` is governed by its own `pvs`;
//! 3. types without `acpi` (contentInstance) are governed by their parent;
//! 4. a registered AE may retrieve the CSEBase;
//! 5. a resource with `acpi` is governed by the `pv` of those policies;
//! 6. a resource without `acpi` is open to its creator (or `cstn`) only.
//!
//! A rule applies when its operations (`acop`), objects (`acod`), contexts
//! (`acco`, see [`contexts`]) and originators (`acor`) all match. Refusals
//! are written to the audit log ([`crate::audit`]) here, where they are
//! decided; filtering (discovery, notification targets) is not a refusal.

mod contexts;

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde_json::Value;
use urbis_model::{CseError, CseResult, Request, Resource, ResourceType};
use urbis_store::ReadTxn;

use crate::config::CseConfig;
use crate::{audit, registry};

/// Who asks: the originator (normalised, CSE-relative) and, when the binding
/// saw it, the network address the request came from (`acip` contexts are
/// evaluated against it).
#[derive(Clone, Copy, Debug)]
pub struct Requester<'a> {
    pub originator: &'a str,
    pub address: Option<IpAddr>,
}

impl<'a> Requester<'a> {
    /// The originator of `request`, from the address its binding saw.
    pub fn of(request: &Request, originator: &'a str) -> Requester<'a> {
        Requester {
            originator,
            address: request.peer,
        }
    }

    /// An originator without a network address (a check outside any request
    /// from the network): rules limited to IP ranges never apply.
    pub fn without_address(originator: &'a str) -> Requester<'a> {
        Requester {
            originator,
            address: None,
        }
    }
}

/// The ORIGINATOR_HAS_NO_PRIVILEGE error for a refusal, written to the audit log.
fn denied(requester: &Requester<'_>, resource: &Resource, permission: u32) -> CseError {
    let reason = "no matching access control rule";
    audit::access_denied(
        requester.originator,
        requester.address,
        resource.ri(),
        permission,
        reason,
    );
    CseError::no_privilege(format!(
        "originator {} has no privilege for this operation",
        requester.originator
    ))
}

/// What access control allows a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Grant {
    Denied,
    /// Only these attributes (the `aca` of the rules that matched).
    Attributes(BTreeSet<String>),
    All,
}

impl Grant {
    /// Rules grant the union of what each grants.
    fn or(self, other: Grant) -> Grant {
        match (self, other) {
            (Grant::All, _) | (_, Grant::All) => Grant::All,
            (Grant::Attributes(mut a), Grant::Attributes(b)) => {
                a.extend(b);
                Grant::Attributes(a)
            }
            (Grant::Attributes(a), Grant::Denied) | (Grant::Denied, Grant::Attributes(a)) => {
                Grant::Attributes(a)
            }
            (Grant::Denied, Grant::Denied) => Grant::Denied,
        }
    }

    fn from_bool(allowed: bool) -> Grant {
        if allowed {
            Grant::All
        } else {
            Grant::Denied
        }
    }

    /// Whether the request may touch all of `attributes`.
    pub fn covers<'a>(&self, attributes: impl IntoIterator<Item = &'a str>) -> bool {
        match self {
            Grant::All => true,
            Grant::Denied => false,
            Grant::Attributes(allowed) => attributes.into_iter().all(|a| allowed.contains(a)),
        }
    }

    /// Fail with ORIGINATOR_HAS_NO_PRIVILEGE unless `attributes` are covered;
    /// `resource` and `permission` are what this grant was asked for.
    pub fn require<'a>(
        &self,
        requester: &Requester<'_>,
        resource: &Resource,
        permission: u32,
        attributes: impl IntoIterator<Item = &'a str>,
    ) -> CseResult<()> {
        if self.covers(attributes) {
            Ok(())
        } else {
            Err(denied(requester, resource, permission))
        }
    }
}

/// Fail with ORIGINATOR_HAS_NO_PRIVILEGE unless the requester holds
/// `permission` (an `acop` bit) on `resource`, for every attribute.
pub fn require(
    config: &CseConfig,
    reader: &dyn ReadTxn,
    requester: &Requester<'_>,
    resource: &Resource,
    permission: u32,
) -> CseResult<()> {
    match grant(config, reader, requester, resource, permission, None)? {
        Grant::All => Ok(()),
        _ => Err(denied(requester, resource, permission)),
    }
}

/// What the requester may do with `permission` on `resource`; for CREATE,
/// `child_ty` is the type to be created (rules may limit it with `acod/chty`).
pub fn grant(
    config: &CseConfig,
    reader: &dyn ReadTxn,
    requester: &Requester<'_>,
    resource: &Resource,
    permission: u32,
    child_ty: Option<u32>,
) -> CseResult<Grant> {
    let wanted = Wanted {
        permission,
        target_ty: resource.ty,
        child_ty,
    };
    grant_for(config, reader, requester, resource, &wanted)
}

/// Whether the requester holds `permission` on `resource` for every
/// attribute. A `false` is not audited: callers use it to filter.
pub fn allowed(
    config: &CseConfig,
    reader: &dyn ReadTxn,
    requester: &Requester<'_>,
    resource: &Resource,
    permission: u32,
) -> CseResult<bool> {
    Ok(grant(config, reader, requester, resource, permission, None)? == Grant::All)
}

/// What is asked: an operation bit, on a resource of some type, and for
/// CREATE the type of the new child.
#[derive(Clone, Copy)]
struct Wanted {
    permission: u32,
    target_ty: u32,
    child_ty: Option<u32>,
}

fn grant_for(
    config: &CseConfig,
    reader: &dyn ReadTxn,
    requester: &Requester<'_>,
    resource: &Resource,
    wanted: &Wanted,
) -> CseResult<Grant> {
    let originator = requester.originator;
    // A pollingChannel is the private mailbox of its parent entity
    // (TS-0001 §10.2.22): neither ACPs nor the admin open it to others.
    let polling = ResourceType::PollingChannel.ty();
    if resource.ty == polling {
        return Ok(Grant::from_bool(originator == resource.pi()));
    }
    // (under a parent that cannot hold one, the CREATE fails on the type instead)
    let may_hold_polling = registry::kind(polling)
        .is_some_and(|kind| kind.parents.iter().any(|p| p.ty() == resource.ty));
    if wanted.child_ty == Some(polling) && may_hold_polling {
        return Ok(Grant::from_bool(originator == resource.ri()));
    }
    if originator == config.admin_originator || originator == config.cse_id {
        return Ok(Grant::All);
    }
    let rules = Rules {
        config,
        reader,
        requester,
        wanted,
        now: jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC),
    };
    if resource.ty == ResourceType::AccessControlPolicy.ty() {
        return rules.grant(resource.attrs.get("pvs"));
    }
    let own_acpi = registry::kind(resource.ty).is_none_or(|kind| kind.own_acpi);
    if !own_acpi {
        return match reader.get(resource.pi())? {
            Some(parent) => {
                let inherited = Wanted {
                    target_ty: parent.ty,
                    ..*wanted
                };
                grant_for(config, reader, requester, &parent, &inherited)
            }
            None => Ok(Grant::Denied),
        };
    }
    if resource.ty == ResourceType::CseBase.ty()
        && wanted.permission == 2
        && is_registered_ae(reader, originator)?
    {
        return Ok(Grant::All);
    }
    let mut policies = Vec::new();
    for acp_id in resource.str_list("acpi") {
        if let Some(acp) = find_acp(reader, acp_id, config)? {
            policies.push(acp);
        }
    }
    // Without (existing) policies the resource belongs to its custodian or creator.
    if policies.is_empty() {
        let owner = resource.str_attr("cstn").unwrap_or(&resource.creator);
        return Ok(Grant::from_bool(!owner.is_empty() && owner == originator));
    }
    let mut granted = Grant::Denied;
    for acp in policies {
        granted = granted.or(rules.grant(acp.attrs.get("pv"))?);
        if granted == Grant::All {
            break;
        }
    }
    Ok(granted)
}

/// Evaluation of access control rules for one request.
struct Rules<'a> {
    config: &'a CseConfig,
    reader: &'a dyn ReadTxn,
    requester: &'a Requester<'a>,
    wanted: &'a Wanted,
    /// When the request is evaluated (`actw`), UTC.
    now: jiff::Zoned,
}

impl Rules<'_> {
    /// What a set of rules (`pv` or `pvs`) grants: everything, when a matching
    /// rule has no `aca`; otherwise the attributes the matching rules list.
    fn grant(&self, set_of_acrs: Option<&Value>) -> CseResult<Grant> {
        let Some(rules) = set_of_acrs
            .and_then(|v| v.get("acr"))
            .and_then(Value::as_array)
        else {
            return Ok(Grant::Denied);
        };
        let mut granted = Grant::Denied;
        for rule in rules {
            let operations = rule.get("acop").and_then(Value::as_u64).unwrap_or(0) as u32;
            if operations & self.wanted.permission == 0
                || !self.objects_match(rule)
                || !contexts::hold(rule.get("acco"), self.requester.address, &self.now)
            {
                continue;
            }
            let originators = rule
                .get("acor")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let mut matched = false;
            for acor in originators.iter().filter_map(Value::as_str) {
                if self.originator_matches(acor)? {
                    matched = true;
                    break;
                }
            }
            if !matched {
                continue;
            }
            match rule.get("aca").and_then(Value::as_array) {
                Some(attributes) => {
                    let listed = attributes
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect();
                    granted = granted.or(Grant::Attributes(listed));
                }
                None => return Ok(Grant::All),
            }
        }
        Ok(granted)
    }

    /// `acod`: the rule only covers these target types and (for CREATE) child types.
    fn objects_match(&self, rule: &Value) -> bool {
        let Some(details) = rule.get("acod").and_then(Value::as_array) else {
            return true;
        };
        details.iter().any(|detail| {
            let ty_ok = detail
                .get("ty")
                .and_then(Value::as_u64)
                .is_none_or(|ty| ty == u64::from(self.wanted.target_ty));
            let chty_ok = match (
                detail.get("chty").and_then(Value::as_array),
                self.wanted.child_ty,
            ) {
                (Some(allowed), Some(child)) => {
                    allowed.iter().any(|t| t.as_u64() == Some(u64::from(child)))
                }
                _ => true,
            };
            ty_ok && chty_ok
        })
    }

    /// `all` matches anyone; `*` is a wildcard; IDs compare in CSE-relative
    /// form; a group's ID matches its members.
    fn originator_matches(&self, acor: &str) -> CseResult<bool> {
        if acor == "all" {
            return Ok(true);
        }
        let originator = self.requester.originator;
        let normalized = crate::address::normalize_originator(acor, self.config);
        if normalized == originator
            || (normalized.contains('*') && wildcard_match(&normalized, originator))
        {
            return Ok(true);
        }
        if normalized.contains('*') {
            return Ok(false);
        }
        let group = match crate::address::locate(self.reader, &normalized, self.config) {
            Ok(located) if located.resource.ty == ResourceType::Group.ty() => located.resource,
            _ => return Ok(false),
        };
        Ok(group
            .str_list("mid")
            .iter()
            .any(|member| crate::address::normalize_originator(member, self.config) == originator))
    }
}

fn is_registered_ae(reader: &dyn ReadTxn, originator: &str) -> CseResult<bool> {
    if originator.is_empty() || originator.contains('/') {
        return Ok(false);
    }
    Ok(reader
        .get(originator)?
        .is_some_and(|r| r.ty == ResourceType::Ae.ty()))
}

/// ACP IDs in `acpi` may be resource IDs or structured / SP-relative addresses.
fn find_acp(reader: &dyn ReadTxn, acp_id: &str, config: &CseConfig) -> CseResult<Option<Resource>> {
    let Ok(located) = crate::address::locate(reader, acp_id, config) else {
        return Ok(None);
    };
    Ok((located.virtual_child.is_none()
        && located.resource.ty == ResourceType::AccessControlPolicy.ty())
    .then_some(located.resource))
}

fn wildcard_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

/// Check the structure of `pv` / `pvs` (TS-0004 m2m:setOfAcrs).
pub fn validate_rules(sn: &str, value: &Value, allow_empty: bool) -> CseResult<()> {
    let bad = |why: &str| CseError::bad_request(format!("invalid {sn}: {why}"));
    let object = value.as_object().ok_or_else(|| bad("must be an object"))?;
    if object.keys().any(|k| k != "acr") {
        return Err(bad("only acr is allowed"));
    }
    let rules = match object.get("acr") {
        None | Some(Value::Null) => &Vec::new(),
        Some(Value::Array(rules)) => rules,
        Some(_) => return Err(bad("acr must be a list")),
    };
    if rules.is_empty() && !allow_empty {
        return Err(bad("at least one access control rule is needed"));
    }
    for rule in rules {
        let rule = rule
            .as_object()
            .ok_or_else(|| bad("each rule must be an object"))?;
        for key in rule.keys() {
            if !matches!(
                key.as_str(),
                "acor" | "acop" | "acco" | "acaf" | "acod" | "aca"
            ) {
                return Err(bad(&format!("unknown rule attribute {key}")));
            }
        }
        let acor = rule
            .get("acor")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("acor must be a list"))?;
        if !acor.iter().all(Value::is_string) {
            return Err(bad("acor entries must be strings"));
        }
        match rule.get("acop").and_then(Value::as_u64) {
            Some(1..=63) => {}
            _ => return Err(bad("acop must be an integer from 1 to 63")),
        }
        if let Some(acco) = rule.get("acco") {
            contexts::validate(acco).map_err(|why| bad(&why))?;
        }
        if let Some(details) = rule.get("acod") {
            let details = details
                .as_array()
                .ok_or_else(|| bad("acod must be a list"))?;
            for detail in details {
                let detail = detail
                    .as_object()
                    .ok_or_else(|| bad("acod entries must be objects"))?;
                if detail.get("ty").is_some_and(|ty| ty.as_u64().is_none()) {
                    return Err(bad("acod/ty must be one resource type number"));
                }
                if let Some(chty) = detail.get("chty") {
                    let ok = chty
                        .as_array()
                        .is_some_and(|l| l.iter().all(|t| t.as_u64().is_some()));
                    if !ok {
                        return Err(bad("acod/chty must be a list of resource type numbers"));
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("C*", "Cabc"));
        assert!(wildcard_match("C*z", "Cabz"));
        assert!(!wildcard_match("C*z", "Caby"));
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("a*b*c", "aXXbYYc"));
        assert!(!wildcard_match("a*b*c", "aXXc"));
    }

    fn grants(
        pv: &Value,
        originator: &str,
        permission: u32,
        target_ty: u32,
        child_ty: Option<u32>,
    ) -> bool {
        let store = urbis_store::sqlite::SqliteStore::in_memory().unwrap();
        let reader = urbis_store::Store::reader(&store).unwrap();
        let config = CseConfig::default();
        let wanted = Wanted {
            permission,
            target_ty,
            child_ty,
        };
        Rules {
            config: &config,
            reader: reader.as_ref(),
            requester: &Requester {
                originator,
                address: "10.0.0.1".parse().ok(),
            },
            wanted: &wanted,
            now: jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC),
        }
        .grant(Some(pv))
        .unwrap()
            == Grant::All
    }

    #[test]
    fn attribute_rules_grant_only_their_attributes() {
        let store = urbis_store::sqlite::SqliteStore::in_memory().unwrap();
        let reader = urbis_store::Store::reader(&store).unwrap();
        let config = CseConfig::default();
        let wanted = Wanted {
            permission: 2,
            target_ty: 3,
            child_ty: None,
        };
        let rules = Rules {
            config: &config,
            reader: reader.as_ref(),
            requester: &Requester::without_address("Cae"),
            wanted: &wanted,
            now: jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC),
        };
        let limited = json!({"acr": [{"acor": ["Cae"], "acop": 2, "aca": ["lbl"]}]});
        let grant = rules.grant(Some(&limited)).unwrap();
        assert!(grant.covers(["lbl"]));
        assert!(!grant.covers(["lbl", "rn"]));
        let mixed = json!({"acr": [{"acor": ["Cae"], "acop": 2, "aca": ["lbl"]}, {"acor": ["Cae"], "acop": 2}]});
        assert_eq!(
            rules.grant(Some(&mixed)).unwrap(),
            Grant::All,
            "a rule without aca grants everything"
        );
    }

    #[test]
    fn rules() {
        let pv = json!({"acr": [{"acor": ["Cae1", "/id-in/Cae2"], "acop": 2}, {"acor": ["all"], "acop": 32}]});
        assert!(grants(&pv, "Cae1", 2, 3, None));
        assert!(grants(&pv, "Cae2", 2, 3, None));
        assert!(!grants(&pv, "Cae1", 4, 3, None));
        assert!(grants(&pv, "anyone", 32, 3, None));
    }

    #[test]
    fn object_details_limit_types() {
        let pv = json!({"acr": [{"acor": ["Cae"], "acop": 3, "acod": [{"ty": 3, "chty": [3]}]}]});
        assert!(grants(&pv, "Cae", 1, 3, Some(3)), "CNT under CNT");
        assert!(
            !grants(&pv, "Cae", 1, 3, Some(4)),
            "CIN is not a listed child type"
        );
        assert!(grants(&pv, "Cae", 2, 3, None), "retrieve a CNT");
        assert!(!grants(&pv, "Cae", 2, 2, None), "the rule is only for CNTs");
    }

    #[test]
    fn time_windows() {
        let always =
            json!({"acr": [{"acor": ["Cae"], "acop": 2, "acco": [{"actw": ["* * * * * * *"]}]}]});
        let never = json!({"acr": [{"acor": ["Cae"], "acop": 2, "acco": [{"actw": ["* * * * * * 1984"]}]}]});
        let by_ip = json!({"acr": [{"acor": ["Cae"], "acop": 2, "acco": [{"acip": {"ipv4": ["10.0.0.1"]}}]}]});
        let elsewhere = json!({"acr": [{"acor": ["Cae"], "acop": 2, "acco": [{"acip": {"ipv4": ["10.9.0.0/16"]}}]}]});
        let by_region =
            json!({"acr": [{"acor": ["Cae"], "acop": 2, "acco": [{"aclr": {"accc": ["FR"]}}]}]});
        assert!(grants(&always, "Cae", 2, 3, None));
        assert!(!grants(&never, "Cae", 2, 3, None));
        assert!(
            grants(&by_ip, "Cae", 2, 3, None),
            "requests come from 10.0.0.1"
        );
        assert!(!grants(&elsewhere, "Cae", 2, 3, None));
        assert!(
            !grants(&by_region, "Cae", 2, 3, None),
            "unevaluated contexts do not grant"
        );
    }

    #[test]
    fn rule_validation() {
        assert!(validate_rules(
            "pv",
            &json!({"acr": [{"acor": ["all"], "acop": 63}]}),
            false
        )
        .is_ok());
        assert!(validate_rules(
            "pv",
            &json!({"acr": [{"acor": ["all"], "acop": 64}]}),
            false
        )
        .is_err());
        assert!(validate_rules("pv", &json!({"acr": [{"acop": 1}]}), false).is_err());
        assert!(validate_rules("pv", &json!({"acr": []}), false).is_err());
        assert!(validate_rules("pv", &json!({"acr": []}), true).is_ok());
        assert!(validate_rules("pv", &json!("x"), true).is_err());
    }
}
