//! Virtual time for the core: a monotonic instant in microseconds, supplied by the caller.

use core::fmt;
use core::ops::{Add, Sub};
use core::time::Duration;

/// A point in time, in microseconds since an arbitrary origin chosen by whoever drives the core.
///
/// The core never reads a clock; the runtime passes the monotonic clock, replay passes capture
/// timestamps, and tests pass whatever they like.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant {
    micros: u64,
}

impl Instant {
    /// The origin.
    pub const ZERO: Instant = Instant { micros: 0 };

    /// An instant `micros` microseconds after the origin.
    pub const fn from_micros(micros: u64) -> Self {
        Instant { micros }
    }

    /// An instant `millis` milliseconds after the origin.
    pub const fn from_millis(millis: u64) -> Self {
        Instant {
            micros: millis.saturating_mul(1000),
        }
    }

    /// An instant `secs` seconds after the origin.
    pub const fn from_secs(secs: u64) -> Self {
        Instant {
            micros: secs.saturating_mul(1_000_000),
        }
    }

    /// Microseconds since the origin.
    pub const fn micros(self) -> u64 {
        self.micros
    }

    /// Milliseconds since the origin.
    pub const fn millis(self) -> u64 {
        self.micros / 1000
    }

    /// Time since the origin as a [`Duration`].
    pub const fn since_origin(self) -> Duration {
        Duration::from_micros(self.micros)
    }

    /// `self - earlier`, or zero when `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.micros.saturating_sub(earlier.micros))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        let add = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        Instant {
            micros: self.micros.saturating_add(add),
        }
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, d: Duration) -> Instant {
        let sub = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        Instant {
            micros: self.micros.saturating_sub(sub),
        }
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:06}s",
            self.micros / 1_000_000,
            self.micros % 1_000_000
        )
    }
}

/// The earlier of two optional deadlines.
pub fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Instant::from_millis(5);
        assert_eq!((t + Duration::from_millis(3)).millis(), 8);
        assert_eq!((t - Duration::from_secs(1)), Instant::ZERO);
        assert_eq!(Instant::from_secs(u64::MAX).micros(), u64::MAX);
        assert_eq!(
            Instant::from_secs(2).saturating_duration_since(Instant::from_secs(3)),
            Duration::ZERO
        );
        assert_eq!(earliest(Some(t), None), Some(t));
        assert_eq!(earliest(Some(t), Some(Instant::ZERO)), Some(Instant::ZERO));
        assert_eq!(format!("{}", Instant::from_micros(1_000_042)), "1.000042s");
    }
}
