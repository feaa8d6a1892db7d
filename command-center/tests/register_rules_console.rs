//! A sensor's rules in the register page, in a real headless Chromium against a real
//! command-center and PostgreSQL: a county admin reads where each parameter comes from, edits
//! a rule, backtests it over stored readings (the old and the new warnings side by side, by
//! level, at Beijing times), then saves it. In Chinese; screenshots go to
//! `target/screenshots/rules-*.png`.

mod common;

use std::time::Duration;

use chrono::{TimeZone, Utc};
use common::{PASSWORD, type_into};
use geohazard_testkit::browser::browser;

/// Types `text` into the field `id`, replacing what it held.
#[tokio::test]
async fn an_admin_edits_a_rule_with_its_backtest_old_and_new_warnings_side_by_side_in_chinese() {
    let env = common::with_gao_admin().await;
    // A day of mud level every 10 minutes from 08:00 Beijing time: two surges, of 1.3 m (from
    // 11:20) and 2.2 m (from 18:00), an hour each.
    let start = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
    let mut values = vec![0.2; 144];
    values[20..26].fill(1.3);
    values[60..66].fill(2.2);
    env.mud_gauge("GX-RULES", &values, start, 600).await;
    sqlx::query("UPDATE hazard_sites SET name = '石门坎泥石流沟'")
        .execute(&env.store.pool)
        .await
        .unwrap();

    let b = browser().await;
    // The PC in another zone than the agency's: the times typed and shown are Beijing time.
    b.set_time_zone("America/New_York").await;
    b.sign_in(&env.api.console_url(), "gao-admin", PASSWORD)
        .await;
    b.click("#tab-register").await;
    let from = b
        .until(
            "the yellow line and where it comes from",
            Duration::from_secs(10),
            "const td = document.querySelector('#rules-params tr[data-key=\"levels.yellow\"] td:last-child'); return td && td.textContent",
        )
        .await;
    assert_eq!(from.as_str(), Some("传感器类型规则"));

    // The yellow line raised to 1.4 m for this gauge, tried over that day first.
    type_into(&b, "rules-json", r#"{"levels": {"yellow": 1.4}}"#).await;
    type_into(&b, "rules-from", "2026-11-01 08:00").await;
    type_into(&b, "rules-to", "2026-11-02 08:00").await;
    b.click("#rules-backtest").await;
    b.until(
        "the backtest, old and new side by side",
        Duration::from_secs(20),
        "return document.querySelector('#rules-new tr[data-peak]')",
    )
    .await;
    let counts = |side: &str| {
        format!(
            "return [...document.querySelectorAll('#{side} .rules-counts [data-level]')].map(e => e.textContent.trim()).join(',')"
        )
    };
    assert_eq!(
        b.js(&counts("rules-old")).await.as_str(),
        Some("蓝色 0,黄色 1,橙色 0,红色 1")
    );
    assert_eq!(
        b.js(&counts("rules-new")).await.as_str(),
        Some("蓝色 1,黄色 0,橙色 0,红色 1")
    );
    // The first surge's warning: raised at its third reading (11:40 Beijing), closed at the
    // third reading back down (12:40), labelled with the zone.
    let first = b
        .js("return document.querySelector('#rules-old tr[data-peak]').textContent")
        .await;
    let first = first.as_str().unwrap();
    assert!(
        first.contains("黄色") && first.contains("11:40") && first.contains("12:40"),
        "{first}"
    );
    assert!(first.contains("北京时间"), "{first}");
    b.js("document.getElementById('rules-backtest-result').scrollIntoView()")
        .await;
    b.screenshot("rules-backtest").await;

    // Saved: the yellow line is now the sensor's own, and nothing else changed origin.
    b.click("#rules-save").await;
    b.until(
        "the yellow line from the sensor's rule",
        Duration::from_secs(10),
        "return document.querySelector('#rules-params tr[data-key=\"levels.yellow\"][data-from=\"sensor\"]')",
    )
    .await;
    let msg = b
        .js("return document.getElementById('rules-msg').textContent")
        .await;
    assert!(msg.as_str().unwrap().contains("已保存"), "{msg}");
    let red_from = b
        .js("return document.querySelector('#rules-params tr[data-key=\"levels.red\"]').dataset.from")
        .await;
    assert_eq!(red_from.as_str(), Some("kind"));
    b.js("document.getElementById('register-rules').scrollIntoView()")
        .await;
    b.screenshot("rules-saved").await;
    let n: i64 =
        sqlx::query_scalar("SELECT count(*) FROM register_changes WHERE kind = 'rule.update'")
            .fetch_one(&env.store.pool)
            .await
            .unwrap();
    assert_eq!(n, 1);
    b.close().await;
}
