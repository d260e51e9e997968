//! The report served by a running Urbis: `GET /kpi/report?year=2026&format=html`
//! (`json`, `csv`; the year defaults to the current one). It reads the
//! server's own store ([`StoreSource`]), with the bindings file the server was
//! started with, the statistics entered on the platform, and an optional
//! statistics file. Nothing is written: storing results as oneM2M resources
//! is `urbis kpi report`'s job.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use urbis_store::Store;

use crate::bindings::Bindings;
use crate::local::StoreSource;
use crate::stats::Statistics;
use crate::{build_report, report, Catalogue};

pub const PATH: &str = "/kpi/report";

struct Served {
    source: StoreSource,
    bindings: Bindings,
    stats: Statistics,
}

/// The route, to merge into the HTTP binding's router.
pub fn routes(
    store: Arc<dyn Store>,
    cse_name: &str,
    bindings: Bindings,
    stats: Statistics,
) -> Router {
    let served = Arc::new(Served {
        source: StoreSource::new(store, cse_name),
        bindings,
        stats,
    });
    Router::new().route(PATH, get(handle)).with_state(served)
}

fn text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn handle(
    State(served): State<Arc<Served>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let year = match query.get("year") {
        None => jiff::Zoned::now().year().into(),
        Some(y) => match y.parse::<i32>() {
            Ok(y) if (1900..=2200).contains(&y) => y,
            _ => {
                return text(
                    StatusCode::BAD_REQUEST,
                    format!("year {y:?} is not a year\n"),
                )
            }
        },
    };
    let format = query.get("format").map_or("html", String::as_str);
    if !matches!(format, "html" | "json" | "csv") {
        return text(
            StatusCode::BAD_REQUEST,
            format!("format {format:?}: use html, json or csv\n"),
        );
    }
    // the store source blocks while it scans, so keep it off the async workers
    let job = {
        let served = served.clone();
        tokio::task::spawn_blocking(move || {
            let cat = Catalogue::embedded();
            tokio::runtime::Handle::current().block_on(build_report(
                &served.source,
                cat,
                &served.bindings,
                &served.stats,
                year,
            ))
        })
    };
    let report = match job.await {
        Ok(Ok(report)) => report,
        Ok(Err(e)) => return text(StatusCode::UNPROCESSABLE_ENTITY, format!("{e}\n")),
        Err(e) => return text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
    };
    let cat = Catalogue::embedded();
    let (body, content_type) = match format {
        "json" => (report.json(), "application/json"),
        "csv" => match report.csv(cat) {
            Ok(csv) => (csv, "text/csv; charset=utf-8"),
            Err(e) => return text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
        },
        _ => (report::html(&report, cat), "text/html; charset=utf-8"),
    };
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}
