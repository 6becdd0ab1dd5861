//! The DHCP client inside the interface, against a scripted server on an in-memory wire.
//!
//! [`Net`] joins one [`Interface`] to a scripted DHCP server ([`Server`], 10.77.0.1) and,
//! when a test asks for it, another host that already owns an address (to make RFC 5227
//! probes fail). Time is virtual: [`Net::run_until`] jumps from one frame arrival or timer to
//! the next, so a whole lease lifecycle runs in milliseconds. Every frame the interface sends
//! is parsed with etherparse and checked (IPv4 and UDP checksums, RFC 2131 4.1 addressing);
//! every frame it receives is accounted for (`rx_frames == rx_handled + total_drops()`).

// A test module: its parent declares it under #[cfg(test)], so it may unwrap.

use core::net::SocketAddrV4;
use core::time::Duration;

use etherparse::{
    ArpEthIpv4Packet, ArpOperation, Icmpv4Type, LinkSlice, NetSlice, SlicedPacket, TransportSlice,
    UdpHeader,
};
use tapstack_testkit::frame::{self, PROTO_ICMP, PROTO_UDP};

use super::*;
use crate::dhcp::{MessageType, Op, ParseError, Repr, State};

const OUR_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);
const SERVER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
/// The host that already has an address the server hands out.
const OTHER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x99]);
/// The first address of the server's pool.
const OFFERED: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 50);
/// The next one, offered once the first has been declined.
const SECOND: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 51);
const MASK: Ipv4Addr = Ipv4Addr::new(255, 255, 255, 0);
const LEASE_SECS: u32 = 120;
/// One-way delay of the wire.
const LATENCY: Duration = Duration::from_millis(1);
/// Probes before a leased address is used (the default is 2; 3 tells the two apart).
const PROBES: u32 = 3;

fn ms(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn cidr(addr: Ipv4Addr) -> Ipv4Cidr {
    Ipv4Cidr::new(addr, 24).expect("a /24 host address")
}

fn config(seed: u64) -> Config {
    let mut c = Config::new(OUR_MAC, None);
    c.dhcp = Some(dhcp::Config::default());
    c.hostname = Some("tapstack".into());
    c.seed = seed;
    c.arp.probe_count = PROBES;
    c
}

/// The ones' complement sum of `data` (RFC 1071), complemented: 0 over a packet whose checksum
/// is right.
fn inet_sum(data: &[u8]) -> u16 {
    frame::checksum(&[data])
}

// ------------------------------------------------------------------------------------------------
// Frames, built with the test kit: IPv4 as etherparse's builder writes it (identification 0,
// don't fragment, TTL 64).

/// The IPv4 header of a frame to the interface.
fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8) -> frame::Ipv4 {
    frame::Ipv4::new(src, dst, protocol)
        .ident(0)
        .dont_fragment()
}

fn udp_frame(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: SocketAddrV4,
    dst: SocketAddrV4,
    payload: &[u8],
) -> Vec<u8> {
    let udp = frame::udp_v4(src, dst, payload);
    let packet = ipv4(*src.ip(), *dst.ip(), PROTO_UDP).packet(&udp);
    frame::ethernet(dst_mac.0, src_mac.0, frame::ETH_IPV4, &packet)
}

/// A DHCP message from the server (port 67) to `dst` (port 68).
fn dhcp_frame(dst_mac: MacAddr, dst: Ipv4Addr, msg: &[u8]) -> Vec<u8> {
    udp_frame(
        SERVER_MAC,
        dst_mac,
        SocketAddrV4::new(SERVER_IP, dhcp::SERVER_PORT),
        SocketAddrV4::new(dst, dhcp::CLIENT_PORT),
        msg,
    )
}

fn arp_frame(
    dst_mac: MacAddr,
    op: ArpOperation,
    sender: (MacAddr, Ipv4Addr),
    target: (MacAddr, Ipv4Addr),
) -> Vec<u8> {
    frame::arp_frame(
        dst_mac.0,
        op.0,
        (sender.0 .0, sender.1),
        (target.0 .0, target.1),
    )
}

fn echo_request(dst: Ipv4Addr, seq: u16) -> Vec<u8> {
    let data = seq.to_be_bytes().repeat(8);
    let icmp = frame::echo(8, 0x4242, seq, &data);
    let packet = ipv4(SERVER_IP, dst, PROTO_ICMP).packet(&icmp);
    frame::ethernet(OUR_MAC.0, SERVER_MAC.0, frame::ETH_IPV4, &packet)
}

/// Offset of the UDP checksum in an Ethernet/IPv4 (no options)/UDP frame.
const UDP_CHECKSUM_AT: usize = 14 + 20 + 6;

// ------------------------------------------------------------------------------------------------
// What the interface sent, parsed and checked.

/// A DHCP message the interface sent.
#[derive(Clone, Debug)]
struct Dhcp {
    at: Instant,
    eth_dst: MacAddr,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    msg: Repr,
}

impl Dhcp {
    /// RFC 2131 4.1/4.4: broadcast to 255.255.255.255 (and the Ethernet broadcast address)
    /// from 0.0.0.0, as DISCOVER, the REQUEST answering an offer and DECLINE are.
    fn assert_broadcast_from_nowhere(&self) {
        assert_eq!(self.eth_dst, MacAddr::BROADCAST, "{self:?}");
        assert_eq!(self.dst, Ipv4Addr::BROADCAST, "{self:?}");
        assert_eq!(self.src, Ipv4Addr::UNSPECIFIED, "{self:?}");
        assert_eq!(self.msg.ciaddr, Ipv4Addr::UNSPECIFIED, "{self:?}");
    }

    /// RFC 2131 4.4.5: a RENEWING request (and 4.4.6 a RELEASE) goes by unicast to the server,
    /// from the leased address, which is also in `ciaddr`.
    fn assert_unicast_from(&self, addr: Ipv4Addr) {
        assert_eq!(self.eth_dst, SERVER_MAC, "{self:?}");
        assert_eq!(self.dst, SERVER_IP, "{self:?}");
        assert_eq!(self.src, addr, "{self:?}");
        assert_eq!(self.msg.ciaddr, addr, "{self:?}");
    }

    /// RFC 2131 4.4.5: a REBINDING request is broadcast, from the leased address.
    fn assert_broadcast_from(&self, addr: Ipv4Addr) {
        assert_eq!(self.eth_dst, MacAddr::BROADCAST, "{self:?}");
        assert_eq!(self.dst, Ipv4Addr::BROADCAST, "{self:?}");
        assert_eq!(self.src, addr, "{self:?}");
        assert_eq!(self.msg.ciaddr, addr, "{self:?}");
    }

    fn is(&self, t: MessageType) -> bool {
        self.msg.message_type == t
    }
}

/// An ARP packet the interface sent.
#[derive(Clone, Debug)]
struct Arp {
    at: Instant,
    eth_dst: MacAddr,
    packet: ArpEthIpv4Packet,
}

impl Arp {
    /// An RFC 5227 2.1.1 probe for `addr`: a broadcast request with a zero sender address.
    fn is_probe_for(&self, addr: Ipv4Addr) -> bool {
        self.eth_dst == MacAddr::BROADCAST
            && self.packet.operation == ArpOperation::REQUEST
            && self.packet.sender_mac == OUR_MAC.0
            && self.packet.sender_ipv4_addr().is_unspecified()
            && self.packet.target_mac == [0; 6]
            && self.packet.target_ipv4_addr() == addr
    }

    /// An RFC 5227 2.3 announcement of `addr`: sender and target address both `addr`.
    fn is_announcement_of(&self, addr: Ipv4Addr) -> bool {
        self.eth_dst == MacAddr::BROADCAST
            && self.packet.operation == ArpOperation::REQUEST
            && self.packet.sender_ipv4_addr() == addr
            && self.packet.target_ipv4_addr() == addr
    }
}

/// An ICMP echo reply the interface sent.
#[derive(Clone, Debug)]
struct Echo {
    at: Instant,
    eth_dst: MacAddr,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    seq: u16,
}

/// Parses and checks a frame the interface sent; files it by kind.
#[derive(Clone, Debug)]
enum Sent {
    Dhcp(Dhcp),
    Arp(Arp),
    Echo(Echo),
    Other,
}

/// Every IPv4 packet must carry correct IPv4 and UDP/ICMP checksums; a DHCP message must be a
/// BOOTREQUEST for our MAC from port 68 to port 67, whose IP source is its `ciaddr` (0.0.0.0
/// before an address is bound), and which goes either to the broadcast address at the link
/// broadcast address or to the server at the server's MAC.
fn decode(at: Instant, bytes: &[u8]) -> Sent {
    let p = SlicedPacket::from_ethernet(bytes).expect("the interface sent a malformed frame");
    let Some(LinkSlice::Ethernet2(eth)) = &p.link else {
        panic!("not Ethernet II: {bytes:02x?}");
    };
    assert_eq!(MacAddr(eth.source()), OUR_MAC);
    let eth_dst = MacAddr(eth.destination());
    match &p.net {
        Some(NetSlice::Arp(a)) => Sent::Arp(Arp {
            at,
            eth_dst,
            packet: a.to_packet().try_eth_ipv4().expect("Ethernet/IPv4 ARP"),
        }),
        Some(NetSlice::Ipv4(ip)) => {
            let header = ip.header().to_header();
            assert_eq!(
                header.header_checksum,
                header.calc_header_checksum(),
                "IPv4 header checksum"
            );
            let (src, dst) = (ip.header().source_addr(), ip.header().destination_addr());
            match &p.transport {
                Some(TransportSlice::Udp(u)) => {
                    let expected = UdpHeader {
                        checksum: 0,
                        ..u.to_header()
                    }
                    .calc_checksum_ipv4_raw(src.octets(), dst.octets(), u.payload())
                    .expect("a datagram that fits");
                    assert_ne!(u.checksum(), 0, "UDP checksum left out");
                    assert_eq!(u.checksum(), expected, "UDP checksum");
                    if u.destination_port() != dhcp::SERVER_PORT {
                        return Sent::Other;
                    }
                    assert_eq!(u.source_port(), dhcp::CLIENT_PORT);
                    let msg = Repr::parse_bytes(u.payload()).expect("a well-formed DHCP message");
                    let d = Dhcp {
                        at,
                        eth_dst,
                        src,
                        dst,
                        msg,
                    };
                    assert_eq!(d.msg.op, Op::Request, "{d:?}");
                    assert_eq!(d.msg.chaddr, OUR_MAC, "{d:?}");
                    assert_eq!(d.src, d.msg.ciaddr, "IP source is ciaddr: {d:?}");
                    if dst.is_broadcast() {
                        assert_eq!(eth_dst, MacAddr::BROADCAST, "{d:?}");
                    } else {
                        assert_eq!((dst, eth_dst), (SERVER_IP, SERVER_MAC), "{d:?}");
                    }
                    Sent::Dhcp(d)
                }
                Some(TransportSlice::Icmpv4(i)) => {
                    assert_eq!(inet_sum(i.slice()), 0, "ICMP checksum");
                    match i.icmp_type() {
                        Icmpv4Type::EchoReply(e) => Sent::Echo(Echo {
                            at,
                            eth_dst,
                            src,
                            dst,
                            seq: e.seq,
                        }),
                        _ => Sent::Other,
                    }
                }
                _ => Sent::Other,
            }
        }
        _ => Sent::Other,
    }
}

// ------------------------------------------------------------------------------------------------
// The scripted server.

/// What became of a message that reached the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Answered,
    /// Lost on the way (`drop_next`).
    Lost,
    /// Heard but not answered (`silent`, `broadcast_only`, or nothing to answer).
    Ignored,
}

/// A DHCP server (RFC 2131 4.3) for 10.77.0.0/24 that can be told to misbehave. It also
/// answers ARP for its own address.
#[derive(Debug)]
struct Server {
    /// Addresses to offer, in order; a declined one is taken out.
    pool: Vec<Ipv4Addr>,
    lease_secs: u32,
    /// Answer nothing.
    silent: bool,
    /// Lose this many of the next messages.
    drop_next: usize,
    /// Send every reply twice.
    duplicate: bool,
    /// Ignore unicast messages (RENEWING requests).
    broadcast_only: bool,
    /// Answer this many of the next DHCPREQUESTs with DHCPNAK.
    nak_next: usize,
    /// Send offers and acknowledgements by unicast to the offered address even when the
    /// broadcast bit is set.
    unicast_replies: bool,
    /// Every message heard, and its fate.
    heard: Vec<(Instant, Repr, Fate)>,
    /// Every DHCP frame sent, with its time.
    replies: Vec<(Instant, Vec<u8>)>,
    declined: Vec<Ipv4Addr>,
    released: Vec<Ipv4Addr>,
}

impl Server {
    fn new() -> Self {
        Server {
            pool: vec![OFFERED, SECOND],
            lease_secs: LEASE_SECS,
            silent: false,
            drop_next: 0,
            duplicate: false,
            broadcast_only: false,
            nak_next: 0,
            unicast_replies: false,
            heard: Vec::new(),
            replies: Vec::new(),
            declined: Vec::new(),
            released: Vec::new(),
        }
    }

    /// An OFFER or ACK of `yiaddr` answering `req`.
    fn lease_reply(&self, req: &Repr, t: MessageType, yiaddr: Ipv4Addr) -> Repr {
        let mut r = Repr::new(Op::Reply, t, req.xid, req.chaddr);
        r.broadcast = req.broadcast;
        r.yiaddr = yiaddr;
        r.siaddr = SERVER_IP;
        r.server_id = Some(SERVER_IP);
        r.lease_time = Some(self.lease_secs);
        r.subnet_mask = Some(MASK);
        r.routers = vec![SERVER_IP];
        r.dns_servers = vec![SERVER_IP];
        r
    }

    fn offer(&self, req: &Repr) -> Repr {
        let addr = self.pool.first().copied().expect("an address left");
        self.lease_reply(req, MessageType::Offer, addr)
    }

    fn ack(&self, req: &Repr) -> Repr {
        let addr = req.requested_addr.unwrap_or(req.ciaddr);
        self.lease_reply(req, MessageType::Ack, addr)
    }

    fn nak(req: &Repr) -> Repr {
        let mut r = Repr::new(Op::Reply, MessageType::Nak, req.xid, req.chaddr);
        r.server_id = Some(SERVER_IP);
        r
    }

    /// RFC 2131 4.1: with `giaddr` zero, a reply goes to `ciaddr` when it is set; a DHCPNAK, or
    /// a reply to a client that set the broadcast bit, to 255.255.255.255; otherwise by
    /// unicast to `chaddr` and `yiaddr`.
    fn frame(&self, req: &Repr, reply: &Repr) -> Vec<u8> {
        let (mac, ip) = if reply.message_type == MessageType::Nak {
            (MacAddr::BROADCAST, Ipv4Addr::BROADCAST)
        } else if !req.ciaddr.is_unspecified() {
            (req.chaddr, req.ciaddr)
        } else if req.broadcast && !self.unicast_replies {
            (MacAddr::BROADCAST, Ipv4Addr::BROADCAST)
        } else {
            (req.chaddr, reply.yiaddr)
        };
        dhcp_frame(mac, ip, &reply.to_bytes())
    }

    fn on_dhcp(&mut self, now: Instant, d: &Dhcp) -> Vec<Vec<u8>> {
        let req = &d.msg;
        let unicast = !d.dst.is_broadcast();
        if self.silent || (self.broadcast_only && unicast) {
            self.heard.push((now, req.clone(), Fate::Ignored));
            return Vec::new();
        }
        if self.drop_next > 0 {
            self.drop_next -= 1;
            self.heard.push((now, req.clone(), Fate::Lost));
            return Vec::new();
        }
        let reply = match req.message_type {
            MessageType::Discover => Some(self.offer(req)),
            // A REQUEST naming another server is that server's business (RFC 2131 4.3.2).
            MessageType::Request if req.server_id.is_some_and(|s| s != SERVER_IP) => None,
            MessageType::Request if self.nak_next > 0 => {
                self.nak_next -= 1;
                Some(Server::nak(req))
            }
            MessageType::Request => Some(self.ack(req)),
            MessageType::Decline => {
                let addr = req.requested_addr.expect("DECLINE names the address");
                self.declined.push(addr);
                self.pool.retain(|a| *a != addr);
                None
            }
            MessageType::Release => {
                self.released.push(req.ciaddr);
                None
            }
            _ => None,
        };
        let Some(reply) = reply else {
            self.heard.push((now, req.clone(), Fate::Ignored));
            return Vec::new();
        };
        self.heard.push((now, req.clone(), Fate::Answered));
        let frame = self.frame(req, &reply);
        let copies = if self.duplicate { 2 } else { 1 };
        let frames = vec![frame; copies];
        self.replies
            .extend(frames.iter().map(|f| (now + LATENCY, f.clone())));
        frames
    }

    fn on_arp(a: &Arp) -> Option<Vec<u8>> {
        let p = &a.packet;
        let asks_for_us = p.operation == ArpOperation::REQUEST
            && p.target_ipv4_addr() == SERVER_IP
            && !p.sender_ipv4_addr().is_unspecified();
        asks_for_us.then(|| {
            arp_frame(
                MacAddr(p.sender_mac),
                ArpOperation::REPLY,
                (SERVER_MAC, SERVER_IP),
                (MacAddr(p.sender_mac), p.sender_ipv4_addr()),
            )
        })
    }
}

/// A host that already uses `addr`: it answers probes and requests for it (RFC 5227 2.1.1).
fn squatter_answer(addr: Ipv4Addr, a: &Arp) -> Option<Vec<u8>> {
    let p = &a.packet;
    (p.operation == ArpOperation::REQUEST && p.target_ipv4_addr() == addr).then(|| {
        arp_frame(
            MacAddr(p.sender_mac),
            ArpOperation::REPLY,
            (OTHER_MAC, addr),
            (MacAddr(p.sender_mac), p.sender_ipv4_addr()),
        )
    })
}

// ------------------------------------------------------------------------------------------------
// The wire.

/// The interface, the server and maybe a squatter on one link, under one virtual clock.
struct Net {
    now: Instant,
    iface: Interface,
    server: Server,
    /// Another host that has this address.
    squatter: Option<Ipv4Addr>,
    /// Frames on their way to the interface, in order of arrival.
    inbox: Vec<(Instant, Vec<u8>)>,
    /// Every frame the interface sent, as sent.
    frames: Vec<(Instant, Vec<u8>)>,
    dhcp: Vec<Dhcp>,
    arp: Vec<Arp>,
    echoes: Vec<Echo>,
    /// Interface events not yet taken by the test.
    events: Vec<Event>,
}

impl Net {
    fn new(config: Config) -> Self {
        Net {
            now: Instant::ZERO,
            iface: Interface::new(config).expect("a valid configuration"),
            server: Server::new(),
            squatter: None,
            inbox: Vec::new(),
            frames: Vec::new(),
            dhcp: Vec::new(),
            arp: Vec::new(),
            echoes: Vec::new(),
            events: Vec::new(),
        }
    }

    fn client(&self) -> &dhcp::Client {
        self.iface.dhcp().expect("a DHCP client")
    }

    fn state(&self) -> State {
        self.client().state()
    }

    fn counters(&self) -> dhcp::Counters {
        *self.client().counters()
    }

    fn lease(&self) -> dhcp::Lease {
        self.client().lease().expect("a lease").clone()
    }

    fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Queues a frame to reach the interface at `at`, after those due no later.
    fn schedule(&mut self, at: Instant, frame: Vec<u8>) {
        let i = self.inbox.partition_point(|(t, _)| *t <= at);
        self.inbox.insert(i, (at, frame));
    }

    fn next_wakeup(&self) -> Option<Instant> {
        let poll = self.iface.poll_at().map(|t| t.max(self.now));
        earliest(poll, self.inbox.first().map(|(t, _)| *t))
    }

    /// Runs the link up to and including `until`.
    fn run_until(&mut self, until: Instant) {
        self.run_while(until, |_| true);
        self.now = self.now.max(until);
    }

    /// Runs the link while `go` holds and something is due no later than `until`.
    fn run_while(&mut self, until: Instant, mut go: impl FnMut(&Net) -> bool) {
        let mut same_instant = 0;
        for _ in 0..100_000 {
            if !go(self) {
                return;
            }
            match self.next_wakeup() {
                Some(at) if at <= until => {
                    same_instant = if at == self.now { same_instant + 1 } else { 0 };
                    assert!(same_instant < 100, "no progress at {at}");
                    self.step(at);
                }
                _ => return,
            }
        }
        panic!("the link never settles");
    }

    /// Delivers what is due at `at`, then polls the interface if it asks to be.
    fn step(&mut self, at: Instant) {
        self.now = at;
        let mut out = Vec::new();
        while self.inbox.first().is_some_and(|(t, _)| *t <= at) {
            let (_, frame) = self.inbox.remove(0);
            self.iface
                .receive(at, &frame, &mut |f| out.push(f.to_vec()));
            check_accounting(self.iface.stats());
        }
        if self.iface.poll_at().is_some_and(|t| t <= at) {
            self.iface.poll(at, &mut |f| out.push(f.to_vec()));
        }
        self.sent(out);
    }

    /// Hands a frame to the interface now, outside the schedule; returns what it sent back.
    fn deliver(&mut self, frame: &[u8]) -> usize {
        let mut out = Vec::new();
        self.iface
            .receive(self.now, frame, &mut |f| out.push(f.to_vec()));
        check_accounting(self.iface.stats());
        let n = out.len();
        self.sent(out);
        n
    }

    /// Files frames the interface sent and lets the other hosts answer them.
    fn sent(&mut self, out: Vec<Vec<u8>>) {
        let now = self.now;
        for bytes in out {
            let sent = decode(now, &bytes);
            self.frames.push((now, bytes));
            let answers = match sent {
                Sent::Dhcp(d) => {
                    let a = self.server.on_dhcp(now, &d);
                    self.dhcp.push(d);
                    a
                }
                Sent::Arp(a) => {
                    let mut answers: Vec<Vec<u8>> = Server::on_arp(&a).into_iter().collect();
                    if let Some(addr) = self.squatter {
                        answers.extend(squatter_answer(addr, &a));
                    }
                    self.arp.push(a);
                    answers
                }
                Sent::Echo(e) => {
                    self.echoes.push(e);
                    Vec::new()
                }
                Sent::Other => Vec::new(),
            };
            for a in answers {
                self.schedule(now + LATENCY, a);
            }
        }
        while let Some(e) = self.iface.poll_event() {
            self.events.push(e);
        }
    }

    /// The server pings `addr`; true when the interface answered within 50 ms.
    fn ping(&mut self, addr: Ipv4Addr, seq: u16) -> bool {
        let before = self.echoes.len();
        let now = self.now;
        self.schedule(now, echo_request(addr, seq));
        self.run_until(now + Duration::from_millis(50));
        let replies: Vec<&Echo> = self.echoes[before..].iter().collect();
        assert!(replies.len() <= 1, "{replies:?}");
        replies.first().is_some_and(|e| {
            assert_eq!((e.src, e.dst, e.seq), (addr, SERVER_IP, seq), "{e:?}");
            assert_eq!(e.eth_dst, SERVER_MAC);
            assert!(e.at >= now);
            true
        })
    }

    /// The server asks who has `addr`; true when the interface answered it.
    fn who_has(&mut self, addr: Ipv4Addr) -> bool {
        let before = self.arp.len();
        let now = self.now;
        let request = arp_frame(
            MacAddr::BROADCAST,
            ArpOperation::REQUEST,
            (SERVER_MAC, SERVER_IP),
            (MacAddr::ZERO, addr),
        );
        self.schedule(now, request);
        self.run_until(now + Duration::from_millis(10));
        self.arp[before..].iter().any(|a| {
            a.packet.operation == ArpOperation::REPLY
                && a.eth_dst == SERVER_MAC
                && a.packet.sender_mac == OUR_MAC.0
                && a.packet.sender_ipv4_addr() == addr
                && a.packet.target_mac == SERVER_MAC.0
                && a.packet.target_ipv4_addr() == SERVER_IP
        })
    }

    /// DHCP messages sent from index `from` on.
    fn dhcp_from(&self, from: usize) -> &[Dhcp] {
        &self.dhcp[from..]
    }
}

fn check_accounting(s: &Stats) {
    assert_eq!(
        s.rx_frames,
        s.rx_handled + s.total_drops(),
        "every frame is handled or dropped: {:?}",
        s.nonzero_drops().collect::<Vec<_>>()
    );
}

/// Drives a fresh interface from DISCOVER to an address in use, with a server that answers
/// at once; returns when the first REQUEST went out (where the lease is timed from).
fn bind(net: &mut Net, addr: Ipv4Addr) -> Instant {
    let start = net.now;
    net.run_while(start + Duration::from_secs(30), |n| {
        n.iface.ipv4().is_none() || n.state() != State::Bound
    });
    // The first REQUEST of the exchange that got the lease (from 0.0.0.0, so not a RENEW).
    let selecting = |d: &&Dhcp| d.is(MessageType::Request) && d.src.is_unspecified();
    let xid = net
        .dhcp
        .iter()
        .rev()
        .find(selecting)
        .expect("a REQUEST")
        .msg
        .xid;
    let request = net
        .dhcp
        .iter()
        .filter(selecting)
        .find(|d| d.msg.xid == xid)
        .expect("a REQUEST")
        .at;
    assert_eq!(net.state(), State::Bound);
    assert_eq!(net.iface.ipv4(), Some(cidr(addr)));
    assert_eq!(net.iface.gateway(), Some(SERVER_IP));
    assert_eq!(
        net.take_events(),
        [
            Event::AddressReady(addr),
            Event::LeaseAcquired {
                addr: cidr(addr),
                server: SERVER_IP
            }
        ]
    );
    assert_eq!(net.lease().acquired_at, request);
    request
}

// ------------------------------------------------------------------------------------------------
// Tests.

/// The whole lifecycle of one lease, every transition checked; returns the link for the
/// determinism test to compare.
fn lifecycle(seed: u64) -> Net {
    let mut net = Net::new(config(seed));
    assert_eq!(net.state(), State::Stopped);
    assert_eq!(net.iface.poll_at(), Some(Instant::ZERO));

    // INIT -> SELECTING: DISCOVER broadcast from 0.0.0.0 at once.
    net.run_until(ms(0));
    assert_eq!(net.dhcp.len(), 1);
    let discover = net.dhcp[0].clone();
    assert_eq!(discover.at, ms(0));
    assert!(discover.is(MessageType::Discover));
    discover.assert_broadcast_from_nowhere();
    assert!(
        discover.msg.broadcast,
        "RFC 2131 4.1: no address yet, broadcast bit"
    );
    assert_eq!(discover.msg.hostname.as_deref(), Some("tapstack"));
    assert_eq!(
        discover.msg.client_id,
        Some([&[1][..], &OUR_MAC.0[..]].concat())
    );
    for code in [1, 3, 6, 51, 54] {
        assert!(discover.msg.parameter_request_list.contains(&code));
    }
    assert_eq!(net.state(), State::Selecting);
    assert_eq!(net.counters().discovers, 1);
    assert_eq!(net.iface.ipv4(), None);

    // SELECTING -> REQUESTING: the OFFER arrives 1 ms later, the REQUEST leaves at once.
    net.run_until(ms(1));
    assert_eq!(net.dhcp.len(), 2);
    let request = net.dhcp[1].clone();
    assert_eq!(request.at, ms(1));
    assert!(request.is(MessageType::Request));
    request.assert_broadcast_from_nowhere();
    assert_eq!(request.msg.xid, discover.msg.xid);
    assert_eq!(request.msg.requested_addr, Some(OFFERED));
    assert_eq!(request.msg.server_id, Some(SERVER_IP));
    assert_eq!(net.state(), State::Requesting);
    assert_eq!((net.counters().offers, net.counters().requests), (1, 1));
    assert_eq!(net.iface.ipv4_assigned(), None);

    // REQUESTING -> probing: the ACK arrives at 2 ms; the address is checked, not used.
    net.run_until(ms(2));
    assert_eq!(net.state(), State::Probing);
    assert_eq!(net.counters().acks, 1);
    assert_eq!(net.iface.ipv4(), None);
    assert_eq!(net.iface.ipv4_assigned(), Some(cidr(OFFERED)));
    assert_eq!(net.client().pending().map(|l| l.acquired_at), Some(ms(1)));
    assert!(net.take_events().is_empty());
    let interval = net.iface.config().arp.probe_interval;
    let claim_at = ms(2) + interval * PROBES;
    net.run_until(claim_at - Duration::from_micros(1));
    let probes: Vec<Instant> = net.arp.iter().map(|a| a.at).collect();
    assert!(
        net.arp.iter().all(|a| a.is_probe_for(OFFERED)),
        "{:?}",
        net.arp
    );
    assert_eq!(
        probes,
        (0..PROBES)
            .map(|i| ms(2) + interval * i)
            .collect::<Vec<_>>()
    );
    assert_eq!(net.iface.ipv4(), None);
    assert!(net.take_events().is_empty());
    assert_eq!(net.state(), State::Probing);

    // Probing -> BOUND: nobody objected; the address is used and announced.
    net.run_until(claim_at);
    assert_eq!(net.state(), State::Bound);
    assert_eq!(net.iface.ipv4(), Some(cidr(OFFERED)));
    assert_eq!(net.iface.gateway(), Some(SERVER_IP));
    assert_eq!(
        net.take_events(),
        [
            Event::AddressReady(OFFERED),
            Event::LeaseAcquired {
                addr: cidr(OFFERED),
                server: SERVER_IP
            }
        ]
    );
    assert!(net
        .arp
        .last()
        .expect("an announcement")
        .is_announcement_of(OFFERED));
    // RFC 2131 4.4.1: the lease runs from when the REQUEST went out (1 ms).
    let lease = net.lease();
    assert_eq!(lease.addr, cidr(OFFERED));
    assert_eq!((lease.server, lease.router), (SERVER_IP, Some(SERVER_IP)));
    assert_eq!(lease.dns, [SERVER_IP]);
    assert_eq!(lease.renew_at(), Some(ms(60_001)));
    assert_eq!(lease.rebind_at(), Some(ms(105_001)));
    assert_eq!(lease.expires_at(), Some(ms(120_001)));

    // The address answers ARP and ping.
    net.run_until(ms(5_000));
    assert!(net.who_has(OFFERED));
    assert!(net.ping(OFFERED, 1));

    // BOUND -> RENEWING at T1: unicast to the server, from the address, with a new xid.
    net.run_until(ms(60_001) - Duration::from_micros(1));
    assert_eq!(net.dhcp.len(), 2, "nothing before T1");
    net.run_until(ms(60_001));
    assert_eq!(net.dhcp.len(), 3);
    let renew = net.dhcp[2].clone();
    assert_eq!(renew.at, ms(60_001));
    assert!(renew.is(MessageType::Request));
    renew.assert_unicast_from(OFFERED);
    assert_eq!(
        (renew.msg.requested_addr, renew.msg.server_id),
        (None, None)
    );
    assert!(!renew.msg.broadcast);
    assert_ne!(renew.msg.xid, discover.msg.xid);
    assert_eq!(net.state(), State::Renewing);
    assert_eq!(net.counters().renewals, 1);
    assert_eq!(
        net.iface.ipv4(),
        Some(cidr(OFFERED)),
        "still ours while renewing"
    );

    // RENEWING -> BOUND: the ACK comes by unicast; the lease now runs from 60.001 s.
    net.run_until(ms(60_002));
    assert_eq!(net.state(), State::Bound);
    assert_eq!(
        net.take_events(),
        [Event::LeaseRenewed {
            addr: cidr(OFFERED),
            server: SERVER_IP
        }]
    );
    assert_eq!(net.counters().acks, 2);
    let lease = net.lease();
    assert_eq!(lease.acquired_at, ms(60_001));
    assert_eq!(lease.renew_at(), Some(ms(120_001)));
    assert_eq!(lease.rebind_at(), Some(ms(165_001)));
    assert_eq!(lease.expires_at(), Some(ms(180_001)));

    // The server stops answering unicast: the RENEW at T1 goes unanswered, and RFC 2131 4.4.5
    // allows no retransmission sooner than 60 s, so the next request is the REBIND at T2.
    net.server.broadcast_only = true;
    net.run_until(ms(120_001));
    assert_eq!(net.dhcp.len(), 4);
    let renew2 = net.dhcp[3].clone();
    assert_eq!(renew2.at, ms(120_001));
    renew2.assert_unicast_from(OFFERED);
    assert_eq!(net.state(), State::Renewing);
    assert_eq!(net.counters().renewals, 2);
    net.run_until(ms(165_001) - Duration::from_micros(1));
    assert_eq!(net.dhcp.len(), 4);
    assert_eq!(net.iface.ipv4(), Some(cidr(OFFERED)));
    assert!(net.take_events().is_empty());

    // RENEWING -> REBINDING at T2: broadcast, still from the address, new xid.
    net.run_until(ms(165_001));
    assert_eq!(net.dhcp.len(), 5);
    let rebind = net.dhcp[4].clone();
    assert_eq!(rebind.at, ms(165_001));
    assert!(rebind.is(MessageType::Request));
    rebind.assert_broadcast_from(OFFERED);
    assert_eq!(
        (rebind.msg.requested_addr, rebind.msg.server_id),
        (None, None)
    );
    assert_ne!(rebind.msg.xid, renew2.msg.xid);
    assert_eq!(net.state(), State::Rebinding);
    assert_eq!(net.counters().rebinds, 1);

    // REBINDING -> BOUND: the server answers the broadcast.
    net.run_until(ms(165_002));
    assert_eq!(net.state(), State::Bound);
    assert_eq!(
        net.take_events(),
        [Event::LeaseRenewed {
            addr: cidr(OFFERED),
            server: SERVER_IP
        }]
    );
    assert_eq!(net.lease().expires_at(), Some(ms(285_001)));
    assert_eq!(net.counters().acks, 3);

    // The server goes silent: RENEW at 225.001 s, REBIND at 270.001 s, then expiry.
    net.server.silent = true;
    net.server.broadcast_only = false;
    net.run_until(ms(284_000));
    let late: Vec<(Instant, bool)> = net
        .dhcp_from(5)
        .iter()
        .map(|d| (d.at, d.dst.is_broadcast()))
        .collect();
    assert_eq!(late, [(ms(225_001), false), (ms(270_001), true)]);
    assert_eq!(net.state(), State::Rebinding);
    assert!(net.ping(OFFERED, 2), "still ours until the lease ends");
    net.run_until(ms(285_001) - Duration::from_micros(1));
    assert_eq!(net.iface.ipv4(), Some(cidr(OFFERED)));

    // Expiry: the address goes at once and configuration starts over with a DISCOVER.
    net.run_until(ms(285_001));
    assert_eq!(net.take_events(), [Event::LeaseLost(OFFERED)]);
    assert_eq!(net.iface.ipv4(), None);
    assert_eq!(net.iface.ipv4_assigned(), None);
    assert_eq!(net.iface.gateway(), None);
    assert!(net.client().lease().is_none());
    assert_eq!(net.counters().expiries, 1);
    let again = net.dhcp.last().expect("a DISCOVER").clone();
    assert_eq!(again.at, ms(285_001));
    assert!(again.is(MessageType::Discover));
    again.assert_broadcast_from_nowhere();
    assert_ne!(again.msg.xid, discover.msg.xid);
    assert_eq!(net.state(), State::Selecting);
    let no_address = net.iface.stats().drops(DropReason::Ipv4NoAddress);
    assert!(!net.ping(OFFERED, 3));
    assert!(!net.who_has(OFFERED));
    assert_eq!(
        net.iface.stats().drops(DropReason::Ipv4NoAddress),
        no_address + 1
    );
    let after_expiry = net.frames.iter().skip_while(|(t, _)| *t < ms(285_001));
    for (_, bytes) in after_expiry {
        if let Sent::Dhcp(d) = decode(Instant::ZERO, bytes) {
            assert_eq!(d.src, Ipv4Addr::UNSPECIFIED);
        }
    }

    let c = net.counters();
    assert_eq!(
        (c.discovers, c.requests, c.offers, c.acks, c.naks),
        (2, 6, 1, 3, 0)
    );
    assert_eq!(
        (c.renewals, c.rebinds, c.expiries, c.declines, c.releases),
        (3, 2, 1, 0, 0)
    );
    assert_eq!(c.rejected.total(), 0);
    assert_eq!(net.iface.stats().drops(DropReason::DhcpRejected), 0);
    net
}

#[test]
fn lease_lifecycle_renew_rebind_expire() {
    let net = lifecycle(7);
    // Every message reached the server; each was answered until it was told otherwise.
    let fates: Vec<Fate> = net.server.heard.iter().map(|h| h.2).collect();
    assert_eq!(
        fates,
        [
            Fate::Answered, // DISCOVER
            Fate::Answered, // REQUEST
            Fate::Answered, // RENEW
            Fate::Ignored,  // RENEW, unicast
            Fate::Answered, // REBIND
            Fate::Ignored,  // RENEW, silent
            Fate::Ignored,  // REBIND, silent
            Fate::Ignored,  // DISCOVER, silent
        ]
    );
}

#[test]
fn nak_while_renewing_drops_the_address_at_once() {
    let mut net = Net::new(config(11));
    // RFC 2131 4.1: a server may answer by unicast to the offered address and chaddr; the
    // interface takes such replies before it has an address.
    net.server.unicast_replies = true;
    let started = bind(&mut net, OFFERED);
    assert!(net
        .server
        .replies
        .iter()
        .all(|(_, f)| f[..6] == OUR_MAC.0 && f[30..34] == OFFERED.octets()));
    assert!(net.ping(OFFERED, 1));

    net.server.nak_next = 1;
    let t1 = started + Duration::from_secs(60);
    net.run_until(t1);
    let renew = net.dhcp.last().expect("a RENEW").clone();
    assert_eq!(renew.at, t1);
    renew.assert_unicast_from(OFFERED);
    assert_eq!(net.state(), State::Renewing);

    // The NAK (broadcast, RFC 2131 4.1) arrives 1 ms later: the address goes at once and a
    // DISCOVER leaves in the same instant.
    let sent = net.dhcp.len();
    net.run_until(t1 + LATENCY);
    assert_eq!(net.take_events(), [Event::LeaseLost(OFFERED)]);
    assert_eq!(net.iface.ipv4(), None);
    assert_eq!(net.iface.ipv4_assigned(), None);
    assert_eq!(net.iface.gateway(), None);
    assert_eq!(net.counters().naks, 1);
    let discover = net.dhcp_from(sent);
    assert_eq!(discover.len(), 1);
    assert_eq!(discover[0].at, t1 + LATENCY);
    assert!(discover[0].is(MessageType::Discover));
    discover[0].assert_broadcast_from_nowhere();
    assert_eq!(net.state(), State::Selecting);
    assert!(
        !net.ping(OFFERED, 2),
        "the address is not used while probing again"
    );

    // The server takes it back: a new lease, a new probe, the address in use again.
    bind(&mut net, OFFERED);
    assert!(net.ping(OFFERED, 3));
    let c = net.counters();
    assert_eq!((c.discovers, c.requests, c.acks, c.naks), (2, 3, 2, 1));
    assert_eq!(c.rejected.total(), 0);
}

#[test]
fn arp_conflict_declines_and_takes_the_next_offer() {
    let mut net = Net::new(config(13));
    net.squatter = Some(OFFERED);

    // The ACK arrives at 2 ms; the first probe leaves then and is answered 1 ms later.
    net.run_until(ms(2));
    assert_eq!(net.state(), State::Probing);
    let request_xid = net.dhcp[1].msg.xid;
    net.run_until(ms(3));
    assert_eq!(net.arp.len(), 1);
    assert!(net.arp[0].is_probe_for(OFFERED));
    assert_eq!(net.dhcp.len(), 3);
    let decline = net.dhcp[2].clone();
    assert_eq!(decline.at, ms(3));
    assert!(decline.is(MessageType::Decline));
    decline.assert_broadcast_from_nowhere();
    assert_eq!(decline.msg.requested_addr, Some(OFFERED));
    assert_eq!(decline.msg.server_id, Some(SERVER_IP));
    assert_eq!(decline.msg.xid, request_xid);
    assert_eq!(net.take_events(), [Event::LeaseDeclined(OFFERED)]);
    assert_eq!(net.iface.ipv4(), None);
    assert_eq!(net.iface.ipv4_assigned(), None);
    assert_eq!(net.iface.gateway(), None);
    assert_eq!(net.state(), State::Init);
    assert_eq!(net.counters().declines, 1);
    assert_eq!(net.iface.stats().arp_conflicts, 1);
    assert_eq!(net.iface.stats().drops(DropReason::ArpConflict), 1);
    assert_eq!(net.server.declined, [OFFERED]);

    // RFC 2131 3.1.5: at least ten seconds before starting again.
    net.run_until(ms(3) + Duration::from_secs(10) - Duration::from_micros(1));
    assert_eq!(net.dhcp.len(), 3);
    assert_eq!(net.arp.len(), 1, "no more probes for the declined address");
    assert!(net.take_events().is_empty());
    net.run_until(ms(3) + Duration::from_secs(10));
    assert_eq!(net.dhcp.len(), 4);
    assert_eq!(net.dhcp[3].at, ms(10_003));
    assert!(net.dhcp[3].is(MessageType::Discover));
    net.dhcp[3].assert_broadcast_from_nowhere();

    // The second offer is taken.
    bind(&mut net, SECOND);
    assert!(net.ping(SECOND, 1));
    assert!(!net.ping(OFFERED, 2));
    // The declined address was never used: no datagram or ARP packet ever came from it.
    assert!(net.dhcp.iter().all(|d| d.src != OFFERED));
    assert!(net.echoes.iter().all(|e| e.src != OFFERED));
    assert!(net
        .arp
        .iter()
        .all(|a| a.packet.sender_ipv4_addr() != OFFERED));
    let c = net.counters();
    assert_eq!((c.discovers, c.requests, c.acks, c.declines), (2, 2, 2, 1));
}

#[test]
fn lost_requests_are_retransmitted_and_duplicates_ignored() {
    let mut net = Net::new(config(17));
    let within = |d: Duration, secs: u64| {
        d >= Duration::from_secs(secs - 1) && d <= Duration::from_secs(secs + 1)
    };

    // The first two DISCOVERs are lost: RFC 2131 4.1 retransmits after 4 s, then 8 s, each
    // ± 1 s, in the same transaction.
    net.server.drop_next = 2;
    net.server.duplicate = true;
    net.run_while(ms(30_000), |n| n.dhcp.len() < 3);
    assert_eq!(net.dhcp.len(), 3);
    let d: Vec<Dhcp> = net.dhcp.clone();
    assert!(d.iter().all(|m| m.is(MessageType::Discover)));
    assert!(d.iter().all(|m| m.msg.xid == d[0].msg.xid));
    assert_eq!(d[0].at, ms(0));
    assert!(
        within(d[1].at.saturating_duration_since(d[0].at), 4),
        "{:?}",
        d[1].at
    );
    assert!(
        within(d[2].at.saturating_duration_since(d[1].at), 8),
        "{:?}",
        d[2].at
    );
    // `secs` counts from the start of the exchange.
    for m in &d {
        assert_eq!(u64::from(m.msg.secs), m.at.since_origin().as_secs());
    }
    assert_eq!(net.state(), State::Selecting);
    assert_eq!(net.counters().discovers, 3);
    let lost: Vec<Fate> = net.server.heard.iter().map(|h| h.2).collect();
    assert_eq!(lost, [Fate::Lost, Fate::Lost, Fate::Answered]);

    // The third is answered twice; the first REQUEST is lost.
    net.server.drop_next = 1;
    let offers_at = d[2].at + LATENCY;
    net.run_until(offers_at);
    assert_eq!(net.dhcp.len(), 4, "one REQUEST for two copies of the offer");
    let r1 = net.dhcp[3].clone();
    assert_eq!(r1.at, offers_at);
    assert!(r1.is(MessageType::Request));
    assert_eq!(net.counters().offers, 1);
    assert_eq!(net.counters().rejected.unexpected, 1);
    assert_eq!(net.iface.stats().drops(DropReason::DhcpRejected), 1);
    assert_eq!(net.state(), State::Requesting);

    // The REQUEST is retransmitted after 4 s ± 1 s, the same as the first (xid, secs of the
    // DISCOVER, requested address and server), and acknowledged twice.
    net.run_while(offers_at + Duration::from_secs(10), |n| n.dhcp.len() < 5);
    let r2 = net.dhcp[4].clone();
    assert!(r2.is(MessageType::Request));
    assert!(
        within(r2.at.saturating_duration_since(r1.at), 4),
        "{:?}",
        r2.at
    );
    r2.assert_broadcast_from_nowhere();
    assert_eq!(
        (
            r2.msg.xid,
            r2.msg.secs,
            r2.msg.requested_addr,
            r2.msg.server_id
        ),
        (d[0].msg.xid, d[2].msg.secs, Some(OFFERED), Some(SERVER_IP))
    );
    assert_eq!(r1.msg, r2.msg);
    net.run_until(r2.at + LATENCY);
    assert_eq!(net.state(), State::Probing);
    assert_eq!(net.counters().acks, 1);
    assert_eq!(net.counters().rejected.unexpected, 2);
    assert_eq!(net.iface.stats().drops(DropReason::DhcpRejected), 2);

    // The second ACK did not restart probing: PROBES probes, then the address.
    let started = bind(&mut net, OFFERED);
    assert_eq!(
        started, r1.at,
        "RFC 2131 4.4.1: the lease runs from the first REQUEST"
    );
    assert_eq!(
        net.arp.iter().filter(|a| a.is_probe_for(OFFERED)).count(),
        PROBES as usize
    );
    let lease = net.lease();
    assert_eq!(lease.expires_at(), Some(r1.at + Duration::from_secs(120)));
    assert_eq!(lease.renew_at(), Some(r1.at + Duration::from_secs(60)));

    // Renewing with the duplicating server: one LeaseRenewed, the copy refused.
    let t1 = r1.at + Duration::from_secs(60);
    net.run_until(t1 + LATENCY);
    assert_eq!(net.dhcp.last().expect("a RENEW").at, t1);
    assert_eq!(
        net.take_events(),
        [Event::LeaseRenewed {
            addr: cidr(OFFERED),
            server: SERVER_IP
        }]
    );
    assert_eq!(net.state(), State::Bound);
    let c = net.counters();
    assert_eq!((c.discovers, c.requests, c.offers, c.acks), (3, 3, 1, 2));
    assert_eq!(c.rejected.unexpected, 3);
    assert_eq!(c.rejected.total(), 3);
    assert_eq!(net.iface.stats().drops(DropReason::DhcpRejected), 3);
}

/// What a bad reply must leave behind.
enum Expect {
    /// Refused by the client for this reason, counted under this field.
    Rejected(dhcp::Error, &'static str),
    /// Dropped before the client, for this reason.
    Dropped(DropReason),
}

#[test]
fn malformed_replies_are_counted_and_ignored() {
    let mut net = Net::new(config(19));
    net.server.silent = true;
    net.run_until(ms(0));
    let discover = net.dhcp[0].msg.clone();
    let offer = net.server.offer(&discover);
    let to_us = |msg: &[u8]| dhcp_frame(MacAddr::BROADCAST, Ipv4Addr::BROADCAST, msg);

    let mut bad_cookie = offer.to_bytes();
    bad_cookie[236] ^= 0xff;
    let mut past_the_end = offer.to_bytes()[..240].to_vec();
    past_the_end.extend_from_slice(&[53, 1, 2, 54, 4, 10, 77]);
    let wrong_xid = Repr {
        xid: discover.xid.wrapping_add(1),
        ..offer.clone()
    };
    let wrong_chaddr = Repr {
        chaddr: OTHER_MAC,
        ..offer.clone()
    };
    let request = Repr {
        op: Op::Request,
        ..offer.clone()
    };
    let ack = Repr {
        message_type: MessageType::Ack,
        ..offer.clone()
    };
    let anonymous = Repr {
        server_id: None,
        ..offer.clone()
    };
    let mut bad_checksum = to_us(&offer.to_bytes());
    let c = u16::from_be_bytes([
        bad_checksum[UDP_CHECKSUM_AT],
        bad_checksum[UDP_CHECKSUM_AT + 1],
    ]);
    let wrong = if c == 0xffff { 0x1234 } else { c + 1 };
    bad_checksum[UDP_CHECKSUM_AT..UDP_CHECKSUM_AT + 2].copy_from_slice(&wrong.to_be_bytes());

    use dhcp::Error as E;
    let cases: Vec<(&str, Vec<u8>, Expect)> = vec![
        (
            "bad magic cookie",
            to_us(&bad_cookie),
            Expect::Rejected(E::Malformed(ParseError::BadCookie), "bad_cookie"),
        ),
        (
            "option past the end",
            to_us(&past_the_end),
            Expect::Rejected(
                E::Malformed(ParseError::OptionTruncated),
                "option_truncated",
            ),
        ),
        (
            "wrong xid",
            to_us(&wrong_xid.to_bytes()),
            Expect::Rejected(E::WrongXid, "wrong_xid"),
        ),
        (
            "wrong chaddr",
            to_us(&wrong_chaddr.to_bytes()),
            Expect::Rejected(E::WrongChaddr, "wrong_chaddr"),
        ),
        (
            "truncated BOOTP header",
            to_us(&offer.to_bytes()[..200]),
            Expect::Rejected(E::Malformed(ParseError::Truncated), "truncated"),
        ),
        (
            "BOOTREQUEST",
            to_us(&request.to_bytes()),
            Expect::Rejected(E::WrongOp, "wrong_op"),
        ),
        (
            "ACK while selecting",
            to_us(&ack.to_bytes()),
            Expect::Rejected(E::Unexpected, "unexpected"),
        ),
        (
            "offer without server id",
            to_us(&anonymous.to_bytes()),
            Expect::Rejected(E::MissingServerId, "missing_server_id"),
        ),
        (
            "bad UDP checksum",
            bad_checksum,
            Expect::Dropped(DropReason::UdpBadChecksum),
        ),
    ];
    for (name, frame, expect) in cases {
        let stats = net.iface.stats().clone();
        let rejected = net.counters().rejected;
        assert_eq!(net.deliver(&frame), 0, "{name}: nothing is sent");
        let s = net.iface.stats();
        assert_eq!(s.rx_handled, stats.rx_handled, "{name}");
        assert_eq!(net.state(), State::Selecting, "{name}");
        assert_eq!(net.iface.ipv4_assigned(), None, "{name}");
        let now = net.counters().rejected;
        match expect {
            Expect::Rejected(e, field) => {
                assert_eq!(
                    s.drops(DropReason::DhcpRejected),
                    stats.drops(DropReason::DhcpRejected) + 1,
                    "{name}"
                );
                assert_eq!(now.get(e), rejected.get(e) + 1, "{name}");
                let changed: Vec<&str> = now
                    .fields()
                    .iter()
                    .zip(rejected.fields())
                    .filter(|(a, b)| a.1 != b.1)
                    .map(|(a, _)| a.0)
                    .collect();
                assert_eq!(changed, [field], "{name}");
            }
            Expect::Dropped(reason) => {
                assert_eq!(s.drops(reason), stats.drops(reason) + 1, "{name}");
                assert_eq!(now, rejected, "{name}: never reached the client");
            }
        }
        assert!(net.take_events().is_empty(), "{name}");
    }
    assert_eq!(net.counters().rejected.total(), 8);
    assert_eq!(net.iface.stats().drops(DropReason::DhcpRejected), 8);
    assert_eq!(net.counters().offers, 0);

    // None of that disturbed the exchange: the real offer is taken.
    assert_eq!(net.deliver(&to_us(&offer.to_bytes())), 1);
    assert_eq!(net.state(), State::Requesting);
    assert!(net.dhcp.last().expect("a REQUEST").is(MessageType::Request));
}

/// xorshift64*: a small deterministic generator for the mutations.
struct Mutator(u64);

impl Mutator {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn byte(&mut self) -> u8 {
        (self.next() >> 32) as u8
    }

    /// Changes 1 to 8 bytes of `buf` (from `from` on) to random values.
    fn scribble(&mut self, buf: &mut [u8], from: usize) {
        if buf.len() <= from {
            return;
        }
        for _ in 0..=self.below(8) {
            let i = from + self.below(buf.len() - from);
            buf[i] = self.byte();
        }
    }
}

#[test]
fn mutated_offers_and_acks_never_panic_and_are_accounted() {
    const ROUNDS: usize = 3000;
    let mut rng = Mutator(0x9e37_79b9_7f4a_7c15);
    let mut reached = [0u64; 4]; // DhcpRejected, UdpBadChecksum, Ipv4BadChecksum, accepted
    for round in 0..ROUNDS {
        let mut net = Net::new(config(23));
        net.server.silent = true;
        net.run_until(ms(0));
        let discover = net.dhcp[0].msg.clone();
        // Even rounds mutate an OFFER while selecting, odd ones an ACK while requesting.
        let base = if round % 2 == 0 {
            net.server.offer(&discover)
        } else {
            let offer = net.server.offer(&discover);
            net.deliver(&dhcp_frame(
                MacAddr::BROADCAST,
                Ipv4Addr::BROADCAST,
                &offer.to_bytes(),
            ));
            assert_eq!(net.state(), State::Requesting);
            net.server.ack(&offer)
        };
        let mut msg = base.to_bytes();
        let frame = match rng.below(5) {
            // Anywhere in the frame: Ethernet, IPv4, UDP or DHCP (checksums left as they were).
            0 => {
                let mut f = dhcp_frame(MacAddr::BROADCAST, Ipv4Addr::BROADCAST, &msg);
                rng.scribble(&mut f, 0);
                f
            }
            // The frame cut short.
            1 => {
                let f = dhcp_frame(MacAddr::BROADCAST, Ipv4Addr::BROADCAST, &msg);
                f[..rng.below(f.len())].to_vec()
            }
            // The DHCP message (checksums right), header or options.
            2 => {
                rng.scribble(&mut msg, 0);
                dhcp_frame(MacAddr::BROADCAST, Ipv4Addr::BROADCAST, &msg)
            }
            // The DHCP message cut short (checksums right).
            3 => {
                msg.truncate(rng.below(msg.len()));
                dhcp_frame(MacAddr::BROADCAST, Ipv4Addr::BROADCAST, &msg)
            }
            // Random options after a valid message type (checksums right).
            _ => {
                msg.truncate(240);
                msg.extend_from_slice(&[53, 1, if round % 2 == 0 { 2 } else { 5 }]);
                let n = rng.below(80);
                msg.extend((0..n).map(|_| rng.byte()));
                dhcp_frame(MacAddr::BROADCAST, Ipv4Addr::BROADCAST, &msg)
            }
        };
        net.deliver(&frame);
        // Let whatever the frame started run for a while (requests, probes, timers).
        net.run_until(ms(20_000));
        let s = net.iface.stats();
        check_accounting(s);
        assert_eq!(
            net.counters().rejected.total(),
            s.drops(DropReason::DhcpRejected),
            "every refusal is counted once"
        );
        reached[0] += s.drops(DropReason::DhcpRejected).min(1);
        reached[1] += s.drops(DropReason::UdpBadChecksum).min(1);
        reached[2] += s.drops(DropReason::Ipv4BadChecksum).min(1);
        let c = net.counters();
        let accepted = if round % 2 == 0 {
            c.offers > 0
        } else {
            c.acks > 0
        };
        reached[3] += u64::from(accepted);
    }
    // The mutations reached every layer, and some still made valid replies.
    assert!(reached.iter().all(|&n| n > 0), "{reached:?}");
}

#[test]
fn shutdown_releases_the_lease_to_the_server() {
    let mut net = Net::new(config(29));
    bind(&mut net, OFFERED);
    net.run_until(net.now + Duration::from_secs(10));
    // Nothing resolved the server over ARP: the RELEASE goes to the MAC the ACK came from.
    assert!(net.iface.arp_cache().all(|(ip, _)| ip != SERVER_IP));
    let before = net.dhcp.len();
    let mut out = Vec::new();
    let now = net.now;
    net.iface.shutdown(now, &mut |f| out.push(f.to_vec()));
    net.sent(out);
    let sent = net.dhcp_from(before);
    assert_eq!(sent.len(), 1);
    let release = sent[0].clone();
    assert!(release.is(MessageType::Release));
    release.assert_unicast_from(OFFERED);
    assert_eq!(release.msg.server_id, Some(SERVER_IP));
    assert_eq!(release.msg.requested_addr, None);
    assert_eq!(net.server.released, [OFFERED]);
    assert_eq!(net.take_events(), [Event::LeaseLost(OFFERED)]);
    assert_eq!(net.iface.ipv4(), None);
    assert_eq!(net.iface.ipv4_assigned(), None);
    assert_eq!(net.iface.gateway(), None);
    assert_eq!(net.state(), State::Stopped);
    assert_eq!(net.counters().releases, 1);
    assert_eq!(net.client().poll_at(), None);

    // Stopped for good: no DHCP, and the address no longer answers.
    net.run_until(now + Duration::from_secs(300));
    assert_eq!(net.dhcp.len(), before + 1);
    assert!(!net.ping(OFFERED, 1));
    assert!(!net.who_has(OFFERED));
    assert!(net.echoes.iter().all(|e| e.at < now));
    assert!(net
        .arp
        .iter()
        .all(|a| a.at < now || a.packet.sender_ipv4_addr() != OFFERED));
}

#[test]
fn shutdown_while_probing_leaves_no_address() {
    let mut net = Net::new(config(31));
    net.run_until(ms(2));
    assert_eq!(net.state(), State::Probing);
    assert_eq!(net.iface.ipv4_assigned(), Some(cidr(OFFERED)));
    let mut out = Vec::new();
    net.iface.shutdown(ms(2), &mut |f| out.push(f.to_vec()));
    net.sent(out);
    assert_eq!(net.state(), State::Stopped);
    assert_eq!(net.counters().releases, 0, "nothing was leased yet");
    // The address was never the interface's: probing must not go on to claim it.
    net.run_until(ms(10_000));
    assert_eq!(net.iface.ipv4(), None);
    assert_eq!(net.iface.ipv4_assigned(), None);
    assert!(!net.take_events().contains(&Event::AddressReady(OFFERED)));
    assert!(net.arp.iter().all(|a| !a.is_announcement_of(OFFERED)));
}

#[test]
fn same_seed_same_frames() {
    let a = lifecycle(41);
    let b = lifecycle(41);
    assert!(a.frames.len() > 15, "{}", a.frames.len());
    assert_eq!(a.frames, b.frames, "byte-identical, at identical times");
    let c = lifecycle(42);
    assert_ne!(a.frames, c.frames, "the seed picks the transaction ids");
}
