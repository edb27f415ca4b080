//! Serde helpers for the `f64`s of the guard's saved state (see [`crate::guard::Guard`]'s
//! serialization).
//!
//! serde_json writes a non-finite `f64` as `null` and refuses to read `null` back as a number.
//! The guard's state holds only finite numbers in practice (observations and policies are checked
//! finite), but a sum of huge valid values can overflow (a cost term's raw sum, a projection's
//! heat, `now_s + settle_s`), so:
//! - the public record types (costs, projections, readings, audit records) keep their derived
//!   output unchanged — `null` for a non-finite value — and read `null` back as NaN
//!   ([`lenient`]): the record's JSON is the same after a round trip, and its text was written
//!   when it was made;
//! - the guard's own bookkeeping (times, settle deadlines, temperatures compared later) is
//!   written without loss ([`exact`], [`exact_opt`]): a finite value as a number, NaN and the
//!   infinities as the strings `"NaN"`, `"inf"` and `"-inf"`.
//!
//! Every reader accepts all of these forms.

use serde::de::{self, Deserializer, Visitor};
use serde::Serializer;
use std::fmt;

/// Reads a number, `null` (NaN) or one of `"NaN"`, `"inf"`, `"-inf"`.
struct F64Visitor;

impl<'de> Visitor<'de> for F64Visitor {
    type Value = f64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number, null, \"NaN\", \"inf\" or \"-inf\"")
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }

    fn visit_unit<E: de::Error>(self) -> Result<f64, E> {
        Ok(f64::NAN)
    }

    fn visit_none<E: de::Error>(self) -> Result<f64, E> {
        Ok(f64::NAN)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
        match v {
            "NaN" => Ok(f64::NAN),
            "inf" => Ok(f64::INFINITY),
            "-inf" => Ok(f64::NEG_INFINITY),
            _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
        }
    }
}

/// Reads an `f64` as the derived `Serialize` writes it (`null` for a non-finite value, read back
/// as NaN), or as [`exact`] writes it.
pub(crate) fn lenient<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    d.deserialize_any(F64Visitor)
}

/// An `f64` without loss: a finite value as a number, else `"NaN"`, `"inf"` or `"-inf"`.
pub(crate) mod exact {
    use super::*;

    /// Writes `v`.
    pub(crate) fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else if v.is_nan() {
            s.serialize_str("NaN")
        } else if *v > 0.0 {
            s.serialize_str("inf")
        } else {
            s.serialize_str("-inf")
        }
    }

    /// Reads what [`serialize`] (or the derived `Serialize`) wrote.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        lenient(d)
    }
}

/// An `Option<f64>` without loss: `None` as `null`, `Some` as [`exact`] writes it.
pub(crate) mod exact_opt {
    use super::*;

    /// Writes `v`.
    pub(crate) fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_some(&Exact(*v)),
            None => s.serialize_none(),
        }
    }

    /// Reads what [`serialize`] wrote.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        d.deserialize_option(OptVisitor)
    }

    struct Exact(f64);

    impl serde::Serialize for Exact {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            exact::serialize(&self.0, s)
        }
    }

    struct OptVisitor;

    impl<'de> Visitor<'de> for OptVisitor {
        type Value = Option<f64>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("null, a number, \"NaN\", \"inf\" or \"-inf\"")
        }

        fn visit_none<E: de::Error>(self) -> Result<Option<f64>, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Option<f64>, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<f64>, D::Error> {
            lenient(d).map(Some)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Serialize, Deserialize)]
    struct Probe {
        #[serde(with = "exact")]
        x: f64,
        #[serde(with = "exact_opt")]
        y: Option<f64>,
        #[serde(deserialize_with = "lenient")]
        z: f64,
    }

    fn round_trip(p: &Probe) -> (serde_json::Value, Probe) {
        let value = serde_json::to_value(p).unwrap();
        let text = serde_json::to_string(p).unwrap();
        let from_text: Probe = serde_json::from_str(&text).unwrap();
        let from_value: Probe = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(format!("{from_text:?}"), format!("{from_value:?}"));
        (value, from_value)
    }

    #[test]
    fn non_finite_values_survive_exact_and_read_back_as_nan_leniently() {
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 1.5, 3.0] {
            let (json, back) = round_trip(&Probe { x: v, y: Some(v), z: v });
            assert_eq!(back.x.to_bits(), v.to_bits(), "{v} -> {json}");
            assert_eq!(back.y.map(f64::to_bits), Some(v.to_bits()), "{v} -> {json}");
            if v.is_finite() {
                assert_eq!(back.z, v);
                assert!(json["x"].is_number() && json["y"].is_number());
            } else {
                // The derived writer's `null` reads back as NaN.
                assert!(json["z"].is_null() && back.z.is_nan());
            }
        }
        let (json, back) = round_trip(&Probe { x: 1.0, y: None, z: 2.0 });
        assert!(json["y"].is_null() && back.y.is_none());
        let p: Probe = serde_json::from_str(r#"{"x": 7, "y": -2, "z": "inf"}"#).unwrap();
        assert_eq!((p.x, p.y, p.z), (7.0, Some(-2.0), f64::INFINITY));
        let err = serde_json::from_str::<Probe>(r#"{"x": "warm", "y": null, "z": 1}"#);
        assert!(err.unwrap_err().to_string().contains("\"NaN\""));
    }
}
