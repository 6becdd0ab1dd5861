//! Byte streams of known content through bounded processes: generated input on stdin, stdout
//! counted and hashed on the fly, so that transfers of any size need no files and no memory.

use std::fmt;
use std::io::{self, Read, Write};
use std::process::{Child, ExitStatus, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

use crate::netns::Netns;

/// One mebibyte.
pub const MIB: u64 = 1 << 20;

/// `len` deterministic pseudo-random bytes; byte `i` depends only on `seed` and `i`, so the
/// content does not depend on how it is read.
pub struct Pattern {
    seed: u64,
    pos: u64,
    len: u64,
}

impl Pattern {
    pub fn new(seed: u64, len: u64) -> Pattern {
        Pattern { seed, pos: 0, len }
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014) of `x`.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = usize::try_from(self.len - self.pos).unwrap_or(usize::MAX);
        let n = left.min(buf.len());
        let mut word = [0u8; 8];
        for (i, b) in buf.iter_mut().take(n).enumerate() {
            let at = self.pos + i as u64;
            if i == 0 || at % 8 == 0 {
                word = mix(self.seed ^ mix(at / 8)).to_le_bytes();
            }
            *b = word[(at % 8) as usize];
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// The character generator stream of RFC 864: the 95 printable ASCII characters, 72 a line,
/// line `k` starting with character `k mod 95`, lines ended by CR LF; `len` bytes of it.
pub struct Chargen {
    cycle: Vec<u8>,
    pos: u64,
    len: u64,
}

impl Chargen {
    pub fn new(len: u64) -> Chargen {
        let chars: Vec<u8> = (b' '..=b'~').collect();
        let mut cycle = Vec::new();
        for line in 0..chars.len() {
            cycle.extend((0..72).map(|i| chars[(line + i) % chars.len()]));
            cycle.extend_from_slice(b"\r\n");
        }
        Chargen { cycle, pos: 0, len }
    }
}

impl Read for Chargen {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = usize::try_from(self.len - self.pos).unwrap_or(usize::MAX);
        let start = (self.pos % self.cycle.len() as u64) as usize;
        let rest = &self.cycle[start..];
        let n = left.min(buf.len()).min(rest.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n as u64;
        Ok(n)
    }
}

/// How many bytes a stream had and their SHA-256.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Digest {
    pub bytes: u64,
    pub sha256: [u8; 32],
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes, sha256 ", self.bytes)?;
        self.sha256.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// Reads `from` to its end, or up to `limit` bytes, and hashes what it read.
pub fn digest(mut from: impl Read, limit: Option<u64>) -> io::Result<Digest> {
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut bytes = 0u64;
    loop {
        let want = limit.map_or(buf.len() as u64, |l| (l - bytes).min(buf.len() as u64));
        if want == 0 {
            break;
        }
        let n = match from.read(&mut buf[..want as usize]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hash.update(&buf[..n]);
        bytes += n as u64;
    }
    Ok(Digest {
        bytes,
        sha256: hash.finalize().into(),
    })
}

/// How a streamed process ended.
#[derive(Debug)]
pub struct Transfer {
    /// `None`: still running at the deadline, then killed.
    pub status: Option<ExitStatus>,
    /// Bytes written to its stdin.
    pub sent: u64,
    /// What came out of its stdout.
    pub received: Digest,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Transfer {
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// MiB/s of `bytes` over the elapsed time.
    pub fn rate(&self, bytes: u64) -> f64 {
        bytes as f64 / MIB as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Copies `from` into `to` until either ends; returns how many bytes went in.
fn feed(mut from: Box<dyn Read + Send>, mut to: impl Write) -> u64 {
    let mut buf = vec![0u8; 256 * 1024];
    let mut sent = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => return sent,
            Ok(n) => n,
        };
        // The process may stop reading (exit, killed): then the pipe breaks and feeding ends.
        if to.write_all(&buf[..n]).is_err() {
            return sent;
        }
        sent += n as u64;
    }
}

fn wait_until(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() >= deadline => return None,
            Ok(None) => thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("waiting for a child process: {e}"),
        }
    }
}

/// Runs `argv` in `ns` under `timeout`, with `input` (or nothing) on stdin, and hashes its
/// stdout: all of it, or only the first `take` bytes, after which stdout is closed (the process
/// then typically ends on a broken pipe). Gives up after `limit`; never panics on the
/// process's behaviour, so that the caller can collect the stack's report first.
pub fn stream(
    ns: &Netns,
    argv: &[&str],
    input: Option<Box<dyn Read + Send>>,
    take: Option<u64>,
    limit: Duration,
) -> Transfer {
    let secs = limit.as_secs().max(1).to_string();
    let mut full = vec!["timeout", "-k", "2", &secs];
    full.extend_from_slice(argv);
    let mut cmd = ns.command(&full);
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let writer: Option<JoinHandle<u64>> = match (input, child.stdin.take()) {
        (Some(input), Some(stdin)) => Some(thread::spawn(move || feed(input, stdin))),
        _ => None,
    };
    let stdout = child.stdout.take().expect("piped stdout");
    let reader = thread::spawn(move || {
        let got = digest(stdout, take);
        (got, Instant::now())
    });
    let mut stderr_pipe = child.stderr.take().expect("piped stderr");
    let stderr = thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr_pipe.read_to_string(&mut s);
        s
    });
    let status = wait_until(&mut child, started + limit + Duration::from_secs(5));
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    // The reader has everything once the process is gone (or it stopped early at `take`).
    let (received, done) = reader.join().expect("stdout reader");
    let received = received.unwrap_or(Digest {
        bytes: 0,
        sha256: [0; 32],
    });
    let sent = writer.map_or(0, |w| w.join().unwrap_or(0));
    Transfer {
        status,
        sent,
        received,
        stderr: stderr.join().unwrap_or_default(),
        elapsed: done.saturating_duration_since(started),
    }
}
