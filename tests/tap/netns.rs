//! Network namespaces and bounded processes for the TAP tests.
//!
//! Every test gets its own namespace. Everything the tests start runs inside it through
//! `ip netns exec`, every wait has a deadline, and the guards stop what is still running and
//! delete the namespace when they go away, also when a test panics.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The `tapstack` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_tapstack");

/// How long the stack may take from start to "is up and answering".
const READY_WITHIN: Duration = Duration::from_secs(15);
/// How long a signalled stack may take to exit.
pub const EXIT_WITHIN: Duration = Duration::from_secs(5);

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A name no other test of this process (or of another concurrent run) uses.
pub fn unique_name(prefix: &str) -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id())
}

pub fn is_root() -> bool {
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

/// Why tests that need a namespace, a TAP device and `tools` cannot run here, if they cannot.
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
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Output {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

fn collect<R: Read + Send + 'static>(mut pipe: R) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        buf
    })
}

/// Waits for `child` until `limit` has passed; `None` if it is still running then.
fn wait_until(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() >= deadline => return None,
            Ok(None) => thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("waiting for a child process: {e}"),
        }
    }
}

/// Runs `cmd` with `stdin` as its input; panics if it does not finish within `limit`.
pub fn run_bounded(mut cmd: Command, stdin: &[u8], limit: Duration) -> Output {
    let what = format!("{cmd:?}");
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let mut input = child.stdin.take().expect("piped stdin");
    let data = stdin.to_vec();
    let writer = thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let stdout = collect(child.stdout.take().expect("piped stdout"));
    let stderr = collect(child.stderr.take().expect("piped stderr"));
    let Some(status) = wait_until(&mut child, limit) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{what} did not finish within {limit:?}");
    };
    let _ = writer.join();
    Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned(),
    }
}

/// A network namespace of one test, deleted (with everything running in it) on drop.
pub struct Netns {
    name: String,
}

impl Netns {
    /// A fresh namespace, or `None` after printing "skipping: <reason>" when this machine cannot
    /// run the test (not root, no /dev/net/tun, or one of `tools` missing).
    pub fn create_or_skip(tools: &[&str]) -> Option<Netns> {
        if let Some(reason) = missing(tools) {
            println!("skipping: {reason}");
            return None;
        }
        Some(Netns::create())
    }

    /// A fresh namespace with the loopback up and IPv6 off, so that the only traffic on the TAP
    /// link is what the test makes.
    pub fn create() -> Netns {
        let name = unique_name("tapstack-test");
        let add = || run_bounded(ip(&["netns", "add", &name]), b"", Duration::from_secs(10));
        let mut out = add();
        if !out.status.success() {
            // A leftover of an earlier run that had this process id.
            run_bounded(ip(&["netns", "del", &name]), b"", Duration::from_secs(10));
            out = add();
        }
        assert!(
            out.status.success(),
            "ip netns add {name} failed: {}",
            out.stderr.trim()
        );
        let ns = Netns { name };
        ns.run_ok(&["ip", "link", "set", "lo", "up"]);
        // Devices created later copy `default`. Kernels without IPv6 have no such files.
        ns.run(
            &[
                "sh",
                "-c",
                "for k in all default; do \
                 echo 1 > /proc/sys/net/ipv6/conf/$k/disable_ipv6; done 2>/dev/null; true",
            ],
            b"",
            Duration::from_secs(10),
        );
        ns
    }

    /// Like [`Netns::create_or_skip`], with IPv6 on (see [`Netns::create_ipv6`]); also skips
    /// when the kernel has no IPv6.
    pub fn create_ipv6_or_skip(tools: &[&str]) -> Option<Netns> {
        if let Some(reason) = missing(tools) {
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
    /// duplicate address detection on the kernel side, so that the kernel's own address
    /// (`--host-ip6`) is usable at once. The kernel sends its MLD reports and router
    /// solicitations on the TAP link; the stack drops what is not for it.
    pub fn create_ipv6() -> Netns {
        let ns = Netns::create();
        ns.run_ok(&[
            "sh",
            "-c",
            "for k in all default; do \
             echo 0 > /proc/sys/net/ipv6/conf/$k/disable_ipv6; \
             echo 0 > /proc/sys/net/ipv6/conf/$k/accept_dad; done",
        ]);
        ns
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

    /// Runs `argv` inside the namespace under `timeout`, feeding it `stdin`.
    pub fn run(&self, argv: &[&str], stdin: &[u8], limit: Duration) -> Output {
        let secs = limit.as_secs().max(1).to_string();
        let mut full = vec!["timeout", "-k", "2", &secs];
        full.extend_from_slice(argv);
        run_bounded(self.command(&full), stdin, limit + Duration::from_secs(5))
    }

    /// Runs `argv` inside the namespace and panics unless it succeeds; returns its stdout.
    pub fn run_ok(&self, argv: &[&str]) -> String {
        let out = self.run(argv, b"", Duration::from_secs(10));
        assert!(
            out.status.success(),
            "{argv:?} in {} failed ({}): {}",
            self.name,
            out.status,
            out.stderr.trim()
        );
        out.stdout_text()
    }

    /// Starts `tapstack up ARGS` inside the namespace.
    pub fn start_stack(&self, args: &[&str]) -> Stack {
        let mut argv = vec![BIN, "up"];
        argv.extend_from_slice(args);
        let mut cmd = self.command(&argv);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let (lines, stdout) = watch_lines(child.stdout.take().expect("piped stdout"));
        let stderr = collect_stderr(child.stderr.take().expect("piped stderr"));
        Stack {
            child,
            lines,
            seen: Vec::new(),
            stdout: Some(stdout),
            stderr: Some(stderr),
        }
    }

    /// Starts the stack with `args` and waits until it answers.
    pub fn start_ready(&self, args: &[&str]) -> Stack {
        let mut stack = self.start_stack(args);
        stack.wait_ready();
        stack
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let limit = Duration::from_secs(10);
        // Anything still running in the namespace was started by this test.
        let pids = run_bounded(ip(&["netns", "pids", &self.name]), b"", limit);
        for pid in pids.stdout_text().split_whitespace() {
            if let Ok(pid) = pid.parse::<libc::pid_t>() {
                // SAFETY: plain system call on a process id of this test's namespace.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        let del = run_bounded(ip(&["netns", "del", &self.name]), b"", limit);
        if !del.status.success() {
            eprintln!(
                "warning: ip netns del {} failed: {}",
                self.name,
                del.stderr.trim()
            );
        }
    }
}

fn ip(args: &[&str]) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(args);
    cmd
}

/// Forwards stdout line by line and returns the whole text at the end.
fn watch_lines(pipe: ChildStdout) -> (Receiver<String>, JoinHandle<String>) {
    let (tx, rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            all.push_str(&line);
            all.push('\n');
            let _ = tx.send(line);
        }
        all
    });
    (rx, handle)
}

fn collect_stderr(pipe: ChildStderr) -> JoinHandle<String> {
    let h = collect(pipe);
    thread::spawn(move || String::from_utf8_lossy(&h.join().unwrap_or_default()).into_owned())
}

/// How a stack run ended.
#[derive(Debug)]
pub struct Exit {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// A running `tapstack up`, killed on drop if it is still running.
pub struct Stack {
    child: Child,
    lines: Receiver<String>,
    /// Lines already taken from `lines`.
    seen: Vec<String>,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
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
        if self.seen.iter().any(|l| matches(l)) {
            return;
        }
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = matches(&line);
                    self.seen.push(line);
                    if found {
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    let exit = self.kill();
                    panic!("tapstack was not {what} within {READY_WITHIN:?}: {exit:#?}");
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let exit = self.wait_exit(EXIT_WITHIN);
                    panic!("tapstack exited before it was {what}: {exit:#?}");
                }
            }
        }
    }

    /// Waits (bounded) for a new line of stdout that `wanted` accepts, and returns it; `None`
    /// when the time runs out or the stack exits first. (Lines taken are kept for
    /// [`Stack::wait_line`], which also looks at earlier ones.)
    #[allow(dead_code)] // Not every test file that includes this module waits for lines.
    pub fn wait_for_line(
        &mut self,
        wanted: impl Fn(&str) -> bool,
        limit: Duration,
    ) -> Option<String> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if wanted(&line) => {
                    self.seen.push(line.clone());
                    return Some(line);
                }
                Ok(line) => self.seen.push(line),
                Err(_) => return None,
            }
        }
    }

    /// Sends `signal` to the stack.
    pub fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t");
        // SAFETY: plain system call on the process id of our own child, not yet reaped.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill({pid}, {signal}) failed");
    }

    /// Sends `signal` and waits (bounded) for the stack to exit.
    pub fn stop(&mut self, signal: libc::c_int) -> Exit {
        self.signal(signal);
        self.wait_exit(EXIT_WITHIN)
    }

    /// Waits for the stack to exit on its own; panics (after killing it) if it takes too long.
    pub fn wait_exit(&mut self, limit: Duration) -> Exit {
        match wait_until(&mut self.child, limit) {
            Some(status) => self.finish(status),
            None => {
                let exit = self.kill();
                panic!("tapstack did not exit within {limit:?}: {exit:#?}");
            }
        }
    }

    fn kill(&mut self) -> Exit {
        let _ = self.child.kill();
        let status = self.child.wait().expect("waiting for tapstack");
        self.finish(status)
    }

    fn finish(&mut self, status: ExitStatus) -> Exit {
        let join =
            |h: Option<JoinHandle<String>>| h.and_then(|h| h.join().ok()).unwrap_or_default();
        Exit {
            status,
            stdout: join(self.stdout.take()),
            stderr: join(self.stderr.take()),
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A directory of its own under the system temp dir, removed on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new() -> TempDir {
        let path = std::env::temp_dir().join(unique_name("tapstack-test"));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        TempDir { path }
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A temporary path as a command-line argument.
#[allow(dead_code)] // Not every test file that includes this module needs each helper.
pub fn path_arg(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

/// Prints how long a test took (`timing: NAME took S s`).
#[allow(dead_code)]
pub fn took(test: &str, started: Instant) {
    println!(
        "timing: {test} took {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// The stack exited with status 0 and without a panic.
#[allow(dead_code)]
pub fn assert_clean_exit(exit: &Exit) {
    assert!(exit.status.success(), "tapstack failed: {exit:#?}");
    assert!(
        !exit.stderr.contains("panicked"),
        "tapstack panicked: {exit:#?}"
    );
}
