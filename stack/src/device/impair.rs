//! A seeded fault injector: loss (random or in bursts), duplication, reordering, delay with
//! jitter, a rate limit and corruption, with netem's meanings.
//!
//! It is a timed queue under virtual time: [`Impair::push`] a frame, [`Impair::pop`] what is due.
//! The same type wraps the in-memory wire and the TAP device (`tapstack up --impair ...`), since
//! this kernel offers no netem. [`Impaired`] wraps any [`Device`] with one injector per
//! direction, each with its own configuration if wanted (`--impair-in`, `--impair-out`).
//!
//! As in netem (tc-netem(8)):
//! - `jitter` spreads each frame's delay uniformly over `delay ± jitter` (never below zero); as
//!   with netem, frames may then overtake each other;
//! - `rate` is the link's speed: a frame leaves when the frames before it have been sent and
//!   its own bytes have been clocked out (`len * 8 / rate`), then the delay starts;
//! - `gemodel=p/r/1-h/1-k` is `loss gemodel p r 1-h 1-k`: a two-state Gilbert-Elliott chain,
//!   good to bad with chance `p`, bad to good with `r`; a frame is lost with chance `1-h` in
//!   the bad state and `1-k` in the good one. Left out, `r` is `1-p`, `1-h` is 100% and `1-k`
//!   0% (the Bernoulli, simple Gilbert and Gilbert special cases). Each frame first moves the
//!   chain, then is lost or not by the state it found (as `loss_gilb_ell` in sch_netem.c).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use core::fmt;
use core::str::FromStr;
use core::time::Duration;

use crossbeam_channel::Receiver;

use crate::device::{Capabilities, Device, FrameInfo, Wait};
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
    /// Spread of the delay: each frame's is uniform in `delay ± jitter`.
    pub jitter: Duration,
    /// The link's speed in bits per second (0: unlimited).
    pub rate: u64,
    /// Burst loss (Gilbert-Elliott), besides `loss`.
    pub gemodel: Option<GeModel>,
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
            && self.jitter.is_zero()
            && self.rate == 0
            && self.gemodel.is_none()
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
        )?;
        if !self.jitter.is_zero() {
            write!(f, ",jitter={}ms", self.jitter.as_secs_f64() * 1000.0)?;
        }
        if self.rate != 0 {
            write!(f, ",rate={}bit", self.rate)?;
        }
        if let Some(g) = &self.gemodel {
            write!(
                f,
                ",gemodel={}%/{}%/{}%/{}%",
                g.p * 100.0,
                g.r * 100.0,
                g.loss_bad * 100.0,
                g.loss_good * 100.0
            )?;
        }
        Ok(())
    }
}

/// netem's `loss gemodel p r 1-h 1-k`: a Gilbert-Elliott chain of two states.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GeModel {
    /// Chance of moving from the good state to the bad one, per frame.
    pub p: f64,
    /// Chance of moving from the bad state to the good one, per frame.
    pub r: f64,
    /// Chance a frame is lost in the bad state (`1-h`).
    pub loss_bad: f64,
    /// Chance a frame is lost in the good state (`1-k`).
    pub loss_good: f64,
}

impl FromStr for GeModel {
    type Err = crate::config::ParseError;
    /// `p[/r[/1-h[/1-k]]]`, each a percentage; defaults as netem's: `r = 1-p`, `1-h = 100%`,
    /// `1-k = 0%`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('/').map(str::trim).collect();
        if parts.len() > 4 || parts.iter().any(|p| p.is_empty()) {
            return Err(format!(
                "gemodel '{s}' is not p[/r[/1-h[/1-k]]] (percentages, like 1%/30%/100%/0%)"
            )
            .into());
        }
        let get = |i: usize| parts.get(i).map(|v| percent(v)).transpose();
        let p = get(0)?.unwrap_or(0.0);
        Ok(GeModel {
            p,
            r: get(1)?.unwrap_or(1.0 - p),
            loss_bad: get(2)?.unwrap_or(1.0),
            loss_good: get(3)?.unwrap_or(0.0),
        })
    }
}

/// Parses `loss=5%,reorder=10%,dup=1%,delay=5ms,jitter=1ms,rate=10mbit,corrupt=0.1%,
/// gemodel=1%/30%` (any subset, any order).
impl FromStr for ImpairConfig {
    type Err = crate::config::ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
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
                "jitter" => c.jitter = duration(value)?,
                "rate" => c.rate = rate(value)?,
                "gemodel" => c.gemodel = Some(value.parse()?),
                other => {
                    return Err(format!(
                        "unknown impairment '{other}' (expected loss, gemodel, dup, reorder, \
                         corrupt, delay, jitter, rate)"
                    )
                    .into())
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

/// A rate as tc writes it: `bit`, `kbit`, `mbit`, `gbit` (bits per second, powers of ten) or
/// `bps`, `kbps`, `mbps`, `gbps` (bytes per second).
fn rate(v: &str) -> Result<u64, String> {
    let bad = || format!("'{v}' is not a rate like 10mbit or 100kbps");
    let (num, unit) = v
        .find(|c: char| c.is_ascii_alphabetic())
        .map(|i| v.split_at(i))
        .ok_or_else(bad)?;
    let x: f64 = num.parse().map_err(|_| bad())?;
    let scale = match unit.to_ascii_lowercase().as_str() {
        "bit" => 1.0,
        "kbit" => 1e3,
        "mbit" => 1e6,
        "gbit" => 1e9,
        "bps" => 8.0,
        "kbps" => 8e3,
        "mbps" => 8e6,
        "gbps" => 8e9,
        _ => return Err(bad()),
    };
    let bits = x * scale;
    if !(1.0..=1e12).contains(&bits) {
        return Err(format!("rate '{v}' is out of range (1bit to 1000gbit)"));
    }
    Ok(bits as u64)
}

/// A duration as the command line writes it: a number and `us`, `ms` or `s` (5ms, 0.5s), up
/// to 60 s.
///
/// # Errors
/// A message naming what is wrong.
pub fn parse_duration(v: &str) -> Result<Duration, String> {
    duration(v)
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
        return Err(format!("'{v}' is out of range (0 to 60s)"));
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
    /// Frames dropped by the Gilbert-Elliott chain (`gemodel`).
    pub burst_dropped: u64,
    /// Frames that waited for the link because of `rate`.
    pub rate_delayed: u64,
}

/// The injector: a seeded timed queue.
#[derive(Debug)]
pub struct Impair {
    config: ImpairConfig,
    rng: Rng,
    queue: BinaryHeap<Reverse<(Instant, u64, Vec<u8>)>>,
    seq: u64,
    stats: ImpairStats,
    /// The Gilbert-Elliott chain is in its bad state.
    bad: bool,
    /// When the link (under `rate`) has sent everything taken so far.
    busy_until: Instant,
    /// Buffers of frames taken off the queue, given back for reuse ([`Impair::recycle`]): no
    /// allocation per frame once the queue has run a while.
    spare: Vec<Vec<u8>>,
}

/// Buffers [`Impair`] keeps for reuse at most.
const SPARE_BUFFERS: usize = 512;
/// The largest buffer kept for reuse (a 64 KiB super-frame and its headers).
const SPARE_CAPACITY: usize = 66 * 1024;

impl Impair {
    /// An injector whose random choices come from `seed` and `label`.
    pub fn new(config: ImpairConfig, seed: u64, label: &str) -> Self {
        Impair {
            config,
            rng: Rng::new(seed, label),
            queue: BinaryHeap::new(),
            seq: 0,
            stats: ImpairStats::default(),
            bad: false,
            busy_until: Instant::ZERO,
            spare: Vec::new(),
        }
    }

    /// Gives back the buffer of a frame [`Impair::pop`] handed out, for a later frame.
    pub fn recycle(&mut self, mut buf: Vec<u8>) {
        if self.spare.len() < SPARE_BUFFERS && buf.capacity() <= SPARE_CAPACITY {
            buf.clear();
            self.spare.push(buf);
        }
    }

    /// Moves the Gilbert-Elliott chain one frame on; true when that frame is lost.
    fn burst_loss(&mut self) -> bool {
        let Some(g) = self.config.gemodel else {
            return false;
        };
        // sch_netem.c loss_gilb_ell: the state moves, and the loss is drawn with the chance of
        // the state the frame found.
        let lost_chance = if self.bad { g.loss_bad } else { g.loss_good };
        let moves = if self.bad { g.r } else { g.p };
        if self.rng.chance(moves) {
            self.bad = !self.bad;
        }
        self.rng.chance(lost_chance)
    }

    /// The delay of one frame: `delay`, spread by `jitter`.
    fn one_delay(&mut self) -> Duration {
        let j = self.config.jitter;
        if j.is_zero() {
            return self.config.delay;
        }
        let span = u64::try_from(j.as_nanos()).unwrap_or(u64::MAX / 4);
        let pick = self.rng.below(span.saturating_mul(2).saturating_add(1));
        let base = self.config.delay + Duration::from_nanos(pick);
        base.saturating_sub(j)
    }

    /// When a frame of `len` bytes taken at `now` has left the link, under `rate`.
    fn departure(&mut self, now: Instant, len: usize) -> Instant {
        if self.config.rate == 0 {
            return now;
        }
        let start = if self.busy_until > now {
            self.stats.rate_delayed += 1;
            self.busy_until
        } else {
            now
        };
        let bits = (len as u128) * 8 * 1_000_000_000;
        let nanos = bits / u128::from(self.config.rate);
        let done = start + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX / 4));
        self.busy_until = done;
        done
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
        if self.burst_loss() {
            self.stats.burst_dropped += 1;
            return;
        }
        let copies = if self.rng.chance(self.config.duplicate) {
            self.stats.duplicated += 1;
            2
        } else {
            1
        };
        let limit = if self.config.queue_limit == 0 {
            10_000
        } else {
            self.config.queue_limit
        };
        for _ in 0..copies {
            let reordered = self.rng.chance(self.config.reorder);
            let mut data = self.spare.pop().unwrap_or_default();
            data.extend_from_slice(frame);
            if !data.is_empty() && self.rng.chance(self.config.corrupt) {
                self.stats.corrupted += 1;
                let bit = self.rng.below(data.len() as u64 * 8);
                if let Some(b) = data.get_mut((bit / 8) as usize) {
                    *b ^= 1 << (bit % 8);
                }
            }
            if reordered {
                self.stats.reordered += 1;
            }
            if self.queue.len() >= limit {
                // A full queue drops before the frame takes the link.
                self.stats.overflowed += 1;
                self.recycle(data);
                continue;
            }
            let left = self.departure(now, frame.len());
            let mut due = left + self.one_delay();
            if reordered {
                due = due + self.config.hold_back();
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
        Impaired::each_way(inner, config.clone(), config, seed, rx_label, tx_label)
    }

    /// `inner` with `rx` applied to the frames it receives and `tx` to those it sends; a
    /// direction given none passes its frames untouched (and counts them).
    pub fn each_way(
        inner: D,
        rx: Option<ImpairConfig>,
        tx: Option<ImpairConfig>,
        seed: u64,
        rx_label: &str,
        tx_label: &str,
    ) -> Self {
        let faults = (rx.is_some() || tx.is_some()).then(|| {
            (
                Impair::new(rx.unwrap_or_default(), seed, rx_label),
                Impair::new(tx.unwrap_or_default(), seed, tx_label),
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

    fn receive<F: FnMut(&[u8], FrameInfo, &mut dyn FnMut(&[u8]))>(
        &mut self,
        now: Instant,
        mut frame: F,
    ) -> usize {
        let Some((rx, tx)) = &mut self.faults else {
            return self.inner.receive(now, frame);
        };
        // What the device knew of a frame is not kept across the queue: a frame it may have
        // corrupted is checked again by the stack.
        self.inner.receive(now, |f, _, _| rx.push(now, f));
        let mut n = 0;
        while let Some(f) = rx.pop(now) {
            frame(&f, FrameInfo::default(), &mut |answer| tx.push(now, answer));
            rx.recycle(f);
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
                tx.recycle(f);
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
            "wobble=1ms",
            "delay=5",
            "delay=fast",
            "loss=-1%",
            "jitter=1",
            "rate=fast",
            "rate=10",
            "rate=0bit",
            "gemodel=",
            "gemodel=1%/2%/3%/4%/5%",
            "gemodel=200%",
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

    #[test]
    fn parses_the_netem_like_keys() {
        let c: ImpairConfig = "delay=10ms,jitter=2ms,rate=10mbit,gemodel=1%/30%/80%/0.5%"
            .parse()
            .unwrap();
        assert_eq!((c.jitter, c.rate), (Duration::from_millis(2), 10_000_000));
        let g = c.gemodel.unwrap();
        assert!((g.p - 0.01).abs() < 1e-9 && (g.r - 0.3).abs() < 1e-9);
        assert!((g.loss_bad - 0.8).abs() < 1e-9 && (g.loss_good - 0.005).abs() < 1e-9);
        assert!(!c.is_clean());
        assert_eq!("rate=1kbps".parse::<ImpairConfig>().unwrap().rate, 8_000);
        assert_eq!(
            "rate=2gbit".parse::<ImpairConfig>().unwrap().rate,
            2_000_000_000
        );
        // netem's defaults: r = 1-p, 1-h = 100%, 1-k = 0%.
        let g: GeModel = "5%".parse().unwrap();
        assert!((g.r - 0.95).abs() < 1e-9);
        assert_eq!((g.loss_bad, g.loss_good), (1.0, 0.0));
        let shown = c.to_string();
        assert!(
            shown.contains("jitter=2ms") && shown.contains("rate=10000000bit"),
            "{shown}"
        );
        assert!(shown.contains("gemodel=1%/30%/80%/0.5%"), "{shown}");
    }

    #[test]
    fn jitter_spreads_the_delay_within_its_bounds() {
        let cfg: ImpairConfig = "delay=10ms,jitter=3ms".parse().unwrap();
        let run = |seed| {
            let mut i = Impair::new(cfg.clone(), seed, "t");
            let mut dues = Vec::new();
            for n in 0..2_000u32 {
                i.push(Instant::ZERO, &n.to_be_bytes());
            }
            while let Some(d) = i.next_due() {
                dues.push(d);
                i.pop(d);
            }
            dues
        };
        let dues = run(5);
        assert_eq!(dues.len(), 2_000);
        let (lo, hi) = (Instant::from_millis(7), Instant::from_millis(13));
        assert!(dues.iter().all(|d| (lo..=hi).contains(d)));
        // Spread over the whole window: some in each outer millisecond.
        assert!(dues.iter().any(|d| *d < Instant::from_millis(8)));
        assert!(dues.iter().any(|d| *d > Instant::from_millis(12)));
        assert_eq!(run(5), dues, "same seed, same delays");
        // Jitter never makes a delay negative.
        let mut i = Impair::new("delay=1ms,jitter=5ms".parse().unwrap(), 1, "t");
        for _ in 0..200 {
            i.push(Instant::from_secs(1), b"x");
        }
        assert!(i.next_due().unwrap() >= Instant::from_secs(1));
    }

    #[test]
    fn rate_clocks_frames_out_one_after_the_other_in_virtual_time() {
        // 1 Mbit/s: a 125-byte frame takes exactly 1 ms on the link.
        let mut i = Impair::new("rate=1mbit,delay=2ms".parse().unwrap(), 1, "t");
        for _ in 0..4 {
            i.push(Instant::ZERO, &[0u8; 125]);
        }
        let mut dues = Vec::new();
        while let Some(d) = i.next_due() {
            dues.push(d);
            i.pop(d);
        }
        let ms = |n| Instant::from_millis(n);
        assert_eq!(dues, [ms(3), ms(4), ms(5), ms(6)]);
        assert_eq!(i.stats().rate_delayed, 3);
        // An idle link sends at once: a frame long after the burst waits only for itself.
        i.push(ms(100), &[0u8; 125]);
        assert_eq!(i.next_due(), Some(ms(103)));
        assert_eq!(i.stats().rate_delayed, 3);
        // 10,000 frames of 1500 bytes at 12 Mbit/s leave over 10 s.
        let mut i = Impair::new("rate=12mbit".parse().unwrap(), 1, "t");
        let mut last = Instant::ZERO;
        for _ in 0..10_000 {
            i.push(Instant::ZERO, &[0u8; 1500]);
            while let Some(d) = i.next_due() {
                last = d;
                i.pop(d);
            }
        }
        assert_eq!(last, Instant::from_secs(10));
    }

    #[test]
    fn gilbert_elliott_loses_in_bursts_at_its_rates() {
        // p = 1%, r = 25%: the bad state lasts 4 frames on average and is visited
        // p / (p + r) = 3.85% of the time; everything in it is lost.
        let cfg: ImpairConfig = "gemodel=1%/25%".parse().unwrap();
        let run = |seed| {
            let mut i = Impair::new(cfg.clone(), seed, "t");
            let mut kept = Vec::new();
            for n in 0..100_000u32 {
                i.push(Instant::ZERO, &n.to_be_bytes());
                while let Some(f) = i.pop(Instant::ZERO) {
                    kept.push(u32::from_be_bytes([f[0], f[1], f[2], f[3]]));
                }
            }
            (i.stats(), kept)
        };
        let (s, kept) = run(9);
        assert_eq!(s.dropped, 0);
        assert!((3_300..4_400).contains(&s.burst_dropped), "{s:?}");
        assert_eq!(kept.len() as u64, 100_000 - s.burst_dropped);
        // Bursts: the losses come in runs averaging about 1/r = 4 frames.
        let mut runs = 0u64;
        let mut prev = None;
        for &n in &kept {
            if let Some(p) = prev {
                if n != p + 1 {
                    runs += 1;
                }
            }
            prev = Some(n);
        }
        let mean = s.burst_dropped as f64 / runs as f64;
        assert!((3.0..5.0).contains(&mean), "mean burst {mean}");
        assert_eq!(run(9).1, kept, "same seed, same losses");
        // Random loss at the same average gives runs of about one frame.
        let mut i = Impair::new("loss=3.85%".parse().unwrap(), 9, "t");
        let mut lost_after_lost = 0u64;
        let mut last_lost = false;
        for n in 0..100_000u32 {
            let before = i.stats().dropped;
            i.push(Instant::ZERO, &n.to_be_bytes());
            let lost = i.stats().dropped > before;
            lost_after_lost += u64::from(lost && last_lost);
            last_lost = lost;
            while i.pop(Instant::ZERO).is_some() {}
        }
        assert!(lost_after_lost < 300, "{lost_after_lost}");
    }

    #[test]
    fn each_direction_has_its_own_spec() {
        /// Counts what reaches it; receives nothing.
        #[derive(Default)]
        struct Sink(u64);
        impl Device for Sink {
            fn capabilities(&self) -> Capabilities {
                Capabilities::ethernet(1500)
            }
            fn wait(&mut self, _: Duration, _: &Receiver<()>) -> Wait {
                Wait::Timeout
            }
            fn receive<F: FnMut(&[u8], FrameInfo, &mut dyn FnMut(&[u8]))>(
                &mut self,
                _: Instant,
                _: F,
            ) -> usize {
                0
            }
            fn transmit(&mut self, _: Instant, _: &[u8]) {
                self.0 += 1;
            }
            fn send(&mut self, _: Instant) {}
        }
        let lossy: ImpairConfig = "loss=100%".parse().unwrap();
        let mut d = Impaired::each_way(Sink::default(), Some(lossy.clone()), None, 1, "in", "out");
        for _ in 0..3 {
            d.transmit(Instant::ZERO, b"kept");
        }
        d.send(Instant::ZERO);
        assert_eq!(d.inner().0, 3, "the way out is clean");
        let mut d = Impaired::each_way(Sink::default(), None, Some(lossy), 1, "in", "out");
        d.transmit(Instant::ZERO, b"gone");
        d.send(Instant::ZERO);
        let (rx, tx) = d.stats().unwrap();
        assert_eq!(d.inner().0, 0);
        assert_eq!((tx.offered, tx.dropped), (1, 1));
        assert_eq!(rx, ImpairStats::default());
    }
}
