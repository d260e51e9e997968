//! filterCriteria evaluation (TS-0004 §7.3.3.17.x) for one candidate resource.

use serde_json::Value;
use urbis_model::{FilterCriteria, Resource};
use urbis_store::ReadTxn;

/// Does `resource` satisfy the conditions of `fc`? `fo` 1 (AND, default) needs
/// every given condition; 2 (OR) any; 3 (XOR) exactly one. Values inside one
/// multi-valued condition (several `ty`, several `lbl`) are always ORed.
pub fn matches(fc: &FilterCriteria, resource: &Resource, reader: &dyn ReadTxn) -> bool {
    let mut results: Vec<bool> = Vec::new();
    let ts = |sn: &str| resource.str_attr(sn).unwrap_or_default().to_owned();
    if let Some(v) = &fc.crb {
        results.push(ts("ct").as_str() < v.as_str());
    }
    if let Some(v) = &fc.cra {
        results.push(ts("ct").as_str() > v.as_str());
    }
    if let Some(v) = &fc.ms {
        results.push(ts("lt").as_str() > v.as_str());
    }
    if let Some(v) = &fc.us {
        results.push(ts("lt").as_str() < v.as_str());
    }
    if let Some(v) = &fc.exb {
        results.push(resource.et().is_some_and(|et| et < v.as_str()));
    }
    if let Some(v) = &fc.exa {
        results.push(resource.et().is_some_and(|et| et > v.as_str()));
    }
    if let Some(v) = fc.sts {
        results.push(resource.u64_attr("st").is_some_and(|st| st < v));
    }
    if let Some(v) = fc.stb {
        results.push(resource.u64_attr("st").is_some_and(|st| st > v));
    }
    if let Some(v) = fc.sza {
        results.push(resource.u64_attr("cs").is_some_and(|cs| cs >= v));
    }
    if let Some(v) = fc.szb {
        results.push(resource.u64_attr("cs").is_some_and(|cs| cs < v));
    }
    if !fc.ty.is_empty() {
        results.push(fc.ty.contains(&resource.ty));
    }
    if !fc.lbl.is_empty() {
        let labels = resource.labels();
        results.push(fc.lbl.iter().any(|l| labels.contains(&l.as_str())));
    }
    if !fc.cty.is_empty() {
        let cnf = resource.str_attr("cnf").unwrap_or_default();
        results.push(
            fc.cty
                .iter()
                .any(|c| cnf == c || cnf.split(':').next() == Some(c.as_str())),
        );
    }
    if !fc.chty.is_empty() {
        results.push(
            fc.chty
                .iter()
                .any(|t| reader.count_children(resource.ri(), *t).unwrap_or(0) > 0),
        );
    }
    if !fc.pty.is_empty() || !fc.palb.is_empty() {
        let parent = reader.get(resource.pi()).ok().flatten();
        if !fc.pty.is_empty() {
            results.push(parent.as_ref().is_some_and(|p| fc.pty.contains(&p.ty)));
        }
        if !fc.palb.is_empty() {
            results.push(
                parent
                    .as_ref()
                    .is_some_and(|p| p.labels().iter().any(|l| fc.palb.iter().any(|w| w == l))),
            );
        }
    }
    if !fc.clbl.is_empty() {
        let children = reader.children(resource.ri(), None).unwrap_or_default();
        results.push(
            children
                .iter()
                .any(|c| c.labels().iter().any(|l| fc.clbl.iter().any(|w| w == l))),
        );
    }
    for (name, wanted) in &fc.atr {
        results.push(
            resource
                .attrs
                .get(name)
                .is_some_and(|actual| attribute_matches(actual, wanted)),
        );
    }
    match fc.fo.unwrap_or(1) {
        2 => results.iter().any(|r| *r) || results.is_empty(),
        3 => results.iter().filter(|r| **r).count() == 1,
        _ => results.iter().all(|r| *r),
    }
}

/// Attribute conditions compare text forms; `*` in a text pattern is a wildcard.
fn attribute_matches(actual: &Value, wanted: &Value) -> bool {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let pattern = text(wanted);
    match actual {
        Value::Array(items) => items.iter().any(|item| wildcard(&pattern, &text(item))),
        other => wildcard(&pattern, &text(other)),
    }
}

fn wildcard(pattern: &str, text: &str) -> bool {
    if !pattern.contains('*') {
        return pattern == text;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || !text.ends_with(last) || text.len() < first.len() + last.len() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn attribute_conditions() {
        assert!(attribute_matches(&json!("aValue"), &json!("a*")));
        assert!(!attribute_matches(&json!("bValue"), &json!("a*")));
        assert!(attribute_matches(&json!(5), &json!("5")));
        assert!(attribute_matches(&json!(["x", "y"]), &json!("y")));
    }
}
