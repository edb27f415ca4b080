//! Policy files as an operator writes them (TOML): defaults for what is left out, unknown keys
//! rejected, values checked with the key named.

use thermal::strategy::Strategy;
use thermal::{Guard, Policy};

#[test]
fn an_empty_file_is_the_default_policy() {
    let p: Policy = toml::from_str("").unwrap();
    assert_eq!(p, Policy::default());
}

#[test]
fn a_full_file_parses() {
    let text = r#"
        settle_s = 60.0
        max_parallel_power_ops = 3
        powerup_batch = 2
        [zone]
        detect_c = 100.0
        clear_c = 75.0
        powerup_c = 85.0
        [zones."room1/z2"]
        detect_c = 95.0
        [host]
        detect_below_limit_c = 2.0
        [ranking]
        cpu = 2.0
        [powerup]
        customer_importance = 5.0
        [kinds]
        default = 1.5
        weights = { db = 4.0, batch = 0.1 }
        [benefit]
        heat = 2.0
        [projection]
        margin = 0.05
        neighbour_share = 0.0
    "#;
    let p: Policy = toml::from_str(text).unwrap();
    assert_eq!(p.validate(), Ok(()));
    // Seed 002's example thresholds, 100 and 75, and a third between them.
    assert_eq!((p.zone.detect_c, p.zone.clear_c, p.zone.powerup_c), (100.0, 75.0, 85.0));
    assert_eq!(p.zone_thresholds("room1/z2").detect_c, 95.0);
    assert_eq!(p.zone_thresholds("room1/z2").clear_c, 75.0);
    assert_eq!(p.ranking.cpu, 2.0);
    assert_eq!(p.ranking.instances, 1.0);
    // A partial [powerup] keeps the power-up defaults, not the ranking's.
    assert_eq!(p.powerup.0.customer_importance, 5.0);
    assert_eq!(p.powerup.0.cpu, 0.0);
    assert_eq!(p.kinds.weight("db"), 4.0);
    assert_eq!(p.kinds.weight("other"), 1.5);
    assert_eq!(p.host.clear_below_limit_c, 15.0);
}

#[test]
fn unknown_keys_are_rejected_with_their_name() {
    let err = toml::from_str::<Policy>("[zone]\ndetect = 30.0\n").unwrap_err().to_string();
    assert!(err.contains("detect"), "{err}");
    let err = toml::from_str::<Policy>("[powerup]\ncpus = 1.0\n").unwrap_err().to_string();
    assert!(err.contains("cpus"), "{err}");
    assert!(toml::from_str::<Policy>("settle = 1.0\n").is_err());
}

#[test]
fn the_guard_refuses_an_invalid_policy() {
    let p: Policy = toml::from_str("[zone]\nclear_c = 40.0\n").unwrap();
    let err = Guard::new(p, Strategy::Seed).unwrap_err();
    assert_eq!(err.key, "zone.clear_c");
    assert!(err.to_string().contains("zone.clear_c"));
}
