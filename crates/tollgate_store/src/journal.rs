//! The SQLite inbox journal: verified webhook events appended to preallocated segment files
//! and synced before their 2xx (invariant 4), then folded into `stripe_events` by the first
//! reader of the inbox. It keeps an event's B-tree inserts (the table, the id index, the list
//! and claim indexes, each a page write in SQLite's WAL) off the acknowledgement path: what a
//! delivery waits for is one sequential write and one `fdatasync` per group of deliveries.
//!
//! Only a `tollgate serve` on a SQLite file uses it (PostgreSQL is shared by several instances
//! and keeps rows only). The layout, in the directory `<database file>-inbox/`:
//! - `lock`: held (`flock`) by the one process that owns the journal;
//! - `<seq>.seg`: segments, each made at its full size (`SEGMENT_BYTES`) and written through
//!   with zeros, so that a group's sync writes data blocks only: no new file size (appending
//!   to a growing file cost 2.5× the CPU per sync) and no block allocation (writing into a
//!   sparse file's holes cost a fifth more; docs/benchmarks.md);
//! - `spare`: the last segment that was folded (or that a stop left empty), kept to become the
//!   next segment, so that a serving process that folds as it goes, or restarts, writes no new
//!   segment at all.
//!
//! Each group of frames is written at a block boundary (`BLOCK`) and padded with zeros to a
//! whole block. On Linux the writes bypass the page cache (`O_DIRECT`), which halves the CPU
//! of a group's write and sync; elsewhere, or on a file system without direct I/O, they go
//! through it.
//!
//! A frame is `magic, length, crc32(seq, offset, body), body`. The checksum binds a frame to
//! its segment and place, so a frame torn by a crash, the zeros after the last frame, or what
//! a recycled segment held before, end the segment when it is read back; the zeros that pad a
//! group are skipped to the next block.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use time::OffsetDateTime;
use tollgate_core::inbox::{EventStatus, NewEvent};
use tollgate_core::stripe::StripeEventId;

use crate::id_filter::{IdFilter, MIN_CAPACITY};

/// A segment's size: about 10 000 webhook events of 3 kB. Larger ones cost more to read back
/// after a crash; smaller ones are rolled over (a file made, synced and named) more often.
pub const SEGMENT_BYTES: u64 = 32 * 1024 * 1024;
const MAGIC: u32 = 0x314A_4754; // "TGJ1", little-endian
const HEADER: usize = 12;
/// Events of at most 1 MiB are accepted; a frame is never larger than a segment.
const MAX_BODY: usize = 4 * 1024 * 1024;
/// How much of a segment one fold reads at a time.
const READ_BYTES: u64 = 2 * 1024 * 1024;
/// The unit of a write: every group starts at a multiple of it and is padded to one. 4 KiB is
/// the largest logical block size of common disks, which direct I/O must be aligned to.
const BLOCK: usize = 4096;
/// How much of a new segment's zeros are written at a time.
const FILL_BYTES: usize = 1024 * 1024;
/// The recycled segment's name: not `<seq>.seg`, so it is never read as one.
const SPARE: &str = "spare";

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
    /// Whether segments are opened for direct I/O; cleared for good when the file system
    /// refuses a direct write.
    direct: std::sync::atomic::AtomicBool,
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
    /// Where the next group goes: always a multiple of `BLOCK`.
    offset: u64,
    buffer: Blocks,
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
    /// Ids that are rows: those folded by this process and those read from the table when
    /// the journal was put in front of it.
    stored: IdFilter,
}

/// What the journal knows of an event id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Known {
    /// Synced to the journal, not folded yet: a duplicate.
    Pending,
    /// Probably a row: only the table can tell.
    MaybeStored,
    /// Neither: a new event.
    New,
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
                // Made and never written, typically the one a clean stop left: the next one.
                retire(dir, &path)?;
            } else {
                ends.insert(segment, end);
            }
        }
        let current = ends.keys().next_back().map_or(1, |last| last + 1);
        let folded = Position {
            segment: ends.keys().next().copied().unwrap_or(current),
            offset: 0,
        };
        let direct = cfg!(target_os = "linux");
        let file = create_segment(dir, current, direct)?;
        ends.insert(current, 0);
        Ok(Self {
            dir: dir.to_path_buf(),
            _lock: lock,
            writer: Mutex::new(Writer {
                file,
                segment: current,
                offset: 0,
                buffer: Blocks::with_capacity(256 * 1024),
            }),
            shared: Mutex::new(Shared {
                ends,
                current,
                folded,
                pending,
                stored: IdFilter::with_capacity(MIN_CAPACITY),
            }),
            direct: std::sync::atomic::AtomicBool::new(direct),
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

    /// Pending, probably a row, or new. One lock for both questions: a fold moves an id from
    /// pending to stored under it, so the id is never seen in neither.
    pub fn classify(&self, id: &str) -> Known {
        let shared = lock(&self.shared);
        if shared.pending.contains(id) {
            Known::Pending
        } else if shared.stored.may_contain(id) {
            Known::MaybeStored
        } else {
            Known::New
        }
    }

    /// Sizes the filter of stored ids for `rows` ids before they are remembered.
    pub fn expect_stored(&self, rows: usize) {
        lock(&self.shared).stored = IdFilter::with_capacity(rows.saturating_mul(2));
    }

    /// Remembers ids that are rows already (read from the table when the journal opens).
    pub fn remember_stored<'a>(&self, ids: impl IntoIterator<Item = &'a str>) {
        let mut shared = lock(&self.shared);
        for id in ids {
            shared.stored.insert(id);
        }
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
        if let Err(error) = &result {
            if error.kind() == io::ErrorKind::InvalidInput {
                // A file system that opens files for direct I/O but refuses aligned direct
                // writes: this group is answered 503 and retried, the next ones go through
                // the page cache.
                self.direct
                    .store(false, std::sync::atomic::Ordering::Relaxed);
            }
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
            let body_len = encoded_len(event);
            if body_len > MAX_BODY {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("an event of {body_len} bytes is too large for the journal"),
                ));
            }
            let frame_len = HEADER + body_len;
            let padded = (writer.buffer.len() + frame_len).next_multiple_of(BLOCK);
            if writer.offset + padded as u64 > SEGMENT_BYTES {
                flush(writer)?;
                self.roll(writer)?;
            }
            let offset = writer.offset + writer.buffer.len() as u64;
            let segment = writer.segment;
            let frame = writer.buffer.extend(frame_len);
            let (header, body) = frame.split_at_mut(HEADER);
            encode(event, body);
            let crc = checksum(segment, offset, body);
            let len = u32::try_from(body_len).expect("BUG: a journal frame over 4 GiB");
            header[0..4].copy_from_slice(&MAGIC.to_le_bytes());
            header[4..8].copy_from_slice(&len.to_le_bytes());
            header[8..12].copy_from_slice(&crc.to_le_bytes());
        }
        flush(writer)
    }

    /// Seals the current segment and continues in the next one.
    fn roll(&self, writer: &mut Writer) -> io::Result<()> {
        let next = writer.segment + 1;
        let direct = self.direct.load(std::sync::atomic::Ordering::Relaxed);
        let file = create_segment(&self.dir, next, direct)?;
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
                let mut frames = Frames::starting_at(&bytes, from.segment, from.offset);
                for (body, _) in frames.by_ref() {
                    events.push(decode(body)?);
                    if events.len() == max_events {
                        break;
                    }
                }
                let upto = Position {
                    segment: from.segment,
                    offset: frames.resume(),
                };
                if upto != from {
                    return Ok(Some(Unfolded { events, upto }));
                }
                // Nothing here: the zeros that pad the last group to its block, or damage.
                if from.offset.next_multiple_of(BLOCK as u64) < end {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "the inbox journal's segment {} does not read back at offset {}",
                            from.segment, from.offset
                        ),
                    ));
                }
                self.folded(
                    Position {
                        segment: from.segment,
                        offset: end,
                    },
                    &[],
                );
                continue;
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
                shared.stored.insert(id);
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
        // The newest folded segment becomes the spare (replacing an older one), the others go.
        // Not synced: a rename or removal lost in a crash only leaves a segment to be folded
        // again, which inserts nothing twice.
        for (n, segment) in done.iter().rev().enumerate() {
            let path = segment_path(&self.dir, *segment);
            let outcome = if n == 0 {
                retire(&self.dir, &path)
            } else {
                fs::remove_file(&path)
            };
            if let Err(e) = outcome {
                tracing::warn!(error = %e, segment, "cannot recycle or remove a folded inbox journal segment");
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

/// Writes the group, padded to whole blocks, and syncs it.
fn flush(writer: &mut Writer) -> io::Result<()> {
    if writer.buffer.is_empty() {
        return Ok(());
    }
    let blocks = writer.buffer.padded();
    write_at(&writer.file, blocks, writer.offset)?;
    writer.file.sync_data()?;
    writer.offset += blocks.len() as u64;
    writer.buffer.clear();
    Ok(())
}

/// The bytes from `from` on, up to `end` or `READ_BYTES` (and at least one whole frame).
fn read_frames(path: &Path, from: u64, end: u64) -> io::Result<Vec<u8>> {
    let file = File::open(path)?;
    let mut len = (end - from).min(READ_BYTES);
    // The first frame is at `from`, or at the next block when `from` is in a group's padding.
    for at in [from, from.next_multiple_of(BLOCK as u64)] {
        if at + HEADER as u64 > end {
            break;
        }
        let mut header = [0u8; HEADER];
        read_at(&file, &mut header, at)?;
        if header[0..4] == MAGIC.to_le_bytes() {
            let body = u64::from(u32::from_le_bytes([
                header[4], header[5], header[6], header[7],
            ]));
            len = len.max((at - from + HEADER as u64 + body).min(end - from));
            break;
        }
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

/// Keeps a segment that is no longer needed as the spare (replacing an older spare) when it
/// has the full size, and removes it otherwise.
fn retire(dir: &Path, path: &Path) -> io::Result<()> {
    if fs::metadata(path)?.len() == SEGMENT_BYTES {
        fs::rename(path, dir.join(SPARE))
    } else {
        fs::remove_file(path)
    }
}

/// Makes segment `seq`, durable with its name: the spare renamed when there is one of the
/// right size (what it held does not read back: its frames' checksums name another segment),
/// else a new file written through with zeros.
fn create_segment(dir: &Path, segment: u64, direct: bool) -> io::Result<File> {
    let path = segment_path(dir, segment);
    let spare = dir.join(SPARE);
    match fs::metadata(&spare) {
        Ok(meta) if meta.len() == SEGMENT_BYTES => {
            fs::rename(&spare, &path)?;
            sync_dir(dir)?;
            return open_segment(&path, direct, false);
        }
        Ok(_) => fs::remove_file(&spare)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let file = open_segment(&path, direct, true)?;
    let mut zeros = Blocks::with_capacity(FILL_BYTES);
    zeros.extend(FILL_BYTES);
    let mut offset = 0;
    while offset < SEGMENT_BYTES {
        write_at(&file, zeros.padded(), offset)?;
        offset += FILL_BYTES as u64;
    }
    file.sync_all()?;
    sync_dir(dir)?;
    Ok(file)
}

/// Opens a segment for writing, for direct I/O when asked and the file system allows it.
fn open_segment(path: &Path, direct: bool, create: bool) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create_new(create);
    #[cfg(target_os = "linux")]
    if direct {
        use std::os::unix::fs::OpenOptionsExt;
        let mut direct_options = options.clone();
        match direct_options.custom_flags(libc::O_DIRECT).open(path) {
            // tmpfs, for one, refuses the flag.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {}
            outcome => return outcome,
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = direct;
    options.open(path)
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

impl<'a> Frames<'a> {
    /// Whether the bytes at `at` are the zeros that pad a group to its last block: not the
    /// start of a frame (one torn by a crash, or cut short by the read) and not at a boundary.
    fn is_padding(&self, at: usize) -> bool {
        let offset = self.base + at as u64;
        !offset.is_multiple_of(BLOCK as u64)
            && self
                .bytes
                .get(at..at + 4)
                .is_some_and(|word| word != MAGIC.to_le_bytes())
    }

    /// Where the next read starts after the frames taken so far: past the padding that
    /// follows them when the bytes show it, so that a fold that took a whole group leaves
    /// nothing behind it.
    fn resume(&self) -> u64 {
        let offset = self.base + self.at as u64;
        if self.is_padding(self.at) {
            offset.next_multiple_of(BLOCK as u64)
        } else {
            offset
        }
    }

    /// The body of the valid frame at `at`, if there is one.
    fn frame_at(&self, at: usize) -> Option<&'a [u8]> {
        let rest = self.bytes.get(at..)?;
        let word = |i: usize| -> Option<u32> {
            Some(u32::from_le_bytes(rest.get(i..i + 4)?.try_into().ok()?))
        };
        if word(0)? != MAGIC {
            return None;
        }
        let len = word(4)? as usize;
        let body = rest.get(HEADER..HEADER.checked_add(len)?)?;
        let offset = self.base + at as u64;
        (word(8)? == checksum(self.segment, offset, body)).then_some(body)
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = (&'a [u8], u64);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(body) = self.frame_at(self.at) {
                self.at += HEADER + body.len();
                return Some((body, self.base + self.at as u64));
            }
            // Groups start at block boundaries, so after a group's padding the next one starts
            // at the next block. Anything else that is not a frame is the end.
            if !self.is_padding(self.at) {
                return None;
            }
            let next_block = (self.base + self.at as u64).next_multiple_of(BLOCK as u64);
            self.at = usize::try_from(next_block - self.base).ok()?;
        }
    }
}

// --- an event's bytes ------------------------------------------------------------------------

/// The strings of an event's body, in their order.
fn strings(event: &NewEvent) -> [Option<&str>; 5] {
    [
        Some(event.id.as_str()),
        Some(&event.event_type),
        event.account.as_deref(),
        event.api_version.as_deref(),
        Some(&event.payload),
    ]
}

/// The size of `encode`'s output, so that a frame is encoded in place in the group's buffer.
fn encoded_len(event: &NewEvent) -> usize {
    let strings: usize = strings(event)
        .iter()
        .map(|text| 4 + text.map_or(0, str::len))
        .sum();
    1 + 1 + 8 + 8 + strings
}

/// Writes the event into `out`, which is exactly `encoded_len(event)` bytes.
fn encode(event: &NewEvent, out: &mut [u8]) {
    let mut out = Writing { out, at: 0 };
    out.put(&[match event.status {
        EventStatus::Received => 0,
        EventStatus::Ignored => 1,
        EventStatus::Processed => 2,
        EventStatus::Failed => 3,
    }]);
    out.put(&[u8::from(event.livemode)]);
    out.put(&event.created.to_le_bytes());
    let received = i64::try_from(event.received_at.unix_timestamp_nanos()).unwrap_or(i64::MAX);
    out.put(&received.to_le_bytes());
    for text in strings(event) {
        match text {
            Some(text) => {
                let len = u32::try_from(text.len()).expect("BUG: a journal string over 4 GiB");
                out.put(&len.to_le_bytes());
                out.put(text.as_bytes());
            }
            None => out.put(&u32::MAX.to_le_bytes()),
        }
    }
    debug_assert_eq!(out.at, out.out.len(), "encoded_len disagrees with encode");
}

struct Writing<'a> {
    out: &'a mut [u8],
    at: usize,
}

impl Writing<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.out[self.at..self.at + bytes.len()].copy_from_slice(bytes);
        self.at += bytes.len();
    }
}

/// A buffer whose bytes start at a `BLOCK`-aligned address, as direct I/O requires; kept
/// across groups. Safe code cannot ask the allocator for an alignment, so it allocates a block
/// more than it needs and starts at its first aligned byte.
struct Blocks {
    raw: Vec<u8>,
    start: usize,
    len: usize,
}

impl Blocks {
    /// Room for at least `bytes`, in whole blocks.
    fn with_capacity(bytes: usize) -> Self {
        let raw = vec![0; bytes.next_multiple_of(BLOCK) + BLOCK];
        // `align_offset` may decline to answer; unaligned bytes then make a direct write fail,
        // and the journal goes on through the page cache.
        let start = raw.as_ptr().align_offset(BLOCK);
        let start = if start < BLOCK { start } else { 0 };
        Self { raw, start, len: 0 }
    }

    /// Whole blocks available from `start`.
    fn capacity(&self) -> usize {
        (self.raw.len() - self.start) / BLOCK * BLOCK
    }

    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn clear(&mut self) {
        self.len = 0;
    }

    /// The next `n` bytes, to be filled by the caller; grows (copying what is there) when the
    /// padded contents would not fit.
    fn extend(&mut self, n: usize) -> &mut [u8] {
        let end = self.len + n;
        if end.next_multiple_of(BLOCK) > self.capacity() {
            let mut grown = Self::with_capacity(end.max(2 * self.capacity()));
            grown.raw[grown.start..grown.start + self.len]
                .copy_from_slice(&self.raw[self.start..self.start + self.len]);
            grown.len = self.len;
            *self = grown;
        }
        let bytes = &mut self.raw[self.start + self.len..self.start + end];
        self.len = end;
        bytes
    }

    /// The contents followed by zeros up to a whole block.
    fn padded(&mut self) -> &[u8] {
        let end = self.len.next_multiple_of(BLOCK);
        self.raw[self.start + self.len..self.start + end].fill(0);
        &self.raw[self.start..self.start + end]
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
        assert_eq!(journal.classify("evt_00000003"), Known::Pending);
        let unfolded = journal.unfolded(100).expect("read").expect("some");
        assert_eq!(unfolded.events.len(), 20);
        for (read, written) in unfolded.events.iter().zip(&events) {
            assert_eq!(format!("{read:?}"), format!("{written:?}"));
        }
        let these: Vec<&str> = unfolded.events.iter().map(|e| e.id.as_str()).collect();
        journal.folded(unfolded.upto, &these);
        assert!(!journal.has_unfolded());
        assert_eq!(
            journal.classify("evt_00000003"),
            Known::MaybeStored,
            "folded: a row"
        );
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
        assert_eq!(journal.classify("evt_00000009"), Known::Pending);
        // Everything still in a segment is folded again: inserting is idempotent by id.
        assert_eq!(fold_all(&journal), ids(0..10));
        journal
            .append(&(10..13).map(|n| event(n, 50)).collect::<Vec<_>>())
            .expect("append after the restart");
        assert_eq!(fold_all(&journal), ids(10..13));
    }

    #[test]
    fn the_empty_segment_a_stop_leaves_becomes_the_next_one() {
        let dir = tempfile::tempdir().expect("dir");
        drop(InboxJournal::open(dir.path()).expect("open"));
        assert_eq!(existing_segments(dir.path()).expect("list"), vec![1]);
        // A mark in the file's last bytes (no frame) tells the same file from a new one.
        let path = segment_path(dir.path(), 1);
        let file = OpenOptions::new().write(true).open(&path).expect("open");
        write_at(&file, b"mark", SEGMENT_BYTES - 4).expect("mark");
        drop(file);
        let journal = InboxJournal::open(dir.path()).expect("reopen");
        assert_eq!(
            lock(&journal.writer).segment,
            1,
            "numbered from the start again"
        );
        assert_eq!(existing_segments(dir.path()).expect("list"), vec![1]);
        assert!(!dir.path().join(SPARE).exists(), "the spare was taken");
        let bytes = fs::read(&path).expect("segment");
        assert_eq!(
            &bytes[bytes.len() - 4..],
            b"mark",
            "the empty segment was kept and taken back, not written anew"
        );
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
        let written = event(1, 10);
        let mut bytes = vec![0; HEADER + encoded_len(&written)];
        encode(&written, &mut bytes[HEADER..]);
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
    fn each_group_starts_at_a_block_and_reads_back_across_the_padding() {
        let dir = tempfile::tempdir().expect("dir");
        let journal = InboxJournal::open(dir.path()).expect("open");
        let groups: Vec<Vec<NewEvent>> = (0..4)
            .map(|g| {
                (g * 3..g * 3 + 3)
                    .map(|n| event(n, 700 + 300 * n))
                    .collect()
            })
            .collect();
        let mut starts = Vec::new();
        for group in &groups {
            starts.push(lock(&journal.writer).offset);
            journal.append(group).expect("append");
        }
        assert!(
            starts.iter().all(|s| s % BLOCK as u64 == 0) && starts.windows(2).all(|w| w[0] < w[1]),
            "{starts:?}"
        );
        // Folds of exactly one group each: every read after the first starts in the padding.
        for group in &groups {
            let unfolded = journal.unfolded(3).expect("read").expect("a group");
            let these: Vec<&str> = unfolded.events.iter().map(|e| e.id.as_str()).collect();
            let expected: Vec<&str> = group.iter().map(|e| e.id.as_str()).collect();
            assert_eq!(these, expected);
            journal.folded(unfolded.upto, &these);
        }
        // What is left is the last group's padding: nothing to read, nothing unfolded.
        assert!(journal.unfolded(3).expect("read").is_none());
        assert!(!journal.has_unfolded());
    }

    #[cfg(unix)]
    #[test]
    fn a_new_segment_is_written_through_so_that_a_sync_allocates_nothing() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().expect("dir");
        let journal = InboxJournal::open(dir.path()).expect("open");
        let segment = lock(&journal.writer).segment;
        let meta = fs::metadata(segment_path(dir.path(), segment)).expect("segment");
        assert_eq!(meta.len(), SEGMENT_BYTES);
        assert!(
            meta.blocks() * 512 >= SEGMENT_BYTES,
            "{} of {SEGMENT_BYTES} bytes allocated: the segment is sparse",
            meta.blocks() * 512
        );
    }

    #[test]
    fn a_folded_segment_is_recycled_and_what_it_held_never_reads_back() {
        let dir = tempfile::tempdir().expect("dir");
        let big = 1_500_000;
        let mut appended = 0;
        let folded_before;
        {
            let journal = InboxJournal::open(dir.path()).expect("open");
            while lock(&journal.writer).segment < 2 {
                journal.append(&[event(appended, big)]).expect("append");
                appended += 1;
            }
            assert_eq!(fold_all(&journal), ids(0..appended));
            assert!(dir.path().join(SPARE).exists(), "segment 1 is the spare");
            folded_before = appended;
            // On into segment 3, which is segment 1's file: its old frames name segment 1.
            while lock(&journal.writer).segment < 3 {
                journal.append(&[event(appended, big)]).expect("append");
                appended += 1;
            }
            assert!(
                !dir.path().join(SPARE).exists(),
                "the spare became segment 3"
            );
            journal.append(&[event(appended, 10)]).expect("append");
            appended += 1;
        }
        // After a restart segments 2 and 3 are read back whole (from the event that rolled
        // into segment 2, folded already: folding again inserts nothing twice), in order, and
        // none of the frames segment 1 held before it was recycled.
        let journal = InboxJournal::open(dir.path()).expect("reopen");
        assert_eq!(fold_all(&journal), ids(folded_before - 1..appended));
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
        assert!(
            dir.path().join(SPARE).exists(),
            "the newest folded one is kept as the spare"
        );
    }
}
