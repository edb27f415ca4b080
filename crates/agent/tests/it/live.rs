//! This machine's real `/proc`, `/sys` and root filesystem: every source reads, and every
//! figure is a fraction in [0, 1].

use agent::measure::{read_fs_blocks, storage_use, Resource, Sampler, SamplerConfig, Sources};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[test]
fn live_sample_of_this_machine_is_complete_and_in_range() {
    let sources = Sources::default();
    // The default route's interface if there is one, else loopback (always present).
    let interface = sources.read_default_interface().unwrap_or_else(|_| "lo".to_string());
    let config = SamplerConfig::new(PathBuf::from("/"), Some(interface.clone()), 1000.0);
    let mut sampler = Sampler::new(config);
    let start = sources.read_cpu_times().unwrap();
    sampler.prime(Duration::ZERO);
    // Wait for the jiffy counter to move (every 1–10 ms) by reading it, not by sleeping.
    let mut reads = 0;
    while sources.read_cpu_times().unwrap().total <= start.total + 1 {
        reads += 1;
        assert!(reads < 1_000_000, "/proc/stat: cpu jiffies did not advance");
    }
    let reading = sampler.sample(Duration::from_secs(1));
    let failures: Vec<String> = reading.failures.iter().map(|f| f.error.to_string()).collect();
    assert!(failures.is_empty(), "live sources failed: {failures:#?}");
    for resource in Resource::ALL {
        let fraction = reading.usage.get(resource);
        assert!((0.0..=1.0).contains(&fraction), "{resource} = {fraction}");
    }
    assert_eq!(reading.interface.as_deref(), Some(interface.as_str()));
    let link = reading.link_speed.expect("the interface was read, so its speed was looked at");
    assert!(link.mbit_s() > 0.0);
    // The kernel's own figures agree with the parsed ones.
    let mem = sources.read_meminfo().unwrap();
    assert!(mem.total_kib > 0 && mem.available_kib <= mem.total_kib);
}

#[test]
fn live_statvfs_of_a_pseudo_filesystem_and_a_missing_path_are_errors() {
    let root = storage_use(Path::new("/"), read_fs_blocks(Path::new("/")).unwrap()).unwrap();
    assert!((0.0..=1.0).contains(&root), "/ = {root}");
    // procfs has no blocks: storage is measured on a real filesystem.
    let proc_blocks = read_fs_blocks(Path::new("/proc")).unwrap();
    assert_eq!(
        storage_use(Path::new("/proc"), proc_blocks).unwrap_err().to_string(),
        "/proc: the filesystem's size (statvfs f_blocks) is 0"
    );
    assert_eq!(
        read_fs_blocks(Path::new("/no/such/hearth/path")).unwrap_err().to_string(),
        "/no/such/hearth/path: missing (No such file or directory (os error 2))"
    );
}
