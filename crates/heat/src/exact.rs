//! The exact mode: the planner's objective as a mixed-integer linear program, solved with
//! microlp (a pure-Rust MILP solver, used directly for its deterministic node limit), for small
//! fleets and as the tests' ground truth.
//!
//! # Model
//!
//! Binary `x[i,h]` (instance `i` on host `h`), `on[h]` (host runs something) and `cov[h]` (host
//! reaches its target); from the second stage on, continuous `y[i,h] ≤ min(x[i,h], cov[h])`
//! (instance `i`'s heat is harvested on `h`: the product `x·cov`, linearized).
//!
//! - every instance on exactly one host: `Σ_h x[i,h] = 1`; an instance that may not move
//!   ([`Problem::movable`]) is fixed on its current host; a pair is left out when the instance
//!   alone exceeds the host's usable capacity or thermal room;
//! - `x[i,h] ≤ on[h]`;
//! - capacity, per resource: `Σ_i request·x[i,h] ≤ usable·on[h]` (usable is after headroom);
//! - thermal: `idle·on[h] + Σ_i heat·x[i,h] ≤ limit` (skipped when there is no limit);
//! - coverage: `cov[h] ≤ on[h]`, `cov[h] ≤ Σ_i x[i,h]` (an empty host never counts) and
//!   `target·cov[h] ≤ idle·on[h] + Σ_i heat·x[i,h]`, written in the stronger form
//!   `need·cov[h] ≤ Σ_i min(heat_i, need)·x[i,h]` with `need = target − idle` (equivalent at
//!   integer points, since `cov = 1` forces `on = 1`; it denies the LP relaxation idle power
//!   it would otherwise count for a fractional `on`);
//! - anti-affinity, per group and host: `Σ_{i∈group} x[i,h] ≤ 1`;
//! - migration budget, when finite: `Σ_{placed movable i} (1 − x[i,current]) ≤ budget`;
//! - symmetry: of two interchangeable hosts (equal usable capacity, idle power, target and
//!   limit, nothing pinned on either) the first is used and covered whenever the second is;
//!   left out where current hosts matter (a binding budget, the memory stage).
//!
//! Constraints that can never bind (a host that holds every candidate instance without reaching
//! a limit) are left out, and `cov[h]` is fixed to 0 when even every candidate together could
//! not reach `h`'s target.
//!
//! # Objective
//!
//! Lexicographic, by successive solves (issue 3's order): (1) maximize `Σ cov` = C; (2) with
//! `Σ cov = C` (C is the optimum, so nothing integral is lost), maximize the harvested heat
//! `Σ_h idle·cov[h] + Σ heat·y[i,h]` = H (the product form's LP bound is far tighter than a
//! big-M `hv[h] ≤ U·cov[h]`, which left most fleets unproven at the node limit); (3) with also
//! harvest ≥ `H − ε` (`ε = 10⁻⁶·max(1, H)`, the solver's floating-point slack), minimize
//! `Σ on` = P; (4) with also `Σ on ≤ P`, minimize the memory migrated. [`ExactDepth::Covered`] stops after (1). The first
//! stage starts from [`ExactOptions::start`] or the current arrangement; each later stage from
//! the previous stage's optimum, so when it reaches the node limit it still returns an
//! arrangement at least as good, marked unproven ([`ExactSolution::proven`]). Stage (1) must be
//! proven or the mode fails.
//!
//! The returned [`Score`] is recomputed from the assignment (not read from the solver's
//! variables), and the assignment is checked against every constraint before it is returned.
//! The unit tests compare every term with a brute-force enumeration on tiny fleets.
//!
//! # Limits
//!
//! At most [`MAX_PAIRS`] instance × host pairs, and [`ExactOptions::node_limit`] nodes per stage.
//! microlp runs single-threaded and, with no time limit set, deterministically. In a release
//! build the first stage takes a few milliseconds on the property tests' fleets (3–7 hosts,
//! 8–25 instances; 0.3 s at worst), and all four stages a median of 40 ms on 16 instances × 4
//! hosts and 0.2 s on 24 × 5 (one fleet in ten reaches the node limit in a later stage); a
//! debug build is about 8 times slower. What makes a fleet hard is not
//! its size but a tight partition: when the total heat barely covers k hosts, finding the
//! k-cover is a bin-covering search (15 instances on 7 hosts took 90 s), which the node limit
//! cuts short.

use crate::fleet::Problem;
use crate::plan::Score;
use microlp::Variable;

/// Largest instances × hosts product the exact mode accepts.
pub const MAX_PAIRS: usize = 400;

/// Default for [`ExactOptions::node_limit`].
pub const NODE_LIMIT: u64 = 20_000;

/// How far down the objective the exact mode optimizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ExactDepth {
    /// Only the number of covered hosts (one solve); the other [`Score`] terms are those of
    /// whichever arrangement with that many covered hosts the solver returns.
    Covered,
    /// Every term, lexicographically (four solves).
    #[default]
    Full,
}

/// How the exact mode runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExactOptions {
    /// How far down the objective to optimize.
    pub depth: ExactDepth,
    /// Most branch-and-bound nodes one stage may explore before the exact mode gives up
    /// ([`ExactError::NodeLimit`]): a deterministic bound on its running time (microlp explores
    /// a few thousand nodes a second on these models in a release build).
    pub node_limit: u64,
    /// A known arrangement (host per instance) to start the search from, such as the greedy
    /// plan's; the current arrangement when `None`. Only speed depends on it: the solver
    /// ignores a start that breaks a constraint, and proves the optimum either way. A good
    /// start often lets the LP bound close the search at once.
    pub start: Option<Vec<usize>>,
}

impl Default for ExactOptions {
    fn default() -> Self {
        ExactOptions { depth: ExactDepth::Full, node_limit: NODE_LIMIT, start: None }
    }
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
    /// How far down the objective `assignment` is proven optimal. The covered count always is;
    /// with [`ExactDepth::Full`] asked, a later stage that reaches the node limit keeps the best
    /// arrangement it found, and this stays [`ExactDepth::Covered`].
    pub proven: ExactDepth,
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
    /// The solver explored [`ExactOptions::node_limit`] nodes without proving an optimum.
    #[error("exact mode: no optimum proven after {nodes} branch-and-bound nodes while {stage}; the fleet is too hard for the exact mode")]
    NodeLimit {
        /// The objective stage.
        stage: &'static str,
        /// Nodes explored.
        nodes: u64,
    },
    /// The solver failed, or returned an arrangement that breaks a constraint.
    #[error("exact mode: the MILP solver failed while {stage}: {message}")]
    Solver {
        /// The objective stage (e.g. `maximizing covered hosts`).
        stage: &'static str,
        /// What went wrong.
        message: String,
    },
}

/// Solves `problem` exactly with the default options: every objective term, at most
/// [`NODE_LIMIT`] nodes per stage.
pub fn solve(problem: &Problem) -> Result<ExactSolution, ExactError> {
    solve_with(problem, &ExactOptions::default())
}

/// Solves `problem` exactly as `options` say.
pub fn solve_with(problem: &Problem, options: &ExactOptions) -> Result<ExactSolution, ExactError> {
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
    let shape = Shape { node_limit: options.node_limit, ..Shape::new(problem)? };
    let mut levels = Levels::default();
    // The given start, else the current arrangement when complete, seeds the first stage (the
    // solver ignores a start that breaks a constraint).
    let start: Option<Vec<usize>> = match &options.start {
        Some(start) if start.len() == n_inst && start.iter().all(|&h| h < n_hosts) => {
            Some(start.clone())
        }
        _ => problem.current.iter().copied().collect(),
    };
    let (mut assignment, _) = shape.run(problem, Stage::Covered, &levels, start.as_deref())?;
    let mut proven = ExactDepth::Covered;
    if options.depth == ExactDepth::Full {
        let mut all_proven = true;
        for stage in [Stage::Harvest, Stage::Powered, Stage::Memory] {
            let (score, _) = score_of(problem, &assignment);
            match stage {
                Stage::Harvest => levels.covered = Some(score.covered_hosts),
                Stage::Powered => {
                    let harvest = score.harvested_heat_w;
                    levels.harvest = Some(harvest - 1e-6 * harvest.max(1.0));
                }
                _ => levels.running = Some(running_hosts(problem, &assignment)),
            }
            let (next, optimal) = shape.run(problem, stage, &levels, Some(&assignment))?;
            all_proven &= optimal;
            // Keep the answer only if, recomputed exactly, it holds the earlier stages' levels
            // (the solver works to a tolerance); otherwise the previous stage's stands.
            let (next_score, _) = score_of(problem, &next);
            let holds = !matches!(levels.covered, Some(c) if next_score.covered_hosts < c)
                && !matches!(levels.harvest, Some(h) if next_score.harvested_heat_w < h)
                && !matches!(levels.running, Some(r) if running_hosts(problem, &next) > r);
            if holds {
                assignment = next;
            } else {
                all_proven = false;
            }
        }
        if all_proven {
            proven = ExactDepth::Full;
        }
    }
    let (score, covered) = score_of(problem, &assignment);
    Ok(ExactSolution { assignment, covered, score, proven })
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
    /// Branch-and-bound nodes per stage.
    node_limit: u64,
    /// Pairs of interchangeable hosts, each host paired with the next of its kind.
    twins: Vec<(usize, usize)>,
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
            node_limit: NODE_LIMIT,
            twins: Vec::new(),
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
        let same = |a: usize, b: usize| {
            p.usable[a] == p.usable[b]
                && p.idle_w[a] == p.idle_w[b]
                && p.target_w[a] == p.target_w[b]
                && p.limit_w[a] == p.limit_w[b]
        };
        for second in 0..n_hosts {
            if shape.fixed_count[second] > 0 {
                continue;
            }
            let first = (0..second).rev().find(|&h| shape.fixed_count[h] == 0 && same(h, second));
            if let Some(first) = first {
                shape.twins.push((first, second));
            }
        }
        Ok(shape)
    }

    /// Builds and solves one stage; returns the host of every instance and whether it is
    /// proven optimal for this stage.
    fn run(
        &self,
        p: &Problem,
        stage: Stage,
        levels: &Levels,
        warm: Option<&[usize]>,
    ) -> Result<(Vec<usize>, bool), ExactError> {
        use microlp::ComparisonOp::{Eq, Ge, Le};
        let (n_inst, n_hosts, n_res) = (p.n_instances(), p.n_hosts(), p.n_resources());
        let mut lp = microlp::Problem::new(microlp::OptimizationDirection::Maximize);
        // Objective coefficients are given when each variable is added.
        // In the harvest stage a covered host's idle power and pinned heat count through cov.
        let obj_cov = |h: usize| match stage {
            Stage::Covered => 1.0,
            Stage::Harvest => p.idle_w[h] + self.fixed_heat[h],
            _ => 0.0,
        };
        let obj_on = if stage == Stage::Powered { -1.0 } else { 0.0 };
        // x[i] = (host, variable) per candidate; stage 4 maximizes the memory left in place.
        let x: Vec<Vec<(usize, Variable)>> = self
            .candidates
            .iter()
            .enumerate()
            .map(|(i, hosts)| {
                hosts
                    .iter()
                    .map(|&h| {
                        let stays = stage == Stage::Memory && p.current[i] == Some(h);
                        (h, lp.add_binary_var(if stays { p.memory_mib[i] } else { 0.0 }))
                    })
                    .collect()
            })
            .collect();
        let mut x_on: Vec<Vec<(usize, Variable)>> = vec![Vec::new(); n_hosts];
        for (i, cands) in x.iter().enumerate() {
            for &(h, v) in cands {
                x_on[h].push((i, v));
            }
        }
        let on: Vec<Variable> = (0..n_hosts)
            .map(|h| {
                let min = if self.fixed_count[h] > 0 { 1 } else { 0 };
                lp.add_integer_var(obj_on, (min, 1))
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
                lp.add_integer_var(obj_cov(h), (0, i32::from(reachable)))
            })
            .collect();
        // y[i,h] = x[i,h]·cov[h]: instance i's heat is harvested on h (continuous; at integer
        // x and cov the constraints y ≤ x, y ≤ cov and the objective pull it to the product).
        let with_harvest = stage != Stage::Covered;
        let y: Vec<Vec<(usize, Variable)>> = if with_harvest {
            let obj = |i: usize| if stage == Stage::Harvest { p.heat_w[i] } else { 0.0 };
            x.iter()
                .enumerate()
                .map(|(i, cands)| {
                    cands.iter().map(|&(h, _)| (h, lp.add_var(obj(i), (0.0, 1.0)))).collect()
                })
                .collect()
        } else {
            Vec::new()
        };
        // Harvested heat: Σ (idle + pinned heat)·cov + Σ heat·y.
        let harvest_terms = || -> Vec<(Variable, f64)> {
            let mut terms: Vec<(Variable, f64)> =
                (0..n_hosts).map(|h| (cov[h], p.idle_w[h] + self.fixed_heat[h])).collect();
            for (i, cands) in y.iter().enumerate() {
                terms.extend(cands.iter().map(|&(_, v)| (v, p.heat_w[i])));
            }
            terms
        };

        // Heat of host h as terms, the pinned instances' heat aside: idle·on + Σ heat·x.
        let heat_terms = |h: usize| -> Vec<(Variable, f64)> {
            let mut terms = vec![(on[h], p.idle_w[h])];
            terms.extend(x_on[h].iter().map(|&(i, v)| (v, p.heat_w[i])));
            terms
        };
        for cands in x.iter().filter(|c| !c.is_empty()) {
            lp.add_constraint(cands.iter().map(|&(_, v)| (v, 1.0)), Eq, 1.0);
        }
        for h in 0..n_hosts {
            for &(_, v) in &x_on[h] {
                lp.add_constraint([(v, 1.0), (on[h], -1.0)], Le, 0.0);
            }
            for r in 0..n_res {
                let all: f64 = self.fixed_load[h][r]
                    + self.on_host[h].iter().map(|&i| p.request[i][r]).sum::<f64>();
                if all > p.usable[h][r] {
                    let mut terms: Vec<(Variable, f64)> =
                        x_on[h].iter().map(|&(i, v)| (v, p.request[i][r])).collect();
                    terms.push((on[h], -p.usable[h][r]));
                    lp.add_constraint(terms, Le, -self.fixed_load[h][r]);
                }
            }
            let all_heat: f64 = p.idle_w[h]
                + self.fixed_heat[h]
                + self.on_host[h].iter().map(|&i| p.heat_w[i]).sum::<f64>();
            if all_heat > p.limit_w[h] {
                lp.add_constraint(heat_terms(h), Le, p.limit_w[h] - self.fixed_heat[h]);
            }
            lp.add_constraint([(cov[h], 1.0), (on[h], -1.0)], Le, 0.0);
            let mut count = vec![(cov[h], 1.0)];
            count.extend(x_on[h].iter().map(|&(_, v)| (v, -1.0)));
            lp.add_constraint(count, Le, self.fixed_count[h] as f64);
            // `target·cov ≤ idle·on + Σ heat·x`, strengthened: when cov = 1 then on = 1, so
            // `need·cov ≤ Σ min(heat, need)·x` (need = target − idle) holds at every integer
            // point and cuts off fractional ones that count idle power the LP got for free.
            let need = p.need_w(h);
            if need > 0.0 {
                let mut terms = vec![(cov[h], need)];
                terms.extend(x_on[h].iter().map(|&(i, v)| (v, -p.heat_w[i].min(need))));
                lp.add_constraint(terms, Le, self.fixed_heat[h].min(need));
            }
        }
        // Anti-affinity, per group and host.
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); p.group_names.len()];
        for (i, g) in p.group.iter().enumerate() {
            if let Some(g) = *g {
                members[g].push(i);
            }
        }
        for group in &members {
            for h in 0..n_hosts {
                let fixed = group.iter().filter(|&&i| self.pinned_on[i] == Some(h)).count();
                let here: Vec<(Variable, f64)> = group
                    .iter()
                    .filter_map(|&i| x[i].iter().find(|(hh, _)| *hh == h).map(|&(_, v)| (v, 1.0)))
                    .collect();
                if fixed + here.len() >= 2 {
                    lp.add_constraint(here, Le, 1.0 - fixed as f64);
                }
            }
        }
        // Migration budget: at least (placed movable − budget) stay where they are.
        let placed_movable: Vec<usize> =
            (0..n_inst).filter(|&i| p.movable[i] && p.current[i].is_some()).collect();
        if p.budget < placed_movable.len() {
            let stay: Vec<(Variable, f64)> = placed_movable
                .iter()
                .filter_map(|&i| {
                    x[i].iter().find(|(h, _)| Some(*h) == p.current[i]).map(|&(_, v)| (v, 1.0))
                })
                .collect();
            lp.add_constraint(stay, Ge, (placed_movable.len() - p.budget) as f64);
        }
        // Symmetry: of two interchangeable hosts (same usable capacity, idle power, target and
        // limit, nothing pinned on either), the first is used and covered whenever the second
        // is; (on, cov) takes the totally ordered values (0,0) < (1,0) < (1,1), so sorting any
        // solution's interchangeable hosts by it shows this loses no optimum. Only valid while
        // the current hosts do not matter: not with a binding budget, nor in the memory stage.
        if stage != Stage::Memory && p.budget >= placed_movable.len() {
            for (first, second) in self.twins.iter().copied() {
                lp.add_constraint([(on[second], 1.0), (on[first], -1.0)], Le, 0.0);
                lp.add_constraint([(cov[second], 1.0), (cov[first], -1.0)], Le, 0.0);
            }
        }
        for (cands_y, cands_x) in y.iter().zip(&x) {
            for (&(h, vy), &(_, vx)) in cands_y.iter().zip(cands_x) {
                lp.add_constraint([(vy, 1.0), (vx, -1.0)], Le, 0.0);
                lp.add_constraint([(vy, 1.0), (cov[h], -1.0)], Le, 0.0);
            }
        }
        // C is the proven optimum, so `Σ cov = C` (not just ≥) cuts off nothing integral.
        if let Some(c) = levels.covered {
            lp.add_constraint(cov.iter().map(|&v| (v, 1.0)), Eq, c as f64);
        }
        if let Some(harvest) = levels.harvest {
            lp.add_constraint(harvest_terms(), Ge, harvest);
        }
        if let Some(running) = levels.running {
            lp.add_constraint(on.iter().map(|&v| (v, 1.0)), Le, running as f64);
        }

        let mut options = microlp::SolveOptions::default();
        options.node_limit = Some(self.node_limit);
        if let Some(warm) = warm {
            // The previous stage's optimum satisfies this stage's constraints: a feasible start.
            let (_, covered) = score_of(p, warm);
            let mut start = Vec::new();
            for (i, cands) in x.iter().enumerate() {
                start.extend(cands.iter().map(|&(h, v)| (v, f64::from(u8::from(warm[i] == h)))));
            }
            let mut running = vec![false; n_hosts];
            for &h in warm {
                running[h] = true;
            }
            for h in 0..n_hosts {
                start.push((on[h], f64::from(u8::from(running[h]))));
                start.push((cov[h], f64::from(u8::from(covered[h]))));
            }
            for (i, cands) in y.iter().enumerate() {
                let harvested = |h: usize| f64::from(u8::from(warm[i] == h && covered[h]));
                start.extend(cands.iter().map(|&(h, v)| (v, harvested(h))));
            }
            options.warm_start = Some(start);
        }
        let solver_error = |message: String| ExactError::Solver { stage: stage.doing(), message };
        let outcome = lp.solve_with(options).map_err(|err| match (err, stage) {
            (microlp::Error::Infeasible, Stage::Covered) => ExactError::Infeasible,
            (err, _) => solver_error(err.to_string()),
        })?;
        let nodes = outcome.stats().nodes_solved;
        // The first stage must be proven; a later one may stop at the node limit with the best
        // arrangement found (the warm start at worst), which then stands unproven.
        let solution = match (outcome.into_solution(), warm) {
            (Ok(solution), _) if solution.status() == microlp::SolutionStatus::Optimal => {
                (solution, true)
            }
            (_, _) if stage == Stage::Covered => {
                return Err(ExactError::NodeLimit { stage: stage.doing(), nodes })
            }
            (Ok(solution), _) => (solution, false),
            (Err(_), Some(warm)) => return Ok((warm.to_vec(), false)),
            (Err(_), None) => return Err(ExactError::NodeLimit { stage: stage.doing(), nodes }),
        };
        let (solution, optimal) = solution;

        let mut assignment = Vec::with_capacity(n_inst);
        for (i, cands) in x.iter().enumerate() {
            let host = match self.pinned_on[i] {
                Some(h) => Some(h),
                None => cands.iter().find(|&&(_, v)| solution.var_value(v) > 0.5).map(|&(h, _)| h),
            };
            let Some(h) = host else {
                return Err(solver_error(format!(
                    "instance `{}` was left without a host",
                    p.instance_ids[i]
                )));
            };
            assignment.push(h);
        }
        if let Some(broken) = violation(p, &assignment) {
            return Err(solver_error(broken));
        }
        Ok((assignment, optimal))
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
    for (h, load) in load.iter().enumerate() {
        for (r, &used) in load.iter().enumerate() {
            if used > slack(p.usable[h][r]) {
                return Some(format!(
                    "host `{}` {} load {used} over usable {}",
                    p.host_ids[h], p.resources[r], p.usable[h][r]
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::{FleetSpec, HostSpec, InstanceSpec, PolicySpec, PowerState};
    use crate::generate::{fleet, GenerateSpec};

    /// The lexicographic optimum by enumerating every assignment: (covered, harvested heat,
    /// running hosts, migrated memory), with the exact mode's slack on the heat.
    fn brute_force(p: &Problem) -> Option<Score> {
        let (n_inst, n_hosts) = (p.n_instances(), p.n_hosts());
        let mut feasible = Vec::new();
        let mut assignment = vec![0usize; n_inst];
        loop {
            if violation(p, &assignment).is_none() && strictly_feasible(p, &assignment) {
                feasible.push(score_of(p, &assignment).0);
            }
            // Next assignment, odometer style.
            let mut i = 0;
            loop {
                if i == n_inst {
                    return best(&feasible);
                }
                assignment[i] += 1;
                if assignment[i] < n_hosts {
                    break;
                }
                assignment[i] = 0;
                i += 1;
            }
        }
    }

    /// `violation` allows the solver's slack; the brute force allows none.
    fn strictly_feasible(p: &Problem, assignment: &[usize]) -> bool {
        let mut load = vec![vec![0.0; p.n_resources()]; p.n_hosts()];
        let mut heat = p.idle_w.clone();
        for (i, &h) in assignment.iter().enumerate() {
            for (l, q) in load[h].iter_mut().zip(&p.request[i]) {
                *l += q;
            }
            heat[h] += p.heat_w[i];
        }
        (0..p.n_hosts()).all(|h| {
            heat[h] <= p.limit_w[h] && load[h].iter().zip(&p.usable[h]).all(|(l, u)| l <= u)
        })
    }

    fn best(scores: &[Score]) -> Option<Score> {
        let covered = scores.iter().map(|s| s.covered_hosts).max()?;
        let at_covered: Vec<&Score> =
            scores.iter().filter(|s| s.covered_hosts == covered).collect();
        let harvest = at_covered.iter().map(|s| s.harvested_heat_w).fold(f64::MIN, f64::max);
        let at_harvest: Vec<&&Score> = at_covered
            .iter()
            .filter(|s| s.harvested_heat_w >= harvest - 1e-6 * harvest.max(1.0))
            .collect();
        let active = at_harvest.iter().map(|s| s.active_hosts).min()?;
        at_harvest
            .iter()
            .filter(|s| s.active_hosts == active)
            .min_by(|a, b| a.migration_mib.total_cmp(&b.migration_mib))
            .map(|s| ***s)
    }

    #[track_caller]
    fn check_against_brute_force(spec: &FleetSpec, what: &str) {
        check_depth_against_brute_force(spec, ExactDepth::Full, what);
    }

    /// With [`ExactDepth::Covered`], only the covered count is compared.
    #[track_caller]
    fn check_depth_against_brute_force(spec: &FleetSpec, depth: ExactDepth, what: &str) {
        let problem = Problem::new(spec).unwrap();
        let brute = brute_force(&problem);
        let exact = solve_with(&problem, &ExactOptions { depth, ..ExactOptions::default() });
        match (brute, exact) {
            (None, Err(ExactError::Infeasible | ExactError::NoHostFor { .. })) => {}
            (Some(want), Ok(got)) if depth == ExactDepth::Covered => {
                assert_eq!(got.score.covered_hosts, want.covered_hosts, "{what}: covered");
                assert_eq!(violation(&problem, &got.assignment), None, "{what}");
            }
            (Some(want), Ok(got)) => {
                assert_eq!(got.proven, ExactDepth::Full, "{what}: proven");
                assert_eq!(got.score.covered_hosts, want.covered_hosts, "{what}: covered");
                let tol = 1e-6 * want.harvested_heat_w.max(1.0);
                assert!(
                    (got.score.harvested_heat_w - want.harvested_heat_w).abs() <= tol,
                    "{what}: harvest {} vs {}",
                    got.score.harvested_heat_w,
                    want.harvested_heat_w
                );
                assert_eq!(got.score.active_hosts, want.active_hosts, "{what}: active hosts");
                assert!(
                    (got.score.migration_mib - want.migration_mib).abs() <= 1e-6,
                    "{what}: migrated {} vs {} MiB",
                    got.score.migration_mib,
                    want.migration_mib
                );
                assert_eq!(score_of(&problem, &got.assignment).0, got.score, "{what}");
                assert_eq!(violation(&problem, &got.assignment), None, "{what}");
            }
            (brute, exact) => panic!("{what}: brute force {brute:?}, exact {exact:?}"),
        }
    }

    #[test]
    fn matches_brute_force_on_tiny_generated_fleets() {
        // Every objective term on the smaller fleets; the covered count (one solve, much
        // faster) on the larger ones.
        let mut checked = 0;
        for (instances, hosts, depth) in [
            (5, 2, ExactDepth::Full),
            (6, 3, ExactDepth::Full),
            (7, 3, ExactDepth::Full),
            (7, 4, ExactDepth::Covered),
            (8, 3, ExactDepth::Covered),
        ] {
            for resources in [1, 2] {
                for seed in 1..=3 {
                    let spec = GenerateSpec { instances, hosts, resources, seed };
                    let mut fleet = fleet(&spec, None);
                    // Every other seed: a tight budget and a dwell time that pins some.
                    if seed % 2 == 0 {
                        fleet.policy.migration_budget = Some(2);
                        fleet.policy.min_dwell_s = 1800.0;
                    }
                    // Seed 3 on the smaller fleets: an empty twin of the first host (the
                    // symmetry constraints).
                    if seed == 3 && instances <= 7 && hosts <= 3 {
                        let twin = HostSpec { id: "twin".into(), ..fleet.hosts[0].clone() };
                        fleet.hosts.push(twin);
                    }
                    check_depth_against_brute_force(&fleet, depth, &format!("{spec} {depth:?}"));
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 30);
    }

    fn host(id: &str, cpu: f64, idle_w: f64, target_heat_w: f64, limit: Option<f64>) -> HostSpec {
        HostSpec {
            id: id.into(),
            capacity: vec![cpu],
            idle_w,
            target_heat_w,
            thermal_limit_w: limit,
            power: PowerState::On,
        }
    }

    fn inst(id: &str, cpu: f64, heat_w: f64, host: Option<&str>) -> InstanceSpec {
        InstanceSpec {
            id: id.into(),
            request: vec![cpu],
            heat_w,
            memory_mib: 1000.0 * cpu,
            host: host.map(Into::into),
            migratable: true,
            anti_affinity: None,
            since_move_s: None,
        }
    }

    fn one_resource(hosts: Vec<HostSpec>, instances: Vec<InstanceSpec>) -> FleetSpec {
        FleetSpec { resources: vec!["cpu".into()], hosts, instances, policy: PolicySpec::default() }
    }

    #[test]
    fn packs_two_halves_onto_one_host_and_powers_the_other_down() {
        // Each host needs 100 W over its 50 W idle; each instance gives 60 W. Spread, neither
        // host reaches its target; together, one does.
        let fleet = one_resource(
            vec![host("a", 8.0, 50.0, 150.0, None), host("b", 8.0, 50.0, 150.0, None)],
            vec![inst("x", 4.0, 60.0, Some("a")), inst("y", 4.0, 60.0, Some("b"))],
        );
        let problem = Problem::new(&fleet).unwrap();
        let got = solve(&problem).unwrap();
        assert_eq!(got.score.covered_hosts, 1);
        assert_eq!(got.assignment[0], got.assignment[1]);
        assert_eq!(got.score.harvested_heat_w, 170.0);
        assert_eq!(got.score.active_hosts, 1);
        assert_eq!(got.score.migrations, 1);
        assert_eq!(got.score.migration_mib, 4000.0, "either move costs the same");
        check_against_brute_force(&fleet, "two halves");
    }

    #[test]
    fn respects_thermal_limits_anti_affinity_pinning_and_budget() {
        // Both start on b. Without a limit they stay there (no migration); b's limit of 160 W
        // (idle 50 W + 2 × 60 W = 170 W) sends both to a, which they cover.
        let mut fleet = one_resource(
            vec![host("a", 8.0, 50.0, 150.0, None), host("b", 8.0, 50.0, 150.0, None)],
            vec![inst("x", 4.0, 60.0, Some("b")), inst("y", 4.0, 60.0, Some("b"))],
        );
        let got = solve(&Problem::new(&fleet).unwrap()).unwrap();
        assert_eq!(
            (got.assignment, got.score.covered_hosts, got.score.migrations),
            (vec![1, 1], 1, 0)
        );
        fleet.hosts[1].thermal_limit_w = Some(160.0);
        let got = solve(&Problem::new(&fleet).unwrap()).unwrap();
        assert_eq!(
            (got.assignment, got.score.covered_hosts, got.score.migrations),
            (vec![0, 0], 1, 2)
        );
        // Anti-affinity keeps them apart: nothing is covered.
        fleet.hosts[1].thermal_limit_w = Some(400.0);
        fleet.instances[0].anti_affinity = Some("g".into());
        fleet.instances[1].anti_affinity = Some("g".into());
        fleet.instances[1].host = Some("a".into());
        let got = solve(&Problem::new(&fleet).unwrap()).unwrap();
        assert_eq!((got.score.covered_hosts, got.assignment[0] != got.assignment[1]), (0, true));
        fleet.instances[1].anti_affinity = None;
        fleet.instances[0].migratable = false;
        let got = solve(&Problem::new(&fleet).unwrap()).unwrap();
        assert_eq!((got.assignment.clone(), got.score.covered_hosts), (vec![1, 1], 1));
        fleet.instances[0].migratable = true;
        fleet.policy.migration_budget = Some(0);
        let got = solve(&Problem::new(&fleet).unwrap()).unwrap();
        assert_eq!((got.assignment, got.score.covered_hosts), (vec![1, 0], 0));
    }

    #[test]
    fn refuses_what_it_cannot_solve_with_a_named_reason() {
        let big = fleet(&GenerateSpec::new(41, 10), None);
        let err = solve(&Problem::new(&big).unwrap()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "exact mode takes at most 400 instance × host pairs; this fleet has 41 instances × 10 \
             hosts = 410"
        );
        // Pinned to a host it no longer fits (a capacity shrunk under it).
        let mut pinned = one_resource(
            vec![host("a", 4.0, 50.0, 150.0, None), host("b", 8.0, 50.0, 150.0, None)],
            vec![inst("x", 6.0, 60.0, Some("b"))],
        );
        pinned.instances[0].migratable = false;
        pinned.hosts[1].capacity[0] = 5.0;
        pinned.hosts.push(host("c", 8.0, 50.0, 150.0, None));
        let err = solve(&Problem::new(&pinned).unwrap()).unwrap_err();
        assert_eq!(err, ExactError::NoHostFor { instance: "x".into() });
        assert!(err.to_string().contains("instance `x` can go to no host"));
        // A node limit of zero proves nothing on a fleet that needs branching.
        let spec = GenerateSpec { instances: 16, hosts: 6, resources: 2, seed: 3 };
        let problem = Problem::new(&fleet(&spec, None)).unwrap();
        let options = ExactOptions { depth: ExactDepth::Covered, node_limit: 0, start: None };
        match solve_with(&problem, &options) {
            Err(ExactError::NodeLimit { stage, nodes }) => {
                assert_eq!((stage, nodes), ("maximizing covered hosts", 0));
            }
            other => assert!(other.is_ok(), "{other:?}"),
        }
    }
}
