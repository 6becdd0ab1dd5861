//! Retransmission timeout (RFC 6298): SRTT, RTTVAR, RTO with Karn's algorithm and backoff.

use core::time::Duration;

/// Clock granularity G of RFC 6298 2.
const GRANULARITY: Duration = Duration::from_millis(1);

/// The estimator.
#[derive(Clone, Debug)]
pub struct Rtt {
    srtt: Option<Duration>,
    rttvar: Duration,
    rto: Duration,
    min: Duration,
    max: Duration,
    backoff: u32,
}

impl Rtt {
    /// RFC 6298 2.1: "Until a round-trip time (RTT) measurement has been made ... RTO <- 1 second".
    pub fn new(min: Duration, max: Duration) -> Self {
        Rtt {
            srtt: None,
            rttvar: Duration::ZERO,
            rto: Duration::from_secs(1).clamp(min, max),
            min,
            max,
            backoff: 0,
        }
    }

    /// Takes a measurement (never from a retransmitted segment, RFC 6298 3: Karn).
    pub fn sample(&mut self, r: Duration) {
        match self.srtt {
            // 2.2: first measurement.
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            // 2.3: RTTVAR <- 3/4 RTTVAR + 1/4 |SRTT - R'|; SRTT <- 7/8 SRTT + 1/8 R'.
            Some(srtt) => {
                let delta = srtt.abs_diff(r);
                self.rttvar = (self.rttvar * 3 + delta) / 4;
                self.srtt = Some((srtt * 7 + r) / 8);
            }
        }
        let srtt = self.srtt.unwrap_or(r);
        // 2.4: RTO <- SRTT + max(G, K*RTTVAR), with K = 4; 2.4 and 2.5 bound it.
        self.rto = (srtt + GRANULARITY.max(self.rttvar * 4)).clamp(self.min, self.max);
        self.backoff = 0;
    }

    /// 5.5: "The host MUST set RTO <- RTO * 2 ("back off the timer")".
    pub fn back_off(&mut self) {
        self.backoff = (self.backoff + 1).min(16);
    }

    /// Sets the RTO before any measurement (RFC 6298 5.7 after a SYN timed out).
    pub fn set_initial(&mut self, rto: Duration) {
        if self.srtt.is_none() {
            self.rto = rto.clamp(self.min, self.max);
        }
    }

    /// Forgets the backoff (an ACK for new data arrived).
    pub fn reset_backoff(&mut self) {
        self.backoff = 0;
    }

    /// Times the timer has backed off in a row.
    pub fn backoffs(&self) -> u32 {
        self.backoff
    }

    /// The current timeout, backoff included.
    pub fn rto(&self) -> Duration {
        self.rto
            .saturating_mul(1 << self.backoff.min(16))
            .min(self.max)
    }

    /// The smoothed RTT, once measured.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// RTT variation.
    pub fn rttvar(&self) -> Duration {
        self.rttvar
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn follows_rfc6298() {
        let mut r = Rtt::new(ms(200), ms(60_000));
        assert_eq!(r.rto(), ms(1000));
        r.sample(ms(100));
        assert_eq!((r.srtt(), r.rttvar()), (Some(ms(100)), ms(50)));
        assert_eq!(r.rto(), ms(300));
        r.sample(ms(100));
        // rttvar = 3/4*50 + 1/4*0 = 37.5; srtt = 100; rto = 100 + 150 = 250
        assert_eq!(r.rto(), Duration::from_micros(250_000));
        r.back_off();
        r.back_off();
        assert_eq!(r.rto(), ms(1000));
        for _ in 0..20 {
            r.back_off();
        }
        assert_eq!(r.rto(), ms(60_000), "capped");
        r.sample(ms(1));
        assert!(r.rto() >= ms(200), "floored at the minimum");
    }
}
