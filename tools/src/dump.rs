//! `tapstack dump`: one line per frame of a capture, in the manner of tcpdump, or every header
//! field with `-v`.
//!
//! ```text
//!    4 0.307923 in  IP 10.77.0.1 > 10.77.0.2: ICMP echo request, id 13943, seq 1, length 64
//! ```
//!
//! Columns: frame number (from 1, counting every frame of the capture, shown or not), seconds
//! since the first frame, direction (`in`/`out` as the stack saw it, or as a Linux cooked
//! capture's packet type says; `-` when the capture does not say), then the decoded frame. Every
//! link type replay reads is decoded; a frame whose captured FCS is wrong is marked.
//!
//! A filter in tcpdump's syntax ([`crate::filter`]) picks the frames: `--filter EXPR`, or the
//! words after the file as tcpdump takes them (`tapstack dump F tcp port 80`). `-c N` stops
//! after N frames shown, `-x` adds the bytes in hex, `--json` prints one JSON object per frame.

use std::fmt::Write as _;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use clap::Args;

use tapstack::decode;
use tapstack::device::capture::{CaptureReader, Record};
use tapstack::device::Direction;

use crate::filter::Filter;
use crate::json::{Object, Value};
use crate::replay::{open_capture, read_error};

/// Options of `tapstack dump`.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
#[command(mut_arg("verbose", |a| a.help(
    "Every header field under each frame, one line per layer (and the stack's debug log)"
)))]
pub struct DumpArgs {
    /// The capture (pcap or pcapng; Ethernet, Linux cooked v1/v2, raw IP, IPv4, IPv6, NULL or
    /// LOOP), "-" for standard input.
    #[arg(value_name = "FILE")]
    file: Option<String>,
    /// A filter, as tcpdump takes it after its options (with -r, every word after the options
    /// is the expression).
    #[arg(value_name = "EXPRESSION")]
    expression: Vec<String>,
    /// The capture to read ("-" for standard input), instead of the first word.
    #[arg(short = 'r', value_name = "FILE")]
    read: Option<PathBuf>,
    /// Show only the frames that pass this filter (tcpdump syntax, see below).
    #[arg(long, value_name = "EXPR")]
    filter: Option<String>,
    /// Stop after this many frames shown.
    #[arg(short = 'c', value_name = "N")]
    count: Option<u64>,
    /// The frame's bytes in hex under each frame (the whole frame, as tcpdump -xx shows it).
    #[arg(short = 'x')]
    hex: bool,
    /// One JSON object per frame, one per line: number, time, direction, lengths, summary
    /// (and the bytes in hex with -x).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pub log: crate::log::Verbosity,
}

const AFTER_HELP: &str = "\
Filters take the subset of tcpdump's syntax people type most: host, net (ADDR/LEN or mask),
port, portrange, src/dst, ether host/src/dst, arp, ip, ip6, icmp, icmp6, tcp, udp, vlan,
ip proto N, less/greater N, and/or/not (&&, ||, !), parentheses, and relations over header
bytes such as 'tcp[tcpflags] & tcp-syn != 0'. A TCP flag can also be written 'tcp syn' (or
ack, fin, rst, push, urg, ece, cwr).

Examples:
  tapstack dump captures/ping-curl.pcapng tcp port 80
  tapstack dump -r captures/tcp-echo.pcapng -c 3 -x 'tcp syn'
  tapstack up --pcap - | tapstack dump - icmp

Exit status: 0 when the capture was printed; 2 on an error (bad arguments or filter, a
capture that cannot be read or is damaged; the frames before the damage are printed first).";

/// The one-line form of a record: number, relative time, direction, summary.
pub fn line(number: usize, since_first: Duration, dir: Option<Direction>, r: &Record) -> String {
    let mut s = format!(
        "{number:4} {}.{:06} {:<3} {}",
        since_first.as_secs(),
        since_first.subsec_micros(),
        tapstack::replay::direction_name(dir.or_else(|| r.marked_direction())),
        decode::summary_of(r.link, &r.data)
    );
    if r.fcs_ok() == Some(false) {
        s.push_str(" [bad FCS]");
    }
    let orig = usize::try_from(r.orig_len).unwrap_or(usize::MAX);
    if r.data.len() < orig {
        let _ = write!(s, " [cut by the snaplen: {} of {orig} bytes]", r.data.len());
    }
    s
}

/// The bytes of a frame, 16 a line, with offsets (as `tcpdump -x` prints them).
fn hex(data: &[u8]) -> String {
    let mut s = String::new();
    for (i, chunk) in data.chunks(16).enumerate() {
        let _ = write!(s, "\t0x{:04x}: ", i * 16);
        for pair in chunk.chunks(2) {
            for b in pair {
                let _ = write!(s, "{b:02x}");
            }
            s.push(' ');
        }
        s.truncate(s.trim_end().len());
        s.push('\n');
    }
    s
}

/// A frame as one JSON object.
fn json(number: usize, since_first: Duration, r: &Record, with_hex: bool) -> String {
    let mut o = Object::new();
    o.put("number", number)
        .put(
            "time",
            Value::Raw(format!(
                "{}.{:06}",
                since_first.as_secs(),
                since_first.subsec_micros()
            )),
        )
        .put(
            "direction",
            r.direction.map(|d| match d {
                Direction::In => "in",
                Direction::Out => "out",
            }),
        )
        .put("length", r.orig_len)
        .put("captured", r.data.len())
        .put("summary", decode::summary(&r.data).to_string());
    if with_hex {
        let mut h = String::with_capacity(r.data.len() * 2);
        for b in &r.data {
            let _ = write!(h, "{b:02x}");
        }
        o.put("hex", h);
    }
    o.to_string()
}

/// The filter of `--filter` and the trailing words (both given: both must pass).
pub fn filter_from(flag: Option<&str>, words: &[String]) -> Result<Option<Filter>> {
    let trailing = words.join(" ");
    let text = match (flag, trailing.trim().is_empty()) {
        (Some(f), true) => f.to_owned(),
        (Some(f), false) => format!("({f}) and ({trailing})"),
        (None, false) => trailing,
        (None, true) => return Ok(None),
    };
    Filter::parse(&text).map(Some).map_err(|e| anyhow!(e))
}

pub fn run(args: DumpArgs) -> Result<ExitCode> {
    let (file, expression) = match (&args.read, &args.file) {
        (Some(f), first) => {
            let mut words: Vec<String> = first.iter().cloned().collect();
            words.extend(args.expression.iter().cloned());
            (f.clone(), words)
        }
        (None, Some(f)) => (PathBuf::from(f), args.expression.clone()),
        (None, None) => {
            bail!("no capture given: tapstack dump FILE (or -r FILE, or - for standard input)")
        }
    };
    let filter = filter_from(args.filter.as_deref(), &expression)?;
    if file.as_os_str() == "-" {
        let stdin = io::stdin();
        let reader = CaptureReader::new(BufReader::with_capacity(256 * 1024, stdin.lock()))
            .map_err(|e| read_error(Path::new("standard input"), e))?;
        // A pipe may be live (`tapstack up --pcap - | tapstack dump -`): each frame is
        // printed as it comes.
        print(
            reader,
            Path::new("standard input"),
            &args,
            filter.as_ref(),
            true,
        )
    } else {
        let reader = open_capture(&file)?;
        print(reader, &file, &args, filter.as_ref(), false)
    }
}

fn print<R: Read>(
    reader: CaptureReader<R>,
    file: &Path,
    args: &DumpArgs,
    filter: Option<&Filter>,
    live: bool,
) -> Result<ExitCode> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut first: Option<Duration> = None;
    let mut n = 0usize;
    let mut shown = 0u64;
    for record in reader {
        if args.count.is_some_and(|c| shown >= c) {
            break;
        }
        let r = match record {
            Ok(r) => r,
            Err(e) => {
                // Everything before the damage is printed first.
                let _ = out.flush();
                return Err(read_error(file, e));
            }
        };
        n += 1;
        let origin = *first.get_or_insert(r.timestamp);
        if filter.is_some_and(|f| !f.matches_record(&r)) {
            continue;
        }
        shown += 1;
        let since = r.timestamp.saturating_sub(origin);
        let mut written = if args.json {
            writeln!(out, "{}", json(n, since, &r, args.hex))
        } else {
            writeln!(out, "{}", line(n, since, r.direction, &r))
        };
        if !args.json && args.log.verbose > 0 && written.is_ok() {
            written = write!(out, "{}", decode::verbose_of(r.link, &r.data, 6));
        }
        if !args.json && args.hex && written.is_ok() {
            written = write!(out, "{}", hex(&r.data));
        }
        if live && written.is_ok() {
            written = out.flush();
        }
        if let Err(e) = written {
            // `tapstack dump F | head` closes the pipe early: not an error.
            if e.kind() == io::ErrorKind::BrokenPipe {
                return Ok(ExitCode::SUCCESS);
            }
            return Err(e.into());
        }
    }
    match out.flush() {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_lines_like_tcpdump() {
        let data: Vec<u8> = (0u8..18).collect();
        assert_eq!(
            hex(&data),
            "\t0x0000: 0001 0203 0405 0607 0809 0a0b 0c0d 0e0f\n\t0x0010: 1011\n"
        );
    }
}
