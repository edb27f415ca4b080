//! The container-engine driver against two real podman services (`podman_sim.rs`), each with
//! its own storage, as two hosts: the Compute conformance suite on `sleep 3600` containers
//! (with a cold move between the engines, and the engine crashing mid-stop), what a cold move
//! carries (and a stop's own signal), a move resumed by a fresh driver after the first died,
//! a move refused because the target lacks the image, a target engine that disappears
//! mid-move, and the error mapping (a missing socket, a closed TCP port, a socket that never
//! answers).

use std::os::unix::net::UnixListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use drivers::container::{
    ContainerDriver, ContainerOptions, Endpoint, LABEL_MOVE, NO_LIVE_MOVES, STATELESS_NOTE,
};
use drivers::{
    Clock, Compute, ComputeOp, DriverError, HostId, InstanceState, MoveKind, OpStatus, SystemClock,
    Wait,
};

use crate::bmc_sim::TempDir;
use crate::compute_conformance::{check_compute, ComputeSubject, MoveCase};
use crate::podman_sim::{sleeper, Podman, IMAGE};

fn a() -> HostId {
    HostId::new("a")
}

fn b() -> HostId {
    HostId::new("b")
}

/// Short timings: `sleep` as PID 1 ignores SIGTERM, so every stop waits out the grace period.
fn options() -> ContainerOptions {
    ContainerOptions {
        call_timeout: Duration::from_secs(5),
        stop_grace: Duration::from_millis(500),
        kill_wait: Duration::from_secs(5),
        deadline: Duration::from_secs(30),
    }
}

/// A driver with host a on `engine_a` and host b on `engine_b`.
fn driver(options: ContainerOptions, engine_a: &Podman, engine_b: &Podman) -> ContainerDriver {
    let mut driver = ContainerDriver::new(options, Arc::new(SystemClock::new())).unwrap();
    driver.add_host(a(), engine_a.endpoint()).unwrap();
    driver.add_host(b(), engine_b.endpoint()).unwrap();
    driver
}

/// Polls `op_id` until it ends, within 30 s.
fn run_to_end(driver: &ContainerDriver, op_id: &str) -> OpStatus {
    let clock = SystemClock::new();
    loop {
        let status = driver.poll(op_id).unwrap_or_else(|err| panic!("polling {op_id}: {err}"));
        if status.is_terminal() {
            return status;
        }
        assert!(clock.now() < Duration::from_secs(30), "{op_id} still pending after 30 s");
        clock.sleep(Duration::from_millis(50));
    }
}

fn start(driver: &ContainerDriver, instance: &str) {
    let op_id = format!("boot-{instance}");
    driver.submit(&op_id, &ComputeOp::Start { instance: instance.into() }).unwrap();
    assert_eq!(run_to_end(driver, &op_id), OpStatus::Done);
}

fn state_on(driver: &ContainerDriver, host: &HostId, instance: &str) -> Option<InstanceState> {
    let listed = driver.instances(host).unwrap_or_else(|err| panic!("instances on {host}: {err}"));
    listed.into_iter().find(|info| info.id == instance).map(|info| info.state)
}

fn cold_move(instance: &str, from: HostId, to: HostId) -> ComputeOp {
    ComputeOp::Move { instance: instance.into(), from, to, kind: MoveKind::Cold }
}

#[test]
fn container_driver_conforms_on_two_podman_engines() {
    let engine_a = Mutex::new(Podman::start("conform-a", true));
    let engine_b = Podman::start("conform-b", true);
    let driver = {
        let engine_a = engine_a.lock().unwrap();
        driver(options(), &engine_a, &engine_b)
    };
    assert!(driver.check(&a()).unwrap().contains("4."), "the engine's version");
    driver.create(&a(), &sleeper("sleeper")).unwrap();
    driver.create(&a(), &sleeper("mover")).unwrap();
    start(&driver, "sleeper");
    start(&driver, "mover");
    // Gone mid-stop: a's service crashes (its containers keep running) and comes back.
    let disappear = |gone: bool| {
        let mut engine = engine_a.lock().unwrap();
        if gone {
            engine.crash()
        } else {
            engine.resume()
        }
    };
    check_compute(&ComputeSubject {
        compute: &driver,
        clock: &SystemClock::new(),
        host: a(),
        instance: "sleeper".into(),
        moves: Some(MoveCase { instance: "mover".into(), from: a(), to: b() }),
        disappear: Some(&disappear),
        wait: Wait { timeout: Duration::from_secs(30), interval: Duration::from_millis(50) },
    });

    let capabilities = driver.capabilities();
    assert!(!capabilities.live && capabilities.cold && !capabilities.cancel);
    assert_eq!(capabilities.note, STATELESS_NOTE);
    let listed = driver.instances(&a()).unwrap();
    let ids: Vec<&str> = listed.iter().map(|info| info.id.as_str()).collect();
    assert_eq!(ids, ["mover", "sleeper"], "in instance order, after moving there and back");
    for info in &listed {
        assert_eq!((info.cpus, info.memory_mib, info.movable), (0.5, 64.0, true), "{info:?}");
        // The driver sampled both in the suite's listings: a share of half a CPU.
        let used = info.cpu_use.expect("a second listing has a CPU figure");
        assert!((0.0..0.5).contains(&used), "sleep uses next to nothing: {used}");
    }
    assert!(engine_b.containers().is_empty(), "nothing left on b: {:?}", engine_b.containers());
}

#[test]
fn a_cold_move_carries_the_configuration_and_named_volumes_but_not_the_filesystem() {
    let engine_a = Podman::start("carry-a", true);
    let engine_b = Podman::start("carry-b", true);
    let driver = driver(options(), &engine_a, &engine_b);
    let web = sleeper("web").env("MODE", "test").bind("web-data:/data").label("team", "edge");
    driver.create(&a(), &web).unwrap();
    driver.create(&a(), &sleeper("idle")).unwrap();
    driver.create(&a(), &sleeper("pinned").pinned()).unwrap();
    start(&driver, "web");
    // Local state in the container's filesystem: it stays behind.
    engine_a.run(&["exec", "web", "sh", "-c", "echo local > /scratch"]);

    let clock = SystemClock::new();
    driver.submit("move-web", &cold_move("web", a(), b())).unwrap();
    assert_eq!(run_to_end(&driver, "move-web"), OpStatus::Done);
    let took = clock.now();
    assert_eq!(state_on(&driver, &a(), "web"), None, "gone from a");
    assert_eq!(state_on(&driver, &b(), "web"), Some(InstanceState::Running), "runs on b");
    assert!(
        took < Duration::from_secs(10),
        "a cold move of sleep takes the grace period: {took:?}"
    );

    let copy = engine_b.inspect("web");
    let config = &copy["Config"];
    assert_eq!(config["Image"], IMAGE);
    assert_eq!(config["Cmd"], serde_json::json!(["sleep", "3600"]));
    assert!(config["Env"].as_array().unwrap().contains(&"MODE=test".into()), "{config}");
    assert_eq!(config["Labels"]["io.hearth.instance"], "web");
    assert_eq!(config["Labels"]["team"], "edge");
    assert_eq!(config["Labels"][LABEL_MOVE], "move-web", "the copy names its move");
    let host_config = &copy["HostConfig"];
    assert_eq!(host_config["Memory"], 64 * 1024 * 1024);
    assert_eq!(host_config["NanoCpus"], 500_000_000);
    assert_eq!(host_config["NetworkMode"], "none");
    let binds = host_config["Binds"].to_string();
    assert!(binds.contains("web-data:/data"), "the named volume: {binds}");
    // The volume exists on both (its data is not copied), and the file did not travel.
    assert!(engine_a.run(&["volume", "ls", "--quiet"]).contains("web-data"), "kept on a");
    assert!(engine_b.run(&["volume", "ls", "--quiet"]).contains("web-data"), "made on b");
    let gone = engine_b.cli().args(["exec", "web", "cat", "/scratch"]).output().unwrap();
    assert!(!gone.status.success(), "the container's own filesystem is not carried");
    assert!(!engine_a.containers().contains(&"web".to_string()), "removed from a");

    // A stopped instance moves stopped.
    driver.submit("move-idle", &cold_move("idle", a(), b())).unwrap();
    assert_eq!(run_to_end(&driver, "move-idle"), OpStatus::Done);
    assert_eq!(state_on(&driver, &b(), "idle"), Some(InstanceState::Stopped));
    assert_eq!(state_on(&driver, &a(), "idle"), None);

    // A stop sends the container's stop signal first: one that traps it exits on its own,
    // well within a grace period long enough for a loaded machine.
    let patient = ContainerOptions { stop_grace: Duration::from_secs(10), ..options() };
    let patient = self::driver(patient, &engine_a, &engine_b);
    let script = "trap 'exit 3' TERM; echo > /ready; while :; do sleep 0.1; done";
    patient.create(&a(), &sleeper("polite").cmd(["sh", "-c", script])).unwrap();
    start(&patient, "polite");
    while !engine_a
        .cli()
        .args(["exec", "polite", "cat", "/ready"])
        .output()
        .unwrap()
        .status
        .success()
    {
        assert!(clock.now() < Duration::from_secs(30), "the trap was never set");
        clock.sleep(Duration::from_millis(50));
    }
    patient.submit("stop-polite", &ComputeOp::Stop { instance: "polite".into() }).unwrap();
    assert_eq!(run_to_end(&patient, "stop-polite"), OpStatus::Done);
    assert_eq!(engine_a.inspect("polite")["State"]["ExitCode"], 3, "SIGTERM, not SIGKILL");

    // A pinned one, or a live move, is refused; nothing changes.
    let refusal = |op: &ComputeOp| match driver.submit("refused", op) {
        Err(DriverError::Refused { reason, .. }) => reason,
        other => panic!("{op}: expected a refusal, got {other:?}"),
    };
    assert_eq!(
        refusal(&cold_move("pinned", a(), b())),
        "pinned is pinned to a (io.hearth.movable=false)"
    );
    let live = ComputeOp::Move { instance: "web".into(), from: b(), to: a(), kind: MoveKind::Live };
    assert_eq!(refusal(&live), NO_LIVE_MOVES);
    assert!(matches!(driver.poll("refused"), Err(DriverError::UnknownComputeOp { .. })));
    let listed = driver.instances(&a()).unwrap();
    let pinned = listed.iter().find(|info| info.id == "pinned").unwrap();
    assert!(!pinned.movable);
}

#[test]
fn a_move_submitted_again_after_a_restart_resumes_from_what_the_engines_show() {
    let engine_a = Podman::start("resume-a", true);
    let engine_b = Podman::start("resume-b", true);
    let job_move = cold_move("job", a(), b());
    {
        let first = driver(options(), &engine_a, &engine_b);
        first.create(&a(), &sleeper("job")).unwrap();
        start(&first, "job");
        // hearth dies right after the submission: the copy is made, a's container signalled.
        first.submit("move-job", &job_move).unwrap();
    }
    let second = driver(options(), &engine_a, &engine_b);
    assert_eq!(state_on(&second, &b(), "job"), Some(InstanceState::Stopped), "the copy shows");
    assert_eq!(state_on(&second, &a(), "job"), Some(InstanceState::Running), "runs on a only");
    // Anything else on it is refused while it has two containers.
    match second.submit("stop-job", &ComputeOp::Stop { instance: "job".into() }) {
        Err(DriverError::Refused { reason, .. }) => assert_eq!(
            reason,
            "job has containers on a, b (an interrupted move?): remove the one that should not \
             be there"
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
    // The same move again: it goes on and ends.
    second.submit("move-job", &job_move).unwrap();
    assert_eq!(run_to_end(&second, "move-job"), OpStatus::Done);
    assert_eq!(state_on(&second, &a(), "job"), None);
    assert_eq!(state_on(&second, &b(), "job"), Some(InstanceState::Running));
    drop(second);
    // A third driver, the same ID: done already, nothing moves.
    let third = driver(options(), &engine_a, &engine_b);
    third.submit("move-job", &job_move).unwrap();
    assert_eq!(third.poll("move-job").unwrap(), OpStatus::Done);
    assert_eq!(state_on(&third, &b(), "job"), Some(InstanceState::Running));
    assert_eq!(engine_a.containers(), Vec::<String>::new());
}

#[test]
fn a_move_whose_image_is_missing_on_the_target_is_refused_and_the_instance_keeps_running() {
    let engine_a = Podman::start("noimage-a", true);
    let engine_b = Podman::start("noimage-b", false);
    let driver = driver(options(), &engine_a, &engine_b);
    driver.create(&a(), &sleeper("app")).unwrap();
    start(&driver, "app");

    let err = driver.submit("move-app", &cold_move("app", a(), b())).unwrap_err();
    let endpoint = engine_b.endpoint();
    assert_eq!(
        err.to_string(),
        format!(
            "cold move of app from a to b: refused by container engine {} on a: image {IMAGE} \
             is not on b ({endpoint}), and the driver does not pull images: load it there \
             first; app stays on a",
            engine_a.endpoint()
        )
    );
    assert!(matches!(driver.poll("move-app"), Err(DriverError::UnknownComputeOp { .. })));
    assert_eq!(state_on(&driver, &a(), "app"), Some(InstanceState::Running), "still on a");
    assert!(engine_b.containers().is_empty(), "no copy was made on b");

    // Creating there fails with the engine's own message, naming host and endpoint.
    let err = driver.create(&b(), &sleeper("other")).unwrap_err();
    match &err {
        DriverError::CommandFailed { host, bmc, command, .. } => {
            assert_eq!((host, bmc.as_str()), (&b(), endpoint.to_string().as_str()));
            assert_eq!(command, "POST /containers/create?name=other");
        }
        other => panic!("expected the engine's error, got {other:?}"),
    }
    assert!(err.to_string().contains(IMAGE), "{err}");
}

#[test]
fn a_target_engine_that_disappears_mid_move_gives_errors_then_a_roll_back() {
    let engine_a = Podman::start("vanish-a", true);
    let mut engine_b = Podman::start("vanish-b", true);
    let short_deadline = ContainerOptions { deadline: Duration::from_secs(3), ..options() };
    let driver = driver(short_deadline, &engine_a, &engine_b);
    driver.create(&a(), &sleeper("svc")).unwrap();
    start(&driver, "svc");

    driver.submit("move-svc", &cold_move("svc", a(), b())).unwrap();
    // The copy exists on b (created, not started) and a has had SIGTERM; now b goes.
    assert_eq!(engine_b.containers(), ["svc"]);
    engine_b.crash();
    let clock = SystemClock::new();
    let mut errors = Vec::new();
    let status = loop {
        let asked = clock.now();
        let polled = driver.poll("move-svc");
        assert!(clock.now() - asked < Duration::from_secs(6), "each call returns in time");
        match polled {
            Ok(OpStatus::Pending) => {}
            Ok(status) => break status,
            Err(err) => errors.push(err),
        }
        assert!(clock.now() < Duration::from_secs(20), "the move never ended");
        clock.sleep(Duration::from_millis(100));
    };
    // Until the deadline, polls said b was unreachable; then the move was rolled back.
    let first = errors.first().expect("b's engine was reported unreachable");
    match first {
        DriverError::Unreachable { host, bmc, .. } => {
            assert_eq!((host, bmc), (&b(), &engine_b.endpoint().to_string()))
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    let OpStatus::Failed(reason) = status else { panic!("expected a failure, got {status:?}") };
    assert!(
        reason.starts_with("the engine on b did not answer within the 3 s deadline"),
        "{reason}"
    );
    assert!(reason.contains("; svc stays on a; its copy "), "{reason}");
    assert_eq!(state_on(&driver, &a(), "svc"), Some(InstanceState::Running), "started again");
    match driver.instances(&b()) {
        Err(DriverError::Unreachable { host, .. }) => assert_eq!(host, b()),
        other => panic!("instances on a vanished engine: {other:?}"),
    }

    // Back: the copy the roll-back could not remove is still there, and not listed.
    engine_b.resume();
    assert_eq!(engine_b.containers(), ["svc"], "the leftover copy");
    assert_eq!(state_on(&driver, &b(), "svc"), None, "hidden: svc runs on a only");
    assert_eq!(driver.poll("move-svc").unwrap(), OpStatus::Failed(reason), "ended is final");
}

#[test]
fn engine_errors_name_the_host_and_endpoint_and_every_call_is_bounded() {
    let dir = TempDir::new("container-errors");
    let clock = SystemClock::new();
    let options = ContainerOptions { call_timeout: Duration::from_millis(300), ..options() };
    let mut driver = ContainerDriver::new(options, Arc::new(clock)).unwrap();
    let missing = dir.path().join("no-engine.sock");
    driver.add_host(HostId::new("nosocket"), Endpoint::Unix(missing.clone())).unwrap();
    // A TCP port nobody listens on: bind one, note it, close it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let closed: Endpoint = format!("tcp://127.0.0.1:{port}").parse().unwrap();
    driver.add_host(HostId::new("closed"), closed).unwrap();
    // A socket that accepts and never answers.
    let silent = dir.path().join("silent.sock");
    let listener = UnixListener::bind(&silent).unwrap();
    std::thread::spawn(move || {
        let held: Vec<_> = listener.incoming().take(8).collect();
        drop(held);
    });
    driver.add_host(HostId::new("silent"), Endpoint::Unix(silent.clone())).unwrap();

    let err = driver.instances(&HostId::new("nosocket")).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "host nosocket: BMC unix://{path} unreachable: `GET /containers/json?all=true \
             (label filter)`: socket {path} not found: is the engine running?",
            path = missing.display()
        )
    );
    let err = driver.instances(&HostId::new("closed")).unwrap_err();
    assert!(matches!(&err, DriverError::Unreachable { host, .. } if host.as_str() == "closed"));
    assert!(err.to_string().contains(&format!("tcp://127.0.0.1:{port}")), "{err}");
    assert!(err.to_string().contains("Connection refused"), "{err}");

    let asked = clock.now();
    let err = driver.instances(&HostId::new("silent")).unwrap_err();
    match &err {
        DriverError::Timeout { host, bmc, waited, .. } => {
            assert_eq!(host.as_str(), "silent");
            assert_eq!(bmc, &format!("unix://{}", silent.display()));
            assert_eq!(*waited, Duration::from_millis(300));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(clock.now() - asked < Duration::from_secs(2), "bounded by the call timeout");
    assert_eq!(
        driver.check(&HostId::new("silent")).unwrap_err().to_string(),
        format!(
            "host silent: BMC unix://{}: `GET /version` gave no answer within 0.3 s; killed it",
            silent.display()
        )
    );

    // A start of an instance no engine has: the engines that do not answer are the error.
    let ghost = ComputeOp::Start { instance: "ghost".into() };
    assert!(matches!(driver.submit("g", &ghost), Err(DriverError::Unreachable { .. })));
    assert!(matches!(driver.poll("g"), Err(DriverError::UnknownComputeOp { .. })));
    let err = driver.instances(&HostId::new("elsewhere")).unwrap_err();
    assert!(matches!(err, DriverError::UnknownHost { .. }), "{err}");
    let err = driver.add_host(HostId::new("closed"), "/x.sock".parse().unwrap()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("host closed: already has a container engine at tcp://127.0.0.1:{port}")
    );
}
