//! Interoperability over IPv6 with smoltcp on the in-memory wire.
//!
//! smoltcp (fd77::1) and our host (fd77::2, after duplicate address detection) share one wire
//! and one virtual clock. smoltcp resolves us with Neighbor Discovery, pings us with ICMPv6
//! echo requests of several sizes, then opens a TCP connection to our echo service over IPv6
//! and gets back, byte for byte, what it sent. Our counters must show no drop that IPv6 should
//! not cause.

#[path = "smoltcp/peer.rs"]
#[allow(dead_code)]
mod peer;
#[path = "smoltcp/sim.rs"]
#[allow(dead_code)]
mod sim;

use std::error::Error;

use core::time::Duration;

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::socket::{icmp, tcp};
use smoltcp::wire::{Icmpv6Packet, Icmpv6Repr, IpAddress, IpEndpoint};
use tapstack::DropReason;

use sim::{Setup, Sim, HOST_IP6, PEER_IP6};

type TestResult = Result<(), Box<dyn Error>>;

const IDENT: u16 = 0x5ca6;

fn setup() -> Setup {
    Setup {
        ipv6: true,
        ..Setup::default()
    }
}

fn ping_payload(seq: u16) -> Vec<u8> {
    (0..16 + 97 * usize::from(seq))
        .map(|i| (i * 7 + usize::from(seq)) as u8)
        .collect()
}

#[test]
fn smoltcp_pings_us_over_ipv6() -> TestResult {
    let mut sim = Sim::new(&setup())?;
    let took = sim.wait_ready6()?;
    assert!(
        took >= Duration::from_secs(1),
        "DAD waits RetransTimer first: {took:?}"
    );
    let h = sim.peer.icmp_socket(icmp::Endpoint::Ident(IDENT), 4, 2048);
    let caps = ChecksumCapabilities::ignored();
    let pings = 12u16;
    let mut replies = Vec::new();
    for seq in 0..pings {
        let data = ping_payload(seq);
        let repr = Icmpv6Repr::EchoRequest {
            ident: IDENT,
            seq_no: seq,
            data: &data,
        };
        let socket = sim.peer.sockets.get_mut::<icmp::Socket>(h);
        let buf = socket.send(repr.buffer_len(), IpAddress::Ipv6(HOST_IP6))?;
        repr.emit(
            &PEER_IP6,
            &HOST_IP6,
            &mut Icmpv6Packet::new_unchecked(buf),
            &caps,
        );
        sim.run_until(
            |s| {
                let socket = s.peer.sockets.get_mut::<icmp::Socket>(h);
                let Ok((bytes, from)) = socket.recv() else {
                    return false;
                };
                let packet = Icmpv6Packet::new_checked(bytes).expect("ICMPv6 packet");
                let parsed = Icmpv6Repr::parse(
                    &HOST_IP6,
                    &PEER_IP6,
                    &packet,
                    &ChecksumCapabilities::default(),
                );
                if let Ok(Icmpv6Repr::EchoReply {
                    ident,
                    seq_no,
                    data,
                }) = parsed
                {
                    replies.push((from, ident, seq_no, data.to_vec()));
                }
                true
            },
            Duration::from_secs(5),
        )?;
    }
    assert_eq!(replies.len(), usize::from(pings));
    for (seq, (from, ident, seq_no, data)) in replies.into_iter().enumerate() {
        assert_eq!(from, IpAddress::Ipv6(HOST_IP6));
        assert_eq!((ident, usize::from(seq_no)), (IDENT, seq));
        assert_eq!(data, ping_payload(seq_no));
    }
    sim.settle(Duration::from_secs(10))?;
    let stats = sim.host.iface().stats();
    assert_eq!(stats.icmpv6_echo_replied, u64::from(pings));
    assert_eq!(stats.ndp_dad_duplicates, 0);
    for reason in [
        DropReason::Icmpv6BadChecksum,
        DropReason::NdpBadOption,
        DropReason::NdpBadHopLimit,
        DropReason::Ipv6Truncated,
        DropReason::Ipv6NotForUs,
    ] {
        assert_eq!(stats.drops(reason), 0, "{reason}: {stats}");
    }
    assert!(
        sim.host
            .iface()
            .ndp_cache()
            .any(|(ip, e)| ip == PEER_IP6 && e.mac.is_some()),
        "smoltcp is in our neighbour cache"
    );
    assert_eq!(stats.rx_frames, stats.rx_handled + stats.total_drops());
    Ok(())
}

#[test]
fn smoltcp_tcp_echo_over_ipv6() -> TestResult {
    let mut sim = Sim::new(&setup())?;
    sim.wait_ready6()?;
    let socket = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; 64 * 1024]),
        tcp::SocketBuffer::new(vec![0; 64 * 1024]),
    );
    let h = sim.peer.sockets.add(socket);
    let remote = IpEndpoint::new(IpAddress::Ipv6(HOST_IP6), 7);
    {
        let cx = sim.peer.iface.context();
        sim.peer
            .sockets
            .get_mut::<tcp::Socket>(h)
            .connect(cx, remote, 49_152)?;
    }
    let total = 512 * 1024usize;
    let data: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
    let mut sent = 0usize;
    let mut got = Vec::with_capacity(total);
    sim.run_until(
        |s| {
            let socket = s.peer.sockets.get_mut::<tcp::Socket>(h);
            if socket.can_send() && sent < total {
                sent += socket.send_slice(&data[sent..]).unwrap_or(0);
                if sent == total {
                    socket.close();
                }
            }
            while socket.can_recv() {
                let mut buf = [0u8; 16 * 1024];
                match socket.recv_slice(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            got.len() >= total
        },
        Duration::from_secs(60),
    )?;
    assert_eq!(got.len(), total);
    assert!(got == data, "echoed bytes differ");
    let mss = sim
        .host
        .iface()
        .tcp()
        .iter()
        .find(|c| c.remote().is_ipv6())
        .map(|c| c.mss());
    assert_eq!(mss, Some(1440), "MSS over IPv6 is MTU - 60");
    sim.settle(Duration::from_secs(30))?;
    let stats = sim.host.iface().stats();
    assert!(stats.ipv6_delivered > 0 && stats.tcp_segments_sent > 0);
    assert_eq!(stats.drops(DropReason::TcpBadChecksum), 0, "{stats}");
    assert_eq!(stats.rx_frames, stats.rx_handled + stats.total_drops());
    Ok(())
}
