//! Frames of the other link types a capture may hold (Linux cooked v1 and v2, raw IP, IPv4,
//! IPv6, NULL and LOOP): their link header read with [`crate::device::link`], what
//! it carries decoded as an Ethernet frame's payload would be.

use core::fmt;

use etherparse::{EtherType, LaxSlicedPacket};

use super::net::{collect_net, write_packet};
use super::{ether_type_name, Fields};
use crate::device::link::{self, LinkType};

/// The summary line of a frame of `link`: the same as an Ethernet frame's from the network
/// layer up, with the link's own addresses where there are any.
pub(super) fn write_summary(
    f: &mut fmt::Formatter<'_>,
    link: LinkType,
    data: &[u8],
) -> fmt::Result {
    let frame = match link::parse(link, data) {
        Ok(frame) => frame,
        Err(e) => return write!(f, "{e}"),
    };
    let p = LaxSlicedPacket::from_ether_type(EtherType(frame.protocol), frame.payload);
    write_packet(f, &p, None, EtherType(frame.protocol), data.len())
}

/// Every field of a frame of `link`, its link header first.
pub(super) fn collect_fields<'a>(out: &mut Fields<'a>, link: LinkType, data: &'a [u8]) {
    let frame = match link::parse(link, data) {
        Ok(frame) => frame,
        Err(e) => {
            out.text("error.at", format_args!("link: {e}"));
            out.bytes("payload.data", data);
            return;
        }
    };
    match link {
        LinkType::LinuxSll | LinkType::LinuxSll2 => {
            if let Some(i) = frame.interface {
                out.text("sll.ifindex", i);
            }
            if let Some(t) = frame.packet_type {
                let n = match t {
                    link::PacketType::Host => 0,
                    link::PacketType::Broadcast => 1,
                    link::PacketType::Multicast => 2,
                    link::PacketType::OtherHost => 3,
                    link::PacketType::Outgoing => 4,
                    link::PacketType::Other(n) => n,
                };
                out.noted("sll.pkttype", n, Some(t.name().to_owned()));
            }
            if let Some(h) = frame.hardware {
                out.text("sll.hatype", h);
            }
            match frame.source {
                Some(mac) => out.text("sll.addr", mac),
                None => out.bytes("sll.addr", frame.address),
            }
            let t = EtherType(frame.protocol);
            out.noted(
                "sll.protocol",
                format_args!("0x{:04x}", t.0),
                ether_type_name(t).map(str::to_owned),
            );
        }
        LinkType::Null | LinkType::Loop => {
            if let Some(family) = frame.family {
                let name = match link::Family::from_number(family) {
                    Some(link::Family::Inet) => "AF_INET",
                    Some(link::Family::Inet6) => "AF_INET6",
                    None => "unknown",
                };
                out.noted("loop.family", family, Some(name.to_owned()));
            }
        }
        LinkType::Ethernet | LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => {}
    }
    let p = LaxSlicedPacket::from_ether_type(EtherType(frame.protocol), frame.payload);
    collect_net(out, &p, frame.payload, 0);
}
