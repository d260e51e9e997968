//! `urbis simulate city`: a plausible small city created through the oneM2M
//! API (air-quality stations for five pollutants, a city electricity feed,
//! grid outage events, cumulative water, heat and public-building meters,
//! travel-time probes, and an inventory of meters, Wi-Fi hotspots, stop
//! displays, adaptive traffic controllers and shared bicycles as nodes with
//! deviceInfo), plus the statistics and bindings files
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
/// (pollutant, unit as sent, base, spread); NO2, SO2 and O3 come in ppb as
/// many sensors report them, PM in µg/m³.
const POLLUTANTS: [(&str, f64, f64); 5] = [
    ("no2", 14.0, 6.0),
    ("pm25", 9.0, 4.0),
    ("pm10", 17.0, 6.0),
    ("so2", 1.6, 0.8),
    ("o3", 28.0, 8.0),
];

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

[inputs.so2]
mean = "air/so2"
value = "/v"
time = "/t"
unit = "ppb"

[inputs.o3]
mean = "air/o3"
value = "/v"
time = "/t"
unit = "ppb"

[inputs.pm25]
mean = "air/pm25"
value = "/v"
time = "/t"
unit = "ug/m3"

[inputs.pm10]
mean = "air/pm10"
value = "/v"
time = "/t"
unit = "ug/m3"

[inputs.electricity]
sum = "energy/electricity"
value = "/v"
time = "/t"
unit = "MWh"

# cumulative meters: the year's consumption is the difference of their indexes
[inputs.water_supplied]
difference = "water/supply"
value = "/v"
time = "/t"
unit = "m3"

[inputs.water_consumed]
difference = "water/consumption"
value = "/v"
time = "/t"
unit = "m3"

[inputs.residential_heat]
difference = "energy/heat-residential"
value = "/v"
time = "/t"
unit = "GJ"

[inputs.public_building_energy]
difference = "energy/public-building"
value = "/v"
time = "/t"
unit = "kWh"

# outage events: customers affected, and customer-minutes from start to restore
[inputs.outage_customers]
sum = "grid/outage"
value = "/customers"
time = "/start"
unit = "number"

[inputs.outage_customer_minutes]
duration = "grid/outage"
time = "/start"
end = "/end"
value = "/customers"
unit = "minutes"

[inputs.peak_travel_time]
mean = "traffic/travel-time-peak"
value = "/v"
time = "/t"
unit = "minutes"

[inputs.free_flow_travel_time]
mean = "traffic/travel-time-free"
value = "/v"
time = "/t"
unit = "minutes"

[inputs.smart_water_meters]
devices = ["smart-water-meter"]

[inputs.water_meters]
devices = ["smart-water-meter", "water-meter"]

[inputs.smart_electricity_meters]
devices = ["smart-electricity-meter"]

[inputs.electricity_meters]
devices = ["smart-electricity-meter", "electricity-meter"]

[inputs.wifi_hotspots]
devices = ["wifi-hotspot"]

[inputs.stop_displays]
devices = ["passenger-display"]

[inputs.adaptive_intersections]
devices = ["adaptive-traffic-controller"]

[inputs.shared_bicycles]
devices = ["shared-bicycle"]

[[kpi]]
code = "EN: EN: AQ: 1C"
part = "NO2"
value = "no2"

[[kpi]]
code = "EN: EN: AQ: 1C"
part = "SO2"
value = "so2"

[[kpi]]
code = "EN: EN: AQ: 1C"
part = "O3"
value = "o3"

[[kpi]]
code = "EN: EN: AQ: 1C"
part = "PM2.5"
value = "pm25"

[[kpi]]
code = "EN: EN: AQ: 1C"
part = "PM10"
value = "pm10"

[[kpi]]
code = "EN: E: E: 2C"
per_capita = ["electricity", "population"]

[[kpi]]
code = "EC: I: WS: 3C"
loss = ["water_supplied", "water_consumed"]

# litres per capita per day: m3 per year x 1000 / 365
[[kpi]]
code = "EN: EN: WS: 2C"
per_capita = ["water_consumed", "population"]
factor = 2.7397260273972601

[[kpi]]
code = "EN: E: E: 3C"
per_capita = ["residential_heat", "population"]

[[kpi]]
code = "EN: E: E: 4A"
ratio = ["public_building_energy", "public_building_floor_area"]

# SAIFI: customer interruptions per customer served
[[kpi]]
code = "EC: I: ES: 1C"
ratio = ["outage_customers", "electricity_customers"]

# CAIDI: customer-minutes per customer interruption
[[kpi]]
code = "EC: I: ES: 2C"
ratio = ["outage_customer_minutes", "outage_customers"]

[[kpi]]
code = "EC: I: T: 5A"
ratio = ["peak_travel_time", "free_flow_travel_time"]

[[kpi]]
code = "EC: ICT: WS: 1C"
ratio = ["smart_water_meters", "water_meters"]

[[kpi]]
code = "EC: ICT: ES: 1C"
ratio = ["smart_electricity_meters", "electricity_meters"]

[[kpi]]
code = "EC: ICT: ICT: 5C"
value = "wifi_hotspots"

[[kpi]]
code = "EC: ICT: T: 1C"
ratio = ["stop_displays", "public_transport_stops"]

[[kpi]]
code = "EC: ICT: T: 3A"
ratio = ["adaptive_intersections", "signalised_intersections"]

[[kpi]]
code = "EC: I: T: 6A"
per_capita = ["shared_bicycles", "population"]
factor = 100000

[[kpi]]
code = "EC: ICT: ICT: 1C"
ratio = ["households_internet", "households"]

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
             violent_crimes,{y},{crimes},number,{src}\n\
             electricity_customers,{y},24000,number,simulated utility\n\
             public_building_floor_area,{y},42000,m2,simulated property register\n"
        ));
    }
    s.push_str(&format!(
        "public_transport_stops,{year},80,number,{src}\n\
         signalised_intersections,{year},40,number,{src}\n"
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

/// What a simulated container reports.
#[derive(Clone, Copy)]
enum Feed {
    /// A daily level around `base` (air quality, travel times, daily energy).
    Gauge { base: f64, spread: f64 },
    /// A cumulative meter read weekly, using about `per_day` a day.
    Meter { per_day: f64 },
    /// About `per_year` events (outages) with `customers` affected on average.
    Outages { per_year: usize, customers: f64 },
}

struct Container {
    app: &'static str,
    rn: String,
    labels: Vec<String>,
    feed: Feed,
}

fn containers() -> Vec<Container> {
    let mut out = Vec::new();
    let mut add = |app, rn: String, label: &str, feed| {
        out.push(Container {
            app,
            rn,
            labels: vec![label.to_owned()],
            feed,
        })
    };
    for station in STATIONS {
        for (pollutant, base, spread) in POLLUTANTS {
            add(
                "city-air",
                format!("{station}-{pollutant}"),
                &format!("air/{pollutant}"),
                Feed::Gauge { base, spread },
            );
        }
    }
    add(
        "city-grid",
        "consumption".into(),
        "energy/electricity",
        Feed::Gauge {
            base: 700.0,
            spread: 120.0,
        },
    );
    add(
        "city-grid",
        "outages".into(),
        "grid/outage",
        Feed::Outages {
            per_year: 30,
            customers: 950.0,
        },
    );
    for zone in 1..=4 {
        add(
            "city-water",
            format!("zone-{zone}-supply"),
            "water/supply",
            Feed::Meter { per_day: 2250.0 },
        );
        add(
            "city-water",
            format!("zone-{zone}-consumption"),
            "water/consumption",
            Feed::Meter { per_day: 1950.0 },
        );
    }
    for substation in 1..=3 {
        add(
            "city-heat",
            format!("substation-{substation}"),
            "energy/heat-residential",
            Feed::Meter { per_day: 475.0 },
        );
    }
    for building in ["town-hall", "library", "school-east", "school-west", "pool"] {
        add(
            "city-buildings",
            format!("{building}-energy"),
            "energy/public-building",
            Feed::Meter { per_day: 3450.0 },
        );
    }
    for segment in ["ring-north", "ring-south", "harbour-road", "main-street"] {
        add(
            "city-traffic",
            format!("{segment}-peak"),
            "traffic/travel-time-peak",
            Feed::Gauge {
                base: 11.0,
                spread: 3.0,
            },
        );
        add(
            "city-traffic",
            format!("{segment}-free"),
            "traffic/travel-time-free",
            Feed::Gauge {
                base: 8.0,
                spread: 1.0,
            },
        );
    }
    out
}

/// Inventory: (node name prefix, how many, dty of the first `smart`, dty of the rest).
const DEVICES: [(&str, usize, usize, &str, &str); 6] = [
    ("water-meter", 50, 42, "smart-water-meter", "water-meter"),
    (
        "electricity-meter",
        50,
        47,
        "smart-electricity-meter",
        "electricity-meter",
    ),
    ("wifi-hotspot", 25, 25, "wifi-hotspot", ""),
    ("stop-display", 61, 61, "passenger-display", ""),
    (
        "traffic-controller",
        13,
        13,
        "adaptive-traffic-controller",
        "",
    ),
    ("shared-bicycle", 150, 150, "shared-bicycle", ""),
];

const APPS: [&str; 6] = [
    "city-air",
    "city-grid",
    "city-water",
    "city-heat",
    "city-buildings",
    "city-traffic",
];

fn originator(app: &str) -> String {
    format!("C{app}")
}

/// The readings of one container for `year`, as `con` objects (`improved`:
/// 7 % lower than the year before). Meters start the year at `index` and
/// leave it where they end.
fn readings(
    feed: Feed,
    year: i32,
    improved: bool,
    rng: &mut fastrand::Rng,
    index: &mut f64,
) -> Vec<serde_json::Value> {
    let start = jiff::civil::date(year as i16, 1, 1);
    let days: i32 = if start.in_leap_year() { 366 } else { 365 };
    let at = |day: i32, hour: i32| {
        let date = start
            .checked_add(jiff::Span::new().days(i64::from(day)))
            .unwrap_or(start);
        format!("{}T{hour:02}0000", date.strftime("%Y%m%d"))
    };
    // a winter peak, and a slow improvement year on year
    let season =
        |day: i32| 1.0 + 0.25 * (f64::from(day) / f64::from(days) * std::f64::consts::TAU).cos();
    let trend = if improved { 0.93 } else { 1.0 };
    let round = |v: f64| (v * 10.0).round() / 10.0;
    let mut out = Vec::new();
    match feed {
        Feed::Gauge { base, spread } => {
            for day in 0..days {
                let v = (base * season(day) * trend + (rng.f64() - 0.5) * spread).max(0.0);
                out.push(json!({"v": round(v), "t": at(day, 12)}));
            }
        }
        Feed::Meter { per_day } => {
            for day in (0..days).step_by(7).chain([days - 1]) {
                out.push(json!({"v": round(*index), "t": at(day, 23)}));
                let step = if day + 7 < days { 7 } else { days - 1 - day };
                *index += per_day * f64::from(step) * season(day) * trend * (0.9 + 0.2 * rng.f64());
            }
        }
        Feed::Outages {
            per_year,
            customers,
        } => {
            let mut starts: Vec<i32> = (0..per_year).map(|_| rng.i32(0..days)).collect();
            starts.sort_unstable();
            for day in starts {
                let begin =
                    jiff::civil::datetime(year as i16, 1, 1, rng.i8(0..23), rng.i8(0..59), 0, 0)
                        .checked_add(jiff::Span::new().days(i64::from(day)))
                        .unwrap_or_default();
                let minutes = 20 + rng.i64(0..100);
                let end = begin
                    .checked_add(jiff::Span::new().minutes(minutes))
                    .unwrap_or(begin);
                let affected = (customers * (0.3 + 1.4 * rng.f64())).round();
                out.push(json!({
                    "start": begin.strftime("%Y%m%dT%H%M%S").to_string(),
                    "end": end.strftime("%Y%m%dT%H%M%S").to_string(),
                    "customers": affected,
                }));
            }
        }
    }
    out
}

/// Create the city on the platform: readings for `year` and the year before.
pub async fn city(platform: Arc<Platform>, year: i32) -> Result<City, Error> {
    let p = &platform;
    let cse = p.cse_name().to_owned();
    let mut rng = fastrand::Rng::with_seed(u64::from(year.unsigned_abs()));
    for app in APPS {
        if !p.exists(&format!("{cse}/{app}")).await? {
            p.create(
                &cse,
                2,
                json!({"m2m:ae": {"rn": app, "api": "Nurbis-sim", "rr": false, "srv": ["3"]}}),
                &originator(app),
            )
            .await?;
        }
    }
    let mut devices = 0;
    for (prefix, n, smart, smart_dty, plain_dty) in DEVICES {
        for i in 0..n {
            let node = format!("{prefix}-{i:03}");
            if p.exists(&format!("{cse}/{node}")).await? {
                continue;
            }
            let dty = if i < smart { smart_dty } else { plain_dty };
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
    let mut count = 0;
    for c in containers() {
        let orig = originator(c.app);
        let parent = format!("{cse}/{}", c.app);
        let created = p
            .ensure(
                &parent,
                3,
                json!({"m2m:cnt": {"rn": c.rn, "lbl": c.labels}}),
                &orig,
            )
            .await?;
        // a second run must not add a second year of readings to the same sums
        if !created {
            continue;
        }
        let path = format!("{parent}/{}", c.rn);
        let mut index = 10_000.0 + 1000.0 * rng.f64();
        for y in [year - 1, year] {
            for con in readings(c.feed, y, y == year, &mut rng, &mut index) {
                if jobs.len() >= PARALLEL {
                    if let Some(done) = jobs.join_next().await {
                        done.map_err(|e| Error::Platform(e.to_string()))??;
                    }
                }
                let (platform, path, orig) = (platform.clone(), path.clone(), orig.clone());
                let body = json!({"m2m:cin": {"con": con}});
                jobs.spawn(async move { platform.create(&path, 4, body, &orig).await });
                count += 1;
            }
        }
    }
    while let Some(done) = jobs.join_next().await {
        done.map_err(|e| Error::Platform(e.to_string()))??;
    }
    Ok(City {
        readings: count,
        devices,
    })
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
