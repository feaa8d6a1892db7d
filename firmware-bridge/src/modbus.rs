//! Modbus polling: one task per connection (per TCP slave, or per serial line), every request
//! under a deadline, the connection rebuilt after any timeout or transport error.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use geohazard_protocol::{PointFault, Quality, Reading};
use geohazard_runtime::Backoff;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_modbus::client::{Context, Reader};
use tokio_modbus::prelude::SlaveContext;
use tokio_modbus::{ExceptionCode, Slave};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::config::{
    DataType, Function, ModbusDevice, Parity, PointConfig, StatusRole, Transport, WordOrder,
};
use crate::counters::{CounterStore, Polled};
use crate::schedule::Schedule;

/// Latest values of the points that feed the status message (supply voltage, ...).
#[derive(Debug, Default, Clone)]
pub struct StatusValues {
    pub supply_v: Option<f64>,
    pub battery_pct: Option<f64>,
    pub signal_dbm: Option<f64>,
}

pub type SharedStatusValues = Arc<Mutex<StatusValues>>;

/// The points that cannot be read now, by channel, for the status message.
pub type SharedFaults = Arc<Mutex<BTreeMap<String, PointFault>>>;

/// A register value before scaling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Raw {
    Unsigned(u64),
    Signed(i64),
    Float(f32),
}

impl Raw {
    pub fn as_f64(self) -> f64 {
        match self {
            Raw::Unsigned(v) => v as f64,
            Raw::Signed(v) => v as f64,
            Raw::Float(v) => v as f64,
        }
    }
}

/// Joins two words into 32 bits in the configured order.
fn join(words: &[u16], order: WordOrder) -> u32 {
    let (hi, lo) = match order {
        WordOrder::HighFirst => (words[0], words[1]),
        WordOrder::LowFirst => (words[1], words[0]),
    };
    ((hi as u32) << 16) | lo as u32
}

/// Splits 32 bits into two words in the configured order (the simulator's side of [`decode`]).
pub fn split(v: u32, order: WordOrder) -> [u16; 2] {
    let (hi, lo) = ((v >> 16) as u16, v as u16);
    match order {
        WordOrder::HighFirst => [hi, lo],
        WordOrder::LowFirst => [lo, hi],
    }
}

/// A reply too short for the point's data type.
#[derive(Debug, thiserror::Error)]
#[error("{got} register(s) received, {need} needed")]
pub struct ShortReply {
    got: usize,
    need: usize,
}

pub fn decode(words: &[u16], data_type: DataType, order: WordOrder) -> Result<Raw, ShortReply> {
    let need = data_type.registers() as usize;
    if words.len() < need {
        return Err(ShortReply {
            got: words.len(),
            need,
        });
    }
    Ok(match data_type {
        DataType::U16 => Raw::Unsigned(words[0] as u64),
        DataType::I16 => Raw::Signed(words[0] as i16 as i64),
        DataType::U32 => Raw::Unsigned(join(words, order) as u64),
        DataType::I32 => Raw::Signed(join(words, order) as i32 as i64),
        DataType::F32 => Raw::Float(f32::from_bits(join(words, order))),
    })
}

/// Registers that carry `raw` (the inverse of [`decode`]).
pub fn encode(raw: Raw, data_type: DataType, order: WordOrder) -> Vec<u16> {
    match data_type {
        DataType::U16 | DataType::I16 => {
            let v = match raw {
                Raw::Unsigned(v) => v as u16,
                Raw::Signed(v) => v as i16 as u16,
                Raw::Float(v) => v as i64 as u16,
            };
            vec![v]
        }
        DataType::U32 | DataType::I32 => {
            let v = match raw {
                Raw::Unsigned(v) => v as u32,
                Raw::Signed(v) => v as i32 as u32,
                Raw::Float(v) => v as i64 as u32,
            };
            split(v, order).to_vec()
        }
        DataType::F32 => split((raw.as_f64() as f32).to_bits(), order).to_vec(),
    }
}

/// Tips between two counter reads, across a wrap of a `bits`-wide counter.
pub fn counter_delta(previous: u64, current: u64, bits: u32) -> u64 {
    if current >= previous {
        current - previous
    } else {
        current + (1u64 << bits) - previous
    }
}

/// Why a point cannot be read now.
#[derive(Debug, Clone, PartialEq)]
struct Fault {
    /// The slave did not answer (the whole slave is down), rather than a Modbus exception.
    link: bool,
    error: String,
    since: i64,
}

/// What one point turns a raw value into.
#[derive(Debug)]
struct PointState {
    cfg: PointConfig,
    configured: Duration,
    next_due: Instant,
    last_read: Option<Instant>,
    counter_prev: Option<u64>,
    fault: Option<Fault>,
}

impl PointState {
    /// Where the counter's last value is kept: a changed register map starts a new baseline.
    fn counter_key(&self) -> String {
        let c = &self.cfg;
        format!(
            "{}@{}/{}/{:?}/{}",
            c.channel, c.device, c.slave, c.function, c.address
        )
    }

    /// A counter's raw value last read, under its key (the baseline to keep).
    fn counter_value(&self) -> Option<(String, u64)> {
        self.cfg.counter.as_ref()?;
        Some((self.counter_key(), self.counter_prev?))
    }

    /// The reading for a raw value, or None when there is nothing to publish yet (a counter's
    /// first read ever sets its baseline) or the value is unusable (logged).
    fn value(&mut self, raw: Raw, counters: &CounterStore) -> Option<(f64, Quality)> {
        if let Some(counter) = &self.cfg.counter {
            let Raw::Unsigned(now) = raw else {
                return None;
            };
            let bits = if self.cfg.data_type == DataType::U16 {
                16
            } else {
                32
            };
            let key = self.counter_key();
            // After a restart the baseline is the last value read before it, so the rain that
            // fell meanwhile is in this read.
            let prev = self.counter_prev.or_else(|| counters.get(&key));
            self.counter_prev = Some(now);
            counters.set(&key, now);
            let prev = prev?;
            let max = counter.max_tips_per_read as u64;
            let tips = counter_delta(prev, now, bits);
            if tips <= max {
                return Some((tips as f64 * counter.mm_per_tip, Quality::Good));
            }
            if now < prev && now <= max {
                // The sensor restarted its count (power loss): the tips since are real rain,
                // those between the last read and the restart are unknown.
                warn!(channel = %self.cfg.channel, prev, now, "rain counter went back: taken as a sensor reset; the {now} tips since are reported as suspect");
                return Some((now as f64 * counter.mm_per_tip, Quality::Suspect));
            }
            warn!(channel = %self.cfg.channel, prev, now, "rain counter jumped by {tips} tips: taken as a counter reset, not rain");
            return None;
        }
        let v = raw.as_f64() * self.cfg.scale + self.cfg.offset;
        if !v.is_finite() {
            warn!(channel = %self.cfg.channel, "register value is not a finite number; dropped");
            return None;
        }
        Some((v, Quality::Good))
    }
}

/// What a poller sends on: readings, and status values it saw.
#[derive(Clone)]
pub struct PollOutput {
    pub readings: mpsc::Sender<Polled>,
    pub status: SharedStatusValues,
    pub faults: SharedFaults,
    pub counters: Arc<CounterStore>,
    pub schedule: Arc<Schedule>,
}

/// Starts the pollers for a configuration; they stop when `cancel` fires.
pub fn spawn_pollers(
    devices: &[ModbusDevice],
    points: &[PointConfig],
    out: PollOutput,
    cancel: CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    // Connection groups: (device, slave) for TCP, device for a serial line.
    let mut groups: BTreeMap<(String, Option<u8>), Vec<PointConfig>> = BTreeMap::new();
    for p in points {
        let Some(dev) = devices.iter().find(|d| d.name == p.device) else {
            continue; // validation reports it
        };
        let key = match dev.transport {
            Transport::Tcp { .. } => (dev.name.clone(), Some(p.slave)),
            Transport::Rtu { .. } => (dev.name.clone(), None),
        };
        groups.entry(key).or_default().push(p.clone());
    }
    groups
        .into_iter()
        .map(|((name, _), points)| {
            let dev = devices
                .iter()
                .find(|d| d.name == name)
                .expect("grouped by an existing device")
                .clone();
            let out = out.clone();
            let cancel = cancel.clone();
            tokio::spawn(async move { Poller::new(dev, points, out).run(cancel).await })
        })
        .collect()
}

struct SlaveHealth {
    failures: u32,
    backoff: Backoff,
    retry_at: Option<Instant>,
}

struct Poller {
    device: ModbusDevice,
    points: Vec<PointState>,
    out: PollOutput,
    ctx: Option<Context>,
    health: HashMap<u8, SlaveHealth>,
}

enum ReadError {
    /// The slave answered with a Modbus exception: the link is fine.
    Exception(ExceptionCode),
    /// Timeout or transport failure: the connection is dropped.
    Link(LinkError),
}

/// Why a slave did not answer.
#[derive(Debug, thiserror::Error)]
enum LinkError {
    #[error("bad address {address}: {error}")]
    Address {
        address: String,
        error: std::net::AddrParseError,
    },
    #[error("connect {address}: {error}")]
    Connect {
        address: String,
        error: std::io::Error,
    },
    #[error("connect {address}: timed out")]
    ConnectTimeout { address: String },
    #[error("open {port}: {error}")]
    Open {
        port: String,
        error: tokio_serial::Error,
    },
    #[error("no answer within {} ms", .0.as_millis())]
    Timeout(Duration),
    #[error("the slave closed the connection")]
    PeerClosed,
    #[error("{0}")]
    Transport(#[from] tokio_modbus::Error),
    #[error("{0}")]
    Reply(#[from] ShortReply),
}

impl LinkError {
    /// tokio-modbus reports a TCP peer's end of stream as `io::Error::last_os_error()`, whatever
    /// errno the thread last saw: typically EINPROGRESS (from a connect) or EAGAIN (from a read
    /// that would block), neither of which a socket read can really fail with. Say what happened.
    fn from_transport(e: tokio_modbus::Error) -> LinkError {
        use std::io::ErrorKind;
        let closed = match &e {
            tokio_modbus::Error::Transport(io) => {
                matches!(
                    io.raw_os_error(),
                    Some(0 | libc::EINPROGRESS | libc::EAGAIN | libc::EALREADY)
                ) || matches!(
                    io.kind(),
                    ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset | ErrorKind::BrokenPipe
                )
            }
            tokio_modbus::Error::Protocol(_) => false,
        };
        if closed {
            return LinkError::PeerClosed;
        }
        LinkError::Transport(e)
    }
}

impl Poller {
    fn new(device: ModbusDevice, points: Vec<PointConfig>, out: PollOutput) -> Poller {
        let now = Instant::now();
        let points = points
            .into_iter()
            .map(|cfg| PointState {
                configured: Duration::from_secs_f64(cfg.interval_s),
                cfg,
                next_due: now,
                last_read: None,
                counter_prev: None,
                fault: None,
            })
            .collect();
        Poller {
            device,
            points,
            out,
            ctx: None,
            health: HashMap::new(),
        }
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.device.timeout_ms)
    }

    async fn run(mut self, cancel: CancellationToken) {
        let mut changed = self.out.schedule.subscribe();
        loop {
            let next = self
                .points
                .iter()
                .map(|p| p.next_due)
                .min()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = sleep_until(next) => self.poll_due().await,
                r = changed.changed() => {
                    if r.is_err() { break; }
                    self.reschedule();
                }
            }
        }
        if let Some(mut ctx) = self.ctx.take() {
            let _ = timeout(
                self.timeout(),
                tokio_modbus::client::Client::disconnect(&mut ctx),
            )
            .await;
        }
    }

    /// After an interval change: a point whose new interval has already passed is due now.
    fn reschedule(&mut self) {
        let now = Instant::now();
        for p in &mut self.points {
            let iv = self.out.schedule.interval(&p.cfg.channel, p.configured);
            let candidate = p.last_read.map_or(now, |l| l + iv).max(now);
            if candidate < p.next_due {
                p.next_due = candidate;
            }
        }
    }

    async fn poll_due(&mut self) {
        let now = Instant::now();
        for i in 0..self.points.len() {
            if self.points[i].next_due > now {
                continue;
            }
            let slave = self.points[i].cfg.slave;
            let iv = self
                .out
                .schedule
                .interval(&self.points[i].cfg.channel, self.points[i].configured);
            // Keep to the grid when on time; after a stall, start again from now.
            let mut next = self.points[i].next_due + iv;
            if next <= now {
                next = now + iv;
            }
            if let Some(retry) = self.health.get(&slave).and_then(|h| h.retry_at)
                && retry > now
            {
                self.points[i].next_due = next.max(retry);
                continue;
            }
            self.points[i].next_due = next;
            let ts = chrono::Utc::now().timestamp_millis();
            self.points[i].last_read = Some(now);
            match self.read(i).await {
                Ok(raw) => {
                    self.slave_ok(slave);
                    self.point_ok(i);
                    let counters = self.out.counters.clone();
                    let value = self.points[i].value(raw, &counters);
                    // A counter's new baseline goes with its reading, into the same queue
                    // record (or, with no reading, into the next one).
                    let counter = self.points[i].counter_value();
                    match value {
                        Some((value, quality)) => {
                            self.publish(i, ts, value, quality, counter).await
                        }
                        None if counter.is_some() => {
                            self.send(Polled {
                                reading: None,
                                counter,
                            })
                            .await
                        }
                        None => {}
                    }
                }
                Err(ReadError::Exception(code)) => {
                    self.slave_ok(slave);
                    let error = format!("modbus exception {code:?}");
                    if self.point_failed(i, false, &error, ts) {
                        // Once per change, not at every poll: the status message carries it on.
                        warn!(device = %self.device.name, slave, channel = %self.points[i].cfg.channel, "slave answered with an exception: {code:?}; reported in the status until it recovers");
                    }
                }
                Err(ReadError::Link(e)) => {
                    // A late reply would be taken as the answer to the next request: drop it all.
                    self.ctx = None;
                    // Every point of a slave that does not answer is out (and not retried yet).
                    let error = format!("slave does not answer: {e}");
                    for j in 0..self.points.len() {
                        if self.points[j].cfg.slave == slave {
                            self.point_failed(j, true, &error, ts);
                        }
                    }
                    self.slave_failed(slave, &e);
                }
            }
        }
    }

    /// Records a point's failure; true when that is news (it was fine or failed otherwise).
    fn point_failed(&mut self, i: usize, link: bool, error: &str, ts: i64) -> bool {
        let p = &mut self.points[i];
        let unchanged = p
            .fault
            .as_ref()
            .is_some_and(|f| f.link == link && f.error == error);
        if unchanged {
            return false;
        }
        let since = p.fault.as_ref().map_or(ts, |f| f.since);
        p.fault = Some(Fault {
            link,
            error: error.to_owned(),
            since,
        });
        self.out.faults.lock().expect("faults lock").insert(
            p.cfg.channel.clone(),
            PointFault {
                channel: p.cfg.channel.clone(),
                device: self.device.name.clone(),
                slave: p.cfg.slave,
                error: error.to_owned(),
                since,
            },
        );
        true
    }

    fn point_ok(&mut self, i: usize) {
        let p = &mut self.points[i];
        if let Some(f) = p.fault.take() {
            self.out
                .faults
                .lock()
                .expect("faults lock")
                .remove(&p.cfg.channel);
            if !f.link {
                info!(device = %self.device.name, slave = p.cfg.slave, channel = %p.cfg.channel, "point reads again after: {}", f.error);
            }
        }
    }

    fn slave_ok(&mut self, slave: u8) {
        if let Some(h) = self.health.remove(&slave)
            && h.failures > 0
        {
            info!(device = %self.device.name, slave, "slave answers again after {} failure(s)", h.failures);
            // Its other points are no longer out for that reason; each is judged at its next read.
            for i in 0..self.points.len() {
                if self.points[i].cfg.slave == slave
                    && self.points[i].fault.as_ref().is_some_and(|f| f.link)
                {
                    self.point_ok(i);
                }
            }
        }
    }

    fn slave_failed(&mut self, slave: u8, error: &LinkError) {
        let h = self.health.entry(slave).or_insert_with(|| SlaveHealth {
            failures: 0,
            // Back off a dead slave (1 s, 2 s, ... 60 s) so that on a shared serial line it
            // costs the others one timeout per backoff, not one per poll.
            backoff: Backoff::new(Duration::from_secs(1), Duration::from_secs(60)),
            retry_at: None,
        });
        h.failures += 1;
        if h.failures == 1 {
            warn!(device = %self.device.name, slave, "slave does not answer: {error}");
        } else {
            debug!(device = %self.device.name, slave, failures = h.failures, "slave still does not answer: {error}");
        }
        h.retry_at = Some(Instant::now() + h.backoff.next_delay());
    }

    async fn publish(
        &mut self,
        i: usize,
        ts: i64,
        value: f64,
        quality: Quality,
        counter: Option<(String, u64)>,
    ) {
        let p = &self.points[i].cfg;
        // A slave that answers exceptions for some of its registers is not fully trusted for
        // the others: the center sees them as suspect (still used, unlike bad).
        let slave_faulty = self
            .points
            .iter()
            .any(|o| o.cfg.slave == p.slave && o.fault.is_some());
        let quality = if slave_faulty && quality == Quality::Good {
            Quality::Suspect
        } else {
            quality
        };
        if let Some(role) = p.status {
            let mut s = self.out.status.lock().expect("status lock");
            match role {
                StatusRole::SupplyV => s.supply_v = Some(value),
                StatusRole::BatteryPct => s.battery_pct = Some(value),
                StatusRole::SignalDbm => s.signal_dbm = Some(value),
            }
        }
        let reading = Reading {
            sensor: p.channel.clone(),
            ts,
            value,
            quality,
        };
        self.send(Polled {
            reading: Some(reading),
            counter,
        })
        .await;
    }

    async fn send(&mut self, polled: Polled) {
        if self.out.readings.send(polled).await.is_err() {
            debug!("reading channel closed (shutting down)");
        }
    }

    async fn read(&mut self, i: usize) -> Result<Raw, ReadError> {
        let (slave, function, address, data_type, order) = {
            let c = &self.points[i].cfg;
            (c.slave, c.function, c.address, c.data_type, c.word_order)
        };
        if self.ctx.is_none() {
            self.ctx = Some(
                connect(&self.device, slave)
                    .await
                    .map_err(ReadError::Link)?,
            );
        }
        let deadline = self.timeout();
        let ctx = self.ctx.as_mut().expect("connected above");
        ctx.set_slave(Slave(slave));
        let n = data_type.registers();
        let result = timeout(deadline, async {
            match function {
                Function::Holding => ctx.read_holding_registers(address, n).await,
                Function::Input => ctx.read_input_registers(address, n).await,
                Function::Coil => ctx
                    .read_coils(address, 1)
                    .await
                    .map(|r| r.map(|bits| bits.into_iter().map(u16::from).collect())),
                Function::Discrete => ctx
                    .read_discrete_inputs(address, 1)
                    .await
                    .map(|r| r.map(|bits| bits.into_iter().map(u16::from).collect())),
            }
        })
        .await;
        match result {
            Err(_) => Err(ReadError::Link(LinkError::Timeout(deadline))),
            Ok(Err(e)) => Err(ReadError::Link(LinkError::from_transport(e))),
            Ok(Ok(Err(code))) => Err(ReadError::Exception(code)),
            Ok(Ok(Ok(words))) => {
                decode(&words, data_type, order).map_err(|e| ReadError::Link(e.into()))
            }
        }
    }
}

/// Opens the link to a device (kept out of `Poller` so the future only borrows the device).
async fn connect(device: &ModbusDevice, slave: u8) -> Result<Context, LinkError> {
    let deadline = Duration::from_millis(device.timeout_ms);
    {
        match &device.transport {
            Transport::Tcp { address } => {
                let addr = address.parse().map_err(|error| LinkError::Address {
                    address: address.clone(),
                    error,
                })?;
                match timeout(
                    deadline,
                    tokio_modbus::client::tcp::connect_slave(addr, Slave(slave)),
                )
                .await
                {
                    Ok(Ok(ctx)) => Ok(ctx),
                    Ok(Err(error)) => Err(LinkError::Connect {
                        address: address.clone(),
                        error,
                    }),
                    Err(_) => Err(LinkError::ConnectTimeout {
                        address: address.clone(),
                    }),
                }
            }
            Transport::Rtu {
                port,
                baud,
                parity,
                data_bits,
                stop_bits,
            } => {
                use tokio_serial::SerialPortBuilderExt;
                let builder = tokio_serial::new(port, *baud)
                    .parity(match parity {
                        Parity::None => tokio_serial::Parity::None,
                        Parity::Even => tokio_serial::Parity::Even,
                        Parity::Odd => tokio_serial::Parity::Odd,
                    })
                    .data_bits(match data_bits {
                        7 => tokio_serial::DataBits::Seven,
                        _ => tokio_serial::DataBits::Eight,
                    })
                    .stop_bits(match stop_bits {
                        2 => tokio_serial::StopBits::Two,
                        _ => tokio_serial::StopBits::One,
                    });
                let stream = builder
                    .open_native_async()
                    .map_err(|error| LinkError::Open {
                        port: port.clone(),
                        error,
                    })?;
                // Bytes left in the line's buffers (a reply that came after a timeout) would be
                // read as the answer to the next request.
                if let Err(e) =
                    tokio_serial::SerialPort::clear(&stream, tokio_serial::ClearBuffer::All)
                {
                    warn!(%port, "cannot clear the serial buffers: {e}");
                }
                Ok(tokio_modbus::client::rtu::attach_slave(
                    stream,
                    Slave(slave),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirty_two_bit_values_decode_in_both_word_orders() {
        for order in [WordOrder::HighFirst, WordOrder::LowFirst] {
            let w = encode(Raw::Float(-12.375), DataType::F32, order);
            assert_eq!(
                decode(&w, DataType::F32, order).unwrap(),
                Raw::Float(-12.375)
            );
            let w = encode(Raw::Signed(-70_000), DataType::I32, order);
            assert_eq!(
                decode(&w, DataType::I32, order).unwrap(),
                Raw::Signed(-70_000)
            );
        }
        // The same two words read in the other order give another number.
        let w = encode(
            Raw::Unsigned(0x0001_0002),
            DataType::U32,
            WordOrder::HighFirst,
        );
        assert_eq!(w, vec![1, 2]);
        assert_eq!(
            decode(&w, DataType::U32, WordOrder::LowFirst).unwrap(),
            Raw::Unsigned(0x0002_0001)
        );
        assert_eq!(
            decode(&[0xFFFF], DataType::I16, WordOrder::HighFirst).unwrap(),
            Raw::Signed(-1)
        );
        assert!(decode(&[1], DataType::U32, WordOrder::HighFirst).is_err());
    }

    #[test]
    fn counters_count_across_a_wrap() {
        assert_eq!(counter_delta(65_530, 4, 16), 10);
        assert_eq!(counter_delta(u32::MAX as u64, 1, 32), 2);
        assert_eq!(counter_delta(7, 7, 16), 0);
    }
}
