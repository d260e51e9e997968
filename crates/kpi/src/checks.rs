//! Plausibility checks of the U4SSC verification manual (VM22 p32) and simple
//! range checks. A failed check keeps the value but marks it `flagged` with
//! the warning, so a verifier sees both.

use std::collections::BTreeMap;

use crate::catalogue::{sanitize_code, Catalogue, Scale};
use crate::compute::{KpiResult, Status};

/// KPIs whose data points are shares of one whole (should add up to ~100 %).
const SHARE_GROUPS: [&str; 2] = ["EC: I: T: 4A", "EN: EN: WA: 1C"];
/// How far a share group's sum may be from 100 (percentage points).
pub const SHARE_TOLERANCE: f64 = 5.0;
/// Wastewater treatment levels, each at most the one before.
const WASTEWATER: &str = "EN: EN: WS: 4C";
const TREATMENT_LEVELS: [&str; 3] = ["primary", "secondary", "tertiary"];

pub fn apply(catalogue: &Catalogue, results: &mut [KpiResult]) {
    for r in results.iter_mut() {
        let Some(v) = r.value else { continue };
        let percent = catalogue
            .get(&r.code)
            .is_some_and(|k| k.scale() == Scale::Percent);
        if percent && !(0.0..=100.0).contains(&v) {
            r.warnings
                .push(format!("a percentage of {v:.2} is outside 0-100"));
        } else if v < 0.0 {
            r.warnings.push(format!("negative value {v}"));
        }
    }
    // groups of (KPI, year) -> indices of its part results
    let mut groups: BTreeMap<(String, i32), Vec<usize>> = BTreeMap::new();
    for (i, r) in results.iter().enumerate() {
        if r.part.is_some() && r.value.is_some() {
            groups
                .entry((sanitize_code(&r.code), r.year))
                .or_default()
                .push(i);
        }
    }
    for ((code, _), idx) in &groups {
        if SHARE_GROUPS.iter().any(|c| sanitize_code(c) == *code) {
            let sum: f64 = idx.iter().filter_map(|&i| results[i].value).sum();
            let all_parts = catalogue
                .get(code)
                .is_some_and(|k| k.data_points.len() == idx.len());
            let off = sum > 100.0 + SHARE_TOLERANCE || (all_parts && sum < 100.0 - SHARE_TOLERANCE);
            if off {
                for &i in idx {
                    results[i].warnings.push(format!(
                        "the shares add up to {sum:.1} %, not about 100 % (VM22 p32)"
                    ));
                }
            }
        }
        if sanitize_code(WASTEWATER) == *code {
            let level = |name: &str| {
                idx.iter()
                    .find(|&&i| {
                        results[i]
                            .part
                            .as_deref()
                            .is_some_and(|p| p.eq_ignore_ascii_case(name))
                    })
                    .and_then(|&i| results[i].value.map(|v| (i, v)))
            };
            let levels: Vec<(&str, Option<(usize, f64)>)> =
                TREATMENT_LEVELS.iter().map(|l| (*l, level(l))).collect();
            for pair in levels.windows(2) {
                if let ((hi, Some((_, a))), (lo, Some((j, b)))) = (pair[0], pair[1]) {
                    if b > a {
                        results[j].warnings.push(format!(
                            "{lo} treatment ({b:.1} %) exceeds {hi} ({a:.1} %); VM22 p32 wants primary >= secondary >= tertiary"
                        ));
                    }
                }
            }
        }
    }
    for r in results.iter_mut() {
        if r.status == Status::Reported && !r.warnings.is_empty() {
            r.status = Status::Flagged;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(code: &str, part: Option<&str>, value: f64) -> KpiResult {
        KpiResult {
            code: code.into(),
            part: part.map(str::to_owned),
            year: 2026,
            status: Status::Reported,
            value: Some(value),
            unit: String::new(),
            reason: None,
            warnings: Vec::new(),
            sources: Vec::new(),
        }
    }

    #[test]
    fn percentages_out_of_range_are_flagged() {
        let mut r = vec![
            result("EC: ICT: ES: 1C", None, 104.0),
            result("EC: ICT: ES: 3A", None, 40.0),
        ];
        apply(Catalogue::embedded(), &mut r);
        assert_eq!(r[0].status, Status::Flagged);
        assert_eq!(r[1].status, Status::Reported);
    }

    #[test]
    fn shares_must_add_up_to_about_100() {
        let parts = [
            "landfill",
            "burnt",
            "incinerated",
            "open dump",
            "recycled",
            "other",
        ];
        let mut ok: Vec<_> = parts
            .iter()
            .zip([40.0, 0.0, 20.0, 0.0, 38.0, 0.0])
            .map(|(p, v)| result("EN: EN: WA: 1C", Some(p), v))
            .collect();
        apply(Catalogue::embedded(), &mut ok);
        assert!(ok.iter().all(|r| r.status == Status::Reported));
        let mut low: Vec<_> = parts
            .iter()
            .zip([40.0, 0.0, 20.0, 0.0, 20.0, 0.0])
            .map(|(p, v)| result("EN: EN: WA: 1C", Some(p), v))
            .collect();
        apply(Catalogue::embedded(), &mut low);
        assert!(low.iter().all(|r| r.status == Status::Flagged));
        // two of five mode shares, already above 100
        let mut high = vec![
            result("EC: I: T: 4A", Some("walking"), 60.0),
            result("EC: I: T: 4A", Some("cycling"), 50.0),
        ];
        apply(Catalogue::embedded(), &mut high);
        assert!(high[0].warnings[0].contains("110.0"));
        // incomplete and below 100 is no evidence of a fault
        let mut partial = vec![result("EC: I: T: 4A", Some("walking"), 30.0)];
        apply(Catalogue::embedded(), &mut partial);
        assert_eq!(partial[0].status, Status::Reported);
    }

    #[test]
    fn wastewater_levels_must_not_increase() {
        let mut r = vec![
            result("EN: EN: WS: 4C", Some("primary"), 90.0),
            result("EN: EN: WS: 4C", Some("secondary"), 95.0),
            result("EN: EN: WS: 4C", Some("tertiary"), 50.0),
        ];
        apply(Catalogue::embedded(), &mut r);
        assert_eq!(r[0].status, Status::Reported);
        assert_eq!(r[1].status, Status::Flagged);
        assert!(r[1].warnings[0].contains("secondary"));
        assert_eq!(r[2].status, Status::Reported);
    }
}
