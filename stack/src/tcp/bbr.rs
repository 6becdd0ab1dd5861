//! BBR (draft-cardwell-iccrg-bbr-congestion-control, version 1 as Linux's `tcp_bbr`): a model of
//! the path, its bottleneck bandwidth (the largest delivery rate of the last ten round trips)
//! and its round-trip propagation time (the smallest RTT of the last ten seconds), sets the
//! window to twice their product. Random loss does not shrink the window, as it does for
//! NewReno and CUBIC; only a loss recovery holds it to what the ACKs bring back (packet
//! conservation) for a round trip.
//!
//! Segments are not paced: the window alone limits sending. Pacing would spread bursts on a
//! path with a shallow bottleneck queue; over a TAP link the window is what matters.

use core::time::Duration;

use super::congestion::{initial_window, Controller, RateSample};
use crate::time::Instant;

/// 2/ln(2): the gain that doubles the sending rate each round trip in startup.
const HIGH_GAIN: f64 = 2.885;
/// The window is this many times the estimated bandwidth-delay product.
const CWND_GAIN: f64 = 2.0;
/// Round trips the bandwidth filter remembers.
const BW_ROUNDS: usize = 10;
/// How long a minimum RTT stands before ProbeRTT measures it again.
const MIN_RTT_WINDOW: Duration = Duration::from_secs(10);
/// How long ProbeRTT holds the window at its floor.
const PROBE_RTT_TIME: Duration = Duration::from_millis(200);
/// The smallest window, in segments.
const MIN_CWND_SEGMENTS: usize = 4;
/// Startup ends when three round trips in a row grew the bandwidth by less than this.
const FULL_BW_GROWTH: f64 = 1.25;
/// The shortest RTT the window is sized for. Below a millisecond a host's own timers and ACK
/// batching, not the path, set the pace (and a simulated wire may show no delay at all): a
/// window of a microsecond's worth of bandwidth would starve the sender.
const MIN_MODEL_RTT: Duration = Duration::from_millis(1);
/// The longest burst of ACKs the window covers beyond the BDP.
const AGGREGATION_SPAN: Duration = Duration::from_millis(1);
/// The gains of ProbeBW, one per minimum RTT.
const CYCLE: [f64; 8] = [1.25, 0.75, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];

/// BBR's phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Doubling each round trip until the bandwidth stops growing.
    Startup,
    /// Letting the queue startup built drain away.
    Drain,
    /// Cycling gently around the estimated bandwidth.
    ProbeBw,
    /// Holding the window small for a while to see the path's own RTT.
    ProbeRtt,
}

/// BBR.
#[derive(Clone, Debug)]
pub struct Bbr {
    mode: Mode,
    cwnd: usize,
    /// The window before a recovery or ProbeRTT, restored after it.
    prior_cwnd: usize,
    /// Largest delivery rate per round trip, bytes per second, for the last BW_ROUNDS rounds
    /// (indexed by round modulo BW_ROUNDS).
    bw_rounds: [(u64, f64); BW_ROUNDS],
    min_rtt: Option<Duration>,
    min_rtt_at: Instant,
    /// Round trips counted so far, and the delivery count that ends the current one.
    round: u64,
    next_round_delivered: u64,
    full_bw: f64,
    full_bw_rounds: u32,
    filled_pipe: bool,
    cycle: usize,
    cycle_at: Instant,
    /// In ProbeRTT: when the floor has been held long enough.
    probe_rtt_done: Option<Instant>,
    /// ACK aggregation (Linux's `bbr_update_ack_aggregation`): the start of the current epoch
    /// and the bytes acknowledged in it.
    ack_epoch_at: Instant,
    ack_epoch_acked: u64,
    /// The largest excess of acknowledged bytes over what the bandwidth explains, over two
    /// periods of five round trips (the current one first) and the round the current began.
    extra_acked: [u64; 2],
    extra_acked_round: u64,
    /// In a loss recovery: the window follows the ACKs until this delivery count.
    conservation_until: Option<u64>,
}

impl Bbr {
    /// A controller for a connection with send MSS `mss`.
    pub fn new(mss: usize) -> Self {
        Bbr {
            mode: Mode::Startup,
            cwnd: initial_window(mss),
            prior_cwnd: 0,
            bw_rounds: [(0, 0.0); BW_ROUNDS],
            min_rtt: None,
            min_rtt_at: Instant::ZERO,
            round: 0,
            next_round_delivered: 0,
            full_bw: 0.0,
            full_bw_rounds: 0,
            filled_pipe: false,
            cycle: 2,
            cycle_at: Instant::ZERO,
            probe_rtt_done: None,
            ack_epoch_at: Instant::ZERO,
            ack_epoch_acked: 0,
            extra_acked: [0; 2],
            extra_acked_round: 0,
            conservation_until: None,
        }
    }

    /// The bottleneck bandwidth estimate, bytes per second.
    pub fn bandwidth(&self) -> f64 {
        self.bw_rounds
            .iter()
            .filter(|(round, _)| round + BW_ROUNDS as u64 > self.round)
            .map(|&(_, bw)| bw)
            .fold(0.0, f64::max)
    }

    /// The estimated bandwidth-delay product times `gain`, in bytes.
    fn bdp(&self, gain: f64, mss: usize) -> usize {
        match self.min_rtt {
            Some(rtt) if self.bandwidth() > 0.0 => {
                let rtt = rtt.max(MIN_MODEL_RTT);
                (self.bandwidth() * rtt.as_secs_f64() * gain) as usize
            }
            _ => initial_window(mss),
        }
    }

    fn pacing_gain(&self) -> f64 {
        match self.mode {
            Mode::Startup => HIGH_GAIN,
            Mode::Drain => 1.0 / HIGH_GAIN,
            Mode::ProbeBw => CYCLE.get(self.cycle).copied().unwrap_or(1.0),
            Mode::ProbeRtt => 1.0,
        }
    }

    /// The window BBR aims at: twice the BDP (startup: the high gain), plus room for three
    /// segments of ACK aggregation; at least the floor.
    fn target(&self, mss: usize) -> usize {
        let gain = match self.mode {
            Mode::Startup => HIGH_GAIN,
            Mode::Drain => 1.0,
            Mode::ProbeBw => CWND_GAIN * self.pacing_gain().max(1.0),
            Mode::ProbeRtt => return MIN_CWND_SEGMENTS * mss,
        };
        let aggregation = if self.filled_pipe {
            self.extra_acked.iter().copied().max().unwrap_or(0) as usize
        } else {
            0
        };
        (self.bdp(gain, mss) + 3 * mss + aggregation).max(MIN_CWND_SEGMENTS * mss)
    }

    /// ACKs that come in bursts (a receiver or a device that batches) deliver more in a short
    /// time than the bandwidth explains; the window must cover that excess or the sender stalls
    /// waiting for the next burst. The excess is estimated per epoch, as Linux does.
    fn update_ack_aggregation(&mut self, now: Instant, rs: &RateSample, round_start: bool) {
        let bw = self.bandwidth();
        if bw <= 0.0 || rs.newly_delivered == 0 {
            return;
        }
        if round_start {
            self.extra_acked_round += 1;
            if self.extra_acked_round >= 5 {
                self.extra_acked_round = 0;
                self.extra_acked = [0, self.extra_acked[0]];
            }
        }
        let elapsed = now
            .saturating_duration_since(self.ack_epoch_at)
            .as_secs_f64();
        let mut expected = (bw * elapsed) as u64;
        // The epoch restarts when the ACKs have fallen behind the bandwidth, or it grew long.
        if self.ack_epoch_acked <= expected || self.ack_epoch_acked >= 1 << 20 {
            self.ack_epoch_at = now;
            self.ack_epoch_acked = 0;
            expected = 0;
        }
        self.ack_epoch_acked += rs.newly_delivered as u64;
        // Batching of a millisecond or so is what devices and receivers do; more than that,
        // and more than a BDP, is a queue the sender's own bursts built, which the window must
        // not grow to feed.
        let cap = (bw * AGGREGATION_SPAN.as_secs_f64()) as u64;
        let cap = cap.max(self.bdp(1.0, 0) as u64).min(self.cwnd as u64);
        let extra = self.ack_epoch_acked.saturating_sub(expected).min(cap);
        if extra > self.extra_acked[0] {
            self.extra_acked[0] = extra;
        }
    }

    fn update_bandwidth(&mut self, rs: &RateSample) {
        if rs.delivered == 0 || rs.interval.is_zero() {
            return;
        }
        let bw = rs.delivered as f64 / rs.interval.as_secs_f64();
        // An application-limited sample says only that the path carries at least this much.
        if rs.app_limited && bw < self.bandwidth() {
            return;
        }
        let slot = (self.round % BW_ROUNDS as u64) as usize;
        if let Some(entry) = self.bw_rounds.get_mut(slot) {
            if entry.0 != self.round {
                *entry = (self.round, bw);
            } else if bw > entry.1 {
                entry.1 = bw;
            }
        }
    }

    /// Startup is over once the bandwidth has stopped growing by a quarter per round trip.
    fn check_full_pipe(&mut self, rs: &RateSample, round_start: bool) {
        if self.filled_pipe || !round_start || rs.app_limited {
            return;
        }
        let bw = self.bandwidth();
        if bw >= self.full_bw * FULL_BW_GROWTH {
            self.full_bw = bw;
            self.full_bw_rounds = 0;
            return;
        }
        self.full_bw_rounds += 1;
        if self.full_bw_rounds >= 3 {
            self.filled_pipe = true;
        }
    }

    fn update_mode(&mut self, now: Instant, rs: &RateSample, mss: usize) {
        if self.mode == Mode::Startup && self.filled_pipe {
            self.mode = Mode::Drain;
        }
        if self.mode == Mode::Drain && rs.inflight <= self.bdp(1.0, mss) {
            self.enter_probe_bw(now);
        }
        if self.mode == Mode::ProbeBw {
            let rtt = self.min_rtt.unwrap_or(Duration::from_millis(1));
            let elapsed = now.saturating_duration_since(self.cycle_at);
            // Each phase lasts a round trip; the draining one ends early once the queue it was
            // meant to drain is gone.
            let drained = self.pacing_gain() < 1.0 && rs.inflight <= self.bdp(1.0, mss);
            if elapsed > rtt || drained {
                self.cycle = (self.cycle + 1) % CYCLE.len();
                self.cycle_at = now;
            }
        }
    }

    fn enter_probe_bw(&mut self, now: Instant) {
        self.mode = Mode::ProbeBw;
        self.cycle = 2;
        self.cycle_at = now;
    }

    fn update_min_rtt(&mut self, now: Instant, rs: &RateSample, mss: usize) {
        let expired = now.saturating_duration_since(self.min_rtt_at) > MIN_RTT_WINDOW;
        if let Some(rtt) = rs.rtt {
            if self.min_rtt.is_none_or(|m| rtt <= m) || expired {
                self.min_rtt = Some(rtt);
                self.min_rtt_at = now;
            }
        }
        if expired && self.mode != Mode::ProbeRtt && self.min_rtt.is_some() {
            self.mode = Mode::ProbeRtt;
            self.prior_cwnd = self.prior_cwnd.max(self.cwnd);
            self.probe_rtt_done = None;
        }
        if self.mode == Mode::ProbeRtt {
            match self.probe_rtt_done {
                None if rs.inflight <= MIN_CWND_SEGMENTS * mss => {
                    self.probe_rtt_done = Some(now + PROBE_RTT_TIME);
                }
                Some(done) if now >= done => {
                    self.min_rtt_at = now;
                    self.cwnd = self.cwnd.max(self.prior_cwnd);
                    self.prior_cwnd = 0;
                    if self.filled_pipe {
                        self.enter_probe_bw(now);
                    } else {
                        self.mode = Mode::Startup;
                    }
                }
                _ => {}
            }
        }
    }

    fn set_cwnd(&mut self, rs: &RateSample, mss: usize) {
        let target = self.target(mss);
        if let Some(until) = self.conservation_until {
            if rs.delivered_total >= until {
                self.conservation_until = None;
            } else {
                // Packet conservation: no more out than came back.
                self.cwnd = self.cwnd.max(rs.inflight + rs.newly_delivered);
                return;
            }
        }
        if self.filled_pipe {
            self.cwnd = (self.cwnd + rs.newly_delivered).min(target);
        } else if self.cwnd < target || rs.delivered_total < initial_window(mss) as u64 {
            self.cwnd += rs.newly_delivered;
        }
        self.cwnd = self.cwnd.max(MIN_CWND_SEGMENTS * mss);
        if self.mode == Mode::ProbeRtt {
            self.cwnd = self.cwnd.min(MIN_CWND_SEGMENTS * mss);
        }
    }
}

impl Controller for Bbr {
    fn cwnd(&self) -> usize {
        self.cwnd
    }

    fn ssthresh(&self) -> usize {
        usize::MAX
    }

    fn on_ack(&mut self, _now: Instant, _acked: usize, _mss: usize, _rtt: Option<Duration>) {}

    fn on_rate_sample(&mut self, now: Instant, rs: &RateSample, mss: usize) {
        let round_start = rs.prior_delivered >= self.next_round_delivered;
        if round_start {
            self.next_round_delivered = rs.delivered_total;
            self.round += 1;
        }
        self.update_bandwidth(rs);
        self.update_ack_aggregation(now, rs, round_start);
        self.check_full_pipe(rs, round_start);
        self.update_mode(now, rs, mss);
        self.update_min_rtt(now, rs, mss);
        self.set_cwnd(rs, mss);
    }

    fn on_fast_retransmit(&mut self, now: Instant, flight: usize, mss: usize) {
        self.on_sack_recovery(now, flight, mss);
    }

    fn on_sack_recovery(&mut self, _now: Instant, flight: usize, mss: usize) {
        // Packet conservation for a round trip: the window starts at what is in flight.
        self.prior_cwnd = self.cwnd;
        self.cwnd = flight.max(MIN_CWND_SEGMENTS * mss);
        self.conservation_until = Some(self.next_round_delivered);
    }

    fn on_dup_ack_in_recovery(&mut self, _mss: usize) {}

    fn on_partial_ack(&mut self, _acked: usize, _mss: usize) {}

    fn on_recovery_end(&mut self, _flight: usize, _mss: usize) {
        self.conservation_until = None;
        self.cwnd = self.cwnd.max(self.prior_cwnd);
        self.prior_cwnd = 0;
    }

    fn on_rto(&mut self, _now: Instant, _flight: usize, mss: usize) {
        self.prior_cwnd = self.prior_cwnd.max(self.cwnd);
        self.cwnd = mss;
        self.conservation_until = None;
    }

    fn undo(&mut self, cwnd: usize, _ssthresh: usize) {
        self.cwnd = self.cwnd.max(cwnd);
    }

    fn bounds_recovery(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    // A test module: it may unwrap.

    use super::*;

    fn sample(delivered_total: u64, prior: u64, inflight: usize, rtt_us: u64) -> RateSample {
        RateSample {
            delivered: delivered_total - prior,
            delivered_total,
            prior_delivered: prior,
            newly_delivered: 2 * 1000,
            interval: Duration::from_micros(rtt_us),
            rtt: Some(Duration::from_micros(rtt_us)),
            app_limited: false,
            inflight,
        }
    }

    #[test]
    fn the_window_settles_at_twice_the_bandwidth_delay_product_and_ignores_random_loss() {
        let mss = 1000;
        let mut b = Bbr::new(mss);
        // A path of 10 MB/s and 10 ms: BDP 100 kB. Each sample: a window's worth delivered per
        // 10 ms once the window passes the BDP.
        let mut now = Instant::from_secs(1);
        let mut delivered = 0u64;
        for _ in 0..400 {
            let inflight = b.cwnd();
            let per_rtt = inflight.min(100_000) as u64;
            let prior = delivered;
            delivered += per_rtt;
            now = now + Duration::from_millis(10);
            let mut rs = sample(delivered, prior, inflight, 10_000);
            rs.interval = Duration::from_millis(10);
            rs.newly_delivered = per_rtt as usize;
            b.on_rate_sample(now, &rs, mss);
        }
        assert!(b.filled_pipe, "startup ended");
        let bw = b.bandwidth();
        assert!((9.0e6..=11.0e6).contains(&bw), "bandwidth {bw}");
        let cwnd = b.cwnd();
        assert!((190_000..=260_000).contains(&cwnd), "cwnd {cwnd}");
        // A loss recovery holds the window at what is in flight, then gives it back.
        b.on_sack_recovery(now, 150_000, mss);
        assert_eq!(b.cwnd(), 150_000);
        b.on_recovery_end(150_000, mss);
        assert_eq!(b.cwnd(), cwnd, "the window before the recovery is restored");
        assert_eq!(b.ssthresh(), usize::MAX);
    }
}
