//! Matching simulator and bridge configurations for a demo gateway: the bridge polls a real
//! Modbus server that serves field-sim sensors with the register map the bridge reads.

use std::net::SocketAddr;
use std::path::PathBuf;

use geohazard_field_sim::{RainEvent, SensorKind};

use crate::config::{BridgeConfig, DataType, Function, WordOrder};
use crate::sim::{SimConfig, SimPoint, SimSource};

/// Every kind field-sim models, for demo lists.
pub const ALL_KINDS: [SensorKind; 7] = [
    SensorKind::CrackMeter,
    SensorKind::RainGauge,
    SensorKind::Gnss,
    SensorKind::Inclinometer,
    SensorKind::Piezometer,
    SensorKind::SoilMoisture,
    SensorKind::MudLevel,
];

/// `n` sensors named `s000`, `s001`, ... cycling through every kind.
pub fn sensor_list(n: usize) -> Vec<(String, SensorKind)> {
    (0..n)
        .map(|i| (format!("s{i:03}"), ALL_KINDS[i % ALL_KINDS.len()]))
        .collect()
}

/// Sensors per slave (a data logger with eight channels).
const PER_SLAVE: usize = 8;

/// How each kind is encoded: the variety of real loggers, so every decoding path is exercised.
fn encoding(kind: SensorKind) -> (Function, DataType, WordOrder, f64, f64) {
    match kind {
        // Micrometres as i32: crack opening can shrink below the installed baseline.
        SensorKind::CrackMeter => (
            Function::Holding,
            DataType::I32,
            WordOrder::HighFirst,
            0.001,
            0.0,
        ),
        SensorKind::Gnss => (
            Function::Input,
            DataType::F32,
            WordOrder::HighFirst,
            1.0,
            0.0,
        ),
        SensorKind::Inclinometer => (
            Function::Input,
            DataType::F32,
            WordOrder::LowFirst,
            1.0,
            0.0,
        ),
        SensorKind::Piezometer => (
            Function::Holding,
            DataType::U16,
            WordOrder::HighFirst,
            0.001,
            0.0,
        ),
        SensorKind::SoilMoisture => (
            Function::Input,
            DataType::U16,
            WordOrder::HighFirst,
            0.1,
            0.0,
        ),
        // Offset: a gauge whose zero is 0.5 m below its datum reports -0.5 m at raw 0.
        SensorKind::MudLevel => (
            Function::Holding,
            DataType::I16,
            WordOrder::HighFirst,
            0.001,
            -0.5,
        ),
        SensorKind::RainGauge => (
            Function::Holding,
            DataType::U16,
            WordOrder::HighFirst,
            1.0,
            0.0,
        ),
    }
}

/// The simulator's points for a list of (channel, kind), plus a supply-voltage point.
/// Each slave holds up to eight sensors, two registers apart.
pub fn sim_points(sensors: &[(String, SensorKind)], interval_s: f64) -> Vec<SimPoint> {
    let rain = RainEvent {
        start_s: 60.0,
        duration_s: 3600.0,
        peak_mm_per_h: 40.0,
    };
    let mut points: Vec<SimPoint> = sensors
        .iter()
        .enumerate()
        .map(|(i, (channel, kind))| {
            let (function, data_type, word_order, scale, offset) = encoding(*kind);
            let source = match kind {
                SensorKind::RainGauge => SimSource::RainCounter {
                    mm_per_tip: 0.1,
                    // Starts near the top of its 16 bits: the demo shows a wrap early on.
                    start: 65_000,
                    seed: i as u64,
                    rain: Some(rain),
                },
                _ => SimSource::Sensor {
                    kind: *kind,
                    seed: i as u64,
                    rain: Some(rain),
                    creep: None,
                },
            };
            SimPoint {
                channel: channel.clone(),
                slave: (1 + i / PER_SLAVE) as u8,
                function,
                address: (i % PER_SLAVE * 2) as u16,
                data_type,
                word_order,
                scale,
                offset,
                interval_s,
                source,
            }
        })
        .collect();
    let slave = (1 + sensors.len().div_ceil(PER_SLAVE)).min(247) as u8;
    points.push(SimPoint {
        channel: "supply-v".into(),
        slave,
        function: Function::Input,
        address: 100,
        data_type: DataType::U16,
        word_order: WordOrder::HighFirst,
        scale: 0.01,
        offset: 0.0,
        interval_s: interval_s.max(10.0),
        source: SimSource::SupplyVoltage { seed: 99 },
    });
    points
}

/// A (simulator, bridge) pair for one demo gateway. The simulator listens on `sim_addr`
/// (pick a free port); the bridge polls it every `interval_s` and publishes to `mqtt_url`.
pub fn matching_maps(
    gateway: &str,
    sensors: &[(String, SensorKind)],
    sim_addr: SocketAddr,
    mqtt_url: &str,
    queue_dir: impl Into<PathBuf>,
    interval_s: f64,
) -> (SimConfig, BridgeConfig) {
    let sim = SimConfig {
        listen: sim_addr.to_string(),
        speed: 1.0,
        tick_ms: 200,
        points: sim_points(sensors, interval_s),
    };
    let bridge = sim.bridge_config(gateway, sim_addr, mqtt_url, queue_dir);
    (sim, bridge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_demo_pair_is_valid_and_reads_what_the_simulator_serves() {
        let sensors: Vec<(String, SensorKind)> = (0..20)
            .map(|i| {
                (
                    format!("s-{i}"),
                    if i % 2 == 0 {
                        SensorKind::CrackMeter
                    } else {
                        SensorKind::RainGauge
                    },
                )
            })
            .collect();
        let (sim, bridge) = matching_maps(
            "gw-demo",
            &sensors,
            "127.0.0.1:15020".parse().unwrap(),
            "mqtt://127.0.0.1:1883",
            "/tmp/q",
            1.0,
        );
        sim.check().unwrap();
        bridge.validate().unwrap();
        assert_eq!(bridge.points.len(), 21);
        for (s, b) in sim.points.iter().zip(&bridge.points) {
            assert_eq!(
                (s.slave, s.address, s.data_type),
                (b.slave, b.address, b.data_type)
            );
        }
        assert!(bridge.points.iter().any(|p| p.counter.is_some()));
    }
}
