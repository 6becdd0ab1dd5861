//! ICMP (RFC 792), ICMPv6 (RFC 4443) and NDP messages with their options (RFC 4861): our
//! parsers, ICMP against etherparse, the ICMP error quotes, and the NDP options walk.
//!
//! Input: one selector byte, then source and destination addresses (16 bytes each) and a hop
//! limit, then the message. Half of the inputs get their ICMPv6 checksum repaired so that the
//! mutations reach past it.
//!
//! Stricter refusals than etherparse: a bad ICMP checksum (RFC 792: the receiver verifies it;
//! etherparse does not check). Laxer: timestamp messages of the wrong length, which etherparse
//! refuses and we parse as `Other` (then ignore).
#![no_main]

use std::net::Ipv6Addr;

use libfuzzer_sys::fuzz_target;
use tapstack::icmp::Message as V4;
use tapstack::ipv6::icmp::{self as icmp6, Message as V6};
use tapstack::ipv6::ndp::{self, IpInfo, NdpOption};

fn addr(b: &[u8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(b);
    Ipv6Addr::from(a)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 34 {
        return;
    }
    let (select, src, dst, hop) = (data[0], addr(&data[1..17]), addr(&data[17..33]), data[33]);
    let mut msg = data[34..].to_vec();

    // ICMPv4: a parse agrees with etherparse plus the checksum.
    let ours = tapstack::icmp::parse(&msg);
    let e = etherparse::Icmpv4Slice::from_slice(&msg);
    let sum_ok = etherparse::checksum::Sum16BitWords::new()
        .add_slice(&msg)
        .ones_complement()
        == 0;
    // etherparse wants timestamp messages (13, 14 with code 0) exactly 20 bytes long; we take
    // them as `Other` whatever their length and ignore them (RFC 1122 3.2.2.8: optional).
    let timestamp = matches!((msg.first(), msg.get(1)), (Some(13 | 14), Some(0)));
    if !(timestamp && msg.len() >= 8) {
        assert_eq!(ours.is_ok(), e.is_ok() && sum_ok, "ICMP verdicts differ");
    } else {
        assert_eq!(ours.is_ok(), sum_ok, "ICMP timestamp verdicts differ");
    }
    if let (Ok(m), Ok(e)) = (ours, e) {
        assert_eq!(e.type_u8(), msg[0]);
        match m {
            V4::EchoRequest { ident, seq, data } | V4::EchoReply { ident, seq, data } => {
                assert_eq!(e.bytes5to8()[..2], ident.to_be_bytes());
                assert_eq!(e.bytes5to8()[2..], seq.to_be_bytes());
                assert_eq!(data, e.payload());
            }
            V4::Error { original, .. } => {
                assert_eq!(original, e.payload());
                let _ = tapstack::ipv4::quoted(original);
            }
            V4::Other { kind, code } => assert_eq!((kind, code), (e.type_u8(), e.code_u8())),
        }
    }

    // ICMPv6, checksum repaired half of the time.
    if select & 1 == 1 && msg.len() >= 4 {
        msg[2..4].copy_from_slice(&[0, 0]);
        let sum = tapstack::checksum::upper_layer(src.into(), dst.into(), 58, &msg);
        msg[2..4].copy_from_slice(&sum.to_ne_bytes());
    }
    match icmp6::parse(src, dst, &msg) {
        Ok(V6::EchoRequest { data, .. } | V6::EchoReply { data, .. }) => {
            assert_eq!(data.len() + 8, msg.len());
            let e = etherparse::Icmpv6Slice::from_slice(&msg).expect("etherparse refuses echo");
            assert_eq!(e.payload(), data);
        }
        Ok(
            V6::DestinationUnreachable { original, .. }
            | V6::PacketTooBig { original, .. }
            | V6::TimeExceeded { original, .. }
            | V6::ParameterProblem { original, .. },
        ) => {
            let _ = tapstack::ipv6::quoted(original);
        }
        Ok(V6::Other { message, .. }) => assert_eq!(message.len(), msg.len()),
        Err(_) => {}
    }

    // NDP validation and options, whatever the checksum (the caller checks it first).
    let ip = IpInfo {
        src,
        dst,
        hop_limit: hop,
    };
    if let Ok(ndp::Message::RouterAdvert { options, .. }) = ndp::parse(&ip, &msg) {
        let mut n = 0;
        for o in options.iter() {
            n += 1;
            assert!(n <= msg.len() / 8, "more options than bytes");
            if let NdpOption::Other { data, .. } = o {
                assert!(!data.is_empty() && data.len() % 8 == 0, "option length");
            }
        }
        assert!(options.prefixes().count() <= n);
    }
});
