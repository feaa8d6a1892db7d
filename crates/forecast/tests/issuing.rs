//! Issuing against a real database: a run drafts from the stored grids; the officer who ran or
//! adjusted a draft cannot approve it, another can; the release supersedes the day's earlier
//! one with a CAP `Update` referencing it, a cancellation is a CAP `Cancel` referencing both,
//! every alert validates against the CAP 1.2 schema, the people of the affected divisions and
//! sites are notified (SMS and app) and nobody else is; the scheduled run is made once however
//! many replicas tick.

use chrono::{NaiveDate, TimeZone, Utc};
use geo::{Geometry, Rect, coord};
use geohazard_domain::WarningLevel::{self, Blue, Red};
use geohazard_forecast::cap;
use geohazard_forecast::decide::{Refusal, State};
use geohazard_forecast::grid::GridSpec;
use geohazard_forecast::issue::{self, GridKind, IssueError, Publisher};
use geohazard_forecast::model::ModelParams;
use geohazard_store::Store;
use geohazard_store::registry::{self, DivisionLevel, NewDivision, NewSite, SiteKind};
use geohazard_testkit::TestDb;
use ndarray::Array2;

const PROVINCE: &str = "510000";
const CITY: &str = "511500";
const WEST: &str = "511525";
const EAST: &str = "511526";

fn spec() -> GridSpec {
    GridSpec {
        west: 104.0,
        south: 28.0,
        cell: 0.1,
        ncols: 10,
        nrows: 6,
    }
}

fn rect(w: f64, e: f64) -> Option<Geometry<f64>> {
    Some(Geometry::Polygon(
        Rect::new(coord! { x: w, y: 28.0 }, coord! { x: e, y: 28.6 }).to_polygon(),
    ))
}

async fn person(store: &Store, name: &str, phone: &str, division: &str) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO people (name, phone, division_code) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(name)
    .bind(phone)
    .bind(division)
    .fetch_one(&store.pool)
    .await
    .unwrap()
}

async fn officer(store: &Store, username: &str) -> i64 {
    let p = person(store, username, "13800000000", PROVINCE).await;
    sqlx::query_scalar(
        "INSERT INTO officers (username, division_code, role, person_id, password_hash)
         VALUES ($1, $2, 'duty_officer', $3, 'x') RETURNING id",
    )
    .bind(username)
    .bind(PROVINCE)
    .bind(p)
    .fetch_one(&store.pool)
    .await
    .unwrap()
}

struct World {
    _db: TestDb,
    store: Store,
    officers: [i64; 3],
    date: NaiveDate,
}

/// A province whose east county gets a storm on very susceptible ground; a site in the storm
/// with its monitor, a site in the quiet west with its own, the east county's duty officer on
/// the roster.
async fn world() -> World {
    let db = TestDb::create().await;
    let store = Store::connect(&db.url, 4).await.unwrap();
    for (code, name, level, parent, boundary) in [
        (PROVINCE, "四川省", DivisionLevel::Province, None, None),
        (
            CITY,
            "宜宾市",
            DivisionLevel::City,
            Some(PROVINCE),
            rect(104.0, 105.0),
        ),
        (
            WEST,
            "高县",
            DivisionLevel::County,
            Some(CITY),
            rect(104.0, 104.5),
        ),
        (
            EAST,
            "珙县",
            DivisionLevel::County,
            Some(CITY),
            rect(104.5, 105.0),
        ),
    ] {
        registry::upsert_division(
            &store.pool,
            &NewDivision {
                code,
                name,
                level,
                parent_code: parent,
                boundary,
            },
        )
        .await
        .unwrap();
    }
    for (code, division, lon) in [("LS-EAST", EAST, 104.85), ("LS-WEST", WEST, 104.15)] {
        let site = registry::upsert_site(
            &store.pool,
            &NewSite {
                code,
                name: "滑坡",
                kind: SiteKind::Landslide,
                division_code: division,
                location: geo::Point::new(lon, 28.35),
                threat_zone: None,
                scale_class: None,
                volume_m3: None,
                threatened_people: 10,
                threatened_property: 0.0,
            },
        )
        .await
        .unwrap();
        let monitor = person(&store, &format!("monitor {code}"), "13900000001", division).await;
        sqlx::query(
            "INSERT INTO site_responsibles (site_id, person_id, role) VALUES ($1, $2, 'monitor')",
        )
        .bind(site)
        .bind(monitor)
        .execute(&store.pool)
        .await
        .unwrap();
    }
    geohazard_testkit::fixtures::on_duty_now(&store, "east duty", "13900000002", EAST).await;
    geohazard_testkit::fixtures::on_duty_now(&store, "west duty", "13900000003", WEST).await;
    let date = NaiveDate::from_ymd_opt(2026, 7, 1).unwrap();
    let s = spec();
    let sus = Array2::from_shape_fn(s.shape(), |(_, c)| if c >= 5 { 4.0 } else { 1.0 });
    // The storm: 70 mm forecast over the east, 10 mm in the west; 30 mm fell yesterday everywhere.
    let forecast = Array2::from_shape_fn(s.shape(), |(_, c)| if c >= 5 { 70.0 } else { 10.0 });
    issue::store_grid(
        &store.pool,
        GridKind::Susceptibility,
        None,
        None,
        &s,
        &sus,
        "zoning.asc",
        None,
    )
    .await
    .unwrap();
    issue::store_grid(
        &store.pool,
        GridKind::Forecast,
        Some(date),
        Some(24),
        &s,
        &forecast,
        "rain.m4",
        None,
    )
    .await
    .unwrap();
    let yesterday = Array2::from_elem(s.shape(), 30.0);
    issue::store_grid(
        &store.pool,
        GridKind::Observed,
        Some(date.pred_opt().unwrap()),
        None,
        &s,
        &yesterday,
        "obs.csv",
        None,
    )
    .await
    .unwrap();
    let officers = [
        officer(&store, "duty1").await,
        officer(&store, "duty2").await,
        officer(&store, "chief").await,
    ];
    World {
        _db: db,
        store,
        officers,
        date,
    }
}

fn scope() -> Vec<String> {
    [PROVINCE, CITY, WEST, EAST].map(String::from).to_vec()
}

async fn alerts(store: &Store) -> Vec<(i64, String, String, String)> {
    sqlx::query_as(
        "SELECT warning_id, identifier, msg_type, xml FROM forecast_cap_alerts ORDER BY id",
    )
    .fetch_all(&store.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_draft_is_adjusted_approved_by_another_officer_released_updated_and_cancelled() {
    let w = world().await;
    let pool = &w.store.pool;
    let [duty1, duty2, chief] = w.officers;
    let params = ModelParams::default();
    let publisher = Publisher {
        sender: "dzzh@sc.example.cn".into(),
        sender_name: "四川省地质灾害气象风险预警中心".into(),
    };

    let id = issue::run(pool, PROVINCE, w.date, &params, Some(duty1))
        .await
        .unwrap();
    let draft = issue::get(pool, id, None).await.unwrap().unwrap();
    assert_eq!(draft.state, State::Draft);
    // East, class 4: 70 + 0.8·30 = 94 ≥ 90: red. West, class 1: 10 + 24 = 34 < 70: none.
    let level_at = |levels: &[i16], c: usize| levels[2 * 10 + c];
    assert_eq!(level_at(&draft.levels, 7), 3);
    assert_eq!(level_at(&draft.levels, 2), -1);
    let divisions: Vec<(&str, WarningLevel)> = draft
        .product
        .divisions
        .iter()
        .map(|d| (d.code.as_str(), d.level))
        .collect();
    assert_eq!(divisions, [(CITY, Red), (EAST, Red)]);
    let sites: Vec<&str> = draft
        .product
        .sites
        .iter()
        .map(|s| s.code.as_str())
        .collect();
    assert_eq!(sites, ["LS-EAST"]);
    // Nothing is published or notified for a draft.
    assert!(alerts(&w.store).await.is_empty());
    assert!(issue::released_now(pool).await.unwrap().is_empty());

    // The officer who ran it may not approve it.
    let mut tx = pool.begin().await.unwrap();
    let e = issue::approve(&mut tx, id, &scope(), duty1, "", &publisher)
        .await
        .unwrap_err();
    assert!(matches!(e, IssueError::Refused(Refusal::OwnDraft)), "{e:?}");
    drop(tx);
    // An adjustment needs a reason, and a division in the caller's scope.
    let mut tx = pool.begin().await.unwrap();
    let e = issue::adjust(&mut tx, id, &scope(), duty2, WEST, Some(Blue), "  ")
        .await
        .unwrap_err();
    assert!(
        matches!(&e, IssueError::Invalid(m) if m.starts_with("reason")),
        "{e:?}"
    );
    let e = issue::adjust(
        &mut tx,
        id,
        &[EAST.to_owned()],
        duty2,
        EAST,
        Some(Blue),
        "r",
    )
    .await
    .unwrap_err();
    assert!(
        matches!(e, IssueError::NotFound),
        "outside the scope it does not exist: {e:?}"
    );
    drop(tx);
    let mut tx = pool.begin().await.unwrap();
    let (before, after) = issue::adjust(
        &mut tx,
        id,
        &scope(),
        duty2,
        WEST,
        Some(Blue),
        "山区连续降雨，土体饱和",
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(level_at(&before.levels, 2), -1);
    assert_eq!(level_at(&after.levels, 2), 0);
    assert_eq!(
        after.model_levels, before.model_levels,
        "the model's levels are kept"
    );
    assert_eq!(after.prepared_by, [duty1, duty2]);
    assert_eq!(
        after
            .product
            .sites
            .iter()
            .map(|s| (s.code.as_str(), s.level))
            .collect::<Vec<_>>(),
        [("LS-EAST", Red), ("LS-WEST", Blue)]
    );
    let adj = issue::adjustments(pool, id).await.unwrap();
    assert_eq!(
        (adj.len(), adj[0].cells, adj[0].reason.as_str()),
        (1, 30, "山区连续降雨，土体饱和")
    );
    // Nor may the one who adjusted it.
    let mut tx = pool.begin().await.unwrap();
    let e = issue::approve(&mut tx, id, &scope(), duty2, "", &publisher)
        .await
        .unwrap_err();
    assert!(matches!(e, IssueError::Refused(Refusal::OwnDraft)), "{e:?}");
    drop(tx);

    let mut tx = pool.begin().await.unwrap();
    let released = issue::approve(&mut tx, id, &scope(), chief, "请加强巡查。", &publisher)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(released.warning.state, State::Released);
    assert_eq!(released.warning.approved_by, Some(chief));
    assert!(released.queued_sms);
    // Told: both counties' duty officers (east red, west blue: app only), both sites' monitors.
    let told: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT p.name, n.channel, n.reason FROM notifications n JOIN people p ON p.id = n.person_id
         WHERE n.forecast_warning_id = $1 ORDER BY p.name, n.channel",
    )
    .bind(id)
    .fetch_all(pool)
    .await
    .unwrap();
    let told: Vec<(&str, &str, &str)> = told
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect();
    assert_eq!(
        told,
        [
            ("east duty", "app", "red@division:511526"),
            ("east duty", "sms", "red@division:511526"),
            ("monitor LS-EAST", "app", "red@site:LS-EAST"),
            ("monitor LS-EAST", "sms", "red@site:LS-EAST"),
            ("monitor LS-WEST", "app", "blue@site:LS-WEST"),
            ("west duty", "app", "blue@division:511525"),
        ]
    );
    let body: String = sqlx::query_scalar(
        "SELECT body FROM notifications WHERE reason = 'red@site:LS-EAST' LIMIT 1",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert!(
        body.starts_with(
            "【四川省地质灾害气象风险预警中心】07月01日滑坡(LS-EAST)地质灾害气象风险红色预警"
        ),
        "{body}"
    );

    // A second run the same day, approved: an Update referencing the first alert.
    let id2 = issue::run(pool, PROVINCE, w.date, &params, Some(duty2))
        .await
        .unwrap();
    let mut tx = pool.begin().await.unwrap();
    let second = issue::approve(&mut tx, id2, &scope(), duty1, "", &publisher)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(second.superseded, Some(id));
    assert_eq!(
        issue::get(pool, id, None).await.unwrap().unwrap().state,
        State::Superseded
    );
    let now: Vec<i64> = issue::released_now(pool)
        .await
        .unwrap()
        .iter()
        .map(|w| w.id)
        .collect();
    assert!(
        now.is_empty() || now == [id2],
        "only the release in force: {now:?}"
    );

    // Cancelled: a Cancel referencing both alerts.
    let mut tx = pool.begin().await.unwrap();
    let e = issue::cancel(&mut tx, id, &scope(), chief, "误报", &publisher)
        .await
        .unwrap_err();
    assert!(
        matches!(e, IssueError::Refused(Refusal::NotReleased)),
        "{e:?}"
    );
    drop(tx);
    let mut tx = pool.begin().await.unwrap();
    issue::cancel(
        &mut tx,
        id2,
        &scope(),
        chief,
        "降雨减弱，解除预警",
        &publisher,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let feed = alerts(&w.store).await;
    let kinds: Vec<(i64, &str)> = feed.iter().map(|(w, _, k, _)| (*w, k.as_str())).collect();
    assert_eq!(kinds, [(id, "Alert"), (id2, "Update"), (id2, "Cancel")]);
    for (_, identifier, _, xml) in &feed {
        cap::check_with_xmllint(xml).unwrap_or_else(|e| panic!("{identifier}: {e}\n{xml}"));
    }
    let refs = |xml: &str| {
        xml.split("<references>")
            .nth(1)
            .map(|r| r.split("</references>").next().unwrap().to_owned())
    };
    let first = &feed[0].1;
    let update_refs = refs(&feed[1].3).unwrap();
    assert!(
        update_refs.starts_with(&format!("dzzh@sc.example.cn,{first},")),
        "{update_refs}"
    );
    let cancel_refs = refs(&feed[2].3).unwrap();
    // The Cancel names the original and its update, the original first.
    let (a, b) = (
        cancel_refs.find(first.as_str()),
        cancel_refs.find(feed[1].1.as_str()),
    );
    assert!(a.is_some() && b.is_some() && a < b, "{cancel_refs}");
    assert_eq!(refs(&feed[0].3), None);
    assert!(issue::released_now(pool).await.unwrap().is_empty());
    // The feed lists only what was released.
    assert_eq!(issue::cap_feed(pool, 3650).await.unwrap().len(), 3);
}

#[tokio::test]
async fn the_scheduled_run_is_made_once_however_many_replicas_tick() {
    let w = world().await;
    let params = ModelParams::default();
    // 06:00 CST: before the configured hour (7), nothing.
    let early = Utc.with_ymd_and_hms(2026, 6, 30, 22, 0, 0).unwrap();
    assert_eq!(
        issue::scheduled(&w.store.pool, PROVINCE, 7, early, &params)
            .await
            .unwrap(),
        None
    );
    let at = Utc.with_ymd_and_hms(2026, 6, 30, 23, 30, 0).unwrap();
    let ticks = (0..6).map(|_| issue::scheduled(&w.store.pool, PROVINCE, 7, at, &params));
    let made: Vec<i64> = futures_flatten(futures::future::join_all(ticks).await);
    assert_eq!(made.len(), 1, "{made:?}");
    let draft = issue::get(&w.store.pool, made[0], None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (draft.for_date, draft.trigger.as_str(), draft.state),
        (w.date, "schedule", State::Draft)
    );
    assert!(draft.prepared_by.is_empty());
}

fn futures_flatten(r: Vec<Result<Option<i64>, IssueError>>) -> Vec<i64> {
    r.into_iter().filter_map(|x| x.unwrap()).collect()
}
