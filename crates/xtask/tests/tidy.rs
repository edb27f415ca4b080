//! Tidy tests: what reviewers would otherwise nag about, checked on every test run.
//!
//! * every Rust file opens with a `//!` module doc (STYLE.md rule 3);
//! * no test is ignored or expected to panic (STYLE.md "assert the error");
//! * the decision crates do not depend on tokio and do no I/O: their sources (up to the first
//!   `#[cfg(test)]`, where test modules start by convention) name no file, network, process or
//!   clock API.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn crate_sources() -> Vec<PathBuf> {
    let mut files = Vec::new();
    rust_files(&root().join("crates"), &mut files);
    files.sort();
    files
}

/// The first non-blank line of `text` must be a `//!` doc.
fn missing_module_doc(text: &str) -> bool {
    !text.lines().find(|l| !l.trim().is_empty()).is_some_and(|l| l.starts_with("//!"))
}

/// Lines (1-based) with a banned test attribute.
fn banned_attributes(text: &str) -> Vec<usize> {
    let banned = [concat!("#[", "ignore"), concat!("#[", "should_panic")];
    text.lines()
        .enumerate()
        .filter(|(_, l)| banned.iter().any(|b| l.trim_start().starts_with(b)))
        .map(|(i, _)| i + 1)
        .collect()
}

/// Lines (1-based) of non-test code that use I/O, the wall clock or threads.
fn io_uses(text: &str) -> Vec<(usize, &'static str)> {
    const FORBIDDEN: [&str; 9] = [
        "std::fs",
        "std::net",
        "std::process",
        "std::io::stdin",
        "File::open",
        "Instant::now",
        "SystemTime::now",
        "thread::spawn",
        "tokio::",
    ];
    let mut found = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.contains(concat!("#[cfg(", "test)]")) {
            break;
        }
        if line.trim_start().starts_with("//") {
            continue;
        }
        for pattern in FORBIDDEN {
            if line.contains(pattern) {
                found.push((i + 1, pattern));
            }
        }
    }
    found
}

const DECISION_CRATES: [&str; 6] = ["model", "sim", "heat", "thermal", "pool", "beacon"];

#[test]
fn every_rust_file_has_a_module_doc() {
    let bad: Vec<String> = crate_sources()
        .into_iter()
        .filter(|f| missing_module_doc(&std::fs::read_to_string(f).unwrap_or_default()))
        .map(|f| format!("{}:1: add a `//!` doc saying what the module owns", f.display()))
        .collect();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn no_test_is_ignored_or_expected_to_panic() {
    let mut bad = Vec::new();
    for f in crate_sources() {
        if f.ends_with("xtask/tests/tidy.rs") {
            continue;
        }
        for line in banned_attributes(&std::fs::read_to_string(&f).unwrap_or_default()) {
            bad.push(format!(
                "{}:{line}: assert the error instead of ignoring or expecting a panic",
                f.display()
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn decision_crates_do_no_io() {
    let mut bad = Vec::new();
    for name in DECISION_CRATES {
        let src = root().join("crates").join(name).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        for f in files {
            // The beacon crate's UDP transport is its only socket code.
            if name == "beacon"
                && f.components().any(|c| c.as_os_str().to_string_lossy().starts_with("udp"))
            {
                continue;
            }
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            for (line, pattern) in io_uses(&text) {
                bad.push(format!("{}:{line}: `{pattern}` in a decision crate", f.display()));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn decision_crates_do_not_depend_on_tokio() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    for name in DECISION_CRATES {
        if !root().join("crates").join(name).exists() {
            continue;
        }
        let output = Command::new(&cargo)
            .args(["tree", "--offline", "-p", name, "-e", "normal", "--prefix", "none"])
            .current_dir(root())
            .output()
            .expect("running cargo tree");
        assert!(
            output.status.success(),
            "cargo tree -p {name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let tree = String::from_utf8_lossy(&output.stdout);
        for banned in ["tokio ", "mio "] {
            assert!(
                !tree.lines().any(|l| l.starts_with(banned)),
                "crate `{name}` depends on {}; decision crates stay sans-IO",
                banned.trim()
            );
        }
    }
}

#[test]
fn the_checkers_catch_bad_examples() {
    assert!(missing_module_doc("fn main() {}\n"));
    assert!(!missing_module_doc("\n//! Owns things.\nfn main() {}\n"));
    let attr = concat!("#[", "ignore]");
    assert_eq!(banned_attributes(&format!("#[test]\n    {attr}\nfn t() {{}}\n")), vec![2]);
    assert_eq!(
        io_uses("use std::fs;\nlet t = Instant::now();\n"),
        vec![(1, "std::fs"), (2, "Instant::now")]
    );
    let in_tests =
        format!("fn f() {{}}\n{}\nmod tests {{ use std::fs; }}\n", concat!("#[cfg(", "test)]"));
    assert!(io_uses(&in_tests).is_empty());
}
