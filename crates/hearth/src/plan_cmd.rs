//! `hearth plan`: reads a fleet file (TOML or JSON) or generates a seeded fleet, plans one
//! arrangement with the heat planner (greedy, or the exact MILP for small fleets), and prints a
//! summary table or one JSON object. docs/planner.md documents the file format and every output.
//!
//! Parse low, then lift: the file becomes a `heat::FleetSpec` (errors name file, line, column
//! and field), the spec a validated `heat::Problem` (errors name the host or instance), and only
//! then does the planner run, timed alone for `plan_ms`.

use crate::clock::Stopwatch;
use anyhow::{anyhow, bail, Context, Result};
use clap::{ArgGroup, Args, ValueEnum};
use heat::exact::ExactError;
use heat::fleet::Pinned;
use heat::generate::GenerateSpec;
use heat::plan::{
    HostReason, InstanceOutcome, Move, MoveReason, Placement, Plan, PowerKind, StayReason,
};
use heat::{FleetSpec, Problem};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Fleets with at most this many hosts get the per-host table and the migration list in the
/// table output; bigger ones only the summary (the JSON output always has everything).
const TABLE_MAX_HOSTS: usize = 50;

/// Output format of `hearth plan`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A readable summary; for fleets of up to 50 hosts also a per-host table and the ordered
    /// migrations and power actions.
    Table,
    /// One JSON object on one line: the summary figures and the whole plan, by id.
    Json,
}

/// Arguments of `hearth plan`.
#[derive(Args, Debug)]
#[command(group(ArgGroup::new("input").required(true).args(["fleet", "generate"])))]
pub struct PlanArgs {
    /// Fleet file: hosts, instances, the current arrangement and the policy, in TOML (`.toml`)
    /// or JSON (`.json`; any other name is read as JSON when it starts with `{`, else as TOML).
    /// docs/planner.md gives the format.
    #[arg(long, value_name = "FILE")]
    fleet: Option<PathBuf>,
    /// Plan a seeded random fleet instead: `instances=N,hosts=M[,resources=R][,seed=S]`.
    #[arg(long, value_name = "SPEC")]
    generate: Option<String>,
    /// Target minimum heat rate of every host, watts, overriding the fleet's per-host targets
    /// (0 means no host has a heat-recovery loop, so none is covered).
    #[arg(long, value_name = "W", allow_negative_numbers = true)]
    target_heat_w: Option<f64>,
    /// Solve exactly (a MILP) instead of with the greedy planner; for small fleets only.
    #[arg(long)]
    exact: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// Runs `hearth plan`.
pub fn run(args: PlanArgs) -> Result<()> {
    if let Some(w) = args.target_heat_w {
        if !(w.is_finite() && w >= 0.0) {
            bail!("--target-heat-w {w}: expected a finite, non-negative number of watts");
        }
    }
    let (source, mut spec) = match (&args.fleet, &args.generate) {
        (Some(path), None) => (path.display().to_string(), read_fleet(path)?),
        (None, Some(text)) => {
            let generate: GenerateSpec =
                text.parse().map_err(|err| anyhow!("--generate {text}: {err}"))?;
            // The canonical spec, defaults filled in, reproduces the fleet.
            (format!("generate:{generate}"), heat::generate::fleet(&generate, args.target_heat_w))
        }
        // clap's argument group makes exactly one of the two present.
        _ => bail!("give exactly one of --fleet FILE and --generate SPEC"),
    };
    if let Some(w) = args.target_heat_w {
        for host in &mut spec.hosts {
            host.target_heat_w = w;
        }
    }
    let problem = Problem::new(&spec).with_context(|| source.clone())?;

    let watch = Stopwatch::start();
    let report = if args.exact {
        let solution = heat::exact::solve(&problem).map_err(|err| match err {
            ExactError::TooLarge { .. } => {
                anyhow!("--exact: {err}; without --exact the greedy planner takes any size")
            }
            _ => anyhow!("--exact: {err}"),
        })?;
        let target: Vec<Option<usize>> = solution.assignment.iter().map(|&h| Some(h)).collect();
        // The optimum as a full plan: safe order, power actions and reasons.
        let plan = heat::plan::explain(&problem, &target);
        let plan_ms = watch.elapsed_s() * 1e3;
        if plan
            .instances
            .iter()
            .any(|o| matches!(o, InstanceOutcome::Stays { why: StayReason::NoSafeOrder }))
        {
            eprintln!(
                "hearth: note: some of the exact arrangement's moves have no safe order and were \
                 dropped; the figures are those of the plan"
            );
        }
        Report::from_plan(source, "exact", &problem, &plan, plan_ms)
    } else {
        let plan = heat::plan(&problem);
        let plan_ms = watch.elapsed_s() * 1e3;
        Report::from_plan(source, "greedy", &problem, &plan, plan_ms)
    };
    let mut stdout = std::io::stdout().lock();
    let written = match args.format {
        Format::Json => writeln!(stdout, "{}", serde_json::to_string(&report)?),
        Format::Table => write_table(&mut stdout, &report),
    };
    match written {
        // A reader that stops early (`| head`) is not an error.
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to stdout"),
    }
}

// ---------------------------------------------------------------------------------------------
// Reading fleet files

/// The syntax of a fleet file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Syntax {
    Toml,
    Json,
}

impl Syntax {
    /// By extension (`.toml`, `.json`, any case); otherwise JSON when the first non-blank
    /// character is `{`, else TOML (a TOML file cannot start with `{`).
    fn of(path: &Path, text: &str) -> Syntax {
        let extension = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        match extension.as_deref() {
            Some("toml") => Syntax::Toml,
            Some("json") => Syntax::Json,
            _ if text.trim_start().starts_with('{') => Syntax::Json,
            _ => Syntax::Toml,
        }
    }
}

/// Reads and parses a fleet file; errors read `FILE:LINE:COLUMN: FIELD: what`.
fn read_fleet(path: &Path) -> Result<FleetSpec> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read fleet file {}", path.display()))?;
    parse_fleet(&text, Syntax::of(path, &text)).map_err(|err| anyhow!("{}:{err}", path.display()))
}

/// Where and why a fleet file failed to parse.
#[derive(Debug, PartialEq)]
struct ParseError {
    /// 1-based line and column, when the parser knows them.
    at: Option<(usize, usize)>,
    /// The field being read, as a path (`hosts[2].capacity[0]`), when inside one.
    field: Option<String>,
    message: String,
}

impl std::fmt::Display for ParseError {
    /// `LINE:COLUMN: FIELD: message`, leaving out what is unknown; the caller prefixes the file.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some((line, column)) = self.at {
            write!(f, "{line}:{column}:")?;
        }
        if let Some(field) = &self.field {
            write!(f, " {field}:")?;
        }
        write!(f, " {}", self.message)
    }
}

fn field_path(path: &serde_path_to_error::Path) -> Option<String> {
    let path = path.to_string();
    // serde_path_to_error writes the document root as ".".
    (path != ".").then_some(path)
}

fn parse_fleet(text: &str, syntax: Syntax) -> Result<FleetSpec, ParseError> {
    match syntax {
        Syntax::Toml => {
            let deserializer = toml::Deserializer::new(text);
            serde_path_to_error::deserialize(deserializer).map_err(|err| {
                let inner = err.inner();
                ParseError {
                    at: inner.span().map(|span| model::toml_text::line_column(text, span.start)),
                    field: field_path(err.path()),
                    // toml's messages may span lines ("invalid array\nexpected `]`").
                    message: inner.message().trim().lines().collect::<Vec<_>>().join("; "),
                }
            })
        }
        Syntax::Json => {
            let mut deserializer = serde_json::Deserializer::from_str(text);
            let json_error = |err: &serde_json::Error, field: Option<String>| {
                let full = err.to_string();
                let suffix = format!(" at line {} column {}", err.line(), err.column());
                let message = full.strip_suffix(&suffix).unwrap_or(&full).to_string();
                // serde_json reports line 0 for errors that have no position.
                let at = (err.line() > 0).then_some((err.line(), err.column()));
                ParseError { at, field, message }
            };
            let spec: FleetSpec = serde_path_to_error::deserialize(&mut deserializer)
                .map_err(|err| json_error(err.inner(), field_path(err.path())))?;
            deserializer.end().map_err(|err| json_error(&err, None))?;
            Ok(spec)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The report: the contract fields first, then extras, then the plan by id

/// What `hearth plan` prints: `--format json` serializes it as one line, `--format table`
/// lays it out. The eight figures from `instances` to `plan_ms` are the issue-3 contract.
#[derive(Serialize)]
struct Report<'a> {
    /// `FILE` as given, or `generate:SPEC` with every key.
    source: String,
    /// `greedy` or `exact`.
    planner: &'static str,
    instances: usize,
    hosts: usize,
    covered_hosts: usize,
    upper_bound: usize,
    active_hosts: usize,
    harvested_heat_w: f64,
    /// The number of live migrations.
    migrations: usize,
    plan_ms: f64,
    resources: usize,
    migration_mib: f64,
    placements: usize,
    unplaced: usize,
    /// Power actions by kind.
    power_ons: usize,
    wakes: usize,
    power_downs: usize,
    plan: PlanView<'a>,
}

/// The plan with ids instead of indices.
#[derive(Serialize)]
struct PlanView<'a> {
    /// In execution order.
    migrations: Vec<MoveView<'a>>,
    placements: Vec<PlacementView<'a>>,
    /// In execution order: power-ons and wakes before the migrations, power-downs after.
    power: Vec<PowerView<'a>>,
    hosts: Vec<HostView<'a>>,
    instances: Vec<InstanceView<'a>>,
}

#[derive(Serialize)]
struct MoveView<'a> {
    instance: &'a str,
    from: &'a str,
    to: &'a str,
    memory_mib: f64,
    reason: Option<&'static str>,
}

#[derive(Serialize)]
struct PlacementView<'a> {
    instance: &'a str,
    host: &'a str,
}

#[derive(Serialize)]
struct PowerView<'a> {
    host: &'a str,
    action: &'static str,
}

#[derive(Serialize)]
struct HostView<'a> {
    id: &'a str,
    /// Power state before the plan.
    power_before: &'static str,
    /// Instances it runs after the plan.
    instances: usize,
    heat_w: f64,
    target_heat_w: f64,
    covered: bool,
    powered: bool,
    reason: Option<&'static str>,
}

#[derive(Serialize)]
struct InstanceView<'a> {
    id: &'a str,
    /// Host before the plan.
    from: Option<&'a str>,
    /// Host after the plan.
    to: Option<&'a str>,
    /// `moved`, `placed`, `stays` or `unplaced`.
    outcome: &'static str,
    /// Why (docs/planner.md lists every reason); none for a first placement.
    reason: Option<&'static str>,
    /// For `dwell`: seconds until the instance may move again.
    #[serde(skip_serializing_if = "Option::is_none")]
    dwell_remaining_s: Option<f64>,
}

fn host_reason(reason: HostReason) -> &'static str {
    match reason {
        HostReason::Covered => "covered",
        HostReason::BelowTarget => "below_target",
        HostReason::OverLimit => "over_limit",
        HostReason::Spare => "spare",
        HostReason::PoweredDown => "powered_down",
        HostReason::AlreadyOff => "already_off",
    }
}

fn move_reason(reason: MoveReason) -> &'static str {
    match reason {
        MoveReason::Repair => "repair",
        MoveReason::Cover => "cover",
        MoveReason::Drain => "drain",
        MoveReason::Exact => "exact",
    }
}

fn power_kind(kind: PowerKind) -> &'static str {
    match kind {
        PowerKind::PowerOn => "power_on",
        PowerKind::Wake => "wake",
        PowerKind::PowerDown => "power_down",
    }
}

/// `(outcome, reason, dwell_remaining_s)` of an instance.
fn instance_outcome(outcome: InstanceOutcome) -> (&'static str, Option<&'static str>, Option<f64>) {
    let stays = |reason: &'static str| ("stays", Some(reason), None);
    match outcome {
        InstanceOutcome::Moved { why } => ("moved", Some(move_reason(why)), None),
        InstanceOutcome::Placed => ("placed", None, None),
        InstanceOutcome::Unplaced => ("unplaced", Some("no_room"), None),
        InstanceOutcome::Stays { why } => match why {
            StayReason::Pinned { pinned: Pinned::NotMigratable } => stays("not_migratable"),
            StayReason::Pinned { pinned: Pinned::Dwell { remaining_s } } => {
                ("stays", Some("dwell"), Some(remaining_s))
            }
            StayReason::OnCoveredHost => stays("on_covered_host"),
            StayReason::NoBetterHost => stays("no_better_host"),
            StayReason::BudgetExhausted => stays("budget_exhausted"),
            StayReason::NoSafeOrder => stays("no_safe_order"),
        },
    }
}

/// Names hosts and instances by id.
struct Ids<'a>(&'a Problem);

impl<'a> Ids<'a> {
    fn host(&self, h: usize) -> &'a str {
        self.0.host_ids[h].as_str()
    }

    fn instance(&self, i: usize) -> &'a str {
        self.0.instance_ids[i].as_str()
    }

    fn migrations(
        &self,
        moves: &[Move],
        reason: impl Fn(usize) -> Option<&'static str>,
    ) -> Vec<MoveView<'a>> {
        let view = |m: &Move| MoveView {
            instance: self.instance(m.instance),
            from: self.host(m.from),
            to: self.host(m.to),
            memory_mib: m.memory_mib,
            reason: reason(m.instance),
        };
        moves.iter().map(view).collect()
    }

    fn placements(&self, placements: &[Placement]) -> Vec<PlacementView<'a>> {
        let view = |p: &Placement| PlacementView {
            instance: self.instance(p.instance),
            host: self.host(p.host),
        };
        placements.iter().map(view).collect()
    }
}

/// Instances per host in `assignment`.
fn instances_per_host(problem: &Problem, assignment: &[Option<usize>]) -> Vec<usize> {
    let mut count = vec![0usize; problem.n_hosts()];
    for &h in assignment.iter().flatten() {
        count[h] += 1;
    }
    count
}

impl<'a> Report<'a> {
    /// The greedy planner's plan, reasons and all.
    fn from_plan(
        source: String,
        planner: &'static str,
        problem: &'a Problem,
        plan: &Plan,
        plan_ms: f64,
    ) -> Report<'a> {
        let ids = Ids(problem);
        let instances_on = instances_per_host(problem, &plan.assignment);
        let outcomes: Vec<_> = plan.instances.iter().map(|&o| instance_outcome(o)).collect();
        let hosts = plan
            .hosts
            .iter()
            .enumerate()
            .map(|(h, outcome)| HostView {
                id: ids.host(h),
                power_before: problem.power[h].name(),
                instances: instances_on[h],
                heat_w: outcome.heat_w,
                target_heat_w: problem.target_w[h],
                covered: outcome.covered,
                powered: outcome.powered,
                reason: Some(host_reason(outcome.reason)),
            })
            .collect();
        let instances = outcomes
            .iter()
            .enumerate()
            .map(|(i, &(outcome, reason, dwell_remaining_s))| InstanceView {
                id: ids.instance(i),
                from: problem.current[i].map(|h| ids.host(h)),
                to: plan.assignment[i].map(|h| ids.host(h)),
                outcome,
                reason,
                dwell_remaining_s,
            })
            .collect();
        let power = plan
            .power
            .iter()
            .map(|a| PowerView { host: ids.host(a.host), action: power_kind(a.action) })
            .collect();
        let count_power = |kind: PowerKind| plan.power.iter().filter(|a| a.action == kind).count();
        Report {
            source,
            planner,
            instances: problem.n_instances(),
            hosts: problem.n_hosts(),
            covered_hosts: plan.score.covered_hosts,
            upper_bound: plan.upper_bound,
            active_hosts: plan.score.active_hosts,
            harvested_heat_w: plan.score.harvested_heat_w,
            migrations: plan.score.migrations,
            plan_ms,
            resources: problem.n_resources(),
            migration_mib: plan.score.migration_mib,
            placements: plan.placements.len(),
            unplaced: outcomes.iter().filter(|o| o.0 == "unplaced").count(),
            power_ons: count_power(PowerKind::PowerOn),
            wakes: count_power(PowerKind::Wake),
            power_downs: count_power(PowerKind::PowerDown),
            plan: PlanView {
                migrations: ids.migrations(&plan.migrations, |i| outcomes[i].1),
                placements: ids.placements(&plan.placements),
                power,
                hosts,
                instances,
            },
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The table

fn yes_no(flag: bool) -> &'static str {
    if flag {
        "yes"
    } else {
        "no"
    }
}

fn write_table(out: &mut impl Write, report: &Report<'_>) -> std::io::Result<()> {
    let share = if report.upper_bound == 0 {
        String::new()
    } else {
        format!(
            ", {:.1} % of the bound",
            100.0 * report.covered_hosts as f64 / report.upper_bound as f64
        )
    };
    writeln!(out, "{:<18} {}", "source", report.source)?;
    writeln!(out, "{:<18} {}", "planner", report.planner)?;
    writeln!(out, "{:<18} {} ({} resources)", "instances", report.instances, report.resources)?;
    writeln!(out, "{:<18} {}", "hosts", report.hosts)?;
    writeln!(
        out,
        "{:<18} {} (upper_bound {}{share})",
        "covered_hosts", report.covered_hosts, report.upper_bound
    )?;
    writeln!(out, "{:<18} {}", "active_hosts", report.active_hosts)?;
    writeln!(out, "{:<18} {:.1}", "harvested_heat_w", report.harvested_heat_w)?;
    writeln!(out, "{:<18} {} ({:.1} MiB)", "migrations", report.migrations, report.migration_mib)?;
    writeln!(out, "{:<18} {} (unplaced {})", "placements", report.placements, report.unplaced)?;
    writeln!(
        out,
        "{:<18} {} power_down, {} power_on, {} wake",
        "power_actions", report.power_downs, report.power_ons, report.wakes
    )?;
    writeln!(out, "{:<18} {:.3}", "plan_ms", report.plan_ms)?;

    if report.hosts > TABLE_MAX_HOSTS {
        writeln!(
            out,
            "\n(per-host table and migration list left out above {TABLE_MAX_HOSTS} hosts; \
             --format json has them)"
        )?;
        return Ok(());
    }
    let plan = &report.plan;
    let id_width = plan.hosts.iter().map(|h| h.id.chars().count()).max().unwrap_or(0).max(4);
    writeln!(
        out,
        "\n{:<id_width$} {:>9} {:>10} {:>10} {:>7} {:>7}  reason",
        "host", "instances", "heat_w", "target_w", "covered", "powered"
    )?;
    for host in &plan.hosts {
        writeln!(
            out,
            "{:<id_width$} {:>9} {:>10.1} {:>10.1} {:>7} {:>7}  {}",
            host.id,
            host.instances,
            host.heat_w,
            host.target_heat_w,
            yes_no(host.covered),
            yes_no(host.powered),
            host.reason.unwrap_or("-")
        )?;
    }
    if !plan.power.iter().all(|a| a.action == "power_down") {
        writeln!(out, "\npower on/wake, before the migrations:")?;
        for action in plan.power.iter().filter(|a| a.action != "power_down") {
            writeln!(out, "  {} {}", action.action, action.host)?;
        }
    }
    if !plan.placements.is_empty() {
        writeln!(out, "\nplacements:")?;
        for placement in &plan.placements {
            writeln!(out, "  {} -> {}", placement.instance, placement.host)?;
        }
    }
    if !plan.migrations.is_empty() {
        writeln!(out, "\nmigrations, in order:")?;
        let width = plan.migrations.len().to_string().len();
        for (n, m) in plan.migrations.iter().enumerate() {
            let reason = m.reason.map(|r| format!(", {r}")).unwrap_or_default();
            writeln!(
                out,
                "  {:>width$}. {} {} -> {} ({:.1} MiB{reason})",
                n + 1,
                m.instance,
                m.from,
                m.to,
                m.memory_mib,
            )?;
        }
    }
    if plan.power.iter().any(|a| a.action == "power_down") {
        writeln!(out, "\npower down, after the migrations:")?;
        for action in plan.power.iter().filter(|a| a.action == "power_down") {
            writeln!(out, "  {}", action.host)?;
        }
    }
    let unplaced: Vec<&str> =
        plan.instances.iter().filter(|i| i.outcome == "unplaced").map(|i| i.id).collect();
    if !unplaced.is_empty() {
        writeln!(out, "\nunplaced (no host has room): {}", unplaced.join(", "))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_follows_the_extension_then_the_first_character() {
        assert_eq!(Syntax::of(Path::new("a.TOML"), "{"), Syntax::Toml);
        assert_eq!(Syntax::of(Path::new("a.json"), "resources = []"), Syntax::Json);
        assert_eq!(Syntax::of(Path::new("/dev/stdin"), "  \n{\"hosts\": []}"), Syntax::Json);
        assert_eq!(Syntax::of(Path::new("fleet.txt"), "resources = [\"cpu\"]"), Syntax::Toml);
    }

    #[test]
    fn parse_errors_name_line_column_and_field() {
        let toml = "resources = [\"cpu\"]\n[[hosts]]\nid = \"a\"\ncapacity = [\"four\"]\n";
        let err = parse_fleet(toml, Syntax::Toml).unwrap_err();
        assert_eq!(err.at.map(|at| at.0), Some(4), "{err}");
        assert_eq!(err.field.as_deref(), Some("hosts[0].capacity[0]"), "{err}");

        let json = "{\"resources\": [\"cpu\"],\n \"hosts\": [{\"id\": \"a\", \"capacity\": [1], \"cores\": 2}]}";
        let err = parse_fleet(json, Syntax::Json).unwrap_err();
        assert_eq!(err.at.map(|at| at.0), Some(2), "{err}");
        assert!(err.message.starts_with("unknown field `cores`"), "{err}");
        assert!(!err.message.contains("at line"), "the position is not repeated: {err}");
    }
}
