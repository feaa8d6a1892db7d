//! The frame store's retention, against a real PostgreSQL and real files.

use std::sync::Arc;

use chrono::{Duration, Utc};
use geohazard_command_center::video::{self, VideoSettings};
use geohazard_store::Store;
use geohazard_testkit::{Broker, TestDb};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_frames_past_the_age_then_the_oldest_beyond_the_total_size() {
    let db = TestDb::create().await;
    let store = Store::connect(&db.url, 4).await.unwrap();
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let settings = VideoSettings {
        dir: dir.path().to_owned(),
        max_age_h: 24,
        max_total_bytes: 3000,
        retention_every_s: 3600,
        ..VideoSettings::default()
    };
    let shutdown = CancellationToken::new();
    let (warnings, _) = tokio::sync::broadcast::channel(4);
    let v = video::start(
        settings,
        store.pool.clone(),
        &broker.url(),
        warnings,
        shutdown.clone(),
    )
    .await
    .unwrap();
    // Frames of 1000 bytes, 49, 30, 3, 2 and 1 hours old.
    let now = Utc::now();
    let mut paths = Vec::new();
    for hours in [49, 30, 3, 2, 1] {
        let at = now - Duration::hours(hours);
        let rel = format!("gw/cam1/{}.jpg", at.timestamp_millis());
        std::fs::create_dir_all(dir.path().join("gw/cam1")).unwrap();
        std::fs::write(dir.path().join(&rel), vec![0u8; 1000]).unwrap();
        sqlx::query(
            "INSERT INTO video_frames (gateway_code, camera, captured_at, bytes, path)
             VALUES ('gw', 'cam1', $1, 1000, $2)",
        )
        .bind(at)
        .bind(&rel)
        .execute(&store.pool)
        .await
        .unwrap();
        paths.push(rel);
    }
    let deleted = video::enforce_retention(&v, &store.pool).await.unwrap();
    // Two are too old; of the three left (3000 bytes) none has to go for size.
    assert_eq!(deleted, 2);
    let left: Vec<String> =
        sqlx::query_scalar("SELECT path FROM video_frames ORDER BY captured_at")
            .fetch_all(&store.pool)
            .await
            .unwrap();
    assert_eq!(left, paths[2..].to_vec());
    for (i, p) in paths.iter().enumerate() {
        assert_eq!(dir.path().join(p).exists(), i >= 2, "{p}");
    }

    // A smaller store: the oldest go until the rest fits.
    let mut smaller = v.settings.clone();
    smaller.max_total_bytes = 1500;
    let (warnings, _) = tokio::sync::broadcast::channel(4);
    let v2: Arc<video::Video> = video::start(
        smaller,
        store.pool.clone(),
        &broker.url(),
        warnings,
        shutdown.clone(),
    )
    .await
    .unwrap();
    assert_eq!(video::enforce_retention(&v2, &store.pool).await.unwrap(), 2);
    let left: Vec<String> = sqlx::query_scalar("SELECT path FROM video_frames")
        .fetch_all(&store.pool)
        .await
        .unwrap();
    assert_eq!(left, vec![paths[4].clone()]);
    assert!(!dir.path().join(&paths[3]).exists());
    assert!(dir.path().join(&paths[4]).exists());
    shutdown.cancel();
}

#[test]
fn the_shipped_example_configuration_reads_as_documented() {
    #[derive(serde::Serialize, serde::Deserialize, Default)]
    #[serde(default)]
    struct Config {
        command_center: geohazard_command_center::CommandCenterConfig,
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("command-center.example.toml");
    let config: Config = geohazard_runtime::load_config(Some(&path)).unwrap();
    let video = &config.command_center.video;
    assert_eq!(video.dir, std::path::PathBuf::from("var/frames"));
    assert_eq!(video.max_age_h, 720);
    assert_eq!(video.max_total_bytes, 20 << 30);
    assert_eq!(video.max_frame_bytes, 2 << 20);
    assert_eq!(video.live_max_fps, 2.0);
    assert_eq!(config.command_center.console.tile_url, None);
}
