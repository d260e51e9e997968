//! pollingChannel mailboxes in the database ([`urbis_store::mailbox`]): two
//! stores on one schema stand for two nodes. PostgreSQL only (a store of its
//! own has none); runs when URBIS_TEST_DATABASE_URL names a database
//! (.ci/run sets it; without it these tests say loudly that they did not run).

use std::collections::HashSet;
use std::sync::Arc;

use urbis_store::mailbox::MailboxStore;
use urbis_store::postgres::{PostgresOptions, PostgresStore, ScratchSchema};
use urbis_store::sqlite::SqliteStore;
use urbis_store::Store;

mod common;

fn database_url() -> Option<String> {
    common::database_url("PostgreSQL mailbox tests")
}

/// Two nodes on one scratch schema (dropped last).
struct Nodes {
    a: PostgresStore,
    b: PostgresStore,
    _schema: ScratchSchema,
}

impl Nodes {
    fn start(url: &str) -> Nodes {
        let schema = ScratchSchema::create(url).expect("scratch schema");
        let a = PostgresStore::open(schema.url(), 1).expect("node a");
        let b = PostgresStore::open(schema.url(), 1).expect("node b");
        Nodes {
            a,
            b,
            _schema: schema,
        }
    }

    fn boxes(&self) -> (Arc<dyn MailboxStore>, Arc<dyn MailboxStore>) {
        (
            self.a.mailboxes().expect("shared store has mailboxes"),
            self.b.mailboxes().expect("shared store has mailboxes"),
        )
    }
}

#[test]
fn a_store_of_its_own_keeps_no_mailboxes() {
    let sqlite = SqliteStore::in_memory().unwrap();
    assert!(sqlite.mailboxes().is_none());
    let Some(url) = database_url() else { return };
    let single = PostgresStore::scratch_with(
        &url,
        &PostgresOptions {
            readers: 1,
            single_node: true,
        },
    )
    .unwrap();
    assert!(!single.shared_by_nodes());
    assert!(single.mailboxes().is_none());
}

#[test]
fn a_request_queued_by_one_node_is_taken_once_and_answered_through_another() {
    let Some(url) = database_url() else { return };
    let nodes = Nodes::start(&url);
    let (a, b) = nodes.boxes();
    assert!(a.post("Cae", "r1", r#"{"rqi":"r1"}"#, 60_000, 8).unwrap());
    assert!(a.post("Cae", "r2", r#"{"rqi":"r2"}"#, 60_000, 8).unwrap());
    assert!(a.post("Cother", "o1", "{}", 60_000, 8).unwrap());

    let first = b.take("Cae", 1).unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].rqi, "r1", "oldest first");
    assert_eq!(first[0].request, r#"{"rqi":"r1"}"#);
    let rest = a.take("Cae", 10).unwrap();
    assert_eq!(
        rest.iter().map(|p| p.rqi.as_str()).collect::<Vec<_>>(),
        ["r2"],
        "a taken request is not handed out again, by any node"
    );
    assert!(b.take("Cae", 10).unwrap().is_empty());

    // answered through b, picked up by a (once)
    assert!(b.answer("r1", r#"{"rsc":2000}"#).unwrap());
    assert!(
        !b.answer("r1", r#"{"rsc":2000}"#).unwrap(),
        "answered already"
    );
    assert!(!b.answer("nobody", "{}").unwrap(), "never queued");
    let answers = a.answers(&["r1".into(), "r2".into()]).unwrap();
    assert_eq!(answers, [("r1".to_owned(), r#"{"rsc":2000}"#.to_owned())]);
    assert!(a.answers(&["r1".into()]).unwrap().is_empty());

    // a sender that stops waiting withdraws its request: no answer is kept
    a.withdraw("r2").unwrap();
    assert!(!b.answer("r2", "{}").unwrap());
    assert!(a.answers(&["r2".into()]).unwrap().is_empty());
    assert_eq!(b.take("Cother", 10).unwrap().len(), 1);
}

#[test]
fn depth_expiry_and_sweeping() {
    let Some(url) = database_url() else { return };
    let nodes = Nodes::start(&url);
    let (a, b) = nodes.boxes();
    for i in 0..3 {
        assert!(a.post("Cae", &format!("d{i}"), "{}", 60_000, 3).unwrap());
    }
    assert!(!b.post("Cae", "over", "{}", 60_000, 3).unwrap(), "full");
    assert_eq!(b.take("Cae", 1).unwrap().len(), 1);
    assert!(
        b.post("Cae", "d3", "{}", 60_000, 3).unwrap(),
        "a taken request no longer fills the mailbox"
    );
    // re-posting an rqi replaces it rather than failing
    assert!(a.post("Cae", "d3", "{\"again\":1}", 60_000, 4).unwrap());

    assert!(a.post("Cgone", "e1", "{}", 1, 8).unwrap());
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert!(b.take("Cgone", 10).unwrap().is_empty(), "expired");
    assert!(a.sweep(60_000).unwrap() >= 1);

    // an answer nobody picks up is swept after its age
    assert!(a.post("Cae", "late", "{}", 60_000, 8).unwrap());
    assert!(b.answer("late", "{}").unwrap());
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(a.sweep(5).unwrap(), 1);
    assert!(a.answers(&["late".into()]).unwrap().is_empty());
}

#[test]
fn nodes_taking_at_once_share_out_the_requests() {
    let Some(url) = database_url() else { return };
    let nodes = Nodes::start(&url);
    let (a, b) = nodes.boxes();
    let count = 200;
    for i in 0..count {
        assert!(a.post("Cae", &format!("q{i}"), "{}", 60_000, 1000).unwrap());
    }
    let takers: Vec<_> = [a, b]
        .into_iter()
        .flat_map(|m| [m.clone(), m])
        .map(|m| {
            std::thread::spawn(move || {
                let mut got = Vec::new();
                loop {
                    let taken = m.take("Cae", 3).unwrap();
                    if taken.is_empty() {
                        return got;
                    }
                    got.extend(taken.into_iter().map(|p| p.rqi));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for taker in takers {
        all.extend(taker.join().unwrap());
    }
    let distinct: HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), count, "each request taken once");
    assert_eq!(distinct.len(), count);
}
