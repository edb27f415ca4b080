//! A tiny world for driving the guard end to end: it applies the guard's actions with delays
//! (migrations and power changes take time and show as `migrating`, `PoweringOff`,
//! `PoweringOn`), recomputes host power from the instances, and optionally moves each zone's air
//! with a one-node thermal model; otherwise tests script the air directly. Not the twin: just
//! enough physics to close the loop.

use thermal::{Action, Guard, HostView, InstanceView, Observation, PowerState, ZoneView};

/// Watts per MIPS of instance demand on top of a host's idle power.
pub const W_PER_MIPS: f64 = 0.02;

pub fn zone(id: &str, neighbours: Vec<usize>, air_c: f64, cooling_w: f64) -> ZoneView {
    ZoneView {
        id: id.to_string(),
        neighbours,
        air_c: Some(air_c),
        limit_c: 35.0,
        cooling_nominal_w: cooling_w,
        cooling_available_w: cooling_w,
        cooling_failed: false,
    }
}

pub fn host(id: &str, zone: usize) -> HostView {
    HostView {
        id: id.to_string(),
        zone,
        power: PowerState::On,
        temp_c: Some(45.0),
        limit_c: 80.0,
        power_w: 100.0,
        idle_w: 100.0,
        cpu_use: 0.0,
        cpu_mips: 10_000.0,
        memory_mb: 16_000.0,
        management: false,
    }
}

pub fn instance(id: &str, host: usize) -> InstanceView {
    InstanceView {
        id: id.to_string(),
        host: Some(host),
        cpu_mips: 1000.0,
        memory_mb: 2000.0,
        uptime_s: 3600.0,
        kind: "web".to_string(),
        customer_rank: 1,
        customer_importance: 1.0,
        group: None,
        migrating: false,
        movable: true,
    }
}

pub struct World {
    pub obs: Observation,
    /// (done at, instance, target host).
    migrations: Vec<(f64, usize, usize)>,
    /// (done at, host, final state).
    power_ops: Vec<(f64, usize, PowerState)>,
    pub migrate_s: f64,
    pub power_s: f64,
    /// Migrations asked for are never started.
    pub ignore_migrations: bool,
    /// Move the air with the thermal model in `advance` (else tests script it).
    pub thermal_model: bool,
    /// Every action applied, with its time.
    pub applied: Vec<(f64, Action)>,
}

impl World {
    pub fn new(zones: Vec<ZoneView>, hosts: Vec<HostView>, instances: Vec<InstanceView>) -> World {
        let mut world = World {
            obs: Observation { now_s: 0.0, zones, hosts, instances },
            migrations: Vec::new(),
            power_ops: Vec::new(),
            migrate_s: 30.0,
            power_s: 40.0,
            ignore_migrations: false,
            thermal_model: false,
            applied: Vec::new(),
        };
        world.recompute_power();
        world
    }

    pub fn recompute_power(&mut self) {
        for (idx, h) in self.obs.hosts.iter_mut().enumerate() {
            let load: f64 =
                self.obs.instances.iter().filter(|i| i.host == Some(idx)).map(|i| i.cpu_mips).sum();
            h.cpu_use = (load / h.cpu_mips).min(1.0);
            h.power_w = match h.power {
                PowerState::Off => 0.0,
                PowerState::PoweringOn => h.idle_w,
                _ => h.idle_w + W_PER_MIPS * load,
            };
        }
    }

    pub fn zone_heat_w(&self, zone: usize) -> f64 {
        self.obs.hosts.iter().filter(|h| h.zone == zone).map(|h| h.power_w).sum()
    }

    pub fn apply(&mut self, actions: &[Action]) {
        let now = self.obs.now_s;
        for action in actions {
            self.applied.push((now, action.clone()));
            match *action {
                Action::Migrate { instance, to } => {
                    if !self.ignore_migrations {
                        self.obs.instances[instance].migrating = true;
                        self.migrations.push((now + self.migrate_s, instance, to));
                    }
                }
                Action::Stop { instance } => {
                    self.obs.instances[instance].host = None;
                    self.obs.instances[instance].migrating = false;
                }
                Action::Start { instance, on } => {
                    self.obs.instances[instance].host = Some(on);
                    self.obs.instances[instance].uptime_s = 0.0;
                }
                Action::PowerDown { host } => {
                    self.obs.hosts[host].power = PowerState::PoweringOff;
                    self.power_ops.push((now + self.power_s, host, PowerState::Off));
                }
                Action::PowerUp { host } => {
                    self.obs.hosts[host].power = PowerState::PoweringOn;
                    self.power_ops.push((now + self.power_s, host, PowerState::On));
                }
            }
        }
        self.recompute_power();
    }

    pub fn advance(&mut self, dt_s: f64) {
        let now = self.obs.now_s + dt_s;
        self.obs.now_s = now;
        for inst in &mut self.obs.instances {
            if inst.host.is_some() {
                inst.uptime_s += dt_s;
            }
        }
        let (done, rest): (Vec<_>, Vec<_>) = self.migrations.drain(..).partition(|m| m.0 <= now);
        self.migrations = rest;
        for (_, instance, to) in done {
            self.obs.instances[instance].host = Some(to);
            self.obs.instances[instance].migrating = false;
        }
        let (done, rest): (Vec<_>, Vec<_>) = self.power_ops.drain(..).partition(|p| p.0 <= now);
        self.power_ops = rest;
        for (_, host, state) in done {
            self.obs.hosts[host].power = state;
            if state == PowerState::Off {
                self.obs.hosts[host].temp_c = Some(25.0);
            } else {
                self.obs.hosts[host].temp_c = Some(45.0);
            }
        }
        self.recompute_power();
        if self.thermal_model {
            for zone in 0..self.obs.zones.len() {
                let heat = self.zone_heat_w(zone);
                let z = &mut self.obs.zones[zone];
                let Some(air) = z.air_c else { continue };
                // Cooling removes up to what is available, in proportion to the air above an
                // 18 °C supply (full nominal capacity at 27 °C); 10 kJ/°C of air and metal.
                let ua = z.cooling_nominal_w / 9.0;
                let removal = (ua * (air - 18.0)).clamp(0.0, z.cooling_available_w);
                z.air_c = Some(air + dt_s * (heat - removal) / 10_000.0);
            }
        }
    }

    /// One round: the guard looks, the world applies, time moves on. Returns the actions.
    pub fn round(&mut self, guard: &mut Guard, dt_s: f64) -> Vec<Action> {
        let actions = guard.step(&self.obs).expect("a valid observation");
        self.apply(&actions);
        self.advance(dt_s);
        actions
    }

    pub fn powered_off(&self) -> Vec<usize> {
        (0..self.obs.hosts.len()).filter(|&h| self.obs.hosts[h].power == PowerState::Off).collect()
    }
}
