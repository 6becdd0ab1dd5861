//! One TCP connection: the transmission control block and its state machine (RFC 9293 3.3.2,
//! event processing 3.10).
//!
//! Input is [`Connection::on_segment`], following RFC 9293 3.10.7.4 step by step ("first check
//! sequence number", "second check the RST bit", ...). Output is [`Connection::poll_transmit`],
//! which produces at most one segment per call: a SYN, a retransmission, new data, a FIN, or an
//! ACK, in that order of preference. Timers (retransmission, delayed ACK, persist, TIME-WAIT)
//! are deadlines reported by [`Connection::poll_at`].

use std::collections::VecDeque;

use core::fmt;
use core::net::SocketAddr;
use core::time::Duration;

use super::buffer::{Assembler, Ring};
use super::congestion::{Algorithm, Cc, Controller};
use super::rtt::Rtt;
use super::segment::{Flags, Options, Repr};
use super::seq::Seq;
use crate::time::Instant;

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
    /// Retransmissions of one segment before the connection is given up.
    pub max_retries: u32,
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
    /// Recoveries undone because the retransmission was spurious (RFC 3522 Eifel detection).
    pub spurious_recoveries: u64,
}

/// A reset the caller should send in answer to a segment (RFC 9293 3.10.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reset {
    /// Sequence number of the RST.
    pub seq: Seq,
    /// Acknowledgment, when the RST carries one.
    pub ack: Option<Seq>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AckDue {
    No,
    Delayed(Instant),
    Now,
}

/// One connection.
#[derive(Debug)]
pub struct Connection {
    state: State,
    local: SocketAddr,
    remote: SocketAddr,
    params: Params,
    error: Option<Error>,

    // Send sequence space (RFC 9293 3.3.1).
    iss: Seq,
    snd_una: Seq,
    snd_nxt: Seq,
    /// Highest sequence number sent so far (snd_nxt goes back on a timeout).
    snd_max: Seq,
    snd_wnd: usize,
    snd_wl1: Seq,
    snd_wl2: Seq,
    max_snd_wnd: usize,
    snd_wscale: u8,
    /// Sequence number of the first byte in `tx`.
    tx_base: Seq,
    /// Effective send MSS: the peer's MSS less our options.
    mss: usize,

    // Receive sequence space.
    irs: Seq,
    rcv_nxt: Seq,
    /// Right edge of the window we advertised; never moves left (RFC 9293 3.8.6.2.2).
    rcv_adv: Seq,
    rcv_wscale: u8,
    /// The window our SYN announced.
    syn_window: usize,
    rx_fin: Option<Seq>,
    fin_received: bool,

    // Negotiated options.
    ws_ok: bool,
    ts: Option<Timestamps>,
    sack: bool,

    tx: Ring,
    rx: Ring,
    ooo: Assembler,
    /// The user has shut down the sending side: a FIN follows the data.
    fin_queued: bool,
    /// Sequence number our FIN took, once sent.
    fin_seq: Option<Seq>,
    nodelay: bool,

    rtt: Rtt,
    rtt_probe: Option<(Seq, Instant)>,
    cc: Cc,
    dup_acks: u32,
    /// NewReno recovery point (RFC 6582 "recover"); `Some` while in fast recovery.
    recovery: Option<Seq>,
    /// Retransmit the segment at SND.UNA at the next transmission.
    rexmit_first: bool,
    /// SACKed ranges above SND.UNA (the RFC 6675 scoreboard), sorted and merged.
    scoreboard: Assembler,
    /// Highest sequence number retransmitted in the current recovery (RFC 6675 HighRxt).
    high_rxt: Seq,
    /// Reordering tolerance in segments (the DupThresh of RFC 5681/6675), raised when a
    /// retransmission turns out to have been spurious.
    reordering: usize,
    /// The first retransmission of this recovery: its sequence number, the TSval it carried,
    /// the window before the reduction (for the Eifel response, RFC 3522/4015), and how many
    /// segments had been received beyond it.
    first_rexmit: Option<(Seq, u32, usize, usize, usize)>,
    /// Data segments in flight with the time each was last sent, lowest first (RFC 8985
    /// RACK: loss is detected by time, so reordering shorter than `reo_wnd` is not loss).
    sent: VecDeque<(Seq, Seq, Instant)>,
    /// Send time of the most recently sent segment known delivered (RACK.xmit_ts).
    rack_xmit: Option<Instant>,
    /// Smallest RTT measured (RACK's min_RTT).
    min_rtt: Option<Duration>,
    /// Reordering window in quarters of min_RTT (RFC 8985 6.2 reo_wnd_mult), raised when a
    /// retransmission proves spurious.
    reo_steps: u32,
    /// The time of the latest input or poll, for RACK's time-based loss test.
    clock: Instant,
    /// When emptied buffers are given back (see [`BUFFER_TRIM_AFTER`]).
    trim_at: Option<Instant>,
    retries: u32,

    ack_due: AckDue,
    /// Full-sized segments received since we last sent an ACK.
    unacked_segments: u32,
    rto_at: Option<Instant>,
    persist_at: Option<Instant>,
    persist_backoff: u32,
    window_probe: bool,
    /// The SWS override timeout fired: a short segment may go out.
    sws_override: bool,
    time_wait_at: Option<Instant>,
    last_challenge: Option<Instant>,
    /// Keepalive idle time (RFC 9293 3.8.4); off when `None`.
    keepalive: Option<Duration>,
    /// When the last segment arrived.
    last_heard: Instant,
    /// Keepalive probes sent since then.
    keepalive_probes: u32,
    keepalive_due: bool,

    counters: Counters,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Timestamps {
    /// TS.Recent (RFC 7323 4.3).
    recent: u32,
    /// Added to our millisecond clock for TSval.
    offset: u32,
}

/// Time between keepalive probes (RFC 1122 4.2.3.6 leaves it open; Linux uses 75 s).
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(75);
/// Unanswered keepalive probes before the connection is given up.
pub const KEEPALIVE_PROBES: u32 = 9;

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

/// Largest window a window field can announce with a shift of `scale`.
fn max_window(scale: u8) -> usize {
    65_535usize << scale
}

/// Our window scale for a receive buffer: the smallest shift that lets the field cover it.
fn scale_for(buffer: usize) -> u8 {
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
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_max: iss,
            snd_wnd: 0,
            snd_wl1: Seq(0),
            snd_wl2: Seq(0),
            max_snd_wnd: 0,
            snd_wscale: 0,
            tx_base: iss + 1,
            mss: 536,
            irs: Seq(0),
            rcv_nxt: Seq(0),
            rcv_adv: Seq(0),
            rcv_wscale: 0,
            syn_window: 0,
            rx_fin: None,
            fin_received: false,
            ws_ok: false,
            ts: None,
            sack: false,
            tx: Ring::new(params.tx_buffer),
            rx: Ring::new(params.rx_buffer),
            ooo: Assembler::default(),
            fin_queued: false,
            fin_seq: None,
            nodelay: params.nodelay,
            rtt: Rtt::new(params.min_rto, params.max_rto),
            rtt_probe: None,
            cc: Cc::new(params.congestion, 536),
            dup_acks: 0,
            recovery: None,
            rexmit_first: false,
            scoreboard: Assembler::default(),
            high_rxt: Seq(0),
            reordering: 3,
            first_rexmit: None,
            sent: VecDeque::new(),
            rack_xmit: None,
            min_rtt: None,
            reo_steps: 1,
            clock: Instant::ZERO,
            trim_at: None,
            retries: 0,
            ack_due: AckDue::No,
            unacked_segments: 0,
            rto_at: None,
            persist_at: None,
            persist_backoff: 0,
            window_probe: false,
            sws_override: false,
            time_wait_at: None,
            last_challenge: None,
            keepalive: None,
            last_heard: Instant::ZERO,
            keepalive_probes: 0,
            keepalive_due: false,
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
        c.rcv_wscale = if params.window_scaling {
            scale_for(params.rx_buffer)
        } else {
            0
        };
        if params.timestamps {
            c.ts = Some(Timestamps {
                recent: 0,
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
        c.irs = syn.seq;
        c.rcv_nxt = syn.seq + 1;
        c.negotiate(syn, ts_offset);
        c.snd_wnd = usize::from(syn.window);
        c.snd_wl1 = syn.seq;
        c.snd_wl2 = iss;
        c.max_snd_wnd = c.snd_wnd;
        c.counters.segments_in = 1;
        c.rcv_adv = c.rcv_nxt;
        let _ = now;
        c
    }

    /// A connection rebuilt from a valid SYN cookie (RFC 4987 3.6): the SYN,ACK was sent without
    /// keeping state, so only what the cookie encodes is known: the peer's MSS. Window scaling,
    /// timestamps and SACK are off. The caller then hands it the ACK that carried the cookie.
    pub fn from_cookie(
        local: SocketAddr,
        remote: SocketAddr,
        iss: Seq,
        irs: Seq,
        mss: u16,
        params: Params,
    ) -> Self {
        let params = Params {
            window_scaling: false,
            timestamps: false,
            sack: false,
            ..params
        };
        let mut c = Connection::new(State::SynReceived, local, remote, iss, params);
        c.irs = irs;
        c.rcv_nxt = irs + 1;
        let syn = Repr {
            seq: irs,
            options: Options {
                mss: Some(mss),
                ..Options::default()
            },
            ..Repr::default()
        };
        c.negotiate(&syn, 0);
        // Our SYN,ACK is out (it was the cookie), and the window we offered in it was at most
        // 65535 unscaled.
        c.snd_nxt = iss + 1;
        c.snd_max = iss + 1;
        c.rcv_adv = c.rcv_nxt + c.rx.capacity().min(65_535);
        c.snd_wl1 = irs;
        c.snd_wl2 = iss;
        c
    }

    /// Applies the options of the peer's SYN: MSS (RFC 9293 3.7.1, default 536), window scale
    /// and timestamps (RFC 7323: only if both sides send them), SACK permitted (RFC 2018).
    fn negotiate(&mut self, syn: &Repr, ts_offset: u32) {
        let o = &syn.options;
        let peer_mss = usize::from(o.mss.unwrap_or(536)).max(64);
        self.ws_ok = self.params.window_scaling && o.window_scale.is_some();
        match (self.params.window_scaling, o.window_scale) {
            (true, Some(theirs)) => {
                self.snd_wscale = theirs;
                if self.state == State::SynReceived {
                    self.rcv_wscale = scale_for(self.params.rx_buffer);
                }
            }
            _ => {
                self.snd_wscale = 0;
                self.rcv_wscale = 0;
            }
        }
        self.ts = match (self.params.timestamps, o.timestamps) {
            (true, Some((val, _))) => Some(Timestamps {
                recent: val,
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
        self.cc = Cc::new(self.params.congestion, self.mss);
    }

    /// The state.
    pub fn state(&self) -> State {
        self.state
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

    /// Reordering tolerated before loss is assumed, in segments.
    pub fn reordering(&self) -> usize {
        self.reordering
    }

    /// Effective send MSS.
    pub fn mss(&self) -> usize {
        self.mss
    }

    /// The peer's window in bytes.
    pub fn send_window(&self) -> usize {
        self.snd_wnd
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

    /// True when `seg` carries data that continues exactly where the received stream stands,
    /// with nothing out of order held, on an established connection: the routine case whose
    /// acknowledgement can wait for the end of a batch of received segments.
    pub fn is_in_order_data(&self, seg: &Repr, payload_len: usize) -> bool {
        self.state == State::Established
            && payload_len > 0
            && !seg.flags.syn
            && !seg.flags.fin
            && !seg.flags.rst
            && seg.seq == self.rcv_nxt
            && self.ooo.is_empty()
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

    /// Room for more data to send.
    pub fn send_capacity(&self) -> usize {
        if self.fin_queued {
            0
        } else {
            self.tx.free()
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
        self.tx.push(data)
    }

    /// Reads received data in order; returns how much.
    pub fn recv(&mut self, out: &mut [u8]) -> usize {
        let before = self.advertisable();
        let n = self.rx.read(out);
        if self.rx.is_empty() && self.rx.allocated() > 0 {
            self.arm_trim();
        }
        // RFC 9293 3.8.6.2.2: tell the peer once the window has grown by min(buffer/2, MSS).
        let grown = self.advertisable().saturating_sub(before);
        if n > 0 && self.state.synchronized() && self.window_update_worth(grown) {
            self.ack_due = AckDue::Now;
        }
        n
    }

    fn window_update_worth(&self, _grown: usize) -> bool {
        let open = self.advertisable();
        let current = self.rcv_adv.since(self.rcv_nxt);
        open >= current + (self.rx.capacity() / 2).min(self.mss.max(1))
    }

    /// Closes the sending side (RFC 9293 3.10.4, CLOSE call): a FIN follows the queued data.
    pub fn shutdown(&mut self) {
        match self.state {
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

    /// Aborts (RFC 9293 3.10.5): returns the RST to send, if the peer knows of us.
    pub fn abort(&mut self) -> Option<Reset> {
        let rst = match self.state {
            State::SynReceived
            | State::Established
            | State::FinWait1
            | State::FinWait2
            | State::CloseWait => Some(Reset {
                seq: self.snd_max,
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
        self.rto_at = None;
        self.persist_at = None;
        self.time_wait_at = None;
        self.ack_due = AckDue::No;
        self.tx = Ring::new(self.params.tx_buffer);
    }

    /// An ICMP error about this connection (RFC 9293 3.9.2.4 / RFC 5461): a hard error during
    /// the handshake aborts it.
    pub fn on_icmp_unreachable(&mut self) {
        if self.state == State::SynSent {
            self.close_with(Some(Error::Refused));
        }
    }

    /// ICMP "fragmentation needed" with the next-hop MTU (RFC 1191): segments shrink to fit.
    pub fn on_path_mtu(&mut self, mtu: u16) {
        // 68 is the smallest MTU IPv4 allows (RFC 791); below 576 a router is lying or broken.
        let mtu = usize::from(mtu).max(576);
        let option_room = if self.ts.is_some() { 12 } else { 0 };
        let mss = mtu.saturating_sub(40 + option_room);
        if mss < self.mss {
            self.mss = mss;
        }
    }

    /// Turns keepalive probing on after `idle` without a segment, or off (`None`).
    pub fn set_keepalive(&mut self, idle: Option<Duration>) {
        self.keepalive = idle;
        self.keepalive_probes = 0;
    }

    fn keepalive_at(&self) -> Option<Instant> {
        let idle = self.keepalive?;
        if self.state != State::Established || self.snd_una != self.snd_max {
            return None;
        }
        Some(self.last_heard + idle + KEEPALIVE_INTERVAL.saturating_mul(self.keepalive_probes))
    }

    fn ts_now(&self, now: Instant) -> Option<u32> {
        self.ts
            .map(|t| (now.millis() as u32).wrapping_add(t.offset))
    }

    /// The window we could advertise now: free buffer, less out-of-order data held beyond it.
    fn advertisable(&self) -> usize {
        self.rx.free().min(max_window(self.rcv_wscale))
    }

    /// The window field to send, keeping the right edge from moving left.
    fn window_field(&mut self, syn: bool) -> u16 {
        if syn {
            // RFC 7323 2.2: the window of a SYN is never scaled. In an active open RCV.NXT is
            // not known yet: the edge is set from `syn_window` once the SYN,ACK arrives.
            let w = self.advertisable().min(65_535);
            self.syn_window = w;
            self.rcv_adv = self.rcv_nxt + w;
            return w as u16;
        }
        let shift = self.rcv_wscale;
        let mut wnd = self.advertisable();
        let current = self.rcv_adv.since(self.rcv_nxt);
        // Receiver SWS avoidance: keep the old edge unless the window grows by enough.
        if wnd < current + (self.rx.capacity() / 2).min(self.mss) {
            wnd = current;
        }
        let field = (wnd >> shift).min(65_535);
        let edge = self.rcv_nxt + (field << shift);
        if edge > self.rcv_adv {
            self.rcv_adv = edge;
        }
        // Rounded down: the peer never sees more room than there is (RFC 7323 2.4).
        (self.rcv_adv.since(self.rcv_nxt) >> shift).min(65_535) as u16
    }

    fn base_repr(&mut self, now: Instant, seq: Seq, flags: Flags) -> Repr {
        let window = self.window_field(flags.syn);
        let mut options = Options::default();
        if let (Some(ts), Some(val)) = (self.ts, self.ts_now(now)) {
            options.timestamps = Some((val, if flags.ack { ts.recent } else { 0 }));
        }
        // RFC 2018 4: every ACK carries SACK blocks while out-of-order data is held (three fit
        // beside timestamps, four without).
        if flags.ack && self.sack && !self.ooo.is_empty() {
            let room = if options.timestamps.is_some() { 3 } else { 4 };
            for (l, r) in self.ooo.sack_blocks(room) {
                options.sack.push(l, r);
            }
        }
        Repr {
            src_port: self.local.port(),
            dst_port: self.remote.port(),
            seq,
            ack: if flags.ack { self.rcv_nxt } else { Seq(0) },
            flags,
            window,
            options,
        }
    }

    fn syn_repr(&mut self, now: Instant) -> Repr {
        // Everything but an active open's own SYN acknowledges the peer's.
        let ack = self.state != State::SynSent;
        let mut r = self.base_repr(
            now,
            self.iss,
            Flags {
                syn: true,
                ack,
                ..Flags::default()
            },
        );
        r.options.mss = Some(self.params.mss);
        let offer_ws = if ack {
            self.ws_ok
        } else {
            self.params.window_scaling
        };
        if offer_ws {
            r.options.window_scale = Some(self.rcv_wscale);
        }
        r.options.sack_permitted = self.sack;
        if ack && self.ts.is_none() {
            r.options.timestamps = None;
        }
        r
    }

    /// RFC 9293 3.10.7.3 SYN-SENT and 3.10.7.4 for the other states. Returns a RST to send when
    /// the segment calls for one.
    pub fn on_segment(&mut self, now: Instant, seg: &Repr, payload: &[u8]) -> Option<Reset> {
        self.counters.segments_in += 1;
        self.clock = now;
        self.last_heard = now;
        self.keepalive_probes = 0;
        match self.state {
            State::Closed | State::Listen => None,
            State::SynSent => self.on_segment_syn_sent(now, seg, payload),
            _ => self.on_segment_synchronized(now, seg, payload),
        }
    }

    fn on_segment_syn_sent(&mut self, now: Instant, seg: &Repr, payload: &[u8]) -> Option<Reset> {
        let f = seg.flags;
        // "first check the ACK bit": acceptable only if ISS < SEG.ACK =< SND.NXT.
        if f.ack && !(seg.ack > self.iss && seg.ack <= self.snd_max) {
            return if f.rst {
                None
            } else {
                Some(Reset {
                    seq: seg.ack,
                    ack: None,
                })
            };
        }
        // "second check the RST bit": with an acceptable ACK, "error: connection reset".
        if f.rst {
            if f.ack {
                self.close_with(Some(Error::Refused));
            }
            return None;
        }
        // "fourth check the SYN bit".
        if !f.syn {
            return None;
        }
        self.irs = seg.seq;
        self.rcv_nxt = seg.seq + 1;
        self.rcv_adv = self.rcv_nxt + self.syn_window;
        let ts_offset = self.ts.map_or(0, |t| t.offset);
        self.negotiate(seg, ts_offset);
        self.snd_wnd = usize::from(seg.window);
        self.snd_wl1 = seg.seq;
        self.snd_wl2 = seg.ack;
        self.max_snd_wnd = self.snd_wnd;
        if f.ack {
            // Our SYN is acknowledged: ESTABLISHED, answer with an ACK.
            self.snd_una = seg.ack;
            self.on_rtt_sample(now, seg);
            self.after_handshake_timeouts();
            self.rto_at = None;
            self.state = State::Established;
            self.ack_due = AckDue::Now;
            // RFC 9293 3.10.7.3: "continue processing at the sixth step": data on the SYN,ACK.
            if !payload.is_empty() {
                self.accept_data(now, seg.seq + 1, payload);
            }
            if f.fin {
                self.rx_fin = Some(seg.seq + 1 + payload.len());
                self.try_consume_fin(now);
            }
        } else {
            // Simultaneous open: SYN-RECEIVED, send SYN,ACK.
            self.state = State::SynReceived;
            self.snd_nxt = self.iss;
        }
        None
    }

    fn on_segment_synchronized(
        &mut self,
        now: Instant,
        seg: &Repr,
        payload: &[u8],
    ) -> Option<Reset> {
        let f = seg.flags;
        let mut seq = seg.seq;
        let mut data = payload;
        let mut fin = f.fin;
        let mut syn = f.syn;

        // The peer's SYN again: our SYN,ACK was lost; send it again (as Linux does) rather than
        // only the ACK the sequence check would give.
        if self.state == State::SynReceived && f.syn && !f.ack && !f.rst && seg.seq == self.irs {
            self.snd_nxt = self.iss;
            return None;
        }

        // RFC 7323 5.3 R1: PAWS. A segment whose TSval is older than TS.Recent is a duplicate
        // from an earlier incarnation of the sequence space.
        if let (Some(ts), Some((val, _))) = (self.ts, seg.options.timestamps) {
            if !f.rst && (val.wrapping_sub(ts.recent) as i32) < 0 && self.state.synchronized() {
                self.counters.paws_dropped += 1;
                self.ack_due = AckDue::Now;
                return None;
            }
        }

        // "first check sequence number" (RFC 9293 3.10.7.4, the four acceptability cases).
        let seg_len = data.len() + usize::from(syn) + usize::from(fin);
        let wnd = self.rcv_adv.since(self.rcv_nxt);
        let acceptable = match (seg_len, wnd) {
            (0, 0) => seq == self.rcv_nxt,
            (0, _) => seq.in_range(self.rcv_nxt, self.rcv_nxt + wnd),
            (_, 0) => false,
            (n, _) => {
                seq.in_range(self.rcv_nxt, self.rcv_nxt + wnd)
                    || (seq + (n - 1)).in_range(self.rcv_nxt, self.rcv_nxt + wnd)
            }
        };
        if !acceptable {
            // A zero-window probe, or an old duplicate: answer with an ACK unless it is a RST.
            if !f.rst {
                self.counters.out_of_window += 1;
                self.ack_due = AckDue::Now;
                if self.state == State::TimeWait && fin {
                    self.restart_time_wait(now);
                }
            }
            return None;
        }
        // Trim to the window: what lies before RCV.NXT has been received already.
        if seq < self.rcv_nxt {
            let mut skip = self.rcv_nxt.since(seq);
            if syn {
                syn = false;
                skip -= 1;
                seq += 1;
            }
            let cut = skip.min(data.len());
            data = data.get(cut..).unwrap_or_default();
            seq += cut;
        }
        let room = (self.rcv_nxt + wnd).since(seq);
        if data.len() > room {
            data = data.get(..room).unwrap_or_default();
            fin = false;
        }

        // "second check the RST bit" with RFC 5961 3.2: only an exact match resets.
        if f.rst {
            if seg.seq == self.rcv_nxt {
                let err = if self.state == State::SynReceived {
                    Error::Refused
                } else {
                    Error::Reset
                };
                self.close_with(Some(err));
            } else {
                self.challenge_ack(now);
            }
            return None;
        }

        // "fourth check the SYN bit": in a synchronized state, RFC 5961 4.2 challenge ACK.
        if syn {
            if self.state == State::SynReceived {
                // A retransmitted SYN: our SYN,ACK may be lost; send it again.
                self.snd_nxt = self.iss;
                return None;
            }
            self.challenge_ack(now);
            return None;
        }

        // "fifth check the ACK field".
        if !f.ack {
            return None;
        }
        if self.state == State::SynReceived {
            if seg.ack > self.snd_una && seg.ack <= self.snd_max {
                self.after_handshake_timeouts();
                // A close during SYN-RECEIVED takes effect now (RFC 9293 3.10.4).
                self.state = if self.fin_queued {
                    State::FinWait1
                } else {
                    State::Established
                };
                self.snd_wnd = usize::from(seg.window) << self.snd_wscale;
                self.snd_wl1 = seg.seq;
                self.snd_wl2 = seg.ack;
                self.max_snd_wnd = self.snd_wnd;
            } else {
                return Some(Reset {
                    seq: seg.ack,
                    ack: None,
                });
            }
        }
        if !self.process_ack(now, seg, data.len() + usize::from(fin)) {
            return None;
        }
        if self.state == State::Closed {
            return None;
        }

        // RFC 7323 4.3: remember TSval when the segment covers the last ACK we sent.
        if let (Some(ts), Some((val, _))) = (self.ts.as_mut(), seg.options.timestamps) {
            if seg.seq <= self.rcv_nxt && (val.wrapping_sub(ts.recent) as i32) >= 0 {
                ts.recent = val;
            }
        }

        // "seventh, process the segment text".
        if !data.is_empty() {
            match self.state {
                State::Established | State::FinWait1 | State::FinWait2 => {
                    self.accept_data(now, seq, data)
                }
                _ => {}
            }
        }

        // "eighth, check the FIN bit".
        if fin {
            let fin_at = seq + data.len();
            if self.rx_fin.is_none() {
                self.rx_fin = Some(fin_at);
            }
            self.ack_due = AckDue::Now;
        }
        self.try_consume_fin(now);
        None
    }

    fn try_consume_fin(&mut self, now: Instant) {
        let Some(fin_at) = self.rx_fin else { return };
        if self.fin_received || fin_at != self.rcv_nxt {
            return;
        }
        match self.state {
            State::SynReceived | State::Established => {
                self.rcv_nxt += 1;
                self.state = State::CloseWait;
            }
            State::FinWait1 => {
                self.rcv_nxt += 1;
                // Our FIN not yet acknowledged: CLOSING; otherwise it was handled in the ACK step.
                self.state = State::Closing;
            }
            State::FinWait2 => {
                self.rcv_nxt += 1;
                self.enter_time_wait(now);
            }
            _ => return,
        }
        self.fin_received = true;
        self.ack_due = AckDue::Now;
    }

    /// RFC 6298 5.7: if the SYN (or SYN,ACK) timed out and no RTT was measured since, data
    /// transmission starts with an RTO of 3 seconds.
    fn after_handshake_timeouts(&mut self) {
        if self.retries > 0 && self.rtt.srtt().is_none() {
            self.rtt.set_initial(Duration::from_secs(3));
        }
        self.retries = 0;
        self.rtt.reset_backoff();
    }

    fn enter_time_wait(&mut self, now: Instant) {
        self.state = State::TimeWait;
        self.rto_at = None;
        self.persist_at = None;
        // No data moves any more: the buffers go now.
        self.trim_buffers();
        self.time_wait_at = Some(now + self.params.time_wait);
    }

    fn restart_time_wait(&mut self, now: Instant) {
        self.time_wait_at = Some(now + self.params.time_wait);
    }

    fn challenge_ack(&mut self, now: Instant) {
        // RFC 5961 7: rate limited; one per 10 ms per connection is plenty for a real peer.
        if self
            .last_challenge
            .is_some_and(|t| now < t + Duration::from_millis(10))
        {
            return;
        }
        self.last_challenge = Some(now);
        self.counters.challenge_acks += 1;
        self.ack_due = AckDue::Now;
    }

    fn take_sample(&mut self, rtt: Duration) {
        self.rtt.sample(rtt);
        self.min_rtt = Some(self.min_rtt.map_or(rtt, |m| m.min(rtt)));
    }

    fn on_rtt_sample(&mut self, now: Instant, seg: &Repr) {
        // With timestamps, every ACK of new data gives a sample (RFC 7323 4.1); without, the
        // timed segment does, unless it was retransmitted (Karn).
        if let (Some(_), Some((_, ecr)), Some(ts_now)) =
            (self.ts, seg.options.timestamps, self.ts_now(now))
        {
            if ecr != 0 {
                let ms = ts_now.wrapping_sub(ecr);
                if ms < 60_000 {
                    self.rtt.sample(
                        Duration::from_millis(u64::from(ms)).max(Duration::from_micros(100)),
                    );
                    self.rtt_probe = None;
                    return;
                }
            }
        }
        if let Some((probe, sent)) = self.rtt_probe {
            if seg.ack > probe {
                self.take_sample(now.saturating_duration_since(sent));
                self.rtt_probe = None;
            }
        }
    }

    /// The ACK step for synchronized states. Returns a RST when the ACK is unacceptable in a
    /// state that answers with one.
    /// Returns false when the segment must be dropped (RFC 9293 3.10.7.4 fifth step: an ACK of
    /// something not yet sent, or too old, is answered and the segment goes no further).
    fn process_ack(&mut self, now: Instant, seg: &Repr, seg_data: usize) -> bool {
        let ack = seg.ack;
        // RFC 5961 5.2 / RFC 9293 MAY-12: acceptable if SND.UNA - MAX.SND.WND =< SEG.ACK =< SND.NXT.
        if ack > self.snd_max {
            self.ack_due = AckDue::Now;
            return false;
        }
        let oldest = Seq(self
            .snd_una
            .0
            .wrapping_sub(self.max_snd_wnd.min(1 << 30) as u32));
        if ack < oldest {
            self.ack_due = AckDue::Now;
            return false;
        }
        let window = usize::from(seg.window) << self.snd_wscale;
        if self.sack {
            self.update_scoreboard(seg);
            self.rack_on_ack(seg);
        }
        if ack > self.snd_una {
            self.detect_spurious(seg);
            let acked = ack.since(self.snd_una);
            // The window only grows while it limits sending (RFC 7661 2): a sender held back by
            // the peer's window or by its application learns nothing about the path.
            let cwnd_limited = self.flight() + 2 * self.mss >= self.cc.cwnd();
            self.on_rtt_sample(now, seg);
            // Release acknowledged data (the SYN and FIN take sequence space, not buffer).
            self.scoreboard.remove_below(ack);
            let data_acked = ack.since(self.tx_base).min(self.tx.len());
            self.tx.consume(data_acked);
            if self.tx.is_empty() && self.tx.allocated() > 0 {
                self.arm_trim();
            }
            self.tx_base += data_acked;
            self.snd_una = ack;
            if self.snd_nxt < ack {
                self.snd_nxt = ack;
            }
            self.retries = 0;
            self.rtt.reset_backoff();
            self.persist_backoff = 0;
            match self.recovery {
                Some(recover) if ack >= recover => {
                    // RFC 6582 3.2 step 4: full acknowledgment ends recovery.
                    self.recovery = None;
                    self.cc.on_recovery_end(self.flight(), self.mss);
                }
                // RFC 6675: the pipe decides; holes are taken from the scoreboard.
                Some(_) if self.sack_recovery() => self.high_rxt = self.high_rxt.max(ack),
                Some(_) => {
                    // RFC 6582 step 5: partial acknowledgment; the next hole is lost too.
                    self.cc.on_partial_ack(acked, self.mss);
                    self.rexmit_first = true;
                }
                None if cwnd_limited => self.cc.on_ack(now, acked, self.mss, self.rtt.srtt()),
                None => {}
            }
            self.dup_acks = 0;
            // RFC 6298 5.2/5.3: stop the timer when all is acknowledged, else restart it.
            self.rto_at = if self.snd_una == self.snd_max {
                None
            } else {
                Some(now + self.rtt.rto())
            };
            if let Some(fin) = self.fin_seq {
                if ack > fin {
                    self.on_fin_acked(now);
                }
            }
        } else if ack == self.snd_una
            && seg_data == 0
            && window == self.snd_wnd
            && self.snd_una != self.snd_max
            && !seg.flags.syn
        {
            // RFC 5681 2: a duplicate ACK.
            self.counters.dup_acks += 1;
            self.dup_acks += 1;
            if self.recovery.is_some() && !self.sack_recovery() {
                self.cc.on_dup_ack_in_recovery(self.mss);
            }
        }
        // Loss detection: three duplicate ACKs (RFC 5681 3.2), or with SACK more than
        // (DupThresh - 1) * SMSS bytes SACKed above SND.UNA (RFC 6675 IsLost).
        // RFC 5827 early retransmit: with fewer than four segments out and nothing new to
        // send, three duplicate ACKs can never come; one less than the segments out will do
        // (not once the path has shown reordering).
        let outstanding = self.flight().div_ceil(self.mss.max(1));
        let threshold = if outstanding < 4 && self.reordering <= 3 && self.sendable_data() == 0 {
            self.reordering.min(outstanding.saturating_sub(1).max(1))
        } else {
            self.reordering
        };
        let sack_loss = self.sack && self.holes().any(|(s, _)| self.is_lost(s));
        if self.recovery.is_none()
            && self.snd_una != self.snd_max
            && (self.dup_acks as usize >= threshold || sack_loss)
        {
            self.enter_recovery(now);
        }
        // Window update (RFC 9293 3.10.7.4, "If SND.UNA =< SEG.ACK =< SND.NXT ... update the window").
        if self.snd_wl1 < seg.seq || (self.snd_wl1 == seg.seq && self.snd_wl2 <= ack) {
            self.snd_wnd = window;
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = ack;
            self.max_snd_wnd = self.max_snd_wnd.max(window);
            if window > 0 {
                self.persist_at = None;
            }
        }
        true
    }

    /// Enters loss recovery until SND.MAX is acknowledged (RFC 6582 3.2 step 2, RFC 6675 5).
    fn enter_recovery(&mut self, now: Instant) {
        self.counters.fast_retransmits += 1;
        self.recovery = Some(self.snd_max);
        self.rtt_probe = None;
        // How far beyond the hole the peer has received: if this loss turns out to be
        // reordering, that is the reordering to tolerate from now on.
        let depth = (self.scoreboard.covered() / self.mss.max(1)).max(self.dup_acks as usize);
        self.first_rexmit = self.ts_now(now).map(|tsval| {
            (
                self.snd_una,
                tsval,
                self.cc.cwnd(),
                self.cc.ssthresh(),
                depth,
            )
        });
        if self.sack && !self.scoreboard.is_empty() {
            self.cc.on_sack_recovery(now, self.flight(), self.mss);
            self.high_rxt = self.snd_una;
            // RFC 6675 5 step 4.3: the first hole goes at once; later holes as RACK
            // finds them lost.
            if !self.is_lost(self.snd_una) {
                self.rexmit_first = true;
                self.high_rxt = self.snd_una + self.mss;
                self.counters.sack_retransmits += 1;
            }
        } else {
            self.cc.on_fast_retransmit(now, self.flight(), self.mss);
            self.rexmit_first = true;
        }
    }

    /// Records the peer's SACK blocks that describe data we sent above SND.UNA (RFC 2018 3;
    /// blocks outside that range are ignored, RFC 6675 5.1).
    fn update_scoreboard(&mut self, seg: &Repr) {
        let floor = self.snd_una.max(seg.ack);
        for &(l, r) in seg.options.sack.as_slice() {
            if l < r && r > floor && r <= self.snd_max {
                // A full scoreboard keeps what it has; recovery then relies on the cumulative ACK.
                let _ = self.scoreboard.insert(l.max(floor), r);
            }
        }
    }

    /// True while recovering with the SACK scoreboard (RFC 6675) rather than NewReno.
    fn sack_recovery(&self) -> bool {
        self.recovery.is_some() && self.sack && !self.scoreboard.is_empty()
    }

    /// Holes: unSACKed ranges between SND.UNA and the highest SACKed byte.
    fn holes(&self) -> impl Iterator<Item = (Seq, Seq)> + '_ {
        let mut from = self.snd_una;
        self.scoreboard.ranges().iter().filter_map(move |&(s, e)| {
            let hole = (from < s).then_some((from, s));
            from = from.max(e);
            hole
        })
    }

    /// RFC 6675 "pipe": bytes believed in the network: outstanding, less SACKed, less holes
    /// presumed lost and not yet retransmitted.
    fn pipe(&self) -> usize {
        let lost: usize = self
            .holes()
            .map(|(s, e)| {
                let from = s.max(self.high_rxt);
                if from < e && self.is_lost(from) {
                    e.since(from)
                } else {
                    0
                }
            })
            .sum();
        self.flight()
            .saturating_sub(self.scoreboard.covered())
            .saturating_sub(lost)
    }

    /// RFC 6675 NextSeg rule 1: the first hole byte not yet retransmitted that IsLost() says is
    /// lost, and how much of the hole one segment covers.
    fn next_hole(&self) -> Option<(Seq, usize)> {
        self.holes().find_map(|(s, e)| {
            let from = s.max(self.high_rxt);
            (from < e && self.is_lost(from)).then(|| (from, e.since(from).min(self.mss)))
        })
    }

    /// RFC 6675 IsLost(SeqNum): more than (DupThresh - 1) * SMSS bytes above it are SACKed. A
    /// segment merely overtaken by a few others (reordering) is not lost yet.
    fn is_lost(&self, seq: Seq) -> bool {
        // RFC 8985 6.2: a segment is lost when a segment sent more than reo_wnd after it has
        // been delivered.
        // 6.3: or when it has been out for an RTT plus reo_wnd while later data was SACKed
        // (callers ask only about holes below SACKed data).
        let Some(delivered) = self.rack_xmit else {
            return false;
        };
        let at = self.sent.partition_point(|&(_, end, _)| end <= seq);
        match self.sent.get(at) {
            Some(&(start, _, sent)) if start <= seq => {
                sent + self.reo_wnd() < delivered || self.clock >= self.rack_deadline(sent)
            }
            _ => false,
        }
    }

    /// When a segment sent at `sent` counts as lost if still unacknowledged (RFC 8985 6.3).
    fn rack_deadline(&self, sent: Instant) -> Instant {
        sent + self.rtt.srtt().unwrap_or(self.rtt.rto()) + self.reo_wnd()
    }

    /// The RACK reordering timer: the earliest time a hole becomes lost by time alone.
    fn rack_timer(&self) -> Option<Instant> {
        if !self.sack || self.scoreboard.is_empty() {
            return None;
        }
        self.holes()
            .filter_map(|(s, _)| {
                let at = self.sent.partition_point(|&(_, end, _)| end <= s);
                self.sent
                    .get(at)
                    .filter(|e| e.0 <= s)
                    .map(|e| self.rack_deadline(e.2))
            })
            .filter(|&t| t > self.clock)
            .min()
    }

    /// RACK's reordering window: quarters of min_RTT, at most SRTT (RFC 8985 6.2).
    fn reo_wnd(&self) -> Duration {
        let quarter = self.min_rtt.unwrap_or(Duration::from_millis(1)) / 4;
        let wnd = quarter.saturating_mul(self.reo_steps);
        self.rtt.srtt().map_or(wnd, |srtt| wnd.min(srtt))
    }

    /// Notes a transmission of `[seq, end)` at `now` for RACK.
    fn track_sent(&mut self, seq: Seq, end: Seq, now: Instant) {
        if seq >= end {
            return;
        }
        // New data, the common case: it goes after everything tracked.
        if self.sent.back().is_none_or(|b| b.1 <= seq) {
            if self.sent.len() < MAX_TRACKED {
                self.sent.push_back((seq, end, now));
            }
            return;
        }
        let at = self.sent.partition_point(|&(_, e, _)| e <= seq);
        let mut from = seq;
        for entry in self.sent.range_mut(at..) {
            if entry.0 >= end {
                break;
            }
            entry.2 = now;
            from = from.max(entry.1);
        }
        if from < end
            && self.sent.back().is_none_or(|b| b.1 <= from)
            && self.sent.len() < MAX_TRACKED
        {
            self.sent.push_back((from, end, now));
        }
    }

    /// RACK bookkeeping for an ACK: the newest send time among what it reports delivered
    /// (cumulatively or by SACK), then forget what is acknowledged.
    fn rack_on_ack(&mut self, seg: &Repr) {
        let mut newest = self.rack_xmit;
        let mut consider = |t: Instant| newest = Some(newest.map_or(t, |n: Instant| n.max(t)));
        for &(start, end, t) in &self.sent {
            let acked = end <= seg.ack;
            let sacked = seg
                .options
                .sack
                .as_slice()
                .iter()
                .any(|&(l, r)| l <= start && end <= r);
            if acked || sacked {
                consider(t);
            }
            if start > seg.ack && !sacked && seg.options.sack.is_empty() {
                break;
            }
        }
        self.rack_xmit = newest;
        while self.sent.front().is_some_and(|f| f.1 <= seg.ack) {
            self.sent.pop_front();
        }
    }

    /// RFC 3522 (Eifel detection): an ACK covering our first retransmission that echoes a
    /// timestamp older than the one the retransmission carried was caused by the original
    /// segment, which was only reordered. The window reduction is undone (RFC 4015) and the
    /// reordering tolerance doubles, so the same reordering does not trigger recovery again.
    fn detect_spurious(&mut self, seg: &Repr) {
        let Some((seq, tsval, cwnd, ssthresh, depth)) = self.first_rexmit else {
            return;
        };
        if seg.ack <= seq {
            return;
        }
        self.first_rexmit = None;
        let Some((_, ecr)) = seg.options.timestamps else {
            return;
        };
        if (ecr.wrapping_sub(tsval) as i32) < 0 {
            self.counters.spurious_recoveries += 1;
            if self.sack {
                self.reo_steps = (self.reo_steps + 1).min(MAX_REO_STEPS);
            } else {
                self.reordering = self.reordering.max(depth + 1).min(MAX_REORDERING);
            }
            self.cc.undo(cwnd, ssthresh);
            self.recovery = None;
            self.dup_acks = 0;
        }
    }

    /// The first byte at or after `seq` that the peer has not SACKed, and the start of the next
    /// SACKed range after it.
    fn skip_sacked(&self, mut seq: Seq) -> (Seq, Option<Seq>) {
        for &(s, e) in self.scoreboard.ranges() {
            if seq < s {
                return (seq, Some(s));
            }
            if seq < e {
                seq = e;
            }
        }
        (seq, None)
    }

    fn on_fin_acked(&mut self, now: Instant) {
        match self.state {
            State::FinWait1 => self.state = State::FinWait2,
            State::Closing => self.enter_time_wait(now),
            State::LastAck => self.close_with(None),
            _ => {}
        }
    }

    fn accept_data(&mut self, now: Instant, seq: Seq, data: &[u8]) {
        if seq == self.rcv_nxt {
            let n = self.rx.push(data);
            self.rcv_nxt += n;
            self.counters.bytes_in += n as u64;
            let filled_hole = !self.ooo.is_empty();
            if let Some(end) = self.ooo.take_contiguous(self.rcv_nxt) {
                let extra = end.since(self.rcv_nxt);
                self.rx.commit(extra);
                self.rcv_nxt = end;
                self.counters.bytes_in += extra as u64;
            }
            if filled_hole {
                // RFC 5681 4.2: ACK at once when a segment fills (part of) a gap.
                self.ack_due = AckDue::Now;
            } else {
                self.unacked_segments += 1;
                if self.unacked_segments >= 2 || data.len() < self.mss {
                    self.ack_due = AckDue::Now;
                } else if self.ack_due == AckDue::No {
                    self.ack_due = AckDue::Delayed(now + self.params.delayed_ack);
                }
            }
        } else {
            // Out of order: keep it beyond the in-order data and ACK at once (RFC 5681 4.2).
            let offset = self.rx.len() + seq.since(self.rcv_nxt);
            let n = self.rx.write_at(offset, data);
            if n > 0 && self.ooo.insert(seq, seq + n) {
                self.counters.out_of_order += 1;
            }
            self.ack_due = AckDue::Now;
        }
    }

    fn flight(&self) -> usize {
        self.snd_max.since(self.snd_una)
    }

    /// Bytes of data (not SYN/FIN) from `seq` to the end of the send buffer.
    fn unsent_from(&self, seq: Seq) -> usize {
        (self.tx_base + self.tx.len()).since(seq)
    }

    /// The earliest deadline of this connection.
    pub fn poll_at(&self) -> Option<Instant> {
        if self.state == State::Closed {
            return None;
        }
        if self.ack_due == AckDue::Now
            || self.rexmit_first
            || self.window_probe
            || self.keepalive_due
            || self.wants_to_send()
        {
            return Some(Instant::ZERO);
        }
        let delayed = match self.ack_due {
            AckDue::Delayed(t) => Some(t),
            _ => None,
        };
        [
            delayed,
            self.rto_at,
            self.persist_at,
            self.time_wait_at,
            self.keepalive_at(),
            self.rack_timer(),
            self.trim_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// True when a SYN, data or FIN could go out now (ignoring timers).
    /// Our SYN (or SYN,ACK) is not acknowledged yet.
    fn syn_unacked(&self) -> bool {
        self.snd_una == self.iss && self.state != State::Closed
    }

    fn wants_to_send(&self) -> bool {
        if self.syn_unacked() && self.snd_nxt == self.iss {
            return true;
        }
        match self.state {
            State::SynSent | State::SynReceived => false,
            State::Established
            | State::CloseWait
            | State::FinWait1
            | State::Closing
            | State::LastAck => self.sendable_data() > 0 || self.fin_ready(),
            _ => false,
        }
    }

    fn fin_ready(&self) -> bool {
        self.fin_queued
            && self.unsent_from(self.snd_nxt) == 0
            && self.fin_seq.is_none_or(|f| self.snd_nxt <= f)
    }

    /// How many new bytes may go out now (window, congestion window, Nagle, sender SWS).
    fn sendable_data(&self) -> usize {
        let unsent = self.unsent_from(self.snd_nxt);
        if unsent == 0 {
            return 0;
        }
        let in_flight = self.snd_nxt.since(self.snd_una);
        let counted = if self.sack_recovery() {
            self.pipe()
        } else {
            in_flight
        };
        let cwnd_room = self.cc.cwnd().saturating_sub(counted);
        let rwnd_room = (self.snd_una + self.snd_wnd).since(self.snd_nxt);
        // After a timeout the first segment goes out whatever the window: at least one byte,
        // so that a window that closed while data was in flight is probed, not waited on.
        let rwnd_room = if self.sws_override {
            rwnd_room.max(1)
        } else {
            rwnd_room
        };
        let room = cwnd_room.min(rwnd_room);
        let n = unsent.min(room).min(self.mss);
        if n == 0 {
            return 0;
        }
        if n == self.mss {
            return n;
        }
        // RFC 9293 3.7.4 (Nagle) and 3.8.6.2.1 (sender SWS avoidance): a short segment goes out
        // only if it empties the queue and nothing is in flight (or Nagle is off), or it is at
        // least half the largest window the peer offered.
        let all = n == unsent;
        if (all && (in_flight == 0 || self.nodelay))
            || (self.max_snd_wnd > 0 && n >= self.max_snd_wnd / 2)
            || self.sws_override
        {
            n
        } else {
            0
        }
    }

    /// Runs the timers, then produces at most one segment into `emit`. Returns true when it did.
    pub fn poll_transmit(&mut self, now: Instant, emit: &mut dyn FnMut(&Repr, [&[u8]; 2])) -> bool {
        self.clock = now;
        self.run_timers(now);
        match self.state {
            State::Closed | State::Listen => return false,
            State::TimeWait => return self.send_ack_if_due(now, emit),
            _ => {}
        }
        if self.syn_unacked() && self.snd_nxt == self.iss {
            let repr = self.syn_repr(now);
            if self.snd_max == self.iss {
                self.snd_max = self.iss + 1;
            }
            self.snd_nxt = self.iss + 1;
            if self.rto_at.is_none() {
                self.rto_at = Some(now + self.rtt.rto());
            }
            if self.retries == 0 && self.rtt_probe.is_none() {
                self.rtt_probe = Some((self.iss, now));
            }
            self.ack_due = AckDue::No;
            self.counters.segments_out += 1;
            emit(&repr, [&[], &[]]);
            return true;
        }
        match self.state {
            State::SynSent => return false,
            State::SynReceived => return self.send_ack_if_due(now, emit),
            _ => {}
        }
        if self.window_probe {
            self.window_probe = false;
            return self.send_window_probe(now, emit);
        }
        if self.keepalive_due {
            // SEG.SEQ = SND.NXT - 1 with no data: the peer answers with an ACK.
            self.keepalive_due = false;
            let repr = self.base_repr(
                now,
                Seq(self.snd_max.0.wrapping_sub(1)),
                Flags {
                    ack: true,
                    ..Flags::default()
                },
            );
            self.counters.segments_out += 1;
            emit(&repr, [&[], &[]]);
            return true;
        }
        if self.sack_recovery() && self.pipe() < self.cc.cwnd() {
            if let Some((seq, len)) = self.next_hole() {
                self.high_rxt = seq + len;
                self.counters.sack_retransmits += 1;
                if self.send_segment_at(now, seq, len, true, emit) {
                    return true;
                }
            }
        }
        if self.snd_nxt < self.snd_max && !self.scoreboard.is_empty() {
            // Going back after a timeout: what the peer SACKed is not sent again.
            let (seq, _) = self.skip_sacked(self.snd_nxt);
            self.snd_nxt = seq.min(self.snd_max);
        }
        if self.rexmit_first {
            self.rexmit_first = false;
            if self.send_segment_at(now, self.snd_una, self.mss, true, emit) {
                return true;
            }
        }
        let mut n = self.sendable_data();
        if let (_, Some(next_sacked)) = self.skip_sacked(self.snd_nxt) {
            n = n.min(next_sacked.since(self.snd_nxt));
        }
        if n > 0 || self.fin_ready() {
            let seq = self.snd_nxt;
            return self.send_segment_at(now, seq, n, false, emit);
        }
        self.send_ack_if_due(now, emit)
    }

    /// Sends data from `seq` (up to `max` bytes), with a FIN if the data ends the stream.
    fn send_segment_at(
        &mut self,
        now: Instant,
        seq: Seq,
        max: usize,
        retransmit: bool,
        emit: &mut dyn FnMut(&Repr, [&[u8]; 2]),
    ) -> bool {
        // SACK blocks ride in the options: the payload shrinks so the datagram still fits the
        // MTU (the MSS already leaves room for timestamps).
        let sack_option = if self.sack && !self.ooo.is_empty() {
            4 + 8 * self.ooo.len().min(if self.ts.is_some() { 3 } else { 4 })
        } else {
            0
        };
        let max = max.min(self.mss.saturating_sub(sack_option).max(1));
        let offset = seq.since(self.tx_base);
        let n = self.unsent_from(seq).min(max);
        let fin_at = self.tx_base + self.tx.len();
        let with_fin = self.fin_queued
            && seq + n == fin_at
            && (self.fin_seq.is_none() || retransmit || self.snd_nxt <= fin_at);
        if n == 0 && !with_fin {
            return false;
        }
        let mut flags = Flags {
            ack: true,
            psh: n > 0 && seq + n == fin_at,
            ..Flags::default()
        };
        flags.fin = with_fin;
        let repr = self.base_repr(now, seq, flags);
        let payload = self.tx.peek(offset, n);
        let end = seq + n + usize::from(with_fin);
        if with_fin && self.fin_seq.is_none() {
            self.fin_seq = Some(fin_at);
        }
        let is_retransmission = end <= self.snd_max && self.snd_max != self.snd_una || retransmit;
        if is_retransmission {
            self.counters.retransmits += 1;
            self.counters.retransmitted_bytes += n as u64;
        } else {
            self.counters.bytes_out += n as u64;
            if self.rtt_probe.is_none() && n > 0 {
                self.rtt_probe = Some((seq, now));
            }
        }
        if !retransmit {
            self.snd_nxt = end;
            self.sws_override = false;
        }
        if end > self.snd_max {
            self.snd_max = end;
        }
        if self.rto_at.is_none() {
            self.rto_at = Some(now + self.rtt.rto());
        }
        self.ack_due = AckDue::No;
        self.unacked_segments = 0;
        self.counters.segments_out += 1;
        emit(&repr, payload);
        if self.sack && n > 0 {
            self.track_sent(seq, seq + n, now);
        }
        true
    }

    /// A zero-window probe (RFC 9293 3.8.6.1). It carries SEG.SEQ = SND.UNA - 1 and no data, as
    /// Linux's does: a sequence number the peer has already acknowledged, so whatever its
    /// window, the peer answers with an ACK carrying its current window, and no byte is sent
    /// that the sequence space would then have to account for. The persist timer repeats it.
    fn send_window_probe(&mut self, now: Instant, emit: &mut dyn FnMut(&Repr, [&[u8]; 2])) -> bool {
        if self.unsent_from(self.snd_nxt) == 0 {
            return false;
        }
        let seq = Seq(self.snd_una.0.wrapping_sub(1));
        let repr = self.base_repr(
            now,
            seq,
            Flags {
                ack: true,
                ..Flags::default()
            },
        );
        self.counters.window_probes += 1;
        self.counters.segments_out += 1;
        self.ack_due = AckDue::No;
        emit(&repr, [&[], &[]]);
        true
    }

    fn send_ack_if_due(&mut self, now: Instant, emit: &mut dyn FnMut(&Repr, [&[u8]; 2])) -> bool {
        let due = match self.ack_due {
            AckDue::Now => true,
            AckDue::Delayed(t) => t <= now,
            AckDue::No => false,
        };
        if !due || !self.state.synchronized() && self.state != State::SynReceived {
            return false;
        }
        // SND.MAX, not SND.NXT: after a timeout SND.NXT goes back to resend, but a pure ACK
        // numbered below what the peer has received would fail its acceptability test and be
        // dropped with its acknowledgment (RFC 9293 3.10.7.4).
        let repr = self.base_repr(
            now,
            self.snd_max,
            Flags {
                ack: true,
                ..Flags::default()
            },
        );
        self.ack_due = AckDue::No;
        self.unacked_segments = 0;
        self.counters.segments_out += 1;
        emit(&repr, [&[], &[]]);
        true
    }

    /// Schedules giving back the emptied buffers unless that is already due.
    fn arm_trim(&mut self) {
        if self.trim_at.is_none() {
            self.trim_at = Some(self.clock + BUFFER_TRIM_AFTER);
        }
    }

    /// Gives back the memory of buffers that are still empty.
    fn trim_buffers(&mut self) {
        self.trim_at = None;
        if self.ooo.is_empty() {
            self.rx.shrink_if_empty();
        }
        self.tx.shrink_if_empty();
    }

    fn run_timers(&mut self, now: Instant) {
        if self.trim_at.is_some_and(|t| t <= now) {
            self.trim_buffers();
        }
        if self.time_wait_at.is_some_and(|t| t <= now) {
            self.close_with(None);
            return;
        }
        if self.keepalive_at().is_some_and(|t| t <= now) {
            // RFC 9293 3.8.4 / RFC 1122 4.2.3.6: after KEEPALIVE_PROBES unanswered probes the
            // peer is gone.
            if self.keepalive_probes >= KEEPALIVE_PROBES {
                self.close_with(Some(Error::TimedOut));
                return;
            }
            self.keepalive_probes += 1;
            self.counters.keepalive_probes += 1;
            self.keepalive_due = true;
        }
        if self.rto_at.is_some_and(|t| t <= now) {
            self.on_retransmission_timeout(now);
        }
        // The RACK reordering timer (RFC 8985 6.3): a hole has now been out too long.
        if self.sack
            && self.recovery.is_none()
            && self.state.synchronized()
            && self.snd_una != self.snd_max
            && self.holes().any(|(s, _)| self.is_lost(s))
        {
            self.enter_recovery(now);
        }
        // Nothing in flight, data waiting, and the window too small to send it: with a zero
        // window the persist timer probes (RFC 9293 3.8.6.1, MUST-35/36); with a small one it is
        // the override timeout of sender SWS avoidance (3.8.6.2.1), after which what the window
        // allows goes out, so that a receiver that never updates its window cannot stall us.
        let stalled = self.snd_una == self.snd_max
            && self.unsent_from(self.snd_nxt) > 0
            && self.sendable_data() == 0;
        if stalled && self.state.synchronized() {
            match self.persist_at {
                None => self.persist_at = Some(now + self.rtt.rto()),
                Some(t) if t <= now => {
                    self.persist_backoff = (self.persist_backoff + 1).min(12);
                    let wait = self
                        .rtt
                        .rto()
                        .saturating_mul(1 << self.persist_backoff)
                        .min(self.params.max_rto);
                    self.persist_at = Some(now + wait);
                    if self.snd_wnd == 0 {
                        self.window_probe = true;
                    } else {
                        self.sws_override = true;
                    }
                }
                Some(_) => {}
            }
        } else if !stalled {
            self.persist_at = None;
        }
    }

    /// RFC 6298 5.4-5.7: retransmit the earliest unacknowledged segment, back off, and restart.
    fn on_retransmission_timeout(&mut self, now: Instant) {
        self.retries += 1;
        if self.retries > self.params.max_retries {
            self.close_with(Some(Error::TimedOut));
            return;
        }
        self.counters.timeouts += 1;
        if self.rtt.backoffs() == 0 {
            self.cc.on_rto(now, self.flight(), self.mss);
        }
        if self.rtt.backoffs() > 0 {
            // A second timeout in a row: the peer may have discarded SACKed data (RFC 2018 8).
            self.scoreboard.clear();
        }
        self.rtt.back_off();
        self.rtt_probe = None;
        self.first_rexmit = None;
        self.recovery = None;
        self.dup_acks = 0;
        // Go back: everything from SND.UNA is sent again as the window allows.
        self.snd_nxt = self.snd_una;
        if self.syn_unacked() {
            self.snd_nxt = self.iss;
        }
        // The segment at SND.UNA goes out now, even if Nagle or SWS avoidance would hold it.
        self.sws_override = true;
        self.rto_at = Some(now + self.rtt.rto());
    }
}

#[cfg(test)]
mod tests;
