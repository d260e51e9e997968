//! Credentials in SQLite: a file of their own (`credentials.db`) so that the
//! resource store's writer never waits on them and `urbis credentials` can
//! change them while the server runs (WAL).

use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{Credential, CredentialKind, CredentialStore, Enrolment};
use crate::{StoreError, StoreResult};

const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS credentials (
    id          TEXT PRIMARY KEY,
    originator  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    label       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX IF NOT EXISTS credentials_by_originator ON credentials (originator, created_at);
CREATE TABLE IF NOT EXISTS enrolments (
    device        TEXT PRIMARY KEY,
    originator    TEXT NOT NULL,
    secret_hash   TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    redeemed_at   INTEGER,
    credential_id TEXT
);
";

const CREDENTIAL_COLUMNS: &str = "id, originator, kind, secret_hash, label, created_at, revoked_at";
const ENROLMENT_COLUMNS: &str =
    "device, originator, secret_hash, created_at, expires_at, redeemed_at, credential_id";

pub struct SqliteCredentials {
    conn: Mutex<Connection>,
    described: String,
}

impl SqliteCredentials {
    /// Open (or create) `dir/credentials.db`.
    pub fn open(dir: &Path) -> StoreResult<SqliteCredentials> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Open(format!("{}: {e}", dir.display())))?;
        let path: PathBuf = dir.join("credentials.db");
        let conn = Connection::open(&path)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;",
        )?;
        Self::with(conn, format!("sqlite:{}", path.display()))
    }

    /// Credentials that live as long as the process (`--in-memory`).
    pub fn in_memory() -> StoreResult<SqliteCredentials> {
        Self::with(Connection::open_in_memory()?, "sqlite::memory:".into())
    }

    fn with(conn: Connection, described: String) -> StoreResult<SqliteCredentials> {
        let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Open(format!(
                "credentials schema version {version} is newer than this binary understands ({SCHEMA_VERSION})"
            )));
        }
        conn.execute_batch(SCHEMA)?;
        conn.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
        Ok(SqliteCredentials {
            conn: Mutex::new(conn),
            described,
        })
    }
}

fn credential(row: &Row<'_>) -> rusqlite::Result<Credential> {
    let kind: String = row.get(2)?;
    Ok(Credential {
        id: row.get(0)?,
        originator: row.get(1)?,
        // an unknown kind (a newer binary wrote it) never authenticates
        kind: CredentialKind::from_name(&kind).unwrap_or(CredentialKind::Certificate),
        secret_hash: row.get(3)?,
        label: row.get(4)?,
        created_at: row.get(5)?,
        revoked_at: row.get(6)?,
    })
}

fn enrolment(row: &Row<'_>) -> rusqlite::Result<Enrolment> {
    Ok(Enrolment {
        device: row.get(0)?,
        originator: row.get(1)?,
        secret_hash: row.get(2)?,
        created_at: row.get(3)?,
        expires_at: row.get(4)?,
        redeemed_at: row.get(5)?,
        credential_id: row.get(6)?,
    })
}

fn insert_credential(conn: &Connection, c: &Credential) -> StoreResult<()> {
    let inserted = conn.execute(
        &format!("INSERT OR IGNORE INTO credentials ({CREDENTIAL_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
        params![c.id, c.originator, c.kind.name(), c.secret_hash, c.label, c.created_at, c.revoked_at],
    )?;
    if inserted == 0 {
        return Err(StoreError::Duplicate {
            what: "credential ID",
        });
    }
    Ok(())
}

impl CredentialStore for SqliteCredentials {
    fn add_credential(&self, credential: &Credential) -> StoreResult<()> {
        insert_credential(&self.conn.lock(), credential)
    }

    fn credential(&self, id: &str) -> StoreResult<Option<Credential>> {
        let conn = self.conn.lock();
        let sql = format!("SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE id = ?1");
        let found = conn
            .prepare_cached(&sql)?
            .query_row([id], credential)
            .optional()?;
        Ok(found)
    }

    fn credentials_of(&self, originator: &str) -> StoreResult<Vec<Credential>> {
        let conn = self.conn.lock();
        let sql = format!(
            "SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE originator = ?1 ORDER BY created_at, id"
        );
        let mut statement = conn.prepare_cached(&sql)?;
        let rows = statement.query_map([originator], credential)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn credentials(&self) -> StoreResult<Vec<Credential>> {
        let conn = self.conn.lock();
        let sql = format!("SELECT {CREDENTIAL_COLUMNS} FROM credentials ORDER BY created_at, id");
        let mut statement = conn.prepare(&sql)?;
        let rows = statement.query_map([], credential)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn revoke_credential(&self, id: &str, at: i64) -> StoreResult<bool> {
        let conn = self.conn.lock();
        let changed = conn.execute(
            "UPDATE credentials SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            params![id, at],
        )?;
        Ok(changed == 1)
    }

    fn revoke_originator(&self, originator: &str, at: i64) -> StoreResult<usize> {
        let conn = self.conn.lock();
        Ok(conn.execute(
            "UPDATE credentials SET revoked_at = ?2 WHERE originator = ?1 AND revoked_at IS NULL",
            params![originator, at],
        )?)
    }

    fn add_enrolment(&self, e: &Enrolment) -> StoreResult<()> {
        let conn = self.conn.lock();
        let written = conn.execute(
            &format!(
                "INSERT INTO enrolments ({ENROLMENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (device) DO UPDATE SET originator = excluded.originator,
                   secret_hash = excluded.secret_hash, created_at = excluded.created_at,
                   expires_at = excluded.expires_at
                 WHERE enrolments.redeemed_at IS NULL"
            ),
            params![
                e.device,
                e.originator,
                e.secret_hash,
                e.created_at,
                e.expires_at,
                e.redeemed_at,
                e.credential_id
            ],
        )?;
        if written == 0 {
            return Err(StoreError::Duplicate {
                what: "enrolled device",
            });
        }
        Ok(())
    }

    fn enrolment(&self, device: &str) -> StoreResult<Option<Enrolment>> {
        let conn = self.conn.lock();
        let sql = format!("SELECT {ENROLMENT_COLUMNS} FROM enrolments WHERE device = ?1");
        let found = conn
            .prepare_cached(&sql)?
            .query_row([device], enrolment)
            .optional()?;
        Ok(found)
    }

    fn enrolments(&self) -> StoreResult<Vec<Enrolment>> {
        let conn = self.conn.lock();
        let sql = format!("SELECT {ENROLMENT_COLUMNS} FROM enrolments ORDER BY created_at, device");
        let mut statement = conn.prepare(&sql)?;
        let rows = statement.query_map([], enrolment)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn redeem_enrolment(
        &self,
        device: &str,
        at: i64,
        credential: &Credential,
    ) -> StoreResult<bool> {
        let mut conn = self.conn.lock();
        let txn = conn.transaction()?;
        let claimed = txn.execute(
            "UPDATE enrolments SET redeemed_at = ?2, credential_id = ?3
             WHERE device = ?1 AND redeemed_at IS NULL AND expires_at > ?2",
            params![device, at, credential.id],
        )?;
        if claimed != 1 {
            return Ok(false);
        }
        insert_credential(&txn, credential)?;
        txn.commit()?;
        Ok(true)
    }

    fn describe(&self) -> String {
        self.described.clone()
    }
}
