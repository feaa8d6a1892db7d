//! The field app and the console together in two headless Chromium sessions, the app in phone
//! emulation: a red warning → an incident opened from it on the console → a task dispatched to
//! the nearest team → the app confirms the alert, accepts the task, reports positions (the
//! phone's GPS through DevTools) and marks on site → the console shows each. And the app's
//! queue: a change made with the link cut is delivered once when it returns, even when the
//! first send's answer is lost on the way back.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Center, PASSWORD};
use geohazard_command_center::Role;
use geohazard_protocol::warning::WarningLevel;
use geohazard_store::registry::{self, NewSite, SiteKind};
use geohazard_testkit::api::StatusCode;
use geohazard_testkit::browser::{Browser, browser};
use geohazard_testkit::fixtures::COUNTY;
use geohazard_testkit::publish_warning;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const WAIT: Duration = Duration::from_secs(20);

/// A site at (104.6, 28.8) with `person` answering for it; returns its id.
async fn site(env: &Center, code: &str, person: i64) -> i64 {
    let id = registry::upsert_site(
        &env.store.pool,
        &NewSite {
            code,
            name: "高县白岩滑坡",
            kind: SiteKind::Landslide,
            division_code: COUNTY,
            location: geo::Point::new(104.6, 28.8),
            threat_zone: Some(geo::Polygon::new(
                geo::LineString::from(vec![
                    (104.595, 28.795),
                    (104.605, 28.795),
                    (104.605, 28.805),
                    (104.595, 28.805),
                ]),
                vec![],
            )),
            scale_class: Some("medium"),
            volume_m3: None,
            threatened_people: 260,
            threatened_property: 900.0,
        },
    )
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO site_responsibles (site_id, person_id, role) VALUES ($1, $2, 'engineer')",
    )
    .bind(id)
    .bind(person)
    .execute(&env.store.pool)
    .await
    .unwrap();
    id
}

/// A Chromium session as a phone: 390 × 844 CSS pixels, touch, a phone's user agent, the
/// page allowed to read its (emulated) position.
async fn phone(base: &str) -> Browser {
    let b = browser().await;
    b.client.goto(&format!("{base}app/")).await.unwrap();
    b.cdp(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": true}),
    )
    .await;
    b.cdp(
        "Emulation.setTouchEmulationEnabled",
        json!({"enabled": true, "maxTouchPoints": 5}),
    )
    .await;
    b.cdp(
        "Emulation.setUserAgentOverride",
        json!({"userAgent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120 Mobile Safari/537.36"}),
    )
    .await;
    b.cdp(
        "Browser.grantPermissions",
        json!({"origin": base.trim_end_matches('/'), "permissions": ["geolocation"]}),
    )
    .await;
    b
}

/// The phone's GPS says it is at (lon, lat).
async fn gps(b: &Browser, lon: f64, lat: f64) {
    b.cdp(
        "Emulation.setGeolocationOverride",
        json!({"longitude": lon, "latitude": lat, "accuracy": 8}),
    )
    .await;
}

/// Cuts (DevTools offline) or restores the phone's link.
async fn offline(b: &Browser, cut: bool) {
    b.cdp("Network.enable", json!({})).await;
    b.cdp(
        "Network.emulateNetworkConditions",
        json!({"offline": cut, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}),
    )
    .await;
}

async fn app_sign_in(b: &Browser, base: &str, username: &str) {
    b.submit_sign_in(&format!("{base}app/"), username, PASSWORD)
        .await;
    b.until(
        "the app signed in",
        WAIT,
        "return !document.getElementById('main').hidden",
    )
    .await;
}

/// Waits until the console's incident view shows a task in `status`; returns how long it took
/// from `since`.
async fn console_shows_task(console: &Browser, status: &str, since: Instant) -> Duration {
    console
        .until(
            &format!("the console showing the task {status}"),
            WAIT,
            &format!(
                "return !!document.querySelector('#incident-tasks tr[data-status=\"{status}\"]')"
            ),
        )
        .await;
    since.elapsed()
}

#[tokio::test]
async fn a_red_warning_becomes_an_incident_a_dispatched_task_and_a_team_on_site_seen_from_both_browsers()
 {
    let env = common::start(|_| {}).await;
    let duty = env.officer("duty", COUNTY, Role::DutyOfficer).await;
    let _ = duty;
    let near = env.officer("zhang", COUNTY, Role::FieldStaff).await;
    let far = env.officer("li", COUNTY, Role::FieldStaff).await;
    let s = site(&env, "GAO-BY-01", env.person_of(near).await).await;
    let token = env.login("duty").await;
    for (name, base, member) in [
        ("县应急救援一队", [104.62, 28.79], near),
        ("县应急救援二队", [105.2, 29.1], far),
    ] {
        let (status, body) = env
            .api
            .post(&token, "/teams", json!({"division": COUNTY, "name": name, "kind": "rescue", "base": base, "members": [member]}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let base = env.api.console_url();

    // The console, signed in; the analyzer's red warning arrives on it.
    let console = browser().await;
    console.sign_in(&base, "duty", PASSWORD).await;
    let app = phone(&base).await;
    app_sign_in(&app, &base, "zhang").await;
    let w = env.raise_warning(s, WarningLevel::Red, 52.0).await;
    let bus = env.publisher("test-analyzer").await;
    publish_warning(&bus, &w).await;
    console
        .until(
            "the red warning on the console",
            WAIT,
            &format!(
                "return !!document.querySelector('#feed-list [data-warning=\"{}\"]')",
                w.id
            ),
        )
        .await;

    // One action on the console opens the incident.
    console
        .click(&format!("#feed-list [data-warning=\"{}\"]", w.id))
        .await;
    console.click("#open-incident").await;
    console
        .until("the incident view", WAIT, "const s = document.getElementById('incident-status'); return s && s.dataset.status === 'open'")
        .await;
    // The nearest team is suggested first; it gets the task.
    let first = console
        .until("the nearest teams", WAIT, "const r = document.querySelector('#incident-nearest tr[data-team]'); return r && r.textContent")
        .await;
    assert!(
        first.as_str().unwrap().contains("县应急救援一队"),
        "{first}"
    );
    console.click("#incident-nearest [data-dispatch]").await;
    console_shows_task(&console, "assigned", Instant::now()).await;
    console
        .until(
            "the incident responding",
            WAIT,
            "return document.getElementById('incident-status').dataset.status === 'responding'",
        )
        .await;

    // The field app: the alert (the app channel), confirmed.
    app.until(
        "the alert on the phone",
        WAIT,
        "return !!document.querySelector('[data-confirm]')",
    )
    .await;
    app.click("[data-confirm]").await;
    let mut confirmed = 0;
    for _ in 0..400 {
        confirmed = sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM notifications n JOIN officers o ON o.person_id = n.person_id
             WHERE o.username = 'zhang' AND n.channel = 'app' AND n.confirmed_at IS NOT NULL",
        )
        .fetch_one(&env.store.pool)
        .await
        .unwrap();
        if confirmed > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(confirmed, 1, "the alert's confirmation is stored");

    // The task: accepted on the phone, seen on the console.
    app.until(
        "the task on the phone",
        WAIT,
        "return !!document.querySelector('[data-task] [data-move=\"accepted\"]')",
    )
    .await;
    app.screenshot("field-app-task-assigned").await;
    let t0 = Instant::now();
    app.click("[data-move=\"accepted\"]").await;
    let accepted_in = console_shows_task(&console, "accepted", t0).await;

    // On the way: the phone's positions move on the console.
    let mut moved_in = vec![];
    for (lon, lat) in [(104.615, 28.792), (104.61, 28.796), (104.603, 28.799)] {
        let t0 = Instant::now();
        gps(&app, lon, lat).await;
        console
            .until(
                "the position on the console",
                WAIT,
                &format!("const p = document.querySelector('#incident-positions li'); return p && Math.abs(Number(p.dataset.lon) - {lon}) < 1e-9"),
            )
            .await;
        moved_in.push(t0.elapsed());
        // The app sends at most one position every 3 s.
        tokio::time::sleep(Duration::from_millis(3100)).await;
    }
    app.click("[data-move=\"en_route\"]").await;
    console_shows_task(&console, "en_route", Instant::now()).await;
    let t0 = Instant::now();
    app.click("[data-move=\"on_site\"]").await;
    let on_site_in = console_shows_task(&console, "on_site", t0).await;
    println!(
        "console showed: accepted after {accepted_in:?}, positions after {moved_in:?}, on site after {on_site_in:?}"
    );

    app.until(
        "the task on site on the phone",
        WAIT,
        "return !!document.querySelector('[data-task][data-status=\"on_site\"]')",
    )
    .await;
    app.screenshot("field-app-on-site").await;
    console.screenshot("console-incident-on-site").await;
    let timeline = console
        .js("return document.getElementById('incident-timeline').textContent")
        .await;
    let timeline = timeline.as_str().unwrap();
    for expected in ["由预警启动事件", "派发任务", "已接受", "在途", "已到场"] {
        assert!(timeline.contains(expected), "{expected} in {timeline}");
    }
    // Every change audited: the opening, the dispatch, the phone's three moves.
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE action LIKE 'incident.%' OR action LIKE 'task.%' ORDER BY id",
    )
    .fetch_all(&env.store.pool)
    .await
    .unwrap();
    assert_eq!(
        actions,
        [
            "incident.open",
            "task.dispatch",
            "task.status",
            "task.status",
            "task.status"
        ]
    );
    bus.shutdown().await;
    app.close().await;
    console.close().await;
}

/// A TCP proxy to `upstream` that, once armed, forwards the next request whose head contains
/// `marker` and then drops the connection instead of passing the answer back: the server did
/// the work, the phone never heard.
struct LossyProxy {
    port: u16,
    armed: Arc<AtomicBool>,
}

impl LossyProxy {
    async fn start(upstream: std::net::SocketAddr, marker: &'static str) -> LossyProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let armed = Arc::new(AtomicBool::new(false));
        let flag = armed.clone();
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let flag = flag.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    pipe(client, server, flag, marker).await;
                });
            }
        });
        LossyProxy { port, armed }
    }
}

async fn pipe(client: TcpStream, server: TcpStream, armed: Arc<AtomicBool>, marker: &str) {
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let dropping = Arc::new(AtomicBool::new(false));
    let d = dropping.clone();
    let up = async move {
        let mut buf = vec![0; 65536];
        loop {
            let n = match cr.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if String::from_utf8_lossy(&buf[..n]).contains(marker)
                && armed.swap(false, Ordering::SeqCst)
            {
                d.store(true, Ordering::SeqCst);
            }
            if sw.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    let down = async move {
        let mut buf = vec![0; 65536];
        loop {
            let n = match sr.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if dropping.load(Ordering::SeqCst) {
                // The answer is lost: the connection ends without it.
                return;
            }
            if cw.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    };
    tokio::select! { _ = up => {}, _ = down => {} }
}

#[tokio::test]
async fn a_change_made_offline_is_delivered_once_when_the_link_returns_even_when_the_first_answer_is_lost()
 {
    let env = common::start(|_| {}).await;
    env.officer("duty", COUNTY, Role::DutyOfficer).await;
    let zhang = env.officer("zhang", COUNTY, Role::FieldStaff).await;
    let s = site(&env, "GAO-BY-02", env.person_of(zhang).await).await;
    let token = env.login("duty").await;
    let w = env.raise_warning(s, WarningLevel::Red, 52.0).await;
    let (_, incident) = env
        .api
        .post(&token, &format!("/warnings/{}/incident", w.id), json!({}))
        .await;
    let (_, team) = env
        .api
        .post(&token, "/teams", json!({"division": COUNTY, "name": "一队", "kind": "monitoring", "base": [104.62, 28.79], "members": [zhang]}))
        .await;
    let (_, task) = env
        .api
        .post(
            &token,
            &format!("/incidents/{}/tasks", incident["id"]),
            json!({"team": team["id"], "title": "裂缝巡查"}),
        )
        .await;
    let task = task["id"].as_i64().unwrap();
    let proxy = LossyProxy::start(env.server.addr, "/status HTTP/1.1").await;
    let base = format!("http://127.0.0.1:{}/", proxy.port);
    let app = phone(&base).await;
    app_sign_in(&app, &base, "zhang").await;
    app.until(
        "the task on the phone",
        WAIT,
        "return !!document.querySelector('[data-move=\"accepted\"]')",
    )
    .await;

    // The link is cut (DevTools offline); the change waits on the phone.
    offline(&app, true).await;
    app.click("[data-move=\"accepted\"]").await;
    app.until(
        "the change queued",
        WAIT,
        "return document.getElementById('queue').dataset.count === '1'",
    )
    .await;
    // The last tasks still show without the link, even after a reload.
    app.client.refresh().await.unwrap();
    app.until(
        "the kept task offline",
        WAIT,
        &format!(
            "return !!document.querySelector('[data-task=\"{task}\"][data-status=\"accepted\"]')"
        ),
    )
    .await;
    app.screenshot("field-app-offline-queued").await;
    let stored = |env: &Center| {
        let pool = env.store.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM task_events WHERE task_id = $1 AND to_status = 'accepted'",
            )
            .bind(task)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    assert_eq!(stored(&env).await, 0);

    // The link returns; the first send's answer is lost; the phone sends again with its key.
    proxy.armed.store(true, Ordering::SeqCst);
    offline(&app, false).await;
    app.until(
        "the queue empty",
        Duration::from_secs(40),
        "return document.getElementById('queue').dataset.count === '0'",
    )
    .await;
    assert!(
        !proxy.armed.load(Ordering::SeqCst),
        "the first answer was lost on the way"
    );
    assert_eq!(stored(&env).await, 1, "done once");
    let keys: i64 = sqlx::query_scalar("SELECT count(*) FROM idempotency_keys")
        .fetch_one(&env.store.pool)
        .await
        .unwrap();
    assert!(keys >= 1);
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'task.status'")
            .fetch_one(&env.store.pool)
            .await
            .unwrap();
    assert_eq!(audited, 1);
    let (_, now) = env.api.get(&token, &format!("/tasks/{task}")).await;
    assert_eq!(now["status"], "accepted", "{now}");
    let _: Value = app.js("return true").await;
    app.close().await;
}

/// The plan of the card tests: two contacts, a route, an assembly point, the signal.
fn plan_body() -> Value {
    json!({
        "contacts": [
            {"name": "王建国", "role": "村监测员", "phone": "13800001111"},
            {"name": "李春梅", "role": "乡镇分管领导", "phone": "0831-5621234"},
            {"name": "县自然资源局值班室", "role": "县级值班", "phone": "0831-5620000"}
        ],
        "routes": {"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"name": "沿村道向东经白岩小学至新村广场（约 800 米）"},
             "geometry": {"type": "LineString", "coordinates": [[104.6, 28.8], [104.604, 28.801], [104.608, 28.803]]}}
        ]},
        "assembly_points": [{"name": "新村广场", "longitude": 104.608, "latitude": 28.803, "capacity": 300}],
        "signal": "鸣锣三长声并用广播喊话“山体滑坡，立即撤离”",
        "resources": "村委会备有应急照明 20 套、帐篷 10 顶、急救箱 2 个"
    })
}

/// The number of pages of a PDF: its page tree's `/Count`.
fn pdf_pages(pdf: &[u8]) -> usize {
    let text = String::from_utf8_lossy(pdf);
    text.matches("/Type /Page").count() - text.matches("/Type /Pages").count()
}

fn base64_decode(s: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=' && c != b'\n').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let v: Vec<u32> = chunk.iter().map(|&c| u32::from(value(c))).collect();
        let n = v
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, x)| acc | (x << (18 - 6 * i)));
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

#[tokio::test]
async fn the_prevention_card_prints_on_one_a4_page_in_chinese() {
    let env = common::start(|_| {}).await;
    env.officer("duty", COUNTY, Role::DutyOfficer).await;
    let zhang = env.officer("zhang", COUNTY, Role::FieldStaff).await;
    let s = site(&env, "GAO-BY-03", env.person_of(zhang).await).await;
    let token = env.login("duty").await;
    let (status, body) = env
        .put(&token, &format!("/sites/{s}/plan"), &plan_body())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let base = env.api.console_url();
    let b = browser().await;
    b.sign_in(&base, "duty", PASSWORD).await;
    b.client
        .goto(&format!("{base}api/v1/sites/{s}/card"))
        .await
        .unwrap();
    let text = b.js("return document.body.innerText").await;
    let text = text.as_str().unwrap();
    for expected in [
        "地质灾害防灾避险明白卡",
        "高县白岩滑坡",
        "鸣锣三长声",
        "新村广场",
        "13800001111",
        "260 人",
    ] {
        assert!(text.contains(expected), "{expected} in {text}");
    }
    b.screenshot("prevention-card").await;
    let printed = b
        .cdp(
            "Page.printToPDF",
            json!({"preferCSSPageSize": true, "printBackground": true}),
        )
        .await;
    let pdf = base64_decode(printed["data"].as_str().unwrap());
    assert!(pdf.starts_with(b"%PDF"), "a PDF");
    assert_eq!(pdf_pages(&pdf), 1, "one A4 page");
    b.close().await;
}

/// The console's page as a photo the phone "takes": a real PNG of a few hundred KB, scaled down
/// and sent as JPEG by the app. Returns its path (kept by `dir`).
async fn photo_file(console: &Browser, dir: &tempfile::TempDir) -> std::path::PathBuf {
    let shot = console
        .cdp("Page.captureScreenshot", json!({"format": "png"}))
        .await;
    let png = base64_decode(shot["data"].as_str().unwrap());
    assert!(png.starts_with(b"\x89PNG"));
    let path = dir.path().join("现场.png");
    std::fs::write(&path, png).unwrap();
    path
}

#[tokio::test]
async fn a_report_with_a_photo_and_a_patrol_made_offline_reach_the_console_once_even_when_the_first_answer_is_lost()
 {
    let env = common::start(|_| {}).await;
    env.officer("duty", COUNTY, Role::DutyOfficer).await;
    let wang = env.officer("wang", COUNTY, Role::VillageMonitor).await;
    let s = site(&env, "GAO-BY-04", env.person_of(wang).await).await;
    let token = env.login("duty").await;
    let (status, body) = env
        .put(
            &token,
            &format!("/sites/{s}/patrol-schedule"),
            &json!({"interval_hours": 24, "season": [], "monitor": wang,
                    "items": ["cracks", "bulging", "spring_turbidity", "signs_and_route"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let base = env.api.console_url();

    // The console on its field page: no reports yet, the site due.
    let console = browser().await;
    console.sign_in(&base, "duty", PASSWORD).await;
    console.click("#tab-field").await;
    console
        .until(
            "the coverage on the console",
            WAIT,
            "return !!document.querySelector('#patrol-divisions tr[data-due=\"1\"][data-done=\"0\"]')",
        )
        .await;
    let dir = tempfile::tempdir().unwrap();
    let photo = photo_file(&console, &dir).await;

    // The monitor's phone, through a link that loses the first report's answer.
    let proxy = LossyProxy::start(env.server.addr, "/field-reports HTTP/1.1").await;
    let phone_base = format!("http://127.0.0.1:{}/", proxy.port);
    let app = phone(&phone_base).await;
    gps(&app, 104.6012, 28.8008).await;
    app_sign_in(&app, &phone_base, "wang").await;
    app.until(
        "the site to patrol on the phone",
        WAIT,
        &format!("return !!document.querySelector('[data-patrol=\"{s}\"]')"),
    )
    .await;

    // The link is cut; the report is written, photographed and queued on the phone.
    offline(&app, true).await;
    app.click("#report-open").await;
    app.js(&format!(
        "document.getElementById('report-site').value = '{s}';
         document.getElementById('report-kind').value = 'landslide';
         document.getElementById('report-text').value = '后山新裂缝约5米，坡脚有落石';
         document.getElementById('report-people').value = '12';
         return true"
    ))
    .await;
    app.client
        .find(geohazard_testkit::browser::Locator::Id("report-photo"))
        .await
        .unwrap()
        .send_keys(photo.to_str().unwrap())
        .await
        .unwrap();
    app.until(
        "the position on the form",
        WAIT,
        "return document.getElementById('report-where').textContent.includes('104.60120')",
    )
    .await;
    app.until(
        "the photo shown on the form",
        WAIT,
        "const img = document.getElementById('report-preview'); return !img.hidden && img.complete && img.naturalWidth > 0",
    )
    .await;
    app.js("document.getElementById('report-preview').scrollIntoView(); return true")
        .await;
    app.screenshot("field-app-report-form").await;
    app.click("#report-form button[type=submit]").await;
    app.until(
        "the report queued",
        WAIT,
        "return document.getElementById('queue').dataset.count === '1'",
    )
    .await;
    // The patrol too: each item answered on the phone.
    app.click(&format!("[data-patrol=\"{s}\"]")).await;
    for item in ["cracks", "bulging", "spring_turbidity", "signs_and_route"] {
        let answer = if item == "cracks" { "bad" } else { "ok" };
        app.click(&format!("[data-answer=\"{answer}\"][data-for=\"{item}\"]"))
            .await;
    }
    app.js("document.getElementById('patrol-note').value = '东侧裂缝加宽'; return true")
        .await;
    app.screenshot("field-app-patrol-checklist").await;
    app.click("#patrol-send").await;
    app.until(
        "the patrol queued",
        WAIT,
        "return document.getElementById('queue').dataset.count === '2'",
    )
    .await;
    app.screenshot("field-app-offline-report-and-patrol").await;
    let reports = |env: &Center| {
        let pool = env.store.pool.clone();
        async move {
            let n: (i64, i64, i64) = sqlx::query_as(
                "SELECT (SELECT count(*) FROM field_reports), (SELECT count(*) FROM patrols),
                        (SELECT count(*) FROM field_photos)",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            n
        }
    };
    assert_eq!(reports(&env).await, (0, 0, 0), "nothing left the phone");

    // The link returns; the report's first answer is lost; the phone sends again with its key.
    proxy.armed.store(true, Ordering::SeqCst);
    let t0 = Instant::now();
    offline(&app, false).await;
    console
        .until(
            "the report on the console",
            Duration::from_secs(40),
            "const r = document.querySelectorAll('#field-reports [data-report]'); const img = document.querySelector('#field-reports [data-report] img[data-photo]'); return r.length === 1 && img && img.complete && img.naturalWidth > 0",
        )
        .await;
    println!(
        "the report reached the console {:?} after the link returned",
        t0.elapsed()
    );
    app.until(
        "the queue empty",
        Duration::from_secs(40),
        "return document.getElementById('queue').dataset.count === '0'",
    )
    .await;
    assert!(
        !proxy.armed.load(Ordering::SeqCst),
        "the first answer was lost on the way"
    );
    console
        .until(
            "the patrol on the console",
            WAIT,
            "return !!document.querySelector('#patrol-divisions tr[data-due=\"1\"][data-done=\"1\"]')",
        )
        .await;
    assert_eq!(
        reports(&env).await,
        (1, 1, 1),
        "each once, the report's photo stored"
    );
    let text = console
        .js("return document.getElementById('field-reports').textContent")
        .await;
    let text = text.as_str().unwrap();
    for expected in [
        "滑坡",
        "后山新裂缝约5米",
        "受威胁 12 人",
        "高县白岩滑坡",
        "值班员 wang",
    ] {
        assert!(text.contains(expected), "{expected} in {text}");
    }
    // What the phone sent is a JPEG the server checked, scaled to at most 1600 px.
    let (kind, size): (String, i32) =
        sqlx::query_as("SELECT content_type, length(bytes) FROM field_photos")
            .fetch_one(&env.store.pool)
            .await
            .unwrap();
    assert_eq!(kind, "image/jpeg");
    assert!(size < 1024 * 1024, "{size} bytes");
    let (answers, anomalies, lon): (Value, i32, f64) =
        sqlx::query_as("SELECT answers, anomalies, longitude FROM patrols")
            .fetch_one(&env.store.pool)
            .await
            .unwrap();
    assert_eq!(anomalies, 1, "{answers}");
    assert!((lon - 104.6012).abs() < 1e-9);
    let audited: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE action IN ('field.report', 'patrol.report') ORDER BY id",
    )
    .fetch_all(&env.store.pool)
    .await
    .unwrap();
    assert_eq!(audited, ["field.report", "patrol.report"]);
    app.screenshot("field-app-report-sent").await;
    console.screenshot("console-field-reports").await;
    app.close().await;
    console.close().await;
}

#[tokio::test]
async fn field_staff_join_a_consultation_from_the_field_app_and_the_duty_room_hears_them() {
    let env = common::start(|_| {}).await;
    env.officer("duty", COUNTY, Role::DutyOfficer).await;
    env.officer("zhang", COUNTY, Role::FieldStaff).await;
    let duty = env.login("duty").await;
    let (status, room) = env
        .api
        .post(
            &duty,
            "/consult/rooms",
            json!({"title": "庆岭滑坡现场会商"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{room}");
    let room = room["id"].as_i64().unwrap();
    // The duty room is in the room.
    let (mut duty_room, _) = tokio_tungstenite::connect_async(
        env.api
            .ws_request(&format!("/consult/rooms/{room}/socket"), &duty),
    )
    .await
    .expect("the duty officer's room socket");

    // The phone lists the open room and enters it: the console's consultation page, laid out
    // for the phone, on the app's own session.
    let base = env.api.console_url();
    let app = phone(&base).await;
    app_sign_in(&app, &base, "zhang").await;
    let link = format!("#rooms [data-room=\"{room}\"] a");
    app.until(
        "the room in the app",
        WAIT,
        &format!("return !!document.querySelector('{link}')"),
    )
    .await;
    app.screenshot("field-app-consult").await;
    app.click(&link).await;
    app.until(
        "the room on the phone",
        WAIT,
        &format!(
            "return !!document.querySelector('#consult-room[data-room=\"{room}\"]') && getComputedStyle(document.getElementById('consult-room')).gridTemplateColumns.split(' ').length === 1"
        ),
    )
    .await;
    app.js(
        "document.getElementById('consult-chat-text').value = '现场裂缝已扩展到 8 米'; return true",
    )
    .await;
    app.click("#consult-chat-send").await;

    // The duty room hears the field, from the store's log of the room.
    let heard = tokio::time::timeout(WAIT, async {
        loop {
            let m = geohazard_testkit::api::next_json(&mut duty_room).await;
            if m["type"] == "event" && m["event"]["kind"] == "chat" {
                return m["event"].clone();
            }
        }
    })
    .await
    .expect("the chat within 20 s");
    assert_eq!(heard["body"]["text"], "现场裂缝已扩展到 8 米", "{heard}");
    assert_eq!(heard["officer_name"], "值班员 zhang", "{heard}");
    app.until(
        "the chat on the phone",
        WAIT,
        "return document.getElementById('consult-log').innerText.includes('现场裂缝已扩展到 8 米')",
    )
    .await;
    app.screenshot("field-app-consult-room").await;
    app.close().await;
}
