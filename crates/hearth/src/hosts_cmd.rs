//! `hearth hosts check --hosts FILE`: reads the controller's hosts file, builds each host's
//! drivers, asks every driver for something cheap (power state, sensors, instances) and prints
//! a table of what answers, what does not, and why. Exits non-zero when a configured driver
//! does not answer.

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use controller::hosts::{check, HostsFile};
use std::path::PathBuf;
use std::sync::Arc;

/// `hearth hosts` subcommands.
#[derive(Subcommand, Debug)]
pub enum HostsCommand {
    /// Run each configured driver's health check and print what answers.
    Check(CheckArgs),
}

/// `hearth hosts check` flags.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The hosts file (TOML; docs/controller.md).
    #[arg(long, value_name = "FILE")]
    hosts: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// Output formats.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    /// A table for people.
    Table,
    /// One JSON object per line.
    Json,
}

/// Reads a hosts file, naming it in errors.
pub fn read_hosts(path: &std::path::Path) -> Result<HostsFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the hosts file {}", path.display()))?;
    HostsFile::parse(&text).map_err(|e| anyhow!("{}: {e}", path.display()))
}

/// Runs `hearth hosts`.
pub fn run(command: HostsCommand) -> Result<()> {
    let HostsCommand::Check(args) = command;
    let file = read_hosts(&args.hosts)?;
    file.topology().map_err(|e| anyhow!("{}: {e}", args.hosts.display()))?;
    let clock: Arc<dyn drivers::Clock> = Arc::new(drivers::SystemClock::new());
    let routed = file
        .drivers(clock, &|var| std::env::var(var).ok())
        .map_err(|e| anyhow!("{}: {e}", args.hosts.display()))?;
    let rows = check(&file, &routed);
    match args.format {
        Format::Json => {
            for row in &rows {
                println!("{}", serde_json::to_string(row).context("encoding a row")?);
            }
        }
        Format::Table => {
            let width = rows.iter().map(|r| r.host.len()).max().unwrap_or(4).max(4);
            println!("{:width$}  {:8}  {:8}  {:6}  DETAIL", "HOST", "ROLE", "DRIVER", "STATUS");
            for row in &rows {
                let status = match (row.ok, row.driver.as_str()) {
                    (_, "none") => "-",
                    (true, _) => "ok",
                    (false, _) => "FAILED",
                };
                println!(
                    "{:width$}  {:8}  {:8}  {:6}  {}",
                    row.host, row.role, row.driver, status, row.detail
                );
            }
        }
    }
    let failed = rows.iter().filter(|r| !r.ok).count();
    if failed > 0 {
        bail!("{failed} configured driver(s) did not answer");
    }
    Ok(())
}
