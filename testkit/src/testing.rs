//! The test conveniences over [`crate::netns`] and [`crate::process`]: the same namespaces and
//! processes, with every failure a panic that says what failed, and tests that skip (printing
//! "skipping: <reason>") on machines that cannot run them.

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::netns;
use crate::process::{self, Exit, OnDrop, Output, Process, Wait};

/// Who the tests' namespaces and temporary directories belong to.
const OWNER: &str = "tapstack test";
/// How long the stack may take from start to "is up and answering".
pub const READY_WITHIN: Duration = Duration::from_secs(15);
/// How long a signalled stack may take to exit.
pub const EXIT_WITHIN: Duration = Duration::from_secs(5);

/// Runs `cmd` with `stdin` as its input; panics if it cannot start or does not finish within
/// `limit`.
pub fn run_bounded(cmd: Command, stdin: &[u8], limit: Duration) -> Output {
    process::run_bounded(cmd, stdin, limit).unwrap_or_else(|e| panic!("{e:#}"))
}

/// A network namespace of one test, deleted (with everything running in it) on drop.
pub struct Netns(netns::Netns);

impl Deref for Netns {
    type Target = netns::Netns;
    fn deref(&self) -> &netns::Netns {
        &self.0
    }
}

impl Netns {
    /// A fresh namespace, or `None` after printing "skipping: <reason>" when this machine cannot
    /// run the test (not root, no /dev/net/tun, or one of `tools` missing).
    pub fn create_or_skip(tools: &[&str]) -> Option<Netns> {
        if let Some(reason) = process::missing(tools) {
            println!("skipping: {reason}");
            return None;
        }
        Some(Netns::create())
    }

    /// A fresh namespace with the loopback up and IPv6 off, so that the only traffic on the TAP
    /// link is what the test makes. Panics if it cannot be made.
    pub fn create() -> Netns {
        Netns(netns::Netns::create(OWNER).unwrap_or_else(|e| panic!("{e:#}")))
    }

    /// Like [`Netns::create_or_skip`], with IPv6 on (see [`Netns::create_ipv6`]); also skips
    /// when the kernel has no IPv6.
    pub fn create_ipv6_or_skip(tools: &[&str]) -> Option<Netns> {
        if let Some(reason) = process::missing(tools) {
            println!("skipping: {reason}");
            return None;
        }
        if !Path::new("/proc/sys/net/ipv6").exists() {
            println!("skipping: the kernel has no IPv6");
            return None;
        }
        Some(Netns::create_ipv6())
    }

    /// A fresh namespace with IPv6 on for devices created later (the TAP device), and without
    /// duplicate address detection on the kernel side (see [`netns::Netns::create_ipv6`]).
    pub fn create_ipv6() -> Netns {
        Netns(netns::Netns::create_ipv6(OWNER).unwrap_or_else(|e| panic!("{e:#}")))
    }

    /// Runs `argv` inside the namespace under `timeout`, feeding it `stdin`; panics if it
    /// cannot start or overruns.
    pub fn run(&self, argv: &[&str], stdin: &[u8], limit: Duration) -> Output {
        self.0
            .run(argv, stdin, limit)
            .unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// Runs `argv` inside the namespace and panics unless it succeeds; returns its stdout.
    pub fn run_ok(&self, argv: &[&str]) -> String {
        self.0.run_ok(argv).unwrap_or_else(|e| panic!("{e:#}"))
    }

    /// Gives `dev` the address `cidr` and brings it up; panics if that fails.
    pub fn address(&self, dev: &str, cidr: &str) {
        self.0
            .address(dev, cidr)
            .unwrap_or_else(|e| panic!("{e:#}"));
    }

    /// Adds a TAP device `dev` with the kernel's address `cidr`, up; panics if that fails.
    pub fn add_tap(&self, dev: &str, cidr: &str) {
        self.0
            .add_tap(dev, cidr)
            .unwrap_or_else(|e| panic!("{e:#}"));
    }

    /// Adds a veth pair, `here` (with `attrs`) in this namespace and `there` in `peer`;
    /// panics if that fails.
    pub fn add_veth(&self, here: &str, attrs: &[&str], peer: &Netns, there: &str) {
        self.0
            .add_veth(here, attrs, &peer.0, there)
            .unwrap_or_else(|e| panic!("{e:#}"));
    }

    /// Starts `BIN up ARGS` inside the namespace (`bin` is the `tapstack` binary under test).
    pub fn start_tapstack(&self, bin: &str, args: &[&str]) -> Stack {
        let mut argv = vec![bin, "up"];
        argv.extend_from_slice(args);
        Stack(
            self.0
                .start(&argv, OnDrop::Kill)
                .unwrap_or_else(|e| panic!("{e:#}")),
        )
    }

    /// Starts the stack with `args` and waits until it answers.
    pub fn start_tapstack_ready(&self, bin: &str, args: &[&str]) -> Stack {
        let mut stack = self.start_tapstack(bin, args);
        stack.wait_ready();
        stack
    }
}

/// A running `tapstack up`, killed on drop if it is still running.
pub struct Stack(Process);

impl Deref for Stack {
    type Target = Process;
    fn deref(&self) -> &Process {
        &self.0
    }
}

impl DerefMut for Stack {
    fn deref_mut(&mut self) -> &mut Process {
        &mut self.0
    }
}

impl Stack {
    /// Waits for "tapstack: <addr> is up and answering"; panics if it exits or takes too long.
    pub fn wait_ready(&mut self) {
        self.wait_line("up", |line| {
            line.starts_with("tapstack: ") && line.ends_with(" is up and answering")
        });
    }

    /// Waits for a line of stdout (printed earlier or from now on) that `matches`; panics if the
    /// stack exits or takes longer than the start-up allowance. `what` names it in the panic.
    pub fn wait_line(&mut self, what: &str, matches: impl Fn(&str) -> bool) {
        match self.0.wait_line(matches, READY_WITHIN, || false) {
            Wait::Seen => {}
            Wait::TimedOut | Wait::GaveUp => {
                let exit = self.kill();
                panic!("tapstack was not {what} within {READY_WITHIN:?}: {exit:#?}");
            }
            Wait::Exited => {
                let exit = self.wait_exit(EXIT_WITHIN);
                panic!("tapstack exited before it was {what}: {exit:#?}");
            }
        }
    }

    /// Sends `signal` to the stack; panics if that fails.
    pub fn signal(&self, signal: libc::c_int) {
        self.0.signal(signal).unwrap_or_else(|e| panic!("{e:#}"));
    }

    /// Sends `signal` and waits (bounded) for the stack to exit.
    pub fn stop(&mut self, signal: libc::c_int) -> Exit {
        self.signal(signal);
        self.wait_exit(EXIT_WITHIN)
    }

    /// Waits for the stack to exit on its own; panics (after killing it) if it takes too long.
    pub fn wait_exit(&mut self, limit: Duration) -> Exit {
        match self.0.wait_exit(limit) {
            Some(exit) => exit,
            None => {
                let exit = self.kill();
                panic!("tapstack did not exit within {limit:?}: {exit:#?}");
            }
        }
    }

    fn kill(&mut self) -> Exit {
        self.0
            .kill()
            .unwrap_or_else(|e| panic!("waiting for tapstack: {e:#}"))
    }
}

/// A directory of its own under the system temp dir, removed on drop.
pub struct TempDir(process::TempDir);

impl TempDir {
    /// A fresh directory; panics if it cannot be made.
    #[allow(clippy::new_without_default)] // Making a directory is not a default value.
    pub fn new() -> TempDir {
        TempDir(process::TempDir::create("tapstack-test").unwrap_or_else(|e| panic!("{e:#}")))
    }

    /// `name` inside the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

/// A temporary path as a command-line argument.
pub fn path_arg(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

/// Prints how long a test took (`timing: NAME took S s`).
pub fn took(test: &str, started: Instant) {
    println!(
        "timing: {test} took {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// The stack exited with status 0 and without a panic.
pub fn assert_clean_exit(exit: &Exit) {
    assert!(exit.status.success(), "tapstack failed: {exit:#?}");
    assert!(
        !exit.stderr.contains("panicked"),
        "tapstack panicked: {exit:#?}"
    );
}
