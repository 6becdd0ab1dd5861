//! The DHCP client (RFC 2131) in conversation: a host that leases its address, against a server
//! model that answers the client's latest transaction (its `xid` and MAC, learned from the
//! frames the host emits) with offers, acks and naks whose fields and options the input
//! chooses, among clock advances, ARP replies (conflicts, RFC 5227) and raw frames.
//!
//! Scripts reach what only a sequence reaches: a client mid-renewal or rebinding, a lease
//! lost, declined, renewed with other options. Checked after every step: no panic, the
//! invariants of `tapstack_fuzz::Invariants`, every emitted frame well-formed, and a leased
//! address never a broadcast, multicast, loopback or unspecified one.
#![no_main]

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tapstack::dhcp::{self, MessageType, Op, Repr};
use tapstack::{Config, Host, Instant, MacAddr};
use tapstack_fuzz::{check_emitted, host, limits, Invariants, OUR_MAC, PEER_MAC};
use tapstack_testkit::frame;

const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);

#[derive(Arbitrary, Debug)]
enum Step {
    /// Time passes: `n` seconds and a poll (leases run for a few minutes here).
    Wait(u16),
    Deadline,
    /// The server answers the latest transaction.
    Reply(Reply),
    /// Someone answers ARP for an address (a conflict when it is ours).
    ArpReply {
        yiaddr: u8,
        mac: u8,
    },
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Reply {
    kind: Kind,
    /// The last octet of the offered address in 10.77.0.0/24 (or any address).
    yiaddr: Addr,
    lease: Option<u32>,
    renewal: Option<u32>,
    rebinding: Option<u32>,
    mask: Option<u8>,
    router: Option<u8>,
    server_id: Option<u8>,
    /// Reply to another transaction or another MAC.
    wrong_xid: bool,
    wrong_mac: bool,
    broadcast: bool,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Kind {
    Offer,
    Ack,
    Nak,
    Other(u8),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Addr {
    Host(u8),
    Any(u32),
}

struct Run {
    host: Host,
    now: Instant,
    mtu: usize,
    /// The client's latest transaction ID and hardware address.
    xid: Option<(u32, MacAddr)>,
    invariants: Invariants,
}

impl Run {
    fn emitted(xid: &mut Option<(u32, MacAddr)>, mtu: usize, f: &[u8]) {
        let _ = check_emitted(f, mtu);
        // DHCP from the client: UDP 68 -> 67 over IPv4 without options.
        if f.len() < 42 || f[12..14] != [0x08, 0x00] || f[23] != 17 {
            return;
        }
        let ihl = usize::from(f[14] & 0x0f) * 4;
        let udp = &f[14 + ihl..];
        if udp.len() < 8 || udp[2..4] != [0, 67] {
            return;
        }
        if let Ok(r) = Repr::parse_bytes(&udp[8..]) {
            *xid = Some((r.xid, r.chaddr));
        }
    }

    fn receive(&mut self, f: &[u8]) {
        let (xid, mtu) = (&mut self.xid, self.mtu);
        self.host
            .receive(self.now, f, &mut |out| Run::emitted(xid, mtu, out));
        self.poll();
    }

    fn poll(&mut self) {
        let (xid, mtu) = (&mut self.xid, self.mtu);
        self.host
            .poll(self.now, &mut |out| Run::emitted(xid, mtu, out));
        while self.host.iface_mut().poll_event().is_some() {}
    }

    fn step(&mut self, step: &Step) {
        match step {
            Step::Wait(n) => {
                self.now = self.now + Duration::from_secs(u64::from(*n % 1024));
                self.poll();
            }
            Step::Deadline => {
                if let Some(at) = self.host.poll_at() {
                    self.now = self.now.max(at);
                }
                self.poll();
            }
            Step::Reply(r) => {
                let (xid, mac) = self.xid.unwrap_or((0, OUR_MAC));
                let kind = match r.kind {
                    Kind::Offer => MessageType::Offer,
                    Kind::Ack => MessageType::Ack,
                    Kind::Nak => MessageType::Nak,
                    Kind::Other(n) => MessageType::from(n),
                };
                let xid = if r.wrong_xid {
                    xid.wrapping_add(1)
                } else {
                    xid
                };
                let chaddr = if r.wrong_mac { PEER_MAC } else { mac };
                let mut m = Repr::new(Op::Reply, kind, xid, chaddr);
                let host = |n: u8| Ipv4Addr::new(10, 77, 0, n);
                m.yiaddr = match r.yiaddr {
                    Addr::Host(n) => host(n),
                    Addr::Any(a) => Ipv4Addr::from(a),
                };
                m.siaddr = SERVER_IP;
                m.broadcast = r.broadcast;
                m.lease_time = r.lease.map(|l| l % 600);
                m.renewal_time = r.renewal.map(|l| l % 600);
                m.rebinding_time = r.rebinding.map(|l| l % 600);
                m.subnet_mask = r.mask.map(|p| {
                    Ipv4Addr::from(u32::MAX.checked_shl(32 - u32::from(p % 33)).unwrap_or(0))
                });
                m.routers = r.router.map(host).into_iter().collect();
                m.server_id = Some(r.server_id.map_or(SERVER_IP, host));
                let payload = m.to_bytes();
                let dst = if r.broadcast {
                    Ipv4Addr::BROADCAST
                } else {
                    m.yiaddr
                };
                let udp = frame::udp_v4(
                    SocketAddrV4::new(SERVER_IP, dhcp::SERVER_PORT),
                    SocketAddrV4::new(dst, dhcp::CLIENT_PORT),
                    &payload,
                );
                let packet = frame::Ipv4::new(SERVER_IP, dst, 17).packet(&udp);
                let dst_mac = if r.broadcast {
                    frame::BROADCAST
                } else {
                    OUR_MAC.0
                };
                let f = frame::ethernet(dst_mac, PEER_MAC.0, 0x0800, &packet);
                self.receive(&f);
            }
            Step::ArpReply { yiaddr, mac } => {
                let ip = Ipv4Addr::new(10, 77, 0, *yiaddr);
                let sender = [0x02, 0, 0, 0x77, 3, *mac];
                let f = frame::arp_frame(OUR_MAC.0, 2, (sender, ip), (OUR_MAC.0, ip));
                self.receive(&f);
            }
            Step::Raw(bytes) => self.receive(bytes),
        }
    }

    fn check(&mut self) {
        self.invariants.check(&self.host);
        if let Some(c) = self.host.iface().ipv4() {
            let a = c.addr();
            assert!(
                !(a.is_broadcast() || a.is_multicast() || a.is_loopback() || a.is_unspecified()),
                "leased {a}"
            );
        }
    }
}

fuzz_target!(|steps: Vec<Step>| {
    let mut config = Config::new(OUR_MAC, None);
    config.dhcp = Some(dhcp::Config::default());
    config.hostname = Some("tapstack".into());
    config.seed = 0x5eed_d4c9;
    config.limits = limits();
    let mtu = config.mtu;
    let mut run = Run {
        host: host(config),
        now: Instant::from_secs(1),
        mtu,
        xid: None,
        invariants: Invariants::default(),
    };
    run.poll();
    run.check();
    let trace = std::env::var_os("FUZZ_TRACE").is_some();
    for step in steps.iter().take(128) {
        run.step(step);
        run.check();
        if trace {
            let state = run.host.iface().dhcp().map(|c| c.state());
            eprintln!("state {state:?} address {:?}", run.host.iface().ipv4());
        }
    }
});
