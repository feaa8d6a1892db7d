//! The lifecycle against a real database: levels go up and down with their events, an SMS
//! queued wakes the deliverer only after its transaction committed, an acknowledgement stops
//! referrals, overdue warnings go up the rosters, and a column the code does not know fails the
//! read instead of being guessed.

use geohazard_domain::{PersonId, WarningId};
use std::time::Duration;

use geohazard_protocol::warning::{
    Summary, WarningLevel, WarningSource, WarningState, WarningTransition,
};
use geohazard_store::Store;
use geohazard_testkit::TestDb;
use geohazard_testkit::fixtures::{self, COUNTY};
use geohazard_warnings::{ForecastResend, LevelChange, Lifecycle, WarningPolicy};
use serde_json::json;

fn change(site_id: i64, level: Option<WarningLevel>) -> LevelChange {
    LevelChange {
        site_id,
        source: "threshold:gw-01/p-1".parse().unwrap(),
        sensor_id: None,
        level,
        summary: Summary::new(format!("{level:?}"), format!("{level:?}")),
        evidence: geohazard_warnings::Evidence::threshold(
            0,
            7.4,
            "m",
            geohazard_warnings::rules::Thresholds::some(4.0, 5.0, 6.0, 7.0),
        ),
        reading_ts: None,
        failure_forecast: None,
    }
}

async fn world() -> (TestDb, Store, i64) {
    let db = TestDb::create().await;
    let store = Store::connect(&db.url, 4).await.unwrap();
    let site = fixtures::register_site(&store, "LS-001").await;
    (db, store, site)
}

async fn transitions(store: &Store) -> Vec<(String, Option<String>, Option<String>)> {
    sqlx::query_as("SELECT transition, from_level, to_level FROM warning_events ORDER BY id")
        .fetch_all(&store.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_warning_is_raised_escalated_de_escalated_and_closed_with_one_event_each() {
    let (_db, store, site) = world().await;
    let lc = Lifecycle::default();
    let raised = lc
        .apply(&store.pool, &change(site, Some(WarningLevel::Yellow)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(raised.transition, WarningTransition::Raised);
    assert_eq!(raised.source, "threshold:gw-01/p-1");
    // The same level again only refreshes the evidence.
    assert!(
        lc.apply(&store.pool, &change(site, Some(WarningLevel::Yellow)))
            .await
            .unwrap()
            .is_none()
    );
    let up = lc
        .apply(&store.pool, &change(site, Some(WarningLevel::Red)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (up.id, up.transition, up.level),
        (raised.id, WarningTransition::Escalated, WarningLevel::Red)
    );
    let down = lc
        .apply(&store.pool, &change(site, Some(WarningLevel::Orange)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(down.transition, WarningTransition::DeEscalated);
    let closed = lc
        .apply(&store.pool, &change(site, None))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (closed.transition, closed.state),
        (WarningTransition::Closed, WarningState::Closed)
    );
    let peak: String = sqlx::query_scalar("SELECT peak_level FROM warnings")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(peak, "red");
    let s = |x: &str| Some(x.to_owned());
    assert_eq!(
        transitions(&store).await,
        [
            ("raised".into(), None, s("yellow")),
            ("escalated".into(), s("yellow"), s("red")),
            ("de_escalated".into(), s("red"), s("orange")),
            ("closed".into(), None, None),
        ]
    );
}

#[tokio::test]
async fn queued_sms_wake_the_deliverer_and_an_acknowledgement_stops_the_referral() {
    let (_db, store, site) = world().await;
    let duty = fixtures::on_duty_now(&store, "Duty", "13800000002", COUNTY).await;
    let lc = Lifecycle::new(WarningPolicy {
        ack_deadlines: geohazard_domain::PerLevel {
            red: Some(3600.0),
            ..WarningPolicy::default().ack_deadlines
        },
        ..WarningPolicy::default()
    });
    let queued = lc.sms_queued();
    let w = lc
        .apply(&store.pool, &change(site, Some(WarningLevel::Red)))
        .await
        .unwrap()
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), queued.notified())
        .await
        .expect("the SMS queued for the duty officer wakes the deliverer");
    let sms: Vec<(i64, String)> =
        sqlx::query_as("SELECT person_id, reason FROM notifications WHERE channel = 'sms'")
            .fetch_all(&store.pool)
            .await
            .unwrap();
    assert_eq!(sms, [(duty, "red@0".to_owned())]);

    let mut conn = store.pool.acquire().await.unwrap();
    let ack = geohazard_warnings::acknowledge(
        &mut conn,
        WarningId(w.id),
        PersonId(duty),
        Some("on my way"),
    )
    .await
    .unwrap()
    .expect("an open warning can be acknowledged");
    assert_eq!(ack.state, WarningState::Acknowledged);
    assert!(
        geohazard_warnings::acknowledge(&mut conn, WarningId(w.id), PersonId(duty), None)
            .await
            .unwrap()
            .is_none(),
        "only once"
    );
    // Even with its deadline in the past, an acknowledged warning is not referred.
    sqlx::query("UPDATE warnings SET escalation_due_at = now() - interval '1 hour'")
        .execute(&store.pool)
        .await
        .unwrap();
    assert_eq!(lc.refer_overdue(&store.pool).await.unwrap(), []);
    let note: serde_json::Value =
        sqlx::query_scalar("SELECT evidence FROM warning_events WHERE transition = 'acknowledged'")
            .fetch_one(&store.pool)
            .await
            .unwrap();
    assert_eq!(note, json!({"note": "on my way"}));
}

#[tokio::test]
async fn an_overdue_warning_goes_to_the_city_then_the_province_and_then_stops() {
    let (_db, store, site) = world().await;
    let lc = Lifecycle::default();
    lc.apply(&store.pool, &change(site, Some(WarningLevel::Red)))
        .await
        .unwrap()
        .unwrap();
    let overdue = || async {
        sqlx::query("UPDATE warnings SET escalation_due_at = now() - interval '1 second'")
            .execute(&store.pool)
            .await
            .unwrap();
    };
    overdue().await;
    let first = lc.refer_overdue(&store.pool).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].transition, WarningTransition::Referred);
    assert_eq!(first[0].evidence["referred_to"], "city");
    overdue().await;
    let second = lc.refer_overdue(&store.pool).await.unwrap();
    assert_eq!(second[0].evidence["referred_to"], "province");
    let (step, due): (i32, Option<chrono::DateTime<chrono::Utc>>) =
        sqlx::query_as("SELECT escalation_step, escalation_due_at FROM warnings")
            .fetch_one(&store.pool)
            .await
            .unwrap();
    assert_eq!((step, due), (2, None), "nothing is due past the province");
    assert_eq!(lc.refer_overdue(&store.pool).await.unwrap(), []);
}

#[tokio::test]
async fn a_level_or_source_the_code_does_not_know_fails_the_read() {
    let (_db, store, site) = world().await;
    let lc = Lifecycle::default();
    let w = lc
        .apply(&store.pool, &change(site, Some(WarningLevel::Yellow)))
        .await
        .unwrap()
        .unwrap();
    let open = geohazard_warnings::open_levels(&store.pool).await.unwrap();
    let source: WarningSource = "threshold:gw-01/p-1".parse().unwrap();
    assert_eq!(open, [(site, source, WarningLevel::Yellow)]);

    // A row written by something else, with a source no rule names.
    sqlx::query(
        "INSERT INTO warnings (site_id, source, category, level, peak_level, state, summary, evidence)
         VALUES ($1, 'flood:gw-01/p-1', 'hazard', 'yellow', 'yellow', 'open', 'x', '{}')",
    )
    .bind(site)
    .execute(&store.pool)
    .await
    .unwrap();
    let e = geohazard_warnings::open_levels(&store.pool)
        .await
        .unwrap_err();
    assert!(matches!(e, sqlx::Error::Decode(_)), "{e}");

    // A level column no enum value matches is refused, not read as blue.
    sqlx::query("ALTER TABLE warnings DROP CONSTRAINT warnings_level_check")
        .execute(&store.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE warnings SET level = 'purple' WHERE id = $1")
        .bind(w.id)
        .execute(&store.pool)
        .await
        .unwrap();
    let e = lc
        .apply(&store.pool, &change(site, Some(WarningLevel::Red)))
        .await
        .unwrap_err();
    assert!(matches!(e, sqlx::Error::Decode(_)), "{e}");
}

/// A red trend warning's change carrying failure forecast `forecast_h` hours after the epoch,
/// read at `now_h`.
fn forecast_change(site_id: i64, now_h: f64, forecast_h: f64) -> LevelChange {
    let at = |h: f64| chrono::DateTime::from_timestamp_millis((h * 3_600_000.0) as i64);
    let f = at(forecast_h).unwrap();
    LevelChange {
        source: "trend:gw-01/crack-1".parse().unwrap(),
        summary: Summary::new(
            format!("failure forecast {f}"),
            format!("预测失稳时间 {}", f.format("%m-%d %H:%M")),
        ),
        reading_ts: at(now_h),
        failure_forecast: Some(f),
        ..change(site_id, Some(WarningLevel::Red))
    }
}

/// The same change at another level.
fn at_level(c: LevelChange, level: WarningLevel) -> LevelChange {
    LevelChange {
        level: Some(level),
        ..c
    }
}

async fn sms_bodies(store: &Store) -> Vec<(String, String)> {
    sqlx::query_as("SELECT reason, body FROM notifications WHERE channel = 'sms' ORDER BY id")
        .fetch_all(&store.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_red_sent_without_a_forecast_gets_the_first_one_by_sms_and_an_orange_waits_for_its_next_level()
 {
    let (_db, store, site) = world().await;
    fixtures::on_duty_now(&store, "Duty", "13800000004", COUNTY).await;
    let lc = Lifecycle::default();
    let rule = ForecastResend::default();
    let without = |level| {
        let c = LevelChange {
            summary: Summary::new(
                "failure time: no reliable forecast yet".to_owned(),
                "失稳时间：尚无可靠预测".to_owned(),
            ),
            failure_forecast: None,
            ..forecast_change(site, 1000.0, 1020.0)
        };
        at_level(c, level)
    };
    // Orange without a forecast, then its first forecast: stored, not sent (the red's SMS, or
    // the next level's, carries it).
    lc.apply(&store.pool, &without(WarningLevel::Orange))
        .await
        .unwrap()
        .unwrap();
    let orange_sms = sms_bodies(&store).await.len();
    lc.update_forecast(
        &store.pool,
        &at_level(forecast_change(site, 1001.0, 1030.0), WarningLevel::Orange),
        Some(rule),
    )
    .await
    .unwrap()
    .expect("the open warning takes the forecast");
    assert_eq!(sms_bodies(&store).await.len(), orange_sms);
    // Red with no forecast established: its SMS says so.
    lc.apply(&store.pool, &without(WarningLevel::Red))
        .await
        .unwrap()
        .unwrap();
    let sms = sms_bodies(&store).await;
    assert_eq!(sms.len(), orange_sms + 1, "{sms:?}");
    assert!(sms[orange_sms].1.contains("尚无可靠预测"), "{sms:?}");
    // The first forecast while red goes to the phone at once, saying it is the first.
    lc.update_forecast(
        &store.pool,
        &forecast_change(site, 1002.0, 1020.0),
        Some(rule),
    )
    .await
    .unwrap()
    .expect("the open warning takes the forecast");
    let sms = sms_bodies(&store).await;
    assert_eq!(sms.len(), orange_sms + 2, "{sms:?}");
    let first = &sms[orange_sms + 1];
    assert!(first.0.starts_with("forecast "), "{first:?}");
    assert!(
        first.1.contains("红色预警（已有失稳时间预测）")
            && first.1.contains("预测失稳时间 02-12 12:00"),
        "{}",
        first.1
    );
    // From then on the usual rule: a forecast about the same time sends nothing.
    lc.update_forecast(
        &store.pool,
        &forecast_change(site, 1003.0, 1021.0),
        Some(rule),
    )
    .await
    .unwrap();
    assert_eq!(sms_bodies(&store).await.len(), orange_sms + 2);
}

#[tokio::test]
async fn a_forecast_that_moves_materially_earlier_is_sent_again_by_sms_and_jitter_never_is() {
    let (_db, store, site) = world().await;
    fixtures::on_duty_now(&store, "Duty", "13800000003", COUNTY).await;
    let lc = Lifecycle::default();
    let rule = ForecastResend::default();
    // Red at hour 1000 with failure forecast at hour 1020: the SMS carries it.
    lc.apply(&store.pool, &forecast_change(site, 1000.0, 1020.0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sms_bodies(&store).await.len(), 1);
    // Forty updates over the next four hours, the forecast wandering ±2 h about hour 1020,
    // and one moving 6 h later: stored and published, never sent again.
    for i in 0..40 {
        let now = 1000.0 + i as f64 * 0.1;
        let jitter = ((i * 7) % 9) as f64 / 2.0 - 2.0;
        let w = lc
            .update_forecast(
                &store.pool,
                &forecast_change(site, now, 1020.0 + jitter),
                Some(rule),
            )
            .await
            .unwrap()
            .expect("the open warning takes the forecast");
        assert_eq!(w.transition, WarningTransition::ForecastUpdated);
    }
    lc.update_forecast(
        &store.pool,
        &forecast_change(site, 1004.0, 1026.0),
        Some(rule),
    )
    .await
    .unwrap();
    assert_eq!(
        sms_bodies(&store).await.len(),
        1,
        "jitter and a later forecast send nothing"
    );

    // At hour 1005 the forecast moves to hour 1011: 9 h earlier than the one sent, with 15 h
    // left by it (a quarter is 3.75 h): sent again, saying so.
    lc.update_forecast(
        &store.pool,
        &forecast_change(site, 1005.0, 1011.0),
        Some(rule),
    )
    .await
    .unwrap();
    let sms = sms_bodies(&store).await;
    assert_eq!(sms.len(), 2, "{sms:?}");
    assert!(sms[1].0.starts_with("forecast "), "{sms:?}");
    assert!(
        sms[1].1.contains("失稳预测时间提前") && sms[1].1.contains("预测失稳时间 02-12 03:00"),
        "{}",
        sms[1].1
    );
    // Now the phones hold hour 1011: jitter about it sends nothing, 2 h earlier with 5 h left
    // is under the 3 h floor.
    for (now, f) in [(1005.5, 1012.0), (1006.0, 1010.0), (1006.0, 1009.0)] {
        lc.update_forecast(&store.pool, &forecast_change(site, now, f), Some(rule))
            .await
            .unwrap();
    }
    assert_eq!(sms_bodies(&store).await.len(), 2);
    // Without the rule (the plain update), nothing is ever sent again.
    geohazard_warnings::update_forecast(&store.pool, &forecast_change(site, 1006.0, 1007.0))
        .await
        .unwrap();
    assert_eq!(sms_bodies(&store).await.len(), 2);
}

#[tokio::test]
async fn evidence_is_read_back_typed_and_a_shape_the_code_does_not_know_is_an_error_naming_the_warning()
 {
    let (_db, store, site) = world().await;
    let w = Lifecycle::default()
        .apply(&store.pool, &change(site, Some(WarningLevel::Yellow)))
        .await
        .unwrap()
        .unwrap();
    let scope = geohazard_domain::Scope::new(COUNTY.to_owned(), vec![COUNTY.to_owned()], false);
    let id = WarningId(w.id);
    let detail = geohazard_warnings::view::get(&store.pool, &scope, id)
        .await
        .unwrap()
        .expect("in scope");
    assert_eq!(detail.evidence, Some(change(site, None).evidence));

    // Evidence written by something else, in a shape no method has: the detail and the store's
    // message both refuse it, naming the warning, instead of passing it on.
    for forged in [
        json!({"forged": true}),
        json!({"method": "threshold", "value": "<img src=x onerror=alert(1)>"}),
        json!({"method": "no_such_method", "ts": 0}),
    ] {
        sqlx::query("UPDATE warnings SET evidence = $2 WHERE id = $1")
            .bind(w.id)
            .bind(&forged)
            .execute(&store.pool)
            .await
            .unwrap();
        let e = geohazard_warnings::view::get(&store.pool, &scope, id)
            .await
            .unwrap_err();
        assert!(matches!(e, sqlx::Error::Decode(_)), "{e}");
        assert!(e.to_string().contains(&format!("warning {}", w.id)), "{e}");
        let e = geohazard_warnings::as_stored(&store.pool, w.id)
            .await
            .unwrap_err();
        assert!(e.to_string().contains(&format!("warning {}", w.id)), "{e}");
    }
}
