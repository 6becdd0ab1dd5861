//! TCP (RFC 9293), with window scaling and timestamps (RFC 7323), SACK (RFC 2018), congestion
//! control (RFC 5681, NewReno RFC 6582), retransmission timing (RFC 6298) and the robustness
//! rules of RFC 5961.
//!
//! Files, one concern each: [`seq`] sequence numbers, [`segment`] the wire format and options,
//! [`buffer`] send/receive rings and out-of-order data, [`rtt`] the retransmission timer,
//! [`congestion`] the congestion window, [`conn`] one connection's state machine, and this file
//! the socket table: listeners, the connection lookup, timers and the order segments go out in.

pub mod buffer;
pub mod congestion;
pub mod conn;
mod report;
pub mod rtt;
pub mod segment;
pub mod seq;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use core::fmt;
use core::hash::Hasher;
use core::net::{IpAddr, SocketAddr};
use core::time::Duration;

use siphasher::sip::SipHasher24;
use tracing::debug;

pub use conn::{Connection, Counters, Error, Params, Reset, State};
pub use seq::Seq;

use crate::rng::Rng;
use crate::time::Instant;

/// TCP settings of a stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Receive buffer per connection.
    pub rx_buffer: usize,
    /// Send buffer per connection.
    pub tx_buffer: usize,
    /// Smallest retransmission timeout (RFC 6298 says 1 s; Linux uses 200 ms).
    pub min_rto: Duration,
    /// Largest retransmission timeout.
    pub max_rto: Duration,
    /// Delayed ACK timeout.
    pub delayed_ack: Duration,
    /// TIME-WAIT duration (2*MSL; RFC 9293 suggests MSL = 2 min, Linux waits 60 s in all).
    pub time_wait: Duration,
    /// Retransmissions before a connection is given up.
    pub max_retries: u32,
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
}

impl Default for Config {
    fn default() -> Self {
        Config {
            rx_buffer: 256 * 1024,
            tx_buffer: 256 * 1024,
            min_rto: Duration::from_millis(200),
            max_rto: Duration::from_secs(60),
            delayed_ack: Duration::from_millis(40),
            time_wait: Duration::from_secs(60),
            max_retries: 15,
            max_connections: 16_384,
            window_scaling: true,
            timestamps: true,
            sack: true,
            congestion: congestion::Algorithm::NewReno,
            syn_cookies: true,
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
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnectError::NoAddress => "no local address yet",
            ConnectError::Unaddressable => "destination address or port is unspecified",
            ConnectError::TooManyConnections => "TCP connection table is full",
            ConnectError::NoFreePort => "no free local port",
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
    /// Given to an established connection as in-order data, nothing out of order held before
    /// or after: its acknowledgement may wait until the batch of received segments has been
    /// handled (the next poll), one ACK for the batch.
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
}

type Key = (SocketAddr, SocketAddr);

/// The TCP socket table.
#[derive(Debug)]
pub struct Sockets {
    config: Config,
    mss: u16,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    generation: u32,
    by_key: HashMap<Key, usize>,
    last_lookup: Option<(Key, usize)>,
    listeners: BTreeMap<u16, Listener>,
    timers: BTreeSet<(Instant, usize)>,
    ready: VecDeque<usize>,
    control: VecDeque<(SocketAddr, SocketAddr, segment::Repr)>,
    isn_key: (u64, u64),
    next_port: u16,
    counters: TableCounters,
}

/// Segments waiting in the control queue (RSTs) at most.
const CONTROL_QUEUE: usize = 256;
/// First ephemeral port.
const EPHEMERAL: u16 = 49152;
/// MSS classes a SYN cookie can encode.
const COOKIE_MSS: [u16; 8] = [536, 1200, 1220, 1300, 1400, 1440, 1452, 1460];

impl Sockets {
    /// An empty table. `mss` is the MSS we announce (IP MTU less 40).
    pub fn new(config: Config, mss: u16, seed: u64) -> Self {
        let mut rng = Rng::new(seed, "tcp");
        let isn_key = (rng.next_u64(), rng.next_u64());
        let next_port = EPHEMERAL + (rng.next_u32() % u32::from(u16::MAX - EPHEMERAL)) as u16;
        Sockets {
            config,
            mss,
            slots: Vec::new(),
            free: Vec::new(),
            generation: 0,
            by_key: HashMap::new(),
            last_lookup: None,
            listeners: BTreeMap::new(),
            timers: BTreeSet::new(),
            ready: VecDeque::new(),
            control: VecDeque::new(),
            isn_key,
            next_port,
            counters: TableCounters::default(),
        }
    }

    /// The MSS we announce on a connection from `local`: the table's (IP MTU less 40) for IPv4,
    /// 20 less for IPv6's larger header (RFC 8200 8.3: MTU less 60).
    fn mss_for(&self, local: &SocketAddr) -> u16 {
        match local {
            SocketAddr::V4(_) => self.mss,
            SocketAddr::V6(_) => self.mss.saturating_sub(20),
        }
    }

    fn params(&self, local: &SocketAddr) -> Params {
        let c = &self.config;
        Params {
            mss: self.mss_for(local),
            rx_buffer: c.rx_buffer,
            tx_buffer: c.tx_buffer,
            min_rto: c.min_rto,
            max_rto: c.max_rto,
            delayed_ack: c.delayed_ack,
            time_wait: c.time_wait,
            max_retries: c.max_retries,
            window_scaling: c.window_scaling,
            timestamps: c.timestamps,
            sack: c.sack,
            nodelay: false,
            congestion: c.congestion,
        }
    }

    /// RFC 9293 3.4.1 (SHLD-1, RFC 6528): ISN = M + F(localip, localport, remoteip, remoteport,
    /// secretkey), M a 4-microsecond clock and F a keyed hash; the key comes from the seed.
    /// The same hash, salted differently, gives the connection's timestamp offset.
    fn isn(&self, now: Instant, local: SocketAddr, remote: SocketAddr) -> (Seq, u32) {
        let mut h = SipHasher24::new_with_keys(self.isn_key.0, self.isn_key.1);
        for a in [local, remote] {
            match a.ip() {
                IpAddr::V4(ip) => h.write(&ip.octets()),
                IpAddr::V6(ip) => h.write(&ip.octets()),
            }
            h.write_u16(a.port());
        }
        let f = h.finish();
        let m = (now.micros() / 4) as u32;
        (Seq(m.wrapping_add(f as u32)), (f >> 32) as u32)
    }

    /// Counters of the table.
    pub fn counters(&self) -> &TableCounters {
        &self.counters
    }

    /// Connections in the table (all states).
    pub fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Opens a listener on `port` with room for `backlog` connections not yet accepted.
    ///
    /// # Errors
    /// [`ListenError`] when the port has a listener.
    pub fn listen(&mut self, port: u16, backlog: usize) -> Result<ListenHandle, ListenError> {
        if port == 0 {
            return Err(ListenError::Unaddressable);
        }
        if self.listeners.contains_key(&port) {
            return Err(ListenError::PortInUse(port));
        }
        self.generation = self.generation.wrapping_add(1);
        let generation = self.generation;
        self.listeners.insert(
            port,
            Listener {
                generation,
                backlog: backlog.max(1),
                queue: VecDeque::new(),
                half_open: 0,
            },
        );
        Ok(ListenHandle { port, generation })
    }

    /// Takes the oldest established connection from a listener's queue.
    pub fn accept(&mut self, l: ListenHandle) -> Option<Handle> {
        let listener = self
            .listeners
            .get_mut(&l.port)
            .filter(|x| x.generation == l.generation)?;
        let index = listener.queue.pop_front()?;
        let slot = self.slots.get_mut(index)?.as_mut()?;
        slot.listener = None;
        slot.released = false;
        Some(Handle {
            index: index as u32,
            generation: slot.generation,
        })
    }

    /// Closes a listener; connections not yet accepted are reset.
    pub fn unlisten(&mut self, l: ListenHandle) {
        let Some(listener) = self
            .listeners
            .get(&l.port)
            .filter(|x| x.generation == l.generation)
        else {
            return;
        };
        let _ = listener;
        self.listeners.remove(&l.port);
        let orphans: Vec<usize> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().filter(|s| s.listener == Some(l.port)).map(|_| i))
            .collect();
        for i in orphans {
            if let Some(slot) = self.slots.get_mut(i).and_then(Option::as_mut) {
                slot.released = true;
                if let Some(rst) = slot.conn.abort() {
                    let (local, remote) = (slot.conn.local(), slot.conn.remote());
                    self.queue_reset(local, remote, rst);
                }
            }
            self.after_change(i, Instant::ZERO);
        }
    }

    /// Opens a connection from `local_ip` to `remote` (RFC 9293 3.10.1).
    ///
    /// # Errors
    /// [`ConnectError`] when the table is full or the address unusable.
    pub fn connect(
        &mut self,
        now: Instant,
        local_ip: IpAddr,
        remote: SocketAddr,
    ) -> Result<Handle, ConnectError> {
        if remote.port() == 0 || remote.ip().is_unspecified() {
            return Err(ConnectError::Unaddressable);
        }
        if self.len() >= self.config.max_connections {
            return Err(ConnectError::TooManyConnections);
        }
        let local = self.free_local(local_ip, remote)?;
        let (iss, ts) = self.isn(now, local, remote);
        let conn = Connection::connect(local, remote, iss, ts, self.params(&local));
        self.counters.active_opens += 1;
        let index = self.insert(conn, None, now);
        let generation = self
            .slots
            .get(index)
            .and_then(Option::as_ref)
            .map_or(0, |s| s.generation);
        Ok(Handle {
            index: index as u32,
            generation,
        })
    }

    fn free_local(&mut self, ip: IpAddr, remote: SocketAddr) -> Result<SocketAddr, ConnectError> {
        let span = u32::from(u16::MAX - EPHEMERAL) + 1;
        for _ in 0..span {
            let port = self.next_port;
            self.next_port = if port == u16::MAX {
                EPHEMERAL
            } else {
                port + 1
            };
            let local = SocketAddr::new(ip, port);
            if !self.by_key.contains_key(&(local, remote)) && !self.listeners.contains_key(&port) {
                return Ok(local);
            }
        }
        Err(ConnectError::NoFreePort)
    }

    fn insert(&mut self, conn: Connection, listener: Option<u16>, now: Instant) -> usize {
        self.generation = self.generation.wrapping_add(1);
        let key = (conn.local(), conn.remote());
        let slot = Slot {
            conn,
            generation: self.generation,
            listener,
            released: listener.is_some(),
            half_open: listener.is_some(),
            finished: false,
            logged: if listener.is_some() {
                State::Listen
            } else {
                State::Closed
            },
            scheduled: None,
            ready: false,
        };
        if let Some(l) = listener.and_then(|port| self.listeners.get_mut(&port)) {
            l.half_open += 1;
        }
        let index = match self.free.pop() {
            Some(i) => {
                if let Some(s) = self.slots.get_mut(i) {
                    *s = Some(slot);
                }
                i
            }
            None => {
                self.slots.push(Some(slot));
                self.slots.len() - 1
            }
        };
        self.by_key.insert(key, index);
        self.after_change(index, now);
        index
    }

    fn slot(&self, h: Handle) -> Option<&Slot> {
        self.slots
            .get(h.index as usize)?
            .as_ref()
            .filter(|s| s.generation == h.generation && s.listener.is_none())
    }

    fn slot_mut(&mut self, h: Handle) -> Option<&mut Slot> {
        self.slots
            .get_mut(h.index as usize)?
            .as_mut()
            .filter(|s| s.generation == h.generation && s.listener.is_none())
    }

    /// The connection behind a handle, for reading its state and counters.
    pub fn get(&self, h: Handle) -> Option<&Connection> {
        self.slot(h).map(|s| &s.conn)
    }

    /// Every connection, with its handle-less index order (for `/stats`).
    pub fn iter(&self) -> impl Iterator<Item = &Connection> + '_ {
        self.slots.iter().flatten().map(|s| &s.conn)
    }

    /// Queues data to send; returns how much fit (0 when the buffer is full).
    ///
    /// # Errors
    /// [`SocketError`] when the connection is gone or shut down.
    pub fn send(&mut self, h: Handle, data: &[u8]) -> Result<usize, SocketError> {
        let slot = self.slot_mut(h).ok_or(SocketError::InvalidHandle)?;
        if let Some(e) = slot.conn.error() {
            return Err(SocketError::Failed(e));
        }
        if !slot.conn.may_send() {
            return Err(SocketError::Closed);
        }
        let n = slot.conn.send(data);
        if n > 0 {
            self.after_change(h.index as usize, Instant::ZERO);
        }
        Ok(n)
    }

    /// Reads received data. `Ok(0)` means nothing yet.
    ///
    /// # Errors
    /// [`SocketError::Closed`] once the peer's FIN has been read past, [`SocketError::Failed`]
    /// after a reset or timeout.
    pub fn recv(&mut self, h: Handle, out: &mut [u8]) -> Result<usize, SocketError> {
        let slot = self.slot_mut(h).ok_or(SocketError::InvalidHandle)?;
        let n = slot.conn.recv(out);
        if n > 0 {
            self.after_change(h.index as usize, Instant::ZERO);
            return Ok(n);
        }
        if let Some(e) = slot.conn.error() {
            return Err(SocketError::Failed(e));
        }
        if slot.conn.recv_finished() {
            return Err(SocketError::Closed);
        }
        Ok(0)
    }

    /// Closes the sending side (a FIN follows the queued data).
    pub fn shutdown(&mut self, h: Handle) {
        if let Some(slot) = self.slot_mut(h) {
            slot.conn.shutdown();
            self.after_change(h.index as usize, Instant::ZERO);
        }
    }

    /// Shuts down and lets go of the handle; the connection finishes closing on its own.
    pub fn close(&mut self, h: Handle) {
        if let Some(slot) = self.slot_mut(h) {
            slot.conn.shutdown();
            slot.released = true;
            self.after_change(h.index as usize, Instant::ZERO);
        }
    }

    /// Resets the connection and lets go of the handle.
    pub fn abort(&mut self, h: Handle) {
        if let Some(slot) = self.slot_mut(h) {
            slot.released = true;
            if let Some(rst) = slot.conn.abort() {
                let (local, remote) = (slot.conn.local(), slot.conn.remote());
                self.queue_reset(local, remote, rst);
            }
            self.after_change(h.index as usize, Instant::ZERO);
        }
    }

    /// Turns keepalive probing on (after `idle` without a segment) or off for a connection.
    pub fn set_keepalive(&mut self, h: Handle, idle: Option<Duration>) {
        if let Some(slot) = self.slot_mut(h) {
            slot.conn.set_keepalive(idle);
            self.after_change(h.index as usize, Instant::ZERO);
        }
    }

    /// ICMP "fragmentation needed" about a segment from `local` to `remote`.
    pub fn on_path_mtu(&mut self, local: SocketAddr, remote: SocketAddr, mtu: u16) {
        if let Some(&index) = self.by_key.get(&(local, remote)) {
            if let Some(slot) = self.slots.get_mut(index).and_then(Option::as_mut) {
                slot.conn.on_path_mtu(mtu);
            }
        }
    }

    /// Turns Nagle's algorithm off or on for a connection.
    pub fn set_nodelay(&mut self, h: Handle, nodelay: bool) {
        if let Some(slot) = self.slot_mut(h) {
            slot.conn.set_nodelay(nodelay);
        }
    }

    fn queue_reset(&mut self, local: SocketAddr, remote: SocketAddr, rst: Reset) {
        if self.control.len() >= CONTROL_QUEUE {
            return;
        }
        let repr = segment::Repr {
            src_port: local.port(),
            dst_port: remote.port(),
            seq: rst.seq,
            ack: rst.ack.unwrap_or_default(),
            flags: segment::Flags {
                rst: true,
                ack: rst.ack.is_some(),
                ..Default::default()
            },
            ..Default::default()
        };
        self.counters.resets_sent += 1;
        self.control.push_back((local, remote, repr));
    }

    /// Hands a received segment to its connection or listener.
    pub fn on_segment(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &segment::Repr,
        payload: &[u8],
    ) -> Outcome {
        // A bulk transfer hits the same connection segment after segment: one cached lookup
        // saves hashing both addresses every time.
        let key = (local, remote);
        let index = match self.last_lookup {
            Some((k, i)) if k == key => Some(i),
            _ => self.by_key.get(&key).copied(),
        };
        match index {
            Some(index) => {
                self.last_lookup = Some((key, index));
                self.on_segment_at(index, now, seg, payload)
            }
            None => self.on_segment_unmatched(now, local, remote, seg, payload),
        }
    }

    /// A segment for the connection at `index`.
    fn on_segment_at(
        &mut self,
        index: usize,
        now: Instant,
        seg: &segment::Repr,
        payload: &[u8],
    ) -> Outcome {
        let Some(slot) = self.slots.get_mut(index).and_then(Option::as_mut) else {
            return Outcome::Ignored;
        };
        let in_order = slot.conn.is_in_order_data(seg, payload.len());
        let rst = slot.conn.on_segment(now, seg, payload);
        let (local, remote) = (slot.conn.local(), slot.conn.remote());
        let routine = in_order
            && rst.is_none()
            && slot.conn.state() == State::Established
            && !slot.conn.holds_out_of_order();
        if let Some(rst) = rst {
            self.queue_reset(local, remote, rst);
        }
        self.settle_half_open(index);
        self.log_state(index);
        self.after_change(index, now);
        if routine {
            Outcome::HandledInOrder
        } else {
            Outcome::Handled
        }
    }

    /// A connection a listener made has left SYN-RECEIVED: it joins the accept queue, or, if it
    /// failed, frees its place in the backlog.
    /// Logs a state change in plain words (`-v`), once per change.
    fn log_state(&mut self, index: usize) {
        let Some(slot) = self.slots.get_mut(index).and_then(Option::as_mut) else {
            return;
        };
        let now = slot.conn.state();
        if now != slot.logged {
            let c = &slot.conn;
            match c.error() {
                Some(e) if now == State::Closed => debug!(
                    "TCP {} <-> {}: {} -> {now} ({e})",
                    c.local(),
                    c.remote(),
                    slot.logged
                ),
                _ => debug!(
                    "TCP {} <-> {}: {} -> {now}",
                    c.local(),
                    c.remote(),
                    slot.logged
                ),
            }
            slot.logged = now;
        }
    }

    fn settle_half_open(&mut self, index: usize) {
        let Some(slot) = self.slots.get_mut(index).and_then(Option::as_mut) else {
            return;
        };
        let state = slot.conn.state();
        if !slot.half_open || state == State::SynReceived {
            return;
        }
        slot.half_open = false;
        let Some(l) = slot.listener.and_then(|port| self.listeners.get_mut(&port)) else {
            return;
        };
        l.half_open = l.half_open.saturating_sub(1);
        if state != State::Closed {
            l.queue.push_back(index);
        }
    }

    /// A segment no connection matches: a listener's, or one to answer with RST.
    fn on_segment_unmatched(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &segment::Repr,
        payload: &[u8],
    ) -> Outcome {
        let f = seg.flags;
        let table_full = self.len() >= self.config.max_connections;
        if let Some(listener) = self.listeners.get(&local.port()) {
            // RFC 9293 3.10.7.2 LISTEN: ignore RST, answer ACK with RST, accept SYN.
            if f.rst {
                return Outcome::Ignored;
            }
            let backlog_full = listener.queue.len() + listener.half_open >= listener.backlog;
            let accept_room = listener.queue.len() < listener.backlog;
            if f.ack {
                // Perhaps the ACK of a SYN cookie (RFC 4987 3.6).
                if self.config.syn_cookies && !f.syn {
                    if let Some(mss) = self.check_cookie(now, local, remote, seg) {
                        if table_full || !accept_room {
                            // Valid, but no room: drop it; the peer's retransmission (or its
                            // data) will carry the cookie again (as Linux does).
                            self.counters.backlog_drops += 1;
                            return Outcome::BacklogFull;
                        }
                        let iss = Seq(seg.ack.0.wrapping_sub(1));
                        let irs = Seq(seg.seq.0.wrapping_sub(1));
                        let conn = Connection::from_cookie(
                            local,
                            remote,
                            iss,
                            irs,
                            mss,
                            self.params(&local),
                        );
                        self.counters.syn_cookies_accepted += 1;
                        self.counters.passive_opens += 1;
                        let index = self.insert(conn, Some(local.port()), now);
                        return self.on_segment_at(index, now, seg, payload);
                    }
                    self.counters.syn_cookies_rejected += 1;
                }
                self.queue_reset(
                    local,
                    remote,
                    Reset {
                        seq: seg.ack,
                        ack: None,
                    },
                );
                return Outcome::Ignored;
            }
            if !f.syn {
                return Outcome::Ignored;
            }
            if backlog_full {
                if self.config.syn_cookies && !table_full {
                    self.send_cookie(now, local, remote, seg);
                    return Outcome::Handled;
                }
                self.counters.backlog_drops += 1;
                return Outcome::BacklogFull;
            }
            if table_full {
                return Outcome::TableFull;
            }
            let (iss, ts) = self.isn(now, local, remote);
            let conn = Connection::accept(now, local, remote, iss, ts, seg, self.params(&local));
            self.counters.passive_opens += 1;
            self.insert(conn, Some(local.port()), now);
            return Outcome::Handled;
        }
        // RFC 9293 3.10.7.1 CLOSED: "If the state is CLOSED ... a reset is sent in response to
        // any incoming segment except another reset."
        if f.rst {
            return Outcome::Ignored;
        }
        let rst = if f.ack {
            Reset {
                seq: seg.ack,
                ack: None,
            }
        } else {
            Reset {
                seq: Seq(0),
                ack: Some(seg.seq + seg.seq_len(payload.len())),
            }
        };
        self.queue_reset(local, remote, rst);
        Outcome::NoSocket
    }

    /// RFC 4987 3.6 SYN cookie: 5 bits of a 64-second counter, 3 bits of MSS class, and 24
    /// bits of a keyed hash over the 4-tuple, the counter and the peer's ISN.
    fn cookie(
        &self,
        counter: u32,
        mss_class: u32,
        local: SocketAddr,
        remote: SocketAddr,
        peer_isn: Seq,
    ) -> Seq {
        let mut h = SipHasher24::new_with_keys(self.isn_key.1, self.isn_key.0);
        for a in [local, remote] {
            match a.ip() {
                IpAddr::V4(ip) => h.write(&ip.octets()),
                IpAddr::V6(ip) => h.write(&ip.octets()),
            }
            h.write_u16(a.port());
        }
        h.write_u32(counter);
        h.write_u32(peer_isn.0);
        h.write_u32(mss_class);
        let hash = (h.finish() as u32) & 0x00ff_ffff;
        Seq(((counter & 0x1f) << 27) | ((mss_class & 0x7) << 24) | hash)
    }

    fn cookie_counter(now: Instant) -> u32 {
        (now.micros() / 64_000_000) as u32
    }

    /// Answers a SYN with a cookie SYN,ACK and keeps no state.
    fn send_cookie(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        syn: &segment::Repr,
    ) {
        let peer_mss = syn.options.mss.unwrap_or(536);
        let class = COOKIE_MSS.iter().rposition(|&m| m <= peer_mss).unwrap_or(0);
        let iss = self.cookie(
            Self::cookie_counter(now),
            class as u32,
            local,
            remote,
            syn.seq,
        );
        let repr = segment::Repr {
            src_port: local.port(),
            dst_port: remote.port(),
            seq: iss,
            ack: syn.seq + 1,
            flags: segment::Flags {
                syn: true,
                ack: true,
                ..Default::default()
            },
            window: self.config.rx_buffer.min(65_535) as u16,
            options: segment::Options {
                mss: Some(self.mss_for(&local)),
                ..Default::default()
            },
        };
        if self.control.len() < CONTROL_QUEUE {
            self.counters.syn_cookies_sent += 1;
            self.control.push_back((local, remote, repr));
        }
    }

    /// Checks the cookie an ACK returns (RFC 4987 3.6); gives the peer's MSS when valid.
    fn check_cookie(
        &self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &segment::Repr,
    ) -> Option<u16> {
        let cookie = Seq(seg.ack.0.wrapping_sub(1));
        let peer_isn = Seq(seg.seq.0.wrapping_sub(1));
        let class = (cookie.0 >> 24) & 0x7;
        let current = Self::cookie_counter(now);
        // Valid for the current and the previous 64-second period.
        let valid = [current, current.wrapping_sub(1)].into_iter().any(|c| {
            (c & 0x1f) == cookie.0 >> 27 && self.cookie(c, class, local, remote, peer_isn) == cookie
        });
        valid
            .then(|| COOKIE_MSS.get(class as usize).copied())
            .flatten()
    }

    /// An ICMP destination unreachable about a segment from `local` to `remote`.
    pub fn on_icmp_unreachable(&mut self, local: SocketAddr, remote: SocketAddr) {
        if let Some(&index) = self.by_key.get(&(local, remote)) {
            if let Some(slot) = self.slots.get_mut(index).and_then(Option::as_mut) {
                slot.conn.on_icmp_unreachable();
            }
            self.after_change(index, Instant::ZERO);
        }
    }

    /// Marks a connection as possibly having output, and re-arms its timer.
    fn after_change(&mut self, index: usize, now: Instant) {
        let Some(slot) = self.slots.get_mut(index).and_then(Option::as_mut) else {
            return;
        };
        if !slot.ready {
            slot.ready = true;
            self.ready.push_back(index);
        }
        let _ = now;
    }

    fn reschedule(&mut self, index: usize) {
        self.log_state(index);
        let Some(slot) = self.slots.get_mut(index).and_then(Option::as_mut) else {
            return;
        };
        let next = slot.conn.poll_at();
        if slot.scheduled != next {
            if let Some(old) = slot.scheduled {
                self.timers.remove(&(old, index));
            }
            if let Some(t) = next {
                self.timers.insert((t, index));
            }
            slot.scheduled = next;
        }
        let closed = slot.conn.state() == State::Closed;
        if closed {
            if !slot.finished && slot.conn.error().is_some_and(|e| e != Error::Aborted) {
                self.counters.failed += 1;
            }
            slot.finished = true;
            if slot.released {
                self.remove(index);
            } else if let Some(old) = slot.scheduled.take() {
                self.timers.remove(&(old, index));
            }
        }
    }

    fn remove(&mut self, index: usize) {
        let Some(slot) = self.slots.get_mut(index).and_then(Option::take) else {
            return;
        };
        if let Some(t) = slot.scheduled {
            self.timers.remove(&(t, index));
        }
        self.by_key.remove(&(slot.conn.local(), slot.conn.remote()));
        if self.last_lookup.is_some_and(|(_, i)| i == index) {
            self.last_lookup = None;
        }
        if let Some(l) = slot.listener.and_then(|port| self.listeners.get_mut(&port)) {
            l.queue.retain(|&i| i != index);
            if slot.half_open {
                // A half-open connection died (RST, timeout) before it was established.
                l.half_open = l.half_open.saturating_sub(1);
            }
        }
        self.free.push(index);
    }

    /// Appends the next segment to send to `out` and returns its `(local, remote)` addresses.
    /// (Appending lets the caller reserve room for the link and IP headers in front.)
    pub fn next_segment(
        &mut self,
        now: Instant,
        out: &mut Vec<u8>,
    ) -> Option<(SocketAddr, SocketAddr)> {
        if let Some((local, remote, repr)) = self.control.pop_front() {
            segment::emit(out, &repr, local.ip(), remote.ip(), [&[], &[]]);
            return Some((local, remote));
        }
        while let Some(&(t, index)) = self.timers.first() {
            if t > now {
                break;
            }
            self.timers.pop_first();
            if let Some(slot) = self.slots.get_mut(index).and_then(Option::as_mut) {
                slot.scheduled = None;
                if !slot.ready {
                    slot.ready = true;
                    self.ready.push_back(index);
                }
            }
        }
        while let Some(&index) = self.ready.front() {
            let Some(slot) = self.slots.get_mut(index).and_then(Option::as_mut) else {
                self.ready.pop_front();
                continue;
            };
            let (local, remote) = (slot.conn.local(), slot.conn.remote());
            let mut emit = |repr: &segment::Repr, payload: [&[u8]; 2]| {
                segment::emit(out, repr, local.ip(), remote.ip(), payload);
            };
            if slot.conn.poll_transmit(now, &mut emit) {
                return Some((local, remote));
            }
            slot.ready = false;
            self.ready.pop_front();
            self.reschedule(index);
        }
        None
    }

    /// When `next_segment` should next be called; an instant in the past means now.
    pub fn poll_at(&self) -> Option<Instant> {
        if !self.control.is_empty() || !self.ready.is_empty() {
            return Some(Instant::ZERO);
        }
        self.timers.first().map(|(t, _)| *t)
    }

    /// Buffer memory held by all connections.
    pub fn buffer_memory(&self) -> usize {
        self.slots
            .iter()
            .flatten()
            .map(|s| s.conn.buffer_memory())
            .sum()
    }
}

#[cfg(test)]
mod tests;
