//! The builders' frames against etherparse: the same bytes as its builder where it has one, and
//! checksums it accepts where it only parses.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

use etherparse::{ArpEthIpv4Packet, ArpOperation, ArpPacket, PacketBuilder, SlicedPacket};
use etherparse::{NetSlice, TransportSlice};

use super::*;

const A: Mac = [0x02, 0, 0, 0x77, 0, 0x01];
const B: Mac = [0x02, 0, 0, 0x77, 0, 0x02];
const IP_A: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const IP_B: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

#[test]
fn udp_over_ipv4_matches_etherparse() {
    for payload in [&b""[..], b"x", b"hello, odd", &[0xffu8; 300]] {
        let b = PacketBuilder::ethernet2(A, B)
            .ipv4(IP_A.octets(), IP_B.octets(), 64)
            .udp(67, 68);
        let mut want = Vec::new();
        b.write(&mut want, payload).unwrap();
        let udp = udp_v4(
            SocketAddrV4::new(IP_A, 67),
            SocketAddrV4::new(IP_B, 68),
            payload,
        );
        let ip = Ipv4::new(IP_A, IP_B, PROTO_UDP)
            .ident(0)
            .dont_fragment()
            .packet(&udp);
        assert_eq!(ethernet(B, A, ETH_IPV4, &ip), want);
    }
}

#[test]
fn arp_matches_etherparse() {
    let arp = ArpEthIpv4Packet {
        operation: ArpOperation::REPLY,
        sender_mac: A,
        sender_ipv4: IP_A.octets(),
        target_mac: B,
        target_ipv4: IP_B.octets(),
    };
    let b = PacketBuilder::ethernet2(A, BROADCAST).arp(ArpPacket::from(arp));
    let mut want = Vec::new();
    b.write(&mut want).unwrap();
    assert_eq!(arp_frame(BROADCAST, ARP_REPLY, (A, IP_A), (B, IP_B)), want);
}

#[test]
fn echo_matches_etherparse() {
    let data = 7u16.to_be_bytes().repeat(8);
    let b = PacketBuilder::ethernet2(A, B)
        .ipv4(IP_A.octets(), IP_B.octets(), 64)
        .icmpv4_echo_request(0x4242, 7);
    let mut want = Vec::new();
    b.write(&mut want, &data).unwrap();
    let icmp = echo(8, 0x4242, 7, &data);
    let ip = Ipv4::new(IP_A, IP_B, PROTO_ICMP)
        .ident(0)
        .dont_fragment()
        .packet(&icmp);
    assert_eq!(ethernet(B, A, ETH_IPV4, &ip), want);
}

#[test]
fn tcp_with_options_matches_etherparse() {
    let tcp = Tcp::new(40000, 80, 1000, 0, flags::SYN)
        .option(TcpOption::Mss(1460))
        .option(TcpOption::SackPermitted)
        .option(TcpOption::Timestamps { value: 1, echo: 0 })
        .option(TcpOption::Nop)
        .option(TcpOption::WindowScale(7));
    let seg = tcp.segment_v4(IP_A, IP_B, b"data");
    let f = ethernet(
        B,
        A,
        ETH_IPV4,
        &Ipv4::new(IP_A, IP_B, PROTO_TCP).packet(&seg),
    );
    let p = SlicedPacket::from_ethernet(&f).unwrap();
    let Some(TransportSlice::Tcp(t)) = p.transport else {
        panic!("not TCP: {p:?}");
    };
    assert_eq!(t.options().len(), 20);
    assert!(t.syn() && !t.ack());
    let header = t.to_header();
    assert_eq!(
        header
            .calc_checksum_ipv4_raw(IP_A.octets(), IP_B.octets(), t.payload())
            .unwrap(),
        header.checksum
    );
    let (src, dst) = (v6("fd77::1"), v6("fd77::2"));
    let seg6 = tcp.segment_v6(src, dst, b"");
    let header = etherparse::TcpHeader::from_slice(&seg6).unwrap().0;
    assert_eq!(
        header
            .calc_checksum_ipv6_raw(src.octets(), dst.octets(), &[])
            .unwrap(),
        header.checksum
    );
}

#[test]
fn ipv6_udp_and_icmpv6_checksums_are_right() {
    let (src, dst) = (v6("fd77::1"), v6("fd77::2"));
    let udp = udp_v6(
        SocketAddrV6::new(src, 5, 0, 0),
        SocketAddrV6::new(dst, 7, 0, 0),
        b"abc",
    );
    assert_eq!(
        checksum(&[&pseudo_v6(src, dst, PROTO_UDP, udp.len()), &udp]),
        0
    );
    let ns = neighbor_solicit(src, solicited_node(dst), dst, Some(A));
    assert_eq!(
        checksum(&[
            &pseudo_v6(src, solicited_node(dst), PROTO_ICMPV6, ns.len()),
            &ns
        ]),
        0
    );
    let f = ethernet(
        multicast_mac(solicited_node(dst)),
        A,
        ETH_IPV6,
        &ipv6(src, solicited_node(dst), PROTO_ICMPV6, 255, &ns),
    );
    let p = SlicedPacket::from_ethernet(&f).unwrap();
    assert!(matches!(p.net, Some(NetSlice::Ipv6(_))));
    assert_eq!(
        multicast_mac(solicited_node(dst)),
        [0x33, 0x33, 0xff, 0, 0, 2]
    );
    assert_eq!(link_local(B), v6("fe80::ff:fe77:2"));
}

#[test]
fn options_headers_are_padded_to_eight_bytes() {
    for n in 0..12 {
        let h = options_header(PROTO_NO_NEXT, &vec![0x1e; n], b"");
        assert_eq!(h.len() % 8, 0, "{n} option bytes");
        assert_eq!(usize::from(h[1]) * 8 + 8, h.len());
    }
    let f = fragment_header(PROTO_UDP, 16, true, 9, b"12345678");
    assert_eq!(&f[..8], &[PROTO_UDP, 0, 0, 0x11, 0, 0, 0, 9]);
}

#[test]
fn ipv4_fragments_cover_the_payload() {
    let payload: Vec<u8> = (0..100u8).collect();
    let frags = Ipv4::new(IP_A, IP_B, PROTO_UDP).fragments(&payload, 40);
    assert_eq!(frags.len(), 3);
    for (i, f) in frags.iter().enumerate() {
        assert_eq!(checksum(&[&f[..20]]), 0);
        let word = u16::from_be_bytes([f[6], f[7]]);
        assert_eq!(usize::from(word & 0x1fff) * 8, i * 40);
        assert_eq!(word & 0x2000 != 0, i < 2);
    }
}
