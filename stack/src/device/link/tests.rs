use super::*;

const OURS: MacAddr = MacAddr([0x02, 0x00, 0x0a, 0x4d, 0x00, 0x02]);
const KERNEL: [u8; 6] = [0x02, 0x00, 0x0a, 0x4d, 0x00, 0x01];

/// An IPv4 header (20 bytes, checksum not filled: only addresses are read here) from
/// 10.77.0.1 to `dst`, then 4 bytes of payload.
fn ipv4_to(dst: [u8; 4]) -> Vec<u8> {
    let mut p = vec![0x45, 0, 0, 24, 0, 1, 0, 0, 64, 17, 0, 0, 10, 77, 0, 1];
    p.extend_from_slice(&dst);
    p.extend_from_slice(b"data");
    p
}

fn ipv4() -> Vec<u8> {
    ipv4_to([10, 77, 0, 2])
}

/// An IPv6 header from fd77::1 to `dst`, no payload.
fn ipv6_to(dst: [u8; 16]) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0, 0, 0, 59, 64];
    p.extend_from_slice(&[0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    p.extend_from_slice(&dst);
    p
}

fn ipv6() -> Vec<u8> {
    ipv6_to([0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2])
}

fn sll(packet_type: u16, addr: &[u8], protocol: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = packet_type.to_be_bytes().to_vec();
    f.extend_from_slice(&1u16.to_be_bytes()); // ARPHRD_ETHER
    f.extend_from_slice(&(addr.len() as u16).to_be_bytes());
    let mut a = [0u8; 8];
    a[..addr.len()].copy_from_slice(addr);
    f.extend_from_slice(&a);
    f.extend_from_slice(&protocol.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn sll2(packet_type: u8, hatype: u16, addr: &[u8], protocol: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = protocol.to_be_bytes().to_vec();
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&7u32.to_be_bytes());
    f.extend_from_slice(&hatype.to_be_bytes());
    f.push(packet_type);
    f.push(addr.len() as u8);
    let mut a = [0u8; 8];
    a[..addr.len()].copy_from_slice(addr);
    f.extend_from_slice(&a);
    f.extend_from_slice(payload);
    f
}

fn ethernet_of(f: &Frame<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    write_ethernet(f, OURS, &mut out);
    out
}

#[test]
fn numbers_and_names() {
    for l in LinkType::ALL {
        assert_eq!(LinkType::from_number(l.number()), Some(l));
    }
    assert_eq!(LinkType::from_number(105), None);
}

#[cfg(feature = "capture")]
#[test]
fn unsupported_link_types_are_named_as_tcpdump_names_them() {
    assert_eq!(describe(276), "LINUX_SLL2 (276)");
    assert_eq!(describe(105), "IEEE802_11 (105)");
    assert_eq!(describe(60_000), "60000");
}

#[test]
fn pcap_link_field_carries_the_fcs_length_in_16_bit_words() {
    // F bit (26) set, FCS length 2 words: Ethernet with a 4-byte FCS.
    let f = LinkField::from_pcap(0x2400_0001);
    assert_eq!((f.link, f.fcs_len), (1, 4));
    // The length bits without the F bit say nothing.
    assert_eq!(LinkField::from_pcap(0x2000_0001).fcs_len, 0);
    assert_eq!(
        LinkField::from_pcap(276),
        LinkField {
            link: 276,
            fcs_len: 0
        }
    );
}

#[test]
fn ethernet_passes_through() {
    let mut data = vec![0xff; 6];
    data.extend_from_slice(&KERNEL);
    data.extend_from_slice(&[0x08, 0x06]);
    data.extend_from_slice(&[1; 28]);
    let f = parse(LinkType::Ethernet, &data).unwrap();
    assert_eq!(f.protocol, ETHERTYPE_ARP);
    assert_eq!(f.source, Some(MacAddr(KERNEL)));
    assert_eq!(f.destination, Some(MacAddr::BROADCAST));
    assert_eq!(f.direction(), None);
    assert_eq!(f.ip_packet(), None);
    assert_eq!(ethernet_of(&f), data);
    assert!(matches!(
        parse(LinkType::Ethernet, &data[..13]),
        Err(LinkError::Truncated { need: 14, .. })
    ));
}

#[test]
fn linux_sll_with_a_mac_keeps_it_and_says_the_direction() {
    let p = ipv4();
    let data = sll(0, &KERNEL, ETHERTYPE_IPV4, &p);
    let f = parse(LinkType::LinuxSll, &data).unwrap();
    assert_eq!(f.packet_type, Some(PacketType::Host));
    assert_eq!(f.direction(), Some(Direction::In));
    assert_eq!(f.source, Some(MacAddr(KERNEL)));
    assert_eq!(f.ip_packet(), Some(&p[..]));
    let eth = ethernet_of(&f);
    assert_eq!(&eth[0..6], &OURS.0);
    assert_eq!(&eth[6..12], &KERNEL);
    assert_eq!(&eth[12..14], &[0x08, 0x00]);
    assert_eq!(&eth[14..], &p[..]);

    let out = sll(4, &OURS.0, ETHERTYPE_IPV4, &p);
    let f = parse(LinkType::LinuxSll, &out).unwrap();
    assert_eq!(f.direction(), Some(Direction::Out));

    // A broadcast ARP request keeps its EtherType and goes to the broadcast address.
    let arp = sll(1, &KERNEL, ETHERTYPE_ARP, &[0; 28]);
    let f = parse(LinkType::LinuxSll, &arp).unwrap();
    let eth = ethernet_of(&f);
    assert_eq!(&eth[0..6], &[0xff; 6]);
    assert_eq!(&eth[12..14], &[0x08, 0x06]);
    assert_eq!(f.ip_packet(), None);
    assert!(matches!(
        parse(LinkType::LinuxSll, &arp[..15]),
        Err(LinkError::Truncated { need: 16, .. })
    ));
}

#[test]
fn linux_sll2_from_a_tun_has_no_address() {
    // ARPHRD_NONE (0xfffe), no link-layer address: what `tcpdump -i any` gives for a TUN.
    let p = ipv6();
    let data = sll2(4, 0xfffe, &[], ETHERTYPE_IPV6, &p);
    let f = parse(LinkType::LinuxSll2, &data).unwrap();
    assert_eq!(f.interface, Some(7));
    assert_eq!(f.hardware, Some(0xfffe));
    assert_eq!(f.direction(), Some(Direction::Out));
    assert_eq!(f.source, None);
    assert_eq!(f.ip_packet(), Some(&p[..]));
    let eth = ethernet_of(&f);
    assert_eq!(&eth[6..12], &PEER_MAC.0);
    assert_eq!(&eth[0..6], &OURS.0);
    assert_eq!(&eth[12..14], &[0x86, 0xdd]);
    assert!(matches!(
        parse(LinkType::LinuxSll2, &data[..19]),
        Err(LinkError::Truncated { need: 20, .. })
    ));
    // An address length past 8 reads 8 bytes, no more.
    let mut long = sll2(0, 1, &KERNEL, ETHERTYPE_IPV6, &p);
    long[11] = 200;
    assert_eq!(parse(LinkType::LinuxSll2, &long).unwrap().address.len(), 8);
}

#[test]
fn raw_tells_the_version() {
    let v4 = ipv4();
    let f = parse(LinkType::Raw, &v4).unwrap();
    assert_eq!(f.protocol, ETHERTYPE_IPV4);
    assert_eq!(
        f.ip_source(),
        Some(core::net::Ipv4Addr::new(10, 77, 0, 1).into())
    );
    let v6 = ipv6();
    let f = parse(LinkType::Raw, &v6).unwrap();
    assert_eq!(f.protocol, ETHERTYPE_IPV6);
    assert!(matches!(
        parse(LinkType::Raw, &[0x55, 0]),
        Err(LinkError::NotIp { version: 5, .. })
    ));
    assert!(matches!(
        parse(LinkType::Raw, &[]),
        Err(LinkError::Truncated { need: 1, .. })
    ));
    // IPV4 and IPV6 take the link type's word for it.
    let (v4, v6) = (ipv4(), ipv6());
    assert_eq!(parse(LinkType::Ipv4, &v4).unwrap().protocol, ETHERTYPE_IPV4);
    assert_eq!(parse(LinkType::Ipv6, &v6).unwrap().protocol, ETHERTYPE_IPV6);
    assert_eq!(parse(LinkType::Ipv6, &[]).unwrap().payload, &[] as &[u8]);
}

#[test]
fn null_in_either_byte_order_and_loop_in_network_order() {
    let p = ipv6();
    // AF_INET6 as Linux (10), NetBSD/OpenBSD (24), FreeBSD (28) and macOS (30) number it.
    for af in [10u32, 24, 28, 30] {
        for header in [af.to_le_bytes(), af.to_be_bytes()] {
            let mut data = header.to_vec();
            data.extend_from_slice(&p);
            let f = parse(LinkType::Null, &data).unwrap();
            assert_eq!((f.protocol, f.family), (ETHERTYPE_IPV6, Some(af)));
            assert_eq!(f.payload, &p[..]);
        }
        let mut data = af.to_be_bytes().to_vec();
        data.extend_from_slice(&p);
        assert_eq!(
            parse(LinkType::Loop, &data).unwrap().protocol,
            ETHERTYPE_IPV6
        );
    }
    let mut data = 2u32.to_le_bytes().to_vec();
    data.extend_from_slice(&ipv4());
    assert_eq!(
        parse(LinkType::Null, &data).unwrap().protocol,
        ETHERTYPE_IPV4
    );
    // LOOP is network order only: 2 little-endian is not AF_INET.
    assert!(matches!(
        parse(LinkType::Loop, &data),
        Err(LinkError::UnknownFamily { .. })
    ));
    assert!(matches!(
        parse(LinkType::Null, &[7, 0, 0, 0]),
        Err(LinkError::UnknownFamily { family: 7, .. })
    ));
    assert!(matches!(
        parse(LinkType::Null, &[2, 0]),
        Err(LinkError::Truncated { need: 4, .. })
    ));
}

#[test]
fn synthesised_destinations() {
    // IPv4 limited broadcast, an IPv4 group and an IPv6 group.
    let b = ipv4_to([255; 4]);
    let f = parse(LinkType::Ipv4, &b).unwrap();
    assert_eq!(&ethernet_of(&f)[0..6], &[0xff; 6]);
    let g = ipv4_to([224, 129, 2, 3]);
    let f = parse(LinkType::Ipv4, &g).unwrap();
    assert_eq!(&ethernet_of(&f)[0..6], &[0x01, 0x00, 0x5e, 0x01, 2, 3]);
    let mut group = [0u8; 16];
    group[0] = 0xff;
    group[1] = 0x02;
    group[11] = 1;
    group[12..].copy_from_slice(&[0xff, 0x00, 0x00, 0x02]);
    let g6 = ipv6_to(group);
    let f = parse(LinkType::Ipv6, &g6).unwrap();
    assert_eq!(&ethernet_of(&f)[0..6], &[0x33, 0x33, 0xff, 0, 0, 2]);
}

#[test]
fn crc32_matches_the_standard_check_value() {
    // The check value of CRC-32/ISO-HDLC.
    assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
}

#[test]
fn nothing_panics_on_short_input() {
    for l in LinkType::ALL {
        for n in 0..24 {
            let data = vec![0x60; n];
            if let Ok(f) = parse(l, &data) {
                let _ = ethernet_of(&f);
                let _ = (f.ip_source(), f.ip_destination(), f.direction());
            }
        }
    }
}

#[test]
fn random_bytes_of_every_link_type_never_panic() {
    let mut rng = crate::rng::Rng::new(12, "link-fuzz");
    let mut out = Vec::new();
    for i in 0..60_000u64 {
        let link = LinkType::ALL[(i % 8) as usize];
        let mut data = vec![0u8; rng.below(90) as usize];
        rng.fill(&mut data);
        // Often a plausible start, so that the parsers get past their first checks.
        if let (Some(b), true) = (data.first_mut(), i % 3 == 0) {
            *b = 0x45;
        }
        if let Ok(f) = parse(link, &data) {
            write_ethernet(&f, OURS, &mut out);
            assert_eq!(out.len(), ETHERNET_LEN + f.payload.len());
            let _ = (
                f.ip_packet(),
                f.ip_source(),
                f.ip_destination(),
                f.direction(),
            );
        }
        let _ = crate::decode::summary_of(link, &data).to_string();
        let _ = crate::decode::verbose_of(link, &data, 2).to_string();
    }
}
