//! [`MailboxStore`] on PostgreSQL: tables `mailbox` and `mailbox_answers`
//! (migration 4), on a connection of its own, owned by one thread like the
//! readers' (the synchronous client must not run on a Tokio worker).

use ::postgres::Config;

use super::conn::Sql;
use super::readers::ConnThreads;
use crate::mailbox::{MailboxStore, Posted};
use crate::StoreResult;

/// Queues unless `depth` requests of the entity wait untaken. Two nodes
/// posting at the same instant may both see `depth - 1` and both queue: the
/// limit bounds a mailbox, it is not exact under races.
const POST: &str = "INSERT INTO mailbox (entity, rqi, request, expires)
    SELECT $1, $2, $3, clock_timestamp() + $4::float8 * interval '1 millisecond'
    WHERE (SELECT count(*) FROM mailbox
           WHERE entity = $1 AND NOT taken AND expires > clock_timestamp()) < $5
    ON CONFLICT (rqi) DO UPDATE SET entity = excluded.entity, request = excluded.request,
        expires = excluded.expires, taken = false";
/// Rows locked by another node's take are skipped, not waited for: each
/// request goes to one taker.
const TAKE: &str = "UPDATE mailbox SET taken = true WHERE seq IN (
        SELECT seq FROM mailbox
        WHERE entity = $1 AND NOT taken AND expires > clock_timestamp()
        ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED)
    RETURNING seq, rqi, request";
const ANSWER: &str = "WITH waiting AS (DELETE FROM mailbox WHERE rqi = $1 RETURNING rqi)
    INSERT INTO mailbox_answers (rqi, response) SELECT rqi, $2 FROM waiting
    ON CONFLICT (rqi) DO NOTHING";
const ANSWERS: &str = "DELETE FROM mailbox_answers WHERE rqi = ANY($1) RETURNING rqi, response";
const WITHDRAW: &str = "WITH r AS (DELETE FROM mailbox WHERE rqi = $1)
    DELETE FROM mailbox_answers WHERE rqi = $1";
const SWEEP_REQUESTS: &str = "DELETE FROM mailbox WHERE expires <= clock_timestamp()";
const SWEEP_ANSWERS: &str = "DELETE FROM mailbox_answers
    WHERE created < clock_timestamp() - $1::float8 * interval '1 millisecond'";

pub struct PostgresMailboxes {
    thread: ConnThreads,
}

impl PostgresMailboxes {
    /// Connect; the tables exist (the store's writer migrated the schema).
    pub(super) fn start(config: &Config) -> StoreResult<PostgresMailboxes> {
        Ok(PostgresMailboxes {
            thread: ConnThreads::start(config, 1, "urbis-pg-mailboxes", false)?,
        })
    }
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl MailboxStore for PostgresMailboxes {
    fn post(
        &self,
        entity: &str,
        rqi: &str,
        request: &str,
        lifetime_ms: u64,
        depth: usize,
    ) -> StoreResult<bool> {
        let (entity, rqi, request) = (entity.to_owned(), rqi.to_owned(), request.to_owned());
        let lifetime = lifetime_ms as f64;
        let depth = clamp(depth as u64);
        self.thread.run(move |conn| {
            Ok(conn.execute(POST, &[&entity, &rqi, &request, &lifetime, &depth])? == 1)
        })
    }

    fn take(&self, entity: &str, limit: usize) -> StoreResult<Vec<Posted>> {
        let entity = entity.to_owned();
        let limit = clamp(limit as u64);
        self.thread.run(move |conn| {
            let rows = conn.query(TAKE, &[&entity, &limit])?;
            let mut taken = rows
                .iter()
                .map(|row| {
                    Ok((
                        row.try_get::<_, i64>(0)?,
                        Posted {
                            rqi: row.try_get(1)?,
                            request: row.try_get(2)?,
                        },
                    ))
                })
                .collect::<StoreResult<Vec<_>>>()?;
            // RETURNING keeps no order
            taken.sort_by_key(|(seq, _)| *seq);
            Ok(taken.into_iter().map(|(_, posted)| posted).collect())
        })
    }

    fn answer(&self, rqi: &str, response: &str) -> StoreResult<bool> {
        let (rqi, response) = (rqi.to_owned(), response.to_owned());
        self.thread
            .run(move |conn| Ok(conn.execute(ANSWER, &[&rqi, &response])? == 1))
    }

    fn answers(&self, rqis: &[String]) -> StoreResult<Vec<(String, String)>> {
        if rqis.is_empty() {
            return Ok(Vec::new());
        }
        let rqis = rqis.to_vec();
        self.thread.run(move |conn| {
            conn.query(ANSWERS, &[&rqis])?
                .iter()
                .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                .collect()
        })
    }

    fn withdraw(&self, rqi: &str) -> StoreResult<()> {
        let rqi = rqi.to_owned();
        self.thread
            .run(move |conn| conn.execute(WITHDRAW, &[&rqi]).map(|_| ()))
    }

    fn sweep(&self, answers_ms: u64) -> StoreResult<u64> {
        let answers = answers_ms as f64;
        self.thread.run(move |conn| {
            Ok(conn.execute(SWEEP_REQUESTS, &[])? + conn.execute(SWEEP_ANSWERS, &[&answers])?)
        })
    }
}
