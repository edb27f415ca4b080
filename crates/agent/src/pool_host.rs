//! A pool node's view of its own host (issue 7 "Earmarks"): what the machine has (its capacity)
//! and what its owner is using now (local use), both as [`pool::reserve::Resources`]. The pool
//! loop feeds local use to a [`pool::reserve::Predictor`] and advertises
//! [`pool::reserve::surplus`]; this module only measures.
//!
//! Read in this order: [`probe_capacity`] (processor count, `MemTotal`, the free storage of the
//! state directory's filesystem, NVIDIA devices), then [`LocalLoad`] (measured, or fixed by
//! `--fake-local-load FRACTION|@PATH` for tests and demos), then [`LocalUseSampler`] (local use
//! from `/proc/stat` and `/proc/meminfo`, less the pool tasks' own use).
//!
//! The parsers are [`crate::measure`]'s; errors name the file (or the flag) they concern.

use crate::measure::{self, CpuTimes, Sources};
use pool::reserve::Resources;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Bytes per MiB.
const MIB: u64 = 1 << 20;

// ---------------------------------------------------------------------------------------------
// Capacity

/// What this host has to share, before any reserve:
///
/// - `cpu`: [`std::thread::available_parallelism`], the processors this process may run on
///   (it honours CPU affinity and, on Linux, a cgroup CPU quota), as whole cores;
/// - `mem_mib`: `MemTotal` from `/proc/meminfo`, rounded down to MiB;
/// - `disk_mib`: the space an unprivileged user may still use (`f_bavail × f_frsize` from
///   `statvfs(2)`) on the filesystem holding `state_dir`, in MiB. A `state_dir` that does not
///   exist yet is measured at its nearest existing ancestor, the filesystem it will be created
///   on. This is free space, so it shrinks as the disk fills;
/// - `gpu`: the number of `/dev/nvidia0`, `/dev/nvidia1`, … entries (not `nvidiactl` or
///   `nvidia-uvm`); 0 when there are none or `/dev` does not exist.
///
/// # Errors
/// A message naming the source that failed: the file (`/proc/meminfo: no `MemTotal` line`), the
/// path `statvfs` was given, `/dev` when it cannot be listed, or the processor count.
pub fn probe_capacity(state_dir: &Path) -> Result<Resources, String> {
    probe_capacity_from(&Sources::default(), Path::new("/dev"), state_dir)
}

/// [`probe_capacity`] with `/proc` and `/dev` elsewhere (a fake tree in tests).
fn probe_capacity_from(
    sources: &Sources,
    dev_dir: &Path,
    state_dir: &Path,
) -> Result<Resources, String> {
    let cpu = std::thread::available_parallelism()
        .map_err(|err| format!("the processor count (std::thread::available_parallelism): {err}"))?
        .get() as f64;
    let meminfo = sources.read_meminfo().map_err(|err| err.to_string())?;
    if meminfo.total_kib == 0 {
        return Err(format!("{}: MemTotal is 0", sources.meminfo_path().display()));
    }
    Ok(Resources {
        cpu,
        mem_mib: meminfo.total_kib / 1024,
        disk_mib: available_disk_mib(state_dir)?,
        gpu: count_nvidia_devices(dev_dir)?,
    })
}

/// The MiB an unprivileged user may still write on the filesystem holding `state_dir` (or, if it
/// does not exist yet, its nearest existing ancestor).
fn available_disk_mib(state_dir: &Path) -> Result<u64, String> {
    let mut probe = state_dir;
    while !probe.exists() {
        match probe.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => probe = parent,
            // A relative path's last ancestor is "": the working directory.
            Some(_) => {
                probe = Path::new(".");
                break;
            }
            None => break,
        }
    }
    let stat = rustix::fs::statvfs(probe).map_err(|errno| {
        let source = std::io::Error::from(errno);
        if probe == state_dir {
            format!("{}: statvfs failed: {source}", state_dir.display())
        } else {
            format!(
                "{} (state directory {}, not created yet): statvfs failed: {source}",
                probe.display(),
                state_dir.display()
            )
        }
    })?;
    // f_frsize is the unit of f_bavail; some filesystems leave it 0 and mean f_bsize.
    let unit = if stat.f_frsize > 0 { stat.f_frsize } else { stat.f_bsize };
    let bytes = u128::from(stat.f_bavail) * u128::from(unit);
    Ok(u64::try_from(bytes / u128::from(MIB)).unwrap_or(u64::MAX))
}

/// The number of `nvidiaN` entries (N all digits) in `dev_dir`; 0 when `dev_dir` is missing.
fn count_nvidia_devices(dev_dir: &Path) -> Result<u32, String> {
    let entries = match std::fs::read_dir(dev_dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(err) => return Err(format!("{}: cannot list: {err}", dev_dir.display())),
    };
    let mut count = 0u32;
    for entry in entries {
        let entry = entry.map_err(|err| format!("{}: cannot list: {err}", dev_dir.display()))?;
        if is_nvidia_device(&entry.file_name().to_string_lossy()) {
            count = count.saturating_add(1);
        }
    }
    Ok(count)
}

/// Whether `name` is `nvidia` followed by one or more digits (a GPU, not the control devices).
fn is_nvidia_device(name: &str) -> bool {
    name.strip_prefix("nvidia")
        .is_some_and(|index| !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit()))
}

// ---------------------------------------------------------------------------------------------
// Local load

/// Where the owner's local use comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum LocalLoad {
    /// Measured from `/proc` (the default, without `--fake-local-load`).
    Measured,
    /// A fixed fraction in [0, 1] of the capacity's processor and memory
    /// (`--fake-local-load 0.3`).
    Fixed(f64),
    /// A file holding a fraction in [0, 1], re-read at every sample (`--fake-local-load
    /// @/tmp/load`): a test raises a node's local load while it runs by rewriting the file.
    File(PathBuf),
}

/// Why a `--fake-local-load` value was refused; the message names the flag and the value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "--fake-local-load `{value}`: {reason} (expected a fraction of the host's capacity in \
     [0, 1], or @PATH of a file holding one)"
)]
pub struct LocalLoadError {
    /// The value given.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

impl FromStr for LocalLoad {
    type Err = LocalLoadError;

    /// `FRACTION` (in [0, 1]) is [`LocalLoad::Fixed`]; `@PATH` is [`LocalLoad::File`] (the
    /// file is read at each sample, not now, so it may appear later).
    fn from_str(value: &str) -> Result<LocalLoad, LocalLoadError> {
        let refuse = |reason: String| LocalLoadError { value: value.to_string(), reason };
        let trimmed = value.trim();
        if let Some(path) = trimmed.strip_prefix('@') {
            if path.is_empty() {
                return Err(refuse("no path after `@`".into()));
            }
            return Ok(LocalLoad::File(PathBuf::from(path)));
        }
        if trimmed.is_empty() {
            return Err(refuse("empty".into()));
        }
        parse_fraction(trimmed).map(LocalLoad::Fixed).map_err(refuse)
    }
}

impl fmt::Display for LocalLoad {
    /// The flag's syntax (`0.3`, `@/tmp/load`), or `measured`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocalLoad::Measured => f.write_str("measured"),
            LocalLoad::Fixed(fraction) => write!(f, "{fraction}"),
            LocalLoad::File(path) => write!(f, "@{}", path.display()),
        }
    }
}

/// A fraction in [0, 1] (NaN and infinities are outside).
fn parse_fraction(text: &str) -> Result<f64, String> {
    let fraction = text.parse::<f64>().map_err(|_| format!("`{text}` is not a number"))?;
    if !(0.0..=1.0).contains(&fraction) {
        return Err(format!("{fraction} is outside [0, 1]"));
    }
    Ok(fraction)
}

// ---------------------------------------------------------------------------------------------
// Local use

/// Measures the owner's local use of the host, one sample at a time (see
/// [`LocalUseSampler::sample`]). Holds the previous `/proc/stat` counters, since the processor
/// figure is a rate.
#[derive(Clone, Debug)]
pub struct LocalUseSampler {
    load: LocalLoad,
    capacity: Resources,
    sources: Sources,
    prev_cpu: Option<CpuTimes>,
}

impl LocalUseSampler {
    /// A sampler of `load` on a host with `capacity` (from [`probe_capacity`]), reading the real
    /// `/proc`.
    pub fn new(load: LocalLoad, capacity: Resources) -> LocalUseSampler {
        LocalUseSampler::with_sources(load, capacity, Sources::default())
    }

    /// [`LocalUseSampler::new`] with `/proc` elsewhere (a fake tree in tests).
    pub fn with_sources(load: LocalLoad, capacity: Resources, sources: Sources) -> LocalUseSampler {
        LocalUseSampler { load, capacity, sources, prev_cpu: None }
    }

    /// Where local use comes from.
    pub fn load(&self) -> &LocalLoad {
        &self.load
    }

    /// The owner's local use now (disk and GPU are always 0: neither is measured):
    ///
    /// - [`LocalLoad::Fixed`]`(f)`: `capacity.cpu × f` cores and `capacity.mem_mib × f` MiB
    ///   (rounded to the nearest MiB). The pool tasks' use is not subtracted: the figure *is* the
    ///   owner's.
    /// - [`LocalLoad::File`]: the same with the fraction the file holds now.
    /// - [`LocalLoad::Measured`]: the host's busy cores (the busy fraction of all processor time
    ///   in `/proc/stat` since the previous sample × `capacity.cpu`) and its used memory
    ///   (`MemTotal − MemAvailable` from `/proc/meminfo`, MiB), each **less the pool tasks' own
    ///   use** — `pool_tasks_cpu_cores`, their processor time over the same interval in cores,
    ///   and `pool_tasks_rss_mib`, their resident memory — floored at 0 and capped at the
    ///   capacity. A negative or non-finite pool figure counts as 0.
    ///
    /// **The first measured sample has no processor figure** (a rate needs two reads): it
    /// returns cpu 0 with the memory figure. Sample once at start-up and discard it, or accept
    /// that the predictor starts from an idle processor.
    ///
    /// # Errors
    /// A message naming the file: a missing or malformed load file, with its text
    /// (`/tmp/load: `lots` is not a fraction in [0, 1] ...`), or a `/proc` file that cannot be
    /// read or parsed, or processor counters that went backwards or did not advance (two samples
    /// within one jiffy). The caller keeps its previous value; the next sample measures afresh.
    pub fn sample(
        &mut self,
        pool_tasks_cpu_cores: f64,
        pool_tasks_rss_mib: f64,
    ) -> Result<Resources, String> {
        match &self.load {
            LocalLoad::Measured => self.measure(pool_tasks_cpu_cores, pool_tasks_rss_mib),
            LocalLoad::Fixed(fraction) => Ok(self.of_capacity(*fraction)),
            LocalLoad::File(path) => {
                let fraction = read_fraction_file(path)?;
                Ok(self.of_capacity(fraction))
            }
        }
    }

    /// `fraction` of the capacity's processor and memory.
    fn of_capacity(&self, fraction: f64) -> Resources {
        Resources {
            cpu: self.capacity.cpu * fraction,
            mem_mib: (self.capacity.mem_mib as f64 * fraction).round() as u64,
            disk_mib: 0,
            gpu: 0,
        }
    }

    /// The measured local use, less the pool tasks'.
    fn measure(&mut self, pool_cpu_cores: f64, pool_rss_mib: f64) -> Result<Resources, String> {
        let stat_path = self.sources.stat_path();
        let times = self.sources.read_cpu_times().map_err(|err| err.to_string())?;
        let prev = self.prev_cpu.replace(times);
        let busy_fraction = match prev {
            Some(prev) => {
                measure::processor_use(&stat_path, prev, times).map_err(|err| err.to_string())?
            }
            // The first sample: no interval to measure over.
            None => 0.0,
        };
        let meminfo_path = self.sources.meminfo_path();
        let meminfo = self.sources.read_meminfo().map_err(|err| err.to_string())?;
        // Refuses MemTotal 0 and MemAvailable > MemTotal, naming the file.
        measure::memory_use(&meminfo_path, meminfo).map_err(|err| err.to_string())?;
        let used_mib = (meminfo.total_kib - meminfo.available_kib) as f64 / 1024.0;

        let cpu_cap = self.capacity.cpu.max(0.0);
        let mem_cap = self.capacity.mem_mib as f64;
        let cpu = (busy_fraction * cpu_cap - non_negative(pool_cpu_cores)).clamp(0.0, cpu_cap);
        let mem = (used_mib - non_negative(pool_rss_mib)).clamp(0.0, mem_cap);
        Ok(Resources { cpu, mem_mib: mem.round() as u64, disk_mib: 0, gpu: 0 })
    }
}

/// `value` if finite and positive, else 0.
fn non_negative(value: f64) -> f64 {
    if value.is_finite() && value > 0.0 {
        value
    } else {
        0.0
    }
}

/// The fraction a `--fake-local-load @PATH` file holds now.
fn read_fraction_file(path: &Path) -> Result<f64, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("{}: cannot read the local load: {err}", path.display()))?;
    let trimmed = text.trim();
    parse_fraction(trimmed).map_err(|reason| {
        // A file that is not a fraction could be anything; quote at most a line's worth.
        let shown: String = trimmed.chars().take(64).collect();
        let ellipsis = if shown.len() < trimmed.len() { "…" } else { "" };
        format!(
            "{}: `{shown}{ellipsis}` is not a fraction in [0, 1] of the host's capacity ({reason})",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh, empty directory for one test under the system's temporary directory.
    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("hearth-pool-host-{name}-{}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).unwrap();
        }
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn write(path: &Path, text: &str) {
        std::fs::write(path, text).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    }

    fn res(cpu: f64, mem_mib: u64) -> Resources {
        Resources { cpu, mem_mib, disk_mib: 0, gpu: 0 }
    }

    // -----------------------------------------------------------------------------------------
    // Capacity

    #[test]
    fn probe_capacity_measures_this_host() {
        let dir = scratch("probe");
        let capacity = probe_capacity(&dir).unwrap();
        assert!(capacity.cpu >= 1.0 && capacity.cpu.fract() == 0.0, "{capacity}");
        assert!(capacity.mem_mib > 0, "{capacity}");
        assert!(capacity.disk_mib > 0, "{capacity}");
        // A state directory not created yet: measured where it will be created.
        let later = probe_capacity(&dir.join("not/yet")).unwrap();
        assert_eq!(later.cpu, capacity.cpu);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn probe_capacity_reads_memtotal_and_counts_gpus_in_a_fake_tree() {
        let dir = scratch("probe-fake");
        let proc_root = dir.join("proc");
        let dev = dir.join("dev");
        std::fs::create_dir_all(&proc_root).unwrap();
        std::fs::create_dir_all(dev.join("nvidia-caps")).unwrap();
        for name in ["nvidia0", "nvidia1", "nvidia12", "nvidiactl", "nvidia-uvm", "nvidia", "null"]
        {
            write(&dev.join(name), "");
        }
        let sources = Sources { proc_root: proc_root.clone(), sys_root: dir.join("sys") };

        // No meminfo: the error names the file.
        let err = probe_capacity_from(&sources, &dev, &dir).unwrap_err();
        assert!(err.starts_with(&format!("{}: missing", proc_root.join("meminfo").display())));

        write(&proc_root.join("meminfo"), "MemTotal: 8389632 kB\nMemAvailable: 4194304 kB\n");
        let capacity = probe_capacity_from(&sources, &dev, &dir).unwrap();
        assert_eq!(capacity.mem_mib, 8193); // 8389632 kB = 8193 MiB
        assert_eq!(capacity.gpu, 3);
        assert_eq!(probe_capacity_from(&sources, &dir.join("no-dev"), &dir).unwrap().gpu, 0);

        write(&proc_root.join("meminfo"), "MemTotal: lots kB\nMemAvailable: 4 kB\n");
        let err = probe_capacity_from(&sources, &dev, &dir).unwrap_err();
        assert!(err.contains("meminfo: line 1: `MemTotal`"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_numbered_nvidia_entries_are_gpus() {
        assert!(is_nvidia_device("nvidia0"));
        assert!(is_nvidia_device("nvidia15"));
        for name in ["nvidia", "nvidiactl", "nvidia-uvm", "nvidia-modeset", "nvidia0a", "nvme0"] {
            assert!(!is_nvidia_device(name), "{name}");
        }
    }

    // -----------------------------------------------------------------------------------------
    // --fake-local-load

    #[test]
    fn local_load_parses_a_fraction_or_a_file() {
        assert_eq!("0.3".parse::<LocalLoad>(), Ok(LocalLoad::Fixed(0.3)));
        assert_eq!("0".parse::<LocalLoad>(), Ok(LocalLoad::Fixed(0.0)));
        assert_eq!(" 1 ".parse::<LocalLoad>(), Ok(LocalLoad::Fixed(1.0)));
        assert_eq!("@/tmp/x".parse::<LocalLoad>(), Ok(LocalLoad::File("/tmp/x".into())));
        assert_eq!(LocalLoad::File("/tmp/x".into()).to_string(), "@/tmp/x");
        assert_eq!(LocalLoad::Fixed(0.3).to_string(), "0.3");
    }

    #[test]
    fn local_load_errors_name_the_flag_and_the_value() {
        let cases = [
            ("1.5", "1.5 is outside [0, 1]"),
            ("-0.1", "-0.1 is outside [0, 1]"),
            ("NaN", "NaN is outside [0, 1]"),
            ("inf", "inf is outside [0, 1]"),
            ("half", "`half` is not a number"),
            ("", "empty"),
            ("@", "no path after `@`"),
        ];
        for (value, reason) in cases {
            let err = value.parse::<LocalLoad>().unwrap_err();
            assert_eq!(err.reason, reason, "{value}");
            let message = err.to_string();
            assert!(
                message.starts_with(&format!("--fake-local-load `{value}`: {reason} (expected")),
                "{message}"
            );
        }
    }

    // -----------------------------------------------------------------------------------------
    // Local use

    #[test]
    fn a_fixed_load_is_that_fraction_of_the_capacity() {
        let capacity = Resources { cpu: 4.0, mem_mib: 8192, disk_mib: 1000, gpu: 1 };
        let mut sampler = LocalUseSampler::new(LocalLoad::Fixed(0.25), capacity);
        // The pool tasks' use does not change a fixed owner's use.
        assert_eq!(sampler.sample(3.0, 5000.0), Ok(res(1.0, 2048)));
    }

    #[test]
    fn a_load_file_is_re_read_at_every_sample_and_a_bad_one_is_named() {
        let dir = scratch("load-file");
        let path = dir.join("load");
        let capacity = res(4.0, 8192);
        let mut sampler =
            LocalUseSampler::new(format!("@{}", path.display()).parse().unwrap(), capacity);

        let err = sampler.sample(0.0, 0.0).unwrap_err();
        assert!(err.starts_with(&format!("{}: cannot read the local load: ", path.display())));

        write(&path, "0.2\n");
        let low = sampler.sample(0.0, 0.0).unwrap();
        assert!((low.cpu - 0.8).abs() < 1e-12 && low.mem_mib == 1638, "{low}");
        write(&path, "0.8");
        let high = sampler.sample(0.0, 0.0).unwrap();
        assert!((high.cpu - 3.2).abs() < 1e-12 && high.mem_mib == 6554, "{high}");

        write(&path, "lots\n");
        assert_eq!(
            sampler.sample(0.0, 0.0),
            Err(format!(
                "{}: `lots` is not a fraction in [0, 1] of the host's capacity (`lots` is not a \
                 number)",
                path.display()
            ))
        );
        write(&path, "1.5");
        let err = sampler.sample(0.0, 0.0).unwrap_err();
        assert!(err.contains("`1.5` is not a fraction") && err.contains("outside [0, 1]"), "{err}");
        write(&path, &"9".repeat(100));
        let err = sampler.sample(0.0, 0.0).unwrap_err();
        assert!(err.contains(&format!("`{}…`", "9".repeat(64))), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn stat(busy: u64, idle: u64) -> String {
        // user nice system idle iowait irq softirq steal guest guest_nice
        format!("cpu  {busy} 0 0 {idle} 0 0 0 0 0 0\ncpu0 {busy} 0 0 {idle} 0 0 0 0 0 0\n")
    }

    #[test]
    fn measured_use_is_the_hosts_less_the_pool_tasks() {
        let dir = scratch("measured-fake");
        let proc_root = dir.join("proc");
        std::fs::create_dir_all(&proc_root).unwrap();
        let sources = Sources { proc_root: proc_root.clone(), sys_root: dir.join("sys") };
        let capacity = res(4.0, 8192);
        let mut sampler = LocalUseSampler::with_sources(LocalLoad::Measured, capacity, sources);

        // 3 GiB used of 8 GiB.
        write(&proc_root.join("meminfo"), "MemTotal: 8388608 kB\nMemAvailable: 5242880 kB\n");
        write(&proc_root.join("stat"), &stat(100, 900));
        // First sample: no processor figure yet; memory less the pool tasks' 1024 MiB.
        assert_eq!(sampler.sample(0.5, 1024.0), Ok(res(0.0, 2048)));

        // 50 of the next 100 jiffies busy: 2 of 4 cores, less the pool tasks' 0.5.
        write(&proc_root.join("stat"), &stat(150, 950));
        assert_eq!(sampler.sample(0.5, 1024.0), Ok(res(1.5, 2048)));
        // Pool tasks using more than the host measured: floored at 0; bad figures count as 0.
        write(&proc_root.join("stat"), &stat(160, 1040));
        assert_eq!(sampler.sample(3.0, 9000.0), Ok(res(0.0, 0)));
        write(&proc_root.join("stat"), &stat(260, 1040));
        assert_eq!(sampler.sample(f64::NAN, -5.0), Ok(res(4.0, 3072)));

        // Counters that did not advance, and a broken file: errors that name the file.
        let err = sampler.sample(0.0, 0.0).unwrap_err();
        assert!(err.starts_with(&proc_root.join("stat").display().to_string()), "{err}");
        assert!(err.contains("did not advance"), "{err}");
        write(&proc_root.join("stat"), &stat(300, 1100));
        write(&proc_root.join("meminfo"), "MemTotal: 8 kB\nMemAvailable: 9 kB\n");
        let err = sampler.sample(0.0, 0.0).unwrap_err();
        assert!(err.starts_with(&proc_root.join("meminfo").display().to_string()), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn measured_use_of_the_real_host_stays_within_the_capacity() {
        let dir = scratch("measured-real");
        let capacity = probe_capacity(&dir).unwrap();
        let mut sampler = LocalUseSampler::new(LocalLoad::Measured, capacity);
        let first = sampler.sample(0.0, 0.0).unwrap();
        assert_eq!(first.cpu, 0.0);
        assert!(first.mem_mib <= capacity.mem_mib, "{first} vs {capacity}");
        // Two reads within one jiffy do not advance the counters: read until they have.
        let mut attempts = 0;
        let second = loop {
            attempts += 1;
            match sampler.sample(0.0, 0.0) {
                Ok(local) => break local,
                Err(err) if err.contains("did not advance") && attempts < 1_000_000 => continue,
                Err(err) => panic!("after {attempts} attempts: {err}"),
            }
        };
        assert!((0.0..=capacity.cpu).contains(&second.cpu), "{second} vs {capacity}");
        assert!(second.mem_mib <= capacity.mem_mib, "{second} vs {capacity}");
        assert_eq!((second.disk_mib, second.gpu), (0, 0));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
