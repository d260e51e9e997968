//! Statistics import: `kpi,year,value,unit,source` CSV rows, each either a KPI
//! value reported directly (`SC: SH: SI: 3C`, or `EN: EN: WS: 4C/primary` for
//! one of its data points) or a named input used by bindings (`population`).
//!
//! The whole file is checked before anything is returned, so a bad line leaves
//! nothing imported half-way; every error names its line.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::catalogue::Catalogue;
use crate::{units, Error};

#[derive(Clone, Debug, PartialEq)]
pub struct Stat {
    pub value: f64,
    /// Canonical unit (see [`units::canonical`]).
    pub unit: &'static str,
    pub source: String,
    /// CSV line (0 for rows entered through the API).
    pub line: u64,
    /// Where the row comes from: `statistics line 4`, or
    /// `statistics cse-in/urbis-kpi/statistics/cin123 row 2`.
    pub origin: String,
}

/// What a statistics row is about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    /// A KPI (sanitized code) and optionally one of its data points.
    Kpi { code: String, part: Option<String> },
    /// An input name referenced from a bindings file.
    Input(String),
}

#[derive(Clone, Debug, Default)]
pub struct Statistics {
    pub rows: BTreeMap<(Key, i32), Stat>,
}

impl Statistics {
    pub fn input(&self, name: &str, year: i32) -> Option<&Stat> {
        self.rows.get(&(Key::Input(name.to_owned()), year))
    }

    pub fn kpi(&self, code: &str, part: Option<&str>, year: i32) -> Option<&Stat> {
        self.rows.get(&(
            Key::Kpi {
                code: crate::catalogue::sanitize_code(code),
                part: part.map(str::to_owned),
            },
            year,
        ))
    }

    pub fn years(&self) -> impl Iterator<Item = i32> + '_ {
        self.rows.keys().map(|(_, y)| *y)
    }

    pub fn parse(text: &str, catalogue: &Catalogue) -> Result<Statistics, Error> {
        let err = |line: u64, message: String| Error::Statistics { line, message };
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let headers = reader.headers().map_err(|e| err(1, e.to_string()))?.clone();
        let names: Vec<&str> = headers.iter().collect();
        if names != ["kpi", "year", "value", "unit", "source"]
            && names != ["input", "year", "value", "unit", "source"]
        {
            return Err(err(
                1,
                format!(
                    "header must be kpi,year,value,unit,source, not {}",
                    names.join(",")
                ),
            ));
        }
        let mut stats = Statistics::default();
        for record in reader.records() {
            let record = record.map_err(|e| {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                err(line, format!("{e}"))
            })?;
            let line = record.position().map(|p| p.line()).unwrap_or(0);
            let field = |i: usize| record.get(i).unwrap_or_default();
            let row = Row::parse(
                [field(0), field(1), field(2), field(3), field(4)],
                catalogue,
            )
            .map_err(|m| err(line, m))?;
            let origin = format!("statistics line {line}");
            if let Some(earlier) = stats.insert(row, line, origin) {
                return Err(err(line, format!("same key and year as {earlier}")));
            }
        }
        Ok(stats)
    }

    /// Statistics entered through the oneM2M API: the contentInstances of the
    /// statistics container, oldest first, each holding one row object or an
    /// array of them (`{"kpi", "year", "value", "unit", "source"}`). A later
    /// instance replaces a row of the same key and year (a correction); within
    /// one instance a key and year may appear once. The first bad row stops
    /// with an error naming the resource and the row.
    pub fn from_instances(
        instances: &[(String, Value)],
        catalogue: &Catalogue,
    ) -> Result<Statistics, Error> {
        let mut stats = Statistics::default();
        for (resource, con) in instances {
            let err = |row: usize, message: String| Error::StatisticsResource {
                resource: resource.clone(),
                row,
                message,
            };
            let parsed;
            let con = match con {
                Value::String(text) => {
                    parsed = serde_json::from_str::<Value>(text)
                        .map_err(|e| err(0, format!("con is not JSON: {e}")))?;
                    &parsed
                }
                other => other,
            };
            let rows: Vec<&Value> = match con {
                Value::Array(rows) => rows.iter().collect(),
                one @ Value::Object(_) => vec![one],
                _ => {
                    return Err(err(
                        0,
                        "con is neither a row object nor an array of rows".into(),
                    ))
                }
            };
            let mut this = Statistics::default();
            for (i, raw) in rows.into_iter().enumerate() {
                let n = i + 1;
                let text = |name: &str| -> Result<String, Error> {
                    match raw.get(name) {
                        Some(Value::String(s)) => Ok(s.clone()),
                        Some(Value::Number(x)) => Ok(x.to_string()),
                        Some(other) => {
                            Err(err(n, format!("{name} is {other}, not a string or number")))
                        }
                        None => Err(err(n, format!("{name} is missing"))),
                    }
                };
                if let Some(extra) = raw
                    .as_object()
                    .and_then(|o| o.keys().find(|k| !Row::FIELDS.contains(&k.as_str())))
                {
                    return Err(err(n, format!("unknown field {extra:?}")));
                }
                let fields = [
                    text("kpi")?,
                    text("year")?,
                    text("value")?,
                    text("unit")?,
                    text("source")?,
                ];
                let row = Row::parse(fields.each_ref().map(String::as_str), catalogue)
                    .map_err(|m| err(n, m))?;
                let origin = format!("statistics {resource} row {n}");
                if let Some(earlier) = this.insert(row, 0, origin) {
                    return Err(err(n, format!("same key and year as {earlier}")));
                }
            }
            stats.rows.extend(this.rows);
        }
        Ok(stats)
    }

    /// The rows as the objects [`Statistics::from_instances`] reads (KPI codes
    /// as the catalogue writes them), for storing them on the platform.
    pub fn to_rows(&self, catalogue: &Catalogue) -> Vec<Value> {
        self.rows
            .iter()
            .map(|((key, year), stat)| {
                let kpi = match key {
                    Key::Input(name) => name.clone(),
                    Key::Kpi { code, part } => {
                        let code = catalogue
                            .get(code)
                            .map_or(code.as_str(), |k| k.code.as_str());
                        match part {
                            Some(p) => format!("{code}/{p}"),
                            None => code.to_owned(),
                        }
                    }
                };
                serde_json::json!({"kpi": kpi, "year": year, "value": stat.value,
                    "unit": stat.unit, "source": stat.source})
            })
            .collect()
    }

    /// These statistics with `later`'s rows replacing those of the same key and year.
    pub fn overlay(mut self, later: Statistics) -> Statistics {
        self.rows.extend(later.rows);
        self
    }

    /// Add a row; on a duplicate key and year, the origin of the earlier row.
    fn insert(&mut self, row: Row, line: u64, origin: String) -> Option<String> {
        let stat = Stat {
            value: row.value,
            unit: row.unit,
            source: row.source,
            line,
            origin,
        };
        self.rows
            .insert((row.key, row.year), stat)
            .map(|earlier| earlier.origin)
    }
}

/// One checked statistics row.
#[derive(Clone, Debug)]
struct Row {
    key: Key,
    year: i32,
    value: f64,
    unit: &'static str,
    source: String,
}

impl Row {
    const FIELDS: [&'static str; 5] = ["kpi", "year", "value", "unit", "source"];

    fn parse(field: [&str; 5], catalogue: &Catalogue) -> Result<Row, String> {
        let [key, year, value, unit, source] = field.map(str::trim);
        let key = parse_key(key, catalogue)?;
        let year: i32 = year
            .parse()
            .ok()
            .filter(|y| (1900..=2200).contains(y))
            .ok_or_else(|| format!("year {year:?} is not a year"))?;
        let value: f64 = value
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| format!("value {value:?} is not a number"))?;
        let unit = units::canonical(unit).ok_or_else(|| format!("unknown unit {unit:?}"))?;
        if let Key::Kpi { code, part } = &key {
            check_kpi_unit(catalogue, code, part.as_deref(), unit)?;
        }
        if source.is_empty() {
            return Err("the source is empty".into());
        }
        Ok(Row {
            key,
            year,
            value,
            unit,
            source: source.to_owned(),
        })
    }
}

fn parse_key(text: &str, catalogue: &Catalogue) -> Result<Key, String> {
    if text.contains(':') {
        let (code, part) = match text.split_once('/') {
            Some((c, p)) => (c.trim(), Some(p.trim())),
            None => (text, None),
        };
        let kpi = catalogue
            .get(code)
            .ok_or_else(|| format!("unknown KPI {code:?}"))?;
        let part = match part {
            None => None,
            Some(p) => Some(kpi.data_point(p)?.to_owned()),
        };
        return Ok(Key::Kpi {
            code: kpi.resource_name(),
            part,
        });
    }
    let valid = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if valid {
        Ok(Key::Input(text.to_owned()))
    } else {
        Err(format!(
            "{text:?} is neither a KPI code nor an input name (letters, digits, _ - .)"
        ))
    }
}

/// A directly reported KPI value must come in the KPI's unit or one convertible to it.
fn check_kpi_unit(
    catalogue: &Catalogue,
    code: &str,
    part: Option<&str>,
    unit: &str,
) -> Result<(), String> {
    let Some(kpi) = catalogue.get(code) else {
        return Err(format!("unknown KPI {code:?}"));
    };
    match units::kpi_unit(&kpi.unit) {
        Some(target) => units::convert(1.0, unit, target, part)
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "unit {unit} does not fit KPI {} ({}): {e}",
                    kpi.code, kpi.unit
                )
            }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Statistics, Error> {
        Statistics::parse(text, Catalogue::embedded())
    }

    #[test]
    fn a_valid_file_is_imported() {
        let s = parse(
            "kpi,year,value,unit,source\n\
             population,2026,52000,inhabitants,Statistics office 2026\n\
             SC: SH: SI: 3C,2026,7.5,%,Statistics office\n\
             EN: EN: WS: 4C/Primary,2025,98,percent,Utility report\n\
             EN: EN: AQ: 1C/NO2,2025,12,ppb,Station report\n",
        )
        .unwrap();
        assert_eq!(s.input("population", 2026).map(|s| s.value), Some(52000.0));
        assert_eq!(
            s.kpi("SC: SH: SI: 3C", None, 2026).map(|s| s.unit),
            Some("%")
        );
        assert_eq!(
            s.kpi("EN: EN: WS: 4C", Some("primary"), 2025)
                .map(|s| s.line),
            Some(4)
        );
        assert_eq!(s.rows.len(), 4);
    }

    #[test]
    fn rows_entered_through_the_api_are_checked_and_later_ones_win() {
        let cat = Catalogue::embedded();
        let first = (
            "cse-in/urbis-kpi/statistics/s1".to_owned(),
            serde_json::json!([
                {"kpi": "population", "year": 2026, "value": 52000, "unit": "inhabitants", "source": "census"},
                {"kpi": "SC: SH: SI: 3C", "year": "2026", "value": "8.4", "unit": "%", "source": "office"}
            ]),
        );
        let correction = (
            "cse-in/urbis-kpi/statistics/s2".to_owned(),
            serde_json::json!({"kpi": "population", "year": 2026, "value": 52100,
                "unit": "inhabitants", "source": "census, corrected"}),
        );
        let s = Statistics::from_instances(&[first.clone(), correction], cat).unwrap();
        let pop = s.input("population", 2026).unwrap();
        assert_eq!(pop.value, 52100.0);
        assert_eq!(
            pop.origin,
            "statistics cse-in/urbis-kpi/statistics/s2 row 1"
        );
        assert_eq!(s.rows.len(), 2);

        let bad = |con: serde_json::Value| match Statistics::from_instances(
            &[first.clone(), ("cse-in/x/s3".into(), con)],
            cat,
        ) {
            Err(Error::StatisticsResource {
                resource,
                row,
                message,
            }) => {
                assert_eq!(resource, "cse-in/x/s3");
                (row, message)
            }
            other => panic!("expected an error, got {other:?}"),
        };
        let row = |value: serde_json::Value| {
            serde_json::json!([{"kpi": "households", "year": 2026, "value": 1, "unit": "number", "source": "x"},
                {"kpi": "households_internet", "year": 2026, "value": value, "unit": "number", "source": "x"}])
        };
        let (n, m) = bad(row(serde_json::json!("many")));
        assert_eq!(n, 2);
        assert!(m.contains("not a number"), "{m}");
        let (n, m) = bad(row(serde_json::json!(null)));
        assert_eq!(n, 2);
        assert!(m.contains("not a string or number"), "{m}");
        let (n, m) = bad(
            serde_json::json!({"kpi": "households", "year": 2026, "value": 1, "unit": "number"}),
        );
        assert_eq!(n, 1);
        assert!(m.contains("source is missing"), "{m}");
        let (_, m) = bad(
            serde_json::json!({"kpi": "h", "year": 2026, "value": 1, "unit": "number",
            "source": "x", "colour": "red"}),
        );
        assert!(m.contains("unknown field"), "{m}");
        let (n, m) = bad(serde_json::json!("not json"));
        assert_eq!(n, 0);
        assert!(m.contains("not JSON"), "{m}");
    }

    fn line_of(text: &str) -> (u64, String) {
        match parse(text) {
            Err(Error::Statistics { line, message }) => (line, message),
            other => panic!("expected a statistics error, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_the_line_and_nothing_is_kept() {
        let head = "kpi,year,value,unit,source\npopulation,2026,52000,inhabitants,x\n";
        assert_eq!(line_of("name,year,value\n").0, 1);
        let (line, m) = line_of(&format!("{head}households,2026,abc,number,x\n"));
        assert_eq!(line, 3);
        assert!(m.contains("not a number"), "{m}");
        let (line, m) = line_of(&format!("{head}households,2026,5,parsecs,x\n"));
        assert_eq!(line, 3);
        assert!(m.contains("unknown unit"), "{m}");
        let (line, m) = line_of(&format!("{head}XX: YY: 1C,2026,5,%,x\n"));
        assert_eq!(line, 3);
        assert!(m.contains("unknown KPI"), "{m}");
        let (line, _) = line_of(&format!("{head}households,2026,5,number\n"));
        assert_eq!(line, 3);
        let (line, m) = line_of(&format!("{head}SC: SH: SI: 3C,2026,5,km,x\n"));
        assert_eq!(line, 3);
        assert!(m.contains("does not fit"), "{m}");
        let (line, m) = line_of(&format!("{head}population,2026,1,inhabitants,y\n"));
        assert_eq!(line, 3);
        assert!(m.contains("statistics line 2"), "{m}");
        let (line, m) = line_of(&format!("{head}EN: EN: WS: 4C/quaternary,2026,1,%,y\n"));
        assert_eq!(line, 3);
        assert!(m.contains("no data point"), "{m}");
    }
}
