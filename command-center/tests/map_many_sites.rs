//! The duty console's map with 10,009 sites (issue 23, item 19) in a real headless Chromium
//! against a real command-center and PostgreSQL: far out they are one cluster that reads
//! "10,009" in the colour of the worst warning, blinking for the unacknowledged red; a filter
//! leaves only its sites; a click on the cluster zooms in; close in, a site stands alone with its
//! name and a click on it opens it. Screenshots go to `target/screenshots/map-many-*.png`.

mod common;

use std::time::Duration;

use common::PASSWORD;
use futures::StreamExt;
use geohazard_command_center::Role;
use geohazard_protocol::warning::WarningLevel;
use geohazard_store::registry::{self, NewSite, SiteKind};
use geohazard_testkit::browser::{Locator, browser};
use geohazard_testkit::fixtures::{self, COUNTY};

/// Landslides on a 100 × 100 grid, 0.0005° apart, plus this many debris-flow gullies among them.
const GRID: usize = 100;
const GULLIES: usize = 9;

/// Registers `MS-0` … `MS-9999` (landslides "隐患点{i}") and `MS-D0` … `MS-D8` (debris flows
/// "泥石流沟{i}") in the county; returns the ids by code.
async fn seed(env: &common::Center) -> std::collections::HashMap<String, i64> {
    let sites: Vec<(String, String, SiteKind, f64, f64)> = (0..GRID * GRID)
        .map(|i| {
            (
                format!("MS-{i}"),
                format!("隐患点{i}"),
                SiteKind::Landslide,
                104.5 + (i % GRID) as f64 * 0.0005,
                28.4 + (i / GRID) as f64 * 0.0005,
            )
        })
        .chain((0..GULLIES).map(|i| {
            (
                format!("MS-D{i}"),
                format!("泥石流沟{i}"),
                SiteKind::DebrisFlow,
                104.52 + i as f64 * 0.00025,
                28.42 + 0.00025,
            )
        }))
        .collect();
    futures::stream::iter(sites)
        .map(|(code, name, kind, lon, lat)| async move {
            let id = registry::upsert_site(
                &env.store.pool,
                &NewSite {
                    code: &code,
                    name: &name,
                    kind,
                    division_code: COUNTY,
                    location: geo::Point::new(lon, lat),
                    threat_zone: None,
                    scale_class: None,
                    volume_m3: None,
                    threatened_people: 5,
                    threatened_property: 10.0,
                },
            )
            .await
            .expect("registering a site");
            (code, id)
        })
        .buffer_unordered(8)
        .collect()
        .await
}

/// Zooms out with the map's own button until a single cluster is left; returns its text.
const ZOOM_OUT_TO_ONE_CLUSTER: &str = "const c = document.querySelectorAll('#map .cluster');
    if (c.length === 1 && !document.querySelector('#map .site-marker')) return c[0].textContent;
    document.querySelector('.leaflet-control-zoom-out').click();
    return false";

/// The one cluster's count, classes and tooltip.
const THE_CLUSTER: &str = "const c = document.querySelector('#map .cluster');
    return [c.textContent, c.className, c.firstElementChild.title]";

fn set_filter(id: &str, value: &str) -> String {
    format!(
        "const s = document.getElementById('{id}'); s.value = '{value}'; s.dispatchEvent(new Event('change')); return true"
    )
}

#[tokio::test]
async fn ten_thousand_and_nine_sites_read_as_one_red_blinking_cluster_and_a_site_at_close_zoom_opens_on_a_click()
 {
    let env = common::start(|_| {}).await;
    fixtures::register_divisions(&env.store).await;
    env.officer("gao-duty", COUNTY, Role::DutyOfficer).await;
    let ids = seed(&env).await;
    assert_eq!(ids.len(), GRID * GRID + GULLIES);
    // An unacknowledged red in the middle of the grid and a yellow at its corner.
    env.raise_warning(ids["MS-5050"], WarningLevel::Red, 52.0)
        .await;
    env.raise_warning(ids["MS-0"], WarningLevel::Yellow, 12.0)
        .await;

    let b = browser().await;
    b.sign_in(&env.api.console_url(), "gao-duty", PASSWORD)
        .await;
    let count = b
        .until(
            "all the sites counted",
            Duration::from_secs(30),
            "const n = document.getElementById('site-count').textContent; return n.includes('10,009') && n",
        )
        .await;
    assert_eq!(count, "10,009 处隐患点");
    // Far out: one cluster with the whole count, in the worst level's colour, blinking.
    let text = b
        .until(
            "one cluster",
            Duration::from_secs(30),
            ZOOM_OUT_TO_ONE_CLUSTER,
        )
        .await;
    assert_eq!(text, "10,009");
    let cluster: Vec<String> = serde_json::from_value(b.js(THE_CLUSTER).await).unwrap();
    assert!(
        cluster[1].contains("lvl-red") && cluster[1].contains("blink"),
        "{cluster:?}"
    );
    assert_eq!(cluster[2], "10,009 个监测点");
    b.screenshot("map-many-cluster").await;

    // The kind filter: the nine gullies, and no blink (the red is on a landslide).
    b.js(&set_filter("f-kind", "debris_flow")).await;
    let gullies: Vec<String> = serde_json::from_value(
        b.until(
            "the gullies' cluster",
            Duration::from_secs(10),
            "const c = document.querySelectorAll('#map .cluster'); return c.length === 1 && c[0].textContent === '9' && [c[0].textContent, c[0].className]",
        )
        .await,
    )
    .unwrap();
    assert!(
        gullies[1].contains("lvl-none") && !gullies[1].contains("blink"),
        "{gullies:?}"
    );
    b.js(&set_filter("f-kind", "")).await;
    // The level filter: the red site alone, as a blinking red dot.
    b.js(&set_filter("f-level", "red")).await;
    let red = b
        .until(
            "the red site alone",
            Duration::from_secs(10),
            "const m = document.querySelectorAll('#map .site-marker'); return !document.querySelector('#map .cluster') && m.length === 1 && m[0].className + ' ' + m[0].querySelector('[data-site]').dataset.site",
        )
        .await;
    let red = red.as_str().unwrap();
    assert!(
        red.contains("lvl-red") && red.contains("blink") && red.ends_with("MS-5050"),
        "{red}"
    );
    b.js(&set_filter("f-level", "")).await;
    b.until(
        "the whole cluster again",
        Duration::from_secs(10),
        "const c = document.querySelectorAll('#map .cluster'); return c.length === 1 && c[0].textContent === '10,009'",
    )
    .await;

    // A click on the cluster zooms in: it opens into smaller ones.
    b.click("#map .cluster").await;
    let counts = b
        .until(
            "the cluster opened",
            Duration::from_secs(10),
            "const c = [...document.querySelectorAll('#map .cluster')]; return c.length > 1 && c.map(e => Number(e.textContent.replace(/,/g, '')))",
        )
        .await;
    let counts: Vec<u64> = serde_json::from_value(counts).unwrap();
    assert!(
        counts.iter().all(|&n| n > 0 && n < 10_009) && counts.iter().sum::<u64>() <= 10_009,
        "{counts:?}"
    );

    // Close in (found by its code), the red site stands alone with its name.
    b.client
        .find(Locator::Id("site-search"))
        .await
        .unwrap()
        .send_keys("MS-5050")
        .await
        .unwrap();
    b.click("#site-results button[data-code=\"MS-5050\"]").await;
    let label = b
        .until(
            "the red site's name on the map",
            Duration::from_secs(10),
            "const m = document.querySelector('#map.labels [data-site=\"MS-5050\"]'); const l = m && m.parentElement.querySelector('.site-label'); return l && l.getBoundingClientRect().width > 0 && [m.parentElement.className, l.textContent]",
        )
        .await;
    let label: Vec<String> = serde_json::from_value(label).unwrap();
    assert!(
        label[0].contains("lvl-red") && label[0].contains("blink"),
        "{label:?}"
    );
    assert_eq!(label[1], "隐患点5050");
    // Only the sites around the view are drawn, not ten thousand.
    let drawn = b
        .js("return document.querySelectorAll('#map .site-marker, #map .cluster').length")
        .await;
    assert!(drawn.as_u64().unwrap() < 1000, "{drawn} markers drawn");
    b.js("document.getElementById('panel-close').click(); return true")
        .await;
    // Its neighbour, clicked on the map, opens.
    b.click("#map [data-site=\"MS-5051\"]").await;
    b.until(
        "the neighbour's site panel",
        Duration::from_secs(10),
        "return document.getElementById('panel').hidden === false && document.getElementById('panel-body').innerText.includes('隐患点5051')",
    )
    .await;
    b.screenshot("map-many-close").await;
    b.close().await;
}
