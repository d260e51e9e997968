//! Per KPI and year: apply the formula of the binding (or take the reported
//! statistic), convert to the catalogue's unit, then run the plausibility
//! checks. A KPI without enough data is "not available" with the reason.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::bindings::{Bindings, Formula, KpiBinding, Source};
use crate::catalogue::{Catalogue, Kpi, Scale};
use crate::fetch::PlatformData;
use crate::stats::{Key, Statistics};
use crate::{checks, units};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Reported,
    /// Reported, but a plausibility check failed (see `warnings`).
    Flagged,
    NotAvailable,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Reported => "reported",
            Status::Flagged => "flagged",
            Status::NotAvailable => "not_available",
        }
    }
    pub fn has_value(self) -> bool {
        self != Status::NotAvailable
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct KpiResult {
    pub code: String,
    pub part: Option<String>,
    pub year: i32,
    pub status: Status,
    pub value: Option<f64>,
    /// The catalogue's unit text.
    pub unit: String,
    pub reason: Option<String>,
    pub warnings: Vec<String>,
    pub sources: Vec<String>,
}

/// A value with its unit (when known) and where it comes from.
#[derive(Clone, Debug)]
struct Quantity {
    value: f64,
    unit: Option<&'static str>,
    sources: Vec<String>,
}

pub struct Inputs<'a> {
    pub catalogue: &'a Catalogue,
    pub bindings: &'a Bindings,
    pub stats: &'a Statistics,
    pub platform: &'a PlatformData,
    pub year: i32,
}

/// Every KPI of the catalogue for the report year (a result or the reason
/// there is none), plus earlier years where data for them exists.
pub fn compute(inp: &Inputs) -> Vec<KpiResult> {
    let years: BTreeSet<i32> = std::iter::once(inp.year)
        .chain(inp.stats.years())
        .chain(inp.platform.years())
        .filter(|y| *y <= inp.year)
        .collect();
    let mut out = Vec::new();
    for kpi in &inp.catalogue.kpis {
        let code = kpi.resource_name();
        let bound: Vec<&KpiBinding> = inp
            .bindings
            .kpis
            .iter()
            .filter(|b| b.code == code)
            .collect();
        // statistics report the KPI (or its parts) directly where nothing is bound
        let stat_parts: BTreeSet<Option<String>> = inp
            .stats
            .rows
            .keys()
            .filter_map(|(k, _)| match k {
                Key::Kpi { code: c, part } if *c == code => Some(part.clone()),
                _ => None,
            })
            .filter(|p| !bound.iter().any(|b| b.part == *p))
            .collect();
        let before = out.len();
        for &year in &years {
            for b in &bound {
                let result = evaluate(inp, kpi, b, year);
                if result.is_ok() || year == inp.year {
                    out.push(finish(kpi, b.part.clone(), year, result));
                }
            }
            for part in &stat_parts {
                if let Some(stat) = inp.stats.kpi(&code, part.as_deref(), year) {
                    let q = Quantity {
                        value: stat.value,
                        unit: Some(stat.unit),
                        sources: vec![format!("{}: {}", stat.origin, stat.source)],
                    };
                    let result = to_kpi_unit(kpi, part.as_deref(), q);
                    out.push(finish(kpi, part.clone(), year, result));
                }
            }
        }
        let has_report_year = out[before..].iter().any(|r| r.year == inp.year);
        if !has_report_year {
            let reason = if bound.is_empty() {
                format!(
                    "no binding and no statistic for {} in {} (platform data: {})",
                    kpi.code,
                    inp.year,
                    if kpi.iot_computable.is_empty() {
                        "unknown"
                    } else {
                        &kpi.iot_computable
                    }
                )
            } else {
                format!("no statistic for {} in {}", kpi.code, inp.year)
            };
            out.push(finish(kpi, None, inp.year, Err(reason)));
        }
    }
    checks::apply(inp.catalogue, &mut out);
    out
}

fn finish(kpi: &Kpi, part: Option<String>, year: i32, r: Result<Quantity, String>) -> KpiResult {
    let (status, value, reason, sources) = match r {
        Ok(q) => (Status::Reported, Some(q.value), None, q.sources),
        Err(reason) => (Status::NotAvailable, None, Some(reason), Vec::new()),
    };
    KpiResult {
        code: kpi.code.clone(),
        part,
        year,
        status,
        value,
        unit: kpi.unit.clone(),
        reason,
        warnings: Vec::new(),
        sources,
    }
}

fn input(inp: &Inputs, name: &str, year: i32) -> Result<Quantity, String> {
    if let Some(def) = inp.bindings.inputs.get(name) {
        let data = inp.platform.inputs.get(name);
        let reduced = match &def.source {
            Source::Devices(_) if year != inp.year => {
                return Err(format!(
                    "input {name} counts today's devices, so it is known only for {}",
                    inp.year
                ))
            }
            Source::Devices(_) => data.and_then(|d| d.inventory.as_ref()),
            Source::Readings { .. } => data.and_then(|d| d.by_year.get(&year)),
        };
        let reduced = reduced.ok_or_else(|| format!("input {name} has no readings in {year}"))?;
        return Ok(Quantity {
            value: reduced.value,
            unit: def.unit,
            sources: vec![reduced.source.clone()],
        });
    }
    let stat = inp
        .stats
        .input(name, year)
        .ok_or_else(|| format!("no statistic {name} for {year}"))?;
    Ok(Quantity {
        value: stat.value,
        unit: Some(stat.unit),
        sources: vec![format!(
            "{}: {} = {} {} ({})",
            stat.origin, name, stat.value, stat.unit, stat.source
        )],
    })
}

fn evaluate(inp: &Inputs, kpi: &Kpi, b: &KpiBinding, year: i32) -> Result<Quantity, String> {
    let part = b.part.as_deref();
    match &b.formula {
        Formula::Value(name) => {
            let mut q = to_kpi_unit(kpi, part, input(inp, name, year)?)?;
            q.value *= b.factor.unwrap_or(1.0);
            Ok(q)
        }
        Formula::Ratio(n, d) => {
            let num = input(inp, n, year)?;
            let den = input(inp, d, year)?;
            let multiplier = b.factor.unwrap_or(match kpi.scale() {
                Scale::Percent => 100.0,
                Scale::Per100k => 100_000.0,
                Scale::PerCapita | Scale::Plain => 1.0,
            });
            ratio(num, den, multiplier, kpi.scale() == Scale::Percent)
        }
        Formula::PerCapita(n, p) => {
            let num = to_kpi_unit(kpi, part, input(inp, n, year)?)?;
            let pop = input(inp, p, year)?;
            let multiplier = b.factor.unwrap_or(match kpi.scale() {
                Scale::Per100k => 100_000.0,
                _ => 1.0,
            });
            ratio(num, pop, multiplier, false)
        }
        Formula::Loss(whole, accounted) => {
            let whole = input(inp, whole, year)?;
            let accounted = input(inp, accounted, year)?;
            let multiplier = b.factor.unwrap_or(match kpi.scale() {
                Scale::Percent => 100.0,
                _ => 1.0,
            });
            let accounted_value = match (whole.unit, accounted.unit) {
                (Some(wu), Some(au)) if wu != au => units::convert(accounted.value, au, wu, None)?,
                _ => accounted.value,
            };
            let lost = Quantity {
                value: whole.value - accounted_value,
                unit: whole.unit,
                sources: accounted.sources,
            };
            ratio(lost, whole, multiplier, true)
        }
    }
}

/// `num / den * multiplier`; for shares both must be of one dimension.
fn ratio(num: Quantity, den: Quantity, multiplier: f64, share: bool) -> Result<Quantity, String> {
    let den_value = match (num.unit, den.unit) {
        (Some(nu), Some(du)) if nu != du && units::same_dimension(nu, du) => {
            units::convert(den.value, du, nu, None)?
        }
        (Some(nu), Some(du)) if share && !units::same_dimension(nu, du) => {
            return Err(format!("a share of {nu} in {du} has no meaning"));
        }
        _ => den.value,
    };
    if den_value == 0.0 {
        return Err(format!("the denominator is 0 ({})", den.sources.join("; ")));
    }
    let mut sources = num.sources;
    sources.extend(den.sources);
    Ok(Quantity {
        value: num.value / den_value * multiplier,
        unit: None,
        sources,
    })
}

/// Convert a value given for the KPI itself to the catalogue's unit.
fn to_kpi_unit(kpi: &Kpi, part: Option<&str>, q: Quantity) -> Result<Quantity, String> {
    match (q.unit, units::kpi_unit(&kpi.unit)) {
        (Some(from), Some(to)) if from != to => {
            let value = units::convert(q.value, from, to, part)?;
            let mut sources = q.sources;
            if let (Some("ppb" | "ppm"), Some(gas)) = (Some(from), part) {
                if let Some(f) = units::ppb_to_ugm3(gas) {
                    sources.push(format!("converted {from} to ug/m3 with {f} ug/m3 per ppb"));
                }
            }
            Ok(Quantity {
                value,
                unit: Some(to),
                sources,
            })
        }
        _ => Ok(q),
    }
}

#[cfg(test)]
mod tests {
    use crate::fetch::{PlatformInput, Reduced};

    use super::*;

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9 * b.abs().max(1.0))
    }

    struct World {
        bindings: Bindings,
        stats: Statistics,
        platform: PlatformData,
    }

    fn world(bindings: &str, stats: &str, platform: &[(&str, Option<i32>, f64)]) -> World {
        let cat = Catalogue::embedded();
        let mut data = PlatformData::default();
        for (name, year, value) in platform {
            let entry = data
                .inputs
                .entry((*name).to_owned())
                .or_insert_with(PlatformInput::default);
            let reduced = Reduced {
                value: *value,
                source: format!("platform {name}"),
            };
            match year {
                Some(y) => {
                    entry.by_year.insert(*y, reduced);
                }
                None => entry.inventory = Some(reduced),
            }
        }
        World {
            bindings: Bindings::parse(bindings, cat).unwrap(),
            stats: Statistics::parse(&format!("kpi,year,value,unit,source\n{stats}"), cat).unwrap(),
            platform: data,
        }
    }

    fn run(w: &World) -> Vec<KpiResult> {
        compute(&Inputs {
            catalogue: Catalogue::embedded(),
            bindings: &w.bindings,
            stats: &w.stats,
            platform: &w.platform,
            year: 2026,
        })
    }

    fn find<'a>(r: &'a [KpiResult], code: &str, part: Option<&str>, year: i32) -> &'a KpiResult {
        r.iter()
            .find(|x| x.code == code && x.part.as_deref() == part && x.year == year)
            .unwrap_or_else(|| panic!("no result for {code} {part:?} {year}"))
    }

    #[test]
    fn percentage_of_devices() {
        let w = world(
            r#"
            [inputs.smart]
            devices = ["smart-water-meter"]
            [inputs.all]
            devices = ["smart-water-meter", "water-meter"]
            [[kpi]]
            code = "EC: ICT: WS: 1C"
            ratio = ["smart", "all"]
            "#,
            "",
            &[("smart", None, 30.0), ("all", None, 120.0)],
        );
        let r = run(&w);
        let x = find(&r, "EC: ICT: WS: 1C", None, 2026);
        assert_eq!(x.status, Status::Reported);
        assert!(close(x.value, 25.0), "{:?}", x.value);
        assert_eq!(r.iter().filter(|r| r.year == 2026).count(), 91);
    }

    #[test]
    fn per_capita_with_unit_conversion_and_per_100k() {
        let w = world(
            r#"
            [inputs.electricity]
            sum = "energy/electricity"
            unit = "MWh"
            [[kpi]]
            code = "EN: E: E: 2C"
            per_capita = ["electricity", "population"]
            [[kpi]]
            code = "SC: SH: SA: 8C"
            per_capita = ["violent_crimes", "population"]
            "#,
            "population,2026,50000,inhabitants,census\n\
             violent_crimes,2026,120,number,police\n",
            &[("electricity", Some(2026), 250_000.0)],
        );
        let r = run(&w);
        // 250 000 MWh = 250 000 000 kWh over 50 000 inhabitants
        assert!(close(find(&r, "EN: E: E: 2C", None, 2026).value, 5000.0));
        // 120 / 50 000 * 100 000
        assert!(close(find(&r, "SC: SH: SA: 8C", None, 2026).value, 240.0));
    }

    #[test]
    fn air_quality_is_converted_from_ppb() {
        let w = world(
            r#"
            [inputs.no2]
            mean = "air/no2"
            unit = "ppb"
            [inputs.pm25]
            mean = "air/pm25"
            unit = "ug/m3"
            [[kpi]]
            code = "EN: EN: AQ: 1C"
            part = "NO2"
            value = "no2"
            [[kpi]]
            code = "EN: EN: AQ: 1C"
            part = "PM2.5"
            value = "pm25"
            "#,
            "EN: EN: AQ: 1C/O3,2024,30,ppb,station report\n",
            &[
                ("no2", Some(2026), 20.0),
                ("no2", Some(2025), 10.0),
                ("pm25", Some(2026), 8.5),
            ],
        );
        let r = run(&w);
        assert!(close(
            find(&r, "EN: EN: AQ: 1C", Some("NO2"), 2026).value,
            38.0
        ));
        assert!(close(
            find(&r, "EN: EN: AQ: 1C", Some("NO2"), 2025).value,
            19.0
        ));
        assert!(close(
            find(&r, "EN: EN: AQ: 1C", Some("PM2.5"), 2026).value,
            8.5
        ));
        assert!(close(
            find(&r, "EN: EN: AQ: 1C", Some("O3"), 2024).value,
            58.8
        ));
        // PM2.5 has no 2025 readings: earlier years without data are left out
        assert!(!r
            .iter()
            .any(|x| x.part.as_deref() == Some("PM2.5") && x.year == 2025));
    }

    #[test]
    fn missing_data_is_not_available_with_the_reason() {
        let w = world(
            r#"
            [inputs.smart]
            devices = ["smart-electricity-meter"]
            [[kpi]]
            code = "EC: ICT: ES: 1C"
            ratio = ["smart", "electricity_meters"]
            [[kpi]]
            code = "EC: I: T: 5A"
            ratio = ["peak", "free_flow"]
            "#,
            "peak,2026,30,minutes,survey\nfree_flow,2026,0,minutes,survey\n",
            &[("smart", None, 10.0)],
        );
        let r = run(&w);
        let x = find(&r, "EC: ICT: ES: 1C", None, 2026);
        assert_eq!(x.status, Status::NotAvailable);
        assert_eq!(x.value, None);
        assert_eq!(
            x.reason.as_deref(),
            Some("no statistic electricity_meters for 2026")
        );
        let x = find(&r, "EC: I: T: 5A", None, 2026);
        assert!(x
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("denominator is 0"));
        let x = find(&r, "SC: SH: SI: 2C", None, 2026);
        assert!(x
            .reason
            .as_deref()
            .unwrap_or("")
            .starts_with("no binding and no statistic"));
    }

    #[test]
    fn loss_is_the_share_not_accounted_for() {
        let w = world(
            r#"
            [inputs.supplied]
            difference = "water/district"
            unit = "m3"
            [inputs.billed]
            difference = "water/customer"
            unit = "l"
            [[kpi]]
            code = "EC: I: WS: 3C"
            loss = ["supplied", "billed"]
            "#,
            "",
            &[
                ("supplied", Some(2026), 4000.0),
                ("billed", Some(2026), 3_400_000.0),
                ("supplied", Some(2025), 0.0),
                ("billed", Some(2025), 0.0),
            ],
        );
        let r = run(&w);
        // (4000 m3 - 3400 m3) / 4000 m3
        assert!(close(find(&r, "EC: I: WS: 3C", None, 2026).value, 15.0));
        assert!(!r
            .iter()
            .any(|x| x.code == "EC: I: WS: 3C" && x.year == 2025 && x.status.has_value()));
    }

    #[test]
    fn ratio_converts_the_denominator_and_refuses_mixed_shares() {
        let w = world(
            r#"
            [[kpi]]
            code = "EC: ICT: T: 2C"
            ratio = ["monitored_km", "streets_m"]
            [[kpi]]
            code = "EC: ICT: D: 1A"
            ratio = ["monitored_km", "drain_meters"]
            "#,
            "monitored_km,2026,12,km,roads office\n\
             streets_m,2026,48000,m,roads office\n\
             drain_meters,2026,4,number,utility\n",
            &[],
        );
        let r = run(&w);
        assert!(close(find(&r, "EC: ICT: T: 2C", None, 2026).value, 25.0));
        let x = find(&r, "EC: ICT: D: 1A", None, 2026);
        assert_eq!(x.status, Status::NotAvailable);
    }
}
