//! TCP segments and options (RFC 9293 3.1, RFC 7323, RFC 2018): our parser against etherparse's
//! `TcpSlice` and smoltcp's `wire::tcp`, and emit/parse round trips.
//!
//! Input: a selector byte (bit 0: IPv6; bit 1: repair the checksum), then the segment.
//!
//! Both accept with the same fields, or both refuse, except where the two differ by design:
//! - flags: we refuse SYN with FIN or RST, and segments with none of SYN, ACK, RST, FIN
//!   (RFC 9293 3.10.7: such segments are dropped in every state); smoltcp refuses any two of
//!   SYN, FIN, RST but takes FIN+RST-less PSH-only segments;
//! - ports: smoltcp refuses port 0; we take it (nothing listens there; answered by RST);
//! - options: smoltcp refuses an MSS, window-scale or SACK-permitted option of the wrong length
//!   and SACK options that are not 2 + 8n bytes; we skip options of odd sizes as unknown
//!   (RFC 9293 3.1, MUST-64: "be prepared to handle an illegal option length ... without
//!   crashing" and RFC 9293 3.2 "must ignore" options it does not implement).
//!
//! Fields compared when both accept: ports, numbers, flags, window, MSS, window scale (both cap
//! it at 14), SACK-permitted, timestamps, and SACK blocks (up to the three smoltcp keeps).
#![no_main]

use libfuzzer_sys::fuzz_target;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{IpAddress, TcpControl, TcpPacket, TcpRepr};
use tapstack::tcp::segment;

fuzz_target!(|data: &[u8]| {
    let Some((&select, rest)) = data.split_first() else {
        return;
    };
    let (src, dst) = tapstack_fuzz::addresses(select & 1 == 1);
    let mut buf = rest.to_vec();
    if select & 2 == 2 && buf.len() >= 20 {
        buf[16..18].copy_from_slice(&[0, 0]);
        let sum = segment::checksum(src, dst, &buf);
        buf[16..18].copy_from_slice(&sum.to_ne_bytes());
    }
    let ours = segment::parse(&buf, src, dst);

    // etherparse: structure only.
    let e = etherparse::TcpSlice::from_slice(&buf);
    if let Ok((r, payload)) = &ours {
        let e = e.expect("etherparse refuses a segment we accept");
        assert_eq!(e.source_port(), r.src_port);
        assert_eq!(e.destination_port(), r.dst_port);
        assert_eq!(e.sequence_number(), r.seq.0);
        assert_eq!(e.acknowledgment_number(), r.ack.0);
        assert_eq!(e.window_size(), r.window);
        assert_eq!(
            (e.syn(), e.ack(), e.fin(), e.rst()),
            (r.flags.syn, r.flags.ack, r.flags.fin, r.flags.rst)
        );
        assert_eq!(e.payload(), *payload);
    }

    // smoltcp.
    let (s_src, s_dst): (IpAddress, IpAddress) = (src.into(), dst.into());
    // smoltcp skips checksum verification when built for fuzzing: checked here instead.
    let sum_ok = tapstack_fuzz::pseudo_sum(src, dst, 6, &buf) == 0;
    let smol = TcpPacket::new_checked(&buf[..])
        .and_then(|p| TcpRepr::parse(&p, &s_src, &s_dst, &ChecksumCapabilities::default()))
        .and_then(|r| {
            if sum_ok {
                Ok(r)
            } else {
                Err(smoltcp::wire::Error)
            }
        });
    match (&ours, &smol) {
        (Ok((r, payload)), Ok(s)) => {
            assert_eq!(r.seq.0, s.seq_number.0 as u32);
            assert_eq!(
                r.flags.ack.then_some(r.ack.0),
                s.ack_number.map(|a| a.0 as u32)
            );
            assert_eq!(r.window, s.window_len);
            assert_eq!(*payload, s.payload);
            let control = match s.control {
                TcpControl::Syn => r.flags.syn,
                TcpControl::Fin => r.flags.fin,
                TcpControl::Rst => r.flags.rst,
                TcpControl::None | TcpControl::Psh => !(r.flags.syn || r.flags.fin || r.flags.rst),
            };
            assert!(control, "flags differ: {:?} and {:?}", r.flags, s.control);
            let o = &r.options;
            assert_eq!(o.mss, s.max_seg_size);
            assert_eq!(o.window_scale, s.window_scale);
            assert_eq!(o.sack_permitted, s.sack_permitted);
            assert_eq!(o.timestamps, s.timestamp.map(|t| (t.tsval, t.tsecr)));
            let theirs: Vec<(u32, u32)> = s.sack_ranges.iter().flatten().copied().collect();
            let blocks: Vec<(u32, u32)> =
                o.sack.as_slice().iter().map(|(l, r)| (l.0, r.0)).collect();
            if sack_options(&buf) <= 1 && blocks.len() <= 3 {
                assert_eq!(blocks, theirs, "SACK blocks");
            }
        }
        (Ok((r, _)), Err(_)) => {
            // Only where smoltcp is stricter by design.
            let odd_option = !options_strict_ok(&buf);
            assert!(
                r.src_port == 0 || r.dst_port == 0 || (r.flags.fin && r.flags.rst) || odd_option,
                "we accept {r:?}, smoltcp refuses"
            );
        }
        (Err(e), Ok(s)) => {
            let psh_only =
                matches!(s.control, TcpControl::Psh | TcpControl::None) && s.ack_number.is_none();
            assert!(
                *e == segment::ParseError::BadFlags && psh_only,
                "we refuse ({e:?}), smoltcp accepts {s:?}"
            );
        }
        (Err(_), Err(_)) => {}
    }

    // Round trip: what we parse, we emit and parse back the same.
    if let Ok((r, payload)) = ours {
        let mut out = Vec::new();
        segment::emit(&mut out, &r, src, dst, [payload, &[]]);
        let (again, p2) = segment::parse(&out, src, dst).expect("our own segment refused");
        assert_eq!(p2, payload);
        assert_eq!(
            (again.src_port, again.dst_port, again.seq),
            (r.src_port, r.dst_port, r.seq)
        );
        if r.flags.ack {
            assert_eq!(again.ack, r.ack);
        }
        assert_eq!(again.flags, r.flags);
        assert_eq!(again.window, r.window);
        assert_eq!(again.options.mss, r.options.mss);
        assert_eq!(again.options.window_scale, r.options.window_scale);
        assert_eq!(again.options.timestamps, r.options.timestamps);
        assert_eq!(again.options.sack_permitted, r.options.sack_permitted);
    }
});

/// The options area of a segment with a valid data offset.
fn options(buf: &[u8]) -> &[u8] {
    let off = usize::from(buf.get(12).copied().unwrap_or(0) >> 4) * 4;
    buf.get(20..off).unwrap_or_default()
}

/// Walks options the way both parsers do; calls `f(kind, len)` for each non-NOP option.
fn walk(buf: &[u8], mut f: impl FnMut(u8, usize)) {
    let mut o = options(buf);
    while let Some(&kind) = o.first() {
        match kind {
            0 => break,
            1 => o = &o[1..],
            _ => {
                let Some(&len) = o.get(1) else { break };
                let len = usize::from(len);
                if len < 2 || len > o.len() {
                    break;
                }
                f(kind, len);
                o = &o[len..];
            }
        }
    }
}

fn sack_options(buf: &[u8]) -> usize {
    let mut n = 0;
    walk(buf, |kind, _| n += usize::from(kind == 5));
    n
}

/// No option of a known kind with a length smoltcp refuses.
fn options_strict_ok(buf: &[u8]) -> bool {
    let mut ok = true;
    walk(buf, |kind, len| {
        ok &= match kind {
            2 => len == 4,
            3 => len == 3,
            4 => len == 2,
            5 => len >= 10 && (len - 2) % 8 == 0,
            _ => true,
        };
    });
    ok
}
