//! The simulation: our host and a smoltcp peer on the two ends of one in-memory wire, under one
//! virtual clock.
//!
//! Each [`Sim::step`] lets both stacks handle everything due at the current instant, then moves
//! the clock to the earliest deadline of our host (`poll_at`), smoltcp (`poll_at`), the wire (the
//! next frame due) and the application (timers set with [`Sim::wake_at`]). Step counts and a
//! virtual time limit bound every run, so a livelock fails instead of hanging.
//!
//! Typical use: `Sim::new(&Setup { .. })` (or `Sim::clean()`), `wait_ready()` for our address,
//! open sockets on `sim.peer` (any smoltcp socket can be added to `sim.peer.sockets`), then
//! `run_until(|sim| { /* read, write, sim.wake_at(..) */ done }, max)`; finally `settle` and
//! look at `sim.host.iface().stats()`, the wire's impairment counters and `sim.link.sent`.

use std::collections::BTreeSet;
use std::error::Error;
use std::fmt;

use core::net::{Ipv4Addr, Ipv6Addr};
use core::time::Duration;

use smoltcp::wire::{EthernetAddress, IpCidr};
use tapstack::device::impair::ImpairConfig;
use tapstack::device::memory::{turn, Carrier, End, Wire};
use tapstack::{Config, Host, Instant, Interface, Ipv4Cidr, Ipv6Cidr, Ipv6Config, MacAddr};

use crate::peer::{Peer, PeerSetup};

/// The smoltcp peer's end of the wire.
pub const PEER_END: End = End::A;
/// Our host's end of the wire.
pub const HOST_END: End = End::B;
/// The smoltcp peer's address.
pub const PEER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// Our host's address.
pub const HOST_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
/// The smoltcp peer's IPv6 address (with [`Setup::ipv6`]).
pub const PEER_IP6: Ipv6Addr = Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 1);
/// Our host's IPv6 address (with [`Setup::ipv6`]).
pub const HOST_IP6: Ipv6Addr = Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 2);
/// The smoltcp peer's MAC.
pub const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
/// Our host's MAC.
pub const HOST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];

/// A frame put on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    /// When.
    pub at: Instant,
    /// By which end.
    pub from: End,
    /// The Ethernet frame.
    pub frame: Vec<u8>,
}

/// The wire, with a record of every frame either end sent.
#[derive(Debug)]
pub struct Link {
    /// The wire.
    pub wire: Wire,
    /// Every frame sent, in order.
    pub sent: Vec<Sent>,
}

impl Carrier for Link {
    fn send(&mut self, from: End, now: Instant, frame: &[u8]) {
        Link::send(self, from, now, frame);
    }
    fn recv(&mut self, at: End, now: Instant) -> Option<Vec<u8>> {
        self.wire.recv(at, now)
    }
}

impl Link {
    /// Sends a frame from `from` at `now`, recording it.
    pub fn send(&mut self, from: End, now: Instant, frame: &[u8]) {
        self.sent.push(Sent {
            at: now,
            from,
            frame: frame.to_vec(),
        });
        self.wire.send(from, now, frame);
    }

    /// The frames `from` sent, from index `since` of the record on.
    pub fn sent_by(&self, from: End, since: usize) -> impl Iterator<Item = &Sent> + '_ {
        self.sent
            .get(since..)
            .unwrap_or_default()
            .iter()
            .filter(move |s| s.from == from)
    }
}

/// Bounds of a simulation.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Virtual time the simulation may reach.
    pub max_time: Duration,
    /// Steps it may take.
    pub max_steps: u64,
    /// Steps it may take without the clock moving.
    pub max_steps_per_instant: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_time: Duration::from_secs(600),
            max_steps: 200_000,
            max_steps_per_instant: 1_000,
        }
    }
}

/// How a simulation is set up.
#[derive(Clone, Debug)]
pub struct Setup {
    /// IP MTU of the wire and of both stacks.
    pub mtu: usize,
    /// Impairment of both directions of the wire.
    pub impair: ImpairConfig,
    /// Seed of the wire's impairment.
    pub wire_seed: u64,
    /// Seed of our host.
    pub host_seed: u64,
    /// Seed of smoltcp.
    pub peer_seed: u64,
    /// Bounds.
    pub limits: Limits,
    /// Both hosts also get an IPv6 address in fd77::/64 ([`HOST_IP6`], [`PEER_IP6`]).
    pub ipv6: bool,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            mtu: 1500,
            impair: ImpairConfig::default(),
            wire_seed: 1,
            host_seed: 2,
            peer_seed: 3,
            limits: Limits::default(),
            ipv6: false,
        }
    }
}

/// Why a run stopped short.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimError {
    /// The condition did not hold by the deadline.
    Timeout {
        /// The clock at the deadline.
        now: Instant,
        /// Steps taken in all.
        steps: u64,
        /// Whether anything was still scheduled.
        idle: bool,
    },
    /// More steps than [`Limits::max_steps`].
    StepLimit {
        /// The clock then.
        now: Instant,
    },
    /// More steps than [`Limits::max_steps_per_instant`] without the clock moving.
    Livelock {
        /// The instant it got stuck at.
        now: Instant,
    },
    /// [`Limits::max_time`] reached.
    TimeLimit {
        /// The clock.
        now: Instant,
    },
    /// [`Sim::step`] found nothing scheduled.
    Idle {
        /// The clock.
        now: Instant,
    },
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::Timeout { now, steps, idle } => write!(
                f,
                "condition not met by {now} after {steps} steps{}",
                if *idle {
                    " (nothing left scheduled)"
                } else {
                    ""
                }
            ),
            SimError::StepLimit { now } => write!(f, "step limit reached at {now}"),
            SimError::Livelock { now } => write!(f, "livelock: the clock is stuck at {now}"),
            SimError::TimeLimit { now } => write!(f, "virtual time limit reached at {now}"),
            SimError::Idle { now } => write!(f, "nothing scheduled at {now}"),
        }
    }
}

impl Error for SimError {}

/// Our host and a smoltcp peer on one wire.
pub struct Sim {
    /// The shared clock.
    pub now: Instant,
    /// The wire and its record.
    pub link: Link,
    /// Our host (UDP echo on port 7), at [`HOST_IP`] on [`HOST_END`].
    pub host: Host,
    /// The smoltcp host, at [`PEER_IP`] on [`PEER_END`].
    pub peer: Peer,
    limits: Limits,
    steps: u64,
    same_instant: u64,
    wakes: BTreeSet<Instant>,
}

impl Sim {
    /// A simulation as `setup` says; the clock starts at zero.
    ///
    /// # Errors
    /// Our host's configuration or services could not be set up.
    pub fn new(setup: &Setup) -> Result<Sim, Box<dyn Error>> {
        let now = Instant::ZERO;
        let link = Link {
            wire: Wire::impaired(setup.mtu, setup.impair.clone(), setup.wire_seed),
            sent: Vec::new(),
        };
        let mut config = Config::new(MacAddr(HOST_MAC), Ipv4Cidr::new(HOST_IP, 24));
        config.mtu = setup.mtu;
        config.seed = setup.host_seed;
        if setup.ipv6 {
            config.ipv6 = Some(Ipv6Config {
                addresses: Ipv6Cidr::new(HOST_IP6, 64).into_iter().collect(),
                ..Ipv6Config::default()
            });
        }
        let host = Host::with_standard_services(Interface::new(config)?)?;
        let peer_setup = PeerSetup {
            mac: EthernetAddress(PEER_MAC),
            cidr: IpCidr::new(PEER_IP.into(), 24),
            mtu: setup.mtu,
            seed: setup.peer_seed,
        };
        let mut peer = Peer::new(&peer_setup, now);
        if setup.ipv6 {
            peer.iface.update_ip_addrs(|addrs| {
                addrs
                    .push(IpCidr::new(PEER_IP6.into(), 64))
                    .expect("room for an IPv6 address");
            });
        }
        Ok(Sim {
            now,
            link,
            host,
            peer,
            limits: setup.limits,
            steps: 0,
            same_instant: 0,
            wakes: BTreeSet::new(),
        })
    }

    /// A clean wire with MTU 1500.
    ///
    /// # Errors
    /// As [`Sim::new`].
    pub fn clean() -> Result<Sim, Box<dyn Error>> {
        Sim::new(&Setup::default())
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Asks for a step at `at` (an application timer).
    pub fn wake_at(&mut self, at: Instant) {
        self.wakes.insert(at);
    }

    /// Both stacks handle what is due now; then the clock moves to the next deadline.
    ///
    /// # Errors
    /// [`SimError::Idle`] when nothing is scheduled, or a limit was reached.
    pub fn step(&mut self) -> Result<(), SimError> {
        let limit = Instant::ZERO + self.limits.max_time;
        if self.advance(limit, false)? {
            Ok(())
        } else {
            Err(SimError::Idle { now: self.now })
        }
    }

    /// Steps until `pred` holds, for at most `max` of virtual time. `pred` runs before every step
    /// and may act as the application: read and write sockets, set timers with [`Sim::wake_at`].
    /// Returns the virtual time it took.
    ///
    /// # Errors
    /// [`SimError::Timeout`] when `pred` still fails at the deadline, or a limit was reached.
    pub fn run_until(
        &mut self,
        mut pred: impl FnMut(&mut Sim) -> bool,
        max: Duration,
    ) -> Result<Duration, SimError> {
        let start = self.now;
        let deadline = (start + max).min(Instant::ZERO + self.limits.max_time);
        let mut idle = false;
        loop {
            if pred(self) {
                return Ok(self.now.saturating_duration_since(start));
            }
            if self.now >= deadline {
                return Err(SimError::Timeout {
                    now: self.now,
                    steps: self.steps,
                    idle,
                });
            }
            idle = !self.advance(deadline, true)?;
        }
    }

    /// Lets `d` of virtual time pass, both stacks running.
    ///
    /// # Errors
    /// A limit was reached.
    pub fn run_for(&mut self, d: Duration) -> Result<(), SimError> {
        let until = self.now + d;
        self.run_until(|s| s.now >= until, d).map(|_| ())
    }

    /// Runs until our host's address is in use (RFC 5227 probing takes about 400 ms).
    ///
    /// # Errors
    /// The address was not claimed within 5 s.
    pub fn wait_ready(&mut self) -> Result<Duration, SimError> {
        self.run_until(|s| s.host.iface().ipv4().is_some(), Duration::from_secs(5))
    }

    /// Runs until our host's IPv6 address passed duplicate address detection (about 1 to 2 s).
    ///
    /// # Errors
    /// The address was not in use within 5 s.
    #[allow(dead_code)] // Only the IPv6 tests use it.
    pub fn wait_ready6(&mut self) -> Result<Duration, SimError> {
        self.run_until(
            |s| s.host.iface().ipv6_usable().contains(&HOST_IP6),
            Duration::from_secs(5),
        )
    }

    /// Lets both stacks run until the wire holds nothing and neither wants to send.
    ///
    /// # Errors
    /// The wire did not drain within `max`.
    pub fn settle(&mut self, max: Duration) -> Result<Duration, SimError> {
        self.run_until(
            |s| {
                let now = s.now;
                s.link.wire.poll_at().is_none()
                    && s.peer.poll_at(now).is_none_or(|t| t > now)
                    && s.host.poll_at().is_none_or(|t| t > now)
            },
            max,
        )
    }

    /// One step, the clock moving no further than `limit`; when nothing is scheduled it moves to
    /// `limit` if `idle_jump`, else stays. False when nothing was scheduled.
    fn advance(&mut self, limit: Instant, idle_jump: bool) -> Result<bool, SimError> {
        self.steps += 1;
        if self.steps > self.limits.max_steps {
            return Err(SimError::StepLimit { now: self.now });
        }
        if self.now >= Instant::ZERO + self.limits.max_time {
            return Err(SimError::TimeLimit { now: self.now });
        }
        let now = self.now;
        self.wakes.retain(|&w| w > now);
        self.exchange();

        let next = [
            self.host.poll_at(),
            self.peer.poll_at(now),
            self.link.wire.poll_at(),
            self.wakes.first().copied(),
        ]
        .into_iter()
        .flatten()
        .min();
        let scheduled = next.is_some();
        let next = match next {
            Some(t) => t.min(limit).max(now),
            None if idle_jump => limit.max(now),
            None => return Ok(false),
        };
        if next == now {
            self.same_instant += 1;
            if self.same_instant > self.limits.max_steps_per_instant {
                return Err(SimError::Livelock { now });
            }
        } else {
            self.same_instant = 0;
            self.now = next;
        }
        Ok(scheduled)
    }

    /// Our host takes what has arrived and runs; then smoltcp does.
    fn exchange(&mut self) {
        let now = self.now;
        let Sim {
            link, host, peer, ..
        } = self;
        turn(link, now, HOST_END, host);
        turn(link, now, PEER_END, peer);
    }
}
