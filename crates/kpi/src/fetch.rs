//! Reading the platform inputs of a bindings file, reduced per year.
//!
//! Where the data comes from is a [`DataSource`]: the oneM2M HTTP API of a
//! running Urbis ([`crate::platform::Platform`], for any deployment) or the
//! store of the Urbis process itself ([`crate::local::StoreSource`], the fast
//! path for the server's own report). Both hand over per container the running
//! aggregates of its readings ([`Series`]); the reduction to one value per
//! year is here, once, so the two give the same numbers.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::future::Future;

use serde_json::Value;

use crate::bindings::{Aggregate, Bindings, Source};
use crate::Error;

/// One input's value for one year, with a line saying where it comes from.
#[derive(Clone, Debug, PartialEq)]
pub struct Reduced {
    pub value: f64,
    pub source: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlatformInput {
    pub by_year: BTreeMap<i32, Reduced>,
    /// Inventory counts describe the platform as it is now, i.e. the report year.
    pub inventory: Option<Reduced>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlatformData {
    pub inputs: BTreeMap<String, PlatformInput>,
}

impl PlatformData {
    pub fn years(&self) -> impl Iterator<Item = i32> + '_ {
        self.inputs.values().flat_map(|i| i.by_year.keys().copied())
    }
}

/// How to read one value out of a contentInstance.
#[derive(Clone, Copy, Debug)]
pub struct ReadingSpec<'a> {
    /// JSON pointer to the number (`None`: `con` is the number).
    pub value: Option<&'a str>,
    /// JSON pointer to the reading's (or event's start) time (`None`: `ct`).
    pub time: Option<&'a str>,
    /// JSON pointer to an event's end: the reading becomes minutes × value.
    pub end: Option<&'a str>,
}

/// The oldest and newest reading of one container in one year, and the sum.
#[derive(Clone, Debug, PartialEq)]
pub struct YearStats {
    pub count: usize,
    pub sum: f64,
    pub first: (String, f64),
    pub last: (String, f64),
}

/// One container's readings, reduced per year as they stream by.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    pub years: BTreeMap<i32, YearStats>,
    /// Instances whose value or time could not be read (never guessed).
    pub skipped: usize,
}

impl Series {
    /// Add one contentInstance (its `con` and `ct`).
    pub fn add(&mut self, con: &Value, ct: Option<&str>, spec: &ReadingSpec) {
        match extract(con, ct, spec) {
            Some((t, v)) => self.add_reading(t, v),
            None => self.skipped += 1,
        }
    }

    fn add_reading(&mut self, t: Cow<'_, str>, v: f64) {
        let Some(year) = t.get(..4).and_then(|y| y.parse::<i32>().ok()) else {
            self.skipped += 1;
            return;
        };
        match self.years.get_mut(&year) {
            None => {
                self.years.insert(
                    year,
                    YearStats {
                        count: 1,
                        sum: v,
                        first: (t.clone().into_owned(), v),
                        last: (t.into_owned(), v),
                    },
                );
            }
            Some(y) => {
                y.count += 1;
                y.sum += v;
                // reuse the strings' buffers: readings mostly come in order,
                // so `last` changes on nearly every one
                if *t < *y.first.0 {
                    y.first.0.clear();
                    y.first.0.push_str(&t);
                    y.first.1 = v;
                } else if *t >= *y.last.0 {
                    y.last.0.clear();
                    y.last.0.push_str(&t);
                    y.last.1 = v;
                }
            }
        }
    }
}

/// Where platform data comes from. The futures need not be `Send`: a report
/// is computed on one task.
pub trait DataSource {
    /// Identifiers (structured paths) of the containers labelled `label`.
    fn containers(&self, label: &str) -> impl Future<Output = Result<Vec<String>, Error>>;
    /// The `dty` of every deviceInfo mgmtObj (an empty string where none is set).
    fn device_types(&self) -> impl Future<Output = Result<Vec<String>, Error>>;
    /// The statistics entered through the API: per instance of the statistics
    /// container (`urbis-kpi/statistics`), oldest first, its path and `con`;
    /// none when the container does not exist.
    fn statistic_instances(&self) -> impl Future<Output = Result<Vec<(String, Value)>, Error>>;
    /// Per container (same order) its readings, reduced per year.
    fn series(
        &self,
        containers: &[String],
        spec: &ReadingSpec,
    ) -> impl Future<Output = Result<Vec<Series>, Error>>;
}

/// Read every platform input of `bindings`.
pub async fn fetch<S: DataSource>(source: &S, bindings: &Bindings) -> Result<PlatformData, Error> {
    let mut data = PlatformData::default();
    let mut device_types: Option<Vec<String>> = None;
    for (name, input) in &bindings.inputs {
        let fetched = match &input.source {
            Source::Readings {
                aggregate,
                label,
                value,
                time,
                end,
            } => {
                let containers = source.containers(label).await?;
                if containers.is_empty() {
                    return Err(Error::Binding {
                        name: format!("inputs.{}", input.name),
                        message: format!("no container labelled {label:?} on the platform"),
                    });
                }
                let spec = ReadingSpec {
                    value: value.as_deref(),
                    time: time.as_deref(),
                    end: end.as_deref(),
                };
                let series = source.series(&containers, &spec).await?;
                reduce(*aggregate, label, &series)
            }
            Source::Devices(dtys) => {
                if device_types.is_none() {
                    device_types = Some(source.device_types().await?);
                }
                let n = device_types
                    .as_deref()
                    .unwrap_or_default()
                    .iter()
                    .filter(|dty| dtys.iter().any(|w| w == *dty))
                    .count();
                PlatformInput {
                    by_year: BTreeMap::new(),
                    inventory: Some(Reduced {
                        value: n as f64,
                        source: format!("platform: {n} deviceInfo with dty {}", dtys.join(" or ")),
                    }),
                }
            }
        };
        data.inputs.insert(name.clone(), fetched);
    }
    Ok(data)
}

/// One value per year out of the containers' series.
pub fn reduce(aggregate: Aggregate, label: &str, series: &[Series]) -> PlatformInput {
    let skipped: usize = series.iter().map(|s| s.skipped).sum();
    let mut years: Vec<i32> = series
        .iter()
        .flat_map(|s| s.years.keys().copied())
        .collect();
    years.sort_unstable();
    years.dedup();
    let mut out = PlatformInput::default();
    for year in years {
        let of_year: Vec<(&Series, &YearStats)> = series
            .iter()
            .filter_map(|s| s.years.get(&year).map(|y| (s, y)))
            .collect();
        let n: usize = of_year.iter().map(|(_, y)| y.count).sum();
        let sum: f64 = of_year.iter().map(|(_, y)| y.sum).sum();
        let mut notes = Vec::new();
        let value = match aggregate {
            Aggregate::Mean => sum / n as f64,
            Aggregate::Sum | Aggregate::Duration => sum,
            Aggregate::Count => n as f64,
            Aggregate::Last => of_year.iter().map(|(_, y)| y.last.1).sum(),
            Aggregate::Difference => {
                let mut total = 0.0;
                let mut reset = 0;
                for (s, y) in &of_year {
                    let base = s
                        .years
                        .get(&(year - 1))
                        .map_or(y.first.1, |before| before.last.1);
                    let used = y.last.1 - base;
                    // a meter that went backwards was replaced or reset: its
                    // consumption is unknown, not negative
                    if used < 0.0 {
                        reset += 1;
                    } else {
                        total += used;
                    }
                }
                if reset > 0 {
                    notes.push(format!(
                        "{reset} container(s) left out: their newest reading is below the previous one"
                    ));
                }
                total
            }
        };
        let mut source = format!(
            "platform: {} of {n} readings in {year} from {} container(s) labelled {label}",
            match aggregate {
                Aggregate::Mean => "mean",
                Aggregate::Sum => "sum",
                Aggregate::Count => "count",
                Aggregate::Last => "newest per container, summed,",
                Aggregate::Difference => "meter difference per container, summed,",
                Aggregate::Duration => "event minutes (weighted), summed,",
            },
            of_year.len()
        );
        if skipped > 0 {
            notes.push(format!(
                "{skipped} instance(s) without a usable value skipped"
            ));
        }
        if !notes.is_empty() {
            source.push_str(&format!(" ({})", notes.join("; ")));
        }
        out.by_year.insert(year, Reduced { value, source });
    }
    out
}

/// A reading's time and value. `con` may be a number, a numeric string, a JSON
/// object, or a string holding JSON; the pointers select inside the last two.
/// For events (`end` set) the value is the minutes from start to end times the
/// value (1 without a value pointer).
pub fn extract<'a>(
    con: &'a Value,
    ct: Option<&'a str>,
    spec: &ReadingSpec,
) -> Option<(Cow<'a, str>, f64)> {
    let parsed;
    let doc = match con {
        Value::String(s) if spec.value.is_some() || spec.time.is_some() => {
            parsed = serde_json::from_str::<Value>(s).ok()?;
            &parsed
        }
        other => other,
    };
    let number = |raw: &Value| match raw {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    let t: Cow<'a, str> = match spec.time {
        // `doc` may be parsed from a string here, so the time is copied
        Some(pointer) if std::ptr::eq(doc, con) => Cow::Borrowed(con.pointer(pointer)?.as_str()?),
        Some(pointer) => Cow::Owned(doc.pointer(pointer)?.as_str()?.to_owned()),
        None => Cow::Borrowed(ct?),
    };
    let v = match (spec.end, spec.value) {
        (Some(end), weight) => {
            let end = doc.pointer(end)?.as_str()?;
            let minutes = minutes_between(&t, end)?;
            let weight = match weight {
                Some(pointer) => number(doc.pointer(pointer)?)?,
                None => 1.0,
            };
            minutes * weight
        }
        (None, Some(pointer)) => number(doc.pointer(pointer)?)?,
        (None, None) => number(doc)?,
    };
    if !v.is_finite() {
        return None;
    }
    Some((t, v))
}

/// Minutes from `start` to `end` (oneM2M basic format `20260115T103000` or
/// ISO 8601 `2026-01-15T10:30:00`); `None` when either is unreadable or the
/// event ends before it starts.
fn minutes_between(start: &str, end: &str) -> Option<f64> {
    let (a, b) = (parse_time(start)?, parse_time(end)?);
    let seconds = a.until(b).ok()?.total(jiff::Unit::Second).ok()?;
    (seconds >= 0.0).then_some(seconds / 60.0)
}

fn parse_time(s: &str) -> Option<jiff::civil::DateTime> {
    let s = s.trim();
    let basic = s.get(..15).unwrap_or(s);
    jiff::civil::DateTime::strptime("%Y%m%dT%H%M%S", basic)
        .ok()
        .or_else(|| s.parse::<jiff::civil::DateTime>().ok())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ex(con: &Value, ct: Option<&str>, spec: &ReadingSpec) -> Option<(String, f64)> {
        extract(con, ct, spec).map(|(t, v)| (t.into_owned(), v))
    }

    const PLAIN: ReadingSpec = ReadingSpec {
        value: None,
        time: None,
        end: None,
    };

    #[test]
    fn values_come_from_numbers_strings_and_pointers() {
        let ct = Some("20260301T101010");
        let at = |v: f64| Some(("20260301T101010".to_owned(), v));
        assert_eq!(ex(&json!(4.5), ct, &PLAIN), at(4.5));
        assert_eq!(ex(&json!(" 7 "), ct, &PLAIN), at(7.0));
        let spec = ReadingSpec {
            value: Some("/v"),
            time: Some("/t"),
            end: None,
        };
        assert_eq!(
            ex(&json!({"v": 3, "t": "20250101T000000"}), ct, &spec),
            Some(("20250101T000000".to_owned(), 3.0))
        );
        let spec = ReadingSpec {
            value: Some("/m/v"),
            ..PLAIN
        };
        assert_eq!(ex(&json!("{\"m\":{\"v\":\"2.5\"}}"), ct, &spec), at(2.5));
        assert_eq!(ex(&json!("n/a"), ct, &PLAIN), None);
        let spec = ReadingSpec {
            value: Some("/v"),
            ..PLAIN
        };
        assert_eq!(ex(&json!({"v": null}), ct, &spec), None);
    }

    #[test]
    fn events_last_from_start_to_end_weighted() {
        let spec = ReadingSpec {
            value: Some("/customers"),
            time: Some("/start"),
            end: Some("/end"),
        };
        let event = json!({"start": "20260310T221500", "end": "20260311T000000", "customers": 40});
        // 105 minutes, 40 customers
        assert_eq!(
            ex(&event, None, &spec),
            Some(("20260310T221500".to_owned(), 4200.0))
        );
        let iso = json!({"start": "2026-03-10T22:15:00", "end": "2026-03-10T22:45:30"});
        let unweighted = ReadingSpec {
            value: None,
            ..spec
        };
        assert_eq!(ex(&iso, None, &unweighted).map(|r| r.1), Some(30.5));
        let backwards = json!({"start": "20260311T000000", "end": "20260310T000000"});
        assert_eq!(ex(&backwards, None, &unweighted), None);
        let garbled = json!({"start": "yesterday", "end": "20260310T000000"});
        assert_eq!(ex(&garbled, None, &unweighted), None);
    }

    fn series(readings: &[(&str, f64)]) -> Series {
        let mut s = Series::default();
        for (t, v) in readings {
            s.add(&json!(v), Some(t), &PLAIN);
        }
        s
    }

    #[test]
    fn meter_differences_start_from_the_previous_years_newest() {
        let a = series(&[
            ("20251231T120000", 1000.0),
            ("20250601T000000", 800.0),
            ("20260301T000000", 1100.0),
            ("20261231T120000", 1250.0),
        ]);
        // new in 2026: from its first reading of the year
        let b = series(&[("20260201T000000", 10.0), ("20261230T000000", 70.0)]);
        // replaced: the counter went back
        let c = series(&[("20251231T000000", 500.0), ("20261231T000000", 20.0)]);
        let r = reduce(Aggregate::Difference, "water/meter", &[a, b, c]);
        // 2025: a 1000 - 800, c 0 (one reading)
        assert_eq!(r.by_year[&2025].value, 200.0);
        // 2026: a 1250 - 1000, b 70 - 10, c left out
        assert_eq!(r.by_year[&2026].value, 310.0);
        assert!(r.by_year[&2026].source.contains("1 container(s) left out"));
    }

    #[test]
    fn aggregates_over_containers() {
        let all = [
            series(&[("20260101T000000", 2.0), ("20260601T000000", 4.0)]),
            series(&[("20260301T000000", 9.0), ("2025-05-01T00:00:00", 1.0)]),
        ];
        let at = |agg, year| reduce(agg, "x", &all).by_year[&year].value;
        assert_eq!(at(Aggregate::Mean, 2026), 5.0);
        assert_eq!(at(Aggregate::Sum, 2026), 15.0);
        assert_eq!(at(Aggregate::Count, 2026), 3.0);
        assert_eq!(at(Aggregate::Last, 2026), 13.0);
        assert_eq!(at(Aggregate::Count, 2025), 1.0);
    }
}
