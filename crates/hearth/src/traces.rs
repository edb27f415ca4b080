//! Loading workloads named on the command line (`planetlab:DIR`, `bitbrains:DIR`,
//! `synthetic[:SEED]`): reads the folders, hands each file's text to the simulator's pure
//! parsers, and checks that the series line up.

use anyhow::{bail, Context, Result};
use sim::workload::{bitbrains, planetlab, synthetic, TraceError, Workload};
use std::path::{Path, PathBuf};

/// Which source a workload comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum WorkloadSpec {
    /// A folder of PlanetLab traces.
    PlanetLab(PathBuf),
    /// A folder of Bitbrains GWA-T-12 traces.
    Bitbrains(PathBuf),
    /// The seeded synthetic generator.
    Synthetic(u64),
}

impl std::str::FromStr for WorkloadSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (kind, arg) = match text.split_once(':') {
            Some((k, a)) => (k, Some(a)),
            None => (text, None),
        };
        match (kind, arg) {
            ("planetlab", Some(dir)) if !dir.is_empty() => Ok(WorkloadSpec::PlanetLab(dir.into())),
            ("bitbrains", Some(dir)) if !dir.is_empty() => Ok(WorkloadSpec::Bitbrains(dir.into())),
            ("synthetic", None) => Ok(WorkloadSpec::Synthetic(synthetic::SyntheticSpec::default().seed)),
            ("synthetic", Some(seed)) => seed
                .parse()
                .map(WorkloadSpec::Synthetic)
                .map_err(|_| format!("synthetic seed {seed:?} is not a non-negative integer")),
            ("planetlab" | "bitbrains", _) => Err(format!("`{kind}` needs a folder: {kind}:DIR")),
            _ => Err(format!(
                "unknown workload {text:?}; expected planetlab:DIR, bitbrains:DIR or synthetic[:SEED]"
            )),
        }
    }
}

/// Files of a trace folder in sorted name order (byte order, as Java sorts ASCII names).
fn trace_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read trace folder {}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let path = entry.path();
        if path.is_file() && !entry.file_name().to_string_lossy().starts_with('.') {
            files.push(path);
        }
    }
    files.sort();
    if files.is_empty() {
        bail!(TraceError::NoTraces { dir: dir.to_path_buf() });
    }
    Ok(files)
}

fn read(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    String::from_utf8(bytes).with_context(|| format!("{}: not UTF-8 text", path.display()))
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Loads a workload.
pub fn load(spec: &WorkloadSpec) -> Result<Workload> {
    match spec {
        WorkloadSpec::Synthetic(seed) => {
            let spec = synthetic::SyntheticSpec { seed: *seed, ..Default::default() };
            Ok(synthetic::generate(&spec)?)
        }
        WorkloadSpec::PlanetLab(dir) => {
            let files = trace_files(dir)?
                .into_iter()
                .map(|file| read(&file).map(|text| (file, text)))
                .collect::<Result<Vec<_>>>()?;
            Ok(planetlab::parse_workload(format!("planetlab:{}", dir.display()), &files)?)
        }
        WorkloadSpec::Bitbrains(dir) => {
            let files = trace_files(dir)?;
            let mut vms = Vec::with_capacity(files.len());
            let mut findings = Vec::new();
            for file in &files {
                let (vm, mut found) = bitbrains::parse_vm(
                    file,
                    &file_name(file),
                    &read(file)?,
                    bitbrains::INTERVAL_S,
                )?;
                vms.push(vm);
                findings.append(&mut found);
            }
            // Bitbrains VMs start and stop at different times; the run covers the shortest.
            Ok(Workload {
                source: format!("bitbrains:{}", dir.display()),
                interval_s: bitbrains::INTERVAL_S,
                vms,
                findings,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_workload_specs() {
        assert_eq!("planetlab:/x".parse(), Ok(WorkloadSpec::PlanetLab("/x".into())));
        assert_eq!("bitbrains:d".parse(), Ok(WorkloadSpec::Bitbrains("d".into())));
        assert_eq!("synthetic:7".parse(), Ok(WorkloadSpec::Synthetic(7)));
        assert_eq!("synthetic".parse(), Ok(WorkloadSpec::Synthetic(1)));
        assert!("planetlab".parse::<WorkloadSpec>().unwrap_err().contains("needs a folder"));
        assert!("synthetic:x"
            .parse::<WorkloadSpec>()
            .unwrap_err()
            .contains("not a non-negative integer"));
        assert!("foo:bar".parse::<WorkloadSpec>().unwrap_err().contains("unknown workload"));
    }
}
