#!/usr/bin/env bash
# The project's test gate, run by CI (.ci/run) and by the README's test command:
# format, lints (with and without GDAL), every test (the WGSL kernels on real Vulkan: lavapipe
# when there is no GPU; REQUIRE_GPU=1 makes a missing adapter fail), doc tests, benches build.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/tuban-target}
# Mesa's Vulkan loader warns without a runtime dir.
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/tuban-xdg-$(id -u)}
mkdir -p -m 0700 "$XDG_RUNTIME_DIR"
cargo fmt --check
cargo clippy --all-targets -- -D warnings
cargo clippy --all-targets --no-default-features -- -D warnings
cargo test --no-default-features --lib --test gpu_matches_cpu
cargo test
cargo bench --no-run --quiet
