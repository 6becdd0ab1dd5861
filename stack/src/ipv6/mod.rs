//! IPv6 (RFC 8200): header checks, the upper-layer pseudo-header (RFC 8200 8.1) and the
//! address helpers a host on Ethernet needs (RFC 4291: modified EUI-64 interface identifiers,
//! solicited-node multicast; RFC 2464 7: multicast MAC addresses).
//!
//! The pieces around it: extension headers in [`ext`], fragment reassembly in [`crate::reassembly`],
//! ICMPv6 (RFC 4443) in [`icmp`] and Neighbor Discovery (RFC 4861) in [`ndp`]. All of them are
//! pure functions over byte slices.

pub mod ext;
pub mod icmp;
pub mod ndp;
pub mod neighbor;

use core::net::Ipv6Addr;

use etherparse::{IpNumber, Ipv6FlowLabel, Ipv6Header};

use crate::ethernet::MacAddr;

/// Length of the fixed IPv6 header.
pub const HEADER_LEN: usize = 40;

/// The minimum link MTU every IPv6 link supports (RFC 8200 5).
pub const MIN_MTU: usize = 1280;

/// Next Header values we act on (IANA "Assigned Internet Protocol Numbers").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NextHeader {
    /// Hop-by-Hop Options header (RFC 8200 4.3).
    HopByHop,
    /// TCP (RFC 9293).
    Tcp,
    /// UDP (RFC 768).
    Udp,
    /// Routing header (RFC 8200 4.4).
    Routing,
    /// Fragment header (RFC 8200 4.5).
    Fragment,
    /// ICMPv6 (RFC 4443).
    Icmp,
    /// No Next Header (RFC 8200 4.7).
    NoNext,
    /// Destination Options header (RFC 8200 4.6).
    DestinationOptions,
    /// Anything else.
    Unknown(u8),
}

impl From<u8> for NextHeader {
    fn from(n: u8) -> Self {
        match n {
            0 => NextHeader::HopByHop,
            6 => NextHeader::Tcp,
            17 => NextHeader::Udp,
            43 => NextHeader::Routing,
            44 => NextHeader::Fragment,
            58 => NextHeader::Icmp,
            59 => NextHeader::NoNext,
            60 => NextHeader::DestinationOptions,
            other => NextHeader::Unknown(other),
        }
    }
}

impl From<NextHeader> for u8 {
    fn from(n: NextHeader) -> u8 {
        match n {
            NextHeader::HopByHop => 0,
            NextHeader::Tcp => 6,
            NextHeader::Udp => 17,
            NextHeader::Routing => 43,
            NextHeader::Fragment => 44,
            NextHeader::Icmp => 58,
            NextHeader::NoNext => 59,
            NextHeader::DestinationOptions => 60,
            NextHeader::Unknown(n) => n,
        }
    }
}

/// The fields of a received IPv6 header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repr {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// The header after the fixed one (an extension header or the upper layer).
    pub next_header: NextHeader,
    /// Hop limit. A host does not decrement it; NDP requires 255 (RFC 4861 6.1, 7.1).
    pub hop_limit: u8,
    /// Traffic class.
    pub traffic_class: u8,
    /// Flow label (20 bits).
    pub flow_label: u32,
    /// Payload length (extension headers included).
    pub payload_len: usize,
}

/// Why an IPv6 header was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Shorter than 40 bytes or than the payload length says.
    Truncated,
    /// Version is not 6.
    BadVersion,
    /// Payload length 0 with a Hop-by-Hop header: a jumbogram (RFC 2675), which we do not take.
    Jumbogram,
    /// Multicast source address (RFC 4291 2.7: never a source).
    MulticastSource,
}

/// Parses and checks an IPv6 packet (RFC 8200 3); returns the header and the payload, with any
/// link-layer padding after the payload length cut off.
///
/// A hop limit of 0 is accepted: only forwarding decrements and checks it (RFC 8200 3), and
/// protocols with stricter needs (NDP) check [`Repr::hop_limit`] themselves.
///
/// # Errors
/// [`ParseError`] for packets to be discarded silently.
pub fn parse(buf: &[u8]) -> Result<(Repr, &[u8]), ParseError> {
    let Some(fixed) = buf.get(..HEADER_LEN) else {
        return Err(ParseError::Truncated);
    };
    if fixed.first().map(|b| b >> 4) != Some(6) {
        return Err(ParseError::BadVersion);
    }
    let (header, _) = Ipv6Header::from_slice(fixed).map_err(|_| ParseError::BadVersion)?;
    let payload_len = usize::from(header.payload_length);
    if payload_len == 0 && header.next_header == IpNumber::IPV6_HEADER_HOP_BY_HOP {
        return Err(ParseError::Jumbogram);
    }
    let payload = buf
        .get(HEADER_LEN..HEADER_LEN + payload_len)
        .ok_or(ParseError::Truncated)?;
    let src = Ipv6Addr::from(header.source);
    if src.is_multicast() {
        return Err(ParseError::MulticastSource);
    }
    Ok((
        Repr {
            src,
            dst: Ipv6Addr::from(header.destination),
            next_header: NextHeader::from(header.next_header.0),
            hop_limit: header.hop_limit,
            traffic_class: header.traffic_class,
            flow_label: header.flow_label.value(),
            payload_len,
        },
        payload,
    ))
}

/// The fields of an IPv6 header we emit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmitRepr {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// Next header.
    pub next_header: NextHeader,
    /// Hop limit.
    pub hop_limit: u8,
}

/// Appends a 40-byte header for a payload of `payload_len` bytes (extension headers included;
/// clamped to 65535, since we send no jumbograms).
pub fn write_header(out: &mut Vec<u8>, repr: &EmitRepr, payload_len: usize) {
    let h = Ipv6Header {
        traffic_class: 0,
        flow_label: Ipv6FlowLabel::ZERO,
        payload_length: u16::try_from(payload_len).unwrap_or(u16::MAX),
        next_header: IpNumber(u8::from(repr.next_header)),
        hop_limit: repr.hop_limit,
        source: repr.src.octets(),
        destination: repr.dst.octets(),
    };
    out.extend_from_slice(&h.to_bytes());
}

/// The upper-layer checksum of `data` (checksum field included) under the pseudo-header, in
/// native byte order as [`crate::checksum::finish`] gives it. Zero when `data` carries a
/// correct checksum.
pub fn upper_layer_checksum(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, data: &[u8]) -> u16 {
    crate::checksum::upper_layer(src.into(), dst.into(), next_header, data)
}

/// The modified EUI-64 interface identifier of a MAC (RFC 4291 appendix A): `ff:fe` in the
/// middle and the universal/local bit inverted.
pub fn interface_id(mac: MacAddr) -> [u8; 8] {
    let m = mac.0;
    [m[0] ^ 0x02, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]]
}

/// The link-local address `fe80::/64` plus the modified EUI-64 identifier of `mac`
/// (RFC 4862 5.3, RFC 4291 2.5.6).
pub fn link_local_from_mac(mac: MacAddr) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a[0] = 0xfe;
    a[1] = 0x80;
    a[8..].copy_from_slice(&interface_id(mac));
    Ipv6Addr::from(a)
}

/// The solicited-node multicast address `ff02::1:ffXX:XXXX` of `addr` (RFC 4291 2.7.1).
pub fn solicited_node(addr: Ipv6Addr) -> Ipv6Addr {
    let o = addr.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, o[13], o[14], o[15],
    ])
}

/// The Ethernet address of an IPv6 multicast group: `33:33` and its low 32 bits (RFC 2464 7).
pub fn multicast_mac(group: Ipv6Addr) -> MacAddr {
    let o = group.octets();
    MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
}

/// True for link-local unicast addresses (`fe80::/10`, RFC 4291 2.5.6).
pub fn is_link_local(addr: Ipv6Addr) -> bool {
    addr.segments()[0] & 0xffc0 == 0xfe80
}

/// True for solicited-node multicast addresses (`ff02::1:ff00:0/104`).
pub fn is_solicited_node(addr: Ipv6Addr) -> bool {
    let o = addr.octets();
    o[..13] == [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff]
}

/// The fragments a payload of `len` bytes is cut into when it does not fit a link with MTU
/// `mtu` (RFC 8200 4.5): `(offset, length, more_fragments)`, each piece but the last a
/// multiple of 8 bytes, with room for the Fragment header.
pub fn fragments(len: usize, mtu: usize) -> impl Iterator<Item = (usize, usize, bool)> {
    let chunk = mtu.saturating_sub(HEADER_LEN + ext::FRAGMENT_LEN) & !7;
    let count = if chunk == 0 { 0 } else { len.div_ceil(chunk) };
    (0..count).map(move |i| {
        let offset = i * chunk;
        let end = (offset + chunk).min(len);
        (offset, end - offset, end < len)
    })
}

/// What an ICMPv6 error needs from the packet it quotes: the fixed header's addresses and Next
/// Header. The quote may be cut short; nothing else is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quoted {
    /// Source address of the quoted packet.
    pub src: Ipv6Addr,
    /// Destination address of the quoted packet.
    pub dst: Ipv6Addr,
    /// The Next Header of its fixed header.
    pub next_header: u8,
}

/// Reads the fixed header of a quoted packet; `None` when it is shorter than 40 bytes.
pub fn quoted(original: &[u8]) -> Option<Quoted> {
    let hdr = original.get(..HEADER_LEN)?;
    let mut a = [0u8; 16];
    a.copy_from_slice(hdr.get(8..24)?);
    let src = Ipv6Addr::from(a);
    a.copy_from_slice(hdr.get(24..40)?);
    Some(Quoted {
        src,
        dst: Ipv6Addr::from(a),
        next_header: hdr[6],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ICMPv6 echo request fe80::1 -> fe80::2, hop limit 64, 8-byte payload (hand-built from
    /// RFC 8200 3 and RFC 4443 4.1; checksum computed by hand, see `echo_checksum_by_hand`).
    const PACKET: [u8; 48] = [
        0x60, 0x00, 0x00, 0x00, 0x00, 0x08, 0x3a, 0x40, // version, len 8, ICMPv6, hop 64
        0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, // src fe80::1
        0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, // dst fe80::2
        0x80, 0x00, 0x70, 0x83, 0x12, 0x34, 0x00, 0x01, // echo request id 0x1234 seq 1
    ];

    fn ll(n: u16) -> Ipv6Addr {
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, n)
    }

    #[test]
    fn parse_valid() {
        let (r, payload) = parse(&PACKET).unwrap();
        assert_eq!((r.src, r.dst), (ll(1), ll(2)));
        assert_eq!(r.next_header, NextHeader::Icmp);
        assert_eq!((r.hop_limit, r.payload_len), (64, 8));
        assert_eq!(payload, &PACKET[40..]);
        let mut padded = PACKET.to_vec();
        padded.extend_from_slice(&[0xee; 12]);
        assert_eq!(parse(&padded).unwrap().1.len(), 8, "padding is cut off");
    }

    #[test]
    fn parse_rejects() {
        for n in 0..PACKET.len() {
            assert_eq!(parse(&PACKET[..n]).err(), Some(ParseError::Truncated));
        }
        let mut v4 = PACKET;
        v4[0] = 0x45;
        assert_eq!(parse(&v4).err(), Some(ParseError::BadVersion));
        let mut long = PACKET;
        long[5] = 9;
        assert_eq!(parse(&long).err(), Some(ParseError::Truncated));
        let mut jumbo = PACKET;
        jumbo[4..7].copy_from_slice(&[0, 0, 0]);
        assert_eq!(parse(&jumbo).err(), Some(ParseError::Jumbogram));
        let mut mcast = PACKET;
        mcast[8] = 0xff;
        assert_eq!(parse(&mcast).err(), Some(ParseError::MulticastSource));
    }

    #[test]
    fn echo_checksum_by_hand() {
        // Pseudo-header words: fe80 + 1 + fe80 + 2 + 8 + 58; message: 8000 + 1234 + 1.
        let words: u32 = 0xfe80 + 1 + 0xfe80 + 2 + 8 + 58 + 0x8000 + 0x1234 + 1;
        let folded = (words & 0xffff) + (words >> 16);
        assert_eq!(!(folded as u16), 0x7083);
        assert_eq!(upper_layer_checksum(ll(1), ll(2), 58, &PACKET[40..]), 0);
        let mut bad = PACKET;
        bad[47] = 2;
        assert_ne!(upper_layer_checksum(ll(1), ll(2), 58, &bad[40..]), 0);
    }

    #[test]
    fn emitted_header_parses_back() {
        let repr = EmitRepr {
            src: ll(1),
            dst: ll(2),
            next_header: NextHeader::Icmp,
            hop_limit: 64,
        };
        let mut buf = Vec::new();
        write_header(&mut buf, &repr, 8);
        assert_eq!(buf, PACKET[..40]);
        buf.extend_from_slice(&PACKET[40..]);
        assert_eq!(parse(&buf).unwrap().0.next_header, NextHeader::Icmp);
    }

    #[test]
    fn addresses() {
        // RFC 4291 appendix A example style: 34:56:78:9a:bc:de -> 3656:78ff:fe9a:bcde.
        let mac = MacAddr([0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde]);
        let a = link_local_from_mac(mac);
        assert_eq!(a, "fe80::3656:78ff:fe9a:bcde".parse::<Ipv6Addr>().unwrap());
        assert!(is_link_local(a));
        let local = MacAddr([0x02, 0, 0, 0, 0, 1]);
        assert_eq!(
            link_local_from_mac(local),
            "fe80::ff:fe00:1".parse::<Ipv6Addr>().unwrap()
        );
        let g = solicited_node("2001:db8::1:2:3456:789a".parse().unwrap());
        assert_eq!(g, "ff02::1:ff56:789a".parse::<Ipv6Addr>().unwrap());
        assert!(is_solicited_node(g));
        assert!(!is_solicited_node("ff02::1".parse().unwrap()));
        assert_eq!(
            multicast_mac(g),
            MacAddr([0x33, 0x33, 0xff, 0x56, 0x78, 0x9a])
        );
        assert_eq!(
            multicast_mac("ff02::1".parse().unwrap()),
            MacAddr([0x33, 0x33, 0, 0, 0, 1])
        );
    }

    #[test]
    fn quoted_header_of_a_cut_quote() {
        let q = quoted(&PACKET[..HEADER_LEN]).expect("a quoted header");
        assert_eq!((q.src, q.dst, q.next_header), (ll(1), ll(2), 58));
        assert_eq!(quoted(&PACKET[..HEADER_LEN - 1]), None);
    }

    #[test]
    fn fragment_plan() {
        // 1280 - 40 - 8 = 1232 bytes of data a fragment, a multiple of 8.
        let plan: Vec<_> = fragments(3000, 1280).collect();
        assert_eq!(
            plan,
            [(0, 1232, true), (1232, 1232, true), (2464, 536, false)]
        );
        assert_eq!(fragments(3000, 40).count(), 0);
    }

    #[test]
    fn next_header_round_trip() {
        for n in 0..=255u8 {
            assert_eq!(u8::from(NextHeader::from(n)), n);
        }
    }

    /// Random mutations of valid packets through every IPv6 parser: nothing may panic.
    #[test]
    fn mutations_never_panic() {
        use super::{ext, icmp, ndp};
        use crate::reassembly::ipv6 as reassembly;
        let mac = MacAddr([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        let (src, dst) = (ll(1), solicited_node(ll(2)));
        let mut seeds: Vec<Vec<u8>> = vec![PACKET.to_vec()];
        let mut ns = Vec::new();
        ndp::emit(
            &mut ns,
            src,
            dst,
            &ndp::Repr::NeighborSolicit {
                target: ll(2),
                source_ll: Some(mac),
            },
        );
        let mut ra = Vec::new();
        let prefix = ndp::PrefixInfo {
            prefix_len: 64,
            on_link: true,
            autonomous: true,
            valid_lifetime: 1,
            preferred_lifetime: 1,
            prefix: ll(0),
        };
        ndp::emit(
            &mut ra,
            src,
            dst,
            &ndp::Repr::RouterAdvert {
                cur_hop_limit: 64,
                managed: true,
                other: true,
                router_lifetime: 1,
                reachable_time: 1,
                retrans_timer: 1,
                source_ll: Some(mac),
                mtu: Some(1500),
                prefixes: &[prefix],
            },
        );
        for body in [ns, ra] {
            let mut p = Vec::new();
            let repr = EmitRepr {
                src,
                dst,
                next_header: NextHeader::Icmp,
                hop_limit: 255,
            };
            write_header(&mut p, &repr, body.len());
            p.extend_from_slice(&body);
            seeds.push(p);
        }
        // HbH (router alert) -> Fragment -> UDP.
        let mut chain = PACKET[..40].to_vec();
        chain[6] = 0;
        chain.extend_from_slice(&[44, 0, 5, 2, 0, 0, 1, 0]);
        chain.extend_from_slice(&[17, 0, 0, 1, 0, 0, 0, 9]);
        chain.extend_from_slice(&[0; 16]);
        chain[5] = 32;
        seeds.push(chain);

        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut table = reassembly::Reassembler::new(
            reassembly::Bounds {
                datagrams: 8,
                bytes: 64 * 1024,
                max_payload: 65_527,
                max_fragments: 16,
                timeout: reassembly::TIMEOUT,
            },
            ext::Limits::default(),
        );
        let mut parsed = 0usize;
        for i in 0..5000u64 {
            let Some(seed) = seeds.get((rnd() % seeds.len() as u64) as usize) else {
                continue;
            };
            let mut p = seed.clone();
            for _ in 0..=(rnd() % 4) {
                let r = rnd();
                let at = (r >> 8) as usize % p.len().max(1);
                match r % 4 {
                    0 => {
                        if let Some(b) = p.get_mut(at) {
                            *b = (r >> 32) as u8;
                        }
                    }
                    1 => p.truncate(at),
                    2 => p.insert(at.min(p.len()), (r >> 40) as u8),
                    _ => {
                        if let Some(b) = p.get_mut(at) {
                            *b ^= 1 << ((r >> 50) % 8);
                        }
                    }
                }
            }
            let _ = icmp::error_allowed(
                icmp::Error::TimeExceeded(0),
                &p,
                icmp::LinkDestination::Unicast,
            );
            let body = p.get(HEADER_LEN..).unwrap_or(&[]);
            let _ = icmp::parse(src, dst, body);
            let info = ndp::IpInfo {
                src,
                dst,
                hop_limit: 255,
            };
            if let Ok(ndp::Message::RouterAdvert { options, .. }) = ndp::parse(&info, body) {
                let _ = options.iter().count();
            }
            let _ = ext::Fragment::parse(body);
            let _ = ext::chain_complete(
                body,
                NextHeader::from(p.get(6).copied().unwrap_or(0)),
                ext::Limits::default(),
            );
            let Ok((ip, payload)) = parse(&p) else {
                continue;
            };
            parsed += 1;
            let now = crate::time::Instant::from_secs(i);
            for destination in [ext::Destination::Unicast, ext::Destination::Multicast] {
                let v = ext::walk(
                    payload,
                    ip.next_header,
                    destination,
                    ext::Position::AfterFixedHeader,
                    ext::Limits::default(),
                );
                if let ext::Verdict::Continue {
                    offset,
                    fragment: Some(f),
                    ..
                } = v
                {
                    let data = payload.get(offset..).unwrap_or(&[]);
                    let _ = table.add(now, ip.src, ip.dst, &f, data);
                }
            }
        }
        assert!(parsed > 500, "mutations too destructive: {parsed} parsed");
    }
}
