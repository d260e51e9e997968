//! `urbis kpi report` and `urbis simulate city`: the U4SSC KPI engine
//! (crate `urbis-kpi`), an ordinary oneM2M application talking to a running
//! Urbis over HTTP (or, with `--data-dir`, reading its store directly).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use urbis_kpi::bindings::Bindings;
use urbis_kpi::local::StoreSource;
use urbis_kpi::platform::Platform;
use urbis_kpi::stats::Statistics;
use urbis_kpi::{publish, report, simulate, Catalogue};
use urbis_store::sqlite::SqliteStore;

#[derive(Subcommand)]
pub enum KpiCommand {
    /// Compute the U4SSC KPIs and write a report (and store the results as oneM2M resources).
    Report(ReportArgs),
    /// Check a statistics CSV and store it on the platform (urbis-kpi/statistics), all or nothing.
    Stats(StatsArgs),
}

#[derive(Subcommand)]
pub enum SimulateCommand {
    /// Create a small plausible city (sensors, meters, a year of readings) over oneM2M.
    City(CityArgs),
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Json,
    Csv,
    Html,
}

#[derive(Args)]
pub struct PlatformArgs {
    /// Base URL of the Urbis HTTP binding.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Resource name of the CSEBase.
    #[arg(long, default_value = "cse-in")]
    cse_name: String,
    /// Originator used to read the platform (needs access to the bound data).
    #[arg(long, default_value = "CAdmin")]
    originator: String,
}

#[derive(Args)]
pub struct ReportArgs {
    #[command(flatten)]
    platform: PlatformArgs,
    /// Report year; earlier years with data are computed too.
    #[arg(long)]
    year: i32,
    /// Bindings file (TOML, see docs/kpi.md).
    #[arg(long)]
    bindings: PathBuf,
    /// Statistics file (CSV: kpi,year,value,unit,source).
    #[arg(long)]
    stats: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "html")]
    format: Format,
    /// Output file (default: standard output).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Do not store the results as oneM2M resources under the AE `urbis-kpi`.
    #[arg(long)]
    no_store: bool,
    /// Read the platform data straight from this embedded store directory
    /// (the fast path for large data; results are still stored over --url).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(Args)]
pub struct StatsArgs {
    #[command(flatten)]
    platform: PlatformArgs,
    /// Statistics file (CSV: kpi,year,value,unit,source).
    #[arg(long)]
    file: PathBuf,
}

#[derive(Args)]
pub struct CityArgs {
    #[command(flatten)]
    platform: PlatformArgs,
    /// Year of the readings (the year before is simulated too).
    #[arg(long)]
    year: i32,
    /// Directory for statistics.csv and bindings.toml.
    #[arg(long, default_value = ".")]
    out_dir: PathBuf,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn platform(p: &PlatformArgs) -> anyhow::Result<Platform> {
    Ok(Platform::new(&p.url, &p.cse_name, &p.originator)?)
}

pub fn run(command: KpiCommand) -> anyhow::Result<()> {
    match command {
        KpiCommand::Report(args) => write_report(args),
        KpiCommand::Stats(args) => import_statistics(args),
    }
}

fn read_statistics(path: &Path, catalogue: &Catalogue) -> anyhow::Result<Statistics> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Statistics::parse(&text, catalogue).with_context(|| format!("in {}", path.display()))
}

fn import_statistics(args: StatsArgs) -> anyhow::Result<()> {
    let catalogue = Catalogue::embedded();
    let stats = read_statistics(&args.file, catalogue)?;
    let platform = platform(&args.platform)?;
    let stored = runtime()?.block_on(publish::import_statistics(&platform, catalogue, &stats))?;
    eprintln!("stored {} statistics rows in {stored}", stats.rows.len());
    Ok(())
}

fn write_report(args: ReportArgs) -> anyhow::Result<()> {
    let catalogue = Catalogue::embedded();
    let text = std::fs::read_to_string(&args.bindings)
        .with_context(|| format!("reading {}", args.bindings.display()))?;
    let bindings = Bindings::parse(&text, catalogue)
        .with_context(|| format!("in {}", args.bindings.display()))?;
    let stats = match &args.stats {
        Some(path) => read_statistics(path, catalogue)?,
        None => Statistics::default(),
    };
    let platform = platform(&args.platform)?;
    let local = match &args.data_dir {
        Some(dir) => {
            let store = SqliteStore::open(dir)
                .with_context(|| format!("cannot open the store in {}", dir.display()))?;
            Some(StoreSource::new(Arc::new(store), &args.platform.cse_name))
        }
        None => None,
    };
    let report = runtime()?.block_on(async {
        let report = match &local {
            Some(local) => {
                urbis_kpi::build_report(local, catalogue, &bindings, &stats, args.year).await?
            }
            None => {
                urbis_kpi::build_report(&platform, catalogue, &bindings, &stats, args.year).await?
            }
        };
        if !args.no_store {
            publish::publish(&platform, catalogue, &report).await?;
        }
        anyhow::Ok(report)
    })?;
    let out = match args.format {
        Format::Json => report.json(),
        Format::Csv => report.csv(catalogue)?,
        Format::Html => report::html(&report, catalogue),
    };
    match &args.out {
        Some(path) => {
            std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))?
        }
        None => print!("{out}"),
    }
    let c = &report.coverage;
    eprintln!(
        "{} of {} KPIs reported for {} (core {} of {}, advanced {} of {})",
        c.all.reported,
        c.all.total,
        report.year,
        c.core.reported,
        c.core.total,
        c.advanced.reported,
        c.advanced.total
    );
    Ok(())
}

pub fn simulate(command: SimulateCommand) -> anyhow::Result<()> {
    let SimulateCommand::City(args) = command;
    let platform = Arc::new(platform(&args.platform)?);
    let city = runtime()?.block_on(simulate::city(platform, args.year))?;
    std::fs::create_dir_all(&args.out_dir)?;
    let stats = args.out_dir.join("statistics.csv");
    let bindings = args.out_dir.join("bindings.toml");
    std::fs::write(&stats, simulate::statistics(args.year))?;
    std::fs::write(&bindings, simulate::BINDINGS)?;
    eprintln!(
        "created {} devices and {} readings; wrote {} and {}",
        city.devices,
        city.readings,
        stats.display(),
        bindings.display()
    );
    Ok(())
}

/// What `urbis serve --kpi-bindings` serves at `/kpi/report`, read at start-up
/// so a bad file stops the server before it listens.
pub struct ServedReport {
    bindings: Bindings,
    stats: Statistics,
}

pub fn served_report(
    bindings: Option<&Path>,
    stats: Option<&Path>,
) -> anyhow::Result<Option<ServedReport>> {
    let Some(path) = bindings else {
        return Ok(None);
    };
    let catalogue = Catalogue::embedded();
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let bindings =
        Bindings::parse(&text, catalogue).with_context(|| format!("in {}", path.display()))?;
    let stats = match stats {
        Some(path) => read_statistics(path, catalogue)?,
        None => Statistics::default(),
    };
    Ok(Some(ServedReport { bindings, stats }))
}

impl ServedReport {
    pub fn routes(self, store: Arc<dyn urbis_store::Store>, cse_name: &str) -> axum::Router {
        urbis_kpi::endpoint::routes(store, cse_name, self.bindings, self.stats)
    }
}
