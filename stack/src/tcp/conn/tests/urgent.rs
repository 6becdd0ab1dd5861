//! Urgent data (RFC 9293 3.8.5, MUST-30..33, MUST-62): the pointer read from segments, the mark
//! the application sees, and urgent data sent.

use super::*;

fn urgent_data(seq: u32, pointer: u16) -> Repr {
    let mut r = ack(seq, ISS + 1);
    r.flags.urg = true;
    r.urgent = pointer;
    r
}

fn read(c: &mut Connection, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    let got = c.recv(&mut buf);
    buf.truncate(got);
    buf
}

#[test]
fn the_urgent_mark_reaches_the_application_and_moves_as_it_reads() {
    let mut c = established();
    assert_eq!(c.urgent_mark(), None);
    // "abcdefghij" with the urgent pointer 5: "abcde" is urgent, the mark follows the "e".
    feed(&mut c, ms(20), &urgent_data(PEER_ISS + 1, 5), b"abcdefghij");
    assert_eq!(c.urgent_mark(), Some(5));
    assert!(c.urgent_pending());
    assert_eq!(c.counters().urgent_received, 1);
    assert_eq!(read(&mut c, 3), b"abc");
    assert_eq!(c.urgent_mark(), Some(2));
    assert_eq!(read(&mut c, 2), b"de");
    assert_eq!(c.urgent_mark(), None, "read up to the mark");
    assert_eq!(read(&mut c, 10), b"fghij", "the data stays in line");

    // A pointer beyond the segment (MUST-33: urgent data of any length): pending until read.
    feed(
        &mut c,
        ms(30),
        &urgent_data(PEER_ISS + 11, 30),
        b"0123456789",
    );
    assert_eq!(c.urgent_mark(), Some(30));
    assert_eq!(read(&mut c, 10).len(), 10);
    assert_eq!(c.urgent_mark(), Some(20), "more urgent data to come");
    // A later, smaller pointer does not move the mark back.
    feed(
        &mut c,
        ms(40),
        &urgent_data(PEER_ISS + 21, 1),
        b"klmnopqrst",
    );
    assert_eq!(c.urgent_mark(), Some(20));
    feed(&mut c, ms(50), &ack(PEER_ISS + 31, ISS + 1), b"uvwxyz0123");
    assert_eq!(read(&mut c, 20).len(), 20);
    assert_eq!(c.urgent_mark(), None);
    assert_eq!(c.counters().urgent_received, 2);
}

#[test]
fn urgent_pointers_outside_the_data_states_or_far_ahead_are_ignored() {
    // A zero pointer marks nothing; one far beyond the window is not believed.
    let mut c = established();
    feed(&mut c, ms(20), &urgent_data(PEER_ISS + 1, 0), b"abc");
    assert_eq!(c.urgent_mark(), None);
    // After the peer's FIN (CLOSE-WAIT) the URG bit is ignored (RFC 9293 3.10.7.4).
    let mut c = established();
    feed(&mut c, ms(20), &fin(PEER_ISS + 1, ISS + 1), &[]);
    assert_eq!(c.state(), State::CloseWait);
    let mut late = urgent_data(PEER_ISS + 2, 5);
    late.flags.fin = false;
    feed(&mut c, ms(30), &late, &[]);
    assert_eq!(c.urgent_mark(), None);
}

#[test]
fn urgent_data_is_sent_with_the_urgent_pointer_until_acknowledged() {
    let mut c = established();
    assert_eq!(c.send(b"hello"), 5);
    assert_eq!(c.send_urgent(b"!"), 1);
    let (r, payload) = one(&mut c, ms(20));
    assert_eq!(payload, b"hello!");
    // SND.UP follows the urgent byte: 6 octets past SEG.SEQ (MUST-62).
    assert!(r.flags.urg);
    assert_eq!((r.seq, r.urgent), (Seq(ISS + 1), 6));
    // Once acknowledged, segments no longer carry it.
    feed(&mut c, ms(30), &ack(PEER_ISS + 1, ISS + 7), &[]);
    assert_eq!(c.send(b"later"), 5);
    let (r, _) = one(&mut c, ms(40));
    assert!(!r.flags.urg);
    assert_eq!(r.urgent, 0);

    // A segment that ends before the urgent data still points at it.
    let mut c = established();
    assert_eq!(c.send(&bytes(1500, 1)), 1500);
    assert_eq!(c.send_urgent(b"U"), 1);
    let (first, payload) = one(&mut c, ms(20));
    assert_eq!(payload.len(), 1000, "MSS 1000 (Nagle holds the rest)");
    assert!(first.flags.urg);
    assert_eq!(first.urgent, 1501);
    feed(&mut c, ms(30), &ack(PEER_ISS + 1, ISS + 1001), &[]);
    let (second, payload) = one(&mut c, ms(30));
    assert_eq!(payload.len(), 501);
    assert!(second.flags.urg);
    assert_eq!(second.urgent, 501);
}

#[test]
fn the_urgent_pointer_goes_through_the_wire_format() {
    let (a, b) = (IpAddr::V4(LOCAL_IP), IpAddr::V4(REMOTE_IP));
    let mut r = urgent_data(PEER_ISS + 1, 0x1234);
    let mut buf = Vec::new();
    segment::emit(&mut buf, &r, a, b, [b"data", &[]]);
    assert_eq!(&buf[18..20], &[0x12, 0x34]);
    let (parsed, payload) = segment::parse(&buf, a, b).unwrap();
    assert_eq!(
        (parsed.flags.urg, parsed.urgent, payload),
        (true, 0x1234, &b"data"[..])
    );
    // Without URG the field is zero on the wire.
    r.flags.urg = false;
    let mut buf = Vec::new();
    segment::emit(&mut buf, &r, a, b, [&[], &[]]);
    assert_eq!(&buf[18..20], &[0, 0]);
}
