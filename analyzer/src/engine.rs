//! The streaming engine: telemetry in, per-sensor windows, rules evaluated on reading time as
//! readings arrive, level trackers per (site, source), warnings out. Device silence is the one
//! thing judged on the wall clock (tokio's, so a paused-clock test can drive it).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use geohazard_protocol::telemetry::decode_telemetry;
use geohazard_protocol::warning::{DeviceFault, WarningSource};
use geohazard_protocol::{GatewayStatus, Quality, Summary, Topic};
use geohazard_warnings::{LevelChange, Lifecycle, Outbox};
use sqlx::PgPool;
use tokio::time::Instant;

use crate::config::AnalyzerConfig;
use crate::registry::{Registry, SensorInfo};
use geohazard_rules::levels::{
    Assessment, Change, Direction, Level, Persistence, Thresholds, Tracker,
};
use geohazard_rules::methods::{DAY_MS, HOUR_MS};
use geohazard_rules::rules::{self, Evaluation, NotJudged};
use geohazard_rules::sensor::{Context, Evaluated, Hazard, JudgedRule, SensorEval};
use geohazard_rules::window::Insert;
use geohazard_warnings::evidence::{
    CombinedEvidence, Evidence, GatewayStatusEvidence, SilenceEvidence, StuckEvidence,
    SuspectEvidence,
};

/// Counters of one running analyzer, for tests, the benchmark and logs.
#[derive(Debug, Default)]
pub struct Stats {
    /// Telemetry and status messages handled (whatever they held).
    pub messages: AtomicU64,
    /// Readings evaluated (duplicates and unknown sensors not counted).
    pub readings: AtomicU64,
    /// Warning transitions stored and published.
    pub transitions: AtomicU64,
}

struct SensorState {
    /// The window and what is learnt from it, judged by the shared evaluation.
    eval: SensorEval,
    last_arrival: Instant,
    /// Per rule, the "not judged" reason last stored (`None`: judged), so the store is written
    /// only when it changes.
    judged: HashMap<JudgedRule, Option<NotJudged>>,
}

/// A warning is kept per site and source.
type Key = (i64, WarningSource);

struct GatewayState {
    last_arrival: Instant,
}

pub(crate) struct Engine {
    pool: PgPool,
    config: Arc<AnalyzerConfig>,
    lifecycle: Lifecycle,
    registry: Registry,
    sensors: HashMap<i32, SensorState>,
    gateways: HashMap<String, GatewayState>,
    trackers: HashMap<Key, Tracker>,
    mqtt: Outbox,
    raw_horizon_ms: i64,
    long_horizon_ms: i64,
    stats: Arc<Stats>,
    /// Wall-clock start, the fixed point of `time_scale`.
    started_ms: i64,
    /// The failure forecast last stored per open trend warning, in the engine's clock.
    forecasts: HashMap<Key, i64>,
    /// Per sensor, the newest accepted failure forecast and its band (hours), in the engine's
    /// clock: a red from another rule of the sensor carries it.
    latest_forecast: HashMap<i32, (i64, Option<f64>)>,
}

/// Reading time as the rules see it: stretched by `scale` around `anchor` (demos whose
/// scenario runs faster than the clock); unchanged for a scale of 1.
fn scenario_ts(ts_ms: i64, anchor_ms: i64, scale: f64) -> i64 {
    if scale == 1.0 || !scale.is_finite() || scale <= 0.0 {
        return ts_ms;
    }
    anchor_ms.saturating_add(((ts_ms - anchor_ms) as f64 * scale) as i64)
}

/// The inverse of [`scenario_ts`]: the wall-clock time of a scenario instant. Warnings are
/// stored and shown in wall-clock time, whatever the engine's clock.
fn wall_ts(ts_ms: i64, anchor_ms: i64, scale: f64) -> i64 {
    if scale == 1.0 || !scale.is_finite() || scale <= 0.0 {
        return ts_ms;
    }
    anchor_ms.saturating_add(((ts_ms - anchor_ms) as f64 / scale) as i64)
}

/// Other rain gauges within the rule's radius of `info` whose rain over the hours of a suspect
/// reading confirms it (see [`rules::RainfallParams::confirm_radius_km`]): the readings of each
/// that cover the suspect's span, and one of its own readings either side. At most one
/// confirmation per suspect reading, from the gauge that caught the most.
fn gauge_confirmations<'a>(
    states: &HashMap<i32, SensorState>,
    registered: impl Iterator<Item = &'a Arc<SensorInfo>>,
    info: &SensorInfo,
    p: &rules::RainfallParams,
    suspects: &[rules::SuspectRain],
    interval_ms: i64,
    scale: f64,
) -> Vec<rules::GaugeConfirmation> {
    use geo::{Distance, Haversine};
    let nearby: Vec<(&Arc<SensorInfo>, f64)> = registered
        .filter(|o| o.id != info.id && o.rules.rainfall.is_some())
        .map(|o| (o, Haversine.distance(info.location, o.location) / 1000.0))
        .filter(|(_, km)| *km <= p.confirm_radius_km)
        .collect();
    let mut out: Vec<rules::GaugeConfirmation> = Vec::new();
    for s in suspects {
        for (o, km) in &nearby {
            let Some(w) = states.get(&o.id).map(|st| &st.eval.window) else {
                continue;
            };
            let theirs = (o.sampling_interval_s.max(1) as f64 * 1000.0 * scale) as i64;
            let (n, mm) = w.sum_between(s.ts - interval_ms - theirs, s.ts + theirs);
            if n == 0 || !rules::confirms(p, s, mm) {
                continue;
            }
            let better = out.iter().position(|c| c.ts == s.ts);
            if better.is_some_and(|i| out[i].mm >= mm) {
                continue;
            }
            let c = rules::GaugeConfirmation {
                ts: s.ts,
                gauge: o.label(),
                distance_km: (km * 10.0).round() / 10.0,
                mm: (mm * 1000.0).round() / 1000.0,
            };
            match better {
                Some(i) => out[i] = c,
                None => out.push(c),
            }
        }
    }
    out
}

fn ms_to_time(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
}

/// China Standard Time, in which Chinese summaries state instants.
const BEIJING: FixedOffset = FixedOffset::east_opt(8 * 3600).expect("a valid offset");

/// A duration as a Chinese summary says it: seconds, minutes or hours, whichever reads best.
fn duration_zh(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 120.0 {
        format!("{s:.0} 秒")
    } else if s < 7200.0 {
        format!("{:.0} 分钟", s / 60.0)
    } else {
        format!("{:.1} 小时", s / 3600.0)
    }
}

/// How long one gateway has been silent, and for how long it may be.
struct GatewaySilence {
    code: String,
    /// A gateway serving several sites reports its silence at the lowest site id, the same one
    /// every time.
    site: i64,
    silent_for: Duration,
    /// The shortest of its sensors' limits.
    limit: Duration,
}

/// What the clock says about silence, before any warning is touched: every gateway with a
/// health rule on one of its sensors, and the sensors silent beyond their limit (a multiple of
/// their sampling interval) whose gateway still talks (a silent gateway is one fault, not one
/// per sensor). A gateway never heard is timed from now.
struct SilenceReport {
    gateways: Vec<GatewaySilence>,
    sensors: Vec<(Arc<SensorInfo>, Duration, Duration)>,
}

fn judge_silence<'a>(
    registered: impl Iterator<Item = &'a Arc<SensorInfo>>,
    last_heard: impl Fn(i32) -> Option<Instant>,
    gateways: &mut HashMap<String, GatewayState>,
) -> SilenceReport {
    let now = Instant::now();
    let mut limits: HashMap<String, (i64, Duration)> = HashMap::new();
    let mut silent_sensors = Vec::new();
    for s in registered {
        let Some(h) = &s.rules.health else { continue };
        let limit = Duration::from_secs_f64(
            (h.silence_multiple.max(1.0) * s.sampling_interval_s.max(1) as f64).min(1e9),
        );
        let g = limits
            .entry(s.gateway.clone())
            .or_insert((s.site_id, limit));
        g.0 = g.0.min(s.site_id);
        g.1 = g.1.min(limit);
        if let Some(last) = last_heard(s.id)
            && now - last > limit
        {
            silent_sensors.push((s.clone(), now - last, limit));
        }
    }
    let mut report = SilenceReport {
        gateways: Vec::new(),
        sensors: Vec::new(),
    };
    for (code, (site, limit)) in limits {
        let last = gateways
            .entry(code.clone())
            .or_insert(GatewayState { last_arrival: now })
            .last_arrival;
        report.gateways.push(GatewaySilence {
            code,
            site,
            silent_for: now - last,
            limit,
        });
    }
    let silent_gateway = |code: &str| {
        report
            .gateways
            .iter()
            .any(|g| g.code == code && g.silent_for > g.limit)
    };
    report.sensors = silent_sensors
        .into_iter()
        .filter(|(s, _, _)| !silent_gateway(&s.gateway))
        .collect();
    report
}

impl Engine {
    /// Loads the registry and rules, warms every sensor's window from the store, and picks up
    /// the open warnings so a restart continues them rather than raising them again.
    pub(crate) async fn start(
        pool: PgPool,
        config: Arc<AnalyzerConfig>,
        lifecycle: Lifecycle,
        mqtt: Outbox,
        stats: Arc<Stats>,
    ) -> anyhow::Result<Engine> {
        let e = &config.engine;
        let registry = Registry::load(pool.clone(), Duration::from_secs(e.unknown_retry_s)).await?;
        let raw_horizon_ms = (e.raw_horizon_h * HOUR_MS as f64) as i64;
        let long_horizon_ms = (e.long_horizon_days * DAY_MS) as i64;
        let mut engine = Engine {
            pool,
            lifecycle,
            config: config.clone(),
            registry,
            sensors: HashMap::new(),
            gateways: HashMap::new(),
            trackers: HashMap::new(),
            mqtt,
            raw_horizon_ms,
            long_horizon_ms,
            stats,
            started_ms: Utc::now().timestamp_millis(),
            forecasts: HashMap::new(),
            latest_forecast: HashMap::new(),
        };
        engine.warm_up().await?;
        for (site, source, level) in geohazard_warnings::open_levels(&engine.pool).await? {
            engine
                .trackers
                .insert((site, source), Tracker::at(Some(level)));
        }
        Ok(engine)
    }

    fn new_state(&self) -> SensorState {
        SensorState {
            eval: SensorEval::new(self.raw_horizon_ms, self.long_horizon_ms),
            last_arrival: Instant::now(),
            judged: HashMap::new(),
        }
    }

    async fn warm_up(&mut self) -> anyhow::Result<()> {
        let started = Instant::now();
        let ids: Vec<i32> = self.registry.sensors().map(|s| s.id).collect();
        for id in &ids {
            let st = self.new_state();
            self.sensors.insert(*id, st);
        }
        // Each sensor looks back from its own newest stored reading, not from the wall clock:
        // history being imported or replayed may be weeks old and still be the sensor's present.
        let now_ms = Utc::now().timestamp_millis();
        let newest: Vec<(i32, Option<DateTime<Utc>>)> = sqlx::query_as(
            "SELECT s, (SELECT max(ts) FROM readings WHERE sensor_id = s AND quality < 2)
             FROM unnest($1::int4[]) AS s",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        let mut by_end: HashMap<i64, Vec<i32>> = HashMap::new();
        for (id, newest) in newest {
            // Sensors whose data reach the present share one query; older ones have their own.
            let end = newest
                .map(|t| t.timestamp_millis())
                .filter(|t| *t < now_ms - self.raw_horizon_ms)
                .map(|t| t + 1)
                .unwrap_or(now_ms);
            by_end.entry(end).or_default().push(id);
        }
        let (mut n_hours, mut n_raw) = (0, 0);
        for (end_ms, ids) in by_end {
            let raw_from_ms = (end_ms - self.raw_horizon_ms).div_euclid(HOUR_MS) * HOUR_MS;
            let raw_from = ms_to_time(raw_from_ms).unwrap_or_default();
            let long_from = ms_to_time(end_ms - self.long_horizon_ms).unwrap_or_default();
            // Hourly rollups before the raw horizon, raw readings from it on.
            let history =
                geohazard_store::readings::history(&self.pool, &ids, long_from, raw_from).await?;
            n_hours += history.hours.len();
            n_raw += history.raw.len();
            self.warm(history);
        }
        tracing::info!(
            sensors = ids.len(),
            hourly = n_hours,
            raw = n_raw,
            took_ms = started.elapsed().as_millis() as u64,
            "windows warmed from the store"
        );
        Ok(())
    }

    fn warm(&mut self, history: geohazard_store::readings::History) {
        let scale = self.config.engine.time_scale;
        for (id, bucket, n, sum) in &history.hours {
            // Hourly sums cannot be stretched into scenario time: a demo starts without them.
            if scale != 1.0 {
                break;
            }
            if let Some(st) = self.sensors.get_mut(id) {
                st.eval.window.warm_hour(
                    bucket.timestamp_millis(),
                    (*n).clamp(0, u32::MAX as i64) as u32,
                    *sum,
                );
            }
        }
        for (id, ts, v) in &history.raw {
            if let Some(st) = self.sensors.get_mut(id) {
                let ts = scenario_ts(ts.timestamp_millis(), self.started_ms, scale);
                st.eval.window.insert(ts, *v);
            }
        }
    }

    pub(crate) async fn reload(&mut self) {
        if let Err(e) = self.registry.reload().await {
            tracing::warn!(error = %e, "registry reload failed; keeping the cached one");
        }
    }

    /// One message from the broker.
    pub(crate) async fn handle(&mut self, topic: &str, payload: &[u8]) {
        match Topic::parse(topic) {
            Ok(Topic::Telemetry { gateway }) => self.telemetry(&gateway, payload).await,
            Ok(Topic::Status { gateway }) => self.status(&gateway, payload).await,
            Ok(_) => {}
            Err(e) => tracing::debug!(topic, error = %e, "ignored a message on an unknown topic"),
        }
        self.stats.messages.fetch_add(1, Ordering::Relaxed);
    }

    async fn telemetry(&mut self, gateway: &str, payload: &[u8]) {
        let now = Utc::now().timestamp_millis();
        // The collector quarantines what is refused; the analyzer just skips it.
        let decoded = match decode_telemetry(payload, &self.config.limits, now) {
            Ok(d) => d,
            Err(e) => {
                tracing::debug!(gateway, reason = ?e.reason, "telemetry refused");
                return;
            }
        };
        self.gateways
            .entry(gateway.to_owned())
            .or_insert_with(|| GatewayState {
                last_arrival: Instant::now(),
            })
            .last_arrival = Instant::now();
        let mut readings = decoded.readings;
        readings.sort_by(|a, b| a.channel.cmp(&b.channel).then(a.ts_ms.cmp(&b.ts_ms)));
        let mut last: Option<(String, Arc<SensorInfo>)> = None;
        for r in readings {
            if r.quality == Quality::Bad {
                continue;
            }
            let info = match &last {
                Some((ch, info)) if *ch == r.channel => info.clone(),
                _ => {
                    let Some(info) = self.registry.sensor(gateway, &r.channel).await else {
                        tracing::debug!(gateway, channel = %r.channel, "reading of an unknown sensor skipped");
                        continue;
                    };
                    last = Some((r.channel.clone(), info.clone()));
                    info
                }
            };
            let ts = scenario_ts(r.ts_ms, self.started_ms, self.config.engine.time_scale);
            self.reading(&info, ts, r.value).await;
        }
    }

    async fn status(&mut self, gateway: &str, payload: &[u8]) {
        let Ok(status) = GatewayStatus::decode(payload, 64 * 1024) else {
            return;
        };
        let Some(site) = self
            .registry
            .sensors()
            .find(|s| s.gateway == gateway)
            .map(|s| s.site_id)
        else {
            return;
        };
        let e = &self.config.engine;
        let low_battery = status.battery_pct.filter(|b| *b < e.min_battery_pct);
        let low_supply = status.supply_v.filter(|v| *v < e.min_gateway_supply_v);
        let fault = (low_battery.is_some() || low_supply.is_some()).then_some(Level::Blue);
        let summary = match (low_battery, low_supply) {
            (Some(b), _) => Summary::new(
                format!("gateway {gateway} battery {b:.0}%"),
                format!("网关 {gateway} 电池电量 {b:.0}%"),
            ),
            (_, Some(v)) => Summary::new(
                format!("gateway {gateway} supply {v:.1} V"),
                format!("网关 {gateway} 供电电压 {v:.1} V"),
            ),
            _ => Summary::new(
                format!("gateway {gateway} power normal"),
                format!("网关 {gateway} 供电恢复正常"),
            ),
        };
        let evidence = Evidence::GatewayStatus(GatewayStatusEvidence {
            status,
            min_battery_pct: e.min_battery_pct,
            min_supply_v: e.min_gateway_supply_v,
        });
        let source = WarningSource::Device(DeviceFault::GatewayPower {
            gateway: gateway.to_owned(),
        });
        self.set_device(site, source, None, fault, summary, evidence)
            .await;
    }

    async fn reading(&mut self, info: &Arc<SensorInfo>, ts: i64, value: f64) {
        // Out of the map while it is judged: the rain screen reads the other gauges' windows.
        let mut st = match self.sensors.remove(&info.id) {
            Some(st) => st,
            None => self.new_state(),
        };
        st.last_arrival = Instant::now();
        let late = match st.eval.window.insert(ts, value) {
            Insert::Duplicate | Insert::TooOld => {
                self.sensors.insert(info.id, st);
                return;
            }
            Insert::Newest => false,
            Insert::Late => true,
        };
        self.stats.readings.fetch_add(1, Ordering::Relaxed);
        let label = info.label();
        let sensor = || label.clone();
        let r = &info.rules;
        let scale = self.wall_scale();
        let interval_ms = (info.sampling_interval_s.max(1) as f64 * 1000.0 * scale) as i64;
        let trend_source = WarningSource::Trend { sensor: sensor() };
        let cx = Context {
            unit: &info.unit,
            interval_ms,
            id_curve: self.registry.id_curve(&info.division),
            trend_holding: self
                .trackers
                .get(&(info.site_id, trend_source))
                .is_some_and(|t| t.level.is_some()),
            late,
        };
        let (states, registered) = (&self.sensors, self.registry.sensors());
        // A late reading changes the window; the rules look at it as of the newest reading.
        let Some(evaluated) = st.eval.evaluate(r, cx, |p, suspects| {
            gauge_confirmations(states, registered, info, p, suspects, interval_ms, scale)
        }) else {
            self.sensors.insert(info.id, st);
            return;
        };
        let Evaluated {
            ts: now_ts,
            value: now_value,
            gap_ms,
            evals: hazards,
            judgements,
            rain,
        } = evaluated;
        let mut evals: Vec<(WarningSource, Evaluation, Persistence)> = Vec::new();
        for (hazard, e, persistence) in hazards {
            let source = match hazard {
                Hazard::Threshold => WarningSource::Threshold { sensor: sensor() },
                Hazard::Rate => WarningSource::Rate { sensor: sensor() },
                Hazard::Trend => {
                    match e.forecast_ms {
                        Some(f) => {
                            let band = e.evidence.failure_band_h();
                            self.latest_forecast.insert(info.id, (f, band));
                        }
                        None => {
                            // While the trend warning holds a stored forecast, that forecast is
                            // what the console shows: a red carries it rather than saying there
                            // is none (the fit may lose confidence for an hour near failure).
                            let trend = (info.site_id, WarningSource::Trend { sensor: sensor() });
                            if !self.forecasts.contains_key(&trend) {
                                self.latest_forecast.remove(&info.id);
                            }
                        }
                    }
                    WarningSource::Trend { sensor: sensor() }
                }
                Hazard::Rain => WarningSource::Rain { sensor: sensor() },
            };
            evals.push((source, e, persistence));
        }
        let mut device: Vec<(DeviceFault, Option<Level>, Summary, Evidence)> = Vec::new();
        if let (Some(p), Some(screen)) = (&r.rainfall, rain) {
            let confirmed_by = screen.confirmed.last().map(|c| c.1.clone());
            let (suspect, refuted) = match (screen.pending, screen.refuted.last()) {
                (Some(s), _) => (s, false),
                (None, Some(s)) => (*s, true),
                (None, None) if !screen.confirmed.is_empty() => {
                    (screen.confirmed[screen.confirmed.len() - 1].0, false)
                }
                // Confirmed (or nothing suspect): any open check is over.
                (None, None) => (
                    rules::SuspectRain {
                        ts: now_ts,
                        mm: now_value,
                        neighbours_mm: 0.0,
                        times: 0.0,
                    },
                    false,
                ),
            };
            let summary = match (screen.pending.is_some(), refuted) {
                (false, false) if let Some(c) = &confirmed_by => Summary::new(
                    format!(
                        "{label}: the reading of {} mm is confirmed by {} ({:.1} km away, {:.1} mm over the same hours)",
                        suspect.mm, c.gauge, c.distance_km, c.mm
                    ),
                    format!(
                        "{label} 读数 {} mm 已由 {:.1} 公里外的 {} 同时段雨量 {:.1} mm 证实",
                        suspect.mm, c.distance_km, c.gauge, c.mm
                    ),
                ),
                (true, _) => Summary::new(
                    format!(
                        "{label}: {} mm, {:.0}× its neighbours (at most {} mm), held out of the rain sums until the next reading",
                        suspect.mm, suspect.times, suspect.neighbours_mm
                    ),
                    format!(
                        "{label} 读数 {} mm，为相邻读数（至多 {} mm）的 {:.0} 倍，待下一读数确认前不计入雨量",
                        suspect.mm, suspect.neighbours_mm, suspect.times
                    ),
                ),
                (false, true) => Summary::new(
                    format!(
                        "{label}: the reading of {} mm was refuted by the readings around it (at most {} mm) and left out of every sum",
                        suspect.mm, suspect.neighbours_mm
                    ),
                    format!(
                        "{label} 读数 {} mm 被前后读数（至多 {} mm）否定，已从各项雨量中剔除",
                        suspect.mm, suspect.neighbours_mm
                    ),
                ),
                (false, false) => Summary::new(
                    format!("{label}: readings consistent again"),
                    format!("{label} 读数已得到确认"),
                ),
            };
            device.push((
                DeviceFault::Suspect { sensor: sensor() },
                screen.pending.map(|_| Level::Blue),
                summary,
                Evidence::SuspectReading(SuspectEvidence {
                    ts: suspect.ts,
                    value: suspect.mm,
                    neighbours_max: suspect.neighbours_mm,
                    ratio_limit: p.suspect_ratio,
                    refuted,
                    radius_km: p.confirm_radius_km,
                    confirmed_by,
                }),
            ));
        }
        if let Some(h) = &r.health {
            if let Some(min) = h.stuck_samples {
                let raw = st.eval.window.raw();
                let (run, first_ts) = rules::identical_run(raw);
                let stuck = rules::is_stuck(run, first_ts, now_ts, gap_ms, min, h.stuck_h);
                // Free again: the catch-up is the device's step, stated as such.
                let before = &raw[..raw.len().saturating_sub(1)];
                let (n_before, from_before) = rules::identical_run(before);
                let freed = before.last().filter(|(last_ts, _)| {
                    !stuck
                        && rules::is_stuck(n_before, from_before, *last_ts, gap_ms, min, h.stuck_h)
                });
                let summary = match freed {
                    Some(&(last_ts, v)) => {
                        let hours = (last_ts - from_before) as f64 / HOUR_MS as f64;
                        let step = now_value - v;
                        Summary::new(
                            format!(
                                "{label} free again after {hours:.1} h at {v}: caught up by {step:+.2} {}; the stuck readings are left out of the rules",
                                info.unit
                            ),
                            format!(
                                "{label} 在 {v} 停滞 {hours:.1} 小时后恢复：补跳 {step:+.2} {}（设备事件，停滞期读数不参与判据）",
                                info.unit
                            ),
                        )
                    }
                    None => Summary::new(
                        format!("{label} repeated {now_value} {run} times"),
                        format!("{label} 连续 {run} 次读数均为 {now_value}"),
                    ),
                };
                device.push((
                    DeviceFault::Stuck { sensor: sensor() },
                    stuck.then_some(Level::Blue),
                    summary,
                    Evidence::Stuck(StuckEvidence {
                        value: now_value,
                        identical_samples: run,
                        limit: min,
                        ts: now_ts,
                    }),
                ));
            }
            if let Some(min) = h.min_supply_v {
                let e = rules::eval_threshold(
                    &rules::ThresholdParams {
                        direction: Direction::Below,
                        levels: Thresholds {
                            blue: Some(min),
                            ..Default::default()
                        },
                        hysteresis: 0.2,
                        persistence: Persistence::readings(3),
                    },
                    now_ts,
                    now_value,
                    &info.unit,
                );
                evals.push((
                    WarningSource::Device(DeviceFault::Supply { sensor: sensor() }),
                    e,
                    Persistence::readings(3),
                ));
            }
            // Heard again: a silence fault of this sensor is over.
            device.push((
                DeviceFault::SensorSilent { sensor: sensor() },
                None,
                Summary::new(
                    format!("{label} reporting again"),
                    format!("{label} 恢复上报"),
                ),
                Evidence::Silence(SilenceEvidence::Over { ts: now_ts }),
            ));
        }
        self.sensors.insert(info.id, st);
        for (rule, judged) in judgements {
            self.record_judgement(info.id, rule, judged, now_ts).await;
        }
        for (source, mut eval, persistence) in evals {
            let key = (info.site_id, source);
            let tracker = self.trackers.entry(key.clone()).or_default();
            if let Some(change) = tracker.update(eval.assessment, now_ts, persistence) {
                self.transition(&key, Some(info.id), change, eval, Some(now_ts))
                    .await;
            } else if let (Some(level), Some(p)) = (tracker.level, &r.trend) {
                // A red carries the sensor's current forecast whichever rule raised it (see
                // `transition`), also the first one established while it holds.
                let mut borrowed_band = None;
                if level == Level::Red
                    && eval.forecast_ms.is_none()
                    && let Some(&(f, band)) = self.latest_forecast.get(&info.id)
                    && f > now_ts
                {
                    eval.forecast_ms = Some(f);
                    borrowed_band = band;
                }
                let Some(forecast) = eval.forecast_ms else {
                    continue;
                };
                // The level holds: a forecast that moved is stored and published all the same.
                let ip = &p.inverse_velocity;
                let moved = self.forecasts.get(&key).is_none_or(|last| {
                    let left = (forecast - now_ts).max(0) as f64;
                    let tolerance =
                        (ip.tolerance_fraction * left).max(ip.tolerance_h * HOUR_MS as f64);
                    (forecast - last).abs() as f64 > tolerance
                });
                if moved {
                    let resend = ip.resend;
                    let at = (now_ts, borrowed_band);
                    self.forecast_update(&key, Some(info.id), level, eval, at, resend)
                        .await;
                }
            }
        }
        for (fault, level, summary, evidence) in device {
            let source = WarningSource::Device(fault);
            self.set_device(
                info.site_id,
                source,
                Some(info.id),
                level,
                summary,
                evidence,
            )
            .await;
        }
        let gateway_silent = WarningSource::Device(DeviceFault::GatewaySilent {
            gateway: info.gateway.clone(),
        });
        let key = (info.site_id, gateway_silent);
        if self.trackers.get(&key).is_some_and(|gw| gw.level.is_some()) {
            let gateway = &info.gateway;
            let summary = Summary::new(
                format!("gateway {gateway} reporting again"),
                format!("网关 {gateway} 恢复上报"),
            );
            let evidence = Evidence::Silence(SilenceEvidence::Over { ts: now_ts });
            self.set_device(key.0, key.1, None, None, summary, evidence)
                .await;
        }
    }

    async fn set_device(
        &mut self,
        site: i64,
        source: WarningSource,
        sensor: Option<i32>,
        level: Option<Level>,
        summary: Summary,
        evidence: Evidence,
    ) {
        let key = (site, source);
        let change = match self.trackers.get_mut(&key) {
            Some(t) => t.set(level),
            None if level.is_none() => None,
            None => self.trackers.entry(key.clone()).or_default().set(level),
        };
        if let Some(change) = change {
            let eval = Evaluation {
                assessment: Assessment::default(),
                summary,
                evidence,
                forecast_ms: None,
            };
            self.transition(&key, sensor, change, eval, None).await;
        }
    }

    /// The demo time scale, 1 when it is not a usable number.
    fn wall_scale(&self) -> f64 {
        let scale = self.config.engine.time_scale;
        if scale.is_finite() && scale > 0.0 {
            scale
        } else {
            1.0
        }
    }

    /// A change as the store takes it: instants mapped back to the wall clock, the forecast
    /// and its band in the summary.
    fn level_change(
        &self,
        key: &Key,
        sensor: Option<i32>,
        level: Option<Level>,
        eval: Evaluation,
        reading_ts: Option<i64>,
        band_h_elsewhere: Option<f64>,
    ) -> LevelChange {
        let (anchor, scale) = (self.started_ms, self.config.engine.time_scale);
        let wall = |ms: i64| wall_ts(ms, anchor, scale);
        let mut evidence = eval.evidence;
        let band_h = evidence.failure_band_h();
        evidence.map_instants(wall);
        let forecast = eval.forecast_ms.map(wall).and_then(ms_to_time);
        let mut summary = eval.summary;
        if let Some(t) = forecast {
            // Chinese readers in China's one time zone; the English line in UTC.
            let beijing = t.with_timezone(&BEIJING);
            let mut text = Summary::new(
                format!("failure forecast {}", t.format("%Y-%m-%d %H:%M UTC")),
                format!(
                    "预测失稳时间 {}（北京时间）",
                    beijing.format("%Y-%m-%d %H:%M")
                ),
            );
            if let Some(b) = band_h.or(band_h_elsewhere) {
                // The band in wall-clock hours, as the forecast is shown.
                let band = b / self.wall_scale();
                text.push(&format!(" ± {band:.1} h"), &format!(" ± {band:.1} 小时"));
            }
            // A red leads with it, so a message cut short still carries it.
            summary = if level == Some(Level::Red) {
                Summary::new(
                    format!("{}; {}", text.en, summary.en),
                    format!("{}；{}", text.zh, summary.zh),
                )
            } else {
                Summary::new(
                    format!("{}, {}", summary.en, text.en),
                    format!("{}，{}", summary.zh, text.zh),
                )
            };
        }
        if forecast.is_none()
            && level == Some(Level::Red)
            && matches!(
                key.1,
                WarningSource::Rate { .. } | WarningSource::Trend { .. }
            )
        {
            // A red of moving ground says so when no forecast is established yet: the phone
            // must not be left guessing whether one was lost (the first one follows by SMS).
            summary = Summary::new(
                format!("failure time: no reliable forecast yet; {}", summary.en),
                format!("失稳时间：尚无可靠预测；{}", summary.zh),
            );
        }
        LevelChange {
            site_id: key.0,
            source: key.1.clone(),
            sensor_id: sensor,
            level,
            summary,
            evidence,
            reading_ts: reading_ts.map(wall).and_then(ms_to_time),
            failure_forecast: forecast,
        }
    }

    /// A holding warning's forecast moved: stored and published as `forecast_updated`, and sent
    /// again by SMS when it moved materially earlier than the one the SMS carried, or is the
    /// first one a red takes (`band_h_elsewhere`: the band of a forecast borrowed from the
    /// sensor's trend rule).
    async fn forecast_update(
        &mut self,
        key: &Key,
        sensor: Option<i32>,
        level: Level,
        eval: Evaluation,
        (reading_ts, band_h_elsewhere): (i64, Option<f64>),
        resend: rules::ForecastResend,
    ) {
        let Some(forecast) = eval.forecast_ms else {
            return;
        };
        let lc = self.level_change(
            key,
            sensor,
            Some(level),
            eval,
            Some(reading_ts),
            band_h_elsewhere,
        );
        match self
            .lifecycle
            .update_forecast(&self.pool, &lc, Some(resend))
            .await
        {
            Ok(Some(w)) => {
                self.forecasts.insert(key.clone(), forecast);
                self.stats.transitions.fetch_add(1, Ordering::Relaxed);
                tracing::info!(warning = w.id, source = %w.source, summary = %w.summary, "failure forecast updated");
                let _ = self.mqtt.send(w);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, source = %key.1, "could not store a forecast update")
            }
        }
    }

    /// Stores whether a rule could judge a sensor's data, when that changed.
    async fn record_judgement(
        &mut self,
        sensor: i32,
        rule: JudgedRule,
        judged: Result<(), NotJudged>,
        reading_ts: i64,
    ) {
        let reason = judged.err();
        let Some(st) = self.sensors.get_mut(&sensor) else {
            return;
        };
        if st.judged.get(&rule) == Some(&reason) {
            return;
        }
        // Only a change of kind is worth a write: the reason's figures move with every reading.
        let kind_changed = st
            .judged
            .get(&rule)
            .is_none_or(|r| r.is_some() != reason.is_some());
        if !kind_changed {
            return;
        }
        let wall = wall_ts(reading_ts, self.started_ms, self.config.engine.time_scale);
        let r = sqlx::query(
            "INSERT INTO sensor_judgement (sensor_id, rule, judged, reason, reading_ts, updated_at)
             VALUES ($1, $2, $3, $4, $5, now())
             ON CONFLICT (sensor_id, rule) DO UPDATE SET judged = EXCLUDED.judged,
                 reason = EXCLUDED.reason, reading_ts = EXCLUDED.reading_ts, updated_at = now()",
        )
        .bind(sensor)
        .bind(rule.as_str())
        .bind(reason.is_none())
        .bind(reason.as_ref().map(ToString::to_string))
        .bind(ms_to_time(wall))
        .execute(&self.pool)
        .await;
        match r {
            Ok(_) => {
                st.judged.insert(rule, reason);
            }
            Err(e) => {
                tracing::warn!(error = %e, sensor, rule = rule.as_str(), "could not store whether a rule judges its sensor")
            }
        }
    }

    /// Stores a tracker's change as a warning transition and publishes it. When the store
    /// fails, the tracker goes back so the next reading tries again.
    async fn transition(
        &mut self,
        key: &Key,
        sensor: Option<i32>,
        change: Change,
        eval: Evaluation,
        reading_ts: Option<i64>,
    ) {
        let mut eval = eval;
        // A red carries the sensor's current failure forecast, whichever rule raised it.
        let mut borrowed_band = None;
        if change.to == Some(Level::Red)
            && eval.forecast_ms.is_none()
            && let Some(&(f, band)) = sensor.and_then(|s| self.latest_forecast.get(&s))
            && reading_ts.is_none_or(|t| f > t)
        {
            eval.forecast_ms = Some(f);
            borrowed_band = band;
        }
        let forecast_ms = eval.forecast_ms;
        let lc = self.level_change(key, sensor, change.to, eval, reading_ts, borrowed_band);
        match self.lifecycle.apply(&self.pool, &lc).await {
            Ok(Some(w)) => {
                match (change.to, forecast_ms) {
                    (None, _) => self.forecasts.remove(key),
                    (Some(_), Some(f)) => self.forecasts.insert(key.clone(), f),
                    _ => None,
                };
                self.stats.transitions.fetch_add(1, Ordering::Relaxed);
                tracing::info!(warning = w.id, site = %w.site, source = %w.source, level = %w.level,
                    transition = w.transition.as_str(), summary = %w.summary, "warning changed");
                let _ = self.mqtt.send(w);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, source = %key.1, "could not store a warning change; will retry");
                if let Some(t) = self.trackers.get_mut(key) {
                    *t = Tracker::at(change.from);
                }
                return;
            }
        }
        // A sensor's hazard level feeds the site rule (which is not its own input).
        if matches!(
            key.1,
            WarningSource::Rain { .. }
                | WarningSource::Rate { .. }
                | WarningSource::Trend { .. }
                | WarningSource::Threshold { .. }
        ) {
            self.combine(key.0).await;
        }
    }

    /// Site rule: heavy rain together with moving ground raises the site's level by one.
    async fn combine(&mut self, site: i64) {
        let Some(params) = self.registry.site(site).and_then(|s| s.combined.clone()) else {
            return;
        };
        let max_of = |of: fn(&WarningSource) -> bool| {
            self.trackers
                .iter()
                .filter(|((s, src), _)| *s == site && of(src))
                .filter_map(|(_, t)| t.level)
                .max()
        };
        let rain = max_of(|s| matches!(s, WarningSource::Rain { .. }));
        let ground =
            max_of(|s| matches!(s, WarningSource::Rate { .. } | WarningSource::Trend { .. }));
        let level = match (rain, ground) {
            (Some(r), Some(g))
                if r >= params.rain_min_level && g >= params.displacement_min_level =>
            {
                let mut l = r.max(g);
                for _ in 0..params.raise_by {
                    l = l.raised();
                }
                if l == Level::Red && g < params.red_min_displacement_level && r < Level::Red {
                    l = Level::Orange;
                }
                Some(l)
            }
            _ => None,
        };
        let key = (site, WarningSource::SiteCombined);
        let change = self.trackers.entry(key.clone()).or_default().set(level);
        if let Some(change) = change {
            let eval = Evaluation {
                assessment: Assessment::default(),
                summary: Summary::new(
                    format!(
                        "rain at {} with ground movement at {}: raised by {}",
                        rain.map(|l| l.as_str()).unwrap_or("-"),
                        ground.map(|l| l.as_str()).unwrap_or("-"),
                        params.raise_by
                    ),
                    format!(
                        "降雨{}、变形{}同时出现：综合预警提高 {} 级",
                        rain.map(|l| l.name_zh()).unwrap_or("无预警"),
                        ground.map(|l| l.name_zh()).unwrap_or("无预警"),
                        params.raise_by
                    ),
                ),
                evidence: Evidence::Combined(CombinedEvidence {
                    rain_level: rain,
                    displacement_level: ground,
                    raise_by: params.raise_by,
                }),
                forecast_ms: None,
            };
            Box::pin(self.transition(&key, None, change, eval, None)).await;
        }
    }

    /// Wall-clock check: gateways and sensors silent for longer than a multiple of their
    /// sampling interval.
    pub(crate) async fn check_silence(&mut self) {
        let sensors = &self.sensors;
        let report = judge_silence(
            self.registry.sensors(),
            |id| sensors.get(&id).map(|st| st.last_arrival),
            &mut self.gateways,
        );
        for g in report.gateways {
            let code = g.code;
            let silent = g.silent_for > g.limit;
            let summary = Summary::new(
                format!(
                    "gateway {code} silent for {:.0} s (limit {:.0} s)",
                    g.silent_for.as_secs_f64(),
                    g.limit.as_secs_f64()
                ),
                format!(
                    "网关 {code} 已 {} 未上报（限 {}）",
                    duration_zh(g.silent_for),
                    duration_zh(g.limit)
                ),
            );
            let evidence = Evidence::Silence(SilenceEvidence::Gateway {
                gateway: code.clone(),
                silent_for_s: g.silent_for.as_secs_f64(),
                limit_s: g.limit.as_secs_f64(),
            });
            let source = WarningSource::Device(DeviceFault::GatewaySilent { gateway: code });
            if silent || self.trackers.contains_key(&(g.site, source.clone())) {
                let level = silent.then_some(Level::Blue);
                self.set_device(g.site, source, None, level, summary, evidence)
                    .await;
            }
        }
        let silent_sensors = report.sensors;
        for (s, silent_for, limit) in silent_sensors {
            let label = s.label();
            let summary = Summary::new(
                format!("{label} silent for {:.0} s", silent_for.as_secs_f64()),
                format!("{label} 已 {} 未上报", duration_zh(silent_for)),
            );
            let evidence = Evidence::Silence(SilenceEvidence::Sensor {
                silent_for_s: silent_for.as_secs_f64(),
                limit_s: limit.as_secs_f64(),
            });
            let source = WarningSource::Device(DeviceFault::SensorSilent { sensor: label });
            self.set_device(
                s.site_id,
                source,
                Some(s.id),
                Some(Level::Blue),
                summary,
                evidence,
            )
            .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geohazard_rules::rules::{HealthParams, SensorRules};

    fn sensor(id: i32, gateway: &str, site_id: i64, interval_s: i32) -> Arc<SensorInfo> {
        Arc::new(SensorInfo {
            id,
            gateway: gateway.into(),
            channel: format!("p-{id}"),
            unit: "m".into(),
            sampling_interval_s: interval_s,
            site_id,
            division: "511525".into(),
            location: geo::Point::new(104.5, 28.4),
            rules: SensorRules {
                health: Some(HealthParams::default()),
                ..SensorRules::default()
            },
        })
    }

    /// (gateway, site, silent) of each gateway, and the labels of the silent sensors, sorted.
    fn judged(
        sensors: &[Arc<SensorInfo>],
        heard: &HashMap<i32, Instant>,
        gateways: &mut HashMap<String, GatewayState>,
    ) -> (Vec<(String, i64, bool)>, Vec<String>) {
        let r = judge_silence(sensors.iter(), |id| heard.get(&id).copied(), gateways);
        let mut g: Vec<_> = r
            .gateways
            .iter()
            .map(|g| (g.code.clone(), g.site, g.silent_for > g.limit))
            .collect();
        g.sort();
        let mut s: Vec<_> = r.sensors.iter().map(|(s, _, _)| s.label()).collect();
        s.sort();
        (g, s)
    }

    #[tokio::test(start_paused = true)]
    async fn silence_is_judged_on_the_clock_one_fault_per_silent_gateway_not_per_sensor() {
        // Read every 10 s, silent after 3 intervals; gw-01 serves sites 2 and 1.
        let sensors = [
            sensor(1, "gw-01", 2, 10),
            sensor(2, "gw-01", 1, 10),
            sensor(3, "gw-02", 3, 60),
        ];
        let mut gateways = HashMap::new();
        let mut heard: HashMap<i32, Instant> =
            sensors.iter().map(|s| (s.id, Instant::now())).collect();
        let (g, s) = judged(&sensors, &heard, &mut gateways);
        assert_eq!(
            g,
            [("gw-01".into(), 1, false), ("gw-02".into(), 3, false)],
            "timed from the first look, reported at the lowest site"
        );
        assert!(s.is_empty());

        // Sensor 2 stops; its gateway keeps talking through sensor 1.
        tokio::time::advance(Duration::from_secs(31)).await;
        heard.insert(1, Instant::now());
        gateways.get_mut("gw-01").unwrap().last_arrival = Instant::now();
        let (g, s) = judged(&sensors, &heard, &mut gateways);
        assert_eq!(g[0], ("gw-01".into(), 1, false));
        assert_eq!(s, ["gw-01/p-2"]);

        // Then the whole gateway: one gateway fault, its sensors not reported on their own.
        tokio::time::advance(Duration::from_secs(31)).await;
        let (g, s) = judged(&sensors, &heard, &mut gateways);
        assert_eq!(g, [("gw-01".into(), 1, true), ("gw-02".into(), 3, false)]);
        assert!(s.is_empty(), "{s:?}");
    }

    #[test]
    fn scenario_time_stretches_reading_time_around_the_start() {
        assert_eq!(scenario_ts(1_000, 0, 1.0), 1_000);
        assert_eq!(scenario_ts(1_000, 0, 60.0), 60_000);
        assert_eq!(scenario_ts(-1_000, 0, 60.0), -60_000);
        assert_eq!(scenario_ts(5_000, 4_000, 60.0), 64_000);
        assert_eq!(scenario_ts(5_000, 4_000, f64::NAN), 5_000);
    }

    #[test]
    fn stored_times_go_back_to_the_wall_clock() {
        for ts in [-7_000, 0, 5_000, 1_795_770_649_234] {
            assert_eq!(wall_ts(scenario_ts(ts, 4_000, 60.0), 4_000, 60.0), ts);
        }
    }
}
