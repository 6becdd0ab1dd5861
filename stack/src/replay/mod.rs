//! Replay: the frames of a capture enter the core at their capture timestamps, taken as virtual
//! time, and between two frames the core's timers fire at their own virtual deadlines, so
//! retransmissions, delayed ACKs, ARP retries and timeouts happen as they would live.
//!
//! Pure like the core: [`Driver::push`] takes capture [`Record`]s, and every frame in and out
//! goes to a sink with its timestamp and [`Direction`] through the replay's own [`Device`]
//! (the record fed comes in, the stack's frames go out stamped); the command line does the
//! file I/O.
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

use crossbeam_channel::Receiver;

use crate::config::{Config, ConfigError};
use crate::device::capture::Record;
use crate::device::{Capabilities, Device, Direction, Wait};
use crate::ethernet::MacAddr;
use crate::host::{Host, Services};
pub use crate::host::{Service, UnknownService};
use crate::iface::{Event, Interface};
use crate::time::Instant;

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

/// A host with `config` running `services`, built as `tapstack up` builds its host (see
/// [`Host::start`]), with the default [`Services`] settings.
///
/// # Errors
/// [`BuildError`] when the configuration is refused or a service cannot bind its port.
pub fn build_host(config: Config, services: &[Service]) -> Result<Host, BuildError> {
    let iface = Interface::new(config).map_err(BuildError::Config)?;
    let mut host = Host::new(iface);
    let settings = Services::default();
    for &s in services {
        host.start(s, &settings)
            .map_err(|_| BuildError::Service(s))?;
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

/// The replay's device: the record being fed comes in, and every frame in and out goes to
/// the sink, stamped. It lives for one call of the driver.
struct Recorded<'a, 'o> {
    stamp: Stamp,
    out: &'a mut Sink<'o>,
    mtu: usize,
    /// The record to feed, with its capture timestamp.
    fed: Option<(&'a [u8], Duration)>,
}

impl<'a, 'o> Recorded<'a, 'o> {
    fn new(stamp: Stamp, out: &'a mut Sink<'o>, mtu: usize) -> Self {
        Recorded {
            stamp,
            out,
            mtu,
            fed: None,
        }
    }
}

impl Device for Recorded<'_, '_> {
    fn capabilities(&self) -> Capabilities {
        Capabilities::ethernet(self.mtu)
    }

    fn wait(&mut self, _timeout: Duration, _stop: &Receiver<()>) -> Wait {
        if self.fed.is_some() {
            Wait::Ready
        } else {
            Wait::Timeout
        }
    }

    fn receive<F: FnMut(&[u8], &mut dyn FnMut(&[u8]))>(
        &mut self,
        now: Instant,
        mut frame: F,
    ) -> usize {
        let Some((data, timestamp)) = self.fed.take() else {
            return 0;
        };
        let Recorded { stamp, out, .. } = self;
        // The input keeps its own timestamp unless that would go back in the output.
        let in_ts = timestamp.max(stamp.last);
        stamp.last = in_ts;
        out(in_ts, Direction::In, data);
        frame(data, &mut |f| {
            let ts = stamp.at(now);
            stamp.sent += 1;
            out(ts, Direction::Out, f);
        });
        1
    }

    fn transmit(&mut self, now: Instant, frame: &[u8]) {
        let ts = self.stamp.at(now);
        self.stamp.sent += 1;
        (self.out)(ts, Direction::Out, frame);
    }

    fn send(&mut self, _now: Instant) {}
}

/// A replay in progress: push records, then [`Driver::finish`].
#[derive(Debug)]
pub struct Driver {
    host: Host,
    mac: MacAddr,
    /// The host's IP MTU, the capability of the replay's device.
    mtu: usize,
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
            mtu: host.iface().config().mtu,
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
        let mut device = Recorded::new(self.stamp(), out, self.mtu);
        device.fed = Some((&record.data, record.timestamp));
        let host = &mut self.host;
        device.receive(t, |f, send| host.receive(t, f, send));
        let stamp = device.stamp;
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
            let mut device = Recorded::new(self.stamp(), out, self.mtu);
            self.host
                .shutdown(end, &mut |f: &[u8]| device.transmit(end, f));
            let stamp = device.stamp;
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
        let mut device = Recorded::new(self.stamp(), out, self.mtu);
        let emit_at = |at: Instant, host: &mut Host, device: &mut Recorded<'_, '_>| {
            host.poll(at, &mut |f: &[u8]| device.transmit(at, f));
        };
        if self.poll_due {
            emit_at(self.now, &mut self.host, &mut device);
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
            emit_at(at, &mut self.host, &mut device);
            self.report.timer_polls += 1;
        }
        self.now = self.now.max(t);
        let stamp = device.stamp;
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

mod compare;
#[cfg(test)]
mod tests;

pub use compare::{
    compare, direction_name, first_difference, seconds, Comparison, Difference, FieldDiff, Mask,
    UnknownField,
};
