#!/usr/bin/env bash
# The one command that runs hearth's whole test suite on a fresh Debian 12 machine (CI calls it
# through .ci/run). It installs what the tests need, idempotently, then runs in order: rustfmt,
# clippy, every test target (unit, integration, tidy, and the benches once each in test mode),
# doctests and rustdoc, each with -D warnings where it applies. Works from any directory.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

# Tools the tests need from Debian, as "command:package [package...]" entries: the command the
# tests run, then the package that provides it and any it needs besides (separated by spaces).
# An entry's packages are installed only when its command is missing.
DEBIAN_TOOLS=(
  "ip:iproute2"              # beacons: the multi-host test's network namespaces and veth pairs
  "ipmitool:ipmitool"        # drivers: the IPMI power and sensors driver
  "ipmi_sim:openipmi"        # drivers: the BMC simulator the IPMI driver is tested against
  "openssl:openssl"          # drivers: the Redfish TLS test makes its CA and certificate
  # drivers: the container-engine driver is tested on podman's Docker API (runtime runc) with a
  # busybox image imported from busybox-static's /bin/busybox (../shared/PEERS.md §1h)
  "podman:podman runc crun busybox-static uidmap"
  # drivers: the libvirt driver builds against libvirt-dev (pkg-config) and is tested on
  # libvirt's in-process test driver; virsh proves the set is there
  "virsh:libvirt-clients libvirt-daemon libvirt-dev pkg-config"
  "prometheus:prometheus"    # hearth: demo_observability scrapes the demo and an agent
  # hearth: demo_observability renders the dashboard headless (the font package gives it text)
  "chromium:chromium fonts-dejavu-core"
)

die() {
  printf 'test.sh: error: %s\n' "$*" >&2
  exit 1
}

# Installs the packages of missing DEBIAN_TOOLS with apt-get, as root (through sudo if needed).
install_debian_tools() {
  local missing=() entry packages
  for entry in "${DEBIAN_TOOLS[@]}"; do
    command -v "${entry%%:*}" >/dev/null 2>&1 && continue
    read -r -a packages <<<"${entry#*:}"
    missing+=("${packages[@]}")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  local as_root=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 ||
      die "need root to install ${missing[*]} (apt-get install -y ${missing[*]})"
    as_root=(sudo)
  fi
  printf '==> installing %s\n' "${missing[*]}"
  "${as_root[@]}" apt-get update -q
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# The Redfish driver's tests run against sushy-emulator (PyPI sushy-tools, fake driver), from a
# venv outside the work tree so that fresh clones on the same machine share it. It is installed
# only when the emulator there does not run or is not the pinned version; the tests find it
# through HEARTH_SUSHY_EMULATOR (crates/drivers/tests/it/redfish_sim.rs falls back to the same
# default path).
SUSHY_TOOLS_VERSION="2.2.0"
SUSHY_VENV="${XDG_CACHE_HOME:-$HOME/.cache}/hearth/sushy-venv"

install_sushy_emulator() {
  local emulator="$SUSHY_VENV/bin/sushy-emulator" installed=""
  installed=$("$SUSHY_VENV/bin/python" -c \
    'import importlib.metadata as m; print(m.version("sushy-tools"))' 2>/dev/null || true)
  if [[ $installed != "$SUSHY_TOOLS_VERSION" ]] || ! "$emulator" --help >/dev/null 2>&1; then
    command -v python3 >/dev/null 2>&1 ||
      die "python3 not found: the Redfish tests need it for sushy-tools (apt-get install python3 python3-venv)"
    printf '==> installing sushy-tools %s into %s\n' "$SUSHY_TOOLS_VERSION" "$SUSHY_VENV"
    rm -rf "$SUSHY_VENV"
    mkdir -p "$(dirname "$SUSHY_VENV")"
    python3 -m venv "$SUSHY_VENV" ||
      die "python3 -m venv $SUSHY_VENV failed: install python3-venv (apt-get install python3-venv)"
    "$SUSHY_VENV/bin/pip" install -q --disable-pip-version-check \
      "sushy-tools==$SUSHY_TOOLS_VERSION" || die "pip install sushy-tools==$SUSHY_TOOLS_VERSION failed"
    "$emulator" --help >/dev/null 2>&1 || die "$emulator does not run after installing it"
  fi
  export HEARTH_SUSHY_EMULATOR="$emulator"
}

# The Rust toolchain: cargo plus the rustfmt and clippy components.
check_rust_toolchain() {
  if ! command -v cargo >/dev/null 2>&1 && [[ -f "$HOME/.cargo/env" ]]; then
    # shellcheck source=/dev/null
    . "$HOME/.cargo/env"
  fi
  command -v cargo >/dev/null 2>&1 ||
    die "cargo not found: install the Rust toolchain (https://rustup.rs), then rerun"
  local component
  for component in rustfmt clippy; do
    if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
      command -v rustup >/dev/null 2>&1 ||
        die "cargo ${component/rustfmt/fmt} not found: install the $component component"
      rustup component add "$component"
    fi
  done
}

# The simulator's benches and data-driven tests read ../shared/data (PlanetLab traces, SPECpower).
check_shared_data() {
  [[ -d ../shared/data ]] ||
    die "$(cd .. && pwd)/shared/data is missing: CI expects ../shared beside the clone" \
      "(the project's shared folder with data/planetlab/…)"
}

now_us() { echo "${EPOCHREALTIME//[!0-9]/}"; }

step_names=()
step_times=()
suite_start=$(now_us)

print_timings() {
  local i
  printf '\n==> timings\n'
  for i in "${!step_names[@]}"; do
    printf '    %8s s  %s\n' "${step_times[$i]}" "${step_names[$i]}"
  done
  printf '    %8s s  total\n' "$(seconds_since "$suite_start")"
}

seconds_since() {
  local elapsed=$(($(now_us) - $1))
  printf '%d.%01d' $((elapsed / 1000000)) $((elapsed % 1000000 / 100000))
}

# run_step NAME COMMAND...: prints a header, runs COMMAND, records its time, stops on failure.
run_step() {
  local name=$1 start status=0
  shift
  printf '\n==> [%d/6] %s\n    $ %s\n' $((${#step_names[@]} + 1)) "$name" "$*"
  start=$(now_us)
  "$@" || status=$?
  step_names+=("$name")
  step_times+=("$(seconds_since "$start")")
  if [[ $status -ne 0 ]]; then
    print_timings
    printf '\n==> FAILED: %s (exit %d)\n' "$name" "$status" >&2
    exit "$status"
  fi
}

check_shared_data
install_debian_tools
install_sushy_emulator
check_rust_toolchain
printf '==> %s\n' "$(cargo --version)"

run_step "format" cargo fmt --all -- --check
# Optional parts the suite builds and tests too (each needs Debian packages installed above).
FEATURES=(--features drivers/libvirt,hearth/libvirt)
run_step "clippy" cargo clippy --all-targets "${FEATURES[@]}" -- -D warnings
run_step "tests (unit, integration, tidy, bench smoke)" \
  cargo test --workspace --all-targets "${FEATURES[@]}"
run_step "doctests" cargo test --workspace --doc "${FEATURES[@]}"
run_step "rustdoc" env RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps "${FEATURES[@]}"
# The two-slot queue's model checks: every interleaving of a writer and readers (loom), in their
# own target directory so the `--cfg loom` build does not invalidate the normal one.
run_step "loom (beacon queue)" env RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
  cargo test -p beacon --test queue_loom --release

print_timings
printf '\n==> all checks passed\n'
