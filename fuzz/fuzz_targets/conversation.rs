//! Whole conversations: a script of frames, clock advances and socket calls (structured with
//! `arbitrary`) driven through one host with every service on (UDP/TCP echo, discard,
//! chargen, DNS, HTTP), IPv4 and IPv6.
//!
//! The peer is a small model, not a byte blaster: TCP steps name one of a few peer connections
//! and say where their sequence and acknowledgment numbers sit relative to what the peer has
//! sent and what the host has sent (learned from the frames it emits), so that scripts reach
//! the states only a sequence reaches: FIN-WAIT with SACK holes and a zero window, TIME-WAIT,
//! retransmission and persist timers, simultaneous close, a full TCP table.
//!
//! Checked after every step (see `tapstack_fuzz`): no panic; `rx_frames = rx_handled +
//! drops`; every table within its limit and the footprint within `Limits`; every emitted frame
//! well-formed with valid checksums; SND.UNA <= SND.NXT <= SND.MAX; the advertised window's
//! right edge never moving left.
#![no_main]

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tapstack::tcp::segment::{self, Flags, Options, Repr};
use tapstack::tcp::Seq;
use tapstack::{Host, Instant};
use tapstack_fuzz::{
    check_emitted, config, host, Invariants, SentSegment, OUR_IP, OUR_IP6, OUR_MAC, PEER_IP,
    PEER_IP6, PEER_MAC,
};
use tapstack_testkit::frame;

/// Steps run at most (libFuzzer inputs are small anyway).
const MAX_STEPS: usize = 256;

#[derive(Arbitrary, Debug)]
enum Step {
    /// Time passes (`n` * 7 ms, up to about 7.6 minutes), then a poll.
    Wait(u16),
    /// Time jumps to the host's next deadline.
    Deadline,
    Tcp(TcpStep),
    /// A whole three-way handshake from a peer connection to one of our ports (SYN, then the
    /// ACK of what the host answered), with the options of `syn`.
    Handshake(TcpStep),
    Udp {
        v6: bool,
        port: Port,
        payload: Vec<u8>,
    },
    Ping {
        v6: bool,
        len: u16,
        seq: u16,
    },
    Arp {
        reply: bool,
        sender: u8,
    },
    Ndp(Ndp),
    Fragment {
        v6: bool,
        ident: u8,
        offset: u16,
        more: bool,
        len: u16,
    },
    /// Any bytes at all, as a frame.
    Raw(Vec<u8>),
    /// A TCP step's frame with one byte changed, checksums repaired or not.
    Mutated {
        step: TcpStep,
        at: u16,
        value: u8,
        repair: bool,
    },
    /// Our side of the socket API.
    App(App),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Port {
    Echo,
    Discard,
    Chargen,
    Dns,
    Http,
    Closed,
    Any(u16),
}

impl Port {
    fn number(self) -> u16 {
        match self {
            Port::Echo => 7,
            Port::Discard => 9,
            Port::Chargen => 19,
            Port::Dns => 53,
            Port::Http => 80,
            Port::Closed => 9999,
            Port::Any(n) => n,
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
struct TcpStep {
    /// Which peer connection (its port): 0-3 connect to our services, 4-5 are the peers of
    /// connections the host opened.
    conn: u8,
    v6: bool,
    port: Port,
    flags: TcpFlags,
    seq: SeqAt,
    ack: AckAt,
    window: u16,
    /// The urgent pointer (sent as it is; meaningful with URG).
    urgent: u16,
    mss: Option<u16>,
    window_scale: Option<u8>,
    sack_permitted: bool,
    timestamps: Option<(u32, u32)>,
    /// SACK blocks relative to what the host has sent.
    sack: Vec<(i16, i16)>,
    payload: Payload,
}

/// Flags, the usual combinations first.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum TcpFlags {
    Ack,
    PshAck,
    FinAck,
    Syn,
    SynAck,
    Rst,
    RstAck,
    /// Any bits (FIN SYN RST PSH ACK URG ECE CWR).
    Bits(u8),
}

impl TcpFlags {
    fn bits(self) -> u8 {
        match self {
            TcpFlags::Ack => 0x10,
            TcpFlags::PshAck => 0x18,
            TcpFlags::FinAck => 0x11,
            TcpFlags::Syn => 0x02,
            TcpFlags::SynAck => 0x12,
            TcpFlags::Rst => 0x04,
            TcpFlags::RstAck => 0x14,
            TcpFlags::Bits(b) => b,
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum SeqAt {
    /// The peer's next sequence number: in order.
    Next,
    /// Off from it (out of order, duplicate, old, beyond the window).
    Off(i16),
    Raw(u32),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum AckAt {
    /// Everything the host has sent.
    All,
    /// What the host had acknowledged before... its own last ACK number is the peer's SND.NXT.
    Off(i16),
    Raw(u32),
}

#[derive(Arbitrary, Debug, Clone)]
enum Payload {
    None,
    Bytes(Vec<u8>),
    Zeros(u16),
    Http(HttpRequest),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum HttpRequest {
    Root,
    Stats,
    Bytes(u32),
    Upload(u16),
    Chunked(u16),
    Pipelined,
    Head,
    Bad,
}

impl HttpRequest {
    fn bytes(self) -> Vec<u8> {
        match self {
            HttpRequest::Root => b"GET / HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(),
            HttpRequest::Stats => b"GET /stats HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(),
            HttpRequest::Bytes(n) => {
                format!("GET /bytes/{n} HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes()
            }
            HttpRequest::Upload(n) => {
                let mut r = format!("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: {n}\r\n\r\n")
                    .into_bytes();
                r.resize(r.len() + usize::from(n % 2048), b'u');
                r
            }
            HttpRequest::Chunked(n) => {
                let n = usize::from(n % 1024);
                let mut r = format!(
                    "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n{n:x}\r\n"
                )
                .into_bytes();
                r.resize(r.len() + n, b'c');
                r.extend_from_slice(b"\r\n0\r\n\r\n");
                r
            }
            HttpRequest::Pipelined => {
                b"GET / HTTP/1.1\r\nHost: t\r\n\r\nHEAD /stats HTTP/1.1\r\nHost: t\r\n\r\nGET /bytes/10 HTTP/1.0\r\n\r\n".to_vec()
            }
            HttpRequest::Head => b"HEAD / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".to_vec(),
            HttpRequest::Bad => b"GET / HTTP/9.9\r\n\r\n".to_vec(),
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Ndp {
    Solicit {
        sender: u8,
        dad: bool,
    },
    Advert {
        sender: u8,
        solicited: bool,
        router: bool,
        ours: bool,
    },
    RouterAdvert {
        lifetime: u16,
        mtu: Option<u16>,
        prefix: u8,
        valid: u32,
        preferred: u32,
    },
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum App {
    Connect { v6: bool, peer: u8 },
    Send { conn: u8, len: u16 },
    Recv { conn: u8 },
    Shutdown { conn: u8 },
    Close { conn: u8 },
    Abort { conn: u8 },
    Keepalive { conn: u8, secs: Option<u8> },
}

/// What the peer knows about one of its connections.
#[derive(Clone, Copy, Debug, Default)]
struct PeerConn {
    /// The peer's next sequence number (None before its SYN).
    nxt: Option<Seq>,
    /// The end of what the host has sent on it.
    host_end: Option<Seq>,
    /// The host's port on it.
    host_port: Option<u16>,
}

const PEER_PORTS: [u16; 6] = [40000, 40001, 40002, 40003, 50000, 50001];

struct Run {
    host: Host,
    now: Instant,
    mtu: usize,
    peers: HashMap<(bool, u16), PeerConn>,
    handles: Vec<tapstack::tcp::Handle>,
    invariants: Invariants,
}

impl Run {
    fn emitted(peers: &mut HashMap<(bool, u16), PeerConn>, mtu: usize, f: &[u8]) {
        let Some(s) = check_emitted(f, mtu) else {
            return;
        };
        let SentSegment {
            remote,
            local_port,
            seq,
            flags,
            len,
            ..
        } = s;
        let key = (remote.is_ipv6(), remote.port());
        let Some(p) = peers.get_mut(&key) else {
            return;
        };
        let syn = flags & 0x02 != 0;
        let fin = flags & 0x01 != 0;
        let end = Seq(seq) + (len + usize::from(syn) + usize::from(fin));
        if syn || p.host_port != Some(local_port) {
            p.host_end = Some(end);
            p.host_port = Some(local_port);
        } else if flags & 0x04 == 0 {
            p.host_end = Some(p.host_end.map_or(end, |e| e.max(end)));
        }
    }

    fn receive(&mut self, frame: &[u8]) {
        let (peers, mtu) = (&mut self.peers, self.mtu);
        self.host
            .receive(self.now, frame, &mut |f| Run::emitted(peers, mtu, f));
        self.poll();
    }

    fn poll(&mut self) {
        let (peers, mtu) = (&mut self.peers, self.mtu);
        self.host
            .poll(self.now, &mut |f| Run::emitted(peers, mtu, f));
        while self.host.iface_mut().poll_event().is_some() {}
    }

    fn addrs(v6: bool) -> (IpAddr, IpAddr) {
        if v6 {
            (PEER_IP6.into(), OUR_IP6.into())
        } else {
            (PEER_IP.into(), OUR_IP.into())
        }
    }

    fn ip_frame(v6: bool, protocol: u8, payload: &[u8]) -> Vec<u8> {
        if v6 {
            let p = frame::ipv6(PEER_IP6, OUR_IP6, protocol, 64, payload);
            frame::ethernet(OUR_MAC.0, PEER_MAC.0, 0x86dd, &p)
        } else {
            let p = frame::Ipv4::new(PEER_IP, OUR_IP, protocol).packet(payload);
            frame::ethernet(OUR_MAC.0, PEER_MAC.0, 0x0800, &p)
        }
    }

    /// Builds the frame of a TCP step and moves the peer's model on.
    fn tcp_frame(&mut self, t: &TcpStep) -> Vec<u8> {
        let peer_port = PEER_PORTS[usize::from(t.conn) % PEER_PORTS.len()];
        let p = self.peers.entry((t.v6, peer_port)).or_default();
        let bits = t.flags.bits();
        let flags = Flags {
            fin: bits & 0x01 != 0,
            syn: bits & 0x02 != 0,
            rst: bits & 0x04 != 0,
            psh: bits & 0x08 != 0,
            ack: bits & 0x10 != 0,
            urg: bits & 0x20 != 0,
        };
        let isn = Seq(0x1000_0000u32.wrapping_mul(u32::from(t.conn % 6) + 1));
        let next = match (p.nxt, flags.syn) {
            (Some(n), false) => n,
            _ => isn,
        };
        let seq = match t.seq {
            SeqAt::Next => next,
            SeqAt::Off(d) => Seq(next.0.wrapping_add(d as i32 as u32)),
            SeqAt::Raw(s) => Seq(s),
        };
        let host_end = p.host_end.unwrap_or(Seq(0));
        let ack = match t.ack {
            AckAt::All => host_end,
            AckAt::Off(d) => Seq(host_end.0.wrapping_add(d as i32 as u32)),
            AckAt::Raw(a) => Seq(a),
        };
        let payload = match &t.payload {
            Payload::None => Vec::new(),
            Payload::Bytes(b) => b.clone(),
            Payload::Zeros(n) => vec![0; usize::from(*n % 4096)],
            Payload::Http(r) => r.bytes(),
        };
        let mut sack = segment::SackBlocks::default();
        for &(l, r) in t.sack.iter().take(4) {
            sack.push(
                Seq(host_end.0.wrapping_add(l as i32 as u32)),
                Seq(host_end.0.wrapping_add(r as i32 as u32)),
            );
        }
        let dst_port = if peer_port >= 50000 {
            p.host_port.unwrap_or(t.port.number())
        } else {
            t.port.number()
        };
        let repr = Repr {
            src_port: peer_port,
            dst_port,
            seq,
            ack,
            flags,
            window: t.window,
            urgent: t.urgent,
            options: Options {
                mss: t.mss,
                window_scale: t.window_scale,
                sack_permitted: t.sack_permitted,
                timestamps: t.timestamps,
                sack,
            },
        };
        if seq == next && !flags.rst {
            p.nxt = Some(next + repr.seq_len(payload.len()));
        }
        let (src, dst) = Run::addrs(t.v6);
        let mut out = Vec::new();
        segment::emit(&mut out, &repr, src, dst, [&payload, &[]]);
        Run::ip_frame(t.v6, 6, &out)
    }

    fn step(&mut self, step: &Step) {
        match step {
            Step::Wait(n) => {
                self.now = self.now + Duration::from_millis(u64::from(*n) * 7);
                self.poll();
            }
            Step::Deadline => {
                if let Some(at) = self.host.poll_at() {
                    self.now = self.now.max(at);
                }
                self.poll();
            }
            Step::Tcp(t) => {
                let f = self.tcp_frame(t);
                self.receive(&f);
            }
            Step::Handshake(t) => {
                let syn = TcpStep {
                    flags: TcpFlags::Syn,
                    seq: SeqAt::Next,
                    payload: Payload::None,
                    sack: Vec::new(),
                    ..t.clone()
                };
                let f = self.tcp_frame(&syn);
                self.receive(&f);
                let ack = TcpStep {
                    flags: TcpFlags::Ack,
                    seq: SeqAt::Next,
                    ack: AckAt::All,
                    mss: None,
                    window_scale: None,
                    sack_permitted: false,
                    ..t.clone()
                };
                let f = self.tcp_frame(&ack);
                self.receive(&f);
            }
            Step::Udp { v6, port, payload } => {
                let (src, dst) = Run::addrs(*v6);
                let d = match (src, dst) {
                    (IpAddr::V4(s), IpAddr::V4(d)) => frame::udp_v4(
                        std::net::SocketAddrV4::new(s, 41000),
                        std::net::SocketAddrV4::new(d, port.number()),
                        payload,
                    ),
                    (IpAddr::V6(s), IpAddr::V6(d)) => frame::udp_v6(
                        std::net::SocketAddrV6::new(s, 41000, 0, 0),
                        std::net::SocketAddrV6::new(d, port.number(), 0, 0),
                        payload,
                    ),
                    _ => return,
                };
                let f = Run::ip_frame(*v6, 17, &d);
                self.receive(&f);
            }
            Step::Ping { v6, len, seq } => {
                let data = vec![0x5a; usize::from(*len % 3000)];
                let f = if *v6 {
                    Run::ip_frame(
                        true,
                        58,
                        &frame::echo_v6(PEER_IP6, OUR_IP6, 128, 7, *seq, &data),
                    )
                } else {
                    Run::ip_frame(false, 1, &frame::echo(8, 7, *seq, &data))
                };
                self.receive(&f);
            }
            Step::Arp { reply, sender } => {
                let (mac, ip) = neighbour(*sender);
                let f = if *reply {
                    frame::arp_frame(OUR_MAC.0, 2, (mac, ip), (OUR_MAC.0, OUR_IP))
                } else {
                    frame::arp_frame(frame::BROADCAST, 1, (mac, ip), (frame::ZERO_MAC, OUR_IP))
                };
                self.receive(&f);
            }
            Step::Ndp(n) => {
                let f = ndp_frame(*n);
                self.receive(&f);
            }
            Step::Fragment {
                v6,
                ident,
                offset,
                more,
                len,
            } => {
                let offset = usize::from(*offset % 1024) * 8;
                let len = if *more {
                    usize::from(*len % 180 + 1) * 8
                } else {
                    usize::from(*len % 1400)
                };
                let data: Vec<u8> = (offset..offset + len).map(|i| i as u8 ^ *ident).collect();
                let f = if *v6 {
                    let body = frame::fragment_header(58, offset, *more, u32::from(*ident), &data);
                    Run::ip_frame(true, 44, &body)
                } else {
                    let p = frame::Ipv4::new(PEER_IP, OUR_IP, 1 + 16 * (ident & 1))
                        .ident(u16::from(*ident))
                        .fragment(offset, *more)
                        .packet(&data);
                    frame::ethernet(OUR_MAC.0, PEER_MAC.0, 0x0800, &p)
                };
                self.receive(&f);
            }
            Step::Raw(bytes) => self.receive(bytes),
            Step::Mutated {
                step,
                at,
                value,
                repair,
            } => {
                let mut f = self.tcp_frame(step);
                let i = 14 + usize::from(*at) % (f.len() - 14);
                f[i] = *value;
                if *repair {
                    repair_checksums(&mut f);
                }
                self.receive(&f);
            }
            Step::App(a) => self.app(*a),
        }
    }

    fn app(&mut self, a: App) {
        let pick = |handles: &[tapstack::tcp::Handle], conn: u8| {
            (!handles.is_empty()).then(|| handles[usize::from(conn) % handles.len()])
        };
        let iface = self.host.iface_mut();
        match a {
            App::Connect { v6, peer } => {
                let port = PEER_PORTS[4 + usize::from(peer % 2)];
                let (src, _) = Run::addrs(v6);
                if let Ok(h) = iface.tcp_connect(self.now, SocketAddr::new(src, port)) {
                    if self.handles.len() < 8 {
                        self.handles.push(h);
                    }
                    // A fresh connection: the peer has not sent its SYN yet.
                    self.peers.insert((v6, port), PeerConn::default());
                }
            }
            App::Send { conn, len } => {
                if let Some(h) = pick(&self.handles, conn) {
                    let data = vec![0x42; usize::from(len % 20_000)];
                    let _ = iface.tcp_send(h, &data);
                }
            }
            App::Recv { conn } => {
                if let Some(h) = pick(&self.handles, conn) {
                    let mut buf = [0u8; 4096];
                    let _ = iface.tcp_recv(h, &mut buf);
                }
            }
            App::Shutdown { conn } => {
                if let Some(h) = pick(&self.handles, conn) {
                    iface.tcp_shutdown(h);
                }
            }
            App::Close { conn } => {
                if let Some(h) = pick(&self.handles, conn) {
                    iface.tcp_close(h);
                }
            }
            App::Abort { conn } => {
                if let Some(h) = pick(&self.handles, conn) {
                    iface.tcp_abort(h);
                }
            }
            App::Keepalive { conn, secs } => {
                if let Some(h) = pick(&self.handles, conn) {
                    iface.tcp_set_keepalive(h, secs.map(|s| Duration::from_secs(u64::from(s) + 1)));
                }
            }
        }
        self.poll();
    }
}

/// A neighbour on the link: the peer, or 10.77.0.`n` at 02:00:00:77:01:`n`.
fn neighbour(n: u8) -> ([u8; 6], std::net::Ipv4Addr) {
    match n % 12 {
        0 => (PEER_MAC.0, PEER_IP),
        1 => ([0x02, 0, 0, 0x77, 0, 0x09], OUR_IP),
        k => (
            [0x02, 0, 0, 0x77, 1, k],
            std::net::Ipv4Addr::new(10, 77, 0, k),
        ),
    }
}

fn ndp_frame(n: Ndp) -> Vec<u8> {
    let all: std::net::Ipv6Addr = "ff02::1".parse().expect("address");
    let v6 = |k: u8| {
        let mut o = PEER_IP6.octets();
        o[15] = k % 8 + 1;
        std::net::Ipv6Addr::from(o)
    };
    let mac = |k: u8| [0x02, 0, 0, 0x77, 2, k % 8];
    let wrap = |src, dst: std::net::Ipv6Addr, m: &[u8]| {
        let dst_mac = if dst.is_multicast() {
            frame::multicast_mac(dst)
        } else {
            OUR_MAC.0
        };
        let src_mac = if src == PEER_IP6 {
            PEER_MAC.0
        } else {
            [0x02, 0, 0, 0x77, 2, 0]
        };
        frame::ethernet(dst_mac, src_mac, 0x86dd, &frame::ipv6(src, dst, 58, 255, m))
    };
    match n {
        Ndp::Solicit { sender, dad } => {
            let group = frame::solicited_node(OUR_IP6);
            let src = if dad {
                std::net::Ipv6Addr::UNSPECIFIED
            } else {
                v6(sender)
            };
            let ll = (!dad).then(|| mac(sender));
            wrap(
                src,
                group,
                &frame::neighbor_solicit(src, group, OUR_IP6, ll),
            )
        }
        Ndp::Advert {
            sender,
            solicited,
            router,
            ours,
        } => {
            let target = if ours { OUR_IP6 } else { v6(sender) };
            let dst = if solicited { OUR_IP6 } else { all };
            let flags = frame::AdvertFlags {
                router,
                solicited,
                override_entry: true,
            };
            let m = frame::neighbor_advert(v6(sender), dst, flags, target, Some(mac(sender)));
            wrap(v6(sender), dst, &m)
        }
        Ndp::RouterAdvert {
            lifetime,
            mtu,
            prefix,
            valid,
            preferred,
        } => {
            let src = frame::link_local(PEER_MAC.0);
            let advert = frame::RouterAdvert {
                cur_hop_limit: 64,
                router_lifetime: lifetime,
                source_ll: Some(PEER_MAC.0),
                mtu: mtu.map(u32::from),
                prefixes: vec![frame::PrefixInfo {
                    prefix_len: 64,
                    on_link: true,
                    autonomous: true,
                    valid_lifetime: valid % 600,
                    preferred_lifetime: preferred % 600,
                    prefix: std::net::Ipv6Addr::new(
                        0xfd78,
                        u16::from(prefix % 16),
                        0,
                        0,
                        0,
                        0,
                        0,
                        0,
                    ),
                }],
                ..Default::default()
            };
            let m = advert.message(src, all);
            frame::ethernet(
                frame::multicast_mac(all),
                PEER_MAC.0,
                0x86dd,
                &frame::ipv6(src, all, 58, 255, &m),
            )
        }
    }
}

/// Rewrites the IPv4 header checksum and the TCP checksum of a frame built by `tcp_frame`.
fn repair_checksums(f: &mut [u8]) {
    let v6 = f[12..14] == [0x86, 0xdd];
    let (ip_len, src, dst): (usize, IpAddr, IpAddr) = if v6 {
        (40, PEER_IP6.into(), OUR_IP6.into())
    } else {
        if f.len() < 34 {
            return;
        }
        let ihl = usize::from(f[14] & 0x0f) * 4;
        if ihl < 20 || f.len() < 14 + ihl {
            return;
        }
        f[24..26].copy_from_slice(&[0, 0]);
        let sum = frame::checksum(&[&f[14..14 + ihl]]);
        f[24..26].copy_from_slice(&sum.to_be_bytes());
        (ihl, PEER_IP.into(), OUR_IP.into())
    };
    let seg = &mut f[14 + ip_len..];
    if seg.len() < 20 {
        return;
    }
    seg[16..18].copy_from_slice(&[0, 0]);
    let sum = segment::checksum(src, dst, seg);
    seg[16..18].copy_from_slice(&sum.to_ne_bytes());
}

fuzz_target!(|steps: Vec<Step>| {
    let config = config();
    let mtu = config.mtu;
    let mut run = Run {
        host: host(config),
        now: Instant::from_secs(1),
        mtu,
        peers: PEER_PORTS
            .iter()
            .flat_map(|&p| {
                [
                    ((false, p), PeerConn::default()),
                    ((true, p), PeerConn::default()),
                ]
            })
            .collect(),
        handles: Vec::new(),
        invariants: Invariants::default(),
    };
    // The peer introduces itself in both families, so replies need no resolution first.
    run.receive(&frame::arp_frame(
        OUR_MAC.0,
        2,
        (PEER_MAC.0, PEER_IP),
        (OUR_MAC.0, OUR_IP),
    ));
    let flags = frame::AdvertFlags {
        router: false,
        solicited: true,
        override_entry: true,
    };
    let na = frame::neighbor_advert(PEER_IP6, OUR_IP6, flags, PEER_IP6, Some(PEER_MAC.0));
    run.receive(&frame::ethernet(
        OUR_MAC.0,
        PEER_MAC.0,
        0x86dd,
        &frame::ipv6(PEER_IP6, OUR_IP6, 58, 255, &na),
    ));
    run.invariants.check(&run.host);

    let trace = std::env::var_os("FUZZ_TRACE").is_some();
    for step in steps.iter().take(MAX_STEPS) {
        run.step(step);
        run.invariants.check(&run.host);
        if trace {
            // One line per step: the TCP states reached, for `FUZZ_TRACE=1` runs over a corpus.
            let states: Vec<_> = run
                .host
                .iface()
                .tcp()
                .iter()
                .map(|c| c.state().name())
                .collect();
            eprintln!("step {step:?} -> {states:?}");
        }
    }

    // A quiet ten minutes: every timer runs out, reassembly is freed, and the checks still hold.
    let end = run.now + Duration::from_secs(600);
    for _ in 0..2000 {
        match run.host.poll_at() {
            Some(at) if at <= end => run.now = run.now.max(at),
            _ => break,
        }
        run.poll();
        run.invariants.check(&run.host);
    }
    run.now = end;
    run.poll();
    run.invariants.check(&run.host);
    let fp = run.host.iface().footprint();
    assert_eq!(
        (fp.reassembly_datagrams, fp.ipv6_reassembly_datagrams),
        (0, 0),
        "reassembly kept after its timeout"
    );
});
