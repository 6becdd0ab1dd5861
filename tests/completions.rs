//! `tapstack completions` and `tapstack man` through the real binary: each script is generated,
//! checked by its shell where that shell is installed (bash always: it runs the tests), and the
//! bash one is asked to complete; the man pages render with `man` and name every option.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tapstack_testkit::process::have;
use tapstack_testkit::testing::run_bounded;
use tapstack_testkit::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_tapstack");
const LIMIT: Duration = Duration::from_secs(20);

fn tapstack(args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    let out = run_bounded(cmd, b"", LIMIT);
    (
        out.status.code().unwrap_or(-1),
        out.stdout_text(),
        out.stderr.clone(),
    )
}

fn generate(shell: &str, dir: &TempDir) -> std::path::PathBuf {
    let (code, script, err) = tapstack(&["completions", shell]);
    assert_eq!(code, 0, "completions {shell} failed: {err}");
    assert!(
        script.len() > 500,
        "{shell} script is too short: {script:?}"
    );
    for sub in ["up", "replay", "dump", "completions", "man"] {
        assert!(
            script.contains(sub),
            "{shell} script lacks the subcommand {sub}"
        );
    }
    // fish spells options `-l pcap`, the others `--pcap`.
    assert!(
        script.contains("pcap"),
        "{shell} script lacks the option --pcap"
    );
    let path = dir.join(&format!("tapstack.{shell}"));
    std::fs::write(&path, script).unwrap();
    path
}

/// Runs `shell -c script` bounded; returns stdout, failing on a non-zero exit.
fn shell_ok(shell: &str, script: &str) -> String {
    let mut cmd = Command::new(shell);
    cmd.args(["-c", script]);
    let out = run_bounded(cmd, b"", LIMIT);
    assert!(
        out.status.success(),
        "{shell} -c {script:?}: {}",
        out.stderr
    );
    out.stdout_text()
}

#[test]
fn bash_completion_parses_and_completes() {
    let dir = TempDir::create("tapstack-completions").unwrap();
    let path = generate("bash", &dir);
    let p = path.display();
    shell_ok("bash", &format!("bash -n '{p}'"));
    let registered = shell_ok("bash", &format!("source '{p}' && complete -p tapstack"));
    assert!(registered.contains("_tapstack"), "{registered}");

    // Ask it as bash would on `tapstack re<TAB>` and `tapstack up --pc<TAB>`.
    let complete = |words: &str, cword: usize| {
        shell_ok(
            "bash",
            &format!(
                "source '{p}'; COMP_WORDS=({words}); COMP_CWORD={cword}; \
                 COMP_LINE='{words}'; COMP_POINT=${{#COMP_LINE}}; \
                 _tapstack tapstack \"${{COMP_WORDS[$COMP_CWORD]}}\" \"${{COMP_WORDS[$COMP_CWORD-1]}}\"; \
                 printf '%s\\n' \"${{COMPREPLY[@]}}\""
            ),
        )
    };
    let subs = complete("tapstack re", 1);
    assert_eq!(subs.lines().collect::<Vec<_>>(), ["replay"], "{subs}");
    let opts = complete("tapstack up --pc", 2);
    assert_eq!(opts.lines().collect::<Vec<_>>(), ["--pcap"], "{opts}");
}

#[test]
fn zsh_and_fish_scripts() {
    let dir = TempDir::create("tapstack-completions").unwrap();
    let zsh = std::fs::read_to_string(generate("zsh", &dir)).unwrap();
    assert!(
        zsh.starts_with("#compdef tapstack"),
        "{}",
        &zsh[..80.min(zsh.len())]
    );
    let fish = std::fs::read_to_string(generate("fish", &dir)).unwrap();
    assert!(
        fish.contains("complete -c tapstack"),
        "fish script has no `complete -c tapstack`"
    );
    for shell in ["zsh", "fish"] {
        if have(shell) {
            let path = dir.join(&format!("tapstack.{shell}"));
            shell_ok(shell, &format!("{shell} -n '{}'", path.display()));
        } else {
            eprintln!("skipping the {shell} syntax check: {shell} is not installed");
        }
    }
}

#[test]
fn unknown_shell_is_a_usage_error() {
    let (code, out, err) = tapstack(&["completions", "tcsh"]);
    assert_eq!(code, 2, "stdout {out:?} stderr {err:?}");
    assert!(out.is_empty());
    assert!(err.contains("tcsh"), "{err}");
}

#[test]
fn man_page_to_stdout_and_one_per_subcommand() {
    let (code, page, err) = tapstack(&["man"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        page.contains(".TH tapstack 1"),
        "{}",
        &page[..200.min(page.len())]
    );
    for sub in [
        "tapstack\\-up(1)",
        "tapstack\\-replay(1)",
        "tapstack\\-dump(1)",
    ] {
        assert!(page.contains(sub), "the page does not refer to {sub}");
    }

    let dir = TempDir::create("tapstack-man").unwrap();
    let target = dir.join("man1");
    let (code, _, err) = tapstack(&["man", "--dir", target.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    for name in [
        "tapstack",
        "tapstack-up",
        "tapstack-replay",
        "tapstack-dump",
        "tapstack-completions",
    ] {
        let file = target.join(format!("{name}.1"));
        assert!(file.is_file(), "{} was not written", file.display());
    }
    let up = target.join("tapstack-up.1");
    if have("man") {
        let text = render(&up);
        for word in ["tapstack-up", "--pcap", "--no-host-config", "--tap"] {
            assert!(
                text.contains(word),
                "the rendered page lacks {word}:\n{text}"
            );
        }
    } else {
        let text = std::fs::read_to_string(&up).unwrap();
        assert!(text.contains("\\-\\-pcap"), "{text}");
    }
}

fn render(page: &Path) -> String {
    let mut cmd = Command::new("man");
    cmd.arg("-l")
        .arg(page)
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env("MANWIDTH", "200");
    let out = run_bounded(cmd, b"", LIMIT);
    assert!(out.status.success(), "man -l: {}", out.stderr);
    // man may mark bold and underline with backspaces when it thinks it prints to a terminal.
    let text = out.stdout_text();
    let mut plain = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\u{8}' {
            plain.pop();
        } else {
            plain.push(c);
        }
    }
    plain
}
