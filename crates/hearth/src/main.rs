//! The `hearth` binary: one command-line entry point for hearth's parts. Today it runs the
//! data-center twin (`hearth sim`) and plans one fleet's arrangement (`hearth plan`); the agent
//! and controller subcommands join them as they land.
//!
//! This crate is the only one that knows clap, reads files for the simulator and writes its
//! reports; the decision crates stay pure.

mod agent_cmd;
mod beacon_cmd;
mod clock;
mod controller_loop;
mod demo_cmd;
mod hosts_cmd;
mod ledger_cmd;
mod loop_cmd;
mod plan_cmd;
mod pool_agent;
mod pool_cmd;
mod pool_exec_cmd;
mod sim_cmd;
mod thermal_sim;
mod traces;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// hearth: a heat-aware, thermal-safe orchestrator.
#[derive(Parser, Debug)]
#[command(name = "hearth", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the data-center twin: trace-driven consolidation policies and their metrics.
    Sim(sim_cmd::SimArgs),
    /// Run the per-host agent: measure this host and send beacons to the receivers.
    Agent(agent_cmd::AgentArgs),
    /// Run the controller: receive beacons, estimate availability, answer status and select.
    Controller(beacon_cmd::ControllerArgs),
    /// Ask a running controller for every node's status.
    Status(beacon_cmd::StatusArgs),
    /// Ask a running controller for a target node (prints its ID).
    Select(beacon_cmd::SelectArgs),
    /// Show, set or release the α a running controller sets for every agent (seed 003, FIG. 15).
    Alpha(beacon_cmd::AlphaArgs),
    /// Run the whole product on embedded defaults: controller, store, a simulated site with
    /// real agents and beacons, the API and dashboard, and a scripted cooling failure.
    Demo(demo_cmd::DemoArgs),
    /// Check the drivers of a hosts file: what answers, what does not, and why.
    #[command(subcommand)]
    Hosts(hosts_cmd::HostsCommand),
    /// Verify a pool ledger file, or make a ledger signing key (docs/pool.md).
    #[command(subcommand)]
    Ledger(ledger_cmd::LedgerCommand),
    /// Plan one arrangement of a fleet: as many hosts as possible at their target heat rate.
    Plan(plan_cmd::PlanArgs),
    /// Measure this node's single-core speed: the pool's performance score (about 1000 on a 3 GHz
    /// core), each round and the spread.
    Bench(pool_exec_cmd::BenchArgs),
    /// The pool executor's launcher (internal): joins a task's cgroups, sets its limits and
    /// runs it as the task user.
    #[command(hide = true)]
    PoolExec(pool_exec_cmd::PoolExecArgs),
    /// Run a command on the pool, or here when the pool has no room (exits with its code).
    Run(pool_cmd::RunArgs),
    /// List the pool's tasks.
    Tasks(pool_cmd::TasksArgs),
    /// Cancel a pool task.
    Cancel(pool_cmd::CancelArgs),
    /// List the pool's members, fastest first.
    Members(pool_cmd::MembersArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => {
            return match pool_cmd::run(args) {
                Ok(code) => ExitCode::from(code),
                Err(err) => {
                    eprintln!("hearth: error: {err:#}");
                    ExitCode::from(pool_cmd::EXIT_NOT_RUN)
                }
            }
        }
        Command::Tasks(args) => pool_cmd::tasks(args),
        Command::Cancel(args) => pool_cmd::cancel(args),
        Command::Members(args) => pool_cmd::members(args),
        Command::Sim(args) => sim_cmd::run(args),
        Command::Agent(args) => agent_cmd::run(args),
        Command::Controller(args) => beacon_cmd::controller(args),
        Command::Status(args) => beacon_cmd::status(args),
        Command::Select(args) => beacon_cmd::select(args),
        Command::Alpha(args) => beacon_cmd::alpha(args),
        Command::Plan(args) => plan_cmd::run(args),
        Command::Bench(args) => pool_exec_cmd::bench(args),
        Command::PoolExec(args) => pool_exec_cmd::pool_exec(args),
        Command::Demo(args) => demo_cmd::run(args),
        Command::Hosts(command) => hosts_cmd::run(command),
        Command::Ledger(command) => ledger_cmd::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("hearth: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
