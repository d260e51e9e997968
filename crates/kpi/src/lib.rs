//! U4SSC key performance indicators for smart sustainable cities (ITU-T Y.4903).
//!
//! The engine is an ordinary oneM2M application: it reads platform data over
//! the HTTP binding of a running Urbis (or, inside the Urbis process, straight
//! from its store: [`local`]), combines it with imported statistics,
//! computes each KPI per year with the catalogue's formula, checks plausibility
//! and writes the results back as oneM2M resources and as a report.

pub mod bindings;
pub mod catalogue;
pub mod checks;
pub mod compute;
pub mod endpoint;
pub mod fetch;
pub mod local;
pub mod platform;
pub mod publish;
pub mod report;
pub mod simulate;
pub mod stats;
pub mod units;

pub use catalogue::{Catalogue, Kpi, Level, Scale};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("KPI catalogue: {0}")]
    Catalogue(String),
    #[error("statistics line {line}: {message}")]
    Statistics { line: u64, message: String },
    #[error("statistics {resource} row {row}: {message}")]
    StatisticsResource {
        resource: String,
        row: usize,
        message: String,
    },
    #[error("binding {name:?}: {message}")]
    Binding { name: String, message: String },
    #[error("bindings file: {0}")]
    BindingsFile(String),
    #[error("platform: {0}")]
    Platform(String),
    #[error("writing the report: {0}")]
    Output(String),
}

/// Read the platform inputs of `bindings` and the statistics entered on the
/// platform from `source`, add `stats` (a file; its rows win), and compute every KPI for `year`
/// (and for earlier years where data exists).
pub async fn build_report<S: fetch::DataSource>(
    source: &S,
    catalogue: &Catalogue,
    bindings: &bindings::Bindings,
    stats: &stats::Statistics,
    year: i32,
) -> Result<report::Report, Error> {
    let entered =
        stats::Statistics::from_instances(&source.statistic_instances().await?, catalogue)?;
    // a statistics file given for this report corrects what is on the platform
    let stats = &entered.overlay(stats.clone());
    let data = fetch::fetch(source, bindings).await?;
    let results = compute::compute(&compute::Inputs {
        catalogue,
        bindings,
        stats,
        platform: &data,
        year,
    });
    Ok(report::Report::new(catalogue, year, results))
}
