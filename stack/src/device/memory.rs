//! An in-memory Ethernet wire between two endpoints, under virtual time.
//!
//! Frames longer than the wire's MTU are dropped, as a real link would. Each direction can be
//! impaired independently (seeded). Tests and benchmarks put our stack on one end and ours or
//! smoltcp on the other.

use crate::device::impair::{Impair, ImpairConfig};
use crate::ethernet;
use crate::time::{earliest, Instant};

/// One end of the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The first end.
    A,
    /// The second end.
    B,
}

impl End {
    /// The other end.
    pub fn peer(self) -> End {
        match self {
            End::A => End::B,
            End::B => End::A,
        }
    }
}

/// The wire.
#[derive(Debug)]
pub struct Wire {
    mtu: usize,
    to_a: Impair,
    to_b: Impair,
    oversize: u64,
}

impl Wire {
    /// A clean wire with IP MTU `mtu`.
    pub fn new(mtu: usize) -> Self {
        Wire::impaired(mtu, ImpairConfig::default(), 0)
    }

    /// A wire whose both directions suffer `impair`, with random choices from `seed`.
    pub fn impaired(mtu: usize, impair: ImpairConfig, seed: u64) -> Self {
        Wire {
            mtu,
            to_a: Impair::new(impair.clone(), seed, "wire-to-a"),
            to_b: Impair::new(impair, seed, "wire-to-b"),
            oversize: 0,
        }
    }

    /// Sends a frame from `from` at `now`.
    pub fn send(&mut self, from: End, now: Instant, frame: &[u8]) {
        if frame.len() > self.mtu + ethernet::HEADER_LEN {
            self.oversize += 1;
            return;
        }
        self.queue(from.peer()).push(now, frame);
    }

    /// Takes the next frame that has arrived at `at` by `now`.
    pub fn recv(&mut self, at: End, now: Instant) -> Option<Vec<u8>> {
        self.queue(at).pop(now)
    }

    /// When the next frame arrives at either end.
    pub fn poll_at(&self) -> Option<Instant> {
        earliest(self.to_a.next_due(), self.to_b.next_due())
    }

    /// Frames dropped for exceeding the MTU.
    pub fn oversize(&self) -> u64 {
        self.oversize
    }

    /// The injector of frames travelling towards `to`.
    pub fn impairment(&self, to: End) -> &Impair {
        match to {
            End::A => &self.to_a,
            End::B => &self.to_b,
        }
    }

    fn queue(&mut self, to: End) -> &mut Impair {
        match to {
            End::A => &mut self.to_a,
            End::B => &mut self.to_b,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_cross_and_mtu_is_enforced() {
        let mut w = Wire::new(1500);
        let t = Instant::ZERO;
        w.send(End::A, t, &[1; 60]);
        w.send(End::B, t, &[2; 1514]);
        w.send(End::B, t, &[3; 1515]);
        assert_eq!(w.recv(End::B, t), Some(vec![1; 60]));
        assert_eq!(w.recv(End::A, t), Some(vec![2; 1514]));
        assert_eq!(w.recv(End::A, t), None);
        assert_eq!(w.oversize(), 1);
    }
}
