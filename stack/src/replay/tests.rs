//! Replay driver tests: frames at capture times, timers between them, feed rules, comparison.

// A test module: its parent declares it under #[cfg(test)], so it may unwrap.

use super::*;
use crate::config::Ipv4Cidr;
use crate::decode;
use etherparse::PacketBuilder;

const OURS: MacAddr = MacAddr([2, 0, 10, 77, 0, 2]);
const PEER: [u8; 6] = [2, 0, 0, 0, 0, 1];

fn host(seed: u64) -> Host {
    let mut c = Config::new(OURS, Some("10.77.0.2/24".parse::<Ipv4Cidr>().unwrap()));
    c.seed = seed;
    c.arp.probe_count = 0;
    build_host(c, Service::STANDARD).unwrap()
}

fn rec(ms: u64, data: Vec<u8>, direction: Option<Direction>) -> Record {
    Record::ethernet(
        Duration::from_secs(1_700_000_000) + Duration::from_millis(ms),
        data,
        direction,
    )
}

fn arp_request() -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&PEER);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&PEER);
    f.extend_from_slice(&[10, 77, 0, 1]);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&[10, 77, 0, 2]);
    f.resize(60, 0);
    f
}

fn ping(seq: u16) -> Vec<u8> {
    let mut f = Vec::new();
    PacketBuilder::ethernet2(PEER, OURS.0)
        .ipv4([10, 77, 0, 1], [10, 77, 0, 2], 64)
        .icmpv4_echo_request(7, seq)
        .write(&mut f, &[0x61; 56])
        .unwrap();
    f
}

fn udp(payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    PacketBuilder::ethernet2(PEER, OURS.0)
        .ipv4([10, 77, 0, 1], [10, 77, 0, 2], 64)
        .udp(40000, 7)
        .write(&mut f, payload)
        .unwrap();
    f
}

fn syn() -> Vec<u8> {
    let mut f = Vec::new();
    PacketBuilder::ethernet2(PEER, OURS.0)
        .ipv4([10, 77, 0, 1], [10, 77, 0, 2], 64)
        .tcp(40000, 7, 1000, 64240)
        .syn()
        .write(&mut f, &[])
        .unwrap();
    f
}

type Out = Vec<(Duration, Direction, Vec<u8>)>;

fn run(records: &[Record], seed: u64, options: Options) -> (Out, Report) {
    let mut out: Out = Vec::new();
    let mut sink = |t: Duration, d: Direction, f: &[u8]| out.push((t, d, f.to_vec()));
    let mut r = Driver::new(host(seed), options);
    for rec in records {
        r.push(rec, &mut sink);
    }
    let report = r.finish(&mut sink);
    (out, report)
}

#[test]
fn pings_are_answered_at_capture_time() {
    let records = vec![
        rec(0, arp_request(), None),
        rec(1, ping(1), None),
        rec(1001, ping(2), None),
    ];
    let (out, report) = run(&records, 1, Options::default());
    let dirs: Vec<Direction> = out.iter().map(|o| o.1).collect();
    use Direction::{In, Out};
    // Announcement at the start, ARP reply, two echo replies.
    assert_eq!(dirs, [Out, In, Out, In, Out, In, Out], "{out:?}");
    assert_eq!(report.fed, 3);
    assert_eq!(report.sent, 4);
    let t0 = records[0].timestamp;
    assert_eq!(out[0].0, t0);
    assert_eq!(out[6].0, t0 + Duration::from_millis(1001));
    assert!(decode::summary(&out[6].2)
        .to_string()
        .contains("echo reply"));
    // Timestamps never go back.
    assert!(out.windows(2).all(|w| w[0].0 <= w[1].0));
}

#[test]
fn frames_at_one_instant_are_received_before_one_poll() {
    // UDP echo answers when the service is polled: after both datagrams of a burst,
    // but between datagrams at different instants.
    let records = vec![
        rec(0, arp_request(), None),
        rec(1, udp(b"one"), None),
        rec(1, udp(b"two"), None),
        rec(2, udp(b"three"), None),
    ];
    let (out, report) = run(&records, 1, Options::default());
    let dirs: Vec<Direction> = out.iter().map(|o| o.1).collect();
    use Direction::{In, Out};
    assert_eq!(dirs, [Out, In, Out, In, In, Out, Out, In, Out], "{out:?}");
    assert_eq!(report.sent, 5);
}

#[test]
fn same_input_and_seed_same_output_and_seed_matters() {
    let records = vec![rec(0, arp_request(), None), rec(5, syn(), None)];
    let (a, _) = run(&records, 7, Options::default());
    let (b, _) = run(&records, 7, Options::default());
    assert_eq!(a, b);
    let (c, _) = run(&records, 8, Options::default());
    assert_ne!(a, c, "the seed chooses the initial sequence number");
}

#[test]
fn timers_fire_between_frames_and_after_the_last() {
    // A SYN and nothing more: the SYN-ACK is retransmitted at its RTO, while the capture
    // lasts (the last record at 10 s is an unrelated frame from elsewhere, skipped).
    let mut tail = ping(9);
    tail[6..12].copy_from_slice(&OURS.0);
    let records = vec![
        rec(0, arp_request(), None),
        rec(1, syn(), None),
        rec(10_000, tail, None),
    ];
    let (out, report) = run(&records, 3, Options::default());
    let synacks: Vec<Duration> = out
        .iter()
        .filter(|o| decode::summary(&o.2).to_string().contains("Flags [S.]"))
        .map(|o| o.0 - records[0].timestamp)
        .collect();
    assert!(synacks.len() >= 3, "{synacks:?}");
    assert_eq!(synacks[0], Duration::from_millis(1));
    assert!(synacks[1] >= Duration::from_millis(900), "{synacks:?}");
    assert!(*synacks.last().unwrap() <= Duration::from_secs(10));
    assert_eq!(report.skipped_own_mac, 1);
    assert!(report.timer_polls > 0);
    assert_eq!(report.duration, Duration::from_secs(10));
    // Lingering lets more retransmissions out.
    let long = Options {
        linger: Duration::from_secs(30),
        ..Options::default()
    };
    let (more, _) = run(&records, 3, long);
    assert!(more.len() > out.len());
}

#[test]
fn first_frame_at_moves_the_clock_not_the_timestamps() {
    let records = vec![rec(0, arp_request(), None), rec(5, syn(), None)];
    let synack = |out: &Out| {
        out.iter()
            .find(|o| decode::summary(&o.2).to_string().contains("Flags [S.]"))
            .map(|o| {
                let fields = decode::fields(&o.2);
                let seq = fields.iter().find(|f| f.name == "tcp.seq").unwrap();
                (o.0, seq.value.to_string())
            })
            .unwrap()
    };
    let (a, _) = run(&records, 7, Options::default());
    let later = Options {
        first_frame_at: Duration::from_micros(400),
        ..Options::default()
    };
    let (b, report) = run(&records, 7, later);
    let ((ta, seq_a), (tb, seq_b)) = (synack(&a), synack(&b));
    assert_eq!(ta, tb, "output timestamps stay the capture's");
    let (x, y): (u32, u32) = (seq_a.parse().unwrap(), seq_b.parse().unwrap());
    // RFC 6528: the ISN clock ticks every 4 µs.
    assert_eq!(y.wrapping_sub(x), 100);
    assert_eq!(report.duration, Duration::from_micros(5400));
}

#[test]
fn direction_marks_choose_what_is_fed() {
    let mut reply = ping(1);
    reply[0..6].copy_from_slice(&PEER);
    reply[6..12].copy_from_slice(&OURS.0);
    let records = vec![
        rec(0, arp_request(), Some(Direction::In)),
        rec(0, reply.clone(), Some(Direction::Out)),
        rec(1, ping(1), Some(Direction::In)),
    ];
    let (_, report) = run(&records, 1, Options::default());
    assert_eq!((report.fed, report.skipped_outbound), (2, 1));
    // Marks read the other way round (a capture on the peer's side): not-ours ignores them.
    let flipped: Vec<Record> = records
        .iter()
        .map(|r| Record {
            direction: r.direction.map(|d| match d {
                Direction::In => Direction::Out,
                Direction::Out => Direction::In,
            }),
            ..r.clone()
        })
        .collect();
    let not_ours = Options {
        feed: Feed::NotOurs,
        ..Options::default()
    };
    let (_, report) = run(&flipped, 1, not_ours);
    assert_eq!((report.fed, report.skipped_own_mac), (2, 1));
}

#[test]
fn cut_frames_are_skipped_and_time_never_goes_back() {
    let mut cut = rec(2, ping(1), None);
    cut.data.truncate(40);
    let records = vec![
        rec(0, arp_request(), None),
        cut,
        rec(5, ping(2), None),
        rec(3, ping(3), None),
    ];
    let (out, report) = run(&records, 1, Options::default());
    assert_eq!(report.skipped_truncated, 1);
    assert_eq!(report.time_went_back, 1);
    assert_eq!(report.fed, 3);
    assert!(out.windows(2).all(|w| w[0].0 <= w[1].0));
}

#[test]
fn empty_replay_sends_nothing() {
    let (out, report) = run(&[], 1, Options::default());
    assert!(out.is_empty());
    assert_eq!(report, Report::default());
}

fn as_records(out: &Out) -> Vec<Record> {
    out.iter()
        .map(|(t, d, f)| Record::ethernet(*t, f.clone(), Some(*d)))
        .collect()
}

#[test]
fn compare_finds_the_first_field_and_realigns() {
    let records = vec![
        rec(0, arp_request(), None),
        rec(1, ping(1), None),
        rec(2, ping(2), None),
        rec(3, ping(3), None),
    ];
    let (out, _) = run(&records, 1, Options::default());
    let expected = as_records(&out);
    assert!(compare(&expected, &expected, &Mask::none()).is_same());

    // One field changed.
    let mut got = expected.clone();
    got[4].data[14 + 8] = 63; // the TTL of the first echo reply
    let c = compare(&expected, &got, &Mask::none());
    assert_eq!(c.differences.len(), 1, "{c:?}");
    let Difference::Changed { first, .. } = &c.differences[0] else {
        panic!("{c:?}")
    };
    assert_eq!(first.field, "ipv4.ttl");
    assert_eq!((first.expected.as_str(), first.got.as_str()), ("64", "63"));
    // Masked, the TTL and the IPv4 checksum it breaks are not compared.
    assert!(compare(&expected, &got, &Mask::parse("ipv4.ttl").unwrap()).is_same());

    // One frame missing, one extra: each shows once.
    let mut fewer = expected.clone();
    fewer.remove(4);
    let c = compare(&expected, &fewer, &Mask::none());
    assert_eq!(c.differences, [Difference::Missing { expected: 4 }]);
    let c = compare(&fewer, &expected, &Mask::none());
    assert_eq!(c.differences, [Difference::Extra { got: 4 }]);

    // Time.
    let mut later = expected.clone();
    later[3].timestamp += Duration::from_micros(5);
    let c = compare(&expected, &later, &Mask::none());
    let Difference::Changed { first, .. } = &c.differences[0] else {
        panic!("{c:?}")
    };
    assert_eq!(first.field, "time");
    assert!(compare(&expected, &later, &Mask::parse("time").unwrap()).is_same());

    // Payload bytes.
    let mut bytes = expected.clone();
    let n = bytes[4].data.len();
    bytes[4].data[n - 1] ^= 0x20;
    let c = compare(&expected, &bytes, &Mask::parse("icmp.checksum").unwrap());
    let Difference::Changed { first, .. } = &c.differences[0] else {
        panic!("{c:?}")
    };
    assert_eq!(first.field, "payload.data (byte 55 of 56)");
}

#[test]
fn masks() {
    assert!(Mask::parse("tcp.sequence").is_err());
    assert!(Mask::parse("bogus").is_err());
    let m = Mask::parse("time, tcp.seq ipv4").unwrap();
    assert!(m.masks("time") && m.masks("tcp.seq") && m.masks("ipv4.ttl"));
    assert!(!m.masks("tcp.ack"));
    assert!(m.skips("tcp.checksum") && m.skips("ipv4.checksum"));
    assert!(!m.skips("udp.checksum") || m.masks("ipv4.src"));
    let m = Mask::parse("tcp.checksum").unwrap();
    assert!(!m.masks_checksum("tcp.checksum") && m.skips("tcp.checksum"));
    assert!("auto".parse::<Feed>().is_ok() && "x".parse::<Feed>().is_err());
    assert_eq!("tcp-echo".parse::<Service>(), Ok(Service::TcpEcho));
    assert!("ssh".parse::<Service>().is_err());
}

#[test]
fn build_host_with_a_subset_of_services() {
    let c = Config::new(OURS, Some("10.77.0.2/24".parse().unwrap()));
    let h = build_host(c.clone(), &[Service::UdpEcho]).unwrap();
    assert_eq!(h.service_names().collect::<Vec<_>>(), ["udp-echo"]);
    assert_eq!(
        build_host(c, &[Service::UdpEcho, Service::UdpEcho]).err(),
        Some(BuildError::Service(Service::UdpEcho))
    );
}

/// `frame` (an Ethernet frame) with its link header replaced by `link`'s.
fn relink(link: LinkType, frame: &[u8], packet_type: u16) -> Vec<u8> {
    let (ethertype, ip) = (&frame[12..14], &frame[14..]);
    let mut f = Vec::new();
    match link {
        LinkType::LinuxSll => {
            f.extend_from_slice(&packet_type.to_be_bytes());
            f.extend_from_slice(&[0, 1, 0, 6]);
            f.extend_from_slice(&frame[6..12]);
            f.extend_from_slice(&[0, 0]);
            f.extend_from_slice(ethertype);
        }
        LinkType::Null => f.extend_from_slice(&2u32.to_le_bytes()),
        LinkType::Raw => {}
        other => panic!("{other} not made here"),
    }
    // Ethernet padding is not part of the packet.
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    f.extend_from_slice(if ethertype == [8, 0] {
        &ip[..total]
    } else {
        ip
    });
    f
}

fn rec_link(ms: u64, link: LinkType, data: Vec<u8>) -> Record {
    Record {
        link,
        ..rec(ms, data, None)
    }
}

fn echo_replies(out: &Out) -> Vec<Vec<u8>> {
    out.iter()
        .filter(|(_, d, f)| {
            *d == Direction::Out && decode::summary(f).to_string().contains("echo reply")
        })
        // The IP packet: what the stack answered, whatever the link.
        .map(|(_, _, f)| f[14..].to_vec())
        .collect()
}

#[test]
fn raw_and_null_frames_get_a_header_and_the_sender_is_primed() {
    let (want, _) = run(
        &[rec(0, arp_request(), None), rec(1, ping(1), None)],
        1,
        Options::default(),
    );
    let want = echo_replies(&want);
    assert_eq!(want.len(), 1);
    for link in [LinkType::Raw, LinkType::Null] {
        let records = vec![
            rec_link(1, link, relink(link, &ping(1), 0)),
            rec_link(2, link, relink(link, &ping(2), 0)),
        ];
        let (out, report) = run(&records, 1, Options::default());
        // One ARP request from the made-up peer, before the first ping only.
        assert_eq!((report.primed, report.fed), (1, 2), "{link}");
        let primed = &out[1].2;
        assert_eq!(out[1].1, Direction::In);
        assert!(decode::summary(primed)
            .to_string()
            .contains("ARP, Request who-has 10.77.0.2 tell 10.77.0.1"));
        assert_eq!(&primed[6..12], &PEER_MAC.0);
        let got = echo_replies(&out);
        assert_eq!(got.len(), 2, "{link}: {out:?}");
        assert_eq!(got[0], want[0], "{link}: the same answer");
        // The answer goes to the made-up peer.
        let reply = out.iter().rev().find(|o| o.1 == Direction::Out).unwrap();
        assert_eq!(&reply.2[0..6], &PEER_MAC.0);
    }
}

#[test]
fn cooked_frames_keep_the_senders_mac_and_their_direction_decides() {
    let records = vec![
        rec_link(
            0,
            LinkType::LinuxSll,
            relink(LinkType::LinuxSll, &arp_request(), 1),
        ),
        rec_link(
            1,
            LinkType::LinuxSll,
            relink(LinkType::LinuxSll, &ping(1), 0),
        ),
        // Marked outgoing: sent by the capturing host, whose place the stack takes.
        rec_link(
            2,
            LinkType::LinuxSll,
            relink(LinkType::LinuxSll, &ping(2), 4),
        ),
    ];
    let (out, report) = run(&records, 1, Options::default());
    assert_eq!(
        (report.fed, report.skipped_outbound, report.primed),
        (2, 1, 0)
    );
    let got = echo_replies(&out);
    assert_eq!(got.len(), 1);
    let reply = out.iter().rev().find(|o| o.1 == Direction::Out).unwrap();
    assert_eq!(
        &reply.2[0..6],
        &PEER,
        "answered to the cooked header's address"
    );
}

#[test]
fn frames_from_our_own_address_are_not_fed_when_no_mac_says_so() {
    // A raw echo reply from the stack's own address, unmarked: its own frame.
    let mut reply = Vec::new();
    PacketBuilder::ethernet2(OURS.0, PEER)
        .ipv4([10, 77, 0, 2], [10, 77, 0, 1], 64)
        .icmpv4_echo_reply(7, 1)
        .write(&mut reply, &[0x61; 56])
        .unwrap();
    let records = vec![rec_link(0, LinkType::Raw, relink(LinkType::Raw, &reply, 0))];
    let (_, report) = run(&records, 1, Options::default());
    assert_eq!((report.fed, report.skipped_own_mac), (0, 1));
}

#[test]
fn bad_fcs_is_skipped_when_checked_and_bad_links_are_counted() {
    let mut r = rec(1, ping(1), None);
    r.fcs = Some(link::crc32(&r.data) ^ 1);
    let checked = Options {
        check_fcs: true,
        ..Options::default()
    };
    let (_, report) = run(std::slice::from_ref(&r), 1, checked);
    assert_eq!((report.fed, report.skipped_bad_fcs), (0, 1));
    let (_, report) = run(&[r], 1, Options::default());
    assert_eq!(report.fed, 1, "not checked unless asked");
    let bad = rec_link(1, LinkType::Null, vec![9, 0, 0, 0, 0x45]);
    let (_, report) = run(&[bad], 1, Options::default());
    assert_eq!((report.fed, report.skipped_bad_link), (0, 1));
}

#[test]
fn an_ip_medium_takes_the_ip_packet_only() {
    // The stack itself cannot run on the IP medium here; what the driver hands it can be
    // seen through the output, which records every frame fed.
    let ip = Options {
        medium: Medium::Ip,
        ..Options::default()
    };
    let records = vec![
        rec(0, arp_request(), None),
        rec_link(
            1,
            LinkType::LinuxSll,
            relink(LinkType::LinuxSll, &ping(1), 0),
        ),
    ];
    let mut out: Out = Vec::new();
    let mut sink = |t: Duration, d: Direction, f: &[u8]| out.push((t, d, f.to_vec()));
    let mut r = Driver::new(host(1), ip);
    for rec in &records {
        r.push(rec, &mut sink);
    }
    assert_eq!((r.report().fed, r.report().skipped_not_ip), (1, 1));
    let fed: Vec<&Vec<u8>> = out
        .iter()
        .filter(|o| o.1 == Direction::In)
        .map(|o| &o.2)
        .collect();
    assert_eq!(fed.len(), 1);
    assert_eq!(fed[0][0] >> 4, 4, "an IPv4 packet, no link header");
    assert_eq!(fed[0][..], ping(1)[14..]);
}

#[test]
fn random_records_of_every_link_type_are_fed_or_counted() {
    let mut rng = crate::rng::Rng::new(5, "replay-fuzz");
    let records: Vec<Record> = (0..5_000u64)
        .map(|i| {
            let mut data = vec![0u8; rng.below(120) as usize];
            rng.fill(&mut data);
            if let Some(b) = data.first_mut() {
                *b = if i % 2 == 0 { 0x45 } else { 0x60 };
            }
            Record {
                link: LinkType::ALL[(i % 8) as usize],
                fcs: (i % 5 == 0).then_some(7),
                ..rec(i, data, None)
            }
        })
        .collect();
    let checked = Options {
        check_fcs: true,
        ..Options::default()
    };
    let (_, report) = run(&records, 1, checked);
    assert_eq!(report.records, 5_000);
    assert_eq!(report.fed + report.skipped(), report.records);
    assert!(
        report.skipped_bad_fcs > 0 && report.skipped_bad_link > 0,
        "{report:?}"
    );
}

#[test]
fn an_ipv6_sender_is_primed_with_a_well_formed_solicitation() {
    let mut c = Config::new(OURS, Some("10.77.0.2/24".parse::<Ipv4Cidr>().unwrap()));
    c.arp.probe_count = 0;
    c.ipv6 = Some(crate::Ipv6Config {
        addresses: vec!["fd77::2/64".parse().unwrap()],
        ..Default::default()
    });
    let host = build_host(c, Service::STANDARD).unwrap();
    let mut echo = Vec::new();
    PacketBuilder::ipv6(
        "fd77::1".parse::<Ipv6Addr>().unwrap().octets(),
        "fd77::2".parse::<Ipv6Addr>().unwrap().octets(),
        64,
    )
    .icmpv6_echo_request(9, 1)
    .write(&mut echo, b"raw six")
    .unwrap();
    // Late enough after the first record for duplicate address detection to be over.
    let records = vec![
        rec(0, arp_request(), None),
        rec_link(5_000, LinkType::Raw, echo),
    ];
    let mut out: Out = Vec::new();
    let mut sink = |t: Duration, d: Direction, f: &[u8]| out.push((t, d, f.to_vec()));
    let mut r = Driver::new(host, Options::default());
    for rec in &records {
        r.push(rec, &mut sink);
    }
    let report = r.finish(&mut sink);
    assert_eq!((report.primed, report.fed), (1, 2));
    let lines: Vec<String> = out
        .iter()
        .map(|(_, d, f)| format!("{d:?} {}", decode::summary(f)))
        .collect();
    let ns = lines
        .iter()
        .find(|l| l.starts_with("In ") && l.contains("neighbor solicitation"))
        .unwrap_or_else(|| panic!("{lines:#?}"));
    assert!(!ns.contains("[bad"), "{ns}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Out ") && l.contains("echo reply")),
        "{lines:#?}"
    );
    assert_eq!(r.host().iface().stats().total_drops(), 0);
}

#[test]
fn the_trace_samples_after_frames_and_after_timers() {
    let mut out: Out = Vec::new();
    let mut sink = |t: Duration, d: Direction, f: &[u8]| out.push((t, d, f.to_vec()));
    let options = Options {
        linger: Duration::from_secs(2),
        ..Options::default()
    };
    let mut r = Driver::new(host(1), options);
    r.trace();
    r.push(&rec(0, arp_request(), None), &mut sink);
    r.push(&rec(10, syn(), None), &mut sink);
    r.finish(&mut sink);
    let samples = r.trace_samples();
    // The SYN makes a connection, sampled at its frame's time (since the first record).
    let first = samples.first().unwrap();
    assert_eq!((first.time_us, first.conn), (10_000, 1));
    assert!(first.json().contains("\"state\":\"SYN-RECEIVED\""));
    // No ACK comes: the SYN-ACK is sent again when its timer fires, with no frame then.
    let timeout = samples
        .iter()
        .find(|s| s.events.contains(&trace::CongestionEvent::Timeout))
        .unwrap();
    assert_eq!(timeout.time_us, 10_000 + 1_000_000);
    assert!(timeout.json().contains("\"events\":[\"timeout\"]"));
    // Taken once.
    assert!(r.trace_samples().is_empty());
    assert_eq!(r.tracer().unwrap().samples_dropped, 0);
}
