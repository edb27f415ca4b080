//! The controller's Prometheus metrics (OpenMetrics text through `prometheus-client`): the heat
//! figures, energy and power, temperatures per host and zone, plans and actions, thermal
//! events, and the beacon layer's counters. The loop sets them after every cycle; the API
//! encodes them on `GET /metrics`.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

type Labels = Vec<(String, String)>;
type FGauge = Gauge<f64, AtomicU64>;

/// The registry and its handles.
pub struct Metrics {
    registry: Mutex<Registry>,
    /// Harvested over total energy since start.
    pub harvest_ratio: FGauge,
    /// Hosts at or above their heat target.
    pub covered_hosts: Gauge,
    /// Hosts powered on.
    pub hosts_on: Gauge,
    /// Site power, W.
    pub power_watts: FGauge,
    /// Energy since start, kWh.
    pub energy_kwh: Counter<f64, AtomicU64>,
    /// Harvested energy since start, kWh.
    pub harvested_kwh: Counter<f64, AtomicU64>,
    /// Per host temperature, °C (`host`, `zone`).
    pub host_temperature: Family<Labels, FGauge>,
    /// Per host power, W (`host`, `zone`).
    pub host_power: Family<Labels, FGauge>,
    /// Zone air, °C (`zone`).
    pub zone_air: Family<Labels, FGauge>,
    /// Zone thermal phase, 0 normal, 1 shedding, 2 recovering (`zone`).
    pub zone_phase: Family<Labels, Gauge>,
    /// Plans made, by status when made (`status`).
    pub plans: Family<Labels, Counter>,
    /// Steps ended, by kind and outcome (`kind`, `outcome`).
    pub actions: Family<Labels, Counter>,
    /// Thermal events (zones entering shedding).
    pub thermal_events: Counter,
    /// Instances seen once and missing since.
    pub instances_lost: Counter,
    /// Cycles run.
    pub cycles: Counter,
    /// Duration of the last cycle's observe → plan → validate, s.
    pub cycle_seconds: FGauge,
    /// Beacons accepted by the controller's receiver.
    pub beacons_accepted: Counter,
    /// Beacons rejected (tag, replay, skew, malformed).
    pub beacons_rejected: Counter,
    /// Nodes heard from and not lost.
    pub beacon_nodes_alive: Gauge,
    /// Nodes lost to silence.
    pub beacon_nodes_lost: Gauge,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Metrics {
        let mut r = Registry::default();
        let m = Metrics {
            registry: Mutex::new(Registry::default()),
            harvest_ratio: FGauge::default(),
            covered_hosts: Gauge::default(),
            hosts_on: Gauge::default(),
            power_watts: FGauge::default(),
            energy_kwh: Counter::default(),
            harvested_kwh: Counter::default(),
            host_temperature: Family::default(),
            host_power: Family::default(),
            zone_air: Family::default(),
            zone_phase: Family::default(),
            plans: Family::default(),
            actions: Family::default(),
            thermal_events: Counter::default(),
            instances_lost: Counter::default(),
            cycles: Counter::default(),
            cycle_seconds: FGauge::default(),
            beacons_accepted: Counter::default(),
            beacons_rejected: Counter::default(),
            beacon_nodes_alive: Gauge::default(),
            beacon_nodes_lost: Gauge::default(),
        };
        r.register(
            "hearth_harvest_ratio",
            "Harvested over total energy since start",
            m.harvest_ratio.clone(),
        );
        r.register(
            "hearth_covered_hosts",
            "Hosts at or above their heat target",
            m.covered_hosts.clone(),
        );
        r.register("hearth_hosts_on", "Hosts powered on", m.hosts_on.clone());
        r.register("hearth_power_watts", "Site power draw in watts", m.power_watts.clone());
        r.register("hearth_energy_kwh", "Energy since start in kWh", m.energy_kwh.clone());
        r.register(
            "hearth_harvested_kwh",
            "Harvested energy since start in kWh",
            m.harvested_kwh.clone(),
        );
        r.register(
            "hearth_host_temperature_celsius",
            "Hottest internal temperature per host",
            m.host_temperature.clone(),
        );
        r.register("hearth_host_power_watts", "Power draw per host", m.host_power.clone());
        r.register("hearth_zone_air_celsius", "Zone air (hottest inlet)", m.zone_air.clone());
        r.register(
            "hearth_zone_thermal_phase",
            "0 normal, 1 shedding, 2 recovering",
            m.zone_phase.clone(),
        );
        r.register("hearth_plans", "Plans made, by status", m.plans.clone());
        r.register("hearth_actions", "Plan steps ended, by kind and outcome", m.actions.clone());
        r.register(
            "hearth_thermal_events",
            "Zones entering a thermal event",
            m.thermal_events.clone(),
        );
        r.register(
            "hearth_instances_lost",
            "Instances seen once and missing since",
            m.instances_lost.clone(),
        );
        r.register("hearth_cycles", "Control cycles run", m.cycles.clone());
        r.register(
            "hearth_cycle_seconds",
            "Wall time of the last observe-plan-validate",
            m.cycle_seconds.clone(),
        );
        r.register("hearth_beacons_accepted", "Beacons accepted", m.beacons_accepted.clone());
        r.register("hearth_beacons_rejected", "Beacons rejected", m.beacons_rejected.clone());
        r.register(
            "hearth_beacon_nodes_alive",
            "Nodes heard from and not lost",
            m.beacon_nodes_alive.clone(),
        );
        r.register(
            "hearth_beacon_nodes_lost",
            "Nodes lost to beacon silence",
            m.beacon_nodes_lost.clone(),
        );
        *m.registry.lock().unwrap_or_else(|p| p.into_inner()) = r;
        m
    }

    /// The OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &registry);
        text
    }
}

/// The content type of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Label set helper.
pub fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}
