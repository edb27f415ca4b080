//! A harness around openipmi's `ipmi_sim`: one simulated BMC per value, listening on its own
//! loopback UDP port, with its configuration (lan.conf, chassis.sh, bmc.emu, sdr.emu; after
//! /work/shared/PEERS.md §1a) in a fresh temporary folder, stopped and cleaned up on drop.
//!
//! The BMC has user `admin` / `secret`, a chassis-control program that keeps the power state
//! in the file `power_state` ("0" or "1"), a "CPU Temp" sensor read from the file `cpu_temp`
//! (re-read every second) and a "Sys Power" sensor at 200 W.

use std::fs;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use drivers::ipmi::{Bmc, Password};
use drivers::{Clock, HostId, SystemClock};

/// The BMC's administrator.
pub const USER: &str = "admin";
/// Its password.
pub const PASSWORD: &str = "secret";

/// What the BMC's chassis does with power requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chassis {
    /// Power on, off and soft-off change the state file.
    Obeys,
    /// Requests are acknowledged and ignored: the state never changes.
    Refuses,
    /// No chassis-control program: ipmi_sim rejects power control as an invalid request.
    Absent,
}

/// Fails the test unless `tool` is on `PATH`: these tests must never pass by skipping.
pub fn require(tool: &str, package: &str) {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path).any(|dir| dir.join(tool).is_file());
    assert!(
        found,
        "`{tool}` is not installed (Debian package `{package}`); the IPMI driver's tests need \
         it: run scripts/test.sh, which installs packages openipmi and ipmitool"
    );
}

/// A temporary folder, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A fresh empty folder under the system's temporary folder.
    pub fn new(what: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("hearth-drivers-{what}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap_or_else(|err| panic!("creating {}: {err}", dir.display()));
        TempDir(dir)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// One running ipmi_sim.
pub struct BmcSim {
    child: Child,
    /// Its loopback UDP port.
    pub port: u16,
    // Dropped after the child is killed (fields drop in order, after `Drop::drop`).
    dir: TempDir,
}

impl BmcSim {
    /// Starts a BMC whose chassis behaves as `chassis`, host off, CPU at `cpu_temp_c`, and waits
    /// until it listens.
    pub fn start(chassis: Chassis, cpu_temp_c: u32) -> BmcSim {
        require("ipmi_sim", "openipmi");
        require("ipmitool", "ipmitool");
        let mut last_failure = String::new();
        // A port picked free can be taken by another test before ipmi_sim binds it: retry.
        for _ in 0..3 {
            match BmcSim::try_start(chassis, cpu_temp_c) {
                Ok(sim) => return sim,
                Err(failure) => last_failure = failure,
            }
        }
        panic!("ipmi_sim did not start: {last_failure}");
    }

    fn try_start(chassis: Chassis, cpu_temp_c: u32) -> Result<BmcSim, String> {
        let dir = TempDir::new("bmc");
        let port = free_udp_port();
        write_config(dir.path(), port, chassis, cpu_temp_c);
        let log = fs::File::create(dir.path().join("sim.log")).expect("creating sim.log");
        let child = Command::new("ipmi_sim")
            .arg("-c")
            .arg(dir.path().join("lan.conf"))
            .arg("-f")
            .arg(dir.path().join("bmc.emu"))
            .arg("-s")
            .arg(dir.path().join("state"))
            .arg("-n")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("cloning the log handle"))
            .stderr(log)
            .spawn()
            .map_err(|err| format!("spawning ipmi_sim: {err}"))?;
        let mut sim = BmcSim { child, port, dir };
        let clock = SystemClock::new();
        while clock.now() < Duration::from_secs(5) {
            if listening(port) {
                return Ok(sim);
            }
            if let Ok(Some(status)) = sim.child.try_wait() {
                return Err(format!("ipmi_sim exited ({status}): {}", sim.log()));
            }
            clock.sleep(Duration::from_millis(10));
        }
        Err(format!("ipmi_sim is not listening on 127.0.0.1:{port} after 5 s: {}", sim.log()))
    }

    /// This BMC as host `host` with the right credentials.
    pub fn bmc(&self, host: &str) -> Bmc {
        Bmc::new(HostId::new(host), "127.0.0.1", self.port, USER, Password::new(PASSWORD))
    }

    /// The chassis state file: `"1"` (on), `"0"` (off); `""` before the first request.
    pub fn power_file(&self) -> String {
        fs::read_to_string(self.dir.path().join("power_state"))
            .map(|text| text.trim().to_string())
            .unwrap_or_default()
    }

    /// Writes the CPU temperature ipmi_sim polls (once a second).
    pub fn set_cpu_temp(&self, celsius: u32) {
        fs::write(self.dir.path().join("cpu_temp"), format!("{celsius}\n"))
            .expect("writing cpu_temp");
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("sim.log")).unwrap_or_default()
    }
}

impl Drop for BmcSim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A UDP port nothing listens on right now.
pub fn free_udp_port() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("binding a UDP port on loopback");
    socket.local_addr().expect("the bound address").port()
}

/// Whether a UDP socket is bound to 127.0.0.1:`port` (from /proc/net/udp).
fn listening(port: u16) -> bool {
    let wanted = format!("0100007F:{port:04X}");
    fs::read_to_string("/proc/net/udp").is_ok_and(|table| {
        table.lines().skip(1).any(|line| line.split_whitespace().nth(1) == Some(wanted.as_str()))
    })
}

fn write_config(dir: &Path, port: u16, chassis: Chassis, cpu_temp_c: u32) {
    let d = dir.display();
    let chassis_line = match chassis {
        Chassis::Absent => String::new(),
        Chassis::Obeys | Chassis::Refuses => format!("  chassis_control \"{d}/chassis.sh\"\n"),
    };
    let lan = format!(
        "name \"hearthbmc{port}\"\n\
         set_working_mc 0x20\n\
         \x20 startlan 1\n\
         \x20   addr 127.0.0.1 {port}\n\
         \x20   priv_limit admin\n\
         \x20   allowed_auths_callback none md2 md5 straight\n\
         \x20   allowed_auths_user none md2 md5 straight\n\
         \x20   allowed_auths_operator none md2 md5 straight\n\
         \x20   allowed_auths_admin none md2 md5 straight\n\
         \x20   guid a123456789abcdefa123456789abcdef\n\
         \x20 endlan\n\
         {chassis_line}\
         \x20 user 1 true  \"\"       \"test\"   user  10 none md2 md5 straight\n\
         \x20 user 2 true  \"{USER}\"  \"{PASSWORD}\" admin 10 none md2 md5 straight\n"
    );
    // ipmi_sim calls `chassis.sh get power` (prints power:N) and `chassis.sh set power N`;
    // soft-off arrives as `set shutdown 1`, which the obeying chassis turns into power 0.
    let set = match chassis {
        Chassis::Refuses => ":",
        _ => {
            "while [ $# -gt 1 ]; do case \"$1\" in \
              power) echo \"$2\" > \"$STATE\";; shutdown) echo 0 > \"$STATE\";; esac; shift 2; done"
        }
    };
    let script = format!(
        "#!/bin/sh\n\
         STATE=\"{d}/power_state\"\n\
         [ -f \"$STATE\" ] || echo 0 > \"$STATE\"\n\
         op=$1; shift\n\
         case \"$op\" in\n\
         \x20 get) for item in \"$@\"; do case \"$item\" in power) echo \"power:$(cat \"$STATE\")\";; \
         boot) echo \"boot:default\";; esac; done ;;\n\
         \x20 set) {set} ;;\n\
         \x20 check) exit 0 ;;\n\
         esac\n\
         exit 0\n"
    );
    let emu = format!(
        "mc_setbmc 0x20\n\
         mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02\n\
         sel_enable 0x20 1000 0x0a\n\
         sensor_add 0x20 0 0 35 0x6f event-only\n\
         sensor_set_event_support 0x20 0 0 enable scanning per-state \\\n\
         \t000000000001111 000000000000000 \\\n\
         \t000000000001111 000000000000000\n\
         read_cmds \"{d}/sdr.emu\"\n\
         sensor_add 0x20 0 1 0x01 0x01 poll 1000 file \"{d}/cpu_temp\"\n\
         sensor_set_threshold 0x20 0 1 settable 111000 95 85 75 00 00 00\n\
         sensor_set_event_support 0x20 0 1 enable scanning per-state \\\n\
         \t000111111000000 000111111000000 \\\n\
         \t000111111000000 000111111000000\n\
         sensor_add 0x20 0 2 0x03 0x01\n\
         sensor_set_value 0x20 0 2 50 0\n\
         mc_enable 0x20\n"
    );
    // Two Full Sensor Records: "CPU Temp" (sensor 1, °C, M=1) and "Sys Power" (sensor 2, W,
    // M=4: raw 50 reads 200 W). Byte by byte in PEERS.md §1a.
    let sdr = "main_sdr_add 0x20 0x00 0x00 0x51 0x01 0x33 0x20 0x00 0x01 0x03 0x01 0x67 0x88 0x01 \
               0x01 0xc0 0x0f 0xc0 0x7f 0x38 0x38 0x00 0x01 0x00 0x00 0x01 0x00 0x00 0x00 0x00 \
               0x00 0x03 0x2d 0xff 0x00 0xff 0x00 0x5f 0x55 0x4b 0x00 0x00 0x00 0x00 0x00 0x00 \
               0x00 0x00 0xc8 0x43 0x50 0x55 0x20 0x54 0x65 0x6d 0x70\n\
               main_sdr_add 0x20 0x00 0x00 0x51 0x01 0x34 0x20 0x00 0x02 0x03 0x01 0x67 0x88 0x03 \
               0x01 0xc0 0x0f 0xc0 0x7f 0x38 0x38 0x00 0x06 0x00 0x00 0x04 0x00 0x00 0x00 0x00 \
               0x00 0x03 0x32 0xff 0x00 0xff 0x00 0xf0 0xdc 0xc8 0x00 0x00 0x00 0x00 0x00 0x00 \
               0x00 0x00 0xc9 0x53 0x79 0x73 0x20 0x50 0x6f 0x77 0x65 0x72\n";
    let write = |name: &str, text: &str| {
        fs::write(dir.join(name), text).unwrap_or_else(|err| panic!("writing {name}: {err}"))
    };
    write("lan.conf", &lan);
    write("chassis.sh", &script);
    write("bmc.emu", &emu);
    write("sdr.emu", sdr);
    write("cpu_temp", &format!("{cpu_temp_c}\n"));
    make_executable(&dir.join("chassis.sh"));
    fs::create_dir_all(dir.join("state")).expect("creating the state folder");
}

/// chmod 755.
pub fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|err| panic!("chmod {}: {err}", path.display()));
}
