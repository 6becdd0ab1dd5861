//! Log output of every subcommand: `-v`/`-q`, `RUST_LOG`, `NO_COLOR`, and each warning said
//! once.
//!
//! The level comes from `RUST_LOG` when it is set (the `tracing-subscriber` filter syntax, e.g.
//! `RUST_LOG=tapstack=trace`), else from the flags: warnings and errors by default (each
//! subcommand prints its own account of what happened), `-q` errors only, `-v` debug (the
//! stack's log of every protocol step in plain words), `-vv` trace (every frame). Logs go to
//! standard error, in colour only when standard error is a terminal and `NO_COLOR` is unset
//! or empty (<https://no-color.org>).
//!
//! A warning repeated word for word within [`REPEAT_WINDOW`] is said once: a peer that keeps
//! claiming our address sends an ARP frame every second, and one line says it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::Args;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// How much a subcommand logs: `-v`, `-vv`, `-q` (and `RUST_LOG`, which wins).
#[derive(Clone, Copy, Debug, Default, Args)]
pub struct Verbosity {
    /// More log output: -v for protocol events in plain words, -vv for every frame
    /// (RUST_LOG, when set, wins over -v and -q).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less output: no warnings, errors only.
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,
}

impl Verbosity {
    /// The filter the flags ask for, when `RUST_LOG` is not set.
    fn default_filter(self) -> &'static str {
        match (self.quiet, self.verbose) {
            (true, _) => "error",
            (false, 0) => "warn",
            (false, 1) => "debug",
            (false, _) => "trace",
        }
    }
}

/// A repeated warning is not said again within this long.
pub const REPEAT_WINDOW: Duration = Duration::from_secs(30);

/// How many distinct recent warnings are remembered (the oldest is forgotten first).
const REMEMBERED: usize = 64;

/// Whether colour may be used on standard error.
pub fn colour() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && std::io::IsTerminal::is_terminal(&std::io::stderr())
}

/// Starts logging to standard error.
pub fn init(v: Verbosity) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(s) if !s.trim().is_empty() => EnvFilter::try_new(s.trim()).unwrap_or_else(|e| {
            eprintln!("tapstack: warning: RUST_LOG ignored: {e}");
            EnvFilter::new(v.default_filter())
        }),
        _ => EnvFilter::new(v.default_filter()),
    };
    let fmt = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(colour())
        .compact();
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(Once::default())
        .with(fmt)
        .try_init();
}

/// The layer that keeps a repeated warning from being said again (see the module docs).
#[derive(Default)]
struct Once {
    said: Mutex<HashMap<String, Instant>>,
}

/// The text of an event: its message and fields, as the formatter would show them.
#[derive(Default)]
struct Text(String);

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        let _ = write!(self.0, "{}={value:?};", field.name());
    }
}

impl<S: Subscriber> Layer<S> for Once {
    fn event_enabled(&self, event: &Event<'_>, _: Context<'_, S>) -> bool {
        if *event.metadata().level() > Level::WARN {
            return true;
        }
        let mut text = Text::default();
        event.record(&mut text);
        let now = Instant::now();
        let Ok(mut said) = self.said.lock() else {
            return true;
        };
        if said
            .get(&text.0)
            .is_some_and(|&t| now.duration_since(t) < REPEAT_WINDOW)
        {
            return false;
        }
        said.retain(|_, t| now.duration_since(*t) < REPEAT_WINDOW);
        if said.len() >= REMEMBERED {
            if let Some(oldest) = said.iter().min_by_key(|(_, t)| **t).map(|(k, _)| k.clone()) {
                said.remove(&oldest);
            }
        }
        said.insert(text.0, now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_pick_the_level() {
        let v = |verbose, quiet| Verbosity { verbose, quiet };
        assert_eq!(v(0, false).default_filter(), "warn");
        assert_eq!(v(1, false).default_filter(), "debug");
        assert_eq!(v(2, false).default_filter(), "trace");
        assert_eq!(v(0, true).default_filter(), "error");
    }
}
