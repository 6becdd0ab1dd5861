//! Replay speed: frames per second through the replay driver, on a synthetic capture of a
//! million frames built in memory (so that disk speed does not count).

use std::time::Instant as WallClock;

use anyhow::{bail, Result};
use tapstack::{Interface, MacAddr};

use super::inmem::{our_config, RECEIVER_IP, SENDER_IP};
use super::report::{Figure, Outcome, Target};
use super::{interrupted, Plan};

/// Target: at least a million frames a second.
const TARGET_FPS: f64 = 1e6;

/// Replay speed: `count` frames (an ARP request, then echo requests and UDP echo datagrams from
/// one peer, 1 µs apart) through the replay driver, our answers counted but not written.
fn replay_speed(count: usize) -> Result<f64> {
    use tapstack::device::capture::Record;
    use tapstack::ipv4::{self, EmitRepr, Protocol};
    let ours = MacAddr([2, 0, 0, 0, 0, 2]);
    let peer = MacAddr([2, 0, 0, 0, 0, 1]);
    let eth = |ether_type: u16, body: &[u8]| {
        let mut f = Vec::with_capacity(14 + body.len());
        f.extend_from_slice(&ours.0);
        f.extend_from_slice(&peer.0);
        f.extend_from_slice(&ether_type.to_be_bytes());
        f.extend_from_slice(body);
        f
    };
    let arp = tapstack::arp::Repr::request(peer, SENDER_IP, RECEIVER_IP).to_bytes();
    let mut frames = vec![{
        let mut f = eth(0x0806, &arp);
        f[..6].copy_from_slice(&MacAddr::BROADCAST.0);
        f
    }];
    for i in 0..64u16 {
        let mut icmp = Vec::new();
        tapstack::icmp::write_echo_request(&mut icmp, 7, i, &[0x5a; 56]);
        let repr = EmitRepr {
            src: SENDER_IP,
            dst: RECEIVER_IP,
            protocol: Protocol::Icmp,
            ttl: 64,
            ident: i,
            dont_fragment: false,
        };
        let mut ip = Vec::new();
        ipv4::write_header(&mut ip, &repr, icmp.len(), 0, false);
        ip.extend_from_slice(&icmp);
        frames.push(eth(0x0800, &ip));
        let mut udp = Vec::new();
        let from = std::net::SocketAddrV4::new(SENDER_IP, 40_000);
        let to = std::net::SocketAddrV4::new(RECEIVER_IP, 7);
        tapstack::udp::write(&mut udp, from, to, &[0xa5; 32]);
        let repr = EmitRepr {
            protocol: Protocol::Udp,
            ..repr
        };
        let mut ip = Vec::new();
        ipv4::write_header(&mut ip, &repr, udp.len(), 0, false);
        ip.extend_from_slice(&udp);
        frames.push(eth(0x0800, &ip));
    }
    let mut config = our_config(RECEIVER_IP, 2)?;
    config.mac = ours;
    let host = tapstack::Host::with_standard_services(Interface::new(config)?)?;
    let mut driver = tapstack::replay::Driver::new(host, tapstack::replay::Options::default());
    let mut sent = 0u64;
    let mut sink = |_: std::time::Duration, _: tapstack::device::Direction, _: &[u8]| sent += 1;
    let start = WallClock::now();
    let mut record = Record::ethernet(std::time::Duration::ZERO, Vec::new(), None);
    for i in 0..count {
        let at = if i == 0 {
            0
        } else {
            1 + (i - 1) % (frames.len() - 1)
        };
        let Some(f) = frames.get(at) else {
            bail!("no frame {at}");
        };
        record.timestamp = std::time::Duration::from_micros(i as u64);
        record.data.clear();
        record.data.extend_from_slice(f);
        record.orig_len = f.len() as u32;
        driver.push(&record, &mut sink);
    }
    driver.finish(&mut sink);
    let secs = start.elapsed().as_secs_f64();
    if sent < count as u64 / 2 {
        bail!("replay answered only {sent} of {count} frames");
    }
    Ok(count as f64 / secs)
}

/// Adds the replay figure, in M frames/s.
pub fn bench(plan: &Plan, figures: &mut Vec<Figure>) {
    let frames = plan.replay_frames;
    let mut values = Vec::new();
    let mut outcome = None;
    for _ in 0..plan.runs {
        if interrupted() {
            outcome = Some(Outcome::Failed("interrupted".to_owned()));
            break;
        }
        match replay_speed(frames) {
            Ok(fps) => values.push(fps / 1e6),
            Err(e) => {
                outcome = Some(Outcome::Failed(format!("{e:#}")));
                break;
            }
        }
    }
    figures.push(
        Figure::new(
            &format!("Replay: {frames} synthetic frames"),
            "pings and UDP echoes through the replay driver",
            "M frames/s",
            outcome.unwrap_or(Outcome::Measured(values)),
        )
        .with_target(Target::at_least(TARGET_FPS / 1e6)),
    );
}
