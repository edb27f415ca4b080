//! Metrics: recording, series, compaction into buckets, retention.

use store::{CompactStats, Retention, Store, StoreError};

use crate::sample;

const MINUTE_MS: i64 = 60_000;

/// A store with `cpu{host=h1}` sampled every 15 s over the first hour, valued at its time in
/// seconds.
fn an_hour_of_samples() -> Store {
    let mut s = Store::open_in_memory().unwrap();
    for t in (0..=60 * MINUTE_MS).step_by(15_000) {
        s.record_metrics(t, &[sample("cpu", "host=h1", t as f64 / 1000.0), sample("up", "", 1.0)])
            .unwrap();
    }
    s
}

#[test]
fn series_are_ascending_inclusive_and_per_labels() {
    let mut s = Store::open_in_memory().unwrap();
    s.record_metrics(20, &[sample("inlet_c", "host=h1", 21.0), sample("inlet_c", "host=h2", 25.0)])
        .unwrap();
    s.record_metrics(10, &[sample("inlet_c", "host=h1", 20.0)]).unwrap();
    s.record_metrics(30, &[sample("inlet_c", "host=h1", 22.0)]).unwrap();
    s.record_metrics(30, &[sample("inlet_c", "host=h1", 23.0)]).unwrap(); // replaces
    assert_eq!(
        s.series("inlet_c", "host=h1", 10, 30).unwrap(),
        [(10, 20.0), (20, 21.0), (30, 23.0)]
    );
    assert_eq!(s.series("inlet_c", "host=h1", 11, 29).unwrap(), [(20, 21.0)]);
    assert_eq!(s.series("inlet_c", "host=h2", 0, 100).unwrap(), [(20, 25.0)]);
    assert_eq!(s.metric_names().unwrap(), ["inlet_c"]);
}

#[test]
fn non_finite_values_are_refused_naming_the_metric() {
    let mut s = Store::open_in_memory().unwrap();
    for bad in [f64::NAN, f64::INFINITY] {
        let err = s
            .record_metrics(
                5,
                &[sample("inlet_c", "host=h1", 20.0), sample("power_w", "host=h1", bad)],
            )
            .unwrap_err();
        assert!(matches!(err, StoreError::BadValue { .. }), "{err}");
        assert!(err.to_string().contains("metric power_w{host=h1} at 5 ms"), "{err}");
    }
    assert!(s.metric_names().unwrap().is_empty(), "a refused batch recorded nothing");
}

#[test]
fn compaction_averages_old_samples_and_drops_old_buckets() {
    let mut s = an_hour_of_samples();
    let retention =
        Retention { raw_ms: 10 * MINUTE_MS, bucket_ms: MINUTE_MS, downsampled_ms: 30 * MINUTE_MS };
    let stats = s.compact(60 * MINUTE_MS, &retention).unwrap();
    // Minutes 0..50 become 50 buckets of 4 samples each, per series; buckets of minutes 0..30
    // are past the 30-minute retention.
    assert_eq!(
        stats,
        CompactStats { downsampled_rows: 2 * 50, deleted_raw: 2 * 200, deleted_buckets: 2 * 30 }
    );

    let series = s.series("cpu", "host=h1", 0, 60 * MINUTE_MS).unwrap();
    assert_eq!(series.len(), 20 + 41);
    assert!(series.windows(2).all(|w| w[0].0 < w[1].0), "not ascending: {series:?}");
    // A bucket's average at its start: samples at 1800, 1815, 1830, 1845 s.
    assert_eq!(series[0], (30 * MINUTE_MS, 1822.5));
    assert_eq!(series[19], (49 * MINUTE_MS, 2962.5));
    // Raw from minute 50 on.
    assert_eq!(series[20], (50 * MINUTE_MS, 3000.0));
    assert_eq!(series[60], (60 * MINUTE_MS, 3600.0));
    assert_eq!(s.metric_names().unwrap(), ["cpu", "up"]);

    // Compacting again at the same time changes nothing.
    assert_eq!(s.compact(60 * MINUTE_MS, &retention).unwrap(), CompactStats::default());
}

#[test]
fn the_default_retention_keeps_a_day_raw_in_five_minute_buckets() {
    let mut s = an_hour_of_samples();
    let day_ms = 24 * 60 * MINUTE_MS;
    assert_eq!(s.compact(day_ms, &Retention::default()).unwrap(), CompactStats::default());
    let stats = s.compact(day_ms + 60 * MINUTE_MS, &Retention::default()).unwrap();
    assert_eq!((stats.downsampled_rows, stats.deleted_raw), (2 * 12, 2 * 240));
    let series = s.series("up", "", 0, day_ms).unwrap();
    assert_eq!(series.len(), 12 + 1, "12 buckets and the raw sample at minute 60");
    assert!(series.iter().all(|&(_, v)| v == 1.0));
}

#[test]
fn a_bad_retention_is_refused() {
    let mut s = an_hour_of_samples();
    let retention = Retention { raw_ms: 0, bucket_ms: 0, downsampled_ms: 0 };
    let err = s.compact(1, &retention).unwrap_err();
    assert!(err.to_string().contains("bucket_ms must be positive"), "{err}");
}
