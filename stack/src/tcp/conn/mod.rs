//! One TCP connection: the transmission control block and its state machine (RFC 9293 3.3.2,
//! event processing 3.10).
//!
//! Files, one concern each: this file holds the block itself (grouped into the send and receive
//! sequence spaces of RFC 9293 3.3.1, loss recovery, RACK, keepalive and the timer table), the
//! three ways a connection is opened and the user calls (RFC 9293 3.10.1-3.10.5). Input is
//! `input` ([`Connection::on_segment`], RFC 9293 3.10.7.4 step by step, and
//! [`Connection::on_segment_in_batch`], which also decides whether the ACK may wait for the end
//! of a batch of received frames), output `output`
//! ([`Connection::poll_transmit`], at most one segment per call: a SYN, a retransmission, new
//! data, a FIN, or an ACK, in that order of preference), loss recovery `recovery` (SACK
//! scoreboard RFC 6675, RACK RFC 8985, Eifel RFC 3522/4015, NewReno RFC 6582), and the deadlines
//! `timers` (retransmission, delayed ACK, persist, keepalive, TIME-WAIT, RACK reordering),
//! reported by [`Connection::poll_at`], and urgent data `urgent` (RFC 9293 3.8.5). ICMP errors
//! count only for a sequence number in flight (RFC 5927), and the user timeout (RFC 5482) and soft
//! errors (MUST-47) are told to the application: `errors`.

mod errors;
mod input;
mod memory;
mod output;
mod recovery;
mod timers;
mod urgent;

use std::collections::VecDeque;

use core::fmt;
use core::net::SocketAddr;
use core::time::Duration;

use super::buffer::{Assembler, Ring};
use super::congestion::{Algorithm, Cc, Controller};
use super::rtt::Rtt;
use super::segment::{Options, Repr};
use super::seq::Seq;
use crate::time::Instant;
use timers::{Timer, Timers};

pub use errors::{SoftError, R1_RETRANSMISSIONS};
pub use input::{AckTiming, Arrival};

/// The connection states of RFC 9293 3.3.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// No connection.
    Closed,
    /// Waiting for a SYN (listeners only).
    Listen,
    /// Our SYN is out.
    SynSent,
    /// A SYN arrived and our SYN-ACK is out.
    SynReceived,
    /// Data flows both ways.
    Established,
    /// We closed; our FIN is unacknowledged.
    FinWait1,
    /// We closed and our FIN is acknowledged; the peer may still send.
    FinWait2,
    /// The peer closed; we may still send.
    CloseWait,
    /// Both closed at once; waiting for the ACK of our FIN.
    Closing,
    /// The peer closed, then we did; waiting for the ACK of our FIN.
    LastAck,
    /// Waiting 2*MSL so that stray segments die out.
    TimeWait,
}

impl State {
    /// True in the states where both sides' sequence numbers are known.
    pub fn synchronized(self) -> bool {
        !matches!(
            self,
            State::Closed | State::Listen | State::SynSent | State::SynReceived
        )
    }

    /// A short name, as in RFC 9293 figure 5.
    pub fn name(self) -> &'static str {
        match self {
            State::Closed => "CLOSED",
            State::Listen => "LISTEN",
            State::SynSent => "SYN-SENT",
            State::SynReceived => "SYN-RECEIVED",
            State::Established => "ESTABLISHED",
            State::FinWait1 => "FIN-WAIT-1",
            State::FinWait2 => "FIN-WAIT-2",
            State::CloseWait => "CLOSE-WAIT",
            State::Closing => "CLOSING",
            State::LastAck => "LAST-ACK",
            State::TimeWait => "TIME-WAIT",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a connection ended abnormally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The peer reset the connection.
    Reset,
    /// The peer refused the connection (RST in answer to our SYN, or ICMP unreachable).
    Refused,
    /// Retransmissions went unanswered.
    TimedOut,
    /// The user aborted it.
    Aborted,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::Reset => "connection reset by peer",
            Error::Refused => "connection refused",
            Error::TimedOut => "connection timed out",
            Error::Aborted => "connection aborted",
        })
    }
}

/// Per-connection knobs, copied from the stack's TCP configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// MSS we announce (our MTU minus 40).
    pub mss: u16,
    /// Receive buffer size.
    pub rx_buffer: usize,
    /// Send buffer size.
    pub tx_buffer: usize,
    /// Smallest RTO.
    pub min_rto: Duration,
    /// Largest RTO.
    pub max_rto: Duration,
    /// Delayed ACK timeout (at most 200 ms, RFC 9293 3.8.6.3).
    pub delayed_ack: Duration,
    /// TIME-WAIT duration (2*MSL).
    pub time_wait: Duration,
    /// Longest wait in FIN-WAIT-2 once the application has closed.
    pub fin_timeout: Duration,
    /// Retransmissions of one segment before the connection is given up.
    pub max_retries: u32,
    /// Retransmissions of our SYN,ACK before a passive open is given up.
    pub synack_retries: u32,
    /// Offer window scaling.
    pub window_scaling: bool,
    /// Offer timestamps.
    pub timestamps: bool,
    /// Offer SACK.
    pub sack: bool,
    /// Disable Nagle's algorithm for new connections.
    pub nodelay: bool,
    /// Congestion control.
    pub congestion: Algorithm,
    /// The largest payload of one segment the device cuts into MTU-sized ones (TSO); 0 when
    /// the device does not.
    pub tso_max: usize,
}

/// What a connection did, for `/stats` and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Segments received.
    pub segments_in: u64,
    /// Segments sent.
    pub segments_out: u64,
    /// Payload bytes accepted in order.
    pub bytes_in: u64,
    /// Payload bytes sent for the first time.
    pub bytes_out: u64,
    /// Segments retransmitted.
    pub retransmits: u64,
    /// Payload bytes retransmitted.
    pub retransmitted_bytes: u64,
    /// Retransmission timeouts.
    pub timeouts: u64,
    /// Fast retransmits (three duplicate ACKs).
    pub fast_retransmits: u64,
    /// Duplicate ACKs received.
    pub dup_acks: u64,
    /// Segments outside the window (answered with an ACK, dropped).
    pub out_of_window: u64,
    /// Segments received out of order (held for reassembly).
    pub out_of_order: u64,
    /// Challenge ACKs sent (RFC 5961).
    pub challenge_acks: u64,
    /// Segments dropped by PAWS (RFC 7323 5).
    pub paws_dropped: u64,
    /// Zero-window probes sent.
    pub window_probes: u64,
    /// Segments retransmitted to fill a hole the peer's SACK blocks showed.
    pub sack_retransmits: u64,
    /// Keepalive probes sent.
    pub keepalive_probes: u64,
    /// Segments received with an urgent pointer that moved the urgent mark (RFC 9293 3.8.5).
    pub urgent_received: u64,
    /// Recoveries undone because the retransmission was spurious (RFC 3522 Eifel detection).
    pub spurious_recoveries: u64,
    /// ACKs not sent in answer to out-of-window segments or unacceptable ACKs (rate limit).
    pub oow_acks_suppressed: u64,
    /// Given up in FIN-WAIT-2 after the application closed (0 or 1).
    pub fin_wait2_timeouts: u64,
    /// Reset because data arrived after the application closed (0 or 1).
    pub data_after_close: u64,
    /// Tail loss probes sent (RFC 8985 7).
    pub tail_loss_probes: u64,
    /// Retransmissions RACK found lost, and sent again (RFC 8985 6).
    pub lost_retransmits: u64,
    /// D-SACK blocks received (RFC 2883).
    pub dsacks_received: u64,
    /// D-SACK blocks sent (RFC 2883).
    pub dsacks_sent: u64,
}

/// A reset the caller should send in answer to a segment (RFC 9293 3.10.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reset {
    /// Sequence number of the RST.
    pub seq: Seq,
    /// Acknowledgment, when the RST carries one.
    pub ack: Option<Seq>,
}

/// The send sequence space (RFC 9293 3.3.1).
#[derive(Clone, Copy, Debug)]
struct SendSpace {
    /// Initial send sequence number.
    iss: Seq,
    /// Our SYN has been acknowledged. Kept as its own fact: SND.UNA equals ISS again after
    /// 2^32 - 1 bytes, so comparing the two cannot tell.
    syn_acked: bool,
    /// Oldest unacknowledged sequence number.
    una: Seq,
    /// Next sequence number to send.
    nxt: Seq,
    /// Highest sequence number sent so far (`nxt` goes back on a timeout).
    max: Seq,
    /// The peer's window, scaled.
    wnd: usize,
    /// Segment sequence number used for the last window update.
    wl1: Seq,
    /// Segment acknowledgment number used for the last window update.
    wl2: Seq,
    /// Largest window the peer has offered.
    max_wnd: usize,
    /// The peer's window scale (RFC 7323 2).
    wscale: u8,
}

/// A connection's sequence variables (RFC 9293 3.3.1), as [`Connection::sequence`] shows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sequence {
    /// ISS: our initial sequence number.
    pub iss: Seq,
    /// IRS: the peer's initial sequence number.
    pub irs: Seq,
    /// SND.UNA: oldest unacknowledged sequence number.
    pub snd_una: Seq,
    /// SND.NXT: next sequence number to send.
    pub snd_nxt: Seq,
    /// Highest sequence number sent so far (SND.NXT goes back to SND.UNA on a timeout).
    pub snd_max: Seq,
    /// RCV.NXT: next sequence number expected.
    pub rcv_nxt: Seq,
    /// Right edge of the window advertised (RCV.NXT + RCV.WND when it was sent).
    pub rcv_adv: Seq,
}

/// The receive sequence space (RFC 9293 3.3.1).
#[derive(Clone, Copy, Debug)]
struct RecvSpace {
    /// Initial receive sequence number.
    irs: Seq,
    /// Next sequence number expected.
    nxt: Seq,
    /// Right edge of the window we advertised; never moves left (RFC 9293 3.8.6.2.2).
    adv: Seq,
    /// Our window scale (RFC 7323 2).
    wscale: u8,
    /// The window our SYN announced.
    syn_window: usize,
    /// Where the peer's FIN sits, once seen. The first position seen stands: the stream ends
    /// there (see the eighth step in `input`).
    fin: Option<Seq>,
    /// RCV.NXT as acknowledged by the last ACK we sent (RFC 7323 4.3 Last.ACK.sent).
    last_ack_sent: Seq,
    /// The peer's FIN has been taken in order.
    fin_received: bool,
}

/// Loss detection and recovery (RFC 5681 3.2, RFC 6582 NewReno, RFC 6675 SACK-based recovery).
#[derive(Debug)]
struct Recovery {
    /// Duplicate ACKs in a row.
    dup_acks: u32,
    /// NewReno recovery point (RFC 6582 "recover"); `Some` while in fast recovery.
    recover: Option<Seq>,
    /// Retransmit the segment at SND.UNA at the next transmission.
    rexmit_first: bool,
    /// SACKed ranges above SND.UNA (the RFC 6675 scoreboard), sorted and merged.
    scoreboard: Assembler,
    /// Reordering tolerance in segments (the DupThresh of RFC 5681/6675), raised when a
    /// retransmission turns out to have been spurious.
    reordering: usize,
    /// The first retransmission of this recovery, for the Eifel response.
    first_rexmit: Option<FirstRetransmit>,
    /// Proportional rate reduction (RFC 6937) while recovering with SACK.
    prr: Prr,
    /// What undoes the last window reduction if D-SACKs show all its retransmissions were
    /// needless (RFC 2883 4.2, RFC 3708).
    undo: Option<Undo>,
    /// The tail loss probe in flight (RFC 8985 7).
    probe: Option<Probe>,
    /// The probe timer fired: a probe goes out at the next transmission.
    probe_due: bool,
    /// A D-SACK block to report in the next ACK (RFC 2883): data that arrived twice.
    dsack: Option<(Seq, Seq)>,
    /// F-RTO (RFC 5682) after a timeout, when timestamps cannot tell a spurious one.
    frto: Frto,
    /// New bytes F-RTO lets out whatever the congestion window (two segments, step 2b).
    frto_allowance: usize,
}

/// Where F-RTO (RFC 5682 2.1) stands after a retransmission timeout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Frto {
    /// Not running.
    #[default]
    Off,
    /// The timeout's retransmission is out; the first ACK decides (step 2). SND.MAX then.
    First(Seq),
    /// Two new segments went out instead of going back; the next ACK decides (step 3).
    Second,
}

/// Proportional rate reduction (RFC 6937): how much may be sent during a recovery, so that the
/// window comes down to ssthresh smoothly, keeping the ACK clock, instead of stopping at once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Prr {
    /// Bytes the peer reported delivered since recovery began (prr_delivered).
    delivered: usize,
    /// Bytes sent since recovery began (prr_out).
    out: usize,
    /// FlightSize when recovery began (RecoverFS).
    recover_fs: usize,
    /// What may still be sent on the latest ACK (sndcnt), counted down as segments go.
    sndcnt: usize,
}

/// The state before a window reduction, kept until D-SACKs show whether it was needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Undo {
    /// The congestion window before the reduction.
    cwnd: usize,
    /// The slow start threshold before the reduction.
    ssthresh: usize,
    /// Segments retransmitted since the reduction.
    retransmits: u32,
    /// Of those, how many D-SACKs reported as needless (the peer had them already).
    needless: u32,
}

/// A tail loss probe (RFC 8985 7): what it covered and whether it was a retransmission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Probe {
    /// Its first byte.
    start: Seq,
    /// SND.MAX once it was sent (RFC 8985 TLP.end_seq).
    end: Seq,
    /// It sent the last segment again (no new data could go).
    retransmitted: bool,
}

/// The first retransmission of a recovery, remembered so that an ACK can show it was spurious
/// (RFC 3522 Eifel detection) and the window reduction be undone (RFC 4015).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FirstRetransmit {
    /// Its sequence number.
    seq: Seq,
    /// The TSval it carried.
    tsval: u32,
    /// The congestion window before the reduction.
    cwnd: usize,
    /// The slow start threshold before the reduction.
    ssthresh: usize,
    /// How many segments had been received beyond it.
    depth: usize,
}

/// RACK loss detection (RFC 8985): loss is detected by time, so reordering shorter than the
/// reordering window is not loss.
#[derive(Debug)]
struct Rack {
    /// Data segments in flight with the time each was last sent, lowest first.
    sent: VecDeque<Sent>,
    /// Send time of the most recently sent segment known delivered (RACK.xmit_ts).
    xmit: Option<Instant>,
    /// Smallest RTT measured (RACK's min_RTT).
    min_rtt: Option<Duration>,
    /// Reordering window in quarters of min_RTT (RFC 8985 6.2 reo_wnd_mult), raised when a
    /// retransmission proves spurious.
    reo_steps: u32,
    /// Bytes delivered (acknowledged or SACKed) over the connection's life, and when that count
    /// last grew (draft-cheng-iccrg-delivery-rate-estimation C.delivered, C.delivered_time).
    delivered: u64,
    delivered_at: Instant,
    /// The send time of the latest segment known delivered (C.first_sent_time).
    first_sent_at: Instant,
    /// Until the delivery count passes this, samples are application-limited (0: they are not).
    app_limited_until: u64,
}

/// One data segment in flight, `[start, end)`, and when it was last sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Sent {
    start: Seq,
    end: Seq,
    at: Instant,
    /// Sent more than once: an ACK for it may be for an earlier copy.
    retransmitted: bool,
    /// The connection's delivery count, and when it last grew, as it was sent (for the delivery
    /// rate: [`Rack::delivered`]).
    delivered: u64,
    delivered_at: Instant,
    /// The send time of the latest segment known delivered, as it was sent.
    first_sent_at: Instant,
    /// Sent while the application had nothing more to send.
    app_limited: bool,
}

/// The segment timed for an RTT sample (RFC 6298 3, Karn's algorithm).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct RttProbe {
    /// Its sequence number: an ACK above it completes the sample.
    seq: Seq,
    /// When it was sent.
    sent: Instant,
}

/// Keepalive probing (RFC 9293 3.8.4, RFC 1122 4.2.3.6).
#[derive(Clone, Copy, Debug)]
struct Keepalive {
    /// Idle time before the first probe; off when `None`.
    idle: Option<Duration>,
    /// Probes sent since the last segment arrived.
    probes: u32,
    /// A probe is to go out at the next transmission.
    due: bool,
}

/// One connection.
#[derive(Debug)]
pub struct Connection {
    state: State,
    local: SocketAddr,
    remote: SocketAddr,
    params: Params,
    error: Option<Error>,

    snd: SendSpace,
    rcv: RecvSpace,
    /// Sequence number of the first byte in `tx`.
    tx_base: Seq,
    /// Effective send MSS: the peer's MSS less our options.
    mss: usize,
    /// The MSS at which new data goes in super-segments the device cuts (TSO): set when the
    /// device cuts segments and the peer takes full-MTU ones; 0 otherwise. A later, smaller
    /// `mss` (a path MTU) turns it off.
    tso_mss: usize,

    // Negotiated options.
    ws_ok: bool,
    ts: Option<Timestamps>,
    sack: bool,

    tx: Ring,
    rx: Ring,
    ooo: Assembler,
    /// The user has shut down the sending side: a FIN follows the data.
    fin_queued: bool,
    /// The user has closed the connection: nobody reads any more (an orphan, in Linux's word).
    orphan: bool,
    /// Sequence number our FIN took, once sent.
    fin_seq: Option<Seq>,
    nodelay: bool,

    rtt: Rtt,
    rtt_probe: Option<RttProbe>,
    cc: Cc,
    rec: Recovery,
    rack: Rack,
    /// The time of the latest input or poll, for RACK's time-based loss test.
    clock: Instant,
    retries: u32,

    /// An ACK is to go out at the next transmission (a delayed one is the
    /// [`Timer::DelayedAck`] deadline).
    ack_now: bool,
    /// Full-sized segments received since we last sent an ACK.
    unacked_segments: u32,
    timers: Timers,
    persist_backoff: u32,
    window_probe: bool,
    /// The SWS override timeout fired: a short segment may go out.
    sws_override: bool,
    last_challenge: Option<Instant>,
    /// When we last answered an out-of-window segment or an unacceptable ACK.
    last_oow_ack: Option<Instant>,
    /// When the last segment arrived.
    last_heard: Instant,
    /// When data last went out (for the restart after idle, RFC 7661 4.4.3).
    last_sent: Instant,
    keepalive: Keepalive,
    /// The connection's side of the memory budget and receive-window auto-tuning.
    mem: memory::Share,
    /// The user timeout (RFC 5482, RFC 9293 3.8.3): unacknowledged data older than this ends
    /// the connection, in place of the retransmission count.
    user_timeout: Option<Duration>,
    /// Since when the oldest unacknowledged segment has gone unacknowledged (set at the first
    /// retransmission timeout in a row).
    stalled_since: Option<Instant>,
    /// The latest soft error not yet read (MUST-47).
    soft_error: Option<SoftError>,
    /// Urgent pointers, received and to send (RFC 9293 3.8.5).
    urgent: urgent::Urgent,

    counters: Counters,
}
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Timestamps {
    /// TS.Recent (RFC 7323 4.3).
    recent: u32,
    /// When TS.Recent was last set (RFC 7323 5.5: it goes stale after 24 days).
    recent_at: Instant,
    /// Added to our millisecond clock for TSval.
    offset: u32,
}

/// Time between keepalive probes (RFC 1122 4.2.3.6 leaves it open; Linux uses 75 s).
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(75);
/// Unanswered keepalive probes before the connection is given up.
pub const KEEPALIVE_PROBES: u32 = 9;

/// Smallest time between two challenge ACKs (RFC 5961 7), or two ACKs in answer to
/// out-of-window segments or unacceptable ACKs, of one connection.
const CHALLENGE_INTERVAL: Duration = Duration::from_millis(10);
/// RFC 7323 5.5: after this long without an update, TS.Recent is no longer valid ("24 days",
/// about 2^31 ms, half the timestamp space at one tick per millisecond).
const TS_RECENT_VALID: Duration = Duration::from_secs(24 * 24 * 3600);

/// Most reordering (in segments) tolerated before loss is assumed.
const MAX_REORDERING: usize = 16;
/// How long an emptied send or receive buffer is kept before its memory is given back. An idle
/// connection holds no buffer memory; a busy one, whose buffers empty and fill many times a
/// second, keeps its storage instead of allocating and clearing it for every burst.
const BUFFER_TRIM_AFTER: Duration = Duration::from_secs(1);

/// Most quarters of min_RTT the RACK reordering window grows to (capped at SRTT anyway).
const MAX_REO_STEPS: u32 = 16;
/// Most segments tracked for RACK; beyond that, loss detection falls back to timeouts.
const MAX_TRACKED: usize = 8192;
/// Shortest probe timeout (RFC 8985 7.2 leaves the floor open; Linux's is 10 ms): on a path of
/// tens of microseconds, a probe after 2*SRTT would mostly race the ACKs already on their way.
const MIN_PTO: Duration = Duration::from_millis(10);
/// RFC 7661 4.4.3 NVP: how long a window unused stays valid; each period idle halves it.
const NON_VALIDATED_PERIOD: Duration = Duration::from_secs(300);
/// The shortest time a segment is out before RACK may call it lost by time alone (RFC 8985 6.3).
const MIN_RACK_WAIT: Duration = Duration::from_millis(1);
/// RFC 8985 7.2 WCDelAckT: the longest a receiver may delay the ACK of a lone segment.
const WORST_DELAYED_ACK: Duration = Duration::from_millis(200);

/// What the send buffer holds before the congestion window asks for more (it grows to twice
/// the window, up to the configured send buffer).
const SEND_BUFFER_START: usize = 256 * 1024;

/// Largest window a window field can announce with a shift of `scale`.
fn max_window(scale: u8) -> usize {
    65_535usize << scale
}

/// Our window scale for a receive buffer: the smallest shift that lets the field cover it.
pub(crate) fn scale_for(buffer: usize) -> u8 {
    let mut s = 0u8;
    while s < 14 && max_window(s) < buffer {
        s += 1;
    }
    s
}

impl Connection {
    fn new(state: State, local: SocketAddr, remote: SocketAddr, iss: Seq, params: Params) -> Self {
        Connection {
            state,
            local,
            remote,
            params,
            error: None,
            snd: SendSpace {
                iss,
                syn_acked: false,
                una: iss,
                nxt: iss,
                max: iss,
                wnd: 0,
                wl1: Seq(0),
                wl2: Seq(0),
                max_wnd: 0,
                wscale: 0,
            },
            rcv: RecvSpace {
                irs: Seq(0),
                nxt: Seq(0),
                adv: Seq(0),
                wscale: 0,
                syn_window: 0,
                fin: None,
                last_ack_sent: Seq(0),
                fin_received: false,
            },
            tx_base: iss + 1,
            mss: 536,
            tso_mss: 0,
            ws_ok: false,
            ts: None,
            sack: false,
            tx: Ring::new(params.tx_buffer),
            rx: Ring::new(memory::rx_ceiling(params.rx_buffer, params.window_scaling)),
            ooo: Assembler::default(),
            fin_queued: false,
            orphan: false,
            fin_seq: None,
            nodelay: params.nodelay,
            rtt: Rtt::new(params.min_rto, params.max_rto),
            rtt_probe: None,
            cc: Cc::new(params.congestion, 536),
            rec: Recovery {
                dup_acks: 0,
                recover: None,
                rexmit_first: false,
                scoreboard: Assembler::default(),
                reordering: 3,
                first_rexmit: None,
                prr: Prr::default(),
                undo: None,
                probe: None,
                probe_due: false,
                dsack: None,
                frto: Frto::Off,
                frto_allowance: 0,
            },
            rack: Rack {
                sent: VecDeque::new(),
                xmit: None,
                min_rtt: None,
                reo_steps: 1,
                delivered: 0,
                delivered_at: Instant::ZERO,
                first_sent_at: Instant::ZERO,
                app_limited_until: 0,
            },
            clock: Instant::ZERO,
            retries: 0,
            ack_now: false,
            unacked_segments: 0,
            timers: Timers::default(),
            persist_backoff: 0,
            window_probe: false,
            sws_override: false,
            last_challenge: None,
            last_oow_ack: None,
            last_heard: Instant::ZERO,
            last_sent: Instant::ZERO,
            keepalive: Keepalive {
                idle: None,
                probes: 0,
                due: false,
            },
            mem: memory::Share::new(params.rx_buffer),
            user_timeout: None,
            stalled_since: None,
            soft_error: None,
            urgent: urgent::Urgent::default(),
            counters: Counters::default(),
        }
    }

    /// An active open (RFC 9293 3.10.1): the SYN goes out at the next `poll_transmit`.
    pub fn connect(
        local: SocketAddr,
        remote: SocketAddr,
        iss: Seq,
        ts_offset: u32,
        params: Params,
    ) -> Self {
        let mut c = Connection::new(State::SynSent, local, remote, iss, params);
        c.rcv.wscale = if params.window_scaling {
            scale_for(params.rx_buffer)
        } else {
            0
        };
        if params.timestamps {
            c.ts = Some(Timestamps {
                recent: 0,
                recent_at: Instant::ZERO,
                offset: ts_offset,
            });
        }
        c.sack = params.sack;
        c
    }

    /// A passive open: a listener got `syn` (RFC 9293 3.10.7.2, "third check for a SYN").
    pub fn accept(
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        iss: Seq,
        ts_offset: u32,
        syn: &Repr,
        params: Params,
    ) -> Self {
        let mut c = Connection::new(State::SynReceived, local, remote, iss, params);
        c.clock = now;
        c.rcv.irs = syn.seq;
        c.rcv.nxt = syn.seq + 1;
        c.negotiate(syn, ts_offset);
        c.snd.wnd = usize::from(syn.window);
        c.snd.wl1 = syn.seq;
        c.snd.wl2 = iss;
        c.snd.max_wnd = c.snd.wnd;
        c.counters.segments_in = 1;
        c.rcv.adv = c.rcv.nxt;
        c
    }

    /// A connection rebuilt from a valid SYN cookie (RFC 4987 3.6): the SYN,ACK was sent without
    /// keeping state, so only what the cookie encodes is known: the peer's MSS class and, when
    /// timestamps were on, its window scale and SACK-permitted (`syn_options`, whose TSval is
    /// the ACK's). The caller then hands it the ACK that carried the cookie.
    pub fn from_cookie(
        local: SocketAddr,
        remote: SocketAddr,
        iss: Seq,
        irs: Seq,
        syn_options: &Options,
        ts_offset: u32,
        params: Params,
    ) -> Self {
        let mut c = Connection::new(State::SynReceived, local, remote, iss, params);
        c.rcv.irs = irs;
        c.rcv.nxt = irs + 1;
        // The cookie SYN,ACK acknowledged the SYN (RFC 7323 4.3 updates TS.Recent from there).
        c.rcv.last_ack_sent = c.rcv.nxt;
        let syn = Repr {
            seq: irs,
            options: *syn_options,
            ..Repr::default()
        };
        c.negotiate(&syn, ts_offset);
        // Our SYN,ACK is out (it was the cookie), and the window we offered in it was at most
        // 65535 unscaled.
        c.snd.nxt = iss + 1;
        c.snd.max = iss + 1;
        c.rcv.adv = c.rcv.nxt + c.rx.capacity().min(65_535);
        c.snd.wl1 = irs;
        c.snd.wl2 = iss;
        c
    }

    /// Applies the options of the peer's SYN: MSS (RFC 9293 3.7.1), window scale and
    /// timestamps (RFC 7323: only if both sides send them), SACK permitted (RFC 2018).
    fn negotiate(&mut self, syn: &Repr, ts_offset: u32) {
        let o = &syn.options;
        // RFC 9293 3.7.1 (MUST-15): without the option, "a default send MSS of 536 (576 - 40)
        // for IPv4 or 1220 (1280 - 60) for IPv6".
        let default_mss = match self.remote {
            SocketAddr::V4(_) => 536,
            SocketAddr::V6(_) => 1220,
        };
        let peer_mss = usize::from(o.mss.unwrap_or(default_mss)).max(64);
        self.ws_ok = self.params.window_scaling && o.window_scale.is_some();
        match (self.params.window_scaling, o.window_scale) {
            (true, Some(theirs)) => {
                self.snd.wscale = theirs;
                if self.state == State::SynReceived {
                    self.rcv.wscale = scale_for(self.params.rx_buffer);
                }
            }
            _ => {
                self.snd.wscale = 0;
                self.rcv.wscale = 0;
            }
        }
        self.ts = match (self.params.timestamps, o.timestamps) {
            (true, Some((val, _))) => Some(Timestamps {
                recent: val,
                recent_at: self.clock,
                offset: ts_offset,
            }),
            _ => None,
        };
        self.sack = self.params.sack && o.sack_permitted;
        let option_room = if self.ts.is_some() { 12 } else { 0 };
        self.mss = peer_mss
            .min(usize::from(self.params.mss))
            .saturating_sub(option_room)
            .max(32);
        self.tso_mss = if self.params.tso_max > self.mss && peer_mss >= usize::from(self.params.mss)
        {
            self.mss
        } else {
            0
        };
        self.cc = Cc::new(self.params.congestion, self.mss);
    }

    /// The state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The send and receive sequence variables (RFC 9293 3.3.1), for checks from outside.
    pub fn sequence(&self) -> Sequence {
        Sequence {
            iss: self.snd.iss,
            irs: self.rcv.irs,
            snd_una: self.snd.una,
            snd_nxt: self.snd.nxt,
            snd_max: self.snd.max,
            rcv_nxt: self.rcv.nxt,
            rcv_adv: self.rcv.adv,
        }
    }

    /// Why the connection failed, if it did.
    pub fn error(&self) -> Option<Error> {
        self.error
    }

    /// Local address and port.
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// Remote address and port.
    pub fn remote(&self) -> SocketAddr {
        self.remote
    }

    /// Counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Smoothed RTT, once measured.
    pub fn srtt(&self) -> Option<Duration> {
        self.rtt.srtt()
    }

    /// Current retransmission timeout.
    pub fn rto(&self) -> Duration {
        self.rtt.rto()
    }

    /// Congestion window in bytes.
    pub fn cwnd(&self) -> usize {
        self.cc.cwnd()
    }

    /// Slow start threshold in bytes.
    pub fn ssthresh(&self) -> usize {
        self.cc.ssthresh()
    }

    /// RTT variation (RFC 6298 RTTVAR).
    pub fn rttvar(&self) -> Duration {
        self.rtt.rttvar()
    }

    /// Bytes sent and not yet acknowledged (SND.MAX - SND.UNA).
    pub fn bytes_in_flight(&self) -> usize {
        self.flight()
    }

    /// Ranges on the SACK scoreboard: what the peer holds above SND.UNA (RFC 6675).
    pub fn sack_ranges(&self) -> usize {
        self.rec.scoreboard.ranges().len()
    }

    /// True during loss recovery (until SND.MAX at its start is acknowledged, RFC 6582).
    pub fn in_recovery(&self) -> bool {
        self.rec.recover.is_some()
    }

    /// Reordering tolerated before loss is assumed, in segments.
    pub fn reordering(&self) -> usize {
        self.rec.reordering
    }

    /// Effective send MSS.
    pub fn mss(&self) -> usize {
        self.mss
    }

    /// The most new data one segment carries: a run of whole MSS-sized segments when the
    /// device cuts them (TSO), else one MSS.
    pub(super) fn send_limit(&self) -> usize {
        if self.tso_mss > 0 && self.tso_mss == self.mss {
            self.params.tso_max / self.mss * self.mss
        } else {
            self.mss
        }
    }

    /// The peer's window in bytes.
    pub fn send_window(&self) -> usize {
        self.snd.wnd
    }

    /// True when SACK was negotiated.
    pub fn sack_enabled(&self) -> bool {
        self.sack
    }

    /// True when timestamps were negotiated.
    pub fn timestamps_enabled(&self) -> bool {
        self.ts.is_some()
    }

    /// Bytes of buffer storage allocated now.
    pub fn buffer_memory(&self) -> usize {
        self.tx.allocated() + self.rx.allocated()
    }

    /// True while data received out of order waits for a gap to fill.
    pub fn holds_out_of_order(&self) -> bool {
        !self.ooo.is_empty()
    }

    /// Bytes waiting to be read.
    pub fn recv_queue(&self) -> usize {
        self.rx.len()
    }

    /// Bytes queued to send (unacknowledged included).
    pub fn send_queue(&self) -> usize {
        self.tx.len()
    }

    /// Room for more data to send: the send buffer holds twice the congestion window (as
    /// Linux's does), so that a long fat path is never short of data in flight, and at least
    /// 256 KiB; never more than the configured send buffer, nor beyond the memory allowance.
    pub fn send_capacity(&self) -> usize {
        if self.fin_queued {
            0
        } else {
            let target = (2 * self.cc.cwnd())
                .max(SEND_BUFFER_START)
                .min(self.params.tx_buffer);
            self.tx.free().min(target.saturating_sub(self.tx.len()))
        }
    }

    /// Turns Nagle's algorithm off (`true`) or on.
    pub fn set_nodelay(&mut self, nodelay: bool) {
        self.nodelay = nodelay;
    }

    /// True when the user may still send.
    pub fn may_send(&self) -> bool {
        matches!(
            self.state,
            State::SynSent | State::SynReceived | State::Established | State::CloseWait
        ) && !self.fin_queued
    }

    /// True when no more data will arrive (FIN received, or the connection is gone).
    pub fn recv_finished(&self) -> bool {
        matches!(
            self.state,
            State::CloseWait | State::LastAck | State::Closing | State::TimeWait | State::Closed
        )
    }

    /// Queues data; returns how much fit.
    pub fn send(&mut self, data: &[u8]) -> usize {
        if !self.may_send() {
            return 0;
        }
        let room = self.send_capacity();
        self.tx
            .push(data.get(..room.min(data.len())).unwrap_or_default())
    }

    /// Reads received data in order; returns how much.
    pub fn recv(&mut self, out: &mut [u8]) -> usize {
        let before = self.advertisable();
        let n = self.rx.read(out);
        self.on_app_read(n);
        if self.rx.is_empty() && self.rx.allocated() > 0 {
            if self.state == State::TimeWait {
                // Nothing more will arrive: TIME-WAIT holds no buffers.
                self.rx.shrink_if_empty();
            } else {
                self.arm_trim();
            }
        }
        // RFC 9293 3.8.6.2.2: tell the peer once the window has grown by min(buffer/2, MSS).
        let grown = self.advertisable().saturating_sub(before);
        if n > 0 && self.state.synchronized() && self.window_update_worth(grown) {
            self.ack_now = true;
        }
        n
    }

    /// Closes the sending side (RFC 9293 3.10.4, CLOSE call): a FIN follows the queued data.
    pub fn shutdown(&mut self) {
        match self.state {
            // Data the user already queued is not thrown away unannounced: it goes after the
            // handshake, then the FIN, as in SYN-RECEIVED below. With nothing queued, RFC 9293
            // 3.10.4, SYN-SENT: "Delete the TCB".
            State::SynSent if !self.tx.is_empty() => self.fin_queued = true,
            State::SynSent => self.close_with(None),
            // RFC 9293 3.10.4, SYN-RECEIVED: "If no SENDs have been issued and there is no
            // pending data to send, then form a FIN segment and send it, and enter FIN-WAIT-1
            // state; otherwise, queue for processing after entering ESTABLISHED state."
            State::SynReceived if self.tx.is_empty() => {
                self.fin_queued = true;
                self.state = State::FinWait1;
            }
            State::SynReceived => self.fin_queued = true,
            State::Established => {
                self.fin_queued = true;
                self.state = State::FinWait1;
            }
            State::CloseWait => {
                self.fin_queued = true;
                self.state = State::LastAck;
            }
            _ => {}
        }
    }

    /// The application closes the connection (RFC 9293 3.10.4 CLOSE) and will neither send nor
    /// read any more: a FIN follows the queued data, as with [`Connection::shutdown`]; data
    /// that arrives from now on is answered with a RST (RFC 1122 4.2.2.13), and FIN-WAIT-2 lasts
    /// at most `fin_timeout`.
    pub fn close(&mut self) {
        self.shutdown();
        self.orphan = true;
        if self.state == State::FinWait2 {
            self.arm_fin_timeout();
        }
    }

    /// True once the application has closed the connection.
    pub fn is_orphan(&self) -> bool {
        self.orphan
    }

    /// Aborts (RFC 9293 3.10.5): returns the RST to send, if the peer knows of us.
    pub fn abort(&mut self) -> Option<Reset> {
        let rst = match self.state {
            State::SynReceived
            | State::Established
            | State::FinWait1
            | State::FinWait2
            | State::CloseWait => Some(Reset {
                seq: self.snd.max,
                ack: None,
            }),
            _ => None,
        };
        self.close_with(Some(Error::Aborted));
        rst
    }

    fn close_with(&mut self, error: Option<Error>) {
        self.state = State::Closed;
        if self.error.is_none() {
            self.error = error;
        }
        self.timers.set(Timer::Retransmit, None);
        self.timers.set(Timer::Persist, None);
        self.timers.set(Timer::TimeWait, None);
        self.timers.set(Timer::FinWait2, None);
        self.ack_done();
        self.tx = Ring::new(self.params.tx_buffer);
    }

    /// Turns keepalive probing on after `idle` without a segment, or off (`None`).
    pub fn set_keepalive(&mut self, idle: Option<Duration>) {
        self.keepalive.idle = idle;
        self.keepalive.probes = 0;
    }

    fn ts_now(&self, now: Instant) -> Option<u32> {
        self.ts
            .map(|t| (now.millis() as u32).wrapping_add(t.offset))
    }
}

#[cfg(test)]
mod tests;
