//! What several end-to-end test files start the same way.

use geohazard_command_center::{CommandCenterConfig, Server};
use geohazard_testkit::World;

/// A command-center on the world's database and broker, listening on a free port, with a frame
/// store of its own; `tune` adjusts its configuration first.
pub async fn command_center(
    w: &World,
    tune: impl FnOnce(&mut CommandCenterConfig),
) -> (Server, tempfile::TempDir) {
    let frames = tempfile::tempdir().unwrap();
    let mut config = CommandCenterConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Default::default()
    };
    config.video.dir = frames.path().to_owned();
    tune(&mut config);
    let server = geohazard_command_center::start(
        &config,
        w.store.pool.clone(),
        &w.broker.url(),
        w.shutdown.clone(),
    )
    .await
    .expect("the command-center starts");
    (server, frames)
}
