//! The link layers a capture may carry, read as a reader of tcpdump's files expects
//! (<https://www.tcpdump.org/linktypes.html>): Ethernet (with or without a trailing FCS),
//! Linux "cooked" captures v1 and v2 (`tcpdump -i any`), raw IP (a capture on a TUN device),
//! and the BSD loopback headers.
//!
//! [`parse`] takes a record's bytes and its [`LinkType`] and returns a [`Frame`]: who sent it
//! when the link says, which way it went when the link says (a cooked capture's packet type),
//! the EtherType of what it carries, and the bytes after the link header.
//!
//! A stack on an Ethernet medium is given cooked and raw frames with a made-up Ethernet header
//! ([`write_ethernet`]):
//! - source: the cooked capture's link-layer address when it is 6 bytes (the sender's MAC),
//!   otherwise [`PEER_MAC`], a fixed locally administered address standing for "the host at
//!   the other end";
//! - destination: broadcast for a cooked frame marked broadcast and for the IPv4 limited
//!   broadcast 255.255.255.255; the group address for a multicast IP destination (RFC 1112
//!   6.4, RFC 2464 7); otherwise the stack's own MAC (the capturing host's place is the
//!   stack's);
//! - EtherType: the cooked header's protocol, or IPv4/IPv6 from the raw packet's version.
//!
//! A stack on the IP medium takes the IP packet itself ([`Frame::ip_packet`]).

use core::fmt;

use crate::device::Direction;
use crate::ethernet::MacAddr;

/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;

/// The source given to frames whose capture names no 6-byte sender: locally administered,
/// unicast, and not one the stack's default MAC (02:00 followed by its IPv4 address) takes.
pub const PEER_MAC: MacAddr = MacAddr([0x06, 0x00, 0x00, 0x00, 0x00, 0x01]);

/// Bytes of a Linux cooked v1 header (LINKTYPE_LINUX_SLL).
pub const SLL_LEN: usize = 16;
/// Bytes of a Linux cooked v2 header (LINKTYPE_LINUX_SLL2).
pub const SLL2_LEN: usize = 20;
/// Bytes of a BSD loopback header (NULL and LOOP).
pub const LOOPBACK_LEN: usize = 4;
/// Bytes of an Ethernet II header.
pub const ETHERNET_LEN: usize = 14;

/// The link types a capture can be replayed and dumped from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// LINKTYPE_ETHERNET (1): Ethernet II frames.
    #[default]
    Ethernet,
    /// LINKTYPE_LINUX_SLL (113): Linux cooked capture v1.
    LinuxSll,
    /// LINKTYPE_LINUX_SLL2 (276): Linux cooked capture v2.
    LinuxSll2,
    /// LINKTYPE_RAW (101): an IPv4 or IPv6 packet, told apart by its version.
    Raw,
    /// LINKTYPE_IPV4 (228): an IPv4 packet.
    Ipv4,
    /// LINKTYPE_IPV6 (229): an IPv6 packet.
    Ipv6,
    /// LINKTYPE_NULL (0): BSD loopback, a 4-byte address family in the capturing host's byte
    /// order.
    Null,
    /// LINKTYPE_LOOP (108): OpenBSD loopback, the address family in network byte order.
    Loop,
}

impl LinkType {
    /// Every supported link type.
    pub const ALL: [LinkType; 8] = [
        LinkType::Ethernet,
        LinkType::LinuxSll,
        LinkType::LinuxSll2,
        LinkType::Raw,
        LinkType::Ipv4,
        LinkType::Ipv6,
        LinkType::Null,
        LinkType::Loop,
    ];

    /// The link type numbered `n` (the low 16 bits of a pcap header's field, or a pcapng
    /// interface's), if supported.
    pub fn from_number(n: u32) -> Option<LinkType> {
        LinkType::ALL.into_iter().find(|l| l.number() == n)
    }

    /// Its LINKTYPE_ number.
    pub fn number(self) -> u32 {
        match self {
            LinkType::Ethernet => 1,
            LinkType::LinuxSll => 113,
            LinkType::LinuxSll2 => 276,
            LinkType::Raw => 101,
            LinkType::Ipv4 => 228,
            LinkType::Ipv6 => 229,
            LinkType::Null => 0,
            LinkType::Loop => 108,
        }
    }

    /// Its name as tcpdump's list gives it (LINKTYPE_ left off).
    pub fn name(self) -> &'static str {
        match self {
            LinkType::Ethernet => "ETHERNET",
            LinkType::LinuxSll => "LINUX_SLL",
            LinkType::LinuxSll2 => "LINUX_SLL2",
            LinkType::Raw => "RAW",
            LinkType::Ipv4 => "IPV4",
            LinkType::Ipv6 => "IPV6",
            LinkType::Null => "NULL",
            LinkType::Loop => "LOOP",
        }
    }

    /// True when frames carry IP packets only, with no link addresses (no ARP or NDP
    /// addresses can be learnt from them).
    pub fn is_ip_only(self) -> bool {
        matches!(
            self,
            LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 | LinkType::Null | LinkType::Loop
        )
    }
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A pcap header's 32-bit link-type field (draft-ietf-opsawg-pcap, "LinkType and additional
/// information"): the link type in bits 0-15, and when bit 26 (F) is set, bits 28-31 give
/// the length of the FCS that ends every frame, in 16-bit words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkField {
    /// The link type number (bits 0-15).
    pub link: u32,
    /// Bytes of FCS at the end of every frame (0 when the field says nothing).
    pub fcs_len: u8,
}

impl LinkField {
    /// Splits a pcap header's link-type field.
    pub fn from_pcap(field: u32) -> LinkField {
        let fcs_len = if field & 0x0400_0000 != 0 {
            // At most 15 words: 30 bytes.
            ((field >> 28) as u8) * 2
        } else {
            0
        };
        LinkField {
            link: field & 0xffff,
            fcs_len,
        }
    }
}

/// The name of link type number `n` for messages: tcpdump's when known, the number always.
#[cfg(feature = "capture")]
pub fn describe(n: u32) -> String {
    match LinkType::from_number(n) {
        Some(l) => format!("{l} ({n})"),
        None => {
            let known = pcap_file::DataLink::from(n);
            match known {
                pcap_file::DataLink::Unknown(_) => format!("{n}"),
                other => format!("{other:?} ({n})"),
            }
        }
    }
}

/// A Linux cooked capture's packet type (`PACKET_*` of `<linux/if_packet.h>`), as the
/// capturing host saw the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketType {
    /// Sent to this host (PACKET_HOST, 0).
    Host,
    /// Sent to the link's broadcast address (1).
    Broadcast,
    /// Sent to a multicast group (2).
    Multicast,
    /// Sent to another host, seen in promiscuous mode (3).
    OtherHost,
    /// Sent by this host (PACKET_OUTGOING, 4).
    Outgoing,
    /// Any other value.
    Other(u16),
}

impl PacketType {
    fn from_number(n: u16) -> PacketType {
        match n {
            0 => PacketType::Host,
            1 => PacketType::Broadcast,
            2 => PacketType::Multicast,
            3 => PacketType::OtherHost,
            4 => PacketType::Outgoing,
            n => PacketType::Other(n),
        }
    }

    /// tcpdump's word for it.
    pub fn name(self) -> &'static str {
        match self {
            PacketType::Host => "In",
            PacketType::Broadcast => "B",
            PacketType::Multicast => "M",
            PacketType::OtherHost => "P",
            PacketType::Outgoing => "Out",
            PacketType::Other(_) => "?",
        }
    }
}

/// A BSD loopback header's address family, as Linux, the BSDs and macOS number it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// AF_INET: 2 everywhere.
    Inet,
    /// AF_INET6: 10 on Linux, 24 on NetBSD and OpenBSD, 28 on FreeBSD and DragonFly, 30 on
    /// macOS.
    Inet6,
}

impl Family {
    /// The family numbered `n`, if it is one of those above.
    pub fn from_number(n: u32) -> Option<Family> {
        match n {
            2 => Some(Family::Inet),
            10 | 24 | 28 | 30 => Some(Family::Inet6),
            _ => None,
        }
    }
}

/// Why a frame's link header cannot be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkError {
    /// The frame is shorter than its link header (or empty, for raw IP).
    Truncated {
        /// The link type.
        link: LinkType,
        /// Bytes there are.
        len: usize,
        /// Bytes the header needs.
        need: usize,
    },
    /// A loopback header names an address family that is neither IPv4 nor IPv6.
    UnknownFamily {
        /// The link type.
        link: LinkType,
        /// The family number, as read.
        family: u32,
    },
    /// A raw IP packet whose version is neither 4 nor 6.
    NotIp {
        /// The link type.
        link: LinkType,
        /// The version nibble.
        version: u8,
    },
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            LinkError::Truncated { link, len, need } => {
                write!(
                    f,
                    "truncated {link} frame ({len} bytes, header needs {need})"
                )
            }
            LinkError::UnknownFamily { link, family } => {
                write!(f, "{link} frame of unknown address family {family}")
            }
            LinkError::NotIp { link, version } => {
                write!(f, "{link} frame is not IP (version {version})")
            }
        }
    }
}

impl std::error::Error for LinkError {}

/// A frame's link layer, read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The link type it was read as.
    pub link: LinkType,
    /// A cooked capture's packet type.
    pub packet_type: Option<PacketType>,
    /// A cooked capture's ARPHRD_ hardware type.
    pub hardware: Option<u16>,
    /// A cooked v2 capture's interface index.
    pub interface: Option<u32>,
    /// A loopback header's address family number, as read.
    pub family: Option<u32>,
    /// The sender's MAC: Ethernet's source, or a cooked capture's address when 6 bytes long.
    pub source: Option<MacAddr>,
    /// Ethernet's destination.
    pub destination: Option<MacAddr>,
    /// A cooked capture's link-layer address (up to 8 bytes) as given.
    pub address: &'a [u8],
    /// The EtherType of what it carries.
    pub protocol: u16,
    /// What follows the link header.
    pub payload: &'a [u8],
}

impl<'a> Frame<'a> {
    fn bare(link: LinkType, protocol: u16, payload: &'a [u8]) -> Self {
        Frame {
            link,
            packet_type: None,
            hardware: None,
            interface: None,
            family: None,
            source: None,
            destination: None,
            address: &[],
            protocol,
            payload,
        }
    }

    /// Which way the frame went as the capturing host saw it, when the link says (a cooked
    /// capture: "outgoing" is sent, anything else received).
    pub fn direction(&self) -> Option<Direction> {
        self.packet_type.map(|t| match t {
            PacketType::Outgoing => Direction::Out,
            _ => Direction::In,
        })
    }

    /// The IP packet it carries, for a stack on the IP medium: the payload of an IPv4 or IPv6
    /// frame, `None` for anything else (ARP, other EtherTypes).
    pub fn ip_packet(&self) -> Option<&'a [u8]> {
        matches!(self.protocol, ETHERTYPE_IPV4 | ETHERTYPE_IPV6).then_some(self.payload)
    }

    /// The source IP address of the packet it carries, if it is IPv4 or IPv6 and long enough.
    pub fn ip_source(&self) -> Option<core::net::IpAddr> {
        ip_address(self.protocol, self.payload, true)
    }

    /// The destination IP address of the packet it carries.
    pub fn ip_destination(&self) -> Option<core::net::IpAddr> {
        ip_address(self.protocol, self.payload, false)
    }
}

fn ip_address(protocol: u16, p: &[u8], source: bool) -> Option<core::net::IpAddr> {
    match protocol {
        ETHERTYPE_IPV4 => {
            let at = if source { 12 } else { 16 };
            let b: [u8; 4] = p.get(at..at + 4)?.try_into().ok()?;
            Some(core::net::Ipv4Addr::from(b).into())
        }
        ETHERTYPE_IPV6 => {
            let at = if source { 8 } else { 24 };
            let b: [u8; 16] = p.get(at..at + 16)?.try_into().ok()?;
            Some(core::net::Ipv6Addr::from(b).into())
        }
        _ => None,
    }
}

fn be16(b: &[u8], at: usize) -> u16 {
    match b.get(at..at + 2) {
        Some(&[x, y]) => u16::from_be_bytes([x, y]),
        _ => 0,
    }
}

fn mac6(b: &[u8]) -> Option<MacAddr> {
    <[u8; 6]>::try_from(b).ok().map(MacAddr)
}

/// Reads the link header of `data`, captured with link type `link`.
///
/// # Errors
/// [`LinkError`] when the header is cut short or names something that is not IP.
pub fn parse(link: LinkType, data: &[u8]) -> Result<Frame<'_>, LinkError> {
    let need = |need: usize| -> Result<(), LinkError> {
        if data.len() < need {
            Err(LinkError::Truncated {
                link,
                len: data.len(),
                need,
            })
        } else {
            Ok(())
        }
    };
    match link {
        LinkType::Ethernet => {
            need(ETHERNET_LEN)?;
            let mut f = Frame::bare(link, be16(data, 12), &data[ETHERNET_LEN..]);
            f.destination = mac6(&data[0..6]);
            f.source = mac6(&data[6..12]);
            Ok(f)
        }
        LinkType::LinuxSll => {
            // packet type (2), ARPHRD type (2), address length (2), address (8), protocol (2)
            need(SLL_LEN)?;
            let len = usize::from(be16(data, 4)).min(8);
            let address = &data[6..6 + len];
            let mut f = Frame::bare(link, be16(data, 14), &data[SLL_LEN..]);
            f.packet_type = Some(PacketType::from_number(be16(data, 0)));
            f.hardware = Some(be16(data, 2));
            f.address = address;
            f.source = mac6(address);
            Ok(f)
        }
        LinkType::LinuxSll2 => {
            // protocol (2), reserved (2), interface index (4), ARPHRD type (2), packet type
            // (1), address length (1), address (8)
            need(SLL2_LEN)?;
            let len = usize::from(data[11]).min(8);
            let address = &data[12..12 + len];
            let mut f = Frame::bare(link, be16(data, 0), &data[SLL2_LEN..]);
            f.interface = Some(u32::from_be_bytes([data[4], data[5], data[6], data[7]]));
            f.hardware = Some(be16(data, 8));
            f.packet_type = Some(PacketType::from_number(u16::from(data[10])));
            f.address = address;
            f.source = mac6(address);
            Ok(f)
        }
        LinkType::Raw => {
            need(1)?;
            let protocol = match data[0] >> 4 {
                4 => ETHERTYPE_IPV4,
                6 => ETHERTYPE_IPV6,
                version => return Err(LinkError::NotIp { link, version }),
            };
            Ok(Frame::bare(link, protocol, data))
        }
        LinkType::Ipv4 => Ok(Frame::bare(link, ETHERTYPE_IPV4, data)),
        LinkType::Ipv6 => Ok(Frame::bare(link, ETHERTYPE_IPV6, data)),
        LinkType::Null | LinkType::Loop => {
            need(LOOPBACK_LEN)?;
            let b = [data[0], data[1], data[2], data[3]];
            let family = if link == LinkType::Loop {
                u32::from_be_bytes(b)
            } else {
                // NULL is in the byte order of the host that captured, which the file does
                // not say; address families are small numbers, so a value with bits in the
                // upper half was written the other way round (as libpcap and Wireshark read
                // it).
                let le = u32::from_le_bytes(b);
                if le & 0xffff_0000 != 0 {
                    le.swap_bytes()
                } else {
                    le
                }
            };
            let protocol = match Family::from_number(family) {
                Some(Family::Inet) => ETHERTYPE_IPV4,
                Some(Family::Inet6) => ETHERTYPE_IPV6,
                None => return Err(LinkError::UnknownFamily { link, family }),
            };
            let mut f = Frame::bare(link, protocol, &data[LOOPBACK_LEN..]);
            f.family = Some(family);
            Ok(f)
        }
    }
}

/// The Ethernet group address an IP destination maps to, if it is multicast: 01:00:5e and
/// the low 23 bits of an IPv4 group (RFC 1112 6.4), 33:33 and the low 32 bits of an IPv6
/// group (RFC 2464 7).
fn group_mac(dst: core::net::IpAddr) -> Option<MacAddr> {
    match dst {
        core::net::IpAddr::V4(a) if a.is_multicast() => {
            let o = a.octets();
            Some(MacAddr([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]))
        }
        core::net::IpAddr::V6(a) if a.is_multicast() => {
            let o = a.octets();
            Some(MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]]))
        }
        _ => None,
    }
}

/// Clears `out` and writes `frame` as an Ethernet frame for a stack whose MAC is `ours`: an
/// Ethernet frame as it is, anything else behind a made-up header (see the module's
/// documentation for its addresses).
pub fn write_ethernet(frame: &Frame<'_>, ours: MacAddr, out: &mut Vec<u8>) {
    out.clear();
    let (dst, src) = match (frame.destination, frame.source) {
        (Some(d), Some(s)) if frame.link == LinkType::Ethernet => (d, s),
        (_, source) => {
            let ip_dst = frame.ip_destination();
            let dst = if frame.packet_type == Some(PacketType::Broadcast)
                || ip_dst == Some(core::net::Ipv4Addr::BROADCAST.into())
            {
                MacAddr::BROADCAST
            } else if let Some(group) = ip_dst.and_then(group_mac) {
                group
            } else {
                ours
            };
            (dst, source.unwrap_or(PEER_MAC))
        }
    };
    out.extend_from_slice(&dst.0);
    out.extend_from_slice(&src.0);
    out.extend_from_slice(&frame.protocol.to_be_bytes());
    out.extend_from_slice(frame.payload);
}

/// The CRC-32 of IEEE 802.3 (reflected polynomial 0xedb88320), as the FCS carries it: the
/// value whose little-endian bytes are the frame's last four.
pub fn crc32(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    };
    let mut c = 0xffff_ffffu32;
    for &b in data {
        c = TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

#[cfg(test)]
mod tests;
