//! IPv4 headers with options (RFC 791, RFC 1122 3.2.1): our parser against smoltcp's
//! `wire::ipv4` and etherparse's `Ipv4Slice`, and the ICMP-quote reader.
//!
//! Both accept with the same fields, or both refuse. smoltcp skips checksum verification when
//! built for fuzzing (`cfg(fuzzing)`), and etherparse never checks it, so the checksum is
//! checked here by an independent sum: a bad header checksum is our one stricter refusal
//! (RFC 1122 3.2.1.2: MUST verify and silently discard). etherparse alone also refuses a
//! malformed IPsec Authentication Header (protocol 51) after the IPv4 header, a protocol we
//! leave to the transport dispatch (which answers protocol unreachable); with AH its payload
//! starts after that header, so such packets are compared with smoltcp only.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{Ipv4Packet, Ipv4Repr};

/// The Internet checksum over `b` verifies (the test kit's sum, not the stack's).
fn sum_ok(b: &[u8]) -> bool {
    tapstack_testkit::frame::checksum(&[b]) == 0
}

fuzz_target!(|data: &[u8]| {
    let ours = tapstack::ipv4::parse(data);
    let smol = Ipv4Packet::new_checked(data).and_then(|p| {
        let r = Ipv4Repr::parse(&p, &ChecksumCapabilities::default())?;
        let ihl = usize::from(p.header_len());
        if !sum_ok(&data[..ihl]) {
            return Err(smoltcp::wire::Error);
        }
        Ok((p, r))
    });
    match (&ours, &smol) {
        (Ok((r, payload)), Ok((p, s))) => {
            assert_eq!(r.src, s.src_addr);
            assert_eq!(r.dst, s.dst_addr);
            assert_eq!(r.ttl, s.hop_limit);
            assert_eq!(u8::from(r.protocol), u8::from(s.next_header));
            assert_eq!(payload.len(), s.payload_len);
            assert_eq!(r.header_len, usize::from(p.header_len()));
            assert_eq!(r.ident, p.ident());
            assert_eq!(r.more_fragments, p.more_frags());
            assert_eq!(r.frag_offset, usize::from(p.frag_offset()));
            assert_eq!(*payload, &data[r.header_len..r.header_len + payload.len()]);
        }
        (Ok(r), Err(e)) => panic!("we accept {r:?}, smoltcp refuses ({e:?})"),
        (Err(e), Ok((_, s))) => panic!("we refuse ({e:?}), smoltcp accepts {s:?}"),
        (Err(_), Err(_)) => {}
    }
    // etherparse checks the structure but not the checksum.
    let e = etherparse::Ipv4Slice::from_slice(data);
    if let Ok((r, payload)) = &ours {
        // etherparse also parses an IPsec Authentication Header (protocol 51) behind the IPv4
        // header; we do not speak AH (protocol unreachable), so its refusals there are its own.
        if u8::from(r.protocol) == 51 {
            return;
        }
        let e = e.expect("etherparse refuses what we accept");
        assert_eq!(e.header().source_addr(), r.src);
        assert_eq!(e.payload().payload.len(), payload.len());
        assert_eq!(e.header().options().len() + 20, r.header_len);
    } else if let Ok(e) = e {
        assert!(
            !sum_ok(e.header().slice()),
            "etherparse accepts, we refuse, and the checksum is right"
        );
    }
    // The quote of an ICMP error: never panics, never reads past the buffer.
    if let Some(q) = tapstack::ipv4::quoted(data) {
        let _ = format!("{q:?}");
    }
});
