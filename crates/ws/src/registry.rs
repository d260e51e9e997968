//! Live connections, the entities each one reaches, and the connections this
//! CSE dialed itself. One lock; every operation is a few map lookups.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::session::Session;

#[derive(Default)]
pub(crate) struct Registry {
    state: Mutex<State>,
    next_id: AtomicU64,
}

#[derive(Default)]
struct State {
    sessions: HashMap<u64, Arc<Session>>,
    /// Entity (AE-ID as stored) → the connection that reaches it. The newest
    /// association wins: an AE that reconnects is reached on its new connection.
    entities: HashMap<String, u64>,
    /// Connections this CSE opened, by the `ws://` URI and sub-protocol.
    dialed: HashMap<String, u64>,
}

impl Registry {
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn insert(&self, session: Arc<Session>) {
        self.state.lock().sessions.insert(session.id, session);
    }

    /// Forget a closed connection and everything that pointed at it.
    pub fn remove(&self, id: u64) {
        let mut state = self.state.lock();
        state.sessions.remove(&id);
        state.entities.retain(|_, session| *session != id);
        state.dialed.retain(|_, session| *session != id);
    }

    pub fn get(&self, id: u64) -> Option<Arc<Session>> {
        self.state.lock().sessions.get(&id).cloned()
    }

    /// Associate `entity` with connection `id` (if that is still open).
    pub fn associate(&self, entity: &str, id: u64) {
        let mut state = self.state.lock();
        if state.sessions.contains_key(&id) {
            state.entities.insert(entity.to_owned(), id);
        }
    }

    pub fn is_associated(&self, entity: &str, id: u64) -> bool {
        self.state.lock().entities.get(entity) == Some(&id)
    }

    pub fn for_entity(&self, entity: &str) -> Option<Arc<Session>> {
        let state = self.state.lock();
        let id = state.entities.get(entity)?;
        state.sessions.get(id).cloned()
    }

    pub fn dialed(&self, key: &str) -> Option<Arc<Session>> {
        let state = self.state.lock();
        let id = state.dialed.get(key)?;
        state.sessions.get(id).cloned()
    }

    pub fn add_dialed(&self, key: &str, id: u64) {
        let mut state = self.state.lock();
        if state.sessions.contains_key(&id) {
            state.dialed.insert(key.to_owned(), id);
        }
    }

    pub fn all(&self) -> Vec<Arc<Session>> {
        self.state.lock().sessions.values().cloned().collect()
    }

    /// (open connections, associated entities): for tests and diagnostics.
    pub fn counts(&self) -> (usize, usize) {
        let state = self.state.lock();
        (state.sessions.len(), state.entities.len())
    }
}
