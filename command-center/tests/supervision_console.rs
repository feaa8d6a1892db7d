//! The approval and supervision pages in a real headless Chromium against a real command-center
//! and PostgreSQL, read in Chinese on a PC set to another time zone: a city supervisor opens
//! their queue (two requests, one overdue), a request's full history, approves it from there,
//! then the supervision page of a past day with its chart, exceptions by name and the reports
//! with their download links. Screenshots go to `target/screenshots/approval-queue.png`,
//! `approval-history.png` and `supervision.png`.

mod common;

use std::time::Duration;

use chrono::Utc;
use common::PASSWORD;
use geohazard_command_center::Role;
use geohazard_reports::{Lines, Period, schedule};
use geohazard_store::ReadingRows;
use geohazard_testkit::browser::{Browser, Locator, browser};
use geohazard_testkit::fixtures::{self, CITY, COUNTY, PROVINCE};
use serde_json::{Value, json};

/// Reads the page `view` as a person does: it holds every one of `wants`, and no English.
async fn reads_in_chinese(b: &Browser, view: &str, wants: &[&str]) {
    let text = b
        .js(&format!(
            "return document.getElementById('view-{view}').innerText"
        ))
        .await;
    let text = text.as_str().unwrap();
    for want in wants {
        assert!(text.contains(want), "{want} in {text}");
    }
    assert_eq!(
        b.js(&english_words(view)).await,
        json!([]),
        "English on {view}: {text}"
    );
}

/// The script listing the words of Latin letters shown on the page `view` other than codes the
/// data itself holds (gateway and site codes, file formats): English that leaked into Chinese.
fn english_words(view: &str) -> String {
    format!(
        "return [...document.getElementById('view-{view}').innerText.matchAll(/[A-Za-z]{{3,}}/g)]
           .map((m) => m[0]).filter((w) => !['site', 'XLSX', 'PDF', 'NEW'].includes(w))"
    )
}

#[tokio::test]
async fn a_city_supervisor_works_the_queue_reads_a_requests_history_and_the_supervision_page_in_chinese()
 {
    let env = common::start(|_| {}).await;
    env.add_neighbour().await;
    env.officer("gao", COUNTY, Role::DutyOfficer).await;
    env.officer("yibin", CITY, Role::Supervisor).await;
    env.officer("yibin2", CITY, Role::Supervisor).await;
    let pool = &env.store.pool;
    fixtures::register_gateway(&env.store, "GA", &["a1"]).await;
    // Chinese names, as a real register has them.
    let day = Period::day(Period::date_of(Utc::now()) - chrono::Duration::days(2));
    let long_ago = day.from - chrono::Duration::days(30);
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "UPDATE divisions SET name = CASE code WHEN '{PROVINCE}' THEN '四川省' WHEN '{CITY}' THEN '宜宾市'
                                              WHEN '{COUNTY}' THEN '高县' ELSE '翠屏区' END;
         UPDATE hazard_sites SET name = '庆岭滑坡', created_at = '{long_ago}';
         UPDATE sensors SET sampling_interval_s = 600, created_at = '{long_ago}';
         UPDATE gateways SET created_at = '{long_ago}';
         UPDATE officers SET display_name = CASE username WHEN 'gao' THEN '王建国' ELSE '李明' END;"
    )))
    .execute(pool)
    .await
    .unwrap();
    // GA reports every 10 minutes from 08:00 to the day's end.
    let sensor: i32 = sqlx::query_scalar("SELECT id FROM sensors")
        .fetch_one(pool)
        .await
        .unwrap();
    let mut rows = ReadingRows::with_capacity(100);
    let from = day.from + chrono::Duration::hours(8);
    for t in fixtures::every(from, day.to, chrono::Duration::minutes(10)) {
        rows.push(sensor, t, 1.0, 0);
    }
    fixtures::store_readings(&env.store, &rows).await;
    schedule::produce_due(pool, day.to + chrono::Duration::hours(6), &Lines::default())
        .await
        .unwrap();

    // Two requests from Gao: one returned for changes and filed again, one past its deadline.
    let gao = env.login("gao").await;
    let yibin2 = env.login("yibin2").await;
    let mut ids = vec![];
    for (code, name) in [("GX-NEW-1", "高县新村滑坡"), ("GX-NEW-2", "高县石门崩塌")] {
        let (status, filed) = env
            .api
            .post(
                &gao,
                "/approvals",
                json!({"kind": "site.register", "title": format!("新增隐患点 {name}"),
                       "form": {"code": code, "name": name, "kind": "landslide", "longitude": 104.61,
                                "latitude": 28.41, "threatened_people": 35, "threatened_property": 120.5},
                       "attachments": [{"name": "现场照片", "ref": "2026-001"}]}),
            )
            .await;
        assert_eq!(status, 201, "{filed}");
        ids.push(filed["id"].as_i64().unwrap());
    }
    let (status, body) = env
        .api
        .post(
            &yibin2,
            &format!("/approvals/{}/actions", ids[0]),
            json!({"action": "return", "step": 0, "comment": "请补充村组名称"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = env
        .api
        .post(
            &gao,
            &format!("/approvals/{}/actions", ids[0]),
            json!({"action": "resubmit", "comment": "已补充"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    sqlx::query(
        "UPDATE approval_instances SET step_due_at = now() - interval '2 hours' WHERE id = $1",
    )
    .bind(ids[1])
    .execute(pool)
    .await
    .unwrap();

    let b = browser().await;
    b.set_time_zone("Europe/London").await;
    b.sign_in(&env.api.console_url(), "yibin", PASSWORD).await;
    // The exception reports of the city's daily reports reach its supervisor as notices, which
    // they confirm (and the store says so).
    let told: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM notifications n JOIN officers o ON o.person_id = n.person_id
         WHERE o.username = 'yibin' AND n.report_id IS NOT NULL AND n.channel = 'app'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert!(
        told > 0,
        "the city's exception reports are told to its supervisor"
    );
    b.until(
        "the exception notices",
        Duration::from_secs(15),
        &format!("return document.querySelectorAll('#alerts .notice').length === {told}"),
    )
    .await;
    b.js("document.querySelectorAll('#alerts .notice button.confirm').forEach((b) => b.click()); return true")
        .await;
    geohazard_testkit::eventually(Duration::from_secs(10), "the notices confirmed", || async {
        let open: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM notifications n JOIN officers o ON o.person_id = n.person_id
             WHERE o.username = 'yibin' AND n.report_id IS NOT NULL AND n.confirmed_at IS NULL",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        (open == 0).then_some(())
    })
    .await;

    // The queue: two to act on, one of them overdue.
    b.click("#tab-approvals").await;
    b.until(
        "the queue",
        Duration::from_secs(10),
        "return document.querySelectorAll('#approvals-list tr[data-approval]').length === 2",
    )
    .await;
    let counts = b
        .js("return ['to_act', 'overdue', 'returned', 'mine_pending'].map((k) => document.querySelector('#approvals-count-' + k + ' b').textContent)")
        .await;
    assert_eq!(counts, json!(["2", "1", "0", "0"]));
    // Times labelled with the agency's zone.
    reads_in_chinese(
        &b,
        "approvals",
        &["新增隐患点登记", "市级审核", "已逾期", "北京时间"],
    )
    .await;
    b.screenshot("approval-queue").await;

    // A request's whole history, then approved from its page.
    b.click(&format!("#approvals-list tr[data-approval=\"{}\"]", ids[0]))
        .await;
    b.until(
        "the request's history",
        Duration::from_secs(10),
        "return document.querySelectorAll('#approval-history li').length === 3",
    )
    .await;
    let history = b
        .js("return [...document.querySelectorAll('#approval-history li')].map((li) => li.dataset.action)")
        .await;
    assert_eq!(history, json!(["submit", "return", "resubmit"]));
    reads_in_chinese(
        &b,
        "approvals",
        &[
            "请补充村组名称",
            "退回修改",
            "重新提交",
            "王建国",
            "威胁人数",
            "滑坡",
            "现场照片",
        ],
    )
    .await;
    b.screenshot("approval-history").await;
    b.client
        .find(Locator::Id("approval-comment"))
        .await
        .unwrap()
        .send_keys("同意，报省级审批")
        .await
        .unwrap();
    b.click("#view-approvals button[data-act=approve]").await;
    b.until(
        "the approval in the history",
        Duration::from_secs(10),
        "return document.querySelectorAll('#approval-history li').length === 4",
    )
    .await;
    let (step, last): (i32, String) = sqlx::query_as(
        "SELECT i.step, e.comment FROM approval_instances i JOIN approval_events e ON e.instance_id = i.id
         WHERE i.id = $1 ORDER BY e.id DESC LIMIT 1",
    )
    .bind(ids[0])
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(
        (step, last.as_str()),
        (1, "同意，报省级审批"),
        "on to the province"
    );

    // The supervision page of the day: figures, chart, exceptions by name, reports to download.
    b.click("#tab-supervision").await;
    b.until(
        "the supervision page",
        Duration::from_secs(10),
        "return document.getElementById('sv-date')",
    )
    .await;
    b.js(&format!(
        "const d = document.getElementById('sv-date'); d.value = '{}'; d.dispatchEvent(new Event('change')); return true",
        day.label
    ))
    .await;
    b.until(
        "the day's figures and chart",
        Duration::from_secs(20),
        &format!(
            "return document.getElementById('sv-when')?.innerText.includes('{}') && document.querySelector('#sv-trend canvas') && document.getElementById('sv-trend').dataset.points === '7'",
            day.label
        ),
    )
    .await;
    let online = b
        .js("return document.querySelector('#sv-online b').textContent")
        .await;
    // GA delivered in 16 of the day's 24 hours.
    assert_eq!(online, json!("66.7%"));
    let exceptions: Value = b
        .js("return [...document.querySelectorAll('#sv-exceptions tr[data-kind]')].map((r) => r.dataset.kind + ' ' + r.dataset.name)")
        .await;
    let exceptions: Vec<&str> = exceptions
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(exceptions.contains(&"gateway_offline GA"), "{exceptions:?}");
    assert!(
        exceptions.contains(&"sensor_incomplete GA/a1"),
        "{exceptions:?}"
    );
    let links = b
        .js("return [...document.querySelectorAll('#sv-reports a[data-form]')].map((a) => a.getAttribute('href'))")
        .await;
    assert!(
        links
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().ends_with("/pdf")),
        "{links}"
    );
    reads_in_chinese(
        &b,
        "supervision",
        &[
            "设备在线率",
            "数据完整率",
            "发布 → 队伍到场",
            "网关离线",
            "值班日报",
            "北京时间",
        ],
    )
    .await;
    // The report downloads with the console's session.
    let status = b
        .js(
            "const a = document.querySelector('#sv-reports a[data-form=xlsx]');
             return fetch(a.href, {credentials: 'same-origin'}).then((r) => r.status)",
        )
        .await;
    assert_eq!(status, json!(200));
    b.screenshot("supervision").await;
    b.js("document.getElementById('sv-reports').scrollIntoView(); return true")
        .await;
    b.screenshot("supervision-reports").await;
    // And in English, every text from the catalogue (a missing one fails at close).
    b.click("header.top .lang").await;
    b.until(
        "the supervision page in English",
        Duration::from_secs(10),
        "const t = document.getElementById('view-supervision').innerText;
         return t.includes('Device online rate') && t.includes('Raised → team on site') && t.includes('Daily duty report')",
    )
    .await;
    b.close().await;
}
