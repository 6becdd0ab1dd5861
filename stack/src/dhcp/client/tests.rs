//! Client state-machine tests at explicit virtual times, against a scripted server that builds
//! its replies with [`Repr`].

// A test module: its parent declares it under #[cfg(test)], so it may unwrap.

use super::*;

const MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x42]);
const SERVER: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);
const ADDR: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 100);
const DNS2: Ipv4Addr = Ipv4Addr::new(9, 9, 9, 9);
/// Lease length the scripted server grants: T1 300 s, T2 525 s by default.
const LEASE_SECS: u32 = 600;

fn ms(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn client(seed: u64, config: Config) -> Client {
    Client::new(MAC, Some("box".into()), seed, config)
}

fn parse(tx: &Transmit) -> Repr {
    Repr::parse_bytes(&tx.payload).unwrap()
}

/// The server's reply of type `t` to `req`.
fn reply(req: &Repr, t: MessageType) -> Repr {
    let mut r = Repr::new(Op::Reply, t, req.xid, req.chaddr);
    r.server_id = Some(SERVER);
    if t != MessageType::Nak {
        r.yiaddr = ADDR;
        r.siaddr = SERVER;
        r.lease_time = Some(LEASE_SECS);
        r.subnet_mask = Some(Ipv4Addr::new(255, 255, 255, 0));
        r.routers = vec![SERVER];
        r.dns_servers = vec![SERVER, DNS2];
    }
    r
}

fn send(c: &mut Client, now: Instant, r: &Repr) -> Result<(), Error> {
    c.receive(now, &r.to_bytes(), SERVER)
}

fn drain(c: &mut Client, now: Instant) -> Vec<Transmit> {
    let mut out = Vec::new();
    while let Some(tx) = c.poll(now) {
        out.push(tx);
        assert!(out.len() < 16, "runaway transmissions");
    }
    out
}

fn events(c: &mut Client) -> Vec<Event> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

/// Runs the timers up to `until` with nobody answering; returns what went out and when.
fn run_silent(c: &mut Client, now: &mut Instant, until: Instant) -> Vec<(Instant, Transmit)> {
    let mut out = Vec::new();
    for _ in 0..1000 {
        match c.poll_at() {
            Some(at) if at <= until => {
                *now = (*now).max(at);
                out.extend(drain(c, *now).into_iter().map(|tx| (*now, tx)));
            }
            _ => return out,
        }
    }
    panic!("timers never settle");
}

/// DISCOVER at `t0`, OFFER and REQUEST 100 ms later, ACK 200 ms later, probe clear 1.2 s later.
fn bind(c: &mut Client, t0: Instant) -> Lease {
    c.start(t0);
    let d = drain(c, t0);
    assert_eq!(d.len(), 1);
    let offer_at = t0 + Duration::from_millis(100);
    send(c, offer_at, &reply(&parse(&d[0]), MessageType::Offer)).unwrap();
    let r = drain(c, offer_at);
    assert_eq!(r.len(), 1);
    let ack_at = t0 + Duration::from_millis(200);
    send(c, ack_at, &reply(&parse(&r[0]), MessageType::Ack)).unwrap();
    assert_eq!(events(c), [Event::Probe(ADDR)]);
    c.probe_result(t0 + Duration::from_millis(1200), false);
    match events(c).as_slice() {
        [Event::LeaseAcquired(l)] => l.clone(),
        e => panic!("{e:?}"),
    }
}

fn is_option_absent(r: &Repr) -> bool {
    r.requested_addr.is_none() && r.server_id.is_none()
}

#[test]
fn full_lifecycle_renew_rebind_expire() {
    let mut c = client(1, Config::default());
    assert_eq!(c.state(), State::Stopped);
    assert_eq!(c.poll_at(), None);
    c.start(ms(0));
    assert_eq!(c.state(), State::Init);
    assert_eq!(c.poll_at(), Some(ms(0)));

    // INIT -> SELECTING: a broadcast DISCOVER from 0.0.0.0.
    let tx = drain(&mut c, ms(0));
    assert_eq!(tx.len(), 1);
    assert_eq!(
        (tx[0].src, tx[0].dst),
        (Ipv4Addr::UNSPECIFIED, Destination::Broadcast)
    );
    let discover = parse(&tx[0]);
    assert_eq!(
        (discover.op, discover.message_type),
        (Op::Request, MessageType::Discover)
    );
    assert!(discover.broadcast);
    assert_eq!(discover.ciaddr, Ipv4Addr::UNSPECIFIED);
    assert_eq!(discover.chaddr, MAC);
    assert_eq!(discover.hostname.as_deref(), Some("box"));
    assert_eq!(discover.client_id, Some(vec![1, 2, 0, 0, 0, 0, 0x42]));
    assert_eq!(discover.parameter_request_list, PARAMETER_REQUEST_LIST);
    assert_eq!(c.state(), State::Selecting);

    // SELECTING -> REQUESTING: same xid, requested address and server id name the offer.
    send(&mut c, ms(100), &reply(&discover, MessageType::Offer)).unwrap();
    assert_eq!(c.state(), State::Requesting);
    let tx = drain(&mut c, ms(100));
    assert_eq!(tx.len(), 1);
    assert_eq!(tx[0].dst, Destination::Broadcast);
    let request = parse(&tx[0]);
    assert_eq!(request.message_type, MessageType::Request);
    assert_eq!(request.xid, discover.xid);
    assert_eq!(request.secs, discover.secs);
    assert_eq!(
        (request.requested_addr, request.server_id),
        (Some(ADDR), Some(SERVER))
    );
    assert_eq!(request.ciaddr, Ipv4Addr::UNSPECIFIED);

    // REQUESTING -> probing: the address is not handed out before the ARP check.
    send(&mut c, ms(200), &reply(&request, MessageType::Ack)).unwrap();
    assert_eq!(c.state(), State::Probing);
    assert_eq!(events(&mut c), [Event::Probe(ADDR)]);
    assert_eq!(c.lease(), None);
    assert_eq!(c.poll_at(), None);

    c.probe_result(ms(1200), false);
    assert_eq!(c.state(), State::Bound);
    let lease = match events(&mut c).as_slice() {
        [Event::LeaseAcquired(l)] => l.clone(),
        e => panic!("{e:?}"),
    };
    assert_eq!(lease.addr, Ipv4Cidr::new(ADDR, 24).unwrap());
    assert_eq!(lease.router, Some(SERVER));
    assert_eq!(lease.dns, [SERVER, DNS2]);
    assert_eq!(lease.server, SERVER);
    assert_eq!(lease.acquired_at, ms(100), "timed from the REQUEST");
    assert_eq!(lease.lease_time, Some(Duration::from_secs(600)));
    assert_eq!(lease.t1, Some(Duration::from_secs(300)));
    assert_eq!(lease.t2, Some(Duration::from_secs(525)));
    assert_eq!(c.lease(), Some(&lease));
    assert_eq!(c.poll_at(), Some(ms(300_100)));
    assert!(drain(&mut c, ms(300_099)).is_empty());

    // T1: RENEWING, unicast to the server from the leased address, ciaddr set.
    let tx = drain(&mut c, ms(300_100));
    assert_eq!(c.state(), State::Renewing);
    assert_eq!(tx.len(), 1);
    assert_eq!((tx[0].src, tx[0].dst), (ADDR, Destination::Unicast(SERVER)));
    let renew = parse(&tx[0]);
    assert_eq!(renew.ciaddr, ADDR);
    assert!(!renew.broadcast);
    assert!(is_option_absent(&renew));
    assert_ne!(renew.xid, discover.xid, "a new exchange");
    assert_eq!(c.counters().renewals, 1);

    // The ACK extends the lease from the renewal REQUEST.
    send(&mut c, ms(300_200), &reply(&renew, MessageType::Ack)).unwrap();
    assert_eq!(c.state(), State::Bound);
    let renewed = match events(&mut c).as_slice() {
        [Event::LeaseRenewed(l)] => l.clone(),
        e => panic!("{e:?}"),
    };
    assert_eq!(renewed.acquired_at, ms(300_100));
    assert_eq!(c.poll_at(), Some(ms(600_100)));

    // T1 again, no answer: unicast retries at half the time to T2 (at least 60 s), then
    // broadcast REBINDING at T2, then expiry.
    let mut now = ms(300_200);
    let sent = run_silent(&mut c, &mut now, ms(900_100));
    let summary: Vec<(Instant, Ipv4Addr, Destination, Ipv4Addr)> = sent
        .iter()
        .map(|(t, tx)| (*t, tx.src, tx.dst, parse(tx).ciaddr))
        .collect();
    let unicast = Destination::Unicast(SERVER);
    let bcast = Destination::Broadcast;
    let zero = Ipv4Addr::UNSPECIFIED;
    assert_eq!(
        summary,
        [
            (ms(600_100), ADDR, unicast, ADDR),
            (ms(712_600), ADDR, unicast, ADDR),
            (ms(772_600), ADDR, unicast, ADDR),
            (ms(825_100), ADDR, bcast, ADDR),
            (ms(885_100), ADDR, bcast, ADDR),
            (ms(900_100), zero, bcast, zero),
        ]
    );
    let rebind = parse(&sent[3].1);
    assert_eq!(rebind.message_type, MessageType::Request);
    assert!(is_option_absent(&rebind));
    assert_eq!(parse(&sent[5].1).message_type, MessageType::Discover);
    assert_eq!(events(&mut c), [Event::LeaseLost]);
    assert_eq!(
        c.state(),
        State::Selecting,
        "expired, back to INIT, DISCOVER out"
    );
    assert_eq!(c.lease(), None);
    let n = c.counters();
    assert_eq!((n.renewals, n.rebinds, n.expiries), (2, 1, 1));
    assert_eq!((n.discovers, n.requests, n.offers, n.acks), (2, 7, 1, 2));
}

#[test]
fn nak_while_renewing_restarts_at_init() {
    let mut c = client(2, Config::default());
    let lease = bind(&mut c, ms(0));
    let t1 = lease.renew_at().unwrap();
    let tx = drain(&mut c, t1);
    assert_eq!(c.state(), State::Renewing);
    let renew = parse(&tx[0]);
    send(
        &mut c,
        t1 + Duration::from_secs(1),
        &reply(&renew, MessageType::Nak),
    )
    .unwrap();
    assert_eq!(c.state(), State::Init);
    assert_eq!(c.lease(), None);
    assert_eq!(events(&mut c), [Event::Nak, Event::LeaseLost]);
    assert_eq!(c.counters().naks, 1);
    let tx = drain(&mut c, t1 + Duration::from_secs(1));
    assert_eq!(parse(&tx[0]).message_type, MessageType::Discover);
    assert_eq!(c.state(), State::Selecting);
}

#[test]
fn probe_conflict_declines_and_rediscovers_after_delay() {
    let mut c = client(3, Config::default());
    c.start(ms(0));
    let d = parse(&drain(&mut c, ms(0))[0]);
    send(&mut c, ms(10), &reply(&d, MessageType::Offer)).unwrap();
    let r = parse(&drain(&mut c, ms(10))[0]);
    send(&mut c, ms(20), &reply(&r, MessageType::Ack)).unwrap();
    assert_eq!(events(&mut c), [Event::Probe(ADDR)]);

    c.probe_result(ms(1000), true);
    assert_eq!(c.state(), State::Init);
    assert_eq!(c.lease(), None);
    assert_eq!(events(&mut c), [Event::Declined(ADDR)]);
    let tx = drain(&mut c, ms(1000));
    assert_eq!(tx.len(), 1);
    assert_eq!(
        (tx[0].src, tx[0].dst),
        (Ipv4Addr::UNSPECIFIED, Destination::Broadcast)
    );
    let decline = parse(&tx[0]);
    assert_eq!(decline.message_type, MessageType::Decline);
    assert_eq!(
        (decline.requested_addr, decline.server_id, decline.ciaddr),
        (Some(ADDR), Some(SERVER), Ipv4Addr::UNSPECIFIED)
    );
    assert_eq!(c.counters().declines, 1);

    // RFC 2131 3.1.5: at least ten seconds before starting again.
    assert_eq!(c.poll_at(), Some(ms(11_000)));
    assert!(drain(&mut c, ms(10_999)).is_empty());
    let tx = drain(&mut c, ms(11_000));
    let again = parse(&tx[0]);
    assert_eq!(again.message_type, MessageType::Discover);
    assert_ne!(again.xid, d.xid);
    assert_eq!(c.state(), State::Selecting);
    // A late answer for the abandoned exchange is refused.
    assert_eq!(
        send(&mut c, ms(11_001), &reply(&d, MessageType::Offer)),
        Err(Error::WrongXid)
    );
    // And a second probe result is ignored.
    c.probe_result(ms(11_002), true);
    assert_eq!(c.counters().declines, 1);
}

#[test]
fn discover_backoff_stays_within_bounds() {
    for seed in 0..40 {
        let mut c = client(seed, Config::default());
        c.start(ms(0));
        let mut now = ms(0);
        let sent = run_silent(&mut c, &mut now, Instant::from_secs(400));
        assert!(sent.len() >= 8, "{}", sent.len());
        assert!(sent
            .iter()
            .all(|(_, tx)| parse(tx).message_type == MessageType::Discover));
        let xid = parse(&sent[0].1).xid;
        assert!(sent.iter().all(|(_, tx)| parse(tx).xid == xid), "one xid");
        for (i, w) in sent.windows(2).enumerate() {
            let gap = w[1].0.saturating_duration_since(w[0].0);
            let nominal = Duration::from_secs(4 << i.min(4));
            let jitter = Duration::from_secs(1);
            assert!(
                gap >= nominal - jitter && gap <= nominal + jitter,
                "seed {seed} retransmission {i}: {gap:?}"
            );
        }
        // `secs` counts from the first DISCOVER.
        let last = &sent[sent.len() - 1];
        assert_eq!(
            u64::from(parse(&last.1).secs),
            last.0.saturating_duration_since(ms(0)).as_secs()
        );
    }
}

#[test]
fn lost_requests_then_back_to_init_and_duplicates_ignored() {
    let mut c = client(4, Config::default());
    c.start(ms(0));
    let d = parse(&drain(&mut c, ms(0))[0]);
    let offer = reply(&d, MessageType::Offer);
    send(&mut c, ms(50), &offer).unwrap();
    assert_eq!(drain(&mut c, ms(50)).len(), 1);
    // A duplicate OFFER changes nothing and sends nothing.
    assert_eq!(send(&mut c, ms(60), &offer), Err(Error::Unexpected));
    assert!(drain(&mut c, ms(60)).is_empty());
    assert_eq!(c.counters().offers, 1);

    // Nobody answers the REQUEST: retransmissions with backoff, then INIT.
    let mut now = ms(60);
    let sent = run_silent(&mut c, &mut now, Instant::from_secs(70));
    let kinds: Vec<MessageType> = sent.iter().map(|(_, tx)| parse(tx).message_type).collect();
    assert_eq!(
        kinds,
        [
            MessageType::Request,
            MessageType::Request,
            MessageType::Request,
            MessageType::Discover,
            MessageType::Discover,
        ]
    );
    let gaps: Vec<Duration> = std::iter::once(ms(50))
        .chain(sent.iter().map(|(t, _)| *t))
        .collect::<Vec<_>>()
        .windows(2)
        .map(|w| w[1].saturating_duration_since(w[0]))
        .collect();
    for (gap, nominal) in gaps.iter().zip([4u64, 8, 16, 32, 4]) {
        let n = Duration::from_secs(nominal);
        assert!(*gap >= n - Duration::from_secs(1) && *gap <= n + Duration::from_secs(1));
    }
    assert_eq!(c.counters().requests, 4);
    assert_eq!(c.state(), State::Selecting);

    // Now answer: duplicated ACKs are ignored in probing and in BOUND.
    let d = parse(&sent[4].1);
    send(&mut c, now, &reply(&d, MessageType::Offer)).unwrap();
    let r = parse(&drain(&mut c, now)[0]);
    let ack = reply(&r, MessageType::Ack);
    send(&mut c, now, &ack).unwrap();
    assert_eq!(send(&mut c, now, &ack), Err(Error::Unexpected));
    assert_eq!(events(&mut c), [Event::Probe(ADDR)]);
    c.probe_result(now, false);
    assert_eq!(send(&mut c, now, &ack), Err(Error::Unexpected));
    assert_eq!(c.state(), State::Bound);
    assert_eq!(c.counters().acks, 1);
    assert_eq!(c.counters().rejected.unexpected, 3);
    assert!(drain(&mut c, now).is_empty());
}

#[test]
fn init_reboot_asks_for_the_known_address() {
    let config = Config {
        requested_addr: Some(ADDR),
        ..Config::default()
    };
    let mut c = client(5, config.clone());
    c.start(ms(0));
    assert_eq!(c.state(), State::InitReboot);
    let tx = drain(&mut c, ms(0));
    assert_eq!(c.state(), State::Rebooting);
    assert_eq!(tx[0].dst, Destination::Broadcast);
    let r = parse(&tx[0]);
    assert_eq!(r.message_type, MessageType::Request);
    assert_eq!(
        (r.requested_addr, r.server_id, r.ciaddr),
        (Some(ADDR), None, Ipv4Addr::UNSPECIFIED)
    );
    assert!(r.broadcast);
    send(&mut c, ms(30), &reply(&r, MessageType::Ack)).unwrap();
    assert_eq!(events(&mut c), [Event::Probe(ADDR)]);
    c.probe_result(ms(1030), false);
    assert_eq!(c.state(), State::Bound);
    assert_eq!(c.lease().map(|l| l.addr.addr()), Some(ADDR));

    // Refused: INIT, then a DISCOVER.
    let mut c = client(6, config.clone());
    c.start(ms(0));
    let r = parse(&drain(&mut c, ms(0))[0]);
    send(&mut c, ms(30), &reply(&r, MessageType::Nak)).unwrap();
    assert_eq!(events(&mut c), [Event::Nak]);
    assert_eq!(c.state(), State::Init);
    assert_eq!(
        parse(&drain(&mut c, ms(30))[0]).message_type,
        MessageType::Discover
    );

    // Unanswered: four REQUESTs, then INIT.
    let mut c = client(7, config);
    c.start(ms(0));
    let mut now = ms(0);
    let sent = run_silent(&mut c, &mut now, Instant::from_secs(62));
    let kinds: Vec<MessageType> = sent.iter().map(|(_, tx)| parse(tx).message_type).collect();
    assert_eq!(kinds[..4], [MessageType::Request; 4]);
    assert_eq!(kinds[4], MessageType::Discover);
}

#[test]
fn malformed_replies_are_rejected_without_state_change() {
    let mut c = client(8, Config::default());
    c.start(ms(0));
    let d = parse(&drain(&mut c, ms(0))[0]);
    let offer = reply(&d, MessageType::Offer);
    let good = offer.to_bytes();

    let with_options = |opts: &[u8]| {
        let mut b = good[..240].to_vec();
        b.extend_from_slice(opts);
        b
    };
    let mut bad_cookie = good.clone();
    bad_cookie[239] = 0x64;
    let mut wrong_xid = offer.clone();
    wrong_xid.xid ^= 1;
    let mut wrong_chaddr = offer.clone();
    wrong_chaddr.chaddr = MacAddr([2, 0, 0, 0, 0, 0x43]);
    let mut wrong_op = offer.clone();
    wrong_op.op = Op::Request;
    let mut no_server = offer.clone();
    no_server.server_id = None;
    let mut zero_addr = offer.clone();
    zero_addr.yiaddr = Ipv4Addr::UNSPECIFIED;
    let ack = reply(&d, MessageType::Ack);

    let cases: Vec<(Vec<u8>, Error)> = vec![
        (
            good[..239].to_vec(),
            Error::Malformed(ParseError::Truncated),
        ),
        (bad_cookie, Error::Malformed(ParseError::BadCookie)),
        (
            with_options(&[53, 1, 2, 54, 40, 192, 168, 1, 1]),
            Error::Malformed(ParseError::OptionTruncated),
        ),
        (
            with_options(&[54, 4, 192, 168, 1, 1, 255]),
            Error::Malformed(ParseError::MissingMessageType),
        ),
        (
            with_options(&[53, 1, 2, 52, 1, 3, 255]),
            Error::Malformed(ParseError::Overload),
        ),
        (wrong_xid.to_bytes(), Error::WrongXid),
        (wrong_chaddr.to_bytes(), Error::WrongChaddr),
        (wrong_op.to_bytes(), Error::WrongOp),
        (no_server.to_bytes(), Error::MissingServerId),
        (zero_addr.to_bytes(), Error::BadAddress),
        (ack.to_bytes(), Error::Unexpected),
    ];
    for (bytes, err) in &cases {
        let deadline = c.poll_at();
        assert_eq!(c.receive(ms(10), bytes, SERVER), Err(*err));
        assert_eq!(c.state(), State::Selecting, "{err:?}");
        assert_eq!(c.poll_at(), deadline, "{err:?}");
        assert!(drain(&mut c, ms(10)).is_empty(), "{err:?}");
        assert!(events(&mut c).is_empty(), "{err:?}");
        assert_eq!(c.counters().rejected.get(*err), 1, "{err:?}");
    }
    assert_eq!(c.counters().offers, 0);
    // The real offer still works.
    send(&mut c, ms(20), &offer).unwrap();
    assert_eq!(c.state(), State::Requesting);

    // Acknowledgements need a lease time and the selected server.
    let r = parse(&drain(&mut c, ms(20))[0]);
    let mut no_lease = reply(&r, MessageType::Ack);
    no_lease.lease_time = None;
    assert_eq!(
        send(&mut c, ms(30), &no_lease),
        Err(Error::MissingLeaseTime)
    );
    let mut other = reply(&r, MessageType::Ack);
    other.server_id = Some(Ipv4Addr::new(192, 168, 1, 2));
    assert_eq!(send(&mut c, ms(30), &other), Err(Error::WrongServer));
    assert_eq!(c.state(), State::Requesting);
    assert_eq!(c.counters().acks, 0);
}

#[test]
fn server_times_and_infinite_leases() {
    let mut ack = Repr::new(Op::Reply, MessageType::Ack, 1, MAC);
    ack.yiaddr = Ipv4Addr::new(10, 1, 2, 3);
    ack.renewal_time = Some(100);
    ack.rebinding_time = Some(200);
    let l = make_lease(&ack, SERVER, 1000, ms(0)).unwrap();
    assert_eq!(l.addr.prefix(), 8, "classful without a mask");
    assert_eq!(
        (l.t1, l.t2),
        (
            Some(Duration::from_secs(100)),
            Some(Duration::from_secs(200))
        )
    );
    // T2 beyond the lease: both fall back to the defaults.
    ack.rebinding_time = Some(2000);
    ack.renewal_time = Some(1500);
    let l = make_lease(&ack, SERVER, 1000, ms(0)).unwrap();
    assert_eq!(
        (l.t1, l.t2),
        (
            Some(Duration::from_secs(500)),
            Some(Duration::from_secs(875))
        )
    );
    let l = make_lease(&ack, SERVER, u32::MAX, ms(0)).unwrap();
    assert_eq!(
        (l.lease_time, l.renew_at(), l.expires_at()),
        (None, None, None)
    );
}

#[test]
fn release_unicasts_to_the_server_and_stops() {
    let mut c = client(9, Config::default());
    bind(&mut c, ms(0));
    c.release(ms(5000));
    assert_eq!(c.state(), State::Stopped);
    assert_eq!(c.lease(), None);
    assert_eq!(events(&mut c), [Event::LeaseLost]);
    let tx = drain(&mut c, ms(5000));
    assert_eq!(tx.len(), 1);
    assert_eq!((tx[0].src, tx[0].dst), (ADDR, Destination::Unicast(SERVER)));
    let r = parse(&tx[0]);
    assert_eq!(r.message_type, MessageType::Release);
    assert_eq!((r.ciaddr, r.server_id), (ADDR, Some(SERVER)));
    assert_eq!(c.counters().releases, 1);
    assert_eq!(c.poll_at(), None);
    c.start(ms(6000));
    assert_eq!(c.state(), State::Init);
}

#[test]
fn random_mutations_of_an_ack_never_panic() {
    let mut base = client(10, Config::default());
    base.start(ms(0));
    let d = parse(&drain(&mut base, ms(0))[0]);
    send(&mut base, ms(1), &reply(&d, MessageType::Offer)).unwrap();
    let r = parse(&drain(&mut base, ms(1))[0]);
    let mut ack = reply(&r, MessageType::Ack);
    ack.hostname = Some("srv".into());
    ack.renewal_time = Some(10);
    ack.rebinding_time = Some(20);
    let good = ack.to_bytes();

    let mut rng = Rng::new(42, "mutations");
    let mut accepted = 0;
    for _ in 0..5000 {
        let mut b = good.clone();
        for _ in 0..=rng.below(4) {
            let i = rng.below(b.len() as u64) as usize;
            match rng.below(4) {
                0 => b[i] = rng.next_u32() as u8,
                1 => b[i] ^= 1 << rng.below(8),
                2 => b.truncate(i),
                _ => b.insert(i, rng.next_u32() as u8),
            }
            if b.is_empty() {
                break;
            }
        }
        let _ = Repr::parse_bytes(&b);
        let mut c = base.clone();
        match c.receive(ms(2), &b, SERVER) {
            Ok(()) => {
                accepted += 1;
                c.probe_result(ms(3), false);
                let mut now = ms(3);
                run_silent(&mut c, &mut now, Instant::from_secs(5_000));
            }
            Err(_) => assert_eq!(c.state(), State::Requesting),
        }
    }
    assert!(accepted > 0, "some mutations keep the ACK valid");
}

/// The same scripted exchange (a lost DISCOVER, a lost REQUEST, renewal, silent expiry).
fn scripted_run(seed: u64) -> Vec<(Instant, Transmit)> {
    let mut c = client(seed, Config::default());
    c.start(ms(0));
    let mut now = ms(0);
    let mut log = Vec::new();
    let mut answered = 0;
    for _ in 0..200 {
        let Some(at) = c.poll_at() else { break };
        if at > Instant::from_secs(2000) {
            break;
        }
        now = now.max(at);
        for tx in drain(&mut c, now) {
            let req = parse(&tx);
            log.push((now, tx));
            answered += 1;
            let answer = match (req.message_type, answered) {
                (_, 1 | 3) => None, // lost
                (MessageType::Discover, _) => Some(MessageType::Offer),
                (MessageType::Request, n) if n < 6 => Some(MessageType::Ack),
                _ => None,
            };
            if let Some(t) = answer {
                let _ = send(&mut c, now + Duration::from_millis(5), &reply(&req, t));
            }
        }
        for e in events(&mut c) {
            if let Event::Probe(_) = e {
                c.probe_result(now + Duration::from_secs(1), false);
            }
        }
    }
    log
}

#[test]
fn same_seed_same_transmissions() {
    let a = scripted_run(77);
    let b = scripted_run(77);
    assert!(a.len() > 8, "{}", a.len());
    assert_eq!(a, b);
    assert_ne!(a, scripted_run(78));
}

#[test]
fn long_hostnames_are_cut_on_a_character_boundary() {
    let mut c = Client::new(MAC, Some("é".repeat(200)), 11, Config::default());
    c.start(ms(0));
    let d = parse(&drain(&mut c, ms(0))[0]);
    let name = d.hostname.unwrap();
    assert_eq!(name.len(), 254);
    assert!(name.chars().all(|ch| ch == 'é'));
}
