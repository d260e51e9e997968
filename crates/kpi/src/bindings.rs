//! `bindings.toml`: how each KPI is computed from platform data and statistics.
//!
//! ```toml
//! [inputs.no2]              # an input read from the platform
//! mean = "air/no2"          # mean | sum | count | last of containers with this label
//! value = "/v"              # JSON pointer into `con` (omit: `con` is the number)
//! time = "/t"               # JSON pointer to the reading's time (omit: the instance's `ct`)
//! unit = "ppb"
//!
//! [inputs.water_supplied]
//! difference = "water/district"   # cumulative meters: newest minus the previous year's newest
//! unit = "m3"
//!
//! [inputs.outage_customer_minutes]
//! duration = "grid/outage"  # events: minutes from `time` to `end`, times `value` (or 1)
//! time = "/start"
//! end = "/end"
//! value = "/customers"
//!
//! [inputs.smart_water_meters]
//! devices = ["smart-water-meter"]   # count of deviceInfo mgmtObjs with one of these `dty`
//!
//! [[kpi]]
//! code = "EN: EN: AQ: 1C"
//! part = "NO2"
//! value = "no2"
//!
//! [[kpi]]
//! code = "EC: ICT: WS: 1C"
//! ratio = ["smart_water_meters", "water_meters"]
//!
//! [[kpi]]
//! code = "EN: E: E: 2C"
//! per_capita = ["electricity_kwh", "population"]
//! ```
//!
//! A name used in a `[[kpi]]` that is not an `[inputs.*]` table is a statistic
//! of that name (statistics CSV).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::catalogue::Catalogue;
use crate::{units, Error};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    inputs: BTreeMap<String, InputToml>,
    #[serde(default)]
    kpi: Vec<KpiToml>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InputToml {
    mean: Option<String>,
    sum: Option<String>,
    count: Option<String>,
    last: Option<String>,
    difference: Option<String>,
    duration: Option<String>,
    devices: Option<Vec<String>>,
    value: Option<String>,
    time: Option<String>,
    end: Option<String>,
    unit: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KpiToml {
    code: String,
    part: Option<String>,
    value: Option<String>,
    ratio: Option<[String; 2]>,
    per_capita: Option<[String; 2]>,
    loss: Option<[String; 2]>,
    /// Overrides the scaling the catalogue unit implies (100 for %, 100000 per
    /// 100 000 inhabitants, 1 otherwise).
    factor: Option<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aggregate {
    Mean,
    Sum,
    Count,
    /// Per container the newest reading of the year, summed over containers.
    Last,
    /// Cumulative meters: per container the newest reading of the year minus
    /// the newest of the year before (or, in its first year, the oldest of the
    /// year), summed over containers.
    Difference,
    /// Events: per instance the minutes from its `time` to its `end`, times
    /// its `value` (e.g. customers affected; 1 without a `value` pointer), summed.
    Duration,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// Readings in the contentInstances of containers labelled `label`.
    Readings {
        aggregate: Aggregate,
        label: String,
        value: Option<String>,
        time: Option<String>,
        /// JSON pointer to an event's end time (`duration` only).
        end: Option<String>,
    },
    /// deviceInfo mgmtObjs whose `dty` is one of these.
    Devices(Vec<String>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Input {
    pub name: String,
    pub source: Source,
    pub unit: Option<&'static str>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Formula {
    Value(String),
    Ratio(String, String),
    PerCapita(String, String),
    /// (A - B) / A: the share of A that B does not account for (water supply loss).
    Loss(String, String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct KpiBinding {
    /// `kpi[N] CODE` for messages.
    pub name: String,
    pub code: String,
    pub part: Option<String>,
    pub formula: Formula,
    pub factor: Option<f64>,
}

#[derive(Clone, Debug, Default)]
pub struct Bindings {
    pub inputs: BTreeMap<String, Input>,
    pub kpis: Vec<KpiBinding>,
}

impl Bindings {
    pub fn parse(text: &str, catalogue: &Catalogue) -> Result<Bindings, Error> {
        let file: File = toml::from_str(text).map_err(|e| Error::BindingsFile(e.to_string()))?;
        let mut inputs = BTreeMap::new();
        for (name, raw) in file.inputs {
            let input = parse_input(&name, raw).map_err(|message| Error::Binding {
                name: format!("inputs.{name}"),
                message,
            })?;
            inputs.insert(name, input);
        }
        let mut kpis: Vec<KpiBinding> = Vec::new();
        for (i, raw) in file.kpi.into_iter().enumerate() {
            let name = format!("kpi[{i}] {}", raw.code);
            let fail = |message: String| Error::Binding {
                name: name.clone(),
                message,
            };
            let kpi = catalogue
                .get(&raw.code)
                .ok_or_else(|| fail("unknown KPI code".into()))?;
            let part = match &raw.part {
                None => None,
                Some(p) => Some(kpi.data_point(p).map_err(fail)?.to_owned()),
            };
            let formula = match (raw.value, raw.ratio, raw.per_capita, raw.loss) {
                (Some(v), None, None, None) => Formula::Value(v),
                (None, Some([n, d]), None, None) => Formula::Ratio(n, d),
                (None, None, Some([n, p]), None) => Formula::PerCapita(n, p),
                (None, None, None, Some([a, b])) => Formula::Loss(a, b),
                _ => {
                    return Err(fail(
                        "give exactly one of value, ratio, per_capita, loss".into(),
                    ))
                }
            };
            let code = kpi.resource_name();
            if kpis.iter().any(|k| k.code == code && k.part == part) {
                return Err(fail("bound twice".into()));
            }
            kpis.push(KpiBinding {
                name,
                code,
                part,
                formula,
                factor: raw.factor,
            });
        }
        Ok(Bindings { inputs, kpis })
    }
}

fn parse_input(name: &str, raw: InputToml) -> Result<Input, String> {
    let unit = match &raw.unit {
        None => None,
        Some(u) => Some(units::canonical(u).ok_or_else(|| format!("unknown unit {u:?}"))?),
    };
    let mut sources = Vec::new();
    let readings = [
        (Aggregate::Mean, raw.mean),
        (Aggregate::Sum, raw.sum),
        (Aggregate::Count, raw.count),
        (Aggregate::Last, raw.last),
        (Aggregate::Difference, raw.difference),
        (Aggregate::Duration, raw.duration),
    ];
    for (aggregate, label) in readings {
        if let Some(label) = label {
            if label.is_empty() {
                return Err("the container label is empty".into());
            }
            sources.push(Source::Readings {
                aggregate,
                label,
                value: raw.value.clone(),
                time: raw.time.clone(),
                end: raw.end.clone(),
            });
        }
    }
    if let Some(dty) = raw.devices {
        if dty.is_empty() {
            return Err("devices lists no dty".into());
        }
        if raw.value.is_some() || raw.time.is_some() || raw.end.is_some() {
            return Err("value/time/end apply to readings, not to devices".into());
        }
        sources.push(Source::Devices(dty));
    }
    for pointer in [&raw.value, &raw.time, &raw.end].into_iter().flatten() {
        if !pointer.starts_with('/') {
            return Err(format!("{pointer:?} is not a JSON pointer (starts with /)"));
        }
    }
    if sources.len() != 1 {
        return Err(
            "give exactly one of mean, sum, count, last, difference, duration, devices".into(),
        );
    }
    let is_duration = matches!(
        sources[0],
        Source::Readings {
            aggregate: Aggregate::Duration,
            ..
        }
    );
    if is_duration && (raw.time.is_none() || raw.end.is_none()) {
        return Err("duration needs the time and end pointers of each event".into());
    }
    if !is_duration && raw.end.is_some() {
        return Err("end applies to duration only".into());
    }
    Ok(Input {
        name: name.to_owned(),
        source: sources.remove(0),
        unit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Bindings, Error> {
        Bindings::parse(text, Catalogue::embedded())
    }

    #[test]
    fn the_documented_example_parses() {
        let b = parse(
            r#"
            [inputs.no2]
            mean = "air/no2"
            value = "/v"
            time = "/t"
            unit = "ppb"
            [inputs.smart_water_meters]
            devices = ["smart-water-meter"]
            [[kpi]]
            code = "EN: EN: AQ: 1C"
            part = "no2"
            value = "no2"
            [[kpi]]
            code = "EC: ICT: WS: 1C"
            ratio = ["smart_water_meters", "water_meters"]
            "#,
        )
        .unwrap();
        assert_eq!(b.inputs["no2"].unit, Some("ppb"));
        assert_eq!(b.kpis[0].part.as_deref(), Some("NO2"));
        assert_eq!(b.kpis[0].code, "EN-EN-AQ-1C");
        assert_eq!(
            b.kpis[1].formula,
            Formula::Ratio("smart_water_meters".into(), "water_meters".into())
        );
    }

    fn binding_error(text: &str) -> (String, String) {
        match parse(text) {
            Err(Error::Binding { name, message }) => (name, message),
            other => panic!("expected a binding error, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_the_binding() {
        let (name, m) = binding_error("[inputs.x]\nmean = \"a\"\nsum = \"b\"\n");
        assert_eq!(name, "inputs.x");
        assert!(m.contains("exactly one"), "{m}");
        let (name, _) = binding_error("[inputs.y]\nmean = \"a\"\nunit = \"furlong\"\n");
        assert_eq!(name, "inputs.y");
        let (name, m) = binding_error("[[kpi]]\ncode = \"XX: 1C\"\nvalue = \"a\"\n");
        assert_eq!(name, "kpi[0] XX: 1C");
        assert!(m.contains("unknown KPI"));
        let (_, m) = binding_error(
            "[[kpi]]\ncode = \"EN: EN: WS: 4C\"\npart = \"quaternary\"\nvalue = \"a\"\n",
        );
        assert!(m.contains("no data point"), "{m}");
        let (_, m) = binding_error("[[kpi]]\ncode = \"EN: E: E: 2C\"\n");
        assert!(m.contains("exactly one"), "{m}");
        let (name, m) =
            binding_error("[inputs.o]\nduration = \"grid/outage\"\ntime = \"/start\"\n");
        assert_eq!(name, "inputs.o");
        assert!(m.contains("time and end"), "{m}");
        let (_, m) = binding_error("[inputs.o]\nmean = \"a\"\nend = \"/end\"\n");
        assert!(m.contains("duration only"), "{m}");
        let (_, m) = binding_error("[inputs.o]\ndifference = \"a\"\nvalue = \"v\"\n");
        assert!(m.contains("not a JSON pointer"), "{m}");
        assert!(matches!(
            parse("[inputs.z]\nmaen = \"a\"\n"),
            Err(Error::BindingsFile(_))
        ));
    }
}
