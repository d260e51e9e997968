//! The PostgreSQL store: the SQLite store's model on a database server.
//!
//! - `conn`: one connection, its prepared statements and the queries;
//! - `schema`: versioned migrations (`urbis_schema_version`);
//! - `readers`: a fixed pool of threads, each owning a read-only connection;
//! - `writer`: one thread owning the write connection, committing jobs in
//!   groups (`group.rs`), each job in its own savepoint;
//! - `scratch`: throw-away schemas for tests.
//!
//! Every connection lives on a thread of its own: the core calls readers from
//! inside Tokio, where the synchronous `postgres` client (which runs a runtime
//! of its own) cannot be used. Callers block on a channel instead, as long as
//! an SQLite read would block them.
//!
//! The write-through cache (`cache.rs`) is used as in SQLite. It is right only
//! while this process is the database's one writer: see `cached.rs` for what
//! several nodes on one database would need.

mod conn;
mod readers;
mod schema;
mod scratch;
mod writer;

use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use ::postgres::config::Host;
use ::postgres::Config;
use parking_lot::Mutex;

use crate::cache::Cache;
use crate::cached::CachedReader;
use crate::{ReadTxn, Store, StoreError, StoreResult, WriteJob};
use readers::{Dispatch, Readers};
pub use scratch::ScratchSchema;

/// Most resources the cache holds before it starts over.
const CACHE_CAPACITY: usize = 200_000;

pub struct PostgresStore {
    described: String,
    cache: Arc<Cache>,
    readers: Option<Readers>,
    jobs: Mutex<Option<mpsc::Sender<WriteJob>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// Dropped after the threads have stopped.
    scratch: Option<ScratchSchema>,
}

impl PostgresStore {
    /// Connect to `url` (`postgres://user:password@host:port/db`), create or
    /// upgrade the schema, and start the writer and `readers` reader threads.
    pub fn open(url: &str, readers: usize) -> StoreResult<PostgresStore> {
        let mut config: Config = url
            .parse()
            .map_err(|e| StoreError::Open(format!("invalid database URL: {e}")))?;
        if config.get_application_name().is_none() {
            config.application_name("urbis");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        let described = describe(&config);
        let cache = Arc::new(Cache::new(CACHE_CAPACITY, Default::default()));
        let (jobs, writer) = writer::start(config.clone(), cache.clone())?;
        let mut store = PostgresStore {
            described,
            cache,
            readers: None,
            jobs: Mutex::new(Some(jobs)),
            writer: Mutex::new(Some(writer)),
            scratch: None,
        };
        // On failure, dropping `store` stops the writer again.
        store.readers = Some(Readers::start(&config, readers.max(1))?);
        Ok(store)
    }

    /// A store in a fresh schema of the database at `base_url`, dropped with
    /// the store: for tests, the PostgreSQL twin of `SqliteStore::in_memory`.
    pub fn scratch(base_url: &str, readers: usize) -> StoreResult<PostgresStore> {
        let schema = ScratchSchema::create(base_url)?;
        let mut store = PostgresStore::open(schema.url(), readers)?;
        store.described = format!("{} (schema {})", store.described, schema.name());
        store.scratch = Some(schema);
        Ok(store)
    }
}

/// `postgres://host:port/db` for a database URL: where the data is, without
/// credentials, for logs and error messages.
pub fn describe_url(url: &str) -> String {
    match url.parse::<Config>() {
        Ok(config) => describe(&config),
        Err(_) => "postgres://(invalid URL)".into(),
    }
}

fn describe(config: &Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = config
                .get_ports()
                .get(i)
                .or(config.get_ports().first())
                .copied()
                .unwrap_or(5432);
            match host {
                Host::Tcp(name) => format!("{name}:{port}"),
                #[cfg(unix)]
                Host::Unix(path) => format!("{}:{port}", path.display()),
            }
        })
        .collect();
    let db = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or_default();
    format!("postgres://{}/{db}", hosts.join(","))
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.jobs.lock().take();
        if let Some(handle) = self.writer.lock().take() {
            let _ = handle.join();
        }
        // joins the reader threads
        self.readers.take();
    }
}

impl Store for PostgresStore {
    fn reader(&self) -> StoreResult<Box<dyn ReadTxn + '_>> {
        let readers = self.readers.as_ref().ok_or(StoreError::Closed)?;
        Ok(Box::new(CachedReader {
            raw: Dispatch { readers },
            cache: &self.cache,
        }))
    }

    fn submit(&self, job: WriteJob) {
        if let Some(jobs) = self.jobs.lock().as_ref() {
            // A send error means the writer is gone; the job is dropped and its
            // caller sees the closed channel as an internal error.
            let _ = jobs.send(job);
        }
    }

    fn describe(&self) -> String {
        self.described.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn description_has_no_credentials() {
        let config: Config = "postgres://urbis:s3cret@db.example:6543/things?sslmode=disable"
            .parse()
            .unwrap();
        assert_eq!(describe(&config), "postgres://db.example:6543/things");
        let config: Config = "postgresql://postgres@127.0.0.1/test".parse().unwrap();
        assert_eq!(describe(&config), "postgres://127.0.0.1:5432/test");
    }
}
