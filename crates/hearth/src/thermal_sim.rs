//! `hearth sim --scenario FILE`: a thermal scenario (docs/sim.md, "Thermal scenarios") run once
//! per `--guard` strategy, in parallel, each against the same site, load and faults; prints a
//! table or one JSON object per strategy, and writes the time series and audit trails with
//! `--out`.

use crate::clock::Stopwatch;
use anyhow::{anyhow, Context, Result};
use sim::thermal::{Scenario, ThermalRun};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What `hearth sim` passes on for a thermal scenario.
#[derive(Clone, Debug)]
pub struct ThermalArgs {
    /// Comma-separated guard strategies.
    pub guards: String,
    /// One JSON object per strategy instead of a table.
    pub json: bool,
    /// Folder for `thermal_timeseries.csv` and `audit-GUARD.jsonl`.
    pub out: Option<PathBuf>,
}

/// Reads the scenario, runs every strategy, reports.
pub fn run(path: &Path, args: &ThermalArgs) -> Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the scenario {}", path.display()))?;
    let scenario =
        Scenario::parse(&path.display().to_string(), &text).map_err(|e| anyhow!("{e}"))?;
    let specs: Vec<&str> = args.guards.split(',').map(str::trim).collect();
    // Build every guard first, so a bad strategy or policy fails before any run starts.
    let mut guards = Vec::with_capacity(specs.len());
    for spec in &specs {
        guards.push(
            sim::thermal::guard::build(spec, &scenario)
                .map_err(|e| anyhow!("--guard {spec}: {e}"))?,
        );
    }
    // One thread per strategy: a run is a fraction of a second to seconds, and they are few.
    let outcomes: Vec<Result<(ThermalRun, f64)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = guards
            .into_iter()
            .zip(&specs)
            .map(|(mut guard, spec)| {
                let scenario = &scenario;
                scope.spawn(move || {
                    let watch = Stopwatch::start();
                    sim::thermal::run(scenario, guard.as_mut())
                        .map(|run| (run, watch.elapsed_s()))
                        .map_err(|e| anyhow!("guard {spec}: {e}"))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap_or_else(|_| Err(anyhow!("a run thread failed"))))
            .collect()
    });
    let runs = outcomes.into_iter().collect::<Result<Vec<_>>>()?;

    let mut stdout = std::io::stdout().lock();
    if args.json {
        for (run, wall_s) in &runs {
            let mut value = serde_json::to_value(&run.summary)?;
            value["wall_s"] = serde_json::json!(wall_s);
            writeln!(stdout, "{value}")?;
        }
    } else {
        write_table(&mut stdout, &runs)?;
    }
    if let Some(dir) = &args.out {
        write_outputs(dir, &runs)?;
    }
    Ok(())
}

fn write_table(out: &mut impl Write, runs: &[(ThermalRun, f64)]) -> Result<()> {
    writeln!(
        out,
        "{:<14} {:>11} {:>11} {:>12} {:>11} {:>8} {:>7} {:>11} {:>10} {:>9} {:>7}",
        "guard",
        "peak_zone_C",
        "peak_host_C",
        "s_over_limit",
        "zone_s_over",
        "migrated",
        "stopped",
        "impact_cost",
        "energy_kWh",
        "powerdowns",
        "wall_s"
    )?;
    for (run, wall_s) in runs {
        let s = &run.summary;
        writeln!(
            out,
            "{:<14} {:>11.1} {:>11.1} {:>12.0} {:>11.0} {:>8} {:>7} {:>11.2} {:>10.2} {:>9} {:>7.2}",
            s.guard,
            s.peak_zone_c,
            s.peak_host_c,
            s.seconds_over_limit,
            s.zone_seconds_over_limit,
            s.migrated,
            s.stopped,
            s.impact_cost,
            s.energy_kwh,
            s.hosts_powered_down,
            wall_s
        )?;
    }
    Ok(())
}

fn write_outputs(dir: &Path, runs: &[(ThermalRun, f64)]) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut series = String::from("guard,t_s,hottest_zone_c,hottest_host_c,power_w,hosts_on\n");
    for (run, _) in runs {
        for p in &run.series {
            series += &format!(
                "{},{},{:.3},{:.3},{:.1},{}\n",
                run.summary.guard, p.t_s, p.hottest_zone_c, p.hottest_host_c, p.power_w, p.hosts_on
            );
        }
    }
    let path = dir.join("thermal_timeseries.csv");
    std::fs::write(&path, series).with_context(|| format!("cannot write {}", path.display()))?;
    for (run, _) in runs {
        let mut lines = String::new();
        for record in &run.audit {
            lines += &serde_json::to_string(record)?;
            lines.push('\n');
        }
        let name = run.summary.guard.replace([':', '/'], "_");
        let path = dir.join(format!("audit-{name}.jsonl"));
        std::fs::write(&path, lines).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
