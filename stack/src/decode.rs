//! Readable decoding of Ethernet frames (Ethernet II, 802.1Q, ARP, IPv4, IPv6, ICMP, ICMPv6,
//! UDP, TCP), for people: a one-line summary in the manner of tcpdump, and every header field by
//! name.
//!
//! [`summary`] gives the line `tapstack dump` prints for a frame; [`fields`] lists every header
//! field as `layer.name = value` (what `tapstack dump -v` prints, grouped by layer, and what
//! `tapstack replay --expect` compares field by field). Checksums are verified, and a wrong one is
//! flagged in both.
//!
//! Parsing goes through etherparse's lax slicer, so a truncated or malformed frame decodes as far
//! as it goes and says where it stops. Nothing here panics, whatever the bytes.

use core::fmt::{self, Write as _};
use core::net::{Ipv4Addr, Ipv6Addr};

use etherparse::checksum::Sum16BitWords;
use etherparse::{
    ArpHardwareId, ArpOperation, ArpPacketSlice, EtherType, Icmpv4Slice, Icmpv4Type, Icmpv6Slice,
    Icmpv6Type, IpNumber, Ipv4HeaderSlice, Ipv6HeaderSlice, LaxLinkExtSlice, LaxNetSlice,
    LaxSlicedPacket, LinkSlice, TcpOptionElement, TcpOptionReadError, TcpSlice, UdpSlice,
};

use crate::ethernet::MacAddr;

/// The one-line summary of `frame`, e.g.
/// `IP 10.77.0.1.43736 > 10.77.0.2.9: Flags [S], seq 1, win 64240, options [mss 1460], length 0`.
pub fn summary(frame: &[u8]) -> Summary<'_> {
    Summary { frame }
}

/// A frame's one-line summary; see [`summary`].
#[derive(Clone, Copy, Debug)]
pub struct Summary<'a> {
    frame: &'a [u8],
}

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_summary(f, self.frame)
    }
}

/// Every header field of `frame`, in wire order, layer by layer.
pub fn fields(frame: &[u8]) -> Vec<Field<'_>> {
    let mut out = Fields(Vec::with_capacity(32));
    collect_fields(&mut out, frame);
    out.0
}

/// The verbose form of `frame`: one line per layer, `layer: name=value ...`, each line indented
/// by `indent` spaces and ended by a newline.
pub fn verbose(frame: &[u8], indent: usize) -> Verbose<'_> {
    Verbose { frame, indent }
}

/// A frame's verbose form; see [`verbose`].
#[derive(Clone, Copy, Debug)]
pub struct Verbose<'a> {
    frame: &'a [u8],
    indent: usize,
}

impl fmt::Display for Verbose<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields = fields(self.frame);
        let mut layer = "";
        for field in &fields {
            if field.layer() != layer {
                if !layer.is_empty() {
                    f.write_char('\n')?;
                }
                layer = field.layer();
                write!(f, "{:indent$}{layer}:", "", indent = self.indent)?;
            }
            write!(f, " {}={}", field.short_name(), field.value)?;
            if let Some(note) = &field.note {
                write!(f, " ({note})")?;
            }
        }
        if !layer.is_empty() {
            f.write_char('\n')?;
        }
        Ok(())
    }
}

/// One header field: `name` is `layer.field` (`ipv4.ttl`, `tcp.seq`, `payload.data`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field<'a> {
    /// `layer.field`.
    pub name: &'static str,
    /// The value as it is on the wire.
    pub value: Value<'a>,
    /// A remark that is not part of the value (a protocol name, "incorrect, should be 0x1234").
    pub note: Option<String>,
}

impl Field<'_> {
    /// The layer: the part of the name before the first dot.
    pub fn layer(&self) -> &'static str {
        self.name.split_once('.').map_or(self.name, |(l, _)| l)
    }

    /// The name within its layer.
    pub fn short_name(&self) -> &'static str {
        self.name.split_once('.').map_or(self.name, |(_, n)| n)
    }

    /// True when this is a checksum field whose value does not match the data it covers.
    pub fn is_bad_checksum(&self) -> bool {
        self.name.ends_with(".checksum")
            && self
                .note
                .as_deref()
                .is_some_and(|n| n.starts_with("incorrect"))
    }
}

/// A field's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    /// A number, address, flag set or name, as printed.
    Text(String),
    /// Raw bytes (payloads, padding, unparsed options), borrowed from the frame.
    Bytes(&'a [u8]),
}

impl fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Text(t) => f.write_str(t),
            Value::Bytes(b) => write_bytes(f, b, 48),
        }
    }
}

/// Bytes as a quoted string when they are mostly text, as hex otherwise; at most `max` shown.
fn write_bytes(f: &mut dyn fmt::Write, b: &[u8], max: usize) -> fmt::Result {
    let shown = b.get(..max).unwrap_or(b);
    let printable = shown
        .iter()
        .filter(|c| c.is_ascii_graphic() || matches!(c, b' ' | b'\n' | b'\r' | b'\t'))
        .count();
    write!(f, "({} bytes)", b.len())?;
    if b.is_empty() {
        return Ok(());
    }
    if printable * 4 >= shown.len() * 3 {
        f.write_str(" \"")?;
        for &c in shown {
            write!(f, "{}", core::ascii::escape_default(c))?;
        }
        f.write_char('"')?;
    } else {
        f.write_char(' ')?;
        for c in shown {
            write!(f, "{c:02x}")?;
        }
    }
    if b.len() > shown.len() {
        write!(f, "...")?;
    }
    Ok(())
}

/// One byte in hex, with its character when it is printable: `0x41 'A'`.
pub fn byte_text(b: u8) -> String {
    if b.is_ascii_graphic() || b == b' ' {
        format!("0x{b:02x} '{}'", char::from(b))
    } else {
        format!("0x{b:02x}")
    }
}

struct Fields<'a>(Vec<Field<'a>>);

impl<'a> Fields<'a> {
    fn text(&mut self, name: &'static str, value: impl fmt::Display) {
        self.0.push(Field {
            name,
            value: Value::Text(value.to_string()),
            note: None,
        });
    }

    fn noted(&mut self, name: &'static str, value: impl fmt::Display, note: Option<String>) {
        self.0.push(Field {
            name,
            value: Value::Text(value.to_string()),
            note,
        });
    }

    fn bytes(&mut self, name: &'static str, b: &'a [u8]) {
        self.0.push(Field {
            name,
            value: Value::Bytes(b),
            note: None,
        });
    }

    fn checksum(&mut self, name: &'static str, got: u16, want: Option<u16>) {
        let note = want.map(|w| {
            if w == got {
                "correct".to_owned()
            } else {
                format!("incorrect, should be 0x{w:04x}")
            }
        });
        self.noted(name, format_args!("0x{got:04x}"), note);
    }
}

// ---------------------------------------------------------------------------------------------
// Checksums (RFC 1071), computed here from the bytes so that a wrong one can be shown.

/// The checksum `data` should carry in the 16-bit field at `at` (an even offset), with the
/// pseudo-header sum `start` already added.
fn checksum_of(start: Sum16BitWords, data: &[u8], at: usize) -> Option<u16> {
    let before = data.get(..at)?;
    let after = data.get(at + 2..)?;
    Some(
        start
            .add_slice(before)
            .add_slice(after)
            .ones_complement()
            .to_be(),
    )
}

/// IPv4 pseudo-header (RFC 793 3.1, RFC 768).
fn pseudo_v4(src: [u8; 4], dst: [u8; 4], proto: u8, len: usize) -> Option<Sum16BitWords> {
    let len = u16::try_from(len).ok()?;
    Some(
        Sum16BitWords::new()
            .add_slice(&src)
            .add_slice(&dst)
            .add_2bytes([0, proto])
            .add_2bytes(len.to_be_bytes()),
    )
}

/// IPv6 pseudo-header (RFC 8200 8.1).
fn pseudo_v6(src: [u8; 16], dst: [u8; 16], proto: u8, len: usize) -> Option<Sum16BitWords> {
    let len = u32::try_from(len).ok()?;
    Some(
        Sum16BitWords::new()
            .add_slice(&src)
            .add_slice(&dst)
            .add_slice(&len.to_be_bytes())
            .add_2bytes([0, 0])
            .add_2bytes([0, proto]),
    )
}

/// Where a transport checksum is computed from: the pseudo-header, when the IP payload is
/// complete (a cut or fragmented payload cannot be checked).
#[derive(Clone, Copy)]
enum Pseudo {
    V4([u8; 4], [u8; 4]),
    V6([u8; 16], [u8; 16]),
    None,
}

impl Pseudo {
    fn sum(self, proto: IpNumber, len: usize) -> Option<Sum16BitWords> {
        match self {
            Pseudo::V4(s, d) => pseudo_v4(s, d, proto.0, len),
            Pseudo::V6(s, d) => pseudo_v6(s, d, proto.0, len),
            Pseudo::None => None,
        }
    }
}

fn ipv4_checksum_ok(h: &Ipv4HeaderSlice<'_>) -> bool {
    checksum_of(Sum16BitWords::new(), h.slice(), 10) == Some(h.header_checksum())
}

/// UDP over IPv4 may carry no checksum (zero); a computed zero is sent as 0xffff (RFC 768).
fn udp_want(pseudo: Pseudo, u: &UdpSlice<'_>) -> Option<u16> {
    if matches!(pseudo, Pseudo::V4(..)) && u.checksum() == 0 {
        return None;
    }
    let sum = pseudo.sum(IpNumber::UDP, u.slice().len())?;
    checksum_of(sum, u.slice(), 6).map(|c| if c == 0 { 0xffff } else { c })
}

fn tcp_want(pseudo: Pseudo, t: &TcpSlice<'_>) -> Option<u16> {
    let sum = pseudo.sum(IpNumber::TCP, t.slice().len())?;
    checksum_of(sum, t.slice(), 16)
}

fn icmpv4_want(i: &Icmpv4Slice<'_>) -> Option<u16> {
    checksum_of(Sum16BitWords::new(), i.slice(), 2)
}

fn icmpv6_want(pseudo: Pseudo, i: &Icmpv6Slice<'_>) -> Option<u16> {
    let sum = pseudo.sum(IpNumber::IPV6_ICMP, i.slice().len())?;
    checksum_of(sum, i.slice(), 2)
}

// ---------------------------------------------------------------------------------------------
// Names.

fn ether_type_name(t: EtherType) -> Option<&'static str> {
    Some(match t {
        EtherType::IPV4 => "IPv4",
        EtherType::IPV6 => "IPv6",
        EtherType::ARP => "ARP",
        EtherType::VLAN_TAGGED_FRAME => "802.1Q",
        EtherType::PROVIDER_BRIDGING => "802.1ad",
        EtherType::VLAN_DOUBLE_TAGGED_FRAME => "QinQ",
        EtherType::MACSEC => "MACsec",
        EtherType::WAKE_ON_LAN => "Wake-on-LAN",
        EtherType(0x88cc) => "LLDP",
        EtherType(0x8863) => "PPPoE discovery",
        EtherType(0x8864) => "PPPoE session",
        EtherType(0x8847) => "MPLS",
        EtherType(0x88f7) => "PTP",
        _ => return None,
    })
}

fn ip_number_name(p: IpNumber) -> String {
    match p {
        IpNumber::ICMP => "ICMP".to_owned(),
        IpNumber::IPV6_ICMP => "ICMPv6".to_owned(),
        IpNumber::TCP => "TCP".to_owned(),
        IpNumber::UDP => "UDP".to_owned(),
        other => other
            .keyword_str()
            .map_or_else(|| format!("ip-proto-{}", other.0), str::to_owned),
    }
}

fn mac(b: [u8; 6]) -> MacAddr {
    MacAddr(b)
}

fn mac_of(b: &[u8]) -> Option<MacAddr> {
    <[u8; 6]>::try_from(b).ok().map(MacAddr)
}

fn ipv4_of(b: &[u8]) -> Option<Ipv4Addr> {
    <[u8; 4]>::try_from(b).ok().map(Ipv4Addr::from)
}

fn tcp_flags(t: &TcpSlice<'_>) -> String {
    // tcpdump's letters and order: F S R P . U E W (and N for the old ECN nonce).
    let mut s = String::with_capacity(8);
    for (on, c) in [
        (t.fin(), 'F'),
        (t.syn(), 'S'),
        (t.rst(), 'R'),
        (t.psh(), 'P'),
        (t.ack(), '.'),
        (t.urg(), 'U'),
        (t.ece(), 'E'),
        (t.cwr(), 'W'),
        (t.ns(), 'N'),
    ] {
        if on {
            s.push(c);
        }
    }
    if s.is_empty() {
        s.push_str("none");
    }
    s
}

/// TCP options as tcpdump lists them: `mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7`.
fn write_tcp_options(f: &mut dyn fmt::Write, t: &TcpSlice<'_>) -> fmt::Result {
    let mut first = true;
    for o in t.options_iterator() {
        if !first {
            f.write_char(',')?;
        }
        first = false;
        match o {
            Ok(TcpOptionElement::Noop) => f.write_str("nop")?,
            Ok(TcpOptionElement::MaximumSegmentSize(m)) => write!(f, "mss {m}")?,
            Ok(TcpOptionElement::WindowScale(w)) => write!(f, "wscale {w}")?,
            Ok(TcpOptionElement::SelectiveAcknowledgementPermitted) => f.write_str("sackOK")?,
            Ok(TcpOptionElement::SelectiveAcknowledgement(a, rest)) => {
                f.write_str("sack")?;
                for (l, r) in core::iter::once(a).chain(rest.into_iter().flatten()) {
                    write!(f, " {{{l}:{r}}}")?;
                }
            }
            Ok(TcpOptionElement::Timestamp(v, e)) => write!(f, "TS val {v} ecr {e}")?,
            Err(TcpOptionReadError::UnknownId(id)) => {
                write!(f, "opt-{id}")?;
                break;
            }
            Err(TcpOptionReadError::UnexpectedSize { option_id, size }) => {
                write!(f, "bad opt-{option_id} len {size}")?;
                break;
            }
            Err(TcpOptionReadError::UnexpectedEndOfSlice { option_id, .. }) => {
                write!(f, "opt-{option_id} cut")?;
                break;
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The one-line summary.

fn write_summary(f: &mut fmt::Formatter<'_>, frame: &[u8]) -> fmt::Result {
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
            if !ipv4_checksum_ok(&h) {
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
            let t = p.link_exts.last().map_or(eth.ether_type(), |x| match x {
                LaxLinkExtSlice::Vlan(v) => v.ether_type(),
                LaxLinkExtSlice::Macsec(_) => EtherType::MACSEC,
            });
            write!(
                f,
                "{} > {}, ethertype ",
                mac(eth.source()),
                mac(eth.destination())
            )?;
            match ether_type_name(t) {
                Some(n) => write!(f, "{n} (0x{:04x})", t.0)?,
                None => write!(f, "0x{:04x}", t.0)?,
            }
            write!(f, ", length {}", frame.len())?;
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

fn write_arp_summary(f: &mut fmt::Formatter<'_>, a: &ArpPacketSlice<'_>) -> fmt::Result {
    let eth_ipv4 = a.hw_addr_type() == ArpHardwareId::ETHERNET
        && a.proto_addr_type() == EtherType::IPV4
        && a.hw_addr_size() == 6
        && a.proto_addr_size() == 4;
    let (Some(sha), Some(spa), Some(tha), Some(tpa)) = (
        mac_of(a.sender_hw_addr()),
        ipv4_of(a.sender_protocol_addr()),
        mac_of(a.target_hw_addr()),
        ipv4_of(a.target_protocol_addr()),
    ) else {
        return write!(
            f,
            "ARP, hardware type {} protocol 0x{:04x} op {}, length {}",
            a.hw_addr_type().0,
            a.proto_addr_type().0,
            a.operation().0,
            a.slice().len()
        );
    };
    if !eth_ipv4 {
        return write!(
            f,
            "ARP, hardware type {} protocol 0x{:04x} op {}, length {}",
            a.hw_addr_type().0,
            a.proto_addr_type().0,
            a.operation().0,
            a.slice().len()
        );
    }
    let len = a.slice().len();
    match a.operation() {
        // RFC 5227 2.1.1: a probe has sender IP 0.0.0.0.
        ArpOperation::REQUEST if spa.is_unspecified() => {
            write!(f, "ARP, Probe who-has {tpa} from {sha}, length {len}")
        }
        // RFC 5227 2.3: an announcement names the sender's own address as target.
        ArpOperation::REQUEST if spa == tpa => {
            write!(f, "ARP, Announcement {spa} is-at {sha}, length {len}")
        }
        ArpOperation::REQUEST => write!(f, "ARP, Request who-has {tpa} tell {spa}, length {len}"),
        ArpOperation::REPLY => {
            write!(f, "ARP, Reply {spa} is-at {sha}")?;
            if tha != MacAddr::ZERO {
                write!(f, " to {tpa} ({tha})")?;
            }
            write!(f, ", length {len}")
        }
        op => write!(f, "ARP, op {} {spa} > {tpa}, length {len}", op.0),
    }
}

/// The transport part of an IP packet, for its summary.
struct Transport<'a> {
    proto: IpNumber,
    /// The bytes captured.
    data: &'a [u8],
    /// The length the IP header gives (more than `data` when the snaplen cut the frame).
    declared: usize,
    pseudo: Pseudo,
}

fn write_transport_summary(
    f: &mut fmt::Formatter<'_>,
    tr: &Transport<'_>,
    bad: &mut Vec<&'static str>,
) -> fmt::Result {
    let (data, pseudo) = (tr.data, tr.pseudo);
    match tr.proto {
        IpNumber::TCP => match TcpSlice::from_slice(data) {
            Ok(t) => {
                write!(f, "Flags [{}], seq {}", tcp_flags(&t), t.sequence_number())?;
                let len = tr.declared.saturating_sub(t.header_len());
                if len > 0 {
                    write!(
                        f,
                        ":{}",
                        t.sequence_number()
                            .wrapping_add(u32::try_from(len).unwrap_or(u32::MAX))
                    )?;
                }
                if t.ack() {
                    write!(f, ", ack {}", t.acknowledgment_number())?;
                }
                write!(f, ", win {}", t.window_size())?;
                if t.urg() {
                    write!(f, ", urg {}", t.urgent_pointer())?;
                }
                if !t.options().is_empty() {
                    f.write_str(", options [")?;
                    write_tcp_options(f, &t)?;
                    f.write_char(']')?;
                }
                write!(f, ", length {len}")?;
                if tcp_want(pseudo, &t).is_some_and(|w| w != t.checksum()) {
                    bad.push("bad TCP checksum");
                }
                Ok(())
            }
            Err(_) => write!(f, "TCP [header cut short, {} bytes]", data.len()),
        },
        IpNumber::UDP => match UdpSlice::from_slice_lax(data) {
            Ok(u) => {
                let len = usize::from(u.length()).saturating_sub(8);
                let body = data.get(8..).unwrap_or_default();
                let body = body.get(..len).unwrap_or(body);
                let (sp, dp) = (u.source_port(), u.destination_port());
                if matches!((sp, dp), (67 | 68, 67 | 68)) {
                    write_dhcp_summary(f, body)?;
                } else if sp == 53 || dp == 53 {
                    write_dns_summary(f, body)?;
                }
                write!(f, "UDP, length {len}")?;
                if udp_want(pseudo, &u).is_some_and(|w| w != u.checksum()) {
                    bad.push("bad UDP checksum");
                }
                Ok(())
            }
            Err(_) => write!(f, "UDP [header cut short, {} bytes]", data.len()),
        },
        IpNumber::ICMP => match Icmpv4Slice::from_slice(data) {
            Ok(i) => {
                write_icmpv4_summary(f, &i, tr.declared)?;
                if pseudo_complete(pseudo) && icmpv4_want(&i).is_some_and(|w| w != i.checksum()) {
                    bad.push("bad ICMP checksum");
                }
                Ok(())
            }
            Err(_) => write!(f, "ICMP [header cut short, {} bytes]", data.len()),
        },
        IpNumber::IPV6_ICMP => match Icmpv6Slice::from_slice(data) {
            Ok(i) => {
                write_icmpv6_summary(f, &i, tr.declared)?;
                if icmpv6_want(pseudo, &i).is_some_and(|w| w != i.checksum()) {
                    bad.push("bad ICMPv6 checksum");
                }
                Ok(())
            }
            Err(_) => write!(f, "ICMP6 [header cut short, {} bytes]", data.len()),
        },
        other => write!(f, "{}, length {}", ip_number_name(other), tr.declared),
    }
}

/// `DHCP Request, xid 0x..., from MAC, ciaddr/yiaddr/requested/server when set, ` (like
/// tcpdump's BOOTP line); nothing when the message does not parse.
fn write_dhcp_summary(f: &mut fmt::Formatter<'_>, body: &[u8]) -> fmt::Result {
    let Ok(r) = crate::dhcp::Repr::parse_bytes(body) else {
        return Ok(());
    };
    use crate::dhcp::MessageType as M;
    let kind = match r.message_type {
        M::Discover => "Discover".to_owned(),
        M::Offer => "Offer".to_owned(),
        M::Request => "Request".to_owned(),
        M::Decline => "Decline".to_owned(),
        M::Ack => "ACK".to_owned(),
        M::Nak => "NAK".to_owned(),
        M::Release => "Release".to_owned(),
        M::Inform => "Inform".to_owned(),
        M::Unknown(t) => format!("type {t}"),
    };
    write!(f, "DHCP {kind}, xid {:#010x}, client {}", r.xid, r.chaddr)?;
    for (name, a) in [("ciaddr", r.ciaddr), ("yiaddr", r.yiaddr)] {
        if !a.is_unspecified() {
            write!(f, ", {name} {a}")?;
        }
    }
    if let Some(a) = r.requested_addr {
        write!(f, ", requested {a}")?;
    }
    if let Some(a) = r.server_id {
        write!(f, ", server {a}")?;
    }
    if let Some(t) = r.lease_time {
        write!(f, ", lease {t}s")?;
    }
    f.write_str(", ")
}

/// `DNS 0x1234 A? name` for a query, `DNS 0x1234 NOERROR 2/0/1 A? name` for a response
/// (answers/authority/additional); nothing when the message does not parse.
fn write_dns_summary(f: &mut fmt::Formatter<'_>, body: &[u8]) -> fmt::Result {
    let Ok(p) = simple_dns::Packet::parse(body) else {
        return Ok(());
    };
    write!(f, "DNS {:#06x}", p.id())?;
    if p.has_flags(simple_dns::PacketFlag::RESPONSE) {
        write!(
            f,
            " {:?} {}/{}/{}",
            p.rcode(),
            p.answers.len(),
            p.name_servers.len(),
            p.additional_records.len()
        )?;
    }
    if let Some(q) = p.questions.first() {
        match q.qtype {
            simple_dns::QTYPE::TYPE(t) => write!(f, " {t:?}? {}", q.qname)?,
            other => write!(f, " {other:?}? {}", q.qname)?,
        }
    }
    f.write_str(", ")
}

/// The ports of a TCP or UDP header at the start of `data`.
fn ports(proto: IpNumber, data: &[u8]) -> Option<(u16, u16)> {
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
fn write_endpoints(
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

fn pseudo_complete(p: Pseudo) -> bool {
    !matches!(p, Pseudo::None)
}

/// The datagram an ICMP error quotes: "udp port 9" or "tcp port 80", when it can be read.
fn quoted(payload: &[u8]) -> Option<(Ipv4Addr, String)> {
    let h = Ipv4HeaderSlice::from_slice(payload).ok()?;
    let rest = payload.get(h.slice().len()..)?;
    let port = rest
        .get(2..4)
        .map(|p| u16::from_be_bytes([p[0], p[1]]))
        .unwrap_or_default();
    let what = match h.protocol() {
        IpNumber::UDP => format!("udp port {port}"),
        IpNumber::TCP => format!("tcp port {port}"),
        other => format!("protocol {}", ip_number_name(other)),
    };
    Some((h.destination_addr(), what))
}

fn write_icmpv4_summary(
    f: &mut fmt::Formatter<'_>,
    i: &Icmpv4Slice<'_>,
    len: usize,
) -> fmt::Result {
    use etherparse::icmpv4::DestUnreachableHeader as U;
    f.write_str("ICMP ")?;
    match i.icmp_type() {
        Icmpv4Type::EchoRequest(e) => {
            write!(f, "echo request, id {}, seq {}", e.id, e.seq)?;
        }
        Icmpv4Type::EchoReply(e) => write!(f, "echo reply, id {}, seq {}", e.id, e.seq)?,
        Icmpv4Type::DestinationUnreachable(u) => {
            let q = quoted(i.payload());
            match (u, &q) {
                (U::Port, Some((a, what))) => write!(f, "{a} {what} unreachable")?,
                (U::Protocol, Some((a, what))) => write!(f, "{a} {what} unreachable")?,
                (U::FragmentationNeeded { next_hop_mtu }, Some((a, _))) => {
                    write!(f, "{a} unreachable - need to frag (mtu {next_hop_mtu})")?
                }
                (_, Some((a, _))) => write!(f, "{a} unreachable (code {})", i.code_u8())?,
                (_, None) => write!(f, "destination unreachable (code {})", i.code_u8())?,
            }
        }
        Icmpv4Type::TimeExceeded(_) => write!(f, "time exceeded (code {})", i.code_u8())?,
        Icmpv4Type::Redirect(_) => write!(f, "redirect (code {})", i.code_u8())?,
        Icmpv4Type::ParameterProblem(_) => write!(f, "parameter problem (code {})", i.code_u8())?,
        Icmpv4Type::TimestampRequest(_) => f.write_str("time stamp request")?,
        Icmpv4Type::TimestampReply(_) => f.write_str("time stamp reply")?,
        Icmpv4Type::Unknown {
            type_u8, code_u8, ..
        } => write!(f, "type {type_u8} code {code_u8}")?,
    }
    write!(f, ", length {len}")
}

fn write_icmpv6_summary(
    f: &mut fmt::Formatter<'_>,
    i: &Icmpv6Slice<'_>,
    len: usize,
) -> fmt::Result {
    let target = i
        .payload()
        .get(..16)
        .and_then(|b| <[u8; 16]>::try_from(b).ok())
        .map(Ipv6Addr::from);
    f.write_str("ICMP6, ")?;
    match i.icmp_type() {
        Icmpv6Type::EchoRequest(e) => write!(f, "echo request, id {}, seq {}", e.id, e.seq)?,
        Icmpv6Type::EchoReply(e) => write!(f, "echo reply, id {}, seq {}", e.id, e.seq)?,
        Icmpv6Type::NeighborSolicitation => match target {
            Some(t) => write!(f, "neighbor solicitation, who has {t}")?,
            None => f.write_str("neighbor solicitation")?,
        },
        Icmpv6Type::NeighborAdvertisement(_) => match target {
            Some(t) => write!(f, "neighbor advertisement, tgt is {t}")?,
            None => f.write_str("neighbor advertisement")?,
        },
        Icmpv6Type::RouterSolicitation => f.write_str("router solicitation")?,
        Icmpv6Type::RouterAdvertisement(_) => f.write_str("router advertisement")?,
        Icmpv6Type::Redirect => f.write_str("redirect")?,
        Icmpv6Type::DestinationUnreachable(_) => {
            write!(f, "destination unreachable (code {})", i.code_u8())?
        }
        Icmpv6Type::PacketTooBig { mtu } => write!(f, "packet too big, mtu {mtu}")?,
        Icmpv6Type::TimeExceeded(_) => write!(f, "time exceeded (code {})", i.code_u8())?,
        Icmpv6Type::ParameterProblem(_) => write!(f, "parameter problem (code {})", i.code_u8())?,
        Icmpv6Type::Unknown {
            type_u8, code_u8, ..
        } => match type_u8 {
            130 => f.write_str("multicast listener query")?,
            131 => f.write_str("multicast listener report")?,
            143 => f.write_str("multicast listener report v2")?,
            _ => write!(f, "type {type_u8} code {code_u8}")?,
        },
    }
    write!(f, ", length {len}")
}

// ---------------------------------------------------------------------------------------------
// Every field.

fn collect_fields<'a>(out: &mut Fields<'a>, frame: &'a [u8]) {
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
            out.checksum(
                "ipv4.checksum",
                h.header_checksum(),
                checksum_of(Sum16BitWords::new(), h.slice(), 10),
            );
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

fn arp_fields<'a>(out: &mut Fields<'a>, a: &ArpPacketSlice<'a>) {
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
    match (
        mac_of(a.sender_hw_addr()),
        ipv4_of(a.sender_protocol_addr()),
    ) {
        (Some(m), Some(i)) => {
            out.text("arp.sender_mac", m);
            out.text("arp.sender_ip", i);
        }
        _ => {
            out.bytes("arp.sender_hw", arp_part(a, 0));
            out.bytes("arp.sender_proto", arp_part(a, 1));
        }
    }
    match (
        mac_of(a.target_hw_addr()),
        ipv4_of(a.target_protocol_addr()),
    ) {
        (Some(m), Some(i)) => {
            out.text("arp.target_mac", m);
            out.text("arp.target_ip", i);
        }
        _ => {
            out.bytes("arp.target_hw", arp_part(a, 2));
            out.bytes("arp.target_proto", arp_part(a, 3));
        }
    }
}

/// The `n`th address of an ARP packet (sender hardware, sender protocol, target hardware,
/// target protocol), borrowed from the frame.
fn arp_part<'a>(a: &ArpPacketSlice<'a>, n: usize) -> &'a [u8] {
    let hw = usize::from(a.hw_addr_size());
    let proto = usize::from(a.proto_addr_size());
    let start = 8 + (n / 2) * (hw + proto) + (n % 2) * hw;
    let len = if n % 2 == 0 { hw } else { proto };
    let all: &'a [u8] = a.slice();
    all.get(start..start + len).unwrap_or_default()
}

fn transport_fields<'a>(out: &mut Fields<'a>, proto: IpNumber, data: &'a [u8], pseudo: Pseudo) {
    match proto {
        IpNumber::TCP => {
            let Ok(t) = TcpSlice::from_slice(data) else {
                out.bytes("tcp.truncated", data);
                return;
            };
            out.text("tcp.src_port", t.source_port());
            out.text("tcp.dst_port", t.destination_port());
            out.text("tcp.seq", t.sequence_number());
            out.text("tcp.ack", t.acknowledgment_number());
            out.text("tcp.data_offset", t.data_offset());
            out.text("tcp.flags", tcp_flags(&t));
            out.text("tcp.window", t.window_size());
            out.checksum("tcp.checksum", t.checksum(), tcp_want(pseudo, &t));
            out.text("tcp.urgent", t.urgent_pointer());
            tcp_option_fields(out, &t);
            out.bytes("payload.data", t.payload());
        }
        IpNumber::UDP => {
            let Ok(u) = UdpSlice::from_slice_lax(data) else {
                out.bytes("udp.truncated", data);
                return;
            };
            out.text("udp.src_port", u.source_port());
            out.text("udp.dst_port", u.destination_port());
            out.text("udp.length", u.length());
            let want = udp_want(pseudo, &u);
            if u.checksum() == 0 && matches!(pseudo, Pseudo::V4(..)) {
                out.noted("udp.checksum", "0x0000", Some("none".to_owned()));
            } else {
                out.checksum("udp.checksum", u.checksum(), want);
            }
            out.bytes("payload.data", u.payload());
        }
        IpNumber::ICMP => {
            let Ok(i) = Icmpv4Slice::from_slice(data) else {
                out.bytes("icmp.truncated", data);
                return;
            };
            out.text("icmp.type", i.type_u8());
            out.text("icmp.code", i.code_u8());
            let want = pseudo_complete(pseudo).then(|| icmpv4_want(&i)).flatten();
            out.checksum("icmp.checksum", i.checksum(), want);
            match i.icmp_type() {
                Icmpv4Type::EchoRequest(e) | Icmpv4Type::EchoReply(e) => {
                    out.text("icmp.id", e.id);
                    out.text("icmp.seq", e.seq);
                }
                _ => {
                    let r = i.bytes5to8();
                    out.text(
                        "icmp.rest",
                        format_args!("{:02x}{:02x}{:02x}{:02x}", r[0], r[1], r[2], r[3]),
                    );
                }
            }
            out.bytes("payload.data", i.payload());
        }
        IpNumber::IPV6_ICMP => {
            let Ok(i) = Icmpv6Slice::from_slice(data) else {
                out.bytes("icmpv6.truncated", data);
                return;
            };
            out.text("icmpv6.type", i.type_u8());
            out.text("icmpv6.code", i.code_u8());
            out.checksum("icmpv6.checksum", i.checksum(), icmpv6_want(pseudo, &i));
            let r = i.bytes5to8();
            out.text(
                "icmpv6.rest",
                format_args!("{:02x}{:02x}{:02x}{:02x}", r[0], r[1], r[2], r[3]),
            );
            out.bytes("payload.data", i.payload());
        }
        _ => out.bytes("payload.data", data),
    }
}

fn tcp_option_fields<'a>(out: &mut Fields<'a>, t: &TcpSlice<'a>) {
    if t.options().is_empty() {
        return;
    }
    let mut kinds = String::new();
    let mut values: Vec<(&'static str, String)> = Vec::new();
    for o in t.options_iterator() {
        if !kinds.is_empty() {
            kinds.push(',');
        }
        match o {
            Ok(TcpOptionElement::Noop) => kinds.push_str("nop"),
            Ok(TcpOptionElement::MaximumSegmentSize(m)) => {
                kinds.push_str("mss");
                values.push(("tcp.mss", m.to_string()));
            }
            Ok(TcpOptionElement::WindowScale(w)) => {
                kinds.push_str("wscale");
                values.push(("tcp.wscale", w.to_string()));
            }
            Ok(TcpOptionElement::SelectiveAcknowledgementPermitted) => kinds.push_str("sackOK"),
            Ok(TcpOptionElement::SelectiveAcknowledgement(a, rest)) => {
                kinds.push_str("sack");
                let mut blocks = String::new();
                for (l, r) in core::iter::once(a).chain(rest.into_iter().flatten()) {
                    if !blocks.is_empty() {
                        blocks.push(' ');
                    }
                    let _ = write!(blocks, "{l}:{r}");
                }
                values.push(("tcp.sack", blocks));
            }
            Ok(TcpOptionElement::Timestamp(v, e)) => {
                kinds.push_str("TS");
                values.push(("tcp.ts_val", v.to_string()));
                values.push(("tcp.ts_ecr", e.to_string()));
            }
            Err(e) => {
                let _ = write!(kinds, "unreadable ({e:?})");
                break;
            }
        }
    }
    out.text("tcp.options", kinds);
    for (name, v) in values {
        out.text(name, v);
    }
}

/// Every field name [`fields`] can produce.
pub const FIELD_NAMES: &[&str] = &[
    "eth.truncated",
    "eth.unparsed",
    "eth.dst",
    "eth.src",
    "eth.type",
    "eth.padding",
    "vlan.pcp",
    "vlan.dei",
    "vlan.id",
    "vlan.type",
    "macsec.header",
    "arp.hw_type",
    "arp.proto_type",
    "arp.hw_len",
    "arp.proto_len",
    "arp.op",
    "arp.sender_mac",
    "arp.sender_ip",
    "arp.sender_hw",
    "arp.sender_proto",
    "arp.target_mac",
    "arp.target_ip",
    "arp.target_hw",
    "arp.target_proto",
    "ipv4.version",
    "ipv4.ihl",
    "ipv4.dscp",
    "ipv4.ecn",
    "ipv4.total_len",
    "ipv4.id",
    "ipv4.df",
    "ipv4.mf",
    "ipv4.frag_offset",
    "ipv4.ttl",
    "ipv4.protocol",
    "ipv4.checksum",
    "ipv4.src",
    "ipv4.dst",
    "ipv4.options",
    "ipv4.auth",
    "ipv6.version",
    "ipv6.dscp",
    "ipv6.ecn",
    "ipv6.flow_label",
    "ipv6.payload_len",
    "ipv6.next_header",
    "ipv6.hop_limit",
    "ipv6.src",
    "ipv6.dst",
    "ipv6.extensions",
    "tcp.truncated",
    "tcp.src_port",
    "tcp.dst_port",
    "tcp.seq",
    "tcp.ack",
    "tcp.data_offset",
    "tcp.flags",
    "tcp.window",
    "tcp.checksum",
    "tcp.urgent",
    "tcp.options",
    "tcp.mss",
    "tcp.wscale",
    "tcp.sack",
    "tcp.ts_val",
    "tcp.ts_ecr",
    "udp.truncated",
    "udp.src_port",
    "udp.dst_port",
    "udp.length",
    "udp.checksum",
    "icmp.truncated",
    "icmp.type",
    "icmp.code",
    "icmp.checksum",
    "icmp.id",
    "icmp.seq",
    "icmp.rest",
    "icmpv6.truncated",
    "icmpv6.type",
    "icmpv6.code",
    "icmpv6.checksum",
    "icmpv6.rest",
    "payload.data",
    "error.at",
];

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    const A: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const B: [u8; 6] = [2, 0, 0, 0, 0, 2];

    fn build(b: etherparse::PacketBuilderStep<etherparse::TcpHeader>, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        b.write(&mut out, payload).unwrap();
        out
    }

    fn tcp_frame() -> Vec<u8> {
        let b = PacketBuilder::ethernet2(A, B)
            .ipv4([10, 77, 0, 1], [10, 77, 0, 2], 64)
            .tcp(43736, 7, 1000, 64240)
            .syn()
            .options(&[
                TcpOptionElement::MaximumSegmentSize(1460),
                TcpOptionElement::SelectiveAcknowledgementPermitted,
                TcpOptionElement::Timestamp(5, 0),
                TcpOptionElement::Noop,
                TcpOptionElement::WindowScale(7),
            ])
            .unwrap();
        build(b, b"")
    }

    #[test]
    fn tcp_syn_line() {
        assert_eq!(
            summary(&tcp_frame()).to_string(),
            "IP 10.77.0.1.43736 > 10.77.0.2.7: Flags [S], seq 1000, win 64240, \
             options [mss 1460,sackOK,TS val 5 ecr 0,nop,wscale 7], length 0"
        );
    }

    #[test]
    fn tcp_data_with_ack_and_bad_checksum() {
        let b = PacketBuilder::ethernet2(A, B)
            .ipv4([10, 77, 0, 1], [10, 77, 0, 2], 64)
            .tcp(1, 2, 4_294_967_290, 100)
            .ack(77)
            .psh();
        let mut f = build(b, b"hello world");
        assert_eq!(
            summary(&f).to_string(),
            "IP 10.77.0.1.1 > 10.77.0.2.2: Flags [P.], seq 4294967290:5, ack 77, win 100, \
             length 11"
        );
        let last = f.len() - 1;
        f[last] ^= 1;
        assert!(summary(&f).to_string().ends_with("[bad TCP checksum]"));
        let fs = fields(&f);
        let c = fs.iter().find(|x| x.name == "tcp.checksum").unwrap();
        assert!(c.is_bad_checksum(), "{c:?}");
        let ip = fs.iter().find(|x| x.name == "ipv4.checksum").unwrap();
        assert!(!ip.is_bad_checksum());
    }

    #[test]
    fn dhcp_and_dns_lines() {
        use crate::dhcp::{MessageType, Op, Repr};
        let mut r = Repr::new(Op::Request, MessageType::Request, 0x1234_5678, MacAddr(A));
        r.requested_addr = Some([10, 77, 0, 50].into());
        r.server_id = Some([10, 77, 0, 1].into());
        let mut f = Vec::new();
        PacketBuilder::ethernet2(A, [0xff; 6])
            .ipv4([0, 0, 0, 0], [255, 255, 255, 255], 64)
            .udp(68, 67)
            .write(&mut f, &r.to_bytes())
            .unwrap();
        assert_eq!(
            summary(&f).to_string(),
            format!(
                "IP 0.0.0.0.68 > 255.255.255.255.67: DHCP Request, xid 0x12345678, client {}, \
                 requested 10.77.0.50, server 10.77.0.1, UDP, length {}",
                MacAddr(A),
                r.to_bytes().len()
            )
        );

        let mut q = simple_dns::Packet::new_query(0x0abc);
        q.questions.push(simple_dns::Question::new(
            simple_dns::Name::new_unchecked("tapstack.test"),
            simple_dns::TYPE::A.into(),
            simple_dns::CLASS::IN.into(),
            false,
        ));
        let query = q.build_bytes_vec().unwrap();
        let mut g = Vec::new();
        PacketBuilder::ethernet2(A, B)
            .ipv4([10, 77, 0, 1], [10, 77, 0, 2], 64)
            .udp(5353, 53)
            .write(&mut g, &query)
            .unwrap();
        assert_eq!(
            summary(&g).to_string(),
            format!(
                "IP 10.77.0.1.5353 > 10.77.0.2.53: DNS 0x0abc A? tapstack.test, UDP, length {}",
                query.len()
            )
        );
    }

    #[test]
    fn udp_and_icmp_lines() {
        let mut f = Vec::new();
        PacketBuilder::ethernet2(A, B)
            .ipv4([10, 77, 0, 1], [10, 77, 0, 2], 64)
            .udp(5000, 7)
            .write(&mut f, b"hello\n")
            .unwrap();
        assert_eq!(
            summary(&f).to_string(),
            "IP 10.77.0.1.5000 > 10.77.0.2.7: UDP, length 6"
        );
        let mut g = Vec::new();
        PacketBuilder::ethernet2(A, B)
            .ipv4([10, 77, 0, 1], [10, 77, 0, 2], 64)
            .icmpv4_echo_request(9, 3)
            .write(&mut g, &[0; 56])
            .unwrap();
        assert_eq!(
            summary(&g).to_string(),
            "IP 10.77.0.1 > 10.77.0.2: ICMP echo request, id 9, seq 3, length 64"
        );
        // Port unreachable quoting the UDP datagram above.
        let quoted = &f[14..];
        let mut h = Vec::new();
        PacketBuilder::ethernet2(B, A)
            .ipv4([10, 77, 0, 2], [10, 77, 0, 1], 64)
            .icmpv4(Icmpv4Type::DestinationUnreachable(
                etherparse::icmpv4::DestUnreachableHeader::Port,
            ))
            .write(&mut h, &quoted[..28])
            .unwrap();
        assert_eq!(
            summary(&h).to_string(),
            "IP 10.77.0.2 > 10.77.0.1: ICMP 10.77.0.2 udp port 7 unreachable, length 36"
        );
    }

    fn arp(op: u16, sha: [u8; 6], spa: [u8; 4], tha: [u8; 6], tpa: [u8; 4]) -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&sha);
        f.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4]);
        f.extend_from_slice(&op.to_be_bytes());
        f.extend_from_slice(&sha);
        f.extend_from_slice(&spa);
        f.extend_from_slice(&tha);
        f.extend_from_slice(&tpa);
        f.resize(60, 0);
        f
    }

    #[test]
    fn arp_lines() {
        let ip1 = [10, 77, 0, 1];
        let ip2 = [10, 77, 0, 2];
        let zero = [0; 6];
        assert_eq!(
            summary(&arp(1, A, ip1, zero, ip2)).to_string(),
            "ARP, Request who-has 10.77.0.2 tell 10.77.0.1, length 28"
        );
        assert_eq!(
            summary(&arp(2, B, ip2, A, ip1)).to_string(),
            "ARP, Reply 10.77.0.2 is-at 02:00:00:00:00:02 to 10.77.0.1 (02:00:00:00:00:01), \
             length 28"
        );
        assert_eq!(
            summary(&arp(1, B, ip2, zero, ip2)).to_string(),
            "ARP, Announcement 10.77.0.2 is-at 02:00:00:00:00:02, length 28"
        );
        assert_eq!(
            summary(&arp(1, B, [0; 4], zero, ip2)).to_string(),
            "ARP, Probe who-has 10.77.0.2 from 02:00:00:00:00:02, length 28"
        );
        let request = arp(1, A, ip1, zero, ip2);
        let fs = fields(&request);
        let pad = fs.iter().find(|x| x.name == "eth.padding").unwrap();
        assert_eq!(pad.value, Value::Bytes(&[0; 18]));
        for f in &fs {
            assert!(FIELD_NAMES.contains(&f.name), "{}", f.name);
        }
    }

    #[test]
    fn verbose_groups_by_layer() {
        let v = verbose(&tcp_frame(), 2).to_string();
        let lines: Vec<&str> = v.lines().collect();
        assert_eq!(lines.len(), 4, "{v}");
        assert_eq!(
            lines[0],
            "  eth: dst=02:00:00:00:00:02 src=02:00:00:00:00:01 type=0x0800 (IPv4)"
        );
        assert!(lines[1].contains("ttl=64 protocol=6 (TCP) checksum=0x2620 (correct)"));
        assert!(lines[2].starts_with("  tcp: src_port=43736 dst_port=7 seq=1000 ack=0"));
        assert!(lines[2]
            .ends_with("options=mss,sackOK,TS,nop,wscale mss=1460 ts_val=5 ts_ecr=0 wscale=7"));
        assert_eq!(lines[3], "  payload: data=(0 bytes)");
        // Every name fields() produces is a known one (masks are checked against the list).
        for f in fields(&tcp_frame()) {
            assert!(FIELD_NAMES.contains(&f.name), "{}", f.name);
        }
    }

    #[test]
    fn odd_frames_decode_without_panic() {
        assert_eq!(
            summary(&[1, 2, 3]).to_string(),
            "truncated Ethernet frame (3 bytes, header needs 14)"
        );
        let mut lldp = vec![0x01, 0x80, 0xc2, 0, 0, 0x0e];
        lldp.extend_from_slice(&A);
        lldp.extend_from_slice(&[0x88, 0xcc]);
        lldp.resize(60, 0);
        assert_eq!(
            summary(&lldp).to_string(),
            "02:00:00:00:00:01 > 01:80:c2:00:00:0e, ethertype LLDP (0x88cc), length 60"
        );
        // A frame cut by a snaplen shows the lengths its headers declare.
        let mut ping = Vec::new();
        PacketBuilder::ethernet2(A, B)
            .ipv4([10, 77, 0, 1], [10, 77, 0, 2], 64)
            .icmpv4_echo_request(9, 3)
            .write(&mut ping, &[0; 56])
            .unwrap();
        assert_eq!(
            summary(&ping[..60]).to_string(),
            "IP 10.77.0.1 > 10.77.0.2: ICMP echo request, id 9, seq 3, length 64"
        );
        // Every prefix of a TCP frame, and every one-byte corruption of it.
        let f = tcp_frame();
        for n in 0..=f.len() {
            let _ = summary(&f[..n]).to_string();
            let _ = verbose(&f[..n], 0).to_string();
        }
        for i in 0..f.len() {
            let mut g = f.clone();
            g[i] ^= 0xa5;
            let _ = summary(&g).to_string();
            let _ = verbose(&g, 0).to_string();
        }
    }

    #[test]
    fn random_frames_decode_without_panic() {
        // xorshift64: frames with a plausible start (an EtherType we decode, IPv4/IPv6
        // version nibbles, a transport protocol) and random bytes after.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let types: [[u8; 2]; 5] = [[8, 0], [8, 6], [0x86, 0xdd], [0x81, 0], [0x88, 0xe5]];
        for _ in 0..20_000 {
            let len = (next() % 200) as usize;
            let mut f: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if f.len() > 23 {
                let t = types[(next() % 5) as usize];
                f[12..14].copy_from_slice(&t);
                f[14] = if t == [0x86, 0xdd] { 0x60 } else { 0x45 };
                f[23] = [1, 6, 17, 58, 2][(next() % 5) as usize];
            }
            let _ = summary(&f).to_string();
            let _ = verbose(&f, 2).to_string();
            for field in fields(&f) {
                assert!(FIELD_NAMES.contains(&field.name), "{}", field.name);
            }
        }
    }

    #[test]
    fn first_fragment_shows_ports_and_later_ones_do_not() {
        let mut f = Vec::new();
        PacketBuilder::ethernet2(A, B)
            .ipv4([10, 77, 0, 1], [10, 77, 0, 2], 64)
            .udp(5000, 7)
            .write(&mut f, &[7; 100])
            .unwrap();
        // Set MF on the datagram: a first fragment.
        f[20] |= 0x20;
        let s = summary(&f).to_string();
        assert!(s.starts_with("IP 10.77.0.1.5000 > 10.77.0.2.7: UDP"), "{s}");
        assert!(s.contains("(frag 0x"), "{s}");
        // Offset 1480 bytes: a later fragment.
        f[20] = 0;
        f[21] = 185;
        let s = summary(&f).to_string();
        assert!(s.ends_with("@1480)") || s.contains("@1480)"), "{s}");
        assert!(!s.contains("5000"), "{s}");
    }
}
