//! Capture files: the tee that writes every frame in and out, and the reader replay uses.
//!
//! The reader takes every link type in [`link::LinkType`]: Ethernet (with an FCS when the
//! pcap link-type field or the pcapng interface says so: it is stripped, and kept in
//! [`Record::fcs`] to be checked), Linux cooked v1 and v2, raw IP, IPv4, IPv6, NULL and LOOP;
//! a pcapng file may mix them, one per interface, and each record carries its own.
//!
//! pcapng marks each frame's direction (EPB flags, inbound/outbound) and carries nanosecond
//! timestamps; classic pcap has neither direction nor names but opens everywhere.
//! Writes are buffered; [`CaptureWriter::flush`] (called periodically by the runtime, and on exit,
//! Ctrl-C and SIGTERM) makes the file complete up to that point. [`Captured`] wraps any
//! [`Device`] and writes what the stack receives and sends.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;

use core::fmt;
use core::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader};
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::{Block, PcapNgReader, PcapNgWriter};
use pcap_file::{DataLink, Endianness, TsResolution};

use crossbeam_channel::Receiver;
use tracing::warn;

use super::{Capabilities, Device, Direction, FrameInfo, Medium, Wait};
use crate::time::Instant;

pub use super::link;

pub use link::LinkType;

/// File format of a capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Classic libpcap.
    Pcap,
    /// pcapng.
    PcapNg,
}

impl Format {
    /// pcapng for a `.pcapng` file name, pcap otherwise.
    pub fn from_path(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("pcapng") => Format::PcapNg,
            _ => Format::Pcap,
        }
    }
}

/// A capture file error.
#[derive(Debug)]
pub enum CaptureError {
    /// The file could not be opened, read or written.
    Io(io::Error),
    /// Not a pcap or pcapng file (the first bytes are shown).
    NotACapture([u8; 4]),
    /// The capture's link type is not one [`LinkType`] has (its name and number).
    UnsupportedLinkType(String),
    /// The file is damaged at or after the given record.
    Damaged {
        /// Records read successfully before the damage.
        records: u64,
        /// What the parser said.
        detail: String,
    },
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaptureError::Io(e) => write!(f, "{e}"),
            CaptureError::NotACapture(m) => {
                write!(f, "not a pcap or pcapng file (starts with {m:02x?})")
            }
            CaptureError::UnsupportedLinkType(l) => {
                write!(
                    f,
                    "link type {l} is not supported (only ETHERNET, LINUX_SLL, LINUX_SLL2, RAW, \
                     IPV4, IPV6, NULL and LOOP)"
                )
            }
            CaptureError::Damaged { records, detail } => {
                write!(f, "capture damaged after record {records}: {detail}")
            }
        }
    }
}

impl std::error::Error for CaptureError {}

impl From<io::Error> for CaptureError {
    fn from(e: io::Error) -> Self {
        CaptureError::Io(e)
    }
}

fn pcap_error(e: pcap_file::PcapError) -> CaptureError {
    match e {
        pcap_file::PcapError::IoError(e) => CaptureError::Io(e),
        other => CaptureError::Io(io::Error::other(other.to_string())),
    }
}

enum Sink<W: Write> {
    /// pcap-file 2.x's `PcapWriter` cannot flush without giving up its writer, so classic pcap
    /// is written with its header and packet types directly.
    Pcap(W),
    PcapNg(PcapNgWriter<W>),
}

/// Writes frames to a pcap or pcapng stream.
pub struct CaptureWriter<W: Write = BufWriter<File>> {
    sink: Sink<W>,
    frames: u64,
    per_batch: bool,
}

impl fmt::Debug for CaptureWriter<BufWriter<File>> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaptureWriter")
            .field("frames", &self.frames)
            .finish()
    }
}

impl CaptureWriter<BufWriter<File>> {
    /// Creates (truncates) `path`; the format follows the extension.
    ///
    /// # Errors
    /// [`CaptureError::Io`] when the file cannot be created.
    pub fn create(path: &Path, interface: &str) -> Result<Self, CaptureError> {
        CaptureWriter::create_for(path, interface, Medium::Ethernet)
    }

    /// Like [`CaptureWriter::create`], for frames of `medium`: Ethernet (link type 1) or bare
    /// IP packets (link type RAW, 101, what tcpdump writes for a TUN device).
    ///
    /// # Errors
    /// [`CaptureError::Io`] when the file cannot be created.
    pub fn create_for(path: &Path, interface: &str, medium: Medium) -> Result<Self, CaptureError> {
        let file = File::create(path)?;
        CaptureWriter::new_for(
            BufWriter::with_capacity(256 * 1024, file),
            Format::from_path(path),
            interface,
            medium,
        )
    }
}

impl<W: Write> CaptureWriter<W> {
    /// Starts a capture on `out`, naming the interface (pcapng only).
    ///
    /// # Errors
    /// [`CaptureError::Io`] when the header cannot be written.
    pub fn new(out: W, format: Format, interface: &str) -> Result<Self, CaptureError> {
        CaptureWriter::new_for(out, format, interface, Medium::Ethernet)
    }

    /// Like [`CaptureWriter::new`], for frames of `medium` (Ethernet, or RAW for bare IP).
    ///
    /// # Errors
    /// [`CaptureError::Io`] when the header cannot be written.
    pub fn new_for(
        out: W,
        format: Format,
        interface: &str,
        medium: Medium,
    ) -> Result<Self, CaptureError> {
        let link = match medium {
            Medium::Ethernet => DataLink::ETHERNET,
            Medium::Ip => DataLink::RAW,
        };
        let sink = match format {
            Format::Pcap => {
                let header = PcapHeader {
                    snaplen: 65_535,
                    datalink: link,
                    ts_resolution: TsResolution::NanoSecond,
                    endianness: Endianness::Little,
                    ..Default::default()
                };
                let mut out = out;
                header.write_to(&mut out).map_err(pcap_error)?;
                Sink::Pcap(out)
            }
            Format::PcapNg => {
                let mut w =
                    PcapNgWriter::with_endianness(out, Endianness::Little).map_err(pcap_error)?;
                let idb = InterfaceDescriptionBlock {
                    linktype: link,
                    snaplen: 0,
                    options: vec![
                        InterfaceDescriptionOption::IfName(Cow::Owned(interface.to_owned())),
                        // pcap-file writes nanoseconds; say so (the pcapng default is microseconds).
                        InterfaceDescriptionOption::IfTsResol(9),
                    ],
                };
                w.write_block(&Block::InterfaceDescription(idb))
                    .map_err(pcap_error)?;
                Sink::PcapNg(w)
            }
        };
        Ok(CaptureWriter {
            sink,
            frames: 0,
            per_batch: false,
        })
    }

    /// The same writer, flushed by [`Captured`] after every batch of frames instead of
    /// periodically: for a reader at the other end of a pipe (a live view in Wireshark).
    #[must_use]
    pub fn flushed_per_batch(mut self) -> Self {
        self.per_batch = true;
        self
    }

    /// Appends one frame with its timestamp and direction.
    ///
    /// # Errors
    /// [`CaptureError::Io`] when writing fails.
    pub fn write(
        &mut self,
        timestamp: Duration,
        direction: Direction,
        frame: &[u8],
    ) -> Result<(), CaptureError> {
        let len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        match &mut self.sink {
            Sink::Pcap(w) => {
                PcapPacket::new(timestamp, len, frame)
                    .write_to::<_, byteorder_slice::LittleEndian>(
                        w,
                        TsResolution::NanoSecond,
                        65_535,
                    )
                    .map_err(pcap_error)?;
            }
            Sink::PcapNg(w) => {
                // pcapng EPB flags, bits 0-1: 01 inbound, 10 outbound.
                let flags = match direction {
                    Direction::In => 0b01,
                    Direction::Out => 0b10,
                };
                let epb = EnhancedPacketBlock {
                    interface_id: 0,
                    timestamp,
                    original_len: len,
                    data: Cow::Borrowed(frame),
                    options: vec![EnhancedPacketOption::Flags(flags)],
                };
                w.write_block(&Block::EnhancedPacket(epb))
                    .map_err(pcap_error)?;
            }
        }
        self.frames += 1;
        Ok(())
    }

    /// Frames written.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Pushes buffered frames to the underlying writer.
    ///
    /// # Errors
    /// The writer's error.
    pub fn flush(&mut self) -> io::Result<()> {
        match &mut self.sink {
            Sink::Pcap(w) => w.flush(),
            Sink::PcapNg(w) => w.get_mut().flush(),
        }
    }

    /// Flushes and returns the underlying writer.
    ///
    /// # Errors
    /// The writer's error on the final flush.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.flush()?;
        Ok(match self.sink {
            Sink::Pcap(w) => w,
            Sink::PcapNg(w) => w.into_inner(),
        })
    }
}

/// A device whose every frame in and out is written to a capture (or to nothing, when made
/// with no writer). Frames are stamped with the stack's own clock: the wall-clock time of its
/// origin plus `now`, so that a replay can give the stack exactly the times it saw live. A
/// failed write stops the capture (logged, and kept in [`Captured::error`]); the stack goes on.
#[derive(Debug)]
pub struct Captured<D> {
    inner: D,
    tee: Tee,
}

/// The writing half of [`Captured`].
#[derive(Debug)]
struct Tee {
    writer: Option<CaptureWriter>,
    error: Option<String>,
    wall_origin: Duration,
}

impl Tee {
    fn write(&mut self, now: Instant, dir: Direction, frame: &[u8]) {
        let Some(c) = &mut self.writer else { return };
        let ts = self.wall_origin + now.since_origin();
        if let Err(e) = c.write(ts, dir, frame) {
            warn!("capture stopped: {e}");
            self.error = Some(e.to_string());
            self.writer = None;
        }
    }

    fn flush(&mut self) {
        if let Some(c) = &mut self.writer {
            if let Err(e) = c.flush() {
                warn!("capture flush failed: {e}");
                self.error = Some(e.to_string());
                self.writer = None;
            }
        }
    }
}

impl<D: Device> Captured<D> {
    /// `inner`, its frames written to `writer` if given, stamped `wall_origin` plus the
    /// stack's time.
    pub fn new(inner: D, writer: Option<CaptureWriter>, wall_origin: Duration) -> Self {
        Captured {
            inner,
            tee: Tee {
                writer,
                error: None,
                wall_origin,
            },
        }
    }

    /// Frames written (zero once writing stopped on an error).
    pub fn frames(&self) -> u64 {
        self.tee.writer.as_ref().map_or(0, CaptureWriter::frames)
    }

    /// Why writing stopped, if it did.
    pub fn error(&self) -> Option<&str> {
        self.tee.error.as_deref()
    }

    /// The wrapped device.
    pub fn inner(&self) -> &D {
        &self.inner
    }
}

impl<D: Device> Device for Captured<D> {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn wait(&mut self, timeout: Duration, stop: &Receiver<()>) -> Wait {
        self.inner.wait(timeout, stop)
    }

    fn receive<F: FnMut(&[u8], FrameInfo, &mut dyn FnMut(&[u8]))>(
        &mut self,
        now: Instant,
        mut frame: F,
    ) -> usize {
        let Captured { inner, tee } = self;
        if tee.writer.is_none() {
            return inner.receive(now, frame);
        }
        inner.receive(now, |f, info, send| {
            tee.write(now, Direction::In, f);
            frame(f, info, &mut |answer| {
                tee.write(now, Direction::Out, answer);
                send(answer);
            });
        })
    }

    fn transmit(&mut self, now: Instant, frame: &[u8]) {
        self.tee.write(now, Direction::Out, frame);
        self.inner.transmit(now, frame);
    }

    fn send(&mut self, now: Instant) {
        self.inner.send(now);
        if self.tee.writer.as_ref().is_some_and(|w| w.per_batch) {
            self.tee.flush();
        }
    }

    fn poll_at(&self) -> Option<Instant> {
        self.inner.poll_at()
    }

    fn transmit_unimpaired(&mut self, now: Instant, frame: &[u8]) {
        self.tee.write(now, Direction::Out, frame);
        self.inner.transmit_unimpaired(now, frame);
    }

    fn send_unimpaired(&mut self, now: Instant) {
        self.inner.send_unimpaired(now);
    }

    fn sync(&mut self) {
        self.tee.flush();
        self.inner.sync();
    }
}

/// One frame read from a capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Capture timestamp (since the Unix epoch, or whatever the capture used).
    pub timestamp: Duration,
    /// The captured bytes.
    pub data: Vec<u8>,
    /// Length on the wire (larger than `data` when the snaplen cut it).
    pub orig_len: u32,
    /// Direction, when the capture records it (pcapng EPB flags).
    pub direction: Option<Direction>,
    /// What `data` starts with.
    pub link: LinkType,
    /// The 4-byte FCS taken off the end of `data` (its bytes read little-endian, as the CRC
    /// goes on the wire), when the capture carried one.
    pub fcs: Option<u32>,
}

impl Record {
    /// An Ethernet frame without FCS.
    pub fn ethernet(timestamp: Duration, data: Vec<u8>, direction: Option<Direction>) -> Self {
        Record {
            timestamp,
            orig_len: u32::try_from(data.len()).unwrap_or(u32::MAX),
            data,
            direction,
            link: LinkType::Ethernet,
            fcs: None,
        }
    }

    /// Whether the FCS taken off the frame matches it (`None`: there was none).
    pub fn fcs_ok(&self) -> Option<bool> {
        self.fcs.map(|f| link::crc32(&self.data) == f)
    }

    /// The frame's link header, read.
    ///
    /// # Errors
    /// [`link::LinkError`] when it is cut short or names no IP.
    pub fn frame(&self) -> Result<link::Frame<'_>, link::LinkError> {
        link::parse(self.link, &self.data)
    }

    /// The direction the capture gives: its own mark (pcapng), else the link's (a cooked
    /// capture's packet type).
    pub fn marked_direction(&self) -> Option<Direction> {
        self.direction
            .or_else(|| self.frame().ok().and_then(|f| f.direction()))
    }

    /// Takes `fcs_len` bytes of FCS off the end, unless the snaplen cut the frame (then the
    /// FCS is not there). A 4-byte FCS is kept in [`Record::fcs`].
    fn strip_fcs(&mut self, fcs_len: u8) {
        let n = usize::from(fcs_len);
        let whole = u32::try_from(self.data.len()).is_ok_and(|l| l >= self.orig_len);
        if n == 0 || !whole || self.data.len() < n {
            return;
        }
        let at = self.data.len() - n;
        if let Some(&[a, b, c, d]) = self.data.get(at..) {
            self.fcs = Some(u32::from_le_bytes([a, b, c, d]));
        }
        self.data.truncate(at);
        self.orig_len = self.orig_len.saturating_sub(u32::from(fcs_len));
    }
}

enum Source<R: Read> {
    /// Classic pcap, read through its header with the snaplen raised (see [`SNAPLEN_FLOOR`]),
    /// with the file's link type and FCS length.
    Pcap(PcapReader<io::Chain<io::Cursor<Vec<u8>>, R>>, LinkType, u8),
    PcapNg(PcapNgReader<R>),
}

/// Reads frames of any [`LinkType`] from a pcap or pcapng stream.
pub struct CaptureReader<R: Read = BufReader<File>> {
    source: Source<R>,
    records: u64,
    failed: bool,
}

impl CaptureReader<BufReader<File>> {
    /// Opens `path`, telling pcap from pcapng by the magic number.
    ///
    /// # Errors
    /// [`CaptureError`] when the file is missing, not a capture, or of a link type not read.
    pub fn open(path: &Path) -> Result<Self, CaptureError> {
        CaptureReader::new(BufReader::new(File::open(path)?))
    }
}

impl<R: BufRead> CaptureReader<R> {
    /// Starts reading from `input`.
    ///
    /// # Errors
    /// [`CaptureError`] when the stream is not a capture or of a link type not read (pcapng:
    /// that comes with the first record of such an interface).
    pub fn new(mut input: R) -> Result<Self, CaptureError> {
        let head = input.fill_buf()?;
        let mut magic = [0u8; 4];
        for (m, b) in magic.iter_mut().zip(head) {
            *m = *b;
        }
        let source = match magic {
            [0x0a, 0x0d, 0x0d, 0x0a] => {
                Source::PcapNg(PcapNgReader::new(input).map_err(|e| damaged(0, e))?)
            }
            [0xa1, 0xb2, 0xc3, 0xd4]
            | [0xd4, 0xc3, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0x3c, 0x4d]
            | [0x4d, 0x3c, 0xb2, 0xa1] => {
                let big = magic[0] == 0xa1;
                let mut head = Vec::with_capacity(24);
                (&mut input).take(24).read_to_end(&mut head)?;
                raise_snaplen(&mut head, big);
                let chained = io::Cursor::new(head).chain(input);
                let r = PcapReader::new(chained).map_err(|e| damaged(0, e))?;
                let field = link::LinkField::from_pcap(u32::from(r.header().datalink));
                let Some(link) = LinkType::from_number(field.link) else {
                    return Err(CaptureError::UnsupportedLinkType(link::describe(
                        field.link,
                    )));
                };
                Source::Pcap(r, link, field.fcs_len)
            }
            other => return Err(CaptureError::NotACapture(other)),
        };
        Ok(CaptureReader {
            source,
            records: 0,
            failed: false,
        })
    }
}

/// The snaplen a classic pcap header is raised to, at least, as it is read: the largest tcpdump
/// writes.
const SNAPLEN_FLOOR: u32 = 262_144;

/// pcap-file 2 refuses a classic pcap record whose length on the wire exceeds the header's
/// snaplen, which is just what a record cut by the snaplen is. Raising the snaplen in the header
/// as it is read lets such records through, to be counted as cut by whoever reads them.
fn raise_snaplen(head: &mut [u8], big_endian: bool) {
    let Some(field) = head.get_mut(16..20) else {
        return;
    };
    let mut b = [0u8; 4];
    b.copy_from_slice(field);
    let snaplen = if big_endian {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    };
    let raised = snaplen.max(SNAPLEN_FLOOR);
    field.copy_from_slice(&if big_endian {
        raised.to_be_bytes()
    } else {
        raised.to_le_bytes()
    });
}

fn damaged(records: u64, e: pcap_file::PcapError) -> CaptureError {
    match e {
        pcap_file::PcapError::IoError(e) if e.kind() != io::ErrorKind::UnexpectedEof => {
            CaptureError::Io(e)
        }
        other => CaptureError::Damaged {
            records,
            detail: other.to_string(),
        },
    }
}

/// Converts what pcap-file 2.x reports (the raw count, as nanoseconds) using the interface's
/// `if_tsresol` (pcapng 4.2; default 10^-6).
fn scale_timestamp(raw: Duration, tsresol: Option<u8>) -> Duration {
    let raw = raw.as_nanos();
    let r = tsresol.unwrap_or(6);
    let nanos = if r & 0x80 == 0 {
        let exp = u32::from(r);
        if exp <= 9 {
            raw.saturating_mul(10u128.pow(9 - exp))
        } else {
            raw / 10u128.saturating_pow(exp - 9)
        }
    } else {
        let exp = u32::from(r & 0x7f).min(127);
        raw.saturating_mul(1_000_000_000) >> exp
    };
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

impl<R: Read> Iterator for CaptureReader<R> {
    type Item = Result<Record, CaptureError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let records = self.records;
        let item = match &mut self.source {
            Source::Pcap(r, link, fcs_len) => match r.next_packet()? {
                Ok(p) => {
                    let mut record = Record {
                        timestamp: p.timestamp,
                        orig_len: p.orig_len,
                        data: p.data.into_owned(),
                        direction: None,
                        link: *link,
                        fcs: None,
                    };
                    record.strip_fcs(*fcs_len);
                    Ok(record)
                }
                Err(e) => Err(damaged(records, e)),
            },
            Source::PcapNg(r) => loop {
                let block = r.next_block()?.map(|b| b.into_owned());
                match block {
                    Ok(Block::EnhancedPacket(epb)) => {
                        let Some(idb) = r.interfaces().get(epb.interface_id as usize) else {
                            break Err(CaptureError::Damaged {
                                records,
                                detail: format!(
                                    "packet names interface {} which is not described",
                                    epb.interface_id
                                ),
                            });
                        };
                        let number = u32::from(idb.linktype);
                        let Some(link) = LinkType::from_number(number) else {
                            break Err(CaptureError::UnsupportedLinkType(link::describe(number)));
                        };
                        let tsresol = idb.options.iter().find_map(|o| match o {
                            InterfaceDescriptionOption::IfTsResol(r) => Some(*r),
                            _ => None,
                        });
                        // pcapng: the EPB flags' bits 5-8 give the FCS length of this packet,
                        // if_fcslen that of every packet on the interface.
                        let per_packet = epb.options.iter().find_map(|o| match o {
                            EnhancedPacketOption::Flags(f) => {
                                Some(((f >> 5) & 0xf) as u8).filter(|n| *n != 0)
                            }
                            _ => None,
                        });
                        let fcs_len = per_packet.or_else(|| {
                            idb.options.iter().find_map(|o| match o {
                                InterfaceDescriptionOption::IfFcsLen(n) => Some(*n),
                                _ => None,
                            })
                        });
                        let direction = epb.options.iter().find_map(|o| match o {
                            EnhancedPacketOption::Flags(f) => match f & 0b11 {
                                0b01 => Some(Direction::In),
                                0b10 => Some(Direction::Out),
                                _ => None,
                            },
                            _ => None,
                        });
                        let mut record = Record {
                            timestamp: scale_timestamp(epb.timestamp, tsresol),
                            orig_len: epb.original_len,
                            data: epb.data.into_owned(),
                            direction,
                            link,
                            fcs: None,
                        };
                        record.strip_fcs(fcs_len.unwrap_or(0));
                        break Ok(record);
                    }
                    Ok(Block::SimplePacket(spb)) => {
                        // A simple packet is on the first interface (pcapng 4.4).
                        let link = r
                            .interfaces()
                            .first()
                            .map(|idb| u32::from(idb.linktype))
                            .map_or(Some(LinkType::Ethernet), LinkType::from_number);
                        let Some(link) = link else {
                            let n = r.interfaces().first().map_or(1, |i| u32::from(i.linktype));
                            break Err(CaptureError::UnsupportedLinkType(link::describe(n)));
                        };
                        break Ok(Record {
                            timestamp: Duration::ZERO,
                            orig_len: spb.original_len,
                            data: spb.data.into_owned(),
                            direction: None,
                            link,
                            fcs: None,
                        });
                    }
                    Ok(_) => continue,
                    Err(e) => break Err(damaged(records, e)),
                }
            },
        };
        match &item {
            Ok(_) => self.records += 1,
            Err(_) => self.failed = true,
        }
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn frames() -> Vec<(Duration, Direction, Vec<u8>)> {
        vec![
            (
                Duration::from_micros(1_000_001),
                Direction::In,
                vec![0xff; 42],
            ),
            (
                Duration::from_nanos(1_000_002_003),
                Direction::Out,
                vec![0x02; 60],
            ),
        ]
    }

    fn write_all(format: Format) -> Vec<u8> {
        let mut w = CaptureWriter::new(Vec::new(), format, "tap0").unwrap();
        for (t, d, f) in frames() {
            w.write(t, d, &f).unwrap();
        }
        assert_eq!(w.frames(), 2);
        w.into_inner().unwrap()
    }

    #[test]
    fn pcapng_round_trip_keeps_direction_and_nanoseconds() {
        let bytes = write_all(Format::PcapNg);
        let got: Vec<Record> = CaptureReader::new(Cursor::new(bytes))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(got.len(), 2);
        for (r, (t, d, f)) in got.iter().zip(frames()) {
            assert_eq!((r.timestamp, r.direction, &r.data), (t, Some(d), &f));
        }
    }

    #[test]
    fn pcap_round_trip() {
        let bytes = write_all(Format::Pcap);
        let got: Vec<Record> = CaptureReader::new(Cursor::new(bytes))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].timestamp, Duration::from_nanos(1_000_002_003));
        assert_eq!(got[0].direction, None);
    }

    #[test]
    fn garbage_empty_and_truncated_inputs_are_errors_not_panics() {
        assert!(matches!(
            CaptureReader::new(Cursor::new(b"hello world".to_vec())),
            Err(CaptureError::NotACapture(_))
        ));
        assert!(matches!(
            CaptureReader::new(Cursor::new(Vec::new())),
            Err(CaptureError::NotACapture(_))
        ));
        for format in [Format::Pcap, Format::PcapNg] {
            let bytes = write_all(format);
            for cut in 0..bytes.len() {
                let Ok(r) = CaptureReader::new(Cursor::new(bytes[..cut].to_vec())) else {
                    continue;
                };
                let items: Vec<_> = r.collect();
                let ok = items.iter().take_while(|i| i.is_ok()).count();
                assert!(ok <= 2);
                assert!(
                    items.iter().skip(ok).count() <= 1,
                    "stops after the first error"
                );
            }
        }
    }

    #[test]
    fn records_cut_by_a_small_snaplen_are_read_as_cut() {
        // Classic pcap, little-endian, microseconds, snaplen 64, Ethernet; one record of 64
        // captured bytes out of 100 on the wire.
        let mut bytes = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        bytes.extend_from_slice(&64u32.to_le_bytes());
        bytes.extend_from_slice(&1u32.to_le_bytes());
        for v in [1u32, 2, 64, 100] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        bytes.extend_from_slice(&[0x5a; 64]);
        let got: Vec<Record> = CaptureReader::new(Cursor::new(bytes))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].data.len(), got[0].orig_len), (64, 100));
        assert_eq!(got[0].timestamp, Duration::from_micros(1_000_002));
    }

    /// A classic pcap (little-endian, microseconds) with link-type field `field` and the
    /// given records.
    fn pcap_with(field: u32, records: &[&[u8]]) -> Vec<u8> {
        let mut b = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        b.extend_from_slice(&65_535u32.to_le_bytes());
        b.extend_from_slice(&field.to_le_bytes());
        for (i, r) in records.iter().enumerate() {
            let len = r.len() as u32;
            for v in [1u32, i as u32, len, len] {
                b.extend_from_slice(&v.to_le_bytes());
            }
            b.extend_from_slice(r);
        }
        b
    }

    #[test]
    fn ethernet_with_fcs_in_the_link_field_is_stripped_and_checked() {
        let frame = vec![0x5a; 60];
        let mut good = frame.clone();
        good.extend_from_slice(&link::crc32(&frame).to_le_bytes());
        let mut bad = good.clone();
        bad[3] ^= 1;
        // F bit set, 2 words of FCS, Ethernet.
        let bytes = pcap_with(0x2400_0001, &[&good, &bad]);
        let got: Vec<Record> = CaptureReader::new(Cursor::new(bytes))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(got[0].data, frame);
        assert_eq!((got[0].orig_len, got[0].link), (60, LinkType::Ethernet));
        assert_eq!(got[0].fcs_ok(), Some(true));
        assert_eq!(got[1].fcs_ok(), Some(false));
        // Without the F bit nothing is taken off.
        let bytes = pcap_with(1, &[&good]);
        let r = CaptureReader::new(Cursor::new(bytes)).unwrap().next();
        let r = r.unwrap().unwrap();
        assert_eq!((r.data.len(), r.fcs_ok()), (64, None));
    }

    #[test]
    fn every_supported_link_type_opens_and_others_are_named() {
        for l in LinkType::ALL {
            let bytes = pcap_with(l.number(), &[&[0x45; 20]]);
            let r = CaptureReader::new(Cursor::new(bytes)).unwrap().next();
            assert_eq!(r.unwrap().unwrap().link, l);
        }
        let Err(e) = CaptureReader::new(Cursor::new(pcap_with(105, &[]))) else {
            panic!("802.11 is not read");
        };
        assert!(e
            .to_string()
            .starts_with("link type IEEE802_11 (105) is not supported"));
    }

    #[test]
    fn timestamp_resolution() {
        let raw = Duration::from_nanos(1500);
        assert_eq!(scale_timestamp(raw, None), Duration::from_micros(1500));
        assert_eq!(scale_timestamp(raw, Some(9)), Duration::from_nanos(1500));
        assert_eq!(scale_timestamp(raw, Some(3)), Duration::from_millis(1500));
        assert_eq!(
            scale_timestamp(Duration::from_nanos(1024), Some(0x8a)),
            Duration::from_secs(1)
        );
    }
}
