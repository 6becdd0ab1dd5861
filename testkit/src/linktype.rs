//! Captures of Ethernet frames rewritten as other link types, as tcpdump would have written
//! them on another kind of interface: Ethernet with its FCS, Linux cooked v1 and v2 (`tcpdump
//! -i any`), raw IP, IPv4, IPv6, and the BSD loopback headers (NULL in either byte order, LOOP).
//!
//! Written here by hand, byte by byte, apart from any capture library, so that a reader is
//! checked against an independent writer. Link types without link addresses carry IP only:
//! ARP frames (and, for IPV4 and IPV6, the other family) are left out, and Ethernet padding is
//! cut off at the IP packet's length.

/// How one frame is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// LINKTYPE_ETHERNET with the 4-byte FCS at the end of every frame, announced in the pcap
    /// link-type field (FCS length in 16-bit words) or pcapng `if_fcslen`.
    EthernetFcs,
    /// LINKTYPE_LINUX_SLL, the Ethernet source as the address.
    Sll,
    /// LINKTYPE_LINUX_SLL2, the Ethernet source as the address.
    Sll2,
    /// LINKTYPE_LINUX_SLL2 as a TUN gives it: ARPHRD_NONE and no address, IP only.
    Sll2Tun,
    /// LINKTYPE_RAW.
    Raw,
    /// LINKTYPE_IPV4: IPv4 packets only.
    Ipv4,
    /// LINKTYPE_IPV6: IPv6 packets only.
    Ipv6,
    /// LINKTYPE_NULL written by a little-endian host, AF_INET6 as `af6`.
    NullLe(u32),
    /// LINKTYPE_NULL written by a big-endian host, AF_INET6 as `af6`.
    NullBe(u32),
    /// LINKTYPE_LOOP, AF_INET6 as `af6`.
    Loop(u32),
}

impl Link {
    /// Every variant, with each BSD and macOS number for AF_INET6 somewhere.
    pub const ALL: [Link; 10] = [
        Link::EthernetFcs,
        Link::Sll,
        Link::Sll2,
        Link::Sll2Tun,
        Link::Raw,
        Link::Ipv4,
        Link::Ipv6,
        Link::NullLe(10),
        Link::NullBe(30),
        Link::Loop(24),
    ];

    /// The LINKTYPE_ number.
    pub fn number(self) -> u16 {
        match self {
            Link::EthernetFcs => 1,
            Link::Sll => 113,
            Link::Sll2 | Link::Sll2Tun => 276,
            Link::Raw => 101,
            Link::Ipv4 => 228,
            Link::Ipv6 => 229,
            Link::NullLe(_) | Link::NullBe(_) => 0,
            Link::Loop(_) => 108,
        }
    }

    /// A short name for file names and messages.
    pub fn name(self) -> String {
        match self {
            Link::EthernetFcs => "ethernet-fcs".into(),
            Link::Sll => "sll".into(),
            Link::Sll2 => "sll2".into(),
            Link::Sll2Tun => "sll2-tun".into(),
            Link::Raw => "raw".into(),
            Link::Ipv4 => "ipv4".into(),
            Link::Ipv6 => "ipv6".into(),
            Link::NullLe(af) => format!("null-le-af{af}"),
            Link::NullBe(af) => format!("null-be-af{af}"),
            Link::Loop(af) => format!("loop-af{af}"),
        }
    }

    /// True when ARP and other non-IP frames cannot be carried.
    pub fn ip_only(self) -> bool {
        !matches!(self, Link::EthernetFcs | Link::Sll | Link::Sll2)
    }
}

/// One Ethernet frame to convert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Nanoseconds since the Unix epoch.
    pub timestamp_ns: u64,
    /// `Some(true)` received by the capturing host, `Some(false)` sent by it.
    pub inbound: Option<bool>,
    /// The Ethernet frame, without FCS.
    pub data: Vec<u8>,
}

/// The CRC-32 of IEEE 802.3, as the FCS carries it (little-endian on the wire).
pub fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xffff_ffffu32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// The IP packet in an Ethernet frame, padding cut off; `None` for anything else.
pub fn ip_packet(eth: &[u8]) -> Option<&[u8]> {
    let ip = eth.get(14..)?;
    match (eth.get(12..14)?, ip.first()? >> 4) {
        ([0x08, 0x00], 4) => {
            let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
            ip.get(..total)
        }
        ([0x86, 0xdd], 6) => {
            let payload = usize::from(u16::from_be_bytes([*ip.get(4)?, *ip.get(5)?]));
            ip.get(..40 + payload)
        }
        _ => None,
    }
}

/// The frame's bytes as `link` carries them, or `None` when `link` cannot carry it.
pub fn convert(link: Link, frame: &Frame) -> Option<Vec<u8>> {
    let eth = &frame.data;
    let ether_type = [*eth.get(12)?, *eth.get(13)?];
    let (dst, src) = (eth.get(0..6)?, eth.get(6..12)?);
    // Linux's packet type: outgoing, else by the destination.
    let packet_type: u8 = match frame.inbound {
        Some(false) => 4,
        _ if dst == [0xff; 6] => 1,
        _ if dst[0] & 1 == 1 => 2,
        _ => 0,
    };
    let ip = ip_packet(eth);
    let mut out = Vec::new();
    match link {
        Link::EthernetFcs => {
            out.extend_from_slice(eth);
            out.extend_from_slice(&crc32(eth).to_le_bytes());
        }
        Link::Sll => {
            out.extend_from_slice(&u16::from(packet_type).to_be_bytes());
            out.extend_from_slice(&1u16.to_be_bytes()); // ARPHRD_ETHER
            out.extend_from_slice(&6u16.to_be_bytes());
            out.extend_from_slice(src);
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(&ether_type);
            out.extend_from_slice(ip.unwrap_or(&eth[14..]));
        }
        Link::Sll2 | Link::Sll2Tun => {
            let tun = link == Link::Sll2Tun;
            let payload = if tun { ip? } else { ip.unwrap_or(&eth[14..]) };
            out.extend_from_slice(&ether_type);
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(&3u32.to_be_bytes()); // interface index
            out.extend_from_slice(&(if tun { 0xfffe_u16 } else { 1 }).to_be_bytes());
            out.push(packet_type);
            if tun {
                out.push(0);
                out.extend_from_slice(&[0; 8]);
            } else {
                out.push(6);
                out.extend_from_slice(src);
                out.extend_from_slice(&[0, 0]);
            }
            out.extend_from_slice(payload);
        }
        Link::Raw => out.extend_from_slice(ip?),
        Link::Ipv4 => out.extend_from_slice(ip.filter(|p| p[0] >> 4 == 4)?),
        Link::Ipv6 => out.extend_from_slice(ip.filter(|p| p[0] >> 4 == 6)?),
        Link::NullLe(af6) | Link::NullBe(af6) | Link::Loop(af6) => {
            let p = ip?;
            let af: u32 = if p[0] >> 4 == 4 { 2 } else { af6 };
            let header = match link {
                Link::NullLe(_) => af.to_le_bytes(),
                _ => af.to_be_bytes(),
            };
            out.extend_from_slice(&header);
            out.extend_from_slice(p);
        }
    }
    Some(out)
}

/// A classic pcap file (little-endian, nanoseconds) of `frames` as `link`.
pub fn pcap(link: Link, frames: &[Frame]) -> Vec<u8> {
    let mut field = u32::from(link.number());
    if link == Link::EthernetFcs {
        // The F bit, and 2 16-bit words of FCS.
        field |= 0x0400_0000 | (2 << 28);
    }
    let mut b = Vec::new();
    b.extend_from_slice(&0xa1b2_3c4d_u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&262_144u32.to_le_bytes());
    b.extend_from_slice(&field.to_le_bytes());
    for f in frames {
        let Some(data) = convert(link, f) else {
            continue;
        };
        let len = u32::try_from(data.len()).expect("frame fits");
        let secs = u32::try_from(f.timestamp_ns / 1_000_000_000).expect("32-bit seconds");
        b.extend_from_slice(&secs.to_le_bytes());
        b.extend_from_slice(&((f.timestamp_ns % 1_000_000_000) as u32).to_le_bytes());
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(&data);
    }
    b
}

fn block(kind: u32, body: &[u8]) -> Vec<u8> {
    let pad = (4 - body.len() % 4) % 4;
    let total = u32::try_from(12 + body.len() + pad).expect("block fits");
    let mut b = Vec::new();
    b.extend_from_slice(&kind.to_le_bytes());
    b.extend_from_slice(&total.to_le_bytes());
    b.extend_from_slice(body);
    b.extend_from_slice(&vec![0; pad]);
    b.extend_from_slice(&total.to_le_bytes());
    b
}

fn option(code: u16, value: &[u8]) -> Vec<u8> {
    let mut o = code.to_le_bytes().to_vec();
    o.extend_from_slice(
        &u16::try_from(value.len())
            .expect("option fits")
            .to_le_bytes(),
    );
    o.extend_from_slice(value);
    o.resize(o.len() + (4 - value.len() % 4) % 4, 0);
    o
}

fn interface(link: Link) -> Vec<u8> {
    let mut body = link.number().to_le_bytes().to_vec();
    body.extend_from_slice(&[0, 0]);
    body.extend_from_slice(&0u32.to_le_bytes()); // snaplen: none
    body.extend_from_slice(&option(9, &[9])); // if_tsresol: nanoseconds
    if link == Link::EthernetFcs {
        body.extend_from_slice(&option(13, &[4])); // if_fcslen
    }
    body.extend_from_slice(&option(0, &[]));
    block(1, &body)
}

/// A pcapng file of `frames`, each on the interface of its link in `links` (one interface
/// per entry, frame `i` on interface `i % links.len()`), direction marks kept.
pub fn pcapng(links: &[Link], frames: &[Frame]) -> Vec<u8> {
    // Section header: byte-order magic, version 1.0, section length unknown.
    let mut shb = 0x1a2b_3c4d_u32.to_le_bytes().to_vec();
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&u64::MAX.to_le_bytes());
    let mut b = block(0x0a0d_0d0a, &shb);
    for &l in links {
        b.extend(interface(l));
    }
    for (i, f) in frames.iter().enumerate() {
        let id = i % links.len();
        let Some(data) = convert(links[id], f) else {
            continue;
        };
        let len = u32::try_from(data.len()).expect("frame fits");
        let mut body = u32::try_from(id)
            .expect("few interfaces")
            .to_le_bytes()
            .to_vec();
        body.extend_from_slice(&((f.timestamp_ns >> 32) as u32).to_le_bytes());
        body.extend_from_slice(&(f.timestamp_ns as u32).to_le_bytes());
        body.extend_from_slice(&len.to_le_bytes());
        body.extend_from_slice(&len.to_le_bytes());
        body.extend_from_slice(&data);
        body.resize(body.len() + (4 - data.len() % 4) % 4, 0);
        if let Some(inbound) = f.inbound {
            let flags: u32 = if inbound { 1 } else { 2 };
            body.extend_from_slice(&option(2, &flags.to_le_bytes()));
            body.extend_from_slice(&option(0, &[]));
        }
        b.extend(block(6, &body));
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ping() -> Frame {
        let mut data = vec![2, 0, 10, 77, 0, 2, 2, 0, 10, 77, 0, 1, 0x08, 0x00];
        data.extend_from_slice(&[0x45, 0, 0, 21, 0, 0, 0, 0, 64, 1, 0, 0]);
        data.extend_from_slice(&[10, 77, 0, 1, 10, 77, 0, 2, 8]);
        data.resize(60, 0);
        Frame {
            timestamp_ns: 1_700_000_000_000_000_000,
            inbound: Some(true),
            data,
        }
    }

    #[test]
    fn crc_check_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn padding_is_cut_and_headers_are_written() {
        let f = ping();
        assert_eq!(ip_packet(&f.data).unwrap().len(), 21);
        let raw = convert(Link::Raw, &f).unwrap();
        assert_eq!(raw.len(), 21);
        let sll = convert(Link::Sll, &f).unwrap();
        assert_eq!(
            (sll.len(), &sll[0..2], &sll[6..12]),
            (37, &[0u8, 0][..], &f.data[6..12])
        );
        let null = convert(Link::NullBe(30), &f).unwrap();
        assert_eq!(&null[0..4], &[0, 0, 0, 2]);
        assert_eq!(convert(Link::Ipv6, &f), None);
        let fcs = convert(Link::EthernetFcs, &f).unwrap();
        assert_eq!(fcs.len(), 64);
        // Blocks are whole: lengths are multiples of four.
        assert_eq!(pcapng(&Link::ALL, &[f.clone(), f]).len() % 4, 0);
    }
}
