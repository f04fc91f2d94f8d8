#!/usr/bin/env bash
# The project's test gate, run by CI (.ci/run) and by the README's test command:
# format, lints of every target (benches too) with and without GDAL, every test (the WGSL
# kernels on real Vulkan: lavapipe when there is no GPU; REQUIRE_GPU=1 makes a missing adapter
# fail), doc tests. One build of the tests; no optimised build (the benches are type-checked by
# the lints; `cargo bench` builds them when they are run).
set -euo pipefail
cd "$(dirname "$0")/.."
# The one build folder: cargo's own (./target, shared with the README's main command) unless
# CARGO_TARGET_DIR says otherwise (.ci/run keeps it outside CI's fresh clone).
# Mesa's Vulkan loader warns without a runtime dir.
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/tuban-xdg-$(id -u)}
mkdir -p -m 0700 "$XDG_RUNTIME_DIR"
cargo fmt --check
# Lints type-check every target, benches included, with and without GDAL (the build without
# it is the one a bare GPU machine runs).
cargo clippy --all-targets -- -D warnings
cargo clippy --all-targets --no-default-features -- -D warnings
# One test build. cargo-nextest runs the test binaries side by side (cargo test runs them one
# after the other); doc tests are cargo test's alone.
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --no-fail-fast --status-level fail --final-status-level slow
  cargo test --doc
else
  cargo test
fi
