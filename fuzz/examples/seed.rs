//! Writes the seed corpora in `fuzz/seeds/TARGET/`: the frames of the reference captures in
//! `captures/`, split into the layer each parser target reads, plus frames from the test kit's
//! builders (the ones the existing tests build) and a few hand-written messages for the
//! text formats.
//!
//!     cargo run --manifest-path fuzz/Cargo.toml --example seed
//!
//! Seeds are named by a hash of their bytes, so a rerun rewrites the same files.

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use std::path::{Path, PathBuf};

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use tapstack::device::capture::CaptureReader;
use tapstack_testkit::frame::{self, flags, Tcp, TcpOption};

/// Seeds kept per target, so that the repository stays small.
const MAX_PER_TARGET: usize = 64;

#[derive(Default)]
struct Seeds(BTreeMap<&'static str, BTreeMap<u64, Vec<u8>>>);

impl Seeds {
    fn add(&mut self, target: &'static str, bytes: Vec<u8>) {
        let mut h = DefaultHasher::new();
        bytes.hash(&mut h);
        let set = self.0.entry(target).or_default();
        if set.len() < MAX_PER_TARGET {
            set.insert(h.finish(), bytes);
        }
    }

    /// Every layer of one Ethernet frame, to the targets that read it.
    fn frame(&mut self, f: &[u8]) {
        self.add("ethernet_arp", f.to_vec());
        let Ok(p) = SlicedPacket::from_ethernet(f) else {
            return;
        };
        let (src, dst, v6) = match &p.net {
            Some(NetSlice::Ipv4(ip)) => {
                let h = ip.header();
                self.add("ipv4", f.get(14..).unwrap_or_default().to_vec());
                let s = h.source_addr().to_ipv6_mapped();
                let d = h.destination_addr().to_ipv6_mapped();
                (s, d, false)
            }
            Some(NetSlice::Ipv6(ip)) => {
                let h = ip.header();
                self.add("ipv6", f.get(14..).unwrap_or_default().to_vec());
                (h.source_addr(), h.destination_addr(), true)
            }
            _ => return,
        };
        let select = u8::from(v6);
        match &p.transport {
            Some(TransportSlice::Udp(u)) => {
                self.add("udp", [&[select][..], u.slice()].concat());
                let ports = [u.source_port(), u.destination_port()];
                if ports.contains(&53) {
                    self.add("dns", u.payload().to_vec());
                }
                if ports.contains(&67) || ports.contains(&68) {
                    self.add("dhcp", u.payload().to_vec());
                }
            }
            Some(TransportSlice::Tcp(t)) => {
                self.add("tcp_segment", [&[select][..], t.slice()].concat());
                let payload = t.payload();
                if t.destination_port() == 80 && !payload.is_empty() {
                    self.add("http_head", payload.to_vec());
                }
                if t.destination_port() == 53 && payload.len() > 2 {
                    self.add("dns", payload[2..].to_vec());
                }
            }
            Some(TransportSlice::Icmpv4(i)) => {
                let mut s = vec![0u8];
                s.extend_from_slice(&src.octets());
                s.extend_from_slice(&dst.octets());
                s.push(64);
                s.extend_from_slice(i.slice());
                self.add("icmp", s);
            }
            Some(TransportSlice::Icmpv6(i)) => {
                let mut s = vec![1u8];
                s.extend_from_slice(&src.octets());
                s.extend_from_slice(&dst.octets());
                s.push(255);
                s.extend_from_slice(i.slice());
                self.add("icmp", s);
            }
            _ => {}
        }
    }

    fn write(&self, root: &Path) -> std::io::Result<()> {
        for (target, set) in &self.0 {
            let dir = root.join(target);
            std::fs::create_dir_all(&dir)?;
            for (h, bytes) in set {
                std::fs::write(dir.join(format!("{h:016x}")), bytes)?;
            }
            println!("{target}: {} seeds", set.len());
        }
        Ok(())
    }
}

/// Frames the existing tests build: ARP, ICMP, UDP, TCP with options, fragments, IPv6 with
/// NDP, extension headers and fragments.
fn built_frames() -> Vec<Vec<u8>> {
    let us = Ipv4Addr::new(10, 77, 0, 2);
    let peer = Ipv4Addr::new(10, 77, 0, 1);
    let (our_mac, peer_mac) = ([2, 0, 0, 0x77, 0, 2], [2, 0, 0, 0x77, 0, 1]);
    let us6: Ipv6Addr = "fd77::2".parse().expect("address");
    let peer6: Ipv6Addr = "fd77::1".parse().expect("address");
    let v4 = |proto: u8, body: &[u8]| {
        let p = frame::Ipv4::new(peer, us, proto).packet(body);
        frame::ethernet(our_mac, peer_mac, frame::ETH_IPV4, &p)
    };
    let v6 = |nh: u8, hop: u8, body: &[u8]| {
        frame::ethernet(
            our_mac,
            peer_mac,
            frame::ETH_IPV6,
            &frame::ipv6(peer6, us6, nh, hop, body),
        )
    };
    let syn = Tcp::new(40000, 80, 1000, 0, flags::SYN)
        .option(TcpOption::Mss(1460))
        .option(TcpOption::WindowScale(7))
        .option(TcpOption::SackPermitted)
        .option(TcpOption::Timestamps { value: 1, echo: 0 });
    let data = Tcp::new(40000, 80, 1001, 5000, flags::ACK | flags::PSH);
    let get = b"GET / HTTP/1.1\r\nHost: tapstack\r\n\r\n";
    let mut out = vec![
        frame::arp_frame(frame::BROADCAST, 1, (peer_mac, peer), (frame::ZERO_MAC, us)),
        frame::arp_frame(our_mac, 2, (peer_mac, peer), (our_mac, us)),
        v4(frame::PROTO_ICMP, &frame::echo(8, 1, 1, b"ping")),
        v4(
            frame::PROTO_UDP,
            &frame::udp_v4(
                SocketAddrV4::new(peer, 40000),
                SocketAddrV4::new(us, 7),
                b"echo",
            ),
        ),
        v4(frame::PROTO_TCP, &syn.segment_v4(peer, us, &[])),
        v4(frame::PROTO_TCP, &data.segment_v4(peer, us, get)),
        v6(frame::PROTO_TCP, 64, &syn.segment_v6(peer6, us6, &[])),
        v6(
            frame::PROTO_UDP,
            64,
            &frame::udp_v6(
                SocketAddrV6::new(peer6, 40000, 0, 0),
                SocketAddrV6::new(us6, 53, 0, 0),
                &dns_query(),
            ),
        ),
        v6(
            frame::PROTO_ICMPV6,
            64,
            &frame::echo_v6(peer6, us6, 128, 1, 1, b"ping6"),
        ),
        v6(
            frame::PROTO_ICMPV6,
            255,
            &frame::neighbor_solicit(peer6, us6, us6, Some(peer_mac)),
        ),
        v6(
            frame::PROTO_DESTINATION,
            64,
            &frame::options_header(
                frame::PROTO_ICMPV6,
                &[],
                &frame::echo_v6(peer6, us6, 128, 2, 2, b"opts"),
            ),
        ),
    ];
    let big = frame::echo(8, 3, 3, &[0x5a; 3000]);
    for p in frame::Ipv4::new(peer, us, frame::PROTO_ICMP)
        .ident(9)
        .fragments(&big, 1480)
    {
        out.push(frame::ethernet(our_mac, peer_mac, frame::ETH_IPV4, &p));
    }
    let big6 = frame::echo_v6(peer6, us6, 128, 4, 4, &[0x6b; 3000]);
    for (i, chunk) in big6.chunks(1232).enumerate() {
        let more = (i + 1) * 1232 < big6.len();
        let f = frame::fragment_header(frame::PROTO_ICMPV6, i * 1232, more, 77, chunk);
        out.push(v6(frame::PROTO_FRAGMENT, 64, &f));
    }
    let advert = frame::RouterAdvert {
        cur_hop_limit: 64,
        router_lifetime: 1800,
        source_ll: Some(peer_mac),
        mtu: Some(1500),
        prefixes: vec![frame::PrefixInfo {
            prefix_len: 64,
            on_link: true,
            autonomous: true,
            valid_lifetime: 86400,
            preferred_lifetime: 14400,
            prefix: "fd78::".parse().expect("prefix"),
        }],
        ..Default::default()
    };
    let all: Ipv6Addr = "ff02::1".parse().expect("address");
    let ll = frame::link_local(peer_mac);
    out.push(frame::ethernet(
        frame::multicast_mac(all),
        peer_mac,
        frame::ETH_IPV6,
        &frame::ipv6(ll, all, frame::PROTO_ICMPV6, 255, &advert.message(ll, all)),
    ));
    out
}

/// A query for tapstack.test A, with an EDNS OPT record.
fn dns_query() -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
    q.extend_from_slice(b"\x08tapstack\x04test\x00\x00\x01\x00\x01");
    q.extend_from_slice(&[0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0]);
    q
}

fn main() -> std::io::Result<()> {
    let fuzz = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let captures = fuzz.join("../captures");
    let mut seeds = Seeds::default();
    let mut files: Vec<_> = std::fs::read_dir(&captures)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "pcapng" || e == "pcap"))
        .collect();
    files.sort();
    for path in &files {
        let reader = CaptureReader::open(path).map_err(std::io::Error::other)?;
        for record in reader.flatten() {
            seeds.frame(&record.data);
        }
        if std::fs::metadata(path)?.len() <= 4096 {
            seeds.add("capture", std::fs::read(path)?);
        }
    }
    for f in built_frames() {
        seeds.frame(&f);
    }
    seeds.add("dns", dns_query());
    for head in [
        &b"GET /stats HTTP/1.1\r\nHost: t\r\nConnection: keep-alive\r\n\r\n"[..],
        b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
        b"POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET /bytes/1000 HTTP/1.0\r\n\r\n",
    ] {
        seeds.add("http_head", head.to_vec());
    }
    for body in [
        &b"\x05"[..],
        b"\x015\r\nhello\r\n0\r\n\r\n",
        b"\x03a;ext=1\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n",
        b"\x0f0\r\n\r\n",
    ] {
        seeds.add("http_chunked", body.to_vec());
    }
    for zone in [
        "$ORIGIN tapstack.test.\n$TTL 600\n@ IN MX 10 mail\nmail 3600 IN A 10.77.0.25\nwww CNAME @\n\
         text TXT \"hello world\" bare\nv6 AAAA 2001:db8::1\n25.0.77.10.in-addr.arpa. PTR mail\n",
        "$TTL 300\n$ORIGIN lab.test.\n@ IN SOA ns1 hostmaster ( 1 3600 600 86400 60 )\n@ IN NS ns1\n\
         ns1 IN A 10.77.0.2\nbig IN TXT ( \"a\" \"b\" )\n*.wild IN A 10.77.0.9\n",
        "host=10.77.0.5\nhost6=fd77::5\n",
    ] {
        seeds.add("zone", zone.as_bytes().to_vec());
    }
    seeds.write(&fuzz.join("seeds"))
}
