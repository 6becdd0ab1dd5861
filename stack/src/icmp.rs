//! ICMPv4 (RFC 792, host rules in RFC 1122 3.2.2): echo, and the error messages a host sends.
//!
//! Error messages are never sent about an ICMP error, a datagram to a broadcast or multicast
//! address, a non-initial fragment, or a datagram whose source is not a single host
//! (RFC 1122 3.2.2). They are rate limited by a [`TokenBucket`].

use core::time::Duration;

use etherparse::checksum::Sum16BitWords;
use etherparse::icmpv4::DestUnreachableHeader;
use etherparse::{IcmpEchoHeader, Icmpv4Header, Icmpv4Type};

use crate::time::Instant;

/// Most bytes of an ICMP error datagram (RFC 1812 4.3.2.3: do not exceed 576).
pub const MAX_ERROR_DATAGRAM: usize = 576;

/// A received ICMP message, as far as a host cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// Echo request (type 8).
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq: u16,
        /// Data to echo back.
        data: &'a [u8],
    },
    /// Echo reply (type 0).
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq: u16,
        /// Echoed data.
        data: &'a [u8],
    },
    /// An error about a datagram we sent: destination unreachable (3), source quench (4),
    /// time exceeded (11) or parameter problem (12). `original` is the quoted IP header and data.
    Error {
        /// ICMP type.
        kind: u8,
        /// ICMP code.
        code: u8,
        /// Next-hop MTU of "fragmentation needed" (type 3 code 4), else 0.
        mtu: u16,
        /// The quoted datagram.
        original: &'a [u8],
    },
    /// Anything else (timestamps, redirects, router discovery, ...).
    Other {
        /// ICMP type.
        kind: u8,
        /// ICMP code.
        code: u8,
    },
}

/// Why an ICMP message was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Shorter than 8 bytes.
    Truncated,
    /// Checksum mismatch.
    BadChecksum,
}

/// Parses an ICMP message and checks its checksum.
///
/// # Errors
/// [`ParseError`] when short or corrupt.
pub fn parse(buf: &[u8]) -> Result<Message<'_>, ParseError> {
    let (Some(&kind), Some(&code), Some(rest), Some(body)) =
        (buf.first(), buf.get(1), buf.get(4..8), buf.get(8..))
    else {
        return Err(ParseError::Truncated);
    };
    if Sum16BitWords::new().add_slice(buf).ones_complement() != 0 {
        return Err(ParseError::BadChecksum);
    }
    let hi = u16::from_be_bytes([rest[0], rest[1]]);
    let lo = u16::from_be_bytes([rest[2], rest[3]]);
    Ok(match (kind, code) {
        (8, 0) => Message::EchoRequest {
            ident: hi,
            seq: lo,
            data: body,
        },
        (0, 0) => Message::EchoReply {
            ident: hi,
            seq: lo,
            data: body,
        },
        (3 | 4 | 11 | 12, _) => Message::Error {
            kind,
            code,
            mtu: if kind == 3 && code == 4 { lo } else { 0 },
            original: body,
        },
        _ => Message::Other { kind, code },
    })
}

/// Appends an echo reply answering `ident`/`seq` with `data`.
pub fn write_echo_reply(out: &mut Vec<u8>, ident: u16, seq: u16, data: &[u8]) {
    let h = Icmpv4Header::with_checksum(
        Icmpv4Type::EchoReply(IcmpEchoHeader { id: ident, seq }),
        data,
    );
    out.extend_from_slice(&h.to_bytes());
    out.extend_from_slice(data);
}

/// Appends an echo request.
pub fn write_echo_request(out: &mut Vec<u8>, ident: u16, seq: u16, data: &[u8]) {
    let h = Icmpv4Header::with_checksum(
        Icmpv4Type::EchoRequest(IcmpEchoHeader { id: ident, seq }),
        data,
    );
    out.extend_from_slice(&h.to_bytes());
    out.extend_from_slice(data);
}

/// The errors this host sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Destination unreachable, protocol unreachable (3/2).
    ProtocolUnreachable,
    /// Destination unreachable, port unreachable (3/3).
    PortUnreachable,
}

/// Appends an ICMP error quoting `original` (the offending datagram from its IP header on),
/// cut so the whole error datagram stays within [`MAX_ERROR_DATAGRAM`].
pub fn write_error(out: &mut Vec<u8>, kind: ErrorKind, original: &[u8]) {
    let quote_max = MAX_ERROR_DATAGRAM - crate::ipv4::HEADER_LEN - 8;
    let quote = original.get(..quote_max).unwrap_or(original);
    let t = match kind {
        ErrorKind::ProtocolUnreachable => DestUnreachableHeader::Protocol,
        ErrorKind::PortUnreachable => DestUnreachableHeader::Port,
    };
    let h = Icmpv4Header::with_checksum(Icmpv4Type::DestinationUnreachable(t), quote);
    out.extend_from_slice(&h.to_bytes());
    out.extend_from_slice(quote);
}

/// A token bucket: `rate` tokens a second, at most `burst` saved up.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    rate: u32,
    burst: u32,
    tokens_micro: u64,
    last: Option<Instant>,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: u32, burst: u32) -> Self {
        TokenBucket {
            rate,
            burst,
            tokens_micro: u64::from(burst) * 1_000_000,
            last: None,
        }
    }

    /// Takes a token if one is there.
    pub fn take(&mut self, now: Instant) -> bool {
        let cap = u64::from(self.burst) * 1_000_000;
        if let Some(last) = self.last {
            let dt = now
                .saturating_duration_since(last)
                .min(Duration::from_secs(3600));
            let add = u64::try_from(dt.as_micros())
                .unwrap_or(0)
                .saturating_mul(u64::from(self.rate));
            self.tokens_micro = self.tokens_micro.saturating_add(add).min(cap);
        }
        self.last = Some(now);
        if self.tokens_micro >= 1_000_000 {
            self.tokens_micro -= 1_000_000;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Echo request id 0x1234 seq 1 with 4 data bytes, checksum filled by `with_sum`.
    fn echo_request() -> Vec<u8> {
        let mut out = Vec::new();
        write_echo_request(&mut out, 0x1234, 1, b"ping");
        out
    }

    #[test]
    fn echo_round_trip() {
        let req = echo_request();
        assert_eq!(&req[..8], &[8, 0, 0x06, 0xfa, 0x12, 0x34, 0x00, 0x01]);
        assert_eq!(
            parse(&req),
            Ok(Message::EchoRequest {
                ident: 0x1234,
                seq: 1,
                data: b"ping"
            })
        );
        let mut rep = Vec::new();
        write_echo_reply(&mut rep, 0x1234, 1, b"ping");
        assert_eq!(rep[0], 0);
        assert_eq!(
            parse(&rep),
            Ok(Message::EchoReply {
                ident: 0x1234,
                seq: 1,
                data: b"ping"
            })
        );
    }

    #[test]
    fn rejects_short_and_corrupt() {
        let req = echo_request();
        for n in 0..8 {
            assert_eq!(parse(&req[..n]), Err(ParseError::Truncated));
        }
        let mut bad = req.clone();
        bad[9] ^= 0x40;
        assert_eq!(parse(&bad), Err(ParseError::BadChecksum));
    }

    #[test]
    fn errors_quote_at_most_576() {
        let original = vec![0x45; 2000];
        let mut out = Vec::new();
        write_error(&mut out, ErrorKind::PortUnreachable, &original);
        assert_eq!(out.len() + 20, MAX_ERROR_DATAGRAM);
        match parse(&out).unwrap() {
            Message::Error {
                kind: 3,
                code: 3,
                original,
                ..
            } => assert_eq!(original.len(), 548),
            m => panic!("{m:?}"),
        }
        let mut out = Vec::new();
        write_error(&mut out, ErrorKind::ProtocolUnreachable, &original[..28]);
        assert_eq!(
            parse(&out),
            Ok(Message::Error {
                kind: 3,
                code: 2,
                mtu: 0,
                original: &original[..28]
            })
        );
    }

    #[test]
    fn frag_needed_carries_mtu() {
        let mut msg = vec![3, 4, 0, 0, 0, 0, 0x05, 0xdc];
        msg.extend_from_slice(&[0x45; 28]);
        let sum = Sum16BitWords::new().add_slice(&msg).ones_complement();
        msg[2..4].copy_from_slice(&sum.to_ne_bytes()); // etherparse sums in native order
        assert!(matches!(
            parse(&msg),
            Ok(Message::Error {
                kind: 3,
                code: 4,
                mtu: 1500,
                ..
            })
        ));
    }

    #[test]
    fn token_bucket_limits_rate() {
        let mut b = TokenBucket::new(10, 3);
        let t = Instant::from_secs(5);
        assert_eq!((0..5).filter(|_| b.take(t)).count(), 3, "burst");
        assert!(!b.take(t + Duration::from_millis(50)));
        assert!(b.take(t + Duration::from_millis(150)), "refilled at 10/s");
        let later = t + Duration::from_secs(100);
        assert_eq!(
            (0..10).filter(|_| b.take(later)).count(),
            3,
            "never more than the burst"
        );
    }
}
