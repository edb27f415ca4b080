//! Tidy checks: what reviewers would otherwise nag about, run as ordinary tests (STYLE.md
//! rules 3 and 16, the allowed dependency edges, and the no-I/O invariant of the decision crates;
//! after rust-analyzer's `xtask/src/tidy.rs`).
//!
//! Each check is a pure function over text (a source file, `cargo tree` output, `cargo
//! metadata` JSON) that returns its findings, and a `#[test]` runs it over the repository and
//! fails with `file:line: what is wrong`. Every checker also has a test against a bad in-memory
//! example, so no check can pass vacuously.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

// ---------------------------------------------------------------------------------------------
// Repository access

/// The workspace root (this file lives in `crates/xtask/tests`).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/xtask sits two levels below the workspace root")
        .to_path_buf()
}

/// `path` relative to the workspace root, for messages.
fn display(path: &Path) -> String {
    let root = repo_root();
    path.strip_prefix(&root).unwrap_or(path).display().to_string()
}

/// The `.rs` files under `dir`, recursively, in sorted order. A missing `dir` gives none.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if !dir.is_dir() {
        return files;
    }
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let entries = std::fs::read_dir(&current)
            .unwrap_or_else(|err| panic!("cannot list {}: {err}", current.display()));
        for entry in entries {
            let path = entry
                .unwrap_or_else(|err| panic!("cannot list {}: {err}", current.display()))
                .path();
            if path.is_dir() {
                if path.file_name().is_some_and(|name| name != "target") {
                    pending.push(path);
                }
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The crate folders `crates/*` (those with a `Cargo.toml`), sorted.
fn crate_dirs() -> Vec<PathBuf> {
    let crates = repo_root().join("crates");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&crates)
        .unwrap_or_else(|err| panic!("cannot list {}: {err}", crates.display()))
        .map(|entry| entry.expect("listing crates/").path())
        .filter(|path| path.join("Cargo.toml").is_file())
        .collect();
    dirs.sort();
    dirs
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
}

/// Runs cargo (the one running these tests, else the one on `PATH`) in the workspace root and
/// returns its stdout; a failing cargo fails the test with its stderr.
fn cargo(args: &[&str]) -> String {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(&cargo)
        .args(args)
        .current_dir(repo_root())
        .output()
        .unwrap_or_else(|err| panic!("cannot run {cargo:?} {}: {err}", args.join(" ")));
    assert!(
        output.status.success(),
        "`cargo {}` failed ({}):\n{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("cargo prints UTF-8")
}

/// Fails with every finding, one per line.
#[track_caller]
fn assert_no_findings(what: &str, findings: &[String]) {
    assert!(findings.is_empty(), "{what}: {} finding(s):\n{}", findings.len(), findings.join("\n"));
}

/// First identifier of `text` after leading whitespace (`ignore` in `ignore = "slow"]`).
fn leading_ident(text: &str) -> &str {
    let text = text.trim_start();
    let end = text.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(text.len());
    &text[..end]
}

// ---------------------------------------------------------------------------------------------
// a) Every module opens with a `//!` doc (STYLE.md rule 3)

/// The line that should be a `//!` doc but is not, if any: the first non-blank line (line 1 for
/// an empty file).
fn missing_module_doc(text: &str) -> Option<usize> {
    match text.lines().enumerate().find(|(_, line)| !line.trim().is_empty()) {
        Some((_, line)) if line.trim_start().starts_with("//!") => None,
        Some((idx, _)) => Some(idx + 1),
        None => Some(1),
    }
}

#[test]
fn every_module_starts_with_a_module_doc() {
    let mut findings = Vec::new();
    for krate in crate_dirs() {
        for sub in ["src", "tests", "benches"] {
            for file in rust_files(&krate.join(sub)) {
                if let Some(line) = missing_module_doc(&read(&file)) {
                    findings.push(format!(
                        "{}:{line}: a module starts with a `//!` doc saying what it owns \
                         (STYLE.md rule 3)",
                        display(&file)
                    ));
                }
            }
        }
    }
    assert_no_findings("modules without a `//!` doc", &findings);
}

#[test]
fn module_doc_check_flags_a_module_without_one() {
    assert_eq!(missing_module_doc("//! Owns the clock.\nuse std::fmt;\n"), None);
    assert_eq!(missing_module_doc("\n  \n//! Owns the clock.\n"), None);
    assert_eq!(missing_module_doc("\n\nuse std::fmt;\n"), Some(3));
    assert_eq!(missing_module_doc("// A plain comment.\n//! Too late.\n"), Some(1));
    assert_eq!(missing_module_doc("/// An item doc.\nfn f() {}\n"), Some(1));
    assert_eq!(missing_module_doc(""), Some(1));
}

// ---------------------------------------------------------------------------------------------
// b) No should-panic or ignored tests (STYLE.md Do/Don't 7: assert the error instead)

/// The banned attribute names. Built by concatenation so that this file, which is scanned too,
/// never contains them as attributes.
const BANNED_ATTRIBUTES: [&str; 2] = [concat!("should", "_panic"), concat!("ig", "nore")];

/// `(line, attribute)` for each banned attribute at the start of a line (after whitespace),
/// plain (`#[x]`, `#[x = "why"]`) or under `cfg_attr` (`#[cfg_attr(miri, x)]`).
fn banned_attributes(text: &str) -> Vec<(usize, &'static str)> {
    let mut found = Vec::new();
    for (idx, line) in text.lines().enumerate() {
        let Some(attr) = line.trim_start().strip_prefix("#[") else { continue };
        let mut names = vec![leading_ident(attr)];
        if let Some(args) = attr.trim_start().strip_prefix("cfg_attr(") {
            // The attributes follow the predicate, separated by top-level commas.
            let mut depth = 0usize;
            for (pos, c) in args.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => depth = depth.saturating_sub(1),
                    ',' if depth == 0 => names.push(leading_ident(&args[pos + 1..])),
                    _ => {}
                }
            }
        }
        for banned in BANNED_ATTRIBUTES {
            if names.contains(&banned) {
                found.push((idx + 1, banned));
            }
        }
    }
    found
}

#[test]
fn no_should_panic_or_ignored_tests() {
    let mut findings = Vec::new();
    for file in rust_files(&repo_root().join("crates")) {
        for (line, attr) in banned_attributes(&read(&file)) {
            findings.push(format!(
                "{}:{line}: `#[{attr}]`: assert the error with `matches!` instead, and never \
                 skip a test (STYLE.md Do/Don't 7)",
                display(&file)
            ));
        }
    }
    assert_no_findings("banned test attributes", &findings);
}

#[test]
fn attribute_check_flags_banned_attributes() {
    let [should_panic, ignore] = BANNED_ATTRIBUTES;
    let bad = format!(
        "#[test]\n    #[{should_panic}]\nfn a() {{}}\n#[{ignore} = \"slow\"]\nfn b() {{}}\n\
         #[cfg_attr(all(miri, unix), {ignore})]\nfn c() {{}}\n"
    );
    assert_eq!(banned_attributes(&bad), vec![(2, should_panic), (4, ignore), (6, ignore)]);
    let fine = format!(
        "#[test]\nfn {ignore}_me() {{}}\n#[{ignore}d_by_none]\n// #[{ignore}]\n\
         let s = \"#[{should_panic}]\";\n#[cfg_attr(feature = \"{ignore}\", derive(Debug))]\n"
    );
    assert_eq!(banned_attributes(&fine), vec![]);
}

// ---------------------------------------------------------------------------------------------
// c) The decision crates do no I/O, read no clock, spawn nothing, and pull in no async runtime

/// Crates bound by the no-I/O invariant (STYLE.md "Invariants"); those not created yet are
/// skipped.
const DECISION_CRATES: [&str; 6] = ["model", "sim", "heat", "thermal", "pool", "beacon"];

/// Runtime and event-loop crates a decision crate must not depend on, even indirectly.
const FORBIDDEN_DEPENDENCIES: [&str; 3] = ["tokio", "mio", "async-std"];

/// Uses that mean I/O, the wall clock or spawning. `std::process` also covers `Command`.
const FORBIDDEN_USES: [&str; 9] = [
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

/// `(line, crate)` for each forbidden crate in `cargo tree --prefix none` output.
fn forbidden_tree_lines(tree: &str) -> Vec<(usize, &'static str)> {
    let mut found = Vec::new();
    for (idx, line) in tree.lines().enumerate() {
        let name = line.split_whitespace().next().unwrap_or("");
        if let Some(banned) = FORBIDDEN_DEPENDENCIES.iter().find(|banned| **banned == name) {
            found.push((idx + 1, *banned));
        }
    }
    found
}

/// `(line, use)` for each forbidden use in a decision crate's source file.
///
/// Two rules keep this a text scan rather than a parser:
/// - Comments are skipped: everything from `//` to the end of a line (docs may name what the
///   code must not do).
/// - Everything from the first line containing `#[cfg(test)]` to the end of the file is skipped:
///   by convention a module's tests sit at its end, and tests may read fixtures. So a
///   `#[cfg(test)]` item in the middle of a file hides the code after it; keep them at the end.
fn forbidden_uses(text: &str) -> Vec<(usize, &'static str)> {
    let mut found = Vec::new();
    for (idx, line) in text.lines().enumerate() {
        if line.contains("#[cfg(test)]") {
            break;
        }
        let code = line.split("//").next().unwrap_or("");
        for banned in FORBIDDEN_USES {
            if code.contains(banned) {
                found.push((idx + 1, banned));
            }
        }
    }
    found
}

/// Whether `file` (relative to its crate's `src`) may use sockets: only `beacon`'s `udp` module.
fn exempt_from_io_scan(krate: &str, file_in_src: &Path) -> bool {
    krate == "beacon"
        && (file_in_src == Path::new("udp.rs") || file_in_src.starts_with(Path::new("udp")))
}

/// The decision crates that exist today.
fn existing_decision_crates() -> Vec<&'static str> {
    let crates = repo_root().join("crates");
    DECISION_CRATES
        .into_iter()
        .filter(|name| crates.join(name).join("Cargo.toml").is_file())
        .collect()
}

#[test]
fn decision_crates_do_not_depend_on_an_async_runtime() {
    let mut findings = Vec::new();
    let crates = existing_decision_crates();
    assert!(crates.contains(&"model"), "the model crate is missing; is the repository root right?");
    for krate in crates {
        let tree = cargo(&["tree", "-p", krate, "-e", "normal", "--prefix", "none"]);
        for (line, banned) in forbidden_tree_lines(&tree) {
            findings.push(format!(
                "crates/{krate}/Cargo.toml: `cargo tree -p {krate} -e normal` line {line} pulls in \
                 `{banned}`; decision crates stay sans-IO (STYLE.md rule 4)"
            ));
        }
    }
    assert_no_findings("async runtimes under decision crates", &findings);
}

#[test]
fn decision_crates_do_no_io_and_read_no_clock() {
    let mut findings = Vec::new();
    for krate in existing_decision_crates() {
        let src = repo_root().join("crates").join(krate).join("src");
        for file in rust_files(&src) {
            let in_src = file.strip_prefix(&src).expect("files under src/");
            if exempt_from_io_scan(krate, in_src) {
                continue;
            }
            for (line, banned) in forbidden_uses(&read(&file)) {
                findings.push(format!(
                    "{}:{line}: `{banned}`: decision crates do no I/O, never read the wall \
                     clock and spawn nothing; take the data or `now` as an input (STYLE.md \
                     rule 4, Do/Don't 1)",
                    display(&file)
                ));
            }
        }
    }
    assert_no_findings("I/O or clock reads in decision crates", &findings);
}

#[test]
fn tree_check_flags_async_runtimes() {
    let tree = "model v0.0.0 (/r/crates/model)\nserde v1.0.219\ntokio v1.45.0\nmio v1.0.4 (*)\n\
                tokio-util v0.7.15\n";
    assert_eq!(forbidden_tree_lines(tree), vec![(3, "tokio"), (4, "mio")]);
    assert_eq!(forbidden_tree_lines("sim v0.0.0 (/r/crates/sim)\nmodel v0.0.0\n"), vec![]);
}

#[test]
fn io_check_flags_io_outside_test_modules() {
    let text = "//! Owns nothing.\nuse std::fs;\nfn f() { let t = Instant::now(); }\n\
                /// Never calls `std::net` (a comment).\nfn g() { std::thread::spawn(|| ()); }\n\
                #[cfg(test)]\nmod tests { use std::fs::read; }\n";
    assert_eq!(
        forbidden_uses(text),
        vec![(2, "std::fs"), (3, "Instant::now"), (5, "thread::spawn")]
    );
    assert!(exempt_from_io_scan("beacon", Path::new("udp.rs")));
    assert!(exempt_from_io_scan("beacon", Path::new("udp/socket.rs")));
    assert!(!exempt_from_io_scan("beacon", Path::new("codec.rs")));
    assert!(!exempt_from_io_scan("heat", Path::new("udp.rs")));
}

// ---------------------------------------------------------------------------------------------
// d) Dependency directions follow STYLE.md's allowed edges

/// Each workspace crate and the workspace crates it may depend on (STYLE.md "Allowed dependency
/// edges"). Any other edge is a design change: edit this table and ARCHITECTURE.md together.
const ALLOWED_EDGES: &[(&str, &[&str])] = &[
    ("model", &[]),
    ("beacon", &["model"]),
    ("heat", &["model"]),
    ("thermal", &["model"]),
    ("pool", &["model"]),
    // The twin runs the same decision code the controller runs (heat-max, later the thermal
    // guard): decision crates are libraries of the twin, never the other way round.
    ("sim", &["model", "heat", "thermal"]),
    ("store", &["model"]),
    // The simulated site adapts the twin's physics and the model's power curves.
    ("drivers", &["sim", "model"]),
    ("controller", &["model", "beacon", "heat", "thermal", "pool", "drivers", "store"]),
    // The API reads the controller's shared state and the store's record types.
    ("api", &["controller", "store", "pool"]),
    ("agent", &["model", "beacon", "drivers", "pool"]),
    // `model`: hearth reads model types for CLI/config; `heat`: `hearth plan` plans one fleet
    // file without a controller; `beacon`: the controller's receiver and key types at startup;
    // `drivers` and `store`: `hearth controller` and `hearth demo` wire the loop's drivers and
    // open its store; `pool`: `hearth ledger verify` checks a ledger file without a controller.
    (
        "hearth",
        &[
            "api",
            "agent",
            "controller",
            "sim",
            "model",
            "heat",
            "beacon",
            "drivers",
            "store",
            "pool",
        ],
    ),
    ("xtask", &[]),
];

fn allowed_deps(krate: &str) -> Option<&'static [&'static str]> {
    ALLOWED_EDGES.iter().find(|(name, _)| *name == krate).map(|(_, deps)| *deps)
}

/// A path dependency that the table does not allow, or a crate it does not know.
#[derive(Debug, PartialEq)]
struct EdgeViolation {
    manifest: String,
    /// The dependency name as written in the manifest, to find its line; `None` for an
    /// unknown crate.
    dependency: Option<String>,
    message: String,
}

/// Checks the path dependencies of every package in `cargo metadata --no-deps` JSON (of every
/// kind: normal, build and dev) against [`ALLOWED_EDGES`].
fn dependency_violations(metadata: &Value) -> Vec<EdgeViolation> {
    const UPDATE: &str = "update ALLOWED_EDGES in crates/xtask/tests/tidy.rs and ARCHITECTURE.md";
    let mut violations = Vec::new();
    let packages = metadata["packages"].as_array().map(Vec::as_slice).unwrap_or_default();
    for package in packages {
        let krate = package["name"].as_str().unwrap_or("?");
        let manifest = package["manifest_path"].as_str().unwrap_or("?").to_string();
        let Some(allowed) = allowed_deps(krate) else {
            violations.push(EdgeViolation {
                manifest,
                dependency: None,
                message: format!(
                    "unknown crate `{krate}`: it has no row in the allowed dependency edges; \
                     {UPDATE} (code map and dependency edges)"
                ),
            });
            continue;
        };
        let deps = package["dependencies"].as_array().map(Vec::as_slice).unwrap_or_default();
        for dep in deps.iter().filter(|dep| dep["path"].is_string()) {
            let name = dep["name"].as_str().unwrap_or("?");
            let written = dep["rename"].as_str().unwrap_or(name);
            let kind = dep["kind"].as_str().unwrap_or("normal");
            let message = if allowed_deps(name).is_none() {
                format!(
                    "`{krate}` has a path dependency on unknown crate `{name}` ({kind}); {UPDATE}"
                )
            } else if !allowed.contains(&name) {
                format!(
                    "`{krate}` must not depend on `{name}` ({kind}); it may depend on [{}]. A \
                     new edge is a design change: {UPDATE}",
                    allowed.join(", ")
                )
            } else {
                continue;
            };
            violations.push(EdgeViolation {
                manifest: manifest.clone(),
                dependency: Some(written.to_string()),
                message,
            });
        }
    }
    violations
}

/// The line of `manifest` that declares `dependency` (`dep = …`, `dep.workspace = true` or a
/// `[dependencies.dep]` table); 1 when it cannot be found.
fn dependency_line(manifest: &str, dependency: &str) -> usize {
    let declares = |line: &str| {
        let line = line.trim_start();
        let table = format!("dependencies.{dependency}]");
        line.strip_prefix(dependency).is_some_and(|rest| rest.trim_start().starts_with(['=', '.']))
            || (line.starts_with('[') && line.ends_with(&table))
    };
    manifest.lines().position(declares).map_or(1, |idx| idx + 1)
}

#[test]
fn dependency_directions_follow_the_allowed_edges() {
    let json = cargo(&["metadata", "--format-version", "1", "--no-deps"]);
    let metadata: Value = serde_json::from_str(&json).expect("cargo metadata prints JSON");
    let findings: Vec<String> = dependency_violations(&metadata)
        .into_iter()
        .map(|violation| {
            let path = Path::new(&violation.manifest);
            let line = match (&violation.dependency, std::fs::read_to_string(path)) {
                (Some(dep), Ok(text)) => dependency_line(&text, dep),
                _ => 1,
            };
            format!("{}:{line}: {}", display(path), violation.message)
        })
        .collect();
    assert_no_findings("dependency edges", &findings);
}

#[test]
fn edge_check_flags_forbidden_edges_and_unknown_crates() {
    let metadata = serde_json::json!({ "packages": [
        { "name": "model", "manifest_path": "/r/crates/model/Cargo.toml", "dependencies": [
            { "name": "sim", "path": "/r/crates/sim", "kind": null },
            { "name": "serde", "kind": null },
        ]},
        { "name": "sim", "manifest_path": "/r/crates/sim/Cargo.toml", "dependencies": [
            { "name": "model", "path": "/r/crates/model", "kind": null },
            { "name": "hearth", "path": "/r/crates/hearth", "kind": "dev", "rename": "cli" },
        ]},
        { "name": "mystery", "manifest_path": "/r/crates/mystery/Cargo.toml", "dependencies": [] },
    ]});
    let violations = dependency_violations(&metadata);
    let summary: Vec<(&str, Option<&str>)> =
        violations.iter().map(|v| (v.manifest.as_str(), v.dependency.as_deref())).collect();
    assert_eq!(
        summary,
        vec![
            ("/r/crates/model/Cargo.toml", Some("sim")),
            ("/r/crates/sim/Cargo.toml", Some("cli")),
            ("/r/crates/mystery/Cargo.toml", None),
        ]
    );
    assert!(violations[0].message.contains("`model` must not depend on `sim` (normal)"));
    assert!(violations[1].message.contains("(dev)"));
    assert!(violations[2].message.contains("unknown crate `mystery`"));
    assert!(violations[2].message.contains("ARCHITECTURE.md"));

    let manifest = "[package]\nname = \"x\"\n\n[dependencies]\nmodel.workspace = true\n\
                    sim = { path = \"../sim\" }\n\n[dependencies.store]\npath = \"../store\"\n";
    assert_eq!(dependency_line(manifest, "model"), 5);
    assert_eq!(dependency_line(manifest, "sim"), 6);
    assert_eq!(dependency_line(manifest, "store"), 8);
    assert_eq!(dependency_line(manifest, "api"), 1);
}

#[test]
fn edge_table_names_only_crates_it_knows() {
    for (krate, deps) in ALLOWED_EDGES {
        for dep in *deps {
            assert!(allowed_deps(dep).is_some(), "ALLOWED_EDGES: `{krate}` → unknown `{dep}`");
            assert_ne!(krate, dep, "ALLOWED_EDGES: `{krate}` depends on itself");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// e) The README's first command runs

/// Whether a package manifest lets `cargo run -p PKG` pick a binary: one binary, or a
/// `default-run` naming one.
fn runs_by_default(manifest: &str, extra_bins: usize) -> bool {
    extra_bins == 0 || manifest.lines().any(|l| l.trim_start().starts_with("default-run"))
}

#[test]
fn the_readme_command_finds_its_binary() {
    // README line 1: `cargo run --release -p hearth -- demo`. With a second binary in
    // src/bin (the test relay), cargo needs `default-run` or the newcomer's command fails.
    let root = repo_root();
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    assert!(
        readme.lines().take(4).any(|l| l.contains("cargo run --release -p hearth -- demo")),
        "README's first lines no longer run the demo; update this test with them"
    );
    let manifest =
        std::fs::read_to_string(root.join("crates/hearth/Cargo.toml")).expect("hearth manifest");
    let extra_bins = std::fs::read_dir(root.join("crates/hearth/src/bin"))
        .map(|dir| dir.filter_map(Result::ok).count())
        .unwrap_or(0);
    assert!(
        runs_by_default(&manifest, extra_bins),
        "crates/hearth has {extra_bins} extra binaries but no `default-run = \"hearth\"`: \
         `cargo run -p hearth` would fail"
    );
    assert!(!runs_by_default("[package]\nname = \"x\"\n", 1), "the check can fail");
}
