#!/usr/bin/env bash
# Runs every parser's fuzz target for a bounded time (default 60 s each). Not part of CI.
# cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP lets the stable toolchain accept them.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
targets=${TIDEMARK_FUZZ_TARGETS:-syslog cef leef kv xml csv stix ioc}
for target in $targets; do
  echo "fuzzing $target for ${seconds}s" >&2
  cargo fuzz run "$target" -- -max_total_time="$seconds" -max_len=4096
done
