//! The sensor simulator: a real Modbus TCP server whose registers hold what field sensors
//! (from `geohazard-field-sim`) would measure, encoded exactly as the bridge's register map
//! expects. Several slaves share one port, as behind a Modbus TCP gateway.
//!
//! Tests control it through [`SimHandle`]: pin a value, set a raw register or a rain counter,
//! or make a slave stop answering (its requests time out while the others are served).

use std::collections::{HashMap, HashSet};
use std::future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use geohazard_field_sim::{Creep, RainEvent, SensorKind, SensorModel};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_modbus::server::tcp::{Server, accept_tcp_connection};
use tokio_modbus::{ExceptionCode, Request, Response, SlaveRequest};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::{
    BridgeConfig, CounterConfig, DataType, Function, ModbusDevice, PointConfig, StatusRole,
    Transport, WordOrder,
};
use crate::modbus::{Raw, encode};

/// Name of the simulator's device in an exported bridge configuration.
pub const SIM_DEVICE: &str = "sim";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimConfig {
    /// `ip:port` to listen on; port 0 picks a free one.
    pub listen: String,
    /// Scenario seconds per wall-clock second (a demo may run a rain storm in minutes).
    #[serde(default = "one")]
    pub speed: f64,
    /// How often the registers are recomputed.
    #[serde(default = "default_tick")]
    pub tick_ms: u64,
    pub points: Vec<SimPoint>,
}

fn one() -> f64 {
    1.0
}
fn default_tick() -> u64 {
    200
}

/// One served value: where it lives and how it is encoded (the same fields as a bridge point).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimPoint {
    pub channel: String,
    pub slave: u8,
    pub function: Function,
    pub address: u16,
    pub data_type: DataType,
    #[serde(default)]
    pub word_order: WordOrder,
    #[serde(default = "one")]
    pub scale: f64,
    #[serde(default)]
    pub offset: f64,
    /// Bridge poll interval written into the exported configuration.
    #[serde(default = "one")]
    pub interval_s: f64,
    pub source: SimSource,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum SimSource {
    /// A field-sim model; its value is encoded as `(value - offset) / scale`.
    Sensor {
        kind: SensorKind,
        #[serde(default)]
        seed: u64,
        #[serde(default)]
        rain: Option<RainEvent>,
        #[serde(default)]
        creep: Option<Creep>,
    },
    /// A tipping-bucket rain gauge: a counter of tips (u16 or u32) that wraps.
    RainCounter {
        mm_per_tip: f64,
        /// The counter's value at start (near the top to see a wrap soon).
        #[serde(default)]
        start: u64,
        #[serde(default)]
        seed: u64,
        #[serde(default)]
        rain: Option<RainEvent>,
    },
    /// A solar-charged 12 V battery: charges by day, sags by night.
    SupplyVoltage {
        #[serde(default)]
        seed: u64,
    },
    /// A fixed value.
    Constant { value: f64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Table {
    Holding,
    Input,
    Coil,
    Discrete,
}

impl From<Function> for Table {
    fn from(f: Function) -> Table {
        match f {
            Function::Holding => Table::Holding,
            Function::Input => Table::Input,
            Function::Coil => Table::Coil,
            Function::Discrete => Table::Discrete,
        }
    }
}

enum Model {
    Sensor(SensorModel),
    Rain {
        model: SensorModel,
        mm_per_tip: f64,
        count: u64,
        carry_mm: f64,
    },
    Supply(StdRng),
    Constant(f64),
}

struct SimState {
    registers: HashMap<(u8, Table, u16), u16>,
    slaves: HashSet<u8>,
    silent: HashSet<u8>,
    /// Requests received per slave, answered or not (tests count polls with it).
    requests: HashMap<u8, u64>,
    pinned: HashMap<String, f64>,
    points: Vec<(SimPoint, Model)>,
}

impl SimState {
    fn write(&mut self, p: &SimPoint, words: &[u16]) {
        for (i, w) in words.iter().enumerate() {
            self.registers
                .insert((p.slave, p.function.into(), p.address + i as u16), *w);
        }
    }

    /// Recomputes every point at scenario time `t` seconds.
    fn update(&mut self, t: f64) {
        let mut writes = Vec::with_capacity(self.points.len());
        for (p, model) in &mut self.points {
            let pinned = self.pinned.get(&p.channel).copied();
            let raw = match model {
                Model::Rain {
                    model,
                    mm_per_tip,
                    count,
                    carry_mm,
                } => {
                    let fallen = model.sample(t);
                    if pinned.is_none() {
                        *carry_mm += fallen;
                        let tips = (*carry_mm / *mm_per_tip).floor();
                        *carry_mm -= tips * *mm_per_tip;
                        let bits = if p.data_type == DataType::U16 { 16 } else { 32 };
                        *count = (*count + tips as u64) % (1u64 << bits);
                    }
                    Raw::Unsigned(pinned.map_or(*count, |v| v as u64))
                }
                other => {
                    let v = pinned.unwrap_or_else(|| match other {
                        Model::Sensor(m) => m.sample(t),
                        Model::Supply(rng) => {
                            let sun = (2.0 * std::f64::consts::PI * (t / 86_400.0 - 0.25))
                                .sin()
                                .max(0.0);
                            12.3 + 1.4 * sun + rng.random_range(-0.02..0.02)
                        }
                        Model::Constant(v) => *v,
                        Model::Rain { .. } => unreachable!("handled above"),
                    });
                    let scaled = (v - p.offset) / p.scale;
                    match p.data_type {
                        DataType::F32 => Raw::Float(scaled as f32),
                        DataType::U16 | DataType::U32 => {
                            Raw::Unsigned(scaled.round().max(0.0) as u64)
                        }
                        DataType::I16 | DataType::I32 => Raw::Signed(scaled.round() as i64),
                    }
                }
            };
            let words = if matches!(p.function, Function::Coil | Function::Discrete) {
                vec![(raw.as_f64() != 0.0) as u16]
            } else {
                encode(raw, p.data_type, p.word_order)
            };
            writes.push((p.clone(), words));
        }
        for (p, w) in writes {
            self.write(&p, &w);
        }
    }

    fn respond(&mut self, req: SlaveRequest<'_>) -> Result<Option<Response>, ExceptionCode> {
        let slave = req.slave;
        *self.requests.entry(slave).or_default() += 1;
        if self.silent.contains(&slave) {
            return Ok(None); // a dead sensor: no reply at all, the client times out
        }
        if !self.slaves.contains(&slave) {
            return Err(ExceptionCode::GatewayTargetDevice);
        }
        let words = |table: Table, addr: u16, n: u16| -> Result<Vec<u16>, ExceptionCode> {
            (0..n)
                .map(|i| {
                    self.registers
                        .get(&(slave, table, addr.wrapping_add(i)))
                        .copied()
                        .ok_or(ExceptionCode::IllegalDataAddress)
                })
                .collect()
        };
        let r = match req.request {
            Request::ReadHoldingRegisters(a, n) => {
                Response::ReadHoldingRegisters(words(Table::Holding, a, n)?)
            }
            Request::ReadInputRegisters(a, n) => {
                Response::ReadInputRegisters(words(Table::Input, a, n)?)
            }
            Request::ReadCoils(a, n) => Response::ReadCoils(
                words(Table::Coil, a, n)?
                    .into_iter()
                    .map(|w| w != 0)
                    .collect(),
            ),
            Request::ReadDiscreteInputs(a, n) => Response::ReadDiscreteInputs(
                words(Table::Discrete, a, n)?
                    .into_iter()
                    .map(|w| w != 0)
                    .collect(),
            ),
            _ => return Err(ExceptionCode::IllegalFunction),
        };
        Ok(Some(r))
    }
}

struct SimService {
    state: Arc<Mutex<SimState>>,
}

impl tokio_modbus::server::Service for SimService {
    type Request = SlaveRequest<'static>;
    type Response = Option<Response>;
    type Exception = ExceptionCode;
    type Future = future::Ready<Result<Option<Response>, ExceptionCode>>;

    fn call(&self, req: Self::Request) -> Self::Future {
        future::ready(self.state.lock().expect("sim lock").respond(req))
    }
}

/// A running simulator.
pub struct SimHandle {
    addr: SocketAddr,
    state: Arc<Mutex<SimState>>,
    cancel: CancellationToken,
}

impl SimHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A silent slave gets requests and never answers (a dead or unplugged sensor).
    pub fn set_silent(&self, slave: u8, silent: bool) {
        let mut s = self.state.lock().expect("sim lock");
        if silent {
            s.silent.insert(slave);
        } else {
            s.silent.remove(&slave);
        }
    }

    /// Requests `slave` has received so far, answered or not.
    pub fn requests(&self, slave: u8) -> u64 {
        let s = self.state.lock().expect("sim lock");
        s.requests.get(&slave).copied().unwrap_or(0)
    }

    /// Holds a channel at a physical value (for a rain counter: the raw tip count).
    pub fn pin(&self, channel: &str, value: f64) {
        let mut s = self.state.lock().expect("sim lock");
        s.pinned.insert(channel.to_owned(), value);
        // Write now rather than at the next tick, so a test sees it at once.
        s.update_pinned(channel);
    }

    pub fn stop(&self) {
        self.cancel.cancel();
    }
}

impl SimState {
    fn update_pinned(&mut self, channel: &str) {
        let Some(v) = self.pinned.get(channel).copied() else {
            return;
        };
        let Some((p, _)) = self.points.iter().find(|(p, _)| p.channel == channel) else {
            return;
        };
        let p = p.clone();
        let raw = match (&p.source, p.data_type) {
            (SimSource::RainCounter { .. }, _) => Raw::Unsigned(v as u64),
            (_, DataType::F32) => Raw::Float(((v - p.offset) / p.scale) as f32),
            (_, DataType::U16 | DataType::U32) => {
                Raw::Unsigned(((v - p.offset) / p.scale).round() as u64)
            }
            _ => Raw::Signed(((v - p.offset) / p.scale).round() as i64),
        };
        let words = encode(raw, p.data_type, p.word_order);
        self.write(&p, &words);
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl SimConfig {
    pub fn check(&self) -> anyhow::Result<()> {
        let mut seen = HashSet::new();
        let mut regs = HashSet::new();
        for p in &self.points {
            if !seen.insert(&p.channel) {
                anyhow::bail!("simulator channel `{}` is defined twice", p.channel);
            }
            for i in 0..p.data_type.registers() {
                if !regs.insert((p.slave, Table::from(p.function), p.address + i)) {
                    anyhow::bail!(
                        "simulator point `{}` overlaps another point's registers",
                        p.channel
                    );
                }
            }
            if p.scale == 0.0 || !p.scale.is_finite() {
                anyhow::bail!("simulator point `{}`: scale must be non-zero", p.channel);
            }
        }
        if self.speed.is_nan() || self.speed <= 0.0 {
            anyhow::bail!("speed must be > 0");
        }
        Ok(())
    }

    /// The bridge points that read exactly what this simulator serves.
    pub fn bridge_points(&self, device: &str) -> Vec<PointConfig> {
        self.points
            .iter()
            .map(|p| {
                let (counter, unit, status) = match &p.source {
                    SimSource::RainCounter { mm_per_tip, .. } => (
                        Some(CounterConfig {
                            mm_per_tip: *mm_per_tip,
                            max_tips_per_read: 1000,
                        }),
                        Some("mm".to_owned()),
                        None,
                    ),
                    SimSource::Sensor { kind, .. } => (None, Some(kind.unit().to_owned()), None),
                    SimSource::SupplyVoltage { .. } => {
                        (None, Some("V".to_owned()), Some(StatusRole::SupplyV))
                    }
                    SimSource::Constant { .. } => (None, None, None),
                };
                PointConfig {
                    channel: p.channel.clone(),
                    device: device.to_owned(),
                    slave: p.slave,
                    function: p.function,
                    address: p.address,
                    data_type: p.data_type,
                    word_order: p.word_order,
                    scale: p.scale,
                    offset: p.offset,
                    unit,
                    interval_s: p.interval_s,
                    counter,
                    status,
                }
            })
            .collect()
    }

    /// A whole bridge configuration polling this simulator at `sim_addr`.
    pub fn bridge_config(
        &self,
        gateway: &str,
        sim_addr: SocketAddr,
        mqtt_url: &str,
        queue_dir: impl Into<PathBuf>,
    ) -> BridgeConfig {
        let mut c = BridgeConfig::new(gateway, mqtt_url, queue_dir);
        c.modbus.push(ModbusDevice {
            name: SIM_DEVICE.to_owned(),
            transport: Transport::Tcp {
                address: sim_addr.to_string(),
            },
            timeout_ms: 500,
        });
        c.points = self.bridge_points(SIM_DEVICE);
        c
    }
}

fn build_state(config: &SimConfig) -> SimState {
    let points = config
        .points
        .iter()
        .map(|p| {
            let model = match &p.source {
                SimSource::Sensor {
                    kind,
                    seed,
                    rain,
                    creep,
                } => {
                    let mut m = SensorModel::new(*kind, *seed);
                    m.rain = *rain;
                    m.creep = *creep;
                    Model::Sensor(m)
                }
                SimSource::RainCounter {
                    mm_per_tip,
                    start,
                    seed,
                    rain,
                } => {
                    let mut model = SensorModel::new(SensorKind::RainGauge, *seed);
                    model.rain = *rain;
                    Model::Rain {
                        model,
                        mm_per_tip: *mm_per_tip,
                        count: *start,
                        carry_mm: 0.0,
                    }
                }
                SimSource::SupplyVoltage { seed } => Model::Supply(StdRng::seed_from_u64(*seed)),
                SimSource::Constant { value } => Model::Constant(*value),
            };
            (p.clone(), model)
        })
        .collect();
    let mut s = SimState {
        registers: HashMap::new(),
        slaves: config.points.iter().map(|p| p.slave).collect(),
        silent: HashSet::new(),
        requests: HashMap::new(),
        pinned: HashMap::new(),
        points,
    };
    s.update(0.0);
    s
}

/// Binds the server and starts it in the background; the handle stops it when dropped.
pub async fn start_sensor_sim(config: SimConfig) -> anyhow::Result<SimHandle> {
    config.check()?;
    let listener = TcpListener::bind(&config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("simulator cannot listen on {}: {e}", config.listen))?;
    let addr = listener.local_addr()?;
    let handle = start_clock(&config, addr);
    let server = Server::new(listener);
    let st = handle.state.clone();
    let new_service = move |_addr| Ok(Some(SimService { state: st.clone() }));
    let on_connected = move |stream, socket_addr| {
        let new_service = new_service.clone();
        async move { accept_tcp_connection(stream, socket_addr, new_service) }
    };
    let c = handle.cancel.clone();
    tokio::spawn(async move {
        let r = server
            .serve_until(
                &on_connected,
                |e| tracing::debug!("simulator connection ended: {e}"),
                async move { c.cancelled().await },
            )
            .await;
        if let Err(e) = r {
            warn!("simulator server stopped: {e}");
        }
    });
    info!(%addr, points = config.points.len(), "sensor simulator listening (Modbus TCP)");
    Ok(handle)
}

/// The same simulator as a Modbus RTU server on a serial line (`listen` is ignored, and the
/// handle's [`SimHandle::addr`] is 0.0.0.0:0). Tests use one end of a pseudo-terminal pair.
pub async fn start_sensor_sim_rtu(
    config: SimConfig,
    serial: tokio_serial::SerialStream,
) -> anyhow::Result<SimHandle> {
    config.check()?;
    let handle = start_clock(&config, SocketAddr::from(([0, 0, 0, 0], 0)));
    let service = SimService {
        state: handle.state.clone(),
    };
    let c = handle.cancel.clone();
    tokio::spawn(async move {
        let server = tokio_modbus::server::rtu::Server::new(serial);
        if let Err(e) = server
            .serve_until(service, async move { c.cancelled().await })
            .await
        {
            warn!("RTU simulator stopped: {e}");
        }
    });
    info!(
        points = config.points.len(),
        "sensor simulator serving (Modbus RTU)"
    );
    Ok(handle)
}

/// Builds the registers and starts the scenario clock that recomputes them every tick.
fn start_clock(config: &SimConfig, addr: SocketAddr) -> SimHandle {
    let state = Arc::new(Mutex::new(build_state(config)));
    let cancel = CancellationToken::new();
    let st = state.clone();
    let c = cancel.clone();
    let tick = Duration::from_millis(config.tick_ms.max(10));
    let speed = config.speed;
    tokio::spawn(async move {
        let start = tokio::time::Instant::now();
        let mut every = tokio::time::interval(tick);
        loop {
            tokio::select! {
                _ = c.cancelled() => break,
                _ = every.tick() => {
                    let t = start.elapsed().as_secs_f64() * speed;
                    st.lock().expect("sim lock").update(t);
                }
            }
        }
    });
    SimHandle {
        addr,
        state,
        cancel,
    }
}

/// Runs a simulator until `shutdown` fires.
pub async fn run_sensor_sim(config: SimConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    let handle = start_sensor_sim(config).await?;
    shutdown.cancelled().await;
    handle.stop();
    Ok(())
}
