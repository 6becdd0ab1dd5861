//! Loss detection and recovery: the SACK scoreboard and pipe (RFC 6675), RACK's time-based loss
//! test (RFC 8985), fast retransmit and NewReno (RFC 5681 3.2, RFC 6582), and the Eifel
//! detection and response that undo a spurious recovery (RFC 3522, RFC 4015).

use core::time::Duration;

use super::{Connection, FirstRetransmit, Sent, MAX_REORDERING, MAX_REO_STEPS, MAX_TRACKED};
use crate::tcp::congestion::Controller;
use crate::tcp::segment::Repr;
use crate::tcp::seq::Seq;
use crate::time::Instant;

/// The part of a lost hole one retransmission covers (RFC 6675 NextSeg).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Hole {
    pub(super) seq: Seq,
    pub(super) len: usize,
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
            self.rec.high_rxt = self.snd.una;
            // RFC 6675 5 step 4.3: the first hole goes at once; later holes as RACK
            // finds them lost.
            if !self.is_lost(self.snd.una) {
                self.rec.rexmit_first = true;
                self.rec.high_rxt = self.snd.una + self.mss;
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

    /// RFC 6675 "pipe": bytes believed in the network: outstanding, less SACKed, less holes
    /// presumed lost and not yet retransmitted.
    pub(super) fn pipe(&self) -> usize {
        let lost: usize = self
            .holes()
            .map(|(s, e)| {
                let from = s.max(self.rec.high_rxt);
                if from < e && self.is_lost(from) {
                    e.since(from)
                } else {
                    0
                }
            })
            .sum();
        self.flight()
            .saturating_sub(self.rec.scoreboard.covered())
            .saturating_sub(lost)
    }

    /// RFC 6675 NextSeg rule 1: the first hole byte not yet retransmitted that IsLost() says is
    /// lost, and how much of the hole one segment covers.
    pub(super) fn next_hole(&self) -> Option<Hole> {
        self.holes().find_map(|(s, e)| {
            let from = s.max(self.rec.high_rxt);
            (from < e && self.is_lost(from)).then(|| Hole {
                seq: from,
                len: e.since(from).min(self.mss),
            })
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

    /// RFC 6675 IsLost(SeqNum): more than (DupThresh - 1) * SMSS bytes above it are SACKed. A
    /// segment merely overtaken by a few others (reordering) is not lost yet.
    pub(super) fn is_lost(&self, seq: Seq) -> bool {
        // RFC 8985 6.2: a segment is lost when a segment sent more than reo_wnd after it has
        // been delivered.
        // 6.3: or when it has been out for an RTT plus reo_wnd while later data was SACKed
        // (callers ask only about holes below SACKed data).
        let Some(delivered) = self.rack.xmit else {
            return false;
        };
        let at = self.rack.sent.partition_point(|s| s.end <= seq);
        match self.rack.sent.get(at) {
            Some(s) if s.start <= seq => {
                s.at + self.reo_wnd() < delivered || self.clock >= self.rack_deadline(s.at)
            }
            _ => false,
        }
    }

    /// When a segment sent at `sent` counts as lost if still unacknowledged (RFC 8985 6.3).
    pub(super) fn rack_deadline(&self, sent: Instant) -> Instant {
        sent + self.rtt.srtt().unwrap_or(self.rtt.rto()) + self.reo_wnd()
    }

    /// The RACK reordering timer: the earliest time a hole becomes lost by time alone.
    pub(super) fn rack_timer(&self) -> Option<Instant> {
        if !self.sack || self.rec.scoreboard.is_empty() {
            return None;
        }
        self.holes()
            .filter_map(|(s, _)| {
                let at = self.rack.sent.partition_point(|sent| sent.end <= s);
                self.rack
                    .sent
                    .get(at)
                    .filter(|sent| sent.start <= s)
                    .map(|sent| self.rack_deadline(sent.at))
            })
            .filter(|&t| t > self.clock)
            .min()
    }

    /// RACK's reordering window: quarters of min_RTT, at most SRTT (RFC 8985 6.2).
    pub(super) fn reo_wnd(&self) -> Duration {
        let quarter = self.rack.min_rtt.unwrap_or(Duration::from_millis(1)) / 4;
        let wnd = quarter.saturating_mul(self.rack.reo_steps);
        self.rtt.srtt().map_or(wnd, |srtt| wnd.min(srtt))
    }

    /// Notes a transmission of `[seq, end)` at `now` for RACK.
    pub(super) fn track_sent(&mut self, seq: Seq, end: Seq, now: Instant) {
        if seq >= end {
            return;
        }
        // New data, the common case: it goes after everything tracked.
        if self.rack.sent.back().is_none_or(|b| b.end <= seq) {
            if self.rack.sent.len() < MAX_TRACKED {
                self.rack.sent.push_back(Sent {
                    start: seq,
                    end,
                    at: now,
                });
            }
            return;
        }
        let at = self.rack.sent.partition_point(|s| s.end <= seq);
        let mut from = seq;
        for entry in self.rack.sent.range_mut(at..) {
            if entry.start >= end {
                break;
            }
            entry.at = now;
            from = from.max(entry.end);
        }
        if from < end
            && self.rack.sent.back().is_none_or(|b| b.end <= from)
            && self.rack.sent.len() < MAX_TRACKED
        {
            self.rack.sent.push_back(Sent {
                start: from,
                end,
                at: now,
            });
        }
    }

    /// RACK bookkeeping for an ACK: the newest send time among what it reports delivered
    /// (cumulatively or by SACK), then forget what is acknowledged.
    pub(super) fn rack_on_ack(&mut self, seg: &Repr) {
        let mut newest = self.rack.xmit;
        let mut consider = |t: Instant| newest = Some(newest.map_or(t, |n: Instant| n.max(t)));
        for &Sent { start, end, at } in &self.rack.sent {
            let acked = end <= seg.ack;
            let sacked = seg
                .options
                .sack
                .as_slice()
                .iter()
                .any(|&(l, r)| l <= start && end <= r);
            if acked || sacked {
                consider(at);
            }
            if start > seg.ack && !sacked && seg.options.sack.is_empty() {
                break;
            }
        }
        self.rack.xmit = newest;
        while self.rack.sent.front().is_some_and(|f| f.end <= seg.ack) {
            self.rack.sent.pop_front();
        }
    }
}
