//! ICMPv6 (RFC 4443): parsing with the checksum over the IPv6 pseudo-header (RFC 8200 8.1),
//! echo, and the error messages a host sends.
//!
//! Error messages quote as much of the offending packet as fits in the minimum MTU of 1280
//! bytes (RFC 4443 2.4(c)) and are never sent about an ICMPv6 error, nor about a packet sent to
//! a multicast address or as link-layer multicast, except Packet Too Big and Parameter Problem
//! code 2 (RFC 4443 2.4(e)); see [`error_allowed`]. Rate limiting is the caller's, with
//! [`crate::icmp::TokenBucket`] (RFC 4443 2.4(f)).

use core::net::Ipv6Addr;

use super::{ext, NextHeader, HEADER_LEN, MIN_MTU};
use crate::checksum;

/// The ICMPv6 next header value.
pub const PROTOCOL: u8 = 58;

/// Length of the ICMPv6 header (type, code, checksum, 4 bytes of message body).
pub const HEADER: usize = 8;

/// Most bytes of an original packet quoted in an error (1280 - 40 - 8).
pub const MAX_QUOTE: usize = MIN_MTU - HEADER_LEN - HEADER;

/// Parameter Problem codes (RFC 4443 3.4, RFC 7112 for code 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamProblemCode {
    /// 0: erroneous header field encountered.
    ErroneousHeader,
    /// 1: unrecognized Next Header type encountered.
    UnrecognizedNextHeader,
    /// 2: unrecognized IPv6 option encountered.
    UnrecognizedOption,
    /// 3: IPv6 first fragment has incomplete IPv6 header chain.
    IncompleteChain,
    /// Any other code.
    Unknown(u8),
}

impl From<u8> for ParamProblemCode {
    fn from(n: u8) -> Self {
        match n {
            0 => Self::ErroneousHeader,
            1 => Self::UnrecognizedNextHeader,
            2 => Self::UnrecognizedOption,
            3 => Self::IncompleteChain,
            other => Self::Unknown(other),
        }
    }
}

impl From<ParamProblemCode> for u8 {
    fn from(c: ParamProblemCode) -> u8 {
        match c {
            ParamProblemCode::ErroneousHeader => 0,
            ParamProblemCode::UnrecognizedNextHeader => 1,
            ParamProblemCode::UnrecognizedOption => 2,
            ParamProblemCode::IncompleteChain => 3,
            ParamProblemCode::Unknown(n) => n,
        }
    }
}

/// A received ICMPv6 message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// Echo request (128).
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq: u16,
        /// Data to echo back.
        data: &'a [u8],
    },
    /// Echo reply (129).
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq: u16,
        /// Echoed data.
        data: &'a [u8],
    },
    /// Destination unreachable (1).
    DestinationUnreachable {
        /// Code (0 no route ... 6 reject route).
        code: u8,
        /// The quoted packet.
        original: &'a [u8],
    },
    /// Packet too big (2).
    PacketTooBig {
        /// MTU of the next-hop link.
        mtu: u32,
        /// The quoted packet.
        original: &'a [u8],
    },
    /// Time exceeded (3).
    TimeExceeded {
        /// Code (0 hop limit, 1 reassembly time).
        code: u8,
        /// The quoted packet.
        original: &'a [u8],
    },
    /// Parameter problem (4).
    ParameterProblem {
        /// Code.
        code: ParamProblemCode,
        /// Offset of the offending byte.
        pointer: u32,
        /// The quoted packet.
        original: &'a [u8],
    },
    /// Anything else: NDP (133-137, see [`super::ndp`]), MLD, unknown informational messages
    /// (ignored, RFC 4443 2.4(b)) and unknown errors (to be passed up, RFC 4443 2.4(a)).
    Other {
        /// Type.
        kind: u8,
        /// Code.
        code: u8,
        /// The whole message, header included.
        message: &'a [u8],
    },
}

/// Why an ICMPv6 message was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Shorter than the 8 bytes every message we take has (4 for unknown types).
    Truncated,
    /// Checksum mismatch over the pseudo-header and message.
    BadChecksum,
}

/// Parses an ICMPv6 message received from `src` to `dst` and checks its checksum.
///
/// # Errors
/// [`ParseError`] when short or corrupt.
pub fn parse(src: Ipv6Addr, dst: Ipv6Addr, buf: &[u8]) -> Result<Message<'_>, ParseError> {
    let (Some(&kind), Some(&code), Some(_)) = (buf.first(), buf.get(1), buf.get(2..4)) else {
        return Err(ParseError::Truncated);
    };
    if checksum::upper_layer(src.into(), dst.into(), PROTOCOL, buf) != 0 {
        return Err(ParseError::BadChecksum);
    }
    let other = Message::Other {
        kind,
        code,
        message: buf,
    };
    if !matches!(kind, 1..=4 | 128 | 129) {
        return Ok(other);
    }
    let (Some(word), Some(body)) = (buf.get(4..8), buf.get(8..)) else {
        return Err(ParseError::Truncated);
    };
    let word = [word[0], word[1], word[2], word[3]];
    let hi = u16::from_be_bytes([word[0], word[1]]);
    let lo = u16::from_be_bytes([word[2], word[3]]);
    Ok(match kind {
        1 => Message::DestinationUnreachable {
            code,
            original: body,
        },
        2 => Message::PacketTooBig {
            mtu: u32::from_be_bytes(word),
            original: body,
        },
        3 => Message::TimeExceeded {
            code,
            original: body,
        },
        4 => Message::ParameterProblem {
            code: ParamProblemCode::from(code),
            pointer: u32::from_be_bytes(word),
            original: body,
        },
        128 if code == 0 => Message::EchoRequest {
            ident: hi,
            seq: lo,
            data: body,
        },
        129 if code == 0 => Message::EchoReply {
            ident: hi,
            seq: lo,
            data: body,
        },
        _ => other,
    })
}

/// Appends an ICMPv6 message of `kind`/`code` with the 4-byte `word` and `body`, checksummed for
/// `src` -> `dst`.
pub fn write(
    out: &mut Vec<u8>,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    kind: u8,
    code: u8,
    word: [u8; 4],
    body: &[u8],
) {
    let start = out.len();
    out.extend_from_slice(&[kind, code, 0, 0]);
    out.extend_from_slice(&word);
    out.extend_from_slice(body);
    fill_checksum(out, start, src, dst);
}

/// Computes and stores the checksum of the ICMPv6 message at `out[start..]`.
pub(crate) fn fill_checksum(out: &mut [u8], start: usize, src: Ipv6Addr, dst: Ipv6Addr) {
    let Some(msg) = out.get(start..) else {
        return;
    };
    let sum = checksum::pseudo_header_v6(src, dst, PROTOCOL, msg.len());
    let c = checksum::finish(checksum::add(sum, msg));
    if let Some(field) = out.get_mut(start + 2..start + 4) {
        field.copy_from_slice(&c.to_ne_bytes());
    }
}

fn echo_word(ident: u16, seq: u16) -> [u8; 4] {
    let (i, s) = (ident.to_be_bytes(), seq.to_be_bytes());
    [i[0], i[1], s[0], s[1]]
}

/// Appends an echo request.
pub fn write_echo_request(
    out: &mut Vec<u8>,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    ident: u16,
    seq: u16,
    data: &[u8],
) {
    write(out, src, dst, 128, 0, echo_word(ident, seq), data);
}

/// Appends an echo reply (RFC 4443 4.2: same identifier, sequence number and data).
pub fn write_echo_reply(
    out: &mut Vec<u8>,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    ident: u16,
    seq: u16,
    data: &[u8],
) {
    write(out, src, dst, 129, 0, echo_word(ident, seq), data);
}

/// The errors this host sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Destination unreachable (1) with its code (4: port unreachable).
    DestinationUnreachable(u8),
    /// Packet too big (2) with the MTU of the link.
    PacketTooBig(u32),
    /// Time exceeded (3) with its code (1: fragment reassembly time exceeded).
    TimeExceeded(u8),
    /// Parameter problem (4).
    ParameterProblem {
        /// Code.
        code: ParamProblemCode,
        /// Offset of the offending byte.
        pointer: u32,
    },
}

/// Appends an ICMPv6 error quoting `original` (the offending packet from its IPv6 header on),
/// cut so the whole error packet fits in 1280 bytes.
pub fn write_error(out: &mut Vec<u8>, src: Ipv6Addr, dst: Ipv6Addr, error: Error, original: &[u8]) {
    let quote = original.get(..MAX_QUOTE).unwrap_or(original);
    let (kind, code, word) = match error {
        Error::DestinationUnreachable(code) => (1, code, [0; 4]),
        Error::PacketTooBig(mtu) => (2, 0, mtu.to_be_bytes()),
        Error::TimeExceeded(code) => (3, code, [0; 4]),
        Error::ParameterProblem { code, pointer } => (4, u8::from(code), pointer.to_be_bytes()),
    };
    write(out, src, dst, kind, code, word, quote);
}

/// The header of a possibly cut-short packet and the bytes after it.
fn quoted_header(original: &[u8]) -> Option<(super::Repr, &[u8])> {
    if let Ok(whole) = super::parse(original) {
        return Some(whole);
    }
    // A quoted packet may be cut short; the fixed header is enough to decide.
    let head = original.get(..HEADER_LEN)?;
    let mut fixed = [0u8; HEADER_LEN];
    fixed.copy_from_slice(head);
    fixed[4] = 0;
    fixed[5] = 0;
    fixed[6] = 59;
    let (mut ip, _) = super::parse(&fixed).ok()?;
    ip.next_header = NextHeader::from(head[6]);
    Some((ip, original.get(HEADER_LEN..).unwrap_or(&[])))
}

/// How the offending packet arrived at the link layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkDestination {
    /// To our unicast MAC.
    Unicast,
    /// To a multicast or broadcast MAC.
    Group,
}

/// Whether `error` may be sent about `original` (an IPv6 packet from its header on), per
/// RFC 4443 2.4(e): not about an ICMPv6 error or a redirect, not about a packet whose source
/// does not identify one node, and not about a packet to a multicast address or link-layer
/// group, except Packet Too Big and Parameter Problem code 2.
pub fn error_allowed(error: Error, original: &[u8], link: LinkDestination) -> bool {
    let Some((ip, payload)) = quoted_header(original) else {
        return false;
    };
    if ip.src.is_unspecified() || ip.src.is_multicast() {
        return false;
    }
    let exempt = matches!(
        error,
        Error::PacketTooBig(_)
            | Error::ParameterProblem {
                code: ParamProblemCode::UnrecognizedOption,
                ..
            }
    );
    if !exempt && (ip.dst.is_multicast() || link == LinkDestination::Group) {
        return false;
    }
    // Find the upper layer, skipping extension headers without judging their options.
    let mut next = ip.next_header;
    let mut offset = 0usize;
    for _ in 0..ext::Limits::default().max_headers {
        match next {
            NextHeader::HopByHop | NextHeader::Routing | NextHeader::DestinationOptions => {
                let (Some(&nh), Some(&len)) = (payload.get(offset), payload.get(offset + 1)) else {
                    return true;
                };
                next = NextHeader::from(nh);
                offset += (usize::from(len) + 1) * 8;
            }
            NextHeader::Fragment => {
                let Ok(f) = ext::Fragment::parse(payload.get(offset..).unwrap_or(&[])) else {
                    return true;
                };
                if f.offset != 0 {
                    // Not the first fragment: the ICMPv6 type is not here.
                    return true;
                }
                next = NextHeader::from(f.next_header);
                offset += ext::FRAGMENT_LEN;
            }
            NextHeader::Icmp => {
                // Errors are types 0-127; redirects (137) are not answered either.
                return payload
                    .get(offset)
                    .is_none_or(|&kind| kind >= 128 && kind != 137);
            }
            _ => return true,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ll(n: u16) -> Ipv6Addr {
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, n)
    }

    /// Echo request id 0x1234 seq 1 from fe80::1 to fe80::2, no data (see ipv6::tests).
    const ECHO: [u8; 8] = [0x80, 0x00, 0x70, 0x83, 0x12, 0x34, 0x00, 0x01];

    #[test]
    fn parse_echo_vector() {
        assert_eq!(
            parse(ll(1), ll(2), &ECHO),
            Ok(Message::EchoRequest {
                ident: 0x1234,
                seq: 1,
                data: &[]
            })
        );
        // Same bytes, other addresses: the pseudo-header no longer matches.
        assert_eq!(parse(ll(1), ll(3), &ECHO), Err(ParseError::BadChecksum));
        for n in 0..4 {
            assert_eq!(parse(ll(1), ll(2), &ECHO[..n]), Err(ParseError::Truncated));
        }
    }

    #[test]
    fn echo_round_trip() {
        let mut out = Vec::new();
        write_echo_request(&mut out, ll(1), ll(2), 0x1234, 1, &[]);
        assert_eq!(out, ECHO);
        let mut rep = Vec::new();
        write_echo_reply(&mut rep, ll(2), ll(1), 7, 9, b"ping");
        assert_eq!(
            parse(ll(2), ll(1), &rep),
            Ok(Message::EchoReply {
                ident: 7,
                seq: 9,
                data: b"ping"
            })
        );
        rep[9] ^= 1;
        assert_eq!(parse(ll(2), ll(1), &rep), Err(ParseError::BadChecksum));
    }

    fn original(dst: Ipv6Addr, next: u8, body: &[u8]) -> Vec<u8> {
        let mut p = Vec::new();
        super::super::write_header(
            &mut p,
            &super::super::EmitRepr {
                src: ll(1),
                dst,
                next_header: NextHeader::from(next),
                hop_limit: 64,
            },
            body.len(),
        );
        p.extend_from_slice(body);
        p
    }

    #[test]
    fn errors_quote_at_most_1280() {
        let big = original(ll(2), 17, &[0x11; 3000]);
        let mut out = Vec::new();
        write_error(&mut out, ll(2), ll(1), Error::PacketTooBig(1400), &big);
        assert_eq!(out.len() + HEADER_LEN, MIN_MTU);
        assert_eq!(
            parse(ll(2), ll(1), &out),
            Ok(Message::PacketTooBig {
                mtu: 1400,
                original: &big[..MAX_QUOTE]
            })
        );
        let small = original(ll(2), 17, &[0x11; 8]);
        let kinds = [
            (Error::DestinationUnreachable(4), 1, 4),
            (Error::TimeExceeded(1), 3, 1),
            (
                Error::ParameterProblem {
                    code: ParamProblemCode::UnrecognizedNextHeader,
                    pointer: 6,
                },
                4,
                1,
            ),
        ];
        for (e, kind, code) in kinds {
            let mut out = Vec::new();
            write_error(&mut out, ll(2), ll(1), e, &small);
            assert_eq!((out[0], out[1]), (kind, code));
            assert_eq!(&out[8..], &small[..]);
            assert_eq!(
                super::super::upper_layer_checksum(ll(2), ll(1), 58, &out),
                0
            );
        }
        let mut out = Vec::new();
        let pp = Error::ParameterProblem {
            code: ParamProblemCode::UnrecognizedNextHeader,
            pointer: 6,
        };
        write_error(&mut out, ll(2), ll(1), pp, &small);
        assert_eq!(
            parse(ll(2), ll(1), &out),
            Ok(Message::ParameterProblem {
                code: ParamProblemCode::UnrecognizedNextHeader,
                pointer: 6,
                original: &small
            })
        );
    }

    #[test]
    fn error_rules() {
        let uni = LinkDestination::Unicast;
        let unreach = Error::DestinationUnreachable(4);
        let udp = original(ll(2), 17, &[0; 8]);
        assert!(error_allowed(unreach, &udp, uni));
        assert!(!error_allowed(unreach, &udp, LinkDestination::Group));
        // About an ICMPv6 error: never; about an echo request: yes.
        let err = original(ll(2), 58, &[1, 4, 0, 0, 0, 0, 0, 0]);
        assert!(!error_allowed(Error::PacketTooBig(1280), &err, uni));
        let echo = original(ll(2), 58, &ECHO);
        assert!(error_allowed(unreach, &echo, uni));
        // Behind a Destination Options header, still found.
        let mut hidden = vec![58, 0, 1, 4, 0, 0, 0, 0];
        hidden.extend_from_slice(&[3, 0, 0, 0, 0, 0, 0, 0]);
        assert!(!error_allowed(unreach, &original(ll(2), 60, &hidden), uni));
        // Multicast destination: only packet too big and parameter problem code 2.
        let mc = original("ff02::1".parse().unwrap(), 17, &[0; 8]);
        assert!(!error_allowed(unreach, &mc, uni));
        assert!(error_allowed(Error::PacketTooBig(1280), &mc, uni));
        let option = Error::ParameterProblem {
            code: ParamProblemCode::UnrecognizedOption,
            pointer: 42,
        };
        assert!(error_allowed(option, &mc, uni));
        let header = Error::ParameterProblem {
            code: ParamProblemCode::ErroneousHeader,
            pointer: 42,
        };
        assert!(!error_allowed(header, &mc, uni));
        // Unspecified source.
        let mut unspec = udp.clone();
        unspec[8..24].fill(0);
        assert!(!error_allowed(unreach, &unspec, uni));
        // A quote cut short still decides on the fixed header.
        assert!(error_allowed(unreach, &udp[..44], uni));
        assert!(!error_allowed(unreach, &udp[..30], uni));
    }
}
