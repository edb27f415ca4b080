//! The Compute conformance suite: the same assertions for every [`Compute`] implementation
//! (STYLE.md rule 6; docs/drivers.md "Compute" states the contract as MUST/SHOULD). A driver's
//! test file describes the backend under test in a [`ComputeSubject`] and calls
//! [`check_compute`]; the simulated site runs it in `site_compute.rs` as the reference, the
//! process runner in `process.rs`.
//!
//! What it checks, in order (each step is a function a driver's tests may also call alone):
//! 1. [`capabilities_are_declared`]: a note, and a move case for a driver that declares moves.
//! 2. [`unknown_names_map_to_their_errors`]: `UnknownHost`, `UnknownInstance` and
//!    `UnknownComputeOp`, each naming what was unknown; a refused submission leaves no record.
//! 3. [`lifecycle_is_idempotent_by_operation_id`]: stop → `Stopped`, start → `Running`, polled
//!    from `Pending` to `Done` and never back; the same ID again has no second effect, the same
//!    ID with another operation is `OperationConflict`; asking for the state an instance is in
//!    ends `Done`; cancelling an ended operation is `Ok(false)`.
//! 4. [`moves_match_capabilities`]: impossible moves are `Refused`; a move kind the driver does
//!    not declare is refused or ends `Failed` with the instance where it was; a declared one
//!    ends `Done` with the instance on exactly one host at every poll, and once only.
//! 5. [`a_disappearing_backend_gives_errors_not_hangs`]: with the backend gone mid-operation,
//!    calls return (an error or a status) and the operation is not forgotten; once it is back
//!    the operation ends and the instance's state agrees with how it ended.
//!
//! Every wait goes through the subject's clock, bounded by `wait.timeout`: on a manual clock
//! the suite advances time, on a real one it sleeps.

use std::time::Duration;

use drivers::{
    Clock, Compute, ComputeOp, DriverError, HostId, InstanceInfo, InstanceState, MoveKind,
    OpStatus, Wait,
};

/// A compute backend under test.
pub struct ComputeSubject<'a> {
    /// The driver.
    pub compute: &'a dyn Compute,
    /// The clock the driver runs on (a manual one advances as the suite waits).
    pub clock: &'a dyn Clock,
    /// A host the driver knows.
    pub host: HostId,
    /// An instance running on `host`, in no operation; the suite stops and starts it and
    /// leaves it running.
    pub instance: String,
    /// A move the driver can make with every kind it declares (required when it declares
    /// live or cold moves); the suite moves the instance there and back.
    pub moves: Option<MoveCase>,
    /// Makes the backend disappear (`true`) and come back (`false`), for drivers whose tests
    /// can do that: the site marks the host unreachable, the process runner has its task killed
    /// from outside.
    pub disappear: Option<&'a dyn Fn(bool)>,
    /// How long any operation may take (at least the driver's own deadline), and how often the
    /// suite polls.
    pub wait: Wait,
}

/// A move the driver under test can make.
pub struct MoveCase {
    /// A running, movable instance in no operation.
    pub instance: String,
    /// Its host.
    pub from: HostId,
    /// A host that is on and has room for it.
    pub to: HostId,
}

/// A host no driver knows.
fn stranger_host() -> HostId {
    HostId::new("conformance-no-such-host")
}

/// An instance no driver knows.
const STRANGER_INSTANCE: &str = "conformance-no-such-instance";

/// Runs the whole suite.
pub fn check_compute(subject: &ComputeSubject<'_>) {
    capabilities_are_declared(subject);
    unknown_names_map_to_their_errors(subject);
    lifecycle_is_idempotent_by_operation_id(subject);
    moves_match_capabilities(subject);
    a_disappearing_backend_gives_errors_not_hangs(subject);
    assert_eq!(
        state_of(subject, &subject.host, &subject.instance),
        Some(InstanceState::Running),
        "the suite leaves the instance running on {}",
        subject.host
    );
}

/// The driver declares what it can do, and gives the suite a move to try if it can move.
pub fn capabilities_are_declared(subject: &ComputeSubject<'_>) {
    let capabilities = subject.compute.capabilities();
    assert!(!capabilities.note.trim().is_empty(), "capabilities need a note: {capabilities:?}");
    assert_eq!(capabilities, subject.compute.capabilities(), "capabilities are stable");
    if capabilities.live || capabilities.cold {
        assert!(subject.moves.is_some(), "a driver that declares moves gives a MoveCase");
    }
}

/// Unknown hosts, instances and operation IDs are errors that name them.
pub fn unknown_names_map_to_their_errors(subject: &ComputeSubject<'_>) {
    let compute = subject.compute;
    let listed = list(subject, &subject.host);
    let ids: Vec<&str> = listed.iter().map(|info| info.id.as_str()).collect();
    let again = list(subject, &subject.host);
    assert_eq!(ids, again.iter().map(|info| info.id.as_str()).collect::<Vec<_>>(), "stable");
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "each instance listed once: {ids:?}");
    for info in &listed {
        assert_eq!(info.host, subject.host, "listed on the host asked about: {info:?}");
        assert!(info.cpus >= 0.0 && info.memory_mib >= 0.0, "resources are not negative: {info:?}");
    }
    let found = listed.iter().find(|info| info.id == subject.instance);
    assert_eq!(
        found.map(|info| info.state),
        Some(InstanceState::Running),
        "{} runs on {} when the suite starts: {listed:?}",
        subject.instance,
        subject.host
    );

    let stranger = stranger_host();
    match compute.instances(&stranger) {
        Err(DriverError::UnknownHost { host }) => assert_eq!(host, stranger),
        other => panic!("instances of an unknown host: expected UnknownHost, got {other:?}"),
    }

    let never = "conformance-never-submitted";
    for result in [compute.poll(never).map(drop), compute.cancel(never).map(drop)] {
        match result {
            Err(DriverError::UnknownComputeOp { op_id }) => assert_eq!(op_id, never),
            other => panic!("an ID never submitted: expected UnknownComputeOp, got {other:?}"),
        }
    }

    let ghost_ops = [
        ComputeOp::Stop { instance: STRANGER_INSTANCE.into() },
        ComputeOp::Start { instance: STRANGER_INSTANCE.into() },
        ComputeOp::Move {
            instance: STRANGER_INSTANCE.into(),
            from: subject.host.clone(),
            to: subject.host.clone(),
            kind: MoveKind::Cold,
        },
    ];
    for (n, op) in ghost_ops.iter().enumerate() {
        let op_id = format!("conformance-ghost-{n}");
        match compute.submit(&op_id, op) {
            Err(DriverError::UnknownInstance { instance }) => {
                assert_eq!(instance, STRANGER_INSTANCE)
            }
            other => panic!("{op}: expected UnknownInstance, got {other:?}"),
        }
        assert!(
            matches!(compute.poll(&op_id), Err(DriverError::UnknownComputeOp { .. })),
            "a refused submission leaves no operation behind"
        );
    }
}

/// Stop and start, polled to the end; the same ID again has no second effect.
pub fn lifecycle_is_idempotent_by_operation_id(subject: &ComputeSubject<'_>) {
    let (compute, host, name) = (subject.compute, &subject.host, subject.instance.as_str());
    let stop = ComputeOp::Stop { instance: name.into() };
    let start = ComputeOp::Start { instance: name.into() };

    let started_at = subject.clock.now();
    submit(subject, "conformance-stop", &stop);
    assert_eq!(run_to_end(subject, "conformance-stop"), OpStatus::Done, "{stop}");
    let stop_took = subject.clock.now() - started_at;
    assert_eq!(state_of(subject, host, name), Some(InstanceState::Stopped), "after {stop}");

    // The same ID and operation again: accepted, still Done.
    submit(subject, "conformance-stop", &stop);
    assert_eq!(poll(subject, "conformance-stop"), OpStatus::Done, "resubmitted");
    // The same ID with another operation: a conflict that names both.
    match compute.submit("conformance-stop", &start) {
        Err(DriverError::OperationConflict { op_id, existing, requested }) => {
            assert_eq!(op_id, "conformance-stop");
            assert_eq!((existing, requested), (stop.to_string(), start.to_string()));
        }
        other => panic!("another operation under a used ID: expected a conflict, got {other:?}"),
    }
    // Asking for the state it is in: accepted and Done, nothing changes.
    submit(subject, "conformance-stop-when-stopped", &stop);
    assert_eq!(run_to_end(subject, "conformance-stop-when-stopped"), OpStatus::Done);
    assert_eq!(state_of(subject, host, name), Some(InstanceState::Stopped));

    submit(subject, "conformance-start", &start);
    assert_eq!(run_to_end(subject, "conformance-start"), OpStatus::Done, "{start}");
    assert_eq!(state_of(subject, host, name), Some(InstanceState::Running), "after {start}");

    // The ended stop resubmitted (a controller replaying its journal) must not stop it again:
    // wait as long as the stop took, and a little more, and it still runs.
    submit(subject, "conformance-stop", &stop);
    submit(subject, "conformance-start", &start);
    subject.clock.sleep(stop_took + subject.wait.interval);
    assert_eq!(poll(subject, "conformance-stop"), OpStatus::Done);
    assert_eq!(poll(subject, "conformance-start"), OpStatus::Done);
    assert_eq!(
        state_of(subject, host, name),
        Some(InstanceState::Running),
        "resubmitting ended operations has no second effect"
    );

    match compute.cancel("conformance-start") {
        Ok(false) => {}
        other => panic!("cancelling an ended operation: expected Ok(false), got {other:?}"),
    }
    assert_eq!(poll(subject, "conformance-start"), OpStatus::Done, "cancel changed nothing");
}

/// Impossible moves are refused; undeclared kinds are refused or fail cleanly; declared kinds
/// move the instance exactly once, never listing it on two hosts or none.
pub fn moves_match_capabilities(subject: &ComputeSubject<'_>) {
    let compute = subject.compute;
    let capabilities = compute.capabilities();
    let name = subject.instance.as_str();
    let host = &subject.host;

    // Onto the host it is on already: refused.
    let onto_itself = ComputeOp::Move {
        instance: name.into(),
        from: host.clone(),
        to: host.clone(),
        kind: MoveKind::Cold,
    };
    refused(compute.submit("conformance-move-onto-itself", &onto_itself), &onto_itself);
    if let Some(case) = &subject.moves {
        // From a host it is not on: refused.
        let wrong_source = ComputeOp::Move {
            instance: case.instance.clone(),
            from: case.to.clone(),
            to: case.from.clone(),
            kind: MoveKind::Cold,
        };
        refused(compute.submit("conformance-move-wrong-source", &wrong_source), &wrong_source);
    }
    // To a host nobody knows: refused, or UnknownHost.
    let nowhere = ComputeOp::Move {
        instance: name.into(),
        from: host.clone(),
        to: stranger_host(),
        kind: MoveKind::Cold,
    };
    match compute.submit("conformance-move-nowhere", &nowhere) {
        Err(DriverError::Refused { .. }) => {}
        Err(DriverError::UnknownHost { host }) => assert_eq!(host, stranger_host()),
        other => panic!("{nowhere}: expected Refused or UnknownHost, got {other:?}"),
    }
    assert_eq!(state_of(subject, host, name), Some(InstanceState::Running), "nothing moved");

    for kind in [MoveKind::Live, MoveKind::Cold] {
        let declared = match kind {
            MoveKind::Live => capabilities.live,
            MoveKind::Cold => capabilities.cold,
        };
        if declared {
            continue;
        }
        // An undeclared kind: refused, or accepted and Failed with the instance in place.
        let (instance, from, to) = match &subject.moves {
            Some(case) => (case.instance.clone(), case.from.clone(), case.to.clone()),
            None => (name.to_string(), host.clone(), host.clone()),
        };
        let op = ComputeOp::Move { instance: instance.clone(), from: from.clone(), to, kind };
        let op_id = format!("conformance-undeclared-{kind}");
        match compute.submit(&op_id, &op) {
            Err(DriverError::Refused { reason, .. }) => assert!(!reason.is_empty(), "{op}"),
            Ok(()) => {
                let status = run_to_end(subject, &op_id);
                assert!(matches!(status, OpStatus::Failed(_)), "{op} (undeclared): {status:?}");
                assert!(state_of(subject, &from, &instance).is_some(), "{instance} stayed");
            }
            Err(other) => panic!("{op} (undeclared): expected a refusal, got {other}"),
        }
    }

    let Some(case) = &subject.moves else { return };
    let there = if capabilities.live { MoveKind::Live } else { MoveKind::Cold };
    let back = if capabilities.cold { MoveKind::Cold } else { there };
    if !(capabilities.live || capabilities.cold) {
        return;
    }
    let before = state_of(subject, &case.from, &case.instance)
        .unwrap_or_else(|| panic!("{} is on {} for the move case", case.instance, case.from));
    for (n, (kind, from, to)) in
        [(there, &case.from, &case.to), (back, &case.to, &case.from)].into_iter().enumerate()
    {
        let op = ComputeOp::Move {
            instance: case.instance.clone(),
            from: from.clone(),
            to: to.clone(),
            kind,
        };
        let op_id = format!("conformance-move-{n}");
        submit(subject, &op_id, &op);
        let status = run_to_end_checking(subject, &op_id, || {
            on_exactly_one_host(subject, &case.instance, from, to)
        });
        assert_eq!(status, OpStatus::Done, "{op}");
        assert_eq!(state_of(subject, from, &case.instance), None, "{op}: gone from {from}");
        assert_eq!(state_of(subject, to, &case.instance), Some(before), "{op}: as it was");
        // Resubmitted: no second move (it would be refused or move it back otherwise).
        submit(subject, &op_id, &op);
        subject.clock.sleep(subject.wait.interval);
        assert_eq!(poll(subject, &op_id), OpStatus::Done);
        assert_eq!(state_of(subject, to, &case.instance), Some(before), "{op}: moved once");
    }
}

/// The backend disappears while a stop is in flight: every call returns, the operation is not
/// forgotten, and once the backend is back the operation ends and agrees with the instance.
pub fn a_disappearing_backend_gives_errors_not_hangs(subject: &ComputeSubject<'_>) {
    let Some(disappear) = subject.disappear else { return };
    let (compute, host, name) = (subject.compute, &subject.host, subject.instance.as_str());
    let stop = ComputeOp::Stop { instance: name.into() };
    submit(subject, "conformance-vanishing-stop", &stop);
    disappear(true);

    // Gone: each call answers, with an error or a status, and a Pending poll does not last
    // past the driver's deadline.
    let started = subject.clock.now();
    loop {
        match compute.poll("conformance-vanishing-stop") {
            Err(DriverError::UnknownComputeOp { .. }) => {
                panic!("the operation was forgotten when the backend went away")
            }
            Err(_) => break,
            Ok(status) if status.is_terminal() => break,
            Ok(OpStatus::Pending) => {}
            Ok(status) => panic!("unexpected status {status:?}"),
        }
        assert!(
            subject.clock.now() - started <= subject.wait.timeout,
            "still Pending {:?} after the backend disappeared",
            subject.wait.timeout
        );
        subject.clock.sleep(subject.wait.interval);
    }
    // These must return; what they say is the driver's business while the backend is gone.
    let _ = compute.instances(host);
    let _ = compute.cancel("conformance-vanishing-stop");

    disappear(false);
    let status = run_to_end(subject, "conformance-vanishing-stop");
    let state = state_of(subject, host, name);
    match &status {
        OpStatus::Done => assert_eq!(state, Some(InstanceState::Stopped), "{stop} done"),
        OpStatus::Failed(_) => assert_eq!(state, Some(InstanceState::Running), "{stop} failed"),
        OpStatus::Pending => unreachable!("run_to_end returns a terminal status"),
    }
    if state == Some(InstanceState::Stopped) {
        let start = ComputeOp::Start { instance: name.into() };
        submit(subject, "conformance-restart", &start);
        assert_eq!(run_to_end(subject, "conformance-restart"), OpStatus::Done, "{start}");
    }
}

/// The instance's state on `host`, if it is listed there.
fn state_of(subject: &ComputeSubject<'_>, host: &HostId, instance: &str) -> Option<InstanceState> {
    list(subject, host).into_iter().find(|info| info.id == instance).map(|info| info.state)
}

fn list(subject: &ComputeSubject<'_>, host: &HostId) -> Vec<InstanceInfo> {
    subject.compute.instances(host).unwrap_or_else(|err| panic!("instances on {host}: {err}"))
}

fn on_exactly_one_host(subject: &ComputeSubject<'_>, instance: &str, a: &HostId, b: &HostId) {
    let on_a = state_of(subject, a, instance).is_some();
    let on_b = state_of(subject, b, instance).is_some();
    assert!(on_a != on_b, "{instance} on exactly one of {a} ({on_a}) and {b} ({on_b})");
}

fn submit(subject: &ComputeSubject<'_>, op_id: &str, op: &ComputeOp) {
    subject.compute.submit(op_id, op).unwrap_or_else(|err| panic!("{op} as {op_id}: {err}"));
}

fn poll(subject: &ComputeSubject<'_>, op_id: &str) -> OpStatus {
    subject.compute.poll(op_id).unwrap_or_else(|err| panic!("polling {op_id}: {err}"))
}

fn refused(result: Result<(), DriverError>, op: &ComputeOp) {
    match result {
        Err(DriverError::Refused { operation, reason, .. }) => {
            assert_eq!(operation, op.to_string(), "the refusal names the operation");
            assert!(!reason.trim().is_empty(), "the refusal says why");
        }
        other => panic!("{op}: expected Refused, got {other:?}"),
    }
}

/// Polls `op_id` until it ends, within `wait.timeout`.
fn run_to_end(subject: &ComputeSubject<'_>, op_id: &str) -> OpStatus {
    run_to_end_checking(subject, op_id, || {})
}

/// Polls `op_id` until it ends, running `check` before every poll; a status never goes from
/// terminal back to `Pending`, and the operation ends within `wait.timeout`.
fn run_to_end_checking(subject: &ComputeSubject<'_>, op_id: &str, check: impl Fn()) -> OpStatus {
    let started = subject.clock.now();
    loop {
        check();
        let status = poll(subject, op_id);
        if status.is_terminal() {
            // Terminal is final.
            assert_eq!(poll(subject, op_id), status, "{op_id} stays {status:?}");
            return status;
        }
        let waited = subject.clock.now() - started;
        assert!(waited <= subject.wait.timeout, "{op_id} still Pending after {waited:?}");
        subject.clock.sleep(subject.wait.interval.min(Duration::from_secs(5)));
    }
}
