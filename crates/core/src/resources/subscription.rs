//! `<subscription>` (ty 23): who to notify about what. Creation verifies every
//! notification target (TS-0004 §7.3.8.2.1); deletion sends the deletion notice.

use serde_json::{json, Map, Value};
use urbis_model::{Attrs, CseError, CseResult, Resource, ResourceType, Rsc};

use crate::attr;
use crate::attributes::{AttrDef, ACPI, CREATOR, UNIVERSAL};
use crate::notify::{net, Notification};
use crate::registry::{self, BoxFuture, Hooks, Kind, ReadCtx, WriteCtx};
use crate::Cse;

const OWN: &[AttrDef] = &[
    attr!("enc", Object, O, O),
    attr!("exc", PosInt, O, O),
    attr!("nu", NonEmptyStrList, M, O),
    attr!("gpi", Str, O, O),
    attr!("nfu", Str, O, O),
    attr!("bn", Object, O, O),
    attr!("rl", Object, O, O),
    attr!("psn", PosInt, O, NP),
    attr!("pn", NonNegInt, O, O),
    attr!("nsp", PosInt, O, O),
    attr!("ln", Bool, O, O),
    attr!("nct", NonNegInt, O, O),
    attr!("nec", NonNegInt, O, O),
    attr!("su", Str, O, NP),
    attr!("acrs", StrList, O, O),
    attr!("nse", Bool, O, O),
    attr!("nsi", List, NP, NP),
    attr!("eeno", Bool, O, O),
    attr!("ma", Str, O, O),
];

pub static KIND: Kind = Kind {
    ty: ResourceType::Subscription,
    attrs: &[UNIVERSAL, ACPI, CREATOR, OWN],
    parents: &[
        ResourceType::AccessControlPolicy,
        ResourceType::Ae,
        ResourceType::Container,
        ResourceType::CseBase,
        ResourceType::Group,
        ResourceType::Node,
        ResourceType::MgmtObj,
        ResourceType::RemoteCse,
        ResourceType::FlexContainer,
        ResourceType::TimeSeries,
    ],
    own_acpi: true,
    id_prefix: "sub",
    hooks: &SubscriptionHooks,
};

struct SubscriptionHooks;

impl Hooks for SubscriptionHooks {
    fn validate_create(
        &self,
        ctx: &ReadCtx<'_>,
        parent: &Resource,
        resource: &mut Resource,
    ) -> CseResult<()> {
        // a subscriber receives copies of the resource, so it must be allowed to read it
        let retrieve = urbis_model::Operation::Retrieve.permission_bit();
        let subscriber = crate::access::Requester::of(ctx.request, ctx.originator);
        if !crate::access::allowed(ctx.config, ctx.reader, &subscriber, parent, retrieve)? {
            crate::audit::access_denied(
                ctx.originator,
                ctx.request.peer,
                parent.ri(),
                retrieve,
                "subscriber has no RETRIEVE privilege on the subscribed-to resource",
            );
            return Err(CseError::new(
                Rsc::SubscriptionCreatorHasNoPrivilege,
                "the subscriber has no RETRIEVE privilege on the subscribed-to resource",
            ));
        }
        if resource.attrs.get("enc").is_none_or(Value::is_null) {
            resource.set("enc", json!({"net": [net::UPDATE]}));
        }
        if resource.attrs.get("nct").is_none_or(Value::is_null) {
            // blocking update (net 7) reports modified attributes by default
            let blocking = event_types(resource).contains(&net::BLOCKING_UPDATE);
            resource.set("nct", if blocking { 2 } else { 1 });
        }
        check(parent, resource)
    }

    fn verify_create<'a>(
        &'a self,
        cse: &'a Cse,
        resource: &'a Resource,
    ) -> Option<BoxFuture<'a, CseResult<()>>> {
        let targets: Vec<String> = resource
            .str_list("nu")
            .into_iter()
            .map(str::to_owned)
            .collect();
        Some(Box::pin(verify_targets(cse, resource, targets)))
    }

    fn validate_update(
        &self,
        ctx: &ReadCtx<'_>,
        current: &Resource,
        changes: &Attrs,
    ) -> CseResult<()> {
        if changes.get("nu").is_some_and(Value::is_null) {
            return Err(CseError::bad_request("nu cannot be removed"));
        }
        let mut probe = current.clone();
        apply(&mut probe, changes);
        let asks_blocking = changes
            .get("enc")
            .and_then(|enc| enc.get("net"))
            .and_then(Value::as_array)
            .is_some_and(|nets| {
                nets.iter()
                    .any(|n| n.as_u64() == Some(net::BLOCKING_UPDATE))
            });
        if asks_blocking {
            return Err(CseError::bad_request(
                "blocking update (net 7) can only be chosen when the subscription is created",
            ));
        }
        let parent = ctx
            .reader
            .get(current.pi())?
            .ok_or_else(|| CseError::not_found("parent is gone"))?;
        check(&parent, &mut probe)
    }

    fn verify_update<'a>(
        &'a self,
        cse: &'a Cse,
        updated: &'a Resource,
        changes: &'a Attrs,
    ) -> Option<BoxFuture<'a, CseResult<()>>> {
        let new_targets: Vec<String> = changes
            .get("nu")?
            .as_array()?
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
        Some(Box::pin(verify_targets(cse, updated, new_targets)))
    }

    fn on_update(
        &self,
        ctx: &mut WriteCtx<'_>,
        _previous: &Resource,
        resource: &mut Resource,
    ) -> CseResult<()> {
        // turning statistics on (again) starts them afresh; removing nse removes them
        if let Some(Value::Bool(true) | Value::Null) = ctx.changes.and_then(|c| c.get("nse")) {
            resource.attrs.remove("nsi");
        }
        if resource.attrs.get("enc").is_none_or(Value::is_null) {
            resource.set("enc", json!({"net": [net::UPDATE]}));
        }
        if resource.attrs.get("nct").is_none_or(Value::is_null) {
            resource.set("nct", 1);
        }
        Ok(())
    }

    fn on_delete(
        &self,
        ctx: &mut WriteCtx<'_>,
        resource: &Resource,
        _root_of_delete: bool,
    ) -> CseResult<()> {
        deletion_notice(ctx, resource)
    }
}

/// The `enc/net` list of a subscription.
pub fn event_types(sub: &Resource) -> Vec<u64> {
    sub.attrs
        .get("enc")
        .and_then(|e| e.get("net"))
        .and_then(Value::as_array)
        .map(|l| l.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default()
}

fn apply(resource: &mut Resource, changes: &Attrs) {
    for (k, v) in changes {
        if v.is_null() {
            resource.attrs.remove(k);
        } else {
            resource.attrs.insert(k.clone(), v.clone());
        }
    }
}

/// Rules between `enc`, `nct`, `bn` and the parent type (TS-0004 §7.4.8).
fn check(parent: &Resource, sub: &mut Resource) -> CseResult<()> {
    let bad = |why: String| Err(CseError::bad_request(why));
    let enc = sub.attrs.get("enc").cloned().unwrap_or(Value::Null);
    let enc_map = enc.as_object().cloned().unwrap_or_default();
    let nets: Vec<u64> = match enc_map.get("net") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => {
            let parsed: Vec<u64> = list.iter().filter_map(Value::as_u64).collect();
            if parsed.len() != list.len() {
                return bad("enc/net must be a list of integers".into());
            }
            parsed
        }
        Some(_) => return bad("enc/net must be a list".into()),
    };
    if nets.iter().any(|n| !(1..=8).contains(n)) {
        return bad(format!("unsupported notificationEventType in {nets:?}"));
    }
    if enc_map.contains_key("om") && enc_map.contains_key("net") {
        return bad("enc cannot hold both net and om".into());
    }
    if let Some(om) = enc_map.get("om") {
        let entries = om
            .as_array()
            .ok_or_else(|| CseError::bad_request("enc/om must be a list"))?;
        if entries
            .iter()
            .any(|e| e.as_object().is_none_or(Map::is_empty))
        {
            return bad("enc/om entries must not be empty".into());
        }
    }
    if nets.contains(&8) {
        let md_ok = enc_map.get("md").is_some_and(valid_missing_data);
        if parent.ty != ResourceType::TimeSeries.ty() || !md_ok {
            return bad("net 8 needs a timeSeries parent and a valid enc/md".into());
        }
    }
    if let Some(chty) = enc_map.get("chty").and_then(Value::as_array) {
        for ty in chty {
            let valid = ty
                .as_u64()
                .and_then(|t| registry::kind(t as u32))
                .is_some_and(|kind| kind.parents.iter().any(|p| p.ty() == parent.ty));
            if !valid {
                return bad(format!(
                    "{ty} is not a child type of the subscribed resource"
                ));
            }
        }
    }
    let nct = sub.u64_attr("nct").unwrap_or(1);
    match nct {
        1 | 3 => {
            if nets.contains(&7) {
                return bad("net 7 needs nct 2".into());
            }
        }
        2 => {
            if nets.iter().any(|n| *n != net::UPDATE && *n != 7) {
                return bad("nct 2 (modified attributes) only fits net 1 and 7".into());
            }
        }
        4 | 5 => {}
        _ => return bad(format!("unsupported notificationContentType {nct}")),
    }
    if nets.contains(&7) {
        if sub.str_list("nu").len() != 1
            || sub.attrs.get("bn").is_some()
            || enc_map.contains_key("sza")
        {
            return bad(
                "a blocking-update subscription needs exactly one nu, no bn and no size filter"
                    .into(),
            );
        }
        if nets.len() > 1 {
            return bad("net 7 cannot be combined with other event types".into());
        }
    }
    if let Some(bn) = sub.attrs.get("bn").cloned() {
        let mut bn = bn
            .as_object()
            .cloned()
            .ok_or_else(|| CseError::bad_request("bn must be an object"))?;
        if bn
            .get("num")
            .is_some_and(|n| n.as_u64().is_none_or(|n| n == 0))
        {
            return bad("bn/num must be a positive integer".into());
        }
        if !bn.contains_key("dur") && bn.contains_key("num") {
            bn.insert("dur".into(), json!(60));
        }
        sub.set("bn", Value::Object(bn));
    }
    Ok(())
}

fn valid_missing_data(md: &Value) -> bool {
    let num_ok = md.get("num").and_then(Value::as_u64).is_some_and(|n| n > 0);
    let dur_ok = md
        .get("dur")
        .and_then(Value::as_str)
        .is_some_and(|d| d.starts_with('P') && urbis_model::time::parse_duration_ms(d).is_some());
    num_ok && dur_ok
}

/// Send a verification request to every target that is not the subscriber
/// itself; any failure refuses the subscription.
async fn verify_targets(cse: &Cse, sub: &Resource, targets: Vec<String>) -> CseResult<()> {
    if !cse.config().verify_subscriptions {
        return Ok(());
    }
    let originator = sub.creator.as_str();
    for target in targets {
        if is_originator_itself(cse, &target, originator) {
            continue;
        }
        let body =
            json!({"m2m:sgn": {"vrq": true, "sur": cse.sp_relative(sub.ri()), "cr": originator}});
        let failed = |why: String| {
            CseError::new(
                Rsc::SubscriptionVerificationInitiationFailed,
                format!("verification of {target} failed: {why}"),
            )
        };
        match cse.notify_and_wait(&target, body).await {
            Ok(response) if response.rsc == Rsc::Ok => {}
            Ok(response) => return Err(failed(format!("answered {}", response.rsc))),
            Err(err) => return Err(failed(err.message)),
        }
    }
    Ok(())
}

fn is_originator_itself(cse: &Cse, target: &str, originator: &str) -> bool {
    if target.contains("://") {
        return false;
    }
    let normalized = crate::address::normalize_originator(target, cse.config());
    if normalized == originator {
        return true;
    }
    // a structured or unstructured address of the originator's own AE
    let Ok(reader) = cse.store().reader() else {
        return false;
    };
    matches!(crate::address::locate(reader.as_ref(), &normalized, cse.config()),
        Ok(located) if located.virtual_child.is_none() && located.resource.ty == ResourceType::Ae.ty() && located.resource.ri() == originator)
}

/// Queue what a subscription's deletion sends: its pending batch, then the
/// deletion notice for its subscriber (`su`).
pub fn deletion_notice(ctx: &mut WriteCtx<'_>, sub: &Resource) -> CseResult<()> {
    if let Some(batch) = crate::batch::take_for_deletion(&mut *ctx.txn, sub)? {
        ctx.notifications.push(batch);
    }
    let Some(su) = sub.str_attr("su") else {
        return Ok(());
    };
    let mut sgn = Map::new();
    sgn.insert("sud".into(), Value::Bool(true));
    sgn.insert(
        "sur".into(),
        Value::String(format!("{}/{}", ctx.config.cse_id, sub.ri())),
    );
    if let Some(cr) = sub.attrs.get("cr").filter(|v| !v.is_null()) {
        sgn.insert("cr".into(), cr.clone());
    }
    let mut notice = Notification::new(vec![su.to_owned()], json!({"m2m:sgn": Value::Object(sgn)}));
    notice.blocking = true;
    ctx.notifications.push(notice);
    Ok(())
}

/// `nse`: notification statistics are being collected.
pub fn statistics_enabled(sub: &Resource) -> bool {
    sub.attrs.get("nse").and_then(Value::as_bool) == Some(true)
}

/// Add the delivery of `events` to `target` to `nsi`, one entry per target:
/// `rqs` counts the requests sent (retries included, none for a notification
/// dropped from a full queue), `rsr` the responses received, `noec` the
/// events; `rqs - rsr` are the failed attempts.
pub fn count(sub: &mut Resource, target: &str, events: u64, outcome: crate::notify::Outcome) {
    let mut entries = match sub.attrs.remove("nsi") {
        Some(Value::Array(entries)) => entries,
        _ => Vec::new(),
    };
    let position = entries
        .iter()
        .position(|e| e.get("tg").and_then(Value::as_str) == Some(target));
    let index = match position {
        Some(index) => index,
        None => {
            entries.push(json!({"tg": target, "rqs": 0, "rsr": 0, "noec": 0}));
            entries.len() - 1
        }
    };
    let bump = |entry: &mut Value, key: &str, by: u64| {
        let now = entry.get(key).and_then(Value::as_u64).unwrap_or(0);
        entry[key] = json!(now + by);
    };
    let entry = &mut entries[index];
    bump(entry, "rqs", outcome.requests);
    bump(entry, "noec", events);
    if outcome.answered {
        bump(entry, "rsr", 1);
    }
    sub.set("nsi", Value::Array(entries));
}
