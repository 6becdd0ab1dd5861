//! IPv6 through the interface at explicit times: duplicate address detection, the neighbour
//! cache state machine, echo with fragments both ways, router advertisements and SLAAC, and
//! hostile packets dropped under their reasons.
//!
//! IPv6 headers and fragment headers are written out by hand here; ICMPv6 and NDP bodies come
//! from the `ipv6::icmp` and `ipv6::ndp` writers, which have byte-vector tests of their own.

// A test module: its parent declares it under #[cfg(test)], so it may unwrap.

use super::*;
use crate::config::{Ipv6Cidr, Ipv6Config};
use crate::ipv6::{self, icmp as icmp6, ndp};
use core::net::SocketAddrV6;

use tapstack_testkit::frame::{self, ETH_IPV6};

fn a6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn ours() -> Ipv6Addr {
    a6("fd77::2")
}

fn peer6() -> Ipv6Addr {
    a6("fd77::1")
}

fn our_ll() -> Ipv6Addr {
    ipv6::link_local_from_mac(OUR_MAC)
}

fn peer_ll() -> Ipv6Addr {
    ipv6::link_local_from_mac(PEER_MAC)
}

fn config6(dad_transmits: u32, router_solicitations: u32) -> Config {
    let mut c = Config::new(OUR_MAC, None);
    c.ipv6 = Some(Ipv6Config {
        addresses: vec![Ipv6Cidr::new(ours(), 64).unwrap()],
        dad_transmits,
        router_solicitations,
        max_start_delay: Duration::ZERO,
        ..Ipv6Config::default()
    });
    c
}

/// An interface whose addresses are in use from t=0.
fn ready() -> Net {
    let mut net = Net::new(config6(0, 0));
    assert_eq!(net.poll(0), NONE);
    assert_eq!(
        net.events(),
        [
            Event::Ipv6AddressReady(our_ll()),
            Event::Ipv6AddressReady(ours())
        ]
    );
    net
}

/// The 40-byte IPv6 header, by hand (RFC 8200 3), and `payload`.
fn ip6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, hop_limit: u8, payload: &[u8]) -> Vec<u8> {
    frame::ipv6(src, dst, next_header, hop_limit, payload)
}

fn frame6(dst: MacAddr, src: MacAddr, packet: &[u8]) -> Vec<u8> {
    eth(dst, src, ETH_IPV6, packet)
}

/// An ICMPv6 message from `src` to `dst` in a packet from the peer's MAC to `mac`.
fn icmp_frame(mac: MacAddr, src: Ipv6Addr, dst: Ipv6Addr, hop: u8, body: &[u8]) -> Vec<u8> {
    frame6(mac, PEER_MAC, &ip6(src, dst, 58, hop, body))
}

fn echo_request(src: Ipv6Addr, dst: Ipv6Addr, seq: u16, data: &[u8]) -> Vec<u8> {
    frame::echo_v6(src, dst, 128, 0x4242, seq, data)
}

fn ndp_body(src: Ipv6Addr, dst: Ipv6Addr, repr: &ndp::Repr<'_>) -> Vec<u8> {
    let mut m = Vec::new();
    ndp::emit(&mut m, src, dst, repr);
    m
}

fn solicit(src: Ipv6Addr, dst: Ipv6Addr, target: Ipv6Addr, ll: Option<MacAddr>) -> Vec<u8> {
    frame::neighbor_solicit(src, dst, target, ll.map(|m| m.0))
}

fn advert(src: Ipv6Addr, dst: Ipv6Addr, target: Ipv6Addr, solicited: bool) -> Vec<u8> {
    let flags = frame::AdvertFlags {
        router: false,
        solicited,
        override_entry: true,
    };
    frame::neighbor_advert(src, dst, flags, target, Some(PEER_MAC.0))
}

/// What a frame we sent carries.
struct Sent {
    mac: MacAddr,
    ip: ipv6::Repr,
    payload: Vec<u8>,
}

fn sent(frame: &[u8]) -> Sent {
    assert_eq!(frame[12..14], ETH_IPV6.to_be_bytes(), "an IPv6 frame");
    assert_eq!(frame[6..12], OUR_MAC.0);
    let (ip, payload) = ipv6::parse(&frame[14..]).expect("a valid IPv6 packet");
    Sent {
        mac: MacAddr(frame[..6].try_into().unwrap()),
        ip,
        payload: payload.to_vec(),
    }
}

/// The ICMPv6 message of a frame we sent, checksum verified.
fn icmp_of(s: &Sent) -> icmp6::Message<'_> {
    assert_eq!(s.ip.next_header, ipv6::NextHeader::Icmp);
    icmp6::parse(s.ip.src, s.ip.dst, &s.payload).expect("a valid ICMPv6 message")
}

fn nud(net: &Net, ip: Ipv6Addr) -> Option<&'static str> {
    net.iface
        .ndp_cache()
        .find(|(a, _)| *a == ip)
        .map(|(_, e)| e.state.name())
}

impl Net {
    /// Feeds `frame`; asserts it was dropped for `reason`; returns what was sent.
    fn drop_sends(&mut self, ms: u64, frame: &[u8], reason: DropReason) -> Vec<Vec<u8>> {
        let before = self.stats().drops(reason);
        let total = self.stats().total_drops();
        let out = self.rx(ms, frame);
        assert_eq!(self.stats().drops(reason), before + 1, "{reason}");
        assert_eq!(self.stats().total_drops(), total + 1, "{reason}");
        out
    }
}

#[test]
fn ipv6_is_off_unless_configured() {
    let mut net = Net::new(Config::new(OUR_MAC, Some(cidr())));
    let ping = echo_request(peer6(), ours(), 1, b"x");
    let f = icmp_frame(OUR_MAC, peer6(), ours(), 64, &ping);
    net.expect_drop(0, &f, DropReason::EthUnsupportedType);
    assert!(net.iface.ipv6_addresses().is_empty());
}

/// RFC 4862 5.4: one solicitation from :: to the solicited-node group per address, then after
/// RetransTimer (1 s) without an answer the addresses are ours.
#[test]
fn dad_passes_after_retrans_timer() {
    let mut net = Net::new(config6(1, 0));
    let out = net.poll(0);
    assert_eq!(out.len(), 2, "one DAD probe per address");
    for (frame, target) in out.iter().zip([our_ll(), ours()]) {
        let s = sent(frame);
        let group = ipv6::solicited_node(target);
        assert_eq!(s.mac, ipv6::multicast_mac(group));
        assert_eq!(
            (s.ip.src, s.ip.dst, s.ip.hop_limit),
            (Ipv6Addr::UNSPECIFIED, group, 255)
        );
        let info = ndp::IpInfo {
            src: s.ip.src,
            dst: s.ip.dst,
            hop_limit: 255,
        };
        assert_eq!(
            ndp::parse(&info, &s.payload),
            Ok(ndp::Message::NeighborSolicit {
                target,
                source_ll: None
            })
        );
    }
    assert_eq!(net.stats().ndp_dad_sent, 2);
    assert!(net.iface.ipv6_usable().is_empty());
    assert_eq!(net.events(), []);
    // Tentative: not answered, not used.
    let ping = echo_request(peer6(), ours(), 1, b"x");
    let f = icmp_frame(OUR_MAC, peer6(), ours(), 64, &ping);
    net.expect_drop(500, &f, DropReason::Ipv6TentativeDestination);
    let ns = solicit(
        peer6(),
        ipv6::solicited_node(ours()),
        ours(),
        Some(PEER_MAC),
    );
    let group_mac = ipv6::multicast_mac(ipv6::solicited_node(ours()));
    let f = icmp_frame(group_mac, peer6(), ipv6::solicited_node(ours()), 255, &ns);
    net.expect_drop(500, &f, DropReason::NdpTentativeTarget);
    assert_eq!(net.iface.poll_at(), Some(t(1000)));
    assert_eq!(net.poll(999), NONE);
    assert_eq!(net.poll(1000), NONE);
    assert_eq!(
        net.events(),
        [
            Event::Ipv6AddressReady(our_ll()),
            Event::Ipv6AddressReady(ours())
        ]
    );
    assert_eq!(net.iface.ipv6_usable(), [our_ll(), ours()]);
    // Now the same solicitation is answered.
    let out = net.rx(1100, &f);
    assert_eq!(out.len(), 1);
    let s = sent(&out[0]);
    assert_eq!((s.mac, s.ip.src, s.ip.dst), (PEER_MAC, ours(), peer6()));
}

/// RFC 4862 5.4.3 and 5.4.4: another node's DAD probe, or an advertisement, for an address we
/// are checking makes it a duplicate: not used, reported once.
#[test]
fn dad_conflicts_leave_the_address_unused() {
    let mut net = Net::new(config6(1, 0));
    net.poll(0);
    let group = ipv6::solicited_node(ours());
    let probe = solicit(Ipv6Addr::UNSPECIFIED, group, ours(), None);
    let probe = frame6(
        ipv6::multicast_mac(group),
        OTHER_MAC,
        &ip6(Ipv6Addr::UNSPECIFIED, group, 58, 255, &probe),
    );
    net.expect_drop(300, &probe, DropReason::NdpDuplicateAddress);
    assert_eq!(
        net.events(),
        [Event::Ipv6AddressDuplicate {
            addr: ours(),
            mac: OTHER_MAC
        }]
    );
    assert_eq!(net.stats().ndp_dad_duplicates, 1);
    // An advertisement for the tentative link-local address: a duplicate as well.
    let na = advert(our_ll(), ALL_NODES, our_ll(), false);
    let f = frame6(
        ipv6::multicast_mac(ALL_NODES),
        OTHER_MAC,
        &ip6(our_ll(), ALL_NODES, 58, 255, &na),
    );
    net.expect_drop(400, &f, DropReason::NdpDuplicateAddress);
    assert_eq!(net.stats().ndp_dad_duplicates, 2);
    net.events();
    assert_eq!(net.poll(1000), NONE);
    assert_eq!(net.events(), [], "nothing became ready");
    assert!(net.iface.ipv6_usable().is_empty());
    let states: Vec<_> = net.iface.ipv6_addresses().iter().map(|a| a.state).collect();
    assert_eq!(states, [Ipv6AddrState::Duplicate; 2]);
    // The duplicate's group is left: its solicitations are no longer for us.
    net.expect_drop(1100, &probe, DropReason::EthNotForUs);
}

/// RFC 4861 7.3.2 and appendix C, at explicit times: INCOMPLETE (retransmitted) -> REACHABLE
/// (queued reply leaves) -> STALE -> DELAY -> PROBE -> REACHABLE, then PROBE without answers ->
/// gone.
#[test]
fn neighbour_cache_transitions() {
    let mut net = ready();
    let ping = |seq| {
        let m = echo_request(peer6(), ours(), seq, b"ping");
        icmp_frame(OUR_MAC, peer6(), ours(), 64, &m)
    };
    // Unknown neighbour: the reply waits, a multicast solicitation goes out.
    let out = net.rx(10, &ping(1));
    assert_eq!(out.len(), 1);
    let s = sent(&out[0]);
    assert_eq!(s.ip.dst, ipv6::solicited_node(peer6()));
    assert!(matches!(
        icmp_of(&s),
        icmp6::Message::Other { kind: 135, .. }
    ));
    assert_eq!(nud(&net, peer6()), Some("INCOMPLETE"));
    assert_eq!(net.iface.footprint().ndp_pending_packets, 1);
    assert_eq!(net.poll(1009), NONE);
    assert_eq!(net.poll(1010).len(), 1, "retransmitted after RetransTimer");
    // The answer: the queued echo reply leaves.
    let na = advert(peer6(), ours(), peer6(), true);
    let out = net.rx(1500, &icmp_frame(OUR_MAC, peer6(), ours(), 255, &na));
    assert_eq!(out.len(), 1);
    let s = sent(&out[0]);
    assert_eq!(s.mac, PEER_MAC);
    assert!(matches!(
        icmp_of(&s),
        icmp6::Message::EchoReply { seq: 1, .. }
    ));
    assert_eq!(nud(&net, peer6()), Some("REACHABLE"));
    assert_eq!(net.iface.footprint().ndp_pending_packets, 0);
    // ReachableTime (30 s) runs out.
    net.poll(31_499);
    assert_eq!(nud(&net, peer6()), Some("REACHABLE"));
    net.poll(31_500);
    assert_eq!(nud(&net, peer6()), Some("STALE"));
    // Sending to a STALE neighbour: at once, and DELAY.
    let out = net.rx(40_000, &ping(2));
    assert_eq!(out.len(), 1);
    assert_eq!(sent(&out[0]).mac, PEER_MAC);
    assert_eq!(nud(&net, peer6()), Some("DELAY"));
    // DELAY_FIRST_PROBE_TIME (5 s): a unicast probe.
    assert_eq!(net.poll(44_999), NONE);
    let out = net.poll(45_000);
    assert_eq!(out.len(), 1);
    let s = sent(&out[0]);
    assert_eq!((s.mac, s.ip.dst), (PEER_MAC, peer6()));
    assert_eq!(nud(&net, peer6()), Some("PROBE"));
    // Answered (a unicast NA needs no link-layer option): REACHABLE again.
    let na = ndp_body(
        peer6(),
        ours(),
        &ndp::Repr::NeighborAdvert {
            router: false,
            solicited: true,
            override_entry: false,
            target: peer6(),
            target_ll: None,
        },
    );
    net.rx(45_100, &icmp_frame(OUR_MAC, peer6(), ours(), 255, &na));
    assert_eq!(nud(&net, peer6()), Some("REACHABLE"));
    // Once more, unanswered: three probes a second apart, then the entry is gone.
    net.poll(75_100);
    assert_eq!(nud(&net, peer6()), Some("STALE"));
    net.rx(80_000, &ping(3));
    for (ms, n) in [(85_000, 1), (86_000, 1), (87_000, 1)] {
        assert_eq!(net.poll(ms).len(), n, "probe at {ms} ms");
        assert_eq!(nud(&net, peer6()), Some("PROBE"));
    }
    assert_eq!(net.poll(88_000), NONE);
    assert_eq!(nud(&net, peer6()), None);
    assert_eq!(net.events(), [Event::Ipv6NeighbourUnreachable(peer6())]);
    assert_eq!(net.stats().ndp_resolution_failed, 1);
}

/// An unanswered resolution gives up after MAX_MULTICAST_SOLICIT and drops what waited.
#[test]
fn resolution_failure_drops_waiting_packets() {
    let mut net = ready();
    let m = echo_request(peer6(), ours(), 1, b"ping");
    net.rx(0, &icmp_frame(OUR_MAC, peer6(), ours(), 64, &m));
    assert_eq!(net.poll(1000).len(), 1);
    assert_eq!(net.poll(2000).len(), 1);
    assert_eq!(net.poll(3000), NONE);
    assert_eq!(net.events(), [Event::Ipv6NeighbourUnreachable(peer6())]);
    assert_eq!(net.stats().ndp_pending_dropped, 1);
    assert_eq!(net.iface.footprint().ndp_pending_packets, 0);
    assert!(net.iface.ndp_cache().next().is_none());
}

/// Puts the peer in the neighbour cache (its solicitation carries its MAC) and returns the
/// interface.
fn ready_with_peer() -> Net {
    let mut net = ready();
    let group = ipv6::solicited_node(ours());
    let ns = solicit(peer6(), group, ours(), Some(PEER_MAC));
    let out = net.rx(
        0,
        &icmp_frame(ipv6::multicast_mac(group), peer6(), group, 255, &ns),
    );
    assert_eq!(out.len(), 1, "the advertisement");
    let s = sent(&out[0]);
    let info = ndp::IpInfo {
        src: s.ip.src,
        dst: s.ip.dst,
        hop_limit: s.ip.hop_limit,
    };
    assert_eq!(
        ndp::parse(&info, &s.payload),
        Ok(ndp::Message::NeighborAdvert {
            router: false,
            solicited: true,
            override_entry: true,
            target: ours(),
            target_ll: Some(OUR_MAC),
        })
    );
    assert_eq!(nud(&net, peer6()), Some("STALE"));
    net
}

/// A fragment of `payload` (the fragmentable part) at `offset`, from the peer.
fn fragment(ident: u32, next_header: u8, offset: usize, more: bool, data: &[u8]) -> Vec<u8> {
    let p = frame::fragment_header(next_header, offset, more, ident, data);
    frame6(OUR_MAC, PEER_MAC, &ip6(peer6(), ours(), 44, 64, &p))
}

/// `ping -6 -s 4000`: the request arrives in three fragments, the reply leaves in three, each
/// within the MTU, and reassembles to the echo of the request.
#[test]
fn large_echo_fragmented_both_ways() {
    let mut net = ready_with_peer();
    let data: Vec<u8> = (0..4000u32).map(|i| (i % 251) as u8).collect();
    let request = echo_request(peer6(), ours(), 7, &data);
    let pieces = [(0, 1448), (1448, 2896), (2896, request.len())];
    let mut out = Vec::new();
    for (i, &(from, to)) in pieces.iter().enumerate() {
        let f = fragment(0x1234, 58, from, i < 2, &request[from..to]);
        out = net.rx(10 + i as u64, &f);
    }
    assert_eq!(net.stats().ipv6_reassembled, 1);
    assert_eq!(out.len(), 3, "the reply in three fragments");
    let mut whole = Vec::new();
    let mut ident = None;
    for (i, frame) in out.iter().enumerate() {
        assert!(frame.len() - 14 <= 1500, "within the MTU");
        let s = sent(frame);
        assert_eq!(s.ip.next_header, ipv6::NextHeader::Fragment);
        let f = crate::ipv6::ext::Fragment::parse(&s.payload).unwrap();
        assert_eq!((f.offset, f.more, f.next_header), (whole.len(), i < 2, 58));
        assert!(ident.is_none_or(|id| id == f.ident));
        ident = Some(f.ident);
        whole.extend_from_slice(&s.payload[8..]);
    }
    match icmp6::parse(ours(), peer6(), &whole).unwrap() {
        icmp6::Message::EchoReply {
            ident,
            seq,
            data: d,
        } => {
            assert_eq!((ident, seq, d), (0x4242, 7, &data[..]));
        }
        other => panic!("not an echo reply: {other:?}"),
    }
    assert_eq!(net.stats().ipv6_fragments_tx, 3);
    assert_eq!(net.stats().icmpv6_echo_replied, 1);
}

/// Hostile or broken packets: each dropped under its own reason, errors only where RFC 8200 and
/// RFC 4443 call for them.
#[test]
fn hostile_packets_are_dropped_and_counted() {
    let mut net = ready_with_peer();
    let group = ipv6::solicited_node(ours());
    let gmac = ipv6::multicast_mac(group);

    // NDP with a hop limit other than 255 crossed a router (RFC 4861 7.1.1).
    let ns = solicit(peer6(), group, ours(), Some(PEER_MAC));
    net.expect_drop(
        10,
        &icmp_frame(gmac, peer6(), group, 64, &ns),
        DropReason::NdpBadHopLimit,
    );
    // NS for a multicast target.
    let ns = solicit(peer6(), group, ALL_NODES, Some(PEER_MAC));
    net.expect_drop(
        11,
        &icmp_frame(gmac, peer6(), group, 255, &ns),
        DropReason::NdpMulticastTarget,
    );
    // An option of length zero.
    let mut ns = solicit(peer6(), group, ours(), None);
    ns.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
    ns[2..4].copy_from_slice(&[0, 0]);
    icmp6::fill_checksum(&mut ns, 0, peer6(), group);
    net.expect_drop(
        12,
        &icmp_frame(gmac, peer6(), group, 255, &ns),
        DropReason::NdpBadOption,
    );
    // A router advertisement from a global address (RFC 4861 6.1.2).
    let ra = ndp_body(
        peer6(),
        ALL_NODES,
        &ndp::Repr::RouterAdvert {
            cur_hop_limit: 1,
            managed: false,
            other: false,
            router_lifetime: 9000,
            reachable_time: 0,
            retrans_timer: 0,
            source_ll: Some(PEER_MAC),
            mtu: None,
            prefixes: &[],
        },
    );
    let all = ipv6::multicast_mac(ALL_NODES);
    let f = icmp_frame(all, peer6(), ALL_NODES, 255, &ra);
    net.expect_drop(13, &f, DropReason::NdpSourceNotLinkLocal);
    assert_eq!(net.iface.ipv6_router(), None);
    assert_eq!(net.iface.ipv6_hop_limit(), Some(64));
    // A multicast source.
    let ping = echo_request(peer6(), ours(), 1, b"x");
    let f = frame6(OUR_MAC, PEER_MAC, &ip6(ALL_NODES, ours(), 58, 64, &ping));
    net.expect_drop(14, &f, DropReason::Ipv6BadSource);
    // A bad ICMPv6 checksum.
    let mut bad = ping.clone();
    bad[8] ^= 1;
    let f = icmp_frame(OUR_MAC, peer6(), ours(), 64, &bad);
    net.expect_drop(15, &f, DropReason::Icmpv6BadChecksum);
    // Nine Destination Options headers: over the chain limit of eight.
    let mut chain = Vec::new();
    for _ in 0..9 {
        chain.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]);
    }
    let last = chain.len() - 8;
    chain[last] = 58;
    chain.extend_from_slice(&ping);
    let f = frame6(OUR_MAC, PEER_MAC, &ip6(peer6(), ours(), 60, 64, &chain));
    net.expect_drop(16, &f, DropReason::Ipv6ChainTooLong);
    // Unknown options (RFC 8200 4.2): 00 skip, 01 discard, 10 discard and Parameter Problem.
    let with_option = |kind: u8| {
        let mut p = vec![58, 0, kind, 4, 0, 0, 0, 0];
        p.extend_from_slice(&ping);
        frame6(OUR_MAC, PEER_MAC, &ip6(peer6(), ours(), 60, 64, &p))
    };
    assert_eq!(
        net.rx(17, &with_option(0x1e)).len(),
        1,
        "skipped: echo answered"
    );
    net.expect_drop(18, &with_option(0x5e), DropReason::Ipv6UnknownOption);
    let out = net.drop_sends(19, &with_option(0x9e), DropReason::Ipv6UnknownOption);
    assert_eq!(out.len(), 1);
    let s = sent(&out[0]);
    assert!(matches!(
        icmp_of(&s),
        icmp6::Message::ParameterProblem {
            code: icmp6::ParamProblemCode::UnrecognizedOption,
            pointer: 42,
            ..
        }
    ));
    // A Routing header with segments left: Parameter Problem code 0 at its type field.
    let mut p = vec![58, 0, 253, 1, 0, 0, 0, 0];
    p.extend_from_slice(&ping);
    let f = frame6(OUR_MAC, PEER_MAC, &ip6(peer6(), ours(), 43, 64, &p));
    let out = net.drop_sends(20, &f, DropReason::Ipv6RoutingHeader);
    assert!(matches!(
        icmp_of(&sent(&out[0])),
        icmp6::Message::ParameterProblem {
            code: icmp6::ParamProblemCode::ErroneousHeader,
            pointer: 42,
            ..
        }
    ));
    // An unknown upper layer: Parameter Problem code 1 at the Next Header field.
    let f = frame6(
        OUR_MAC,
        PEER_MAC,
        &ip6(peer6(), ours(), 253, 64, b"12345678"),
    );
    let out = net.drop_sends(21, &f, DropReason::Ipv6UnknownNextHeader);
    assert!(matches!(
        icmp_of(&sent(&out[0])),
        icmp6::Message::ParameterProblem {
            code: icmp6::ParamProblemCode::UnrecognizedNextHeader,
            pointer: 6,
            ..
        }
    ));
    // Fragments: a non-final one not a multiple of 8 bytes (Parameter Problem at the payload
    // length), an empty one, a first fragment without the upper-layer header (RFC 7112), and
    // overlapping ones (RFC 5722).
    let big = echo_request(peer6(), ours(), 2, &[7; 64]);
    let out = net.drop_sends(
        22,
        &fragment(1, 58, 0, true, &big[..13]),
        DropReason::Ipv6FragmentBadLength,
    );
    assert!(matches!(
        icmp_of(&sent(&out[0])),
        icmp6::Message::ParameterProblem {
            code: icmp6::ParamProblemCode::ErroneousHeader,
            pointer: 4,
            ..
        }
    ));
    net.expect_drop(
        23,
        &fragment(2, 58, 8, false, &[]),
        DropReason::Ipv6FragmentTiny,
    );
    let out = net.drop_sends(
        24,
        &fragment(3, 60, 0, true, &[58, 0, 1, 4, 0, 0, 0, 0]),
        DropReason::Ipv6IncompleteChain,
    );
    assert!(matches!(
        icmp_of(&sent(&out[0])),
        icmp6::Message::ParameterProblem {
            code: icmp6::ParamProblemCode::IncompleteChain,
            pointer: 0,
            ..
        }
    ));
    assert_eq!(net.rx(25, &fragment(4, 58, 0, true, &big[..32])), NONE);
    net.expect_drop(
        26,
        &fragment(4, 58, 24, false, &big[24..]),
        DropReason::Ipv6FragmentOverlap,
    );
    // UDP to a closed port: port unreachable (RFC 4443 3.1 code 4).
    let mut udp = Vec::new();
    crate::udp::write6(
        &mut udp,
        SocketAddrV6::new(peer6(), 5000, 0, 0),
        SocketAddrV6::new(ours(), 4444, 0, 0),
        b"anyone?",
    );
    let f = frame6(OUR_MAC, PEER_MAC, &ip6(peer6(), ours(), 17, 64, &udp));
    let out = net.drop_sends(27, &f, DropReason::UdpNoSocket);
    assert!(matches!(
        icmp_of(&sent(&out[0])),
        icmp6::Message::DestinationUnreachable { code: 4, .. }
    ));
    // Not for us at all.
    let f = icmp_frame(OUR_MAC, peer6(), a6("fd77::99"), 64, &ping);
    net.expect_drop(28, &f, DropReason::Ipv6NotForUs);
    // An error about an error is never sent: a Parameter Problem quoting an ICMPv6 error.
    let mut err = Vec::new();
    icmp6::write_error(
        &mut err,
        peer6(),
        ours(),
        icmp6::Error::DestinationUnreachable(4),
        &[0; 48],
    );
    let mut p = vec![58, 0, 0x9e, 4, 0, 0, 0, 0];
    p.extend_from_slice(&err);
    let f = frame6(OUR_MAC, PEER_MAC, &ip6(peer6(), ours(), 60, 64, &p));
    assert_eq!(net.drop_sends(29, &f, DropReason::Ipv6UnknownOption), NONE);
}

/// A Router Advertisement: default router, hop limit, MTU, on-link prefix, and a SLAAC address
/// (prefix + EUI-64) that runs DAD, is used, and goes away at the end of its valid lifetime.
#[test]
fn router_advertisement_and_slaac() {
    let mut net = ready();
    let prefix = ndp::PrefixInfo {
        prefix_len: 64,
        on_link: true,
        autonomous: true,
        valid_lifetime: 100,
        preferred_lifetime: 50,
        prefix: a6("fd78::"),
    };
    let ra = ndp_body(
        peer_ll(),
        ALL_NODES,
        &ndp::Repr::RouterAdvert {
            cur_hop_limit: 32,
            managed: false,
            other: false,
            router_lifetime: 600,
            reachable_time: 0,
            retrans_timer: 0,
            source_ll: Some(PEER_MAC),
            mtu: Some(1400),
            prefixes: &[prefix],
        },
    );
    let all = ipv6::multicast_mac(ALL_NODES);
    assert_eq!(
        net.rx(0, &icmp_frame(all, peer_ll(), ALL_NODES, 255, &ra)),
        NONE
    );
    // The prefix and the modified EUI-64 of 02:00:00:77:00:02.
    let slaac = a6("fd78::ff:fe77:2");
    assert_eq!(net.iface.ipv6_router().map(|r| r.addr), Some(peer_ll()));
    assert_eq!(net.iface.ipv6_hop_limit(), Some(32));
    assert_eq!(net.iface.ipv6_mtu(), Some(1400));
    assert_eq!(net.iface.ipv6_prefixes().len(), 1);
    assert_eq!(net.stats().ndp_router_adverts_rx, 1);
    // Our addresses were ready at once (no DAD configured), and so is the new one.
    assert_eq!(net.events(), [Event::Ipv6AddressReady(slaac)]);
    assert!(net.iface.ipv6_usable().contains(&slaac));
    let entry = net
        .iface
        .ndp_cache()
        .find(|(a, _)| *a == peer_ll())
        .unwrap()
        .1;
    assert!(entry.router && entry.mac == Some(PEER_MAC));
    // Reachable: a ping to it is answered from it, with the advertised hop limit.
    let ping = echo_request(peer6(), slaac, 1, b"hi");
    let ns = solicit(peer6(), ipv6::solicited_node(slaac), slaac, Some(PEER_MAC));
    let g = ipv6::solicited_node(slaac);
    assert_eq!(
        net.rx(1, &icmp_frame(ipv6::multicast_mac(g), peer6(), g, 255, &ns))
            .len(),
        1
    );
    let out = net.rx(2, &icmp_frame(OUR_MAC, peer6(), slaac, 64, &ping));
    let s = sent(&out[0]);
    assert_eq!((s.ip.src, s.ip.hop_limit), (slaac, 32));
    // Preferred lifetime over: deprecated; valid lifetime over: gone.
    net.poll(50_000);
    let state = |net: &Net| {
        net.iface
            .ipv6_addresses()
            .iter()
            .find(|a| a.cidr.addr() == slaac)
            .map(|a| a.state)
    };
    assert_eq!(state(&net), Some(Ipv6AddrState::Deprecated));
    net.poll(100_000);
    assert_eq!(state(&net), None);
    assert!(net.events().contains(&Event::Ipv6AddressExpired(slaac)));
}

/// RFC 4861 6.3.7: a router solicitation at start, from :: while the link-local address is
/// tentative (without a link-layer option), then from it; stops once an RA arrives.
#[test]
fn router_solicitation_at_start() {
    let mut net = Net::new(config6(1, 3));
    let out = net.poll(0);
    let rs: Vec<Sent> = out
        .iter()
        .map(|f| sent(f))
        .filter(|s| s.ip.dst == ALL_ROUTERS)
        .collect();
    assert_eq!(rs.len(), 1);
    assert_eq!(rs[0].ip.src, Ipv6Addr::UNSPECIFIED);
    assert_eq!(rs[0].payload.len(), 8, "no link-layer option from ::");
    net.poll(1000);
    let out = net.poll(4000);
    assert_eq!(out.len(), 1);
    let s = sent(&out[0]);
    assert_eq!((s.ip.src, s.ip.dst), (our_ll(), ALL_ROUTERS));
    assert_eq!(s.payload.len(), 16, "with our link-layer address");
    let ra = ndp_body(
        peer_ll(),
        ALL_NODES,
        &ndp::Repr::RouterAdvert {
            cur_hop_limit: 0,
            managed: false,
            other: false,
            router_lifetime: 0,
            reachable_time: 0,
            retrans_timer: 0,
            source_ll: None,
            mtu: None,
            prefixes: &[],
        },
    );
    let all = ipv6::multicast_mac(ALL_NODES);
    net.rx(4100, &icmp_frame(all, peer_ll(), ALL_NODES, 255, &ra));
    assert_eq!(net.poll(8000), NONE, "no more solicitations");
    assert_eq!(net.stats().ndp_router_solicits_sent, 2);
}

/// UDP and TCP over IPv6 through the same sockets as IPv4.
#[test]
fn udp_socket_answers_over_ipv6() {
    let mut net = ready_with_peer();
    let h = net.iface.udp_bind(7).unwrap();
    let mut udp = Vec::new();
    crate::udp::write6(
        &mut udp,
        SocketAddrV6::new(peer6(), 5000, 0, 0),
        SocketAddrV6::new(ours(), 7, 0, 0),
        b"hello",
    );
    let f = frame6(OUR_MAC, PEER_MAC, &ip6(peer6(), ours(), 17, 64, &udp));
    assert_eq!(net.rx(10, &f), NONE);
    let (from, data) = net.iface.udp_recv_from(h).unwrap();
    assert_eq!(from, SocketAddr::V6(SocketAddrV6::new(peer6(), 5000, 0, 0)));
    net.iface.udp_send_to(h, from, &data).unwrap();
    let out = net.poll(11);
    assert_eq!(out.len(), 1);
    let s = sent(&out[0]);
    assert_eq!(
        (s.ip.src, s.ip.dst, s.ip.next_header),
        (ours(), peer6(), ipv6::NextHeader::Udp)
    );
    let d = crate::udp::parse6(&s.payload, ours(), peer6()).unwrap();
    assert_eq!(
        (d.src_port, d.dst_port, d.payload),
        (7, 5000, &b"hello"[..])
    );
    // Without a checksum it is not taken (RFC 8200 8.1).
    let mut zero = udp.clone();
    zero[6..8].copy_from_slice(&[0, 0]);
    let f = frame6(OUR_MAC, PEER_MAC, &ip6(peer6(), ours(), 17, 64, &zero));
    net.expect_drop(12, &f, DropReason::UdpZeroChecksum);
}

/// TCP over IPv6: our SYN-ACK announces MTU - 60, and a Packet Too Big quoting one of our
/// segments lowers the connection's segment size to the reported MTU less 60 (RFC 8201).
#[test]
fn tcp_mss_and_packet_too_big() {
    use crate::tcp::segment::{self, Flags, Options};
    use crate::tcp::Seq;
    let mut net = ready_with_peer();
    let l = net.iface.tcp_listen(80, 4).unwrap();
    let (peer_ip, our_ip) = (IpAddr::V6(peer6()), IpAddr::V6(ours()));
    let syn = segment::Repr {
        src_port: 40_000,
        dst_port: 80,
        seq: Seq(1000),
        ack: Seq(0),
        flags: Flags {
            syn: true,
            ..Flags::default()
        },
        window: 65_535,
        options: Options {
            mss: Some(1440),
            ..Options::default()
        },
        urgent: 0,
    };
    let mut t = Vec::new();
    segment::emit(&mut t, &syn, peer_ip, our_ip, [&[], &[]]);
    let out = net.rx(
        10,
        &frame6(OUR_MAC, PEER_MAC, &ip6(peer6(), ours(), 6, 64, &t)),
    );
    assert_eq!(out.len(), 1, "SYN-ACK");
    let s = sent(&out[0]);
    let (syn_ack, _) = segment::parse(&s.payload, our_ip, peer_ip).unwrap();
    assert!(syn_ack.flags.syn && syn_ack.flags.ack);
    assert_eq!(syn_ack.options.mss, Some(1440), "1500 - 40 - 20");
    let ack = segment::Repr {
        seq: Seq(1001),
        ack: syn_ack.seq + 1,
        flags: Flags {
            ack: true,
            ..Flags::default()
        },
        options: Options::default(),
        ..syn
    };
    let mut t = Vec::new();
    segment::emit(&mut t, &ack, peer_ip, our_ip, [&[], &[]]);
    net.rx(
        20,
        &frame6(OUR_MAC, PEER_MAC, &ip6(peer6(), ours(), 6, 64, &t)),
    );
    let h = net.iface.tcp_accept(l).expect("established");
    assert_eq!(net.iface.tcp_connection(h).unwrap().mss(), 1440);
    // Our data is in flight from SND.UNA = ISS + 1.
    assert_eq!(net.iface.tcp_send(h, &[7; 100]), Ok(100));
    assert_eq!(net.poll(25).len(), 1, "the data segment");
    // A router on the path has an MTU of 1280: it quotes our segment (port 80 -> 40000).
    let ptb_quoting = |seq: Seq| {
        let mut quoted_tcp = vec![0, 80, 0x9c, 0x40];
        quoted_tcp.extend_from_slice(&seq.0.to_be_bytes());
        quoted_tcp.extend_from_slice(&[0; 12]);
        let quoted = ip6(ours(), peer6(), 6, 64, &quoted_tcp);
        let mut ptb = Vec::new();
        icmp6::write_error(
            &mut ptb,
            peer6(),
            ours(),
            icmp6::Error::PacketTooBig(1280),
            &quoted,
        );
        icmp_frame(OUR_MAC, peer6(), ours(), 64, &ptb)
    };
    // RFC 5927: a quote of a sequence number not in flight (a blind guess) changes nothing.
    for forged in [Seq(0), syn_ack.seq, syn_ack.seq + 101] {
        assert_eq!(net.rx(28, &ptb_quoting(forged)), NONE);
        assert_eq!(net.iface.tcp_connection(h).unwrap().mss(), 1440);
    }
    assert_eq!(net.rx(30, &ptb_quoting(syn_ack.seq + 1)), NONE);
    assert_eq!(net.stats().icmpv6_errors_rx, 4);
    assert_eq!(
        net.iface.tcp_connection(h).unwrap().mss(),
        1220,
        "1280 - 60"
    );
}

/// Prefixes that cannot hold unicast addresses are not autoconfigured.
#[test]
fn slaac_ignores_multicast_and_link_local_prefixes() {
    let mut net = ready();
    let all = ipv6::multicast_mac(ALL_NODES);
    for prefix in ["ff78::", "fe80::", "::"] {
        let p = ndp::PrefixInfo {
            prefix_len: 64,
            on_link: true,
            autonomous: true,
            valid_lifetime: 100,
            preferred_lifetime: 50,
            prefix: a6(prefix),
        };
        let ra = ndp_body(
            peer_ll(),
            ALL_NODES,
            &ndp::Repr::RouterAdvert {
                cur_hop_limit: 0,
                managed: false,
                other: false,
                router_lifetime: 0,
                reachable_time: 0,
                retrans_timer: 0,
                source_ll: None,
                mtu: None,
                prefixes: &[p],
            },
        );
        net.rx(1, &icmp_frame(all, peer_ll(), ALL_NODES, 255, &ra));
    }
    assert_eq!(
        net.iface.ipv6_addresses().len(),
        2,
        "link-local and static only"
    );
    assert!(net.iface.ipv6_prefixes().is_empty());
    assert_eq!(net.events(), []);
}

/// RFC 8200 4.5: a packet whose fragments did not all come is dropped at the reassembly timeout,
/// with Time Exceeded (code 1) to the source only if its first fragment had come.
#[test]
fn reassembly_timeout_sends_time_exceeded_for_first_fragments() {
    let mut net = ready_with_peer();
    let request = echo_request(peer6(), ours(), 9, &[5; 3000]);
    assert_eq!(
        net.rx(10, &fragment(7, 58, 0, true, &request[..1448])),
        NONE
    );
    assert_eq!(
        net.rx(10, &fragment(8, 58, 1448, true, &request[1448..2896])),
        NONE
    );
    assert_eq!(net.iface.footprint().ipv6_reassembly_datagrams, 2);
    assert_eq!(net.poll(30_009), NONE);
    let out = net.poll(30_010);
    assert_eq!(
        out.len(),
        1,
        "one error: only packet 7 had its first fragment"
    );
    let s = sent(&out[0]);
    assert_eq!((s.ip.src, s.ip.dst), (ours(), peer6()));
    match icmp_of(&s) {
        icmp6::Message::TimeExceeded { code, original } => {
            assert_eq!(code, 1);
            assert_eq!(
                &original[8..24],
                &peer6().octets(),
                "quotes the packet's source"
            );
            assert_eq!(&original[40..48], &request[..8], "and its first bytes");
        }
        other => panic!("not Time Exceeded: {other:?}"),
    }
    assert_eq!(net.stats().ipv6_reassembly_timeouts, 2);
    assert_eq!(net.iface.footprint().ipv6_reassembly_datagrams, 0);
}
