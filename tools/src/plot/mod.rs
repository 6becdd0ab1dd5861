//! `tapstack plot`: a time-sequence graph of each TCP connection in a capture, as tcptrace and
//! Wireshark's Stevens graph draw it, written as SVG by hand (plain XML, no dependency).
//!
//! For each connection the direction that carried more payload is the sender. Its data segments
//! are vertical bars from their first to their last sequence number at their time; segments that
//! send again sequence space already sent are retransmissions, drawn in their own colour. The
//! receiver's segments give the ACK line (its cumulative acknowledgment), the receive window line
//! (ACK plus its window, scaled as the SYN said) and its SACK blocks. Sequence numbers are
//! relative to the sender's first (its SYN, or the first segment seen).
//!
//! With `--trace FILE` (from `tapstack replay --trace`) a second chart under each graph draws the
//! stack's own view of that connection: cwnd and ssthresh in bytes, srtt in ms on its own scale,
//! and its congestion events.
//!
//! Every series is an SVG element with `class="series NAME"`: data, retransmission, ack, window,
//! sack (and cwnd, ssthresh, srtt, events under a trace), inside a `<g class="connection"
//! id="conn-N">`.
//!
//! Files: `capture` reads the segments and connections, `series` turns a connection into the
//! graph's series, `trace` reads a replay's trace, `svg` draws; this file holds the command.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Args;

/// Options of `tapstack plot`.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct PlotArgs {
    /// The capture (pcap or pcapng, of any link type replay reads).
    input: PathBuf,
    /// Write the graph here (SVG).
    #[arg(long, value_name = "FILE", required_unless_present = "list")]
    out: Option<PathBuf>,
    /// Only this connection (numbered from 1 in the order they appear; see --list).
    #[arg(long, value_name = "N")]
    conn: Option<usize>,
    /// List the TCP connections of the capture and exit.
    #[arg(long)]
    list: bool,
    /// Draw this trace of `tapstack replay --trace` under each graph (cwnd, ssthresh, srtt).
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    #[command(flatten)]
    pub log: crate::log::Verbosity,
}

const AFTER_HELP: &str = "\
Series (SVG elements with class \"series NAME\"): data (segments the sender sent), retransmission
(segments sending again what was sent before), ack (the receiver's cumulative ACK), window (ACK
plus the receive window), sack (the receiver's SACK blocks); under --trace also cwnd, ssthresh,
srtt and events.

Examples:
  tapstack plot captures/tcp-discard.pcapng --out discard.svg
  tapstack plot lossy.pcapng --list
  tapstack replay lossy.pcapng --trace trace.jsonl && \\
    tapstack plot lossy.pcapng --conn 1 --trace trace.jsonl --out lossy.svg

Exit status: 0 when the graph was written (or the list printed); 2 on an error (bad arguments,
a capture that cannot be read, no TCP connection in it, no connection N).";

/// Connections followed in one capture; more are counted and left out.
const MAX_CONNECTIONS: usize = 4096;
/// Segments kept in all (about 100 bytes each); more are counted and left out.
const MAX_SEGMENTS: usize = 2_000_000;
/// Trace samples kept in all; more are left out.
const MAX_SAMPLES: usize = 2_000_000;

mod capture;
mod series;
mod svg;
mod trace;

use capture::*;
use svg::*;
use trace::*;

pub fn run(args: PlotArgs) -> Result<ExitCode> {
    let cap = read_capture(&args.input)?;
    if cap.connections.is_empty() {
        bail!("{}: no TCP connection in the capture", args.input.display());
    }
    if args.list {
        print!("{}", listing(&cap));
        return Ok(ExitCode::SUCCESS);
    }
    let chosen: Vec<(usize, &Connection)> = match args.conn {
        Some(n) => match n.checked_sub(1).and_then(|i| cap.connections.get(i)) {
            Some(c) => vec![(n, c)],
            None => bail!(
                "{}: no connection {n}; the capture has {}:\n{}",
                args.input.display(),
                cap.connections.len(),
                listing(&cap).trim_end()
            ),
        },
        None => cap
            .connections
            .iter()
            .enumerate()
            .map(|(i, c)| (i + 1, c))
            .collect(),
    };
    let trace = match &args.trace {
        Some(p) => Some(read_trace(p)?),
        None => None,
    };
    let Some(out) = &args.out else {
        bail!("--out FILE is needed");
    };
    let title = format!("tapstack plot {}", args.input.display());
    let svg = render(&title, &chosen, trace.as_ref());
    std::fs::write(out, svg).with_context(|| format!("cannot write {}", out.display()))?;
    if cap.connections_left_out > 0 {
        eprintln!(
            "tapstack plot: {} segments of connections beyond the first {MAX_CONNECTIONS} left out",
            cap.connections_left_out
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests;
