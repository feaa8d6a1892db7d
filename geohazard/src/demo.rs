//! The demo: two counties with four hazard sites, their gateways and sensors, registered in the
//! store. Each site's gateway is a real firmware-bridge polling a Modbus TCP sensor simulator
//! that serves what the site's sensors would measure through a rain event and a slope that
//! starts to accelerate. Scenario time runs `time_scale` times faster than the wall clock so
//! that a newcomer sees the story unfold in minutes; readings carry wall-clock timestamps.

use anyhow::Context;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use geohazard::broker::{self, BrokerFiles};
use geohazard_command_center::Role;
use geohazard_command_center::{NewOfficer, add_officer, set_officer_password};
use geohazard_field_sim::{Creep, RainEvent, SensorKind as SimKind};
use geohazard_firmware_bridge::demo as firmware_demo;
use geohazard_firmware_bridge::run_bridge;
use geohazard_firmware_bridge::{SimConfig, SimSource, start_sensor_sim};
use geohazard_store::Store;
use geohazard_store::registry::{
    self, DivisionLevel, NewDivision, NewSensor, NewSite, SensorKind, SiteKind,
};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DemoConfig {
    /// Register the demo sites and run their gateways (firmware-bridges polling simulated sensors).
    pub enabled: bool,
    /// How often the demo gateways poll their sensors, seconds.
    pub interval_secs: f64,
    /// Scenario seconds per wall-clock second.
    pub time_scale: f64,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            enabled: true,
            interval_secs: 5.0,
            time_scale: 60.0,
        }
    }
}

pub struct DemoSensor {
    pub channel: &'static str,
    pub kind: SimKind,
    /// Steady creep, mm/day, and the scenario hour acceleration starts (if it does).
    pub creep: Option<(f64, Option<f64>)>,
    pub rain: bool,
}

pub struct DemoSite {
    pub code: &'static str,
    pub name: &'static str,
    pub kind: SiteKind,
    pub division: &'static str,
    pub lon: f64,
    pub lat: f64,
    pub people: i32,
    pub property: f64,
    pub monitor: (&'static str, &'static str),
    pub gateway: &'static str,
    pub sensors: Vec<DemoSensor>,
}

const fn sensor(channel: &'static str, kind: SimKind) -> DemoSensor {
    DemoSensor {
        channel,
        kind,
        creep: None,
        rain: false,
    }
}

/// The demo county's sites.
pub fn sites() -> Vec<DemoSite> {
    let rain = |channel| DemoSensor {
        rain: true,
        ..sensor(channel, SimKind::RainGauge)
    };
    let wet = |channel, kind| DemoSensor {
        rain: true,
        ..sensor(channel, kind)
    };
    let creeping = |channel, kind, mm_per_day, onset_h| DemoSensor {
        creep: Some((mm_per_day, onset_h)),
        ..sensor(channel, kind)
    };
    vec![
        DemoSite {
            code: "GX-LS-001",
            name: "老君山滑坡",
            kind: SiteKind::Landslide,
            division: "511525",
            lon: 104.52,
            lat: 28.43,
            people: 236,
            property: 1850.0,
            monitor: ("张伟", "13800000001"),
            gateway: "gx-ls001-gw",
            sensors: vec![
                creeping("crack-1", SimKind::CrackMeter, 1.0, Some(2.0)),
                creeping("crack-2", SimKind::CrackMeter, 0.3, None),
                creeping("gnss-1", SimKind::Gnss, 0.8, Some(3.0)),
                creeping("incl-1", SimKind::Inclinometer, 0.5, Some(3.0)),
                wet("piezo-1", SimKind::Piezometer),
                wet("soil-1", SimKind::SoilMoisture),
                rain("rain-1"),
            ],
        },
        DemoSite {
            code: "GX-DF-002",
            name: "石板溪泥石流沟",
            kind: SiteKind::DebrisFlow,
            division: "511525",
            lon: 104.60,
            lat: 28.38,
            people: 412,
            property: 3200.0,
            monitor: ("李娜", "13800000002"),
            gateway: "gx-df002-gw",
            sensors: vec![rain("rain-1"), wet("mud-1", SimKind::MudLevel)],
        },
        DemoSite {
            code: "GX-RF-003",
            name: "杨家岩崩塌",
            kind: SiteKind::Rockfall,
            division: "511525",
            lon: 104.48,
            lat: 28.50,
            people: 58,
            property: 420.0,
            monitor: ("王芳", "13800000003"),
            gateway: "gx-rf003-gw",
            sensors: vec![
                creeping("crack-1", SimKind::CrackMeter, 0.2, None),
                creeping("incl-1", SimKind::Inclinometer, 0.1, None),
            ],
        },
        DemoSite {
            code: "GO-SB-004",
            name: "巡场地面塌陷",
            kind: SiteKind::Subsidence,
            division: "511526",
            lon: 104.72,
            lat: 28.20,
            people: 95,
            property: 760.0,
            monitor: ("陈杰", "13800000004"),
            gateway: "go-sb004-gw",
            sensors: vec![
                creeping("gnss-1", SimKind::Gnss, 0.6, None),
                creeping("gnss-2", SimKind::Gnss, 0.4, None),
            ],
        },
    ]
}

fn rectangle(w: f64, s: f64, e: f64, n: f64) -> geo::Geometry<f64> {
    geo::Geometry::Polygon(geo::Polygon::new(
        geo::LineString::from(vec![(w, s), (e, s), (e, n), (w, n), (w, s)]),
        vec![],
    ))
}

fn store_kind(kind: SimKind) -> SensorKind {
    match kind {
        SimKind::RainGauge => SensorKind::RainGauge,
        SimKind::CrackMeter => SensorKind::CrackMeter,
        SimKind::Gnss => SensorKind::Gnss,
        SimKind::Inclinometer => SensorKind::Inclinometer,
        SimKind::Piezometer => SensorKind::Piezometer,
        SimKind::SoilMoisture => SensorKind::SoilMoisture,
        SimKind::MudLevel => SensorKind::MudLevel,
    }
}

/// A division of the demo: code, name, level, parent, boundary.
type DemoDivision = (
    &'static str,
    &'static str,
    DivisionLevel,
    Option<&'static str>,
    geo::Geometry<f64>,
);

/// The demo's province, city and counties, with rough boundaries.
fn divisions() -> [DemoDivision; 4] {
    [
        (
            "510000",
            "四川省",
            DivisionLevel::Province,
            None,
            rectangle(97.3, 26.0, 108.6, 34.3),
        ),
        (
            "511500",
            "宜宾市",
            DivisionLevel::City,
            Some("510000"),
            rectangle(103.6, 27.8, 105.3, 29.2),
        ),
        (
            "511525",
            "高县",
            DivisionLevel::County,
            Some("511500"),
            rectangle(104.35, 28.25, 104.75, 28.6),
        ),
        (
            "511526",
            "珙县",
            DivisionLevel::County,
            Some("511500"),
            rectangle(104.55, 27.9, 104.95, 28.25),
        ),
    ]
}

/// Registers the demo's divisions, sites, people, gateways and sensors. Idempotent.
pub async fn seed(store: &Store, interval_secs: f64) -> anyhow::Result<()> {
    for (code, name, level, parent, boundary) in divisions() {
        registry::upsert_division(
            &store.pool,
            &NewDivision {
                code,
                name,
                level,
                parent_code: parent,
                boundary: Some(boundary),
            },
        )
        .await?;
    }
    for site in sites() {
        let location = geo::Point::new(site.lon, site.lat);
        let zone = geo::Polygon::new(
            geo::LineString::from(vec![
                (site.lon - 0.004, site.lat - 0.006),
                (site.lon + 0.004, site.lat - 0.006),
                (site.lon + 0.004, site.lat - 0.001),
                (site.lon - 0.004, site.lat - 0.001),
                (site.lon - 0.004, site.lat - 0.006),
            ]),
            vec![],
        );
        let site_id = registry::upsert_site(
            &store.pool,
            &NewSite {
                code: site.code,
                name: site.name,
                kind: site.kind,
                division_code: site.division,
                location,
                threat_zone: Some(zone),
                scale_class: Some("medium"),
                volume_m3: Some(3.5e5),
                threatened_people: site.people,
                threatened_property: site.property,
            },
        )
        .await?;
        // An earlier demo's database named its monitors in pinyin: the same person, renamed.
        sqlx::query("UPDATE people SET name = $1 WHERE phone = $2 AND name ~ '^[A-Za-z ]+$'")
            .bind(site.monitor.0)
            .bind(site.monitor.1)
            .execute(&store.pool)
            .await?;
        registry::add_responsible(
            &store.pool,
            site_id,
            site.monitor.0,
            site.monitor.1,
            site.division,
            "monitor",
        )
        .await?;
        let gateway_id =
            registry::upsert_gateway(&store.pool, site.gateway, Some(site_id), site.name, None)
                .await?;
        // The bridge also reads the gateway's supply voltage.
        registry::upsert_sensor(
            &store.pool,
            &NewSensor {
                gateway_id,
                channel: "supply-v",
                site_id,
                kind: SensorKind::SupplyVoltage,
                unit: "V",
                location: Some(location),
                elevation_m: None,
                depth_m: None,
                sampling_interval_s: interval_secs.max(10.0).ceil() as i32,
            },
        )
        .await?;
        for s in &site.sensors {
            registry::upsert_sensor(
                &store.pool,
                &NewSensor {
                    gateway_id,
                    channel: s.channel,
                    site_id,
                    kind: store_kind(s.kind),
                    unit: s.kind.unit(),
                    location: Some(location),
                    elevation_m: None,
                    depth_m: None,
                    sampling_interval_s: interval_secs.ceil().max(1.0) as i32,
                },
            )
            .await?;
        }
    }
    Ok(())
}

/// The rain event every rain-sensitive demo sensor sees (scenario time).
const RAIN: RainEvent = RainEvent {
    start_s: 1800.0,
    duration_s: 6.0 * 3600.0,
    peak_mm_per_h: 35.0,
};

/// The simulator's register map for a site, with the site's story (rain, creep) in each point.
/// The demo's officer signs in with this name.
pub const OFFICER: &str = "duty";
/// The name the console shows for the demo's officer.
pub const OFFICER_NAME: &str = "演示值班员";

/// Where the demo officer's password is kept, below the data folder.
pub fn officer_credentials(data_dir: &Path) -> PathBuf {
    data_dir.join("demo-officer.txt")
}

/// Makes sure the demo's officer exists: `duty`, admin of the province, with a password
/// generated on first run (never a fixed one, even in a demo) and written, readable by the owner
/// only, to the credentials file. A lost file means a new password.
pub async fn ensure_officer(store: &Store, data_dir: &Path, api: SocketAddr) -> anyhow::Result<()> {
    let file = officer_credentials(data_dir);
    // An earlier demo named its officer in English.
    sqlx::query(
        "UPDATE officers SET display_name = $2 WHERE username = $1 AND display_name = 'Demo duty officer'",
    )
    .bind(OFFICER)
    .bind(OFFICER_NAME)
    .execute(&store.pool)
    .await?;
    if !file.exists() {
        let password = registry::new_secret(20);
        if !set_officer_password(&store.pool, OFFICER, &password).await? {
            add_officer(
                &store.pool,
                &NewOfficer {
                    username: OFFICER,
                    display_name: Some(OFFICER_NAME),
                    division_code: "510000",
                    role: Role::Admin,
                    password: &password,
                },
            )
            .await?;
        }
        std::fs::create_dir_all(data_dir)?;
        let mut options = std::fs::OpenOptions::new();
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut out = options
            .write(true)
            .create(true)
            .truncate(true)
            .open(&file)?;
        std::io::Write::write_all(
            &mut out,
            format!("username: {OFFICER}\npassword: {password}\n").as_bytes(),
        )?;
    }
    tracing::info!(
        api = %format!("http://{api}/api/v1"),
        username = OFFICER,
        password_file = %file.display(),
        "the command-center API is up; sign in with POST /api/v1/login"
    );
    Ok(())
}

fn sim_config(site: &DemoSite, interval_secs: f64, time_scale: f64) -> SimConfig {
    let sensors: Vec<(String, SimKind)> = site
        .sensors
        .iter()
        .map(|s| (s.channel.to_owned(), s.kind))
        .collect();
    let mut points = firmware_demo::sim_points(&sensors, interval_secs);
    for (point, s) in points.iter_mut().zip(&site.sensors) {
        let rain = s.rain.then_some(RAIN);
        match &mut point.source {
            SimSource::Sensor {
                rain: r, creep: c, ..
            } => {
                *r = rain;
                *c = s.creep.map(|(mm_per_day, onset_h)| Creep {
                    steady_mm_per_day: mm_per_day,
                    onset_s: onset_h.map(|h| h * 3600.0).unwrap_or(f64::INFINITY),
                    efold_s: 1.5 * 3600.0,
                });
            }
            SimSource::RainCounter { rain: r, .. } => *r = rain,
            _ => {}
        }
    }
    SimConfig {
        listen: "127.0.0.1:0".into(),
        speed: time_scale,
        tick_ms: 200,
        points,
    }
}

/// Runs every demo site's sensor simulator and firmware-bridge until `shutdown`.
pub async fn run_gateways(
    store: Store,
    mqtt_url: String,
    broker_files: Option<BrokerFiles>,
    config: DemoConfig,
    data_dir: PathBuf,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut bridges = tokio::task::JoinSet::new();
    let mut simulators = Vec::new();
    let mut configs = Vec::new();
    for site in sites() {
        let sim = sim_config(&site, config.interval_secs, config.time_scale);
        let handle = start_sensor_sim(sim.clone()).await?;
        let mut bridge = sim.bridge_config(
            site.gateway,
            handle.addr(),
            &mqtt_url,
            data_dir.join("bridges").join(site.gateway),
        );
        // Each demo gateway signs in with its own key and its code as client id, like a real one
        // (a new key each run).
        let key = registry::issue_gateway_key(&store.pool, site.gateway)
            .await?
            .with_context(|| format!("demo gateway {} is not registered", site.gateway))?;
        bridge.mqtt.client_id = Some(site.gateway.to_owned());
        bridge.mqtt.username = Some(site.gateway.to_owned());
        if let Some(files) = &broker_files {
            broker::add_to_mosquitto_passwd(&files.gateways_passwd(), site.gateway, &key)?;
        }
        bridge.mqtt.password = Some(key.into());
        simulators.push(handle);
        configs.push(bridge);
    }
    // The all-in-one's broker knows the new keys before the gateways connect with them.
    if let Some(files) = &broker_files {
        broker::reload(&files.pid_file())?;
    }
    for bridge in configs {
        bridges.spawn(run_bridge(bridge, shutdown.clone()));
    }
    tracing::info!(
        gateways = simulators.len(),
        "demo gateways: firmware-bridges polling Modbus sensor simulators"
    );
    while let Some(done) = bridges.join_next().await {
        done??;
    }
    drop(simulators);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_names_its_province_sites_people_and_officer_in_chinese() {
        let latin = |s: &str| s.chars().any(|c| c.is_ascii_alphabetic());
        for (_, name, ..) in divisions() {
            assert!(!latin(name), "{name}");
        }
        for site in sites() {
            assert!(!latin(site.name), "{}", site.name);
            assert!(!latin(site.monitor.0), "{}", site.monitor.0);
        }
        assert!(!latin(OFFICER_NAME));
    }
}
