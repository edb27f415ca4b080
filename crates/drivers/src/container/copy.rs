//! What a cold move carries to the target: the create request for the copy, built from the
//! source container's inspect answer. It keeps the image (by the name it was created from),
//! command, entrypoint, environment, user, working directory, labels, stop signal, resource
//! limits, ulimits, binds and mounts (named volumes by name), network mode, ports, restart
//! policy, capabilities, tmpfs, sysctls and DNS settings. It leaves out what belongs to the
//! source host or engine: the hostname (the engine derives it from the container ID),
//! devices, `VolumesFrom` and links (other containers there), the cgroup parent, the runtime,
//! the log driver, and podman's namespace modes (`private`, `shareable`), which other engines
//! do not take.

use std::collections::HashMap;

use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, HostConfig, ResourcesUlimits,
    RestartPolicyNameEnum,
};

use super::requests::is_running;
use super::{LABEL_MOVE, LABEL_MOVE_RUNNING};

/// The create request for `source`'s copy, labelled with the move's operation ID and whether
/// the instance ran when the move began (what a resumed move needs to know).
pub(super) fn copy_of(source: &ContainerInspectResponse, op_id: &str) -> ContainerCreateBody {
    let config = source.config.clone().unwrap_or_default();
    let mut labels = config.labels.unwrap_or_default();
    labels.insert(LABEL_MOVE.to_string(), op_id.to_string());
    labels.insert(LABEL_MOVE_RUNNING.to_string(), is_running(source).to_string());
    let image = config.image.filter(|name| !name.is_empty()).or_else(|| source.image.clone());
    ContainerCreateBody {
        user: config.user.filter(|user| !user.is_empty()),
        env: config.env,
        cmd: config.cmd,
        entrypoint: config.entrypoint.filter(|entrypoint| !entrypoint.is_empty()),
        image,
        working_dir: config.working_dir.filter(|dir| !dir.is_empty()),
        labels: Some(labels),
        stop_signal: config.stop_signal.filter(|signal| !signal.is_empty()),
        stop_timeout: config.stop_timeout.filter(|&seconds| seconds > 0),
        tty: config.tty,
        open_stdin: config.open_stdin,
        stdin_once: config.stdin_once,
        exposed_ports: nonempty(config.exposed_ports),
        volumes: nonempty(config.volumes),
        healthcheck: config.healthcheck,
        shell: nonempty(config.shell),
        host_config: source.host_config.as_ref().map(host_config_copy),
        ..Default::default()
    }
}

/// The host configuration a copy keeps (see the module documentation).
fn host_config_copy(source: &HostConfig) -> HostConfig {
    let nano_cpus = positive(source.nano_cpus);
    // Docker refuses NanoCpus together with a CPU period or quota; podman reports the quota it
    // derived from NanoCpus, so the quota is only carried when NanoCpus is not set.
    let (cpu_period, cpu_quota) = match nano_cpus {
        Some(_) => (None, None),
        None => (positive(source.cpu_period), positive(source.cpu_quota)),
    };
    let restart_policy = source.restart_policy.clone().filter(|policy| {
        !matches!(
            policy.name,
            None | Some(RestartPolicyNameEnum::EMPTY | RestartPolicyNameEnum::NO)
        )
    });
    HostConfig {
        memory: positive(source.memory),
        memory_swap: source.memory_swap.filter(|&bytes| bytes != 0),
        memory_reservation: positive(source.memory_reservation),
        nano_cpus,
        cpu_period,
        cpu_quota,
        cpu_shares: positive(source.cpu_shares),
        cpuset_cpus: source.cpuset_cpus.clone().filter(|set| !set.is_empty()),
        cpuset_mems: source.cpuset_mems.clone().filter(|set| !set.is_empty()),
        pids_limit: positive(source.pids_limit),
        ulimits: source.ulimits.as_ref().map(|limits| limits.iter().map(ulimit_copy).collect()),
        binds: nonempty(source.binds.clone()),
        mounts: nonempty(source.mounts.clone()),
        tmpfs: nonempty_map(source.tmpfs.clone()),
        network_mode: source.network_mode.clone().filter(|mode| !mode.is_empty()),
        port_bindings: nonempty_map(source.port_bindings.clone()),
        publish_all_ports: source.publish_all_ports.filter(|&all| all),
        restart_policy,
        auto_remove: source.auto_remove.filter(|&remove| remove),
        cap_add: nonempty(source.cap_add.clone()),
        cap_drop: nonempty(source.cap_drop.clone()),
        privileged: source.privileged.filter(|&privileged| privileged),
        readonly_rootfs: source.readonly_rootfs.filter(|&readonly| readonly),
        security_opt: nonempty(source.security_opt.clone()),
        sysctls: nonempty_map(source.sysctls.clone()),
        dns: nonempty(source.dns.clone()),
        dns_options: nonempty(source.dns_options.clone()),
        dns_search: nonempty(source.dns_search.clone()),
        extra_hosts: nonempty(source.extra_hosts.clone()),
        group_add: nonempty(source.group_add.clone()),
        shm_size: positive(source.shm_size),
        init: source.init.filter(|&init| init),
        oom_score_adj: source.oom_score_adj.filter(|&adj| adj != 0),
        ..Default::default()
    }
}

/// A ulimit under the name Docker's create request takes: podman reports `RLIMIT_NOFILE`
/// where the request says `nofile`.
fn ulimit_copy(limit: &ResourcesUlimits) -> ResourcesUlimits {
    let name = limit.name.as_ref().map(|name| match name.strip_prefix("RLIMIT_") {
        Some(short) => short.to_lowercase(),
        None => name.clone(),
    });
    ResourcesUlimits { name, soft: limit.soft, hard: limit.hard }
}

fn positive(value: Option<i64>) -> Option<i64> {
    value.filter(|&n| n > 0)
}

fn nonempty<T>(list: Option<Vec<T>>) -> Option<Vec<T>> {
    list.filter(|items| !items.is_empty())
}

fn nonempty_map<V>(map: Option<HashMap<String, V>>) -> Option<HashMap<String, V>> {
    map.filter(|entries| !entries.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A container as podman 4.3.1's compat API inspects it (trimmed): created with a memory
    /// limit, half a CPU, the two ulimits podman needs, a named volume and no network.
    /// Reference: /work/shared/PEERS.md §1h.
    const PODMAN_INSPECT: &str = r#"{
      "Id": "26e9d8170ecaaf2cd9dd22b9fc316184426cbb53def982fe141cad02aa0f52f8",
      "Name": "/web",
      "Image": "sha256:3061dadf04efcae3efedecc9baa02c75ca68e2c2b90932d5678a0344307b666a",
      "State": {"Status": "running", "Running": true, "Pid": 26362, "ExitCode": 0},
      "HostConfig": {
        "Binds": ["web-data:/data:rw,rprivate,nosuid,nodev,rbind"], "NetworkMode": "none",
        "PortBindings": {}, "RestartPolicy": {"Name": "", "MaximumRetryCount": 0},
        "CapAdd": [], "CapDrop": [], "IpcMode": "shareable", "PidMode": "private",
        "UTSMode": "private", "ShmSize": 65536000, "Runtime": "oci", "CpuShares": 0,
        "Memory": 67108864, "NanoCpus": 500000000, "CpuPeriod": 100000, "CpuQuota": 50000,
        "MemorySwap": 134217728, "MemorySwappiness": -1, "PidsLimit": 2048,
        "Ulimits": [{"Name": "RLIMIT_NOFILE", "Hard": 20000, "Soft": 1024},
                    {"Name": "RLIMIT_NPROC", "Hard": 4096, "Soft": 4096}]
      },
      "Config": {
        "Hostname": "26e9d8170eca", "User": "", "Tty": false,
        "Env": ["PATH=/usr/bin:/bin", "GREETING=hello"], "Cmd": ["sleep", "3600"],
        "Image": "localhost/bb:latest", "WorkingDir": "/", "Entrypoint": [],
        "Labels": {"io.hearth.instance": "web", "io.hearth.move": "an-older-move"},
        "StopSignal": "15", "StopTimeout": 0
      }
    }"#;

    #[test]
    fn a_copy_keeps_image_command_limits_and_volumes_and_drops_host_specifics() {
        let source: ContainerInspectResponse = serde_json::from_str(PODMAN_INSPECT).unwrap();
        let copy = copy_of(&source, "move-7");
        assert_eq!(copy.image.as_deref(), Some("localhost/bb:latest"), "by name, not ID");
        assert_eq!(copy.cmd, Some(vec!["sleep".to_string(), "3600".to_string()]));
        assert_eq!(copy.entrypoint, None, "an empty entrypoint is the image's own");
        assert_eq!(copy.hostname, None, "the engine names the copy's host");
        assert_eq!(copy.user, None);
        assert_eq!(copy.stop_signal.as_deref(), Some("15"));
        assert_eq!(copy.stop_timeout, None);
        assert!(copy.env.unwrap().contains(&"GREETING=hello".to_string()));
        let labels = copy.labels.unwrap();
        assert_eq!(labels.get("io.hearth.instance").map(String::as_str), Some("web"));
        assert_eq!(labels.get(LABEL_MOVE).map(String::as_str), Some("move-7"), "this move");
        assert_eq!(labels.get(LABEL_MOVE_RUNNING).map(String::as_str), Some("true"));

        let host = copy.host_config.unwrap();
        assert_eq!((host.memory, host.nano_cpus), (Some(67_108_864), Some(500_000_000)));
        assert_eq!((host.cpu_period, host.cpu_quota), (None, None), "NanoCpus alone");
        assert_eq!(host.memory_swap, Some(134_217_728));
        assert_eq!(host.network_mode.as_deref(), Some("none"));
        assert_eq!(host.binds.unwrap(), ["web-data:/data:rw,rprivate,nosuid,nodev,rbind"]);
        let ulimits: Vec<_> = host
            .ulimits
            .unwrap()
            .into_iter()
            .map(|limit| (limit.name.unwrap(), limit.soft.unwrap(), limit.hard.unwrap()))
            .collect();
        assert_eq!(ulimits, [("nofile".into(), 1024, 20000), ("nproc".into(), 4096, 4096)]);
        assert_eq!((host.ipc_mode, host.pid_mode, host.uts_mode), (None, None, None));
        assert_eq!((host.runtime, host.restart_policy, host.port_bindings), (None, None, None));
        assert_eq!(host.pids_limit, Some(2048));
    }

    #[test]
    fn without_nano_cpus_the_quota_is_carried() {
        let mut source: ContainerInspectResponse = serde_json::from_str(PODMAN_INSPECT).unwrap();
        if let Some(host) = source.host_config.as_mut() {
            host.nano_cpus = Some(0);
        }
        let host = copy_of(&source, "m").host_config.unwrap();
        assert_eq!(
            (host.nano_cpus, host.cpu_period, host.cpu_quota),
            (None, Some(100_000), Some(50_000))
        );
    }
}
