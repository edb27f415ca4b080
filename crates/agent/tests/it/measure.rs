//! Parsers and fractions of `agent::measure` over real-looking samples of `/proc/stat`,
//! `/proc/meminfo`, `/proc/net/dev`, `/proc/net/route` and `/sys/class/net/IFACE/speed`, and
//! over malformed ones with their exact messages.

use agent::measure::{
    communication_use, memory_use, net_counters, parse_default_route, parse_link_speed,
    parse_meminfo, parse_net_dev, parse_proc_stat, processor_use, storage_use, CpuTimes, FakeLoad,
    FsBlocks, MemInfo, NetCounters, Resource,
};
use std::path::Path;
use std::time::Duration;

const STAT: &str = "/proc/stat";
const MEMINFO: &str = "/proc/meminfo";
const NET_DEV: &str = "/proc/net/dev";

/// The message of an error, or a failure that shows the unexpected success.
#[track_caller]
fn message<T: std::fmt::Debug, E: std::fmt::Display>(result: Result<T, E>) -> String {
    match result {
        Ok(value) => panic!("expected an error, got {value:?}"),
        Err(err) => err.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// /proc/stat

/// A 2-CPU /proc/stat as Linux 6.x prints it (this machine's kind), trimmed after `intr`.
const STAT_SAMPLE: &str = "\
cpu  467445 13 39722 1224056 4545 0 392 400 0 0
cpu0 213010 6 18886 634558 1182 0 33 204 0 0
cpu1 254434 7 20835 589498 3362 0 358 196 0 0
intr 21863469 0 9 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
ctxt 46112993
btime 1717000000
processes 240113
procs_running 2
procs_blocked 0
softirq 9371127 0 1735473 11 1184411 0 0 2153 3604823 0 2844256
";

#[test]
fn stat_sums_busy_and_total_by_hand() {
    // busy = user 467445 + nice 13 + system 39722 + irq 0 + softirq 392 + steal 400 = 507972
    // total = busy + idle 1224056 + iowait 4545 = 1736573
    let times = parse_proc_stat(Path::new(STAT), STAT_SAMPLE).unwrap();
    assert_eq!(times, CpuTimes { busy: 507_972, total: 1_736_573 });
}

#[test]
fn stat_leaves_guest_time_out_because_user_already_counts_it() {
    // A KVM host: guest 175628 is already inside user 10132153.
    let text = "cpu  10132153 290696 3084719 46828483 16683 0 25195 0 175628 0\n";
    let times = parse_proc_stat(Path::new(STAT), text).unwrap();
    assert_eq!(times.busy, 10_132_153 + 290_696 + 3_084_719 + 25_195);
    assert_eq!(times.total, times.busy + 46_828_483 + 16_683);
}

#[test]
fn stat_tolerates_odd_spacing_and_an_old_kernel_with_four_fields() {
    let times = parse_proc_stat(Path::new(STAT), "  cpu\t100  0\t 50   850  \n").unwrap();
    assert_eq!(times, CpuTimes { busy: 150, total: 1000 });
}

#[test]
fn stat_takes_the_aggregate_line_wherever_it_is_and_never_cpu0() {
    let text = "cpu0 1 1 1 1\ncpu1 2 2 2 2\ncpu 3 0 0 7\n";
    assert_eq!(parse_proc_stat(Path::new(STAT), text).unwrap(), CpuTimes { busy: 3, total: 10 });
    let only_per_cpu = "cpu0 1 1 1 1\ncpu1 2 2 2 2\nintr 5\n";
    assert_eq!(
        message(parse_proc_stat(Path::new(STAT), only_per_cpu)),
        "/proc/stat: no `cpu` line"
    );
    assert_eq!(message(parse_proc_stat(Path::new(STAT), "")), "/proc/stat: no `cpu` line");
}

#[test]
fn stat_malformed_fields_name_the_line_and_field() {
    let check =
        |text: &str, want: &str| assert_eq!(message(parse_proc_stat(Path::new(STAT), text)), want);
    check(
        "intr 1\ncpu  10 0 x 40\n",
        "/proc/stat: line 2: `cpu`: field 3 (system): not a number: `x`",
    );
    check("cpu 1 2 3\n", "/proc/stat: line 1: `cpu`: expected at least 4 fields, got 3");
    check(
        "cpu 1 2 3 4 5 6 7 8 9 -1\n",
        "/proc/stat: line 1: `cpu`: field 10 (guest_nice): not a number: `-1`",
    );
    check(
        "cpu 1 2 3 99999999999999999999999\n",
        "/proc/stat: line 1: `cpu`: field 4 (idle): not a number: `99999999999999999999999`",
    );
}

#[test]
fn processor_use_is_busy_delta_over_total_delta() {
    // prev: busy = 100 + 100 = 200, total = 200 + 700 + 100 = 1000
    // now:  busy = 160 + 120 + 10 = 290, total = 290 + 760 + 110 = 1160
    // Δbusy / Δtotal = 90 / 160 = 0.5625
    let prev = parse_proc_stat(Path::new(STAT), "cpu 100 0 100 700 100 0 0 0 0 0\n").unwrap();
    let now = parse_proc_stat(Path::new(STAT), "cpu 160 0 120 760 110 0 10 0 0 0\n").unwrap();
    assert_eq!(processor_use(Path::new(STAT), prev, now).unwrap(), 0.5625);
    // Idle only: 0. Busy only: 1.
    let idle = CpuTimes { busy: 290, total: 1260 };
    assert_eq!(processor_use(Path::new(STAT), now, idle).unwrap(), 0.0);
    let busy = CpuTimes { busy: 390, total: 1260 };
    assert_eq!(processor_use(Path::new(STAT), now, busy).unwrap(), 1.0);
}

#[test]
fn processor_use_clamps_when_iowait_steps_back() {
    // iowait fell by 60 jiffies, so busy (total − idle − iowait) grew more than total.
    let prev = CpuTimes { busy: 100, total: 1000 };
    let now = CpuTimes { busy: 200, total: 1050 };
    assert_eq!(processor_use(Path::new(STAT), prev, now).unwrap(), 1.0);
}

#[test]
fn processor_use_rejects_counters_that_stand_still_or_go_back() {
    let prev = CpuTimes { busy: 100, total: 1000 };
    assert_eq!(
        message(processor_use(Path::new(STAT), prev, prev)),
        "/proc/stat: cpu total jiffies did not advance between samples; sample less often"
    );
    assert_eq!(
        message(processor_use(Path::new(STAT), prev, CpuTimes { busy: 10, total: 900 })),
        "/proc/stat: cpu total jiffies went backwards between samples (1000 -> 900)"
    );
}

// ---------------------------------------------------------------------------------------------
// /proc/meminfo

const MEMINFO_SAMPLE: &str = "\
MemTotal:       16000000 kB
MemFree:         9000000 kB
MemAvailable:   12000000 kB
Buffers:          325112 kB
Cached:          3510276 kB
SwapCached:            0 kB
HugePages_Total:       0
HugePages_Free:        0
Hugepagesize:       2048 kB
";

#[test]
fn meminfo_used_fraction_by_hand() {
    let mem = parse_meminfo(Path::new(MEMINFO), MEMINFO_SAMPLE).unwrap();
    assert_eq!(mem, MemInfo { total_kib: 16_000_000, available_kib: 12_000_000 });
    // (16 000 000 − 12 000 000) / 16 000 000
    assert_eq!(memory_use(Path::new(MEMINFO), mem).unwrap(), 0.25);
}

#[test]
fn meminfo_tolerates_tabs_and_any_line_order() {
    let text = "MemAvailable:\t1000 kB\nFoo: 3\nMemTotal:4000   kB\n";
    let mem = parse_meminfo(Path::new(MEMINFO), text).unwrap();
    assert_eq!(mem, MemInfo { total_kib: 4000, available_kib: 1000 });
    assert_eq!(memory_use(Path::new(MEMINFO), mem).unwrap(), 0.75);
}

#[test]
fn meminfo_malformed_or_missing_lines_are_named() {
    let check =
        |text: &str, want: &str| assert_eq!(message(parse_meminfo(Path::new(MEMINFO), text)), want);
    // A kernel older than 3.14 has no MemAvailable: missing, never 0.
    check("MemTotal: 16000000 kB\nMemFree: 100 kB\n", "/proc/meminfo: no `MemAvailable` line");
    check("MemAvailable: 100 kB\n", "/proc/meminfo: no `MemTotal` line");
    check(
        "MemTotal:  12x4 kB\nMemAvailable: 1 kB\n",
        "/proc/meminfo: line 1: `MemTotal`: value: not a number: `12x4`",
    );
    check(
        "MemTotal: 100 kB\nMemFree: 1 kB\nMemAvailable: 50\n",
        "/proc/meminfo: line 3: `MemAvailable`: expected the unit `kB`, got no unit",
    );
    check(
        "MemTotal: 100 MB\nMemAvailable: 50 kB\n",
        "/proc/meminfo: line 1: `MemTotal`: expected the unit `kB`, got `MB`",
    );
    check(
        "MemTotal:\nMemAvailable: 50 kB\n",
        "/proc/meminfo: line 1: `MemTotal`: value: not a number: ``",
    );
}

#[test]
fn memory_use_rejects_impossible_totals() {
    let path = Path::new(MEMINFO);
    assert_eq!(
        message(memory_use(path, MemInfo { total_kib: 0, available_kib: 0 })),
        "/proc/meminfo: MemTotal is 0"
    );
    assert_eq!(
        message(memory_use(path, MemInfo { total_kib: 100, available_kib: 101 })),
        "/proc/meminfo: MemAvailable (101 kB) exceeds MemTotal (100 kB)"
    );
}

// ---------------------------------------------------------------------------------------------
// /proc/net/dev

/// This machine's kind of /proc/net/dev: loopback, two ifb devices, eth0.
const NET_DEV_SAMPLE: &str = "\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    6386      58    0    0    0     0          0         0     6386      58    0    0    0     0       0          0
  ifb0:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0
  ifb1:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0
  eth0: 215768752    9905    0    0    0     0          0         0   550040    6230    0    0    0     0       0          0
";

#[test]
fn net_dev_lists_every_interface_in_file_order() {
    let interfaces = parse_net_dev(Path::new(NET_DEV), NET_DEV_SAMPLE).unwrap();
    let names: Vec<&str> = interfaces.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["lo", "ifb0", "ifb1", "eth0"]);
    assert_eq!(interfaces[0].1, NetCounters { rx_bytes: 6386, tx_bytes: 6386 });
    assert_eq!(interfaces[3].1, NetCounters { rx_bytes: 215_768_752, tx_bytes: 550_040 });
}

#[test]
fn net_dev_reads_counters_glued_to_the_colon_and_odd_spacing() {
    // The kernel prints `%6s:%8llu`, so a long name or a large counter leaves no space.
    let text = "\
Inter-|   Receive |  Transmit
 face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier compressed
enp129s0f1:18446744073709551615 7 0 0 0 0 0 0 99 1 0 0 0 0 0 0
\tveth3f2a1b:  12\t3 0 0 0 0 0 0   34  4 0 0 0 0 0 0   \n";
    let path = Path::new(NET_DEV);
    assert_eq!(
        net_counters(path, text, "enp129s0f1").unwrap(),
        NetCounters { rx_bytes: u64::MAX, tx_bytes: 99 }
    );
    assert_eq!(
        net_counters(path, text, "veth3f2a1b").unwrap(),
        NetCounters { rx_bytes: 12, tx_bytes: 34 }
    );
}

#[test]
fn net_dev_missing_interface_lists_those_present() {
    assert_eq!(
        message(net_counters(Path::new(NET_DEV), NET_DEV_SAMPLE, "eth1")),
        "/proc/net/dev: no interface `eth1` (present: lo, ifb0, ifb1, eth0)"
    );
}

#[test]
fn net_dev_malformed_lines_name_line_interface_and_field() {
    let header = "Inter-|   Receive\n face |bytes\n";
    let check = |body: &str, want: &str| {
        let text = format!("{header}{body}");
        assert_eq!(message(net_counters(Path::new(NET_DEV), &text, "eth0")), want);
    };
    check(
        "  eth0: 1 2 3 4 5 6 7 8 9\n",
        "/proc/net/dev: line 3: `eth0`: expected at least 16 fields, got 9",
    );
    check(
        "    lo: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n  eth0: 12 0 0 0 0 0 0 0 x 0 0 0 0 0 0 0\n",
        "/proc/net/dev: line 4: `eth0`: field 9 (transmit bytes): not a number: `x`",
    );
    check(
        "  eth0: -5 0 0 0 0 0 0 0 1 0 0 0 0 0 0 0\n",
        "/proc/net/dev: line 3: `eth0`: field 1 (receive bytes): not a number: `-5`",
    );
}

#[test]
fn communication_use_is_the_busier_direction_over_the_link() {
    let path = Path::new(NET_DEV);
    let prev = NetCounters { rx_bytes: 1_000, tx_bytes: 5_000 };
    // 25 000 000 bytes received in 2 s = 12.5 MB/s; a 1000 Mbit/s link carries 125 MB/s.
    let now = NetCounters { rx_bytes: 25_001_000, tx_bytes: 6_000 };
    let fraction = communication_use(path, "eth0", prev, now, Duration::from_secs(2), 1000.0);
    assert_eq!(fraction.unwrap(), 0.1);
    // Transmit busier than receive: 1 250 000 bytes in 1 s on 100 Mbit/s (12.5 MB/s).
    let now = NetCounters { rx_bytes: 1_000, tx_bytes: 1_255_000 };
    assert_eq!(
        communication_use(path, "eth0", prev, now, Duration::from_secs(1), 100.0).unwrap(),
        0.1
    );
    // A nominal bandwidth below the real traffic caps at 1.
    let now = NetCounters { rx_bytes: 1_000_000_000, tx_bytes: 5_000 };
    assert_eq!(
        communication_use(path, "eth0", prev, now, Duration::from_secs(1), 1.0).unwrap(),
        1.0
    );
    // No traffic: 0.
    assert_eq!(
        communication_use(path, "eth0", prev, prev, Duration::from_secs(1), 1.0).unwrap(),
        0.0
    );
}

#[test]
fn communication_use_rejects_reset_counters_and_zero_time() {
    let path = Path::new(NET_DEV);
    let prev = NetCounters { rx_bytes: 500, tx_bytes: 500 };
    let reset = NetCounters { rx_bytes: 100, tx_bytes: 900 };
    assert_eq!(
        message(communication_use(path, "eth0", prev, reset, Duration::from_secs(1), 1000.0)),
        "/proc/net/dev: eth0 receive bytes went backwards between samples (500 -> 100)"
    );
    assert_eq!(
        message(communication_use(path, "eth0", prev, prev, Duration::ZERO, 1000.0)),
        "/proc/net/dev: time did not advance between samples; sample less often"
    );
}

// ---------------------------------------------------------------------------------------------
// /sys/class/net/IFACE/speed and /proc/net/route

#[test]
fn link_speed_is_a_positive_number_of_mbit_s() {
    let path = Path::new("/sys/class/net/eth0/speed");
    assert_eq!(parse_link_speed(path, "10000\n").unwrap(), 10_000);
    let check = |text: &str, want: &str| assert_eq!(message(parse_link_speed(path, text)), want);
    // -1: link down or speed unknown (virtio without a speed, a down veth).
    check("-1\n", "/sys/class/net/eth0/speed: not a positive number of Mbit/s: `-1`");
    check("0\n", "/sys/class/net/eth0/speed: not a positive number of Mbit/s: `0`");
    check("fast\n", "/sys/class/net/eth0/speed: not a positive number of Mbit/s: `fast`");
    check("", "/sys/class/net/eth0/speed: not a positive number of Mbit/s: ``");
}

const ROUTE_HEADER: &str =
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n";

#[test]
fn default_route_is_the_up_zero_route_with_the_lowest_metric() {
    let path = Path::new("/proc/net/route");
    // This machine's kind of table.
    let text = format!(
        "{ROUTE_HEADER}eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
         eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
    );
    assert_eq!(parse_default_route(path, &text).unwrap(), "eth0");
    // Two defaults: wlan0 (metric 600) loses to eth1 (metric 100); a down one (flags 0002) is
    // skipped even with metric 0.
    let text = format!(
        "{ROUTE_HEADER}wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n\
         eth9\t00000000\t0101A8C0\t0002\t0\t0\t0\t00000000\t0\t0\t0\n\
         eth1\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
    );
    assert_eq!(parse_default_route(path, &text).unwrap(), "eth1");
}

#[test]
fn default_route_missing_or_malformed_is_named() {
    let path = Path::new("/proc/net/route");
    let only_local =
        format!("{ROUTE_HEADER}eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n");
    assert_eq!(
        message(parse_default_route(path, &only_local)),
        "/proc/net/route: no default route (no up line with destination and mask 00000000); set \
         `interface`"
    );
    assert_eq!(
        message(parse_default_route(path, ROUTE_HEADER)),
        message(parse_default_route(path, &only_local))
    );
    let bad_flags =
        format!("{ROUTE_HEADER}eth0\t00000000\t010200C0\tzz\t0\t0\t0\t00000000\t0\t0\t0\n");
    assert_eq!(
        message(parse_default_route(path, &bad_flags)),
        "/proc/net/route: line 2: `eth0`: field 4 (flags): not a number: `zz`"
    );
    let short = format!("{ROUTE_HEADER}eth0\t00000000\n");
    assert_eq!(
        message(parse_default_route(path, &short)),
        "/proc/net/route: line 2: `eth0`: expected at least 8 fields, got 2"
    );
}

// ---------------------------------------------------------------------------------------------
// Storage

#[test]
fn storage_use_is_dfs_use_percent() {
    let path = Path::new("/var/lib/hearth");
    // used = 1000 − 250 = 750; used / (used + available 250) = 0.75
    let blocks = FsBlocks { total: 1000, free: 250, available: 250 };
    assert_eq!(storage_use(path, blocks).unwrap(), 0.75);
    // 50 blocks reserved for root: used 700 / (700 + 100 available) = 0.875, as `df` says.
    let reserved = FsBlocks { total: 1000, free: 300, available: 100 };
    assert_eq!(storage_use(path, reserved).unwrap(), 0.875);
    // Only the reserve left: full.
    let full = FsBlocks { total: 1000, free: 50, available: 0 };
    assert_eq!(storage_use(path, full).unwrap(), 1.0);
    assert_eq!(
        message(storage_use(path, FsBlocks { total: 0, free: 0, available: 0 })),
        "/var/lib/hearth: the filesystem's size (statvfs f_blocks) is 0"
    );
}

// ---------------------------------------------------------------------------------------------
// FakeLoad

#[test]
fn fake_load_parses_s_p_c_and_optional_memory() {
    let load: FakeLoad = "0.2,0.5,0.1".parse().unwrap();
    assert_eq!(
        [Resource::Storage, Resource::Processor, Resource::Communication, Resource::Memory]
            .map(|r| load.usage.get(r)),
        [0.2, 0.5, 0.1, 0.0]
    );
    let load: FakeLoad = " 1 , 0 ,0.25, 0.75 ".parse().unwrap();
    assert_eq!(load.usage.storage, 1.0);
    assert_eq!(load.usage.memory, 0.75);
    assert_eq!(load.to_string(), "1,0,0.25,0.75");
    assert_eq!(load.to_string().parse::<FakeLoad>().unwrap(), load);
    let reading = load.reading();
    assert!(reading.failures.is_empty());
    assert_eq!(reading.usage, load.usage);
}

#[test]
fn fake_load_errors_name_the_bad_part() {
    let check = |text: &str, want: &str| assert_eq!(message(text.parse::<FakeLoad>()), want);
    check(
        "0.2,0.5",
        "expected S,P,C (storage, processor, communication use, each in [0, 1]; an optional \
         fourth part is memory), got 2 part(s) in `0.2,0.5`",
    );
    check("0.2,x,0.1", "part 2 (processor): not a number: `x`");
    check("0.2,0.5,1.5", "part 3 (communication): 1.5 is outside [0, 1]");
    check("-0.1,0.5,0.5", "part 1 (storage): -0.1 is outside [0, 1]");
    check("0.1,0.5,0.5,NaN", "part 4 (memory): NaN is outside [0, 1]");
    check("0.1,,0.5", "part 2 (processor): not a number: ``");
    check("", "expected S,P,C (storage, processor, communication use, each in [0, 1]; an optional fourth part is memory), got 1 part(s) in ``");
}
