//! The same checks on both credential stores (PostgreSQL when
//! URBIS_TEST_DATABASE_URL is set; loudly skipped otherwise).

use std::io::Write;

use super::*;
use crate::postgres::ScratchSchema;
use crate::StoreError;

fn token(id: &str, originator: &str, created_at: i64) -> Credential {
    Credential {
        id: id.into(),
        originator: originator.into(),
        kind: CredentialKind::Token,
        secret_hash: format!("$argon2id$hash-of-{id}"),
        label: String::new(),
        created_at,
        revoked_at: None,
    }
}

fn enrolment(device: &str, expires_at: i64) -> Enrolment {
    Enrolment {
        device: device.into(),
        originator: format!("C{device}"),
        secret_hash: "$argon2id$secret".into(),
        created_at: 100,
        expires_at,
        redeemed_at: None,
        credential_id: None,
    }
}

fn check(store: &dyn CredentialStore) {
    store.add_credential(&token("k1", "Cmeter", 10)).unwrap();
    store.add_credential(&token("k2", "Cmeter", 20)).unwrap();
    store.add_credential(&token("k3", "Clamp", 30)).unwrap();
    assert!(matches!(
        store.add_credential(&token("k1", "Cother", 40)),
        Err(StoreError::Duplicate { .. })
    ));
    assert_eq!(
        store.credential("k1").unwrap(),
        Some(token("k1", "Cmeter", 10))
    );
    assert_eq!(store.credential("nope").unwrap(), None);
    let ids = |list: Vec<Credential>| list.into_iter().map(|c| c.id).collect::<Vec<_>>();
    assert_eq!(ids(store.credentials_of("Cmeter").unwrap()), ["k1", "k2"]);
    assert_eq!(ids(store.credentials().unwrap()), ["k1", "k2", "k3"]);

    assert!(store.revoke_credential("k3", 50).unwrap());
    assert!(
        !store.revoke_credential("k3", 60).unwrap(),
        "already revoked"
    );
    assert_eq!(
        store.credential("k3").unwrap().unwrap().revoked_at,
        Some(50)
    );
    assert_eq!(store.revoke_originator("Cmeter", 70).unwrap(), 2);
    assert!(store.credentials().unwrap().iter().all(|c| !c.is_active()));

    // enrolment: a new secret replaces an unredeemed one; redeeming is once
    store.add_enrolment(&enrolment("sn1", 1000)).unwrap();
    let mut renewed = enrolment("sn1", 2000);
    renewed.secret_hash = "$argon2id$renewed".into();
    store.add_enrolment(&renewed).unwrap();
    assert_eq!(store.enrolment("sn1").unwrap(), Some(renewed.clone()));
    assert!(store
        .redeem_enrolment("sn1", 500, &token("d1", "Csn1", 500))
        .unwrap());
    let redeemed = store.enrolment("sn1").unwrap().unwrap();
    assert_eq!(redeemed.redeemed_at, Some(500));
    assert_eq!(redeemed.credential_id.as_deref(), Some("d1"));
    assert!(store.credential("d1").unwrap().is_some());
    assert!(
        !store
            .redeem_enrolment("sn1", 600, &token("d2", "Csn1", 600))
            .unwrap(),
        "a second redemption"
    );
    assert_eq!(store.credential("d2").unwrap(), None, "nothing written");
    assert!(matches!(
        store.add_enrolment(&enrolment("sn1", 3000)),
        Err(StoreError::Duplicate { .. })
    ));
    store.add_enrolment(&enrolment("sn2", 1000)).unwrap();
    assert!(
        !store
            .redeem_enrolment("sn2", 1000, &token("d3", "Csn2", 1000))
            .unwrap(),
        "expired"
    );
    assert!(!store
        .redeem_enrolment("unknown", 1, &token("d4", "C", 1))
        .unwrap());
    assert_eq!(store.enrolments().unwrap().len(), 2);
}

#[test]
fn sqlite_in_memory() {
    check(&SqliteCredentials::in_memory().unwrap());
}

#[test]
fn sqlite_on_disk_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    check(&SqliteCredentials::open(dir.path()).unwrap());
    let reopened = SqliteCredentials::open(dir.path()).unwrap();
    assert_eq!(reopened.credentials().unwrap().len(), 4);
}

#[test]
fn postgres() {
    let Some(url) = std::env::var("URBIS_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        let _ = writeln!(
            std::io::stderr(),
            "\n!!!! URBIS_TEST_DATABASE_URL not set: PostgreSQL credential store test did NOT run !!!!\n"
        );
        return;
    };
    let schema = ScratchSchema::create(&url).unwrap();
    check(&PostgresCredentials::open(schema.url()).unwrap());
    // migrations run once: opening again finds the tables
    let again = PostgresCredentials::open(schema.url()).unwrap();
    assert_eq!(again.credentials().unwrap().len(), 4);
    drop(again);
}
