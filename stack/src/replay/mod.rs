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
//! tapstack, or a Linux cooked capture's packet type) is fed, one marked outbound is skipped
//! because the stack produces its own answers again, and an unmarked frame is fed unless it
//! was sent from the stack's own MAC address (or, when the link names no sender, from one of
//! its IP addresses, or is a duplicate address detection probe for one of them). Frames cut short by the capture's snaplen are counted and skipped: the
//! stack would see a different frame than the wire carried.
//!
//! Link types ([`LinkType`]): a stack on the Ethernet medium takes Ethernet frames as they
//! are (an FCS already taken off by the reader; frames whose FCS is wrong are skipped when
//! [`Options::check_fcs`] asks) and cooked and raw frames behind a made-up Ethernet header
//! (see [`crate::device::link`] for its addresses). When the link names no sender
//! (raw IP, loopback, a cooked capture of a TUN), no ARP or NDP exchange is in the capture to
//! teach the stack the sender's MAC, so before the first packet from each such sender the
//! replay gives the stack what a real link would have carried: an ARP request (IPv4) or a
//! neighbour solicitation (IPv6) from that address and [`PEER_MAC`] for the packet's
//! destination. The stack learns the sender from it (RFC 826; RFC 4861 7.2.3) and answers, so
//! its IP answers go out at once as they did live. These frames are written to the output as
//! received and counted in [`Report::primed`]. A stack on the IP medium takes the IP packet of
//! every frame and skips the rest (ARP, other EtherTypes).
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
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::device::capture::{LinkType, Record};
use crate::device::link::{self, PEER_MAC};
use crate::device::{Capabilities, Device, Direction, FrameInfo, Medium, Wait};
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
    type Err = crate::config::ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Feed::Auto),
            "not-ours" => Ok(Feed::NotOurs),
            other => Err(format!("'{other}' is not a feed rule (auto or not-ours)").into()),
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
    /// The stack's medium: Ethernet frames, or bare IP packets.
    pub medium: Medium,
    /// Skip (and count) Ethernet frames whose FCS, kept by the capture, is wrong.
    pub check_fcs: bool,
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
    /// Skipped: the FCS the capture kept is wrong (only with [`Options::check_fcs`]).
    pub skipped_bad_fcs: u64,
    /// Skipped: the link header is cut short or carries no IP where IP was needed (a raw
    /// frame of another version, a loopback header of another family).
    pub skipped_bad_link: u64,
    /// Skipped: not an IP packet, for a stack on the IP medium (ARP, other EtherTypes).
    pub skipped_not_ip: u64,
    /// ARP requests and neighbour solicitations given to the stack for senders the capture
    /// names no MAC for (see the module's documentation).
    pub primed: u64,
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
        self.skipped_outbound
            + self.skipped_own_mac
            + self.skipped_truncated
            + self.skipped_bad_fcs
            + self.skipped_bad_link
            + self.skipped_not_ip
    }
}

/// Polls allowed at one instant before time moves on (a deadline that stays in the past).
const POLLS_PER_INSTANT: u32 = 64;

/// Senders remembered as primed (beyond this, no more priming: the table is bounded).
const PRIMED_MAX: usize = 256;

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
    medium: Medium,
    /// The record to feed, with its capture timestamp.
    fed: Option<(&'a [u8], Duration)>,
}

impl<'a, 'o> Recorded<'a, 'o> {
    fn new(stamp: Stamp, out: &'a mut Sink<'o>, mtu: usize, medium: Medium) -> Self {
        Recorded {
            stamp,
            out,
            mtu,
            medium,
            fed: None,
        }
    }
}

impl Device for Recorded<'_, '_> {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            medium: self.medium,
            ..Capabilities::ethernet(self.mtu)
        }
    }

    fn wait(&mut self, _timeout: Duration, _stop: &Receiver<()>) -> Wait {
        if self.fed.is_some() {
            Wait::Ready
        } else {
            Wait::Timeout
        }
    }

    fn receive<F: FnMut(&[u8], FrameInfo, &mut dyn FnMut(&[u8]))>(
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
        frame(data, FrameInfo::default(), &mut |f| {
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
    /// The frame being fed, when it is not the record's bytes as they are.
    buf: Vec<u8>,
    /// A priming frame.
    prime_buf: Vec<u8>,
    /// Senders already primed.
    primed: Vec<IpAddr>,
    /// The TCP trace, when asked for ([`Driver::trace`]).
    tracer: Option<trace::Tracer>,
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
            buf: Vec::new(),
            prime_buf: Vec::new(),
            primed: Vec::new(),
            tracer: None,
        }
    }

    /// The host being driven (its counters, its sockets).
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// Records the stack's view of its TCP connections from now on: after every frame fed and
    /// every timer poll, a [`trace::Sample`] for each connection that changed. Take them with
    /// [`Driver::trace_samples`].
    pub fn trace(&mut self) {
        self.tracer.get_or_insert_with(trace::Tracer::new);
    }

    /// The trace samples recorded since the last call, oldest first (none without
    /// [`Driver::trace`]).
    pub fn trace_samples(&mut self) -> Vec<trace::Sample> {
        self.tracer
            .as_mut()
            .map_or_else(Vec::new, |t| t.take().collect())
    }

    /// The tracer, for its counts of what did not fit.
    pub fn tracer(&self) -> Option<&trace::Tracer> {
        self.tracer.as_ref()
    }

    /// Samples the TCP connections at `at` when tracing; times count from the first record.
    fn sample(&mut self, at: Instant) {
        if let Some(t) = &mut self.tracer {
            let origin = Instant::ZERO + self.options.first_frame_at;
            t.sample(trace::micros_after(at, origin), self.host.iface().tcp());
        }
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
        if self.options.check_fcs && record.fcs_ok() == Some(false) {
            self.report.skipped_bad_fcs += 1;
            return;
        }
        // An Ethernet frame is fed as it is, even malformed: the stack counts what it drops.
        let frame = match record.frame() {
            Ok(f) => Some(f),
            Err(_) if record.link == LinkType::Ethernet => None,
            Err(_) => {
                self.report.skipped_bad_link += 1;
                return;
            }
        };
        let own = match frame.as_ref() {
            None => record.data.get(6..12) == Some(&self.mac.0[..]),
            Some(f) => match f.source {
                Some(mac) => mac == self.mac,
                None => f.ip_source().is_some_and(|a| self.is_ours(a)) || self.own_dad(f),
            },
        };
        let marked = record
            .direction
            .or_else(|| frame.as_ref().and_then(link::Frame::direction));
        let feed = match (self.options.feed, marked) {
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
        // What the stack is given: the record as it is, or rewritten for the medium.
        let mut prime = false;
        // Whether the record's bytes go as they are (else what is written in `buf`).
        let as_is = match (self.options.medium, frame) {
            (Medium::Ethernet, None) => true,
            (Medium::Ethernet, Some(f)) if f.link == LinkType::Ethernet => true,
            (Medium::Ethernet, Some(f)) => {
                link::write_ethernet(&f, self.mac, &mut self.buf);
                prime = f.source.is_none() && self.prime_for(&f);
                false
            }
            (Medium::Ip, f) => match f.as_ref().and_then(link::Frame::ip_packet) {
                Some(p) => {
                    self.buf.clear();
                    self.buf.extend_from_slice(p);
                    false
                }
                None => {
                    self.report.skipped_not_ip += 1;
                    return;
                }
            },
        };
        // A frame at the instant of the one before belongs to the same burst: both are
        // received before the host is polled.
        if !(self.poll_due && t == self.now) {
            self.advance(t, out);
        }
        if prime {
            let stamp = self.stamp();
            Self::receive_one(
                &mut self.host,
                self.options.medium,
                self.mtu,
                stamp,
                &self.prime_buf,
                record.timestamp,
                t,
                out,
                &mut self.last_out,
                &mut self.report,
            );
            self.report.primed += 1;
        }
        let data = if as_is { &record.data } else { &self.buf };
        let stamp = self.stamp();
        Self::receive_one(
            &mut self.host,
            self.options.medium,
            self.mtu,
            stamp,
            data,
            record.timestamp,
            t,
            out,
            &mut self.last_out,
            &mut self.report,
        );
        self.report.fed += 1;
        self.poll_due = true;
        self.now = t;
        self.sample(t);
    }

    /// Gives the host one frame at `t` through the replay's device.
    #[allow(clippy::too_many_arguments)]
    fn receive_one(
        host: &mut Host,
        medium: Medium,
        mtu: usize,
        stamp: Stamp,
        data: &[u8],
        timestamp: Duration,
        t: Instant,
        out: &mut Sink<'_>,
        last_out: &mut Duration,
        report: &mut Report,
    ) {
        let mut device = Recorded::new(stamp, out, mtu, medium);
        device.fed = Some((data, timestamp));
        device.receive(t, |f, _, send| host.receive(t, f, send));
        *last_out = device.stamp.last;
        report.sent += device.stamp.sent;
    }

    /// True when `a` is one of the stack's addresses.
    fn is_ours(&self, a: IpAddr) -> bool {
        let iface = self.host.iface();
        match a {
            IpAddr::V4(a) => iface.ipv4_assigned().is_some_and(|c| c.addr() == a),
            IpAddr::V6(a) => {
                iface.ipv6_addresses().iter().any(|x| x.cidr.addr() == a)
                    || a == crate::ipv6::link_local_from_mac(self.mac)
            }
        }
    }

    /// True for a duplicate address detection probe (a neighbour solicitation from the
    /// unspecified address, RFC 4862 5.4.2) for one of the stack's addresses: with no MAC and
    /// no direction to tell, it is taken for the stack's own, since the stack, fed it, would
    /// give up the address it probes for.
    fn own_dad(&self, f: &link::Frame<'_>) -> bool {
        let p = f.payload;
        let probe = f.protocol == link::ETHERTYPE_IPV6
            && f.ip_source() == Some(Ipv6Addr::UNSPECIFIED.into())
            && p.get(6) == Some(&58)
            && p.get(40) == Some(&135);
        let target = p
            .get(48..64)
            .and_then(|b| <[u8; 16]>::try_from(b).ok())
            .map(Ipv6Addr::from);
        probe && target.is_some_and(|t| self.is_ours(t.into()))
    }

    /// Writes into `prime_buf` the ARP request or neighbour solicitation that teaches the
    /// stack the MAC of `f`'s sender, if that sender is new and unicast and the packet goes
    /// to a unicast address; says whether it did.
    fn prime_for(&mut self, f: &link::Frame<'_>) -> bool {
        let (Some(src), Some(dst)) = (f.ip_source(), f.ip_destination()) else {
            return false;
        };
        if self.primed.contains(&src) || self.primed.len() >= PRIMED_MAX {
            return false;
        }
        let out = &mut self.prime_buf;
        out.clear();
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                if !usable_v4(s) || !usable_v4(d) {
                    return false;
                }
                out.extend_from_slice(&MacAddr::BROADCAST.0);
                out.extend_from_slice(&PEER_MAC.0);
                out.extend_from_slice(&link::ETHERTYPE_ARP.to_be_bytes());
                out.extend_from_slice(&crate::arp::Repr::request(PEER_MAC, s, d).to_bytes());
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                if !usable_v6(s) || !usable_v6(d) {
                    return false;
                }
                write_solicitation(out, self.mac, s, d);
            }
            _ => return false,
        }
        self.primed.push(src);
        true
    }

    /// Runs the timers up to the capture's last record plus [`Options::linger`], stops the
    /// host cleanly there (as Ctrl-C stops a live one: a leased address is released), and
    /// returns what the replay did.
    pub fn finish(&mut self, out: &mut Sink<'_>) -> Report {
        if self.origin.is_some() {
            let end = self.end + self.options.linger;
            self.advance(end, out);
            let mut device = Recorded::new(self.stamp(), out, self.mtu, self.options.medium);
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
        let mut device = Recorded::new(self.stamp(), out, self.mtu, self.options.medium);
        let emit_at = |at: Instant, host: &mut Host, device: &mut Recorded<'_, '_>| {
            host.poll(at, &mut |f: &[u8]| device.transmit(at, f));
        };
        if self.poll_due {
            emit_at(self.now, &mut self.host, &mut device);
            self.poll_due = false;
            self.sample(self.now);
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
            self.sample(at);
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

fn usable_v4(a: Ipv4Addr) -> bool {
    !(a.is_unspecified() || a.is_broadcast() || a.is_multicast())
}

fn usable_v6(a: Ipv6Addr) -> bool {
    !(a.is_unspecified() || a.is_multicast())
}

/// A neighbour solicitation (RFC 4861 4.3) from `src`, with [`PEER_MAC`] as its source
/// link-layer address, for `target`, sent straight to the stack's MAC and to `target`
/// (a unicast solicitation, as for a reachability check).
fn write_solicitation(out: &mut Vec<u8>, ours: MacAddr, src: Ipv6Addr, target: Ipv6Addr) {
    // type 135, code 0, checksum, reserved; target; option 1 (source link-layer address).
    let mut icmp = [0u8; 32];
    icmp[0] = 135;
    icmp[8..24].copy_from_slice(&target.octets());
    icmp[24] = 1;
    icmp[25] = 1;
    icmp[26..32].copy_from_slice(&PEER_MAC.0);
    let sum = crate::checksum::upper_layer(src.into(), target.into(), 58, &icmp);
    // upper_layer gives the sum in native byte order.
    icmp[2..4].copy_from_slice(&sum.to_ne_bytes());
    out.extend_from_slice(&ours.0);
    out.extend_from_slice(&PEER_MAC.0);
    out.extend_from_slice(&link::ETHERTYPE_IPV6.to_be_bytes());
    // version 6, payload 32 bytes, next header ICMPv6, hop limit 255 (RFC 4861 7.1.1).
    out.extend_from_slice(&[0x60, 0, 0, 0, 0, 32, 58, 255]);
    out.extend_from_slice(&src.octets());
    out.extend_from_slice(&target.octets());
    out.extend_from_slice(&icmp);
}

mod compare;
#[cfg(test)]
mod tests;
pub mod trace;

pub use compare::{
    compare, direction_name, first_difference, seconds, Comparison, Difference, FieldDiff, Mask,
    UnknownField,
};
