//! The command-center the API tests talk to: the test kit's world (database, broker), the
//! command-center running on it, and its API as a client sees it.
// Each test file uses a part of it.
#![allow(dead_code)]

use std::ops::Deref;

use geohazard_command_center::{CommandCenterConfig, NewOfficer, Role, Server, add_officer};
use geohazard_protocol::warning::{Summary, Warning, WarningLevel};
use geohazard_testkit::World;
use geohazard_testkit::api::Api;
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

impl Center {
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
        Lifecycle::default()
            .apply(
                &self.store.pool,
                &LevelChange {
                    site_id,
                    source: source.parse().expect("a warning source"),
                    sensor_id: None,
                    level: Some(level),
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
            .expect("a raised warning")
    }
}
