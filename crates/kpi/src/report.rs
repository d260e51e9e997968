//! The report: results of every KPI with coverage, as JSON, CSV or HTML.

use serde::Serialize;

use crate::catalogue::{Catalogue, Kpi, Level, DIMENSIONS};
use crate::compute::KpiResult;

mod html;

pub use html::html;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Count {
    pub reported: usize,
    pub total: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct DimensionCoverage {
    pub dimension: String,
    pub all: Count,
    pub core: Count,
    pub advanced: Count,
}

#[derive(Clone, Debug, Serialize)]
pub struct Coverage {
    pub all: Count,
    pub core: Count,
    pub advanced: Count,
    /// KPIs whose core/advanced level the sources disagree on.
    pub unknown_level: Count,
    pub dimensions: Vec<DimensionCoverage>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub year: i32,
    pub coverage: Coverage,
    pub results: Vec<KpiResult>,
}

impl Report {
    pub fn new(catalogue: &Catalogue, year: i32, results: Vec<KpiResult>) -> Report {
        let coverage = coverage(catalogue, year, &results);
        Report {
            year,
            coverage,
            results,
        }
    }

    /// Does the KPI have a value (any data point) in the report year?
    pub fn is_reported(&self, kpi: &Kpi) -> bool {
        reported(kpi, self.year, &self.results)
    }

    pub fn json(&self) -> String {
        // a report of plain data always serializes
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    pub fn csv(&self, catalogue: &Catalogue) -> Result<String, crate::Error> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let fail = |e: csv::Error| crate::Error::Output(e.to_string());
        w.write_record([
            "code",
            "name",
            "dimension",
            "sub_dimension",
            "category",
            "level",
            "part",
            "year",
            "status",
            "value",
            "unit",
            "reason",
            "warnings",
            "sources",
        ])
        .map_err(fail)?;
        for r in &self.results {
            let kpi = catalogue.get(&r.code);
            let field = |f: fn(&Kpi) -> &str| kpi.map(f).unwrap_or_default().to_owned();
            w.write_record([
                r.code.clone(),
                field(|k| &k.name),
                field(|k| &k.dimension),
                field(|k| &k.sub_dimension),
                field(|k| &k.category),
                kpi.map(|k| k.level.as_str()).unwrap_or_default().to_owned(),
                r.part.clone().unwrap_or_default(),
                r.year.to_string(),
                r.status.as_str().to_owned(),
                r.value.map(|v| v.to_string()).unwrap_or_default(),
                r.unit.clone(),
                r.reason.clone().unwrap_or_default(),
                r.warnings.join("; "),
                r.sources.join("; "),
            ])
            .map_err(fail)?;
        }
        let bytes = w
            .into_inner()
            .map_err(|e| crate::Error::Output(e.to_string()))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

fn reported(kpi: &Kpi, year: i32, results: &[KpiResult]) -> bool {
    results
        .iter()
        .any(|r| r.code == kpi.code && r.year == year && r.status.has_value())
}

fn coverage(catalogue: &Catalogue, year: i32, results: &[KpiResult]) -> Coverage {
    let count = |filter: &dyn Fn(&Kpi) -> bool| {
        let selected: Vec<&Kpi> = catalogue.kpis.iter().filter(|k| filter(k)).collect();
        Count {
            reported: selected
                .iter()
                .filter(|k| reported(k, year, results))
                .count(),
            total: selected.len(),
        }
    };
    Coverage {
        all: count(&|_| true),
        core: count(&|k| k.level == Level::Core),
        advanced: count(&|k| k.level == Level::Advanced),
        unknown_level: count(&|k| k.level == Level::Unknown),
        dimensions: DIMENSIONS
            .iter()
            .map(|d| DimensionCoverage {
                dimension: (*d).to_owned(),
                all: count(&|k| k.dimension == *d),
                core: count(&|k| k.dimension == *d && k.level == Level::Core),
                advanced: count(&|k| k.dimension == *d && k.level == Level::Advanced),
            })
            .collect(),
    }
}
