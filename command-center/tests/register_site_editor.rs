//! The site editor and the divisions page in a real headless Chromium against a real
//! command-center and PostgreSQL, in Chinese: a county admin draws a site's threat zone on the
//! map vertex by vertex with the mouse, drags the site a little, saves, and attaches a photo;
//! then imports a GeoJSON file of townships with errors, reads the report feature by feature,
//! and imports the fixed file; adds and edits a site's sensor, each refused field named beside it.
//! Screenshots go to `target/screenshots/site-editor-*.png`, `site-sensors-*.png` and
//! `target/screenshots/divisions-*.png`.

mod common;

use std::time::Duration;

use common::{collection, feature, square};
use geohazard_testkit::browser::{Browser, Locator};
use geohazard_testkit::fixtures::COUNTY;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

/// A left click with the mouse at (x, y) of the viewport.
async fn mouse_click(b: &Browser, x: f64, y: f64) {
    for kind in ["mousePressed", "mouseReleased"] {
        b.cdp(
            "Input.dispatchMouseEvent",
            json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
        )
        .await;
    }
}

/// A drag with the left button from (x, y) by (dx, dy), in steps.
async fn mouse_drag(b: &Browser, x: f64, y: f64, dx: f64, dy: f64) {
    b.cdp(
        "Input.dispatchMouseEvent",
        json!({"type": "mousePressed", "x": x, "y": y, "button": "left", "clickCount": 1}),
    )
    .await;
    for i in 1..=10 {
        let f = i as f64 / 10.0;
        b.cdp(
            "Input.dispatchMouseEvent",
            json!({"type": "mouseMoved", "x": x + dx * f, "y": y + dy * f, "button": "left", "buttons": 1}),
        )
        .await;
    }
    b.cdp(
        "Input.dispatchMouseEvent",
        json!({"type": "mouseReleased", "x": x + dx, "y": y + dy, "button": "left", "clickCount": 1}),
    )
    .await;
}

#[tokio::test]
async fn an_admin_draws_a_threat_zone_drags_the_site_and_attaches_a_photo_on_the_map() {
    let env = common::with_gao_admin().await;
    let site = env.landslide("GX-MAP-1", COUNTY, 12).await;
    let b = env.console("gao-admin", "#tab-register").await;
    let open = "#register-sites tr[data-code=\"GX-MAP-1\"] .site-open";
    b.until(
        "the site's row",
        WAIT,
        &format!(
            "return document.querySelector('{}')",
            open.replace('\'', "\\'")
        ),
    )
    .await;
    b.click(open).await;
    b.until(
        "the editor's map",
        WAIT,
        "return document.querySelector('#site-edit-map.leaflet-container') && document.getElementById('zone-draw') && document.getElementById('attachments-none')",
    )
    .await;
    b.js("document.getElementById('site-edit-map').scrollIntoView({block: 'center'})")
        .await;
    assert_eq!(
        b.js("return document.getElementById('zone-state').textContent")
            .await,
        "未划定威胁范围"
    );

    // The zone: four vertices clicked around the site (the map's centre), then 完成.
    b.click("#zone-draw").await;
    let centre = b
        .js("const r = document.getElementById('site-edit-map').getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]")
        .await;
    let (cx, cy) = (centre[0].as_f64().unwrap(), centre[1].as_f64().unwrap());
    for (dx, dy) in [(-90.0, -70.0), (100.0, -60.0), (110.0, 80.0), (-80.0, 90.0)] {
        mouse_click(&b, cx + dx, cy + dy).await;
    }
    b.until(
        "four vertices drawn",
        WAIT,
        "return document.getElementById('zone-state').textContent === '绘制中：已点 4 个顶点（至少 3 个）'",
    )
    .await;
    b.click("#zone-finish").await;
    assert_eq!(
        b.js("return document.getElementById('zone-state').textContent")
            .await,
        "威胁范围：4 个顶点"
    );
    // The site dragged 40 px east: its longitude follows.
    mouse_drag(&b, cx, cy, 40.0, 0.0).await;
    let lon: f64 = b
        .until(
            "the dragged longitude",
            WAIT,
            "const v = Number(document.getElementById('site-edit-lon').value); return v > 104.6001 ? v : null",
        )
        .await
        .as_f64()
        .unwrap();
    b.click("#site-edit-save").await;
    b.until(
        "the save confirmed",
        WAIT,
        "return document.getElementById('site-edit-msg').classList.contains('ok') && document.getElementById('site-edit-msg').textContent",
    )
    .await;
    let (zone, longitude, latitude): (Value, f64, f64) =
        sqlx::query_as("SELECT threat_zone, longitude, latitude FROM hazard_sites WHERE id = $1")
            .bind(site)
            .fetch_one(&env.store.pool)
            .await
            .unwrap();
    assert_eq!(zone["type"], "Polygon");
    let ring = zone["coordinates"][0].as_array().unwrap();
    assert_eq!(ring.len(), 5, "four vertices and the first again: {zone}");
    assert_eq!(ring[0], ring[4]);
    // Clicked around the site: west, east, north and south of it.
    let xs: Vec<f64> = ring.iter().map(|p| p[0].as_f64().unwrap()).collect();
    let ys: Vec<f64> = ring.iter().map(|p| p[1].as_f64().unwrap()).collect();
    assert!(
        xs.iter().any(|x| *x < 104.6) && xs.iter().any(|x| *x > 104.6),
        "{zone}"
    );
    assert!(
        ys.iter().any(|y| *y < 28.8) && ys.iter().any(|y| *y > 28.8),
        "{zone}"
    );
    assert!((longitude - lon).abs() < 1e-6, "{longitude} vs {lon}");
    assert!((latitude - 28.8).abs() < 1e-4, "{latitude}");
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'site.update'
         AND detail->'after'->'threat_zone' = $1 AND detail->'before'->'threat_zone' = 'null'",
    )
    .bind(&zone)
    .fetch_one(&env.store.pool)
    .await
    .unwrap();
    assert_eq!(audited, 1);

    // A photo of the slope (this very screen, a real PNG) attached.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("坡体全貌.png");
    std::fs::write(&path, b.client.screenshot().await.unwrap()).unwrap();
    b.client
        .find(Locator::Id("attachment-file"))
        .await
        .unwrap()
        .send_keys(path.to_str().unwrap())
        .await
        .unwrap();
    b.click("#attachment-upload").await;
    b.until(
        "the photo listed with its thumbnail",
        WAIT,
        "const img = document.querySelector('#attachments-list tr[data-attachment] img'); return img && img.complete && img.naturalWidth > 0",
    )
    .await;
    let row = b
        .js("return [...document.querySelector('#attachments-list tr[data-attachment]').cells].slice(0, 3).map((c) => c.textContent.trim())")
        .await;
    assert_eq!(row[0], "坡体全貌.png");
    assert_eq!(row[1], "照片");
    assert_eq!(
        b.js("return document.getElementById('attachment-msg').textContent")
            .await,
        "已上传：坡体全貌.png"
    );
    b.js("document.getElementById('site-editor').scrollIntoView()")
        .await;
    b.screenshot("site-editor-zone-and-photo").await;
    let stored: (String, String) =
        sqlx::query_as("SELECT filename, content_type FROM site_attachments WHERE site_id = $1")
            .bind(site)
            .fetch_one(&env.store.pool)
            .await
            .unwrap();
    assert_eq!(stored, ("坡体全貌.png".into(), "image/png".into()));

    // A text file named a photo is refused, by its content, in Chinese.
    let fake = dir.path().join("假照片.jpg");
    std::fs::write(&fake, "<html><script>alert(1)</script></html>").unwrap();
    b.client
        .find(Locator::Id("attachment-file"))
        .await
        .unwrap()
        .send_keys(fake.to_str().unwrap())
        .await
        .unwrap();
    b.click("#attachment-upload").await;
    let refusal = b
        .until(
            "the refusal",
            WAIT,
            "const m = document.getElementById('attachment-msg'); return m.classList.contains('error') && m.textContent",
        )
        .await;
    assert!(
        refusal.as_str().unwrap().contains("按内容识别"),
        "{refusal}"
    );
    b.close().await;
}

#[tokio::test]
async fn an_admin_reads_a_geojson_import_report_feature_by_feature_then_imports_the_fixed_file() {
    let env = common::with_gao_admin().await;
    let b = env.console("gao-admin", "#tab-divisions").await;
    b.until(
        "the divisions page",
        WAIT,
        "return document.querySelector('#divisions-map.leaflet-container') && document.getElementById('divisions-file')",
    )
    .await;
    let bad = collection(vec![
        feature(
            json!({"adcode": 511525101, "name": "庆符镇"}),
            square(104.4, 28.6, 0.1),
        ),
        feature(
            json!({"adcode": "5115251", "name": "沙河镇"}),
            square(104.5, 28.6, 0.1),
        ),
        feature(
            json!({"adcode": 511502001, "name": "邻县镇"}),
            square(104.6, 28.6, 0.1),
        ),
        feature(
            json!({"adcode": 511525103, "name": "文江镇"}),
            json!({"type": "Point", "coordinates": [104.5, 28.7]}),
        ),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("高县乡镇.geojson");
    std::fs::write(&path, bad.to_string()).unwrap();
    let choose = |path: std::path::PathBuf| {
        let b = &b;
        async move {
            b.client
                .find(Locator::Id("divisions-file"))
                .await
                .unwrap()
                .send_keys(path.to_str().unwrap())
                .await
                .unwrap();
        }
    };
    choose(path.clone()).await;
    b.click("#divisions-import").await;
    b.until(
        "the import report",
        WAIT,
        "return document.querySelectorAll('#divisions-problems tr[data-feature]').length === 3",
    )
    .await;
    let rows = b
        .js("return [...document.querySelectorAll('#divisions-problems tr[data-feature]')].map((tr) => [...tr.cells].map((c) => c.textContent))")
        .await;
    assert_eq!(
        rows,
        json!([
            [
                "2",
                "区划代码",
                "5115251",
                "行政区划代码格式错误（GB/T 2260：6 位数字，乡镇 9 位）"
            ],
            ["3", "区划代码", "511502001", "不在本级管辖范围内"],
            [
                "4",
                "边界",
                json!({"type": "Point", "coordinates": [104.5, 28.7]}).to_string(),
                "边界不是有效的多边形（Polygon 或 MultiPolygon，WGS 84）"
            ]
        ])
    );
    assert_eq!(
        b.js("return document.getElementById('divisions-refused').textContent")
            .await,
        "文件有 3 个要素有错误，未导入任何数据"
    );
    b.screenshot("divisions-import-report").await;

    let good = collection(vec![
        feature(
            json!({"adcode": 511525101, "name": "庆符镇"}),
            square(104.4, 28.6, 0.1),
        ),
        feature(
            json!({"adcode": 511525102, "name": "沙河镇"}),
            square(104.5, 28.6, 0.1),
        ),
    ]);
    let fixed = dir.path().join("高县乡镇-改.geojson");
    std::fs::write(&fixed, good.to_string()).unwrap();
    choose(fixed).await;
    b.click("#divisions-import").await;
    b.until(
        "the new townships listed",
        WAIT,
        "return document.querySelector('#divisions-list tr[data-code=\"511525102\"]') && document.getElementById('divisions-summary')",
    )
    .await;
    let level = b
        .js("return document.querySelector('#divisions-list tr[data-code=\"511525101\"]').cells[2].textContent")
        .await;
    assert_eq!(level, "乡镇级");
    b.screenshot("divisions-imported").await;
    b.close().await;
}

/// Sets the sensor form's `fields` (by name: `channel` is `#sensor-channel`) as typing would
/// (an `input` and a `change` event), saves the form and waits until `until` (a script)
/// answers, `what` naming it.
async fn save_sensor(b: &Browser, fields: &[(&str, &str)], what: &str, until: &str) {
    for (field, value) in fields {
        let id = format!("sensor-{field}");
        b.js(&format!(
            "const e = document.getElementById({id:?}); e.value = {value:?};
             e.dispatchEvent(new Event('input', {{bubbles: true}}));
             e.dispatchEvent(new Event('change', {{bubbles: true}})); return true"
        ))
        .await;
    }
    b.click("#sensor-save").await;
    b.until(what, WAIT, until).await;
}

/// The text shown beside each field of the sensor form, by field.
async fn field_errors(b: &Browser) -> Value {
    b.js("return Object.fromEntries([...document.querySelectorAll('#sensor-form .field-error')].filter((e) => e.textContent).map((e) => [e.id.replace('sensor-err-', ''), e.textContent]))")
        .await
}

#[tokio::test]
async fn an_admin_adds_and_edits_a_sites_sensor_in_the_editor_each_refused_field_named_beside_it_in_chinese()
 {
    let env = common::with_gao_admin().await;
    let site = env.landslide("GX-SEN-1", COUNTY, 12).await;
    geohazard_store::registry::upsert_gateway(
        &env.store.pool,
        "gw-sen",
        Some(site),
        "一号网关",
        None,
    )
    .await
    .unwrap();
    let b = env.console("gao-admin", "#tab-register").await;
    let open = "#register-sites tr[data-code=\"GX-SEN-1\"] .site-open";
    b.until(
        "the site's row",
        WAIT,
        &format!(
            "return document.querySelector('{}')",
            open.replace('\'', "\\'")
        ),
    )
    .await;
    b.click(open).await;
    b.until(
        "the sensor form",
        WAIT,
        "return document.getElementById('sensor-form') && document.getElementById('sensors-none')",
    )
    .await;
    assert_eq!(
        b.js("return document.getElementById('sensors-none').textContent")
            .await,
        "此隐患点暂无传感器"
    );

    // Everything wrong at once: no gateway, a point with a space, an interval of 0, latitude 95.
    save_sensor(
        &b,
        &[
            ("channel", "crack 1"),
            ("sampling_interval_s", "0"),
            ("longitude", "104.6"),
            ("latitude", "95"),
        ],
        "the refusals beside the fields",
        "return document.getElementById('sensor-err-latitude').textContent",
    )
    .await;
    assert_eq!(
        field_errors(&b).await,
        json!({
            "gateway_code": "必填项为空",
            "channel": "编号格式错误（1–64 位字母、数字或 _.-）",
            "sampling_interval_s": "数值超出范围",
            "latitude": "数值超出范围",
        })
    );
    assert_eq!(
        b.js("return document.getElementById('sensor-msg').textContent")
            .await,
        "未保存：请修改标红的字段"
    );
    b.js("document.getElementById('sensor-form').scrollIntoView({block: 'end'})")
        .await;
    // Chromium speaks Chinese too: the screenshot's file control reads 选择文件.
    assert_eq!(
        b.js("return navigator.languages").await,
        json!(["zh-CN", "zh"])
    );
    b.screenshot("site-sensors-refused").await;
    let none: i64 = sqlx::query_scalar("SELECT count(*) FROM sensors WHERE site_id = $1")
        .bind(site)
        .fetch_one(&env.store.pool)
        .await
        .unwrap();
    assert_eq!(none, 0);

    // Corrected: the sensor is added and listed.
    save_sensor(
        &b,
        &[
            ("gateway_code", "gw-sen"),
            ("channel", "crack-1"),
            ("sampling_interval_s", "600"),
            ("latitude", "28.8"),
            ("elevation_m", "512.5"),
        ],
        "the sensor listed",
        "return document.querySelector('#site-sensors-list tr[data-sensor]')",
    )
    .await;
    assert_eq!(
        b.js("return document.getElementById('sensor-msg').textContent")
            .await,
        "已新增传感器 gw-sen/crack-1"
    );
    let cells = b
        .js("return [...document.querySelector('#site-sensors-list tr[data-sensor]').cells].slice(0, 10).map((c) => c.textContent)")
        .await;
    assert_eq!(
        cells,
        json!([
            "裂缝计",
            "mm",
            "600",
            "gw-sen",
            "crack-1",
            "104.6",
            "28.8",
            "512.5",
            "",
            "启用"
        ])
    );

    // Edited: another kind, unit and interval; the same sensor changes, audited before and after.
    b.click("#site-sensors-list .sensor-edit").await;
    assert_eq!(
        b.js("return document.getElementById('sensor-form-title').textContent")
            .await,
        "编辑传感器 gw-sen/crack-1"
    );
    save_sensor(
        &b,
        &[
            ("kind", "mud_level"),
            ("unit", "m"),
            ("sampling_interval_s", "300"),
        ],
        "the edit saved",
        "return document.getElementById('sensor-msg').textContent === '已保存传感器 gw-sen/crack-1'",
    )
    .await;
    let (kind, unit, interval): (String, String, i32) =
        sqlx::query_as("SELECT kind, unit, sampling_interval_s FROM sensors WHERE site_id = $1")
            .bind(site)
            .fetch_one(&env.store.pool)
            .await
            .unwrap();
    assert_eq!(
        (kind.as_str(), unit.as_str(), interval),
        ("mud_level", "m", 300)
    );
    let audited: Vec<Value> = sqlx::query_scalar(
        "SELECT detail FROM audit_log WHERE action = 'sensor.register' ORDER BY id",
    )
    .fetch_all(&env.store.pool)
    .await
    .unwrap();
    assert_eq!(audited.len(), 2);
    assert_eq!(audited[1]["before"]["kind"], "crack_meter");
    assert_eq!(audited[1]["after"]["kind"], "mud_level");
    assert_eq!(
        b.js("return document.querySelector('#site-sensors-list tr[data-sensor]').cells[0].textContent")
            .await,
        "泥位"
    );
    b.js("document.getElementById('site-sensors').scrollIntoView()")
        .await;
    b.screenshot("site-sensors-edited").await;
    b.close().await;
}
