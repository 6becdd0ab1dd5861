//! Loss recovery at explicit times: tail loss probes and lost retransmissions (RFC 8985),
//! proportional rate reduction (RFC 6937), D-SACK sent and used (RFC 2883, RFC 3708).
//!
//! The connection negotiates SACK and sends segments of 1000 bytes; the handshake leaves SRTT at
//! 10 ms, so RACK's reordering window is 2.5 ms and the RTO 200 ms. NewReno sets ssthresh to
//! half the flight, which keeps the windows easy to follow.

use super::*;

/// An active open with SACK negotiated and a send buffer of `tx` bytes, established at 10 ms.
fn open_with_sack(tx: usize) -> Connection {
    let p = Params {
        sack: true,
        tx_buffer: tx,
        ..params()
    };
    let mut c = Connection::connect(local(), remote(), Seq(ISS), 0, p);
    let _ = one_bare(&mut c, ms(0));
    let mut sa = syn_ack(PEER_ISS, ISS + 1);
    sa.options.sack_permitted = true;
    feed(&mut c, ms(10), &sa, &[]);
    let _ = one_bare(&mut c, ms(10));
    c
}

/// [`open_with_sack`], then `segments` segments of data sent at 20 ms. Returns the connection
/// with what it sent.
fn sending(segments: usize, tx: usize) -> (Connection, Vec<(Repr, Vec<u8>)>) {
    let mut c = open_with_sack(tx);
    let data = bytes(tx, 3);
    assert_eq!(c.send(&data), tx);
    let sent = transmit(&mut c, ms(20));
    assert_eq!(sent.len(), segments, "the initial window");
    (c, sent)
}

/// Sequence number of the first byte of segment `n` (from 0).
fn at(n: u32) -> u32 {
    ISS + 1 + n * 1000
}

/// The peer's ACK up to `ack_to`, with SACK blocks.
fn sack(ack_to: u32, blocks: &[(u32, u32)]) -> Repr {
    let mut r = ack(PEER_ISS + 1, ack_to);
    for &(l, rr) in blocks {
        r.options.sack.push(Seq(l), Seq(rr));
    }
    r
}

fn seqs(sent: &[(Repr, Vec<u8>)]) -> Vec<u32> {
    sent.iter().map(|(r, _)| r.seq.0).collect()
}

#[test]
fn a_tail_loss_is_repaired_by_a_probe_without_a_timeout() {
    // Four segments; the last two are lost. The ACK of the first two leaves two in flight and
    // nothing new to send: a probe is due 2*SRTT after that ACK, well before the RTO.
    let (mut c, _) = sending(4, 4000);
    feed(&mut c, ms(30), &ack(PEER_ISS + 1, at(2)), &[]);
    assert_eq!(c.srtt(), Some(Duration::from_millis(10)));
    assert_eq!(c.poll_at(), Some(ms(50)), "PTO = 2 * SRTT");
    silent(&mut c, ms(49));
    // The probe: the last segment again.
    let probe = transmit(&mut c, ms(50));
    assert_eq!(seqs(&probe), [at(3)]);
    assert_eq!(c.counters().tail_loss_probes, 1);
    // Its SACK shows segment 3 (sent at 20 ms) lost: RACK sends it at once.
    feed(&mut c, ms(60), &sack(at(2), &[(at(3), at(4))]), &[]);
    assert_eq!(seqs(&transmit(&mut c, ms(60))), [at(2)]);
    feed(&mut c, ms(70), &ack(PEER_ISS + 1, at(4)), &[]);
    assert_eq!(c.send_queue(), 0);
    let counters = c.counters();
    assert_eq!(counters.timeouts, 0, "{counters:?}");
    assert_eq!(counters.retransmits, 2, "{counters:?}");
}

#[test]
fn a_probe_sends_new_data_when_the_peer_window_allows() {
    // Ten segments fill the congestion window; two more wait. No ACK comes: 2*SRTT after the
    // data went, the probe is the next new segment (the peer's window has room for it), not a
    // retransmission.
    let (mut c, _) = sending(10, 12_000);
    assert_eq!(c.poll_at(), Some(ms(40)), "PTO = 2 * SRTT");
    let probe = transmit(&mut c, ms(40));
    assert_eq!(seqs(&probe), [at(10)]);
    assert_eq!(c.counters().tail_loss_probes, 1);
    assert_eq!(c.counters().retransmits, 0);
    // One probe per episode: the next deadline is the RTO, re-armed by the probe.
    assert_eq!(c.poll_at(), Some(ms(240)));
}

#[test]
fn a_lost_retransmission_is_found_by_rack_and_sent_again() {
    // Segment 0 is lost, and so is its first retransmission. Before RACK, only the RTO (200 ms
    // on) could find that. RACK finds it once data sent after the retransmission is delivered
    // and the reordering window (2.5 ms) has passed.
    let (mut c, _) = sending(10, 12_000);
    for (i, right) in [at(2), at(3), at(4)].into_iter().enumerate() {
        feed(&mut c, ms(30), &sack(at(0), &[(at(1), right)]), &[]);
        if i < 2 {
            silent(&mut c, ms(30));
        }
    }
    assert_eq!(c.counters().fast_retransmits, 1);
    assert_eq!(seqs(&transmit(&mut c, ms(30))), [at(0)]);
    // More SACKs let the two new segments go, at 31 ms, after the retransmission.
    for n in 5..10 {
        feed(&mut c, ms(31), &sack(at(0), &[(at(1), at(n))]), &[]);
    }
    feed(&mut c, ms(31), &sack(at(0), &[(at(1), at(10))]), &[]);
    let new = transmit(&mut c, ms(31));
    assert_eq!(seqs(&new), [at(10), at(11)]);
    // They arrive; the retransmission, sent a millisecond before them, does not: lost, as soon
    // as the reordering window has passed (the RACK timer), not at the RTO.
    feed(&mut c, ms(41), &sack(at(0), &[(at(1), at(12))]), &[]);
    silent(&mut c, ms(41));
    let due = c.poll_at().expect("the RACK timer");
    assert_eq!(due, ms(30) + Duration::from_micros(12_500));
    let again = transmit(&mut c, due);
    assert_eq!(seqs(&again), [at(0)]);
    let counters = c.counters();
    assert_eq!(counters.lost_retransmits, 1, "{counters:?} {again:?}");
    assert_eq!(counters.timeouts, 0, "{counters:?}");
    feed(&mut c, ms(50), &ack(PEER_ISS + 1, at(12)), &[]);
    assert_eq!(c.send_queue(), 0);
}

#[test]
fn prr_brings_the_window_down_in_step_with_the_acks() {
    // Ten segments out, twenty queued; segment 0 lost, and each ACK SACKs one more. NewReno
    // sets ssthresh to 5000 (half of RecoverFS, 10 000). RFC 6937: while the pipe is above
    // ssthresh, sending follows prr_delivered * ssthresh / RecoverFS; then, below it, the
    // slow-start reduction bound lets the pipe climb back to ssthresh, never in a burst.
    let (mut c, _) = sending(10, 20_000);
    let mut per_ack = Vec::new();
    for n in 2..10u32 {
        feed(&mut c, ms(30), &sack(at(0), &[(at(1), at(n))]), &[]);
        per_ack.push(transmit(&mut c, ms(30)).len());
    }
    assert_eq!(c.ssthresh(), 5000);
    // Third duplicate ACK: the retransmission. Then half a segment per ACK while the pipe
    // exceeds ssthresh, one per ACK (delivered + 1 segment, capped at ssthresh - pipe) once
    // it is down at ssthresh.
    assert_eq!(per_ack, [0, 0, 1, 0, 0, 1, 1, 1], "segments sent per ACK");
    // The ACK of the recovery point ends recovery: three segments sent during it are still
    // out, and cwnd = min(ssthresh, FlightSize + SMSS) (RFC 6582 3.2 step 4).
    feed(&mut c, ms(40), &ack(PEER_ISS + 1, at(10)), &[]);
    assert_eq!(c.sequence().snd_max.0, at(13));
    assert_eq!(c.cwnd(), 4000);
    assert_eq!(c.counters().timeouts, 0);
}

#[test]
fn d_sacks_for_every_retransmission_undo_the_reduction() {
    // Segment 0 is only late: three duplicate ACKs send it again and halve the window; then
    // the original arrives, and the peer reports the retransmission as a duplicate (D-SACK).
    let (mut c, _) = sending(10, 10_000);
    for right in [at(2), at(3), at(4)] {
        feed(&mut c, ms(30), &sack(at(0), &[(at(1), right)]), &[]);
    }
    assert_eq!(seqs(&transmit(&mut c, ms(30))), [at(0)]);
    assert_eq!(c.cwnd(), 5000, "halved");
    feed(&mut c, ms(31), &sack(at(10), &[]), &[]);
    // The D-SACK block lies below the cumulative ACK (RFC 2883 4.1).
    feed(&mut c, ms(32), &sack(at(10), &[(at(0), at(1))]), &[]);
    let counters = c.counters();
    assert_eq!(counters.dsacks_received, 1, "{counters:?}");
    assert_eq!(counters.spurious_recoveries, 1, "{counters:?}");
    assert_eq!(c.cwnd(), 10_000, "the reduction is undone");
}

#[test]
fn data_received_twice_is_reported_in_a_d_sack_block() {
    let mut c = open_with_sack(8000);
    let data = bytes(100, 1);
    feed(&mut c, ms(20), &ack(PEER_ISS + 1, ISS + 1), &data);
    let first = one_bare(&mut c, ms(20));
    assert!(first.options.sack.is_empty());
    // The same segment again: answered at once, with the duplicate reported below the ACK.
    feed(&mut c, ms(21), &ack(PEER_ISS + 1, ISS + 1), &data);
    let dup = one_bare(&mut c, ms(21));
    assert_eq!(dup.ack, Seq(PEER_ISS + 101));
    assert_eq!(
        dup.options.sack.as_slice(),
        [(Seq(PEER_ISS + 1), Seq(PEER_ISS + 101))]
    );
    // Out-of-order data held already: the D-SACK block first, then the block it lies in.
    let later = bytes(50, 2);
    feed(&mut c, ms(22), &ack(PEER_ISS + 201, ISS + 1), &later);
    let _ = one_bare(&mut c, ms(22));
    feed(&mut c, ms(23), &ack(PEER_ISS + 201, ISS + 1), &later);
    let dup = one_bare(&mut c, ms(23));
    assert_eq!(
        dup.options.sack.as_slice(),
        [
            (Seq(PEER_ISS + 201), Seq(PEER_ISS + 251)),
            (Seq(PEER_ISS + 201), Seq(PEER_ISS + 251))
        ]
    );
    assert_eq!(c.counters().dsacks_sent, 2);
    // Reported once: the next ACK has only the out-of-order block.
    feed(&mut c, ms(24), &ack(PEER_ISS + 101, ISS + 1), &bytes(10, 3));
    let next = one_bare(&mut c, ms(24));
    assert_eq!(
        next.options.sack.as_slice(),
        [(Seq(PEER_ISS + 201), Seq(PEER_ISS + 251))]
    );
}

#[test]
fn a_window_left_unused_for_five_minutes_is_halved() {
    // NewReno grows its window in slow start; after a non-validated period (RFC 7661 4.4.3)
    // without data, the next burst starts from half of it.
    let (mut c, _) = sending(10, 10_000);
    feed(&mut c, ms(30), &ack(PEER_ISS + 1, at(10)), &[]);
    assert_eq!(c.cwnd(), 20_000, "slow start doubled it");
    assert_eq!(c.send(&bytes(1000, 9)), 1000);
    let _ = transmit(&mut c, ms(100_000));
    feed(&mut c, ms(100_010), &ack(PEER_ISS + 1, at(11)), &[]);
    assert_eq!(c.cwnd(), 20_000, "100 s idle: still valid");
    assert_eq!(c.send(&bytes(1000, 9)), 1000);
    let _ = transmit(&mut c, ms(401_000));
    assert_eq!(c.cwnd(), 10_000, "five minutes idle: halved");
}

/// No SACK, no timestamps: four segments sent at 20 ms, the RTO at 220 ms sends the first again
/// and then, two more segments queued, the ACK of the first two originals comes at 230 ms.
fn timed_out_then_acked() -> Connection {
    let mut c = established_with(Params {
        tx_buffer: 8000,
        ..params()
    });
    assert_eq!(c.send(&bytes(4000, 1)), 4000);
    assert_eq!(transmit(&mut c, ms(20)).len(), 4);
    assert_eq!(seqs(&transmit(&mut c, ms(220))), [at(0)]);
    assert_eq!(c.counters().timeouts, 1);
    assert_eq!(c.send(&bytes(2000, 2)), 2000);
    feed(&mut c, ms(230), &ack(PEER_ISS + 1, at(2)), &[]);
    c
}

#[test]
fn f_rto_sends_new_data_and_undoes_a_spurious_timeout() {
    // RFC 5682 2.1 step 2b: new data instead of going back; step 3b: its ACK shows the timeout
    // was spurious, and the window before it comes back.
    let mut c = timed_out_then_acked();
    assert_eq!(seqs(&transmit(&mut c, ms(230))), [at(4), at(5)]);
    feed(&mut c, ms(240), &ack(PEER_ISS + 1, at(4)), &[]);
    let counters = c.counters();
    assert_eq!(counters.spurious_recoveries, 1, "{counters:?}");
    assert_eq!(counters.retransmits, 1, "segments 1 to 3 never went again");
    assert!(c.cwnd() >= 10_000, "cwnd {}", c.cwnd());
}

#[test]
fn f_rto_goes_back_when_a_duplicate_ack_shows_the_timeout_was_real() {
    // Step 3a: a duplicate ACK after the two new segments: segments 2 and 3 were lost.
    let mut c = timed_out_then_acked();
    assert_eq!(seqs(&transmit(&mut c, ms(230))), [at(4), at(5)]);
    feed(&mut c, ms(240), &ack(PEER_ISS + 1, at(2)), &[]);
    let again = transmit(&mut c, ms(240));
    assert_eq!(seqs(&again).first(), Some(&at(2)), "{:?}", seqs(&again));
    assert_eq!(c.counters().spurious_recoveries, 0);
    // The timeout's reduction stands: one segment, grown in slow start by the 2000 bytes
    // acknowledged since.
    assert_eq!(c.cwnd(), 3000);
}
