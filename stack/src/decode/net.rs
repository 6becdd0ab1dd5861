//! Ethernet II, 802.1Q, ARP, IPv4 and IPv6: the frame's layers down to the transport.

use core::fmt;

use etherparse::{
    ArpHardwareId, ArpOperation, ArpPacketSlice, EtherType, IpNumber, Ipv6HeaderSlice,
    LaxLinkExtSlice, LaxNetSlice, LaxSlicedPacket, LinkSlice,
};

use super::check::{self, Pseudo};
use super::transport::{transport_fields, write_transport_summary, Transport};
use super::{ether_type_name, ip_number_name, ipv4_of, mac, mac_of, Fields};
use crate::arp;
use crate::ethernet::MacAddr;

pub(super) fn write_summary(f: &mut fmt::Formatter<'_>, frame: &[u8]) -> fmt::Result {
    let Ok(p) = LaxSlicedPacket::from_ethernet(frame) else {
        return write!(
            f,
            "truncated Ethernet frame ({} bytes, header needs 14)",
            frame.len()
        );
    };
    let Some(LinkSlice::Ethernet2(eth)) = &p.link else {
        return write!(f, "not an Ethernet frame, length {}", frame.len());
    };
    write_packet(
        f,
        &p,
        Some((mac(eth.source()), mac(eth.destination()))),
        eth.ether_type(),
        frame.len(),
    )
}

/// The summary of a packet sliced from a frame of `len` bytes: its network and transport
/// layers, or for anything else the link addresses (when the link has them) and EtherType.
pub(super) fn write_packet(
    f: &mut fmt::Formatter<'_>,
    p: &LaxSlicedPacket<'_>,
    addresses: Option<(MacAddr, MacAddr)>,
    ether_type: EtherType,
    len: usize,
) -> fmt::Result {
    let mut bad: Vec<&'static str> = Vec::new();
    for ext in &p.link_exts {
        match ext {
            LaxLinkExtSlice::Vlan(v) => write!(
                f,
                "vlan {}, p {}, ",
                v.vlan_identifier().value(),
                v.priority_code_point().value()
            )?,
            LaxLinkExtSlice::Macsec(_) => f.write_str("MACsec, ")?,
        }
    }
    match &p.net {
        Some(LaxNetSlice::Arp(a)) => write_arp_summary(f, a)?,
        Some(LaxNetSlice::Ipv4(ip)) => {
            let h = ip.header();
            let payload = ip.payload();
            let frag = h.more_fragments() || h.fragments_offset().value() != 0;
            let offset = usize::from(h.fragments_offset().value()) * 8;
            let ports = if offset == 0 {
                ports(payload.ip_number, payload.payload)
            } else {
                None
            };
            f.write_str("IP ")?;
            write_endpoints(f, h.source_addr(), h.destination_addr(), ports)?;
            if !check::ipv4_checksum_ok(&h) {
                bad.push("bad IPv4 checksum");
            }
            let pseudo = if payload.incomplete || payload.fragmented {
                Pseudo::None
            } else {
                Pseudo::V4(h.source(), h.destination())
            };
            // A payload cut by the snaplen is shown with the length its header declares.
            let declared = if payload.incomplete {
                let auth = ip.extensions().auth.map_or(0, |a| a.slice().len());
                usize::from(h.total_len()).saturating_sub(h.slice().len() + auth)
            } else {
                payload.payload.len()
            };
            if frag && offset != 0 {
                write!(f, "{}", ip_number_name(payload.ip_number))?;
            } else {
                let t = Transport {
                    proto: payload.ip_number,
                    data: payload.payload,
                    declared,
                    pseudo,
                };
                write_transport_summary(f, &t, &mut bad)?;
            }
            if frag {
                write!(
                    f,
                    " (frag 0x{:04x}:{}@{}{})",
                    h.identification(),
                    payload.payload.len(),
                    offset,
                    if h.more_fragments() { "+" } else { "" }
                )?;
            }
        }
        Some(LaxNetSlice::Ipv6(ip)) => {
            let h = ip.header();
            let payload = ip.payload();
            let ports = if payload.fragmented {
                None
            } else {
                ports(payload.ip_number, payload.payload)
            };
            f.write_str("IP6 ")?;
            write_endpoints(f, h.source_addr(), h.destination_addr(), ports)?;
            let pseudo = if payload.incomplete || payload.fragmented {
                Pseudo::None
            } else {
                Pseudo::V6(h.source(), h.destination())
            };
            let declared = if payload.incomplete {
                usize::from(h.payload_length()).saturating_sub(ip.extensions().slice().len())
            } else {
                payload.payload.len()
            };
            if payload.fragmented {
                write!(f, "{} (fragment)", ip_number_name(payload.ip_number))?;
            } else {
                let t = Transport {
                    proto: payload.ip_number,
                    data: payload.payload,
                    declared,
                    pseudo,
                };
                write_transport_summary(f, &t, &mut bad)?;
            }
        }
        None => {
            let t = p.link_exts.last().map_or(ether_type, |x| match x {
                LaxLinkExtSlice::Vlan(v) => v.ether_type(),
                LaxLinkExtSlice::Macsec(_) => EtherType::MACSEC,
            });
            if let Some((src, dst)) = addresses {
                write!(f, "{src} > {dst}, ")?;
            }
            f.write_str("ethertype ")?;
            match ether_type_name(t) {
                Some(n) => write!(f, "{n} (0x{:04x})", t.0)?,
                None => write!(f, "0x{:04x}", t.0)?,
            }
            write!(f, ", length {len}")?;
        }
    }
    if let Some((err, layer)) = &p.stop_err {
        write!(f, " [{layer} cut short or malformed: {err}]")?;
    }
    for b in bad {
        write!(f, " [{b}]")?;
    }
    Ok(())
}

/// tcpdump's ARP line. Ethernet/IPv4 requests and replies are read with the stack's own parser
/// ([`arp::Repr`]); anything else is described from the raw fields.
pub(super) fn write_arp_summary(f: &mut fmt::Formatter<'_>, a: &ArpPacketSlice<'_>) -> fmt::Result {
    let len = a.slice().len();
    if let Ok(r) = arp::Repr::parse(a.slice()) {
        let (sha, spa, tha, tpa) = (r.sender_mac, r.sender_ip, r.target_mac, r.target_ip);
        return match r.op {
            // RFC 5227 2.1.1: a probe has sender IP 0.0.0.0.
            arp::Operation::Request if spa.is_unspecified() => {
                write!(f, "ARP, Probe who-has {tpa} from {sha}, length {len}")
            }
            // RFC 5227 2.3: an announcement names the sender's own address as target.
            arp::Operation::Request if spa == tpa => {
                write!(f, "ARP, Announcement {spa} is-at {sha}, length {len}")
            }
            arp::Operation::Request => {
                write!(f, "ARP, Request who-has {tpa} tell {spa}, length {len}")
            }
            arp::Operation::Reply => {
                write!(f, "ARP, Reply {spa} is-at {sha}")?;
                if tha != MacAddr::ZERO {
                    write!(f, " to {tpa} ({tha})")?;
                }
                write!(f, ", length {len}")
            }
        };
    }
    let eth_ipv4 = a.hw_addr_type() == ArpHardwareId::ETHERNET
        && a.proto_addr_type() == EtherType::IPV4
        && a.hw_addr_size() == 6
        && a.proto_addr_size() == 4;
    match (
        ipv4_of(a.sender_protocol_addr()),
        ipv4_of(a.target_protocol_addr()),
    ) {
        // Ethernet/IPv4 with another opcode.
        (Some(spa), Some(tpa)) if eth_ipv4 => {
            write!(f, "ARP, op {} {spa} > {tpa}, length {len}", a.operation().0)
        }
        _ => write!(
            f,
            "ARP, hardware type {} protocol 0x{:04x} op {}, length {}",
            a.hw_addr_type().0,
            a.proto_addr_type().0,
            a.operation().0,
            len
        ),
    }
}

/// The ports of a TCP or UDP header at the start of `data`.
pub(super) fn ports(proto: IpNumber, data: &[u8]) -> Option<(u16, u16)> {
    if proto != IpNumber::TCP && proto != IpNumber::UDP {
        return None;
    }
    let p = data.get(..4)?;
    Some((
        u16::from_be_bytes([p[0], p[1]]),
        u16::from_be_bytes([p[2], p[3]]),
    ))
}

/// `src > dst: ` or, with ports, tcpdump's `src.port > dst.port: `.
pub(super) fn write_endpoints(
    f: &mut fmt::Formatter<'_>,
    src: impl fmt::Display,
    dst: impl fmt::Display,
    ports: Option<(u16, u16)>,
) -> fmt::Result {
    match ports {
        Some((sp, dp)) => write!(f, "{src}.{sp} > {dst}.{dp}: "),
        None => write!(f, "{src} > {dst}: "),
    }
}

pub(super) fn collect_fields<'a>(out: &mut Fields<'a>, frame: &'a [u8]) {
    let Ok(p) = LaxSlicedPacket::from_ethernet(frame) else {
        out.bytes("eth.truncated", frame);
        return;
    };
    let Some(LinkSlice::Ethernet2(eth)) = &p.link else {
        out.bytes("eth.unparsed", frame);
        return;
    };
    out.text("eth.dst", mac(eth.destination()));
    out.text("eth.src", mac(eth.source()));
    let t = eth.ether_type();
    out.noted(
        "eth.type",
        format_args!("0x{:04x}", t.0),
        ether_type_name(t).map(str::to_owned),
    );
    // Bytes used by the headers and payload; what follows is padding to the 60-byte minimum.
    let mut used = eth.header_slice().len();
    for ext in &p.link_exts {
        match ext {
            LaxLinkExtSlice::Vlan(v) => {
                out.text("vlan.pcp", v.priority_code_point().value());
                out.text("vlan.dei", u8::from(v.drop_eligible_indicator()));
                out.text("vlan.id", v.vlan_identifier().value());
                let t = v.ether_type();
                out.noted(
                    "vlan.type",
                    format_args!("0x{:04x}", t.0),
                    ether_type_name(t).map(str::to_owned),
                );
                used += v.header_slice().len();
            }
            LaxLinkExtSlice::Macsec(m) => {
                out.bytes("macsec.header", m.header.slice());
                used += m.header.slice().len();
            }
        }
    }
    collect_net(out, &p, frame, used);
}

/// The fields of the network layer and up of `p`, sliced from `frame` whose first `used`
/// bytes are link headers; bytes past the packet are padding.
pub(super) fn collect_net<'a>(
    out: &mut Fields<'a>,
    p: &LaxSlicedPacket<'a>,
    frame: &'a [u8],
    mut used: usize,
) {
    match &p.net {
        Some(LaxNetSlice::Arp(a)) => {
            arp_fields(out, a);
            used += a.slice().len();
        }
        Some(LaxNetSlice::Ipv4(ip)) => {
            let h = ip.header();
            let payload = ip.payload();
            out.text("ipv4.version", h.version());
            out.text("ipv4.ihl", h.ihl());
            out.text("ipv4.dscp", h.dcp().value());
            out.text("ipv4.ecn", h.ecn().value());
            out.text("ipv4.total_len", h.total_len());
            out.text("ipv4.id", format_args!("0x{:04x}", h.identification()));
            out.text("ipv4.df", u8::from(h.dont_fragment()));
            out.text("ipv4.mf", u8::from(h.more_fragments()));
            out.text("ipv4.frag_offset", h.fragments_offset().value());
            out.text("ipv4.ttl", h.ttl());
            out.noted(
                "ipv4.protocol",
                h.protocol().0,
                Some(ip_number_name(h.protocol())),
            );
            out.checksum("ipv4.checksum", h.header_checksum(), check::ipv4_want(&h));
            out.text("ipv4.src", h.source_addr());
            out.text("ipv4.dst", h.destination_addr());
            // The options are what the header holds past its fixed 20 bytes.
            let header = frame.get(used..used + h.slice().len()).unwrap_or_default();
            if let Some(options) = header.get(20..).filter(|o| !o.is_empty()) {
                out.bytes("ipv4.options", options);
            }
            let ext = ip.extensions();
            if let Some(auth) = &ext.auth {
                let at = used + header.len();
                let bytes = frame.get(at..at + auth.slice().len()).unwrap_or_default();
                out.bytes("ipv4.auth", bytes);
            }
            used += h.slice().len()
                + ext.auth.as_ref().map_or(0, |a| a.slice().len())
                + payload.payload.len();
            let pseudo = if payload.incomplete || payload.fragmented {
                Pseudo::None
            } else {
                Pseudo::V4(h.source(), h.destination())
            };
            if h.fragments_offset().value() == 0 {
                transport_fields(out, payload.ip_number, payload.payload, pseudo);
            } else {
                out.bytes("payload.data", payload.payload);
            }
        }
        Some(LaxNetSlice::Ipv6(ip)) => {
            let h: Ipv6HeaderSlice<'_> = ip.header();
            let payload = ip.payload();
            out.text("ipv6.version", h.version());
            out.text("ipv6.dscp", h.dscp().value());
            out.text("ipv6.ecn", h.ecn().value());
            out.text(
                "ipv6.flow_label",
                format_args!("0x{:05x}", h.flow_label().value()),
            );
            out.text("ipv6.payload_len", h.payload_length());
            out.noted(
                "ipv6.next_header",
                h.next_header().0,
                Some(ip_number_name(h.next_header())),
            );
            out.text("ipv6.hop_limit", h.hop_limit());
            out.text("ipv6.src", h.source_addr());
            out.text("ipv6.dst", h.destination_addr());
            let ext = ip.extensions().slice();
            if !ext.is_empty() {
                out.bytes("ipv6.extensions", ext);
            }
            used += h.slice().len() + ext.len() + payload.payload.len();
            let pseudo = if payload.incomplete || payload.fragmented {
                Pseudo::None
            } else {
                Pseudo::V6(h.source(), h.destination())
            };
            if payload.fragmented {
                out.bytes("payload.data", payload.payload);
            } else {
                transport_fields(out, payload.ip_number, payload.payload, pseudo);
            }
        }
        None => {
            let rest = frame.get(used..).unwrap_or_default();
            out.bytes("payload.data", rest);
            used = frame.len();
        }
    }
    if let Some((err, layer)) = &p.stop_err {
        out.text("error.at", format_args!("{layer}: {err}"));
    }
    if let Some(padding) = frame.get(used..).filter(|b| !b.is_empty()) {
        out.bytes("eth.padding", padding);
    }
}

pub(super) fn arp_fields<'a>(out: &mut Fields<'a>, a: &ArpPacketSlice<'a>) {
    let htype = a.hw_addr_type();
    out.noted(
        "arp.hw_type",
        htype.0,
        (htype == ArpHardwareId::ETHERNET).then(|| "Ethernet".to_owned()),
    );
    let ptype = a.proto_addr_type();
    out.noted(
        "arp.proto_type",
        format_args!("0x{:04x}", ptype.0),
        ether_type_name(ptype).map(str::to_owned),
    );
    out.text("arp.hw_len", a.hw_addr_size());
    out.text("arp.proto_len", a.proto_addr_size());
    let op = a.operation();
    let name = match op {
        ArpOperation::REQUEST => Some("request".to_owned()),
        ArpOperation::REPLY => Some("reply".to_owned()),
        _ => None,
    };
    out.noted("arp.op", op.0, name);
    arp_addresses(
        out,
        a,
        0,
        ["arp.sender_mac", "arp.sender_ip"],
        ["arp.sender_hw", "arp.sender_proto"],
    );
    arp_addresses(
        out,
        a,
        2,
        ["arp.target_mac", "arp.target_ip"],
        ["arp.target_hw", "arp.target_proto"],
    );
}

/// The sender's (`first` 0) or the target's (`first` 2) two addresses: as a MAC and an IPv4
/// address under `named` when they are those, else as bytes under `raw`.
fn arp_addresses<'a>(
    out: &mut Fields<'a>,
    a: &ArpPacketSlice<'a>,
    first: usize,
    named: [&'static str; 2],
    raw: [&'static str; 2],
) {
    let (hw, proto) = (arp_part(a, first), arp_part(a, first + 1));
    match (mac_of(hw), ipv4_of(proto)) {
        (Some(m), Some(i)) => {
            out.text(named[0], m);
            out.text(named[1], i);
        }
        _ => {
            out.bytes(raw[0], hw);
            out.bytes(raw[1], proto);
        }
    }
}

/// The `n`th address of an ARP packet (sender hardware, sender protocol, target hardware,
/// target protocol), borrowed from the frame.
pub(super) fn arp_part<'a>(a: &ArpPacketSlice<'a>, n: usize) -> &'a [u8] {
    let hw = usize::from(a.hw_addr_size());
    let proto = usize::from(a.proto_addr_size());
    let start = 8 + (n / 2) * (hw + proto) + (n % 2) * hw;
    let len = if n % 2 == 0 { hw } else { proto };
    let all: &'a [u8] = a.slice();
    all.get(start..start + len).unwrap_or_default()
}
