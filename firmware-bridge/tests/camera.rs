//! Real GStreamer pipelines (videotestsrc ! jpegenc ! appsink) delivering JPEG frames over MQTT.

mod common;

use std::time::Duration;

use common::*;
use geohazard_firmware_bridge::BridgeConfig;
use geohazard_firmware_bridge::CameraConfig;
use geohazard_protocol::Topic;
use geohazard_testkit::{Broker, eventually};
use serde_json::json;

const GW: &str = "gw-cam";

fn frames(rec: &Recorder, camera: &str) -> Vec<(i64, bytes::Bytes)> {
    rec.messages()
        .into_iter()
        .filter_map(|(t, p)| match Topic::parse(&t).ok()? {
            Topic::Video {
                camera: c,
                captured_at_ms,
                ..
            } if c == camera => Some((captured_at_ms, p)),
            _ => None,
        })
        .collect()
}

/// A complete JPEG of the expected size: SOI and EOI markers, and it decodes.
fn assert_jpeg(frame: &[u8], width: u16, height: u16) {
    assert_eq!(&frame[..2], &[0xFF, 0xD8], "no JPEG start-of-image marker");
    assert_eq!(
        &frame[frame.len() - 2..],
        &[0xFF, 0xD9],
        "no JPEG end-of-image marker"
    );
    let mut d = jpeg_decoder::Decoder::new(frame);
    let pixels = d.decode().expect("the frame decodes");
    let info = d.info().unwrap();
    assert_eq!((info.width, info.height), (width, height));
    assert_eq!(pixels.len(), width as usize * height as usize * 3);
}

async fn start(config: BridgeConfig, broker: &Broker) -> (Recorder, RunningBridge) {
    let rec = Recorder::start(
        broker.port(),
        "rec-cam",
        true,
        &[
            &format!("gh/v1/gw/{GW}/video/#"),
            &Topic::command_ack(GW),
            &Topic::status(GW),
            &Topic::telemetry(GW),
        ],
    )
    .await;
    let bridge = RunningBridge::start(config);
    eventually(Duration::from_secs(20), "the bridge online", || async {
        (!rec.on(&Topic::status(GW)).is_empty()).then_some(())
    })
    .await;
    (rec, bridge)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_and_live_view_from_a_test_pattern_arrive_as_decodable_jpeg_frames() {
    init_logs();
    let broker = Broker::start().await;
    let queue = tempfile::tempdir().unwrap();
    let mut config = BridgeConfig::new(GW, &broker.url(), queue.path());
    let mut cam = CameraConfig::test_pattern("cam1");
    cam.width = 320;
    cam.height = 240;
    cam.snapshot_interval_s = Some(2.0);
    config.cameras.push(cam);
    let (rec, bridge) = start(config, &broker).await;

    // On command: the ack names the frame, and the frame is on its topic.
    let ack = rec
        .command(GW, "snap", "snapshot", json!({"camera": "cam1"}))
        .await;
    assert!(ack.ok, "{ack:?}");
    let at = ack.result["frames"][0]["captured_at_ms"].as_i64().unwrap();
    let frame = eventually(
        Duration::from_secs(20),
        "the commanded snapshot",
        || async {
            frames(&rec, "cam1")
                .into_iter()
                .find(|(t, _)| *t == at)
                .map(|(_, f)| f)
        },
    )
    .await;
    assert_jpeg(&frame, 320, 240);
    assert_eq!(
        frame.len() as u64,
        ack.result["frames"][0]["bytes"].as_u64().unwrap()
    );
    // Delivered again (a retry, a redelivery): answered the same, and no second picture taken.
    let frames_before = frames(&rec, "cam1").len();
    rec.send_command(GW, "snap", "snapshot", json!({"camera": "cam1"}))
        .await;
    let acks = eventually(Duration::from_secs(20), "the second answer", || async {
        let acks: Vec<_> = rec
            .acks(GW)
            .into_iter()
            .filter(|a| a.id == "snap")
            .collect();
        (acks.len() == 2).then_some(acks)
    })
    .await;
    assert_eq!(acks[0], acks[1], "the first answer, again");
    let commanded = frames(&rec, "cam1")
        .into_iter()
        .filter(|(t, _)| *t == at)
        .count();
    assert_eq!(commanded, 1);
    assert!(
        frames(&rec, "cam1").len() <= frames_before + 1,
        "at most an interval snapshot more"
    );

    // On the interval: more frames come without a command.
    eventually(Duration::from_secs(20), "interval snapshots", || async {
        (frames(&rec, "cam1").len() >= 3).then_some(())
    })
    .await;

    // Live view: 4 fps for 2 s, then it stops by itself.
    let sent = chrono::Utc::now().timestamp_millis();
    let ack = rec
        .command(
            GW,
            "live",
            "live_view",
            json!({"camera": "cam1", "action": "start", "duration_s": 2, "fps": 4}),
        )
        .await;
    assert!(ack.ok, "{ack:?}");
    let ends = chrono::Utc::now().timestamp_millis() + 2000;
    let live = eventually(Duration::from_secs(20), "5 live frames", || async {
        let live: Vec<_> = frames(&rec, "cam1")
            .into_iter()
            .filter(|(t, _)| *t >= sent && *t <= ends)
            .collect();
        (live.len() >= 5).then_some(live)
    })
    .await;
    for (_, f) in &live {
        assert_jpeg(f, 320, 240);
    }
    // A frame taken half a second after the view's end (an interval snapshot): by then the
    // camera's task has ended the view.
    eventually(
        Duration::from_secs(20),
        "a frame after the live view",
        || async {
            frames(&rec, "cam1")
                .iter()
                .any(|(t, _)| *t > ends + 500)
                .then_some(())
        },
    )
    .await;
    let ack = rec
        .command(
            GW,
            "stop",
            "live_view",
            json!({"camera": "cam1", "action": "stop"}),
        )
        .await;
    assert_eq!(
        ack.result["was_running"], false,
        "the live view should have ended by itself"
    );

    let ack = rec
        .command(
            GW,
            "bad-live",
            "live_view",
            json!({"camera": "cam1", "action": "start", "fps": 60}),
        )
        .await;
    assert_refused(&ack, "fps");
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_too_big_for_the_packet_limit_is_requalified_or_refused_with_a_clear_error() {
    init_logs();
    let broker = Broker::start().await;
    let queue = tempfile::tempdir().unwrap();
    let mut config = BridgeConfig::new(GW, &broker.url(), queue.path());
    config.mqtt.max_packet_bytes = 24 * 1024;
    // Noise does not compress: at 640x480 no quality fits in 24 KiB.
    let mut noise = CameraConfig::test_pattern("noise");
    noise.source = geohazard_firmware_bridge::CameraSource::Test {
        pattern: Some("snow".into()),
    };
    noise.width = 640;
    noise.height = 480;
    // A smooth picture fits once the quality is lowered.
    let mut smooth = CameraConfig::test_pattern("smooth");
    smooth.source = geohazard_firmware_bridge::CameraSource::Test {
        pattern: Some("pinwheel".into()),
    };
    smooth.width = 640;
    smooth.height = 480;
    smooth.quality = 100;
    config.cameras.push(noise);
    config.cameras.push(smooth);
    let (rec, bridge) = start(config, &broker).await;

    let ack = rec
        .command(GW, "n", "snapshot", json!({"camera": "noise"}))
        .await;
    assert!(!ack.ok, "{ack:?}");
    let e = ack.error.unwrap();
    assert!(e.contains("exceeds") && e.contains("limit"), "{e}");

    let ack = rec
        .command(GW, "s", "snapshot", json!({"camera": "smooth"}))
        .await;
    assert!(ack.ok, "{ack:?}");
    let q = ack.result["frames"][0]["quality"].as_u64().unwrap();
    assert!(q < 100, "quality was not lowered ({q})");
    let frame = eventually(Duration::from_secs(20), "the requalified frame", || async {
        frames(&rec, "smooth").into_iter().next().map(|(_, f)| f)
    })
    .await;
    assert!(frame.len() <= 24 * 1024);
    assert_jpeg(&frame, 640, 480);
    assert!(frames(&rec, "noise").is_empty());
    bridge.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reading_above_a_trigger_limit_takes_a_snapshot_once_per_cooldown() {
    use geohazard_firmware_bridge::{DataType, TriggerConfig};
    init_logs();
    let broker = Broker::start().await;
    let mut mud = point("mud", 1, 0, DataType::U16, constant(0.2));
    mud.scale = 0.001;
    let points = vec![mud];
    let sim = sim(points.clone()).await;
    let queue = tempfile::tempdir().unwrap();
    let mut config = bridge_config(GW, &sim, &points, &broker, queue.path());
    let mut cam = CameraConfig::test_pattern("gully");
    cam.triggers.push(TriggerConfig {
        channel: "mud".into(),
        above: Some(0.5),
        below: None,
        cooldown_s: 60.0,
    });
    config.cameras.push(cam);
    let (rec, bridge) = start(config, &broker).await;
    // Readings below the limit, each checked against the trigger: no snapshot.
    let mud_readings = || rec.readings(GW, "mud");
    eventually(
        Duration::from_secs(20),
        "10 readings below the limit",
        || async { (mud_readings().len() >= 10).then_some(()) },
    )
    .await;
    assert!(
        frames(&rec, "gully").is_empty(),
        "a snapshot without a trigger"
    );

    sim.pin("mud", 0.8);
    let frame = eventually(Duration::from_secs(20), "the trigger snapshot", || async {
        frames(&rec, "gully").into_iter().next().map(|(_, f)| f)
    })
    .await;
    assert_jpeg(&frame, 320, 240);
    // Still above the limit, but within the cooldown: 15 more readings, no second snapshot.
    let above = || mud_readings().iter().filter(|r| r.value > 0.5).count();
    eventually(
        Duration::from_secs(20),
        "15 readings above the limit",
        || async { (above() >= 15).then_some(()) },
    )
    .await;
    assert_eq!(frames(&rec, "gully").len(), 1);
    bridge.stop().await;
}
