//! One connection's side of the TCP memory budget ([`crate::tcp::memory`]): the allowance the
//! table grants before the connection may take storage, out-of-order data under pressure, and
//! receive-window auto-tuning.
//!
//! Auto-tuning follows Linux's dynamic right-sizing (DRS): once per round trip the bytes the
//! application read are counted; when it read more than half the window in that time, the
//! window was what held the transfer back and grows to twice what was read, up to the largest
//! window the scale chosen for the receive buffer can announce (RFC 7323 2.3), and never under
//! memory pressure. A connection starts with the configured receive buffer as its window.

use super::{max_window, scale_for, Connection};

/// The memory state of one connection (sizes as `u32`, saturating: a connection's buffers
/// are far below 4 GiB, and every connection carries this).
#[derive(Clone, Copy, Debug)]
pub(super) struct Share {
    /// Bytes of storage, send and receive buffers together, the connection may hold.
    allowance: u32,
    /// The storage the socket table last counted against the budget for this connection.
    accounted: u32,
    /// The receive window the connection aims at (DRS).
    space: u32,
    /// Bytes the application read since `since_ms`.
    copied: u32,
    /// Start of the current measurement, in milliseconds (wrapping).
    since_ms: u32,
    /// Segments whose data was cut for lack of memory, not yet taken by the table.
    drops: u16,
    /// The stack is under memory pressure.
    pressure: bool,
}

/// `n` as a `u32`, saturating.
fn sat(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Share {
    /// No limit until the table grants one; the window starts at the receive buffer.
    pub(super) fn new(rx_buffer: usize) -> Self {
        Share {
            allowance: u32::MAX,
            accounted: 0,
            space: sat(rx_buffer),
            copied: 0,
            since_ms: 0,
            drops: 0,
            pressure: false,
        }
    }
}

/// Capacity of the receive ring: what auto-tuning may grow the window to, the largest window
/// the scale chosen for `rx_buffer` announces (never less than the buffer itself). Without
/// window scaling the window stays at the buffer.
pub(super) fn rx_ceiling(rx_buffer: usize, window_scaling: bool) -> usize {
    if window_scaling {
        rx_buffer.max(max_window(scale_for(rx_buffer)))
    } else {
        rx_buffer
    }
}

impl Connection {
    /// Grants the connection `bytes` of buffer storage (send and receive together), and says
    /// whether the stack is under memory pressure. The socket table calls this before anything
    /// that may take storage.
    pub fn set_memory_allowance(&mut self, bytes: usize, pressure: bool) {
        self.mem.allowance = sat(bytes);
        self.mem.pressure = pressure;
        let spare = bytes.saturating_sub(self.buffer_memory());
        self.rx.set_limit(self.rx.allocated().saturating_add(spare));
        self.tx.set_limit(self.tx.allocated().saturating_add(spare));
    }

    /// The storage the connection may hold, as last granted.
    pub fn memory_allowance(&self) -> usize {
        self.mem.allowance as usize
    }

    /// The receive window auto-tuning aims at now.
    pub fn receive_window_target(&self) -> usize {
        self.mem.space as usize
    }

    /// Records that the socket table now counts this connection's storage as the bytes it
    /// holds; returns what it counted before.
    pub(crate) fn recount_memory(&mut self) -> usize {
        let now = sat(self.buffer_memory());
        core::mem::replace(&mut self.mem.accounted, now) as usize
    }

    /// The storage the socket table counts for this connection.
    pub(crate) fn accounted_memory(&self) -> usize {
        self.mem.accounted as usize
    }

    /// Drops the out-of-order data held (RFC 2018 8: the sender keeps it until it is
    /// acknowledged, and sends it again) and gives its storage back. Returns the bytes dropped.
    pub fn drop_out_of_order(&mut self) -> usize {
        if self.ooo.is_empty() {
            return 0;
        }
        let dropped = self.ooo.covered();
        self.ooo.clear();
        self.rx.shrink_to_held();
        dropped
    }

    /// Segments cut for lack of memory since the last call.
    pub(crate) fn take_memory_drops(&mut self) -> u64 {
        u64::from(core::mem::take(&mut self.mem.drops))
    }

    /// Counts a segment whose data was cut because no memory was left.
    pub(super) fn note_memory_drop(&mut self) {
        self.mem.drops = self.mem.drops.saturating_add(1);
    }

    /// Writes out-of-order data at `offset` past the head of the receive ring. Under pressure
    /// it may only use storage already taken.
    pub(super) fn write_out_of_order(&mut self, offset: usize, data: &[u8]) -> usize {
        if self.mem.pressure {
            let limit = self.memory_allowance().min(self.rx.allocated());
            self.rx.set_limit(limit);
        }
        let n = self.rx.write_at(offset, data);
        if n < data.len() {
            self.note_memory_drop();
        }
        n
    }

    /// The receive room the window may offer: free buffer within the memory allowance, and
    /// no more than the auto-tuned window.
    pub(super) fn receive_room(&self) -> usize {
        self.rx
            .free()
            .min(self.receive_window_target().saturating_sub(self.rx.len()))
    }

    /// The application read `n` bytes: DRS measures once per round trip.
    pub(super) fn on_app_read(&mut self, n: usize) {
        self.mem.copied = self.mem.copied.saturating_add(sat(n));
        let Some(rtt) = self.rtt.srtt() else { return };
        let now_ms = self.clock.millis() as u32;
        let rtt_ms = u32::try_from(rtt.as_millis()).unwrap_or(u32::MAX).max(1);
        if now_ms.wrapping_sub(self.mem.since_ms) < rtt_ms {
            return;
        }
        let copied = core::mem::take(&mut self.mem.copied) as usize;
        self.mem.since_ms = now_ms;
        let space = self.receive_window_target();
        if !self.mem.pressure && copied.saturating_mul(2) > space {
            let grown = copied.saturating_mul(2).max(space).min(self.rx.capacity());
            self.mem.space = sat(grown);
        }
    }
}
