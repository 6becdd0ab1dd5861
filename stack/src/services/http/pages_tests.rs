//! `/stats` and `/` pinned byte for byte for known states of a host, built at explicit times:
//! a DHCP lease, IPv4 and IPv6 addresses, ARP and NDP entries (resolved and incomplete), TCP
//! connections in several states, and a dropped frame.

// A test module: its parent declares it under #[cfg(test)], so it may unwrap.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use core::time::Duration;

use etherparse::{PacketBuilder, SlicedPacket, TransportSlice};

use super::*;
use crate::device::memory::{End, Wire};
use crate::dhcp::{self, MessageType, Op, Repr};
use crate::{Config as IfaceConfig, Ipv6Cidr, Ipv6Config, MacAddr};

const PEER_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const HOST_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
const PEER_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const LEASED: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 50);

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

fn ipv6_config(addr: &str) -> Ipv6Config {
    Ipv6Config {
        addresses: vec![Ipv6Cidr::new(v6(addr), 64).unwrap()],
        dad_transmits: 1,
        router_solicitations: 0,
        max_start_delay: Duration::ZERO,
        ..Ipv6Config::default()
    }
}

/// A host with a DHCP client and IPv6, a peer with static addresses that also plays the DHCP
/// server (its replies are scripted here), joined by an in-memory wire.
struct Pin {
    wire: Wire,
    peer: Interface,
    host: Interface,
    server: Server,
    /// DHCP replies to deliver to the host, with their time.
    dhcp: Vec<(Instant, Vec<u8>)>,
    now: Instant,
}

/// The reply of a DHCP server at the peer's address to what the host sent, if it is a DHCP
/// DISCOVER or REQUEST.
fn dhcp_reply(frame: &[u8]) -> Option<Vec<u8>> {
    let p = SlicedPacket::from_ethernet(frame).ok()?;
    let Some(TransportSlice::Udp(u)) = p.transport else {
        return None;
    };
    if u.destination_port() != dhcp::SERVER_PORT {
        return None;
    }
    let req = Repr::parse_bytes(u.payload()).ok()?;
    let t = match req.message_type {
        MessageType::Discover => MessageType::Offer,
        MessageType::Request => MessageType::Ack,
        _ => return None,
    };
    let mut r = Repr::new(Op::Reply, t, req.xid, req.chaddr);
    r.broadcast = req.broadcast;
    r.yiaddr = LEASED;
    r.siaddr = PEER_IP;
    r.server_id = Some(PEER_IP);
    r.lease_time = Some(3600);
    r.subnet_mask = Some(Ipv4Addr::new(255, 255, 255, 0));
    r.routers = vec![PEER_IP];
    r.dns_servers = vec![PEER_IP, Ipv4Addr::new(9, 9, 9, 9)];
    let b = PacketBuilder::ethernet2(PEER_MAC.0, MacAddr::BROADCAST.0)
        .ipv4(PEER_IP.octets(), Ipv4Addr::BROADCAST.octets(), 64)
        .udp(dhcp::SERVER_PORT, dhcp::CLIENT_PORT);
    let payload = r.to_bytes();
    let mut out = Vec::new();
    b.write(&mut out, &payload).unwrap();
    Some(out)
}

impl Pin {
    fn new() -> Pin {
        let mut pc = IfaceConfig::new(PEER_MAC, Some("10.77.0.1/24".parse().unwrap()));
        pc.seed = 11;
        pc.ipv6 = Some(ipv6_config("fd77::1"));
        let mut hc = IfaceConfig::new(HOST_MAC, None);
        hc.seed = 12;
        hc.dhcp = Some(dhcp::Config::default());
        hc.hostname = Some("pin\"ned".into());
        hc.ipv6 = Some(ipv6_config("fd77::2"));
        let mut host = Interface::new(hc).unwrap();
        let server = Server::listen(&mut host, PORT, Config::default()).unwrap();
        Pin {
            wire: Wire::new(1500),
            peer: Interface::new(pc).unwrap(),
            host,
            server,
            dhcp: Vec::new(),
            now: Instant::ZERO,
        }
    }

    /// Runs every step up to `until`, in steps of at most 10 ms.
    fn run(&mut self, until: Instant) {
        while self.now < until {
            self.step();
            self.now = (self.now + Duration::from_millis(10)).min(until);
        }
        self.step();
    }

    fn step(&mut self) {
        let now = self.now;
        let mut from_host: Vec<Vec<u8>> = Vec::new();
        let (wire, peer, host) = (&mut self.wire, &mut self.peer, &mut self.host);
        while let Some(f) = wire.recv(End::A, now) {
            peer.receive(now, &f, &mut |out| wire.send(End::A, now, out));
        }
        while let Some(f) = wire.recv(End::B, now) {
            host.receive(now, &f, &mut |out| from_host.push(out.to_vec()));
        }
        let (due, later) = std::mem::take(&mut self.dhcp)
            .into_iter()
            .partition::<Vec<_>, _>(|(t, _)| *t <= now);
        self.dhcp = later;
        for (_, f) in due {
            host.receive(now, &f, &mut |out| from_host.push(out.to_vec()));
        }
        self.server.poll(now, host);
        peer.poll(now, &mut |out| wire.send(End::A, now, out));
        host.poll(now, &mut |out| from_host.push(out.to_vec()));
        for f in from_host {
            match dhcp_reply(&f) {
                Some(reply) => self.dhcp.push((now + Duration::from_millis(1), reply)),
                None => wire.send(End::B, now, &f),
            }
        }
    }

    fn pages(&self) -> (String, String) {
        let stats = self.server.stats_json(self.now, &self.host);
        let home = String::from_utf8(self.server.home_page(self.now, &self.host)).unwrap();
        (stats, home)
    }

    fn dashboard(&self) -> String {
        String::from_utf8(self.server.dashboard(self.now, &self.host)).unwrap()
    }
}

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

fn check(name: &str, got: &str, expected: &str) {
    if got != expected {
        let path = std::env::temp_dir().join(format!("tapstack-pin-{name}"));
        std::fs::write(&path, got).unwrap();
        panic!(
            "{name} differs from the pinned text; what came out is in {}:\n{got}",
            path.display()
        );
    }
}

#[test]
fn stats_and_home_page_of_a_busy_host_are_pinned() {
    let mut p = Pin::new();
    p.run(ms(5_000));
    assert_eq!(p.host.ipv4().map(|c| c.addr()), Some(LEASED));

    // The peer connects over IPv4 and IPv6 (so both caches learn it) and sends half a request.
    let h4 = p
        .peer
        .tcp_connect(p.now, SocketAddr::new(IpAddr::V4(LEASED), PORT))
        .unwrap();
    let h6 = p
        .peer
        .tcp_connect(p.now, SocketAddr::new(IpAddr::V6(v6("fd77::2")), PORT))
        .unwrap();
    p.run(ms(5_500));
    p.peer.tcp_send(h4, b"GET / HTTP/1.1\r\n").unwrap();
    p.peer.tcp_send(h6, b"GET /st").unwrap();
    // The host reaches for neighbours that do not answer: incomplete entries, SYN-SENT.
    p.host
        .tcp_connect(
            p.now,
            SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 77, 0, 99)), 7),
        )
        .unwrap();
    p.host
        .tcp_connect(p.now, SocketAddr::new(IpAddr::V6(v6("fd77::99")), 7))
        .unwrap();
    // A frame too short for Ethernet: one drop.
    p.host.receive(p.now, &[0u8; 10], &mut |_| {});
    p.run(ms(6_250));

    let (stats, home) = p.pages();
    check(
        "busy-stats.json",
        &stats,
        include_str!("testdata/busy-stats.json"),
    );
    check(
        "busy-home.html",
        &home,
        include_str!("testdata/busy-home.html"),
    );
    // The dashboard: connections, both caches, a drop and a few seconds of traffic.
    check(
        "busy-dashboard.html",
        &p.dashboard(),
        include_str!("testdata/busy-dashboard.html"),
    );
    check(
        "busy-ss.txt",
        &ss::table(&p.host),
        include_str!("testdata/busy-ss.txt"),
    );
}

#[test]
fn stats_and_home_page_of_a_plain_host_are_pinned() {
    let mut c = IfaceConfig::new(HOST_MAC, Some("10.0.0.2/24".parse().unwrap()));
    c.seed = 3;
    let mut host = Interface::new(c).unwrap();
    let mut server = Server::listen(&mut host, PORT, Config::default()).unwrap();
    server.poll(ms(1_000), &mut host);
    host.poll(ms(1_000), &mut |_| {});
    server.poll(ms(3_723_456), &mut host);
    let stats = server.stats_json(ms(3_723_456), &host);
    let home = String::from_utf8(server.home_page(ms(3_723_456), &host)).unwrap();
    check(
        "plain-stats.json",
        &stats,
        include_str!("testdata/plain-stats.json"),
    );
    check(
        "plain-home.html",
        &home,
        include_str!("testdata/plain-home.html"),
    );
}

/// A Router Advertisement from the peer's link-local address: hop limit 32, MTU 1400, and the
/// prefix fd78::/64 for SLAAC (valid 100 s, preferred 50 s).
fn router_advert() -> Vec<u8> {
    use crate::ipv6::{self, ndp};
    let src = ipv6::link_local_from_mac(PEER_MAC);
    let dst = crate::iface::ALL_NODES;
    let prefix = ndp::PrefixInfo {
        prefix_len: 64,
        on_link: true,
        autonomous: true,
        valid_lifetime: 100,
        preferred_lifetime: 50,
        prefix: v6("fd78::"),
    };
    let mut body = Vec::new();
    ndp::emit(
        &mut body,
        src,
        dst,
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
    let mut f = Vec::new();
    f.extend_from_slice(&ipv6::multicast_mac(dst).0);
    f.extend_from_slice(&PEER_MAC.0);
    f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
    f.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
    f.extend_from_slice(&[58, 255]);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    f.extend_from_slice(&body);
    f
}

/// A DHCP OFFER for an exchange the client never started (its xid is not the client's).
fn stray_offer() -> Vec<u8> {
    let mut r = Repr::new(Op::Reply, MessageType::Offer, 0x0bad_cafe, HOST_MAC);
    r.yiaddr = LEASED;
    r.server_id = Some(PEER_IP);
    r.lease_time = Some(60);
    let b = PacketBuilder::ethernet2(PEER_MAC.0, MacAddr::BROADCAST.0)
        .ipv4(PEER_IP.octets(), Ipv4Addr::BROADCAST.octets(), 64)
        .udp(dhcp::SERVER_PORT, dhcp::CLIENT_PORT);
    let mut out = Vec::new();
    b.write(&mut out, &r.to_bytes()).unwrap();
    out
}

#[test]
fn stats_and_home_page_of_a_host_with_a_router_and_no_lease_are_pinned() {
    let mut c = IfaceConfig::new(HOST_MAC, None);
    c.seed = 5;
    c.dhcp = Some(dhcp::Config::default());
    c.ipv6 = Some(Ipv6Config {
        dad_transmits: 0,
        ..ipv6_config("fd77::2")
    });
    let mut host = Interface::new(c).unwrap();
    let mut server = Server::listen(&mut host, PORT, Config::default()).unwrap();
    server.poll(ms(0), &mut host);
    host.poll(ms(0), &mut |_| {});
    host.receive(ms(100), &router_advert(), &mut |_| {});
    host.receive(ms(200), &stray_offer(), &mut |_| {});
    host.poll(ms(300), &mut |_| {});
    server.poll(ms(2_500), &mut host);
    let stats = server.stats_json(ms(2_500), &host);
    let home = String::from_utf8(server.home_page(ms(2_500), &host)).unwrap();
    check(
        "router-stats.json",
        &stats,
        include_str!("testdata/router-stats.json"),
    );
    check(
        "router-home.html",
        &home,
        include_str!("testdata/router-home.html"),
    );
    check(
        "router-dashboard.html",
        &String::from_utf8(server.dashboard(ms(2_500), &host)).unwrap(),
        include_str!("testdata/router-dashboard.html"),
    );
}
