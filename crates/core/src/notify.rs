//! Notifications: which subscriptions an event concerns (evaluated inside the
//! write job, so `exc` counting is exact), and delivery after the commit, in
//! order per target, through whatever [`Transport`] handles the target's scheme.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use serde_json::{json, Map, Value};
use tokio::sync::mpsc;
use urbis_model::{
    CseError, CseResult, Operation, Request, Resource, ResourceType, Response, Rsc, Serialization,
};

use crate::registry::{BoxFuture, WriteCtx};
use crate::{content, ids, Cse};

/// Notification event types (`net`).
pub mod net {
    pub const UPDATE: u64 = 1;
    pub const DELETE: u64 = 2;
    pub const CREATE_CHILD: u64 = 3;
    pub const DELETE_CHILD: u64 = 4;
    pub const BLOCKING_UPDATE: u64 = 7;
}

/// Sends a request to a target URI over some protocol (HTTP, MQTT, ...).
pub trait Transport: Send + Sync {
    /// Whether this transport serves `uri` (by scheme).
    fn handles(&self, uri: &str) -> bool;
    /// A URI this transport handles that reaches `entity` (an AE-ID or
    /// CSE-ID) over a connection the entity opened itself, such as a WebSocket
    /// (TS-0020). It is used when the entity declared no `poa`; a transport
    /// that handles a `poa` URI may still route it over such a connection.
    fn connected(&self, _entity: &str) -> Option<String> {
        None
    }
    fn send(
        &self,
        uri: &str,
        request: Request,
        serialization: Serialization,
    ) -> BoxFuture<'static, CseResult<Response>>;
}

/// Where to send a notification, and in which serialization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub uri: String,
    pub serialization: Serialization,
    /// The AE or CSE whose point of access this is; it becomes the request's
    /// `to` (bindings such as MQTT address the entity, not the URI).
    pub entity: Option<String>,
}

impl Target {
    /// A URI as given; `?ct=cbor` (TS-0009) asks for that serialization.
    fn from_uri(uri: &str, preferred: Serialization) -> Target {
        let from_query = uri.split_once('?').and_then(|(_, query)| {
            query
                .split('&')
                .find_map(|p| p.strip_prefix("ct="))
                .and_then(Serialization::from_name)
        });
        Target {
            uri: uri.to_owned(),
            serialization: from_query.unwrap_or(preferred),
            entity: None,
        }
    }
}

/// Whose `nsi` counts a delivery, and for how many events.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Counting<'a> {
    pub subscription: Option<&'a str>,
    pub events: u64,
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
    /// Collected into its subscription's batch instead of sent alone
    /// (`batch::hold`, in the job that caused it).
    pub batch: Option<crate::batch::BatchRule>,
    /// Its event started a batch: once committed, this node times the
    /// batch's `dur` (subscription, `dur`).
    pub batch_timer: Option<(String, Duration)>,
    /// Events it reports (a batch reports several), for `nsi`'s `noec`.
    pub events: u64,
    /// `ec` of the request (4, latest, for a batch with `ln`).
    pub event_category: Option<u32>,
    /// Count deliveries in this subscription's `nsi` (it has `nse` on).
    pub stats_of: Option<String>,
    /// The `rqi` of each target, in the order of `targets`, once the
    /// notification is recorded in the outbox (`outbox::write_notifying`).
    pub rqis: Vec<String>,
}

impl Notification {
    pub fn new(targets: Vec<String>, body: Value) -> Notification {
        Notification {
            targets,
            body,
            blocking: false,
            batch: None,
            batch_timer: None,
            events: 1,
            event_category: None,
            stats_of: None,
            rqis: Vec::new(),
        }
    }
}

/// Notifications waiting per target; when full, a new notification for that
/// target is dropped (and counted as not delivered in `nsi`), so a dead
/// target costs bounded memory and never slows the request path.
const QUEUE_DEPTH: usize = 1024;
/// A target's delivery task ends after this long without notifications.
const QUEUE_IDLE: Duration = Duration::from_secs(60);

/// How often a notification is tried, and how long to wait in between.
#[derive(Clone, Copy, Debug)]
pub struct Retry {
    /// Requests sent for one notification at most (the first one included).
    pub attempts: u32,
    /// Wait before the second attempt; it doubles for each further one.
    pub first_backoff: Duration,
}

impl Default for Retry {
    fn default() -> Retry {
        Retry {
            attempts: 3,
            first_backoff: Duration::from_millis(250),
        }
    }
}

/// What became of one queued notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Requests sent for it (0 when it was dropped before sending).
    pub requests: u64,
    /// Whether the target answered one of them (with any RSC).
    pub answered: bool,
}

/// Called once a queued notification was sent, given up, or dropped.
pub type Delivered = Box<dyn FnOnce(Outcome) + Send>;

/// One queued notification: the request, its serialization, the delivery callback.
type Queued = (Request, Serialization, Option<Delivered>);

pub struct Notifier {
    transports: RwLock<Vec<Arc<dyn Transport>>>,
    queues: Arc<Mutex<HashMap<String, mpsc::Sender<Queued>>>>,
    idle: Duration,
    timeout: Duration,
    retry: Retry,
    depth: usize,
}

impl Notifier {
    pub fn new(timeout_ms: u64) -> Notifier {
        Notifier {
            transports: RwLock::new(Vec::new()),
            queues: Arc::new(Mutex::new(HashMap::new())),
            idle: QUEUE_IDLE,
            timeout: Duration::from_millis(timeout_ms.max(1)),
            retry: Retry::default(),
            depth: QUEUE_DEPTH,
        }
    }

    pub fn add_transport(&self, transport: Arc<dyn Transport>) {
        self.transports.write().push(transport);
    }

    fn transport_for(&self, uri: &str) -> Option<Arc<dyn Transport>> {
        self.transports
            .read()
            .iter()
            .find(|t| t.handles(uri))
            .cloned()
    }

    /// URIs of live connections that `entity` opened to this CSE.
    fn connected(&self, entity: &str) -> Vec<String> {
        self.transports
            .read()
            .iter()
            .filter_map(|t| t.connected(entity))
            .collect()
    }

    /// Send and wait for the answer (verification requests, forwarded NOTIFY).
    pub async fn send_now(&self, target: &Target, request: Request) -> CseResult<Response> {
        let uri = target.uri.as_str();
        let transport = self.transport_for(uri).ok_or_else(|| {
            CseError::new(Rsc::TargetNotReachable, format!("no transport for {uri}"))
        })?;
        match tokio::time::timeout(
            self.timeout,
            transport.send(uri, request, target.serialization),
        )
        .await
        {
            Ok(result) => result,
            Err(_) => Err(CseError::new(
                Rsc::TargetNotReachable,
                format!("{uri} did not answer in time"),
            )),
        }
    }

    /// Queue for delivery in order per target; never blocks the caller. Each
    /// target has its own queue and task, so a slow or dead target delays only
    /// its own notifications. A full queue drops the new notification.
    pub fn enqueue(&self, target: Target, request: Request, delivered: Option<Delivered>) {
        let uri = target.uri;
        let Some(transport) = self.transport_for(&uri) else {
            tracing::warn!(%uri, "no transport for notification target");
            if let Some(delivered) = delivered {
                delivered(Outcome {
                    requests: 0,
                    answered: false,
                });
            }
            return;
        };
        let mut queues = self.queues.lock();
        let sender = queues.entry(uri.clone()).or_insert_with(|| {
            let (tx, rx) = mpsc::channel::<Queued>(self.depth);
            let delivery = TargetDelivery {
                target: uri.clone(),
                transport,
                timeout: self.timeout,
                retry: self.retry,
                failing: false,
            };
            tokio::spawn(delivery.run(rx, self.queues.clone(), self.idle));
            tx
        });
        if let Err(err) = sender.try_send((request, target.serialization, delivered)) {
            let closed = matches!(err, mpsc::error::TrySendError::Closed(_));
            tracing::warn!(%uri, closed, "notification queue full or closed; notification dropped");
            if closed {
                queues.remove(&uri);
            }
            drop(queues);
            let (_, _, delivered) = err.into_inner();
            if let Some(delivered) = delivered {
                delivered(Outcome {
                    requests: 0,
                    answered: false,
                });
            }
        }
    }
}

/// The delivery task of one target: sends its notifications in order.
struct TargetDelivery {
    target: String,
    transport: Arc<dyn Transport>,
    timeout: Duration,
    retry: Retry,
    /// The last notification went unanswered after all its attempts; until the
    /// target answers again, each notification gets a single attempt, so a
    /// dead target costs one timeout per notification, not the whole backoff.
    failing: bool,
}

impl TargetDelivery {
    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Queued>,
        registry: Arc<Mutex<HashMap<String, mpsc::Sender<Queued>>>>,
        idle: Duration,
    ) {
        loop {
            let (request, serialization, delivered) =
                match tokio::time::timeout(idle, rx.recv()).await {
                    Ok(Some(next)) => next,
                    Ok(None) => break,
                    Err(_) => {
                        // Idle: retire this target's queue so that targets seen
                        // once do not hold a task and a map entry forever.
                        // enqueue sends under the same lock, so nothing can
                        // slip in between the emptiness check and the removal.
                        let mut queues = registry.lock();
                        if rx.is_empty() {
                            queues.remove(&self.target);
                            break;
                        }
                        continue;
                    }
                };
            let outcome = self.send(request, serialization).await;
            if let Some(delivered) = delivered {
                delivered(outcome);
            }
        }
    }

    /// Send with retries and doubling backoff until the target answers.
    async fn send(&mut self, request: Request, serialization: Serialization) -> Outcome {
        let attempts = if self.failing {
            1
        } else {
            self.retry.attempts.max(1)
        };
        let mut backoff = self.retry.first_backoff;
        for attempt in 1..=attempts {
            let sent = self
                .transport
                .send(&self.target, request.clone(), serialization);
            match tokio::time::timeout(self.timeout, sent).await {
                Ok(Ok(_)) => {
                    self.failing = false;
                    return Outcome {
                        requests: u64::from(attempt),
                        answered: true,
                    };
                }
                Ok(Err(err)) => {
                    tracing::info!(target = %self.target, attempt, %err, "notification not delivered")
                }
                Err(_) => {
                    tracing::info!(target = %self.target, attempt, "notification target timed out")
                }
            }
            if attempt < attempts {
                tokio::time::sleep(backoff).await;
                backoff = backoff.saturating_mul(2);
            }
        }
        self.failing = true;
        Outcome {
            requests: u64::from(attempts),
            answered: false,
        }
    }
}

/// A NOTIFY request from this CSE.
pub fn notify_request(cse: &Cse, target: &Target, body: Value) -> Request {
    let mut request = Request::new(
        Operation::Notify,
        target.entity.as_deref().unwrap_or(&target.uri),
    );
    request.fr = Some(cse.config().cse_id.clone());
    request.rqi = ids::request_id();
    let rvi = cse
        .config()
        .release_versions
        .iter()
        .find(|v| *v == "4")
        .or(cse.config().release_versions.last());
    request.rvi = rvi.cloned();
    request.pc = Some(body);
    request
}

impl Cse {
    /// Where to send to reach a `nu` entry: a URI as is; an AE or CSE ID through
    /// its `poa`.
    pub fn resolve_targets(&self, target: &str) -> Vec<Target> {
        if target.contains("://") {
            return vec![Target::from_uri(target, Serialization::Json)];
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
            Some(resource)
                if resource.ty == ResourceType::Ae.ty()
                    || resource.ty == ResourceType::RemoteCse.ty() =>
            {
                // the entity's first declared serialization is its preference
                let preferred = resource
                    .str_list("csz")
                    .first()
                    .and_then(|c| Serialization::from_name(c))
                    .unwrap_or_default();
                let entity = resource.ri();
                // A declared poa is where the entity asked to be reached; a
                // connection the entity opened stands in for a missing one
                // (sending to both would deliver everything twice). An entity
                // that declared itself not request-reachable is not sent to
                // its poa. Failing both, its pollingChannel holds the request.
                let reachable = resource.attrs.get("rr").and_then(Value::as_bool) != Some(false);
                let poa: Vec<String> = if reachable {
                    resource
                        .str_list("poa")
                        .into_iter()
                        .map(str::to_owned)
                        .collect()
                } else {
                    Vec::new()
                };
                let uris = if poa.is_empty() {
                    self.notifier().connected(entity)
                } else {
                    poa
                };
                let polled = (uris.is_empty()
                    && reader
                        .count_children(entity, ResourceType::PollingChannel.ty())
                        .unwrap_or(0)
                        > 0)
                .then(|| format!("{}{entity}", crate::polling::SCHEME));
                uris.into_iter()
                    .chain(polled)
                    .map(|poa| Target {
                        entity: Some(entity.to_owned()),
                        ..Target::from_uri(&poa, preferred)
                    })
                    .collect()
            }
            _ => Vec::new(),
        }
    }

    /// Deliver committed notifications: blocking ones now (awaited), the rest
    /// through the per-target queues.
    pub async fn deliver(&self, notifications: Vec<Notification>) {
        // Waiting for a blocking notification takes a large future; boxed,
        // it does not weigh on the future of every request that notifies.
        if notifications.iter().any(|n| n.blocking) {
            return Box::pin(self.deliver_waiting(notifications)).await;
        }
        self.dispatch(notifications);
    }

    /// [`Notifier::deliver`] when some notifications block: in order, each
    /// blocking one awaited, the others queued at the end.
    async fn deliver_waiting(&self, notifications: Vec<Notification>) {
        let mut queued = Vec::new();
        for notification in notifications {
            if notification.blocking {
                for target in &notification.targets {
                    if let Err(err) = self
                        .notify_and_wait(target, notification.body.clone())
                        .await
                    {
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
            // a batched event has no targets of its own (`batch::hold`)
            if let Some((subscription, dur)) = notification.batch_timer {
                self.time_batch(subscription, dur);
            }
            for (i, target) in notification.targets.iter().enumerate() {
                self.send_notification(
                    target,
                    &notification.body,
                    notification.rqis.get(i).cloned(),
                    Counting {
                        subscription: notification.stats_of.as_deref(),
                        events: notification.events,
                    },
                    notification.event_category,
                );
            }
        }
    }

    /// Queue one notification to every URI `target` resolves to. With the
    /// `rqi` of its outbox entry, every request carries it, and the entry is
    /// settled once all of them are.
    pub(crate) fn send_notification(
        &self,
        target: &str,
        body: &Value,
        rqi: Option<String>,
        counting: Counting<'_>,
        event_category: Option<u32>,
    ) {
        let resolved = self.resolve_targets(target);
        let pending = rqi
            .clone()
            .map(|rqi| crate::outbox::Pending::new(self, rqi, resolved.len()));
        for uri in resolved {
            let mut request = notify_request(self, &uri, body.clone());
            if let Some(rqi) = &rqi {
                request.rqi = rqi.clone();
            }
            request.ec = event_category;
            let counted = counting
                .subscription
                .map(|sub| self.count_delivery(sub, target, counting.events));
            let delivered: Option<Delivered> = match (counted, pending.clone()) {
                (None, None) => None,
                (counted, pending) => Some(Box::new(move |outcome| {
                    if let Some(counted) = counted {
                        counted(outcome);
                    }
                    if let Some(pending) = pending {
                        pending.one_settled();
                    }
                })),
            };
            self.notifier().enqueue(uri, request, delivered);
        }
    }

    /// Send one notification and wait for the target's answer.
    pub async fn notify_and_wait(&self, target: &str, body: Value) -> CseResult<Response> {
        let uris = self.resolve_targets(target);
        if uris.is_empty() {
            return Err(CseError::new(
                Rsc::TargetNotReachable,
                format!("{target} has no reachable point of access"),
            ));
        }
        let mut last_error = None;
        for resolved in uris {
            let request = notify_request(self, &resolved, body.clone());
            match self.notifier().send_now(&resolved, request).await {
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
    /// Who caused the event (for `om` and `eeno`).
    pub originator: &'a str,
}

impl Event<'_> {
    /// The operation that caused the event, as `om` entries name it.
    fn operation(&self) -> u64 {
        match self.net {
            net::CREATE_CHILD => 1,
            net::UPDATE => 3,
            _ => 4,
        }
    }
}

/// Find the subscriptions of `subject` that `event` concerns; queue their
/// notifications and count down their `exc` (deleting exhausted ones).
pub fn collect(ctx: &mut WriteCtx<'_>, subject_ri: &str, event: &Event<'_>) -> CseResult<()> {
    let subscriptions = ctx
        .txn
        .children(subject_ri, Some(ResourceType::Subscription.ty()))?;
    for mut sub in subscriptions {
        // a subscription is not told about its own creation
        if sub.ri() == event.resource.ri() || !matches(&sub, event) {
            continue;
        }
        let rep = representation(&sub, event);
        let mut nev = Map::new();
        nev.insert("rep".into(), rep);
        match operation_monitor(&sub, event.operation(), event.originator) {
            Some(om) => {
                nev.insert("om".into(), om);
            }
            None => {
                nev.insert("net".into(), json!(event.net));
            }
        }
        let sgn = notification_body(ctx.config, &sub, Value::Object(nev), event.originator);
        let targets: Vec<String> = sub.str_list("nu").into_iter().map(str::to_owned).collect();
        let mut notification = Notification::new(targets, sgn);
        notification.batch = crate::batch::BatchRule::of(&sub);
        notification.stats_of =
            crate::resources::subscription::statistics_enabled(&sub).then(|| sub.ri().to_owned());
        ctx.notifications.push(notification);

        if let Some(exc) = sub.u64_attr("exc") {
            if exc <= 1 {
                // this last event joins the batch that the deletion sends
                if let Some(last) = ctx.notifications.last_mut() {
                    if let Some(full) = crate::batch::hold(&mut *ctx.txn, last)? {
                        ctx.notifications.push(full);
                    }
                }
                crate::resources::subscription::deletion_notice(ctx, &sub)?;
                ctx.txn.delete_tree(&sub.path)?;
            } else {
                sub.set("exc", exc - 1);
                ctx.txn.update(&sub, false)?;
            }
        }
    }
    Ok(())
}

/// `{"m2m:sgn": {nev, sur, cr}}`; `cr` is the subscription's creator, or with
/// `eeno` the originator of the event.
fn notification_body(
    config: &crate::CseConfig,
    sub: &Resource,
    nev: Value,
    originator: &str,
) -> Value {
    let mut sgn = Map::new();
    sgn.insert("nev".into(), nev);
    sgn.insert(
        "sur".into(),
        Value::String(format!("{}/{}", config.cse_id, sub.ri())),
    );
    if let Some(cr) = sub.attrs.get("cr").filter(|v| !v.is_null()) {
        sgn.insert("cr".into(), cr.clone());
    } else if sub.attrs.get("eeno").and_then(Value::as_bool) == Some(true) && !originator.is_empty()
    {
        sgn.insert("cr".into(), Value::String(originator.to_owned()));
    }
    json!({ "m2m:sgn": Value::Object(sgn) })
}

/// The `om` entry of a subscription that `operation` by `originator` matches.
fn operation_monitor(sub: &Resource, operation: u64, originator: &str) -> Option<Value> {
    let entries = sub.attrs.get("enc")?.get("om")?.as_array()?;
    entries.iter().find_map(|entry| {
        let ops_ok = entry
            .get("ops")
            .and_then(Value::as_u64)
            .is_none_or(|ops| ops == operation);
        let org_ok = entry
            .get("org")
            .and_then(Value::as_str)
            .is_none_or(|org| org == originator);
        (ops_ok && org_ok).then(|| json!({"ops": operation, "org": originator}))
    })
}

/// RETRIEVE is an event only for operation monitors (`om` with ops 2).
pub fn on_retrieve(cse: &Cse, resource: &Resource, originator: &str) {
    let Ok(reader) = cse.store().reader() else {
        return;
    };
    let Ok(subscriptions) = reader.children(resource.ri(), Some(ResourceType::Subscription.ty()))
    else {
        return;
    };
    drop(reader);
    let mut notifications = Vec::new();
    for sub in subscriptions {
        if let Some(om) = operation_monitor(&sub, 2, originator) {
            let nev = json!({"rep": content::wrap(resource), "om": om});
            let targets = sub.str_list("nu").into_iter().map(str::to_owned).collect();
            notifications.push(Notification::new(
                targets,
                notification_body(cse.config(), &sub, nev, originator),
            ));
        }
    }
    cse.dispatch(notifications);
}

fn matches(sub: &Resource, event: &Event<'_>) -> bool {
    let enc = sub.attrs.get("enc");
    if enc.and_then(|e| e.get("om")).is_some() {
        return operation_monitor(sub, event.operation(), event.originator).is_some();
    }
    let net_list: Vec<u64> = enc
        .and_then(|e| e.get("net"))
        .and_then(Value::as_array)
        .map(|l| l.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    let wanted = if net_list.is_empty() {
        vec![net::UPDATE]
    } else {
        net_list
    };
    if !wanted.contains(&event.net) {
        return false;
    }
    if let Some(chty) = enc.and_then(|e| e.get("chty")).and_then(Value::as_array) {
        if matches!(event.net, net::CREATE_CHILD | net::DELETE_CHILD)
            && !chty.is_empty()
            && !chty
                .iter()
                .any(|t| t.as_u64() == Some(u64::from(event.resource.ty)))
        {
            return false;
        }
    }
    if let (Some(atr), Some(modified)) = (
        enc.and_then(|e| e.get("atr")).and_then(Value::as_array),
        event.modified,
    ) {
        if event.net == net::UPDATE
            && !atr.is_empty()
            && !atr
                .iter()
                .filter_map(Value::as_str)
                .any(|a| modified.contains_key(a))
        {
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

/// Blocking update (net 7, TS-0004 §7.3.8.2.x): before an UPDATE is applied,
/// the subscriber is asked and must agree (2000), else OPERATION_DENIED_BY_REMOTE_ENTITY.
pub async fn blocking_update(
    cse: &Cse,
    resource: &Resource,
    changes: &Map<String, Value>,
    originator: &str,
) -> CseResult<()> {
    let subscriptions = {
        let reader = cse.store().reader()?;
        reader.children(resource.ri(), Some(ResourceType::Subscription.ty()))?
    };
    for sub in subscriptions {
        if !crate::resources::subscription::event_types(&sub).contains(&net::BLOCKING_UPDATE) {
            continue;
        }
        let atr = sub
            .attrs
            .get("enc")
            .and_then(|e| e.get("atr"))
            .and_then(Value::as_array);
        if atr.is_some_and(|atr| {
            !atr.is_empty()
                && !atr
                    .iter()
                    .filter_map(Value::as_str)
                    .any(|a| changes.contains_key(a))
        }) {
            continue;
        }
        let keys: Vec<String> = changes.keys().cloned().collect();
        let mut preview = resource.clone();
        for (k, v) in changes {
            preview.attrs.insert(k.clone(), v.clone());
        }
        let nev =
            json!({"net": net::BLOCKING_UPDATE, "rep": content::wrap_selected(&preview, &keys)});
        let body = notification_body(cse.config(), &sub, nev, originator);
        for target in sub.str_list("nu") {
            match cse.notify_and_wait(target, body.clone()).await {
                Ok(answer) if answer.rsc == Rsc::Ok => {}
                Ok(answer) => {
                    return Err(CseError::new(
                        Rsc::OperationDeniedByRemoteEntity,
                        format!("{target} refused the update: {}", answer.rsc),
                    ))
                }
                Err(err) => {
                    return Err(CseError::new(
                        Rsc::OperationDeniedByRemoteEntity,
                        format!("{target}: {}", err.message),
                    ))
                }
            }
        }
    }
    Ok(())
}

impl Cse {
    /// A callback that records `events` delivered to `target` in the
    /// subscription's notification statistics (`nsi`: rqs, rsr, noec).
    pub(crate) fn count_delivery(
        &self,
        subscription: &str,
        target: &str,
        events: u64,
    ) -> Delivered {
        let cse = self.clone();
        let subscription = subscription.to_owned();
        let target = target.to_owned();
        Box::new(move |outcome| {
            tokio::spawn(async move {
                let recorded = urbis_store::write(cse.store(), move |txn| {
                    let Some(mut sub) = txn.get(&subscription)? else {
                        return Ok(());
                    };
                    if !crate::resources::subscription::statistics_enabled(&sub) {
                        return Ok(());
                    }
                    crate::resources::subscription::count(&mut sub, &target, events, outcome);
                    txn.update(&sub, false)?;
                    Ok(())
                })
                .await;
                if let Err(err) = recorded {
                    tracing::warn!(%err, "notification statistics not recorded");
                }
            });
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counting(Arc<AtomicUsize>);

    impl Transport for Counting {
        fn handles(&self, uri: &str) -> bool {
            uri.starts_with("test://")
        }
        fn send(
            &self,
            _: &str,
            _: Request,
            _: Serialization,
        ) -> BoxFuture<'static, CseResult<Response>> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { Ok(Response::new(Rsc::Ok, None)) })
        }
    }

    /// `test://hang` never answers, `test://down` fails at once,
    /// `test://flaky` fails its first `flaky_failures` requests; anything else
    /// answers. Every request is counted per URI.
    struct Scripted {
        sent: Mutex<HashMap<String, u64>>,
        flaky_failures: u64,
    }

    impl Scripted {
        fn new(flaky_failures: u64) -> Arc<Scripted> {
            Arc::new(Scripted {
                sent: Mutex::new(HashMap::new()),
                flaky_failures,
            })
        }

        fn sent(&self, uri: &str) -> u64 {
            self.sent.lock().get(uri).copied().unwrap_or(0)
        }
    }

    impl Transport for Scripted {
        fn handles(&self, uri: &str) -> bool {
            uri.starts_with("test://")
        }
        fn send(
            &self,
            uri: &str,
            _: Request,
            _: Serialization,
        ) -> BoxFuture<'static, CseResult<Response>> {
            let count = {
                let mut sent = self.sent.lock();
                let count = sent.entry(uri.to_owned()).or_insert(0);
                *count += 1;
                *count
            };
            let failure = || Err(CseError::new(Rsc::TargetNotReachable, "refused"));
            match uri {
                "test://hang" => Box::pin(std::future::pending()),
                "test://down" => Box::pin(async move { failure() }),
                "test://flaky" if count <= self.flaky_failures => {
                    Box::pin(async move { failure() })
                }
                _ => Box::pin(async { Ok(Response::new(Rsc::Ok, None)) }),
            }
        }
    }

    fn target(uri: &str) -> Target {
        Target {
            uri: uri.into(),
            serialization: Serialization::Json,
            entity: None,
        }
    }

    fn notifier(transport: Arc<Scripted>, timeout_ms: u64) -> Notifier {
        let mut notifier = Notifier::new(timeout_ms);
        notifier.retry = Retry {
            attempts: 3,
            first_backoff: Duration::from_millis(10),
        };
        notifier.add_transport(transport);
        notifier
    }

    /// Enqueue one notification to `uri`; its outcome arrives on the channel.
    fn send(
        notifier: &Notifier,
        uri: &str,
        outcomes: &tokio::sync::mpsc::UnboundedSender<(String, Outcome)>,
    ) {
        let outcomes = outcomes.clone();
        let name = uri.to_owned();
        notifier.enqueue(
            target(uri),
            Request::new(Operation::Notify, uri),
            Some(Box::new(move |outcome| {
                let _ = outcomes.send((name, outcome));
            })),
        );
    }

    #[tokio::test]
    async fn a_hanging_target_does_not_delay_a_healthy_one() {
        let transport = Scripted::new(0);
        let notifier = notifier(transport.clone(), 60_000);
        let (tx, mut outcomes) = tokio::sync::mpsc::unbounded_channel();
        for _ in 0..3 {
            send(&notifier, "test://hang", &tx);
            send(&notifier, "test://ok", &tx);
        }
        let started = std::time::Instant::now();
        for _ in 0..3 {
            let (uri, outcome) = tokio::time::timeout(Duration::from_secs(2), outcomes.recv())
                .await
                .expect("the healthy target's notifications are not held up")
                .expect("outcome");
            assert_eq!(uri, "test://ok");
            assert_eq!(
                outcome,
                Outcome {
                    requests: 1,
                    answered: true
                }
            );
        }
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(
            transport.sent("test://hang"),
            1,
            "the hanging target holds only its own queue"
        );
    }

    #[tokio::test]
    async fn failed_deliveries_are_retried_with_backoff_until_answered() {
        let transport = Scripted::new(2);
        let notifier = notifier(transport.clone(), 1000);
        let (tx, mut outcomes) = tokio::sync::mpsc::unbounded_channel();
        let started = std::time::Instant::now();
        send(&notifier, "test://flaky", &tx);
        let (_, outcome) = outcomes.recv().await.expect("outcome");
        assert_eq!(
            outcome,
            Outcome {
                requests: 3,
                answered: true
            }
        );
        assert!(
            started.elapsed() >= Duration::from_millis(30),
            "waited 10 ms, then 20 ms"
        );
    }

    #[tokio::test]
    async fn a_dead_target_gets_all_attempts_once_then_one_per_notification() {
        let transport = Scripted::new(0);
        let notifier = notifier(transport.clone(), 1000);
        let (tx, mut outcomes) = tokio::sync::mpsc::unbounded_channel();
        for _ in 0..3 {
            send(&notifier, "test://down", &tx);
        }
        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.push(outcomes.recv().await.expect("outcome").1);
        }
        let failed = |requests| Outcome {
            requests,
            answered: false,
        };
        assert_eq!(seen, vec![failed(3), failed(1), failed(1)]);
        assert_eq!(transport.sent("test://down"), 5);
    }

    #[tokio::test]
    async fn a_full_queue_drops_new_notifications_and_reports_them_undelivered() {
        let transport = Scripted::new(0);
        let mut notifier = notifier(transport.clone(), 60_000);
        notifier.depth = 2;
        let (tx, mut outcomes) = tokio::sync::mpsc::unbounded_channel();
        send(&notifier, "test://hang", &tx);
        tokio::time::sleep(Duration::from_millis(20)).await; // the task holds the first
        for _ in 0..4 {
            send(&notifier, "test://hang", &tx);
        }
        for _ in 0..2 {
            let (_, outcome) = tokio::time::timeout(Duration::from_secs(1), outcomes.recv())
                .await
                .expect("dropped at once")
                .expect("outcome");
            assert_eq!(
                outcome,
                Outcome {
                    requests: 0,
                    answered: false
                }
            );
        }
        assert!(
            outcomes.try_recv().is_err(),
            "two wait in the queue, one is in flight"
        );
    }

    #[tokio::test]
    async fn idle_target_queues_are_retired_and_come_back() {
        let sent = Arc::new(AtomicUsize::new(0));
        let mut notifier = Notifier::new(1000);
        notifier.idle = Duration::from_millis(50);
        notifier.add_transport(Arc::new(Counting(sent.clone())));
        let target = || Target {
            uri: "test://a".into(),
            serialization: Serialization::Json,
            entity: None,
        };
        let request = || Request::new(Operation::Notify, "test://a");
        notifier.enqueue(target(), request(), None);
        notifier.enqueue(target(), request(), None);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            sent.load(Ordering::SeqCst),
            2,
            "delivered in order by one task"
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(
            notifier.queues.lock().is_empty(),
            "the idle queue was retired"
        );
        notifier.enqueue(target(), request(), None);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            sent.load(Ordering::SeqCst),
            3,
            "a retired target gets a new queue"
        );
    }
}
