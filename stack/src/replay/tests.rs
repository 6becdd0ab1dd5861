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
    Record {
        timestamp: Duration::from_secs(1_700_000_000) + Duration::from_millis(ms),
        orig_len: data.len() as u32,
        data,
        direction,
    }
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
        .map(|(t, d, f)| Record {
            timestamp: *t,
            orig_len: f.len() as u32,
            data: f.clone(),
            direction: Some(*d),
        })
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
