//! HTTP request heads (RFC 9112 2-3, 6; RFC 9110): the server's head parser.
//!
//! What must hold: no panic; a complete head's length lies within the bytes given and parses
//! the same from exactly those bytes (a head's meaning never depends on what follows it); a
//! refusal is one of the statuses the server documents.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tapstack::services::http::fuzzing::{head, HeadOutcome};

fuzz_target!(|data: &[u8]| {
    match head(data) {
        HeadOutcome::Complete(len) => {
            assert!(
                len > 0 && len <= data.len(),
                "head of {len} bytes in {}",
                data.len()
            );
            assert_eq!(
                head(&data[..len]),
                HeadOutcome::Complete(len),
                "head depends on what follows"
            );
        }
        HeadOutcome::Bad(code) => {
            assert!(
                matches!(code, 400 | 413 | 414 | 431 | 501 | 505),
                "status {code}"
            );
        }
        HeadOutcome::Partial => {}
    }
});
