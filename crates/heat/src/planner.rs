//! The planner's body: a tentative arrangement ([`State`]) that the stages edit in turn.
//!
//! Stages, in the order they run (each sees the previous one's result):
//! 1. **repair** — evict instances from hosts over a capacity, headroom, thermal or
//!    anti-affinity limit (least memory first) into the pool of instances to place;
//! 2. **cover** — visit hosts below target, smallest deficit first, and bring each up to its
//!    target with pooled instances or instances taken from colder hosts (or from a covered
//!    host's surplus): take the smallest instance that completes the deficit, else the largest
//!    that does not, so little heat is wasted above a target; a host that cannot be completed
//!    gets its instances back;
//! 3. **drain** — empty the coldest hosts still below target onto covered hosts (more harvested
//!    heat) or hotter ones, all of a host's instances or none, so the host can be powered down;
//! 4. **place** — put what is left in the pool where it helps most (a host it covers, then a
//!    covered host, then a running host, then an idle one, then one that must be woken);
//! 5. **sequence** — order the migrations so no intermediate step overcommits a host
//!    ([`crate::sequence`]); moves that cannot be ordered are dropped, named;
//! 6. **power and reasons** — power down empty hosts beyond the spares, power on hosts that
//!    receive instances, and name a reason for every host and every instance left as is.

use crate::bound;
use crate::fleet::{PowerState, Problem};
use crate::plan::{
    HostOutcome, HostReason, InstanceOutcome, MoveReason, Plan, PowerAction, PowerKind, Score,
    StayReason,
};
use crate::sequence;
use std::collections::{BTreeSet, HashMap, HashSet};

/// Slack for comparisons of sums of floats against limits and targets.
const EPS: f64 = 1e-9;

/// Most cover passes per plan.
const COVER_PASSES: usize = 4;

/// The tentative arrangement and its per-host sums.
struct State<'p> {
    p: &'p Problem,
    n_res: usize,
    host_of: Vec<Option<usize>>,
    /// Resource use per host, flattened `h * n_res + r`.
    used: Vec<f64>,
    /// Instance heat per host (W), idle excluded.
    heat: Vec<f64>,
    members: Vec<Vec<usize>>,
    /// Members of each anti-affinity group per host.
    group_count: HashMap<(usize, usize), u32>,
    /// Migrations the tentative arrangement costs against the current one.
    spent: usize,
    /// Why each instance last moved.
    why: Vec<Option<MoveReason>>,
    /// Instances waiting for a host, with the host they were evicted from, if any.
    pool: Vec<usize>,
    origin: Vec<Option<usize>>,
}

impl<'p> State<'p> {
    fn new(p: &'p Problem) -> State<'p> {
        let n_res = p.n_resources();
        let mut st = State {
            p,
            n_res,
            host_of: vec![None; p.n_instances()],
            used: vec![0.0; p.n_hosts() * n_res],
            heat: vec![0.0; p.n_hosts()],
            members: vec![Vec::new(); p.n_hosts()],
            group_count: HashMap::new(),
            spent: 0,
            why: vec![None; p.n_instances()],
            pool: Vec::new(),
            origin: vec![None; p.n_instances()],
        };
        for i in 0..p.n_instances() {
            match p.current[i] {
                Some(h) => st.attach(i, h),
                None => st.pool.push(i),
            }
        }
        st
    }

    fn attach(&mut self, i: usize, h: usize) {
        let p = self.p;
        for r in 0..self.n_res {
            self.used[h * self.n_res + r] += p.request[i][r];
        }
        self.heat[h] += p.heat_w[i];
        self.members[h].push(i);
        if let Some(g) = p.group[i] {
            *self.group_count.entry((g, h)).or_insert(0) += 1;
        }
        self.host_of[i] = Some(h);
    }

    fn detach(&mut self, i: usize) -> Option<usize> {
        let h = self.host_of[i].take()?;
        let p = self.p;
        for r in 0..self.n_res {
            self.used[h * self.n_res + r] -= p.request[i][r];
        }
        self.heat[h] -= p.heat_w[i];
        if let Some(pos) = self.members[h].iter().position(|&x| x == i) {
            self.members[h].swap_remove(pos);
        }
        if let Some(g) = p.group[i] {
            if let Some(c) = self.group_count.get_mut(&(g, h)) {
                *c -= 1;
            }
        }
        if self.members[h].is_empty() {
            // Keep sums exact once a host is empty again.
            self.heat[h] = 0.0;
            self.used[h * self.n_res..(h + 1) * self.n_res].fill(0.0);
        }
        Some(h)
    }

    /// Migrations charged for instance `i` sitting on `host` (1 when it left its current host).
    fn cost_at(&self, i: usize, host: Option<usize>) -> usize {
        usize::from(self.p.current[i].is_some() && host != self.p.current[i])
    }

    /// Moves `i` to `h` (from wherever it is), keeping the migration count.
    fn move_to(&mut self, i: usize, h: usize, why: MoveReason) {
        let before = self.cost_at(i, self.host_of[i]);
        self.detach(i);
        self.attach(i, h);
        let after = self.cost_at(i, Some(h));
        self.spent = self.spent + after - before;
        if Some(h) != self.p.current[i] {
            self.why[i] = Some(why);
        } else {
            self.why[i] = None;
        }
    }

    /// Extra migrations moving `i` to `h` would cost (0 or 1; moving back home costs nothing).
    fn extra_cost(&self, i: usize, h: usize) -> usize {
        self.cost_at(i, Some(h)).saturating_sub(self.cost_at(i, self.host_of[i]))
    }

    fn within_budget(&self, i: usize, h: usize) -> bool {
        self.spent + self.extra_cost(i, h) <= self.p.budget
    }

    /// Whether `i` (not on `h`) fits on `h` now: capacity after headroom, thermal limit,
    /// anti-affinity.
    fn fits(&self, i: usize, h: usize) -> bool {
        let p = self.p;
        let base = h * self.n_res;
        for r in 0..self.n_res {
            if self.used[base + r] + p.request[i][r] > p.usable[h][r] + EPS {
                return false;
            }
        }
        if p.idle_w[h] + self.heat[h] + p.heat_w[i] > p.limit_w[h] + EPS {
            return false;
        }
        match p.group[i] {
            Some(g) => self.group_count.get(&(g, h)).is_none_or(|&c| c == 0),
            None => true,
        }
    }

    fn count_covered(&self) -> usize {
        (0..self.p.n_hosts()).filter(|&h| self.covered(h)).count()
    }

    fn covered(&self, h: usize) -> bool {
        self.p.has_target(h)
            && !self.members[h].is_empty()
            && self.p.idle_w[h] + self.heat[h] + EPS >= self.p.target_w[h]
    }

    /// Heat host `h` still needs from instances to reach its target (≥ 0).
    fn deficit(&self, h: usize) -> f64 {
        (self.p.target_w[h] - self.p.idle_w[h] - self.heat[h]).max(0.0)
    }

    fn violated(&self, h: usize) -> bool {
        let p = self.p;
        let base = h * self.n_res;
        (0..self.n_res).any(|r| self.used[base + r] > p.usable[h][r] + EPS)
            || p.idle_w[h] + self.heat[h] > p.limit_w[h] + EPS
            || self.members[h].iter().any(|&i| {
                p.group[i].is_some_and(|g| self.group_count.get(&(g, h)).is_some_and(|&c| c > 1))
            })
    }

    // ----- 1. repair -----

    fn repair(&mut self) {
        let p = self.p;
        for h in 0..p.n_hosts() {
            while self.violated(h) {
                let Some(i) = self.eviction_candidate(h) else { break };
                if self.spent + 1 > p.budget {
                    break;
                }
                self.detach(i);
                self.spent += self.cost_at(i, None);
                self.why[i] = Some(MoveReason::Repair);
                self.origin[i] = Some(h);
                self.pool.push(i);
            }
        }
    }

    /// The instance to evict from violating host `h`: a second member of a group first, else
    /// the one with least memory among those using an exceeded resource (or heat, when the
    /// thermal limit is exceeded).
    fn eviction_candidate(&self, h: usize) -> Option<usize> {
        let p = self.p;
        let movable = |i: &&usize| p.movable[**i];
        let duplicate = self.members[h].iter().filter(movable).find(|&&i| {
            p.group[i].is_some_and(|g| self.group_count.get(&(g, h)).is_some_and(|&c| c > 1))
        });
        if let Some(&i) = duplicate {
            return Some(i);
        }
        let base = h * self.n_res;
        let over: Vec<usize> =
            (0..self.n_res).filter(|&r| self.used[base + r] > p.usable[h][r] + EPS).collect();
        let hot = p.idle_w[h] + self.heat[h] > p.limit_w[h] + EPS;
        self.members[h]
            .iter()
            .filter(movable)
            .filter(|&&i| over.iter().any(|&r| p.request[i][r] > 0.0) || (hot && p.heat_w[i] > 0.0))
            .min_by(|&&a, &&b| p.memory_mib[a].total_cmp(&p.memory_mib[b]).then(a.cmp(&b)))
            .copied()
    }

    // ----- 2. cover -----

    fn cover(&mut self) {
        let p = self.p;
        // Candidates, ordered by heat: pooled instances, movable instances on hosts below target
        // and the surplus of covered hosts (re-checked when taken).
        let key = |i: usize| (p.heat_w[i].to_bits(), i);
        let mut candidates: BTreeSet<(u64, usize)> = BTreeSet::new();
        let mut supply_w = 0.0;
        for i in 0..p.n_instances() {
            let eligible = match self.host_of[i] {
                None => true,
                Some(h) => {
                    p.movable[i]
                        && (!self.covered(h)
                            || p.idle_w[h] + self.heat[h] - p.heat_w[i] + EPS >= p.target_w[h])
                }
            };
            if eligible {
                candidates.insert(key(i));
                supply_w += p.heat_w[i];
            }
        }

        // Most heat per unit of each resource any candidate carries: a host whose usable
        // capacity cannot hold its need even at that density is not worth an attempt.
        let mut densest = vec![0.0f64; self.n_res];
        for &(_, i) in &candidates {
            for (r, d) in densest.iter_mut().enumerate() {
                let q = p.request[i][r];
                *d = d.max(if q > 0.0 { p.heat_w[i] / q } else { f64::INFINITY });
            }
        }
        let reachable = |h: usize| {
            let room = (0..self.n_res)
                .map(|r| (p.usable[h][r] - self.used[h * self.n_res + r]).max(0.0) * densest[r])
                .fold(p.heat_room_w(h) - self.heat[h], f64::min);
            room + EPS >= self.deficit(h)
        };
        let mut receivers: Vec<usize> = (0..p.n_hosts())
            .filter(|&h| p.has_target(h) && !self.covered(h) && reachable(h))
            .collect();
        let power_rank = |h: usize| match p.power[h] {
            PowerState::On => 0,
            PowerState::Saving => 1,
            PowerState::Off => 2,
        };
        // Cheapest to cover first: the heat a host needs beyond what it must keep (its pinned
        // instances); movable heat already there can serve any host, so it does not make a host
        // cheaper. Ties go to the smaller current deficit (fewer moves).
        let pinned_w: Vec<f64> = (0..p.n_hosts())
            .map(|h| self.members[h].iter().filter(|&&i| !p.movable[i]).map(|&i| p.heat_w[i]).sum())
            .collect();
        let cost = |h: usize| (p.need_w(h) - pinned_w[h]).max(0.0);
        receivers.sort_by(|&a, &b| {
            cost(a)
                .total_cmp(&cost(b))
                .then(self.deficit(a).total_cmp(&self.deficit(b)))
                .then(power_rank(a).cmp(&power_rank(b)))
                .then(self.members[b].len().cmp(&self.members[a].len()))
                .then(a.cmp(&b))
        });

        let mut taken: Vec<(usize, Option<usize>, Option<MoveReason>)> = Vec::new();
        // Empty hosts alike in every respect the attempt depends on (capacity, idle power,
        // target, thermal limit, power state) all fail once one has: within a pass the
        // candidates only dwindle. Remember their signatures to skip the rest (the reference
        // fleet has hundreds of identical empty hosts).
        let signature = |h: usize| -> Vec<u64> {
            let mut sig: Vec<u64> = p.usable[h].iter().map(|c| c.to_bits()).collect();
            sig.extend([p.idle_w[h], p.target_w[h], p.limit_w[h]].map(f64::to_bits));
            sig.push(p.power[h] as u64);
            sig
        };
        let mut failed_empty: HashSet<Vec<u64>> = HashSet::new();
        for &h in &receivers {
            if self.covered(h) {
                continue;
            }
            let empty = self.members[h].is_empty();
            if empty && failed_empty.contains(&signature(h)) {
                continue;
            }
            // Heat the host's own movable instances would still count (they are in the
            // candidate set but stay): the deficit must come from elsewhere.
            let own_w: f64 = self.members[h]
                .iter()
                .filter(|&&i| candidates.contains(&key(i)))
                .map(|&i| p.heat_w[i])
                .sum();
            if self.deficit(h) > supply_w - own_w + EPS {
                continue;
            }
            taken.clear();
            let mut ok = true;
            while !self.covered(h) {
                let rem = self.deficit(h);
                let Some(i) = self.pick(h, rem, &candidates) else {
                    ok = false;
                    break;
                };
                candidates.remove(&key(i));
                supply_w -= p.heat_w[i];
                taken.push((i, self.host_of[i], self.why[i]));
                self.move_to(i, h, MoveReason::Cover);
            }
            if ok {
                // Instances on a freshly covered host are no longer candidates.
                for &i in &self.members[h] {
                    if candidates.remove(&key(i)) {
                        supply_w -= p.heat_w[i];
                    }
                }
                self.pool.retain(|&i| self.host_of[i].is_none());
            } else {
                if empty {
                    failed_empty.insert(signature(h));
                }
                for &(i, from, why) in taken.iter().rev() {
                    match from {
                        Some(f) => self.move_to(i, f, MoveReason::Cover),
                        None => {
                            let before = self.cost_at(i, self.host_of[i]);
                            self.detach(i);
                            self.spent = self.spent + self.cost_at(i, None) - before;
                        }
                    }
                    self.why[i] = why;
                    candidates.insert(key(i));
                    supply_w += p.heat_w[i];
                }
            }
        }
        self.pool.retain(|&i| self.host_of[i].is_none());
    }

    /// The candidate to bring to receiver `h` with `rem` watts missing: the smallest that
    /// completes it, else the largest that does not; each must fit, be allowed to leave its
    /// host (not the receiver itself; a covered host only gives surplus) and fit the budget.
    fn pick(&self, h: usize, rem: f64, candidates: &BTreeSet<(u64, usize)>) -> Option<usize> {
        let p = self.p;
        let usable = |i: usize| -> bool {
            let source_allows = match self.host_of[i] {
                Some(s) if s == h => false,
                // A covered host gives only surplus: it must stay covered.
                Some(s) if self.covered(s) => {
                    p.idle_w[s] + self.heat[s] - p.heat_w[i] + EPS >= p.target_w[s]
                }
                _ => true,
            };
            source_allows && self.within_budget(i, h) && self.fits(i, h)
        };
        let split = (rem.max(0.0).to_bits(), 0);
        if let Some(&(_, i)) = candidates.range(split..).find(|&&(_, i)| usable(i)) {
            return Some(i);
        }
        candidates.range(..split).rev().find(|&&(_, i)| usable(i)).map(|&(_, i)| i)
    }

    // ----- 3. drain -----

    fn drain(&mut self) {
        let p = self.p;
        let mut cold: Vec<usize> =
            (0..p.n_hosts()).filter(|&h| !self.members[h].is_empty() && !self.covered(h)).collect();
        cold.sort_by(|&a, &b| self.heat[a].total_cmp(&self.heat[b]).then(a.cmp(&b)));
        let mut drained = vec![false; p.n_hosts()];
        for &h in &cold {
            if self.covered(h) || self.members[h].is_empty() {
                continue;
            }
            if self.members[h].iter().any(|&i| !p.movable[i]) {
                continue;
            }
            let mut moving = self.members[h].clone();
            // Largest first: the hardest to fit decides early.
            moving.sort_by(|&a, &b| p.request[b][0].total_cmp(&p.request[a][0]).then(a.cmp(&b)));
            let mut done: Vec<(usize, Option<MoveReason>)> = Vec::with_capacity(moving.len());
            let mut ok = true;
            for &i in &moving {
                let dest = self.best_host(i, |st, d| {
                    d != h && !drained[d] && !st.members[d].is_empty() && st.heat[d] >= st.heat[h]
                });
                match dest {
                    Some(d) if self.within_budget(i, d) => {
                        done.push((i, self.why[i]));
                        self.move_to(i, d, MoveReason::Drain);
                    }
                    _ => {
                        ok = false;
                        break;
                    }
                }
            }
            if ok {
                drained[h] = true;
            } else {
                for &(i, why) in done.iter().rev() {
                    self.move_to(i, h, MoveReason::Drain);
                    self.why[i] = why;
                }
            }
        }
    }

    /// The best host for `i` among those `allowed`: one it brings to target, then a covered
    /// one, then one below target; within a class the tightest fit (least usable capacity left
    /// on the first resource, as a fraction).
    fn best_host(&self, i: usize, allowed: impl Fn(&Self, usize) -> bool) -> Option<usize> {
        let p = self.p;
        let mut best: Option<(u8, f64, usize)> = None;
        for d in 0..p.n_hosts() {
            if Some(d) == self.host_of[i] || !allowed(self, d) || !self.fits(i, d) {
                continue;
            }
            let after = p.idle_w[d] + self.heat[d] + p.heat_w[i];
            let class = if self.covered(d) {
                1
            } else if after + EPS >= p.target_w[d] {
                0
            } else if !self.members[d].is_empty() {
                2
            } else {
                match p.power[d] {
                    PowerState::On => 3,
                    PowerState::Saving => 4,
                    PowerState::Off => 5,
                }
            };
            let cap = p.usable[d][0];
            let left = if cap > 0.0 {
                (cap - self.used[d * self.n_res] - p.request[i][0]) / cap
            } else {
                0.0
            };
            let cand = (class, left, d);
            if best.is_none_or(|b| (cand.0, cand.1) < (b.0, b.1)) {
                best = Some(cand);
            }
        }
        best.map(|(_, _, d)| d)
    }

    // ----- 4. place -----

    fn place(&mut self) {
        let p = self.p;
        let mut pool = std::mem::take(&mut self.pool);
        // Largest first.
        pool.sort_by(|&a, &b| p.heat_w[b].total_cmp(&p.heat_w[a]).then(a.cmp(&b)));
        for i in pool {
            let origin = self.origin[i];
            let dest = self.best_host(i, |_, d| Some(d) != origin);
            match dest {
                Some(d) => {
                    let why = if origin.is_some() { MoveReason::Repair } else { MoveReason::Cover };
                    self.move_to(i, d, why);
                }
                // Nowhere else to go: an evicted instance goes back where it was (its host
                // stays over its limit and says so); a new one stays unplaced.
                None => {
                    if let Some(o) = origin {
                        self.move_to(i, o, MoveReason::Repair);
                        self.why[i] = None;
                    }
                }
            }
        }
    }
}

/// Runs the stages and assembles the plan.
pub(crate) fn run(p: &Problem) -> Plan {
    let mut st = State::new(p);
    st.repair();
    // Later passes also draw on the surplus of hosts the earlier ones covered (what a host
    // holds above its target after the bin-covering rule overshot it); stop when a pass adds
    // nothing.
    let mut covered = st.count_covered();
    for _ in 0..COVER_PASSES {
        st.cover();
        let now = st.count_covered();
        if now <= covered {
            break;
        }
        covered = now;
    }
    st.drain();
    st.place();
    let target = st.host_of.clone();
    let seq = sequence::order(p, &target);
    // An evicted instance moves to repair its host, whichever stage found its new one.
    let why: Vec<Option<MoveReason>> = (0..p.n_instances())
        .map(|i| if st.origin[i].is_some() { Some(MoveReason::Repair) } else { st.why[i] })
        .collect();
    finish(p, &why, st.spent >= p.budget, seq)
}

/// A plan for an arrangement decided elsewhere ([`crate::plan::explain`]).
pub(crate) fn explain(p: &Problem, target: &[Option<usize>]) -> Plan {
    let target: Vec<Option<usize>> = (0..p.n_instances())
        .map(|i| match target.get(i).copied().flatten() {
            Some(h) if h < p.n_hosts() && (p.movable[i] || Some(h) == p.current[i]) => Some(h),
            _ => p.current[i],
        })
        .collect();
    let why: Vec<Option<MoveReason>> = (0..p.n_instances())
        .map(|i| (target[i] != p.current[i]).then_some(MoveReason::Exact))
        .collect();
    let moves = (0..p.n_instances())
        .filter(|&i| p.current[i].is_some() && target[i] != p.current[i])
        .count();
    let seq = sequence::order(p, &target);
    finish(p, &why, moves >= p.budget, seq)
}

fn finish(
    p: &Problem,
    why: &[Option<MoveReason>],
    budget_spent: bool,
    seq: sequence::Sequenced,
) -> Plan {
    let n_hosts = p.n_hosts();
    let n_res = p.n_resources();
    let assignment = seq.assignment;
    let mut heat = vec![0.0; n_hosts];
    let mut count = vec![0usize; n_hosts];
    let mut used = vec![0.0; n_hosts * n_res];
    for (i, h) in assignment.iter().enumerate() {
        if let Some(h) = *h {
            heat[h] += p.heat_w[i];
            count[h] += 1;
            for r in 0..n_res {
                used[h * n_res + r] += p.request[i][r];
            }
        }
    }
    let covered: Vec<bool> = (0..n_hosts)
        .map(|h| p.has_target(h) && count[h] > 0 && p.idle_w[h] + heat[h] + EPS >= p.target_w[h])
        .collect();
    let over: Vec<bool> = (0..n_hosts)
        .map(|h| {
            (0..n_res).any(|r| used[h * n_res + r] > p.usable[h][r] + EPS)
                || (count[h] > 0 && p.idle_w[h] + heat[h] > p.limit_w[h] + EPS)
        })
        .collect();

    // Spares: keep the empty hosts that are on with the least idle power.
    let mut empty_on: Vec<usize> =
        (0..n_hosts).filter(|&h| count[h] == 0 && p.power[h] == PowerState::On).collect();
    empty_on.sort_by(|&a, &b| p.idle_w[a].total_cmp(&p.idle_w[b]).then(a.cmp(&b)));
    let mut spare = vec![false; n_hosts];
    for &h in empty_on.iter().take(p.spare_hosts) {
        spare[h] = true;
    }

    let mut power = Vec::new();
    let mut hosts = Vec::with_capacity(n_hosts);
    for h in 0..n_hosts {
        let (powered, reason) = if count[h] > 0 {
            match p.power[h] {
                PowerState::Off => power.push(PowerAction { host: h, action: PowerKind::PowerOn }),
                PowerState::Saving => power.push(PowerAction { host: h, action: PowerKind::Wake }),
                PowerState::On => {}
            }
            let reason = if over[h] {
                HostReason::OverLimit
            } else if covered[h] {
                HostReason::Covered
            } else {
                HostReason::BelowTarget
            };
            (true, reason)
        } else if spare[h] {
            (true, HostReason::Spare)
        } else if p.power[h] == PowerState::On {
            (false, HostReason::PoweredDown)
        } else {
            (false, HostReason::AlreadyOff)
        };
        hosts.push(HostOutcome {
            heat_w: if powered { p.idle_w[h] + heat[h] } else { 0.0 },
            covered: covered[h],
            powered,
            reason,
        });
    }
    // Power-ups come first (before migrations), power-downs last (after them).
    power.sort_by_key(|a| (a.action == PowerKind::PowerDown, a.host));
    for (h, outcome) in hosts.iter().enumerate() {
        if outcome.reason == HostReason::PoweredDown {
            power.push(PowerAction { host: h, action: PowerKind::PowerDown });
        }
    }

    let mut instances = Vec::with_capacity(p.n_instances());
    for i in 0..p.n_instances() {
        let outcome = match (p.current[i], assignment[i]) {
            (None, Some(_)) => InstanceOutcome::Placed,
            (None, None) => InstanceOutcome::Unplaced,
            (Some(c), Some(t)) if c != t => {
                InstanceOutcome::Moved { why: why[i].unwrap_or(MoveReason::Cover) }
            }
            (Some(c), _) => {
                let why = if let Some(pinned) = p.pinned_why[i] {
                    StayReason::Pinned { pinned }
                } else if seq.reverted.contains(&i) {
                    StayReason::NoSafeOrder
                } else if covered[c] {
                    StayReason::OnCoveredHost
                } else if budget_spent {
                    StayReason::BudgetExhausted
                } else {
                    StayReason::NoBetterHost
                };
                InstanceOutcome::Stays { why }
            }
        };
        instances.push(outcome);
    }

    // A fold from +0.0: an empty float sum would be −0.0.
    let harvested_heat_w =
        (0..n_hosts).filter(|&h| covered[h]).fold(0.0, |sum, h| sum + p.idle_w[h] + heat[h]);
    let score = Score {
        covered_hosts: covered.iter().filter(|&&c| c).count(),
        harvested_heat_w,
        active_hosts: hosts.iter().filter(|o| o.powered).count(),
        migrations: seq.moves.len(),
        migration_mib: seq.moves.iter().fold(0.0, |sum, m| sum + m.memory_mib),
    };
    Plan {
        assignment,
        migrations: seq.moves,
        placements: seq.placements,
        power,
        hosts,
        instances,
        score,
        upper_bound: bound::covered_hosts(p),
    }
}

#[cfg(test)]
mod tests {
    use crate::fleet::{
        FleetSpec, HostSpec, InstanceSpec, Pinned, PolicySpec, PowerState, Problem,
    };
    use crate::plan::{plan, HostReason, InstanceOutcome, MoveReason, PowerKind, StayReason};

    /// Hosts `h0..` with one resource of capacity 10, idle 50 W, target 100 W.
    fn hosts(n: usize) -> Vec<HostSpec> {
        (0..n)
            .map(|k| HostSpec {
                id: format!("h{k}"),
                capacity: vec![10.0],
                idle_w: 50.0,
                target_heat_w: 100.0,
                thermal_limit_w: None,
                power: PowerState::On,
            })
            .collect()
    }

    /// Instance `i{k}` with `cpu` request, `heat` W, on `host`.
    fn inst(k: usize, cpu: f64, heat: f64, host: Option<usize>) -> InstanceSpec {
        InstanceSpec {
            id: format!("i{k}"),
            request: vec![cpu],
            heat_w: heat,
            memory_mib: 100.0 * (k + 1) as f64,
            host: host.map(|h| format!("h{h}")),
            migratable: true,
            anti_affinity: None,
            since_move_s: None,
        }
    }

    fn spec(hosts: Vec<HostSpec>, instances: Vec<InstanceSpec>) -> FleetSpec {
        FleetSpec { resources: vec!["cpu".into()], hosts, instances, policy: PolicySpec::default() }
    }

    #[test]
    fn spread_instances_are_gathered_so_two_hosts_reach_target_and_the_rest_power_down() {
        // 100 W of instance heat over four hosts; each host needs 50 W above idle.
        let s = spec(
            hosts(4),
            vec![
                inst(0, 3.0, 30.0, Some(0)),
                inst(1, 2.0, 20.0, Some(1)),
                inst(2, 2.5, 25.0, Some(2)),
                inst(3, 2.5, 25.0, Some(3)),
            ],
        );
        let p = Problem::new(&s).unwrap();
        let plan = plan(&p);
        assert_eq!(plan.score.covered_hosts, 2);
        assert_eq!(plan.upper_bound, 2);
        assert_eq!(plan.score.active_hosts, 2);
        assert_eq!(plan.score.harvested_heat_w, 200.0);
        assert_eq!(plan.score.migrations, 2, "{:?}", plan.migrations);
        let downs = plan.power.iter().filter(|a| a.action == PowerKind::PowerDown).count();
        assert_eq!(downs, 2);
        for h in &plan.hosts {
            assert!(matches!(h.reason, HostReason::Covered | HostReason::PoweredDown), "{h:?}");
        }
    }

    #[test]
    fn an_overloaded_host_sheds_its_smallest_memory_instance_first() {
        let mut s = spec(hosts(2), vec![inst(0, 6.0, 60.0, Some(0)), inst(1, 6.0, 60.0, Some(0))]);
        s.hosts[0].target_heat_w = 1.0;
        let p = Problem::new(&s).unwrap();
        let plan = plan(&p);
        assert_eq!(plan.assignment, vec![Some(1), Some(0)], "i0 has less memory");
        assert_eq!(plan.instances[0], InstanceOutcome::Moved { why: MoveReason::Repair });
        assert_eq!(plan.score.covered_hosts, 2);
    }

    #[test]
    fn pinned_instances_and_the_budget_are_respected_and_named() {
        let mut s = spec(
            hosts(3),
            vec![
                inst(0, 2.0, 20.0, Some(0)),
                inst(1, 3.0, 30.0, Some(1)),
                inst(2, 1.0, 10.0, Some(2)),
            ],
        );
        s.instances[0].migratable = false;
        s.policy.migration_budget = Some(0);
        let p = Problem::new(&s).unwrap();
        let plan = plan(&p);
        assert!(plan.migrations.is_empty());
        assert_eq!(
            plan.instances[0],
            InstanceOutcome::Stays { why: StayReason::Pinned { pinned: Pinned::NotMigratable } }
        );
        assert_eq!(plan.instances[1], InstanceOutcome::Stays { why: StayReason::BudgetExhausted });
        assert_eq!(plan.score.covered_hosts, 0);

        s.policy.migration_budget = Some(1);
        let plan = crate::plan::plan(&Problem::new(&s).unwrap());
        assert_eq!(plan.score.migrations, 1);
        assert_eq!(
            plan.score.covered_hosts, 1,
            "one move covers h1 (or h0): {:?}",
            plan.migrations
        );
    }

    #[test]
    fn anti_affinity_keeps_group_members_apart_even_when_that_costs_coverage() {
        let mut s = spec(hosts(2), vec![inst(0, 1.0, 30.0, Some(0)), inst(1, 1.0, 30.0, Some(1))]);
        s.instances[0].anti_affinity = Some("db".into());
        s.instances[1].anti_affinity = Some("db".into());
        let plan = plan(&Problem::new(&s).unwrap());
        assert_eq!(plan.assignment, vec![Some(0), Some(1)]);
        assert_eq!(plan.score.covered_hosts, 0);
        assert_eq!(plan.upper_bound, 1, "the bound ignores groups: 60 W covers one host");
    }

    #[test]
    fn new_instances_are_placed_where_they_cover_a_host_and_spares_stay_on() {
        let mut s = spec(hosts(3), vec![inst(0, 3.0, 40.0, Some(1)), inst(1, 1.0, 10.0, None)]);
        s.policy.spare_hosts = 1;
        s.hosts[2].power = PowerState::Off;
        let plan = plan(&Problem::new(&s).unwrap());
        assert_eq!(plan.assignment, vec![Some(1), Some(1)]);
        assert_eq!(plan.instances[1], InstanceOutcome::Placed);
        assert_eq!(plan.hosts[0].reason, HostReason::Spare);
        assert_eq!(plan.hosts[2].reason, HostReason::AlreadyOff);
        assert!(plan.power.is_empty(), "{:?}", plan.power);
    }

    #[test]
    fn without_targets_the_planner_only_consolidates() {
        let mut s = spec(
            hosts(3),
            vec![
                inst(0, 2.0, 20.0, Some(0)),
                inst(1, 2.0, 20.0, Some(1)),
                inst(2, 2.0, 20.0, Some(2)),
            ],
        );
        for h in &mut s.hosts {
            h.target_heat_w = 0.0;
        }
        let plan = plan(&Problem::new(&s).unwrap());
        assert_eq!(plan.score.covered_hosts, 0);
        assert_eq!(plan.upper_bound, 0);
        assert_eq!(plan.score.active_hosts, 1, "{:?}", plan.assignment);
        assert_eq!(plan.score.migrations, 2);
    }

    #[test]
    fn a_host_that_cannot_be_emptied_because_of_a_pinned_instance_stays_below_target() {
        let mut s = spec(hosts(2), vec![inst(0, 9.0, 60.0, Some(0)), inst(1, 2.0, 5.0, Some(1))]);
        s.instances[1].migratable = false;
        let plan = plan(&Problem::new(&s).unwrap());
        assert_eq!(plan.hosts[1].reason, HostReason::BelowTarget);
        assert_eq!(plan.hosts[0].reason, HostReason::Covered);
        assert_eq!(plan.score.active_hosts, 2);
    }
}
