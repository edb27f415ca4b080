//! `agent::measure::Sampler`: its pure core over hand-made readings (first sample, rates by hand,
//! nominal bandwidth, last-good substitution, failures listed), and the whole read path over a
//! fake `/proc` and `/sys` tree on disk.

use agent::measure::{
    read_fs_blocks, storage_use, CpuTimes, FsBlocks, LinkSpeed, MeasureError, MemInfo, NetCounters,
    NetRead, RawReadings, Reading, Resource, Sampler, SamplerConfig, Sources, Usage,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn config() -> SamplerConfig {
    SamplerConfig::new(PathBuf::from("/"), Some("eth0".into()), 100.0)
}

/// A reading of every source that succeeds.
fn raw(cpu: CpuTimes, rx_bytes: u64, speed_mbit_s: Option<u64>) -> RawReadings {
    RawReadings {
        cpu: Ok(cpu),
        memory: Ok(MemInfo { total_kib: 16_000, available_kib: 12_000 }),
        storage: Ok(FsBlocks { total: 1000, free: 250, available: 250 }),
        net: Ok(NetRead {
            interface: "eth0".into(),
            counters: NetCounters { rx_bytes, tx_bytes: 0 },
            link_speed_mbit_s: match speed_mbit_s {
                Some(mbit_s) => Ok(mbit_s),
                None => Err(MeasureError::BadLinkSpeed {
                    path: "/sys/class/net/eth0/speed".into(),
                    value: "-1".into(),
                }),
            },
        }),
    }
}

/// `resource: message` for each failure.
fn failures(reading: &Reading) -> Vec<String> {
    reading.failures.iter().map(|f| format!("{}: {}", f.resource, f.error)).collect()
}

#[test]
fn first_sample_has_no_rates_and_says_so() {
    let mut sampler = Sampler::new(config());
    let first =
        sampler.observe(raw(CpuTimes { busy: 200, total: 1000 }, 0, Some(1000)), Duration::ZERO);
    assert_eq!(
        failures(&first),
        [
            "processor: /proc/stat: no previous sample yet (a rate needs two reads)",
            "communication: /proc/net/dev: no previous sample yet (a rate needs two reads)",
        ]
    );
    // Never measured: reported as fully used, not 0.
    assert_eq!(
        first.usage,
        Usage { storage: 0.75, processor: 1.0, communication: 1.0, memory: 0.25 }
    );
    assert!(first.failed(Resource::Processor) && !first.failed(Resource::Memory));
}

#[test]
fn second_sample_has_rates_by_hand() {
    let mut sampler = Sampler::new(config());
    sampler
        .observe(raw(CpuTimes { busy: 200, total: 1000 }, 0, Some(1000)), Duration::from_secs(10));
    // Δbusy 90 / Δtotal 160 = 0.5625; 25 MB in 2 s over 1000 Mbit/s (125 MB/s) = 0.1.
    let second = sampler.observe(
        raw(CpuTimes { busy: 290, total: 1160 }, 25_000_000, Some(1000)),
        Duration::from_secs(12),
    );
    assert_eq!(failures(&second), Vec::<String>::new());
    assert_eq!(
        second.usage,
        Usage { storage: 0.75, processor: 0.5625, communication: 0.1, memory: 0.25 }
    );
    assert_eq!(second.interface.as_deref(), Some("eth0"));
    assert!(matches!(second.link_speed, Some(LinkSpeed::Measured(1000))));
}

#[test]
fn unknown_link_speed_falls_back_to_the_nominal_bandwidth_and_says_why() {
    let mut sampler = Sampler::new(config());
    sampler.observe(raw(CpuTimes { busy: 0, total: 100 }, 0, None), Duration::ZERO);
    // 1 250 000 bytes in 1 s over the nominal 100 Mbit/s (12.5 MB/s) = 0.1.
    let reading = sampler
        .observe(raw(CpuTimes { busy: 50, total: 200 }, 1_250_000, None), Duration::from_secs(1));
    assert!(reading.failures.is_empty());
    assert_eq!(reading.usage.communication, 0.1);
    match &reading.link_speed {
        Some(LinkSpeed::Nominal { mbit_s, reason }) => {
            assert_eq!(*mbit_s, 100.0);
            assert_eq!(
                reason.to_string(),
                "/sys/class/net/eth0/speed: not a positive number of Mbit/s: `-1`"
            );
        }
        other => panic!("expected the nominal bandwidth, got {other:?}"),
    }
}

#[test]
fn a_failed_source_keeps_its_last_good_value_and_is_listed() {
    let mut sampler = Sampler::new(config());
    sampler.observe(raw(CpuTimes { busy: 0, total: 100 }, 0, Some(1000)), Duration::ZERO);
    sampler.observe(raw(CpuTimes { busy: 50, total: 200 }, 0, Some(1000)), Duration::from_secs(1));
    let mut broken = raw(CpuTimes { busy: 60, total: 300 }, 0, Some(1000));
    broken.memory =
        Err(MeasureError::NoLine { path: "/proc/meminfo".into(), what: "MemAvailable" });
    broken.storage = Err(MeasureError::Missing {
        path: "/var/lib/hearth".into(),
        source: std::io::ErrorKind::NotFound.into(),
    });
    let reading = sampler.observe(broken, Duration::from_secs(2));
    assert_eq!(
        failures(&reading),
        [
            "storage: /var/lib/hearth: missing (entity not found)",
            "memory: /proc/meminfo: no `MemAvailable` line",
        ]
    );
    // Storage and memory keep 0.75 and 0.25; the processor moved on: 10 / 100.
    assert_eq!(
        reading.usage,
        Usage { storage: 0.75, processor: 0.1, communication: 0.0, memory: 0.25 }
    );
}

#[test]
fn a_new_interface_starts_its_rate_over() {
    let mut sampler = Sampler::new(config());
    sampler.observe(raw(CpuTimes { busy: 0, total: 100 }, 0, Some(1000)), Duration::ZERO);
    let good = sampler.observe(
        raw(CpuTimes { busy: 0, total: 200 }, 12_500_000, Some(1000)),
        Duration::from_secs(1),
    );
    assert_eq!(good.usage.communication, 0.1);
    let mut moved = raw(CpuTimes { busy: 0, total: 300 }, 0, Some(1000));
    if let Ok(net) = &mut moved.net {
        net.interface = "wlan0".into();
    }
    let reading = sampler.observe(moved, Duration::from_secs(2));
    assert_eq!(
        failures(&reading),
        ["communication: /proc/net/dev: no previous sample yet (a rate needs two reads)"]
    );
    assert_eq!(reading.usage.communication, 0.1);
    assert_eq!(reading.interface.as_deref(), Some("wlan0"));
}

#[test]
fn a_counter_reset_is_a_failure_then_measures_from_the_new_value() {
    let mut sampler = Sampler::new(config());
    sampler.observe(raw(CpuTimes { busy: 500, total: 1000 }, 0, Some(1000)), Duration::ZERO);
    let reset = sampler
        .observe(raw(CpuTimes { busy: 10, total: 100 }, 0, Some(1000)), Duration::from_secs(1));
    assert_eq!(
        failures(&reset),
        ["processor: /proc/stat: cpu total jiffies went backwards between samples (1000 -> 100)"]
    );
    let next = sampler
        .observe(raw(CpuTimes { busy: 35, total: 200 }, 0, Some(1000)), Duration::from_secs(2));
    assert!(next.failures.is_empty());
    assert_eq!(next.usage.processor, 0.25);
}

// ---------------------------------------------------------------------------------------------
// A fake /proc and /sys on disk

/// A fresh directory for one test under cargo's per-target temporary directory.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("agent-{name}"));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    std::fs::create_dir_all(dir.join("proc/net")).unwrap();
    std::fs::create_dir_all(dir.join("sys/class/net/veth0")).unwrap();
    dir
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
}

fn net_dev(veth0_rx: u64, veth0_tx: u64) -> String {
    format!(
        "Inter-|   Receive                                                |  Transmit\n \
         face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs \
         drop fifo colls carrier compressed\n    lo:  100  1 0 0 0 0 0 0  100  1 0 0 0 0 0 0\n \
         veth0: {veth0_rx} 10 0 0 0 0 0 0 {veth0_tx} 10 0 0 0 0 0 0\n"
    )
}

#[test]
fn sampler_reads_a_fake_tree_and_names_each_broken_file() {
    let dir = scratch("fake-tree");
    let proc_root = dir.join("proc");
    write(
        &proc_root.join("stat"),
        "cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 100 0 100 700 100 0 0 0 0 0\n",
    );
    write(
        &proc_root.join("meminfo"),
        "MemTotal: 8000 kB\nMemFree: 1000 kB\nMemAvailable: 2000 kB\n",
    );
    write(&proc_root.join("net/dev"), &net_dev(0, 0));
    write(
        &proc_root.join("net/route"),
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
         veth0\t00000000\t0100000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n",
    );
    write(&dir.join("sys/class/net/veth0/speed"), "10000\n");
    let config = SamplerConfig {
        sources: Sources { proc_root: proc_root.clone(), sys_root: dir.join("sys") },
        storage_path: dir.clone(),
        interface: None, // the default route's: veth0
        nominal_bandwidth_mbit_s: 1000.0,
    };
    let mut sampler = Sampler::new(config);
    sampler.prime(Duration::from_secs(100));

    write(&proc_root.join("stat"), "cpu  160 0 120 760 110 0 10 0 0 0\n");
    // 125 MB received in 1 s over 10 Gbit/s (1.25 GB/s): 0.1.
    write(&proc_root.join("net/dev"), &net_dev(125_000_000, 5));
    let reading = sampler.sample(Duration::from_secs(101));
    assert_eq!(failures(&reading), Vec::<String>::new());
    assert_eq!(reading.interface.as_deref(), Some("veth0"));
    assert!(matches!(reading.link_speed, Some(LinkSpeed::Measured(10_000))));
    // The storage figure is this filesystem's, read the same way.
    let storage = storage_use(&dir, read_fs_blocks(&dir).unwrap()).unwrap();
    assert_eq!(
        reading.usage,
        Usage { storage, processor: 0.5625, communication: 0.1, memory: 0.75 }
    );

    // Break every source in its own way.
    write(&proc_root.join("stat"), "cpu  160 0 oops 760\n");
    std::fs::remove_file(proc_root.join("meminfo")).unwrap();
    write(&proc_root.join("net/dev"), &net_dev(125_000_000, 5).replace("veth0", "veth1"));
    let missing_storage = dir.join("no-such-dir");
    sampler =
        Sampler::new(SamplerConfig { storage_path: missing_storage, ..sampler.config().clone() });
    let broken = sampler.sample(Duration::from_secs(102));
    let d = dir.display();
    assert_eq!(
        failures(&broken),
        [
            format!("storage: {d}/no-such-dir: missing (No such file or directory (os error 2))"),
            format!(
                "processor: {d}/proc/stat: line 1: `cpu`: field 3 (system): not a number: `oops`"
            ),
            format!("communication: {d}/proc/net/dev: no interface `veth0` (present: lo, veth1)"),
            format!("memory: {d}/proc/meminfo: missing (No such file or directory (os error 2))"),
        ]
    );
    // A fresh sampler never measured anything: every figure reads fully used.
    assert_eq!(
        broken.usage,
        Usage { storage: 1.0, processor: 1.0, communication: 1.0, memory: 1.0 }
    );

    std::fs::remove_file(proc_root.join("net/route")).unwrap();
    let no_route = sampler.sample(Duration::from_secs(103));
    assert!(
        failures(&no_route).contains(&format!(
            "communication: {d}/proc/net/route: missing (No such file or directory (os error 2))"
        )),
        "{:?}",
        failures(&no_route)
    );
}
