//! The register's page in a real headless Chromium against a real command-center and
//! PostgreSQL: a county admin places a new site on the map and saves it, then imports a file
//! with errors and reads the report, row by row, in Chinese. Screenshots go to
//! `target/screenshots/register-*.png`.

mod common;

use std::time::Duration;

use common::PASSWORD;
use geohazard_command_center::Role;
use geohazard_testkit::browser::{Locator, browser};
use geohazard_testkit::fixtures::COUNTY;
use serde_json::json;

#[tokio::test]
async fn an_admin_places_a_site_on_the_map_then_reads_an_import_report_row_by_row() {
    let env = common::start(|_| {}).await;
    env.add_neighbour().await;
    env.officer("gao-admin", COUNTY, Role::Admin).await;
    let b = browser().await;
    b.sign_in(&env.api.console_url(), "gao-admin", PASSWORD)
        .await;
    b.click("#tab-register").await;
    b.until(
        "the register page",
        Duration::from_secs(10),
        "return document.getElementById('register-map') && document.querySelector('#register-map .leaflet-container, #register-map.leaflet-container')",
    )
    .await;

    // A new site: its place clicked on the map fills in longitude and latitude.
    for (id, text) in [
        ("register-code", "GX-NEW-1"),
        ("register-name", "石门坎滑坡"),
    ] {
        b.client
            .find(Locator::Id(id))
            .await
            .unwrap()
            .send_keys(text)
            .await
            .unwrap();
    }
    b.click("#register-map").await;
    let lon = b
        .until(
            "a longitude from the map",
            Duration::from_secs(5),
            "return document.getElementById('register-lon').value",
        )
        .await;
    let lon: f64 = lon.as_str().unwrap().parse().unwrap();
    b.click("#register-create").await;
    b.until(
        "the new site in the register's list",
        Duration::from_secs(10),
        "return document.querySelector('#register-sites tr[data-code=\"GX-NEW-1\"]')",
    )
    .await;
    b.screenshot("register-site-created").await;
    let stored: (String, f64, f64, String) = sqlx::query_as(
        "SELECT name, longitude, latitude, division_code FROM hazard_sites WHERE code = 'GX-NEW-1'",
    )
    .fetch_one(&env.store.pool)
    .await
    .unwrap();
    assert_eq!(stored.0, "石门坎滑坡");
    assert!((stored.1 - lon).abs() < 1e-6, "{stored:?} vs {lon}");
    assert!((stored.1 - 104.6).abs() < 1.0 && (stored.2 - 28.8).abs() < 1.0);
    assert_eq!(stored.3, COUNTY);

    // A file with three bad rows: the report names each by row and column, in Chinese.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("高县台账.csv");
    std::fs::write(
        &path,
        format!(
            "统一编号,名称,灾害类型,行政区划代码,经度,纬度,威胁人数\n\
             GX-2,好的一行,滑坡,{COUNTY},104.5,28.5,3\n\
             GX-3,纬度错误,滑坡,{COUNTY},104.5,95,3\n\
             GX-4,,崩塌,{COUNTY},104°30'00\"E,28.5,3\n\
             GX-5,度分秒错误,泥石流,{COUNTY},104°75'00\"E,28.5,3\n"
        ),
    )
    .unwrap();
    b.client
        .find(Locator::Id("register-file"))
        .await
        .unwrap()
        .send_keys(path.to_str().unwrap())
        .await
        .unwrap();
    b.click("#register-import").await;
    b.until(
        "the import report",
        Duration::from_secs(10),
        "return document.querySelectorAll('#register-problems tr[data-row]').length === 3",
    )
    .await;
    let rows = b
        .js("return [...document.querySelectorAll('#register-problems tr[data-row]')].map((tr) => [...tr.cells].map((c) => c.textContent))")
        .await;
    assert_eq!(
        rows,
        json!([
            ["3", "纬度", "95", "数值超出范围"],
            ["4", "名称", "", "必填项为空"],
            [
                "5",
                "经度",
                "104°75'00\"E",
                "坐标无法识别（十进制度或度分秒）"
            ]
        ])
    );
    let headline = b
        .js("return document.getElementById('register-refused').textContent")
        .await;
    assert_eq!(headline, "文件有 3 行错误，未导入任何数据");
    b.screenshot("register-import-report").await;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM hazard_sites")
        .fetch_one(&env.store.pool)
        .await
        .unwrap();
    assert_eq!(count, 1, "nothing imported while any row is bad");
    b.close().await;
}
