//! Commands from the center (`gh/v1/gw/{gateway}/cmd`), each answered with one [`CommandAck`].
//! The payload is read once into a typed [`Command`]; what cannot be read is answered with the
//! reason, under the command's id when it has one.
//!
//! A command is written to the disk queue's `commands` lane before its delivery is acknowledged
//! to the broker, and leaves it only when its answer is in the `answers` lane (which the link
//! publishes, removing each on its PUBACK): a command the bridge stops (or is killed) before
//! answering runs at the next start, and an answer not yet taken by the broker is sent then.
//!
//! Each target (the gateway itself, each camera, every camera at once) has its own queue, run in
//! order one command at a time: a camera that never answers delays only its own commands.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use geohazard_protocol::command::{
    LiveViewAction, LiveViewArgs, SetIntervalArgs, SnapshotArgs, names,
};
use geohazard_protocol::{Command, CommandAck, CommandEnvelope};
use indexmap::IndexMap;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::BridgeConfig;
use crate::runtime::Runtime;

/// A command on disk (its id in the `commands` lane), waiting for its target's queue.
pub(crate) struct Accepted {
    pub journal_id: u64,
    pub payload: Bytes,
}

/// Whose queue a command waits in: commands for one target never wait on another's.
pub(crate) fn target_of(payload: &[u8]) -> String {
    let Ok(envelope) = CommandEnvelope::decode(payload) else {
        return "gateway".to_owned();
    };
    let camera = envelope.args.get("camera").and_then(Value::as_str);
    match (envelope.name.as_str(), camera) {
        (names::SNAPSHOT | names::LIVE_VIEW, Some(camera)) => format!("camera `{camera}`"),
        (names::SNAPSHOT, None) => "every camera".to_owned(),
        _ => "gateway".to_owned(),
    }
}

/// Commands accepted and not yet answered, per target (bounded by `commands.max_waiting`).
#[derive(Clone, Default)]
pub(crate) struct Waiting(Arc<Mutex<HashMap<String, usize>>>);

impl Waiting {
    /// Counts one more for `target` unless `max` already wait; false: answer `busy`.
    pub(crate) fn try_add(&self, target: &str, max: usize) -> bool {
        let mut w = self.0.lock().expect("not poisoned");
        let n = w.entry(target.to_owned()).or_default();
        if *n >= max {
            return false;
        }
        *n += 1;
        true
    }

    /// Counts one more whatever the bound (commands from before a restart).
    pub(crate) fn add(&self, target: &str) {
        *self
            .0
            .lock()
            .expect("not poisoned")
            .entry(target.to_owned())
            .or_default() += 1;
    }

    pub(crate) fn done(&self, target: &str) {
        let mut w = self.0.lock().expect("not poisoned");
        if let Some(n) = w.get_mut(target) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                w.remove(target);
            }
        }
    }
}

/// Routes accepted commands to their target's queue until `shutdown`; what is still waiting
/// then stays on disk for the next start.
pub(crate) async fn dispatch(
    rt: Arc<Runtime>,
    mut accepted: mpsc::UnboundedReceiver<Accepted>,
    waiting: Waiting,
    shutdown: CancellationToken,
) {
    let executed = Arc::new(Mutex::new(Executed::default()));
    let mut queues: HashMap<String, mpsc::UnboundedSender<(Accepted, Arrival)>> = HashMap::new();
    let mut workers = Vec::new();
    loop {
        let a = tokio::select! {
            _ = shutdown.cancelled() => break,
            a = accepted.recv() => match a { Some(a) => a, None => break },
        };
        let target = target_of(&a.payload);
        let id = CommandEnvelope::id_of(&a.payload);
        // In arrival order, so a redelivery is recognized even while its first copy waits.
        let arrival = executed.lock().expect("not poisoned").arrive(&id);
        let queue = queues.entry(target.clone()).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            workers.push(tokio::spawn(run_target(
                rt.clone(),
                target.clone(),
                rx,
                executed.clone(),
                waiting.clone(),
                shutdown.clone(),
            )));
            tx
        });
        let _ = queue.send((a, arrival));
    }
    for w in workers {
        let _ = w.await;
    }
}

/// One target's queue: its commands one after the other, in arrival order.
async fn run_target(
    rt: Arc<Runtime>,
    target: String,
    mut rx: mpsc::UnboundedReceiver<(Accepted, Arrival)>,
    executed: Arc<Mutex<Executed>>,
    waiting: Waiting,
    shutdown: CancellationToken,
) {
    loop {
        let (a, arrival) = tokio::select! {
            _ = shutdown.cancelled() => break,
            next = rx.recv() => match next { Some(n) => n, None => break },
        };
        let ack = match arrival {
            Arrival::New => tokio::select! {
                // Stopped mid-way: it stays on disk and runs again at the next start.
                _ = shutdown.cancelled() => break,
                ack = handle(&rt, &a.payload) => ack,
            },
            Arrival::Answered(ack) => {
                info!(id = %ack.id, "command received again: answered, not executed again");
                ack
            }
            Arrival::Running => {
                info!(id = %CommandEnvelope::id_of(&a.payload), "command received again while it waits or runs: its answer will follow");
                rt.forget_command(a.journal_id).await;
                waiting.done(&target);
                continue;
            }
        };
        if !ack.ok {
            warn!(id = %ack.id, error = ?ack.error, "command refused");
        }
        executed.lock().expect("not poisoned").answered(&ack);
        rt.answer(Some(a.journal_id), &ack).await;
        waiting.done(&target);
    }
}

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

/// The answer to a command that arrives while `waiting` commands already wait for its target
/// (`commands.max_waiting`).
pub(crate) fn busy(payload: &[u8], waiting: usize, target: &str) -> CommandAck {
    CommandAck::failure(
        CommandEnvelope::id_of(payload),
        format!(
            "busy: {waiting} commands are already waiting (for the {target}); not executed, send it again later"
        ),
    )
}

pub(crate) async fn handle(rt: &Runtime, payload: &[u8]) -> CommandAck {
    let envelope = match CommandEnvelope::decode(payload) {
        Ok(e) => e,
        Err(e) => return CommandAck::failure(e.id.clone(), e.to_string()),
    };
    info!(id = %envelope.id, name = %envelope.name, "command received");
    let result = match Command::parse(&envelope) {
        // Commands without args take none: an arg given is a mistake to report, not ignore.
        Ok(Command::Status | Command::ReloadConfig) if !takes_no_args(&envelope.args) => {
            Err(anyhow!(
                "bad args for `{}`: it takes no arguments, got {}",
                envelope.name,
                envelope.args
            ))
        }
        Ok(command) => execute(rt, command).await,
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(v) => CommandAck::success(envelope.id, v),
        Err(e) => CommandAck::failure(envelope.id, format!("{e:#}")),
    }
}

fn takes_no_args(args: &Value) -> bool {
    match args {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        _ => false,
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
