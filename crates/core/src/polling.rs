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
//! Mailboxes live in memory on the node that the entity polls; requests that
//! wait longer than the notification timeout are dropped as undeliverable.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::sync::{oneshot, Notify};
use urbis_model::{CseError, CseResult, Request, Resource, Response, Rsc, Serialization};

use crate::notify::Transport;
use crate::registry::BoxFuture;

/// Internal URI scheme of polled entities: `pcu:<entity resource ID>`.
pub const SCHEME: &str = "pcu:";

/// Requests one entity may have waiting; more are refused as unreachable
/// rather than growing memory for an entity that never polls.
const MAILBOX_DEPTH: usize = 256;

/// Answers awaited at once over all mailboxes.
const MAX_PENDING: usize = 10_000;

struct Waiting {
    request: Request,
    /// After this the sender has given up; handing it out would be pointless.
    expires: Instant,
}

#[derive(Default)]
struct Mailbox {
    queue: Mutex<VecDeque<Waiting>>,
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

/// All mailboxes of this CSE, and the answers they wait for.
pub struct Mailboxes {
    boxes: Mutex<HashMap<String, Arc<Mailbox>>>,
    pending: Arc<Mutex<HashMap<String, oneshot::Sender<Response>>>>,
    /// How long a queued request stays deliverable.
    lifetime: Duration,
}

impl Mailboxes {
    pub fn new(lifetime_ms: u64) -> Mailboxes {
        Mailboxes {
            boxes: Mutex::new(HashMap::new()),
            pending: Arc::new(Mutex::new(HashMap::new())),
            lifetime: Duration::from_millis(lifetime_ms.max(1)),
        }
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
            let taken = mailbox.take(aggregate);
            if !taken.is_empty() {
                return Some(taken);
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return None;
            }
        }
    }

    /// The entity's answer to a request it polled. False when nobody waits
    /// for it (any more).
    pub fn answer(&self, response: Response) -> bool {
        match self.pending.lock().remove(&response.rqi) {
            Some(waiting) => waiting.send(response).is_ok(),
            None => false,
        }
    }

    fn post(&self, entity: &str, request: Request) -> CseResult<oneshot::Receiver<Response>> {
        let unreachable =
            |why: &str| CseError::new(Rsc::TargetNotReachable, format!("{entity}: {why}"));
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = self.pending.lock();
            if pending.len() >= MAX_PENDING {
                return Err(unreachable("too many requests await polling"));
            }
            pending.insert(request.rqi.clone(), tx);
        }
        let mailbox = self.mailbox(entity);
        {
            let mut queue = mailbox.queue.lock();
            let now = Instant::now();
            queue.retain(|w| w.expires > now);
            if queue.len() >= MAILBOX_DEPTH {
                self.pending.lock().remove(&request.rqi);
                return Err(unreachable("its pollingChannel is full"));
            }
            queue.push_back(Waiting {
                request,
                expires: now + self.lifetime,
            });
        }
        mailbox.arrived.notify_one();
        Ok(rx)
    }
}

/// Removes an awaited answer when its sender stops waiting (timeout, drop).
struct PendingGuard {
    pending: Arc<Mutex<HashMap<String, oneshot::Sender<Response>>>>,
    rqi: String,
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        self.pending.lock().remove(&self.rqi);
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
        let posted = self.mailboxes.post(&entity, request);
        let pending = self.mailboxes.pending.clone();
        Box::pin(async move {
            let answer = posted?;
            let _guard = PendingGuard { pending, rqi };
            answer.await.map_err(|_| {
                CseError::new(Rsc::TargetNotReachable, format!("{entity} did not answer"))
            })
        })
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
        assert!(mailboxes.answer(response));
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
