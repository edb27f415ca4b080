//! A lab of Linux network namespaces for the multi-host tests: a bridge namespace and one
//! namespace per node (0 = controller, 1.. = agents), each with its own address on the bridge,
//! links that can be cut and restored, and child processes whose logs outlive them for
//! failure messages. Needs root and iproute2; scripts/test.sh runs as root.

#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The lab: namespaces `{tag}-sw` (the bridge), `{tag}-c` (controller) and `{tag}-a{k}`.
pub struct Lab {
    tag: String,
    agents: usize,
    children: Vec<(String, Child)>,
    /// Where the logs and the test's files go (removed with the lab).
    pub dir: PathBuf,
}

pub fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).output().map_err(|e| format!("running ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

impl Lab {
    /// Namespaces, veth pairs to a bridge, addresses 10.78.0.1 (controller) and 10.78.0.(k+2).
    /// `prefix` (two letters) keeps the namespaces of different tests apart.
    pub fn new(prefix: &str, agents: usize) -> Result<Lab, String> {
        let tag = format!("{prefix}{}", std::process::id() % 100_000);
        let dir = std::env::temp_dir().join(format!("{tag}-lab"));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let lab = Lab { tag: tag.clone(), agents, children: Vec::new(), dir };
        let sw = format!("{tag}-sw");
        ip(&["netns", "add", &sw])?;
        ip(&["-n", &sw, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &sw, "link", "set", "br0", "up"])?;
        for k in 0..=agents {
            let ns = lab.ns(k);
            ip(&["netns", "add", &ns])?;
            let (a, b) = (format!("{tag}x{k}"), format!("{tag}y{k}"));
            ip(&["link", "add", &a, "type", "veth", "peer", "name", &b])?;
            ip(&["link", "set", &a, "netns", &ns])?;
            ip(&["link", "set", &b, "netns", &sw])?;
            ip(&["-n", &ns, "link", "set", &a, "name", "eth0"])?;
            ip(&["-n", &ns, "addr", "add", &format!("{}/24", lab.addr(k)), "dev", "eth0"])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            ip(&["-n", &sw, "link", "set", &b, "master", "br0"])?;
            ip(&["-n", &sw, "link", "set", &b, "up"])?;
        }
        Ok(lab)
    }

    /// Namespace of node `k` (0 = controller, 1.. = agents).
    pub fn ns(&self, k: usize) -> String {
        if k == 0 {
            format!("{}-c", self.tag)
        } else {
            format!("{}-a{k}", self.tag)
        }
    }

    pub fn addr(&self, k: usize) -> String {
        format!("10.78.0.{}", k + 1)
    }

    /// A command run inside node `k`'s namespace.
    pub fn command(&self, k: usize, program: &Path) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns(k)]).arg(program);
        cmd
    }

    pub fn spawn(&mut self, name: &str, mut cmd: Command) -> Result<(), String> {
        let log = std::fs::File::create(self.dir.join(format!("{name}.log")))
            .map_err(|e| format!("log for {name}: {e}"))?;
        let child = cmd
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("starting {name}: {e}"))?;
        self.children.push((name.to_string(), child));
        Ok(())
    }

    /// Stops the child called `name`.
    pub fn stop(&mut self, name: &str) {
        if let Some(pos) = self.children.iter().position(|(n, _)| n == name) {
            let (_, mut child) = self.children.remove(pos);
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Takes agent `k`'s link down (its veth end on the bridge).
    pub fn cut(&self, k: usize) -> Result<(), String> {
        ip(&[
            "-n",
            &format!("{}-sw", self.tag),
            "link",
            "set",
            &format!("{}y{k}", self.tag),
            "down",
        ])
    }

    /// Brings agent `k`'s link back up.
    pub fn restore(&self, k: usize) -> Result<(), String> {
        ip(&["-n", &format!("{}-sw", self.tag), "link", "set", &format!("{}y{k}", self.tag), "up"])
    }

    /// Sends SIGTERM to the child called `name` and waits for it (up to 10 s, then SIGKILL).
    pub fn terminate(&mut self, name: &str) -> Option<std::process::ExitStatus> {
        let pos = self.children.iter().position(|(n, _)| n == name)?;
        let (_, mut child) = self.children.remove(pos);
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        for _ in 0..100 {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            #[allow(clippy::disallowed_methods)] // a test waiting for a real process
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = child.kill();
        child.wait().ok()
    }

    /// Waits up to `seconds` for the child called `name` to exit on its own; its status.
    pub fn wait_child(&mut self, name: &str, seconds: u64) -> Option<std::process::ExitStatus> {
        let pos = self.children.iter().position(|(n, _)| n == name)?;
        for _ in 0..seconds * 10 {
            if let Ok(Some(status)) = self.children[pos].1.try_wait() {
                self.children.remove(pos);
                return Some(status);
            }
            #[allow(clippy::disallowed_methods)] // a test waiting for a real process
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        None
    }

    /// The log of child `name`, for failure messages.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for k in 0..=self.agents {
            let _ = ip(&["netns", "del", &self.ns(k)]);
        }
        let _ = ip(&["netns", "del", &format!("{}-sw", self.tag)]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
