//! The SQLite inbox journal: verified webhook events appended to preallocated segment files
//! and synced before their 2xx (invariant 4), then folded into `stripe_events` by the first
//! reader of the inbox. It keeps an event's B-tree inserts (the table, the id index, the list
//! and claim indexes, each a page write in SQLite's WAL) off the acknowledgement path: what a
//! delivery waits for is one sequential write and one `fdatasync` per group of deliveries.
//!
//! Only a `tollgate serve` on a SQLite file uses it (PostgreSQL is shared by several instances
//! and keeps rows only). The layout, in the directory `<database file>-inbox/`:
//! - `lock`: held (`flock`) by the one process that owns the journal;
//! - `<seq>.seg`: segments, each made at its full size (`SEGMENT_BYTES`, sparse: disk is used
//!   as frames are written), so that a sync writes data blocks and never a new file size
//!   (appending to a growing file costs 2.5× the CPU per sync, docs/benchmarks.md). A segment
//!   is removed once everything in it is folded.
//!
//! A frame is `magic, length, crc32(seq, offset, body), body`. The checksum binds a frame to
//! its segment and place, so a frame torn by a crash, or the zeros after the last frame, end
//! the segment when it is read back.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use time::OffsetDateTime;
use tollgate_core::inbox::{EventStatus, NewEvent};
use tollgate_core::stripe::StripeEventId;

/// A segment's size: about 10 000 webhook events of 3 kB. Larger ones cost more to read back
/// after a crash; smaller ones are rolled over (a file made, synced and named) more often.
pub const SEGMENT_BYTES: u64 = 32 * 1024 * 1024;
const MAGIC: u32 = 0x314A_4754; // "TGJ1", little-endian
const HEADER: usize = 12;
/// Events of at most 1 MiB are accepted; a frame is never larger than a segment.
const MAX_BODY: usize = 4 * 1024 * 1024;
/// How much of a segment one fold reads at a time.
const READ_BYTES: u64 = 2 * 1024 * 1024;

/// A place in the journal: a segment and a byte offset in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub segment: u64,
    pub offset: u64,
}

/// Events read back, and where the next read starts once they are folded.
#[derive(Debug)]
pub struct Unfolded {
    pub events: Vec<NewEvent>,
    pub upto: Position,
}

pub struct InboxJournal {
    dir: PathBuf,
    /// Held for the journal's life: a second process would overwrite our frames.
    _lock: File,
    writer: Mutex<Writer>,
    shared: Mutex<Shared>,
    #[cfg(feature = "testing")]
    refuse_writes: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for InboxJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboxJournal")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

struct Writer {
    file: File,
    segment: u64,
    offset: u64,
    buffer: Vec<u8>,
}

struct Shared {
    /// Every segment not yet removed, with the end of what was synced in it.
    ends: BTreeMap<u64, u64>,
    /// The segment being written; the ones before it are sealed.
    current: u64,
    /// Everything before this is in `stripe_events`.
    folded: Position,
    /// Ids synced to the journal and not yet folded: a re-delivery of one is a duplicate.
    pending: HashSet<String>,
}

impl InboxJournal {
    /// Opens (or creates) the journal in `dir` and reads back what an earlier process left
    /// in it: those events are pending, to be folded by the first reader.
    pub fn open(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("lock"))?;
        lock.try_lock().map_err(|_| {
            io::Error::new(
                io::ErrorKind::WouldBlock,
                format!(
                    "another process holds the inbox journal {} (is tollgate already serving this database?)",
                    dir.display()
                ),
            )
        })?;
        let mut ends = BTreeMap::new();
        let mut pending = HashSet::new();
        for segment in existing_segments(dir)? {
            let path = segment_path(dir, segment);
            let bytes = fs::read(&path)?;
            let mut end = 0;
            for frame in Frames::new(&bytes, segment) {
                let (body, next) = frame;
                if let Ok(event) = decode(body) {
                    pending.insert(event.id.as_str().to_string());
                }
                end = next;
            }
            if end == 0 {
                fs::remove_file(&path)?;
            } else {
                ends.insert(segment, end);
            }
        }
        let current = ends.keys().next_back().map_or(1, |last| last + 1);
        let folded = Position {
            segment: ends.keys().next().copied().unwrap_or(current),
            offset: 0,
        };
        let file = create_segment(dir, current)?;
        ends.insert(current, 0);
        Ok(Self {
            dir: dir.to_path_buf(),
            _lock: lock,
            writer: Mutex::new(Writer {
                file,
                segment: current,
                offset: 0,
                buffer: Vec::with_capacity(256 * 1024),
            }),
            shared: Mutex::new(Shared {
                ends,
                current,
                folded,
                pending,
            }),
            #[cfg(feature = "testing")]
            refuse_writes: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The journal beside a SQLite database file.
    pub fn dir_for(database: &Path) -> PathBuf {
        let mut name = database.as_os_str().to_owned();
        name.push("-inbox");
        PathBuf::from(name)
    }

    pub fn is_pending(&self, id: &str) -> bool {
        lock(&self.shared).pending.contains(id)
    }

    /// Whether anything synced is not folded yet; cheap, for every read of the inbox.
    pub fn has_unfolded(&self) -> bool {
        let shared = lock(&self.shared);
        shared.folded.segment != shared.current
            || shared.ends.get(&shared.current).copied().unwrap_or(0) > shared.folded.offset
    }

    /// Appends the events and syncs them; returns once they survive a crash or a power loss.
    /// Blocking: call it off the async runtime's threads.
    pub fn append(&self, events: &[NewEvent]) -> io::Result<()> {
        #[cfg(feature = "testing")]
        if self.refuse_writes.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(io::Error::other("the journal refuses writes (test)"));
        }
        let mut writer = lock(&self.writer);
        let result = self.write_frames(&mut writer, events);
        if result.is_err() {
            // What a failed write or sync left in this segment is not to be trusted (after a
            // failed fsync the kernel may drop the dirty pages): go on in a fresh segment.
            let _ = self.roll(&mut writer);
        }
        result?;
        let mut shared = lock(&self.shared);
        shared.ends.insert(writer.segment, writer.offset);
        shared
            .pending
            .extend(events.iter().map(|e| e.id.as_str().to_string()));
        Ok(())
    }

    fn write_frames(&self, writer: &mut Writer, events: &[NewEvent]) -> io::Result<()> {
        writer.buffer.clear();
        for event in events {
            // Each frame is encoded in place; its header is filled in once its place is known.
            let mut start = writer.buffer.len();
            writer.buffer.extend_from_slice(&[0; HEADER]);
            encode(event, &mut writer.buffer);
            let body_len = writer.buffer.len() - start - HEADER;
            if body_len > MAX_BODY {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("an event of {body_len} bytes is too large for the journal"),
                ));
            }
            if writer.offset + writer.buffer.len() as u64 > SEGMENT_BYTES {
                let frame = writer.buffer.split_off(start);
                flush(writer)?;
                self.roll(writer)?;
                writer.buffer = frame;
                start = 0;
            }
            let offset = writer.offset + start as u64;
            let crc = checksum(writer.segment, offset, &writer.buffer[start + HEADER..]);
            let len = u32::try_from(body_len).expect("BUG: a journal frame over 4 GiB");
            let header = &mut writer.buffer[start..start + HEADER];
            header[0..4].copy_from_slice(&MAGIC.to_le_bytes());
            header[4..8].copy_from_slice(&len.to_le_bytes());
            header[8..12].copy_from_slice(&crc.to_le_bytes());
        }
        flush(writer)
    }

    /// Seals the current segment and continues in the next one.
    fn roll(&self, writer: &mut Writer) -> io::Result<()> {
        let next = writer.segment + 1;
        let file = create_segment(&self.dir, next)?;
        {
            let mut shared = lock(&self.shared);
            shared.ends.insert(writer.segment, writer.offset);
            shared.ends.insert(next, 0);
            shared.current = next;
        }
        writer.file = file;
        writer.segment = next;
        writer.offset = 0;
        Ok(())
    }

    /// Reads back up to `max_events` synced events that are not folded yet, in the order they
    /// were acknowledged; `None` when there are none. Blocking.
    pub fn unfolded(&self, max_events: usize) -> io::Result<Option<Unfolded>> {
        loop {
            let (from, end, sealed) = {
                let shared = lock(&self.shared);
                let from = shared.folded;
                let end = shared.ends.get(&from.segment).copied().unwrap_or(0);
                (from, end, from.segment < shared.current)
            };
            if from.offset < end {
                let bytes = read_frames(&segment_path(&self.dir, from.segment), from.offset, end)?;
                let mut events = Vec::new();
                let mut upto = from;
                for (body, next) in Frames::starting_at(&bytes, from.segment, from.offset) {
                    events.push(decode(body)?);
                    upto.offset = next;
                    if events.len() == max_events {
                        break;
                    }
                }
                if upto == from {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "the inbox journal's segment {} does not read back at offset {}",
                            from.segment, from.offset
                        ),
                    ));
                }
                return Ok(Some(Unfolded { events, upto }));
            }
            if !sealed {
                return Ok(None);
            }
            // A sealed segment read to its end: on to the next one, and this one is removed.
            self.folded(from, &[]);
        }
    }

    /// Records that everything before `upto` is in `stripe_events` (committed), removing the
    /// segments left behind. The ids stop being pending only now, after their rows are
    /// visible: a delivery that found neither would otherwise slip through as new.
    pub fn folded(&self, upto: Position, ids: &[&str]) {
        let done: Vec<u64> = {
            let mut shared = lock(&self.shared);
            for id in ids {
                shared.pending.remove(*id);
            }
            let end = shared.ends.get(&upto.segment).copied().unwrap_or(0);
            shared.folded = if upto.segment < shared.current && upto.offset >= end {
                Position {
                    segment: upto.segment + 1,
                    offset: 0,
                }
            } else {
                upto
            };
            let before = shared.folded.segment;
            let done: Vec<u64> = shared.ends.range(..before).map(|(s, _)| *s).collect();
            for segment in &done {
                shared.ends.remove(segment);
            }
            done
        };
        for segment in done {
            // Not synced: a removal lost in a crash only leaves a segment to be folded again,
            // which inserts nothing twice.
            if let Err(e) = fs::remove_file(segment_path(&self.dir, segment)) {
                tracing::warn!(error = %e, segment, "cannot remove a folded inbox journal segment");
            }
        }
    }

    /// Makes every append fail until called with `false`: a disk failure, for tests.
    #[cfg(feature = "testing")]
    pub fn refuse_writes(&self, refuse: bool) {
        self.refuse_writes
            .store(refuse, std::sync::atomic::Ordering::SeqCst);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves consistent state behind: each holder updates its
    // fields only after its I/O succeeded.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn flush(writer: &mut Writer) -> io::Result<()> {
    if writer.buffer.is_empty() {
        return Ok(());
    }
    write_at(&writer.file, &writer.buffer, writer.offset)?;
    writer.file.sync_data()?;
    writer.offset += writer.buffer.len() as u64;
    writer.buffer.clear();
    Ok(())
}

/// The bytes from `from` on, up to `end` or `READ_BYTES` (and at least one whole frame).
fn read_frames(path: &Path, from: u64, end: u64) -> io::Result<Vec<u8>> {
    let file = File::open(path)?;
    let mut len = (end - from).min(READ_BYTES);
    if len >= HEADER as u64 {
        let mut header = [0u8; HEADER];
        read_at(&file, &mut header, from)?;
        let body = u64::from(u32::from_le_bytes([
            header[4], header[5], header[6], header[7],
        ]));
        len = len.max((HEADER as u64 + body).min(end - from));
    }
    let mut bytes = vec![0; usize::try_from(len).unwrap_or(0)];
    read_at(&file, &mut bytes, from)?;
    Ok(bytes)
}

/// Positioned I/O by seeking, which every platform has (`pwrite` would save one system call
/// per group of deliveries).
fn write_at(file: &File, bytes: &[u8], offset: u64) -> io::Result<()> {
    let mut file = file;
    file.seek(SeekFrom::Start(offset))?;
    file.write_all(bytes)
}

fn read_at(file: &File, bytes: &mut [u8], offset: u64) -> io::Result<()> {
    let mut file = file;
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(bytes)
}

fn segment_path(dir: &Path, segment: u64) -> PathBuf {
    dir.join(format!("{segment:020}.seg"))
}

fn existing_segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut segments = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        if let Some(seq) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".seg"))
            .and_then(|n| n.parse::<u64>().ok())
        {
            segments.push(seq);
        }
    }
    segments.sort_unstable();
    Ok(segments)
}

/// Makes segment `seq` at its full size, durable with its name.
fn create_segment(dir: &Path, segment: u64) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(segment_path(dir, segment))?;
    file.set_len(SEGMENT_BYTES)?;
    file.sync_all()?;
    sync_dir(dir)?;
    Ok(file)
}

/// Makes a directory's entries (a new segment's name) durable. Windows has no such call for a
/// directory; NTFS journals its metadata.
fn sync_dir(dir: &Path) -> io::Result<()> {
    if cfg!(unix) {
        File::open(dir)?.sync_all()
    } else {
        Ok(())
    }
}

fn checksum(segment: u64, offset: u64, body: &[u8]) -> u32 {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&segment.to_le_bytes());
    crc.update(&offset.to_le_bytes());
    crc.update(body);
    crc.finalize()
}

/// The valid frames of a segment's bytes, each with the offset just after it; ends at the
/// first frame that is zero, torn, or not written at this place of this segment.
struct Frames<'a> {
    bytes: &'a [u8],
    segment: u64,
    /// The segment offset of `bytes[0]`.
    base: u64,
    at: usize,
}

impl<'a> Frames<'a> {
    fn new(bytes: &'a [u8], segment: u64) -> Self {
        Self::starting_at(bytes, segment, 0)
    }

    fn starting_at(bytes: &'a [u8], segment: u64, base: u64) -> Self {
        Self {
            bytes,
            segment,
            base,
            at: 0,
        }
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = (&'a [u8], u64);

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.bytes.get(self.at..)?;
        let word = |i: usize| -> Option<u32> {
            Some(u32::from_le_bytes(rest.get(i..i + 4)?.try_into().ok()?))
        };
        if word(0)? != MAGIC {
            return None;
        }
        let len = word(4)? as usize;
        let body = rest.get(HEADER..HEADER.checked_add(len)?)?;
        let offset = self.base + self.at as u64;
        if word(8)? != checksum(self.segment, offset, body) {
            return None;
        }
        self.at += HEADER + len;
        Some((body, self.base + self.at as u64))
    }
}

// --- an event's bytes ------------------------------------------------------------------------

fn encode(event: &NewEvent, out: &mut Vec<u8>) {
    out.push(match event.status {
        EventStatus::Received => 0,
        EventStatus::Ignored => 1,
        EventStatus::Processed => 2,
        EventStatus::Failed => 3,
    });
    out.push(u8::from(event.livemode));
    out.extend_from_slice(&event.created.to_le_bytes());
    let received = i64::try_from(event.received_at.unix_timestamp_nanos()).unwrap_or(i64::MAX);
    out.extend_from_slice(&received.to_le_bytes());
    put_str(out, Some(event.id.as_str()));
    put_str(out, Some(&event.event_type));
    put_str(out, event.account.as_deref());
    put_str(out, event.api_version.as_deref());
    put_str(out, Some(&event.payload));
}

fn put_str(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        Some(text) => {
            let len = u32::try_from(text.len()).expect("BUG: a journal string over 4 GiB");
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(text.as_bytes());
        }
        None => out.extend_from_slice(&u32::MAX.to_le_bytes()),
    }
}

fn decode(body: &[u8]) -> io::Result<NewEvent> {
    let mut reader = Reader { rest: body };
    let status = match reader.byte()? {
        0 => EventStatus::Received,
        1 => EventStatus::Ignored,
        2 => EventStatus::Processed,
        3 => EventStatus::Failed,
        other => return Err(corrupt(&format!("unknown status {other}"))),
    };
    let livemode = reader.byte()? != 0;
    let created = reader.i64()?;
    let received_at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(reader.i64()?))
        .map_err(|_| corrupt("time out of range"))?;
    let id = reader.string()?.ok_or_else(|| corrupt("no id"))?;
    let id = StripeEventId::parse(&id).map_err(|e| corrupt(&e.to_string()))?;
    let event_type = reader.string()?.ok_or_else(|| corrupt("no type"))?;
    let account = reader.string()?;
    let api_version = reader.string()?;
    let payload = reader.string()?.ok_or_else(|| corrupt("no payload"))?;
    Ok(NewEvent {
        id,
        event_type,
        account,
        created,
        api_version,
        livemode,
        payload,
        status,
        received_at,
    })
}

fn corrupt(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("an inbox journal frame does not decode: {what}"),
    )
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> io::Result<&[u8]> {
        if self.rest.len() < n {
            return Err(corrupt("cut short"));
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    fn byte(&mut self) -> io::Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn i64(&mut self) -> io::Result<i64> {
        let bytes: [u8; 8] = self.take(8)?.try_into().map_err(|_| corrupt("i64"))?;
        Ok(i64::from_le_bytes(bytes))
    }

    fn string(&mut self) -> io::Result<Option<String>> {
        let bytes: [u8; 4] = self.take(4)?.try_into().map_err(|_| corrupt("length"))?;
        let len = u32::from_le_bytes(bytes);
        if len == u32::MAX {
            return Ok(None);
        }
        let text = self.take(len as usize)?;
        String::from_utf8(text.to_vec())
            .map(Some)
            .map_err(|_| corrupt("not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: usize, payload_bytes: usize) -> NewEvent {
        NewEvent {
            id: StripeEventId::parse(&format!("evt_{n:08}")).expect("id"),
            event_type: "invoice.paid".into(),
            account: n.is_multiple_of(2).then(|| "acct_1".to_string()),
            created: 1_700_000_000 + n as i64,
            api_version: n.is_multiple_of(3).then(|| "2025-09-30.clover".to_string()),
            livemode: n.is_multiple_of(5),
            payload: format!("{{\"n\":{n},\"pad\":\"{}\"}}", "x".repeat(payload_bytes)),
            status: if n.is_multiple_of(4) {
                EventStatus::Ignored
            } else {
                EventStatus::Received
            },
            received_at: OffsetDateTime::from_unix_timestamp_nanos(1_750_000_000_123_456_789)
                .expect("time"),
        }
    }

    /// Reads and folds everything, as the store does, returning the ids in order.
    fn fold_all(journal: &InboxJournal) -> Vec<String> {
        let mut ids = Vec::new();
        while let Some(unfolded) = journal.unfolded(7).expect("read back") {
            let these: Vec<&str> = unfolded.events.iter().map(|e| e.id.as_str()).collect();
            journal.folded(unfolded.upto, &these);
            ids.extend(these.iter().map(|s| s.to_string()));
        }
        ids
    }

    fn ids(range: std::ops::Range<usize>) -> Vec<String> {
        range.map(|n| format!("evt_{n:08}")).collect()
    }

    #[test]
    fn events_read_back_exactly_as_appended_and_in_order() {
        let dir = tempfile::tempdir().expect("dir");
        let journal = InboxJournal::open(dir.path()).expect("open");
        assert!(!journal.has_unfolded());
        let events: Vec<NewEvent> = (0..20).map(|n| event(n, 100)).collect();
        journal.append(&events[..12]).expect("append");
        journal.append(&events[12..]).expect("append");
        assert!(journal.has_unfolded());
        assert!(journal.is_pending("evt_00000003"));
        let unfolded = journal.unfolded(100).expect("read").expect("some");
        assert_eq!(unfolded.events.len(), 20);
        for (read, written) in unfolded.events.iter().zip(&events) {
            assert_eq!(format!("{read:?}"), format!("{written:?}"));
        }
        let these: Vec<&str> = unfolded.events.iter().map(|e| e.id.as_str()).collect();
        journal.folded(unfolded.upto, &these);
        assert!(!journal.has_unfolded());
        assert!(!journal.is_pending("evt_00000003"));
        assert!(journal.unfolded(100).expect("read").is_none());
    }

    #[test]
    fn what_was_not_folded_before_a_restart_is_pending_and_read_back_after_it() {
        let dir = tempfile::tempdir().expect("dir");
        {
            let journal = InboxJournal::open(dir.path()).expect("open");
            journal
                .append(&(0..10).map(|n| event(n, 50)).collect::<Vec<_>>())
                .expect("append");
            let first = journal.unfolded(4).expect("read").expect("some");
            journal.folded(first.upto, &["evt_00000000"]);
        }
        let journal = InboxJournal::open(dir.path()).expect("reopen");
        assert!(journal.is_pending("evt_00000009"));
        // Everything still in a segment is folded again: inserting is idempotent by id.
        assert_eq!(fold_all(&journal), ids(0..10));
        journal
            .append(&(10..13).map(|n| event(n, 50)).collect::<Vec<_>>())
            .expect("append after the restart");
        assert_eq!(fold_all(&journal), ids(10..13));
    }

    #[test]
    fn a_second_process_cannot_open_the_same_journal() {
        let dir = tempfile::tempdir().expect("dir");
        let _first = InboxJournal::open(dir.path()).expect("open");
        let second = InboxJournal::open(dir.path()).expect_err("held");
        assert!(second.to_string().contains("another process"), "{second}");
    }

    #[test]
    fn a_torn_frame_ends_the_segment_and_what_came_before_it_is_kept() {
        let dir = tempfile::tempdir().expect("dir");
        let segment = {
            let journal = InboxJournal::open(dir.path()).expect("open");
            journal
                .append(&(0..5).map(|n| event(n, 200)).collect::<Vec<_>>())
                .expect("append");
            lock(&journal.writer).segment
        };
        // A crash in the middle of the next group's write: a header and half a body.
        let path = segment_path(dir.path(), segment);
        let bytes = fs::read(&path).expect("segment");
        let end = Frames::new(&bytes, segment).last().expect("frames").1;
        let file = OpenOptions::new().write(true).open(&path).expect("open");
        let mut torn = Vec::new();
        torn.extend_from_slice(&MAGIC.to_le_bytes());
        torn.extend_from_slice(&1000u32.to_le_bytes());
        torn.extend_from_slice(&0u32.to_le_bytes());
        torn.extend_from_slice(&[7u8; 500]);
        write_at(&file, &torn, end).expect("tear");
        drop(file);

        let journal = InboxJournal::open(dir.path()).expect("reopen");
        assert_eq!(fold_all(&journal), ids(0..5));
    }

    #[test]
    fn a_frame_is_valid_only_in_its_own_segment_and_place() {
        let mut bytes = vec![0; HEADER];
        encode(&event(1, 10), &mut bytes);
        let crc = checksum(4, 0, &bytes[HEADER..]);
        let len = (bytes.len() - HEADER) as u32;
        bytes[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        bytes[4..8].copy_from_slice(&len.to_le_bytes());
        bytes[8..12].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(Frames::new(&bytes, 4).count(), 1);
        assert_eq!(Frames::new(&bytes, 5).count(), 0, "another segment");
        assert_eq!(
            Frames::starting_at(&bytes, 4, 64).count(),
            0,
            "another offset"
        );
    }

    #[test]
    fn a_full_segment_rolls_over_and_folded_segments_are_removed() {
        let dir = tempfile::tempdir().expect("dir");
        let journal = InboxJournal::open(dir.path()).expect("open");
        // 3 events of ~1.5 MiB per group: a segment holds about 21.
        let big = 1_500_000;
        let mut appended = 0;
        while lock(&journal.writer).segment < 3 {
            let group: Vec<NewEvent> = (appended..appended + 3).map(|n| event(n, big)).collect();
            journal.append(&group).expect("append");
            appended += 3;
        }
        assert_eq!(existing_segments(dir.path()).expect("list").len(), 3);
        assert_eq!(fold_all(&journal), ids(0..appended));
        assert_eq!(
            existing_segments(dir.path()).expect("list"),
            vec![3],
            "only the segment being written is left"
        );
    }
}
