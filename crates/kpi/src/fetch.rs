//! Reading the platform inputs of a bindings file over oneM2M, reduced per year.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::bindings::{Aggregate, Bindings, Input, Source};
use crate::platform::Platform;
use crate::Error;

/// One input's value for one year, with a line saying where it comes from.
#[derive(Clone, Debug, PartialEq)]
pub struct Reduced {
    pub value: f64,
    pub source: String,
}

#[derive(Clone, Debug, Default)]
pub struct PlatformInput {
    pub by_year: BTreeMap<i32, Reduced>,
    /// Inventory counts describe the platform as it is now, i.e. the report year.
    pub inventory: Option<Reduced>,
}

#[derive(Clone, Debug, Default)]
pub struct PlatformData {
    pub inputs: BTreeMap<String, PlatformInput>,
}

impl PlatformData {
    pub fn years(&self) -> impl Iterator<Item = i32> + '_ {
        self.inputs.values().flat_map(|i| i.by_year.keys().copied())
    }
}

/// Read every platform input of `bindings`.
pub async fn fetch(platform: &Platform, bindings: &Bindings) -> Result<PlatformData, Error> {
    let mut data = PlatformData::default();
    let mut device_infos: Option<Vec<Value>> = None;
    for (name, input) in &bindings.inputs {
        let fetched = match &input.source {
            Source::Readings { label, .. } => readings(platform, input, label).await?,
            Source::Devices(dtys) => {
                if device_infos.is_none() {
                    device_infos = Some(
                        platform
                            .children(platform.cse_name(), 13, "m2m:dvi", None)
                            .await?,
                    );
                }
                let all = device_infos.as_deref().unwrap_or_default();
                let n = all
                    .iter()
                    .filter(|d| {
                        d.get("dty")
                            .and_then(Value::as_str)
                            .is_some_and(|dty| dtys.iter().any(|w| w == dty))
                    })
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

async fn readings(platform: &Platform, input: &Input, label: &str) -> Result<PlatformInput, Error> {
    let Source::Readings {
        aggregate,
        value,
        time,
        ..
    } = &input.source
    else {
        return Ok(PlatformInput::default());
    };
    let containers = platform.discover(label, 3).await?;
    if containers.is_empty() {
        return Err(Error::Binding {
            name: format!("inputs.{}", input.name),
            message: format!("no container labelled {label:?} on the platform"),
        });
    }
    // per year: per container its (time, value) readings
    let mut years: BTreeMap<i32, Vec<Vec<(String, f64)>>> = BTreeMap::new();
    let mut skipped = 0usize;
    for (c, path) in containers.iter().enumerate() {
        for cin in platform.children(path, 4, "m2m:cin", None).await? {
            let reading = extract(&cin, value.as_deref(), time.as_deref());
            let Some((t, v)) = reading else {
                skipped += 1;
                continue;
            };
            let Some(year) = t.get(..4).and_then(|y| y.parse::<i32>().ok()) else {
                skipped += 1;
                continue;
            };
            let per_container = years.entry(year).or_default();
            per_container.resize_with(containers.len(), Vec::new);
            per_container[c].push((t, v));
        }
    }
    let mut out = PlatformInput::default();
    for (year, per_container) in years {
        let all: Vec<f64> = per_container.iter().flatten().map(|(_, v)| *v).collect();
        let n = all.len();
        let reduced = match aggregate {
            Aggregate::Mean => all.iter().sum::<f64>() / n as f64,
            Aggregate::Sum => all.iter().sum(),
            Aggregate::Count => n as f64,
            Aggregate::Last => per_container
                .iter()
                .filter_map(|r| r.iter().max_by(|a, b| a.0.cmp(&b.0)).map(|(_, v)| *v))
                .sum(),
        };
        let used = per_container.iter().filter(|r| !r.is_empty()).count();
        let mut source = format!(
            "platform: {} of {n} readings in {year} from {used} container(s) labelled {label}",
            match aggregate {
                Aggregate::Mean => "mean",
                Aggregate::Sum => "sum",
                Aggregate::Count => "count",
                Aggregate::Last => "newest per container, summed,",
            }
        );
        if skipped > 0 {
            source.push_str(&format!(
                " ({skipped} instance(s) without a usable value skipped)"
            ));
        }
        out.by_year.insert(
            year,
            Reduced {
                value: reduced,
                source,
            },
        );
    }
    Ok(out)
}

/// A reading's time and value. `con` may be a number, a numeric string, a JSON
/// object, or a string holding JSON; the pointers select inside the last two.
pub fn extract(cin: &Value, value: Option<&str>, time: Option<&str>) -> Option<(String, f64)> {
    let con = cin.get("con")?;
    let parsed;
    let doc = match con {
        Value::String(s) if value.is_some() || time.is_some() => {
            parsed = serde_json::from_str::<Value>(s).ok()?;
            &parsed
        }
        other => other,
    };
    let raw = match value {
        Some(pointer) => doc.pointer(pointer)?,
        None => doc,
    };
    let v = match raw {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    if !v.is_finite() {
        return None;
    }
    let t = match time {
        Some(pointer) => doc.pointer(pointer)?.as_str()?.to_owned(),
        None => cin.get("ct")?.as_str()?.to_owned(),
    };
    Some((t, v))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn values_come_from_numbers_strings_and_pointers() {
        let ct = "20260301T101010";
        assert_eq!(
            extract(&json!({"con": 4.5, "ct": ct}), None, None),
            Some((ct.to_owned(), 4.5))
        );
        assert_eq!(
            extract(&json!({"con": " 7 ", "ct": ct}), None, None),
            Some((ct.to_owned(), 7.0))
        );
        assert_eq!(
            extract(
                &json!({"con": {"v": 3, "t": "20250101T000000"}, "ct": ct}),
                Some("/v"),
                Some("/t")
            ),
            Some(("20250101T000000".to_owned(), 3.0))
        );
        assert_eq!(
            extract(
                &json!({"con": "{\"m\":{\"v\":\"2.5\"}}", "ct": ct}),
                Some("/m/v"),
                None
            ),
            Some((ct.to_owned(), 2.5))
        );
        assert_eq!(extract(&json!({"con": "n/a", "ct": ct}), None, None), None);
        assert_eq!(
            extract(&json!({"con": {"v": null}, "ct": ct}), Some("/v"), None),
            None
        );
    }
}
