//! PlanetLab traces as published with CloudSim: one file per VM, one integer CPU utilization
//! percentage (0–100) per line, one line per 300 s interval.

use super::{TraceError, VmTrace, Workload};
use std::path::{Path, PathBuf};

/// Seconds between two PlanetLab samples.
pub const INTERVAL_S: u32 = 300;

/// Parses one PlanetLab trace file. `file` is used only to name the file in errors.
///
/// Strict: every line must be an integer from 0 to 100 (surrounding spaces and a final
/// newline are tolerated, a blank line in the middle is not).
pub fn parse_vm(file: &Path, name: &str, text: &str) -> Result<VmTrace, TraceError> {
    let text = text.strip_suffix('\n').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(TraceError::Empty { file: file.to_path_buf() });
    }
    let mut utilization = Vec::with_capacity(288);
    for (idx, raw) in text.split('\n').enumerate() {
        let line = idx + 1;
        let value = raw.trim_end_matches('\r').trim();
        let pct: i64 = value.parse().map_err(|_| TraceError::BadNumber {
            file: file.to_path_buf(),
            line,
            field: "cpu_pct",
            expected: "an integer CPU percentage",
            value: raw.to_string(),
        })?;
        if !(0..=100).contains(&pct) {
            return Err(TraceError::OutOfRange {
                file: file.to_path_buf(),
                line,
                field: "cpu_pct",
                value: pct as f64,
                range: "0..=100",
            });
        }
        utilization.push(pct as f64 / 100.0);
    }
    Ok(VmTrace { name: name.to_string(), utilization, instance: None })
}

/// Parses a whole PlanetLab day from `(file, text)` pairs, in the order given (callers pass
/// sorted file names). Every trace must have the same number of samples.
pub fn parse_workload(source: String, files: &[(PathBuf, String)]) -> Result<Workload, TraceError> {
    let mut vms = Vec::with_capacity(files.len());
    for (file, text) in files {
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let vm = parse_vm(file, &name, text)?;
        if let Some(first) = vms.first().map(|v: &VmTrace| v.utilization.len()) {
            if vm.utilization.len() != first {
                return Err(TraceError::LengthMismatch {
                    file: file.clone(),
                    expected: first,
                    found: vm.utilization.len(),
                });
            }
        }
        vms.push(vm);
    }
    Ok(Workload { source, interval_s: INTERVAL_S, vms, findings: Vec::new() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<VmTrace, TraceError> {
        parse_vm(Path::new("day/vm1"), "vm1", text)
    }

    #[test]
    fn reads_percentages_as_fractions() {
        let vm = parse("5\n100\n0\n").unwrap();
        assert_eq!(vm.utilization, vec![0.05, 1.0, 0.0]);
        assert_eq!(parse("7\r\n8").unwrap().utilization, vec![0.07, 0.08]);
    }

    #[test]
    fn names_file_line_and_field_of_each_error() {
        assert_eq!(parse("").unwrap_err().to_string(), "day/vm1: no samples (the file is empty)");
        assert_eq!(
            parse("5\n\n6\n").unwrap_err().to_string(),
            "day/vm1:2: field `cpu_pct`: expected an integer CPU percentage, got \"\""
        );
        assert_eq!(
            parse("5\n4.5\n").unwrap_err().to_string(),
            "day/vm1:2: field `cpu_pct`: expected an integer CPU percentage, got \"4.5\""
        );
        assert_eq!(
            parse("5\n6\n101\n").unwrap_err().to_string(),
            "day/vm1:3: field `cpu_pct`: 101 is outside 0..=100"
        );
        assert!(matches!(parse("-1"), Err(TraceError::OutOfRange { line: 1, .. })));
        assert!(matches!(parse("x"), Err(TraceError::BadNumber { line: 1, .. })));
    }

    #[test]
    fn a_day_needs_series_of_equal_length() {
        let files = vec![
            (PathBuf::from("d/a"), "1\n2\n".to_string()),
            (PathBuf::from("d/b"), "3\n".to_string()),
        ];
        assert_eq!(
            parse_workload("planetlab:d".into(), &files).unwrap_err().to_string(),
            "d/b: 1 samples, but the other traces of this workload have 2"
        );
        let day = parse_workload("planetlab:d".into(), &files[..1]).unwrap();
        assert_eq!((day.vms.len(), day.vms[0].name.as_str(), day.interval_s), (1, "a", 300));
    }
}
