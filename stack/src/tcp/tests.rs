//! Two tapstack interfaces on the in-memory wire, talking TCP under virtual time.

// A test module: its parent declares it under #[cfg(test)], so it may unwrap.

use core::net::{IpAddr, Ipv4Addr, SocketAddr};
use core::time::Duration;

use crate::device::impair::ImpairConfig;
use crate::device::memory::{self, Stepper, Wire};
use crate::tcp::{self, SocketError, State};
use crate::{Config, Instant, Interface, MacAddr};

const A_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

/// Two interfaces on the wire: the harness, with this file's constructors and bounds.
type Pair = memory::Pair<Interface, Interface>;

fn iface(ip: Ipv4Addr, last: u8, seed: u64, tune: &dyn Fn(&mut Config)) -> Interface {
    let mut c = Config::new(
        MacAddr([2, 0, 0, 0, 0, last]),
        Some(format!("{ip}/24").parse().unwrap()),
    );
    c.seed = seed;
    c.arp.probe_count = 0;
    c.arp.announce_count = 0;
    c.tcp.time_wait = Duration::from_secs(2);
    tune(&mut c);
    Interface::new(c).unwrap()
}

impl Pair {
    fn new(impair: Option<&str>, seed: u64) -> Pair {
        Pair::with_sack(impair, seed, true)
    }

    fn with_sack(impair: Option<&str>, seed: u64, sack: bool) -> Pair {
        Pair::tuned(impair, seed, &move |c: &mut Config| c.tcp.sack = sack)
    }

    fn tuned(impair: Option<&str>, seed: u64, tune: &dyn Fn(&mut Config)) -> Pair {
        let wire = match impair {
            Some(spec) => Wire::impaired(1500, spec.parse::<ImpairConfig>().unwrap(), seed),
            None => Wire::new(1500),
        };
        let mut p = Pair::between(
            wire,
            iface(A_IP, 1, seed, tune),
            iface(B_IP, 2, seed + 1, tune),
        );
        p.step();
        p
    }

    /// Delivers what is due, polls both sides, and moves time to the next deadline.
    fn step(&mut self) {
        Stepper::step(self);
    }

    fn run_until(&mut self, done: impl FnMut(&mut Pair) -> bool, limit: Duration) {
        if let Err(e) = Stepper::run_until(self, done, limit, 4_999_999) {
            panic!("{e}");
        }
    }
}

fn pattern(n: usize, salt: u8) -> Vec<u8> {
    (0..n)
        .map(|i| ((i * 31 + usize::from(salt) * 7 + i / 251) % 256) as u8)
        .collect()
}

/// Opens a connection A -> B:port, moves `a_data` A->B and `b_data` B->A, closes both ways.
fn transfer(
    p: &mut Pair,
    a_data: &[u8],
    b_data: &[u8],
    limit: Duration,
) -> (tcp::Handle, tcp::Handle) {
    let listener = p.b.tcp_listen(5000, 8).unwrap();
    let ca =
        p.a.tcp_connect(p.now, SocketAddr::new(IpAddr::V4(B_IP), 5000))
            .unwrap();
    let mut cb = None;
    let (mut a_sent, mut b_sent) = (0, 0);
    let mut b_done = false;
    let (mut a_got, mut b_got) = (Vec::new(), Vec::new());
    let (mut a_eof, mut b_eof) = (false, false);
    let mut buf = vec![0u8; 65536];
    p.run_until(
        |p| {
            if cb.is_none() {
                cb = p.b.tcp_accept(listener);
            }
            if a_sent < a_data.len() {
                match p.a.tcp_send(ca, &a_data[a_sent..]) {
                    Ok(n) => a_sent += n,
                    Err(e) => panic!(
                        "a send: {e} at {}: a {:#?} b {:#?}",
                        p.now,
                        p.a.tcp_connection(ca),
                        cb.and_then(|h| p.b.tcp_connection(h))
                    ),
                }
                if a_sent == a_data.len() {
                    p.a.tcp_shutdown(ca);
                }
            }
            loop {
                match p.a.tcp_recv(ca, &mut buf) {
                    Ok(0) => break,
                    Ok(n) => a_got.extend_from_slice(&buf[..n]),
                    Err(SocketError::Closed) => {
                        a_eof = true;
                        break;
                    }
                    Err(e) => panic!("a recv: {e}"),
                }
            }
            if let Some(cb) = cb {
                if !b_done {
                    b_sent += p.b.tcp_send(cb, &b_data[b_sent..]).unwrap();
                    if b_sent == b_data.len() {
                        p.b.tcp_shutdown(cb);
                        b_done = true;
                    }
                }
                loop {
                    match p.b.tcp_recv(cb, &mut buf) {
                        Ok(0) => break,
                        Ok(n) => b_got.extend_from_slice(&buf[..n]),
                        Err(SocketError::Closed) => {
                            b_eof = true;
                            break;
                        }
                        Err(e) => panic!("b recv: {e}"),
                    }
                }
            }
            a_eof && b_eof
        },
        limit,
    );
    assert_eq!(b_got.len(), a_data.len());
    assert!(b_got == a_data, "A->B bytes differ");
    assert_eq!(a_got.len(), b_data.len());
    assert!(a_got == b_data, "B->A bytes differ");
    (ca, cb.unwrap())
}

#[test]
fn handshake_transfer_and_close_on_a_clean_wire() {
    let mut p = Pair::new(None, 1);
    let a_data = pattern(1 << 20, 1);
    let b_data = pattern(300_000, 2);
    let (ca, cb) = transfer(&mut p, &a_data, &b_data, Duration::from_secs(30));
    let c = p.a.tcp_connection(ca).unwrap();
    assert!(c.timestamps_enabled() && c.sack_enabled());
    assert_eq!(c.counters().retransmits, 0);
    assert_eq!(c.mss(), 1460 - 12);
    // Both FINs were exchanged; both sides end in TIME-WAIT or CLOSED.
    p.run_until(
        |p| {
            let sa = p.a.tcp_connection(ca).map(|c| c.state());
            let sb = p.b.tcp_connection(cb).map(|c| c.state());
            sa == Some(State::Closed) && sb == Some(State::Closed)
        },
        Duration::from_secs(10),
    );
}

#[test]
fn lossy_wire_still_delivers_everything_in_order() {
    let mut p = Pair::new(Some("loss=5%,reorder=5%,dup=1%,delay=1ms"), 7);
    let a_data = pattern(2 << 20, 3);
    let b_data = pattern(500_000, 4);
    let (ca, _) = transfer(&mut p, &a_data, &b_data, Duration::from_secs(600));
    let c = p.a.tcp_connection(ca).unwrap();
    assert!(
        c.counters().retransmits > 0,
        "losses were repaired by retransmission"
    );
}

#[test]
fn syn_to_a_closed_port_is_refused() {
    let mut p = Pair::new(None, 3);
    let ca =
        p.a.tcp_connect(p.now, SocketAddr::new(IpAddr::V4(B_IP), 4444))
            .unwrap();
    p.run_until(
        |p| {
            p.a.tcp_connection(ca)
                .is_some_and(|c| c.state() == State::Closed)
        },
        Duration::from_secs(5),
    );
    assert_eq!(
        p.a.tcp_connection(ca).unwrap().error(),
        Some(tcp::Error::Refused)
    );
    let mut buf = [0u8; 4];
    assert_eq!(
        p.a.tcp_recv(ca, &mut buf),
        Err(SocketError::Failed(tcp::Error::Refused))
    );
    assert_eq!(p.b.stats().drops(crate::DropReason::TcpNoSocket), 1);
}

#[test]
fn unanswered_syn_times_out_with_backoff() {
    let mut p = Pair::new(None, 4);
    // Nobody at 10.0.0.9: ARP fails first; use a listener-less peer that drops everything instead.
    let ca =
        p.a.tcp_connect(
            p.now,
            SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)), 80),
        )
        .unwrap();
    p.run_until(
        |p| {
            p.a.tcp_connection(ca)
                .is_some_and(|c| c.state() == State::Closed)
        },
        Duration::from_secs(3600),
    );
    assert_eq!(
        p.a.tcp_connection(ca).unwrap().error(),
        Some(tcp::Error::TimedOut)
    );
}

#[test]
fn sack_retransmits_fewer_bytes_than_newreno_alone() {
    let spec = Some("loss=5%,reorder=5%,dup=1%,delay=1ms");
    let a_data = pattern(4 << 20, 5);
    let mut with = Pair::with_sack(spec, 11, true);
    let (ca, _) = transfer(&mut with, &a_data, &[], Duration::from_secs(900));
    let on = *with.a.tcp_connection(ca).unwrap().counters();
    let mut without = Pair::with_sack(spec, 11, false);
    let (ca, _) = transfer(&mut without, &a_data, &[], Duration::from_secs(900));
    let off = *without.a.tcp_connection(ca).unwrap().counters();
    assert!(!without.a.tcp_connection(ca).unwrap().sack_enabled());
    eprintln!(
        "SACK on: {on:?}\nSACK off: {off:?}\ntime on {} off {}",
        with.now, without.now
    );
    assert!(on.sack_retransmits > 0);
    assert_eq!(off.sack_retransmits, 0);
    assert!(
        on.retransmitted_bytes < off.retransmitted_bytes,
        "SACK {} bytes vs {} without",
        on.retransmitted_bytes,
        off.retransmitted_bytes
    );
}

#[test]
fn cubic_delivers_on_a_lossy_wire() {
    let tune = |c: &mut Config| c.tcp.congestion = tcp::congestion::Algorithm::Cubic;
    let mut p = Pair::tuned(Some("loss=2%,reorder=2%,delay=2ms"), 13, &tune);
    let a_data = pattern(4 << 20, 6);
    let (ca, _) = transfer(&mut p, &a_data, &pattern(1000, 7), Duration::from_secs(900));
    let c = p.a.tcp_connection(ca).unwrap();
    assert!(c.counters().fast_retransmits > 0);
}

#[test]
fn syn_cookies_carry_connections_past_a_full_backlog() {
    let mut p = Pair::new(None, 21);
    let listener = p.b.tcp_listen(6000, 1).unwrap();
    let dst = SocketAddr::new(IpAddr::V4(B_IP), 6000);
    let clients: Vec<_> = (0..4)
        .map(|_| p.a.tcp_connect(p.now, dst).unwrap())
        .collect();
    let established = |p: &Pair| {
        clients.iter().all(|&h| {
            p.a.tcp_connection(h)
                .is_some_and(|c| c.state() == State::Established)
        })
    };
    p.run_until(|p| established(p), Duration::from_secs(5));
    let table = *p.b.tcp().counters();
    assert_eq!(table.syn_cookies_sent, 3, "{table:?}");
    // Cookie connections join the accept queue as the backlog allows: accept one at a time and
    // let each client send a greeting.
    for (i, &h) in clients.iter().enumerate() {
        p.a.tcp_send(h, format!("hello {i}").as_bytes()).unwrap();
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    let mut servers = Vec::new();
    p.run_until(
        |p| {
            while let Some(h) = p.b.tcp_accept(listener) {
                servers.push(h);
            }
            for &h in &servers {
                if let Ok(n) = p.b.tcp_recv(h, &mut buf) {
                    if n > 0 {
                        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
                    }
                }
            }
            got.len() == 4
        },
        Duration::from_secs(30),
    );
    got.sort();
    assert_eq!(got, ["hello 0", "hello 1", "hello 2", "hello 3"]);
    assert!(p.b.tcp().counters().syn_cookies_accepted >= 1);
    assert_eq!(p.b.tcp().counters().syn_cookies_rejected, 0);
}

/// Frames from 10.0.0.1 (02:..:01) to B, carrying `tcp` after a correct IPv4 header.
fn frame_to_b(tcp: &[u8]) -> Vec<u8> {
    use crate::ipv4::{self, EmitRepr, Protocol};
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    let repr = EmitRepr {
        src: A_IP,
        dst: B_IP,
        protocol: Protocol::Tcp,
        ttl: 64,
        ident: 1,
        dont_fragment: true,
    };
    ipv4::write_header(&mut f, &repr, tcp.len(), 0, false);
    f.extend_from_slice(tcp);
    f
}

/// A SYN from A:40000 to B:80 with an MSS option, then `mangle` applied and the checksum fixed.
fn mangled_syn(mangle: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    use crate::tcp::segment::{self, Flags, Options, Repr};
    let repr = Repr {
        src_port: 40000,
        dst_port: 80,
        seq: tcp::Seq(1000),
        flags: Flags {
            syn: true,
            ..Flags::default()
        },
        window: 1000,
        options: Options {
            mss: Some(1460),
            ..Options::default()
        },
        ..Repr::default()
    };
    let mut seg = Vec::new();
    segment::emit(
        &mut seg,
        &repr,
        IpAddr::V4(A_IP),
        IpAddr::V4(B_IP),
        [&[], &[]],
    );
    mangle(&mut seg);
    seg[16] = 0;
    seg[17] = 0;
    let sum = segment::checksum(IpAddr::V4(A_IP), IpAddr::V4(B_IP), &seg);
    seg[16..18].copy_from_slice(&sum.to_ne_bytes());
    frame_to_b(&seg)
}

#[test]
fn malformed_segments_are_dropped_and_counted() {
    use crate::DropReason;
    let mut p = Pair::new(None, 31);
    let _l = p.b.tcp_listen(80, 8).unwrap();
    let now = p.now;
    let mut out = Vec::new();
    let cases: [(Vec<u8>, DropReason); 5] = [
        (mangled_syn(|s| s[12] = 0x40), DropReason::TcpBadHeader),
        (mangled_syn(|s| s[12] = 0xf0), DropReason::TcpBadHeader),
        (mangled_syn(|s| s[21] = 40), DropReason::TcpBadOption),
        (mangled_syn(|s| s[13] = 0x03), DropReason::TcpBadFlags),
        (mangled_syn(|s| s[13] = 0x06), DropReason::TcpBadFlags),
    ];
    for (frame, reason) in &cases {
        let before = p.b.stats().drops(*reason);
        p.b.receive(now, frame, &mut |f| out.push(f.to_vec()));
        assert_eq!(p.b.stats().drops(*reason), before + 1, "{reason}");
    }
    // A corrupted checksum, then a truncated header.
    let mut bad_sum = mangled_syn(|_| {});
    let last = bad_sum.len() - 1;
    bad_sum[last] ^= 0xff;
    p.b.receive(now, &bad_sum, &mut |f| out.push(f.to_vec()));
    assert_eq!(p.b.stats().drops(DropReason::TcpBadChecksum), 1);
    let short = frame_to_b(&[0x9c, 0x40, 0x00, 0x50, 0, 0, 0]);
    p.b.receive(now, &short, &mut |f| out.push(f.to_vec()));
    assert_eq!(p.b.stats().drops(DropReason::TcpBadHeader), 3);
    p.b.poll(now, &mut |f| out.push(f.to_vec()));
    assert!(out.is_empty(), "nothing answers a malformed segment");
    assert!(p.b.tcp().is_empty());
    // The valid SYN gets a SYN,ACK.
    p.b.receive(now, &mangled_syn(|_| {}), &mut |f| out.push(f.to_vec()));
    assert_eq!(out.len(), 1);
}

#[test]
fn a_window_closed_forever_is_probed_with_backoff_and_never_given_up() {
    let mut p = Pair::new(None, 33);
    let listener = p.b.tcp_listen(7000, 8).unwrap();
    let ca =
        p.a.tcp_connect(p.now, SocketAddr::new(IpAddr::V4(B_IP), 7000))
            .unwrap();
    let data = pattern(1 << 20, 9);
    let mut sent = 0;
    let mut cb = None;
    // B accepts but never reads: its window closes, and stays closed for an hour.
    p.run_until(
        |p| {
            cb = cb.or_else(|| p.b.tcp_accept(listener));
            if let Ok(n) = p.a.tcp_send(ca, &data[sent..]) {
                sent += n;
            }
            p.now > Instant::from_secs(3600)
        },
        Duration::from_secs(4000),
    );
    let c = p.a.tcp_connection(ca).unwrap();
    assert_eq!(
        c.state(),
        State::Established,
        "zero window is not a failure (RFC 9293 MUST-36)"
    );
    assert_eq!(c.send_window(), 0);
    let probes = c.counters().window_probes;
    assert!(
        (8..200).contains(&probes),
        "backed-off probes, not a flood: {probes}"
    );
    let receiver = p.b.tcp_connection(cb.unwrap()).unwrap();
    assert_eq!(
        receiver.recv_queue(),
        256 * 1024,
        "the receiver's buffer is full and bounded"
    );
    assert!(sent < data.len());
}

/// An ICMP destination unreachable (code `code`, next-hop MTU `mtu`) from B quoting `frame`'s IP
/// datagram, in a frame to A.
fn icmp_unreachable_to_a(frame: &[u8], code: u8, mtu: u16) -> Vec<u8> {
    use crate::ipv4::{self, EmitRepr, Protocol};
    let quoted = &frame[14..14 + 28];
    let mut icmp = vec![3, code, 0, 0, 0, 0];
    icmp.extend_from_slice(&mtu.to_be_bytes());
    icmp.extend_from_slice(quoted);
    let sum = etherparse::checksum::Sum16BitWords::new()
        .add_slice(&icmp)
        .ones_complement();
    icmp[2..4].copy_from_slice(&sum.to_ne_bytes());
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
    let repr = EmitRepr {
        src: B_IP,
        dst: A_IP,
        protocol: Protocol::Icmp,
        ttl: 64,
        ident: 9,
        dont_fragment: false,
    };
    ipv4::write_header(&mut f, &repr, icmp.len(), 0, false);
    f.extend_from_slice(&icmp);
    f
}

#[test]
fn icmp_port_unreachable_aborts_a_connect() {
    let mut p = Pair::new(None, 41);
    // A first (refused) connection makes A learn B's MAC, so the next SYN leaves at once.
    let first =
        p.a.tcp_connect(p.now, SocketAddr::new(IpAddr::V4(B_IP), 5555))
            .unwrap();
    p.run_until(
        |p| {
            p.a.tcp_connection(first)
                .is_some_and(|c| c.state() == State::Closed)
        },
        Duration::from_secs(5),
    );
    let ca =
        p.a.tcp_connect(p.now, SocketAddr::new(IpAddr::V4(B_IP), 4444))
            .unwrap();
    let mut syn = None;
    p.a.poll(p.now, &mut |f| {
        if f.len() > 14 + 20 && f[14 + 9] == 6 {
            syn = Some(f.to_vec());
        }
    });
    let syn = syn.expect("the SYN");
    p.a.receive(p.now, &icmp_unreachable_to_a(&syn, 3, 0), &mut |_| {});
    p.a.poll(p.now, &mut |_| {});
    let c = p.a.tcp_connection(ca).unwrap();
    assert_eq!(
        (c.state(), c.error()),
        (State::Closed, Some(tcp::Error::Refused))
    );
}

#[test]
fn icmp_unreachable_quoting_a_sequence_number_not_in_flight_is_ignored() {
    let mut p = Pair::new(None, 41);
    let first =
        p.a.tcp_connect(p.now, SocketAddr::new(IpAddr::V4(B_IP), 5555))
            .unwrap();
    p.run_until(
        |p| {
            p.a.tcp_connection(first)
                .is_some_and(|c| c.state() == State::Closed)
        },
        Duration::from_secs(5),
    );
    let ca =
        p.a.tcp_connect(p.now, SocketAddr::new(IpAddr::V4(B_IP), 4444))
            .unwrap();
    let mut syn = None;
    p.a.poll(p.now, &mut |f| {
        if f.len() > 14 + 20 && f[14 + 9] == 6 {
            syn = Some(f.to_vec());
        }
    });
    let syn = syn.expect("the SYN");
    // A blind attacker's error: right ports, wrong sequence number (RFC 5927 4.1). Before the
    // check, this aborted the connect.
    let mut forged = syn.clone();
    let at = 14 + 20 + 4;
    let seq = u32::from_be_bytes(forged[at..at + 4].try_into().unwrap());
    for guess in [seq.wrapping_add(1), seq.wrapping_sub(1), seq ^ 0x8000_0000] {
        forged[at..at + 4].copy_from_slice(&guess.to_be_bytes());
        p.a.receive(p.now, &icmp_unreachable_to_a(&forged, 3, 0), &mut |_| {});
        p.a.poll(p.now, &mut |_| {});
        let c = p.a.tcp_connection(ca).unwrap();
        assert_eq!((c.state(), c.error()), (State::SynSent, None));
    }
    // The real quote still refuses it.
    p.a.receive(p.now, &icmp_unreachable_to_a(&syn, 3, 0), &mut |_| {});
    p.a.poll(p.now, &mut |_| {});
    let c = p.a.tcp_connection(ca).unwrap();
    assert_eq!(c.error(), Some(tcp::Error::Refused));
}

#[test]
fn fragmentation_needed_lowers_the_segment_size() {
    let mut p = Pair::new(None, 43);
    let listener = p.b.tcp_listen(8000, 4).unwrap();
    let ca =
        p.a.tcp_connect(p.now, SocketAddr::new(IpAddr::V4(B_IP), 8000))
            .unwrap();
    p.run_until(
        |p| p.b.tcp_accept(listener).is_some(),
        Duration::from_secs(5),
    );
    let before = p.a.tcp_connection(ca).unwrap().mss();
    assert_eq!(before, 1448);
    p.a.tcp_send(ca, &pattern(5000, 1)).unwrap();
    let mut data = None;
    p.a.poll(p.now, &mut |f| {
        if data.is_none() && f.len() > 1000 {
            data = Some(f.to_vec());
        }
    });
    let data = data.expect("a full segment");
    assert_eq!(data[14 + 6] & 0x40, 0x40, "TCP datagrams carry DF");
    p.a.receive(p.now, &icmp_unreachable_to_a(&data, 4, 1000), &mut |_| {});
    assert_eq!(p.a.tcp_connection(ca).unwrap().mss(), 1000 - 40 - 12);
}

/// Loss with heavy reordering: RACK's time-based loss detection and Eifel's undo keep the
/// transfer out of retransmission timeouts (with a DupThresh-only sender this took over 20 s of
/// virtual time and some 70 timeouts).
#[test]
fn reordering_and_loss_recover_without_a_timeout_per_loss() {
    let spec = Some("loss=5%,reorder=10%,dup=1%,delay=5ms");
    let a_data = pattern(4 << 20, 5);
    let mut p = Pair::new(spec, 77);
    let start = p.now;
    let (ca, _) = transfer(&mut p, &a_data, &[], Duration::from_secs(3000));
    let c = p.a.tcp_connection(ca).unwrap();
    let took = p.now.saturating_duration_since(start);
    assert!(
        took < Duration::from_secs(15),
        "{took:?}: {:?}",
        c.counters()
    );
    assert!(c.counters().timeouts < 30, "{:?}", c.counters());
    assert!(
        c.counters().spurious_recoveries > 0,
        "reordering was recognised"
    );
}

/// The acknowledgement number of a frame holding a TCP segment.
fn ack_of(frame: &[u8]) -> u32 {
    let eth = etherparse::SlicedPacket::from_ethernet(frame).unwrap();
    match eth.transport {
        Some(etherparse::TransportSlice::Tcp(t)) => t.acknowledgment_number(),
        other => panic!("not TCP: {other:?}"),
    }
}

/// The sequence number of a frame holding a TCP segment.
fn seq_of(frame: &[u8]) -> u32 {
    let eth = etherparse::SlicedPacket::from_ethernet(frame).unwrap();
    match eth.transport {
        Some(etherparse::TransportSlice::Tcp(t)) => t.sequence_number(),
        other => panic!("not TCP: {other:?}"),
    }
}

#[test]
fn in_order_data_is_acknowledged_once_per_batch_and_gaps_at_once() {
    let mut p = Pair::new(None, 11);
    let listener = p.b.tcp_listen(5000, 8).unwrap();
    let ca =
        p.a.tcp_connect(p.now, SocketAddr::new(IpAddr::V4(B_IP), 5000))
            .unwrap();
    let mut cb = None;
    p.run_until(
        |p| {
            cb = cb.or_else(|| p.b.tcp_accept(listener));
            cb.is_some() && p.a.tcp_connection(ca).unwrap().state() == State::Established
        },
        Duration::from_secs(5),
    );
    // Let the handshake's last ACK settle, then take A's next segments off the wire by hand.
    p.run_until(|p| p.wire.poll_at().is_none(), Duration::from_secs(1));
    let mss = p.a.tcp_connection(ca).unwrap().mss();
    assert_eq!(p.a.tcp_send(ca, &pattern(4 * mss, 9)).unwrap(), 4 * mss);
    let mut segments = Vec::new();
    p.a.poll(p.now, &mut |f| segments.push(f.to_vec()));
    assert_eq!(
        segments.len(),
        4,
        "four full segments in the initial window"
    );
    let now = p.now;
    let mut out = Vec::new();

    // Two in-order segments in one batch: nothing while receiving, one ACK for both at poll.
    for s in &segments[..2] {
        p.b.receive(now, s, &mut |f| out.push(f.to_vec()));
    }
    assert!(
        out.is_empty(),
        "in-order data acknowledged per segment: {out:?}"
    );
    p.b.poll(now, &mut |f| out.push(f.to_vec()));
    assert_eq!(out.len(), 1, "one ACK for the batch");
    assert_eq!(ack_of(&out[0]), seq_of(&segments[2]));

    // Out of order: the duplicate ACK leaves while receiving (RFC 5681 4.2), and so does the
    // ACK for the segment that fills the gap.
    out.clear();
    p.b.receive(now, &segments[3], &mut |f| out.push(f.to_vec()));
    assert_eq!(out.len(), 1, "immediate duplicate ACK");
    assert_eq!(ack_of(&out[0]), seq_of(&segments[2]));
    out.clear();
    p.b.receive(now, &segments[2], &mut |f| out.push(f.to_vec()));
    assert_eq!(out.len(), 1, "immediate ACK for the filled gap");
    assert_eq!(
        ack_of(&out[0]),
        seq_of(&segments[3]).wrapping_add(mss as u32)
    );
}

#[test]
fn connect_to_the_subnet_broadcast_is_refused() {
    // RFC 1122 4.2.3.10 (MUST-46).
    let mut p = Pair::new(None, 5);
    let to = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 255)), 80);
    assert_eq!(
        p.a.tcp_connect(p.now, to),
        Err(tcp::ConnectError::NotUnicast)
    );
    assert_eq!(p.a.tcp().len(), 0);
}

#[test]
fn a_closed_connection_whose_peer_never_closes_goes_after_the_fin_timeout() {
    let fin_timeout = Duration::from_secs(5);
    let mut p = Pair::tuned(None, 6, &move |c: &mut Config| {
        c.tcp.fin_timeout = fin_timeout
    });
    let listener = p.b.tcp_listen(5000, 8).unwrap();
    let ca =
        p.a.tcp_connect(p.now, SocketAddr::new(IpAddr::V4(B_IP), 5000))
            .unwrap();
    let mut cb = None;
    p.run_until(
        |p| {
            if cb.is_none() {
                cb = p.b.tcp_accept(listener);
            }
            cb.is_some()
        },
        Duration::from_secs(5),
    );
    // B's application closes; A's never does (it stays in CLOSE-WAIT).
    p.b.tcp_close(cb.unwrap());
    let closed_at = p.now;
    p.run_until(|p| p.b.tcp().is_empty(), Duration::from_secs(30));
    assert!(p.now >= closed_at + fin_timeout, "gone at {}", p.now);
    assert_eq!(p.b.tcp().counters().fin_wait2_timeouts, 1);
    assert_eq!(
        p.a.tcp_connection(ca).map(|c| c.state()),
        Some(State::CloseWait)
    );
    // What A sends now finds no connection: a RST ends A's side too.
    assert_eq!(p.a.tcp_send(ca, b"late"), Ok(4));
    p.run_until(
        |p| {
            p.a.tcp_connection(ca)
                .is_some_and(|c| c.state() == State::Closed)
        },
        Duration::from_secs(5),
    );
    assert_eq!(
        p.a.tcp_connection(ca).unwrap().error(),
        Some(tcp::Error::Reset)
    );
}
