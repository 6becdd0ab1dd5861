//! Loss detection and recovery: the SACK scoreboard and pipe (RFC 6675), RACK-TLP (RFC 8985:
//! loss by time, lost retransmissions found and sent again, tail loss probes), proportional rate
//! reduction during recovery (RFC 6937), fast retransmit and NewReno (RFC 5681 3.2, RFC 6582),
//! D-SACK (RFC 2883) and the undo of needless reductions it and the Eifel detection show (RFC
//! 3522, RFC 4015, RFC 3708).

use core::time::Duration;

use super::output::Transmit;
use super::timers::Timer;
use super::{
    Connection, FirstRetransmit, Frto, Probe, Prr, Sent, Undo, MAX_REORDERING, MAX_REO_STEPS,
    MAX_TRACKED, MIN_PTO, MIN_RACK_WAIT, WORST_DELAYED_ACK,
};
use crate::tcp::congestion::{Controller, RateSample};
use crate::tcp::segment::Repr;
use crate::tcp::seq::Seq;
use crate::time::Instant;

/// The part of a lost hole one retransmission covers (RFC 6675 NextSeg).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Hole {
    pub(super) seq: Seq,
    pub(super) len: usize,
    /// It was retransmitted before, and that retransmission is lost too.
    pub(super) again: bool,
}

/// A stretch of sequence space the peer has not SACKed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Unsacked {
    /// Its first byte.
    pub(super) from: Seq,
    /// Where the next SACKed range starts, if one does.
    pub(super) until: Option<Seq>,
}

impl Connection {
    /// Enters loss recovery until SND.MAX is acknowledged (RFC 6582 3.2 step 2, RFC 6675 5).
    pub(super) fn enter_recovery(&mut self, now: Instant) {
        self.counters.fast_retransmits += 1;
        self.rec.recover = Some(self.snd.max);
        self.rtt_probe = None;
        self.timers.set(Timer::Probe, None);
        self.remember_for_undo();
        // How far beyond the hole the peer has received: if this loss turns out to be
        // reordering, that is the reordering to tolerate from now on.
        let depth =
            (self.rec.scoreboard.covered() / self.mss.max(1)).max(self.rec.dup_acks as usize);
        self.rec.first_rexmit = self.ts_now(now).map(|tsval| FirstRetransmit {
            seq: self.snd.una,
            tsval,
            cwnd: self.cc.cwnd(),
            ssthresh: self.cc.ssthresh(),
            depth,
        });
        if self.sack && !self.rec.scoreboard.is_empty() {
            self.cc.on_sack_recovery(now, self.flight(), self.mss);
            // RFC 6937: until an ACK says more, one segment may go (the retransmission).
            self.rec.prr = Prr {
                delivered: 0,
                out: 0,
                recover_fs: self.flight(),
                sndcnt: self.mss,
            };
            // RFC 6675 5 step 4.3: the first hole goes at once; later holes as RACK
            // finds them lost.
            if !self.is_lost(self.snd.una) {
                self.rec.rexmit_first = true;
                self.counters.sack_retransmits += 1;
            }
        } else {
            self.cc.on_fast_retransmit(now, self.flight(), self.mss);
            self.rec.rexmit_first = true;
        }
    }

    /// Records the peer's SACK blocks that describe data we sent above SND.UNA (RFC 2018 3;
    /// blocks outside that range are ignored, RFC 6675 5.1).
    pub(super) fn update_scoreboard(&mut self, seg: &Repr) {
        let floor = self.snd.una.max(seg.ack);
        for &(l, r) in seg.options.sack.as_slice() {
            if l < r && r > floor && r <= self.snd.max {
                // A full scoreboard keeps what it has; recovery then relies on the cumulative ACK.
                let _ = self.rec.scoreboard.insert(l.max(floor), r);
            }
        }
    }

    /// True while recovering with the SACK scoreboard (RFC 6675) rather than NewReno.
    pub(super) fn sack_recovery(&self) -> bool {
        self.rec.recover.is_some() && self.sack && !self.rec.scoreboard.is_empty()
    }

    /// RFC 6675 "pipe": bytes believed in the network: outstanding, less SACKed, less what RACK
    /// holds lost (never sent again, or sent again and lost again).
    pub(super) fn pipe(&self) -> usize {
        let lost: usize = self
            .hole_segments()
            .filter(|(s, _, _)| self.sent_lost(s))
            .map(|(_, from, end)| end.since(from))
            .sum();
        self.flight()
            .saturating_sub(self.rec.scoreboard.covered())
            .saturating_sub(lost)
    }

    /// RFC 6675 NextSeg rule 1 with RACK's test (RFC 8985 6.2): the first stretch of a hole that
    /// is lost, and how much of it one segment covers. A retransmission that is lost itself is
    /// found the same way: its send time is the retransmission's, and a segment sent after it
    /// has been delivered (or it has been out an RTT and the reordering window).
    pub(super) fn next_hole(&self) -> Option<Hole> {
        self.hole_segments()
            .find(|(s, _, _)| self.sent_lost(s))
            .map(|(s, from, end)| Hole {
                seq: from,
                len: end.since(from).min(self.mss),
                again: s.retransmitted,
            })
    }

    /// Holes: unSACKed ranges between SND.UNA and the highest SACKed byte.
    pub(super) fn holes(&self) -> impl Iterator<Item = (Seq, Seq)> + '_ {
        let mut from = self.snd.una;
        self.rec
            .scoreboard
            .ranges()
            .iter()
            .filter_map(move |&(s, e)| {
                let hole = (from < s).then_some((from, s));
                from = from.max(e);
                hole
            })
    }

    /// The tracked segments in holes, each with the stretch of it that lies in the hole (a
    /// segment the peer SACKed in part shows once per hole it reaches into). A binary search
    /// per hole: the scoreboard has few ranges, the record many segments.
    fn hole_segments(&self) -> impl Iterator<Item = (Sent, Seq, Seq)> + '_ {
        self.holes().flat_map(move |(from, to)| {
            let first = self.rack.sent.partition_point(|s| s.end <= from);
            self.rack
                .sent
                .range(first..)
                .take_while(move |s| s.start < to)
                .map(move |s| (*s, s.start.max(from), s.end.min(to)))
        })
    }

    /// The first byte at or after `seq` that the peer has not SACKed, and the start of the next
    /// SACKed range after it.
    pub(super) fn skip_sacked(&self, mut seq: Seq) -> Unsacked {
        for &(s, e) in self.rec.scoreboard.ranges() {
            if seq < s {
                return Unsacked {
                    from: seq,
                    until: Some(s),
                };
            }
            if seq < e {
                seq = e;
            }
        }
        Unsacked {
            from: seq,
            until: None,
        }
    }

    /// RFC 3522 (Eifel detection): an ACK covering our first retransmission that echoes a
    /// timestamp older than the one the retransmission carried was caused by the original
    /// segment, which was only reordered. The window reduction is undone (RFC 4015) and the
    /// reordering tolerance doubles, so the same reordering does not trigger recovery again.
    pub(super) fn detect_spurious(&mut self, seg: &Repr) {
        let Some(first) = self.rec.first_rexmit else {
            return;
        };
        if seg.ack <= first.seq {
            return;
        }
        self.rec.first_rexmit = None;
        let Some((_, ecr)) = seg.options.timestamps else {
            return;
        };
        if (ecr.wrapping_sub(first.tsval) as i32) < 0 {
            self.counters.spurious_recoveries += 1;
            if self.sack {
                self.rack.reo_steps = (self.rack.reo_steps + 1).min(MAX_REO_STEPS);
            } else {
                self.rec.reordering = self.rec.reordering.max(first.depth + 1).min(MAX_REORDERING);
            }
            self.cc.undo(first.cwnd, first.ssthresh);
            self.rec.recover = None;
            self.rec.dup_acks = 0;
        }
    }

    /// RFC 6675 IsLost(SeqNum), by RACK's test (RFC 8985 6.2) on the segment holding `seq`. A
    /// segment merely overtaken by a few others (reordering) is not lost yet.
    pub(super) fn is_lost(&self, seq: Seq) -> bool {
        let at = self.rack.sent.partition_point(|s| s.end <= seq);
        match self.rack.sent.get(at) {
            Some(s) if s.start <= seq => self.sent_lost(s),
            _ => false,
        }
    }

    /// RACK (RFC 8985 6.2): a segment sent no later than the most recently sent segment known
    /// delivered is lost once a segment sent more than reo_wnd after it has been delivered;
    /// 6.3: or once it has been out for an RTT plus reo_wnd. A segment (a retransmission, say)
    /// sent after everything known delivered is not judged until something sent after it is.
    fn sent_lost(&self, s: &Sent) -> bool {
        let Some(delivered) = self.rack.xmit else {
            return false;
        };
        s.at <= delivered
            && (s.at + self.reo_wnd() < delivered || self.clock >= self.rack_deadline(s.at))
    }

    /// When a segment sent at `sent` counts as lost if still unacknowledged (RFC 8985 6.3).
    /// Never sooner than [`MIN_RACK_WAIT`] after it went: on a path of a few microseconds (or
    /// a simulated one of none) a segment would otherwise be lost the moment it is sent.
    pub(super) fn rack_deadline(&self, sent: Instant) -> Instant {
        let wait = self.rtt.srtt().unwrap_or(self.rtt.rto()) + self.reo_wnd();
        sent + wait.max(MIN_RACK_WAIT)
    }

    /// The RACK reordering timer: the earliest time a segment in a hole (a retransmission too)
    /// becomes lost by time alone.
    pub(super) fn rack_timer(&self) -> Option<Instant> {
        if !self.sack || self.rec.scoreboard.is_empty() {
            return None;
        }
        let delivered = self.rack.xmit?;
        self.hole_segments()
            .filter(|(s, _, _)| s.at <= delivered && !self.sent_lost(s))
            .map(|(s, _, _)| self.rack_deadline(s.at))
            .filter(|&t| t > self.clock)
            .min()
    }

    /// RACK's reordering window: quarters of min_RTT, at most SRTT (RFC 8985 6.2).
    pub(super) fn reo_wnd(&self) -> Duration {
        let quarter = self.rack.min_rtt.unwrap_or(Duration::from_millis(1)) / 4;
        let wnd = quarter.saturating_mul(self.rack.reo_steps);
        self.rtt.srtt().map_or(wnd, |srtt| wnd.min(srtt))
    }

    /// Notes a transmission of `[seq, end)` at `now` for RACK and the delivery rate.
    pub(super) fn track_sent(&mut self, seq: Seq, end: Seq, now: Instant) {
        if seq >= end {
            return;
        }
        // Sending after a pause: the rate intervals start now.
        if self.rack.sent.is_empty() {
            self.rack.first_sent_at = now;
            self.rack.delivered_at = now;
        }
        let fresh = |start: Seq, end: Seq, rack: &super::Rack| Sent {
            start,
            end,
            at: now,
            retransmitted: false,
            delivered: rack.delivered,
            delivered_at: rack.delivered_at,
            first_sent_at: rack.first_sent_at,
            app_limited: rack.app_limited_until != 0,
        };
        // New data, the common case: it goes after everything tracked.
        if self.rack.sent.back().is_none_or(|b| b.end <= seq) {
            if self.rack.sent.len() < MAX_TRACKED {
                let entry = fresh(seq, end, &self.rack);
                self.rack.sent.push_back(entry);
            }
            return;
        }
        let at = self.rack.sent.partition_point(|s| s.end <= seq);
        let mut from = seq;
        let again = fresh(seq, end, &self.rack);
        for entry in self.rack.sent.range_mut(at..) {
            if entry.start >= end {
                break;
            }
            *entry = Sent {
                start: entry.start,
                end: entry.end,
                retransmitted: true,
                ..again
            };
            from = from.max(entry.end);
        }
        if from < end
            && self.rack.sent.back().is_none_or(|b| b.end <= from)
            && self.rack.sent.len() < MAX_TRACKED
        {
            let entry = fresh(from, end, &self.rack);
            self.rack.sent.push_back(entry);
        }
    }

    /// RACK bookkeeping for an ACK: the newest send time among what it reports delivered
    /// (cumulatively or by SACK), then forget what is acknowledged. Returns the most recently
    /// sent segment it reports delivered, for the delivery rate.
    pub(super) fn rack_on_ack(&mut self, seg: &Repr) -> Option<Sent> {
        let mut newest: Option<Sent> = None;
        // RFC 8985 6.2 step 2: an ACK of a segment sent again sooner than min_RTT ago was for
        // an earlier copy, and says nothing of when the last copy went.
        let ambiguous = |s: &Sent| {
            s.retransmitted
                && self
                    .rack
                    .min_rtt
                    .is_some_and(|m| self.clock.saturating_duration_since(s.at) < m)
        };
        for s in &self.rack.sent {
            let acked = s.end <= seg.ack;
            let sacked = seg
                .options
                .sack
                .as_slice()
                .iter()
                .any(|&(l, r)| l <= s.start && s.end <= r);
            if (acked || sacked) && !ambiguous(s) && newest.is_none_or(|n| s.at >= n.at) {
                newest = Some(*s);
            }
            if s.start > seg.ack && !sacked && seg.options.sack.is_empty() {
                break;
            }
        }
        if let Some(n) = newest {
            self.rack.xmit = Some(self.rack.xmit.map_or(n.at, |x| x.max(n.at)));
        }
        while self.rack.sent.front().is_some_and(|f| f.end <= seg.ack) {
            self.rack.sent.pop_front();
        }
        newest
    }

    /// Counts `delivered` bytes as delivered now and, when the ACK reported a segment
    /// delivered, hands the controller a delivery rate sample taken from it, with `inflight`
    /// bytes still in the network.
    pub(super) fn sample_rate(
        &mut self,
        now: Instant,
        newest: Option<Sent>,
        delivered: usize,
        inflight: usize,
    ) {
        if delivered == 0 {
            return;
        }
        self.rack.delivered += delivered as u64;
        self.rack.delivered_at = now;
        if self.rack.app_limited_until != 0 && self.rack.delivered > self.rack.app_limited_until {
            self.rack.app_limited_until = 0;
        }
        let Some(p) = newest else {
            return;
        };
        self.rack.first_sent_at = p.at;
        let send_interval = p.at.saturating_duration_since(p.first_sent_at);
        let ack_interval = now.saturating_duration_since(p.delivered_at);
        let sample = RateSample {
            delivered: self.rack.delivered - p.delivered,
            interval: send_interval.max(ack_interval),
            delivered_total: self.rack.delivered,
            prior_delivered: p.delivered,
            newly_delivered: delivered,
            rtt: (!p.retransmitted).then(|| now.saturating_duration_since(p.at)),
            app_limited: p.app_limited,
            inflight,
        };
        self.cc.on_rate_sample(now, &sample, self.mss);
    }

    /// Nothing more to send and room in the window: rate samples until what is in flight now
    /// is delivered show the application's pace, not the path's.
    pub(super) fn note_app_limited(&mut self) {
        if self.unsent_from(self.snd.nxt) == 0 && self.flight() < self.cc.cwnd() {
            self.rack.app_limited_until = (self.rack.delivered + self.flight() as u64).max(1);
        }
    }

    /// Bytes the congestion window lets go now: during a SACK recovery, PRR's sndcnt (RFC
    /// 6937), or for a controller that bounds its own recovery its window less the pipe; else
    /// the window less what is in flight from SND.UNA to SND.NXT.
    pub(super) fn cwnd_room(&self) -> usize {
        if !self.sack_recovery() {
            self.cc
                .cwnd()
                .saturating_sub(self.snd.nxt.since(self.snd.una))
        } else if self.cc.bounds_recovery() {
            self.cc.cwnd().saturating_sub(self.pipe())
        } else {
            self.rec.prr.sndcnt
        }
    }

    /// RFC 6937 3: on each ACK during recovery, `delivered` bytes newly acknowledged or SACKed
    /// set how much may be sent: in proportion to ssthresh / RecoverFS while the pipe is above
    /// ssthresh, then slow start up to ssthresh (the SSRB bound).
    pub(super) fn prr_on_ack(&mut self, delivered: usize, pipe: usize) {
        let mss = self.mss.max(1);
        let ssthresh = self.cc.ssthresh();
        let prr = &mut self.rec.prr;
        prr.delivered += delivered;
        let mut sndcnt = if pipe > ssthresh {
            (prr.delivered * ssthresh)
                .div_ceil(prr.recover_fs.max(1))
                .saturating_sub(prr.out)
        } else {
            let limit = prr.delivered.saturating_sub(prr.out).max(delivered) + mss;
            (ssthresh - pipe).min(limit)
        };
        // The fast retransmission itself always goes (as Linux's PRR does).
        if prr.out == 0 {
            sndcnt = sndcnt.max(mss);
        }
        prr.sndcnt = sndcnt;
    }

    /// Keeps the window from before a reduction (a recovery or a timeout), for D-SACKs or F-RTO
    /// to undo it.
    pub(super) fn remember_for_undo(&mut self) {
        self.rec.undo = Some(Undo {
            cwnd: self.cc.cwnd(),
            ssthresh: self.cc.ssthresh(),
            retransmits: 0,
            needless: 0,
        });
    }

    /// RFC 2883 4: the first SACK block of an ACK reports data that arrived twice when it lies
    /// below the cumulative ACK or within the second block.
    pub(super) fn dsack_of(seg: &Repr) -> Option<(Seq, Seq)> {
        let blocks = seg.options.sack.as_slice();
        let &(l, r) = blocks.first()?;
        let duplicate = r <= seg.ack || blocks.get(1).is_some_and(|&(l2, r2)| l2 <= l && r <= r2);
        (l < r && duplicate).then_some((l, r))
    }

    /// A D-SACK for `[l, r)`: the peer got those bytes twice. The reordering window grows (RFC
    /// 8985 7.2), a probe that only repeated a delivered segment is no loss, and once every
    /// retransmission since the last reduction proved needless, the reduction is undone (RFC
    /// 3708 3).
    pub(super) fn on_dsack(&mut self, l: Seq, r: Seq) {
        self.counters.dsacks_received += 1;
        self.rack.reo_steps = (self.rack.reo_steps + 1).min(MAX_REO_STEPS);
        if let Some(p) = self.rec.probe {
            if p.retransmitted && l < p.end && p.start < r {
                self.rec.probe = None;
            }
        }
        let Some(undo) = self.rec.undo.as_mut() else {
            return;
        };
        let segments = u32::try_from(r.since(l).div_ceil(self.mss.max(1)).max(1)).unwrap_or(1);
        undo.needless = undo.needless.saturating_add(segments);
        if undo.retransmits > 0 && undo.needless >= undo.retransmits {
            let Undo { cwnd, ssthresh, .. } = *undo;
            self.rec.undo = None;
            self.counters.spurious_recoveries += 1;
            self.cc.undo(cwnd, ssthresh);
            self.rec.first_rexmit = None;
            if self.rec.recover.is_some() {
                self.rec.recover = None;
                self.rec.dup_acks = 0;
            }
        }
    }

    /// RFC 8985 7.2: when the tail loss probe is due for what is in flight, if one may be sent:
    /// with SACK, outside recovery and timeouts, no probe out already, and before the RTO.
    pub(super) fn probe_deadline(&self, now: Instant) -> Option<Instant> {
        if !self.probe_eligible() {
            return None;
        }
        let pto = match self.rtt.srtt() {
            Some(srtt) => {
                let mut pto = srtt * 2;
                if self.flight() <= self.mss {
                    pto += WORST_DELAYED_ACK;
                }
                pto.max(MIN_PTO)
            }
            None => Duration::from_secs(1),
        };
        let at = now + pto;
        match self.timers.get(Timer::Retransmit) {
            Some(rto) if rto <= at => None,
            _ => Some(at),
        }
    }

    /// Whether a tail loss probe may be sent for what is in flight.
    pub(super) fn probe_eligible(&self) -> bool {
        self.sack
            && self.state.synchronized()
            && self.rec.recover.is_none()
            && self.rec.probe.is_none()
            && self.retries == 0
            && self.snd.una != self.snd.max
            && self.snd.nxt == self.snd.max
    }

    /// (Re)arms the probe timer for what is in flight now.
    pub(super) fn arm_probe(&mut self, now: Instant) {
        let at = self.probe_deadline(now);
        self.timers.set(Timer::Probe, at);
    }

    /// RFC 8985 7.3: the probe. New data if the peer's window has room for it, else the last
    /// segment again; then the RTO is armed anew.
    pub(super) fn send_probe(
        &mut self,
        now: Instant,
        emit: &mut dyn FnMut(&Repr, [&[u8]; 2]),
    ) -> bool {
        let room = (self.snd.una + self.snd.wnd).since(self.snd.nxt);
        let new = self.unsent_from(self.snd.nxt).min(room).min(self.mss);
        let (start, sent, retransmitted) = if new > 0 {
            let seq = self.snd.nxt;
            (
                seq,
                self.send_segment_at(now, seq, new, Transmit::New, emit),
                false,
            )
        } else {
            let data_end = self.tx_base + self.tx.len();
            let seq = if data_end.since(self.snd.una) > self.mss {
                Seq(data_end.0.wrapping_sub(self.mss as u32))
            } else {
                self.snd.una
            };
            let sent = self.send_segment_at(now, seq, self.mss, Transmit::Retransmit, emit);
            (seq, sent, true)
        };
        if sent {
            self.counters.tail_loss_probes += 1;
            self.timers.set(Timer::Probe, None);
            self.rec.probe = Some(Probe {
                start,
                end: self.snd.max,
                retransmitted,
            });
            self.timers
                .set(Timer::Retransmit, Some(now + self.rtt.rto()));
        }
        sent
    }

    /// RFC 8985 7.4: an ACK beyond the probe ends the episode. A probe that sent the last
    /// segment again and was not reported as a duplicate repaired a loss: the window is reduced
    /// once, as for a fast recovery.
    pub(super) fn probe_on_ack(&mut self, now: Instant, ack: Seq) {
        let Some(p) = self.rec.probe else {
            return;
        };
        if ack > p.end || (ack == p.end && !p.retransmitted) {
            self.rec.probe = None;
            if p.retransmitted {
                self.counters.fast_retransmits += 1;
                self.cc.on_sack_recovery(now, self.cc.cwnd(), self.mss);
            }
        }
    }

    /// F-RTO (RFC 5682 2.1) on an ACK of new data after a timeout. Step 2: when it does not
    /// acknowledge all that was out and new data can go, two new segments go instead of going
    /// back (2b); otherwise the recovery is the conventional one (2a). Step 3: an ACK of new data
    /// then shows the timeout was spurious, and its reduction is undone (3b, RFC 4015).
    pub(super) fn frto_on_ack(&mut self, ack: Seq) {
        match self.rec.frto {
            Frto::Off => {}
            Frto::First(recover) => {
                let room = (ack + self.snd.wnd).since(self.snd.max);
                if ack < recover && self.unsent_from(self.snd.max) > 0 && room > 0 {
                    self.snd.nxt = self.snd.max;
                    self.rec.frto_allowance = 2 * self.mss;
                    self.rec.frto = Frto::Second;
                } else {
                    self.rec.frto = Frto::Off;
                }
            }
            Frto::Second => {
                self.rec.frto = Frto::Off;
                self.rec.frto_allowance = 0;
                if let Some(Undo { cwnd, ssthresh, .. }) = self.rec.undo.take() {
                    self.counters.spurious_recoveries += 1;
                    self.cc.undo(cwnd, ssthresh);
                }
            }
        }
    }

    /// F-RTO on a duplicate ACK: the timeout was genuine. In step 3 (3a) the sender goes back
    /// to SND.UNA, as a conventional recovery would have at once.
    pub(super) fn frto_on_dup_ack(&mut self) {
        if self.rec.frto == Frto::Second {
            self.snd.nxt = self.snd.una;
        }
        self.rec.frto = Frto::Off;
        self.rec.frto_allowance = 0;
    }
}
