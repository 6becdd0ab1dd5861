//! `tapstack`: the command line of the tapstack userspace TCP/IP stack.

#[cfg(feature = "bench")]
mod alloc;
#[cfg(feature = "bench")]
mod bench;
mod docs;
mod dump;
mod filter;
mod json;
mod live;
mod log;
mod plot;
mod replay;
mod up;

#[cfg(feature = "bench")]
#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A userspace TCP/IP stack on a Linux TAP device.
#[derive(Debug, Parser)]
#[command(name = "tapstack", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Bring up the virtual host on a TAP device and run until Ctrl-C.
    #[command(after_help = UP_EXIT)]
    Up(up::UpArgs),
    #[cfg(feature = "bench")]
    /// Measure TCP throughput against smoltcp in memory, and idle connection memory.
    #[command(after_help = BENCH_EXIT)]
    Bench(bench::BenchArgs),
    /// Replay a capture through the stack under virtual time; write and compare its output.
    Replay(replay::ReplayArgs),
    /// Print a capture one line per frame (like tcpdump), or every header field with -v.
    Dump(dump::DumpArgs),
    /// Draw a time-sequence graph (SVG) of each TCP connection in a capture.
    Plot(plot::PlotArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(docs::CompletionsArgs),
    /// Print the man page, or write one page per subcommand into a directory.
    Man(docs::ManArgs),
}

const UP_EXIT: &str = "\
Exit status: 0 after Ctrl-C or SIGTERM; 2 on an error (bad arguments, no TAP device, the
address already in use, the device gone).";

#[cfg(feature = "bench")]
const BENCH_EXIT: &str = "\
Exit status: 0 when every figure was measured; 1 when some figure failed (see the table);
2 on an error (bad arguments); 130 when interrupted.";

/// The exit status of an error, whatever the subcommand (like diff and cmp, which keep 1 for
/// \"different\").
const ERROR: u8 = 2;

impl Command {
    fn verbosity(&self) -> log::Verbosity {
        match self {
            Command::Up(a) => a.log,
            #[cfg(feature = "bench")]
            Command::Bench(a) => a.log,
            Command::Replay(a) => a.log,
            Command::Dump(a) => a.log,
            Command::Plot(a) => a.log,
            Command::Completions(_) | Command::Man(_) => log::Verbosity::default(),
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap's own output, whole: the message, the usage line and any tip. Help and
            // version go to stdout with status 0, mistakes to stderr with status 2.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(ERROR));
        }
    };
    log::init(cli.command.verbosity());
    let result = match cli.command {
        Command::Up(args) => up::run(args),
        #[cfg(feature = "bench")]
        Command::Bench(args) => bench::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Dump(args) => dump::run(args),
        Command::Plot(args) => plot::run(args),
        Command::Completions(args) => docs::completions(args),
        Command::Man(args) => docs::man(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tapstack: {e:#}");
            ExitCode::from(ERROR)
        }
    }
}
