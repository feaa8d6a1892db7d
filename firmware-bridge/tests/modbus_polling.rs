//! The bridge polling the simulator (a real Modbus TCP server) and publishing to a real broker.

mod common;

use std::time::Duration;

use common::*;
use geohazard_firmware_bridge::SimSource;
use geohazard_firmware_bridge::{DataType, WordOrder};
use geohazard_protocol::Topic;
use geohazard_testkit::{Broker, eventually};

const WAIT: Duration = Duration::from_secs(20);

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_readings_apply_scale_offset_word_order_and_wide_integers() {
    init_logs();
    let broker = Broker::start().await;
    let mut scaled = point("scaled", 1, 0, DataType::U16, constant(12.34));
    scaled.scale = 0.01;
    scaled.offset = -5.0;
    let mut f32_hi = point("f32-hi", 1, 2, DataType::F32, constant(1234.5625));
    f32_hi.word_order = WordOrder::HighFirst;
    let mut f32_lo = point("f32-lo", 1, 4, DataType::F32, constant(-271.828));
    f32_lo.word_order = WordOrder::LowFirst;
    let mut i32p = point("i32", 2, 0, DataType::I32, constant(-123.456));
    i32p.scale = 0.001;
    let mut u32p = point("u32", 2, 2, DataType::U32, constant(3_000_000_000.0));
    u32p.word_order = WordOrder::LowFirst;
    let i16p = point("i16", 2, 4, DataType::I16, constant(-42.0));
    let points = vec![scaled, f32_hi, f32_lo, i32p, u32p, i16p];
    let sim = sim(points.clone()).await;
    let queue = tempfile::tempdir().unwrap();
    let rec = Recorder::start(
        broker.port(),
        "rec-decode",
        true,
        &[&Topic::telemetry("gw-dec")],
    )
    .await;
    let bridge = RunningBridge::start(bridge_config(
        "gw-dec",
        &sim,
        &points,
        &broker,
        queue.path(),
    ));

    let expected = [
        ("scaled", 12.34, 1e-9),
        ("f32-hi", 1234.5625, 0.0),
        ("f32-lo", -271.828, 1e-3),
        ("i32", -123.456, 1e-9),
        ("u32", 3_000_000_000.0, 0.0),
        ("i16", -42.0, 0.0),
    ];
    for (channel, value, tol) in expected {
        let got = eventually(WAIT, &format!("a reading on {channel}"), || async {
            rec.readings("gw-dec", channel).first().map(|r| r.value)
        })
        .await;
        assert!(
            close(got, value, tol),
            "{channel}: got {got}, expected {value}"
        );
    }
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rain_counter_becomes_millimetres_across_its_u16_wrap() {
    init_logs();
    let broker = Broker::start().await;
    let rain = point(
        "rain-1",
        1,
        0,
        DataType::U16,
        SimSource::RainCounter {
            mm_per_tip: 0.2,
            start: 65_530,
            seed: 1,
            rain: None,
        },
    );
    let points = vec![rain];
    let sim = sim(points.clone()).await;
    sim.pin("rain-1", 65_530.0);
    let queue = tempfile::tempdir().unwrap();
    let rec = Recorder::start(
        broker.port(),
        "rec-rain",
        true,
        &[&Topic::telemetry("gw-rain")],
    )
    .await;
    let bridge = RunningBridge::start(bridge_config(
        "gw-rain",
        &sim,
        &points,
        &broker,
        queue.path(),
    ));
    // The first read sets the baseline; the next ones report no rain.
    eventually(WAIT, "a zero-rain reading after the baseline", || async {
        rec.readings("gw-rain", "rain-1")
            .first()
            .map(|r| assert_eq!(r.value, 0.0))
    })
    .await;
    // 6 tips to the wrap and 4 after it: 10 tips of 0.2 mm.
    sim.pin("rain-1", 4.0);
    let total = eventually(WAIT, "the rain across the wrap", || async {
        let v: Vec<f64> = rec
            .readings("gw-rain", "rain-1")
            .iter()
            .map(|r| r.value)
            .collect();
        v.iter().any(|x| *x > 0.0).then(|| v.iter().sum::<f64>())
    })
    .await;
    assert!(close(total, 2.0, 1e-9), "rain across the wrap: {total} mm");
    bridge.stop().await;
}

/// The sum of the rain reported on `rain-1`, once some has been.
async fn rain_reported(rec: &Recorder, gateway: &str) -> (f64, Vec<geohazard_protocol::Reading>) {
    eventually(WAIT, "rain to be reported", || async {
        let r = rec.readings(gateway, "rain-1");
        r.iter()
            .any(|x| x.value > 0.0)
            .then(|| (r.iter().map(|x| x.value).sum::<f64>(), r))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rain_that_falls_while_the_bridge_is_stopped_is_reported_after_its_restart() {
    init_logs();
    let broker = Broker::start().await;
    let rain = point(
        "rain-1",
        1,
        0,
        DataType::U16,
        SimSource::RainCounter {
            mm_per_tip: 0.2,
            start: 100,
            seed: 1,
            rain: None,
        },
    );
    let points = vec![rain];
    let sim = sim(points.clone()).await;
    sim.pin("rain-1", 65_530.0);
    let queue = tempfile::tempdir().unwrap();
    let config = bridge_config("gw-rst", &sim, &points, &broker, queue.path());
    let rec = Recorder::start(
        broker.port(),
        "rec-rst",
        true,
        &[&Topic::telemetry("gw-rst")],
    )
    .await;

    let bridge = RunningBridge::start(config.clone());
    eventually(WAIT, "a zero-rain reading after the baseline", || async {
        rec.readings("gw-rst", "rain-1").first().map(|_| ())
    })
    .await;
    bridge.stop().await;
    // 12 tips while nobody reads the gauge, across its u16 wrap.
    sim.pin("rain-1", 6.0);
    let bridge = RunningBridge::start(config.clone());
    let (total, _) = rain_reported(&rec, "gw-rst").await;
    assert!(
        close(total, 2.4, 1e-9),
        "rain during the restart: {total} mm"
    );
    bridge.stop().await;

    // The gauge lost power meanwhile and counts again from zero: the 5 tips since are rain,
    // flagged suspect (those before its reset are unknown); no wrap-sized deluge.
    let before = rec.readings("gw-rst", "rain-1").len();
    sim.pin("rain-1", 5.0);
    let bridge = RunningBridge::start(config);
    let reading = eventually(WAIT, "rain after the gauge's reset", || async {
        rec.readings("gw-rst", "rain-1")
            .into_iter()
            .skip(before)
            .find(|r| r.value > 0.0)
    })
    .await;
    assert!(
        close(reading.value, 1.0, 1e-9),
        "after a reset: {reading:?}"
    );
    assert_eq!(reading.quality, geohazard_protocol::Quality::Suspect);
    let all: f64 = rec
        .readings("gw-rst", "rain-1")
        .iter()
        .map(|r| r.value)
        .sum();
    assert!(close(all, 3.4, 1e-9), "rain in all: {all} mm");
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slave_that_stops_answering_does_not_stall_the_others_and_comes_back() {
    init_logs();
    let broker = Broker::start().await;
    let points = vec![
        point("alive", 1, 0, DataType::U16, constant(7.0)),
        point("dead", 2, 0, DataType::U16, constant(9.0)),
    ];
    let sim = sim(points.clone()).await;
    let queue = tempfile::tempdir().unwrap();
    let rec = Recorder::start(
        broker.port(),
        "rec-dead",
        true,
        &[&Topic::telemetry("gw-dead")],
    )
    .await;
    let mut config = bridge_config("gw-dead", &sim, &points, &broker, queue.path());
    // Long enough that a poll held up behind the silent slave would show in the live one's.
    config.modbus[0].timeout_ms = 1000;
    let bridge = RunningBridge::start(config);
    eventually(WAIT, "readings from both slaves", || async {
        (!rec.readings("gw-dead", "dead").is_empty()
            && !rec.readings("gw-dead", "alive").is_empty())
        .then_some(())
    })
    .await;

    sim.set_silent(2, true);
    let silent_from = chrono::Utc::now().timestamp_millis();
    let asked_before = sim.requests(2);
    // The readings' own timestamps are the bridge's poll times.
    let polls = eventually(WAIT, "15 polls of the live slave", || async {
        let ts: Vec<i64> = rec
            .readings("gw-dead", "alive")
            .iter()
            .map(|r| r.ts)
            .filter(|ts| *ts > silent_from)
            .collect();
        (ts.len() >= 15).then_some(ts)
    })
    .await;
    let asked = sim.requests(2) - asked_before;
    assert!(
        rec.readings("gw-dead", "dead")
            .iter()
            .all(|r| r.ts <= silent_from),
        "a silent slave published readings"
    );
    // Polled every 0.2 s on its own connection: held up behind one of the silent slave's 1 s
    // timeouts, two polls would be more than a second apart.
    let longest = polls.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(
        longest < 1000,
        "the live slave's polls stalled for {longest} ms"
    );
    // Backed off (1 s, 2 s, ...): the silent slave was asked only a few times meanwhile.
    assert!(
        (1..=4).contains(&asked),
        "the silent slave was asked {asked} times during 15 polls of the live one"
    );

    sim.set_silent(2, false);
    let dead_before = rec.readings("gw-dead", "dead").len();
    // The bridge dropped the dead connection and reconnects within its backoff.
    eventually(WAIT, "the silent slave's readings to resume", || async {
        (rec.readings("gw-dead", "dead").len() > dead_before).then_some(())
    })
    .await;
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtu_slaves_on_a_shared_serial_line_are_polled_and_a_silent_one_only_costs_its_timeouts() {
    use geohazard_firmware_bridge::{Parity, Transport};
    use tokio_serial::SerialPort;

    init_logs();
    let broker = Broker::start().await;
    let mut incl = point("incl", 1, 0, DataType::F32, constant(-0.75));
    incl.word_order = WordOrder::LowFirst;
    let points = vec![incl, point("piezo", 2, 0, DataType::U16, constant(321.0))];
    // A pseudo-terminal pair is the serial line: the simulator on one end, the bridge opens the other.
    let (line, far_end) = tokio_serial::SerialStream::pair().unwrap();
    let path = far_end.name().expect("the pty has a path");
    let sim_cfg = geohazard_firmware_bridge::SimConfig {
        listen: String::new(),
        speed: 1.0,
        tick_ms: 100,
        points: points.clone(),
    };
    let sim = geohazard_firmware_bridge::start_sensor_sim_rtu(sim_cfg, line)
        .await
        .unwrap();
    let queue = tempfile::tempdir().unwrap();
    let mut config = bridge_config("gw-rtu", &sim, &points, &broker, queue.path());
    config.modbus[0].transport = Transport::Rtu {
        port: path,
        baud: 19_200,
        parity: Parity::None,
        data_bits: 8,
        stop_bits: 1,
    };
    let rec = Recorder::start(
        broker.port(),
        "rec-rtu",
        true,
        &[&Topic::telemetry("gw-rtu")],
    )
    .await;
    let bridge = RunningBridge::start(config);
    for (channel, value) in [("incl", -0.75), ("piezo", 321.0)] {
        let got = eventually(WAIT, &format!("an RTU reading on {channel}"), || async {
            rec.readings("gw-rtu", channel).first().map(|r| r.value)
        })
        .await;
        assert_eq!(got, value, "{channel}");
    }

    sim.set_silent(2, true);
    let (answered_before, asked_before) = (sim.requests(1), sim.requests(2));
    eventually(
        WAIT,
        "15 more reads of slave 1 on the shared line",
        || async { (sim.requests(1) - answered_before >= 15).then_some(()) },
    )
    .await;
    // Each try of the silent slave holds the line for a whole timeout; backed off (1 s, 2 s,
    // ...), it is tried only a few times while slave 1 is read 15 times (every poll without it).
    let asked = sim.requests(2) - asked_before;
    assert!(
        (1..=5).contains(&asked),
        "the silent slave was tried {asked} times during 15 reads of slave 1"
    );
    sim.set_silent(2, false);
    let piezo_before = rec.readings("gw-rtu", "piezo").len();
    eventually(WAIT, "slave 2 answering again", || async {
        (rec.readings("gw-rtu", "piezo").len() > piezo_before).then_some(())
    })
    .await;
    drop(far_end);
    bridge.stop().await;
}
