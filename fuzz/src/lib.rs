//! Support shared by the fuzz targets: the host the conversation targets drive, the checks run
//! on every frame it emits, and the invariants checked after every step.
//!
//! A failed check panics: libFuzzer records the input as a crash.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tapstack::tcp::{Seq, State};
use tapstack::{Config, Host, Interface, Ipv4Cidr, Ipv6Cidr, Ipv6Config, Limits, MacAddr};
use tapstack_testkit::frame;

pub const OUR_MAC: MacAddr = MacAddr([0x02, 0, 0, 0x77, 0, 0x02]);
pub const PEER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0x77, 0, 0x01]);
pub const OUR_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
pub const PEER_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
pub const OUR_IP6: Ipv6Addr = Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 2);
pub const PEER_IP6: Ipv6Addr = Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 1);

const ETH_ARP: u16 = 0x0806;
const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86dd;

/// Small limits, so that a short script reaches them.
pub fn limits() -> Limits {
    Limits {
        arp_cache_entries: 8,
        arp_pending_packets: 8,
        arp_pending_bytes: 16 * 1024,
        reassembly_datagrams: 4,
        reassembly_bytes: 32 * 1024,
        reassembly_max_fragments: 16,
        reassembly_timeout: Duration::from_secs(5),
        udp_queue_datagrams: 8,
        udp_queue_bytes: 8 * 1024,
        icmp_errors_per_sec: 10,
        icmp_error_burst: 5,
        events: 8,
        ndp_cache_entries: 8,
        ndp_pending_packets: 4,
        ndp_pending_bytes: 16 * 1024,
        ..Limits::default()
    }
}

/// The configuration of the host under test: IPv4 and IPv6 static addresses, small limits,
/// small TCP buffers and table.
pub fn config() -> Config {
    let mut config = Config::new(OUR_MAC, Ipv4Cidr::new(OUR_IP, 24));
    config.gateway = Some(PEER_IP);
    config.seed = 0x5eed_f022;
    config.arp.probe_count = 0;
    config.limits = limits();
    config.tcp.max_connections = 8;
    config.tcp.rx_buffer = 8 * 1024;
    config.tcp.tx_buffer = 8 * 1024;
    config.ipv6 = Some(Ipv6Config {
        addresses: Ipv6Cidr::new(OUR_IP6, 64).into_iter().collect(),
        dad_transmits: 0,
        ..Ipv6Config::default()
    });
    config
}

/// A host with every standard service on (UDP and TCP echo, discard, chargen, DNS, HTTP).
pub fn host(config: Config) -> Host {
    let iface = match Interface::new(config) {
        Ok(i) => i,
        Err(e) => panic!("configuration refused: {e:?}"),
    };
    match Host::with_standard_services(iface) {
        Ok(h) => h,
        Err(e) => panic!("services refused: {e:?}"),
    }
}

/// The Internet checksum over `parts` is zero: an independent sum (the test kit's), not the
/// stack's.
fn sums_to_zero(parts: &[&[u8]]) -> bool {
    frame::checksum(parts) == 0
}

/// The upper-layer checksum with its pseudo-header (RFC 768, RFC 9293 3.1, RFC 8200 8.1) is
/// valid.
fn transport_checksum_ok(src: IpAddr, dst: IpAddr, protocol: u8, payload: &[u8]) -> bool {
    pseudo_sum(src, dst, protocol, payload) == 0
}

/// The peer's and the host's address (fd77::1, fd77::2 over IPv6; 10.77.0.1, 10.77.0.2 over
/// IPv4): the source and destination of a segment the parser targets read.
pub fn addresses(v6: bool) -> (IpAddr, IpAddr) {
    if v6 {
        (
            Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 1).into(),
            Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 2).into(),
        )
    } else {
        (
            Ipv4Addr::new(10, 77, 0, 1).into(),
            Ipv4Addr::new(10, 77, 0, 2).into(),
        )
    }
}

/// The Internet checksum of `payload` with its pseudo-header, by the test kit's independent
/// sum: zero when the checksum in it is right.
pub fn pseudo_sum(src: IpAddr, dst: IpAddr, protocol: u8, payload: &[u8]) -> u16 {
    let len = (payload.len() as u32).to_be_bytes();
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            frame::checksum(&[&s.octets(), &d.octets(), &[0, protocol], &len[2..], payload])
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => frame::checksum(&[
            &s.octets(),
            &d.octets(),
            &len,
            &[0, 0, 0, protocol],
            payload,
        ]),
        _ => 1,
    }
}

/// A TCP segment the host sent, as the conversation targets track them.
#[derive(Clone, Copy, Debug)]
pub struct SentSegment {
    pub remote: SocketAddr,
    pub local_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub len: usize,
    pub window: u16,
}

/// Checks one frame the host emitted: within the MTU, parseable by etherparse, from our MAC,
/// ARP, IPv4 or IPv6 with correct lengths and checksums (by our own independent sum). Returns
/// the TCP segment it carries, if any.
pub fn check_emitted(f: &[u8], mtu: usize) -> Option<SentSegment> {
    assert!(f.len() <= mtu + 14, "emitted frame of {} bytes", f.len());
    assert!(f.len() >= 14, "emitted runt frame");
    if let Err(e) = etherparse::SlicedPacket::from_ethernet(f) {
        panic!("emitted frame does not parse ({e:?}): {f:02x?}");
    }
    assert_eq!(f[6..12], OUR_MAC.0, "emitted from another MAC");
    match u16::from_be_bytes([f[12], f[13]]) {
        ETH_ARP => {
            assert!(
                tapstack::arp::Repr::parse(&f[14..]).is_ok(),
                "emitted ARP does not parse"
            );
            None
        }
        ETH_IPV4 => {
            let ip = &f[14..];
            assert!(ip.len() >= 20, "short IPv4");
            assert_eq!(ip[0] >> 4, 4, "IPv4 version");
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            assert!(ihl >= 20 && ip.len() >= ihl, "IPv4 header length");
            let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
            assert_eq!(total, ip.len(), "IPv4 total length");
            assert!(sums_to_zero(&[&ip[..ihl]]), "IPv4 header checksum");
            let frag = u16::from_be_bytes([ip[6], ip[7]]);
            if frag & 0x3fff != 0 {
                if frag & 0x2000 != 0 {
                    assert_eq!((ip.len() - ihl) % 8, 0, "non-final fragment size");
                }
                return None;
            }
            let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
            let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
            transport(ip[9], src.into(), dst.into(), &ip[ihl..])
        }
        ETH_IPV6 => {
            let ip = &f[14..];
            assert!(ip.len() >= 40, "short IPv6");
            assert_eq!(ip[0] >> 4, 6, "IPv6 version");
            let len = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
            assert_eq!(len + 40, ip.len(), "IPv6 payload length");
            let mut a = [0u8; 16];
            a.copy_from_slice(&ip[8..24]);
            let src = Ipv6Addr::from(a);
            a.copy_from_slice(&ip[24..40]);
            let dst = Ipv6Addr::from(a);
            match ip[6] {
                44 => {
                    let fh = &ip[40..];
                    assert!(fh.len() >= 8, "short fragment header");
                    if fh[3] & 1 == 1 {
                        assert_eq!((fh.len() - 8) % 8, 0, "non-final fragment size");
                    }
                    None
                }
                nh => transport(nh, src.into(), dst.into(), &ip[40..]),
            }
        }
        t => panic!("emitted EtherType {t:#06x}"),
    }
}

fn transport(protocol: u8, src: IpAddr, dst: IpAddr, payload: &[u8]) -> Option<SentSegment> {
    match (protocol, src) {
        (1, IpAddr::V4(_)) => {
            assert!(sums_to_zero(&[payload]), "ICMP checksum");
            None
        }
        (58, IpAddr::V6(_)) => {
            assert!(
                transport_checksum_ok(src, dst, 58, payload),
                "ICMPv6 checksum"
            );
            None
        }
        (17, _) => {
            assert!(payload.len() >= 8, "short UDP");
            let len = usize::from(u16::from_be_bytes([payload[4], payload[5]]));
            assert_eq!(len, payload.len(), "UDP length");
            let unsummed = payload[6..8] == [0, 0];
            assert!(
                (unsummed && src.is_ipv4()) || transport_checksum_ok(src, dst, 17, payload),
                "UDP checksum"
            );
            None
        }
        (6, _) => {
            assert!(payload.len() >= 20, "short TCP");
            let off = usize::from(payload[12] >> 4) * 4;
            assert!(off >= 20 && off <= payload.len(), "TCP data offset");
            assert!(transport_checksum_ok(src, dst, 6, payload), "TCP checksum");
            let flags = payload[13];
            assert!(flags & 0x03 != 0x03, "SYN and FIN together");
            let word = |i: usize| {
                u32::from_be_bytes([payload[i], payload[i + 1], payload[i + 2], payload[i + 3]])
            };
            let remote_port = u16::from_be_bytes([payload[2], payload[3]]);
            Some(SentSegment {
                remote: SocketAddr::new(dst, remote_port),
                local_port: u16::from_be_bytes([payload[0], payload[1]]),
                seq: word(4),
                ack: word(8),
                flags,
                len: payload.len() - off,
                window: u16::from_be_bytes([payload[14], payload[15]]),
            })
        }
        (p, _) => panic!("emitted IP protocol {p}"),
    }
}

/// The TCP sequence variables of each connection seen so far, to check that the advertised
/// window's right edge never moves left.
#[derive(Default)]
pub struct Invariants {
    right_edges: HashMap<(SocketAddr, SocketAddr, u32, u32), Seq>,
}

impl Invariants {
    /// Checks the host after a step: every frame accounted for, every table within its limit,
    /// the footprint within `Limits`, TCP sequence variables in order.
    pub fn check(&mut self, host: &Host) {
        let iface = host.iface();
        let config = iface.config();
        let l = &config.limits;
        let s = iface.stats();
        assert_eq!(
            s.rx_frames,
            s.rx_handled + s.total_drops(),
            "rx_frames = rx_handled + drops"
        );
        let fp = iface.footprint();
        let over = |what: &str| format!("{what} over its limit: {fp:?}");
        assert!(
            fp.arp_entries <= l.arp_cache_entries,
            "{}",
            over("ARP cache")
        );
        assert!(
            fp.pending_packets <= l.arp_pending_packets,
            "{}",
            over("ARP queue")
        );
        assert!(
            fp.pending_bytes <= l.arp_pending_bytes,
            "{}",
            over("ARP bytes")
        );
        assert!(
            fp.reassembly_datagrams <= l.reassembly_datagrams,
            "{}",
            over("reassembly")
        );
        assert!(
            fp.reassembly_bytes <= l.reassembly_bytes,
            "{}",
            over("reassembly bytes")
        );
        assert!(
            fp.ipv6_reassembly_datagrams <= l.reassembly_datagrams,
            "{}",
            over("IPv6 reassembly")
        );
        assert!(fp.udp_sockets <= l.udp_sockets, "{}", over("UDP sockets"));
        assert!(
            fp.udp_bytes <= fp.udp_sockets * 2 * l.udp_queue_bytes,
            "{}",
            over("UDP queues")
        );
        assert!(fp.events <= l.events, "{}", over("events"));
        assert!(
            fp.ndp_entries <= l.ndp_cache_entries,
            "{}",
            over("NDP cache")
        );
        assert!(
            fp.ndp_pending_packets <= l.ndp_pending_packets,
            "{}",
            over("NDP queue")
        );
        assert!(
            fp.ndp_pending_bytes <= l.ndp_pending_bytes,
            "{}",
            over("NDP bytes")
        );
        assert!(
            iface.ipv6_addresses().len() <= l.ipv6_addresses,
            "IPv6 addresses over their limit"
        );
        let t = &config.tcp;
        assert!(
            fp.tcp_connections <= t.max_connections,
            "{}",
            over("TCP table")
        );
        assert!(
            fp.tcp_buffer_bytes <= t.max_connections * (t.rx_buffer + t.tx_buffer),
            "{}",
            over("TCP buffers")
        );

        for c in iface.tcp().iter() {
            let q = c.sequence();
            // RFC 9293 3.3.1: SND.UNA =< SND.NXT, and what was sent is never unsent.
            assert!(
                q.snd_una <= q.snd_nxt,
                "SND.UNA > SND.NXT in {:?}: {q:?}",
                c.state()
            );
            assert!(
                q.snd_nxt <= q.snd_max,
                "SND.NXT > SND.MAX in {:?}: {q:?}",
                c.state()
            );
            assert!(
                c.send_queue() <= t.tx_buffer,
                "send queue over the buffer size"
            );
            assert!(
                c.recv_queue() <= t.rx_buffer,
                "receive queue over the buffer size"
            );
            if !c.state().synchronized() || c.state() == State::TimeWait {
                continue;
            }
            // RFC 9293 3.8.6.2.2: the right edge of the advertised window does not move left.
            let key = (c.local(), c.remote(), q.iss.0, q.irs.0);
            let edge = self.right_edges.entry(key).or_insert(q.rcv_adv);
            assert!(
                q.rcv_adv >= *edge,
                "advertised window shrank in {:?}: right edge {} after {}",
                c.state(),
                q.rcv_adv,
                edge
            );
            *edge = q.rcv_adv;
            assert!(
                q.rcv_nxt <= q.rcv_adv,
                "RCV.NXT past the advertised edge: {q:?}"
            );
        }
    }
}
