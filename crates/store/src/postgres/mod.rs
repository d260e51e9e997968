//! The PostgreSQL store: the SQLite store's model on a database server.
//!
//! - `conn`: one connection, its prepared statements and the queries;
//! - `schema`: versioned migrations (`urbis_schema_version`);
//! - `readers`: a fixed pool of threads, each owning a read-only connection;
//! - `writer`: one thread owning the write connection, committing jobs in
//!   groups (`group.rs`), each job in its own savepoint, updates deferred to
//!   the COMMIT; `pipeline`: that connection, which pipelines statements;
//! - `mailbox`: pollingChannel mailboxes shared by the nodes
//!   ([`crate::mailbox`]), on a connection of their own;
//! - `locks`: advisory locks (migrations, which nodes share the database,
//!   leadership of background work);
//! - `scratch`: throw-away schemas for tests.
//!
//! Every connection lives on a thread of its own: the core calls readers from
//! inside Tokio, where the synchronous `postgres` client (which runs a runtime
//! of its own) cannot be used. Callers block on a channel instead, as long as
//! an SQLite read would block them.
//!
//! By default the database may be shared by several nodes ([`Sharing`]): the
//! write-through cache is off (another node's commit would leave it stale),
//! read-modify-writes lock their rows, and one node leads background work.
//! A single-node store ([`PostgresOptions::single_node`]) keeps the cache, as
//! SQLite does, and holds an advisory lock that keeps other nodes out.

mod conn;
mod locks;
mod mailbox;
mod pipeline;
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
use crate::mailbox::MailboxStore;
use crate::{ReadTxn, Store, StoreError, StoreResult, WriteJob};
pub use mailbox::PostgresMailboxes;
use readers::{Dispatch, Readers};
pub use scratch::ScratchSchema;
use writer::Sharing;

/// How to run a PostgreSQL store.
#[derive(Clone, Debug)]
pub struct PostgresOptions {
    /// Reader connections (the writer and, when shared, the leadership
    /// session have one more each).
    pub readers: usize,
    /// This node is the database's only user: keep the write-through cache,
    /// lock nothing. Other nodes are refused while it runs (and it is
    /// refused while they run).
    pub single_node: bool,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            readers: 4,
            single_node: false,
        }
    }
}

/// Most resources the cache holds before it starts over.
const CACHE_CAPACITY: usize = 200_000;

pub struct PostgresStore {
    described: String,
    cache: Arc<Cache>,
    readers: Option<Readers>,
    jobs: Mutex<Option<mpsc::Sender<WriteJob>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// `None` for a single-node store, which always leads.
    leadership: Option<locks::Leadership>,
    /// Only when shared: a store of its own leaves mailboxes to the core.
    mailboxes: Option<Arc<PostgresMailboxes>>,
    /// Dropped after the threads have stopped.
    scratch: Option<ScratchSchema>,
}

impl PostgresStore {
    /// Connect to `url` (`postgres://user:password@host:port/db`), create or
    /// upgrade the schema, and start the writer and `readers` reader threads,
    /// on a database that other nodes may share.
    pub fn open(url: &str, readers: usize) -> StoreResult<PostgresStore> {
        PostgresStore::connect(
            url,
            &PostgresOptions {
                readers,
                single_node: false,
            },
        )
    }

    pub fn connect(url: &str, options: &PostgresOptions) -> StoreResult<PostgresStore> {
        let invalid = |e: ::postgres::Error| StoreError::Open(format!("invalid database URL: {e}"));
        let mut config: Config = url.parse().map_err(invalid)?;
        let mut writer_config: tokio_postgres::Config = url.parse().map_err(invalid)?;
        if config.get_application_name().is_none() {
            config.application_name("urbis");
            writer_config.application_name("urbis");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
            writer_config.connect_timeout(Duration::from_secs(10));
        }
        let described = describe(&config);
        let (sharing, cache) = match options.single_node {
            true => (
                Sharing::SingleNode,
                Cache::new(CACHE_CAPACITY, Default::default()),
            ),
            false => (Sharing::Shared, Cache::disabled()),
        };
        let cache = Arc::new(cache);
        let (jobs, writer) = writer::start(writer_config, sharing, cache.clone())?;
        let mut store = PostgresStore {
            described,
            cache,
            readers: None,
            jobs: Mutex::new(Some(jobs)),
            writer: Mutex::new(Some(writer)),
            leadership: None,
            mailboxes: None,
            scratch: None,
        };
        // On failure, dropping `store` stops the writer again.
        store.readers = Some(Readers::start(&config, options.readers.max(1))?);
        if sharing == Sharing::Shared {
            store.mailboxes = Some(Arc::new(PostgresMailboxes::start(&config)?));
            store.leadership = Some(locks::Leadership::start(config)?);
        }
        Ok(store)
    }

    /// A store in a fresh schema of the database at `base_url`, dropped with
    /// the store: for tests, the PostgreSQL twin of `SqliteStore::in_memory`.
    pub fn scratch(base_url: &str, readers: usize) -> StoreResult<PostgresStore> {
        PostgresStore::scratch_with(
            base_url,
            &PostgresOptions {
                readers,
                single_node: false,
            },
        )
    }

    pub fn scratch_with(base_url: &str, options: &PostgresOptions) -> StoreResult<PostgresStore> {
        let schema = ScratchSchema::create(base_url)?;
        let mut store = PostgresStore::connect(schema.url(), options)?;
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
        self.leadership.take();
        self.mailboxes.take();
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

    fn leads_background_work(&self) -> bool {
        self.leadership.as_ref().is_none_or(|l| l.is_leader())
    }

    fn shared_by_nodes(&self) -> bool {
        self.leadership.is_some()
    }

    fn mailboxes(&self) -> Option<Arc<dyn MailboxStore>> {
        self.mailboxes.clone().map(|m| m as Arc<dyn MailboxStore>)
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
