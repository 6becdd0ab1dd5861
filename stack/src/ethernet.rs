//! Ethernet II (IEEE 802.3 framing as used by IP, RFC 894): addresses and the receive filter.
//!
//! Header parsing and writing go through `etherparse`; this module holds the address type and
//! the rules for which destination addresses the interface accepts.

use core::fmt;
use core::net::Ipv4Addr;
use core::str::FromStr;

/// Length of an Ethernet II header.
pub const HEADER_LEN: usize = 14;

/// A 48-bit MAC address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    /// 00:00:00:00:00:00.
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// True for group (multicast and broadcast) addresses: the I/G bit is set.
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }

    /// True for ff:ff:ff:ff:ff:ff.
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// True for an individual address that is not all zeros.
    pub fn is_unicast(&self) -> bool {
        !self.is_multicast() && *self != Self::ZERO
    }

    /// The MAC address an IPv4 multicast group maps to (RFC 1112 6.4): 01:00:5e + low 23 bits.
    pub fn for_ipv4_multicast(group: Ipv4Addr) -> MacAddr {
        let o = group.octets();
        MacAddr([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]])
    }

    /// A locally administered unicast address derived from `seed` (02:xx:..).
    pub fn local_from_seed(seed: u64) -> MacAddr {
        let b = seed.to_be_bytes();
        MacAddr([0x02, b[3] ^ b[7], b[4], b[5], b[6], b[7] ^ 0x5a])
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

/// Why a MAC address string did not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MacParseError;

impl fmt::Display for MacParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("expected six hex bytes separated by ':' or '-', like 02:00:00:77:00:02")
    }
}

impl std::error::Error for MacParseError {}

impl FromStr for MacAddr {
    type Err = MacParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for byte in &mut out {
            let p = parts.next().ok_or(MacParseError)?;
            if p.is_empty() || p.len() > 2 {
                return Err(MacParseError);
            }
            *byte = u8::from_str_radix(p, 16).map_err(|_| MacParseError)?;
        }
        if parts.next().is_some() {
            return Err(MacParseError);
        }
        Ok(MacAddr(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print() {
        let m: MacAddr = "02:00:00:77:00:02".parse().unwrap();
        assert_eq!(m.0, [2, 0, 0, 0x77, 0, 2]);
        assert_eq!(m.to_string(), "02:00:00:77:00:02");
        assert_eq!("02-00-00-77-00-0A".parse::<MacAddr>().unwrap().0[5], 10);
        for bad in [
            "",
            "02:00",
            "02:00:00:77:00:02:03",
            "zz:00:00:00:00:00",
            "002:0:0:0:0:0",
        ] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn classes() {
        assert!(MacAddr::BROADCAST.is_multicast() && MacAddr::BROADCAST.is_broadcast());
        assert!(!MacAddr::ZERO.is_unicast());
        assert!(MacAddr::local_from_seed(1).is_unicast());
        assert_eq!(
            MacAddr::for_ipv4_multicast(Ipv4Addr::new(224, 128, 0, 1)),
            MacAddr([1, 0, 0x5e, 0, 0, 1])
        );
    }
}
