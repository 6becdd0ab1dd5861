//! The IPv6 neighbour cache (RFC 4861 5.1, 7.3): address resolution and neighbour
//! unreachability detection, with the states of RFC 4861 7.3.2 and the transitions of its
//! appendix C, and the bounded queue of packets waiting for resolution (RFC 4861 7.2.2).
//!
//! Both are the shared neighbour machine of [`crate::neighbor`], keyed by IPv6 address and run
//! under [`Profile::Nud`]; the messages are [`super::ndp`]'s.

use core::net::Ipv6Addr;

use crate::neighbor::{self as machine, Queued};
pub use crate::neighbor::{Advert, Entry, Lookup, Profile, State, Timing};

/// The IPv6 neighbour cache (create it with [`Profile::Nud`]).
pub type Cache = machine::Cache<Ipv6Addr>;

/// Work [`Cache::poll`] found due.
pub type Due = machine::Due<Ipv6Addr>;

/// The queue of packets waiting for resolution; when full, the oldest go
/// ([`machine::Pending::push_replacing_oldest`]).
pub type Pending = machine::Pending<PendingPacket>;

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

impl Queued for PendingPacket {
    type Addr = Ipv6Addr;

    fn next_hop(&self) -> Ipv6Addr {
        self.next_hop
    }

    fn size(&self) -> usize {
        self.payload.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u16) -> Ipv6Addr {
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, n)
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
        assert_eq!(p.push_replacing_oldest(pkt(1, 10)), 0);
        assert_eq!(p.push_replacing_oldest(pkt(2, 10)), 0);
        assert_eq!(p.push_replacing_oldest(pkt(1, 10)), 1, "oldest dropped");
        assert_eq!(p.push_replacing_oldest(pkt(1, 95)), 2);
        assert_eq!(p.push_replacing_oldest(pkt(1, 101)), 1, "never fits");
        assert_eq!(p.take_for(ip(1)).len(), 1);
        assert!(p.is_empty());
        assert_eq!(p.bytes(), 0);
    }
}
