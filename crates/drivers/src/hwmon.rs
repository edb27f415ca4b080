//! Linux sensors from sysfs: a [`Sensors`] driver for the local host that reads hwmon chips
//! (`/sys/class/hwmon/hwmon*/`) and thermal zones (`/sys/class/thermal/thermal_zone*/`) under a
//! configurable root (`/` on a real host, a fixture tree in tests).
//!
//! **What it reads.** Per hwmon chip: `name`, then every `temp<N>_input` (millidegrees Celsius)
//! with its `temp<N>_label`, and every `power<N>_average` or, without one, `power<N>_input`
//! (microwatts) with its `power<N>_label`. Old kernels keep a chip's files in `hwmon*/device/`;
//! that is read too. Per thermal zone: `type` and `temp` (millidegrees Celsius). Chips and zones
//! are read in index order (`hwmon2` before `hwmon10`), sensors in index order within a chip.
//!
//! **Names.** A chip sensor is `<chip>/<label>`, or `<chip>/temp<N>` (`power<N>`) without a
//! label; a chip name that several chips share gets the chip's rank among them
//! (`coretemp.0/Core 0`, `coretemp.1/Core 0`). A thermal zone is `thermal_zone<N>/<type>`.
//!
//! **No sensor, no reading, a broken tree.** A host without hwmon or thermal zones has no
//! temperatures (an empty list) and no power draw ([`DriverError::Unsupported`]), never a zero
//! reading. A sensor whose file opens but whose read fails (the kernel driver's EIO, ENODATA,
//! EAGAIN…) is [`SensorValue::Unavailable`] with the error and the path. A tree that is not
//! what sysfs looks like is an error naming the path: a value that is not an integer
//! ([`DriverError::MalformedReply`]), or a file that cannot be opened or is not a file (a
//! directory, a dangling link; [`DriverError::CommandFailed`]).
//!
//! **Power draw.** The host's draw is one sensor, chosen by [`LinuxSensors::with_power_sensor`]
//! (its name as above), or else the first sensor of a chip named `power_meter`: the ACPI power
//! meter, which measures the whole system. Other chips' power sensors (a GPU's, a CPU
//! package's) measure a part of the host, so they are not taken as its draw unless configured;
//! without a choice the error lists them. `power<N>_average` is preferred to `power<N>_input`:
//! the host's draw heats the room over minutes, not at one instant.
//!
//! The parsers ([`parse_millidegrees`], [`parse_microwatts`], [`parse_label`],
//! [`parse_index`]) are pure; [`read_sysfs`] is the one function that reads a file.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::error::DriverError;
use crate::host::HostId;
use crate::sensors::{PowerDraw, SensorValue, Sensors, Temperature};

/// What errors call the sensor source (the `bmc` field of [`DriverError`]).
const SOURCE: &str = "sysfs";

/// The chip name of the ACPI power meter, whose power sensor is the whole host's draw.
pub const POWER_METER_CHIP: &str = "power_meter";

/// Why a sysfs file gave no value: the tree is broken, not the sensor.
#[derive(Debug, thiserror::Error)]
pub enum SysfsError {
    /// The file could not be opened, or is not a file.
    #[error("{}: cannot read: {detail}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why (`is a directory, not a file`, `No such file or directory (os error 2)`).
        detail: String,
    },
    /// The file's content is not what sysfs writes there.
    #[error("{}: expected {expected}, got {content:?}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What it should hold (`an integer (millidegrees Celsius)`).
        expected: &'static str,
        /// What it holds.
        content: String,
    },
}

impl SysfsError {
    /// The same error as a [`DriverError`] for `host`, naming the path.
    pub fn for_host(self, host: &HostId) -> DriverError {
        match self {
            SysfsError::Unreadable { path, detail } => DriverError::CommandFailed {
                host: host.clone(),
                bmc: SOURCE.to_string(),
                command: format!("read {}", path.display()),
                status: "unreadable".to_string(),
                detail,
            },
            SysfsError::Malformed { path, expected, content } => DriverError::MalformedReply {
                host: host.clone(),
                bmc: SOURCE.to_string(),
                command: format!("read {} as {expected}", path.display()),
                reply: content,
            },
        }
    }
}

/// What reading one sysfs file gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileRead {
    /// Its content.
    Text(String),
    /// It opened, but the read failed: the sensor has no value now (the error, with the path).
    Failed(String),
}

/// Reads one sysfs file. Opening it must work and it must be a regular file (else
/// [`SysfsError::Unreadable`]); a read that then fails is [`FileRead::Failed`], which is how a
/// kernel driver reports a sensor without a value (EIO, ENODATA, EAGAIN). Checks that it is a
/// file before opening it, so a FIFO where a value belongs cannot block the call.
pub fn read_sysfs(path: &Path) -> Result<FileRead, SysfsError> {
    let unreadable = |detail: String| SysfsError::Unreadable { path: path.to_path_buf(), detail };
    let metadata = fs::metadata(path).map_err(|err| unreadable(err.to_string()))?;
    if !metadata.is_file() {
        let what = if metadata.is_dir() { "a directory" } else { "a special file" };
        return Err(unreadable(format!("is {what}, not a file")));
    }
    let mut file = File::open(path).map_err(|err| unreadable(err.to_string()))?;
    let mut bytes = Vec::new();
    match file.read_to_end(&mut bytes) {
        Ok(_) => Ok(FileRead::Text(String::from_utf8_lossy(&bytes).into_owned())),
        Err(err) => Ok(FileRead::Failed(format!("{}: {err}", path.display()))),
    }
}

/// Whether `path` exists (a dangling link does not; it is read, and fails, where it is used).
fn exists(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

/// A temperature file's content (`"45000\n"`, `"-5500"`) in °C.
pub fn parse_millidegrees(path: &Path, content: &str) -> Result<f64, SysfsError> {
    parse_integer(path, content, "an integer (millidegrees Celsius)").map(|m| m as f64 / 1000.0)
}

/// A power file's content (`"125000000\n"`) in W.
pub fn parse_microwatts(path: &Path, content: &str) -> Result<f64, SysfsError> {
    let microwatts = parse_integer(path, content, "an integer ≥ 0 (microwatts)")?;
    if microwatts < 0 {
        return Err(SysfsError::Malformed {
            path: path.to_path_buf(),
            expected: "an integer ≥ 0 (microwatts)",
            content: content.to_string(),
        });
    }
    Ok(microwatts as f64 / 1e6)
}

fn parse_integer(path: &Path, content: &str, expected: &'static str) -> Result<i64, SysfsError> {
    content.trim().parse::<i64>().map_err(|_| SysfsError::Malformed {
        path: path.to_path_buf(),
        expected,
        content: content.to_string(),
    })
}

/// A label or name file's content, trimmed; `None` when it is blank.
pub fn parse_label(content: &str) -> Option<String> {
    let label = content.trim();
    (!label.is_empty()).then(|| label.to_string())
}

/// The index in a sysfs name: `parse_index("temp12_input", "temp", "_input") == Some(12)`,
/// `parse_index("hwmon3", "hwmon", "") == Some(3)`; `None` for any other name.
pub fn parse_index(name: &str, prefix: &str, suffix: &str) -> Option<u32> {
    let digits = name.strip_prefix(prefix)?.strip_suffix(suffix)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The local host's sensors from sysfs; see the module documentation.
#[derive(Clone, Debug)]
pub struct LinuxSensors {
    host: HostId,
    root: PathBuf,
    power_sensor: Option<String>,
}

/// One chip: its directory (where its files are) and its display name.
struct Chip {
    dir: PathBuf,
    name: String,
}

/// A sensor's reading before it is named for the trait.
struct Reading {
    name: String,
    value: SensorValue,
}

impl LinuxSensors {
    /// The sensors of the machine hearth runs on, which the fleet calls `host`, under `/`.
    pub fn new(host: HostId) -> LinuxSensors {
        LinuxSensors { host, root: PathBuf::from("/"), power_sensor: None }
    }

    /// The same, reading `root/sys/…` instead of `/sys/…`.
    pub fn with_root(mut self, root: impl Into<PathBuf>) -> LinuxSensors {
        self.root = root.into();
        self
    }

    /// The same, taking the power sensor named `name` (`"amdgpu/PPT"`) as the host's draw.
    pub fn with_power_sensor(mut self, name: impl Into<String>) -> LinuxSensors {
        self.power_sensor = Some(name.into());
        self
    }

    /// The host these sensors belong to.
    pub fn host(&self) -> &HostId {
        &self.host
    }

    /// The root the sysfs paths are under.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every temperature: the hwmon chips' in chip order, then the thermal zones'.
    pub fn read_temperatures(&self) -> Result<Vec<Temperature>, SysfsError> {
        let mut readings = Vec::new();
        for chip in self.chips()? {
            readings.extend(read_chip_sensors(&chip, "temp", &["_input"], parse_millidegrees)?);
        }
        readings.extend(self.thermal_zones()?);
        Ok(readings
            .into_iter()
            .map(|reading| Temperature { name: reading.name, celsius: reading.value })
            .collect())
    }

    /// Every power sensor of every hwmon chip, in chip order.
    pub fn read_power_sensors(&self) -> Result<Vec<PowerDraw>, SysfsError> {
        let mut readings = Vec::new();
        for chip in self.chips()? {
            let suffixes = ["_average", "_input"];
            readings.extend(read_chip_sensors(&chip, "power", &suffixes, parse_microwatts)?);
        }
        Ok(readings
            .into_iter()
            .map(|reading| PowerDraw { name: reading.name, watts: reading.value })
            .collect())
    }

    /// The numbered entries `<prefix><N>` of `root/<class_dir>`, in index order; none when the
    /// class directory does not exist (no such devices).
    fn class_entries(
        &self,
        class_dir: &str,
        prefix: &str,
    ) -> Result<Vec<(u32, PathBuf)>, SysfsError> {
        let dir = self.root.join(class_dir);
        let unreadable =
            |err: io::Error| SysfsError::Unreadable { path: dir.clone(), detail: err.to_string() };
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(unreadable(err)),
        };
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry.map_err(unreadable)?;
            let name = entry.file_name();
            if let Some(index) = name.to_str().and_then(|name| parse_index(name, prefix, "")) {
                found.push((index, entry.path()));
            }
        }
        found.sort();
        Ok(found)
    }

    /// The hwmon chips, named (see the module documentation).
    fn chips(&self) -> Result<Vec<Chip>, SysfsError> {
        let mut chips = Vec::new();
        for (index, path) in self.class_entries("sys/class/hwmon", "hwmon")? {
            // Old kernels: the chip's files in its device directory.
            let device = path.join("device");
            let dir = if !exists(&path.join("name")) && exists(&device.join("name")) {
                device
            } else {
                path
            };
            let name_file = dir.join("name");
            let name = if exists(&name_file) { read_label(&name_file)? } else { None };
            chips.push(Chip { dir, name: name.unwrap_or_else(|| format!("hwmon{index}")) });
        }
        // Chips sharing a name get their rank among them.
        let names: Vec<String> = chips.iter().map(|chip| chip.name.clone()).collect();
        for (at, chip) in chips.iter_mut().enumerate() {
            if names.iter().filter(|name| **name == chip.name).count() > 1 {
                let rank = names[..at].iter().filter(|name| **name == chip.name).count();
                chip.name = format!("{}.{rank}", chip.name);
            }
        }
        Ok(chips)
    }

    /// Every thermal zone that has a `temp` file.
    fn thermal_zones(&self) -> Result<Vec<Reading>, SysfsError> {
        let mut readings = Vec::new();
        for (index, dir) in self.class_entries("sys/class/thermal", "thermal_zone")? {
            let temp = dir.join("temp");
            if !exists(&temp) {
                continue;
            }
            let type_file = dir.join("type");
            let kind = if exists(&type_file) { read_label(&type_file)? } else { None };
            let name = format!("thermal_zone{index}/{}", kind.as_deref().unwrap_or("unknown"));
            readings.push(Reading { name, value: read_value(&temp, parse_millidegrees)? });
        }
        Ok(readings)
    }

    fn known(&self, host: &HostId) -> Result<(), DriverError> {
        if *host != self.host {
            return Err(DriverError::UnknownHost { host: host.clone() });
        }
        Ok(())
    }

    fn unsupported(&self, detail: String) -> DriverError {
        DriverError::Unsupported {
            host: self.host.clone(),
            bmc: SOURCE.to_string(),
            operation: "a power sensor".to_string(),
            detail,
        }
    }
}

/// A label or name file: its text, or `None` when blank or when its read failed (the sensor
/// is then named by its index; the file is there, so the tree is fine).
fn read_label(path: &Path) -> Result<Option<String>, SysfsError> {
    Ok(match read_sysfs(path)? {
        FileRead::Text(text) => parse_label(&text),
        FileRead::Failed(_) => None,
    })
}

/// A value file through `parse`, or unavailable when its read failed.
fn read_value(
    path: &Path,
    parse: fn(&Path, &str) -> Result<f64, SysfsError>,
) -> Result<SensorValue, SysfsError> {
    Ok(match read_sysfs(path)? {
        FileRead::Text(text) => SensorValue::Value(parse(path, &text)?),
        FileRead::Failed(why) => SensorValue::Unavailable(why),
    })
}

/// The chip's `<kind><N><suffix>` sensors, in index order: for each index, the first suffix
/// that exists, and `<kind><N>_label`.
fn read_chip_sensors(
    chip: &Chip,
    kind: &str,
    suffixes: &[&str],
    parse: fn(&Path, &str) -> Result<f64, SysfsError>,
) -> Result<Vec<Reading>, SysfsError> {
    let unreadable =
        |err: io::Error| SysfsError::Unreadable { path: chip.dir.clone(), detail: err.to_string() };
    let mut indexes = Vec::new();
    for entry in fs::read_dir(&chip.dir).map_err(unreadable)? {
        let name = entry.map_err(unreadable)?.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(index) = suffixes.iter().find_map(|suffix| parse_index(name, kind, suffix)) {
            indexes.push(index);
        }
    }
    indexes.sort_unstable();
    indexes.dedup();
    let mut readings = Vec::new();
    for index in indexes {
        let Some(path) = suffixes
            .iter()
            .map(|suffix| chip.dir.join(format!("{kind}{index}{suffix}")))
            .find(|path| exists(path))
        else {
            continue;
        };
        let label_file = chip.dir.join(format!("{kind}{index}_label"));
        let label = if exists(&label_file) { read_label(&label_file)? } else { None };
        let name = format!("{}/{}", chip.name, label.unwrap_or_else(|| format!("{kind}{index}")));
        readings.push(Reading { name, value: read_value(&path, parse)? });
    }
    Ok(readings)
}

impl Sensors for LinuxSensors {
    fn temperatures(&self, host: &HostId) -> Result<Vec<Temperature>, DriverError> {
        self.known(host)?;
        self.read_temperatures().map_err(|err| err.for_host(&self.host))
    }

    fn power_draw(&self, host: &HostId) -> Result<PowerDraw, DriverError> {
        self.known(host)?;
        let sensors = self.read_power_sensors().map_err(|err| err.for_host(&self.host))?;
        let names = || sensors.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ");
        if let Some(wanted) = &self.power_sensor {
            return match sensors.iter().find(|sensor| sensor.name == *wanted) {
                Some(found) => Ok(found.clone()),
                None if sensors.is_empty() => Err(self.unsupported(format!(
                    "no power sensor named {wanted:?}: no hwmon chip under {} has one",
                    self.root.display()
                ))),
                None => Err(self.unsupported(format!(
                    "no power sensor named {wanted:?}; there are: {}",
                    names()
                ))),
            };
        }
        let meter = format!("{POWER_METER_CHIP}/");
        let meter_dot = format!("{POWER_METER_CHIP}.");
        let found = sensors
            .iter()
            .find(|sensor| sensor.name.starts_with(&meter) || sensor.name.starts_with(&meter_dot));
        match found {
            Some(found) => Ok(found.clone()),
            None if sensors.is_empty() => Err(self.unsupported(format!(
                "no hwmon power sensor under {}",
                self.root.join("sys/class/hwmon").display()
            ))),
            None => Err(self.unsupported(format!(
                "no whole-system power meter (hwmon chip `{POWER_METER_CHIP}`); the power \
                 sensors there measure parts of the host ({}): configure one as the host's \
                 draw if it is",
                names()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("/sys/class/hwmon/hwmon0/temp1_input")
    }

    #[test]
    fn millidegrees_read_as_celsius() {
        assert_eq!(parse_millidegrees(p(), "45000\n").unwrap(), 45.0);
        assert_eq!(parse_millidegrees(p(), "-5500").unwrap(), -5.5);
        assert_eq!(parse_millidegrees(p(), " 27800 \n").unwrap(), 27.8);
    }

    #[test]
    fn malformed_values_name_the_path_and_quote_the_content() {
        for bad in ["", "\n", "45.5", "abc", "45000 C", "9999999999999999999999"] {
            let err = parse_millidegrees(p(), bad).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "/sys/class/hwmon/hwmon0/temp1_input: expected an integer (millidegrees \
                     Celsius), got {bad:?}"
                )
            );
        }
        let err = parse_microwatts(p(), "-1").unwrap_err();
        assert!(err.to_string().contains("integer ≥ 0 (microwatts)"), "{err}");
    }

    #[test]
    fn microwatts_read_as_watts() {
        assert_eq!(parse_microwatts(p(), "125000000\n").unwrap(), 125.0);
        assert_eq!(parse_microwatts(p(), "0").unwrap(), 0.0, "a meter reading 0 W reads 0 W");
    }

    #[test]
    fn labels_are_trimmed_and_blank_ones_are_none() {
        assert_eq!(parse_label("Package id 0\n"), Some("Package id 0".to_string()));
        assert_eq!(parse_label(" \n"), None);
    }

    #[test]
    fn indexes_come_only_from_well_formed_names() {
        assert_eq!(parse_index("temp12_input", "temp", "_input"), Some(12));
        assert_eq!(parse_index("hwmon3", "hwmon", ""), Some(3));
        assert_eq!(parse_index("thermal_zone0", "thermal_zone", ""), Some(0));
        for name in
            ["temp_input", "tempx_input", "temp1_label", "temp+1_input", "hwmon", "cooling_device0"]
        {
            assert_eq!(parse_index(name, "temp", "_input"), None, "{name}");
        }
        assert_eq!(parse_index("hwmon99999999999", "hwmon", ""), None, "too big for u32");
    }

    #[test]
    fn sysfs_errors_become_driver_errors_naming_host_and_path() {
        let host = HostId::new("h1");
        let err = parse_millidegrees(p(), "abc").unwrap_err().for_host(&host);
        assert_eq!(
            err.to_string(),
            "host h1: BMC sysfs: malformed reply to `read /sys/class/hwmon/hwmon0/temp1_input as \
             an integer (millidegrees Celsius)`: \"abc\""
        );
        let err = SysfsError::Unreadable {
            path: p().to_path_buf(),
            detail: "is a directory, not a file".into(),
        };
        assert_eq!(
            err.for_host(&host).to_string(),
            "host h1: BMC sysfs: `read /sys/class/hwmon/hwmon0/temp1_input` failed (unreadable): \
             is a directory, not a file"
        );
    }
}
