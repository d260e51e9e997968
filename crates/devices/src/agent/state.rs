//! What the agent keeps across restarts, in its state directory: the
//! installed firmware version, how often it booted, its event log.
//! Written whole to a temporary file and renamed, so a crash leaves either
//! the old state or the new one.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Error;

/// Event log lines kept (the oldest go first).
const EVENT_LOG_LINES: usize = 50;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    pub firmware_version: String,
    pub boots: u64,
    pub events: Vec<String>,
}

pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    pub fn new(dir: &Path) -> StateFile {
        StateFile {
            path: dir.join("state.json"),
        }
    }

    /// The saved state, or a fresh one for a device on its first start.
    pub fn load_or(&self, factory_version: &str) -> Result<State, Error> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::State(format!("{}: {e}", self.path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State {
                firmware_version: factory_version.to_owned(),
                boots: 0,
                events: Vec::new(),
            }),
            Err(e) => Err(Error::State(format!("{}: {e}", self.path.display()))),
        }
    }

    pub fn save(&self, state: &State) -> Result<(), Error> {
        let bytes = serde_json::to_vec_pretty(state).map_err(|e| Error::State(e.to_string()))?;
        crate::agent::firmware::write_atomically(&self.path, &bytes)
    }
}

impl State {
    /// Append a line to the event log, stamped with the time.
    pub fn log(&mut self, event: &str) {
        let now = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%S");
        self.events.push(format!("{now} {event}"));
        let excess = self.events.len().saturating_sub(EVENT_LOG_LINES);
        self.events.drain(..excess);
    }
}
