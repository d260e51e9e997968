//! `urbis-bench`: measure a oneM2M CSE over HTTP (TS-0009), any CSE.

use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use serde_json::{json, Value};

use urbis_bench::client::Target;
use urbis_bench::phases::{self, Plan, Report};
use urbis_bench::receiver;

#[derive(Parser)]
#[command(
    name = "urbis-bench",
    version,
    about = "Benchmark any oneM2M CSE over HTTP: contentInstance CREATE, RETRIEVE of \
             <container>/la, discovery by label over N resources, notification fan-out \
             (1 event to N subscribers). Prints rates, medians of the runs and p50/p99 \
             latencies per phase, then one JSON line.",
    after_help = "Each worker keeps one keep-alive connection. The harness registers its own \
                  AE (named after the originator) below the CSEBase and deletes it at the end \
                  unless --keep is given; a kept AE is reused by the next run, and so are the \
                  discovery resources it already holds.\n\n\
                  The fan-out phase reports milliseconds per event: p50_ms is the median \
                  event, p99_ms the slowest.\n\n\
                  Example (Urbis):   urbis-bench --url http://127.0.0.1:8080\n\
                  Example (ACME):    urbis-bench --url http://127.0.0.1:8081 --cse cse-in \
                  --originator CAdmin --rvi 3 --population 10000"
)]
struct Args {
    /// Base URL of the CSE's HTTP binding (a path prefix is kept).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// CSEBase resource name.
    #[arg(long = "cse", default_value = "cse-in")]
    cse_name: String,
    /// X-M2M-Origin of every request; also the AE's resource name.
    #[arg(long, default_value = "Curbis-bench")]
    originator: String,
    /// X-M2M-RVI of every request (release version indicator).
    #[arg(long, default_value = "4")]
    rvi: String,
    /// Phases to run, in order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "create,retrieve,discovery,fanout"
    )]
    phases: Vec<Phase>,
    /// Requests in flight (one connection each) for create, retrieve and populating.
    #[arg(long, short = 'c', default_value_t = 32)]
    concurrency: usize,
    /// Seconds per timed run.
    #[arg(long, short = 'd', default_value_t = 10.0)]
    duration: f64,
    /// Runs per phase; the median run is reported.
    #[arg(long, short = 'r', default_value_t = 3)]
    runs: usize,
    /// Bytes of `con` in each contentInstance of the create phase.
    #[arg(long, default_value_t = 100)]
    content_size: usize,
    /// Labelled contentInstances the discovery phase searches (created when missing).
    #[arg(long, default_value_t = 100_000)]
    population: u64,
    /// Queries in flight during the discovery phase.
    #[arg(long, default_value_t = 1)]
    discovery_concurrency: usize,
    /// Subscriptions (each its own notification URI) of the fan-out phase.
    #[arg(long, default_value_t = 1000)]
    subscribers: u64,
    /// Seconds to wait for any one answer.
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
    /// Keep the AE and everything below it (reused by the next run).
    #[arg(long)]
    keep: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Phase {
    Create,
    Retrieve,
    Discovery,
    Fanout,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.concurrency == 0 || args.runs == 0 || args.subscribers == 0 || args.population == 0 {
        anyhow::bail!("--concurrency, --runs, --subscribers and --population must be positive");
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(bench(args))
}

async fn bench(args: Args) -> anyhow::Result<()> {
    let target = Arc::new(Target::new(
        &args.url,
        &args.cse_name,
        &args.originator,
        &args.rvi,
        Duration::from_secs_f64(args.timeout),
    )?);
    let plan = Plan {
        ae: args.originator.clone(),
        target,
        concurrency: args.concurrency,
        duration: Duration::from_secs_f64(args.duration),
        runs: args.runs,
        content_size: args.content_size,
    };
    let receiver = receiver::Receiver::start().await?;
    phases::register(&plan, Some(format!("http://{}", receiver.addr))).await?;
    let outcome = run_phases(&args, &plan, &receiver).await;
    if !args.keep {
        if let Err(err) = phases::unregister(&plan).await {
            eprintln!("cleanup: {err:#}");
        }
    }
    let reports = outcome?;
    let mut phases = serde_json::Map::new();
    for report in &reports {
        let mut entry = json!({
            "unit": report.unit,
            "runs": report.runs.iter().map(|r| (r * 100.0).round() / 100.0).collect::<Vec<_>>(),
            "median": (report.median() * 100.0).round() / 100.0,
            "p50_ms": (report.p50_ms * 1000.0).round() / 1000.0,
            "p99_ms": (report.p99_ms * 1000.0).round() / 1000.0,
            "errors": report.errors,
        });
        for (k, v) in &report.extra {
            entry[k] = v.clone();
        }
        phases.insert(report.phase.into(), entry);
    }
    let line = json!({
        "bench": "urbis-bench",
        "url": args.url,
        "concurrency": args.concurrency,
        "duration_s": args.duration,
        "runs": args.runs,
        "phases": Value::Object(phases),
    });
    println!("{line}");
    Ok(())
}

async fn run_phases(
    args: &Args,
    plan: &Plan,
    receiver: &receiver::Receiver,
) -> anyhow::Result<Vec<Report>> {
    let mut reports = Vec::new();
    for phase in &args.phases {
        eprintln!("{phase:?} ...");
        let report = match phase {
            Phase::Create => phases::create(plan).await?,
            Phase::Retrieve => phases::retrieve(plan).await?,
            Phase::Discovery => {
                phases::discovery(plan, args.population, args.discovery_concurrency).await?
            }
            Phase::Fanout => phases::fanout(plan, receiver, args.subscribers).await?,
        };
        print_report(&report);
        reports.push(report);
    }
    Ok(reports)
}

fn print_report(report: &Report) {
    let runs: Vec<String> = report.runs.iter().map(|r| format!("{r:.1}")).collect();
    let what = if report.unit == "ms" {
        format!(
            "all delivered in median {:.1} ms (slowest {:.1} ms)",
            report.median(),
            report.p99_ms
        )
    } else {
        format!(
            "median {:.0} {} p50 {:.2} ms p99 {:.2} ms",
            report.median(),
            report.unit,
            report.p50_ms,
            report.p99_ms
        )
    };
    let extra: Vec<String> = report
        .extra
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    println!(
        "{}: {what}; runs [{}] {}; errors {}{}",
        report.phase,
        runs.join(", "),
        report.unit,
        report.errors,
        if extra.is_empty() {
            String::new()
        } else {
            format!("; {}", extra.join(" "))
        }
    );
}
