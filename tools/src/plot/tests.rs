use std::net::Ipv6Addr;

use super::capture::*;
use super::series::*;
use super::svg::*;
use super::*;

#[test]
fn ticks_are_round_and_within_the_domain() {
    let s = Scale::new(0.0, 1.0, 0.0, 100.0);
    assert_eq!(s.ticks(), vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]);
    let s = Scale::new(0.0, 45_000.0, 0.0, 100.0);
    assert_eq!(s.ticks().first(), Some(&0.0));
    assert!(s.ticks().iter().all(|v| *v <= 45_000.0));
    assert_eq!(tick_label(20_000.0), "20k");
    assert_eq!(tick_label(0.25), "0.25");
}

/// An Ethernet frame with a VLAN tag, IPv6 and a TCP ACK carrying one SACK block.
fn ipv6_sack_frame() -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x81, 0x00, 0x00, 0x05, 0x86, 0xdd]);
    let mut tcp = Vec::new();
    tcp.extend_from_slice(&1234u16.to_be_bytes());
    tcp.extend_from_slice(&80u16.to_be_bytes());
    tcp.extend_from_slice(&100u32.to_be_bytes());
    tcp.extend_from_slice(&5000u32.to_be_bytes());
    // Data offset 8 words (20 + 12 bytes of options), ACK.
    tcp.extend_from_slice(&[0x80, 0x10]);
    tcp.extend_from_slice(&512u16.to_be_bytes());
    tcp.extend_from_slice(&[0, 0, 0, 0]);
    tcp.extend_from_slice(&[1, 1, 5, 10]);
    tcp.extend_from_slice(&6000u32.to_be_bytes());
    tcp.extend_from_slice(&7000u32.to_be_bytes());
    tcp.extend_from_slice(b"hi");
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&u16::try_from(tcp.len()).unwrap().to_be_bytes());
    f.extend_from_slice(&[6, 64]);
    f.extend_from_slice(&"fd77::1".parse::<Ipv6Addr>().unwrap().octets());
    f.extend_from_slice(&"fd77::2".parse::<Ipv6Addr>().unwrap().octets());
    f.extend_from_slice(&tcp);
    f
}

#[test]
fn ipv6_behind_a_vlan_tag_with_sack_decodes() {
    let (seg, dst) = decode(&ipv6_sack_frame(), 1.5).expect("a TCP segment");
    assert_eq!(seg.src, "[fd77::1]:1234".parse().unwrap());
    assert_eq!(dst, "[fd77::2]:80".parse().unwrap());
    assert_eq!(
        (seg.seq, seg.ack, seg.len, seg.window),
        (100, Some(5000), 2, 512)
    );
    assert_eq!(seg.sack, vec![(6000, 7000)]);
    assert!(!seg.syn);
    // Cut anywhere, it is nothing rather than a panic.
    let f = ipv6_sack_frame();
    for n in 0..f.len() {
        let _ = decode(&f[..n], 0.0);
    }
}

#[test]
fn many_bars_in_one_pixel_column_merge_and_few_do_not() {
    let x = Scale::new(0.0, 1.0, 0.0, 100.0);
    let y = Scale::new(0.0, 1e9, 1000.0, 0.0);
    let few: Vec<Bar> = (0..10)
        .map(|i| (0.5, i as f64 * 10.0, i as f64 * 10.0 + 10.0))
        .collect();
    assert_eq!(pixel_bars(&few, x, y).len(), 10);
    // A burst of contiguous segments at one instant, then one far above.
    let mut many: Vec<Bar> = (0..=MERGE_ABOVE)
        .map(|i| (0.5, i as f64 * 1000.0, i as f64 * 1000.0 + 1000.0))
        .collect();
    many.push((0.5, 9e8, 9e8 + 1000.0));
    many.push((0.9, 0.0, 1000.0));
    let merged = pixel_bars(&many, x, y);
    assert_eq!(merged.len(), 3, "{merged:?}");
    assert_eq!(merged[0].0, 50.0);
    assert!((merged[0].2 - 1000.0).abs() < 1e-6 && merged[0].1 < 980.0);
}

#[test]
fn a_step_line_leaves_out_points_that_do_not_move_it() {
    let x = Scale::new(0.0, 10.0, 0.0, 100.0);
    let y = Scale::new(0.0, 10.0, 100.0, 0.0);
    let pts = [(0.0, 1.0), (1.0, 1.0), (2.0, 1.0), (3.0, 2.0), (4.0, 2.0)];
    assert_eq!(steps(&pts, x, y), "0.0,90.0 30.0,90.0 30.0,80.0 40.0,80.0");
    assert_eq!(steps(&[], x, y), "");
}

#[test]
fn a_bare_ip_packet_decodes_too() {
    let f = ipv6_sack_frame();
    let (seg, _) = decode(&f[18..], 0.0).expect("a TCP segment");
    assert_eq!(seg.sack, vec![(6000, 7000)]);
}

#[test]
fn a_segment_below_the_highest_sent_is_a_retransmission() {
    let seg = |t: f64, src: &str, seq: u32, len: u32, ack: Option<u32>| Segment {
        t,
        src: src.parse().unwrap(),
        seq,
        ack,
        syn: false,
        len,
        window: 100,
        wscale: None,
        sack: Vec::new(),
    };
    let (a, b) = ("10.0.0.2:19", "10.0.0.1:5000");
    let c = Connection {
        a: a.parse().unwrap(),
        b: b.parse().unwrap(),
        segments: vec![
            seg(0.0, a, 1000, 100, Some(1)),
            seg(0.1, a, 1100, 100, Some(1)),
            seg(0.2, b, 1, 0, Some(1100)),
            seg(0.3, a, 1100, 100, Some(1)),
            seg(0.4, b, 1, 0, Some(1200)),
        ],
        left_out: 0,
    };
    let s = series(&c);
    assert_eq!(s.data, vec![(0.0, 0.0, 100.0), (0.1, 100.0, 200.0)]);
    assert_eq!(s.retransmission, vec![(0.3, 100.0, 200.0)]);
    assert_eq!(s.ack, vec![(0.2, 100.0), (0.4, 200.0)]);
    assert_eq!(s.window, vec![(0.2, 200.0), (0.4, 300.0)]);
}

#[test]
fn short_or_odd_frames_decode_to_nothing() {
    assert!(decode(&[], 0.0).is_none());
    assert!(decode(&[0u8; 13], 0.0).is_none());
    let mut f = vec![0u8; 60];
    f[12] = 0x08;
    f[14] = 0x45;
    f[23] = 6;
    f[16] = 0;
    f[17] = 40;
    // A TCP header whose data offset says 4 bytes.
    f[14 + 20 + 12] = 0x10;
    assert!(decode(&f, 0.0).is_none());
}
