//! `agent::config`: the agent and controller files (every error names its key), flag-style
//! overrides, the cluster key file (every error names its line), and the examples in
//! docs/agent.md, read from the file so the documentation cannot drift.

use agent::config::{
    parse_key_file, read_key_file, AgentConfig, Alpha, AlphaPoint, AlphaSchedule, ConfigError,
    ControllerConfig, RateParams, MIN_KEY_BYTES,
};
use agent::measure::FakeLoad;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

const MINIMAL: &str = "node_id = 7\nsend_to = [\"10.0.0.1:7070\"]\nkey_file = \"/k\"\n";

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

/// The error message for an agent file `text`, named `agent.toml`.
#[track_caller]
fn agent_error(text: &str) -> String {
    match AgentConfig::parse(Path::new("agent.toml"), text) {
        Ok(config) => panic!("expected an error, got {config:?}"),
        Err(err) => err.to_string(),
    }
}

/// The error message for the minimal agent file plus `extra` lines.
#[track_caller]
fn agent_error_with(extra: &str) -> String {
    agent_error(&format!("{MINIMAL}{extra}"))
}

#[track_caller]
fn controller_error(text: &str) -> String {
    match ControllerConfig::parse(Path::new("controller.toml"), text) {
        Ok(config) => panic!("expected an error, got {config:?}"),
        Err(err) => err.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Agent

#[test]
fn minimal_agent_file_takes_every_default() {
    let config = AgentConfig::parse(Path::new("agent.toml"), MINIMAL).unwrap();
    let defaults = AgentConfig::default_with(7, vec![addr("10.0.0.1:7070")], PathBuf::from("/k"));
    assert_eq!(config, defaults);
    assert_eq!(config.status_listen, addr("127.0.0.1:7071"));
    assert_eq!(config.cp_interval, Duration::from_secs(60));
    assert_eq!(config.sample_interval, Duration::from_secs(1));
    assert_eq!(config.storage_path, PathBuf::from("/"));
    assert_eq!(config.interface, None);
    assert_eq!(config.nominal_bandwidth_mbit_s, 1000.0);
    assert_eq!(config.beacon.rates, RateParams { k_hz: 10.0, l_hz: 10.0, min: 0.05 });
    assert_eq!(config.beacon.rates.slowest_hz(), 0.5);
    assert_eq!(config.beacon.thresholds.storage, 0.8);
    assert_eq!(config.beacon.thresholds.memory, None);
    assert_eq!(config.beacon.alpha, Alpha::Schedule(AlphaSchedule::seed()));
    assert_eq!(config.streams, agent::config::Streams::Both);
}

#[test]
fn seed_schedule_is_fig_15() {
    let points: Vec<(u32, f64)> =
        AlphaSchedule::seed().points.iter().map(|p| (p.at_s, p.alpha)).collect();
    assert_eq!(points, [(23_400, 0.0), (32_400, 1.0), (57_600, 1.0), (72_000, 0.0)]);
}

#[test]
fn agent_unknown_keys_are_named_at_any_depth() {
    assert_eq!(
        agent_error_with("sendto = [\"10.0.0.2:7070\"]\n"),
        "agent.toml:4:1: key `sendto`: unknown field `sendto`, expected one of `node_id`, \
         `send_to`, `key_file`, `key_id`, `status_listen`, `beacon`, `cp_interval_s`, \
         `sample_interval_s`, `storage_path`, `interface`, `nominal_bandwidth_mbit_s`, `fake_load`, `streams`"
    );
    assert_eq!(
        agent_error_with("[beacon]\nk = 3\n"),
        "agent.toml:5:1: key `beacon.k`: unknown field `k`, expected one of `k_hz`, `l_hz`, `min`, \
         `thresholds`, `alpha`, `alpha_schedule`"
    );
    assert_eq!(
        agent_error_with("[beacon.thresholds]\ncpu = 0.5\n"),
        "agent.toml:5:1: key `beacon.thresholds.cpu`: unknown field `cpu`, expected one of \
         `storage`, `processor`, `communication`, `memory`"
    );
    assert_eq!(
        agent_error_with("[beacon]\nalpha_schedule = [{ at = \"9:00\", alpha = 1, ramp = 2 }]\n"),
        "agent.toml:5:45: key `beacon.alpha_schedule[0].ramp`: unknown field `ramp`, expected \
         `at` or `alpha`"
    );
}

#[test]
fn agent_wrong_types_are_named() {
    assert_eq!(
        agent_error("node_id = \"seven\"\nsend_to = []\nkey_file = \"/k\"\n"),
        "agent.toml:1:11: key `node_id`: invalid type: string \"seven\", expected u32"
    );
    assert_eq!(
        agent_error("node_id = -1\nsend_to = [\"10.0.0.1:7070\"]\nkey_file = \"/k\"\n"),
        "agent.toml:1:11: key `node_id`: invalid value: integer `-1`, expected u32"
    );
    assert_eq!(
        agent_error("node_id = 7\nsend_to = \"10.0.0.1:7070\"\nkey_file = \"/k\"\n"),
        "agent.toml:2:11: key `send_to`: invalid type: string \"10.0.0.1:7070\", expected a sequence"
    );
    assert_eq!(
        agent_error_with("[beacon]\nk_hz = \"fast\"\n"),
        "agent.toml:5:8: key `beacon.k_hz`: invalid type: string \"fast\", expected f64"
    );
    assert_eq!(
        agent_error_with("key_id = 300\n"),
        "agent.toml:4:10: key `key_id`: invalid value: integer `300`, expected u8"
    );
    // Integers are fine where seconds or rates are expected.
    let config = AgentConfig::parse(
        Path::new("agent.toml"),
        &format!("{MINIMAL}cp_interval_s = 30\n[beacon]\nk_hz = 20\n"),
    )
    .unwrap();
    assert_eq!((config.cp_interval, config.beacon.rates.k_hz), (Duration::from_secs(30), 20.0));
}

#[test]
fn agent_missing_required_keys_are_named() {
    assert_eq!(
        agent_error("send_to = [\"10.0.0.1:7070\"]\nkey_file = \"/k\"\n"),
        "agent.toml: key `node_id`: missing; it is required"
    );
    assert_eq!(
        agent_error("node_id = 7\nsend_to = [\"10.0.0.1:7070\"]\n"),
        "agent.toml: key `key_file`: missing; it is required"
    );
    assert_eq!(
        agent_error_with("[beacon]\nalpha_schedule = [{ at = \"9:00\" }]\n"),
        "agent.toml: key `beacon.alpha_schedule[0].alpha`: missing; it is required"
    );
}

#[test]
fn agent_bad_addresses_are_named() {
    assert_eq!(
        agent_error(
            "node_id = 7\nsend_to = [\"10.0.0.1:7070\", \"controller:7070\"]\nkey_file = \"/k\"\n"
        ),
        "agent.toml: key `send_to[1]`: not an ADDR:PORT socket address (an IP address and a \
         port, like `10.0.0.1:7070` or `[fd00::1]:7070`): `controller:7070`"
    );
    assert!(agent_error_with("status_listen = \"127.0.0.1\"\n")
        .starts_with("agent.toml: key `status_listen`: not an ADDR:PORT socket address"));
    assert_eq!(
        agent_error("node_id = 7\nsend_to = []\nkey_file = \"/k\"\n"),
        "agent.toml: key `send_to`: needs at least one ADDR:PORT receiver"
    );
    assert_eq!(
        agent_error("node_id = 7\nsend_to = [\"10.0.0.1:7070\", \"[::1]:7070\", \"10.0.0.1:7070\"]\nkey_file = \"/k\"\n"),
        "agent.toml: key `send_to[2]`: `10.0.0.1:7070` is listed twice (also send_to[0])"
    );
    let v6 = AgentConfig::parse(
        Path::new("agent.toml"),
        "node_id = 7\nsend_to = [\"[fd00::1]:7070\"]\nkey_file = \"/k\"\n",
    )
    .unwrap();
    assert_eq!(v6.send_to, [addr("[fd00::1]:7070")]);
}

#[test]
fn agent_out_of_range_values_are_named() {
    let check = |extra: &str, want: &str| {
        assert_eq!(agent_error_with(extra), format!("agent.toml: key {want}"), "for {extra:?}")
    };
    check("cp_interval_s = 0\n", "`cp_interval_s`: must be a number of seconds > 0, got 0");
    check(
        "sample_interval_s = -1\n",
        "`sample_interval_s`: must be a number of seconds > 0, got -1",
    );
    check(
        "sample_interval_s = nan\n",
        "`sample_interval_s`: must be a number of seconds > 0, got NaN",
    );
    check(
        "nominal_bandwidth_mbit_s = 0\n",
        "`nominal_bandwidth_mbit_s`: must be a number of Mbit/s > 0, got 0",
    );
    check(
        "interface = \"eth0 \"\n",
        "`interface`: not a network interface name (1 to 15 bytes, no `/`, `:` or spaces): `eth0 `",
    );
    check(
        "interface = \"a-very-long-interface\"\n",
        "`interface`: not a network interface name (1 to 15 bytes, no `/`, `:` or spaces): \
         `a-very-long-interface`",
    );
    check("storage_path = \"\"\n", "`storage_path`: must not be empty");
    check("fake_load = \"0.2,x,0.1\"\n", "`fake_load`: part 2 (processor): not a number: `x`");
    check("streams = \"one\"\n", "`streams`: expected \"both\" or \"blended\", got \"one\"");
    check("[beacon]\nk_hz = 0\n", "`beacon.k_hz`: must be a number of Hz > 0, got 0");
    check("[beacon]\nl_hz = inf\n", "`beacon.l_hz`: must be a number of Hz > 0, got inf");
    check("[beacon]\nmin = 0\n", "`beacon.min`: must be a fraction in (0, 1], got 0");
    check("[beacon]\nalpha = 1.5\n", "`beacon.alpha`: must be a fraction in [0, 1], got 1.5");
    check(
        "[beacon.thresholds]\nstorage = 1.5\n",
        "`beacon.thresholds.storage`: must be a fraction in [0, 1], got 1.5",
    );
    check(
        "[beacon.thresholds]\nmemory = -0.5\n",
        "`beacon.thresholds.memory`: must be a fraction in [0, 1], got -0.5",
    );
}

#[test]
fn agent_alpha_is_fixed_or_a_valid_schedule() {
    let check = |beacon: &str, want: &str| {
        assert_eq!(
            agent_error_with(&format!("[beacon]\n{beacon}\n")),
            format!("agent.toml: key {want}")
        )
    };
    check(
        "alpha = 0.5\nalpha_schedule = [{ at = \"09:00\", alpha = 1 }]",
        "`beacon.alpha`: set either `beacon.alpha` (a fixed α) or `beacon.alpha_schedule`, not both",
    );
    check(
        "alpha_schedule = []",
        "`beacon.alpha_schedule`: needs at least one point `{ at = \"HH:MM\", alpha = … }`",
    );
    check(
        "alpha_schedule = [{ at = \"09:00\", alpha = 1 }, { at = \"24:00\", alpha = 0 }]",
        "`beacon.alpha_schedule[1].at`: not a time of day `HH:MM` or `HH:MM:SS` (0:00 to \
         23:59:59): `24:00`",
    );
    check(
        "alpha_schedule = [{ at = \"9h\", alpha = 1 }]",
        "`beacon.alpha_schedule[0].at`: not a time of day `HH:MM` or `HH:MM:SS` (0:00 to \
         23:59:59): `9h`",
    );
    check(
        "alpha_schedule = [{ at = \"16:00\", alpha = 1 }, { at = \"09:00:30\", alpha = 0 }]",
        "`beacon.alpha_schedule[1].at`: times must be strictly increasing: 09:00:30 is not after \
         16:00",
    );
    check(
        "alpha_schedule = [{ at = \"16:00\", alpha = 2 }]",
        "`beacon.alpha_schedule[0].alpha`: must be a fraction in [0, 1], got 2",
    );
    let fixed =
        AgentConfig::parse(Path::new("a"), &format!("{MINIMAL}[beacon]\nalpha = 0.25\n")).unwrap();
    assert_eq!(fixed.beacon.alpha, Alpha::Fixed(0.25));
    let schedule = AgentConfig::parse(
        Path::new("a"),
        &format!("{MINIMAL}[beacon]\nalpha_schedule = [{{ at = \"0:00\", alpha = 0.5 }}, {{ at = \"23:59:59\", alpha = 1 }}]\n"),
    )
    .unwrap();
    assert_eq!(
        schedule.beacon.alpha,
        Alpha::Schedule(AlphaSchedule {
            points: vec![
                AlphaPoint { at_s: 0, alpha: 0.5 },
                AlphaPoint { at_s: 86_399, alpha: 1.0 }
            ]
        })
    );
}

#[test]
fn toml_syntax_errors_give_line_and_column() {
    assert_eq!(
        agent_error("node_id = 7\nsend_to = [\"10.0.0.1:7070\"\n"),
        "agent.toml:3:1: invalid array: expected `]`"
    );
    assert_eq!(agent_error("node_id = \n"), "agent.toml:1:11: invalid string: expected `\"`, `'`");
}

#[test]
fn flags_override_a_file_and_are_validated_again() {
    // What `hearth agent --config f --send-to … --fake-load …` does.
    let mut config = AgentConfig::parse(Path::new("agent.toml"), MINIMAL).unwrap();
    config.send_to = vec![addr("192.168.1.5:9000")];
    config.fake_load = Some("0.1,0.2,0.3".parse::<FakeLoad>().unwrap());
    assert_eq!(config.validate(), Ok(()));
    config.send_to.clear();
    assert_eq!(
        config.validate().unwrap_err().to_string(),
        "key `send_to`: needs at least one ADDR:PORT receiver"
    );
    config.send_to = vec![addr("192.168.1.5:0")];
    assert_eq!(
        config.validate().unwrap_err().to_string(),
        "key `send_to[0]`: port 0 is not a receiver"
    );
    // No file at all: the three required flags.
    let flags_only = AgentConfig::default_with(3, vec![addr("10.0.0.1:7070")], "/k".into());
    assert_eq!(flags_only.validate(), Ok(()));
}

#[test]
fn missing_config_file_is_named() {
    let err = AgentConfig::read(Path::new("/no/such/agent.toml")).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }));
    assert_eq!(
        err.to_string(),
        "/no/such/agent.toml: cannot read: No such file or directory (os error 2)"
    );
    assert_eq!(
        ControllerConfig::read(Path::new("/no/such/c.toml")).unwrap_err().to_string(),
        "/no/such/c.toml: cannot read: No such file or directory (os error 2)"
    );
}

// ---------------------------------------------------------------------------------------------
// Controller

#[test]
fn minimal_controller_file_takes_every_default() {
    let config = ControllerConfig::parse(Path::new("c.toml"), "key_file = \"/k\"\n").unwrap();
    assert_eq!(
        config,
        ControllerConfig::default_with(addr("0.0.0.0:7070"), addr("127.0.0.1:7080"), "/k".into())
    );
    assert_eq!(config.lost_after_intervals, 5);
    assert_eq!(config.node_id, 0);
    assert_eq!(config.count_sample_interval, Duration::from_millis(100));
    assert_eq!(config.count_switch_interval, Duration::from_secs(60));
    assert_eq!(config.beacon, RateParams::default());
}

#[test]
fn controller_errors_are_named() {
    assert_eq!(
        controller_error("listen = \"0.0.0.0:7070\"\n"),
        "controller.toml: key `key_file`: missing; it is required"
    );
    assert!(controller_error("key_file = \"/k\"\nlisten = \"7070\"\n")
        .starts_with("controller.toml: key `listen`: not an ADDR:PORT socket address"));
    assert!(controller_error("key_file = \"/k\"\napi = \"localhost:80\"\n")
        .starts_with("controller.toml: key `api`: not an ADDR:PORT socket address"));
    assert_eq!(
        controller_error("key_file = \"/k\"\nlost_after_intervals = 0\n"),
        "controller.toml: key `lost_after_intervals`: must be at least 1"
    );
    assert_eq!(
        controller_error("key_file = \"/k\"\nlost_after_intervals = 2.5\n"),
        "controller.toml:2:24: key `lost_after_intervals`: invalid type: floating point `2.5`, \
         expected u32"
    );
    assert_eq!(
        controller_error(
            "key_file = \"/k\"\ncount_sample_interval_s = 5\ncount_switch_interval_s = 5\n"
        ),
        "controller.toml: key `count_switch_interval_s`: must be longer than \
         count_sample_interval_s (5 s), got 5 s"
    );
    // The agent's α and thresholds mean nothing to the controller.
    assert_eq!(
        controller_error("key_file = \"/k\"\n[beacon]\nalpha = 1\n"),
        "controller.toml:3:1: key `beacon.alpha`: unknown field `alpha`, expected one of `k_hz`, \
         `l_hz`, `min`"
    );
    assert_eq!(
        controller_error("key_file = \"/k\"\n[beacon]\nmin = 1.5\n"),
        "controller.toml: key `beacon.min`: must be a fraction in (0, 1], got 1.5"
    );
}

#[test]
fn controller_flags_override() {
    let mut config = ControllerConfig::parse(Path::new("c.toml"), "key_file = \"/k\"\n").unwrap();
    config.listen = addr("10.0.0.1:9999");
    config.key_file = PathBuf::from("/etc/hearth/other.key");
    assert_eq!(config.validate(), Ok(()));
    config.key_file = PathBuf::new();
    assert_eq!(config.validate().unwrap_err().to_string(), "key `key_file`: must not be empty");
}

// ---------------------------------------------------------------------------------------------
// Key file

const KEY_A: &str = "000102030405060708090a0b0c0d0e0f";
const KEY_B: &str = "FFEEDDCCBBAA99887766554433221100ffeeddccbbaa99887766554433221100";

#[track_caller]
fn key_error(text: &str) -> String {
    match parse_key_file(Path::new("cluster.key"), text) {
        Ok(ring) => panic!("expected an error, got {ring:?}"),
        Err(err) => err.to_string(),
    }
}

#[test]
fn key_file_with_comments_and_rotation() {
    let text = format!("# cluster keys\n\n1 {KEY_A}\n  2\t{KEY_B}   # current\n# end\n");
    let ring = parse_key_file(Path::new("cluster.key"), &text).unwrap();
    assert_eq!(ring.keys().iter().map(|k| k.id).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(ring.get(1).unwrap().bytes(), (0u8..16).collect::<Vec<_>>());
    assert_eq!(ring.get(2).unwrap().bytes().len(), 32);
    assert_eq!(ring.get(2).unwrap().bytes()[0], 0xFF);
    assert_eq!(ring.newest().id, 2);
    assert!(ring.get(3).is_none());
    // Debug output never shows key material.
    let debug = format!("{ring:?}");
    assert!(debug.contains("ClusterKey { id: 1, 16 bytes }"), "{debug}");
    assert!(!debug.contains("0, 1, 2") && !debug.to_lowercase().contains("ffee"), "{debug}");
}

#[test]
fn key_file_errors_name_the_line_and_never_the_key() {
    let short = "00112233445566778899aabbccddee"; // 15 bytes
    assert_eq!(MIN_KEY_BYTES, 16);
    let cases = [
        (format!("# c\n1 {KEY_A}\n2 {short}\n"), "cluster.key:3: key 2: 15 bytes is too short; keys have at least 16 bytes (32 hex digits)"),
        (format!("256 {KEY_A}\n"), "cluster.key:1: key ID: not an integer from 0 to 255: `256`"),
        (format!("one {KEY_A}\n"), "cluster.key:1: key ID: not an integer from 0 to 255: `one`"),
        (format!("1 {KEY_A}0\n"), "cluster.key:1: key 1: odd number of hex digits (33)"),
        (format!("1 {KEY_A}zz\n"), "cluster.key:1: key 1: not a hex digit at character 33"),
        (format!("1 {KEY_A} extra\n"), "cluster.key:1: expected `key_id hex_key`, got 3 field(s)"),
        (format!("\n{KEY_A}\n"), "cluster.key:2: expected `key_id hex_key`, got 1 field(s)"),
        (format!("1 {KEY_A}\n\n1 {KEY_B}\n"), "cluster.key:3: key ID 1 is already used on line 1"),
        ("# nothing but comments\n\n".to_string(), "cluster.key: no key (expected lines `key_id hex_key`)"),
    ];
    for (text, want) in cases {
        let got = key_error(&text);
        assert_eq!(got, want, "for {text:?}");
        assert!(!got.contains(KEY_A) && !got.contains(short), "{got}");
    }
    assert_eq!(
        read_key_file(Path::new("/no/such/cluster.key")).unwrap_err().to_string(),
        "/no/such/cluster.key: cannot read: No such file or directory (os error 2)"
    );
}

#[test]
fn signing_key_is_the_newest_unless_key_id_says_otherwise() {
    let ring =
        parse_key_file(Path::new("cluster.key"), &format!("1 {KEY_A}\n2 {KEY_B}\n")).unwrap();
    let mut config =
        AgentConfig::default_with(1, vec![addr("10.0.0.1:7070")], "cluster.key".into());
    assert_eq!(config.signing_key(&ring).unwrap().id, 2);
    config.key_id = Some(1);
    assert_eq!(config.signing_key(&ring).unwrap().id, 1);
    config.key_id = Some(9);
    assert_eq!(
        config.signing_key(&ring).unwrap_err().to_string(),
        "key `key_id`: no key with ID 9 in cluster.key"
    );
}

// ---------------------------------------------------------------------------------------------
// docs/agent.md

/// The fenced code blocks of docs/agent.md whose first line is `# {name}`, without that line.
fn doc_blocks(name: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/agent.md");
    let doc =
        std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in doc.lines() {
        match (&mut current, line.starts_with("```")) {
            (None, true) => current = Some(Vec::new()),
            (Some(lines), true) => {
                if lines.first() == Some(&format!("# {name}").as_str()) {
                    blocks.push(lines[1..].join("\n") + "\n");
                }
                current = None;
            }
            (Some(lines), false) => lines.push(line),
            (None, false) => {}
        }
    }
    blocks
}

#[test]
fn doc_complete_agent_example_parses_and_mentions_every_key() {
    let [text] = doc_blocks("agent.toml").try_into().expect("one complete agent example");
    let config = AgentConfig::parse(Path::new("docs/agent.md"), &text).unwrap();
    let defaults = AgentConfig::default_with(7, config.send_to.clone(), config.key_file.clone());
    assert_eq!(config.send_to, [addr("10.0.0.1:7070"), addr("10.0.0.2:7070")]);
    assert_eq!(config.key_id, Some(2));
    assert_eq!(config.interface.as_deref(), Some("eth0"));
    assert_eq!(config.storage_path, PathBuf::from("/var/lib"));
    assert_eq!(config.nominal_bandwidth_mbit_s, 10_000.0);
    assert_eq!(config.beacon.thresholds.processor, 0.85);
    assert_eq!(config.beacon.thresholds.memory, Some(0.9));
    assert_eq!(config.beacon.alpha, Alpha::Schedule(AlphaSchedule::seed()));
    assert_ne!(config, defaults);
    // Every top-level and [beacon] key of the reference table appears in the example.
    for key in [
        "node_id",
        "send_to",
        "key_file",
        "key_id",
        "status_listen",
        "cp_interval_s",
        "sample_interval_s",
        "storage_path",
        "interface",
        "nominal_bandwidth_mbit_s",
        "fake_load",
        "k_hz",
        "l_hz",
        "min",
        "alpha_schedule",
        "storage",
        "processor",
        "communication",
        "memory",
    ] {
        assert!(text.contains(&format!("{key} =")), "the complete example lacks `{key}`");
    }
}

#[test]
fn doc_minimal_agent_example_is_the_defaults() {
    let [text] = doc_blocks("agent.toml (minimal)").try_into().expect("one minimal agent example");
    let config = AgentConfig::parse(Path::new("docs/agent.md"), &text).unwrap();
    assert_eq!(
        config,
        AgentConfig::default_with(7, vec![addr("10.0.0.1:7070")], "/etc/hearth/cluster.key".into())
    );
}

#[test]
fn doc_controller_example_parses() {
    let [text] = doc_blocks("controller.toml").try_into().expect("one controller example");
    let config = ControllerConfig::parse(Path::new("docs/agent.md"), &text).unwrap();
    assert_eq!(
        config,
        ControllerConfig::default_with(
            addr("0.0.0.0:7070"),
            addr("127.0.0.1:7080"),
            "/etc/hearth/cluster.key".into()
        )
    );
}

#[test]
fn doc_key_file_example_parses() {
    let [text] = doc_blocks("cluster.key").try_into().expect("one key file example");
    let ring = parse_key_file(Path::new("docs/agent.md"), &text).unwrap();
    assert_eq!(
        ring.keys().iter().map(|k| (k.id, k.bytes().len())).collect::<Vec<_>>(),
        [(1, 32), (2, 32)]
    );
    assert_eq!(ring.newest().id, 2);
}
