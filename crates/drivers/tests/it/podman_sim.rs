//! A harness around podman's Docker-compatible service (/work/shared/PEERS.md §1h): one engine
//! per value, with its own storage root, run root and temporary folder (so two engines on one
//! machine are two hosts that share nothing), serving the Docker API on a unix socket in a
//! fresh temporary folder. It can be stopped and started again on the same socket (the engine
//! that disappears), and on drop it removes every container, resets its storage and deletes
//! the folder.
//!
//! Configuration, from PEERS.md §1h: runtime **runc** (crun cannot set the rlimits here),
//! default ulimits `nofile=1024:20000` and `nproc=4096:4096` (containers created through the
//! API still need them explicitly: [`sleeper`]), cgroupfs (no systemd), file events, and file
//! locks under the engine's own temporary folder (podman's default shared-memory locks would
//! be shared by the two engines). Containers get no network (`none`).
//!
//! The image `localhost/bb:latest` is a busybox rootfs (Debian's busybox-static: `/bin/busybox`
//! and links for sh, sleep, echo, cat and ls) that `podman import` turns into an image, with
//! no registry involved.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use drivers::container::{ContainerSpec, Endpoint};
use drivers::{Clock, SystemClock};

use crate::bmc_sim::TempDir;

/// The image every engine can have: busybox, imported.
pub const IMAGE: &str = "localhost/bb:latest";

/// The engine configuration (PEERS.md §1h, plus cgroupfs, file events and file locks).
const CONTAINERS_CONF: &str = r#"[containers]
default_ulimits = ["nofile=1024:20000", "nproc=4096:4096"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
lock_type = "file"
"#;

/// Fails the test unless `path` exists: these tests must never pass by skipping.
fn require(path: &str, package: &str) {
    let found = if path.starts_with('/') {
        Path::new(path).is_file()
    } else {
        let paths = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&paths).any(|dir| dir.join(path).is_file())
    };
    assert!(
        found,
        "`{path}` is not installed (Debian package `{package}`); the container driver's tests \
         need it: run scripts/test.sh, which installs podman, runc, crun, busybox-static and \
         uidmap"
    );
}

/// A `sleep 3600` instance for the engines here: no network, the ulimits podman needs, half a
/// CPU and 64 MiB.
pub fn sleeper(instance: &str) -> ContainerSpec {
    ContainerSpec::new(instance, IMAGE)
        .cmd(["sleep", "3600"])
        .network("none")
        .ulimit("nofile", 1024, 20000)
        .ulimit("nproc", 4096, 4096)
        .limits(0.5, 64.0)
}

/// One podman service and its storage.
pub struct Podman {
    dir: TempDir,
    service: Option<Child>,
}

impl Podman {
    /// A running engine; with the busybox image if `with_image`.
    pub fn start(name: &str, with_image: bool) -> Podman {
        require("podman", "podman");
        require("runc", "runc");
        require("/bin/busybox", "busybox-static");
        require("tar", "tar");
        let dir = TempDir::new(&format!("podman-{name}"));
        fs::write(dir.path().join("containers.conf"), CONTAINERS_CONF).unwrap();
        let mut podman = Podman { dir, service: None };
        if with_image {
            podman.import_busybox();
        }
        podman.resume();
        podman
    }

    /// Where its API listens.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint::Unix(self.socket())
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("podman.sock")
    }

    /// The podman command line on this engine's storage.
    pub fn cli(&self) -> Command {
        let dir = self.dir.path();
        let mut command = Command::new("podman");
        command
            .env("CONTAINERS_CONF", dir.join("containers.conf"))
            .arg("--root")
            .arg(dir.join("root"))
            .arg("--runroot")
            .arg(dir.join("run"))
            .arg("--tmpdir")
            .arg(dir.join("tmp"))
            .stdin(Stdio::null());
        command
    }

    /// Runs `podman <args>` on this engine's storage; its output (the test fails if it fails).
    pub fn run(&self, args: &[&str]) -> String {
        let output = self.cli().args(args).output().unwrap();
        assert!(
            output.status.success(),
            "podman {args:?}: {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// `podman container inspect`, as JSON.
    pub fn inspect(&self, container: &str) -> serde_json::Value {
        let text = self.run(&["container", "inspect", container]);
        let mut list: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        list.remove(0)
    }

    /// Names of all its containers.
    pub fn containers(&self) -> Vec<String> {
        let text = self.run(&["ps", "-a", "--format", "{{.Names}}"]);
        text.lines().map(str::to_string).collect()
    }

    /// Makes the busybox rootfs and imports it as [`IMAGE`].
    fn import_busybox(&self) {
        let rootfs = self.dir.path().join("rootfs");
        fs::create_dir_all(rootfs.join("bin")).unwrap();
        fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
        for tool in ["sh", "sleep", "echo", "cat", "ls"] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(tool)).unwrap();
        }
        let tarball = self.dir.path().join("bb.tar");
        let status = Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(&tarball)
            .arg(".")
            .status()
            .unwrap();
        assert!(status.success(), "tar of the busybox rootfs: {status}");
        self.run(&["import", "--quiet", tarball.to_str().unwrap(), IMAGE]);
    }

    /// Starts the service (again) on its socket and waits until it answers `/_ping`.
    pub fn resume(&mut self) {
        assert!(self.service.is_none(), "the service runs already");
        let log = fs::File::create(self.dir.path().join("service.log")).unwrap();
        let socket = format!("unix://{}", self.socket().display());
        let child = self
            .cli()
            .args(["system", "service", "--time=0", &socket])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap();
        self.service = Some(child);
        let clock = SystemClock::new();
        while !self.answers() {
            if clock.now() > Duration::from_secs(15) {
                let log = fs::read_to_string(self.dir.path().join("service.log"));
                panic!("podman's service did not answer on {socket} within 15 s: {log:?}");
            }
            clock.sleep(Duration::from_millis(20));
        }
    }

    /// Kills the service (SIGKILL, as a crash): the socket stops answering; the containers
    /// keep running under their conmon monitors.
    pub fn crash(&mut self) {
        if let Some(mut child) = self.service.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether `GET /_ping` answers `OK`.
    fn answers(&self) -> bool {
        let Ok(mut stream) = UnixStream::connect(self.socket()) else { return false };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        if stream.write_all(b"GET /_ping HTTP/1.0\r\nHost: d\r\n\r\n").is_err() {
            return false;
        }
        let mut reply = String::new();
        let _ = stream.read_to_string(&mut reply);
        reply.starts_with("HTTP/1.") && reply.ends_with("OK")
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        self.crash();
        // The containers outlive the service (conmon): remove them, then the storage.
        for args in
            [&["rm", "--all", "--force", "--time", "0"][..], &["system", "reset", "--force"]]
        {
            let _ = self.cli().args(args).stdout(Stdio::null()).stderr(Stdio::null()).status();
        }
    }
}
