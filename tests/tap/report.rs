//! Reading what `ping` and `tapstack` print.

use std::collections::BTreeMap;

/// `ping`'s "N packets transmitted, M received, ..." line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PingSummary {
    pub transmitted: u32,
    pub received: u32,
}

/// Finds the summary in `ping`'s output; panics with the output if there is none.
pub fn ping_summary(out: &str) -> PingSummary {
    let line = out
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .unwrap_or_else(|| panic!("no ping summary in:\n{out}"));
    let number_before = |word: &str| {
        line.split(',')
            .map(str::trim)
            .find_map(|part| part.strip_suffix(word))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no '<n> {word}' in ping summary: {line}"))
    };
    PingSummary {
        transmitted: number_before("packets transmitted"),
        received: number_before("received"),
    }
}

/// The stack's counters printed at exit: the `name=value` line after "tapstack: stopped", and
/// the `drops:` line. Counters that are not printed are zero.
#[derive(Debug, Default)]
pub struct Counters {
    pub counters: BTreeMap<String, u64>,
    pub drops: BTreeMap<String, u64>,
}

impl Counters {
    pub fn get(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or(0)
    }

    pub fn drop_count(&self, reason: &str) -> u64 {
        self.drops.get(reason).copied().unwrap_or(0)
    }
}

fn pairs(text: &str) -> BTreeMap<String, u64> {
    text.split_whitespace()
        .map(|kv| {
            let (k, v) = kv
                .split_once('=')
                .unwrap_or_else(|| panic!("'{kv}' is not name=value"));
            let v = v.parse().unwrap_or_else(|_| panic!("'{kv}' has no number"));
            (k.to_owned(), v)
        })
        .collect()
}

/// Parses the summary the stack prints when it stops; panics if it is not there.
pub fn counters(stdout: &str) -> Counters {
    let mut lines = stdout
        .lines()
        .skip_while(|l| !l.starts_with("tapstack: stopped ("));
    lines
        .next()
        .unwrap_or_else(|| panic!("no 'tapstack: stopped' line in:\n{stdout}"));
    let mut out = Counters::default();
    if let Some(line) = lines.next() {
        if line.contains('=') && !line.starts_with("drops:") {
            out.counters = pairs(line);
        }
    }
    if let Some(line) = stdout.lines().find_map(|l| l.strip_prefix("drops:")) {
        out.drops = pairs(line);
    }
    assert!(
        !out.counters.is_empty(),
        "no counters after 'tapstack: stopped' in:\n{stdout}"
    );
    out
}

/// One direction of the impairment summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Impairment {
    pub offered: u64,
    pub dropped: u64,
    pub reordered: u64,
}

/// The "impairment in:" (`direction` "in") or "impairment out:" line.
pub fn impairment(stdout: &str, direction: &str) -> Impairment {
    let prefix = format!("impairment {direction}:");
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no '{prefix}' line in:\n{stdout}"));
    let field = |name: &str| -> u64 {
        let key = format!("{name}: ");
        let at = line
            .find(&key)
            .unwrap_or_else(|| panic!("no '{name}' in: {line}"));
        line[at + key.len()..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no number after '{name}' in: {line}"))
    };
    Impairment {
        offered: field("offered"),
        dropped: field("dropped"),
        reordered: field("reordered"),
    }
}

/// N of "capture: N frames in FILE".
pub fn captured_frames(stdout: &str) -> usize {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("capture: "))
        .and_then(|rest| rest.split_once(" frames in "))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("no 'capture: N frames in FILE' line in:\n{stdout}"))
}
