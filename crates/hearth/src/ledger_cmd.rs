//! `hearth ledger`: `verify` checks a pool ledger file against the controller's public key and
//! names the first bad entry; `keygen` makes a signing key (a controller's or a node's) from
//! `/dev/urandom`. The pool crate does the checking and the key encoding; this module reads and
//! writes the files. docs/pool.md gives the ledger format, the checks and the key files.

use anyhow::{anyhow, Context, Result};
use clap::{Args, Subcommand};
use pool::ledger::{self, keys, Problem, SigningKey, VerifyingKey};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// `hearth ledger` subcommands.
#[derive(Subcommand, Debug)]
pub enum LedgerCommand {
    /// Verify a ledger file: exits 0 with a one-line summary when it is intact, non-zero with
    /// the first bad entry (line, seq, the check it failed) otherwise.
    Verify(VerifyArgs),
    /// Make a new Ed25519 signing key: writes its seed to --out (mode 0600, never over an
    /// existing file) and prints its public key, the line a public-key file holds.
    Keygen(KeygenArgs),
}

/// `hearth ledger verify` arguments.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The ledger file: JSON lines, one entry per line.
    #[arg(value_name = "PATH")]
    path: PathBuf,
    /// The controller's public key (the trust anchor): a file holding 64 hex digits on one
    /// line, as `hearth ledger keygen` prints them.
    #[arg(long, value_name = "FILE")]
    controller_key: PathBuf,
}

/// `hearth ledger keygen` arguments.
#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// Where to write the signing key: its 32-byte seed as 64 hex digits on one line. Refused
    /// if the file exists.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// Runs `hearth ledger`.
pub fn run(command: LedgerCommand) -> Result<()> {
    match command {
        LedgerCommand::Verify(args) => verify(&args),
        LedgerCommand::Keygen(args) => keygen(&args),
    }
}

fn verify(args: &VerifyArgs) -> Result<()> {
    let anchor = read_public_key(&args.controller_key)?;
    let bytes = std::fs::read(&args.path)
        .with_context(|| format!("cannot read the ledger file {}", args.path.display()))?;
    let report = ledger::verify_bytes(&bytes, &anchor).map_err(|err| {
        // A first entry signed by an unknown key usually means the wrong key file.
        let hint = match (&err.problem, err.line) {
            (Problem::UnknownKey { .. }, 1) => format!(
                " (is {} the public key of the controller that wrote this ledger?)",
                args.controller_key.display()
            ),
            _ => String::new(),
        };
        anyhow!("ledger {}: {err}{hint}", args.path.display())
    })?;
    println!("ledger {}: intact: {report}", args.path.display());
    Ok(())
}

/// Reads a public-key file (64 hex digits on one line), naming the file in errors.
fn read_public_key(path: &Path) -> Result<VerifyingKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the controller key file {}", path.display()))?;
    keys::parse_verifying_key(&text)
        .map_err(|err| anyhow!("controller key file {}: {err}", path.display()))
}

fn keygen(args: &KeygenArgs) -> Result<()> {
    let key = create_key_file(&args.out)?;
    println!("{}", keys::verifying_key_hex(&key.verifying_key()));
    Ok(())
}

/// Makes a new signing key from 32 bytes of `/dev/urandom` and writes its seed to `path`
/// (mode 0600, synced, never over an existing file): `hearth ledger keygen`, the pool
/// controller's `ledger.key` and a pool node's `node.key`.
pub(crate) fn create_key_file(path: &Path) -> Result<SigningKey> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut urandom| urandom.read_exact(&mut seed))
        .context("reading /dev/urandom")?;
    let key = keys::signing_key_from_seed(seed);
    seed.fill(0);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| {
            format!(
                "cannot create the key file {} (an existing file is never overwritten)",
                path.display()
            )
        })?;
    file.write_all(keys::signing_key_text(&key).as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing the key file {}", path.display()))?;
    Ok(key)
}

/// The signing key in `path` if the file exists, else a new one made there
/// ([`create_key_file`]).
pub(crate) fn key_file(path: &Path) -> Result<SigningKey> {
    if !path.exists() {
        return create_key_file(path);
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the key file {}", path.display()))?;
    keys::parse_signing_key(&text).map_err(|e| anyhow!("key file {}: {e}", path.display()))
}
