//! Throw-away schemas, so that tests can share one database and run in
//! parallel: each gets a schema of its own, named in the connection's
//! `search_path`, and dropped when the [`ScratchSchema`] is dropped.

use std::sync::atomic::{AtomicU32, Ordering};

use ::postgres::{Config, NoTls};

use crate::{StoreError, StoreResult};

pub struct ScratchSchema {
    base: Config,
    name: String,
    url: String,
}

impl ScratchSchema {
    /// Create a fresh schema on the database at `base_url`.
    pub fn create(base_url: &str) -> StoreResult<ScratchSchema> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let base: Config = base_url
            .parse()
            .map_err(|e| StoreError::Open(format!("invalid database URL: {e}")))?;
        let name = format!(
            "urbis_test_{}_{}_{:08x}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            fastrand::u32(..)
        );
        // `name` is made of [a-z0-9_] only, so it needs no quoting.
        run(&base, format!("CREATE SCHEMA {name}"))?;
        let separator = if base_url.contains('?') { '&' } else { '?' };
        // The schema's name as application name too, so a test can find its
        // store's sessions in pg_stat_activity.
        let url = format!(
            "{base_url}{separator}options=-c%20search_path%3D{name}&application_name={name}"
        );
        Ok(ScratchSchema { base, name, url })
    }

    /// A database URL whose connections work in this schema.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for ScratchSchema {
    fn drop(&mut self) {
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name);
        if let Err(err) = run(&self.base, sql) {
            tracing::warn!(%err, schema = %self.name, "cannot drop a scratch schema");
        }
    }
}

/// One statement on a connection of its own, on a thread of its own: the
/// caller may be inside a Tokio runtime, where the `postgres` client panics.
fn run(config: &Config, sql: String) -> StoreResult<()> {
    let config = config.clone();
    std::thread::spawn(move || -> StoreResult<()> {
        let mut client = config.connect(NoTls)?;
        client.batch_execute(&sql)?;
        Ok(())
    })
    .join()
    .map_err(|_| StoreError::Open("a scratch schema statement panicked".into()))?
}
