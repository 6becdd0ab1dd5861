//! Checksums (RFC 1071) of the bytes as they are, computed with [`crate::checksum`] apart from
//! the parsing so that a wrong one can be shown.

use core::net::{Ipv4Addr, Ipv6Addr};

use etherparse::{Icmpv4Slice, Icmpv6Slice, IpNumber, Ipv4HeaderSlice, TcpSlice, UdpSlice};

use crate::checksum;

/// The checksum `data` should carry in the 16-bit field at `at` (an even offset), with the
/// pseudo-header sum `start` already added, as the field reads (big-endian).
fn checksum_of(start: u64, data: &[u8], at: usize) -> Option<u16> {
    let before = data.get(..at)?;
    let after = data.get(at + 2..)?;
    let c = checksum::finish(checksum::add(checksum::add(start, before), after));
    Some(u16::from_be_bytes(c.to_ne_bytes()))
}

/// Where a transport checksum is computed from: the pseudo-header, when the IP payload is
/// complete (a cut or fragmented payload cannot be checked).
#[derive(Clone, Copy)]
pub(super) enum Pseudo {
    V4([u8; 4], [u8; 4]),
    V6([u8; 16], [u8; 16]),
    None,
}

impl Pseudo {
    /// The pseudo-header sum (RFC 9293 3.1 and RFC 768; RFC 8200 8.1), none when `len` does
    /// not fit its length field.
    fn sum(self, proto: IpNumber, len: usize) -> Option<u64> {
        match self {
            Pseudo::V4(s, d) => {
                u16::try_from(len).ok()?;
                let (s, d) = (Ipv4Addr::from(s), Ipv4Addr::from(d));
                Some(checksum::pseudo_header_v4(s, d, proto.0, len))
            }
            Pseudo::V6(s, d) => {
                u32::try_from(len).ok()?;
                let (s, d) = (Ipv6Addr::from(s), Ipv6Addr::from(d));
                Some(checksum::pseudo_header_v6(s, d, proto.0, len))
            }
            Pseudo::None => None,
        }
    }

    /// True when a checksum can be computed (the IP payload is complete).
    pub(super) fn complete(self) -> bool {
        !matches!(self, Pseudo::None)
    }
}

/// The checksum the IPv4 header should carry.
pub(super) fn ipv4_want(h: &Ipv4HeaderSlice<'_>) -> Option<u16> {
    checksum_of(0, h.slice(), 10)
}

pub(super) fn ipv4_checksum_ok(h: &Ipv4HeaderSlice<'_>) -> bool {
    ipv4_want(h) == Some(h.header_checksum())
}

/// UDP over IPv4 may carry no checksum (zero); a computed zero is sent as 0xffff (RFC 768).
pub(super) fn udp_want(pseudo: Pseudo, u: &UdpSlice<'_>) -> Option<u16> {
    if matches!(pseudo, Pseudo::V4(..)) && u.checksum() == 0 {
        return None;
    }
    let sum = pseudo.sum(IpNumber::UDP, u.slice().len())?;
    checksum_of(sum, u.slice(), 6).map(|c| if c == 0 { 0xffff } else { c })
}

pub(super) fn tcp_want(pseudo: Pseudo, t: &TcpSlice<'_>) -> Option<u16> {
    let sum = pseudo.sum(IpNumber::TCP, t.slice().len())?;
    checksum_of(sum, t.slice(), 16)
}

pub(super) fn icmpv4_want(i: &Icmpv4Slice<'_>) -> Option<u16> {
    checksum_of(0, i.slice(), 2)
}

pub(super) fn icmpv6_want(pseudo: Pseudo, i: &Icmpv6Slice<'_>) -> Option<u16> {
    let sum = pseudo.sum(IpNumber::IPV6_ICMP, i.slice().len())?;
    checksum_of(sum, i.slice(), 2)
}
