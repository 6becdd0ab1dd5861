//! Congestion control (RFC 5681) behind a small trait, with NewReno (RFC 5681, RFC 6582) as the
//! default. Loss recovery itself (duplicate ACKs, the recovery point) lives in the connection;
//! a controller only decides the window.

use core::fmt::Debug;
use core::time::Duration;

use crate::time::Instant;

/// A congestion controller.
pub trait Controller: Debug + Send {
    /// The congestion window in bytes.
    fn cwnd(&self) -> usize;
    /// The slow start threshold in bytes.
    fn ssthresh(&self) -> usize;
    /// `acked` new bytes were acknowledged outside recovery.
    fn on_ack(&mut self, now: Instant, acked: usize, mss: usize, rtt: Option<Duration>);
    /// Three duplicate ACKs: entering fast recovery with `flight` bytes outstanding.
    fn on_fast_retransmit(&mut self, now: Instant, flight: usize, mss: usize);
    /// Loss detected with SACK information: the window is reduced once and the pipe
    /// algorithm of RFC 6675 decides what is sent (no inflation by duplicate ACKs).
    fn on_sack_recovery(&mut self, now: Instant, flight: usize, mss: usize);
    /// A duplicate ACK during recovery (the window inflates by one segment).
    fn on_dup_ack_in_recovery(&mut self, mss: usize);
    /// A partial ACK during recovery (RFC 6582 3.2 step 5).
    fn on_partial_ack(&mut self, acked: usize, mss: usize);
    /// Recovery ended with a full ACK (RFC 6582 3.2 step 4).
    fn on_recovery_end(&mut self, flight: usize, mss: usize);
    /// The retransmission timer fired (RFC 5681 3.1, equation 4).
    fn on_rto(&mut self, now: Instant, flight: usize, mss: usize);
}

/// Initial window (RFC 6928): min(10*MSS, max(2*MSS, 14600)).
pub fn initial_window(mss: usize) -> usize {
    (10 * mss).min((2 * mss).max(14_600))
}

/// NewReno.
#[derive(Clone, Debug)]
pub struct NewReno {
    cwnd: usize,
    ssthresh: usize,
    /// Bytes acknowledged in congestion avoidance since cwnd last grew (RFC 5681 3.1, "appropriate byte counting").
    acked_in_ca: usize,
}

impl NewReno {
    /// A controller for a connection with send MSS `mss`.
    pub fn new(mss: usize) -> Self {
        NewReno {
            cwnd: initial_window(mss),
            ssthresh: usize::MAX,
            acked_in_ca: 0,
        }
    }
}

impl Controller for NewReno {
    fn cwnd(&self) -> usize {
        self.cwnd
    }

    fn ssthresh(&self) -> usize {
        self.ssthresh
    }

    fn on_ack(&mut self, _now: Instant, acked: usize, mss: usize, _rtt: Option<Duration>) {
        if self.cwnd < self.ssthresh {
            // Slow start: cwnd += min(N, SMSS) per ACK (RFC 5681 equation 2).
            self.cwnd += acked.min(mss);
        } else {
            // Congestion avoidance: one SMSS per window's worth of acknowledged bytes.
            self.acked_in_ca += acked;
            if self.acked_in_ca >= self.cwnd {
                self.acked_in_ca -= self.cwnd;
                self.cwnd += mss;
            }
        }
    }

    fn on_fast_retransmit(&mut self, _now: Instant, flight: usize, mss: usize) {
        // RFC 5681 equation 4, then cwnd = ssthresh + 3*SMSS (3.2 step 4).
        self.ssthresh = (flight / 2).max(2 * mss);
        self.cwnd = self.ssthresh + 3 * mss;
        self.acked_in_ca = 0;
    }

    fn on_sack_recovery(&mut self, _now: Instant, flight: usize, mss: usize) {
        // RFC 6675 5 step 4.2: ssthresh = cwnd = FlightSize / 2 (RFC 5681 equation 4).
        self.ssthresh = (flight / 2).max(2 * mss);
        self.cwnd = self.ssthresh;
        self.acked_in_ca = 0;
    }

    fn on_dup_ack_in_recovery(&mut self, mss: usize) {
        self.cwnd += mss;
    }

    fn on_partial_ack(&mut self, acked: usize, mss: usize) {
        // Deflate by the amount acknowledged, add back one SMSS.
        self.cwnd = self.cwnd.saturating_sub(acked).max(mss) + mss;
    }

    fn on_recovery_end(&mut self, flight: usize, mss: usize) {
        self.cwnd = self.ssthresh.min(flight.max(mss) + mss);
    }

    fn on_rto(&mut self, _now: Instant, flight: usize, mss: usize) {
        self.ssthresh = (flight / 2).max(2 * mss);
        // Loss window: one segment (RFC 5681 3.1).
        self.cwnd = mss;
        self.acked_in_ca = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newreno_phases() {
        let mss = 1000;
        let t = Instant::ZERO;
        let mut c = NewReno::new(mss);
        assert_eq!(c.cwnd(), 10_000);
        c.on_ack(t, 1000, mss, None);
        assert_eq!(c.cwnd(), 11_000, "slow start");
        c.on_fast_retransmit(t, 20_000, mss);
        assert_eq!((c.ssthresh(), c.cwnd()), (10_000, 13_000));
        c.on_dup_ack_in_recovery(mss);
        assert_eq!(c.cwnd(), 14_000);
        c.on_partial_ack(3000, mss);
        assert_eq!(c.cwnd(), 12_000);
        c.on_recovery_end(20_000, mss);
        assert_eq!(c.cwnd(), 10_000);
        for _ in 0..10 {
            c.on_ack(t, 1000, mss, None);
        }
        assert_eq!(
            c.cwnd(),
            11_000,
            "one MSS per window in congestion avoidance"
        );
        c.on_rto(t, 8000, mss);
        assert_eq!((c.ssthresh(), c.cwnd()), (4000, 1000));
        c.on_sack_recovery(t, 30_000, mss);
        assert_eq!(
            (c.ssthresh(), c.cwnd()),
            (15_000, 15_000),
            "no inflation with SACK"
        );
    }
}
