//! Runs one ipmitool process with a deadline: the password goes in through the environment,
//! stdin is closed (so it can never prompt), stdout and stderr are collected on their own
//! threads, and a process still running at the deadline is killed.

use std::ffi::OsStr;
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::clock::Clock;

/// The environment variable ipmitool's `-E` reads the password from.
pub(crate) const PASSWORD_ENV: &str = "IPMI_PASSWORD";

/// A process that ran to its end.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) success: bool,
    /// The exit status as the OS describes it (`exit status: 1`).
    pub(crate) status: String,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Why a process did not run to its end.
#[derive(Debug)]
pub(crate) enum RunError {
    /// The program is not on `PATH` (or the given path does not exist).
    NotInstalled,
    /// It could not be started, or waited for.
    Io(std::io::Error),
    /// It ran past the deadline and was killed.
    TimedOut,
}

/// Runs `tool args…` with `password` in [`PASSWORD_ENV`] and waits at most `timeout` (measured
/// and slept on `clock`).
pub(crate) fn run(
    tool: &Path,
    args: &[String],
    password: &str,
    timeout: Duration,
    clock: &dyn Clock,
) -> Result<Finished, RunError> {
    let mut child = Command::new(tool)
        .args(args)
        .env(PASSWORD_ENV, OsStr::new(password))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| match err.kind() {
            std::io::ErrorKind::NotFound => RunError::NotInstalled,
            _ => RunError::Io(err),
        })?;
    let stdout = collect(child.stdout.take());
    let stderr = collect(child.stderr.take());
    let started = clock.now();
    // ipmitool answers in ~40 ms on a LAN; start polling fast, then back off.
    let mut pause = Duration::from_millis(2);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(err) => {
                kill(&mut child);
                return Err(RunError::Io(err));
            }
        }
        if clock.now().saturating_sub(started) >= timeout {
            // The reader threads end when the killed process's pipes close; they are not
            // joined, so a grandchild holding a pipe cannot block us.
            kill(&mut child);
            return Err(RunError::TimedOut);
        }
        clock.sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    };
    Ok(Finished {
        success: status.success(),
        status: status.to_string(),
        stdout: joined(stdout),
        stderr: joined(stderr),
    })
}

fn kill(child: &mut Child) {
    // Either may fail only because the process already ended, which is what we want.
    let _ = child.kill();
    let _ = child.wait();
}

/// Reads a pipe to its end on a thread of its own.
fn collect(pipe: Option<impl Read + Send + 'static>) -> Option<JoinHandle<String>> {
    pipe.map(|mut pipe| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            // A read error leaves what was read so far, which is all there is to report.
            let _ = pipe.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    })
}

fn joined(reader: Option<JoinHandle<String>>) -> String {
    reader.and_then(|reader| reader.join().ok()).unwrap_or_default()
}
