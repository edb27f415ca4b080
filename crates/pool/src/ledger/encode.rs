//! The ledger's bytes: an entry's canonical line, the bytes its signature covers, its hash, hex,
//! and parsing a line back into an [`Entry`]. One encoder serves writing and the canonical-form
//! check, so a line verifies only if it is exactly what this module writes.
//!
//! Canonical JSON (docs/pool.md "Canonical encoding"): no whitespace; fields in the fixed order
//! `seq, at_ms, node, kind, task, detail, prev, key, sig`; `task` always present (`null` when
//! absent); object keys inside `detail` sorted by their UTF-8 bytes at every level, whatever
//! the map's order in memory; strings escaped as serde_json escapes them (`\"`, `\\`, `\b`, `\f`,
//! `\n`, `\r`, `\t`, other control characters as `\u00xx`, everything else as UTF-8); numbers as
//! serde_json prints them; hex lowercase.

use super::{Entry, EntryHash, Kind, Signature, VerifyingKey};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::fmt::Write;

/// Prefixed to the line without its signature to make the signed bytes, so a ledger signature
/// can never be taken for a signature over anything else.
pub(crate) const DOMAIN: &[u8] = b"hearth-ledger-v1\n";

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// `N` bytes from exactly `2 N` hex digits (either case); the error says what is wrong.
pub(crate) fn unhex<const N: usize>(text: &str) -> Result<[u8; N], String> {
    if text.len() != 2 * N {
        return Err(format!(
            "expected {} hex digits, found {} characters",
            2 * N,
            text.chars().count()
        ));
    }
    let mut out = [0u8; N];
    for (idx, pair) in text.as_bytes().chunks_exact(2).enumerate() {
        let digit = |pos: usize| {
            char::from(pair[pos]).to_digit(16).map(|d| d as u8).ok_or_else(|| {
                let at = 2 * idx + pos;
                let found = text.get(at..).and_then(|rest| rest.chars().next()).unwrap_or('?');
                format!("expected hex digits, found {found:?} at position {}", at + 1)
            })
        };
        out[idx] = digit(0)? << 4 | digit(1)?;
    }
    Ok(out)
}

/// SHA-256 of `line`'s bytes.
pub(crate) fn hash_line(line: &str) -> EntryHash {
    EntryHash(Sha256::digest(line.as_bytes()).into())
}

/// `entry`'s canonical line without `sig`: `{"seq":…,…,"key":"…"}`.
fn unsigned_line(entry: &Entry) -> String {
    let mut out = String::with_capacity(256);
    // Writing into a String cannot fail.
    let _ = write!(out, "{{\"seq\":{},\"at_ms\":{},\"node\":", entry.seq, entry.at_ms);
    push_string(&mut out, &entry.node);
    let _ = write!(out, ",\"kind\":\"{}\",\"task\":", entry.kind);
    match &entry.task {
        Some(task) => push_string(&mut out, task),
        None => out.push_str("null"),
    }
    out.push_str(",\"detail\":");
    push_object(&mut out, &entry.detail);
    let _ = write!(out, ",\"prev\":\"{}\",\"key\":\"{}\"}}", entry.prev, hex(entry.key.as_bytes()));
    out
}

/// The canonical line: the unsigned line with `,"sig":"…"` before its closing brace.
pub(crate) fn line(entry: &Entry) -> String {
    let mut out = unsigned_line(entry);
    out.pop(); // the closing brace
    let _ = write!(out, ",\"sig\":\"{}\"}}", hex(&entry.sig.to_bytes()));
    out
}

/// What the signature covers: [`DOMAIN`], then the unsigned line.
pub(crate) fn signed_bytes(entry: &Entry) -> Vec<u8> {
    let unsigned = unsigned_line(entry);
    let mut out = Vec::with_capacity(DOMAIN.len() + unsigned.len());
    out.extend_from_slice(DOMAIN);
    out.extend_from_slice(unsigned.as_bytes());
    out
}

/// Appends `text` as a JSON string, escaped as serde_json escapes it.
fn push_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends `object` with its keys sorted by their bytes.
fn push_object(out: &mut String, object: &Map<String, Value>) {
    let mut keys: Vec<&String> = object.keys().collect();
    keys.sort();
    out.push('{');
    for (idx, key) in keys.into_iter().enumerate() {
        if idx > 0 {
            out.push(',');
        }
        push_string(out, key);
        out.push(':');
        if let Some(value) = object.get(key) {
            push_value(out, value);
        }
    }
    out.push('}');
}

/// Appends `value` canonically. Recursive: callers bound the depth first ([`depth`]; parsed
/// values are bounded by serde_json's recursion limit).
fn push_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => push_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (idx, item) in items.iter().enumerate() {
                if idx > 0 {
                    out.push(',');
                }
                push_value(out, item);
            }
            out.push(']');
        }
        Value::Object(object) => push_object(out, object),
    }
}

/// How deeply `object` nests: 1 for an object of scalars, one more per level of arrays and
/// objects inside. Iterative, so any value given is measured without deep recursion.
pub(crate) fn depth(object: &Map<String, Value>) -> usize {
    let mut deepest = 1;
    let mut pending: Vec<(&Value, usize)> = object.values().map(|value| (value, 2)).collect();
    while let Some((value, level)) = pending.pop() {
        match value {
            Value::Array(items) => {
                deepest = deepest.max(level);
                pending.extend(items.iter().map(|item| (item, level + 1)));
            }
            Value::Object(inner) => {
                deepest = deepest.max(level);
                pending.extend(inner.values().map(|item| (item, level + 1)));
            }
            _ => {}
        }
    }
    deepest
}

/// A line as it is written, before the fields are lifted into their types.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    seq: u64,
    at_ms: u64,
    node: String,
    kind: String,
    task: Option<String>,
    detail: Map<String, Value>,
    prev: String,
    key: String,
    sig: String,
}

/// Parses one line: serde_json into [`RawEntry`], then the kind, the hex fields and the public
/// key into their types. The error names the field when the JSON was fine.
pub(crate) fn parse(line: &str) -> Result<Entry, String> {
    let raw: RawEntry = serde_json::from_str(line).map_err(|err| {
        // serde_json counts lines within the text it was given, always line 1 here: keep the
        // column only, as the verifier names the file's line.
        let message = err.to_string();
        let position = format!(" at line {} column {}", err.line(), err.column());
        match message.strip_suffix(&position) {
            Some(what) => format!("{what} at column {}", err.column()),
            None => message,
        }
    })?;
    let kind = Kind::from_name(&raw.kind).ok_or_else(|| {
        let known: Vec<&str> = Kind::ALL.iter().map(|kind| kind.as_str()).collect();
        format!("field `kind`: unknown kind {:?}; expected one of {}", raw.kind, known.join(", "))
    })?;
    let prev = unhex::<32>(&raw.prev).map_err(|err| format!("field `prev`: {err}"))?;
    let key_bytes = unhex::<32>(&raw.key).map_err(|err| format!("field `key`: {err}"))?;
    let key = VerifyingKey::from_bytes(&key_bytes)
        .map_err(|_| "field `key`: not an Ed25519 public key (not a curve point)".to_string())?;
    let sig = unhex::<64>(&raw.sig).map_err(|err| format!("field `sig`: {err}"))?;
    Ok(Entry {
        seq: raw.seq,
        at_ms: raw.at_ms,
        node: raw.node,
        kind,
        task: raw.task,
        detail: raw.detail,
        prev: EntryHash(prev),
        key,
        sig: Signature::from_bytes(&sig),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use serde_json::json;

    fn entry(detail: Value) -> Entry {
        let Value::Object(detail) = detail else { panic!("detail is an object") };
        Entry {
            seq: 3,
            at_ms: 1_700_000_000_123,
            node: "n\"1\n".to_string(),
            kind: Kind::TaskMove,
            task: Some("t-7".to_string()),
            detail,
            prev: EntryHash([0xab; 32]),
            key: SigningKey::from_bytes(&[7; 32]).verifying_key(),
            sig: Signature::from_bytes(&[0x11; 64]),
        }
    }

    #[test]
    fn hex_round_trips_and_names_bad_digits() {
        assert_eq!(hex(&[0x00, 0x9f, 0xff]), "009fff");
        assert_eq!(unhex::<3>("009fff"), Ok([0x00, 0x9f, 0xff]));
        assert_eq!(unhex::<3>("009FFF"), Ok([0x00, 0x9f, 0xff]), "either case parses");
        assert_eq!(
            unhex::<3>("009ff"),
            Err("expected 6 hex digits, found 5 characters".to_string())
        );
        assert_eq!(
            unhex::<2>("0x12"),
            Err("expected hex digits, found 'x' at position 2".to_string())
        );
        assert_eq!(
            unhex::<2>("é12"),
            Err("expected hex digits, found 'é' at position 1".to_string())
        );
    }

    #[test]
    fn line_has_a_fixed_field_order_and_sorted_detail() {
        let a =
            entry(json!({"to": "n2", "from": "n1", "nested": {"z": [1, 2.5, null], "a": true}}));
        let line = a.line();
        let expected = format!(
            "{{\"seq\":3,\"at_ms\":1700000000123,\"node\":\"n\\\"1\\n\",\"kind\":\"task_move\",\
             \"task\":\"t-7\",\"detail\":{{\"from\":\"n1\",\"nested\":{{\"a\":true,\"z\":[1,2.5,\
             null]}},\"to\":\"n2\"}},\"prev\":\"{}\",\"key\":\"{}\",\"sig\":\"{}\"}}",
            "ab".repeat(32),
            hex(a.key.as_bytes()),
            "11".repeat(64)
        );
        assert_eq!(line, expected);
        // The same detail inserted in another order encodes identically.
        let mut reordered = Map::new();
        for key in ["to", "nested", "from"] {
            reordered.insert(key.to_string(), a.detail[key].clone());
        }
        assert_eq!(Entry { detail: reordered, ..a.clone() }.line(), line);
    }

    #[test]
    fn signed_bytes_are_the_domain_and_the_line_without_sig() {
        let a = entry(json!({}));
        let signed = String::from_utf8(a.signed_bytes()).unwrap();
        let line = a.line();
        let cut = line.find(",\"sig\":").unwrap();
        assert_eq!(signed, format!("hearth-ledger-v1\n{}}}", &line[..cut]));
    }

    #[test]
    fn parse_inverts_line() {
        let a = entry(json!({"exit": -3, "big": 18446744073709551615u64, "ctl": "\u{1}\u{8}é"}));
        let line = a.line();
        assert!(line.contains("\\u0001\\b"), "{line}");
        let back = parse(&line).unwrap();
        assert_eq!(back, a);
        assert_eq!(back.line(), line);
        let none = Entry { task: None, kind: Kind::Leave, ..a };
        assert!(none.line().contains("\"task\":null"));
        assert_eq!(parse(&none.line()).unwrap(), none);
    }

    #[test]
    fn parse_names_the_bad_field() {
        let line = entry(json!({})).line();
        let bad_kind = line.replace("task_move", "task_teleport");
        assert!(parse(&bad_kind)
            .unwrap_err()
            .starts_with("field `kind`: unknown kind \"task_teleport\""));
        let bad_prev = line.replace(&"ab".repeat(32), &"ab".repeat(31));
        assert_eq!(
            parse(&bad_prev).unwrap_err(),
            "field `prev`: expected 64 hex digits, found 62 characters"
        );
        let extra = line.replacen("{", "{\"extra\":1,", 1);
        assert!(parse(&extra).unwrap_err().contains("unknown field `extra`"));
        assert_eq!(parse("{\"seq\":1").unwrap_err(), "EOF while parsing an object at column 8");
        assert!(parse("").is_err());
    }

    #[test]
    fn depth_counts_nesting_levels() {
        let Value::Object(flat) = json!({"a": 1, "b": "x"}) else { unreachable!() };
        assert_eq!(depth(&flat), 1);
        let Value::Object(deep) = json!({"a": [1, {"b": [[]]}], "c": {}}) else { unreachable!() };
        assert_eq!(depth(&deep), 5);
        assert_eq!(depth(&Map::new()), 1);
    }
}
