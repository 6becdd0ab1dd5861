//! Frames from a TAP or TUN device with a virtio-net header in front: the header is taken as
//! the device takes it (partial checksums filled in, UDP super-frames cut), then what comes out
//! goes to an interface that has the offloads on. The header may say anything; nothing may
//! panic, every datagram cut from a UDP super-frame holds at most `gso_size` payload bytes, and
//! a frame the stack would send is given a header whose checksum place lies inside it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tapstack::device::vnet::{self, Header};
use tapstack::device::{Medium, Offloads};
use tapstack::{Config, Instant, Interface, Ipv4Cidr, MacAddr};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Some(header) = Header::parse(rest) else {
        return;
    };
    let medium = if selector & 1 == 0 {
        Medium::Ethernet
    } else {
        Medium::Ip
    };
    let mut frame = rest[vnet::HEADER_LEN..].to_vec();
    let mut config = Config::new(
        MacAddr([0x02, 0, 10, 77, 0, 2]),
        Ipv4Cidr::new("10.77.0.2".parse().unwrap(), 24),
    );
    config.medium = medium;
    config.arp.probe_count = 0;
    let mut iface = Interface::new(config).unwrap();
    iface.set_offloads(Offloads {
        rx_checksum: true,
        tso: true,
        tx_checksum: false,
    });
    let now = Instant::ZERO;
    let mut sink = |_: &[u8]| {};
    if header.gso_type & !vnet::GSO_ECN == vnet::GSO_UDP_L4 {
        let mut scratch = Vec::new();
        let size = usize::from(header.gso_size);
        let _ = vnet::split_udp(&header, &frame, medium, &mut scratch, |d, info| {
            assert!(d.len() <= 14 + 60 + 8 + size, "a cut datagram holds one segment");
            iface.receive_with(now, d, info, &mut sink);
        });
    } else if let Ok(info) = vnet::receive(&header, &mut frame, selector & 2 == 0) {
        iface.receive_with(now, &frame, info, &mut sink);
    }
    let mtu = 576 + usize::from(selector >> 1) * 8;
    let mut out = frame.clone();
    let h = vnet::transmit(&mut out, medium, mtu);
    if h.flags & vnet::NEEDS_CSUM != 0 {
        assert!(usize::from(h.csum_start) + usize::from(h.csum_offset) + 2 <= out.len());
        assert!(usize::from(h.hdr_len) < out.len());
        vnet::complete_checksum(&mut out, h.csum_start.into(), h.csum_offset.into()).unwrap();
    }
});
