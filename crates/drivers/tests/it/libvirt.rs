//! The libvirt driver against libvirt's test driver (PEERS.md §1c). Each connection to a node
//! file (`test:///…/a.xml`) is a private in-memory hypervisor, so two node files written into a
//! scratch directory are two hosts with separate state, and a cold move from one to the other
//! is real. The test driver has no migration: the cold path is what runs here.
//!
//! Covered: the Compute conformance suite (the backend disappears as its URI pointing at a
//! missing node file, and comes back as the same connection); a cold move A→B and its traces;
//! a move the target refuses to define (a UUID clash: libvirt's own refusal) and one whose
//! start on the target fails (a failpoint), both rolled back onto the source; a name clash
//! refused up front; a restart mid-move resumed by a fresh driver from the domains' metadata;
//! a guest that ignores its shutdown, destroyed after the grace period; pinned domains; the
//! listing; an unreachable URI; and libvirt's errors reaching the log sink, never stderr
//! (checked in a child process, since libvirt writes to fd 2 directly).
//!
//! Needs libvirt's library (Debian libvirt-daemon, libvirt-dev to build); scripts/test.sh
//! installs them.

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use drivers::libvirt::{Failpoint, LibvirtDriver, LibvirtMessage, HEARTH_NS};
use drivers::{
    Clock, Compute, ComputeOp, DriverError, HostId, InstanceState, ManualClock, MoveKind, OpStatus,
    SystemClock, Wait,
};

use crate::compute_conformance::{check_compute, ComputeSubject, MoveCase};
use crate::hwmon::TempTree;

/// A domain in a node file.
struct Dom<'a> {
    name: &'a str,
    uuid: Option<&'a str>,
    vcpus: u32,
    memory_mib: u32,
    /// Extra XML inside `<domain>` (metadata).
    extra: &'a str,
}

fn dom(name: &str) -> Dom<'_> {
    Dom { name, uuid: None, vcpus: 2, memory_mib: 512, extra: "" }
}

/// A test-driver node: `cpus` CPUs, `memory_mib` of memory, and these domains, all running.
fn node(cpus: u32, memory_mib: u32, domains: &[Dom<'_>]) -> String {
    let mut xml = format!(
        "<node>\n  <cpu><nodes>1</nodes><sockets>1</sockets><cores>{cpus}</cores><threads>1</threads>\
         <active>{cpus}</active><mhz>2000</mhz><model>i686</model></cpu>\n  <memory>{}</memory>\n",
        u64::from(memory_mib) * 1024
    );
    for d in domains {
        let uuid = d.uuid.map(|u| format!("<uuid>{u}</uuid>")).unwrap_or_default();
        xml.push_str(&format!(
            "  <domain type='test'><name>{}</name>{uuid}<memory unit='MiB'>{}</memory>\
             <vcpu>{}</vcpu><os><type arch='i686'>hvm</type></os>{}</domain>\n",
            d.name, d.memory_mib, d.vcpus, d.extra
        ));
    }
    xml.push_str("</node>\n");
    xml
}

/// Two hosts, `a` and `b`, each a node file in a scratch directory.
struct Nodes {
    dir: TempTree,
}

impl Nodes {
    fn new(name: &str, a: &str, b: &str) -> Nodes {
        let dir = TempTree::new(&format!("libvirt-{name}"));
        dir.file("a.xml", a).file("b.xml", b);
        Nodes { dir }
    }

    fn uri(&self, host: &str) -> String {
        format!("test://{}", self.dir.path(&format!("{host}.xml")).display())
    }

    /// A driver on a manual clock over hosts a and b, its libvirt errors collected.
    fn driver(&self, clock: Arc<dyn Clock>) -> (LibvirtDriver, Arc<Mutex<Vec<LibvirtMessage>>>) {
        let logged = Arc::new(Mutex::new(Vec::new()));
        let sink = logged.clone();
        let driver = LibvirtDriver::new(clock)
            .with_host(a(), self.uri("a"))
            .with_host(b(), self.uri("b"))
            .with_log(Arc::new(move |m: &LibvirtMessage| sink.lock().unwrap().push(m.clone())));
        (driver, logged)
    }
}

fn a() -> HostId {
    HostId::new("a")
}

fn b() -> HostId {
    HostId::new("b")
}

fn cold(instance: &str, from: HostId, to: HostId) -> ComputeOp {
    ComputeOp::Move { instance: instance.into(), from, to, kind: MoveKind::Cold }
}

fn state(driver: &LibvirtDriver, host: &HostId, instance: &str) -> Option<InstanceState> {
    let listed = driver.instances(host).unwrap_or_else(|err| panic!("instances on {host}: {err}"));
    listed.into_iter().find(|info| info.id == instance).map(|info| info.state)
}

/// Polls until the operation ends (test-driver steps are instant; 20 polls is plenty).
fn run(driver: &LibvirtDriver, op_id: &str) -> OpStatus {
    for _ in 0..20 {
        let status = driver.poll(op_id).unwrap_or_else(|err| panic!("poll {op_id}: {err}"));
        if status.is_terminal() {
            return status;
        }
    }
    panic!("{op_id} still pending after 20 polls");
}

fn two_plain_nodes(name: &str) -> Nodes {
    Nodes::new(
        name,
        &node(8, 16384, &[dom("vm1"), Dom { vcpus: 1, memory_mib: 1024, ..dom("vm2") }]),
        &node(4, 4096, &[dom("vm9")]),
    )
}

#[test]
fn libvirt_conforms_on_two_test_nodes() {
    let nodes = two_plain_nodes("conformance");
    let clock = Arc::new(ManualClock::new());
    let (driver, _) = nodes.driver(clock.clone());
    // Gone: host a's URI names a node file that does not exist. Back: the same connection
    // (a node file's state lives in its connection), as if the network had healed.
    let saved = Mutex::new(None);
    let missing = format!("test://{}", nodes.dir.path("gone.xml").display());
    let disappear = |gone: bool| {
        if gone {
            *saved.lock().unwrap() = Some(driver.connection(&a()).unwrap());
            driver.set_uri(&a(), &missing).unwrap();
        } else if let Some(conn) = saved.lock().unwrap().take() {
            driver.use_connection(&a(), conn).unwrap();
        }
    };
    check_compute(&ComputeSubject {
        compute: &driver,
        clock: clock.as_ref(),
        host: a(),
        instance: "vm1".into(),
        moves: Some(MoveCase { instance: "vm2".into(), from: a(), to: b() }),
        disappear: Some(&disappear),
        wait: Wait { timeout: Duration::from_secs(120), interval: Duration::from_secs(1) },
    });
    let health = driver.check(&b()).unwrap();
    assert!(health.starts_with("TEST ") && health.ends_with(&nodes.uri("b")), "{health}");
    let caps = driver.capabilities();
    assert_eq!((caps.live, caps.cold, caps.cancel), (false, true, false), "{caps:?}");
    assert!(caps.note.contains("test driver has none"), "{}", caps.note);
}

#[test]
fn a_cold_move_copies_the_definition_and_leaves_nothing_behind() {
    let nodes = two_plain_nodes("move");
    let (driver, _) = nodes.driver(Arc::new(ManualClock::new()));
    let before = driver.instances(&a()).unwrap();
    let vm2 = before.iter().find(|i| i.id == "vm2").unwrap().clone();
    assert_eq!((vm2.cpus, vm2.memory_mib, vm2.movable), (1.0, 1024.0, true));

    driver.submit("m1", &cold("vm2", a(), b())).unwrap();
    assert_eq!(driver.poll("m1").unwrap(), OpStatus::Done, "the test driver stops at once");
    assert_eq!(state(&driver, &a(), "vm2"), None, "undefined on a");
    let moved = driver.instances(&b()).unwrap();
    let on_b = moved.iter().find(|i| i.id == "vm2").expect("vm2 on b");
    assert_eq!(
        (on_b.state, on_b.cpus, on_b.memory_mib, on_b.movable),
        (InstanceState::Running, 1.0, 1024.0, true)
    );
    // The target's domain keeps the record of the move, for a restarted driver.
    let record = driver.hearth_metadata(&b(), "vm2").unwrap().unwrap();
    assert!(record.contains("op=\"m1\"") && record.contains("phase=\"done\""), "{record}");
    // The same libvirt connection, read directly: the XML carries hearth's namespace.
    let xml = driver.connection(&b()).unwrap().lookup_domain_by_name("vm2").unwrap();
    assert!(xml.xml_desc(0).unwrap().contains(HEARTH_NS));

    // A stopped instance moves stopped.
    driver.submit("down", &ComputeOp::Stop { instance: "vm9".into() }).unwrap();
    assert_eq!(run(&driver, "down"), OpStatus::Done);
    driver.submit("m2", &cold("vm9", b(), a())).unwrap();
    assert_eq!(run(&driver, "m2"), OpStatus::Done);
    assert_eq!(state(&driver, &a(), "vm9"), Some(InstanceState::Stopped));
    assert_eq!(state(&driver, &b(), "vm9"), None);
}

#[test]
fn a_move_the_target_refuses_to_define_stays_running_on_the_source() {
    // b holds another domain with vm2's UUID: libvirt refuses the define.
    let uuid = "1fcf13c1-1724-4ff2-b3c3-251ba0d8c1bd";
    let nodes = Nodes::new(
        "define-refused",
        &node(8, 16384, &[Dom { uuid: Some(uuid), ..dom("vm2") }]),
        &node(4, 4096, &[Dom { uuid: Some(uuid), ..dom("other") }]),
    );
    let (driver, logged) = nodes.driver(Arc::new(ManualClock::new()));
    driver.submit("m1", &cold("vm2", a(), b())).unwrap();
    let status = run(&driver, "m1");
    let OpStatus::Failed(reason) = status else { panic!("expected a failure, got {status:?}") };
    assert!(reason.contains("define on b failed"), "{reason}");
    assert!(reason.contains("already defined with uuid"), "libvirt's words: {reason}");
    assert!(reason.ends_with("vm2 stays on a"), "{reason}");
    assert_eq!(state(&driver, &a(), "vm2"), Some(InstanceState::Running), "restarted on a");
    assert_eq!(state(&driver, &b(), "vm2"), None);
    let record = driver.hearth_metadata(&a(), "vm2").unwrap().unwrap();
    assert!(record.contains("phase=\"failed\""), "{record}");
    let logged = logged.lock().unwrap();
    assert!(
        logged.iter().any(|m| m.call == "virDomainDefineXML vm2" && m.host == b()),
        "the refusal went to the log: {logged:?}"
    );
    drop(logged);
    // Ended is final, and the ID is not reused for a second attempt.
    driver.submit("m1", &cold("vm2", a(), b())).unwrap();
    assert!(matches!(driver.poll("m1").unwrap(), OpStatus::Failed(_)));
}

#[test]
fn a_move_whose_start_on_the_target_fails_is_rolled_back_onto_the_source() {
    let nodes = two_plain_nodes("start-fails");
    let (driver, _) = nodes.driver(Arc::new(ManualClock::new()));
    driver.set_failpoint("vm2", Some(Failpoint::FailStartOnTarget));
    driver.submit("m1", &cold("vm2", a(), b())).unwrap();
    let status = run(&driver, "m1");
    let OpStatus::Failed(reason) = status else { panic!("expected a failure, got {status:?}") };
    assert!(reason.starts_with("start on b failed"), "{reason}");
    assert_eq!(state(&driver, &a(), "vm2"), Some(InstanceState::Running), "running on a again");
    assert_eq!(state(&driver, &b(), "vm2"), None, "the copy on b was undefined");
    // Nothing armed any more: the same move under a new ID goes through.
    driver.submit("m2", &cold("vm2", a(), b())).unwrap();
    assert_eq!(run(&driver, "m2"), OpStatus::Done);
    assert_eq!(state(&driver, &b(), "vm2"), Some(InstanceState::Running));
}

#[test]
fn moves_that_would_clash_or_do_not_fit_are_refused_up_front() {
    let nodes = Nodes::new(
        "refusals",
        &node(
            8,
            16384,
            &[
                dom("vm1"),
                dom("small"),
                Dom { memory_mib: 8192, ..dom("big") },
                Dom { vcpus: 6, ..dom("wide") },
            ],
        ),
        &node(4, 4096, &[dom("vm1")]),
    );
    let (driver, _) = nodes.driver(Arc::new(ManualClock::new()));
    for (instance, why) in [
        ("vm1", "b already defines a domain named vm1"),
        ("big", "big needs 8192 MiB; b has 3584 MiB"),
        ("wide", "wide has 6 vCPUs; b has 4 CPUs"),
    ] {
        match driver.submit("m", &cold(instance, a(), b())) {
            Err(DriverError::Refused { reason, backend, .. }) => {
                assert!(reason.starts_with(why), "{reason}");
                assert_eq!(backend, format!("libvirt at {}", nodes.uri("a")));
            }
            other => panic!("{instance}: expected a refusal, got {other:?}"),
        }
        assert!(matches!(driver.poll("m"), Err(DriverError::UnknownComputeOp { .. })));
    }
    match driver.submit(
        "live",
        &ComputeOp::Move { instance: "small".into(), from: a(), to: b(), kind: MoveKind::Live },
    ) {
        Err(DriverError::Refused { reason, .. }) => {
            assert!(reason.contains("no migration"), "{reason}")
        }
        other => panic!("a live move on the test driver: expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_restart_mid_move_is_resumed_from_the_domains_metadata() {
    for halt in [Failpoint::HaltAfterDefine, Failpoint::HaltAfterStart] {
        let nodes = two_plain_nodes(&format!("resume-{halt:?}"));
        let (first, _) = nodes.driver(Arc::new(ManualClock::new()));
        first.set_failpoint("vm2", Some(halt));
        let op = cold("vm2", a(), b());
        first.submit("m1", &op).unwrap();
        assert_eq!(first.poll("m1").unwrap(), OpStatus::Pending, "{halt:?}: halted");
        assert!(state(&first, &b(), "vm2").is_some(), "{halt:?}: defined on b before the halt");

        // "Restart": a fresh driver over the same hypervisors (a node file's state lives in its
        // connection, so the new driver is handed the old one's connections).
        let fresh = |from: &LibvirtDriver| {
            LibvirtDriver::new(Arc::new(ManualClock::new()))
                .with_connection(a(), from.connection(&a()).unwrap())
                .with_connection(b(), from.connection(&b()).unwrap())
                .with_log(Arc::new(|_: &LibvirtMessage| {}))
        };
        let second = fresh(&first);
        assert!(
            matches!(second.poll("m1"), Err(DriverError::UnknownComputeOp { .. })),
            "{halt:?}: a fresh driver does not know the operation"
        );
        // Another move of vm2 is refused while the metadata records m1 under way.
        match second.submit("other", &cold("vm2", a(), b())) {
            Err(DriverError::Refused { reason, .. }) => assert!(reason.contains("m1"), "{reason}"),
            Err(DriverError::UnknownInstance { .. }) => {
                panic!("{halt:?}: vm2 must stay known")
            }
            other => panic!("{halt:?}: expected a refusal naming m1, got {other:?}"),
        }
        second.submit("m1", &op).unwrap();
        assert_eq!(run(&second, "m1"), OpStatus::Done, "{halt:?}: finished by the fresh driver");
        assert_eq!(state(&second, &a(), "vm2"), None, "{halt:?}");
        assert_eq!(state(&second, &b(), "vm2"), Some(InstanceState::Running), "{halt:?}");

        // A third driver, told m1 again, sees it done on b and does nothing.
        let third = fresh(&second);
        third.submit("m1", &op).unwrap();
        assert_eq!(third.poll("m1").unwrap(), OpStatus::Done, "{halt:?}");
        assert_eq!(state(&third, &b(), "vm2"), Some(InstanceState::Running), "{halt:?}");
        // The same ID for another move is a conflict, as in memory.
        match third.submit("m1", &cold("vm2", b(), a())) {
            Err(DriverError::OperationConflict { .. }) => {}
            other => panic!("{halt:?}: expected a conflict, got {other:?}"),
        }
    }
}

#[test]
fn a_guest_that_ignores_its_shutdown_is_destroyed_after_the_grace_period() {
    let nodes = two_plain_nodes("stubborn");
    let clock = Arc::new(ManualClock::new());
    let (driver, _) = nodes.driver(clock.clone());
    let driver = driver.with_grace(Duration::from_secs(30));
    driver.set_failpoint("vm1", Some(Failpoint::IgnoreShutdown));
    driver.submit("down", &ComputeOp::Stop { instance: "vm1".into() }).unwrap();
    clock.advance(Duration::from_secs(29));
    assert_eq!(driver.poll("down").unwrap(), OpStatus::Pending, "in its grace period");
    assert_eq!(state(&driver, &a(), "vm1"), Some(InstanceState::Running));
    match driver.submit("up", &ComputeOp::Start { instance: "vm1".into() }) {
        Err(DriverError::Refused { reason, .. }) => {
            assert_eq!(reason, "vm1 is busy with operation down")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    clock.advance(Duration::from_secs(1));
    assert_eq!(driver.poll("down").unwrap(), OpStatus::Done, "destroyed");
    assert_eq!(state(&driver, &a(), "vm1"), Some(InstanceState::Stopped));
}

#[test]
fn pinned_domains_are_listed_unmovable_and_never_move() {
    let pinned =
        format!("<metadata><hearth:hearth xmlns:hearth='{HEARTH_NS}' pinned='yes'/></metadata>");
    let nodes = Nodes::new(
        "pinned",
        &node(
            8,
            16384,
            &[Dom { extra: &pinned, ..dom("by-metadata") }, dom("by-config"), dom("free")],
        ),
        &node(4, 4096, &[]),
    );
    let (driver, _) = nodes.driver(Arc::new(ManualClock::new()));
    let driver = driver.with_pinned("by-config");
    let listed = driver.instances(&a()).unwrap();
    let movable: Vec<(&str, bool)> = listed.iter().map(|i| (i.id.as_str(), i.movable)).collect();
    assert_eq!(movable, [("by-config", false), ("by-metadata", false), ("free", true)]);
    for instance in ["by-config", "by-metadata"] {
        match driver.submit("m", &cold(instance, a(), b())) {
            Err(DriverError::Refused { reason, .. }) => {
                assert_eq!(reason, format!("{instance} is pinned to a"))
            }
            other => panic!("{instance}: expected a refusal, got {other:?}"),
        }
    }
}

#[test]
fn the_listing_measures_cpu_use_between_calls() {
    let nodes = two_plain_nodes("cpu");
    let (driver, _) = nodes.driver(Arc::new(SystemClock::new()));
    let first = driver.instances(&a()).unwrap();
    assert!(first.iter().all(|i| i.cpu_use.is_none()), "no delta on the first listing: {first:?}");
    SystemClock::new().sleep(Duration::from_millis(20));
    let second = driver.instances(&a()).unwrap();
    for info in &second {
        // The test driver's "CPU time" is the wall clock: ≈ 1 CPU out of 2 (or 1) vCPUs.
        let used = info.cpu_use.unwrap_or_else(|| panic!("a second listing measures: {info:?}"));
        assert!((0.0..=1.0).contains(&used), "{info:?}");
    }
    assert_eq!(second.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), ["vm1", "vm2"]);
}

#[test]
fn an_unreachable_uri_is_an_error_that_names_it() {
    let driver = LibvirtDriver::new(Arc::new(ManualClock::new()))
        .with_host(a(), "test:///nonexistent.xml")
        .with_log(Arc::new(|_: &LibvirtMessage| {}));
    match driver.instances(&a()) {
        Err(err @ DriverError::Unreachable { .. }) => {
            let text = err.to_string();
            assert!(text.contains("host a") && text.contains("test:///nonexistent.xml"), "{text}");
            assert!(text.contains("/nonexistent.xml does not exist"), "{text}");
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    assert!(matches!(driver.check(&a()), Err(DriverError::Unreachable { .. })));
    // With the only host unreachable, an instance cannot be found: that is said, not guessed.
    assert!(matches!(
        driver.submit("s", &ComputeOp::Start { instance: "vm1".into() }),
        Err(DriverError::Unreachable { .. })
    ));
    assert!(matches!(driver.poll("s"), Err(DriverError::UnknownComputeOp { .. })));
}

/// Set in the child process of [`libvirt_errors_go_to_the_log_not_to_stderr`].
const STDERR_CHILD: &str = "HEARTH_LIBVIRT_STDERR_CHILD";

#[test]
fn libvirt_errors_go_to_the_log_not_to_stderr() {
    if std::env::var_os(STDERR_CHILD).is_some() {
        return provoke_libvirt_errors();
    }
    // libvirt and libxml2 write to fd 2 themselves, past the test harness's capture: run the
    // provoking half in a child and read its stderr.
    let exe = std::env::current_exe().unwrap();
    let output = Command::new(exe)
        .args(["--exact", "libvirt::libvirt_errors_go_to_the_log_not_to_stderr"])
        .args(["--nocapture", "--test-threads=1"])
        .env(STDERR_CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "the child ran the test: {stdout}");
    assert!(stdout.contains("logged: host b"), "the child's sink got messages: {stdout}");
    assert_eq!(stderr, "", "nothing on stderr");
}

/// The child's half: errors from libvirt itself (a refused define, a daemon socket that is
/// not there), each received by the log sink.
fn provoke_libvirt_errors() {
    let uuid = "2fcf13c1-1724-4ff2-b3c3-251ba0d8c1bd";
    let nodes = Nodes::new(
        "stderr",
        &node(8, 16384, &[Dom { uuid: Some(uuid), ..dom("vm2") }]),
        &node(4, 4096, &[Dom { uuid: Some(uuid), ..dom("other") }]),
    );
    let (driver, logged) = nodes.driver(Arc::new(ManualClock::new()));
    driver.submit("m1", &cold("vm2", a(), b())).unwrap();
    assert!(matches!(run(&driver, "m1"), OpStatus::Failed(_)));
    driver.set_uri(&b(), "qemu+unix:///system?socket=/nonexistent/libvirt-sock").unwrap();
    assert!(matches!(driver.instances(&b()), Err(DriverError::Unreachable { .. })));
    driver.set_uri(&b(), "test:///nonexistent.xml").unwrap();
    assert!(matches!(driver.instances(&b()), Err(DriverError::Unreachable { .. })));
    let logged = logged.lock().unwrap();
    for message in logged.iter() {
        println!("logged: {message}");
    }
    assert!(logged.iter().any(|m| m.message.contains("already defined with uuid")), "{logged:?}");
    assert!(logged
        .iter()
        .any(|m| m.call == "virConnectOpen" && m.message.contains("/nonexistent/libvirt-sock")));
}
