//! Migration ordering: a sequence of live migrations and first placements that never
//! overcommits a host nor breaks an anti-affinity group at any intermediate step.
//!
//! Semantics: the steps run one after another; a migrating instance occupies its source and its
//! destination until the migration completes, so a step may start only when the destination has
//! room for it with everything already there (including instances still waiting to leave).
//! Moves out of hosts over their limits go first. When no pending move can start (a cycle, e.g.
//! two full hosts swapping instances), one instance is staged through a third host with room if
//! the migration budget allows the extra step; otherwise the moves left are dropped, their
//! instances stay where they are, and the plan names them ([`crate::plan::StayReason::NoSafeOrder`]).

use crate::fleet::Problem;
use crate::plan::{Move, Placement};
use std::collections::HashMap;

/// Slack for comparisons of sums of floats against limits.
const EPS: f64 = 1e-9;

/// An ordered sequence and the arrangement it reaches.
#[derive(Clone, Debug)]
pub struct Sequenced {
    /// Live migrations, in order (first placements are interleaved by index in `placements`).
    pub moves: Vec<Move>,
    /// First placements, in order.
    pub placements: Vec<Placement>,
    /// The arrangement after every step: the target, except for dropped moves.
    pub assignment: Vec<Option<usize>>,
    /// Instances whose planned move was dropped.
    pub reverted: Vec<usize>,
}

struct Occupancy<'p> {
    p: &'p Problem,
    n_res: usize,
    used: Vec<f64>,
    heat: Vec<f64>,
    groups: HashMap<(usize, usize), u32>,
}

impl Occupancy<'_> {
    fn add(&mut self, i: usize, h: usize) {
        for r in 0..self.n_res {
            self.used[h * self.n_res + r] += self.p.request[i][r];
        }
        self.heat[h] += self.p.heat_w[i];
        if let Some(g) = self.p.group[i] {
            *self.groups.entry((g, h)).or_insert(0) += 1;
        }
    }

    fn remove(&mut self, i: usize, h: usize) {
        for r in 0..self.n_res {
            self.used[h * self.n_res + r] -= self.p.request[i][r];
        }
        self.heat[h] -= self.p.heat_w[i];
        if let Some(g) = self.p.group[i] {
            if let Some(c) = self.groups.get_mut(&(g, h)) {
                *c -= 1;
            }
        }
    }

    fn fits(&self, i: usize, h: usize) -> bool {
        let p = self.p;
        (0..self.n_res)
            .all(|r| self.used[h * self.n_res + r] + p.request[i][r] <= p.usable[h][r] + EPS)
            && p.idle_w[h] + self.heat[h] + p.heat_w[i] <= p.limit_w[h] + EPS
            && p.group[i].is_none_or(|g| self.groups.get(&(g, h)).is_none_or(|&c| c == 0))
    }

    fn over(&self, h: usize) -> bool {
        let p = self.p;
        (0..self.n_res).any(|r| self.used[h * self.n_res + r] > p.usable[h][r] + EPS)
            || p.idle_w[h] + self.heat[h] > p.limit_w[h] + EPS
    }
}

/// Orders the steps from the problem's current arrangement to `target`.
pub fn order(p: &Problem, target: &[Option<usize>]) -> Sequenced {
    let n_res = p.n_resources();
    let mut occ = Occupancy {
        p,
        n_res,
        used: vec![0.0; p.n_hosts() * n_res],
        heat: vec![0.0; p.n_hosts()],
        groups: HashMap::new(),
    };
    let mut at: Vec<Option<usize>> = p.current.clone();
    for (i, h) in p.current.iter().enumerate() {
        if let Some(h) = *h {
            occ.add(i, h);
        }
    }
    // Pending steps: (instance, destination); moves out of over-limit hosts first.
    let mut pending: Vec<(usize, usize)> = (0..p.n_instances())
        .filter_map(|i| match target[i] {
            Some(t) if Some(t) != p.current[i] => Some((i, t)),
            _ => None,
        })
        .collect();
    let over_at_start: Vec<bool> = (0..p.n_hosts()).map(|h| occ.over(h)).collect();
    pending.sort_by_key(|&(i, _)| (!p.current[i].is_some_and(|h| over_at_start[h]), i));

    let mut moves = Vec::new();
    let mut placements = Vec::new();
    let mut staged = 0usize;
    while !pending.is_empty() {
        let mut progressed = false;
        let mut k = 0;
        while k < pending.len() {
            let (i, t) = pending[k];
            if occ.fits(i, t) {
                occ.add(i, t);
                match at[i] {
                    Some(from) => {
                        occ.remove(i, from);
                        moves.push(Move { instance: i, from, to: t, memory_mib: p.memory_mib[i] });
                    }
                    None => placements.push(Placement { instance: i, host: t }),
                }
                at[i] = Some(t);
                pending.remove(k);
                progressed = true;
            } else {
                k += 1;
            }
        }
        if progressed {
            continue;
        }
        // Deadlock: stage one instance through a third host, within the budget.
        let planned = moves.len() + pending.iter().filter(|(i, _)| at[*i].is_some()).count();
        let stage = if planned < p.budget {
            pending.iter().enumerate().find_map(|(k, &(i, t))| {
                let from = at[i]?;
                (0..p.n_hosts())
                    .find(|&s| s != from && s != t && occ.fits(i, s))
                    .map(|s| (k, i, from, s))
            })
        } else {
            None
        };
        match stage {
            Some((_, i, from, s)) => {
                occ.add(i, s);
                occ.remove(i, from);
                moves.push(Move { instance: i, from, to: s, memory_mib: p.memory_mib[i] });
                at[i] = Some(s);
                staged += 1;
            }
            None => break,
        }
        if staged > p.n_instances() {
            break;
        }
    }
    let reverted: Vec<usize> = pending.iter().map(|&(i, _)| i).collect();
    Sequenced { moves, placements, assignment: at, reverted }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::{FleetSpec, HostSpec, InstanceSpec, PolicySpec, PowerState};

    fn fleet(caps: &[f64], insts: &[(f64, Option<&str>)]) -> FleetSpec {
        FleetSpec {
            resources: vec!["cpu".into()],
            hosts: caps
                .iter()
                .enumerate()
                .map(|(k, &c)| HostSpec {
                    id: format!("h{k}"),
                    capacity: vec![c],
                    idle_w: 0.0,
                    target_heat_w: 0.0,
                    thermal_limit_w: None,
                    power: PowerState::On,
                })
                .collect(),
            instances: insts
                .iter()
                .enumerate()
                .map(|(k, &(q, h))| InstanceSpec {
                    id: format!("i{k}"),
                    request: vec![q],
                    heat_w: q,
                    memory_mib: 10.0,
                    host: h.map(Into::into),
                    migratable: true,
                    anti_affinity: None,
                    since_move_s: None,
                })
                .collect(),
            policy: PolicySpec::default(),
        }
    }

    #[test]
    fn a_move_waits_until_its_destination_is_vacated() {
        // i0: h0 → h1 needs i1 to leave h1 first (h1 is full), i1: h1 → h2.
        let spec = fleet(&[10.0, 10.0, 10.0], &[(6.0, Some("h0")), (6.0, Some("h1"))]);
        let p = Problem::new(&spec).unwrap();
        let seq = order(&p, &[Some(1), Some(2)]);
        let order: Vec<(usize, usize, usize)> =
            seq.moves.iter().map(|m| (m.instance, m.from, m.to)).collect();
        assert_eq!(order, vec![(1, 1, 2), (0, 0, 1)]);
        assert_eq!(seq.assignment, vec![Some(1), Some(2)]);
        assert!(seq.reverted.is_empty());
    }

    #[test]
    fn a_swap_is_staged_through_a_host_with_room_or_dropped_without_one() {
        let spec = fleet(&[10.0, 10.0, 10.0], &[(6.0, Some("h0")), (6.0, Some("h1"))]);
        let p = Problem::new(&spec).unwrap();
        let seq = order(&p, &[Some(1), Some(0)]);
        assert_eq!(seq.moves.len(), 3, "{:?}", seq.moves);
        assert_eq!(seq.moves[0].to, 2, "staged on the empty host");
        assert_eq!(seq.assignment, vec![Some(1), Some(0)]);

        let tight = fleet(&[10.0, 10.0], &[(6.0, Some("h0")), (6.0, Some("h1"))]);
        let p = Problem::new(&tight).unwrap();
        let seq = order(&p, &[Some(1), Some(0)]);
        assert!(seq.moves.is_empty());
        assert_eq!(seq.reverted, vec![0, 1]);
        assert_eq!(seq.assignment, vec![Some(0), Some(1)], "dropped moves stay home");
    }
}
