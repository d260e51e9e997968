//! Credentials in PostgreSQL, in the resource store's database. The client
//! is synchronous and must not run on a Tokio worker, so one thread owns the
//! connection and callers hand it statements and wait, as for store reads.

use std::sync::mpsc;
use std::time::Duration;

use ::postgres::{Client, Config, GenericClient, NoTls, Row};
use parking_lot::Mutex;

use super::{Credential, CredentialKind, CredentialStore, Enrolment};
use crate::{StoreError, StoreResult};

/// Migrations of these tables, in order (see `postgres/schema.rs` for the
/// pattern); their own version table keeps them apart from the resource
/// store's.
const MIGRATIONS: &[(i32, &str)] = &[(1, V1)];

const V1: &str = r#"
CREATE TABLE urbis_credentials (
    id          TEXT COLLATE "C" PRIMARY KEY,
    originator  TEXT COLLATE "C" NOT NULL,
    kind        TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    label       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX urbis_credentials_by_originator ON urbis_credentials (originator, created_at);
CREATE TABLE urbis_enrolments (
    device        TEXT COLLATE "C" PRIMARY KEY,
    originator    TEXT COLLATE "C" NOT NULL,
    secret_hash   TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    redeemed_at   BIGINT,
    credential_id TEXT
);
"#;

const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS urbis_credentials_schema_version (
    version    INTEGER PRIMARY KEY,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)";

const CREDENTIAL_COLUMNS: &str = "id, originator, kind, secret_hash, label, created_at, revoked_at";
const ENROLMENT_COLUMNS: &str =
    "device, originator, secret_hash, created_at, expires_at, redeemed_at, credential_id";

type Job = Box<dyn FnOnce(&mut Client) + Send>;

pub struct PostgresCredentials {
    jobs: Mutex<mpsc::Sender<Job>>,
    described: String,
}

impl PostgresCredentials {
    /// Connect to `url` and create or upgrade the tables.
    pub fn open(url: &str) -> StoreResult<PostgresCredentials> {
        let mut config: Config = url
            .parse()
            .map_err(|e| StoreError::Open(format!("invalid database URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        let described = format!("postgres:{}", crate::postgres::describe_url(url));
        let (jobs, rx) = mpsc::channel::<Job>();
        let (ready, started) = mpsc::channel();
        std::thread::Builder::new()
            .name("urbis-credentials".into())
            .spawn(move || {
                let client = config.connect(NoTls).map_err(StoreError::from);
                let mut client = match client.and_then(|mut c| migrate(&mut c).map(|()| c)) {
                    Ok(client) => {
                        let _ = ready.send(Ok(()));
                        client
                    }
                    Err(err) => {
                        let _ = ready.send(Err(err));
                        return;
                    }
                };
                for job in rx {
                    if client.is_closed() {
                        match config.connect(NoTls) {
                            Ok(fresh) => client = fresh,
                            Err(err) => tracing::warn!(%err, "credentials: reconnect failed"),
                        }
                    }
                    job(&mut client);
                }
            })
            .map_err(|e| StoreError::Open(format!("cannot start the credentials thread: {e}")))?;
        started
            .recv()
            .map_err(|_| StoreError::Open("the credentials thread stopped".into()))??;
        Ok(PostgresCredentials {
            jobs: Mutex::new(jobs),
            described,
        })
    }

    /// Run `f` on the connection's thread and wait for its result.
    fn run<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Client) -> StoreResult<T> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel();
        let job: Job = Box::new(move |client| {
            let _ = tx.send(f(client));
        });
        self.jobs.lock().send(job).map_err(|_| StoreError::Closed)?;
        rx.recv().map_err(|_| StoreError::Closed)?
    }
}

fn migrate(client: &mut Client) -> StoreResult<()> {
    client.batch_execute(VERSION_TABLE)?;
    let current: i32 = client
        .query_one(
            "SELECT coalesce(max(version), 0) FROM urbis_credentials_schema_version",
            &[],
        )?
        .try_get(0)?;
    let newest = MIGRATIONS.last().map_or(0, |(v, _)| *v);
    if current > newest {
        return Err(StoreError::Open(format!(
            "credentials schema version {current} is newer than this binary understands ({newest})"
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        let mut txn = client.transaction()?;
        txn.batch_execute(sql)?;
        txn.execute(
            "INSERT INTO urbis_credentials_schema_version (version) VALUES ($1)",
            &[version],
        )?;
        txn.commit()?;
    }
    Ok(())
}

fn credential(row: &Row) -> StoreResult<Credential> {
    let kind: String = row.try_get(2)?;
    Ok(Credential {
        id: row.try_get(0)?,
        originator: row.try_get(1)?,
        // an unknown kind (a newer binary wrote it) never authenticates
        kind: CredentialKind::from_name(&kind).unwrap_or(CredentialKind::Certificate),
        secret_hash: row.try_get(3)?,
        label: row.try_get(4)?,
        created_at: row.try_get(5)?,
        revoked_at: row.try_get(6)?,
    })
}

fn enrolment(row: &Row) -> StoreResult<Enrolment> {
    Ok(Enrolment {
        device: row.try_get(0)?,
        originator: row.try_get(1)?,
        secret_hash: row.try_get(2)?,
        created_at: row.try_get(3)?,
        expires_at: row.try_get(4)?,
        redeemed_at: row.try_get(5)?,
        credential_id: row.try_get(6)?,
    })
}

fn insert_credential(client: &mut impl GenericClient, c: &Credential) -> StoreResult<()> {
    let inserted = client.execute(
        &format!(
            "INSERT INTO urbis_credentials ({CREDENTIAL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (id) DO NOTHING"
        ),
        &[
            &c.id,
            &c.originator,
            &c.kind.name(),
            &c.secret_hash,
            &c.label,
            &c.created_at,
            &c.revoked_at,
        ],
    )?;
    if inserted == 0 {
        return Err(StoreError::Duplicate {
            what: "credential ID",
        });
    }
    Ok(())
}

impl CredentialStore for PostgresCredentials {
    fn add_credential(&self, credential: &Credential) -> StoreResult<()> {
        let credential = credential.clone();
        self.run(move |client| insert_credential(client, &credential))
    }

    fn credential(&self, id: &str) -> StoreResult<Option<Credential>> {
        let id = id.to_owned();
        self.run(move |client| {
            let sql = format!("SELECT {CREDENTIAL_COLUMNS} FROM urbis_credentials WHERE id = $1");
            client
                .query_opt(&sql, &[&id])?
                .as_ref()
                .map(credential)
                .transpose()
        })
    }

    fn credentials_of(&self, originator: &str) -> StoreResult<Vec<Credential>> {
        let originator = originator.to_owned();
        self.run(move |client| {
            let sql = format!(
                "SELECT {CREDENTIAL_COLUMNS} FROM urbis_credentials WHERE originator = $1 ORDER BY created_at, id"
            );
            client.query(&sql, &[&originator])?.iter().map(credential).collect()
        })
    }

    fn credentials(&self) -> StoreResult<Vec<Credential>> {
        self.run(move |client| {
            let sql = format!(
                "SELECT {CREDENTIAL_COLUMNS} FROM urbis_credentials ORDER BY created_at, id"
            );
            client.query(&sql, &[])?.iter().map(credential).collect()
        })
    }

    fn revoke_credential(&self, id: &str, at: i64) -> StoreResult<bool> {
        let id = id.to_owned();
        self.run(move |client| {
            let changed = client.execute(
                "UPDATE urbis_credentials SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                &[&id, &at],
            )?;
            Ok(changed == 1)
        })
    }

    fn revoke_originator(&self, originator: &str, at: i64) -> StoreResult<usize> {
        let originator = originator.to_owned();
        self.run(move |client| {
            let changed = client.execute(
                "UPDATE urbis_credentials SET revoked_at = $2 WHERE originator = $1 AND revoked_at IS NULL",
                &[&originator, &at],
            )?;
            Ok(changed as usize)
        })
    }

    fn add_enrolment(&self, e: &Enrolment) -> StoreResult<()> {
        let e = e.clone();
        self.run(move |client| {
            let written = client.execute(
                &format!(
                    "INSERT INTO urbis_enrolments ({ENROLMENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)
                     ON CONFLICT (device) DO UPDATE SET originator = excluded.originator,
                       secret_hash = excluded.secret_hash, created_at = excluded.created_at,
                       expires_at = excluded.expires_at
                     WHERE urbis_enrolments.redeemed_at IS NULL"
                ),
                &[
                    &e.device,
                    &e.originator,
                    &e.secret_hash,
                    &e.created_at,
                    &e.expires_at,
                    &e.redeemed_at,
                    &e.credential_id,
                ],
            )?;
            if written == 0 {
                return Err(StoreError::Duplicate {
                    what: "enrolled device",
                });
            }
            Ok(())
        })
    }

    fn enrolment(&self, device: &str) -> StoreResult<Option<Enrolment>> {
        let device = device.to_owned();
        self.run(move |client| {
            let sql = format!("SELECT {ENROLMENT_COLUMNS} FROM urbis_enrolments WHERE device = $1");
            client
                .query_opt(&sql, &[&device])?
                .as_ref()
                .map(enrolment)
                .transpose()
        })
    }

    fn enrolments(&self) -> StoreResult<Vec<Enrolment>> {
        self.run(move |client| {
            let sql = format!(
                "SELECT {ENROLMENT_COLUMNS} FROM urbis_enrolments ORDER BY created_at, device"
            );
            client.query(&sql, &[])?.iter().map(enrolment).collect()
        })
    }

    fn redeem_enrolment(
        &self,
        device: &str,
        at: i64,
        credential: &Credential,
    ) -> StoreResult<bool> {
        let (device, credential) = (device.to_owned(), credential.clone());
        self.run(move |client| {
            let mut txn = client.transaction()?;
            let claimed = txn.execute(
                "UPDATE urbis_enrolments SET redeemed_at = $2, credential_id = $3
                 WHERE device = $1 AND redeemed_at IS NULL AND expires_at > $2",
                &[&device, &at, &credential.id],
            )?;
            if claimed != 1 {
                return Ok(false);
            }
            insert_credential(&mut txn, &credential)?;
            txn.commit()?;
            Ok(true)
        })
    }

    fn describe(&self) -> String {
        self.described.clone()
    }
}
