//! `hearth hosts check` on a mixed hosts file: an IPMI BMC that does not answer, Linux sensors
//! from a sysfs fixture tree, the process runner, and a host with nothing configured. The table
//! says what answers and why the rest does not, and the exit status says whether all did. Bad
//! files and a missing password variable are refused with messages that name them.

use std::path::{Path, PathBuf};
use std::process::Command;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hearth-hosts-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A sysfs tree with one hwmon chip (a CPU temperature) and one thermal zone.
fn sysfs(root: &Path) {
    let chip = root.join("sys/class/hwmon/hwmon0");
    std::fs::create_dir_all(&chip).unwrap();
    std::fs::write(chip.join("name"), "coretemp\n").unwrap();
    std::fs::write(chip.join("temp1_input"), "47000\n").unwrap();
    std::fs::write(chip.join("temp1_label"), "Package id 0\n").unwrap();
    let zone = root.join("sys/class/thermal/thermal_zone0");
    std::fs::create_dir_all(&zone).unwrap();
    std::fs::write(zone.join("type"), "acpitz\n").unwrap();
    std::fs::write(zone.join("temp"), "41000\n").unwrap();
}

fn hosts_file(dir: &Path, closed_port: u16) -> PathBuf {
    let root = dir.join("root");
    sysfs(&root);
    let text = format!(
        r#"
[[zones]]
id = "z0"
cooling_nominal_w = 5000

[[hosts]]
id = "bmc-gone"
zone = "z0"
model = "ml110-g5"
cpus = 8
memory_mib = 16384
power = {{ driver = "ipmi", address = "127.0.0.1", port = {closed_port}, user = "admin", password_env = "HEARTH_TEST_BMC_PASSWORD" }}

[[hosts]]
id = "local"
zone = "z0"
model = "ml110-g5"
cpus = 8
memory_mib = 16384
sensors = {{ driver = "hwmon", root = "{}" }}
compute = {{ driver = "process" }}

[[hosts]]
id = "bare"
zone = "z0"
model = "ml110-g4"
cpus = 2
memory_mib = 4096
"#,
        root.display()
    );
    let path = dir.join("hosts.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn closed_udp_port() -> u16 {
    // Bound then released: nothing answers there.
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn the_check_prints_what_answers_and_fails_on_what_does_not() {
    let dir = scratch("mixed");
    let file = hosts_file(&dir, closed_udp_port());
    let out = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(["hosts", "check", "--hosts"])
        .arg(&file)
        .env("HEARTH_TEST_BMC_PASSWORD", "not-a-real-password")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "one BMC does not answer: {stdout}{stderr}");
    assert!(stderr.contains("1 configured driver(s) did not answer"), "{stderr}");
    let line = |host: &str, role: &str| {
        stdout
            .lines()
            .find(|l| {
                let mut words = l.split_whitespace();
                words.next() == Some(host) && words.next() == Some(role)
            })
            .unwrap_or_else(|| panic!("no {host} {role} row:\n{stdout}"))
            .to_string()
    };
    let bmc = line("bmc-gone", "power");
    assert!(bmc.contains("ipmi") && bmc.contains("FAILED"), "{bmc}");
    assert!(bmc.contains(&"127.0.0.1".to_string()), "the error names the BMC: {bmc}");
    assert!(!stdout.contains("not-a-real-password") && !stderr.contains("not-a-real-password"));
    let sensors = line("local", "sensors");
    assert!(sensors.contains("hwmon") && sensors.contains(" ok "), "{sensors}");
    assert!(sensors.contains("2 temperature sensor(s), 2 reading"), "{sensors}");
    let compute = line("local", "compute");
    assert!(compute.contains("process") && compute.contains("0 instance(s)"), "{compute}");
    let bare = line("bare", "power");
    assert!(bare.contains("none") && bare.contains("not configured"), "{bare}");
    // JSON lines for scripts.
    let out = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(["hosts", "check", "--format", "json", "--hosts"])
        .arg(&file)
        .env("HEARTH_TEST_BMC_PASSWORD", "x")
        .output()
        .unwrap();
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 9, "three roles per host");
    assert_eq!(rows.iter().filter(|r| r["ok"] == false).count(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_hosts_files_and_a_missing_password_are_refused_by_name() {
    let dir = scratch("bad");
    let file = hosts_file(&dir, closed_udp_port());
    let out = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(["hosts", "check", "--hosts"])
        .arg(&file)
        .env_remove("HEARTH_TEST_BMC_PASSWORD")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("host bmc-gone: power.password_env")
            && stderr.contains("HEARTH_TEST_BMC_PASSWORD is not set"),
        "{stderr}"
    );
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[[zones]]\nid = \"z0\"\ncooling_nominal_w = 1\n\n[[hosts]]\nid = \"h\"\nzone = \"z9\"\n\
         model = \"ml110-g5\"\ncpus = 8\nmemory_mib = 1\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(["hosts", "check", "--hosts"])
        .arg(&bad)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("hosts[h].zone: no zone `z9`"), "{stderr}");
    std::fs::write(&bad, "[[hosts]]\nid = \"h\"\npower = { driver = \"telnet\" }\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(["hosts", "check", "--hosts"])
        .arg(&bad)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.toml") && stderr.contains("line"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A host whose instances are libvirt domains: the test driver's default node (one running
/// domain, `test`).
#[cfg(feature = "libvirt")]
#[test]
fn a_libvirt_host_is_checked_through_its_uri() {
    let dir = scratch("libvirt");
    let file = dir.join("hosts.toml");
    std::fs::write(
        &file,
        "[[zones]]\nid = \"z0\"\ncooling_nominal_w = 1000\n\n[[hosts]]\nid = \"kvm1\"\nzone = \"z0\"\n\
         model = \"ml110-g5\"\ncpus = 8\nmemory_mib = 16384\n\
         compute = { driver = \"libvirt\", uri = \"test:///default\" }\n\n\
         [[hosts]]\nid = \"kvm2\"\nzone = \"z0\"\nmodel = \"ml110-g5\"\ncpus = 8\n\
         memory_mib = 16384\ncompute = { driver = \"libvirt\", uri = \"test:///nonexistent.xml\" }\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(["hosts", "check", "--hosts"])
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "kvm2's URI is missing: {stdout}");
    let row = |host: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(host) && l.contains("compute"))
            .unwrap_or_else(|| panic!("no {host} row:\n{stdout}"))
            .to_string()
    };
    let ok = row("kvm1");
    assert!(ok.contains("libvirt") && ok.contains(" ok ") && ok.contains("1 instance(s)"), "{ok}");
    let failed = row("kvm2");
    assert!(failed.contains("FAILED") && failed.contains("nonexistent.xml"), "{failed}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A container host whose engine is not there is a failed row naming the socket; an endpoint
/// that is not one is refused by key.
#[test]
fn a_container_host_names_its_engine() {
    let dir = scratch("container");
    let file = dir.join("hosts.toml");
    let hosts = |endpoint: &str| {
        format!(
            "[[zones]]\nid = \"z0\"\ncooling_nominal_w = 1000\n\n[[hosts]]\nid = \"ctr1\"\n\
             zone = \"z0\"\nmodel = \"ml110-g5\"\ncpus = 8\nmemory_mib = 16384\n\
             compute = {{ driver = \"container\", endpoint = \"{endpoint}\" }}\n"
        )
    };
    let socket = dir.join("no-engine.sock");
    std::fs::write(&file, hosts(&format!("unix://{}", socket.display()))).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(["hosts", "check", "--hosts"])
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    let row = stdout.lines().find(|l| l.starts_with("ctr1") && l.contains("compute")).unwrap();
    assert!(row.contains("container") && row.contains("FAILED"), "{row}");
    assert!(row.contains("no-engine.sock"), "the error names the engine: {row}");
    std::fs::write(&file, hosts("ftp://engine")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(["hosts", "check", "--hosts"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("host ctr1: compute.endpoint"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
