//! The power-change limiter over the simulated driver, with real threads: the cap holds, a full
//! limiter rejects at once or after its wait, and every way an operation ends frees its slot.

use std::sync::{mpsc, Arc};
use std::time::Duration;

use drivers::simulated::{SimulatedDriver, Transitions};
use drivers::{
    change_power, Clock, DriverError, HostId, OpStatus, Power, PowerLimiter, PowerOp, PowerState,
    SystemClock, Wait,
};

fn fleet(clock: Arc<dyn Clock>, n_hosts: usize, delay: Duration) -> (SimulatedDriver, Vec<HostId>) {
    let driver = SimulatedDriver::new(clock);
    let hosts: Vec<HostId> = (1..=n_hosts).map(|n| HostId::new(format!("h{n}"))).collect();
    for host in &hosts {
        driver.add_host(host.clone(), PowerState::Off, Transitions::uniform(delay));
    }
    (driver, hosts)
}

#[test]
fn at_most_two_hosts_switch_at_once() {
    let clock = Arc::new(SystemClock::new());
    let delay = Duration::from_millis(60);
    let (driver, hosts) = fleet(clock.clone(), 6, delay);
    let limiter = PowerLimiter::new(driver, 2, Duration::from_secs(10));
    let wait = Wait { timeout: Duration::from_secs(5), interval: Duration::from_millis(5) };
    let started = clock.now();
    std::thread::scope(|scope| {
        for host in &hosts {
            let (limiter, clock) = (&limiter, clock.as_ref());
            scope.spawn(move || change_power(limiter, clock, host, PowerOp::On, wait).unwrap());
        }
    });
    let took = clock.now() - started;
    for host in &hosts {
        assert_eq!(limiter.state(host).unwrap(), PowerState::On);
    }
    assert!(limiter.high_water() <= 2, "high water {}", limiter.high_water());
    assert!(limiter.inner().max_concurrent_transitions() <= 2);
    // Six changes of 60 ms, two at a time, cannot finish in less than three rounds.
    assert!(took >= delay * 3, "took {took:?}");
    assert_eq!(limiter.in_flight(), 0);
}

#[test]
fn a_full_limiter_rejects_at_once_when_it_may_not_wait() {
    let clock = Arc::new(drivers::ManualClock::new());
    let (driver, hosts) = fleet(clock.clone(), 2, Duration::from_secs(5));
    let limiter = PowerLimiter::new(driver, 1, Duration::ZERO);
    let first = limiter.request(&hosts[0], PowerOp::On).unwrap();
    let err = limiter.request(&hosts[1], PowerOp::On).unwrap_err();
    assert!(matches!(err, DriverError::Busy { limit: 1, .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "host h2: power on refused: 1 power change(s) already in flight (waited 0 s for a free \
         slot)"
    );
    // Still pending: the slot stays taken. Done: it is freed.
    assert_eq!(limiter.poll(first).unwrap(), OpStatus::Pending);
    assert_eq!(limiter.in_flight(), 1);
    clock.advance(Duration::from_secs(5));
    assert_eq!(limiter.poll(first).unwrap(), OpStatus::Done);
    assert_eq!(limiter.in_flight(), 0);
    limiter.request(&hosts[1], PowerOp::On).unwrap();
}

#[test]
fn a_waiting_request_proceeds_when_a_slot_frees() {
    let clock = Arc::new(SystemClock::new());
    let (driver, hosts) = fleet(clock.clone(), 2, Duration::from_secs(60));
    let limiter = PowerLimiter::new(driver, 1, Duration::from_secs(10));
    let first = limiter.request(&hosts[0], PowerOp::On).unwrap();
    let (sent, received) = mpsc::channel();
    std::thread::scope(|scope| {
        let (limiter, second_host) = (&limiter, &hosts[1]);
        scope.spawn(move || sent.send(limiter.request(second_host, PowerOp::On)).unwrap());
        assert!(
            received.recv_timeout(Duration::from_millis(100)).is_err(),
            "the second request waits while the first holds the only slot"
        );
        limiter.forget(first);
        let second = received.recv_timeout(Duration::from_secs(5)).expect("woken up");
        assert!(second.is_ok(), "{second:?}");
    });
    assert_eq!(limiter.in_flight(), 1);
}

#[test]
fn a_waiting_request_gives_up_after_max_wait() {
    let clock = Arc::new(SystemClock::new());
    let (driver, hosts) = fleet(clock.clone(), 2, Duration::from_secs(60));
    let limiter = PowerLimiter::new(driver, 1, Duration::from_millis(100));
    limiter.request(&hosts[0], PowerOp::On).unwrap();
    let started = clock.now();
    let err = limiter.request(&hosts[1], PowerOp::On).unwrap_err();
    assert!(clock.now() - started >= Duration::from_millis(100));
    assert!(err.to_string().contains("(waited 0.1 s for a free slot)"), "{err}");
}

#[test]
fn failures_free_their_slots() {
    let clock = Arc::new(drivers::ManualClock::new());
    let (driver, hosts) = fleet(clock.clone(), 1, Duration::from_secs(5));
    let limiter = PowerLimiter::new(driver, 1, Duration::ZERO);
    // The wrapped driver refuses: no slot kept.
    let err = limiter.request(&HostId::new("h9"), PowerOp::On).unwrap_err();
    assert!(matches!(err, DriverError::UnknownHost { .. }), "{err}");
    assert_eq!(limiter.in_flight(), 0);
    // A verified change that times out forgets its operation.
    limiter.inner().set_ignores_requests(&hosts[0], true).unwrap();
    let wait = Wait { timeout: Duration::from_secs(3), interval: Duration::from_secs(1) };
    let err = change_power(&limiter, clock.as_ref(), &hosts[0], PowerOp::On, wait).unwrap_err();
    assert!(matches!(err, DriverError::NotConfirmed { .. }), "{err}");
    assert_eq!(limiter.in_flight(), 0);
}
