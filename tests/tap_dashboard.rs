//! The dashboard of `tapstack up` in a real browser over a real TAP device: Debian's headless
//! Chromium, run inside the test's namespace, loads `/`, its script refreshes from `/stats`,
//! and the connection table then lists the test's own open TCP connection to the echo port.
//! The page must log nothing to the console, `tidy -errors` must find no errors in it, and a
//! screenshot is kept (its path is printed). `/ss` lists the same connection.
//!
//! Every frame stays inside a namespace the test creates and deletes; every process is bounded
//! in time. Without root, /dev/net/tun or the tools, the test prints "skipping: <reason>".

#[path = "tap/netns.rs"]
#[allow(dead_code)]
mod netns;

use std::time::{Duration, Instant};

use netns::{took, Netns, Tapstack, TempDir};
use tapstack_testkit::process::OnDrop;

const URL: &str = "http://10.77.0.2/";
const BROWSER_WITHIN: Duration = Duration::from_secs(90);

/// Connects to the echo port, checks the echo, says which port it has, and holds on.
const HOLD: &str = "import socket, time
s = socket.create_connection(('10.77.0.2', 7), timeout=10)
s.sendall(b'hello dashboard\\n')
d = b''
while len(d) < 16:
    c = s.recv(64)
    if not c:
        break
    d += c
print('held %s:%d %d' % (s.getsockname()[0], s.getsockname()[1], len(d)), flush=True)
time.sleep(120)
";

fn chromium(ns: &Netns, profile: &TempDir, extra: &[&str]) -> netns::Output {
    let dir = format!("--user-data-dir={}", profile.join("profile").display());
    let mut argv = vec![
        "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=4000",
        &dir,
    ];
    argv.extend_from_slice(extra);
    argv.push(URL);
    ns.run(&argv, b"", BROWSER_WITHIN)
}

#[test]
fn dashboard_in_headless_chromium_lists_our_connection() {
    let Some(ns) = Netns::create_or_skip(&["chromium", "tidy", "python3", "curl"]) else {
        return;
    };
    let started = Instant::now();
    let mut stack = ns.start_ready(&["--arp-probes", "0"]);
    let mut holder = ns
        .start(&["python3", "-c", HOLD], OnDrop::Kill)
        .unwrap_or_else(|e| panic!("{e:#}"));
    let line = holder
        .wait_for_line(|l| l.starts_with("held "), Duration::from_secs(15))
        .expect("the echo connection was not made");
    let parts: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(parts.get(2), Some(&"16"), "echo came back short: {line}");
    let ours = parts[1].to_owned();

    // A second and a bit of uptime, so the traffic history holds a sample to draw.
    std::thread::sleep(Duration::from_millis(1500));
    let tmp = TempDir::new();
    let dom = chromium(&ns, &tmp, &["--dump-dom"]);
    assert!(dom.status.success(), "chromium --dump-dom: {dom:?}");
    let html = dom.stdout_text();
    // The script ran: it counts its refreshes on the body.
    assert!(
        html.contains("data-refreshes=\""),
        "the script did not refresh the page:\n{html}"
    );
    // The charts have the history's samples: a line for each direction.
    let frames = html
        .split("<div id=\"frames\">")
        .nth(1)
        .and_then(|t| t.split("</div>").next())
        .unwrap_or_default();
    assert_eq!(frames.matches("<polyline").count(), 2, "{frames}");
    let tcp = html
        .split("<tbody id=\"tcp\">")
        .nth(1)
        .and_then(|t| t.split("</tbody>").next())
        .unwrap_or_default();
    let row = tcp
        .split("<tr>")
        .find(|r| r.contains(&format!("<td>{ours}</td>")))
        .unwrap_or_else(|| panic!("our connection {ours} is not listed:\n{tcp}"));
    assert!(
        row.contains("<td>10.77.0.2:7</td>") && row.contains("<td>ESTABLISHED</td>"),
        "{row}"
    );
    // Nothing on the console: no errors, no warnings, no failed loads.
    let console: Vec<&str> = dom
        .stderr
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught"))
        .collect();
    assert!(console.is_empty(), "console messages: {console:#?}");

    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    let _ = std::fs::remove_file(&shot);
    let arg = format!("--screenshot={}", shot.display());
    let out = chromium(&ns, &tmp, &[&arg, "--window-size=1280,1000"]);
    assert!(out.status.success(), "chromium --screenshot: {out:?}");
    let png = std::fs::read(&shot).unwrap_or_default();
    assert!(
        png.len() > 1000 && png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "no screenshot in {}",
        shot.display()
    );
    println!("screenshot of the dashboard: {}", shot.display());

    // The page as the browser got it: tidy finds no errors.
    let page = ns.run(
        &[
            "curl",
            "-sS",
            "--max-time",
            "10",
            "-H",
            "Accept: text/html",
            URL,
        ],
        b"",
        Duration::from_secs(20),
    );
    let page_text = page.stdout_text();
    assert!(page.status.success() && page_text.contains("<tbody id=\"tcp\">"));
    let file = tmp.join("dashboard.html");
    std::fs::write(&file, &page_text).unwrap();
    let tidy = ns.run(
        &["tidy", "-errors", "-q", netns::path_arg(&file)],
        b"",
        Duration::from_secs(20),
    );
    assert!(
        tidy.status.code() != Some(2) && tidy.stderr.trim().is_empty(),
        "tidy: {tidy:?}"
    );
    // curl's own Accept gets the short page.
    let short = ns.run(
        &["curl", "-sS", "--max-time", "10", URL],
        b"",
        Duration::from_secs(20),
    );
    assert!(!short.stdout_text().contains("<script"), "{short:?}");

    // /ss lists the connection, the echo listener and the UDP echo socket.
    let ss = ns.run(
        &["curl", "-sS", "--max-time", "10", "http://10.77.0.2/ss"],
        b"",
        Duration::from_secs(20),
    );
    let ss = ss.stdout_text();
    assert!(ss.starts_with("Netid State"), "{ss}");
    assert!(
        ss.lines()
            .any(|l| l.starts_with("tcp") && l.contains("ESTAB") && l.ends_with(&ours)),
        "{ss}"
    );
    assert!(
        ss.lines()
            .any(|l| l.contains("LISTEN") && l.contains(":7 ")),
        "{ss}"
    );
    assert!(
        ss.lines()
            .any(|l| l.starts_with("udp") && l.contains(":7 ")),
        "{ss}"
    );

    drop(holder);
    netns::assert_clean_exit(&stack.stop(libc::SIGINT));
    took(
        "dashboard_in_headless_chromium_lists_our_connection",
        started,
    );
}
