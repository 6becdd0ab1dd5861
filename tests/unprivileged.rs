//! `tapstack up` without a root shell, the two ways the README describes, each run as the user
//! `nobody` (setpriv) inside a throwaway network namespace:
//!
//! - a TAP device that root made beforehand and gave to the user (`ip tuntap add ... user`),
//!   its kernel side configured by root too, so `up --no-host-config` only attaches to it;
//! - a copy of the binary given `cap_net_admin` with setcap: it creates and configures the TAP
//!   device itself.
//!
//! Each checks that the process really runs as `nobody` (and with which capabilities), that the
//! kernel's ping and curl are answered, and that the capture the user wrote passes tshark. The
//! failures a user meets on the way (no capability, a kernel side it may not configure) give one
//! error line that says what to do. Tests that cannot run here print "skipping: <reason>".

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tapstack_testkit::capture::{frame_count, problems};
use tapstack_testkit::process::{Exit, OnDrop, Process, Wait};
use tapstack_testkit::testing::{Netns, READY_WITHIN};
use tapstack_testkit::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_tapstack");
/// The stack's address with the default options, and its MAC.
const ADDR: &str = "10.77.0.2";
const MAC: &str = "02:00:0a:4d:00:02";
const TOOLS: &[&str] = &[
    "ip", "unshare", "mount", "mknod", "setpriv", "setcap", "ping", "curl", "tshark",
];
const NOBODY: u32 = 65534;

/// Distributions ship /dev/net/tun as mode 0666 (any user may open it; the kernel then checks
/// the device's owner or CAP_NET_ADMIN). Containers, this test machine among them, often make it
/// 0600. So the stack runs in a private mount namespace where /dev/net/tun is a 0666 node of the
/// same device (10, 200), made on a tmpfs mounted at `mount_point`: what a user of a
/// distribution sees, without touching the machine's own /dev.
const WITH_USER_TUN: &str = "mount -t tmpfs -o mode=0755 tapstack-dev \"$0\" && \
     mknod -m 0666 \"$0/tun\" c 10 200 && mount --bind \"$0/tun\" /dev/net/tun && exec \"$@\"";

/// `bin up ARGS` as `nobody` (setpriv: no supplementary groups, no inherited capabilities), with
/// a user-openable /dev/net/tun (see [`WITH_USER_TUN`]) mounted on `mount_point`.
fn as_nobody<'a>(mount_point: &'a str, bin: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut argv = vec![
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        WITH_USER_TUN,
        mount_point,
        "setpriv",
        "--reuid=nobody",
        "--regid=nogroup",
        "--clear-groups",
        "--inh-caps=-all",
        "--",
        bin,
        "up",
    ];
    argv.extend_from_slice(args);
    argv
}

/// A directory `nobody` can write (the capture) and read (a copy of the binary), with an empty
/// `dev` directory to mount the device node's tmpfs on.
fn open_dir() -> TempDir {
    let dir = TempDir::create("tapstack-unprivileged").unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::create_dir(dir.join("dev")).unwrap();
    dir
}

/// Starts the stack and waits until it answers; panics with what it said otherwise.
fn start_ready(ns: &Netns, argv: &[&str]) -> Process {
    let mut stack = ns.start(argv, OnDrop::Kill).unwrap();
    let ready = |l: &str| l.starts_with("tapstack: ") && l.ends_with(" is up and answering");
    match stack.wait_line(ready, READY_WITHIN, || false) {
        Wait::Seen => stack,
        other => panic!("{other:?}: {}", stack.stop_and_tell()),
    }
}

/// A field of /proc/PID/status ("Uid", "CapEff", ...): its value, tabs and all.
fn status_field(pid: u32, field: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
        .trim()
        .to_owned()
}

/// The stack process runs as `nobody` (real, effective, saved, filesystem uid) with exactly the
/// effective capabilities `cap_eff` (a hex mask as in /proc).
fn assert_runs_as_nobody(stack: &Process, cap_eff: u64) {
    let uids = status_field(stack.pid(), "Uid");
    let uids: Vec<u32> = uids
        .split_whitespace()
        .map(|u| u.parse().unwrap())
        .collect();
    assert_eq!(uids, [NOBODY; 4], "uids of {}", stack.what());
    let eff = u64::from_str_radix(&status_field(stack.pid(), "CapEff"), 16).unwrap();
    assert_eq!(eff, cap_eff, "effective capabilities {eff:#x}");
}

/// The kernel's ping and curl from the namespace are answered by the stack.
fn assert_answers(ns: &Netns) {
    let ping = ns.run(
        &["ping", "-n", "-c", "3", "-i", "0.2", "-W", "1", ADDR],
        b"",
        Duration::from_secs(20),
    );
    assert!(ping.status.success(), "ping: {}", ping.stdout_text());
    assert!(
        ping.stdout_text().contains("3 received"),
        "{}",
        ping.stdout_text()
    );
    let url = format!("http://{ADDR}/");
    let curl = ns.run(
        &["curl", "-sS", "--max-time", "5", &url],
        b"",
        Duration::from_secs(10),
    );
    assert!(curl.status.success(), "curl: {}", curl.stderr);
    assert!(
        curl.stdout_text().contains("tapstack"),
        "{}",
        curl.stdout_text()
    );
}

/// Stops the stack with Ctrl-C and checks the clean exit and the capture `nobody` wrote.
fn stop_and_check_capture(mut stack: Process, capture: &Path) -> Exit {
    stack.signal(libc::SIGINT).unwrap();
    let exit = stack
        .wait_exit(Duration::from_secs(5))
        .expect("exits on Ctrl-C");
    assert!(exit.status.success(), "{exit:#?}");
    assert!(!exit.stderr.contains("panicked"), "{exit:#?}");
    let meta = std::fs::metadata(capture).expect("the capture was written");
    assert_eq!(
        std::os::unix::fs::MetadataExt::uid(&meta),
        NOBODY,
        "capture owner"
    );
    // 3 echo requests and replies, a TCP connection: well over a dozen frames.
    let frames = frame_count(capture).unwrap();
    assert!(frames >= 12, "{frames} frames in the capture");
    let found = problems(capture, MAC).unwrap();
    assert!(found.is_empty(), "tshark: {found:#?}");
    exit
}

/// Runs `argv` to its end (bounded); returns the exit code and stderr.
fn run_to_end(ns: &Netns, argv: &[&str]) -> (Option<i32>, String) {
    let out = ns.run(argv, b"", Duration::from_secs(20));
    (out.status.code(), out.stderr)
}

#[test]
fn user_owned_tap_without_any_privilege() {
    let Some(ns) = Netns::create_or_skip(TOOLS) else {
        return;
    };
    // What root does once (the README's commands), then hands over.
    ns.run_ok(&[
        "ip", "tuntap", "add", "dev", "tap0", "mode", "tap", "user", "nobody",
    ]);
    ns.address("tap0", "10.77.0.1/24");
    let details = ns.run_ok(&["ip", "-d", "link", "show", "tap0"]);
    assert!(
        details.contains("user nobody"),
        "tap0 is not nobody's: {details}"
    );

    let dir = open_dir();
    let dev = dir.join("dev");
    let dev = dev.to_str().unwrap();
    let capture = dir.join("nobody.pcapng");
    let cap = capture.to_str().unwrap();

    // Asked to configure the kernel side, nobody may not: one line saying what to do instead.
    let (code, stderr) = run_to_end(&ns, &as_nobody(dev, BIN, &["--no-ip6", "--pcap", cap]));
    assert_eq!(code, Some(2), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].starts_with("tapstack: ") && lines[0].contains("--no-host-config"),
        "{stderr}"
    );

    // Attaching only: it runs, as nobody with no capability at all.
    let stack = start_ready(
        &ns,
        &as_nobody(dev, BIN, &["--no-host-config", "--no-ip6", "--pcap", cap]),
    );
    assert_runs_as_nobody(&stack, 0);
    assert_answers(&ns);
    let exit = stop_and_check_capture(stack, &capture);
    assert!(
        exit.stdout.contains("left as configured"),
        "{}",
        exit.stdout
    );
}

#[test]
fn setcap_binary_creates_and_configures_its_tap() {
    let Some(ns) = Netns::create_or_skip(TOOLS) else {
        return;
    };
    let dir = open_dir();
    let dev = dir.join("dev");
    let dev = dev.to_str().unwrap();
    // A copy of the binary: setcap marks the file, and the build's own output stays as it is.
    let bin = dir.join("tapstack");
    std::fs::copy(BIN, &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin_arg = bin.to_str().unwrap();
    let capture = dir.join("setcap.pcapng");
    let cap = capture.to_str().unwrap();

    // Without the capability, nobody cannot create a TAP device: one line naming the fix.
    let (code, stderr) = run_to_end(&ns, &as_nobody(dev, bin_arg, &["--no-ip6"]));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.starts_with("tapstack: ") && stderr.contains("CAP_NET_ADMIN"),
        "{stderr}"
    );
    let links = ns.run_ok(&["ip", "-o", "link", "show"]);
    assert!(!links.contains("tap0"), "a TAP device was left: {links}");

    let setcap = Command::new("setcap")
        .args(["cap_net_admin+ep", bin_arg])
        .output()
        .unwrap();
    if !setcap.status.success() {
        // A file system without extended attributes (some overlays) cannot hold capabilities.
        println!(
            "skipping the setcap half: setcap failed: {}",
            String::from_utf8_lossy(&setcap.stderr).trim()
        );
        return;
    }

    let stack = start_ready(&ns, &as_nobody(dev, bin_arg, &["--no-ip6", "--pcap", cap]));
    // CAP_NET_ADMIN is bit 12, and the only capability the process holds.
    assert_runs_as_nobody(&stack, 1 << 12);
    // It configured the kernel side itself: 10.77.0.1/24 on tap0, up.
    let addr = ns.run_ok(&["ip", "-o", "-4", "addr", "show", "dev", "tap0"]);
    assert!(addr.contains("10.77.0.1/24"), "{addr}");
    assert_answers(&ns);
    stop_and_check_capture(stack, &capture);
}
