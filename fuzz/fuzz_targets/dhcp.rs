//! DHCP messages (RFC 2131, options RFC 2132, long options RFC 3396): parse, then a round trip
//! through our emitter must give the same message back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tapstack::dhcp::wire::Repr;

fuzz_target!(|data: &[u8]| {
    let Ok(r) = Repr::parse_bytes(data) else {
        return;
    };
    let bytes = r.to_bytes();
    let again = Repr::parse_bytes(&bytes).expect("our own message refused");
    // Values longer than one option are cut at 255 bytes on emit.
    let short = |v: &Option<Vec<u8>>| v.as_ref().is_none_or(|v| v.len() <= 255);
    let hostname_short = r.hostname.as_ref().is_none_or(|h| h.len() <= 255);
    if short(&r.client_id) && hostname_short && r.parameter_request_list.len() <= 255 {
        assert_eq!(again, r, "round trip");
    }
});
