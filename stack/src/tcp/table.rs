//! The TCP socket table (RFC 9293 3.10.1-3.10.5, the user calls): connection slots behind
//! generation-checked handles, the lookup by address pair, active opens with an ephemeral port,
//! sending, receiving, closing and aborting, and the ICMP reports about a connection (RFC 9293
//! 3.9.2.4, RFC 1191).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use core::net::{IpAddr, SocketAddr};
use core::time::Duration;

use tracing::debug;

use super::cookie::Isn;
use super::{
    Config, ConnectError, Connection, Deadline, Handle, Key, Params, Secret, Slot, SocketError,
    Sockets, State, TableCounters,
};
use crate::rng::Rng;
use crate::time::Instant;

/// First ephemeral port.
const EPHEMERAL: u16 = 49152;

impl Sockets {
    /// An empty table. `mss` is the MSS we announce (IP MTU less 40).
    pub fn new(config: Config, mss: u16, seed: u64) -> Self {
        let mut rng = Rng::new(seed, "tcp");
        let secret = Secret {
            k0: rng.next_u64(),
            k1: rng.next_u64(),
        };
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
            secret,
            next_port,
            counters: TableCounters::default(),
        }
    }

    /// The MSS we announce on a connection from `local`: the table's (IP MTU less 40) for IPv4,
    /// 20 less for IPv6's larger header (RFC 8200 8.3: MTU less 60).
    pub(super) fn mss_for(&self, local: &SocketAddr) -> u16 {
        match local {
            SocketAddr::V4(_) => self.mss,
            SocketAddr::V6(_) => self.mss.saturating_sub(20),
        }
    }

    pub(super) fn params(&self, local: &SocketAddr) -> Params {
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
        let Isn { iss, ts_offset } = self.isn(now, local, remote);
        let conn = Connection::connect(local, remote, iss, ts_offset, self.params(&local));
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

    pub(super) fn free_local(
        &mut self,
        ip: IpAddr,
        remote: SocketAddr,
    ) -> Result<SocketAddr, ConnectError> {
        let span = u32::from(u16::MAX - EPHEMERAL) + 1;
        for _ in 0..span {
            let port = self.next_port;
            self.next_port = if port == u16::MAX {
                EPHEMERAL
            } else {
                port + 1
            };
            let local = SocketAddr::new(ip, port);
            if !self.by_key.contains_key(&Key { local, remote })
                && !self.listeners.contains_key(&port)
            {
                return Ok(local);
            }
        }
        Err(ConnectError::NoFreePort)
    }

    pub(super) fn insert(
        &mut self,
        conn: Connection,
        listener: Option<u16>,
        now: Instant,
    ) -> usize {
        self.generation = self.generation.wrapping_add(1);
        let key = Key {
            local: conn.local(),
            remote: conn.remote(),
        };
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

    pub(super) fn remove(&mut self, index: usize) {
        let Some(slot) = self.slots.get_mut(index).and_then(Option::take) else {
            return;
        };
        if let Some(t) = slot.scheduled {
            self.timers.remove(&Deadline { at: t, index });
        }
        self.by_key.remove(&Key {
            local: slot.conn.local(),
            remote: slot.conn.remote(),
        });
        if self.last_lookup.is_some_and(|l| l.index == index) {
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

    pub(super) fn slot(&self, h: Handle) -> Option<&Slot> {
        self.slots
            .get(h.index as usize)?
            .as_ref()
            .filter(|s| s.generation == h.generation && s.listener.is_none())
    }

    pub(super) fn slot_mut(&mut self, h: Handle) -> Option<&mut Slot> {
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

    /// Turns Nagle's algorithm off or on for a connection.
    pub fn set_nodelay(&mut self, h: Handle, nodelay: bool) {
        if let Some(slot) = self.slot_mut(h) {
            slot.conn.set_nodelay(nodelay);
        }
    }

    /// ICMP "fragmentation needed" about a segment from `local` to `remote`.
    pub fn on_path_mtu(&mut self, local: SocketAddr, remote: SocketAddr, mtu: u16) {
        if let Some(&index) = self.by_key.get(&Key { local, remote }) {
            if let Some(slot) = self.slots.get_mut(index).and_then(Option::as_mut) {
                slot.conn.on_path_mtu(mtu);
            }
        }
    }

    /// An ICMP destination unreachable about a segment from `local` to `remote`.
    pub fn on_icmp_unreachable(&mut self, local: SocketAddr, remote: SocketAddr) {
        if let Some(&index) = self.by_key.get(&Key { local, remote }) {
            if let Some(slot) = self.slots.get_mut(index).and_then(Option::as_mut) {
                slot.conn.on_icmp_unreachable();
            }
            self.after_change(index, Instant::ZERO);
        }
    }

    /// Buffer memory held by all connections.
    pub fn buffer_memory(&self) -> usize {
        self.slots
            .iter()
            .flatten()
            .map(|s| s.conn.buffer_memory())
            .sum()
    }

    /// Logs a state change in plain words (`-v`), once per change.
    pub(super) fn log_state(&mut self, index: usize) {
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
}
