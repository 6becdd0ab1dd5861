//! ARP (RFC 826) for IPv4 over Ethernet, with address conflict detection (RFC 5227).
//!
//! The [`Cache`] maps neighbour IPv4 addresses to MAC addresses. It is the shared neighbour
//! machine of [`crate::neighbor`] under its ARP profile, bounded: when full, the entry closest
//! to expiry makes room. Entries that are still being resolved remember how many requests went
//! out and when the next is due; packets waiting for them sit in [`Pending`].

use core::net::Ipv4Addr;
use core::time::Duration;

use etherparse::{ArpEthIpv4Packet, ArpOperation, ArpPacket};

use crate::ethernet::MacAddr;
use crate::neighbor::{self, Profile, Queued, State, Timing};
use crate::time::Instant;

/// Length of an ARP packet for Ethernet/IPv4.
pub const PACKET_LEN: usize = ArpEthIpv4Packet::LEN;

/// ARP opcode (RFC 826): only the two we act on are named.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Who has `target_ip`? Tell `sender_ip`.
    Request,
    /// `sender_ip` is at `sender_mac`.
    Reply,
}

/// An ARP packet for Ethernet/IPv4, parsed and checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repr {
    /// Request or reply.
    pub op: Operation,
    /// Sender hardware address.
    pub sender_mac: MacAddr,
    /// Sender protocol address.
    pub sender_ip: Ipv4Addr,
    /// Target hardware address (zero in requests).
    pub target_mac: MacAddr,
    /// Target protocol address.
    pub target_ip: Ipv4Addr,
}

/// Why an ARP packet was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Shorter than the fixed part or than its address lengths say.
    Truncated,
    /// Not Ethernet/IPv4, or an opcode other than request/reply.
    Unsupported,
}

impl Repr {
    /// Parses the ARP payload of an Ethernet frame. Trailing padding is ignored.
    ///
    /// # Errors
    /// [`ParseError`] when the packet is short or not Ethernet/IPv4 request/reply.
    pub fn parse(buf: &[u8]) -> Result<Repr, ParseError> {
        let packet = ArpPacket::from_slice(buf).map_err(|_| ParseError::Truncated)?;
        let p = packet.try_eth_ipv4().map_err(|_| ParseError::Unsupported)?;
        let op = match p.operation {
            ArpOperation::REQUEST => Operation::Request,
            ArpOperation::REPLY => Operation::Reply,
            _ => return Err(ParseError::Unsupported),
        };
        Ok(Repr {
            op,
            sender_mac: MacAddr(p.sender_mac),
            sender_ip: p.sender_ipv4_addr(),
            target_mac: MacAddr(p.target_mac),
            target_ip: p.target_ipv4_addr(),
        })
    }

    /// The 28 bytes on the wire.
    pub fn to_bytes(&self) -> [u8; PACKET_LEN] {
        ArpEthIpv4Packet {
            operation: match self.op {
                Operation::Request => ArpOperation::REQUEST,
                Operation::Reply => ArpOperation::REPLY,
            },
            sender_mac: self.sender_mac.0,
            sender_ipv4: self.sender_ip.octets(),
            target_mac: self.target_mac.0,
            target_ipv4: self.target_ip.octets(),
        }
        .to_bytes()
    }

    /// A request for `target_ip`.
    pub fn request(mac: MacAddr, ip: Ipv4Addr, target_ip: Ipv4Addr) -> Repr {
        Repr {
            op: Operation::Request,
            sender_mac: mac,
            sender_ip: ip,
            target_mac: MacAddr::ZERO,
            target_ip,
        }
    }

    /// An ARP probe for `ip` (RFC 5227 2.1.1): sender address all zeros.
    pub fn probe(mac: MacAddr, ip: Ipv4Addr) -> Repr {
        Repr::request(mac, Ipv4Addr::UNSPECIFIED, ip)
    }

    /// An ARP announcement of `ip` (RFC 5227 2.3): a request with sender and target both `ip`.
    pub fn announcement(mac: MacAddr, ip: Ipv4Addr) -> Repr {
        Repr::request(mac, ip, ip)
    }
}

/// A neighbour cache entry, as ARP sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// Requests are out; no answer yet.
    Incomplete {
        /// Requests sent so far.
        requests: u32,
        /// When the next request (or the give-up) is due.
        next: Instant,
    },
    /// Resolved.
    Resolved {
        /// The neighbour's MAC address.
        mac: MacAddr,
        /// When the mapping stops being trusted.
        expires: Instant,
    },
}

impl Entry {
    /// The entry of the shared machine as ARP sees it: INCOMPLETE, or a mapping learned with
    /// its expiry (the ARP profile has no other state; one would show with its last change).
    fn from_neighbor(e: &neighbor::Entry) -> Entry {
        match (e.state, e.mac) {
            (State::Incomplete { sent, next }, _) => Entry::Incomplete {
                requests: sent,
                next,
            },
            (State::Reachable { until }, Some(mac)) => Entry::Resolved {
                mac,
                expires: until,
            },
            (_, Some(mac)) => Entry::Resolved {
                mac,
                expires: e.updated,
            },
            (_, None) => Entry::Incomplete {
                requests: 0,
                next: e.updated,
            },
        }
    }
}

/// What [`Cache::poll`] asks the interface to do for one neighbour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    /// Send (another) request.
    Request(Ipv4Addr),
    /// Give up: drop what waits for this neighbour.
    Failed(Ipv4Addr),
}

/// The bounded ARP cache: the shared neighbour machine keyed by IPv4 address under
/// [`Profile::Arp`]. When full, an expired mapping makes room, else the one closest to expiry,
/// else the oldest request in progress.
#[derive(Clone, Debug)]
pub struct Cache {
    entries: neighbor::Cache<Ipv4Addr>,
    lifetime: Duration,
    /// What the machine found due, before it is told in ARP's words.
    due: Vec<neighbor::Due<Ipv4Addr>>,
}

impl Cache {
    /// An empty cache holding at most `capacity` entries, each resolved one trusted for `lifetime`.
    pub fn new(capacity: usize, lifetime: Duration) -> Self {
        Cache {
            entries: neighbor::Cache::new(capacity, Profile::Arp),
            lifetime,
            due: Vec::new(),
        }
    }

    /// The MAC of `ip` if it is resolved and fresh.
    pub fn lookup(&self, ip: Ipv4Addr, now: Instant) -> Option<MacAddr> {
        self.entries.fresh(ip, now)
    }

    /// True when `ip` has an entry (resolved, stale or in progress).
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        self.entries.contains(ip)
    }

    /// Records `ip` at `mac`, creating the entry if needed. Returns true when the entry was
    /// incomplete (packets may now be sent).
    pub fn learn(&mut self, ip: Ipv4Addr, mac: MacAddr, now: Instant) -> bool {
        self.entries.learn(ip, mac, now, self.lifetime)
    }

    /// Starts resolving `ip` unless that is under way. Returns true when a first request should
    /// be sent now.
    pub fn start(&mut self, ip: Ipv4Addr, now: Instant, retry: Duration) -> bool {
        self.entries.start(ip, now, retry)
    }

    /// Timers: requests to repeat and neighbours to give up on, in address order.
    pub fn poll(&mut self, now: Instant, retry: Duration, max_requests: u32, out: &mut Vec<Due>) {
        let timing = Timing {
            retrans: retry,
            reachable: self.lifetime,
            delay: Duration::ZERO,
            max_multicast: max_requests,
            max_unicast: 0,
        };
        self.entries.poll(now, &timing, &mut self.due);
        out.extend(self.due.drain(..).filter_map(|d| match d {
            neighbor::Due::Solicit(ip) => Some(Due::Request(ip)),
            neighbor::Due::Failed(ip) => Some(Due::Failed(ip)),
            neighbor::Due::Probe(..) => None,
        }));
    }

    /// The next request or give-up deadline.
    pub fn poll_at(&self) -> Option<Instant> {
        self.entries.poll_at()
    }

    /// Entries, in address order.
    pub fn iter(&self) -> impl Iterator<Item = (Ipv4Addr, Entry)> + '_ {
        self.entries
            .iter()
            .map(|(ip, e)| (ip, Entry::from_neighbor(&e)))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries evicted to make room so far.
    pub fn evictions(&self) -> u64 {
        self.entries.evictions()
    }

    /// Neighbours whose resolution in progress was evicted since the last call: whatever waits
    /// for them will never be sent.
    pub fn take_abandoned(&mut self) -> Vec<Ipv4Addr> {
        self.entries.take_abandoned()
    }
}

/// An IPv4 datagram waiting for its next hop to be resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingPacket {
    /// The neighbour being resolved.
    pub next_hop: Ipv4Addr,
    /// Final destination.
    pub dst: Ipv4Addr,
    /// IP protocol number.
    pub protocol: u8,
    /// The transport message (header and data).
    pub payload: Vec<u8>,
}

impl Queued for PendingPacket {
    type Addr = Ipv4Addr;

    fn next_hop(&self) -> Ipv4Addr {
        self.next_hop
    }

    fn size(&self) -> usize {
        self.payload.len()
    }
}

/// Packets waiting for resolution, bounded in count and bytes; a packet that does not fit is
/// refused ([`neighbor::Pending::push`]).
pub type Pending = neighbor::Pending<PendingPacket>;

#[cfg(test)]
mod tests {
    use super::*;

    const MAC_A: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xa]);

    /// A request from 10.0.0.1 (02:..:0a) for 10.0.0.2, as Linux sends it.
    const REQUEST: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x0a, 10, 0,
        0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2,
    ];

    #[test]
    fn parse_and_emit_request() {
        let r = Repr::parse(&REQUEST).unwrap();
        assert_eq!(
            r,
            Repr::request(
                MAC_A,
                Ipv4Addr::new(10, 0, 0, 1),
                Ipv4Addr::new(10, 0, 0, 2)
            )
        );
        assert_eq!(r.to_bytes(), REQUEST);
        let mut padded = REQUEST.to_vec();
        padded.extend_from_slice(&[0; 18]);
        assert_eq!(Repr::parse(&padded), Ok(r));
    }

    #[test]
    fn parse_rejects_short_and_foreign() {
        for n in 0..REQUEST.len() {
            assert_eq!(
                Repr::parse(&REQUEST[..n]),
                Err(ParseError::Truncated),
                "len {n}"
            );
        }
        let mut bad = REQUEST;
        bad[1] = 6; // IEEE 802 hardware
        assert_eq!(Repr::parse(&bad), Err(ParseError::Unsupported));
        let mut bad = REQUEST;
        bad[7] = 3; // RARP request
        assert_eq!(Repr::parse(&bad), Err(ParseError::Unsupported));
        let mut bad = REQUEST;
        bad[2] = 0x86; // IPv6 protocol type
        bad[3] = 0xdd;
        assert_eq!(Repr::parse(&bad), Err(ParseError::Unsupported));
    }

    #[test]
    fn probe_and_announcement_shapes() {
        let ip = Ipv4Addr::new(10, 0, 0, 2);
        let p = Repr::probe(MAC_A, ip);
        assert_eq!(
            (p.sender_ip, p.target_ip, p.target_mac),
            (Ipv4Addr::UNSPECIFIED, ip, MacAddr::ZERO)
        );
        let a = Repr::announcement(MAC_A, ip);
        assert_eq!((a.sender_ip, a.target_ip), (ip, ip));
    }

    #[test]
    fn cache_resolves_expires_and_retries() {
        let retry = Duration::from_secs(1);
        let mut c = Cache::new(4, Duration::from_secs(60));
        let ip = Ipv4Addr::new(10, 0, 0, 1);
        let t0 = Instant::from_secs(100);
        assert!(c.start(ip, t0, retry));
        assert!(!c.start(ip, t0, retry), "already resolving");
        assert_eq!(c.poll_at(), Some(t0 + retry));
        let mut due = Vec::new();
        c.poll(t0, retry, 3, &mut due);
        assert!(due.is_empty());
        c.poll(t0 + retry, retry, 3, &mut due);
        assert_eq!(due, [Due::Request(ip)]);
        assert!(c.learn(ip, MAC_A, t0 + retry), "was incomplete");
        assert_eq!(c.lookup(ip, t0 + retry), Some(MAC_A));
        assert_eq!(c.poll_at(), None);
        assert_eq!(c.lookup(ip, t0 + Duration::from_secs(62)), None, "expired");
    }

    #[test]
    fn cache_gives_up_after_max_requests() {
        let retry = Duration::from_secs(1);
        let mut c = Cache::new(4, Duration::from_secs(60));
        let ip = Ipv4Addr::new(10, 0, 0, 9);
        c.start(ip, Instant::ZERO, retry);
        let mut due = Vec::new();
        for s in 1..=3 {
            c.poll(Instant::from_secs(s), retry, 3, &mut due);
        }
        assert_eq!(due, [Due::Request(ip), Due::Request(ip), Due::Failed(ip)]);
        assert!(c.is_empty());
    }

    #[test]
    fn cache_is_bounded_and_evicts_the_stalest() {
        let mut c = Cache::new(3, Duration::from_secs(60));
        for i in 1..=3u8 {
            c.learn(
                Ipv4Addr::new(10, 0, 0, i),
                MAC_A,
                Instant::from_secs(u64::from(i)),
            );
        }
        c.learn(Ipv4Addr::new(10, 0, 0, 4), MAC_A, Instant::from_secs(10));
        assert_eq!(c.len(), 3);
        assert!(c.take_abandoned().is_empty(), "a resolved entry went");
        assert_eq!(c.evictions(), 1);
        assert!(
            !c.contains(Ipv4Addr::new(10, 0, 0, 1)),
            "the entry closest to expiry goes"
        );
        for i in 0..1000u32 {
            c.learn(
                Ipv4Addr::from(0x0a00_1000 + i),
                MAC_A,
                Instant::from_secs(20),
            );
        }
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn pending_is_bounded_and_keeps_order() {
        let hop = Ipv4Addr::new(10, 0, 0, 1);
        let other = Ipv4Addr::new(10, 0, 0, 3);
        let pkt = |hop, n: u8| PendingPacket {
            next_hop: hop,
            dst: hop,
            protocol: 17,
            payload: vec![n; 10],
        };
        let mut q = Pending::new(3, 25);
        assert!(q.push(pkt(hop, 1)).is_ok());
        assert!(q.push(pkt(other, 2)).is_ok());
        assert!(q.push(pkt(hop, 3)).is_err(), "byte bound");
        let mut q = Pending::new(2, 1000);
        q.push(pkt(hop, 1)).unwrap();
        q.push(pkt(other, 2)).unwrap();
        assert!(q.push(pkt(hop, 3)).is_err(), "count bound");
        let taken = q.take_for(hop);
        assert_eq!(taken.len(), 1);
        assert_eq!((q.len(), q.bytes()), (1, 10));
    }
}
