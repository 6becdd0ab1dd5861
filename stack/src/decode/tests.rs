//! Byte-vector tests of the decoder: summaries and fields of built, cut and corrupted frames.

// A test module: its parent declares it under #[cfg(test)], so it may unwrap.

use super::*;
use etherparse::{Icmpv4Type, PacketBuilder, TcpOptionElement};

const A: [u8; 6] = [2, 0, 0, 0, 0, 1];
const B: [u8; 6] = [2, 0, 0, 0, 0, 2];

fn build(b: etherparse::PacketBuilderStep<etherparse::TcpHeader>, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    b.write(&mut out, payload).unwrap();
    out
}

fn tcp_frame() -> Vec<u8> {
    let b = PacketBuilder::ethernet2(A, B)
        .ipv4([10, 77, 0, 1], [10, 77, 0, 2], 64)
        .tcp(43736, 7, 1000, 64240)
        .syn()
        .options(&[
            TcpOptionElement::MaximumSegmentSize(1460),
            TcpOptionElement::SelectiveAcknowledgementPermitted,
            TcpOptionElement::Timestamp(5, 0),
            TcpOptionElement::Noop,
            TcpOptionElement::WindowScale(7),
        ])
        .unwrap();
    build(b, b"")
}

#[test]
fn tcp_syn_line() {
    assert_eq!(
        summary(&tcp_frame()).to_string(),
        "IP 10.77.0.1.43736 > 10.77.0.2.7: Flags [S], seq 1000, win 64240, \
         options [mss 1460,sackOK,TS val 5 ecr 0,nop,wscale 7], length 0"
    );
}

#[test]
fn tcp_data_with_ack_and_bad_checksum() {
    let b = PacketBuilder::ethernet2(A, B)
        .ipv4([10, 77, 0, 1], [10, 77, 0, 2], 64)
        .tcp(1, 2, 4_294_967_290, 100)
        .ack(77)
        .psh();
    let mut f = build(b, b"hello world");
    assert_eq!(
        summary(&f).to_string(),
        "IP 10.77.0.1.1 > 10.77.0.2.2: Flags [P.], seq 4294967290:5, ack 77, win 100, \
         length 11"
    );
    let last = f.len() - 1;
    f[last] ^= 1;
    assert!(summary(&f).to_string().ends_with("[bad TCP checksum]"));
    let fs = fields(&f);
    let c = fs.iter().find(|x| x.name == "tcp.checksum").unwrap();
    assert!(c.is_bad_checksum(), "{c:?}");
    let ip = fs.iter().find(|x| x.name == "ipv4.checksum").unwrap();
    assert!(!ip.is_bad_checksum());
}

#[test]
fn dhcp_and_dns_lines() {
    use crate::dhcp::{MessageType, Op, Repr};
    let mut r = Repr::new(Op::Request, MessageType::Request, 0x1234_5678, MacAddr(A));
    r.requested_addr = Some([10, 77, 0, 50].into());
    r.server_id = Some([10, 77, 0, 1].into());
    let mut f = Vec::new();
    PacketBuilder::ethernet2(A, [0xff; 6])
        .ipv4([0, 0, 0, 0], [255, 255, 255, 255], 64)
        .udp(68, 67)
        .write(&mut f, &r.to_bytes())
        .unwrap();
    assert_eq!(
        summary(&f).to_string(),
        format!(
            "IP 0.0.0.0.68 > 255.255.255.255.67: DHCP Request, xid 0x12345678, client {}, \
             requested 10.77.0.50, server 10.77.0.1, UDP, length {}",
            MacAddr(A),
            r.to_bytes().len()
        )
    );

    // The DNS summary needs the DNS parser of the `services` feature.
    #[cfg(feature = "services")]
    {
        let mut q = simple_dns::Packet::new_query(0x0abc);
        q.questions.push(simple_dns::Question::new(
            simple_dns::Name::new_unchecked("tapstack.test"),
            simple_dns::TYPE::A.into(),
            simple_dns::CLASS::IN.into(),
            false,
        ));
        let query = q.build_bytes_vec().unwrap();
        let mut g = Vec::new();
        PacketBuilder::ethernet2(A, B)
            .ipv4([10, 77, 0, 1], [10, 77, 0, 2], 64)
            .udp(5353, 53)
            .write(&mut g, &query)
            .unwrap();
        assert_eq!(
            summary(&g).to_string(),
            format!(
                "IP 10.77.0.1.5353 > 10.77.0.2.53: DNS 0x0abc A? tapstack.test, UDP, length {}",
                query.len()
            )
        );
    }
}

#[test]
fn udp_and_icmp_lines() {
    let mut f = Vec::new();
    PacketBuilder::ethernet2(A, B)
        .ipv4([10, 77, 0, 1], [10, 77, 0, 2], 64)
        .udp(5000, 7)
        .write(&mut f, b"hello\n")
        .unwrap();
    assert_eq!(
        summary(&f).to_string(),
        "IP 10.77.0.1.5000 > 10.77.0.2.7: UDP, length 6"
    );
    let mut g = Vec::new();
    PacketBuilder::ethernet2(A, B)
        .ipv4([10, 77, 0, 1], [10, 77, 0, 2], 64)
        .icmpv4_echo_request(9, 3)
        .write(&mut g, &[0; 56])
        .unwrap();
    assert_eq!(
        summary(&g).to_string(),
        "IP 10.77.0.1 > 10.77.0.2: ICMP echo request, id 9, seq 3, length 64"
    );
    // Port unreachable quoting the UDP datagram above.
    let quoted = &f[14..];
    let mut h = Vec::new();
    PacketBuilder::ethernet2(B, A)
        .ipv4([10, 77, 0, 2], [10, 77, 0, 1], 64)
        .icmpv4(Icmpv4Type::DestinationUnreachable(
            etherparse::icmpv4::DestUnreachableHeader::Port,
        ))
        .write(&mut h, &quoted[..28])
        .unwrap();
    assert_eq!(
        summary(&h).to_string(),
        "IP 10.77.0.2 > 10.77.0.1: ICMP 10.77.0.2 udp port 7 unreachable, length 36"
    );
}

fn arp(op: u16, sha: [u8; 6], spa: [u8; 4], tha: [u8; 6], tpa: [u8; 4]) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&sha);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4]);
    f.extend_from_slice(&op.to_be_bytes());
    f.extend_from_slice(&sha);
    f.extend_from_slice(&spa);
    f.extend_from_slice(&tha);
    f.extend_from_slice(&tpa);
    f.resize(60, 0);
    f
}

#[test]
fn arp_lines() {
    let ip1 = [10, 77, 0, 1];
    let ip2 = [10, 77, 0, 2];
    let zero = [0; 6];
    assert_eq!(
        summary(&arp(1, A, ip1, zero, ip2)).to_string(),
        "ARP, Request who-has 10.77.0.2 tell 10.77.0.1, length 28"
    );
    assert_eq!(
        summary(&arp(2, B, ip2, A, ip1)).to_string(),
        "ARP, Reply 10.77.0.2 is-at 02:00:00:00:00:02 to 10.77.0.1 (02:00:00:00:00:01), \
         length 28"
    );
    assert_eq!(
        summary(&arp(1, B, ip2, zero, ip2)).to_string(),
        "ARP, Announcement 10.77.0.2 is-at 02:00:00:00:00:02, length 28"
    );
    assert_eq!(
        summary(&arp(1, B, [0; 4], zero, ip2)).to_string(),
        "ARP, Probe who-has 10.77.0.2 from 02:00:00:00:00:02, length 28"
    );
    let request = arp(1, A, ip1, zero, ip2);
    let fs = fields(&request);
    let pad = fs.iter().find(|x| x.name == "eth.padding").unwrap();
    assert_eq!(pad.value, Value::Bytes(&[0; 18]));
    for f in &fs {
        assert!(FIELD_NAMES.contains(&f.name), "{}", f.name);
    }
}

#[test]
fn verbose_groups_by_layer() {
    let v = verbose(&tcp_frame(), 2).to_string();
    let lines: Vec<&str> = v.lines().collect();
    assert_eq!(lines.len(), 4, "{v}");
    assert_eq!(
        lines[0],
        "  eth: dst=02:00:00:00:00:02 src=02:00:00:00:00:01 type=0x0800 (IPv4)"
    );
    assert!(lines[1].contains("ttl=64 protocol=6 (TCP) checksum=0x2620 (correct)"));
    assert!(lines[2].starts_with("  tcp: src_port=43736 dst_port=7 seq=1000 ack=0"));
    assert!(
        lines[2].ends_with("options=mss,sackOK,TS,nop,wscale mss=1460 ts_val=5 ts_ecr=0 wscale=7")
    );
    assert_eq!(lines[3], "  payload: data=(0 bytes)");
    // Every name fields() produces is a known one (masks are checked against the list).
    for f in fields(&tcp_frame()) {
        assert!(FIELD_NAMES.contains(&f.name), "{}", f.name);
    }
}

#[test]
fn odd_frames_decode_without_panic() {
    assert_eq!(
        summary(&[1, 2, 3]).to_string(),
        "truncated Ethernet frame (3 bytes, header needs 14)"
    );
    let mut lldp = vec![0x01, 0x80, 0xc2, 0, 0, 0x0e];
    lldp.extend_from_slice(&A);
    lldp.extend_from_slice(&[0x88, 0xcc]);
    lldp.resize(60, 0);
    assert_eq!(
        summary(&lldp).to_string(),
        "02:00:00:00:00:01 > 01:80:c2:00:00:0e, ethertype LLDP (0x88cc), length 60"
    );
    // A frame cut by a snaplen shows the lengths its headers declare.
    let mut ping = Vec::new();
    PacketBuilder::ethernet2(A, B)
        .ipv4([10, 77, 0, 1], [10, 77, 0, 2], 64)
        .icmpv4_echo_request(9, 3)
        .write(&mut ping, &[0; 56])
        .unwrap();
    assert_eq!(
        summary(&ping[..60]).to_string(),
        "IP 10.77.0.1 > 10.77.0.2: ICMP echo request, id 9, seq 3, length 64"
    );
    // Every prefix of a TCP frame, and every one-byte corruption of it.
    let f = tcp_frame();
    for n in 0..=f.len() {
        let _ = summary(&f[..n]).to_string();
        let _ = verbose(&f[..n], 0).to_string();
    }
    for i in 0..f.len() {
        let mut g = f.clone();
        g[i] ^= 0xa5;
        let _ = summary(&g).to_string();
        let _ = verbose(&g, 0).to_string();
    }
}

#[test]
fn random_frames_decode_without_panic() {
    // xorshift64: frames with a plausible start (an EtherType we decode, IPv4/IPv6
    // version nibbles, a transport protocol) and random bytes after.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let types: [[u8; 2]; 5] = [[8, 0], [8, 6], [0x86, 0xdd], [0x81, 0], [0x88, 0xe5]];
    for _ in 0..20_000 {
        let len = (next() % 200) as usize;
        let mut f: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if f.len() > 23 {
            let t = types[(next() % 5) as usize];
            f[12..14].copy_from_slice(&t);
            f[14] = if t == [0x86, 0xdd] { 0x60 } else { 0x45 };
            f[23] = [1, 6, 17, 58, 2][(next() % 5) as usize];
        }
        let _ = summary(&f).to_string();
        let _ = verbose(&f, 2).to_string();
        for field in fields(&f) {
            assert!(FIELD_NAMES.contains(&field.name), "{}", field.name);
        }
    }
}

#[test]
fn first_fragment_shows_ports_and_later_ones_do_not() {
    let mut f = Vec::new();
    PacketBuilder::ethernet2(A, B)
        .ipv4([10, 77, 0, 1], [10, 77, 0, 2], 64)
        .udp(5000, 7)
        .write(&mut f, &[7; 100])
        .unwrap();
    // Set MF on the datagram: a first fragment.
    f[20] |= 0x20;
    let s = summary(&f).to_string();
    assert!(s.starts_with("IP 10.77.0.1.5000 > 10.77.0.2.7: UDP"), "{s}");
    assert!(s.contains("(frag 0x"), "{s}");
    // Offset 1480 bytes: a later fragment.
    f[20] = 0;
    f[21] = 185;
    let s = summary(&f).to_string();
    assert!(s.ends_with("@1480)") || s.contains("@1480)"), "{s}");
    assert!(!s.contains("5000"), "{s}");
}

/// `frame` (Ethernet) as a Linux cooked v1 frame of packet type `kind`.
fn cooked(frame: &[u8], kind: u16) -> Vec<u8> {
    let mut f = kind.to_be_bytes().to_vec();
    f.extend_from_slice(&[0, 1, 0, 6]);
    f.extend_from_slice(&frame[6..12]);
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&frame[12..]);
    f
}

#[test]
fn other_link_types_decode_like_ethernet_from_the_network_layer_up() {
    let eth = tcp_frame();
    let line = summary(&eth).to_string();
    let sll = cooked(&eth, 4);
    assert_eq!(summary_of(LinkType::LinuxSll, &sll).to_string(), line);
    assert_eq!(summary_of(LinkType::Raw, &eth[14..]).to_string(), line);
    let mut null = 2u32.to_le_bytes().to_vec();
    null.extend_from_slice(&eth[14..]);
    assert_eq!(summary_of(LinkType::Null, &null).to_string(), line);
    let v = verbose_of(LinkType::LinuxSll, &sll, 0).to_string();
    assert!(
        v.starts_with(
            "sll: pkttype=4 (Out) hatype=1 addr=02:00:00:00:00:01 protocol=0x0800 (IPv4)\n"
        ),
        "{v}"
    );
    let v = verbose_of(LinkType::Null, &null, 0).to_string();
    assert!(v.starts_with("loop: family=2 (AF_INET)\nipv4: "), "{v}");
    for (link, data) in [(LinkType::LinuxSll, &sll), (LinkType::Null, &null)] {
        for f in fields_of(link, data) {
            assert!(FIELD_NAMES.contains(&f.name), "{}", f.name);
        }
    }
    // Non-IP payloads name their EtherType; bad link headers say what is wrong.
    let mut lldp = cooked(&eth, 0);
    lldp[14..16].copy_from_slice(&[0x88, 0xcc]);
    let line = summary_of(LinkType::LinuxSll, &lldp).to_string();
    assert_eq!(line, "ethertype LLDP (0x88cc), length 76");
    assert_eq!(
        summary_of(LinkType::Loop, &[0, 0, 0, 7, 0x45]).to_string(),
        "LOOP frame of unknown address family 7"
    );
    assert_eq!(
        summary_of(LinkType::LinuxSll2, &[0; 5]).to_string(),
        "truncated LINUX_SLL2 frame (5 bytes, header needs 20)"
    );
    let v = verbose_of(LinkType::Raw, &[0x55], 0).to_string();
    assert!(
        v.contains("error: at=link: RAW frame is not IP (version 5)"),
        "{v}"
    );
}
