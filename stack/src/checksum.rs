//! The Internet checksum (RFC 1071), fast enough for the data path.
//!
//! etherparse's `Sum16BitWords` adds 8 bytes at a time with a carry chain; here the 64-bit words
//! are split into 32-bit halves added into two accumulators, which has no carries to chain and
//! lets the compiler vectorise the loop. As in RFC 1071 (byte order independence), the sum is
//! taken over native-endian words; [`finish`] gives the checksum in native order, to be written
//! with `to_ne_bytes`.
//!
//! [`pseudo_header`] is the one upper-layer pseudo-header sum of the stack (RFC 9293 3.1 and
//! RFC 768 for IPv4, RFC 8200 8.1 for IPv6): TCP, UDP, ICMPv6 and the frame decoder all use it.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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

/// The running sum of the upper-layer pseudo-header for `len` bytes of protocol `protocol`
/// carried from `src` to `dst`. Two IPv4 addresses give the IPv4 pseudo-header (RFC 9293 3.1:
/// source, destination, zero, protocol, 16-bit length); anything else the IPv6 one (RFC 8200
/// 8.1: source, destination, 32-bit upper-layer length, three zero bytes, next header), an IPv4
/// address in it taken in its IPv4-mapped form.
#[inline]
pub fn pseudo_header(src: IpAddr, dst: IpAddr, protocol: u8, len: usize) -> u64 {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => pseudo_header_v4(s, d, protocol, len),
        (s, d) => {
            let to16 = |a: IpAddr| match a {
                IpAddr::V4(a) => a.to_ipv6_mapped(),
                IpAddr::V6(a) => a,
            };
            pseudo_header_v6(to16(s), to16(d), protocol, len)
        }
    }
}

/// The IPv4 pseudo-header sum (RFC 9293 3.1, RFC 768): the length is taken modulo 2^16.
#[inline]
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, len: usize) -> u64 {
    let mut p = [0u8; 12];
    p[..4].copy_from_slice(&src.octets());
    p[4..8].copy_from_slice(&dst.octets());
    p[9] = protocol;
    p[10..12].copy_from_slice(&(len as u16).to_be_bytes());
    add(0, &p)
}

/// The IPv6 pseudo-header sum (RFC 8200 8.1): the length saturates at 2^32 - 1.
#[inline]
pub fn pseudo_header_v6(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, len: usize) -> u64 {
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    let mut p = [0u8; 40];
    p[..16].copy_from_slice(&src.octets());
    p[16..32].copy_from_slice(&dst.octets());
    p[32..36].copy_from_slice(&len.to_be_bytes());
    p[39] = next_header;
    add(0, &p)
}

/// The checksum of the upper-layer packet `data` (checksum field included as it stands) carried
/// from `src` to `dst`, over the pseudo-header and `data`, in native byte order: zero when
/// `data` carries a correct checksum, else (with the field zeroed) the value to write with
/// `to_ne_bytes`.
#[inline]
pub fn upper_layer(src: IpAddr, dst: IpAddr, protocol: u8, data: &[u8]) -> u16 {
    finish(add(pseudo_header(src, dst, protocol, data.len()), data))
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
    fn pseudo_headers_agree_with_etherparse() {
        use etherparse::{IpNumber, UdpHeader};
        let payload: Vec<u8> = (0..101u8).collect();
        let (s4, d4) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        let h = UdpHeader::without_ipv4_checksum(7, 9, payload.len()).unwrap();
        let want = h
            .calc_checksum_ipv4_raw(s4.octets(), d4.octets(), &payload)
            .unwrap();
        let mut dgram = h.to_bytes().to_vec();
        dgram.extend_from_slice(&payload);
        let ours = upper_layer(s4.into(), d4.into(), IpNumber::UDP.0, &dgram);
        assert_eq!(u16::from_be_bytes(ours.to_ne_bytes()), want);

        let (s6, d6): (Ipv6Addr, Ipv6Addr) =
            ("fe80::1".parse().unwrap(), "ff02::1".parse().unwrap());
        let want = h
            .calc_checksum_ipv6_raw(s6.octets(), d6.octets(), &payload)
            .unwrap();
        let ours = upper_layer(s6.into(), d6.into(), IpNumber::UDP.0, &dgram);
        assert_eq!(u16::from_be_bytes(ours.to_ne_bytes()), want);
        // A mixed pair is summed as IPv6 with the IPv4 address mapped.
        assert_eq!(
            pseudo_header(s4.into(), d6.into(), 6, 20),
            pseudo_header_v6(s4.to_ipv6_mapped(), d6, 6, 20)
        );
    }

    #[test]
    fn udp_writers_agree_with_etherparse() {
        use core::net::{SocketAddrV4, SocketAddrV6};
        use etherparse::UdpHeader;
        let (s4, d4) = (Ipv4Addr::new(10, 77, 0, 2), Ipv4Addr::new(10, 77, 0, 1));
        let (s6, d6): (Ipv6Addr, Ipv6Addr) =
            ("fd77::2".parse().unwrap(), "fd77::1".parse().unwrap());
        for len in 0..300usize {
            let payload: Vec<u8> = (0..len).map(|i| (i * 31 + len) as u8).collect();
            let h = UdpHeader::without_ipv4_checksum(53, 40000, len).unwrap();
            let mut out = Vec::new();
            assert!(crate::udp::write(
                &mut out,
                SocketAddrV4::new(s4, 53),
                SocketAddrV4::new(d4, 40000),
                &payload
            ));
            let want = h
                .calc_checksum_ipv4_raw(s4.octets(), d4.octets(), &payload)
                .unwrap();
            assert_eq!(out[6..8], want.to_be_bytes(), "IPv4, length {len}");
            out.clear();
            assert!(crate::udp::write6(
                &mut out,
                SocketAddrV6::new(s6, 53, 0, 0),
                SocketAddrV6::new(d6, 40000, 0, 0),
                &payload
            ));
            let want = h
                .calc_checksum_ipv6_raw(s6.octets(), d6.octets(), &payload)
                .unwrap();
            assert_eq!(out[6..8], want.to_be_bytes(), "IPv6, length {len}");
        }
    }

    #[test]
    fn a_sum_of_negative_zero_gives_checksum_zero() {
        // TCP sends the computed value as it is (only UDP maps 0 to 0xffff): words summing to
        // 0xffff must give 0x0000, never 0xffff, or tshark reports the segment (RFC 1624).
        assert_eq!(finish(add(0, &[0x12, 0x34, 0xed, 0xcb])), 0);
        assert_eq!(finish(add(add(0, &[0xff, 0x00]), &[0x00, 0xff])), 0);
    }
}
