//! The duty-room console in a real headless Chromium (Debian's `chromium`, driven through
//! `chromedriver` over WebDriver), against a real command-center, collector and analyzer, a
//! real PostgreSQL and a real Mosquitto. Screenshots go to `target/screenshots/`.

use std::ops::Deref;
use std::time::Duration;

use geohazard_analyzer::{AnalyzerConfig, Stats};
use geohazard_bus::{Bus, BusConfig, Qos};
use geohazard_collector::CollectorConfig;
use geohazard_command_center::{CommandCenterConfig, NewOfficer, Role, add_officer};
use geohazard_e2e::RunningCollector;
use geohazard_firmware_bridge::BridgeConfig;
use geohazard_firmware_bridge::CameraConfig;
use geohazard_protocol::topic::Topic;
use geohazard_protocol::warning::{Summary, WarningLevel};
use geohazard_store::registry::{self, DivisionLevel, NewDivision, NewSite, SiteKind};
use geohazard_testkit::api::{Api, Response, StatusCode};
use geohazard_testkit::browser::{Browser, Locator, browser, browser_with_autoplay_policy};
use geohazard_testkit::fixtures::{self, CITY, COUNTY};
use geohazard_testkit::{Broker, eventually, publisher};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_util::sync::CancellationToken;

/// Cuiping district: a neighbour county in the same city, out of the Gao officer's scope.
const NEIGHBOUR: &str = "511502";
const PASSWORD: &str = "correct horse battery";
const GATEWAY: &str = "gw-gx1";
const CHANNEL: &str = "crack-1";

/// Browsers and timing on a 2-core machine: one browser test at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A square boundary around a point.
fn square(lon: f64, lat: f64, half: f64) -> geo::Geometry<f64> {
    geo::Geometry::Polygon(geo::Polygon::new(
        geo::LineString::from(vec![
            (lon - half, lat - half),
            (lon + half, lat - half),
            (lon + half, lat + half),
            (lon - half, lat + half),
            (lon - half, lat - half),
        ]),
        vec![],
    ))
}

/// The test kit's world with the whole system running on it.
struct World {
    kit: geohazard_testkit::World,
    http: Api,
    /// The console's page.
    base: String,
    gx1: i64,
    sensor: i32,
    _collector: RunningCollector,
    _frames: tempfile::TempDir,
}

impl Deref for World {
    type Target = geohazard_testkit::World;
    fn deref(&self) -> &geohazard_testkit::World {
        &self.kit
    }
}

/// Adds an officer of `division` with [`PASSWORD`].
async fn officer(pool: &PgPool, username: &str, display_name: Option<&str>, division: &str) {
    add_officer(
        pool,
        &NewOfficer {
            username,
            display_name,
            division_code: division,
            role: Role::DutyOfficer,
            password: PASSWORD,
        },
    )
    .await
    .expect("adding an officer");
}

/// Sichuan → Yibin → Gao county (two sites, one with a gateway and a crack meter whose red
/// line is 30 mm) and its neighbour Cuiping (one site); a county duty officer of Gao; the
/// command-center, the collector and the analyzer running.
async fn world() -> World {
    let kit = geohazard_testkit::World::start(8).await;
    let (store, broker) = (&kit.store, &kit.broker);
    let pool = &store.pool;
    for (code, name, lon, lat) in [
        (COUNTY, "高县", 104.6, 28.5),
        (NEIGHBOUR, "翠屏区", 104.3, 28.9),
    ] {
        registry::upsert_division(
            pool,
            &NewDivision {
                code,
                name,
                level: DivisionLevel::County,
                parent_code: Some(CITY),
                boundary: Some(square(lon, lat, 0.2)),
            },
        )
        .await
        .unwrap();
    }
    let site = |code: &'static str, name: &'static str, kind, division, lon, lat| NewSite {
        code,
        name,
        kind,
        division_code: division,
        location: geo::Point::new(lon, lat),
        threat_zone: None,
        scale_class: Some("medium"),
        volume_m3: Some(2.0e5),
        threatened_people: 120,
        threatened_property: 800.0,
    };
    let gx1 = registry::upsert_site(
        pool,
        &site(
            "GX-001",
            "高县庆岭滑坡",
            SiteKind::Landslide,
            COUNTY,
            104.52,
            28.45,
        ),
    )
    .await
    .unwrap();
    registry::upsert_site(
        pool,
        &site(
            "GX-002",
            "高县月江泥石流沟",
            SiteKind::DebrisFlow,
            COUNTY,
            104.72,
            28.6,
        ),
    )
    .await
    .unwrap();
    registry::upsert_site(
        pool,
        &site(
            "CP-001",
            "翠屏区宋家坝崩塌",
            SiteKind::Rockfall,
            NEIGHBOUR,
            104.3,
            28.9,
        ),
    )
    .await
    .unwrap();
    let gateway = registry::upsert_gateway(pool, GATEWAY, Some(gx1), "庆岭 1 号站", None)
        .await
        .unwrap();
    let sensor = fixtures::register_crack_meter(store, gateway, gx1, CHANNEL).await;
    sqlx::query(
        "INSERT INTO analyzer_rules (scope, sensor_id, rule, params) VALUES ('sensor', $1, 'threshold', $2)",
    )
    .bind(sensor)
    .bind(json!({"levels": {"yellow": 10.0, "orange": 20.0, "red": 30.0},
                 "persistence": {"readings": 1}}))
    .execute(pool)
    .await
    .unwrap();
    let monitor: i64 = sqlx::query_scalar(
        "INSERT INTO people (name, phone, division_code) VALUES ('王建国', '13800001111', $1) RETURNING id",
    )
    .bind(COUNTY)
    .fetch_one(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO site_responsibles (site_id, person_id, role) VALUES ($1, $2, 'monitor')",
    )
    .bind(gx1)
    .bind(monitor)
    .execute(pool)
    .await
    .unwrap();
    officer(pool, "gx-duty", Some("李值班"), COUNTY).await;

    let shutdown = kit.shutdown.clone();
    let mut config = CommandCenterConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Default::default()
    };
    config.api.live_recheck_s = 1;
    let frames = tempfile::tempdir().unwrap();
    config.video.dir = frames.path().to_owned();
    config.video.max_frame_bytes = 64 * 1024;
    let server = geohazard_command_center::start(
        &config,
        store.pool.clone(),
        &broker.url(),
        shutdown.clone(),
    )
    .await
    .expect("the command-center starts");

    let collector =
        RunningCollector::start(&broker.url(), store.clone(), CollectorConfig::default()).await;

    let mut analyzer = AnalyzerConfig::new(BusConfig::new(broker.url(), "analyzer-console"));
    analyzer.notifier.poll_ms = 100;
    let (ready, ready_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(geohazard_analyzer::run_with(
        analyzer,
        store.clone(),
        shutdown.clone(),
        Some(ready),
        std::sync::Arc::new(Stats::default()),
    ));
    tokio::time::timeout(Duration::from_secs(30), ready_rx)
        .await
        .expect("the analyzer starts in time")
        .unwrap();

    let http = Api::new(server.addr);
    World {
        base: format!("http://{}", server.addr),
        http,
        gx1,
        sensor,
        _collector: collector,
        _frames: frames,
        kit,
    }
}

impl World {
    async fn token(&self, username: &str) -> String {
        self.http.token(username, PASSWORD).await
    }

    async fn get(&self, username: &str, path: &str) -> Response {
        let token = self.token(username).await;
        self.http.get_response(&token, path).await
    }

    async fn api(&self, path: &str) -> Value {
        self.get("gx-duty", path).await.json().await.unwrap()
    }
}

/// A field gateway's MQTT link, for publishing what a bridge would.
struct Gateway {
    bus: Bus,
    seq: u64,
}

impl Gateway {
    async fn connect(broker: &Broker) -> Gateway {
        // Not the gateway code: a firmware-bridge for the same gateway may be connected under it.
        let bus = publisher(broker, &format!("{GATEWAY}-sensors")).await;
        Gateway { bus, seq: 0 }
    }

    async fn publish(&self, topic: String, payload: Vec<u8>) {
        self.send(topic, payload, false).await;
    }

    async fn send(&self, topic: String, payload: Vec<u8>, retain: bool) {
        self.bus
            .client()
            .publish(topic, Qos::AtLeastOnce, retain, payload)
            .await
            .unwrap();
    }

    /// Crack-meter readings (ms, mm) in one telemetry message.
    async fn readings(&mut self, series: &[(i64, f64)]) {
        self.seq += 1;
        let readings: Vec<Value> = series
            .iter()
            .map(|(ts, v)| json!({"sensor": CHANNEL, "ts": ts, "value": v}))
            .collect();
        let body = json!({"seq": self.seq, "readings": readings});
        self.publish(Topic::telemetry(GATEWAY), body.to_string().into_bytes())
            .await;
    }

    /// The gateway's status, retained as a bridge publishes it.
    async fn status(&self, status: Value) {
        self.send(
            Topic::status(GATEWAY),
            status.to_string().into_bytes(),
            true,
        )
        .await;
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

const MARKERS: &str = "return [...document.querySelectorAll('.site-marker [data-site]')].map(e => e.dataset.site).sort()";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_county_officer_signs_in_in_chinese_and_sees_only_the_county_sites() {
    let _one = ONE_AT_A_TIME.lock().await;
    let w = world().await;
    let b = browser().await;
    b.client.goto(&w.base).await.unwrap();
    b.until(
        "the sign-in page",
        Duration::from_secs(10),
        "return !document.getElementById('login').hidden",
    )
    .await;
    let button = b
        .js("return document.getElementById('login-submit').textContent")
        .await;
    assert_eq!(button, "登录", "Chinese first");
    b.screenshot("sign-in").await;
    // A wrong password is refused on the page.
    b.client
        .find(Locator::Id("login-user"))
        .await
        .unwrap()
        .send_keys("gx-duty")
        .await
        .unwrap();
    b.client
        .find(Locator::Id("login-pass"))
        .await
        .unwrap()
        .send_keys("wrong password!")
        .await
        .unwrap();
    b.click("#login-submit").await;
    b.until(
        "the refusal",
        Duration::from_secs(10),
        "return document.getElementById('login-msg').textContent === '用户名或密码错误'",
    )
    .await;

    b.sign_in(&w.base, "gx-duty", PASSWORD).await;
    let markers = b
        .until(
            "two markers",
            Duration::from_secs(10),
            "const m = [...document.querySelectorAll('.site-marker [data-site]')]; return m.length >= 2 && m.length",
        )
        .await;
    assert_eq!(markers, 2);
    assert_eq!(b.js(MARKERS).await, json!(["GX-001", "GX-002"]));
    // Both counties' boundaries are in the city, but only Gao's is the officer's.
    let boundaries = b
        .js("return document.querySelectorAll('#map path.leaflet-interactive').length")
        .await;
    assert_eq!(boundaries, 1, "only the officer's county is drawn");
    // No tiles configured: the plain background, and the map says so.
    assert_eq!(
        b.js("return document.getElementById('map-note').textContent")
            .await,
        "未配置底图：仅显示行政区边界"
    );
    b.screenshot("console-county").await;

    // The kind filter leaves the debris-flow gully only.
    b.js("const s = document.getElementById('f-kind'); s.value = 'debris_flow'; s.dispatchEvent(new Event('change')); return true")
        .await;
    b.until(
        "the filtered map",
        Duration::from_secs(5),
        "return document.querySelectorAll('.site-marker [data-site]').length === 1",
    )
    .await;
    assert_eq!(b.js(MARKERS).await, json!(["GX-002"]));

    // English on request, every text from the same table.
    b.click("#console .lang").await;
    b.until(
        "English",
        Duration::from_secs(5),
        "return document.getElementById('tab-health').textContent === 'Device health'",
    )
    .await;
    assert_eq!(
        b.js("return document.getElementById('map-note').textContent")
            .await,
        "No base map configured: division boundaries only"
    );
    let untranslated = b
        .js(
            "return fetch('/api/v1/messages').then(r => r.json())
               .then(m => Object.entries(m).filter(([k, t]) => !t['zh-CN'] || !t.en).map(([k]) => k))",
        )
        .await;
    assert_eq!(untranslated, json!([]), "texts in one language only");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_red_reading_reaches_feed_and_map_within_a_second_is_acknowledged_there_and_pushed_live_to_the_site_views_chart()
 {
    let _one = ONE_AT_A_TIME.lock().await;
    let w = world().await;
    let mut gw = Gateway::connect(&w.broker).await;
    // A quiet morning: readings well below the yellow line.
    let t0 = now_ms() - 3 * 3600 * 1000;
    let quiet: Vec<(i64, f64)> = (0..12)
        .map(|i| (t0 + i * 15 * 60_000, 4.0 + 0.1 * i as f64))
        .collect();
    gw.readings(&quiet).await;
    let b = browser().await;
    b.sign_in(&w.base, "gx-duty", PASSWORD).await;
    b.until(
        "the markers",
        Duration::from_secs(10),
        "return document.querySelectorAll('.site-marker [data-site]').length === 2",
    )
    .await;

    // When the console shows each warning change: it says so with an event.
    b.js("window.shownAt = {};
          document.addEventListener('gh:warning-shown', (e) => {
            const d = e.detail;
            window.shownAt[d.id + ':' + d.level + ':' + d.state] = performance.timeOrigin + performance.now();
          });
          return true")
        .await;
    let published = now_ms() as f64;
    gw.readings(&[(now_ms(), 35.2)]).await;
    let shown = b
        .until(
            "the red warning in the feed",
            Duration::from_secs(10),
            "const k = Object.keys(window.shownAt).find(k => k.endsWith(':red:open'));
             return k && document.querySelector('#feed-list [data-level=red][data-state=open]') && window.shownAt[k]",
        )
        .await
        .as_f64()
        .unwrap();
    let latency_ms = shown - published;
    println!("reading published → red shown in the console: {latency_ms:.0} ms");
    assert!(
        latency_ms < 1000.0,
        "publish → shown took {latency_ms:.0} ms"
    );
    let marker = b
        .js("return document.querySelector('[data-site=\"GX-001\"]').parentElement.className")
        .await;
    let marker = marker.as_str().unwrap();
    assert!(
        marker.contains("lvl-red") && marker.contains("blink"),
        "{marker}"
    );
    let banner = b
        .js("return document.getElementById('banner').textContent")
        .await;
    assert!(banner.as_str().unwrap().contains("红色预警"), "{banner}");
    // The analyzer's line reads in the officer's language: Chinese first, English on request.
    let feed_line = "return document.querySelector('#feed-list [data-level=red]').textContent";
    let line = b.js(feed_line).await;
    assert!(
        line.as_str()
            .unwrap()
            .contains("测值 35.2 mm ≥ 红色阈值 30 mm"),
        "{line}"
    );
    b.screenshot("console-red-warning").await;
    b.click("#console .lang").await;
    let line = b.js(feed_line).await;
    assert!(
        line.as_str()
            .unwrap()
            .contains("value 35.2 mm ≥ red threshold 30 mm"),
        "{line}"
    );
    b.click("#console .lang").await;

    // The evidence, for a person: the value and the line it crossed.
    b.click("#feed-list [data-level=red]").await;
    b.until(
        "the evidence",
        Duration::from_secs(5),
        "return document.querySelector('#evidence .ev-value')",
    )
    .await;
    let evidence = b
        .js("return document.getElementById('evidence').innerText")
        .await;
    let evidence = evidence.as_str().unwrap();
    assert!(
        evidence.contains("35.2 mm") && evidence.contains("30 mm"),
        "{evidence}"
    );
    let summary = b
        .js("return document.querySelector('#panel-body .summary').textContent")
        .await;
    assert_eq!(summary, "测值 35.2 mm ≥ 红色阈值 30 mm");
    let panel = b
        .js("return document.getElementById('panel-body').innerText")
        .await;
    let panel = panel.as_str().unwrap();
    assert!(
        panel.contains("灾情 · 阈值判据 · gw-gx1/crack-1"),
        "{panel}"
    );
    b.screenshot("warning-evidence").await;

    // Acknowledged from the console with a note.
    b.client
        .find(Locator::Id("ack-note"))
        .await
        .unwrap()
        .send_keys("已通知监测员王建国，组织撤离")
        .await
        .unwrap();
    b.click("#ack-button").await;
    b.until(
        "the acknowledgement",
        Duration::from_secs(10),
        "const s = document.getElementById('warning-state'); return s && s.textContent === '已确认'",
    )
    .await;
    b.until(
        "the banner to clear and the marker to stop blinking",
        Duration::from_secs(5),
        "return document.getElementById('banner').children.length === 0 &&
                !document.querySelector('[data-site=\"GX-001\"]').parentElement.classList.contains('blink')",
    )
    .await;
    b.screenshot("warning-acknowledged").await;
    let warnings = w.api("/warnings?state=acknowledged").await;
    let warning = &warnings[0];
    assert_eq!(warning["level"], "red");
    assert_eq!(warning["acknowledged_by"], "李值班");
    let audit: Vec<(String, Value)> =
        sqlx::query_as("SELECT target, detail FROM audit_log WHERE action = 'warning.acknowledge'")
            .fetch_all(&w.store.pool)
            .await
            .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].0, format!("warning:{}", warning["id"]));
    assert_eq!(audit[0].1["note"], "已通知监测员王建国，组织撤离");

    // The site view charts the readings just sent (12 quiet ones and the red one).
    b.click("#open-site").await;
    let points = b
        .until(
            "the 24-hour chart",
            Duration::from_secs(10),
            "const c = document.querySelector('[data-sensor] .raw'); return c && c.querySelector('canvas') && Number(c.dataset.points)",
        )
        .await;
    assert_eq!(points, 13);
    let card = b
        .js("return document.getElementById('panel-body').innerText")
        .await;
    let card = card.as_str().unwrap();
    assert!(
        card.contains("王建国") && card.contains("13800001111"),
        "{card}"
    );
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM readings WHERE sensor_id = $1")
        .bind(w.sensor)
        .fetch_one(&w.store.pool)
        .await
        .unwrap();
    assert_eq!(stored, 13);
    b.screenshot("site-view").await;
    // While the site view is open, a new reading joins the chart.
    gw.readings(&[(now_ms(), 28.0)]).await;
    b.until(
        "the new reading in the open chart",
        Duration::from_secs(15),
        "return Number(document.querySelector('[data-sensor] .raw').dataset.points) === 14",
    )
    .await;
    // A reading stored late (a gateway catching up), older than the newest, takes its place in
    // the chart: the newest stays the newest.
    let newest = b
        .js("return document.querySelector('[data-sensor] .raw').dataset.last")
        .await;
    gw.readings(&[(t0 + 7 * 60_000, 4.05)]).await;
    b.until(
        "the late reading in the open chart",
        Duration::from_secs(15),
        "return Number(document.querySelector('[data-sensor] .raw').dataset.points) === 15",
    )
    .await;
    assert_eq!(
        b.js("return document.querySelector('[data-sensor] .raw').dataset.last")
            .await,
        newest
    );
    // Both came over the live link: the console asked for no readings after opening the view.
    let polls: Vec<String> = b
        .requested_urls()
        .await
        .into_iter()
        .filter(|u| u.contains("resolution=raw") && u.contains("from="))
        .collect();
    assert_eq!(polls, Vec::<String>::new());
    let _ = w.gx1;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_health_shows_gateway_status_and_a_misconfigured_gateways_quarantined_messages() {
    let _one = ONE_AT_A_TIME.lock().await;
    let w = world().await;
    let gw = Gateway::connect(&w.broker).await;
    gw.status(
        json!({"online": true, "ts": now_ms(), "firmware": "0.1.0", "queue_depth": 7,
                     "supply_v": 12.6, "battery_pct": 81.0, "signal_dbm": -77.0}),
    )
    .await;
    // A gateway configured with a channel nobody registered.
    gw.publish(
        Topic::telemetry(GATEWAY),
        json!({"seq": 1, "readings": [{"sensor": "crack-9", "ts": now_ms(), "value": 1.0}]})
            .to_string()
            .into_bytes(),
    )
    .await;
    eventually(Duration::from_secs(10), "the quarantine row", || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM quarantine")
            .fetch_one(&w.store.pool)
            .await
            .unwrap();
        let seen: Option<bool> = sqlx::query_scalar("SELECT online FROM gateways WHERE code = $1")
            .bind(GATEWAY)
            .fetch_one(&w.store.pool)
            .await
            .unwrap();
        (n > 0 && seen == Some(true)).then_some(())
    })
    .await;
    let b = browser().await;
    b.sign_in(&w.base, "gx-duty", PASSWORD).await;
    b.click("#tab-health").await;
    let row = b
        .until(
            "the gateway row",
            Duration::from_secs(10),
            &format!("const r = document.querySelector('#health-gateways [data-gateway=\"{GATEWAY}\"]'); return r && r.innerText"),
        )
        .await;
    let row = row.as_str().unwrap();
    for want in ["在线", "81 %", "12.6 V", "-77 dBm", "7"] {
        assert!(row.contains(want), "{want} in {row}");
    }
    let q = b
        .until(
            "the quarantine table",
            Duration::from_secs(5),
            "const t = document.getElementById('health-quarantine'); return t && t.innerText",
        )
        .await;
    assert!(q.as_str().unwrap().contains(GATEWAY), "{q}");
    assert!(q.as_str().unwrap().contains("未登记的传感器"), "{q}");
    let silent = b
        .js("return document.getElementById('health-silent').innerText")
        .await;
    assert!(silent.as_str().unwrap().contains(CHANNEL), "{silent}");
    b.screenshot("device-health").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_that_ends_while_the_console_is_open_returns_it_to_sign_in() {
    let _one = ONE_AT_A_TIME.lock().await;
    let w = world().await;
    let b = browser().await;
    b.sign_in(&w.base, "gx-duty", PASSWORD).await;
    sqlx::query("UPDATE officer_sessions SET expires_at = now() - interval '1 second', created_at = now() - interval '1 hour'")
        .execute(&w.store.pool)
        .await
        .unwrap();
    b.until(
        "the sign-in page",
        Duration::from_secs(10),
        "return !document.getElementById('login').hidden && document.getElementById('console').hidden",
    )
    .await;
    assert_eq!(
        b.js("return document.getElementById('login-msg').textContent")
            .await,
        "会话已结束，请重新登录"
    );
    b.screenshot("session-ended").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_red_warning_gets_a_snapshot_from_the_sites_test_camera_shown_in_the_site_view() {
    let _one = ONE_AT_A_TIME.lock().await;
    let w = world().await;
    let camera = CameraBridge::start(&w).await;
    let mut gw = Gateway::connect(&w.broker).await;
    let (frame_id, bytes) = camera.red_snapshot(&w, &mut gw).await;
    let latest = w
        .get("gx-duty", &format!("/cameras/{GATEWAY}/cam1/latest"))
        .await;
    assert_eq!(latest.status(), StatusCode::OK);
    assert_eq!(latest.headers()["content-type"], "image/jpeg");
    let jpeg = latest.bytes().await.unwrap();
    assert_eq!(jpeg.len(), bytes as usize);
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
    let range = w.api(&format!("/cameras/{GATEWAY}/cam1/frames")).await;
    assert_eq!(range["frames"][0]["id"], frame_id);

    let b = browser().await;
    b.sign_in(&w.base, "gx-duty", PASSWORD).await;
    b.until(
        "the marker",
        Duration::from_secs(10),
        "return document.querySelector('[data-site=\"GX-001\"]')",
    )
    .await;
    show_cam1_frame(&b).await;
    b.js("document.getElementById('frames').scrollIntoView(); return true")
        .await;
    b.screenshot("site-view-camera").await;

    // A live view: the officer starts it, the frames stream to the console, the start is audited.
    start_cam1_live(&b).await;
    b.screenshot("live-view").await;
    b.click(".frame[data-camera=\"gw-gx1/cam1\"] .live").await;
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'video.live_view' AND target = 'camera:gw-gx1/cam1'",
    )
    .fetch_one(&w.store.pool)
    .await
    .unwrap();
    assert_eq!(audited, 1);
    b.close().await;

    // Out of scope: the neighbour county's officer gets 404 for the camera and its live view.
    officer(&w.store.pool, "cp-duty", None, NEIGHBOUR).await;
    for path in [
        format!("/cameras/{GATEWAY}/cam1/latest"),
        format!("/frames/{frame_id}"),
    ] {
        let r = w.get("cp-duty", &path).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let mut live = format!(
        "{}/api/v1/cameras/{GATEWAY}/cam1/live",
        w.base.replace("http://", "ws://"),
    )
    .into_client_request()
    .unwrap();
    let bearer = format!("Bearer {}", w.token("cp-duty").await);
    live.headers_mut()
        .insert("authorization", bearer.parse().unwrap());
    match tokio_tungstenite::connect_async(live).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 404),
        other => panic!("a live view out of scope must be refused: {other:?}"),
    }

    // Not a JPEG, and a JPEG over the 64 KiB limit: refused with the reason, and counted.
    let now = now_ms();
    gw.publish(
        Topic::video(GATEWAY, "cam1", now),
        b"GIF89a not a jpeg".to_vec(),
    )
    .await;
    let mut big = vec![0xFF, 0xD8, 0xFF, 0xE0];
    big.resize(100_000, 0);
    big.extend([0xFF, 0xD9]);
    gw.publish(Topic::video(GATEWAY, "cam1", now + 1), big.clone())
        .await;
    gw.publish(Topic::video(GATEWAY, "cam1", now + 2), big)
        .await;
    let refused: Vec<(String, i32)> = eventually(
        Duration::from_secs(10),
        "the refused frames in the quarantine",
        || async {
            let rows: Vec<(String, i32)> = sqlx::query_as(
                "SELECT reason, repeats FROM quarantine WHERE topic LIKE '%/video/%' ORDER BY reason, topic",
            )
            .fetch_all(&w.store.pool)
            .await
            .unwrap();
            (rows.len() == 3).then_some(rows)
        },
    )
    .await;
    assert_eq!(
        refused,
        vec![
            ("frame_not_jpeg".to_owned(), 1),
            ("frame_too_large".to_owned(), 1),
            ("frame_too_large".to_owned(), 1)
        ]
    );
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM video_frames WHERE captured_at >= to_timestamp($1 / 1000.0)",
    )
    .bind(now as f64)
    .fetch_one(&w.store.pool)
    .await
    .unwrap();
    assert_eq!(stored, 0, "no refused frame is stored");
    camera.stop().await;
}

/// Opens GX-001's site view and waits for cam1's stored frame, 320 px wide.
async fn show_cam1_frame(b: &Browser) {
    b.click("[data-site=\"GX-001\"]").await;
    let width = b
        .until(
            "the camera's latest frame in the site view",
            Duration::from_secs(10),
            "const i = document.querySelector('.frame[data-camera=\"gw-gx1/cam1\"] img'); return i && i.complete && i.naturalWidth",
        )
        .await;
    assert_eq!(width, 320);
}

/// Starts cam1's live view and waits for two of its frames.
async fn start_cam1_live(b: &Browser) {
    b.click(".frame[data-camera=\"gw-gx1/cam1\"] .live").await;
    b.until(
        "live frames in the console",
        Duration::from_secs(20),
        "const i = document.querySelector('.frame[data-camera=\"gw-gx1/cam1\"]'); return i && Number(i.dataset.liveFrames) >= 2",
    )
    .await;
}

/// The site's gateway as a real firmware-bridge with a GStreamer test-pattern camera, `cam1`.
struct CameraBridge {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    _queue: tempfile::TempDir,
}

impl CameraBridge {
    async fn start(w: &World) -> CameraBridge {
        let queue = tempfile::tempdir().unwrap();
        let mut bridge = BridgeConfig::new(GATEWAY, &w.broker.url(), queue.path());
        let mut cam = CameraConfig::test_pattern("cam1");
        cam.width = 320;
        cam.height = 240;
        bridge.cameras.push(cam);
        let stop = CancellationToken::new();
        let task = tokio::spawn(geohazard_firmware_bridge::run_bridge(bridge, stop.clone()));
        eventually(Duration::from_secs(20), "the bridge online", || async {
            let online: bool = sqlx::query_scalar("SELECT online FROM gateways WHERE code = $1")
                .bind(GATEWAY)
                .fetch_one(&w.store.pool)
                .await
                .unwrap();
            online.then_some(())
        })
        .await;
        CameraBridge {
            stop,
            task,
            _queue: queue,
        }
    }

    /// Raises red: the center asks the site's cameras for a picture, and stores it. The
    /// stored frame's id and size.
    async fn red_snapshot(&self, w: &World, gw: &mut Gateway) -> (i64, i32) {
        gw.readings(&[(now_ms(), 31.0)]).await;
        let pool = &w.store.pool;
        eventually(
            Duration::from_secs(30),
            "the snapshot in the frame store",
            || async {
                sqlx::query_as(
                    "SELECT id, bytes FROM video_frames WHERE gateway_code = $1 AND camera = 'cam1'",
                )
                .bind(GATEWAY)
                .fetch_optional(pool)
                .await
                .unwrap()
            },
        )
        .await
    }

    async fn stop(self) {
        self.stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_request_the_console_makes_carries_the_session_token_in_its_url_nor_can_its_scripts_read_it()
 {
    let _one = ONE_AT_A_TIME.lock().await;
    let w = world().await;
    let camera = CameraBridge::start(&w).await;
    let mut gw = Gateway::connect(&w.broker).await;
    camera.red_snapshot(&w, &mut gw).await;
    let b = browser().await;
    b.sign_in(&w.base, "gx-duty", PASSWORD).await;
    // Everything that needs the session: the live socket, a stored frame, a camera's live view,
    // and a reload that signs in again from the cookie.
    show_cam1_frame(&b).await;
    start_cam1_live(&b).await;
    b.click(".frame[data-camera=\"gw-gx1/cam1\"] .live").await;
    b.client.refresh().await.unwrap();
    b.until(
        "the live link after a reload",
        Duration::from_secs(10),
        "return document.getElementById('link').classList.contains('up')",
    )
    .await;

    let cookie = b.client.get_named_cookie("gh_session").await.unwrap();
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(
        cookie.same_site().map(|s| s.to_string()),
        Some("Strict".into())
    );
    let token = cookie.value().to_owned();
    assert_eq!(token.len(), 64, "{token}");
    let urls = b.requested_urls().await;
    for wanted in [
        "/api/v1/live",
        "/api/v1/frames/",
        "/cameras/gw-gx1/cam1/live",
        "/api/v1/me",
    ] {
        assert!(
            urls.iter().any(|u| u.contains(wanted)),
            "no request for {wanted}: {urls:#?}"
        );
    }
    for url in &urls {
        assert!(!url.contains(&token) && !url.contains("token="), "{url}");
    }
    let reach = b
        .js("return document.cookie + JSON.stringify(sessionStorage) + JSON.stringify(localStorage) + document.documentElement.outerHTML")
        .await;
    assert!(
        !reach.as_str().unwrap().contains(&token),
        "the token is in script reach"
    );

    // A page of another origin cannot open the live link with the cookie; the console's own can.
    for (origin, opens) in [("http://127.0.0.2:8080", false), (w.base.as_str(), true)] {
        let mut request = format!("{}/api/v1/live", w.base.replace("http://", "ws://"))
            .into_client_request()
            .unwrap();
        let headers = request.headers_mut();
        headers.insert("cookie", format!("gh_session={token}").parse().unwrap());
        headers.insert("origin", origin.parse().unwrap());
        match tokio_tungstenite::connect_async(request).await {
            Ok(_) => assert!(opens, "opened from {origin}"),
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
                assert!(!opens, "refused from {origin}");
                assert_eq!(r.status(), 403);
            }
            Err(e) => panic!("{origin}: {e}"),
        }
    }
    // The cookie alone does not change anything: a request without the CSRF token is refused,
    // and the session goes on.
    let status = b
        .js("return fetch('/api/v1/logout', {method: 'POST'}).then(r => r.status)")
        .await;
    assert_eq!(status, 403);
    let me = b.js("return fetch('/api/v1/me').then(r => r.status)").await;
    assert_eq!(me, 200);
    b.close().await;
    camera.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_lost_link_the_console_reconnects_and_shows_what_changed_without_a_reload() {
    let _one = ONE_AT_A_TIME.lock().await;
    let w = world().await;
    let b = browser().await;
    // The test keeps a hand on the page's WebSockets, to drop the link.
    b.on_every_page(WATCH_SOCKETS).await;
    b.sign_in(&w.base, "gx-duty", PASSWORD).await;
    b.js("window.__samePage = true; return true").await;
    // The link drops; while it is down a warning is raised and nothing is published for it.
    b.js("for (const s of window.testSockets) if (new URL(s.url).pathname === '/api/v1/live') s.close(); return true")
        .await;
    b.until(
        "the link shown down",
        Duration::from_secs(5),
        "return document.getElementById('link').classList.contains('down')",
    )
    .await;
    geohazard_warnings::Lifecycle::default()
        .apply(
            &w.store.pool,
            &geohazard_warnings::LevelChange {
                site_id: w.gx1,
                source: "threshold:gw-gx1/crack-1"
                    .parse()
                    .expect("a warning source"),
                sensor_id: Some(w.sensor),
                level: Some(WarningLevel::Orange),
                summary: Summary::new(
                    "value 24 mm ≥ orange threshold 20 mm",
                    "测值 24 mm ≥ 橙色阈值 20 mm",
                ),
                evidence: geohazard_warnings::Evidence::threshold(
                    0,
                    24.0,
                    "mm",
                    geohazard_warnings::rules::Thresholds::new(
                        None,
                        Some(10.0),
                        Some(20.0),
                        Some(30.0),
                    ),
                ),
                reading_ts: None,
                failure_forecast: None,
            },
        )
        .await
        .unwrap()
        .expect("a raised warning");
    b.until(
        "the orange warning after the reconnect",
        Duration::from_secs(15),
        "return document.getElementById('link').classList.contains('up') &&
                document.querySelector('#feed-list [data-level=orange][data-state=open]') &&
                document.querySelector('[data-site=\"GX-001\"]').parentElement.classList.contains('lvl-orange')",
    )
    .await;
    assert_eq!(
        b.js("return window.__samePage === true").await,
        true,
        "no page reload"
    );
    b.screenshot("resynced-after-lost-link").await;
    b.close().await;
}

/// Raises a warning on a site through the analyzer's state machine.
async fn raise(w: &World, site_id: i64, source: &str, level: WarningLevel, evidence: Value) -> i64 {
    geohazard_warnings::Lifecycle::default()
        .apply(
            &w.store.pool,
            &geohazard_warnings::LevelChange {
                site_id,
                source: source.parse().expect("a warning source"),
                sensor_id: None,
                level: Some(level),
                // A line as the analyzer writes one: words, never the source's key.
                summary: Summary::new(
                    format!("test warning at {level:?}"),
                    format!("{}预警（测试）", level.name_zh()),
                ),
                evidence: serde_json::from_value(evidence)
                    .expect("evidence as the analyzer writes it"),
                reading_ts: None,
                failure_forecast: None,
            },
        )
        .await
        .unwrap()
        .expect("a raised warning")
        .id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_and_rainfall_evidence_reads_as_numbers_against_their_lines() {
    let _one = ONE_AT_A_TIME.lock().await;
    let w = world().await;
    let gx2: i64 = sqlx::query_scalar("SELECT id FROM hazard_sites WHERE code = 'GX-002'")
        .fetch_one(&w.store.pool)
        .await
        .unwrap();
    let rate = raise(
        &w,
        w.gx1,
        "rate:gw-gx1/crack-1",
        WarningLevel::Orange,
        json!({"method": "rate", "ts": chrono::Utc::now().timestamp_millis(),
               "velocity_mm_per_day": 6.4, "velocity_t": 8.25, "min_t": 3.0,
               "velocity_se": 0.78, "velocity_judged": 6.4, "judged_window_h": 24.0,
               "acceleration_mm_per_day2": 0.8, "acceleration_t": 2.1, "fit_r2": 0.93,
               "points": 48, "spikes_rejected": 1, "window_h": 24.0,
               "thresholds": {"yellow": 2.0, "orange": 5.0, "red": 10.0}}),
    )
    .await;
    let rain = raise(
        &w,
        gx2,
        "rain:gw-gx2/rain-1",
        WarningLevel::Yellow,
        json!({"method": "rainfall", "ts": chrono::Utc::now().timestamp_millis(),
               "id_ratio_max": 1.9, "id_curve": {"a": 12.0, "b": 0.6},
               "windows": [
                   {"hours": 1.0, "mm": 22.5, "level": "yellow", "id_threshold_mm_per_h": 12.0, "id_ratio": 1.9},
                   {"hours": 24.0, "mm": 61.0, "level": null, "id_threshold_mm_per_h": 3.6, "id_ratio": 0.7}],
               "antecedent": {"k": 0.8, "daily_mm": [61.0, 12.0], "effective_mm": 70.6, "level": null,
                              "drained": false, "active_mm": 70.6}}),
    )
    .await;
    // A trend warning whose inverse-velocity fit reaches zero two days after the reading.
    let ts = chrono::Utc::now().timestamp_millis();
    let failure = ts + 2 * 86_400_000;
    let trend = raise(
        &w,
        w.gx1,
        "trend:gw-gx1/crack-1",
        WarningLevel::Red,
        json!({"method": "improved_tangent_angle", "ts": ts, "alpha_deg": 84.2,
               "velocity_mm_per_day": 9.1, "steady_velocity_mm_per_day": 0.9, "window_h": 72.0,
               "velocity_se": 0.3, "velocity_z": 30.0, "steady_from": "configured",
               "points": 72, "spikes_rejected": 0,
               "thresholds_deg": {"yellow": 45.0, "orange": 80.0, "red": 85.0},
               "inverse_velocity": {"method": "inverse_velocity", "bins": 12, "bin_h": 6.0,
                   "slope_per_day": -0.05, "intercept": 0.1, "r2": 0.91,
                   "smooth_h": 12.0, "slope_t": -9.0,
                   "failure_forecast_ts": failure, "accepted": true},
               "failure_forecast_ts": failure}),
    )
    .await;
    let b = browser().await;
    b.sign_in(&w.base, "gx-duty", PASSWORD).await;
    b.click(&format!("#feed-list [data-warning=\"{trend}\"]"))
        .await;
    b.until(
        "the inverse-velocity plot",
        Duration::from_secs(5),
        "return document.querySelector('#inverse-plot canvas') && document.querySelector('#evidence .ev-failure')",
    )
    .await;
    let text = b
        .js("return document.getElementById('evidence').innerText")
        .await;
    assert!(text.as_str().unwrap().contains("84.2°"), "{text}");
    b.screenshot("warning-evidence-trend").await;
    b.click(&format!("#feed-list [data-warning=\"{rate}\"]"))
        .await;
    let text = b
        .until(
            "the rate evidence",
            Duration::from_secs(5),
            "const e = document.getElementById('evidence'); return e && e.innerText.includes('t 值') && e.innerText",
        )
        .await;
    let text = text.as_str().unwrap();
    for want in ["6.4 mm/d", "8.25", "判定所需 t 值 3", "5 mm/d", "0.93"] {
        assert!(text.contains(want), "{want} in {text}");
    }
    b.screenshot("warning-evidence-rate").await;
    b.click(&format!("#feed-list [data-warning=\"{rain}\"]"))
        .await;
    let bars = b
        .until(
            "the rainfall bars",
            Duration::from_secs(5),
            "return document.querySelectorAll('#evidence .bar-row').length",
        )
        .await;
    assert_eq!(bars, 2, "one bar per accumulation window");
    let text = b
        .js("return document.getElementById('evidence').innerText")
        .await;
    let text = text.as_str().unwrap();
    // 1 h: 22.5 mm against the I–D line of 12 mm; 24 h: 61 mm against 86.4 mm.
    for want in ["22.5 mm / 12", "61 mm / 86.4", "70.6 mm"] {
        assert!(text.contains(want), "{want} in {text}");
    }
    b.screenshot("warning-evidence-rainfall").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threshold_device_and_combined_evidence_reads_as_words_and_numbers() {
    let _one = ONE_AT_A_TIME.lock().await;
    let w = world().await;
    let since = chrono::Utc::now().timestamp_millis() - 3_600_000;
    // One of each remaining method, as the analyzer writes it (analyzer/src/evidence.rs), with
    // what a person must read in it.
    let kinds = [
        (
            "threshold:gw-gx1/crack-1",
            WarningLevel::Red,
            json!({"method": "threshold", "ts": since, "value": 35.2, "unit": "mm",
                   "direction": "above", "hysteresis": 0.5,
                   "thresholds": {"yellow": 10.0, "orange": 20.0, "red": 30.0}}),
            vec!["35.2 mm", "高于阈值报警", "30 mm"],
        ),
        (
            "device:power:gateway:gw-gx1",
            WarningLevel::Yellow,
            json!({"method": "gateway_status", "min_battery_pct": 20.0, "min_supply_v": 11.5,
                   "status": {"online": true, "ts": since, "firmware": "1.4.2", "uptime_s": 3600,
                              "queue_depth": 3, "supply_v": 11.2, "battery_pct": 18.0,
                              "signal_dbm": -97.0,
                              "faults": [{"channel": "crack-1", "device": "rs485-1", "slave": 3,
                                          "error": "timeout", "since": since}]}}),
            vec![
                "18 %",
                "电量报警下限 20 %",
                "11.2 V",
                "crack-1（rs485-1 从站 3）：timeout",
            ],
        ),
        (
            "device:silent:gateway:gw-gx1",
            WarningLevel::Orange,
            json!({"method": "silence", "gateway": "gw-gx1", "silent_for_s": 5400.0,
                   "limit_s": 1800.0}),
            vec!["gw-gx1", "1.5 小时", "30 分钟"],
        ),
        (
            "device:stuck:gw-gx1/crack-1",
            WarningLevel::Yellow,
            json!({"method": "stuck", "value": 12.345, "identical_samples": 30, "limit": 24,
                   "ts": since}),
            vec!["12.345", "连续相同读数", "30", "24"],
        ),
        (
            "site:combined",
            WarningLevel::Red,
            json!({"method": "combined", "rain_level": "orange", "displacement_level": "yellow",
                   "raise_by": 1}),
            vec!["降雨判据等级", "橙色", "黄色", "1 级"],
        ),
    ];
    let mut raised = Vec::new();
    for (source, level, evidence, wants) in kinds {
        let method = evidence["method"].as_str().unwrap().to_owned();
        raised.push((
            raise(&w, w.gx1, source, level, evidence).await,
            method,
            wants,
        ));
    }
    let b = browser().await;
    b.sign_in(&w.base, "gx-duty", PASSWORD).await;
    for (id, method, wants) in raised {
        b.click(&format!("#feed-list [data-warning=\"{id}\"]"))
            .await;
        let text = b
            .until(
                &format!("the {method} evidence"),
                Duration::from_secs(5),
                &format!(
                    "const e = document.querySelector('#evidence[data-method=\"{method}\"]'); return e && e.innerText"
                ),
            )
            .await;
        let text = text.as_str().unwrap();
        for want in wants {
            assert!(text.contains(want), "{method}: {want} in {text}");
        }
        assert!(
            !text.contains('⟦') && !text.contains('{'),
            "{method}: {text}"
        );
        b.js("document.getElementById('evidence').scrollIntoView(); return true")
            .await;
        b.screenshot(&format!("warning-evidence-{method}")).await;
    }
    b.close().await;
}

/// Watches the page's WebSockets: `window.testSockets` (each one opened) and
/// `window.sentOnSockets` (each message sent on them).
const WATCH_SOCKETS: &str = "window.testSockets = [];
     window.sentOnSockets = [];
     const PageWebSocket = window.WebSocket;
     window.WebSocket = class extends PageWebSocket {
       constructor(...args) { super(...args); window.testSockets.push(this); }
       send(data) { window.sentOnSockets.push(String(data)); return super.send(data); }
     };";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_on_the_live_link_is_shown_receipted_at_once_and_confirmed_by_the_officer() {
    let _one = ONE_AT_A_TIME.lock().await;
    let w = world().await;
    let b = browser().await;
    b.on_every_page(WATCH_SOCKETS).await;
    b.sign_in(&w.base, "gx-duty", PASSWORD).await;
    // The center's notice as its live socket delivers it (the message the notification service
    // sends), handed to the page's own socket.
    let notice = json!({
        "type": "notification", "id": 41, "warning_id": null, "level": "red",
        "text_zh": "高县庆岭滑坡红色预警：请立即组织 <b>群众</b> 转移",
        "text_en": "Red warning at Qingling: evacuate now",
        "created_at": "2026-06-01T08:30:00+08:00"
    });
    b.js(&format!(
        "const s = window.testSockets.find((s) => new URL(s.url).pathname === '/api/v1/live');
         s.dispatchEvent(new MessageEvent('message', {{ data: JSON.stringify({notice}) }}));
         return true"
    ))
    .await;
    let shown = b
        .until(
            "the notice",
            Duration::from_secs(5),
            "const n = document.querySelector('#alerts [data-notification=\"41\"]'); return n && n.innerText",
        )
        .await;
    let shown = shown.as_str().unwrap();
    assert!(
        shown.contains("请立即组织 <b>群众</b> 转移") && shown.contains("指挥中心通知"),
        "{shown}"
    );
    let sent = |kind: &str| {
        format!(
            "return window.sentOnSockets.map((m) => JSON.parse(m)).some((m) => m.type === '{kind}' && m.id === 41)"
        )
    };
    b.until("the receipt", Duration::from_secs(5), &sent("delivered"))
        .await;
    assert_eq!(b.js(&sent("confirmed")).await, false, "confirmed unasked");
    b.screenshot("notice").await;
    b.click("#alerts [data-notification=\"41\"] .confirm").await;
    b.until(
        "the confirmation",
        Duration::from_secs(5),
        &sent("confirmed"),
    )
    .await;
    assert_eq!(
        b.js("return document.querySelectorAll('#alerts [data-notification]').length")
            .await,
        0
    );
    b.close().await;
}

/// Markup that would fetch from an outside address if it were parsed (`tag` tells which text
/// it came from).
fn outside_image(tag: &str) -> String {
    format!("<img src=//127.0.0.2/{tag} onerror=alert(1)>")
}
/// Markup that would send the console to another page if it were parsed.
const REFRESH: &str = "<meta http-equiv=refresh content=0;url=//127.0.0.2/m>";
const SCRIPT: &str = "<script>alert(3)</script>";

/// Fails unless the page holds no element that markup from the store would have made, and is
/// still the page the test signed in on.
async fn assert_inert(b: &Browser, view: &str) {
    let parsed = b
        .js("return [...document.querySelectorAll('img[src*=\"127.0.0.2\"], meta[http-equiv], script:not([src])')].map(e => e.outerHTML)")
        .await;
    assert_eq!(parsed, json!([]), "markup parsed in the {view}");
    assert_eq!(
        b.js("return window.__samePage === true").await,
        true,
        "the console left its page in the {view}"
    );
}

/// Fails unless `text` is shown as text (the exact characters, tags and all) in what `css`
/// selects.
async fn assert_shown_as_text(b: &Browser, css: &str, text: &str) {
    let script = format!(
        "return [...document.querySelectorAll({css})].some(e => e.textContent.includes({text}))",
        css = json!(css),
        text = json!(text)
    );
    b.until(
        &format!("{text} as text in {css}"),
        Duration::from_secs(10),
        &script,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markup_in_every_stored_name_and_note_is_shown_as_text_and_runs_nothing() {
    let _one = ONE_AT_A_TIME.lock().await;
    let w = world().await;
    let pool = &w.store.pool;
    let division = format!("{}{REFRESH}", outside_image("dv"));
    let site = format!("庆岭{}{REFRESH}{SCRIPT}", outside_image("site"));
    let person = format!("{}{SCRIPT}", outside_image("person"));
    let note = format!("已电话通知{}{REFRESH}{SCRIPT}", outside_image("note"));
    let detail = format!("bad json {}{REFRESH}{SCRIPT}", outside_image("quarantine"));
    // A sensor has no name: its unit is the text an installer types.
    let unit = "<s>mm</s>";
    sqlx::query("UPDATE divisions SET name = $1 WHERE code = $2")
        .bind(&division)
        .bind(COUNTY)
        .execute(pool)
        .await
        .unwrap();
    for (sql, text) in [
        (
            "UPDATE hazard_sites SET name = $1 WHERE code = 'GX-001'",
            site.as_str(),
        ),
        ("UPDATE people SET name = $1", &person),
        ("UPDATE sensors SET unit = $1", unit),
        (
            "INSERT INTO quarantine (topic, gateway_code, reason, detail, payload, payload_size)
             VALUES ('geohazard/v1/gw-gx1/telemetry', 'gw-gx1', 'malformed_json', $1, '\\x00', 1)",
            &detail,
        ),
    ] {
        sqlx::query(sql).bind(text).execute(pool).await.unwrap();
    }
    let mut gw = Gateway::connect(&w.broker).await;
    gw.readings(&[(now_ms() - 60_000, 5.0), (now_ms(), 31.0)])
        .await;
    let warning: i64 = eventually(Duration::from_secs(20), "the red warning", || async {
        sqlx::query_scalar("SELECT id FROM warnings WHERE level = 'red' AND state = 'open'")
            .fetch_optional(pool)
            .await
            .unwrap()
    })
    .await;
    let token = w.token("gx-duty").await;
    let (status, _) = w
        .http
        .post(
            &token,
            &format!("/warnings/{warning}/acknowledge"),
            json!({ "note": note }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let b = browser().await;
    b.sign_in(&w.base, "gx-duty", PASSWORD).await;
    b.js("window.__samePage = true; return true").await;
    // The map: a site's marker and a division's boundary show their names on hover.
    b.until(
        "the markers",
        Duration::from_secs(10),
        "return document.querySelectorAll('.site-marker [data-site]').length === 2",
    )
    .await;
    b.js("for (const e of document.querySelectorAll('.site-marker, path.leaflet-interactive')) {
            const r = e.getBoundingClientRect();
            e.dispatchEvent(new MouseEvent('mouseover', {bubbles: true, clientX: r.x + r.width / 2, clientY: r.y + r.height / 2}));
          }
          return true")
        .await;
    assert_shown_as_text(&b, ".leaflet-tooltip", &site).await;
    assert_shown_as_text(&b, ".leaflet-tooltip", &division).await;
    // The feed, the filters and the officer's line.
    assert_shown_as_text(&b, "#feed-list .site", &site).await;
    assert_shown_as_text(&b, "#f-division option", &division).await;
    assert_shown_as_text(&b, "#who", &division).await;
    b.screenshot("stored-markup-map").await;
    assert_inert(&b, "map, tooltips and feed").await;

    // The warning: its title and the acknowledgement's note.
    b.click(&format!("#feed-list [data-warning=\"{warning}\"]"))
        .await;
    assert_shown_as_text(&b, "#panel-body h2", &site).await;
    assert_shown_as_text(&b, "#panel-body .timeline .note", &note).await;
    b.screenshot("stored-markup-warning").await;
    assert_inert(&b, "warning panel").await;

    // The site: its title, division, responsible person, and the sensor's chart.
    b.click("#open-site").await;
    assert_shown_as_text(&b, "#site-title", &site).await;
    assert_shown_as_text(&b, "#panel-body dd", &division).await;
    assert_shown_as_text(&b, "#panel-body dd", &person).await;
    assert_shown_as_text(&b, ".sensor .title", unit).await;
    b.until(
        "the sensor's chart",
        Duration::from_secs(10),
        "return document.querySelector('.sensor .raw canvas')",
    )
    .await;
    assert_shown_as_text(&b, ".sensor .u-legend", CHANNEL).await;
    b.screenshot("stored-markup-site").await;
    assert_inert(&b, "site panel").await;

    // Device health: the gateway's site and the quarantined message's detail.
    b.click("#panel-close").await;
    b.click("#tab-health").await;
    assert_shown_as_text(&b, "#health-gateways td", &site).await;
    assert_shown_as_text(&b, "#health-quarantine td", &detail).await;
    b.screenshot("stored-markup-health").await;
    assert_inert(&b, "device health").await;

    // Nothing was fetched from the outside address, at any time.
    let urls = b.requested_urls().await;
    assert!(!urls.is_empty());
    let outside: Vec<&String> = urls.iter().filter(|u| u.contains("127.0.0.2")).collect();
    assert!(
        outside.is_empty(),
        "requests to the outside address: {outside:?}"
    );
    b.close().await;
}

/// Threshold evidence as the analyzer writes it, for warnings raised only to be looked at.
fn threshold_evidence(value: f64) -> Value {
    json!({"method": "threshold", "ts": now_ms(), "value": value, "unit": "mm",
           "direction": "above", "hysteresis": 0.5,
           "thresholds": {"yellow": 10.0, "orange": 20.0, "red": 30.0}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_reload_the_console_says_the_siren_is_silent_until_a_click_turns_it_on() {
    let _one = ONE_AT_A_TIME.lock().await;
    let w = world().await;
    raise(
        &w,
        w.gx1,
        "threshold:gw-gx1/crack-1",
        WarningLevel::Red,
        threshold_evidence(35.2),
    )
    .await;
    // A browser with Chromium's own rule: no sound from a page nobody has clicked.
    let b = browser_with_autoplay_policy().await;
    b.sign_in(&w.base, "gx-duty", PASSWORD).await;
    // The duty PC reloads the page: the session goes on, the click that signed in is gone.
    b.client.refresh().await.unwrap();
    b.until(
        "the console after the reload",
        Duration::from_secs(10),
        "return document.getElementById('link').classList.contains('up') && document.querySelector('#banner .alarm')",
    )
    .await;
    let running = b.js("return new AudioContext().state === 'running'").await;
    assert_eq!(running, json!(false), "the browser keeps sound off here");
    let sound = b
        .until(
            "the sound state",
            Duration::from_secs(5),
            "const s = document.getElementById('sound'); return s && s.dataset.sound && [s.dataset.sound, s.textContent]",
        )
        .await;
    assert_eq!(sound[0], "off", "{sound}");
    let text = sound[1].as_str().unwrap();
    assert!(
        text.contains("声音已关闭") && text.contains("点击开启"),
        "{text}"
    );
    b.screenshot("sound-off-after-reload").await;
    b.click("#sound").await;
    let on = b
        .until(
            "sound turned on by the click",
            Duration::from_secs(5),
            "const s = document.getElementById('sound'); return s.dataset.sound === 'on' && s.textContent",
        )
        .await;
    assert!(on.as_str().unwrap().contains("声音已开启"), "{on}");
    b.screenshot("sound-on").await;
    b.close().await;
}

/// `hh:mm:ss` of a stored time in Beijing.
fn beijing_clock(stored: &Value) -> String {
    let t: chrono::DateTime<chrono::Utc> = stored.as_str().unwrap().parse().unwrap();
    (t + chrono::Duration::hours(8))
        .format("%H:%M:%S")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_pc_set_to_utc_a_warning_reads_in_beijing_time_in_words_with_who_was_notified_and_how_far()
 {
    let _one = ONE_AT_A_TIME.lock().await;
    let w = world().await;
    let pool = &w.store.pool;
    let stuck = raise(
        &w,
        w.gx1,
        "device:stuck:gw-gx1/crack-1",
        WarningLevel::Yellow,
        json!({"method": "stuck", "value": 12.345, "identical_samples": 30, "limit": 24, "ts": now_ms()}),
    )
    .await;
    let combined = raise(
        &w,
        w.gx1,
        "site:combined",
        WarningLevel::Red,
        json!({"method": "combined", "rain_level": "orange", "displacement_level": "yellow", "raise_by": 1}),
    )
    .await;
    // What the notifier stored for the red one: a failed SMS with the provider's reason, an
    // app notice the person confirmed, a delivered SMS and one still queued.
    let person = |name: &'static str, phone: &'static str| async move {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO people (name, phone, division_code) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(name)
        .bind(phone)
        .bind(COUNTY)
        .fetch_one(pool)
        .await
        .unwrap();
        id
    };
    let wang: i64 = sqlx::query_scalar("SELECT id FROM people WHERE name = '王建国'")
        .fetch_one(pool)
        .await
        .unwrap();
    let zhang = person("张丽", "13800002222").await;
    let zhao = person("赵强", "13800003333").await;
    let notify = |person: i64,
                  channel: &'static str,
                  reason: &'static str,
                  status: &'static str,
                  attempts: i32,
                  delivered: bool,
                  confirmed: bool| async move {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO notifications (warning_id, person_id, channel, reason, phone, body, status,
                 attempts, sent_at, delivered_at, confirmed_at)
             VALUES ($1, $2, $3, $4, '13800000000', '红色预警', $5, $6,
                 CASE WHEN $6 > 0 THEN now() END, CASE WHEN $7 THEN now() END,
                 CASE WHEN $8 THEN now() END)
             ON CONFLICT (warning_id, person_id, channel, reason) DO UPDATE SET
                 status = EXCLUDED.status, attempts = EXCLUDED.attempts, sent_at = EXCLUDED.sent_at,
                 delivered_at = EXCLUDED.delivered_at, confirmed_at = EXCLUDED.confirmed_at
             RETURNING id",
        )
        .bind(combined)
        .bind(person)
        .bind(channel)
        .bind(reason)
        .bind(status)
        .bind(attempts)
        .bind(delivered)
        .bind(confirmed)
        .fetch_one(pool)
        .await
        .unwrap();
        id
    };
    // The notifier has queued the site monitor's SMS itself (no provider here: it waits): the
    // store is made to say what a provider would have answered.
    let failed = notify(wang, "sms", "red@0", "failed", 3, false, false).await;
    sqlx::query(
        "INSERT INTO notification_attempts (notification_id, attempt, outcome, http_status, detail)
         VALUES ($1, 3, 'failed', 200, '号码已停机')",
    )
    .bind(failed)
    .execute(pool)
    .await
    .unwrap();
    notify(wang, "app", "red@0", "delivered", 1, true, true).await;
    notify(zhang, "sms", "red@1", "delivered", 1, true, false).await;
    notify(zhao, "sms", "red@2", "rate_limited", 0, false, false).await;

    let b = browser().await;
    // The duty-room PC's clock is set to UTC; the agency is in Beijing.
    b.set_time_zone("UTC").await;
    b.sign_in(&w.base, "gx-duty", PASSWORD).await;
    assert_eq!(
        b.js("return Intl.DateTimeFormat().resolvedOptions().timeZone")
            .await,
        "UTC"
    );
    let stored = w.api(&format!("/warnings/{combined}")).await;
    let when = b
        .until(
            "the feed item's time",
            Duration::from_secs(5),
            &format!("const e = document.querySelector('#feed-list [data-warning=\"{combined}\"]'); return e && e.innerText"),
        )
        .await;
    let when = when.as_str().unwrap();
    assert!(
        when.contains(&beijing_clock(&stored["updated_at"])) && when.contains("北京时间"),
        "the feed shows Beijing time, labelled: {when} (stored {})",
        stored["updated_at"]
    );
    assert!(
        when.contains("降雨与变形综合判据"),
        "the source in words: {when}"
    );

    // The stuck-readings warning: its source in words, times in Beijing time.
    b.click(&format!("#feed-list [data-warning=\"{stuck}\"]"))
        .await;
    let panel = b
        .until(
            "the stuck warning's panel",
            Duration::from_secs(5),
            "const e = document.querySelector('#evidence[data-method=\"stuck\"]'); return e && document.getElementById('panel-body').innerText",
        )
        .await;
    let panel = panel.as_str().unwrap();
    assert!(panel.contains("读数不变 · gw-gx1/crack-1"), "{panel}");
    let stored = w.api(&format!("/warnings/{stuck}")).await;
    assert!(
        panel.contains(&format!("{} 北京时间", beijing_clock(&stored["raised_at"]))),
        "{panel}"
    );

    // The combined one: who was told, by which channel, and how far each message got.
    b.click(&format!("#feed-list [data-warning=\"{combined}\"]"))
        .await;
    let rows = b
        .until(
            "the delivery table",
            Duration::from_secs(5),
            "const t = document.querySelector('#evidence[data-method=\"combined\"]') && document.querySelector('table#deliveries'); return t && [...t.querySelectorAll('tr[data-delivery]')].map(r => r.innerText.replace(/\\s+/g, ' '))",
        )
        .await;
    let rows: Vec<String> = serde_json::from_value(rows).unwrap();
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM notifications WHERE warning_id = $1")
            .bind(combined)
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(
        rows.len() as i64,
        stored,
        "one row per notification in the store: {rows:?}"
    );
    let row = |who: &str, channel: &str| {
        rows.iter()
            .find(|r| r.contains(who) && r.contains(channel))
            .unwrap_or_else(|| panic!("{who} by {channel} in {rows:?}"))
            .clone()
    };
    let failed = row("王建国", "短信");
    assert!(
        failed.contains("发送失败") && failed.contains("号码已停机") && failed.contains('3'),
        "{failed}"
    );
    assert!(row("王建国", "值班端").contains("已确认收到"));
    let delivered = row("张丽", "短信");
    assert!(
        delivered.contains("已送达")
            && delivered.contains("北京时间")
            && delivered.contains("逐级上报第 1 级"),
        "{delivered}"
    );
    assert!(row("赵强", "短信").contains("超出限额"));
    let panel = b
        .js("return document.getElementById('panel-body').innerText")
        .await;
    let panel = panel.as_str().unwrap();
    assert!(panel.contains("1 条通知发送失败"), "{panel}");
    assert!(panel.contains("降雨与变形综合判据"), "{panel}");
    for raw in ["site:combined", "device:", "threshold:", "⟦", "@"] {
        assert!(!panel.contains(raw), "no raw key {raw} in {panel}");
    }
    b.js("document.getElementById('deliveries').scrollIntoView(); return true")
        .await;
    b.screenshot("warning-deliveries").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_night_at_1366x768_one_banner_line_a_clickable_rest_and_a_panel_below_it() {
    let _one = ONE_AT_A_TIME.lock().await;
    let w = world().await;
    let gx2: i64 = sqlx::query_scalar("SELECT id FROM hazard_sites WHERE code = 'GX-002'")
        .fetch_one(&w.store.pool)
        .await
        .unwrap();
    // One site with several sensors in alarm, and another site: five urgent warnings.
    let mut urgent = Vec::new();
    for (site, source, level) in [
        (w.gx1, "threshold:gw-gx1/crack-1", WarningLevel::Red),
        (w.gx1, "threshold:gw-gx1/crack-2", WarningLevel::Red),
        (w.gx1, "rate:gw-gx1/crack-1", WarningLevel::Orange),
        (w.gx1, "threshold:gw-gx1/gnss-1", WarningLevel::Orange),
        (gx2, "rain:gw-gx2/rain-1", WarningLevel::Orange),
    ] {
        urgent.push(raise(&w, site, source, level, threshold_evidence(35.2)).await);
    }
    for i in 0..12 {
        raise(
            &w,
            gx2,
            &format!("threshold:gw-gx2/p-{i}"),
            WarningLevel::Blue,
            threshold_evidence(5.0),
        )
        .await;
    }
    let b = browser().await;
    b.sign_in(&w.base, "gx-duty", PASSWORD).await;
    // A 1366×768 page: the window is made that much larger than its page.
    b.client.set_window_size(1366, 768).await.unwrap();
    let inner = b.js("return [innerWidth, innerHeight]").await;
    let (w_in, h_in) = (
        inner[0].as_u64().unwrap() as u32,
        inner[1].as_u64().unwrap() as u32,
    );
    b.client
        .set_window_size(1366 + 1366 - w_in, 768 + 768 - h_in)
        .await
        .unwrap();
    b.until(
        "the banner",
        Duration::from_secs(5),
        "return document.querySelector('#banner .alarm')",
    )
    .await;
    let layout = b
        .js("const h = (id) => document.getElementById(id).getBoundingClientRect();
             const feed = h('feed');
             const items = [...document.querySelectorAll('#feed-list .feed-item')].filter(e => e.getBoundingClientRect().bottom <= feed.bottom).length;
             const header = document.querySelector('#console > header.top').getBoundingClientRect().height;
             return { inner: [innerWidth, innerHeight], banner: h('banner').height, map: h('map').height, items, header }")
        .await;
    assert_eq!(layout["inner"], json!([1366, 768]), "{layout}");
    assert!(
        layout["header"].as_f64().unwrap() <= 52.0,
        "the bar keeps one line, every tab's name unbroken: {layout}"
    );
    assert!(
        layout["banner"].as_f64().unwrap() <= 40.0,
        "the banner takes one line: {layout}"
    );
    assert!(
        layout["map"].as_f64().unwrap() >= 560.0,
        "the map keeps the height: {layout}"
    );
    assert!(
        layout["items"].as_i64().unwrap() >= 8,
        "the feed shows a night's worth: {layout}"
    );
    b.screenshot("console-1366x768").await;
    // "另有 4 条" unfolds the rest; every line says which sensor, so none repeats another.
    let more = b
        .js("return document.querySelector('#banner [data-more]').innerText")
        .await;
    assert!(more.as_str().unwrap().contains("另有 4 条"), "{more}");
    b.click("#banner [data-more]").await;
    let lines = b
        .until(
            "the unfolded list",
            Duration::from_secs(5),
            "const l = [...document.querySelectorAll('#banner .banner-more [data-open]')]; return l.length === 4 && [document.querySelector('#banner .alarm .what').innerText, ...l.map(e => e.innerText)]",
        )
        .await;
    let lines: Vec<String> = serde_json::from_value(lines).unwrap();
    let distinct: std::collections::BTreeSet<&String> = lines.iter().collect();
    assert_eq!(distinct.len(), 5, "five different lines: {lines:?}");
    assert!(lines.iter().any(|l| l.contains("crack-2")), "{lines:?}");
    b.screenshot("console-1366x768-banner-unfolded").await;
    let last = urgent[4];
    b.click(&format!("#banner .banner-more [data-open=\"{last}\"]"))
        .await;
    b.until(
        "the warning's panel",
        Duration::from_secs(5),
        "return document.getElementById('open-site')",
    )
    .await;
    let covered = b
        .js(
            "const a = document.querySelector('#banner .alarm').getBoundingClientRect();
             const p = document.getElementById('panel').getBoundingClientRect();
             return p.top < a.bottom - 1",
        )
        .await;
    assert_eq!(
        covered,
        json!(false),
        "the panel leaves the banner in sight"
    );
    b.screenshot("console-1366x768-warning").await;
    // A site opened from a panel scrolled down starts at its top.
    b.js("document.getElementById('panel').scrollTop = 10000; return true")
        .await;
    b.click("#open-site").await;
    b.until(
        "the site view",
        Duration::from_secs(5),
        "return document.getElementById('site-title')",
    )
    .await;
    let top = b
        .js("return document.getElementById('panel').scrollTop")
        .await;
    assert_eq!(top, json!(0));
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rain_gauge_reads_as_hourly_and_daily_totals_with_the_rules_accumulations() {
    let _one = ONE_AT_A_TIME.lock().await;
    let w = world().await;
    let gateway: i64 = sqlx::query_scalar("SELECT id FROM gateways WHERE code = $1")
        .bind(GATEWAY)
        .fetch_one(&w.store.pool)
        .await
        .unwrap();
    let rain = registry::upsert_sensor(
        &w.store.pool,
        &registry::NewSensor {
            gateway_id: gateway,
            channel: "rain-1",
            site_id: w.gx1,
            kind: geohazard_store::registry::SensorKind::RainGauge,
            unit: "mm",
            location: None,
            elevation_m: None,
            depth_m: None,
            sampling_interval_s: 600,
        },
    )
    .await
    .unwrap();
    // Three days of increments (70 hours), one every 10 minutes, each 5 minutes off a
    // window's edge: 0.5 mm in the last 6 hours, 0.1 mm before.
    let now = chrono::Utc::now();
    let mut rows = geohazard_store::readings::ReadingRows::with_capacity(420);
    let mut expected = std::collections::BTreeMap::new();
    for k in 0..420 {
        let age = chrono::Duration::minutes(10 * k + 5);
        let mm = if k < 36 { 0.5 } else { 0.1 };
        rows.sensor_ids.push(rain);
        rows.ts.push(now - age);
        rows.values.push(mm);
        rows.quality.push(0);
        for h in [1, 3, 6, 12, 24, 72] {
            if age < chrono::Duration::hours(h) {
                *expected.entry(h).or_insert(0.0) += mm;
            }
        }
    }
    let days: std::collections::BTreeSet<_> = rows
        .ts
        .iter()
        .map(|t| (*t + chrono::Duration::hours(8)).date_naive())
        .collect();
    fixtures::store_readings(&w.store, &rows).await;

    let b = browser().await;
    b.sign_in(&w.base, "gx-duty", PASSWORD).await;
    b.js(&format!(
        "import('/assets/views/site.js').then(m => m.openSite({})); return true",
        w.gx1
    ))
    .await;
    let box_ = format!("[data-sensor=\"{rain}\"]");
    let windows = b
        .until(
            "the rain accumulations with the older hours",
            Duration::from_secs(10),
            &format!(
                "const b = document.querySelector('{box_} .rain-acc'); const h = document.querySelector('{box_} .chart.hourly'); return h && h.dataset.days && b && b.dataset.windows"
            ),
        )
        .await;
    let windows: Vec<(i64, f64)> = serde_json::from_str(windows.as_str().unwrap()).unwrap();
    for (h, mm) in &windows {
        let want = expected[h];
        assert!(
            (mm - want).abs() < 0.01,
            "the last {h} h: {mm} mm shown, {want} mm stored"
        );
    }
    assert_eq!(windows.len(), 6, "{windows:?}");
    let shown = b
        .js(&format!(
            "const s = document.querySelector('{box_}'); return [s.querySelector('.chart.hourly').dataset.days, s.innerText]"
        ))
        .await;
    assert_eq!(shown[0], days.len().to_string(), "one bar a day");
    let text = shown[1].as_str().unwrap();
    assert!(
        text.contains("近 1 小时 3 mm") && text.contains("逐时雨量") && text.contains("逐日雨量"),
        "{text}"
    );
    assert!(!text.contains("均值"), "no mean of increments: {text}");
    b.js(&format!(
        "document.querySelector('{box_}').scrollIntoView(); return true"
    ))
    .await;
    b.screenshot("site-view-rain").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sms_receipt_and_an_app_confirmation_show_on_an_open_warning_within_seconds() {
    use geohazard_notify::app::{ClientReceipt, receive};
    let _one = ONE_AT_A_TIME.lock().await;
    let w = world().await;
    let pool = &w.store.pool;
    let red = raise(
        &w,
        w.gx1,
        "threshold:gw-gx1/crack-1",
        WarningLevel::Red,
        threshold_evidence(31.0),
    )
    .await;
    let wang: i64 = sqlx::query_scalar("SELECT id FROM people WHERE name = '王建国'")
        .fetch_one(pool)
        .await
        .unwrap();
    // The world's notifier (no SMS provider) fails the SMS the raising queued: let it finish
    // before the row is set as a provider would leave it, or its failure lands on top.
    eventually(
        Duration::from_secs(10),
        "the notifier done with the queued SMS",
        || async {
            let busy: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM notifications WHERE warning_id = $1 AND channel = 'sms'
                   AND status IN ('pending', 'sending')",
            )
            .bind(red)
            .fetch_one(pool)
            .await
            .unwrap();
            (busy == 0).then_some(())
        },
    )
    .await;
    // An SMS the provider took (no receipt yet) and an app notice shown but not confirmed, as
    // the notifier leaves them.
    let notification = |channel: &'static str, reason: &'static str, status: &'static str| async move {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO notifications (warning_id, person_id, channel, reason, phone, body, status,
                 attempts, sent_at, provider, provider_message_id, delivered_at)
             VALUES ($1, $2, $3, $4, '13800000000', '红色预警', $5, 1, now(), 'generic', 'msg-' || $4,
                 CASE WHEN $5 = 'delivered' THEN now() END)
             ON CONFLICT (warning_id, person_id, channel, reason) DO UPDATE SET
                 status = EXCLUDED.status, attempts = 1, sent_at = now(),
                 provider = EXCLUDED.provider, provider_message_id = EXCLUDED.provider_message_id,
                 delivered_at = EXCLUDED.delivered_at, confirmed_at = NULL
             RETURNING id",
        )
        .bind(red)
        .bind(wang)
        .bind(channel)
        .bind(reason)
        .bind(status)
        .fetch_one(pool)
        .await
        .unwrap();
        id
    };
    notification("sms", "red@0", "sent").await;
    let app = notification("app", "red@0", "delivered").await;

    let b = browser().await;
    b.sign_in(&w.base, "gx-duty", PASSWORD).await;
    b.until(
        "the red warning in the feed",
        Duration::from_secs(10),
        &format!("return !!document.querySelector('#feed-list [data-warning=\"{red}\"]')"),
    )
    .await;
    b.click(&format!("#feed-list [data-warning=\"{red}\"]"))
        .await;
    // A channel's delivery row ([status, text]) once `shown` holds of it (`r`).
    let row = |what: &'static str, channel: &'static str, shown: &'static str| {
        let script = format!(
            "const r = document.querySelector('table#deliveries tr[data-channel=\"{channel}\"]'); return r && ({shown}) && [r.dataset.delivery, r.innerText.replace(/\\s+/g, ' ')]"
        );
        let b = &b;
        async move { b.until(what, Duration::from_secs(5), &script).await }
    };
    let sms = row("the SMS row", "sms", "true").await;
    assert_eq!(sms[0], "sent", "{sms}");
    assert!(sms[1].as_str().unwrap().contains("已发出，未回执"), "{sms}");
    // The officer is typing a note: a delivery change must not wipe it.
    b.js("document.getElementById('ack-note').value = '已电话联系王建国'; return true")
        .await;

    // The provider's receipt arrives: the open panel shows it, nobody clicks anything.
    let t0 = std::time::Instant::now();
    let stored =
        geohazard_notify::record_receipt(pool, "generic", "msg-red@0", true, "DELIVRD", None, None)
            .await
            .unwrap();
    assert!(stored.is_some(), "the receipt matches the SMS");
    let sms = row(
        "the SMS shown delivered",
        "sms",
        "r.dataset.delivery === 'delivered'",
    )
    .await;
    assert!(sms[1].as_str().unwrap().contains("已送达"), "{sms}");
    let receipt_shown = t0.elapsed();

    // The person confirms on the app: shown the same way.
    let t1 = std::time::Instant::now();
    let confirmed = receive(
        pool,
        geohazard_domain::PersonId(wang),
        ClientReceipt::Confirmed {
            id: geohazard_domain::NotificationId(app),
        },
    )
    .await
    .unwrap();
    assert!(confirmed.is_some());
    let app_row = row(
        "the app notice shown confirmed",
        "app",
        "r.innerText.includes('已确认收到')",
    )
    .await;
    let confirmation_shown = t1.elapsed();
    // What the panel shows is what the store holds.
    let detail = w.api(&format!("/warnings/{red}")).await;
    let statuses: Vec<&str> = detail["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["status"].as_str().unwrap())
        .collect();
    assert!(statuses.contains(&"delivered"), "{detail}");
    assert!(
        detail["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["channel"] == "app" && !d["confirmed_at"].is_null()),
        "{detail}"
    );
    let note = b
        .js("return document.getElementById('ack-note').value")
        .await;
    assert_eq!(note, "已电话联系王建国", "the note being typed survived");
    println!(
        "receipt shown after {receipt_shown:?}, confirmation after {confirmation_shown:?}: {app_row}"
    );
    b.js("document.getElementById('deliveries').scrollIntoView(); return true")
        .await;
    b.screenshot("warning-deliveries-live").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legend_names_at_close_zoom_a_site_search_and_lists_with_a_period_and_files_in_scope() {
    let _one = ONE_AT_A_TIME.lock().await;
    let w = world().await;
    let pool = &w.store.pool;
    let gx2: i64 = sqlx::query_scalar("SELECT id FROM hazard_sites WHERE code = 'GX-002'")
        .fetch_one(pool)
        .await
        .unwrap();
    let cp1: i64 = sqlx::query_scalar("SELECT id FROM hazard_sites WHERE code = 'CP-001'")
        .fetch_one(pool)
        .await
        .unwrap();
    let red = raise(
        &w,
        w.gx1,
        "threshold:gw-gx1/crack-1",
        WarningLevel::Red,
        threshold_evidence(31.0),
    )
    .await;
    // Raised ten days ago: outside "the last 7 days", inside "the last 30".
    let old = raise(
        &w,
        gx2,
        "threshold:gw-gx2/mud-1",
        WarningLevel::Yellow,
        threshold_evidence(12.0),
    )
    .await;
    sqlx::query(
        "UPDATE warnings SET raised_at = now() - interval '10 days', updated_at = now() - interval '10 days' WHERE id = $1",
    )
    .bind(old)
    .execute(pool)
    .await
    .unwrap();
    // The neighbour county's: never in the Gao officer's lists, search or files.
    let outside = raise(
        &w,
        cp1,
        "threshold:gw-cp1/crack-1",
        WarningLevel::Orange,
        threshold_evidence(22.0),
    )
    .await;

    let b = browser().await;
    b.sign_in(&w.base, "gx-duty", PASSWORD).await;
    // The legend: the four levels in their colours, in words.
    let legend = b
        .until(
            "the map legend",
            Duration::from_secs(10),
            "const l = document.querySelector('.map-legend'); return l && [...l.querySelectorAll('.dot')].map(d => d.className + '=' + d.parentElement.textContent)",
        )
        .await;
    let legend: Vec<String> = serde_json::from_value(legend).unwrap();
    for (level, word) in [
        ("red", "红色"),
        ("orange", "橙色"),
        ("yellow", "黄色"),
        ("blue", "蓝色"),
    ] {
        assert!(
            legend
                .iter()
                .any(|l| l.contains(&format!("lvl-{level}")) && l.ends_with(word)),
            "{level} as {word} in {legend:?}"
        );
    }

    // The search: by part of a name, only sites in scope.
    let search = |text: &str| {
        format!(
            "const i = document.getElementById('site-search'); i.value = {}; i.dispatchEvent(new Event('input')); const r = document.getElementById('site-results'); return !r.hidden && r.innerText",
            json!(text)
        )
    };
    let none = b.js(&search("宋家坝")).await;
    assert!(
        none.as_str().unwrap().contains("没有匹配的隐患点"),
        "the neighbour's site is not found: {none}"
    );
    let found = b.js(&search("月江")).await;
    assert!(
        found
            .as_str()
            .unwrap()
            .contains("高县月江泥石流沟 · GX-002"),
        "{found}"
    );
    let placeholder = b
        .js("return document.getElementById('site-search').placeholder")
        .await;
    assert_eq!(placeholder, "名称或编号");
    b.js("window.__found = null; document.addEventListener('gh:site-found', e => { window.__found = e.detail; }); return true")
        .await;
    b.click("#site-results button[data-code=\"GX-002\"]").await;
    let found = b
        .until(
            "the map on the site found",
            Duration::from_secs(10),
            "return window.__found",
        )
        .await;
    assert!(found["zoom"].as_i64().unwrap() >= 13, "{found}");
    // Close enough: the site's name beside its marker, and the site opened.
    let label = b
        .until(
            "the site's name on the map",
            Duration::from_secs(10),
            "const m = document.querySelector('#map.labels [data-site=\"GX-002\"]'); const l = m && m.parentElement.querySelector('.site-label'); return l && getComputedStyle(l).display !== 'none' && l.getBoundingClientRect().width > 0 && l.textContent",
        )
        .await;
    assert_eq!(label, "高县月江泥石流沟");
    b.until(
        "the site panel",
        Duration::from_secs(10),
        "return document.getElementById('panel').hidden === false && document.getElementById('panel-body').innerText.includes('高县月江泥石流沟')",
    )
    .await;
    b.js("document.getElementById('panel-close').click(); return true")
        .await;
    b.screenshot("map-search-labels").await;
    // Further out, no names.
    for _ in 0..6 {
        b.js("document.querySelector('.leaflet-control-zoom-out').click(); return true")
            .await;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    b.until(
        "no names when zoomed out",
        Duration::from_secs(10),
        "return !document.getElementById('map').classList.contains('labels') && [...document.querySelectorAll('.site-label')].every(l => getComputedStyle(l).display === 'none')",
    )
    .await;

    // The lists: sites in scope with their level and the warnings of the period.
    b.click("#tab-lists").await;
    let sites = b
        .until(
            "the sites list",
            Duration::from_secs(10),
            "const t = document.querySelector('#list-table[data-what=\"sites\"]'); return t && [...t.querySelectorAll('tbody tr')].map(r => r.innerText.replace(/\\s+/g, ' '))",
        )
        .await;
    let sites: Vec<String> = serde_json::from_value(sites).unwrap();
    assert_eq!(sites.len(), 2, "the two Gao sites only: {sites:?}");
    assert!(
        sites[0].contains("GX-001")
            && sites[0].contains("高县庆岭滑坡")
            && sites[0].contains("滑坡")
            && sites[0].contains("红色预警（警报级）"),
        "{sites:?}"
    );
    // GX-002's warning is ten days old: none in the last 7 days.
    assert!(
        sites[1].contains("GX-002") && sites[1].contains(" 0 "),
        "{sites:?}"
    );
    b.screenshot("lists-sites").await;
    b.click("#list-warnings").await;
    let browser = &b;
    let rows = |what: &'static str| async move {
        let v = browser
            .until(
                what,
                Duration::from_secs(10),
                "const t = document.querySelector('#list-table[data-what=\"warnings\"]'); return t && [...t.querySelectorAll('tbody tr')].map(r => r.dataset.warning)",
            )
            .await;
        serde_json::from_value::<Vec<String>>(v).unwrap()
    };
    assert_eq!(rows("the warnings of 7 days").await, [red.to_string()]);
    b.js("const s = document.getElementById('list-period'); s.value = '30d'; s.dispatchEvent(new Event('change')); return true")
        .await;
    b.until(
        "the warnings of 30 days",
        Duration::from_secs(10),
        "return document.querySelectorAll('#list-table[data-what=\"warnings\"] tbody tr').length === 2",
    )
    .await;
    let mut shown = rows("the warnings of 30 days").await;
    shown.sort();
    let mut expected = vec![red.to_string(), old.to_string()];
    expected.sort();
    assert_eq!(shown, expected, "never the neighbour's {outside}");
    let text = b
        .js("return document.getElementById('view-lists').innerText")
        .await;
    let text = text.as_str().unwrap();
    assert!(
        text.contains("北京时间") && text.contains("共 2 条预警") && text.contains("阈值"),
        "{text}"
    );
    b.screenshot("lists-warnings").await;

    // The files: what the list shows, scoped, in Chinese; the links carry no token.
    let href = b
        .js("return document.getElementById('list-export-csv').getAttribute('href')")
        .await;
    let href = href.as_str().unwrap().to_owned();
    assert!(
        href.starts_with("/api/v1/warnings/export?") && !href.contains("token"),
        "{href}"
    );
    let csv = b
        .until(
            "the CSV",
            Duration::from_secs(10),
            &format!(
                "if (!window.__csv) fetch({}).then(r => r.text()).then(t => window.__csv = t); return window.__csv || null",
                json!(href)
            ),
        )
        .await;
    let csv = csv.as_str().unwrap();
    let lines: Vec<&str> = csv.trim_end().split("\r\n").collect();
    assert_eq!(lines.len(), 3, "a heading and two warnings: {csv}");
    // (The byte-order mark is taken off by the browser's decoder.)
    assert!(lines[0].contains("发布时间（北京时间）"), "{}", lines[0]);
    assert!(
        csv.contains("高县庆岭滑坡")
            && csv.contains("红色预警（警报级）")
            && csv.contains("黄色预警（警示级）")
            && csv.contains("待确认")
            && !csv.contains("翠屏区"),
        "{csv}"
    );
    let xlsx = b
        .until(
            "the XLSX",
            Duration::from_secs(10),
            "const a = document.getElementById('list-export-xlsx').getAttribute('href'); if (!window.__xlsx) fetch(a).then(r => r.arrayBuffer()).then(x => window.__xlsx = [...new Uint8Array(x).slice(0, 2)]); return window.__xlsx || null",
        )
        .await;
    assert_eq!(xlsx, json!([80, 75]), "a zip (XLSX) workbook");
    // The sites' file, from the same period.
    b.click("#list-sites").await;
    let sites_csv = b
        .until(
            "the sites CSV",
            Duration::from_secs(10),
            "const a = document.getElementById('list-export-csv').getAttribute('href'); if (!a.startsWith('/api/v1/sites/export')) return null; if (!window.__scsv) fetch(a).then(r => r.text()).then(t => window.__scsv = t); return window.__scsv || null",
        )
        .await;
    let sites_csv = sites_csv.as_str().unwrap();
    assert!(
        sites_csv.contains("GX-002,高县月江泥石流沟,泥石流")
            && sites_csv.contains("黄色预警（警示级）")
            && !sites_csv.contains("CP-001"),
        "{sites_csv}"
    );
    b.close().await;
}
