//! The benchmark phases. Each one sets up what it needs below the benchmark's
//! own AE, measures `runs` times and returns one [`Report`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use http::Method;
use serde_json::{json, Value};

use crate::client::{Client, Target};
use crate::load::{self, Op};
use crate::receiver::Receiver;
use crate::stats::{median_index, Run};

/// Large enough that no instance is evicted while the benchmark runs (some
/// CSEs default `mni`/`mbs` to a few instances).
const NO_EVICTION_MNI: u64 = 2_000_000_000;
const NO_EVICTION_MBS: u64 = 1_000_000_000_000;

/// The outcome of one phase.
pub struct Report {
    pub phase: &'static str,
    /// What each run measured, in `unit`.
    pub runs: Vec<f64>,
    pub unit: &'static str,
    /// Latency percentiles of the median run, in milliseconds.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub errors: u64,
    /// Anything else worth printing (populate rate, sizes).
    pub extra: serde_json::Map<String, Value>,
}

impl Report {
    pub fn median(&self) -> f64 {
        self.runs[median_index(&self.runs)]
    }

    fn of_runs(phase: &'static str, unit: &'static str, runs: Vec<Run>) -> Report {
        let rates: Vec<f64> = runs.iter().map(Run::rate).collect();
        let median = &runs[median_index(&rates)];
        Report {
            phase,
            p50_ms: median.percentile_ms(50.0),
            p99_ms: median.percentile_ms(99.0),
            errors: runs.iter().map(|r| r.errors).sum(),
            runs: rates,
            unit,
            extra: serde_json::Map::new(),
        }
    }
}

/// Settings shared by the phases.
pub struct Plan {
    pub target: Arc<Target>,
    /// Resource name of the benchmark's AE (below the CSEBase).
    pub ae: String,
    pub concurrency: usize,
    pub duration: Duration,
    pub runs: usize,
    pub content_size: usize,
}

impl Plan {
    fn client(&self) -> anyhow::Result<Client> {
        Client::new(self.target.clone())
    }

    fn content(&self) -> Bytes {
        let con = "x".repeat(self.content_size);
        Bytes::from(json!({"m2m:cin": {"cnf": "text/plain:0", "con": con}}).to_string())
    }

    /// Create a container below the AE unless it exists; its `cni`.
    async fn container(&self, name: &str) -> anyhow::Result<u64> {
        let mut client = self.client()?;
        let body = json!({"rn": name, "mni": NO_EVICTION_MNI, "mbs": NO_EVICTION_MBS});
        let created = client
            .create(&self.ae, 3, &json!({ "m2m:cnt": body }))
            .await;
        if created.is_ok() {
            return Ok(0);
        }
        let path = self.target.path(&format!("{}/{name}", self.ae));
        let answer = client.send(Method::GET, &path, None, None).await?;
        if !answer.ok() {
            bail!(
                "container {name}: {}",
                created.err().map(|e| e.to_string()).unwrap_or_default()
            );
        }
        let cnt: Value = serde_json::from_slice(&answer.body).context("container body")?;
        Ok(cnt["m2m:cnt"]["cni"].as_u64().unwrap_or(0))
    }
}

/// Register the benchmark's AE (reusing it when it exists already).
pub async fn register(plan: &Plan, poa: Option<String>) -> anyhow::Result<()> {
    let mut client = plan.client()?;
    let mut ae = json!({"rn": plan.ae, "api": "Nurbis-bench", "rr": poa.is_some(), "srv": [plan.target.rvi]});
    if let Some(poa) = poa {
        ae["poa"] = json!([poa]);
    }
    let path = plan.target.path("");
    let answer = client
        .send(
            Method::POST,
            &path,
            Some(2),
            Some(Bytes::from(json!({ "m2m:ae": ae }).to_string())),
        )
        .await?;
    match answer.rsc {
        Some(2001) => Ok(()),
        // registered by an earlier run kept with --keep: 4105 CONFLICT (ACME)
        // or 4117 "already registered" (Urbis)
        Some(4105 | 4117) => Ok(()),
        _ => bail!("AE registration failed: {}", answer.describe()),
    }
}

pub async fn unregister(plan: &Plan) -> anyhow::Result<()> {
    let answer = plan.client()?.delete(&plan.ae).await?;
    if !answer.ok() {
        bail!("deleting the AE failed: {}", answer.describe());
    }
    Ok(())
}

/// contentInstance CREATE into one container.
pub async fn create(plan: &Plan) -> anyhow::Result<Report> {
    plan.container("load").await?;
    let path = plan.target.path(&format!("{}/load", plan.ae));
    let body = plan.content();
    let make: Arc<load::MakeOp> = Arc::new(move |_| Op {
        method: Method::POST,
        path: path.clone(),
        ty: Some(4),
        body: Some(body.clone()),
    });
    let mut runs = Vec::new();
    for _ in 0..plan.runs {
        runs.push(
            load::run(
                plan.target.clone(),
                plan.concurrency,
                plan.duration,
                make.clone(),
            )
            .await?,
        );
    }
    Ok(Report::of_runs("create", "req/s", runs))
}

/// RETRIEVE of `<container>/la`.
pub async fn retrieve(plan: &Plan) -> anyhow::Result<Report> {
    if plan.container("load").await? == 0 {
        let mut client = plan.client()?;
        let path = plan.target.path(&format!("{}/load", plan.ae));
        let answer = client
            .send(Method::POST, &path, Some(4), Some(plan.content()))
            .await?;
        if !answer.ok() {
            bail!("contentInstance for la: {}", answer.describe());
        }
    }
    let path = plan.target.path(&format!("{}/load/la", plan.ae));
    let make: Arc<load::MakeOp> = Arc::new(move |_| Op {
        method: Method::GET,
        path: path.clone(),
        ty: None,
        body: None,
    });
    let mut runs = Vec::new();
    for _ in 0..plan.runs {
        runs.push(
            load::run(
                plan.target.clone(),
                plan.concurrency,
                plan.duration,
                make.clone(),
            )
            .await?,
        );
    }
    Ok(Report::of_runs("retrieve", "req/s", runs))
}

fn label(n: u64) -> String {
    format!("bench-{n}")
}

/// Discovery by label (`fu=1&lbl=`) over `population` contentInstances, each
/// with its own label, so that every query matches exactly one of them.
pub async fn discovery(plan: &Plan, population: u64, concurrency: usize) -> anyhow::Result<Report> {
    let have = plan.container("labelled").await?;
    let parent = plan.target.path(&format!("{}/labelled", plan.ae));
    let mut extra = serde_json::Map::new();
    if have < population {
        let parent = parent.clone();
        let make: Arc<load::MakeOp> = Arc::new(move |n| Op {
            method: Method::POST,
            path: parent.clone(),
            ty: Some(4),
            body: Some(Bytes::from(
                json!({"m2m:cin": {"lbl": [label(have + n)], "con": "0123456789"}}).to_string(),
            )),
        });
        eprintln!("  populating {} contentInstances ...", population - have);
        let populated = load::all(
            plan.target.clone(),
            plan.concurrency,
            population - have,
            make,
        )
        .await?;
        eprintln!(
            "  populated at {:.0}/s (p50 {:.2} ms, p99 {:.2} ms)",
            populated.rate(),
            populated.percentile_ms(50.0),
            populated.percentile_ms(99.0)
        );
        extra.insert("populate_per_s".into(), json!(populated.rate().round()));
        extra.insert(
            "populate_p99_ms".into(),
            json!(populated.percentile_ms(99.0)),
        );
    }
    extra.insert("population".into(), json!(population));

    let scope = plan.target.path(&plan.ae);
    // one query checked by hand: the harness must measure answers, not errors
    let probe = population / 2;
    let mut client = plan.client()?;
    let answer = client
        .send(
            Method::GET,
            &format!("{scope}?fu=1&lbl={}", label(probe)),
            None,
            None,
        )
        .await?;
    let found: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    let hits = found["m2m:uril"].as_array().map_or(0, Vec::len);
    if !answer.ok() || hits != 1 {
        bail!(
            "discovery of {} found {hits} resources, not 1: {}",
            label(probe),
            answer.describe()
        );
    }
    let make: Arc<load::MakeOp> = Arc::new(move |_| Op {
        method: Method::GET,
        path: format!("{scope}?fu=1&lbl={}", label(fastrand::u64(0..population))),
        ty: None,
        body: None,
    });
    let mut runs = Vec::new();
    for _ in 0..plan.runs {
        runs.push(
            load::run(
                plan.target.clone(),
                concurrency,
                plan.duration,
                make.clone(),
            )
            .await?,
        );
    }
    let mut report = Report::of_runs("discovery", "req/s", runs);
    report.extra = extra;
    Ok(report)
}

/// One contentInstance created in a container with `subscribers`
/// subscriptions, each to its own notification URI on a local receiver;
/// measured from sending the CREATE until the last notification arrived.
pub async fn fanout(plan: &Plan, receiver: &Receiver, subscribers: u64) -> anyhow::Result<Report> {
    // a fresh container: subscriptions of an earlier kept run would add to the count
    let name = format!("fanout{}", fastrand::u32(..));
    plan.container(&name).await?;
    let parent = plan.target.path(&format!("{}/{name}", plan.ae));
    let urls: Arc<Vec<String>> = Arc::new((0..subscribers).map(|n| receiver.url(n)).collect());
    let subscribe_path = parent.clone();
    let make: Arc<load::MakeOp> = Arc::new(move |n| {
        Op {
        method: Method::POST,
        path: subscribe_path.clone(),
        ty: Some(23),
        body: Some(Bytes::from(
            json!({"m2m:sub": {"rn": format!("s{n}"), "nu": [urls[n as usize]], "enc": {"net": [3], "chty": [4]}, "nct": 1}})
                .to_string(),
        )),
    }
    });
    let started = Instant::now();
    load::all(
        plan.target.clone(),
        plan.concurrency.min(16),
        subscribers,
        make,
    )
    .await?;
    let mut extra = serde_json::Map::new();
    extra.insert("subscribers".into(), json!(subscribers));
    extra.insert(
        "subscribe_per_s".into(),
        json!((subscribers as f64 / started.elapsed().as_secs_f64()).round()),
    );
    extra.insert("verifications".into(), json!(receiver.verifications()));

    let mut client = plan.client()?;
    let mut delivered_ms = Vec::new();
    let mut first_ms = Vec::new();
    for _ in 0..plan.runs {
        let expected = receiver.events() + subscribers;
        let sent = Instant::now();
        let answer = client
            .send(Method::POST, &parent, Some(4), Some(plan.content()))
            .await?;
        if !answer.ok() {
            bail!("the event's contentInstance: {}", answer.describe());
        }
        first_ms.push(sent.elapsed().as_secs_f64() * 1000.0);
        let Some(last) = receiver.wait_for(expected, Duration::from_secs(60)).await else {
            bail!(
                "only {} of {subscribers} notifications arrived within 60 s",
                receiver.events() + subscribers - expected
            );
        };
        delivered_ms.push((last - sent).as_secs_f64() * 1000.0);
        // duplicates would arrive after the last expected one
        tokio::time::sleep(Duration::from_millis(200)).await;
        if receiver.events() != expected {
            bail!(
                "{} notifications arrived for one event and {subscribers} subscribers",
                receiver.events() + subscribers - expected
            );
        }
    }
    let create_ms = first_ms[median_index(&first_ms)];
    extra.insert("create_answer_ms".into(), json!(create_ms));
    let median = delivered_ms[median_index(&delivered_ms)];
    let mut sorted = delivered_ms.clone();
    sorted.sort_by(f64::total_cmp);
    Ok(Report {
        phase: "fanout",
        unit: "ms",
        p50_ms: median,
        p99_ms: *sorted.last().unwrap_or(&median),
        errors: 0,
        runs: delivered_ms,
        extra,
    })
}
