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
//! hostname = "tapstack"        # sent to the DHCP server (default: tapstack)
//! services = ["udp-echo", "tcp-echo", "tcp-discard", "tcp-chargen", "dns", "http"]   # default: all
//! feed = "auto"                # or "not-ours"
//! linger = "0s"                # timers keep running this long after the last record
//! first_frame_at = "0us"       # the stack's clock at the first record (see below)
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
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use serde::Deserialize;

use tapstack::device::capture::{CaptureError, CaptureReader, CaptureWriter, Format, Record};
use tapstack::device::Direction;
use tapstack::replay::{
    self, build_host, compare, Difference, Driver, Feed, Mask, Options, Service,
};
use tapstack::{Config, Event, Ipv4Cidr, Ipv6Cidr, MacAddr};

use crate::dump;

/// Options of `tapstack replay`.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct ReplayArgs {
    /// The capture to replay (pcap or pcapng, Ethernet).
    input: PathBuf,
    /// Write every frame in and out here, interleaved, with its direction (pcapng; a .pcap name
    /// gives classic pcap, which cannot mark direction).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Compare the output with this capture, print a frame-by-frame diff and exit 1 if they
    /// differ.
    #[arg(long, value_name = "FILE")]
    expect: Option<PathBuf>,
    /// Leave fields out of the comparison: time, dir, a field (tcp.seq, ipv4.id) or a whole
    /// layer (tcp); comma-separated, repeatable. A checksum over a masked field is not compared.
    #[arg(long, value_name = "FIELDS")]
    mask: Vec<String>,
    /// How many differences to show in detail.
    #[arg(long, value_name = "N", default_value_t = 10)]
    max_diffs: usize,
    /// The stack's identity (default: the capture's name with .toml, if that file exists).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Do not read a configuration file beside the capture.
    #[arg(long, conflicts_with = "config")]
    no_config: bool,
    /// The stack's IPv4 address and prefix [default: 10.77.0.2/24].
    #[arg(long)]
    ip: Option<Ipv4Cidr>,
    /// The stack's MAC address [default: 02:00 followed by the IPv4 address].
    #[arg(long)]
    mac: Option<MacAddr>,
    /// Default router for destinations off the subnet.
    #[arg(long)]
    gateway: Option<Ipv4Addr>,
    /// IP MTU of the link [default: 1500].
    #[arg(long)]
    mtu: Option<usize>,
    /// Seed of every random choice the stack makes [default: 0].
    #[arg(long)]
    seed: Option<u64>,
    /// ARP probes before the address is used (RFC 5227) [default: 0, the address is in use from
    /// the first frame].
    #[arg(long)]
    arp_probes: Option<u32>,
    /// Run IPv6 with this address besides the link-local one, as `tapstack up --ip6` does
    /// [default: IPv6 off].
    #[arg(long, value_name = "ADDR/PREFIX")]
    ip6: Option<Ipv6Cidr>,
    /// Get the address by DHCP, as `tapstack up --dhcp` does (--ip then only picks the default
    /// MAC); the lease is released at the end, as on Ctrl-C.
    #[arg(long)]
    dhcp: bool,
    /// Host name sent to a DHCP server [default: tapstack].
    #[arg(long)]
    hostname: Option<String>,
    /// Services to run, comma-separated, or "none" [default: all of udp-echo, tcp-echo,
    /// tcp-discard and tcp-chargen].
    #[arg(long, value_name = "LIST")]
    services: Option<String>,
    /// Which frames are fed: "auto" (frames marked inbound; unmarked ones unless sent from the
    /// stack's MAC) or "not-ours" (every frame not sent from the stack's MAC, marks ignored).
    #[arg(long, value_name = "RULE")]
    feed: Option<Feed>,
    /// Keep the stack's timers running this long after the last captured frame (e.g. 3s,
    /// 500ms) [default: 0s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    linger: Option<Duration>,
    /// The stack's virtual time at the first record (e.g. 24us) [default: 0].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    first_frame_at: Option<Duration>,
    /// Print nothing but differences and errors.
    #[arg(short, long)]
    quiet: bool,
}

const AFTER_HELP: &str = "\
The stack's identity is read from IN.toml beside the capture (or --config FILE); flags win over it.
Keys: ip, mac, gateway, mtu, seed, arp_probes, dhcp, hostname, ip6, services (a list), feed,
linger, first_frame_at.

Frames marked inbound are fed and frames marked outbound skipped (the stack sends its own again);
unmarked frames are fed unless they come from the stack's MAC. Frames cut by the snaplen are
counted and skipped. The same capture, configuration and seed give a byte-identical output.

Examples:
  tapstack replay captures/arp-ping.pcapng --out out.pcapng
  tapstack replay captures/tcp-echo.pcapng --expect captures/tcp-echo.expected.pcapng
  tapstack replay wild.pcap --ip 192.168.1.20/24 --mac 52:54:00:12:34:56 --feed not-ours";

/// The configuration file. Every key is optional; flags win over it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    ip: Option<String>,
    mac: Option<String>,
    gateway: Option<String>,
    mtu: Option<usize>,
    seed: Option<u64>,
    arp_probes: Option<u32>,
    dhcp: Option<bool>,
    hostname: Option<String>,
    ip6: Option<String>,
    services: Option<Vec<String>>,
    feed: Option<String>,
    linger: Option<String>,
    first_frame_at: Option<String>,
}

/// `5s`, `200ms`, `1500us`, `2m`, or a bare number of seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
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
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).map_or(1, |t| t.lines().count().max(1))
}

fn read_config_file(path: &Path) -> Result<FileConfig> {
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
struct Setup {
    config: Config,
    services: Vec<Service>,
    options: Options,
    file: Option<PathBuf>,
}

fn setup(args: &ReplayArgs) -> Result<Setup> {
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
        (None, Some(s)) => s.parse().map_err(|e| from_file("ip", e))?,
        (None, None) => "10.77.0.2/24".parse().map_err(|e: String| anyhow!(e))?,
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
        (None, Some(s)) => s.parse().map_err(|e| from_file("feed", e))?,
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
    let dhcp = args.dhcp || fc.dhcp.unwrap_or(false);
    let mut config = Config::new(mac, (!dhcp).then_some(ip));
    if dhcp {
        config.dhcp = Some(tapstack::dhcp::Config::default());
    }
    config.hostname = Some(
        args.hostname
            .clone()
            .or(fc.hostname.clone())
            .unwrap_or_else(|| "tapstack".to_owned()),
    );
    config.gateway = gateway;
    let ip6 = match (args.ip6, &fc.ip6) {
        (Some(a), _) => Some(a),
        (None, Some(s)) => Some(s.parse().map_err(|e: String| from_file("ip6", e))?),
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
    // Replay starts with the address in use unless the configuration asks for probing: a
    // capture from the wild does not wait for our probes.
    config.arp.probe_count = args.arp_probes.or(fc.arp_probes).unwrap_or(0);
    Ok(Setup {
        config,
        services,
        options: Options {
            feed,
            linger,
            first_frame_at,
        },
        file,
    })
}

fn parse_services<'a>(names: impl Iterator<Item = &'a str>) -> Result<Vec<Service>> {
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

// ---------------------------------------------------------------------------------------------
// Reading captures, with errors that say where.

/// Opens a capture with errors that name the file (an empty file or a directory too).
pub fn open_capture(path: &Path) -> Result<CaptureReader> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot open {}", path.display()))?;
    if meta.is_dir() {
        bail!("{} is a directory, not a capture", path.display());
    }
    if meta.len() == 0 {
        bail!(
            "{} is empty (0 bytes): not a pcap or pcapng capture",
            path.display()
        );
    }
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let input = BufReader::with_capacity(256 * 1024, file);
    CaptureReader::new(input).map_err(|e| read_error(path, e))
}

/// A reading error as one line naming the file and, for damage, the byte offset.
pub fn read_error(path: &Path, e: CaptureError) -> anyhow::Error {
    match e {
        CaptureError::Damaged { records, detail } => {
            let (at, why) = match damage(path, records) {
                Ok((offset, why)) => (format!(" at byte offset {offset}"), why),
                Err(_) => (String::new(), None),
            };
            anyhow!(
                "{}: damaged{at}, after {records} good record{}: {}",
                path.display(),
                if records == 1 { "" } else { "s" },
                why.unwrap_or(detail)
            )
        }
        CaptureError::Io(e) => anyhow!("{}: {e}", path.display()),
        other => anyhow!("{}: {other}", path.display()),
    }
}

/// Reads a whole capture into memory.
pub fn read_all(path: &Path) -> Result<Vec<Record>> {
    let reader = open_capture(path)?;
    let mut out = Vec::new();
    for r in reader {
        out.push(r.map_err(|e| read_error(path, e))?);
    }
    Ok(out)
}

fn read_u32(f: &mut BufReader<File>, at: u64, big: bool) -> io::Result<Option<u32>> {
    f.seek(SeekFrom::Start(at))?;
    let mut b = [0u8; 4];
    match f.read_exact(&mut b) {
        Ok(()) => Ok(Some(if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

/// Where a capture that reads well for `good` records goes wrong: the byte offset of the first
/// structure that is cut short or inconsistent (with what is wrong with it), or else of the
/// record after the good ones.
fn damage(path: &Path, good: u64) -> io::Result<(u64, Option<String>)> {
    let mut f = BufReader::new(File::open(path)?);
    let len = f.get_ref().metadata()?.len();
    let Some(magic) = read_u32(&mut f, 0, true)? else {
        return Ok((0, Some("file header cut short".to_owned())));
    };
    if magic == 0x0a0d_0d0a {
        return pcapng_damage(&mut f, len, good);
    }
    // Classic pcap: a 24-byte header, then records of 16 bytes + the captured length.
    let big = matches!(magic, 0xa1b2_c3d4 | 0xa1b2_3c4d);
    let mut at = 24u64;
    let mut n = 0u64;
    loop {
        if at >= len {
            return Ok((len, None));
        }
        if at + 16 > len {
            let why = format!("record header cut short ({} of 16 bytes)", len - at);
            return Ok((at, Some(why)));
        }
        let Some(incl) = read_u32(&mut f, at + 8, big)? else {
            return Ok((at, None));
        };
        let end = at + 16 + u64::from(incl);
        if end > len {
            let why = format!(
                "a record of {incl} bytes runs past the end of the file ({} bytes left)",
                len - at - 16
            );
            return Ok((at, Some(why)));
        }
        if n == good {
            return Ok((at, None));
        }
        n += 1;
        at = end;
    }
}

fn pcapng_damage(
    f: &mut BufReader<File>,
    len: u64,
    good: u64,
) -> io::Result<(u64, Option<String>)> {
    let mut at = 0u64;
    let mut big = false;
    let mut packets = 0u64;
    let mut after_good: Option<u64> = None;
    loop {
        if at >= len {
            return Ok((after_good.unwrap_or(len), None));
        }
        let cut = || Some(format!("block header cut short ({} bytes left)", len - at));
        let Some(kind) = read_u32(f, at, big)? else {
            return Ok((at, cut()));
        };
        if kind == 0x0a0d_0d0a {
            // A section header carries its own byte order (0x1a2b3c4d).
            match read_u32(f, at + 8, true)? {
                Some(0x1a2b_3c4d) => big = true,
                Some(0x4d3c_2b1a) => big = false,
                Some(_) => {
                    let why = "section header with an unknown byte-order mark".to_owned();
                    return Ok((at, Some(why)));
                }
                None => return Ok((at, cut())),
            }
        }
        let Some(total) = read_u32(f, at + 4, big)? else {
            return Ok((at, cut()));
        };
        let total64 = u64::from(total);
        if total < 12 || total % 4 != 0 {
            return Ok((at, Some(format!("impossible block length {total}"))));
        }
        if at + total64 > len {
            let why = format!(
                "a block of {total} bytes runs past the end of the file ({} bytes left)",
                len - at
            );
            return Ok((at, Some(why)));
        }
        if read_u32(f, at + total64 - 4, big)? != Some(total) {
            let why = format!("block length {total} does not match the copy at its end");
            return Ok((at, Some(why)));
        }
        if packets >= good && after_good.is_none() {
            after_good = Some(at);
        }
        // Simple and enhanced packet blocks are the records.
        if matches!(kind, 3 | 6) {
            if packets == good {
                return Ok((at, None));
            }
            packets += 1;
        }
        at += total64;
    }
}

// ---------------------------------------------------------------------------------------------
// The command.

/// Captures larger than this get a progress bar when stderr is a terminal.
const PROGRESS_ABOVE: u64 = 16 << 20;

pub fn run(args: ReplayArgs) -> Result<ExitCode> {
    let setup = setup(&args)?;
    let mut mask = Mask::none();
    for list in &args.mask {
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            mask.add(name).map_err(|e| anyhow!("--mask: {e}"))?;
        }
    }
    if let Some(out) = &args.out {
        if same_file(out, &args.input) {
            bail!("--out {} would overwrite the input", out.display());
        }
        if args.expect.as_deref().is_some_and(|e| same_file(out, e)) {
            bail!("--out and --expect are the same file: nothing would be compared");
        }
    }
    let reader = open_capture(&args.input)?;
    let host = build_host(setup.config.clone(), &setup.services)?;
    let mut replay = Driver::new(host, setup.options.clone());

    let mut writer = match &args.out {
        Some(path) => Some(
            CaptureWriter::create(path, "replay")
                .map_err(|e| anyhow!("cannot write {}: {e}", path.display()))?,
        ),
        None => None,
    };
    let mut write_error: Option<CaptureError> = None;
    let mut ours: Option<Vec<Record>> = args.expect.as_ref().map(|_| Vec::new());
    let mut read_failure: Option<CaptureError> = None;
    {
        let mut sink = |ts: Duration, dir: Direction, frame: &[u8]| {
            // After a write error (a full disk) the replay goes on, for the summary.
            if let (Some(w), None) = (&mut writer, &write_error) {
                if let Err(e) = w.write(ts, dir, frame) {
                    write_error = Some(e);
                }
            }
            if let Some(list) = &mut ours {
                list.push(Record {
                    timestamp: ts,
                    data: frame.to_vec(),
                    orig_len: u32::try_from(frame.len()).unwrap_or(u32::MAX),
                    direction: Some(dir),
                });
            }
        };
        // A progress bar on long replays, only when a person watches.
        let size = std::fs::metadata(&args.input).map_or(0, |m| m.len());
        let progress = (!args.quiet
            && size > PROGRESS_ABOVE
            && std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .then(|| {
            let bar = indicatif::ProgressBar::new(size);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {bytes}/{total_bytes} {per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        let mut read = 0u64;
        for record in reader {
            if let (Some(bar), Ok(r)) = (&progress, &record) {
                // Record headers are 16 to 32 bytes; the data dominates.
                read += r.data.len() as u64 + 24;
                if read % (1 << 20) < 2048 {
                    bar.set_position(read.min(size));
                }
            }
            match record {
                Ok(r) => replay.push(&r, &mut sink),
                Err(e) => {
                    read_failure = Some(e);
                    break;
                }
            }
        }
        if let Some(bar) = progress {
            bar.finish_and_clear();
        }
        replay.finish(&mut sink);
    }
    let written = writer.as_ref().map_or(0, CaptureWriter::frames);
    if let Some(w) = writer {
        if let Err(e) = w.into_inner() {
            write_error.get_or_insert(CaptureError::Io(e));
        }
    }
    let report = replay.report().clone();

    if !args.quiet {
        print_summary(&args, &setup, &replay);
        if let Some(path) = &args.out {
            let note = match Format::from_path(path) {
                Format::PcapNg => "",
                Format::Pcap => " (classic pcap: directions not marked)",
            };
            println!("  output       {}: {written} frames{note}", path.display());
        }
    }
    if let Some(e) = write_error {
        let name = args
            .out
            .as_ref()
            .map_or(String::new(), |p| p.display().to_string());
        bail!("writing {name} failed: {e}");
    }
    if let Some(e) = read_failure {
        let what = if report.records == 0 {
            String::new()
        } else {
            format!(" (the {} records before it were replayed)", report.records)
        };
        return Err(anyhow!("{:#}{what}", read_error(&args.input, e)));
    }

    if let (Some(path), Some(got)) = (&args.expect, &ours) {
        let expected = read_all(path)?;
        let c = compare(&expected, got, &mask);
        if c.is_same() {
            if !args.quiet {
                println!(
                    "  expected     {}: same ({} frames{})",
                    path.display(),
                    c.matched,
                    mask_note(&args.mask)
                );
            }
        } else {
            print_diff(path, &expected, got, &c.differences, args.max_diffs);
            println!(
                "{} difference{} from {} ({} frames expected, {} produced, {} matching{})",
                c.differences.len(),
                if c.differences.len() == 1 { "" } else { "s" },
                path.display(),
                expected.len(),
                got.len(),
                c.matched,
                mask_note(&args.mask)
            );
            return Ok(ExitCode::from(1));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn short_seconds(d: Duration) -> String {
    let s = replay::seconds(d);
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

fn mask_note(mask: &[String]) -> String {
    if mask.is_empty() {
        String::new()
    } else {
        format!("; masked: {}", mask.join(","))
    }
}

fn print_summary(args: &ReplayArgs, setup: &Setup, replay: &Driver) {
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

fn print_diff(path: &Path, expected: &[Record], got: &[Record], diffs: &[Difference], max: usize) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("3s"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3 parsecs").is_err());
    }

    #[test]
    fn line_numbers() {
        assert_eq!(line_of("a = 1\nb = 2\n", 7), 2);
        assert_eq!(line_of("a", 0), 1);
    }
}
