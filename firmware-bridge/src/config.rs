//! The bridge's configuration: a TOML file (see `deploy/firmware-bridge.example.toml` and the
//! crate README), overridden by the environment as every geohazard service is:
//! `GEOHAZARD_<SECTION>__<KEY>` (`GEOHAZARD_MQTT__URL=...`, `GEOHAZARD_GATEWAY=...`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Toml};
use geohazard_bus::BrokerUrl;
use geohazard_protocol::is_valid_identifier;
use serde::{Deserialize, Serialize};

/// The top-level keys of the bridge's file. Only environment variables for these are read, so
/// one environment can also hold other services' keys (`GEOHAZARD_DATABASE__URL`) while a
/// misspelt key inside a bridge section is still refused.
const SECTIONS: [&str; 9] = [
    "gateway", "mqtt", "queue", "status", "batch", "commands", "modbus", "points", "cameras",
];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeConfig {
    /// The gateway code: the `{gateway}` in every topic.
    pub gateway: String,
    pub mqtt: MqttConfig,
    pub queue: QueueConfig,
    #[serde(default)]
    pub status: StatusConfig,
    /// How readings are grouped into telemetry messages.
    #[serde(default)]
    pub batch: BatchConfig,
    #[serde(default)]
    pub commands: CommandsConfig,
    #[serde(default)]
    pub modbus: Vec<ModbusDevice>,
    #[serde(default)]
    pub points: Vec<PointConfig>,
    #[serde(default)]
    pub cameras: Vec<CameraConfig>,
    /// Where to serve `/healthz`, `/readyz` (connected to the broker) and Prometheus
    /// `/metrics` (readings polled, queue depth); none to not serve them.
    #[serde(default)]
    pub health_addr: Option<std::net::SocketAddr>,
    /// The file this configuration came from; `reload_config` reads it again.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// `mqtt://[user[:password]@]host[:port]` (TLS is not supported yet).
    pub url: String,
    /// Defaults to the gateway code, as the protocol requires (the broker's session and its
    /// access rules are keyed on it).
    #[serde(default)]
    pub client_id: Option<String>,
    /// Credentials; when set they take the place of any in `url`.
    #[serde(default)]
    pub username: Option<String>,
    /// Never shown: a log line or an error prints `***`.
    #[serde(default)]
    pub password: Option<geohazard_runtime::Secret>,
    #[serde(default = "default_keep_alive")]
    pub keep_alive_s: u64,
    /// Largest MQTT packet the bridge sends or accepts; a camera frame must fit in it.
    /// Must not exceed the broker's `max_packet_size`.
    #[serde(default = "default_max_packet")]
    pub max_packet_bytes: usize,
    /// Publishes waiting for a PUBACK at once.
    #[serde(default = "default_window")]
    pub max_inflight: usize,
    /// First and largest pause between reconnection attempts.
    #[serde(default = "default_backoff_min")]
    pub reconnect_min_ms: u64,
    #[serde(default = "default_backoff_max")]
    pub reconnect_max_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// Folder of the store-and-forward queue (created if missing).
    pub dir: PathBuf,
    /// Bound on queued bytes (readings and frames together).
    #[serde(default = "default_queue_bytes")]
    pub max_bytes: u64,
    /// Size at which a segment file is closed and a new one started.
    #[serde(default = "default_segment_bytes")]
    pub segment_bytes: u64,
    /// Keep each telemetry message until the collector confirms it committed it
    /// (`gh/v1/gw/{gateway}/telemetry/ack`), not only until the broker's PUBACK, so a broker that
    /// crashes before saving it loses nothing. Off only where no collector confirms.
    #[serde(default = "default_true")]
    pub until_confirmed: bool,
    /// With `until_confirmed`: a telemetry message the broker took but the collector has not
    /// confirmed within this many seconds is sent again (a collector restarted without saving
    /// it), without waiting for the link to drop.
    #[serde(default = "default_confirm_timeout")]
    pub confirm_timeout_s: f64,
    /// The wait doubles after each resend that brings no confirmation, up to this.
    #[serde(default = "default_confirm_timeout_max")]
    pub confirm_timeout_max_s: f64,
    /// Telemetry and snapshots are fsynced together at most this often (0: each on its own;
    /// default 1000: SD-card wear). A message is published only once fsynced, so a power cut
    /// loses at most the last `sync_interval_ms` of queued readings, none of them yet sent or
    /// confirmed; a kill -9 loses nothing queued (see `queue.rs`).
    #[serde(default = "default_sync_interval")]
    pub sync_interval_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusConfig {
    #[serde(default = "default_status_interval")]
    pub interval_s: f64,
}

impl Default for StatusConfig {
    fn default() -> Self {
        StatusConfig {
            interval_s: default_status_interval(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    /// Readings are collected this long before they become one telemetry message.
    #[serde(default = "default_batch_ms")]
    pub max_delay_ms: u64,
    #[serde(default = "default_batch_max")]
    pub max_readings: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_delay_ms: default_batch_ms(),
            max_readings: default_batch_max(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandsConfig {
    /// Commands received and waiting for a handler; one more is answered `busy` at once.
    #[serde(default = "default_commands_waiting")]
    pub max_waiting: usize,
}

impl Default for CommandsConfig {
    fn default() -> Self {
        CommandsConfig {
            max_waiting: default_commands_waiting(),
        }
    }
}

/// A Modbus link: a TCP endpoint or a serial line.
// Read through `ModbusDeviceFields`: serde's deny_unknown_fields does not work with flatten.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "ModbusDeviceFields")]
pub struct ModbusDevice {
    pub name: String,
    #[serde(flatten)]
    pub transport: Transport,
    /// Every request's deadline; after it the connection is dropped and rebuilt.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "transport", rename_all = "snake_case")]
pub enum Transport {
    /// Modbus TCP: `address = "192.168.1.20:502"`. Each slave gets its own connection, so a dead
    /// slave behind a gateway never holds up the others.
    Tcp { address: String },
    /// Modbus RTU on a serial line; all slaves share it and are polled in turn.
    Rtu {
        port: String,
        #[serde(default = "default_baud")]
        baud: u32,
        #[serde(default)]
        parity: Parity,
        #[serde(default = "default_data_bits")]
        data_bits: u8,
        #[serde(default = "default_stop_bits")]
        stop_bits: u8,
    },
}

/// A `[[modbus]]` table as written: every key of every transport, unknown keys refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModbusDeviceFields {
    name: String,
    transport: TransportKind,
    address: Option<String>,
    port: Option<String>,
    baud: Option<u32>,
    parity: Option<Parity>,
    data_bits: Option<u8>,
    stop_bits: Option<u8>,
    #[serde(default = "default_timeout")]
    timeout_ms: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum TransportKind {
    Tcp,
    Rtu,
}

/// A `[[modbus]]` or `[[cameras]]` table whose keys do not fit its kind.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("{table}: `{key}` does not apply to {kind}")]
    ForeignKey {
        table: String,
        key: &'static str,
        kind: &'static str,
    },
    #[error("{table}: {kind} needs `{key}`")]
    MissingKey {
        table: String,
        key: &'static str,
        kind: &'static str,
    },
}

/// Refuses keys that belong to another kind of table (`baud` on a TCP device).
fn refuse_foreign_keys(
    table: &str,
    kind: &'static str,
    keys: &[(&'static str, bool)],
) -> Result<(), TableError> {
    match keys.iter().find(|(_, present)| *present) {
        Some((key, _)) => Err(TableError::ForeignKey {
            table: table.to_owned(),
            key,
            kind,
        }),
        None => Ok(()),
    }
}

/// The value of a key a kind of table requires.
fn required<T>(
    value: Option<T>,
    table: &str,
    kind: &'static str,
    key: &'static str,
) -> Result<T, TableError> {
    value.ok_or_else(|| TableError::MissingKey {
        table: table.to_owned(),
        key,
        kind,
    })
}

impl TryFrom<ModbusDeviceFields> for ModbusDevice {
    type Error = TableError;

    fn try_from(f: ModbusDeviceFields) -> Result<Self, TableError> {
        let at = format!("modbus device `{}`", f.name);
        let transport = match f.transport {
            TransportKind::Tcp => {
                refuse_foreign_keys(
                    &at,
                    "transport = \"tcp\"",
                    &[
                        ("port", f.port.is_some()),
                        ("baud", f.baud.is_some()),
                        ("parity", f.parity.is_some()),
                        ("data_bits", f.data_bits.is_some()),
                        ("stop_bits", f.stop_bits.is_some()),
                    ],
                )?;
                Transport::Tcp {
                    address: required(f.address, &at, "transport = \"tcp\"", "address")?,
                }
            }
            TransportKind::Rtu => {
                refuse_foreign_keys(
                    &at,
                    "transport = \"rtu\"",
                    &[("address", f.address.is_some())],
                )?;
                Transport::Rtu {
                    port: required(f.port, &at, "transport = \"rtu\"", "port")?,
                    baud: f.baud.unwrap_or_else(default_baud),
                    parity: f.parity.unwrap_or_default(),
                    data_bits: f.data_bits.unwrap_or_else(default_data_bits),
                    stop_bits: f.stop_bits.unwrap_or_else(default_stop_bits),
                }
            }
        };
        Ok(ModbusDevice {
            name: f.name,
            transport,
            timeout_ms: f.timeout_ms,
        })
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Parity {
    #[default]
    None,
    Even,
    Odd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Function {
    /// Function 03.
    Holding,
    /// Function 04.
    Input,
    /// Function 01; the value is 0 or 1.
    Coil,
    /// Function 02; the value is 0 or 1.
    Discrete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataType {
    U16,
    I16,
    U32,
    I32,
    F32,
}

impl DataType {
    pub fn registers(self) -> u16 {
        match self {
            DataType::U16 | DataType::I16 => 1,
            _ => 2,
        }
    }
}

/// Order of the two 16-bit words of a 32-bit value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WordOrder {
    /// High word first (ABCD), the Modbus convention.
    #[default]
    HighFirst,
    /// Low word first (CDAB), common in loggers.
    LowFirst,
}

/// What the status message takes from a point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusRole {
    SupplyV,
    BatteryPct,
    SignalDbm,
}

/// One value read from a slave and published as a reading on `channel`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointConfig {
    pub channel: String,
    /// Name of a `[[modbus]]` device.
    pub device: String,
    pub slave: u8,
    pub function: Function,
    pub address: u16,
    #[serde(default = "default_data_type")]
    pub data_type: DataType,
    #[serde(default)]
    pub word_order: WordOrder,
    /// value = raw * scale + offset (for counters: rainfall = tips * mm_per_tip).
    #[serde(default = "one")]
    pub scale: f64,
    #[serde(default)]
    pub offset: f64,
    #[serde(default)]
    pub unit: Option<String>,
    pub interval_s: f64,
    /// A tipping-bucket counter: the reading is the rain since the previous read, mm.
    #[serde(default)]
    pub counter: Option<CounterConfig>,
    #[serde(default)]
    pub status: Option<StatusRole>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CounterConfig {
    pub mm_per_tip: f64,
    /// A jump larger than this between two reads is a counter reset (sensor reboot), not rain.
    #[serde(default = "default_max_tips")]
    pub max_tips_per_read: u32,
}

// Read through `CameraFields`, like `ModbusDevice`, so that unknown keys are refused.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "CameraFields")]
pub struct CameraConfig {
    pub name: String,
    #[serde(flatten)]
    pub source: CameraSource,
    #[serde(default = "default_width")]
    pub width: u32,
    #[serde(default = "default_height")]
    pub height: u32,
    /// JPEG quality 1-100 of the first attempt; lowered step by step when a frame is too big.
    #[serde(default = "default_quality")]
    pub quality: u8,
    /// Seconds between automatic snapshots; none when absent.
    #[serde(default)]
    pub snapshot_interval_s: Option<f64>,
    #[serde(default)]
    pub triggers: Vec<TriggerConfig>,
}

/// A `[[cameras]]` table as written: every key of every source, unknown keys refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CameraFields {
    name: String,
    source: SourceKind,
    url: Option<String>,
    device: Option<String>,
    pattern: Option<String>,
    #[serde(default = "default_width")]
    width: u32,
    #[serde(default = "default_height")]
    height: u32,
    #[serde(default = "default_quality")]
    quality: u8,
    #[serde(default)]
    snapshot_interval_s: Option<f64>,
    #[serde(default)]
    triggers: Vec<TriggerConfig>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum SourceKind {
    Rtsp,
    V4l2,
    Test,
}

impl TryFrom<CameraFields> for CameraConfig {
    type Error = TableError;

    fn try_from(f: CameraFields) -> Result<Self, TableError> {
        let at = format!("camera `{}`", f.name);
        let url = ("url", f.url.is_some());
        let device = ("device", f.device.is_some());
        let pattern = ("pattern", f.pattern.is_some());
        let source = match f.source {
            SourceKind::Rtsp => {
                refuse_foreign_keys(&at, "source = \"rtsp\"", &[device, pattern])?;
                CameraSource::Rtsp {
                    url: required(f.url, &at, "source = \"rtsp\"", "url")?,
                }
            }
            SourceKind::V4l2 => {
                refuse_foreign_keys(&at, "source = \"v4l2\"", &[url, pattern])?;
                CameraSource::V4l2 {
                    device: required(f.device, &at, "source = \"v4l2\"", "device")?,
                }
            }
            SourceKind::Test => {
                refuse_foreign_keys(&at, "source = \"test\"", &[url, device])?;
                CameraSource::Test { pattern: f.pattern }
            }
        };
        Ok(CameraConfig {
            name: f.name,
            source,
            width: f.width,
            height: f.height,
            quality: f.quality,
            snapshot_interval_s: f.snapshot_interval_s,
            triggers: f.triggers,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum CameraSource {
    Rtsp {
        url: String,
    },
    V4l2 {
        device: String,
    },
    /// A synthetic picture, for tests and demos.
    Test {
        #[serde(default)]
        pattern: Option<String>,
    },
}

/// A snapshot when a reading on `channel` goes above or below a limit.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerConfig {
    pub channel: String,
    #[serde(default)]
    pub above: Option<f64>,
    #[serde(default)]
    pub below: Option<f64>,
    /// No second trigger snapshot within this many seconds.
    #[serde(default = "default_cooldown")]
    pub cooldown_s: f64,
}

fn default_keep_alive() -> u64 {
    30
}
fn default_max_packet() -> usize {
    1024 * 1024
}
fn default_window() -> usize {
    32
}
fn default_backoff_min() -> u64 {
    500
}
fn default_backoff_max() -> u64 {
    30_000
}
fn default_true() -> bool {
    true
}
fn default_queue_bytes() -> u64 {
    256 * 1024 * 1024
}
fn default_sync_interval() -> u64 {
    1000
}
fn default_confirm_timeout() -> f64 {
    30.0
}
fn default_confirm_timeout_max() -> f64 {
    600.0
}
fn default_segment_bytes() -> u64 {
    4 * 1024 * 1024
}
fn default_status_interval() -> f64 {
    60.0
}
fn default_batch_ms() -> u64 {
    500
}
fn default_batch_max() -> usize {
    1000
}
fn default_commands_waiting() -> usize {
    256
}
fn default_timeout() -> u64 {
    1000
}
fn default_baud() -> u32 {
    9600
}
fn default_data_bits() -> u8 {
    8
}
fn default_stop_bits() -> u8 {
    1
}
fn default_data_type() -> DataType {
    DataType::U16
}
fn one() -> f64 {
    1.0
}
fn default_max_tips() -> u32 {
    1000
}
fn default_width() -> u32 {
    640
}
fn default_height() -> u32 {
    480
}
fn default_quality() -> u8 {
    85
}
fn default_cooldown() -> f64 {
    300.0
}

impl MqttConfig {
    pub fn new(url: impl Into<String>) -> MqttConfig {
        MqttConfig {
            url: url.into(),
            client_id: None,
            username: None,
            password: None,
            keep_alive_s: default_keep_alive(),
            max_packet_bytes: default_max_packet(),
            max_inflight: default_window(),
            reconnect_min_ms: default_backoff_min(),
            reconnect_max_ms: default_backoff_max(),
        }
    }

    /// The MQTT client id: `client_id` when set, else the gateway code.
    pub fn client_id_for(&self, gateway: &str) -> String {
        self.client_id.clone().unwrap_or_else(|| gateway.to_owned())
    }
}

impl QueueConfig {
    pub fn new(dir: impl Into<PathBuf>) -> QueueConfig {
        QueueConfig {
            dir: dir.into(),
            max_bytes: default_queue_bytes(),
            segment_bytes: default_segment_bytes(),
            until_confirmed: true,
            confirm_timeout_s: default_confirm_timeout(),
            confirm_timeout_max_s: default_confirm_timeout_max(),
            sync_interval_ms: default_sync_interval(),
        }
    }
}

impl CameraConfig {
    pub fn test_pattern(name: &str) -> CameraConfig {
        CameraConfig {
            name: name.to_owned(),
            source: CameraSource::Test { pattern: None },
            width: 320,
            height: 240,
            quality: default_quality(),
            snapshot_interval_s: None,
            triggers: Vec::new(),
        }
    }
}

impl PointConfig {
    /// A plain u16 holding register with scale 1, for building maps in code.
    pub fn holding(channel: &str, device: &str, slave: u8, address: u16) -> PointConfig {
        PointConfig {
            channel: channel.to_owned(),
            device: device.to_owned(),
            slave,
            function: Function::Holding,
            address,
            data_type: DataType::U16,
            word_order: WordOrder::HighFirst,
            scale: 1.0,
            offset: 0.0,
            unit: None,
            interval_s: 1.0,
            counter: None,
            status: None,
        }
    }
}

impl BridgeConfig {
    /// A configuration with no sensors or cameras.
    pub fn new(gateway: &str, mqtt_url: &str, queue_dir: impl Into<PathBuf>) -> BridgeConfig {
        BridgeConfig {
            gateway: gateway.to_owned(),
            mqtt: MqttConfig::new(mqtt_url),
            queue: QueueConfig::new(queue_dir),
            status: StatusConfig::default(),
            batch: BatchConfig::default(),
            commands: CommandsConfig::default(),
            modbus: Vec::new(),
            points: Vec::new(),
            cameras: Vec::new(),
            health_addr: None,
            source: None,
        }
    }

    /// Reads the TOML file (when given), applies the `GEOHAZARD_<SECTION>__<KEY>` overrides
    /// and checks the result. `gateway`, `mqtt.url` and `queue.dir` have no defaults: the file
    /// or the environment sets them.
    pub fn load(path: Option<&Path>) -> anyhow::Result<BridgeConfig> {
        if let Some(path) = path
            && path.is_dir()
        {
            anyhow::bail!(
                "configuration {}: is a directory; give the configuration file (e.g. {}/bridge.toml)",
                path.display(),
                path.display()
            );
        }
        let figment = geohazard_runtime::config_file(path)?;
        let overrides = geohazard_runtime::env_overrides().filter(|key| {
            // As the variable is written: upper case.
            let section = key.as_str().split('.').next().unwrap_or_default();
            SECTIONS.iter().any(|s| s.eq_ignore_ascii_case(section))
        });
        let mut config: BridgeConfig =
            figment.merge(overrides).extract().map_err(|e| match path {
                Some(path) => anyhow::anyhow!("configuration {}: {e}", path.display()),
                None => anyhow::anyhow!("configuration (no file, environment only): {e}"),
            })?;
        config.source = path.map(Path::to_owned);
        config.validate()?;
        Ok(config)
    }

    /// Parses TOML text (no environment overrides), for tests and the demo.
    pub fn from_toml(text: &str) -> anyhow::Result<BridgeConfig> {
        let config: BridgeConfig = Figment::new()
            .merge(Toml::string(text))
            .extract()
            .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
        config.validate()?;
        Ok(config)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a bridge configuration always serializes")
    }

    /// Checks what serde cannot: identifiers, references, ranges. Every problem is listed.
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        let mut errors = Vec::new();
        if !is_valid_identifier(&self.gateway) {
            errors.push(format!(
                "gateway `{}` must be 1-64 characters of A-Z a-z 0-9 _ - .",
                self.gateway
            ));
        }
        if let Err(e) = BrokerUrl::parse(&self.mqtt.url) {
            errors.push(format!("mqtt.url: {e:#}"));
        }
        if self.mqtt.max_inflight == 0 || self.mqtt.max_inflight > 1000 {
            errors.push("mqtt.max_inflight must be 1-1000".into());
        }
        if self.mqtt.max_packet_bytes < 4096 {
            errors.push("mqtt.max_packet_bytes must be at least 4096".into());
        }
        if self.queue.max_bytes < 2 * self.queue.segment_bytes.max(1) {
            errors.push("queue.max_bytes must be at least twice queue.segment_bytes".into());
        }
        if self.status.interval_s.is_nan() || self.status.interval_s < 1.0 {
            errors.push("status.interval_s must be at least 1".into());
        }
        if self.batch.max_readings == 0 {
            errors.push("batch.max_readings must be at least 1".into());
        }
        let q = &self.queue;
        if !(q.confirm_timeout_s >= 0.1 && q.confirm_timeout_s <= q.confirm_timeout_max_s) {
            errors.push(format!(
                "queue.confirm_timeout_s {} must be at least 0.1 and at most queue.confirm_timeout_max_s ({})",
                q.confirm_timeout_s, q.confirm_timeout_max_s
            ));
        }
        if q.sync_interval_ms > 60_000 {
            errors.push(format!(
                "queue.sync_interval_ms {} must be at most 60000 (what a power cut may lose)",
                q.sync_interval_ms
            ));
        }
        if !(1..=100_000).contains(&self.commands.max_waiting) {
            errors.push("commands.max_waiting must be 1-100000".into());
        }
        let mut devices = HashSet::new();
        for d in &self.modbus {
            if !devices.insert(d.name.as_str()) {
                errors.push(format!("modbus device `{}` is defined twice", d.name));
            }
            if d.timeout_ms == 0 {
                errors.push(format!(
                    "modbus device `{}`: timeout_ms must be > 0",
                    d.name
                ));
            }
            if let Transport::Tcp { address } = &d.transport
                && address.parse::<std::net::SocketAddr>().is_err()
            {
                errors.push(format!(
                    "modbus device `{}`: address `{address}` must be ip:port",
                    d.name
                ));
            }
        }
        let mut channels = HashSet::new();
        for p in &self.points {
            let at = format!("point `{}`", p.channel);
            if !is_valid_identifier(&p.channel) {
                errors.push(format!("{at}: channel is not a valid identifier"));
            }
            if !channels.insert(p.channel.as_str()) {
                errors.push(format!("{at}: channel is used twice"));
            }
            if !devices.contains(p.device.as_str()) {
                errors.push(format!("{at}: no modbus device named `{}`", p.device));
            }
            if !(p.interval_s >= 0.1 && p.interval_s.is_finite()) {
                errors.push(format!("{at}: interval_s must be at least 0.1"));
            }
            if !p.scale.is_finite() || p.scale == 0.0 || !p.offset.is_finite() {
                errors.push(format!(
                    "{at}: scale must be finite and non-zero, offset finite"
                ));
            }
            if p.slave == 0 {
                errors.push(format!(
                    "{at}: slave 0 is the Modbus broadcast address, which no device answers: use the device's own address (1-247)"
                ));
            }
            let last = u32::from(p.address) + u32::from(p.data_type.registers()) - 1;
            if last > u32::from(u16::MAX) {
                errors.push(format!(
                    "{at}: address {} with data_type {} needs registers up to {last}, beyond the last one (65535)",
                    p.address,
                    format!("{:?}", p.data_type).to_lowercase()
                ));
            }
            let bits = matches!(p.function, Function::Coil | Function::Discrete);
            if bits && p.data_type != DataType::U16 {
                errors.push(format!(
                    "{at}: coils and discrete inputs are single bits: use data_type = \"u16\""
                ));
            }
            if let Some(c) = &p.counter {
                if !matches!(p.data_type, DataType::U16 | DataType::U32) {
                    errors.push(format!("{at}: a counter must be u16 or u32"));
                }
                if !(c.mm_per_tip > 0.0 && c.mm_per_tip.is_finite()) {
                    errors.push(format!("{at}: counter.mm_per_tip must be > 0"));
                }
            }
        }
        let mut cameras = HashSet::new();
        for c in &self.cameras {
            let at = format!("camera `{}`", c.name);
            if !is_valid_identifier(&c.name) {
                errors.push(format!("{at}: name is not a valid identifier"));
            }
            if !cameras.insert(c.name.as_str()) {
                errors.push(format!("{at}: defined twice"));
            }
            if !(16..=4096).contains(&c.width) || !(16..=4096).contains(&c.height) {
                errors.push(format!("{at}: width and height must be 16-4096"));
            }
            if !(1..=100).contains(&c.quality) {
                errors.push(format!("{at}: quality must be 1-100"));
            }
            if let Some(s) = c.snapshot_interval_s
                && (s.is_nan() || s < 1.0)
            {
                errors.push(format!("{at}: snapshot_interval_s must be at least 1"));
            }
            for t in &c.triggers {
                if t.above.is_none() && t.below.is_none() {
                    errors.push(format!(
                        "{at}: trigger on `{}` needs above or below",
                        t.channel
                    ));
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(InvalidConfig(errors))
        }
    }
}

/// Every problem [`BridgeConfig::validate`] found, one a line.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
pub struct InvalidConfig(pub Vec<String>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_config_parses_and_validates() {
        let text = include_str!("../../deploy/firmware-bridge.example.toml");
        let c = BridgeConfig::from_toml(text).unwrap();
        assert!(!c.points.is_empty());
        assert!(!c.cameras.is_empty());
    }

    #[test]
    fn every_problem_of_a_bad_config_is_named() {
        let mut c = BridgeConfig::new("gw/1", "http://x", "/tmp/q");
        c.points.push(PointConfig::holding("a b", "nowhere", 1, 0));
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("gateway `gw/1`"), "{e}");
        assert!(e.contains("mqtt://"), "{e}");
        assert!(e.contains("no modbus device named `nowhere`"), "{e}");
        assert!(e.contains("channel is not a valid identifier"), "{e}");
    }

    #[test]
    fn a_config_survives_a_round_trip_through_toml() {
        let mut c = BridgeConfig::new("gw-1", "mqtt://127.0.0.1:1883", "/tmp/q");
        c.modbus.push(ModbusDevice {
            name: "bus".into(),
            transport: Transport::Tcp {
                address: "127.0.0.1:502".into(),
            },
            timeout_ms: 500,
        });
        c.points.push(PointConfig::holding("a", "bus", 1, 0));
        c.cameras.push(CameraConfig::test_pattern("cam1"));
        let back = BridgeConfig::from_toml(&c.to_toml()).unwrap();
        assert_eq!(back.points[0].channel, "a");
        assert!(matches!(back.modbus[0].transport, Transport::Tcp { .. }));
        assert!(matches!(back.cameras[0].source, CameraSource::Test { .. }));
    }

    const BASE: &str =
        "gateway = \"gw-1\"\n[mqtt]\nurl = \"mqtt://127.0.0.1:1883\"\n[queue]\ndir = \"/tmp/q\"\n";

    const ONE_POINT: &str = "[[modbus]]\nname = \"bus\"\ntransport = \"tcp\"\naddress = \"127.0.0.1:502\"\n[[points]]\nchannel = \"p\"\ndevice = \"bus\"\nfunction = \"holding\"\ninterval_s = 1\n";

    #[test]
    fn a_32_bit_point_at_the_last_register_is_refused_naming_its_address() {
        let text = format!("{BASE}{ONE_POINT}slave = 1\naddress = 65535\ndata_type = \"u32\"\n");
        let e = BridgeConfig::from_toml(&text).unwrap_err().to_string();
        assert!(
            e.contains("point `p`: address 65535 with data_type u32 needs registers up to 65536"),
            "{e}"
        );
        // One register there is fine, and so is a 32-bit value ending at the last register.
        BridgeConfig::from_toml(&text.replace("\"u32\"", "\"u16\"")).unwrap();
        BridgeConfig::from_toml(&text.replace("65535", "65534")).unwrap();
    }

    #[test]
    fn slave_zero_is_refused_as_the_broadcast_address() {
        let text = format!("{BASE}{ONE_POINT}slave = 0\naddress = 1\n");
        let e = BridgeConfig::from_toml(&text).unwrap_err().to_string();
        assert!(
            e.contains("point `p`: slave 0 is the Modbus broadcast address"),
            "{e}"
        );
        BridgeConfig::from_toml(&text.replace("slave = 0", "slave = 1")).unwrap();
    }

    #[test]
    fn a_directory_given_as_the_configuration_says_it_is_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let e = BridgeConfig::load(Some(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("is a directory"), "{e}");
        assert!(!e.contains("missing field"), "{e}");
    }

    #[test]
    fn a_misspelt_key_in_a_modbus_table_is_refused_by_name() {
        let text = format!(
            "{BASE}[[modbus]]\nname = \"bus\"\ntransport = \"tcp\"\naddress = \"127.0.0.1:502\"\ntimeout_msec = 300\n"
        );
        let e = BridgeConfig::from_toml(&text).unwrap_err().to_string();
        assert!(e.contains("timeout_msec"), "{e}");
        // Spelt right, it takes effect.
        let c = BridgeConfig::from_toml(&text.replace("timeout_msec", "timeout_ms")).unwrap();
        assert_eq!(c.modbus[0].timeout_ms, 300);
    }

    #[test]
    fn a_key_of_another_transport_or_a_missing_one_is_refused() {
        let tcp = format!(
            "{BASE}[[modbus]]\nname = \"bus\"\ntransport = \"tcp\"\naddress = \"127.0.0.1:502\"\nbaud = 19200\n"
        );
        let e = BridgeConfig::from_toml(&tcp).unwrap_err().to_string();
        assert!(
            e.contains("`baud` does not apply to transport = \"tcp\""),
            "{e}"
        );
        let rtu = format!("{BASE}[[modbus]]\nname = \"line\"\ntransport = \"rtu\"\n");
        let e = BridgeConfig::from_toml(&rtu).unwrap_err().to_string();
        assert!(e.contains("needs `port`"), "{e}");
        let rtu = format!(
            "{BASE}[[modbus]]\nname = \"line\"\ntransport = \"rtu\"\nport = \"/dev/ttyS0\"\nparity = \"even\"\n"
        );
        let c = BridgeConfig::from_toml(&rtu).unwrap();
        assert!(matches!(
            &c.modbus[0].transport,
            Transport::Rtu {
                baud: 9600,
                parity: Parity::Even,
                data_bits: 8,
                stop_bits: 1,
                ..
            }
        ));
    }

    #[test]
    fn a_misspelt_key_in_a_camera_table_is_refused_by_name() {
        let text = format!(
            "{BASE}[[cameras]]\nname = \"cam1\"\nsource = \"test\"\nsnapshot_interval = 60\n"
        );
        let e = BridgeConfig::from_toml(&text).unwrap_err().to_string();
        assert!(e.contains("snapshot_interval"), "{e}");
        let text = format!(
            "{BASE}[[cameras]]\nname = \"cam1\"\nsource = \"rtsp\"\nurl = \"rtsp://x\"\ndevice = \"/dev/video0\"\n"
        );
        let e = BridgeConfig::from_toml(&text).unwrap_err().to_string();
        assert!(
            e.contains("`device` does not apply to source = \"rtsp\""),
            "{e}"
        );
    }

    #[test]
    fn the_client_id_is_the_gateway_code_unless_set() {
        let mut c = BridgeConfig::new("gw-ls001", "mqtt://127.0.0.1:1883", "/tmp/q");
        assert_eq!(c.mqtt.client_id_for(&c.gateway), "gw-ls001");
        c.mqtt.client_id = Some("other".into());
        assert_eq!(c.mqtt.client_id_for(&c.gateway), "other");
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure type, not ours
    fn environment_variables_override_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("bridge.toml", BASE)?;
            jail.set_env("GEOHAZARD_MQTT__URL", "mqtt://gw-1:s%40cret@10.1.2.3:1884");
            jail.set_env("GEOHAZARD_QUEUE__MAX_BYTES", "16777216");
            // Other services' keys and variables that are not keys at all are left to them.
            jail.set_env("GEOHAZARD_DATABASE__URL", "postgres://db/geohazard");
            jail.set_env("GEOHAZARD_TEST_TIMESCALEDB", "require");
            jail.set_env("GEOHAZARD_CONFIG", "elsewhere.toml");
            let path = Path::new("bridge.toml");
            let c = BridgeConfig::load(Some(path)).map_err(|e| e.to_string())?;
            let broker = BrokerUrl::parse(&c.mqtt.url).unwrap();
            assert_eq!((broker.host.as_str(), broker.port), ("10.1.2.3", 1884));
            assert_eq!(broker.credentials, Some(("gw-1".into(), "s@cret".into())));
            assert_eq!(c.queue.max_bytes, 16 << 20);
            assert_eq!(c.source.as_deref(), Some(path));
            // An override that breaks a rule is refused like a bad file.
            jail.set_env("GEOHAZARD_QUEUE__MAX_BYTES", "1");
            let e = BridgeConfig::load(Some(path)).unwrap_err().to_string();
            assert!(e.contains("queue.max_bytes"), "{e}");
            // And so is a misspelt key in one of the bridge's sections.
            jail.set_env("GEOHAZARD_QUEUE__MAX_BYTES", "16777216");
            jail.set_env("GEOHAZARD_QUEUE__MAX_BYTEZ", "1");
            let e = BridgeConfig::load(Some(path)).unwrap_err().to_string();
            assert!(e.contains("max_bytez"), "{e}");
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure type, not ours
    fn the_environment_alone_can_configure_a_bridge_and_names_what_is_missing() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("GEOHAZARD_GATEWAY", "gw-env");
            jail.set_env("GEOHAZARD_MQTT__URL", "mqtt://127.0.0.1:1883");
            let e = BridgeConfig::load(None).unwrap_err().to_string();
            assert!(e.contains("missing field `queue`"), "{e}");
            jail.set_env("GEOHAZARD_QUEUE__DIR", "/tmp/q");
            let c = BridgeConfig::load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.gateway, "gw-env");
            assert_eq!(c.source, None);
            Ok(())
        });
    }

    #[test]
    fn every_top_level_key_of_the_file_can_be_set_from_the_environment() {
        let mut c = BridgeConfig::new("gw-1", "mqtt://127.0.0.1:1883", "/tmp/q");
        c.mqtt.username = Some("u".into());
        let table: toml::Table = toml::from_str(&c.to_toml()).unwrap();
        let mut keys: Vec<&str> = table.keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut sections = SECTIONS.to_vec();
        sections.sort_unstable();
        assert_eq!(keys, sections);
    }

    #[test]
    fn credentials_in_the_url_are_accepted_and_a_bad_url_is_named() {
        let c = BridgeConfig::new("gw-1", "mqtt://gw-1:pw@broker.example:1883", "/tmp/q");
        c.validate().unwrap();
        let c = BridgeConfig::new("gw-1", "mqtt://gw-1:hunter2@", "/tmp/q");
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("mqtt.url") && !e.contains("hunter2"), "{e}");
    }
}
