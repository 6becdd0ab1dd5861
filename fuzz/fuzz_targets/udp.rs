//! UDP (RFC 768, RFC 8200 8.1): our parser against smoltcp's `wire::udp` and etherparse's
//! `UdpSlice`, over IPv4 and IPv6.
//!
//! Input: a selector byte (bit 0: IPv6; bit 1: repair the checksum), then the datagram.
//!
//! Both accept with the same fields, or both refuse. Our stricter refusals: none against
//! smoltcp except destination port 0, which smoltcp refuses and we accept (RFC 768 does not
//! forbid it; nothing listens there, so it gets a port unreachable, as from Linux). Against
//! etherparse: the checksum (etherparse does not verify it). Over IPv6, a zero checksum
//! (RFC 8200 8.1: "IPv6 receivers must discard UDP packets containing a zero checksum"), which
//! smoltcp takes as "no checksum" in both families.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{IpAddress, UdpPacket, UdpRepr};

fuzz_target!(|data: &[u8]| {
    let Some((&select, rest)) = data.split_first() else {
        return;
    };
    let (src, dst) = tapstack_fuzz::addresses(select & 1 == 1);
    let mut buf = rest.to_vec();
    if select & 2 == 2 && buf.len() >= 8 {
        let len = usize::from(u16::from_be_bytes([buf[4], buf[5]]));
        if (8..=buf.len()).contains(&len) {
            buf[6..8].copy_from_slice(&[0, 0]);
            let sum = tapstack::checksum::upper_layer(src, dst, 17, &buf[..len]);
            let sum = if sum == 0 { 0xffff } else { sum };
            buf[6..8].copy_from_slice(&sum.to_ne_bytes());
        }
    }
    let ours = tapstack::udp::parse_ip(&buf, src, dst);
    let (s_src, s_dst): (IpAddress, IpAddress) = (src.into(), dst.into());
    // smoltcp skips checksum verification when built for fuzzing: checked here instead.
    let smol = UdpPacket::new_checked(&buf[..]).and_then(|p| {
        let r = UdpRepr::parse(&p, &s_src, &s_dst, &ChecksumCapabilities::default())?;
        let len = usize::from(p.len());
        let unsummed = p.checksum() == 0;
        if !unsummed && tapstack_fuzz::pseudo_sum(src, dst, 17, &buf[..len]) != 0 {
            return Err(smoltcp::wire::Error);
        }
        Ok((p, r))
    });
    match (&ours, &smol) {
        (Ok(d), Ok((p, r))) => {
            assert_eq!(d.src_port, r.src_port);
            assert_eq!(d.dst_port, r.dst_port);
            assert_eq!(d.payload, p.payload());
        }
        (Ok(d), Err(_)) => assert_eq!(d.dst_port, 0, "we accept {d:?}, smoltcp refuses"),
        (Err(tapstack::udp::ParseError::ZeroChecksum), Ok((p, _))) => {
            assert!(src.is_ipv6() && p.checksum() == 0);
        }
        (Err(e), Ok((_, r))) => {
            panic!("we refuse ({e:?}), smoltcp accepts {r:?}")
        }
        (Err(_), Err(_)) => {}
    }
    if let Ok(d) = ours {
        let e = etherparse::UdpSlice::from_slice(&buf).expect("etherparse refuses");
        assert_eq!(e.source_port(), d.src_port);
        assert_eq!(e.payload(), d.payload);
    }
});
