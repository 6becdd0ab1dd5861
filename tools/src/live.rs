//! `--pcap -`: the capture on standard output, for a live view in Wireshark or tshark.
//!
//! The capture takes over the process's standard output; file descriptor 1 is then pointed at
//! standard error, so that every line the command prints (its banner, events, the closing
//! counters) goes there and the pipe carries nothing but pcapng. The capture is flushed after
//! every batch of frames.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::fd::AsFd;
use std::path::Path;

use anyhow::{Context, Result};

use tapstack::device::capture::{CaptureWriter, Format};
use tapstack::device::Medium;

/// Whether a capture path names standard output.
pub fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// A pcapng writer on standard output, flushed per batch; standard output is moved to
/// standard error for everything else.
///
/// # Errors
/// When standard output is a terminal, the descriptors cannot be duplicated or the header
/// cannot be written.
pub fn capture(interface: &str, medium: Medium) -> Result<CaptureWriter> {
    let mut stdout = std::io::stdout().lock();
    if std::io::IsTerminal::is_terminal(&stdout) {
        anyhow::bail!(
            "--pcap - writes binary pcapng to standard output, which is a terminal here: pipe it \
             into a reader (| wireshark -k -i -, | tshark -i -, | tapstack dump -)"
        );
    }
    stdout.flush().context("flushing standard output")?;
    let pipe = File::from(
        stdout
            .as_fd()
            .try_clone_to_owned()
            .context("duplicating standard output for the capture")?,
    );
    // SAFETY: dup2 on two descriptors this process holds open (0-2); it replaces descriptor 1
    // atomically, and the standard output lock is held so no print is half way.
    let moved = unsafe { libc::dup2(libc::STDERR_FILENO, libc::STDOUT_FILENO) };
    if moved < 0 {
        return Err(std::io::Error::last_os_error())
            .context("pointing standard output at standard error");
    }
    drop(stdout);
    let writer = CaptureWriter::new_for(
        BufWriter::with_capacity(256 * 1024, pipe),
        Format::PcapNg,
        interface,
        medium,
    )
    .context("writing the capture header to standard output")?;
    Ok(writer.flushed_per_batch())
}
