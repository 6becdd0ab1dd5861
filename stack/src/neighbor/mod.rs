//! The neighbour machine shared by ARP (RFC 826, RFC 1122 2.3.2) and NDP (RFC 4861 7.3):
//! one bounded cache of protocol address to link-layer address with the states of RFC 4861
//! 7.3.2, and one bounded queue of packets waiting for resolution.
//!
//! The machine is generic over the protocol address ([`core::net::Ipv4Addr`] for ARP,
//! [`core::net::Ipv6Addr`] for NDP) and runs under a [`Profile`]:
//!
//! - [`Profile::Nud`] is RFC 4861 neighbour unreachability detection: INCOMPLETE, REACHABLE,
//!   STALE, DELAY and PROBE, with the transitions of its appendix C.
//! - [`Profile::Arp`] is the life cycle RFC 1122 2.3.2.1 asks of ARP: requests are retried
//!   until answered or given up on (INCOMPLETE), and a learned mapping is trusted for a fixed
//!   lifetime (REACHABLE); past it the entry stays (it still counts for the RFC 826 merge) but
//!   is not used until learned again. It never enters STALE, DELAY or PROBE.
//!
//! Both are pure: [`Cache::poll`] says which solicitations are due and which neighbours were
//! given up on; the protocol on top ([`crate::arp`], [`crate::ipv6::neighbor`]) writes the
//! messages with its own codec.

mod cache;
mod pending;

pub use cache::Cache;
pub use pending::{Pending, Queued};

use core::time::Duration;

use crate::ethernet::MacAddr;
use crate::time::Instant;

/// How a cache runs its entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// ARP: a learned mapping is REACHABLE for the lifetime it was learned with, then unusable
    /// until learned again; eviction prefers expired mappings, then the closest to expiry.
    Arp,
    /// RFC 4861 7.3 neighbour unreachability detection.
    Nud,
}

/// Where a neighbour stands (RFC 4861 7.3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Address resolution in progress: `sent` multicast solicitations, the next at `next`.
    Incomplete {
        /// Solicitations sent.
        sent: u32,
        /// When the next is due (or resolution fails).
        next: Instant,
    },
    /// Recently confirmed reachable, until `until`.
    Reachable {
        /// When the confirmation runs out.
        until: Instant,
    },
    /// Not known to be reachable; nothing is done until a packet is sent.
    Stale,
    /// A packet was sent to a stale neighbour; probing starts at `until` unless confirmed.
    Delay {
        /// When probing starts.
        until: Instant,
    },
    /// Unicast probes: `sent` so far, the next at `next`.
    Probe {
        /// Probes sent.
        sent: u32,
        /// When the next is due (or the neighbour is given up on).
        next: Instant,
    },
}

impl State {
    /// The RFC's name of the state.
    pub fn name(&self) -> &'static str {
        match self {
            State::Incomplete { .. } => "INCOMPLETE",
            State::Reachable { .. } => "REACHABLE",
            State::Stale => "STALE",
            State::Delay { .. } => "DELAY",
            State::Probe { .. } => "PROBE",
        }
    }
}

/// One neighbour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its link-layer address (none while INCOMPLETE).
    pub mac: Option<MacAddr>,
    /// Its state.
    pub state: State,
    /// It said it is a router (R flag, or it sent a Router Advertisement).
    pub router: bool,
    /// Last change, for choosing what to evict.
    pub updated: Instant,
}

/// What a lookup for sending found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Send to this address now.
    Send(MacAddr),
    /// Resolution is in progress: queue the packet.
    Wait,
    /// Unknown: resolution was started (an INCOMPLETE entry exists); queue the packet and send
    /// the first solicitation.
    Started,
}

/// Work [`Cache::poll`] found due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due<A> {
    /// Send a (multicast or broadcast) solicitation for the address.
    Solicit(A),
    /// Send a unicast probe to the neighbour at this link-layer address.
    Probe(A, MacAddr),
    /// The neighbour did not answer: its entry is gone.
    Failed(A),
}

/// Timing of the state machine (RFC 4861 10, or what routers advertised; for ARP its retry
/// interval and request count).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// Time between solicitations (RetransTimer).
    pub retrans: Duration,
    /// How long a confirmation lasts (ReachableTime).
    pub reachable: Duration,
    /// DELAY_FIRST_PROBE_TIME.
    pub delay: Duration,
    /// MAX_MULTICAST_SOLICIT (for ARP: requests before giving up).
    pub max_multicast: u32,
    /// MAX_UNICAST_SOLICIT.
    pub max_unicast: u32,
}

/// What a Neighbor Advertisement said (RFC 4861 7.2.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Advert {
    /// Target link-layer address option.
    pub mac: Option<MacAddr>,
    /// S flag.
    pub solicited: bool,
    /// O flag.
    pub override_entry: bool,
    /// R flag.
    pub router: bool,
}
