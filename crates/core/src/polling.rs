//! Mailboxes behind `<pollingChannel>` resources (TS-0001 §10.2.22, TS-0004
//! §7.3.23/§7.3.24). A request for an entity the CSE cannot reach waits in the
//! entity's mailbox until the entity long-polls its `pcu`; the entity's answer
//! comes back as a NOTIFY to `pcu` carrying the response primitive, and is
//! matched to the waiting request by its request identifier.
//!
//! The mailboxes are one more [`Transport`]: the notifier hands a request to
//! `pcu:<entity>` as it would to `http://...`, so subscriptions, verification
//! and blocking notifications need nothing special for polled entities.
//!
//! Where the mailboxes live depends on the store:
//! - a store of its own (SQLite, PostgreSQL `--single-node`): in memory, on
//!   the one node; a queued request wakes a waiting long-poll at once.
//! - a store that several nodes share ([`urbis_store::Store::shared_by_nodes`]): in the
//!   database ([`urbis_store::mailbox`]), since the entity may poll any node
//!   and answer through any node. The sender's node queues the request row;
//!   a long-poll on any node takes it (atomically: one taker) and, while none
//!   is there, looks again every [`SHARED_POLL`]; the entity's answer is
//!   recorded where it arrives, and each node's pump looks up the answers to
//!   all of its waiting senders in one statement every [`SHARED_POLL`]. When
//!   the long-poll or the answer reaches the sender's own node it is woken
//!   at once; across nodes a request or an answer waits up to one
//!   [`SHARED_POLL`] (plus a statement) longer. Store calls run on Tokio's
//!   blocking threads, never on a worker.
//!
//! Requests that wait longer than the notification timeout are dropped as
//! undeliverable (in the database: no longer handed out, swept later); a
//! sender that stops waiting withdraws its request.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::sync::{oneshot, Notify};
use urbis_model::{CseError, CseResult, Request, Resource, Response, Rsc, Serialization};
use urbis_store::mailbox::MailboxStore;

use crate::notify::Transport;
use crate::registry::BoxFuture;

/// Internal URI scheme of polled entities: `pcu:<entity resource ID>`.
pub const SCHEME: &str = "pcu:";

/// Requests one entity may have waiting; more are refused as unreachable
/// rather than growing memory for an entity that never polls.
const MAILBOX_DEPTH: usize = 256;

/// Answers awaited at once over all mailboxes (of this node).
const MAX_PENDING: usize = 10_000;

/// With shared mailboxes: how often a long-poll looks for requests queued by
/// other nodes, and the pump for answers given through other nodes.
pub const SHARED_POLL: Duration = Duration::from_millis(25);

/// With shared mailboxes: how often a node's pump sweeps expired rows.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

struct Waiting {
    request: Request,
    /// After this the sender has given up; handing it out would be pointless.
    expires: Instant,
}

#[derive(Default)]
struct Mailbox {
    /// Only in memory; unused with shared mailboxes.
    queue: Mutex<VecDeque<Waiting>>,
    /// A request was queued on this node (either way).
    arrived: Notify,
}

impl Mailbox {
    /// The next live request, or every live request when aggregating.
    fn take(&self, aggregate: bool) -> Vec<Request> {
        let now = Instant::now();
        let mut queue = self.queue.lock();
        queue.retain(|w| w.expires > now);
        let count = if aggregate {
            queue.len()
        } else {
            1.min(queue.len())
        };
        queue.drain(..count).map(|w| w.request).collect()
    }
}

type Pending = Mutex<HashMap<String, oneshot::Sender<Response>>>;

/// The database's mailboxes, and this node's pump of answers.
struct Shared {
    store: Arc<dyn MailboxStore>,
    pump_started: AtomicBool,
    /// A sender started waiting: the idle pump wakes up.
    posted: Notify,
}

/// All mailboxes of this CSE, and the answers they wait for.
pub struct Mailboxes {
    boxes: Mutex<HashMap<String, Arc<Mailbox>>>,
    pending: Arc<Pending>,
    /// How long a queued request stays deliverable.
    lifetime: Duration,
    /// `Some` when the mailboxes live in the shared database.
    shared: Option<Arc<Shared>>,
}

/// Run a mailbox statement on a blocking thread.
async fn blocking<T, F>(store: &Arc<dyn MailboxStore>, f: F) -> CseResult<T>
where
    T: Send + 'static,
    F: FnOnce(&dyn MailboxStore) -> urbis_store::StoreResult<T> + Send + 'static,
{
    let store = store.clone();
    match tokio::task::spawn_blocking(move || f(store.as_ref())).await {
        Ok(result) => result.map_err(CseError::from),
        Err(err) => Err(CseError::internal(format!(
            "mailbox statement failed: {err}"
        ))),
    }
}

/// Forget a request whose sender stopped waiting, without waiting for it.
fn withdraw_later(store: &Arc<dyn MailboxStore>, rqi: String) {
    let store = store.clone();
    let withdraw = move || {
        if let Err(err) = store.withdraw(&rqi) {
            tracing::warn!(%err, rqi, "mailbox request not withdrawn (it expires)");
        }
    };
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => drop(runtime.spawn_blocking(withdraw)),
        Err(_) => withdraw(),
    }
}

/// A stored request primitive; `None` (logged) when it does not decode.
fn decode_request(text: &str) -> Option<Request> {
    let decoded = serde_json::from_str::<Value>(text)
        .map_err(|e| CseError::internal(e.to_string()))
        .and_then(|value| urbis_codec::primitive::request_from_value(&value));
    match decoded {
        Ok(request) => Some(request),
        Err(err) => {
            tracing::warn!(%err, "a stored mailbox request does not decode; dropped");
            None
        }
    }
}

impl Mailboxes {
    /// Mailboxes in memory, for a store of its own.
    pub fn new(lifetime_ms: u64) -> Mailboxes {
        Mailboxes {
            boxes: Mutex::new(HashMap::new()),
            pending: Arc::new(Mutex::new(HashMap::new())),
            lifetime: Duration::from_millis(lifetime_ms.max(1)),
            shared: None,
        }
    }

    /// Mailboxes in the database that several nodes share.
    pub fn shared(lifetime_ms: u64, store: Arc<dyn MailboxStore>) -> Mailboxes {
        Mailboxes {
            shared: Some(Arc::new(Shared {
                store,
                pump_started: AtomicBool::new(false),
                posted: Notify::new(),
            })),
            ..Mailboxes::new(lifetime_ms)
        }
    }

    /// Whether the mailboxes live in the shared database.
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    fn mailbox(&self, entity: &str) -> Arc<Mailbox> {
        self.boxes
            .lock()
            .entry(entity.to_owned())
            .or_default()
            .clone()
    }

    /// Wait up to `wait` for requests for `entity`. `None` when none came.
    pub async fn poll(
        &self,
        entity: &str,
        aggregate: bool,
        wait: Duration,
    ) -> Option<Vec<Request>> {
        let mailbox = self.mailbox(entity);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // register interest before looking, so an arrival in between wakes us
            let arrived = mailbox.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            let (taken, next) = match &self.shared {
                None => (mailbox.take(aggregate), deadline),
                Some(shared) => (
                    self.take_shared(shared, entity, aggregate).await,
                    deadline.min(tokio::time::Instant::now() + SHARED_POLL),
                ),
            };
            if !taken.is_empty() {
                return Some(taken);
            }
            if tokio::time::timeout_at(next, arrived).await.is_err()
                && tokio::time::Instant::now() >= deadline
            {
                return None;
            }
        }
    }

    async fn take_shared(&self, shared: &Shared, entity: &str, aggregate: bool) -> Vec<Request> {
        let limit = if aggregate { MAILBOX_DEPTH } else { 1 };
        let entity = entity.to_owned();
        match blocking(&shared.store, move |store| store.take(&entity, limit)).await {
            Ok(posted) => posted
                .iter()
                .filter_map(|p| decode_request(&p.request))
                .collect(),
            Err(err) => {
                tracing::warn!(%err, "shared mailbox not read");
                Vec::new()
            }
        }
    }

    /// The entity's answer to a request it polled. False when nobody waits
    /// for it (any more).
    pub async fn answer(&self, response: Response) -> bool {
        let local = self.pending.lock().remove(&response.rqi);
        match (local, &self.shared) {
            (Some(waiting), shared) => {
                if let Some(shared) = shared {
                    // the sender is on this node: its row is no longer needed
                    withdraw_later(&shared.store, response.rqi.clone());
                }
                waiting.send(response).is_ok()
            }
            (None, None) => false,
            (None, Some(shared)) => {
                let rqi = response.rqi.clone();
                let text = urbis_codec::primitive::response_to_value(&response).to_string();
                match blocking(&shared.store, move |store| store.answer(&rqi, &text)).await {
                    Ok(waited) => waited,
                    Err(err) => {
                        tracing::warn!(%err, "answer through pcu not recorded");
                        false
                    }
                }
            }
        }
    }

    /// Await an answer to `rqi`; the caller queues the request after this.
    fn expect(&self, entity: &str, rqi: &str) -> CseResult<oneshot::Receiver<Response>> {
        let (tx, rx) = oneshot::channel();
        let mut pending = self.pending.lock();
        if pending.len() >= MAX_PENDING {
            return Err(unreachable(entity, "too many requests await polling"));
        }
        pending.insert(rqi.to_owned(), tx);
        Ok(rx)
    }

    fn post(&self, entity: &str, request: Request) -> CseResult<oneshot::Receiver<Response>> {
        let rx = self.expect(entity, &request.rqi)?;
        let mailbox = self.mailbox(entity);
        {
            let mut queue = mailbox.queue.lock();
            let now = Instant::now();
            queue.retain(|w| w.expires > now);
            if queue.len() >= MAILBOX_DEPTH {
                self.pending.lock().remove(&request.rqi);
                return Err(unreachable(entity, "its pollingChannel is full"));
            }
            queue.push_back(Waiting {
                request,
                expires: now + self.lifetime,
            });
        }
        mailbox.arrived.notify_one();
        Ok(rx)
    }

    /// [`Mailboxes::post`] into the database.
    async fn post_shared(
        &self,
        shared: &Arc<Shared>,
        entity: &str,
        request: Request,
    ) -> CseResult<oneshot::Receiver<Response>> {
        let rx = self.expect(entity, &request.rqi)?;
        self.start_pump(shared);
        let text = urbis_codec::primitive::request_to_value(&request).to_string();
        let lifetime_ms = u64::try_from(self.lifetime.as_millis()).unwrap_or(u64::MAX);
        let (owner, rqi) = (entity.to_owned(), request.rqi.clone());
        let posted = blocking(&shared.store, move |store| {
            store.post(&owner, &rqi, &text, lifetime_ms, MAILBOX_DEPTH)
        })
        .await;
        match posted {
            Ok(true) => {}
            Ok(false) => {
                self.pending.lock().remove(&request.rqi);
                return Err(unreachable(entity, "its pollingChannel is full"));
            }
            Err(err) => {
                self.pending.lock().remove(&request.rqi);
                return Err(unreachable(entity, &format!("not queued: {err}")));
            }
        }
        // a long-poll waiting here looks at once; the pump starts looking
        self.mailbox(entity).arrived.notify_one();
        shared.posted.notify_one();
        Ok(rx)
    }

    fn start_pump(&self, shared: &Arc<Shared>) {
        if !shared.pump_started.swap(true, Ordering::AcqRel) {
            tokio::spawn(pump(
                Arc::downgrade(shared),
                Arc::downgrade(&self.pending),
                self.lifetime,
            ));
        }
    }
}

fn unreachable(entity: &str, why: &str) -> CseError {
    CseError::new(Rsc::TargetNotReachable, format!("{entity}: {why}"))
}

/// A node's pump of shared answers: while senders on this node wait, one
/// statement every [`SHARED_POLL`] fetches the answers recorded for any of
/// them; idle, it sleeps until a sender starts waiting. It also sweeps
/// expired rows now and then. Ends with its mailboxes.
async fn pump(weak_shared: Weak<Shared>, weak_pending: Weak<Pending>, lifetime: Duration) {
    let mut swept = Instant::now();
    loop {
        let (Some(shared), Some(pending)) = (weak_shared.upgrade(), weak_pending.upgrade()) else {
            return;
        };
        let rqis: Vec<String> = pending.lock().keys().cloned().collect();
        if rqis.is_empty() {
            drop(pending);
            let _ = tokio::time::timeout(SWEEP_EVERY, shared.posted.notified()).await;
        } else {
            match blocking(&shared.store, move |store| store.answers(&rqis)).await {
                Ok(answers) => deliver(&pending, answers),
                Err(err) => tracing::warn!(%err, "shared mailbox answers not read"),
            }
            drop(pending);
            tokio::time::sleep(SHARED_POLL).await;
        }
        if swept.elapsed() >= SWEEP_EVERY {
            swept = Instant::now();
            let age = u64::try_from(lifetime.as_millis().saturating_mul(2)).unwrap_or(u64::MAX);
            if let Err(err) = blocking(&shared.store, move |store| store.sweep(age)).await {
                tracing::warn!(%err, "shared mailboxes not swept");
            }
        }
    }
}

fn deliver(pending: &Pending, answers: Vec<(String, String)>) {
    for (rqi, text) in answers {
        let decoded = serde_json::from_str::<Value>(&text)
            .map_err(|e| CseError::internal(e.to_string()))
            .and_then(|value| urbis_codec::primitive::response_from_value(&value));
        let Some(waiting) = pending.lock().remove(&rqi) else {
            continue;
        };
        match decoded {
            Ok(response) => {
                let _ = waiting.send(response);
            }
            // the sender hears "did not answer" rather than wait on
            Err(err) => tracing::warn!(%err, rqi, "a stored answer does not decode"),
        }
    }
}

/// Removes an awaited answer when its sender stops waiting (timeout, drop);
/// with shared mailboxes it withdraws the request too, unless it was
/// answered (whoever delivered the answer removed the awaited entry).
struct PendingGuard {
    mailboxes: Arc<Mailboxes>,
    rqi: String,
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        let unanswered = self.mailboxes.pending.lock().remove(&self.rqi).is_some();
        if let (true, Some(shared)) = (unanswered, &self.mailboxes.shared) {
            withdraw_later(&shared.store, std::mem::take(&mut self.rqi));
        }
    }
}

/// The notifier's door to the mailboxes.
pub struct PollingTransport {
    pub mailboxes: Arc<Mailboxes>,
}

impl Transport for PollingTransport {
    fn handles(&self, uri: &str) -> bool {
        uri.starts_with(SCHEME)
    }

    fn send(
        &self,
        uri: &str,
        request: Request,
        _serialization: Serialization,
    ) -> BoxFuture<'static, CseResult<Response>> {
        let entity = uri.trim_start_matches(SCHEME).to_owned();
        let rqi = request.rqi.clone();
        let mailboxes = self.mailboxes.clone();
        let did_not_answer = |entity: &str| {
            CseError::new(Rsc::TargetNotReachable, format!("{entity} did not answer"))
        };
        match mailboxes.shared.clone() {
            None => {
                // queued at once, so requests wait in the order they were sent
                let posted = mailboxes.post(&entity, request);
                Box::pin(async move {
                    let answer = posted?;
                    let _guard = PendingGuard { mailboxes, rqi };
                    answer.await.map_err(|_| did_not_answer(&entity))
                })
            }
            Some(shared) => Box::pin(async move {
                // guarded from the start: dropped while queuing, it withdraws
                let _guard = PendingGuard {
                    mailboxes: mailboxes.clone(),
                    rqi,
                };
                let answer = mailboxes.post_shared(&shared, &entity, request).await?;
                answer.await.map_err(|_| did_not_answer(&entity))
            }),
        }
    }
}

/// The content of a `pcu` RETRIEVE answer: one request primitive, or all of
/// them when the channel aggregates.
pub fn polled_content(requests: &[Request], aggregate: bool) -> Value {
    let values: Vec<Value> = requests
        .iter()
        .map(urbis_codec::primitive::request_to_value)
        .collect();
    match values.as_slice() {
        [single] if !aggregate => json!({ "m2m:rqp": single }),
        _ => json!({ "m2m:agrp": values }),
    }
}

/// The response primitive inside a NOTIFY to `pcu` (`{"m2m:rsp": {...}}`).
pub fn answered_response(content: Option<&Value>) -> CseResult<Response> {
    let inner = content
        .and_then(|pc| pc.get("m2m:rsp"))
        .filter(|rsp| rsp.is_object())
        .ok_or_else(|| {
            CseError::bad_request("a NOTIFY to pcu must carry a response primitive (m2m:rsp)")
        })?;
    urbis_codec::primitive::response_from_value(inner)
}

/// The entity a pollingChannel belongs to: its parent.
pub fn owner(pch: &Resource) -> &str {
    pch.pi()
}

#[cfg(test)]
mod tests {
    use super::*;
    use urbis_model::Operation;

    fn request(rqi: &str) -> Request {
        let mut request = Request::new(Operation::Notify, "Cae");
        request.rqi = rqi.into();
        request
    }

    #[tokio::test]
    async fn a_polled_request_is_answered_through_the_mailbox() {
        let mailboxes = Arc::new(Mailboxes::new(5_000));
        let transport = PollingTransport {
            mailboxes: mailboxes.clone(),
        };
        let sent = transport.send("pcu:Cae", request("r1"), Serialization::Json);
        let sent = tokio::spawn(sent);
        let polled = mailboxes
            .poll("Cae", false, Duration::from_secs(2))
            .await
            .expect("a request");
        assert_eq!(polled.len(), 1);
        assert_eq!(polled[0].rqi, "r1");
        let mut response = Response::new(Rsc::Ok, None);
        response.rqi = "r1".into();
        assert!(mailboxes.answer(response).await);
        let answered = sent.await.unwrap().unwrap();
        assert_eq!(answered.rsc, Rsc::Ok);
    }

    #[tokio::test]
    async fn polling_an_empty_mailbox_times_out() {
        let mailboxes = Mailboxes::new(5_000);
        assert!(mailboxes
            .poll("Cae", false, Duration::from_millis(50))
            .await
            .is_none());
    }

    #[tokio::test]
    async fn aggregation_hands_out_everything_waiting() {
        let mailboxes = Mailboxes::new(5_000);
        for rqi in ["a", "b", "c"] {
            drop(mailboxes.post("Cae", request(rqi)).unwrap());
        }
        let all = mailboxes
            .poll("Cae", true, Duration::from_millis(50))
            .await
            .unwrap();
        assert_eq!(all.len(), 3);
        assert!(
            matches!(polled_content(&all, true).get("m2m:agrp"), Some(Value::Array(a)) if a.len() == 3)
        );
    }

    #[tokio::test]
    async fn expired_requests_are_not_handed_out_and_a_full_mailbox_refuses() {
        let mailboxes = Mailboxes::new(1);
        drop(mailboxes.post("Cae", request("old")).unwrap());
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(mailboxes
            .poll("Cae", false, Duration::from_millis(20))
            .await
            .is_none());
        let mailboxes = Mailboxes::new(60_000);
        for i in 0..MAILBOX_DEPTH {
            drop(mailboxes.post("Cae", request(&i.to_string())).unwrap());
        }
        assert_eq!(
            mailboxes.post("Cae", request("over")).unwrap_err().rsc,
            Rsc::TargetNotReachable
        );
    }

    /// The database's mailboxes, in memory: what two nodes share.
    #[derive(Default)]
    struct FakeStore {
        /// (entity, rqi, request, taken)
        rows: Mutex<Vec<(String, String, String, bool)>>,
        answers: Mutex<HashMap<String, String>>,
    }

    impl MailboxStore for FakeStore {
        fn post(
            &self,
            entity: &str,
            rqi: &str,
            request: &str,
            _lifetime_ms: u64,
            depth: usize,
        ) -> urbis_store::StoreResult<bool> {
            let mut rows = self.rows.lock();
            if rows.iter().filter(|r| r.0 == entity && !r.3).count() >= depth {
                return Ok(false);
            }
            rows.push((entity.into(), rqi.into(), request.into(), false));
            Ok(true)
        }
        fn take(
            &self,
            entity: &str,
            limit: usize,
        ) -> urbis_store::StoreResult<Vec<urbis_store::mailbox::Posted>> {
            let mut rows = self.rows.lock();
            Ok(rows
                .iter_mut()
                .filter(|r| r.0 == entity && !r.3)
                .take(limit)
                .map(|r| {
                    r.3 = true;
                    urbis_store::mailbox::Posted {
                        rqi: r.1.clone(),
                        request: r.2.clone(),
                    }
                })
                .collect())
        }
        fn answer(&self, rqi: &str, response: &str) -> urbis_store::StoreResult<bool> {
            let mut rows = self.rows.lock();
            let before = rows.len();
            rows.retain(|r| r.1 != rqi);
            if rows.len() == before {
                return Ok(false);
            }
            self.answers.lock().insert(rqi.into(), response.into());
            Ok(true)
        }
        fn answers(&self, rqis: &[String]) -> urbis_store::StoreResult<Vec<(String, String)>> {
            let mut answers = self.answers.lock();
            Ok(rqis
                .iter()
                .filter_map(|rqi| answers.remove(rqi).map(|a| (rqi.clone(), a)))
                .collect())
        }
        fn withdraw(&self, rqi: &str) -> urbis_store::StoreResult<()> {
            self.rows.lock().retain(|r| r.1 != rqi);
            self.answers.lock().remove(rqi);
            Ok(())
        }
        fn sweep(&self, _answers_ms: u64) -> urbis_store::StoreResult<u64> {
            Ok(0)
        }
    }

    #[tokio::test]
    async fn shared_mailboxes_queue_on_one_node_and_are_polled_and_answered_on_another() {
        let store = Arc::new(FakeStore::default());
        let a = Arc::new(Mailboxes::shared(5_000, store.clone()));
        let b = Arc::new(Mailboxes::shared(5_000, store.clone()));
        assert!(a.is_shared());
        let transport = PollingTransport {
            mailboxes: a.clone(),
        };
        let mut notify = request("x1");
        notify.pc = Some(json!({"m2m:sgn": {"vrq": true}}));
        let sent = tokio::spawn(transport.send("pcu:Cae", notify, Serialization::Json));
        let polled = b
            .poll("Cae", false, Duration::from_secs(2))
            .await
            .expect("a request queued on the other node");
        assert_eq!(polled[0].rqi, "x1");
        assert_eq!(polled[0].pc, Some(json!({"m2m:sgn": {"vrq": true}})));
        assert!(a
            .poll("Cae", false, Duration::from_millis(60))
            .await
            .is_none());
        let mut response = Response::new(Rsc::Ok, None);
        response.rqi = "x1".into();
        assert!(b.answer(response.clone()).await, "recorded for node a");
        let answered = tokio::time::timeout(Duration::from_secs(2), sent)
            .await
            .expect("node a hears the answer")
            .unwrap()
            .unwrap();
        assert_eq!(answered.rsc, Rsc::Ok);
        assert!(!b.answer(response).await, "nobody waits any more");
        assert!(store.rows.lock().is_empty() && store.answers.lock().is_empty());
    }

    #[tokio::test]
    async fn a_shared_sender_that_stops_waiting_withdraws_its_request() {
        let store = Arc::new(FakeStore::default());
        let a = Arc::new(Mailboxes::shared(5_000, store.clone()));
        let transport = PollingTransport {
            mailboxes: a.clone(),
        };
        let sent = transport.send("pcu:Cae", request("gone"), Serialization::Json);
        assert!(tokio::time::timeout(Duration::from_millis(100), sent)
            .await
            .is_err());
        for _ in 0..100 {
            if store.rows.lock().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(store.rows.lock().is_empty(), "withdrawn");
        assert!(a.pending.lock().is_empty());
    }

    #[test]
    fn an_answer_must_be_a_response_primitive() {
        assert_eq!(answered_response(None).unwrap_err().rsc, Rsc::BadRequest);
        let wrong = json!({"m2m:rqp": {"rqi": "1", "rsc": 2000}});
        assert_eq!(
            answered_response(Some(&wrong)).unwrap_err().rsc,
            Rsc::BadRequest
        );
        let right = json!({"m2m:rsp": {"rqi": "1", "rsc": 2000}});
        assert_eq!(answered_response(Some(&right)).unwrap().rqi, "1");
    }
}
