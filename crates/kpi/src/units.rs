//! Units accepted in statistics and bindings, and conversions between them.
//!
//! Every unit belongs to one dimension with a factor to that dimension's base,
//! so a conversion is `value * from.factor / to.factor`. Gas concentrations
//! are the exception: ppb/ppm to µg/m³ depends on the pollutant (see
//! [`ppb_to_ugm3`]).

/// (name, dimension, factor to the dimension's base unit). Names are matched
/// case-insensitively; aliases map to the first spelling.
const UNITS: &[(&str, &str, f64)] = &[
    ("%", "percent", 1.0),
    ("number", "count", 1.0),
    ("inhabitants", "count", 1.0),
    ("households", "count", 1.0),
    ("ratio", "ratio", 1.0),
    ("ug/m3", "concentration", 1.0),
    ("ppb", "gas", 1.0),
    ("ppm", "gas", 1000.0),
    ("m", "length", 1.0),
    ("km", "length", 1000.0),
    ("m2", "area", 1.0),
    ("ha", "area", 10_000.0),
    ("km2", "area", 1_000_000.0),
    ("kWh", "energy", 1.0),
    ("MWh", "energy", 1000.0),
    ("GWh", "energy", 1_000_000.0),
    // 1 GJ = 1e9 J / 3.6e6 J per kWh
    ("GJ", "energy", 1e9 / 3.6e6),
    ("l", "volume", 0.001),
    ("m3", "volume", 1.0),
    ("minutes", "time", 1.0),
    ("hours", "time", 60.0),
    ("years", "duration", 1.0),
    ("tCO2e", "mass-co2e", 1.0),
    ("FTE", "staff", 1.0),
    ("EUR", "EUR", 1.0),
    ("USD", "USD", 1.0),
    ("NOK", "NOK", 1.0),
    ("CHF", "CHF", 1.0),
    ("yes/no", "boolean", 1.0),
];

const ALIASES: &[(&str, &str)] = &[
    ("percent", "%"),
    ("percentage", "%"),
    ("count", "number"),
    ("persons", "inhabitants"),
    ("µg/m3", "ug/m3"),
    ("µg/m³", "ug/m3"),
    ("ug/m³", "ug/m3"),
    ("m²", "m2"),
    ("m³", "m3"),
    ("km²", "km2"),
    ("min", "minutes"),
    ("h", "hours"),
    ("e-kwh", "kWh"),
];

/// The canonical spelling of a known unit.
pub fn canonical(unit: &str) -> Option<&'static str> {
    let u = unit.trim();
    if let Some((_, to)) = ALIASES.iter().find(|(a, _)| a.eq_ignore_ascii_case(u)) {
        return Some(to);
    }
    UNITS
        .iter()
        .find(|(n, _, _)| n.eq_ignore_ascii_case(u))
        .map(|(n, _, _)| *n)
}

fn entry(unit: &str) -> Option<&'static (&'static str, &'static str, f64)> {
    let name = canonical(unit)?;
    UNITS.iter().find(|(n, _, _)| *n == name)
}

/// Are the two units of one dimension (so a ratio of them is dimensionless)?
pub fn same_dimension(a: &str, b: &str) -> bool {
    matches!((entry(a), entry(b)), (Some(x), Some(y)) if x.1 == y.1)
}

/// µg/m³ per ppb at 20 °C and 1 atm, from the U4SSC collection methodology
/// (CM17 p73; catalogue `formula_note` of EN: EN: AQ: 1C): NO2 1.9, SO2 2.62,
/// O3 1.96. ppm is 1000 ppb. Other gases have no documented factor here.
pub fn ppb_to_ugm3(pollutant: &str) -> Option<f64> {
    match pollutant.to_ascii_uppercase().as_str() {
        "NO2" => Some(1.9),
        "SO2" => Some(2.62),
        "O3" => Some(1.96),
        _ => None,
    }
}

/// Convert `value` from `from` to `to`; `pollutant` names the gas for ppb/ppm.
pub fn convert(value: f64, from: &str, to: &str, pollutant: Option<&str>) -> Result<f64, String> {
    let (Some(f), Some(t)) = (entry(from), entry(to)) else {
        return Err(format!("cannot convert {from:?} to {to:?}: unknown unit"));
    };
    if f.1 == t.1 {
        return Ok(value * f.2 / t.2);
    }
    if f.1 == "gas" && t.1 == "concentration" {
        let Some(gas) = pollutant else {
            return Err(format!("{from} to {to} needs the pollutant"));
        };
        let Some(factor) = ppb_to_ugm3(gas) else {
            return Err(format!(
                "no documented {from} to {to} factor for {gas} (only NO2, SO2, O3)"
            ));
        };
        return Ok(value * f.2 * factor / t.2);
    }
    Err(format!("cannot convert {} to {}", f.0, t.0))
}

/// The unit a KPI's value is expressed in, read from the catalogue's unit text
/// (`kWh per year per capita` -> `kWh`, `Percentage` -> `%`); `None` where the
/// text names no unit this module knows (`Number`, `Ratio` do map).
pub fn kpi_unit(catalogue_unit: &str) -> Option<&'static str> {
    let text = catalogue_unit.trim();
    if text.to_ascii_lowercase().starts_with("percentage") {
        return Some("%");
    }
    if text.to_ascii_lowercase().starts_with("length") {
        return Some("km");
    }
    if text.to_ascii_lowercase().starts_with("tonnes co2e") {
        return Some("tCO2e");
    }
    let first = text.split_whitespace().next()?;
    canonical(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn gas_concentrations_use_the_documented_factors() {
        assert!(close(
            convert(20.0, "ppb", "ug/m3", Some("NO2")).unwrap(),
            38.0
        ));
        assert!(close(
            convert(0.01, "ppm", "µg/m³", Some("so2")).unwrap(),
            26.2
        ));
        assert!(close(
            convert(30.0, "ppb", "ug/m3", Some("O3")).unwrap(),
            58.8
        ));
        assert!(convert(5.0, "ppb", "ug/m3", Some("PM2.5")).is_err());
        assert!(convert(5.0, "ppb", "ug/m3", None).is_err());
    }

    #[test]
    fn same_dimension_conversions() {
        assert!(close(convert(2.5, "MWh", "kWh", None).unwrap(), 2500.0));
        assert!(close(
            convert(1.0, "GJ", "kWh", None).unwrap(),
            277.777_777_777_777_8
        ));
        assert!(close(convert(3.0, "km", "m", None).unwrap(), 3000.0));
        assert!(convert(3.0, "km", "kWh", None).is_err());
        assert!(same_dimension("households", "inhabitants"));
        assert!(!same_dimension("km", "%"));
    }

    #[test]
    fn catalogue_units_map_to_known_units() {
        assert_eq!(kpi_unit("Percentage"), Some("%"));
        assert_eq!(kpi_unit("kWh per year per capita"), Some("kWh"));
        assert_eq!(kpi_unit("GJ per year per capita"), Some("GJ"));
        assert_eq!(kpi_unit("e-kWh per m2 per year"), Some("kWh"));
        assert_eq!(kpi_unit("ug/m3"), Some("ug/m3"));
        assert_eq!(kpi_unit("Minutes"), Some("minutes"));
        assert_eq!(kpi_unit("Length per 100 000 inhabitants"), Some("km"));
        assert_eq!(kpi_unit("Per 100 000 inhabitants"), None);
    }
}
