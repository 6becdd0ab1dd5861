use super::*;

/// Ethernet + IPv4 + TCP with `flags`, from 10.0.0.1:1234 to 10.0.0.2:80.
fn tcp4(flags: u8) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 20 + 20];
    f[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[14 + 9] = 6;
    f[14 + 12..14 + 16].copy_from_slice(&[10, 0, 0, 1]);
    f[14 + 16..14 + 20].copy_from_slice(&[10, 0, 0, 2]);
    f[34..36].copy_from_slice(&1234u16.to_be_bytes());
    f[36..38].copy_from_slice(&80u16.to_be_bytes());
    f[34 + 12] = 0x50;
    f[34 + 13] = flags;
    f
}

fn yes(expr: &str, frame: &[u8]) -> bool {
    Filter::parse(expr)
        .unwrap_or_else(|e| panic!("{e}"))
        .matches(frame)
}

#[test]
fn primitives_over_one_segment() {
    let syn = tcp4(0x02);
    for e in [
        "tcp",
        "ip",
        "host 10.0.0.1",
        "src host 10.0.0.1",
        "dst 10.0.0.2",
        "net 10.0.0.0/8",
        "net 10.0.0.0 mask 255.0.0.0",
        "port 80",
        "tcp dst port 80",
        "src port 1234",
        "portrange 79-81",
        "ether src 02:00:00:00:00:01",
        "ether host 02:00:00:00:00:02",
        "tcp[tcpflags] & tcp-syn != 0",
        "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn",
        "tcp[13] = 2",
        "tcp syn and not tcp ack",
        "ip[9] == 6 && len > 50",
        "not udp and (tcp or arp)",
        "host 10.0.0.9 or 10.0.0.1",
        "ip proto tcp",
        "src or dst host 10.0.0.2",
        "ip host 10.0.0.1",
        "greater 54",
    ] {
        assert!(yes(e, &syn), "{e}");
    }
    for e in [
        "udp",
        "ip6",
        "arp",
        "icmp",
        "host 10.0.0.3",
        "src host 10.0.0.2",
        "port 81",
        "udp port 80",
        "tcp ack",
        "tcp[tcpflags] & tcp-ack != 0",
        "vlan",
        "src and dst host 10.0.0.1",
        "ether broadcast",
        "net 11.0.0.0/8",
        "tcp[200] = 1",
        "not tcp[200] = 1",
        "less 53",
    ] {
        assert!(!yes(e, &syn), "{e}");
    }
}

#[test]
fn vlan_shifts_the_terms_after_it() {
    let mut tagged = tcp4(0x12);
    tagged.splice(12..12, [0x81, 0x00, 0x00, 0x2a]);
    assert!(yes("vlan 42 and tcp port 80", &tagged));
    assert!(yes("vlan and host 10.0.0.2", &tagged));
    assert!(!yes("vlan 41", &tagged));
    assert!(
        !yes("tcp", &tagged),
        "without 'vlan' the tag's EtherType is seen"
    );
}

#[test]
fn mistakes_are_one_line_with_a_position() {
    for (expr, at, says) in [
        ("host", 4, "expected an address after 'host'"),
        ("tcp and", 7, "expected a filter term"),
        ("port 99999", 5, "'99999' is not a port number"),
        ("(tcp or udp", 11, "expected ')'"),
        ("host example.com", 5, "host names are not looked up"),
        ("tcp[13:3] = 2", 7, "must be 1, 2 or 4"),
        ("tcp $", 4, "unexpected character '$'"),
        ("ip6 host 10.0.0.1", 9, "not an address of that protocol"),
        ("tcp tcp", 4, "expected 'and', 'or' or the end"),
    ] {
        let e = Filter::parse(expr).expect_err(expr);
        assert_eq!(e.at, at, "{expr}: {e}");
        assert!(e.to_string().contains(says), "{expr}: {e}");
        assert!(!e.to_string().contains('\n'));
    }
}
