//! The results as oneM2M resources, so any application can discover and
//! subscribe to them: AE `urbis-kpi`, one container per KPI, one
//! contentInstance per year (label `year/<year>`). The container's name and
//! label use the sanitized code (`kpi/EN-EN-AQ-1C`): a label list in a query
//! string is split at spaces and `+`, so `kpi/EN: EN: AQ: 1C` could never be
//! discovered over HTTP. The full code is in every instance's `con`.

use serde_json::{json, Value};

use crate::catalogue::Catalogue;
use crate::compute::{KpiResult, Status};
use crate::platform::Platform;
use crate::report::Report;
use crate::stats::Statistics;
use crate::Error;

pub const AE_NAME: &str = "urbis-kpi";
pub const AE_ORIGINATOR: &str = "Curbis-kpi";
/// Instances kept per KPI container (`mni`): every run appends one per year
/// it computed, so without a cap a daily report would grow without bound;
/// the CSE drops the oldest beyond it.
pub const MAX_INSTANCES: u32 = 240;

/// The container of the statistics entered through the API, below the CSEBase.
pub const STATISTICS_PATH: &str = "urbis-kpi/statistics";

async fn ensure_ae(platform: &Platform) -> Result<String, Error> {
    let cse = platform.cse_name().to_owned();
    let ae = format!("{cse}/{AE_NAME}");
    // a second registration of the same AE-ID is refused (4117), so look first
    if !platform.exists(&ae).await? {
        platform
            .create(
                &cse,
                2,
                json!({"m2m:ae": {"rn": AE_NAME, "api": "Nurbis-kpi", "rr": false, "srv": ["3"],
                "lbl": ["urbis/kpi"]}}),
                AE_ORIGINATOR,
            )
            .await?;
    }
    Ok(ae)
}

/// Store checked statistics on the platform as one contentInstance of
/// `urbis-kpi/statistics` (so an import is all or nothing); returns its path.
/// Any oneM2M application may add rows the same way.
pub async fn import_statistics(
    platform: &Platform,
    catalogue: &Catalogue,
    stats: &Statistics,
) -> Result<String, Error> {
    let ae = ensure_ae(platform).await?;
    platform
        .ensure(
            &ae,
            3,
            json!({"m2m:cnt": {"rn": "statistics", "lbl": ["urbis/kpi-statistics"]}}),
            AE_ORIGINATOR,
        )
        .await?;
    let container = format!("{}/{STATISTICS_PATH}", platform.cse_name());
    let answer = platform
        .send(
            reqwest::Method::POST,
            &container,
            "rcn=1",
            Some(AE_ORIGINATOR),
            Some((
                4,
                json!({"m2m:cin": {"cnf": "application/json:0", "con": stats.to_rows(catalogue)}}),
            )),
        )
        .await?;
    let rn = answer.body.pointer("/m2m:cin/rn").and_then(Value::as_str);
    match (answer.rsc, rn) {
        (2001, Some(rn)) => Ok(format!("{container}/{rn}")),
        (rsc, _) => Err(Error::Platform(format!(
            "storing the statistics in {container}: rsc {rsc}"
        ))),
    }
}

/// Write every KPI result of the report; returns the number of instances created.
pub async fn publish(
    platform: &Platform,
    catalogue: &Catalogue,
    report: &Report,
) -> Result<usize, Error> {
    let ae = ensure_ae(platform).await?;
    let mut created = 0;
    for kpi in &catalogue.kpis {
        let rn = kpi.resource_name();
        platform
            .ensure(
                &ae,
                3,
                json!({"m2m:cnt": {"rn": rn, "mni": MAX_INSTANCES, "lbl": [format!("kpi/{rn}")]}}),
                AE_ORIGINATOR,
            )
            .await?;
        let mine: Vec<&KpiResult> = report
            .results
            .iter()
            .filter(|r| r.code == kpi.code)
            .collect();
        let mut years: Vec<i32> = mine.iter().map(|r| r.year).collect();
        years.sort_unstable();
        years.dedup();
        for year in years {
            let of_year: Vec<&KpiResult> =
                mine.iter().copied().filter(|r| r.year == year).collect();
            platform
                .create(
                    &format!("{ae}/{rn}"),
                    4,
                    json!({"m2m:cin": {
                        "cnf": "application/json:0",
                        "lbl": [format!("year/{year}")],
                        "con": content(&kpi.code, &kpi.unit, year, &of_year),
                    }}),
                    AE_ORIGINATOR,
                )
                .await?;
            created += 1;
        }
    }
    Ok(created)
}

/// One year of a KPI: its value, or its data points under `parts`.
pub fn content(code: &str, unit: &str, year: i32, results: &[&KpiResult]) -> Value {
    let one = |r: &KpiResult| {
        json!({
            "value": r.value,
            "status": r.status.as_str(),
            "reason": r.reason,
            "warnings": r.warnings,
            "sources": r.sources,
        })
    };
    let with_parts = results.iter().any(|r| r.part.is_some());
    let mut con = if with_parts {
        let status = if results.iter().any(|r| r.status == Status::Flagged) {
            Status::Flagged
        } else if results.iter().any(|r| r.status.has_value()) {
            Status::Reported
        } else {
            Status::NotAvailable
        };
        let parts: serde_json::Map<String, Value> = results
            .iter()
            .map(|r| (r.part.clone().unwrap_or_else(|| "all".into()), one(r)))
            .collect();
        json!({"status": status.as_str(), "parts": parts})
    } else {
        results.first().map(|r| one(r)).unwrap_or(Value::Null)
    };
    if let Value::Object(o) = &mut con {
        o.insert("code".into(), json!(code));
        o.insert("year".into(), json!(year));
        o.insert("unit".into(), json!(unit));
    }
    con
}
