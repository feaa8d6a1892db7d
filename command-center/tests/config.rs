//! The shipped example configuration, read as the binary reads it.

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
    assert_eq!(video.client_id, "geohazard-command-center-video");
    assert_eq!(video.shared_group, None);
    assert_eq!(config.command_center.console.tile_url, None);
    let keys = &config.command_center.gateway_keys;
    assert_eq!(
        keys.mosquitto_passwd, None,
        "keys only stored until a file is named"
    );
    assert_eq!(
        keys.mosquitto_pid,
        std::path::PathBuf::from("/run/mosquitto/mosquitto.pid")
    );
}
