//! The console's device-health page names every quarantine reason in both languages: one row of
//! each [`QuarantineReason`] goes in through the store, and the page is read in a real headless
//! Chromium in zh-CN and in English against the message catalogue.

mod common;

use std::time::Duration;

use geohazard_command_center::{NewOfficer, Role, add_officer};
use geohazard_domain::{QuarantineReason, message};
use geohazard_store::quarantine::{self, QuarantineRow};
use geohazard_testkit::browser::browser;
use geohazard_testkit::fixtures::{self, COUNTY};
use serde_json::{Value, json};

const GATEWAY: &str = "gw-health";
const PASSWORD: &str = "correct horse battery";

/// Reads the reason column of the quarantine table into `out`, as `{code: shown name}`.
const REASONS_SHOWN: &str = "const t = document.getElementById('health-quarantine');
    const out = {};
    if (t) for (const td of t.querySelectorAll('td[title]')) out[td.title] = td.textContent";

fn expected(lang: &str) -> Value {
    let names: serde_json::Map<String, Value> = QuarantineReason::ALL
        .iter()
        .map(|r| {
            let name = message(&format!("reason.{r}"), lang)
                .unwrap_or_else(|| panic!("the catalogue names {r} in {lang}"));
            (r.as_str().to_owned(), json!(name))
        })
        .collect();
    Value::Object(names)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quarantine_row_of_every_reason_shows_its_name_in_both_languages() {
    let w = geohazard_testkit::World::start(4).await;
    fixtures::register_gateway(&w.store, GATEWAY, &["crack-1"]).await;
    let rows: Vec<QuarantineRow> = QuarantineReason::ALL
        .iter()
        .map(|&r| {
            QuarantineRow::new(
                &format!("gh/v1/gw/{GATEWAY}/{r}"),
                Some(GATEWAY),
                r,
                format!("a {r} refusal"),
                None,
                r.as_str().as_bytes(),
            )
        })
        .collect();
    let mut conn = w.store.pool.acquire().await.unwrap();
    quarantine::insert(&mut conn, &rows).await.unwrap();
    drop(conn);
    add_officer(
        &w.store.pool,
        &NewOfficer {
            username: "gx-duty",
            display_name: Some("李值班"),
            division_code: COUNTY,
            role: Role::DutyOfficer,
            password: PASSWORD,
        },
    )
    .await
    .unwrap();
    let (server, _frames) = common::command_center(&w, |_| {}).await;

    let b = browser().await;
    b.sign_in(&format!("http://{}", server.addr), "gx-duty", PASSWORD)
        .await;
    b.click("#tab-health").await;
    let every = format!(
        "{REASONS_SHOWN}; return Object.keys(out).length === {} ? out : null",
        QuarantineReason::ALL.len()
    );
    let shown = b
        .until("a row of every reason", Duration::from_secs(10), &every)
        .await;
    assert_eq!(shown, expected("zh-CN"));
    b.screenshot("device-health-reasons-zh").await;

    b.click("#console .lang").await;
    let shown = b
        .until(
            "the reasons in English",
            Duration::from_secs(5),
            &format!(
                "{REASONS_SHOWN}; return out['invalid_topic'] === {} ? out : null",
                json!(message("reason.invalid_topic", "en").unwrap())
            ),
        )
        .await;
    assert_eq!(shown, expected("en"));
    b.screenshot("device-health-reasons-en").await;
    b.close().await;
}
