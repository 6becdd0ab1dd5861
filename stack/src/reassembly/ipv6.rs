//! The IPv6 layer of reassembly (RFC 8200 4.5), on the table shared with IPv4
//! ([`super::Reassembler`]), so the same bounds and policies hold: overlapping
//! fragments discard the whole datagram (RFC 5722), exact duplicates are ignored.
//!
//! Fragments belong together when source, destination and identification match. The first
//! fragment must carry the whole header chain up to and including the upper-layer header
//! (RFC 7112 5); otherwise it is refused with [`Outcome::IncompleteChain`], for which the
//! interface may send Parameter Problem code 3. Incomplete datagrams are kept 60 seconds
//! ([`TIMEOUT`], RFC 8200 4.5).
//!
//! The Next Header of the offset-zero fragment names the reassembled payload (RFC 8200 4.5: only
//! its value is used). It travels through the shared table as an extra 8-byte block in front of
//! the fragmentable part, so the table needs no per-datagram side data.

use core::net::{IpAddr, Ipv6Addr};
use core::time::Duration;

pub use super::Bounds;
use crate::ipv6::ext::{self, Fragment};
use crate::ipv6::NextHeader;
use crate::reassembly as shared;
use crate::stats::DropReason;
use crate::time::Instant;

/// How long an incomplete datagram is kept (RFC 8200 4.5).
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// Size of the block carrying the Next Header in front of the data.
const LEAD: usize = 8;

/// Fragments belong together when these match (RFC 8200 4.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// Identification from the Fragment header.
    pub ident: u32,
}

impl shared::Source for Key {
    fn source(&self) -> IpAddr {
        IpAddr::V6(self.src)
    }
}

/// What happened to a fragment.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Kept; the datagram is not complete yet.
    Held,
    /// The datagram is complete: the fragmentable part, starting with header `next_header`.
    Complete {
        /// The first header of `payload`, from the offset-zero fragment.
        next_header: NextHeader,
        /// The reassembled fragmentable part.
        payload: Vec<u8>,
    },
    /// A first fragment without its whole header chain (RFC 7112 5): dropped.
    IncompleteChain,
    /// Dropped (and with it, for overlap and some limits, the datagram).
    Dropped(DropReason),
}

/// The IPv6 reassembly table.
#[derive(Debug)]
pub struct Reassembler {
    table: shared::Reassembler<Key>,
    limits: ext::Limits,
}

impl Reassembler {
    /// An empty table. `bounds.max_payload` is the largest fragmentable part; use [`TIMEOUT`]
    /// for `bounds.timeout`. `limits` bound the header chain checked in first fragments.
    pub fn new(bounds: Bounds, limits: ext::Limits) -> Self {
        let inner = Bounds {
            max_payload: bounds.max_payload.saturating_add(LEAD),
            bytes: bounds
                .bytes
                .saturating_add(LEAD.saturating_mul(bounds.datagrams)),
            ..bounds
        };
        Reassembler {
            table: shared::Reassembler::new(inner),
            limits,
        }
    }

    /// Adds a fragment from `src` to `dst` with header `fragment` and `data` (the bytes after the
    /// Fragment header).
    pub fn add(
        &mut self,
        now: Instant,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        fragment: &Fragment,
        data: &[u8],
    ) -> Outcome {
        let key = Key {
            src,
            dst,
            ident: fragment.ident,
        };
        let outcome = if fragment.offset == 0 {
            let first = NextHeader::from(fragment.next_header);
            if !ext::chain_complete(data, first, self.limits) {
                return Outcome::IncompleteChain;
            }
            let mut lead = Vec::with_capacity(LEAD + data.len());
            lead.push(fragment.next_header);
            lead.resize(LEAD, 0);
            lead.extend_from_slice(data);
            self.table.add(now, key, 0, fragment.more, &lead)
        } else {
            self.table
                .add(now, key, fragment.offset + LEAD, fragment.more, data)
        };
        match outcome {
            shared::Outcome::Held => Outcome::Held,
            shared::Outcome::Dropped(r) => Outcome::Dropped(r),
            shared::Outcome::Complete(mut buf) => {
                let Some(&nh) = buf.first() else {
                    return Outcome::Dropped(DropReason::FragmentInvalid);
                };
                buf.drain(..LEAD.min(buf.len()));
                Outcome::Complete {
                    next_header: NextHeader::from(nh),
                    payload: buf,
                }
            }
        }
    }

    /// Discards datagrams past their deadline; returns how many.
    pub fn expire(&mut self, now: Instant) -> usize {
        self.table.expire(now)
    }

    /// Discards datagrams past their deadline; `first` gets the key, the Next Header and the
    /// data from offset 0 on of each whose first fragment had come (for ICMPv6 Time Exceeded,
    /// RFC 8200 4.5). Returns how many were discarded.
    pub fn expire_each(&mut self, now: Instant, mut first: impl FnMut(&Key, u8, &[u8])) -> usize {
        self.table.expire_each(now, |key, data| {
            if let Some((&nh, rest)) = data.and_then(|d| Some((d.first()?, d.get(LEAD..)?))) {
                first(key, nh, rest);
            }
        })
    }

    /// The earliest deadline.
    pub fn poll_at(&self) -> Option<Instant> {
        self.table.poll_at()
    }

    /// Datagrams in progress.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Incomplete packets evicted so far to make room for newer ones.
    pub fn evictions(&self) -> u64 {
        self.table.evictions()
    }

    /// True when nothing is in progress.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds() -> Bounds {
        Bounds {
            datagrams: 4,
            bytes: 20_000,
            max_payload: 65_527,
            max_fragments: 64,
            timeout: TIMEOUT,
        }
    }

    fn table() -> Reassembler {
        Reassembler::new(bounds(), ext::Limits::default())
    }

    fn a(n: u16) -> Ipv6Addr {
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, n)
    }

    /// A UDP datagram (8-byte header and data) of `n` bytes.
    fn udp(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 13 % 251) as u8).collect()
    }

    fn frag(offset: usize, more: bool, ident: u32) -> Fragment {
        Fragment {
            next_header: 17,
            offset,
            more,
            ident,
        }
    }

    const T: Instant = Instant::from_secs(1);

    #[test]
    fn in_order() {
        let p = udp(3000);
        let mut r = table();
        assert_eq!(
            r.add(T, a(1), a(2), &frag(0, true, 7), &p[..1448]),
            Outcome::Held
        );
        assert_eq!(
            r.add(T, a(1), a(2), &frag(1448, true, 7), &p[1448..2896]),
            Outcome::Held
        );
        assert_eq!(
            r.add(T, a(1), a(2), &frag(2896, false, 7), &p[2896..]),
            Outcome::Complete {
                next_header: NextHeader::Udp,
                payload: p
            }
        );
        assert!(r.is_empty());
    }

    #[test]
    fn full_table_evicts_oldest() {
        // Four incomplete trains fill the table; a fifth packet still reassembles.
        let mut r = table();
        for i in 0..4u32 {
            let t = T + core::time::Duration::from_millis(u64::from(i));
            assert_eq!(
                r.add(t, a(1), a(2), &frag(8, true, i), &[0; 8]),
                Outcome::Held
            );
        }
        let p = udp(100);
        let t = T + core::time::Duration::from_millis(10);
        assert_eq!(
            r.add(t, a(1), a(2), &frag(0, true, 99), &p[..48]),
            Outcome::Held
        );
        assert_eq!((r.len(), r.evictions()), (4, 1));
        assert_eq!(
            r.add(t, a(1), a(2), &frag(48, false, 99), &p[48..]),
            Outcome::Complete {
                next_header: NextHeader::Udp,
                payload: p
            }
        );
    }

    #[test]
    fn out_of_order_and_keys() {
        let p = udp(100);
        let mut r = table();
        assert_eq!(
            r.add(T, a(1), a(2), &frag(48, false, 7), &p[48..]),
            Outcome::Held
        );
        // Same identification, other source: another datagram.
        assert_eq!(
            r.add(T, a(3), a(2), &frag(0, true, 7), &p[..48]),
            Outcome::Held
        );
        assert_eq!(r.len(), 2);
        // Next Header from non-first fragments is not used (RFC 8200 4.5).
        let mut other_nh = frag(0, true, 7);
        other_nh.next_header = 17;
        let mut last = frag(48, false, 7);
        last.next_header = 6;
        let mut r2 = table();
        assert_eq!(r2.add(T, a(1), a(2), &last, &p[48..]), Outcome::Held);
        assert_eq!(
            r2.add(T, a(1), a(2), &other_nh, &p[..48]),
            Outcome::Complete {
                next_header: NextHeader::Udp,
                payload: p.clone()
            }
        );
        assert_eq!(
            r.add(T, a(1), a(2), &frag(0, true, 7), &p[..48]),
            Outcome::Complete {
                next_header: NextHeader::Udp,
                payload: p
            }
        );
    }

    #[test]
    fn overlap_rejected() {
        let p = udp(64);
        let mut r = table();
        assert_eq!(
            r.add(T, a(1), a(2), &frag(0, true, 1), &p[..32]),
            Outcome::Held
        );
        assert_eq!(
            r.add(T, a(1), a(2), &frag(24, true, 1), &[0xaa; 16]),
            Outcome::Dropped(DropReason::FragmentOverlap)
        );
        assert!(r.is_empty(), "RFC 5722: whole datagram discarded");
        // A first fragment whose Next Header differs from the one held is an overlap too.
        let mut r = table();
        r.add(T, a(1), a(2), &frag(0, true, 1), &p[..32]);
        let mut tcp = frag(0, true, 1);
        tcp.next_header = 6;
        assert_eq!(
            r.add(T, a(1), a(2), &tcp, &[0; 32]),
            Outcome::Dropped(DropReason::FragmentOverlap)
        );
    }

    #[test]
    fn timeout_60s() {
        let p = udp(64);
        let mut r = table();
        r.add(T, a(1), a(2), &frag(0, true, 1), &p[..32]);
        assert_eq!(r.poll_at(), Some(T + Duration::from_secs(60)));
        assert_eq!(r.expire(T + Duration::from_secs(59)), 0);
        assert_eq!(r.expire(T + Duration::from_secs(60)), 1);
        assert_eq!(
            r.add(T, a(1), a(2), &frag(32, false, 1), &p[32..]),
            Outcome::Held
        );
    }

    #[test]
    fn first_fragment_needs_the_chain() {
        let mut r = table();
        // 4 bytes of a UDP header.
        assert_eq!(
            r.add(T, a(1), a(2), &frag(0, true, 1), &[0; 4]),
            Outcome::IncompleteChain
        );
        // A Destination Options header of 16 bytes cut at 8 (a fragment of 8 bytes).
        let mut f = frag(0, true, 1);
        f.next_header = 60;
        assert_eq!(
            r.add(T, a(1), a(2), &f, &[17, 1, 1, 4, 0, 0, 0, 0]),
            Outcome::IncompleteChain
        );
        // The whole chain, then TCP cut short.
        let mut chain = vec![6, 0, 1, 4, 0, 0, 0, 0];
        chain.extend_from_slice(&[0; 8]);
        assert_eq!(r.add(T, a(1), a(2), &f, &chain), Outcome::IncompleteChain);
        chain.extend_from_slice(&[0; 16]);
        assert_eq!(r.add(T, a(1), a(2), &f, &chain), Outcome::Held);
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn limits_still_apply() {
        let mut r = table();
        assert_eq!(
            r.add(T, a(1), a(2), &frag(65_528, false, 1), &[0; 8]),
            Outcome::Dropped(DropReason::FragmentTooBig)
        );
        assert_eq!(
            r.add(T, a(1), a(2), &frag(8, true, 1), &[0; 5]),
            Outcome::Dropped(DropReason::FragmentInvalid)
        );
    }
}
