//! Frames written out by hand, with their own checksum code rather than the stack's, so that
//! tests hold an independent encoding of the wire formats: Ethernet II, ARP (RFC 826), IPv4
//! (RFC 791) with fragments, ICMP (RFC 792), UDP (RFC 768), TCP (RFC 9293) with options, IPv6
//! (RFC 8200) with extension headers and fragments, ICMPv6 (RFC 4443) and NDP (RFC 4861).
//!
//! Addresses are std types and MACs are `[u8; 6]`; every builder returns the bytes. Lengths
//! that do not fit their fields panic: these are test inputs.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

/// A MAC address.
pub type Mac = [u8; 6];

/// The broadcast MAC address.
pub const BROADCAST: Mac = [0xff; 6];
/// The all-zero MAC address (ARP's "unknown" target).
pub const ZERO_MAC: Mac = [0; 6];

/// EtherType of ARP.
pub const ETH_ARP: u16 = 0x0806;
/// EtherType of IPv4.
pub const ETH_IPV4: u16 = 0x0800;
/// EtherType of IPv6.
pub const ETH_IPV6: u16 = 0x86dd;

/// IP protocol / next header numbers.
pub const PROTO_HOP_BY_HOP: u8 = 0;
pub const PROTO_ICMP: u8 = 1;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
pub const PROTO_ROUTING: u8 = 43;
pub const PROTO_FRAGMENT: u8 = 44;
pub const PROTO_ICMPV6: u8 = 58;
pub const PROTO_NO_NEXT: u8 = 59;
pub const PROTO_DESTINATION: u8 = 60;

/// ARP operations.
pub const ARP_REQUEST: u16 = 1;
pub const ARP_REPLY: u16 = 2;

/// The Internet checksum (RFC 1071) over the concatenation of `parts`, as a number to write
/// big-endian: 0 over data whose checksum field is right.
pub fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u64 = 0;
    // Bytes are summed as if the parts were one buffer: an odd part shifts the next one.
    let mut odd = false;
    for part in parts {
        for &b in *part {
            sum += if odd { u64::from(b) } else { u64::from(b) << 8 };
            odd = !odd;
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// `u16::try_from(n)`, or a panic naming `what`.
fn len16(n: usize, what: &str) -> u16 {
    u16::try_from(n).unwrap_or_else(|_| panic!("{what} of {n} bytes does not fit 16 bits"))
}

/// An Ethernet II frame.
pub fn ethernet(dst: Mac, src: Mac, ether_type: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ether_type.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An Ethernet/IPv4 ARP packet (RFC 826): `sender` and `target` are (MAC, IP).
pub fn arp(op: u16, sender: (Mac, Ipv4Addr), target: (Mac, Ipv4Addr)) -> Vec<u8> {
    let mut p = vec![0x00, 0x01, 0x08, 0x00, 6, 4];
    p.extend_from_slice(&op.to_be_bytes());
    p.extend_from_slice(&sender.0);
    p.extend_from_slice(&sender.1.octets());
    p.extend_from_slice(&target.0);
    p.extend_from_slice(&target.1.octets());
    p
}

/// An ARP packet in a frame to `dst`, sent from the ARP sender's MAC.
pub fn arp_frame(dst: Mac, op: u16, sender: (Mac, Ipv4Addr), target: (Mac, Ipv4Addr)) -> Vec<u8> {
    ethernet(dst, sender.0, ETH_ARP, &arp(op, sender, target))
}

/// The fields of an IPv4 header (no options).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4 {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ident: u16,
    pub ttl: u8,
    pub dont_fragment: bool,
    pub more_fragments: bool,
    /// Fragment offset in bytes (a multiple of 8).
    pub offset: usize,
}

impl Ipv4 {
    /// A datagram as a peer sends it: TTL 64, no flags, identification 0x1234.
    pub fn new(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8) -> Ipv4 {
        Ipv4 {
            src,
            dst,
            protocol,
            ident: 0x1234,
            ttl: 64,
            dont_fragment: false,
            more_fragments: false,
            offset: 0,
        }
    }

    /// The same with identification `ident`.
    pub fn ident(self, ident: u16) -> Ipv4 {
        Ipv4 { ident, ..self }
    }

    /// The same with time to live `ttl`.
    pub fn ttl(self, ttl: u8) -> Ipv4 {
        Ipv4 { ttl, ..self }
    }

    /// The same with the don't-fragment flag set.
    pub fn dont_fragment(self) -> Ipv4 {
        Ipv4 {
            dont_fragment: true,
            ..self
        }
    }

    /// The same as the fragment at `offset` bytes, with more fragments to come if `more`.
    pub fn fragment(self, offset: usize, more: bool) -> Ipv4 {
        Ipv4 {
            offset,
            more_fragments: more,
            ..self
        }
    }

    /// The 20-byte header for `payload_len` bytes of payload, with its checksum.
    pub fn header(&self, payload_len: usize) -> [u8; 20] {
        let total = len16(20 + payload_len, "an IPv4 packet");
        assert_eq!(self.offset % 8, 0, "fragment offsets are multiples of 8");
        let flags_offset = (u16::from(self.dont_fragment) << 14)
            | (u16::from(self.more_fragments) << 13)
            | len16(self.offset / 8, "a fragment offset");
        let mut h = [0u8; 20];
        h[0] = 0x45;
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h[4..6].copy_from_slice(&self.ident.to_be_bytes());
        h[6..8].copy_from_slice(&flags_offset.to_be_bytes());
        h[8] = self.ttl;
        h[9] = self.protocol;
        h[12..16].copy_from_slice(&self.src.octets());
        h[16..20].copy_from_slice(&self.dst.octets());
        let sum = checksum(&[&h]);
        h[10..12].copy_from_slice(&sum.to_be_bytes());
        h
    }

    /// The packet: header and `payload`.
    pub fn packet(&self, payload: &[u8]) -> Vec<u8> {
        let mut p = self.header(payload.len()).to_vec();
        p.extend_from_slice(payload);
        p
    }

    /// `payload` cut into fragments of `per` bytes (a multiple of 8) starting at this
    /// header's offset, the last without the more-fragments flag (unless this header has it).
    pub fn fragments(&self, payload: &[u8], per: usize) -> Vec<Vec<u8>> {
        let n = payload.len().div_ceil(per);
        payload
            .chunks(per)
            .enumerate()
            .map(|(i, c)| {
                let more = i + 1 < n || self.more_fragments;
                self.fragment(self.offset + i * per, more).packet(c)
            })
            .collect()
    }
}

/// An ICMP message (RFC 792) with its checksum; `rest` is the second header word.
pub fn icmpv4(kind: u8, code: u8, rest: [u8; 4], body: &[u8]) -> Vec<u8> {
    let mut m = vec![kind, code, 0, 0];
    m.extend_from_slice(&rest);
    m.extend_from_slice(body);
    let sum = checksum(&[&m]);
    m[2..4].copy_from_slice(&sum.to_be_bytes());
    m
}

/// ICMP echo request (`kind` 8) or reply (`kind` 0).
pub fn echo(kind: u8, ident: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let [a, b] = ident.to_be_bytes();
    let [c, d] = seq.to_be_bytes();
    icmpv4(kind, 0, [a, b, c, d], data)
}

/// The IPv4 pseudo-header (RFC 768, RFC 9293 3.1) for `len` bytes of `protocol`.
fn pseudo_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, len: usize) -> [u8; 12] {
    let mut p = [0u8; 12];
    p[..4].copy_from_slice(&src.octets());
    p[4..8].copy_from_slice(&dst.octets());
    p[9] = protocol;
    p[10..].copy_from_slice(&len16(len, "a transport segment").to_be_bytes());
    p
}

/// The IPv6 pseudo-header (RFC 8200 8.1) for `len` bytes of `next_header`.
fn pseudo_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, len: usize) -> [u8; 40] {
    let mut p = [0u8; 40];
    p[..16].copy_from_slice(&src.octets());
    p[16..32].copy_from_slice(&dst.octets());
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    p[32..36].copy_from_slice(&len.to_be_bytes());
    p[39] = next_header;
    p
}

/// The UDP checksum of `datagram` (its checksum field zero) over the IPv4 pseudo-header, as
/// computed (0 is not mapped to 0xffff here).
pub fn udp_checksum_v4(src: Ipv4Addr, dst: Ipv4Addr, datagram: &[u8]) -> u16 {
    let len = datagram.len().min(usize::from(u16::MAX));
    checksum(&[&pseudo_v4(src, dst, PROTO_UDP, len), datagram])
}

/// A UDP header and `payload` with `sum` filled in by `sum_of` (0 sent as 0xffff, RFC 768).
fn udp(src_port: u16, dst_port: u16, payload: &[u8], sum_of: impl Fn(&[u8]) -> u16) -> Vec<u8> {
    let len = len16(8 + payload.len(), "a UDP datagram");
    let mut d = Vec::with_capacity(usize::from(len));
    d.extend_from_slice(&src_port.to_be_bytes());
    d.extend_from_slice(&dst_port.to_be_bytes());
    d.extend_from_slice(&len.to_be_bytes());
    d.extend_from_slice(&[0, 0]);
    d.extend_from_slice(payload);
    let sum = match sum_of(&d) {
        0 => 0xffff,
        s => s,
    };
    d[6..8].copy_from_slice(&sum.to_be_bytes());
    d
}

/// A UDP datagram with its checksum over the IPv4 pseudo-header.
pub fn udp_v4(src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) -> Vec<u8> {
    udp(src.port(), dst.port(), payload, |d| {
        udp_checksum_v4(*src.ip(), *dst.ip(), d)
    })
}

/// A UDP datagram with its checksum over the IPv6 pseudo-header.
pub fn udp_v6(src: SocketAddrV6, dst: SocketAddrV6, payload: &[u8]) -> Vec<u8> {
    udp(src.port(), dst.port(), payload, |d| {
        checksum(&[&pseudo_v6(*src.ip(), *dst.ip(), PROTO_UDP, d.len()), d])
    })
}

/// TCP flags (RFC 9293 3.1).
pub mod flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
}

/// A TCP option (RFC 9293 3.2, RFC 7323, RFC 2018).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TcpOption {
    Nop,
    Mss(u16),
    WindowScale(u8),
    SackPermitted,
    /// Left and right edges of SACK blocks.
    Sack(Vec<(u32, u32)>),
    Timestamps {
        value: u32,
        echo: u32,
    },
    /// Any kind with raw data (the length byte is added).
    Other(u8, Vec<u8>),
}

impl TcpOption {
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            TcpOption::Nop => out.push(1),
            TcpOption::Mss(mss) => {
                out.extend_from_slice(&[2, 4]);
                out.extend_from_slice(&mss.to_be_bytes());
            }
            TcpOption::WindowScale(shift) => out.extend_from_slice(&[3, 3, *shift]),
            TcpOption::SackPermitted => out.extend_from_slice(&[4, 2]),
            TcpOption::Sack(blocks) => {
                out.extend_from_slice(&[5, 2 + 8 * blocks.len() as u8]);
                for (left, right) in blocks {
                    out.extend_from_slice(&left.to_be_bytes());
                    out.extend_from_slice(&right.to_be_bytes());
                }
            }
            TcpOption::Timestamps { value, echo } => {
                out.extend_from_slice(&[8, 10]);
                out.extend_from_slice(&value.to_be_bytes());
                out.extend_from_slice(&echo.to_be_bytes());
            }
            TcpOption::Other(kind, data) => {
                out.extend_from_slice(&[*kind, 2 + data.len() as u8]);
                out.extend_from_slice(data);
            }
        }
    }
}

/// The fields of a TCP header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tcp {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    /// [`flags`] ORed together.
    pub flags: u8,
    pub window: u16,
    pub urgent: u16,
    /// Written in order, then padded with end-of-options to a multiple of four bytes.
    pub options: Vec<TcpOption>,
}

impl Tcp {
    /// A segment from `src_port` to `dst_port` with `flags`, window 65535, no options.
    pub fn new(src_port: u16, dst_port: u16, seq: u32, ack: u32, flags: u8) -> Tcp {
        Tcp {
            src_port,
            dst_port,
            seq,
            ack,
            flags,
            window: 65535,
            urgent: 0,
            options: Vec::new(),
        }
    }

    /// The same with `option` added.
    pub fn option(mut self, option: TcpOption) -> Tcp {
        self.options.push(option);
        self
    }

    /// The same with window `window`.
    pub fn window(self, window: u16) -> Tcp {
        Tcp { window, ..self }
    }

    /// Header and payload, checksum zero.
    fn unsummed(&self, payload: &[u8]) -> Vec<u8> {
        let mut opts = Vec::new();
        for o in &self.options {
            o.write(&mut opts);
        }
        while opts.len() % 4 != 0 {
            opts.push(0);
        }
        let offset = u8::try_from((20 + opts.len()) / 4).unwrap_or(15);
        let mut s = Vec::with_capacity(20 + opts.len() + payload.len());
        s.extend_from_slice(&self.src_port.to_be_bytes());
        s.extend_from_slice(&self.dst_port.to_be_bytes());
        s.extend_from_slice(&self.seq.to_be_bytes());
        s.extend_from_slice(&self.ack.to_be_bytes());
        s.extend_from_slice(&[offset << 4, self.flags]);
        s.extend_from_slice(&self.window.to_be_bytes());
        s.extend_from_slice(&[0, 0]);
        s.extend_from_slice(&self.urgent.to_be_bytes());
        s.extend_from_slice(&opts);
        s.extend_from_slice(payload);
        s
    }

    /// The segment with `payload` and its checksum over the IPv4 pseudo-header.
    pub fn segment_v4(&self, src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8]) -> Vec<u8> {
        let mut s = self.unsummed(payload);
        let sum = checksum(&[&pseudo_v4(src, dst, PROTO_TCP, s.len()), &s]);
        s[16..18].copy_from_slice(&sum.to_be_bytes());
        s
    }

    /// The segment with `payload` and its checksum over the IPv6 pseudo-header.
    pub fn segment_v6(&self, src: Ipv6Addr, dst: Ipv6Addr, payload: &[u8]) -> Vec<u8> {
        let mut s = self.unsummed(payload);
        let sum = checksum(&[&pseudo_v6(src, dst, PROTO_TCP, s.len()), &s]);
        s[16..18].copy_from_slice(&sum.to_be_bytes());
        s
    }
}

/// An IPv6 packet (RFC 8200 3): the 40-byte header and `payload` (which starts with the header
/// `next_header` names).
pub fn ipv6(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    next_header: u8,
    hop_limit: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&len16(payload.len(), "an IPv6 payload").to_be_bytes());
    p.push(next_header);
    p.push(hop_limit);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(payload);
    p
}

/// A hop-by-hop or destination options header (RFC 8200 4.3, 4.6) before `rest`, with `options`
/// (TLVs) padded with PadN/Pad1 to a multiple of eight bytes.
pub fn options_header(next_header: u8, options: &[u8], rest: &[u8]) -> Vec<u8> {
    let mut h = vec![next_header, 0];
    h.extend_from_slice(options);
    let pad = (8 - h.len() % 8) % 8;
    match pad {
        0 => {}
        1 => h.push(0),
        n => {
            h.push(1);
            h.push(u8::try_from(n - 2).unwrap_or(0));
            h.extend(std::iter::repeat_n(0, n - 2));
        }
    }
    h[1] = u8::try_from(h.len() / 8 - 1).unwrap_or(u8::MAX);
    h.extend_from_slice(rest);
    h
}

/// A fragment header (RFC 8200 4.5) for `data` at `offset` bytes (a multiple of 8), then
/// `data`.
pub fn fragment_header(
    next_header: u8,
    offset: usize,
    more: bool,
    ident: u32,
    data: &[u8],
) -> Vec<u8> {
    let mut p = vec![next_header, 0];
    p.extend_from_slice(
        &((len16(offset / 8, "a fragment offset") << 3) | u16::from(more)).to_be_bytes(),
    );
    p.extend_from_slice(&ident.to_be_bytes());
    p.extend_from_slice(data);
    p
}

/// An ICMPv6 message (RFC 4443 2.1) from `src` to `dst` with its checksum over the IPv6
/// pseudo-header; `rest` is the second header word.
pub fn icmpv6(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    kind: u8,
    code: u8,
    rest: [u8; 4],
    body: &[u8],
) -> Vec<u8> {
    let mut m = vec![kind, code, 0, 0];
    m.extend_from_slice(&rest);
    m.extend_from_slice(body);
    let sum = checksum(&[&pseudo_v6(src, dst, PROTO_ICMPV6, m.len()), &m]);
    m[2..4].copy_from_slice(&sum.to_be_bytes());
    m
}

/// ICMPv6 echo request (`kind` 128) or reply (`kind` 129).
pub fn echo_v6(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    kind: u8,
    ident: u16,
    seq: u16,
    data: &[u8],
) -> Vec<u8> {
    let [a, b] = ident.to_be_bytes();
    let [c, d] = seq.to_be_bytes();
    icmpv6(src, dst, kind, 0, [a, b, c, d], data)
}

/// A link-layer address option (RFC 4861 4.6.1): `kind` 1 source, 2 target.
fn ll_option(kind: u8, mac: Mac) -> [u8; 8] {
    let mut o = [kind, 1, 0, 0, 0, 0, 0, 0];
    o[2..].copy_from_slice(&mac);
    o
}

/// A neighbor solicitation (RFC 4861 4.3) for `target`, with a source link-layer address
/// option when `source_ll` is given.
pub fn neighbor_solicit(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    target: Ipv6Addr,
    source_ll: Option<Mac>,
) -> Vec<u8> {
    let mut body = target.octets().to_vec();
    if let Some(mac) = source_ll {
        body.extend_from_slice(&ll_option(1, mac));
    }
    icmpv6(src, dst, 135, 0, [0; 4], &body)
}

/// The flags of a neighbor advertisement (RFC 4861 4.4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AdvertFlags {
    pub router: bool,
    pub solicited: bool,
    pub override_entry: bool,
}

/// A neighbor advertisement (RFC 4861 4.4) for `target`, with a target link-layer address
/// option when `target_ll` is given.
pub fn neighbor_advert(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    flags: AdvertFlags,
    target: Ipv6Addr,
    target_ll: Option<Mac>,
) -> Vec<u8> {
    let first = (u8::from(flags.router) << 7)
        | (u8::from(flags.solicited) << 6)
        | (u8::from(flags.override_entry) << 5);
    let mut body = target.octets().to_vec();
    if let Some(mac) = target_ll {
        body.extend_from_slice(&ll_option(2, mac));
    }
    icmpv6(src, dst, 136, 0, [first, 0, 0, 0], &body)
}

/// A prefix information option (RFC 4861 4.6.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrefixInfo {
    pub prefix: Ipv6Addr,
    pub prefix_len: u8,
    pub on_link: bool,
    pub autonomous: bool,
    pub valid_lifetime: u32,
    pub preferred_lifetime: u32,
}

/// The fields of a router advertisement (RFC 4861 4.2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouterAdvert {
    pub cur_hop_limit: u8,
    pub managed: bool,
    pub other: bool,
    pub router_lifetime: u16,
    pub reachable_time: u32,
    pub retrans_timer: u32,
    pub source_ll: Option<Mac>,
    pub mtu: Option<u32>,
    pub prefixes: Vec<PrefixInfo>,
}

impl RouterAdvert {
    /// The message from `src` to `dst`, its options in the order source link-layer address,
    /// MTU (RFC 4861 4.6.4), prefixes.
    pub fn message(&self, src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
        let [l0, l1] = self.router_lifetime.to_be_bytes();
        let flags = (u8::from(self.managed) << 7) | (u8::from(self.other) << 6);
        let mut body = Vec::new();
        body.extend_from_slice(&self.reachable_time.to_be_bytes());
        body.extend_from_slice(&self.retrans_timer.to_be_bytes());
        if let Some(mac) = self.source_ll {
            body.extend_from_slice(&ll_option(1, mac));
        }
        if let Some(mtu) = self.mtu {
            body.extend_from_slice(&[5, 1, 0, 0]);
            body.extend_from_slice(&mtu.to_be_bytes());
        }
        for p in &self.prefixes {
            body.extend_from_slice(&[3, 4, p.prefix_len]);
            body.push((u8::from(p.on_link) << 7) | (u8::from(p.autonomous) << 6));
            body.extend_from_slice(&p.valid_lifetime.to_be_bytes());
            body.extend_from_slice(&p.preferred_lifetime.to_be_bytes());
            body.extend_from_slice(&[0; 4]);
            body.extend_from_slice(&p.prefix.octets());
        }
        icmpv6(src, dst, 134, 0, [self.cur_hop_limit, flags, l0, l1], &body)
    }
}

/// A router solicitation (RFC 4861 4.1), with a source link-layer address option when
/// `source_ll` is given.
pub fn router_solicit(src: Ipv6Addr, dst: Ipv6Addr, source_ll: Option<Mac>) -> Vec<u8> {
    let mut body = Vec::new();
    if let Some(mac) = source_ll {
        body.extend_from_slice(&ll_option(1, mac));
    }
    icmpv6(src, dst, 133, 0, [0; 4], &body)
}

/// The multicast MAC of an IPv6 group (RFC 2464 7): 33:33 and its last four bytes.
pub fn multicast_mac(group: Ipv6Addr) -> Mac {
    let o = group.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

/// The solicited-node multicast group of `addr` (RFC 4291 2.7.1).
pub fn solicited_node(addr: Ipv6Addr) -> Ipv6Addr {
    let o = addr.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, o[13], o[14], o[15],
    ])
}

/// The link-local address fe80::/64 with the modified EUI-64 of `mac` (RFC 4291 2.5.1).
pub fn link_local(mac: Mac) -> Ipv6Addr {
    Ipv6Addr::from([
        0xfe,
        0x80,
        0,
        0,
        0,
        0,
        0,
        0,
        mac[0] ^ 0x02,
        mac[1],
        mac[2],
        0xff,
        0xfe,
        mac[3],
        mac[4],
        mac[5],
    ])
}

#[cfg(test)]
mod tests;
