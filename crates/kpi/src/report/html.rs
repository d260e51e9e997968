//! A self-contained HTML report: inline CSS, hand-written SVG charts, no
//! external assets, so it can be mailed or archived as one file.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::{Count, Report};
use crate::catalogue::{Catalogue, Kpi, DIMENSIONS};
use crate::compute::{KpiResult, Status};

const CSS: &str = "
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:80rem}
h1{margin-bottom:.2rem} h2{border-bottom:2px solid #2a6f97;margin-top:2.5rem}
h3{margin-top:1.8rem;color:#2a6f97} h4{margin:1.2rem 0 .4rem}
table{border-collapse:collapse;width:100%;font-size:.9rem;table-layout:fixed}
col.code{width:7.5rem} col.name{width:13rem} col.level{width:5rem} col.value{width:5.5rem}
col.unit{width:7rem} col.status{width:6.5rem} col.years{width:182px}
td:first-child{white-space:nowrap} td{overflow-wrap:anywhere}
th,td{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f2f5f7} td.v{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
.reported{color:#1b7a3a}.flagged{color:#b26b00}.not_available{color:#888}
.small{font-size:.8rem;color:#555} .warn{color:#b26b00}
@media print{body{margin:0;max-width:none;font-size:9pt} h2{break-before:page}
 section:first-of-type h2{break-before:auto} h2,h3,h4{break-after:avoid}
 tr,svg{break-inside:avoid} th{background:none;border-bottom:1.5px solid #222}
 .small{color:#333}}
@page{size:A4 landscape;margin:12mm}
";

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn number(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A category's name and its KPIs.
type Category<'a> = (&'a str, Vec<&'a Kpi>);

pub fn html(report: &Report, catalogue: &Catalogue) -> String {
    let c = &report.coverage;
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>U4SSC KPI report {y}</title><style>{CSS}</style></head><body>\n\
         <h1>U4SSC KPI report {y}</h1>\
         <p class=\"small\">Key performance indicators for smart sustainable cities \
         (ITU-T Y.4903 / U4SSC), computed by Urbis from platform data and statistics.</p>\n\
         <p id=\"coverage\"><strong>{r} of {t} KPIs reported</strong> \
         (core {cr} of {ct}, advanced {ar} of {at}{unknown}).</p>\n",
        y = report.year,
        r = c.all.reported,
        t = c.all.total,
        cr = c.core.reported,
        ct = c.core.total,
        ar = c.advanced.reported,
        at = c.advanced.total,
        unknown = if c.unknown_level.total > 0 {
            format!(
                ", level disputed {} of {}",
                c.unknown_level.reported, c.unknown_level.total
            )
        } else {
            String::new()
        },
    );
    h.push_str(&coverage_chart(report));
    for dim in DIMENSIONS {
        let _ = write!(h, "\n<section><h2>{}</h2>\n", esc(dim));
        // sub-dimension -> category -> KPIs, in catalogue order
        let mut subs: Vec<(&str, Vec<Category>)> = Vec::new();
        for k in catalogue.kpis.iter().filter(|k| k.dimension == dim) {
            let sub = match subs.iter_mut().find(|(s, _)| *s == k.sub_dimension) {
                Some(s) => s,
                None => {
                    subs.push((&k.sub_dimension, Vec::new()));
                    subs.last_mut().expect("just pushed")
                }
            };
            match sub.1.iter_mut().find(|(c, _)| *c == k.category) {
                Some(cat) => cat.1.push(k),
                None => sub.1.push((&k.category, vec![k])),
            }
        }
        for (sub, cats) in subs {
            let _ = writeln!(h, "<h3>{}</h3>", esc(sub));
            for (cat, kpis) in cats {
                let _ = write!(
                    h,
                    "<h4>{}</h4>\n<table><colgroup><col class=\"code\"><col class=\"name\">\
                     <col class=\"level\"><col class=\"value\"><col class=\"unit\">\
                     <col class=\"status\"><col><col class=\"years\"></colgroup><tr><th>Code</th><th>KPI</th><th>Level</th>\
                     <th>Value {}</th><th>Unit</th><th>Status</th><th>Notes and sources</th>\
                     <th>Years</th></tr>\n",
                    esc(cat),
                    report.year
                );
                for k in kpis {
                    kpi_rows(&mut h, report, k);
                }
                h.push_str("</table>\n");
            }
        }
        h.push_str("</section>\n");
    }
    h.push_str("</body></html>\n");
    h
}

fn kpi_rows(h: &mut String, report: &Report, kpi: &Kpi) {
    let mine: Vec<&KpiResult> = report
        .results
        .iter()
        .filter(|r| r.code == kpi.code)
        .collect();
    // one row per data point (or one for the KPI), each with its series over the years
    let mut parts: BTreeMap<Option<&str>, Vec<&KpiResult>> = BTreeMap::new();
    for r in &mine {
        parts.entry(r.part.as_deref()).or_default().push(r);
    }
    for (part, rs) in parts {
        let current = rs.iter().find(|r| r.year == report.year);
        let name = match part {
            Some(p) => format!("{} &mdash; {}", esc(&kpi.name), esc(p)),
            None => esc(&kpi.name),
        };
        let (value, status, notes) = match current {
            Some(r) => {
                let mut notes = String::new();
                if let Some(reason) = &r.reason {
                    notes.push_str(&esc(reason));
                }
                for w in &r.warnings {
                    let _ = write!(notes, "<div class=\"warn\">&#9888; {}</div>", esc(w));
                }
                for s in &r.sources {
                    let _ = write!(notes, "<div class=\"small\">{}</div>", esc(s));
                }
                (
                    r.value.map(number).unwrap_or_else(|| "&ndash;".into()),
                    r.status,
                    notes,
                )
            }
            None => (
                "&ndash;".into(),
                Status::NotAvailable,
                format!("no value for {}", report.year),
            ),
        };
        let mut series: Vec<(i32, f64)> = rs
            .iter()
            .filter_map(|r| r.value.map(|v| (r.year, v)))
            .collect();
        series.sort_by_key(|(y, _)| *y);
        let chart = if series.len() >= 2 {
            sparkline(&series)
        } else {
            String::new()
        };
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"v\">{}</td><td>{}</td>\
             <td class=\"{st}\">{st}</td><td>{}</td><td>{}</td></tr>",
            esc(&kpi.code),
            name,
            kpi.level.as_str(),
            value,
            esc(&kpi.unit),
            notes,
            chart,
            st = status.as_str(),
        );
    }
}

/// Horizontal bars: per dimension the share of its KPIs reported, core and advanced.
fn coverage_chart(report: &Report) -> String {
    let rows: Vec<(String, Count)> = report
        .coverage
        .dimensions
        .iter()
        .flat_map(|d| {
            [
                (format!("{} (all)", d.dimension), d.all),
                (format!("{} core", d.dimension), d.core),
                (format!("{} advanced", d.dimension), d.advanced),
            ]
        })
        .collect();
    let (label_w, bar_w, row_h) = (230.0, 360.0, 22.0);
    let height = rows.len() as f64 * row_h + 10.0;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"coverage\" width=\"{w}\" height=\"{height}\" \
         role=\"img\" aria-label=\"KPI coverage per dimension\" font-size=\"12\">\n",
        w = label_w + bar_w + 90.0
    );
    for (i, (label, c)) in rows.iter().enumerate() {
        let y = 5.0 + i as f64 * row_h;
        let share = if c.total == 0 {
            0.0
        } else {
            c.reported as f64 / c.total as f64
        };
        let fill = if label.ends_with("(all)") {
            "#2a6f97"
        } else {
            "#89c2d9"
        };
        let _ = writeln!(
            s,
            "<text x=\"0\" y=\"{ty}\">{}</text>\
             <rect x=\"{label_w}\" y=\"{y}\" width=\"{bar_w}\" height=\"16\" fill=\"#eee\"/>\
             <rect x=\"{label_w}\" y=\"{y}\" width=\"{fw:.1}\" height=\"16\" fill=\"{fill}\"/>\
             <text x=\"{tx}\" y=\"{ty}\">{} / {}</text>",
            esc(label),
            c.reported,
            c.total,
            ty = y + 12.0,
            fw = share * bar_w,
            tx = label_w + bar_w + 6.0,
        );
    }
    s.push_str("</svg>\n");
    s
}

/// A small line chart of one KPI's values over the years.
fn sparkline(series: &[(i32, f64)]) -> String {
    let (w, hgt, pad) = (170.0, 48.0, 6.0);
    let (y0, y1) = (series[0].0, series[series.len() - 1].0);
    let lo = series.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let hi = series.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    let x = |year: i32| {
        if y1 == y0 {
            w / 2.0
        } else {
            pad + (year - y0) as f64 / (y1 - y0) as f64 * (w - 2.0 * pad)
        }
    };
    let y = |v: f64| {
        if hi == lo {
            (hgt - 14.0) / 2.0
        } else {
            pad + (hi - v) / (hi - lo) * (hgt - 14.0 - pad)
        }
    };
    let points: Vec<String> = series
        .iter()
        .map(|(yr, v)| format!("{:.1},{:.1}", x(*yr), y(*v)))
        .collect();
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"trend\" width=\"{w}\" height=\"{hgt}\" \
         font-size=\"9\"><polyline fill=\"none\" stroke=\"#2a6f97\" stroke-width=\"1.5\" points=\"{}\"/>",
        points.join(" ")
    );
    for (yr, v) in series {
        let _ = write!(
            s,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"#2a6f97\"><title>{yr}: {}</title></circle>",
            x(*yr),
            y(*v),
            number(*v)
        );
    }
    let _ = write!(
        s,
        "<text x=\"0\" y=\"{b}\">{y0}</text><text x=\"{r}\" y=\"{b}\" text-anchor=\"end\">{y1}</text></svg>",
        b = hgt - 2.0,
        r = w,
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compute::Status;

    fn result(code: &str, year: i32, value: Option<f64>) -> KpiResult {
        KpiResult {
            code: code.into(),
            part: None,
            year,
            status: if value.is_some() {
                Status::Reported
            } else {
                Status::NotAvailable
            },
            value,
            unit: "Percentage".into(),
            reason: value.is_none().then(|| "no data <here>".to_owned()),
            warnings: Vec::new(),
            sources: vec!["census & survey".into()],
        }
    }

    #[test]
    fn the_page_is_self_contained_and_escaped() {
        let cat = Catalogue::embedded();
        let results = vec![
            result("EC: ICT: ES: 1C", 2025, Some(20.0)),
            result("EC: ICT: ES: 1C", 2026, Some(25.0)),
            result("SC: SH: SI: 3C", 2026, None),
        ];
        let report = Report::new(cat, 2026, results);
        let page = html(&report, cat);
        for dim in DIMENSIONS {
            assert!(page.contains(&format!("<h2>{}</h2>", esc(dim))), "{dim}");
        }
        assert!(page.contains("1 of 91 KPIs reported"));
        assert!(
            page.contains("class=\"trend\""),
            "a series of two years is drawn"
        );
        assert!(page.contains("no data &lt;here&gt;"));
        assert!(page.contains("census &amp; survey"));
        assert!(
            !page.contains("http-equiv") && !page.contains("<link") && !page.contains("<script")
        );
    }
}
