//! The host's resource use, each a fraction in [0, 1], from Linux sources: processor (`/proc/stat`),
//! memory (`/proc/meminfo`), storage (`statvfs(2)` of a configured path) and communication
//! (`/proc/net/dev` counters over the link speed in `/sys/class/net/IFACE/speed`, or a configured
//! nominal bandwidth when the kernel does not know it).
//!
//! Read in this order:
//!
//! 1. **Parsers** ([`parse_proc_stat`], [`parse_meminfo`], [`parse_net_dev`],
//!    [`parse_link_speed`], [`parse_default_route`]): pure functions over the text of a file.
//!    They take the file's path only to name it in errors.
//! 2. **Fractions** ([`processor_use`], [`memory_use`], [`storage_use`], [`communication_use`]):
//!    pure arithmetic over parsed figures; the rates take the previous sample and the elapsed time
//!    as inputs (time is an input: nothing here reads a clock).
//! 3. **Readers** ([`Sources`], [`read_fs_blocks`]): thin functions that read the files (under a
//!    configurable `/proc` and `/sys`, so tests can point them at a fake tree) and call the parsers.
//! 4. **[`Sampler`]**: keeps the previous counters and turns [`RawReadings`] into a [`Reading`]:
//!    a [`Usage`] plus the sources that failed. [`Sampler::observe`] is the pure core;
//!    [`Sampler::sample`] reads and observes.
//! 5. **[`FakeLoad`]**: fixed use for tests and demos (`--fake-load S,P,C`).
//!
//! Every missing or malformed source is an error that names the file and the line or field
//! (`/proc/stat: no `cpu` line`); a missing source is reported as missing, never as 0.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// Vocabulary

/// One of the resources the agent measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    /// Storage: the used fraction of the filesystem holding the configured path (S).
    Storage,
    /// Processor: the busy fraction of all CPUs' time since the previous sample (P).
    Processor,
    /// Communication: the busier direction's bytes per second over the link speed (C).
    Communication,
    /// Memory: MemTotal − MemAvailable over MemTotal.
    Memory,
}

impl Resource {
    /// All resources, in the order [`Usage`] lists them and [`Reading::failures`] reports them.
    pub const ALL: [Resource; 4] =
        [Resource::Storage, Resource::Processor, Resource::Communication, Resource::Memory];

    /// The lower-case name used in messages, config keys and JSON (`processor`).
    pub fn name(self) -> &'static str {
        match self {
            Resource::Storage => "storage",
            Resource::Processor => "processor",
            Resource::Communication => "communication",
            Resource::Memory => "memory",
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The host's use of each resource, each a fraction in [0, 1] (0 idle or empty, 1 saturated or
/// full). The seed's S, P and C, plus memory.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Usage {
    /// S: used fraction of the storage filesystem.
    pub storage: f64,
    /// P: busy fraction of processor time.
    pub processor: f64,
    /// C: used fraction of the network link.
    pub communication: f64,
    /// Used fraction of memory.
    pub memory: f64,
}

impl Usage {
    /// The fraction for `resource`.
    pub fn get(&self, resource: Resource) -> f64 {
        match resource {
            Resource::Storage => self.storage,
            Resource::Processor => self.processor,
            Resource::Communication => self.communication,
            Resource::Memory => self.memory,
        }
    }

    fn set(&mut self, resource: Resource, fraction: f64) {
        match resource {
            Resource::Storage => self.storage = fraction,
            Resource::Processor => self.processor = fraction,
            Resource::Communication => self.communication = fraction,
            Resource::Memory => self.memory = fraction,
        }
    }
}

/// Why a source could not be measured. Every message names the file (or path) and, where there
/// is one, the line and field.
#[derive(Debug, thiserror::Error)]
pub enum MeasureError {
    /// The file does not exist (a kernel without it, a missing interface, a bad path).
    #[error("{}: missing ({source})", path.display())]
    Missing {
        /// The file.
        path: PathBuf,
        /// The underlying error (`No such file or directory`).
        source: std::io::Error,
    },
    /// The file exists but could not be read (permissions; `Invalid argument` from the `speed`
    /// file of a virtual interface; not UTF-8).
    #[error("{}: cannot read: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A line the figure needs is absent.
    #[error("{}: no `{what}` line", path.display())]
    NoLine {
        /// The file.
        path: PathBuf,
        /// The line's key (`cpu`, `MemAvailable`).
        what: &'static str,
    },
    /// A line has fewer fields than the figure needs.
    #[error("{}: line {line}: `{what}`: expected at least {want} fields, got {got}", path.display())]
    TooFewFields {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The line's key (`cpu`, an interface name).
        what: String,
        /// Fields needed.
        want: usize,
        /// Fields present.
        got: usize,
    },
    /// A field that must be a number is not.
    #[error("{}: line {line}: `{what}`: {field}: not a number: `{value}`", path.display())]
    NotANumber {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The line's key (`cpu`, `MemTotal`, an interface name).
        what: String,
        /// Which field (`field 4 (idle)`, `value`).
        field: String,
        /// The offending text.
        value: String,
    },
    /// A line has a unit other than the one expected.
    #[error("{}: line {line}: `{what}`: expected the unit `{want}`, got {got}", path.display())]
    BadUnit {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The line's key.
        what: String,
        /// The expected unit (`kB`).
        want: &'static str,
        /// The unit found, quoted (`` `MB` ``), or `no unit`.
        got: String,
    },
    /// `/proc/net/dev` has no line for the configured interface.
    #[error("{}: no interface `{interface}` (present: {})", path.display(), present.join(", "))]
    NoInterface {
        /// The file.
        path: PathBuf,
        /// The configured interface.
        interface: String,
        /// The interfaces the file lists.
        present: Vec<String>,
    },
    /// A total the fraction divides by is zero.
    #[error("{}: {what} is 0", path.display())]
    ZeroTotal {
        /// The file or path.
        path: PathBuf,
        /// Which total (`MemTotal`, `the filesystem's size`).
        what: &'static str,
    },
    /// MemAvailable exceeds MemTotal (a broken or virtualized `/proc/meminfo`).
    #[error(
        "{}: MemAvailable ({available_kib} kB) exceeds MemTotal ({total_kib} kB)",
        path.display()
    )]
    AvailableExceedsTotal {
        /// The file.
        path: PathBuf,
        /// MemTotal, KiB.
        total_kib: u64,
        /// MemAvailable, KiB.
        available_kib: u64,
    },
    /// A counter decreased between two samples (a reset or a re-created interface); the next
    /// sample measures from the new value.
    #[error("{}: {what} went backwards between samples ({before} -> {after})", path.display())]
    WentBackwards {
        /// The file.
        path: PathBuf,
        /// The counter (`cpu total jiffies`, `eth0 receive bytes`).
        what: String,
        /// The previous value.
        before: u64,
        /// The current value.
        after: u64,
    },
    /// No time (or no jiffy) passed between two samples, so no rate can be computed.
    #[error("{}: {what} did not advance between samples; sample less often", path.display())]
    NotAdvancing {
        /// The file.
        path: PathBuf,
        /// What stood still (`cpu total jiffies`, `time`).
        what: &'static str,
    },
    /// The first sample of a rate: it needs a previous read, which the next sample will have.
    #[error("{}: no previous sample yet (a rate needs two reads)", path.display())]
    NoPreviousSample {
        /// The file whose counters are compared.
        path: PathBuf,
    },
    /// `statvfs(2)` failed for a reason other than a missing path.
    #[error("{}: statvfs failed: {source}", path.display())]
    Statvfs {
        /// The configured storage path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The `speed` file holds no positive number of Mbit/s (`-1`: the link is down or its speed
    /// unknown).
    #[error("{}: not a positive number of Mbit/s: `{value}`", path.display())]
    BadLinkSpeed {
        /// The file.
        path: PathBuf,
        /// Its (trimmed) content.
        value: String,
    },
    /// `/proc/net/route` has no usable default route to take the interface from.
    #[error(
        "{}: no default route (no up line with destination and mask 00000000); set `interface`",
        path.display()
    )]
    NoDefaultRoute {
        /// The file.
        path: PathBuf,
    },
}

// ---------------------------------------------------------------------------------------------
// Processor: /proc/stat

/// Aggregate processor time from the `cpu` line of `/proc/stat`, in jiffies (USER_HZ ticks)
/// since boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuTimes {
    /// user + nice + system + irq + softirq + steal.
    pub busy: u64,
    /// busy + idle + iowait. `guest` and `guest_nice` are left out: the kernel already counts
    /// them in `user` and `nice`.
    pub total: u64,
}

/// The `cpu` line's fields, in the kernel's order (proc(5)).
const CPU_FIELDS: [&str; 10] =
    ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest", "guest_nice"];

/// Parses the aggregate `cpu` line of `/proc/stat` (not `cpu0`, `cpu1`, …). At least the first
/// four fields (user, nice, system, idle) must be present, as on every Linux since 2.6; later
/// fields that an old kernel lacks count as 0.
pub fn parse_proc_stat(path: &Path, text: &str) -> Result<CpuTimes, MeasureError> {
    let (line_idx, line) = text
        .lines()
        .enumerate()
        .find(|(_, line)| line.split_whitespace().next() == Some("cpu"))
        .ok_or_else(|| MeasureError::NoLine { path: path.to_path_buf(), what: "cpu" })?;
    let fields: Vec<&str> = line.split_whitespace().skip(1).collect();
    if fields.len() < 4 {
        return Err(MeasureError::TooFewFields {
            path: path.to_path_buf(),
            line: line_idx + 1,
            what: "cpu".into(),
            want: 4,
            got: fields.len(),
        });
    }
    let mut values = [0u64; 8];
    for (idx, value) in fields.iter().enumerate().take(CPU_FIELDS.len()) {
        let parsed = value.parse::<u64>().map_err(|_| MeasureError::NotANumber {
            path: path.to_path_buf(),
            line: line_idx + 1,
            what: "cpu".into(),
            field: format!("field {} ({})", idx + 1, CPU_FIELDS[idx]),
            value: (*value).to_string(),
        })?;
        // guest and guest_nice (fields 9, 10) are validated but not summed.
        if idx < values.len() {
            values[idx] = parsed;
        }
    }
    let [user, nice, system, idle, iowait, irq, softirq, steal] = values;
    let busy =
        [user, nice, system, irq, softirq, steal].iter().fold(0u64, |a, b| a.saturating_add(*b));
    let total = busy.saturating_add(idle).saturating_add(iowait);
    Ok(CpuTimes { busy, total })
}

/// The busy fraction of processor time between two samples of `/proc/stat`: Δbusy / Δtotal.
///
/// The result is clamped to [0, 1]: the kernel's iowait may step backwards (proc(5)), which can
/// push Δbusy slightly past Δtotal. `path` names the file in errors.
///
/// # Errors
/// [`MeasureError::WentBackwards`] if the total decreased; [`MeasureError::NotAdvancing`] if it
/// did not change (two samples within one jiffy).
pub fn processor_use(path: &Path, prev: CpuTimes, now: CpuTimes) -> Result<f64, MeasureError> {
    if now.total < prev.total {
        return Err(MeasureError::WentBackwards {
            path: path.to_path_buf(),
            what: "cpu total jiffies".into(),
            before: prev.total,
            after: now.total,
        });
    }
    let d_total = now.total - prev.total;
    if d_total == 0 {
        return Err(MeasureError::NotAdvancing {
            path: path.to_path_buf(),
            what: "cpu total jiffies",
        });
    }
    let d_busy = now.busy.saturating_sub(prev.busy);
    Ok((d_busy as f64 / d_total as f64).clamp(0.0, 1.0))
}

// ---------------------------------------------------------------------------------------------
// Memory: /proc/meminfo

/// The two lines of `/proc/meminfo` the memory fraction needs, in KiB (the file says `kB`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemInfo {
    /// `MemTotal`.
    pub total_kib: u64,
    /// `MemAvailable` (Linux ≥ 3.14): memory that can be given to new work without swapping.
    pub available_kib: u64,
}

/// Parses `MemTotal` and `MemAvailable` from `/proc/meminfo` (`MemTotal:   16318536 kB`).
pub fn parse_meminfo(path: &Path, text: &str) -> Result<MemInfo, MeasureError> {
    let mut total_kib = None;
    let mut available_kib = None;
    for (idx, line) in text.lines().enumerate() {
        let Some((key, rest)) = line.split_once(':') else { continue };
        let key = key.trim();
        let slot = match key {
            "MemTotal" => &mut total_kib,
            "MemAvailable" => &mut available_kib,
            _ => continue,
        };
        let mut parts = rest.split_whitespace();
        let value = parts.next().unwrap_or("");
        let kib = value.parse::<u64>().map_err(|_| MeasureError::NotANumber {
            path: path.to_path_buf(),
            line: idx + 1,
            what: key.to_string(),
            field: "value".into(),
            value: value.to_string(),
        })?;
        match parts.next() {
            Some("kB") => {}
            other => {
                return Err(MeasureError::BadUnit {
                    path: path.to_path_buf(),
                    line: idx + 1,
                    what: key.to_string(),
                    want: "kB",
                    got: other.map_or("no unit".to_string(), |unit| format!("`{unit}`")),
                })
            }
        }
        *slot = Some(kib);
    }
    let total_kib =
        total_kib.ok_or(MeasureError::NoLine { path: path.to_path_buf(), what: "MemTotal" })?;
    let available_kib = available_kib
        .ok_or(MeasureError::NoLine { path: path.to_path_buf(), what: "MemAvailable" })?;
    Ok(MemInfo { total_kib, available_kib })
}

/// The used fraction of memory: (MemTotal − MemAvailable) / MemTotal.
///
/// # Errors
/// [`MeasureError::ZeroTotal`] if MemTotal is 0; [`MeasureError::AvailableExceedsTotal`] if
/// MemAvailable exceeds it.
pub fn memory_use(path: &Path, mem: MemInfo) -> Result<f64, MeasureError> {
    if mem.total_kib == 0 {
        return Err(MeasureError::ZeroTotal { path: path.to_path_buf(), what: "MemTotal" });
    }
    if mem.available_kib > mem.total_kib {
        return Err(MeasureError::AvailableExceedsTotal {
            path: path.to_path_buf(),
            total_kib: mem.total_kib,
            available_kib: mem.available_kib,
        });
    }
    Ok((mem.total_kib - mem.available_kib) as f64 / mem.total_kib as f64)
}

// ---------------------------------------------------------------------------------------------
// Storage: statvfs

/// A filesystem's size in blocks, from `statvfs(2)` (all in the same fragment-size unit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FsBlocks {
    /// `f_blocks`: the filesystem's size.
    pub total: u64,
    /// `f_bfree`: free blocks, including those reserved for root.
    pub free: u64,
    /// `f_bavail`: free blocks an unprivileged user may use.
    pub available: u64,
}

/// The used fraction of a filesystem, as `df` computes `Use%`: used / (used + available), with
/// used = total − free. Blocks reserved for root count neither as used nor as available, so a
/// filesystem whose unreserved space is exhausted reads 1.
///
/// # Errors
/// [`MeasureError::ZeroTotal`] for a filesystem with no blocks (`proc`, `sysfs`): storage is
/// measured on a real filesystem.
pub fn storage_use(path: &Path, blocks: FsBlocks) -> Result<f64, MeasureError> {
    let used = blocks.total.saturating_sub(blocks.free);
    let denominator = used.saturating_add(blocks.available);
    if blocks.total == 0 || denominator == 0 {
        return Err(MeasureError::ZeroTotal {
            path: path.to_path_buf(),
            what: "the filesystem's size (statvfs f_blocks)",
        });
    }
    Ok((used as f64 / denominator as f64).clamp(0.0, 1.0))
}

// ---------------------------------------------------------------------------------------------
// Communication: /proc/net/dev, /sys/class/net/IFACE/speed, /proc/net/route

/// One interface's byte counters from `/proc/net/dev`, since the interface was created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetCounters {
    /// Receive bytes (field 1).
    pub rx_bytes: u64,
    /// Transmit bytes (field 9).
    pub tx_bytes: u64,
}

/// Fields per interface line of `/proc/net/dev` (8 receive, 8 transmit).
const NET_DEV_FIELDS: usize = 16;

/// Parses every interface line of `/proc/net/dev` into `(name, counters)`, in file order. The two
/// header lines (and any other line without a `:`) are skipped; a counter may follow the colon
/// without a space (`eth0:1234567890 …`), as the kernel prints large values.
pub fn parse_net_dev(path: &Path, text: &str) -> Result<Vec<(String, NetCounters)>, MeasureError> {
    let mut interfaces = Vec::new();
    for (idx, line) in text.lines().enumerate() {
        // Numbers never contain `:`, so the last one ends the name.
        let Some((name, rest)) = line.rsplit_once(':') else { continue };
        let name = name.trim().to_string();
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() < NET_DEV_FIELDS {
            return Err(MeasureError::TooFewFields {
                path: path.to_path_buf(),
                line: idx + 1,
                what: name,
                want: NET_DEV_FIELDS,
                got: fields.len(),
            });
        }
        let number = |field_idx: usize, label: &str| {
            fields[field_idx].parse::<u64>().map_err(|_| MeasureError::NotANumber {
                path: path.to_path_buf(),
                line: idx + 1,
                what: name.clone(),
                field: format!("field {} ({label})", field_idx + 1),
                value: fields[field_idx].to_string(),
            })
        };
        let rx_bytes = number(0, "receive bytes")?;
        let tx_bytes = number(8, "transmit bytes")?;
        interfaces.push((name, NetCounters { rx_bytes, tx_bytes }));
    }
    Ok(interfaces)
}

/// The counters of `interface` in the text of `/proc/net/dev`.
///
/// # Errors
/// Those of [`parse_net_dev`], and [`MeasureError::NoInterface`] (listing the interfaces present)
/// when the file has no line for `interface`.
pub fn net_counters(path: &Path, text: &str, interface: &str) -> Result<NetCounters, MeasureError> {
    let interfaces = parse_net_dev(path, text)?;
    match interfaces.iter().find(|(name, _)| name == interface) {
        Some((_, counters)) => Ok(*counters),
        None => Err(MeasureError::NoInterface {
            path: path.to_path_buf(),
            interface: interface.to_string(),
            present: interfaces.into_iter().map(|(name, _)| name).collect(),
        }),
    }
}

/// Parses `/sys/class/net/IFACE/speed`: the link speed in Mbit/s. The kernel writes `-1` when the
/// link is down or its speed unknown; that, 0 and anything not a number are errors (the caller
/// then falls back to the nominal bandwidth).
pub fn parse_link_speed(path: &Path, text: &str) -> Result<u64, MeasureError> {
    let value = text.trim();
    match value.parse::<i64>() {
        Ok(mbit_s) if mbit_s > 0 => Ok(mbit_s as u64),
        _ => Err(MeasureError::BadLinkSpeed { path: path.to_path_buf(), value: value.to_string() }),
    }
}

/// The interface of the default route in `/proc/net/route`: a line whose destination and mask are
/// `00000000` and whose flags have RTF_UP (0x1); the lowest metric wins, then the first listed.
pub fn parse_default_route(path: &Path, text: &str) -> Result<String, MeasureError> {
    let mut best: Option<(u64, String)> = None;
    // Line 1 is the header (`Iface Destination Gateway Flags RefCnt Use Metric Mask …`).
    for (idx, line) in text.lines().enumerate().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        if fields.len() < 8 {
            return Err(MeasureError::TooFewFields {
                path: path.to_path_buf(),
                line: idx + 1,
                what: fields[0].to_string(),
                want: 8,
                got: fields.len(),
            });
        }
        let hex = |field_idx: usize, label: &str| {
            u64::from_str_radix(fields[field_idx], 16).map_err(|_| MeasureError::NotANumber {
                path: path.to_path_buf(),
                line: idx + 1,
                what: fields[0].to_string(),
                field: format!("field {} ({label})", field_idx + 1),
                value: fields[field_idx].to_string(),
            })
        };
        let destination = hex(1, "destination")?;
        let flags = hex(3, "flags")?;
        let mask = hex(7, "mask")?;
        let metric = fields[6].parse::<u64>().map_err(|_| MeasureError::NotANumber {
            path: path.to_path_buf(),
            line: idx + 1,
            what: fields[0].to_string(),
            field: "field 7 (metric)".into(),
            value: fields[6].to_string(),
        })?;
        let is_up = flags & 0x1 != 0;
        if destination == 0 && mask == 0 && is_up && best.as_ref().is_none_or(|(m, _)| metric < *m)
        {
            best = Some((metric, fields[0].to_string()));
        }
    }
    best.map(|(_, name)| name).ok_or(MeasureError::NoDefaultRoute { path: path.to_path_buf() })
}

/// The used fraction of a link between two samples of its counters: the busier direction's
/// bytes per second over the link's bytes per second (`link_mbit_s` × 10⁶ / 8; links are full
/// duplex, so each direction has the whole speed). Capped at 1: a nominal bandwidth set below
/// the real one must not push the figure out of range.
///
/// # Errors
/// [`MeasureError::WentBackwards`] if a counter decreased (the interface was re-created);
/// [`MeasureError::NotAdvancing`] if no time passed.
pub fn communication_use(
    path: &Path,
    interface: &str,
    prev: NetCounters,
    now: NetCounters,
    elapsed: Duration,
    link_mbit_s: f64,
) -> Result<f64, MeasureError> {
    let delta = |what: &str, before: u64, after: u64| {
        after.checked_sub(before).ok_or_else(|| MeasureError::WentBackwards {
            path: path.to_path_buf(),
            what: format!("{interface} {what}"),
            before,
            after,
        })
    };
    let d_rx = delta("receive bytes", prev.rx_bytes, now.rx_bytes)?;
    let d_tx = delta("transmit bytes", prev.tx_bytes, now.tx_bytes)?;
    if elapsed.is_zero() {
        return Err(MeasureError::NotAdvancing { path: path.to_path_buf(), what: "time" });
    }
    let bytes_per_s = d_rx.max(d_tx) as f64 / elapsed.as_secs_f64();
    let link_bytes_per_s = link_mbit_s * 1e6 / 8.0;
    Ok((bytes_per_s / link_bytes_per_s).clamp(0.0, 1.0))
}

// ---------------------------------------------------------------------------------------------
// Readers

/// Where the kernel's files are: `/proc` and `/sys` unless a test points elsewhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sources {
    /// The procfs mount (`/proc`).
    pub proc_root: PathBuf,
    /// The sysfs mount (`/sys`).
    pub sys_root: PathBuf,
}

impl Default for Sources {
    fn default() -> Sources {
        Sources { proc_root: PathBuf::from("/proc"), sys_root: PathBuf::from("/sys") }
    }
}

/// Reads a file to a string; a missing file is [`MeasureError::Missing`], anything else
/// [`MeasureError::Unreadable`].
fn read_text(path: &Path) -> Result<String, MeasureError> {
    std::fs::read_to_string(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            MeasureError::Missing { path: path.to_path_buf(), source }
        } else {
            MeasureError::Unreadable { path: path.to_path_buf(), source }
        }
    })
}

impl Sources {
    /// `/proc/stat`.
    pub fn stat_path(&self) -> PathBuf {
        self.proc_root.join("stat")
    }

    /// `/proc/meminfo`.
    pub fn meminfo_path(&self) -> PathBuf {
        self.proc_root.join("meminfo")
    }

    /// `/proc/net/dev`.
    pub fn net_dev_path(&self) -> PathBuf {
        self.proc_root.join("net").join("dev")
    }

    /// `/proc/net/route`.
    pub fn route_path(&self) -> PathBuf {
        self.proc_root.join("net").join("route")
    }

    /// `/sys/class/net/IFACE/speed`.
    pub fn speed_path(&self, interface: &str) -> PathBuf {
        self.sys_root.join("class").join("net").join(interface).join("speed")
    }

    /// Reads and parses `/proc/stat`.
    pub fn read_cpu_times(&self) -> Result<CpuTimes, MeasureError> {
        let path = self.stat_path();
        parse_proc_stat(&path, &read_text(&path)?)
    }

    /// Reads and parses `/proc/meminfo`.
    pub fn read_meminfo(&self) -> Result<MemInfo, MeasureError> {
        let path = self.meminfo_path();
        parse_meminfo(&path, &read_text(&path)?)
    }

    /// Reads `/proc/net/dev` and returns `interface`'s counters.
    pub fn read_net_counters(&self, interface: &str) -> Result<NetCounters, MeasureError> {
        let path = self.net_dev_path();
        net_counters(&path, &read_text(&path)?, interface)
    }

    /// Reads `/sys/class/net/IFACE/speed`, in Mbit/s.
    pub fn read_link_speed_mbit_s(&self, interface: &str) -> Result<u64, MeasureError> {
        let path = self.speed_path(interface);
        parse_link_speed(&path, &read_text(&path)?)
    }

    /// Reads `/proc/net/route` and returns the default route's interface.
    pub fn read_default_interface(&self) -> Result<String, MeasureError> {
        let path = self.route_path();
        parse_default_route(&path, &read_text(&path)?)
    }
}

/// `statvfs(2)` of `path`: the size of the filesystem that holds it.
pub fn read_fs_blocks(path: &Path) -> Result<FsBlocks, MeasureError> {
    match rustix::fs::statvfs(path) {
        Ok(stat) => {
            Ok(FsBlocks { total: stat.f_blocks, free: stat.f_bfree, available: stat.f_bavail })
        }
        Err(errno) => {
            let source = std::io::Error::from(errno);
            if source.kind() == std::io::ErrorKind::NotFound {
                Err(MeasureError::Missing { path: path.to_path_buf(), source })
            } else {
                Err(MeasureError::Statvfs { path: path.to_path_buf(), source })
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sampler

/// What a [`Sampler`] measures and where.
#[derive(Clone, Debug, PartialEq)]
pub struct SamplerConfig {
    /// Where `/proc` and `/sys` are.
    pub sources: Sources,
    /// A path on the filesystem whose use is the storage figure (`/`, `/var/lib/hearth`).
    pub storage_path: PathBuf,
    /// The network interface; `None`: the default route's, looked up at every sample.
    pub interface: Option<String>,
    /// Link speed when `/sys/class/net/IFACE/speed` gives none (virtual and down links), Mbit/s.
    pub nominal_bandwidth_mbit_s: f64,
}

impl SamplerConfig {
    /// The real `/proc` and `/sys`, with the given storage path, interface and nominal bandwidth.
    pub fn new(
        storage_path: PathBuf,
        interface: Option<String>,
        nominal_bandwidth_mbit_s: f64,
    ) -> SamplerConfig {
        SamplerConfig {
            sources: Sources::default(),
            storage_path,
            interface,
            nominal_bandwidth_mbit_s,
        }
    }
}

/// Where the link speed that scaled the communication figure came from.
#[derive(Debug)]
pub enum LinkSpeed {
    /// `/sys/class/net/IFACE/speed`, Mbit/s.
    Measured(u64),
    /// The configured nominal bandwidth, Mbit/s, because the kernel gave none.
    Nominal {
        /// The nominal bandwidth used, Mbit/s.
        mbit_s: f64,
        /// Why the `speed` file was not used.
        reason: MeasureError,
    },
}

impl LinkSpeed {
    /// The speed in Mbit/s, whichever its source.
    pub fn mbit_s(&self) -> f64 {
        match self {
            LinkSpeed::Measured(mbit_s) => *mbit_s as f64,
            LinkSpeed::Nominal { mbit_s, .. } => *mbit_s,
        }
    }
}

/// One read of the network sources: the interface, its counters and its link speed.
#[derive(Debug)]
pub struct NetRead {
    /// The interface measured (configured, or the default route's).
    pub interface: String,
    /// Its counters from `/proc/net/dev`.
    pub counters: NetCounters,
    /// Its link speed in Mbit/s from `/sys/class/net/IFACE/speed`.
    pub link_speed_mbit_s: Result<u64, MeasureError>,
}

/// One read of every source, before any delta: what [`Sampler::observe`] consumes. Built by
/// [`RawReadings::read`] on a host, or by hand in tests.
#[derive(Debug)]
pub struct RawReadings {
    /// `/proc/stat`.
    pub cpu: Result<CpuTimes, MeasureError>,
    /// `/proc/meminfo`.
    pub memory: Result<MemInfo, MeasureError>,
    /// `statvfs` of the storage path.
    pub storage: Result<FsBlocks, MeasureError>,
    /// `/proc/net/route` (without a configured interface), `/proc/net/dev` and the `speed` file.
    pub net: Result<NetRead, MeasureError>,
}

impl RawReadings {
    /// Reads every source named by `config`.
    pub fn read(config: &SamplerConfig) -> RawReadings {
        let sources = &config.sources;
        let interface = match &config.interface {
            Some(name) => Ok(name.clone()),
            None => sources.read_default_interface(),
        };
        let net = interface.and_then(|interface| {
            let counters = sources.read_net_counters(&interface)?;
            let link_speed_mbit_s = sources.read_link_speed_mbit_s(&interface);
            Ok(NetRead { interface, counters, link_speed_mbit_s })
        });
        RawReadings {
            cpu: sources.read_cpu_times(),
            memory: sources.read_meminfo(),
            storage: read_fs_blocks(&config.storage_path),
            net,
        }
    }
}

/// A source that could not be measured this time.
#[derive(Debug)]
pub struct Failure {
    /// Which figure is affected.
    pub resource: Resource,
    /// Why.
    pub error: MeasureError,
}

/// One sample: the use of each resource and the sources that failed.
///
/// A failed resource's figure in [`Reading::usage`] is its last good value, or 1 (fully used)
/// if it never had one: a node that cannot measure itself must not attract work. The failure is
/// always listed, so nothing fails silently.
#[derive(Debug)]
pub struct Reading {
    /// The figures, each in [0, 1].
    pub usage: Usage,
    /// The failed sources, in [`Resource::ALL`] order; empty when all were measured.
    pub failures: Vec<Failure>,
    /// The interface measured, if it was known.
    pub interface: Option<String>,
    /// The link speed the communication figure was scaled by, if it was computed.
    pub link_speed: Option<LinkSpeed>,
}

impl Reading {
    /// Whether `resource` failed in this reading.
    pub fn failed(&self, resource: Resource) -> bool {
        self.failures.iter().any(|failure| failure.resource == resource)
    }
}

/// The previous sample of the network counters, with the time and interface it was taken on.
#[derive(Clone, Debug)]
struct NetSample {
    at: Duration,
    interface: String,
    counters: NetCounters,
}

/// Turns successive reads of the sources into [`Reading`]s: holds the previous processor and
/// network counters (rates need two reads) and the last good value of each figure.
///
/// The first reading has no processor or communication figure ([`MeasureError::NoPreviousSample`]):
/// call [`Sampler::prime`] at start-up, one sample interval before the first real sample.
#[derive(Debug)]
pub struct Sampler {
    config: SamplerConfig,
    prev_cpu: Option<CpuTimes>,
    prev_net: Option<NetSample>,
    last_good: [Option<f64>; 4],
}

impl Sampler {
    /// A sampler with no previous counters.
    pub fn new(config: SamplerConfig) -> Sampler {
        Sampler { config, prev_cpu: None, prev_net: None, last_good: [None; 4] }
    }

    /// What this sampler measures.
    pub fn config(&self) -> &SamplerConfig {
        &self.config
    }

    /// Reads the counters and keeps them as the previous sample, discarding the reading.
    pub fn prime(&mut self, now: Duration) {
        self.sample(now);
    }

    /// Reads every source and returns the reading. `now` is a monotonic time from any fixed
    /// origin (the caller's clock; time is an input).
    pub fn sample(&mut self, now: Duration) -> Reading {
        let raw = RawReadings::read(&self.config);
        self.observe(raw, now)
    }

    /// The pure core of [`Sampler::sample`]: turns one read of the sources into a reading and
    /// keeps its counters for the next.
    pub fn observe(&mut self, raw: RawReadings, now: Duration) -> Reading {
        let sources = &self.config.sources;
        let stat_path = sources.stat_path();
        let net_path = sources.net_dev_path();

        let storage = raw.storage.and_then(|blocks| storage_use(&self.config.storage_path, blocks));
        let memory = raw.memory.and_then(|mem| memory_use(&sources.meminfo_path(), mem));

        let processor = match raw.cpu {
            Ok(times) => {
                let fraction = match self.prev_cpu {
                    Some(prev) => processor_use(&stat_path, prev, times),
                    None => Err(MeasureError::NoPreviousSample { path: stat_path.clone() }),
                };
                self.prev_cpu = Some(times);
                fraction
            }
            Err(error) => Err(error),
        };

        let mut interface = None;
        let mut link_speed = None;
        let communication = match raw.net {
            Ok(NetRead { interface: name, counters, link_speed_mbit_s }) => {
                interface = Some(name.clone());
                let speed = match link_speed_mbit_s {
                    Ok(mbit_s) => LinkSpeed::Measured(mbit_s),
                    Err(reason) => {
                        LinkSpeed::Nominal { mbit_s: self.config.nominal_bandwidth_mbit_s, reason }
                    }
                };
                let fraction = match &self.prev_net {
                    // A different interface (the default route moved) starts over.
                    Some(prev) if prev.interface == name => communication_use(
                        &net_path,
                        &name,
                        prev.counters,
                        counters,
                        now.saturating_sub(prev.at),
                        speed.mbit_s(),
                    ),
                    _ => Err(MeasureError::NoPreviousSample { path: net_path.clone() }),
                };
                link_speed = Some(speed);
                self.prev_net = Some(NetSample { at: now, interface: name, counters });
                fraction
            }
            Err(error) => Err(error),
        };

        let mut usage = Usage { storage: 1.0, processor: 1.0, communication: 1.0, memory: 1.0 };
        let mut failures = Vec::new();
        let results = [storage, processor, communication, memory];
        for ((resource, result), last_good) in
            Resource::ALL.into_iter().zip(results).zip(self.last_good.iter_mut())
        {
            match result {
                Ok(fraction) => {
                    *last_good = Some(fraction);
                    usage.set(resource, fraction);
                }
                Err(error) => {
                    usage.set(resource, last_good.unwrap_or(1.0));
                    failures.push(Failure { resource, error });
                }
            }
        }
        Reading { usage, failures, interface, link_speed }
    }
}

// ---------------------------------------------------------------------------------------------
// FakeLoad

/// Fixed use, for tests and demos (`--fake-load S,P,C`): replaces measurement entirely.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FakeLoad {
    /// The fixed figures.
    pub usage: Usage,
}

/// Why a `--fake-load` value was rejected; each message names the bad part.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum FakeLoadError {
    /// Not three (or four) comma-separated parts.
    #[error(
        "expected S,P,C (storage, processor, communication use, each in [0, 1]; an optional \
         fourth part is memory), got {got} part(s) in `{input}`"
    )]
    PartCount {
        /// The whole input.
        input: String,
        /// How many parts it had.
        got: usize,
    },
    /// A part is not a number.
    #[error("part {position} ({resource}): not a number: `{value}`")]
    NotANumber {
        /// 1-based position of the part.
        position: usize,
        /// The resource it sets.
        resource: Resource,
        /// The part's text.
        value: String,
    },
    /// A part is a number outside [0, 1] (or not finite).
    #[error("part {position} ({resource}): {value} is outside [0, 1]")]
    OutOfRange {
        /// 1-based position of the part.
        position: usize,
        /// The resource it sets.
        resource: Resource,
        /// The part's value.
        value: f64,
    },
}

impl FakeLoad {
    /// The order of the parts of `S,P,C[,M]`.
    const PARTS: [Resource; 4] =
        [Resource::Storage, Resource::Processor, Resource::Communication, Resource::Memory];

    /// A reading with the fixed figures and no failures.
    pub fn reading(&self) -> Reading {
        Reading { usage: self.usage, failures: Vec::new(), interface: None, link_speed: None }
    }
}

impl FromStr for FakeLoad {
    type Err = FakeLoadError;

    /// Parses `S,P,C` (storage, processor, communication) or `S,P,C,M` (and memory), each a
    /// fraction in [0, 1]; spaces around parts are allowed. Memory is 0 when not given.
    fn from_str(input: &str) -> Result<FakeLoad, FakeLoadError> {
        let parts: Vec<&str> = input.split(',').collect();
        if !(3..=4).contains(&parts.len()) {
            return Err(FakeLoadError::PartCount { input: input.to_string(), got: parts.len() });
        }
        let mut usage = Usage { storage: 0.0, processor: 0.0, communication: 0.0, memory: 0.0 };
        for (idx, (part, resource)) in parts.iter().zip(FakeLoad::PARTS).enumerate() {
            let part = part.trim();
            let value = part.parse::<f64>().map_err(|_| FakeLoadError::NotANumber {
                position: idx + 1,
                resource,
                value: part.to_string(),
            })?;
            if !(0.0..=1.0).contains(&value) {
                return Err(FakeLoadError::OutOfRange { position: idx + 1, resource, value });
            }
            usage.set(resource, value);
        }
        Ok(FakeLoad { usage })
    }
}

impl fmt::Display for FakeLoad {
    /// `S,P,C,M`, which [`FakeLoad::from_str`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let u = &self.usage;
        write!(f, "{},{},{},{}", u.storage, u.processor, u.communication, u.memory)
    }
}
