//! All KPIs of a year over 10 million stored readings, on the store path.
//!
//! ```sh
//! cargo bench -p urbis-kpi --bench ten_million            # 10 000 000 readings
//! URBIS_BENCH_READINGS=1000000 URBIS_BENCH_DIR=/tmp/kpi1m cargo bench -p urbis-kpi --bench ten_million
//! ```
//!
//! 1. A CSE on a file store (`URBIS_BENCH_DIR`, default a fresh temporary
//!    directory) gets the simulated city over HTTP (`simulate::city`), plus
//!    `EXTRA_CONTAINERS` more sensor and meter containers with the city's
//!    labels, also over HTTP.
//! 2. Those containers are filled up to the total directly through the
//!    store's write path, in batches of `BATCH` inserts per write job: loading
//!    10 million instances one HTTP request at a time would take hours, and it
//!    is the computation that is measured, not the load.
//! 3. The report for the year is computed three times with the store source
//!    (`StoreSource`, what `urbis kpi report --data-dir` and the server use);
//!    each time and the median are printed.
//!
//! A directory that already holds a loaded city is reused (step 3 only).

use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Map};
use tokio::net::TcpListener;
use urbis_core::{Cse, CseConfig};
use urbis_kpi::bindings::Bindings;
use urbis_kpi::local::StoreSource;
use urbis_kpi::platform::Platform;
use urbis_kpi::stats::Statistics;
use urbis_kpi::{build_report, simulate, Catalogue};
use urbis_model::Resource;
use urbis_store::sqlite::SqliteStore;
use urbis_store::{write_blocking, Store};

const YEAR: i32 = 2026;
const EXTRA_CONTAINERS: usize = 400;
const BATCH: usize = 20_000;
/// (label, value around, spread): readings the extra containers carry.
const EXTRA_FEEDS: [(&str, f64, f64); 4] = [
    ("air/no2", 14.0, 6.0),
    ("air/pm25", 9.0, 4.0),
    ("traffic/travel-time-peak", 11.0, 3.0),
    ("traffic/travel-time-free", 8.0, 1.0),
];
const MARKER: &str = "loaded-readings";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let total: usize = std::env::var("URBIS_BENCH_READINGS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let temp;
    let dir = match std::env::var_os("URBIS_BENCH_DIR") {
        Some(dir) => std::path::PathBuf::from(dir),
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_owned()
        }
    };
    let store = Arc::new(SqliteStore::open(&dir)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let marker = dir.join(MARKER);
    let loaded: usize = std::fs::read_to_string(&marker)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    if loaded == 0 {
        let started = Instant::now();
        let city_readings = runtime.block_on(city(store.clone()))?;
        eprintln!(
            "city and {EXTRA_CONTAINERS} extra containers over HTTP: {city_readings} readings in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let started = Instant::now();
        let bulk = total.saturating_sub(city_readings);
        load(&*store, bulk)?;
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "{bulk} readings through the store's write path in {secs:.1} s ({:.0}/s)",
            bulk as f64 / secs
        );
        std::fs::write(&marker, (city_readings + bulk).to_string())?;
    } else {
        eprintln!("reusing {} with {loaded} readings", dir.display());
    }

    let cat = Catalogue::embedded();
    let bindings = Bindings::parse(simulate::BINDINGS, cat)?;
    let stats = Statistics::parse(&simulate::statistics(YEAR), cat)?;
    let source = StoreSource::new(store.clone(), "cse-in");
    let mut times = Vec::new();
    for run in 1..=3 {
        let started = Instant::now();
        let report = runtime.block_on(build_report(&source, cat, &bindings, &stats, YEAR))?;
        let secs = started.elapsed().as_secs_f64();
        let readings: usize = report
            .results
            .iter()
            .filter(|r| r.code == "EN: EN: AQ: 1C" && r.part.as_deref() == Some("NO2"))
            .count();
        eprintln!(
            "run {run}: all KPIs for {YEAR} in {secs:.2} s ({} of 91 reported; NO2 results {readings})",
            report.coverage.all.reported
        );
        times.push(secs);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "ten_million: {} readings, median of 3 runs {:.2} s (min {:.2}, max {:.2})",
        std::fs::read_to_string(&marker)?.trim(),
        times[1],
        times[0],
        times[2]
    );
    Ok(())
}

/// The simulated city and the extra containers, through the oneM2M API.
async fn city(store: Arc<SqliteStore>) -> Result<usize, Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let cse = Cse::open(CseConfig::default(), store).map_err(|e| e.to_string())?;
    cse.start_background();
    tokio::spawn(urbis_http::serve(
        listener,
        cse,
        urbis_http::HttpOptions::default(),
        std::future::pending(),
    ));
    let p = Arc::new(Platform::new(
        &format!("http://{addr}"),
        "cse-in",
        "CAdmin",
    )?);
    let city = simulate::city(p.clone(), YEAR).await?;
    p.ensure(
        "cse-in",
        2,
        json!({"m2m:ae": {"rn": "bench", "api": "Nbench", "rr": false, "srv": ["3"]}}),
        "Cbench",
    )
    .await?;
    for i in 0..EXTRA_CONTAINERS {
        let (label, _, _) = EXTRA_FEEDS[i % EXTRA_FEEDS.len()];
        p.ensure(
            "cse-in/bench",
            3,
            json!({"m2m:cnt": {"rn": format!("sensor-{i:04}"), "lbl": [label]}}),
            "Cbench",
        )
        .await?;
    }
    Ok(city.readings)
}

/// `n` readings spread over the extra containers, two years of them, written
/// as contentInstances like the CSE writes them, `BATCH` per write job.
fn load(store: &dyn Store, n: usize) -> Result<(), Box<dyn std::error::Error>> {
    let reader = store.reader()?;
    let mut containers = Vec::new();
    for i in 0..EXTRA_CONTAINERS {
        let path = format!("cse-in/bench/sensor-{i:04}");
        let cnt = reader
            .get_by_path(&path)?
            .ok_or_else(|| format!("{path} missing"))?;
        containers.push((
            path,
            cnt.ri().to_owned(),
            EXTRA_FEEDS[i % EXTRA_FEEDS.len()],
        ));
    }
    drop(reader);
    let per_container = n.div_ceil(EXTRA_CONTAINERS);
    let mut rng = fastrand::Rng::with_seed(7);
    let mut written = 0;
    let mut batch: Vec<Resource> = Vec::with_capacity(BATCH);
    let now = "20261201T000000";
    for (c, (path, ri, (_, base, spread))) in containers.iter().enumerate() {
        for k in 0..per_container {
            if written == n {
                break;
            }
            // spread over two years, oldest first
            let minute = (k as u64 * 2 * 365 * 24 * 60) / per_container as u64;
            let day = minute / (24 * 60);
            let (year, day) = if day < 365 {
                (YEAR - 1, day)
            } else {
                (YEAR, day - 365)
            };
            let date = jiff::civil::date(year as i16, 1, 1)
                .checked_add(jiff::Span::new().days(day as i64))?;
            let t = format!(
                "{}T{:02}{:02}00",
                date.strftime("%Y%m%d"),
                (minute / 60) % 24,
                minute % 60
            );
            let v = ((base + (rng.f64() - 0.5) * spread) * 10.0).round() / 10.0;
            let con = json!({"v": v, "t": t});
            let rn = format!("b{c:04}-{k:07}");
            let mut attrs = Map::new();
            attrs.insert("ty".into(), json!(4));
            attrs.insert("ri".into(), json!(format!("cin{c:04}{k:07}")));
            attrs.insert("rn".into(), json!(rn));
            attrs.insert("pi".into(), json!(ri));
            attrs.insert("ct".into(), json!(t));
            attrs.insert("lt".into(), json!(now));
            attrs.insert("et".into(), json!("20361201T000000"));
            attrs.insert("st".into(), json!(k + 1));
            attrs.insert("cs".into(), json!(con.to_string().len()));
            attrs.insert("con".into(), con);
            batch.push(Resource {
                ty: 4,
                path: format!("{path}/{rn}"),
                creator: "Cbench".into(),
                attrs,
            });
            written += 1;
            if batch.len() == BATCH {
                flush(store, &mut batch)?;
                if written % 1_000_000 < BATCH {
                    eprintln!("  {written} written");
                }
            }
        }
    }
    flush(store, &mut batch)?;
    Ok(())
}

fn flush(store: &dyn Store, batch: &mut Vec<Resource>) -> Result<(), Box<dyn std::error::Error>> {
    let jobs = std::mem::take(batch);
    write_blocking(store, move |txn| {
        for r in &jobs {
            txn.insert(r)?;
        }
        Ok(())
    })
    .map_err(|e| e.to_string())?;
    Ok(())
}
