//! Checking captures with `tshark` (reading files only; nothing here touches a network).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Result};

use crate::process::run_bounded;

/// How long one `tshark` run may take.
const TSHARK_WITHIN: Duration = Duration::from_secs(60);

/// Runs `tshark -r PATH -n ARGS` and returns its stdout.
///
/// # Errors
/// When tshark cannot run, fails or overruns.
pub fn tshark(path: &Path, args: &[&str]) -> Result<String> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(path).arg("-n").args(args);
    let what = format!("{cmd:?}");
    let out = run_bounded(cmd, b"", TSHARK_WITHIN)?;
    if !out.status.success() {
        bail!("{what} failed ({}): {}", out.status, out.stderr.trim());
    }
    Ok(out.stdout_text())
}

/// How many frames the file holds.
///
/// # Errors
/// As [`tshark`].
pub fn frame_count(path: &Path) -> Result<usize> {
    Ok(tshark(path, &["-T", "fields", "-e", "frame.number"])?
        .lines()
        .count())
}

/// What tshark finds wrong in the capture, one line per problem (frame number, expert message,
/// sender MAC, tab-separated): anything malformed, any expert error, any bad checksum (of any
/// protocol: a bad ICMP checksum is only an expert warning).
///
/// Linux fills in a deferred TCP/UDP checksum with 0xffff where the sum comes to 0x0000
/// (`skb_checksum_help`, CSUM_MANGLED_0); the two are the same number in ones' complement and
/// tshark only notes it (RFC 1624). That note is not a problem on frames the kernel sent; on
/// frames from `own_mac` (the stack under test) it still is.
///
/// # Errors
/// As [`tshark`].
pub fn problems(path: &Path, own_mac: &str) -> Result<Vec<String>> {
    problems_by(path, &["eth.src"], |line| line.ends_with(own_mac))
}

/// As [`problems`], for any link type: each line ends with the `source_fields` of the frame
/// (`ip.src` and `ipv6.src` on a capture without Ethernet), and `is_own` tells the stack's
/// frames from those lines.
///
/// # Errors
/// As [`tshark`].
pub fn problems_by(
    path: &Path,
    source_fields: &[&str],
    is_own: impl Fn(&str) -> bool,
) -> Result<Vec<String>> {
    let mut args = vec![
        "-o",
        "ip.check_checksum:TRUE",
        "-o",
        "tcp.check_checksum:TRUE",
        "-o",
        "udp.check_checksum:TRUE",
        "-Y",
        "_ws.malformed || _ws.expert.severity >= 0x00800000 \
         || _ws.expert.group == 0x01000000",
        "-T",
        "fields",
        "-e",
        "frame.number",
        "-e",
        "_ws.expert.message",
    ];
    for field in source_fields {
        args.extend(["-e", field]);
    }
    let found = tshark(path, &args)?;
    Ok(found
        .lines()
        .filter(|l| !l.contains("RFC 1624") || is_own(l))
        .map(str::to_owned)
        .collect())
}
