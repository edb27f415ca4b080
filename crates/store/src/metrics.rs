//! Metric samples: raw rows for the recent past, averaged buckets for the older past, and the
//! compaction that turns the one into the other.

use rusqlite::params;

use crate::store::{finite, Fail};
use crate::{CompactStats, Retention, Sample, Store, StoreError};

impl Store {
    /// Records `samples`, all taken at `at_ms`, in one transaction. A sample for a series that
    /// already has one at `at_ms` replaces it.
    ///
    /// # Errors
    /// [`StoreError::BadValue`] naming the metric for an empty name or a NaN or infinite value;
    /// then nothing was recorded.
    pub fn record_metrics(&mut self, at_ms: i64, samples: &[Sample]) -> Result<(), StoreError> {
        self.write("recording metrics", |tx| {
            let mut stmt = tx.prepare_cached(
                "INSERT OR REPLACE INTO metrics (name, labels, at_ms, value) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for s in samples {
                let what = || format!("metric {}{{{}}} at {at_ms} ms", s.name, s.labels);
                if s.name.is_empty() {
                    return Err(Fail::Bad { what: what(), detail: "the name is empty".into() });
                }
                finite(what, s.value)?;
                stmt.execute(params![s.name, s.labels, at_ms, s.value])?;
            }
            Ok(())
        })
    }

    /// The series `name{labels}` from `from_ms` to `to_ms` inclusive, ascending: raw samples
    /// where they are kept, and each older bucket's average at the bucket's start.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`] if SQLite fails.
    pub fn series(
        &self,
        name: &str,
        labels: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<(i64, f64)>, StoreError> {
        self.query(
            "reading a metric series",
            "SELECT bucket_ms, avg_value FROM metrics_buckets \
             WHERE name = ?1 AND labels = ?2 AND bucket_ms BETWEEN ?3 AND ?4 \
             UNION ALL SELECT at_ms, value FROM metrics \
             WHERE name = ?1 AND labels = ?2 AND at_ms BETWEEN ?3 AND ?4 ORDER BY 1",
            params![name, labels, from_ms, to_ms],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    /// Every metric name with raw samples or buckets, sorted.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`] if SQLite fails.
    pub fn metric_names(&self) -> Result<Vec<String>, StoreError> {
        self.query(
            "reading metric names",
            "SELECT name FROM metrics UNION SELECT name FROM metrics_buckets ORDER BY name",
            [],
            |r| Ok(r.get(0)?),
        )
    }

    /// Downsamples raw samples older than `now_ms - retention.raw_ms` into buckets of
    /// `retention.bucket_ms` (average, min, max and count per name, labels and bucket), deletes
    /// those raw rows, and deletes buckets that start before `now_ms - retention.downsampled_ms`;
    /// all in one transaction.
    ///
    /// Only whole buckets are downsampled: the cut is rounded down to a bucket boundary, so raw
    /// samples are kept at least `raw_ms`. A sample that lands in an existing bucket later (a
    /// late write) is merged into it.
    ///
    /// # Errors
    /// [`StoreError::BadValue`] if `bucket_ms` is not positive or a span is negative.
    pub fn compact(
        &mut self,
        now_ms: i64,
        retention: &Retention,
    ) -> Result<CompactStats, StoreError> {
        let Retention { raw_ms, bucket_ms, downsampled_ms } = *retention;
        self.write("compacting metrics", |tx| {
            if bucket_ms <= 0 || raw_ms < 0 || downsampled_ms < 0 {
                return Err(Fail::Bad {
                    what: "metrics retention".to_string(),
                    detail: format!(
                        "raw_ms {raw_ms}, bucket_ms {bucket_ms}, downsampled_ms \
                         {downsampled_ms}: bucket_ms must be positive and the spans not negative"
                    ),
                });
            }
            let raw_cut = now_ms.saturating_sub(raw_ms);
            let raw_cut = raw_cut - raw_cut.rem_euclid(bucket_ms);
            let downsampled_rows = tx.execute(
                "INSERT INTO metrics_buckets \
                 (name, labels, bucket_ms, avg_value, min_value, max_value, n_samples) \
                 SELECT name, labels, at_ms - (((at_ms % ?2) + ?2) % ?2) AS bucket, \
                 avg(value), min(value), max(value), count(*) \
                 FROM metrics WHERE at_ms < ?1 GROUP BY name, labels, bucket \
                 ON CONFLICT (name, labels, bucket_ms) DO UPDATE SET \
                 avg_value = (avg_value * n_samples + excluded.avg_value * excluded.n_samples) \
                 / (n_samples + excluded.n_samples), \
                 min_value = min(min_value, excluded.min_value), \
                 max_value = max(max_value, excluded.max_value), \
                 n_samples = n_samples + excluded.n_samples",
                [raw_cut, bucket_ms],
            )?;
            let deleted_raw = tx.execute("DELETE FROM metrics WHERE at_ms < ?1", [raw_cut])?;
            let deleted_buckets = tx.execute(
                "DELETE FROM metrics_buckets WHERE bucket_ms < ?1",
                [now_ms.saturating_sub(downsampled_ms)],
            )?;
            Ok(CompactStats { downsampled_rows, deleted_raw, deleted_buckets })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(avg, min, max, count)` of every bucket of `name`, by start.
    fn buckets(store: &Store, name: &str) -> Vec<(i64, f64, f64, f64, i64)> {
        let sql = "SELECT bucket_ms, avg_value, min_value, max_value, n_samples \
                   FROM metrics_buckets WHERE name = ?1 ORDER BY bucket_ms";
        store
            .query("test", sql, [name], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .unwrap()
    }

    fn sample(value: f64) -> Sample {
        Sample { name: "power_w".into(), labels: "host=h1".into(), value }
    }

    #[test]
    fn buckets_keep_average_min_max_and_count_and_absorb_late_samples() {
        let mut store = Store::open_in_memory().unwrap();
        let retention = Retention { raw_ms: 100, bucket_ms: 100, downsampled_ms: 10_000 };
        for (at_ms, value) in [(0, 10.0), (30, 40.0), (99, 25.0), (100, 7.0), (250, 1.0)] {
            store.record_metrics(at_ms, &[sample(value)]).unwrap();
        }
        // The cut is 300 - 100 = 200: buckets 0 and 100 go; the sample at 250 stays raw.
        let stats = store.compact(300, &retention).unwrap();
        assert_eq!((stats.downsampled_rows, stats.deleted_raw), (2, 4));
        assert_eq!(buckets(&store, "power_w"), [(0, 25.0, 10.0, 40.0, 3), (100, 7.0, 7.0, 7.0, 1)]);

        // A late sample in bucket 0 is merged into it, weighted by count.
        store.record_metrics(50, &[sample(45.0)]).unwrap();
        store.compact(300, &retention).unwrap();
        assert_eq!(buckets(&store, "power_w")[0], (0, 30.0, 10.0, 45.0, 4));
        assert_eq!(
            store.series("power_w", "host=h1", 0, 300).unwrap(),
            [(0, 30.0), (100, 7.0), (250, 1.0)]
        );
    }

    #[test]
    fn negative_times_fall_into_the_bucket_below() {
        let mut store = Store::open_in_memory().unwrap();
        store.record_metrics(-1, &[sample(3.0)]).unwrap();
        let retention = Retention { raw_ms: 0, bucket_ms: 100, downsampled_ms: 1_000 };
        store.compact(0, &retention).unwrap();
        assert_eq!(buckets(&store, "power_w"), [(-100, 3.0, 3.0, 3.0, 1)]);
    }
}
