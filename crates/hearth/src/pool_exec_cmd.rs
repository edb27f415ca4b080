//! `hearth bench` runs the node benchmark and prints its score (agent::bench), and the hidden
//! `hearth pool-exec` is the pool executor's privileged launcher (agent::pool_exec::launch):
//! the executor spawns it for each task; it joins the task's cgroups, sets its limits, and
//! becomes the task as the task user. Both are thin: the logic and its tests live in the agent
//! crate.

use agent::bench;
use agent::pool_exec::{self, LaunchArgs};
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;

/// `hearth bench` arguments.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Timed rounds (after one untimed warm-up round); the score is their median.
    #[arg(long, default_value_t = bench::DEFAULT_ROUNDS, value_name = "N",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1000))]
    rounds: usize,
    /// Kernel iterations per round (the default takes about 60 ms on a 3 GHz core).
    #[arg(long, default_value_t = bench::DEFAULT_WORK, value_name = "N",
          value_parser = clap::builder::RangedU64ValueParser::<u64>::new().range(1..))]
    work: u64,
    /// Print one JSON object ({"score", "rounds", "spread"}; spread as a fraction) instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs `hearth bench`: the score, each round and the spread.
pub fn bench(args: BenchArgs) -> Result<()> {
    let result = bench::run(args.rounds, args.work);
    if args.json {
        let line = serde_json::to_string(&result).context("cannot encode the benchmark result")?;
        println!("{line}");
        return Ok(());
    }
    println!(
        "score {:.0} (median of {} rounds of {} iterations; about 1000 on a 3 GHz core; higher is \
         faster)",
        result.score,
        result.rounds.len(),
        args.work
    );
    let rounds: Vec<String> = result.rounds.iter().map(|r| format!("{r:.0}")).collect();
    println!("rounds {}", rounds.join(" "));
    println!("spread {:.1}% ((max - min) / median)", result.spread * 100.0);
    Ok(())
}

/// `hearth pool-exec` arguments (internal: the pool executor builds them).
#[derive(Args, Debug)]
pub struct PoolExecArgs {
    /// The task's working directory.
    #[arg(long, value_name = "DIR")]
    workdir: PathBuf,
    /// The user id to run the task as (never 0).
    #[arg(long, value_name = "UID")]
    uid: u32,
    /// The group id to run the task as (never 0).
    #[arg(long, value_name = "GID")]
    gid: u32,
    /// A cgroup.procs file to join before running the task (repeatable).
    #[arg(long = "cgroup-procs", value_name = "FILE")]
    cgroup_procs: Vec<PathBuf>,
    /// The address-space limit (RLIMIT_AS), bytes.
    #[arg(long, value_name = "N")]
    mem_bytes: Option<u64>,
    /// The CPU limit, cores (told to the task as HEARTH_TASK_CPUS).
    #[arg(long, value_name = "F")]
    cpu: Option<f64>,
    /// The task id (HEARTH_TASK_ID).
    #[arg(long, value_name = "ID")]
    task_id: Option<String>,
    /// The attempt (HEARTH_TASK_ATTEMPT).
    #[arg(long, value_name = "N")]
    attempt: Option<u32>,
    /// The marker that names the task's processes (HEARTH_POOL_TASK).
    #[arg(long, value_name = "AGENT/TASK")]
    marker: Option<String>,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, num_args = 1.., value_name = "ARGV")]
    argv: Vec<String>,
}

/// Runs `hearth pool-exec`: becomes the task, or prints why not on stderr and exits with 125
/// (the launch failed) or 127 (the command could not be run).
pub fn pool_exec(args: PoolExecArgs) -> ! {
    let launch = LaunchArgs {
        workdir: args.workdir,
        uid: args.uid,
        gid: args.gid,
        cgroup_procs: args.cgroup_procs,
        mem_bytes: args.mem_bytes,
        cpu: args.cpu,
        task_id: args.task_id,
        attempt: args.attempt,
        marker: args.marker,
        argv: args.argv,
    };
    let err = pool_exec::launch(&launch);
    eprintln!("{err}");
    std::process::exit(err.exit_code())
}
