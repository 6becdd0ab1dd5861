//! The Internet checksum (RFC 1071), fast enough for the data path.
//!
//! etherparse's `Sum16BitWords` adds 8 bytes at a time with a carry chain; here the 64-bit words
//! are split into 32-bit halves added into two accumulators, which has no carries to chain and
//! lets the compiler vectorise the loop. As in RFC 1071 (byte order independence), the sum is
//! taken over native-endian words; [`finish`] gives the checksum in native order, to be written
//! with `to_ne_bytes`.

/// Adds `data` to a running sum. Every call but the last must pass an even number of bytes.
pub fn add(sum: u64, data: &[u8]) -> u64 {
    let (mut lo, mut hi) = (sum, 0u64);
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let v = u64::from_ne_bytes(w);
        lo += v & 0xffff_ffff;
        hi += v >> 32;
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        // RFC 1071: an odd byte at the end is padded with zero.
        let mut w = [0u8; 8];
        w.get_mut(..rest.len())
            .unwrap_or_default()
            .copy_from_slice(rest);
        let v = u64::from_ne_bytes(w);
        lo += v & 0xffff_ffff;
        hi += v >> 32;
    }
    lo.wrapping_add(hi)
}

/// Folds a running sum to 16 bits with end-around carry and complements it.
pub fn finish(sum: u64) -> u16 {
    let mut s = (sum & 0xffff_ffff) + (sum >> 32);
    s = (s & 0xffff_ffff) + (s >> 32);
    let mut s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    !(s as u16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::checksum::Sum16BitWords;

    #[test]
    fn agrees_with_etherparse_on_every_length() {
        let data: Vec<u8> = (0..3000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for len in (0..200).chain([1447, 1448, 1460, 2999, 3000]) {
            let d = &data[..len];
            let ours = finish(add(0, d));
            let theirs = Sum16BitWords::new().add_slice(d).ones_complement();
            assert_eq!(ours, theirs, "length {len}");
            // Split at an even point, as a pseudo-header and a segment are.
            let split = (len / 3) & !1;
            assert_eq!(
                finish(add(add(0, &d[..split]), &d[split..])),
                theirs,
                "split {len}"
            );
        }
        let all_ones = [0xffu8; 64];
        assert_eq!(
            finish(add(0, &all_ones)),
            Sum16BitWords::new().add_slice(&all_ones).ones_complement()
        );
    }

    #[test]
    fn a_sum_of_negative_zero_gives_checksum_zero() {
        // TCP sends the computed value as it is (only UDP maps 0 to 0xffff): words summing to
        // 0xffff must give 0x0000, never 0xffff, or tshark reports the segment (RFC 1624).
        assert_eq!(finish(add(0, &[0x12, 0x34, 0xed, 0xcb])), 0);
        assert_eq!(finish(add(add(0, &[0xff, 0x00]), &[0x00, 0xff])), 0);
    }
}
