//! The HTML report of the simulated city, rendered by headless Chromium: the
//! screenshot must show the charts (coverage bars and trend lines), compared
//! with the same page rendered without its SVG charts.
//!
//! `.ci/run` installs Debian's `chromium`; without it this test says so
//! loudly and passes, so a developer machine without a browser can still run
//! the suite. `URBIS_TEST_SCREENSHOT_DIR` keeps the PNGs for a look.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use urbis_kpi::bindings::Bindings;
use urbis_kpi::platform::Platform;
use urbis_kpi::stats::Statistics;
use urbis_kpi::{build_report, report, simulate, Catalogue};

/// The coverage bars: "(all)" bars and sparklines in the dark blue, core and
/// advanced bars in the light blue (used nowhere else on the page).
const DARK_BLUE: [u8; 3] = [0x2a, 0x6f, 0x97];
const LIGHT_BLUE: [u8; 3] = [0x89, 0xc2, 0xd9];
const WIDTH: u32 = 1280;
const HEIGHT: u32 = 9000;

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::var_os("PATH")?
                .to_str()?
                .split(':')
                .map(|dir| Path::new(dir).join(name))
                .find(|p| p.is_file())
        })
}

fn screenshot(browser: &Path, html: &Path, png: &Path) {
    let profile = tempfile::tempdir().expect("profile dir");
    let output = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("--window-size={WIDTH},{HEIGHT}"))
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("run chromium");
    assert!(
        png.is_file(),
        "chromium wrote no screenshot: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Pixels within 6 per channel of each colour.
fn count_colours(png: &Path, colours: &[[u8; 3]]) -> Vec<usize> {
    let decoder = png::Decoder::new(std::fs::File::open(png).expect("open png"));
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("png frame");
    let channels = info.color_type.samples();
    assert!(
        channels >= 3,
        "unexpected colour type {:?}",
        info.color_type
    );
    assert_eq!(info.width, WIDTH);
    let mut counts = vec![0; colours.len()];
    for px in buf[..info.buffer_size()].chunks_exact(channels) {
        for (i, c) in colours.iter().enumerate() {
            if (0..3).all(|k| px[k].abs_diff(c[k]) <= 6) {
                counts[i] += 1;
            }
        }
    }
    counts
}

fn without_charts(page: &str) -> String {
    let mut out = String::with_capacity(page.len());
    let mut rest = page;
    while let Some(start) = rest.find("<svg") {
        out.push_str(&rest[..start]);
        match rest[start..].find("</svg>") {
            Some(end) => rest = &rest[start + end + "</svg>".len()..],
            None => rest = "",
        }
    }
    out.push_str(rest);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_renders_its_charts_in_chromium() {
    let Some(browser) = chromium() else {
        eprintln!(
            "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
             !!! WARNING: no chromium on PATH: the KPI report screenshot is NOT   !!!\n\
             !!! checked. .ci/run installs it (apt-get install chromium).        !!!\n\
             !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
        );
        return;
    };
    let (base, _store) = common::start_with_store(10_000).await;
    let p = Arc::new(Platform::new(&base, "cse-in", "CAdmin").expect("client"));
    simulate::city(p.clone(), 2026).await.expect("simulate");
    let cat = Catalogue::embedded();
    let bindings = Bindings::parse(simulate::BINDINGS, cat).expect("bindings");
    let stats = Statistics::parse(&simulate::statistics(2026), cat).expect("statistics");
    let report = build_report(&*p, cat, &bindings, &stats, 2026)
        .await
        .expect("report");
    let page = report::html(&report, cat);

    let kept = std::env::var_os("URBIS_TEST_SCREENSHOT_DIR").map(PathBuf::from);
    let dir = tempfile::tempdir().expect("temp dir");
    let out = kept.clone().unwrap_or_else(|| dir.path().to_owned());
    std::fs::create_dir_all(&out).expect("screenshot dir");
    let (full_html, bare_html) = (
        out.join("kpi-report.html"),
        out.join("kpi-report-bare.html"),
    );
    std::fs::write(&full_html, &page).expect("write report");
    std::fs::write(&bare_html, without_charts(&page)).expect("write bare report");
    let (full_png, bare_png) = (out.join("kpi-report.png"), out.join("kpi-report-bare.png"));
    screenshot(&browser, &full_html, &full_png);
    screenshot(&browser, &bare_html, &bare_png);

    let full = count_colours(&full_png, &[DARK_BLUE, LIGHT_BLUE]);
    let bare = count_colours(&bare_png, &[DARK_BLUE, LIGHT_BLUE]);
    eprintln!("chart pixels: with charts {full:?}, without {bare:?}");
    // 23 of 91 reported: the core and advanced bars of three dimensions cover
    // at least a few thousand pixels; nothing else is light blue
    assert_eq!(bare[1], 0, "light blue outside the charts");
    assert!(full[1] > 2_000, "coverage bars missing: {full:?}");
    // the "(all)" bars plus a trend line for each KPI with two years
    let trends = page.matches("class=\"trend\"").count();
    assert!(trends >= 15, "{trends} trend charts");
    assert!(
        full[0] > bare[0] + 2_000 + trends * 100,
        "dark chart pixels: {full:?} vs {bare:?} without charts ({trends} trends)"
    );
}
