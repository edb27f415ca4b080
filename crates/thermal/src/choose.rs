//! The power-down set (seed 002: "whether powering down a set of host server computers meets or
//! exceeds the projection"): the set of hosts whose heat relief covers the required heat at the
//! least total cost, a 0/1 minimum-cost covering knapsack, solved exactly in two stages.
//!
//! **1. Dynamic programming over quantized heat** gives a feasible incumbent. Each host's relief
//! is rounded *down* to whole quanta and the requirement *up*, so every set the table calls
//! covering covers in watts too. The quantum is the policy's `heat_quantum_w`, coarsened to
//! `required / max_units` when the requirement would need more than `max_units` cells. `best[u]`
//! is the least cost of a set covering at least `u` quanta (capped at the requirement R), updated
//! item by item in descending `u`; a bit per (item, u) records a strict improvement, and the set
//! is read back from `u = R`. Time and memory O(n · R). This set is optimal for the quantized
//! problem, but may miss a cheaper set that covers only thanks to the rounded-off watts.
//!
//! **2. Branch and bound over the real values** then proves the incumbent optimal or improves
//! it: items in ascending cost per watt, include-first depth-first search, pruned when the
//! remaining items cannot cover the rest, and by the LP relaxation's bound (the fractional
//! greedy cover, exact for the relaxation of a covering knapsack) against the incumbent. After
//! [`NODE_LIMIT`] nodes it stops and returns the best set found (never worse than the DP's), with
//! `proven_optimal = false`; the audit record carries the flag.
//!
//! **Infeasible.** When even every host together does not cover the requirement, the answer is
//! every host (with `met = false`): the feedback loop then goes on with what is left.
//!
//! **Management last.** [`choose`] solves among non-management hosts first; only if all of them
//! together fall short does it add the cheapest management hosts that cover the rest.

use serde::{Deserialize, Serialize};

/// One candidate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Item {
    /// Cost of powering it down (≥ 0).
    pub cost: f64,
    /// Heat relief for the event zone, W (≥ 0).
    pub heat_w: f64,
    /// A management host (hard rule: last resort).
    pub management: bool,
}

/// The chosen set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// Indices into the items, ascending.
    pub chosen: Vec<usize>,
    /// Their total cost.
    #[serde(deserialize_with = "crate::float::lenient")]
    pub cost: f64,
    /// Their total relief, W.
    #[serde(deserialize_with = "crate::float::lenient")]
    pub heat_w: f64,
    /// Whether the relief covers the requirement.
    pub met: bool,
    /// The quantum used by the incumbent's table, W.
    #[serde(deserialize_with = "crate::float::lenient")]
    pub quantum_w: f64,
    /// The branch and bound finished within its node limit: no cheaper covering set exists.
    pub proven_optimal: bool,
}

/// Most nodes the branch and bound visits before settling for the best set found.
pub const NODE_LIMIT: usize = 200_000;

fn summarize(
    items: &[Item],
    mut chosen: Vec<usize>,
    required_w: f64,
    quantum_w: f64,
    proven_optimal: bool,
) -> Choice {
    chosen.sort_unstable();
    let cost = chosen.iter().map(|&i| items[i].cost).sum();
    let heat_w: f64 = chosen.iter().map(|&i| items[i].heat_w).sum();
    Choice { chosen, cost, heat_w, met: heat_w >= required_w, quantum_w, proven_optimal }
}

const EPS: f64 = 1e-12;

/// The depth-first search of stage 2.
struct Search<'a> {
    items: &'a [Item],
    /// Indices with positive relief, ascending cost per watt.
    order: Vec<usize>,
    /// `suffix_heat[k]`: relief of `order[k..]`.
    suffix_heat: Vec<f64>,
    required_w: f64,
    best_cost: f64,
    best: Vec<usize>,
    current: Vec<usize>,
    nodes: usize,
    aborted: bool,
}

impl Search<'_> {
    /// The LP bound: cover `need_w` from `order[k..]` greedily, the last item fractionally.
    fn fractional(&self, k: usize, mut need_w: f64) -> f64 {
        let mut cost = 0.0;
        for &i in &self.order[k..] {
            let item = &self.items[i];
            if item.heat_w >= need_w {
                return cost + item.cost * need_w / item.heat_w;
            }
            cost += item.cost;
            need_w -= item.heat_w;
        }
        f64::INFINITY
    }

    fn dfs(&mut self, k: usize, cost: f64, heat_w: f64) {
        if self.nodes >= NODE_LIMIT {
            self.aborted = true;
            return;
        }
        self.nodes += 1;
        if heat_w >= self.required_w {
            if cost < self.best_cost - EPS {
                self.best_cost = cost;
                self.best = self.current.clone();
            }
            return;
        }
        if k == self.order.len() || heat_w + self.suffix_heat[k] < self.required_w {
            return;
        }
        if cost + self.fractional(k, self.required_w - heat_w) >= self.best_cost - EPS {
            return;
        }
        let i = self.order[k];
        let item = self.items[i];
        self.current.push(i);
        self.dfs(k + 1, cost + item.cost, heat_w + item.heat_w);
        self.current.pop();
        self.dfs(k + 1, cost, heat_w);
    }
}

fn branch_and_bound(items: &[Item], required_w: f64, incumbent: Vec<usize>) -> (Vec<usize>, bool) {
    let mut order: Vec<usize> = (0..items.len()).filter(|&i| items[i].heat_w > 0.0).collect();
    order.sort_by(|&a, &b| {
        let ra = items[a].cost / items[a].heat_w;
        let rb = items[b].cost / items[b].heat_w;
        ra.total_cmp(&rb).then(a.cmp(&b))
    });
    let mut suffix_heat = vec![0.0; order.len() + 1];
    for k in (0..order.len()).rev() {
        suffix_heat[k] = suffix_heat[k + 1] + items[order[k]].heat_w;
    }
    let inc_heat: f64 = incumbent.iter().map(|&i| items[i].heat_w).sum();
    let best_cost = if inc_heat >= required_w {
        incumbent.iter().map(|&i| items[i].cost).sum()
    } else {
        f64::INFINITY
    };
    let mut search = Search {
        items,
        order,
        suffix_heat,
        required_w,
        best_cost,
        best: incumbent,
        current: Vec::new(),
        nodes: 0,
        aborted: false,
    };
    search.dfs(0, 0.0, 0.0);
    (search.best, !search.aborted)
}

/// The least-cost subset of `items` whose relief covers `required_w` (module doc), ignoring the
/// management flag.
pub fn min_cost_cover(items: &[Item], required_w: f64, quantum_w: f64, max_units: usize) -> Choice {
    if required_w <= 0.0 {
        return summarize(items, Vec::new(), required_w, quantum_w, true);
    }
    let total_w: f64 = items.iter().map(|i| i.heat_w.max(0.0)).sum();
    if total_w < required_w {
        let all = (0..items.len()).filter(|&i| items[i].heat_w > 0.0).collect();
        return summarize(items, all, required_w, quantum_w, true);
    }
    let (incumbent, quantum_w) = quantized_cover(items, required_w, quantum_w, max_units);
    let (chosen, proven) = branch_and_bound(items, required_w, incumbent);
    summarize(items, chosen, required_w, quantum_w, proven)
}

/// Stage 1 (module doc): the least-cost cover of the quantized problem, or every item with
/// positive relief when the quantized problem has none; and the quantum used.
fn quantized_cover(
    items: &[Item],
    required_w: f64,
    quantum_w: f64,
    max_units: usize,
) -> (Vec<usize>, f64) {
    let quantum_w = quantum_w.max(required_w / max_units.max(1) as f64);
    // A tiny tolerance keeps exact multiples exact despite floating-point division.
    let need = ((required_w / quantum_w) - 1e-9).ceil().max(1.0) as usize;
    let units: Vec<usize> =
        items.iter().map(|i| ((i.heat_w.max(0.0) / quantum_w) + 1e-9).floor() as usize).collect();
    if units.iter().sum::<usize>() < need {
        return ((0..items.len()).filter(|&i| items[i].heat_w > 0.0).collect(), quantum_w);
    }
    let mut best = vec![f64::INFINITY; need + 1];
    best[0] = 0.0;
    let mut took = vec![false; items.len() * (need + 1)];
    for (idx, item) in items.iter().enumerate() {
        let w = units[idx];
        if w == 0 {
            continue;
        }
        let cost = item.cost.max(0.0);
        for u in (1..=need).rev() {
            let from = best[u.saturating_sub(w)];
            if from + cost < best[u] {
                best[u] = from + cost;
                took[idx * (need + 1) + u] = true;
            }
        }
    }
    let mut chosen = Vec::new();
    let mut u = need;
    for idx in (0..items.len()).rev() {
        if u == 0 {
            break;
        }
        if took[idx * (need + 1) + u] {
            chosen.push(idx);
            u = u.saturating_sub(units[idx]);
        }
    }
    (chosen, quantum_w)
}

/// The least-cost covering set with management hosts as a last resort (module doc).
pub fn choose(items: &[Item], required_w: f64, quantum_w: f64, max_units: usize) -> Choice {
    let (plain, mgmt): (Vec<usize>, Vec<usize>) =
        (0..items.len()).partition(|&i| !items[i].management);
    let plain_items: Vec<Item> = plain.iter().map(|&i| items[i]).collect();
    let plain_heat: f64 = plain_items.iter().map(|i| i.heat_w).sum();
    if plain_heat >= required_w || mgmt.is_empty() {
        let c = min_cost_cover(&plain_items, required_w, quantum_w, max_units);
        let chosen = c.chosen.iter().map(|&i| plain[i]).collect();
        return summarize(items, chosen, required_w, c.quantum_w, c.proven_optimal);
    }
    let mgmt_items: Vec<Item> = mgmt.iter().map(|&i| items[i]).collect();
    let c = min_cost_cover(&mgmt_items, required_w - plain_heat, quantum_w, max_units);
    let mut chosen: Vec<usize> = plain.iter().copied().filter(|&i| items[i].heat_w > 0.0).collect();
    chosen.extend(c.chosen.iter().map(|&i| mgmt[i]));
    summarize(items, chosen, required_w, c.quantum_w, c.proven_optimal)
}

/// Reference solver for tests: the least total cost over all 2^n subsets that cover
/// `required_w` (ties: the first subset in binary order), or `None` if none does. Exponential;
/// use only on a handful of items.
pub fn brute_force(items: &[Item], required_w: f64) -> Option<(Vec<usize>, f64)> {
    let n = items.len();
    let mut best: Option<(Vec<usize>, f64)> = None;
    for mask in 0u64..(1u64 << n) {
        let set: Vec<usize> = (0..n).filter(|&i| mask & (1 << i) != 0).collect();
        let heat: f64 = set.iter().map(|&i| items[i].heat_w).sum();
        if heat < required_w {
            continue;
        }
        let cost: f64 = set.iter().map(|&i| items[i].cost).sum();
        if best.as_ref().is_none_or(|(_, c)| cost < *c) {
            best = Some((set, cost));
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::rand::SplitMix64;

    fn item(cost: f64, heat_w: f64) -> Item {
        Item { cost, heat_w, management: false }
    }

    #[test]
    fn beats_greedy_by_ratio() {
        // Greedy by cost per watt takes the 1-cost/100 W host then needs the 10-cost host;
        // the optimum is the two 3-cost hosts.
        let items = [item(1.0, 100.0), item(10.0, 500.0), item(3.0, 300.0), item(3.0, 300.0)];
        let c = min_cost_cover(&items, 600.0, 10.0, 20_000);
        assert_eq!(c.chosen, vec![2, 3]);
        assert!(c.met);
        assert_eq!(c.cost, 6.0);
    }

    #[test]
    fn nothing_required_chooses_nothing() {
        let c = min_cost_cover(&[item(1.0, 100.0)], 0.0, 10.0, 100);
        assert!(c.chosen.is_empty() && c.met);
    }

    #[test]
    fn infeasible_takes_everything() {
        let items = [item(1.0, 100.0), item(2.0, 0.0), item(1.0, 50.0)];
        let c = min_cost_cover(&items, 1000.0, 10.0, 20_000);
        assert_eq!(c.chosen, vec![0, 2]);
        assert!(!c.met);
    }

    #[test]
    fn management_only_when_the_rest_falls_short() {
        let mut items = [item(5.0, 300.0), item(0.0, 300.0), item(1.0, 300.0)];
        items[1].management = true;
        // Cheapest would be {1, 2}, but management goes last.
        let c = choose(&items, 500.0, 10.0, 20_000);
        assert_eq!(c.chosen, vec![0, 2]);
        // All plain hosts fall short: both, plus the management host.
        let c = choose(&items, 900.0, 10.0, 20_000);
        assert_eq!(c.chosen, vec![0, 1, 2]);
        assert!(c.met);
    }

    #[test]
    fn coarsens_the_quantum_for_large_requirements() {
        let items: Vec<Item> = (0..50).map(|i| item(f64::from(i % 7), 1000.0)).collect();
        let c = min_cost_cover(&items, 20_000.0, 1.0, 100);
        assert_eq!(c.quantum_w, 200.0);
        assert!(c.met);
        assert_eq!(c.chosen.len(), 20);
    }

    #[test]
    fn matches_brute_force_on_random_instances() {
        // Heats are multiples of the quantum, so quantization is exact and the optimal costs
        // must agree; the DP's set must itself cover.
        let mut rng = SplitMix64::new(0x002);
        for case in 0..400 {
            let n = 1 + rng.below(12);
            let items: Vec<Item> = (0..n)
                .map(|_| item((rng.below(100) as f64) / 10.0, (1 + rng.below(40)) as f64 * 10.0))
                .collect();
            let total: f64 = items.iter().map(|i| i.heat_w).sum();
            let required = (rng.unit() * total * 1.1).floor();
            let dp = min_cost_cover(&items, required, 10.0, 20_000);
            match brute_force(&items, required) {
                Some((_, cost)) => {
                    assert!(dp.met, "case {case}: DP missed a feasible cover");
                    assert!((dp.cost - cost).abs() < 1e-9, "case {case}: {} vs {cost}", dp.cost);
                }
                None => assert!(!dp.met, "case {case}: DP claims an impossible cover"),
            }
        }
    }

    #[test]
    fn off_quantum_heats_are_still_exact() {
        // Arbitrary real heats and costs: the quantized table alone could miss covers that rely
        // on rounded-off watts; the branch and bound must match brute force exactly.
        let mut rng = SplitMix64::new(7);
        for case in 0..300 {
            let n = 1 + rng.below(12);
            let items: Vec<Item> =
                (0..n).map(|_| item(rng.uniform(0.0, 5.0), rng.uniform(5.0, 400.0))).collect();
            let total: f64 = items.iter().map(|i| i.heat_w).sum();
            let required = rng.unit() * total;
            let c = min_cost_cover(&items, required, 50.0, 20_000);
            assert!(c.proven_optimal, "case {case}");
            let (_, cost) = brute_force(&items, required).expect("required ≤ total");
            assert!(c.heat_w >= required, "case {case}");
            assert!((c.cost - cost).abs() < 1e-9, "case {case}: {} vs {cost}", c.cost);
        }
    }

    #[test]
    fn the_rounded_off_watts_count() {
        // 140 + 100 + 25 W covers 265 W exactly; 25 W floors to 20 W in 10 W quanta.
        let items = [
            item(2.0, 140.0),
            item(2.0, 120.0),
            item(0.5, 100.0),
            item(2.0, 120.0),
            item(0.1, 25.0),
        ];
        let c = min_cost_cover(&items, 265.0, 10.0, 20_000);
        assert_eq!(c.chosen, vec![0, 2, 4]);
        assert!((c.cost - 2.6).abs() < 1e-12);
    }
}
