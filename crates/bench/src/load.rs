//! Closed-loop load: `concurrency` workers, each on its own connection, send
//! one request after another for a fixed time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;

use crate::client::{Client, Target};
use crate::stats::Run;

/// One request of a load phase.
pub struct Op {
    pub method: Method,
    pub path: String,
    pub ty: Option<u32>,
    pub body: Option<Bytes>,
}

/// Builds the `n`-th request of a worker.
pub type MakeOp = dyn Fn(u64) -> Op + Send + Sync;

/// Run `make` from `concurrency` workers for `duration`.
pub async fn run(
    target: Arc<Target>,
    concurrency: usize,
    duration: Duration,
    make: Arc<MakeOp>,
) -> anyhow::Result<Run> {
    let mut clients = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let mut client = Client::new(target.clone())?;
        client.open().await?;
        clients.push(client);
    }
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(worker, mut client)| {
            let make = make.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(1 << 16);
                let mut errors = 0u64;
                let mut first_error = None;
                let mut n = worker as u64;
                while Instant::now() < deadline {
                    let op = make(n);
                    n += concurrency as u64;
                    let sent = Instant::now();
                    match client.send(op.method, &op.path, op.ty, op.body).await {
                        Ok(answer) if answer.ok() => {
                            latencies.push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32)
                        }
                        Ok(answer) => {
                            errors += 1;
                            first_error.get_or_insert_with(|| answer.describe());
                        }
                        Err(err) => {
                            errors += 1;
                            first_error.get_or_insert_with(|| format!("{err:#}"));
                        }
                    }
                }
                (latencies, errors, first_error)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    for worker in workers {
        let (mut worker_latencies, worker_errors, worker_first) = worker.await?;
        latencies.append(&mut worker_latencies);
        errors += worker_errors;
        first_error = first_error.or(worker_first);
    }
    let elapsed = started.elapsed();
    if let Some(first) = first_error {
        eprintln!("  {errors} failed requests; the first: {first}");
    }
    Ok(Run::new(latencies.len() as u64, errors, elapsed, latencies))
}

/// Tries of one populating request before giving up (some CSEs fail the odd
/// request under concurrent writes).
const POPULATE_TRIES: u32 = 3;

/// Send `count` requests from `concurrency` workers as fast as the CSE takes
/// them (populating); fails at a request the CSE refused [`POPULATE_TRIES`] times.
pub async fn all(
    target: Arc<Target>,
    concurrency: usize,
    count: u64,
    make: Arc<MakeOp>,
) -> anyhow::Result<Run> {
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let make = make.clone();
            let next = next.clone();
            let target = target.clone();
            tokio::spawn(async move {
                let mut client = Client::new(target)?;
                let mut latencies = Vec::new();
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if n >= count {
                        return anyhow::Ok(latencies);
                    }
                    let op = make(n);
                    let mut tries = 0;
                    loop {
                        tries += 1;
                        let sent = Instant::now();
                        let answer = client
                            .send(op.method.clone(), &op.path, op.ty, op.body.clone())
                            .await;
                        match answer {
                            Ok(answer) if answer.ok() => {
                                latencies
                                    .push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32);
                                break;
                            }
                            // a name taken by an earlier try that did succeed
                            Ok(answer) if tries > 1 && answer.rsc == Some(4105) => break,
                            Ok(answer) if tries >= POPULATE_TRIES => anyhow::bail!(
                                "request {n} to {} failed: {}",
                                op.path,
                                answer.describe()
                            ),
                            Err(err) if tries >= POPULATE_TRIES => return Err(err),
                            _ => {}
                        }
                    }
                }
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.append(&mut worker.await??);
    }
    Ok(Run::new(
        latencies.len() as u64,
        0,
        started.elapsed(),
        latencies,
    ))
}
