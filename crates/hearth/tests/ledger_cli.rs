//! `hearth ledger verify` and `hearth ledger keygen` through the built binary (issue 7, "CLI
//! for scripting": `hearth ledger verify PATH` exits 0 on an intact ledger and non-zero naming
//! the first bad entry otherwise). Ledgers are built with the pool crate, written to a scratch
//! folder and checked by the CLI; a tampered byte, a malformed file and missing or malformed
//! key files are refused with messages that name them, never a panic.

use pool::ledger::{keys, Draft, Kind, Ledger, SigningKey};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hearth-ledger-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn hearth(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hearth")).args(args).output().expect("run hearth")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A small pool history: two joins, tasks on both nodes, a finish, a failure and a retry.
fn ledger(controller: &SigningKey) -> Ledger {
    let (n1, n2) = (SigningKey::from_bytes(&[2; 32]), SigningKey::from_bytes(&[3; 32]));
    let mut ledger = Ledger::new(controller.verifying_key());
    let steps: Vec<(Draft, &SigningKey)> = vec![
        (Draft::join(1_000, "n1", &n1.verifying_key()), controller),
        (Draft::join(1_010, "n2", &n2.verifying_key()), controller),
        (Draft::new(1_020, "n1", Kind::TaskStart).task("t1").detail("cpu", 2), &n1),
        (Draft::new(1_030, "n2", Kind::TaskStart).task("t2").detail("cpu", 4), &n2),
        (Draft::new(1_040, "n1", Kind::TaskFinish).task("t1").detail("exit_code", 0), &n1),
        (Draft::new(1_050, "n2", Kind::TaskFail).task("t2").detail("exit_code", 1), &n2),
        (Draft::new(1_060, "n1", Kind::TaskRetry).task("t2").detail("from", "n2"), controller),
    ];
    for (draft, signer) in steps {
        ledger.append(draft, signer).unwrap();
    }
    ledger
}

/// Writes the ledger and the controller's public-key file into `dir`.
fn write_ledger(dir: &Path) -> (PathBuf, PathBuf) {
    let controller = SigningKey::from_bytes(&[1; 32]);
    let path = dir.join("ledger.jsonl");
    std::fs::write(&path, ledger(&controller).text()).unwrap();
    let key = dir.join("controller.pub");
    std::fs::write(&key, format!("{}\n", keys::verifying_key_hex(&controller.verifying_key())))
        .unwrap();
    (path, key)
}

fn verify(path: &Path, key: &Path) -> Output {
    hearth(&["ledger", "verify", path.to_str().unwrap(), "--controller-key", key.to_str().unwrap()])
}

/// Checks the run failed with exit code 1 and a one-line error containing `needle`.
#[track_caller]
fn assert_refused(output: &Output, needle: &str) -> String {
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.starts_with("hearth: error: "), "{stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(output.stdout.is_empty(), "stdout: {}", text(&output.stdout));
    stderr
}

#[test]
fn an_intact_ledger_verifies_with_a_one_line_summary() {
    let dir = scratch("intact");
    let (path, key) = write_ledger(&dir);
    let output = verify(&path, &key);
    assert!(output.status.success(), "stderr: {}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stdout.starts_with(&format!(
            "ledger {}: intact: 7 entries, 2 nodes joined (2 still a member), 2 tasks (1 \
             finished), head ",
            path.display()
        )),
        "{stdout}"
    );
}

#[test]
fn a_tampered_detail_byte_names_the_entry() {
    let dir = scratch("tampered");
    let (path, key) = write_ledger(&dir);
    let mut bytes = std::fs::read(&path).unwrap();
    // Line 4 is n2's task_start of t2 with "cpu":4; make it 5.
    let line4 = bytes.split(|b| *b == b'\n').take(3).map(|line| line.len() + 1).sum::<usize>();
    let rest = text(&bytes[line4..]);
    let at = line4 + rest.find("\"detail\":{\"cpu\":4}").unwrap() + "\"detail\":{\"cpu\":".len();
    assert_eq!(bytes[at], b'4');
    bytes[at] = b'5';
    std::fs::write(&path, &bytes).unwrap();
    let stderr = assert_refused(&verify(&path, &key), "line 4 (seq 4): signature check failed");
    assert!(stderr.contains(&format!("ledger {}: ", path.display())), "{stderr}");
    assert!(stderr.contains("node n2's key: the entry was edited after it was signed"), "{stderr}");
}

#[test]
fn a_removed_entry_names_the_gap() {
    let dir = scratch("removed");
    let (path, key) = write_ledger(&dir);
    let kept: Vec<String> =
        std::fs::read_to_string(&path).unwrap().lines().map(str::to_string).collect();
    let without_5: String = kept
        .iter()
        .enumerate()
        .filter(|(idx, _)| *idx != 4)
        .map(|(_, l)| format!("{l}\n"))
        .collect();
    std::fs::write(&path, without_5).unwrap();
    assert_refused(
        &verify(&path, &key),
        "line 5 (seq 6): sequence check failed: entries removed between seq 4 and 6",
    );
}

#[test]
fn a_malformed_file_names_the_line() {
    let dir = scratch("malformed");
    let (path, key) = write_ledger(&dir);
    std::fs::write(&path, "this is not a ledger\n").unwrap();
    assert_refused(&verify(&path, &key), "line 1: parse check failed: malformed entry");

    // The last line cut half-way.
    let (path, key) = write_ledger(&dir);
    let good = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, &good[..good.len() - 60]).unwrap();
    assert_refused(&verify(&path, &key), "line 7: parse check failed: malformed entry");

    // Bytes that are not UTF-8.
    let mut bytes = good.into_bytes();
    bytes[3] = 0xff;
    std::fs::write(&path, &bytes).unwrap();
    assert_refused(&verify(&path, &key), "line 1: parse check failed: not UTF-8");
}

#[test]
fn missing_or_malformed_files_are_named() {
    let dir = scratch("missing");
    let (path, key) = write_ledger(&dir);
    let absent = dir.join("absent.pub");
    let stderr = assert_refused(&verify(&path, &absent), "cannot read the controller key file");
    assert!(stderr.contains(&absent.display().to_string()), "{stderr}");

    let bad_key = dir.join("bad.pub");
    std::fs::write(&bad_key, "not-a-key\n").unwrap();
    assert_refused(
        &verify(&path, &bad_key),
        &format!("controller key file {}: expected 64 hex digits", bad_key.display()),
    );
    std::fs::write(&bad_key, "").unwrap();
    assert_refused(&verify(&path, &bad_key), "empty; expected 64 hex digits on one line");

    // Another controller's key: the first entry's signer is unknown, with a hint.
    let other = dir.join("other.pub");
    let stranger = SigningKey::from_bytes(&[9; 32]).verifying_key();
    std::fs::write(&other, keys::verifying_key_hex(&stranger)).unwrap();
    let stderr = assert_refused(
        &verify(&path, &other),
        "line 1 (seq 1): signer check failed: signed by unknown key",
    );
    assert!(
        stderr.contains("the public key of the controller that wrote this ledger?"),
        "{stderr}"
    );

    assert_refused(&verify(&dir.join("absent.jsonl"), &key), "cannot read the ledger file");
}

#[test]
fn keygen_writes_a_private_key_and_prints_its_public_key() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("keygen");
    let out = dir.join("controller.key");
    let output = hearth(&["ledger", "keygen", "--out", out.to_str().unwrap()]);
    assert!(output.status.success(), "stderr: {}", text(&output.stderr));
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let seed_text = std::fs::read_to_string(&out).unwrap();
    assert!(seed_text.len() == 65 && seed_text.ends_with('\n'), "{seed_text:?}");
    let controller = keys::parse_signing_key(&seed_text).unwrap();
    let printed = text(&output.stdout);
    assert_eq!(printed, format!("{}\n", keys::verifying_key_hex(&controller.verifying_key())));

    // What it printed is the controller key file of a ledger signed with the key it wrote.
    let public = dir.join("controller.pub");
    std::fs::write(&public, &printed).unwrap();
    let path = dir.join("ledger.jsonl");
    std::fs::write(&path, ledger(&controller).text()).unwrap();
    assert!(verify(&path, &public).status.success());

    // Never over an existing key; two runs make two different keys.
    assert_refused(
        &hearth(&["ledger", "keygen", "--out", out.to_str().unwrap()]),
        "an existing file is never overwritten",
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), seed_text);
    let second = hearth(&["ledger", "keygen", "--out", dir.join("node.key").to_str().unwrap()]);
    assert!(second.status.success());
    assert_ne!(second.stdout, output.stdout);
}
