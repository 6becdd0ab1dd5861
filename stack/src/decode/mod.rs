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
//! as it goes and says where it stops. Nothing here panics, whatever the bytes. Checksums are
//! computed with [`crate::checksum`], apart from the parsing, so that a wrong one can be shown;
//! DHCP goes through [`crate::dhcp::Repr`].
//!
//! By layer: `net` has Ethernet, 802.1Q, ARP, IPv4 and IPv6; `transport` TCP, UDP, ICMP and
//! ICMPv6; `app` the DHCP and DNS summaries; `check` the checksums.

mod app;
mod check;
mod link;
mod net;
#[cfg(test)]
mod tests;
mod transport;

use core::fmt::{self, Write as _};
use core::net::Ipv4Addr;

use etherparse::{EtherType, IpNumber};

use crate::device::link::LinkType;
use crate::ethernet::MacAddr;
use net::{collect_fields, write_summary};

/// The one-line summary of `frame`, e.g.
/// `IP 10.77.0.1.43736 > 10.77.0.2.9: Flags [S], seq 1, win 64240, options [mss 1460], length 0`.
pub fn summary(frame: &[u8]) -> Summary<'_> {
    summary_of(LinkType::Ethernet, frame)
}

/// The one-line summary of `data` captured with link type `link` (see [`summary`]): the same
/// line from the network layer up; a cooked or loopback header is shown in the verbose form.
pub fn summary_of(link: LinkType, data: &[u8]) -> Summary<'_> {
    Summary { frame: data, link }
}

/// A frame's one-line summary; see [`summary`].
#[derive(Clone, Copy, Debug)]
pub struct Summary<'a> {
    frame: &'a [u8],
    link: LinkType,
}

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.link {
            LinkType::Ethernet => write_summary(f, self.frame),
            other => link::write_summary(f, other, self.frame),
        }
    }
}

/// Every header field of `frame`, in wire order, layer by layer.
pub fn fields(frame: &[u8]) -> Vec<Field<'_>> {
    fields_of(LinkType::Ethernet, frame)
}

/// Every header field of `data` captured with link type `link`.
pub fn fields_of(link: LinkType, data: &[u8]) -> Vec<Field<'_>> {
    let mut out = Fields(Vec::with_capacity(32));
    match link {
        LinkType::Ethernet => collect_fields(&mut out, data),
        other => link::collect_fields(&mut out, other, data),
    }
    out.0
}

/// The verbose form of `frame`: one line per layer, `layer: name=value ...`, each line indented
/// by `indent` spaces and ended by a newline.
pub fn verbose(frame: &[u8], indent: usize) -> Verbose<'_> {
    verbose_of(LinkType::Ethernet, frame, indent)
}

/// The verbose form of `data` captured with link type `link`; see [`verbose`].
pub fn verbose_of(link: LinkType, data: &[u8], indent: usize) -> Verbose<'_> {
    Verbose {
        frame: data,
        link,
        indent,
    }
}

/// A frame's verbose form; see [`verbose`].
#[derive(Clone, Copy, Debug)]
pub struct Verbose<'a> {
    frame: &'a [u8],
    link: LinkType,
    indent: usize,
}

impl fmt::Display for Verbose<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields = fields_of(self.link, self.frame);
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

/// Every field name [`fields`] can produce.
pub const FIELD_NAMES: &[&str] = &[
    "eth.truncated",
    "eth.unparsed",
    "eth.dst",
    "eth.src",
    "eth.type",
    "eth.padding",
    "sll.ifindex",
    "sll.pkttype",
    "sll.hatype",
    "sll.addr",
    "sll.protocol",
    "loop.family",
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
