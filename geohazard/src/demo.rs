//! The demo: a county with four hazard sites, their gateways and sensors, registered in the
//! store, and simulated gateways that publish what those sensors would measure through a rain
//! event and a slope that starts to accelerate. Scenario time runs `time_scale` times faster
//! than the wall clock so that a newcomer sees the story unfold in minutes; readings carry
//! wall-clock timestamps.

use std::time::{Duration, Instant};

use geohazard_bus::{Bus, BusConfig};
use geohazard_field_sim::{Creep, RainEvent, SensorKind as SimKind, SensorModel};
use geohazard_protocol::{GatewayStatus, Quality, Reading, TelemetryBatch, Topic};
use geohazard_store::Store;
use geohazard_store::registry::{
    self, DivisionLevel, NewDivision, NewSensor, NewSite, SensorKind, SiteKind,
};
use rumqttc::{LastWill, QoS};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DemoConfig {
    /// Register the demo sites and run their simulated gateways.
    pub enabled: bool,
    /// Seconds between telemetry messages of each simulated gateway.
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
            name: "Laojunshan landslide",
            kind: SiteKind::Landslide,
            division: "511525",
            lon: 104.52,
            lat: 28.43,
            people: 236,
            property: 1850.0,
            monitor: ("Zhang Wei", "13800000001"),
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
            name: "Shibanxi debris-flow gully",
            kind: SiteKind::DebrisFlow,
            division: "511525",
            lon: 104.60,
            lat: 28.38,
            people: 412,
            property: 3200.0,
            monitor: ("Li Na", "13800000002"),
            gateway: "gx-df002-gw",
            sensors: vec![rain("rain-1"), wet("mud-1", SimKind::MudLevel)],
        },
        DemoSite {
            code: "GX-RF-003",
            name: "Yangjiayan rockfall",
            kind: SiteKind::Rockfall,
            division: "511525",
            lon: 104.48,
            lat: 28.50,
            people: 58,
            property: 420.0,
            monitor: ("Wang Fang", "13800000003"),
            gateway: "gx-rf003-gw",
            sensors: vec![
                creeping("crack-1", SimKind::CrackMeter, 0.2, None),
                creeping("incl-1", SimKind::Inclinometer, 0.1, None),
            ],
        },
        DemoSite {
            code: "GO-SB-004",
            name: "Xunchang subsidence",
            kind: SiteKind::Subsidence,
            division: "511526",
            lon: 104.72,
            lat: 28.20,
            people: 95,
            property: 760.0,
            monitor: ("Chen Jie", "13800000004"),
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

/// Registers the demo's divisions, sites, people, gateways and sensors. Idempotent.
pub async fn seed(store: &Store, interval_secs: f64) -> anyhow::Result<()> {
    let divisions = [
        (
            "510000",
            "Sichuan Province",
            DivisionLevel::Province,
            None,
            rectangle(97.3, 26.0, 108.6, 34.3),
        ),
        (
            "511500",
            "Yibin City",
            DivisionLevel::City,
            Some("510000"),
            rectangle(103.6, 27.8, 105.3, 29.2),
        ),
        (
            "511525",
            "Gao County",
            DivisionLevel::County,
            Some("511500"),
            rectangle(104.35, 28.25, 104.75, 28.6),
        ),
        (
            "511526",
            "Gong County",
            DivisionLevel::County,
            Some("511500"),
            rectangle(104.55, 27.9, 104.95, 28.25),
        ),
    ];
    for (code, name, level, parent, boundary) in divisions {
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

fn model_for(site_index: usize, sensor_index: usize, s: &DemoSensor) -> SensorModel {
    let mut model = SensorModel::new(s.kind, (site_index * 100 + sensor_index) as u64 + 1);
    if s.rain {
        model = model.with_rain(RainEvent {
            start_s: 1800.0,
            duration_s: 6.0 * 3600.0,
            peak_mm_per_h: 35.0,
        });
    }
    if let Some((mm_per_day, onset_h)) = s.creep {
        model = model.with_creep(Creep {
            steady_mm_per_day: mm_per_day,
            onset_s: onset_h.map(|h| h * 3600.0).unwrap_or(f64::INFINITY),
            efold_s: 1.5 * 3600.0,
        });
    }
    model
}

/// Runs every demo site's simulated gateway until `shutdown`.
pub async fn run_gateways(mqtt_url: String, config: DemoConfig, shutdown: CancellationToken) {
    let mut tasks = Vec::new();
    for (i, site) in sites().into_iter().enumerate() {
        let url = mqtt_url.clone();
        let config = config.clone();
        let shutdown = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = run_gateway(i, site, &url, &config, shutdown).await {
                tracing::error!(error = %e, "simulated gateway stopped");
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

async fn run_gateway(
    index: usize,
    site: DemoSite,
    mqtt_url: &str,
    config: &DemoConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let will = LastWill::new(
        Topic::status(site.gateway),
        GatewayStatus::offline().to_json(),
        QoS::AtLeastOnce,
        true,
    );
    let bus = Bus::start(
        &BusConfig::new(mqtt_url, site.gateway),
        vec![],
        Some(will),
        64,
    )?;
    let mut models: Vec<SensorModel> = site
        .sensors
        .iter()
        .enumerate()
        .map(|(j, s)| model_for(index, j, s))
        .collect();
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(config.interval_secs.max(0.1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut seq = 0u64;
    let mut last_status: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        if last_status.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
            let status = GatewayStatus {
                online: true,
                ts: Some(chrono::Utc::now().timestamp_millis()),
                firmware: Some(format!("sim-{}", env!("CARGO_PKG_VERSION"))),
                uptime_s: Some(started.elapsed().as_secs()),
                queue_depth: Some(0),
                supply_v: Some(12.4 + 0.3 * ((started.elapsed().as_secs_f64() / 600.0).sin())),
                battery_pct: Some(87.0),
                signal_dbm: Some(-71.0),
            };
            bus.client()
                .publish(
                    Topic::status(site.gateway),
                    QoS::AtLeastOnce,
                    true,
                    status.to_json(),
                )
                .await?;
            last_status = Some(Instant::now());
        }
        let scenario_s = started.elapsed().as_secs_f64() * config.time_scale;
        let ts = chrono::Utc::now().timestamp_millis() / 1000 * 1000;
        seq += 1;
        let batch = TelemetryBatch {
            seq,
            readings: site
                .sensors
                .iter()
                .zip(models.iter_mut())
                .map(|(s, m)| Reading {
                    sensor: s.channel.to_owned(),
                    ts,
                    value: (m.sample(scenario_s) * 1000.0).round() / 1000.0,
                    quality: Quality::Good,
                })
                .collect(),
        };
        bus.client()
            .publish(
                Topic::telemetry(site.gateway),
                QoS::AtLeastOnce,
                false,
                batch.to_json(),
            )
            .await?;
    }
    bus.shutdown().await;
    Ok(())
}
