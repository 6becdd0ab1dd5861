//! `tapstack completions` and `tapstack man`: shell completion scripts and man pages, generated
//! from the same clap definition the command line parses with, so they never drift from it.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, CommandFactory};
use clap_complete::Shell;

use crate::Cli;

/// Arguments of `tapstack completions`.
#[derive(Debug, Args)]
#[command(after_help = "Install, for example:
  bash: tapstack completions bash > ~/.local/share/bash-completion/completions/tapstack
  zsh:  tapstack completions zsh > ~/.zfunc/_tapstack   (with ~/.zfunc in $fpath)
  fish: tapstack completions fish > ~/.config/fish/completions/tapstack.fish

Exit status: 0 when written; 2 on an error (bad arguments, standard output closed).")]
pub struct CompletionsArgs {
    /// The shell to write a completion script for.
    #[arg(value_enum)]
    shell: Shell,
}

/// Arguments of `tapstack man`.
#[derive(Debug, Args)]
#[command(
    after_help = "Without --dir, the page of `tapstack` itself goes to standard output:
  tapstack man | man -l -

Exit status: 0 when written; 2 on an error (bad arguments, a directory that cannot be written)."
)]
pub struct ManArgs {
    /// Write tapstack.1 and one page per subcommand (tapstack-up.1, ...) into this directory
    /// (created if missing), e.g. ~/.local/share/man/man1.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// Writes the completion script for the shell asked for to standard output.
pub fn completions(args: CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "tapstack", &mut out);
    write_stdout(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// Writes the man page of `tapstack` to standard output, or every page into `--dir`.
pub fn man(args: ManArgs) -> anyhow::Result<ExitCode> {
    let cmd = Cli::command();
    match args.dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(cmd, &dir)
                .with_context(|| format!("cannot write the man pages into {}", dir.display()))?;
            eprintln!("tapstack: man pages written to {}", dir.display());
        }
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut out)?;
            write_stdout(&out)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes `bytes` to standard output; a closed pipe (`| head`) is not an error.
fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    let mut stdout = io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(e).context("cannot write to standard output")
        }
        _ => Ok(()),
    }
}
