//! IPv6 extension headers (RFC 8200 4): walking the header chain, Hop-by-Hop and Destination
//! options (RFC 8200 4.2), the Routing header (RFC 8200 4.4) and the Fragment header
//! (RFC 8200 4.5, atomic fragments per RFC 6946).
//!
//! [`walk`] returns a [`Verdict`] the interface acts on: go on with the upper layer, discard
//! silently, or discard and answer with an ICMPv6 Parameter Problem. The walk is bounded in the
//! number of headers and in their total size ([`Limits`]), since a long chain is a cheap way to
//! hide the upper-layer header from filters and to burn our time.

use super::icmp::ParamProblemCode;
use super::{NextHeader, HEADER_LEN};

/// How far [`walk`] goes before giving up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Extension headers in one chain.
    pub max_headers: usize,
    /// Bytes of extension headers in one chain.
    pub max_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_headers: 8,
            max_bytes: 512,
        }
    }
}

/// Why a packet is discarded silently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Discard {
    /// An extension header runs past the end of the packet.
    Truncated,
    /// More headers or header bytes than [`Limits`] allow.
    ChainTooLong,
    /// An option runs past the end of its header.
    BadOptionLength,
    /// An unknown option whose action bits are `01` (RFC 8200 4.2), or `11` with a multicast
    /// destination.
    UnknownOption,
}

/// A parsed Fragment header (RFC 8200 4.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fragment {
    /// The header that starts the fragmentable part.
    pub next_header: u8,
    /// Offset of this fragment's data in bytes (a multiple of 8).
    pub offset: usize,
    /// M flag: more fragments follow.
    pub more: bool,
    /// Identification.
    pub ident: u32,
}

/// Length of a Fragment header.
pub const FRAGMENT_LEN: usize = 8;

impl Fragment {
    /// Parses the 8-byte Fragment header at the start of `buf`.
    ///
    /// # Errors
    /// [`Discard::Truncated`] when fewer than 8 bytes are given.
    pub fn parse(buf: &[u8]) -> Result<Fragment, Discard> {
        let Some(h) = buf.get(..FRAGMENT_LEN) else {
            return Err(Discard::Truncated);
        };
        let off = u16::from_be_bytes([h[2], h[3]]);
        Ok(Fragment {
            next_header: h[0],
            offset: usize::from(off >> 3) * 8,
            more: off & 1 != 0,
            ident: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
        })
    }

    /// RFC 6946: offset 0 and M clear is a whole packet that merely carries a Fragment header.
    pub fn is_atomic(&self) -> bool {
        self.offset == 0 && !self.more
    }

    /// Appends this header (reserved bits zero).
    pub fn write(&self, out: &mut Vec<u8>) {
        let off = (u16::try_from(self.offset / 8).unwrap_or(0) << 3) | u16::from(self.more);
        out.push(self.next_header);
        out.push(0);
        out.extend_from_slice(&off.to_be_bytes());
        out.extend_from_slice(&self.ident.to_be_bytes());
    }
}

/// What to do with a packet after its extension headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Go on: `next_header` starts at byte `offset` of the walked slice. `fragment` is set when
    /// a (non-atomic) Fragment header was met: then `offset` is where the fragment data starts
    /// and `next_header` is the one from the Fragment header, to be walked after reassembly.
    Continue {
        /// The upper-layer protocol (or the fragmentable part's first header).
        next_header: NextHeader,
        /// Where it starts.
        offset: usize,
        /// The Fragment header, if the packet is a fragment.
        fragment: Option<Fragment>,
    },
    /// Drop silently.
    Discard(Discard),
    /// Drop and send an ICMPv6 Parameter Problem (RFC 4443 3.4).
    ParameterProblem {
        /// The problem.
        code: ParamProblemCode,
        /// Offset of the offending byte from the start of the IPv6 header.
        pointer: u32,
    },
}

/// Whether the destination is a multicast group, which changes the `11` option action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Destination {
    /// A unicast (or anycast) destination.
    Unicast,
    /// A multicast destination.
    Multicast,
}

/// Where the walked slice starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Position {
    /// Right after the fixed IPv6 header: a Hop-by-Hop header may come first.
    AfterFixedHeader,
    /// Elsewhere (e.g. the fragmentable part of a reassembled packet) at this many bytes from
    /// the start of the IPv6 header, for Parameter Problem pointers; no Hop-by-Hop header allowed.
    At(usize),
}

/// Walks the extension headers of `payload`, which starts with header `first`.
///
/// Stops at the first header that is not an extension header (the upper layer, No Next Header or
/// anything unknown, left to the caller, which answers unknown ones with Parameter Problem code 1
/// per RFC 8200 4), or at a non-atomic Fragment header.
pub fn walk(
    payload: &[u8],
    first: NextHeader,
    destination: Destination,
    position: Position,
    limits: Limits,
) -> Verdict {
    let base = match position {
        Position::AfterFixedHeader => HEADER_LEN,
        Position::At(b) => b,
    };
    let mut next = first;
    let mut offset = 0usize;
    // Where the byte naming `next` sits, for pointers at an unexpected Next Header.
    let mut next_field = match position {
        Position::AfterFixedHeader => 6,
        Position::At(b) => b,
    };
    let mut count = 0usize;
    loop {
        let ext = matches!(
            next,
            NextHeader::HopByHop
                | NextHeader::Routing
                | NextHeader::Fragment
                | NextHeader::DestinationOptions
        );
        if !ext {
            return Verdict::Continue {
                next_header: next,
                offset,
                fragment: None,
            };
        }
        // RFC 8200 4.1: Hop-by-Hop only immediately after the IPv6 header.
        if next == NextHeader::HopByHop && (count > 0 || position != Position::AfterFixedHeader) {
            return Verdict::ParameterProblem {
                code: ParamProblemCode::UnrecognizedNextHeader,
                pointer: pointer(next_field),
            };
        }
        count += 1;
        if count > limits.max_headers {
            return Verdict::Discard(Discard::ChainTooLong);
        }
        let Some(rest) = payload.get(offset..) else {
            return Verdict::Discard(Discard::Truncated);
        };
        let (Some(&nh), Some(&len_units)) = (rest.first(), rest.get(1)) else {
            return Verdict::Discard(Discard::Truncated);
        };
        let len = if next == NextHeader::Fragment {
            FRAGMENT_LEN
        } else {
            (usize::from(len_units) + 1) * 8
        };
        if offset + len > limits.max_bytes {
            return Verdict::Discard(Discard::ChainTooLong);
        }
        let Some(header) = rest.get(..len) else {
            return Verdict::Discard(Discard::Truncated);
        };
        let here = base + offset;
        match next {
            NextHeader::HopByHop | NextHeader::DestinationOptions => {
                if let Some(v) = options(header, here, destination) {
                    return v;
                }
            }
            NextHeader::Routing => {
                let (Some(&kind), Some(&segments_left)) = (header.get(2), header.get(3)) else {
                    return Verdict::Discard(Discard::Truncated);
                };
                // RFC 8200 4.4: we know no routing type (type 0 is deprecated, RFC 5095). With
                // segments left 0 the header is ignored; otherwise Parameter Problem code 0
                // pointing at the Routing Type field.
                let _ = kind;
                if segments_left > 0 {
                    return Verdict::ParameterProblem {
                        code: ParamProblemCode::ErroneousHeader,
                        pointer: pointer(here + 2),
                    };
                }
            }
            NextHeader::Fragment => {
                let f = match Fragment::parse(header) {
                    Ok(f) => f,
                    Err(d) => return Verdict::Discard(d),
                };
                if !f.is_atomic() {
                    return Verdict::Continue {
                        next_header: NextHeader::from(f.next_header),
                        offset: offset + FRAGMENT_LEN,
                        fragment: Some(f),
                    };
                }
            }
            _ => {}
        }
        next_field = here;
        next = NextHeader::from(nh);
        offset += len;
    }
}

fn pointer(at: usize) -> u32 {
    u32::try_from(at).unwrap_or(u32::MAX)
}

/// Checks the options of a Hop-by-Hop or Destination Options header starting at byte `at` of the
/// packet; `None` when processing goes on.
fn options(header: &[u8], at: usize, destination: Destination) -> Option<Verdict> {
    let mut i = 2usize;
    while let Some(&kind) = header.get(i) {
        if kind == 0 {
            // Pad1.
            i += 1;
            continue;
        }
        let Some(&len) = header.get(i + 1) else {
            return Some(Verdict::Discard(Discard::BadOptionLength));
        };
        let end = i + 2 + usize::from(len);
        if end > header.len() {
            return Some(Verdict::Discard(Discard::BadOptionLength));
        }
        // Known: PadN (1) and Router Alert (5, RFC 2711, for MLD).
        if kind != 1 && kind != 5 {
            // RFC 8200 4.2: the two high-order bits of an unknown option's type.
            let problem = Verdict::ParameterProblem {
                code: ParamProblemCode::UnrecognizedOption,
                pointer: pointer(at + i),
            };
            match kind >> 6 {
                0 => {}
                1 => return Some(Verdict::Discard(Discard::UnknownOption)),
                2 => return Some(problem),
                _ => {
                    return Some(match destination {
                        Destination::Unicast => problem,
                        Destination::Multicast => Verdict::Discard(Discard::UnknownOption),
                    })
                }
            }
        }
        i = end;
    }
    None
}

/// True when `data`, starting with header `first`, holds its whole header chain up to and
/// including the upper-layer header's fixed part (RFC 7112 5: the first fragment must).
pub fn chain_complete(data: &[u8], first: NextHeader, limits: Limits) -> bool {
    let mut next = first;
    let mut offset = 0usize;
    for _ in 0..=limits.max_headers {
        let len = match next {
            NextHeader::HopByHop | NextHeader::Routing | NextHeader::DestinationOptions => {
                match data.get(offset + 1) {
                    Some(&l) => (usize::from(l) + 1) * 8,
                    None => return false,
                }
            }
            // A second Fragment header inside the fragmentable part is itself complete.
            NextHeader::Fragment => FRAGMENT_LEN,
            NextHeader::Tcp => return data.len() >= offset + 20,
            NextHeader::Udp | NextHeader::Icmp => return data.len() >= offset + 8,
            NextHeader::NoNext | NextHeader::Unknown(_) => return data.len() >= offset,
        };
        if data.len() < offset + len {
            return false;
        }
        let Some(&nh) = data.get(offset) else {
            return false;
        };
        next = NextHeader::from(nh);
        offset += len;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNI: Destination = Destination::Unicast;
    const AFTER: Position = Position::AfterFixedHeader;

    fn go(p: &[u8], first: NextHeader) -> Verdict {
        walk(p, first, UNI, AFTER, Limits::default())
    }

    /// Hop-by-Hop with Router Alert (as Linux sends on MLD reports) then ICMPv6.
    const HBH_RA: [u8; 8] = [58, 0, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00];

    #[test]
    fn no_extension_headers() {
        assert_eq!(
            go(&[0; 8], NextHeader::Udp),
            Verdict::Continue {
                next_header: NextHeader::Udp,
                offset: 0,
                fragment: None
            }
        );
    }

    #[test]
    fn valid_chain() {
        // HbH(Router Alert) -> DestOpt(Pad1 x2, PadN 4) -> Routing(type 0, segments left 0)
        // -> DestOpt(PadN 4) -> TCP.
        let mut p = HBH_RA.to_vec();
        p[0] = 60;
        p.extend_from_slice(&[43, 0, 0, 0, 1, 2, 0, 0]);
        p.extend_from_slice(&[60, 0, 0, 0, 0, 0, 0, 0]);
        p.extend_from_slice(&[6, 0, 1, 4, 0, 0, 0, 0]);
        p.extend_from_slice(&[0; 20]);
        assert_eq!(
            go(&p, NextHeader::HopByHop),
            Verdict::Continue {
                next_header: NextHeader::Tcp,
                offset: 32,
                fragment: None
            }
        );
        assert!(chain_complete(&p, NextHeader::HopByHop, Limits::default()));
        assert!(!chain_complete(
            &p[..40],
            NextHeader::HopByHop,
            Limits::default()
        ));
    }

    #[test]
    fn hop_by_hop_only_first() {
        let mut p = vec![0, 0, 1, 4, 0, 0, 0, 0]; // DestOpt naming HbH next
        p.extend_from_slice(&HBH_RA);
        assert_eq!(
            go(&p, NextHeader::DestinationOptions),
            Verdict::ParameterProblem {
                code: ParamProblemCode::UnrecognizedNextHeader,
                pointer: 40
            }
        );
        assert_eq!(
            walk(
                &HBH_RA,
                NextHeader::HopByHop,
                UNI,
                Position::At(48),
                Limits::default()
            ),
            Verdict::ParameterProblem {
                code: ParamProblemCode::UnrecognizedNextHeader,
                pointer: 48
            }
        );
    }

    #[test]
    fn too_long_and_truncated() {
        // Ten empty Destination Options headers.
        let mut p = Vec::new();
        for _ in 0..10 {
            p.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]);
        }
        assert_eq!(
            go(&p, NextHeader::DestinationOptions),
            Verdict::Discard(Discard::ChainTooLong)
        );
        // One header claiming 2 kB.
        let mut big = vec![59, 255, 1, 0];
        big.resize(2048, 0);
        assert_eq!(
            go(&big, NextHeader::DestinationOptions),
            Verdict::Discard(Discard::ChainTooLong)
        );
        assert_eq!(
            go(&p[..12], NextHeader::DestinationOptions),
            Verdict::Discard(Discard::Truncated)
        );
        assert_eq!(
            go(&[], NextHeader::Routing),
            Verdict::Discard(Discard::Truncated)
        );
    }

    fn with_option(kind: u8) -> [u8; 8] {
        [59, 0, 1, 0, kind, 2, 0xab, 0xcd]
    }

    #[test]
    fn unknown_option_actions() {
        let cont = Verdict::Continue {
            next_header: NextHeader::NoNext,
            offset: 8,
            fragment: None,
        };
        let problem = Verdict::ParameterProblem {
            code: ParamProblemCode::UnrecognizedOption,
            pointer: 44,
        };
        let dest = NextHeader::DestinationOptions;
        let mc = |p: &[u8]| walk(p, dest, Destination::Multicast, AFTER, Limits::default());
        // 00: skip.
        assert_eq!(go(&with_option(0x1e), dest), cont);
        assert_eq!(mc(&with_option(0x1e)), cont);
        // 01: discard.
        assert_eq!(
            go(&with_option(0x5e), dest),
            Verdict::Discard(Discard::UnknownOption)
        );
        // 10: parameter problem, even to multicast.
        assert_eq!(go(&with_option(0x9e), dest), problem);
        assert_eq!(mc(&with_option(0x9e)), problem);
        // 11: parameter problem unless multicast.
        assert_eq!(go(&with_option(0xde), dest), problem);
        assert_eq!(
            mc(&with_option(0xde)),
            Verdict::Discard(Discard::UnknownOption)
        );
        // In a Hop-by-Hop header too.
        assert_eq!(go(&with_option(0x9e), NextHeader::HopByHop), problem);
        // An option longer than its header.
        assert_eq!(
            go(&[59, 0, 1, 5, 0, 0, 0, 0], dest),
            Verdict::Discard(Discard::BadOptionLength)
        );
        assert_eq!(
            go(&[59, 0, 0, 0, 0, 0, 0, 1], dest),
            Verdict::Discard(Discard::BadOptionLength)
        );
    }

    #[test]
    fn routing_header() {
        let ignored = [6, 0, 0, 0, 0, 0, 0, 0];
        assert!(matches!(
            go(&ignored, NextHeader::Routing),
            Verdict::Continue {
                next_header: NextHeader::Tcp,
                offset: 8,
                ..
            }
        ));
        for kind in [0u8, 2, 4, 253] {
            let live = [6, 0, kind, 1, 0, 0, 0, 0];
            assert_eq!(
                go(&live, NextHeader::Routing),
                Verdict::ParameterProblem {
                    code: ParamProblemCode::ErroneousHeader,
                    pointer: 42
                },
                "type {kind}"
            );
        }
    }

    #[test]
    fn fragment_header() {
        let f = Fragment {
            next_header: 17,
            offset: 1448,
            more: true,
            ident: 0xdead_beef,
        };
        let mut p = Vec::new();
        f.write(&mut p);
        assert_eq!(p, [17, 0, 0x05, 0xa9, 0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(Fragment::parse(&p), Ok(f));
        assert_eq!(Fragment::parse(&p[..7]), Err(Discard::Truncated));
        p.extend_from_slice(&[0; 16]);
        assert_eq!(
            go(&p, NextHeader::Fragment),
            Verdict::Continue {
                next_header: NextHeader::Udp,
                offset: 8,
                fragment: Some(f)
            }
        );
        // Atomic fragment: treated as a whole packet (RFC 6946).
        let atomic = [17, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            go(&atomic, NextHeader::Fragment),
            Verdict::Continue {
                next_header: NextHeader::Udp,
                offset: 8,
                fragment: None
            }
        );
    }
}
