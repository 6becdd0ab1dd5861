//! TCP (RFC 9293), with window scaling and timestamps (RFC 7323), SACK (RFC 2018), congestion
//! control (RFC 5681, NewReno RFC 6582), retransmission timing (RFC 6298) and the robustness
//! rules of RFC 5961.
//!
//! Files, one concern each: [`seq`] sequence numbers, [`segment`] the wire format and options,
//! [`buffer`] send/receive rings and out-of-order data, [`rtt`] the retransmission timer,
//! [`congestion`] the congestion window, [`conn`] one connection's state machine, [`memory`]
//! the budget all connections' buffers share (and receive-window auto-tuning). The socket
//! table is this file (its types) with `table` (handles, the connection lookup, user calls),
//! `listen` (listeners and their backlogs, RFC 9293 3.10.7.2), `cookie` (initial sequence
//! numbers, RFC 6528, and SYN cookies, RFC 4987) and `schedule` (segments in, the ready queue,
//! the timer set and the order segments go out in).

mod bbr;
pub mod buffer;
pub mod congestion;
pub mod conn;
mod hystart;
pub mod memory;
mod report;
pub mod rtt;
pub mod segment;
pub mod seq;

mod cookie;
mod listen;
mod schedule;
mod table;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use core::fmt;
use core::net::SocketAddr;
use core::time::Duration;

pub use conn::{
    AckTiming, Arrival, Connection, Counters, Error, Params, Reset, Sequence, SoftError, State,
};
pub use seq::Seq;

use crate::time::Instant;

/// TCP settings of a stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Receive buffer per connection: the window a connection starts with. Auto-tuning may
    /// grow it up to the largest window its window scale announces (about twice this).
    pub rx_buffer: usize,
    /// The largest send buffer of a connection (Linux's `tcp_wmem` maximum). A connection's
    /// buffer holds twice its congestion window, and at least 256 KiB; storage is taken as data
    /// is queued, within the memory budget.
    pub tx_buffer: usize,
    /// Smallest retransmission timeout (RFC 6298 says 1 s; Linux uses 200 ms).
    pub min_rto: Duration,
    /// Largest retransmission timeout.
    pub max_rto: Duration,
    /// Delayed ACK timeout.
    pub delayed_ack: Duration,
    /// TIME-WAIT duration (2*MSL; RFC 9293 suggests MSL = 2 min, Linux waits 60 s in all).
    pub time_wait: Duration,
    /// How long a connection the application has closed may wait in FIN-WAIT-2 for the peer's
    /// FIN (Linux's `tcp_fin_timeout`, 60 s).
    pub fin_timeout: Duration,
    /// Retransmissions before a connection is given up.
    pub max_retries: u32,
    /// SYN,ACK retransmissions before a half-open connection is given up (Linux's
    /// `tcp_synack_retries`, 5: about 63 s with the 1 s initial RTO).
    pub synack_retries: u32,
    /// Connections the application has closed that may still be finishing at once (Linux's
    /// `tcp_max_orphans`); beyond it the oldest is reset.
    pub max_orphans: usize,
    /// Connections open at once (all states, listeners' queues included).
    pub max_connections: usize,
    /// Offer window scaling.
    pub window_scaling: bool,
    /// Offer timestamps.
    pub timestamps: bool,
    /// Offer SACK.
    pub sack: bool,
    /// Congestion control of new connections.
    pub congestion: congestion::Algorithm,
    /// Answer SYNs with SYN cookies (RFC 4987) when a listener's backlog is full.
    pub syn_cookies: bool,
    /// Bytes of send and receive buffer storage all connections together may hold (see
    /// [`memory`]).
    pub memory: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            rx_buffer: 256 * 1024,
            tx_buffer: 4 << 20,
            min_rto: Duration::from_millis(200),
            max_rto: Duration::from_secs(60),
            delayed_ack: Duration::from_millis(40),
            time_wait: Duration::from_secs(60),
            fin_timeout: Duration::from_secs(60),
            max_retries: 15,
            synack_retries: 5,
            max_orphans: 4096,
            max_connections: 16_384,
            window_scaling: true,
            timestamps: true,
            sack: true,
            congestion: congestion::Algorithm::Bbr,
            syn_cookies: true,
            memory: memory::DEFAULT_BUDGET,
        }
    }
}

/// A connection handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Handle {
    index: u32,
    generation: u32,
}

/// A listener handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ListenHandle {
    port: u16,
    generation: u32,
}

/// Why `listen` failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListenError {
    /// Another listener has the port.
    PortInUse(u16),
    /// Port 0 cannot be listened on.
    Unaddressable,
}

impl fmt::Display for ListenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenError::PortInUse(p) => write!(f, "TCP port {p} already has a listener"),
            ListenError::Unaddressable => f.write_str("cannot listen on port 0"),
        }
    }
}

impl std::error::Error for ListenError {}

/// Why `connect` failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectError {
    /// No IPv4 address yet.
    NoAddress,
    /// Port 0 or an unspecified address.
    Unaddressable,
    /// The connection table is full.
    TooManyConnections,
    /// No free local port.
    NoFreePort,
    /// The destination is a broadcast or multicast address (RFC 1122 4.2.3.10, MUST-46).
    NotUnicast,
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnectError::NoAddress => "no local address yet",
            ConnectError::Unaddressable => "destination address or port is unspecified",
            ConnectError::TooManyConnections => "TCP connection table is full",
            ConnectError::NoFreePort => "no free local port",
            ConnectError::NotUnicast => "TCP connects to unicast addresses only",
        })
    }
}

impl std::error::Error for ConnectError {}

/// Why a send or receive failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketError {
    /// The handle names no connection.
    InvalidHandle,
    /// The connection failed.
    Failed(Error),
    /// Sending after shutdown, or receiving after the peer's FIN with nothing left.
    Closed,
}

impl fmt::Display for SocketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SocketError::InvalidHandle => f.write_str("no such TCP connection"),
            SocketError::Failed(e) => write!(f, "{e}"),
            SocketError::Closed => f.write_str("connection closed"),
        }
    }
}

impl std::error::Error for SocketError {}

/// What happened to a received segment at the table level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Given to a connection or listener.
    Handled,
    /// Given to a connection, whose acknowledgment may wait until the batch of received
    /// segments has been handled (the next poll), one ACK for the batch: the connection decided
    /// so ([`AckTiming::AfterBatch`], see [`Connection::on_segment_in_batch`]).
    HandledInOrder,
    /// No connection or listener: answered with a RST (RFC 9293 3.10.7.1).
    NoSocket,
    /// The listener's backlog is full.
    BacklogFull,
    /// The connection table is full.
    TableFull,
    /// Neither SYN nor a segment for a known connection (stray RST, ACK to a listener...).
    Ignored,
}

/// Table-wide counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableCounters {
    /// Connections opened actively.
    pub active_opens: u64,
    /// Connections accepted from listeners.
    pub passive_opens: u64,
    /// RSTs sent for segments with no connection.
    pub resets_sent: u64,
    /// SYNs dropped because a backlog was full.
    pub backlog_drops: u64,
    /// Connections that failed (reset, refused, timed out).
    pub failed: u64,
    /// SYN,ACKs sent as SYN cookies (backlog full).
    pub syn_cookies_sent: u64,
    /// Connections opened from a valid cookie.
    pub syn_cookies_accepted: u64,
    /// ACKs to a listener whose cookie did not check out.
    pub syn_cookies_rejected: u64,
    /// Closed connections given up in FIN-WAIT-2 (the peer never sent its FIN in time).
    pub fin_wait2_timeouts: u64,
    /// Closed connections reset because there were more than `max_orphans`.
    pub orphans_reset: u64,
    /// Connections reset because data arrived after the application closed them.
    pub data_after_close: u64,
    /// TIME-WAIT connections ended early to make room in a full table.
    pub time_wait_recycled: u64,
    /// Loss recovery of the connections that have closed (see [`Sockets::loss`] for all).
    pub loss: LossCounters,
}

/// How the connections' senders met loss: table-wide sums of their [`Counters`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LossCounters {
    /// Segments retransmitted.
    pub retransmits: u64,
    /// Retransmission timeouts.
    pub timeouts: u64,
    /// Loss recoveries entered (fast retransmit, SACK or RACK).
    pub recoveries: u64,
    /// Tail loss probes sent (RFC 8985 7).
    pub tail_loss_probes: u64,
    /// Retransmissions found lost themselves, and sent again (RFC 8985 6).
    pub lost_retransmits: u64,
    /// Window reductions undone as spurious (Eifel, D-SACK).
    pub spurious_recoveries: u64,
    /// D-SACK blocks received (RFC 2883).
    pub dsacks_received: u64,
    /// D-SACK blocks sent (RFC 2883).
    pub dsacks_sent: u64,
}

impl LossCounters {
    /// Adds one connection's counters.
    pub fn add(&mut self, c: &Counters) {
        self.retransmits += c.retransmits;
        self.timeouts += c.timeouts;
        self.recoveries += c.fast_retransmits;
        self.tail_loss_probes += c.tail_loss_probes;
        self.lost_retransmits += c.lost_retransmits;
        self.spurious_recoveries += c.spurious_recoveries;
        self.dsacks_received += c.dsacks_received;
        self.dsacks_sent += c.dsacks_sent;
    }
}

#[derive(Debug)]
struct Slot {
    conn: Connection,
    generation: u32,
    /// The listener whose accept queue holds this connection until `accept`.
    listener: Option<u16>,
    /// The user let go of the handle; the slot is freed once the connection is closed.
    released: bool,
    /// Counted in its listener's backlog as half-open (SYN-RECEIVED).
    half_open: bool,
    /// Seen closed already (counted once).
    finished: bool,
    /// The application closed it (counted in `Sockets::orphans` until it is gone).
    orphan: bool,
    /// The state last logged.
    logged: State,
    scheduled: Option<Instant>,
    ready: bool,
}

#[derive(Debug)]
struct Listener {
    generation: u32,
    backlog: usize,
    /// Established connections waiting for `accept`.
    queue: VecDeque<usize>,
    /// Connections in SYN-RECEIVED.
    half_open: usize,
    /// When the listener last answered a SYN with a cookie: cookies are checked only shortly
    /// after (see `cookie`).
    last_cookie: Option<Instant>,
}

/// What identifies a connection: its two ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    local: SocketAddr,
    remote: SocketAddr,
}

/// The connection the previous segment went to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Lookup {
    key: Key,
    index: usize,
}

/// A connection's earliest deadline in the table's timer set, ordered by time, then slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Deadline {
    at: Instant,
    index: usize,
}

/// A segment no connection sends itself (a RST, a SYN cookie's SYN,ACK), waiting to go out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Control {
    local: SocketAddr,
    remote: SocketAddr,
    repr: segment::Repr,
}

/// The keyed-hash secret behind initial sequence numbers and SYN cookies, drawn from the seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Secret {
    k0: u64,
    k1: u64,
}

/// The TCP socket table.
#[derive(Debug)]
pub struct Sockets {
    config: Config,
    mss: u16,
    /// The largest segment payload the device cuts for us (0: it does not).
    tso_max: usize,
    /// Super-segments go with only the pseudo-header sum in their checksum field.
    partial_checksums: bool,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    generation: u32,
    by_key: HashMap<Key, usize>,
    /// One-entry lookup cache: a bulk transfer hits the same connection segment after segment.
    last_lookup: Option<Lookup>,
    listeners: BTreeMap<u16, Listener>,
    /// Each connection's earliest deadline, so that the next one is found without a scan.
    timers: BTreeSet<Deadline>,
    /// Connections that may have something to send, in the order they became so.
    ready: VecDeque<usize>,
    control: VecDeque<Control>,
    /// Connections the application has closed that are still in the table.
    orphans: usize,
    /// Closed connections in the order they were closed (`index`, generation); entries of
    /// connections gone since are skipped when met.
    orphan_order: VecDeque<(usize, u32)>,
    /// Connections in the order they entered TIME-WAIT (`index`, generation), likewise.
    time_wait_order: VecDeque<(usize, u32)>,
    secret: Secret,
    next_port: u16,
    counters: TableCounters,
    /// The memory budget over all connections' buffers.
    memory: memory::Budget,
}

/// Segments waiting in the control queue (RSTs, cookie SYN,ACKs) at most.
const CONTROL_QUEUE: usize = 256;

#[cfg(test)]
mod tests;
