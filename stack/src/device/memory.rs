//! An in-memory Ethernet wire between two endpoints, under virtual time, and the driver of two
//! hosts on it.
//!
//! Frames longer than the wire's MTU are dropped, as a real link would. Each direction can be
//! impaired independently (seeded). Tests and benchmarks put our stack on one end and ours or
//! smoltcp on the other.
//!
//! [`Pair`] is the two-hosts-on-a-wire harness: anything that is an [`Endpoint`] (anything with
//! receive, poll and poll_at: an [`Interface`], a [`Host`], an interface with one service
//! ([`Served`])) goes on either end, one virtual clock drives both, [`Stepper::step`] jumps to
//! the next frame or timer, and [`Stepper::run_until`] bounds a run in virtual time and in steps
//! so that a livelock fails instead of hanging. [`Side`] is one end of the wire as a
//! [`Device`]. [`exchange`] and [`Pace::next`] are the same step for a driver that keeps
//! its endpoints in fields of its own.

use core::fmt;
use core::time::Duration;

use crossbeam_channel::Receiver;

use crate::device::impair::{Impair, ImpairConfig};
use crate::device::{Capabilities, Device, FrameInfo, Offloads, Wait};
use crate::ethernet;
use crate::host::Host;
use crate::iface::Interface;
use crate::services::Service;
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
    /// The largest frame the wire carries: the MTU and a link header, or a 64 KiB super-frame
    /// when both ends cut and coalesce segments ([`Wire::with_offloads`]).
    max_frame: usize,
    offloads: Offloads,
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
            max_frame: mtu + ethernet::HEADER_LEN,
            offloads: Offloads::default(),
            to_a: Impair::new(impair.clone(), seed, "wire-to-a"),
            to_b: Impair::new(impair, seed, "wire-to-b"),
            oversize: 0,
        }
    }

    /// The same wire carrying TCP super-frames of up to 64 KiB, as two virtual NICs with
    /// segmentation and receive coalescing do: both ends must be told
    /// ([`Interface::set_offloads`] with [`Wire::offloads`]), and each then sends a run of
    /// segments as one frame and takes one whole.
    #[must_use]
    pub fn with_offloads(mut self) -> Self {
        self.offloads = Offloads {
            rx_checksum: true,
            tso: true,
            tx_checksum: false,
        };
        self.max_frame = ethernet::HEADER_LEN + 65_535;
        self
    }

    /// What the wire does for its ends.
    pub fn offloads(&self) -> Offloads {
        self.offloads
    }

    /// Gives back the buffer of a frame [`Wire::recv`] handed out at `at`, for reuse.
    pub fn recycle(&mut self, at: End, buf: Vec<u8>) {
        self.queue(at).recycle(buf);
    }

    /// Sends a frame from `from` at `now`.
    pub fn send(&mut self, from: End, now: Instant, frame: &[u8]) {
        if frame.len() > self.max_frame {
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

/// One end of the wire as a [`Device`], for a loop written against devices. It never blocks:
/// the wire runs under virtual time, so [`Device::wait`] only says whether a frame is due.
#[derive(Debug)]
pub struct Side<'a> {
    wire: &'a mut Wire,
    end: End,
    /// The instant of the last receive or transmit, for [`Device::wait`].
    now: Instant,
}

impl<'a> Side<'a> {
    /// The `end` of `wire`.
    pub fn new(wire: &'a mut Wire, end: End) -> Self {
        Side {
            wire,
            end,
            now: Instant::ZERO,
        }
    }
}

impl Device for Side<'_> {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            offloads: self.wire.offloads,
            ..Capabilities::ethernet(self.wire.mtu)
        }
    }

    fn wait(&mut self, _timeout: Duration, _stop: &Receiver<()>) -> Wait {
        let due = match self.end {
            End::A => self.wire.to_a.next_due(),
            End::B => self.wire.to_b.next_due(),
        };
        if due.is_some_and(|t| t <= self.now) {
            Wait::Ready
        } else {
            Wait::Timeout
        }
    }

    fn receive<F: FnMut(&[u8], FrameInfo, &mut dyn FnMut(&[u8]))>(
        &mut self,
        now: Instant,
        mut frame: F,
    ) -> usize {
        self.now = now;
        let mut n = 0;
        while let Some(f) = self.wire.recv(self.end, now) {
            frame(&f, FrameInfo::default(), &mut |answer| {
                self.wire.send(self.end, now, answer);
            });
            self.wire.recycle(self.end, f);
            n += 1;
        }
        n
    }

    fn transmit(&mut self, now: Instant, frame: &[u8]) {
        self.now = now;
        self.wire.send(self.end, now, frame);
    }

    fn send(&mut self, _now: Instant) {}

    fn poll_at(&self) -> Option<Instant> {
        match self.end {
            End::A => self.wire.to_a.next_due(),
            End::B => self.wire.to_b.next_due(),
        }
    }
}

/// A stack on one end of the wire: frames in, frames out, timers, all at a given instant.
pub trait Endpoint {
    /// Takes a frame that arrived at `now`; answers go to `emit`.
    fn receive(&mut self, now: Instant, frame: &[u8], emit: &mut dyn FnMut(&[u8]));
    /// Runs what is due at `now`; frames go to `emit`.
    fn poll(&mut self, now: Instant, emit: &mut dyn FnMut(&[u8]));
    /// When [`Endpoint::poll`] should next run, asked at `now` (smoltcp answers relative to it).
    fn poll_at(&mut self, now: Instant) -> Option<Instant>;
}

impl Endpoint for Interface {
    fn receive(&mut self, now: Instant, frame: &[u8], emit: &mut dyn FnMut(&[u8])) {
        Interface::receive(self, now, frame, emit);
    }
    fn poll(&mut self, now: Instant, emit: &mut dyn FnMut(&[u8])) {
        Interface::poll(self, now, emit);
    }
    fn poll_at(&mut self, _now: Instant) -> Option<Instant> {
        Interface::poll_at(self)
    }
}

impl Endpoint for Host {
    fn receive(&mut self, now: Instant, frame: &[u8], emit: &mut dyn FnMut(&[u8])) {
        Host::receive(self, now, frame, emit);
    }
    fn poll(&mut self, now: Instant, emit: &mut dyn FnMut(&[u8])) {
        Host::poll(self, now, emit);
    }
    fn poll_at(&mut self, _now: Instant) -> Option<Instant> {
        Host::poll_at(self)
    }
}

impl<T: Endpoint + ?Sized> Endpoint for Box<T> {
    fn receive(&mut self, now: Instant, frame: &[u8], emit: &mut dyn FnMut(&[u8])) {
        (**self).receive(now, frame, emit);
    }
    fn poll(&mut self, now: Instant, emit: &mut dyn FnMut(&[u8])) {
        (**self).poll(now, emit);
    }
    fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        (**self).poll_at(now)
    }
}

impl<T: Endpoint + ?Sized> Endpoint for &mut T {
    fn receive(&mut self, now: Instant, frame: &[u8], emit: &mut dyn FnMut(&[u8])) {
        (**self).receive(now, frame, emit);
    }
    fn poll(&mut self, now: Instant, emit: &mut dyn FnMut(&[u8])) {
        (**self).poll(now, emit);
    }
    fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        (**self).poll_at(now)
    }
}

/// An interface with one service polled before it, as [`Host`] polls its services: a server
/// side whose service stays in reach (its counters, its connections) rather than boxed.
#[derive(Debug)]
pub struct Served<'a, S> {
    /// The interface.
    pub iface: &'a mut Interface,
    /// The service running on it.
    pub service: &'a mut S,
}

impl<S: Service> Endpoint for Served<'_, S> {
    fn receive(&mut self, now: Instant, frame: &[u8], emit: &mut dyn FnMut(&[u8])) {
        self.iface.receive(now, frame, emit);
    }
    fn poll(&mut self, now: Instant, emit: &mut dyn FnMut(&[u8])) {
        self.service.poll(now, self.iface);
        self.iface.poll(now, emit);
    }
    fn poll_at(&mut self, _now: Instant) -> Option<Instant> {
        earliest(Interface::poll_at(self.iface), self.service.poll_at())
    }
}

/// What carries frames between the two ends: the [`Wire`], or a test's wrapper around it that
/// also keeps a record.
pub trait Carrier {
    /// Sends a frame from `from` at `now`.
    fn send(&mut self, from: End, now: Instant, frame: &[u8]);
    /// Takes the next frame that has arrived at `at` by `now`.
    fn recv(&mut self, at: End, now: Instant) -> Option<Vec<u8>>;
    /// Gives back the buffer of a frame [`Carrier::recv`] handed out (dropped by default).
    fn recycle(&mut self, _at: End, _buf: Vec<u8>) {}
}

impl Carrier for Wire {
    fn send(&mut self, from: End, now: Instant, frame: &[u8]) {
        Wire::send(self, from, now, frame);
    }
    fn recv(&mut self, at: End, now: Instant) -> Option<Vec<u8>> {
        Wire::recv(self, at, now)
    }
    fn recycle(&mut self, at: End, buf: Vec<u8>) {
        Wire::recycle(self, at, buf);
    }
}

/// One endpoint's turn at `now`: it takes every frame that has arrived at `end`, then runs
/// its timers. What it sends goes on `carrier` at `now`.
pub fn turn(carrier: &mut impl Carrier, now: Instant, end: End, endpoint: &mut impl Endpoint) {
    while let Some(f) = carrier.recv(end, now) {
        endpoint.receive(now, &f, &mut |out| carrier.send(end, now, out));
        carrier.recycle(end, f);
    }
    endpoint.poll(now, &mut |out| carrier.send(end, now, out));
}

/// One turn at `now`: `a` takes every frame that has arrived for it, then `b` does, then `a`
/// and `b` run their timers. What they send goes on the wire at `now`.
pub fn exchange(wire: &mut Wire, now: Instant, a: &mut impl Endpoint, b: &mut impl Endpoint) {
    deliver(wire, now, a, b);
    poll_both(wire, now, a, b);
}

/// The first half of [`exchange`]: `a`, then `b`, takes every frame that has arrived for it.
fn deliver(wire: &mut Wire, now: Instant, a: &mut impl Endpoint, b: &mut impl Endpoint) {
    while let Some(f) = wire.recv(End::A, now) {
        a.receive(now, &f, &mut |out| wire.send(End::A, now, out));
        wire.recycle(End::A, f);
    }
    while let Some(f) = wire.recv(End::B, now) {
        b.receive(now, &f, &mut |out| wire.send(End::B, now, out));
        wire.recycle(End::B, f);
    }
}

/// The second half of [`exchange`]: `a`, then `b`, runs its timers and sends what it has.
fn poll_both(wire: &mut Wire, now: Instant, a: &mut impl Endpoint, b: &mut impl Endpoint) {
    a.poll(now, &mut |out| wire.send(End::A, now, out));
    b.poll(now, &mut |out| wire.send(End::B, now, out));
}

/// How the virtual clock moves after a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pace {
    /// The clock moves at most this far in one step, so that a test acting between steps is
    /// never late by a timeout (none: straight to the next deadline).
    pub max_step: Option<Duration>,
    /// How far it moves when the next deadline is now or already past.
    pub when_due: Duration,
    /// How far it moves when nothing is scheduled.
    pub when_idle: Duration,
}

impl Default for Pace {
    /// Straight to the next deadline; 100 ms on when nothing is scheduled.
    fn default() -> Self {
        Pace {
            max_step: None,
            when_due: Duration::ZERO,
            when_idle: Duration::from_millis(100),
        }
    }
}

impl Pace {
    /// At most `tick` per step, and `tick` when nothing is scheduled.
    pub fn ticks(tick: Duration) -> Self {
        Pace {
            max_step: Some(tick),
            when_due: Duration::ZERO,
            when_idle: tick,
        }
    }

    /// The instant after `now`, given the earliest `deadline` of everything on the wire.
    pub fn next(&self, now: Instant, deadline: Option<Instant>) -> Instant {
        match deadline {
            Some(t) if t > now => match self.max_step {
                Some(cap) => t.min(now + cap),
                None => t,
            },
            Some(_) => now + self.when_due,
            None => now + self.when_idle,
        }
    }
}

/// Why a bounded run stopped before its condition held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stalled {
    /// The condition did not hold within the limit of virtual time.
    Timeout {
        /// The limit.
        limit: Duration,
        /// The clock then.
        now: Instant,
    },
    /// More steps than allowed: the clock stopped moving or crawls.
    Livelock {
        /// Steps taken.
        steps: u64,
        /// The clock then.
        now: Instant,
    },
}

impl fmt::Display for Stalled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stalled::Timeout { limit, .. } => {
                write!(f, "not done within {limit:?} of virtual time")
            }
            Stalled::Livelock { .. } => f.write_str("livelock"),
        }
    }
}

impl std::error::Error for Stalled {}

/// Something driven step by step under a virtual clock.
pub trait Stepper {
    /// The virtual clock.
    fn now(&self) -> Instant;
    /// Lets everything due at [`Stepper::now`] happen, then moves the clock.
    fn step(&mut self);

    /// Steps until `done` holds (it is asked before every step and may act between them), for
    /// at most `limit` of virtual time and `max_steps` steps. Returns the virtual time taken.
    ///
    /// # Errors
    /// [`Stalled`] when a bound was reached first.
    fn run_until(
        &mut self,
        mut done: impl FnMut(&mut Self) -> bool,
        limit: Duration,
        max_steps: u64,
    ) -> Result<Duration, Stalled>
    where
        Self: Sized,
    {
        let start = self.now();
        let end = start + limit;
        let mut steps = 0u64;
        while !done(self) {
            let now = self.now();
            if now >= end {
                return Err(Stalled::Timeout { limit, now });
            }
            steps += 1;
            if steps > max_steps {
                return Err(Stalled::Livelock { steps, now });
            }
            self.step();
        }
        Ok(self.now().saturating_duration_since(start))
    }
}

/// Two endpoints on one wire under one virtual clock.
#[derive(Debug)]
pub struct Pair<A, B> {
    /// The wire.
    pub wire: Wire,
    /// The endpoint on [`End::A`].
    pub a: A,
    /// The endpoint on [`End::B`].
    pub b: B,
    /// The virtual clock.
    pub now: Instant,
    /// How the clock moves.
    pub pace: Pace,
}

impl<A: Endpoint, B: Endpoint> Pair<A, B> {
    /// `a` and `b` on `wire`, the clock at zero, moving at the default [`Pace`].
    pub fn between(wire: Wire, a: A, b: B) -> Self {
        Pair {
            wire,
            a,
            b,
            now: Instant::ZERO,
            pace: Pace::default(),
        }
    }

    /// One step with `between` run after the frames due are delivered and before the endpoints
    /// poll: where an application reads what arrived and writes what it has, as [`Host`] runs
    /// its services between receiving and polling. [`Stepper::step`] is this with nothing
    /// between.
    pub fn step_with(&mut self, between: impl FnOnce(&mut A, &mut B)) {
        let now = self.now;
        deliver(&mut self.wire, now, &mut self.a, &mut self.b);
        between(&mut self.a, &mut self.b);
        poll_both(&mut self.wire, now, &mut self.a, &mut self.b);
        let next = self.poll_at();
        self.now = self.pace.next(now, next);
    }

    /// The earliest deadline of both endpoints and the wire, asked at [`Pair::now`].
    pub fn poll_at(&mut self) -> Option<Instant> {
        let now = self.now;
        earliest(
            earliest(self.a.poll_at(now), self.b.poll_at(now)),
            self.wire.poll_at(),
        )
    }
}

impl<A: Endpoint, B: Endpoint> Stepper for Pair<A, B> {
    fn now(&self) -> Instant {
        self.now
    }

    /// Delivers what is due, polls both sides, and moves time as [`Pair::pace`] says.
    fn step(&mut self) {
        self.step_with(|_, _| {});
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

    #[test]
    fn a_side_of_the_wire_is_a_device() {
        let mut w = Wire::new(1500);
        let t = Instant::ZERO;
        w.send(End::A, t, &[1; 60]);
        let (_stop_tx, stop) = crossbeam_channel::bounded::<()>(1);
        let mut b = Side::new(&mut w, End::B);
        assert_eq!(b.capabilities(), Capabilities::ethernet(1500));
        assert_eq!(b.wait(Duration::ZERO, &stop), Wait::Ready);
        let mut got = Vec::new();
        let n = b.receive(t, |f, _, send| {
            got.push(f.to_vec());
            send(&[2; 60]);
        });
        assert_eq!((n, got), (1, vec![vec![1; 60]]));
        b.transmit(t, &[3; 60]);
        b.send(t);
        assert_eq!(b.wait(Duration::ZERO, &stop), Wait::Timeout);
        assert_eq!(w.recv(End::A, t), Some(vec![2; 60]));
        assert_eq!(w.recv(End::A, t), Some(vec![3; 60]));
    }

    #[test]
    fn a_pair_runs_to_the_next_deadline_and_stops_at_its_bounds() {
        let ip = |last: u8| -> Interface {
            let mut c = crate::Config::new(
                crate::MacAddr([2, 0, 0, 0, 0, last]),
                Some(format!("10.0.0.{last}/24").parse().unwrap()),
            );
            c.seed = u64::from(last);
            Interface::new(c).unwrap()
        };
        let mut p = Pair::between(Wire::new(1500), ip(1), ip(2));
        let took = Stepper::run_until(
            &mut p,
            |p| p.a.ipv4().is_some() && p.b.ipv4().is_some(),
            Duration::from_secs(5),
            10_000,
        )
        .unwrap();
        assert!(took > Duration::ZERO && took < Duration::from_secs(5));
        let never = Stepper::run_until(&mut p, |_| false, Duration::from_secs(1), 1_000_000);
        assert!(matches!(never, Err(Stalled::Timeout { .. })));
        p.pace = Pace {
            max_step: None,
            when_due: Duration::ZERO,
            when_idle: Duration::ZERO,
        };
        let stuck = Stepper::run_until(&mut p, |_| false, Duration::from_secs(1), 50);
        assert!(matches!(
            stuck,
            Err(Stalled::Livelock { steps: 51, .. }) | Err(Stalled::Timeout { .. })
        ));
    }
}
