//! The command-center the API tests talk to: the test kit's world (database, broker), the
//! command-center running on it, and its API as a client sees it.
// Each test file uses a part of it.
#![allow(dead_code)]

use std::ops::Deref;

use geohazard_command_center::{CommandCenterConfig, NewOfficer, Role, Server, add_officer};
use geohazard_protocol::warning::{Summary, Warning, WarningLevel};
use geohazard_testkit::World;
use geohazard_testkit::api::Api;
use geohazard_testkit::browser::Browser;
use geohazard_warnings::{Evidence, LevelChange, Lifecycle, rules::Thresholds};

/// Cuiping district: a county-level neighbour of Gao county in the same city.
pub const NEIGHBOUR: &str = "511502";

/// Every test officer's password.
pub const PASSWORD: &str = "correct horse battery";

pub struct Center {
    pub world: World,
    pub server: Server,
    pub api: Api,
}

impl Deref for Center {
    type Target = World;
    fn deref(&self) -> &World {
        &self.world
    }
}

/// A command-center on loopback with the default configuration changed by `configure`.
pub async fn start(configure: impl FnOnce(&mut CommandCenterConfig)) -> Center {
    let world = World::start(16).await;
    let mut config = CommandCenterConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Default::default()
    };
    configure(&mut config);
    let server = geohazard_command_center::start(
        &config,
        world.store.pool.clone(),
        &world.broker.url(),
        world.shutdown.clone(),
    )
    .await
    .expect("the command-center starts");
    let api = Api::new(server.addr);
    Center { world, server, api }
}

/// A command-center on the host's end of `ns`'s pair, with `janus` (running in `ns`) for audio
/// and video, and the rest of the configuration changed by `configure`.
pub async fn start_with_janus(
    ns: &geohazard_testkit::netns::NetNs,
    janus: &geohazard_testkit::netns::Janus,
    configure: impl FnOnce(&mut CommandCenterConfig),
) -> Center {
    let (url, key, host) = (janus.url.clone(), janus.admin_key.clone(), ns.host_ip);
    start(move |c| {
        c.listen = std::net::SocketAddr::from((host, 0));
        c.consult = geohazard_command_center::ConsultSettings {
            janus_url: Some(url),
            janus_admin_key: key.into(),
            ..Default::default()
        };
        configure(c);
    })
    .await
}

/// A command-center over Sichuan → Yibin → Gao and Gao's neighbour Cuiping, with Gao's admin
/// `gao-admin`.
pub async fn with_gao_admin() -> Center {
    let env = start(|_| {}).await;
    env.add_neighbour().await;
    env.officer(
        "gao-admin",
        geohazard_testkit::fixtures::COUNTY,
        Role::Admin,
    )
    .await;
    env
}

/// [`with_gao_admin`] and Cuiping's admin `cp-admin`.
pub async fn with_county_admins() -> Center {
    let env = with_gao_admin().await;
    env.officer("cp-admin", NEIGHBOUR, Role::Admin).await;
    env
}

impl Center {
    /// Headless Chromium on the console signed in as `username`, on the page of `tab` (a
    /// selector such as `#tab-register`).
    pub async fn console(&self, username: &str, tab: &str) -> Browser {
        let b = geohazard_testkit::browser::browser().await;
        b.sign_in(&self.api.console_url(), username, PASSWORD).await;
        b.click(tab).await;
        b
    }
}

/// GeoJSON: a square polygon `d` degrees a side, its south-west corner at (`x`, `y`).
pub fn square(x: f64, y: f64, d: f64) -> serde_json::Value {
    serde_json::json!({"type": "Polygon",
                       "coordinates": [[[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]]})
}

/// GeoJSON: a feature of `geometry` with `props`.
pub fn feature(props: serde_json::Value, geometry: serde_json::Value) -> serde_json::Value {
    serde_json::json!({"type": "Feature", "properties": props, "geometry": geometry})
}

/// GeoJSON: a feature collection.
pub fn collection(features: Vec<serde_json::Value>) -> serde_json::Value {
    serde_json::json!({"type": "FeatureCollection", "features": features})
}

/// Types `text` into the field `id` in place of what it holds.
pub async fn type_into(b: &Browser, id: &str, text: &str) {
    let el = b
        .client
        .find(geohazard_testkit::browser::Locator::Id(id))
        .await
        .unwrap();
    el.clear().await.unwrap();
    el.send_keys(text).await.unwrap();
}

/// An API answer: its status, `ETag` and JSON body (null if it has none).
pub struct Answer {
    pub status: geohazard_testkit::api::StatusCode,
    pub etag: Option<String>,
    pub body: serde_json::Value,
}

impl Center {
    /// Sends `method` to `path` as `token`'s officer, with `If-Match` and a JSON body if given.
    pub async fn send(
        &self,
        method: reqwest::Method,
        token: &str,
        path: &str,
        if_match: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> Answer {
        let mut r = self
            .api
            .http
            .request(method, self.api.url(path))
            .bearer_auth(token);
        if let Some(v) = if_match {
            r = r.header("if-match", v);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.expect("the API answers");
        let status = r.status();
        let etag = r
            .headers()
            .get("etag")
            .map(|v| v.to_str().unwrap().to_owned());
        Answer {
            status,
            etag,
            body: r.json().await.unwrap_or(serde_json::Value::Null),
        }
    }
}

impl Center {
    /// Headless Chromium in `ns` for the media tests: a fake camera, microphone and screen
    /// (getDisplayMedia), granted without asking, and this command-center's plain-HTTP origin
    /// counted as secure.
    pub async fn media_browser(
        &self,
        ns: &geohazard_testkit::netns::NetNs,
    ) -> geohazard_testkit::browser::Browser {
        let origin = format!(
            "--unsafely-treat-insecure-origin-as-secure=http://{}",
            self.api.addr()
        );
        let args = [
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            origin.as_str(),
        ];
        geohazard_testkit::browser::browser_in(ns, &args).await
    }

    /// Adds an officer named "值班员 {username}" with [`PASSWORD`]; returns the officer's id.
    pub async fn officer(&self, username: &str, division: &str, role: Role) -> i64 {
        add_officer(
            &self.store.pool,
            &NewOfficer {
                username,
                display_name: Some(&format!("值班员 {username}")),
                division_code: division,
                role,
                password: PASSWORD,
            },
        )
        .await
        .expect("adding an officer")
        .0
    }

    /// A session token of `username`, signed in with [`PASSWORD`].
    pub async fn login(&self, username: &str) -> String {
        self.api.token(username, PASSWORD).await
    }

    /// Registers Cuiping, Gao's neighbour county, under the same city.
    pub async fn add_neighbour(&self) {
        geohazard_testkit::fixtures::register_divisions(&self.store).await;
        geohazard_store::registry::upsert_division(
            &self.store.pool,
            &geohazard_store::registry::NewDivision {
                code: NEIGHBOUR,
                name: "翠屏区",
                level: geohazard_store::registry::DivisionLevel::County,
                parent_code: Some(geohazard_testkit::fixtures::CITY),
                boundary: None,
            },
        )
        .await
        .unwrap();
    }
}

impl Center {
    /// An open warning on a site at `level`, raised through the warnings' state machine as the
    /// analyzer raises one: crack meter crack-1 reading `mm` against lines at 10/20/30/50 mm.
    pub async fn raise_warning(&self, site_id: i64, level: WarningLevel, mm: f64) -> Warning {
        self.raise_warning_from(site_id, "threshold:crack-1", level, mm)
            .await
    }

    /// An incident in Gao county, opened by `token`'s officer from a red warning on a new site
    /// `code`.
    pub async fn open_incident(&self, token: &str, code: &str) -> i64 {
        let site = geohazard_testkit::fixtures::register_site(&self.store, code).await;
        let warning = self.raise_warning(site, WarningLevel::Red, 52.0).await;
        let (status, body) = self
            .api
            .post(
                token,
                &format!("/warnings/{}/incident", warning.id),
                serde_json::json!({}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_i64().expect("the incident's id")
    }

    /// An open warning on a site at `level` from the rule `source` (e.g. `threshold:mud-1`),
    /// reading `mm` against lines at 10/20/30/50 mm; a second source on one site is a second
    /// warning.
    pub async fn raise_warning_from(
        &self,
        site_id: i64,
        source: &str,
        level: WarningLevel,
        mm: f64,
    ) -> Warning {
        self.crack_reading(site_id, source, Some(level), mm)
            .await
            .expect("a raised warning")
    }

    /// Ends the warning from `source` on a site as the analyzer does when its condition is
    /// over (crack 2 mm, below every line).
    pub async fn close_warning(&self, site_id: i64, source: &str) {
        self.crack_reading(site_id, source, None, 2.0).await;
    }

    /// The analyzer's level change of `source` on a site to `level` on a crack of `mm` against
    /// lines at 10/20/30/50 mm: the warning it leaves open, if any.
    async fn crack_reading(
        &self,
        site_id: i64,
        source: &str,
        level: Option<WarningLevel>,
        mm: f64,
    ) -> Option<Warning> {
        Lifecycle::default()
            .apply(
                &self.store.pool,
                &LevelChange {
                    site_id,
                    source: source.parse().expect("a warning source"),
                    sensor_id: None,
                    level,
                    summary: Summary::new(format!("crack {mm} mm"), format!("裂缝 {mm} mm")),
                    evidence: Evidence::threshold(
                        0,
                        mm,
                        "mm",
                        Thresholds::some(10.0, 20.0, 30.0, 50.0),
                    ),
                    reading_ts: None,
                    failure_forecast: None,
                },
            )
            .await
            .unwrap()
    }
}

impl Center {
    /// The person an officer is.
    pub async fn person_of(&self, officer: i64) -> i64 {
        sqlx::query_scalar("SELECT person_id FROM officers WHERE id = $1")
            .bind(officer)
            .fetch_one(&self.store.pool)
            .await
            .unwrap()
    }

    /// A landslide site "{code} 滑坡" at (104.6, 28.8) in `division` threatening `people`.
    pub async fn landslide(&self, code: &str, division: &str, people: i32) -> i64 {
        geohazard_store::registry::upsert_site(
            &self.store.pool,
            &geohazard_store::registry::NewSite {
                code,
                name: &format!("{code} 滑坡"),
                kind: geohazard_store::registry::SiteKind::Landslide,
                division_code: division,
                location: geo::Point::new(104.6, 28.8),
                threat_zone: None,
                scale_class: None,
                volume_m3: None,
                threatened_people: people,
                threatened_property: 50.0,
            },
        )
        .await
        .unwrap()
    }

    /// PUTs `body`: (status, the JSON answer, or its text as a JSON string).
    pub async fn put(
        &self,
        token: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> (geohazard_testkit::api::StatusCode, serde_json::Value) {
        let r = self
            .api
            .http
            .put(self.api.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        )
    }

    /// POSTs `body` with an `Idempotency-Key`: (status, the `Idempotent-Replayed` header, body).
    pub async fn post_with_key(
        &self,
        token: &str,
        path: &str,
        key: &str,
        body: &serde_json::Value,
    ) -> (
        geohazard_testkit::api::StatusCode,
        Option<String>,
        serde_json::Value,
    ) {
        let r = self
            .api
            .http
            .post(self.api.url(path))
            .bearer_auth(token)
            .header("idempotency-key", key)
            .json(body)
            .send()
            .await
            .unwrap();
        let replayed = r
            .headers()
            .get("idempotent-replayed")
            .map(|v| v.to_str().unwrap().to_owned());
        (
            r.status(),
            replayed,
            r.json().await.unwrap_or(serde_json::Value::Null),
        )
    }
}

impl Center {
    /// A mud-level gauge (m) `gw-rules/mud-1` on a site `code` in Gao, with `values` stored one
    /// every `step_s` seconds from `start`; returns its id.
    pub async fn mud_gauge(
        &self,
        code: &str,
        values: &[f64],
        start: chrono::DateTime<chrono::Utc>,
        step_s: i64,
    ) -> i32 {
        use geohazard_store::registry::{self, NewSensor, SensorKind};
        let site = geohazard_testkit::fixtures::register_site(&self.store, code).await;
        let gateway =
            registry::upsert_gateway(&self.store.pool, "gw-rules", Some(site), "gw", None)
                .await
                .unwrap();
        let sensor = registry::upsert_sensor(
            &self.store.pool,
            &NewSensor {
                gateway_id: gateway,
                channel: "mud-1",
                site_id: site,
                kind: SensorKind::MudLevel,
                unit: "m",
                location: None,
                elevation_m: None,
                depth_m: None,
                sampling_interval_s: step_s as i32,
            },
        )
        .await
        .unwrap();
        let mut rows = geohazard_store::readings::ReadingRows::with_capacity(values.len());
        for (i, v) in values.iter().enumerate() {
            let ts = start + chrono::Duration::seconds(i as i64 * step_s);
            rows.push(sensor, ts, *v, 0);
        }
        geohazard_testkit::fixtures::store_readings(&self.store, &rows).await;
        sensor
    }
}
