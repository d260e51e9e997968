//! A real CSE with the HTTP binding on 127.0.0.1:0 (in-memory store), a few
//! containers with readings and devices, then the KPI engine over oneM2M.

mod common;

use std::sync::Arc;

use serde_json::{json, Value};
use urbis_kpi::bindings::Bindings;
use urbis_kpi::compute::{KpiResult, Status};
use urbis_kpi::local::StoreSource;
use urbis_kpi::platform::Platform;
use urbis_kpi::stats::Statistics;
use urbis_kpi::{build_report, publish, report, simulate, Catalogue, Error};

use common::start_with_store;

async fn start(discovery_limit: u64) -> String {
    start_with_store(discovery_limit).await.0
}

async fn city(p: &Platform) {
    let ok = |r: Result<(), Error>| r.expect("create");
    for (ae, orig) in [("air", "Cair"), ("grid", "Cgrid")] {
        ok(p.create(
            "cse-in",
            2,
            json!({"m2m:ae": {"rn": ae, "api": "Ntest", "rr": false, "srv": ["3"]}}),
            orig,
        )
        .await);
    }
    for (rn, lbl) in [
        ("st1-no2", "air/no2"),
        ("st2-no2", "air/no2"),
        ("st1-pm25", "air/pm25"),
    ] {
        ok(p.create(
            "cse-in/air",
            3,
            json!({"m2m:cnt": {"rn": rn, "lbl": [lbl]}}),
            "Cair",
        )
        .await);
    }
    let reading = |v: f64, t: &str| json!({"m2m:cin": {"con": {"v": v, "t": t}}});
    for (cnt, v, t) in [
        ("st1-no2", 10.0, "20260115T000000"),
        ("st1-no2", 20.0, "20260615T000000"),
        ("st2-no2", 30.0, "20260301T000000"),
        ("st2-no2", 5.0, "20250301T000000"),
    ] {
        ok(
            p.create(&format!("cse-in/air/{cnt}"), 4, reading(v, t), "Cair")
                .await,
        );
    }
    // con as a string holding JSON, as many devices send it
    for (v, t) in [(8.0, "20260110T000000"), (12.0, "20260710T000000")] {
        ok(p.create(
            "cse-in/air/st1-pm25",
            4,
            json!({"m2m:cin": {"con": json!({"v": v, "t": t}).to_string()}}),
            "Cair",
        )
        .await);
    }
    ok(p.create(
        "cse-in/grid",
        3,
        json!({"m2m:cnt": {"rn": "city-electricity", "lbl": ["energy/electricity"]}}),
        "Cgrid",
    )
    .await);
    for (v, t) in [(100.0, "20260201T000000"), (150.0, "20260801T000000")] {
        ok(
            p.create("cse-in/grid/city-electricity", 4, reading(v, t), "Cgrid")
                .await,
        );
    }
    for (i, dty) in ["smart-water-meter", "smart-water-meter", "water-meter"]
        .iter()
        .enumerate()
    {
        let node = format!("meter{i}");
        ok(p.create(
            "cse-in",
            14,
            json!({"m2m:nod": {"rn": node, "ni": node}}),
            "CAdmin",
        )
        .await);
        ok(p.create(
            &format!("cse-in/{node}"),
            13,
            json!({"m2m:dvi": {"mgd": 1007, "rn": "info", "dlb": "meter", "man": "Acme",
                "mod": "W1", "dty": dty}}),
            "CAdmin",
        )
        .await);
    }
}

const BINDINGS: &str = r#"
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

[[kpi]]
code = "EN: EN: AQ: 1C"
part = "NO2"
value = "no2"

[[kpi]]
code = "EN: EN: AQ: 1C"
part = "PM2.5"
value = "pm25"

[[kpi]]
code = "EC: ICT: WS: 1C"
ratio = ["smart_water_meters", "water_meters"]

[[kpi]]
code = "EN: E: E: 2C"
per_capita = ["electricity", "population"]

[[kpi]]
code = "EC: ICT: ES: 1C"
ratio = ["smart_electricity_meters", "electricity_meters"]
"#;

const STATS: &str = "kpi,year,value,unit,source
population,2026,50000,inhabitants,Census 2026
SC: SH: SI: 3C,2026,7.5,%,Statistics office
EN: EN: WS: 4C/primary,2026,90,%,Utility annual report
EN: EN: WS: 4C/secondary,2026,95,%,Utility annual report
";

fn find<'a>(r: &'a [KpiResult], code: &str, part: Option<&str>, year: i32) -> &'a KpiResult {
    r.iter()
        .find(|x| x.code == code && x.part.as_deref() == part && x.year == year)
        .unwrap_or_else(|| panic!("no result for {code} {part:?} {year}"))
}

fn close(v: Option<f64>, want: f64) -> bool {
    v.is_some_and(|v| (v - want).abs() < 1e-9 * want.abs().max(1.0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kpis_from_a_running_cse() {
    let base = start(2).await;
    let p = Platform::new(&base, "cse-in", "CAdmin").expect("client");
    city(&p).await;
    let cat = Catalogue::embedded();
    let bindings = Bindings::parse(BINDINGS, cat).expect("bindings");
    let stats = Statistics::parse(STATS, cat).expect("statistics");
    let report = build_report(&p, cat, &bindings, &stats, 2026)
        .await
        .expect("report");
    let r = &report.results;

    // (10 + 20 + 30) / 3 = 20 ppb NO2 = 38 ug/m3; 2025: 5 ppb = 9.5 ug/m3
    assert!(close(
        find(r, "EN: EN: AQ: 1C", Some("NO2"), 2026).value,
        38.0
    ));
    assert!(close(
        find(r, "EN: EN: AQ: 1C", Some("NO2"), 2025).value,
        9.5
    ));
    assert!(close(
        find(r, "EN: EN: AQ: 1C", Some("PM2.5"), 2026).value,
        10.0
    ));
    // 2 of 3 water meters are smart
    assert!(close(
        find(r, "EC: ICT: WS: 1C", None, 2026).value,
        200.0 / 3.0
    ));
    // 250 MWh = 250 000 kWh over 50 000 inhabitants
    assert!(close(find(r, "EN: E: E: 2C", None, 2026).value, 5.0));
    assert!(close(find(r, "SC: SH: SI: 3C", None, 2026).value, 7.5));

    let na = find(r, "EC: ICT: ES: 1C", None, 2026);
    assert_eq!(na.status, Status::NotAvailable);
    assert_eq!(na.value, None);
    assert_eq!(
        na.reason.as_deref(),
        Some("no statistic smart_electricity_meters for 2026")
    );
    let gini = find(r, "SC: SH: SI: 2C", None, 2026);
    assert!(gini
        .reason
        .as_deref()
        .is_some_and(|m| m.starts_with("no binding and no statistic")));
    // secondary above primary treatment fails the VM22 check
    assert_eq!(
        find(r, "EN: EN: WS: 4C", Some("secondary"), 2026).status,
        Status::Flagged
    );

    assert_eq!(report.coverage.all.reported, 5);
    assert_eq!(report.coverage.all.total, 91);
    let page = report::html(&report, cat);
    for dim in ["Economy", "Environment", "Society and Culture"] {
        assert!(page.contains(&format!("<h2>{dim}</h2>")), "{dim}");
    }
    assert!(page.contains("<svg"));
    assert!(page.contains("class=\"trend\""), "NO2 has two years");
    assert!(page.contains("5 of 91 KPIs reported"));
    let core = report.coverage.core;
    assert!(page.contains(&format!("core {} of 54", core.reported)));
    let csv = report.csv(cat).expect("csv");
    assert_eq!(csv.lines().count(), 1 + r.len());

    // the results as oneM2M resources
    let created = publish::publish(&p, cat, &report).await.expect("publish");
    assert!(created >= 91);
    let found = p.discover("kpi/EN-EN-AQ-1C", 3).await.expect("discover");
    assert_eq!(found, vec!["cse-in/urbis-kpi/EN-EN-AQ-1C".to_owned()]);
    let la = p
        .send(
            reqwest::Method::GET,
            "cse-in/urbis-kpi/EN-EN-AQ-1C/la",
            "",
            None,
            None,
        )
        .await
        .expect("la");
    let cnt = p
        .send(
            reqwest::Method::GET,
            "cse-in/urbis-kpi/EN-EN-AQ-1C",
            "",
            None,
            None,
        )
        .await
        .expect("container");
    assert_eq!(
        cnt.body.pointer("/m2m:cnt/mni"),
        Some(&json!(publish::MAX_INSTANCES))
    );
    let con = la
        .body
        .pointer("/m2m:cin/con")
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(con["year"], 2026);
    assert_eq!(con["parts"]["NO2"]["status"], "reported");
    assert!(close(con["parts"]["NO2"]["value"].as_f64(), 38.0));
    let years = p
        .children(
            "cse-in/urbis-kpi/EN-EN-AQ-1C",
            4,
            "m2m:cin",
            Some("year/2025"),
        )
        .await
        .expect("2025 instance");
    assert_eq!(years.len(), 1);
    // publishing again appends instances and keeps the containers
    publish::publish(&p, cat, &report)
        .await
        .expect("publish again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_label_names_the_binding() {
    let base = start(10_000).await;
    let p = Platform::new(&base, "cse-in", "CAdmin").expect("client");
    let cat = Catalogue::embedded();
    let bindings = Bindings::parse(
        "[inputs.noise]\nmean = \"noise/lden\"\n[[kpi]]\ncode = \"EN: EN: EQ: 2A\"\nvalue = \"noise\"\n",
        cat,
    )
    .expect("bindings");
    let err = build_report(&p, cat, &bindings, &Statistics::default(), 2026)
        .await
        .expect_err("an error");
    assert_eq!(
        err.to_string(),
        "binding \"inputs.noise\": no container labelled \"noise/lden\" on the platform"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_city_fills_the_report() {
    let base = start(10_000).await;
    let p = Arc::new(Platform::new(&base, "cse-in", "CAdmin").expect("client"));
    let city = simulate::city(p.clone(), 2026).await.expect("simulate");
    assert_eq!(city.devices, 349);
    // 5 pollutants x 3 stations, electricity, 8 travel-time probes: daily; 16
    // meters weekly (53 + the year's last day); 30 outages a year; 2 years
    assert_eq!(
        city.readings,
        (15 + 1 + 8) * (365 + 365) + 16 * 54 * 2 + 30 * 2
    );
    let again = simulate::city(p.clone(), 2026)
        .await
        .expect("simulate again");
    assert_eq!((again.devices, again.readings), (0, 0));

    let cat = Catalogue::embedded();
    let bindings = Bindings::parse(simulate::BINDINGS, cat).expect("bindings");
    let stats = Statistics::parse(&simulate::statistics(2026), cat).expect("statistics");
    let report = build_report(&*p, cat, &bindings, &stats, 2026)
        .await
        .expect("report");
    assert_eq!(report.coverage.all.reported, 23);
    // every KPI the catalogue marks computable from sensor data is filled
    // from the platform's readings, never from a statistic alone
    let sensor: Vec<_> = cat
        .kpis
        .iter()
        .filter(|k| k.iot_computable == "yes-sensor")
        .collect();
    assert_eq!(sensor.len(), 9);
    for kpi in sensor {
        let of_year: Vec<_> = report
            .results
            .iter()
            .filter(|x| x.code == kpi.code && x.year == 2026)
            .collect();
        assert!(!of_year.is_empty(), "{}", kpi.code);
        for x in of_year {
            assert_eq!(x.status, Status::Reported, "{} {:?}", kpi.code, x.reason);
            assert!(
                x.sources.iter().any(|s| s.starts_with("platform: ")),
                "{}: {:?}",
                kpi.code,
                x.sources
            );
        }
    }
    let r = &report.results;
    // 42 of 50 water meters, 47 of 50 electricity meters are smart
    assert!(close(find(r, "EC: ICT: WS: 1C", None, 2026).value, 84.0));
    assert!(close(find(r, "EC: ICT: ES: 1C", None, 2026).value, 94.0));
    // two years of air quality and electricity
    for (code, part) in [("EN: EN: AQ: 1C", Some("NO2")), ("EN: E: E: 2C", None)] {
        let years: Vec<i32> = r
            .iter()
            .filter(|x| x.code == code && x.part.as_deref() == part && x.value.is_some())
            .map(|x| x.year)
            .collect();
        assert_eq!(years, vec![2025, 2026], "{code}");
    }
    assert!(r
        .iter()
        .filter(|x| x.year == 2026)
        .all(|x| x.status != Status::Flagged));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_path_gives_the_numbers_of_the_http_path() {
    let (base, store) = start_with_store(10_000).await;
    let p = Arc::new(Platform::new(&base, "cse-in", "CAdmin").expect("client"));
    simulate::city(p.clone(), 2026).await.expect("simulate");
    let cat = Catalogue::embedded();
    let bindings = Bindings::parse(simulate::BINDINGS, cat).expect("bindings");
    // the statistics entered through the API this time, not given as a file
    let stats = Statistics::parse(&simulate::statistics(2026), cat).expect("statistics");
    let stored = publish::import_statistics(&p, cat, &stats)
        .await
        .expect("import");
    assert!(
        stored.starts_with("cse-in/urbis-kpi/statistics/"),
        "{stored}"
    );
    let none = Statistics::default();
    let over_http = build_report(&*p, cat, &bindings, &none, 2026)
        .await
        .expect("report over HTTP");
    let local = StoreSource::new(store, "cse-in");
    let from_store = build_report(&local, cat, &bindings, &none, 2026)
        .await
        .expect("report from the store");
    assert_eq!(over_http.results.len(), from_store.results.len());
    assert_eq!(from_store.coverage.all.reported, 23);
    for (a, b) in over_http.results.iter().zip(&from_store.results) {
        let what = format!("{} {:?} {}", a.code, a.part, a.year);
        assert_eq!(
            (&a.code, &a.part, a.year, a.status),
            (&b.code, &b.part, b.year, b.status),
            "{what}"
        );
        match (a.value, b.value) {
            (Some(x), Some(y)) => assert!(close(Some(y), x), "{what}: {x} vs {y}"),
            (x, y) => assert_eq!(x, y, "{what}"),
        }
        assert_eq!(a.sources, b.sources, "{what}");
    }
    let poverty = find(&from_store.results, "SC: SH: SI: 3C", None, 2026);
    assert!(close(poverty.value, 8.4));
    assert!(poverty.sources[0].starts_with(&format!("statistics {stored} row ")));

    // a row entered by hand that is not a number stops the report, naming it
    p.create(
        "cse-in/urbis-kpi/statistics",
        4,
        json!({"m2m:cin": {"rn": "typo", "con": [{"kpi": "population", "year": 2026,
            "value": "52.000,5", "unit": "inhabitants", "source": "by hand"}]}}),
        publish::AE_ORIGINATOR,
    )
    .await
    .expect("a bad row is just content to the CSE");
    for err in [
        build_report(&*p, cat, &bindings, &none, 2026).await.err(),
        build_report(&local, cat, &bindings, &none, 2026)
            .await
            .err(),
    ] {
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some("statistics cse-in/urbis-kpi/statistics/typo row 1: value \"52.000,5\" is not a number")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_urbis_serves_the_report() {
    let cat = Catalogue::embedded();
    let bindings = Bindings::parse(simulate::BINDINGS, cat).expect("bindings");
    let (base, _store) = common::start_serving(10_000, Some(bindings)).await;
    let p = Arc::new(Platform::new(&base, "cse-in", "CAdmin").expect("client"));
    simulate::city(p.clone(), 2026).await.expect("simulate");
    let stats = Statistics::parse(&simulate::statistics(2026), cat).expect("statistics");
    publish::import_statistics(&p, cat, &stats)
        .await
        .expect("import");
    let client = reqwest::Client::new();
    let get = |query: &'static str| {
        let client = client.clone();
        let url = format!("{base}/kpi/report?{query}");
        async move {
            let r = client.get(&url).send().await.expect("GET report");
            let status = r.status().as_u16();
            let ct = r
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            (status, ct, r.text().await.expect("body"))
        }
    };
    let (status, ct, page) = get("year=2026").await;
    assert_eq!((status, ct.as_str()), (200, "text/html; charset=utf-8"));
    assert!(
        page.contains("23 of 91 KPIs reported"),
        "{}",
        &page[..page.len().min(600)]
    );
    let (status, ct, json) = get("year=2026&format=json").await;
    assert_eq!((status, ct.as_str()), (200, "application/json"));
    let v: Value = serde_json::from_str(&json).expect("json");
    assert_eq!(v["coverage"]["all"]["reported"], 23);
    let (status, _, csv) = get("year=2026&format=csv").await;
    assert_eq!(status, 200);
    assert!(csv.starts_with("code,name,dimension"));
    assert_eq!(get("year=twenty").await.0, 400);
    assert_eq!(get("year=2026&format=pdf").await.0, 400);
    // the oneM2M API is still served next to it
    assert!(p.exists("cse-in/city-air").await.expect("retrieve"));
}
