//! Advisory locks: how nodes on one database coordinate without a
//! coordinator of their own.
//!
//! - **migration**: held around schema migrations, so that nodes starting at
//!   once migrate one after the other;
//! - **nodes**: every node holds it for as long as its writer's session
//!   lives, shared by nodes that share the database, exclusively by a
//!   single-node store, so that the two kinds never mix;
//! - **leader**: held by one node's leadership session; that node runs the
//!   background work (expiry). Session-level: if the node dies, its session
//!   ends and another node takes the lock at its next attempt.
//!
//! Advisory locks belong to the whole database, so each key is paired with a
//! hash of the schema: stores in different schemas never share a lock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use ::postgres::{Client, Config, NoTls};

use super::conn::Sql;
use super::writer::Sharing;
use crate::{StoreError, StoreResult};

const MIGRATION: i32 = 0x5552_0001;
pub(super) const NODES: i32 = 0x5552_0002;
const LEADER: i32 = 0x5552_0003;

/// How often a node that does not lead tries to become the leader, and the
/// leader checks that its session is still alive.
pub(super) const LEADER_POLL: Duration = Duration::from_millis(500);

/// FNV-1a of the connection's current schema, as the second half of every
/// key.
pub(super) fn schema_key(conn: &mut impl Sql) -> StoreResult<i32> {
    let rows = conn.query("SELECT current_schema()::text", &[])?;
    let schema: String = rows
        .first()
        .ok_or_else(|| StoreError::Open("no current schema".into()))?
        .try_get(0)?;
    Ok(fnv(&schema))
}

fn fnv(text: &str) -> i32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in text.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash as i32
}

/// Run `f` holding the migration lock (waiting for it if another node
/// migrates now).
pub(super) fn with_migration_lock<C: Sql>(
    conn: &mut C,
    schema: i32,
    f: impl FnOnce(&mut C) -> StoreResult<()>,
) -> StoreResult<()> {
    conn.query("SELECT pg_advisory_lock($1, $2)", &[&MIGRATION, &schema])?;
    let result = f(conn);
    let unlocked = conn
        .query("SELECT pg_advisory_unlock($1, $2)", &[&MIGRATION, &schema])
        .map(|_| ());
    result.and(unlocked)
}

/// The query (answering a boolean) by which a writer's session announces
/// its node.
pub(super) fn node_lock_sql(sharing: Sharing, schema: i32) -> String {
    match sharing {
        Sharing::SingleNode => format!("SELECT pg_try_advisory_lock({NODES}, {schema})"),
        Sharing::Shared => format!("SELECT pg_try_advisory_lock_shared({NODES}, {schema})"),
    }
}

/// Leadership: a thread with a session of its own that takes the leader
/// lock when it is free and keeps it while the session lives.
pub(super) struct Leadership {
    leading: Arc<AtomicBool>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Leadership {
    pub(super) fn start(config: Config) -> StoreResult<Leadership> {
        let leading = Arc::new(AtomicBool::new(false));
        let (stop, stopped) = mpsc::channel::<()>();
        let flag = leading.clone();
        let thread = std::thread::Builder::new()
            .name("urbis-pg-leader".into())
            .spawn(move || campaign(&config, &flag, &stopped))
            .map_err(|e| StoreError::Open(format!("cannot start the leadership thread: {e}")))?;
        Ok(Leadership {
            leading,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub(super) fn is_leader(&self) -> bool {
        self.leading.load(Ordering::Acquire)
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn campaign(config: &Config, leading: &AtomicBool, stopped: &mpsc::Receiver<()>) {
    let mut session: Option<Session> = None;
    loop {
        let lead = match attempt(config, &mut session) {
            Ok(lead) => lead,
            Err(err) => {
                if leading.load(Ordering::Acquire) {
                    tracing::warn!(%err, "lost the leadership session; background work stops here");
                }
                session = None;
                false
            }
        };
        if lead != leading.swap(lead, Ordering::AcqRel) && lead {
            tracing::info!("this node leads background work (expiry)");
        }
        match stopped.recv_timeout(LEADER_POLL) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            _ => return, // the store is shut down; the session ends with us
        }
    }
}

struct Session {
    client: Client,
    schema: i32,
    /// This session holds the leader lock (it keeps it until it ends).
    holds: bool,
}

/// Take the lock if it is free, or check that the session holding it lives.
fn attempt(config: &Config, session: &mut Option<Session>) -> StoreResult<bool> {
    let session = match session {
        Some(session) => session,
        None => {
            let mut client = config.connect(NoTls)?;
            let row = client.query_one("SELECT current_schema()::text", &[])?;
            let schema = fnv(&row.try_get::<_, String>(0)?);
            session.insert(Session {
                client,
                schema,
                holds: false,
            })
        }
    };
    if session.holds {
        session.client.simple_query("SELECT 1")?;
        return Ok(true);
    }
    let taken = session.client.query_one(
        "SELECT pg_try_advisory_lock($1, $2)",
        &[&LEADER, &session.schema],
    )?;
    session.holds = taken.try_get::<_, bool>(0)?;
    Ok(session.holds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_get_different_keys() {
        assert_ne!(fnv("public"), fnv("urbis"));
        assert_eq!(fnv(""), 0x811c_9dc5_u32 as i32);
    }
}
