//! The schema, created and upgraded by numbered migrations.
//!
//! `urbis_schema_version` holds one row per applied migration. Each migration
//! runs in one transaction together with its row, so a crash or a concurrent
//! start leaves either all of it or none: a second process starting at the
//! same time fails on the row's primary key (or on the tables it creates),
//! rolls back and finds the work done on its next look. Nodes also take an
//! advisory lock around it (`locks.rs`), so that concurrent starts do not
//! even collide.

use super::conn::Sql;
use crate::{StoreError, StoreResult};

/// Every migration in order; the last one's number is the schema version
/// this binary writes. Never edit one that has shipped: add the next.
const MIGRATIONS: &[(i32, &str)] = &[
    (1, V1),
    (2, V2),
    (3, V3),
    (4, V4),
    (5, V5),
    (6, V6),
    (7, V7),
];

/// Text columns that are compared or ranged use the "C" collation: byte
/// order, so that `path/` .. `path0` bounds exactly one subtree and `et`
/// timestamps sort as written, whatever the database's default collation.
/// The JSON attributes are kept as text: stored and returned verbatim, and
/// not queried inside (the columns above carry what is looked up), but for
/// a node's `ni` (migration 3).
const V1: &str = r#"
CREATE TABLE resources (
    seq     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ri      TEXT COLLATE "C" NOT NULL,
    pi      TEXT COLLATE "C" NOT NULL,
    ty      INTEGER NOT NULL,
    path    TEXT COLLATE "C" NOT NULL,
    et      TEXT COLLATE "C",
    creator TEXT NOT NULL,
    body    TEXT NOT NULL,
    CONSTRAINT resources_ri_key UNIQUE (ri),
    CONSTRAINT resources_path_key UNIQUE (path)
);
CREATE INDEX resources_children ON resources (pi, ty, seq);
CREATE INDEX resources_groups ON resources (seq) WHERE ty = 9;
CREATE INDEX resources_subscriptions ON resources (pi) WHERE ty = 23;
CREATE INDEX resources_expiry ON resources (et) WHERE et IS NOT NULL;
CREATE TABLE labels (
    lbl TEXT COLLATE "C" NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (lbl, seq)
);
CREATE INDEX labels_by_resource ON labels (seq);
"#;

/// The notification outbox: one row per notification and target, from the
/// commit of its event until its delivery is settled. `owner` is the pid of
/// the writer session that recorded (or took over) the row (`conn.rs`).
const V2: &str = r#"
CREATE TABLE outbox (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rqi          TEXT COLLATE "C" NOT NULL,
    owner        INTEGER NOT NULL,
    target       TEXT NOT NULL,
    body         TEXT NOT NULL,
    subscription TEXT,
    CONSTRAINT outbox_rqi_key UNIQUE (rqi)
);
"#;

/// `<node>` resources by their `ni` (nodeID), which must be unique: the
/// one lookup inside the JSON attributes. `body` stays text, so the index is
/// on an expression (immutable, as an index needs), which `conn.rs` repeats
/// verbatim in its query. `jsonb` refuses the escape `\u0000` anywhere in a
/// document, which would make a node carrying a NUL in any attribute
/// impossible to store (and fail its whole write group); the escape is
/// therefore rewritten to `\ufffd` first. That keeps the JSON valid whatever
/// precedes it (an escaped backslash before `u0000` leaves plain letters) and
/// changes only the indexed value of an `ni` holding a NUL, which the lookup
/// maps the same way and then compares exactly. Only nodes (`ty = 14`) are
/// indexed, and only their bodies are parsed.
const V3: &str = r#"
CREATE INDEX resources_node_ids ON resources
    ((replace(body, E'\\u0000', E'\\ufffd')::jsonb ->> 'ni')) WHERE ty = 14;
"#;

/// The mailboxes of `<pollingChannel>`s, when nodes share the database
/// (`mailbox.rs`): requests waiting for a polled entity (`taken` once a node
/// handed them out, until answered or withdrawn) and the entities' answers
/// until the sender's node picks them up.
const V4: &str = r#"
CREATE TABLE mailbox (
    seq     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entity  TEXT COLLATE "C" NOT NULL,
    rqi     TEXT COLLATE "C" NOT NULL,
    request TEXT NOT NULL,
    expires TIMESTAMPTZ NOT NULL,
    taken   BOOLEAN NOT NULL DEFAULT false,
    CONSTRAINT mailbox_rqi_key UNIQUE (rqi)
);
CREATE INDEX mailbox_waiting ON mailbox (entity, seq) WHERE NOT taken;
CREATE INDEX mailbox_expiry ON mailbox (expires);
CREATE TABLE mailbox_answers (
    rqi      TEXT COLLATE "C" PRIMARY KEY,
    response TEXT NOT NULL,
    created  TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
"#;

/// `<timeSeries>` resources, which the leader lists to time their
/// missing-data watches (`of_type(29)`), without reading the whole table.
const V5: &str = "CREATE INDEX resources_time_series ON resources (seq) WHERE ty = 29";

/// `<timeSeriesInstance>`s by series and `dgt` (unique within a series), on
/// the same NUL-safe expression as `ni` (migration 3).
const V6: &str = r#"
CREATE INDEX resources_instance_times ON resources
    (pi, (replace(body, E'\\u0000', E'\\ufffd')::jsonb ->> 'dgt')) WHERE ty = 30;
"#;

/// Events waiting in a subscription's notification batch (`bn`), written
/// by the job of each event on whichever node, so that a batch fills across
/// nodes and survives them (`core/src/batch.rs`).
const V7: &str = r#"
CREATE TABLE batch_items (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription TEXT COLLATE "C" NOT NULL,
    added_ms     BIGINT NOT NULL,
    item         TEXT NOT NULL
);
CREATE INDEX batch_items_by_subscription ON batch_items (subscription, seq);
"#;

const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS urbis_schema_version (
    version    INTEGER PRIMARY KEY,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)";

/// Bring the schema up to date. Retries a few times, for a concurrent start.
pub(super) fn migrate<C: Sql>(conn: &mut C) -> StoreResult<()> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match migrate_once(conn) {
            Ok(()) => return Ok(()),
            Err(err @ StoreError::Open(_)) => return Err(err),
            Err(err) if attempt >= 3 => {
                return Err(StoreError::Open(format!("schema migration failed: {err}")))
            }
            Err(err) => {
                tracing::warn!(%err, "schema migration failed; trying again");
                let _ = conn.batch("ROLLBACK");
                std::thread::sleep(std::time::Duration::from_millis(200 * attempt));
            }
        }
    }
}

fn migrate_once<C: Sql>(conn: &mut C) -> StoreResult<()> {
    conn.batch(VERSION_TABLE)?;
    let newest = MIGRATIONS.last().map_or(0, |(v, _)| *v);
    let rows = conn.query("SELECT max(version) FROM urbis_schema_version", &[])?;
    let current: i32 = match rows.first() {
        Some(row) => row.try_get::<_, Option<i32>>(0)?.unwrap_or(0),
        None => 0,
    };
    if current > newest {
        return Err(StoreError::Open(format!(
            "store schema version {current} is newer than this binary understands ({newest})"
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        conn.batch("BEGIN")?;
        conn.batch(sql)?;
        conn.execute(
            "INSERT INTO urbis_schema_version (version) VALUES ($1)",
            &[version],
        )?;
        conn.batch("COMMIT")?;
        tracing::info!(version, "store schema migrated");
    }
    Ok(())
}
