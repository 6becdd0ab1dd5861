//! What a replay says when it ends: the summary (text or JSON) and the differences from
//! `--expect`.

use super::run::short_seconds;
use super::*;

/// The summary of `print_summary` as one JSON object.
pub(super) fn summary_json(
    args: &ReplayArgs,
    setup: &Setup,
    replay: &Driver,
    filtered: u64,
) -> Object {
    let r = replay.report();
    let stats = replay.host().iface().stats();
    let c = &setup.config;
    let mut stack = Object::new();
    stack
        .put("ipv4", c.ipv4.map(|a| a.to_string()))
        .put("dhcp", c.dhcp.is_some())
        .put(
            "ipv6",
            c.ipv6
                .as_ref()
                .and_then(|v| v.addresses.first())
                .map(|a| a.to_string()),
        )
        .put("mac", c.mac.to_string())
        .put("mtu", c.mtu)
        .put("seed", c.seed)
        .put("arp_probes", c.arp.probe_count);
    let mut skipped = Object::new();
    skipped
        .put("outbound", r.skipped_outbound)
        .put("own_mac", r.skipped_own_mac)
        .put("truncated", r.skipped_truncated)
        .put("filter", filtered);
    let mut drops = Object::new();
    for (reason, n) in stats.nonzero_drops() {
        drops.put(&reason.to_string(), n);
    }
    let mut counters = Object::new();
    for (name, v) in stats.counters() {
        if v > 0 && name != "drop_reasons" && name != "rx_dropped" {
            counters.put(name, v);
        }
    }
    let events: Vec<Value> = r
        .events
        .iter()
        .map(|(t, e)| {
            let mut o = Object::new();
            o.put("at", t.to_string()).put("event", format!("{e:?}"));
            Value::from(o)
        })
        .collect();
    let mut o = Object::new();
    o.put("input", args.input.display().to_string())
        .put(
            "identity",
            setup.file.as_ref().map(|p| p.display().to_string()),
        )
        .put("stack", stack)
        .put(
            "services",
            setup
                .services
                .iter()
                .map(|s| Value::from(s.name()))
                .collect::<Vec<_>>(),
        )
        .put("filter", args.filter.clone())
        .put("virtual_seconds", Value::Raw(short_seconds(r.duration)))
        .put("timer_polls", r.timer_polls)
        .put("records", r.records)
        .put("fed", r.fed)
        .put("sent", r.sent)
        .put("skipped", skipped)
        .put("drops", drops)
        .put("counters", counters)
        .put("events", events);
    o
}

pub(super) fn print_summary(args: &ReplayArgs, setup: &Setup, replay: &Driver) {
    let r = replay.report();
    let stats = replay.host().iface().stats();
    let c = &setup.config;
    let config = setup.file.as_ref().map_or_else(
        || "flags and defaults".to_owned(),
        |p| p.display().to_string(),
    );
    println!(
        "tapstack replay: {} (identity from {config})",
        args.input.display()
    );
    let addr = match (c.ipv4, &c.dhcp) {
        (_, Some(_)) => "address by DHCP".to_owned(),
        (Some(a), None) => a.to_string(),
        (None, None) => "no IPv4".to_owned(),
    };
    let addr = match c.ipv6.as_ref().and_then(|v| v.addresses.first()) {
        Some(a6) => format!("{addr} and {a6}"),
        None => addr,
    };
    println!(
        "  stack        {addr}, MAC {}, MTU {}, seed {}, ARP probes {}",
        c.mac, c.mtu, c.seed, c.arp.probe_count
    );
    let names: Vec<&str> = setup.services.iter().map(|s| s.name()).collect();
    println!(
        "  services     {}",
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        }
    );
    let mut time = format!("{} s virtual", short_seconds(r.duration));
    if !setup.options.first_frame_at.is_zero() {
        let at = short_seconds(setup.options.first_frame_at);
        let _ = write!(time, " (first record at {at} s)");
    }
    if !setup.options.linger.is_zero() {
        let linger = short_seconds(setup.options.linger);
        let _ = write!(time, " (with {linger} s linger)");
    }
    println!("  time         {time}, {} timer polls", r.timer_polls);
    println!("  records      {} read", r.records);
    println!("  frames in    {} fed to the stack", r.fed);
    println!("  frames out   {} sent by the stack", r.sent);
    if r.primed > 0 {
        println!(
            "  primed       {} ARP requests or neighbour solicitations for senders with no MAC",
            r.primed
        );
    }
    let mut skipped = Vec::new();
    if r.skipped_outbound > 0 {
        skipped.push(format!(
            "{} marked outbound (the stack sends its own again)",
            r.skipped_outbound
        ));
    }
    if r.skipped_own_mac > 0 {
        skipped.push(format!("{} from the stack's MAC", r.skipped_own_mac));
    }
    if r.skipped_truncated > 0 {
        skipped.push(format!("{} cut short by the snaplen", r.skipped_truncated));
    }
    if r.skipped_bad_fcs > 0 {
        skipped.push(format!("{} with a wrong FCS", r.skipped_bad_fcs));
    }
    if r.skipped_bad_link > 0 {
        skipped.push(format!(
            "{} with an unreadable link header",
            r.skipped_bad_link
        ));
    }
    if r.skipped_not_ip > 0 {
        skipped.push(format!("{} not IP (IP medium)", r.skipped_not_ip));
    }
    if skipped.is_empty() {
        println!("  skipped      none");
    } else {
        println!("  skipped      {}: {}", r.skipped(), skipped.join(", "));
    }
    let drops: Vec<String> = stats
        .nonzero_drops()
        .map(|(reason, n)| format!("{reason}={n}"))
        .collect();
    if drops.is_empty() {
        println!("  drops        none");
    } else {
        println!(
            "  drops        {}: {}",
            stats.total_drops(),
            drops.join(" ")
        );
    }
    let counters: Vec<String> = stats
        .counters()
        .iter()
        .filter(|(name, v)| *v > 0 && *name != "drop_reasons" && *name != "rx_dropped")
        .map(|(name, v)| format!("{name}={v}"))
        .collect();
    println!("  counters     {}", counters.join(" "));
    if r.time_went_back > 0 {
        println!(
            "  note         {} records stamped earlier than the one before (fed in order)",
            r.time_went_back
        );
    }
    if r.stalled_timers > 0 {
        println!(
            "  note         {} times a deadline stayed due after {} polls; time moved on",
            r.stalled_timers, 64
        );
    }
    for (t, e) in &r.events {
        let what = match *e {
            Event::AddressReady(a) => format!("{a} is in use"),
            Event::AddressConflict { addr, mac } => format!("{mac} also claims {addr}"),
            Event::AddressRejected { addr, mac } => {
                format!("{addr} not taken into use: {mac} has it")
            }
            Event::NeighbourUnreachable(a) => format!("{a} did not answer ARP"),
            Event::LeaseAcquired { addr, server } => format!("leased {addr} from {server}"),
            Event::LeaseRenewed { addr, server } => format!("lease on {addr} renewed by {server}"),
            Event::LeaseLost(a) => format!("{a} no longer leased"),
            Event::LeaseDeclined(a) => format!("declined {a}: another host has it"),
            Event::Ipv6AddressReady(a) => format!("{a} is in use"),
            Event::Ipv6AddressDuplicate { addr, mac } => {
                format!("{addr} not taken into use: {mac} has it")
            }
            Event::Ipv6AddressConflict { addr, mac } => format!("{mac} also claims {addr}"),
            Event::Ipv6AddressExpired(a) => format!("{a} expired"),
            Event::Ipv6NeighbourUnreachable(a) => format!("{a} did not answer NDP"),
        };
        println!("  event        at {t}: {what}");
    }
}

pub(super) fn print_diff(
    path: &Path,
    expected: &[Record],
    got: &[Record],
    diffs: &[Difference],
    max: usize,
) {
    let e0 = expected.first().map_or(Duration::ZERO, |r| r.timestamp);
    let g0 = got.first().map_or(Duration::ZERO, |r| r.timestamp);
    println!("--- expected {}", path.display());
    println!("+++ replay output");
    let line = |records: &[Record], origin: Duration, i: usize| -> String {
        records.get(i).map_or_else(String::new, |r| {
            dump::line(i + 1, r.timestamp.saturating_sub(origin), r.direction, r)
        })
    };
    for d in diffs.iter().take(max) {
        match d {
            Difference::Changed {
                expected: i,
                got: j,
                first,
            } => {
                println!("frame {} differs:", j + 1);
                println!("  - {}", line(expected, e0, *i));
                println!("  + {}", line(got, g0, *j));
                println!("  first difference: {first}");
            }
            Difference::Missing { expected: i } => {
                println!("frame missing (expected #{}):", i + 1);
                println!("  - {}", line(expected, e0, *i));
            }
            Difference::Extra { got: j } => {
                println!("frame not expected (ours #{}):", j + 1);
                println!("  + {}", line(got, g0, *j));
            }
        }
    }
    if diffs.len() > max {
        println!(
            "... and {} more (--max-diffs shows more)",
            diffs.len() - max
        );
    }
}
