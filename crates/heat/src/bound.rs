//! The upper bound on how many hosts can reach their target (objective 2), reported with every
//! plan: no arrangement covers more.
//!
//! A host is *coverable* when its target is within its thermal limit and the most instance heat
//! it could carry reaches its need (target − idle): per resource, a fractional knapsack of the
//! instances by heat per unit of that resource, filled to the host's usable capacity, and the
//! least of these over the resources, capped by the thermal limit. A covered host needs at least
//! one instance and its need in instance heat, so no arrangement covers more than the largest
//! `k` such that `k` ≤ instances and the `k` smallest needs among coverable hosts sum to at most
//! the instances' total heat. With idle power counted towards the target this is at least as
//! tight as min(hosts, ⌊total heat / target⌋) for a uniform fleet.

use crate::fleet::Problem;
use std::collections::HashMap;

/// Upper bound on the number of hosts any feasible arrangement brings to target.
pub fn covered_hosts(p: &Problem) -> usize {
    let n_res = p.n_resources();
    let total_w: f64 = p.heat_w.iter().sum();
    // Instances by heat density per resource, densest first (zero requests first).
    let by_density: Vec<Vec<usize>> = (0..n_res)
        .map(|r| {
            let mut order: Vec<usize> =
                (0..p.n_instances()).filter(|&i| p.heat_w[i] > 0.0).collect();
            order.sort_by(|&a, &b| {
                let da = density(p.heat_w[a], p.request[a][r]);
                let db = density(p.heat_w[b], p.request[b][r]);
                db.total_cmp(&da).then(a.cmp(&b))
            });
            order
        })
        .collect();
    let smallest_request: Vec<f64> =
        (0..n_res).map(|r| p.request.iter().map(|q| q[r]).fold(f64::INFINITY, f64::min)).collect();

    // Hosts with the same capacities share the knapsack result.
    let mut cache: HashMap<Vec<u64>, f64> = HashMap::new();
    let mut needs: Vec<f64> = Vec::new();
    for h in 0..p.n_hosts() {
        if p.n_instances() == 0 || !p.has_target(h) || p.target_w[h] > p.limit_w[h] + 1e-9 {
            continue;
        }
        // Some instance must fit at all.
        if (0..n_res).any(|r| smallest_request[r] > p.usable[h][r] + 1e-9) {
            continue;
        }
        let need = p.need_w(h);
        let key: Vec<u64> = p.usable[h].iter().map(|c| c.to_bits()).collect();
        let carry = *cache.entry(key).or_insert_with(|| {
            (0..n_res)
                .map(|r| knapsack(p, &by_density[r], r, p.usable[h][r]))
                .fold(f64::INFINITY, f64::min)
        });
        if carry.min(p.heat_room_w(h)).min(total_w) + 1e-9 >= need {
            needs.push(need);
        }
    }
    needs.sort_by(f64::total_cmp);
    let mut sum = 0.0;
    let mut k = 0;
    for need in needs {
        if k >= p.n_instances() || sum + need > total_w + 1e-6 {
            break;
        }
        sum += need;
        k += 1;
    }
    k
}

fn density(heat_w: f64, request: f64) -> f64 {
    if request <= 0.0 {
        f64::INFINITY
    } else {
        heat_w / request
    }
}

/// Most heat that fits in `cap` of resource `r`, fractionally.
fn knapsack(p: &Problem, order: &[usize], r: usize, cap: f64) -> f64 {
    let mut left = cap;
    let mut heat = 0.0;
    for &i in order {
        let q = p.request[i][r];
        if q <= left {
            left -= q;
            heat += p.heat_w[i];
        } else {
            heat += p.heat_w[i] * left / q;
            break;
        }
    }
    heat
}
