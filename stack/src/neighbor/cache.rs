//! The neighbour cache: bounded, generic over the protocol address, run under a [`Profile`].

use std::collections::BTreeMap;

use core::time::Duration;

use super::{Advert, Due, Entry, Lookup, Profile, State, Timing};
use crate::ethernet::MacAddr;
use crate::time::Instant;

/// The neighbour cache, bounded to `capacity` entries, keyed by protocol address `A`.
#[derive(Clone, Debug)]
pub struct Cache<A> {
    entries: BTreeMap<A, Entry>,
    capacity: usize,
    profile: Profile,
    evictions: u64,
    /// Neighbours whose resolution was evicted while packets may wait for them.
    abandoned: Vec<A>,
}

impl<A: Copy + Ord> Cache<A> {
    /// An empty cache of at most `capacity` entries, run under `profile`.
    pub fn new(capacity: usize, profile: Profile) -> Self {
        Cache {
            entries: BTreeMap::new(),
            capacity: capacity.max(1),
            profile,
            evictions: 0,
            abandoned: Vec::new(),
        }
    }

    /// The entry for `ip`.
    pub fn get(&self, ip: A) -> Option<&Entry> {
        self.entries.get(&ip)
    }

    /// Every entry, in address order.
    pub fn iter(&self) -> impl Iterator<Item = (A, Entry)> + '_ {
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
    pub fn take_abandoned(&mut self) -> Vec<A> {
        std::mem::take(&mut self.abandoned)
    }

    /// True when `ip` has an entry (resolved, stale or in progress).
    pub fn contains(&self, ip: A) -> bool {
        self.entries.contains_key(&ip)
    }

    /// Makes room for one entry when full. Under [`Profile::Nud`] the least recently updated
    /// entry goes, resolved entries before ones still resolving; under [`Profile::Arp`] an
    /// expired mapping, else the one closest to expiry, else the oldest request in progress.
    fn make_room(&mut self, now: Instant) {
        if self.entries.len() < self.capacity {
            return;
        }
        let victim = match self.profile {
            Profile::Nud => self
                .entries
                .iter()
                .min_by_key(|(_, e)| (matches!(e.state, State::Incomplete { .. }), e.updated))
                .map(|(a, _)| *a),
            Profile::Arp => self
                .entries
                .iter()
                .min_by_key(|(_, e)| match e.state {
                    State::Reachable { until } if until <= now => (0, Instant::ZERO),
                    State::Reachable { until } => (1, until),
                    State::Incomplete { next, .. } => (2, next),
                    State::Stale | State::Delay { .. } | State::Probe { .. } => (1, e.updated),
                })
                .map(|(a, _)| *a),
        };
        if let Some(ip) = victim {
            if let Some(e) = self.entries.remove(&ip) {
                if matches!(e.state, State::Incomplete { .. }) {
                    self.abandoned.push(ip);
                }
            }
            self.evictions += 1;
        }
    }

    /// ARP: the link-layer address of `ip` if it was learned and its lifetime has not run out.
    pub fn fresh(&self, ip: A, now: Instant) -> Option<MacAddr> {
        match self.entries.get(&ip) {
            Some(Entry {
                mac: Some(mac),
                state: State::Reachable { until },
                ..
            }) if *until > now => Some(*mac),
            _ => None,
        }
    }

    /// ARP (RFC 826 "merge"): records `ip` at `mac`, REACHABLE for `lifetime`, creating the
    /// entry if needed. Returns true when the entry was INCOMPLETE (packets may now be sent).
    pub fn learn(&mut self, ip: A, mac: MacAddr, now: Instant, lifetime: Duration) -> bool {
        let state = State::Reachable {
            until: now + lifetime,
        };
        if let Some(e) = self.entries.get_mut(&ip) {
            let was_incomplete = matches!(e.state, State::Incomplete { .. });
            e.mac = Some(mac);
            e.state = state;
            e.updated = now;
            return was_incomplete;
        }
        self.make_room(now);
        self.entries.insert(
            ip,
            Entry {
                mac: Some(mac),
                state,
                router: false,
                updated: now,
            },
        );
        false
    }

    /// ARP: starts resolving `ip` unless that is under way (a learned mapping is replaced).
    /// Returns true when a first request should be sent now.
    pub fn start(&mut self, ip: A, now: Instant, retrans: Duration) -> bool {
        let existing = self.entries.get(&ip).map(|e| e.state);
        if let Some(State::Incomplete { .. }) = existing {
            return false;
        }
        if existing.is_none() {
            self.make_room(now);
        }
        self.entries.insert(ip, incomplete(now, retrans));
        true
    }

    /// A packet is to be sent to `ip` (RFC 4861 7.2.2, 7.3.3): what to do with it.
    pub fn lookup(&mut self, ip: A, now: Instant, t: &Timing) -> Lookup {
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
                self.make_room(now);
                self.entries.insert(ip, incomplete(now, t.retrans));
                Lookup::Started
            }
        }
    }

    /// The link-layer address of `ip` if it can be used without changing any state.
    pub fn peek(&self, ip: A) -> Option<MacAddr> {
        self.entries
            .get(&ip)
            .filter(|e| !matches!(e.state, State::Incomplete { .. } | State::Stale))
            .and_then(|e| e.mac)
    }

    /// A solicitation (or Router Advertisement, Router Solicitation) from `ip` carried its
    /// link-layer address (RFC 4861 7.2.3, 6.3.4): create or update the entry. Returns true when
    /// the entry had been INCOMPLETE, so queued packets can now leave.
    pub fn on_link_layer(&mut self, ip: A, mac: MacAddr, now: Instant) -> bool {
        match self.entries.get_mut(&ip) {
            None => {
                self.make_room(now);
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
    pub fn set_router(&mut self, ip: A) {
        if let Some(e) = self.entries.get_mut(&ip) {
            e.router = true;
        }
    }

    /// A Neighbor Advertisement for `ip` arrived (RFC 4861 7.2.5). Returns true when the entry
    /// had been INCOMPLETE and is now resolved, so queued packets can leave.
    pub fn on_advert(&mut self, ip: A, a: Advert, now: Instant, t: &Timing) -> bool {
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
    pub fn remove(&mut self, ip: A) {
        self.entries.remove(&ip);
    }

    /// Runs the timers: REACHABLE runs out into STALE (under [`Profile::Nud`]; an ARP mapping
    /// just stops being used), DELAY turns into PROBE, solicitations are retransmitted, and
    /// neighbours without an answer are given up on (their entries removed), in address order.
    pub fn poll(&mut self, now: Instant, t: &Timing, due: &mut Vec<Due<A>>) {
        let nud = self.profile == Profile::Nud;
        let mut gone = Vec::new();
        for (ip, e) in &mut self.entries {
            match e.state {
                State::Reachable { until } if nud && until <= now => {
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
        let nud = self.profile == Profile::Nud;
        self.entries
            .values()
            .filter_map(|e| match e.state {
                State::Incomplete { next, .. } | State::Probe { next, .. } => Some(next),
                State::Reachable { until } if nud => Some(until),
                State::Delay { until } => Some(until),
                State::Reachable { .. } | State::Stale => None,
            })
            .min()
    }
}

/// A new INCOMPLETE entry: the first solicitation goes now, the next after `retrans`.
fn incomplete(now: Instant, retrans: Duration) -> Entry {
    Entry {
        mac: None,
        state: State::Incomplete {
            sent: 1,
            next: now + retrans,
        },
        router: false,
        updated: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr};

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

    fn state(c: &Cache<Ipv6Addr>, n: u16) -> Option<&'static str> {
        c.get(ip(n)).map(|e| e.state.name())
    }

    /// INCOMPLETE -> REACHABLE -> STALE -> DELAY -> PROBE -> REACHABLE, then PROBE -> gone.
    #[test]
    fn full_cycle_at_explicit_times() {
        let t = timing();
        let mut c = Cache::new(8, Profile::Nud);
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
        let mut c = Cache::new(8, Profile::Nud);
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
        let mut c = Cache::new(8, Profile::Nud);
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
        let mut c = Cache::new(2, Profile::Nud);
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

    /// The ARP profile: a learned mapping is used for its lifetime, then kept but unused, and
    /// never turns STALE, DELAY or PROBE; requests are retried, then given up on.
    #[test]
    fn arp_profile_at_explicit_times() {
        let lifetime = Duration::from_secs(60);
        let retry = Duration::from_secs(1);
        let t = Timing {
            retrans: retry,
            reachable: lifetime,
            delay: Duration::ZERO,
            max_multicast: 3,
            max_unicast: 0,
        };
        let a = Ipv4Addr::new(10, 0, 0, 1);
        let mut c = Cache::new(4, Profile::Arp);
        let mut due = Vec::new();
        assert!(c.start(a, at(0), retry));
        assert!(!c.start(a, at(0), retry), "already resolving");
        c.poll(at(1), &t, &mut due);
        assert_eq!(due, [Due::Solicit(a)]);
        assert!(c.learn(a, MAC, at(1), lifetime), "was incomplete");
        assert_eq!(c.fresh(a, at(60)), Some(MAC));
        assert_eq!(c.poll_at(), None, "no timer for a learned mapping");
        due.clear();
        c.poll(at(61), &t, &mut due);
        assert!(due.is_empty());
        assert_eq!(c.fresh(a, at(61)), None, "lifetime ran out");
        assert!(c.contains(a), "but the entry stays");
        assert_eq!(c.get(a).map(|e| e.state.name()), Some("REACHABLE"));
        // Give-up after the last request.
        let b = Ipv4Addr::new(10, 0, 0, 2);
        c.start(b, at(100), retry);
        for s in 101..=103 {
            c.poll(at(s), &t, &mut due);
        }
        assert_eq!(due, [Due::Solicit(b), Due::Solicit(b), Due::Failed(b)]);
        assert!(!c.contains(b));
    }

    #[test]
    fn arp_profile_evicts_expired_then_closest_to_expiry_then_oldest_request() {
        let lifetime = Duration::from_secs(60);
        let ip4 = |n: u8| Ipv4Addr::new(10, 0, 0, n);
        let mut c = Cache::new(3, Profile::Arp);
        c.start(ip4(1), at(0), Duration::from_secs(1));
        c.learn(ip4(2), MAC, at(10), lifetime);
        c.learn(ip4(3), MAC, at(5), lifetime);
        c.learn(ip4(4), MAC, at(20), lifetime);
        assert!(!c.contains(ip4(3)), "closest to expiry");
        c.learn(ip4(5), MAC, at(200), lifetime);
        assert!(
            !c.contains(ip4(2)),
            "expired before the one still resolving"
        );
        c.learn(ip4(6), MAC, at(201), lifetime);
        assert!(!c.contains(ip4(4)), "expired");
        c.learn(ip4(7), MAC, at(202), lifetime);
        assert!(
            !c.contains(ip4(5)),
            "a mapping goes before a request in progress"
        );
        assert!(c.take_abandoned().is_empty());
        let mut c = Cache::new(1, Profile::Arp);
        c.start(ip4(1), at(0), Duration::from_secs(1));
        c.start(ip4(2), at(0), Duration::from_secs(1));
        assert_eq!(
            c.take_abandoned(),
            [ip4(1)],
            "only requests left: the oldest goes"
        );
        assert_eq!(c.evictions(), 1);
    }
}
