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

use serde_json::Value;
use urbis_model::{CseError, CseResult, Resource, ResourceType};
use urbis_store::ReadTxn;

use crate::config::CseConfig;
use crate::registry;

/// Fail with ORIGINATOR_HAS_NO_PRIVILEGE unless `originator` holds `permission`
/// (an `acop` bit) on `resource`.
pub fn require(
    config: &CseConfig,
    reader: &dyn ReadTxn,
    originator: &str,
    resource: &Resource,
    permission: u32,
) -> CseResult<()> {
    if allowed(config, reader, originator, resource, permission)? {
        Ok(())
    } else {
        Err(CseError::no_privilege(format!(
            "originator {originator} has no privilege for this operation"
        )))
    }
}

pub fn allowed(
    config: &CseConfig,
    reader: &dyn ReadTxn,
    originator: &str,
    resource: &Resource,
    permission: u32,
) -> CseResult<bool> {
    if originator == config.admin_originator || originator == config.cse_id {
        return Ok(true);
    }
    if resource.ty == ResourceType::AccessControlPolicy.ty() {
        return Ok(rules_grant(
            resource.attrs.get("pvs"),
            originator,
            permission,
            config,
        ));
    }
    let own_acpi = registry::kind(resource.ty).is_none_or(|kind| kind.own_acpi);
    if !own_acpi {
        return match reader.get(resource.pi())? {
            Some(parent) => allowed(config, reader, originator, &parent, permission),
            None => Ok(false),
        };
    }
    if resource.ty == ResourceType::CseBase.ty()
        && permission == 2
        && is_registered_ae(reader, originator)?
    {
        return Ok(true);
    }
    let acpi = resource.str_list("acpi");
    if acpi.is_empty() {
        let owner = resource.str_attr("cstn").unwrap_or(&resource.creator);
        return Ok(!owner.is_empty() && owner == originator);
    }
    for acp_id in acpi {
        if let Some(acp) = find_acp(reader, acp_id, config)? {
            if rules_grant(acp.attrs.get("pv"), originator, permission, config) {
                return Ok(true);
            }
        }
    }
    Ok(false)
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

/// Does a set of access control rules (`pv` or `pvs`) grant `permission`?
fn rules_grant(
    set_of_acrs: Option<&Value>,
    originator: &str,
    permission: u32,
    config: &CseConfig,
) -> bool {
    let Some(rules) = set_of_acrs
        .and_then(|v| v.get("acr"))
        .and_then(Value::as_array)
    else {
        return false;
    };
    rules.iter().any(|rule| {
        let operations = rule.get("acop").and_then(Value::as_u64).unwrap_or(0) as u32;
        if operations & permission == 0 {
            return false;
        }
        let originators = rule.get("acor").and_then(Value::as_array);
        originators.is_some_and(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .any(|acor| originator_matches(acor, originator, config))
        })
    })
}

/// `all` matches anyone; `*` is a wildcard; IDs compare in CSE-relative form.
fn originator_matches(acor: &str, originator: &str, config: &CseConfig) -> bool {
    if acor == "all" {
        return true;
    }
    let acor = crate::address::normalize_originator(acor, config);
    if acor == originator {
        return true;
    }
    acor.contains('*') && wildcard_match(&acor, originator)
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
            if !acco.is_array() && !acco.is_null() {
                return Err(bad("acco must be a list"));
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

    #[test]
    fn rules() {
        let config = CseConfig::default();
        let pv = json!({"acr": [{"acor": ["Cae1", "/id-in/Cae2"], "acop": 2}, {"acor": ["all"], "acop": 32}]});
        assert!(rules_grant(Some(&pv), "Cae1", 2, &config));
        assert!(rules_grant(Some(&pv), "Cae2", 2, &config));
        assert!(!rules_grant(Some(&pv), "Cae1", 4, &config));
        assert!(rules_grant(Some(&pv), "anyone", 32, &config));
        assert!(!rules_grant(None, "Cae1", 2, &config));
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
