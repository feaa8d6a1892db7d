//! Firmware bridge: runs on a field gateway; Modbus polling, camera capture, store-and-forward
//! to MQTT. See the crate README for the configuration, command and queue references.
//!
//! ```text
//! pollers --Reading--> batcher --TelemetryBatch--> DiskQueue --link, QoS 1--> broker
//! cameras --snapshot JPEG----------------------->  DiskQueue
//! cameras --live JPEG (QoS 0) / acks / status --> link (direct) ----------> broker
//! broker --cmd--> commands --> schedule, cameras, reload
//! ```
//!
//! The disk queue runs on a thread of its own (appends, fsyncs, reads); the link is a
//! `geohazard_bus::Connection`, a fresh MQTT client per connection that reports each PUBACK.

mod bridge;
mod camera;
mod commands;
mod config;
mod counters;
pub mod demo;
mod direct;
mod link;
mod modbus;
mod queue;
mod runtime;
mod schedule;
mod sim;

pub use bridge::run_bridge;
pub use config::{
    BatchConfig, BridgeConfig, CameraConfig, CameraSource, CommandsConfig, CounterConfig, DataType,
    Function, InvalidConfig, ModbusDevice, MqttConfig, Parity, PointConfig, QueueConfig,
    StatusConfig, StatusRole, Transport, TriggerConfig, WordOrder,
};
pub use queue::{COUNTERS_FILE, DiskQueue, Lane, Message, QueueError, QueueStats, fsyncs};
pub use sim::{
    SIM_DEVICE, SimConfig, SimHandle, SimPoint, SimSource, run_sensor_sim, start_sensor_sim,
    start_sensor_sim_rtu,
};
