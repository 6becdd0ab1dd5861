//! What a connection sends (RFC 9293 3.10, 3.8.6): its SYN, retransmissions, new data within the
//! send and congestion windows with Nagle (RFC 9293 3.7.4) and sender SWS avoidance (3.8.6.2.1),
//! its FIN, zero-window probes (3.8.6.1), keepalives (3.8.4) and ACKs; the window we advertise
//! (receiver SWS avoidance 3.8.6.2.2, window scaling RFC 7323 2) and the options each segment
//! carries (timestamps RFC 7323 3, SACK blocks RFC 2018 4).

use super::timers::Timer;
use super::{max_window, Connection, RttProbe, State, NON_VALIDATED_PERIOD};
use crate::tcp::congestion::Controller;
use crate::tcp::segment::{Flags, Options, Repr};
use crate::tcp::seq::Seq;
use crate::time::Instant;

/// Whether a data segment is new or sent again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Transmit {
    /// New data from SND.NXT: SND.NXT moves past it.
    New,
    /// A retransmission of a hole or of the segment at SND.UNA: SND.NXT stays.
    Retransmit,
}

impl Connection {
    /// Runs the timers, then produces at most one segment into `emit`. Returns true when it did.
    pub fn poll_transmit(&mut self, now: Instant, emit: &mut dyn FnMut(&Repr, [&[u8]; 2])) -> bool {
        self.clock = now;
        self.run_timers(now);
        match self.state {
            State::Closed | State::Listen => return false,
            State::TimeWait => return self.send_ack_if_due(now, emit),
            _ => {}
        }
        if self.syn_unacked() && self.snd.nxt == self.snd.iss {
            let repr = self.syn_repr(now);
            if self.snd.max == self.snd.iss {
                self.snd.max = self.snd.iss + 1;
            }
            self.snd.nxt = self.snd.iss + 1;
            if self.timers.get(Timer::Retransmit).is_none() {
                self.timers
                    .set(Timer::Retransmit, Some(now + self.rtt.rto()));
            }
            if self.retries == 0 && self.rtt_probe.is_none() {
                self.rtt_probe = Some(RttProbe {
                    seq: self.snd.iss,
                    sent: now,
                });
            }
            self.ack_done();
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
        if self.keepalive.due {
            // SEG.SEQ = SND.NXT - 1 with no data: the peer answers with an ACK.
            self.keepalive.due = false;
            let repr = self.base_repr(
                now,
                Seq(self.snd.max.0.wrapping_sub(1)),
                Flags {
                    ack: true,
                    ..Flags::default()
                },
            );
            self.counters.segments_out += 1;
            emit(&repr, [&[], &[]]);
            return true;
        }
        if self.rec.probe_due {
            self.rec.probe_due = false;
            if self.send_probe(now, emit) {
                return true;
            }
        }
        if self.sack_recovery() && self.cwnd_room() > 0 {
            if let Some(hole) = self.next_hole() {
                self.counters.sack_retransmits += 1;
                if hole.again {
                    self.counters.lost_retransmits += 1;
                }
                if self.send_segment_at(now, hole.seq, hole.len, Transmit::Retransmit, emit) {
                    return true;
                }
            }
        }
        if self.snd.nxt < self.snd.max && !self.rec.scoreboard.is_empty() {
            // Going back after a timeout: what the peer SACKed is not sent again.
            let unsacked = self.skip_sacked(self.snd.nxt);
            self.snd.nxt = unsacked.from.min(self.snd.max);
        }
        if self.rec.rexmit_first {
            self.rec.rexmit_first = false;
            if self.send_segment_at(now, self.snd.una, self.mss, Transmit::Retransmit, emit) {
                return true;
            }
        }
        let mut n = self.sendable_data();
        if let Some(next_sacked) = self.skip_sacked(self.snd.nxt).until {
            n = n.min(next_sacked.since(self.snd.nxt));
        }
        if n > 0 || self.fin_ready() {
            let seq = self.snd.nxt;
            return self.send_segment_at(now, seq, n, Transmit::New, emit);
        }
        self.note_app_limited();
        self.send_ack_if_due(now, emit)
    }

    /// Our SYN (or SYN,ACK) is not acknowledged yet. An explicit fact, not SND.UNA == ISS:
    /// after 2^32 - 1 acknowledged bytes SND.UNA is ISS again.
    pub(super) fn syn_unacked(&self) -> bool {
        !self.snd.syn_acked && self.state != State::Closed
    }

    /// True when a SYN, data or FIN could go out now (ignoring timers).
    pub(super) fn wants_to_send(&self) -> bool {
        if self.syn_unacked() && self.snd.nxt == self.snd.iss {
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

    pub(super) fn fin_ready(&self) -> bool {
        self.fin_queued
            && self.unsent_from(self.snd.nxt) == 0
            && self.fin_seq.is_none_or(|f| self.snd.nxt <= f)
    }

    /// How many new bytes may go out now (window, congestion window, Nagle, sender SWS).
    pub(super) fn sendable_data(&self) -> usize {
        let unsent = self.unsent_from(self.snd.nxt);
        if unsent == 0 {
            return 0;
        }
        let in_flight = self.snd.nxt.since(self.snd.una);
        // F-RTO's two new segments go whatever the window (RFC 5682 2.1 step 2b).
        let cwnd_room = self.cwnd_room().max(self.rec.frto_allowance);
        let rwnd_room = (self.snd.una + self.snd.wnd).since(self.snd.nxt);
        // After a timeout the first segment goes out whatever the window: at least one byte,
        // so that a window that closed while data was in flight is probed, not waited on.
        let rwnd_room = if self.sws_override {
            rwnd_room.max(1)
        } else {
            rwnd_room
        };
        let room = cwnd_room.min(rwnd_room);
        let n = unsent.min(room).min(self.send_limit());
        if n == 0 {
            return 0;
        }
        if n >= self.mss {
            return n;
        }
        // RFC 9293 3.7.4 (Nagle) and 3.8.6.2.1 (sender SWS avoidance): a short segment goes out
        // only if it empties the queue and nothing is in flight (or Nagle is off), or it is at
        // least half the largest window the peer offered.
        let all = n == unsent;
        if (all && (in_flight == 0 || self.nodelay))
            || (self.snd.max_wnd > 0 && n >= self.snd.max_wnd / 2)
            || self.sws_override
        {
            n
        } else {
            0
        }
    }

    /// Sends data from `seq` (up to `max` bytes), with a FIN if the data ends the stream.
    pub(super) fn send_segment_at(
        &mut self,
        now: Instant,
        seq: Seq,
        max: usize,
        transmit: Transmit,
        emit: &mut dyn FnMut(&Repr, [&[u8]; 2]),
    ) -> bool {
        // SACK blocks ride in the options: the payload shrinks so the datagram still fits the
        // MTU (the MSS already leaves room for timestamps).
        let blocks = self.ooo.len() + usize::from(self.rec.dsack.is_some());
        let sack_option = if self.sack && blocks > 0 {
            4 + 8 * blocks.min(if self.ts.is_some() { 3 } else { 4 })
        } else {
            0
        };
        let per_segment = self.mss.saturating_sub(sack_option).max(1);
        let segments = match transmit {
            Transmit::New => (self.send_limit() / self.mss.max(1)).max(1),
            Transmit::Retransmit => 1,
        };
        let max = max.min(per_segment * segments);
        let retransmit = transmit == Transmit::Retransmit;
        let offset = seq.since(self.tx_base);
        let n = self.unsent_from(seq).min(max);
        let fin_at = self.tx_base + self.tx.len();
        let with_fin = self.fin_queued
            && seq + n == fin_at
            && (self.fin_seq.is_none() || retransmit || self.snd.nxt <= fin_at);
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
        let is_retransmission = end <= self.snd.max && self.snd.max != self.snd.una || retransmit;
        if !is_retransmission && n > 0 {
            // RFC 7661 4.4.3: a window left unused for a non-validated period no longer says
            // what the path carries; it is halved for each such period (to no less than IW).
            if self.snd.una == self.snd.max && self.snd.syn_acked {
                let idle = now.saturating_duration_since(self.last_sent);
                let periods = idle.as_secs() / NON_VALIDATED_PERIOD.as_secs();
                for _ in 0..periods.min(16) {
                    self.cc.on_idle_period(self.mss);
                }
            }
            self.last_sent = now;
        }
        if self.sack_recovery() {
            self.rec.prr.out += n.max(1);
            self.rec.prr.sndcnt = self.rec.prr.sndcnt.saturating_sub(n.max(1));
        }
        if is_retransmission {
            self.counters.retransmits += 1;
            self.counters.retransmitted_bytes += n as u64;
            if let Some(undo) = self.rec.undo.as_mut() {
                undo.retransmits = undo.retransmits.saturating_add(1);
            }
        } else {
            self.counters.bytes_out += n as u64;
            if self.rtt_probe.is_none() && n > 0 {
                self.rtt_probe = Some(RttProbe { seq, sent: now });
            }
        }
        if !retransmit {
            self.snd.nxt = end;
            self.sws_override = false;
            self.rec.frto_allowance = self.rec.frto_allowance.saturating_sub(n);
        }
        if end > self.snd.max {
            self.snd.max = end;
        }
        if self.timers.get(Timer::Retransmit).is_none() {
            self.timers
                .set(Timer::Retransmit, Some(now + self.rtt.rto()));
        }
        if !retransmit && self.timers.get(Timer::Probe).is_none() {
            // Field by field, as `ack_done` below: `payload` borrows `tx`.
            let at = self.probe_deadline(now);
            self.timers.set(Timer::Probe, at);
        }
        // The data segment carries the ACK (`ack_done`, field by field: `payload` borrows `tx`).
        self.ack_now = false;
        self.timers.set(Timer::DelayedAck, None);
        self.unacked_segments = 0;
        self.counters.segments_out += 1;
        emit(&repr, payload);
        if n > 0 {
            self.track_sent(seq, seq + n, now);
        }
        true
    }

    /// A zero-window probe (RFC 9293 3.8.6.1). It carries SEG.SEQ = SND.UNA - 1 and no data, as
    /// Linux's does: a sequence number the peer has already acknowledged, so whatever its
    /// window, the peer answers with an ACK carrying its current window, and no byte is sent
    /// that the sequence space would then have to account for. The persist timer repeats it.
    pub(super) fn send_window_probe(
        &mut self,
        now: Instant,
        emit: &mut dyn FnMut(&Repr, [&[u8]; 2]),
    ) -> bool {
        if self.unsent_from(self.snd.nxt) == 0 {
            return false;
        }
        let seq = Seq(self.snd.una.0.wrapping_sub(1));
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
        self.ack_done();
        emit(&repr, [&[], &[]]);
        true
    }

    /// An ACK went out (or none is owed any more): nothing is due, the delayed ACK is off.
    pub(super) fn ack_done(&mut self) {
        self.ack_now = false;
        self.timers.set(Timer::DelayedAck, None);
    }

    pub(super) fn send_ack_if_due(
        &mut self,
        now: Instant,
        emit: &mut dyn FnMut(&Repr, [&[u8]; 2]),
    ) -> bool {
        let due = self.ack_now || self.timers.expired(Timer::DelayedAck, now);
        if !due || !self.state.synchronized() && self.state != State::SynReceived {
            return false;
        }
        // SND.MAX, not SND.NXT: after a timeout SND.NXT goes back to resend, but a pure ACK
        // numbered below what the peer has received would fail its acceptability test and be
        // dropped with its acknowledgment (RFC 9293 3.10.7.4).
        let repr = self.base_repr(
            now,
            self.snd.max,
            Flags {
                ack: true,
                ..Flags::default()
            },
        );
        self.ack_done();
        self.unacked_segments = 0;
        self.counters.segments_out += 1;
        emit(&repr, [&[], &[]]);
        true
    }

    /// The window we could advertise now: free buffer within the memory allowance and the
    /// auto-tuned window.
    pub(super) fn advertisable(&self) -> usize {
        self.receive_room().min(max_window(self.rcv.wscale))
    }

    pub(super) fn window_update_worth(&self, _grown: usize) -> bool {
        let open = self.advertisable();
        let current = self.rcv.adv.since(self.rcv.nxt);
        open >= current + (self.rx.capacity() / 2).min(self.mss.max(1))
    }

    /// The window field of a SYN or SYN,ACK.
    pub(super) fn syn_window_field(&mut self) -> u16 {
        // RFC 7323 2.2: the window of a SYN is never scaled. In an active open RCV.NXT is
        // not known yet: the edge is set from `syn_window` once the SYN,ACK arrives.
        let w = self.advertisable().min(65_535);
        self.rcv.syn_window = w;
        self.rcv.adv = self.rcv.nxt + w;
        w as u16
    }

    /// The window field to send, keeping the right edge from moving left.
    pub(super) fn window_field(&mut self) -> u16 {
        let shift = self.rcv.wscale;
        let mut wnd = self.advertisable();
        let current = self.rcv.adv.since(self.rcv.nxt);
        // Receiver SWS avoidance: keep the old edge unless the window grows by enough.
        if wnd < current + (self.rx.capacity() / 2).min(self.mss) {
            wnd = current;
        }
        let field = (wnd >> shift).min(65_535);
        let edge = self.rcv.nxt + (field << shift);
        if edge > self.rcv.adv {
            self.rcv.adv = edge;
        }
        // Rounded down: the peer never sees more room than there is (RFC 7323 2.4).
        (self.rcv.adv.since(self.rcv.nxt) >> shift).min(65_535) as u16
    }

    pub(super) fn base_repr(&mut self, now: Instant, seq: Seq, flags: Flags) -> Repr {
        let window = if flags.syn {
            self.syn_window_field()
        } else {
            self.window_field()
        };
        let mut options = Options::default();
        if let (Some(ts), Some(val)) = (self.ts, self.ts_now(now)) {
            options.timestamps = Some((val, if flags.ack { ts.recent } else { 0 }));
        }
        // RFC 2018 4: every ACK carries SACK blocks while out-of-order data is held (three fit
        // beside timestamps, four without).
        // A D-SACK block goes first, once (RFC 2883 4).
        if flags.ack && self.sack {
            let mut room = if options.timestamps.is_some() { 3 } else { 4 };
            if let Some((l, r)) = self.rec.dsack.take() {
                options.sack.push(l, r);
                self.counters.dsacks_sent += 1;
                room -= 1;
            }
            for (l, r) in self.ooo.sack_blocks(room) {
                options.sack.push(l, r);
            }
        }
        if flags.ack {
            self.rcv.last_ack_sent = self.rcv.nxt;
        }
        // RFC 9293 3.8.5: the urgent pointer goes on every segment while SND.UP > SEG.SEQ.
        let urgent = self.urgent_pointer(seq, flags);
        Repr {
            src_port: self.local.port(),
            dst_port: self.remote.port(),
            seq,
            ack: if flags.ack { self.rcv.nxt } else { Seq(0) },
            flags: Flags {
                urg: urgent.is_some(),
                ..flags
            },
            window,
            options,
            urgent: urgent.unwrap_or(0),
        }
    }

    pub(super) fn syn_repr(&mut self, now: Instant) -> Repr {
        // Everything but an active open's own SYN acknowledges the peer's.
        let ack = self.state != State::SynSent;
        let mut r = self.base_repr(
            now,
            self.snd.iss,
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
            r.options.window_scale = Some(self.rcv.wscale);
        }
        r.options.sack_permitted = self.sack;
        if ack && self.ts.is_none() {
            r.options.timestamps = None;
        }
        r
    }

    pub(super) fn flight(&self) -> usize {
        self.snd.max.since(self.snd.una)
    }

    /// Bytes of data (not SYN/FIN) from `seq` to the end of the send buffer.
    pub(super) fn unsent_from(&self, seq: Seq) -> usize {
        (self.tx_base + self.tx.len()).since(seq)
    }
}
