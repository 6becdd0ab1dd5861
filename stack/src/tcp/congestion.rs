//! Congestion control (RFC 5681) behind a small trait: NewReno (RFC 5681, RFC 6582), CUBIC
//! (RFC 9438) and BBR (the model-based controller of `bbr`). Loss recovery itself (duplicate ACKs, the recovery
//! point, the SACK scoreboard) lives in the connection; a controller only decides the window.

use core::fmt::Debug;
use core::time::Duration;

use super::hystart::{HyStart, Verdict, CSS_GROWTH_DIVISOR};
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
    /// A reduction turned out to be spurious: restore the window from before it (RFC 4015).
    fn undo(&mut self, cwnd: usize, ssthresh: usize);
    /// A delivery rate sample, taken on every ACK that reports data delivered (in recovery
    /// too). Only model-based controllers need it.
    fn on_rate_sample(&mut self, _now: Instant, _sample: &RateSample, _mss: usize) {}
    /// The window went unused for a non-validated period (RFC 7661 4.4.3, five minutes):
    /// halve it, keeping ssthresh at three quarters of it. BBR keeps its model.
    fn on_idle_period(&mut self, _mss: usize) {}
    /// True when the controller sets its own window during a loss recovery; otherwise
    /// proportional rate reduction (RFC 6937) brings the window down to ssthresh.
    fn bounds_recovery(&self) -> bool {
        false
    }
}

/// What an ACK says about the delivery rate (draft-cheng-iccrg-delivery-rate-estimation): bytes
/// delivered over an interval ending now, measured from the most recently sent segment it
/// reports delivered.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateSample {
    /// Bytes delivered in the interval.
    pub delivered: u64,
    /// The length of the interval: the longer of the send and the ACK intervals.
    pub interval: Duration,
    /// Bytes delivered over the connection's life, now.
    pub delivered_total: u64,
    /// Bytes delivered when the segment the sample is taken from was sent.
    pub prior_delivered: u64,
    /// Bytes this ACK newly reports delivered (acknowledged or SACKed).
    pub newly_delivered: usize,
    /// That segment's round-trip time, when it was sent only once.
    pub rtt: Option<Duration>,
    /// The sender had nothing more to send when it sent the segment: the rate may be below
    /// what the path carries.
    pub app_limited: bool,
    /// Bytes in flight after this ACK.
    pub inflight: usize,
}

/// Initial window (RFC 6928): min(10*MSS, max(2*MSS, 14600)).
pub fn initial_window(mss: usize) -> usize {
    (10 * mss).min((2 * mss).max(14_600))
}

/// Slow start's growth for `acked` new bytes: all of them, or a quarter in HyStart++'s
/// conservative slow start.
fn slow_start_growth(hystart: &HyStart, acked: usize) -> usize {
    if hystart.in_css() {
        acked / CSS_GROWTH_DIVISOR
    } else {
        acked
    }
}

/// HyStart++ takes a sample in slow start; when conservative slow start is over, congestion
/// avoidance begins at the current window.
fn hystart_sample(hystart: &mut HyStart, cwnd: usize, ssthresh: &mut usize, rs: &RateSample) {
    if cwnd < *ssthresh && hystart.on_sample(rs) == Verdict::EndSlowStart {
        *ssthresh = cwnd;
    }
}

/// RFC 7661 4.4.3: after a non-validated period, ssthresh keeps three quarters of the window and
/// the window is halved, to no less than IW.
fn halve_after_idle(cwnd: &mut usize, ssthresh: &mut usize, mss: usize) {
    *ssthresh = (*ssthresh).max(*cwnd / 4 * 3);
    *cwnd = (*cwnd / 2).max(initial_window(mss));
}

/// NewReno.
#[derive(Clone, Debug)]
pub struct NewReno {
    cwnd: usize,
    ssthresh: usize,
    /// Bytes acknowledged in congestion avoidance since cwnd last grew (RFC 5681 3.1, "appropriate byte counting").
    acked_in_ca: usize,
    /// HyStart++ (RFC 9406) in slow start.
    hystart: HyStart,
}

impl NewReno {
    /// A controller for a connection with send MSS `mss`.
    pub fn new(mss: usize) -> Self {
        NewReno {
            cwnd: initial_window(mss),
            ssthresh: usize::MAX,
            acked_in_ca: 0,
            hystart: HyStart::default(),
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
            // Slow start by bytes acknowledged (RFC 3465). RFC 5681 equation 2 caps each ACK
            // at one SMSS; like Linux, a stretch ACK (one ACK for a burst) counts in full, or
            // a receiver that coalesces ACKs would slow our start down. A quarter of that in
            // HyStart++'s conservative slow start.
            self.cwnd += slow_start_growth(&self.hystart, acked);
        } else {
            // Congestion avoidance: one SMSS per window's worth of acknowledged bytes.
            self.acked_in_ca += acked;
            if self.acked_in_ca >= self.cwnd {
                self.acked_in_ca -= self.cwnd;
                self.cwnd += mss;
            }
        }
    }

    fn on_rate_sample(&mut self, _now: Instant, rs: &RateSample, _mss: usize) {
        hystart_sample(&mut self.hystart, self.cwnd, &mut self.ssthresh, rs);
    }

    fn on_idle_period(&mut self, mss: usize) {
        halve_after_idle(&mut self.cwnd, &mut self.ssthresh, mss);
    }

    fn on_fast_retransmit(&mut self, _now: Instant, flight: usize, mss: usize) {
        self.hystart.on_loss();
        // RFC 5681 equation 4, then cwnd = ssthresh + 3*SMSS (3.2 step 4).
        self.ssthresh = (flight / 2).max(2 * mss);
        self.cwnd = self.ssthresh + 3 * mss;
        self.acked_in_ca = 0;
    }

    fn on_sack_recovery(&mut self, _now: Instant, flight: usize, mss: usize) {
        self.hystart.on_loss();
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
        self.hystart.on_loss();
        self.ssthresh = (flight / 2).max(2 * mss);
        // Loss window: one segment (RFC 5681 3.1).
        self.cwnd = mss;
        self.acked_in_ca = 0;
    }

    fn undo(&mut self, cwnd: usize, ssthresh: usize) {
        self.cwnd = self.cwnd.max(cwnd);
        self.ssthresh = ssthresh;
    }
}

/// Which controller new connections use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Algorithm {
    /// NewReno (RFC 5681, RFC 6582).
    NewReno,
    /// CUBIC (RFC 9438).
    Cubic,
    /// BBR (see [`Bbr`]): the default.
    #[default]
    Bbr,
}

pub use super::bbr::Bbr;

/// CUBIC (RFC 9438): the window follows a cubic function of the time since the last reduction,
/// with a Reno-friendly floor.
#[derive(Clone, Debug)]
pub struct Cubic {
    cwnd: usize,
    ssthresh: usize,
    /// Window before the last reduction (RFC 9438 W_max), in bytes.
    w_max: f64,
    /// Start of the current congestion avoidance epoch.
    epoch: Option<Instant>,
    /// Time to reach W_max again (RFC 9438 K), seconds.
    k: f64,
    /// The window the cubic curve is centred on (RFC 9438 cwnd_epoch / W_max), bytes.
    origin: f64,
    /// Reno-friendly estimate (RFC 9438 W_est), bytes.
    w_est: f64,
    /// HyStart++ (RFC 9406) in slow start.
    hystart: HyStart,
}

/// RFC 9438 4.1: C = 0.4 (segments per second cubed).
const CUBIC_C: f64 = 0.4;
/// RFC 9438 4.6: multiplicative decrease factor.
const CUBIC_BETA: f64 = 0.7;

impl Cubic {
    /// A controller for a connection with send MSS `mss`.
    pub fn new(mss: usize) -> Self {
        Cubic {
            cwnd: initial_window(mss),
            ssthresh: usize::MAX,
            w_max: 0.0,
            epoch: None,
            k: 0.0,
            origin: 0.0,
            w_est: 0.0,
            hystart: HyStart::default(),
        }
    }

    /// RFC 9438 4.6-4.7: reduce on congestion, with fast convergence.
    fn reduce(&mut self, mss: usize) {
        self.hystart.on_loss();
        let cwnd = self.cwnd as f64;
        self.w_max = if cwnd < self.w_max {
            cwnd * (1.0 + CUBIC_BETA) / 2.0
        } else {
            cwnd
        };
        self.ssthresh = ((cwnd * CUBIC_BETA) as usize).max(2 * mss);
        self.epoch = None;
    }
}

impl Controller for Cubic {
    fn cwnd(&self) -> usize {
        self.cwnd
    }

    fn ssthresh(&self) -> usize {
        self.ssthresh
    }

    fn on_ack(&mut self, now: Instant, acked: usize, mss: usize, rtt: Option<Duration>) {
        if self.cwnd < self.ssthresh {
            self.cwnd += slow_start_growth(&self.hystart, acked);
            return;
        }
        let seg = mss as f64;
        let epoch = match self.epoch {
            Some(t) => t,
            None => {
                // RFC 9438 4.2: a new epoch starts at the first ACK in congestion avoidance.
                let cwnd = self.cwnd as f64;
                if cwnd < self.w_max {
                    self.k = ((self.w_max - cwnd) / seg / CUBIC_C).cbrt();
                    self.origin = self.w_max;
                } else {
                    self.k = 0.0;
                    self.origin = cwnd;
                }
                self.w_est = cwnd;
                self.epoch = Some(now);
                now
            }
        };
        let rtt = rtt.unwrap_or(Duration::from_millis(100)).as_secs_f64();
        let t = now.saturating_duration_since(epoch).as_secs_f64() + rtt;
        // W_cubic(t) = C * (t - K)^3 + W_max (equation 1), in segments, here in bytes.
        let target = (CUBIC_C * (t - self.k).powi(3) * seg + self.origin)
            .clamp(self.cwnd as f64, 1.5 * self.cwnd as f64);
        // Reno-friendly region (4.3): W_est grows by alpha per RTT.
        let alpha = 3.0 * (1.0 - CUBIC_BETA) / (1.0 + CUBIC_BETA);
        self.w_est += alpha * seg * acked as f64 / self.cwnd as f64;
        let cwnd = self.cwnd as f64;
        let next = if target < self.w_est {
            self.w_est
        } else {
            // 4.4: cwnd grows by (target - cwnd) / cwnd per ACKed segment.
            cwnd + (target - cwnd) * acked as f64 / cwnd
        };
        self.cwnd = (next as usize).max(self.cwnd);
    }

    fn on_rate_sample(&mut self, _now: Instant, rs: &RateSample, _mss: usize) {
        hystart_sample(&mut self.hystart, self.cwnd, &mut self.ssthresh, rs);
    }

    fn on_idle_period(&mut self, mss: usize) {
        halve_after_idle(&mut self.cwnd, &mut self.ssthresh, mss);
    }

    fn on_fast_retransmit(&mut self, _now: Instant, _flight: usize, mss: usize) {
        self.reduce(mss);
        self.cwnd = self.ssthresh + 3 * mss;
    }

    fn on_sack_recovery(&mut self, _now: Instant, _flight: usize, mss: usize) {
        self.reduce(mss);
        self.cwnd = self.ssthresh;
    }

    fn on_dup_ack_in_recovery(&mut self, mss: usize) {
        self.cwnd += mss;
    }

    fn on_partial_ack(&mut self, acked: usize, mss: usize) {
        self.cwnd = self.cwnd.saturating_sub(acked).max(mss) + mss;
    }

    fn on_recovery_end(&mut self, flight: usize, mss: usize) {
        self.cwnd = self.ssthresh.min(flight.max(mss) + mss).max(2 * mss);
    }

    fn on_rto(&mut self, _now: Instant, _flight: usize, mss: usize) {
        self.reduce(mss);
        self.cwnd = mss;
    }

    fn undo(&mut self, cwnd: usize, ssthresh: usize) {
        self.cwnd = self.cwnd.max(cwnd);
        self.ssthresh = ssthresh;
        self.epoch = None;
    }
}

/// The controller of one connection.
#[derive(Clone, Debug)]
pub enum Cc {
    /// NewReno.
    NewReno(NewReno),
    /// CUBIC.
    Cubic(Cubic),
    /// BBR (boxed: its model is several times the size of the others).
    Bbr(Box<Bbr>),
}

impl Cc {
    /// A fresh controller of the given kind.
    pub fn new(algorithm: Algorithm, mss: usize) -> Self {
        match algorithm {
            Algorithm::NewReno => Cc::NewReno(NewReno::new(mss)),
            Algorithm::Cubic => Cc::Cubic(Cubic::new(mss)),
            Algorithm::Bbr => Cc::Bbr(Box::new(Bbr::new(mss))),
        }
    }

    fn inner(&self) -> &dyn Controller {
        match self {
            Cc::NewReno(c) => c,
            Cc::Cubic(c) => c,
            Cc::Bbr(c) => c.as_ref(),
        }
    }

    fn inner_mut(&mut self) -> &mut dyn Controller {
        match self {
            Cc::NewReno(c) => c,
            Cc::Cubic(c) => c,
            Cc::Bbr(c) => c.as_mut(),
        }
    }
}

impl Controller for Cc {
    fn cwnd(&self) -> usize {
        self.inner().cwnd()
    }
    fn ssthresh(&self) -> usize {
        self.inner().ssthresh()
    }
    fn on_ack(&mut self, now: Instant, acked: usize, mss: usize, rtt: Option<Duration>) {
        self.inner_mut().on_ack(now, acked, mss, rtt);
    }
    fn on_fast_retransmit(&mut self, now: Instant, flight: usize, mss: usize) {
        self.inner_mut().on_fast_retransmit(now, flight, mss);
    }
    fn on_sack_recovery(&mut self, now: Instant, flight: usize, mss: usize) {
        self.inner_mut().on_sack_recovery(now, flight, mss);
    }
    fn on_dup_ack_in_recovery(&mut self, mss: usize) {
        self.inner_mut().on_dup_ack_in_recovery(mss);
    }
    fn on_partial_ack(&mut self, acked: usize, mss: usize) {
        self.inner_mut().on_partial_ack(acked, mss);
    }
    fn on_recovery_end(&mut self, flight: usize, mss: usize) {
        self.inner_mut().on_recovery_end(flight, mss);
    }
    fn on_rto(&mut self, now: Instant, flight: usize, mss: usize) {
        self.inner_mut().on_rto(now, flight, mss);
    }
    fn undo(&mut self, cwnd: usize, ssthresh: usize) {
        self.inner_mut().undo(cwnd, ssthresh);
    }
    fn on_rate_sample(&mut self, now: Instant, sample: &RateSample, mss: usize) {
        self.inner_mut().on_rate_sample(now, sample, mss);
    }
    fn bounds_recovery(&self) -> bool {
        self.inner().bounds_recovery()
    }
    fn on_idle_period(&mut self, mss: usize) {
        self.inner_mut().on_idle_period(mss);
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

    #[test]
    fn cubic_reduces_by_beta_and_grows_back_along_the_curve() {
        let mss = 1000;
        let mut c = Cubic::new(mss);
        let t0 = Instant::from_secs(10);
        c.cwnd = 100_000;
        c.ssthresh = 50_000;
        c.on_sack_recovery(t0, 100_000, mss);
        assert_eq!((c.cwnd(), c.ssthresh()), (70_000, 70_000), "beta 0.7");
        // K = cbrt(30 segments / 0.4) = 4.2 s: about then the window is back near W_max.
        let rtt = Some(Duration::from_millis(10));
        let mut t = t0;
        let mut at_2s = 0;
        for i in 1..=5000u64 {
            t = t0 + Duration::from_millis(i);
            c.on_ack(t, mss, mss, rtt);
            if i == 2000 {
                at_2s = c.cwnd();
            }
        }
        assert!(
            at_2s > 70_000 && at_2s < 100_000,
            "concave growth towards W_max: {at_2s}"
        );
        assert!(c.cwnd() >= 99_000, "about W_max after K: {}", c.cwnd());
        // A second reduction below the old W_max converges faster (4.7).
        let before = c.cwnd();
        c.cwnd = 80_000;
        c.on_rto(t, 80_000, mss);
        assert_eq!(c.cwnd(), mss);
        assert!(
            c.w_max < 80_000.0 && before > 0,
            "fast convergence lowers W_max"
        );
    }

    #[test]
    fn hystart_ends_newreno_slow_start_on_a_rising_rtt_and_idle_periods_halve_the_window() {
        let mss = 1000;
        let t = Instant::ZERO;
        let mut c = NewReno::new(mss);
        let mut delivered = 0u64;
        // Rounds of eight samples: 10 ms, then 20 ms (a queue), then five more at 20 ms.
        for (round, rtt_ms) in [10u64, 20, 20, 20, 20, 20, 20].into_iter().enumerate() {
            let from = delivered;
            for _ in 0..8 {
                delivered += 1000;
                c.on_rate_sample(
                    t,
                    &RateSample {
                        delivered: 1000,
                        interval: Duration::from_millis(rtt_ms),
                        delivered_total: delivered,
                        prior_delivered: from,
                        newly_delivered: 1000,
                        rtt: Some(Duration::from_millis(rtt_ms)),
                        app_limited: false,
                        inflight: 8000,
                    },
                    mss,
                );
                let before = c.cwnd();
                c.on_ack(t, 1000, mss, None);
                let grew = c.cwnd() - before;
                if round == 2 {
                    assert_eq!(grew, 250, "a quarter in conservative slow start");
                }
            }
        }
        assert_eq!(c.ssthresh(), c.cwnd(), "congestion avoidance from here");
        // RFC 7661 4.4.3: five minutes unused halve the window, ssthresh keeps 3/4 of it.
        let cwnd = c.cwnd();
        c.on_idle_period(mss);
        assert_eq!(c.cwnd(), (cwnd / 2).max(10_000));
        assert!(c.ssthresh() >= cwnd / 4 * 3);
    }
}
