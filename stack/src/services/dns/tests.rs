//! DNS server tests: hand-built queries against the pure responder, the zone-file parser, and two
//! interfaces on the in-memory wire talking over UDP and TCP.

// A test module: its parent declares it under #[cfg(test)], so it may unwrap.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};
use core::time::Duration;

use simple_dns::rdata::RData;
use simple_dns::{Packet, PacketFlag};

use super::*;
use crate::device::memory::{exchange, Endpoint, Pace, Served, Stepper, Wire};
use crate::time::earliest;
use crate::{Config, MacAddr};

const ZONE: &str = "\
$ORIGIN tapstack.test.
$TTL 600
; mail and aliases
@        IN MX 10 mail
mail     3600 IN A 10.77.0.25
www      CNAME @
alias    IN 60 CNAME www.tapstack.test.
outside  CNAME example.com.
loop1    CNAME loop2
loop2    CNAME loop1
text     TXT \"hello world\" \"second; not a comment\" bare
         A 10.77.0.30
a.b      A 10.77.0.31
v6       AAAA 2001:db8::1
25.0.77.10.in-addr.arpa. PTR mail
";

fn catalog() -> Catalog {
    let host = HostIdentity {
        name: Name::from_text("tapstack.test").unwrap(),
        ipv4: Some("10.77.0.2/24".parse().unwrap()),
        ipv6: vec!["fd00::2/64".parse().unwrap()],
        ttl: 300,
    };
    let mut c = Catalog::for_host(&host);
    c.load_master(ZONE).unwrap();
    c
}

const RD_FLAG: u16 = 0x0100;

/// A query as dig sends it: header, one question of class IN.
fn query(id: u16, flags: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut q = Vec::new();
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&flags.to_be_bytes());
    q.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    for l in name.split('.').filter(|l| !l.is_empty()) {
        q.push(l.len() as u8);
        q.extend_from_slice(l.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    q
}

/// Appends an OPT record (RFC 6891 6.1.2) and counts it.
fn with_opt(mut q: Vec<u8>, payload: u16, version: u8) -> Vec<u8> {
    q[11] += 1;
    q.extend_from_slice(&[0, 0, 41]);
    q.extend_from_slice(&payload.to_be_bytes());
    q.extend_from_slice(&[0, version, 0, 0, 0, 0]);
    q
}

fn ask(q: &[u8], t: Transport) -> Option<Reply> {
    respond(q, t, &catalog(), &Limits::default())
}

fn udp(q: &[u8]) -> Vec<u8> {
    ask(q, Transport::Udp).expect("a reply").bytes
}

fn parse(bytes: &[u8]) -> Packet<'_> {
    Packet::parse(bytes).expect("a well-formed reply")
}

fn flags(bytes: &[u8]) -> u16 {
    u16::from_be_bytes([bytes[2], bytes[3]])
}

fn rcode(bytes: &[u8]) -> u16 {
    flags(bytes) & 0xf
}

fn names(rrs: &[simple_dns::ResourceRecord<'_>]) -> Vec<String> {
    rrs.iter().map(|r| r.name.to_string()).collect()
}

// dig +norec... tapstack.test A, with EDNS 1232: the bytes dig puts on the wire (cookie left out).
const DIG_A: [u8; 42] = [
    0x12, 0x34, 0x01, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x08, b't', b'a', b'p',
    b's', b't', b'a', b'c', b'k', 0x04, b't', b'e', b's', b't', 0x00, 0x00, 0x01, 0x00, 0x01, 0x00,
    0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];

#[test]
fn a_record_from_dig_bytes() {
    let r = udp(&DIG_A);
    assert_eq!(&r[..2], &[0x12, 0x34]);
    let f = flags(&r);
    assert_ne!(f & 0x8000, 0, "QR");
    assert_ne!(f & 0x0400, 0, "AA");
    assert_ne!(f & 0x0100, 0, "RD copied");
    assert_eq!(f & 0x0080, 0, "RA clear");
    assert_eq!(f & 0x0200, 0, "TC clear");
    assert_eq!(rcode(&r), 0);
    let p = parse(&r);
    assert_eq!(p.answers.len(), 1);
    assert_eq!(
        p.answers[0].rdata,
        RData::A(simple_dns::rdata::A {
            address: u32::from(Ipv4Addr::new(10, 77, 0, 2))
        })
    );
    assert_eq!(p.answers[0].ttl, 300);
    let opt = p.opt().expect("OPT echoed");
    assert_eq!(opt.version, 0);
    assert_eq!(opt.udp_packet_size, 1232);
}

#[test]
fn rd_clear_stays_clear_and_no_opt_without_opt() {
    let r = udp(&query(7, 0, "tapstack.test", 1));
    assert_eq!(flags(&r) & RD_FLAG, 0);
    assert!(parse(&r).opt().is_none());
}

#[test]
fn case_insensitive_answer_keeps_question_case() {
    let r = udp(&query(1, RD_FLAG, "TapStack.TEST", 1));
    assert_eq!(rcode(&r), 0);
    let p = parse(&r);
    assert_eq!(names(&p.answers), ["TapStack.TEST"]);
    // The owner is written as a pointer to the question, whose bytes keep the case.
    assert!(r.windows(8).any(|w| w == b"TapStack"));
}

#[test]
fn aaaa_ptr_soa_ns() {
    let p = udp(&query(1, 0, "tapstack.test", 28));
    assert_eq!(
        parse(&p).answers[0].rdata,
        RData::AAAA(simple_dns::rdata::AAAA {
            address: u128::from("fd00::2".parse::<Ipv6Addr>().unwrap())
        })
    );
    let p = udp(&query(1, 0, "2.0.77.10.in-addr.arpa", 12));
    match &parse(&p).answers[0].rdata {
        RData::PTR(n) => assert_eq!(n.0.to_string(), "tapstack.test"),
        other => panic!("{other:?}"),
    }
    let p = udp(&query(1, 0, "25.0.77.10.in-addr.arpa", 12));
    match &parse(&p).answers[0].rdata {
        RData::PTR(n) => assert_eq!(n.0.to_string(), "mail.tapstack.test"),
        other => panic!("{other:?}"),
    }
    let p = udp(&query(1, 0, "0.77.10.in-addr.arpa", 6));
    let pk = parse(&p);
    assert!(matches!(pk.answers[0].rdata, RData::SOA(_)));
    let p = udp(&query(1, 0, "tapstack.test", 2));
    let pk = parse(&p);
    match &pk.answers[0].rdata {
        RData::NS(n) => assert_eq!(n.0.to_string(), "tapstack.test"),
        other => panic!("{other:?}"),
    }
    // The name server's addresses come as additional data.
    assert_eq!(pk.additional_records.len(), 2);
}

#[test]
fn mx_with_additional_address() {
    let p = udp(&query(1, 0, "tapstack.test", 15));
    let pk = parse(&p);
    match &pk.answers[0].rdata {
        RData::MX(mx) => {
            assert_eq!(mx.preference, 10);
            assert_eq!(mx.exchange.to_string(), "mail.tapstack.test");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(pk.answers[0].ttl, 600, "$TTL applies");
    assert_eq!(names(&pk.additional_records), ["mail.tapstack.test"]);
    assert_eq!(pk.additional_records[0].ttl, 3600);
}

#[test]
fn txt_several_strings() {
    let p = udp(&query(1, 0, "text.tapstack.test", 16));
    let pk = parse(&p);
    match &pk.answers[0].rdata {
        RData::TXT(t) => {
            let strings: Vec<&[u8]> = t.iter_raw().map(|(k, _)| k).collect();
            assert_eq!(strings.len(), 3);
        }
        other => panic!("{other:?}"),
    }
    assert!(p.windows(11).any(|w| w == b"hello world"));
    assert!(p.windows(21).any(|w| w == b"second; not a comment"));
}

#[test]
fn cname_is_followed_in_zone() {
    let p = udp(&query(1, 0, "alias.tapstack.test", 1));
    let pk = parse(&p);
    assert_eq!(
        names(&pk.answers),
        ["alias.tapstack.test", "www.tapstack.test", "tapstack.test"]
    );
    assert!(matches!(pk.answers[2].rdata, RData::A(_)));
    // Asking for the CNAME itself does not follow it.
    let pk_bytes = udp(&query(1, 0, "alias.tapstack.test", 5));
    assert_eq!(parse(&pk_bytes).answers.len(), 1);
    // Out of zone: the CNAME alone.
    let p = udp(&query(1, 0, "outside.tapstack.test", 1));
    assert_eq!(rcode(&p), 0);
    assert_eq!(parse(&p).answers.len(), 1);
}

#[test]
fn cname_loop_is_bounded() {
    let p = udp(&query(1, 0, "loop1.tapstack.test", 1));
    assert_eq!(rcode(&p), 0);
    let n = parse(&p).answers.len();
    assert!((2..=MAX_CNAME_CHAIN + 1).contains(&n), "{n} answers");
}

#[test]
fn nxdomain_and_nodata_carry_soa() {
    let p = udp(&query(1, 0, "nope.tapstack.test", 1));
    assert_eq!(rcode(&p), 3);
    assert_ne!(flags(&p) & 0x0400, 0, "AA");
    let pk = parse(&p);
    assert!(pk.answers.is_empty());
    assert_eq!(names(&pk.name_servers), ["tapstack.test"]);
    assert!(matches!(pk.name_servers[0].rdata, RData::SOA(_)));
    // RFC 2308 3: min(SOA TTL 300, MINIMUM 300).
    assert_eq!(pk.name_servers[0].ttl, 300);

    // NODATA: the name exists without the type.
    let p = udp(&query(1, 0, "tapstack.test", 16));
    assert_eq!(rcode(&p), 0);
    let pk = parse(&p);
    assert!(pk.answers.is_empty());
    assert!(matches!(pk.name_servers[0].rdata, RData::SOA(_)));

    // An empty non-terminal exists too.
    let p = udp(&query(1, 0, "b.tapstack.test", 1));
    assert_eq!(rcode(&p), 0);
    assert_eq!(parse(&p).name_servers.len(), 1);

    // NXDOMAIN in the reverse zone uses the reverse zone's SOA.
    let p = udp(&query(1, 0, "9.0.77.10.in-addr.arpa", 12));
    assert_eq!(rcode(&p), 3);
    assert_eq!(names(&parse(&p).name_servers), ["0.77.10.in-addr.arpa"]);
}

#[test]
fn soa_ttl_capped_by_minimum_in_negative_answers() {
    let mut c = catalog();
    c.load_master("$ORIGIN neg.test.\n@ 7200 SOA ns hm 1 2 3 4 60\n")
        .unwrap();
    let r = respond(
        &query(1, 0, "x.neg.test", 1),
        Transport::Udp,
        &c,
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(rcode(&r.bytes), 3);
    assert_eq!(parse(&r.bytes).name_servers[0].ttl, 60);
}

#[test]
fn refused_outside_zones_other_classes_and_transfers() {
    let p = udp(&query(1, 0, "example.com", 1));
    assert_eq!(rcode(&p), 5);
    assert_eq!(flags(&p) & 0x0400, 0, "not authoritative");
    let mut ch = query(1, 0, "tapstack.test", 1);
    let n = ch.len();
    ch[n - 1] = 3; // class CH
    assert_eq!(rcode(&udp(&ch)), 5);
    assert_eq!(rcode(&udp(&query(1, 0, "tapstack.test", 252))), 5, "AXFR");
}

#[test]
fn any_gets_one_rrset() {
    let p = udp(&query(1, 0, "tapstack.test", 255));
    assert_eq!(rcode(&p), 0);
    let pk = parse(&p);
    assert!(!pk.answers.is_empty());
    let t = pk.answers[0].rdata.type_code();
    assert!(pk.answers.iter().all(|r| r.rdata.type_code() == t));
}

#[test]
fn notimp_for_other_opcodes() {
    for opcode in [1u16, 2, 4, 5, 15] {
        let q = query(9, opcode << 11 | RD_FLAG, "tapstack.test", 1);
        let r = udp(&q);
        assert_eq!(r.len(), 12);
        assert_eq!(rcode(&r), 4);
        assert_eq!((flags(&r) >> 11) & 0xf, opcode, "opcode copied");
        assert_ne!(flags(&r) & RD_FLAG, 0);
    }
}

#[test]
fn no_reply_to_short_messages_or_responses() {
    for n in 0..12 {
        assert!(ask(&DIG_A[..n], Transport::Udp).is_none(), "{n} bytes");
    }
    let mut resp = query(1, 0, "tapstack.test", 1);
    resp[2] |= 0x80;
    assert!(ask(&resp, Transport::Udp).is_none());
}

fn assert_formerr(q: &[u8], what: &str) {
    let r = ask(q, Transport::Udp).unwrap_or_else(|| panic!("{what}: no reply"));
    assert_eq!(rcode(&r.bytes), 1, "{what}");
    assert_eq!(&r.bytes[..2], &q[..2], "{what}: id");
    assert_ne!(flags(&r.bytes) & 0x8000, 0, "{what}: QR");
}

#[test]
fn formerr_for_malformed_queries() {
    let good = query(0xbeef, 0, "tapstack.test", 1);
    // Header only, no question.
    assert_formerr(&good[..12], "header only");
    // Question cut short.
    assert_formerr(&good[..good.len() - 2], "truncated question");
    assert_formerr(&good[..20], "truncated name");
    // qdcount 0 and 2.
    let mut q = good.clone();
    q[5] = 0;
    assert_formerr(&q, "qdcount 0");
    let mut q = good.clone();
    q[5] = 2;
    assert_formerr(&q, "qdcount 2");
    // Absurd counts.
    let mut q = good.clone();
    q[4..12].copy_from_slice(&[0xff; 8]);
    assert_formerr(&q, "absurd counts");
    let mut q = good.clone();
    q[6..8].copy_from_slice(&[0xff, 0xff]);
    assert_formerr(&q, "absurd ancount");
    // A name that is a pointer to itself.
    let mut q = good[..12].to_vec();
    q.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
    assert_formerr(&q, "pointer loop");
    // Two pointers to each other.
    let mut q = good[..12].to_vec();
    q.extend_from_slice(&[0xc0, 14, 0xc0, 12, 0, 1, 0, 1]);
    assert_formerr(&q, "pointer cycle");
    // A forward pointer and one beyond the end.
    let mut q = good[..12].to_vec();
    q.extend_from_slice(&[0xc0, 18, 0, 1, 0, 1, 1, b'a', 0]);
    assert_formerr(&q, "forward pointer");
    let mut q = good[..12].to_vec();
    q.extend_from_slice(&[0xc3, 0xff, 0, 1, 0, 1]);
    assert_formerr(&q, "pointer out of range");
    // A label running past the end.
    let mut q = good[..12].to_vec();
    q.extend_from_slice(&[60, b'a', b'b']);
    assert_formerr(&q, "label past end");
    // Garbage after a valid header.
    let mut q = good[..12].to_vec();
    q.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef, 0x99]);
    assert_formerr(&q, "garbage");
    // Two OPT records.
    let q = with_opt(with_opt(good.clone(), 1232, 0), 1232, 0);
    assert_formerr(&q, "two OPTs");
}

#[test]
fn random_and_mutated_input_never_panics() {
    let valid = [
        DIG_A.to_vec(),
        query(1, 0, "text.tapstack.test", 16),
        with_opt(query(2, 0, "alias.tapstack.test", 1), 4096, 0),
    ];
    let c = catalog();
    let limits = Limits::default();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..20_000 {
        let mut msg = valid[i % valid.len()].clone();
        match next() % 4 {
            0 => {
                let len = (next() % 80) as usize;
                msg = (0..len).map(|_| next() as u8).collect();
            }
            1 => {
                let cut = (next() as usize) % (msg.len() + 1);
                msg.truncate(cut);
            }
            _ => {
                for _ in 0..(1 + next() % 4) {
                    let at = (next() as usize) % msg.len();
                    msg[at] = next() as u8;
                }
            }
        }
        for t in [Transport::Udp, Transport::Tcp] {
            if let Some(r) = respond(&msg, t, &c, &limits) {
                assert_eq!(&r.bytes[..2], &msg[..2]);
                if t == Transport::Udp {
                    assert!(r.bytes.len() <= usize::from(limits.udp_payload));
                }
            }
        }
    }
    // Still answering.
    assert_eq!(rcode(&udp(&DIG_A)), 0);
}

#[test]
fn edns_badvers() {
    let q = with_opt(query(5, 0, "tapstack.test", 1), 1232, 1);
    let r = udp(&q);
    let pk = parse(&r);
    assert!(pk.answers.is_empty());
    assert_eq!(&r[6..12], &[0, 0, 0, 0, 0, 1]);
    // Header RCODE holds the low 4 bits of 16, i.e. 0; the OPT TTL's first byte the upper bits
    // (RFC 6891 6.1.3), then version 0.
    assert_eq!(rcode(&r), 0);
    let opt = &r[r.len() - 11..];
    assert_eq!(opt, &[0, 0, 41, 0x04, 0xd0, 1, 0, 0, 0, 0, 0]);
    // The DO bit is no version: a DNSSEC-OK query is answered.
    let mut q = with_opt(query(5, 0, "tapstack.test", 1), 1232, 0);
    let n = q.len();
    q[n - 4] = 0x80;
    let r = udp(&q);
    assert_eq!(rcode(&r), 0);
    assert_eq!(parse(&r).answers.len(), 1);
    assert_eq!(r[r.len() - 6], 0, "extended RCODE 0");
}

fn big_catalog() -> Catalog {
    let mut c = catalog();
    let mut zone = String::from("$ORIGIN tapstack.test.\n");
    for i in 0..60 {
        zone.push_str(&format!("big A 10.77.1.{i}\n"));
    }
    c.load_master(&zone).unwrap();
    c
}

#[test]
fn truncation_and_edns_payload_size() {
    let c = big_catalog();
    let l = Limits::default();
    // 60 A records: 12 + 20 + 60 * 16 = 992 bytes.
    let plain = query(1, 0, "big.tapstack.test", 1);
    let r = respond(&plain, Transport::Udp, &c, &l).unwrap();
    assert!(r.truncated);
    assert!(r.bytes.len() <= 512);
    assert_ne!(flags(&r.bytes) & 0x0200, 0, "TC");
    let pk = parse(&r.bytes);
    assert!(pk.answers.is_empty());
    assert_eq!(pk.questions.len(), 1);
    // A payload under 512 counts as 512.
    let small = with_opt(plain.clone(), 100, 0);
    let r = respond(&small, Transport::Udp, &c, &l).unwrap();
    assert!(r.truncated);
    assert!(parse(&r.bytes).opt().is_some(), "OPT kept when truncated");
    // EDNS with room: the whole answer over UDP.
    let r = respond(&with_opt(plain.clone(), 4096, 0), Transport::Udp, &c, &l).unwrap();
    assert!(!r.truncated);
    assert_eq!(parse(&r.bytes).answers.len(), 60);
    // TCP: the whole answer.
    let r = respond(&plain, Transport::Tcp, &c, &l).unwrap();
    assert!(!r.truncated);
    assert_eq!(parse(&r.bytes).answers.len(), 60);
}

#[test]
fn additional_section_dropped_before_truncating() {
    let mut c = catalog();
    let mut zone = String::from("$ORIGIN tapstack.test.\n");
    for i in 0..20 {
        zone.push_str(&format!("@ MX {i} mx{i}\nmx{i} A 10.77.2.{i}\n"));
    }
    c.load_master(&zone).unwrap();
    let r = respond(
        &query(1, 0, "tapstack.test", 15),
        Transport::Udp,
        &c,
        &Limits::default(),
    )
    .unwrap();
    assert!(!r.truncated);
    let pk = parse(&r.bytes);
    assert_eq!(pk.answers.len(), 21);
    assert!(pk.additional_records.is_empty());
}

// ---- zone loading ----

#[test]
fn zone_file_good() {
    let recs = parse_master(ZONE, &Name::from_text("x.").unwrap(), 99).unwrap();
    assert_eq!(recs.len(), 12);
    let (line, mail) = &recs[1];
    assert_eq!(*line, 5);
    assert_eq!(mail.name.to_string(), "mail.tapstack.test.");
    assert_eq!(mail.ttl, 3600);
    let (_, alias) = &recs[3];
    assert_eq!(alias.ttl, 60);
    // The blank owner repeats "text".
    let (line, a) = &recs[8];
    assert_eq!(*line, 12);
    assert_eq!(a.name.to_string(), "text.tapstack.test.");
    let soa = "$ORIGIN z.test.\n@ IN SOA ns.z.test. admin ( ; multi-line\n  2024010101 ; serial\n  3600 600\n  86400 300 )\nns A 192.0.2.1\n";
    let recs = parse_master(soa, &Name::root(), 5).unwrap();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[1].0, 6);
    match &recs[0].1.data {
        Data::Soa(s) => {
            assert_eq!(s.serial, 2_024_010_101);
            assert_eq!(s.rname.to_string(), "admin.z.test.");
            assert_eq!(s.minimum, 300);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(recs[0].1.ttl, 5, "default TTL without $TTL");
}

#[test]
fn zone_file_errors_have_line_numbers() {
    let origin = Name::from_text("tapstack.test").unwrap();
    let cases: &[(&str, usize, ZoneErrorKind)] = &[
        (
            "a A 10.0.0.1\nb A 10.0.0.300\n",
            2,
            ZoneErrorKind::BadAddress,
        ),
        (
            "\n\nc SRV 0 0 1 x\n",
            3,
            ZoneErrorKind::UnknownType("SRV".into()),
        ),
        (
            "a CH A 10.0.0.1\n",
            1,
            ZoneErrorKind::UnsupportedClass("CH".into()),
        ),
        ("a A\n", 1, ZoneErrorKind::MissingData),
        ("a A 10.0.0.1 10.0.0.2\n", 1, ZoneErrorKind::TrailingData),
        ("a\n\nb TXT \"open\n", 3, ZoneErrorKind::BadString),
        (
            "@ SOA a b ( 1 2\n 3 4 5\n",
            1,
            ZoneErrorKind::BadParentheses,
        ),
        ("a A 1.2.3.4 )\n", 1, ZoneErrorKind::BadParentheses),
        (
            "$INCLUDE other\n",
            1,
            ZoneErrorKind::UnknownDirective("$INCLUDE".into()),
        ),
        ("$ORIGIN relative\n", 1, ZoneErrorKind::BadName),
        ("$TTL soon\n", 1, ZoneErrorKind::BadNumber),
        ("  A 10.0.0.1\n", 1, ZoneErrorKind::NoOwner),
        ("a MX 70000 b\n", 1, ZoneErrorKind::BadNumber),
        ("a..b A 10.0.0.1\n", 1, ZoneErrorKind::BadName),
    ];
    for (text, line, kind) in cases {
        let e = parse_master(text, &origin, 60).unwrap_err();
        assert_eq!((e.line, &e.kind), (*line, kind), "{text:?}");
    }
    // Out of zone is found when loading into a catalog.
    let mut c = catalog();
    let e = c
        .load_master("a A 10.0.0.1\nx.example. A 10.0.0.2\n")
        .unwrap_err();
    assert_eq!(e.line, 2);
    assert!(matches!(e.kind, ZoneErrorKind::OutOfZone(_)));
    assert_eq!(
        e.to_string(),
        "line 2: 'x.example.' is in no zone served here"
    );
}

#[test]
fn assignments() {
    let mut c = catalog();
    c.add_assignment("printer=10.77.0.40").unwrap();
    c.add_assignment("nas.tapstack.test=fd00::40").unwrap();
    let r = respond(
        &query(1, 0, "printer.tapstack.test", 1),
        Transport::Udp,
        &c,
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(parse(&r.bytes).answers.len(), 1);
    let r = respond(
        &query(1, 0, "40.0.77.10.in-addr.arpa", 12),
        Transport::Udp,
        &c,
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(parse(&r.bytes).answers.len(), 1, "PTR added");
    let r = respond(
        &query(1, 0, "nas.tapstack.test", 28),
        Transport::Udp,
        &c,
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(parse(&r.bytes).answers.len(), 1);
    assert_eq!(
        c.add_assignment("nothing").unwrap_err().kind,
        ZoneErrorKind::NoEquals
    );
    assert_eq!(
        c.add_assignment("x=not-an-ip").unwrap_err().kind,
        ZoneErrorKind::BadAddress
    );
    assert!(matches!(
        c.add_assignment("x.example.=10.0.0.1").unwrap_err().kind,
        ZoneErrorKind::OutOfZone(_)
    ));
}

#[test]
fn reverse_zone_follows_prefix() {
    let zone_for = |cidr: &str| {
        let c = Catalog::for_host(&HostIdentity {
            name: Name::from_text("h.test").unwrap(),
            ipv4: Some(cidr.parse().unwrap()),
            ipv6: Vec::new(),
            ttl: 60,
        });
        c.zones()[1].apex.to_string()
    };
    assert_eq!(zone_for("10.77.0.2/24"), "0.77.10.in-addr.arpa.");
    assert_eq!(zone_for("10.77.0.2/20"), "77.10.in-addr.arpa.");
    assert_eq!(zone_for("10.77.0.2/8"), "10.in-addr.arpa.");
    assert_eq!(zone_for("10.77.0.2/4"), "10.in-addr.arpa.");
    assert_eq!(zone_for("10.77.0.2/32"), "2.0.77.10.in-addr.arpa.");
}

// ---- two interfaces on the in-memory wire ----

const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);

struct Net {
    wire: Wire,
    client: Interface,
    server_iface: Interface,
    server: Server,
    now: Instant,
}

fn iface(ip: Ipv4Addr, last: u8) -> Interface {
    let mut c = Config::new(
        MacAddr([2, 0, 0, 0, 0, last]),
        Some(format!("{ip}/24").parse().unwrap()),
    );
    c.seed = u64::from(last);
    c.arp.probe_count = 0;
    c.arp.announce_count = 0;
    Interface::new(c).unwrap()
}

impl Stepper for Net {
    fn now(&self) -> Instant {
        self.now
    }

    fn step(&mut self) {
        let now = self.now;
        let mut server = Served {
            iface: &mut self.server_iface,
            service: &mut self.server,
        };
        exchange(&mut self.wire, now, &mut self.client, &mut server);
        let next = earliest(
            earliest(self.client.poll_at(), server.poll_at(now)),
            self.wire.poll_at(),
        );
        // Time moves to the next deadline, but at most 100 ms so a test can act in between.
        self.now = Pace::ticks(Duration::from_millis(100)).next(now, next);
    }
}

impl Net {
    fn new(catalog: Catalog, limits: Limits) -> Net {
        let mut server_iface = iface(SERVER_IP, 2);
        let server = Server::bind(&mut server_iface, PORT, catalog, limits).unwrap();
        let mut n = Net {
            wire: Wire::new(1500),
            client: iface(CLIENT_IP, 1),
            server_iface,
            server,
            now: Instant::ZERO,
        };
        n.step();
        n
    }

    fn step(&mut self) {
        Stepper::step(self);
    }

    fn run_until<T>(&mut self, mut f: impl FnMut(&mut Net) -> Option<T>) -> T {
        let mut got = None;
        let run = Stepper::run_until(
            self,
            |n| {
                got = f(n);
                got.is_some()
            },
            Duration::MAX,
            100_000,
        );
        match (run, got) {
            (Ok(_), Some(t)) => t,
            _ => panic!(
                "not done at {}: {:?} {:?}",
                self.now,
                self.server.stats(),
                self.server.conns
            ),
        }
    }

    fn udp_query(&mut self, q: &[u8]) -> Vec<u8> {
        let sock = self.client.udp_bind(0).unwrap();
        self.client
            .udp_send_to(sock, SocketAddrV4::new(SERVER_IP, PORT), q)
            .unwrap();
        let (from, reply) = self.run_until(|n| n.client.udp_recv_from(sock));
        assert_eq!(from, SocketAddrV4::new(SERVER_IP, PORT).into());
        self.client.udp_close(sock);
        reply
    }

    fn tcp_connect(&mut self) -> tcp::Handle {
        let h = self
            .client
            .tcp_connect(self.now, SocketAddr::new(IpAddr::V4(SERVER_IP), PORT))
            .unwrap();
        self.run_until(|n| {
            n.client
                .tcp_connection(h)
                .filter(|c| c.state() == tcp::State::Established)
                .map(|_| ())
        });
        h
    }

    /// Sends length-prefixed queries on `h` and reads `count` replies.
    fn tcp_exchange(&mut self, h: tcp::Handle, queries: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for q in queries {
            out.extend_from_slice(&(q.len() as u16).to_be_bytes());
            out.extend_from_slice(q);
        }
        let mut sent = 0;
        let mut got = Vec::new();
        let mut buf = vec![0; 4096];
        self.run_until(|n| {
            if sent < out.len() {
                sent += n.client.tcp_send(h, &out[sent..]).unwrap();
            }
            if let Ok(k) = n.client.tcp_recv(h, &mut buf) {
                got.extend_from_slice(&buf[..k]);
            }
            let mut replies = Vec::new();
            let mut rest = &got[..];
            while rest.len() >= 2 {
                let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
                if rest.len() < 2 + len {
                    break;
                }
                replies.push(rest[2..2 + len].to_vec());
                rest = &rest[2 + len..];
            }
            (replies.len() == queries.len()).then_some(replies)
        })
    }
}

#[test]
fn wire_udp_and_tcp() {
    let mut net = Net::new(big_catalog(), Limits::default());
    // UDP: an answer, then garbage (FORMERR), then a short message (nothing), then an answer.
    let r = net.udp_query(&DIG_A);
    assert_eq!(rcode(&r), 0);
    assert_eq!(parse(&r).answers.len(), 1);
    let r = net.udp_query(&[0xab, 0xcd, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12]);
    assert_eq!(rcode(&r), 1);
    let sock = net.client.udp_bind(0).unwrap();
    net.client
        .udp_send_to(sock, SocketAddrV4::new(SERVER_IP, PORT), &[1, 2, 3])
        .unwrap();
    for _ in 0..20 {
        net.step();
    }
    assert!(net.client.udp_recv_from(sock).is_none());
    assert_eq!(net.server.stats().ignored, 1);
    let r = net.udp_query(&query(3, 0, "2.0.77.10.in-addr.arpa", 12));
    assert_eq!(parse(&r).answers.len(), 1);

    // A large answer is truncated over UDP, then fetched whole over TCP with two more queries on
    // the same connection.
    let big = query(4, 0, "big.tapstack.test", 1);
    let r = net.udp_query(&big);
    assert_ne!(flags(&r) & 0x0200, 0, "TC");
    let h = net.tcp_connect();
    let replies = net.tcp_exchange(
        h,
        &[
            big.clone(),
            query(5, 0, "nope.tapstack.test", 1),
            query(6, 0, "tapstack.test", 15),
        ],
    );
    assert_eq!(parse(&replies[0]).answers.len(), 60);
    assert_eq!(flags(&replies[0]) & 0x0200, 0);
    assert_eq!(rcode(&replies[1]), 3);
    assert_eq!(&replies[2][..2], &[0, 6]);
    assert_eq!(net.server.stats().tcp_queries, 3);
    assert_eq!(net.server.stats().truncated, 1);
    assert_eq!(net.server.tcp_connections(), 1);

    // Closing the client side ends the server's connection.
    net.client.tcp_close(h);
    net.run_until(|n| (n.server.tcp_connections() == 0).then_some(()));
}

#[test]
fn wire_tcp_idle_timeout_and_connection_limit() {
    let limits = Limits {
        tcp_connections: 1,
        tcp_idle: Duration::from_secs(3),
        ..Limits::default()
    };
    let mut net = Net::new(catalog(), limits);
    let h = net.tcp_connect();
    let start = net.now;
    let r = net.tcp_exchange(h, &[query(1, 0, "tapstack.test", 1)]);
    assert_eq!(rcode(&r[0]), 0);
    let due = net.server.poll_at().expect("an idle deadline");
    assert!(due > net.now && due <= net.now + Duration::from_secs(3));
    // A second connection is over the limit and reset.
    let h2 = net
        .client
        .tcp_connect(net.now, SocketAddr::new(IpAddr::V4(SERVER_IP), PORT))
        .unwrap();
    net.run_until(|n| (n.server.stats().tcp_refused == 1).then_some(()));
    net.run_until(|n| {
        n.client
            .tcp_connection(h2)
            .is_none_or(|c| c.state() == tcp::State::Closed)
            .then_some(())
    });
    // The first one is closed once idle; the server's deadline drives the clock there.
    net.run_until(|n| (n.server.tcp_connections() == 0).then_some(()));
    assert_eq!(net.server.stats().tcp_idle_closed, 1);
    assert!(net.now >= start + Duration::from_secs(3));
    assert!(net.now < start + Duration::from_secs(5));
    let mut buf = [0u8; 16];
    net.run_until(|n| {
        matches!(n.client.tcp_recv(h, &mut buf), Err(SocketError::Closed)).then_some(())
    });
}

#[test]
fn wire_tcp_framing_split_across_segments() {
    let mut net = Net::new(catalog(), Limits::default());
    let h = net.tcp_connect();
    let q = query(77, 0, "www.tapstack.test", 1);
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&q);
    // One byte, then the rest a little later.
    net.client.tcp_send(h, &framed[..1]).unwrap();
    for _ in 0..5 {
        net.step();
    }
    assert_eq!(net.server.stats().tcp_queries, 0);
    let r = net.tcp_exchange(h, &[]);
    assert!(r.is_empty());
    net.client.tcp_send(h, &framed[1..]).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    let reply = net.run_until(|n| {
        if let Ok(k) = n.client.tcp_recv(h, &mut buf) {
            got.extend_from_slice(&buf[..k]);
        }
        (got.len() >= 2 && got.len() == 2 + usize::from(u16::from_be_bytes([got[0], got[1]])))
            .then(|| got[2..].to_vec())
    });
    let pk = parse(&reply);
    assert_eq!(pk.id(), 77);
    assert_eq!(names(&pk.answers), ["www.tapstack.test", "tapstack.test"]);
}

#[test]
fn flag_constants_match_simple_dns() {
    assert_eq!(PacketFlag::RECURSION_DESIRED.bits(), RD_FLAG);
}
