//! Traffic over the last minute for the dashboard's charts: one sample per second of the
//! frames and bytes received and sent, kept in a bounded ring and reported in `/stats`.
//!
//! Sampling adds no wake-ups of its own (replays poll exactly as before): each poll closes
//! the seconds that ended since the last one. The frames counted by a poll arrived at its
//! time, so what was counted up to the previous poll belongs to the second that just ended,
//! and any further whole seconds passed without traffic.

use std::collections::VecDeque;

use crate::report::Writer;
use crate::stats::Stats;
use crate::time::Instant;

/// Samples kept: one minute.
pub(super) const SAMPLES: usize = 60;
/// The length of a sample.
const INTERVAL_US: u64 = 1_000_000;
/// What each sample holds, in order.
pub(super) const FIELDS: [&str; 4] = ["rx_frames", "tx_frames", "rx_bytes", "tx_bytes"];

type Totals = [u64; 4];

/// The ring of per-second samples.
#[derive(Debug, Default)]
pub(super) struct History {
    samples: VecDeque<Totals>,
    /// The end of the second being counted; `None` before the first poll.
    next: Option<Instant>,
    /// Totals at the start of the second being counted.
    base: Totals,
    /// Totals at the last poll.
    last: Totals,
}

fn totals(s: &Stats) -> Totals {
    [s.rx_frames, s.tx_frames, s.rx_bytes, s.tx_bytes]
}

impl History {
    /// Notes the interface's totals at `now`, closing the seconds that have ended.
    pub(super) fn observe(&mut self, now: Instant, stats: &Stats) {
        let t = totals(stats);
        let Some(next) = self.next else {
            self.next = Some(Instant::from_micros(now.micros() + INTERVAL_US));
            self.base = t;
            self.last = t;
            return;
        };
        if now >= next {
            let ended = 1 + (now.micros() - next.micros()) / INTERVAL_US;
            let mut delta = [0; 4];
            for (d, (last, base)) in delta.iter_mut().zip(self.last.iter().zip(&self.base)) {
                *d = last.saturating_sub(*base);
            }
            self.push(delta);
            // Bounded: the ring holds no more than this of the empty seconds.
            for _ in 1..ended.min(SAMPLES as u64) {
                self.push([0; 4]);
            }
            self.base = self.last;
            self.next = Some(Instant::from_micros(
                next.micros()
                    .saturating_add(ended.saturating_mul(INTERVAL_US)),
            ));
        }
        self.last = t;
    }

    fn push(&mut self, sample: Totals) {
        if self.samples.len() == SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back(sample);
    }

    /// The samples, oldest first.
    #[cfg(test)]
    pub(super) fn samples(&self) -> impl Iterator<Item = &Totals> + '_ {
        self.samples.iter()
    }

    /// Writes `{"interval_ms":1000,"fields":[...],"samples":[[...],...]}`, oldest first.
    pub(super) fn report(&self, w: &mut Writer<'_>) {
        w.object(|w| {
            w.key("interval_ms").number(INTERVAL_US / 1000);
            w.key("fields").array(|w| {
                for f in FIELDS {
                    w.str(f);
                }
            });
            w.key("samples").array(|w| {
                for s in &self.samples {
                    w.array(|w| {
                        for v in s {
                            w.number(*v);
                        }
                    });
                }
            });
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(rx: u64, tx: u64) -> Stats {
        let mut s = Stats::default();
        s.rx_frames = rx;
        s.tx_frames = tx;
        s.rx_bytes = rx * 100;
        s.tx_bytes = tx * 60;
        s
    }

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn each_second_gets_what_arrived_in_it_and_idle_seconds_are_zero() {
        let mut h = History::default();
        h.observe(at(0), &stats(0, 0));
        h.observe(at(300), &stats(2, 1));
        h.observe(at(900), &stats(5, 3));
        // Frames counted at 1.2 s arrived then: they belong to the second second.
        h.observe(at(1_200), &stats(9, 3));
        h.observe(at(4_100), &stats(10, 4));
        let got: Vec<Totals> = h.samples().copied().collect();
        assert_eq!(
            got,
            vec![[5, 3, 500, 180], [4, 0, 400, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
        );
    }

    #[test]
    fn keeps_one_minute_and_a_long_gap_is_bounded() {
        let mut h = History::default();
        h.observe(at(0), &stats(0, 0));
        for s in 1..=100 {
            h.observe(at(s * 1000), &stats(s, s));
        }
        assert_eq!(h.samples().count(), SAMPLES);
        assert_eq!(h.samples().last(), Some(&[1, 1, 100, 60]));
        h.observe(at(u64::MAX / 1000), &stats(200, 200));
        assert_eq!(h.samples().count(), SAMPLES);
        assert!(h.samples().skip(1).all(|s| *s == [0; 4]));
        let mut out = String::new();
        h.report(&mut Writer::new(&mut out));
        assert!(out.starts_with(
            "{\"interval_ms\":1000,\"fields\":[\"rx_frames\",\"tx_frames\",\"rx_bytes\",\"tx_bytes\"],\"samples\":[[1,1,100,60],[0,0,0,0]"
        ));
    }
}
