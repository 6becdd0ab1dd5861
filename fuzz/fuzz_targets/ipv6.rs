//! IPv6 headers and extension-header chains (RFC 8200): our parser against smoltcp's
//! `wire::ipv6` and our chain walk against etherparse's `Ipv6ExtensionsSlice`.
//!
//! Both accept with the same fields, or both refuse. Our stricter refusals:
//! - a multicast source address (RFC 4291 2.7: never a source);
//! - payload length 0 with a Hop-by-Hop header, a jumbogram (RFC 2675), which we do not take;
//! - in the chain walk: options with action bits that say discard (RFC 8200 4.2), bad option
//!   lengths, more than `ext::Limits` headers or bytes (RFC 8200 leaves the chain unbounded;
//!   RFC 7045/8504 let hosts bound it), and Parameter Problems (a Hop-by-Hop header not first,
//!   unknown next headers) that etherparse leaves to its caller.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smoltcp::wire::{Ipv6Packet, Ipv6Repr};
use tapstack::ipv6::ext::{self, Destination, Position, Verdict};
use tapstack::ipv6::NextHeader;

/// Next-header values etherparse walks through (it knows AH; we leave it to the caller).
fn etherparse_walks(n: u8) -> bool {
    matches!(n, 0 | 43 | 44 | 51 | 60)
}

fuzz_target!(|data: &[u8]| {
    let ours = tapstack::ipv6::parse(data);
    let smol = Ipv6Packet::new_checked(data).and_then(|p| Ipv6Repr::parse(&p));
    match (&ours, &smol) {
        (Ok((r, payload)), Ok(s)) => {
            assert_eq!(r.src, s.src_addr);
            assert_eq!(r.dst, s.dst_addr);
            assert_eq!(r.hop_limit, s.hop_limit);
            assert_eq!(u8::from(r.next_header), u8::from(s.next_header));
            assert_eq!(r.payload_len, s.payload_len);
            assert_eq!(payload.len(), s.payload_len);
        }
        (Ok(r), Err(e)) => panic!("we accept {r:?}, smoltcp refuses ({e:?})"),
        (Err(e), Ok(s)) => {
            use tapstack::ipv6::ParseError::*;
            match e {
                MulticastSource => assert!(s.src_addr.is_multicast()),
                Jumbogram => assert_eq!((s.payload_len, u8::from(s.next_header)), (0, 0)),
                _ => panic!("we refuse ({e:?}), smoltcp accepts {s:?}"),
            }
        }
        (Err(_), Err(_)) => {}
    }
    let Ok((r, payload)) = ours else {
        return;
    };
    let destination = if r.dst.is_multicast() {
        Destination::Multicast
    } else {
        Destination::Unicast
    };
    let limits = ext::Limits::default();
    let _ = ext::chain_complete(payload, r.next_header, limits);
    let verdict = ext::walk(
        payload,
        r.next_header,
        destination,
        Position::AfterFixedHeader,
        limits,
    );
    let (next, offset) = match verdict {
        Verdict::Continue {
            next_header,
            offset,
            fragment: None,
        } => (u8::from(next_header), offset),
        Verdict::Continue {
            offset,
            fragment: Some(f),
            ..
        } => {
            assert!(f.offset % 8 == 0, "fragment offset");
            (f.next_header, offset)
        }
        Verdict::ParameterProblem { pointer, .. } => {
            assert!(
                (pointer as usize) < 40 + payload.len(),
                "pointer past the packet"
            );
            return;
        }
        Verdict::Discard(_) => return,
    };
    assert!(offset <= payload.len(), "walk past the payload");
    // Walk the fragmentable part of a fragment too, as reassembly would.
    if offset > 0 {
        let _ = ext::walk(
            &payload[offset..],
            NextHeader::from(next),
            destination,
            Position::At(40 + offset),
            limits,
        );
    }
    if etherparse_walks(next) {
        return;
    }
    let e = etherparse::Ipv6ExtensionsSlice::from_slice(
        etherparse::IpNumber(u8::from(r.next_header)),
        payload,
    );
    let (_, e_next, rest) = e.expect("etherparse refuses a chain we walked");
    assert_eq!(e_next.0, next, "chains end at different headers");
    assert_eq!(
        rest.len(),
        payload.len() - offset,
        "chains end at different places"
    );
});
