//! ICMP errors checked against the send sequence space (RFC 5927), the user timeout (RFC 5482,
//! RFC 9293 3.8.3 R1/R2) and soft errors for the application (RFC 9293 MUST-47).

use super::*;

/// An established connection with `n` bytes sent at 20 ms and unacknowledged.
fn with_flight(p: Params, n: usize) -> Connection {
    let mut c = established_with(p);
    assert_eq!(c.send(&bytes(n, 3)), n);
    let (r, payload) = one(&mut c, ms(20));
    assert_eq!((r.seq, payload.len()), (Seq(ISS + 1), n));
    c
}

#[test]
fn icmp_errors_count_only_for_sequence_numbers_in_flight() {
    // SYN-SENT: SND.UNA = ISS, SND.NXT = ISS + 1; only ISS is in flight.
    let mut c = Connection::connect(local(), remote(), Seq(ISS), 0, params());
    let _ = one_bare(&mut c, ms(0));
    for forged in [ISS - 1, ISS + 1, ISS + 100_000, ISS ^ 0x8000_0000] {
        c.on_icmp_unreachable(Seq(forged));
        assert_eq!((c.state(), c.error()), (State::SynSent, None), "{forged}");
    }
    c.on_icmp_unreachable(Seq(ISS));
    assert_eq!(c.error(), Some(Error::Refused));

    // ESTABLISHED with 500 bytes in flight: [ISS + 1, ISS + 501).
    let mut c = with_flight(params(), 500);
    assert!(c.quotes_in_flight(Seq(ISS + 1)) && c.quotes_in_flight(Seq(ISS + 500)));
    for forged in [ISS, ISS + 501, ISS + 70_000] {
        assert!(!c.quotes_in_flight(Seq(forged)));
        c.on_path_mtu(600, Seq(forged));
        assert_eq!(c.mss(), 1000, "MSS kept for a forged quote at {forged}");
        c.on_icmp_unreachable(Seq(forged));
        assert_eq!(c.soft_error(), None);
    }
    c.on_path_mtu(600, Seq(ISS + 1));
    assert_eq!(c.mss(), 560);
    // Once all is acknowledged, nothing is in flight and no quote counts.
    feed(&mut c, ms(30), &ack(PEER_ISS + 1, ISS + 501), &[]);
    assert!(!c.quotes_in_flight(Seq(ISS + 1)) && !c.quotes_in_flight(Seq(ISS + 501)));
}

#[test]
fn unreachable_once_established_is_a_soft_error_for_the_application() {
    let mut c = with_flight(params(), 10);
    c.on_icmp_unreachable(Seq(ISS + 1));
    assert_eq!((c.state(), c.error()), (State::Established, None));
    assert_eq!(c.soft_error(), Some(SoftError::Unreachable));
    assert_eq!(c.take_soft_error(), Some(SoftError::Unreachable));
    assert_eq!(c.take_soft_error(), None, "read once");
}

/// Runs the connection's timers until it closes or `limit` passes; returns when it closed.
fn run_until_closed(c: &mut Connection, limit: Instant) -> Option<Instant> {
    for _ in 0..1000 {
        let at = c.poll_at()?;
        if at > limit {
            return None;
        }
        let _ = emit_all(c, at);
        if c.state() == State::Closed {
            return Some(at);
        }
    }
    None
}

#[test]
fn r1_retransmissions_raise_a_soft_error() {
    let p = Params {
        max_retries: 15,
        ..params()
    };
    let mut c = with_flight(p, 10);
    // RTOs at 220, 620 and 1420 ms (200 ms doubling).
    let _ = emit_all(&mut c, ms(220));
    let _ = emit_all(&mut c, ms(620));
    assert_eq!(c.soft_error(), None);
    let _ = emit_all(&mut c, ms(1420));
    assert_eq!(c.soft_error(), Some(SoftError::Retransmitting));
    assert_eq!(c.state(), State::Established);
}

#[test]
fn user_timeout_gives_up_on_unacknowledged_data_in_time() {
    let p = Params {
        max_retries: 15,
        ..params()
    };
    // Without a user timeout, 15 retransmissions take minutes.
    let mut c = with_flight(p, 10);
    assert_eq!(c.user_timeout(), None);
    assert_eq!(run_until_closed(&mut c, ms(60_000)), None);
    assert_eq!(c.state(), State::Established);

    // With 2 s, the connection ends 2 s after the data went out (at 20 ms), not at the next
    // backed-off RTO (3020 ms).
    let mut c = with_flight(p, 10);
    c.set_user_timeout(Some(Duration::from_secs(2)));
    assert_eq!(run_until_closed(&mut c, ms(60_000)), Some(ms(2020)));
    assert_eq!(c.error(), Some(Error::TimedOut));

    // An ACK of progress starts the clock again.
    let mut c = with_flight(p, 10);
    c.set_user_timeout(Some(Duration::from_secs(2)));
    let _ = emit_all(&mut c, ms(220));
    let _ = emit_all(&mut c, ms(620));
    feed(&mut c, ms(1000), &ack(PEER_ISS + 1, ISS + 11), &[]);
    assert_eq!(c.send(b"more"), 4);
    let _ = emit_all(&mut c, ms(1000));
    assert_eq!(run_until_closed(&mut c, ms(2500)), None);
    assert_eq!(c.state(), State::Established);
    assert_eq!(run_until_closed(&mut c, ms(60_000)), Some(ms(3000)));
}
