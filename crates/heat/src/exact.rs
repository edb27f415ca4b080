//! The exact mode: the planner's objective as a mixed-integer linear program, solved with
//! good_lp over microlp (pure Rust), for small fleets and as the tests' ground truth.
//!
//! # Model
//!
//! Binary `x[i,h]` (instance `i` on host `h`), `on[h]` (host runs something) and `cov[h]` (host
//! reaches its target); continuous `hv[h]` (heat harvested on `h`) in the second stage.
//!
//! - every instance on exactly one host: `Σ_h x[i,h] = 1`; an instance that may not move
//!   ([`Problem::movable`]) is fixed on its current host; a pair is left out when the instance
//!   alone exceeds the host's usable capacity or thermal room;
//! - `x[i,h] ≤ on[h]`;
//! - capacity, per resource: `Σ_i request·x[i,h] ≤ usable·on[h]` (usable is after headroom);
//! - thermal: `idle·on[h] + Σ_i heat·x[i,h] ≤ limit` (skipped when there is no limit);
//! - coverage: `cov[h] ≤ on[h]`, `cov[h] ≤ Σ_i x[i,h]` (an empty host never counts) and
//!   `target·cov[h] ≤ idle·on[h] + Σ_i heat·x[i,h]`;
//! - anti-affinity, per group and host: `Σ_{i∈group} x[i,h] ≤ 1`;
//! - migration budget, when finite: `Σ_{placed movable i} (1 − x[i,current]) ≤ budget`.
//!
//! Constraints that can never bind (a host that holds every candidate instance without reaching
//! a limit) are left out, and `cov[h]` is fixed to 0 when even every candidate together could
//! not reach `h`'s target.
//!
//! # Objective
//!
//! Lexicographic, by successive solves (issue 3's order): (1) maximize `Σ cov` = C; (2) with
//! `Σ cov ≥ C`, maximize the harvested heat `Σ hv`, where `hv[h] ≤ idle·on[h] + Σ heat·x[i,h]`
//! and `hv[h] ≤ U_h·cov[h]` (`U_h` bounds `h`'s heat) = H; (3) with also `Σ hv ≥ H − ε`
//! (`ε = 10⁻⁶·max(1, H)`, the solver's floating-point slack), minimize `Σ on` = P; (4) with also
//! `Σ on ≤ P`, minimize the memory migrated. [`ExactDepth::Covered`] stops after (1).
//!
//! The returned [`Score`] is recomputed from the assignment (not read from the solver's
//! variables), and the assignment is checked against every constraint before it is returned.
//!
//! # Limits
//!
//! At most [`MAX_PAIRS`] instance × host pairs. microlp is deterministic here (no time limit is
//! set), single-threaded, and solves the test suite's fleets (≤ 8 hosts, ≤ 16 instances) in
//! milliseconds to a few hundred milliseconds per stage; larger or highly symmetric fleets can
//! take much longer, since branch and bound explores symmetric hosts separately.

use crate::fleet::Problem;
use crate::plan::Score;
use good_lp::{
    microlp, variable, Expression, ProblemVariables, ResolutionError, Solution, SolverModel,
    Variable, WithInitialSolution,
};

/// Largest instances × hosts product the exact mode accepts.
pub const MAX_PAIRS: usize = 400;

/// How far down the objective the exact mode optimizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ExactDepth {
    /// Only the number of covered hosts (one solve); the other [`Score`] terms are those of
    /// whichever optimal arrangement the solver returns.
    Covered,
    /// Every term, lexicographically (four solves).
    #[default]
    Full,
}

/// An optimal arrangement.
#[derive(Clone, Debug, PartialEq)]
pub struct ExactSolution {
    /// Host per instance.
    pub assignment: Vec<usize>,
    /// Per host: whether it reaches its target.
    pub covered: Vec<bool>,
    /// The objective's terms for `assignment`, computed as the planner's [`Score`] is: covered
    /// hosts, their heat, hosts left powered (hosts running instances plus up to
    /// `spare_hosts` empty ones), migrations and the memory they move.
    pub score: Score,
}

/// Why the exact mode gave no arrangement.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExactError {
    /// The fleet is too large for the exact mode.
    #[error("exact mode takes at most {max} instance × host pairs; this fleet has {instances} instances × {hosts} hosts = {pairs}")]
    TooLarge {
        /// Instances.
        instances: usize,
        /// Hosts.
        hosts: usize,
        /// Their product.
        pairs: usize,
        /// [`MAX_PAIRS`].
        max: usize,
    },
    /// An instance fits no host on its own (capacity after headroom, thermal room), or a pinned
    /// one does not fit the host it is pinned to.
    #[error("exact mode: instance `{instance}` can go to no host (capacity after headroom, thermal limit, or pinned to a host it does not fit)")]
    NoHostFor {
        /// The instance.
        instance: String,
    },
    /// No arrangement places every instance within every constraint.
    #[error("exact mode: no arrangement places every instance within capacity, thermal limits, anti-affinity, pinning and the migration budget")]
    Infeasible,
    /// The solver failed, or returned an arrangement that breaks a constraint.
    #[error("exact mode: the MILP solver failed while {stage}: {message}")]
    Solver {
        /// The objective stage (e.g. `maximizing covered hosts`).
        stage: &'static str,
        /// What went wrong.
        message: String,
    },
}

/// Solves `problem` exactly, through every objective term ([`ExactDepth::Full`]).
pub fn solve(problem: &Problem) -> Result<ExactSolution, ExactError> {
    solve_with(problem, ExactDepth::Full)
}

/// Solves `problem` exactly down to `depth`.
pub fn solve_with(problem: &Problem, depth: ExactDepth) -> Result<ExactSolution, ExactError> {
    let (n_inst, n_hosts) = (problem.n_instances(), problem.n_hosts());
    let pairs = n_inst.saturating_mul(n_hosts);
    if pairs > MAX_PAIRS {
        return Err(ExactError::TooLarge {
            instances: n_inst,
            hosts: n_hosts,
            pairs,
            max: MAX_PAIRS,
        });
    }
    let shape = Shape::new(problem)?;
    let mut levels = Levels::default();
    let mut assignment = shape.run(problem, Stage::Covered, &levels, None)?;
    if depth == ExactDepth::Full {
        levels.covered = Some(score_of(problem, &assignment).0.covered_hosts);
        assignment = shape.run(problem, Stage::Harvest, &levels, Some(&assignment))?;
        let harvest = score_of(problem, &assignment).0.harvested_heat_w;
        levels.harvest = Some(harvest - 1e-6 * harvest.max(1.0));
        assignment = shape.run(problem, Stage::Powered, &levels, Some(&assignment))?;
        levels.running = Some(running_hosts(problem, &assignment));
        assignment = shape.run(problem, Stage::Memory, &levels, Some(&assignment))?;
    }
    let (score, covered) = score_of(problem, &assignment);
    Ok(ExactSolution { assignment, covered, score })
}

/// The objective stages, in lexicographic order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Covered,
    Harvest,
    Powered,
    Memory,
}

impl Stage {
    fn doing(self) -> &'static str {
        match self {
            Stage::Covered => "maximizing covered hosts",
            Stage::Harvest => "maximizing harvested heat",
            Stage::Powered => "minimizing powered hosts",
            Stage::Memory => "minimizing migrated memory",
        }
    }
}

/// Optima of earlier stages, kept as constraints in later ones.
#[derive(Clone, Copy, Debug, Default)]
struct Levels {
    covered: Option<usize>,
    harvest: Option<f64>,
    running: Option<usize>,
}

/// What every stage shares: candidate hosts per instance and the load pinned instances fix.
struct Shape {
    /// Candidate hosts of each movable instance (empty for a pinned one).
    candidates: Vec<Vec<usize>>,
    /// Host of each pinned instance.
    pinned_on: Vec<Option<usize>>,
    /// Per host: load per resource, heat and count of pinned instances.
    fixed_load: Vec<Vec<f64>>,
    fixed_heat: Vec<f64>,
    fixed_count: Vec<usize>,
    /// Per host: candidate instances.
    on_host: Vec<Vec<usize>>,
}

impl Shape {
    fn new(p: &Problem) -> Result<Shape, ExactError> {
        let (n_inst, n_hosts, n_res) = (p.n_instances(), p.n_hosts(), p.n_resources());
        let mut shape = Shape {
            candidates: vec![Vec::new(); n_inst],
            pinned_on: vec![None; n_inst],
            fixed_load: vec![vec![0.0; n_res]; n_hosts],
            fixed_heat: vec![0.0; n_hosts],
            fixed_count: vec![0; n_hosts],
            on_host: vec![Vec::new(); n_hosts],
        };
        for i in 0..n_inst {
            let fits = |h: usize| {
                (0..n_res).all(|r| p.request[i][r] <= p.usable[h][r])
                    && p.heat_w[i] <= p.heat_room_w(h)
            };
            match (p.movable[i], p.current[i]) {
                (false, Some(h)) if fits(h) => {
                    shape.pinned_on[i] = Some(h);
                    for (load, q) in shape.fixed_load[h].iter_mut().zip(&p.request[i]) {
                        *load += q;
                    }
                    shape.fixed_heat[h] += p.heat_w[i];
                    shape.fixed_count[h] += 1;
                }
                (false, _) => {
                    return Err(ExactError::NoHostFor { instance: p.instance_ids[i].clone() })
                }
                (true, _) => {
                    shape.candidates[i] = (0..n_hosts).filter(|&h| fits(h)).collect();
                    if shape.candidates[i].is_empty() {
                        return Err(ExactError::NoHostFor { instance: p.instance_ids[i].clone() });
                    }
                    for &h in &shape.candidates[i] {
                        shape.on_host[h].push(i);
                    }
                }
            }
        }
        Ok(shape)
    }

    /// Builds and solves one stage; returns the host of every instance.
    fn run(
        &self,
        p: &Problem,
        stage: Stage,
        levels: &Levels,
        warm: Option<&[usize]>,
    ) -> Result<Vec<usize>, ExactError> {
        let (n_inst, n_hosts, n_res) = (p.n_instances(), p.n_hosts(), p.n_resources());
        let mut vars = ProblemVariables::new();
        // x[i] = (host, variable) per candidate.
        let x: Vec<Vec<(usize, Variable)>> = self
            .candidates
            .iter()
            .map(|hosts| hosts.iter().map(|&h| (h, vars.add(variable().binary()))).collect())
            .collect();
        let mut x_on: Vec<Vec<(usize, Variable)>> = vec![Vec::new(); n_hosts];
        for (i, cands) in x.iter().enumerate() {
            for &(h, v) in cands {
                x_on[h].push((i, v));
            }
        }
        let on: Vec<Variable> = (0..n_hosts)
            .map(|h| {
                let min = if self.fixed_count[h] > 0 { 1.0 } else { 0.0 };
                vars.add(variable().binary().min(min))
            })
            .collect();
        // Most heat host h could carry: idle plus every candidate, or its limit.
        let heat_bound: Vec<f64> = (0..n_hosts)
            .map(|h| {
                let all: f64 =
                    self.fixed_heat[h] + self.on_host[h].iter().map(|&i| p.heat_w[i]).sum::<f64>();
                (p.idle_w[h] + all).min(p.limit_w[h])
            })
            .collect();
        let cov: Vec<Variable> = (0..n_hosts)
            .map(|h| {
                let reachable = heat_bound[h] >= p.target_w[h]
                    && self.fixed_count[h] + self.on_host[h].len() > 0;
                vars.add(variable().binary().max(if reachable { 1.0 } else { 0.0 }))
            })
            .collect();
        let with_harvest = stage != Stage::Covered;
        let hv: Vec<Variable> = if with_harvest {
            (0..n_hosts).map(|h| vars.add(variable().min(0.0).max(heat_bound[h]))).collect()
        } else {
            Vec::new()
        };

        // Heat on host h: idle·on + Σ heat·x + pinned heat.
        let heat_expr = |h: usize| -> Expression {
            let mut e = Expression::from(self.fixed_heat[h]);
            e.add_mul(p.idle_w[h], on[h]);
            for &(i, v) in &x_on[h] {
                e.add_mul(p.heat_w[i], v);
            }
            e
        };
        // Σ over placed movable instances of memory·x[i, current] (memory kept in place).
        let kept_memory = {
            let mut e = Expression::from(0.0);
            for (i, cands) in x.iter().enumerate() {
                if let Some(cur) = p.current[i] {
                    if let Some(&(_, v)) = cands.iter().find(|(h, _)| *h == cur) {
                        e.add_mul(p.memory_mib[i], v);
                    }
                }
            }
            e
        };
        let covered_sum: Expression = cov.iter().sum();
        let on_sum: Expression = on.iter().sum();
        let hv_sum: Expression = hv.iter().sum();
        let objective = match stage {
            Stage::Covered => covered_sum.clone(),
            Stage::Harvest => hv_sum.clone(),
            Stage::Powered => -on_sum.clone(),
            Stage::Memory => kept_memory,
        };
        let mut model = vars.maximise(objective).using(microlp);

        for (i, cands) in x.iter().enumerate() {
            if self.pinned_on[i].is_none() {
                let placed: Expression = cands.iter().map(|&(_, v)| v).sum();
                model.add_constraint(placed.eq(1.0));
            }
        }
        for h in 0..n_hosts {
            for &(_, v) in &x_on[h] {
                model.add_constraint(Expression::from(v).leq(on[h]));
            }
            for r in 0..n_res {
                let all: f64 = self.fixed_load[h][r]
                    + self.on_host[h].iter().map(|&i| p.request[i][r]).sum::<f64>();
                if all > p.usable[h][r] {
                    let mut load = Expression::from(self.fixed_load[h][r]);
                    for &(i, v) in &x_on[h] {
                        load.add_mul(p.request[i][r], v);
                    }
                    model.add_constraint(load.leq(p.usable[h][r] * on[h]));
                }
            }
            if p.limit_w[h].is_finite()
                && p.idle_w[h]
                    + self.fixed_heat[h]
                    + self.on_host[h].iter().map(|&i| p.heat_w[i]).sum::<f64>()
                    > p.limit_w[h]
            {
                model.add_constraint(heat_expr(h).leq(p.limit_w[h]));
            }
            model.add_constraint(Expression::from(cov[h]).leq(on[h]));
            let mut count = Expression::from(self.fixed_count[h] as f64);
            for &(_, v) in &x_on[h] {
                count += v;
            }
            model.add_constraint(Expression::from(cov[h]).leq(count));
            // `target·cov ≤ idle·on + Σ heat·x`, strengthened: when cov = 1 then on = 1, so
            // `need·cov ≤ Σ min(heat, need)·x` (need = target − idle) holds at every integer
            // point and cuts off fractional ones that count idle power the LP got for free.
            let need = p.need_w(h);
            if need > 0.0 {
                let mut heat = Expression::from(self.fixed_heat[h].min(need));
                for &(i, v) in &x_on[h] {
                    heat.add_mul(p.heat_w[i].min(need), v);
                }
                model.add_constraint((need * cov[h]).leq(heat));
            }
            if with_harvest {
                model.add_constraint(Expression::from(hv[h]).leq(heat_expr(h)));
                model.add_constraint(Expression::from(hv[h]).leq(heat_bound[h] * cov[h]));
            }
        }
        // Anti-affinity, per group and host.
        let n_groups = p.group_names.len();
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); n_groups];
        for (i, g) in p.group.iter().enumerate() {
            if let Some(g) = *g {
                members[g].push(i);
            }
        }
        for group in &members {
            for h in 0..n_hosts {
                let fixed = group.iter().filter(|&&i| self.pinned_on[i] == Some(h)).count();
                let vars_here: Vec<Variable> = group
                    .iter()
                    .filter_map(|&i| x[i].iter().find(|(hh, _)| *hh == h).map(|&(_, v)| v))
                    .collect();
                if fixed + vars_here.len() >= 2 {
                    let sum: Expression = vars_here.iter().sum();
                    model.add_constraint(sum.leq(1.0 - fixed as f64));
                }
            }
        }
        // Migration budget: at least (placed movable − budget) stay where they are.
        let placed_movable: Vec<usize> =
            (0..n_inst).filter(|&i| p.movable[i] && p.current[i].is_some()).collect();
        if p.budget < placed_movable.len() {
            let mut stay = Expression::from(0.0);
            for &i in &placed_movable {
                if let Some(&(_, v)) = x[i].iter().find(|(h, _)| Some(*h) == p.current[i]) {
                    stay += v;
                }
            }
            model.add_constraint(stay.geq((placed_movable.len() - p.budget) as f64));
        }
        if let Some(c) = levels.covered {
            model.add_constraint(covered_sum.geq(c as f64));
        }
        if let Some(hv_min) = levels.harvest {
            model.add_constraint(hv_sum.geq(hv_min));
        }
        if let Some(running) = levels.running {
            model.add_constraint(on_sum.leq(running as f64));
        }
        if let Some(warm) = warm {
            // The previous stage's optimum satisfies this stage's constraints: a feasible start.
            let (_, covered) = score_of(p, warm);
            let mut start = Vec::new();
            for (i, cands) in x.iter().enumerate() {
                start.extend(cands.iter().map(|&(h, v)| (v, f64::from(u8::from(warm[i] == h)))));
            }
            let mut heat = p.idle_w.clone();
            let mut running = vec![false; n_hosts];
            for (i, &h) in warm.iter().enumerate() {
                heat[h] += p.heat_w[i];
                running[h] = true;
            }
            for h in 0..n_hosts {
                start.push((on[h], f64::from(u8::from(running[h]))));
                start.push((cov[h], f64::from(u8::from(covered[h]))));
                if with_harvest {
                    let harvested = if covered[h] { heat[h].min(heat_bound[h]) } else { 0.0 };
                    start.push((hv[h], harvested));
                }
            }
            model = model.with_initial_solution(start);
        }
        let solution = model.solve().map_err(|err| match (err, stage) {
            (ResolutionError::Infeasible, Stage::Covered) => ExactError::Infeasible,
            (err, stage) => ExactError::Solver { stage: stage.doing(), message: err.to_string() },
        })?;

        let mut assignment = Vec::with_capacity(n_inst);
        for i in 0..n_inst {
            let host = match self.pinned_on[i] {
                Some(h) => Some(h),
                None => x[i].iter().find(|&&(_, v)| solution.value(v) > 0.5).map(|&(h, _)| h),
            };
            let Some(h) = host else {
                return Err(ExactError::Solver {
                    stage: stage.doing(),
                    message: format!("instance `{}` was left without a host", p.instance_ids[i]),
                });
            };
            assignment.push(h);
        }
        if let Some(broken) = violation(p, &assignment) {
            return Err(ExactError::Solver { stage: stage.doing(), message: broken });
        }
        Ok(assignment)
    }
}

/// The first constraint `assignment` breaks, if any (loads with a relative slack of 10⁻⁶, the
/// solver's floating-point tolerance).
fn violation(p: &Problem, assignment: &[usize]) -> Option<String> {
    let (n_hosts, n_res) = (p.n_hosts(), p.n_resources());
    let mut load = vec![vec![0.0; n_res]; n_hosts];
    let mut heat = p.idle_w.clone();
    let mut groups: Vec<Vec<usize>> = vec![Vec::new(); n_hosts];
    let slack = |limit: f64| limit + 1e-6 * limit.abs().max(1.0);
    for (i, &h) in assignment.iter().enumerate() {
        for (l, q) in load[h].iter_mut().zip(&p.request[i]) {
            *l += q;
        }
        heat[h] += p.heat_w[i];
        if let Some(g) = p.group[i] {
            if groups[h].contains(&g) {
                return Some(format!(
                    "anti-affinity group `{}` twice on host `{}`",
                    p.group_names[g], p.host_ids[h]
                ));
            }
            groups[h].push(g);
        }
        if !p.movable[i] && p.current[i] != Some(h) {
            return Some(format!("pinned instance `{}` moved", p.instance_ids[i]));
        }
    }
    for h in 0..n_hosts {
        for r in 0..n_res {
            if load[h][r] > slack(p.usable[h][r]) {
                return Some(format!(
                    "host `{}` {} load {} over usable {}",
                    p.host_ids[h], p.resources[r], load[h][r], p.usable[h][r]
                ));
            }
        }
        if heat[h] > slack(p.limit_w[h]) {
            return Some(format!(
                "host `{}` heat {} W over its limit {} W",
                p.host_ids[h], heat[h], p.limit_w[h]
            ));
        }
    }
    let moves =
        (0..assignment.len()).filter(|&i| p.current[i].is_some_and(|c| c != assignment[i])).count();
    (moves > p.budget).then(|| format!("{moves} migrations over the budget of {}", p.budget))
}

/// Hosts running at least one instance.
fn running_hosts(p: &Problem, assignment: &[usize]) -> usize {
    let mut running = vec![false; p.n_hosts()];
    for &h in assignment {
        running[h] = true;
    }
    running.iter().filter(|r| **r).count()
}

/// The objective's terms for `assignment`, and which hosts are covered. Heat sums run in
/// instance order.
fn score_of(p: &Problem, assignment: &[usize]) -> (Score, Vec<bool>) {
    let n_hosts = p.n_hosts();
    let mut heat = p.idle_w.clone();
    let mut count = vec![0usize; n_hosts];
    let (mut migrations, mut migration_mib) = (0, 0.0);
    for (i, &h) in assignment.iter().enumerate() {
        heat[h] += p.heat_w[i];
        count[h] += 1;
        if p.current[i].is_some_and(|c| c != h) {
            migrations += 1;
            migration_mib += p.memory_mib[i];
        }
    }
    let covered: Vec<bool> =
        (0..n_hosts).map(|h| count[h] > 0 && heat[h] >= p.target_w[h]).collect();
    let running = count.iter().filter(|c| **c > 0).count();
    let score = Score {
        covered_hosts: covered.iter().filter(|c| **c).count(),
        harvested_heat_w: (0..n_hosts).filter(|&h| covered[h]).map(|h| heat[h]).sum(),
        active_hosts: running + p.spare_hosts.min(n_hosts - running),
        migrations,
        migration_mib,
    };
    (score, covered)
}
