//! The thermal twin's physics: a first-order model of each host's temperature and of each cooling
//! zone's air, integrated exactly over a step (closed-form exponentials and straight lines), so
//! any step length is stable and the result does not depend on how a span is cut into steps.
//!
//! **Zone air.** `C_z · dT/dt = Q_heat − Q_removed`, with `Q_heat` the power of the zone's hosts
//! (all of it becomes heat) and `Q_removed` what the working cooling paths take out. The paths
//! (cooling units and the heat-recovery loop) are pooled into one capacity `K` and run an ideal
//! setpoint controller of time constant `τ`: they remove the heat that arrives plus the heat
//! that brings the air back to the setpoint within `τ`,
//!
//! ```text
//! Q_removed = clamp(Q_heat + C_z · (T − T_set) / τ, 0, K)
//! ```
//!
//! While the clamp is inactive the air relaxes to the setpoint, `T − T_set ∝ e^(−t/τ)`, whatever
//! the heat; when the heat exceeds `K` the cooling saturates and the air warms at
//! `(Q_heat − K) / C_z`; cooling never heats (below the setpoint with little heat the air warms
//! at `Q_heat / C_z`). The right-hand side is continuous and decreasing in `T`, so the solution
//! is the concatenation of at most three closed-form pieces.
//!
//! **Host.** `C_h · dT_h/dt = P − (T_h − T_air) / R_h`: heat capacity `C_h`, thermal resistance
//! `R_h` to the inlet air, power `P`. With `P` and `T_air` constant over a step,
//! `T_h → T_air + P·R_h` exponentially with time constant `R_h·C_h`. The runner passes the mean
//! of the zone air at the start and the end of the step.

/// The parameters of a zone's air and cooling.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ZoneAir {
    /// Supply setpoint the cooling holds while it can, °C.
    pub setpoint_c: f64,
    /// Heat capacity of the zone's air and the thermal mass that follows it, J/K.
    pub heat_capacity_j_per_k: f64,
    /// Time constant of the cooling's control loop, s (> 0).
    pub response_s: f64,
}

/// The outcome of one zone step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ZoneStep {
    /// Air temperature at the end of the step, °C.
    pub air_c: f64,
    /// Heat the cooling paths removed over the step, J.
    pub removed_j: f64,
}

impl ZoneAir {
    /// Integrates the air temperature over `dt_s` seconds from `air_c`, with `heat_w` arriving
    /// from the hosts and `cooling_w` of working cooling capacity, both constant over the step.
    ///
    /// Exact for the piecewise-linear law in the module documentation.
    pub fn step(&self, air_c: f64, heat_w: f64, cooling_w: f64, dt_s: f64) -> ZoneStep {
        let c = self.heat_capacity_j_per_k;
        let tau = self.response_s;
        let set = self.setpoint_c;
        let heat = heat_w.max(0.0);
        let cap = cooling_w.max(0.0);
        // Removal saturates at `cap` above `t_hi` and reaches 0 below `t_lo` (t_lo ≤ set).
        let t_hi = set + tau * (cap - heat) / c;
        let t_lo = set - tau * heat / c;
        let mut t = air_c;
        let mut left = dt_s.max(0.0);
        // Each pass either finishes the step or lands exactly on a region boundary and moves to
        // the next region; there are three regions and the flow crosses each boundary at most
        // once, so four passes always suffice.
        for _ in 0..4 {
            if left <= 0.0 {
                break;
            }
            if t > t_hi || (t >= t_hi && heat >= cap) {
                // Saturated: the air changes linearly.
                let rate = (heat - cap) / c;
                if rate >= 0.0 {
                    t += rate * left;
                    left = 0.0;
                } else {
                    let to_edge = (t - t_hi) / -rate;
                    if to_edge >= left {
                        t += rate * left;
                        left = 0.0;
                    } else {
                        t = t_hi;
                        left -= to_edge;
                    }
                }
            } else if t < t_lo {
                // Below what the cooling would ever hold: it is idle and the heat warms the air.
                let rate = heat / c;
                if rate <= 0.0 {
                    left = 0.0;
                } else {
                    let to_edge = (t_lo - t) / rate;
                    if to_edge >= left {
                        t += rate * left;
                        left = 0.0;
                    } else {
                        t = t_lo;
                        left -= to_edge;
                    }
                }
            } else if heat <= cap {
                // Controlled, and the setpoint lies inside the controlled band: plain relaxation,
                // which never leaves the band.
                t = set + (t - set) * (-left / tau).exp();
                left = 0.0;
            } else {
                // Controlled but the heat exceeds the capacity: the air relaxes towards the
                // setpoint, which lies above `t_hi`, so it reaches `t_hi` and saturates.
                let to_edge = tau * ((set - t) / (set - t_hi)).ln();
                if to_edge >= left {
                    t = set + (t - set) * (-left / tau).exp();
                    left = 0.0;
                } else {
                    t = t_hi;
                    left -= to_edge.max(0.0);
                }
            }
        }
        ZoneStep { air_c: t, removed_j: heat * dt_s.max(0.0) - c * (t - air_c) }
    }

    /// The removal rate the law gives at air temperature `air_c`, W (for tests and reports).
    pub fn removal_w(&self, air_c: f64, heat_w: f64, cooling_w: f64) -> f64 {
        let wanted =
            heat_w + self.heat_capacity_j_per_k * (air_c - self.setpoint_c) / self.response_s;
        wanted.clamp(0.0, cooling_w.max(0.0))
    }
}

/// The parameters of a host's first-order thermal model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HostThermal {
    /// Heat capacity, J/K.
    pub heat_capacity_j_per_k: f64,
    /// Thermal resistance to the inlet air, K/W.
    pub resistance_k_per_w: f64,
}

impl HostThermal {
    /// Temperature the host settles at with power `power_w` and inlet air `air_c`, °C.
    pub fn steady_c(&self, power_w: f64, air_c: f64) -> f64 {
        air_c + power_w * self.resistance_k_per_w
    }

    /// Integrates the host's temperature over `dt_s` seconds from `temp_c` with `power_w` and
    /// inlet air `air_c` constant over the step (exact).
    pub fn step(&self, temp_c: f64, power_w: f64, air_c: f64, dt_s: f64) -> f64 {
        let target = self.steady_c(power_w, air_c);
        let tau = self.resistance_k_per_w * self.heat_capacity_j_per_k;
        target + (temp_c - target) * (-dt_s.max(0.0) / tau).exp()
    }
}
