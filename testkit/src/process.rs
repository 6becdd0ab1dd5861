//! Bounded processes: commands run with a deadline, long-running programs whose stdout lines
//! can be waited for, signals, temporary directories, and what the machine offers.
//!
//! Every wait here has a deadline, and everything started is stopped when its guard goes away,
//! also when the caller fails or panics.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A name no other caller in this process (or in another concurrent run) gets:
/// `PREFIX-PID-N`.
pub fn unique_name(prefix: &str) -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id())
}

/// Whether this process runs as root.
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

/// Why work that needs network namespaces, TAP devices and `tools` cannot run here, if it
/// cannot.
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
    /// Stdout as text (invalid UTF-8 replaced).
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
///
/// # Errors
/// When the state of the child cannot be read.
pub fn wait_until(child: &mut Child, limit: Duration) -> Result<Option<ExitStatus>> {
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

/// Runs `cmd` with `stdin` as its input (none when empty); kills it and fails if it is not done
/// within `limit`.
///
/// # Errors
/// When it cannot start or outlives `limit`.
pub fn run_bounded(mut cmd: Command, stdin: &[u8], limit: Duration) -> Result<Output> {
    let what = format!("{cmd:?}");
    cmd.stdin(if stdin.is_empty() {
        Stdio::null()
    } else {
        Stdio::piped()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().with_context(|| format!("cannot run {what}"))?;
    let writer = child.stdin.take().map(|mut input| {
        let data = stdin.to_vec();
        thread::spawn(move || {
            let _ = input.write_all(&data);
        })
    });
    let stdout = child.stdout.take().map(collect);
    let stderr = child.stderr.take().map(collect);
    let Some(status) = wait_until(&mut child, limit)? else {
        let _ = child.kill();
        let _ = child.wait();
        bail!("{what} did not finish within {limit:?}");
    };
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    let join = |h: Option<JoinHandle<Vec<u8>>>| h.and_then(|h| h.join().ok()).unwrap_or_default();
    Ok(Output {
        status,
        stdout: join(stdout),
        stderr: String::from_utf8_lossy(&join(stderr)).into_owned(),
    })
}

/// What happens to a [`Process`] that is still running when its guard goes away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnDrop {
    /// SIGKILL at once.
    Kill,
    /// SIGINT, and SIGKILL if it is still running after [`STOP_WITHIN`].
    Interrupt,
}

/// How long [`Process::stop`] lets a process exit on SIGINT before it kills it.
pub const STOP_WITHIN: Duration = Duration::from_secs(3);

/// How a long-running process ended.
#[derive(Debug)]
pub struct Exit {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Exit {
    /// The end of stderr (its last 400 characters or so), named after `what` ran: for error
    /// messages.
    pub fn said(&self, what: &str) -> String {
        let text = self.stderr.trim();
        let tail: String = text
            .char_indices()
            .rev()
            .nth(400)
            .map_or(text, |(i, _)| text.get(i..).unwrap_or(text))
            .to_owned();
        if tail.is_empty() {
            format!("{what} said nothing on stderr")
        } else {
            format!("{what} said: {tail}")
        }
    }
}

/// What a wait for a line of stdout came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// A matching line came.
    Seen,
    /// The time ran out (the process still runs).
    TimedOut,
    /// Stdout closed first: the process exited (or is exiting).
    Exited,
    /// The caller's `give_up` said to stop waiting.
    GaveUp,
}

/// A long-running process (a stack under test) whose stdout lines can be waited for; stopped on
/// drop as its [`OnDrop`] says.
pub struct Process {
    child: Child,
    /// "tapstack up": the program's name and its first argument.
    what: String,
    lines: Receiver<String>,
    /// Lines already taken from `lines`.
    seen: Vec<String>,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
    on_drop: OnDrop,
}

/// Forwards stdout line by line (always draining the pipe) and returns the whole text at the end.
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

fn collect_text(pipe: ChildStderr) -> JoinHandle<String> {
    let h = collect(pipe);
    thread::spawn(move || String::from_utf8_lossy(&h.join().unwrap_or_default()).into_owned())
}

impl Process {
    /// Starts `cmd` (whose program and first argument are `argv[..2]`, for messages) with no
    /// input and its stdout and stderr watched.
    ///
    /// # Errors
    /// When it cannot start.
    pub fn start(mut cmd: Command, argv: &[&str], on_drop: OnDrop) -> Result<Process> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let what = argv
            .iter()
            .take(2)
            .map(|a| a.rsplit('/').next().unwrap_or(a))
            .collect::<Vec<_>>()
            .join(" ");
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", argv.join(" ")))?;
        let (lines, stdout) = match child.stdout.take() {
            Some(pipe) => {
                let (lines, all) = watch_lines(pipe);
                (lines, Some(all))
            }
            None => (mpsc::channel().1, None),
        };
        let stderr = child.stderr.take().map(collect_text);
        Ok(Process {
            child,
            what,
            lines,
            seen: Vec::new(),
            stdout,
            stderr,
            on_drop,
        })
    }

    /// "tapstack up": what runs, for messages.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// Waits for a line of stdout (printed earlier or from now on) that `matches`, for at most
    /// `within`; `give_up` is asked about five times a second whether to stop waiting.
    pub fn wait_line(
        &mut self,
        matches: impl Fn(&str) -> bool,
        within: Duration,
        give_up: impl Fn() -> bool,
    ) -> Wait {
        if self.seen.iter().any(|l| matches(l)) {
            return Wait::Seen;
        }
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self
                .lines
                .recv_timeout(left.min(Duration::from_millis(200)))
            {
                Ok(line) => {
                    let found = matches(&line);
                    self.seen.push(line);
                    if found {
                        return Wait::Seen;
                    }
                }
                Err(RecvTimeoutError::Timeout) if left.is_zero() => return Wait::TimedOut,
                Err(RecvTimeoutError::Timeout) if give_up() => return Wait::GaveUp,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Wait::Exited,
            }
        }
    }

    /// Waits (bounded) for a new line of stdout that `wanted` accepts, and returns it; `None`
    /// when the time runs out or the process exits first. (Lines taken are kept for
    /// [`Process::wait_line`], which also looks at earlier ones.)
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

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` to the process.
    ///
    /// # Errors
    /// When `kill(2)` fails.
    pub fn signal(&self, signal: libc::c_int) -> Result<()> {
        let pid = libc::pid_t::try_from(self.child.id()).context("pid does not fit pid_t")?;
        // SAFETY: plain system call on the process id of our own child, not yet reaped.
        let rc = unsafe { libc::kill(pid, signal) };
        if rc != 0 {
            bail!(
                "kill({pid}, {signal}) failed: {}",
                std::io::Error::last_os_error()
            );
        }
        Ok(())
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

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

    /// Waits for the process to exit on its own; `None` if it still runs after `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<Exit> {
        match wait_until(&mut self.child, limit) {
            Ok(Some(status)) => Some(self.finish(status)),
            _ => None,
        }
    }

    /// Kills the process (if it still runs) and reaps it.
    ///
    /// # Errors
    /// When it cannot be reaped.
    pub fn kill(&mut self) -> Result<Exit> {
        let _ = self.child.kill();
        let status = self.child.wait().context("waiting for a child process")?;
        Ok(self.finish(status))
    }

    /// Stops the process: SIGINT, then SIGKILL if it is still running after [`STOP_WITHIN`].
    ///
    /// # Errors
    /// When it cannot be reaped.
    pub fn stop(&mut self) -> Result<Exit> {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.signal(libc::SIGINT);
            if let Some(exit) = self.wait_exit(STOP_WITHIN) {
                return Ok(exit);
            }
        }
        self.kill()
    }

    /// Stops the process as [`Process::stop`] does and returns the end of what it wrote to
    /// stderr, named after it, for error messages.
    pub fn stop_and_tell(&mut self) -> String {
        match self.stop() {
            Ok(exit) => exit.said(&self.what),
            Err(e) => format!("{}: {e:#}", self.what),
        }
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

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            match self.on_drop {
                OnDrop::Kill => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                }
                OnDrop::Interrupt => {
                    let _ = self.stop();
                }
            }
        }
    }
}

/// A directory of its own under the system temp dir, removed on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// A fresh directory `PREFIX-PID-N` under the system temp dir.
    ///
    /// # Errors
    /// When it cannot be created.
    pub fn create(prefix: &str) -> Result<TempDir> {
        let path = std::env::temp_dir().join(unique_name(prefix));
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(TempDir { path })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `name` inside the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script]);
        cmd
    }

    #[test]
    fn bounded_run_feeds_stdin_and_collects_both_outputs() {
        let out = run_bounded(sh("cat; echo oops >&2"), b"hello", Duration::from_secs(10)).unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout_text(), "hello");
        assert_eq!(out.stderr, "oops\n");
    }

    #[test]
    fn bounded_run_that_overruns_is_killed_and_fails() {
        let started = Instant::now();
        let err = run_bounded(sh("exec sleep 10"), b"", Duration::from_millis(100)).unwrap_err();
        assert!(
            format!("{err:#}").contains("did not finish within"),
            "{err:#}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn lines_are_awaited_and_the_exit_collected() {
        let mut p = Process::start(
            sh("echo starting; echo ready now; read x; echo bye >&2"),
            &["sh", "-c"],
            OnDrop::Kill,
        )
        .unwrap();
        assert_eq!(p.what(), "sh -c");
        let wait = p.wait_line(
            |l| l.starts_with("ready"),
            Duration::from_secs(10),
            || false,
        );
        assert_eq!(wait, Wait::Seen);
        // Earlier lines count too.
        let wait = p.wait_line(|l| l == "starting", Duration::ZERO, || false);
        assert_eq!(wait, Wait::Seen);
        // stdin is /dev/null: `read` fails at once and the script ends.
        let exit = p.wait_exit(Duration::from_secs(10)).unwrap();
        assert_eq!(exit.stdout, "starting\nready now\n");
        assert_eq!(exit.said("sh -c"), "sh -c said: bye");
    }

    #[test]
    fn waiting_ends_on_exit_timeout_or_giving_up() {
        let mut quiet = Process::start(sh("exec sleep 10"), &["sh"], OnDrop::Kill).unwrap();
        let wait = quiet.wait_line(|_| true, Duration::from_millis(100), || false);
        assert_eq!(wait, Wait::TimedOut);
        let wait = quiet.wait_line(|_| true, Duration::from_secs(10), || true);
        assert_eq!(wait, Wait::GaveUp);
        let mut gone = Process::start(sh("true"), &["sh"], OnDrop::Interrupt).unwrap();
        let wait = gone.wait_line(|_| true, Duration::from_secs(10), || false);
        assert_eq!(wait, Wait::Exited);
        let started = Instant::now();
        drop(quiet);
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn stop_interrupts_then_kills() {
        let mut p = Process::start(
            sh("trap '' INT; echo ignoring; while :; do sleep 0.1; done"),
            &["sh"],
            OnDrop::Kill,
        )
        .unwrap();
        // Signalled only once the trap is set.
        let wait = p.wait_line(|l| l == "ignoring", Duration::from_secs(10), || false);
        assert_eq!(wait, Wait::Seen);
        assert!(p.running());
        let started = Instant::now();
        let exit = p.stop().unwrap();
        assert!(!exit.status.success());
        assert!(started.elapsed() >= STOP_WITHIN);
        assert!(!p.running());
    }

    #[test]
    fn temp_dirs_are_unique_and_removed() {
        let (a, b) = (
            TempDir::create("testkit").unwrap(),
            TempDir::create("testkit").unwrap(),
        );
        assert_ne!(a.path(), b.path());
        std::fs::write(a.join("f"), b"x").unwrap();
        let path = a.path().to_owned();
        drop(a);
        assert!(!path.exists());
    }
}
