//! Replay: the frames of a capture enter the core at their capture timestamps, taken as virtual
//! time, and between two frames the core's timers fire at their own virtual deadlines, so
//! retransmissions, delayed ACKs, ARP retries and timeouts happen as they would live.
//!
//! Pure like the core: [`Driver::push`] takes capture [`Record`]s, and every frame in and out
//! goes to a sink with its timestamp and [`Direction`]; the command line does the file I/O.
//! Time is the capture's own: the first record is at [`Options::first_frame_at`] (zero unless
//! set), nothing reads a clock, and the stack's randomness comes from the seed in its
//! [`Config`]. So the same records, configuration and seed give the same output, byte for byte.
//!
//! Which frames are fed ([`Feed`]): a frame the capture marks inbound (pcapng written by
//! tapstack) is fed, one marked outbound is skipped because the stack produces its own answers
//! again, and an unmarked frame is fed unless it was sent from the stack's own MAC address.
//! Frames cut short by the capture's snaplen are counted and skipped: the stack would see a
//! different frame than the wire carried.
//!
//! Frames that arrive at the same virtual instant are received one after the other and then the
//! host is polled once, as the live runtime does with a burst read from the device.
//!
//! [`compare`] checks an output against an expected one frame by frame, field by field, with
//! fields that may legitimately differ masked ([`Mask`]).

use core::fmt;
use core::str::FromStr;
use core::time::Duration;

use crate::config::{Config, ConfigError};
use crate::decode::{self, Field, Value};
use crate::device::capture::Record;
use crate::device::Direction;
use crate::ethernet::MacAddr;
use crate::host::Host;
use crate::host::Services;
use crate::iface::{Event, Interface};
use crate::services::echo::UdpEcho;
use crate::services::tcp::{Kind, Server, CHARGEN_PORT, DISCARD_PORT, ECHO_PORT};
use crate::time::Instant;

/// A service the replayed host runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    /// UDP echo on port 7 (RFC 862).
    UdpEcho,
    /// TCP echo on port 7 (RFC 862).
    TcpEcho,
    /// TCP discard on port 9 (RFC 863).
    TcpDiscard,
    /// TCP character generator on port 19 (RFC 864).
    TcpChargen,
    /// The authoritative DNS server on port 53, with the default zone (`tapstack.test`).
    Dns,
    /// The HTTP server on port 80, with its defaults.
    Http,
}

impl Service {
    /// The services of `tapstack up`, in the order it starts them.
    pub const STANDARD: &'static [Service] = &[
        Service::UdpEcho,
        Service::TcpEcho,
        Service::TcpDiscard,
        Service::TcpChargen,
        Service::Dns,
        Service::Http,
    ];

    /// The name `tapstack up` prints and the configuration file uses.
    pub const fn name(self) -> &'static str {
        match self {
            Service::UdpEcho => "udp-echo",
            Service::TcpEcho => "tcp-echo",
            Service::TcpDiscard => "tcp-discard",
            Service::TcpChargen => "tcp-chargen",
            Service::Dns => "dns",
            Service::Http => "http",
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A service name that is not one of [`Service::STANDARD`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownService(pub String);

impl fmt::Display for UnknownService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown service '{}' (known: ", self.0)?;
        for (i, s) in Service::STANDARD.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(s.name())?;
        }
        f.write_str(")")
    }
}

impl std::error::Error for UnknownService {}

impl FromStr for Service {
    type Err = UnknownService;
    fn from_str(s: &str) -> Result<Self, UnknownService> {
        Service::STANDARD
            .iter()
            .copied()
            .find(|k| k.name() == s)
            .ok_or_else(|| UnknownService(s.to_owned()))
    }
}

/// Why a host could not be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuildError {
    /// The configuration is inconsistent.
    Config(ConfigError),
    /// A service could not open its port (listed twice, or the socket table is too small).
    Service(Service),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Config(e) => write!(f, "bad configuration: {e}"),
            BuildError::Service(s) => write!(f, "service {s} cannot open its port"),
        }
    }
}

impl std::error::Error for BuildError {}

/// A host with `config` running `services`.
///
/// # Errors
/// [`BuildError`] when the configuration is refused or a service cannot bind its port.
pub fn build_host(config: Config, services: &[Service]) -> Result<Host, BuildError> {
    let iface = Interface::new(config).map_err(BuildError::Config)?;
    let mut host = Host::new(iface);
    for &s in services {
        let failed = BuildError::Service(s);
        let tcp = |kind, port, host: &mut Host| {
            Server::listen(host.iface_mut(), kind, port, 1024).map_err(|_| failed.clone())
        };
        match s {
            Service::UdpEcho => {
                let echo = UdpEcho::bind(host.iface_mut(), crate::services::echo::PORT)
                    .map_err(|_| failed.clone())?;
                host.add_service(Box::new(echo));
            }
            Service::TcpEcho => {
                let server = tcp(Kind::Echo, ECHO_PORT, &mut host)?;
                host.add_service(Box::new(server));
            }
            Service::TcpDiscard => {
                let server = tcp(Kind::Discard, DISCARD_PORT, &mut host)?;
                host.add_service(Box::new(server));
            }
            Service::TcpChargen => {
                let server = tcp(Kind::Chargen, CHARGEN_PORT, &mut host)?;
                host.add_service(Box::new(server));
            }
            Service::Dns => {
                let catalog = Services::default()
                    .catalog(host.iface())
                    .map_err(|_| failed.clone())?;
                let limits = crate::services::dns::Limits::default();
                let server = crate::services::dns::Server::bind(
                    host.iface_mut(),
                    crate::services::dns::PORT,
                    catalog,
                    limits,
                )
                .map_err(|_| failed.clone())?;
                host.add_service(Box::new(server));
            }
            Service::Http => {
                let config = crate::services::http::Config::default();
                let server = crate::services::http::Server::listen(
                    host.iface_mut(),
                    crate::services::http::PORT,
                    config,
                )
                .map_err(|_| failed.clone())?;
                host.add_service(Box::new(server));
            }
        }
    }
    Ok(host)
}

/// Which captured frames are given to the stack.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Feed {
    /// Frames marked inbound are fed and frames marked outbound skipped (the stack sends its own
    /// again); unmarked frames are fed unless their source is the stack's MAC address.
    #[default]
    Auto,
    /// Every frame whose source is not the stack's MAC address, whatever its direction mark: for
    /// captures taken on the peer's side of the link, where "inbound" means the other way.
    NotOurs,
}

impl FromStr for Feed {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Feed::Auto),
            "not-ours" => Ok(Feed::NotOurs),
            other => Err(format!("'{other}' is not a feed rule (auto or not-ours)")),
        }
    }
}

/// How a replay runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Which frames are fed.
    pub feed: Feed,
    /// How long the timers keep running after the capture's last record.
    pub linger: Duration,
    /// The stack's virtual time at the capture's first record (zero by default). A live stack
    /// starts its clock a little before the first frame it captures; replaying with that
    /// difference puts every frame at the instant the live stack saw it, which matters where
    /// the stack reads its clock at fine grain (TCP initial sequence numbers tick every 4 µs).
    pub first_frame_at: Duration,
}

/// What a replay did: frames read, fed, sent, and skipped by reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Records taken from the capture.
    pub records: u64,
    /// Frames given to the stack.
    pub fed: u64,
    /// Frames the stack sent.
    pub sent: u64,
    /// Skipped: marked outbound (sent by the stack when the capture was made).
    pub skipped_outbound: u64,
    /// Skipped: unmarked, or any frame under [`Feed::NotOurs`], from the stack's own MAC address.
    pub skipped_own_mac: u64,
    /// Skipped: cut short by the capture's snaplen.
    pub skipped_truncated: u64,
    /// Records stamped earlier than the record before them; they were fed at the later time.
    pub time_went_back: u64,
    /// Polls run for timers between frames (and after the last).
    pub timer_polls: u64,
    /// Deadlines still due after several polls at one instant; time moved on regardless.
    pub stalled_timers: u64,
    /// Virtual time at the end of the replay (the first record is at
    /// [`Options::first_frame_at`]).
    pub duration: Duration,
    /// The events the stack reported (address ready, conflicts, unreachable neighbours), with
    /// their virtual time; at most [`Report::MAX_EVENTS`].
    pub events: Vec<(Instant, Event)>,
    /// Events not kept because the list was full.
    pub events_dropped: u64,
}

impl Report {
    /// Events kept in [`Report::events`].
    pub const MAX_EVENTS: usize = 256;

    /// Records skipped for any reason.
    pub fn skipped(&self) -> u64 {
        self.skipped_outbound + self.skipped_own_mac + self.skipped_truncated
    }
}

/// Polls allowed at one instant before time moves on (a deadline that stays in the past).
const POLLS_PER_INSTANT: u32 = 64;

/// Output timestamps: capture time of the first record plus virtual time since it, never
/// going backwards.
struct Stamp {
    origin: Duration,
    shift: Duration,
    last: Duration,
    sent: u64,
}

impl Stamp {
    fn at(&mut self, t: Instant) -> Duration {
        let ts = self
            .origin
            .saturating_add(t.since_origin())
            .saturating_sub(self.shift)
            .max(self.last);
        self.last = ts;
        ts
    }
}

/// A replay in progress: push records, then [`Driver::finish`].
#[derive(Debug)]
pub struct Driver {
    host: Host,
    mac: MacAddr,
    options: Options,
    /// Capture timestamp of the first record: virtual time zero.
    origin: Option<Duration>,
    /// Timestamp of the last frame written out (output timestamps never go back).
    last_out: Duration,
    /// The core's time: the last instant given to it.
    now: Instant,
    /// Virtual time of the record before.
    prev: Instant,
    /// Latest virtual time of any record.
    end: Instant,
    /// Frames were received at `now` and the host has not been polled since.
    poll_due: bool,
    report: Report,
}

/// Where replayed frames go: `(timestamp, direction, frame)`.
pub type Sink<'a> = dyn FnMut(Duration, Direction, &[u8]) + 'a;

impl Driver {
    /// A replay through `host`.
    pub fn new(host: Host, options: Options) -> Self {
        Driver {
            mac: host.iface().config().mac,
            host,
            options,
            origin: None,
            last_out: Duration::ZERO,
            now: Instant::ZERO,
            prev: Instant::ZERO,
            end: Instant::ZERO,
            poll_due: false,
            report: Report::default(),
        }
    }

    /// The host being driven (its counters, its sockets).
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// What happened so far.
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// Takes one captured record: runs the timers due before it, then feeds it if it is to be
    /// fed. Every frame in and out goes to `out`.
    pub fn push(&mut self, record: &Record, out: &mut Sink<'_>) {
        self.report.records += 1;
        let origin = *self.origin.get_or_insert(record.timestamp);
        let since = record
            .timestamp
            .saturating_sub(origin)
            .saturating_add(self.options.first_frame_at);
        let raw = Instant::from_micros(u64::try_from(since.as_micros()).unwrap_or(u64::MAX));
        if raw < self.prev {
            self.report.time_went_back += 1;
        }
        self.prev = raw;
        let t = raw.max(self.now);
        self.end = self.end.max(t);
        if record.data.len() < usize::try_from(record.orig_len).unwrap_or(usize::MAX) {
            self.report.skipped_truncated += 1;
            return;
        }
        let own = record.data.get(6..12) == Some(&self.mac.0[..]);
        let feed = match (self.options.feed, record.direction) {
            (Feed::Auto, Some(Direction::In)) => true,
            (Feed::Auto, Some(Direction::Out)) => {
                self.report.skipped_outbound += 1;
                return;
            }
            (Feed::Auto, None) | (Feed::NotOurs, _) => !own,
        };
        if !feed {
            self.report.skipped_own_mac += 1;
            return;
        }
        // A frame at the instant of the one before belongs to the same burst: both are
        // received before the host is polled.
        if !(self.poll_due && t == self.now) {
            self.advance(t, out);
        }
        let mut stamp = self.stamp();
        // The input keeps its own timestamp unless that would go back in the output.
        let in_ts = record.timestamp.max(stamp.last);
        stamp.last = in_ts;
        out(in_ts, Direction::In, &record.data);
        self.host.receive(t, &record.data, &mut |f: &[u8]| {
            let ts = stamp.at(t);
            stamp.sent += 1;
            out(ts, Direction::Out, f);
        });
        self.put_stamp(stamp);
        self.report.fed += 1;
        self.poll_due = true;
        self.now = t;
    }

    /// Runs the timers up to the capture's last record plus [`Options::linger`], stops the
    /// host cleanly there (as Ctrl-C stops a live one: a leased address is released), and
    /// returns what the replay did.
    pub fn finish(&mut self, out: &mut Sink<'_>) -> Report {
        if self.origin.is_some() {
            let end = self.end + self.options.linger;
            self.advance(end, out);
            let mut stamp = self.stamp();
            self.host.shutdown(end, &mut |f: &[u8]| {
                let ts = stamp.at(end);
                stamp.sent += 1;
                out(ts, Direction::Out, f);
            });
            self.put_stamp(stamp);
            self.report.duration = end.since_origin();
        }
        self.report.clone()
    }

    fn stamp(&self) -> Stamp {
        Stamp {
            origin: self.origin.unwrap_or_default(),
            shift: self.options.first_frame_at,
            last: self.last_out,
            sent: 0,
        }
    }

    fn put_stamp(&mut self, stamp: Stamp) {
        self.last_out = stamp.last;
        self.report.sent += stamp.sent;
    }

    /// Polls for frames received at `now`, then fires every deadline up to `t`, in order, each
    /// at its own instant.
    fn advance(&mut self, t: Instant, out: &mut Sink<'_>) {
        let mut stamp = self.stamp();
        let mut emit_at = |at: Instant, host: &mut Host, stamp: &mut Stamp| {
            host.poll(at, &mut |f: &[u8]| {
                let ts = stamp.at(at);
                stamp.sent += 1;
                out(ts, Direction::Out, f);
            });
        };
        if self.poll_due {
            emit_at(self.now, &mut self.host, &mut stamp);
            self.poll_due = false;
        }
        let mut last = None;
        let mut repeats = 0;
        while let Some(deadline) = self.host.poll_at() {
            if deadline > t {
                break;
            }
            let at = deadline.max(self.now);
            if last == Some(at) {
                repeats += 1;
                if repeats >= POLLS_PER_INSTANT {
                    self.report.stalled_timers += 1;
                    break;
                }
            } else {
                repeats = 0;
            }
            last = Some(at);
            self.now = at;
            emit_at(at, &mut self.host, &mut stamp);
            self.report.timer_polls += 1;
        }
        self.now = self.now.max(t);
        self.put_stamp(stamp);
        self.take_events();
    }

    fn take_events(&mut self) {
        while let Some(e) = self.host.iface_mut().poll_event() {
            if self.report.events.len() < Report::MAX_EVENTS {
                self.report.events.push((self.now, e));
            } else {
                self.report.events_dropped += 1;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Comparing an output with the expected one.

/// Fields left out of a comparison: `time` (timestamps), `dir` (direction), a field by its
/// name (`tcp.seq`, `ipv4.id`), or a whole layer (`tcp`, `payload`).
///
/// A checksum is not compared when a field it covers is masked: masking `tcp.seq` masks
/// `tcp.checksum`, masking `ipv4.id` masks `ipv4.checksum`, and masking an IP address masks
/// the TCP, UDP and ICMPv6 checksums, whose pseudo-header holds it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mask {
    names: Vec<String>,
}

/// A mask name that is neither a field nor a layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownField(pub String);

impl fmt::Display for UnknownField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'{}' is not a field or layer (try time, dir, eth, arp, ipv4, ipv6, tcp, udp, icmp, \
             icmpv6, payload, or a field such as tcp.seq or ipv4.id)",
            self.0
        )
    }
}

impl std::error::Error for UnknownField {}

impl Mask {
    /// Nothing masked.
    pub fn none() -> Self {
        Mask::default()
    }

    /// A mask from names separated by commas or spaces, e.g. `time,tcp.seq,tcp.ack`.
    ///
    /// # Errors
    /// [`UnknownField`] for a name that is neither a field nor a layer.
    pub fn parse(list: &str) -> Result<Self, UnknownField> {
        let mut mask = Mask::none();
        for name in list.split([',', ' ']).filter(|s| !s.is_empty()) {
            mask.add(name)?;
        }
        Ok(mask)
    }

    /// Masks one more field or layer.
    ///
    /// # Errors
    /// [`UnknownField`] for a name that is neither a field nor a layer.
    pub fn add(&mut self, name: &str) -> Result<(), UnknownField> {
        let known = name == "time"
            || name == "dir"
            || decode::FIELD_NAMES.contains(&name)
            || decode::FIELD_NAMES
                .iter()
                .any(|f| f.split_once('.').is_some_and(|(l, _)| l == name));
        if !known {
            return Err(UnknownField(name.to_owned()));
        }
        if !self.names.iter().any(|n| n == name) {
            self.names.push(name.to_owned());
        }
        Ok(())
    }

    /// True when nothing is masked.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// True when `name` (a field, `time` or `dir`) is masked, itself or by its layer.
    pub fn masks(&self, name: &str) -> bool {
        let layer = name.split_once('.').map_or(name, |(l, _)| l);
        self.names.iter().any(|n| n == name || n == layer)
    }

    /// True when the checksum field `name` covers a masked field.
    fn masks_checksum(&self, name: &str) -> bool {
        let covered: &[&str] = match name {
            "ipv4.checksum" => &["ipv4"],
            "tcp.checksum" => &[
                "tcp", "payload", "ipv4.src", "ipv4.dst", "ipv6.src", "ipv6.dst",
            ],
            "udp.checksum" => &[
                "udp", "payload", "ipv4.src", "ipv4.dst", "ipv6.src", "ipv6.dst",
            ],
            "icmp.checksum" => &["icmp", "payload"],
            "icmpv6.checksum" => &["icmpv6", "payload", "ipv6.src", "ipv6.dst"],
            _ => return false,
        };
        self.names.iter().any(|n| {
            covered.iter().any(|c| {
                n == c
                    || n.starts_with(c)
                        && n.as_bytes().get(c.len()) == Some(&b'.')
                        && !n.ends_with(".checksum")
            })
        })
    }

    fn skips(&self, name: &str) -> bool {
        self.masks(name) || self.masks_checksum(name)
    }
}

/// The first difference between two frames.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldDiff {
    /// The field (`time`, `dir`, `tcp.seq`, ...), or `fields` when the two frames have
    /// different headers.
    pub field: String,
    /// Its value in the expected frame.
    pub expected: String,
    /// Its value in ours.
    pub got: String,
}

impl fmt::Display for FieldDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: expected {}, got {}",
            self.field, self.expected, self.got
        )
    }
}

/// One place where the output and the expected output disagree. Indices count from 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Difference {
    /// Both have a frame here, and they differ.
    Changed {
        /// Index in the expected capture.
        expected: usize,
        /// Index in ours.
        got: usize,
        /// The first field that differs.
        first: FieldDiff,
    },
    /// An expected frame we did not produce.
    Missing {
        /// Index in the expected capture.
        expected: usize,
    },
    /// A frame we produced that was not expected.
    Extra {
        /// Index in ours.
        got: usize,
    },
}

/// The outcome of [`compare`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Frames that matched.
    pub matched: usize,
    /// Every difference, in order.
    pub differences: Vec<Difference>,
}

impl Comparison {
    /// True when nothing differs.
    pub fn is_same(&self) -> bool {
        self.differences.is_empty()
    }
}

/// How far ahead [`compare`] looks for the two captures to agree again after a difference.
const RESYNC_WINDOW: usize = 8;

/// Compares `got` with `expected` frame by frame, ignoring what `mask` masks. Timestamps are
/// compared relative to each capture's first frame. After a difference the two are realigned
/// when a frame was dropped or added, so one extra retransmission shows as one difference.
pub fn compare(expected: &[Record], got: &[Record], mask: &Mask) -> Comparison {
    let e0 = expected.first().map_or(Duration::ZERO, |r| r.timestamp);
    let g0 = got.first().map_or(Duration::ZERO, |r| r.timestamp);
    let diff = |i: usize, j: usize| -> Option<FieldDiff> {
        match (expected.get(i), got.get(j)) {
            (Some(e), Some(g)) => first_difference(e, e0, g, g0, mask),
            _ => Some(FieldDiff {
                field: "frame".to_owned(),
                expected: String::new(),
                got: String::new(),
            }),
        }
    };
    let same = |i: usize, j: usize| diff(i, j).is_none();
    let mut out = Comparison::default();
    let (mut i, mut j) = (0, 0);
    while i < expected.len() || j < got.len() {
        if i >= expected.len() {
            out.differences.push(Difference::Extra { got: j });
            j += 1;
            continue;
        }
        if j >= got.len() {
            out.differences.push(Difference::Missing { expected: i });
            i += 1;
            continue;
        }
        let Some(first) = diff(i, j) else {
            out.matched += 1;
            i += 1;
            j += 1;
            continue;
        };
        // Realign: the smallest skip (a expected frames, b of ours) after which two frames in a
        // row agree (or the captures end together).
        let agrees = |a: usize, b: usize| {
            let (x, y) = (i + a, j + b);
            (x < expected.len() && y < got.len() && same(x, y))
                && (x + 1 >= expected.len() && y + 1 >= got.len() || same(x + 1, y + 1))
        };
        let skip = (1..=RESYNC_WINDOW).find_map(|total| {
            (0..=total)
                .map(|a| (a, total - a))
                .find(|&(a, b)| agrees(a, b))
        });
        match skip {
            Some((a, b)) if a == 0 || b == 0 => {
                for k in 0..a {
                    out.differences
                        .push(Difference::Missing { expected: i + k });
                }
                for k in 0..b {
                    out.differences.push(Difference::Extra { got: j + k });
                }
                i += a;
                j += b;
            }
            _ => {
                out.differences.push(Difference::Changed {
                    expected: i,
                    got: j,
                    first,
                });
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// The first difference between two records, in the order time, direction, then the frame's
/// fields in wire order; `None` when they agree under `mask`.
pub fn first_difference(
    expected: &Record,
    expected_origin: Duration,
    got: &Record,
    got_origin: Duration,
    mask: &Mask,
) -> Option<FieldDiff> {
    if !mask.masks("time") {
        let e = expected.timestamp.saturating_sub(expected_origin);
        let g = got.timestamp.saturating_sub(got_origin);
        if e != g {
            return Some(FieldDiff {
                field: "time".to_owned(),
                expected: seconds(e),
                got: seconds(g),
            });
        }
    }
    if !mask.masks("dir") && expected.direction != got.direction {
        return Some(FieldDiff {
            field: "dir".to_owned(),
            expected: direction_name(expected.direction).to_owned(),
            got: direction_name(got.direction).to_owned(),
        });
    }
    if mask.is_empty() && expected.data == got.data {
        return None;
    }
    let ef = decode::fields(&expected.data);
    let gf = decode::fields(&got.data);
    let keep = |f: &&Field<'_>| !mask.skips(f.name);
    let mut e_iter = ef.iter().filter(keep);
    let mut g_iter = gf.iter().filter(keep);
    loop {
        match (e_iter.next(), g_iter.next()) {
            (None, None) => return None,
            (Some(e), None) => {
                return Some(FieldDiff {
                    field: e.name.to_owned(),
                    expected: e.value.to_string(),
                    got: "(absent)".to_owned(),
                })
            }
            (None, Some(g)) => {
                return Some(FieldDiff {
                    field: g.name.to_owned(),
                    expected: "(absent)".to_owned(),
                    got: g.value.to_string(),
                })
            }
            (Some(e), Some(g)) if e.name != g.name => {
                return Some(FieldDiff {
                    field: format!("{} / {}", e.name, g.name),
                    expected: format!("{}={}", e.name, e.value),
                    got: format!("{}={}", g.name, g.value),
                })
            }
            (Some(e), Some(g)) if e.value != g.value => {
                return Some(value_difference(e, g));
            }
            _ => {}
        }
    }
}

fn value_difference(e: &Field<'_>, g: &Field<'_>) -> FieldDiff {
    if let (Value::Bytes(a), Value::Bytes(b)) = (&e.value, &g.value) {
        let at = a.iter().zip(b.iter()).position(|(x, y)| x != y);
        return match at {
            Some(k) => FieldDiff {
                field: format!("{} (byte {k} of {})", e.name, a.len()),
                expected: a.get(k).map_or_else(String::new, |&b| decode::byte_text(b)),
                got: b.get(k).map_or_else(String::new, |&b| decode::byte_text(b)),
            },
            None => FieldDiff {
                field: format!("{} (length)", e.name),
                expected: format!("{} bytes", a.len()),
                got: format!("{} bytes", b.len()),
            },
        };
    }
    FieldDiff {
        field: e.name.to_owned(),
        expected: e.value.to_string(),
        got: g.value.to_string(),
    }
}

/// Seconds with nanoseconds, as the dump prints relative times.
pub fn seconds(d: Duration) -> String {
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

/// `in`, `out` or `-` (not marked).
pub fn direction_name(d: Option<Direction>) -> &'static str {
    match d {
        Some(Direction::In) => "in",
        Some(Direction::Out) => "out",
        None => "-",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Ipv4Cidr;
    use etherparse::PacketBuilder;

    const OURS: MacAddr = MacAddr([2, 0, 10, 77, 0, 2]);
    const PEER: [u8; 6] = [2, 0, 0, 0, 0, 1];

    fn host(seed: u64) -> Host {
        let mut c = Config::new(OURS, Some("10.77.0.2/24".parse::<Ipv4Cidr>().unwrap()));
        c.seed = seed;
        c.arp.probe_count = 0;
        build_host(c, Service::STANDARD).unwrap()
    }

    fn rec(ms: u64, data: Vec<u8>, direction: Option<Direction>) -> Record {
        Record {
            timestamp: Duration::from_secs(1_700_000_000) + Duration::from_millis(ms),
            orig_len: data.len() as u32,
            data,
            direction,
        }
    }

    fn arp_request() -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&PEER);
        f.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
        f.extend_from_slice(&PEER);
        f.extend_from_slice(&[10, 77, 0, 1]);
        f.extend_from_slice(&[0; 6]);
        f.extend_from_slice(&[10, 77, 0, 2]);
        f.resize(60, 0);
        f
    }

    fn ping(seq: u16) -> Vec<u8> {
        let mut f = Vec::new();
        PacketBuilder::ethernet2(PEER, OURS.0)
            .ipv4([10, 77, 0, 1], [10, 77, 0, 2], 64)
            .icmpv4_echo_request(7, seq)
            .write(&mut f, &[0x61; 56])
            .unwrap();
        f
    }

    fn udp(payload: &[u8]) -> Vec<u8> {
        let mut f = Vec::new();
        PacketBuilder::ethernet2(PEER, OURS.0)
            .ipv4([10, 77, 0, 1], [10, 77, 0, 2], 64)
            .udp(40000, 7)
            .write(&mut f, payload)
            .unwrap();
        f
    }

    fn syn() -> Vec<u8> {
        let mut f = Vec::new();
        PacketBuilder::ethernet2(PEER, OURS.0)
            .ipv4([10, 77, 0, 1], [10, 77, 0, 2], 64)
            .tcp(40000, 7, 1000, 64240)
            .syn()
            .write(&mut f, &[])
            .unwrap();
        f
    }

    type Out = Vec<(Duration, Direction, Vec<u8>)>;

    fn run(records: &[Record], seed: u64, options: Options) -> (Out, Report) {
        let mut out: Out = Vec::new();
        let mut sink = |t: Duration, d: Direction, f: &[u8]| out.push((t, d, f.to_vec()));
        let mut r = Driver::new(host(seed), options);
        for rec in records {
            r.push(rec, &mut sink);
        }
        let report = r.finish(&mut sink);
        (out, report)
    }

    #[test]
    fn pings_are_answered_at_capture_time() {
        let records = vec![
            rec(0, arp_request(), None),
            rec(1, ping(1), None),
            rec(1001, ping(2), None),
        ];
        let (out, report) = run(&records, 1, Options::default());
        let dirs: Vec<Direction> = out.iter().map(|o| o.1).collect();
        use Direction::{In, Out};
        // Announcement at the start, ARP reply, two echo replies.
        assert_eq!(dirs, [Out, In, Out, In, Out, In, Out], "{out:?}");
        assert_eq!(report.fed, 3);
        assert_eq!(report.sent, 4);
        let t0 = records[0].timestamp;
        assert_eq!(out[0].0, t0);
        assert_eq!(out[6].0, t0 + Duration::from_millis(1001));
        assert!(decode::summary(&out[6].2)
            .to_string()
            .contains("echo reply"));
        // Timestamps never go back.
        assert!(out.windows(2).all(|w| w[0].0 <= w[1].0));
    }

    #[test]
    fn frames_at_one_instant_are_received_before_one_poll() {
        // UDP echo answers when the service is polled: after both datagrams of a burst,
        // but between datagrams at different instants.
        let records = vec![
            rec(0, arp_request(), None),
            rec(1, udp(b"one"), None),
            rec(1, udp(b"two"), None),
            rec(2, udp(b"three"), None),
        ];
        let (out, report) = run(&records, 1, Options::default());
        let dirs: Vec<Direction> = out.iter().map(|o| o.1).collect();
        use Direction::{In, Out};
        assert_eq!(dirs, [Out, In, Out, In, In, Out, Out, In, Out], "{out:?}");
        assert_eq!(report.sent, 5);
    }

    #[test]
    fn same_input_and_seed_same_output_and_seed_matters() {
        let records = vec![rec(0, arp_request(), None), rec(5, syn(), None)];
        let (a, _) = run(&records, 7, Options::default());
        let (b, _) = run(&records, 7, Options::default());
        assert_eq!(a, b);
        let (c, _) = run(&records, 8, Options::default());
        assert_ne!(a, c, "the seed chooses the initial sequence number");
    }

    #[test]
    fn timers_fire_between_frames_and_after_the_last() {
        // A SYN and nothing more: the SYN-ACK is retransmitted at its RTO, while the capture
        // lasts (the last record at 10 s is an unrelated frame from elsewhere, skipped).
        let mut tail = ping(9);
        tail[6..12].copy_from_slice(&OURS.0);
        let records = vec![
            rec(0, arp_request(), None),
            rec(1, syn(), None),
            rec(10_000, tail, None),
        ];
        let (out, report) = run(&records, 3, Options::default());
        let synacks: Vec<Duration> = out
            .iter()
            .filter(|o| decode::summary(&o.2).to_string().contains("Flags [S.]"))
            .map(|o| o.0 - records[0].timestamp)
            .collect();
        assert!(synacks.len() >= 3, "{synacks:?}");
        assert_eq!(synacks[0], Duration::from_millis(1));
        assert!(synacks[1] >= Duration::from_millis(900), "{synacks:?}");
        assert!(*synacks.last().unwrap() <= Duration::from_secs(10));
        assert_eq!(report.skipped_own_mac, 1);
        assert!(report.timer_polls > 0);
        assert_eq!(report.duration, Duration::from_secs(10));
        // Lingering lets more retransmissions out.
        let long = Options {
            linger: Duration::from_secs(30),
            ..Options::default()
        };
        let (more, _) = run(&records, 3, long);
        assert!(more.len() > out.len());
    }

    #[test]
    fn first_frame_at_moves_the_clock_not_the_timestamps() {
        let records = vec![rec(0, arp_request(), None), rec(5, syn(), None)];
        let synack = |out: &Out| {
            out.iter()
                .find(|o| decode::summary(&o.2).to_string().contains("Flags [S.]"))
                .map(|o| {
                    let fields = decode::fields(&o.2);
                    let seq = fields.iter().find(|f| f.name == "tcp.seq").unwrap();
                    (o.0, seq.value.to_string())
                })
                .unwrap()
        };
        let (a, _) = run(&records, 7, Options::default());
        let later = Options {
            first_frame_at: Duration::from_micros(400),
            ..Options::default()
        };
        let (b, report) = run(&records, 7, later);
        let ((ta, seq_a), (tb, seq_b)) = (synack(&a), synack(&b));
        assert_eq!(ta, tb, "output timestamps stay the capture's");
        let (x, y): (u32, u32) = (seq_a.parse().unwrap(), seq_b.parse().unwrap());
        // RFC 6528: the ISN clock ticks every 4 µs.
        assert_eq!(y.wrapping_sub(x), 100);
        assert_eq!(report.duration, Duration::from_micros(5400));
    }

    #[test]
    fn direction_marks_choose_what_is_fed() {
        let mut reply = ping(1);
        reply[0..6].copy_from_slice(&PEER);
        reply[6..12].copy_from_slice(&OURS.0);
        let records = vec![
            rec(0, arp_request(), Some(Direction::In)),
            rec(0, reply.clone(), Some(Direction::Out)),
            rec(1, ping(1), Some(Direction::In)),
        ];
        let (_, report) = run(&records, 1, Options::default());
        assert_eq!((report.fed, report.skipped_outbound), (2, 1));
        // Marks read the other way round (a capture on the peer's side): not-ours ignores them.
        let flipped: Vec<Record> = records
            .iter()
            .map(|r| Record {
                direction: r.direction.map(|d| match d {
                    Direction::In => Direction::Out,
                    Direction::Out => Direction::In,
                }),
                ..r.clone()
            })
            .collect();
        let not_ours = Options {
            feed: Feed::NotOurs,
            ..Options::default()
        };
        let (_, report) = run(&flipped, 1, not_ours);
        assert_eq!((report.fed, report.skipped_own_mac), (2, 1));
    }

    #[test]
    fn cut_frames_are_skipped_and_time_never_goes_back() {
        let mut cut = rec(2, ping(1), None);
        cut.data.truncate(40);
        let records = vec![
            rec(0, arp_request(), None),
            cut,
            rec(5, ping(2), None),
            rec(3, ping(3), None),
        ];
        let (out, report) = run(&records, 1, Options::default());
        assert_eq!(report.skipped_truncated, 1);
        assert_eq!(report.time_went_back, 1);
        assert_eq!(report.fed, 3);
        assert!(out.windows(2).all(|w| w[0].0 <= w[1].0));
    }

    #[test]
    fn empty_replay_sends_nothing() {
        let (out, report) = run(&[], 1, Options::default());
        assert!(out.is_empty());
        assert_eq!(report, Report::default());
    }

    fn as_records(out: &Out) -> Vec<Record> {
        out.iter()
            .map(|(t, d, f)| Record {
                timestamp: *t,
                orig_len: f.len() as u32,
                data: f.clone(),
                direction: Some(*d),
            })
            .collect()
    }

    #[test]
    fn compare_finds_the_first_field_and_realigns() {
        let records = vec![
            rec(0, arp_request(), None),
            rec(1, ping(1), None),
            rec(2, ping(2), None),
            rec(3, ping(3), None),
        ];
        let (out, _) = run(&records, 1, Options::default());
        let expected = as_records(&out);
        assert!(compare(&expected, &expected, &Mask::none()).is_same());

        // One field changed.
        let mut got = expected.clone();
        got[4].data[14 + 8] = 63; // the TTL of the first echo reply
        let c = compare(&expected, &got, &Mask::none());
        assert_eq!(c.differences.len(), 1, "{c:?}");
        let Difference::Changed { first, .. } = &c.differences[0] else {
            panic!("{c:?}")
        };
        assert_eq!(first.field, "ipv4.ttl");
        assert_eq!((first.expected.as_str(), first.got.as_str()), ("64", "63"));
        // Masked, the TTL and the IPv4 checksum it breaks are not compared.
        assert!(compare(&expected, &got, &Mask::parse("ipv4.ttl").unwrap()).is_same());

        // One frame missing, one extra: each shows once.
        let mut fewer = expected.clone();
        fewer.remove(4);
        let c = compare(&expected, &fewer, &Mask::none());
        assert_eq!(c.differences, [Difference::Missing { expected: 4 }]);
        let c = compare(&fewer, &expected, &Mask::none());
        assert_eq!(c.differences, [Difference::Extra { got: 4 }]);

        // Time.
        let mut later = expected.clone();
        later[3].timestamp += Duration::from_micros(5);
        let c = compare(&expected, &later, &Mask::none());
        let Difference::Changed { first, .. } = &c.differences[0] else {
            panic!("{c:?}")
        };
        assert_eq!(first.field, "time");
        assert!(compare(&expected, &later, &Mask::parse("time").unwrap()).is_same());

        // Payload bytes.
        let mut bytes = expected.clone();
        let n = bytes[4].data.len();
        bytes[4].data[n - 1] ^= 0x20;
        let c = compare(&expected, &bytes, &Mask::parse("icmp.checksum").unwrap());
        let Difference::Changed { first, .. } = &c.differences[0] else {
            panic!("{c:?}")
        };
        assert_eq!(first.field, "payload.data (byte 55 of 56)");
    }

    #[test]
    fn masks() {
        assert!(Mask::parse("tcp.sequence").is_err());
        assert!(Mask::parse("bogus").is_err());
        let m = Mask::parse("time, tcp.seq ipv4").unwrap();
        assert!(m.masks("time") && m.masks("tcp.seq") && m.masks("ipv4.ttl"));
        assert!(!m.masks("tcp.ack"));
        assert!(m.skips("tcp.checksum") && m.skips("ipv4.checksum"));
        assert!(!m.skips("udp.checksum") || m.masks("ipv4.src"));
        let m = Mask::parse("tcp.checksum").unwrap();
        assert!(!m.masks_checksum("tcp.checksum") && m.skips("tcp.checksum"));
        assert!("auto".parse::<Feed>().is_ok() && "x".parse::<Feed>().is_err());
        assert_eq!("tcp-echo".parse::<Service>(), Ok(Service::TcpEcho));
        assert!("ssh".parse::<Service>().is_err());
    }

    #[test]
    fn build_host_with_a_subset_of_services() {
        let c = Config::new(OURS, Some("10.77.0.2/24".parse().unwrap()));
        let h = build_host(c.clone(), &[Service::UdpEcho]).unwrap();
        assert_eq!(h.service_names().collect::<Vec<_>>(), ["udp-echo"]);
        assert_eq!(
            build_host(c, &[Service::UdpEcho, Service::UdpEcho]).err(),
            Some(BuildError::Service(Service::UdpEcho))
        );
    }
}
