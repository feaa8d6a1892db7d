//! The log as an operator reads it: what a client sends cannot start a line of its own. (Its
//! own test binary: it captures the log of the server it starts, which a test running beside it
//! on another thread could keep from being captured.)

mod common;

use geohazard_command_center::Role;
use geohazard_testkit::api::StatusCode;
use geohazard_testkit::fixtures::COUNTY;

/// Log lines written while it lives, as text.
#[derive(Clone, Default)]
struct CapturedLog(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_user_name_with_a_line_break_cannot_forge_a_log_line() {
    let log = CapturedLog::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // This test's runtime runs on this thread: the server's log lines land here.
    let _guard = tracing::subscriber::set_default(subscriber);
    let env = common::start(|_| {}).await;
    env.officer("gao-duty", COUNTY, Role::DutyOfficer).await;
    let forged = "nobody\n2026-12-07T04:00:00Z  INFO sign-in accepted username=admin";
    let r = env.api.login(forged, "wrong").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("sign-in refused"), "{text}");
    assert!(
        !text.lines().any(|l| l.starts_with("2026-12-07T04:00:00Z")),
        "a forged line:\n{text}"
    );
}
