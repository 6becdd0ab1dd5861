//! The TCP socket table (RFC 9293 3.10.1-3.10.5, the user calls): connection slots behind
//! generation-checked handles, the lookup by address pair, active opens with an ephemeral port,
//! sending, receiving, closing and aborting, and the ICMP reports about a connection (RFC 9293
//! 3.9.2.4, RFC 1191). Connections the application has closed ("orphans") are bounded, and a
//! full table makes room by ending its oldest TIME-WAIT connection.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use core::net::{IpAddr, SocketAddr};
use core::time::Duration;

use tracing::debug;

use super::cookie::Isn;
use super::memory::{Budget, Usage};
use super::{
    Config, ConnectError, Connection, Deadline, Handle, Key, LossCounters, Params, Secret, Seq,
    Slot, SocketError, Sockets, SoftError, State, TableCounters,
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
            tso_max: 0,
            partial_checksums: false,
            slots: Vec::new(),
            free: Vec::new(),
            generation: 0,
            by_key: HashMap::new(),
            last_lookup: None,
            listeners: BTreeMap::new(),
            timers: BTreeSet::new(),
            ready: VecDeque::new(),
            control: VecDeque::new(),
            orphans: 0,
            orphan_order: VecDeque::new(),
            time_wait_order: VecDeque::new(),
            secret,
            next_port,
            counters: TableCounters::default(),
            memory: Budget::new(config.memory),
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

    /// Lets connections opened from now on send segments of up to `max` payload bytes for the
    /// device to cut (TSO); 0 turns it off.
    pub fn set_tso_max(&mut self, max: usize) {
        self.tso_max = max;
    }

    /// Lets segments larger than the MTU (the super-segments of TSO) go with only the
    /// pseudo-header sum in their checksum field, for the device to complete.
    pub fn set_partial_checksums(&mut self, partial: bool) {
        self.partial_checksums = partial;
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
            fin_timeout: c.fin_timeout,
            max_retries: c.max_retries,
            synack_retries: c.synack_retries,
            window_scaling: c.window_scaling,
            timestamps: c.timestamps,
            sack: c.sack,
            nodelay: false,
            congestion: c.congestion,
            tso_max: self.tso_max,
        }
    }

    /// Counters of the table.
    pub fn counters(&self) -> &TableCounters {
        &self.counters
    }

    /// Loss recovery over all connections, closed and open.
    pub fn loss(&self) -> LossCounters {
        let mut sum = self.counters.loss;
        for slot in self.slots.iter().flatten().filter(|s| !s.finished) {
            sum.add(slot.conn.counters());
        }
        sum
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
        // RFC 1122 4.2.3.10 (RFC 9293 MUST-46): "A TCP implementation MUST ... not allow an
        // active OPEN call to specify a broadcast or multicast foreign IP address". The
        // directed broadcast of our subnet is the interface's to refuse.
        let broadcast = match remote.ip() {
            IpAddr::V4(a) => a.is_broadcast() || a.is_multicast(),
            IpAddr::V6(a) => a.is_multicast(),
        };
        if broadcast {
            return Err(ConnectError::NotUnicast);
        }
        if !self.has_room() {
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
        if self.len() >= self.config.max_connections {
            self.recycle_time_wait();
        }
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
            orphan: false,
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
        self.grant(index);
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
        self.memory.update(slot.conn.accounted_memory(), 0);
        self.by_key.remove(&Key {
            local: slot.conn.local(),
            remote: slot.conn.remote(),
        });
        if self.last_lookup.is_some_and(|l| l.index == index) {
            self.last_lookup = None;
        }
        if slot.orphan {
            self.orphans = self.orphans.saturating_sub(1);
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
        self.grant_send(h.index as usize);
        let Some(slot) = self.slot_mut(h) else {
            return Err(SocketError::InvalidHandle);
        };
        let n = slot.conn.send(data);
        if n > 0 {
            self.after_change(h.index as usize, Instant::ZERO);
        }
        Ok(n)
    }

    /// Queues urgent data (RFC 9293 3.8.5): the urgent pointer follows its last byte.
    ///
    /// # Errors
    /// As [`Sockets::send`].
    pub fn send_urgent(&mut self, h: Handle, data: &[u8]) -> Result<usize, SocketError> {
        let slot = self.slot_mut(h).ok_or(SocketError::InvalidHandle)?;
        if let Some(e) = slot.conn.error() {
            return Err(SocketError::Failed(e));
        }
        if !slot.conn.may_send() {
            return Err(SocketError::Closed);
        }
        let n = slot.conn.send_urgent(data);
        if n > 0 {
            self.after_change(h.index as usize, Instant::ZERO);
        }
        Ok(n)
    }

    /// The urgent mark of a connection: how many bytes remain to be read up to the end of the
    /// urgent data, while urgent data is pending (see [`Connection::urgent_mark`]).
    pub fn urgent_mark(&self, h: Handle) -> Option<usize> {
        self.slot(h).and_then(|s| s.conn.urgent_mark())
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

    /// Closes the connection and lets go of the handle (RFC 9293 3.10.4): a FIN follows the
    /// queued data and the connection finishes closing on its own. Data that arrives from now
    /// on is answered with a RST; FIN-WAIT-2 lasts at most `fin_timeout`; beyond
    /// `max_orphans` such connections, the oldest is reset.
    pub fn close(&mut self, h: Handle) {
        let index = h.index as usize;
        let generation = h.generation;
        let Some(slot) = self.slot_mut(h) else {
            return;
        };
        slot.conn.close();
        slot.released = true;
        let counted = !slot.orphan && !matches!(slot.conn.state(), State::Closed | State::TimeWait);
        if counted {
            slot.orphan = true;
            self.orphans += 1;
            self.orphan_order.push_back((index, generation));
        }
        self.after_change(index, Instant::ZERO);
        self.limit_orphans();
    }

    /// Connections the application has closed that are still finishing (TIME-WAIT not
    /// included).
    pub fn orphans(&self) -> usize {
        self.orphans
    }

    /// Resets the oldest orphans while there are more than `max_orphans` (Linux resets the
    /// connection that finds too many; the oldest has had the longest to finish).
    fn limit_orphans(&mut self) {
        while self.orphans > self.config.max_orphans {
            let Some((index, generation)) = self.orphan_order.pop_front() else {
                break;
            };
            let Some(slot) = self
                .slots
                .get_mut(index)
                .and_then(Option::as_mut)
                .filter(|s| s.generation == generation && s.orphan)
            else {
                continue;
            };
            slot.orphan = false;
            self.orphans = self.orphans.saturating_sub(1);
            self.counters.orphans_reset += 1;
            debug!(
                "TCP {} <-> {}: reset in {}: more than {} closed connections still finishing",
                slot.conn.local(),
                slot.conn.remote(),
                slot.conn.state(),
                self.config.max_orphans
            );
            if let Some(rst) = slot.conn.abort() {
                let (local, remote) = (slot.conn.local(), slot.conn.remote());
                self.queue_reset(local, remote, rst);
            }
            self.after_change(index, Instant::ZERO);
        }
        // Entries of connections gone since are dropped when met; keep the queue in step.
        if self.orphan_order.len() > 2 * self.orphans + 64 {
            let slots = &self.slots;
            self.orphan_order.retain(|&(i, g)| {
                slots
                    .get(i)
                    .and_then(Option::as_ref)
                    .is_some_and(|s| s.generation == g && s.orphan)
            });
        }
    }

    /// True when a connection can be added: the table has a free place, or a TIME-WAIT
    /// connection can give up its own.
    pub(super) fn has_room(&mut self) -> bool {
        self.len() < self.config.max_connections || self.oldest_time_wait().is_some()
    }

    /// The oldest connection in TIME-WAIT that may be ended early, forgetting stale entries.
    fn oldest_time_wait(&mut self) -> Option<usize> {
        while let Some(&(index, generation)) = self.time_wait_order.front() {
            let live = self
                .slots
                .get(index)
                .and_then(Option::as_ref)
                .is_some_and(|s| {
                    s.generation == generation
                        && s.conn.state() == State::TimeWait
                        && (s.released || s.conn.recv_queue() == 0)
                });
            if live {
                return Some(index);
            }
            self.time_wait_order.pop_front();
        }
        None
    }

    /// Ends the oldest TIME-WAIT connection to make room in a full table. TIME-WAIT only
    /// guards against old duplicates of that one connection (RFC 9293 3.3.2); a full table
    /// must not refuse new connections for it (Linux likewise caps `tcp_max_tw_buckets`).
    fn recycle_time_wait(&mut self) -> bool {
        let Some(index) = self.oldest_time_wait() else {
            return false;
        };
        self.time_wait_order.pop_front();
        self.counters.time_wait_recycled += 1;
        if let Some(c) = self
            .slots
            .get(index)
            .and_then(Option::as_ref)
            .map(|s| &s.conn)
        {
            debug!(
                "TCP {} <-> {}: TIME-WAIT ended early, the table is full",
                c.local(),
                c.remote()
            );
        }
        self.remove(index);
        true
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

    /// ICMP "fragmentation needed" about a segment from `local` to `remote` with sequence
    /// number `seq` (taken only when `seq` is in flight, RFC 5927).
    pub fn on_path_mtu(&mut self, local: SocketAddr, remote: SocketAddr, mtu: u16, seq: Seq) {
        if let Some(&index) = self.by_key.get(&Key { local, remote }) {
            if let Some(slot) = self.slots.get_mut(index).and_then(Option::as_mut) {
                slot.conn.on_path_mtu(mtu, seq);
            }
        }
    }

    /// An ICMP destination unreachable about a segment from `local` to `remote` with sequence
    /// number `seq` (taken only when `seq` is in flight, RFC 5927).
    pub fn on_icmp_unreachable(&mut self, local: SocketAddr, remote: SocketAddr, seq: Seq) {
        if let Some(&index) = self.by_key.get(&Key { local, remote }) {
            if let Some(slot) = self.slots.get_mut(index).and_then(Option::as_mut) {
                slot.conn.on_icmp_unreachable(seq);
            }
            self.after_change(index, Instant::ZERO);
        }
    }

    /// The memory budget, what is in use and what it counted.
    pub fn memory(&self) -> Usage {
        self.memory.usage()
    }

    /// Counts the connection at `index` against the budget again after a change, and drops
    /// out-of-order data everywhere when that is due under pressure.
    pub(super) fn account(&mut self, index: usize) {
        let Some(slot) = self.slots.get_mut(index).and_then(Option::as_mut) else {
            return;
        };
        let now = slot.conn.buffer_memory();
        let drops = slot.conn.take_memory_drops();
        let before = slot.conn.recount_memory();
        self.memory.counters.memory_drops += drops;
        if before != now {
            self.memory.update(before, now);
            if self.memory.prune_due() {
                self.prune_out_of_order();
            }
        }
    }

    /// Grants the connection at `index` its allowance before it may take storage.
    pub(super) fn grant(&mut self, index: usize) {
        let connections = self.len();
        let pressure = self.memory.pressure();
        let Some(slot) = self.slots.get_mut(index).and_then(Option::as_mut) else {
            return;
        };
        let allowance = self
            .memory
            .allowance(slot.conn.accounted_memory(), connections);
        slot.conn.set_memory_allowance(allowance, pressure);
    }

    /// Grants the connection at `index` its allowance before the application sends: the room
    /// `send_capacity` showed is kept as long as the budget has it, even if the share has
    /// shrunk since (an application sizes its writes by it).
    pub(super) fn grant_send(&mut self, index: usize) {
        let connections = self.len();
        let pressure = self.memory.pressure();
        let Some(slot) = self.slots.get_mut(index).and_then(Option::as_mut) else {
            return;
        };
        let held = slot.conn.accounted_memory();
        let fresh = self.memory.allowance(held, connections);
        let shown = slot.conn.memory_allowance();
        let hard = held.saturating_add(self.memory.left());
        slot.conn
            .set_memory_allowance(fresh.max(shown.min(hard)), pressure);
    }

    /// Under pressure: every connection drops its out-of-order data and gives the storage back
    /// (out-of-order data goes first: the sender still has it).
    pub(super) fn prune_out_of_order(&mut self) {
        let mut dropped = 0u64;
        for slot in self.slots.iter_mut().flatten() {
            if !slot.conn.holds_out_of_order() {
                continue;
            }
            dropped += slot.conn.drop_out_of_order() as u64;
            let now = slot.conn.buffer_memory();
            let before = slot.conn.recount_memory();
            self.memory.update(before, now);
        }
        self.memory.counters.out_of_order_dropped += dropped;
    }

    /// Sets a connection's user timeout (RFC 5482; see [`Connection::set_user_timeout`]).
    pub fn set_user_timeout(&mut self, h: Handle, timeout: Option<Duration>) {
        if let Some(slot) = self.slot_mut(h) {
            slot.conn.set_user_timeout(timeout);
        }
    }

    /// Reads and clears a connection's latest soft error (RFC 9293 MUST-47).
    pub fn take_soft_error(&mut self, h: Handle) -> Option<SoftError> {
        self.slot_mut(h).and_then(|s| s.conn.take_soft_error())
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
        if now != slot.logged && now == State::TimeWait {
            // Oldest first, for `recycle_time_wait`; TIME-WAIT is not counted as an orphan.
            self.time_wait_order.push_back((index, slot.generation));
            if slot.orphan {
                slot.orphan = false;
                self.orphans = self.orphans.saturating_sub(1);
            }
            if self.time_wait_order.len() > 2 * (self.slots.len() - self.free.len()) + 64 {
                let slots = &self.slots;
                self.time_wait_order.retain(|&(i, g)| {
                    slots
                        .get(i)
                        .and_then(Option::as_ref)
                        .is_some_and(|s| s.generation == g && s.conn.state() == State::TimeWait)
                });
            }
        }
        let Some(slot) = self.slots.get_mut(index).and_then(Option::as_mut) else {
            return;
        };
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
