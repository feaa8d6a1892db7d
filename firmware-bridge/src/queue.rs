//! The store-and-forward queue: every telemetry message and snapshot is written here (and
//! fsynced) before it is published, and leaves only when the broker has acknowledged it.
//!
//! Four lanes, `readings/`, `frames/`, `commands/` (commands accepted and not yet answered) and
//! `answers/` (their answers not yet taken by the broker), each a series of segment files `{first_id:020}.seg`
//! holding checksummed records. A lane's `head` file holds the first id not yet acknowledged;
//! a segment is deleted once every record in it is acknowledged. After a power cut, a torn
//! record at the end of the last segment is cut off; every complete record is kept.
//!
//! Bounded by `max_bytes` (records of both lanes): when full, the oldest frames go first; a new
//! frame that does not fit beside the readings is refused; readings are dropped (oldest first,
//! counted and logged) only when there are no frames left to drop.
//!
//! Disk wear (SD cards): a telemetry record carries, in the same checksummed record, the raw
//! values of the rain counters whose readings it holds, so the counter baselines are exactly as
//! durable as the readings computed from them; `counters.json` is rewritten only before a
//! segment holding such values is deleted. Readings and frames are fsynced together at most
//! every `sync_interval` (and a message is offered for publishing only once fsynced), the data
//! lanes' head files are written at most as often and not fsynced (a stale head only means
//! redeliveries, which the center absorbs); commands and answers are fsynced at once.
//!
//! What each failure loses:
//! - **kill -9** (or a panic): nothing pushed. Every record is written to the file (the page
//!   cache) before `push` returns, and the kernel keeps the page cache; only readings still
//!   gathered in memory for the next message (`batch.max_delay_ms`) are lost, and their rain
//!   comes again at the next read (the baseline on disk is the last one queued).
//! - **power cut**: at most the records appended since the last fsync (`sync_interval`). None of
//!   them was published, so the broker never acknowledged and the collector never confirmed
//!   them, and their ids are given again; their rain counter values go with them (the next read
//!   counts from the last fsynced baseline), so rain is neither lost nor counted twice. What was
//!   published was fsynced first: the collector's confirmation only ever covers fsynced seqs.

use std::collections::{BTreeSet, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::RecvTimeoutError;

use bytes::Bytes;
use tokio::sync::{Notify, oneshot};
use tracing::{error, info, warn};

const MAGIC: u32 = 0x4748_5131; // "GHQ1"
/// A record followed by rain counter values (`{"key": raw, ...}` JSON after the payload).
const MAGIC_COUNTERS: u32 = 0x4748_5132; // "GHQ2"
/// Where the rain counters' baselines are kept between segment deletions.
pub const COUNTERS_FILE: &str = "counters.json";

/// fsyncs made by every queue of this process (the `geohazard_bridge_fsyncs` metric).
static FSYNCS: AtomicU64 = AtomicU64::new(0);

/// fsyncs made by the disk queue (and the files beside it) since the process started.
pub fn fsyncs() -> u64 {
    FSYNCS.load(Ordering::Relaxed)
}

fn sync_file(f: &File, data_only: bool) -> io::Result<()> {
    FSYNCS.fetch_add(1, Ordering::Relaxed);
    if data_only {
        f.sync_data()
    } else {
        f.sync_all()
    }
}
const HEADER: u64 = 20; // magic, length, crc, id
const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);
/// Largest record accepted when reading back: larger lengths are corruption.
const MAX_RECORD: u32 = 64 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lane {
    Readings,
    Frames,
    /// Commands taken from the broker and not yet answered: executed again after a restart.
    Commands,
    /// Command answers waiting for the broker's PUBACK.
    Answers,
}

impl Lane {
    fn dir_name(self) -> &'static str {
        match self {
            Lane::Readings => "readings",
            Lane::Frames => "frames",
            Lane::Commands => "commands",
            Lane::Answers => "answers",
        }
    }

    /// Lanes outside the byte bound and its drop policy: few, small, and never dropped.
    fn is_control(self) -> bool {
        matches!(self, Lane::Commands | Lane::Answers)
    }
}

/// An MQTT message waiting for delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub topic: String,
    pub payload: Bytes,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue I/O: {0}")]
    Io(#[from] io::Error),
    #[error(
        "a {size}-byte frame does not fit in the queue ({free} bytes free after dropping older frames)"
    )]
    FrameRefused { size: u64, free: u64 },
    #[error("a {size}-byte message is larger than the whole queue ({max} bytes)")]
    TooLarge { size: u64, max: u64 },
    #[error("the queue is closed: the bridge is stopping")]
    Closed,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    id: u64,
    segment: u64,
    offset: u64,
    len: u64,
}

#[derive(Debug)]
struct Segment {
    first_id: u64,
    path: PathBuf,
    size: u64,
}

struct LaneStore {
    lane: Lane,
    dir: PathBuf,
    segments: VecDeque<Segment>,
    entries: VecDeque<Entry>,
    /// Acknowledged ahead of the head (acks may come out of order).
    acked_ahead: BTreeSet<u64>,
    head: u64,
    persisted_head: u64,
    next_id: u64,
    /// Ids below this are fsynced: only they may be published (an id published and then lost
    /// at a power cut would be given again to another message).
    durable_next: u64,
    /// Appended since the last fsync.
    dirty: bool,
    writer: Option<File>,
    bytes: u64,
    /// The readings lane: the rain counter values its records carry.
    counters: Option<Counters>,
}

/// Counters shown in logs and status.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct QueueStats {
    pub readings: u64,
    pub frames: u64,
    pub bytes: u64,
    pub dropped_readings: u64,
    pub dropped_frames: u64,
    pub refused_frames: u64,
}

pub struct DiskQueue {
    readings: LaneStore,
    frames: LaneStore,
    commands: LaneStore,
    answers: LaneStore,
    max_bytes: u64,
    segment_bytes: u64,
    stats: QueueStats,
    last_head_write: Instant,
    /// Readings and frames are fsynced together at most this often (zero: each on its own).
    sync_interval: Duration,
    last_sync: Instant,
}

fn segment_name(first_id: u64) -> String {
    format!("{first_id:020}.seg")
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    sync_file(&File::open(dir)?, false)
}

/// Rain counter values: counter key to raw register value.
pub type CounterValues = std::collections::BTreeMap<String, u64>;

fn encode_record(id: u64, msg: &Message, counters: Option<&[u8]>) -> Vec<u8> {
    let topic = msg.topic.as_bytes();
    let trailer = counters.map_or(0, |c| 4 + c.len());
    let body_len = 2 + topic.len() + msg.payload.len() + trailer;
    let mut body = Vec::with_capacity(HEADER as usize + body_len);
    let magic = if counters.is_some() {
        MAGIC_COUNTERS
    } else {
        MAGIC
    };
    body.extend_from_slice(&magic.to_le_bytes());
    body.extend_from_slice(&(body_len as u32).to_le_bytes());
    body.extend_from_slice(&[0; 4]); // crc, filled below
    body.extend_from_slice(&id.to_le_bytes());
    body.extend_from_slice(&(topic.len() as u16).to_le_bytes());
    body.extend_from_slice(topic);
    if let Some(c) = counters {
        body.extend_from_slice(&(msg.payload.len() as u32).to_le_bytes());
        body.extend_from_slice(&msg.payload);
        body.extend_from_slice(c);
    } else {
        body.extend_from_slice(&msg.payload);
    }
    let crc = CRC.checksum(&body[12..]);
    body[8..12].copy_from_slice(&crc.to_le_bytes());
    body
}

/// Why a record cannot be read back.
#[derive(Debug, thiserror::Error)]
enum RecordError {
    #[error("torn header ({0} of {HEADER} bytes)")]
    TornHeader(usize),
    #[error("bad record header")]
    BadHeader,
    #[error("torn record body")]
    TornBody,
    #[error("checksum mismatch")]
    Checksum,
    #[error("bad topic length")]
    TopicLength,
    #[error("topic is not UTF-8")]
    TopicNotUtf8,
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// One record read back: its id, message, length on disk and rain counter values (raw JSON).
struct Record {
    id: u64,
    msg: Message,
    len: u64,
    counters: Option<Bytes>,
}

/// Reads one record at the reader's position: Ok(None) at a clean end of file, Err for a torn
/// or corrupt record.
fn read_record(r: &mut impl Read) -> Result<Option<Record>, RecordError> {
    let mut header = [0u8; HEADER as usize];
    let mut got = 0;
    while got < header.len() {
        match r.read(&mut header[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(RecordError::TornHeader(got)),
            Ok(n) => got += n,
            Err(e) => return Err(e.into()),
        }
    }
    let word = |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().expect("4 bytes"));
    let (magic, len, crc) = (word(0), word(4), word(8));
    let id = u64::from_le_bytes(header[12..20].try_into().expect("8 bytes"));
    if !(magic == MAGIC || magic == MAGIC_COUNTERS) || !(2..=MAX_RECORD).contains(&len) {
        return Err(RecordError::BadHeader);
    }
    let mut body = vec![0u8; len as usize];
    r.read_exact(&mut body).map_err(|_| RecordError::TornBody)?;
    let mut digest = CRC.digest();
    digest.update(&header[12..20]);
    digest.update(&body);
    if digest.finalize() != crc {
        return Err(RecordError::Checksum);
    }
    let topic_len = u16::from_le_bytes([body[0], body[1]]) as usize;
    if 2 + topic_len > body.len() {
        return Err(RecordError::TopicLength);
    }
    let topic = String::from_utf8(body[2..2 + topic_len].to_vec())
        .map_err(|_| RecordError::TopicNotUtf8)?;
    let at = 2 + topic_len;
    let (payload, counters) = if magic == MAGIC_COUNTERS {
        let Some(n) = body.get(at..at + 4) else {
            return Err(RecordError::TopicLength);
        };
        let n = u32::from_le_bytes(n.try_into().expect("4 bytes")) as usize;
        if at + 4 + n > body.len() {
            return Err(RecordError::TopicLength);
        }
        let body = Bytes::from(body);
        (
            body.slice(at + 4..at + 4 + n),
            Some(body.slice(at + 4 + n..)),
        )
    } else {
        (Bytes::from(body).slice(at..), None)
    };
    Ok(Some(Record {
        id,
        msg: Message { topic, payload },
        len: HEADER + len as u64,
        counters,
    }))
}

/// The rain counters' baselines as the readings lane holds them.
struct Counters {
    path: PathBuf,
    /// The last value queued for each counter (fsynced or not).
    values: CounterValues,
    /// Every record up to this id is accounted for in the file.
    saved_through: u64,
    /// `values` holds values of records after `saved_through`.
    unsaved: bool,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CountersFile {
    through: u64,
    values: CounterValues,
}

impl Counters {
    fn load(root: &Path) -> Counters {
        let path = root.join(COUNTERS_FILE);
        let (saved_through, values) = match fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<CountersFile>(&bytes) {
                Ok(f) => (f.through, f.values),
                // Written by an earlier version: the values alone.
                Err(_) => match serde_json::from_slice::<CounterValues>(&bytes) {
                    Ok(v) => (0, v),
                    Err(e) => {
                        warn!(file = %path.display(), "counter baselines unreadable, starting afresh: {e}");
                        (0, CounterValues::new())
                    }
                },
            },
            Err(e) => {
                if e.kind() != io::ErrorKind::NotFound {
                    warn!(file = %path.display(), "counter baselines unreadable, starting afresh: {e}");
                }
                (0, CounterValues::new())
            }
        };
        Counters {
            path,
            values,
            saved_through,
            unsaved: false,
        }
    }

    /// Takes the values a record carried (records come in id order).
    fn apply(&mut self, id: u64, raw: &[u8]) {
        if id <= self.saved_through {
            return; // the file already holds these or newer ones
        }
        match serde_json::from_slice::<CounterValues>(raw) {
            Ok(v) => {
                self.values.extend(v);
                self.unsaved = true;
            }
            Err(e) => error!(id, "rain counter values of a queued record unreadable: {e}"),
        }
    }

    /// Writes the file (atomically, fsynced): every record up to `through` is in it.
    fn save(&mut self, through: u64) -> io::Result<()> {
        let json = serde_json::to_vec(&CountersFile {
            through,
            values: self.values.clone(),
        })
        .expect("counter values serialize");
        let tmp = self.path.with_extension("tmp");
        let mut f = File::create(&tmp)?;
        f.write_all(&json)?;
        sync_file(&f, false)?;
        fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            sync_dir(dir)?;
        }
        self.saved_through = through;
        self.unsaved = false;
        Ok(())
    }
}

impl LaneStore {
    fn open(root: &Path, lane: Lane) -> io::Result<LaneStore> {
        let dir = root.join(lane.dir_name());
        fs::create_dir_all(&dir)?;
        // The head, then (control lanes) the ids acknowledged ahead of it.
        let (head, acked_ahead) = match fs::read_to_string(dir.join("head")) {
            Ok(s) => {
                let mut lines = s.lines();
                let head = lines.next().unwrap_or_default().trim().parse().unwrap_or_else(|_| {
                    error!(lane = ?lane, "queue head file is unreadable: replaying every record on disk");
                    0
                });
                let ahead: BTreeSet<u64> = lines
                    .next()
                    .unwrap_or_default()
                    .split_whitespace()
                    .filter_map(|id| id.parse().ok())
                    .filter(|id| *id >= head)
                    .collect();
                (head, ahead)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => (0, BTreeSet::new()),
            Err(e) => return Err(e),
        };
        let mut firsts: Vec<u64> = fs::read_dir(&dir)?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_suffix(".seg")?.parse().ok()
            })
            .collect();
        firsts.sort_unstable();
        let mut store = LaneStore {
            lane,
            dir,
            segments: VecDeque::new(),
            entries: VecDeque::new(),
            acked_ahead,
            head,
            persisted_head: head,
            next_id: head.max(1),
            durable_next: 0,
            dirty: false,
            writer: None,
            bytes: 0,
            counters: (lane == Lane::Readings).then(|| Counters::load(root)),
        };
        let count = firsts.len();
        for (n, first) in firsts.into_iter().enumerate() {
            let path = store.dir.join(segment_name(first));
            let mut reader = BufReader::new(File::open(&path)?);
            let mut offset = 0u64;
            let mut last_id = None;
            loop {
                match read_record(&mut reader) {
                    Ok(Some(Record {
                        id, len, counters, ..
                    })) => {
                        if let (Some(c), Some(raw)) = (&mut store.counters, counters) {
                            c.apply(id, &raw);
                        }
                        if id >= head {
                            store.entries.push_back(Entry {
                                id,
                                segment: first,
                                offset,
                                len,
                            });
                            store.bytes += len;
                        }
                        last_id = Some(id);
                        offset += len;
                    }
                    Ok(None) => break,
                    Err(why) => {
                        if n + 1 == count {
                            // A power cut during the last append: cut the torn tail off.
                            warn!(lane = ?lane, segment = %path.display(), offset, "{why}: truncating the torn tail of the last segment");
                            OpenOptions::new()
                                .write(true)
                                .open(&path)?
                                .set_len(offset)?;
                        } else {
                            error!(lane = ?lane, segment = %path.display(), offset, "{why}: the rest of this segment is unreadable and skipped");
                        }
                        break;
                    }
                }
            }
            if let Some(id) = last_id {
                store.next_id = store.next_id.max(id + 1);
            }
            store.segments.push_back(Segment {
                first_id: first,
                path,
                size: offset,
            });
        }
        store.durable_next = store.next_id;
        let present: BTreeSet<u64> = store.entries.iter().map(|e| e.id).collect();
        store.acked_ahead.retain(|id| present.contains(id));
        while store
            .entries
            .front()
            .is_some_and(|f| store.acked_ahead.remove(&f.id))
        {
            store.pop_front();
        }
        store.remove_consumed_segments()?;
        Ok(store)
    }

    /// Appends a record (with rain counter values, readings lane); fsynced now with `sync`, else
    /// at the next [`LaneStore::sync`].
    fn append(
        &mut self,
        msg: &Message,
        counters: Option<&CounterValues>,
        segment_bytes: u64,
        sync: bool,
    ) -> io::Result<u64> {
        let id = self.next_id;
        let trailer = counters
            .filter(|c| !c.is_empty())
            .map(|c| serde_json::to_vec(c).expect("counter values serialize"));
        let record = encode_record(id, msg, trailer.as_deref());
        let roll = match self.segments.back() {
            Some(s) => s.size >= segment_bytes || self.writer.is_none() && s.size > 0,
            None => true,
        };
        if roll {
            // What the closing segment holds is on disk before the next one starts.
            self.sync()?;
        }
        if roll || self.writer.is_none() {
            if roll {
                let path = self.dir.join(segment_name(id));
                let f = OpenOptions::new().create(true).append(true).open(&path)?;
                sync_dir(&self.dir)?;
                self.segments.push_back(Segment {
                    first_id: id,
                    path,
                    size: 0,
                });
                self.writer = Some(f);
            } else {
                let s = self.segments.back().expect("a segment");
                self.writer = Some(OpenOptions::new().append(true).open(&s.path)?);
            }
        }
        let seg = self.segments.back_mut().expect("a segment");
        let w = self.writer.as_mut().expect("a writer");
        let written = w
            .write_all(&record)
            .and_then(|_| if sync { sync_file(w, true) } else { Ok(()) });
        if let Err(e) = written {
            // The file may hold part of the record: start a new segment next time, and cut it.
            let _ = w.set_len(seg.size);
            self.writer = None;
            return Err(e);
        }
        self.entries.push_back(Entry {
            id,
            segment: seg.first_id,
            offset: seg.size,
            len: record.len() as u64,
        });
        seg.size += record.len() as u64;
        self.bytes += record.len() as u64;
        self.next_id += 1;
        if let (Some(store), Some(values)) = (&mut self.counters, counters)
            && !values.is_empty()
        {
            store
                .values
                .extend(values.iter().map(|(k, v)| (k.clone(), *v)));
            store.unsaved = true;
        }
        if sync {
            self.durable_next = self.next_id;
        } else {
            self.dirty = true;
        }
        Ok(id)
    }

    /// Fsyncs what was appended since the last sync; it may be published from now on.
    fn sync(&mut self) -> io::Result<()> {
        if self.dirty {
            if let Some(w) = &self.writer {
                sync_file(w, true)?;
            }
            self.dirty = false;
        }
        self.durable_next = self.next_id;
        Ok(())
    }

    fn read(&self, id: u64) -> io::Result<Option<Message>> {
        let Some(e) = self.find(id) else {
            return Ok(None);
        };
        let mut f = File::open(self.dir.join(segment_name(e.segment)))?;
        f.seek(SeekFrom::Start(e.offset))?;
        match read_record(&mut BufReader::new(f)) {
            Ok(Some(r)) if r.id == id => Ok(Some(r.msg)),
            Ok(_) => Err(io::Error::other(format!(
                "record {id} is not where the index says"
            ))),
            Err(why) => Err(io::Error::other(format!("record {id}: {why}"))),
        }
    }

    fn find(&self, id: u64) -> Option<Entry> {
        let i = self.entries.partition_point(|e| e.id < id);
        self.entries.get(i).filter(|e| e.id == id).copied()
    }

    /// First id after `after` that is still waiting.
    fn next_after(&self, after: Option<u64>) -> Option<u64> {
        let start = after.map_or(0, |a| a + 1);
        let i = self.entries.partition_point(|e| e.id < start);
        self.entries
            .iter()
            .skip(i)
            .map(|e| e.id)
            .take_while(|id| *id < self.durable_next)
            .find(|id| !self.acked_ahead.contains(id))
    }

    fn ack(&mut self, id: u64) -> io::Result<()> {
        if self.find(id).is_none() {
            return Ok(()); // already acked or dropped
        }
        self.acked_ahead.insert(id);
        while let Some(front) = self.entries.front() {
            if !self.acked_ahead.remove(&front.id) {
                break;
            }
            self.pop_front();
        }
        self.remove_consumed_segments()
    }

    fn pop_front(&mut self) -> Option<Entry> {
        let e = self.entries.pop_front()?;
        self.bytes -= e.len;
        self.head = self.entries.front().map_or(self.next_id, |f| f.id);
        Some(e)
    }

    fn drop_oldest(&mut self) -> io::Result<Option<Entry>> {
        let e = self.pop_front();
        if let Some(e) = e {
            self.acked_ahead.remove(&e.id);
            // Drops are rare and must stick across a reboot.
            self.write_head()?;
            self.remove_consumed_segments()?;
        }
        Ok(e)
    }

    /// Deletes segments none of whose records is still waiting (never the one being written).
    fn remove_consumed_segments(&mut self) -> io::Result<()> {
        while self.segments.len() > 1 || (self.segments.len() == 1 && self.writer.is_none()) {
            let first = self.segments[0].first_id;
            let next_first = self.segments.get(1).map_or(self.next_id, |n| n.first_id);
            let waiting = self.entries.front().is_some_and(|e| e.segment == first);
            if waiting {
                break;
            }
            // The head must be on disk before the records below it disappear.
            if self.persisted_head < next_first.min(self.head) {
                self.write_head()?;
            }
            // So must the rain counter values they carry: fsync what was appended, then save
            // the values of every record appended (all of them now durable).
            if self.counters.as_ref().is_some_and(|c| c.unsaved) {
                self.sync()?;
                let through = self.next_id - 1;
                if let Some(c) = &mut self.counters {
                    c.save(through)?;
                }
            }
            if let Some(s) = self.segments.pop_front() {
                fs::remove_file(&s.path)?;
            }
        }
        Ok(())
    }

    /// Writes the head if it moved. A data lane's head is not fsynced: lost or torn by a power
    /// cut, it only means redeliveries (the center absorbs duplicates).
    fn write_head(&mut self) -> io::Result<()> {
        if self.persisted_head == self.head {
            return Ok(());
        }
        self.write_head_with(true, self.lane.is_control())
    }

    /// Writes the head; with `ahead`, also the ids acknowledged ahead of it on a second line (a
    /// command answered while older ones still wait must not run again after a restart); with
    /// `durable`, fsynced.
    fn write_head_with(&mut self, ahead: bool, durable: bool) -> io::Result<()> {
        let mut text = self.head.to_string();
        if ahead {
            text.push('\n');
            let ids: Vec<String> = self.acked_ahead.iter().map(u64::to_string).collect();
            text.push_str(&ids.join(" "));
        }
        let tmp = self.dir.join("head.tmp");
        let mut f = File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        if durable {
            sync_file(&f, false)?;
        }
        fs::rename(&tmp, self.dir.join("head"))?;
        if durable {
            sync_dir(&self.dir)?;
        }
        self.persisted_head = self.head;
        Ok(())
    }
}

impl DiskQueue {
    pub fn open(dir: &Path, max_bytes: u64, segment_bytes: u64) -> io::Result<DiskQueue> {
        fs::create_dir_all(dir)?;
        let readings = LaneStore::open(dir, Lane::Readings)?;
        let frames = LaneStore::open(dir, Lane::Frames)?;
        let commands = LaneStore::open(dir, Lane::Commands)?;
        let answers = LaneStore::open(dir, Lane::Answers)?;
        let q = DiskQueue {
            readings,
            frames,
            commands,
            answers,
            max_bytes,
            segment_bytes,
            stats: QueueStats::default(),
            last_head_write: Instant::now(),
            sync_interval: Duration::ZERO,
            last_sync: Instant::now(),
        };
        let s = q.stats();
        if s.readings + s.frames > 0 {
            info!(
                readings = s.readings,
                frames = s.frames,
                bytes = s.bytes,
                "queue holds messages from before the restart; they will be replayed"
            );
        }
        Ok(q)
    }

    fn lane(&self, lane: Lane) -> &LaneStore {
        match lane {
            Lane::Readings => &self.readings,
            Lane::Frames => &self.frames,
            Lane::Commands => &self.commands,
            Lane::Answers => &self.answers,
        }
    }

    fn lane_mut(&mut self, lane: Lane) -> &mut LaneStore {
        match lane {
            Lane::Readings => &mut self.readings,
            Lane::Frames => &mut self.frames,
            Lane::Commands => &mut self.commands,
            Lane::Answers => &mut self.answers,
        }
    }

    /// Appends and fsyncs a message, making room by the drop policy. Returns its id.
    pub fn push(&mut self, lane: Lane, msg: &Message) -> Result<u64, QueueError> {
        self.push_with(lane, msg, None)
    }

    /// Appends a telemetry message with the raw values of the rain counters whose readings it
    /// holds, in the same record: they become durable (and survive a restart as baselines)
    /// together.
    pub fn push_telemetry(
        &mut self,
        msg: &Message,
        counters: &CounterValues,
    ) -> Result<u64, QueueError> {
        self.push_with(Lane::Readings, msg, Some(counters))
    }

    /// The rain counters' baselines: the last value queued for each.
    pub fn counter_values(&self) -> CounterValues {
        self.readings
            .counters
            .as_ref()
            .map(|c| c.values.clone())
            .unwrap_or_default()
    }

    fn push_with(
        &mut self,
        lane: Lane,
        msg: &Message,
        counters: Option<&CounterValues>,
    ) -> Result<u64, QueueError> {
        let size = HEADER + 2 + msg.topic.len() as u64 + msg.payload.len() as u64;
        if lane.is_control() {
            let segment_bytes = self.segment_bytes;
            return Ok(self.lane_mut(lane).append(msg, None, segment_bytes, true)?);
        }
        if size > self.max_bytes {
            return Err(QueueError::TooLarge {
                size,
                max: self.max_bytes,
            });
        }
        while self.readings.bytes + self.frames.bytes + size > self.max_bytes {
            if self.frames.drop_oldest()?.is_some() {
                self.stats.dropped_frames += 1;
                warn!(
                    dropped_frames = self.stats.dropped_frames,
                    "queue full: dropped the oldest frame"
                );
                continue;
            }
            if lane == Lane::Frames {
                self.stats.refused_frames += 1;
                return Err(QueueError::FrameRefused {
                    size,
                    free: self.max_bytes - self.readings.bytes,
                });
            }
            if self.readings.drop_oldest()?.is_some() {
                self.stats.dropped_readings += 1;
                error!(
                    dropped_readings = self.stats.dropped_readings,
                    "queue full of readings: dropped the oldest telemetry message"
                );
            } else {
                break;
            }
        }
        let segment_bytes = self.segment_bytes;
        let each = self.sync_interval.is_zero();
        let id = self
            .lane_mut(lane)
            .append(msg, counters, segment_bytes, each)?;
        if !each && self.last_sync.elapsed() >= self.sync_interval {
            self.sync()?;
        }
        Ok(id)
    }

    /// Groups the fsyncs of readings and frames: at most one per `interval` (zero: one per
    /// message). A message is published only once fsynced, so a power cut loses at most what
    /// was queued in the last `interval`, none of it yet sent.
    pub fn set_sync_interval(&mut self, interval: Duration) {
        self.sync_interval = interval;
    }

    /// Fsyncs the readings and frames appended since the last sync.
    pub fn sync(&mut self) -> io::Result<()> {
        self.readings.sync()?;
        self.frames.sync()?;
        self.last_sync = Instant::now();
        Ok(())
    }

    /// How long until appended messages are due to be fsynced (None: nothing waits).
    pub fn sync_due(&self) -> Option<Duration> {
        (self.readings.dirty || self.frames.dirty)
            .then(|| self.sync_interval.saturating_sub(self.last_sync.elapsed()))
    }

    /// The id the next message pushed on `lane` will get.
    pub fn next_id(&self, lane: Lane) -> u64 {
        self.lane(lane).next_id
    }

    pub fn read(&self, lane: Lane, id: u64) -> io::Result<Option<Message>> {
        self.lane(lane).read(id)
    }

    /// The next waiting id after `after` (None: from the start).
    pub fn next_after(&self, lane: Lane, after: Option<u64>) -> Option<u64> {
        self.lane(lane).next_after(after)
    }

    /// How often the data lanes' heads are written: every 200 ms with an fsync per message,
    /// else every 30 `sync_interval`s (30 s by default). Each write is a new file (a page and
    /// its metadata), the largest share of a quiet gateway's writes after the readings.
    fn head_interval(&self) -> Duration {
        if self.sync_interval.is_zero() {
            Duration::from_millis(200)
        } else {
            self.sync_interval * 30
        }
    }

    /// The message is delivered: it leaves the queue. The head is written to disk at most every
    /// [`DiskQueue::head_interval`] (and before a segment is deleted, and on
    /// [`DiskQueue::flush`]); a crash in between only means redeliveries, which the center
    /// absorbs.
    pub fn ack(&mut self, lane: Lane, id: u64) -> io::Result<()> {
        if lane.is_control() {
            // Few, and each replayed one would be a command run or answered twice.
            return self.ack_now(lane, id);
        }
        self.lane_mut(lane).ack(id)?;
        if self.last_head_write.elapsed() > self.head_interval() {
            self.write_heads()?;
        }
        Ok(())
    }

    /// Acknowledges `id` and saves the lane's head at once (commands: an answered command must
    /// not run again after a crash).
    pub fn ack_now(&mut self, lane: Lane, id: u64) -> io::Result<()> {
        let l = self.lane_mut(lane);
        l.ack(id)?;
        l.write_head_with(true, true)
    }

    /// Fsyncs what was appended and saves the heads.
    pub fn flush(&mut self) -> io::Result<()> {
        self.sync()?;
        self.write_heads()
    }

    fn write_heads(&mut self) -> io::Result<()> {
        self.readings.write_head()?;
        self.frames.write_head()?;
        self.commands.write_head()?;
        self.answers.write_head()?;
        self.last_head_write = Instant::now();
        Ok(())
    }

    pub fn stats(&self) -> QueueStats {
        QueueStats {
            readings: self.readings.entries.len() as u64 - self.readings.acked_ahead.len() as u64,
            frames: self.frames.entries.len() as u64 - self.frames.acked_ahead.len() as u64,
            bytes: self.readings.bytes + self.frames.bytes,
            ..self.stats
        }
    }

    pub fn depth(&self) -> u64 {
        let s = self.stats();
        s.readings + s.frames
    }

    /// Every waiting message of a lane, oldest first (for inspection and tests).
    pub fn pending(&self, lane: Lane) -> io::Result<Vec<Message>> {
        Ok(self
            .pending_with_ids(lane)?
            .into_iter()
            .map(|(_, m)| m)
            .collect())
    }

    /// Every waiting message of a lane with its id, oldest first.
    pub fn pending_with_ids(&self, lane: Lane) -> io::Result<Vec<(u64, Message)>> {
        let l = self.lane(lane);
        let mut out = Vec::new();
        let mut at = None;
        while let Some(id) = l.next_after(at) {
            if let Some(m) = l.read(id)? {
                out.push((id, m));
            }
            at = Some(id);
        }
        Ok(out)
    }
}

/// A message the link may publish next, read on the queue's thread.
pub(crate) struct Next {
    pub lane: Lane,
    pub id: u64,
    /// None: dropped by the queue policy since it was listed.
    pub message: io::Result<Option<Message>>,
}

type Job = Box<dyn FnOnce(&mut DiskQueue) + Send>;

enum Op {
    Run(Job),
    /// Saves the heads and closes the files; later operations fail with [`QueueError::Closed`].
    Close(oneshot::Sender<()>),
}

/// The queue as the bridge's async tasks use it. Every operation runs on the queue's own
/// thread, one after the other in the order asked: appends and their fsyncs, reads and head
/// writes never block an async worker, and an ack can never overtake the read it follows.
/// A push returns only once its message is durable, so nothing is published before it is on
/// disk.
#[derive(Clone)]
pub(crate) struct QueueHandle {
    ops: std::sync::mpsc::Sender<Op>,
    /// Messages waiting, updated after every operation (for the status message).
    depth: Arc<AtomicU64>,
    /// Woken after each push: there is something new to publish.
    queued: Arc<Notify>,
}

impl QueueHandle {
    /// Opens (and replays the index of) the queue in `dir` on a thread of its own.
    pub async fn open(
        dir: PathBuf,
        max_bytes: u64,
        segment_bytes: u64,
        sync_interval: Duration,
    ) -> io::Result<QueueHandle> {
        let (ops, jobs) = std::sync::mpsc::channel::<Op>();
        let (opened_tx, opened) = oneshot::channel();
        let depth = Arc::new(AtomicU64::new(0));
        let shown = depth.clone();
        let queued = Arc::new(Notify::new());
        let synced = queued.clone();
        std::thread::Builder::new()
            .name("bridge-queue".into())
            .spawn(move || {
                let mut q = match DiskQueue::open(&dir, max_bytes, segment_bytes) {
                    Ok(mut q) => {
                        q.set_sync_interval(sync_interval);
                        q
                    }
                    Err(e) => {
                        let _ = opened_tx.send(Err(e));
                        return;
                    }
                };
                shown.store(q.depth(), Ordering::Relaxed);
                let _ = opened_tx.send(Ok(()));
                let closed = loop {
                    let op = match q.sync_due() {
                        None => jobs.recv().map_err(|_| RecvTimeoutError::Disconnected),
                        Some(wait) => jobs.recv_timeout(wait),
                    };
                    match op {
                        Ok(Op::Run(job)) => job(&mut q),
                        Ok(Op::Close(reply)) => break Some(reply),
                        Err(RecvTimeoutError::Timeout) => {
                            match q.sync() {
                                // Newly durable: the link may publish it.
                                Ok(()) => synced.notify_one(),
                                Err(e) => error!("queue fsync failed: {e}"),
                            }
                        }
                        Err(RecvTimeoutError::Disconnected) => break None,
                    }
                    shown.store(q.depth(), Ordering::Relaxed);
                };
                drop(q); // saves the heads
                if let Some(reply) = closed {
                    let _ = reply.send(());
                }
            })?;
        opened
            .await
            .map_err(|_| io::Error::other("the queue thread ended while opening"))??;
        Ok(QueueHandle { ops, depth, queued })
    }

    /// Runs `job` on the queue's thread and waits for its result.
    pub async fn call<R: Send + 'static>(
        &self,
        job: impl FnOnce(&mut DiskQueue) -> R + Send + 'static,
    ) -> Result<R, QueueError> {
        let (tx, rx) = oneshot::channel();
        let depth = self.depth.clone();
        self.ops
            .send(Op::Run(Box::new(move |q| {
                let result = job(q);
                // Before the caller resumes, so it sees the depth its operation left.
                depth.store(q.depth(), Ordering::Relaxed);
                let _ = tx.send(result);
            })))
            .map_err(|_| QueueError::Closed)?;
        rx.await.map_err(|_| QueueError::Closed)
    }

    /// Runs `job` on the queue's thread without waiting for it.
    fn cast(&self, job: impl FnOnce(&mut DiskQueue) + Send + 'static) {
        // Closed: the bridge is stopping, and what was not acked is replayed at the next start.
        let _ = self.ops.send(Op::Run(Box::new(job)));
    }

    /// Appends a message (durably) and wakes the link. Returns its id.
    pub async fn push(&self, lane: Lane, msg: Message) -> Result<u64, QueueError> {
        let id = self.call(move |q| q.push(lane, &msg)).await??;
        self.queued.notify_one();
        Ok(id)
    }

    /// Wakes the link after pushes made through [`QueueHandle::call`].
    pub fn notify_queued(&self) {
        self.queued.notify_one();
    }

    /// Resolves when something was pushed since the last wake-up.
    pub async fn queued(&self) {
        self.queued.notified().await
    }

    /// Up to `readings` waiting command answers after `after[2]` and readings after `after[0]`
    /// (answers first: they are few and someone waits for them), then, if none was found, up to
    /// `frames` waiting frames after `after[1]`, oldest first.
    pub async fn next(
        &self,
        after: [Option<u64>; 3],
        readings: usize,
        frames: usize,
    ) -> Result<Vec<Next>, QueueError> {
        self.call(move |q| {
            let mut out = Vec::new();
            let take = |lane: Lane, after: Option<u64>, max: usize, out: &mut Vec<Next>| {
                let mut at = after;
                while out.len() < max {
                    let Some(id) = q.next_after(lane, at) else {
                        break;
                    };
                    at = Some(id);
                    let message = q.read(lane, id);
                    out.push(Next { lane, id, message });
                }
            };
            take(Lane::Answers, after[2], readings, &mut out);
            take(Lane::Readings, after[0], readings, &mut out);
            // Frames only when no reading waits: they never hold up readings.
            if out.is_empty() {
                take(Lane::Frames, after[1], frames, &mut out);
            }
            out
        })
        .await
    }

    /// The messages `ids` of `lane` that still wait (a resend), oldest first.
    pub async fn read_again(&self, lane: Lane, ids: Vec<u64>) -> Result<Vec<Next>, QueueError> {
        self.call(move |q| {
            ids.into_iter()
                .filter(|id| q.lane(lane).find(*id).is_some())
                .map(|id| Next {
                    lane,
                    id,
                    message: q.read(lane, id),
                })
                .collect()
        })
        .await
    }

    /// The message is delivered for good: it leaves the queue (errors are logged).
    pub fn ack(&self, lane: Lane, id: u64) {
        self.cast(move |q| {
            if let Err(e) = q.ack(lane, id) {
                error!("queue ack of {lane:?} {id} failed: {e}");
            }
        });
    }

    /// Saves the heads now.
    pub async fn flush(&self) -> Result<(), QueueError> {
        Ok(self.call(|q| q.flush()).await??)
    }

    /// Messages waiting (as of the last operation).
    pub fn depth(&self) -> u64 {
        self.depth.load(Ordering::Relaxed)
    }

    /// Saves the heads and closes the queue's files; returns once they are closed.
    pub async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        if self.ops.send(Op::Close(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

impl Drop for DiskQueue {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            warn!("queue head not saved at close: {e} (messages will be replayed)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics(q: &DiskQueue) -> Vec<String> {
        let pending = q.pending(Lane::Readings).unwrap();
        pending.into_iter().map(|m| m.topic).collect()
    }

    fn msg(topic: &str, n: usize) -> Message {
        Message {
            topic: topic.into(),
            payload: Bytes::from(vec![b'x'; n]),
        }
    }

    #[test]
    fn messages_come_back_in_order_after_a_reopen_and_acked_ones_do_not() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut q = DiskQueue::open(dir.path(), 1 << 20, 256).unwrap();
            for i in 0..20 {
                q.push(Lane::Readings, &msg(&format!("t/{i}"), 40)).unwrap();
            }
            for id in 1..=5 {
                q.ack(Lane::Readings, id).unwrap();
            }
        }
        let q = DiskQueue::open(dir.path(), 1 << 20, 256).unwrap();
        let topics = topics(&q);
        assert_eq!(
            topics,
            (5..20).map(|i| format!("t/{i}")).collect::<Vec<_>>()
        );
        // Fully acknowledged segments are gone from the disk.
        let files = fs::read_dir(dir.path().join("readings")).unwrap().count();
        assert!(files < 20, "{files} files");
    }

    #[test]
    fn a_torn_last_record_is_cut_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut q = DiskQueue::open(dir.path(), 1 << 20, 1 << 20).unwrap();
            for i in 0..3 {
                q.push(Lane::Readings, &msg(&format!("t/{i}"), 100))
                    .unwrap();
            }
        }
        let seg = fs::read_dir(dir.path().join("readings"))
            .unwrap()
            .filter_map(|e| e.ok())
            .find(|e| e.file_name().to_string_lossy().ends_with(".seg"))
            .unwrap()
            .path();
        let len = fs::metadata(&seg).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&seg)
            .unwrap()
            .set_len(len - 7)
            .unwrap();
        let mut q = DiskQueue::open(dir.path(), 1 << 20, 1 << 20).unwrap();
        assert_eq!(q.pending(Lane::Readings).unwrap().len(), 2);
        q.push(Lane::Readings, &msg("t/new", 10)).unwrap();
        drop(q);
        let q = DiskQueue::open(dir.path(), 1 << 20, 1 << 20).unwrap();
        let topics = topics(&q);
        assert_eq!(topics, ["t/0", "t/1", "t/new"]);
    }

    #[test]
    fn a_full_queue_drops_frames_first_and_readings_last() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = DiskQueue::open(dir.path(), 2000, 500).unwrap();
        for _ in 0..3 {
            q.push(Lane::Frames, &msg("f", 300)).unwrap();
        }
        for _ in 0..10 {
            q.push(Lane::Readings, &msg("r", 100)).unwrap();
        }
        let s = q.stats();
        assert!(s.dropped_frames >= 1, "{s:?}");
        assert_eq!(s.dropped_readings, 0);
        // Readings fill what is left: a new frame is refused rather than a reading dropped.
        for _ in 0..6 {
            q.push(Lane::Readings, &msg("r", 100)).unwrap();
        }
        assert_eq!(q.stats().frames, 0);
        assert!(matches!(
            q.push(Lane::Frames, &msg("f", 900)),
            Err(QueueError::FrameRefused { .. })
        ));
        // Only now, with no frame left, does a reading make room by dropping the oldest one.
        for _ in 0..5 {
            q.push(Lane::Readings, &msg("r", 100)).unwrap();
        }
        let s = q.stats();
        assert!(s.dropped_readings > 0);
        assert!(s.bytes <= 2000);
    }

    #[test]
    fn with_grouped_fsyncs_a_message_is_offered_for_publishing_only_once_fsynced() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = DiskQueue::open(dir.path(), 1 << 20, 1 << 20).unwrap();
        q.set_sync_interval(Duration::from_secs(3600));
        q.push(Lane::Readings, &msg("r", 10)).unwrap();
        q.push(Lane::Readings, &msg("r", 10)).unwrap();
        assert_eq!(q.next_after(Lane::Readings, None), None);
        assert!(q.sync_due().is_some());
        q.sync().unwrap();
        assert_eq!(q.sync_due(), None);
        assert_eq!(q.next_after(Lane::Readings, None), Some(1));
        assert_eq!(q.next_after(Lane::Readings, Some(1)), Some(2));
        // Commands are never held back.
        q.push(Lane::Commands, &msg("c", 10)).unwrap();
        assert_eq!(q.next_after(Lane::Commands, None), Some(1));
    }

    fn values(pairs: &[(&str, u64)]) -> CounterValues {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn rain_counter_values_are_kept_with_their_records_and_go_when_a_torn_record_goes() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut q = DiskQueue::open(dir.path(), 1 << 20, 1 << 20).unwrap();
            q.push_telemetry(&msg("r", 10), &values(&[("rain", 5), ("r2", 1)]))
                .unwrap();
            q.push_telemetry(&msg("r", 10), &values(&[("rain", 7)]))
                .unwrap();
            assert_eq!(q.counter_values(), values(&[("r2", 1), ("rain", 7)]));
        }
        // No counters.json yet: the records hold the values.
        assert!(!dir.path().join(COUNTERS_FILE).exists());
        let q = DiskQueue::open(dir.path(), 1 << 20, 1 << 20).unwrap();
        assert_eq!(q.counter_values(), values(&[("r2", 1), ("rain", 7)]));
        assert_eq!(
            q.pending(Lane::Readings).unwrap(),
            [msg("r", 10), msg("r", 10)]
        );
        drop(q);
        // A power cut tore the last record: its reading and its baseline go together.
        let seg = dir.path().join("readings").join(segment_name(1));
        let len = fs::metadata(&seg).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&seg)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        let q = DiskQueue::open(dir.path(), 1 << 20, 1 << 20).unwrap();
        assert_eq!(q.counter_values(), values(&[("r2", 1), ("rain", 5)]));
        assert_eq!(q.pending(Lane::Readings).unwrap().len(), 1);
    }

    #[test]
    fn counter_values_are_saved_before_their_segment_is_deleted() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut q = DiskQueue::open(dir.path(), 1 << 20, 100).unwrap();
            for n in 1..=6 {
                q.push_telemetry(&msg("r", 60), &values(&[("rain", n)]))
                    .unwrap();
            }
            for id in 1..=5 {
                q.ack(Lane::Readings, id).unwrap();
            }
        }
        let saved: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.path().join(COUNTERS_FILE)).unwrap()).unwrap();
        assert!(saved["through"].as_u64().unwrap() >= 5, "{saved}");
        let q = DiskQueue::open(dir.path(), 1 << 20, 100).unwrap();
        assert_eq!(q.counter_values(), values(&[("rain", 6)]));
        // A file older than some records on disk: the records' newer values win, older
        // records do not override the file.
        drop(q);
        fs::write(
            dir.path().join(COUNTERS_FILE),
            br#"{"through": 6, "values": {"rain": 9}}"#,
        )
        .unwrap();
        let q = DiskQueue::open(dir.path(), 1 << 20, 100).unwrap();
        assert_eq!(q.counter_values(), values(&[("rain", 9)]));
        // The file an earlier version wrote (values alone) is read too.
        drop(q);
        fs::write(dir.path().join(COUNTERS_FILE), br#"{"old": 3}"#).unwrap();
        let q = DiskQueue::open(dir.path(), 1 << 20, 100).unwrap();
        assert_eq!(q.counter_values()["old"], 3);
    }

    #[test]
    fn out_of_order_acks_release_only_a_contiguous_head() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = DiskQueue::open(dir.path(), 1 << 20, 1 << 20).unwrap();
        for _ in 0..3 {
            q.push(Lane::Readings, &msg("r", 10)).unwrap();
        }
        q.ack(Lane::Readings, 2).unwrap();
        assert_eq!(q.depth(), 2);
        assert_eq!(q.next_after(Lane::Readings, None), Some(1));
        assert_eq!(q.next_after(Lane::Readings, Some(1)), Some(3));
        q.ack(Lane::Readings, 1).unwrap();
        assert_eq!(q.next_after(Lane::Readings, None), Some(3));
    }

    #[tokio::test]
    async fn the_handle_runs_operations_in_order_and_a_closed_queue_refuses_more() {
        let dir = tempfile::tempdir().unwrap();
        let q = QueueHandle::open(dir.path().into(), 1 << 20, 1 << 20, Duration::ZERO)
            .await
            .unwrap();
        for i in 0..5 {
            q.push(Lane::Readings, msg(&format!("t/{i}"), 10))
                .await
                .unwrap();
        }
        q.push(Lane::Frames, msg("f", 10)).await.unwrap();
        assert_eq!(q.depth(), 6);
        // Readings first, as many as asked; frames only when no reading waits.
        let ids = |next: Vec<Next>| -> Vec<(Lane, u64)> {
            next.into_iter().map(|n| (n.lane, n.id)).collect()
        };
        let first = q.next([None, None, None], 3, 2).await.unwrap();
        assert_eq!(
            first[2].message.as_ref().unwrap().as_ref().unwrap().topic,
            "t/2"
        );
        assert_eq!(
            ids(first),
            [
                (Lane::Readings, 1),
                (Lane::Readings, 2),
                (Lane::Readings, 3)
            ]
        );
        // Acks are not waited for, yet they come before whatever is asked after them.
        for id in 1..=5 {
            q.ack(Lane::Readings, id);
        }
        let rest = q.next([Some(3), None, None], 3, 2).await.unwrap();
        assert_eq!(ids(rest), [(Lane::Frames, 1)]);
        assert_eq!(q.depth(), 1);
        q.close().await;
        assert!(matches!(
            q.push(Lane::Readings, msg("late", 10)).await,
            Err(QueueError::Closed)
        ));
        // Closed means saved: the acks are on disk.
        let reopened = DiskQueue::open(dir.path(), 1 << 20, 1 << 20).unwrap();
        assert_eq!(reopened.pending(Lane::Readings).unwrap(), []);
        assert_eq!(reopened.depth(), 1);
    }
}
