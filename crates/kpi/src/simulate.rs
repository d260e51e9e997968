//! `urbis simulate city`: a plausible small city created through the oneM2M
//! API (air-quality stations, a city electricity feed, water and electricity
//! meters as nodes with deviceInfo), plus the statistics and bindings files
//! that turn it into a filled KPI report. The numbers are seeded, so two runs
//! give the same city.

use std::sync::Arc;

use serde_json::json;
use tokio::task::JoinSet;

use crate::platform::Platform;
use crate::Error;

/// Requests in flight while loading readings.
const PARALLEL: usize = 8;
const STATIONS: [&str; 3] = ["centre", "harbour", "north"];

pub struct City {
    pub readings: usize,
    pub devices: usize,
}

/// The bindings matching the simulated city.
pub const BINDINGS: &str = r#"# Bindings for the city created by `urbis simulate city`.
[inputs.no2]
mean = "air/no2"
value = "/v"
time = "/t"
unit = "ppb"

[inputs.pm25]
mean = "air/pm25"
value = "/v"
time = "/t"
unit = "ug/m3"

[inputs.electricity]
sum = "energy/electricity"
value = "/v"
time = "/t"
unit = "MWh"

[inputs.smart_water_meters]
devices = ["smart-water-meter"]

[inputs.water_meters]
devices = ["smart-water-meter", "water-meter"]

[inputs.smart_electricity_meters]
devices = ["smart-electricity-meter"]

[inputs.electricity_meters]
devices = ["smart-electricity-meter", "electricity-meter"]

[[kpi]]
code = "EN: EN: AQ: 1C"
part = "NO2"
value = "no2"

[[kpi]]
code = "EN: EN: AQ: 1C"
part = "PM2.5"
value = "pm25"

[[kpi]]
code = "EN: E: E: 2C"
per_capita = ["electricity", "population"]

[[kpi]]
code = "EC: ICT: WS: 1C"
ratio = ["smart_water_meters", "water_meters"]

[[kpi]]
code = "EC: ICT: ES: 1C"
ratio = ["smart_electricity_meters", "electricity_meters"]

[[kpi]]
code = "EC: ICT: ICT: 1C"
ratio = ["households_internet", "households"]

[[kpi]]
code = "EC: I: T: 5A"
ratio = ["peak_travel_time", "free_flow_travel_time"]

[[kpi]]
code = "SC: SH: SA: 8C"
per_capita = ["violent_crimes", "population"]
"#;

/// The statistics of the simulated city for `year` and the year before.
pub fn statistics(year: i32) -> String {
    let mut s = String::from("kpi,year,value,unit,source\n");
    let src = "simulated statistics office";
    for (y, pop, hh, net, crimes) in [
        (year - 1, 51_200, 23_100, 21_300, 131),
        (year, 52_000, 23_500, 21_900, 118),
    ] {
        s.push_str(&format!(
            "population,{y},{pop},inhabitants,{src}\n\
             households,{y},{hh},households,{src}\n\
             households_internet,{y},{net},households,{src}\n\
             violent_crimes,{y},{crimes},number,{src}\n"
        ));
    }
    s.push_str(&format!(
        "peak_travel_time,{year},31,minutes,{src}\nfree_flow_travel_time,{year},24,minutes,{src}\n"
    ));
    for (key, v) in [
        ("EC: P: EM: 1C", 3.9),
        ("SC: SH: SI: 3C", 8.4),
        ("SC: SH: SI: 4C", 71.0),
        ("EN: EN: WS: 4C/primary", 99.0),
        ("EN: EN: WS: 4C/secondary", 92.0),
        ("EN: EN: WS: 4C/tertiary", 40.0),
        ("EN: EN: WA: 1C/landfill", 22.0),
        ("EN: EN: WA: 1C/burnt", 0.0),
        ("EN: EN: WA: 1C/incinerated", 35.0),
        ("EN: EN: WA: 1C/open dump", 0.0),
        ("EN: EN: WA: 1C/recycled", 41.0),
        ("EN: EN: WA: 1C/other", 2.0),
        ("EC: I: T: 4A/private vehicles", 48.0),
        ("EC: I: T: 4A/public transport", 27.0),
        ("EC: I: T: 4A/walking", 14.0),
        ("EC: I: T: 4A/cycling", 9.0),
        ("EC: I: T: 4A/para transport", 2.0),
    ] {
        s.push_str(&format!("{key},{year},{v},%,{src}\n"));
    }
    s
}

/// Create the city on the platform: readings for `year` and the year before.
pub async fn city(platform: Arc<Platform>, year: i32) -> Result<City, Error> {
    let p = &platform;
    let cse = p.cse_name().to_owned();
    let mut rng = fastrand::Rng::with_seed(u64::from(year.unsigned_abs()));
    let mut devices = 0;
    for (ae, orig) in [("city-air", "Ccity-air"), ("city-grid", "Ccity-grid")] {
        if !p.exists(&format!("{cse}/{ae}")).await? {
            p.create(
                &cse,
                2,
                json!({"m2m:ae": {"rn": ae, "api": "Nurbis-sim", "rr": false, "srv": ["3"]}}),
                orig,
            )
            .await?;
        }
    }
    let mut series: Vec<(String, &str, f64, f64)> = Vec::new();
    for station in STATIONS {
        for (pollutant, base, spread) in [("no2", 14.0, 6.0), ("pm25", 9.0, 4.0)] {
            let rn = format!("{station}-{pollutant}");
            let created = p.ensure(
                &format!("{cse}/city-air"),
                3,
                json!({"m2m:cnt": {"rn": rn, "lbl": [format!("air/{pollutant}"), format!("station/{station}")]}}),
                "Ccity-air",
            )
            .await?;
            // a second run must not add a second year of readings to the same sums
            if created {
                series.push((format!("{cse}/city-air/{rn}"), "Ccity-air", base, spread));
            }
        }
    }
    let created = p
        .ensure(
            &format!("{cse}/city-grid"),
            3,
            json!({"m2m:cnt": {"rn": "consumption", "lbl": ["energy/electricity"]}}),
            "Ccity-grid",
        )
        .await?;
    if created {
        series.push((
            format!("{cse}/city-grid/consumption"),
            "Ccity-grid",
            700.0,
            120.0,
        ));
    }

    for (kind, smart, plain) in [("water", 42, 8), ("electricity", 47, 3)] {
        for i in 0..smart + plain {
            let node = format!("{kind}-meter-{i:03}");
            if p.exists(&format!("{cse}/{node}")).await? {
                continue;
            }
            let dty = if i < smart {
                format!("smart-{kind}-meter")
            } else {
                format!("{kind}-meter")
            };
            p.create(
                &cse,
                14,
                json!({"m2m:nod": {"rn": node, "ni": node}}),
                "CAdmin",
            )
            .await?;
            p.create(
                &format!("{cse}/{node}"),
                13,
                json!({"m2m:dvi": {"mgd": 1007, "rn": "deviceInfo", "dlb": node,
                    "man": "Urbis simulation", "mod": "M-1", "dty": dty}}),
                "CAdmin",
            )
            .await?;
            devices += 1;
        }
    }

    let mut jobs = JoinSet::new();
    let mut readings = 0;
    for y in [year - 1, year] {
        let start = jiff::civil::date(y as i16, 1, 1);
        let days = if start.in_leap_year() { 366 } else { 365 };
        for day in 0..days {
            let date = start
                .checked_add(jiff::Span::new().days(day))
                .map_err(|e| Error::Platform(e.to_string()))?;
            let t = format!("{}T120000", date.strftime("%Y%m%d"));
            // a slow improvement year on year, a winter peak, and noise
            let season =
                1.0 + 0.25 * (f64::from(day) / f64::from(days) * std::f64::consts::TAU).cos();
            let trend = if y == year { 0.93 } else { 1.0 };
            for (path, orig, base, spread) in &series {
                let v = (base * season * trend + (rng.f64() - 0.5) * spread).max(0.0);
                let v = (v * 10.0).round() / 10.0;
                let (platform, path, orig) = (platform.clone(), path.clone(), *orig);
                let body = json!({"m2m:cin": {"con": {"v": v, "t": t}}});
                if jobs.len() >= PARALLEL {
                    if let Some(done) = jobs.join_next().await {
                        done.map_err(|e| Error::Platform(e.to_string()))??;
                    }
                }
                jobs.spawn(async move { platform.create(&path, 4, body, orig).await });
                readings += 1;
            }
        }
    }
    while let Some(done) = jobs.join_next().await {
        done.map_err(|e| Error::Platform(e.to_string()))??;
    }
    Ok(City { readings, devices })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::Bindings;
    use crate::stats::Statistics;
    use crate::Catalogue;

    #[test]
    fn the_simulated_files_are_valid() {
        let cat = Catalogue::embedded();
        Bindings::parse(BINDINGS, cat).expect("bindings");
        let s = Statistics::parse(&statistics(2026), cat).expect("statistics");
        assert!(s.input("population", 2025).is_some());
    }
}
