//! Byte-vector tests of the interface: frames in, frames out, counters, at explicit times.
//!
//! Frames are built with the test kit's builders (`tapstack_testkit::frame`), which have their
//! own checksum code rather than the stack's, so the expected bytes are an independent encoding
//! of the wire formats. Every step checks the
//! accounting invariant `rx_frames == rx_handled + total_drops()`.

// A test module: its parent declares it under #[cfg(test)], so it may unwrap.

use core::time::Duration;

use super::*;
use crate::arp::Entry;
use crate::Host;

#[path = "tests6.rs"]
mod v6;

const OUR_MAC: MacAddr = MacAddr([0x02, 0, 0, 0x77, 0, 0x02]);
const OUR_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
const PEER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0x77, 0, 0x01]);
const PEER_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const NEIGH_MAC: MacAddr = MacAddr([0x02, 0, 0, 0x77, 0, 0x05]);
const NEIGH_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 5);
const OTHER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0x77, 0, 0x09]);
const SUBNET_BROADCAST: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 255);
const ALL_HOSTS_MAC: MacAddr = MacAddr([0x01, 0x00, 0x5e, 0, 0, 1]);

use tapstack_testkit::frame::{
    self, echo, icmpv4 as icmp_message, udp_v4 as udp_datagram, ARP_REPLY as OP_REPLY,
    ARP_REQUEST as OP_REQUEST, ETH_ARP, ETH_IPV4, PROTO_ICMP, PROTO_UDP,
};

/// No frames.
const NONE: [Vec<u8>; 0] = [];

fn t(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

// ------------------------------------------------------------------------------------------------
// Wire formats, written out by hand (the test kit's builders, adapted to `MacAddr`).

/// The Internet checksum (RFC 1071) of `data`, as a number to write big-endian.
fn inet_checksum(data: &[u8]) -> u16 {
    frame::checksum(&[data])
}

fn eth(dst: MacAddr, src: MacAddr, ether_type: u16, payload: &[u8]) -> Vec<u8> {
    frame::ethernet(dst.0, src.0, ether_type, payload)
}

/// An Ethernet/IPv4 ARP packet (RFC 826).
fn arp_packet(op: u16, sender: (MacAddr, Ipv4Addr), target: (MacAddr, Ipv4Addr)) -> Vec<u8> {
    frame::arp(op, (sender.0 .0, sender.1), (target.0 .0, target.1))
}

/// An ARP frame to `dst`, sent from the ARP sender's MAC.
fn arp_frame(
    dst: MacAddr,
    op: u16,
    sender: (MacAddr, Ipv4Addr),
    target: (MacAddr, Ipv4Addr),
) -> Vec<u8> {
    frame::arp_frame(dst.0, op, (sender.0 .0, sender.1), (target.0 .0, target.1))
}

/// The fields of an IPv4 header (no options); `Ip::new` is a datagram as a peer sends it: TTL
/// 64, no flags, identification 0x1234.
type Ip = frame::Ipv4;

/// Datagrams of the interface under test.
trait Ours {
    /// A datagram as the interface under test sends it: from us, TTL 64, DF clear.
    fn ours(dst: Ipv4Addr, protocol: u8, ident: u16) -> Self;
}

impl Ours for Ip {
    fn ours(dst: Ipv4Addr, protocol: u8, ident: u16) -> Self {
        Ip::new(OUR_IP, dst, protocol).ident(ident)
    }
}

fn peer(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(PEER_IP, port)
}

fn us(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(OUR_IP, port)
}

/// An IPv4 packet in a frame from the peer to our MAC.
fn from_peer(packet: &[u8]) -> Vec<u8> {
    eth(OUR_MAC, PEER_MAC, ETH_IPV4, packet)
}

/// An IPv4 packet in a frame from us to the peer's MAC.
fn to_peer(packet: &[u8]) -> Vec<u8> {
    eth(PEER_MAC, OUR_MAC, ETH_IPV4, packet)
}

/// Cuts `payload` into fragments of `per` bytes, each in a frame from the peer.
fn fragments_from_peer(ip: Ip, payload: &[u8], per: usize) -> Vec<Vec<u8>> {
    let n = payload.len().div_ceil(per);
    payload
        .chunks(per)
        .enumerate()
        .map(|(i, c)| from_peer(&ip.fragment(i * per, i + 1 < n).packet(c)))
        .collect()
}

/// The identification of the `n`th datagram (from 0) sent by an interface seeded with 0.
fn ident(n: u16) -> u16 {
    let first = (Rng::new(0, "ipv4").next_u32() & 0xffff) as u16;
    first.wrapping_add(1).wrapping_add(n)
}

fn arp_request_from_peer() -> Vec<u8> {
    arp_frame(
        MacAddr::BROADCAST,
        OP_REQUEST,
        (PEER_MAC, PEER_IP),
        (MacAddr::ZERO, OUR_IP),
    )
}

/// The reply to [`arp_request_from_peer`], byte for byte.
const ARP_REPLY_TO_PEER: [u8; 42] = [
    0x02, 0x00, 0x00, 0x77, 0x00, 0x01, // destination: the peer
    0x02, 0x00, 0x00, 0x77, 0x00, 0x02, // source: us
    0x08, 0x06, // ARP
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, // Ethernet/IPv4
    0x00, 0x02, // reply
    0x02, 0x00, 0x00, 0x77, 0x00, 0x02, 10, 77, 0, 2, // sender: us
    0x02, 0x00, 0x00, 0x77, 0x00, 0x01, 10, 77, 0, 1, // target: the peer
];

fn probe() -> Vec<u8> {
    arp_frame(
        MacAddr::BROADCAST,
        OP_REQUEST,
        (OUR_MAC, Ipv4Addr::UNSPECIFIED),
        (MacAddr::ZERO, OUR_IP),
    )
}

fn announcement() -> Vec<u8> {
    arp_frame(
        MacAddr::BROADCAST,
        OP_REQUEST,
        (OUR_MAC, OUR_IP),
        (MacAddr::ZERO, OUR_IP),
    )
}

fn arp_request_for(ip: Ipv4Addr) -> Vec<u8> {
    arp_frame(
        MacAddr::BROADCAST,
        OP_REQUEST,
        (OUR_MAC, OUR_IP),
        (MacAddr::ZERO, ip),
    )
}

// ------------------------------------------------------------------------------------------------
// The harness.

/// An interface and what it emits.
struct Net {
    iface: Interface,
}

impl Net {
    fn new(config: Config) -> Self {
        Net {
            iface: Interface::new(config).unwrap(),
        }
    }

    fn rx(&mut self, ms: u64, frame: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        self.iface
            .receive(t(ms), frame, &mut |f| out.push(f.to_vec()));
        check_accounting(self.iface.stats());
        out
    }

    fn poll(&mut self, ms: u64) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        self.iface.poll(t(ms), &mut |f| out.push(f.to_vec()));
        check_accounting(self.iface.stats());
        out
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.iface.poll_event()).collect()
    }

    fn stats(&self) -> &Stats {
        self.iface.stats()
    }

    fn drops(&self) -> Vec<(DropReason, u64)> {
        self.iface.stats().nonzero_drops().collect()
    }

    /// Feeds `frame`; asserts nothing was sent and it was dropped for `reason` alone.
    fn expect_drop(&mut self, ms: u64, frame: &[u8], reason: DropReason) {
        let before = self.stats().clone();
        let out = self.rx(ms, frame);
        assert_eq!(out, NONE, "{reason}: nothing is sent");
        let after = self.stats();
        assert_eq!(after.drops(reason), before.drops(reason) + 1, "{reason}");
        assert_eq!(after.total_drops(), before.total_drops() + 1, "{reason}");
        assert_eq!(after.rx_handled, before.rx_handled, "{reason}");
    }
}

fn check_accounting(s: &Stats) {
    assert_eq!(s.rx_frames, s.rx_handled + s.total_drops(), "{s}");
}

fn cidr() -> Ipv4Cidr {
    Ipv4Cidr::new(OUR_IP, 24).unwrap()
}

/// 10.77.0.2/24 at 02:00:00:77:00:02, taken into use at once, without announcements.
fn config() -> Config {
    let mut c = Config::new(OUR_MAC, Some(cidr()));
    c.arp.probe_count = 0;
    c.arp.announce_count = 0;
    c
}

/// An interface whose address is in use and which has learned the peer at time 0.
fn ready_with(config: Config) -> Net {
    let mut net = Net::new(config);
    assert_eq!(net.poll(0), NONE);
    assert_eq!(net.events(), [Event::AddressReady(OUR_IP)]);
    assert_eq!(net.rx(0, &arp_request_from_peer()), [ARP_REPLY_TO_PEER]);
    net
}

fn ready() -> Net {
    ready_with(config())
}

// ------------------------------------------------------------------------------------------------
// Ethernet.

#[test]
fn ethernet_filter() {
    let mut net = ready();
    let ping = Ip::new(PEER_IP, OUR_IP, PROTO_ICMP).packet(&echo(8, 1, 1, b"x"));
    net.expect_drop(1, &from_peer(&ping)[..13], DropReason::EthTruncated);
    net.expect_drop(1, &[], DropReason::EthTruncated);
    let other = eth(OTHER_MAC, PEER_MAC, ETH_IPV4, &ping);
    net.expect_drop(1, &other, DropReason::EthNotForUs);
    let mdns_group = MacAddr([0x01, 0x00, 0x5e, 0, 0, 0xfb]);
    net.expect_drop(
        1,
        &eth(mdns_group, PEER_MAC, ETH_IPV4, &ping),
        DropReason::EthNotForUs,
    );
    net.expect_drop(
        1,
        &eth(OUR_MAC, OUR_MAC, ETH_IPV4, &ping),
        DropReason::EthBadSource,
    );
    net.expect_drop(
        1,
        &eth(OUR_MAC, ALL_HOSTS_MAC, ETH_IPV4, &ping),
        DropReason::EthBadSource,
    );
    net.expect_drop(
        1,
        &eth(OUR_MAC, PEER_MAC, 0x86dd, &ping),
        DropReason::EthUnsupportedType,
    );
    net.expect_drop(
        1,
        &eth(OUR_MAC, PEER_MAC, 0x8100, &ping),
        DropReason::EthUnsupportedType,
    );
    // The MTU plus 8 bytes of slack is accepted; one more is not.
    let mut padded = from_peer(&ping);
    padded.resize(14 + 1508, 0);
    assert_eq!(net.rx(1, &padded).len(), 1, "padded ping answered");
    padded.push(0);
    net.expect_drop(1, &padded, DropReason::EthOversize);
    assert_eq!(
        net.drops(),
        [
            (DropReason::EthTruncated, 2),
            (DropReason::EthOversize, 1),
            (DropReason::EthNotForUs, 2),
            (DropReason::EthBadSource, 2),
            (DropReason::EthUnsupportedType, 2),
        ]
    );
    assert_eq!((net.stats().rx_frames, net.stats().rx_handled), (11, 2));
}

// ------------------------------------------------------------------------------------------------
// ARP.

#[test]
fn arp_request_for_us_gets_exact_reply_and_teaches_the_cache() {
    let mut net = Net::new(config());
    assert_eq!(net.iface.poll_at(), Some(Instant::ZERO), "not started yet");
    assert_eq!(net.poll(0), NONE);
    assert_eq!(net.events(), [Event::AddressReady(OUR_IP)]);
    assert_eq!(net.iface.ipv4(), Some(cidr()));

    // Padded to the Ethernet minimum, as it arrives from a real link.
    let mut request = arp_request_from_peer();
    request.resize(60, 0);
    assert_eq!(net.rx(500, &request), [ARP_REPLY_TO_PEER]);
    assert_eq!(
        net.iface.arp_cache().collect::<Vec<_>>(),
        [(
            PEER_IP,
            Entry::Resolved {
                mac: PEER_MAC,
                expires: t(500) + Duration::from_secs(60)
            }
        )]
    );
    let s = net.stats();
    assert_eq!(
        (
            s.rx_frames,
            s.rx_bytes,
            s.rx_handled,
            s.tx_frames,
            s.tx_bytes
        ),
        (1, 60, 1, 1, 42)
    );
    assert_eq!((s.arp_replies_sent, s.arp_learned), (1, 1));
    assert_eq!(net.drops(), []);

    // The learned address is used without asking: a ping is answered straight away.
    let ping = Ip::new(PEER_IP, OUR_IP, PROTO_ICMP).packet(&echo(8, 9, 1, b"abc"));
    let reply = Ip::ours(PEER_IP, PROTO_ICMP, ident(0)).packet(&echo(0, 9, 1, b"abc"));
    assert_eq!(net.rx(600, &from_peer(&ping)), [to_peer(&reply)]);
    assert_eq!(net.stats().arp_requests_sent, 0);
}

#[test]
fn arp_request_for_another_address_is_ignored() {
    let mut net = Net::new(config());
    net.poll(0);
    let for_other = arp_frame(
        MacAddr::BROADCAST,
        OP_REQUEST,
        (PEER_MAC, PEER_IP),
        (MacAddr::ZERO, Ipv4Addr::new(10, 77, 0, 3)),
    );
    net.expect_drop(10, &for_other, DropReason::ArpNotForUs);
    assert_eq!(net.iface.arp_cache().count(), 0, "nothing learned");

    // RFC 826: once the sender is known, its entry is refreshed by any ARP it sends.
    assert_eq!(net.rx(20, &arp_request_from_peer()), [ARP_REPLY_TO_PEER]);
    let moved = arp_frame(
        MacAddr::BROADCAST,
        OP_REQUEST,
        (OTHER_MAC, PEER_IP),
        (MacAddr::ZERO, Ipv4Addr::new(10, 77, 0, 3)),
    );
    assert_eq!(net.rx(30, &moved), NONE);
    assert_eq!(
        net.iface.arp_cache().collect::<Vec<_>>(),
        [(
            PEER_IP,
            Entry::Resolved {
                mac: OTHER_MAC,
                expires: t(30) + Duration::from_secs(60)
            }
        )]
    );
    assert_eq!(net.drops(), [(DropReason::ArpNotForUs, 1)]);
    assert_eq!(net.stats().rx_handled, 2);
}

#[test]
fn unsolicited_reply_to_us_is_learned_without_answer() {
    let mut net = Net::new(config());
    net.poll(0);
    let reply = arp_frame(OUR_MAC, OP_REPLY, (NEIGH_MAC, NEIGH_IP), (OUR_MAC, OUR_IP));
    assert_eq!(net.rx(5, &reply), NONE);
    assert_eq!(
        net.iface.arp_cache().collect::<Vec<_>>(),
        [(
            NEIGH_IP,
            Entry::Resolved {
                mac: NEIGH_MAC,
                expires: t(5) + Duration::from_secs(60)
            }
        )]
    );
    assert_eq!((net.stats().rx_handled, net.stats().tx_frames), (1, 0));
}

#[test]
fn malformed_and_foreign_arp_is_dropped() {
    let mut net = ready();
    let good = arp_request_from_peer();
    net.expect_drop(1, &good[..14 + 27], DropReason::ArpTruncated);
    net.expect_drop(1, &good[..14 + 7], DropReason::ArpTruncated);
    let mut ieee802 = good.clone();
    ieee802[15] = 6;
    net.expect_drop(1, &ieee802, DropReason::ArpUnsupported);
    let mut rarp = good.clone();
    rarp[21] = 3;
    net.expect_drop(1, &rarp, DropReason::ArpUnsupported);
    let mut ipv6 = good.clone();
    ipv6[16..18].copy_from_slice(&[0x86, 0xdd]);
    net.expect_drop(1, &ipv6, DropReason::ArpUnsupported);
    // A group address as ARP sender (the Ethernet source is fine).
    let group_sender = eth(
        MacAddr::BROADCAST,
        PEER_MAC,
        ETH_ARP,
        &arp_packet(
            OP_REQUEST,
            (ALL_HOSTS_MAC, PEER_IP),
            (MacAddr::ZERO, OUR_IP),
        ),
    );
    net.expect_drop(1, &group_sender, DropReason::ArpBadSender);
    for sender in [
        Ipv4Addr::new(10, 78, 0, 1),
        SUBNET_BROADCAST,
        Ipv4Addr::new(10, 77, 0, 0),
    ] {
        let f = arp_frame(
            MacAddr::BROADCAST,
            OP_REQUEST,
            (OTHER_MAC, sender),
            (MacAddr::ZERO, OUR_IP),
        );
        net.expect_drop(1, &f, DropReason::ArpBadSender);
    }
    // Someone else's probe after we claimed our address: nothing to learn, no conflict.
    let probe_other = arp_frame(
        MacAddr::BROADCAST,
        OP_REQUEST,
        (OTHER_MAC, Ipv4Addr::UNSPECIFIED),
        (MacAddr::ZERO, Ipv4Addr::new(10, 77, 0, 3)),
    );
    net.expect_drop(1, &probe_other, DropReason::ArpNotForUs);
    assert_eq!(
        net.drops(),
        [
            (DropReason::ArpTruncated, 2),
            (DropReason::ArpUnsupported, 3),
            (DropReason::ArpBadSender, 4),
            (DropReason::ArpNotForUs, 1),
        ]
    );
    assert_eq!(net.iface.arp_cache().count(), 1, "only the peer");
}

#[test]
fn arp_cache_is_bounded() {
    let mut c = config();
    c.limits.arp_cache_entries = 2;
    let mut net = Net::new(c);
    net.poll(0);
    for i in 1..=3u8 {
        let mac = MacAddr([0x02, 0, 0, 0x77, 1, i]);
        let ip = Ipv4Addr::new(10, 77, 0, 10 + i);
        let request = arp_frame(
            MacAddr::BROADCAST,
            OP_REQUEST,
            (mac, ip),
            (MacAddr::ZERO, OUR_IP),
        );
        assert_eq!(net.rx(u64::from(i), &request).len(), 1);
        assert!(net.iface.footprint().arp_entries <= 2);
    }
    let cached: Vec<Ipv4Addr> = net.iface.arp_cache().map(|(ip, _)| ip).collect();
    assert_eq!(
        cached,
        [Ipv4Addr::new(10, 77, 0, 12), Ipv4Addr::new(10, 77, 0, 13)],
        "the entry closest to expiry went"
    );
    assert_eq!(net.stats().arp_evictions, 1);
}

// ------------------------------------------------------------------------------------------------
// RFC 5227: probing, announcing, defending.

fn probing_config() -> Config {
    let mut c = config();
    c.arp.probe_count = 2;
    c.arp.probe_interval = Duration::from_millis(200);
    c.arp.announce_count = 2;
    c.arp.announce_interval = Duration::from_secs(2);
    c
}

#[test]
fn probes_then_claims_and_announces() {
    let mut net = Net::new(probing_config());
    assert_eq!(net.poll(0), [probe()]);
    assert_eq!(
        net.iface.address_state(),
        AddressState::Probing {
            sent: 1,
            next: t(200)
        }
    );
    assert_eq!(net.iface.ipv4(), None);
    assert_eq!(net.iface.poll_at(), Some(t(200)));
    assert_eq!(net.poll(199), NONE);
    assert_eq!(net.poll(200), [probe()]);
    assert_eq!(net.events(), []);

    // Not ours yet: no ARP replies, no IPv4.
    net.expect_drop(300, &arp_request_from_peer(), DropReason::ArpNotForUs);
    let ping = Ip::new(PEER_IP, OUR_IP, PROTO_ICMP).packet(&echo(8, 1, 1, b""));
    net.expect_drop(300, &from_peer(&ping), DropReason::Ipv4NoAddress);

    assert_eq!(net.poll(399), NONE);
    assert_eq!(net.poll(400), [announcement()]);
    assert_eq!(net.events(), [Event::AddressReady(OUR_IP)]);
    assert_eq!(
        net.iface.address_state(),
        AddressState::Ready {
            announcements: 1,
            next: t(2400)
        }
    );
    assert_eq!(net.iface.ipv4(), Some(cidr()));
    assert_eq!(net.iface.poll_at(), Some(t(2400)));
    assert_eq!(net.poll(2399), NONE);
    assert_eq!(net.poll(2400), [announcement()]);
    assert_eq!(net.iface.poll_at(), None);
    assert_eq!(net.poll(60_000), NONE);
    assert_eq!(net.stats().arp_probes_sent, 4);
    assert_eq!(net.stats().tx_frames, 4);
    assert_eq!(net.events(), []);
}

#[test]
fn reply_for_our_address_while_probing_rejects_it() {
    let mut net = Net::new(probing_config());
    assert_eq!(net.poll(0), [probe()]);
    // The owner answers the probe (RFC 5227 2.1.1: target IP all zeros, target MAC ours).
    let owner = arp_frame(
        OUR_MAC,
        OP_REPLY,
        (OTHER_MAC, OUR_IP),
        (OUR_MAC, Ipv4Addr::UNSPECIFIED),
    );
    net.expect_drop(100, &owner, DropReason::ArpConflict);
    assert_eq!(net.iface.address_state(), AddressState::Conflict);
    assert_eq!(
        net.events(),
        [Event::AddressRejected {
            addr: OUR_IP,
            mac: OTHER_MAC
        }]
    );
    assert_eq!(net.stats().arp_conflicts, 1);
    assert_eq!(net.iface.poll_at(), None);
    for ms in [200, 400, 2400, 10_000] {
        assert_eq!(
            net.poll(ms),
            NONE,
            "no probe, claim or announcement at {ms}"
        );
    }
    assert_eq!(net.iface.ipv4(), None);
    assert_eq!(net.events(), []);
    assert_eq!(net.stats().arp_probes_sent, 1);
    assert_eq!(net.iface.arp_cache().count(), 0);
}

#[test]
fn simultaneous_probe_for_our_address_rejects_it() {
    let mut net = Net::new(probing_config());
    assert_eq!(net.poll(0), [probe()]);
    let their_probe = arp_frame(
        MacAddr::BROADCAST,
        OP_REQUEST,
        (OTHER_MAC, Ipv4Addr::UNSPECIFIED),
        (MacAddr::ZERO, OUR_IP),
    );
    net.expect_drop(150, &their_probe, DropReason::ArpConflict);
    assert_eq!(net.iface.address_state(), AddressState::Conflict);
    assert_eq!(
        net.events(),
        [Event::AddressRejected {
            addr: OUR_IP,
            mac: OTHER_MAC
        }]
    );
    assert_eq!(net.poll(400), NONE);
}

#[test]
fn conflict_after_claiming_is_defended_once_per_interval() {
    let mut net = Net::new(config());
    net.poll(0);
    assert_eq!(net.events(), [Event::AddressReady(OUR_IP)]);
    let gratuitous = arp_frame(
        MacAddr::BROADCAST,
        OP_REQUEST,
        (OTHER_MAC, OUR_IP),
        (MacAddr::ZERO, OUR_IP),
    );
    let conflict = Event::AddressConflict {
        addr: OUR_IP,
        mac: OTHER_MAC,
    };
    assert_eq!(net.rx(1000, &gratuitous), [announcement()]);
    assert_eq!(net.events(), [conflict]);
    // RFC 5227 2.4 (b): at most one defence per DEFEND_INTERVAL (10 s).
    assert_eq!(net.rx(5000, &gratuitous), NONE);
    assert_eq!(net.events(), [conflict]);
    assert_eq!(net.rx(10_999, &gratuitous), NONE);
    assert_eq!(net.events(), [conflict]);
    assert_eq!(net.rx(11_000, &gratuitous), [announcement()]);
    assert_eq!(net.events(), [conflict]);

    let s = net.stats();
    assert_eq!((s.arp_conflicts, s.arp_probes_sent), (4, 2));
    assert_eq!(net.drops(), [(DropReason::ArpConflict, 4)]);
    assert!(matches!(
        net.iface.address_state(),
        AddressState::Ready { .. }
    ));
    assert_eq!(net.iface.ipv4(), Some(cidr()), "we keep the address");
    assert_eq!(net.iface.arp_cache().count(), 0, "the claim is not learned");
}

#[test]
fn events_are_bounded() {
    let mut c = config();
    c.limits.events = 2;
    let mut net = Net::new(c);
    net.poll(0);
    for i in 1..=3u8 {
        let mac = MacAddr([0x02, 0, 0, 0, 0, i]);
        let f = arp_frame(
            MacAddr::BROADCAST,
            OP_REPLY,
            (mac, OUR_IP),
            (MacAddr::ZERO, OUR_IP),
        );
        net.rx(u64::from(i), &f);
        assert!(net.iface.footprint().events <= 2);
    }
    assert_eq!(
        net.events(),
        [
            Event::AddressConflict {
                addr: OUR_IP,
                mac: MacAddr([0x02, 0, 0, 0, 0, 2])
            },
            Event::AddressConflict {
                addr: OUR_IP,
                mac: MacAddr([0x02, 0, 0, 0, 0, 3])
            },
        ],
        "the oldest events make room"
    );
}

// ------------------------------------------------------------------------------------------------
// Resolving neighbours for outgoing datagrams.

#[test]
fn udp_to_unknown_neighbour_waits_for_arp() {
    let mut net = ready();
    let h = net.iface.udp_bind(5000).unwrap();
    let dst = SocketAddrV4::new(NEIGH_IP, 9000);
    net.iface.udp_send_to(h, dst, b"hello").unwrap();
    assert!(net.iface.poll_at().unwrap() <= t(100), "send due now");
    assert_eq!(net.poll(100), [arp_request_for(NEIGH_IP)]);
    let fp = net.iface.footprint();
    assert_eq!((fp.pending_packets, fp.pending_bytes), (1, 13));
    assert_eq!(
        net.iface.arp_cache().find(|(ip, _)| *ip == NEIGH_IP),
        Some((
            NEIGH_IP,
            Entry::Incomplete {
                requests: 1,
                next: t(1100)
            }
        ))
    );
    assert_eq!(
        net.poll(200),
        NONE,
        "no second request before the retry time"
    );

    let reply = arp_frame(OUR_MAC, OP_REPLY, (NEIGH_MAC, NEIGH_IP), (OUR_MAC, OUR_IP));
    let datagram =
        Ip::ours(NEIGH_IP, PROTO_UDP, ident(0)).packet(&udp_datagram(us(5000), dst, b"hello"));
    assert_eq!(
        net.rx(300, &reply),
        [eth(NEIGH_MAC, OUR_MAC, ETH_IPV4, &datagram)]
    );
    let fp = net.iface.footprint();
    assert_eq!((fp.pending_packets, fp.pending_bytes), (0, 0));
    assert_eq!(net.poll(1100), NONE, "resolved: no retry");

    // Now known: the next datagram goes at once.
    net.iface.udp_send_to(h, dst, b"again").unwrap();
    let datagram =
        Ip::ours(NEIGH_IP, PROTO_UDP, ident(1)).packet(&udp_datagram(us(5000), dst, b"again"));
    assert_eq!(
        net.poll(1200),
        [eth(NEIGH_MAC, OUR_MAC, ETH_IPV4, &datagram)]
    );
    let s = net.stats();
    assert_eq!(
        (
            s.arp_requests_sent,
            s.udp_sent,
            s.ipv4_sent,
            s.arp_pending_dropped
        ),
        (1, 2, 2, 0)
    );
}

#[test]
fn off_link_destinations_go_through_the_gateway() {
    let mut c = config();
    c.gateway = Some(PEER_IP);
    let mut net = ready_with(c);
    let h = net.iface.udp_bind(5000).unwrap();
    let far = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 7), 53);
    net.iface.udp_send_to(h, far, b"q").unwrap();
    let datagram =
        Ip::ours(*far.ip(), PROTO_UDP, ident(0)).packet(&udp_datagram(us(5000), far, b"q"));
    assert_eq!(net.poll(10), [to_peer(&datagram)]);

    // Without a gateway there is no route.
    let mut net = ready();
    let h = net.iface.udp_bind(5000).unwrap();
    net.iface.udp_send_to(h, far, b"q").unwrap();
    assert_eq!(net.poll(10), NONE);
    assert_eq!(net.stats().ipv4_tx_dropped, 1);
    assert_eq!(net.stats().udp_sent, 1);
}

#[test]
fn udp_to_broadcast_and_multicast_needs_no_resolution() {
    let mut net = ready();
    let h = net.iface.udp_bind(5000).unwrap();
    let group = Ipv4Addr::new(224, 0, 0, 251);
    let cases = [
        (SUBNET_BROADCAST, MacAddr::BROADCAST),
        (Ipv4Addr::BROADCAST, MacAddr::BROADCAST),
        (group, MacAddr([0x01, 0x00, 0x5e, 0, 0, 0xfb])),
    ];
    for (n, (ip, mac)) in (0..).zip(cases) {
        let dst = SocketAddrV4::new(ip, 9);
        net.iface.udp_send_to(h, dst, b"hey").unwrap();
        let d = Ip::ours(ip, PROTO_UDP, ident(n)).packet(&udp_datagram(us(5000), dst, b"hey"));
        assert_eq!(net.poll(1), [eth(mac, OUR_MAC, ETH_IPV4, &d)], "{ip}");
    }
    assert_eq!(net.stats().arp_requests_sent, 0);
}

#[test]
fn udp_waits_until_the_address_is_claimed() {
    let mut net = Net::new(probing_config());
    let h = net.iface.udp_bind(5000).unwrap();
    let dst = SocketAddrV4::new(SUBNET_BROADCAST, 9);
    net.iface.udp_send_to(h, dst, b"early").unwrap();
    assert_eq!(net.poll(0), [probe()]);
    assert_eq!(net.poll(200), [probe()]);
    assert_eq!(net.stats().udp_sent, 0);
    let d = Ip::ours(SUBNET_BROADCAST, PROTO_UDP, ident(0)).packet(&udp_datagram(
        us(5000),
        dst,
        b"early",
    ));
    assert_eq!(
        net.poll(400),
        [
            announcement(),
            eth(MacAddr::BROADCAST, OUR_MAC, ETH_IPV4, &d)
        ]
    );
}

#[test]
fn unanswered_arp_is_retried_then_given_up() {
    let mut net = ready();
    let h = net.iface.udp_bind(5000).unwrap();
    let dst = SocketAddrV4::new(NEIGH_IP, 9000);
    net.iface.udp_send_to(h, dst, b"one").unwrap();
    net.iface.udp_send_to(h, dst, b"two").unwrap();
    assert_eq!(
        net.poll(0),
        [arp_request_for(NEIGH_IP)],
        "one request for both"
    );
    assert_eq!(net.iface.footprint().pending_packets, 2);
    assert_eq!(net.iface.poll_at(), Some(t(1000)));
    assert_eq!(net.poll(999), NONE);
    assert_eq!(net.poll(1000), [arp_request_for(NEIGH_IP)]);
    assert_eq!(net.poll(1999), NONE);
    assert_eq!(net.poll(2000), [arp_request_for(NEIGH_IP)]);
    assert_eq!(net.events(), []);
    assert_eq!(net.poll(2999), NONE);
    assert_eq!(net.poll(3000), NONE, "max_requests (3) sent: give up");
    assert_eq!(net.events(), [Event::NeighbourUnreachable(NEIGH_IP)]);
    let s = net.stats();
    assert_eq!(
        (
            s.arp_requests_sent,
            s.arp_resolution_failed,
            s.arp_pending_dropped
        ),
        (3, 1, 2)
    );
    let fp = net.iface.footprint();
    assert_eq!((fp.pending_packets, fp.pending_bytes), (0, 0));
    assert_eq!(net.iface.arp_cache().count(), 1, "only the peer");
    assert_eq!(net.iface.poll_at(), None);

    // A late answer teaches the cache but the datagrams are gone.
    let late = arp_frame(OUR_MAC, OP_REPLY, (NEIGH_MAC, NEIGH_IP), (OUR_MAC, OUR_IP));
    assert_eq!(net.rx(4000, &late), NONE);
    assert_eq!(net.stats().udp_sent, 2);
    assert_eq!(net.stats().ipv4_sent, 0);
}

#[test]
fn pending_queue_is_bounded() {
    let mut c = config();
    c.limits.arp_pending_packets = 2;
    let mut net = ready_with(c);
    let h = net.iface.udp_bind(5000).unwrap();
    let dst = SocketAddrV4::new(NEIGH_IP, 9000);
    for payload in [b"0", b"1", b"2"] {
        net.iface.udp_send_to(h, dst, payload).unwrap();
    }
    assert_eq!(net.poll(0), [arp_request_for(NEIGH_IP)]);
    let fp = net.iface.footprint();
    assert_eq!((fp.pending_packets, fp.pending_bytes), (2, 18));
    assert_eq!(net.stats().arp_pending_dropped, 1);
    let reply = arp_frame(OUR_MAC, OP_REPLY, (NEIGH_MAC, NEIGH_IP), (OUR_MAC, OUR_IP));
    let expected: Vec<Vec<u8>> = [b"0", b"1"]
        .iter()
        .zip(0..)
        .map(|(p, n)| {
            let d = Ip::ours(NEIGH_IP, PROTO_UDP, ident(n)).packet(&udp_datagram(
                us(5000),
                dst,
                &p[..],
            ));
            eth(NEIGH_MAC, OUR_MAC, ETH_IPV4, &d)
        })
        .collect();
    assert_eq!(net.rx(10, &reply), expected, "the first two, in order");

    // The byte bound.
    let mut c = config();
    c.limits.arp_pending_bytes = 100;
    let mut net = ready_with(c);
    let h = net.iface.udp_bind(5000).unwrap();
    net.iface.udp_send_to(h, dst, &[7; 60]).unwrap();
    net.iface.udp_send_to(h, dst, &[8; 60]).unwrap();
    net.iface.udp_send_to(h, dst, &[9; 20]).unwrap();
    assert_eq!(net.poll(0), [arp_request_for(NEIGH_IP)]);
    let fp = net.iface.footprint();
    assert_eq!((fp.pending_packets, fp.pending_bytes), (2, 96));
    assert_eq!(net.stats().arp_pending_dropped, 1);
}

#[test]
fn echo_to_unknown_sender_is_sent_after_resolution() {
    let mut net = Net::new(config());
    net.poll(0);
    let ping = Ip::new(PEER_IP, OUR_IP, PROTO_ICMP).packet(&echo(8, 3, 4, b"who"));
    assert_eq!(net.rx(10, &from_peer(&ping)), [arp_request_for(PEER_IP)]);
    let reply = Ip::ours(PEER_IP, PROTO_ICMP, ident(0)).packet(&echo(0, 3, 4, b"who"));
    let answer = arp_frame(OUR_MAC, OP_REPLY, (PEER_MAC, PEER_IP), (OUR_MAC, OUR_IP));
    assert_eq!(net.rx(20, &answer), [to_peer(&reply)]);
}

// ------------------------------------------------------------------------------------------------
// IPv4 checks.

#[test]
fn ipv4_header_checks() {
    let mut net = ready();
    let good = Ip::new(PEER_IP, OUR_IP, PROTO_ICMP).packet(&echo(8, 1, 1, b"data"));

    let mut bad_sum = good.clone();
    bad_sum[11] ^= 0x01;
    net.expect_drop(1, &from_peer(&bad_sum), DropReason::Ipv4BadChecksum);
    let mut ttl_changed = good.clone();
    ttl_changed[8] = 63;
    net.expect_drop(1, &from_peer(&ttl_changed), DropReason::Ipv4BadChecksum);

    let mut v6 = good.clone();
    v6[0] = 0x65;
    net.expect_drop(1, &from_peer(&v6), DropReason::Ipv4BadHeader);
    let mut short_ihl = good.clone();
    short_ihl[0] = 0x44;
    net.expect_drop(1, &from_peer(&short_ihl), DropReason::Ipv4BadHeader);
    let mut total_under_header = Ip::new(PEER_IP, OUR_IP, PROTO_ICMP).packet(&[]);
    total_under_header[3] = 19;
    total_under_header[10..12].copy_from_slice(&[0, 0]);
    let sum = inet_checksum(&total_under_header[..20]);
    total_under_header[10..12].copy_from_slice(&sum.to_be_bytes());
    net.expect_drop(
        1,
        &from_peer(&total_under_header),
        DropReason::Ipv4BadHeader,
    );

    net.expect_drop(1, &from_peer(&good[..19]), DropReason::Ipv4Truncated);
    net.expect_drop(
        1,
        &from_peer(&good[..good.len() - 1]),
        DropReason::Ipv4Truncated,
    );
    let mut options_missing = good.clone();
    options_missing[0] = 0x4f;
    net.expect_drop(1, &from_peer(&options_missing), DropReason::Ipv4Truncated);

    let other =
        Ip::new(PEER_IP, Ipv4Addr::new(10, 77, 0, 9), PROTO_ICMP).packet(&echo(8, 1, 1, b"data"));
    net.expect_drop(1, &from_peer(&other), DropReason::Ipv4NotForUs);
    // RFC 1122 3.3.6: unicast to us, but in a link-layer broadcast.
    net.expect_drop(
        1,
        &eth(MacAddr::BROADCAST, PEER_MAC, ETH_IPV4, &good),
        DropReason::Ipv4NotForUs,
    );

    for src in [
        Ipv4Addr::LOCALHOST,
        Ipv4Addr::new(224, 0, 0, 9),
        Ipv4Addr::BROADCAST,
        Ipv4Addr::new(240, 0, 0, 1),
        Ipv4Addr::UNSPECIFIED,
        OUR_IP,
        SUBNET_BROADCAST,
    ] {
        let martian = Ip::new(src, OUR_IP, PROTO_ICMP).packet(&echo(8, 1, 1, b"data"));
        net.expect_drop(1, &from_peer(&martian), DropReason::Ipv4BadSource);
    }

    assert_eq!(
        net.drops(),
        [
            (DropReason::Ipv4Truncated, 3),
            (DropReason::Ipv4BadHeader, 3),
            (DropReason::Ipv4BadChecksum, 2),
            (DropReason::Ipv4BadSource, 7),
            (DropReason::Ipv4NotForUs, 2),
        ]
    );
    assert_eq!(net.stats().tx_frames, 1, "only the ARP reply");
    // Link padding after the total length is ignored.
    let mut padded = from_peer(&good);
    padded.extend_from_slice(&[0xee; 20]);
    let reply = Ip::ours(PEER_IP, PROTO_ICMP, ident(0)).packet(&echo(0, 1, 1, b"data"));
    assert_eq!(net.rx(2, &padded), [to_peer(&reply)]);
}

#[test]
fn no_address_no_ipv4() {
    let mut net = Net::new(Config::new(OUR_MAC, None));
    assert_eq!(net.poll(0), NONE);
    assert_eq!(net.iface.address_state(), AddressState::None);
    let ping = Ip::new(PEER_IP, OUR_IP, PROTO_ICMP).packet(&echo(8, 1, 1, b""));
    net.expect_drop(1, &from_peer(&ping), DropReason::Ipv4NoAddress);
    net.expect_drop(1, &arp_request_from_peer(), DropReason::ArpNotForUs);
    assert_eq!(net.events(), []);
}

// ------------------------------------------------------------------------------------------------
// Reassembly.

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

#[test]
fn fragments_reassemble_in_order() {
    let mut net = ready();
    let h = net.iface.udp_bind(9000).unwrap();
    let data = pattern(3000);
    let datagram = udp_datagram(peer(40000), us(9000), &data);
    let frames = fragments_from_peer(
        Ip::new(PEER_IP, OUR_IP, PROTO_UDP).ident(0x0abc),
        &datagram,
        1480,
    );
    assert_eq!(frames.len(), 3);
    assert_eq!(net.rx(10, &frames[0]), NONE);
    let fp = net.iface.footprint();
    assert_eq!((fp.reassembly_datagrams, fp.reassembly_bytes), (1, 1480));
    assert_eq!(net.rx(11, &frames[1]), NONE);
    assert_eq!(net.iface.footprint().reassembly_bytes, 2960);
    assert_eq!(net.iface.udp_recv_from(h), None);
    assert_eq!(net.rx(12, &frames[2]), NONE);
    assert_eq!(net.iface.udp_recv_from(h), Some((peer(40000).into(), data)));
    let fp = net.iface.footprint();
    assert_eq!((fp.reassembly_datagrams, fp.reassembly_bytes), (0, 0));
    let s = net.stats();
    assert_eq!(
        (
            s.ipv4_fragments_rx,
            s.ipv4_reassembled,
            s.udp_delivered,
            s.rx_handled
        ),
        (3, 1, 1, 4)
    );
    assert_eq!(net.drops(), []);
    assert_eq!(net.iface.poll_at(), None, "no reassembly timer left");
}

#[test]
fn fragments_reassemble_out_of_order_and_interleaved() {
    let mut net = ready();
    let h = net.iface.udp_bind(9000).unwrap();
    let a = pattern(3000);
    let b: Vec<u8> = pattern(100).iter().map(|x| x ^ 0xff).collect();
    let fa = fragments_from_peer(
        Ip::new(PEER_IP, OUR_IP, PROTO_UDP).ident(1),
        &udp_datagram(peer(40000), us(9000), &a),
        1480,
    );
    let fb = fragments_from_peer(
        Ip::new(PEER_IP, OUR_IP, PROTO_UDP).ident(2),
        &udp_datagram(peer(40001), us(9000), &b),
        64,
    );
    assert_eq!(net.rx(10, &fa[2]), NONE);
    let fp = net.iface.footprint();
    assert_eq!((fp.reassembly_datagrams, fp.reassembly_bytes), (1, 3008));
    assert_eq!(net.rx(10, &fb[1]), NONE);
    assert_eq!(net.rx(10, &fa[0]), NONE);
    assert_eq!(net.iface.footprint().reassembly_datagrams, 2);
    assert_eq!(net.rx(10, &fb[0]), NONE);
    assert_eq!(net.iface.udp_recv_from(h), Some((peer(40001).into(), b)));
    assert_eq!(net.rx(10, &fa[1]), NONE);
    assert_eq!(net.iface.udp_recv_from(h), Some((peer(40000).into(), a)));
    assert_eq!(net.iface.footprint().reassembly_bytes, 0);
    assert_eq!(net.stats().ipv4_reassembled, 2);
    assert_eq!(net.drops(), []);
}

#[test]
fn duplicate_fragment_is_dropped_and_reassembly_goes_on() {
    let mut net = ready();
    let h = net.iface.udp_bind(9000).unwrap();
    let data = pattern(200);
    let frames = fragments_from_peer(
        Ip::new(PEER_IP, OUR_IP, PROTO_UDP),
        &udp_datagram(peer(40000), us(9000), &data),
        104,
    );
    assert_eq!(net.rx(1, &frames[0]), NONE);
    net.expect_drop(2, &frames[0], DropReason::FragmentDuplicate);
    assert_eq!(net.rx(3, &frames[1]), NONE);
    assert_eq!(net.iface.udp_recv_from(h), Some((peer(40000).into(), data)));
}

#[test]
fn overlapping_fragment_discards_the_datagram() {
    let mut net = ready();
    let h = net.iface.udp_bind(9000).unwrap();
    let data = pattern(3000);
    let ip = Ip::new(PEER_IP, OUR_IP, PROTO_UDP);
    let frames = fragments_from_peer(ip, &udp_datagram(peer(40000), us(9000), &data), 1480);
    assert_eq!(net.rx(1000, &frames[0]), NONE);
    // Rewrites the end of the first fragment with other bytes.
    let evil = from_peer(&ip.fragment(1472, true).packet(&[0xaa; 16]));
    net.expect_drop(1001, &evil, DropReason::FragmentOverlap);
    let fp = net.iface.footprint();
    assert_eq!(
        (fp.reassembly_datagrams, fp.reassembly_bytes),
        (0, 0),
        "whole datagram discarded"
    );
    // The rest alone starts a new datagram that never completes, and times out.
    assert_eq!(net.rx(1002, &frames[1]), NONE);
    assert_eq!(net.rx(1003, &frames[2]), NONE);
    assert_eq!(net.iface.udp_recv_from(h), None);
    assert_eq!(net.iface.poll_at(), Some(t(31_002)));
    assert_eq!(net.poll(31_002), NONE);
    assert_eq!(net.stats().ipv4_reassembly_timeouts, 1);
    assert_eq!(net.stats().ipv4_reassembled, 0);
    assert_eq!(net.drops(), [(DropReason::FragmentOverlap, 1)]);
}

#[test]
fn incomplete_datagram_times_out() {
    let mut net = ready();
    let frames = fragments_from_peer(
        Ip::new(PEER_IP, OUR_IP, PROTO_ICMP),
        &echo(8, 1, 1, &pattern(2000)),
        1480,
    );
    assert_eq!(net.rx(1000, &frames[0]), NONE);
    assert_eq!(net.iface.poll_at(), Some(t(31_000)));
    assert_eq!(net.poll(30_999), NONE);
    assert_eq!(net.stats().ipv4_reassembly_timeouts, 0);
    assert_eq!(net.iface.footprint().reassembly_bytes, 1480);
    assert_eq!(net.poll(31_000), NONE, "no ICMP time exceeded from a host");
    assert_eq!(net.stats().ipv4_reassembly_timeouts, 1);
    let fp = net.iface.footprint();
    assert_eq!((fp.reassembly_datagrams, fp.reassembly_bytes), (0, 0));
    // The late tail is held on its own and never answered.
    assert_eq!(net.rx(31_001, &frames[1]), NONE);
    assert_eq!(net.stats().icmp_echo_replied, 0);
    assert_eq!(net.drops(), []);
}

#[test]
fn reassembly_limits() {
    let mut c = config();
    c.limits.reassembly_max_datagram = 1000;
    c.limits.reassembly_datagrams = 2;
    let mut net = ready_with(c);
    let ip = Ip::new(PEER_IP, OUR_IP, PROTO_UDP);
    // Up to 980 payload bytes fit; a fragment reaching past that kills the datagram.
    assert_eq!(
        net.rx(1, &from_peer(&ip.fragment(0, true).packet(&[1; 976]))),
        NONE
    );
    assert_eq!(net.iface.footprint().reassembly_bytes, 976);
    net.expect_drop(
        2,
        &from_peer(&ip.fragment(976, false).packet(&[1; 8])),
        DropReason::FragmentTooBig,
    );
    let fp = net.iface.footprint();
    assert_eq!((fp.reassembly_datagrams, fp.reassembly_bytes), (0, 0));
    // The largest offset the header can carry, far beyond any datagram.
    net.expect_drop(
        3,
        &from_peer(&ip.ident(7).fragment(65_528, false).packet(&[1; 8])),
        DropReason::FragmentTooBig,
    );
    // A non-final fragment whose length is not a multiple of 8.
    net.expect_drop(
        4,
        &from_peer(&ip.ident(8).fragment(0, true).packet(&[1; 12])),
        DropReason::FragmentInvalid,
    );
    // Only two datagrams at once.
    for id in [10, 11] {
        assert_eq!(
            net.rx(
                5,
                &from_peer(&ip.ident(id).fragment(0, true).packet(&[2; 8]))
            ),
            NONE
        );
    }
    // A third evicts the oldest instead of being dropped (a flood cannot lock the table).
    assert_eq!(
        net.rx(
            6,
            &from_peer(&ip.ident(12).fragment(0, true).packet(&[2; 8]))
        ),
        NONE
    );
    assert_eq!(net.iface.footprint().reassembly_datagrams, 2);
    assert_eq!(net.stats().ipv4_reassembly_evictions, 1);
    assert_eq!(
        net.drops(),
        [
            (DropReason::FragmentInvalid, 1),
            (DropReason::FragmentTooBig, 2),
        ]
    );
}

// ------------------------------------------------------------------------------------------------
// ICMP.

#[test]
fn echo_reply_mirrors_the_request() {
    let mut net = ready();
    // Odd length: the checksum covers a padded last byte.
    let data: Vec<u8> = (0..57).collect();
    let ping = Ip::new(PEER_IP, OUR_IP, PROTO_ICMP)
        .ident(0x7777)
        .packet(&echo(8, 0x4242, 7, &data));
    let out = net.rx(50, &from_peer(&ping));
    let reply = Ip::ours(PEER_IP, PROTO_ICMP, ident(0)).packet(&echo(0, 0x4242, 7, &data));
    assert_eq!(out, [to_peer(&reply)]);

    // The same, field by field, with both checksums verified.
    let f = &out[0];
    assert_eq!(f.len(), 14 + 20 + 8 + 57);
    let (ip, icmp) = f[14..].split_at(20);
    assert_eq!(inet_checksum(ip), 0, "IPv4 header checksum");
    assert_eq!(inet_checksum(icmp), 0, "ICMP checksum");
    assert_eq!((icmp[0], icmp[1]), (0, 0), "echo reply");
    assert_eq!(&icmp[4..6], &[0x42, 0x42], "identifier");
    assert_eq!(&icmp[6..8], &[0, 7], "sequence");
    assert_eq!(&icmp[8..], &data[..]);
    assert_eq!(&ip[12..16], &OUR_IP.octets());
    assert_eq!(&ip[16..20], &PEER_IP.octets());

    let s = net.stats();
    assert_eq!(
        (s.icmp_echo_replied, s.ipv4_delivered, s.ipv4_sent),
        (1, 1, 1)
    );
}

/// Splits emitted IPv4 fragments into their headers' (ident, offset, more) and the payload
/// they reassemble to, checking each header's checksum.
fn reassemble(frames: &[Vec<u8>]) -> (Vec<(u16, usize, bool)>, Vec<u8>) {
    let mut meta = Vec::new();
    let mut whole = Vec::new();
    for f in frames {
        let ip = &f[14..];
        assert_eq!(ip[0], 0x45);
        assert_eq!(inet_checksum(&ip[..20]), 0);
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        assert_eq!(total, ip.len(), "no padding on emitted frames");
        let ident = u16::from_be_bytes([ip[4], ip[5]]);
        let fo = u16::from_be_bytes([ip[6], ip[7]]);
        let offset = usize::from(fo & 0x1fff) * 8;
        let more = fo & 0x2000 != 0;
        assert_eq!(offset, whole.len(), "fragments in order, no gap");
        whole.extend_from_slice(&ip[20..]);
        meta.push((ident, offset, more));
    }
    (meta, whole)
}

#[test]
fn fragmented_echo_request_gets_fragmented_reply() {
    let mut net = ready();
    let data = pattern(8000);
    let request = echo(8, 0x0101, 42, &data);
    let frames = fragments_from_peer(
        Ip::new(PEER_IP, OUR_IP, PROTO_ICMP).ident(0xbeef),
        &request,
        1480,
    );
    assert_eq!(frames.len(), 6);
    let (last, rest) = frames.split_last().unwrap();
    for f in rest {
        assert_eq!(net.rx(100, f), NONE);
    }
    let out = net.rx(101, last);
    assert_eq!(out.len(), 6, "8008 bytes in 1480-byte pieces");
    for f in &out {
        assert!(f.len() <= 1500 + 14, "frame of {} bytes", f.len());
        assert_eq!(&f[..14], &to_peer(&[])[..]);
    }
    let (meta, whole) = reassemble(&out);
    assert_eq!(
        meta,
        [
            (ident(0), 0, true),
            (ident(0), 1480, true),
            (ident(0), 2960, true),
            (ident(0), 4440, true),
            (ident(0), 5920, true),
            (ident(0), 7400, false),
        ]
    );
    assert!(meta.iter().all(|m| m.1 % 8 == 0));
    assert_eq!(whole, echo(0, 0x0101, 42, &data));
    assert_eq!(inet_checksum(&whole), 0);
    // And byte for byte.
    let reply = echo(0, 0x0101, 42, &data);
    let expected: Vec<Vec<u8>> = reply
        .chunks(1480)
        .enumerate()
        .map(|(i, c)| {
            to_peer(
                &Ip::ours(PEER_IP, PROTO_ICMP, ident(0))
                    .fragment(i * 1480, i < 5)
                    .packet(c),
            )
        })
        .collect();
    assert_eq!(out, expected);
    let s = net.stats();
    assert_eq!(
        (
            s.ipv4_fragments_rx,
            s.ipv4_reassembled,
            s.icmp_echo_replied,
            s.ipv4_fragments_tx,
            s.ipv4_sent
        ),
        (6, 1, 1, 6, 1)
    );
}

#[test]
fn fragmented_reply_respects_a_small_mtu() {
    let mut c = config();
    c.mtu = 576;
    let mut net = ready_with(c);
    let data = pattern(1000);
    let request = echo(8, 5, 6, &data);
    let frames = fragments_from_peer(Ip::new(PEER_IP, OUR_IP, PROTO_ICMP), &request, 552);
    assert_eq!(net.rx(1, &frames[0]), NONE);
    let out = net.rx(2, &frames[1]);
    assert!(out.iter().all(|f| f.len() <= 576 + 14));
    let (meta, whole) = reassemble(&out);
    assert_eq!(
        meta,
        [(ident(0), 0, true), (ident(0), 552, false)],
        "552 = (576 - 20) rounded down to 8"
    );
    assert_eq!(whole, echo(0, 5, 6, &data));
}

#[test]
fn no_echo_reply_to_broadcast_or_multicast() {
    let mut net = ready();
    let msg = echo(8, 1, 1, b"anyone?");
    for (mac, dst) in [
        (MacAddr::BROADCAST, SUBNET_BROADCAST),
        (MacAddr::BROADCAST, Ipv4Addr::BROADCAST),
        (ALL_HOSTS_MAC, ALL_HOSTS),
    ] {
        let p = Ip::new(PEER_IP, dst, PROTO_ICMP).packet(&msg);
        net.expect_drop(
            1,
            &eth(mac, PEER_MAC, ETH_IPV4, &p),
            DropReason::IcmpBroadcastEcho,
        );
    }
    let s = net.stats();
    assert_eq!((s.icmp_echo_replied, s.tx_frames), (0, 1));
}

#[test]
fn icmp_checks() {
    let mut net = ready();
    let ip = Ip::new(PEER_IP, OUR_IP, PROTO_ICMP);
    net.expect_drop(
        1,
        &from_peer(&ip.packet(&[8, 0, 0xf7])),
        DropReason::IcmpTruncated,
    );
    let mut corrupt = echo(8, 1, 1, b"data");
    corrupt[9] ^= 0x10;
    net.expect_drop(
        1,
        &from_peer(&ip.packet(&corrupt)),
        DropReason::IcmpBadChecksum,
    );
    net.expect_drop(
        1,
        &from_peer(&ip.packet(&echo(0, 1, 1, b"data"))),
        DropReason::IcmpIgnored,
    );
    let timestamp = icmp_message(13, 0, [0, 1, 0, 1], &[0; 12]);
    net.expect_drop(
        1,
        &from_peer(&ip.packet(&timestamp)),
        DropReason::IcmpIgnored,
    );
    // An error about something we sent is taken note of.
    let quoted = Ip::ours(PEER_IP, PROTO_UDP, 1).packet(&udp_datagram(us(5000), peer(9), b""));
    let unreachable = icmp_message(3, 3, [0; 4], &quoted);
    assert_eq!(net.rx(1, &from_peer(&ip.packet(&unreachable))), NONE);
    let s = net.stats();
    assert_eq!(
        (s.icmp_errors_rx, s.icmp_errors_sent, s.ipv4_delivered),
        (1, 0, 3)
    );
    assert_eq!(net.stats().rx_handled, 2);
}

// ------------------------------------------------------------------------------------------------
// UDP.

#[test]
fn udp_is_delivered_with_its_source() {
    let mut net = ready();
    let h = net.iface.udp_bind(9000).unwrap();
    let d = udp_datagram(peer(40000), us(9000), b"hi");
    assert_eq!(
        net.rx(
            1,
            &from_peer(&Ip::new(PEER_IP, OUR_IP, PROTO_UDP).packet(&d))
        ),
        NONE
    );
    assert_eq!(
        net.iface.udp_recv_from(h),
        Some((peer(40000).into(), b"hi".to_vec()))
    );
    assert_eq!(net.iface.udp_recv_from(h), None);
    // No checksum (zero): accepted as not computed (RFC 768).
    let mut unchecked = udp_datagram(peer(40002), us(9000), b"raw");
    unchecked[6..8].copy_from_slice(&[0, 0]);
    net.rx(
        2,
        &from_peer(&Ip::new(PEER_IP, OUR_IP, PROTO_UDP).packet(&unchecked)),
    );
    assert_eq!(
        net.iface.udp_recv_from(h),
        Some((peer(40002).into(), b"raw".to_vec()))
    );
    // Broadcast to the port is delivered too.
    let b = udp_datagram(
        peer(40003),
        SocketAddrV4::new(SUBNET_BROADCAST, 9000),
        b"all",
    );
    let p = Ip::new(PEER_IP, SUBNET_BROADCAST, PROTO_UDP).packet(&b);
    assert_eq!(
        net.rx(3, &eth(MacAddr::BROADCAST, PEER_MAC, ETH_IPV4, &p)),
        NONE
    );
    assert_eq!(
        net.iface.udp_recv_from(h),
        Some((peer(40003).into(), b"all".to_vec()))
    );
    let s = net.stats();
    assert_eq!((s.udp_delivered, s.ipv4_delivered, s.rx_handled), (3, 3, 4));
    assert_eq!(net.drops(), []);
}

#[test]
fn udp_bad_checksum_and_length_are_dropped() {
    let mut net = ready();
    let h = net.iface.udp_bind(9000).unwrap();
    let ip = Ip::new(PEER_IP, OUR_IP, PROTO_UDP);
    let good = udp_datagram(peer(40000), us(9000), b"payload");
    let mut corrupt = good.clone();
    corrupt[10] ^= 0x01;
    net.expect_drop(
        1,
        &from_peer(&ip.packet(&corrupt)),
        DropReason::UdpBadChecksum,
    );
    // Pseudo-header covers the addresses: the same bytes from another source fail.
    let spoofed = Ip::new(NEIGH_IP, OUR_IP, PROTO_UDP).packet(&good);
    net.expect_drop(1, &from_peer(&spoofed), DropReason::UdpBadChecksum);
    let mut long = good.clone();
    long[5] += 1;
    net.expect_drop(1, &from_peer(&ip.packet(&long)), DropReason::UdpBadLength);
    let mut short = good.clone();
    short[4..6].copy_from_slice(&[0, 7]);
    net.expect_drop(1, &from_peer(&ip.packet(&short)), DropReason::UdpBadLength);
    net.expect_drop(
        1,
        &from_peer(&ip.packet(&good[..7])),
        DropReason::UdpBadLength,
    );
    assert_eq!(net.iface.udp_recv_from(h), None);
    assert_eq!(net.stats().udp_delivered, 0);
}

#[test]
fn udp_receive_queue_full_is_counted() {
    let mut c = config();
    c.limits.udp_queue_datagrams = 2;
    let mut net = ready_with(c);
    let h = net.iface.udp_bind(9000).unwrap();
    let ip = Ip::new(PEER_IP, OUR_IP, PROTO_UDP);
    for (i, p) in [b"a", b"b", b"c"].iter().enumerate() {
        let d = udp_datagram(peer(40000), us(9000), &p[..]);
        let out = net.rx(1, &from_peer(&ip.packet(&d)));
        assert_eq!(out, NONE, "no ICMP for a full queue ({i})");
    }
    assert_eq!(net.drops(), [(DropReason::UdpQueueFull, 1)]);
    assert_eq!(net.iface.footprint().udp_bytes, 2);
    assert_eq!(
        net.iface.udp_recv_from(h),
        Some((peer(40000).into(), b"a".to_vec()))
    );
    assert_eq!(
        net.iface.udp_recv_from(h),
        Some((peer(40000).into(), b"b".to_vec()))
    );
    assert_eq!(net.iface.udp_recv_from(h), None);
    assert_eq!(net.stats().udp_delivered, 2);
}

#[test]
fn port_unreachable_quotes_the_datagram() {
    let mut net = ready();
    let original =
        Ip::new(PEER_IP, OUR_IP, PROTO_UDP).packet(&udp_datagram(peer(40000), us(9999), b"x"));
    // Padded to the Ethernet minimum: the quote stops at the IP total length.
    let mut frame = from_peer(&original);
    frame.resize(60, 0);
    let out = net.rx(1, &frame);
    let error =
        Ip::ours(PEER_IP, PROTO_ICMP, ident(0)).packet(&icmp_message(3, 3, [0; 4], &original));
    assert_eq!(out, [to_peer(&error)]);
    assert_eq!(inet_checksum(&out[0][34..]), 0);
    assert_eq!(net.drops(), [(DropReason::UdpNoSocket, 1)]);
    assert_eq!(net.stats().icmp_errors_sent, 1);

    // A long datagram is quoted up to 576 bytes of error datagram.
    let long = Ip::new(PEER_IP, OUR_IP, PROTO_UDP).packet(&udp_datagram(
        peer(40000),
        us(9999),
        &pattern(1000),
    ));
    let out = net.rx(2, &from_peer(&long));
    let error =
        Ip::ours(PEER_IP, PROTO_ICMP, ident(1)).packet(&icmp_message(3, 3, [0; 4], &long[..548]));
    assert_eq!(out, [to_peer(&error)]);
    assert_eq!(out[0].len(), 14 + 576);
}

#[test]
fn port_unreachable_for_a_reassembled_datagram_describes_the_whole() {
    let mut net = ready();
    let datagram = udp_datagram(peer(40000), us(9999), &pattern(100));
    let frames = fragments_from_peer(
        Ip::new(PEER_IP, OUR_IP, PROTO_UDP).ident(0x4444),
        &datagram,
        56,
    );
    assert_eq!(net.rx(1, &frames[0]), NONE);
    let out = net.rx(2, &frames[1]);
    assert_eq!(out.len(), 1);
    let f = &out[0];
    let icmp = &f[34..];
    assert_eq!((icmp[0], icmp[1]), (3, 3));
    assert_eq!(inet_checksum(icmp), 0);
    let quote = &icmp[8..];
    assert_eq!(quote.len(), 28, "header and the first 8 bytes");
    assert_eq!(inet_checksum(&quote[..20]), 0);
    assert_eq!(
        &quote[2..4],
        &128u16.to_be_bytes(),
        "total length of the whole"
    );
    assert_eq!(&quote[4..6], &[0x44, 0x44], "identification");
    assert_eq!(quote[7], 0, "offset 0");
    assert_eq!(quote[6] & 0x3f, 0, "no more fragments, offset 0");
    assert_eq!((quote[8], quote[9]), (64, PROTO_UDP));
    assert_eq!(&quote[12..16], &PEER_IP.octets());
    assert_eq!(&quote[16..20], &OUR_IP.octets());
    assert_eq!(&quote[20..], &datagram[..8]);
}

#[test]
fn no_port_unreachable_for_broadcast() {
    let mut net = ready();
    for (mac, dst) in [
        (MacAddr::BROADCAST, SUBNET_BROADCAST),
        (MacAddr::BROADCAST, Ipv4Addr::BROADCAST),
        (ALL_HOSTS_MAC, ALL_HOSTS),
    ] {
        let p = Ip::new(PEER_IP, dst, PROTO_UDP).packet(&udp_datagram(
            peer(40000),
            SocketAddrV4::new(dst, 9999),
            b"?",
        ));
        net.expect_drop(
            1,
            &eth(mac, PEER_MAC, ETH_IPV4, &p),
            DropReason::UdpNoSocket,
        );
    }
    let s = net.stats();
    assert_eq!((s.icmp_errors_sent, s.icmp_errors_rate_limited), (0, 0));
}

#[test]
fn icmp_errors_are_rate_limited() {
    let mut c = config();
    c.limits.icmp_errors_per_sec = 10;
    c.limits.icmp_error_burst = 3;
    let mut net = ready_with(c);
    let ip = Ip::new(PEER_IP, OUR_IP, PROTO_UDP);
    let closed = |i: u16| ip.packet(&udp_datagram(peer(40000 + i), us(9999), b"?"));
    let error = |n: u16, i: u16| {
        to_peer(
            &Ip::ours(PEER_IP, PROTO_ICMP, ident(n)).packet(&icmp_message(
                3,
                3,
                [0; 4],
                &closed(i),
            )),
        )
    };
    // A burst of five at one instant: three answered.
    for i in 0..5 {
        let out = net.rx(1000, &from_peer(&closed(i)));
        if i < 3 {
            assert_eq!(out, [error(i, i)], "within the burst ({i})");
        } else {
            assert_eq!(out, NONE, "over the burst ({i})");
        }
    }
    assert_eq!(net.stats().icmp_errors_rate_limited, 2);
    // Ten a second: 99 ms later not one token yet, at 100 ms one.
    assert_eq!(net.rx(1099, &from_peer(&closed(5))), NONE);
    assert_eq!(net.rx(1100, &from_peer(&closed(6))), [error(3, 6)]);
    assert_eq!(net.rx(1100, &from_peer(&closed(7))), NONE);
    let s = net.stats();
    assert_eq!((s.icmp_errors_sent, s.icmp_errors_rate_limited), (4, 4));
    assert_eq!(net.drops(), [(DropReason::UdpNoSocket, 8)]);
}

#[test]
fn protocol_unreachable_for_an_unknown_protocol() {
    let mut net = ready();
    for (n, protocol) in [(0u16, 99u8), (1, 253)] {
        let original = Ip::new(PEER_IP, OUR_IP, protocol).packet(&pattern(12));
        let out = net.rx(1, &from_peer(&original));
        let error =
            Ip::ours(PEER_IP, PROTO_ICMP, ident(n)).packet(&icmp_message(3, 2, [0; 4], &original));
        assert_eq!(out, [to_peer(&error)], "protocol {protocol}");
    }
    // Not for a broadcast.
    let p = Ip::new(PEER_IP, SUBNET_BROADCAST, 99).packet(&pattern(12));
    net.expect_drop(
        2,
        &eth(MacAddr::BROADCAST, PEER_MAC, ETH_IPV4, &p),
        DropReason::Ipv4UnknownProtocol,
    );
    assert_eq!(net.drops(), [(DropReason::Ipv4UnknownProtocol, 3)]);
    assert_eq!(net.stats().icmp_errors_sent, 2);
}

// ------------------------------------------------------------------------------------------------
// A host with its services.

#[test]
fn host_echoes_udp_on_port_7() {
    let mut host = Host::with_standard_services(Interface::new(config()).unwrap()).unwrap();
    let mut names = vec!["udp-echo", "tcp-echo", "tcp-discard", "tcp-chargen"];
    if cfg!(feature = "services") {
        names.extend(["dns", "http", "iperf3"]);
    }
    assert_eq!(host.service_names().collect::<Vec<_>>(), names);
    let mut out = Vec::new();
    host.poll(t(0), &mut |f| out.push(f.to_vec()));
    assert_eq!(out, NONE);
    host.receive(t(1), &arp_request_from_peer(), &mut |f| {
        out.push(f.to_vec())
    });
    assert_eq!(out, [ARP_REPLY_TO_PEER]);
    out.clear();

    let request =
        Ip::new(PEER_IP, OUR_IP, PROTO_UDP).packet(&udp_datagram(peer(40000), us(7), b"echo me"));
    host.receive(t(2), &from_peer(&request), &mut |f| out.push(f.to_vec()));
    assert_eq!(out, NONE, "answered on the next poll");
    host.poll(t(2), &mut |f| out.push(f.to_vec()));
    let answer = Ip::ours(PEER_IP, PROTO_UDP, ident(0)).packet(&udp_datagram(
        us(7),
        peer(40000),
        b"echo me",
    ));
    assert_eq!(out, [to_peer(&answer)]);
    let s = host.iface().stats();
    check_accounting(s);
    assert_eq!((s.udp_delivered, s.udp_sent, s.rx_handled), (1, 1, 2));
}

/// Packets waiting for a neighbour must leave the pending queue one way or another: sent when it
/// answers, or dropped (and counted) when resolution ends without an answer.
#[test]
fn evicted_resolution_does_not_strand_its_waiting_packets() {
    let mut c = config();
    c.limits.arp_cache_entries = 1;
    let mut net = Net::new(c);
    net.poll(0);
    let h = net.iface.udp_bind(5000).unwrap();
    let dst = SocketAddrV4::new(NEIGH_IP, 9000);
    net.iface.udp_send_to(h, dst, b"waiting").unwrap();
    assert_eq!(net.poll(0), [arp_request_for(NEIGH_IP)]);
    assert_eq!(net.iface.footprint().pending_packets, 1);
    // Learning the peer needs the only cache slot: the resolution in progress is evicted.
    assert_eq!(net.rx(10, &arp_request_from_peer()), [ARP_REPLY_TO_PEER]);
    assert_eq!(net.stats().arp_evictions, 1);
    // Past the give-up time, with no answer, the waiting datagram is gone and counted.
    for ms in [1000, 2000, 3000, 4000] {
        assert_eq!(net.poll(ms), NONE);
    }
    let fp = net.iface.footprint();
    assert_eq!(
        (fp.pending_packets, fp.pending_bytes),
        (0, 0),
        "nothing waits for a neighbour no one resolves"
    );
    assert_eq!(net.stats().arp_pending_dropped, 1);
}

#[test]
fn own_hardware_address_in_arp_is_not_a_conflict() {
    // RFC 5227 2.4: a conflicting ARP packet has our IP as sender IP *and* a sender hardware
    // address that is not ours. Here a bridge relays our own announcement with its own
    // Ethernet source.
    let mut net = Net::new(config());
    net.poll(0);
    net.events();
    let relayed = eth(
        MacAddr::BROADCAST,
        OTHER_MAC,
        ETH_ARP,
        &arp_packet(OP_REQUEST, (OUR_MAC, OUR_IP), (MacAddr::ZERO, OUR_IP)),
    );
    assert_eq!(net.rx(100, &relayed), NONE, "no defence");
    assert_eq!(net.events(), [], "no conflict reported");
    assert_eq!(net.stats().arp_conflicts, 0);
}

// ------------------------------------------------------------------------------------------------
// What the device says of a frame (virtio-net offloads).

/// A frame the device did not mark is checked: a bad TCP or UDP checksum drops it. One the
/// device marks as checked (DATA_VALID, or NEEDS_CSUM filled in) is not checked again.
#[test]
fn the_transport_checksum_is_checked_unless_the_device_did() {
    let mut net = ready();
    let h = net.iface.udp_bind(9000).unwrap();
    let ip = Ip::new(PEER_IP, OUR_IP, PROTO_UDP);
    let mut corrupt = udp_datagram(peer(40000), us(9000), b"payload");
    corrupt[6] ^= 0x40;
    let frame = from_peer(&ip.packet(&corrupt));
    net.expect_drop(1, &frame, DropReason::UdpBadChecksum);
    let checked = FrameInfo {
        checksum_valid: true,
    };
    let mut out = Vec::new();
    net.iface
        .receive_with(t(1), &frame, checked, &mut |f| out.push(f.to_vec()));
    assert_eq!(out, NONE);
    assert_eq!(
        net.iface.udp_recv_from(h).map(|(_, d)| d),
        Some(b"payload".to_vec())
    );

    // A SYN with a bad checksum to a closed port: dropped unchecked, answered with RST when
    // the device vouches for it.
    let tcp = frame::Tcp::new(40001, 81, 1000, 0, frame::flags::SYN);
    let mut seg = tcp.segment_v4(PEER_IP, OUR_IP, b"");
    seg[16] ^= 0xff;
    let syn = from_peer(&Ip::new(PEER_IP, OUR_IP, frame::PROTO_TCP).packet(&seg));
    net.expect_drop(2, &syn, DropReason::TcpBadChecksum);
    let mut out = Vec::new();
    net.iface
        .receive_with(t(2), &syn, checked, &mut |f| out.push(f.to_vec()));
    assert_eq!(out.len(), 1, "an RST");
    assert_eq!(out[0][14 + 20 + 13] & frame::flags::RST, frame::flags::RST);
    check_accounting(net.stats());
}

/// A device that hands over runs of segments as one frame (GSO) lets frames past the MTU in;
/// without it they are oversize.
#[test]
fn frames_past_the_mtu_are_taken_only_from_a_device_that_coalesces() {
    let mut net = ready();
    let h = net.iface.udp_bind(9000).unwrap();
    let payload = pattern(8000);
    let d = udp_datagram(peer(40000), us(9000), &payload);
    let big = from_peer(&Ip::new(PEER_IP, OUR_IP, PROTO_UDP).packet(&d));
    net.expect_drop(1, &big, DropReason::EthOversize);
    net.iface.set_offloads(Offloads {
        rx_checksum: true,
        tso: true,
        tx_checksum: false,
    });
    assert_eq!(net.rx(2, &big), NONE);
    assert_eq!(net.iface.udp_recv_from(h).map(|(_, d)| d), Some(payload));
}
