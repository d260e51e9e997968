//! Captures the audit log (`urbis::audit` events) of a test binary with a
//! real `tracing` subscriber, so that tests can look for the events their
//! requests caused (by a field value unique to the test).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

pub type Event = BTreeMap<String, String>;

static EVENTS: OnceLock<Arc<Mutex<Vec<Event>>>> = OnceLock::new();

struct Capture(Arc<Mutex<Vec<Event>>>);

struct Fields<'a>(&'a mut Event);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() != urbis_core::audit::TARGET {
            return;
        }
        let mut fields = Event::new();
        event.record(&mut Fields(&mut fields));
        fields.insert("level".into(), event.metadata().level().to_string());
        self.0.lock().expect("audit capture").push(fields);
    }
}

/// Start capturing (once per test binary; the subscriber is global so that
/// events from every runtime thread are seen).
pub fn install() {
    EVENTS.get_or_init(|| {
        let events = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry().with(Capture(events.clone()));
        tracing::subscriber::set_global_default(subscriber).expect("one global subscriber");
        events
    });
}

/// The captured events of kind `event` whose `field` is `value`.
pub fn events(event: &str, field: &str, value: &str) -> Vec<Event> {
    let Some(events) = EVENTS.get() else {
        panic!("audit_capture::install() first");
    };
    events
        .lock()
        .expect("audit capture")
        .iter()
        .filter(|e| {
            e.get("event").map(String::as_str) == Some(event)
                && e.get(field).map(String::as_str) == Some(value)
        })
        .cloned()
        .collect()
}
