//! The order of work in the socket table: a received segment (RFC 9293 3.10.7) goes to its
//! connection (through a one-entry lookup cache) or to the listeners; connections that may have
//! output wait in the ready queue; each connection's earliest deadline (RFC 9293 3.8: the
//! retransmission, delayed ACK, persist, keepalive and TIME-WAIT timers) sits in one ordered
//! timer set, so the next deadline is found without a scan; RSTs (RFC 9293 3.10.7.1) and cookie
//! SYN,ACKs wait in the control queue and go out first.

use core::net::SocketAddr;

use super::{
    segment, AckTiming, Control, Deadline, Error, Instant, Key, Lookup, Outcome, Reset, Sockets,
    State, CONTROL_QUEUE,
};

impl Sockets {
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
        let key = Key { local, remote };
        let index = match self.last_lookup {
            Some(last) if last.key == key => Some(last.index),
            _ => self.by_key.get(&key).copied(),
        };
        match index {
            Some(index) => {
                self.last_lookup = Some(Lookup { key, index });
                self.on_segment_at(index, now, seg, payload)
            }
            None => self.on_segment_unmatched(now, local, remote, seg, payload),
        }
    }

    /// A segment for the connection at `index`.
    pub(super) fn on_segment_at(
        &mut self,
        index: usize,
        now: Instant,
        seg: &segment::Repr,
        payload: &[u8],
    ) -> Outcome {
        self.memory.tick(now);
        self.grant(index);
        let Some(slot) = self.slots.get_mut(index).and_then(Option::as_mut) else {
            return Outcome::Ignored;
        };
        let arrival = slot.conn.on_segment_in_batch(now, seg, payload);
        let (local, remote) = (slot.conn.local(), slot.conn.remote());
        if let Some(rst) = arrival.reset {
            self.queue_reset(local, remote, rst);
        }
        self.settle_half_open(index);
        self.log_state(index);
        self.after_change(index, now);
        match arrival.ack {
            AckTiming::AfterBatch => Outcome::HandledInOrder,
            AckTiming::Now => Outcome::Handled,
        }
    }

    pub(super) fn queue_reset(&mut self, local: SocketAddr, remote: SocketAddr, rst: Reset) {
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
        self.control.push_back(Control {
            local,
            remote,
            repr,
        });
    }

    /// Marks a connection as possibly having output, and re-arms its timer.
    pub(super) fn after_change(&mut self, index: usize, now: Instant) {
        self.account(index);
        let Some(slot) = self.slots.get_mut(index).and_then(Option::as_mut) else {
            return;
        };
        if !slot.ready {
            slot.ready = true;
            self.ready.push_back(index);
        }
        let _ = now;
    }

    pub(super) fn reschedule(&mut self, index: usize) {
        self.log_state(index);
        let Some(slot) = self.slots.get_mut(index).and_then(Option::as_mut) else {
            return;
        };
        let next = slot.conn.poll_at();
        if slot.scheduled != next {
            if let Some(old) = slot.scheduled {
                self.timers.remove(&Deadline { at: old, index });
            }
            if let Some(t) = next {
                self.timers.insert(Deadline { at: t, index });
            }
            slot.scheduled = next;
        }
        let closed = slot.conn.state() == State::Closed;
        if closed {
            if !slot.finished && slot.conn.error().is_some_and(|e| e != Error::Aborted) {
                self.counters.failed += 1;
            }
            if !slot.finished {
                let c = slot.conn.counters();
                self.counters.fin_wait2_timeouts += c.fin_wait2_timeouts;
                self.counters.data_after_close += c.data_after_close;
                self.counters.loss.add(c);
            }
            slot.finished = true;
            if slot.released {
                self.remove(index);
            } else if let Some(old) = slot.scheduled.take() {
                self.timers.remove(&Deadline { at: old, index });
            }
        }
    }

    /// Appends the next segment to send to `out` and returns its `(local, remote)` addresses.
    /// (Appending lets the caller reserve room for the link and IP headers in front.)
    pub fn next_segment(
        &mut self,
        now: Instant,
        out: &mut Vec<u8>,
    ) -> Option<(SocketAddr, SocketAddr)> {
        if let Some(Control {
            local,
            remote,
            repr,
        }) = self.control.pop_front()
        {
            segment::emit(out, &repr, local.ip(), remote.ip(), [&[], &[]]);
            return Some((local, remote));
        }
        while let Some(&Deadline { at, index }) = self.timers.first() {
            if at > now {
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
        self.memory.tick(now);
        while let Some(&index) = self.ready.front() {
            // The allowance is granted again so that the window advertised reflects it.
            self.grant(index);
            let Some(slot) = self.slots.get_mut(index).and_then(Option::as_mut) else {
                self.ready.pop_front();
                continue;
            };
            let (local, remote) = (slot.conn.local(), slot.conn.remote());
            // A segment past the MTU goes as a super-frame, whose checksum the device
            // completes when it offers to.
            let partial_above = if self.partial_checksums {
                usize::from(self.mss) + 20
            } else {
                usize::MAX
            };
            let mut emit = |repr: &segment::Repr, payload: [&[u8]; 2]| {
                let len = payload[0].len() + payload[1].len();
                let partial = len > partial_above;
                segment::emit_with(out, repr, local.ip(), remote.ip(), payload, partial);
            };
            let sent = slot.conn.poll_transmit(now, &mut emit);
            // Timers may have given buffers back.
            self.account(index);
            if sent {
                return Some((local, remote));
            }
            if let Some(slot) = self.slots.get_mut(index).and_then(Option::as_mut) {
                slot.ready = false;
            }
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
        self.timers.first().map(|d| d.at)
    }
}
