//! Segment arrival (RFC 9293 3.10.7): SYN-SENT (3.10.7.3) and the synchronized states (3.10.7.4)
//! step by step, "first check sequence number" to "eighth, check the FIN bit", with PAWS (RFC
//! 7323 5), the robustness checks of RFC 5961, RTT samples (RFC 6298, RFC 7323 4.1), the ACK
//! step's loss detection (RFC 5681 3.2) and where received data goes (RFC 5681 4.2).

use core::time::Duration;

use super::timers::Timer;
use super::{Connection, Error, Reset, State, CHALLENGE_INTERVAL, TS_RECENT_VALID};
use crate::tcp::congestion::Controller;
use crate::tcp::segment::Repr;
use crate::tcp::seq::Seq;
use crate::time::Instant;

/// When the acknowledgment a received segment calls for goes out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckTiming {
    /// Before the next received frame is handled.
    Now,
    /// At the poll after the batch of received frames: one ACK for the whole batch.
    AfterBatch,
}

/// What became of a received segment, for the socket table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// A RST to send in answer.
    pub reset: Option<Reset>,
    /// When our answer goes out.
    pub ack: AckTiming,
}

impl Connection {
    /// Takes a segment that arrived in a batch of received frames, as [`Connection::on_segment`]
    /// does, and decides whether its acknowledgment goes out now or may wait for the poll after
    /// the batch. This is the one place that decides it.
    pub fn on_segment_in_batch(&mut self, now: Instant, seg: &Repr, payload: &[u8]) -> Arrival {
        // RFC 5681 4.2: "an ACK SHOULD be generated for at least every second full-sized
        // segment, and MUST be generated within 500 ms of the arrival of the first
        // unacknowledged packet", and "a TCP receiver SHOULD send an immediate duplicate ACK
        // when an out-of-order segment arrives" and "an immediate ACK when the incoming segment
        // fills in all or part of a gap in the sequence space".
        //
        // Handling a batch of frames is what GRO does: in-order data that continues the
        // received stream on an established connection, with nothing out of order held before
        // or after, is acknowledged once, cumulatively, when the batch is done, well within
        // 500 ms; every second segment of the batch is covered by that ACK. Everything else
        // (handshake, FIN, RST, out-of-order data, a filled gap, a segment that changed the
        // state or called for a reset) is answered at once.
        let in_order = self.state == State::Established
            && !payload.is_empty()
            && !seg.flags.syn
            && !seg.flags.fin
            && !seg.flags.rst
            && seg.seq == self.rcv.nxt
            && self.ooo.is_empty();
        let reset = self.on_segment(now, seg, payload);
        let routine =
            in_order && reset.is_none() && self.state == State::Established && self.ooo.is_empty();
        Arrival {
            reset,
            ack: if routine {
                AckTiming::AfterBatch
            } else {
                AckTiming::Now
            },
        }
    }

    /// RFC 9293 3.10.7.3 SYN-SENT and 3.10.7.4 for the other states. Returns a RST to send when
    /// the segment calls for one.
    pub fn on_segment(&mut self, now: Instant, seg: &Repr, payload: &[u8]) -> Option<Reset> {
        self.counters.segments_in += 1;
        self.clock = now;
        self.last_heard = now;
        self.keepalive.probes = 0;
        match self.state {
            State::Closed | State::Listen => None,
            State::SynSent => self.on_segment_syn_sent(now, seg, payload),
            _ => self.on_segment_synchronized(now, seg, payload),
        }
    }

    pub(super) fn on_segment_syn_sent(
        &mut self,
        now: Instant,
        seg: &Repr,
        payload: &[u8],
    ) -> Option<Reset> {
        let f = seg.flags;
        // "first check the ACK bit": acceptable only if ISS < SEG.ACK =< SND.NXT.
        if f.ack && !(seg.ack > self.snd.iss && seg.ack <= self.snd.max) {
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
        self.rcv.irs = seg.seq;
        self.rcv.nxt = seg.seq + 1;
        self.rcv.last_ack_sent = self.rcv.nxt;
        self.rcv.adv = self.rcv.nxt + self.rcv.syn_window;
        let ts_offset = self.ts.map_or(0, |t| t.offset);
        self.negotiate(seg, ts_offset);
        self.snd.wnd = usize::from(seg.window);
        self.snd.wl1 = seg.seq;
        self.snd.wl2 = seg.ack;
        self.snd.max_wnd = self.snd.wnd;
        if f.ack {
            // Our SYN is acknowledged: ESTABLISHED, answer with an ACK.
            self.snd.una = seg.ack;
            self.snd.syn_acked = true;
            self.on_rtt_sample(now, seg);
            self.after_handshake_timeouts();
            self.timers.set(Timer::Retransmit, None);
            // A shutdown during SYN-SENT with data queued takes effect now.
            self.state = if self.fin_queued {
                State::FinWait1
            } else {
                State::Established
            };
            self.ack_now = true;
            // RFC 9293 3.10.7.3: "continue processing at the sixth step": data on the SYN,ACK.
            if !payload.is_empty() {
                self.accept_data(now, seg.seq + 1, payload);
            }
            if f.fin {
                self.rcv.fin = Some(seg.seq + 1 + payload.len());
                self.try_consume_fin(now);
            }
        } else {
            // Simultaneous open: SYN-RECEIVED, send SYN,ACK.
            self.state = State::SynReceived;
            self.snd.nxt = self.snd.iss;
        }
        None
    }

    pub(super) fn on_segment_synchronized(
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
        if self.state == State::SynReceived && f.syn && !f.ack && !f.rst && seg.seq == self.rcv.irs
        {
            self.snd.nxt = self.snd.iss;
            return None;
        }

        // RFC 7323 5.3 R1: PAWS. A segment whose TSval is older than TS.Recent is a duplicate
        // from an earlier incarnation of the sequence space. RFC 7323 5.5: after 24 days
        // without an update TS.Recent is no longer valid (the peer's clock may have moved on by
        // more than half the timestamp space): the test is skipped and TS.Recent taken anew.
        let ts_stale = self
            .ts
            .is_some_and(|ts| now.saturating_duration_since(ts.recent_at) > TS_RECENT_VALID);
        if let (Some(ts), Some((val, _))) = (self.ts, seg.options.timestamps) {
            if !f.rst
                && !ts_stale
                && (val.wrapping_sub(ts.recent) as i32) < 0
                && self.state.synchronized()
            {
                self.counters.paws_dropped += 1;
                self.answer_dropped(now, seg.seq_len(payload.len()));
                return None;
            }
        }

        // "first check sequence number" (RFC 9293 3.10.7.4, the four acceptability cases).
        let seg_len = data.len() + usize::from(syn) + usize::from(fin);
        let wnd = self.rcv.adv.since(self.rcv.nxt);
        let acceptable = match (seg_len, wnd) {
            (0, 0) => seq == self.rcv.nxt,
            (0, _) => seq.in_range(self.rcv.nxt, self.rcv.nxt + wnd),
            (_, 0) => false,
            (n, _) => {
                seq.in_range(self.rcv.nxt, self.rcv.nxt + wnd)
                    || (seq + (n - 1)).in_range(self.rcv.nxt, self.rcv.nxt + wnd)
            }
        };
        if !acceptable {
            // A zero-window probe, or an old duplicate: answer with an ACK unless it is a RST.
            if !f.rst {
                // Data we have already: reported as a D-SACK (RFC 2883 4.1).
                if self.sack && !data.is_empty() && seq + data.len() <= self.rcv.nxt {
                    self.rec.dsack = Some((seq, seq + data.len()));
                }
                self.counters.out_of_window += 1;
                self.answer_dropped(now, seg_len);
                if self.state == State::TimeWait && fin {
                    self.restart_time_wait(now);
                }
            }
            return None;
        }
        // Trim to the window: what lies before RCV.NXT has been received already.
        if seq < self.rcv.nxt {
            let mut skip = self.rcv.nxt.since(seq);
            if syn {
                syn = false;
                skip -= 1;
                seq += 1;
            }
            let cut = skip.min(data.len());
            if self.sack && cut > 0 {
                self.rec.dsack = Some((seq, seq + cut));
            }
            data = data.get(cut..).unwrap_or_default();
            seq += cut;
        }
        let room = (self.rcv.nxt + wnd).since(seq);
        if data.len() > room {
            data = data.get(..room).unwrap_or_default();
            fin = false;
        }
        // The stream ends at the first FIN position seen (see the eighth step): nothing is
        // taken beyond it, and a FIN elsewhere is not the end.
        if let Some(end) = self.rcv.fin {
            let keep = if seq < end { end.since(seq) } else { 0 };
            if data.len() > keep {
                data = data.get(..keep).unwrap_or_default();
            }
            if fin && seq + data.len() != end {
                fin = false;
            }
        }

        // "second check the RST bit" with RFC 5961 3.2: only an exact match resets.
        if f.rst {
            if seg.seq == self.rcv.nxt {
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
                self.snd.nxt = self.snd.iss;
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
            if seg.ack > self.snd.una && seg.ack <= self.snd.max {
                self.after_handshake_timeouts();
                // A close during SYN-RECEIVED takes effect now (RFC 9293 3.10.4).
                self.state = if self.fin_queued {
                    State::FinWait1
                } else {
                    State::Established
                };
                self.snd.wnd = usize::from(seg.window) << self.snd.wscale;
                self.snd.wl1 = seg.seq;
                self.snd.wl2 = seg.ack;
                self.snd.max_wnd = self.snd.wnd;
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

        // RFC 7323 4.3 (2): "If SEG.TSval >= TS.Recent and SEG.SEQ =< Last.ACK.sent then
        // SEG.TSval is copied to TS.Recent": with delayed ACKs the echo is the timestamp of the
        // earliest segment the ACK covers, so the peer's RTT sample includes the delay.
        let last_ack_sent = self.rcv.last_ack_sent;
        if let (Some(ts), Some((val, _))) = (self.ts.as_mut(), seg.options.timestamps) {
            if seg.seq <= last_ack_sent && ((val.wrapping_sub(ts.recent) as i32) >= 0 || ts_stale) {
                ts.recent = val;
                ts.recent_at = now;
            }
        }

        // RFC 1122 4.2.2.13: "if new data is received after CLOSE is called, its TCP SHOULD
        // send a RST to show that data was lost" (RFC 9293 3.10.4). Nobody will read it.
        if !data.is_empty()
            && self.orphan
            && matches!(self.state, State::FinWait1 | State::FinWait2)
        {
            self.counters.data_after_close = 1;
            self.close_with(Some(Error::Aborted));
            return Some(Reset {
                seq: seg.ack,
                ack: None,
            });
        }

        // "sixth, check the URG bit" (MUST-30, MUST-31).
        if f.urg {
            self.on_urgent(seg.seq, seg.urgent);
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

        // "eighth, check the FIN bit". RFC 9293 3.10.7.4 takes segments in sequence order and
        // a FIN once; one that arrives early (after a hole) is remembered until the data before
        // it is in. The sequence space ends once: the first position remembered stands, data
        // beyond it is cut off and a FIN elsewhere ignored (above), and a FIN below data already
        // held is not taken. So a forged in-window FIN (which must also carry an acceptable
        // ACK, RFC 5961 5) can neither move the end of a stream nor leave the connection
        // waiting for a FIN it has passed.
        if fin {
            let fin_at = seq + data.len();
            let below_held = self
                .ooo
                .ranges()
                .last()
                .is_some_and(|&(_, end)| end > fin_at);
            if self.rcv.fin.is_none() && !below_held {
                self.rcv.fin = Some(fin_at);
            }
            self.ack_now = true;
        }
        self.try_consume_fin(now);
        None
    }

    /// The ACK step for synchronized states. Returns a RST when the ACK is unacceptable in a
    /// state that answers with one.
    /// Returns false when the segment must be dropped (RFC 9293 3.10.7.4 fifth step: an ACK of
    /// something not yet sent, or too old, is answered and the segment goes no further).
    pub(super) fn process_ack(&mut self, now: Instant, seg: &Repr, seg_data: usize) -> bool {
        let ack = seg.ack;
        // RFC 5961 5.2 / RFC 9293 MAY-12: acceptable if SND.UNA - MAX.SND.WND =< SEG.ACK =< SND.NXT;
        // otherwise an ACK answers, rate limited as challenge ACKs are (RFC 5961 7).
        if ack > self.snd.max {
            self.answer_unacceptable_ack(now);
            return false;
        }
        let oldest = Seq(self
            .snd
            .una
            .0
            .wrapping_sub(self.snd.max_wnd.min(1 << 30) as u32));
        if ack < oldest {
            self.answer_unacceptable_ack(now);
            return false;
        }
        let window = usize::from(seg.window) << self.snd.wscale;
        let (una_before, sacked_before) = (self.snd.una, self.rec.scoreboard.covered());
        if self.sack {
            if let Some((l, r)) = Self::dsack_of(seg) {
                self.on_dsack(l, r);
            }
            self.update_scoreboard(seg);
        }
        let newest = self.rack_on_ack(seg);
        if ack > self.snd.una {
            self.detect_spurious(seg);
            self.frto_on_ack(ack);
            let acked = ack.since(self.snd.una);
            // The window only grows while it limits sending (RFC 7661 2): a sender held back by
            // the peer's window or by its application learns nothing about the path.
            let cwnd_limited = self.flight() + 2 * self.mss >= self.cc.cwnd();
            self.on_rtt_sample(now, seg);
            // Release acknowledged data (the SYN and FIN take sequence space, not buffer).
            self.rec.scoreboard.remove_below(ack);
            let data_acked = ack.since(self.tx_base).min(self.tx.len());
            self.tx.consume(data_acked);
            if self.tx.is_empty() && self.tx.allocated() > 0 {
                self.arm_trim();
            }
            self.tx_base += data_acked;
            self.snd.una = ack;
            // SND.UNA above ISS: our SYN (which took ISS) is acknowledged.
            self.snd.syn_acked = true;
            if self.snd.nxt < ack {
                self.snd.nxt = ack;
            }
            self.retries = 0;
            self.rtt.reset_backoff();
            self.persist_backoff = 0;
            match self.rec.recover {
                Some(recover) if ack >= recover => {
                    // RFC 6582 3.2 step 4: full acknowledgment ends recovery.
                    self.rec.recover = None;
                    self.cc.on_recovery_end(self.flight(), self.mss);
                }
                // RFC 6675: the pipe decides; holes are taken from the scoreboard.
                Some(_) if self.sack_recovery() => {}
                Some(_) => {
                    // RFC 6582 step 5: partial acknowledgment; the next hole is lost too.
                    self.cc.on_partial_ack(acked, self.mss);
                    self.rec.rexmit_first = true;
                }
                None if cwnd_limited => self.cc.on_ack(now, acked, self.mss, self.rtt.srtt()),
                None => {}
            }
            self.rec.dup_acks = 0;
            // RFC 6298 5.2/5.3: stop the timer when all is acknowledged, else restart it.
            let rto_at = if self.snd.una == self.snd.max {
                None
            } else {
                Some(now + self.rtt.rto())
            };
            self.timers.set(Timer::Retransmit, rto_at);
            self.probe_on_ack(now, ack);
            self.arm_probe(now);
            if let Some(fin) = self.fin_seq {
                if ack > fin {
                    self.on_fin_acked(now);
                }
            }
        } else if ack == self.snd.una
            && seg_data == 0
            && window == self.snd.wnd
            && self.snd.una != self.snd.max
            && !seg.flags.syn
        {
            // RFC 5681 2: a duplicate ACK.
            self.counters.dup_acks += 1;
            self.rec.dup_acks += 1;
            self.frto_on_dup_ack();
            if self.rec.recover.is_some() && !self.sack_recovery() {
                self.cc.on_dup_ack_in_recovery(self.mss);
            }
        }
        // Loss detection: three duplicate ACKs (RFC 5681 3.2), or with SACK more than
        // (DupThresh - 1) * SMSS bytes SACKed above SND.UNA (RFC 6675 IsLost).
        // RFC 5827 early retransmit: with fewer than four segments out and nothing new to
        // send, three duplicate ACKs can never come; one less than the segments out will do
        // (not once the path has shown reordering).
        let outstanding = self.flight().div_ceil(self.mss.max(1));
        let threshold = if outstanding < 4 && self.rec.reordering <= 3 && self.sendable_data() == 0
        {
            self.rec
                .reordering
                .min(outstanding.saturating_sub(1).max(1))
        } else {
            self.rec.reordering
        };
        let sack_loss = self.sack && self.holes().any(|(s, _)| self.is_lost(s));
        if self.rec.recover.is_none()
            && self.snd.una != self.snd.max
            && (self.rec.dup_acks as usize >= threshold || sack_loss)
        {
            self.enter_recovery(now);
        }
        // What this ACK reports delivered, cumulatively or by SACK.
        let acked = if ack > una_before {
            ack.since(una_before)
        } else {
            0
        };
        let delivered = (acked + self.rec.scoreboard.covered()).saturating_sub(sacked_before);
        // The pipe once for both: PRR and the rate sample see the same network.
        let in_sack_recovery = self.sack_recovery();
        let inflight = if in_sack_recovery {
            self.pipe()
        } else {
            self.flight()
        };
        if in_sack_recovery {
            self.prr_on_ack(delivered, inflight);
        }
        self.sample_rate(now, newest, delivered, inflight);
        // Window update (RFC 9293 3.10.7.4, "If SND.UNA =< SEG.ACK =< SND.NXT ... update the window").
        if self.snd.wl1 < seg.seq || (self.snd.wl1 == seg.seq && self.snd.wl2 <= ack) {
            self.snd.wnd = window;
            self.snd.wl1 = seg.seq;
            self.snd.wl2 = ack;
            self.snd.max_wnd = self.snd.max_wnd.max(window);
            if window > 0 {
                self.timers.set(Timer::Persist, None);
            }
        }
        true
    }

    pub(super) fn on_fin_acked(&mut self, now: Instant) {
        match self.state {
            State::FinWait1 => {
                self.state = State::FinWait2;
                if self.orphan {
                    self.arm_fin_timeout();
                }
            }
            State::Closing => self.enter_time_wait(now),
            State::LastAck => self.close_with(None),
            _ => {}
        }
    }

    pub(super) fn try_consume_fin(&mut self, now: Instant) {
        let Some(fin_at) = self.rcv.fin else { return };
        if self.rcv.fin_received || fin_at != self.rcv.nxt {
            return;
        }
        match self.state {
            State::SynReceived | State::Established => {
                self.rcv.nxt += 1;
                self.state = State::CloseWait;
            }
            State::FinWait1 => {
                self.rcv.nxt += 1;
                // Our FIN not yet acknowledged: CLOSING; otherwise it was handled in the ACK step.
                self.state = State::Closing;
            }
            State::FinWait2 => {
                self.rcv.nxt += 1;
                self.enter_time_wait(now);
            }
            _ => return,
        }
        self.rcv.fin_received = true;
        self.ack_now = true;
    }

    pub(super) fn accept_data(&mut self, now: Instant, seq: Seq, data: &[u8]) {
        if seq == self.rcv.nxt {
            let n = self.rx.push(data);
            if n < data.len() {
                self.note_memory_drop();
            }
            self.rcv.nxt += n;
            self.counters.bytes_in += n as u64;
            let filled_hole = !self.ooo.is_empty();
            if let Some(end) = self.ooo.take_contiguous(self.rcv.nxt) {
                let extra = end.since(self.rcv.nxt);
                self.rx.commit(extra);
                self.rcv.nxt = end;
                self.counters.bytes_in += extra as u64;
            }
            if filled_hole {
                // RFC 5681 4.2: ACK at once when a segment fills (part of) a gap.
                self.ack_now = true;
            } else {
                self.unacked_segments += 1;
                if self.unacked_segments >= 2 || data.len() < self.mss {
                    self.ack_now = true;
                } else if !self.ack_now && self.timers.get(Timer::DelayedAck).is_none() {
                    self.timers
                        .set(Timer::DelayedAck, Some(now + self.params.delayed_ack));
                }
            }
        } else {
            // Out of order: keep it beyond the in-order data and ACK at once (RFC 5681 4.2).
            let end = seq + data.len();
            if self.sack
                && !data.is_empty()
                && self.ooo.ranges().iter().any(|&(l, r)| l <= seq && end <= r)
            {
                // Held already: a D-SACK tells the sender (RFC 2883 4.2).
                self.rec.dsack = Some((seq, end));
            }
            let offset = self.rx.len() + seq.since(self.rcv.nxt);
            let n = self.write_out_of_order(offset, data);
            if n > 0 && self.ooo.insert(seq, seq + n) {
                self.counters.out_of_order += 1;
            }
            self.ack_now = true;
        }
    }

    /// RFC 6298 5.7: if the SYN (or SYN,ACK) timed out and no RTT was measured since, data
    /// transmission starts with an RTO of 3 seconds.
    pub(super) fn after_handshake_timeouts(&mut self) {
        if self.retries > 0 && self.rtt.srtt().is_none() {
            self.rtt.set_initial(Duration::from_secs(3));
        }
        self.retries = 0;
        self.rtt.reset_backoff();
    }

    pub(super) fn challenge_ack(&mut self, now: Instant) {
        // RFC 5961 7: rate limited; one per 10 ms per connection is plenty for a real peer.
        if self
            .last_challenge
            .is_some_and(|t| now < t + CHALLENGE_INTERVAL)
        {
            return;
        }
        self.last_challenge = Some(now);
        self.counters.challenge_acks += 1;
        self.ack_now = true;
    }

    /// Answers a segment dropped by the sequence or PAWS test (RFC 9293 3.10.7.4 "first",
    /// RFC 7323 5.3) with an ACK. A segment that takes sequence space (data, SYN or FIN) is
    /// answered every time: its sender needs our ACK to stop retransmitting. A bare ACK is
    /// answered at most once per [`CHALLENGE_INTERVAL`], as Linux does with
    /// `tcp_invalid_ratelimit`: two ends that disagree about the window (or an attacker
    /// spoofing bare ACKs) cannot make us send an ACK for each one.
    pub(super) fn answer_dropped(&mut self, now: Instant, seg_len: usize) {
        if seg_len > 0 {
            self.ack_now = true;
        } else {
            self.answer_unacceptable_ack(now);
        }
    }

    /// An ACK in answer to an unacceptable ACK or a bare out-of-window segment, at most once
    /// per [`CHALLENGE_INTERVAL`].
    pub(super) fn answer_unacceptable_ack(&mut self, now: Instant) {
        if self
            .last_oow_ack
            .is_some_and(|t| now < t + CHALLENGE_INTERVAL)
        {
            self.counters.oow_acks_suppressed += 1;
            return;
        }
        self.last_oow_ack = Some(now);
        self.ack_now = true;
    }

    pub(super) fn take_sample(&mut self, rtt: Duration) {
        self.rtt.sample(rtt);
        self.rack.min_rtt = Some(self.rack.min_rtt.map_or(rtt, |m| m.min(rtt)));
    }

    pub(super) fn on_rtt_sample(&mut self, now: Instant, seg: &Repr) {
        // With timestamps, every ACK of new data gives a sample (RFC 7323 4.1); without, the
        // timed segment does, unless it was retransmitted (Karn).
        if let (Some(_), Some((_, ecr)), Some(ts_now)) =
            (self.ts, seg.options.timestamps, self.ts_now(now))
        {
            if ecr != 0 {
                let ms = ts_now.wrapping_sub(ecr);
                if ms < 60_000 {
                    // Through `take_sample`, so that RACK learns its min_RTT too.
                    self.take_sample(
                        Duration::from_millis(u64::from(ms)).max(Duration::from_micros(100)),
                    );
                    self.rtt_probe = None;
                    return;
                }
            }
        }
        if let Some(probe) = self.rtt_probe {
            if seg.ack > probe.seq {
                self.take_sample(now.saturating_duration_since(probe.sent));
                self.rtt_probe = None;
            }
        }
    }
}
