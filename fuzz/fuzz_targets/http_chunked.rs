//! Chunked request bodies (RFC 9112 7.1): the server's incremental decoder.
//!
//! Input: a byte that sets where the body is cut into pieces, then the body. What must hold: no
//! panic; the result (content, bytes used, completion, refusal) does not depend on how the
//! bytes were cut into pieces (how much was used is not compared once refused); the content is never more than the input; a complete body ends
//! with CRLF and the sizes announced add up to the content.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tapstack::services::http::fuzzing::chunked;

fuzz_target!(|data: &[u8]| {
    let Some((&step, body)) = data.split_first() else {
        return;
    };
    let max_body = 1 << 20;
    let max_trailer = 256;
    // How much input was used means nothing once the body is refused.
    let run = |cuts: &[usize]| {
        let mut r = chunked(body, cuts, max_body, max_trailer);
        if r.error.is_some() {
            r.used = 0;
        }
        r
    };
    let whole = run(&[]);
    let step = usize::from(step % 16) + 1;
    let cuts: Vec<usize> = (step..body.len()).step_by(step).collect();
    assert_eq!(whole, run(&cuts), "cut every {step} bytes");
    let bytewise: Vec<usize> = (1..body.len()).collect();
    assert_eq!(whole, run(&bytewise), "byte by byte");
    assert!(whole.content.len() <= body.len());
    assert!(whole.used <= body.len());
    if whole.done {
        assert!(
            body[..whole.used].ends_with(b"\r\n"),
            "complete without CRLF"
        );
        assert!(whole.error.is_none());
    }
});
