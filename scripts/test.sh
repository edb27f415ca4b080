#!/usr/bin/env bash
# The one command that runs hearth's whole test suite on a fresh Debian 12 machine: installs what
# the tests need (idempotently, as root), then runs every check. CI calls it through .ci/run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }

# Debian packages the tests need; later parts (BMC simulators, Prometheus, Chromium) add theirs.
DEBIAN_PACKAGES=()
install_packages() {
  local missing=()
  for pkg in "${DEBIAN_PACKAGES[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    step "installing ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
  fi
}

command -v cargo >/dev/null || { echo "cargo not found: install the Rust toolchain (rustup)" >&2; exit 1; }
if [ ! -d ../shared/data/planetlab ]; then
  echo "../shared/data/planetlab is missing: the tests expect ../shared (the project's shared data) beside the clone, as CI provides it" >&2
  exit 1
fi
install_packages

step "cargo fmt --check";                     cargo fmt --all -- --check
step "cargo clippy (all targets, -D warnings)"; cargo clippy --workspace --all-targets -- -D warnings
step "cargo test (unit, integration, tidy, bench smoke)"; cargo test --workspace --all-targets
step "cargo test --doc";                      cargo test --workspace --doc
step "cargo doc (-D warnings)";               RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps
step "all checks passed"
