//! Interoperability with smoltcp on the in-memory wire.
//!
//! A smoltcp host (10.0.0.1) and ours (10.0.0.2, UDP echo on port 7) share one [`Wire`] and one
//! virtual clock ([`sim::Sim`]). smoltcp resolves our MAC by ARP, pings us (also with datagrams
//! it must fragment), exchanges datagrams with our echo service and meets our port unreachable;
//! then all of it again over a lossy wire, where the application resends what goes unanswered,
//! and the whole exchange must repeat frame for frame under the same seed.
//!
//! [`Wire`]: tapstack::device::memory::Wire

// The test target's root is this file, so its modules are named by path.
#[path = "smoltcp/frames.rs"]
mod frames;
#[path = "smoltcp/peer.rs"]
mod peer;
#[path = "smoltcp/sim.rs"]
mod sim;

use std::collections::BTreeMap;
use std::error::Error;

use core::time::Duration;

use smoltcp::socket::icmp;
use smoltcp::wire::{
    ArpOperation, EthernetAddress, Icmpv4DstUnreachable, IpAddress, IpEndpoint, IpListenEndpoint,
    IpProtocol, UdpPacket,
};
use tapstack::device::impair::ImpairStats;
use tapstack::device::memory::End;
use tapstack::{DropReason, Instant, Stats};

use frames::{decode, Decoded};
use peer::IcmpMessage;
use sim::{Limits, Sent, Setup, Sim, SimError, HOST_END, HOST_IP, HOST_MAC, PEER_END, PEER_IP};

type TestResult = Result<(), Box<dyn Error>>;

/// The identifier of smoltcp's pings.
const IDENT: u16 = 0x5ca1;
/// Pings per test.
const PINGS: u16 = 10;
/// smoltcp's UDP port.
const PEER_PORT: u16 = 40_000;
/// Sizes of the datagrams sent to the echo service (all distinct, so a reply names its request).
const UDP_SIZES: [usize; 20] = [
    1, 2, 3, 7, 8, 9, 63, 64, 65, 127, 128, 255, 256, 511, 512, 999, 1000, 1023, 1024, 1400,
];
/// The lossy wire.
const LOSSY: &str = "loss=10%,dup=2%,reorder=5%,delay=1ms";
/// The lossy wire's seed.
const LOSSY_SEED: u64 = 7;
/// How long the application waits for an answer before resending.
const RTO: Duration = Duration::from_millis(200);

fn ping_payload(seq: u16) -> Vec<u8> {
    let len = 16 + 37 * usize::from(seq);
    (0..len)
        .map(|i| (usize::from(seq) * 31 + i) as u8)
        .collect()
}

fn udp_payload(index: usize) -> Vec<u8> {
    (0..UDP_SIZES[index])
        .map(|i| (index * 7 + i * 13) as u8)
        .collect()
}

fn host_ip() -> IpAddress {
    IpAddress::Ipv4(HOST_IP)
}

fn eth(mac: [u8; 6]) -> EthernetAddress {
    EthernetAddress(mac)
}

/// Frames sent by `from` from index `since` of the record on, decoded.
fn decoded(sim: &Sim, from: End, since: usize) -> Vec<Decoded> {
    sim.link
        .sent_by(from, since)
        .map(|s| decode(&s.frame))
        .collect()
}

/// Requests resent until answered: the application side of a lossy exchange.
struct Retry {
    rto: Duration,
    last_sent: Vec<Option<Instant>>,
    answered: Vec<bool>,
    sends: u64,
}

impl Retry {
    fn new(n: usize, rto: Duration) -> Self {
        Retry {
            rto,
            last_sent: vec![None; n],
            answered: vec![false; n],
            sends: 0,
        }
    }

    /// Requests to (re)send now, among the first `window` unanswered ones: never sent, or
    /// unanswered for `rto`.
    fn due(&self, now: Instant, window: usize) -> Vec<usize> {
        (0..self.answered.len())
            .filter(|&i| !self.answered[i])
            .take(window)
            .filter(|&i| self.last_sent[i].is_none_or(|t| t + self.rto <= now))
            .collect()
    }

    /// Records an attempt; `queued` when the socket took it.
    fn sent(&mut self, i: usize, now: Instant, queued: bool) {
        self.last_sent[i] = Some(now);
        if queued {
            self.sends += 1;
        }
    }

    /// Records an answer; false when it was already answered.
    fn answer(&mut self, i: usize) -> bool {
        !std::mem::replace(&mut self.answered[i], true)
    }

    fn done(&self) -> bool {
        self.answered.iter().all(|&a| a)
    }

    /// When the earliest unanswered request is due again.
    fn next_deadline(&self) -> Option<Instant> {
        (0..self.answered.len())
            .filter(|&i| !self.answered[i])
            .filter_map(|i| self.last_sent[i].map(|t| t + self.rto))
            .min()
    }
}

/// Pings our host with each payload (sequence number = index), at most `window` outstanding,
/// resending unanswered ones; checks every reply. Returns (requests queued, duplicate replies).
fn ping_all(
    sim: &mut Sim,
    payloads: &[Vec<u8>],
    window: usize,
    max: Duration,
) -> Result<(u64, u64), SimError> {
    let h = sim.peer.icmp_socket(icmp::Endpoint::Ident(IDENT), 64, 2048);
    let mut retry = Retry::new(payloads.len(), RTO);
    let mut duplicates = 0;
    sim.run_until(
        |s| {
            while let Some((from, msg)) = s.peer.recv_icmp(h) {
                assert_eq!(from, host_ip());
                let IcmpMessage::EchoReply { ident, seq, data } = msg else {
                    panic!("expected an echo reply, got {msg:?}");
                };
                assert_eq!(ident, IDENT);
                let sent = payloads
                    .get(usize::from(seq))
                    .unwrap_or_else(|| panic!("reply to a ping never sent: seq {seq}"));
                assert_eq!(&data, sent, "payload of the reply to seq {seq}");
                if !retry.answer(usize::from(seq)) {
                    duplicates += 1;
                }
            }
            for i in retry.due(s.now, window) {
                let queued = s
                    .peer
                    .send_ping(h, HOST_IP, IDENT, i as u16, &payloads[i])
                    .is_ok();
                retry.sent(i, s.now, queued);
            }
            if let Some(t) = retry.next_deadline() {
                s.wake_at(t);
            }
            retry.done()
        },
        max,
    )?;
    Ok((retry.sends, duplicates))
}

/// Sends every datagram of `UDP_SIZES` to our echo service, resending unanswered ones; checks
/// every echo. Returns (datagrams queued, duplicate echoes).
fn echo_all(sim: &mut Sim, max: Duration) -> Result<(u64, u64), SimError> {
    let h = sim.peer.udp_socket(PEER_PORT, 64, 1500);
    let echo = IpEndpoint::new(host_ip(), 7);
    let mut retry = Retry::new(UDP_SIZES.len(), RTO);
    let mut duplicates = 0;
    sim.run_until(
        |s| {
            while let Some((from, data)) = s.peer.recv_udp(h) {
                assert_eq!(from, echo, "echo from the wrong endpoint");
                let i = UDP_SIZES
                    .iter()
                    .position(|&n| n == data.len())
                    .unwrap_or_else(|| panic!("echo of {} bytes was never sent", data.len()));
                assert_eq!(data, udp_payload(i), "echo of datagram {i} changed");
                if !retry.answer(i) {
                    duplicates += 1;
                }
            }
            for i in retry.due(s.now, UDP_SIZES.len()) {
                let queued = s.peer.send_udp(h, echo, &udp_payload(i)).is_ok();
                retry.sent(i, s.now, queued);
            }
            if let Some(t) = retry.next_deadline() {
                s.wake_at(t);
            }
            retry.done()
        },
        max,
    )?;
    Ok((retry.sends, duplicates))
}

#[test]
fn smoltcp_resolves_our_mac_and_pings_us() -> TestResult {
    let mut sim = Sim::clean()?;
    sim.wait_ready()?;
    let start = sim.link.sent.len();
    let h = sim.peer.icmp_socket(icmp::Endpoint::Ident(IDENT), 4, 1024);

    for seq in 0..PINGS {
        let data = ping_payload(seq);
        sim.peer.send_ping(h, HOST_IP, IDENT, seq, &data)?;
        let mut reply = None;
        sim.run_until(
            |s| {
                reply = reply.take().or_else(|| s.peer.recv_icmp(h));
                reply.is_some()
            },
            Duration::from_secs(3),
        )?;
        let (from, msg) = reply.ok_or("no reply")?;
        assert_eq!(from, host_ip());
        assert_eq!(
            msg,
            IcmpMessage::EchoReply {
                ident: IDENT,
                seq,
                data
            }
        );
    }
    sim.settle(Duration::from_secs(5))?;
    assert_eq!(sim.peer.recv_icmp(h), None, "one reply per ping");

    let stats = sim.host.iface().stats();
    assert_eq!(stats.icmp_echo_replied, u64::from(PINGS));
    assert_eq!(stats.arp_replies_sent, 1);
    // RFC 826: the requester's mapping is learned from its request, so we never ask.
    assert_eq!(stats.arp_requests_sent, 0);
    assert_eq!(stats.total_drops(), 0, "{stats}");

    // smoltcp asked for us by broadcast, we answered with our MAC, and it used it.
    let peer = decoded(&sim, PEER_END, start);
    let first = peer.first().ok_or("smoltcp sent nothing")?;
    assert!(
        matches!(first, Decoded::Arp { eth_dst, op: ArpOperation::Request, sender_mac, sender_ip, target_ip, .. }
            if *eth_dst == EthernetAddress::BROADCAST && *sender_mac == eth(sim::PEER_MAC)
                && *sender_ip == PEER_IP && *target_ip == HOST_IP),
        "{first:?}"
    );
    let arp_requests = peer
        .iter()
        .filter(|d| matches!(d, Decoded::Arp { .. }))
        .count();
    assert_eq!(arp_requests, 1);
    let ours = decoded(&sim, HOST_END, start);
    let replies: Vec<_> = ours
        .iter()
        .filter(|d| matches!(d, Decoded::Arp { op, .. } if *op == ArpOperation::Reply))
        .collect();
    assert_eq!(
        replies,
        [&Decoded::Arp {
            eth_dst: eth(sim::PEER_MAC),
            op: ArpOperation::Reply,
            sender_mac: eth(HOST_MAC),
            sender_ip: HOST_IP,
            target_mac: eth(sim::PEER_MAC),
            target_ip: PEER_IP,
        }]
    );
    let requests: Vec<_> = peer
        .iter()
        .filter(|d| matches!(d, Decoded::Ipv4 { .. }))
        .collect();
    assert_eq!(requests.len(), usize::from(PINGS));
    for d in requests {
        assert_eq!(d.eth_dst(), Some(eth(HOST_MAC)));
    }
    for d in ours.iter().filter(|d| matches!(d, Decoded::Ipv4 { .. })) {
        let Decoded::Ipv4 {
            eth_dst,
            src,
            dst,
            protocol,
            checksum_ok,
            ..
        } = d
        else {
            unreachable!()
        };
        assert_eq!(
            (*eth_dst, *src, *dst, *protocol, *checksum_ok),
            (eth(sim::PEER_MAC), HOST_IP, PEER_IP, IpProtocol::Icmp, true)
        );
    }
    Ok(())
}

#[test]
fn fragmented_pings_are_reassembled_both_ways() -> TestResult {
    // smoltcp fragments only datagrams that fit its 1500-byte fragmentation buffer, so the wire's
    // MTU is lowered instead: 576 bytes, 552 bytes of payload per fragment.
    let mtu = 576;
    let per_fragment = (mtu - 20) / 8 * 8;
    let mut sim = Sim::new(&Setup {
        mtu,
        ..Setup::default()
    })?;
    sim.wait_ready()?;
    let h = sim.peer.icmp_socket(icmp::Endpoint::Ident(IDENT), 2, 2048);

    // Just fits, one byte over, larger, and the largest smoltcp can fragment.
    let sizes = [548usize, 549, 1000, 1472];
    let mut fragments_each_way = 0;
    let mut fragmented = 0;
    for (seq, &size) in sizes.iter().enumerate() {
        let seq = seq as u16;
        let data: Vec<u8> = (0..size).map(|i| (i * 7 + size) as u8).collect();
        let mark = sim.link.sent.len();
        sim.peer.send_ping(h, HOST_IP, IDENT, seq, &data)?;
        let mut reply = None;
        sim.run_until(
            |s| {
                reply = reply.take().or_else(|| s.peer.recv_icmp(h));
                reply.is_some()
            },
            Duration::from_secs(3),
        )?;
        let (from, msg) = reply.ok_or("no reply")?;
        assert_eq!(from, host_ip());
        assert_eq!(
            msg,
            IcmpMessage::EchoReply {
                ident: IDENT,
                seq,
                data
            },
            "{size}-byte ping"
        );

        let icmp_len = 8 + size;
        let expected = if 20 + icmp_len <= mtu {
            1
        } else {
            icmp_len.div_ceil(per_fragment)
        };
        if expected > 1 {
            fragmented += 1;
            fragments_each_way += expected;
        }
        for end in [PEER_END, HOST_END] {
            let frames: Vec<_> = decoded(&sim, end, mark)
                .into_iter()
                .filter(|d| matches!(d, Decoded::Ipv4 { .. }))
                .collect();
            assert_eq!(
                frames.len(),
                expected,
                "{size}-byte ping, frames from {end:?}"
            );
            assert_eq!(
                frames.iter().filter(|d| d.is_fragment()).count(),
                if expected > 1 { expected } else { 0 }
            );
            let mut offset = 0;
            for (i, d) in frames.iter().enumerate() {
                let Decoded::Ipv4 {
                    more_frags,
                    frag_offset,
                    checksum_ok,
                    payload,
                    ..
                } = d
                else {
                    unreachable!()
                };
                assert!(*checksum_ok);
                assert_eq!(usize::from(*frag_offset), offset, "{size}: fragment {i}");
                assert_eq!(*more_frags, i + 1 < expected, "{size}: fragment {i}");
                assert!(payload.len() + 20 <= mtu);
                offset += payload.len();
            }
            assert_eq!(offset, icmp_len, "{size}: fragments cover the datagram");
        }
    }
    sim.settle(Duration::from_secs(5))?;

    let stats = sim.host.iface().stats();
    assert_eq!(stats.icmp_echo_replied, sizes.len() as u64);
    assert_eq!(stats.ipv4_reassembled, fragmented);
    assert_eq!(stats.ipv4_fragments_rx, fragments_each_way as u64);
    assert_eq!(stats.ipv4_fragments_tx, fragments_each_way as u64);
    assert_eq!(stats.total_drops(), 0, "{stats}");
    assert_eq!(sim.link.wire.oversize(), 0);
    Ok(())
}

#[test]
fn smoltcp_udp_datagrams_come_back_from_our_echo_service() -> TestResult {
    let mut sim = Sim::clean()?;
    sim.wait_ready()?;
    let h = sim.peer.udp_socket(PEER_PORT, 32, 1500);
    let echo = IpEndpoint::new(host_ip(), 7);
    for i in 0..UDP_SIZES.len() {
        sim.peer.send_udp(h, echo, &udp_payload(i))?;
    }
    let mut got: BTreeMap<usize, Vec<u8>> = BTreeMap::new();
    sim.run_until(
        |s| {
            while let Some((from, data)) = s.peer.recv_udp(h) {
                assert_eq!(from, echo);
                let i = UDP_SIZES
                    .iter()
                    .position(|&n| n == data.len())
                    .unwrap_or_else(|| panic!("echo of {} bytes was never sent", data.len()));
                assert!(got.insert(i, data).is_none(), "datagram {i} echoed twice");
            }
            got.len() == UDP_SIZES.len()
        },
        Duration::from_secs(3),
    )?;
    for (i, data) in &got {
        assert_eq!(*data, udp_payload(*i), "echo of datagram {i}");
    }
    sim.settle(Duration::from_secs(5))?;
    assert_eq!(sim.peer.recv_udp(h), None, "one echo per datagram");

    let stats = sim.host.iface().stats();
    assert_eq!(stats.udp_delivered, UDP_SIZES.len() as u64);
    assert_eq!(stats.udp_sent, UDP_SIZES.len() as u64);
    assert_eq!(stats.total_drops(), 0, "{stats}");

    // On the wire: 20 datagrams from port 7 to smoltcp's port, checksums valid.
    let mut echoed = 0;
    for d in decoded(&sim, HOST_END, 0) {
        let Decoded::Ipv4 {
            src,
            dst,
            protocol: IpProtocol::Udp,
            checksum_ok,
            payload,
            ..
        } = d
        else {
            continue;
        };
        let udp = UdpPacket::new_checked(&payload[..])?;
        assert!(checksum_ok);
        assert_eq!((udp.src_port(), udp.dst_port()), (7, PEER_PORT));
        assert!(udp.verify_checksum(&src.into(), &dst.into()));
        echoed += 1;
    }
    assert_eq!(echoed, UDP_SIZES.len());
    Ok(())
}

#[test]
fn udp_to_a_closed_port_gets_port_unreachable() -> TestResult {
    let mut sim = Sim::clean()?;
    sim.wait_ready()?;
    let udp_h = sim.peer.udp_socket(PEER_PORT, 4, 256);
    let errors = sim.peer.icmp_socket(
        icmp::Endpoint::Udp(IpListenEndpoint::from(PEER_PORT)),
        4,
        1024,
    );
    let data = b"is anyone there?";
    let mark = sim.link.sent.len();
    sim.peer
        .send_udp(udp_h, IpEndpoint::new(host_ip(), 9), data)?;

    let mut error = None;
    sim.run_until(
        |s| {
            error = error.take().or_else(|| s.peer.recv_icmp(errors));
            error.is_some()
        },
        Duration::from_secs(3),
    )?;
    let (from, msg) = error.ok_or("no ICMP error")?;
    assert_eq!(from, host_ip());
    let IcmpMessage::DstUnreachable {
        reason,
        src,
        dst,
        protocol,
        data: quoted,
    } = msg
    else {
        panic!("expected destination unreachable, got {msg:?}");
    };
    assert_eq!(reason, Icmpv4DstUnreachable::PortUnreachable);
    assert_eq!((src, dst, protocol), (PEER_IP, HOST_IP, IpProtocol::Udp));
    // The whole datagram is quoted (it is short): the UDP header, then the data.
    let sent: Vec<_> = decoded(&sim, PEER_END, mark)
        .into_iter()
        .filter_map(|d| match d {
            Decoded::Ipv4 {
                protocol: IpProtocol::Udp,
                payload,
                ..
            } => Some(payload),
            _ => None,
        })
        .collect();
    assert_eq!(sent.len(), 1);
    assert_eq!(quoted, sent[0]);
    assert_eq!(&quoted[8..], data);

    sim.settle(Duration::from_secs(5))?;
    assert_eq!(sim.peer.recv_udp(udp_h), None);
    assert_eq!(sim.peer.recv_icmp(errors), None, "a single error");
    // On the wire: exactly one ICMP type 3 code 3 from our end.
    let unreachables = decoded(&sim, HOST_END, mark)
        .into_iter()
        .filter(|d| {
            matches!(d, Decoded::Ipv4 { protocol: IpProtocol::Icmp, dst, payload, .. }
                if *dst == PEER_IP && payload.first() == Some(&3) && payload.get(1) == Some(&3))
        })
        .count();
    assert_eq!(unreachables, 1);

    let stats = sim.host.iface().stats();
    assert_eq!(stats.icmp_errors_sent, 1);
    assert_eq!(stats.drops(DropReason::UdpNoSocket), 1);
    assert_eq!(stats.total_drops(), 1, "{stats}");
    Ok(())
}

/// What a run over the lossy wire did.
#[derive(Debug)]
struct LossyRun {
    trace: Vec<Sent>,
    ping_sends: u64,
    ping_duplicates: u64,
    udp_sends: u64,
    udp_duplicates: u64,
    host: Stats,
    to_host: ImpairStats,
    to_peer: ImpairStats,
    end: Instant,
}

impl LossyRun {
    fn new(sim: Sim, pings: (u64, u64), udp: (u64, u64)) -> Self {
        LossyRun {
            ping_sends: pings.0,
            ping_duplicates: pings.1,
            udp_sends: udp.0,
            udp_duplicates: udp.1,
            host: sim.host.iface().stats().clone(),
            to_host: sim.link.wire.impairment(HOST_END).stats(),
            to_peer: sim.link.wire.impairment(PEER_END).stats(),
            end: sim.now,
            trace: sim.link.sent,
        }
    }

    fn print(&self, what: &str) {
        println!(
            "{what}: {} pings queued ({} duplicate replies), {} datagrams queued ({} duplicate \
             echoes), {} frames, done at {}",
            self.ping_sends,
            self.ping_duplicates,
            self.udp_sends,
            self.udp_duplicates,
            self.trace.len(),
            self.end
        );
        println!("  towards us:      {:?}", self.to_host);
        println!("  towards smoltcp: {:?}", self.to_peer);
        println!(
            "  our counters: {}",
            self.host.to_string().replace('\n', "\n  ")
        );
    }

    /// Our host saw exactly what the wire delivered to it, accounted for every frame, and put
    /// every frame it sent on the wire.
    fn check_accounting(&self) {
        let h = &self.host;
        let t = &self.to_host;
        assert_eq!(
            h.rx_frames,
            t.offered - t.dropped + t.duplicated - t.overflowed
        );
        assert_eq!(h.rx_frames, h.rx_handled + h.total_drops());
        assert_eq!(h.tx_frames, self.to_peer.offered);
    }
}

fn lossy_setup(mtu: usize, seed: u64) -> Result<Setup, Box<dyn Error>> {
    Ok(Setup {
        mtu,
        impair: LOSSY.parse()?,
        wire_seed: seed,
        ..Setup::default()
    })
}

/// Pings and datagrams to the echo service over the lossy wire, all outstanding at once.
fn lossy_run(seed: u64) -> Result<LossyRun, Box<dyn Error>> {
    let mut sim = Sim::new(&lossy_setup(1500, seed)?)?;
    sim.wait_ready()?;
    let payloads: Vec<_> = (0..PINGS).map(ping_payload).collect();
    let pings = ping_all(&mut sim, &payloads, payloads.len(), Duration::from_secs(60))?;
    let udp = echo_all(&mut sim, Duration::from_secs(60))?;
    sim.settle(Duration::from_secs(10))?;
    Ok(LossyRun::new(sim, pings, udp))
}

/// Pings that must be fragmented both ways (MTU 576), over the lossy wire, one at a time.
fn lossy_fragmented_run(seed: u64) -> Result<LossyRun, Box<dyn Error>> {
    let mut sim = Sim::new(&lossy_setup(576, seed)?)?;
    // smoltcp reassembles one datagram at a time; after a lost fragment it must give up on the
    // incomplete one before the resent ping's reply arrives.
    sim.peer
        .iface
        .set_reassembly_timeout(smoltcp::time::Duration::from_millis(150));
    sim.wait_ready()?;
    let payloads: Vec<Vec<u8>> = (0..PINGS)
        .map(|seq| {
            let len = 1200 + 25 * usize::from(seq);
            (0..len).map(|i| (i * 3 + usize::from(seq)) as u8).collect()
        })
        .collect();
    let pings = ping_all(&mut sim, &payloads, 1, Duration::from_secs(120))?;
    // Long enough for our incomplete datagrams to time out (30 s).
    sim.run_for(Duration::from_secs(35))?;
    assert_eq!(
        sim.host.iface().footprint().reassembly_datagrams,
        0,
        "every incomplete datagram expired"
    );
    Ok(LossyRun::new(sim, pings, (0, 0)))
}

#[test]
fn lossy_wire_pings_and_echoes_all_arrive_with_retries() -> TestResult {
    let run = lossy_run(LOSSY_SEED)?;
    run.print("lossy wire");
    // Everything arrived (ping_all and echo_all check each answer), and only thanks to resending.
    assert!(run.ping_sends > u64::from(PINGS), "{run:?}");
    assert!(run.udp_sends > UDP_SIZES.len() as u64, "{run:?}");
    assert!(run.to_host.dropped > 0 && run.to_peer.dropped > 0);
    run.check_accounting();
    // Every request or datagram that reached us was answered, resends and duplicates included.
    let h = &run.host;
    assert!(h.icmp_echo_replied >= u64::from(PINGS));
    assert!(h.icmp_echo_replied <= run.ping_sends + run.to_host.duplicated);
    assert!(h.udp_delivered >= UDP_SIZES.len() as u64);
    assert!(h.udp_delivered <= run.udp_sends + run.to_host.duplicated);
    assert_eq!(h.udp_sent, h.udp_delivered);
    assert_eq!(
        h.total_drops(),
        0,
        "nothing we receive here is droppable: {h}"
    );
    Ok(())
}

#[test]
fn lossy_wire_fragmented_pings_all_arrive_with_retries() -> TestResult {
    let run = lossy_fragmented_run(LOSSY_SEED)?;
    run.print("lossy wire, fragmented");
    assert!(run.ping_sends > u64::from(PINGS), "{run:?}");
    assert!(run.to_host.dropped > 0 && run.to_peer.dropped > 0);
    run.check_accounting();
    // Our side shows the losses: datagrams missing a fragment time out, duplicated fragments are
    // dropped.
    let h = &run.host;
    assert!(h.ipv4_reassembled >= u64::from(PINGS));
    assert!(
        h.ipv4_reassembly_timeouts + h.drops(DropReason::FragmentDuplicate) > 0,
        "{h}"
    );
    assert_eq!(
        h.total_drops(),
        h.drops(DropReason::FragmentDuplicate),
        "{h}"
    );
    Ok(())
}

#[test]
fn lossy_wire_runs_repeat_frame_for_frame() -> TestResult {
    type Run = fn(u64) -> Result<LossyRun, Box<dyn Error>>;
    for (name, run) in [
        ("pings and datagrams", lossy_run as Run),
        ("fragmented pings", lossy_fragmented_run),
    ] {
        let a = run(LOSSY_SEED)?;
        let b = run(LOSSY_SEED)?;
        if let Some(i) = (0..a.trace.len().min(b.trace.len())).find(|&i| a.trace[i] != b.trace[i]) {
            panic!(
                "{name}: runs differ at frame {i}:\n{:?}\n{:?}",
                a.trace[i], b.trace[i]
            );
        }
        assert_eq!(a.trace.len(), b.trace.len(), "{name}");
        assert_eq!(a.host, b.host, "{name}");
        assert_eq!((a.to_host, a.to_peer), (b.to_host, b.to_peer), "{name}");
        assert_eq!(a.end, b.end, "{name}");

        // The seed is what decides: another one gives another run.
        let c = run(LOSSY_SEED + 1)?;
        assert_ne!(a.trace, c.trace, "{name}");
    }
    Ok(())
}

#[test]
fn the_simulation_fails_instead_of_hanging() -> TestResult {
    // Nothing scheduled and a condition that never holds: a timeout at the deadline.
    let mut sim = Sim::clean()?;
    sim.wait_ready()?;
    sim.settle(Duration::from_secs(10))?;
    let before = sim.now;
    let err = sim
        .run_until(|_| false, Duration::from_secs(1))
        .unwrap_err();
    assert!(matches!(err, SimError::Timeout { idle: true, .. }), "{err}");
    assert_eq!(sim.now, before + Duration::from_secs(1));
    let err = sim.step().unwrap_err();
    assert_eq!(err, SimError::Idle { now: sim.now });

    // An application that keeps asking to be woken: the step limit stops it.
    let mut sim = Sim::new(&Setup {
        limits: Limits {
            max_steps: 100,
            ..Limits::default()
        },
        ..Setup::default()
    })?;
    let err = sim
        .run_until(
            |s| {
                let t = s.now + Duration::from_micros(1);
                s.wake_at(t);
                false
            },
            Duration::from_secs(3600),
        )
        .unwrap_err();
    assert!(matches!(err, SimError::StepLimit { .. }), "{err}");
    assert_eq!(sim.steps(), 101);
    Ok(())
}
