//! The audit record: every action the guard takes and every decision behind it, with a
//! structured reason and a human-readable text (seed 002 keeps "a list ... indicating which
//! hardware resources were powered down"; the record keeps why as well).

use crate::benefit::Benefit;
use crate::choose::Choice;
use crate::detect::{Trigger, ZoneReading};
use crate::project::Projection;
use crate::rank::HostCost;
use crate::view::Action;
use serde::{Deserialize, Serialize};

/// Why something happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Reason {
    /// A zone event started.
    EventStarted {
        /// What triggered it.
        triggers: Vec<Trigger>,
        /// The zone reading.
        reading: ZoneReading,
        /// Hosts still on the powered-down list (a second event during recovery).
        still_down: Vec<String>,
    },
    /// A zone event passed.
    EventCleared {
        /// The zone reading.
        reading: ZoneReading,
        /// Hosts on the powered-down list, to be powered back up.
        still_down: Vec<String>,
    },
    /// A zone's temperature source changed (a sensor went missing or came back).
    ReadingChanged {
        /// The new reading.
        reading: ZoneReading,
    },
    /// A host's hardware event started.
    HostEventStarted {
        /// Temperature, °C.
        #[serde(deserialize_with = "crate::float::lenient")]
        temp_c: f64,
        /// Threshold, °C.
        #[serde(deserialize_with = "crate::float::lenient")]
        detect_c: f64,
    },
    /// A host's hardware event ended.
    HostEventCleared,
    /// The seed strategy chose a set to shed.
    SetChosen {
        /// The projection it covers.
        projection: Projection,
        /// The set (indices refer to `candidates`).
        choice: Choice,
        /// Candidate host ids, in the chooser's item order.
        candidates: Vec<String>,
        /// Chosen host ids, in power-down order.
        order: Vec<String>,
    },
    /// The projection asks for nothing, but the air has not fallen by `min_progress_c` over a
    /// settle time: one more host is shed.
    NoProgress {
        /// The projection.
        projection: Projection,
        /// Temperature at the previous settle, °C.
        previous_c: Option<f64>,
        /// Temperature now, °C.
        now_c: Option<f64>,
    },
    /// The projection asks for nothing and the air is falling (or there is no earlier reading
    /// to compare with): wait a settle time and look again.
    Wait {
        /// The projection.
        projection: Projection,
        /// Temperature now, °C.
        now_c: Option<f64>,
    },
    /// A baseline strategy picked a host.
    Picked {
        /// `hottest-first` or `random:SEED`.
        strategy: String,
        /// The host's temperature, °C, if known.
        temp_c: Option<f64>,
    },
    /// A host must be shed because it is over its own hardware threshold.
    HostOverLimit,
    /// Nothing is left to shed in the zone.
    NothingToShed,
    /// An instance is migrated off a host being shed.
    Migrate {
        /// Source host id.
        from: String,
        /// Target host id.
        to: String,
        /// Target zone id.
        to_zone: String,
    },
    /// An instance is stopped: no host outside the event had room for it.
    StopNoTarget {
        /// Its host id.
        from: String,
    },
    /// An instance is stopped: the compute driver cannot move it.
    StopNotMovable {
        /// Its host id.
        from: String,
    },
    /// An instance is stopped: its host's migration timeout passed.
    StopTimeout {
        /// Its host id.
        from: String,
        /// When draining started, s.
        #[serde(deserialize_with = "crate::float::lenient")]
        since_s: f64,
    },
    /// A host is powered down.
    PowerDown {
        /// Position in this step's order (0 first).
        order: usize,
        /// Its cost with the terms.
        cost: HostCost,
        /// Its benefit with the terms (seed strategy).
        benefit: Option<Benefit>,
        /// Cost minus benefit (seed strategy).
        cost_benefit: Option<f64>,
        /// Instances the guard stopped on it.
        stopped: Vec<String>,
    },
    /// A step's hosts are all off; the guard waits the settle time.
    StepDone {
        /// Until when, s.
        #[serde(deserialize_with = "crate::float::lenient")]
        settle_until_s: f64,
    },
    /// A host is powered back up.
    PowerUp {
        /// Its power-up score with the terms.
        score: HostCost,
        /// The zone temperature, °C, if known.
        temp_c: Option<f64>,
        /// T_powerup, °C.
        #[serde(deserialize_with = "crate::float::lenient")]
        powerup_c: f64,
    },
    /// Power-up waits: the zone is at or over T_powerup, or the host's idle power would exceed
    /// the cooling available.
    PowerUpHeld {
        /// Why, in words.
        why: String,
    },
    /// A stopped instance is started again on its host, now back on.
    Restart,
    /// An action was not seen to complete within `action_timeout_s`; it may be issued again.
    ActionLost {
        /// The action.
        what: String,
    },
    /// The zone's powered-down list is empty again.
    Recovered,
}

/// One audit record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// The observation's time, s.
    #[serde(deserialize_with = "crate::float::lenient")]
    pub time_s: f64,
    /// Zone id, if any.
    pub zone: Option<String>,
    /// Host id, if any.
    pub host: Option<String>,
    /// Instance id, if any.
    pub instance: Option<String>,
    /// The action returned, if this record is one.
    pub action: Option<Action>,
    /// The structured reason.
    pub reason: Reason,
    /// The same, in words.
    pub text: String,
}
