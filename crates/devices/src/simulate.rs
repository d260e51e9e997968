//! `urbis devices simulate`: many light simulated devices against one CSE,
//! to measure what a node holds. Each device registers like the agent does
//! (its `<node>`, its AE, a battery mgmtObj) and then reports its battery
//! every interval, the reports of all devices spread evenly over the
//! interval. With `--cse-pid` the CSE process's CPU time and resident memory
//! are read from `/proc` over the reporting phase.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;
use tokio::sync::{Mutex, Semaphore};

use crate::agent::{device_name, names};
use crate::client::{rsc, Client};
use crate::Error;

#[derive(Clone, Debug)]
pub struct SimulationOptions {
    pub url: String,
    pub cse_name: String,
    pub provisioner: String,
    pub count: usize,
    pub interval: Duration,
    /// How long to report after registration.
    pub duration: Duration,
    /// Requests in flight at most.
    pub concurrency: usize,
    /// Prefix of the simulated node IDs.
    pub prefix: String,
    pub cse_pid: Option<u32>,
}

#[derive(Debug, Default, Serialize)]
pub struct SimulationReport {
    pub devices: usize,
    pub registration_secs: f64,
    pub reports_sent: u64,
    pub reports_failed: u64,
    pub reports_per_sec: f64,
    pub report_latency_ms_p50: f64,
    pub report_latency_ms_p99: f64,
    /// CPU the CSE used during the reporting phase, in percent of one core.
    pub cse_cpu_percent: Option<f64>,
    pub cse_rss_mib: Option<f64>,
}

/// utime + stime of a process, in clock ticks, and its resident set in KiB.
fn process_usage(pid: u32) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // fields after the command name, which may contain spaces
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some((ticks, rss_kib))
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux everywhere).
const TICKS_PER_SEC: f64 = 100.0;

async fn register(client: &Client, options: &SimulationOptions, i: usize) -> Result<(), Error> {
    let node_id = format!("{}{i:06}", options.prefix);
    let name = device_name(&node_id);
    let ae_id = names::ae_id(&name);
    let cse = &options.cse_name;
    let device = client.as_originator(&ae_id);
    let provisioner = client.as_originator(&options.provisioner);
    let node = json!({"m2m:nod": {"rn": names::node(&name), "ni": node_id, "cstn": ae_id,
        "lbl": [format!("urbis:reportInterval/{}", options.interval.as_secs())]}});
    let answer = provisioner.create(cse, 14, &node).await?;
    if answer.rsc != rsc::CONFLICT {
        answer.expect("node")?;
    }
    let node_path = format!("{cse}/{}", names::node(&name));
    let ae = json!({"m2m:ae": {"rn": name, "api": "Nurbis-sim", "rr": false,
        "srv": ["4"], "nl": node_path}});
    let answer = device.create(cse, 2, &ae).await?;
    if !matches!(answer.rsc, rsc::CONFLICT | rsc::ALREADY_REGISTERED) {
        answer.expect("AE")?;
    }
    let bat = json!({"m2m:bat": {"mgd": 1006, "rn": names::BATTERY, "btl": 100, "bts": 1}});
    let answer = device.create(&node_path, 13, &bat).await?;
    if answer.rsc != rsc::CONFLICT {
        answer.expect("battery")?;
    }
    Ok(())
}

pub async fn run(options: SimulationOptions) -> Result<SimulationReport, Error> {
    let client = Client::new(&options.url, &options.provisioner)?;
    let limit = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let options = Arc::new(options);

    let started = Instant::now();
    let mut registrations = Vec::with_capacity(options.count);
    for i in 0..options.count {
        let permit = limit.clone().acquire_owned().await;
        let (client, options) = (client.clone(), options.clone());
        registrations.push(tokio::spawn(async move {
            let _permit = permit;
            register(&client, &options, i).await
        }));
    }
    for registration in registrations {
        registration
            .await
            .map_err(|e| Error::Fleet(format!("registration task: {e}")))??;
    }
    let registration_secs = started.elapsed().as_secs_f64();

    let before = options.cse_pid.and_then(process_usage);
    let reporting = Instant::now();
    let latencies: Arc<Mutex<Vec<u32>>> = Arc::default();
    let failed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut devices = Vec::with_capacity(options.count);
    for i in 0..options.count {
        let (client, options, limit) = (client.clone(), options.clone(), limit.clone());
        let (latencies, failed) = (latencies.clone(), failed.clone());
        devices.push(tokio::spawn(async move {
            let name = device_name(&format!("{}{i:06}", options.prefix));
            let device = client.as_originator(&names::ae_id(&name));
            let path = format!(
                "{}/{}/{}",
                options.cse_name,
                names::node(&name),
                names::BATTERY
            );
            // spread the devices evenly over one interval
            let offset = options.interval.mul_f64(i as f64 / options.count as f64);
            let first = tokio::time::Instant::now() + offset;
            let mut ticker = tokio::time::interval_at(first, options.interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let end = tokio::time::Instant::now() + options.duration;
            let mut level: u64 = 100;
            loop {
                ticker.tick().await;
                if tokio::time::Instant::now() >= end {
                    return;
                }
                level = if level == 0 { 100 } else { level - 1 };
                let Ok(_permit) = limit.acquire().await else {
                    return;
                };
                let sent = Instant::now();
                let answer = device
                    .update(&path, &json!({"m2m:bat": {"btl": level}}))
                    .await;
                let micros = u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX);
                match answer {
                    Ok(a) if a.is_success() => latencies.lock().await.push(micros),
                    _ => {
                        failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for device in devices {
        let _ = device.await;
    }
    let elapsed = reporting.elapsed().as_secs_f64();
    let after = options.cse_pid.and_then(process_usage);

    let mut latencies = std::mem::take(&mut *latencies.lock().await);
    latencies.sort_unstable();
    let quantile = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |us| f64::from(*us) / 1000.0)
    };
    let sent = latencies.len() as u64;
    Ok(SimulationReport {
        devices: options.count,
        registration_secs,
        reports_sent: sent,
        reports_failed: failed.load(std::sync::atomic::Ordering::Relaxed),
        reports_per_sec: sent as f64 / options.duration.as_secs_f64().max(f64::EPSILON),
        report_latency_ms_p50: quantile(0.5),
        report_latency_ms_p99: quantile(0.99),
        cse_cpu_percent: match (before, after) {
            (Some((t0, _)), Some((t1, _))) => {
                Some((t1 - t0) as f64 / TICKS_PER_SEC / elapsed * 100.0)
            }
            _ => None,
        },
        cse_rss_mib: after.map(|(_, rss)| rss as f64 / 1024.0),
    })
}
