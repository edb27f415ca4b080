//! Pool mode on a real network (issue 7, "done when"): one controller and four pool agents, each
//! in its own network namespace, with different reserves and local loads. Tasks submitted with
//! `hearth run` land only where the surplus allows; raising a node's local load evicts its task,
//! which moves to another node; cutting a node's link runs its task again elsewhere; the ledger
//! shows the move and the retry, verifies intact, and a tampered entry is detected.
//!
//! Needs root (network namespaces, the task user `nobody`) and iproute2; scripts/test.sh runs
//! as root.

mod netns;

use netns::Lab;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

fn hearth() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hearth"))
}

fn sleep(ms: u64) {
    #[allow(clippy::disallowed_methods)] // a test waiting for real processes
    std::thread::sleep(Duration::from_millis(ms));
}

const API: &str = "10.78.0.1:7100";
const BEACON: &str = "[beacon]\nk_hz = 40.0\nl_hz = 40.0\nmin = 0.05\n";

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// `hearth SUBCOMMAND --api … --token-file … REST` in node `k`'s namespace.
fn client(lab: &Lab, k: usize, args: &[&str]) -> Output {
    let mut cmd = lab.command(k, &hearth());
    cmd.arg(args[0]).args(["--api", API, "--token-file"]).arg(lab.dir.join("token"));
    cmd.args(&args[1..]);
    cmd.output().expect("running a hearth client")
}

fn json_of(out: &Output, what: &str) -> Option<Vec<Value>> {
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Some(
        serde_json::from_str(text.trim())
            .unwrap_or_else(|e| panic!("{what}: not JSON: {e}: {text}")),
    )
}

fn members(lab: &Lab) -> Option<Vec<Value>> {
    json_of(&client(lab, 0, &["members", "--json"]), "hearth members")
}

fn tasks(lab: &Lab) -> Vec<Value> {
    json_of(&client(lab, 0, &["tasks", "--json"]), "hearth tasks").expect("hearth tasks answers")
}

/// Polls `check` every 200 ms for up to `seconds`; panics with `what` and the logs.
fn wait_for<T>(lab: &Lab, seconds: u64, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    for _ in 0..seconds * 5 {
        if let Some(found) = check() {
            return found;
        }
        sleep(200);
    }
    panic!(
        "{what}: not within {seconds} s\ntasks: {:?}\nmembers: {:?}\ncontroller log:\n{}\n{}",
        json_of(&client(lab, 0, &["tasks", "--json"]), "tasks"),
        members(lab),
        lab.log("controller"),
        (1..=4)
            .map(|k| format!("agent{k} log:\n{}", lab.log(&format!("agent{k}"))))
            .collect::<String>()
    );
}

/// The machine ID of the agent in namespace `k` (its beacon node ID is `k`).
fn machine_of(members: &[Value], k: usize) -> String {
    members
        .iter()
        .find(|m| m["beacon_node"].as_u64() == Some(k as u64))
        .and_then(|m| m["id"].as_str())
        .unwrap_or_else(|| panic!("no member for agent {k}: {members:?}"))
        .to_string()
}

fn task<'a>(tasks: &'a [Value], id: &str) -> &'a Value {
    tasks.iter().find(|t| t["id"] == id).unwrap_or_else(|| panic!("no task {id}: {tasks:?}"))
}

/// Starts `hearth run` in the background in node 4's namespace (never cut), its stdout and
/// stderr in DIR/NAME.out and the lab log NAME.
fn run_in_background(lab: &mut Lab, name: &str, cpu: f64, script: &str) {
    let mut cmd = lab.command(4, Path::new("/bin/sh"));
    cmd.arg("-c").arg(format!(
        "exec {} run --api {API} --token-file {} --on pool --cpu {cpu} --retries 2 -- sh -c '{script}' > {}",
        hearth().display(),
        lab.dir.join("token").display(),
        lab.dir.join(format!("{name}.out")).display()
    ));
    lab.spawn(name, cmd).expect("starting hearth run");
}

#[test]
fn tasks_respect_reserves_move_on_reclaim_rerun_on_loss_and_the_ledger_shows_it() {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64;
    let mut lab = Lab::new("hp", 4).unwrap_or_else(|e| {
        panic!("setting up network namespaces (needs root and iproute2; run scripts/test.sh): {e}")
    });
    let dir = lab.dir.clone();
    write(&dir.join("cluster.key"), "1 000102030405060708090a0b0c0d0e0f1011121314151617\n");
    write(&dir.join("token"), "pool-test-token-0123456789abcdef\n");
    write(
        &dir.join("controller.toml"),
        &format!(
            "key_file = {:?}\nlisten = \"10.78.0.1:7000\"\napi = \"{API}\"\nlost_after_intervals = 5\n{BEACON}",
            dir.join("cluster.key")
        ),
    );
    let mut cmd = lab.command(0, &hearth());
    cmd.args(["controller", "--pool", "--pool-silence-s", "4", "--config"])
        .arg(dir.join("controller.toml"))
        .arg("--data-dir")
        .arg(dir.join("ctl"))
        .arg("--token-file")
        .arg(dir.join("token"));
    lab.spawn("controller", cmd).expect("starting the controller");

    // Reserves and local loads, as fractions of the machine's cores: agents 1 and 2 offer 0.75,
    // agent 3 offers 0.5 (a larger reserve), agent 4 next to nothing (its owner uses 90 %).
    let setups = [(0.25, 0.0), (0.25, 0.0), (0.5, 0.0), (0.25, 0.9)];
    for (i, (reserve, load)) in setups.iter().enumerate() {
        let k = i + 1;
        write(&dir.join(format!("load{k}")), &format!("{load}\n"));
        write(
            &dir.join(format!("agent{k}.toml")),
            &format!(
                "node_id = {k}\nsend_to = [\"10.78.0.1:7000\"]\nkey_file = {:?}\n\
                 status_listen = \"127.0.0.1:7071\"\n{BEACON}",
                dir.join("cluster.key")
            ),
        );
        let mut cmd = lab.command(k, &hearth());
        cmd.args(["agent", "--config"])
            .arg(dir.join(format!("agent{k}.toml")))
            .args(["--pool", "--controller", API, "--token-file"])
            .arg(dir.join("token"))
            .args(["--reserve", &format!("cpu={},mem=256MiB", reserve * cores)])
            .arg("--fake-local-load")
            .arg(format!("@{}", dir.join(format!("load{k}")).display()))
            .arg("--state-dir")
            .arg(dir.join(format!("a{k}")));
        lab.spawn(&format!("agent{k}"), cmd).expect("starting an agent");
    }

    // All four join and report their surplus; agents 1 to 3 offer what their reserves leave.
    let joined = wait_for(&lab, 90, "four members with their surplus", || {
        let members = members(&lab)?;
        let active: Vec<&Value> = members.iter().filter(|m| m["active"] == true).collect();
        let offered = active
            .iter()
            .filter(|m| m["surplus"]["cpu"].as_f64().is_some_and(|c| c > 0.4 * cores))
            .count();
        (active.len() == 4 && offered == 3).then_some(members)
    });
    for m in &joined {
        assert_eq!(m["user"], "nobody", "tasks never run as root: {m}");
        assert!(
            ["cgroup2", "cgroup1", "rlimits"].contains(&m["isolation"].as_str().unwrap_or("")),
            "each node reports its isolation: {m}"
        );
    }
    let node: Vec<String> = (1..=4).map(|k| machine_of(&joined, k)).collect();
    let agent_of = |machine: &str| node.iter().position(|n| n == machine).map(|i| i + 1);

    // A task of 0.6 of the machine fits agents 1 and 2 only.
    let out = client(
        &lab,
        4,
        &[
            "run",
            "--on",
            "pool",
            "--cpu",
            &(0.6 * cores).to_string(),
            "--",
            "sh",
            "-c",
            "echo small-ok",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "small-ok\n");
    assert!(
        stderr.contains(&format!("on {} (", node[0]))
            || stderr.contains(&format!("on {} (", node[1])),
        "a 0.6 task runs on agent 1 or 2 ({} or {}): {stderr}",
        node[0],
        node[1]
    );

    // Larger than any offer: refused on the pool, run here in auto.
    let big = (0.8 * cores).to_string();
    let out = client(&lab, 4, &["run", "--on", "pool", "--cpu", &big, "--", "true"]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(125), "{stderr}");
    assert!(stderr.contains("cannot run this task") && stderr.contains("largest"), "{stderr}");
    let out =
        client(&lab, 4, &["run", "--on", "auto", "--cpu", &big, "--", "sh", "-c", "echo here"]);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(
        (out.status.code(), String::from_utf8_lossy(&out.stdout).as_ref()),
        (Some(0), "here\n"),
        "{stderr}"
    );
    assert!(stderr.contains("running locally"), "{stderr}");

    // Two long tasks of half the machine: on two of agents 1 to 3, never on agent 4.
    let half = 0.5 * cores;
    run_in_background(&mut lab, "long1", half, "sleep 10; echo long1 done");
    wait_for(&lab, 20, "long1 running", || {
        tasks(&lab).iter().any(|t| t["state"] == "running").then_some(())
    });
    run_in_background(&mut lab, "long2", half, "sleep 10; echo long2 done");
    let (t1, t2) = wait_for(&lab, 20, "both long tasks running", || {
        let tasks = tasks(&lab);
        let running: Vec<&Value> = tasks.iter().filter(|t| t["state"] == "running").collect();
        match running.as_slice() {
            [a, b] => Some((a["id"].as_str()?.to_string(), b["id"].as_str()?.to_string())),
            _ => None,
        }
    });
    let all = tasks(&lab);
    let on = |tasks: &[Value], t: &str| {
        agent_of(task(tasks, t)["node"].as_str().unwrap_or("")).unwrap_or(0)
    };
    let (first, second) = (on(&all, &t1), on(&all, &t2));
    assert!(first != second && [first, second].iter().all(|k| (1..=3).contains(k)), "{all:?}");
    let third = (1..=3).find(|k| *k != first && *k != second).expect("a free agent");

    // The owner of the first task's node reclaims it: the task moves to the free agent.
    write(&dir.join(format!("load{first}")), "0.9\n");
    wait_for(&lab, 20, "the first task moved", || {
        let tasks = tasks(&lab);
        let t = task(&tasks, &t1);
        (t["state"] == "running" && t["attempt"] == 2 && t["moves"] == 1).then_some(())
    });
    let all = tasks(&lab);
    assert_eq!(on(&all, &t1), third, "moved to the only agent with room: {all:?}");
    assert!(
        lab.log(&format!("agent{first}")).contains(&format!("evicted {t1}")),
        "agent {first} says it evicted {t1}"
    );
    write(&dir.join(format!("load{first}")), "0\n");
    // Its prediction decays back under the reserve (a few half-second samples).
    wait_for(&lab, 20, "the reclaimed node offers again", || {
        members(&lab)?
            .iter()
            .find(|m| m["beacon_node"].as_u64() == Some(first as u64))
            .and_then(|m| m["surplus"]["cpu"].as_f64())
            .filter(|c| *c >= half)
            .map(|_| ())
    });

    // Cut the second task's node: it is lost and the task runs again on the freed node.
    lab.cut(second).expect("cutting a link");
    wait_for(&lab, 30, "the second task retried elsewhere", || {
        let tasks = tasks(&lab);
        let t = task(&tasks, &t2);
        (t["state"] == "running" && t["attempt"] == 2).then_some(())
    });
    let all = tasks(&lab);
    assert_eq!(on(&all, &t2), first, "runs again on the node that has room: {all:?}");
    assert_eq!(task(&all, &t2)["retries_used"], 1);

    // Both clients get their task's output and exit code.
    for (name, id) in [("long1", &t1), ("long2", &t2)] {
        wait_for(&lab, 40, &format!("{name} finished"), || {
            (task(&tasks(&lab), id)["state"] == "finished").then_some(())
        });
    }
    for name in ["long1", "long2"] {
        let status = lab
            .wait_child(name, 15)
            .unwrap_or_else(|| panic!("{name}'s client did not exit: {}", lab.log(name)));
        let stderr = lab.log(name);
        assert!(status.success(), "{name}: {stderr}");
        let stdout = std::fs::read_to_string(dir.join(format!("{name}.out"))).unwrap_or_default();
        assert_eq!(stdout, format!("{name} done\n"), "{stderr}");
        assert!(stderr.contains("runs again: attempt 2"), "{name} says where it ran: {stderr}");
    }

    // The cut node comes back: told it is no longer a member, it joins again under its ID.
    lab.restore(second).expect("restoring a link");
    wait_for(&lab, 30, "the cut node rejoined", || {
        let members = members(&lab)?;
        let m = members.iter().find(|m| m["beacon_node"].as_u64() == Some(second as u64))?;
        (m["active"] == true && m["id"] == node[second - 1].as_str()).then_some(())
    });

    // The ledger: intact, with the move, the retry and one finish per task.
    assert!(lab.terminate("controller").is_some());
    let ledger = dir.join("ctl/ledger.jsonl");
    let key = dir.join("ctl/ledger.pub");
    let verify = |path: &Path| {
        Command::new(hearth())
            .args(["ledger", "verify"])
            .arg(path)
            .arg("--controller-key")
            .arg(&key)
            .output()
            .expect("running hearth ledger verify")
    };
    let out = verify(&ledger);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&ledger).expect("reading the ledger");
    let entries: Vec<Value> =
        text.lines().map(|l| serde_json::from_str(l).expect("ledger lines are JSON")).collect();
    let count = |kind: &str, id: &str| {
        entries.iter().filter(|e| e["kind"] == kind && e["task"] == id).count()
    };
    assert_eq!(count("task_move", &t1), 1, "{text}");
    assert_eq!(count("task_retry", &t2), 1, "{text}");
    assert_eq!((count("task_finish", &t1), count("task_finish", &t2)), (1, 1), "{text}");
    let retry = entries.iter().find(|e| e["kind"] == "task_retry").expect("a retry");
    assert_eq!(retry["node"], node[second - 1].as_str(), "the retry names the lost node");
    assert!(entries.iter().any(|e| e["kind"] == "leave" && e["node"] == node[second - 1].as_str()));

    // Tampering with one entry (the first task's exit code) is detected and named.
    let (index, line) = text
        .lines()
        .enumerate()
        .find(|(_, l)| {
            l.contains("\"kind\":\"task_finish\"") && l.contains(&format!("\"task\":\"{t1}\""))
        })
        .expect("the first task's finish");
    let tampered = text.replacen(line, &line.replace("\"exit_code\":0", "\"exit_code\":1"), 1);
    assert_ne!(tampered, text);
    let copy = dir.join("tampered.jsonl");
    write(&copy, &tampered);
    let out = verify(&copy);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("line {}", index + 1))
            && stderr.contains("signature check failed"),
        "{stderr}"
    );
}
