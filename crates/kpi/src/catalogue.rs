//! The 91 U4SSC KPIs (ITU-T Y.4903), parsed from the CSV embedded in the crate.
//!
//! The CSV is a copy of the project's shared catalogue (`data/u4ssc-kpis.csv`,
//! with its `source` column, so every row says where its facts come from); it is
//! compiled in so the binary needs no file at run time.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::Error;

const CSV: &str = include_str!("../data/u4ssc-kpis.csv");

/// Core or advanced, from the code suffix; `Unknown` where the sources disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Core,
    Advanced,
    Unknown,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Core => "core",
            Level::Advanced => "advanced",
            Level::Unknown => "unknown",
        }
    }
}

/// How the catalogue's unit scales a computed ratio or a per-capita value.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    /// `Percentage`: numerator / denominator x 100.
    Percent,
    /// `Per 100 000 inhabitants` (or `... per 100 000 inhabitants`).
    Per100k,
    /// `... per capita`.
    PerCapita,
    /// Anything else: used as given.
    Plain,
}

#[derive(Clone, Debug, Serialize)]
pub struct Kpi {
    pub code: String,
    pub name: String,
    pub dimension: String,
    pub sub_dimension: String,
    pub category: String,
    pub level: Level,
    pub definition: String,
    pub numerator: String,
    pub denominator: String,
    pub formula_note: String,
    pub unit: String,
    /// Sub-values reported under the KPI (e.g. the pollutants of Air Pollution).
    pub data_points: Vec<String>,
    pub sdg_reference: String,
    pub iot_computable: String,
    pub iot_data_inputs: String,
    pub notes: String,
    pub source: String,
}

impl Kpi {
    pub fn scale(&self) -> Scale {
        let unit = self.unit.to_ascii_lowercase();
        if unit.starts_with("percentage") {
            Scale::Percent
        } else if unit.contains("per 100 000") {
            Scale::Per100k
        } else if unit.contains("per capita") {
            Scale::PerCapita
        } else {
            Scale::Plain
        }
    }

    /// The data point called `name` (case-insensitive), in the catalogue's spelling.
    pub fn data_point(&self, name: &str) -> Result<&str, String> {
        self.data_points
            .iter()
            .find(|d| d.eq_ignore_ascii_case(name.trim()))
            .map(String::as_str)
            .ok_or_else(|| {
                format!(
                    "KPI {} has no data point {name:?} (it has: {})",
                    self.code,
                    self.data_points.join(", ")
                )
            })
    }

    /// A oneM2M resource name for the code: `EN: EN: AQ: 1C` -> `EN-EN-AQ-1C`.
    pub fn resource_name(&self) -> String {
        sanitize_code(&self.code)
    }
}

pub fn sanitize_code(code: &str) -> String {
    code.split(':')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

#[derive(Deserialize)]
struct Row {
    code: String,
    name: String,
    dimension: String,
    sub_dimension: String,
    category: String,
    core_advanced: String,
    definition: String,
    numerator: String,
    denominator: String,
    formula_note: String,
    unit: String,
    data_points: String,
    sdg_reference_u4ssc: String,
    iot_computable: String,
    iot_data_inputs: String,
    notes: String,
    source: String,
}

/// The dimensions in report order.
pub const DIMENSIONS: [&str; 3] = ["Economy", "Environment", "Society and Culture"];

pub struct Catalogue {
    pub kpis: Vec<Kpi>,
}

impl Catalogue {
    /// The embedded catalogue, parsed once.
    pub fn embedded() -> &'static Catalogue {
        static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
        CATALOGUE.get_or_init(|| {
            // the CSV is compiled in and checked by the tests below, so a failure here
            // is a build defect, not bad input
            Catalogue::parse(CSV).unwrap_or_else(|e| panic!("embedded KPI catalogue: {e}"))
        })
    }

    pub fn parse(text: &str) -> Result<Catalogue, Error> {
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let mut kpis = Vec::new();
        for (i, row) in reader.deserialize::<Row>().enumerate() {
            let row = row.map_err(|e| Error::Catalogue(format!("row {}: {e}", i + 1)))?;
            let level = match row.core_advanced.as_str() {
                "Core" => Level::Core,
                "Advanced" => Level::Advanced,
                _ => Level::Unknown,
            };
            let data_points = row
                .data_points
                .split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            kpis.push(Kpi {
                code: row.code,
                name: row.name,
                dimension: row.dimension,
                sub_dimension: row.sub_dimension,
                category: row.category,
                level,
                definition: row.definition,
                numerator: row.numerator,
                denominator: row.denominator,
                formula_note: row.formula_note,
                unit: row.unit,
                data_points,
                sdg_reference: row.sdg_reference_u4ssc,
                iot_computable: row.iot_computable,
                iot_data_inputs: row.iot_data_inputs,
                notes: row.notes,
                source: row.source,
            });
        }
        Ok(Catalogue { kpis })
    }

    pub fn get(&self, code: &str) -> Option<&Kpi> {
        let wanted = sanitize_code(code);
        self.kpis.iter().find(|k| k.resource_name() == wanted)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn the_catalogue_has_the_91_kpis_of_the_readme() {
        let cat = Catalogue::embedded();
        assert_eq!(cat.kpis.len(), 91);
        let codes: HashSet<_> = cat.kpis.iter().map(|k| k.resource_name()).collect();
        assert_eq!(codes.len(), 91, "codes are unique, also once sanitized");
        let dims: HashSet<_> = cat.kpis.iter().map(|k| k.dimension.as_str()).collect();
        assert_eq!(dims, DIMENSIONS.into_iter().collect());
        let count = |d: &str| cat.kpis.iter().filter(|k| k.dimension == d).count();
        assert_eq!(
            (
                count("Economy"),
                count("Environment"),
                count("Society and Culture")
            ),
            (45, 17, 29)
        );
        let level = |l: Level| cat.kpis.iter().filter(|k| k.level == l).count();
        // the Wi-Fi KPI's suffix is disputed (5C vs 5A), so its level is left open
        assert_eq!(
            (
                level(Level::Core),
                level(Level::Advanced),
                level(Level::Unknown)
            ),
            (54, 36, 1)
        );
        assert_eq!(
            cat.get("EC: ICT: ICT: 5C").map(|k| k.level),
            Some(Level::Unknown)
        );
        let iot = |v: &str| cat.kpis.iter().filter(|k| k.iot_computable == v).count();
        assert_eq!(
            (
                iot("yes-sensor"),
                iot("yes-inventory"),
                iot("partial"),
                iot("no")
            ),
            (9, 13, 16, 53)
        );
    }

    #[test]
    fn units_give_the_scaling() {
        let cat = Catalogue::embedded();
        let scale = |c: &str| cat.get(c).map(Kpi::scale);
        assert_eq!(scale("EC: ICT: ES: 1C"), Some(Scale::Percent));
        assert_eq!(scale("SC: SH: SA: 8C"), Some(Scale::Per100k));
        assert_eq!(scale("EN: E: E: 2C"), Some(Scale::PerCapita));
        assert_eq!(scale("EC: I: T: 5A"), Some(Scale::Plain));
        assert_eq!(
            cat.get("EN: EN: AQ: 1C").map(|k| k.data_points.len()),
            Some(5)
        );
        assert_eq!(sanitize_code("SC: EH: ED: 5A"), "SC-EH-ED-5A");
    }
}
