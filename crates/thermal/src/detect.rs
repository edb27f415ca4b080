//! Thermal event detection (seed 002, process block "detect a thermal event" and "the event has
//! passed"): per zone from the air temperature against T_detect/T_clear with hysteresis, from a
//! cooling failure signal, and from host (hardware) events; per host from its internal sensor
//! against its limit-relative thresholds.
//!
//! Missing sensors follow a ladder, and the rung used is recorded as a [`ZoneReading`]:
//! 1. the zone's air sensor;
//! 2. the hottest reporting host of the zone (on or changing state), its internal temperature
//!    minus the policy's `host_air_offset_c` taken as an estimate of the air;
//! 3. no temperature but a cooling failure reported: the failure signal alone starts the event
//!    and its end (the signal clearing) ends it;
//! 4. nothing at all (blind): no temperature event can be detected; host events still can.
//!
//! A cooling failure starts an event when it is first reported (a rising edge), so an event that
//! has passed while a unit stays failed is not restarted by the same report; a temperature over
//! T_detect or a new report restarts it. An event ends only when the guard says the zone is
//! quiet (nothing under way, settle time over), no host of the zone is in a hardware event, and
//! the temperature is under T_clear (or, without any temperature, the failure has cleared).

use crate::policy::Policy;
use crate::view::{Observation, PowerState};
use serde::{Deserialize, Serialize};

/// Where a zone's temperature came from at one observation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum ZoneReading {
    /// The zone's air sensor.
    Air {
        /// Air temperature, °C.
        #[serde(deserialize_with = "crate::float::lenient")]
        air_c: f64,
    },
    /// The air sensor is missing: the hottest reporting host of the zone stands in.
    HottestHost {
        /// Host index.
        host: usize,
        /// Host id.
        host_id: String,
        /// Its internal temperature, °C.
        #[serde(deserialize_with = "crate::float::lenient")]
        temp_c: f64,
        /// `temp_c - host_air_offset_c`, the air estimate used against the zone thresholds.
        #[serde(deserialize_with = "crate::float::lenient")]
        estimated_air_c: f64,
    },
    /// No temperature at all; a cooling failure is reported and is the only signal.
    CoolingSignalOnly,
    /// No temperature and no failure: nothing to detect from.
    Blind,
}

impl ZoneReading {
    /// The temperature compared with the zone thresholds, if any.
    pub fn temp_c(&self) -> Option<f64> {
        match self {
            ZoneReading::Air { air_c } => Some(*air_c),
            ZoneReading::HottestHost { estimated_air_c, .. } => Some(*estimated_air_c),
            ZoneReading::CoolingSignalOnly | ZoneReading::Blind => None,
        }
    }

    /// A short description for audit texts.
    pub fn describe(&self) -> String {
        match self {
            ZoneReading::Air { air_c } => format!("air {air_c:.1} °C"),
            ZoneReading::HottestHost { host_id, temp_c, estimated_air_c, .. } => format!(
                "air sensor missing: estimated {estimated_air_c:.1} °C from hottest host \
                 {host_id} ({temp_c:.1} °C inside)"
            ),
            ZoneReading::CoolingSignalOnly => {
                "no temperature: the cooling failure signal alone".to_string()
            }
            ZoneReading::Blind => "no temperature and no cooling signal".to_string(),
        }
    }
}

/// Reads zone `zone` of `obs` down the fallback ladder (module doc).
pub fn zone_reading(obs: &Observation, zone: usize, host_air_offset_c: f64) -> ZoneReading {
    let z = &obs.zones[zone];
    if let Some(air_c) = z.air_c {
        return ZoneReading::Air { air_c };
    }
    let hottest = obs
        .hosts
        .iter()
        .enumerate()
        .filter(|(_, h)| h.zone == zone && h.power != PowerState::Off)
        .filter_map(|(idx, h)| h.temp_c.map(|t| (idx, t)))
        .fold(None::<(usize, f64)>, |best, (idx, t)| match best {
            Some((_, bt)) if bt >= t => best,
            _ => Some((idx, t)),
        });
    match hottest {
        Some((host, temp_c)) => ZoneReading::HottestHost {
            host,
            host_id: obs.hosts[host].id.clone(),
            temp_c,
            estimated_air_c: temp_c - host_air_offset_c,
        },
        None if z.cooling_failed => ZoneReading::CoolingSignalOnly,
        None => ZoneReading::Blind,
    }
}

/// Why an event started.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "trigger", rename_all = "snake_case")]
pub enum Trigger {
    /// The zone temperature reached T_detect.
    Temperature {
        /// The temperature, °C (measured or estimated, see the reading).
        #[serde(deserialize_with = "crate::float::lenient")]
        temp_c: f64,
        /// T_detect, °C.
        #[serde(deserialize_with = "crate::float::lenient")]
        detect_c: f64,
    },
    /// A cooling path of the zone reported a failure.
    CoolingFailed {
        /// Cooling available now, W.
        #[serde(deserialize_with = "crate::float::lenient")]
        available_w: f64,
        /// Cooling when all paths work, W.
        #[serde(deserialize_with = "crate::float::lenient")]
        nominal_w: f64,
    },
    /// A host of the zone is over its hardware detection threshold.
    Host {
        /// Host index.
        host: usize,
        /// Host id.
        host_id: String,
        /// Its temperature, °C (`None` if its sensor went missing during the event).
        temp_c: Option<f64>,
        /// Its detection threshold, °C.
        #[serde(deserialize_with = "crate::float::lenient")]
        detect_c: f64,
    },
}

impl Trigger {
    /// A short description for audit texts.
    pub fn describe(&self) -> String {
        match self {
            Trigger::Temperature { temp_c, detect_c } => {
                format!("temperature {temp_c:.1} °C ≥ T_detect {detect_c:.1} °C")
            }
            Trigger::CoolingFailed { available_w, nominal_w } => {
                format!("cooling failure ({available_w:.0} W of {nominal_w:.0} W available)")
            }
            Trigger::Host { host_id, temp_c, detect_c, .. } => match temp_c {
                Some(t) => format!("host {host_id} at {t:.1} °C ≥ {detect_c:.1} °C"),
                None => format!("host {host_id} over {detect_c:.1} °C (sensor now missing)"),
            },
        }
    }
}

/// A change the detector saw at one observation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// A zone event started.
    Started {
        /// Zone index.
        zone: usize,
        /// Everything that triggered it.
        triggers: Vec<Trigger>,
        /// The reading at that time.
        reading: ZoneReading,
    },
    /// A zone event ended.
    Cleared {
        /// Zone index.
        zone: usize,
        /// The reading at that time.
        reading: ZoneReading,
    },
    /// A zone's reading moved to another rung of the ladder.
    ReadingChanged {
        /// Zone index.
        zone: usize,
        /// The new reading.
        reading: ZoneReading,
    },
    /// A host event started.
    HostStarted {
        /// Host index.
        host: usize,
        /// Temperature, °C.
        #[serde(deserialize_with = "crate::float::lenient")]
        temp_c: f64,
        /// Detection threshold, °C.
        #[serde(deserialize_with = "crate::float::lenient")]
        detect_c: f64,
    },
    /// A host event ended (below its clear threshold, or the host is off).
    HostCleared {
        /// Host index.
        host: usize,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct ZoneDetect {
    active: bool,
    cooling_was_failed: bool,
    reading: ZoneReading,
    /// `None` before the first observation.
    last: Option<ZoneReading>,
}

/// Event state of every zone and host, carried from one observation to the next. It serializes
/// with the guard's state.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Detector {
    zones: Vec<ZoneDetect>,
    hosts: Vec<bool>,
}

impl Detector {
    /// No events, for `n_zones` zones and `n_hosts` hosts.
    pub fn new(n_zones: usize, n_hosts: usize) -> Detector {
        Detector {
            zones: vec![
                ZoneDetect {
                    active: false,
                    cooling_was_failed: false,
                    reading: ZoneReading::Blind,
                    last: None,
                };
                n_zones
            ],
            hosts: vec![false; n_hosts],
        }
    }

    /// How many zones and hosts it tracks.
    pub(crate) fn sizes(&self) -> (usize, usize) {
        (self.zones.len(), self.hosts.len())
    }

    /// Whether zone `zone` is in an event.
    pub fn zone_active(&self, zone: usize) -> bool {
        self.zones.get(zone).is_some_and(|z| z.active)
    }

    /// Whether host `host` is in a hardware event.
    pub fn host_active(&self, host: usize) -> bool {
        self.hosts.get(host).copied().unwrap_or(false)
    }

    /// The reading of zone `zone` at the last observation.
    pub fn reading(&self, zone: usize) -> &ZoneReading {
        &self.zones[zone].reading
    }

    /// Updates every host and zone from `obs` (already validated: sizes match `new`); `quiet`
    /// says whether a zone's event may end now (the guard has nothing under way there and its
    /// settle time is over). Returns the changes, hosts first, then zones in index order.
    pub fn observe(
        &mut self,
        obs: &Observation,
        policy: &Policy,
        quiet: &dyn Fn(usize) -> bool,
    ) -> Vec<Change> {
        let mut changes = Vec::new();
        for (idx, h) in obs.hosts.iter().enumerate() {
            let t = policy.host.for_limit(h.limit_c);
            let active = &mut self.hosts[idx];
            if h.power == PowerState::Off {
                if *active {
                    *active = false;
                    changes.push(Change::HostCleared { host: idx });
                }
                continue;
            }
            let Some(temp_c) = h.temp_c else { continue };
            if !*active && temp_c >= t.detect_c {
                *active = true;
                changes.push(Change::HostStarted { host: idx, temp_c, detect_c: t.detect_c });
            } else if *active && temp_c < t.clear_c {
                *active = false;
                changes.push(Change::HostCleared { host: idx });
            }
        }
        for (zone, z) in obs.zones.iter().enumerate() {
            let t = policy.zone_thresholds(&z.id);
            let reading = zone_reading(obs, zone, policy.host_air_offset_c);
            let state = &mut self.zones[zone];
            // The first observation reports its reading only when it is a fallback.
            let changed = match &state.last {
                Some(last) => std::mem::discriminant(&reading) != std::mem::discriminant(last),
                None => !matches!(reading, ZoneReading::Air { .. }),
            };
            if changed {
                changes.push(Change::ReadingChanged { zone, reading: reading.clone() });
            }
            let mut triggers = Vec::new();
            if let Some(temp_c) = reading.temp_c() {
                if temp_c >= t.detect_c {
                    triggers.push(Trigger::Temperature { temp_c, detect_c: t.detect_c });
                }
            }
            if z.cooling_failed && !state.cooling_was_failed {
                triggers.push(Trigger::CoolingFailed {
                    available_w: z.cooling_available_w,
                    nominal_w: z.cooling_nominal_w,
                });
            }
            let mut host_event = false;
            for (idx, h) in obs.hosts.iter().enumerate() {
                if h.zone == zone && self.hosts[idx] {
                    host_event = true;
                    let limits = policy.host.for_limit(h.limit_c);
                    triggers.push(Trigger::Host {
                        host: idx,
                        host_id: h.id.clone(),
                        temp_c: h.temp_c,
                        detect_c: limits.detect_c,
                    });
                }
            }
            if !state.active {
                if !triggers.is_empty() {
                    state.active = true;
                    changes.push(Change::Started { zone, triggers, reading: reading.clone() });
                }
            } else {
                let cool = match reading.temp_c() {
                    Some(temp_c) => temp_c < t.clear_c,
                    None => !z.cooling_failed,
                };
                if cool && !host_event && quiet(zone) {
                    state.active = false;
                    changes.push(Change::Cleared { zone, reading: reading.clone() });
                }
            }
            state.cooling_was_failed = z.cooling_failed;
            state.last = Some(reading.clone());
            state.reading = reading;
        }
        changes
    }
}
