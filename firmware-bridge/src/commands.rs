//! Commands from the center (`gh/v1/gw/{gateway}/cmd`), each answered with one [`CommandAck`].

use std::time::Duration;

use geohazard_protocol::command::{
    LiveViewAction, LiveViewArgs, SetIntervalArgs, SnapshotArgs, names,
};
use geohazard_protocol::{Command, CommandAck};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tracing::info;

use crate::Runtime;
use crate::config::BridgeConfig;

const KNOWN: &str = "set_interval, snapshot, live_view, status, reload_config";

/// Commands handled at the same time (a snapshot takes a while; the others wait their turn).
pub(crate) const AT_ONCE: usize = 8;

/// The answer to a command that arrives while `waiting` commands already wait
/// (`commands.max_waiting`).
pub(crate) fn busy(payload: &[u8], waiting: usize) -> CommandAck {
    CommandAck::failure(
        command_id(payload),
        format!("busy: {waiting} commands are already waiting; not executed, send it again later"),
    )
}

/// The command's id if one can be read at all, so the center can match an error to it.
fn command_id(payload: &[u8]) -> String {
    serde_json::from_slice::<Value>(payload)
        .ok()
        .and_then(|v| v.get("id")?.as_str().map(str::to_owned))
        .unwrap_or_default()
}

pub(crate) async fn handle(rt: &Runtime, payload: &[u8]) -> CommandAck {
    let cmd: Command = match serde_json::from_slice(payload) {
        Ok(c) => c,
        Err(e) => {
            return CommandAck::failure(command_id(payload), format!("malformed command: {e}"));
        }
    };
    info!(id = %cmd.id, name = %cmd.name, "command received");
    let result = match cmd.name.as_str() {
        names::SET_INTERVAL => match args(&cmd) {
            Ok(a) => set_interval(rt, a),
            Err(e) => Err(e),
        },
        names::SNAPSHOT => match args(&cmd) {
            Ok(a) => snapshot(rt, a).await,
            Err(e) => Err(e),
        },
        names::LIVE_VIEW => match args(&cmd) {
            Ok(a) => live_view(rt, a).await,
            Err(e) => Err(e),
        },
        names::STATUS => {
            rt.publish_status();
            Ok(serde_json::to_value(rt.status()).expect("status serializes"))
        }
        names::RELOAD_CONFIG => reload(rt),
        other => Err(format!(
            "unknown command `{other}`; known commands: {KNOWN}"
        )),
    };
    match result {
        Ok(v) => CommandAck::success(cmd.id, v),
        Err(e) => CommandAck::failure(cmd.id, e),
    }
}

/// The command's args as `T`; absent args are an empty object (so all-optional args may be omitted).
fn args<T: DeserializeOwned>(cmd: &Command) -> Result<T, String> {
    let v = if cmd.args.is_null() {
        Value::Object(Default::default())
    } else {
        cmd.args.clone()
    };
    serde_json::from_value(v).map_err(|e| format!("bad args for `{}`: {e}", cmd.name))
}

fn set_interval(rt: &Runtime, a: SetIntervalArgs) -> Result<Value, String> {
    if let Some(c) = &a.channel {
        let known = rt
            .config
            .lock()
            .expect("config lock")
            .points
            .iter()
            .any(|p| &p.channel == c);
        if !known {
            return Err(format!("unknown channel `{c}`"));
        }
    }
    if a.reset {
        rt.schedule.reset(a.channel.as_deref());
        return Ok(json!({"reset": true, "channel": a.channel}));
    }
    let interval = a
        .interval_s
        .ok_or("interval_s is required (or reset: true)")?;
    if !(0.1..=86_400.0).contains(&interval) {
        return Err(format!(
            "interval_s {interval} must be between 0.1 and 86400"
        ));
    }
    let duration = match a.duration_s {
        Some(d) if !(d > 0.0 && d <= 30.0 * 86_400.0) => {
            return Err(format!("duration_s {d} must be between 0 and 30 days"));
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

async fn snapshot(rt: &Runtime, a: SnapshotArgs) -> Result<Value, String> {
    let cameras = rt.cameras();
    if cameras.is_empty() {
        return Err("this gateway has no camera".into());
    }
    let chosen: Vec<_> = match &a.camera {
        Some(name) => {
            let c = cameras
                .into_iter()
                .find(|c| &c.name == name)
                .ok_or_else(|| format!("unknown camera `{name}`"))?;
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
        Err(format!("snapshot failed: {}", errors.join("; ")))
    }
}

async fn live_view(rt: &Runtime, a: LiveViewArgs) -> Result<Value, String> {
    let camera = rt
        .cameras()
        .into_iter()
        .find(|c| c.name == a.camera)
        .ok_or_else(|| format!("unknown camera `{}`", a.camera))?;
    match a.action {
        LiveViewAction::Stop => Ok(json!({"was_running": camera.live_stop().await})),
        LiveViewAction::Start => {
            let duration = a.duration_s.unwrap_or(60.0);
            if !(duration > 0.0 && duration <= 600.0) {
                return Err(format!("duration_s {duration} must be between 0 and 600"));
            }
            let fps = a.fps.unwrap_or(1.0);
            if !(0.1..=5.0).contains(&fps) {
                return Err(format!("fps {fps} must be between 0.1 and 5"));
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
fn reload(rt: &Runtime) -> Result<Value, String> {
    let current = rt.config.lock().expect("config lock").clone();
    let path = current
        .source
        .clone()
        .ok_or("this bridge was started from an in-memory configuration: nothing to reload")?;
    let new = BridgeConfig::load(&path).map_err(|e| e.to_string())?;
    let same = |a: &BridgeConfig, b: &BridgeConfig| {
        a.gateway == b.gateway
            && serde_json::to_value(&a.mqtt).ok() == serde_json::to_value(&b.mqtt).ok()
            && serde_json::to_value(&a.queue).ok() == serde_json::to_value(&b.queue).ok()
    };
    if !same(&current, &new) {
        return Err("gateway, [mqtt] or [queue] changed: restart the bridge to apply them".into());
    }
    if !new.cameras.is_empty() {
        crate::camera::init_gstreamer().map_err(|e| e.to_string())?;
    }
    rt.start_workers(&new);
    let result = json!({"points": new.points.len(), "cameras": new.cameras.len()});
    *rt.config.lock().expect("config lock") = new;
    Ok(result)
}
