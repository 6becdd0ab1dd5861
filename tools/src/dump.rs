//! `tapstack dump`: one line per frame of a capture, in the manner of tcpdump, or every header
//! field with `-v`.
//!
//! ```text
//!    4 0.307923 in  IP 10.77.0.1 > 10.77.0.2: ICMP echo request, id 13943, seq 1, length 64
//! ```
//!
//! Columns: frame number (from 1), seconds since the first frame, direction (`in`/`out` as the
//! stack saw it, `-` when the capture does not say), then the decoded frame.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::Args;

use tapstack::decode;
use tapstack::device::capture::Record;
use tapstack::device::Direction;

use crate::replay::{open_capture, read_error};

/// Options of `tapstack dump`.
#[derive(Debug, Args)]
pub struct DumpArgs {
    /// The capture (pcap or pcapng, Ethernet).
    file: PathBuf,
    /// Every header field under each frame, one line per layer.
    #[arg(short, long)]
    verbose: bool,
}

/// The one-line form of a record: number, relative time, direction, summary.
pub fn line(number: usize, since_first: Duration, dir: Option<Direction>, r: &Record) -> String {
    let mut s = format!(
        "{number:4} {}.{:06} {:<3} {}",
        since_first.as_secs(),
        since_first.subsec_micros(),
        tapstack::replay::direction_name(dir),
        decode::summary(&r.data)
    );
    let orig = usize::try_from(r.orig_len).unwrap_or(usize::MAX);
    if r.data.len() < orig {
        let _ = write!(s, " [cut by the snaplen: {} of {orig} bytes]", r.data.len());
    }
    s
}

pub fn run(args: DumpArgs) -> Result<ExitCode> {
    let reader = open_capture(&args.file)?;
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut first: Option<Duration> = None;
    let mut n = 0usize;
    for record in reader {
        let r = match record {
            Ok(r) => r,
            Err(e) => {
                // Everything before the damage is printed first.
                let _ = out.flush();
                return Err(read_error(&args.file, e));
            }
        };
        n += 1;
        let origin = *first.get_or_insert(r.timestamp);
        let text = line(n, r.timestamp.saturating_sub(origin), r.direction, &r);
        let mut written = writeln!(out, "{text}");
        if args.verbose && written.is_ok() {
            written = write!(out, "{}", decode::verbose(&r.data, 6));
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
