//! HyStart++ (RFC 9406): slow start that stops doubling once the RTT shows a queue building,
//! before the queue overflows. NewReno and CUBIC use it.
//!
//! Rounds are counted by delivery: a round ends when a segment sent after it began is
//! delivered. When a round's smallest RTT (of at least eight samples) exceeds the previous
//! round's by an eighth of it (4 to 16 ms), slow start gives way to conservative slow start
//! (CSS): the window grows a quarter as fast, for up to five rounds. Then congestion avoidance
//! begins (ssthresh = cwnd), unless the RTT came back down, which shows the increase was not a
//! queue, and slow start resumes.

use core::time::Duration;

use super::congestion::RateSample;

/// RFC 9406 4.3: samples a round needs before its minimum counts.
const N_RTT_SAMPLE: u32 = 8;
/// The bounds of the RTT increase that ends slow start.
const MIN_RTT_THRESH: Duration = Duration::from_millis(4);
const MAX_RTT_THRESH: Duration = Duration::from_millis(16);
/// Growth in CSS is a quarter of slow start's.
pub(super) const CSS_GROWTH_DIVISOR: usize = 4;
/// Rounds of CSS before congestion avoidance.
const CSS_ROUNDS: u32 = 5;

/// The state of HyStart++ for one connection.
#[derive(Clone, Debug, Default)]
pub struct HyStart {
    /// The delivery count that ends the current round.
    round_end: u64,
    last_round_min: Option<Duration>,
    current_round_min: Option<Duration>,
    samples: u32,
    /// In CSS: the round minimum that ended slow start, and the rounds spent in CSS.
    css: Option<(Duration, u32)>,
    /// Slow start is over for good (CSS ran its course, or a loss came).
    done: bool,
}

/// What a sample tells the controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Keep going as before.
    Continue,
    /// CSS is over: congestion avoidance begins at the current window.
    EndSlowStart,
}

impl HyStart {
    /// True in conservative slow start: the window grows by a quarter of what is acknowledged.
    pub fn in_css(&self) -> bool {
        self.css.is_some()
    }

    /// A loss ended slow start: HyStart++ has nothing more to do (RFC 9406 4.2).
    pub fn on_loss(&mut self) {
        self.css = None;
        self.done = true;
    }

    /// Takes one delivery-rate sample (its RTT and round) while in slow start.
    pub fn on_sample(&mut self, rs: &RateSample) -> Verdict {
        if self.done {
            return Verdict::Continue;
        }
        if rs.prior_delivered >= self.round_end {
            // A new round.
            self.round_end = rs.delivered_total;
            self.last_round_min = self.current_round_min.take();
            self.samples = 0;
            if let Some((_, rounds)) = self.css.as_mut() {
                *rounds += 1;
                if *rounds >= CSS_ROUNDS {
                    self.css = None;
                    self.done = true;
                    return Verdict::EndSlowStart;
                }
            }
        }
        let Some(rtt) = rs.rtt else {
            return Verdict::Continue;
        };
        self.current_round_min = Some(self.current_round_min.map_or(rtt, |m| m.min(rtt)));
        self.samples += 1;
        if self.samples < N_RTT_SAMPLE {
            return Verdict::Continue;
        }
        let (Some(last), Some(current)) = (self.last_round_min, self.current_round_min) else {
            return Verdict::Continue;
        };
        match self.css {
            None => {
                let thresh = (last / 8).clamp(MIN_RTT_THRESH, MAX_RTT_THRESH);
                if current >= last + thresh {
                    self.css = Some((current, 0));
                }
            }
            Some((baseline, _)) => {
                if current < baseline {
                    // The RTT came back: it was not a queue. Back to slow start.
                    self.css = None;
                }
            }
        }
        Verdict::Continue
    }
}

#[cfg(test)]
mod tests {
    // A test module: it may unwrap.

    use super::*;

    /// Eight samples of `rtt_ms` in one round, the round starting at `from` bytes delivered.
    fn round(h: &mut HyStart, from: u64, rtt_ms: u64) -> Vec<Verdict> {
        (0..8)
            .map(|i| {
                h.on_sample(&RateSample {
                    delivered: 1000,
                    interval: Duration::from_millis(rtt_ms),
                    delivered_total: from + 1000 * (i + 1),
                    // Every segment of the round was sent as it began.
                    prior_delivered: from,
                    newly_delivered: 1000,
                    rtt: Some(Duration::from_millis(rtt_ms)),
                    app_limited: false,
                    inflight: 8000,
                })
            })
            .collect()
    }

    #[test]
    fn a_rising_rtt_ends_slow_start_through_five_rounds_of_css() {
        let mut h = HyStart::default();
        // Round 1 sets the baseline of 40 ms; round 2 at 44 ms is within 40/8 = 5 ms.
        round(&mut h, 0, 40);
        round(&mut h, 8000, 44);
        assert!(!h.in_css());
        // Round 3: 50 ms, 6 ms above round 2's 44: conservative slow start.
        round(&mut h, 16_000, 50);
        assert!(h.in_css());
        // Five rounds of CSS with the RTT staying up, then congestion avoidance.
        let mut verdicts = Vec::new();
        for r in 0..5u64 {
            verdicts.extend(round(&mut h, 24_000 + 8000 * r, 50));
        }
        assert_eq!(
            verdicts
                .iter()
                .filter(|v| **v == Verdict::EndSlowStart)
                .count(),
            1
        );
        assert!(!h.in_css());
        // Done: nothing more comes of later rounds.
        assert!(round(&mut h, 100_000, 90)
            .iter()
            .all(|v| *v == Verdict::Continue));
    }

    #[test]
    fn an_rtt_back_below_the_baseline_resumes_slow_start() {
        let mut h = HyStart::default();
        round(&mut h, 0, 20);
        round(&mut h, 8000, 30);
        assert!(h.in_css(), "10 ms over 20 ms (threshold 4 ms)");
        round(&mut h, 16_000, 20);
        assert!(!h.in_css());
    }
}
