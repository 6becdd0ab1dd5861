//! Network namespaces: made fresh, with everything inside them run through `ip netns exec`
//! under `timeout`, and deleted (with everything still running in them) by a guard, also when
//! the caller fails or panics. Threads that enter a namespace with `setns(2)` open sockets there,
//! so that no frame leaves the namespaces made here.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Command;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

use crate::process::{run_bounded, unique_name, OnDrop, Output, Process, Wait};

/// How long the bookkeeping commands (`ip netns add`, `del`, `pids`, sysctls) may take.
const ADMIN_WITHIN: Duration = Duration::from_secs(10);

/// A network namespace, deleted (with everything running in it) on drop.
pub struct Netns {
    name: String,
    /// Who made it ("tapstack bench"): the start of its name and of warnings.
    owner: &'static str,
}

fn ip(args: &[&str]) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(args);
    cmd
}

impl Netns {
    /// A fresh namespace, named after `owner` ("tapstack bench" makes `tapstack-bench-PID-N`),
    /// with the loopback up and IPv6 off, so that the only traffic in it is what the caller
    /// makes.
    ///
    /// # Errors
    /// When `ip netns add` fails or the loopback cannot be brought up.
    pub fn create(owner: &'static str) -> Result<Netns> {
        let name = unique_name(&owner.replace(' ', "-"));
        let add = || run_bounded(ip(&["netns", "add", &name]), b"", ADMIN_WITHIN);
        let mut out = add()?;
        if !out.status.success() {
            // A leftover of an earlier run that had this process id.
            run_bounded(ip(&["netns", "del", &name]), b"", ADMIN_WITHIN)?;
            out = add()?;
        }
        if !out.status.success() {
            bail!("ip netns add {name} failed: {}", out.stderr.trim());
        }
        let ns = Netns { name, owner };
        ns.run_ok(&["ip", "link", "set", "lo", "up"])?;
        // Devices created later copy `default`. Kernels without IPv6 have no such files.
        ns.run(
            &[
                "sh",
                "-c",
                "for k in all default; do \
                 echo 1 > /proc/sys/net/ipv6/conf/$k/disable_ipv6; done 2>/dev/null; true",
            ],
            b"",
            ADMIN_WITHIN,
        )?;
        Ok(ns)
    }

    /// A fresh namespace with IPv6 on for devices created later (a TAP device), and without
    /// duplicate address detection on the kernel side, so that the kernel's own addresses are
    /// usable at once. The kernel sends its MLD reports and router solicitations on such links.
    ///
    /// # Errors
    /// As [`Netns::create`], or when the sysctls cannot be set.
    pub fn create_ipv6(owner: &'static str) -> Result<Netns> {
        let ns = Netns::create(owner)?;
        ns.run_ok(&[
            "sh",
            "-c",
            "for k in all default; do \
             echo 0 > /proc/sys/net/ipv6/conf/$k/disable_ipv6; \
             echo 0 > /proc/sys/net/ipv6/conf/$k/accept_dad; done",
        ])?;
        Ok(ns)
    }

    /// The namespace's name (for `ip netns exec`, `ip link ... netns`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `argv` run inside the namespace (not started), without `RUST_LOG`.
    pub fn command(&self, argv: &[&str]) -> Command {
        let mut cmd = ip(&["netns", "exec", &self.name]);
        cmd.args(argv);
        cmd.env_remove("RUST_LOG");
        cmd
    }

    /// Runs `argv` inside the namespace under `timeout`, feeding it `stdin`.
    ///
    /// # Errors
    /// When it cannot start or outlives `limit` (and a grace period).
    pub fn run(&self, argv: &[&str], stdin: &[u8], limit: Duration) -> Result<Output> {
        let secs = limit.as_secs().max(1).to_string();
        let mut full = vec!["timeout", "-k", "2", &secs];
        full.extend_from_slice(argv);
        run_bounded(self.command(&full), stdin, limit + Duration::from_secs(5))
    }

    /// Runs `argv` inside the namespace and fails unless it succeeds; returns its stdout.
    ///
    /// # Errors
    /// When it fails, cannot start or outlives ten seconds.
    pub fn run_ok(&self, argv: &[&str]) -> Result<String> {
        let out = self.run(argv, b"", ADMIN_WITHIN)?;
        if !out.status.success() {
            bail!(
                "{} in {} failed ({}): {}",
                argv.join(" "),
                self.name,
                out.status,
                out.stderr.trim()
            );
        }
        Ok(out.stdout_text())
    }

    /// Gives `dev` the address `cidr` ("10.77.0.1/24") and brings it up.
    ///
    /// # Errors
    /// When `ip` fails.
    pub fn address(&self, dev: &str, cidr: &str) -> Result<()> {
        self.run_ok(&["ip", "addr", "add", cidr, "dev", dev])?;
        self.run_ok(&["ip", "link", "set", dev, "up"])?;
        Ok(())
    }

    /// Adds a TAP device `dev` (no program holds it yet) with the kernel's address `cidr` on it,
    /// and brings it up.
    ///
    /// # Errors
    /// When `ip` fails.
    pub fn add_tap(&self, dev: &str, cidr: &str) -> Result<()> {
        self.run_ok(&["ip", "tuntap", "add", "dev", dev, "mode", "tap"])?;
        self.address(dev, cidr)
    }

    /// Adds a veth pair: `here` in this namespace (with the `ip link` attributes `attrs`, such
    /// as `["gso_max_segs", "1"]`), its peer `there` in `peer`. Neither has an address or is up.
    ///
    /// # Errors
    /// When `ip` fails.
    pub fn add_veth(&self, here: &str, attrs: &[&str], peer: &Netns, there: &str) -> Result<()> {
        let mut argv = vec!["ip", "link", "add", here];
        argv.extend_from_slice(attrs);
        argv.extend(["type", "veth", "peer", "name", there, "netns", peer.name()]);
        self.run_ok(&argv)?;
        Ok(())
    }

    /// Starts `argv` inside the namespace, its stdout watched line by line.
    ///
    /// # Errors
    /// When it cannot start.
    pub fn start(&self, argv: &[&str], on_drop: OnDrop) -> Result<Process> {
        Process::start(self.command(argv), argv, on_drop)
    }

    /// Starts `argv` inside the namespace (stopped with SIGINT on drop) and waits for a line of
    /// its stdout that contains `ready`, for at most `within`; `give_up` is asked about five
    /// times a second whether to stop waiting.
    ///
    /// # Errors
    /// When it cannot start, exits, says nothing of the kind within `within`, or `give_up`
    /// says so ("interrupted").
    pub fn start_until(
        &self,
        argv: &[&str],
        ready: &str,
        within: Duration,
        give_up: impl Fn() -> bool,
    ) -> Result<Process> {
        let mut process = self.start(argv, OnDrop::Interrupt)?;
        match process.wait_line(|line| line.contains(ready), within, give_up) {
            Wait::Seen => Ok(process),
            Wait::TimedOut => {
                let said = process.stop_and_tell();
                bail!("{} was not ready within {within:?}: {said}", argv.join(" "))
            }
            Wait::Exited => {
                let said = process.stop_and_tell();
                bail!("{} exited before it was ready: {said}", argv.join(" "))
            }
            Wait::GaveUp => bail!("interrupted"),
        }
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
            .name(format!("netns-{what}"))
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
        // Anything still running in the namespace was started by its owner.
        if let Ok(pids) = run_bounded(ip(&["netns", "pids", &self.name]), b"", ADMIN_WITHIN) {
            let own = std::process::id();
            for pid in pids.stdout_text().split_whitespace() {
                match pid.parse::<u32>() {
                    Ok(pid) if pid != own => {
                        if let Ok(pid) = libc::pid_t::try_from(pid) {
                            // SAFETY: plain system call on a process of the owner's namespace.
                            unsafe { libc::kill(pid, libc::SIGKILL) };
                        }
                    }
                    _ => {}
                }
            }
        }
        match run_bounded(ip(&["netns", "del", &self.name]), b"", ADMIN_WITHIN) {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "{}: warning: ip netns del {} failed: {}",
                self.owner,
                self.name,
                out.stderr.trim()
            ),
            Err(e) => eprintln!("{}: warning: ip netns del {}: {e:#}", self.owner, self.name),
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
    /// left to end on its own: its sockets should have timeouts.
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
