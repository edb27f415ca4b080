//! Linux sensors on a sysfs fixture tree built in a temporary directory (these machines have
//! no hwmon): two chips with labels and one without, a thermal zone, a power meter and a GPU's
//! power sensor, a malformed value, files that cannot be opened (a directory where a file
//! belongs, a dangling link), a read that fails like a kernel driver's EIO, and the empty tree.

use std::fs;
use std::path::{Path, PathBuf};

use drivers::hwmon::LinuxSensors;
use drivers::{DriverError, HostId, SensorValue, Sensors};

/// A directory under the system's temporary one, removed on drop (the process tests use it
/// too).
pub struct TempTree {
    /// The directory.
    pub root: PathBuf,
}

impl TempTree {
    /// A fresh directory named after the test process and `name`.
    pub fn new(name: &str) -> TempTree {
        let root = std::env::temp_dir().join(format!("hearth-hwmon-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();
        TempTree { root }
    }

    /// Writes `content` to `relative`, creating its directories.
    pub fn file(&self, relative: &str, content: &str) -> &TempTree {
        let path = self.root.join(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
        self
    }

    /// `relative` under the directory.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }
}

impl Drop for TempTree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// Two coretemp chips (one per socket, labels), an nvme chip, an unnamed chip without labels
/// (hwmon10, read after hwmon2), an amdgpu chip with a labelled power sensor, the ACPI power
/// meter (unlabelled, both average and input), and two thermal zones, one without `type`.
fn fixture(name: &str) -> TempTree {
    let tree = TempTree::new(name);
    tree.file("sys/class/hwmon/hwmon0/name", "coretemp\n")
        .file("sys/class/hwmon/hwmon0/temp1_input", "45000\n")
        .file("sys/class/hwmon/hwmon0/temp1_label", "Package id 0\n")
        .file("sys/class/hwmon/hwmon0/temp2_input", "43000\n")
        .file("sys/class/hwmon/hwmon0/temp2_label", "Core 0\n")
        .file("sys/class/hwmon/hwmon0/temp2_max", "100000\n")
        .file("sys/class/hwmon/hwmon1/name", "coretemp\n")
        .file("sys/class/hwmon/hwmon1/temp1_input", "47500\n")
        .file("sys/class/hwmon/hwmon1/temp1_label", "Package id 1\n")
        .file("sys/class/hwmon/hwmon2/name", "nvme\n")
        .file("sys/class/hwmon/hwmon2/temp1_input", "38850\n")
        .file("sys/class/hwmon/hwmon2/temp1_label", "Composite\n")
        // No label: named by index. No name: named by the chip directory.
        .file("sys/class/hwmon/hwmon10/temp3_input", "-5000\n")
        .file("sys/class/hwmon/hwmon3/name", "amdgpu\n")
        .file("sys/class/hwmon/hwmon3/power1_average", "35000000\n")
        .file("sys/class/hwmon/hwmon3/power1_label", "PPT\n")
        .file("sys/class/hwmon/hwmon3/power1_cap", "200000000\n")
        .file("sys/class/hwmon/hwmon4/name", "power_meter\n")
        .file("sys/class/hwmon/hwmon4/power1_average", "187250000\n")
        .file("sys/class/hwmon/hwmon4/power1_input", "999000000\n")
        .file("sys/class/hwmon/hwmon4/power1_average_interval", "1000\n")
        .file("sys/class/thermal/thermal_zone0/type", "x86_pkg_temp\n")
        .file("sys/class/thermal/thermal_zone0/temp", "46000\n")
        .file("sys/class/thermal/thermal_zone1/temp", "30000\n")
        // A zone without `temp` is not a sensor; cooling devices are not zones.
        .file("sys/class/thermal/thermal_zone2/type", "acpitz\n")
        .file("sys/class/thermal/cooling_device0/type", "Processor\n");
    tree
}

fn h1() -> HostId {
    HostId::new("h1")
}

fn sensors(tree: &TempTree) -> LinuxSensors {
    LinuxSensors::new(h1()).with_root(&tree.root)
}

fn readings(sensors: &LinuxSensors) -> Vec<(String, SensorValue)> {
    let temperatures = sensors.temperatures(&h1()).expect("the fixture reads");
    temperatures.into_iter().map(|t| (t.name, t.celsius)).collect()
}

fn value(name: &str, celsius: f64) -> (String, SensorValue) {
    (name.to_string(), SensorValue::Value(celsius))
}

#[test]
fn chips_and_zones_read_in_index_order_with_their_labels() {
    let tree = fixture("labels");
    assert_eq!(
        readings(&sensors(&tree)),
        [
            value("coretemp.0/Package id 0", 45.0),
            value("coretemp.0/Core 0", 43.0),
            value("coretemp.1/Package id 1", 47.5),
            value("nvme/Composite", 38.85),
            value("hwmon10/temp3", -5.0),
            value("thermal_zone0/x86_pkg_temp", 46.0),
            value("thermal_zone1/unknown", 30.0),
        ]
    );
}

#[test]
fn the_power_meter_is_the_hosts_draw_and_other_sensors_only_when_chosen() {
    let tree = fixture("power");
    let draw = sensors(&tree).power_draw(&h1()).unwrap();
    // The average is preferred to the instant reading.
    assert_eq!(
        (draw.name.as_str(), draw.watts),
        ("power_meter/power1", SensorValue::Value(187.25))
    );
    let all = sensors(&tree).read_power_sensors().unwrap();
    let names: Vec<&str> = all.iter().map(|sensor| sensor.name.as_str()).collect();
    assert_eq!(names, ["amdgpu/PPT", "power_meter/power1"]);

    let gpu = sensors(&tree).with_power_sensor("amdgpu/PPT").power_draw(&h1()).unwrap();
    assert_eq!(gpu.watts, SensorValue::Value(35.0));
    let err = sensors(&tree).with_power_sensor("amdgpu/nope").power_draw(&h1()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "host h1: BMC sysfs does not support a power sensor: no power sensor named \
         \"amdgpu/nope\"; there are: amdgpu/PPT, power_meter/power1"
    );

    // Without the meter, a GPU's power is not the host's draw: Unsupported, listing it.
    fs::remove_dir_all(tree.path("sys/class/hwmon/hwmon4")).unwrap();
    let err = sensors(&tree).power_draw(&h1()).unwrap_err();
    assert!(matches!(&err, DriverError::Unsupported { .. }), "{err}");
    assert!(err.to_string().contains("measure parts of the host (amdgpu/PPT)"), "{err}");
}

#[test]
fn the_empty_tree_has_no_temperatures_and_no_power_draw_never_a_zero() {
    for prepare in [
        |_: &TempTree| {},
        |tree: &TempTree| fs::create_dir_all(tree.path("sys/class/hwmon")).unwrap(),
        |tree: &TempTree| {
            fs::create_dir_all(tree.path("sys/class/hwmon/hwmon0")).unwrap();
            fs::create_dir_all(tree.path("sys/class/thermal")).unwrap();
        },
    ] {
        let tree = TempTree::new("empty");
        prepare(&tree);
        let sensors = sensors(&tree);
        assert_eq!(sensors.temperatures(&h1()).unwrap(), []);
        let err = sensors.power_draw(&h1()).unwrap_err();
        assert!(matches!(&err, DriverError::Unsupported { .. }), "{err}");
        assert!(err.to_string().contains("no hwmon power sensor under"), "{err}");
    }
}

#[test]
fn a_malformed_value_is_an_error_naming_its_path() {
    let tree = fixture("malformed");
    tree.file("sys/class/hwmon/hwmon2/temp1_input", "38.85\n");
    let err = sensors(&tree).temperatures(&h1()).unwrap_err();
    let path = tree.path("sys/class/hwmon/hwmon2/temp1_input");
    assert!(
        matches!(&err, DriverError::MalformedReply { reply, .. } if reply == "38.85\n"),
        "{err}"
    );
    assert!(err.to_string().contains(&format!("read {} as", path.display())), "{err}");

    tree.file("sys/class/hwmon/hwmon2/temp1_input", "38850\n");
    tree.file("sys/class/hwmon/hwmon4/power1_average", "lots\n");
    let err = sensors(&tree).power_draw(&h1()).unwrap_err();
    assert!(
        err.to_string().contains("hwmon4/power1_average as an integer ≥ 0 (microwatts)"),
        "{err}"
    );
}

#[test]
fn a_file_that_cannot_be_opened_is_an_error_naming_its_path() {
    // Root reads anything, so permissions cannot make a file unreadable here: a directory where
    // a value belongs, and a link to nothing, can.
    let tree = fixture("unreadable");
    let value = tree.path("sys/class/hwmon/hwmon0/temp2_input");
    fs::remove_file(&value).unwrap();
    fs::create_dir(&value).unwrap();
    let err = sensors(&tree).temperatures(&h1()).unwrap_err();
    assert!(matches!(&err, DriverError::CommandFailed { .. }), "{err}");
    assert!(err.to_string().contains(&format!("read {}", value.display())), "{err}");
    assert!(err.to_string().ends_with("is a directory, not a file"), "{err}");

    let tree = fixture("dangling");
    let label = tree.path("sys/class/hwmon/hwmon1/temp1_label");
    fs::remove_file(&label).unwrap();
    std::os::unix::fs::symlink(tree.path("nowhere"), &label).unwrap();
    let err = sensors(&tree).temperatures(&h1()).unwrap_err();
    assert!(err.to_string().contains(&format!("read {}", label.display())), "{err}");
    assert!(err.to_string().contains("No such file or directory"), "{err}");

    // The class directory itself a file.
    let tree = TempTree::new("class-file");
    tree.file("sys/class/thermal", "not a directory");
    let err = sensors(&tree).temperatures(&h1()).unwrap_err();
    assert!(
        err.to_string().contains(&tree.path("sys/class/thermal").display().to_string()),
        "{err}"
    );
}

#[test]
fn a_sensor_whose_read_fails_is_unavailable_with_the_reason() {
    // A kernel driver without a value fails the read (EIO, ENODATA) of a file that opened.
    // /proc/self/mem does the same: it opens, and reading at offset 0 (never mapped) is EIO.
    let tree = fixture("eio");
    let value = tree.path("sys/class/hwmon/hwmon2/temp1_input");
    fs::remove_file(&value).unwrap();
    std::os::unix::fs::symlink(Path::new("/proc/self/mem"), &value).unwrap();
    let temperatures = sensors(&tree).temperatures(&h1()).unwrap();
    let nvme = temperatures.iter().find(|t| t.name == "nvme/Composite").unwrap();
    match &nvme.celsius {
        SensorValue::Unavailable(why) => {
            assert!(why.starts_with(&value.display().to_string()), "{why}");
            assert!(why.contains("os error 5"), "EIO: {why}");
        }
        other => panic!("expected an unavailable reading, got {other:?}"),
    }
    assert_eq!(temperatures.len(), 7, "the others still read");

    let meter = tree.path("sys/class/hwmon/hwmon4/power1_average");
    fs::remove_file(&meter).unwrap();
    std::os::unix::fs::symlink(Path::new("/proc/self/mem"), &meter).unwrap();
    let draw = sensors(&tree).power_draw(&h1()).unwrap();
    assert!(matches!(&draw.watts, SensorValue::Unavailable(why) if why.contains("os error 5")));
}

#[test]
fn old_kernels_keep_the_chip_in_its_device_directory() {
    let tree = TempTree::new("device");
    tree.file("sys/class/hwmon/hwmon0/device/name", "it8721\n")
        .file("sys/class/hwmon/hwmon0/device/temp1_input", "33000\n")
        .file("sys/class/hwmon/hwmon0/device/temp1_label", "SYSTIN\n");
    assert_eq!(readings(&sensors(&tree)), [value("it8721/SYSTIN", 33.0)]);
}

#[test]
fn another_host_is_unknown() {
    let tree = fixture("stranger");
    let err = sensors(&tree).temperatures(&HostId::new("h2")).unwrap_err();
    assert!(matches!(&err, DriverError::UnknownHost { host } if host.as_str() == "h2"), "{err}");
    assert!(matches!(
        sensors(&tree).power_draw(&HostId::new("h2")),
        Err(DriverError::UnknownHost { .. })
    ));
    assert_eq!(LinuxSensors::new(h1()).root(), Path::new("/"));
}
