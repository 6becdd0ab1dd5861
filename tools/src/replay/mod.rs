//! `tapstack replay`: a capture through the stack under virtual time, its output written with
//! direction marks, and optionally compared with an expected output.
//!
//! The stack's identity comes from a TOML file beside the capture (`IN.toml` for `IN.pcapng`),
//! or `--config FILE`, and flags override it:
//!
//! ```toml
//! ip = "10.77.0.2/24"          # the stack's address (default 10.77.0.2/24)
//! mac = "02:00:0a:4d:00:02"    # default: 02:00 followed by the IPv4 address
//! gateway = "10.77.0.1"        # optional
//! mtu = 1500
//! seed = 1                     # default 0
//! arp_probes = 0               # RFC 5227 probes at start (default 0: address in use at once)
//! dhcp = false                 # true: the address comes from DHCP (ip then only picks the MAC)
//! ip6 = "fd77::2/64"           # IPv6 on, with this address besides the link-local one (default off)
//! dns_name = "tapstack.test"   # the zone the DNS server answers for (hostname: the same)
//! dhcp_name = "tapstack"       # sent to the DHCP server (default: dns_name's first label)
//! congestion = "newreno"       # or "cubic"
//! zone = "site.zone"           # more DNS records from a zone file (relative to the TOML file)
//! dns_records = ["www=10.77.0.2"]
//! www = "site/"                # files served over HTTP (relative to the TOML file)
//! services = ["udp-echo", "tcp-echo", "tcp-discard", "tcp-chargen", "dns", "http", "iperf3"]   # default: all
//! feed = "auto"                # or "not-ours"
//! linger = "0s"                # timers keep running this long after the last record
//! first_frame_at = "0us"       # the stack's clock at the first record (see below)
//! medium = "ethernet"          # the stack's medium: "ethernet" or "ip" (default: from the capture)
//! check_fcs = false            # skip frames whose captured FCS is wrong
//! ```
//!
//! `first_frame_at`: a live stack starts its clock a few microseconds before the first frame it
//! captures. Replay puts the first record at this virtual time (default 0), so that a capture
//! made by `tapstack up` can be replayed with each frame at the instant the live stack saw it;
//! that matters for TCP, whose initial sequence numbers follow a 4-microsecond clock.
//!
//! All file I/O is here; the replay itself ([`tapstack::replay`]) is pure.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write as _};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use serde::Deserialize;

use tapstack::device::capture::{CaptureError, CaptureReader, CaptureWriter, Format, Record};
use tapstack::device::link::LinkType;
use tapstack::device::{Direction, Medium};
use tapstack::host::Services;
use tapstack::replay::{self, compare, Difference, Driver, Feed, Mask, Options, Service};
use tapstack::tcp::congestion::Algorithm;
use tapstack::{Config, Event, Host, Interface, Ipv4Cidr, Ipv6Cidr, MacAddr, ParseError};

use crate::dump;
use crate::filter::Filter;
use crate::json::{Object, Value};

/// Options of `tapstack replay`.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
#[command(mut_arg("quiet", |a| a.help("Print nothing but differences and errors")))]
pub struct ReplayArgs {
    /// The capture to replay (pcap or pcapng; Ethernet, with or without FCS, Linux cooked v1
    /// or v2, raw IP, IPv4, IPv6, NULL or LOOP).
    pub(super) input: PathBuf,
    /// Write every frame in and out here, interleaved, with its direction (pcapng; a .pcap name
    /// gives classic pcap, which cannot mark direction).
    #[arg(long, value_name = "FILE")]
    pub(super) out: Option<PathBuf>,
    /// Compare the output with this capture, print a frame-by-frame diff and exit 1 if they
    /// differ.
    #[arg(long, value_name = "FILE")]
    pub(super) expect: Option<PathBuf>,
    /// Leave fields out of the comparison: time, dir, a field (tcp.seq, ipv4.id) or a whole
    /// layer (tcp); comma-separated, repeatable. A checksum over a masked field is not compared.
    #[arg(long, value_name = "FIELDS")]
    pub(super) mask: Vec<String>,
    /// How many differences to show in detail.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub(super) max_diffs: usize,
    /// The stack's identity (default: the capture's name with .toml, if that file exists).
    #[arg(long, value_name = "FILE")]
    pub(super) config: Option<PathBuf>,
    /// Do not read a configuration file beside the capture.
    #[arg(long, conflicts_with = "config")]
    pub(super) no_config: bool,
    /// The stack's IPv4 address and prefix [default: 10.77.0.2/24].
    #[arg(long)]
    pub(super) ip: Option<Ipv4Cidr>,
    /// The stack's MAC address [default: 02:00 followed by the IPv4 address].
    #[arg(long)]
    pub(super) mac: Option<MacAddr>,
    /// Default router for destinations off the subnet.
    #[arg(long)]
    pub(super) gateway: Option<Ipv4Addr>,
    /// IP MTU of the link [default: 1500].
    #[arg(long)]
    pub(super) mtu: Option<usize>,
    /// Seed of every random choice the stack makes [default: 0].
    #[arg(long)]
    pub(super) seed: Option<u64>,
    /// ARP probes before the address is used (RFC 5227) [default: 0, the address is in use from
    /// the first frame].
    #[arg(long)]
    pub(super) arp_probes: Option<u32>,
    /// Run IPv6 with this address besides the link-local one, as `tapstack up --ip6` does
    /// [default: IPv6 off].
    #[arg(long, value_name = "ADDR/PREFIX")]
    pub(super) ip6: Option<Ipv6Cidr>,
    /// Get the address by DHCP, as `tapstack up --dhcp` does (--ip then only picks the default
    /// MAC); the lease is released at the end, as on Ctrl-C.
    #[arg(long)]
    pub(super) dhcp: bool,
    /// The host's DNS name: the zone the DNS server answers for, as in `tapstack up`
    /// (--hostname is another name for it) [default: tapstack.test].
    #[arg(long = "dns-name", alias = "hostname", value_name = "NAME")]
    pub(super) dns_name: Option<String>,
    /// The host name sent to a DHCP server [default: the first label of --dns-name].
    #[arg(long, value_name = "NAME")]
    pub(super) dhcp_name: Option<String>,
    /// TCP congestion control of new connections, as in `tapstack up` [default: newreno].
    #[arg(long, value_enum)]
    pub(super) congestion: Option<crate::up::Congestion>,
    /// More DNS records from a zone file, as in `tapstack up`.
    #[arg(long, value_name = "FILE")]
    pub(super) zone: Option<PathBuf>,
    /// One more DNS record, NAME=ADDR (repeatable), as in `tapstack up`.
    #[arg(long = "dns-record", value_name = "NAME=ADDR")]
    pub(super) dns_records: Vec<String>,
    /// Serve the files under DIR over HTTP, as in `tapstack up`.
    #[arg(long, value_name = "DIR")]
    pub(super) www: Option<PathBuf>,
    /// Services to run, comma-separated, or "none" [default: all: udp-echo, tcp-echo,
    /// tcp-discard, tcp-chargen, dns, http and iperf3].
    #[arg(long, value_name = "LIST")]
    pub(super) services: Option<String>,
    /// Which frames are fed: "auto" (frames marked inbound; unmarked ones unless sent from the
    /// stack's MAC) or "not-ours" (every frame not sent from the stack's MAC, marks ignored).
    #[arg(long, value_name = "RULE")]
    pub(super) feed: Option<Feed>,
    /// Keep the stack's timers running this long after the last captured frame (e.g. 3s,
    /// 500ms) [default: 0s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(super) linger: Option<Duration>,
    /// The stack's virtual time at the first record (e.g. 24us) [default: 0].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub(super) first_frame_at: Option<Duration>,
    /// Replay only the records that pass this filter (tcpdump syntax, as in `tapstack dump`);
    /// the others are skipped as if they were not in the capture.
    #[arg(long, value_name = "EXPR")]
    pub(super) filter: Option<String>,
    /// Print the summary (and the comparison with --expect) as one JSON object.
    #[arg(long)]
    pub(super) json: bool,
    /// Write the stack's view of each TCP connection over virtual time here, as JSON lines: a
    /// line for each connection that changed after a frame fed or a timer (state, cwnd,
    /// ssthresh, srtt, rttvar, rto, bytes in flight, SACK ranges, congestion events).
    #[arg(long, value_name = "FILE")]
    pub(super) trace: Option<PathBuf>,
    #[command(flatten)]
    pub log: crate::log::Verbosity,
    /// The stack's medium: "ethernet" (cooked and raw frames get a made-up Ethernet header) or
    /// "ip" (every frame's IP packet) [default: ip when the capture's first frame is of an
    /// IP-only link type (RAW, IPV4, IPV6, NULL, LOOP), as a TUN device gives; else ethernet].
    #[arg(long, value_name = "MEDIUM", value_parser = parse_medium)]
    pub(super) medium: Option<Medium>,
    /// Skip the Ethernet frames whose FCS, kept in the capture, is wrong (as a NIC would).
    #[arg(long)]
    pub(super) check_fcs: bool,
}

pub(super) fn parse_medium(s: &str) -> Result<Medium, String> {
    match s {
        "ethernet" => Ok(Medium::Ethernet),
        "ip" => Ok(Medium::Ip),
        other => Err(format!("'{other}' is not a medium (ethernet or ip)")),
    }
}

pub(super) const AFTER_HELP: &str = "\
The stack's identity is read from IN.toml beside the capture (or --config FILE); flags win over it.
Keys: ip, mac, gateway, mtu, seed, arp_probes, dhcp, dns_name (or hostname), dhcp_name, ip6,
congestion, zone, dns_records (a list), www, services (a list), feed, linger, first_frame_at,
medium, check_fcs. Paths in the file are relative to the file.

Link types: Ethernet (an FCS the capture marks is taken off; --check-fcs skips frames whose FCS
is wrong), LINUX_SLL and LINUX_SLL2 (the packet type marks the direction), RAW, IPV4, IPV6, NULL
and LOOP, mixed by interface in pcapng. An Ethernet stack gets cooked and raw frames behind an
Ethernet header: source the cooked address when it is a MAC, else 06:00:00:00:00:01; destination
the stack's MAC (broadcast or the group address for broadcast and multicast). Senders with no MAC
are first introduced to the stack by an ARP request or neighbour solicitation from that address.

Frames marked inbound are fed and frames marked outbound skipped (the stack sends its own again);
unmarked frames are fed unless they come from the stack's MAC. Frames cut by the snaplen are
counted and skipped. The same capture, configuration and seed give a byte-identical output.

Examples:
  tapstack replay captures/arp-ping.pcapng --out out.pcapng
  tapstack replay captures/tcp-echo.pcapng --expect captures/tcp-echo.expected.pcapng
  tapstack replay wild.pcap --ip 192.168.1.20/24 --mac 52:54:00:12:34:56 --feed not-ours
  tapstack replay captures/ping-curl.pcapng --filter 'not tcp' --json
  tapstack replay captures/tcp-discard.pcapng --trace trace.jsonl

Exit status (as diff and cmp): 0 when replayed (and the output is the same as --expect); 1 when
the output differs from --expect; 2 on an error (bad arguments, a capture that cannot be read
or is damaged, an output that cannot be written).";

/// The configuration file. Every key is optional; flags win over it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileConfig {
    pub(super) ip: Option<String>,
    pub(super) mac: Option<String>,
    pub(super) gateway: Option<String>,
    pub(super) mtu: Option<usize>,
    pub(super) seed: Option<u64>,
    pub(super) arp_probes: Option<u32>,
    pub(super) dhcp: Option<bool>,
    pub(super) hostname: Option<String>,
    pub(super) dns_name: Option<String>,
    pub(super) dhcp_name: Option<String>,
    pub(super) congestion: Option<String>,
    pub(super) zone: Option<PathBuf>,
    pub(super) dns_records: Option<Vec<String>>,
    pub(super) www: Option<PathBuf>,
    pub(super) ip6: Option<String>,
    pub(super) services: Option<Vec<String>>,
    pub(super) feed: Option<String>,
    pub(super) linger: Option<String>,
    pub(super) first_frame_at: Option<String>,
    pub(super) medium: Option<String>,
    pub(super) check_fcs: Option<bool>,
}

/// `5s`, `200ms`, `1500us`, `2m`, or a bare number of seconds.
pub(super) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration (like 3s or 500ms)"))?;
    let scale = match unit.trim() {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "us" | "µs" => 1e-6,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("'{s}' has an unknown unit (us, ms, s, m, h)")),
    };
    Duration::try_from_secs_f64(n * scale).map_err(|_| format!("'{s}' is out of range"))
}

/// The line (1-based) of byte `offset` in `text`.
pub(super) fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).map_or(1, |t| t.lines().count().max(1))
}

pub(super) fn read_config_file(path: &Path) -> Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read configuration {}", path.display()))?;
    toml::from_str(&text).map_err(|e| {
        let line = e.span().map_or(1, |s| line_of(&text, s.start + 1));
        anyhow!(
            "{}: line {line}: {}",
            path.display(),
            e.message().trim_end()
        )
    })
}

/// The stack's identity and the replay options: flags, then the file, then defaults.
pub(super) struct Setup {
    pub(super) config: Config,
    pub(super) services: Vec<Service>,
    pub(super) settings: Services,
    pub(super) options: Options,
    pub(super) file: Option<PathBuf>,
}

/// The host name sent to a DHCP server: `--dhcp-name`, else the first label of the DNS name.
pub fn dhcp_name(given: Option<&str>, dns_name: &str) -> Option<String> {
    given
        .or_else(|| dns_name.split('.').next())
        .filter(|h| !h.is_empty())
        .map(str::to_owned)
}

/// The medium a capture asks for: IP when its first frame is of an IP-only link type (what a
/// TUN device or a loopback gives), else Ethernet. A capture that cannot be read gets Ethernet
/// here; the replay itself reports why it cannot be read.
fn medium_of(input: &Path) -> Medium {
    let first = CaptureReader::open(input)
        .ok()
        .and_then(|mut reader| reader.next())
        .and_then(Result::ok);
    match first {
        Some(record) if record.link.is_ip_only() => Medium::Ip,
        _ => Medium::Ethernet,
    }
}

pub(super) fn setup(args: &ReplayArgs) -> Result<Setup> {
    let beside = args.input.with_extension("toml");
    let file = match (&args.config, args.no_config) {
        (Some(p), _) => Some(p.clone()),
        (None, false) if beside.is_file() => Some(beside),
        _ => None,
    };
    let fc = match &file {
        Some(p) => read_config_file(p)?,
        None => FileConfig::default(),
    };
    let from_file = |key: &str, e: String| {
        let name = file
            .as_ref()
            .map_or(String::new(), |p| p.display().to_string());
        anyhow!("{name}: {key}: {e}")
    };
    let ip = match (args.ip, &fc.ip) {
        (Some(ip), _) => ip,
        (None, Some(s)) => s
            .parse()
            .map_err(|e: ParseError| from_file("ip", e.to_string()))?,
        (None, None) => "10.77.0.2/24".parse().map_err(|e: ParseError| anyhow!(e))?,
    };
    let o = ip.addr().octets();
    let mac = match (args.mac, &fc.mac) {
        (Some(m), _) => m,
        (None, Some(s)) => s
            .parse()
            .map_err(|e: tapstack::ethernet::MacParseError| from_file("mac", e.to_string()))?,
        (None, None) => MacAddr([0x02, 0x00, o[0], o[1], o[2], o[3]]),
    };
    let gateway = match (args.gateway, &fc.gateway) {
        (Some(g), _) => Some(g),
        (None, Some(s)) => Some(
            s.parse()
                .map_err(|_| from_file("gateway", format!("'{s}' is not an IPv4 address")))?,
        ),
        (None, None) => None,
    };
    let services = match (&args.services, &fc.services) {
        (Some(list), _) => parse_services(list.split(',').map(str::trim))?,
        (None, Some(list)) => parse_services(list.iter().map(String::as_str))
            .map_err(|e| from_file("services", e.to_string()))?,
        (None, None) => Service::STANDARD.to_vec(),
    };
    let feed = match (args.feed, &fc.feed) {
        (Some(f), _) => f,
        (None, Some(s)) => s
            .parse()
            .map_err(|e: ParseError| from_file("feed", e.to_string()))?,
        (None, None) => Feed::Auto,
    };
    let linger = match (args.linger, &fc.linger) {
        (Some(d), _) => d,
        (None, Some(s)) => parse_duration(s).map_err(|e| from_file("linger", e))?,
        (None, None) => Duration::ZERO,
    };
    let first_frame_at = match (args.first_frame_at, &fc.first_frame_at) {
        (Some(d), _) => d,
        (None, Some(s)) => parse_duration(s).map_err(|e| from_file("first_frame_at", e))?,
        (None, None) => Duration::ZERO,
    };
    let medium = match (args.medium, &fc.medium) {
        (Some(m), _) => m,
        (None, Some(s)) => parse_medium(s).map_err(|e| from_file("medium", e))?,
        (None, None) => medium_of(&args.input),
    };
    let check_fcs = args.check_fcs || fc.check_fcs.unwrap_or(false);
    let dhcp = args.dhcp || fc.dhcp.unwrap_or(false);
    let mut config = Config::new(mac, (!dhcp).then_some(ip));
    if dhcp {
        config.dhcp = Some(tapstack::dhcp::Config::default());
    }
    if fc.hostname.is_some() && fc.dns_name.is_some() {
        return Err(from_file(
            "hostname",
            "hostname and dns_name are the same key; give one".to_owned(),
        ));
    }
    let dns_name = args
        .dns_name
        .clone()
        .or(fc.dns_name.clone())
        .or(fc.hostname.clone())
        .unwrap_or_else(|| Services::default().hostname);
    config.hostname = dhcp_name(
        args.dhcp_name.as_deref().or(fc.dhcp_name.as_deref()),
        &dns_name,
    );
    let congestion = match (args.congestion, &fc.congestion) {
        (Some(c), _) => c,
        (None, Some(s)) => clap::ValueEnum::from_str(s, false)
            .map_err(|_| from_file("congestion", format!("'{s}' is not newreno, cubic or bbr")))?,
        (None, None) => crate::up::Congestion::Newreno,
    };
    config.tcp.congestion = match congestion {
        crate::up::Congestion::Newreno => Algorithm::NewReno,
        crate::up::Congestion::Cubic => Algorithm::Cubic,
        crate::up::Congestion::Bbr => Algorithm::Bbr,
    };
    // Paths in the file are relative to it.
    let beside = |p: &PathBuf| match file.as_ref().and_then(|f| f.parent()) {
        Some(dir) if p.is_relative() => dir.join(p),
        _ => p.clone(),
    };
    let zone_path = args.zone.clone().or(fc.zone.as_ref().map(beside));
    let zone = match &zone_path {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read zone file {}", path.display()))?,
        ),
        None => None,
    };
    let www = args.www.clone().or(fc.www.as_ref().map(beside));
    if let Some(dir) = &www {
        if !dir.is_dir() {
            bail!("--www {} is not a directory", dir.display());
        }
    }
    let mut dns_records = fc.dns_records.clone().unwrap_or_default();
    dns_records.extend(args.dns_records.iter().cloned());
    let settings = Services {
        hostname: dns_name,
        zone,
        dns_records,
        http: tapstack::services::http::Config {
            www,
            ..Default::default()
        },
    };
    config.gateway = gateway;
    let ip6 = match (args.ip6, &fc.ip6) {
        (Some(a), _) => Some(a),
        (None, Some(s)) => Some(
            s.parse()
                .map_err(|e: ParseError| from_file("ip6", e.to_string()))?,
        ),
        (None, None) => None,
    };
    if let Some(a) = ip6 {
        config.ipv6 = Some(tapstack::Ipv6Config {
            addresses: vec![a],
            ..Default::default()
        });
    }
    config.mtu = args.mtu.or(fc.mtu).unwrap_or(1500);
    config.seed = args.seed.or(fc.seed).unwrap_or(0);
    config.medium = medium;
    // Replay starts with the address in use unless the configuration asks for probing: a
    // capture from the wild does not wait for our probes.
    config.arp.probe_count = args.arp_probes.or(fc.arp_probes).unwrap_or(0);
    Ok(Setup {
        config,
        services,
        settings,
        options: Options {
            feed,
            linger,
            first_frame_at,
            medium,
            check_fcs,
        },
        file,
    })
}

pub(super) fn parse_services<'a>(names: impl Iterator<Item = &'a str>) -> Result<Vec<Service>> {
    let mut out = Vec::new();
    for name in names.filter(|n| !n.is_empty()) {
        if name == "none" {
            continue;
        }
        let s: Service = name.parse()?;
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(out)
}

mod read;
mod report;
mod run;
#[cfg(test)]
mod tests;

pub use read::{open_capture, read_all, read_error};
pub use run::run;
