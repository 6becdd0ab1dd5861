//! SYN cookies through the socket table: checked only shortly after the listener sent one, and
//! carrying window scale and SACK-permitted in the timestamp (as Linux does).

use super::*;

use crate::tcp::cookie::COOKIE_ACCEPT;

/// A table whose listener on port 80 has a backlog of one, filled by a first SYN at 0 ms.
fn full_listener() -> (Sockets, crate::tcp::ListenHandle) {
    let mut s = table(Config::default());
    let l = s.listen(TABLE_LOCAL, 1).expect("listen");
    let first = peer_at(40_000);
    s.on_segment(
        ms(0),
        table_local(),
        first,
        &to_table(first, syn(PEER_ISS)),
        &[],
    );
    assert_eq!(drain(&mut s, ms(0)).len(), 1);
    (s, l)
}

/// Every segment the table sends at `now`, parsed back, each in a buffer of its own.
fn drain(s: &mut Sockets, now: Instant) -> Vec<(SocketAddr, Repr, Vec<u8>)> {
    let mut segments = Vec::new();
    let mut buf = Vec::new();
    while let Some((src, dst)) = s.next_segment(now, &mut buf) {
        let (r, payload) = segment::parse(&buf, src.ip(), dst.ip()).expect("valid segment");
        segments.push((dst, r, payload.to_vec()));
        buf.clear();
        assert!(segments.len() < 1000, "next_segment never stops");
    }
    segments
}

/// The cookie SYN,ACK the table answers `syn` from `peer` with at `now`.
fn cookie_for(s: &mut Sockets, now: Instant, peer: SocketAddr, syn: &Repr) -> Repr {
    let outcome = s.on_segment(now, table_local(), peer, &to_table(peer, *syn), &[]);
    assert_eq!(outcome, Outcome::Handled);
    let sent = drain(s, now);
    let synacks: Vec<Repr> = sent
        .iter()
        .filter(|(to, r, _)| *to == peer && r.flags.syn && r.flags.ack)
        .map(|x| x.1)
        .collect();
    assert_eq!(synacks.len(), 1, "{sent:#?}");
    synacks[0]
}

#[test]
fn a_cookie_is_not_checked_when_the_listener_sent_none_recently() {
    let (mut s, _) = full_listener();
    let peer = peer_at(40_001);
    // A valid cookie (right hash, right counter) for a listener that never sent one: a blind
    // attacker's lucky guess. Without a SYN flood it opens nothing.
    let now = ms(1000);
    let cookie = s.cookie(
        Sockets::cookie_counter(now),
        0,
        table_local(),
        peer,
        Seq(PEER_ISS),
    );
    let guess = to_table(peer, ack(PEER_ISS + 1, cookie.0.wrapping_add(1)));
    let before = s.len();
    s.on_segment(now, table_local(), peer, &guess, b"x");
    assert_eq!(s.len(), before, "no connection from a guessed cookie");
    assert_eq!(s.counters().syn_cookies_accepted, 0);
    assert_eq!(s.counters().syn_cookies_rejected, 1);

    // Once a cookie went out, the same ACK is good for COOKIE_ACCEPT.
    let other = peer_at(40_002);
    let _ = cookie_for(&mut s, now, other, &syn(PEER_ISS));
    s.on_segment(now, table_local(), peer, &guess, b"x");
    assert_eq!(s.counters().syn_cookies_accepted, 1);
    let _ = drain(&mut s, now);

    // And not after: the SYN,ACK to a third peer is answered, its ACK comes too late.
    let late_peer = peer_at(40_003);
    let t0 = ms(2000);
    let synack = cookie_for(&mut s, t0, late_peer, &syn(PEER_ISS));
    let late = t0 + COOKIE_ACCEPT;
    let ack_late = to_table(late_peer, ack(PEER_ISS + 1, synack.seq.0.wrapping_add(1)));
    s.on_segment(late, table_local(), late_peer, &ack_late, &[]);
    assert_eq!(s.counters().syn_cookies_accepted, 1);
    assert_eq!(s.counters().syn_cookies_rejected, 2);
}

#[test]
fn a_cookie_connection_keeps_window_scale_sack_and_timestamps() {
    let (mut s, l) = full_listener();
    let peer = peer_at(40_001);
    let mut linux_syn = syn(PEER_ISS);
    linux_syn.options = Options {
        mss: Some(1460),
        window_scale: Some(7),
        sack_permitted: true,
        timestamps: Some((777_000, 0)),
        ..Options::default()
    };
    let synack = cookie_for(&mut s, ms(5), peer, &linux_syn);
    assert_eq!(s.counters().syn_cookies_sent, 1);
    // The SYN,ACK offers them all back, and hides the peer's choices in its TSval.
    assert!(synack.options.sack_permitted);
    let our_scale = synack.options.window_scale.expect("window scale offered");
    let (tsval, tsecr) = synack.options.timestamps.expect("timestamps");
    assert_eq!(tsecr, 777_000);
    assert_eq!(tsval & 0x3f, 7 | 0x10, "wscale 7 and SACK in the low bits");

    // The peer's ACK echoes the TSval and announces a window of 1000 << 7.
    let mut third = to_table(peer, ack(PEER_ISS + 1, synack.seq.0.wrapping_add(1)));
    third.window = 1000;
    third.options.timestamps = Some((777_010, tsval));
    let outcome = s.on_segment(ms(6), table_local(), peer, &third, &[]);
    assert_eq!(outcome, Outcome::Handled);
    assert_eq!(s.counters().syn_cookies_accepted, 1);
    let h = s.accept(l).expect("the cookie connection");
    let c = s.get(h).expect("connection");
    assert_eq!(c.state(), State::Established);
    assert!(c.sack_enabled(), "SACK kept");
    assert!(c.timestamps_enabled(), "timestamps kept");
    assert_eq!(c.send_window(), 128_000, "not held to 64 KiB");
    assert_eq!(
        c.mss(),
        1460 - 12,
        "MSS class 1460, less the timestamp option"
    );

    // Data in: our ACK carries a scaled window larger than 64 KiB and a timestamp.
    let mut data = to_table(peer, ack(PEER_ISS + 1, synack.seq.0.wrapping_add(1)));
    data.options.timestamps = Some((777_020, tsval));
    s.on_segment(ms(7), table_local(), peer, &data, &[1; 100]);
    let sent = drain(&mut s, ms(7));
    let reply = sent.last().expect("an ACK").1;
    assert_eq!(reply.ack, Seq(PEER_ISS + 101));
    assert_eq!(reply.options.timestamps.map(|t| t.1), Some(777_020));
    let window = usize::from(reply.window) << our_scale;
    assert!(window > 65_535, "scaled window {window}");
}
