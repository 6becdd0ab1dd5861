//! State machine tests of one connection, driven by segment templates at explicit times, and
//! of the socket table's answers for segments no connection takes.
//!
//! Our side is 10.0.0.1:1000 with ISS 1000; the peer is 10.0.0.2:2000 with ISS 5000. Unless a
//! test says otherwise the peer announces MSS 1000 and a window of 20 000, our buffers are small
//! (4000 bytes to receive, 8000 to send) and no options beyond MSS are negotiated, so sequence
//! numbers and windows are easy to follow. Every `transmit` also checks that, once a connection
//! has nothing more to send, its `poll_at()` lies in the future.

// A test module: its parent declares it under #[cfg(test)], so it may unwrap.

use super::*;

use core::net::{IpAddr, Ipv4Addr};

use crate::tcp::segment::{self, Flags};
use crate::tcp::{Config, Outcome, Sockets};

const LOCAL_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const REMOTE_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const LOCAL_PORT: u16 = 1000;
const REMOTE_PORT: u16 = 2000;
/// Our initial sequence number.
const ISS: u32 = 1000;
/// The peer's initial sequence number.
const PEER_ISS: u32 = 5000;
/// The window the peer announces.
const PEER_WND: u16 = 20_000;
/// Our receive buffer, hence the window we announce.
const RX: usize = 4000;

const NONE: Flags = Flags {
    syn: false,
    ack: false,
    fin: false,
    rst: false,
    psh: false,
    urg: false,
};
const SYN: Flags = Flags { syn: true, ..NONE };
const SYN_ACK: Flags = Flags {
    syn: true,
    ack: true,
    ..NONE
};
const ACK: Flags = Flags { ack: true, ..NONE };
const PSH_ACK: Flags = Flags {
    ack: true,
    psh: true,
    ..NONE
};
const FIN_ACK: Flags = Flags {
    ack: true,
    fin: true,
    ..NONE
};
const RST: Flags = Flags { rst: true, ..NONE };
const RST_ACK: Flags = Flags {
    rst: true,
    ack: true,
    ..NONE
};

fn local() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(LOCAL_IP), LOCAL_PORT)
}

fn remote() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(REMOTE_IP), REMOTE_PORT)
}

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

fn params() -> Params {
    Params {
        mss: 1000,
        rx_buffer: RX,
        tx_buffer: 8000,
        min_rto: Duration::from_millis(200),
        max_rto: Duration::from_secs(60),
        delayed_ack: Duration::from_millis(40),
        time_wait: Duration::from_secs(2),
        fin_timeout: Duration::from_secs(5),
        max_retries: 3,
        synack_retries: 3,
        window_scaling: false,
        timestamps: false,
        sack: false,
        nodelay: false,
        // The cwnd values below follow RFC 5681 and RFC 6582.
        congestion: crate::tcp::congestion::Algorithm::NewReno,
        tso_max: 0,
    }
}

// Segment templates, from the peer to us.

fn seg(seq: u32, ack: Option<u32>, flags: Flags) -> Repr {
    Repr {
        src_port: REMOTE_PORT,
        dst_port: LOCAL_PORT,
        seq: Seq(seq),
        ack: Seq(ack.unwrap_or(0)),
        flags: Flags {
            ack: ack.is_some(),
            ..flags
        },
        window: PEER_WND,
        options: Options {
            mss: flags.syn.then_some(1000),
            ..Options::default()
        },
        urgent: 0,
    }
}

/// The peer's SYN, announcing MSS 1000.
fn syn(seq: u32) -> Repr {
    seg(seq, None, SYN)
}

/// The peer's SYN,ACK, announcing MSS 1000.
fn syn_ack(seq: u32, ack: u32) -> Repr {
    seg(seq, Some(ack), SYN)
}

/// A pure ACK, or a data segment when sent with a payload.
fn ack(seq: u32, ack: u32) -> Repr {
    seg(seq, Some(ack), NONE)
}

fn fin(seq: u32, ack: u32) -> Repr {
    seg(seq, Some(ack), FIN_ACK)
}

fn rst(seq: u32) -> Repr {
    seg(seq, None, RST)
}

fn rst_ack(seq: u32, ack: u32) -> Repr {
    seg(seq, Some(ack), RST)
}

fn with_window(mut r: Repr, window: u16) -> Repr {
    r.window = window;
    r
}

/// What we should emit: a segment from us with no options.
fn out(seq: u32, ack: u32, flags: Flags, window: u16) -> Repr {
    Repr {
        src_port: LOCAL_PORT,
        dst_port: REMOTE_PORT,
        seq: Seq(seq),
        ack: Seq(ack),
        flags,
        window,
        options: Options::default(),
        urgent: 0,
    }
}

/// Our SYN or SYN,ACK: announces MSS 1000 and nothing else.
fn out_syn(ack: Option<u32>) -> Repr {
    let mut r = out(
        ISS,
        ack.unwrap_or(0),
        if ack.is_some() { SYN_ACK } else { SYN },
        RX as u16,
    );
    r.options.mss = Some(1000);
    r
}

/// Everything `poll_transmit` produces at `now`, in order.
fn emit_all(c: &mut Connection, now: Instant) -> Vec<(Repr, Vec<u8>)> {
    let mut segments = Vec::new();
    loop {
        let mut got = None;
        let sent = c.poll_transmit(now, &mut |r: &Repr, p: [&[u8]; 2]| {
            got = Some((*r, [p[0], p[1]].concat()));
        });
        if !sent {
            return segments;
        }
        segments.push(got.expect("poll_transmit returned true without emitting"));
        assert!(segments.len() < 1000, "poll_transmit never stops");
    }
}

/// Everything `poll_transmit` produces at `now`; then, with nothing more to send, the next
/// deadline must lie ahead (or there is none), or a caller sleeping until `poll_at()` would spin.
fn transmit(c: &mut Connection, now: Instant) -> Vec<(Repr, Vec<u8>)> {
    let segments = emit_all(c, now);
    if let Some(t) = c.poll_at() {
        assert!(t > now, "poll_at() is {t} at {now} with nothing to send");
    }
    segments
}

/// The one segment `poll_transmit` produces at `now`.
fn one(c: &mut Connection, now: Instant) -> (Repr, Vec<u8>) {
    let mut segments = transmit(c, now);
    assert_eq!(segments.len(), 1, "expected one segment: {segments:#?}");
    segments.remove(0)
}

/// The one segment at `now`, which must carry no payload.
fn one_bare(c: &mut Connection, now: Instant) -> Repr {
    let (r, payload) = one(c, now);
    assert!(payload.is_empty(), "unexpected payload {payload:?}");
    r
}

fn silent(c: &mut Connection, now: Instant) {
    let segments = transmit(c, now);
    assert!(segments.is_empty(), "expected silence: {segments:#?}");
}

/// With everything acknowledged at `emptied`, the only timer left gives the emptied send
/// buffer's memory back a second later, silently; then nothing is due.
fn assert_buffers_trimmed(c: &mut Connection, emptied: Instant) {
    let at = emptied + Duration::from_secs(1);
    assert!(c.buffer_memory() > 0, "storage kept while busy");
    assert_eq!(c.poll_at(), Some(at), "buffer trim timer");
    silent(c, at);
    assert_eq!(c.buffer_memory(), 0, "storage given back");
    assert_eq!(c.poll_at(), None);
}

fn feed(c: &mut Connection, now: Instant, r: &Repr, payload: &[u8]) -> Option<Reset> {
    c.on_segment(now, r, payload)
}

fn bytes(n: usize, salt: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(7) ^ salt).collect()
}

fn read_all(c: &mut Connection) -> Vec<u8> {
    let mut buf = vec![0u8; 1 << 16];
    let n = c.recv(&mut buf);
    buf.truncate(n);
    buf
}

/// An active open: SYN at 0 ms, SYN,ACK at 10 ms, our ACK at 10 ms. SRTT is 10 ms, so the RTO
/// is `min_rto` (200 ms).
fn established_with(p: Params) -> Connection {
    let mut c = Connection::connect(local(), remote(), Seq(ISS), 0, p);
    let _ = one_bare(&mut c, ms(0));
    assert_eq!(feed(&mut c, ms(10), &syn_ack(PEER_ISS, ISS + 1), &[]), None);
    assert_eq!(c.state(), State::Established);
    let _ = one_bare(&mut c, ms(10));
    c
}

fn established() -> Connection {
    established_with(params())
}

/// A passive open: the peer's SYN at 0 ms, our SYN,ACK sent at 0 ms.
fn syn_received_with(p: Params, peer_syn: &Repr) -> (Connection, Repr) {
    let mut c = Connection::accept(ms(0), local(), remote(), Seq(ISS), 0, peer_syn, p);
    assert_eq!(c.state(), State::SynReceived);
    let synack = one_bare(&mut c, ms(0));
    (c, synack)
}

/// A connection driven into `state` at 20 ms (our FIN, if any, is 1001; the peer's, 5001).
/// Returns it with the peer's next sequence number (our RCV.NXT) and our SND.MAX.
fn reach(state: State) -> (Connection, u32, u32) {
    let mut c = established();
    let now = ms(20);
    let (rcv_nxt, snd_max) = match state {
        State::Established => (PEER_ISS + 1, ISS + 1),
        State::FinWait1 | State::FinWait2 | State::Closing | State::TimeWait => {
            c.shutdown();
            assert_eq!(
                one_bare(&mut c, now),
                out(ISS + 1, PEER_ISS + 1, FIN_ACK, RX as u16)
            );
            match state {
                State::FinWait1 => (PEER_ISS + 1, ISS + 2),
                State::FinWait2 => {
                    feed(&mut c, now, &ack(PEER_ISS + 1, ISS + 2), &[]);
                    (PEER_ISS + 1, ISS + 2)
                }
                State::Closing => {
                    feed(&mut c, now, &fin(PEER_ISS + 1, ISS + 1), &[]);
                    let _ = one_bare(&mut c, now);
                    (PEER_ISS + 2, ISS + 2)
                }
                _ => {
                    feed(&mut c, now, &fin(PEER_ISS + 1, ISS + 2), &[]);
                    let _ = one_bare(&mut c, now);
                    (PEER_ISS + 2, ISS + 2)
                }
            }
        }
        State::CloseWait | State::LastAck => {
            feed(&mut c, now, &fin(PEER_ISS + 1, ISS + 1), &[]);
            let _ = one_bare(&mut c, now);
            if state == State::LastAck {
                c.shutdown();
                let _ = one_bare(&mut c, now);
                (PEER_ISS + 2, ISS + 2)
            } else {
                (PEER_ISS + 2, ISS + 1)
            }
        }
        other => panic!("reach({other}) is not supported"),
    };
    assert_eq!(c.state(), state);
    (c, rcv_nxt, snd_max)
}

// RFC 9293 3.3.2, figure 5: the state diagram.

#[test]
fn active_open_syn_sent_to_established() {
    let mut c = Connection::connect(local(), remote(), Seq(ISS), 0, params());
    assert_eq!(c.state(), State::SynSent);
    assert_eq!(c.poll_at(), Some(Instant::ZERO), "the SYN is due at once");
    assert_eq!(one_bare(&mut c, ms(0)), out_syn(None));
    silent(&mut c, ms(0));
    assert_eq!(c.poll_at(), Some(ms(1000)), "initial RTO of 1 s");

    assert_eq!(feed(&mut c, ms(10), &syn_ack(PEER_ISS, ISS + 1), &[]), None);
    assert_eq!(c.state(), State::Established);
    assert_eq!(
        one_bare(&mut c, ms(10)),
        out(ISS + 1, PEER_ISS + 1, ACK, RX as u16)
    );
    silent(&mut c, ms(10));
    assert_eq!(c.poll_at(), None, "nothing outstanding, no timer");
    assert_eq!(c.srtt(), Some(Duration::from_millis(10)));
    assert_eq!(c.rto(), Duration::from_millis(200));
    assert_eq!(c.send_window(), usize::from(PEER_WND));
    assert_eq!(c.mss(), 1000);
    assert_eq!(c.error(), None);
}

#[test]
fn passive_open_syn_received_to_established() {
    let (mut c, synack) = syn_received_with(params(), &syn(PEER_ISS));
    assert_eq!(synack, out_syn(Some(PEER_ISS + 1)));
    silent(&mut c, ms(0));
    assert_eq!(c.poll_at(), Some(ms(1000)));

    assert_eq!(feed(&mut c, ms(10), &ack(PEER_ISS + 1, ISS + 1), &[]), None);
    assert_eq!(c.state(), State::Established);
    silent(&mut c, ms(10));
    assert_eq!(c.poll_at(), None);
    assert_eq!(c.srtt(), Some(Duration::from_millis(10)));
}

#[test]
fn passive_open_with_data_on_the_final_ack() {
    let (mut c, _) = syn_received_with(params(), &syn(PEER_ISS));
    feed(&mut c, ms(10), &ack(PEER_ISS + 1, ISS + 1), b"hi");
    assert_eq!(c.state(), State::Established);
    assert_eq!(read_all(&mut c), b"hi");
    assert_eq!(
        one_bare(&mut c, ms(10)),
        out(ISS + 1, PEER_ISS + 3, ACK, RX as u16 - 2)
    );
}

#[test]
fn active_close_through_fin_wait_and_time_wait() {
    let mut c = established();
    c.shutdown();
    assert_eq!(c.state(), State::FinWait1);
    assert!(!c.may_send());
    assert_eq!(c.send(b"late"), 0);
    assert_eq!(
        one_bare(&mut c, ms(20)),
        out(ISS + 1, PEER_ISS + 1, FIN_ACK, RX as u16)
    );
    assert_eq!(c.poll_at(), Some(ms(220)), "the FIN is timed");

    feed(&mut c, ms(30), &ack(PEER_ISS + 1, ISS + 2), &[]);
    assert_eq!(c.state(), State::FinWait2);
    silent(&mut c, ms(30));
    assert_eq!(c.poll_at(), None, "FIN-WAIT-2 waits for the peer, untimed");

    // The peer may still send in FIN-WAIT-2.
    feed(&mut c, ms(40), &ack(PEER_ISS + 1, ISS + 2), b"bye");
    assert_eq!(read_all(&mut c), b"bye");
    assert_eq!(
        one_bare(&mut c, ms(40)),
        out(ISS + 2, PEER_ISS + 4, ACK, RX as u16 - 3)
    );

    feed(&mut c, ms(50), &fin(PEER_ISS + 4, ISS + 2), &[]);
    assert_eq!(c.state(), State::TimeWait);
    assert!(c.recv_finished());
    assert_eq!(
        one_bare(&mut c, ms(50)),
        out(ISS + 2, PEER_ISS + 5, ACK, RX as u16 - 4)
    );
    assert_eq!(c.poll_at(), Some(ms(2050)), "2*MSL from entering TIME-WAIT");

    silent(&mut c, ms(2049));
    assert_eq!(c.state(), State::TimeWait);
    silent(&mut c, ms(2050));
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.error(), None);
    assert_eq!(c.poll_at(), None);
}

#[test]
fn passive_close_through_close_wait_and_last_ack() {
    let mut c = established();
    feed(&mut c, ms(20), &fin(PEER_ISS + 1, ISS + 1), &[]);
    assert_eq!(c.state(), State::CloseWait);
    assert!(c.recv_finished());
    assert_eq!(
        one_bare(&mut c, ms(20)),
        out(ISS + 1, PEER_ISS + 2, ACK, RX as u16 - 1)
    );

    // We may still send in CLOSE-WAIT.
    assert!(c.may_send());
    assert_eq!(c.send(b"last words"), 10);
    let (r, payload) = one(&mut c, ms(30));
    assert_eq!(r, out(ISS + 1, PEER_ISS + 2, PSH_ACK, RX as u16 - 1));
    assert_eq!(payload, b"last words");
    feed(&mut c, ms(40), &ack(PEER_ISS + 2, ISS + 11), &[]);

    c.shutdown();
    assert_eq!(c.state(), State::LastAck);
    assert_eq!(
        one_bare(&mut c, ms(50)),
        out(ISS + 11, PEER_ISS + 2, FIN_ACK, RX as u16 - 1)
    );
    feed(&mut c, ms(60), &ack(PEER_ISS + 2, ISS + 12), &[]);
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.error(), None);
    silent(&mut c, ms(60));
    assert_eq!(c.poll_at(), None);
}

#[test]
fn last_ack_retransmits_fin_until_acknowledged() {
    let (mut c, _, _) = reach(State::LastAck);
    // The FIN went out at 20 ms; RTO 200 ms.
    assert_eq!(c.poll_at(), Some(ms(220)));
    assert_eq!(
        one_bare(&mut c, ms(220)),
        out(ISS + 1, PEER_ISS + 2, FIN_ACK, RX as u16 - 1)
    );
    feed(&mut c, ms(230), &ack(PEER_ISS + 2, ISS + 2), &[]);
    assert_eq!(c.state(), State::Closed);
}

#[test]
fn fin_wait_1_retransmits_fin_on_timeout() {
    let (mut c, _, _) = reach(State::FinWait1);
    assert_eq!(c.poll_at(), Some(ms(220)));
    silent(&mut c, ms(219));
    assert_eq!(
        one_bare(&mut c, ms(220)),
        out(ISS + 1, PEER_ISS + 1, FIN_ACK, RX as u16)
    );
    assert_eq!(c.poll_at(), Some(ms(620)), "backed off to 400 ms");
    assert_eq!(c.counters().timeouts, 1);
}

#[test]
fn simultaneous_open() {
    let mut c = Connection::connect(local(), remote(), Seq(ISS), 0, params());
    assert_eq!(one_bare(&mut c, ms(0)), out_syn(None));
    // The peer's SYN crosses ours.
    assert_eq!(feed(&mut c, ms(5), &syn(PEER_ISS), &[]), None);
    assert_eq!(c.state(), State::SynReceived);
    // RFC 9293 3.10.7.3: "form a SYN,ACK segment <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>".
    assert_eq!(one_bare(&mut c, ms(5)), out_syn(Some(PEER_ISS + 1)));
    silent(&mut c, ms(5));

    feed(&mut c, ms(10), &ack(PEER_ISS + 1, ISS + 1), &[]);
    assert_eq!(c.state(), State::Established);
    silent(&mut c, ms(10));
}

#[test]
fn simultaneous_open_with_crossing_syn_acks() {
    let mut c = Connection::connect(local(), remote(), Seq(ISS), 0, params());
    let _ = one_bare(&mut c, ms(0));
    feed(&mut c, ms(5), &syn(PEER_ISS), &[]);
    let _ = one_bare(&mut c, ms(5));
    // RFC 9293 figure 8, line 6: the peer, itself in SYN-RECEIVED, sends its SYN,ACK. Its SYN
    // lies before RCV.NXT, so by the text of 3.10.7.4 the segment fails the sequence check and
    // is answered with an ACK; the peer's reply to that (or to our SYN,ACK) completes the
    // handshake.
    feed(&mut c, ms(10), &syn_ack(PEER_ISS, ISS + 1), &[]);
    assert!(matches!(c.state(), State::SynReceived | State::Established));
    assert_eq!(
        one_bare(&mut c, ms(10)),
        out(ISS + 1, PEER_ISS + 1, ACK, RX as u16)
    );
    feed(&mut c, ms(15), &ack(PEER_ISS + 1, ISS + 1), &[]);
    assert_eq!(c.state(), State::Established);
    silent(&mut c, ms(15));
}

/// Runs two connections against each other over a lossless link with a 5 ms delay until
/// `done` holds or `limit` passes. Segments leave at each connection's deadline.
fn run_pair(
    a: &mut Connection,
    b: &mut Connection,
    limit: Instant,
    done: impl Fn(&Connection, &Connection) -> bool,
) -> Instant {
    run_pair_from(Instant::ZERO, a, b, limit, done)
}

/// [`run_pair`] from `start` on.
fn run_pair_from(
    start: Instant,
    a: &mut Connection,
    b: &mut Connection,
    limit: Instant,
    done: impl Fn(&Connection, &Connection) -> bool,
) -> Instant {
    let delay = Duration::from_millis(5);
    let mut now = start;
    let mut in_flight: Vec<(Instant, bool, Repr, Vec<u8>)> = Vec::new();
    while !done(a, b) {
        assert!(now <= limit, "not done by {limit}: {a:#?} {b:#?}");
        for (r, p) in emit_all(a, now) {
            in_flight.push((now + delay, true, r, p));
        }
        for (r, p) in emit_all(b, now) {
            in_flight.push((now + delay, false, r, p));
        }
        let (due, later): (Vec<_>, Vec<_>) = in_flight.into_iter().partition(|x| x.0 <= now);
        in_flight = later;
        for (_, to_b, r, p) in &due {
            let target = if *to_b { &mut *b } else { &mut *a };
            target.on_segment(now, r, p);
        }
        if !due.is_empty() {
            continue;
        }
        let next = [a.poll_at(), b.poll_at()]
            .into_iter()
            .flatten()
            .chain(in_flight.iter().map(|x| x.0))
            .min();
        match next {
            Some(t) if t > now => now = t,
            // Due now yet silent: let a millisecond pass rather than spin.
            Some(_) => now = now + Duration::from_millis(1),
            None => break,
        }
    }
    now
}

#[test]
fn two_connections_open_and_close() {
    let mut a = Connection::connect(local(), remote(), Seq(ISS), 0, params());
    let (a_syn, _) = one(&mut a, ms(0));
    let mut b = Connection::accept(ms(5), remote(), local(), Seq(PEER_ISS), 0, &a_syn, params());
    run_pair(&mut a, &mut b, ms(100), |a, b| {
        a.state() == State::Established && b.state() == State::Established
    });
    assert_eq!(a.send(b"ping"), 4);
    assert_eq!(b.send(b"pong"), 4);
    a.shutdown();
    b.shutdown();
    run_pair(&mut a, &mut b, ms(10_000), |a, b| {
        a.state() == State::Closed && b.state() == State::Closed
    });
    assert_eq!((a.error(), b.error()), (None, None));
    assert_eq!(
        (read_all(&mut a), read_all(&mut b)),
        (b"pong".to_vec(), b"ping".to_vec())
    );
}

#[test]
fn two_connections_open_simultaneously() {
    let mut a = Connection::connect(local(), remote(), Seq(ISS), 0, params());
    let mut b = Connection::connect(remote(), local(), Seq(PEER_ISS), 0, params());
    // RFC 9293 figure 8: both SYNs cross, both SYN,ACKs cross, both ends are ESTABLISHED.
    run_pair(&mut a, &mut b, ms(20_000), |a, b| {
        a.state() == State::Established && b.state() == State::Established
            || a.state() == State::Closed
            || b.state() == State::Closed
    });
    assert_eq!(a.state(), State::Established, "{:?}", a.error());
    assert_eq!(b.state(), State::Established, "{:?}", b.error());
}

#[test]
fn simultaneous_close_through_closing() {
    let (mut c, _, _) = reach(State::FinWait1);
    // The peer's FIN does not acknowledge ours.
    feed(&mut c, ms(30), &fin(PEER_ISS + 1, ISS + 1), &[]);
    assert_eq!(c.state(), State::Closing);
    assert_eq!(
        one_bare(&mut c, ms(30)),
        out(ISS + 2, PEER_ISS + 2, ACK, RX as u16 - 1)
    );
    feed(&mut c, ms(40), &ack(PEER_ISS + 2, ISS + 2), &[]);
    assert_eq!(c.state(), State::TimeWait);
    silent(&mut c, ms(40));
    assert_eq!(c.poll_at(), Some(ms(2040)));
    silent(&mut c, ms(2040));
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.error(), None);
}

#[test]
fn fin_wait_1_fin_acking_our_fin_goes_straight_to_time_wait() {
    let (mut c, _, _) = reach(State::FinWait1);
    // RFC 9293 3.10.7.4, eighth: "FIN-WAIT-1 STATE: If our FIN has been ACKed (perhaps in this
    // segment), then enter TIME-WAIT".
    feed(&mut c, ms(30), &fin(PEER_ISS + 1, ISS + 2), &[]);
    assert_eq!(c.state(), State::TimeWait);
    assert_eq!(
        one_bare(&mut c, ms(30)),
        out(ISS + 2, PEER_ISS + 2, ACK, RX as u16 - 1)
    );
    assert_eq!(c.poll_at(), Some(ms(2030)));
}

#[test]
fn shutdown_in_syn_sent_closes() {
    let mut c = Connection::connect(local(), remote(), Seq(ISS), 0, params());
    let _ = one_bare(&mut c, ms(0));
    c.shutdown();
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.error(), None);
    assert_eq!(c.poll_at(), None);
    // No retransmission of the SYN, ever.
    silent(&mut c, ms(1000));
    silent(&mut c, ms(10_000));
    // A late SYN,ACK does not revive it.
    feed(&mut c, ms(11_000), &syn_ack(PEER_ISS, ISS + 1), &[]);
    assert_eq!(c.state(), State::Closed);
    silent(&mut c, ms(11_000));
}

/// Found by the two-stack fuzz target: connect, send, shutdown before the SYN,ACK came back
/// lost the data without an error. Now the data goes after the handshake, then the FIN.
#[test]
fn shutdown_in_syn_sent_with_data_queued_sends_it_then_fin() {
    let mut c = Connection::connect(local(), remote(), Seq(ISS), 0, params());
    let _ = one_bare(&mut c, ms(0));
    let data = bytes(83, 1);
    assert_eq!(c.send(&data), 83);
    c.shutdown();
    assert_eq!(c.state(), State::SynSent);
    assert!(!c.may_send(), "no more data after a shutdown");
    assert_eq!(feed(&mut c, ms(10), &syn_ack(PEER_ISS, ISS + 1), &[]), None);
    assert_eq!(c.state(), State::FinWait1);
    let sent = emit_all(&mut c, ms(10));
    let payload: Vec<u8> = sent.iter().flat_map(|(_, p)| p.clone()).collect();
    assert_eq!(payload, data);
    let last = sent.last().expect("segments").0;
    assert!(last.flags.fin, "the FIN follows the data: {sent:?}");
    assert_eq!(
        last.seq + sent.last().map_or(0, |s| s.1.len()),
        Seq(ISS + 1 + 83)
    );
    assert_eq!(
        feed(&mut c, ms(20), &ack(PEER_ISS + 1, ISS + 1 + 83 + 1), &[]),
        None
    );
    assert_eq!(c.state(), State::FinWait2);
    assert_eq!(c.error(), None);
}

#[test]
fn shutdown_in_syn_sent_leaves_no_timer_behind() {
    let mut c = Connection::connect(local(), remote(), Seq(ISS), 0, params());
    let _ = one_bare(&mut c, ms(0));
    c.shutdown();
    // Polled again (the table does so whenever the user touches the handle) at what were the
    // SYN's retransmission times.
    for at in [1000, 3000, 7000, 15_000] {
        silent(&mut c, ms(at));
    }
    assert_eq!(c.counters().timeouts, 0);
    assert_eq!(c.error(), None, "a user's close is no failure");
}

#[test]
fn shutdown_in_syn_received_sends_fin_and_closes() {
    let (mut c, _) = syn_received_with(params(), &syn(PEER_ISS));
    // RFC 9293 3.10.4, SYN-RECEIVED: "If no SENDs have been issued and there is no pending data
    // to send, then form a FIN segment and send it, and enter FIN-WAIT-1 state".
    c.shutdown();
    assert_eq!(c.state(), State::FinWait1);
    assert_eq!(
        one_bare(&mut c, ms(1)),
        out(ISS + 1, PEER_ISS + 1, FIN_ACK, RX as u16)
    );
    // The peer acknowledges our SYN only, then our FIN too.
    feed(&mut c, ms(10), &ack(PEER_ISS + 1, ISS + 1), &[]);
    assert_eq!(c.state(), State::FinWait1);
    feed(&mut c, ms(11), &ack(PEER_ISS + 1, ISS + 2), &[]);
    assert_eq!(c.state(), State::FinWait2);
    feed(&mut c, ms(12), &fin(PEER_ISS + 1, ISS + 2), &[]);
    assert_eq!(c.state(), State::TimeWait);
    assert_eq!(
        one_bare(&mut c, ms(12)),
        out(ISS + 2, PEER_ISS + 2, ACK, RX as u16 - 1)
    );
}

#[test]
fn shutdown_in_syn_received_still_retransmits_the_syn_ack() {
    let (mut c, _) = syn_received_with(params(), &syn(PEER_ISS));
    c.shutdown();
    let _ = one_bare(&mut c, ms(0));
    // Neither our SYN,ACK nor our FIN arrives. RFC 6298 5.4: "Retransmit the earliest segment
    // that has not been acknowledged by the TCP receiver": the SYN,ACK.
    let segments = transmit(&mut c, ms(1000));
    let first = segments.first().expect("a retransmission at the RTO").0;
    assert!(
        first.flags.syn && first.flags.ack,
        "SYN,ACK expected: {first:?}"
    );
    assert_eq!(first.seq, Seq(ISS));
    assert_eq!(first.ack, Seq(PEER_ISS + 1));
}

// RST processing, RFC 9293 3.10.7.3 and 3.10.7.4 "second, check the RST bit", RFC 5961 3.

#[test]
fn rst_in_syn_sent_with_acceptable_ack_refuses() {
    let mut c = Connection::connect(local(), remote(), Seq(ISS), 0, params());
    let _ = one_bare(&mut c, ms(0));
    assert_eq!(feed(&mut c, ms(10), &rst_ack(0, ISS + 1), &[]), None);
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.error(), Some(Error::Refused));
    silent(&mut c, ms(10));
    silent(&mut c, ms(5000));
}

#[test]
fn rst_in_syn_sent_without_ack_is_ignored() {
    let mut c = Connection::connect(local(), remote(), Seq(ISS), 0, params());
    let _ = one_bare(&mut c, ms(0));
    assert_eq!(feed(&mut c, ms(10), &rst(PEER_ISS), &[]), None);
    assert_eq!(c.state(), State::SynSent);
    assert_eq!(c.error(), None);
    silent(&mut c, ms(10));
    // A RST whose ACK is unacceptable is dropped too.
    assert_eq!(feed(&mut c, ms(11), &rst_ack(PEER_ISS, ISS + 7), &[]), None);
    assert_eq!(c.state(), State::SynSent);
    silent(&mut c, ms(11));
    // The handshake still completes.
    feed(&mut c, ms(20), &syn_ack(PEER_ISS, ISS + 1), &[]);
    assert_eq!(c.state(), State::Established);
}

#[test]
fn syn_sent_answers_an_unacceptable_ack_with_rst() {
    let mut c = Connection::connect(local(), remote(), Seq(ISS), 0, params());
    let _ = one_bare(&mut c, ms(0));
    // RFC 9293 3.10.7.3: "If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a reset
    // <SEQ=SEG.ACK><CTL=RST>".
    for bad in [ISS, ISS + 2, ISS - 100] {
        assert_eq!(
            feed(&mut c, ms(10), &ack(PEER_ISS, bad), &[]),
            Some(Reset {
                seq: Seq(bad),
                ack: None
            }),
            "ACK {bad}"
        );
        assert_eq!(
            feed(&mut c, ms(10), &syn_ack(PEER_ISS, bad), &[]),
            Some(Reset {
                seq: Seq(bad),
                ack: None
            }),
            "SYN,ACK {bad}"
        );
        assert_eq!(c.state(), State::SynSent);
    }
    silent(&mut c, ms(10));
    // An acceptable ACK without SYN is dropped without an answer.
    assert_eq!(feed(&mut c, ms(10), &ack(PEER_ISS, ISS + 1), &[]), None);
    assert_eq!(c.state(), State::SynSent);
    silent(&mut c, ms(10));
}

#[test]
fn rst_at_rcv_nxt_in_syn_received_refuses() {
    let (mut c, _) = syn_received_with(params(), &syn(PEER_ISS));
    // RFC 9293 3.10.7.4, second, SYN-RECEIVED: the connection was refused (a listener's copy
    // is simply dropped by the table).
    assert_eq!(feed(&mut c, ms(20), &rst(PEER_ISS + 1), &[]), None);
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.error(), Some(Error::Refused));
    silent(&mut c, ms(20));
    silent(&mut c, ms(2000));
    assert_eq!(c.poll_at(), None);
}

#[test]
fn out_of_window_rst_in_syn_received_is_dropped() {
    let (mut c, _) = syn_received_with(params(), &syn(PEER_ISS));
    feed(&mut c, ms(5), &rst(PEER_ISS + 1 + RX as u32), &[]);
    feed(&mut c, ms(5), &rst(PEER_ISS), &[]);
    assert_eq!(c.state(), State::SynReceived);
    assert_eq!(c.counters().challenge_acks, 0);
    silent(&mut c, ms(5));
}

#[test]
fn in_window_rst_in_syn_received_gets_a_challenge_ack() {
    let (mut c, _) = syn_received_with(params(), &syn(PEER_ISS));
    // RFC 9293 3.10.7.4, second, "In all states except SYN-SENT": in the window but not at
    // RCV.NXT, "TCP endpoints MUST send an acknowledgment (challenge ACK)".
    assert_eq!(feed(&mut c, ms(5), &rst(PEER_ISS + 10), &[]), None);
    assert_eq!(c.state(), State::SynReceived);
    assert_eq!(c.counters().challenge_acks, 1);
    assert_eq!(
        one_bare(&mut c, ms(5)),
        out(ISS + 1, PEER_ISS + 1, ACK, RX as u16)
    );
}

#[test]
fn syn_received_answers_an_unacceptable_ack_with_rst() {
    let (mut c, _) = syn_received_with(params(), &syn(PEER_ISS));
    // RFC 9293 3.10.7.4, fifth, SYN-RECEIVED: "If the segment acknowledgment is not acceptable,
    // form a reset segment <SEQ=SEG.ACK><CTL=RST> and send it."
    for bad in [ISS, ISS + 5] {
        assert_eq!(
            feed(&mut c, ms(10), &ack(PEER_ISS + 1, bad), &[]),
            Some(Reset {
                seq: Seq(bad),
                ack: None
            })
        );
        assert_eq!(c.state(), State::SynReceived);
    }
    // A segment without ACK is dropped.
    assert_eq!(
        feed(&mut c, ms(10), &seg(PEER_ISS + 1, None, NONE), b"x"),
        None
    );
    assert_eq!(c.state(), State::SynReceived);
    assert_eq!(c.recv_queue(), 0);
}

#[test]
fn syn_received_resends_syn_ack_for_a_retransmitted_syn() {
    let (mut c, synack) = syn_received_with(params(), &syn(PEER_ISS));
    // The peer's SYN again (its copy of our SYN,ACK was lost): the SYN lies before RCV.NXT.
    feed(&mut c, ms(500), &syn(PEER_ISS), &[]);
    assert_eq!(c.state(), State::SynReceived);
    let answer = one_bare(&mut c, ms(500));
    assert!(
        answer == synack || answer == out(ISS + 1, PEER_ISS + 1, ACK, RX as u16),
        "SYN,ACK or ACK expected: {answer:?}"
    );
}

#[test]
fn syn_received_retransmits_syn_ack_with_backoff_then_times_out() {
    let (mut c, synack) = syn_received_with(params(), &syn(PEER_ISS));
    assert_eq!(c.poll_at(), Some(ms(1000)));
    assert_eq!(one_bare(&mut c, ms(1000)), synack);
    assert_eq!(c.poll_at(), Some(ms(3000)));
    assert_eq!(one_bare(&mut c, ms(3000)), synack);
    assert_eq!(one_bare(&mut c, ms(7000)), synack);
    silent(&mut c, ms(14_999));
    silent(&mut c, ms(15_000));
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.error(), Some(Error::TimedOut));
}

#[test]
fn rst_at_rcv_nxt_resets_an_established_connection() {
    let mut c = established();
    assert_eq!(c.send(b"pending"), 7);
    assert_eq!(feed(&mut c, ms(20), &rst(PEER_ISS + 1), &[]), None);
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.error(), Some(Error::Reset));
    assert!(!c.may_send());
    silent(&mut c, ms(20));
    assert_eq!(c.poll_at(), None);
}

#[test]
fn rst_with_ack_at_rcv_nxt_resets_too() {
    let mut c = established();
    feed(&mut c, ms(20), &rst_ack(PEER_ISS + 1, ISS + 1), &[]);
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.error(), Some(Error::Reset));
}

#[test]
fn in_window_rst_gets_a_rate_limited_challenge_ack() {
    let mut c = established();
    // RFC 5961 3.2: in the window but not exactly RCV.NXT: a challenge ACK, no reset.
    feed(&mut c, ms(20), &rst(PEER_ISS + 100), &[]);
    assert_eq!(c.state(), State::Established);
    assert_eq!(c.counters().challenge_acks, 1);
    assert_eq!(
        one_bare(&mut c, ms(20)),
        out(ISS + 1, PEER_ISS + 1, ACK, RX as u16)
    );

    // RFC 5961 7: rate limited.
    feed(&mut c, ms(25), &rst(PEER_ISS + 200), &[]);
    assert_eq!(c.counters().challenge_acks, 1);
    silent(&mut c, ms(25));
    feed(&mut c, ms(30), &rst(PEER_ISS + 300), &[]);
    assert_eq!(c.counters().challenge_acks, 2);
    assert_eq!(
        one_bare(&mut c, ms(30)),
        out(ISS + 1, PEER_ISS + 1, ACK, RX as u16)
    );
    assert_eq!(c.state(), State::Established);

    // Outside the window: dropped in silence, not counted.
    let before = *c.counters();
    feed(&mut c, ms(100), &rst(PEER_ISS + 1 + RX as u32), &[]);
    feed(&mut c, ms(100), &rst(PEER_ISS), &[]);
    silent(&mut c, ms(100));
    assert_eq!(c.state(), State::Established);
    assert_eq!(c.counters().challenge_acks, before.challenge_acks);
    assert_eq!(c.counters().out_of_window, before.out_of_window);
}

#[test]
fn rst_in_every_synchronized_state() {
    for state in [
        State::FinWait1,
        State::FinWait2,
        State::CloseWait,
        State::Closing,
        State::LastAck,
        State::TimeWait,
    ] {
        // In the window, not at RCV.NXT: challenge ACK, no change.
        let (mut c, rcv_nxt, snd_max) = reach(state);
        feed(&mut c, ms(100), &rst(rcv_nxt + 50), &[]);
        assert_eq!(c.state(), state, "{state}: in-window RST");
        let r = one_bare(&mut c, ms(100));
        assert_eq!(
            (r.seq, r.ack, r.flags),
            (Seq(snd_max), Seq(rcv_nxt), ACK),
            "{state}: challenge ACK"
        );
        assert_eq!(c.counters().challenge_acks, 1, "{state}");

        // At RCV.NXT: closed.
        feed(&mut c, ms(200), &rst(rcv_nxt), &[]);
        assert_eq!(c.state(), State::Closed, "{state}: exact RST");
        silent(&mut c, ms(200));
        assert_eq!(c.poll_at(), None, "{state}: no timer left");
        if matches!(state, State::FinWait1 | State::FinWait2 | State::CloseWait) {
            // RFC 9293 3.10.7.4: "signal the user 'connection reset'".
            assert_eq!(c.error(), Some(Error::Reset), "{state}");
        }
    }
}

// SYN in a synchronized state: RFC 5961 4.2.

#[test]
fn syn_in_established_gets_a_challenge_ack() {
    let mut c = established();
    // RFC 5961 4.2: "If the SYN bit is set, irrespective of the sequence number, TCP MUST send
    // an ACK (also referred to as challenge ACK) to the remote peer".
    for (i, seq) in [PEER_ISS + 1, PEER_ISS + 500].into_iter().enumerate() {
        let now = ms(20 + 20 * i as u64);
        assert_eq!(feed(&mut c, now, &syn(seq), &[]), None);
        assert_eq!(c.state(), State::Established);
        assert_eq!(c.counters().challenge_acks, i as u64 + 1);
        assert_eq!(
            one_bare(&mut c, now),
            out(ISS + 1, PEER_ISS + 1, ACK, RX as u16)
        );
    }
    // An old SYN (the peer's first one again) lies before the window: also answered by an ACK.
    feed(&mut c, ms(100), &syn(PEER_ISS), &[]);
    assert_eq!(c.state(), State::Established);
    assert_eq!(
        one_bare(&mut c, ms(100)),
        out(ISS + 1, PEER_ISS + 1, ACK, RX as u16)
    );
    assert_eq!(c.error(), None);
}

// "first check sequence number": RFC 9293 3.10.7.4.

#[test]
fn out_of_window_segment_is_acked_and_dropped() {
    let mut c = established();
    // Starts at the right edge of the window.
    feed(
        &mut c,
        ms(20),
        &ack(PEER_ISS + 1 + RX as u32, ISS + 1),
        b"x",
    );
    assert_eq!(c.recv_queue(), 0);
    assert_eq!(c.counters().out_of_window, 1);
    assert_eq!(
        one_bare(&mut c, ms(20)),
        out(ISS + 1, PEER_ISS + 1, ACK, RX as u16)
    );
    // Ends just before RCV.NXT: an old duplicate.
    feed(&mut c, ms(30), &ack(PEER_ISS - 9, ISS + 1), &[7; 10]);
    assert_eq!(c.recv_queue(), 0);
    assert_eq!(c.counters().out_of_window, 2);
    assert_eq!(
        one_bare(&mut c, ms(30)),
        out(ISS + 1, PEER_ISS + 1, ACK, RX as u16)
    );
    // A zero-length segment ahead of the window.
    feed(&mut c, ms(40), &ack(PEER_ISS + 1 + RX as u32, ISS + 1), &[]);
    assert_eq!(c.counters().out_of_window, 3);
    assert_eq!(
        one_bare(&mut c, ms(40)),
        out(ISS + 1, PEER_ISS + 1, ACK, RX as u16)
    );
    assert_eq!(c.state(), State::Established);
}

#[test]
fn segment_straddling_rcv_nxt_is_trimmed() {
    let mut c = established();
    feed(&mut c, ms(20), &ack(PEER_ISS + 1, ISS + 1), b"abc");
    let _ = one_bare(&mut c, ms(20));
    // "abcdef" again from the start: only "def" is new.
    feed(&mut c, ms(30), &ack(PEER_ISS + 1, ISS + 1), b"abcdef");
    assert_eq!(read_all(&mut c), b"abcdef");
    let r = one_bare(&mut c, ms(30));
    assert_eq!((r.seq, r.ack), (Seq(ISS + 1), Seq(PEER_ISS + 7)));
    // Data past the right edge of the window is cut off, and a FIN with it.
    let big = bytes(RX + 10, 1);
    feed(&mut c, ms(40), &fin(PEER_ISS + 7, ISS + 1), &big);
    assert_eq!(
        c.state(),
        State::Established,
        "the FIN was beyond the window"
    );
    // The window announced in the last ACK was 3994 (the 6 bytes read since did not move
    // the right edge: receiver SWS avoidance).
    assert_eq!(c.recv_queue(), RX - 6);
    assert_eq!(read_all(&mut c), &big[..RX - 6]);
}

#[test]
fn zero_receive_window_accepts_only_an_empty_segment_at_rcv_nxt() {
    let mut c = established();
    assert_eq!(c.send(b"abc"), 3);
    let (r, _) = one(&mut c, ms(20));
    assert_eq!(r, out(ISS + 1, PEER_ISS + 1, PSH_ACK, RX as u16));

    // The peer fills our receive buffer; we ACK every second full segment.
    let fill = bytes(RX, 3);
    for (i, chunk) in fill.chunks(1000).enumerate() {
        let seq = PEER_ISS + 1 + 1000 * i as u32;
        feed(&mut c, ms(30), &ack(seq, ISS + 1), chunk);
    }
    let acks = transmit(&mut c, ms(30));
    assert_eq!(acks.len(), 1, "{acks:#?}");
    let end = PEER_ISS + 1 + RX as u32;
    assert_eq!(acks[0].0, out(ISS + 4, end, ACK, 0));

    // RFC 9293 3.10.7.4: with RCV.WND = 0, a zero-length segment is acceptable only at RCV.NXT.
    feed(&mut c, ms(40), &ack(end + 1, ISS + 4), &[]);
    assert_eq!(
        c.send_queue(),
        3,
        "not acceptable: its ACK is not processed"
    );
    assert_eq!(one_bare(&mut c, ms(40)), out(ISS + 4, end, ACK, 0));
    feed(&mut c, ms(50), &ack(end, ISS + 4), &[]);
    assert_eq!(c.send_queue(), 0, "acceptable: its ACK is processed");
    silent(&mut c, ms(50));

    // Any data is not acceptable; the ACK repeats the closed window.
    let before = c.counters().out_of_window;
    feed(&mut c, ms(60), &ack(end, ISS + 4), b"z");
    assert_eq!(c.counters().out_of_window, before + 1);
    assert_eq!(c.recv_queue(), RX);
    assert_eq!(one_bare(&mut c, ms(60)), out(ISS + 4, end, ACK, 0));

    // Reading reopens the window with an update.
    assert_eq!(read_all(&mut c), fill);
    assert_eq!(one_bare(&mut c, ms(70)), out(ISS + 4, end, ACK, RX as u16));
}

// "fifth, check the ACK field".

#[test]
fn ack_of_unsent_data_is_answered_and_ignored() {
    let mut c = established();
    assert_eq!(c.send(b"abc"), 3);
    let _ = one(&mut c, ms(20));
    // RFC 9293 3.10.7.4: "If the ACK acks something not yet sent (SEG.ACK > SND.NXT), then send
    // an ACK, drop the segment, and return."
    feed(&mut c, ms(30), &ack(PEER_ISS + 1, ISS + 500), &[]);
    assert_eq!(c.state(), State::Established);
    assert_eq!(c.send_queue(), 3, "nothing was acknowledged");
    assert_eq!(
        one_bare(&mut c, ms(30)),
        out(ISS + 4, PEER_ISS + 1, ACK, RX as u16)
    );
    // The data is still timed from 20 ms.
    assert_eq!(c.poll_at(), Some(ms(220)));
}

#[test]
fn segment_with_unacceptable_ack_is_dropped_with_its_data() {
    let mut c = established();
    // SEG.ACK > SND.NXT: RFC 9293 3.10.7.4 "send an ACK, drop the segment, and return".
    feed(&mut c, ms(20), &fin(PEER_ISS + 1, ISS + 500), b"data");
    assert_eq!(c.recv_queue(), 0, "the data was processed");
    assert_eq!(c.state(), State::Established, "the FIN was processed");
    assert_eq!(
        one_bare(&mut c, ms(20)),
        out(ISS + 1, PEER_ISS + 1, ACK, RX as u16)
    );
    // SEG.ACK < SND.UNA - MAX.SND.WND: RFC 5961 5.2 "MUST be discarded and an ACK sent back".
    let too_old = (ISS + 1).wrapping_sub(u32::from(PEER_WND) + 1);
    feed(&mut c, ms(30), &fin(PEER_ISS + 1, too_old), b"data");
    assert_eq!(c.recv_queue(), 0, "the data was processed");
    assert_eq!(c.state(), State::Established, "the FIN was processed");
    assert_eq!(
        one_bare(&mut c, ms(30)),
        out(ISS + 1, PEER_ISS + 1, ACK, RX as u16)
    );
}

#[test]
fn old_duplicate_ack_is_ignored() {
    let mut c = established();
    assert_eq!(c.send(&[1; 100]), 100);
    let _ = one(&mut c, ms(20));
    feed(&mut c, ms(30), &ack(PEER_ISS + 1, ISS + 101), &[]);
    assert_eq!(c.send_queue(), 0);
    silent(&mut c, ms(30));
    // An ACK below SND.UNA (reordered, or an old duplicate) "can be ignored": no answer, no
    // duplicate ACK counted, and its window (0 here) does not replace the newer one.
    feed(
        &mut c,
        ms(40),
        &with_window(ack(PEER_ISS + 1, ISS + 1), 0),
        &[],
    );
    assert_eq!(c.state(), State::Established);
    silent(&mut c, ms(40));
    assert_eq!(c.counters().dup_acks, 0);
    assert_eq!(c.send_window(), usize::from(PEER_WND));
    // Its data is still accepted.
    feed(&mut c, ms(50), &ack(PEER_ISS + 1, ISS + 1), b"ok");
    assert_eq!(read_all(&mut c), b"ok");
}

#[test]
fn window_update_follows_wl1_and_wl2() {
    let mut c = established();
    assert_eq!(c.send(&[1; 100]), 100);
    let _ = one(&mut c, ms(20));
    let window = |seq, ack_no, w| with_window(ack(seq, ack_no), w);
    // RFC 9293 3.10.7.4, fifth: update if SND.WL1 < SEG.SEQ, or SND.WL1 = SEG.SEQ and
    // SND.WL2 =< SEG.ACK.
    feed(&mut c, ms(30), &window(PEER_ISS + 1, ISS + 101, 5000), &[]);
    assert_eq!(c.send_window(), 5000);
    // Same SEG.SEQ, older SEG.ACK (a reordered segment): its window is stale.
    feed(&mut c, ms(31), &window(PEER_ISS + 1, ISS + 1, 9000), &[]);
    assert_eq!(c.send_window(), 5000);
    // Same SEG.SEQ and SEG.ACK: taken, even a zero window.
    feed(&mut c, ms(32), &window(PEER_ISS + 1, ISS + 101, 0), b"x");
    assert_eq!(c.send_window(), 0);
    // A later SEG.SEQ: taken.
    feed(&mut c, ms(33), &window(PEER_ISS + 2, ISS + 101, 3000), &[]);
    assert_eq!(c.send_window(), 3000);
}

// "seventh, process the segment text".

#[test]
fn in_order_data_is_delivered_and_acked() {
    let mut c = established();
    feed(&mut c, ms(20), &ack(PEER_ISS + 1, ISS + 1), b"hello");
    assert_eq!(c.recv_queue(), 5);
    assert_eq!(c.counters().bytes_in, 5);
    // A segment shorter than the MSS is acknowledged at once.
    assert_eq!(
        one_bare(&mut c, ms(20)),
        out(ISS + 1, PEER_ISS + 6, ACK, RX as u16 - 5)
    );
    feed(&mut c, ms(30), &ack(PEER_ISS + 6, ISS + 1), b" world");
    let _ = one_bare(&mut c, ms(30));
    let mut buf = [0u8; 7];
    assert_eq!(c.recv(&mut buf), 7);
    assert_eq!(&buf, b"hello w");
    assert_eq!(read_all(&mut c), b"orld");
    assert_eq!(c.recv_queue(), 0);
    // Reading 11 bytes opens the window by less than an MSS: no update (receiver SWS avoidance).
    silent(&mut c, ms(40));
}

#[test]
fn out_of_order_data_is_held_until_the_hole_fills() {
    let mut c = established();
    let data = bytes(3000, 9);
    // The second and third segments arrive first.
    feed(
        &mut c,
        ms(20),
        &ack(PEER_ISS + 2001, ISS + 1),
        &data[2000..],
    );
    assert_eq!(c.recv_queue(), 0);
    assert_eq!(c.counters().out_of_order, 1);
    // RFC 5681 4.2: an out-of-order segment is acknowledged at once (a duplicate ACK).
    assert_eq!(
        one_bare(&mut c, ms(20)),
        out(ISS + 1, PEER_ISS + 1, ACK, RX as u16)
    );
    feed(
        &mut c,
        ms(21),
        &ack(PEER_ISS + 1001, ISS + 1),
        &data[1000..2000],
    );
    assert_eq!(c.recv_queue(), 0);
    assert_eq!(
        one_bare(&mut c, ms(21)),
        out(ISS + 1, PEER_ISS + 1, ACK, RX as u16)
    );
    // The hole fills: everything is delivered, and the ACK goes out at once.
    feed(&mut c, ms(22), &ack(PEER_ISS + 1, ISS + 1), &data[..1000]);
    assert_eq!(c.recv_queue(), 3000);
    assert_eq!(
        one_bare(&mut c, ms(22)),
        out(ISS + 1, PEER_ISS + 3001, ACK, 1000)
    );
    assert_eq!(read_all(&mut c), data);
    assert_eq!(c.counters().bytes_in, 3000);
}

fn established_with_sack() -> Connection {
    let p = Params {
        sack: true,
        ..params()
    };
    let mut c = Connection::connect(local(), remote(), Seq(ISS), 0, p);
    let mut expect = out_syn(None);
    expect.options.sack_permitted = true;
    assert_eq!(one_bare(&mut c, ms(0)), expect);
    let mut sa = syn_ack(PEER_ISS, ISS + 1);
    sa.options.sack_permitted = true;
    feed(&mut c, ms(10), &sa, &[]);
    assert!(c.sack_enabled());
    assert_eq!(
        one_bare(&mut c, ms(10)),
        out(ISS + 1, PEER_ISS + 1, ACK, RX as u16)
    );
    c
}

#[test]
fn out_of_order_data_is_reported_in_sack_blocks() {
    let mut c = established_with_sack();
    let data = bytes(4000, 5);
    let sack_ack = |blocks: &[(u32, u32)]| {
        let mut r = out(ISS + 1, PEER_ISS + 1, ACK, RX as u16);
        for &(l, r2) in blocks {
            r.options.sack.push(Seq(l), Seq(r2));
        }
        r
    };
    feed(
        &mut c,
        ms(20),
        &ack(PEER_ISS + 1001, ISS + 1),
        &data[1000..2000],
    );
    assert_eq!(
        one_bare(&mut c, ms(20)),
        sack_ack(&[(PEER_ISS + 1001, PEER_ISS + 2001)])
    );
    // RFC 2018 4: the block holding the most recent segment comes first.
    feed(
        &mut c,
        ms(21),
        &ack(PEER_ISS + 3001, ISS + 1),
        &data[3000..],
    );
    assert_eq!(
        one_bare(&mut c, ms(21)),
        sack_ack(&[
            (PEER_ISS + 3001, PEER_ISS + 4001),
            (PEER_ISS + 1001, PEER_ISS + 2001)
        ])
    );
    // Filling the first hole leaves one block.
    feed(&mut c, ms(22), &ack(PEER_ISS + 1, ISS + 1), &data[..1000]);
    let mut r = out(ISS + 1, PEER_ISS + 2001, ACK, 2000);
    r.options
        .sack
        .push(Seq(PEER_ISS + 3001), Seq(PEER_ISS + 4001));
    assert_eq!(one_bare(&mut c, ms(22)), r);
    // The last hole: no blocks left.
    feed(
        &mut c,
        ms(23),
        &ack(PEER_ISS + 2001, ISS + 1),
        &data[2000..3000],
    );
    assert_eq!(
        one_bare(&mut c, ms(23)),
        out(ISS + 1, PEER_ISS + 4001, ACK, 0)
    );
    assert_eq!(read_all(&mut c), data);
}

#[test]
fn delayed_ack_fires_after_the_delay() {
    let mut c = established();
    feed(&mut c, ms(20), &ack(PEER_ISS + 1, ISS + 1), &bytes(1000, 0));
    // A full-sized segment: the ACK waits (RFC 9293 3.8.6.3).
    silent(&mut c, ms(20));
    assert_eq!(c.poll_at(), Some(ms(60)));
    silent(&mut c, ms(59));
    assert_eq!(
        one_bare(&mut c, ms(60)),
        out(ISS + 1, PEER_ISS + 1001, ACK, RX as u16 - 1000)
    );
    assert_eq!(c.poll_at(), None);
}

#[test]
fn every_second_full_segment_is_acked_at_once() {
    let mut c = established();
    feed(&mut c, ms(20), &ack(PEER_ISS + 1, ISS + 1), &bytes(1000, 0));
    silent(&mut c, ms(20));
    feed(
        &mut c,
        ms(21),
        &ack(PEER_ISS + 1001, ISS + 1),
        &bytes(1000, 1),
    );
    assert_eq!(
        one_bare(&mut c, ms(21)),
        out(ISS + 1, PEER_ISS + 2001, ACK, RX as u16 - 2000)
    );
    assert_eq!(c.poll_at(), None, "the delayed ACK was cancelled");
    // The count starts again.
    let _ = read_all(&mut c);
    let _ = transmit(&mut c, ms(22));
    feed(
        &mut c,
        ms(23),
        &ack(PEER_ISS + 2001, ISS + 1),
        &bytes(1000, 2),
    );
    silent(&mut c, ms(23));
    assert_eq!(c.poll_at(), Some(ms(63)));
}

#[test]
fn data_rides_on_the_delayed_ack() {
    let mut c = established();
    feed(&mut c, ms(20), &ack(PEER_ISS + 1, ISS + 1), &bytes(1000, 0));
    silent(&mut c, ms(20));
    assert_eq!(c.send(b"reply"), 5);
    let (r, payload) = one(&mut c, ms(25));
    assert_eq!(r, out(ISS + 1, PEER_ISS + 1001, PSH_ACK, RX as u16 - 1000));
    assert_eq!(payload, b"reply");
    // The pending ACK went with the data.
    silent(&mut c, ms(60));
}

// TIME-WAIT: RFC 9293 3.10.7.4, eighth, and 3.6.1.

#[test]
fn time_wait_acks_a_retransmitted_fin_and_restarts_the_timer() {
    let (mut c, _, _) = reach(State::TimeWait);
    assert_eq!(c.poll_at(), Some(ms(2020)));
    // Our ACK of the peer's FIN was lost; the FIN comes again.
    feed(&mut c, ms(1000), &fin(PEER_ISS + 1, ISS + 2), &[]);
    assert_eq!(c.state(), State::TimeWait);
    assert_eq!(
        one_bare(&mut c, ms(1000)),
        out(ISS + 2, PEER_ISS + 2, ACK, RX as u16 - 1)
    );
    // "restart the 2 MSL timeout".
    assert_eq!(c.poll_at(), Some(ms(3000)));
    silent(&mut c, ms(2020));
    assert_eq!(c.state(), State::TimeWait);
    silent(&mut c, ms(3000));
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.error(), None);
}

#[test]
fn time_wait_ignores_data_and_pure_acks() {
    let (mut c, _, _) = reach(State::TimeWait);
    feed(&mut c, ms(100), &ack(PEER_ISS + 2, ISS + 2), &[]);
    silent(&mut c, ms(100));
    assert_eq!(
        c.poll_at(),
        Some(ms(2020)),
        "a pure ACK does not restart the timer"
    );
    assert_eq!(c.state(), State::TimeWait);
}

// RFC 7323: timestamps and PAWS.

#[test]
fn timestamps_are_negotiated_and_echoed() {
    let p = Params {
        timestamps: true,
        ..params()
    };
    let mut peer_syn = syn(PEER_ISS);
    peer_syn.options.timestamps = Some((100, 0));
    let mut c = Connection::accept(ms(0), local(), remote(), Seq(ISS), 7000, &peer_syn, p);
    let mut expect = out_syn(Some(PEER_ISS + 1));
    expect.options.timestamps = Some((7000, 100));
    assert_eq!(one_bare(&mut c, ms(0)), expect);
    let mut a = ack(PEER_ISS + 1, ISS + 1);
    a.options.timestamps = Some((110, 7000));
    feed(&mut c, ms(10), &a, &[]);
    assert_eq!(c.state(), State::Established);
    assert!(c.timestamps_enabled());
    assert_eq!(c.mss(), 1000 - 12, "room for the timestamps option");
    assert_eq!(c.srtt(), Some(Duration::from_millis(10)), "TSecr timed it");

    let mut d = ack(PEER_ISS + 1, ISS + 1);
    d.options.timestamps = Some((120, 7010));
    feed(&mut c, ms(20), &d, b"abc");
    let mut expect = out(ISS + 1, PEER_ISS + 4, ACK, RX as u16 - 3);
    expect.options.timestamps = Some((7020, 120));
    assert_eq!(one_bare(&mut c, ms(20)), expect);

    // Without timestamps on the SYN, they are off even though we offer them.
    let mut c = Connection::accept(ms(0), local(), remote(), Seq(ISS), 7000, &syn(PEER_ISS), p);
    assert_eq!(one_bare(&mut c, ms(0)), out_syn(Some(PEER_ISS + 1)));
    assert!(!c.timestamps_enabled());
    assert_eq!(c.mss(), 1000);
}

#[test]
fn paws_drops_a_segment_with_an_old_timestamp() {
    let p = Params {
        timestamps: true,
        ..params()
    };
    let mut peer_syn = syn(PEER_ISS);
    peer_syn.options.timestamps = Some((100, 0));
    let mut c = Connection::accept(ms(0), local(), remote(), Seq(ISS), 7000, &peer_syn, p);
    let _ = one_bare(&mut c, ms(0));
    let mut a = ack(PEER_ISS + 1, ISS + 1);
    a.options.timestamps = Some((110, 7000));
    feed(&mut c, ms(10), &a, &[]);
    let mut d = ack(PEER_ISS + 1, ISS + 1);
    d.options.timestamps = Some((200, 7010));
    feed(&mut c, ms(20), &d, b"new");
    let _ = one_bare(&mut c, ms(20));

    // RFC 7323 5.3 R1: TSval 150 < TS.Recent 200: "treat the arriving segment as not
    // acceptable: Send an acknowledgment in reply ... and drop the segment".
    let mut old = ack(PEER_ISS + 4, ISS + 1);
    old.options.timestamps = Some((150, 7010));
    feed(&mut c, ms(30), &old, b"old");
    assert_eq!(c.counters().paws_dropped, 1);
    assert_eq!(c.recv_queue(), 3);
    let mut expect = out(ISS + 1, PEER_ISS + 4, ACK, RX as u16 - 3);
    expect.options.timestamps = Some((7030, 200));
    assert_eq!(one_bare(&mut c, ms(30)), expect);
    assert_eq!(c.state(), State::Established);

    // A RST is not subject to PAWS.
    let mut r = rst(PEER_ISS + 4);
    r.options.timestamps = Some((150, 0));
    feed(&mut c, ms(40), &r, &[]);
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.counters().paws_dropped, 1);
}

// Zero window and the persist timer: RFC 9293 3.8.6.1.

/// A passive open whose final ACK closes the peer's window, at 10 ms (RTO 200 ms).
fn established_zero_window() -> Connection {
    let (mut c, _) = syn_received_with(params(), &syn(PEER_ISS));
    feed(
        &mut c,
        ms(10),
        &with_window(ack(PEER_ISS + 1, ISS + 1), 0),
        &[],
    );
    assert_eq!(c.state(), State::Established);
    assert_eq!(c.send_window(), 0);
    c
}

#[test]
fn zero_window_probes_back_off_until_the_window_opens() {
    let mut c = established_zero_window();
    assert_eq!(c.send(b"hello"), 5);
    silent(&mut c, ms(10));
    assert_eq!(c.poll_at(), Some(ms(210)), "persist timer at one RTO");
    silent(&mut c, ms(209));

    // The probe: SEG.SEQ = SND.UNA - 1, no data (the peer must answer with its window).
    let probe = out(ISS, PEER_ISS + 1, ACK, RX as u16);
    let (r, payload) = one(&mut c, ms(210));
    assert_eq!((r, payload.as_slice()), (probe, &b""[..]));
    assert_eq!(c.counters().window_probes, 1);
    // The peer's answer: still closed.
    feed(
        &mut c,
        ms(215),
        &with_window(ack(PEER_ISS + 1, ISS + 1), 0),
        &[],
    );
    silent(&mut c, ms(215));
    assert_eq!(c.poll_at(), Some(ms(610)), "backed off to 2 RTO");
    let (r, payload) = one(&mut c, ms(610));
    assert_eq!((r, payload.as_slice()), (probe, &b""[..]));
    assert_eq!(c.poll_at(), Some(ms(1410)), "then 4 RTO");
    assert_eq!(c.counters().window_probes, 2);
    assert_eq!(c.state(), State::Established, "probing never gives up");

    // A window update: the data flows.
    feed(
        &mut c,
        ms(700),
        &with_window(ack(PEER_ISS + 1, ISS + 1), 4000),
        &[],
    );
    assert_eq!(c.send_window(), 4000);
    let (r, payload) = one(&mut c, ms(700));
    assert_eq!(r, out(ISS + 1, PEER_ISS + 1, PSH_ACK, RX as u16));
    assert_eq!(payload, b"hello");
    assert_eq!(
        c.poll_at(),
        Some(ms(900)),
        "retransmission timer, no more probes"
    );
    feed(&mut c, ms(710), &ack(PEER_ISS + 1, ISS + 6), &[]);
    assert_eq!(c.send_queue(), 0);
    assert_eq!(c.counters().window_probes, 2);
}

#[test]
fn zero_window_probe_learns_a_window_whose_update_was_lost() {
    let mut c = established_zero_window();
    assert_eq!(c.send(b"hello"), 5);
    silent(&mut c, ms(10));
    let (r, payload) = one(&mut c, ms(210));
    assert_eq!((r.seq, payload.len()), (Seq(ISS), 0));
    // The peer's window had reopened (its update was lost): its answer to the probe carries it.
    feed(
        &mut c,
        ms(220),
        &with_window(ack(PEER_ISS + 1, ISS + 1), 4000),
        &[],
    );
    assert_eq!(c.send_window(), 4000);
    let (r, payload) = one(&mut c, ms(220));
    assert_eq!(r.seq, Seq(ISS + 1));
    assert_eq!(payload, b"hello");
}

// Retransmission: RFC 6298.

#[test]
fn syn_retransmits_with_backoff_then_times_out() {
    let mut c = Connection::connect(local(), remote(), Seq(ISS), 0, params());
    assert_eq!(one_bare(&mut c, ms(0)), out_syn(None));
    // 2.1: initial RTO of 1 s; 5.5: doubled at each expiry.
    for (at, next) in [(1000, 3000), (3000, 7000), (7000, 15_000)] {
        silent(&mut c, ms(at - 1));
        assert_eq!(one_bare(&mut c, ms(at)), out_syn(None), "at {at} ms");
        assert_eq!(c.poll_at(), Some(ms(next)));
        assert_eq!(c.state(), State::SynSent);
    }
    assert_eq!(c.counters().timeouts, 3);
    // max_retries (3) retransmissions went unanswered.
    silent(&mut c, ms(15_000));
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.error(), Some(Error::TimedOut));
    assert_eq!(c.poll_at(), None);
}

#[test]
fn data_retransmits_at_min_rto_with_backoff_then_times_out() {
    let mut c = established();
    assert_eq!(c.rto(), Duration::from_millis(200));
    assert_eq!(c.send(b"data"), 4);
    let first = one(&mut c, ms(20));
    assert_eq!(first.0, out(ISS + 1, PEER_ISS + 1, PSH_ACK, RX as u16));
    assert_eq!(c.poll_at(), Some(ms(220)));
    for (i, (at, next)) in [(220, 620), (620, 1420), (1420, 3020)]
        .into_iter()
        .enumerate()
    {
        silent(&mut c, ms(at - 1));
        assert_eq!(one(&mut c, ms(at)), first, "at {at} ms");
        assert_eq!(c.poll_at(), Some(ms(next)));
        assert_eq!(c.counters().retransmits, i as u64 + 1);
        assert_eq!(c.counters().retransmitted_bytes, 4 * (i as u64 + 1));
    }
    assert_eq!(c.rto(), Duration::from_millis(1600));
    silent(&mut c, ms(3020));
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.error(), Some(Error::TimedOut));
}

#[test]
fn timeout_goes_back_and_collapses_the_window() {
    let mut c = established();
    let data = bytes(5000, 2);
    assert_eq!(c.send(&data), 5000);
    let sent = transmit(&mut c, ms(20));
    assert_eq!(sent.len(), 5);
    assert_eq!(c.cwnd(), 10_000, "RFC 6928 initial window");
    // Nothing comes back. RFC 5681 3.1 equation 4: ssthresh = FlightSize / 2, cwnd = 1 MSS.
    let again = transmit(&mut c, ms(220));
    assert_eq!(again.len(), 1);
    assert_eq!(again[0], sent[0]);
    assert_eq!((c.cwnd(), c.ssthresh()), (1000, 2500));
    // The first segment is acknowledged: slow start resends two more.
    feed(&mut c, ms(230), &ack(PEER_ISS + 1, ISS + 1001), &[]);
    assert_eq!(c.cwnd(), 2000);
    let next = transmit(&mut c, ms(230));
    assert_eq!(next, sent[1..3].to_vec());
}

#[test]
fn karn_no_rtt_sample_from_a_retransmitted_syn() {
    let mut c = Connection::connect(local(), remote(), Seq(ISS), 0, params());
    let _ = one_bare(&mut c, ms(0));
    let _ = one_bare(&mut c, ms(1000));
    // Is this the answer to the first SYN or the second? RFC 6298 3: take no sample.
    feed(&mut c, ms(1050), &syn_ack(PEER_ISS, ISS + 1), &[]);
    assert_eq!(c.state(), State::Established);
    assert_eq!(c.srtt(), None);
}

#[test]
fn karn_no_rtt_sample_from_retransmitted_data() {
    let mut c = established();
    assert_eq!(c.srtt(), Some(Duration::from_millis(10)));
    assert_eq!(c.send(b"data"), 4);
    let _ = one(&mut c, ms(20));
    let _ = one(&mut c, ms(220));
    assert_eq!(c.rto(), Duration::from_millis(400));
    feed(&mut c, ms(270), &ack(PEER_ISS + 1, ISS + 5), &[]);
    assert_eq!(c.srtt(), Some(Duration::from_millis(10)), "no sample taken");
    assert_eq!(c.rto(), Duration::from_millis(200), "backoff forgotten");
    assert_buffers_trimmed(&mut c, ms(270));

    // A segment sent once is timed.
    assert_eq!(c.send(b"more"), 4);
    let _ = one(&mut c, ms(300));
    feed(&mut c, ms(340), &ack(PEER_ISS + 1, ISS + 9), &[]);
    // 2.3: SRTT = 7/8 * 10 + 1/8 * 40.
    assert_eq!(c.srtt(), Some(Duration::from_micros(13_750)));
}

#[test]
fn rto_is_three_seconds_after_a_retransmitted_syn() {
    let mut c = Connection::connect(local(), remote(), Seq(ISS), 0, params());
    let _ = one_bare(&mut c, ms(0));
    let _ = one_bare(&mut c, ms(1000));
    feed(&mut c, ms(1050), &syn_ack(PEER_ISS, ISS + 1), &[]);
    // RFC 6298 5.7: "If the timer expires awaiting the ACK of a SYN segment and the TCP
    // implementation is using an RTO less than 3 seconds, the RTO MUST be re-initialized to 3
    // seconds when data transmission begins".
    assert_eq!(c.rto(), Duration::from_secs(3));
}

// Fast retransmit and NewReno: RFC 5681 3.2, RFC 6582 3.2.

#[test]
fn fast_retransmit_and_newreno_recovery() {
    let mut c = established();
    let data = bytes(5000, 4);
    assert_eq!(c.send(&data), 5000);
    let sent = transmit(&mut c, ms(20));
    let seqs: Vec<u32> = sent.iter().map(|(r, _)| r.seq.0).collect();
    assert_eq!(seqs, [1001, 2001, 3001, 4001, 5001]);
    assert_eq!(sent[3].0.flags, ACK);
    assert_eq!(sent[4].0.flags, PSH_ACK);

    // The first and third segments are lost. Three duplicate ACKs.
    for i in 1..=3 {
        feed(&mut c, ms(30), &ack(PEER_ISS + 1, ISS + 1), &[]);
        assert_eq!(c.counters().dup_acks, i);
        if i < 3 {
            silent(&mut c, ms(30));
        }
    }
    assert_eq!(c.counters().fast_retransmits, 1);
    // ssthresh = max(FlightSize / 2, 2 * SMSS) = 2500; cwnd = ssthresh + 3 * SMSS.
    assert_eq!((c.ssthresh(), c.cwnd()), (2500, 5500));
    assert_eq!(one(&mut c, ms(30)), sent[0]);
    assert_eq!(c.counters().retransmits, 1);

    // Each further duplicate inflates the window by one SMSS.
    feed(&mut c, ms(31), &ack(PEER_ISS + 1, ISS + 1), &[]);
    assert_eq!(c.cwnd(), 6500);
    silent(&mut c, ms(31));

    // A partial ACK (up to the second hole): deflate by the 2000 bytes acknowledged, add back
    // one SMSS, and retransmit the next hole at once.
    feed(&mut c, ms(40), &ack(PEER_ISS + 1, ISS + 2001), &[]);
    assert_eq!(c.cwnd(), 5500);
    assert_eq!(one(&mut c, ms(40)), sent[2]);
    assert_eq!(c.counters().retransmits, 2);
    assert_eq!(c.counters().fast_retransmits, 1, "still the same recovery");

    // The full ACK ends recovery: cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS).
    feed(&mut c, ms(50), &ack(PEER_ISS + 1, ISS + 5001), &[]);
    assert_eq!(c.cwnd(), 2000);
    assert_eq!(c.ssthresh(), 2500);
    assert_eq!(c.send_queue(), 0);
    assert_buffers_trimmed(&mut c, ms(50));
    // With nothing outstanding, a repeated ACK is no duplicate.
    feed(&mut c, ms(60), &ack(PEER_ISS + 1, ISS + 5001), &[]);
    assert_eq!(c.counters().dup_acks, 4);
}

#[test]
fn acks_with_data_or_a_new_window_are_not_duplicates() {
    let mut c = established();
    assert_eq!(c.send(&bytes(3000, 1)), 3000);
    let _ = transmit(&mut c, ms(20));
    // RFC 5681 2: a duplicate carries no data and does not change the window.
    for i in 0..3u32 {
        feed(&mut c, ms(30), &ack(PEER_ISS + 1 + i, ISS + 1), b"x");
    }
    for w in [10_000, 11_000, 12_000] {
        feed(
            &mut c,
            ms(30),
            &with_window(ack(PEER_ISS + 4, ISS + 1), w),
            &[],
        );
    }
    assert_eq!(c.counters().dup_acks, 0);
    assert_eq!(c.counters().fast_retransmits, 0);
}

// Option negotiation: RFC 9293 3.7.1 (MSS), RFC 7323 2 (window scale).

#[test]
fn mss_defaults_to_536_without_the_option() {
    let mut peer_syn = syn(PEER_ISS);
    peer_syn.options.mss = None;
    let (mut c, synack) = syn_received_with(params(), &peer_syn);
    assert_eq!(
        synack,
        out_syn(Some(PEER_ISS + 1)),
        "we still announce ours"
    );
    feed(&mut c, ms(10), &ack(PEER_ISS + 1, ISS + 1), &[]);
    assert_eq!(c.mss(), 536);
    assert_eq!(c.send(&bytes(2000, 0)), 2000);
    let sent = transmit(&mut c, ms(20));
    let lens: Vec<usize> = sent.iter().map(|(_, p)| p.len()).collect();
    assert_eq!(lens, [536, 536, 536], "the short tail waits (Nagle)");
}

#[test]
fn mss_is_the_smaller_of_both() {
    for (theirs, expect) in [(1460, 1000), (1000, 1000), (600, 600)] {
        let mut peer_syn = syn(PEER_ISS);
        peer_syn.options.mss = Some(theirs);
        let (c, _) = syn_received_with(params(), &peer_syn);
        assert_eq!(c.mss(), expect, "peer MSS {theirs}");
    }
}

fn big_buffers() -> Params {
    Params {
        window_scaling: true,
        rx_buffer: 256 * 1024,
        ..params()
    }
}

#[test]
fn window_scale_used_when_both_offer() {
    let mut peer_syn = syn(PEER_ISS);
    peer_syn.options.window_scale = Some(7);
    let (mut c, synack) = syn_received_with(big_buffers(), &peer_syn);
    // 256 KiB needs a shift of 3; the SYN,ACK's own window is never scaled (RFC 7323 2.2).
    let mut expect = out_syn(Some(PEER_ISS + 1));
    expect.options.window_scale = Some(3);
    expect.window = 65_535;
    assert_eq!(synack, expect);
    feed(
        &mut c,
        ms(10),
        &with_window(ack(PEER_ISS + 1, ISS + 1), 100),
        &[],
    );
    assert_eq!(c.send_window(), 100 << 7);
    feed(&mut c, ms(20), &ack(PEER_ISS + 1, ISS + 1), b"x");
    // (256 KiB - 1) >> 3, rounded down.
    assert_eq!(
        one_bare(&mut c, ms(20)),
        out(ISS + 1, PEER_ISS + 2, ACK, 32_767)
    );
}

#[test]
fn window_scale_off_when_the_peer_does_not_offer() {
    let (mut c, synack) = syn_received_with(big_buffers(), &syn(PEER_ISS));
    let mut expect = out_syn(Some(PEER_ISS + 1));
    expect.window = 65_535;
    assert_eq!(synack, expect, "no window scale option in the SYN,ACK");
    feed(
        &mut c,
        ms(10),
        &with_window(ack(PEER_ISS + 1, ISS + 1), 100),
        &[],
    );
    assert_eq!(c.send_window(), 100);
    feed(&mut c, ms(20), &ack(PEER_ISS + 1, ISS + 1), b"x");
    let r = one_bare(&mut c, ms(20));
    assert_eq!((r.ack, r.window), (Seq(PEER_ISS + 2), 65_534));
}

#[test]
fn window_scale_off_when_we_do_not_offer() {
    let mut peer_syn = syn(PEER_ISS);
    peer_syn.options.window_scale = Some(7);
    let p = Params {
        window_scaling: false,
        ..big_buffers()
    };
    let (mut c, synack) = syn_received_with(p, &peer_syn);
    assert_eq!(synack.options.window_scale, None);
    feed(
        &mut c,
        ms(10),
        &with_window(ack(PEER_ISS + 1, ISS + 1), 100),
        &[],
    );
    assert_eq!(c.send_window(), 100, "the peer's shift is not applied");
}

#[test]
fn window_scale_in_an_active_open() {
    // Offered in our SYN; the SYN,ACK without it turns it off.
    let mut c = Connection::connect(local(), remote(), Seq(ISS), 0, big_buffers());
    let mut expect = out_syn(None);
    expect.options.window_scale = Some(3);
    expect.window = 65_535;
    assert_eq!(one_bare(&mut c, ms(0)), expect);
    feed(
        &mut c,
        ms(10),
        &with_window(syn_ack(PEER_ISS, ISS + 1), 1000),
        &[],
    );
    assert_eq!(c.send_window(), 1000);
    assert_eq!(
        one_bare(&mut c, ms(10)),
        out(ISS + 1, PEER_ISS + 1, ACK, 65_535)
    );

    // The SYN,ACK with it: its own window unscaled, later ones scaled both ways.
    let mut c = Connection::connect(local(), remote(), Seq(ISS), 0, big_buffers());
    let _ = one_bare(&mut c, ms(0));
    let mut sa = with_window(syn_ack(PEER_ISS, ISS + 1), 1000);
    sa.options.window_scale = Some(2);
    feed(&mut c, ms(10), &sa, &[]);
    assert_eq!(c.send_window(), 1000, "a SYN's window is not scaled");
    assert_eq!(
        one_bare(&mut c, ms(10)),
        out(ISS + 1, PEER_ISS + 1, ACK, ((256 * 1024) >> 3) as u16)
    );
    feed(
        &mut c,
        ms(20),
        &with_window(ack(PEER_ISS + 1, ISS + 1), 1000),
        &[],
    );
    assert_eq!(c.send_window(), 4000);
}

// The socket table (crate::tcp::Sockets): RFC 9293 3.10.7.1 and 3.10.7.2.

const TABLE_LOCAL: u16 = 80;

fn table(config: Config) -> Sockets {
    Sockets::new(config, 1460, 42)
}

fn table_local() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(LOCAL_IP), TABLE_LOCAL)
}

fn peer_at(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(REMOTE_IP), port)
}

/// A segment from `remote` to our port 80.
fn to_table(remote: SocketAddr, mut r: Repr) -> Repr {
    r.src_port = remote.port();
    r.dst_port = TABLE_LOCAL;
    r
}

/// Every segment the table sends at `now`, parsed back.
fn drain(s: &mut Sockets, now: Instant) -> Vec<(SocketAddr, Repr, Vec<u8>)> {
    let mut segments = Vec::new();
    let mut buf = Vec::new();
    while let Some((src, dst)) = s.next_segment(now, &mut buf) {
        let buf = core::mem::take(&mut buf);
        let (r, payload) =
            segment::parse(&buf, src.ip(), dst.ip()).expect("the table emits valid segments");
        assert_eq!(src.port(), r.src_port);
        assert_eq!(dst.port(), r.dst_port);
        segments.push((dst, r, payload.to_vec()));
        assert!(segments.len() < 1000, "next_segment never stops");
    }
    segments
}

#[test]
fn table_answers_a_syn_to_a_closed_port_with_rst_ack() {
    let mut s = table(Config::default());
    let peer = peer_at(40_000);
    let outcome = s.on_segment(ms(0), table_local(), peer, &to_table(peer, syn(7777)), &[]);
    assert_eq!(outcome, Outcome::NoSocket);
    let sent = drain(&mut s, ms(0));
    assert_eq!(sent.len(), 1);
    let (to, r, payload) = &sent[0];
    assert_eq!(*to, peer);
    assert!(payload.is_empty());
    // "<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>"
    assert_eq!(
        *r,
        Repr {
            src_port: TABLE_LOCAL,
            dst_port: 40_000,
            seq: Seq(0),
            ack: Seq(7778),
            flags: RST_ACK,
            window: 0,
            options: Options::default(),
            urgent: 0,
        }
    );
    assert_eq!(s.counters().resets_sent, 1);
    // SEG.LEN counts data and FIN too.
    let stray = seg(100, None, Flags { fin: true, ..NONE });
    s.on_segment(ms(1), table_local(), peer, &to_table(peer, stray), b"abc");
    let sent = drain(&mut s, ms(1));
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].1.seq, sent[0].1.ack), (Seq(0), Seq(104)));
}

#[test]
fn table_answers_an_ack_to_no_socket_with_rst() {
    let mut s = table(Config::default());
    let peer = peer_at(40_000);
    let outcome = s.on_segment(
        ms(0),
        table_local(),
        peer,
        &to_table(peer, ack(123, 9999)),
        b"data",
    );
    assert_eq!(outcome, Outcome::NoSocket);
    let sent = drain(&mut s, ms(0));
    assert_eq!(sent.len(), 1);
    // "<SEQ=SEG.ACK><CTL=RST>"
    let r = sent[0].1;
    assert_eq!((r.seq, r.flags, r.window), (Seq(9999), RST, 0));
}

#[test]
fn table_never_answers_a_rst() {
    let mut s = table(Config::default());
    let peer = peer_at(40_000);
    for r in [rst(5), rst_ack(5, 6)] {
        let outcome = s.on_segment(ms(0), table_local(), peer, &to_table(peer, r), &[]);
        assert_eq!(outcome, Outcome::Ignored);
    }
    // Nor to a listener.
    s.listen(TABLE_LOCAL, 4).expect("listen");
    let outcome = s.on_segment(ms(0), table_local(), peer, &to_table(peer, rst(5)), &[]);
    assert_eq!(outcome, Outcome::Ignored);
    assert!(drain(&mut s, ms(0)).is_empty());
    assert_eq!(s.counters().resets_sent, 0);
    assert_eq!(s.poll_at(), None);
}

#[test]
fn table_listener_answers_a_stray_ack_with_rst() {
    let mut s = table(Config {
        syn_cookies: false,
        ..Config::default()
    });
    s.listen(TABLE_LOCAL, 4).expect("listen");
    let peer = peer_at(40_000);
    s.on_segment(
        ms(0),
        table_local(),
        peer,
        &to_table(peer, ack(123, 9999)),
        &[],
    );
    let sent = drain(&mut s, ms(0));
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].1.seq, sent[0].1.flags), (Seq(9999), RST));
}

/// A passive open through the table: SYN, SYN,ACK, ACK. Returns the SYN,ACK.
fn table_handshake(s: &mut Sockets, now: Instant, peer: SocketAddr) -> Repr {
    let outcome = s.on_segment(
        now,
        table_local(),
        peer,
        &to_table(peer, syn(PEER_ISS)),
        &[],
    );
    assert_eq!(outcome, Outcome::Handled);
    let sent = drain(s, now);
    assert_eq!(sent.len(), 1, "{sent:#?}");
    let synack = sent[0].1;
    assert_eq!(sent[0].0, peer);
    assert_eq!(synack.flags, SYN_ACK);
    assert_eq!(synack.ack, Seq(PEER_ISS + 1));
    let final_ack = to_table(peer, ack(PEER_ISS + 1, synack.seq.0.wrapping_add(1)));
    assert_eq!(
        s.on_segment(now, table_local(), peer, &final_ack, &[]),
        Outcome::Handled
    );
    synack
}

#[test]
fn table_passive_open_reaches_the_accept_queue() {
    let mut s = table(Config::default());
    let l = s.listen(TABLE_LOCAL, 4).expect("listen");
    assert!(s.accept(l).is_none());
    let peer = peer_at(40_000);
    let synack = table_handshake(&mut s, ms(0), peer);
    assert_eq!(synack.options.mss, Some(1460));
    let h = s.accept(l).expect("an established connection");
    let c = s.get(h).expect("the connection");
    assert_eq!(c.state(), State::Established);
    assert_eq!(c.remote(), peer);
    assert_eq!(s.counters().passive_opens, 1);
    assert!(s.accept(l).is_none());
}

#[test]
fn table_drops_syns_when_the_backlog_is_full() {
    let mut s = table(Config {
        syn_cookies: false,
        ..Config::default()
    });
    let l = s.listen(TABLE_LOCAL, 1).expect("listen");
    let first = peer_at(40_000);
    let syn_from = |peer| to_table(peer, syn(PEER_ISS));
    let outcome = s.on_segment(ms(0), table_local(), first, &syn_from(first), &[]);
    assert_eq!(outcome, Outcome::Handled);
    let sent = drain(&mut s, ms(0));
    assert_eq!(sent.len(), 1);
    let synack = sent[0].1;

    // One half-open connection fills a backlog of one.
    let second = peer_at(40_001);
    let outcome = s.on_segment(ms(1), table_local(), second, &syn_from(second), &[]);
    assert_eq!(outcome, Outcome::BacklogFull);
    assert_eq!(s.counters().backlog_drops, 1);
    assert!(drain(&mut s, ms(1)).is_empty(), "dropped in silence");

    // Still full once established but not accepted.
    let final_ack = to_table(first, ack(PEER_ISS + 1, synack.seq.0.wrapping_add(1)));
    assert_eq!(
        s.on_segment(ms(2), table_local(), first, &final_ack, &[]),
        Outcome::Handled
    );
    let outcome = s.on_segment(ms(3), table_local(), second, &syn_from(second), &[]);
    assert_eq!(outcome, Outcome::BacklogFull);
    assert_eq!(s.counters().backlog_drops, 2);

    // Room again after accept.
    assert!(s.accept(l).is_some());
    let outcome = s.on_segment(ms(4), table_local(), second, &syn_from(second), &[]);
    assert_eq!(outcome, Outcome::Handled);
    assert_eq!(s.counters().backlog_drops, 2);
}

#[test]
fn table_syn_cookie_round_trip() {
    let mut s = table(Config::default());
    let l = s.listen(TABLE_LOCAL, 1).expect("listen");
    let first = peer_at(40_000);
    let syn_from = |peer| to_table(peer, syn(PEER_ISS));
    s.on_segment(ms(0), table_local(), first, &syn_from(first), &[]);
    assert_eq!(drain(&mut s, ms(0)).len(), 1);
    let connections = s.len();

    // The backlog is full: the second SYN gets a cookie SYN,ACK and no state (RFC 4987 3.6).
    let second = peer_at(40_001);
    let outcome = s.on_segment(ms(1), table_local(), second, &syn_from(second), &[]);
    assert_eq!(outcome, Outcome::Handled);
    assert_eq!(s.len(), connections, "no state kept");
    assert_eq!(s.counters().syn_cookies_sent, 1);
    assert_eq!(s.counters().backlog_drops, 0);
    let sent = drain(&mut s, ms(1));
    assert_eq!(sent.len(), 1);
    let (to, cookie, _) = sent[0];
    assert_eq!(to, second);
    assert_eq!(cookie.flags, SYN_ACK);
    assert_eq!(cookie.ack, Seq(PEER_ISS + 1));
    assert_eq!(cookie.options.mss, Some(1460));
    assert_eq!(cookie.options.window_scale, None);
    assert_eq!(cookie.options.timestamps, None);
    assert!(!cookie.options.sack_permitted);

    // A forged ACK does not check out: RST, no connection.
    let forged = to_table(second, ack(PEER_ISS + 1, cookie.seq.0.wrapping_add(2)));
    s.on_segment(ms(2), table_local(), second, &forged, &[]);
    assert_eq!(s.counters().syn_cookies_rejected, 1);
    assert_eq!(s.len(), connections);
    let sent = drain(&mut s, ms(2));
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].1.seq, sent[0].1.flags), (forged.ack, RST));

    // The real ACK, carrying data, opens the connection.
    let real = to_table(second, ack(PEER_ISS + 1, cookie.seq.0.wrapping_add(1)));
    let outcome = s.on_segment(ms(3), table_local(), second, &real, b"hello");
    assert_eq!(outcome, Outcome::Handled);
    assert_eq!(s.counters().syn_cookies_accepted, 1);
    let h = s
        .accept(l)
        .expect("the cookie connection is ready to accept");
    let c = s.get(h).expect("the connection");
    assert_eq!(c.state(), State::Established);
    assert_eq!(c.remote(), second);
    assert_eq!(
        c.mss(),
        536,
        "the cookie's MSS class for a peer MSS of 1000"
    );
    let mut buf = [0u8; 16];
    assert_eq!(s.recv(h, &mut buf), Ok(5));
    assert_eq!(&buf[..5], b"hello");
    let sent = drain(&mut s, ms(3));
    assert_eq!(sent.len(), 1);
    let r = sent[0].1;
    assert_eq!(
        (r.seq, r.ack, r.flags),
        (cookie.seq + 1, Seq(PEER_ISS + 6), ACK)
    );
}

#[test]
fn table_is_idle_after_a_duplicate_syn() {
    let mut s = table(Config::default());
    s.listen(TABLE_LOCAL, 4).expect("listen");
    let peer = peer_at(40_000);
    let peer_syn = to_table(peer, syn(PEER_ISS));
    s.on_segment(ms(0), table_local(), peer, &peer_syn, &[]);
    assert_eq!(drain(&mut s, ms(0)).len(), 1);
    // The peer's SYN again: whatever the answer, the table must then wait for a deadline
    // ahead (the SYN,ACK's retransmission at 1 s), not report work due now forever.
    s.on_segment(ms(100), table_local(), peer, &peer_syn, &[]);
    let _ = drain(&mut s, ms(100));
    let next = s.poll_at().expect("the SYN,ACK is timed");
    assert!(next > ms(100), "poll_at() is {next} at {}", ms(100));
}

// Loss recovery with SACK: RFC 6675.

#[test]
fn sack_recovery_retransmits_the_hole() {
    let mut c = established_with_sack();
    let data = bytes(5000, 6);
    assert_eq!(c.send(&data), 5000);
    let sent = transmit(&mut c, ms(20));
    assert_eq!(sent.len(), 5);
    // The first segment is lost; the others arrive and are SACKed.
    for (i, right) in [3001, 4001, 5001].into_iter().enumerate() {
        let mut dup = ack(PEER_ISS + 1, ISS + 1);
        dup.options.sack.push(Seq(ISS + 1001), Seq(right));
        feed(&mut c, ms(30 + i as u64), &dup, &[]);
        if i < 2 {
            silent(&mut c, ms(30 + i as u64));
        }
    }
    assert_eq!(c.counters().fast_retransmits, 1);
    // RFC 6675 5 step 4.2: ssthresh = cwnd = FlightSize / 2.
    assert_eq!((c.ssthresh(), c.cwnd()), (2500, 2500));
    // Only the hole is resent, never the SACKed data.
    assert_eq!(transmit(&mut c, ms(32)), sent[..1].to_vec());
    assert_eq!(c.counters().sack_retransmits, 1);
    assert_eq!(c.counters().retransmits, 1);
    // The full ACK ends recovery.
    feed(&mut c, ms(40), &ack(PEER_ISS + 1, ISS + 5001), &[]);
    assert_eq!(c.send_queue(), 0);
    assert_eq!(c.cwnd(), 2000);
    assert_buffers_trimmed(&mut c, ms(40));
}

// Keepalive (RFC 9293 3.8.4) and path MTU (RFC 1191).

#[test]
fn keepalive_probes_an_idle_peer_then_gives_up() {
    let mut c = established();
    c.set_keepalive(Some(Duration::from_secs(10)));
    // Last heard at 10 ms (the SYN,ACK).
    assert_eq!(c.poll_at(), Some(ms(10_010)));
    silent(&mut c, ms(10_009));
    // SEG.SEQ = SND.NXT - 1, no data: the peer must answer with an ACK.
    let probe = out(ISS, PEER_ISS + 1, ACK, RX as u16);
    assert_eq!(one_bare(&mut c, ms(10_010)), probe);
    assert_eq!(c.counters().keepalive_probes, 1);
    assert_eq!(c.poll_at(), Some(ms(85_010)));
    // An answer starts the idle time again.
    feed(&mut c, ms(20_000), &ack(PEER_ISS + 1, ISS + 1), &[]);
    assert_eq!(c.poll_at(), Some(ms(30_000)));
    let mut at = 30_000;
    for _ in 0..KEEPALIVE_PROBES {
        assert_eq!(one_bare(&mut c, ms(at)), probe, "at {at} ms");
        at += 75_000;
    }
    assert_eq!(c.state(), State::Established);
    silent(&mut c, ms(at));
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.error(), Some(Error::TimedOut));
}

#[test]
fn path_mtu_shrinks_segments() {
    let mut c = established();
    // The ICMP error quotes a segment in flight (RFC 5927).
    assert_eq!(c.send(&bytes(10, 0)), 10);
    let _ = one(&mut c, ms(15));
    let quoted = Seq(ISS + 1);
    c.on_path_mtu(800, quoted);
    assert_eq!(c.mss(), 760);
    // Never below 576 - 40, and never grows.
    c.on_path_mtu(100, quoted);
    assert_eq!(c.mss(), 536);
    c.on_path_mtu(1500, quoted);
    assert_eq!(c.mss(), 536);
    feed(&mut c, ms(18), &ack(PEER_ISS + 1, ISS + 11), &[]);
    assert_eq!(c.send(&bytes(1100, 0)), 1100);
    let lens: Vec<usize> = transmit(&mut c, ms(20))
        .iter()
        .map(|(_, p)| p.len())
        .collect();
    assert_eq!(lens, [536, 536]);
}

// More of the state machine: FIN ordering, data with control bits, user calls.

#[test]
fn out_of_order_fin_waits_for_the_hole() {
    let mut c = established();
    // "def" and the FIN arrive before "abc".
    feed(&mut c, ms(20), &fin(PEER_ISS + 4, ISS + 1), b"def");
    assert_eq!(c.state(), State::Established);
    assert!(!c.recv_finished());
    assert_eq!(
        one_bare(&mut c, ms(20)),
        out(ISS + 1, PEER_ISS + 1, ACK, RX as u16)
    );
    feed(&mut c, ms(30), &ack(PEER_ISS + 1, ISS + 1), b"abc");
    assert_eq!(c.state(), State::CloseWait);
    assert_eq!(read_all(&mut c), b"abcdef");
    assert_eq!(
        one_bare(&mut c, ms(30)),
        out(ISS + 1, PEER_ISS + 8, ACK, RX as u16 - 7)
    );
}

#[test]
fn fin_on_the_final_ack_of_a_passive_open() {
    let (mut c, _) = syn_received_with(params(), &syn(PEER_ISS));
    // RFC 9293 3.10.7.4, eighth: "SYN-RECEIVED STATE ... Enter the CLOSE-WAIT state."
    feed(&mut c, ms(10), &fin(PEER_ISS + 1, ISS + 1), b"req");
    assert_eq!(c.state(), State::CloseWait);
    assert_eq!(read_all(&mut c), b"req");
    assert_eq!(
        one_bare(&mut c, ms(10)),
        out(ISS + 1, PEER_ISS + 5, ACK, RX as u16 - 4)
    );
}

#[test]
fn data_on_a_syn_ack_is_accepted() {
    let mut c = Connection::connect(local(), remote(), Seq(ISS), 0, params());
    let _ = one_bare(&mut c, ms(0));
    // RFC 9293 3.10.7.3: "If there are other controls or text in the segment, then continue
    // processing at the sixth step under Section 3.10.7.4".
    feed(&mut c, ms(10), &syn_ack(PEER_ISS, ISS + 1), b"hi");
    assert_eq!(c.state(), State::Established);
    assert_eq!(read_all(&mut c), b"hi");
    assert_eq!(
        one_bare(&mut c, ms(10)),
        out(ISS + 1, PEER_ISS + 3, ACK, RX as u16 - 2)
    );
}

#[test]
fn data_and_fin_share_a_segment_and_are_retransmitted_together() {
    let mut c = established();
    assert_eq!(c.send(b"bye"), 3);
    c.shutdown();
    let flags = Flags {
        psh: true,
        ..FIN_ACK
    };
    let first = one(&mut c, ms(20));
    assert_eq!(first.0, out(ISS + 1, PEER_ISS + 1, flags, RX as u16));
    assert_eq!(first.1, b"bye");
    assert_eq!(one(&mut c, ms(220)), first);
    // The data but not the FIN is acknowledged: the FIN alone goes again.
    feed(&mut c, ms(230), &ack(PEER_ISS + 1, ISS + 4), &[]);
    assert_eq!(c.state(), State::FinWait1);
    assert_eq!(
        one_bare(&mut c, ms(430)),
        out(ISS + 4, PEER_ISS + 1, FIN_ACK, RX as u16)
    );
    feed(&mut c, ms(440), &ack(PEER_ISS + 1, ISS + 5), &[]);
    assert_eq!(c.state(), State::FinWait2);
}

#[test]
fn nagle_holds_small_segments_while_data_is_in_flight() {
    let mut c = established();
    assert_eq!(c.send(b"a"), 1);
    assert_eq!(one(&mut c, ms(20)).1, b"a");
    assert_eq!(c.send(b"b"), 1);
    silent(&mut c, ms(21));
    assert_eq!(c.send(b"c"), 1);
    silent(&mut c, ms(22));
    // RFC 9293 3.7.4: the small segments coalesce until the outstanding data is acknowledged.
    feed(&mut c, ms(30), &ack(PEER_ISS + 1, ISS + 2), &[]);
    let (r, payload) = one(&mut c, ms(30));
    assert_eq!(r.seq, Seq(ISS + 2));
    assert_eq!(payload, b"bc");

    // With Nagle off, they go at once.
    c.set_nodelay(true);
    assert_eq!(c.send(b"d"), 1);
    assert_eq!(one(&mut c, ms(31)).1, b"d");
}

#[test]
fn abort_resets_a_synchronized_connection() {
    let mut c = established();
    assert_eq!(c.send(b"unsent"), 6);
    assert_eq!(
        c.abort(),
        Some(Reset {
            seq: Seq(ISS + 1),
            ack: None
        })
    );
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.error(), Some(Error::Aborted));
    silent(&mut c, ms(20));

    // Before the peer knows of us there is nothing to reset.
    let mut c = Connection::connect(local(), remote(), Seq(ISS), 0, params());
    let _ = one_bare(&mut c, ms(0));
    assert_eq!(c.abort(), None);
    assert_eq!(c.state(), State::Closed);
}

#[test]
fn icmp_unreachable_refuses_a_connection_in_syn_sent_only() {
    let mut c = Connection::connect(local(), remote(), Seq(ISS), 0, params());
    let _ = one_bare(&mut c, ms(0));
    c.on_icmp_unreachable(Seq(ISS));
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.error(), Some(Error::Refused));

    // A soft error once established (RFC 5461).
    let mut c = established();
    assert_eq!(c.send(b"x"), 1);
    let _ = one(&mut c, ms(20));
    c.on_icmp_unreachable(Seq(ISS + 1));
    assert_eq!(c.state(), State::Established);
    assert_eq!(c.error(), None);
}

// Connection lifetime: FIN-WAIT-2 after the application closed, data after close (RFC 1122
// 4.2.2.13), the SYN,ACK retry limit, TIME-WAIT holding nothing, orphans and a full table.

#[test]
fn fin_wait_2_of_a_closed_connection_ends_after_the_fin_timeout() {
    let mut c = established();
    c.close();
    assert!(c.is_orphan());
    assert_eq!(
        one_bare(&mut c, ms(20)),
        out(ISS + 1, PEER_ISS + 1, FIN_ACK, RX as u16)
    );
    feed(&mut c, ms(30), &ack(PEER_ISS + 1, ISS + 2), &[]);
    assert_eq!(c.state(), State::FinWait2);
    // fin_timeout is 5 s here; the peer never sends its FIN.
    assert_eq!(c.poll_at(), Some(ms(5030)));
    silent(&mut c, ms(5029));
    assert_eq!(c.state(), State::FinWait2);
    // It goes without a segment, as Linux's does.
    silent(&mut c, ms(5030));
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.error(), None);
    assert_eq!(c.counters().fin_wait2_timeouts, 1);
    assert_eq!(c.poll_at(), None);
}

#[test]
fn fin_wait_2_after_a_shutdown_waits_until_the_application_closes() {
    // Half-closed: the application still reads, so FIN-WAIT-2 has no limit.
    let (mut c, _, _) = reach(State::FinWait2);
    silent(&mut c, ms(600_000));
    assert_eq!(c.state(), State::FinWait2);
    // Once it closes, the limit runs from then.
    c.close();
    assert_eq!(c.poll_at(), Some(ms(605_000)));
    silent(&mut c, ms(605_000));
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.counters().fin_wait2_timeouts, 1);
}

#[test]
fn data_after_close_is_answered_with_a_reset() {
    // RFC 1122 4.2.2.13: "if new data is received after CLOSE is called, its TCP SHOULD send a
    // RST to show that data was lost". In FIN-WAIT-1:
    let mut c = established();
    c.close();
    let _ = one_bare(&mut c, ms(20));
    let rst = feed(&mut c, ms(30), &ack(PEER_ISS + 1, ISS + 1), b"late");
    assert_eq!(
        rst,
        Some(Reset {
            seq: Seq(ISS + 1),
            ack: None
        })
    );
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.counters().data_after_close, 1);
    silent(&mut c, ms(30));
    // In FIN-WAIT-2, with our FIN acknowledged: the RST carries the peer's ACK as its sequence
    // number, the one sequence number the peer takes a RST at (RFC 5961 3.2).
    let mut c = established();
    c.close();
    let _ = one_bare(&mut c, ms(20));
    feed(&mut c, ms(30), &ack(PEER_ISS + 1, ISS + 2), &[]);
    assert_eq!(c.state(), State::FinWait2);
    let rst = feed(&mut c, ms(40), &ack(PEER_ISS + 1, ISS + 2), b"late");
    assert_eq!(rst.map(|r| r.seq), Some(Seq(ISS + 2)));
    assert_eq!(c.state(), State::Closed);
    // After a shutdown only, the same data is the application's to read.
    let (mut c, _, _) = reach(State::FinWait2);
    assert_eq!(
        feed(&mut c, ms(30), &ack(PEER_ISS + 1, ISS + 2), b"late"),
        None
    );
    assert_eq!(read_all(&mut c), b"late");
    // And the peer's FIN alone, after close, is the ordinary end.
    let mut c = established();
    c.close();
    let _ = one_bare(&mut c, ms(20));
    assert_eq!(feed(&mut c, ms(30), &fin(PEER_ISS + 1, ISS + 2), &[]), None);
    assert_eq!(c.state(), State::TimeWait);
}

#[test]
fn syn_received_gives_up_after_its_own_retry_limit() {
    // Linux: 5 SYN,ACK retransmissions, about 63 s, whatever the data limit.
    let p = Params {
        synack_retries: 5,
        max_retries: 15,
        ..params()
    };
    let (mut c, synack) = syn_received_with(p, &syn(PEER_ISS));
    // RTO 1 s before any sample, doubling (RFC 6298 2.1, 5.5).
    for at in [1_000, 3_000, 7_000, 15_000, 31_000] {
        assert_eq!(one_bare(&mut c, ms(at)), synack, "at {at} ms");
    }
    assert_eq!(c.poll_at(), Some(ms(63_000)));
    silent(&mut c, ms(63_000));
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.error(), Some(Error::TimedOut));
    // Data keeps its own limit once established: the same connection retransmits 15 times.
    let mut c = established_with(p);
    assert_eq!(c.send(b"x"), 1);
    let _ = one(&mut c, ms(20));
    let mut retransmissions = 0;
    while c.state() == State::Established {
        let at = c.poll_at().expect("the retransmission timer");
        retransmissions += transmit(&mut c, at).len();
        assert!(retransmissions <= 15);
    }
    assert_eq!(retransmissions, 15);
    assert_eq!(c.error(), Some(Error::TimedOut));
}

#[test]
fn time_wait_holds_no_buffers() {
    // The application closed with data unread: nobody will read it; on entering TIME-WAIT
    // every buffer goes at once.
    let mut c = established();
    feed(&mut c, ms(20), &ack(PEER_ISS + 1, ISS + 1), b"unread");
    assert_eq!(c.send(b"bye"), 3);
    c.close();
    let sent = transmit(&mut c, ms(20));
    assert!(sent.iter().any(|(r, _)| r.flags.fin), "{sent:#?}");
    feed(&mut c, ms(30), &fin(PEER_ISS + 7, ISS + 5), &[]);
    assert_eq!(c.state(), State::TimeWait);
    assert_eq!(c.buffer_memory(), 0);
    // An application that still holds its connection reads what is left; then nothing is held.
    let mut c = established();
    feed(&mut c, ms(20), &ack(PEER_ISS + 1, ISS + 1), b"unread");
    c.shutdown();
    let _ = transmit(&mut c, ms(20));
    feed(&mut c, ms(30), &fin(PEER_ISS + 7, ISS + 2), &[]);
    assert_eq!(c.state(), State::TimeWait);
    assert!(c.buffer_memory() > 0, "unread data is kept");
    assert_eq!(read_all(&mut c), b"unread");
    assert_eq!(c.buffer_memory(), 0);
}

#[test]
fn table_resets_the_oldest_closed_connection_beyond_max_orphans() {
    let mut s = table(Config {
        max_orphans: 2,
        ..Config::default()
    });
    let l = s.listen(TABLE_LOCAL, 8).expect("listen");
    let mut accepted = Vec::new();
    for port in 40_000..40_003 {
        let peer = peer_at(port);
        table_handshake(&mut s, ms(0), peer);
        accepted.push(s.accept(l).expect("established"));
    }
    for (i, &h) in accepted.iter().enumerate() {
        s.close(h);
        let sent = drain(&mut s, ms(10 + i as u64));
        if i < 2 {
            assert_eq!(sent.len(), 1, "{sent:#?}");
            assert_eq!(sent[0].1.flags, FIN_ACK);
            assert_eq!(s.orphans(), i + 1);
        } else {
            // The third orphan: the oldest (port 40 000) is reset to make room.
            assert_eq!(sent.len(), 2, "{sent:#?}");
            assert_eq!((sent[0].0, sent[0].1.flags), (peer_at(40_000), RST));
            assert_eq!((sent[1].0, sent[1].1.flags), (peer_at(40_002), FIN_ACK));
        }
    }
    assert_eq!(s.orphans(), 2);
    assert_eq!(s.counters().orphans_reset, 1);
    assert_eq!(s.len(), 2);
    assert!(!s.iter().any(|c| c.remote() == peer_at(40_000)));
}

#[test]
fn table_full_of_time_wait_makes_room_for_new_connections() {
    let mut s = table(Config {
        max_connections: 2,
        syn_cookies: false,
        ..Config::default()
    });
    let l = s.listen(TABLE_LOCAL, 8).expect("listen");
    // Two connections closed by us first: both end in TIME-WAIT.
    for (i, port) in [40_000, 40_001].into_iter().enumerate() {
        let peer = peer_at(port);
        let now = ms(i as u64 * 10);
        let synack = table_handshake(&mut s, now, peer);
        let h = s.accept(l).expect("established");
        s.close(h);
        assert_eq!(drain(&mut s, now).len(), 1, "our FIN");
        let their_fin = to_table(peer, fin(PEER_ISS + 1, synack.seq.0.wrapping_add(2)));
        s.on_segment(now, table_local(), peer, &their_fin, &[]);
        assert_eq!(drain(&mut s, now).len(), 1, "the last ACK");
    }
    assert_eq!(s.len(), 2);
    assert!(s.iter().all(|c| c.state() == State::TimeWait));
    assert_eq!(s.orphans(), 0, "TIME-WAIT is not counted as an orphan");
    // A third peer's SYN: the oldest TIME-WAIT connection makes room.
    let third = peer_at(40_002);
    let outcome = s.on_segment(
        ms(30),
        table_local(),
        third,
        &to_table(third, syn(PEER_ISS)),
        &[],
    );
    assert_eq!(outcome, Outcome::Handled);
    assert_eq!(s.counters().time_wait_recycled, 1);
    assert_eq!(s.len(), 2);
    assert!(!s.iter().any(|c| c.remote() == peer_at(40_000)));
    // An active open likewise takes the place of the other.
    let h = s.connect(ms(31), IpAddr::V4(LOCAL_IP), peer_at(7));
    assert!(h.is_ok(), "{h:?}");
    assert_eq!(s.counters().time_wait_recycled, 2);
    assert!(!s.iter().any(|c| c.state() == State::TimeWait));
    // No TIME-WAIT left: the table is full.
    let fourth = peer_at(40_003);
    let outcome = s.on_segment(
        ms(32),
        table_local(),
        fourth,
        &to_table(fourth, syn(PEER_ISS)),
        &[],
    );
    assert_eq!(outcome, Outcome::TableFull);
    assert_eq!(
        s.connect(ms(33), IpAddr::V4(LOCAL_IP), peer_at(8)),
        Err(crate::tcp::ConnectError::TooManyConnections)
    );
}

// Smaller rules: MUST-46, MUST-15, RFC 5961 rate limits, the FIN position, RFC 7323 4.3 and 5.5.

#[test]
fn table_connect_refuses_broadcast_and_multicast() {
    let mut s = table(Config::default());
    let us = IpAddr::V4(LOCAL_IP);
    for to in [
        "255.255.255.255:80",
        "224.0.0.1:80",
        "239.1.2.3:80",
        "[ff02::1]:80",
    ] {
        assert_eq!(
            s.connect(ms(0), us, to.parse().unwrap()),
            Err(crate::tcp::ConnectError::NotUnicast),
            "{to}"
        );
    }
    assert_eq!(s.len(), 0);
    assert!(s.connect(ms(0), us, peer_at(80)).is_ok());
}

#[test]
fn ipv6_peer_without_the_mss_option_gets_1220() {
    // RFC 9293 3.7.1 (MUST-15): 536 for IPv4, 1220 for IPv6.
    let mut peer_syn = syn(PEER_ISS);
    peer_syn.options.mss = None;
    let p = Params {
        mss: 1440,
        ..params()
    };
    let here: SocketAddr = "[fd00::1]:1000".parse().unwrap();
    let there: SocketAddr = "[fd00::2]:2000".parse().unwrap();
    let c = Connection::accept(ms(0), here, there, Seq(ISS), 0, &peer_syn, p);
    assert_eq!(c.mss(), 1220);
    let c = Connection::accept(ms(0), local(), remote(), Seq(ISS), 0, &peer_syn, p);
    assert_eq!(c.mss(), 536);
}

#[test]
fn answers_to_out_of_window_acks_are_rate_limited() {
    let mut c = established();
    let ours = out(ISS + 1, PEER_ISS + 1, ACK, RX as u16);
    // A bare ACK beyond the window: answered once per 10 ms, like a challenge ACK.
    let stray = ack(PEER_ISS + 50_000, ISS + 1);
    feed(&mut c, ms(20), &stray, &[]);
    assert_eq!(one_bare(&mut c, ms(20)), ours);
    feed(&mut c, ms(21), &stray, &[]);
    silent(&mut c, ms(21));
    feed(&mut c, ms(29), &stray, &[]);
    silent(&mut c, ms(29));
    feed(&mut c, ms(30), &stray, &[]);
    assert_eq!(one_bare(&mut c, ms(30)), ours);
    // An ACK of data never sent (RFC 5961 5.2): likewise.
    let unsent = ack(PEER_ISS + 1, ISS + 5000);
    feed(&mut c, ms(40), &unsent, &[]);
    assert_eq!(one_bare(&mut c, ms(40)), ours);
    feed(&mut c, ms(41), &unsent, &[]);
    silent(&mut c, ms(41));
    assert_eq!(c.counters().oow_acks_suppressed, 3);
    // Old data (its sender needs our ACK to stop retransmitting) is answered every time.
    let old = ack(PEER_ISS + 1 - 1000, ISS + 1);
    for at in [42, 43] {
        feed(&mut c, ms(at), &old, &bytes(1000, 1));
        assert_eq!(one_bare(&mut c, ms(at)), ours);
    }
    assert_eq!(c.counters().oow_acks_suppressed, 3);
    assert_eq!(c.state(), State::Established);
}

#[test]
fn the_first_fin_position_stands() {
    // RFC 9293 3.10.7.4 takes segments in order and the FIN once: the sequence space ends once.
    // A FIN ahead of the data (here at 5501, forged or early) is remembered; data beyond it is
    // cut off and a FIN elsewhere (6001) ignored, so the connection does not wait forever for a
    // FIN it has passed.
    let data = bytes(1000, 3);
    let mut c = established();
    feed(&mut c, ms(20), &fin(PEER_ISS + 501, ISS + 1), &[]);
    let _ = one_bare(&mut c, ms(20));
    assert_eq!(c.state(), State::Established);
    feed(&mut c, ms(30), &fin(PEER_ISS + 1, ISS + 1), &data);
    assert_eq!(c.state(), State::CloseWait);
    assert_eq!(one_bare(&mut c, ms(30)).ack, Seq(PEER_ISS + 502));
    assert_eq!(read_all(&mut c), &data[..500]);
    // A FIN below data already held is not the end either: the real one, after it, is.
    let mut c = established();
    feed(&mut c, ms(20), &ack(PEER_ISS + 501, ISS + 1), &data[500..]);
    let _ = one_bare(&mut c, ms(20));
    feed(&mut c, ms(21), &fin(PEER_ISS + 201, ISS + 1), &[]);
    let _ = one_bare(&mut c, ms(21));
    feed(&mut c, ms(22), &ack(PEER_ISS + 1, ISS + 1), &data[..500]);
    let _ = one_bare(&mut c, ms(22));
    assert_eq!(c.state(), State::Established);
    feed(&mut c, ms(23), &fin(PEER_ISS + 1001, ISS + 1), &[]);
    assert_eq!(c.state(), State::CloseWait);
    assert_eq!(read_all(&mut c), data);
}

/// A passive open with timestamps: the peer's TSval is 100 on its SYN and 110 on its ACK (at
/// 10 ms); ours are the millisecond clock plus 7000. TS.Recent is 110.
fn established_with_timestamps() -> Connection {
    let p = Params {
        timestamps: true,
        ..params()
    };
    let mut peer_syn = syn(PEER_ISS);
    peer_syn.options.timestamps = Some((100, 0));
    let mut c = Connection::accept(ms(0), local(), remote(), Seq(ISS), 7000, &peer_syn, p);
    let _ = one_bare(&mut c, ms(0));
    let mut a = ack(PEER_ISS + 1, ISS + 1);
    a.options.timestamps = Some((110, 7000));
    feed(&mut c, ms(10), &a, &[]);
    assert_eq!(c.state(), State::Established);
    c
}

#[test]
fn ts_recent_follows_the_last_ack_sent() {
    // RFC 7323 4.3 (2): TS.Recent is taken from a segment only if SEG.SEQ =< Last.ACK.sent, so
    // that an ACK covering several segments echoes the earliest (and the peer's RTT sample
    // includes our delay).
    let mut c = established_with_timestamps();
    let mss = c.mss();
    let data = bytes(2 * mss, 1);
    let mut first = ack(PEER_ISS + 1, ISS + 1);
    first.options.timestamps = Some((120, 7010));
    feed(&mut c, ms(20), &first, &data[..mss]);
    // One full-sized segment: the ACK is delayed.
    silent(&mut c, ms(20));
    let mut second = ack(PEER_ISS + 1 + mss as u32, ISS + 1);
    second.options.timestamps = Some((130, 7020));
    feed(&mut c, ms(30), &second, &data[mss..]);
    let r = one_bare(&mut c, ms(30));
    assert_eq!(r.ack, Seq(PEER_ISS + 1 + 2 * mss as u32));
    assert_eq!(r.options.timestamps, Some((7030, 120)));
    // The next segment starts where that ACK ended: its TSval is taken.
    let mut third = ack(PEER_ISS + 1 + 2 * mss as u32, ISS + 1);
    third.options.timestamps = Some((140, 7030));
    feed(&mut c, ms(40), &third, b"x");
    assert_eq!(
        one_bare(&mut c, ms(40)).options.timestamps,
        Some((7040, 140))
    );
}

#[test]
fn ts_recent_is_no_longer_valid_after_24_days_idle() {
    let mut c = established_with_timestamps();
    let mut a = ack(PEER_ISS + 1, ISS + 1);
    a.options.timestamps = Some((2_000_000_000, 7010));
    feed(&mut c, ms(20), &a, &[]);
    // Within 24 days a TSval behind TS.Recent is an old duplicate (RFC 7323 5.3).
    let mut old = ack(PEER_ISS + 1, ISS + 1);
    old.options.timestamps = Some((50, 7020));
    feed(&mut c, ms(30), &old, b"hi");
    assert_eq!(c.counters().paws_dropped, 1);
    let _ = one_bare(&mut c, ms(30));
    // RFC 7323 5.5: after 24 days idle the peer's clock may have gone round by more than 2^31
    // ticks; TS.Recent is no longer valid, the segment is taken and its TSval becomes TS.Recent.
    let later = ms(20 + 25 * 24 * 3600 * 1000);
    feed(&mut c, later, &old, b"hi");
    assert_eq!(c.counters().paws_dropped, 1);
    assert_eq!(read_all(&mut c), b"hi");
    assert_eq!(
        one_bare(&mut c, later).options.timestamps.map(|t| t.1),
        Some(50)
    );
}

// Sequence wrap, RACK's reordering window, MUST-37.

/// Moves `total` bytes of a repeating 1 MiB pattern from `a` to `b` (both connected), reading
/// and checking them as they arrive, until `a` has them all acknowledged. `sent` bytes of the
/// pattern went before. Returns the time then.
fn stream(
    mut now: Instant,
    a: &mut Connection,
    b: &mut Connection,
    sent: usize,
    total: usize,
) -> Instant {
    let block = bytes(1 << 20, 7);
    let mut buf = vec![0u8; 1 << 20];
    let (mut queued, mut got) = (0usize, 0usize);
    while got < total {
        while queued < total {
            let off = (sent + queued) % block.len();
            let want = (block.len() - off).min(total - queued);
            let n = a.send(&block[off..off + want]);
            if n == 0 {
                break;
            }
            queued += n;
        }
        now = run_pair_from(now, a, b, now + Duration::from_secs(60), |a, b| {
            b.recv_queue() >= 1 << 20 || a.send_queue() == 0
        });
        loop {
            let n = b.recv(&mut buf);
            if n == 0 {
                break;
            }
            let mut checked = 0;
            while checked < n {
                let off = (sent + got + checked) % block.len();
                let m = (n - checked).min(block.len() - off);
                assert!(
                    buf[checked..checked + m] == block[off..off + m],
                    "bytes differ after {} bytes",
                    got + checked
                );
                checked += m;
            }
            got += n;
        }
    }
    run_pair_from(now, a, b, now + Duration::from_secs(60), |a, _| {
        a.snd.una == a.snd.max
    })
}

#[test]
fn snd_una_back_at_iss_after_2_pow_32_bytes_is_no_syn() {
    // A real transfer of 2^32 - 1 bytes between two of our connections (big segments, so that
    // it takes seconds). The SYN took ISS, so SND.UNA is ISS again once they are acknowledged,
    // which must not make our SYN look unacknowledged. ISS near the top: the transfer crosses
    // zero too.
    let iss = 0xFFFF_F000u32;
    let p = Params {
        mss: 65_000,
        rx_buffer: 4 << 20,
        tx_buffer: 4 << 20,
        window_scaling: true,
        ..params()
    };
    let mut a = Connection::connect(local(), remote(), Seq(iss), 0, p);
    let (a_syn, _) = one(&mut a, ms(0));
    let mut b = Connection::accept(ms(5), remote(), local(), Seq(PEER_ISS), 0, &a_syn, p);
    let now = run_pair(&mut a, &mut b, ms(100), |a, b| {
        a.state() == State::Established && b.state() == State::Established
    });
    let wrap = u32::MAX as usize;
    let now = stream(now, &mut a, &mut b, 0, wrap);
    assert_eq!(a.snd.una, Seq(iss), "SND.UNA is back at ISS");
    assert_eq!(a.counters().bytes_out, wrap as u64);
    // Nothing is owed: no SYN,ACK goes out in ESTABLISHED.
    let after = emit_all(&mut a, now);
    assert!(after.iter().all(|(r, _)| !r.flags.syn), "{after:#?}");
    assert!(a.poll_at().is_none_or(|t| t > now));
    // More goes past ISS as any data does, and both ends close.
    let now = stream(now, &mut a, &mut b, wrap, 3 << 20);
    a.shutdown();
    let now = run_pair_from(now, &mut a, &mut b, now + Duration::from_secs(5), |_, b| {
        b.state() == State::CloseWait
    });
    assert_eq!(b.counters().challenge_acks, 0);
    assert_eq!(a.counters().retransmits, 0);
    b.shutdown();
    run_pair_from(
        now,
        &mut a,
        &mut b,
        now + Duration::from_secs(10),
        |a, b| a.state() == State::Closed && b.state() == State::Closed,
    );
}

#[test]
fn reordering_above_4_ms_with_timestamps_is_no_loss() {
    // RACK's reordering window is a quarter of min_RTT (RFC 8985 6.2); with timestamps the RTT
    // samples come from TSecr and must reach min_RTT too. RTT 40 ms: a window of 10 ms, so a
    // segment 6 ms late is reordering, not loss.
    let p = Params {
        timestamps: true,
        sack: true,
        ..params()
    };
    let mut c = Connection::connect(local(), remote(), Seq(ISS), 7000, p);
    let _ = one_bare(&mut c, ms(0));
    let mut sa = syn_ack(PEER_ISS, ISS + 1);
    sa.options.timestamps = Some((500, 7000));
    sa.options.sack_permitted = true;
    feed(&mut c, ms(40), &sa, &[]);
    let _ = one_bare(&mut c, ms(40));
    assert_eq!(c.srtt(), Some(Duration::from_millis(40)));
    let mss = c.mss() as u32;
    assert_eq!(c.send(&bytes(4 * mss as usize, 2)), 4 * mss as usize);
    let sent = transmit(&mut c, ms(50));
    assert_eq!(sent.len(), 4);
    // Segments 2 and 3 arrive first; segment 1 arrives 6 ms later, with segment 4.
    let at = |n: u32| ISS + 1 + n * mss;
    let peer_ack = |ack_to: u32, sack: Option<(u32, u32)>| {
        let mut r = ack(PEER_ISS + 1, ack_to);
        r.options.timestamps = Some((600, 7050));
        if let Some((l, r2)) = sack {
            r.options.sack.push(Seq(l), Seq(r2));
        }
        r
    };
    feed(&mut c, ms(90), &peer_ack(at(0), Some((at(1), at(2)))), &[]);
    silent(&mut c, ms(90));
    feed(&mut c, ms(90), &peer_ack(at(0), Some((at(1), at(3)))), &[]);
    // Up to the ACK of segment 1, 6 ms later: no retransmission.
    for t in 91..96 {
        silent(&mut c, ms(t));
    }
    feed(&mut c, ms(96), &peer_ack(at(3), None), &[]);
    feed(&mut c, ms(96), &peer_ack(at(4), None), &[]);
    silent(&mut c, ms(96));
    let counters = c.counters();
    assert_eq!(
        (counters.retransmits, counters.fast_retransmits),
        (0, 0),
        "{counters:?}"
    );
}

#[test]
fn retransmissions_into_a_zero_window_the_peer_acknowledges_never_time_out() {
    // RFC 9293 3.8.6.1 (MUST-37): "as long as the receiving TCP continues to send
    // acknowledgments in response to the probe segments", the connection stays. max_retries is
    // 3 here.
    let mut c = established();
    assert_eq!(c.send(&bytes(1000, 1)), 1000);
    let _ = one(&mut c, ms(20));
    // The peer's buffer is full: it drops the data and answers with a zero window.
    let closed = with_window(ack(PEER_ISS + 1, ISS + 1), 0);
    feed(&mut c, ms(21), &closed, &[]);
    let mut now = ms(21);
    for _ in 0..10 {
        now = c.poll_at().expect("the retransmission timer");
        assert!(!transmit(&mut c, now).is_empty(), "at {now}");
        assert_eq!(c.state(), State::Established, "at {now}");
        now = now + Duration::from_millis(1);
        feed(&mut c, now, &closed, &[]);
    }
    // The window opens: the data goes and is acknowledged.
    feed(&mut c, now, &ack(PEER_ISS + 1, ISS + 1), &[]);
    for _ in 0..5 {
        for (r, payload) in transmit(&mut c, now) {
            let end = r.seq.0 + payload.len() as u32;
            feed(&mut c, now, &ack(PEER_ISS + 1, end), &[]);
        }
        if c.send_queue() == 0 {
            break;
        }
        now = c.poll_at().expect("a timer while data waits");
    }
    assert_eq!(c.send_queue(), 0);
    assert_eq!(c.state(), State::Established);
    // A peer that falls silent with its window closed is given up in the end.
    assert_eq!(c.send(&bytes(1000, 2)), 1000);
    let _ = transmit(&mut c, now);
    feed(
        &mut c,
        now,
        &with_window(ack(PEER_ISS + 1, ISS + 1001), 0),
        &[],
    );
    for _ in 0..20 {
        let Some(at) = c.poll_at() else { break };
        let _ = transmit(&mut c, at);
    }
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.error(), Some(Error::TimedOut));
}
mod cookies;
mod errors;
mod loss;
mod urgent;
