//! `tapstack up`: the virtual host on a TAP device, or with `--tun` on a TUN device.

use std::net::Ipv4Addr;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Args;

use tapstack::device::capture::{CaptureWriter, Format};
use tapstack::device::impair::ImpairConfig;
use tapstack::device::tap::{OffloadMode, Tap};
use tapstack::device::Medium;
use tapstack::host::Services;
use tapstack::runtime::{self, Ending, RunOptions};
use tapstack::tcp::congestion::Algorithm;
use tapstack::{Config, Event, Host, Interface, Ipv4Cidr, Ipv6Cidr, Ipv6Config, MacAddr};

/// TCP congestion control, as the command line names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Congestion {
    /// NewReno (RFC 5681, RFC 6582).
    Newreno,
    /// CUBIC (RFC 9438).
    Cubic,
    /// BBR: a model of the path's bandwidth and RTT; random loss does not shrink the window.
    Bbr,
}

/// The device's offloads, as the command line names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Offload {
    /// When the kernel offers them.
    Auto,
    /// Always; fail if the kernel refuses.
    On,
    /// Never: plain frames, every segment cut by the stack.
    Off,
}

impl From<Offload> for OffloadMode {
    fn from(o: Offload) -> OffloadMode {
        match o {
            Offload::Auto => OffloadMode::Auto,
            Offload::On => OffloadMode::On,
            Offload::Off => OffloadMode::Off,
        }
    }
}

/// Options of `tapstack up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Device to create (or attach to, if it exists): a TAP device, or a TUN device with --tun
    /// (default tap0, or tun0 with --tun). `--tap NAME` is the same flag.
    #[arg(long = "dev", visible_alias = "tap", value_name = "NAME")]
    tap: Option<String>,
    /// Run on a TUN device instead of TAP: bare IP packets, a point-to-point link with no ARP
    /// or neighbour discovery (the kernel side gets --host-ip with the stack as its peer).
    #[arg(long)]
    tun: bool,
    /// The stack's own IPv4 address and prefix.
    #[arg(long, default_value = "10.77.0.2/24", conflicts_with = "dhcp")]
    ip: Ipv4Cidr,
    /// Get the address (and router, DNS servers) from a DHCP server on the link instead of --ip;
    /// the lease is given back on Ctrl-C.
    #[arg(long)]
    dhcp: bool,
    /// With --dhcp: ask for this address again first (INIT-REBOOT, RFC 2131 3.2).
    #[arg(long, value_name = "ADDR", requires = "dhcp")]
    dhcp_reuse: Option<Ipv4Addr>,
    /// Address and prefix given to the kernel side of the TAP device.
    #[arg(long, default_value = "10.77.0.1/24")]
    host_ip: Ipv4Cidr,
    /// The stack's own static IPv6 address and prefix (besides its link-local address and any
    /// address formed from router advertisements).
    #[arg(long, default_value = "fd77::2/64")]
    ip6: Ipv6Cidr,
    /// IPv6 address and prefix given to the kernel side of the TAP device.
    #[arg(long, default_value = "fd77::1/64")]
    host_ip6: Ipv6Cidr,
    /// Turn IPv6 off: IPv6 frames are dropped and no IPv6 address is configured.
    #[arg(long, conflicts_with_all = ["ip6", "host_ip6"])]
    no_ip6: bool,
    /// Leave the kernel side of the TAP device as it is (no address, MTU or link changes).
    #[arg(long)]
    no_host_config: bool,
    /// Default router for destinations off the subnet.
    #[arg(long)]
    gateway: Option<Ipv4Addr>,
    /// The stack's MAC address (default: 02:00 followed by the IPv4 address).
    #[arg(long)]
    mac: Option<MacAddr>,
    /// IP MTU of the link.
    #[arg(long, default_value_t = 1500)]
    mtu: usize,
    /// Write every frame in and out to this file (.pcapng marks direction; anything else is
    /// pcap); "-" writes pcapng to standard output, flushed after every batch of frames, for a
    /// live view (`tapstack up --pcap - | wireshark -k -i -`); all other output then goes to
    /// standard error.
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
    /// Seed for every random choice (default: a fresh one from the OS random source, printed at
    /// start).
    #[arg(long)]
    seed: Option<u64>,
    /// Inject faults in both directions, e.g. loss=5%,reorder=10%,dup=1%,delay=5ms,corrupt=0.1%,
    /// jitter=1ms,rate=10mbit,gemodel=1%/30%[/100%[/0%]] (netem's loss gemodel p r 1-h 1-k).
    #[arg(long, value_name = "SPEC")]
    impair: Option<ImpairConfig>,
    /// Faults for the frames the stack receives only (instead of --impair's).
    #[arg(long, value_name = "SPEC", value_parser = boxed_impair)]
    impair_in: Option<Box<ImpairConfig>>,
    /// Faults for the frames the stack sends only (instead of --impair's).
    #[arg(long, value_name = "SPEC", value_parser = boxed_impair)]
    impair_out: Option<Box<ImpairConfig>>,
    /// ARP probes before using the address (RFC 5227); 0 skips conflict detection at start.
    #[arg(long, default_value_t = 2)]
    arp_probes: u32,
    /// The virtio-net header's offloads on the device: the kernel hands over 64 KB runs of TCP
    /// segments and checked checksums, and cuts the stack's 64 KB segments to the MTU (auto:
    /// when the kernel offers them). Off gives the exact per-segment wire in the capture.
    #[arg(long, value_enum, default_value_t = Offload::Auto)]
    offload: Offload,
    /// Spin this long (e.g. 50us) reading the device before each wait sleeps: lower latency
    /// for a core kept busy.
    #[arg(long, value_name = "DURATION", value_parser = tapstack::device::impair::parse_duration)]
    busy_poll: Option<std::time::Duration>,
    /// TCP congestion control of new connections.
    #[arg(long, value_enum, default_value_t = Congestion::Bbr)]
    congestion: Congestion,
    /// Seconds a TCP connection the services have closed may wait in FIN-WAIT-2 for the peer's
    /// FIN before it is dropped (Linux's tcp_fin_timeout).
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    tcp_fin_timeout: u64,
    /// Memory all TCP connections' send and receive buffers may hold together, in bytes with an
    /// optional K, M or G suffix (powers of 1024), e.g. 64M. Under pressure windows shrink and
    /// out-of-order data is dropped first; /stats shows the use.
    #[arg(long, value_name = "SIZE", default_value = "256M", value_parser = parse_size)]
    tcp_memory: usize,
    /// The host's DNS name: the zone the DNS server answers for (--hostname is another name
    /// for it).
    #[arg(
        long = "dns-name",
        alias = "hostname",
        value_name = "NAME",
        default_value = "tapstack.test"
    )]
    hostname: String,
    /// The host name sent to a DHCP server [default: the first label of --dns-name].
    #[arg(long, value_name = "NAME")]
    dhcp_name: Option<String>,
    /// More DNS records from a zone file (a subset of the RFC 1035 master-file format).
    #[arg(long, value_name = "FILE")]
    zone: Option<PathBuf>,
    /// One more DNS record, NAME=ADDR (repeatable), e.g. --dns-record www=10.77.0.2.
    #[arg(long = "dns-record", value_name = "NAME=ADDR")]
    dns_records: Vec<String>,
    /// Serve the files under DIR over HTTP (besides /, /stats, /bytes/N and /upload).
    #[arg(long, value_name = "DIR")]
    www: Option<PathBuf>,
    #[command(flatten)]
    pub log: crate::log::Verbosity,
}

/// A size in bytes: digits with an optional K, M or G suffix (powers of 1024).
fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let (digits, shift) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 10),
        Some((i, 'm' | 'M')) => (&t[..i], 20),
        Some((i, 'g' | 'G')) => (&t[..i], 30),
        _ => (t, 0),
    };
    let n: usize = digits
        .parse()
        .map_err(|_| format!("'{s}' is not a size (digits with an optional K, M or G)"))?;
    n.checked_mul(1usize << shift)
        .filter(|&b| b >= 64 * 1024)
        .ok_or_else(|| format!("'{s}' is out of range (64K or more)"))
}

/// A fresh seed from the kernel's random source (getrandom(2)); the time and process id only if
/// that fails (a kernel older than 3.17), so a live stack's ISNs and cookie secret are not
/// guessable from when it started.
fn fresh_seed() -> u64 {
    let mut buf = [0u8; 8];
    // SAFETY: `buf` is valid for writes of its length for the duration of the call.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    if usize::try_from(n).ok() == Some(buf.len()) {
        return u64::from_ne_bytes(buf);
    }
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (t.as_nanos() as u64) ^ (u64::from(std::process::id()) << 32)
}

/// Checks the addresses against each other before anything touches the system.
fn check_addresses(args: &UpArgs) -> Result<()> {
    if args.no_host_config || args.dhcp {
        return Ok(());
    }
    let (ours, host) = (args.ip, args.host_ip);
    if ours.addr() == host.addr() {
        bail!(
            "--ip and --host-ip are both {}: the stack and the kernel need different addresses",
            ours.addr()
        );
    }
    if !ours.contains(host.addr()) || ours.prefix() != host.prefix() {
        bail!(
            "--host-ip {host} is not in the stack's subnet {}/{}",
            ours.network(),
            ours.prefix()
        );
    }
    if !args.no_ip6 {
        let (ours, host) = (args.ip6, args.host_ip6);
        if ours.addr() == host.addr() {
            bail!(
                "--ip6 and --host-ip6 are both {}: the stack and the kernel need different addresses",
                ours.addr()
            );
        }
        if !ours.contains(host.addr()) || ours.prefix() != host.prefix() {
            bail!(
                "--host-ip6 {host} is not in the stack's prefix {}/{}",
                ours.network(),
                ours.prefix()
            );
        }
    }
    Ok(())
}

pub fn run(args: UpArgs) -> Result<ExitCode> {
    if args.tun && args.dhcp {
        bail!("--dhcp does not work with --tun: a TUN device has no broadcast link to find a DHCP server on (give --ip instead)");
    }
    check_addresses(&args)?;
    let medium = if args.tun {
        Medium::Ip
    } else {
        Medium::Ethernet
    };
    let dev_name = args
        .tap
        .clone()
        .unwrap_or_else(|| if args.tun { "tun0" } else { "tap0" }.to_owned());
    let seed = args.seed.unwrap_or_else(fresh_seed);
    let o = args.ip.addr().octets();
    let mac = args
        .mac
        .unwrap_or(MacAddr([0x02, 0x00, o[0], o[1], o[2], o[3]]));
    let mut config = Config::new(mac, (!args.dhcp).then_some(args.ip));
    config.medium = medium;
    config.gateway = args.gateway;
    if args.dhcp {
        if let Some(gw) = args.gateway {
            bail!("--gateway {gw} and --dhcp exclude each other: the lease names the router");
        }
        config.dhcp = Some(tapstack::dhcp::Config {
            requested_addr: args.dhcp_reuse,
            ..Default::default()
        });
    }
    config.hostname = crate::replay::dhcp_name(args.dhcp_name.as_deref(), &args.hostname);
    config.mtu = args.mtu;
    config.seed = seed;
    config.arp.probe_count = args.arp_probes;
    if !args.no_ip6 {
        config.ipv6 = Some(Ipv6Config {
            addresses: vec![args.ip6],
            ..Ipv6Config::default()
        });
    }
    config.tcp.congestion = match args.congestion {
        Congestion::Newreno => Algorithm::NewReno,
        Congestion::Cubic => Algorithm::Cubic,
        Congestion::Bbr => Algorithm::Bbr,
    };
    config.tcp.fin_timeout = std::time::Duration::from_secs(args.tcp_fin_timeout);
    config.tcp.memory = args.tcp_memory;
    let iface = Interface::new(config).context("bad configuration")?;
    let zone = match &args.zone {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read zone file {}", path.display()))?,
        ),
        None => None,
    };
    if let Some(dir) = &args.www {
        if !dir.is_dir() {
            bail!("--www {} is not a directory", dir.display());
        }
    }
    let services = Services {
        hostname: args.hostname.clone(),
        zone,
        dns_records: args.dns_records.clone(),
        http: tapstack::services::http::Config {
            www: args.www.clone(),
            ..Default::default()
        },
    };
    let mut host = Host::with_services(iface, &services).context("starting services")?;

    let tap = match medium {
        Medium::Ethernet => Tap::open_with(&dev_name, args.offload.into())?,
        Medium::Ip => tapstack::device::tun::open_with(&dev_name, args.offload.into())?,
    };
    let tap_name = tap.name().to_owned();
    // Why the kernel side has no IPv6 address, if it has none.
    let mut host6_missing = None;
    if !args.no_host_config {
        tap.configure_host(Some(args.host_ip), args.mtu)
            .with_context(|| {
                format!(
                    "configuring the kernel side of {tap_name} (without root or CAP_NET_ADMIN: \
                     configure it yourself with `ip` and pass --no-host-config)"
                )
            })?;
        if args.tun {
            // Point-to-point: the stack is the kernel side's peer (`ip addr add A peer B`).
            tap.configure_peer(args.ip.addr())?;
        }
        if !args.no_ip6 {
            // IPv6 may be disabled on the kernel side (net.ipv6.conf.*.disable_ipv6, "permission
            // denied"): the stack still speaks it, the kernel just has no address there.
            if let Err(e) = tap.configure_host6(args.host_ip6) {
                host6_missing = Some(e.to_string());
            }
        }
    }
    let capture = match &args.pcap {
        Some(path) if crate::live::is_stdout(path) => {
            Some(crate::live::capture(&tap_name, medium)?)
        }
        Some(path) => Some(
            CaptureWriter::create_for(path, &tap_name, medium)
                .with_context(|| format!("cannot write capture {}", path.display()))?,
        ),
        None => None,
    };
    let offloads = tap.negotiated().describe();
    let io = tap.spawn()?;

    let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(1);
    ctrlc::set_handler(move || {
        let _ = stop_tx.try_send(());
    })
    .context("installing the Ctrl-C handler")?;

    let addr = args.ip.addr();
    if args.tun {
        println!("tapstack: virtual host on TUN device {tap_name} (IP packets, point-to-point)");
        println!("  stack address  {} (MTU {})", args.ip, args.mtu);
    } else if args.dhcp {
        println!("tapstack: virtual host on {tap_name}");
        println!("  stack address  from DHCP (MAC {mac}, MTU {})", args.mtu);
    } else {
        println!("tapstack: virtual host on {tap_name}");
        println!("  stack address  {} (MAC {mac}, MTU {})", args.ip, args.mtu);
    }
    let link_local = tapstack::ipv6::link_local_from_mac(mac);
    if args.no_ip6 {
        println!("  IPv6           off");
    } else if args.tun {
        let link_local = host
            .iface()
            .ipv6_addresses()
            .iter()
            .find(|a| a.origin == tapstack::iface::Ipv6Origin::LinkLocal)
            .map(|a| a.cidr.addr());
        if let Some(ll) = link_local {
            println!(
                "  IPv6 address   {} and {ll}%{tap_name} (no duplicate address detection on a point-to-point link)",
                args.ip6
            );
        }
    } else {
        println!(
            "  IPv6 address   {} and {link_local}%{tap_name} (after duplicate address detection)",
            args.ip6
        );
    }
    if args.no_host_config {
        println!("  kernel side    left as configured");
    } else if args.tun {
        let v6 = match &host6_missing {
            _ if args.no_ip6 => String::new(),
            Some(why) => format!(" (no IPv6 address there: {why})"),
            None => format!(" and {}", args.host_ip6),
        };
        println!(
            "  kernel side    {} peer {}{v6} on {tap_name}",
            args.host_ip.addr(),
            args.ip.addr()
        );
    } else if args.no_ip6 {
        println!("  kernel side    {} on {tap_name}", args.host_ip);
    } else if let Some(why) = &host6_missing {
        println!(
            "  kernel side    {} on {tap_name} (no IPv6 address there: {why})",
            args.host_ip
        );
    } else {
        println!(
            "  kernel side    {} and {} on {tap_name}",
            args.host_ip, args.host_ip6
        );
    }
    let services: Vec<&str> = host.service_names().collect();
    println!("  services       {}", services.join(", "));
    println!("                 (echo: UDP and TCP 7, discard: TCP 9, chargen: TCP 19, DNS: 53, HTTP: 80)");
    println!("  DNS name       {}", args.hostname);
    println!("  offloads       {offloads}");
    if let Some(d) = args.busy_poll {
        println!("  busy poll      {d:?} before each wait");
    }
    if let Some(path) = &args.pcap {
        let kind = match (Format::from_path(path), medium) {
            _ if crate::live::is_stdout(path) => "pcapng on standard output, live",
            (Format::PcapNg, Medium::Ethernet) => "pcapng, direction marked",
            (Format::Pcap, Medium::Ethernet) => "pcap",
            (Format::PcapNg, Medium::Ip) => "pcapng, raw IP, direction marked",
            (Format::Pcap, Medium::Ip) => "pcap, raw IP",
        };
        println!("  capture        {} ({kind})", path.display());
    }
    match (&args.impair_in, &args.impair_out, &args.impair) {
        (None, None, Some(imp)) => println!("  impairment     {imp} (both directions)"),
        (rx, tx, both) => {
            if let Some(imp) = rx.as_deref().or(both.as_ref()) {
                println!("  impairment in  {imp}");
            }
            if let Some(imp) = tx.as_deref().or(both.as_ref()) {
                println!("  impairment out {imp}");
            }
        }
    }
    println!("  seed           {seed}");
    let try_line = |addr: Ipv4Addr| {
        println!(
            "Try: ping {addr}   |   curl http://{addr}/   |   dig @{addr} {}   (Ctrl-C stops)",
            args.hostname
        );
    };
    if args.dhcp {
        println!("Asking for an address by DHCP (Ctrl-C stops)");
    } else {
        try_line(addr);
    }
    if !args.no_ip6 {
        let a = args.ip6.addr();
        println!(
            "     ping -6 {a}   |   curl -6 'http://[{a}]/'   |   dig -6 @{a} AAAA {}",
            args.hostname
        );
    }

    let mut rejected: Option<MacAddr> = None;
    let options = RunOptions {
        capture,
        impair: args.impair,
        impair_in: args.impair_in.map(|b| *b),
        impair_out: args.impair_out.map(|b| *b),
        seed,
        busy_poll: args.busy_poll.unwrap_or_default(),
    };
    let report = runtime::run(&mut host, &io, options, &stop_rx, |event| match *event {
        Event::AddressReady(a) => {
            println!("tapstack: {a} is up and answering");
            if args.dhcp {
                try_line(a);
            }
            ControlFlow::Continue(())
        }
        Event::LeaseAcquired { addr, server } => {
            println!("tapstack: leased {addr} from DHCP server {server}");
            ControlFlow::Continue(())
        }
        Event::LeaseRenewed { addr, server } => {
            println!("tapstack: lease on {addr} renewed by {server}");
            ControlFlow::Continue(())
        }
        Event::LeaseLost(a) => {
            println!("tapstack: {a} is no longer ours");
            ControlFlow::Continue(())
        }
        // The stack warns of these itself (once, see `log`): not said again here.
        Event::LeaseDeclined(_) | Event::AddressConflict { .. } => ControlFlow::Continue(()),
        Event::AddressRejected { mac, .. } => {
            rejected = Some(mac);
            ControlFlow::Break(())
        }
        Event::NeighbourUnreachable(_) | Event::Ipv6NeighbourUnreachable(_) => {
            ControlFlow::Continue(())
        }
        Event::Ipv6AddressReady(a) => {
            println!("tapstack: IPv6 address {a} is ready");
            ControlFlow::Continue(())
        }
        Event::Ipv6AddressDuplicate { .. } | Event::Ipv6AddressConflict { .. } => {
            ControlFlow::Continue(())
        }
        Event::Ipv6AddressExpired(a) => {
            println!("tapstack: IPv6 address {a} expired");
            ControlFlow::Continue(())
        }
    });
    let device_counters = std::sync::Arc::clone(&io.counters);
    io.shutdown();

    println!();
    println!(
        "tapstack: stopped ({})",
        match report.ended {
            Ending::Stopped => "interrupted",
            Ending::ByEvent => "address conflict",
            Ending::DeviceClosed => "device closed",
        }
    );
    println!("{}", host.iface().stats());
    if let Some(client) = host.iface().dhcp() {
        println!("dhcp: {}", client.counters());
    }
    println!("device: {device_counters}");
    if let Some(s) = report.impair_in {
        println!("impairment in:  {s:?}");
    }
    if let Some(s) = report.impair_out {
        println!("impairment out: {s:?}");
    }
    if let Some(path) = &args.pcap {
        println!("capture: {} frames in {}", report.captured, path.display());
    }
    if let Some(e) = report.capture_error {
        bail!("capture incomplete: {e}");
    }
    if let Some(mac) = rejected {
        bail!("address {addr} is already in use by {mac}");
    }
    if report.ended == Ending::DeviceClosed {
        let kind = if args.tun { "TUN" } else { "TAP" };
        bail!("{kind} device {tap_name} went away");
    }
    Ok(ExitCode::SUCCESS)
}

/// An impairment spec, boxed (three of them would make the arguments large).
fn boxed_impair(s: &str) -> Result<Box<ImpairConfig>, tapstack::ParseError> {
    s.parse().map(Box::new)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_take_k_m_g_suffixes() {
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("128k"), Ok(128 << 10));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert!(parse_size("12K").is_err(), "below 64K");
        assert!(parse_size("M").is_err());
        assert!(parse_size("5T").is_err());
        assert!(parse_size("99999999999999999999G").is_err());
    }

    use super::fresh_seed;

    #[test]
    fn fresh_seeds_come_from_the_random_source_not_the_clock() {
        // Two seeds taken back to back: a clock-and-pid seed shares its high half (the
        // nanosecond count's high bits change every 4.3 s); random ones share nothing.
        let seeds: Vec<u64> = (0..4).map(|_| fresh_seed()).collect();
        let same_high = seeds
            .windows(2)
            .filter(|w| w[0] >> 32 == w[1] >> 32)
            .count();
        assert_eq!(same_high, 0, "seeds {seeds:x?}");
    }
}
