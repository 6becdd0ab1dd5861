//! A million frames into the core: random garbage, and truncations, bit flips, overwrites,
//! splices and field changes (with repaired checksums, to get past the outer checks) of valid
//! ARP, IPv4, ICMP and UDP frames, at advancing virtual time, from a fixed seed.
//!
//! What must hold:
//! - nothing panics;
//! - every bounded table stays within its configured limit, all along;
//! - every frame is accounted for: `rx_frames == rx_handled + total_drops()`, and the
//!   Ethernet-level drops match an independent classification of the frames fed;
//! - the mutations leave enough intact for most drop reasons to be reached and for many frames
//!   to be handled;
//! - whatever the core emits parses, has valid checksums and fits the MTU.
//!
//! The same holds on an IP-only link (a TUN device, `Medium::Ip`): `ip_medium` feeds a
//! million mutated bare IPv4 and IPv6 packets.
//!
//! `cargo test --release --test fuzz -- --nocapture` prints the summary.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant as WallClock};

use etherparse::SlicedPacket;
use std::net::IpAddr;
use tapstack::rng::Rng;
use tapstack::tcp::segment::{self as tcp_segment, Flags, Options, Repr};
use tapstack::tcp::Seq;
use tapstack::{Config, DropReason, Event, Host, Instant, Interface, Ipv4Cidr, Limits, MacAddr};

/// Frames fed to the core.
const FRAMES: u64 = 1_000_000;
/// The generator's seed: a run is reproducible.
const SEED: u64 = 0x7a95_7ac4_0001;
/// Frames between two calls of `poll`.
const POLL_EVERY: u64 = 8;
/// Frames between two checks of the footprint.
const CHECK_EVERY: u64 = 100;
/// Frames between two reads of the sink socket (which otherwise fills up).
const DRAIN_EVERY: u64 = 50_000;

const OUR_MAC: MacAddr = MacAddr([0x02, 0, 0, 0x77, 0, 0x02]);
const OUR_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
const PEER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0x77, 0, 0x01]);
const PEER_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const OTHER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0x77, 0, 0x09]);
const SUBNET_BROADCAST: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 255);
const ALL_HOSTS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 1);
const ALL_HOSTS_MAC: MacAddr = MacAddr([0x01, 0x00, 0x5e, 0, 0, 1]);
const FAR_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 7);

use tapstack_testkit::frame::{
    self, echo, icmpv4 as icmp, udp_checksum_v4 as udp_checksum, udp_v4 as udp, ETH_ARP, ETH_IPV4,
    PROTO_ICMP, PROTO_TCP, PROTO_UDP,
};

/// The port of the UDP echo service.
const ECHO_PORT: u16 = 7;
/// A bound socket read only now and then.
const SINK_PORT: u16 = 9000;
/// A port nobody listens on.
const CLOSED_PORT: u16 = 9999;

// ------------------------------------------------------------------------------------------------
// Wire formats.

// The test kit's builders, adapted to `MacAddr`.

/// The Internet checksum (RFC 1071), as a number to write big-endian.
fn inet_checksum(parts: &[&[u8]]) -> u16 {
    frame::checksum(parts)
}

fn eth(dst: MacAddr, src: MacAddr, ether_type: u16, payload: &[u8]) -> Vec<u8> {
    frame::ethernet(dst.0, src.0, ether_type, payload)
}

fn arp(dst: MacAddr, op: u16, sender: (MacAddr, Ipv4Addr), target: (MacAddr, Ipv4Addr)) -> Vec<u8> {
    frame::arp_frame(dst.0, op, (sender.0 .0, sender.1), (target.0 .0, target.1))
}

/// An IPv4 packet (no options, TTL 64, DF clear) with a correct header checksum; `frag` is
/// the fragment offset in bytes and the more-fragments flag.
fn ipv4(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: u8,
    ident: u16,
    frag: (usize, bool),
    payload: &[u8],
) -> Vec<u8> {
    frame::Ipv4::new(src, dst, protocol)
        .ident(ident)
        .fragment(frag.0, frag.1)
        .packet(payload)
}

fn pattern(n: usize, salt: u8) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8 ^ salt).collect()
}

/// A neighbour in our subnet that is not the peer: 10.77.0.`n` at 02:00:00:77:01:`n`.
fn host(n: u8) -> (MacAddr, Ipv4Addr) {
    (
        MacAddr([0x02, 0, 0, 0x77, 1, n]),
        Ipv4Addr::new(10, 77, 0, n),
    )
}

/// IPv4 fragments of `payload`, `per` bytes each, in frames from `mac`.
fn fragments(
    mac: MacAddr,
    src: Ipv4Addr,
    protocol: u8,
    ident: u16,
    payload: &[u8],
    per: usize,
) -> Vec<Vec<u8>> {
    let n = payload.len().div_ceil(per);
    payload
        .chunks(per)
        .enumerate()
        .map(|(i, c)| {
            let p = ipv4(src, OUR_IP, protocol, ident, (i * per, i + 1 < n), c);
            eth(OUR_MAC, mac, ETH_IPV4, &p)
        })
        .collect()
}

/// Valid frames of every kind the core handles, and a few it refuses by design.
fn corpus() -> Vec<Vec<u8>> {
    let peer = |port| SocketAddrV4::new(PEER_IP, port);
    let us = |port| SocketAddrV4::new(OUR_IP, port);
    let from_peer = |p: &[u8]| eth(OUR_MAC, PEER_MAC, ETH_IPV4, p);
    let broadcast = |p: &[u8]| eth(MacAddr::BROADCAST, PEER_MAC, ETH_IPV4, p);
    let (h20_mac, h20) = host(20);
    let (h30_mac, h30) = host(30);
    let bc = MacAddr::BROADCAST;
    let zero = MacAddr::ZERO;

    let mut c = vec![
        // ARP.
        arp(bc, 1, (PEER_MAC, PEER_IP), (zero, OUR_IP)),
        arp(bc, 1, host(11), (zero, OUR_IP)),
        arp(bc, 1, host(12), (zero, OUR_IP)),
        arp(OUR_MAC, 2, (PEER_MAC, PEER_IP), (OUR_MAC, OUR_IP)),
        arp(OUR_MAC, 2, (h20_mac, h20), (OUR_MAC, OUR_IP)),
        arp(
            bc,
            1,
            (PEER_MAC, PEER_IP),
            (zero, Ipv4Addr::new(10, 77, 0, 3)),
        ),
        arp(bc, 1, (PEER_MAC, PEER_IP), (zero, PEER_IP)),
        arp(
            bc,
            1,
            (h30_mac, Ipv4Addr::UNSPECIFIED),
            (zero, Ipv4Addr::new(10, 77, 0, 50)),
        ),
        arp(bc, 1, (OTHER_MAC, OUR_IP), (zero, OUR_IP)),
        // ICMP.
        from_peer(&ipv4(
            PEER_IP,
            OUR_IP,
            PROTO_ICMP,
            1,
            (0, false),
            &echo(8, 1, 1, b""),
        )),
        from_peer(&ipv4(
            PEER_IP,
            OUR_IP,
            PROTO_ICMP,
            2,
            (0, false),
            &echo(8, 1, 2, &pattern(56, 0)),
        )),
        from_peer(&ipv4(
            PEER_IP,
            OUR_IP,
            PROTO_ICMP,
            3,
            (0, false),
            &echo(8, 1, 3, &pattern(1400, 1)),
        )),
        eth(
            OUR_MAC,
            h30_mac,
            ETH_IPV4,
            &ipv4(
                h30,
                OUR_IP,
                PROTO_ICMP,
                4,
                (0, false),
                &echo(8, 2, 1, &pattern(32, 2)),
            ),
        ),
        from_peer(&ipv4(
            FAR_IP,
            OUR_IP,
            PROTO_ICMP,
            5,
            (0, false),
            &echo(8, 3, 1, b"far"),
        )),
        broadcast(&ipv4(
            PEER_IP,
            SUBNET_BROADCAST,
            PROTO_ICMP,
            6,
            (0, false),
            &echo(8, 4, 1, b"all"),
        )),
        broadcast(&ipv4(
            PEER_IP,
            Ipv4Addr::BROADCAST,
            PROTO_ICMP,
            7,
            (0, false),
            &echo(8, 4, 2, b"all"),
        )),
        eth(
            OUR_MAC,
            PEER_MAC,
            ETH_IPV4,
            &ipv4(
                PEER_IP,
                ALL_HOSTS,
                PROTO_ICMP,
                8,
                (0, false),
                &echo(8, 4, 3, b""),
            ),
        ),
        eth(
            ALL_HOSTS_MAC,
            PEER_MAC,
            ETH_IPV4,
            &ipv4(
                PEER_IP,
                ALL_HOSTS,
                PROTO_ICMP,
                8,
                (0, false),
                &echo(8, 4, 3, b""),
            ),
        ),
        from_peer(&ipv4(
            PEER_IP,
            OUR_IP,
            PROTO_ICMP,
            9,
            (0, false),
            &echo(0, 5, 1, b"pong"),
        )),
        from_peer(&ipv4(
            PEER_IP,
            OUR_IP,
            PROTO_ICMP,
            10,
            (0, false),
            &icmp(
                3,
                3,
                [0; 4],
                &ipv4(
                    OUR_IP,
                    PEER_IP,
                    PROTO_UDP,
                    1,
                    (0, false),
                    &udp(us(5000), peer(53), b""),
                ),
            ),
        )),
        from_peer(&ipv4(
            PEER_IP,
            OUR_IP,
            PROTO_ICMP,
            11,
            (0, false),
            &icmp(13, 0, [0, 1, 0, 1], &[0; 12]),
        )),
        // UDP.
        from_peer(&ipv4(
            PEER_IP,
            OUR_IP,
            PROTO_UDP,
            20,
            (0, false),
            &udp(peer(40000), us(ECHO_PORT), &pattern(20, 3)),
        )),
        from_peer(&ipv4(
            PEER_IP,
            OUR_IP,
            PROTO_UDP,
            21,
            (0, false),
            &udp(peer(40001), us(SINK_PORT), &pattern(100, 4)),
        )),
        from_peer(&ipv4(
            PEER_IP,
            OUR_IP,
            PROTO_UDP,
            22,
            (0, false),
            &udp(peer(40002), us(CLOSED_PORT), b"closed"),
        )),
        broadcast(&ipv4(
            PEER_IP,
            SUBNET_BROADCAST,
            PROTO_UDP,
            23,
            (0, false),
            &udp(
                peer(40003),
                SocketAddrV4::new(SUBNET_BROADCAST, CLOSED_PORT),
                b"anyone",
            ),
        )),
        broadcast(&ipv4(
            PEER_IP,
            Ipv4Addr::BROADCAST,
            PROTO_UDP,
            24,
            (0, false),
            &udp(
                peer(68),
                SocketAddrV4::new(Ipv4Addr::BROADCAST, SINK_PORT),
                b"bootp-ish",
            ),
        )),
        eth(
            OUR_MAC,
            h20_mac,
            ETH_IPV4,
            &ipv4(
                h20,
                OUR_IP,
                PROTO_UDP,
                25,
                (0, false),
                &udp(SocketAddrV4::new(h20, 1234), us(ECHO_PORT), &pattern(64, 5)),
            ),
        ),
        {
            let mut d = udp(peer(40004), us(ECHO_PORT), b"no checksum");
            d[6..8].copy_from_slice(&[0, 0]);
            from_peer(&ipv4(PEER_IP, OUR_IP, PROTO_UDP, 26, (0, false), &d))
        },
        // Transports we do not speak.
        from_peer(&ipv4(
            PEER_IP,
            OUR_IP,
            PROTO_TCP,
            30,
            (0, false),
            &pattern(20, 6),
        )),
        from_peer(&ipv4(PEER_IP, OUR_IP, 47, 31, (0, false), &pattern(24, 7))),
        // An EtherType we do not speak.
        eth(OUR_MAC, PEER_MAC, 0x86dd, &pattern(60, 8)),
    ];
    // Datagrams in fragments: each fragment is a corpus entry of its own.
    c.extend(fragments(
        PEER_MAC,
        PEER_IP,
        PROTO_ICMP,
        0x3000,
        &echo(8, 6, 1, &pattern(3000, 9)),
        1480,
    ));
    c.extend(fragments(
        PEER_MAC,
        PEER_IP,
        PROTO_ICMP,
        0x8000,
        &echo(8, 6, 2, &pattern(8000, 10)),
        1480,
    ));
    c.extend(fragments(
        PEER_MAC,
        PEER_IP,
        PROTO_UDP,
        0x7000,
        &udp(peer(40005), us(ECHO_PORT), &pattern(2000, 11)),
        1480,
    ));
    c.extend(fragments(
        PEER_MAC,
        PEER_IP,
        PROTO_UDP,
        0x7001,
        &udp(peer(40006), us(CLOSED_PORT), &pattern(600, 12)),
        304,
    ));
    // TCP: SYNs with options to the echo and discard services, to a closed port, an ACK with
    // data and a FIN for no connection, and a RST.
    let segment = |dst_port: u16, flags: Flags, options: Options, data: &[u8]| {
        let repr = Repr {
            src_port: 41000 + dst_port,
            dst_port,
            seq: Seq(7000),
            ack: Seq(9000),
            flags,
            window: 64240,
            options,
            urgent: 0,
        };
        let mut out = Vec::new();
        tcp_segment::emit(
            &mut out,
            &repr,
            IpAddr::V4(PEER_IP),
            IpAddr::V4(OUR_IP),
            [data, &[]],
        );
        from_peer(&ipv4(
            PEER_IP,
            OUR_IP,
            PROTO_TCP,
            0x7100 + dst_port,
            (0, false),
            &out,
        ))
    };
    let syn = Flags {
        syn: true,
        ..Flags::default()
    };
    let ack = Flags {
        ack: true,
        ..Flags::default()
    };
    let linux = Options {
        mss: Some(1460),
        window_scale: Some(7),
        sack_permitted: true,
        timestamps: Some((1, 0)),
        ..Options::default()
    };
    c.push(segment(7, syn, linux, b""));
    c.push(segment(
        9,
        syn,
        Options {
            mss: Some(536),
            ..Options::default()
        },
        b"",
    ));
    c.push(segment(CLOSED_PORT, syn, linux, b""));
    c.push(segment(7, ack, Options::default(), &pattern(100, 13)));
    c.push(segment(
        19,
        Flags {
            fin: true,
            ack: true,
            ..Flags::default()
        },
        Options::default(),
        b"",
    ));
    c.push(segment(
        9,
        Flags {
            rst: true,
            ..Flags::default()
        },
        Options::default(),
        b"",
    ));
    // Padded to the Ethernet minimum, as short frames arrive from a real link.
    for f in &mut c {
        if f.len() < 60 {
            f.resize(60, 0);
        }
    }
    c
}

// ------------------------------------------------------------------------------------------------
// Mutations.

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Valid,
    Truncated,
    BitFlips,
    Overwrite,
    FieldChange,
    Splice,
    Garbage,
    Fragment,
    Reframed,
}

struct Generator {
    rng: Rng,
    corpus: Vec<Vec<u8>>,
    ipv4: Vec<usize>,
}

impl Generator {
    fn new(seed: u64) -> Self {
        let corpus = corpus();
        let ipv4 = (0..corpus.len())
            .filter(|&i| corpus[i][12..14] == ETH_IPV4.to_be_bytes())
            .collect();
        Generator {
            rng: Rng::new(seed, "fuzz"),
            corpus,
            ipv4,
        }
    }

    fn below(&mut self, n: usize) -> usize {
        self.rng.below(n as u64) as usize
    }

    fn pick(&mut self) -> Vec<u8> {
        let i = self.below(self.corpus.len());
        self.corpus[i].clone()
    }

    fn pick_ipv4(&mut self) -> Vec<u8> {
        let n = self.below(self.ipv4.len());
        let i = self.ipv4[n];
        self.corpus[i].clone()
    }

    fn next(&mut self) -> (Kind, Vec<u8>) {
        let roll = self.below(100);
        match roll {
            0..12 => (Kind::Valid, self.pick()),
            12..27 => {
                let mut f = self.pick();
                let n = self.below(f.len());
                f.truncate(n);
                (Kind::Truncated, f)
            }
            27..45 => {
                let mut f = self.pick();
                for _ in 0..=self.below(8) {
                    let bit = self.below(f.len() * 8);
                    f[bit / 8] ^= 1 << (bit % 8);
                }
                (Kind::BitFlips, f)
            }
            45..53 => {
                let mut f = self.pick();
                let start = self.below(f.len());
                let run = 1 + self.below(4);
                for b in f.iter_mut().skip(start).take(run) {
                    *b = self.rng.next_u32() as u8;
                }
                (Kind::Overwrite, f)
            }
            53..68 => (Kind::FieldChange, self.field_change()),
            68..73 => {
                let a = self.pick();
                let b = self.pick();
                let cut = self.below(a.len().min(64) + 1);
                let mut f = a[..cut].to_vec();
                f.extend_from_slice(b.get(cut..).unwrap_or_default());
                (Kind::Splice, f)
            }
            73..78 => (Kind::Garbage, self.garbage()),
            78..93 => (Kind::Fragment, self.fragment()),
            _ => (Kind::Reframed, self.reframed()),
        }
    }

    /// A valid IPv4 frame with one header field changed, checksums repaired so the change is
    /// seen by the layer that owns the field.
    fn field_change(&mut self) -> Vec<u8> {
        let mut f = self.pick_ipv4();
        let ip = 14;
        match self.below(10) {
            0 => {
                let choices = [0x45, 0x46, 0x44, 0x4f, 0x65, 0x40];
                f[ip] = choices[self.below(choices.len())];
            }
            1 => {
                let total = match self.below(3) {
                    0 => self.rng.next_u32() as u16,
                    1 => (f.len() - ip) as u16 + 1 + self.below(16) as u16,
                    _ => (f.len() - ip).saturating_sub(1 + self.below(40)) as u16,
                };
                f[ip + 2..ip + 4].copy_from_slice(&total.to_be_bytes());
            }
            2 | 3 => {
                let v = self.rng.next_u32() as u16;
                let v = if self.rng.chance(0.5) { v & 0x3f07 } else { v };
                f[ip + 6..ip + 8].copy_from_slice(&v.to_be_bytes());
            }
            4 => {
                let choices = [PROTO_ICMP, PROTO_TCP, PROTO_UDP, 2, 47, 132];
                f[ip + 9] = if self.rng.chance(0.8) {
                    choices[self.below(choices.len())]
                } else {
                    self.rng.next_u32() as u8
                };
            }
            5 => {
                let choices = [
                    PEER_IP,
                    host(1 + self.below(250) as u8).1,
                    Ipv4Addr::UNSPECIFIED,
                    Ipv4Addr::LOCALHOST,
                    Ipv4Addr::new(224, 0, 0, 5),
                    Ipv4Addr::BROADCAST,
                    OUR_IP,
                    SUBNET_BROADCAST,
                    Ipv4Addr::new(240, 1, 2, 3),
                    Ipv4Addr::from(self.rng.next_u32()),
                ];
                let a = choices[self.below(choices.len())];
                f[ip + 12..ip + 16].copy_from_slice(&a.octets());
            }
            6 => {
                let choices = [
                    OUR_IP,
                    SUBNET_BROADCAST,
                    Ipv4Addr::BROADCAST,
                    ALL_HOSTS,
                    Ipv4Addr::new(10, 77, 0, 9),
                    Ipv4Addr::from(self.rng.next_u32()),
                ];
                let a = choices[self.below(choices.len())];
                f[ip + 16..ip + 20].copy_from_slice(&a.octets());
            }
            _ => {
                // Transport header bytes: ports, lengths, ICMP type and code.
                for _ in 0..=self.below(3) {
                    let at = ip + 20 + self.below(8);
                    if let Some(b) = f.get_mut(at) {
                        *b = if self.rng.chance(0.5) {
                            self.rng.next_u32() as u8
                        } else {
                            *b ^ (1 << self.below(8))
                        };
                    }
                }
            }
        }
        let transport = self.rng.chance(0.75);
        repair_checksums(&mut f, transport);
        f
    }

    /// Random bytes; half of the time behind a plausible Ethernet header.
    fn garbage(&mut self) -> Vec<u8> {
        let len = if self.rng.chance(0.1) {
            1500 + self.below(100)
        } else {
            self.below(200)
        };
        let mut f = vec![0; len];
        self.rng.fill(&mut f);
        if len >= 14 && self.rng.chance(0.5) {
            let dst = [OUR_MAC, MacAddr::BROADCAST][self.below(2)];
            f[..6].copy_from_slice(&dst.0);
            f[6..12].copy_from_slice(&PEER_MAC.0);
            let t = [ETH_ARP, ETH_IPV4][self.below(2)];
            f[12..14].copy_from_slice(&t.to_be_bytes());
            if t == ETH_IPV4 && len >= 34 && self.rng.chance(0.5) {
                f[14] = 0x45;
                repair_checksums(&mut f, false);
            }
        }
        f
    }

    /// A well-formed fragment of one of a few datagrams, at a random place: reassembly
    /// completes now and then, and overlaps, duplicates, holes and limits happen too.
    fn fragment(&mut self) -> Vec<u8> {
        let ident = 0x100 + self.below(12) as u16;
        let (mac, src) = if self.rng.chance(0.7) {
            (PEER_MAC, PEER_IP)
        } else {
            host(40 + self.below(4) as u8)
        };
        let protocol = [PROTO_UDP, PROTO_ICMP][usize::from(ident % 2)];
        let offset = if self.rng.chance(0.95) {
            8 * self.below(600)
        } else {
            8 * self.below(8192)
        };
        let more = self.rng.chance(0.7);
        let len = if more {
            8 * (1 + self.below(185))
        } else {
            self.below(1481)
        };
        // Bytes depend on the position only, so a repeated fragment is an exact duplicate.
        let data: Vec<u8> = (offset..offset + len)
            .map(|i| (i as u8) ^ (ident as u8))
            .collect();
        let p = ipv4(src, OUR_IP, protocol, ident, (offset, more), &data);
        eth(OUR_MAC, mac, ETH_IPV4, &p)
    }

    /// A valid frame with its Ethernet framing changed: padding, other addresses.
    fn reframed(&mut self) -> Vec<u8> {
        let mut f = self.pick();
        match self.below(4) {
            0 => {
                let extra = 1 + self.below(1600);
                f.resize(f.len() + extra, 0xee);
            }
            1 => {
                let dst = [OTHER_MAC, ALL_HOSTS_MAC, MacAddr([0x33, 0x33, 0, 0, 0, 1])];
                f[..6].copy_from_slice(&dst[self.below(dst.len())].0);
            }
            2 => {
                let src = [OUR_MAC, MacAddr::BROADCAST, ALL_HOSTS_MAC, OTHER_MAC];
                f[6..12].copy_from_slice(&src[self.below(src.len())].0);
            }
            _ => {
                let t = [0x86dd_u16, 0x8100, 0x88cc, ETH_ARP, ETH_IPV4];
                f[12..14].copy_from_slice(&t[self.below(t.len())].to_be_bytes());
            }
        }
        f
    }
}

/// Rewrites the IPv4 header checksum, and with `transport` the ICMP or UDP checksum of an
/// unfragmented datagram, wherever the lengths make that possible.
fn repair_checksums(f: &mut [u8], transport: bool) {
    if f.len() < 34 || f[12..14] != ETH_IPV4.to_be_bytes() {
        return;
    }
    let ihl = usize::from(f[14] & 0x0f) * 4;
    if ihl < 20 || f.len() < 14 + ihl {
        return;
    }
    f[24..26].copy_from_slice(&[0, 0]);
    let sum = inet_checksum(&[&f[14..14 + ihl]]);
    f[24..26].copy_from_slice(&sum.to_be_bytes());
    let total = usize::from(u16::from_be_bytes([f[16], f[17]]));
    let fragment = u16::from_be_bytes([f[20], f[21]]) & 0x3fff != 0;
    if !transport || fragment || total < ihl || f.len() < 14 + total {
        return;
    }
    let src = Ipv4Addr::new(f[26], f[27], f[28], f[29]);
    let dst = Ipv4Addr::new(f[30], f[31], f[32], f[33]);
    let protocol = f[23];
    let payload = &mut f[14 + ihl..14 + total];
    if payload.len() < 8 {
        return;
    }
    if protocol == PROTO_ICMP {
        payload[2..4].copy_from_slice(&[0, 0]);
        let sum = inet_checksum(&[payload]);
        payload[2..4].copy_from_slice(&sum.to_be_bytes());
    } else if protocol == PROTO_UDP {
        let len = usize::from(u16::from_be_bytes([payload[4], payload[5]]));
        if (8..=payload.len()).contains(&len) {
            payload[6..8].copy_from_slice(&[0, 0]);
            let sum = match udp_checksum(src, dst, &payload[..len]) {
                0 => 0xffff,
                s => s,
            };
            payload[6..8].copy_from_slice(&sum.to_be_bytes());
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Checks.

/// What the Ethernet layer must do with a frame, judged independently of the core: a drop
/// reason, or `None` when the frame goes on to ARP or IPv4.
fn ethernet_verdict(f: &[u8], mtu: usize) -> Option<DropReason> {
    if f.len() < 14 {
        return Some(DropReason::EthTruncated);
    }
    if f.len() - 14 > mtu + 8 {
        return Some(DropReason::EthOversize);
    }
    let (dst, src) = (&f[..6], &f[6..12]);
    if dst != OUR_MAC.0 && dst != MacAddr::BROADCAST.0 && dst != ALL_HOSTS_MAC.0 {
        return Some(DropReason::EthNotForUs);
    }
    if src == OUR_MAC.0 || src[0] & 1 == 1 {
        return Some(DropReason::EthBadSource);
    }
    match u16::from_be_bytes([f[12], f[13]]) {
        ETH_ARP | ETH_IPV4 => None,
        _ => Some(DropReason::EthUnsupportedType),
    }
}

/// What the core sent.
#[derive(Debug, Default)]
struct Emitted {
    frames: u64,
    arp: u64,
    ipv4: u64,
    fragments: u64,
    icmp: u64,
    udp: u64,
    largest: usize,
}

/// Checks one emitted frame: size, parseable, from us, ARP or IPv4 with valid checksums.
fn check_emitted(f: &[u8], mtu: usize, seen: &mut Emitted) {
    seen.frames += 1;
    seen.largest = seen.largest.max(f.len());
    assert!(f.len() <= mtu + 14, "emitted frame of {} bytes", f.len());
    assert!(
        SlicedPacket::from_ethernet(f).is_ok(),
        "emitted frame does not parse: {f:02x?}"
    );
    assert_eq!(&f[6..12], &OUR_MAC.0, "emitted from our MAC");
    match u16::from_be_bytes([f[12], f[13]]) {
        ETH_ARP => {
            assert_eq!(f.len(), 42, "ARP frame");
            seen.arp += 1;
        }
        ETH_IPV4 => {
            seen.ipv4 += 1;
            let ip = &f[14..];
            assert_eq!(ip[0], 0x45, "IPv4 without options");
            let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
            assert_eq!(total, ip.len(), "total length");
            assert_eq!(inet_checksum(&[&ip[..20]]), 0, "IPv4 header checksum");
            let flags_offset = u16::from_be_bytes([ip[6], ip[7]]);
            if flags_offset & 0x3fff != 0 {
                if flags_offset & 0x2000 != 0 {
                    assert_eq!((ip.len() - 20) % 8, 0, "non-final fragment size");
                }
                seen.fragments += 1;
                return;
            }
            let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
            let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
            assert_eq!(src, OUR_IP, "emitted from our address");
            let payload = &ip[20..];
            match ip[9] {
                PROTO_ICMP => {
                    assert_eq!(inet_checksum(&[payload]), 0, "ICMP checksum");
                    seen.icmp += 1;
                }
                PROTO_UDP => {
                    assert_eq!(
                        usize::from(u16::from_be_bytes([payload[4], payload[5]])),
                        payload.len()
                    );
                    assert_eq!(udp_checksum(src, dst, payload), 0, "UDP checksum");
                    seen.udp += 1;
                }
                PROTO_TCP => {
                    let seg = etherparse::TcpSlice::from_slice(payload).expect("TCP header");
                    let sum = seg.calc_checksum_ipv4(src.octets(), dst.octets()).unwrap();
                    assert_eq!(sum, seg.checksum(), "TCP checksum");
                    assert!(!(seg.syn() && seg.fin()), "no SYN+FIN");
                }
                p => panic!("emitted IPv4 protocol {p}"),
            }
        }
        t => panic!("emitted EtherType {t:#06x}"),
    }
}

/// The largest value each table reached.
#[derive(Debug, Default)]
struct Peaks(tapstack::iface::Footprint);

impl Peaks {
    fn check(&mut self, fp: tapstack::iface::Footprint, l: &Limits, frame: u64) {
        let ctx = |what: &str| format!("{what} over its limit after frame {frame}: {fp:?}");
        assert!(
            fp.arp_entries <= l.arp_cache_entries,
            "{}",
            ctx("ARP cache")
        );
        assert!(
            fp.pending_packets <= l.arp_pending_packets,
            "{}",
            ctx("pending packets")
        );
        assert!(
            fp.pending_bytes <= l.arp_pending_bytes,
            "{}",
            ctx("pending bytes")
        );
        assert!(
            fp.reassembly_datagrams <= l.reassembly_datagrams,
            "{}",
            ctx("reassembly datagrams")
        );
        assert!(
            fp.reassembly_bytes <= l.reassembly_bytes,
            "{}",
            ctx("reassembly bytes")
        );
        assert!(fp.udp_sockets <= l.udp_sockets, "{}", ctx("UDP sockets"));
        assert!(
            fp.udp_bytes <= fp.udp_sockets * 2 * l.udp_queue_bytes,
            "{}",
            ctx("UDP queues")
        );
        assert!(fp.events <= l.events, "{}", ctx("events"));
        let p = &mut self.0;
        p.arp_entries = p.arp_entries.max(fp.arp_entries);
        p.pending_packets = p.pending_packets.max(fp.pending_packets);
        p.pending_bytes = p.pending_bytes.max(fp.pending_bytes);
        p.reassembly_datagrams = p.reassembly_datagrams.max(fp.reassembly_datagrams);
        p.reassembly_bytes = p.reassembly_bytes.max(fp.reassembly_bytes);
        p.udp_sockets = p.udp_sockets.max(fp.udp_sockets);
        p.udp_bytes = p.udp_bytes.max(fp.udp_bytes);
        p.events = p.events.max(fp.events);
    }
}

fn event_name(e: &Event) -> &'static str {
    match e {
        Event::AddressReady(_) => "address_ready",
        Event::AddressConflict { .. } => "address_conflict",
        Event::AddressRejected { .. } => "address_rejected",
        Event::NeighbourUnreachable(_) => "neighbour_unreachable",
        Event::LeaseAcquired { .. } => "lease_acquired",
        Event::LeaseRenewed { .. } => "lease_renewed",
        Event::LeaseLost(_) => "lease_lost",
        Event::LeaseDeclined(_) => "lease_declined",
        Event::Ipv6AddressReady(_) => "ipv6_address_ready",
        Event::Ipv6AddressDuplicate { .. } => "ipv6_address_duplicate",
        Event::Ipv6AddressConflict { .. } => "ipv6_address_conflict",
        Event::Ipv6AddressExpired(_) => "ipv6_address_expired",
        Event::Ipv6NeighbourUnreachable(_) => "ipv6_neighbour_unreachable",
    }
}

fn limits() -> Limits {
    Limits {
        arp_cache_entries: 16,
        arp_pending_packets: 8,
        arp_pending_bytes: 16 * 1024,
        reassembly_datagrams: 8,
        reassembly_bytes: 64 * 1024,
        reassembly_max_fragments: 32,
        reassembly_timeout: Duration::from_secs(5),
        udp_queue_datagrams: 16,
        udp_queue_bytes: 16 * 1024,
        icmp_errors_per_sec: 10,
        icmp_error_burst: 5,
        events: 16,
        ..Limits::default()
    }
}

#[test]
fn a_million_mutated_frames() {
    let started = WallClock::now();
    let limits = limits();
    let mut config = Config::new(OUR_MAC, Some(Ipv4Cidr::new(OUR_IP, 24).unwrap()));
    config.gateway = Some(PEER_IP);
    config.seed = SEED;
    config.arp.probe_count = 0;
    config.limits = limits.clone();
    let mtu = config.mtu;
    let mut host = Host::with_standard_services(Interface::new(config).unwrap()).unwrap();
    let sink = host.iface_mut().udp_bind(SINK_PORT).unwrap();

    let mut generator = Generator::new(SEED);
    let mut kinds: BTreeMap<Kind, u64> = BTreeMap::new();
    let mut expected_eth: BTreeMap<DropReason, u64> = BTreeMap::new();
    let mut events: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut emitted = Emitted::default();
    let mut peaks = Peaks::default();
    let mut sink_read = 0u64;
    let mut now = Instant::from_secs(1);

    for i in 1..=FRAMES {
        let (kind, frame) = generator.next();
        *kinds.entry(kind).or_default() += 1;
        if let Some(r) = ethernet_verdict(&frame, mtu) {
            *expected_eth.entry(r).or_default() += 1;
        }
        now = now + Duration::from_micros(generator.rng.below(2000));
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            host.receive(now, &frame, &mut |f| check_emitted(f, mtu, &mut emitted));
            if i % POLL_EVERY == 0 {
                host.poll(now, &mut |f| check_emitted(f, mtu, &mut emitted));
            }
        }));
        if let Err(e) = outcome {
            eprintln!(
                "frame {i} ({kind:?}) at {now}, {} bytes: {frame:02x?}",
                frame.len()
            );
            panic::resume_unwind(e);
        }
        while let Some(e) = host.iface_mut().poll_event() {
            *events.entry(event_name(&e)).or_default() += 1;
        }
        if i % DRAIN_EVERY == 0 {
            while host.iface_mut().udp_recv_from(sink).is_some() {
                sink_read += 1;
            }
        }
        if i % CHECK_EVERY == 0 {
            peaks.check(host.iface().footprint(), &limits, i);
            let s = host.iface().stats();
            assert_eq!(s.rx_frames, i);
            assert_eq!(
                s.rx_frames,
                s.rx_handled + s.total_drops(),
                "after frame {i}"
            );
        }
    }

    // A quiet minute: timers run out and every incomplete datagram is freed.
    let fed_until = now;
    for s in 1..=60 {
        host.poll(fed_until + Duration::from_secs(s), &mut |f| {
            check_emitted(f, mtu, &mut emitted)
        });
    }
    let quiet = host.iface().footprint();
    peaks.check(quiet, &limits, FRAMES);
    let elapsed = started.elapsed();

    let s = host.iface().stats().clone();
    println!("fuzz: {FRAMES} frames, seed {SEED:#x}, {elapsed:.2?} wall, {fed_until} virtual");
    println!("generated: {kinds:?}");
    println!("{s}");
    println!("drops by reason:");
    for &r in DropReason::ALL {
        println!("  {:<24} {:>8}", r.name(), s.drops(r));
    }
    println!("events: {events:?}");
    println!("emitted: {emitted:?}");
    println!("sink socket read: {sink_read}");
    println!("peak footprint: {:?}", peaks.0);
    println!("after a quiet minute: {quiet:?}");

    // Every frame is accounted for.
    assert_eq!(s.rx_frames, FRAMES);
    assert_eq!(s.rx_frames, s.rx_handled + s.total_drops());
    assert_eq!(
        s.total_drops(),
        DropReason::ALL.iter().map(|&r| s.drops(r)).sum::<u64>()
    );
    for r in [
        DropReason::EthTruncated,
        DropReason::EthOversize,
        DropReason::EthNotForUs,
        DropReason::EthBadSource,
        DropReason::EthUnsupportedType,
    ] {
        let want = expected_eth.get(&r).copied().unwrap_or(0);
        assert_eq!(s.drops(r), want, "{r}: the Ethernet filter miscounted");
        assert!(want > 0, "{r} never generated");
    }

    // The mutations reach deep, and valid traffic still gets through.
    let reached = s.nonzero_drops().count();
    assert!(
        reached >= 25,
        "only {reached} of {} drop reasons reached",
        DropReason::COUNT
    );
    assert!(
        s.rx_handled >= FRAMES / 10,
        "{} frames handled",
        s.rx_handled
    );
    assert!(s.arp_replies_sent > 0 && s.arp_learned > 0);
    assert!(s.icmp_echo_replied > 0 && s.icmp_errors_sent > 0);
    assert!(s.icmp_errors_rate_limited > 0);
    assert!(s.ipv4_reassembled > 0 && s.ipv4_reassembly_timeouts > 0);
    assert!(s.udp_delivered > 0 && s.udp_sent > 0);
    assert!(emitted.fragments > 0 && emitted.udp > 0 && emitted.arp > 0);
    assert_eq!(
        emitted.frames, s.tx_frames,
        "every frame sent went through emit"
    );

    // Nothing is left in reassembly once its timers have run.
    assert_eq!(
        (quiet.reassembly_datagrams, quiet.reassembly_bytes),
        (0, 0),
        "reassembly buffers freed"
    );
}

// ------------------------------------------------------------------------------------------------
// IPv6.

mod v6 {
    //! Mutations of valid IPv6 frames (NDP, echo, fragments, extension headers, UDP, TCP), with
    //! upper-layer checksums and payload lengths repaired half the time so that the mutations
    //! reach past the outer checks, into an interface with IPv6 on.

    use super::*;
    use std::net::{Ipv6Addr, SocketAddrV6};
    use tapstack::ipv6::{self, NextHeader};
    use tapstack::{Ipv6Cidr, Ipv6Config};

    const FRAMES6: u64 = 200_000;
    const SEED6: u64 = 0x7a95_7ac4_0006;
    const ETH_IPV6: u16 = 0x86dd;

    pub(super) fn ours() -> Ipv6Addr {
        "fd77::2".parse().unwrap()
    }

    fn peer() -> Ipv6Addr {
        "fd77::1".parse().unwrap()
    }

    fn peer_ll() -> Ipv6Addr {
        frame::link_local(PEER_MAC.0)
    }

    fn packet(src: Ipv6Addr, dst: Ipv6Addr, nh: u8, hop: u8, body: &[u8]) -> Vec<u8> {
        let dst_mac = if dst.is_multicast() {
            MacAddr(frame::multicast_mac(dst))
        } else {
            OUR_MAC
        };
        eth(
            dst_mac,
            PEER_MAC,
            ETH_IPV6,
            &frame::ipv6(src, dst, nh, hop, body),
        )
    }

    pub(super) fn corpus6() -> Vec<Vec<u8>> {
        let mut c = Vec::new();
        let group = frame::solicited_node(ours());
        let all = "ff02::1".parse::<Ipv6Addr>().unwrap();
        let m = frame::neighbor_solicit(peer(), group, ours(), Some(PEER_MAC.0));
        c.push(packet(peer(), group, 58, 255, &m));
        for solicited in [true, false] {
            let dst = if solicited { ours() } else { all };
            let flags = frame::AdvertFlags {
                router: false,
                solicited,
                override_entry: true,
            };
            let m = frame::neighbor_advert(peer(), dst, flags, peer(), Some(PEER_MAC.0));
            c.push(packet(peer(), dst, 58, 255, &m));
        }
        let advert = frame::RouterAdvert {
            cur_hop_limit: 64,
            router_lifetime: 30,
            source_ll: Some(PEER_MAC.0),
            mtu: Some(1400),
            prefixes: vec![frame::PrefixInfo {
                prefix_len: 64,
                on_link: true,
                autonomous: true,
                valid_lifetime: 30,
                preferred_lifetime: 20,
                prefix: "fd78::".parse().unwrap(),
            }],
            ..Default::default()
        };
        c.push(packet(
            peer_ll(),
            all,
            58,
            255,
            &advert.message(peer_ll(), all),
        ));
        for len in [8usize, 100, 1400] {
            let m = frame::echo_v6(peer(), ours(), 128, 1, len as u16, &pattern(len, 6));
            c.push(packet(peer(), ours(), 58, 64, &m));
        }
        // A 3000-byte echo in three fragments, and one behind a Destination Options header.
        let m = frame::echo_v6(peer(), ours(), 128, 2, 9, &pattern(3000, 7));
        for (i, chunk) in m.chunks(1232).enumerate() {
            let more = (i + 1) * 1232 < m.len();
            let f = frame::fragment_header(58, i * 1232, more, 0x5eed, chunk);
            c.push(packet(peer(), ours(), 44, 64, &f));
        }
        let m = frame::echo_v6(peer(), ours(), 128, 3, 3, b"options");
        let d = frame::options_header(58, &[], &m);
        c.push(packet(peer(), ours(), 60, 64, &d));
        for port in [ECHO_PORT, CLOSED_PORT, 53] {
            let u = frame::udp_v6(
                SocketAddrV6::new(peer(), 40000, 0, 0),
                SocketAddrV6::new(ours(), port, 0, 0),
                &pattern(40, 8),
            );
            c.push(packet(peer(), ours(), 17, 64, &u));
        }
        let syn = frame::Tcp::new(40001, 80, 1000, 0, frame::flags::SYN)
            .option(frame::TcpOption::Mss(1440));
        c.push(packet(
            peer(),
            ours(),
            6,
            64,
            &syn.segment_v6(peer(), ours(), &[]),
        ));
        c
    }

    /// Repairs the payload length and, for ICMPv6, UDP and TCP right after the fixed header,
    /// the checksum.
    pub(super) fn repair(f: &mut [u8]) {
        if f.len() < 14 + 40 || f[12..14] != ETH_IPV6.to_be_bytes() {
            return;
        }
        let len = (f.len() - 54).min(usize::from(u16::MAX)) as u16;
        f[18..20].copy_from_slice(&len.to_be_bytes());
        let (nh, at) = (
            f[20],
            match f[20] {
                58 => 2,
                17 => 6,
                6 => 16,
                _ => return,
            },
        );
        let mut a = [0u8; 16];
        a.copy_from_slice(&f[22..38]);
        let src = Ipv6Addr::from(a);
        a.copy_from_slice(&f[38..54]);
        let dst = Ipv6Addr::from(a);
        let body = &mut f[54..];
        if body.len() < at + 2 {
            return;
        }
        body[at..at + 2].copy_from_slice(&[0, 0]);
        let sum = ipv6::upper_layer_checksum(src, dst, nh, body);
        body[at..at + 2].copy_from_slice(&sum.to_ne_bytes());
    }

    /// Checks a frame the core sent: within the MTU, parseable, from us, with valid checksums.
    pub(super) fn check(f: &[u8], mtu: usize, ipv6_frames: &mut u64) {
        assert!(f.len() <= mtu + 14, "emitted frame of {} bytes", f.len());
        assert!(SlicedPacket::from_ethernet(f).is_ok(), "emitted: {f:02x?}");
        assert_eq!(&f[6..12], &OUR_MAC.0);
        if f[12..14] != ETH_IPV6.to_be_bytes() {
            return;
        }
        *ipv6_frames += 1;
        let (ip, payload) =
            ipv6::parse(&f[14..]).unwrap_or_else(|e| panic!("emitted IPv6 ({e:?}): {f:02x?}"));
        match ip.next_header {
            NextHeader::Icmp | NextHeader::Udp | NextHeader::Tcp => {
                let nh = u8::from(ip.next_header);
                assert_eq!(
                    ipv6::upper_layer_checksum(ip.src, ip.dst, nh, payload),
                    0,
                    "checksum of emitted {nh}: {f:02x?}"
                );
            }
            NextHeader::Fragment => {
                if payload[3] & 1 == 1 {
                    assert_eq!((payload.len() - 8) % 8, 0, "non-final fragment size");
                }
            }
            other => panic!("emitted next header {other:?}"),
        }
    }

    #[test]
    fn mutated_ipv6_frames() {
        let mut limits = limits();
        limits.ndp_cache_entries = 8;
        limits.ndp_pending_packets = 4;
        limits.ndp_pending_bytes = 16 * 1024;
        let mut config = Config::new(OUR_MAC, Some(Ipv4Cidr::new(OUR_IP, 24).unwrap()));
        config.seed = SEED6;
        config.arp.probe_count = 0;
        config.limits = limits.clone();
        config.ipv6 = Some(Ipv6Config {
            addresses: vec![Ipv6Cidr::new(ours(), 64).unwrap()],
            dad_transmits: 0,
            ..Ipv6Config::default()
        });
        let mtu = config.mtu;
        let mut host = Host::with_standard_services(Interface::new(config).unwrap()).unwrap();
        let corpus = corpus6();
        let mut rng = Rng::new(SEED6, "fuzz6");
        let mut now = Instant::from_secs(1);
        let mut emitted = 0u64;
        for i in 1..=FRAMES6 {
            let mut f = corpus[rng.below(corpus.len() as u64) as usize].clone();
            let valid = rng.below(10) == 0;
            if !valid {
                for _ in 0..=rng.below(3) {
                    if f.len() <= 14 {
                        break;
                    }
                    let at = 14 + rng.below((f.len() - 14) as u64) as usize;
                    match rng.below(4) {
                        0 => f[at] ^= 1 << rng.below(8),
                        1 => f[at] = rng.next_u32() as u8,
                        2 => f.truncate(at),
                        _ => {
                            f[at] =
                                [0, 1, 5, 43, 44, 58, 59, 60, 0xc2, 0x9e][rng.below(10) as usize]
                        }
                    }
                }
                if rng.below(2) == 0 {
                    repair(&mut f);
                }
            }
            now = now + Duration::from_micros(rng.below(5000));
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
                host.receive(now, &f, &mut |out| check(out, mtu, &mut emitted));
                if i % POLL_EVERY == 0 {
                    host.poll(now, &mut |out| check(out, mtu, &mut emitted));
                }
            }));
            if let Err(e) = outcome {
                eprintln!("IPv6 frame {i} at {now}, {} bytes: {f:02x?}", f.len());
                panic::resume_unwind(e);
            }
            while host.iface_mut().poll_event().is_some() {}
            if i % CHECK_EVERY == 0 {
                let fp = host.iface().footprint();
                assert!(fp.ndp_entries <= limits.ndp_cache_entries, "{fp:?}");
                assert!(
                    fp.ndp_pending_packets <= limits.ndp_pending_packets,
                    "{fp:?}"
                );
                assert!(fp.ndp_pending_bytes <= limits.ndp_pending_bytes, "{fp:?}");
                assert!(
                    fp.ipv6_reassembly_datagrams <= limits.reassembly_datagrams,
                    "{fp:?}"
                );
                assert!(fp.events <= limits.events, "{fp:?}");
                assert!(host.iface().ipv6_addresses().len() <= limits.ipv6_addresses);
                let s = host.iface().stats();
                assert_eq!(
                    s.rx_frames,
                    s.rx_handled + s.total_drops(),
                    "after frame {i}"
                );
            }
        }
        for s in 1..=90 {
            host.poll(now + Duration::from_secs(s), &mut |out| {
                check(out, mtu, &mut emitted)
            });
        }
        let s = host.iface().stats().clone();
        println!("fuzz6: {FRAMES6} frames, seed {SEED6:#x}\n{s}");
        let reached: Vec<_> = s
            .nonzero_drops()
            .filter(|(r, _)| {
                let n = r.name();
                n.starts_with("ipv6_") || n.starts_with("icmpv6_") || n.starts_with("ndp_")
            })
            .collect();
        println!("IPv6 drop reasons reached: {reached:?}");
        assert!(
            reached.len() >= 15,
            "only {} IPv6 drop reasons reached",
            reached.len()
        );
        assert!(s.icmpv6_echo_replied > 0 && s.icmpv6_errors_sent > 0);
        assert!(s.ipv6_reassembled > 0 && s.ndp_adverts_sent > 0 && s.ndp_router_adverts_rx > 0);
        assert!(emitted > 0 && s.tx_frames >= emitted);
        assert_eq!(host.iface().footprint().ipv6_reassembly_datagrams, 0);
    }
}

// ------------------------------------------------------------------------------------------------
// The IP-only medium.

mod ip_medium {
    //! A million mutated bare IPv4 and IPv6 packets (the IPv4 and IPv6 corpora without their
    //! Ethernet headers, plus garbage) into a host on an IP-only link: no panic, bounds held,
    //! every packet accounted for, the link-level drops matching an independent classification,
    //! and whatever leaves is a bare IP packet from us with valid checksums, never ARP or NDP
    //! resolution.

    use super::*;
    use tapstack::device::Medium;
    use tapstack::{Ipv6Cidr, Ipv6Config};

    const PACKETS: u64 = 1_000_000;
    const SEED_IP: u64 = 0x7a95_7ac4_00ff;

    /// The IP packet inside an Ethernet frame of the corpora (`None` for ARP).
    fn unframe(f: &[u8]) -> Option<Vec<u8>> {
        let t = u16::from_be_bytes([*f.get(12)?, *f.get(13)?]);
        (t == ETH_IPV4 || t == 0x86dd).then(|| f[14..].to_vec())
    }

    /// The packet in a frame the Ethernet checks and repairs of the other tests understand.
    fn frame_of(packet: &[u8], src: MacAddr) -> Vec<u8> {
        let t = match packet.first().map(|b| b >> 4) {
            Some(6) => 0x86dd,
            _ => ETH_IPV4,
        };
        eth(OUR_MAC, src, t, packet)
    }

    /// What the link must do with a packet, judged independently of the core.
    fn link_verdict(p: &[u8], mtu: usize) -> Option<DropReason> {
        if p.len() > mtu {
            return Some(DropReason::EthOversize);
        }
        match p.first().map(|b| b >> 4) {
            Some(4) | Some(6) => None,
            _ => Some(DropReason::EthUnsupportedType),
        }
    }

    /// Checks a packet the core sent, through the Ethernet-framed checks of the other tests.
    fn check(p: &[u8], mtu: usize, seen: &mut Emitted, v6: &mut u64) {
        match p.first().map(|b| b >> 4) {
            Some(4) => check_emitted(&frame_of(p, OUR_MAC), mtu, seen),
            Some(6) => {
                seen.frames += 1;
                super::v6::check(&frame_of(p, OUR_MAC), mtu, v6);
            }
            _ => panic!("emitted a packet that is not IP: {p:02x?}"),
        }
    }

    #[test]
    fn a_million_mutated_ip_packets() {
        let started = WallClock::now();
        let mut limits = limits();
        limits.ndp_cache_entries = 8;
        let mut config = Config::new(OUR_MAC, Some(Ipv4Cidr::new(OUR_IP, 24).unwrap()));
        config.medium = Medium::Ip;
        config.seed = SEED_IP;
        config.limits = limits.clone();
        config.ipv6 = Some(Ipv6Config {
            addresses: vec![Ipv6Cidr::new(super::v6::ours(), 64).unwrap()],
            ..Ipv6Config::default()
        });
        let mtu = config.mtu;
        let mut host = Host::with_standard_services(Interface::new(config).unwrap()).unwrap();
        let sink = host.iface_mut().udp_bind(SINK_PORT).unwrap();

        let corpus: Vec<Vec<u8>> = corpus()
            .iter()
            .chain(super::v6::corpus6().iter())
            .filter_map(|f| unframe(f))
            .collect();
        assert!(corpus.len() > 20, "corpus of {}", corpus.len());
        let mut rng = Rng::new(SEED_IP, "fuzz-ip");
        let mut now = Instant::from_secs(1);
        let mut expected: BTreeMap<DropReason, u64> = BTreeMap::new();
        let mut emitted = Emitted::default();
        let mut v6_emitted = 0u64;
        let mut peaks = Peaks::default();
        let pick = |rng: &mut Rng| corpus[rng.below(corpus.len() as u64) as usize].clone();

        for i in 1..=PACKETS {
            let mut p = pick(&mut rng);
            match rng.below(20) {
                // As it is: valid traffic keeps the services busy.
                0..3 => {}
                // Garbage, with a plausible version nibble most of the time.
                3..5 => {
                    let len = if rng.chance(0.05) {
                        mtu + 1 + rng.below(64) as usize
                    } else {
                        rng.below(120) as usize
                    };
                    p = vec![0; len];
                    rng.fill(&mut p);
                    if let Some(b) = p.first_mut() {
                        let v = [0x40, 0x60, 0x40, 0x60, 0x50, 0x00][rng.below(6) as usize];
                        *b = v | (*b & 0x0f);
                    }
                }
                // Truncated.
                5..8 => {
                    let cut = rng.below(p.len() as u64 + 1) as usize;
                    p.truncate(cut);
                }
                // Spliced with another packet.
                8..10 => {
                    let other = pick(&mut rng);
                    let cut = rng.below(p.len().min(64) as u64 + 1) as usize;
                    p.truncate(cut);
                    p.extend_from_slice(other.get(cut..).unwrap_or_default());
                }
                // Bit flips and overwrites in the headers, checksums repaired most of the
                // time so that the change reaches the layer that owns the field.
                _ => {
                    for _ in 0..=rng.below(3) {
                        if p.is_empty() {
                            break;
                        }
                        let at = rng.below(p.len().min(64) as u64) as usize;
                        if rng.chance(0.5) {
                            p[at] ^= 1 << rng.below(8);
                        } else {
                            p[at] = rng.next_u32() as u8;
                        }
                    }
                    if rng.chance(0.75) {
                        let mut f = frame_of(&p, PEER_MAC);
                        repair_checksums(&mut f, true);
                        super::v6::repair(&mut f);
                        p = f[14..].to_vec();
                    }
                }
            }
            if let Some(r) = link_verdict(&p, mtu) {
                *expected.entry(r).or_default() += 1;
            }
            now = now + Duration::from_micros(rng.below(2000));
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
                host.receive(now, &p, &mut |out| {
                    check(out, mtu, &mut emitted, &mut v6_emitted)
                });
                if i % POLL_EVERY == 0 {
                    host.poll(now, &mut |out| {
                        check(out, mtu, &mut emitted, &mut v6_emitted)
                    });
                }
            }));
            if let Err(e) = outcome {
                eprintln!("packet {i} at {now}, {} bytes: {p:02x?}", p.len());
                panic::resume_unwind(e);
            }
            while host.iface_mut().poll_event().is_some() {}
            if i % DRAIN_EVERY == 0 {
                while host.iface_mut().udp_recv_from(sink).is_some() {}
            }
            if i % CHECK_EVERY == 0 {
                let fp = host.iface().footprint();
                peaks.check(fp, &limits, i);
                assert!(fp.ndp_entries <= limits.ndp_cache_entries, "{fp:?}");
                assert!(
                    fp.ipv6_reassembly_datagrams <= limits.reassembly_datagrams,
                    "{fp:?}"
                );
                assert_eq!(fp.arp_entries, 0, "nothing to learn without ARP");
                assert_eq!(
                    fp.pending_packets + fp.ndp_pending_packets,
                    0,
                    "nothing waits"
                );
                let s = host.iface().stats();
                assert_eq!(s.rx_frames, i);
                assert_eq!(
                    s.rx_frames,
                    s.rx_handled + s.total_drops(),
                    "after packet {i}"
                );
            }
        }
        for sec in 1..=90 {
            host.poll(now + Duration::from_secs(sec), &mut |out| {
                check(out, mtu, &mut emitted, &mut v6_emitted)
            });
        }
        let quiet = host.iface().footprint();
        let s = host.iface().stats().clone();
        println!(
            "fuzz-ip: {PACKETS} packets, seed {SEED_IP:#x}, {:.2?} wall\n{s}",
            started.elapsed()
        );
        println!(
            "emitted: {emitted:?}, IPv6 {v6_emitted}; after a quiet minute and a half: {quiet:?}"
        );

        assert_eq!(s.rx_frames, PACKETS);
        assert_eq!(s.rx_frames, s.rx_handled + s.total_drops());
        for r in [DropReason::EthOversize, DropReason::EthUnsupportedType] {
            let want = expected.get(&r).copied().unwrap_or(0);
            assert_eq!(s.drops(r), want, "{r}: the IP link miscounted");
            assert!(want > 0, "{r} never generated");
        }
        for r in [
            DropReason::EthTruncated,
            DropReason::EthNotForUs,
            DropReason::EthBadSource,
        ] {
            assert_eq!(s.drops(r), 0, "{r} on a link without link headers");
        }
        let reached = s.nonzero_drops().count();
        assert!(reached >= 25, "only {reached} drop reasons reached");
        assert!(s.rx_handled >= PACKETS / 10, "{} handled", s.rx_handled);
        // Both families answer; nothing is resolved, probed or announced.
        assert!(s.icmp_echo_replied > 0 && s.icmpv6_echo_replied > 0);
        assert!(s.ipv4_reassembled > 0 && s.ipv6_reassembled > 0);
        assert!(s.udp_delivered > 0 && s.udp_sent > 0 && s.tcp_segments_sent > 0);
        assert_eq!(s.arp_probes_sent + s.arp_replies_sent + s.arp_learned, 0);
        assert_eq!(s.ndp_solicits_sent + s.ndp_dad_sent, 0);
        assert_eq!(emitted.arp, 0);
        assert!(emitted.ipv4 > 0 && v6_emitted > 0);
        assert_eq!(
            emitted.frames, s.tx_frames,
            "every packet sent went through emit"
        );
        assert_eq!(
            (quiet.reassembly_datagrams, quiet.ipv6_reassembly_datagrams),
            (0, 0),
            "reassembly buffers freed"
        );
    }
}
