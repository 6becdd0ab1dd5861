//! `tapstack up`: the virtual host on a TAP device.

use std::net::Ipv4Addr;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Args;
use tracing_subscriber::EnvFilter;

use tapstack::device::capture::{CaptureWriter, Format};
use tapstack::device::impair::ImpairConfig;
use tapstack::device::tap::Tap;
use tapstack::host::Services;
use tapstack::runtime::{self, Ending, RunOptions};
use tapstack::tcp::congestion::Algorithm;
use tapstack::{Config, Event, Host, Interface, Ipv4Cidr, Ipv6Cidr, Ipv6Config, MacAddr};

/// TCP congestion control, as the command line names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Congestion {
    /// NewReno (RFC 5681, RFC 6582).
    Newreno,
    /// CUBIC (RFC 9438).
    Cubic,
}

/// Options of `tapstack up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// TAP device to create (or attach to, if it exists).
    #[arg(long, default_value = "tap0")]
    tap: String,
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
    /// Write every frame in and out to this file (.pcapng marks direction; anything else is pcap).
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
    /// Seed for every random choice (default: a fresh one, printed at start).
    #[arg(long)]
    seed: Option<u64>,
    /// Inject faults in both directions, e.g. loss=5%,reorder=10%,dup=1%,delay=5ms,corrupt=0.1%.
    #[arg(long, value_name = "SPEC")]
    impair: Option<ImpairConfig>,
    /// ARP probes before using the address (RFC 5227); 0 skips conflict detection at start.
    #[arg(long, default_value_t = 2)]
    arp_probes: u32,
    /// TCP congestion control of new connections.
    #[arg(long, value_enum, default_value_t = Congestion::Newreno)]
    congestion: Congestion,
    /// The host's DNS name: the zone the DNS server answers for.
    #[arg(long, default_value = "tapstack.test")]
    hostname: String,
    /// More DNS records from a zone file (a subset of the RFC 1035 master-file format).
    #[arg(long, value_name = "FILE")]
    zone: Option<PathBuf>,
    /// One more DNS record, NAME=ADDR (repeatable), e.g. --dns-record www=10.77.0.2.
    #[arg(long = "dns-record", value_name = "NAME=ADDR")]
    dns_records: Vec<String>,
    /// Serve the files under DIR over HTTP (besides /, /stats, /bytes/N and /upload).
    #[arg(long, value_name = "DIR")]
    www: Option<PathBuf>,
    /// More log output: -v for protocol events in plain words, -vv for every frame.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Less output: warnings and errors only.
    #[arg(short, long, conflicts_with = "verbose")]
    quiet: bool,
}

fn init_logging(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .compact()
        .try_init();
}

fn fresh_seed() -> u64 {
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
    init_logging(args.verbose, args.quiet);
    check_addresses(&args)?;
    let seed = args.seed.unwrap_or_else(fresh_seed);
    let o = args.ip.addr().octets();
    let mac = args
        .mac
        .unwrap_or(MacAddr([0x02, 0x00, o[0], o[1], o[2], o[3]]));
    let mut config = Config::new(mac, (!args.dhcp).then_some(args.ip));
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
    config.hostname = args
        .hostname
        .split('.')
        .next()
        .filter(|h| !h.is_empty())
        .map(str::to_owned);
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
    };
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

    let tap = Tap::open(&args.tap)?;
    let tap_name = tap.name().to_owned();
    // Why the kernel side has no IPv6 address, if it has none.
    let mut host6_missing = None;
    if !args.no_host_config {
        tap.configure_host(Some(args.host_ip), args.mtu)?;
        if !args.no_ip6 {
            // IPv6 may be disabled on the kernel side (net.ipv6.conf.*.disable_ipv6, "permission
            // denied"): the stack still speaks it, the kernel just has no address there.
            if let Err(e) = tap.configure_host6(args.host_ip6) {
                host6_missing = Some(e.to_string());
            }
        }
    }
    let capture = match &args.pcap {
        Some(path) => Some(
            CaptureWriter::create(path, &tap_name)
                .with_context(|| format!("cannot write capture {}", path.display()))?,
        ),
        None => None,
    };
    let io = tap.spawn()?;

    let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(1);
    ctrlc::set_handler(move || {
        let _ = stop_tx.try_send(());
    })
    .context("installing the Ctrl-C handler")?;

    let addr = args.ip.addr();
    println!("tapstack: virtual host on {tap_name}");
    if args.dhcp {
        println!("  stack address  from DHCP (MAC {mac}, MTU {})", args.mtu);
    } else {
        println!("  stack address  {} (MAC {mac}, MTU {})", args.ip, args.mtu);
    }
    let link_local = tapstack::ipv6::link_local_from_mac(mac);
    if args.no_ip6 {
        println!("  IPv6           off");
    } else {
        println!(
            "  IPv6 address   {} and {link_local}%{tap_name} (after duplicate address detection)",
            args.ip6
        );
    }
    if args.no_host_config {
        println!("  kernel side    left as configured");
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
    if let Some(path) = &args.pcap {
        let kind = match Format::from_path(path) {
            Format::PcapNg => "pcapng, direction marked",
            Format::Pcap => "pcap",
        };
        println!("  capture        {} ({kind})", path.display());
    }
    if let Some(imp) = &args.impair {
        println!("  impairment     {imp} (both directions)");
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
        seed,
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
        Event::LeaseDeclined(a) => {
            eprintln!("tapstack: warning: another host has {a}; declined it and asking again");
            ControlFlow::Continue(())
        }
        Event::AddressConflict { addr, mac } => {
            eprintln!("tapstack: warning: {mac} also claims {addr}; defending it");
            ControlFlow::Continue(())
        }
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
        Event::Ipv6AddressDuplicate { addr, mac } => {
            eprintln!("tapstack: warning: {mac} already uses {addr}; that address is not used");
            ControlFlow::Continue(())
        }
        Event::Ipv6AddressConflict { addr, mac } => {
            eprintln!("tapstack: warning: {mac} also claims {addr}");
            ControlFlow::Continue(())
        }
        Event::Ipv6AddressExpired(a) => {
            println!("tapstack: IPv6 address {a} expired");
            ControlFlow::Continue(())
        }
    });
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
        bail!("TAP device {tap_name} went away");
    }
    Ok(ExitCode::SUCCESS)
}
