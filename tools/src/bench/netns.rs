//! Network namespaces and bounded processes for the scenarios that need a real kernel peer.
//!
//! Every namespace is made by the bench and deleted by a guard (with everything still running in
//! it), also when a scenario fails. Every process runs under `timeout` and every wait has a
//! deadline. Kernel-side sockets are opened by threads that have entered a namespace with
//! `setns(2)`, so that no frame leaves the namespaces the bench made.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use super::interrupted;

static NEXT: AtomicUsize = AtomicUsize::new(0);

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Whether `tool` is an executable file on `PATH`.
pub fn have(tool: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| {
        std::fs::metadata(dir.join(tool))
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    })
}

/// Why a scenario that needs namespaces (and TAP devices) and `tools` cannot run here.
pub fn missing(tools: &[&str]) -> Option<String> {
    if !is_root() {
        return Some("needs root (creates network namespaces and TAP devices)".to_owned());
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun does not exist".to_owned());
    }
    ["ip", "timeout"]
        .iter()
        .chain(tools)
        .find(|t| !have(t))
        .map(|t| format!("`{t}` is not installed"))
}

/// What a finished process left behind.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

fn collect<R: Read + Send + 'static>(mut pipe: R) -> JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Runs `cmd` with no input; kills it and fails if it is not done within `limit`.
pub fn run_bounded(mut cmd: Command, limit: Duration) -> Result<Output> {
    let what = format!("{cmd:?}");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().with_context(|| format!("cannot run {what}"))?;
    let stdout = child.stdout.take().map(collect);
    let stderr = child.stderr.take().map(collect);
    let status = wait_until(&mut child, limit)?;
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        bail!("{what} did not finish within {limit:?}");
    };
    let join = |h: Option<JoinHandle<String>>| h.and_then(|h| h.join().ok()).unwrap_or_default();
    Ok(Output {
        status,
        stdout: join(stdout),
        stderr: join(stderr),
    })
}

/// Waits for `child` until `limit` has passed; `None` if it is still running then.
fn wait_until(child: &mut Child, limit: Duration) -> Result<Option<ExitStatus>> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().context("waiting for a child process")? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(5));
    }
}

fn ip(args: &[&str]) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(args);
    cmd
}

/// A network namespace of the bench, deleted (with everything running in it) on drop.
pub struct Netns {
    name: String,
}

impl Netns {
    /// A fresh namespace with the loopback up and IPv6 off, so that the only traffic in it is
    /// what the bench makes.
    ///
    /// # Errors
    /// When `ip netns add` fails.
    pub fn create() -> Result<Netns> {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("tapstack-bench-{}-{n}", std::process::id());
        let limit = Duration::from_secs(10);
        let mut out = run_bounded(ip(&["netns", "add", &name]), limit)?;
        if !out.status.success() {
            // A leftover of an earlier run that had this process id.
            run_bounded(ip(&["netns", "del", &name]), limit)?;
            out = run_bounded(ip(&["netns", "add", &name]), limit)?;
        }
        if !out.status.success() {
            bail!("ip netns add {name} failed: {}", out.stderr.trim());
        }
        let ns = Netns { name };
        ns.run_ok(&["ip", "link", "set", "lo", "up"])?;
        // Devices created later copy `default`. Kernels without IPv6 have no such files.
        ns.run(
            &[
                "sh",
                "-c",
                "for k in all default; do \
                 echo 1 > /proc/sys/net/ipv6/conf/$k/disable_ipv6; done 2>/dev/null; true",
            ],
            limit,
        )?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `argv` run inside the namespace (not started).
    pub fn command(&self, argv: &[&str]) -> Command {
        let mut cmd = ip(&["netns", "exec", &self.name]);
        cmd.args(argv);
        cmd.env_remove("RUST_LOG");
        cmd
    }

    /// Runs `argv` inside the namespace under `timeout`.
    ///
    /// # Errors
    /// When it cannot start or outlives `limit`.
    pub fn run(&self, argv: &[&str], limit: Duration) -> Result<Output> {
        let secs = limit.as_secs().max(1).to_string();
        let mut full = vec!["timeout", "-k", "2", &secs];
        full.extend_from_slice(argv);
        run_bounded(self.command(&full), limit + Duration::from_secs(5))
    }

    /// Runs `argv` inside the namespace and fails unless it succeeds; returns its stdout.
    ///
    /// # Errors
    /// When it fails, cannot start or outlives ten seconds.
    pub fn run_ok(&self, argv: &[&str]) -> Result<String> {
        let out = self.run(argv, Duration::from_secs(10))?;
        if !out.status.success() {
            bail!(
                "{} in {} failed ({}): {}",
                argv.join(" "),
                self.name,
                out.status,
                out.stderr.trim()
            );
        }
        Ok(out.stdout)
    }

    /// Runs `f` on a thread of its own inside the namespace: the sockets it opens live there.
    ///
    /// # Errors
    /// When the namespace cannot be opened or the thread cannot start.
    pub fn spawn<T, F>(&self, what: &str, f: F) -> Result<Pending<T>>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T> + Send + 'static,
    {
        let file = ["/run/netns", "/var/run/netns"]
            .iter()
            .find_map(|dir| File::open(Path::new(dir).join(&self.name)).ok())
            .ok_or_else(|| anyhow!("cannot open namespace {}", self.name))?;
        let (tx, rx) = mpsc::channel();
        thread::Builder::new()
            .name(format!("bench-{what}"))
            .spawn(move || {
                let result = enter(&file).and_then(|()| f());
                let _ = tx.send(result);
            })
            .with_context(|| format!("starting the thread of {what}"))?;
        Ok(Pending {
            rx,
            what: what.to_owned(),
        })
    }

    /// Starts `argv` inside the namespace and waits (bounded) for a line of its stdout that
    /// contains `ready`.
    ///
    /// # Errors
    /// When it cannot start, exits, or says nothing of the kind within `within`.
    pub fn start(&self, argv: &[&str], ready: &str, within: Duration) -> Result<Process> {
        let mut cmd = self.command(argv);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // "tapstack up", "tapstack bench": the program's name and its subcommand.
        let what = argv
            .iter()
            .take(2)
            .map(|a| a.rsplit('/').next().unwrap_or(a))
            .collect::<Vec<_>>()
            .join(" ");
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", argv.join(" ")))?;
        let (tx, lines) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let stderr = child.stderr.take().map(collect);
        let mut process = Process {
            child,
            stderr,
            what,
        };
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(line) if line.contains(ready) => break,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) if left.is_zero() => {
                    let said = process.stop();
                    bail!("{} was not ready within {within:?}: {said}", argv.join(" "));
                }
                Err(RecvTimeoutError::Timeout) if interrupted() => bail!("interrupted"),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    let said = process.stop();
                    bail!("{} exited before it was ready: {said}", argv.join(" "));
                }
            }
        }
        // Keep draining stdout so that the process never blocks on a full pipe.
        thread::spawn(move || for _ in lines {});
        Ok(process)
    }
}

/// Enters the network namespace `file` on this thread only.
fn enter(file: &File) -> Result<()> {
    // SAFETY: setns(2) on a descriptor we own, for a network namespace; it changes only the
    // calling thread's namespace.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        bail!(
            "cannot enter the namespace: {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

impl Drop for Netns {
    fn drop(&mut self) {
        let limit = Duration::from_secs(10);
        // Anything still running in the namespace was started by the bench.
        if let Ok(pids) = run_bounded(ip(&["netns", "pids", &self.name]), limit) {
            let own = std::process::id();
            for pid in pids.stdout.split_whitespace() {
                match pid.parse::<u32>() {
                    Ok(pid) if pid != own => {
                        if let Ok(pid) = libc::pid_t::try_from(pid) {
                            // SAFETY: plain system call on a process of the bench's namespace.
                            unsafe { libc::kill(pid, libc::SIGKILL) };
                        }
                    }
                    _ => {}
                }
            }
        }
        match run_bounded(ip(&["netns", "del", &self.name]), limit) {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "tapstack bench: warning: ip netns del {} failed: {}",
                self.name,
                out.stderr.trim()
            ),
            Err(e) => eprintln!("tapstack bench: warning: ip netns del {}: {e:#}", self.name),
        }
    }
}

/// The result of work running on a thread inside a namespace.
pub struct Pending<T> {
    rx: Receiver<Result<T>>,
    what: String,
}

impl<T> Pending<T> {
    /// Waits for the result; fails if it takes longer than `limit`. A thread that overruns is
    /// left to end on its own: its sockets have timeouts.
    ///
    /// # Errors
    /// The work's own error, or a timeout.
    pub fn wait(self, limit: Duration) -> Result<T> {
        match self.rx.recv_timeout(limit) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) => bail!("{} took longer than {limit:?}", self.what),
            Err(RecvTimeoutError::Disconnected) => bail!("{} ended without a result", self.what),
        }
    }
}

/// A long-running process inside a namespace (a stack under test), stopped on drop.
pub struct Process {
    child: Child,
    stderr: Option<JoinHandle<String>>,
    what: String,
}

impl Process {
    /// CPU time of all the process's threads so far (from the scheduler's statistics).
    pub fn cpu(&self) -> Option<Duration> {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.child.id())).ok()?;
        let mut ns = 0u64;
        for task in tasks.flatten() {
            let stat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
            ns += stat.split_whitespace().next()?.parse::<u64>().ok()?;
        }
        Some(Duration::from_nanos(ns))
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Stops the process (SIGINT, then SIGKILL after three seconds); returns the end of what it
    /// wrote to stderr, for error messages.
    pub fn stop(&mut self) -> String {
        if let Ok(None) = self.child.try_wait() {
            if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
                // SAFETY: plain system call on our own child, not yet reaped.
                unsafe { libc::kill(pid, libc::SIGINT) };
            }
            if !matches!(
                wait_until(&mut self.child, Duration::from_secs(3)),
                Ok(Some(_))
            ) {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
        let text = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let text = text.trim();
        let tail: String = text
            .char_indices()
            .rev()
            .nth(400)
            .map_or(text, |(i, _)| text.get(i..).unwrap_or(text))
            .to_owned();
        if tail.is_empty() {
            format!("{} said nothing on stderr", self.what)
        } else {
            format!("{} said: {tail}", self.what)
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
