//! The same checks on every store: SQLite (in memory and on disk) always,
//! PostgreSQL when URBIS_TEST_DATABASE_URL names a database (.ci/run sets it;
//! without it these tests say loudly that they did not run).

use std::sync::Arc;

use serde_json::json;
use urbis_model::{Attrs, CseError, Resource, Rsc};
use urbis_store::postgres::{PostgresStore, ScratchSchema};
use urbis_store::sqlite::SqliteStore;
use urbis_store::{write, OutboxEntry, Store};

mod common;

fn resource(ri: &str, pi: &str, ty: u32, path: &str, extra: serde_json::Value) -> Resource {
    let mut attrs = Attrs::new();
    attrs.insert("ri".into(), json!(ri));
    attrs.insert("pi".into(), json!(pi));
    attrs.insert("rn".into(), json!(path.rsplit('/').next().unwrap()));
    attrs.insert("ty".into(), json!(ty));
    if let serde_json::Value::Object(extra) = extra {
        attrs.extend(extra);
    }
    Resource {
        ty,
        path: path.into(),
        creator: "CAdmin".into(),
        attrs,
    }
}

fn database_url() -> Option<String> {
    common::database_url("PostgreSQL store tests")
}

fn postgres() -> Option<PostgresStore> {
    let url = database_url()?;
    Some(PostgresStore::scratch(&url, 2).expect("PostgreSQL scratch store"))
}

async fn seed(store: &dyn Store) {
    write(store, |txn| {
        txn.insert(&resource("id-in", "", 5, "cse-in", json!({})))?;
        txn.insert(&resource(
            "ae1",
            "id-in",
            2,
            "cse-in/ae1",
            json!({"lbl": ["a", "b"]}),
        ))?;
        txn.insert(&resource(
            "cnt1",
            "ae1",
            3,
            "cse-in/ae1/cnt",
            json!({"et": "20990101T000000,000000"}),
        ))?;
        for i in 0..5 {
            txn.insert(&resource(
                &format!("cin{i}"),
                "cnt1",
                4,
                &format!("cse-in/ae1/cnt/cin{i}"),
                json!({}),
            ))?;
        }
        txn.insert(&resource(
            "old",
            "id-in",
            3,
            "cse-in/old",
            json!({"et": "20000101T000000,000000"}),
        ))?;
        // a sibling whose path shares a prefix with ae1's subtree bounds
        txn.insert(&resource("ae1x", "id-in", 2, "cse-in/ae1-x", json!({})))?;
        Ok(())
    })
    .await
    .unwrap();
}

async fn exercise(store: &dyn Store) {
    seed(store).await;
    let reader = store.reader().unwrap();
    assert_eq!(reader.get("ae1").unwrap().unwrap().path, "cse-in/ae1");
    assert_eq!(
        reader.get_by_path("cse-in/ae1/cnt").unwrap().unwrap().ri(),
        "cnt1"
    );
    assert_eq!(
        reader.edge_child("cnt1", 4, true).unwrap().unwrap().ri(),
        "cin4"
    );
    assert_eq!(
        reader.edge_child("cnt1", 4, false).unwrap().unwrap().ri(),
        "cin0"
    );
    assert_eq!(reader.count_children("cnt1", 4).unwrap(), 5);
    // the stored JSON of each child, in any order, as the attributes it holds
    let mut scanned = Vec::new();
    reader
        .scan_children_json("cnt1", 4, &mut |json| {
            let attrs: serde_json::Value = serde_json::from_str(json).expect("stored JSON");
            scanned.push(attrs["ri"].as_str().unwrap_or("").to_owned());
        })
        .unwrap();
    scanned.sort();
    assert_eq!(scanned, ["cin0", "cin1", "cin2", "cin3", "cin4"]);
    let mut none = 0;
    reader
        .scan_children_json("cnt1", 23, &mut |_| none += 1)
        .unwrap();
    assert_eq!(none, 0);
    let children: Vec<String> = reader
        .children("id-in", None)
        .unwrap()
        .iter()
        .map(|r| r.ri().to_owned())
        .collect();
    assert_eq!(children, ["ae1", "old", "ae1x"], "creation order");
    assert_eq!(reader.children("id-in", Some(3)).unwrap().len(), 1);
    let below: Vec<String> = reader
        .descendants("cse-in/ae1")
        .unwrap()
        .iter()
        .map(|r| r.ri().to_owned())
        .collect();
    assert_eq!(below, ["cnt1", "cin0", "cin1", "cin2", "cin3", "cin4"]);
    let without_instances: Vec<String> = reader
        .descendants_except("cse-in/ae1", &[4, 30])
        .unwrap()
        .iter()
        .map(|r| r.ri().to_owned())
        .collect();
    assert_eq!(without_instances, ["cnt1"]);
    let mut ids = reader.descendant_ids("cse-in/ae1").unwrap();
    ids.sort();
    assert_eq!(ids, ["cin0", "cin1", "cin2", "cin3", "cin4", "cnt1"]);
    assert_eq!(
        reader.descendants_with_label("cse-in", "b").unwrap()[0].ri(),
        "ae1"
    );
    let expired = reader.expired("20260101T000000,000000", 10).unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].ri(), "old");
    assert!(reader.of_type(9).unwrap().is_empty());
    drop(reader);

    // A failing job leaves nothing behind.
    let failed: Result<(), CseError> = write(store, |txn| {
        txn.insert(&resource("half", "id-in", 3, "cse-in/half", json!({})))?;
        Err(CseError::bad_request("late validation failure"))
    })
    .await;
    assert!(failed.is_err());
    assert!(store.reader().unwrap().get("half").unwrap().is_none());

    let dup = write(store, |txn| {
        Ok(txn.insert(&resource("x", "id-in", 3, "cse-in/ae1", json!({})))?)
    })
    .await;
    assert_eq!(dup.unwrap_err().rsc, Rsc::Conflict);
    let dup = write(store, |txn| {
        Ok(txn.insert(&resource("ae1", "id-in", 3, "cse-in/other", json!({})))?)
    })
    .await;
    assert_eq!(dup.unwrap_err().rsc, Rsc::Conflict);

    // Labels are rewritten only when asked.
    write(store, |txn| {
        let mut ae = txn.get("ae1")?.unwrap();
        ae.set("lbl", json!(["b", "c"]));
        txn.update(&ae, true)?;
        Ok(())
    })
    .await
    .unwrap();
    let reader = store.reader().unwrap();
    assert!(reader
        .descendants_with_label("cse-in", "a")
        .unwrap()
        .is_empty());
    assert_eq!(
        reader.descendants_with_label("cse-in", "c").unwrap()[0].ri(),
        "ae1"
    );
    assert_eq!(reader.get("ae1").unwrap().unwrap().labels(), ["b", "c"]);
    drop(reader);

    let deleted = write(store, |txn| Ok(txn.delete_tree("cse-in/ae1")?))
        .await
        .unwrap();
    assert_eq!(deleted, 7);
    let reader = store.reader().unwrap();
    assert!(reader.get("cin3").unwrap().is_none());
    assert!(reader.get("ae1x").unwrap().is_some(), "sibling survives");
    assert!(reader
        .descendants_with_label("cse-in", "b")
        .unwrap()
        .is_empty());
}

/// Concurrent jobs share group commits; the failing ones (name clashes) are
/// rolled back alone.
async fn grouped_writes(store: Arc<dyn Store>) {
    seed(store.as_ref()).await;
    let mut tasks = Vec::new();
    for i in 0..200 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            write(store.as_ref(), move |txn| {
                // every fifth job clashes with an existing name
                let rn = if i % 5 == 0 {
                    "old".to_owned()
                } else {
                    format!("c{i}")
                };
                txn.insert(&resource(
                    &format!("c{i}"),
                    "id-in",
                    3,
                    &format!("cse-in/{rn}"),
                    json!({}),
                ))?;
                Ok(())
            })
            .await
        }));
    }
    let mut failures = 0;
    for task in tasks {
        if task.await.unwrap().is_err() {
            failures += 1;
        }
    }
    assert_eq!(failures, 40);
    assert_eq!(
        store.reader().unwrap().count_children("id-in", 3).unwrap(),
        161
    );
}

/// One group of jobs that each read a container, change its `cni` and write
/// it back; the second fails after writing. A later job of the group must
/// see what the kept jobs wrote, never what the failed one wrote.
async fn group_reads_its_own_writes(store: Arc<dyn Store>) {
    use std::sync::mpsc;
    use urbis_store::{Completion, WriteJob};
    seed(store.as_ref()).await;
    let (release, hold) = mpsc::channel::<()>();
    let (seen_tx, seen) = mpsc::channel::<(usize, Option<u64>)>();
    let (done_tx, done) = mpsc::channel::<(usize, bool)>();
    // Hold the writer, so that the jobs below queue up and form one group.
    store.submit(Box::new(move |_txn| {
        let _ = hold.recv_timeout(std::time::Duration::from_secs(5));
        Completion {
            rollback: false,
            done: Box::new(|_| {}),
        }
    }));
    let count = |step: usize, fail: bool| -> WriteJob {
        let seen_tx = seen_tx.clone();
        let done_tx = done_tx.clone();
        Box::new(move |txn| {
            let mut container = txn.lock("cnt1").unwrap().unwrap();
            let _ = seen_tx.send((step, container.u64_attr("cni")));
            container.set("cni", step as u64 * 10);
            txn.update(&container, false).unwrap();
            Completion {
                rollback: fail,
                done: Box::new(move |outcome| {
                    let _ = done_tx.send((step, outcome.is_ok()));
                }),
            }
        })
    };
    store.submit(count(1, false));
    store.submit(count(2, true));
    store.submit(count(3, false));
    store.submit(count(4, false));
    release.send(()).unwrap();
    let mut answered = 0;
    while answered < 4 {
        let (_, ok) = tokio::task::block_in_place(|| done.recv()).unwrap();
        assert!(ok, "every job is answered after the commit");
        answered += 1;
    }
    let seen: Vec<(usize, Option<u64>)> = seen.try_iter().collect();
    assert_eq!(
        seen[1..],
        [(2, Some(10)), (3, Some(10)), (4, Some(30))],
        "each job reads the last kept write of its group, not the rolled-back one"
    );
    let reader = store.reader().unwrap();
    assert_eq!(
        reader.get("cnt1").unwrap().unwrap().u64_attr("cni"),
        Some(40)
    );
}

/// A job for [`one_group`]: whether it wants to be kept.
type TestJob = Box<dyn FnOnce(&mut dyn urbis_store::WriteTxn) -> bool + Send>;

/// Run `jobs` as one group: the writer is held until all are queued. Each
/// job's outcome after the commit, in order.
fn one_group(store: &dyn Store, jobs: Vec<TestJob>) -> Vec<bool> {
    use std::sync::mpsc;
    use urbis_store::Completion;
    let (release, hold) = mpsc::channel::<()>();
    store.submit(Box::new(move |_txn| {
        let _ = hold.recv_timeout(std::time::Duration::from_secs(5));
        Completion {
            rollback: false,
            done: Box::new(|_| {}),
        }
    }));
    let (done_tx, done) = mpsc::channel::<(usize, bool)>();
    let count = jobs.len();
    for (i, job) in jobs.into_iter().enumerate() {
        let done_tx = done_tx.clone();
        store.submit(Box::new(move |txn| {
            let keep = job(txn);
            Completion {
                rollback: !keep,
                done: Box::new(move |outcome| {
                    let _ = done_tx.send((i, keep && outcome.is_ok()));
                }),
            }
        }));
    }
    release.send(()).unwrap();
    let mut outcomes = vec![false; count];
    for _ in 0..count {
        let (i, ok) = done
            .recv_timeout(std::time::Duration::from_secs(10))
            .unwrap();
        outcomes[i] = ok;
    }
    outcomes
}

/// Writes the writer sends late (CSE-named inserts, counter updates) are
/// seen by the later jobs of their group, vanish with a job that fails, and
/// a late insert that clashes with an older row fails its whole group.
async fn late_writes(store: Arc<dyn Store>) {
    seed(store.as_ref()).await;
    let instance = |ri: &str| resource(ri, "cnt1", 4, &format!("cse-in/ae1/cnt/{ri}"), json!({}));
    let outcomes = tokio::task::block_in_place(|| {
        one_group(
            store.as_ref(),
            vec![
                Box::new(move |txn| {
                    txn.insert(&instance("i1")).unwrap();
                    let mut container = txn.lock("cnt1").unwrap().unwrap();
                    container.set("cni", 6u64);
                    txn.update(&container, false).unwrap();
                    true
                }),
                Box::new(move |txn| {
                    // the group's writes, through every kind of read
                    let newest = txn.edge_child("cnt1", 4, true).unwrap().unwrap();
                    assert_eq!(newest.ri(), "i1");
                    assert_eq!(txn.count_children("cnt1", 4).unwrap(), 6);
                    let found = txn.get_by_path("cse-in/ae1/cnt/i1").unwrap().unwrap();
                    assert_eq!(found.ri(), "i1");
                    let containers = txn.children("ae1", Some(3)).unwrap();
                    assert_eq!(containers[0].u64_attr("cni"), Some(6));
                    let below = txn.descendants("cse-in/ae1").unwrap();
                    assert!(below
                        .iter()
                        .any(|r| r.ri() == "cnt1" && r.u64_attr("cni") == Some(6)));
                    // then this job fails after writing: nothing of it stays
                    txn.insert(&instance("i2")).unwrap();
                    let mut container = txn.lock("cnt1").unwrap().unwrap();
                    container.set("cni", 7u64);
                    txn.update(&container, false).unwrap();
                    assert_eq!(txn.count_children("cnt1", 4).unwrap(), 7);
                    false
                }),
                Box::new(move |txn| {
                    assert_eq!(txn.edge_child("cnt1", 4, true).unwrap().unwrap().ri(), "i1");
                    assert!(txn.get("i2").unwrap().is_none());
                    assert_eq!(txn.get("cnt1").unwrap().unwrap().u64_attr("cni"), Some(6));
                    true
                }),
            ],
        )
    });
    assert_eq!(outcomes, [true, false, true]);
    let reader = store.reader().unwrap();
    assert_eq!(reader.count_children("cnt1", 4).unwrap(), 6);
    assert!(reader.get("i2").unwrap().is_none());
    assert_eq!(
        reader.get("cnt1").unwrap().unwrap().u64_attr("cni"),
        Some(6)
    );
    drop(reader);

    // "old" was named by its creator; a CSE-named resource whose ID is "old"
    // clashes with it only when its insert is sent: the whole group fails
    let outcomes = tokio::task::block_in_place(|| {
        one_group(
            store.as_ref(),
            vec![
                Box::new(|txn| {
                    txn.insert(&resource("old", "id-in", 3, "cse-in/old", json!({})))
                        .is_ok()
                }),
                Box::new(|txn| {
                    txn.insert(&resource(
                        "bystander",
                        "id-in",
                        3,
                        "cse-in/bystander-x",
                        json!({}),
                    ))
                    .is_ok()
                }),
            ],
        )
    });
    assert_eq!(outcomes, [false, false], "never half of a group");
    let reader = store.reader().unwrap();
    assert!(reader.get("bystander").unwrap().is_none());
    assert_eq!(reader.get("old").unwrap().unwrap().path, "cse-in/old");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_late_writes() {
    let dir = tempfile::tempdir().unwrap();
    late_writes(Arc::new(SqliteStore::open(dir.path()).unwrap())).await;
    late_writes(Arc::new(SqliteStore::in_memory().unwrap())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_late_writes() {
    let Some(url) = database_url() else { return };
    let options = urbis_store::postgres::PostgresOptions {
        readers: 2,
        single_node: true,
    };
    late_writes(Arc::new(
        PostgresStore::scratch_with(&url, &options).unwrap(),
    ))
    .await;
}

/// Many readers alive at once, more than any pool has connections.
async fn many_readers(store: &dyn Store) {
    seed(store).await;
    let readers: Vec<_> = (0..16).map(|_| store.reader().unwrap()).collect();
    for reader in &readers {
        assert_eq!(reader.count_children("cnt1", 4).unwrap(), 5);
    }
}

#[tokio::test]
async fn sqlite_memory_store_behaves() {
    exercise(&SqliteStore::in_memory().unwrap()).await;
}

#[tokio::test]
async fn sqlite_file_store_behaves_and_persists() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    exercise(&store).await;
    write(&store, |txn| {
        Ok(txn.insert(&resource(
            "keep",
            "id-in",
            3,
            "cse-in/keep",
            json!({"lbl": ["k"]}),
        ))?)
    })
    .await
    .unwrap();
    drop(store);
    let reopened = SqliteStore::open(dir.path()).unwrap();
    let reader = reopened.reader().unwrap();
    assert_eq!(reader.get("keep").unwrap().unwrap().labels(), vec!["k"]);
}

#[tokio::test]
async fn sqlite_concurrent_writers_are_grouped() {
    let dir = tempfile::tempdir().unwrap();
    grouped_writes(Arc::new(SqliteStore::open(dir.path()).unwrap())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_group_reads_its_own_writes() {
    let dir = tempfile::tempdir().unwrap();
    group_reads_its_own_writes(Arc::new(SqliteStore::open(dir.path()).unwrap())).await;
    group_reads_its_own_writes(Arc::new(SqliteStore::in_memory().unwrap())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_group_reads_its_own_writes() {
    let Some(url) = database_url() else { return };
    for single_node in [false, true] {
        let options = urbis_store::postgres::PostgresOptions {
            readers: 2,
            single_node,
        };
        let store = PostgresStore::scratch_with(&url, &options).unwrap();
        group_reads_its_own_writes(Arc::new(store)).await;
    }
}

#[tokio::test]
async fn sqlite_many_readers() {
    let dir = tempfile::tempdir().unwrap();
    many_readers(&SqliteStore::open(dir.path()).unwrap()).await;
}

#[tokio::test]
async fn postgres_store_behaves() {
    let Some(store) = postgres() else { return };
    assert!(store.describe().starts_with("postgres://"));
    exercise(&store).await;
}

#[tokio::test]
async fn postgres_store_persists() {
    let Some(url) = database_url() else { return };
    let schema = ScratchSchema::create(&url).unwrap();
    let store = PostgresStore::open(schema.url(), 1).unwrap();
    seed(&store).await;
    write(&store, |txn| {
        Ok(txn.insert(&resource(
            "keep",
            "id-in",
            23,
            "cse-in/keep",
            json!({"lbl": ["k"]}),
        ))?)
    })
    .await
    .unwrap();
    drop(store);
    let reopened = PostgresStore::open(schema.url(), 1).unwrap();
    let reader = reopened.reader().unwrap();
    assert_eq!(reader.get("keep").unwrap().unwrap().labels(), vec!["k"]);
    assert_eq!(
        reader.children("id-in", Some(23)).unwrap().len(),
        1,
        "subscription holders are known again after a restart"
    );
}

#[tokio::test]
async fn postgres_concurrent_writers_are_grouped() {
    let Some(store) = postgres() else { return };
    grouped_writes(Arc::new(store)).await;
}

#[tokio::test]
async fn postgres_many_readers() {
    let Some(store) = postgres() else { return };
    many_readers(&store).await;
}

/// PostgreSQL refuses every statement after an error until the transaction
/// is rolled back, and a COMMIT then silently rolls back. A job that ignores
/// a database error must therefore not be told that it was committed, alone
/// or within a group, and must not cost the other jobs of its group.
#[tokio::test]
async fn postgres_swallowed_error_is_not_acknowledged() {
    let Some(store) = postgres() else { return };
    let store: Arc<dyn Store> = Arc::new(store);
    seed(store.as_ref()).await;
    let sloppy = |name: &'static str| {
        move |txn: &mut dyn urbis_store::WriteTxn| -> Result<(), CseError> {
            txn.insert(&resource(
                name,
                "id-in",
                3,
                &format!("cse-in/{name}"),
                json!({}),
            ))?;
            // PostgreSQL rejects NUL in text: a database error, ignored here
            let _ = txn.insert(&resource("nul", "id-in", 3, "cse-in/n\u{0}l", json!({})));
            Ok(())
        }
    };
    assert!(write(store.as_ref(), sloppy("lone")).await.is_err());
    assert!(store.reader().unwrap().get("lone").unwrap().is_none());

    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            if i == 20 {
                write(store.as_ref(), sloppy("grouped")).await
            } else {
                write(store.as_ref(), move |txn| {
                    Ok(txn.insert(&resource(
                        &format!("g{i}"),
                        "id-in",
                        3,
                        &format!("cse-in/g{i}"),
                        json!({}),
                    ))?)
                })
                .await
            }
        }));
    }
    let outcomes: Vec<bool> = futures_join(tasks).await;
    assert_eq!(outcomes.iter().filter(|ok| **ok).count(), 39);
    let reader = store.reader().unwrap();
    assert!(reader.get("grouped").unwrap().is_none());
    assert_eq!(reader.count_children("id-in", 3).unwrap(), 40);
}

async fn futures_join(tasks: Vec<tokio::task::JoinHandle<Result<(), CseError>>>) -> Vec<bool> {
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.unwrap().is_ok());
    }
    out
}

#[tokio::test]
async fn postgres_refuses_a_newer_schema() {
    let Some(url) = database_url() else { return };
    let schema = ScratchSchema::create(&url).unwrap();
    drop(PostgresStore::open(schema.url(), 1).unwrap());
    let bump = schema.url().to_owned();
    std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&bump, postgres::NoTls).unwrap();
        client
            .batch_execute("INSERT INTO urbis_schema_version (version) VALUES (999)")
            .unwrap();
    })
    .join()
    .unwrap();
    let err = PostgresStore::open(schema.url(), 1).err().expect("refused");
    assert!(err.to_string().contains("newer"), "{err}");
}

/// Sessions end under a running store (server restart, network, an
/// administrator): at most the first query on each lost session fails, and
/// the store then carries on without a restart.
#[tokio::test]
async fn postgres_reconnects_after_losing_its_connections() {
    let Some(url) = database_url() else { return };
    let schema = ScratchSchema::create(&url).unwrap();
    let store = PostgresStore::open(schema.url(), 2).unwrap();
    seed(&store).await;
    let (admin, name) = (url.clone(), schema.name().to_owned());
    let ended = std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
        client
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
                &[&name],
            )
            .unwrap()
            .len()
    })
    .join()
    .unwrap();
    assert_eq!(
        ended, 5,
        "two readers, the writer, the leadership session and the mailboxes'"
    );

    let mut failures = 0;
    let mut counted = None;
    for _ in 0..4 {
        match store.reader().unwrap().count_children("cnt1", 4) {
            Ok(n) => counted = Some(n),
            Err(_) => failures += 1,
        }
    }
    assert_eq!(counted, Some(5));
    assert!(failures <= 2, "{failures} failed reads");

    let mut written = false;
    for i in 0..3 {
        let outcome = write(&store, move |txn| {
            Ok(txn.insert(&resource(
                &format!("after{i}"),
                "id-in",
                3,
                &format!("cse-in/after{i}"),
                json!({}),
            ))?)
        })
        .await;
        written |= outcome.is_ok();
    }
    assert!(written, "the writer reconnected");
    assert!(store.reader().unwrap().get("after2").unwrap().is_some());

    let mailboxes = store.mailboxes().expect("a shared store's mailboxes");
    let taken = (0..2).filter_map(|_| mailboxes.take("Cae", 1).ok()).count();
    assert!(taken >= 1, "the mailboxes' session reconnected");
}

fn outbox_entry(rqi: &str) -> OutboxEntry {
    OutboxEntry {
        rqi: rqi.into(),
        target: "http://127.0.0.1:9/notify".into(),
        body: format!(r#"{{"m2m:sgn":{{"sur":"/id-in/{rqi}"}}}}"#),
        subscription: (rqi != "b").then(|| "sub1".into()),
    }
}

async fn outbox_rqis(store: &dyn Store) -> Vec<String> {
    write(store, |txn| Ok(txn.outbox_list(10_000)?))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.rqi)
        .collect()
}

/// Entries are written in the job's transaction and gone with its rollback;
/// this store's own entries are not taken over by itself; removal is by `rqi`.
/// Leaves `b` and the 1,000 `fan-*` entries behind for a reopened store.
async fn outbox_in_jobs(store: &dyn Store) {
    write(store, |txn| {
        txn.insert(&resource("id-in", "", 5, "cse-in", json!({})))?;
        Ok(txn.outbox_add(&[outbox_entry("a"), outbox_entry("b")])?)
    })
    .await
    .unwrap();
    let failed = write(store, |txn| {
        txn.outbox_add(&[outbox_entry("c")])?;
        Err::<(), _>(CseError::internal("the job fails after recording"))
    })
    .await;
    assert!(failed.is_err());
    // a job that clashes on an rqi already recorded fails alone
    let clash = write(store, |txn| Ok(txn.outbox_add(&[outbox_entry("a")])?)).await;
    assert!(clash.is_err(), "an rqi is recorded once");
    assert_eq!(outbox_rqis(store).await, vec!["a", "b"]);
    let listed = write(store, |txn| Ok(txn.outbox_list(10)?)).await.unwrap();
    assert_eq!(listed, vec![outbox_entry("a"), outbox_entry("b")]);
    let claimed = write(store, |txn| Ok(txn.outbox_claim(100)?))
        .await
        .unwrap();
    assert!(claimed.is_empty(), "a live owner's entries stay its own");
    let fan: Vec<OutboxEntry> = (0..1000)
        .map(|i| outbox_entry(&format!("fan-{i:04}")))
        .collect();
    // a fan-out to 1,000 subscribers is one statement, not 1,000
    let started = std::time::Instant::now();
    write(store, move |txn| Ok(txn.outbox_add(&fan)?))
        .await
        .unwrap();
    let took = started.elapsed();
    println!("{}: 1,000 outbox entries in {took:?}", store.describe());
    assert!(took < std::time::Duration::from_secs(1), "{took:?}");
    let removed = write(store, |txn| {
        Ok(txn.outbox_remove(&["a".into(), "nonexistent".into()])?)
    })
    .await
    .unwrap();
    assert_eq!(removed, 1);
    let left = outbox_rqis(store).await;
    assert_eq!(left.len(), 1001);
    assert_eq!(left[0], "b");
    assert_eq!(left[1], "fan-0000", "in the order they were recorded");
    assert_eq!(left[1000], "fan-0999");
}

/// A store opened on what `outbox_in_jobs` left takes it over, once.
async fn outbox_recovered(store: &dyn Store) {
    // (a PostgreSQL server may take a moment to see the old session gone)
    let mut claimed = Vec::new();
    for _ in 0..50 {
        claimed = write(store, |txn| Ok(txn.outbox_claim(600)?))
            .await
            .unwrap();
        if !claimed.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(claimed.len(), 600);
    assert_eq!(
        claimed[0],
        outbox_entry("b"),
        "the entry as it was recorded"
    );
    assert_eq!(claimed[1].rqi, "fan-0000");
    let rest = write(store, |txn| Ok(txn.outbox_claim(10_000)?))
        .await
        .unwrap();
    assert_eq!(rest.len(), 401, "the rest, and nothing twice");
    assert_eq!(rest[400].rqi, "fan-0999");
    let again = write(store, |txn| Ok(txn.outbox_claim(10_000)?))
        .await
        .unwrap();
    assert!(again.is_empty(), "claimed entries are this store's now");
    let all: Vec<String> = claimed.into_iter().chain(rest).map(|e| e.rqi).collect();
    write(store, move |txn| Ok(txn.outbox_remove(&all)?))
        .await
        .unwrap();
    assert!(outbox_rqis(store).await.is_empty());
}

#[tokio::test]
async fn sqlite_outbox_is_transactional_and_taken_over_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    outbox_in_jobs(&store).await;
    drop(store);
    outbox_recovered(&SqliteStore::open(dir.path()).unwrap()).await;
}

#[tokio::test]
async fn postgres_outbox_is_transactional_and_taken_over_after_a_restart() {
    let Some(url) = database_url() else { return };
    let schema = ScratchSchema::create(&url).unwrap();
    let store = PostgresStore::open(schema.url(), 1).unwrap();
    outbox_in_jobs(&store).await;
    drop(store);
    outbox_recovered(&PostgresStore::open(schema.url(), 1).unwrap()).await;
}

/// On a shared database an entry is taken over only once its owner's node
/// is gone, and by one node only.
async fn claim(store: &dyn Store) -> Vec<OutboxEntry> {
    write(store, |txn| Ok(txn.outbox_claim(100)?))
        .await
        .unwrap()
}

#[tokio::test]
async fn postgres_outbox_of_a_live_node_is_left_alone_and_a_dead_ones_is_taken_once() {
    let Some(url) = database_url() else { return };
    let schema = ScratchSchema::create(&url).unwrap();
    let owner = PostgresStore::open(schema.url(), 1).unwrap();
    let first = PostgresStore::open(schema.url(), 1).unwrap();
    let second = PostgresStore::open(schema.url(), 1).unwrap();
    assert!(owner.shared_by_nodes());
    write(&owner, |txn| {
        Ok(txn.outbox_add(&[outbox_entry("a"), outbox_entry("b")])?)
    })
    .await
    .unwrap();
    assert!(claim(&first).await.is_empty(), "its owner lives");
    drop(owner);
    let taken = claim_once_gone(&first).await;
    assert_eq!(taken, vec![outbox_entry("a"), outbox_entry("b")]);
    assert!(
        claim(&second).await.is_empty(),
        "taken over by one node only"
    );
    drop(first);
    assert_eq!(
        claim_once_gone(&second).await.len(),
        2,
        "and again once that one died"
    );
}

/// The server notices a closed session a moment after the client let it
/// go; until then its node still counts as alive.
async fn claim_once_gone(store: &dyn Store) -> Vec<OutboxEntry> {
    for _ in 0..50 {
        let taken = claim(store).await;
        if !taken.is_empty() {
            return taken;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Vec::new()
}

fn node(ri: &str, path: &str, ni: &str) -> Resource {
    resource(ri, "id-in", 14, path, json!({ "ni": ni }))
}

fn node_ids(found: Vec<Resource>) -> Vec<String> {
    let mut ris: Vec<String> = found.iter().map(|r| r.ri().to_owned()).collect();
    ris.sort();
    ris
}

/// What registering a node checks: is its `ni` taken by another node?
fn refuse_taken_ni(txn: &dyn urbis_store::WriteTxn, node: &Resource) -> Result<(), CseError> {
    let ni = node.str_attr("ni").unwrap();
    if txn
        .nodes_with_id(ni)?
        .iter()
        .any(|other| other.ri() != node.ri())
    {
        return Err(CseError::new(Rsc::Conflict, format!("nodeID {ni} taken")));
    }
    Ok(())
}

/// `nodes_with_id`: nodes only, by their current `ni`, on the writer too
/// (within a job and across the jobs of one group).
async fn nodes_by_id(store: Arc<dyn Store>) {
    seed(store.as_ref()).await;
    write(store.as_ref(), |txn| {
        // a generated name (queued on PostgreSQL) and a chosen one
        txn.insert(&node("nod1", "cse-in/nod1", "urn:dev:a"))?;
        txn.insert(&node("nod2", "cse-in/gateway", "urn:dev:b"))?;
        // not a node, though it carries an `ni`
        txn.insert(&resource(
            "cntni",
            "ae1",
            3,
            "cse-in/ae1/cntni",
            json!({"ni": "urn:dev:a"}),
        ))?;
        Ok(())
    })
    .await
    .unwrap();
    let reader = store.reader().unwrap();
    assert_eq!(
        node_ids(reader.nodes_with_id("urn:dev:a").unwrap()),
        ["nod1"]
    );
    assert_eq!(
        node_ids(reader.nodes_with_id("urn:dev:b").unwrap()),
        ["nod2"]
    );
    assert!(reader.nodes_with_id("urn:dev:c").unwrap().is_empty());
    assert!(reader.nodes_with_id("").unwrap().is_empty());
    drop(reader);

    // the lookup follows an update, within the job and after the commit
    write(store.as_ref(), |txn| {
        let mut moved = txn.get("nod1")?.unwrap();
        moved.set("ni", "urn:dev:c");
        txn.update(&moved, false)?;
        assert!(txn.nodes_with_id("urn:dev:a")?.is_empty(), "old ni is free");
        assert_eq!(node_ids(txn.nodes_with_id("urn:dev:c")?), ["nod1"]);
        Ok(())
    })
    .await
    .unwrap();
    let reader = store.reader().unwrap();
    assert!(reader.nodes_with_id("urn:dev:a").unwrap().is_empty());
    let found = reader.nodes_with_id("urn:dev:c").unwrap();
    assert_eq!(node_ids(found.clone()), ["nod1"]);
    assert_eq!(found[0].str_attr("ni"), Some("urn:dev:c"));
    drop(reader);

    // NUL is valid in oneM2M strings (and PostgreSQL's jsonb refuses it):
    // such nodes are stored and found, and only by their exact ni
    write(store.as_ref(), |txn| {
        txn.insert(&resource(
            "nodnul",
            "id-in",
            14,
            "cse-in/nodnul",
            json!({"ni": "urn:dev:n\u{0}l", "hcl": "a\u{0}b"}),
        ))?;
        txn.insert(&resource(
            "nodnul2",
            "id-in",
            14,
            "cse-in/nodnul2",
            json!({"ni": "urn:dev:plain", "hcl": "\\u0000 \u{0}"}),
        ))?;
        Ok(())
    })
    .await
    .unwrap();
    let reader = store.reader().unwrap();
    assert_eq!(
        node_ids(reader.nodes_with_id("urn:dev:n\u{0}l").unwrap()),
        ["nodnul"]
    );
    assert!(reader
        .nodes_with_id("urn:dev:n\u{fffd}l")
        .unwrap()
        .is_empty());
    assert_eq!(
        node_ids(reader.nodes_with_id("urn:dev:plain").unwrap()),
        ["nodnul2"]
    );
    drop(reader);

    // a deleted node frees its ni
    write(store.as_ref(), |txn| {
        txn.delete_tree("cse-in/gateway")?;
        assert!(txn.nodes_with_id("urn:dev:b")?.is_empty());
        Ok(())
    })
    .await
    .unwrap();
    assert!(store
        .reader()
        .unwrap()
        .nodes_with_id("urn:dev:b")
        .unwrap()
        .is_empty());

    // Two jobs of one group register the same ni: the second sees the
    // first's uncommitted node and is refused. A job holding the writer
    // makes sure both wait in the queue, to be taken as one group.
    let (open, gate) = std::sync::mpsc::channel::<()>();
    let holder = {
        let store = store.clone();
        tokio::spawn(async move {
            write(store.as_ref(), move |_| {
                gate.recv().unwrap();
                Ok(())
            })
            .await
        })
    };
    let register = |ri: &'static str, check_uncommitted: bool| {
        let store = store.clone();
        tokio::spawn(async move {
            let outer = store.clone();
            write(outer.as_ref(), move |txn| {
                let candidate = node(ri, &format!("cse-in/{ri}"), "urn:dev:twin");
                if check_uncommitted {
                    // the first job's node is not committed yet: same group
                    assert!(store
                        .reader()
                        .unwrap()
                        .nodes_with_id("urn:dev:twin")
                        .unwrap()
                        .is_empty());
                    assert_eq!(node_ids(txn.nodes_with_id("urn:dev:twin")?), ["twin1"]);
                }
                refuse_taken_ni(txn, &candidate)?;
                txn.insert(&candidate)?;
                Ok(())
            })
            .await
        })
    };
    let first = register("twin1", false);
    let second = register("twin2", true);
    // let both tasks submit their jobs behind the holder
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    open.send(()).unwrap();
    holder.await.unwrap().unwrap();
    first.await.unwrap().unwrap();
    let refused = second
        .await
        .unwrap()
        .expect_err("the second twin is refused");
    assert_eq!(refused.rsc, Rsc::Conflict, "{refused:?}");
    assert_eq!(
        node_ids(
            store
                .reader()
                .unwrap()
                .nodes_with_id("urn:dev:twin")
                .unwrap()
        ),
        ["twin1"]
    );
}

/// Instances of a series are found by their `dgt`, in the job that wrote
/// them and after, and not once deleted or in another series.
async fn instances_by_dgt(store: Arc<dyn Store>) {
    seed(store.as_ref()).await;
    let instance = |ri: &str, pi: &str, dgt: &str| {
        let path = format!("cse-in/{pi}/{ri}");
        resource(ri, pi, 30, &path, json!({"dgt": dgt, "con": "x"}))
    };
    write(store.as_ref(), move |txn| {
        for series in ["ts1", "ts2"] {
            txn.insert(&resource(
                series,
                "id-in",
                29,
                &format!("cse-in/{series}"),
                json!({}),
            ))?;
        }
        txn.insert(&instance("tsi1", "ts1", "20261202T000000"))?;
        txn.insert(&instance("tsi2", "ts1", "20261202T000001"))?;
        let own = txn.instance_with_dgt("ts1", "20261202T000001")?;
        assert_eq!(own.map(|r| r.ri().to_owned()).as_deref(), Some("tsi2"));
        Ok(())
    })
    .await
    .unwrap();
    let reader = store.reader().unwrap();
    let found = |pi: &str, dgt: &str| {
        reader
            .instance_with_dgt(pi, dgt)
            .unwrap()
            .map(|r| r.ri().to_owned())
    };
    assert_eq!(found("ts1", "20261202T000000").as_deref(), Some("tsi1"));
    assert_eq!(found("ts2", "20261202T000000"), None, "another series");
    assert_eq!(found("ts1", "20261202T000002"), None);
    drop(reader);
    write(store.as_ref(), |txn| {
        txn.delete_tree("cse-in/ts1/tsi1")?;
        assert!(txn.instance_with_dgt("ts1", "20261202T000000")?.is_none());
        Ok(())
    })
    .await
    .unwrap();
    let reader = store.reader().unwrap();
    assert!(reader
        .instance_with_dgt("ts1", "20261202T000000")
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn sqlite_instances_by_dgt() {
    let dir = tempfile::tempdir().unwrap();
    instances_by_dgt(Arc::new(SqliteStore::open(dir.path()).unwrap())).await;
    instances_by_dgt(Arc::new(SqliteStore::in_memory().unwrap())).await;
}

#[tokio::test]
async fn postgres_instances_by_dgt() {
    let Some(store) = postgres() else { return };
    instances_by_dgt(Arc::new(store)).await;
}

#[tokio::test]
async fn sqlite_nodes_by_id() {
    let dir = tempfile::tempdir().unwrap();
    nodes_by_id(Arc::new(SqliteStore::open(dir.path()).unwrap())).await;
}

#[tokio::test]
async fn postgres_nodes_by_id() {
    let Some(store) = postgres() else { return };
    nodes_by_id(Arc::new(store)).await;
}
