//! The writer thread: owns the one connection that writes, migrates the
//! schema at start, then commits jobs in groups (`group.rs`).

use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use ::postgres::Config;

use super::conn::{Conn, Raw};
use super::schema;
use crate::cache::Cache;
use crate::group::{self, Step};
use crate::{StoreError, StoreResult, WriteJob};

/// How long the writer waits after it could not reach the database before it
/// takes the next group (whose jobs then fail fast, or succeed).
const RECONNECT_PAUSE: Duration = Duration::from_millis(200);

/// Connect, migrate and learn which resources have subscriptions; then serve
/// jobs until the sender is dropped. Returns once the thread is ready (or
/// could not become so).
pub(super) fn start(
    config: Config,
    cache: Arc<Cache>,
) -> StoreResult<(mpsc::Sender<WriteJob>, JoinHandle<()>)> {
    let (jobs, queue) = mpsc::channel::<WriteJob>();
    let (ready_tx, ready) = mpsc::channel::<StoreResult<()>>();
    let thread = std::thread::Builder::new()
        .name("urbis-pg-writer".into())
        .spawn(move || {
            let conn = match prepare(&config, &cache) {
                Ok(conn) => conn,
                Err(err) => {
                    let _ = ready_tx.send(Err(err));
                    return;
                }
            };
            let _ = ready_tx.send(Ok(()));
            drop(ready_tx);
            serve(&mut Session { conn }, &cache, &queue);
        })
        .map_err(|e| StoreError::Open(format!("cannot start the writer thread: {e}")))?;
    match ready.recv() {
        Ok(Ok(())) => Ok((jobs, thread)),
        Ok(Err(err)) => {
            let _ = thread.join();
            Err(err)
        }
        Err(_) => {
            let _ = thread.join();
            Err(StoreError::Open(
                "the writer thread died while starting".into(),
            ))
        }
    }
}

fn prepare(config: &Config, cache: &Cache) -> StoreResult<Conn> {
    let mut conn = Conn::open(config, false)?;
    schema::migrate(&mut conn)?;
    for ri in Raw::new(&mut conn).watched()? {
        cache.watch(&ri);
    }
    Ok(conn)
}

fn serve(session: &mut Session, cache: &Cache, queue: &mpsc::Receiver<WriteJob>) {
    while let Some(group) = group::next_group(queue) {
        if let Err(err) = session.conn.ready() {
            tracing::error!(%err, "the store writer cannot reach PostgreSQL");
            drop(group); // answers every caller with an internal error
            std::thread::sleep(RECONNECT_PAUSE);
            continue;
        }
        if group::run_group(session, cache, group).is_err() {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

struct Session {
    conn: Conn,
}

impl group::Session for Session {
    type Txn<'a> = Raw<'a>;

    fn step(&mut self, step: Step) -> StoreResult<()> {
        let conn = &mut self.conn;
        match step {
            Step::Begin => {
                conn.failed = false;
                conn.batch("BEGIN")
            }
            Step::Savepoint => conn.batch("SAVEPOINT job"),
            Step::Release => {
                conn.usable()?;
                conn.batch("RELEASE SAVEPOINT job")
            }
            Step::RollbackToSavepoint => {
                conn.batch("ROLLBACK TO SAVEPOINT job")?;
                conn.failed = false;
                Ok(())
            }
            Step::Commit => {
                // COMMIT of a failed transaction "succeeds" as a rollback:
                // refuse it here so that nobody is told their write is durable.
                conn.usable()?;
                conn.batch("COMMIT")
            }
            Step::Rollback => {
                let result = conn.batch("ROLLBACK");
                conn.failed = false;
                result
            }
        }
    }

    fn txn(&mut self) -> Raw<'_> {
        Raw::new(&mut self.conn)
    }
}
