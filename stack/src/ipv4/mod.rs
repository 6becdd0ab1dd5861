//! IPv4 (RFC 791, host requirements RFC 1122 3.2): header checks, routing decisions and
//! fragmentation of our own datagrams. Reassembly lives in [`crate::reassembly`].

use core::net::Ipv4Addr;

use etherparse::checksum::Sum16BitWords;
use etherparse::{IpFragOffset, IpNumber, Ipv4Header, Ipv4HeaderSlice};

/// Length of an IPv4 header without options.
pub const HEADER_LEN: usize = 20;

/// IP protocol numbers we act on (IANA "Assigned Internet Protocol Numbers").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// ICMP (RFC 792).
    Icmp,
    /// TCP (RFC 9293).
    Tcp,
    /// UDP (RFC 768).
    Udp,
    /// Anything else.
    Unknown(u8),
}

impl From<u8> for Protocol {
    fn from(n: u8) -> Self {
        match n {
            1 => Protocol::Icmp,
            6 => Protocol::Tcp,
            17 => Protocol::Udp,
            other => Protocol::Unknown(other),
        }
    }
}

impl From<Protocol> for u8 {
    fn from(p: Protocol) -> u8 {
        match p {
            Protocol::Icmp => 1,
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Unknown(n) => n,
        }
    }
}

/// The fields of a received IPv4 header that the stack uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repr {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Payload protocol.
    pub protocol: Protocol,
    /// Time to live.
    pub ttl: u8,
    /// Identification (for reassembly).
    pub ident: u16,
    /// More-fragments flag.
    pub more_fragments: bool,
    /// Fragment offset in bytes.
    pub frag_offset: usize,
    /// Header length in bytes (options included).
    pub header_len: usize,
}

impl Repr {
    /// True when this is a fragment (of any position) rather than a whole datagram.
    pub fn is_fragment(&self) -> bool {
        self.more_fragments || self.frag_offset != 0
    }
}

/// Why an IPv4 header was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Shorter than the header or than the total length says.
    Truncated,
    /// Version is not 4, header length under 20, or total length under header length.
    BadHeader,
    /// Header checksum mismatch.
    BadChecksum,
}

/// Parses and checks an IPv4 packet (RFC 1122 3.2.1.1-3.2.1.2); returns the header and the
/// payload, with any link-layer padding after the total length cut off.
///
/// # Errors
/// [`ParseError`] for anything RFC 1122 says to discard silently.
pub fn parse(buf: &[u8]) -> Result<(Repr, &[u8]), ParseError> {
    if buf.len() < HEADER_LEN {
        return Err(ParseError::Truncated);
    }
    if buf.first().map(|b| b >> 4) != Some(4) {
        return Err(ParseError::BadHeader);
    }
    let header = Ipv4HeaderSlice::from_slice(buf).map_err(|e| match e {
        etherparse::err::ipv4::HeaderSliceError::Len(_) => ParseError::Truncated,
        etherparse::err::ipv4::HeaderSliceError::Content(_) => ParseError::BadHeader,
    })?;
    let header_len = header.slice().len();
    let total_len = usize::from(header.total_len());
    if total_len < header_len {
        return Err(ParseError::BadHeader);
    }
    let Some(packet) = buf.get(..total_len) else {
        return Err(ParseError::Truncated);
    };
    if Sum16BitWords::new()
        .add_slice(header.slice())
        .ones_complement()
        != 0
    {
        return Err(ParseError::BadChecksum);
    }
    let payload = packet.get(header_len..).ok_or(ParseError::Truncated)?;
    Ok((
        Repr {
            src: header.source_addr(),
            dst: header.destination_addr(),
            protocol: Protocol::from(header.protocol().0),
            ttl: header.ttl(),
            ident: header.identification(),
            more_fragments: header.more_fragments(),
            frag_offset: usize::from(header.fragments_offset().value()) * 8,
            header_len,
        },
        payload,
    ))
}

/// The fields of an IPv4 header we emit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmitRepr {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Payload protocol.
    pub protocol: Protocol,
    /// Time to live.
    pub ttl: u8,
    /// Identification.
    pub ident: u16,
    /// Don't fragment (set by TCP, which finds the path MTU instead, RFC 1191).
    pub dont_fragment: bool,
}

/// Appends a 20-byte header with a correct checksum for a fragment of `len` payload bytes at
/// byte `offset` (a multiple of 8), `more` set on all but the last fragment.
pub fn write_header(out: &mut Vec<u8>, repr: &EmitRepr, len: usize, offset: usize, more: bool) {
    let payload_len = u16::try_from(len).unwrap_or(u16::MAX - HEADER_LEN as u16);
    let mut h = Ipv4Header {
        total_len: payload_len.saturating_add(HEADER_LEN as u16),
        identification: repr.ident,
        // Only whole datagrams can forbid fragmentation; etherparse's default would set DF.
        dont_fragment: repr.dont_fragment && offset == 0 && !more,
        more_fragments: more,
        fragment_offset: IpFragOffset::try_new(u16::try_from(offset / 8).unwrap_or(0))
            .unwrap_or(IpFragOffset::ZERO),
        time_to_live: repr.ttl,
        protocol: IpNumber(u8::from(repr.protocol)),
        source: repr.src.octets(),
        destination: repr.dst.octets(),
        ..Default::default()
    };
    h.header_checksum = h.calc_header_checksum();
    out.extend_from_slice(&h.to_bytes());
}

/// The pieces a payload of `len` bytes is cut into for a link with IP MTU `mtu`:
/// `(offset, length, more_fragments)`. One piece when it fits.
pub fn fragments(len: usize, mtu: usize) -> impl Iterator<Item = (usize, usize, bool)> {
    let per = (mtu.saturating_sub(HEADER_LEN) / 8 * 8).max(8);
    let count = if len + HEADER_LEN <= mtu {
        1
    } else {
        len.div_ceil(per)
    };
    let step = if count == 1 { len.max(1) } else { per };
    (0..count).map(move |i| {
        let offset = i * step;
        let piece = step.min(len - offset.min(len));
        (offset, piece, i + 1 < count)
    })
}

/// True for source addresses no host may send from (RFC 1122 3.2.1.3).
pub fn is_martian_source(src: Ipv4Addr) -> bool {
    src.is_multicast() || src.is_broadcast() || src.is_loopback() || u32::from(src) >= 0xf000_0000
}

/// What an ICMP error needs from the datagram it quotes (RFC 792: "Internet Header + 64 bits
/// of Original Data Datagram"). The quote may be cut short, so only the fixed header is read and
/// nothing (checksum, lengths) is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quoted {
    /// Source address of the quoted datagram.
    pub src: Ipv4Addr,
    /// Destination address of the quoted datagram.
    pub dst: Ipv4Addr,
    /// Its protocol number.
    pub protocol: u8,
    /// Its fragment offset in bytes.
    pub frag_offset: usize,
    /// Where its upper-layer header starts (the header length field, unchecked).
    pub upper: usize,
}

/// Reads the fixed header of a quoted datagram; `None` when it is shorter than 20 bytes.
pub fn quoted(original: &[u8]) -> Option<Quoted> {
    let hdr = original.get(..HEADER_LEN)?;
    let flags_offset = u16::from_be_bytes([hdr[6], hdr[7]]);
    Some(Quoted {
        src: Ipv4Addr::new(hdr[12], hdr[13], hdr[14], hdr[15]),
        dst: Ipv4Addr::new(hdr[16], hdr[17], hdr[18], hdr[19]),
        protocol: hdr[9],
        frag_offset: usize::from(flags_offset & 0x1fff) * 8,
        upper: usize::from(hdr[0] & 0x0f) * 4,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ICMP echo request 10.77.0.1 -> 10.77.0.2, from Linux ping (header and 8 payload bytes).
    const PACKET: [u8; 28] = [
        0x45, 0x00, 0x00, 0x1c, 0x12, 0x34, 0x40, 0x00, 0x40, 0x01, 0x00, 0x00, 10, 77, 0, 1, 10,
        77, 0, 2, 0x08, 0x00, 0xf7, 0xff, 0x00, 0x00, 0x00, 0x00,
    ];

    fn packet() -> Vec<u8> {
        let mut p = PACKET.to_vec();
        let sum = Sum16BitWords::new().add_slice(&p[..20]).ones_complement();
        p[10..12].copy_from_slice(&sum.to_ne_bytes()); // etherparse sums in native order
        p
    }

    #[test]
    fn parse_valid() {
        let p = packet();
        let (r, payload) = parse(&p).unwrap();
        assert_eq!(r.src, Ipv4Addr::new(10, 77, 0, 1));
        assert_eq!(r.dst, Ipv4Addr::new(10, 77, 0, 2));
        assert_eq!(r.protocol, Protocol::Icmp);
        assert_eq!((r.ttl, r.ident, r.header_len), (64, 0x1234, 20));
        assert!(!r.is_fragment());
        assert_eq!(payload.len(), 8);
        let mut padded = p.clone();
        padded.extend_from_slice(&[0xee; 18]);
        assert_eq!(parse(&padded).unwrap().1.len(), 8, "padding is cut off");
    }

    #[test]
    fn parse_rejects() {
        let p = packet();
        for n in 0..p.len() {
            assert_eq!(parse(&p[..n]).err(), Some(ParseError::Truncated), "len {n}");
        }
        let mut v6 = p.clone();
        v6[0] = 0x65;
        assert_eq!(parse(&v6).err(), Some(ParseError::BadHeader));
        let mut ihl = p.clone();
        ihl[0] = 0x44;
        assert_eq!(parse(&ihl).err(), Some(ParseError::BadHeader));
        let mut long_ihl = p.clone();
        long_ihl[0] = 0x4f; // 60-byte header in a 28-byte packet
        assert_eq!(parse(&long_ihl).err(), Some(ParseError::Truncated));
        let mut short_total = p.clone();
        short_total[3] = 19;
        assert!(parse(&short_total).is_err());
        let mut sum = p.clone();
        sum[11] ^= 1;
        assert_eq!(parse(&sum).err(), Some(ParseError::BadChecksum));
        let mut ttl = p.clone();
        ttl[8] = 1; // field changed, checksum not
        assert_eq!(parse(&ttl).err(), Some(ParseError::BadChecksum));
    }

    #[test]
    fn emitted_header_parses_back() {
        let repr = EmitRepr {
            src: Ipv4Addr::new(10, 0, 0, 2),
            dst: Ipv4Addr::new(10, 0, 0, 1),
            protocol: Protocol::Udp,
            ttl: 64,
            ident: 7,
            dont_fragment: false,
        };
        let mut buf = Vec::new();
        write_header(&mut buf, &repr, 16, 1480, true);
        buf.extend_from_slice(&[0; 16]);
        let (r, payload) = parse(&buf).unwrap();
        assert_eq!(
            (r.frag_offset, r.more_fragments, r.ident, payload.len()),
            (1480, true, 7, 16)
        );
        assert_eq!(r.protocol, Protocol::Udp);
    }

    #[test]
    fn fragment_plan() {
        assert_eq!(
            fragments(1480, 1500).collect::<Vec<_>>(),
            [(0, 1480, false)]
        );
        assert_eq!(fragments(0, 1500).collect::<Vec<_>>(), [(0, 0, false)]);
        let f: Vec<_> = fragments(8008, 1500).collect();
        assert_eq!(
            f,
            [
                (0, 1480, true),
                (1480, 1480, true),
                (2960, 1480, true),
                (4440, 1480, true),
                (5920, 1480, true),
                (7400, 608, false)
            ]
        );
        assert!(f.iter().all(|(o, _, _)| o % 8 == 0));
        assert_eq!(f.iter().map(|x| x.1).sum::<usize>(), 8008);
        let f: Vec<_> = fragments(1000, 576).collect();
        assert_eq!(f, [(0, 552, true), (552, 448, false)]);
    }

    #[test]
    fn quoted_header_of_a_cut_quote() {
        // An ICMP error quotes the header and 8 bytes; fewer than 20 bytes is no header.
        let q = quoted(&PACKET).expect("a quoted header");
        assert_eq!(q.src, Ipv4Addr::new(10, 77, 0, 1));
        assert_eq!(q.dst, Ipv4Addr::new(10, 77, 0, 2));
        assert_eq!((q.protocol, q.frag_offset, q.upper), (1, 0, 20));
        let mut fragment = PACKET;
        fragment[6..8].copy_from_slice(&[0x20, 0x03]); // MF, offset 3 * 8
        assert_eq!(quoted(&fragment).map(|q| q.frag_offset), Some(24));
        assert_eq!(quoted(&PACKET[..19]), None);
    }

    #[test]
    fn martians() {
        assert!(is_martian_source(Ipv4Addr::new(224, 0, 0, 1)));
        assert!(is_martian_source(Ipv4Addr::BROADCAST));
        assert!(is_martian_source(Ipv4Addr::LOCALHOST));
        assert!(!is_martian_source(Ipv4Addr::new(10, 0, 0, 1)));
    }
}
