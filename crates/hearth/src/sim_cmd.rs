//! `hearth sim`: builds a scenario from a workload, runs each requested policy in the twin
//! (in parallel, one thread per core), prints a table or JSON lines, and writes the time series
//! and the HTML report when asked. With `--scenario FILE` it runs a thermal scenario instead
//! (`thermal_sim`): each `--guard` strategy against the same site and faults.

use crate::clock::Stopwatch;
use crate::traces::{self, WorkloadSpec};
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use sim::engine::{self, EngineOptions, PowerTransitions};
use sim::metrics::PolicyRun;
use sim::policy::PolicySpec;
use sim::scenario::Scenario;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

/// Output format of `hearth sim`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A human-readable table.
    Table,
    /// One JSON object per policy per line.
    Json,
}

/// Named scenarios.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ScenarioName {
    /// Beloglazov & Buyya 2012: 800 ML110 G4/G5 hosts, four VM types by block, 300 s steps.
    PlanetlabReference,
}

/// What `--scenario` names: a built-in consolidation scenario or a thermal scenario file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScenarioArg {
    /// A named consolidation scenario.
    Named(ScenarioName),
    /// A thermal scenario file (TOML, docs/sim.md "Thermal scenarios").
    File(PathBuf),
}

impl std::str::FromStr for ScenarioArg {
    type Err = String;

    fn from_str(text: &str) -> Result<ScenarioArg, String> {
        if let Ok(name) = ScenarioName::from_str(text, false) {
            return Ok(ScenarioArg::Named(name));
        }
        let path = PathBuf::from(text);
        if path.is_file() {
            Ok(ScenarioArg::File(path))
        } else {
            Err(format!(
                "`{text}` is neither a named scenario (planetlab-reference) nor a thermal scenario \
                 file (no such file)"
            ))
        }
    }
}

/// `--step`'s default, seconds: the PlanetLab traces' sampling interval, which the reference
/// scenario fixes; a flag still at it counts as not given.
pub const DEFAULT_STEP_S: f64 = 300.0;

/// The strategies `--guard` runs by default.
pub const DEFAULT_GUARDS: &str = "seed,hottest-first,random,none";

/// The consolidation policies `--policy` runs by default.
pub const DEFAULT_POLICIES: &str = "npa,dvfs,thr-mmt,iqr-mmt,mad-mmt,lr-mmt,lrr-mmt,heat-max";

/// Arguments of `hearth sim`.
#[derive(Args, Debug)]
pub struct SimArgs {
    /// Workload: `planetlab:DIR`, `bitbrains:DIR` or `synthetic[:SEED]` [default: synthetic].
    #[arg(long)]
    workload: Option<WorkloadSpec>,
    /// A named scenario that fixes the fleet and VM types (planetlab-reference is the default
    /// for PlanetLab workloads), or a thermal scenario file (TOML; docs/sim.md), which runs the
    /// thermal guard strategies of --guard instead of consolidation policies.
    #[arg(long, value_name = "NAME|FILE")]
    scenario: Option<ScenarioArg>,
    /// With a thermal scenario: guard strategies, comma-separated: seed, hottest-first,
    /// `random[:SEED]`, none [default: seed,hottest-first,random,none].
    #[arg(long)]
    guard: Option<String>,
    /// Number of hosts (alternating HP ML110 G4 and G5). Default: 800 for PlanetLab, one per VM
    /// otherwise.
    #[arg(long)]
    hosts: Option<usize>,
    /// Policies, comma-separated: npa, dvfs, thr-mmt, iqr-mmt, mad-mmt, lr-mmt, lrr-mmt,
    /// heat-max, each with an optional parameter (lr-mmt:1.2) [default: all eight].
    #[arg(long)]
    policy: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Also write time series (CSV), a summary (CSV) and a report (HTML) into this folder.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Seconds between two scheduling decisions.
    #[arg(long, default_value_t = DEFAULT_STEP_S)]
    step: f64,
    /// Target minimum heat rate of every host, watts: heat from a host counts as harvested
    /// while its power is at least this. 0 counts all heat as harvested, whatever the
    /// arrangement, which leaves heat-max no host to bring to target: it only consolidates.
    #[arg(long, default_value_t = 0.0)]
    target_heat_w: f64,
    /// Keep VMs whose CPU request drops to exactly zero (CloudSim retires them as finished).
    #[arg(long)]
    keep_idle_vms: bool,
    /// Seconds a host takes to boot; each boot is charged this long at full-load power.
    #[arg(long, default_value_t = 0.0)]
    boot_s: f64,
    /// Seconds a host takes to shut down; each shutdown is charged this long at full-load power.
    #[arg(long, default_value_t = 0.0)]
    shutdown_s: f64,
}

impl SimArgs {
    /// The flags a thermal scenario takes, refusing those it does not.
    fn thermal_args(&self) -> Result<crate::thermal_sim::ThermalArgs> {
        let consolidation_only = [
            ("--policy", self.policy.is_some()),
            ("--hosts", self.hosts.is_some()),
            ("--workload", self.workload.is_some()),
            ("--target-heat-w", self.target_heat_w != 0.0),
            ("--keep-idle-vms", self.keep_idle_vms),
            ("--step", self.step != DEFAULT_STEP_S),
            ("--boot-s", self.boot_s != 0.0),
            ("--shutdown-s", self.shutdown_s != 0.0),
        ];
        if let Some((flag, _)) = consolidation_only.iter().find(|(_, given)| *given) {
            bail!(
                "{flag} applies to consolidation runs; a thermal scenario file sets its own site, \
                 load and timing (docs/sim.md, \"Thermal scenarios\")"
            );
        }
        Ok(crate::thermal_sim::ThermalArgs {
            guards: self.guard.clone().unwrap_or_else(|| DEFAULT_GUARDS.to_string()),
            json: self.format == Format::Json,
            out: self.out.clone(),
        })
    }
}

fn build_scenario(args: &SimArgs, workload: &sim::workload::Workload) -> Result<Scenario> {
    if !(args.target_heat_w.is_finite() && args.target_heat_w >= 0.0) {
        bail!("--target-heat-w {}: expected a non-negative number of watts", args.target_heat_w);
    }
    let is_planetlab = matches!(args.workload, Some(WorkloadSpec::PlanetLab(_)));
    let named = match &args.scenario {
        Some(ScenarioArg::Named(name)) => Some(*name),
        Some(ScenarioArg::File(path)) => {
            bail!("{}: a thermal scenario runs through thermal_sim", path.display())
        }
        None => None,
    };
    let scenario = match (named, args.hosts) {
        (Some(ScenarioName::PlanetlabReference), Some(_)) => {
            bail!("--hosts conflicts with --scenario planetlab-reference, which fixes 800 hosts")
        }
        (Some(ScenarioName::PlanetlabReference), None) => {
            if args.step != DEFAULT_STEP_S {
                bail!(
                    "--step conflicts with --scenario planetlab-reference, which fixes 300 s steps"
                );
            }
            Scenario::planetlab_reference(workload)?
        }
        (None, hosts) => {
            let default_hosts =
                if is_planetlab { sim::scenario::REFERENCE_HOSTS } else { workload.vms.len() };
            Scenario::with_fleet(workload, hosts.unwrap_or(default_hosts), args.step)?
        }
    };
    Ok(scenario.with_uniform_target(args.target_heat_w))
}

fn progress_bar(multi: &MultiProgress, policy: &PolicySpec, total: u64) -> ProgressBar {
    let bar = multi.add(ProgressBar::new(total));
    let style = ProgressStyle::with_template("{prefix:>14} [{bar:40}] {pos}/{len} steps {elapsed}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(policy.to_string());
    bar
}

/// Runs `hearth sim`.
pub fn run(args: SimArgs) -> Result<()> {
    if let Some(ScenarioArg::File(path)) = &args.scenario {
        return crate::thermal_sim::run(path, &args.thermal_args()?);
    }
    if args.guard.is_some() {
        bail!("--guard applies to thermal scenarios: give --scenario FILE");
    }
    let policies = PolicySpec::parse_list(args.policy.as_deref().unwrap_or(DEFAULT_POLICIES))
        .context("--policy")?;
    let spec = match &args.workload {
        Some(spec) => spec.clone(),
        None => "synthetic".parse::<WorkloadSpec>().map_err(anyhow::Error::msg)?,
    };
    let workload = traces::load(&spec)?;
    for finding in &workload.findings {
        eprintln!("hearth: note: {finding}");
    }
    let scenario = build_scenario(&args, &workload)?;
    for (flag, value) in [("--boot-s", args.boot_s), ("--shutdown-s", args.shutdown_s)] {
        if !(value.is_finite() && value >= 0.0) {
            bail!("{flag} {value}: expected a non-negative number of seconds");
        }
    }
    let options = EngineOptions {
        retire_idle_vms: !args.keep_idle_vms,
        transitions: PowerTransitions { boot_s: args.boot_s, shutdown_s: args.shutdown_s },
    };

    let multi = MultiProgress::new();
    if !std::io::stderr().is_terminal() {
        multi.set_draw_target(ProgressDrawTarget::hidden());
    }
    let total_steps = (scenario.duration_s / scenario.step_s).ceil() as u64;
    let n_threads =
        std::thread::available_parallelism().map_or(1, |n| n.get()).min(policies.len()).max(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<Option<Result<PolicyRun>>> = (0..policies.len()).map(|_| None).collect();
    let slots = std::sync::Mutex::new(&mut results);
    std::thread::scope(|scope| {
        for _ in 0..n_threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(policy) = policies.get(i) else { break };
                let bar = progress_bar(&multi, policy, total_steps);
                let watch = Stopwatch::start();
                let mut on_step = |done: usize, _total: usize| bar.set_position(done as u64);
                let outcome = engine::simulate(&scenario, *policy, options, &mut on_step)
                    .map(|mut run| {
                        run.summary.wall_s = watch.elapsed_s();
                        run.summary.workload = workload.source.clone();
                        run
                    })
                    .with_context(|| format!("policy {policy}"));
                bar.finish();
                if let Ok(mut slots) = slots.lock() {
                    slots[i] = Some(outcome);
                }
            });
        }
    });
    let runs: Vec<PolicyRun> = results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                Err(anyhow::anyhow!("a simulation thread stopped without a result"))
            })
        })
        .collect::<Result<_>>()?;

    let mut stdout = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            for run in &runs {
                writeln!(stdout, "{}", serde_json::to_string(&run.summary)?)?;
            }
        }
        Format::Table => write_table(&mut stdout, &runs)?,
    }
    if let Some(dir) = &args.out {
        write_outputs(dir, &workload.source, &runs)?;
    }
    Ok(())
}

fn write_table(out: &mut impl Write, runs: &[PolicyRun]) -> Result<()> {
    writeln!(
        out,
        "{:<14} {:>11} {:>10} {:>9} {:>8} {:>11} {:>9} {:>11} {:>14} {:>8} {:>8}",
        "policy",
        "energy_kWh",
        "migrations",
        "SLATAH_%",
        "PDM_%",
        "SLAV_x1e5",
        "shutdowns",
        "mean_active",
        "harvested_kWh",
        "harvest",
        "wall_s"
    )?;
    for run in runs {
        let s = &run.summary;
        writeln!(
            out,
            "{:<14} {:>11.2} {:>10} {:>9.2} {:>8.3} {:>11.3} {:>9} {:>11.1} {:>14.2} {:>8.3} {:>8.3}",
            s.policy,
            s.energy_kwh,
            s.migrations,
            s.slatah * 100.0,
            s.pdm * 100.0,
            s.slav * 1e5,
            s.host_shutdowns,
            s.mean_active_hosts,
            s.harvested_heat_kwh,
            s.harvest_ratio,
            s.wall_s
        )?;
    }
    Ok(())
}

fn write_outputs(dir: &std::path::Path, source: &str, runs: &[PolicyRun]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let files = [
        ("timeseries.csv", sim::report::time_series_csv(runs)),
        ("summary.csv", sim::report::summary_csv(runs)),
        ("report.html", sim::report::html_report(&format!("hearth sim — {source}"), runs)),
    ];
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
