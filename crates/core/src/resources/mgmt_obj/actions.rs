//! Management actions: a trigger written on a mgmtObj (`ud`, `rbo`, `in`, ...)
//! is carried to the node's management client, and the action's status
//! attribute (`uds`, `ins`, `acts`, `cas`) follows what the client confirms.
//!
//! 1. In the write job of the UPDATE that sets a trigger to true, the status
//!    becomes "in process" (`sus` 3) and the pending action is recorded in the
//!    internal attribute `__act` (request ID, trigger, status attribute,
//!    deadline), so the answer to the UPDATE already shows it.
//! 2. After the commit, the mgmtObj's representation goes to the management
//!    client as an UPDATE primitive (`to` = the mgmtObj, `fr` = this CSE)
//!    through the notification transports, so any door works (HTTP, MQTT,
//!    CoAP, WebSocket, pollingChannel).
//! 3. The client answers 1000 ACCEPTED (it reports the outcome later by
//!    updating the status attribute itself), a success code (done), or an
//!    error (failed). No answer, or no report before the deadline, is a
//!    failure: nothing is successful that the device did not confirm.
//!
//! The management client is the node's `mgca` (mgmtClientAddress: URIs, or
//! AE-IDs reached through their `poa`), or else the AEs the node hosts
//! (`hael`). A node with neither has no management client: triggers are then
//! stored and notified only, as before (see docs/device-management.md).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use urbis_model::{CseError, CseResult, Operation, Request, Resource, Rsc};

use super::specializations::mgd;
use crate::notify::{self, net, Event};
use crate::registry::WriteCtx;
use crate::{content, ids, Cse};

/// The internal attribute that holds the action in process.
const PENDING: &str = "__act";

/// A trigger, the status attribute that reports on it (if the specialization
/// has one), and the value the trigger rests at once the action is over.
struct Action {
    mgd: u64,
    trigger: &'static str,
    status: Option<&'static str>,
    rest: Option<bool>,
}

const fn action(
    mgd: u64,
    trigger: &'static str,
    status: Option<&'static str>,
    rest: Option<bool>,
) -> Action {
    Action {
        mgd,
        trigger,
        status,
        rest,
    }
}

/// Every trigger of TS-0001 Annex D and TS-0022 that asks the device to act.
/// Triggers listed with no resting value already rest on their own
/// (`rules::AT_REST`) or keep what was written (eventLog's `lga`/`lgo`).
const ACTIONS: &[Action] = &[
    action(mgd::FIRMWARE, "ud", Some("uds"), Some(false)),
    action(mgd::SOFTWARE, "in", Some("ins"), Some(false)),
    action(mgd::SOFTWARE, "un", Some("ins"), Some(false)),
    action(mgd::SOFTWARE, "act", Some("acts"), Some(false)),
    action(mgd::SOFTWARE, "dea", Some("acts"), Some(false)),
    action(mgd::DEVICE_CAPABILITY, "ena", Some("cas"), None),
    action(mgd::DEVICE_CAPABILITY, "dis", Some("cas"), None),
    action(mgd::REBOOT, "rbo", None, None),
    action(mgd::REBOOT, "far", None, None),
    action(mgd::EVENT_LOG, "lga", None, None),
    action(mgd::EVENT_LOG, "lgo", None, None),
    action(mgd::WIFI_CLIENT, "ud", Some("uds"), Some(false)),
    action(mgd::WIFI_CLIENT, "scan", None, None),
    action(mgd::WIFI_CLIENT, "trdst", None, None),
];

/// m2m:status values.
mod status {
    pub const SUCCESSFUL: u64 = 1;
    pub const FAILURE: u64 = 2;
    pub const IN_PROCESS: u64 = 3;
}

fn find(mgd: u64, trigger: &str) -> Option<&'static Action> {
    ACTIONS
        .iter()
        .find(|a| a.mgd == mgd && a.trigger == trigger)
}

/// The trigger an UPDATE sets to true, if any.
fn triggered(mgd: u64, changes: &urbis_model::Attrs) -> Option<&'static Action> {
    ACTIONS
        .iter()
        .filter(|a| a.mgd == mgd)
        .find(|a| changes.get(a.trigger).and_then(Value::as_bool) == Some(true))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Whether a node has a management client to send actions to.
fn has_management_client(node: &Resource) -> bool {
    !node.str_list("mgca").is_empty() || !node.str_list("hael").is_empty()
}

/// In the UPDATE's write job: start an action the request triggers, and
/// check and settle a status the management client reports.
pub fn on_update(ctx: &mut WriteCtx<'_>, mgd: u64, resource: &mut Resource) -> CseResult<()> {
    let Some(changes) = ctx.changes else {
        return Ok(());
    };
    let pending = resource.attrs.get(PENDING).cloned();
    if let Some(pending) = &pending {
        if let Some(reported) = pending
            .get("sts")
            .and_then(Value::as_str)
            .filter(|sts| changes.contains_key(*sts))
        {
            check_reporter(ctx, resource)?;
            let sus = resource
                .attrs
                .get(reported)
                .and_then(|s| s.get("sus"))
                .and_then(Value::as_u64);
            if matches!(sus, Some(status::SUCCESSFUL | status::FAILURE)) {
                settle(resource, pending);
            }
            return Ok(());
        }
    }
    let Some(action) = triggered(mgd, changes) else {
        return Ok(());
    };
    if let Some(pending) = resource.attrs.get(PENDING) {
        return Err(CseError::new(
            Rsc::OperationNotAllowed,
            format!(
                "an action ({}) is in process on this mgmtObj; wait for its outcome",
                pending.get("trg").and_then(Value::as_str).unwrap_or("?")
            ),
        ));
    }
    let node = ctx.txn.get(resource.pi())?;
    if !node.as_ref().is_some_and(has_management_client) {
        return Ok(());
    }
    if let Some(sts) = action.status {
        resource.set(
            sts,
            json!({"acn": action.trigger, "sus": status::IN_PROCESS}),
        );
    }
    resource.set(
        PENDING,
        json!({
            "id": ids::request_id(),
            "trg": action.trigger,
            "sts": action.status,
            "dl": now_ms().saturating_add(ctx.config.mgmt_action_timeout_ms),
        }),
    );
    Ok(())
}

/// While an action is in process, only the device's management client (an
/// AE its node hosts) or an administrator may report its status.
fn check_reporter(ctx: &mut WriteCtx<'_>, resource: &Resource) -> CseResult<()> {
    let originator = ctx.originator;
    if originator == ctx.config.admin_originator || originator == ctx.config.cse_id {
        return Ok(());
    }
    let node = ctx.txn.get(resource.pi())?;
    if node.is_some_and(|node| node.str_list("hael").contains(&originator)) {
        return Ok(());
    }
    Err(CseError::no_privilege(
        "only the device's management client reports the status of an action in process",
    ))
}

/// End the pending action: forget it and put its trigger at rest.
fn settle(resource: &mut Resource, pending: &Value) {
    resource.attrs.remove(PENDING);
    let mgd = resource.u64_attr("mgd").unwrap_or(0);
    let trigger = pending.get("trg").and_then(Value::as_str).unwrap_or("");
    if let Some(rest) = find(mgd, trigger).and_then(|a| a.rest) {
        resource.set(trigger, rest);
    }
}

/// After the commit of an UPDATE that started an action: send it to the
/// management client and follow it to its outcome.
pub fn started(cse: &Cse, resource: &Resource, changes: &urbis_model::Attrs) {
    let Some(pending) = resource.attrs.get(PENDING) else {
        return;
    };
    let trigger = pending.get("trg").and_then(Value::as_str).unwrap_or("");
    if changes.get(trigger).and_then(Value::as_bool) != Some(true) {
        return;
    }
    let Some(id) = pending.get("id").and_then(Value::as_str) else {
        return;
    };
    let cse = cse.clone();
    let resource = resource.clone();
    let id = id.to_owned();
    tokio::spawn(async move { carry_out(&cse, resource, id).await });
}

/// Pick up actions that were in process when the CSE stopped: they end at
/// their deadline unless the device reports first.
pub fn resume(cse: &Cse) {
    let pending = match cse.store().reader().and_then(|r| {
        r.of_type(urbis_model::ResourceType::MgmtObj.ty())
            .map(|all| {
                all.into_iter()
                    .filter(|m| m.attrs.contains_key(PENDING))
                    .collect::<Vec<_>>()
            })
    }) {
        Ok(pending) => pending,
        Err(err) => {
            tracing::warn!(%err, "cannot look for management actions in process");
            return;
        }
    };
    for resource in pending {
        let Some((id, deadline)) = id_and_deadline(&resource) else {
            continue;
        };
        let cse = cse.clone();
        tokio::spawn(async move {
            wait_for_report(&cse, resource.ri(), &id, deadline).await;
        });
    }
}

fn id_and_deadline(resource: &Resource) -> Option<(String, u64)> {
    let pending = resource.attrs.get(PENDING)?;
    Some((
        pending.get("id")?.as_str()?.to_owned(),
        pending.get("dl")?.as_u64()?,
    ))
}

async fn carry_out(cse: &Cse, resource: Resource, id: String) {
    let Some((_, deadline)) = id_and_deadline(&resource) else {
        return;
    };
    // A trigger without a status attribute (reboot) has nothing to report
    // later: the client's acceptance is all the confirmation there is.
    let reports_later = resource
        .attrs
        .get(PENDING)
        .and_then(|p| p.get("sts"))
        .is_some_and(Value::is_string);
    match forward(cse, &resource, &id).await {
        Ok(Rsc::Accepted) if reports_later => {
            wait_for_report(cse, resource.ri(), &id, deadline).await
        }
        Ok(rsc) if rsc.is_success() => {
            finish(cse, resource.ri(), &id, status::SUCCESSFUL, "").await
        }
        Ok(rsc) => {
            let why = format!("the management client refused it ({})", rsc.code());
            finish(cse, resource.ri(), &id, status::FAILURE, &why).await;
        }
        Err(err) => {
            let why = format!("the management client was not reached ({})", err.message);
            finish(cse, resource.ri(), &id, status::FAILURE, &why).await;
        }
    }
}

/// Send the action to the first management client address that answers.
async fn forward(cse: &Cse, resource: &Resource, id: &str) -> CseResult<Rsc> {
    let node = cse.store().reader()?.get(resource.pi())?;
    let Some(node) = node else {
        return Err(CseError::not_found("the node is gone"));
    };
    let mgca = node.str_list("mgca");
    let addresses = if mgca.is_empty() {
        node.str_list("hael")
    } else {
        mgca
    };
    // The trigger as the request set it: some read back at rest at once.
    let mut order = resource.clone();
    if let Some(trigger) = resource
        .attrs
        .get(PENDING)
        .and_then(|p| p.get("trg"))
        .and_then(Value::as_str)
    {
        order.set(trigger, true);
    }
    let mut last_error = CseError::new(
        Rsc::TargetNotReachable,
        "the management client has no reachable address",
    );
    for address in addresses {
        for target in cse.resolve_targets(address) {
            let mut request = Request::new(Operation::Update, cse.sp_relative(resource.ri()));
            request.fr = Some(cse.config().cse_id.clone());
            request.rqi = id.to_owned();
            request.rvi = notify::notify_request(cse, &target, Value::Null).rvi;
            request.pc = Some(content::wrap(&order));
            match cse.notifier().send_now(&target, request).await {
                Ok(response) => return Ok(response.rsc),
                Err(err) => last_error = err,
            }
        }
    }
    Err(last_error)
}

async fn wait_for_report(cse: &Cse, ri: &str, id: &str, deadline: u64) {
    let left = deadline.saturating_sub(now_ms());
    tokio::time::sleep(Duration::from_millis(left)).await;
    let why = format!(
        "no outcome reported within {} s",
        cse.config().mgmt_action_timeout_ms / 1000
    );
    finish(cse, ri, id, status::FAILURE, &why).await;
}

/// Record the outcome of action `id` if it is still the one in process.
async fn finish(cse: &Cse, ri: &str, id: &str, sus: u64, why: &str) {
    let job_cse = cse.clone();
    let ri_owned = ri.to_owned();
    let id = id.to_owned();
    let reason = why.to_owned();
    let finished = crate::outbox::write_notifying(cse, move |txn, notifications| {
        let Some(mut resource) = txn.get(&ri_owned)? else {
            return Ok(None);
        };
        let Some(pending) = resource.attrs.get(PENDING).cloned() else {
            return Ok(None);
        };
        if pending.get("id").and_then(Value::as_str) != Some(id.as_str()) {
            return Ok(None);
        }
        let trigger = pending.get("trg").and_then(Value::as_str).unwrap_or("");
        let previous = resource.clone();
        let mut modified = serde_json::Map::new();
        if let Some(sts) = pending.get("sts").and_then(Value::as_str) {
            let acn = if reason.is_empty() {
                trigger.to_owned()
            } else {
                format!("{trigger}: {reason}")
            };
            let value = json!({"acn": acn, "sus": sus});
            resource.set(sts, value.clone());
            modified.insert(sts.to_owned(), value);
        }
        settle(&mut resource, &pending);
        if let Some(rest) = resource
            .attrs
            .get(trigger)
            .filter(|v| previous.attrs.get(trigger) != Some(*v))
        {
            modified.insert(trigger.to_owned(), rest.clone());
        }
        let now = urbis_model::time::now_string();
        resource.set("lt", now.clone());
        txn.update(&resource, false)?;
        let config = job_cse.config();
        let originator = config.cse_id.clone();
        let mut ctx = WriteCtx {
            config,
            txn,
            originator: &originator,
            now: &now,
            notifications,
            changes: None,
        };
        let event = Event {
            net: net::UPDATE,
            resource: &resource,
            modified: Some(&modified),
            originator: &originator,
        };
        notify::collect(&mut ctx, &ri_owned, &event)?;
        Ok(Some(trigger.to_owned()))
    })
    .await;
    match finished {
        Ok(Some(trigger)) => {
            if sus == status::SUCCESSFUL {
                tracing::info!(mgmt_obj = %ri, %trigger, "management action confirmed");
            } else {
                tracing::info!(mgmt_obj = %ri, %trigger, reason = %why, "management action failed");
            }
        }
        Ok(None) => {}
        Err(err) => tracing::warn!(mgmt_obj = %ri, %err, "management action outcome not recorded"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_trigger_is_an_attribute_of_its_specialization() {
        for action in ACTIONS {
            let spec = super::super::specializations::by_mgd(action.mgd).expect("known mgd");
            for sn in [Some(action.trigger), action.status].into_iter().flatten() {
                assert!(
                    spec.attrs.iter().any(|d| d.sn == sn),
                    "{} has no {sn}",
                    spec.name
                );
            }
        }
    }

    #[test]
    fn only_a_trigger_set_to_true_starts_an_action() {
        let changes = |v: Value| v.as_object().cloned().unwrap();
        assert!(triggered(mgd::FIRMWARE, &changes(json!({"ud": true}))).is_some());
        assert!(triggered(mgd::FIRMWARE, &changes(json!({"ud": false}))).is_none());
        assert!(triggered(mgd::FIRMWARE, &changes(json!({"vr": "2"}))).is_none());
        assert!(triggered(mgd::MEMORY, &changes(json!({"ud": true}))).is_none());
        let reboot = triggered(mgd::REBOOT, &changes(json!({"rbo": true}))).unwrap();
        assert_eq!(reboot.status, None);
    }
}
