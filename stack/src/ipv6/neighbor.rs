//! The IPv6 neighbour cache (RFC 4861 5.1, 7.3): address resolution and neighbour
//! unreachability detection, with the states of RFC 4861 7.3.2 and the transitions of its
//! appendix C, and the bounded queue of packets waiting for resolution (RFC 4861 7.2.2).
//!
//! The cache is pure: [`Cache::poll`] says which solicitations are due and which neighbours
//! were given up on; the interface sends them.

use std::collections::{BTreeMap, VecDeque};

use core::net::Ipv6Addr;
use core::time::Duration;

use crate::ethernet::MacAddr;
use crate::time::Instant;

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
pub enum Due {
    /// Send a multicast solicitation (to the solicited-node group) for the address.
    Solicit(Ipv6Addr),
    /// Send a unicast probe to the neighbour at this link-layer address.
    Probe(Ipv6Addr, MacAddr),
    /// The neighbour did not answer: its entry is gone.
    Failed(Ipv6Addr),
}

/// Timing of the state machine (RFC 4861 10, or what routers advertised).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// Time between solicitations (RetransTimer).
    pub retrans: Duration,
    /// How long a confirmation lasts (ReachableTime).
    pub reachable: Duration,
    /// DELAY_FIRST_PROBE_TIME.
    pub delay: Duration,
    /// MAX_MULTICAST_SOLICIT.
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

/// The neighbour cache, bounded to `capacity` entries.
#[derive(Debug)]
pub struct Cache {
    entries: BTreeMap<Ipv6Addr, Entry>,
    capacity: usize,
    evictions: u64,
    abandoned: Vec<Ipv6Addr>,
}

impl Cache {
    /// An empty cache of at most `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Cache {
            entries: BTreeMap::new(),
            capacity: capacity.max(1),
            evictions: 0,
            abandoned: Vec::new(),
        }
    }

    /// The entry for `ip`.
    pub fn get(&self, ip: Ipv6Addr) -> Option<&Entry> {
        self.entries.get(&ip)
    }

    /// Every entry, in address order.
    pub fn iter(&self) -> impl Iterator<Item = (Ipv6Addr, Entry)> + '_ {
        self.entries.iter().map(|(a, e)| (*a, *e))
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries evicted so far because the cache was full.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// Addresses whose resolution was abandoned by an eviction since the last call.
    pub fn take_abandoned(&mut self) -> Vec<Ipv6Addr> {
        std::mem::take(&mut self.abandoned)
    }

    /// Makes room for one entry: the least recently updated one goes, resolved entries before
    /// ones still resolving.
    fn make_room(&mut self) {
        if self.entries.len() < self.capacity {
            return;
        }
        let victim = self
            .entries
            .iter()
            .min_by_key(|(_, e)| (matches!(e.state, State::Incomplete { .. }), e.updated))
            .map(|(a, e)| (*a, e.state));
        if let Some((ip, state)) = victim {
            self.entries.remove(&ip);
            self.evictions += 1;
            if matches!(state, State::Incomplete { .. }) {
                self.abandoned.push(ip);
            }
        }
    }

    /// A packet is to be sent to `ip` (RFC 4861 7.2.2, 7.3.3): what to do with it.
    pub fn lookup(&mut self, ip: Ipv6Addr, now: Instant, t: &Timing) -> Lookup {
        match self.entries.get_mut(&ip) {
            Some(e) => match (e.state, e.mac) {
                (State::Incomplete { .. }, _) | (_, None) => Lookup::Wait,
                (State::Stale, Some(mac)) => {
                    // "The first time a node sends a packet to a neighbor whose entry is STALE,
                    // the sender changes the state to DELAY".
                    e.state = State::Delay {
                        until: now + t.delay,
                    };
                    e.updated = now;
                    Lookup::Send(mac)
                }
                (_, Some(mac)) => Lookup::Send(mac),
            },
            None => {
                self.make_room();
                self.entries.insert(
                    ip,
                    Entry {
                        mac: None,
                        state: State::Incomplete {
                            sent: 1,
                            next: now + t.retrans,
                        },
                        router: false,
                        updated: now,
                    },
                );
                Lookup::Started
            }
        }
    }

    /// The link-layer address of `ip` if it can be used without changing any state.
    pub fn peek(&self, ip: Ipv6Addr) -> Option<MacAddr> {
        self.entries
            .get(&ip)
            .filter(|e| !matches!(e.state, State::Incomplete { .. } | State::Stale))
            .and_then(|e| e.mac)
    }

    /// A solicitation (or Router Advertisement, Router Solicitation) from `ip` carried its
    /// link-layer address (RFC 4861 7.2.3, 6.3.4): create or update the entry. Returns true when
    /// the entry had been INCOMPLETE, so queued packets can now leave.
    pub fn on_link_layer(&mut self, ip: Ipv6Addr, mac: MacAddr, now: Instant) -> bool {
        match self.entries.get_mut(&ip) {
            None => {
                self.make_room();
                self.entries.insert(
                    ip,
                    Entry {
                        mac: Some(mac),
                        state: State::Stale,
                        router: false,
                        updated: now,
                    },
                );
                false
            }
            Some(e) => {
                let was_incomplete = matches!(e.state, State::Incomplete { .. });
                // "If an entry already exists, and the cached link-layer address differs from
                // the one in the received Source Link-Layer option, the cached address should
                // be replaced by the received address, and the entry's reachability state MUST
                // be set to STALE."
                if e.mac != Some(mac) {
                    e.mac = Some(mac);
                    e.state = State::Stale;
                    e.updated = now;
                }
                was_incomplete
            }
        }
    }

    /// Marks `ip` as a router (it sent a Router Advertisement).
    pub fn set_router(&mut self, ip: Ipv6Addr) {
        if let Some(e) = self.entries.get_mut(&ip) {
            e.router = true;
        }
    }

    /// A Neighbor Advertisement for `ip` arrived (RFC 4861 7.2.5). Returns true when the entry
    /// had been INCOMPLETE and is now resolved, so queued packets can leave.
    pub fn on_advert(&mut self, ip: Ipv6Addr, a: Advert, now: Instant, t: &Timing) -> bool {
        // "If no entry exists, the advertisement SHOULD be silently discarded."
        let Some(e) = self.entries.get_mut(&ip) else {
            return false;
        };
        let reachable = State::Reachable {
            until: now + t.reachable,
        };
        if let State::Incomplete { .. } = e.state {
            // "If the advertisement's Solicited flag is set, the state of the entry is set to
            // REACHABLE; otherwise, it is set to STALE." Without the option it is useless.
            let Some(mac) = a.mac else { return false };
            e.mac = Some(mac);
            e.state = if a.solicited { reachable } else { State::Stale };
            e.router = a.router;
            e.updated = now;
            return true;
        }
        let differs = a.mac.is_some_and(|m| Some(m) != e.mac);
        if !a.override_entry && differs {
            // "If the Override flag is clear and the supplied link-layer address differs from
            // that in the cache, then ... if its state is REACHABLE, set it to STALE, but do not
            // update the entry in any other way. Otherwise, the received advertisement should
            // be ignored".
            if let State::Reachable { .. } = e.state {
                e.state = State::Stale;
                e.updated = now;
            }
            return false;
        }
        if let Some(m) = a.mac {
            e.mac = Some(m);
        }
        if a.solicited {
            e.state = reachable;
        } else if differs {
            e.state = State::Stale;
        }
        e.router = a.router;
        e.updated = now;
        false
    }

    /// Forgets `ip`.
    pub fn remove(&mut self, ip: Ipv6Addr) {
        self.entries.remove(&ip);
    }

    /// Runs the timers: REACHABLE runs out into STALE, DELAY turns into PROBE, solicitations are
    /// retransmitted, and neighbours without an answer are given up on (their entries removed).
    pub fn poll(&mut self, now: Instant, t: &Timing, due: &mut Vec<Due>) {
        let mut gone = Vec::new();
        for (ip, e) in &mut self.entries {
            match e.state {
                State::Reachable { until } if until <= now => {
                    e.state = State::Stale;
                    e.updated = now;
                }
                State::Delay { until } if until <= now => {
                    if let Some(mac) = e.mac {
                        e.state = State::Probe {
                            sent: 1,
                            next: now + t.retrans,
                        };
                        due.push(Due::Probe(*ip, mac));
                    }
                }
                State::Probe { sent, next } if next <= now => match e.mac {
                    Some(mac) if sent < t.max_unicast => {
                        e.state = State::Probe {
                            sent: sent + 1,
                            next: now + t.retrans,
                        };
                        due.push(Due::Probe(*ip, mac));
                    }
                    _ => gone.push(*ip),
                },
                State::Incomplete { sent, next } if next <= now => {
                    if sent < t.max_multicast {
                        e.state = State::Incomplete {
                            sent: sent + 1,
                            next: now + t.retrans,
                        };
                        due.push(Due::Solicit(*ip));
                    } else {
                        gone.push(*ip);
                    }
                }
                _ => {}
            }
        }
        for ip in gone {
            self.entries.remove(&ip);
            due.push(Due::Failed(ip));
        }
    }

    /// The next timer.
    pub fn poll_at(&self) -> Option<Instant> {
        self.entries
            .values()
            .filter_map(|e| match e.state {
                State::Incomplete { next, .. } | State::Probe { next, .. } => Some(next),
                State::Reachable { until } | State::Delay { until } => Some(until),
                State::Stale => None,
            })
            .min()
    }
}

/// A packet waiting for its next hop to be resolved: the IPv6 packet's parts, written out when
/// the link-layer address is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingPacket {
    /// The neighbour being resolved.
    pub next_hop: Ipv6Addr,
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// Upper-layer protocol.
    pub next_header: u8,
    /// Hop limit to send it with (255 for NDP).
    pub hop_limit: u8,
    /// Upper-layer payload.
    pub payload: Vec<u8>,
}

/// The queue of packets waiting for resolution, bounded in packets and bytes.
#[derive(Debug)]
pub struct Pending {
    items: VecDeque<PendingPacket>,
    bytes: usize,
    max_packets: usize,
    max_bytes: usize,
}

impl Pending {
    /// An empty queue.
    pub fn new(max_packets: usize, max_bytes: usize) -> Self {
        Pending {
            items: VecDeque::new(),
            bytes: 0,
            max_packets,
            max_bytes,
        }
    }

    /// Queues a packet; the oldest ones go when the queue is full. Returns how many were dropped.
    pub fn push(&mut self, p: PendingPacket) -> usize {
        if p.payload.len() > self.max_bytes {
            return 1;
        }
        let mut dropped = 0;
        while self.items.len() >= self.max_packets || self.bytes + p.payload.len() > self.max_bytes
        {
            let Some(old) = self.items.pop_front() else {
                break;
            };
            self.bytes -= old.payload.len();
            dropped += 1;
        }
        self.bytes += p.payload.len();
        self.items.push_back(p);
        dropped
    }

    /// Takes every packet waiting for `next_hop`, in order.
    pub fn take_for(&mut self, next_hop: Ipv6Addr) -> Vec<PendingPacket> {
        let (out, keep): (Vec<_>, Vec<_>) =
            self.items.drain(..).partition(|p| p.next_hop == next_hop);
        self.items = keep.into();
        self.bytes = self.items.iter().map(|p| p.payload.len()).sum();
        out
    }

    /// Packets queued.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Bytes queued.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
    const OTHER: MacAddr = MacAddr([2, 0, 0, 0, 0, 9]);

    fn timing() -> Timing {
        Timing {
            retrans: Duration::from_secs(1),
            reachable: Duration::from_secs(30),
            delay: Duration::from_secs(5),
            max_multicast: 3,
            max_unicast: 3,
        }
    }

    fn ip(n: u16) -> Ipv6Addr {
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, n)
    }

    fn at(s: u64) -> Instant {
        Instant::from_secs(s)
    }

    fn solicited(mac: MacAddr) -> Advert {
        Advert {
            mac: Some(mac),
            solicited: true,
            override_entry: true,
            router: false,
        }
    }

    fn state(c: &Cache, n: u16) -> Option<&'static str> {
        c.get(ip(n)).map(|e| e.state.name())
    }

    /// INCOMPLETE -> REACHABLE -> STALE -> DELAY -> PROBE -> REACHABLE, then PROBE -> gone.
    #[test]
    fn full_cycle_at_explicit_times() {
        let t = timing();
        let mut c = Cache::new(8);
        let mut due = Vec::new();
        assert_eq!(c.lookup(ip(1), at(0), &t), Lookup::Started);
        assert_eq!(state(&c, 1), Some("INCOMPLETE"));
        assert_eq!(c.lookup(ip(1), at(0), &t), Lookup::Wait);
        assert_eq!(c.poll_at(), Some(at(1)));
        c.poll(at(1), &t, &mut due);
        assert_eq!(
            due,
            [Due::Solicit(ip(1))],
            "retransmitted after RetransTimer"
        );
        assert!(c.on_advert(ip(1), solicited(MAC), at(1), &t));
        assert_eq!(state(&c, 1), Some("REACHABLE"));
        assert_eq!(c.lookup(ip(1), at(2), &t), Lookup::Send(MAC));
        due.clear();
        c.poll(at(30), &t, &mut due);
        assert_eq!(state(&c, 1), Some("REACHABLE"));
        c.poll(at(31), &t, &mut due);
        assert_eq!(state(&c, 1), Some("STALE"), "ReachableTime ran out");
        assert_eq!(c.peek(ip(1)), None);
        assert_eq!(c.lookup(ip(1), at(40), &t), Lookup::Send(MAC));
        assert_eq!(state(&c, 1), Some("DELAY"));
        c.poll(at(44), &t, &mut due);
        assert_eq!(state(&c, 1), Some("DELAY"));
        c.poll(at(45), &t, &mut due);
        assert_eq!(state(&c, 1), Some("PROBE"));
        assert_eq!(due, [Due::Probe(ip(1), MAC)]);
        assert!(!c.on_advert(ip(1), solicited(MAC), at(45), &t));
        assert_eq!(state(&c, 1), Some("REACHABLE"), "the probe was answered");

        // Now without an answer: three probes, then the entry is gone.
        c.poll(at(76), &t, &mut due);
        assert_eq!(c.lookup(ip(1), at(76), &t), Lookup::Send(MAC));
        due.clear();
        for s in 81..=83 {
            c.poll(at(s), &t, &mut due);
        }
        assert_eq!(due, [Due::Probe(ip(1), MAC); 3]);
        c.poll(at(84), &t, &mut due);
        assert_eq!(due.last(), Some(&Due::Failed(ip(1))));
        assert_eq!(state(&c, 1), None);
    }

    #[test]
    fn resolution_gives_up() {
        let t = timing();
        let mut c = Cache::new(8);
        let mut due = Vec::new();
        c.lookup(ip(2), at(0), &t);
        for s in 1..=3 {
            c.poll(at(s), &t, &mut due);
        }
        assert_eq!(
            due,
            [Due::Solicit(ip(2)), Due::Solicit(ip(2)), Due::Failed(ip(2))]
        );
        assert!(c.is_empty());
    }

    #[test]
    fn advert_rules() {
        let t = timing();
        let mut c = Cache::new(8);
        // No entry: ignored.
        assert!(!c.on_advert(ip(3), solicited(MAC), at(0), &t));
        assert!(c.is_empty());
        // Unsolicited answer to an INCOMPLETE entry: STALE.
        c.lookup(ip(3), at(0), &t);
        let unsolicited = Advert {
            solicited: false,
            ..solicited(MAC)
        };
        assert!(c.on_advert(ip(3), unsolicited, at(0), &t));
        assert_eq!(state(&c, 3), Some("STALE"));
        c.on_advert(ip(3), solicited(MAC), at(0), &t);
        // Override clear and another address: REACHABLE becomes STALE, address kept.
        let weak = Advert {
            override_entry: false,
            ..solicited(OTHER)
        };
        c.on_advert(ip(3), weak, at(1), &t);
        assert_eq!(state(&c, 3), Some("STALE"));
        assert_eq!(c.get(ip(3)).unwrap().mac, Some(MAC));
        // Override set: the new address is taken.
        c.on_advert(ip(3), solicited(OTHER), at(2), &t);
        assert_eq!(c.get(ip(3)).unwrap().mac, Some(OTHER));
        // A solicitation with another address: STALE with the new one.
        c.on_link_layer(ip(3), MAC, at(3));
        assert_eq!(
            (state(&c, 3), c.get(ip(3)).unwrap().mac),
            (Some("STALE"), Some(MAC))
        );
    }

    #[test]
    fn bounded_and_evicts_oldest() {
        let t = timing();
        let mut c = Cache::new(2);
        c.on_link_layer(ip(1), MAC, at(0));
        c.on_link_layer(ip(2), MAC, at(1));
        c.lookup(ip(3), at(2), &t);
        assert_eq!(c.len(), 2);
        assert_eq!(c.evictions(), 1);
        assert!(c.get(ip(1)).is_none());
        c.lookup(ip(4), at(3), &t);
        c.lookup(ip(5), at(4), &t);
        assert_eq!(c.len(), 2);
        assert_eq!(
            c.take_abandoned(),
            [ip(3)],
            "an INCOMPLETE entry evicted is abandoned"
        );
    }

    #[test]
    fn pending_is_bounded() {
        let mut p = Pending::new(2, 100);
        let pkt = |n: u16, len: usize| PendingPacket {
            next_hop: ip(n),
            src: ip(0),
            dst: ip(n),
            next_header: 58,
            hop_limit: 64,
            payload: vec![0; len],
        };
        assert_eq!(p.push(pkt(1, 10)), 0);
        assert_eq!(p.push(pkt(2, 10)), 0);
        assert_eq!(p.push(pkt(1, 10)), 1, "oldest dropped");
        assert_eq!(p.push(pkt(1, 95)), 2);
        assert_eq!(p.push(pkt(1, 101)), 1, "never fits");
        assert_eq!(p.take_for(ip(1)).len(), 1);
        assert!(p.is_empty());
        assert_eq!(p.bytes(), 0);
    }
}
