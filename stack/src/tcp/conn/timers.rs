//! The timers of one connection (RFC 9293 3.8): retransmission (RFC 6298), delayed ACK (RFC 9293
//! 3.8.6.3, RFC 5681 4.2), persist (RFC 9293 3.8.6.1), keepalive (RFC 9293 3.8.4, RFC 1122
//! 4.2.3.6), TIME-WAIT (2*MSL, RFC 9293 3.3.2), FIN-WAIT-2 once the application has closed (no
//! RFC timer: Linux's `tcp_fin_timeout`), the RACK reordering timer (RFC 8985 6.3), and the
//! deadline after which emptied buffers are given back.
//!
//! They form one closed set, [`Timer`]. Most are deadlines kept in a table, [`Timers`]; the
//! keepalive and RACK deadlines follow from other state and are computed when asked for. The
//! earliest of them all is [`Connection::poll_at`], which the socket table keeps in its timer set.

use super::{
    Connection, Frto, SoftError, State, BUFFER_TRIM_AFTER, KEEPALIVE_INTERVAL, KEEPALIVE_PROBES,
    R1_RETRANSMISSIONS,
};
use crate::tcp::buffer::{Assembler, Ring};
use crate::tcp::congestion::Controller;
use crate::tcp::Error;
use crate::time::Instant;

/// The timers of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Timer {
    /// Retransmission timeout (RFC 6298).
    Retransmit,
    /// Delayed acknowledgment (RFC 9293 3.8.6.3).
    DelayedAck,
    /// Zero-window probe, or the sender SWS override (RFC 9293 3.8.6.1, 3.8.6.2.1).
    Persist,
    /// End of TIME-WAIT.
    TimeWait,
    /// End of the wait for the peer's FIN in FIN-WAIT-2, once the application has closed.
    FinWait2,
    /// Give back emptied buffers (see [`BUFFER_TRIM_AFTER`]).
    Trim,
    /// Next keepalive probe (computed from the time the last segment arrived).
    Keepalive,
    /// A hole is lost by time alone (RFC 8985 6.3; computed from the RACK state).
    Reorder,
    /// Tail loss probe (RFC 8985 7.2).
    Probe,
}

impl Timer {
    /// Where the table keeps it; `None` for the timers computed from other state.
    pub(super) fn slot(self) -> Option<usize> {
        match self {
            Timer::Retransmit => Some(0),
            Timer::DelayedAck => Some(1),
            Timer::Persist => Some(2),
            Timer::TimeWait => Some(3),
            Timer::Trim => Some(4),
            Timer::FinWait2 => Some(5),
            Timer::Probe => Some(6),
            Timer::Keepalive | Timer::Reorder => None,
        }
    }
}

/// Timers kept as deadlines, indexed by [`Timer`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Timers {
    at: [Option<Instant>; 7],
}

impl Timers {
    /// The deadline of a kept timer (always `None` for a computed one).
    #[inline]
    pub(super) fn get(&self, timer: Timer) -> Option<Instant> {
        timer.slot().and_then(|i| self.at.get(i).copied().flatten())
    }

    /// Arms (`Some`) or stops (`None`) a kept timer.
    #[inline]
    pub(super) fn set(&mut self, timer: Timer, at: Option<Instant>) {
        if let Some(entry) = timer.slot().and_then(|i| self.at.get_mut(i)) {
            *entry = at;
        }
    }

    /// True when a kept timer is armed and its deadline has come.
    #[inline]
    pub(super) fn expired(&self, timer: Timer, now: Instant) -> bool {
        self.get(timer).is_some_and(|t| t <= now)
    }

    /// The earliest armed deadline in the table.
    pub(super) fn next(&self) -> Option<Instant> {
        self.at.iter().flatten().min().copied()
    }
}

impl Connection {
    /// The deadline of one timer, kept or computed.
    pub(super) fn deadline(&self, timer: Timer) -> Option<Instant> {
        match timer {
            Timer::Keepalive => self.keepalive_at(),
            Timer::Reorder => self.rack_timer(),
            kept => self.timers.get(kept),
        }
    }

    /// The earliest deadline of this connection.
    pub fn poll_at(&self) -> Option<Instant> {
        if self.state == State::Closed {
            return None;
        }
        if self.ack_now
            || self.rec.rexmit_first
            || self.rec.probe_due
            || self.window_probe
            || self.keepalive.due
            || self.wants_to_send()
        {
            return Some(Instant::ZERO);
        }
        // A delayed ACK is armed only while no ACK is due at once.
        [
            self.timers.next(),
            self.deadline(Timer::Keepalive),
            self.deadline(Timer::Reorder),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs the timers whose deadlines have come, in a fixed order.
    pub(super) fn run_timers(&mut self, now: Instant) {
        if self.timers.expired(Timer::Trim, now) {
            self.trim_buffers();
        }
        if self.timers.expired(Timer::TimeWait, now) {
            self.close_with(None);
            return;
        }
        if self.timers.expired(Timer::FinWait2, now) && self.state == State::FinWait2 {
            // Nobody will read what the peer might still send, and its FIN has not come: the
            // connection goes without a segment, as Linux's does; whatever the peer sends later
            // is answered with a RST by the CLOSED state (RFC 9293 3.10.7.1).
            self.counters.fin_wait2_timeouts = 1;
            self.close_with(None);
            return;
        }
        if self.deadline(Timer::Keepalive).is_some_and(|t| t <= now) {
            // RFC 9293 3.8.4 / RFC 1122 4.2.3.6: after KEEPALIVE_PROBES unanswered probes the
            // peer is gone.
            if self.keepalive.probes >= KEEPALIVE_PROBES {
                self.close_with(Some(Error::TimedOut));
                return;
            }
            self.keepalive.probes += 1;
            self.counters.keepalive_probes += 1;
            self.keepalive.due = true;
        }
        if self.timers.expired(Timer::Retransmit, now) {
            self.on_retransmission_timeout(now);
        }
        if self.timers.expired(Timer::Probe, now) {
            self.timers.set(Timer::Probe, None);
            self.rec.probe_due = self.probe_eligible();
        }
        // The RACK reordering timer (RFC 8985 6.3): a hole has now been out too long.
        if self.sack
            && self.rec.recover.is_none()
            && self.state.synchronized()
            && self.snd.una != self.snd.max
            && self.holes().any(|(s, _)| self.is_lost(s))
        {
            self.enter_recovery(now);
        }
        // Nothing in flight, data waiting, and the window too small to send it: with a zero
        // window the persist timer probes (RFC 9293 3.8.6.1, MUST-35/36); with a small one it is
        // the override timeout of sender SWS avoidance (3.8.6.2.1), after which what the window
        // allows goes out, so that a receiver that never updates its window cannot stall us.
        let stalled = self.snd.una == self.snd.max
            && self.unsent_from(self.snd.nxt) > 0
            && self.sendable_data() == 0;
        if stalled && self.state.synchronized() {
            match self.timers.get(Timer::Persist) {
                None => self.timers.set(Timer::Persist, Some(now + self.rtt.rto())),
                Some(t) if t <= now => {
                    self.persist_backoff = (self.persist_backoff + 1).min(12);
                    let wait = self
                        .rtt
                        .rto()
                        .saturating_mul(1 << self.persist_backoff)
                        .min(self.params.max_rto);
                    self.timers.set(Timer::Persist, Some(now + wait));
                    if self.snd.wnd == 0 {
                        self.window_probe = true;
                    } else {
                        self.sws_override = true;
                    }
                }
                Some(_) => {}
            }
        } else if !stalled {
            self.timers.set(Timer::Persist, None);
        }
    }

    /// RFC 6298 5.4-5.7: retransmit the earliest unacknowledged segment, back off, and restart.
    pub(super) fn on_retransmission_timeout(&mut self, now: Instant) {
        // RFC 9293 3.8.6.1 (MUST-37): a receiver that keeps its window at zero but keeps
        // acknowledging is alive; our retransmissions are then window probes and do not count
        // as failed retries. As Linux does, only while the peer has been heard within the
        // largest RTO, and not for a connection the application has closed.
        let zero_window_probe = self.snd.wnd == 0
            && self.snd.syn_acked
            && self.state.synchronized()
            && !self.orphan
            && now.saturating_duration_since(self.last_heard) <= self.params.max_rto;
        if !zero_window_probe {
            self.retries += 1;
        }
        if self.retries == 1 && !zero_window_probe {
            // The timer was armed one RTO ago, when the segment went out (or the last ACK came).
            self.stalled_since = Some(now - self.rtt.rto());
        }
        // Our SYN,ACK has a limit of its own (Linux's tcp_synack_retries): a half-open
        // connection should not hold its place for the ~11 minutes of the data limit.
        let limit = if self.syn_unacked() && self.state != State::SynSent {
            self.params.synack_retries
        } else {
            self.params.max_retries
        };
        // RFC 9293 3.8.3: R2 gives up; the user timeout (RFC 5482), when set, is R2 in time.
        let given_up = match (self.user_timeout, self.stalled_since) {
            (Some(timeout), Some(since)) if !zero_window_probe => now >= since + timeout,
            _ => self.retries > limit,
        };
        if given_up {
            self.close_with(Some(Error::TimedOut));
            return;
        }
        // R1: tell the application (MUST-20, RFC 1122 4.2.3.5).
        if self.retries == R1_RETRANSMISSIONS {
            self.soft_error = Some(SoftError::Retransmitting);
        }
        self.counters.timeouts += 1;
        if self.rtt.backoffs() == 0 {
            self.remember_for_undo();
            self.cc.on_rto(now, self.flight(), self.mss);
        }
        self.rec.probe = None;
        self.rec.probe_due = false;
        self.timers.set(Timer::Probe, None);
        // RFC 5682: without timestamps (the Eifel detection), F-RTO tells a spurious timeout
        // by the ACKs of new data; only for a first timeout, with data established.
        self.rec.frto = if self.ts.is_none()
            && self.rtt.backoffs() == 0
            && self.snd.syn_acked
            && self.state.synchronized()
        {
            Frto::First(self.snd.max)
        } else {
            Frto::Off
        };
        self.rec.frto_allowance = 0;
        if self.rtt.backoffs() > 0 {
            // A second timeout in a row: the peer may have discarded SACKed data (RFC 2018 8).
            self.rec.scoreboard.clear();
        }
        self.rtt.back_off();
        self.rtt_probe = None;
        self.rec.first_rexmit = None;
        self.rec.recover = None;
        self.rec.dup_acks = 0;
        // Go back: everything from SND.UNA is sent again as the window allows.
        self.snd.nxt = self.snd.una;
        if self.syn_unacked() {
            self.snd.nxt = self.snd.iss;
        }
        // The segment at SND.UNA goes out now, even if Nagle or SWS avoidance would hold it.
        self.sws_override = true;
        // The next timeout comes no later than the user timeout, so that it ends on time.
        let mut next = now + self.rtt.rto();
        if let (Some(limit), Some(since)) = (self.user_timeout, self.stalled_since) {
            next = next.min(since + limit);
        }
        self.timers.set(Timer::Retransmit, Some(next));
    }

    /// When the next keepalive probe is due: after `idle` without a segment, then every
    /// [`KEEPALIVE_INTERVAL`], while established with nothing in flight.
    pub(super) fn keepalive_at(&self) -> Option<Instant> {
        let idle = self.keepalive.idle?;
        if self.state != State::Established || self.snd.una != self.snd.max {
            return None;
        }
        Some(self.last_heard + idle + KEEPALIVE_INTERVAL.saturating_mul(self.keepalive.probes))
    }

    pub(super) fn enter_time_wait(&mut self, now: Instant) {
        self.state = State::TimeWait;
        self.timers.set(Timer::Retransmit, None);
        self.timers.set(Timer::Persist, None);
        self.timers.set(Timer::FinWait2, None);
        // No data moves any more: the buffers go now, and with them the loss-recovery state
        // (everything we sent is acknowledged). Only data the application has yet to read
        // stays, until it is read.
        self.free_buffers();
        self.timers
            .set(Timer::TimeWait, Some(now + self.params.time_wait));
    }

    /// Gives back every buffer no data will move through any more: the send ring, the
    /// out-of-order map, the SACK scoreboard and RACK's record of segments in flight, and the
    /// receive ring once it is read (at once when nobody will read it).
    pub(super) fn free_buffers(&mut self) {
        self.timers.set(Timer::Trim, None);
        self.tx = Ring::new(self.params.tx_buffer);
        self.ooo = Assembler::default();
        self.rec.scoreboard = Assembler::default();
        self.rack.sent = Default::default();
        if self.orphan || self.rx.is_empty() {
            self.rx = Ring::new(self.params.rx_buffer);
        }
    }

    /// Starts the FIN-WAIT-2 limit of a connection the application has closed.
    pub(super) fn arm_fin_timeout(&mut self) {
        if self.timers.get(Timer::FinWait2).is_none() {
            self.timers
                .set(Timer::FinWait2, Some(self.clock + self.params.fin_timeout));
        }
    }

    pub(super) fn restart_time_wait(&mut self, now: Instant) {
        self.timers
            .set(Timer::TimeWait, Some(now + self.params.time_wait));
    }

    /// Schedules giving back the emptied buffers unless that is already due.
    pub(super) fn arm_trim(&mut self) {
        if self.timers.get(Timer::Trim).is_none() {
            self.timers
                .set(Timer::Trim, Some(self.clock + BUFFER_TRIM_AFTER));
        }
    }

    /// Gives back the memory of buffers that are still empty.
    pub(super) fn trim_buffers(&mut self) {
        self.timers.set(Timer::Trim, None);
        if self.ooo.is_empty() {
            self.rx.shrink_if_empty();
        }
        self.tx.shrink_if_empty();
    }
}

#[cfg(test)]
mod tests {
    // A test module: it may unwrap.

    use super::*;

    #[test]
    fn table_keeps_deadlines_by_timer_and_gives_the_earliest() {
        let mut t = Timers::default();
        assert_eq!(t.next(), None);
        let at = Instant::from_millis;
        t.set(Timer::Retransmit, Some(at(300)));
        t.set(Timer::DelayedAck, Some(at(40)));
        t.set(Timer::TimeWait, Some(at(60_000)));
        assert_eq!(t.get(Timer::Retransmit), Some(at(300)));
        assert_eq!(t.next(), Some(at(40)));
        assert!(t.expired(Timer::DelayedAck, at(40)));
        assert!(!t.expired(Timer::Retransmit, at(299)));
        t.set(Timer::DelayedAck, None);
        assert_eq!(t.next(), Some(at(300)));
        // The computed timers have no entry in the table.
        t.set(Timer::Keepalive, Some(at(1)));
        t.set(Timer::Reorder, Some(at(1)));
        assert_eq!(t.get(Timer::Keepalive), None);
        assert_eq!(t.next(), Some(at(300)));
    }
}
