//! The interface on an IP-only link (`Medium::Ip`, a TUN device): bare IPv4 and IPv6 packets in
//! and out, no ARP, no NDP resolution, no DAD, point-to-point routing.

// A test module: its parent declares it under #[cfg(test)], so it may unwrap.

use super::*;
use crate::device::Medium;
use crate::stats::DropReason;

use tapstack_testkit::frame::{self, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP};

const OUR_MAC: MacAddr = MacAddr([0x02, 0, 10, 77, 0, 2]);
const OUR_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
const PEER_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const FAR_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 9);
const OUR_IP6: Ipv6Addr = Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 2);
const PEER_IP6: Ipv6Addr = Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 1);
const FAR_IP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 9);

fn t(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn config(seed: u64) -> Config {
    let mut c = Config::new(OUR_MAC, Some(Ipv4Cidr::new(OUR_IP, 24).unwrap()));
    c.medium = Medium::Ip;
    c.seed = seed;
    c.ipv6 = Some(crate::config::Ipv6Config {
        addresses: vec![crate::config::Ipv6Cidr::new(OUR_IP6, 64).unwrap()],
        ..Default::default()
    });
    c
}

fn iface(seed: u64) -> Interface {
    Interface::new(config(seed)).unwrap()
}

fn receive(i: &mut Interface, now: Instant, packet: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    i.receive(now, packet, &mut |f| out.push(f.to_vec()));
    check_invariant(i);
    out
}

fn poll(i: &mut Interface, now: Instant) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    i.poll(now, &mut |f| out.push(f.to_vec()));
    out
}

fn check_invariant(i: &Interface) {
    let s = i.stats();
    assert_eq!(s.rx_frames, s.rx_handled + s.total_drops(), "{s:?}");
}

fn echo_request_v4(src: Ipv4Addr, seq: u16, data: &[u8]) -> Vec<u8> {
    frame::Ipv4::new(src, OUR_IP, PROTO_ICMP).packet(&frame::echo(8, 0x4242, seq, data))
}

fn echo_request_v6(src: Ipv6Addr, dst: Ipv6Addr, seq: u16) -> Vec<u8> {
    let m = frame::echo_v6(src, dst, 128, 0x4242, seq, b"tun");
    frame::ipv6(src, dst, PROTO_ICMPV6, 64, &m)
}

#[test]
fn nothing_is_probed_announced_or_solicited_at_start_and_addresses_are_ready_at_once() {
    let mut i = iface(7);
    let mut sent = Vec::new();
    for ms in (0..5_000).step_by(100) {
        sent.extend(poll(&mut i, t(ms)));
    }
    // No ARP (no such thing on the link), no DAD (Linux skips it on IFF_NOARP devices).
    // Router solicitations are IPv6 packets, never a link header.
    assert!(
        sent.iter().all(|p| p.first().map(|b| b >> 4) == Some(6)),
        "only IPv6 packets (router solicitations) may leave: {sent:02x?}"
    );
    for p in &sent {
        // ICMPv6 type 133 (router solicitation) without a source link-layer option: 8 bytes.
        assert_eq!(p.get(40), Some(&133), "{p:02x?}");
        assert_eq!(p.len(), 48, "no link-layer address option: {p:02x?}");
    }
    assert_eq!(i.stats().ndp_dad_sent, 0);
    assert_eq!(i.stats().arp_probes_sent, 0);
    assert_eq!(i.ipv4().map(|c| c.addr()), Some(OUR_IP));
    let usable = i.ipv6_usable();
    assert!(usable.contains(&OUR_IP6), "{usable:?}");
    assert_eq!(usable.len(), 2, "the static and the link-local address");
}

#[test]
fn link_local_address_has_a_random_interface_id_from_the_seed_not_the_mac() {
    let a = iface(1);
    let b = iface(1);
    let c = iface(2);
    let ll = |i: &Interface| {
        i.ipv6_addresses()
            .iter()
            .find(|a| a.origin == Ipv6Origin::LinkLocal)
            .map(|a| a.cidr.addr())
            .unwrap()
    };
    assert_eq!(ll(&a), ll(&b), "the same seed gives the same address");
    assert_ne!(ll(&a), ll(&c), "another seed gives another address");
    assert_ne!(ll(&a), crate::ipv6::link_local_from_mac(OUR_MAC));
    assert_eq!(ll(&a).segments()[..4], [0xfe80, 0, 0, 0]);
    assert_eq!(a.ipv6_interface_id().map(|id| id[0] & 0x02), Some(0));
}

#[test]
fn ping_is_answered_with_a_bare_ipv4_packet() {
    let mut i = iface(0);
    poll(&mut i, t(0));
    let out = receive(&mut i, t(1), &echo_request_v4(PEER_IP, 1, b"hello"));
    assert_eq!(out.len(), 1, "one reply, no ARP first");
    let reply = &out[0];
    assert_eq!(reply[0], 0x45, "an IPv4 header first, no link header");
    assert_eq!(&reply[12..16], &OUR_IP.octets());
    assert_eq!(&reply[16..20], &PEER_IP.octets());
    assert_eq!(reply[9], PROTO_ICMP);
    assert_eq!(&reply[20..], &frame::echo(0, 0x4242, 1, b"hello")[..]);
    assert_eq!(frame::checksum(&[&reply[..20]]), 0, "header checksum");
    assert_eq!(i.stats().rx_handled, 1);
}

#[test]
fn everything_not_ours_goes_out_of_the_one_link_without_a_route() {
    let mut i = iface(0);
    poll(&mut i, t(0));
    // No gateway configured and 192.0.2.9 is off the subnet: on Ethernet this has no route.
    let out = receive(&mut i, t(1), &echo_request_v4(FAR_IP, 2, b"far"));
    assert_eq!(out.len(), 1);
    assert_eq!(&out[0][16..20], &FAR_IP.octets());
    let out = receive(&mut i, t(2), &echo_request_v6(FAR_IP6, OUR_IP6, 3));
    assert_eq!(out.len(), 1, "IPv6 too, with no router");
    assert_eq!(out[0][0] >> 4, 6);
    assert_eq!(&out[0][24..40], &FAR_IP6.octets());
    assert_eq!(out[0][40], 129, "echo reply");
    assert_eq!(i.stats().ipv4_tx_dropped + i.stats().ipv6_tx_dropped, 0);
}

#[test]
fn ping6_to_the_static_and_link_local_addresses_is_answered_without_neighbor_discovery() {
    let mut i = iface(0);
    poll(&mut i, t(0));
    let out = receive(&mut i, t(1), &echo_request_v6(PEER_IP6, OUR_IP6, 1));
    assert_eq!(
        out.len(),
        1,
        "the reply, no neighbor solicitation first: {out:02x?}"
    );
    assert_eq!(out[0][40], 129);
    assert_eq!(&out[0][8..24], &OUR_IP6.octets());
    let ll = i
        .ipv6_addresses()
        .iter()
        .find(|a| a.origin == Ipv6Origin::LinkLocal)
        .map(|a| a.cidr.addr())
        .unwrap();
    let peer_ll = Ipv6Addr::new(0xfe80, 0, 0, 0, 0x1234, 0x5678, 0x9abc, 0xdef0);
    let out = receive(&mut i, t(2), &echo_request_v6(peer_ll, ll, 2));
    assert_eq!(out.len(), 1);
    assert_eq!(&out[0][8..24], &ll.octets(), "from the link-local address");
    assert_eq!(i.stats().ndp_solicits_sent, 0);
}

#[test]
fn neighbor_solicitation_is_answered_without_a_target_link_layer_option() {
    let mut i = iface(0);
    poll(&mut i, t(0));
    let ns = frame::neighbor_solicit(PEER_IP6, OUR_IP6, OUR_IP6, None);
    let out = receive(
        &mut i,
        t(1),
        &frame::ipv6(PEER_IP6, OUR_IP6, PROTO_ICMPV6, 255, &ns),
    );
    assert_eq!(out.len(), 1, "{out:02x?}");
    assert_eq!(out[0][40], 136, "a neighbor advertisement");
    assert_eq!(out[0].len(), 40 + 24, "no target link-layer address option");
}

#[test]
fn tcp_handshake_gets_a_syn_ack_in_a_bare_packet() {
    let mut i = iface(0);
    poll(&mut i, t(0));
    i.tcp_listen(7, 4).unwrap();
    let syn = frame::Tcp::new(40000, 7, 1000, 0, frame::flags::SYN);
    let packet =
        frame::Ipv4::new(PEER_IP, OUR_IP, PROTO_TCP).packet(&syn.segment_v4(PEER_IP, OUR_IP, &[]));
    let mut out = receive(&mut i, t(1), &packet);
    out.extend(poll(&mut i, t(1)));
    assert_eq!(out.len(), 1, "{out:02x?}");
    let p = &out[0];
    assert_eq!(p[0], 0x45);
    assert_eq!(p[9], PROTO_TCP);
    assert_eq!(p[20 + 13], frame::flags::SYN | frame::flags::ACK);
    assert_eq!(
        u16::from_be_bytes([p[2], p[3]]) as usize,
        p.len(),
        "total length"
    );
    // The MSS option says 1460 on a 1500-byte link, as on Ethernet.
    assert!(
        p[40..].windows(4).any(|w| w == [2, 4, 0x05, 0xb4]),
        "{p:02x?}"
    );
}

#[test]
fn fragments_are_reassembled_on_the_ip_medium_too() {
    let mut i = iface(0);
    poll(&mut i, t(0));
    let data = vec![0x5a; 3000];
    let message = frame::echo(8, 7, 7, &data);
    let pieces = frame::Ipv4::new(PEER_IP, OUR_IP, PROTO_ICMP)
        .ident(99)
        .fragments(&message, 1480);
    let mut out = Vec::new();
    for (n, p) in pieces.iter().enumerate() {
        out.extend(receive(&mut i, t(1 + n as u64), p));
    }
    assert_eq!(i.stats().ipv4_reassembled, 1);
    assert!(
        out.len() >= 3,
        "the reply leaves in fragments: {}",
        out.len()
    );
    assert!(out.iter().all(|p| p[0] == 0x45 && p.len() <= 1500));
}

#[test]
fn malformed_and_foreign_packets_are_counted_and_dropped() {
    let mut i = iface(0);
    poll(&mut i, t(0));
    let cases: [(Vec<u8>, DropReason); 5] = [
        (Vec::new(), DropReason::EthUnsupportedType),
        (vec![0x50; 40], DropReason::EthUnsupportedType),
        (vec![0x45, 0, 0], DropReason::Ipv4Truncated),
        (vec![0x60; 10], DropReason::Ipv6Truncated),
        (vec![0x45; 1501], DropReason::EthOversize),
    ];
    for (n, (packet, reason)) in cases.iter().enumerate() {
        let before = i.stats().drops(*reason);
        let out = receive(&mut i, t(n as u64 + 1), packet);
        assert!(out.is_empty());
        assert_eq!(i.stats().drops(*reason), before + 1, "{reason:?}");
    }
    // An Ethernet frame fed to an IP-only link is not IP (its first nibble is a MAC's).
    let eth = frame::ethernet([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1], 0x0800, b"x");
    receive(&mut i, t(10), &eth);
    assert_eq!(i.stats().rx_handled, 0);
}

#[test]
fn dhcp_is_refused_on_an_ip_only_link() {
    let mut c = config(0);
    c.ipv4 = None;
    c.dhcp = Some(crate::dhcp::Config::default());
    assert_eq!(
        Interface::new(c).err(),
        Some(ConfigError::DhcpWithoutBroadcast)
    );
}

#[test]
fn udp_to_a_closed_port_gets_port_unreachable_over_the_one_link() {
    let mut i = iface(0);
    poll(&mut i, t(0));
    let d = frame::udp_v4(
        SocketAddrV4::new(PEER_IP, 5000),
        SocketAddrV4::new(OUR_IP, 4444),
        b"?",
    );
    let packet = frame::Ipv4::new(PEER_IP, OUR_IP, 17).packet(&d);
    let out = receive(&mut i, t(1), &packet);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0][9], PROTO_ICMP);
    assert_eq!(out[0][20], 3, "destination unreachable");
    assert_eq!(out[0][21], 3, "port unreachable");
}

#[test]
fn router_advertised_prefix_gives_an_address_from_the_same_random_id_without_dad() {
    let mut i = iface(3);
    poll(&mut i, t(0));
    let router = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
    let all = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
    let advert = frame::RouterAdvert {
        cur_hop_limit: 64,
        router_lifetime: 1800,
        prefixes: vec![frame::PrefixInfo {
            prefix_len: 64,
            on_link: true,
            autonomous: true,
            valid_lifetime: 3600,
            preferred_lifetime: 1800,
            prefix: Ipv6Addr::new(0xfd78, 0, 0, 0, 0, 0, 0, 0),
        }],
        ..Default::default()
    };
    let packet = frame::ipv6(router, all, PROTO_ICMPV6, 255, &advert.message(router, all));
    receive(&mut i, t(10), &packet);
    let slaac = i
        .ipv6_addresses()
        .iter()
        .find(|a| a.origin == Ipv6Origin::Slaac)
        .copied()
        .unwrap();
    assert_eq!(slaac.state, Ipv6AddrState::Preferred, "no DAD first");
    assert_eq!(
        slaac.cidr.addr().octets()[8..],
        i.ipv6_interface_id().unwrap()
    );
    let sent: Vec<Vec<u8>> = (10..3_000)
        .step_by(50)
        .flat_map(|ms| poll(&mut i, t(ms)))
        .collect();
    assert!(
        sent.iter().all(|p| p.get(40) != Some(&135)),
        "no neighbor solicitation"
    );
    assert_eq!(i.stats().ndp_dad_sent, 0);
}
