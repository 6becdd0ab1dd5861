//! A seeded fault injector: loss, duplication, reordering, delay and corruption.
//!
//! It is a timed queue under virtual time: [`Impair::push`] a frame, [`Impair::pop`] what is due.
//! The same type wraps the in-memory wire and the TAP device (`tapstack up --impair ...`), since
//! this kernel offers no netem. [`Impaired`] wraps any [`Device`] with one injector per
//! direction.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use core::fmt;
use core::str::FromStr;
use core::time::Duration;

use crossbeam_channel::Receiver;

use crate::device::{Capabilities, Device, Wait};
use crate::rng::Rng;
use crate::time::{earliest, Instant};

/// What to do to frames. Probabilities are fractions (0.05 is 5%).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImpairConfig {
    /// Chance a frame is dropped.
    pub loss: f64,
    /// Chance a frame is sent twice.
    pub duplicate: f64,
    /// Chance a frame is held back so that later frames overtake it.
    pub reorder: f64,
    /// Chance one bit of a frame is flipped.
    pub corrupt: f64,
    /// Delay added to every frame.
    pub delay: Duration,
    /// Frames held at most (a full queue drops, like a real link).
    pub queue_limit: usize,
}

impl ImpairConfig {
    /// True when nothing is impaired.
    pub fn is_clean(&self) -> bool {
        self.loss <= 0.0
            && self.duplicate <= 0.0
            && self.reorder <= 0.0
            && self.corrupt <= 0.0
            && self.delay.is_zero()
    }

    fn hold_back(&self) -> Duration {
        // A reordered frame waits one extra delay, at least a millisecond.
        self.delay.max(Duration::from_millis(1))
    }
}

impl fmt::Display for ImpairConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "loss={}%,dup={}%,reorder={}%,corrupt={}%,delay={}ms",
            self.loss * 100.0,
            self.duplicate * 100.0,
            self.reorder * 100.0,
            self.corrupt * 100.0,
            self.delay.as_secs_f64() * 1000.0
        )
    }
}

/// Parses `loss=5%,reorder=10%,dup=1%,delay=5ms,corrupt=0.1%` (any subset, any order).
impl FromStr for ImpairConfig {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut c = ImpairConfig {
            queue_limit: 10_000,
            ..Default::default()
        };
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| format!("'{part}' is not key=value"))?;
            match key {
                "loss" => c.loss = percent(value)?,
                "dup" | "duplicate" => c.duplicate = percent(value)?,
                "reorder" => c.reorder = percent(value)?,
                "corrupt" => c.corrupt = percent(value)?,
                "delay" => c.delay = duration(value)?,
                other => {
                    return Err(format!(
                    "unknown impairment '{other}' (expected loss, dup, reorder, corrupt, delay)"
                ))
                }
            }
        }
        Ok(c)
    }
}

fn percent(v: &str) -> Result<f64, String> {
    let (num, scale) = match v.strip_suffix('%') {
        Some(n) => (n, 100.0),
        None => (v, 1.0),
    };
    let x: f64 = num
        .parse()
        .map_err(|_| format!("'{v}' is not a percentage like 5%"))?;
    let p = x / scale;
    if !(0.0..=1.0).contains(&p) {
        return Err(format!("'{v}' is not between 0% and 100%"));
    }
    Ok(p)
}

fn duration(v: &str) -> Result<Duration, String> {
    let bad = || format!("'{v}' is not a duration like 5ms");
    let (num, unit) = v
        .find(|c: char| c.is_ascii_alphabetic())
        .map(|i| v.split_at(i))
        .ok_or_else(bad)?;
    let x: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "us" => x / 1e6,
        "ms" => x / 1e3,
        "s" => x,
        _ => return Err(bad()),
    };
    if !(0.0..=60.0).contains(&secs) {
        return Err(format!("delay '{v}' is out of range (0 to 60s)"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// What the injector did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImpairStats {
    /// Frames offered.
    pub offered: u64,
    /// Frames dropped by `loss`.
    pub dropped: u64,
    /// Extra copies made.
    pub duplicated: u64,
    /// Frames held back to be overtaken.
    pub reordered: u64,
    /// Frames with a flipped bit.
    pub corrupted: u64,
    /// Frames dropped because the queue was full.
    pub overflowed: u64,
}

/// The injector: a seeded timed queue.
#[derive(Debug)]
pub struct Impair {
    config: ImpairConfig,
    rng: Rng,
    queue: BinaryHeap<Reverse<(Instant, u64, Vec<u8>)>>,
    seq: u64,
    stats: ImpairStats,
}

impl Impair {
    /// An injector whose random choices come from `seed` and `label`.
    pub fn new(config: ImpairConfig, seed: u64, label: &str) -> Self {
        Impair {
            config,
            rng: Rng::new(seed, label),
            queue: BinaryHeap::new(),
            seq: 0,
            stats: ImpairStats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ImpairConfig {
        &self.config
    }

    /// What happened so far.
    pub fn stats(&self) -> ImpairStats {
        self.stats
    }

    /// Offers a frame at `now`.
    pub fn push(&mut self, now: Instant, frame: &[u8]) {
        self.stats.offered += 1;
        if self.rng.chance(self.config.loss) {
            self.stats.dropped += 1;
            return;
        }
        let copies = if self.rng.chance(self.config.duplicate) {
            self.stats.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            let mut due = now + self.config.delay;
            if self.rng.chance(self.config.reorder) {
                self.stats.reordered += 1;
                due = due + self.config.hold_back();
            }
            let mut data = frame.to_vec();
            if !data.is_empty() && self.rng.chance(self.config.corrupt) {
                self.stats.corrupted += 1;
                let bit = self.rng.below(data.len() as u64 * 8);
                if let Some(b) = data.get_mut((bit / 8) as usize) {
                    *b ^= 1 << (bit % 8);
                }
            }
            let limit = if self.config.queue_limit == 0 {
                10_000
            } else {
                self.config.queue_limit
            };
            if self.queue.len() >= limit {
                self.stats.overflowed += 1;
                continue;
            }
            self.seq += 1;
            self.queue.push(Reverse((due, self.seq, data)));
        }
    }

    /// Takes the next frame due at or before `now`.
    pub fn pop(&mut self, now: Instant) -> Option<Vec<u8>> {
        let Reverse((due, _, _)) = self.queue.peek()?;
        if *due > now {
            return None;
        }
        self.queue.pop().map(|Reverse((_, _, f))| f)
    }

    /// When the next frame is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.queue.peek().map(|Reverse((due, _, _))| *due)
    }

    /// Frames held.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

/// A device whose frames in and out pass through fault injectors (or through nothing, when
/// made with no configuration).
#[derive(Debug)]
pub struct Impaired<D> {
    inner: D,
    /// Frames received from the inner device, and frames sent to it.
    faults: Option<(Impair, Impair)>,
}

impl<D: Device> Impaired<D> {
    /// `inner` with `config` applied both ways, if given. The random streams are
    /// `Rng::new(seed, rx_label)` and `Rng::new(seed, tx_label)`, so the same seed and labels
    /// give the same faults.
    pub fn new(
        inner: D,
        config: Option<ImpairConfig>,
        seed: u64,
        rx_label: &str,
        tx_label: &str,
    ) -> Self {
        let faults = config.map(|c| {
            (
                Impair::new(c.clone(), seed, rx_label),
                Impair::new(c, seed, tx_label),
            )
        });
        Impaired { inner, faults }
    }

    /// What the injectors did to received and to sent frames.
    pub fn stats(&self) -> Option<(ImpairStats, ImpairStats)> {
        self.faults
            .as_ref()
            .map(|(rx, tx)| (rx.stats(), tx.stats()))
    }

    /// The wrapped device.
    pub fn inner(&self) -> &D {
        &self.inner
    }
}

impl<D: Device> Device for Impaired<D> {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn wait(&mut self, timeout: Duration, stop: &Receiver<()>) -> Wait {
        self.inner.wait(timeout, stop)
    }

    fn receive<F: FnMut(&[u8], &mut dyn FnMut(&[u8]))>(
        &mut self,
        now: Instant,
        mut frame: F,
    ) -> usize {
        let Some((rx, tx)) = &mut self.faults else {
            return self.inner.receive(now, frame);
        };
        self.inner.receive(now, |f, _| rx.push(now, f));
        let mut n = 0;
        while let Some(f) = rx.pop(now) {
            frame(&f, &mut |answer| tx.push(now, answer));
            n += 1;
        }
        n
    }

    fn transmit(&mut self, now: Instant, frame: &[u8]) {
        match &mut self.faults {
            Some((_, tx)) => tx.push(now, frame),
            None => self.inner.transmit(now, frame),
        }
    }

    fn send(&mut self, now: Instant) {
        if let Some((_, tx)) = &mut self.faults {
            while let Some(f) = tx.pop(now) {
                self.inner.transmit(now, &f);
            }
        }
        self.inner.send(now);
    }

    fn poll_at(&self) -> Option<Instant> {
        let own = self
            .faults
            .as_ref()
            .and_then(|(rx, tx)| earliest(rx.next_due(), tx.next_due()));
        earliest(own, self.inner.poll_at())
    }

    fn transmit_unimpaired(&mut self, now: Instant, frame: &[u8]) {
        self.inner.transmit_unimpaired(now, frame);
    }

    fn send_unimpaired(&mut self, now: Instant) {
        self.inner.send_unimpaired(now);
    }

    fn sync(&mut self) {
        self.inner.sync();
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_form() {
        let c: ImpairConfig = "loss=5%,reorder=10%,dup=1%,delay=5ms".parse().unwrap();
        assert!((c.loss - 0.05).abs() < 1e-9);
        assert!((c.reorder - 0.10).abs() < 1e-9);
        assert!((c.duplicate - 0.01).abs() < 1e-9);
        assert_eq!(c.delay, Duration::from_millis(5));
        assert!(!c.is_clean());
        assert!("".parse::<ImpairConfig>().unwrap().is_clean());
        for bad in [
            "loss",
            "loss=150%",
            "jitter=1ms",
            "delay=5",
            "delay=fast",
            "loss=-1%",
        ] {
            assert!(bad.parse::<ImpairConfig>().is_err(), "{bad}");
        }
    }

    #[test]
    fn clean_passes_everything_in_order() {
        let mut i = Impair::new(ImpairConfig::default(), 1, "t");
        let t = Instant::from_secs(1);
        for n in 0..10u8 {
            i.push(t, &[n]);
        }
        let got: Vec<u8> = std::iter::from_fn(|| i.pop(t)).map(|f| f[0]).collect();
        assert_eq!(got, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn faults_happen_at_their_rates_and_repeat_with_the_seed() {
        let cfg: ImpairConfig = "loss=10%,dup=5%,reorder=20%,corrupt=2%,delay=1ms"
            .parse()
            .unwrap();
        let run = |seed| {
            let mut i = Impair::new(cfg.clone(), seed, "t");
            let mut out = Vec::new();
            for n in 0..10_000u32 {
                let t = Instant::from_micros(u64::from(n) * 10);
                i.push(t, &n.to_be_bytes());
                while let Some(f) = i.pop(t) {
                    out.push(f);
                }
            }
            while let Some(f) = i.pop(Instant::from_secs(10)) {
                out.push(f);
            }
            (i.stats(), out)
        };
        let (s, out) = run(3);
        assert!((800..1200).contains(&s.dropped), "{s:?}");
        assert!((350..650).contains(&s.duplicated), "{s:?}");
        assert!((1500..2500).contains(&s.reordered), "{s:?}");
        assert!((100..300).contains(&s.corrupted), "{s:?}");
        assert_eq!(out.len() as u64, s.offered - s.dropped + s.duplicated);
        let order: Vec<u32> = out
            .iter()
            .map(|f| u32::from_be_bytes([f[0], f[1], f[2], f[3]]))
            .collect();
        assert!(
            order.windows(2).any(|w| w[0] > w[1]),
            "some frames overtaken"
        );
        assert_eq!(run(3).1, out, "same seed, same faults");
        assert_ne!(run(4).1, out);
    }

    #[test]
    fn delay_holds_frames_until_due() {
        let mut i = Impair::new("delay=5ms".parse().unwrap(), 1, "t");
        i.push(Instant::ZERO, b"x");
        assert_eq!(i.pop(Instant::from_millis(4)), None);
        assert_eq!(i.next_due(), Some(Instant::from_millis(5)));
        assert_eq!(i.pop(Instant::from_millis(5)), Some(b"x".to_vec()));
    }

    #[test]
    fn queue_is_bounded() {
        let mut cfg: ImpairConfig = "delay=1s".parse().unwrap();
        cfg.queue_limit = 3;
        let mut i = Impair::new(cfg, 1, "t");
        for _ in 0..5 {
            i.push(Instant::ZERO, b"x");
        }
        assert_eq!(i.len(), 3);
        assert_eq!(i.stats().overflowed, 2);
    }
}
