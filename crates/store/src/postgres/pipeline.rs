//! The writer's connection: statements are pipelined.
//!
//! Transaction control (`BEGIN`, `SAVEPOINT`, `RELEASE`) is not sent on its
//! own: it is queued and goes out in the same write as the next statement,
//! and the answers of all of them are read together. A job whose first
//! statement is its INSERT therefore costs one round trip, savepoint
//! included, and a group's deferred updates travel with its COMMIT.
//!
//! The connection is `tokio-postgres` on a current-thread runtime owned by
//! the writer thread (the synchronous client cannot pipeline); the thread
//! blocks on each exchange, so jobs stay synchronous.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use ::postgres::types::ToSql;
use ::postgres::{Row, Statement};
use tokio::runtime::Runtime;
use tokio_postgres::{Client, Config, NoTls};

use super::conn::{classify, durability_advice, session_ended, Sql};
use crate::{StoreError, StoreResult};

/// Every statement the writer sends reaches its rows through an index, and
/// its prepared statements live as long as the session. A generic plan made
/// while the table was small (a fresh database: a hash join over a sequential
/// scan for the group's `UPDATE ... FROM unnest(...)`) stays cached while the
/// table grows, until an autovacuum ANALYZE replaces it; on a fresh database
/// that took creates from 4,300/s to 1,300/s within 30 s. Without these
/// planner choices the index paths are the only ones left; a statement with
/// no index path still runs (the settings only price the others out).
const WRITER_PLANNER: &str =
    "SET enable_seqscan = off; SET enable_hashjoin = off; SET enable_mergejoin = off";

/// Owned parameters of a queued statement.
pub(super) type Params = Vec<Box<dyn ToSql + Sync + Send>>;

/// A statement waiting to go out ahead of the next one.
pub(super) enum Queued {
    Simple(&'static str),
    /// A prepared statement answering one row with a count, which must be
    /// `expect`; otherwise the exchange fails with `mismatch`.
    Counted {
        sql: &'static str,
        params: Params,
        expect: i64,
        mismatch: fn() -> StoreError,
    },
}

type Answer<'a> = Pin<Box<dyn Future<Output = Result<Reply, ::postgres::Error>> + 'a>>;

/// What the main statement of an exchange answered.
pub(super) enum Reply {
    Rows(Vec<Row>),
    Count(u64),
    /// A queued statement counted something else than expected.
    Mismatch(fn() -> StoreError),
}

impl Reply {
    fn rows(self) -> Vec<Row> {
        match self {
            Reply::Rows(rows) => rows,
            Reply::Count(_) | Reply::Mismatch(_) => Vec::new(),
        }
    }
    fn count(self) -> u64 {
        match self {
            Reply::Rows(rows) => rows.len() as u64,
            Reply::Count(n) => n,
            Reply::Mismatch(_) => 0,
        }
    }
}

pub(super) struct Pipeline {
    config: Config,
    runtime: Runtime,
    client: Option<Client>,
    statements: HashMap<String, Statement>,
    /// Statements to send ahead of the next statement.
    queued: Vec<Queued>,
    /// Run once on every new session (advisory locks a node holds).
    on_connect: Vec<String>,
    /// A statement failed inside the open transaction: PostgreSQL refuses
    /// everything but a rollback until then. Mirrors the server's state so
    /// that a job which swallowed an error is not reported as committed.
    pub(super) failed: bool,
    /// Work of jobs already kept did not happen (a pending insert found its
    /// row taken): the transaction must not commit, whatever a job's
    /// savepoint undoes afterwards. Cleared only when the transaction ends.
    pub(super) doomed: bool,
}

impl Pipeline {
    pub(super) fn open(config: Config) -> StoreResult<Pipeline> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Open(format!("cannot start the writer's runtime: {e}")))?;
        let mut pipeline = Pipeline {
            config,
            runtime,
            client: None,
            statements: HashMap::new(),
            queued: Vec::new(),
            on_connect: Vec::new(),
            failed: false,
            doomed: false,
        };
        pipeline.ready()?;
        Ok(pipeline)
    }

    /// A query answering one boolean that must be true on this session and
    /// on every later one (an advisory lock the node holds): run it now.
    pub(super) fn on_every_session(&mut self, sql: String) -> StoreResult<()> {
        let client = self.client.as_ref().ok_or_else(not_connected)?;
        check(&self.runtime, client, &sql)?;
        self.on_connect.push(sql);
        Ok(())
    }

    /// Reconnect if the session is gone. Call only between transactions: a
    /// new session must never carry on half a job.
    pub(super) fn ready(&mut self) -> StoreResult<()> {
        if self.client.as_ref().is_some_and(|c| !c.is_closed()) {
            return Ok(());
        }
        self.client = None;
        self.statements.clear();
        self.queued.clear();
        self.failed = false;
        self.doomed = false;
        let config = self.config.clone();
        let client = self.runtime.block_on(async move {
            let (client, connection) = config.connect(NoTls).await?;
            tokio::spawn(async move {
                if let Err(err) = connection.await {
                    tracing::debug!(%err, "the writer's PostgreSQL session ended");
                }
            });
            Ok::<_, ::postgres::Error>(client)
        })?;
        let show = |name: &str| -> Option<String> {
            let rows = self
                .runtime
                .block_on(client.query_one(&format!("SHOW {name}"), &[]))
                .ok()?;
            rows.try_get::<_, String>(0).ok()
        };
        let (synchronous_commit, fsync) = (show("synchronous_commit"), show("fsync"));
        if let Some(fix) = durability_advice(synchronous_commit.as_deref(), fsync.as_deref()) {
            self.runtime.block_on(client.batch_execute(fix))?;
        }
        self.runtime
            .block_on(client.batch_execute(WRITER_PLANNER))?;
        for sql in &self.on_connect {
            check(&self.runtime, &client, sql)?;
        }
        self.client = Some(client);
        Ok(())
    }

    /// Send `sql` ahead of the next statement.
    pub(super) fn queue(&mut self, sql: &'static str) {
        self.queued.push(Queued::Simple(sql));
    }

    pub(super) fn queue_statement(&mut self, statement: Queued) {
        self.queued.push(statement);
    }

    /// Forget what is queued (the transaction is being abandoned).
    pub(super) fn drop_queued(&mut self) {
        self.queued.clear();
    }

    /// Fails when the open transaction can no longer commit.
    pub(super) fn usable(&self) -> StoreResult<()> {
        if self.failed || self.doomed {
            return Err(StoreError::Transaction(
                "a statement failed in this transaction".into(),
            ));
        }
        Ok(())
    }

    fn prepared(&mut self, sql: &str) -> StoreResult<Statement> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let client = self.client.as_ref().ok_or_else(not_connected)?;
        let result = self.runtime.block_on(client.prepare(sql));
        let statement = self.note(result)?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    /// The queued statements, then `main` (if any), then `after` (if any), in
    /// one exchange. Returns `main`'s rows; the first failure in that order
    /// is the error.
    pub(super) fn send(
        &mut self,
        main: Option<(&str, &[&(dyn ToSql + Sync)])>,
        after: Option<&'static str>,
    ) -> StoreResult<Vec<Row>> {
        self.exchange(main, false, after).map(Reply::rows)
    }

    fn exchange(
        &mut self,
        main: Option<(&str, &[&(dyn ToSql + Sync)])>,
        count: bool,
        after: Option<&'static str>,
    ) -> StoreResult<Reply> {
        let statement = match main {
            Some((sql, _)) => Some(self.prepared(sql)?),
            None => None,
        };
        let queued = std::mem::take(&mut self.queued);
        let mut prepared_queued = Vec::with_capacity(queued.len());
        for item in &queued {
            prepared_queued.push(match item {
                Queued::Counted { sql, .. } => Some(self.prepared(sql)?),
                Queued::Simple(_) => None,
            });
        }
        let client = self.client.as_ref().ok_or_else(not_connected)?;
        let mut answers: Vec<Answer<'_>> = Vec::with_capacity(queued.len() + 2);
        for (item, statement) in queued.iter().zip(&prepared_queued) {
            match (item, statement) {
                (
                    Queued::Counted {
                        params,
                        expect,
                        mismatch,
                        ..
                    },
                    Some(statement),
                ) => {
                    let (expect, mismatch) = (*expect, *mismatch);
                    answers.push(Box::pin(async move {
                        let refs: Vec<&(dyn ToSql + Sync)> =
                            params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect();
                        let row = client.query_one(statement, &refs).await?;
                        let counted: i64 = row.try_get(0)?;
                        Ok(match counted == expect {
                            true => Reply::Count(0),
                            false => Reply::Mismatch(mismatch),
                        })
                    }));
                }
                (Queued::Simple(sql), _) | (Queued::Counted { sql, .. }, None) => {
                    let sql: &'static str = sql;
                    answers.push(Box::pin(async move {
                        client.batch_execute(sql).await.map(|()| Reply::Count(0))
                    }));
                }
            }
        }
        let main_at = answers.len();
        if let (Some(statement), Some((_, params))) = (statement.as_ref(), main) {
            answers.push(match count {
                true => {
                    Box::pin(
                        async move { client.execute(statement, params).await.map(Reply::Count) },
                    )
                }
                false => {
                    Box::pin(async move { client.query(statement, params).await.map(Reply::Rows) })
                }
            });
        }
        if let Some(sql) = after {
            answers.push(Box::pin(async move {
                client.batch_execute(sql).await.map(|()| Reply::Count(0))
            }));
        }
        // join_all polls in order, and each request is written when first
        // polled: the server receives them in this order, in one go.
        let outcomes = self
            .runtime
            .block_on(futures_util::future::join_all(answers));
        let mut reply = Reply::Count(0);
        let mut first_error = None;
        let mut mismatch = None;
        for (i, outcome) in outcomes.into_iter().enumerate() {
            match outcome {
                Ok(found) if i == main_at => reply = found,
                Ok(Reply::Mismatch(error)) => {
                    if first_error.is_none() {
                        mismatch.get_or_insert(error);
                    }
                }
                Ok(_) => {}
                Err(err) => {
                    if mismatch.is_none() {
                        first_error.get_or_insert(err);
                    }
                }
            }
        }
        if let Some(error) = mismatch {
            // the transaction holds work that must not commit
            self.failed = true;
            self.doomed = true;
            return Err(error());
        }
        match first_error {
            Some(err) => self.note(Err(err)),
            None => Ok(reply),
        }
    }

    fn note<T>(&mut self, result: Result<T, ::postgres::Error>) -> StoreResult<T> {
        result.map_err(|err| {
            self.failed = true;
            if session_ended(&err) {
                self.client = None;
            }
            classify(err)
        })
    }
}

fn check(runtime: &Runtime, client: &Client, sql: &str) -> StoreResult<()> {
    let row = runtime.block_on(client.query_one(sql, &[]))?;
    match row.try_get::<_, bool>(0)? {
        true => Ok(()),
        false => Err(StoreError::Open(format!("refused: {sql}"))),
    }
}

fn not_connected() -> StoreError {
    StoreError::Open("not connected to PostgreSQL".into())
}

impl Sql for Pipeline {
    fn query(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<Vec<Row>> {
        self.send(Some((sql, params)), None)
    }

    fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<u64> {
        self.exchange(Some((sql, params)), true, None)
            .map(Reply::count)
    }

    fn batch(&mut self, sql: &str) -> StoreResult<()> {
        if self
            .queued
            .iter()
            .any(|q| matches!(q, Queued::Counted { .. }))
        {
            return self.send(None, None).and_then(|_| self.batch(sql));
        }
        let queued = std::mem::take(&mut self.queued);
        let client = self.client.as_ref().ok_or_else(not_connected)?;
        let mut all = String::new();
        for q in queued {
            if let Queued::Simple(q) = q {
                all.push_str(q);
                all.push_str(";\n");
            }
        }
        all.push_str(sql);
        let result = self.runtime.block_on(client.batch_execute(&all));
        self.note(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postgres::{schema, ScratchSchema};

    /// The group's deferred updates on a fresh (empty, never analyzed) table,
    /// planned generically as a long-lived prepared statement is: without the
    /// writer's planner settings this is a hash join over a sequential scan,
    /// which then stays cached while the table grows.
    #[test]
    fn the_writer_reaches_rows_by_index_on_a_fresh_table() {
        let Ok(url) = std::env::var("URBIS_TEST_DATABASE_URL") else {
            eprintln!("!! URBIS_TEST_DATABASE_URL not set: the writer plan test did NOT run !!");
            return;
        };
        let scratch = ScratchSchema::create(&url).expect("scratch schema");
        let config: Config = scratch.url().parse().expect("scratch URL");
        let mut writer = Pipeline::open(config).expect("writer session");
        schema::migrate(&mut writer).expect("migrated");
        let update = super::super::conn::UPDATE_MANY;
        let prepare = format!(
            "SET plan_cache_mode = force_generic_plan;
             PREPARE deferred(text[], text[], text[]) AS {update}"
        );
        writer.batch(&prepare).expect("prepared");
        let rows = writer
            .query("EXPLAIN EXECUTE deferred('{a}', '{b}', '{c}')", &[])
            .expect("explained");
        let plan: Vec<String> = rows.iter().map(|row| row.get::<_, String>(0)).collect();
        let plan = plan.join("\n");
        assert!(
            plan.contains("Index Scan") && !plan.contains("Seq Scan"),
            "the writer's update must use the ri index:\n{plan}"
        );
    }
}
