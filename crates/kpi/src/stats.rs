//! Statistics import: `kpi,year,value,unit,source` CSV rows, each either a KPI
//! value reported directly (`SC: SH: SI: 3C`, or `EN: EN: WS: 4C/primary` for
//! one of its data points) or a named input used by bindings (`population`).
//!
//! The whole file is checked before anything is returned, so a bad line leaves
//! nothing imported half-way; every error names its line.

use std::collections::BTreeMap;

use crate::catalogue::Catalogue;
use crate::{units, Error};

#[derive(Clone, Debug, PartialEq)]
pub struct Stat {
    pub value: f64,
    /// Canonical unit (see [`units::canonical`]).
    pub unit: &'static str,
    pub source: String,
    pub line: u64,
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
            let key = parse_key(field(0), catalogue).map_err(|m| err(line, m))?;
            let year: i32 = field(1)
                .parse()
                .ok()
                .filter(|y| (1900..=2200).contains(y))
                .ok_or_else(|| err(line, format!("year {:?} is not a year", field(1))))?;
            let value: f64 = field(2)
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite())
                .ok_or_else(|| err(line, format!("value {:?} is not a number", field(2))))?;
            let unit = units::canonical(field(3))
                .ok_or_else(|| err(line, format!("unknown unit {:?}", field(3))))?;
            if let Key::Kpi { code, part } = &key {
                check_kpi_unit(catalogue, code, part.as_deref(), unit).map_err(|m| err(line, m))?;
            }
            let source = field(4).to_owned();
            if source.is_empty() {
                return Err(err(line, "the source is empty".into()));
            }
            let stat = Stat {
                value,
                unit,
                source,
                line,
            };
            if let Some(earlier) = stats.rows.insert((key, year), stat) {
                return Err(err(
                    line,
                    format!("same key and year as line {}", earlier.line),
                ));
            }
        }
        Ok(stats)
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
        assert!(m.contains("line 2"), "{m}");
        let (line, m) = line_of(&format!("{head}EN: EN: WS: 4C/quaternary,2026,1,%,y\n"));
        assert_eq!(line, 3);
        assert!(m.contains("no data point"), "{m}");
    }
}
