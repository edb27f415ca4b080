//! The agent's and the controller's configuration files (TOML) and the cluster key file, parsed
//! low (serde, `deny_unknown_fields`) and lifted into validated types whose errors name the key
//! (`beacon.k_hz`, `send_to[1]`) or the key file's line.
//!
//! Flags override the file: the CLI layer starts from [`AgentConfig::default_with`] /
//! [`ControllerConfig::default_with`] (no file) or a parsed file, assigns the plain `pub` fields
//! it was given, then calls `validate()` again. docs/agent.md has a complete example of each file.
//!
//! # Agent (`hearth agent --config FILE`)
//!
//! | key | type | default | meaning |
//! |---|---|---|---|
//! | `node_id` | integer, 0 to 2³²−1 | required | this node's ID on the wire |
//! | `send_to` | array of `"ADDR:PORT"` | required | receivers of this node's beacons (one or more, no duplicates) |
//! | `key_file` | path | required | the cluster key file (format below) |
//! | `key_id` | integer 0 to 255 | the file's last key | which key signs outgoing beacons |
//! | `status_listen` | `"ADDR:PORT"` | `"127.0.0.1:7071"` | the local status endpoint |
//! | `cp_interval_s` | seconds > 0 | `60` | period of capacity (CP) messages; also sent at start and on change |
//! | `sample_interval_s` | seconds > 0 | `1` | how often the host is measured |
//! | `storage_path` | path | `"/"` | storage use is that of the filesystem holding this path |
//! | `interface` | interface name | the default route's | network interface whose traffic is C |
//! | `nominal_bandwidth_mbit_s` | Mbit/s > 0 | `1000` | link speed when `/sys/class/net/IFACE/speed` gives none |
//! | `fake_load` | `"S,P,C"` or `"S,P,C,M"` | none | fixed use instead of measuring (tests, demos) |
//! | `streams` | `"both"` or `"blended"` | `"both"` | FIG. 16's two streams (RA-balance at V_Balance, RA-power at V_Power), or FIG. 15's single RA-blended stream at V = α·V_Balance + (1−α)·V_Power |
//! | `[beacon]` | table | | the frequency law (seed 003, FIG. 9–10, 15) |
//! | `beacon.k_hz` | Hz > 0 | `10` | k: V_Balance at full availability |
//! | `beacon.l_hz` | Hz > 0 | `10` | l: V_Power at no availability |
//! | `beacon.min` | fraction in (0, 1] | `0.05` | floor of f_RA; the slowest rates, k·min and l·min, are the heartbeat |
//! | `[beacon.thresholds]` | table | | use above which a resource costs a −0.5 penalty |
//! | `beacon.thresholds.storage` | fraction in [0, 1] | `0.8` | S_threshold |
//! | `beacon.thresholds.processor` | fraction in [0, 1] | `0.8` | P_threshold |
//! | `beacon.thresholds.communication` | fraction in [0, 1] | `0.8` | C_threshold |
//! | `beacon.thresholds.memory` | fraction in [0, 1] | none | set to add memory to the metric as a fourth resource |
//! | `beacon.alpha` | fraction in [0, 1] | | fixed α in V = α·V_Balance + (1−α)·V_Power |
//! | `beacon.alpha_schedule` | array of `{ at = "HH:MM[:SS]", alpha = … }` | the seed's FIG. 15 | α over the day, local time: linear between points, wrapping at midnight |
//!
//! `beacon.alpha` and `beacon.alpha_schedule` exclude each other; with neither, α follows the
//! seed's schedule ([`AlphaSchedule::seed`]: 1 from 9:00 to 16:00, 0 from 20:00 to 6:30,
//! linear in between). Schedule times are strictly increasing.
//!
//! # Controller (`hearth controller --config FILE`)
//!
//! | key | type | default | meaning |
//! |---|---|---|---|
//! | `key_file` | path | required | the cluster key file |
//! | `node_id` | integer, 0 to 2³²−1 | `0` | the controller's ID on the wire (the sender of its ALPHA messages) |
//! | `listen` | `"ADDR:PORT"` | `"0.0.0.0:7070"` | UDP address beacons arrive on |
//! | `api` | `"ADDR:PORT"` | `"127.0.0.1:7080"` | address `hearth status` and `hearth select` talk to |
//! | `lost_after_intervals` | integer ≥ 1 | `5` | a node silent for more than this many of its own expected intervals is lost |
//! | `count_sample_interval_s` | seconds > 0 | `0.1` | how often the count lists sample the queues (FIG. 24) |
//! | `count_switch_interval_s` | seconds > `count_sample_interval_s` | `60` | how often the count lists switch |
//! | `[beacon]` | table | | `k_hz`, `l_hz`, `min` as for the agent (they must match the agents') |
//!
//! # Key file
//!
//! One key per line: `key_id hex_key`, where `key_id` is an integer from 0 to 255 and `hex_key`
//! at least [`MIN_KEY_BYTES`] bytes written as an even number of hex digits. `#` starts a
//! comment (a whole line or after the key); blank lines are ignored; IDs are unique. Rotate by
//! adding the new key as the last line (agents sign with the last key unless `key_id` says
//! otherwise; receivers accept every key in the file), then removing the old line once every
//! agent has moved. Errors name the file and the line, never the key material.

use crate::measure::{FakeLoad, Resource};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// Errors

/// A value that breaks a rule, named by its key (`beacon.thresholds.storage`, `send_to[1]`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("key `{key}`: {message}")]
pub struct InvalidKey {
    /// The key's dotted path, with `[i]` for array elements.
    pub key: String,
    /// What is wrong and what is expected.
    pub message: String,
}

impl InvalidKey {
    fn new(key: impl Into<String>, message: impl Into<String>) -> InvalidKey {
        InvalidKey { key: key.into(), message: message.into() }
    }
}

/// Why a configuration file was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Not TOML, or TOML of the wrong shape: an unknown key, a wrong type, a missing key.
    #[error("{}", toml_message(path, *location, key.as_deref(), message))]
    Toml {
        /// The file.
        path: PathBuf,
        /// 1-based line and column, when the error has one.
        location: Option<(usize, usize)>,
        /// The key involved (`beacon.k_hz`), when there is one.
        key: Option<String>,
        /// The parser's message (`invalid type: string "x", expected u32`).
        message: String,
    },
    /// Well-formed TOML whose value breaks a rule.
    #[error("{}: {error}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The key and the rule.
        error: InvalidKey,
    },
}

fn toml_message(
    path: &Path,
    location: Option<(usize, usize)>,
    key: Option<&str>,
    message: &str,
) -> String {
    let mut out = path.display().to_string();
    if let Some((line, column)) = location {
        out += &format!(":{line}:{column}");
    }
    if let Some(key) = key {
        out += &format!(": key `{key}`");
    }
    out + ": " + message
}

/// Deserializes `text` into `T`, turning serde's error into one that names the key
/// ([`model::toml_text`]).
fn from_toml<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, ConfigError> {
    model::toml_text::from_toml(text).map_err(|err| ConfigError::Toml {
        path: path.to_path_buf(),
        location: err.location,
        key: err.key,
        message: err.message,
    })
}

/// Reads a file to a string for a config parser.
fn read_config_text(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })
}

// ---------------------------------------------------------------------------------------------
// Shared value checks

/// Parses an `ADDR:PORT` socket address (`10.0.0.1:7070`, `[fd00::1]:7070`).
fn parse_socket_addr(key: &str, text: &str) -> Result<SocketAddr, InvalidKey> {
    text.trim().parse::<SocketAddr>().map_err(|_| {
        InvalidKey::new(
            key,
            format!(
                "not an ADDR:PORT socket address (an IP address and a port, like \
                 `10.0.0.1:7070` or `[fd00::1]:7070`): `{text}`"
            ),
        )
    })
}

/// Seconds > 0 and finite, as a [`Duration`].
fn parse_seconds(key: &str, seconds: f64) -> Result<Duration, InvalidKey> {
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(InvalidKey::new(
            key,
            format!("must be a number of seconds > 0, got {seconds}"),
        ));
    }
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| InvalidKey::new(key, format!("{seconds} seconds is out of range")))
}

fn check_positive(key: &str, value: f64, unit: &str) -> Result<(), InvalidKey> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(InvalidKey::new(key, format!("must be a number of {unit} > 0, got {value}")))
    }
}

fn check_fraction(key: &str, value: f64) -> Result<(), InvalidKey> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(InvalidKey::new(key, format!("must be a fraction in [0, 1], got {value}")))
    }
}

fn check_nonzero_duration(key: &str, value: Duration) -> Result<(), InvalidKey> {
    if value.is_zero() {
        Err(InvalidKey::new(key, "must be > 0 seconds"))
    } else {
        Ok(())
    }
}

/// A Linux interface name: 1 to 15 bytes, no `/`, `:` or whitespace, not `.` or `..`
/// (the kernel's `dev_valid_name`).
fn check_interface(key: &str, name: &str) -> Result<(), InvalidKey> {
    let bad_char = name.chars().find(|c| *c == '/' || *c == ':' || c.is_whitespace());
    if name.is_empty() || name.len() > 15 || name == "." || name == ".." || bad_char.is_some() {
        return Err(InvalidKey::new(
            key,
            format!(
                "not a network interface name (1 to 15 bytes, no `/`, `:` or spaces): `{name}`"
            ),
        ));
    }
    Ok(())
}

fn check_path(key: &str, path: &Path) -> Result<(), InvalidKey> {
    if path.as_os_str().is_empty() {
        Err(InvalidKey::new(key, "must not be empty"))
    } else {
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Beacon parameters

/// The rates of the frequency law (seed 003, FIG. 9): what a receiver needs to turn a beacon
/// rate back into availability, so agents and controller must agree on them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateParams {
    /// k: V_Balance = k·f_RA, so V_Balance ∈ [k·min, k], Hz.
    pub k_hz: f64,
    /// l: V_Power = l·min / f_RA, so V_Power ∈ [l·min, l], Hz.
    pub l_hz: f64,
    /// The floor of f_RA, in (0, 1]: keeps every rate above 0 and V_Power defined.
    pub min: f64,
}

impl Default for RateParams {
    fn default() -> RateParams {
        RateParams { k_hz: 10.0, l_hz: 10.0, min: 0.05 }
    }
}

impl RateParams {
    /// The slowest rate any node sends at, whatever its load and α: min(k, l)·min, Hz. This is
    /// the heartbeat.
    pub fn slowest_hz(&self) -> f64 {
        self.k_hz.min(self.l_hz) * self.min
    }

    /// Checks the rules; `table` prefixes the keys (`beacon`).
    pub fn validate(&self, table: &str) -> Result<(), InvalidKey> {
        check_positive(&format!("{table}.k_hz"), self.k_hz, "Hz")?;
        check_positive(&format!("{table}.l_hz"), self.l_hz, "Hz")?;
        if !(self.min > 0.0 && self.min <= 1.0) {
            return Err(InvalidKey::new(
                format!("{table}.min"),
                format!("must be a fraction in (0, 1], got {}", self.min),
            ));
        }
        Ok(())
    }
}

/// Use above which a resource costs the metric a −0.5 penalty (seed 003, FIG. 9).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thresholds {
    /// S_threshold.
    pub storage: f64,
    /// P_threshold.
    pub processor: f64,
    /// C_threshold.
    pub communication: f64,
    /// Memory's threshold; `None` leaves memory out of the metric (the seed's three resources).
    pub memory: Option<f64>,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds { storage: 0.8, processor: 0.8, communication: 0.8, memory: None }
    }
}

impl Thresholds {
    /// The threshold of `resource`, `None` if it is not in the metric.
    pub fn get(&self, resource: Resource) -> Option<f64> {
        match resource {
            Resource::Storage => Some(self.storage),
            Resource::Processor => Some(self.processor),
            Resource::Communication => Some(self.communication),
            Resource::Memory => self.memory,
        }
    }
}

/// One point of an α schedule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AlphaPoint {
    /// Local time of day, seconds after midnight (0 to 86 399).
    pub at_s: u32,
    /// α at that time, in [0, 1].
    pub alpha: f64,
}

/// α over the day: linear between consecutive points, from the last point across midnight to
/// the first. Points are strictly increasing in time.
#[derive(Clone, Debug, PartialEq)]
pub struct AlphaSchedule {
    /// The points, at least one.
    pub points: Vec<AlphaPoint>,
}

impl AlphaSchedule {
    /// The seed's example (FIG. 15): α = 1 from 9:00 to 16:00, 0 from 20:00 to 6:30, linear in
    /// between.
    pub fn seed() -> AlphaSchedule {
        let point = |h: u32, m: u32, alpha: f64| AlphaPoint { at_s: h * 3600 + m * 60, alpha };
        AlphaSchedule {
            points: vec![point(6, 30, 0.0), point(9, 0, 1.0), point(16, 0, 1.0), point(20, 0, 0.0)],
        }
    }
}

/// Where α (the balance/power mix) comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum Alpha {
    /// A constant α in [0, 1].
    Fixed(f64),
    /// α by local time of day.
    Schedule(AlphaSchedule),
}

/// The agent's beacon parameters: the `[beacon]` table.
#[derive(Clone, Debug, PartialEq)]
pub struct BeaconParams {
    /// k, l and min.
    pub rates: RateParams,
    /// Penalty thresholds per resource.
    pub thresholds: Thresholds,
    /// The balance/power mix.
    pub alpha: Alpha,
}

impl Default for BeaconParams {
    fn default() -> BeaconParams {
        BeaconParams {
            rates: RateParams::default(),
            thresholds: Thresholds::default(),
            alpha: Alpha::Schedule(AlphaSchedule::seed()),
        }
    }
}

impl BeaconParams {
    /// Checks the rules; keys are named under `beacon`.
    pub fn validate(&self) -> Result<(), InvalidKey> {
        self.rates.validate("beacon")?;
        for resource in Resource::ALL {
            if let Some(threshold) = self.thresholds.get(resource) {
                check_fraction(&format!("beacon.thresholds.{resource}"), threshold)?;
            }
        }
        match &self.alpha {
            Alpha::Fixed(alpha) => check_fraction("beacon.alpha", *alpha)?,
            Alpha::Schedule(schedule) => {
                if schedule.points.is_empty() {
                    return Err(InvalidKey::new(
                        "beacon.alpha_schedule",
                        "needs at least one point `{ at = \"HH:MM\", alpha = … }`",
                    ));
                }
                for (idx, point) in schedule.points.iter().enumerate() {
                    if point.at_s >= 86_400 {
                        return Err(InvalidKey::new(
                            format!("beacon.alpha_schedule[{idx}].at"),
                            format!("must be before 24:00, got {} s after midnight", point.at_s),
                        ));
                    }
                    check_fraction(&format!("beacon.alpha_schedule[{idx}].alpha"), point.alpha)?;
                    if idx > 0 && point.at_s <= schedule.points[idx - 1].at_s {
                        return Err(InvalidKey::new(
                            format!("beacon.alpha_schedule[{idx}].at"),
                            format!(
                                "times must be strictly increasing: {} is not after {}",
                                clock_time(point.at_s),
                                clock_time(schedule.points[idx - 1].at_s)
                            ),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// `HH:MM` or `HH:MM:SS` for seconds after midnight.
fn clock_time(at_s: u32) -> String {
    let (h, m, s) = (at_s / 3600, at_s / 60 % 60, at_s % 60);
    if s == 0 {
        format!("{h:02}:{m:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

/// Parses `HH:MM` or `HH:MM:SS` (24-hour, local time) into seconds after midnight.
fn parse_clock_time(key: &str, text: &str) -> Result<u32, InvalidKey> {
    let bad = || {
        InvalidKey::new(
            key,
            format!("not a time of day `HH:MM` or `HH:MM:SS` (0:00 to 23:59:59): `{text}`"),
        )
    };
    let parts: Vec<&str> = text.split(':').collect();
    if !(2..=3).contains(&parts.len()) {
        return Err(bad());
    }
    let mut values = [0u32; 3];
    for (idx, part) in parts.iter().enumerate() {
        // The hour may have one digit (`9:00`); minutes and seconds have two.
        let digits_ok = if idx == 0 { (1..=2).contains(&part.len()) } else { part.len() == 2 };
        if !digits_ok || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        values[idx] = part.parse().map_err(|_| bad())?;
    }
    let [h, m, s] = values;
    if h > 23 || m > 59 || s > 59 {
        return Err(bad());
    }
    Ok(h * 3600 + m * 60 + s)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRates {
    k_hz: Option<f64>,
    l_hz: Option<f64>,
    min: Option<f64>,
}

impl RawRates {
    fn lift(self) -> RateParams {
        let default = RateParams::default();
        RateParams {
            k_hz: self.k_hz.unwrap_or(default.k_hz),
            l_hz: self.l_hz.unwrap_or(default.l_hz),
            min: self.min.unwrap_or(default.min),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThresholds {
    storage: Option<f64>,
    processor: Option<f64>,
    communication: Option<f64>,
    memory: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlphaPoint {
    at: String,
    alpha: f64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBeacon {
    k_hz: Option<f64>,
    l_hz: Option<f64>,
    min: Option<f64>,
    #[serde(default)]
    thresholds: RawThresholds,
    alpha: Option<f64>,
    alpha_schedule: Option<Vec<RawAlphaPoint>>,
}

impl RawBeacon {
    fn lift(self) -> Result<BeaconParams, InvalidKey> {
        let rates = RawRates { k_hz: self.k_hz, l_hz: self.l_hz, min: self.min }.lift();
        let default = Thresholds::default();
        let thresholds = Thresholds {
            storage: self.thresholds.storage.unwrap_or(default.storage),
            processor: self.thresholds.processor.unwrap_or(default.processor),
            communication: self.thresholds.communication.unwrap_or(default.communication),
            memory: self.thresholds.memory,
        };
        let alpha = match (self.alpha, self.alpha_schedule) {
            (Some(_), Some(_)) => {
                return Err(InvalidKey::new(
                    "beacon.alpha",
                    "set either `beacon.alpha` (a fixed α) or `beacon.alpha_schedule`, not both",
                ))
            }
            (Some(alpha), None) => Alpha::Fixed(alpha),
            (None, Some(points)) => {
                let mut lifted = Vec::with_capacity(points.len());
                for (idx, point) in points.into_iter().enumerate() {
                    let at_s =
                        parse_clock_time(&format!("beacon.alpha_schedule[{idx}].at"), &point.at)?;
                    lifted.push(AlphaPoint { at_s, alpha: point.alpha });
                }
                Alpha::Schedule(AlphaSchedule { points: lifted })
            }
            (None, None) => Alpha::Schedule(AlphaSchedule::seed()),
        };
        Ok(BeaconParams { rates, thresholds, alpha })
    }
}

// ---------------------------------------------------------------------------------------------
// Agent

/// The agent's configuration (`hearth agent --config FILE`), validated. Fields are plain and
/// public so that flags can override them; call [`AgentConfig::validate`] after doing so.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentConfig {
    /// This node's ID on the wire.
    pub node_id: u32,
    /// Receivers of this node's beacons: one (FIG. 11A), several (11B) or every peer (11C).
    pub send_to: Vec<SocketAddr>,
    /// The cluster key file.
    pub key_file: PathBuf,
    /// The key that signs outgoing beacons; `None`: the key file's last key.
    pub key_id: Option<u8>,
    /// The local status endpoint's address.
    pub status_listen: SocketAddr,
    /// The frequency law's parameters.
    pub beacon: BeaconParams,
    /// Period of capacity (CP) messages (also sent at start and on change).
    pub cp_interval: Duration,
    /// How often the host is measured.
    pub sample_interval: Duration,
    /// Storage use is that of the filesystem holding this path.
    pub storage_path: PathBuf,
    /// The network interface; `None`: the default route's.
    pub interface: Option<String>,
    /// Link speed when the kernel gives none, Mbit/s.
    pub nominal_bandwidth_mbit_s: f64,
    /// Fixed use instead of measuring (`--fake-load`), for tests and demos.
    pub fake_load: Option<FakeLoad>,
    /// Which beacon streams to send.
    pub streams: Streams,
}

/// Which beacon streams an agent sends (seed 003).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Streams {
    /// FIG. 16: RA-balance at V_Balance and RA-power at V_Power; α has no role on the wire.
    #[default]
    Both,
    /// FIG. 15: one RA-blended stream at V = α·V_Balance + (1 − α)·V_Power.
    Blended,
}

impl std::str::FromStr for Streams {
    type Err = String;

    fn from_str(text: &str) -> Result<Streams, String> {
        match text {
            "both" => Ok(Streams::Both),
            "blended" => Ok(Streams::Blended),
            other => Err(format!("expected \"both\" or \"blended\", got \"{other}\"")),
        }
    }
}

/// Default `status_listen`.
pub const DEFAULT_STATUS_LISTEN: &str = "127.0.0.1:7071";

impl AgentConfig {
    /// The configuration with only the required keys given and every other at its default: what
    /// `hearth agent --node-id ID --send-to … --key-file PATH` runs without a file.
    pub fn default_with(node_id: u32, send_to: Vec<SocketAddr>, key_file: PathBuf) -> AgentConfig {
        AgentConfig {
            node_id,
            send_to,
            key_file,
            key_id: None,
            status_listen: DEFAULT_STATUS_LISTEN.parse().expect("the default address parses"),
            beacon: BeaconParams::default(),
            cp_interval: Duration::from_secs(60),
            sample_interval: Duration::from_secs(1),
            storage_path: PathBuf::from("/"),
            interface: None,
            nominal_bandwidth_mbit_s: 1000.0,
            fake_load: None,
            streams: Streams::Both,
        }
    }

    /// Parses and validates the text of an agent config file; `path` names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<AgentConfig, ConfigError> {
        let raw: RawAgent = from_toml(path, text)?;
        let invalid = |error| ConfigError::Invalid { path: path.to_path_buf(), error };
        let config = raw.lift().map_err(invalid)?;
        config.validate().map_err(invalid)?;
        Ok(config)
    }

    /// Reads, parses and validates an agent config file.
    pub fn read(path: &Path) -> Result<AgentConfig, ConfigError> {
        AgentConfig::parse(path, &read_config_text(path)?)
    }

    /// Checks every rule, naming the first key that breaks one.
    pub fn validate(&self) -> Result<(), InvalidKey> {
        if self.send_to.is_empty() {
            return Err(InvalidKey::new("send_to", "needs at least one ADDR:PORT receiver"));
        }
        for (idx, addr) in self.send_to.iter().enumerate() {
            if let Some(first) = self.send_to[..idx].iter().position(|other| other == addr) {
                return Err(InvalidKey::new(
                    format!("send_to[{idx}]"),
                    format!("`{addr}` is listed twice (also send_to[{first}])"),
                ));
            }
            if addr.port() == 0 {
                return Err(InvalidKey::new(format!("send_to[{idx}]"), "port 0 is not a receiver"));
            }
        }
        check_path("key_file", &self.key_file)?;
        self.beacon.validate()?;
        check_nonzero_duration("cp_interval_s", self.cp_interval)?;
        check_nonzero_duration("sample_interval_s", self.sample_interval)?;
        check_path("storage_path", &self.storage_path)?;
        if let Some(interface) = &self.interface {
            check_interface("interface", interface)?;
        }
        check_positive("nominal_bandwidth_mbit_s", self.nominal_bandwidth_mbit_s, "Mbit/s")?;
        Ok(())
    }

    /// The key that signs outgoing beacons: `key_id`'s, else the ring's last.
    ///
    /// # Errors
    /// When `key_id` names a key the ring does not hold (the message names `key_id`).
    pub fn signing_key<'a>(&self, ring: &'a KeyRing) -> Result<&'a ClusterKey, InvalidKey> {
        match self.key_id {
            Some(id) => ring.get(id).ok_or_else(|| {
                InvalidKey::new(
                    "key_id",
                    format!("no key with ID {id} in {}", self.key_file.display()),
                )
            }),
            None => Ok(ring.newest()),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgent {
    node_id: u32,
    send_to: Vec<String>,
    key_file: PathBuf,
    key_id: Option<u8>,
    status_listen: Option<String>,
    #[serde(default)]
    beacon: RawBeacon,
    cp_interval_s: Option<f64>,
    sample_interval_s: Option<f64>,
    storage_path: Option<PathBuf>,
    interface: Option<String>,
    nominal_bandwidth_mbit_s: Option<f64>,
    fake_load: Option<String>,
    streams: Option<String>,
}

impl RawAgent {
    fn lift(self) -> Result<AgentConfig, InvalidKey> {
        let send_to = self
            .send_to
            .iter()
            .enumerate()
            .map(|(idx, text)| parse_socket_addr(&format!("send_to[{idx}]"), text))
            .collect::<Result<Vec<_>, _>>()?;
        let mut config = AgentConfig::default_with(self.node_id, send_to, self.key_file);
        config.key_id = self.key_id;
        if let Some(text) = &self.status_listen {
            config.status_listen = parse_socket_addr("status_listen", text)?;
        }
        config.beacon = self.beacon.lift()?;
        if let Some(seconds) = self.cp_interval_s {
            config.cp_interval = parse_seconds("cp_interval_s", seconds)?;
        }
        if let Some(seconds) = self.sample_interval_s {
            config.sample_interval = parse_seconds("sample_interval_s", seconds)?;
        }
        if let Some(path) = self.storage_path {
            config.storage_path = path;
        }
        config.interface = self.interface;
        if let Some(mbit_s) = self.nominal_bandwidth_mbit_s {
            config.nominal_bandwidth_mbit_s = mbit_s;
        }
        if let Some(text) = &self.streams {
            config.streams = text.parse().map_err(|err| InvalidKey::new("streams", err))?;
        }
        if let Some(text) = &self.fake_load {
            config.fake_load = Some(
                text.parse::<FakeLoad>()
                    .map_err(|err| InvalidKey::new("fake_load", err.to_string()))?,
            );
        }
        Ok(config)
    }
}

// ---------------------------------------------------------------------------------------------
// Controller

/// The controller's configuration (`hearth controller --config FILE`), validated. Fields are
/// plain and public so that flags can override them; call [`ControllerConfig::validate`] after.
#[derive(Clone, Debug, PartialEq)]
pub struct ControllerConfig {
    /// UDP address beacons arrive on.
    pub listen: SocketAddr,
    /// Address of the API that `hearth status` and `hearth select` talk to.
    pub api: SocketAddr,
    /// The cluster key file.
    pub key_file: PathBuf,
    /// The controller's ID on the wire: the sender of its ALPHA messages.
    pub node_id: u32,
    /// A node silent for more than this many of its own expected intervals is lost.
    pub lost_after_intervals: u32,
    /// How often the count lists sample the queues (seed 003, FIG. 24).
    pub count_sample_interval: Duration,
    /// How often the count lists switch (clear the current list and start the other).
    pub count_switch_interval: Duration,
    /// k, l and min, to turn beacon rates back into availability; must match the agents'.
    pub beacon: RateParams,
}

/// Default `listen`.
pub const DEFAULT_CONTROLLER_LISTEN: &str = "0.0.0.0:7070";
/// Default `api`.
pub const DEFAULT_API: &str = "127.0.0.1:7080";

impl ControllerConfig {
    /// The configuration with the given addresses and key file and every other key at its
    /// default: what `hearth controller --listen … --api … --key-file PATH` runs without a file.
    pub fn default_with(
        listen: SocketAddr,
        api: SocketAddr,
        key_file: PathBuf,
    ) -> ControllerConfig {
        ControllerConfig {
            listen,
            api,
            key_file,
            node_id: 0,
            lost_after_intervals: 5,
            count_sample_interval: Duration::from_millis(100),
            count_switch_interval: Duration::from_secs(60),
            beacon: RateParams::default(),
        }
    }

    /// Parses and validates the text of a controller config file; `path` names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<ControllerConfig, ConfigError> {
        let raw: RawController = from_toml(path, text)?;
        let invalid = |error| ConfigError::Invalid { path: path.to_path_buf(), error };
        let config = raw.lift().map_err(invalid)?;
        config.validate().map_err(invalid)?;
        Ok(config)
    }

    /// Reads, parses and validates a controller config file.
    pub fn read(path: &Path) -> Result<ControllerConfig, ConfigError> {
        ControllerConfig::parse(path, &read_config_text(path)?)
    }

    /// Checks every rule, naming the first key that breaks one.
    pub fn validate(&self) -> Result<(), InvalidKey> {
        check_path("key_file", &self.key_file)?;
        if self.lost_after_intervals == 0 {
            return Err(InvalidKey::new("lost_after_intervals", "must be at least 1"));
        }
        check_nonzero_duration("count_sample_interval_s", self.count_sample_interval)?;
        if self.count_switch_interval <= self.count_sample_interval {
            return Err(InvalidKey::new(
                "count_switch_interval_s",
                format!(
                    "must be longer than count_sample_interval_s ({} s), got {} s",
                    self.count_sample_interval.as_secs_f64(),
                    self.count_switch_interval.as_secs_f64()
                ),
            ));
        }
        self.beacon.validate("beacon")
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawController {
    listen: Option<String>,
    api: Option<String>,
    key_file: PathBuf,
    node_id: Option<u32>,
    lost_after_intervals: Option<u32>,
    count_sample_interval_s: Option<f64>,
    count_switch_interval_s: Option<f64>,
    #[serde(default)]
    beacon: RawRates,
}

impl RawController {
    fn lift(self) -> Result<ControllerConfig, InvalidKey> {
        let listen = parse_socket_addr(
            "listen",
            self.listen.as_deref().unwrap_or(DEFAULT_CONTROLLER_LISTEN),
        )?;
        let api = parse_socket_addr("api", self.api.as_deref().unwrap_or(DEFAULT_API))?;
        let mut config = ControllerConfig::default_with(listen, api, self.key_file);
        if let Some(node_id) = self.node_id {
            config.node_id = node_id;
        }
        if let Some(intervals) = self.lost_after_intervals {
            config.lost_after_intervals = intervals;
        }
        if let Some(seconds) = self.count_sample_interval_s {
            config.count_sample_interval = parse_seconds("count_sample_interval_s", seconds)?;
        }
        if let Some(seconds) = self.count_switch_interval_s {
            config.count_switch_interval = parse_seconds("count_switch_interval_s", seconds)?;
        }
        config.beacon = self.beacon.lift();
        Ok(config)
    }
}

// ---------------------------------------------------------------------------------------------
// Key file

/// The shortest key accepted, in bytes (128 bits).
pub const MIN_KEY_BYTES: usize = 16;

/// One cluster key. Its `Debug` shows the ID and length, never the key.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterKey {
    /// The key's ID, carried on the wire so receivers pick the right key during rotation.
    pub id: u8,
    bytes: Vec<u8>,
}

impl ClusterKey {
    /// The key material.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl fmt::Debug for ClusterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClusterKey {{ id: {}, {} bytes }}", self.id, self.bytes.len())
    }
}

/// The keys of a key file, in file order (at least one, IDs unique).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRing {
    keys: Vec<ClusterKey>,
}

impl KeyRing {
    /// All keys, in file order.
    pub fn keys(&self) -> &[ClusterKey] {
        &self.keys
    }

    /// The key with ID `id`.
    pub fn get(&self, id: u8) -> Option<&ClusterKey> {
        self.keys.iter().find(|key| key.id == id)
    }

    /// The file's last key: the one agents sign with by default.
    pub fn newest(&self) -> &ClusterKey {
        self.keys.last().expect("a key ring holds at least one key (checked when parsed)")
    }
}

/// Why a key file was rejected. Messages name the file and line, never the key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The file could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A line is malformed.
    #[error("{}:{line}: {message}", path.display())]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The file holds no key.
    #[error("{}: no key (expected lines `key_id hex_key`)", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

/// Parses the text of a key file; `path` names it in errors.
pub fn parse_key_file(path: &Path, text: &str) -> Result<KeyRing, KeyFileError> {
    let mut keys: Vec<(usize, ClusterKey)> = Vec::new();
    for (idx, line) in text.lines().enumerate() {
        let line_no = idx + 1;
        let err = |message: String| KeyFileError::Line {
            path: path.to_path_buf(),
            line: line_no,
            message,
        };
        let content = line.split_once('#').map_or(line, |(before, _)| before);
        let fields: Vec<&str> = content.split_whitespace().collect();
        match fields.len() {
            0 => continue,
            2 => {}
            n => return Err(err(format!("expected `key_id hex_key`, got {n} field(s)"))),
        }
        let id = fields[0]
            .parse::<u8>()
            .map_err(|_| err(format!("key ID: not an integer from 0 to 255: `{}`", fields[0])))?;
        let hex = fields[1];
        if let Some(pos) = hex.chars().position(|c| !c.is_ascii_hexdigit()) {
            return Err(err(format!("key {id}: not a hex digit at character {}", pos + 1)));
        }
        let pairs = hex.as_bytes().chunks_exact(2);
        if !pairs.remainder().is_empty() {
            return Err(err(format!("key {id}: odd number of hex digits ({})", hex.len())));
        }
        let bytes: Vec<u8> = pairs
            .map(|pair| {
                let digits = std::str::from_utf8(pair).expect("checked ASCII hex digits");
                u8::from_str_radix(digits, 16).expect("checked hex digits")
            })
            .collect();
        if bytes.len() < MIN_KEY_BYTES {
            return Err(err(format!(
                "key {id}: {} bytes is too short; keys have at least {MIN_KEY_BYTES} bytes \
                 ({} hex digits)",
                bytes.len(),
                2 * MIN_KEY_BYTES
            )));
        }
        if let Some((first_line, _)) = keys.iter().find(|(_, key)| key.id == id) {
            return Err(err(format!("key ID {id} is already used on line {first_line}")));
        }
        keys.push((line_no, ClusterKey { id, bytes }));
    }
    if keys.is_empty() {
        return Err(KeyFileError::Empty { path: path.to_path_buf() });
    }
    Ok(KeyRing { keys: keys.into_iter().map(|(_, key)| key).collect() })
}

/// Reads and parses a key file.
pub fn read_key_file(path: &Path) -> Result<KeyRing, KeyFileError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| KeyFileError::Read { path: path.to_path_buf(), source })?;
    parse_key_file(path, &text)
}
