//! `tapstack`: the command line of the tapstack userspace TCP/IP stack.

mod alloc;
mod bench;
mod dump;
mod replay;
mod up;

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
    Up(up::UpArgs),
    /// Measure TCP throughput against smoltcp in memory, and idle connection memory.
    Bench(bench::BenchArgs),
    /// Replay a capture through the stack under virtual time; write and compare its output.
    Replay(replay::ReplayArgs),
    /// Print a capture one line per frame (like tcpdump), or every header field with -v.
    Dump(dump::DumpArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion)
                || e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            {
                let _ = e.print();
                return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                    ExitCode::from(2)
                } else {
                    ExitCode::SUCCESS
                };
            }
            // One line, not clap's usage block: the message up to the first blank line
            // (a list such as missing arguments is joined onto it).
            let text = e.render().to_string();
            let message: Vec<&str> = text
                .lines()
                .map(str::trim)
                .take_while(|l| !l.is_empty())
                .collect();
            let line = message.join(" ");
            let line = if line.is_empty() {
                "error: bad arguments"
            } else {
                &line
            };
            eprintln!("tapstack: {}", line.strip_prefix("error: ").unwrap_or(line));
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Up(args) => up::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Dump(args) => dump::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tapstack: {e:#}");
            ExitCode::from(1)
        }
    }
}
