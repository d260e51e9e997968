//! Notifications: which subscriptions an event concerns (evaluated inside the
//! write job, so `exc` counting is exact), and delivery after the commit, in
//! order per target, through whatever [`Transport`] handles the target's scheme.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use serde_json::{json, Map, Value};
use tokio::sync::mpsc;
use urbis_model::{CseError, CseResult, Operation, Request, Resource, ResourceType, Response, Rsc};

use crate::registry::{BoxFuture, WriteCtx};
use crate::{content, ids, Cse};

/// Notification event types (`net`).
pub mod net {
    pub const UPDATE: u64 = 1;
    pub const DELETE: u64 = 2;
    pub const CREATE_CHILD: u64 = 3;
    pub const DELETE_CHILD: u64 = 4;
}

/// Sends a request to a target URI over some protocol (HTTP, MQTT, ...).
pub trait Transport: Send + Sync {
    /// Whether this transport serves `uri` (by scheme).
    fn handles(&self, uri: &str) -> bool;
    fn send(&self, uri: &str, request: Request) -> BoxFuture<'static, CseResult<Response>>;
}

/// A notification to send once the write that caused it is committed.
#[derive(Clone, Debug)]
pub struct Notification {
    /// `nu` entries: URIs or IDs of AEs/CSEs (resolved through their `poa`).
    pub targets: Vec<String>,
    /// `{"m2m:sgn": {...}}`
    pub body: Value,
    /// Sent and awaited before the request that caused it is answered
    /// (subscription deletion notices).
    pub blocking: bool,
}

const QUEUE_DEPTH: usize = 1024;

pub struct Notifier {
    transports: RwLock<Vec<Arc<dyn Transport>>>,
    queues: Mutex<HashMap<String, mpsc::Sender<Request>>>,
    timeout: Duration,
}

impl Notifier {
    pub fn new(timeout_ms: u64) -> Notifier {
        Notifier {
            transports: RwLock::new(Vec::new()),
            queues: Mutex::new(HashMap::new()),
            timeout: Duration::from_millis(timeout_ms.max(1)),
        }
    }

    pub fn add_transport(&self, transport: Arc<dyn Transport>) {
        self.transports.write().push(transport);
    }

    fn transport_for(&self, uri: &str) -> Option<Arc<dyn Transport>> {
        self.transports.read().iter().find(|t| t.handles(uri)).cloned()
    }

    /// Send and wait for the answer (verification requests, forwarded NOTIFY).
    pub async fn send_now(&self, uri: &str, request: Request) -> CseResult<Response> {
        let transport = self
            .transport_for(uri)
            .ok_or_else(|| CseError::new(Rsc::TargetNotReachable, format!("no transport for {uri}")))?;
        match tokio::time::timeout(self.timeout, transport.send(uri, request)).await {
            Ok(result) => result,
            Err(_) => Err(CseError::new(Rsc::TargetNotReachable, format!("{uri} did not answer in time"))),
        }
    }

    /// Queue for delivery in order per target; never blocks the caller. A full
    /// queue drops the notification with a warning rather than growing memory.
    pub fn enqueue(&self, uri: String, request: Request) {
        let Some(transport) = self.transport_for(&uri) else {
            tracing::warn!(%uri, "no transport for notification target");
            return;
        };
        let mut queues = self.queues.lock();
        let sender = queues.entry(uri.clone()).or_insert_with(|| {
            let (tx, mut rx) = mpsc::channel::<Request>(QUEUE_DEPTH);
            let timeout = self.timeout;
            let target = uri.clone();
            tokio::spawn(async move {
                while let Some(request) = rx.recv().await {
                    match tokio::time::timeout(timeout, transport.send(&target, request)).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(err)) => tracing::info!(%target, %err, "notification not delivered"),
                        Err(_) => tracing::info!(%target, "notification target timed out"),
                    }
                }
            });
            tx
        });
        if let Err(err) = sender.try_send(request) {
            tracing::warn!(%uri, %err, "notification queue full or closed; notification dropped");
            if matches!(err, mpsc::error::TrySendError::Closed(_)) {
                queues.remove(&uri);
            }
        }
    }
}

/// A NOTIFY request from this CSE.
pub fn notify_request(cse: &Cse, target: &str, body: Value) -> Request {
    let mut request = Request::new(Operation::Notify, target);
    request.fr = Some(cse.config().cse_id.clone());
    request.rqi = ids::request_id();
    let rvi = cse.config().release_versions.iter().find(|v| *v == "4").or(cse.config().release_versions.last());
    request.rvi = rvi.cloned();
    request.pc = Some(body);
    request
}

impl Cse {
    /// Where to send to reach a `nu` entry: a URI as is; an AE or CSE ID through
    /// its `poa`.
    pub fn resolve_targets(&self, target: &str) -> Vec<String> {
        if target.contains("://") {
            return vec![target.to_owned()];
        }
        let Ok(reader) = self.store().reader() else {
            return Vec::new();
        };
        let id = crate::address::normalize_originator(target, self.config());
        let found = match crate::address::locate(reader.as_ref(), &id, self.config()) {
            Ok(located) => Some(located.resource),
            Err(_) => reader.get(&id).ok().flatten(),
        };
        match found {
            Some(resource) if resource.ty == ResourceType::Ae.ty() || resource.ty == ResourceType::RemoteCse.ty() => {
                // An entity that declared itself not request-reachable gets nothing.
                if resource.attrs.get("rr").and_then(Value::as_bool) == Some(false) {
                    return Vec::new();
                }
                resource.str_list("poa").into_iter().map(str::to_owned).collect()
            }
            _ => Vec::new(),
        }
    }

    /// Deliver committed notifications: blocking ones now (awaited), the rest
    /// through the per-target queues.
    pub async fn deliver(&self, notifications: Vec<Notification>) {
        let mut queued = Vec::new();
        for notification in notifications {
            if notification.blocking {
                for target in &notification.targets {
                    if let Err(err) = self.notify_and_wait(target, notification.body.clone()).await {
                        tracing::info!(%target, %err, "blocking notification not delivered");
                    }
                }
            } else {
                queued.push(notification);
            }
        }
        self.dispatch(queued);
    }

    /// Hand committed notifications to the delivery queues.
    pub fn dispatch(&self, notifications: Vec<Notification>) {
        for notification in notifications {
            for target in &notification.targets {
                for uri in self.resolve_targets(target) {
                    let request = notify_request(self, &uri, notification.body.clone());
                    self.notifier().enqueue(uri, request);
                }
            }
        }
    }

    /// Send one notification and wait for the target's answer.
    pub async fn notify_and_wait(&self, target: &str, body: Value) -> CseResult<Response> {
        let uris = self.resolve_targets(target);
        if uris.is_empty() {
            return Err(CseError::new(Rsc::TargetNotReachable, format!("{target} has no reachable point of access")));
        }
        let mut last_error = None;
        for uri in uris {
            let request = notify_request(self, &uri, body.clone());
            match self.notifier().send_now(&uri, request).await {
                Ok(response) => return Ok(response),
                Err(err) => last_error = Some(err),
            }
        }
        Err(last_error.unwrap_or_else(|| CseError::new(Rsc::TargetNotReachable, "no target")))
    }
}

/// An event on a resource, as subscriptions see it.
pub struct Event<'a> {
    pub net: u64,
    /// The resource the event happened to (the child for net 3/4).
    pub resource: &'a Resource,
    /// For UPDATE: the attributes the request changed.
    pub modified: Option<&'a Map<String, Value>>,
}

/// Find the subscriptions of `subject` that `event` concerns; queue their
/// notifications and count down their `exc` (deleting exhausted ones).
pub fn collect(ctx: &mut WriteCtx<'_>, subject_ri: &str, event: &Event<'_>) -> CseResult<()> {
    let subscriptions = ctx.txn.children(subject_ri, Some(ResourceType::Subscription.ty()))?;
    for mut sub in subscriptions {
        if !matches(&sub, event) {
            continue;
        }
        let rep = representation(&sub, event);
        let mut sgn = Map::new();
        sgn.insert("nev".into(), json!({"rep": rep, "net": event.net}));
        sgn.insert("sur".into(), Value::String(format!("{}/{}", ctx.config.cse_id, sub.ri())));
        if let Some(cr) = sub.attrs.get("cr").filter(|v| !v.is_null()) {
            sgn.insert("cr".into(), cr.clone());
        }
        let targets: Vec<String> = sub.str_list("nu").into_iter().map(str::to_owned).collect();
        ctx.notifications.push(Notification { targets, body: json!({ "m2m:sgn": Value::Object(sgn) }), blocking: false });

        if let Some(exc) = sub.u64_attr("exc") {
            if exc <= 1 {
                crate::resources::subscription::deletion_notice(ctx, &sub);
                ctx.txn.delete_tree(&sub.path)?;
            } else {
                sub.set("exc", exc - 1);
                ctx.txn.update(&sub)?;
            }
        }
    }
    Ok(())
}

fn matches(sub: &Resource, event: &Event<'_>) -> bool {
    let enc = sub.attrs.get("enc");
    let net_list: Vec<u64> =
        enc.and_then(|e| e.get("net")).and_then(Value::as_array).map(|l| l.iter().filter_map(Value::as_u64).collect()).unwrap_or_default();
    let wanted = if net_list.is_empty() { vec![net::UPDATE] } else { net_list };
    if !wanted.contains(&event.net) {
        return false;
    }
    if let Some(chty) = enc.and_then(|e| e.get("chty")).and_then(Value::as_array) {
        if matches!(event.net, net::CREATE_CHILD | net::DELETE_CHILD)
            && !chty.is_empty()
            && !chty.iter().any(|t| t.as_u64() == Some(u64::from(event.resource.ty)))
        {
            return false;
        }
    }
    if let (Some(atr), Some(modified)) = (enc.and_then(|e| e.get("atr")).and_then(Value::as_array), event.modified) {
        if event.net == net::UPDATE && !atr.is_empty() && !atr.iter().filter_map(Value::as_str).any(|a| modified.contains_key(a)) {
            return false;
        }
    }
    true
}

fn representation(sub: &Resource, event: &Event<'_>) -> Value {
    match sub.u64_attr("nct").unwrap_or(1) {
        2 => match event.modified {
            Some(modified) => {
                let keys: Vec<String> = modified.keys().cloned().collect();
                content::wrap_selected(event.resource, &keys)
            }
            None => content::wrap(event.resource),
        },
        3 => json!({"m2m:uri": event.resource.ri()}),
        _ => content::wrap(event.resource),
    }
}
