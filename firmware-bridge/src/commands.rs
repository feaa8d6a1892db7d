//! Commands from the center (`gh/v1/gw/{gateway}/cmd`), each answered with one [`CommandAck`].
//! The payload is read once into a typed [`Command`]; what cannot be read is answered with the
//! reason, under the command's id when it has one.

use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use geohazard_protocol::command::{LiveViewAction, LiveViewArgs, SetIntervalArgs, SnapshotArgs};
use geohazard_protocol::{Command, CommandAck, CommandEnvelope};
use indexmap::IndexMap;
use serde_json::{Value, json};
use tracing::info;

use crate::Runtime;
use crate::config::BridgeConfig;

/// Commands handled at the same time (a snapshot takes a while; the others wait their turn).
pub(crate) const AT_ONCE: usize = 8;

/// Command ids remembered with their answers.
const REMEMBERED: usize = 1024;

/// What became of the commands lately received, by id: a command delivered again (the broker
/// resends one whose delivery it did not see confirmed, the center retries one whose answer it
/// missed) is not executed twice: a second snapshot, a second live view. Answered again with
/// the first answer once that exists; while it is still running, its own answer will do.
#[derive(Default)]
pub(crate) struct Executed {
    /// Oldest first, so the memory stays bounded.
    answers: IndexMap<String, Option<CommandAck>>,
}

/// What to do with a command that just arrived.
pub(crate) enum Arrival {
    /// Not seen lately: execute it.
    New,
    /// The same id is being executed now.
    Running,
    /// Already executed: send this answer again.
    Answered(CommandAck),
}

impl Executed {
    /// Records the arrival of command `id` (an unreadable payload has no id and is always new).
    pub(crate) fn arrive(&mut self, id: &str) -> Arrival {
        if id.is_empty() {
            return Arrival::New;
        }
        match self.answers.get(id) {
            Some(Some(ack)) => return Arrival::Answered(ack.clone()),
            Some(None) => return Arrival::Running,
            None => {}
        }
        if self.answers.len() == REMEMBERED {
            self.answers.shift_remove_index(0);
        }
        self.answers.insert(id.to_owned(), None);
        Arrival::New
    }

    /// Command `ack.id` was answered.
    pub(crate) fn answered(&mut self, ack: &CommandAck) {
        if let Some(slot) = self.answers.get_mut(&ack.id) {
            *slot = Some(ack.clone());
        }
    }
}

/// The answer to a command that arrives while `waiting` commands already wait
/// (`commands.max_waiting`).
pub(crate) fn busy(payload: &[u8], waiting: usize) -> CommandAck {
    CommandAck::failure(
        CommandEnvelope::id_of(payload),
        format!("busy: {waiting} commands are already waiting; not executed, send it again later"),
    )
}

pub(crate) async fn handle(rt: &Runtime, payload: &[u8]) -> CommandAck {
    let envelope = match CommandEnvelope::decode(payload) {
        Ok(e) => e,
        Err(e) => return CommandAck::failure(e.id.clone(), e.to_string()),
    };
    info!(id = %envelope.id, name = %envelope.name, "command received");
    let result = match Command::parse(&envelope) {
        Ok(command) => execute(rt, command).await,
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(v) => CommandAck::success(envelope.id, v),
        Err(e) => CommandAck::failure(envelope.id, format!("{e:#}")),
    }
}

/// Runs a command; the error is the ack's text.
async fn execute(rt: &Runtime, command: Command) -> anyhow::Result<Value> {
    match command {
        Command::SetInterval(a) => set_interval(rt, a),
        Command::Snapshot(a) => snapshot(rt, a).await,
        Command::LiveView(a) => live_view(rt, a).await,
        Command::Status => {
            rt.publish_status();
            Ok(serde_json::to_value(rt.status()).expect("status serializes"))
        }
        Command::ReloadConfig => reload(rt).await,
    }
}

fn set_interval(rt: &Runtime, a: SetIntervalArgs) -> anyhow::Result<Value> {
    if let Some(c) = &a.channel {
        let known = rt
            .config
            .lock()
            .expect("config lock")
            .points
            .iter()
            .any(|p| &p.channel == c);
        if !known {
            bail!("unknown channel `{c}`");
        }
    }
    if a.reset {
        rt.schedule.reset(a.channel.as_deref());
        return Ok(json!({"reset": true, "channel": a.channel}));
    }
    let interval = a
        .interval_s
        .context("interval_s is required (or reset: true)")?;
    if !(0.1..=86_400.0).contains(&interval) {
        bail!("interval_s {interval} must be between 0.1 and 86400");
    }
    let duration = match a.duration_s {
        Some(d) if !(d > 0.0 && d <= 30.0 * 86_400.0) => {
            bail!("duration_s {d} must be between 0 and 30 days");
        }
        d => d.map(Duration::from_secs_f64),
    };
    rt.schedule.set(
        a.channel.as_deref(),
        Duration::from_secs_f64(interval),
        duration,
    );
    Ok(json!({"channel": a.channel, "interval_s": interval, "duration_s": a.duration_s}))
}

async fn snapshot(rt: &Runtime, a: SnapshotArgs) -> anyhow::Result<Value> {
    let cameras = rt.cameras();
    if cameras.is_empty() {
        bail!("this gateway has no camera");
    }
    let chosen: Vec<_> = match &a.camera {
        Some(name) => {
            let c = cameras
                .into_iter()
                .find(|c| &c.name == name)
                .ok_or_else(|| anyhow!("unknown camera `{name}`"))?;
            vec![c]
        }
        None => cameras,
    };
    let mut frames = Vec::new();
    let mut errors = Vec::new();
    for c in chosen {
        match c.snapshot("command").await {
            Ok(f) => frames.push(f),
            Err(e) => errors.push(format!("{}: {e}", c.name)),
        }
    }
    if errors.is_empty() {
        Ok(json!({ "frames": frames }))
    } else {
        bail!("snapshot failed: {}", errors.join("; "))
    }
}

async fn live_view(rt: &Runtime, a: LiveViewArgs) -> anyhow::Result<Value> {
    let camera = rt
        .cameras()
        .into_iter()
        .find(|c| c.name == a.camera)
        .ok_or_else(|| anyhow!("unknown camera `{}`", a.camera))?;
    match a.action {
        LiveViewAction::Stop => Ok(json!({"was_running": camera.live_stop().await})),
        LiveViewAction::Start => {
            let duration = a.duration_s.unwrap_or(60.0);
            if !(duration > 0.0 && duration <= 600.0) {
                bail!("duration_s {duration} must be between 0 and 600");
            }
            let fps = a.fps.unwrap_or(1.0);
            if !(0.1..=5.0).contains(&fps) {
                bail!("fps {fps} must be between 0.1 and 5");
            }
            camera
                .live_start(Duration::from_secs_f64(duration), fps)
                .await?;
            Ok(json!({"camera": a.camera, "duration_s": duration, "fps": fps}))
        }
    }
}

/// Re-reads the configuration file; sensors, intervals and cameras change now. The gateway
/// code, broker and queue settings need a restart and are refused here.
async fn reload(rt: &Runtime) -> anyhow::Result<Value> {
    let current = rt.config.lock().expect("config lock").clone();
    let path = current
        .source
        .clone()
        .context("this bridge was started without a configuration file (in-memory or from the environment): nothing to reload")?;
    let new = tokio::task::spawn_blocking(move || BridgeConfig::load(Some(&path)))
        .await
        .context("reading the configuration")??;
    let same = |a: &BridgeConfig, b: &BridgeConfig| {
        a.gateway == b.gateway
            && serde_json::to_value(&a.mqtt).ok() == serde_json::to_value(&b.mqtt).ok()
            && serde_json::to_value(&a.queue).ok() == serde_json::to_value(&b.queue).ok()
    };
    if !same(&current, &new) {
        bail!("gateway, [mqtt] or [queue] changed: restart the bridge to apply them");
    }
    if !new.cameras.is_empty() {
        crate::camera::init_gstreamer()?;
    }
    rt.start_workers(&new);
    let result = json!({"points": new.points.len(), "cameras": new.cameras.len()});
    *rt.config.lock().expect("config lock") = new;
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_id_seen_again_is_not_executed_twice_and_gets_the_first_answer() {
        let mut e = Executed::default();
        assert!(matches!(e.arrive("a"), Arrival::New));
        assert!(matches!(e.arrive("a"), Arrival::Running));
        let ack = CommandAck::success("a".to_owned(), json!({"frames": 1}));
        e.answered(&ack);
        assert!(matches!(e.arrive("a"), Arrival::Answered(again) if again == ack));
        // No id, no memory: each is read (and refused) on its own.
        assert!(matches!(e.arrive(""), Arrival::New));
        assert!(matches!(e.arrive(""), Arrival::New));
    }

    #[test]
    fn the_memory_is_bounded_and_forgets_the_oldest_first() {
        let mut e = Executed::default();
        for i in 0..=REMEMBERED {
            assert!(matches!(e.arrive(&i.to_string()), Arrival::New));
        }
        assert_eq!(e.answers.len(), REMEMBERED);
        assert!(
            matches!(e.arrive("0"), Arrival::New),
            "the oldest is forgotten"
        );
        assert!(matches!(e.arrive("2"), Arrival::Running));
    }
}
