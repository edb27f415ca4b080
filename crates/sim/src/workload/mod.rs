//! Workload sources: per-instance CPU utilization series from PlanetLab traces, Bitbrains
//! GWA-T-12 traces, or the seeded synthetic generator.
//!
//! Parsers are pure: they take a file's name (for error messages) and its text, and return
//! validated series. Reading directories is the caller's job (the `hearth` binary), so this
//! crate stays free of I/O.

pub mod bitbrains;
pub mod planetlab;
pub mod synthetic;

use model::InstanceType;
use serde::Serialize;
use std::path::PathBuf;

/// One instance's demand over time.
#[derive(Clone, Debug, PartialEq)]
pub struct VmTrace {
    /// Name of the instance (the trace file's name for file sources).
    pub name: String,
    /// CPU utilization of the instance's requested MIPS, a fraction in [0, 1], one sample per
    /// workload interval, starting at time 0.
    pub utilization: Vec<f64>,
    /// The instance's size when the source knows it (Bitbrains, synthetic); `None` lets the
    /// scenario choose (PlanetLab).
    pub instance: Option<InstanceType>,
}

/// A whole workload: every instance's series plus what the loader noticed on the way.
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    /// Human-readable description of the source, e.g. `planetlab:../shared/data/planetlab/20110303`.
    pub source: String,
    /// Seconds between two samples.
    pub interval_s: u32,
    /// The instances, in the order the source defines (sorted file names for file sources).
    pub vms: Vec<VmTrace>,
    /// Irregularities that were handled rather than refused (duplicate rows, gaps, …).
    pub findings: Vec<Finding>,
}

impl Workload {
    /// Number of samples of the shortest series (the run length in intervals).
    pub fn n_samples(&self) -> usize {
        self.vms.iter().map(|vm| vm.utilization.len()).min().unwrap_or(0)
    }
}

/// An irregularity in a trace that the loader handled and reports.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    /// File the irregularity is in.
    pub file: PathBuf,
    /// First line where it occurs (1-based), if it is tied to a line.
    pub line: Option<usize>,
    /// What was found and what the loader did about it.
    pub kind: FindingKind,
}

/// Kinds of handled irregularity.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FindingKind {
    /// Rows repeating an earlier timestamp; the first row was kept.
    DuplicateTimestamps {
        /// How many rows were dropped.
        rows: usize,
    },
    /// Timestamps going backwards; those rows were dropped.
    OutOfOrderRows {
        /// How many rows were dropped.
        rows: usize,
    },
    /// Missing samples; each was filled with the last known utilization.
    Gaps {
        /// Number of gaps.
        gaps: usize,
        /// Number of samples filled in.
        filled_samples: usize,
    },
    /// Rows reporting 0 CPU cores; their utilization was taken as 0.
    ZeroCoreRows {
        /// How many rows.
        rows: usize,
    },
    /// Utilization above 100 % was clamped to 100 %.
    ClampedUtilization {
        /// How many samples.
        samples: usize,
    },
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        match &self.kind {
            FindingKind::DuplicateTimestamps { rows } => {
                write!(f, ": {rows} row(s) repeat an earlier timestamp; kept the first")
            }
            FindingKind::OutOfOrderRows { rows } => {
                write!(f, ": {rows} row(s) go back in time; dropped")
            }
            FindingKind::Gaps { gaps, filled_samples } => write!(
                f,
                ": {gaps} gap(s); {filled_samples} sample(s) filled with the last utilization"
            ),
            FindingKind::ZeroCoreRows { rows } => {
                write!(f, ": {rows} row(s) report 0 CPU cores; utilization taken as 0")
            }
            FindingKind::ClampedUtilization { samples } => {
                write!(f, ": {samples} sample(s) above 100 % CPU clamped to 100 %")
            }
        }
    }
}

/// A trace that could not be read. Every variant names the file, and the line and field where
/// that applies.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TraceError {
    /// The file holds no samples.
    #[error("{file}: no samples (the file is empty)")]
    Empty {
        /// The file.
        file: PathBuf,
    },
    /// A field is not a number of the expected form.
    #[error("{file}:{line}: field `{field}`: expected {expected}, got {value:?}")]
    BadNumber {
        /// The file.
        file: PathBuf,
        /// 1-based line number.
        line: usize,
        /// Name of the field.
        field: &'static str,
        /// What the field should hold.
        expected: &'static str,
        /// What it held.
        value: String,
    },
    /// A number is outside its allowed range.
    #[error("{file}:{line}: field `{field}`: {value} is outside {range}")]
    OutOfRange {
        /// The file.
        file: PathBuf,
        /// 1-based line number.
        line: usize,
        /// Name of the field.
        field: &'static str,
        /// The value.
        value: f64,
        /// The allowed range, in words.
        range: &'static str,
    },
    /// A row has the wrong number of fields.
    #[error("{file}:{line}: expected {expected} fields separated by `;\\t`, found {found}")]
    FieldCount {
        /// The file.
        file: PathBuf,
        /// 1-based line number.
        line: usize,
        /// Fields expected.
        expected: usize,
        /// Fields found.
        found: usize,
    },
    /// The header line is not the expected one.
    #[error("{file}:1: unexpected header: expected {expected:?}, got {found:?}")]
    BadHeader {
        /// The file.
        file: PathBuf,
        /// The expected header.
        expected: &'static str,
        /// The header found.
        found: String,
    },
    /// Series in one workload have different lengths.
    #[error("{file}: {found} samples, but the other traces of this workload have {expected}")]
    LengthMismatch {
        /// The file.
        file: PathBuf,
        /// Samples expected.
        expected: usize,
        /// Samples found.
        found: usize,
    },
    /// The workload has no traces at all.
    #[error("{dir}: no trace files found")]
    NoTraces {
        /// The folder.
        dir: PathBuf,
    },
    /// A synthetic-workload parameter is invalid.
    #[error("synthetic workload: {0}")]
    Synthetic(String),
    /// Every row of a trace reports 0 CPU cores, so the instance's size is unknown.
    #[error("{file}: every row reports 0 CPU cores; the instance's size is unknown")]
    NoCores {
        /// The file.
        file: PathBuf,
    },
    /// The resampling interval asked of a loader is unusable (it must be at least 1 s).
    #[error("{file}: resampling interval must be at least 1 s, got {interval_s}")]
    BadInterval {
        /// The file.
        file: PathBuf,
        /// The interval asked for, in seconds.
        interval_s: u32,
    },
}
