//! The register's page in a real headless Chromium against a real command-center and
//! PostgreSQL: a county admin places a new site on the map and saves it, then imports a file
//! with errors and reads the report, row by row, in Chinese. Screenshots go to
//! `target/screenshots/register-*.png`.

mod common;

use std::time::Duration;

use common::{PASSWORD, type_into};
use geohazard_command_center::Role;
use geohazard_testkit::browser::{Locator, browser};
use geohazard_testkit::fixtures::COUNTY;
use serde_json::json;

#[tokio::test]
async fn an_admin_places_a_site_on_the_map_then_reads_an_import_report_row_by_row() {
    let env = common::with_gao_admin().await;
    let b = env.console("gao-admin", "#tab-register").await;
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

/// Types `text` into the input `id`.
#[tokio::test]
async fn an_admin_issues_a_gateway_key_keeps_the_sites_people_and_roster_and_creates_an_officer_all_in_chinese()
 {
    let broker = geohazard_testkit::broker::Broker::start_as_shipped(&[], &[]).await;
    let env = common::start(|c| {
        c.gateway_keys.mosquitto_passwd = Some(broker.gateways_passwd().to_owned());
        c.gateway_keys.mosquitto_pid = broker.pid_file();
    })
    .await;
    env.add_neighbour().await;
    let site = geohazard_testkit::fixtures::register_site(&env.store, "GX-001").await;
    env.officer("gao-admin", COUNTY, Role::Admin).await;
    // The register as a county keeps it: names in Chinese.
    for sql in [
        "UPDATE divisions SET name = CASE code WHEN '510000' THEN '四川省' WHEN '511500' THEN '宜宾市'
             WHEN '511525' THEN '高县' WHEN '511502' THEN '翠屏区' ELSE name END",
        "UPDATE hazard_sites SET name = '石门坎滑坡'",
        "UPDATE officers SET display_name = '陈管理'",
        "UPDATE people SET name = '陈管理'",
    ] {
        sqlx::query(sql).execute(&env.store.pool).await.unwrap();
    }
    let b = browser().await;
    // The PC in another zone than the agency's: times typed are Beijing time all the same.
    b.set_time_zone("America/New_York").await;
    b.sign_in(&env.api.console_url(), "gao-admin", PASSWORD)
        .await;
    b.click("#tab-people").await;
    b.until(
        "the people page",
        Duration::from_secs(10),
        "return document.getElementById('gw-form')",
    )
    .await;

    // A gateway registered, then given a key: shown once, and the broker takes it at once.
    type_into(&b, "gw-code", "gw-shimen").await;
    type_into(&b, "gw-name", "石门坎一号网关").await;
    b.click("#gw-register").await;
    b.until(
        "the gateway in the list",
        Duration::from_secs(10),
        "return document.querySelector('#people-gateways tr[data-gateway=\"gw-shimen\"]')",
    )
    .await;
    b.click("#people-gateways tr[data-gateway=\"gw-shimen\"] .gw-issue")
        .await;
    let shown = b
        .until(
            "the key shown once",
            Duration::from_secs(10),
            "const el = document.getElementById('gw-key'); return el && el.textContent",
        )
        .await;
    let shown = shown.as_str().unwrap().to_owned();
    assert!(
        shown.contains("仅显示这一次") && shown.contains("密钥立即生效"),
        "{shown}"
    );
    let key = shown
        .split('：')
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap()
        .to_owned();
    assert_eq!(key.len(), 24, "{shown}");
    let accepted = std::process::Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &broker.port().to_string()])
        .args(["-u", "gw-shimen", "-P", &key, "-i", "gw-shimen"])
        .args(["-t", "gh/v1/gw/gw-shimen/status", "-m", "{}"])
        .status()
        .unwrap()
        .success();
    assert!(
        accepted,
        "the key shown works on the broker: {}",
        broker.log()
    );
    let state = b
        .js("return document.querySelector('#people-gateways tr[data-gateway=\"gw-shimen\"]').cells[3].textContent")
        .await;
    assert!(state.as_str().unwrap().starts_with("已签发"), "{state}");
    b.screenshot("people-gateway-key").await;

    // A person: a bad phone is refused by name, in Chinese; a good one is stored as digits.
    b.js("document.querySelector('.people-people').scrollIntoView(); return true")
        .await;
    type_into(&b, "person-name", "王监测").await;
    type_into(&b, "person-phone", "139-abc").await;
    b.click("#person-add").await;
    let refusal = b
        .until(
            "the refusal",
            Duration::from_secs(10),
            "const m = document.getElementById('person-msg'); return m.classList.contains('error') && m.textContent",
        )
        .await;
    assert_eq!(refusal, "联系电话: 电话号码格式错误");
    b.screenshot("people-bad-phone").await;
    type_into(&b, "person-phone", "139 0000 1111").await;
    b.click("#person-add").await;
    b.until(
        "the person in the list",
        Duration::from_secs(10),
        "return [...document.querySelectorAll('#people-people td')].some((td) => td.textContent === '13900001111')",
    )
    .await;
    let person: i64 = sqlx::query_scalar("SELECT id FROM people WHERE name = '王监测'")
        .fetch_one(&env.store.pool)
        .await
        .unwrap();

    // The site's monitor.
    b.js(&format!(
        "document.getElementById('site-person').value = '{person}';
         document.getElementById('site-role').value = 'monitor'; return true"
    ))
    .await;
    b.click("#site-add").await;
    b.until(
        "the monitor at the site",
        Duration::from_secs(10),
        "return document.querySelector('#people-site tr[data-site-person]')?.cells[0].textContent === '群测群防监测员'",
    )
    .await;
    let role: String = sqlx::query_scalar(
        "SELECT role FROM site_responsibles WHERE site_id = $1 AND person_id = $2",
    )
    .bind(site)
    .bind(person)
    .fetch_one(&env.store.pool)
    .await
    .unwrap();
    assert_eq!(role, "monitor");

    // On duty from 08:00 to 20:00 Beijing time, whatever the PC's zone.
    b.js(&format!(
        "document.getElementById('roster-person').value = '{person}';
         document.getElementById('roster-division').value = '{COUNTY}';
         return true"
    ))
    .await;
    type_into(&b, "roster-starts", "2026-12-08 08:00").await;
    type_into(&b, "roster-ends", "2026-12-08 20:00").await;
    b.click("#roster-add").await;
    b.until(
        "the roster entry",
        Duration::from_secs(10),
        "return document.querySelector('#people-roster tr[data-roster]')",
    )
    .await;
    let (starts, ends): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as("SELECT starts_at, ends_at FROM duty_roster WHERE person_id = $1")
            .bind(person)
            .fetch_one(&env.store.pool)
            .await
            .unwrap();
    assert_eq!(starts.to_rfc3339(), "2026-12-08T00:00:00+00:00");
    assert_eq!(ends.to_rfc3339(), "2026-12-08T12:00:00+00:00");
    b.js("document.querySelector('.people-roster').scrollIntoView(); return true")
        .await;
    b.screenshot("people-site-and-roster").await;

    // An officer account: the password shown once signs in.
    b.js("document.querySelector('.people-officers').scrollIntoView(); return true")
        .await;
    type_into(&b, "officer-username", "gao-duty9").await;
    type_into(&b, "officer-name", "张值班").await;
    b.js("document.getElementById('officer-role').value = 'duty_officer'; return true")
        .await;
    b.click("#officer-create").await;
    let shown = b
        .until(
            "the password shown once",
            Duration::from_secs(10),
            "const el = document.getElementById('officer-password'); return el && el.textContent",
        )
        .await;
    let password = shown
        .as_str()
        .unwrap()
        .rsplit('：')
        .next()
        .unwrap()
        .to_owned();
    env.api.token("gao-duty9", &password).await;
    b.js("document.querySelector('.people-officers').scrollIntoView(); return true")
        .await;
    b.screenshot("people-officers").await;

    // Every word on the page is Chinese: no raw key, no English.
    let text = b
        .js("return document.getElementById('view-people').innerText")
        .await;
    let text = text
        .as_str()
        .unwrap()
        .replace(&password, "")
        .replace(&key, "");
    let english: Vec<&str> = text
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| w.len() > 1)
        .filter(|w| !["gw", "shimen", "gao", "duty", "admin", "GX", "GMT", "UTC"].contains(w))
        .collect();
    assert!(
        english.is_empty(),
        "English on the page: {english:?}\n{text}"
    );

    // Revoked from the console: refused at once.
    b.js("window.confirm = () => true; document.querySelector('.people-gateways').scrollIntoView(); return true")
        .await;
    b.click("#people-gateways tr[data-gateway=\"gw-shimen\"] .gw-revoke")
        .await;
    b.until(
        "the key revoked",
        Duration::from_secs(10),
        "return document.querySelector('#people-gateways tr[data-gateway=\"gw-shimen\"]').cells[3].textContent.startsWith('已吊销')",
    )
    .await;
    let refused = !std::process::Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &broker.port().to_string()])
        .args(["-u", "gw-shimen", "-P", &key, "-i", "gw-shimen"])
        .args(["-t", "gh/v1/gw/gw-shimen/status", "-m", "{}"])
        .status()
        .unwrap()
        .success();
    assert!(refused, "the revoked key is refused");
    b.screenshot("people-gateway-revoked").await;
    b.close().await;
}
