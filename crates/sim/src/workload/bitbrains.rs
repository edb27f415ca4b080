//! Bitbrains GWA-T-12 traces (the `fastStorage` and `Rnd` sets of the Grid Workloads Archive):
//! one file per VM, fields separated by `;\t`, one row about every 300 s with the VM's
//! provisioned size and its CPU, memory, disk and network use.
//!
//! This module owns the strict parser of one such file and its resampling onto the workload's
//! regular time grid. Malformed text is refused with a [`TraceError`] naming file, line and
//! field; the irregularities of the published files (repeated timestamps, rows going back in
//! time, missing intervals, rows reporting 0 cores, usage above 100 %) are handled and
//! reported as [`Finding`]s.

use super::{Finding, FindingKind, TraceError, VmTrace};
use model::InstanceType;
use std::path::Path;

/// Seconds between two rows of the published traces (most of the time).
pub const INTERVAL_S: u32 = 300;

/// The field separator: a semicolon followed by a tab.
pub const SEPARATOR: &str = ";\t";

/// The header line every file starts with (trailing whitespace and `\r` aside).
pub const HEADER: &str = "Timestamp [ms];\tCPU cores;\tCPU capacity provisioned [MHZ];\t\
CPU usage [MHZ];\tCPU usage [%];\tMemory capacity provisioned [KB];\tMemory usage [KB];\t\
Disk read throughput [KB/s];\tDisk write throughput [KB/s];\t\
Network received throughput [KB/s];\tNetwork transmitted throughput [KB/s]";

/// Bandwidth given to every Bitbrains instance, in Mbit/s (the traces do not provision one).
pub const BW_MBPS: u64 = 100;

/// Column names, in file order, as errors name them.
const FIELDS: [&str; 11] = [
    "Timestamp [ms]",
    "CPU cores",
    "CPU capacity provisioned [MHZ]",
    "CPU usage [MHZ]",
    "CPU usage [%]",
    "Memory capacity provisioned [KB]",
    "Memory usage [KB]",
    "Disk read throughput [KB/s]",
    "Disk write throughput [KB/s]",
    "Network received throughput [KB/s]",
    "Network transmitted throughput [KB/s]",
];

const TIMESTAMP: usize = 0;
const CORES: usize = 1;
const CAPACITY_MHZ: usize = 2;
const USAGE_MHZ: usize = 3;
const USAGE_PCT: usize = 4;
const MEMORY_KB: usize = 5;

/// Largest timestamp accepted: the end of unsigned 32-bit Unix seconds (year 2106). It also
/// catches files whose timestamps really are in milliseconds, as the header claims.
const MAX_TIMESTAMP: i64 = u32::MAX as i64;
const TIMESTAMP_RANGE: &str = "0..=4294967295 (Unix seconds)";

/// One validated data row; only the fields the simulator uses are kept.
#[derive(Clone, Copy, Debug)]
struct Row {
    line: usize,
    timestamp: u64,
    cores: u32,
    capacity_mhz: f64,
    usage_mhz: f64,
    usage_pct: f64,
    memory_kb: f64,
}

/// Counts the rows or samples of one kind of finding and remembers the first line.
#[derive(Default)]
struct Tally {
    count: usize,
    first_line: Option<usize>,
}

impl Tally {
    fn add(&mut self, line: usize) {
        self.count += 1;
        self.first_line.get_or_insert(line);
    }

    fn finding(&self, file: &Path, kind: FindingKind) -> Option<Finding> {
        (self.count > 0).then(|| Finding { file: file.to_path_buf(), line: self.first_line, kind })
    }
}

/// Parses one Bitbrains VM file and resamples it onto a grid of `interval_s` seconds.
/// `file` only names the file in errors and findings; `name` becomes the instance's name.
///
/// Strict about form: the first line must be [`HEADER`], every other line must hold 11
/// fields separated by [`SEPARATOR`]: an integer timestamp in Unix seconds (the header's
/// `[ms]` notwithstanding), an integer core count, and finite non-negative decimal numbers.
/// Spaces around a field, a trailing `\r` and blank lines at the end of the file are
/// tolerated; a blank line in the middle is not.
///
/// Resampling: sample `k` covers `[t0 + k·interval_s, t0 + (k+1)·interval_s)` where `t0` is
/// the first row's timestamp, and takes the first row falling in that slot; later rows in the
/// same slot are skipped (that is plain downsampling when `interval_s` exceeds the trace's
/// step). Before that, a row repeating the latest timestamp is dropped
/// ([`FindingKind::DuplicateTimestamps`]) and a row earlier than it is dropped
/// ([`FindingKind::OutOfOrderRows`]). A slot without a row repeats the previous sample
/// ([`FindingKind::Gaps`]). The series ends with the slot of the last kept row.
///
/// A sample's utilization is `CPU usage [%] / 100`; when that field is 0 but the MHz usage and
/// the provisioned MHz are both positive, the files' percentage is evidently missing and
/// `usage MHz / capacity MHz` is used instead. A row reporting 0 cores yields 0
/// ([`FindingKind::ZeroCoreRows`]); a value above 1 is clamped to 1
/// ([`FindingKind::ClampedUtilization`]). These two findings count the rows that became
/// samples.
///
/// The instance type, from every valid row of the file: `pes` is the largest core count, MHz
/// are taken as MIPS with `mips_per_pe` = provisioned MHz / cores of the first row with cores,
/// `ram_mib` is the largest provisioned memory in MiB rounded up, and `bw_mbps` is
/// [`BW_MBPS`].
///
/// Findings come in the order of [`FindingKind`]'s variants, at most one of each kind, each
/// with the first line concerned.
pub fn parse_vm(
    file: &Path,
    name: &str,
    text: &str,
    interval_s: u32,
) -> Result<(VmTrace, Vec<Finding>), TraceError> {
    if interval_s == 0 {
        return Err(TraceError::BadInterval { file: file.to_path_buf(), interval_s });
    }
    let rows = parse_rows(file, text)?;
    let instance = instance_type(file, &rows)?;

    let mut duplicates = Tally::default();
    let mut out_of_order = Tally::default();
    let mut kept: Vec<Row> = Vec::with_capacity(rows.len());
    for row in rows {
        match kept.last() {
            Some(last) if row.timestamp == last.timestamp => duplicates.add(row.line),
            Some(last) if row.timestamp < last.timestamp => out_of_order.add(row.line),
            _ => kept.push(row),
        }
    }

    let step = u64::from(interval_s);
    let t0 = kept.first().map_or(0, |row| row.timestamp);
    let mut utilization: Vec<f64> = Vec::with_capacity(kept.len());
    let mut gaps = Tally::default();
    let mut filled_samples = 0;
    let mut zero_cores = Tally::default();
    let mut clamped = Tally::default();
    for row in &kept {
        // Kept rows are strictly increasing and never earlier than t0.
        let slot = usize::try_from(row.timestamp.saturating_sub(t0) / step).map_err(|_| {
            TraceError::OutOfRange {
                file: file.to_path_buf(),
                line: row.line,
                field: FIELDS[TIMESTAMP],
                value: row.timestamp as f64,
                range: TIMESTAMP_RANGE,
            }
        })?;
        if slot < utilization.len() {
            continue;
        }
        if slot > utilization.len() {
            let last = utilization.last().copied().unwrap_or(0.0);
            gaps.add(row.line);
            filled_samples += slot - utilization.len();
            utilization.resize(slot, last);
        }
        let raw = if row.cores == 0 {
            zero_cores.add(row.line);
            0.0
        } else if row.usage_pct == 0.0 && row.usage_mhz > 0.0 && row.capacity_mhz > 0.0 {
            row.usage_mhz / row.capacity_mhz
        } else {
            row.usage_pct / 100.0
        };
        if raw > 1.0 {
            clamped.add(row.line);
        }
        utilization.push(raw.clamp(0.0, 1.0));
    }

    let findings = [
        duplicates.finding(file, FindingKind::DuplicateTimestamps { rows: duplicates.count }),
        out_of_order.finding(file, FindingKind::OutOfOrderRows { rows: out_of_order.count }),
        gaps.finding(file, FindingKind::Gaps { gaps: gaps.count, filled_samples }),
        zero_cores.finding(file, FindingKind::ZeroCoreRows { rows: zero_cores.count }),
        clamped.finding(file, FindingKind::ClampedUtilization { samples: clamped.count }),
    ]
    .into_iter()
    .flatten()
    .collect();
    Ok((VmTrace { name: name.to_string(), utilization, instance: Some(instance) }, findings))
}

/// Checks the header and parses every data row, in file order. Never returns an empty list.
fn parse_rows(file: &Path, text: &str) -> Result<Vec<Row>, TraceError> {
    let lines: Vec<&str> = text.split('\n').collect();
    // Blank lines at the end (a final newline, a trailing "\r\n\r\n") are not rows.
    let used = lines.iter().rposition(|line| !line.trim().is_empty()).map_or(0, |last| last + 1);
    let Some((header, data)) = lines[..used].split_first() else {
        return Err(TraceError::Empty { file: file.to_path_buf() });
    };
    let header = header.trim_end();
    if header != HEADER {
        return Err(TraceError::BadHeader {
            file: file.to_path_buf(),
            expected: HEADER,
            found: header.to_string(),
        });
    }
    if data.is_empty() {
        return Err(TraceError::Empty { file: file.to_path_buf() });
    }
    data.iter().enumerate().map(|(idx, raw)| parse_row(file, idx + 2, raw)).collect()
}

/// Parses one data row; `line` is its 1-based line number.
fn parse_row(file: &Path, line: usize, raw: &str) -> Result<Row, TraceError> {
    // Only the line ending goes: a trailing tab may be part of the last separator.
    let raw = raw.strip_suffix('\r').unwrap_or(raw);
    let fields: Vec<&str> = raw.split(SEPARATOR).collect();
    if fields.len() != FIELDS.len() {
        return Err(TraceError::FieldCount {
            file: file.to_path_buf(),
            line,
            expected: FIELDS.len(),
            found: fields.len(),
        });
    }
    let timestamp = parse_integer(
        file,
        line,
        TIMESTAMP,
        fields[TIMESTAMP],
        "an integer Unix timestamp in seconds",
        MAX_TIMESTAMP,
        TIMESTAMP_RANGE,
    )?;
    let cores = parse_integer(
        file,
        line,
        CORES,
        fields[CORES],
        "an integer number of cores",
        i64::from(u32::MAX),
        "0..=4294967295",
    )?;
    let mut numbers = [0.0; 11];
    for (idx, field) in fields.iter().enumerate().skip(CORES + 1) {
        numbers[idx] = parse_decimal(file, line, idx, field)?;
    }
    Ok(Row {
        line,
        timestamp: u64::try_from(timestamp).unwrap_or(0),
        cores: u32::try_from(cores).unwrap_or(0),
        capacity_mhz: numbers[CAPACITY_MHZ],
        usage_mhz: numbers[USAGE_MHZ],
        usage_pct: numbers[USAGE_PCT],
        memory_kb: numbers[MEMORY_KB],
    })
}

/// Parses an integer field that must lie in `0..=max`.
fn parse_integer(
    file: &Path,
    line: usize,
    idx: usize,
    raw: &str,
    expected: &'static str,
    max: i64,
    range: &'static str,
) -> Result<i64, TraceError> {
    let value: i64 = raw.trim().parse().map_err(|_| TraceError::BadNumber {
        file: file.to_path_buf(),
        line,
        field: FIELDS[idx],
        expected,
        value: raw.to_string(),
    })?;
    if !(0..=max).contains(&value) {
        return Err(TraceError::OutOfRange {
            file: file.to_path_buf(),
            line,
            field: FIELDS[idx],
            value: value as f64,
            range,
        });
    }
    Ok(value)
}

/// Parses a decimal field that must be finite and not negative.
fn parse_decimal(file: &Path, line: usize, idx: usize, raw: &str) -> Result<f64, TraceError> {
    let bad = || TraceError::BadNumber {
        file: file.to_path_buf(),
        line,
        field: FIELDS[idx],
        expected: "a finite decimal number",
        value: raw.to_string(),
    };
    let value: f64 = raw.trim().parse().map_err(|_| bad())?;
    if !value.is_finite() {
        return Err(bad());
    }
    if value < 0.0 {
        return Err(TraceError::OutOfRange {
            file: file.to_path_buf(),
            line,
            field: FIELDS[idx],
            value,
            range: "0..",
        });
    }
    Ok(value)
}

/// The instance's size, from every valid row (see [`parse_vm`]).
fn instance_type(file: &Path, rows: &[Row]) -> Result<InstanceType, TraceError> {
    let first = rows
        .iter()
        .find(|row| row.cores > 0)
        .ok_or_else(|| TraceError::NoCores { file: file.to_path_buf() })?;
    let pes = rows.iter().map(|row| row.cores).max().unwrap_or(first.cores);
    let memory_kb = rows.iter().map(|row| row.memory_kb).fold(0.0, f64::max);
    Ok(InstanceType {
        name: "bitbrains".into(),
        pes,
        mips_per_pe: first.capacity_mhz / f64::from(first.cores),
        ram_mib: (memory_kb / 1024.0).ceil() as u64,
        bw_mbps: BW_MBPS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    const FILE: &str = "fastStorage/7.csv";

    /// A data row with the given timestamp, cores, provisioned MHz, used MHz, used % and
    /// provisioned memory, and plausible I/O figures.
    fn row(ts: u64, cores: u32, capacity: f64, usage_mhz: f64, pct: f64, mem_kb: f64) -> String {
        format!(
            "{ts};\t{cores};\t{capacity};\t{usage_mhz};\t{pct};\t{mem_kb};\t{};\t0;\t2.2;\t0.4;\t0.133333",
            mem_kb / 4.0
        )
    }

    /// A 2-core, 2925.999977 MHz-per-core row using `pct` percent.
    fn simple(ts: u64, pct: f64) -> String {
        let capacity = 5851.999954;
        row(ts, 2, capacity, capacity * pct / 100.0, pct, 4_194_304.0)
    }

    /// `row` with field `idx` (0-based) replaced by `value`.
    fn with_field(row: &str, idx: usize, value: &str) -> String {
        let mut fields: Vec<&str> = row.split(SEPARATOR).collect();
        fields[idx] = value;
        fields.join(SEPARATOR)
    }

    fn file_of(rows: &[String]) -> String {
        let mut text = format!("{HEADER}\n");
        for r in rows {
            text.push_str(r);
            text.push('\n');
        }
        text
    }

    fn parse(text: &str) -> Result<(VmTrace, Vec<Finding>), TraceError> {
        parse_vm(Path::new(FILE), "7.csv", text, INTERVAL_S)
    }

    fn kinds(findings: &[Finding]) -> Vec<(Option<usize>, FindingKind)> {
        findings.iter().map(|f| (f.line, f.kind.clone())).collect()
    }

    const T0: u64 = 1_376_314_846;

    #[test]
    fn reads_a_regular_file() {
        let text = file_of(&[simple(T0, 10.0), simple(T0 + 300, 25.5), simple(T0 + 600, 100.0)]);
        let (vm, findings) = parse(&text).unwrap();
        assert_eq!(vm.name, "7.csv");
        assert_eq!(vm.utilization, vec![0.1, 0.255, 1.0]);
        assert!(findings.is_empty(), "{findings:?}");
        assert_eq!(
            vm.instance,
            Some(InstanceType {
                name: "bitbrains".into(),
                pes: 2,
                mips_per_pe: 5851.999954 / 2.0,
                ram_mib: 4096,
                bw_mbps: 100,
            })
        );
    }

    #[test]
    fn tolerates_crlf_trailing_blanks_and_spaces_around_fields() {
        let text = format!(
            "{HEADER} \r\n{}\r\n{}\r\n\r\n",
            simple(T0, 10.0),
            simple(T0 + 300, 20.0).replace(";\t", " ;\t ")
        );
        let (vm, findings) = parse(&text).unwrap();
        assert_eq!(vm.utilization, vec![0.1, 0.2]);
        assert!(findings.is_empty());
        // No final newline at all.
        assert_eq!(parse(text.trim_end()).unwrap().0.utilization, vec![0.1, 0.2]);
    }

    #[test]
    fn instance_takes_max_cores_first_mips_and_rounds_memory_up() {
        let text = file_of(&[
            row(T0, 0, 0.0, 0.0, 0.0, 0.0),
            row(T0 + 300, 2, 4000.0, 400.0, 10.0, 1_000_000.0),
            row(T0 + 600, 4, 12000.0, 1200.0, 10.0, 2_000_000.5),
            row(T0 + 900, 1, 3000.0, 300.0, 10.0, 1_000.0),
        ]);
        let instance = parse(&text).unwrap().0.instance.unwrap();
        assert_eq!(instance.pes, 4);
        assert_eq!(instance.mips_per_pe, 2000.0);
        // 2 000 000.5 KB = 1953.1255 MiB, rounded up.
        assert_eq!(instance.ram_mib, 1954);
        assert_eq!(instance.bw_mbps, 100);
        assert_eq!(instance.name, "bitbrains");
    }

    #[test]
    fn zero_percent_with_mhz_usage_falls_back_to_mhz_ratio() {
        let text = file_of(&[
            row(T0, 2, 4000.0, 1000.0, 0.0, 1024.0),
            // Both zero: genuinely idle.
            row(T0 + 300, 2, 4000.0, 0.0, 0.0, 1024.0),
            // No capacity: nothing to divide by, the percentage (0) stands.
            row(T0 + 600, 2, 0.0, 1000.0, 0.0, 1024.0),
            // A non-zero percentage wins over the MHz ratio.
            row(T0 + 900, 2, 4000.0, 1000.0, 30.0, 1024.0),
        ]);
        let (vm, findings) = parse(&text).unwrap();
        assert_eq!(vm.utilization, vec![0.25, 0.0, 0.0, 0.3]);
        assert!(findings.is_empty());
    }

    #[test]
    fn takes_the_first_row_of_each_slot_and_downsamples() {
        let rows: Vec<String> = (0..6).map(|k| simple(T0 + 300 * k, 10.0 * k as f64)).collect();
        let text = file_of(&rows);
        let (vm, findings) = parse_vm(Path::new(FILE), "7.csv", &text, 600).unwrap();
        assert_eq!(vm.utilization, vec![0.0, 0.2, 0.4]);
        assert!(findings.is_empty());
        // Rows off the grid: each slot takes the first row at or after its start.
        let text = file_of(&[
            simple(T0, 1.0),
            simple(T0 + 299, 2.0),
            simple(T0 + 300, 3.0),
            simple(T0 + 310, 4.0),
            simple(T0 + 899, 5.0),
        ]);
        let (vm, findings) = parse(&text).unwrap();
        assert_eq!(vm.utilization, vec![0.01, 0.03, 0.05]);
        assert!(findings.is_empty());
    }

    #[test]
    fn reports_duplicate_timestamps_and_keeps_the_first() {
        let text = file_of(&[
            simple(T0, 10.0),
            simple(T0 + 300, 20.0),
            simple(T0 + 300, 90.0),
            simple(T0 + 600, 30.0),
            simple(T0 + 600, 95.0),
            simple(T0 + 600, 96.0),
        ]);
        let (vm, findings) = parse(&text).unwrap();
        assert_eq!(vm.utilization, vec![0.1, 0.2, 0.3]);
        assert_eq!(kinds(&findings), vec![(Some(4), FindingKind::DuplicateTimestamps { rows: 3 })]);
        assert_eq!(
            findings[0].to_string(),
            "fastStorage/7.csv:4: 3 row(s) repeat an earlier timestamp; kept the first"
        );
    }

    #[test]
    fn reports_and_drops_rows_going_back_in_time() {
        let text = file_of(&[
            simple(T0, 10.0),
            simple(T0 + 300, 20.0),
            simple(T0 + 900, 40.0),
            simple(T0 + 600, 30.0),
            simple(T0 + 1200, 50.0),
            simple(T0 + 300, 99.0),
        ]);
        let (vm, findings) = parse(&text).unwrap();
        // The 600 s slot lost its row to the out-of-order drop and is filled from 300 s.
        assert_eq!(vm.utilization, vec![0.1, 0.2, 0.2, 0.4, 0.5]);
        assert_eq!(
            kinds(&findings),
            vec![
                (Some(5), FindingKind::OutOfOrderRows { rows: 2 }),
                (Some(4), FindingKind::Gaps { gaps: 1, filled_samples: 1 }),
            ]
        );
        assert_eq!(
            findings[0].to_string(),
            "fastStorage/7.csv:5: 2 row(s) go back in time; dropped"
        );
    }

    #[test]
    fn reports_gaps_and_fills_them_with_the_last_utilization() {
        let text = file_of(&[
            simple(T0, 10.0),
            simple(T0 + 300, 20.0),
            simple(T0 + 1200, 30.0),
            simple(T0 + 1500, 40.0),
            simple(T0 + 2100, 50.0),
        ]);
        let (vm, findings) = parse(&text).unwrap();
        assert_eq!(vm.utilization, vec![0.1, 0.2, 0.2, 0.2, 0.3, 0.4, 0.4, 0.5]);
        assert_eq!(
            kinds(&findings),
            vec![(Some(4), FindingKind::Gaps { gaps: 2, filled_samples: 3 })]
        );
        assert_eq!(
            findings[0].to_string(),
            "fastStorage/7.csv:4: 2 gap(s); 3 sample(s) filled with the last utilization"
        );
    }

    #[test]
    fn reports_zero_core_rows_as_idle() {
        let text = file_of(&[
            simple(T0, 10.0),
            row(T0 + 300, 0, 0.0, 0.0, 0.0, 0.0),
            // 0 cores but a percentage: still taken as 0.
            row(T0 + 600, 0, 5851.999954, 100.0, 12.0, 4_194_304.0),
            simple(T0 + 900, 40.0),
        ]);
        let (vm, findings) = parse(&text).unwrap();
        assert_eq!(vm.utilization, vec![0.1, 0.0, 0.0, 0.4]);
        assert_eq!(kinds(&findings), vec![(Some(3), FindingKind::ZeroCoreRows { rows: 2 })]);
        assert_eq!(vm.instance.unwrap().pes, 2);
    }

    #[test]
    fn reports_and_clamps_utilization_above_one() {
        let text = file_of(&[
            simple(T0, 100.0),
            simple(T0 + 300, 100.466667),
            // The MHz fallback can exceed the capacity too.
            row(T0 + 600, 1, 2000.0, 2100.0, 0.0, 1024.0),
        ]);
        let (vm, findings) = parse(&text).unwrap();
        assert_eq!(vm.utilization, vec![1.0, 1.0, 1.0]);
        assert_eq!(
            kinds(&findings),
            vec![(Some(3), FindingKind::ClampedUtilization { samples: 2 })]
        );
    }

    #[test]
    fn findings_come_in_kind_order_and_count_only_rows_that_became_samples() {
        let text = file_of(&[
            simple(T0, 10.0),
            simple(T0 + 300, 150.0),
            row(T0 + 300, 0, 0.0, 0.0, 0.0, 0.0),
            row(T0 + 900, 0, 0.0, 0.0, 0.0, 0.0),
            simple(T0 + 600, 20.0),
            simple(T0 + 1200, 30.0),
        ]);
        let (vm, findings) = parse(&text).unwrap();
        assert_eq!(vm.utilization, vec![0.1, 1.0, 1.0, 0.0, 0.3]);
        assert_eq!(
            kinds(&findings),
            vec![
                (Some(4), FindingKind::DuplicateTimestamps { rows: 1 }),
                (Some(6), FindingKind::OutOfOrderRows { rows: 1 }),
                (Some(5), FindingKind::Gaps { gaps: 1, filled_samples: 1 }),
                (Some(5), FindingKind::ZeroCoreRows { rows: 1 }),
                (Some(3), FindingKind::ClampedUtilization { samples: 1 }),
            ]
        );
        assert!(findings.iter().all(|f| f.file == Path::new(FILE)));
    }

    #[test]
    fn refuses_empty_files() {
        for text in
            ["", "\n", "  \r\n\n", HEADER, &format!("{HEADER}\r\n"), &format!("{HEADER}\n\n")]
        {
            assert_eq!(
                parse(text).unwrap_err(),
                TraceError::Empty { file: PathBuf::from(FILE) },
                "{text:?}"
            );
        }
        assert_eq!(
            parse("").unwrap_err().to_string(),
            "fastStorage/7.csv: no samples (the file is empty)"
        );
    }

    #[test]
    fn refuses_a_bad_header() {
        let text = format!("{}\n{}\n", HEADER.replace(";\t", ";"), simple(T0, 1.0));
        let err = parse(&text).unwrap_err();
        assert!(matches!(&err, TraceError::BadHeader { found, .. } if !found.contains('\t')));
        // Data without a header.
        let err = parse(&file_of(&[simple(T0, 1.0)])[HEADER.len() + 1..]).unwrap_err();
        assert!(matches!(err, TraceError::BadHeader { .. }));
        // The exact message for a short header.
        assert_eq!(
            parse("Timestamp\nx").unwrap_err().to_string(),
            format!(
                "fastStorage/7.csv:1: unexpected header: expected {HEADER:?}, got \"Timestamp\""
            )
        );
    }

    #[test]
    fn refuses_a_wrong_field_count() {
        let short = simple(T0 + 300, 1.0).rsplit_once(";\t").unwrap().0.to_string();
        let text = file_of(&[simple(T0, 1.0), short]);
        assert_eq!(
            parse(&text).unwrap_err().to_string(),
            "fastStorage/7.csv:3: expected 11 fields separated by `;\\t`, found 10"
        );
        // Comma-separated: one field.
        let text = file_of(&[simple(T0, 1.0).replace(";\t", ",")]);
        assert!(matches!(
            parse(&text),
            Err(TraceError::FieldCount { line: 2, expected: 11, found: 1, .. })
        ));
        // A blank line in the middle.
        let text = file_of(&[simple(T0, 1.0), String::new(), simple(T0 + 300, 1.0)]);
        assert!(matches!(parse(&text), Err(TraceError::FieldCount { line: 3, found: 1, .. })));
        // One field too many.
        let text = file_of(&[format!("{};\t0", simple(T0, 1.0))]);
        assert!(matches!(parse(&text), Err(TraceError::FieldCount { line: 2, found: 12, .. })));
    }

    #[test]
    fn refuses_non_numeric_fields() {
        let text = file_of(&[simple(T0, 1.0), with_field(&simple(T0 + 300, 1.0), 4, "abc")]);
        assert_eq!(
            parse(&text).unwrap_err().to_string(),
            "fastStorage/7.csv:3: field `CPU usage [%]`: expected a finite decimal number, got \"abc\""
        );
        let text = file_of(&[with_field(&simple(T0, 1.0), 0, "2013-08-12")]);
        assert_eq!(
            parse(&text).unwrap_err().to_string(),
            "fastStorage/7.csv:2: field `Timestamp [ms]`: expected an integer Unix timestamp in \
             seconds, got \"2013-08-12\""
        );
        let text = file_of(&[with_field(&simple(T0, 1.0), 1, "2.5")]);
        assert!(matches!(
            parse(&text),
            Err(TraceError::BadNumber { line: 2, field: "CPU cores", .. })
        ));
        let text = file_of(&[with_field(&simple(T0, 1.0), 10, "")]);
        assert!(matches!(
            parse(&text),
            Err(TraceError::BadNumber { field: "Network transmitted throughput [KB/s]", .. })
        ));
        let text = file_of(&[with_field(&simple(T0, 1.0), 0, &format!("{T0}.0"))]);
        assert!(matches!(parse(&text), Err(TraceError::BadNumber { field: "Timestamp [ms]", .. })));
    }

    #[test]
    fn refuses_nan_and_infinity() {
        for bad in ["NaN", "nan", "inf", "-inf", "infinity"] {
            let text = file_of(&[with_field(&simple(T0, 1.0), 7, bad)]);
            assert_eq!(
                parse(&text).unwrap_err(),
                TraceError::BadNumber {
                    file: PathBuf::from(FILE),
                    line: 2,
                    field: "Disk read throughput [KB/s]",
                    expected: "a finite decimal number",
                    value: bad.to_string(),
                },
                "{bad}"
            );
        }
    }

    #[test]
    fn refuses_negative_values() {
        let text = file_of(&[simple(T0, 1.0), row(T0 + 300, 2, 1.0, 1.0, 1.0, -1.5)]);
        assert_eq!(
            parse(&text).unwrap_err().to_string(),
            "fastStorage/7.csv:3: field `Memory capacity provisioned [KB]`: -1.5 is outside 0.."
        );
        let text = file_of(&[row(T0, 2, 1.0, -0.25, 1.0, 1.0)]);
        assert!(matches!(
            parse(&text),
            Err(TraceError::OutOfRange { line: 2, field: "CPU usage [MHZ]", .. })
        ));
        let text = file_of(&[with_field(&simple(T0, 1.0), 1, "-2")]);
        assert!(matches!(
            parse(&text),
            Err(TraceError::OutOfRange { field: "CPU cores", value, .. }) if value == -2.0
        ));
        let text = file_of(&[with_field(&simple(T0, 1.0), 0, "-5")]);
        assert!(matches!(
            parse(&text),
            Err(TraceError::OutOfRange { field: "Timestamp [ms]", .. })
        ));
        // Negative zero is zero.
        let text = file_of(&[row(T0, 2, 1.0, 1.0, -0.0, 1.0)]);
        assert!(parse(&text).is_ok());
    }

    #[test]
    fn refuses_millisecond_timestamps_and_huge_core_counts() {
        let text = file_of(&[simple(T0 * 1000, 1.0)]);
        assert_eq!(
            parse(&text).unwrap_err().to_string(),
            "fastStorage/7.csv:2: field `Timestamp [ms]`: 1376314846000 is outside \
             0..=4294967295 (Unix seconds)"
        );
        let text = file_of(&[with_field(&simple(T0, 1.0), 1, "4294967296")]);
        assert!(matches!(parse(&text), Err(TraceError::OutOfRange { field: "CPU cores", .. })));
    }

    #[test]
    fn refuses_files_where_every_row_has_zero_cores() {
        let text = file_of(&[row(T0, 0, 0.0, 0.0, 0.0, 0.0), row(T0 + 300, 0, 0.0, 0.0, 0.0, 0.0)]);
        assert_eq!(
            parse(&text).unwrap_err().to_string(),
            "fastStorage/7.csv: every row reports 0 CPU cores; the instance's size is unknown"
        );
    }

    #[test]
    fn refuses_a_zero_interval() {
        let text = file_of(&[simple(T0, 1.0)]);
        assert_eq!(
            parse_vm(Path::new(FILE), "7.csv", &text, 0).unwrap_err().to_string(),
            "fastStorage/7.csv: resampling interval must be at least 1 s, got 0"
        );
    }

    #[test]
    fn the_first_error_in_file_order_wins() {
        let text = file_of(&[simple(T0, 1.0), "x;\t1".into(), row(T0, 2, 1.0, 1.0, 1.0, -1.0)]);
        assert!(matches!(parse(&text), Err(TraceError::FieldCount { line: 3, .. })));
    }

    /// Reads `test_data/bitbrains/*.csv`, sorted by file name, and parses each file.
    fn parse_fixtures() -> Vec<(String, VmTrace, Vec<Finding>)> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data/bitbrains");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .filter(|name| name.ends_with(".csv"))
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|name| {
                let text = std::fs::read_to_string(dir.join(&name)).unwrap();
                let file = PathBuf::from("bitbrains").join(&name);
                let (vm, findings) =
                    parse_vm(&file, &name, &text, INTERVAL_S).unwrap_or_else(|err| panic!("{err}"));
                (name, vm, findings)
            })
            .collect()
    }

    #[test]
    fn parses_the_fixture_folder() {
        let parsed = parse_fixtures();
        let names: Vec<&str> = parsed.iter().map(|(name, _, _)| name.as_str()).collect();
        assert_eq!(names, ["1.csv", "2.csv", "3.csv"]);

        let messages: Vec<Vec<String>> = parsed
            .iter()
            .map(|(_, _, findings)| findings.iter().map(ToString::to_string).collect())
            .collect();
        assert_eq!(
            messages,
            [
                vec!["bitbrains/1.csv:11: 2 row(s) repeat an earlier timestamp; kept the first",],
                vec![
                    "bitbrains/2.csv:25: 1 row(s) go back in time; dropped",
                    "bitbrains/2.csv:17: 1 gap(s); 3 sample(s) filled with the last utilization",
                ],
                vec![
                    "bitbrains/3.csv:14: 1 row(s) report 0 CPU cores; utilization taken as 0",
                    "bitbrains/3.csv:22: 1 sample(s) above 100 % CPU clamped to 100 %",
                ],
            ]
        );

        let lengths: Vec<usize> = parsed.iter().map(|(_, vm, _)| vm.utilization.len()).collect();
        assert_eq!(lengths, [28, 32, 30]);
        for (name, vm, _) in &parsed {
            assert_eq!(&vm.name, name);
            assert!(vm.utilization.iter().all(|u| (0.0..=1.0).contains(u)), "{name}");
        }

        let instances: Vec<(u32, f64, u64)> = parsed
            .iter()
            .map(|(_, vm, _)| {
                let it = vm.instance.as_ref().unwrap();
                (it.pes, it.mips_per_pe, it.ram_mib)
            })
            .collect();
        assert_eq!(
            instances,
            [(4, 11703.99824 / 4.0, 65536), (2, 5851.999954 / 2.0, 8192), (1, 2925.999977, 2048)]
        );

        // 2.csv: the three missing intervals repeat the sample before the gap.
        let vm2 = &parsed[1].1;
        assert_eq!(vm2.utilization[15..18], [vm2.utilization[14]; 3]);
        // 3.csv: the 0-core row is idle, the 0 %-but-MHz row uses the MHz ratio.
        let vm3 = &parsed[2].1;
        assert_eq!(vm3.utilization[12], 0.0);
        assert_eq!(vm3.utilization[20], 1.0);
        assert!((vm3.utilization[25] - 1462.999989 / 2925.999977).abs() < 1e-12);
    }
}
