//! The planner's input: hosts, instances, the current arrangement and the policy, first as plain
//! serde data ([`FleetSpec`], what a fleet file holds) and then lifted into a validated, indexed
//! [`Problem`] whose invariants the planner relies on.
//!
//! Heat model (docs/planner.md): a powered host gives off its idle power plus the heat of the
//! instances it runs; an instance's `heat_w` is the dynamic power it adds to whichever host runs
//! it (the estimator's attribution rule). A host reaches its target when it has one (a target
//! of 0 W means no heat-recovery loop is attached: nothing to reach), runs at least one instance,
//! and that sum is at least its `target_heat_w`; an empty host's idle power is waste, never
//! harvest.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Power state of a host as the planner sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PowerState {
    /// Powered and able to run instances.
    #[default]
    On,
    /// In an energy-saving state (suspended); it must be woken before it runs anything.
    Saving,
    /// Powered off.
    Off,
}

impl PowerState {
    /// The name used in fleet files and plans.
    pub fn name(self) -> &'static str {
        match self {
            PowerState::On => "on",
            PowerState::Saving => "saving",
            PowerState::Off => "off",
        }
    }
}

/// One host as a fleet file describes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    /// Unique name.
    pub id: String,
    /// Capacity per resource, in the order of [`FleetSpec::resources`].
    pub capacity: Vec<f64>,
    /// Power drawn when on and idle (W); it counts towards the host's heat while it runs anything.
    #[serde(default)]
    pub idle_w: f64,
    /// Target minimum heat rate (W): the heat-recovery loop harvests this host only at or above it.
    #[serde(default)]
    pub target_heat_w: f64,
    /// Thermal limit (W): the host's heat (idle plus instances) must not exceed it. Absent means
    /// no limit.
    #[serde(default)]
    pub thermal_limit_w: Option<f64>,
    /// Current power state.
    #[serde(default)]
    pub power: PowerState,
}

/// One instance (VM, container or task) as a fleet file describes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceSpec {
    /// Unique name.
    pub id: String,
    /// Request per resource, in the order of [`FleetSpec::resources`].
    pub request: Vec<f64>,
    /// Estimated heat rate (W): the dynamic power the instance adds to the host that runs it.
    pub heat_w: f64,
    /// Memory moved by a live migration (MiB): the migration cost.
    #[serde(default)]
    pub memory_mib: f64,
    /// The host it runs on now; absent for an instance not yet placed.
    #[serde(default)]
    pub host: Option<String>,
    /// Whether it may be live-migrated (pinned instances stay where they are).
    #[serde(default = "yes")]
    pub migratable: bool,
    /// Anti-affinity (redundancy) group: no two members may share a host, ever.
    #[serde(default)]
    pub anti_affinity: Option<String>,
    /// Seconds since it last moved; absent means long ago.
    #[serde(default)]
    pub since_move_s: Option<f64>,
}

fn yes() -> bool {
    true
}

/// Planner policy: how much to leave free, how much to move.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    /// Fraction of each resource's capacity kept free, in the order of the resources; missing
    /// entries are 0.
    #[serde(default)]
    pub headroom: Vec<f64>,
    /// Most migrations per plan; absent means no limit.
    #[serde(default)]
    pub migration_budget: Option<usize>,
    /// Minimum seconds an instance stays put after a move before it may move again.
    #[serde(default)]
    pub min_dwell_s: f64,
    /// Empty hosts to keep powered as spares.
    #[serde(default)]
    pub spare_hosts: usize,
}

impl Default for PolicySpec {
    fn default() -> Self {
        PolicySpec {
            headroom: Vec::new(),
            migration_budget: None,
            min_dwell_s: 0.0,
            spare_hosts: 0,
        }
    }
}

/// A whole fleet: what `hearth plan --fleet FILE` reads (docs/planner.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetSpec {
    /// Resource names, e.g. `["cpu", "memory"]`; capacities and requests follow this order.
    pub resources: Vec<String>,
    /// Hosts.
    pub hosts: Vec<HostSpec>,
    /// Instances, with their current hosts.
    #[serde(default)]
    pub instances: Vec<InstanceSpec>,
    /// Planner policy.
    #[serde(default)]
    pub policy: PolicySpec,
}

/// Why a fleet was refused. Each message names the host, instance or field at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FleetError {
    /// No resources were named.
    #[error("the fleet names no resources; give at least one (e.g. resources = [\"cpu\"])")]
    NoResources,
    /// Two hosts or two instances share an id.
    #[error("duplicate {kind} id `{id}`")]
    DuplicateId {
        /// `host` or `instance`.
        kind: &'static str,
        /// The repeated id.
        id: String,
    },
    /// A capacity or request vector has the wrong length.
    #[error("{kind} `{id}`: {field} has {got} values but the fleet names {want} resources")]
    WrongLength {
        /// `host` or `instance`.
        kind: &'static str,
        /// Its id.
        id: String,
        /// `capacity` or `request`.
        field: &'static str,
        /// Values given.
        got: usize,
        /// Resources named.
        want: usize,
    },
    /// A number is negative, NaN or infinite.
    #[error("{kind} `{id}`: {field} is {value}; expected a finite number ≥ 0")]
    BadNumber {
        /// `host`, `instance` or `policy`.
        kind: &'static str,
        /// Its id (empty for the policy).
        id: String,
        /// Which field (with the resource name for vectors).
        field: String,
        /// The offending value.
        value: f64,
    },
    /// A headroom fraction is outside [0, 1).
    #[error("policy: headroom for `{resource}` is {value}; expected a fraction in [0, 1)")]
    BadHeadroom {
        /// The resource.
        resource: String,
        /// The offending value.
        value: f64,
    },
    /// The policy gives more headroom values than resources.
    #[error("policy: headroom has {got} values but the fleet names {want} resources")]
    HeadroomLength {
        /// Values given.
        got: usize,
        /// Resources named.
        want: usize,
    },
    /// An instance names a host that does not exist.
    #[error("instance `{instance}` runs on unknown host `{host}`")]
    UnknownHost {
        /// The instance.
        instance: String,
        /// The host it names.
        host: String,
    },
    /// An instance is on a host that is not powered on.
    #[error("instance `{instance}` runs on host `{host}`, which is {state}; only a host that is on runs instances")]
    HostNotOn {
        /// The instance.
        instance: String,
        /// The host.
        host: String,
        /// Its power state.
        state: &'static str,
    },
    /// An instance fits on no host even when that host is empty.
    #[error("instance `{instance}` fits on no host: its {resource} request {request} exceeds every host's usable {resource} (largest {largest} after headroom)")]
    TooLarge {
        /// The instance.
        instance: String,
        /// The resource that does not fit.
        resource: String,
        /// The request.
        request: f64,
        /// The largest usable capacity of that resource on any host.
        largest: f64,
    },
    /// Every resource of an instance fits some host, but no host fits all of them together.
    #[error("instance `{instance}` fits on no host: no single host has room for all its requests together (each resource alone fits somewhere)")]
    FitsNoSingleHost {
        /// The instance.
        instance: String,
    },
    /// An instance's heat alone exceeds every host's thermal limit.
    #[error("instance `{instance}` ({heat_w} W) exceeds every host's thermal limit once the host's idle power is added")]
    TooHot {
        /// The instance.
        instance: String,
        /// Its heat.
        heat_w: f64,
    },
    /// A pinned instance is not placed anywhere.
    #[error("instance `{instance}` is not migratable but has no host; a pinned instance must name its host")]
    PinnedUnplaced {
        /// The instance.
        instance: String,
    },
}

/// A validated fleet, indexed: hosts and instances by position, usable capacities computed,
/// anti-affinity groups numbered. Built only by [`Problem::new`], so every index is in range,
/// every number finite and non-negative, and every instance fits some empty host.
#[derive(Clone, Debug)]
pub struct Problem {
    /// Resource names.
    pub resources: Vec<String>,
    /// Host ids.
    pub host_ids: Vec<String>,
    /// Usable capacity per host and resource: capacity × (1 − headroom).
    pub usable: Vec<Vec<f64>>,
    /// Idle power per host (W).
    pub idle_w: Vec<f64>,
    /// Target minimum heat rate per host (W).
    pub target_w: Vec<f64>,
    /// Thermal limit per host (W; infinite when none).
    pub limit_w: Vec<f64>,
    /// Power state per host.
    pub power: Vec<PowerState>,
    /// Instance ids.
    pub instance_ids: Vec<String>,
    /// Request per instance and resource.
    pub request: Vec<Vec<f64>>,
    /// Heat per instance (W).
    pub heat_w: Vec<f64>,
    /// Migration cost per instance (MiB).
    pub memory_mib: Vec<f64>,
    /// Current host per instance.
    pub current: Vec<Option<usize>>,
    /// Whether each instance may move in this plan: migratable and past its dwell time (an
    /// unplaced instance may always be placed).
    pub movable: Vec<bool>,
    /// Why an instance may not move, when it may not.
    pub pinned_why: Vec<Option<Pinned>>,
    /// Anti-affinity group per instance.
    pub group: Vec<Option<usize>>,
    /// Anti-affinity group names, by group index.
    pub group_names: Vec<String>,
    /// Migration budget (moves of already placed instances).
    pub budget: usize,
    /// Empty hosts to keep powered.
    pub spare_hosts: usize,
}

/// Why an instance may not move in this plan.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Pinned {
    /// The instance is marked not migratable.
    NotMigratable,
    /// It moved too recently; it may move again after `remaining_s`.
    Dwell {
        /// Seconds until it may move.
        remaining_s: f64,
    },
}

fn check_number(kind: &'static str, id: &str, field: String, value: f64) -> Result<(), FleetError> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(FleetError::BadNumber { kind, id: id.to_string(), field, value })
    }
}

impl Problem {
    /// Validates `spec` and indexes it.
    pub fn new(spec: &FleetSpec) -> Result<Problem, FleetError> {
        let n_res = spec.resources.len();
        if n_res == 0 {
            return Err(FleetError::NoResources);
        }
        let policy = &spec.policy;
        if policy.headroom.len() > n_res {
            return Err(FleetError::HeadroomLength { got: policy.headroom.len(), want: n_res });
        }
        let mut headroom = vec![0.0; n_res];
        for (r, &h) in policy.headroom.iter().enumerate() {
            if !(h.is_finite() && (0.0..1.0).contains(&h)) {
                return Err(FleetError::BadHeadroom {
                    resource: spec.resources[r].clone(),
                    value: h,
                });
            }
            headroom[r] = h;
        }
        check_number("policy", "", "min_dwell_s".into(), policy.min_dwell_s)?;

        let mut host_index = HashMap::with_capacity(spec.hosts.len());
        let mut usable = Vec::with_capacity(spec.hosts.len());
        for host in &spec.hosts {
            if host_index.insert(host.id.as_str(), usable.len()).is_some() {
                return Err(FleetError::DuplicateId { kind: "host", id: host.id.clone() });
            }
            if host.capacity.len() != n_res {
                return Err(FleetError::WrongLength {
                    kind: "host",
                    id: host.id.clone(),
                    field: "capacity",
                    got: host.capacity.len(),
                    want: n_res,
                });
            }
            for (r, &c) in host.capacity.iter().enumerate() {
                check_number("host", &host.id, format!("capacity.{}", spec.resources[r]), c)?;
            }
            check_number("host", &host.id, "idle_w".into(), host.idle_w)?;
            check_number("host", &host.id, "target_heat_w".into(), host.target_heat_w)?;
            if let Some(limit) = host.thermal_limit_w {
                check_number("host", &host.id, "thermal_limit_w".into(), limit)?;
            }
            usable.push(
                host.capacity.iter().zip(&headroom).map(|(c, h)| c * (1.0 - h)).collect::<Vec<_>>(),
            );
        }
        let limit_w: Vec<f64> =
            spec.hosts.iter().map(|h| h.thermal_limit_w.unwrap_or(f64::INFINITY)).collect();
        let idle_w: Vec<f64> = spec.hosts.iter().map(|h| h.idle_w).collect();

        let mut instance_seen = HashMap::with_capacity(spec.instances.len());
        let mut group_index: HashMap<&str, usize> = HashMap::new();
        let mut group_names = Vec::new();
        let n = spec.instances.len();
        let (mut request, mut heat_w, mut memory_mib, mut current) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let (mut movable, mut pinned_why, mut group) =
            (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
        let coolest_host_w =
            (0..spec.hosts.len()).map(|h| limit_w[h] - idle_w[h]).fold(f64::NEG_INFINITY, f64::max);
        for inst in &spec.instances {
            if instance_seen.insert(inst.id.as_str(), ()).is_some() {
                return Err(FleetError::DuplicateId { kind: "instance", id: inst.id.clone() });
            }
            if inst.request.len() != n_res {
                return Err(FleetError::WrongLength {
                    kind: "instance",
                    id: inst.id.clone(),
                    field: "request",
                    got: inst.request.len(),
                    want: n_res,
                });
            }
            for (r, &q) in inst.request.iter().enumerate() {
                check_number("instance", &inst.id, format!("request.{}", spec.resources[r]), q)?;
            }
            check_number("instance", &inst.id, "heat_w".into(), inst.heat_w)?;
            check_number("instance", &inst.id, "memory_mib".into(), inst.memory_mib)?;
            if let Some(s) = inst.since_move_s {
                check_number("instance", &inst.id, "since_move_s".into(), s)?;
            }
            // Fits some empty host, resource by resource and together.
            let fits_somewhere = usable
                .iter()
                .any(|cap: &Vec<f64>| cap.iter().zip(&inst.request).all(|(c, q)| q <= c));
            if !fits_somewhere {
                let too_large = (0..n_res)
                    .map(|r| {
                        let largest = usable.iter().map(|c| c[r]).fold(0.0, f64::max);
                        (r, inst.request[r], largest)
                    })
                    .find(|(_, q, l)| q > l);
                return Err(match too_large {
                    Some((r, request, largest)) => FleetError::TooLarge {
                        instance: inst.id.clone(),
                        resource: spec.resources[r].clone(),
                        request,
                        largest,
                    },
                    None => FleetError::FitsNoSingleHost { instance: inst.id.clone() },
                });
            }
            if inst.heat_w > coolest_host_w {
                return Err(FleetError::TooHot { instance: inst.id.clone(), heat_w: inst.heat_w });
            }
            let host = match &inst.host {
                None => None,
                Some(name) => {
                    let Some(&h) = host_index.get(name.as_str()) else {
                        return Err(FleetError::UnknownHost {
                            instance: inst.id.clone(),
                            host: name.clone(),
                        });
                    };
                    if spec.hosts[h].power != PowerState::On {
                        return Err(FleetError::HostNotOn {
                            instance: inst.id.clone(),
                            host: name.clone(),
                            state: spec.hosts[h].power.name(),
                        });
                    }
                    Some(h)
                }
            };
            let why = if !inst.migratable {
                if host.is_none() {
                    return Err(FleetError::PinnedUnplaced { instance: inst.id.clone() });
                }
                Some(Pinned::NotMigratable)
            } else {
                match inst.since_move_s {
                    Some(s) if host.is_some() && s < policy.min_dwell_s => {
                        Some(Pinned::Dwell { remaining_s: policy.min_dwell_s - s })
                    }
                    _ => None,
                }
            };
            let g = inst.anti_affinity.as_deref().map(|name| {
                *group_index.entry(name).or_insert_with(|| {
                    group_names.push(name.to_string());
                    group_names.len() - 1
                })
            });
            request.push(inst.request.clone());
            heat_w.push(inst.heat_w);
            memory_mib.push(inst.memory_mib);
            current.push(host);
            movable.push(why.is_none());
            pinned_why.push(why);
            group.push(g);
        }

        Ok(Problem {
            resources: spec.resources.clone(),
            host_ids: spec.hosts.iter().map(|h| h.id.clone()).collect(),
            usable,
            idle_w,
            target_w: spec.hosts.iter().map(|h| h.target_heat_w).collect(),
            limit_w,
            power: spec.hosts.iter().map(|h| h.power).collect(),
            instance_ids: spec.instances.iter().map(|i| i.id.clone()).collect(),
            request,
            heat_w,
            memory_mib,
            current,
            movable,
            pinned_why,
            group,
            group_names,
            budget: policy.migration_budget.unwrap_or(usize::MAX),
            spare_hosts: policy.spare_hosts,
        })
    }

    /// Number of hosts.
    pub fn n_hosts(&self) -> usize {
        self.host_ids.len()
    }

    /// Number of instances.
    pub fn n_instances(&self) -> usize {
        self.instance_ids.len()
    }

    /// Number of resources.
    pub fn n_resources(&self) -> usize {
        self.resources.len()
    }

    /// Dynamic heat host `h` needs from instances to reach its target (≥ 0). A host whose
    /// target is at or below its idle power needs just one instance of any heat.
    pub fn need_w(&self, h: usize) -> f64 {
        (self.target_w[h] - self.idle_w[h]).max(0.0)
    }

    /// Whether host `h` has a target to reach (a heat-recovery loop attached): target > 0 W.
    pub fn has_target(&self, h: usize) -> bool {
        self.target_w[h] > 0.0
    }

    /// Most instance heat host `h` may carry under its thermal limit.
    pub fn heat_room_w(&self, h: usize) -> f64 {
        self.limit_w[h] - self.idle_w[h]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(id: &str, cap: f64) -> HostSpec {
        HostSpec {
            id: id.into(),
            capacity: vec![cap],
            idle_w: 50.0,
            target_heat_w: 100.0,
            thermal_limit_w: None,
            power: PowerState::On,
        }
    }

    fn inst(id: &str, cpu: f64, host: Option<&str>) -> InstanceSpec {
        InstanceSpec {
            id: id.into(),
            request: vec![cpu],
            heat_w: 10.0,
            memory_mib: 100.0,
            host: host.map(Into::into),
            migratable: true,
            anti_affinity: None,
            since_move_s: None,
        }
    }

    fn fleet(hosts: Vec<HostSpec>, instances: Vec<InstanceSpec>) -> FleetSpec {
        FleetSpec { resources: vec!["cpu".into()], hosts, instances, policy: PolicySpec::default() }
    }

    #[test]
    fn bad_fleets_get_errors_that_name_the_culprit() {
        let mut negative = fleet(vec![host("a", -1.0)], vec![]);
        let err = Problem::new(&negative).unwrap_err().to_string();
        assert_eq!(err, "host `a`: capacity.cpu is -1; expected a finite number ≥ 0");
        negative.hosts[0].capacity[0] = f64::NAN;
        assert!(Problem::new(&negative).unwrap_err().to_string().contains("capacity.cpu is NaN"));

        let unknown = fleet(vec![host("a", 10.0)], vec![inst("x", 1.0, Some("b"))]);
        assert_eq!(
            Problem::new(&unknown).unwrap_err().to_string(),
            "instance `x` runs on unknown host `b`"
        );

        let large = fleet(vec![host("a", 10.0), host("b", 12.0)], vec![inst("x", 13.0, None)]);
        assert_eq!(
            Problem::new(&large).unwrap_err().to_string(),
            "instance `x` fits on no host: its cpu request 13 exceeds every host's usable cpu \
             (largest 12 after headroom)"
        );

        let dup = fleet(vec![host("a", 10.0), host("a", 10.0)], vec![]);
        assert_eq!(
            Problem::new(&dup).unwrap_err(),
            FleetError::DuplicateId { kind: "host", id: "a".into() }
        );

        let mut short = fleet(vec![host("a", 10.0)], vec![inst("x", 1.0, None)]);
        short.instances[0].request.push(2.0);
        assert!(Problem::new(&short).unwrap_err().to_string().contains("request has 2 values"));

        let mut off = fleet(vec![host("a", 10.0)], vec![inst("x", 1.0, Some("a"))]);
        off.hosts[0].power = PowerState::Off;
        assert!(Problem::new(&off).unwrap_err().to_string().contains("which is off"));

        let mut headroom = fleet(vec![host("a", 10.0)], vec![]);
        headroom.policy.headroom = vec![1.0];
        assert!(Problem::new(&headroom).unwrap_err().to_string().contains("headroom for `cpu`"));

        let mut split = fleet(vec![host("a", 10.0), host("b", 2.0)], vec![inst("x", 8.0, None)]);
        split.resources.push("memory".into());
        split.hosts[0].capacity.push(1.0);
        split.hosts[1].capacity.push(16.0);
        split.instances[0].request.push(8.0);
        assert_eq!(
            Problem::new(&split).unwrap_err(),
            FleetError::FitsNoSingleHost { instance: "x".into() },
            "cpu fits a, memory fits b, nothing fits both"
        );

        let mut hot = fleet(vec![host("a", 10.0)], vec![inst("x", 1.0, None)]);
        hot.hosts[0].thermal_limit_w = Some(55.0);
        assert!(matches!(Problem::new(&hot).unwrap_err(), FleetError::TooHot { .. }));
    }

    #[test]
    fn dwell_time_and_pinning_decide_who_may_move() {
        let mut spec = fleet(
            vec![host("a", 10.0)],
            vec![inst("x", 1.0, Some("a")), inst("y", 1.0, Some("a")), inst("z", 1.0, None)],
        );
        spec.policy.min_dwell_s = 600.0;
        spec.policy.headroom = vec![0.5];
        spec.instances[0].since_move_s = Some(100.0);
        spec.instances[1].migratable = false;
        spec.instances[2].since_move_s = Some(1.0);
        let p = Problem::new(&spec).unwrap();
        assert_eq!(p.pinned_why[0], Some(Pinned::Dwell { remaining_s: 500.0 }));
        assert_eq!(p.pinned_why[1], Some(Pinned::NotMigratable));
        assert_eq!(p.movable, vec![false, false, true], "an unplaced instance is always placeable");
        assert_eq!(p.usable[0], vec![5.0]);
        assert_eq!(p.need_w(0), 50.0);
    }
}
