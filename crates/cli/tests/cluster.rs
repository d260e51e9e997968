//! Three `urbis serve` processes on one PostgreSQL schema act as one CSE:
//! a client load spread over all three, one node killed with SIGKILL in the
//! middle of it (the one leading background work), and then the checks:
//! nothing acknowledged lost, `cni`/`st`/`la` exact, `mni` eviction exact,
//! every event notified exactly once (re-deliveries carry the same `rqi`),
//! including those the killed node acknowledged, expiry taken over by a
//! surviving node. Smaller tests: a pollingChannel served by any node, a
//! notification batch filled by events on two nodes, and a timeSeries'
//! missing-data watch shared by two nodes and outliving one.
//! Runs when URBIS_TEST_DATABASE_URL names a database (.ci/run sets it).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::Write;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use serde_json::{json, Value};
use urbis_model::time;
use urbis_store::postgres::ScratchSchema;

mod common;
use common::{admin_request as send, start, urbis, Server as Node};

const CONTAINERS: [(&str, Option<u64>); 3] = [
    ("evicting1", Some(15)),
    ("evicting2", Some(15)),
    ("keeping", None),
];
const WRITERS: usize = 12;
const CREATES_PER_WRITER: usize = 40;
/// The leader-lock key of `crates/store/src/postgres/locks.rs`.
const LEADER_KEY: i64 = 0x5552_0003;

fn start_node(schema: &ScratchSchema) -> Node {
    start_node_at(schema.url())
}

fn start_node_at(database_url: &str) -> Node {
    let mut command = urbis();
    command
        .args(["serve", "--http-addr", "127.0.0.1:0", "--database-url"])
        .arg(database_url)
        .env("URBIS_CSE_EXPIRATION_CHECK_MS", "200")
        .stderr(Stdio::inherit());
    start(command)
}

/// What the test's notification receiver got: (net, ri of the instance,
/// rqi of the request).
type Received = Arc<Mutex<Vec<(u64, String, String)>>>;

async fn receiver() -> (String, Received) {
    let received: Received = Arc::default();
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(move |request: HeaderMap, body: String| {
            let sink = sink.clone();
            async move {
                let sgn: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                let nev = &sgn["m2m:sgn"]["nev"];
                let rqi = request
                    .get("x-m2m-ri")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                if let (Some(net), Some(ri)) =
                    (nev["net"].as_u64(), nev["rep"]["m2m:cin"]["ri"].as_str())
                {
                    sink.lock().unwrap().push((net, ri.to_owned(), rqi));
                    // A slow target: each node's queue to it backs up, so
                    // node 0 dies with notifications not yet sent.
                    tokio::time::sleep(Duration::from_millis(30)).await;
                }
                common::notification_ok()
            }
        }),
    );
    let url = common::serve_on_loopback(app).await;
    (url, received)
}

async fn must(
    client: &reqwest::Client,
    base: &str,
    method: reqwest::Method,
    path: &str,
    ty: Option<u32>,
    body: Option<Value>,
) -> (u16, Value) {
    send(client, base, method, path, ty, body)
        .await
        .unwrap_or_else(|| panic!("no answer from {base}{path}"))
}

/// How many sessions hold the leader lock of this schema.
fn leaders(admin_url: &str, schema: &str) -> i64 {
    let (url, schema) = (admin_url.to_owned(), schema.to_owned());
    std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        client
            .query_one(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                 WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
                   AND l.classid::bigint = $1 AND a.application_name = $2",
                &[&LEADER_KEY, &schema],
            )
            .unwrap()
            .get(0)
    })
    .join()
    .unwrap()
}

async fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An acknowledged create: which node answered, the instance's ri and st.
struct Acked {
    node: usize,
    container: usize,
    ri: String,
    st: u64,
}

/// Nodes started at once on an empty schema: one migrates, one creates the
/// CSEBase, all come up.
#[tokio::test]
async fn nodes_started_at_once_all_come_up() {
    let Some(url) = database_url() else { return };
    let schema = ScratchSchema::create(&url).expect("scratch schema");
    let starting: Vec<_> = (0..3)
        .map(|_| {
            let url = schema.url().to_owned();
            std::thread::spawn(move || start_node_at(&url))
        })
        .collect();
    let nodes: Vec<Node> = starting.into_iter().map(|t| t.join().unwrap()).collect();
    let client = reqwest::Client::new();
    let mut ris = HashSet::new();
    for node in &nodes {
        let (rsc, body) = must(
            &client,
            &node.base,
            reqwest::Method::GET,
            "/cse-in",
            None,
            None,
        )
        .await;
        assert_eq!(rsc, 2000);
        ris.insert(body["m2m:cb"]["ri"].as_str().unwrap().to_owned());
    }
    assert_eq!(ris.len(), 1, "one CSEBase");
}

fn database_url() -> Option<String> {
    match std::env::var("URBIS_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            let _ = writeln!(
                std::io::stderr(),
                "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
                 !! URBIS_TEST_DATABASE_URL not set: the three-node tests did NOT run.  !!\n\
                 !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
            );
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_act_as_one_cse() {
    let Some(url) = database_url() else { return };
    let schema = ScratchSchema::create(&url).expect("scratch schema");
    // The first node migrates and becomes the leader; the others join.
    let mut nodes = vec![start_node(&schema)];
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    wait_for("a leader", Duration::from_secs(10), || {
        leaders(&url, schema.name()) == 1
    })
    .await;
    nodes.push(start_node(&schema));
    nodes.push(start_node(&schema));
    let bases: Vec<String> = nodes.iter().map(|n| n.base.clone()).collect();

    let (receiver_url, received) = receiver().await;
    for (i, (name, mni)) in CONTAINERS.iter().enumerate() {
        let mut cnt = json!({"rn": name});
        if let Some(mni) = mni {
            cnt["mni"] = json!(mni);
        }
        let base = &bases[i % 3];
        let (rsc, _) = must(
            &client,
            base,
            reqwest::Method::POST,
            "/cse-in",
            Some(3),
            Some(json!({"m2m:cnt": cnt})),
        )
        .await;
        assert_eq!(rsc, 2001, "container {name}");
        // created on another node than the container: it must be seen there
        let sub = json!({"m2m:sub": {"rn": "watch", "nu": [receiver_url], "enc": {"net": [3, 4]}}});
        let base = &bases[(i + 1) % 3];
        let (rsc, body) = must(
            &client,
            base,
            reqwest::Method::POST,
            &format!("/cse-in/{name}"),
            Some(23),
            Some(sub),
        )
        .await;
        assert_eq!(rsc, 2001, "subscription on {name}: {body}");
    }

    // The load: every writer spreads its creates over the nodes and
    // containers; node 0 (the leader) is killed when a third is done.
    let done = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let (client, bases, done) = (client.clone(), bases.clone(), done.clone());
        writers.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            let mut unknown = 0usize;
            for i in 0..CREATES_PER_WRITER {
                let node = (writer + i) % 3;
                // every node writes every container
                let container = (writer + i / 3) % CONTAINERS.len();
                let path = format!("/cse-in/{}", CONTAINERS[container].0);
                let body = json!({"m2m:cin": {"con": format!("w{writer}-{i}")}});
                match send(
                    &client,
                    &bases[node],
                    reqwest::Method::POST,
                    &path,
                    Some(4),
                    Some(body),
                )
                .await
                {
                    Some((2001, body)) => {
                        let cin = &body["m2m:cin"];
                        acked.push(Acked {
                            node,
                            container,
                            ri: cin["ri"].as_str().unwrap().to_owned(),
                            st: cin["st"].as_u64().unwrap(),
                        });
                    }
                    Some((rsc, body)) => panic!("create on node {node} answered {rsc}: {body}"),
                    None => unknown += 1,
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            (acked, unknown)
        }));
    }
    let total = WRITERS * CREATES_PER_WRITER;
    wait_for("a third of the load", Duration::from_secs(60), || {
        done.load(Ordering::Relaxed) >= total / 3
    })
    .await;
    nodes[0].child.kill().expect("SIGKILL node 0");
    let _ = nodes[0].child.wait();
    let mut acked: Vec<Acked> = Vec::new();
    let mut unknown = 0;
    for writer in writers {
        let (mine, lost) = writer.await.unwrap();
        acked.extend(mine);
        unknown += lost;
    }
    assert!(
        acked.iter().any(|a| a.node == 0),
        "node 0 took part before it died"
    );
    assert!(unknown > 0 || acked.len() == total);
    let survivor = bases[1].clone();

    // Per container: st counts every committed create exactly once, no two
    // acknowledged creates share an st, cni and la are exact, and what mni
    // left are exactly the newest instances.
    let mut committed_total = 0;
    for (c, (name, mni)) in CONTAINERS.iter().enumerate() {
        let (_, body) = must(
            &client,
            &survivor,
            reqwest::Method::GET,
            &format!("/cse-in/{name}"),
            None,
            None,
        )
        .await;
        let cnt = &body["m2m:cnt"];
        let st = cnt["st"].as_u64().unwrap();
        let cni = cnt["cni"].as_u64().unwrap();
        committed_total += st;
        let mine: Vec<&Acked> = acked.iter().filter(|a| a.container == c).collect();
        let sts: HashSet<u64> = mine.iter().map(|a| a.st).collect();
        assert_eq!(sts.len(), mine.len(), "{name}: two creates got the same st");
        assert!(
            mine.len() as u64 <= st,
            "{name}: st {st} < {} acknowledged",
            mine.len()
        );
        assert!(sts.iter().all(|s| *s <= st));
        assert_eq!(cni, mni.map_or(st, |m| st.min(m)), "{name}: cni");
        let (_, body) = must(
            &client,
            &survivor,
            reqwest::Method::GET,
            &format!("/cse-in/{name}?fu=1&ty=4"),
            None,
            None,
        )
        .await;
        let children: Vec<String> = body["m2m:uril"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(children.len() as u64, cni, "{name}: children vs cni");
        let mut kept_st = BTreeSet::new();
        let mut kept_ri = HashSet::new();
        for child in &children {
            let (rsc, body) = must(
                &client,
                &survivor,
                reqwest::Method::GET,
                &format!("/{child}"),
                None,
                None,
            )
            .await;
            assert_eq!(rsc, 2000);
            kept_st.insert(body["m2m:cin"]["st"].as_u64().unwrap());
            kept_ri.insert(body["m2m:cin"]["ri"].as_str().unwrap().to_owned());
        }
        let newest: BTreeSet<u64> = (st - cni + 1..=st).collect();
        assert_eq!(kept_st, newest, "{name}: mni kept the newest");
        for a in &mine {
            if a.st > st - cni {
                assert!(
                    kept_ri.contains(&a.ri),
                    "{name}: acknowledged {} (st {}) lost",
                    a.ri,
                    a.st
                );
            }
        }
        let (_, body) = must(
            &client,
            &survivor,
            reqwest::Method::GET,
            &format!("/cse-in/{name}/la"),
            None,
            None,
        )
        .await;
        assert_eq!(body["m2m:cin"]["st"].as_u64(), Some(st), "{name}: la");
    }
    assert!(committed_total as usize >= acked.len());
    assert!(committed_total as usize <= acked.len() + unknown);

    // Expiry still runs: a surviving node took the leadership over.
    wait_for("a new leader", Duration::from_secs(10), || {
        leaders(&url, schema.name()) == 1
    })
    .await;
    let soon = time::format(time::after_ms(time::now(), 1500));
    let body = json!({"m2m:cin": {"rn": "brief", "con": "x", "et": soon}});
    let (rsc, created) = must(
        &client,
        &bases[2],
        reqwest::Method::POST,
        "/cse-in/keeping",
        Some(4),
        Some(body),
    )
    .await;
    assert_eq!(rsc, 2001, "{created}");
    let brief = created["m2m:cin"]["ri"].as_str().unwrap().to_owned();
    let start = Instant::now();
    loop {
        let (rsc, _) = must(
            &client,
            &survivor,
            reqwest::Method::GET,
            "/cse-in/keeping/brief",
            None,
            None,
        )
        .await;
        if rsc == 4004 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "expiry did not run after the leader died"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Notifications: every acknowledged create was notified, those the
    // killed node acknowledged too (its outbox was taken over by a survivor).
    // A re-delivery carries the rqi of the first attempt, so a receiver that
    // drops repeated rqi sees each event exactly once: no event may come
    // with two different rqi. Nothing was notified that was not created.
    let expected: HashSet<&str> = acked.iter().map(|a| a.ri.as_str()).collect();
    wait_for("the notifications", Duration::from_secs(40), || {
        let got = received.lock().unwrap();
        let creates: HashSet<&str> = got
            .iter()
            .filter(|(net, _, _)| *net == 3)
            .map(|(_, ri, _)| ri.as_str())
            .collect();
        expected.is_subset(&creates) && got.iter().any(|(net, ri, _)| *net == 4 && *ri == brief)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await; // duplicates would come now
    let all = received.lock().unwrap().clone();
    let redelivered = all.len();
    // what a receiver that de-duplicates on rqi keeps
    let mut by_rqi: HashMap<&str, (u64, &str)> = HashMap::new();
    for (net, ri, rqi) in &all {
        let first = by_rqi.entry(rqi.as_str()).or_insert((*net, ri.as_str()));
        assert_eq!(*first, (*net, ri.as_str()), "one rqi for two events");
    }
    let got: Vec<(u64, String)> = by_rqi
        .values()
        .map(|(net, ri)| (*net, (*ri).to_owned()))
        .collect();
    let redelivered = redelivered - got.len();
    let mut seen: HashMap<(u64, &str), usize> = HashMap::new();
    for (net, ri) in &got {
        *seen.entry((*net, ri.as_str())).or_default() += 1;
    }
    let duplicated: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        duplicated.is_empty(),
        "notified more than once under different rqi: {duplicated:?}"
    );
    let creates = got.iter().filter(|(net, _)| *net == 3).count();
    assert!(
        creates as u64 <= committed_total + 1,
        "more create notifications than creates"
    );
    let acked_ri: HashSet<&str> = acked.iter().map(|a| a.ri.as_str()).collect();
    let unacknowledged = got
        .iter()
        .filter(|(net, ri)| *net == 3 && *ri != brief && !acked_ri.contains(ri.as_str()))
        .count();
    assert!(unacknowledged <= unknown, "notified creates nobody made");
    println!(
        "{} creates acknowledged ({} by the killed node), {unknown} unanswered, \
         {committed_total} committed, {} notifications (+{redelivered} re-delivered with the same rqi)",
        acked.len(),
        acked.iter().filter(|a| a.node == 0).count(),
        got.len()
    );
}

/// One request as `originator`, with extra headers; must be answered.
#[allow(clippy::too_many_arguments)]
async fn send_as(
    client: &reqwest::Client,
    base: &str,
    method: reqwest::Method,
    path: &str,
    originator: &str,
    ty: Option<u32>,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    common::request_as(client, base, method, path, originator, ty, body, headers)
        .await
        .unwrap_or_else(|| panic!("no answer with X-M2M-RSC from {base}{path}"))
}

/// Long-poll `pcu` through `base` (up to `ret_ms`), answer what came with
/// an OK through `answer_base`; the polled request primitive.
async fn poll_and_answer(
    client: &reqwest::Client,
    base: &str,
    answer_base: &str,
    aei: &str,
    ret_ms: u64,
) -> Value {
    let (rsc, polled) = send_as(
        client,
        base,
        reqwest::Method::GET,
        "/cse-in/polled/pch/pcu",
        aei,
        None,
        None,
        &[("X-M2M-RET", &ret_ms.to_string())],
    )
    .await;
    assert_eq!(rsc, 2000, "polling through {base}: {polled}");
    let rqi = polled["m2m:rqp"]["rqi"]
        .as_str()
        .unwrap_or_else(|| panic!("a request primitive: {polled}"))
        .to_owned();
    let (rsc, answered) = send_as(
        client,
        answer_base,
        reqwest::Method::POST,
        "/cse-in/polled/pch/pcu",
        aei,
        None,
        Some(json!({"m2m:rsp": {"rqi": rqi, "rsc": 2000, "rvi": "4"}})),
        &[],
    )
    .await;
    assert_eq!(rsc, 2000, "answering through {answer_base}: {answered}");
    polled
}

/// A pollingChannel's mailbox is the CSE's, not one node's: requests queued
/// by node A (a subscription's verification, then a notification) are
/// polled through node B, and the answers given through B reach the senders
/// waiting on A.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_polling_channel_is_served_by_any_node() {
    let Some(url) = database_url() else { return };
    let schema = ScratchSchema::create(&url).expect("scratch schema");
    let a = start_node(&schema);
    let b = start_node(&schema);
    let (a, b) = (a.base.clone(), b.base.clone());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let ae = json!({"m2m:ae": {"rn": "polled", "api": "Ntest", "rr": false, "srv": ["4"]}});
    let (rsc, body) = send_as(
        &client,
        &a,
        reqwest::Method::POST,
        "/cse-in",
        "Cpolled",
        Some(2),
        Some(ae),
        &[],
    )
    .await;
    assert_eq!(rsc, 2001, "{body}");
    let aei = body["m2m:ae"]["aei"].as_str().unwrap().to_owned();
    let pch = json!({"m2m:pch": {"rn": "pch"}});
    let (rsc, body) = send_as(
        &client,
        &a,
        reqwest::Method::POST,
        "/cse-in/polled",
        &aei,
        Some(15),
        Some(pch),
        &[],
    )
    .await;
    assert_eq!(rsc, 2001, "{body}");
    let (rsc, body) = must(
        &client,
        &a,
        reqwest::Method::POST,
        "/cse-in",
        Some(3),
        Some(json!({"m2m:cnt": {"rn": "box"}})),
    )
    .await;
    assert_eq!(rsc, 2001, "{body}");

    // The verification request of a subscription created through A is
    // polled and answered through B.
    let verifying = {
        let (client, b, aei) = (client.clone(), b.clone(), aei.clone());
        tokio::spawn(async move { poll_and_answer(&client, &b, &b, &aei, 8_000).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sub = json!({"m2m:sub": {"rn": "sub", "nu": [aei], "nse": true, "enc": {"net": [3]}}});
    let (rsc, body) = must(
        &client,
        &a,
        reqwest::Method::POST,
        "/cse-in/box",
        Some(23),
        Some(sub),
    )
    .await;
    assert_eq!(rsc, 2001, "the verification answered through B: {body}");
    let verification = verifying.await.unwrap();
    assert_eq!(verification["m2m:rqp"]["pc"]["m2m:sgn"]["vrq"], json!(true));

    // A notification of a create through A, waiting before B is polled.
    let created = Instant::now();
    let (rsc, body) = must(
        &client,
        &a,
        reqwest::Method::POST,
        "/cse-in/box",
        Some(4),
        Some(json!({"m2m:cin": {"con": "21.5"}})),
    )
    .await;
    assert_eq!(rsc, 2001, "{body}");
    let polled = poll_and_answer(&client, &b, &b, &aei, 8_000).await;
    let answered = created.elapsed();
    assert_eq!(
        polled["m2m:rqp"]["pc"]["m2m:sgn"]["nev"]["rep"]["m2m:cin"]["con"],
        json!("21.5")
    );

    // A long-poll already waiting on B when A queues the request: the
    // latency of a cross-node polled delivery.
    let waiting = {
        let (client, b, aei) = (client.clone(), b.clone(), aei.clone());
        tokio::spawn(async move {
            let (rsc, polled) = send_as(
                &client,
                &b,
                reqwest::Method::GET,
                "/cse-in/polled/pch/pcu",
                &aei,
                None,
                None,
                &[("X-M2M-RET", "8000")],
            )
            .await;
            (rsc, polled, Instant::now())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = Instant::now();
    let (rsc, body) = must(
        &client,
        &a,
        reqwest::Method::POST,
        "/cse-in/box",
        Some(4),
        Some(json!({"m2m:cin": {"con": "22"}})),
    )
    .await;
    assert_eq!(rsc, 2001, "{body}");
    let (rsc, polled, arrived) = waiting.await.unwrap();
    assert_eq!(rsc, 2000, "{polled}");
    let latency = arrived.duration_since(sent);
    let rqi = polled["m2m:rqp"]["rqi"].as_str().unwrap().to_owned();
    // answered through A this time: the node that sent it
    let (rsc, body) = send_as(
        &client,
        &a,
        reqwest::Method::POST,
        "/cse-in/polled/pch/pcu",
        &aei,
        None,
        Some(json!({"m2m:rsp": {"rqi": rqi, "rsc": 2000, "rvi": "4"}})),
        &[],
    )
    .await;
    assert_eq!(rsc, 2000, "{body}");
    eprintln!("cross-node polled delivery: create through A to request at B's long-poll {latency:?}; create, poll and answer {answered:?}");

    // Both notifications count as delivered in the subscription's nsi.
    let mut stats = Value::Null;
    for _ in 0..100 {
        let (_, sub) = must(
            &client,
            &b,
            reqwest::Method::GET,
            "/cse-in/box/sub",
            None,
            None,
        )
        .await;
        stats = sub["m2m:sub"]["nsi"][0].clone();
        if stats.get("rsr") == Some(&json!(2)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(stats["tg"], json!(aei), "{stats}");
    assert_eq!(stats["rqs"], json!(2), "{stats}");
    assert_eq!(stats["rsr"], json!(2), "{stats}");
}

/// The strings of a JSON list (missing data points).
fn points(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|p| p.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Missing-data reports (event type 8) the receiver got: the points of each.
type Reports = Arc<Mutex<Vec<Vec<String>>>>;

async fn report_receiver() -> (String, Reports) {
    let reports: Reports = Arc::default();
    let sink = reports.clone();
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(move |body: String| {
            let sink = sink.clone();
            async move {
                let sgn: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                let nev = &sgn["m2m:sgn"]["nev"];
                if nev["net"].as_u64() == Some(8) {
                    let points = points(&nev["rep"]["m2m:tsn"]["mdlt"]);
                    sink.lock().unwrap().push(points);
                }
                common::notification_ok()
            }
        }),
    );
    (common::serve_on_loopback(app).await, reports)
}

/// The period of the watched series of the missing-data tests, in ms.
const PEI: i64 = 400;

/// Create `/cse-in/series` through `base`: missing-data detection on,
/// period [`PEI`], detection 300 ms after each expected time.
async fn watched_series(client: &reqwest::Client, base: &str, mdn: u64) {
    let series =
        json!({"m2m:ts": {"rn": "series", "pei": PEI, "mdd": true, "mdt": 300, "mdn": mdn}});
    let (rsc, body) = must(
        client,
        base,
        reqwest::Method::POST,
        "/cse-in",
        Some(29),
        Some(series),
    )
    .await;
    assert_eq!(rsc, 2001, "{body}");
}

/// A `dgt` for a time in ms since the epoch.
fn dgt_at(ms: i64) -> String {
    time::format(jiff::Timestamp::from_millisecond(ms).unwrap())
}

/// Instance `k` (of `count`) dated `first + k * PEI` and sent then, through
/// `through(k)`.
async fn instances_on_time(
    client: &reqwest::Client,
    first: i64,
    count: i64,
    through: impl Fn(i64) -> String,
) {
    for k in 0..count {
        let due = first + k * PEI;
        let wait = u64::try_from(due - time::now().as_millisecond()).unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let tsi = json!({"m2m:tsi": {"dgt": dgt_at(due), "con": k}});
        let base = through(k);
        let (rsc, body) = must(
            client,
            &base,
            reqwest::Method::POST,
            "/cse-in/series",
            Some(30),
            Some(tsi),
        )
        .await;
        assert_eq!(rsc, 2001, "instance {k} through {base}: {body}");
    }
}

/// A timeSeries watched for missing data gets its instances through two
/// nodes in turn: neither node reports a gap that the other one filled, and
/// once they stop, each missing point is recorded and reported once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_share_one_missing_data_watch() {
    let Some(url) = database_url() else { return };
    let schema = ScratchSchema::create(&url).expect("scratch schema");
    let nodes = [start_node(&schema), start_node(&schema)];
    let bases: Vec<String> = nodes.iter().map(|n| n.base.clone()).collect();
    let client = reqwest::Client::new();
    watched_series(&client, &bases[0], 10).await;
    let (target, reports) = report_receiver().await;
    let sub = json!({"m2m:sub": {"rn": "gaps", "nu": [target], "enc": {"net": [8], "md": {"num": 1, "dur": "PT60S"}}}});
    let (rsc, body) = must(
        &client,
        &bases[1],
        reqwest::Method::POST,
        "/cse-in/series",
        Some(23),
        Some(sub),
    )
    .await;
    assert_eq!(rsc, 2001, "{body}");

    let first = time::now().as_millisecond() + 200;
    const SENT: i64 = 6;
    instances_on_time(&client, first, SENT, |k| bases[(k % 2) as usize].clone()).await;
    // the next three periods pass without instances
    let gaps: Vec<String> = (SENT..SENT + 3).map(|k| dgt_at(first + k * PEI)).collect();
    let settled = first + (SENT + 2) * PEI + 300 + 300;
    let wait = u64::try_from(settled - time::now().as_millisecond()).unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(wait)).await;

    for base in &bases {
        let (rsc, body) = must(
            &client,
            base,
            reqwest::Method::GET,
            "/cse-in/series",
            None,
            None,
        )
        .await;
        assert_eq!(rsc, 2000, "{body}");
        let listed = points(&body["m2m:ts"]["mdlt"]);
        assert!(
            listed.len() >= 3 && listed[..3] == gaps[..],
            "through {base}: missing points {listed:?}, expected to start with {gaps:?} \
             (a point before them is a gap one node saw because the other had the instance)"
        );
        assert!(
            body["m2m:ts"].get("__mdw").is_none(),
            "the watch is internal: {body}"
        );
    }
    wait_for("the reports", Duration::from_secs(5), || {
        reports.lock().unwrap().len() >= 3
    })
    .await;
    let reported: Vec<String> = reports.lock().unwrap().iter().flatten().cloned().collect();
    assert_eq!(
        reported[..3],
        gaps[..],
        "each missing point is reported once, in order"
    );
    let unique: HashSet<&String> = reported.iter().collect();
    assert_eq!(
        unique.len(),
        reported.len(),
        "a point reported twice: {reported:?}"
    );
}

/// The node that timed a watched series dies: the leader (the other node,
/// by now) finds the watch and records the points missing since.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_missing_data_watch_outlives_its_node() {
    let Some(url) = database_url() else { return };
    let schema = ScratchSchema::create(&url).expect("scratch schema");
    let timing = start_node(&schema);
    let survivor = start_node(&schema);
    let (timing_base, survivor_base) = (timing.base.clone(), survivor.base.clone());
    let client = reqwest::Client::new();
    watched_series(&client, &survivor_base, 100).await;
    let first = time::now().as_millisecond() + 200;
    const SENT: i64 = 3;
    instances_on_time(&client, first, SENT, |_| timing_base.clone()).await;
    // only the dying node received instances, so only it timed the series
    drop(timing);
    let gaps: Vec<String> = (SENT..SENT + 3).map(|k| dgt_at(first + k * PEI)).collect();
    let deadline = Instant::now() + Duration::from_secs(15);
    let listed = loop {
        let (_, body) = must(
            &client,
            &survivor_base,
            reqwest::Method::GET,
            "/cse-in/series",
            None,
            None,
        )
        .await;
        let listed = points(&body["m2m:ts"]["mdlt"]);
        if listed.len() >= gaps.len() {
            break listed;
        }
        assert!(
            Instant::now() < deadline,
            "timed out: the survivor recorded {listed:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        listed[..gaps.len()],
        gaps[..],
        "the points missing since the last instance, none before it"
    );
}

/// Events of one subscription taken by two nodes fill one batch: four
/// events, two on each node, go out as one notification, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_batch_fills_across_nodes() {
    let Some(url) = database_url() else { return };
    let schema = ScratchSchema::create(&url).expect("scratch schema");
    let first = start_node(&schema);
    let second = start_node(&schema);
    let (receiver, batches) = common::batch_receiver().await;
    common::batched_box(&first.base, &receiver, 4).await;
    for con in 0..3 {
        let node = if con % 2 == 0 { &first } else { &second };
        common::add_to_box(&node.base, con).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(batches.lock().unwrap().is_empty(), "three of four are held");
    common::add_to_box(&second.base, 3).await;
    common::expect_one_batch(
        &batches,
        &[0, 1, 2, 3],
        "one batch, sent once, with the events of both nodes",
    )
    .await;
}
